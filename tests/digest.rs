//! Digests and the CI gate over real reports for three teams, some of whose findings were
//! fixed later (one team within its SLA, one after it): the JSON, Markdown and HTML digests
//! tell the same numbers, the HTML renders its charts in a real browser (headless Chromium),
//! and the gate fails exactly from the instant a group passes its due date.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::process::{Command, Stdio};

use chrono::{DateTime, Duration, Utc};
use muster_core::digest_render::{to_html, to_markdown};
use muster_core::model::{Finding, Status, TeamId, Tier};
use muster_core::ownership::parse_owners_yaml;
use muster_core::ports::{FindingFilter, FindingStore, FixedClock};
use muster_core::services::context::import_ownership;
use muster_core::services::digest::{BreachBudget, Digest, GatePolicy, Violation, digest, gate};
use muster_core::services::ticket::open_groups;
use muster_tests::{ingest_from, pipeline_at, sample};
use serde_json::Value;

const OWNERS: &str = r##"
default_team: security-triage
teams:
  - id: payments
  - id: platform
  - id: web
  - id: security-triage
rules:
  - team: payments
    asset_glob: "testdata/fixtures/images/alpine-310*"
  - team: platform
    asset: ci
  - team: web
    asset_glob: "testdata/fixtures/images/centos-7*"
"##;

/// A Trivy report without the vulnerabilities of one package: the fix, as the next scan sees it.
fn without_package(bytes: &[u8], package: &str) -> Vec<u8> {
    let mut report: Value = serde_json::from_slice(bytes).unwrap();
    for result in report["Results"].as_array_mut().unwrap() {
        if let Some(vulns) = result["Vulnerabilities"].as_array_mut() {
            vulns.retain(|v| v["PkgName"] != package);
        }
    }
    serde_json::to_vec(&report).unwrap()
}

async fn all_findings(pipeline: &muster_tests::TestPipeline) -> Vec<Finding> {
    pipeline.store.list_findings(&FindingFilter::default()).await.unwrap()
}

/// Three teams' reports ingested on 2026-11-01; two days later payments fixes libcrypto1.1
/// (within its SLA), and web fixes openssl-libs a day after it was due. Returns every finding
/// and the instant of the last fix; `None` without the samples.
async fn three_teams_with_fixes() -> Option<(Vec<Finding>, DateTime<Utc>)> {
    let (sarif, alpine, centos) = (
        sample("sarif/codeql_codeQL-output.sarif")?,
        sample("trivy/trivy_alpine-310.json")?,
        sample("trivy/trivy_centos-7.json")?,
    );
    let mut pipeline = pipeline_at("2026-11-01T10:00:00Z");
    let owners = parse_owners_yaml(OWNERS, "owners.yaml").unwrap();
    import_ownership(&pipeline.store, &pipeline.queue, owners)
        .await
        .unwrap();
    ingest_from(&pipeline, "ci", None, None, &sarif).await;
    ingest_from(&pipeline, "images", None, None, &alpine).await;
    ingest_from(&pipeline, "centos", None, None, &centos).await;

    pipeline.clock = FixedClock(muster_tests::at("2026-11-03T10:00:00Z"));
    let fixed = ingest_from(
        &pipeline,
        "images",
        None,
        None,
        &without_package(&alpine, "libcrypto1.1"),
    )
    .await;
    assert_eq!(fixed.resolved, 2, "alpine lists libcrypto1.1 twice");

    let openssl_due = all_findings(&pipeline)
        .await
        .iter()
        .filter(|f| matches!(&f.detection.location, muster_core::Location::Package(p) if p.name == "openssl-libs"))
        .filter_map(|f| f.triage.as_ref().map(|t| t.due_at))
        .max()
        .expect("centos has triaged openssl-libs findings");
    let late = openssl_due + Duration::days(1);
    pipeline.clock = FixedClock(late);
    let fixed = ingest_from(
        &pipeline,
        "centos",
        None,
        None,
        &without_package(&centos, "openssl-libs"),
    )
    .await;
    assert_eq!(fixed.resolved, 2, "centos lists openssl-libs twice");
    Some((all_findings(&pipeline).await, late))
}

/// A Markdown table under `## {heading}`: header cells, then rows keyed by the first cell.
fn markdown_table(markdown: &str, heading: &str) -> (Vec<String>, Vec<Vec<String>>) {
    let start = markdown
        .find(&format!("## {heading}"))
        .unwrap_or_else(|| panic!("no section {heading}"));
    let cells = |line: &str| -> Vec<String> {
        line.trim()
            .trim_matches('|')
            .split(" | ")
            .map(|c| c.trim().to_owned())
            .collect()
    };
    let mut lines = markdown[start..]
        .lines()
        .skip_while(|l| !l.starts_with('|'))
        .take_while(|l| l.starts_with('|'));
    let header = cells(lines.next().unwrap());
    let rows = lines.skip(1).map(cells).collect();
    (header, rows)
}

