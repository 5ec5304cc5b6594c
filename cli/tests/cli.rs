//! `muster` as a user runs it: the real binary, a real database file, real reports.

use std::io::{BufRead as _, BufReader, Read as _, Write as _};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

use muster_tests::{sample, samples_dir, sarif_result_counts};

struct Workdir(PathBuf);

impl Workdir {
    fn new(name: &str) -> Self {
        let dir = std::env::temp_dir().join(format!("muster-cli-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        Self(dir)
    }

    fn path(&self, name: &str) -> PathBuf {
        self.0.join(name)
    }

    fn muster(&self, args: &[&str]) -> Output {
        Command::new(env!("CARGO_BIN_EXE_muster"))
            .args(args)
            .current_dir(&self.0)
            .env_remove("MUSTER_DB")
            .env_remove("MUSTER_CONFIG")
            .output()
            .expect("muster runs")
    }

    fn json(&self, args: &[&str]) -> serde_json::Value {
        let output = self.muster(args);
        assert!(
            output.status.success(),
            "{args:?} failed: {}",
            String::from_utf8_lossy(&output.stderr)
        );
        serde_json::from_slice(&output.stdout).unwrap_or_else(|e| {
            panic!(
                "{args:?} printed no JSON ({e}): {}",
                String::from_utf8_lossy(&output.stdout)
            )
        })
    }
}

impl Drop for Workdir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn path_str(path: &Path) -> &str {
    path.to_str().unwrap()
}

#[test]
fn ingest_then_reingest_then_resolve_one() {
    let Some(bytes) = sample("sarif/snykcode_snykcode_issue_9270.sarif.json") else {
        return;
    };
    let work = Workdir::new("ingest");
    let report = work.path("report.sarif");
    std::fs::write(&report, &bytes).unwrap();
    let (total, suppressed) = sarif_result_counts(&bytes);

    let first = work.json(&["ingest", path_str(&report), "--json"]);
    assert_eq!(first["received"], (total - suppressed) as u64);
    assert!(first["new"].as_u64().unwrap() > 0);

    // Global options work after the subcommand as well as before it.
    let second = work.json(&["ingest", "--json", "--db", "muster.db", path_str(&report)]);
    assert_eq!(
        (second["new"].as_u64(), second["resolved"].as_u64()),
        (Some(0), Some(0))
    );

    let mut log: serde_json::Value = serde_json::from_slice(&bytes).unwrap();
    log["runs"][0]["results"].as_array_mut().unwrap().pop();
    let smaller = work.path("smaller.sarif");
    std::fs::write(&smaller, serde_json::to_vec(&log).unwrap()).unwrap();
    let third = work.json(&["--json", "ingest", path_str(&smaller)]);
    assert_eq!(third["resolved"], 1);
    assert_eq!(third["received"], (total - suppressed - 1) as u64);
}

#[test]
fn findings_and_outbox_list_what_the_pipeline_did() {
    let Some(dir) = samples_dir() else { return };
    let work = Workdir::new("listings");
    let report = dir.join("sarif/codeql_codeQL-output.sarif");
    work.json(&["ingest", "--json", path_str(&report)]);

    let findings = work.json(&["findings", "--json"]);
    let findings = findings.as_array().unwrap();
    assert_eq!(findings.len(), 72);
    for finding in findings {
        for field in [
            "fingerprint",
            "tool",
            "rule",
            "severity",
            "location",
            "status",
            "tier",
            "owner",
            "due_at",
        ] {
            assert!(!finding[field].is_null(), "{field} missing in {finding}");
        }
        assert_eq!(finding["tool"], "CodeQL");
        assert_eq!(finding["fingerprint"].as_str().unwrap().len(), 32);
    }
    let tier = findings[0]["tier"].as_str().unwrap().to_owned();
    let same = work.json(&["findings", "--json", "--tier", &tier]);
    let same = same.as_array().unwrap();
    assert!(!same.is_empty() && same.iter().all(|f| f["tier"] == tier.as_str()));

    let outbox = work.json(&["outbox", "--json"]);
    let outbox = outbox.as_array().unwrap();
    let tickets = outbox.iter().filter(|e| e["kind"] == "ticket").count();
    let chats = outbox.iter().filter(|e| e["kind"] == "chat").count();
    let groups = work.json(&["groups", "--json"]);
    let groups = groups.as_array().unwrap();
    let urgent = groups
        .iter()
        .filter(|g| matches!(g["tier"].as_str(), Some("P1" | "P2")))
        .count();
    assert_eq!(tickets, groups.len());
    assert!(tickets > 0, "one ticket per group");
    assert_eq!(chats, urgent, "only P1/P2 groups are told at once: {outbox:?}");
    assert!(outbox.iter().any(|e| {
        e["payload"]["body"]
            .as_str()
            .is_some_and(|b| b.contains("muster:group="))
    }));

    let human = work.muster(&["findings", "--tier", &tier]);
    assert!(String::from_utf8_lossy(&human.stdout).contains("TIER"));
}

#[test]
fn a_broken_report_names_the_file_and_position_and_exits_non_zero() {
    let work = Workdir::new("broken");
    let report = work.path("broken.sarif");
    std::fs::write(&report, "{\n  \"version\": \"2.1.0\",\n  \"runs\": [ {\"tool\": \n").unwrap();

    let output = work.muster(&["ingest", path_str(&report)]);

    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("broken.sarif"), "{stderr}");
    assert!(stderr.contains("line 3"), "{stderr}");
    let findings = work.json(&["findings", "--json"]);
    assert_eq!(findings.as_array().unwrap().len(), 0, "nothing stored");

    let missing = work.muster(&["ingest", "no-such-file.sarif"]);
    assert!(String::from_utf8_lossy(&missing.stderr).contains("no-such-file.sarif"));
}

#[test]
fn ingest_expands_globs_and_keeps_going_past_a_bad_file() {
    let work = Workdir::new("globs");
    std::fs::create_dir_all(work.path("reports")).unwrap();
    let demo = Path::new(env!("CARGO_MANIFEST_DIR")).join("../examples/demo.sarif");
    std::fs::copy(&demo, work.path("reports/a.sarif")).unwrap();
    std::fs::write(work.path("reports/b.sarif"), "{\"version\":\"2.1.0\",\"runs\":[").unwrap();
    std::fs::write(work.path("reports/notes.txt"), "not a report").unwrap();

    // Quoted, as a user would on a shell without globbing: muster expands it.
    let output = work.muster(&["ingest", "--json", "reports/*.sarif"]);

    assert!(!output.status.success(), "a failed file makes the run fail");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("b.sarif"), "{stderr}");
    assert!(stderr.contains("1 of 2 reports"), "{stderr}");
    let summaries: Vec<serde_json::Value> = String::from_utf8_lossy(&output.stdout)
        .lines()
        .map(|line| serde_json::from_str(line).unwrap())
        .collect();
    assert_eq!(summaries.len(), 1, "the good file was ingested");
    assert!(summaries[0]["new"].as_u64().unwrap() > 0);
    let findings = work.json(&["findings", "--open", "--json"]);
    assert_eq!(
        findings.as_array().unwrap().len() as u64,
        summaries[0]["new"].as_u64().unwrap()
    );