/// A number as the renderers print it, or `None` for "n/a"; `%` is dropped.
fn number(text: &str) -> Option<f64> {
    (text != "n/a").then(|| {
        text.trim_end_matches('%')
            .parse()
            .unwrap_or_else(|_| panic!("{text:?} is not a number"))
    })
}

fn json_number(value: &Value, pointer: &str) -> Option<f64> {
    let found = value
        .pointer(pointer)
        .unwrap_or_else(|| panic!("no {pointer} in {value}"));
    found.as_f64().or_else(|| {
        assert!(found.is_null(), "{pointer} is {found}");
        None
    })
}

/// The value of attribute `name` in one tag's text.
fn attribute<'a>(tag: &'a str, name: &str) -> Option<&'a str> {
    let start = tag.find(&format!(" {name}=\""))? + name.len() + 3;
    Some(&tag[start..start + tag[start..].find('"')?])
}

/// Every opening tag `<{name} …>` in `html`, as its text.
fn tags<'a>(html: &'a str, name: &str) -> Vec<&'a str> {
    let open = format!("<{name} ");
    let mut found = Vec::new();
    let mut rest = html;
    while let Some(at) = rest.find(&open) {
        let end = at + rest[at..].find('>').unwrap();
        found.push(&rest[at..=end]);
        rest = &rest[end..];
    }
    found
}

/// The text of each `<td data-field=…>` of the row `<tr data-team="team" …>` in table `id`.
fn html_row(html: &str, table: &str, team: &str) -> BTreeMap<String, String> {
    let table = &html[html.find(&format!("<table id=\"{table}\"")).unwrap()..];
    let table = &table[..table.find("</table>").unwrap()];
    let row = &table[table
        .find(&format!("<tr data-team=\"{team}\""))
        .unwrap_or_else(|| panic!("no row for {team}"))..];
    let row = &row[..row.find("</tr>").unwrap()];
    let mut cells = BTreeMap::new();
    for cell in row.split("<td data-field=\"").skip(1) {
        let (field, rest) = cell.split_once("\">").unwrap();
        cells.insert(field.to_owned(), rest[..rest.find("</td>").unwrap()].to_owned());
    }
    cells
}

fn svg<'a>(html: &'a str, id: &str) -> &'a str {
    let start = html
        .find(&format!("<svg id=\"{id}\""))
        .unwrap_or_else(|| panic!("no svg #{id}"));
    let end = start + html[start..].find("</svg>").unwrap();
    &html[start..end]
}

async fn lead_digest() -> Option<(Digest, Value)> {
    let (findings, last_fix) = three_teams_with_fixes().await?;
    let digest = digest(&findings, last_fix + Duration::days(1), Duration::weeks(1), None);
    let json = serde_json::to_value(&digest).unwrap();
    Some((digest, json))
}

#[tokio::test]
async fn fixes_show_as_compliance_per_team_within_and_after_the_sla() {
    let Some((digest, _)) = lead_digest().await else {
        return;
    };
    let team = |name: &str| digest.teams.iter().find(|t| t.team == name).unwrap();
    assert_eq!((team("payments").fixed, team("payments").fixed_within_sla), (2, 2));
    assert_eq!(team("payments").sla_compliance_pct, Some(100.0));
    assert_eq!((team("web").fixed, team("web").fixed_within_sla), (2, 0));
    assert_eq!(team("web").sla_compliance_pct, Some(0.0));
    assert_eq!(team("platform").sla_compliance_pct, None, "nothing fixed: n/a");
    assert_eq!(digest.totals.sla_compliance_pct, Some(50.0));
    assert_eq!(team("web").trend.fixed.current, 2, "web's fix was a day ago");
    assert!(digest.totals.open.total > 0 && digest.top_risks.len() == 10.min(digest.totals.open.total));
}

#[tokio::test]
async fn json_markdown_and_html_digests_tell_the_same_numbers() {
    let Some((digest, json)) = lead_digest().await else {
        return;
    };
    let markdown = to_markdown(&digest);
    let html = to_html(&digest);
    let sections: Vec<(String, String)> = digest
        .teams
        .iter()
        .enumerate()
        .map(|(i, t)| (t.team.clone(), format!("/teams/{i}")))
        .chain([("all".to_owned(), "/totals".to_owned())])
        .collect();

    // Markdown tables: header → JSON pointer under the team's section.
    let columns: BTreeMap<&str, &str> = BTreeMap::from([
        ("open", "/open/total"),
        ("P1", "/open/P1"),
        ("P2", "/open/P2"),
        ("P3", "/open/P3"),
        ("P4", "/open/P4"),
        ("breached now", "/breached/total"),
        ("fixed", "/fixed"),
        ("fixed in SLA", "/fixed_within_sla"),
        ("SLA compliance", "/sla_compliance_pct"),
        ("unowned", "/unowned"),
        ("risk accepted", "/risk_accepted"),
        ("expiring ≤ 14 d", "/acceptances_expiring_soon"),
        ("new", "/trend/new/current"),
        ("new (prev)", "/trend/new/previous"),
        ("breached", "/trend/breached/current"),
        ("breached (prev)", "/trend/breached/previous"),
        ("fixed (prev)", "/trend/fixed/previous"),
    ]);
    let mut compared = 0;
    for (heading, fixed_column) in [("Teams", "/fixed"), ("Trend", "/trend/fixed/current")] {
        let (header, rows) = markdown_table(&markdown, heading);
        assert_eq!(rows.len(), sections.len());
        for row in rows {
            let (_, base) = sections.iter().find(|(team, _)| *team == row[0]).unwrap();
            for (name, cell) in header.iter().zip(&row).skip(1) {
                let pointer = if name == "fixed" {
                    fixed_column
                } else {
                    columns[name.as_str()]
                };
                assert_eq!(
                    number(cell),
                    json_number(&json, &format!("{base}{pointer}")),
                    "{heading}: {name}"
                );
                compared += 1;
            }
        }
    }
    // HTML tables: data-field is the JSON path.
    for (team, base) in &sections {
        for table in ["teams", "trend"] {
            for (field, text) in html_row(&html, table, team) {
                let pointer = format!("{base}/{}", field.replace('.', "/"));
                assert_eq!(number(&text), json_number(&json, &pointer), "{team}: {field}");
                compared += 1;
            }
        }
    }
    // Time to remediate, per team and tier, in both.
    let (_, rows) = markdown_table(&markdown, "Time to remediate");
    assert!(!rows.is_empty(), "fixes give remediation times");
    for row in &rows {
        let (_, base) = sections.iter().find(|(team, _)| *team == row[0]).unwrap();
        let tier = Tier::parse(&row[1]).unwrap();
        let index = Tier::ALL.iter().position(|t| *t == tier).unwrap();
        let pointer = format!("{base}/mttr/{index}");
        assert_eq!(number(&row[2]), json_number(&json, &format!("{pointer}/fixed")));
        assert_eq!(number(&row[3]), json_number(&json, &format!("{pointer}/mean_hours")));
        assert_eq!(number(&row[4]), json_number(&json, &format!("{pointer}/p90_hours")));
        let mttr_html = html_mttr_row(&html, &row[0], &row[1]);
        assert_eq!(number(&mttr_html["mean_hours"]), number(&row[3]));
        assert_eq!(number(&mttr_html["p90_hours"]), number(&row[4]));
        compared += 4;
    }
    // Age buckets: the Markdown table and the chart's columns.
    let (_, rows) = markdown_table(&markdown, "Open findings by age");
    for (index, row) in rows.iter().enumerate() {
        for (column, tier) in ["P1", "P2", "P3", "P4", "total"].iter().enumerate() {
            let pointer = format!("/age_buckets/{index}/counts/{tier}");
            assert_eq!(number(&row[column + 1]), json_number(&json, &pointer), "{pointer}");
        }
    }
    for rect in tags(svg(&html, "chart-age"), "rect")
        .into_iter()
        .filter(|t| attribute(t, "class") == Some("datum"))
    {
        let index = digest
            .age_buckets
            .iter()
            .position(|b| {
                attribute(rect, "data-bucket")
                    .map(|v| v.replace("&gt;", ">"))
                    .as_deref()
                    == Some(b.label)
            })
            .unwrap();
        let pointer = format!("/age_buckets/{index}/counts/{}", attribute(rect, "data-tier").unwrap());
        assert_eq!(
            number(attribute(rect, "data-value").unwrap()),
            json_number(&json, &pointer)
        );
        compared += 1;
    }
    // SLA chart bars and MTTR points.
    for rect in tags(svg(&html, "chart-sla"), "rect") {
        let (_, base) = sections
            .iter()
            .find(|(team, _)| Some(team.as_str()) == attribute(rect, "data-team"))
            .unwrap();
        let pointer = format!("{base}/sla_compliance_pct");
        assert_eq!(
            number(attribute(rect, "data-value").unwrap()),
            json_number(&json, &pointer)
        );
        compared += 1;
    }
    for circle in tags(svg(&html, "chart-mttr"), "circle") {
        let week = digest
            .mttr_trend
            .iter()
            .position(|w| Some(w.end.format("%Y-%m-%d").to_string().as_str()) == attribute(circle, "data-week"))
            .unwrap();
        let pointer = format!("/mttr_trend/{week}/{}", attribute(circle, "data-tier").unwrap());
        assert_eq!(
            number(attribute(circle, "data-value").unwrap()),
            json_number(&json, &pointer)
        );
        compared += 1;
    }
    // Top risks: same findings, same order, same scores.
    let listed: Vec<(&str, Option<f64>)> = tags(&html, "li")
        .into_iter()
        .filter_map(|li| attribute(li, "data-fingerprint"))
        .map(|fp| {
            let rest = &html[html.find(&format!("data-fingerprint=\"{fp}\"")).unwrap()..];
            let score = rest.split("<span data-field=\"score\">").nth(1).unwrap();
            (fp, number(&score[..score.find('<').unwrap()]))
        })
        .collect();
    let expected: Vec<(&str, Option<f64>)> = json["top_risks"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| (r["fingerprint"].as_str().unwrap(), r["score"].as_f64()))
        .collect();
    assert_eq!(listed, expected);
    let markdown_scores: Vec<Option<f64>> = markdown[markdown.find("open risks").unwrap()..]
        .lines()
        .filter_map(|l| {
            l.split_once(" · score ")
                .map(|(_, rest)| number(&rest[..rest.find("**").unwrap()]))
        })
        .collect();
    assert_eq!(markdown_scores, expected.iter().map(|(_, s)| *s).collect::<Vec<_>>());
    assert!(compared > 100, "compared {compared} numbers");
}