    let none = work.muster(&["ingest", "reports/*.json"]);
    assert!(!none.status.success());
    assert!(
        String::from_utf8_lossy(&none.stderr).contains("no file matches \"reports/*.json\""),
        "{}",
        String::from_utf8_lossy(&none.stderr)
    );
}

/// Sends one HTTP/1.1 request and returns (status, body).
fn http(addr: &str, method: &str, path: &str, body: &[u8]) -> (u16, String) {
    http_with(addr, method, path, "", body)
}

/// `http` with extra header lines (each ending in `\r\n`).
fn http_with(addr: &str, method: &str, path: &str, headers: &str, body: &[u8]) -> (u16, String) {
    let mut stream = TcpStream::connect(addr).unwrap();
    stream
        .set_read_timeout(Some(std::time::Duration::from_secs(30)))
        .unwrap();
    write!(
        stream,
        "{method} {path} HTTP/1.1\r\nHost: {addr}\r\n{headers}Content-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
        body.len()
    )
    .unwrap();
    stream.write_all(body).unwrap();
    let mut response = String::new();
    stream.read_to_string(&mut response).unwrap();
    let status = response[9..12].parse().unwrap();
    let body = response
        .split_once("\r\n\r\n")
        .map(|(_, b)| b.to_owned())
        .unwrap_or_default();
    (status, body)
}