fn html_mttr_row(html: &str, team: &str, tier: &str) -> BTreeMap<String, String> {
    let marker = format!("<tr data-team=\"{team}\" data-tier=\"{tier}\">");
    let row = &html[html.find(&marker).unwrap()..];
    let row = &row[..row.find("</tr>").unwrap()];
    row.split("<td data-field=\"")
        .skip(1)
        .map(|cell| {
            let (field, rest) = cell.split_once("\">").unwrap();
            (field.to_owned(), rest[..rest.find("</td>").unwrap()].to_owned())
        })
        .collect()
}

#[tokio::test]
async fn gate_fails_from_the_instant_a_group_passes_its_due_date() {
    let Some((findings, last_fix)) = three_teams_with_fixes().await else {
        return;
    };
    // GIVEN the open groups as they stand after the last fix, a tier with a group due later
    let open: Vec<Finding> = findings
        .iter()
        .filter(|f| f.status.is_open() && f.status != Status::RiskAccepted)
        .cloned()
        .collect();
    let groups = open_groups(&open);
    let (tier, first_due) = Tier::ALL
        .iter()
        .find_map(|tier| {
            groups
                .iter()
                .filter(|g| g.tier == *tier && g.due_at > last_fix)
                .min_by_key(|g| g.due_at)
                .map(|g| (*tier, g.clone()))
        })
        .expect("some group is due after the last fix");
    let already = groups
        .iter()
        .filter(|g| g.tier == tier && g.due_at < first_due.due_at)
        .count();
    let policy = GatePolicy {
        max_breached: BreachBudget::parse(&format!("{tier}={already}")).unwrap(),
        ..GatePolicy::default()
    };

    // WHEN the gate runs a second before that group's due date, THEN it passes
    let before = gate(&findings, first_due.due_at - Duration::seconds(1), &policy);
    assert!(before.passed, "{}", before.reason());

    // WHEN it runs at the due date, THEN it fails and names the group with its due date
    let at_due = gate(&findings, first_due.due_at, &policy);
    assert!(!at_due.passed);
    let reason = at_due.reason();
    assert!(reason.starts_with("gate failed: "), "{reason}");
    assert!(
        reason.contains(&format!("{tier} group")) && reason.contains(&format!("(budget {already})")),
        "{reason}"
    );
    assert!(
        reason.contains(&format!(
            "{} (due {})",
            first_due.title,
            first_due.due_at.format("%Y-%m-%d")
        )),
        "{reason}"
    );
    match &at_due.violations[..] {
        [Violation::Breached { groups, count, .. }] => {
            assert!(*count > already);
            assert!(groups.iter().any(|g| g.key == first_due.key));
        }
        other => panic!("one breach violation, not {other:?}"),
    }

    // A team without groups of that tier is within budget at the same instant.
    let other = ["payments", "platform", "web"]
        .into_iter()
        .find(|team| !groups.iter().any(|g| g.owner.as_str() == *team && g.tier == tier));
    if let Some(team) = other {
        let scoped = GatePolicy {
            team: Some(TeamId::parse(team).unwrap()),
            ..policy.clone()
        };
        assert!(gate(&findings, first_due.due_at, &scoped).passed, "{team}");
    }

    // New findings: everything is new since before the first ingest; nothing since after it.
    let new = |since: &str| GatePolicy {
        max_new_tier: Some(Tier::P4),
        since: Some(muster_tests::at(since)),
        ..GatePolicy::default()
    };
    let verdict = gate(&findings, last_fix, &new("2026-10-31T00:00:00Z"));
    assert!(matches!(&verdict.violations[..], [Violation::New { groups: g, .. }] if g.len() == groups.len()));
    assert!(gate(&findings, last_fix, &new("2026-11-02T00:00:00Z")).passed);
}