#[test]
fn serve_accepts_the_same_report_over_http() {
    let Some(bytes) = sample("sarif/codeql_codeQL-output.sarif") else {
        return;
    };
    let work = Workdir::new("serve");
    let (mut server, addr) = start_server(&work, "", &[]);

    let (status, body) = http(&addr, "POST", "/webhooks/local", &bytes);
    let (bad_status, bad_body) = http(&addr, "POST", "/webhooks/local", b"{\"runs\": [");
    let (health, _) = http(&addr, "GET", "/healthz", b"");
    server.kill().unwrap();
    server.wait().unwrap();

    assert_eq!(status, 202, "{body}");
    let summary: serde_json::Value = serde_json::from_str(body.trim()).unwrap();
    assert_eq!(
        (summary["received"].as_u64(), summary["new"].as_u64()),
        (Some(72), Some(72))
    );
    assert_eq!(bad_status, 400);
    let error: serde_json::Value = serde_json::from_str(bad_body.trim()).unwrap();
    assert_eq!(error["error"]["code"], "malformed_report");
    assert_eq!(health, 200);
}

/// Starts `muster serve` on a free port with `config` and `env`; returns it and its address.
fn start_server(work: &Workdir, config: &str, env: &[(&str, &str)]) -> (std::process::Child, String) {
    std::fs::write(work.path("muster.toml"), config).unwrap();
    let mut command = Command::new(env!("CARGO_BIN_EXE_muster"));
    command
        .args(["serve", "--addr", "127.0.0.1:0"])
        .current_dir(&work.0)
        .stderr(Stdio::piped())
        .stdout(Stdio::null());
    for (key, value) in env {
        command.env(key, value);
    }
    let mut server = command.spawn().unwrap();
    let mut lines = BufReader::new(server.stderr.take().unwrap()).lines();
    let addr = lines
        .by_ref()
        .map_while(Result::ok)
        .find_map(|line| {
            line.split("http://")
                .nth(1)
                .map(|rest| rest.split_whitespace().next().unwrap().to_owned())
        })
        .expect("server prints its address");
    // Keep reading the server's log so its writes never hit a closed pipe.
    std::thread::spawn(move || lines.map_while(Result::ok).for_each(drop));
    (server, addr)
}

#[test]
fn gate_against_a_server_gives_the_local_verdict_to_the_bearer_of_the_read_token() {
    let Some(dir) = samples_dir() else { return };
    let work = Workdir::new("remote-gate");
    let report = dir.join("sarif/codeql_codeQL-output.sarif");
    work.json(&["ingest", "--json", path_str(&report)]);
    let config = "[http]\nread_token_env = \"MUSTER_READ_TOKEN\"\n";
    let (mut server, addr) = start_server(&work, config, &[("MUSTER_READ_TOKEN", "r3ad")]);
    let url = format!("http://{addr}");
    let budget = [
        "gate",
        "--max-new-tier",
        "P4",
        "--since",
        "2020-01-01T00:00:00Z",
        "--now",
        "2030-01-01T00:00:00Z",
    ];
    let remote = |token: &str, extra: &[&str]| {
        Command::new(env!("CARGO_BIN_EXE_muster"))
            .args(extra)
            .args(["--url", &url])
            .env("MUSTER_READ_TOKEN", token)
            .current_dir(&work.0)
            .output()
            .unwrap()
    };

    let failed = remote("r3ad", &budget);
    let passed = remote(
        "r3ad",
        &["gate", "--max-breached", "P1=0", "--now", "2026-01-01T00:00:00Z"],
    );
    let refused = remote("wrong", &budget);
    server.kill().unwrap();
    server.wait().unwrap();
    let local = work.muster(&budget);

    let stderr = |output: &Output| String::from_utf8_lossy(&output.stderr).into_owned();
    assert_eq!(failed.status.code(), Some(1), "{}", stderr(&failed));
    assert!(
        stderr(&failed).contains("groups with new findings of P4 or worse"),
        "{}",
        stderr(&failed)
    );
    assert_eq!(
        stderr(&failed),
        stderr(&local),
        "the server judges as the local command does"
    );
    assert!(passed.status.success(), "{}", stderr(&passed));
    assert_eq!(String::from_utf8_lossy(&passed.stdout), "gate passed\n");
    assert!(!refused.status.success());
    assert!(
        stderr(&refused).contains("401") && stderr(&refused).contains("read token is wrong"),
        "{}",
        stderr(&refused)
    );
}

#[test]
fn push_sends_a_signed_gzipped_report_and_reports_refusals() {
    let Some(dir) = samples_dir() else { return };
    let work = Workdir::new("push");
    let config = "[[sources]]\nname = \"ci\"\nsecret_env = \"MUSTER_SECRET_CI\"\n";
    let (mut server, addr) = start_server(&work, config, &[("MUSTER_SECRET_CI", "s3cret")]);
    let report = dir.join("sarif/codeql_codeQL-output.sarif");
    let url = format!("http://{addr}");
    let push = |secret: &str| {
        Command::new(env!("CARGO_BIN_EXE_muster"))
            .args([
                "push",
                "--json",
                "--url",
                &url,
                "--source",
                "ci",
                "--secret-env",
                "PUSH_SECRET",
                // Above the threshold: `muster serve` has no uploads (404 uploads_disabled),
                // so push posts the report directly.
                "--upload-above",
                "1",
            ])
            .arg(&report)
            .env("PUSH_SECRET", secret)
            .output()
            .unwrap()
    };

    let accepted = push("s3cret");
    let refused = push("wrong");
    server.kill().unwrap();
    server.wait().unwrap();

    assert!(
        accepted.status.success(),
        "{}",
        String::from_utf8_lossy(&accepted.stderr)
    );
    let summary: serde_json::Value = serde_json::from_slice(&accepted.stdout).unwrap();
    assert_eq!(
        (summary["received"].as_u64(), summary["new"].as_u64()),
        (Some(72), Some(72))
    );
    assert!(!refused.status.success());
    let stderr = String::from_utf8_lossy(&refused.stderr);
    assert!(stderr.contains("bad_signature") && stderr.contains("401"), "{stderr}");
}