/// The Chromium binary: `$MUSTER_CHROMIUM`, else `chromium` on PATH.
fn chromium() -> Option<PathBuf> {
    if let Some(path) = std::env::var_os("MUSTER_CHROMIUM") {
        return Some(PathBuf::from(path));
    }
    std::env::split_paths(&std::env::var_os("PATH")?)
        .map(|dir| dir.join("chromium"))
        .find(|path| path.is_file())
}

/// Runs headless Chromium on `page` and returns the DOM it built; fails after two minutes.
fn dump_dom(chromium: &PathBuf, page: &std::path::Path, profile: &std::path::Path) -> String {
    let mut child = Command::new(chromium)
        .args([
            "--headless=new",
            "--no-sandbox",
            "--disable-gpu",
            "--no-first-run",
            "--disable-dev-shm-usage",
        ])
        .arg(format!("--user-data-dir={}", profile.display()))
        .arg("--dump-dom")
        .arg(format!("file://{}", page.display()))
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("cannot start {}: {e}", chromium.display()));
    let started = std::time::Instant::now();
    while child.try_wait().unwrap().is_none() {
        if started.elapsed() > std::time::Duration::from_secs(120) {
            let _ = child.kill();
            panic!("chromium did not finish within two minutes");
        }
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
    let output = child.wait_with_output().unwrap();
    assert!(
        output.status.success(),
        "chromium failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8(output.stdout).unwrap()
}

/// Whether a shape the browser kept has a visible extent.
fn has_extent(tag: &str) -> bool {
    let positive = |name| {
        attribute(tag, name)
            .and_then(|v| v.parse::<f64>().ok())
            .is_some_and(|v| v > 0.0)
    };
    if tag.starts_with("<polyline") {
        return attribute(tag, "points").is_some_and(|p| !p.trim().is_empty());
    }
    if tag.starts_with("<circle") {
        return positive("r");
    }
    positive("width") && positive("height")
}

#[tokio::test]
async fn html_digest_renders_its_three_charts_in_headless_chromium() {
    let Some(chromium) = chromium() else {
        assert!(
            std::env::var_os("CI").is_none(),
            "CI must have chromium (.ci/run installs it; or set MUSTER_CHROMIUM)"
        );
        eprintln!("skipped: chromium not installed");
        return;
    };
    let Some((mut digest, _)) = lead_digest().await else {
        return;
    };
    // Scanner text is untrusted: a hostile title must stay text.
    if let Some(risk) = digest.top_risks.first_mut() {
        risk.title = "<script>document.body.innerHTML=''</script> & \"quoted\" 'x'".to_owned();
    }
    let dir = std::env::temp_dir().join(format!("muster-digest-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let page = dir.join("digest.html");
    std::fs::write(&page, to_html(&digest)).unwrap();

    let dom = dump_dom(&chromium, &page, &dir.join("profile"));

    for id in ["chart-sla", "chart-age", "chart-mttr"] {
        let chart = svg(&dom, id);
        let shapes: Vec<&str> = ["rect", "polyline", "circle"]
            .iter()
            .flat_map(|name| tags(chart, name))
            .filter(|tag| attribute(tag, "class") == Some("datum"))
            .collect();
        assert!(
            shapes.iter().any(|tag| has_extent(tag)),
            "#{id} has no data shape with an extent: {chart}"
        );
        assert!(chart.contains("<title>"), "#{id} has tooltips");
    }
    assert!(!dom.contains("<script>"), "the hostile title was escaped");
    assert!(dom.contains("&lt;script&gt;"));
    let _ = std::fs::remove_dir_all(&dir);
}