#[test]
fn push_retries_after_429_and_honours_retry_after() {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let server = std::thread::spawn(move || {
        let answer = |status: &str, extra: &str, body: &str| {
            format!(
                "HTTP/1.1 {status}\r\n{extra}Content-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
                body.len()
            )
        };
        let answers = [
            answer(
                "429 Too Many Requests",
                "Retry-After: 1\r\n",
                r#"{"error":{"code":"rate_limited","message":"slow down!!"}}"#,
            ),
            answer("503 Service Unavailable", "", ""),
            answer("202 Accepted", "", r#"{"new":"ok"}"#),
        ];
        let mut arrivals = Vec::new();
        for answer in answers {
            let (mut stream, _) = listener.accept().unwrap();
            arrivals.push(std::time::Instant::now());
            let mut reader = BufReader::new(stream.try_clone().unwrap());
            let mut length = 0;
            let mut gzip = false;
            loop {
                let mut line = String::new();
                reader.read_line(&mut line).unwrap();
                let lower = line.to_ascii_lowercase();
                if let Some(value) = lower.strip_prefix("content-length:") {
                    length = value.trim().parse().unwrap();
                }
                gzip |= lower.starts_with("content-encoding: gzip");
                if line == "\r\n" {
                    break;
                }
            }
            let mut body = vec![0; length];
            reader.read_exact(&mut body).unwrap();
            assert!(gzip && body.starts_with(&[0x1f, 0x8b]), "the report is sent gzipped");
            stream.write_all(answer.as_bytes()).unwrap();
        }
        arrivals
    });
    let work = Workdir::new("retry");
    let report = work.path("r.sarif");
    std::fs::write(&report, r#"{"version":"2.1.0","runs":[]}"#).unwrap();

    let output = work.muster(&[
        "push",
        "--url",
        &format!("http://{addr}"),
        "--source",
        "ci",
        path_str(&report),
    ]);

    let arrivals = server.join().unwrap();
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    assert!(String::from_utf8_lossy(&output.stdout).contains("{\"new\":\"ok\"}"));
    assert_eq!(arrivals.len(), 3);
    assert!(
        arrivals[1] - arrivals[0] >= std::time::Duration::from_millis(950),
        "Retry-After: 1 was honoured"
    );
    assert!(String::from_utf8_lossy(&output.stderr).contains("slow down!!"));
}

#[test]
fn serve_takes_its_body_limit_from_the_config() {
    let work = Workdir::new("limit");
    let (mut server, addr) = start_server(&work, "[http]\nbody_limit_mib = 1\n", &[]);
    // A small gzip body that inflates past 1 MiB: the whole request is read, then refused.
    let mut encoder = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    encoder.write_all(&vec![b' '; 2 * 1024 * 1024]).unwrap();
    let gzipped = encoder.finish().unwrap();
    let (status, body) = http_with(&addr, "POST", "/webhooks/local", "Content-Encoding: gzip\r\n", &gzipped);
    server.kill().unwrap();
    server.wait().unwrap();
    assert_eq!(status, 413, "{body}");
    assert!(body.contains("body_too_large"), "{body}");
}

fn repo_file(relative: &str) -> String {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("..")
        .join(relative)
        .to_str()
        .unwrap()
        .to_owned()
}

#[test]
fn context_imports_route_score_and_explain_findings() {
    let work = Workdir::new("context");
    let owners = repo_file("infra/examples/owners.yaml");
    let assets = repo_file("infra/examples/assets.yaml");
    let codeowners = repo_file("infra/examples/CODEOWNERS");
    let trivy = repo_file("tests/fixtures/trivy-shop-api.json");

    // CODEOWNERS handles map to teams of the owners file: it must come first.
    let early = work.muster(&["owners", "import-codeowners", "--repo", "acme/shop-api", &codeowners]);
    assert!(!early.status.success());
    assert!(String::from_utf8_lossy(&early.stderr).contains("import the owners file first"));

    let imported = work.json(&["owners", "import", &owners, "--json"]);
    assert!(imported["entries"].as_u64().unwrap() > 10);
    work.json(&[
        "owners",
        "import-codeowners",
        "--repo",
        "acme/shop-api",
        &codeowners,
        "--json",
    ]);
    work.json(&["assets", "import", &assets, "--json"]);
    work.json(&["ingest", &trivy, "--json"]);

    // Nothing in the examples owns registry.example.com: every finding is unowned.
    let findings = work.json(&["findings", "--json"]);
    let unowned = work.json(&["findings", "--unowned", "--json"]);
    assert_eq!(findings.as_array().unwrap().len(), 4);
    assert_eq!(unowned, findings);
    assert!(
        unowned
            .as_array()
            .unwrap()
            .iter()
            .all(|f| f["owner"] == "security-triage" && f["unowned"] == true)
    );

    // An owners rule for that registry takes them over; re-import re-routes.
    let with_rule = work.path("owners.yaml");
    let text = std::fs::read_to_string(&owners).unwrap()
        + "  - name: shop-registry\n    team: payments\n    asset_glob: \"registry.example.com/shop/*\"\n";
    std::fs::write(&with_rule, text).unwrap();
    let summary = work.json(&["owners", "import", path_str(&with_rule), "--json"]);
    assert_eq!(summary["rescored"], 4);
    assert!(
        work.json(&["findings", "--unowned", "--json"])
            .as_array()
            .unwrap()
            .is_empty()
    );

    // Intel: a KEV entry for one CVE lifts it; explain shows why, readable and as JSON.
    let kev = work.path("kev.csv");
    std::fs::write(
        &kev,
        "cveID,vendorProject,product,vulnerabilityName,dateAdded,shortDescription,requiredAction,dueDate,knownRansomwareCampaignUse,notes,cwes\n\
         CVE-2024-6345,pypa,setuptools,setuptools code injection,2026-11-21,x,Apply updates,2026-12-12,Unknown,,CWE-94\n",
    )
    .unwrap();
    let intel = work.json(&["intel", "import", "--kev", path_str(&kev), "--json"]);
    assert_eq!(
        (intel["changed_cves"].as_u64(), intel["rescored"].as_u64()),
        (Some(1), Some(1))
    );
    let findings = work.json(&["findings", "--json"]);
    let setuptools = findings
        .as_array()
        .unwrap()
        .iter()
        .find(|f| {
            f["title"].as_str().unwrap().contains("setuptools")
                || f["location"].as_str().unwrap().starts_with("setuptools")
        })
        .expect("setuptools finding");
    assert_eq!(setuptools["tier"], "P1");
    assert_eq!(setuptools["owner"], "payments");
    let fingerprint = setuptools["fingerprint"].as_str().unwrap();

    let explained = work.muster(&["explain", &fingerprint[..10]]);
    assert!(
        explained.status.success(),
        "{}",
        String::from_utf8_lossy(&explained.stderr)
    );
    let text = String::from_utf8(explained.stdout).unwrap();
    for needle in [
        "kev",
        "CISA KEV since 2026-11-21",
        "BOD 26-04",
        "owner payments (rule shop-registry)",
        "timeline",
        "rescored",
    ] {
        assert!(text.contains(needle), "explain lacks {needle:?}:\n{text}");
    }
    let json = work.json(&["explain", fingerprint, "--json"]);
    let evidence = json["triage"]["risk"]["evidence"].as_array().unwrap();
    assert!(
        evidence
            .iter()
            .any(|e| e["factor"] == "kev" && e["contribution"] == 25 && e["source"] == "cisa-kev")
    );

    let groups = work.json(&["groups", "--json"]);
    let groups = groups.as_array().unwrap();
    assert_eq!(
        groups.len(),
        2,
        "openssl (libssl3 + libcrypto3) and setuptools: one upgrade each"
    );
    assert!(groups.iter().any(|g| {
        g["title"]
            .as_str()
            .unwrap()
            .starts_with("Upgrade openssl (libcrypto3, libssl3) to ≥ 3.1.7-r0")
    }));
    let listed = work.muster(&["groups"]);
    assert!(String::from_utf8_lossy(&listed.stdout).contains("2 groups for 4 open findings"));

    // Risk acceptance: recorded with its reason; an unknown prefix is a clear error.
    let accepted = work.json(&[
        "accept",
        fingerprint,
        "--until",
        "2099-01-31",
        "--reason",
        "egress filtered",
        "--json",
    ]);
    assert_eq!(accepted["status"], "risk_accepted");
    let missing = work.muster(&["explain", "ffffffffff"]);
    assert!(!missing.status.success());
    assert!(String::from_utf8_lossy(&missing.stderr).contains("no finding starts with ffffffffff"));
}

#[test]
fn a_bad_context_file_names_file_and_line_and_changes_nothing() {
    let work = Workdir::new("badcontext");
    let owners = repo_file("infra/examples/owners.yaml");
    work.json(&["owners", "import", &owners, "--json"]);
    let bad = work.path("owners.yaml");
    std::fs::write(
        &bad,
        "teams:\n  - id: web\n    name: Web\nrules:\n  - team: nobody\n    asset: x\n",
    )
    .unwrap();
    let output = work.muster(&["owners", "import", path_str(&bad)]);
    assert!(!output.status.success());
    let error = String::from_utf8_lossy(&output.stderr);
    assert!(error.contains("owners.yaml:5") && error.contains("nobody"), "{error}");

    let assets = work.path("assets.yaml");
    std::fs::write(&assets, "assets:\n  - key: a\n    criticality: 7\n").unwrap();
    let output = work.muster(&["assets", "import", path_str(&assets)]);
    let error = String::from_utf8_lossy(&output.stderr);
    assert!(
        !output.status.success() && error.contains("assets.yaml:2") && error.contains("criticality"),
        "{error}"
    );

    let epss = work.path("epss.csv");
    std::fs::write(&epss, "cve,epss,percentile\nCVE-2024-1,1.5,0.9\n").unwrap();
    let output = work.muster(&["intel", "import", "--epss", path_str(&epss)]);
    let error = String::from_utf8_lossy(&output.stderr);
    assert!(!output.status.success() && error.contains("epss.csv:2"), "{error}");

    // The first import is intact: teams still routable.
    let imported = work.json(&["owners", "import", &owners, "--json"]);
    assert_eq!(imported["rescored"], 0);
}

#[test]
fn intel_fetch_downloads_both_feeds_and_names_a_failing_url() {
    let work = Workdir::new("fetch");
    let addr = muster_tests::serve_files(Path::new(env!("CARGO_MANIFEST_DIR")).join("../tests/fixtures/intel"));
    let kev = format!("http://{addr}/kev-small.csv");
    let epss = format!("http://{addr}/epss_scores-2026-11-26.csv");
    let summary = work.json(&["intel", "fetch", "--kev-url", &kev, "--epss-url", &epss, "--json"]);
    let kev_rows = std::fs::read_to_string(repo_file("tests/fixtures/intel/kev-small.csv"))
        .unwrap()
        .lines()
        .skip(1)
        .filter(|l| l.trim_start_matches('"').starts_with("CVE-"))
        .count();
    let epss_rows = std::fs::read_to_string(repo_file("tests/fixtures/intel/epss_scores-2026-11-26.csv"))
        .unwrap()
        .lines()
        .filter(|l| l.starts_with("CVE-"))
        .count();
    assert_eq!(summary["entries"].as_u64(), Some((kev_rows + epss_rows) as u64));

    let missing = format!("http://{addr}/nope.json");
    let output = work.muster(&["intel", "fetch", "--kev-url", &missing, "--kev-only"]);
    assert!(!output.status.success());
    let error = String::from_utf8_lossy(&output.stderr);
    assert!(error.contains("404") && error.contains("/nope.json"), "{error}");
}

/// A tracker that refuses every call with 401, as GitHub does with a revoked token.
fn refusing_tracker() -> String {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(mut stream) = stream else { return };
            let mut reader = BufReader::new(stream.try_clone().unwrap());
            let mut length = 0;
            loop {
                let mut line = String::new();
                if reader.read_line(&mut line).unwrap_or(0) == 0 {
                    break;
                }
                if let Some(value) = line.to_ascii_lowercase().strip_prefix("content-length:") {
                    length = value.trim().parse().unwrap_or(0);
                }
                if line == "\r\n" {
                    break;
                }
            }
            let mut body = vec![0; length];
            let _ = std::io::Read::read_exact(&mut reader, &mut body);
            let reply = r#"{"message":"Bad credentials","documentation_url":"https://docs.github.com/rest"}"#;
            let _ = write!(
                stream,
                "HTTP/1.1 401 Unauthorized\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{reply}",
                reply.len()
            );
        }
    });
    format!("http://{addr}")
}

#[test]
fn a_refusing_tracker_leaves_dead_letters_and_one_alert_and_retry_runs_them_again() {
    let work = Workdir::new("retry");
    std::fs::write(
        work.path("owners.yaml"),
        "default_team: appsec\nteams:\n  - id: appsec\n    tracker: { github: acme/shop }\n",
    )
    .unwrap();
    let imported = work.muster(&["owners", "import", "owners.yaml"]);
    assert!(
        imported.status.success(),
        "{}",
        String::from_utf8_lossy(&imported.stderr)
    );
    std::fs::write(
        work.path("muster.toml"),
        format!(
            "[trackers.github]\napi_url = \"{}\"\ntoken_env = \"MUSTER_TEST_GITHUB_TOKEN\"\n",
            refusing_tracker()
        ),
    )
    .unwrap();
    let demo = repo_file("examples/demo.sarif");

    // WHEN the tracker refuses every ticket
    let ingest = Command::new(env!("CARGO_BIN_EXE_muster"))
        .args(["ingest", &demo])
        .current_dir(&work.0)
        .env("MUSTER_TEST_GITHUB_TOKEN", "ghp_revoked")
        .env_remove("MUSTER_DB")
        .env_remove("MUSTER_CONFIG")
        .output()
        .unwrap();

    // THEN the run says so, the work waits as dead letters with the tracker's reason, and the
    // security channel gets one alert, not one per ticket
    assert!(!ingest.status.success());
    let stderr = String::from_utf8_lossy(&ingest.stderr);
    assert!(stderr.contains("dead letters"), "{stderr}");
    assert!(!stderr.contains("ghp_revoked"), "the token never appears: {stderr}");
    let letters = work.json(&["retry", "--list", "--json"]);
    let letters = letters.as_array().unwrap();
    assert_eq!(letters.len(), 3, "one per group of the demo report: {letters:?}");
    assert!(
        letters.iter().all(|l| l["error"].as_str().unwrap().contains("401")),
        "{letters:?}"
    );
    let outbox = work.json(&["outbox", "--json"]);
    let alerts: Vec<_> = outbox
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["target"] == "#security")
        .collect();
    assert_eq!(alerts.len(), 1, "{outbox}");
    assert!(
        alerts[0]["payload"]["text"].as_str().unwrap().contains("ticket × 3"),
        "{alerts:?}"
    );

    // WHEN the cause is fixed (here: the tracker is unconfigured, so tickets go to the outbox)
    // THEN `muster retry` runs them again and nothing is left
    std::fs::write(work.path("muster.toml"), "").unwrap();
    let retried = work.json(&["retry", "--json"]);
    assert_eq!(retried, serde_json::json!({ "retried": 3, "failed_again": 0 }));
    assert_eq!(work.json(&["retry", "--list", "--json"]), serde_json::json!([]));
    let tickets = work.json(&["tickets", "--json"]);
    assert_eq!(tickets.as_array().unwrap().len(), 3);
    assert!(
        tickets.as_array().unwrap().iter().all(|t| t["state"] == "open"),
        "{tickets}"
    );
}

/// A report above `--upload-above` goes through the server's presigned uploads: `POST /uploads`
/// (signed), then a PUT to S3 (moto), and the object is ingested when S3 reports it.
#[test]
fn push_sends_a_large_report_through_a_presigned_upload() {
    use muster_aws::presign::PresignedPuts;
    use muster_aws::uploads::{S3Objects, UploadOutcome, ingest_object};
    use muster_core::ports::{FindingFilter, FindingStore as _};
    use muster_tests::moto;
    use std::sync::Arc;

    let Some(report) = sample("sarif/codeql_codeQL-output.sarif") else {
        return;
    };
    let Some(endpoint) = moto::moto_endpoint() else { return };
    let work = Workdir::new("push-upload");
    let path = work.path("large.sarif");
    std::fs::write(&path, &report).unwrap();
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let config = Arc::new(
        muster_core::Config::from_toml("[[sources]]\nname = \"ci\"\nsecret_env = \"UNUSED\"\n", "test.toml").unwrap(),
    );
    let bucket = moto::unique_name("muster-push");
    let (s3, objects, pipeline, addr) = runtime.block_on(async {
        let sdk = moto::sdk_config(&endpoint).await;
        let s3 = moto::s3_client(&sdk);
        s3.create_bucket().bucket(&bucket).send().await.expect("bucket on moto");
        let pipeline = Arc::new(muster_tests::pipeline_at("2026-11-27T10:00:00Z"));
        let http = muster_http::HttpConfig {
            config: Arc::clone(&config),
            body_limit: muster_http::DEFAULT_BODY_LIMIT,
            secrets: [("ci".to_owned(), muster_http::Secret::new("s3cret"))]
                .into_iter()
                .collect(),
            tracker_secrets: Default::default(),
            slack_signing_secret: None,
            read_token: None,
            uploads: None,
        }
        .with_uploads(Arc::new(
            PresignedPuts::new(&sdk, &bucket).expect("region and credentials"),
        ));
        let app = muster_http::router(Arc::clone(&pipeline), http);
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move { axum::serve(listener, app).await });
        (
            s3,
            S3Objects::new(&sdk).expect("region and credentials"),
            pipeline,
            addr,
        )
    });

    let output = Command::new(env!("CARGO_BIN_EXE_muster"))
        .args(["push", "--json", "--url", &format!("http://{addr}"), "--source", "ci"])
        .args(["--secret-env", "PUSH_SECRET", "--upload-above", "1000"])
        .arg(&path)
        .env("PUSH_SECRET", "s3cret")
        .output()
        .unwrap();
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    let summary: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
    assert_eq!(summary["status"], "uploaded", "{summary}");
    let key = summary["key"].as_str().expect("key").to_owned();
    assert!(key.starts_with("uploads/ci/") && key.ends_with(".gz"), "{key}");

    runtime.block_on(async {
        // Nothing is ingested until storage reports the object; then all of it is.
        let store = &pipeline.store;
        assert!(store.list_findings(&FindingFilter::default()).await.unwrap().is_empty());
        let outcome = ingest_object(&*pipeline, &config, &objects, &bucket, &key)
            .await
            .expect("ingested");
        let (results, _) = sarif_result_counts(&report);
        let UploadOutcome::Ingested(summary) = outcome else {
            panic!("{outcome:?}")
        };
        assert_eq!(summary.received as usize, results, "{summary:?}");
        let stored = store.list_findings(&FindingFilter::default()).await.unwrap();
        assert_eq!(stored.len() as u64, summary.new);
        let listed = s3.list_objects_v2().bucket(&bucket).send().await.unwrap();
        assert!(listed.contents().is_empty(), "the upload is deleted after ingest");
    });
}
