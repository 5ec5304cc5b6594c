//! The Snyk parser against the real reports in `shared/samples/snyk/` (Snyk Open Source, its
//! `--all-projects` array, Snyk Container with application vulnerabilities) and against broken
//! input. Expected values are computed independently from the same bytes with `serde_json`.

mod support;

use std::collections::HashSet;

use muster_core::fingerprint;
use muster_core::formats::{Format, ParseError};
use muster_core::{AssetKey, Detection, FindingKind, Report, Scan, Severity};
use serde_json::Value;
use support::{detections, line_at, package};

fn parse(bytes: &[u8]) -> Result<Report, ParseError> {
    support::parse_as(Format::Snyk, bytes)
}

fn sample(name: &str) -> Option<(Vec<u8>, Value)> {
    support::sample_json("snyk", name)
}

/// The top-level projects: the array's elements, or the one object.
fn projects(json: &Value) -> Vec<&Value> {
    match json {
        Value::Array(items) => items.iter().collect(),
        other => vec![other],
    }
}

fn list(value: &Value) -> &[Value] {
    value.as_array().map_or(&[], Vec::as_slice)
}

/// Every vulnerability entry in report order, with whether it is an application's (found by
/// Snyk Container inside the image) and its project's manifest.
fn entries(json: &Value) -> Vec<(&Value, bool)> {
    let mut all = Vec::new();
    for project in projects(json) {
        all.extend(list(&project["vulnerabilities"]).iter().map(|v| (v, false)));
        for app in list(&project["applications"]) {
            all.extend(list(&app["vulnerabilities"]).iter().map(|v| (v, true)));
        }
    }
    all
}

/// The first CVE among the Snyk id and its CVE and GHSA identifiers, else the Snyk id.
fn canonical_id(entry: &Value) -> String {
    let id = entry["id"].as_str().unwrap();
    std::iter::once(id)
        .chain(list(&entry["identifiers"]["CVE"]).iter().filter_map(Value::as_str))
        .chain(list(&entry["identifiers"]["GHSA"]).iter().filter_map(Value::as_str))
        .find(|i| i.to_ascii_uppercase().starts_with("CVE-"))
        .unwrap_or(id)
        .to_owned()
}

fn path_line(entry: &Value) -> String {
    let steps: Vec<&str> = list(&entry["from"]).iter().map(|s| s.as_str().unwrap()).collect();
    format!("path: {}", steps.join(" > "))
}

fn scan_of<'r>(report: &'r Report, detection: &Detection) -> &'r Scan {
    report
        .scans
        .iter()
        .find(|s| s.detections.iter().any(|d| std::ptr::eq(d, detection)))
        .unwrap()
}

#[test]
fn every_snyk_sample_yields_one_detection_per_vulnerability_entry() {
    let Some(samples) = support::sample_files("snyk") else {
        return;
    };
    assert_eq!(samples.len(), 6, "the task names six Snyk samples");
    for (name, bytes) in &samples {
        // GIVEN the entry count as a plain JSON reader sees it (projects and their applications)
        let json: Value = serde_json::from_slice(bytes).expect("sample is JSON");
        let expected = entries(&json);

        // WHEN muster parses the report
        let report = parse(bytes).unwrap_or_else(|e| panic!("{name}: {e}"));

        // THEN each entry is one detection, in order, with Snyk's facts
        assert_eq!(report.format, Format::Snyk);
        assert_eq!(report.detection_count(), expected.len(), "{name}: detections");
        for (index, ((entry, app), detection)) in expected.iter().zip(detections(&report)).enumerate() {
            let at = format!("{name}: entry {index}");
            let scan = scan_of(&report, detection);
            assert!(scan.complete, "{at}");
            let package_name = entry["packageName"].as_str().unwrap();
            assert_eq!(
                detection.fingerprint,
                fingerprint::dependency(&canonical_id(entry), package_name, &scan.asset),
                "{at}: fingerprint"
            );
            assert_eq!(detection.vuln_ids[0], entry["id"].as_str().unwrap(), "{at}");
            assert_eq!(
                detection.severity,
                Severity::parse(entry["severity"].as_str().unwrap()).unwrap(),
                "{at}: severity"
            );
            let location = package(detection);
            assert_eq!(location.name, package_name, "{at}");
            assert_eq!(location.version.as_deref(), entry["version"].as_str(), "{at}");
            let fixed = entry["fixedIn"][0].as_str().or(entry["nearestFixedInVersion"].as_str());
            assert_eq!(location.fixed_version.as_deref(), fixed, "{at}: fixed version");
            assert_eq!(
                detection.fix,
                fixed.map(|f| format!("Upgrade {package_name} to {f}")),
                "{at}"
            );
            assert!(
                detection.evidence.contains(&path_line(entry)),
                "{at}: {:?}",
                detection.evidence
            );
            assert_eq!(
                detection.help_uri.as_deref().map(str::to_owned),
                Some(format!(
                    "https://security.snyk.io/vuln/{}",
                    entry["id"].as_str().unwrap()
                )),
                "{at}"
            );
            let container = scan.tool.name == "Snyk Container";
            let kind = if container && !app {
                FindingKind::Container
            } else {
                FindingKind::Dependency
            };
            assert_eq!(detection.kind, kind, "{at}: kind");
            match entry["cvssScore"].as_f64() {
                Some(score) => assert!(
                    detection
                        .cvss
                        .iter()
                        .any(|c| c.source.as_deref() == Some("snyk") && c.score == score as f32),
                    "{at}: {:?}",
                    detection.cvss
                ),
                None => assert!(detection.cvss.is_empty(), "{at}"),
            }
        }
    }
}

#[test]
fn each_project_is_a_scan_of_its_own_asset() {
    let Some((bytes, json)) = sample("snyk_all-projects_many_vulns.json") else {
        return;
    };
    let report = parse(&bytes).unwrap();
    let names: Vec<&str> = projects(&json)
        .iter()
        .map(|p| p["projectName"].as_str().unwrap())
        .collect();
    let assets: Vec<&str> = report.scans.iter().map(|s| s.asset.as_str()).collect();
    assert_eq!(assets, names);
    assert_eq!(
        names,
        ["com.test:version-collision", "com.test:project-a", "com.test:project-b"]
    );
    for (scan, project) in report.scans.iter().zip(projects(&json)) {
        assert_eq!(scan.tool.name, "Snyk Open Source");
        assert_eq!(scan.detections.len(), list(&project["vulnerabilities"]).len());
        for detection in &scan.detections {
            assert_eq!(
                package(detection).path.as_deref(),
                project["displayTargetFile"].as_str()
            );
        }
    }
    // One CVE in one library of two projects: two findings, one per project.
    let guava: HashSet<_> = detections(&report)
        .iter()
        .filter(|d| d.vuln_ids.contains(&"CVE-2020-8908".to_owned()))
        .map(|d| d.fingerprint)
        .collect();
    assert_eq!(guava.len(), 3);
}

#[test]
fn snyk_ids_are_fingerprinted_under_their_cve_so_other_scanners_agree() {
    let Some((bytes, _)) = sample("snyk_single_project_one_vuln.json") else {
        return;
    };
    let report = parse(&bytes).unwrap();
    let scan = &report.scans[0];
    assert_eq!(scan.asset.as_str(), "com.test:myframework");
    let detection = &scan.detections[0];
    assert_eq!(
        detection.vuln_ids,
        ["SNYK-JAVA-ORGAPACHESANTUARIO-460281", "CVE-2019-12400"]
    );
    assert_eq!(
        detection.fingerprint,
        fingerprint::dependency("CVE-2019-12400", "org.apache.santuario:xmlsec", &scan.asset)
    );
    assert_eq!(
        detection.title,
        "XML External Entity (XXE) Injection in org.apache.santuario:xmlsec 2.1.1"
    );
    assert_eq!(package(detection).fixed_version.as_deref(), Some("2.1.4"));
    assert_eq!(
        detection.fix.as_deref(),
        Some("Upgrade org.apache.santuario:xmlsec to 2.1.4")
    );
    assert_eq!(
        detection.evidence,
        [
            "path: com.test:myframework@1.0.0-SNAPSHOT > org.apache.santuario:xmlsec@2.1.1",
            "upgrade: org.apache.santuario:xmlsec@2.1.4"
        ]
    );
    let cvss = &detection.cvss[0];
    assert_eq!(cvss.score, 6.5);
    assert_eq!(cvss.version.as_deref(), Some("3.1"));
}

#[test]
fn many_vulns_sample_collapses_exactly_the_repeated_vulnerabilities() {
    let Some((bytes, json)) = sample("snyk_single_project_many_vulns.json") else {
        return;
    };
    // GIVEN the distinct (canonical id, package) pairs, counted here
    let all = entries(&json);
    let distinct: HashSet<(String, &str)> = all
        .iter()
        .map(|(e, _)| (canonical_id(e), e["packageName"].as_str().unwrap()))
        .collect();

    // WHEN the report is parsed
    let report = parse(&bytes).unwrap();
    let fingerprints: HashSet<_> = detections(&report).iter().map(|d| d.fingerprint).collect();

    // THEN one detection per entry, one fingerprint per pair. (This sample lists each of its
    // 41 vulnerabilities once; the repeated-path collapse is checked on a report written below.)
    assert_eq!(all.len(), 41);
    assert_eq!(report.detection_count(), all.len());
    assert_eq!(fingerprints.len(), distinct.len());
    // Paths with an upgrade name it; jcommander sits below testng.
    let jcommander = detections(&report)
        .into_iter()
        .find(|d| package(d).name == "com.beust:jcommander")
        .unwrap();
    assert_eq!(
        jcommander.evidence,
        [
            "path: com.test:myframework@1.0.0-SNAPSHOT > org.testng:testng@6.13.1 > com.beust:jcommander@1.72",
            "upgrade: org.testng:testng@7.3.0"
        ]
    );
    assert_eq!(
        jcommander.vuln_ids,
        ["SNYK-JAVA-COMBEUST-174815"],
        "no CVE: the Snyk id is canonical"
    );
}

#[test]
fn container_sample_reads_the_image_its_os_packages_and_its_applications() {
    let Some((bytes, json)) = sample("snyk_snykcontainer_issue_epss.json") else {
        return;
    };
    let report = parse(&bytes).unwrap();

    // One scan: the image, holding the OS package and the 12 npm application vulnerabilities.
    assert_eq!(report.scans.len(), 1);
    let scan = &report.scans[0];
    assert_eq!(scan.tool.name, "Snyk Container");
    assert_eq!(scan.asset, AssetKey::parse("sarim04/juiceshop:latest").unwrap());
    assert_eq!(
        scan.asset,
        AssetKey::parse(json["applications"][0]["path"].as_str().unwrap()).unwrap()
    );
    assert_eq!(scan.detections.len(), 1 + 12);

    let gcc = &scan.detections[0];
    assert_eq!(gcc.kind, FindingKind::Container);
    assert_eq!(gcc.severity, Severity::Low);
    assert_eq!(
        gcc.fingerprint,
        fingerprint::dependency("CVE-2023-4039", "gcc-10", &scan.asset)
    );
    // EPSS comes as strings in Snyk reports.
    let epss = gcc.epss.unwrap();
    assert_eq!((epss.probability, epss.percentile), (0.00046, 0.14414));
    let ratings: Vec<(f32, Option<&str>)> = gcc.cvss.iter().map(|c| (c.score, c.source.as_deref())).collect();
    assert_eq!(
        ratings,
        [
            (8.1, Some("SUSE")),
            (4.8, Some("NVD")),
            (4.8, Some("Red Hat")),
            (4.8, Some("snyk"))
        ]
    );
    assert_eq!(package(gcc).fixed_version, None);
    assert_eq!(gcc.fix, None);

    for (entry, detection) in list(&json["applications"][0]["vulnerabilities"])
        .iter()
        .zip(&scan.detections[1..])
    {
        assert_eq!(detection.kind, FindingKind::Dependency, "npm packages in an image");
        assert_eq!(package(detection).path.as_deref(), Some("/juice-shop/package.json"));
        let expected = &entry["epssDetails"];
        if expected.is_null() {
            assert_eq!(detection.epss, None, "two entries have epssDetails: null");
            continue;
        }
        let epss = detection.epss.expect("epssDetails given");
        let value = |key: &str| expected[key].as_str().unwrap().parse::<f32>().unwrap();
        assert_eq!(
            (epss.probability, epss.percentile),
            (value("probability"), value("percentile"))
        );
    }
}

#[test]
fn null_cvss_fields_leave_the_rating_empty() {
    let Some((bytes, _)) = sample("snyk_single_project_None_cvss.json") else {
        return;
    };
    let report = parse(&bytes).unwrap();
    let scan = &report.scans[0];
    assert_eq!(scan.tool.name, "Snyk Container");
    assert_eq!(
        scan.asset.as_str(),
        "docker-archive:a_container-engine-tls:8.2.0-28.tar"
    );
    let detection = &scan.detections[0];
    assert!(detection.cvss.is_empty() && detection.epss.is_none());
    assert_eq!(detection.severity, Severity::Low);
    assert_eq!(detection.kind, FindingKind::Container);
    assert_eq!(detection.title, "SUSE-SU-2022:0141-1 in permissions 20181225-23.6.1");
    // fixedIn is null; the SUSE advisory names the fix as nearestFixedInVersion.
    assert_eq!(package(detection).fixed_version.as_deref(), Some("20181225-23.12.1"));
}

#[test]
fn project_without_vulnerabilities_is_a_clean_complete_scan() {
    let Some((bytes, _)) = sample("snyk_single_project_no_vulns.json") else {
        return;
    };
    let report = parse(&bytes).unwrap();
    assert_eq!(report.scans.len(), 1);
    assert_eq!(report.scans[0].asset.as_str(), "com.test:maven-profiles");
    assert!(report.scans[0].complete && report.scans[0].detections.is_empty());
}

#[test]
fn parsing_twice_gives_equal_scans() {
    let Some(samples) = support::sample_files("snyk") else {
        return;
    };
    for (name, bytes) in &samples {
        assert_eq!(
            parse(bytes).unwrap().scans,
            parse(&bytes.clone()).unwrap().scans,
            "{name}"
        );
    }
}

#[test]
fn detect_recognizes_every_snyk_sample() {
    assert_eq!(Format::detect(REPEATED.as_bytes()).unwrap(), Format::Snyk);
    let Some(samples) = support::sample_files("snyk") else {
        return;
    };
    for (name, bytes) in &samples {
        assert_eq!(Format::detect(bytes).ok(), Some(Format::Snyk), "{name}");
        let auto = muster_core::parse_report(bytes, None, &support::ctx()).unwrap();
        assert_eq!(auto.format, Format::Snyk, "{name}");
    }
}

// ---- small reports written here -------------------------------------------------------------

/// One vulnerability Snyk lists once per dependency path (three paths), plus another one.
const REPEATED: &str = r#"{
  "vulnerabilities": [
    { "id": "SNYK-JS-MINIMIST-559764", "title": "Prototype Pollution", "severity": "medium",
      "identifiers": { "CVE": ["CVE-2020-7598"], "GHSA": ["GHSA-vh95-rmgr-6w4m"], "CWE": ["CWE-400"] },
      "packageName": "minimist", "version": "0.0.8", "fixedIn": ["0.2.1", "1.2.3"],
      "from": ["shop@1.0.0", "mkdirp@0.5.1", "minimist@0.0.8"], "upgradePath": [false, "mkdirp@0.5.2", "minimist@0.2.1"], "isUpgradable": true },
    { "id": "SNYK-JS-MINIMIST-559764", "title": "Prototype Pollution", "severity": "medium",
      "identifiers": { "CVE": ["CVE-2020-7598"], "GHSA": ["GHSA-vh95-rmgr-6w4m"], "CWE": ["CWE-400"] },
      "packageName": "minimist", "version": "0.0.8", "fixedIn": ["0.2.1", "1.2.3"],
      "from": ["shop@1.0.0", "optimist@0.6.1", "minimist@0.0.8"], "upgradePath": [], "isUpgradable": false },
    { "id": "SNYK-JS-LODASH-567746", "title": "Prototype Pollution", "severity": "high", "cvssScore": 7.3,
      "identifiers": { "CVE": [], "GHSA": ["GHSA-p6mc-m468-83gw"] },
      "packageName": "lodash", "version": "4.17.15", "fixedIn": ["4.17.16"], "from": ["shop@1.0.0", "lodash@4.17.15"] },
    { "id": "SNYK-JS-MINIMIST-559764", "title": "Prototype Pollution", "severity": "medium",
      "identifiers": { "CVE": ["CVE-2020-7598"], "GHSA": ["GHSA-vh95-rmgr-6w4m"], "CWE": ["CWE-400"] },
      "packageName": "minimist", "version": "0.0.8", "fixedIn": ["0.2.1", "1.2.3"],
      "from": ["shop@1.0.0", "rc@1.2.8", "minimist@0.0.8"], "upgradePath": [], "isUpgradable": false }
  ],
  "ok": false,
  "packageManager": "npm",
  "projectName": "shop",
  "displayTargetFile": "package-lock.json",
  "path": "/home/ci/shop"
}
"#;

fn syntax(error: &ParseError) -> (usize, usize, Option<String>) {
    support::syntax_error(error, "snyk")
}

fn schema_message(error: ParseError) -> String {
    support::schema_message(error, "snyk")
}

#[test]
fn one_vulnerability_on_three_paths_is_one_finding_listing_every_path() {
    // WHEN the report repeating minimist's vulnerability on three paths is parsed
    let report = parse(REPEATED.as_bytes()).unwrap();
    let scan = &report.scans[0];

    // THEN each entry counts as received, and the three share one fingerprint...
    assert_eq!(scan.detections.len(), 4);
    let fingerprints: HashSet<_> = scan.detections.iter().map(|d| d.fingerprint).collect();
    assert_eq!(fingerprints.len(), 2, "distinct fingerprints < entries");
    let minimist: Vec<&Detection> = scan
        .detections
        .iter()
        .filter(|d| package(d).name == "minimist")
        .collect();
    assert_eq!(minimist.len(), 3);
    assert_eq!(
        minimist[0].fingerprint,
        fingerprint::dependency("CVE-2020-7598", "minimist", &scan.asset)
    );
    // ...each carrying all three paths, so whichever the ingest keeps lists them all.
    let paths = [
        "path: shop@1.0.0 > mkdirp@0.5.1 > minimist@0.0.8",
        "path: shop@1.0.0 > optimist@0.6.1 > minimist@0.0.8",
        "path: shop@1.0.0 > rc@1.2.8 > minimist@0.0.8",
    ];
    for detection in &minimist {
        assert_eq!(detection.fingerprint, minimist[0].fingerprint);
        assert_eq!(detection.evidence[..3], paths, "{:?}", detection.evidence);
        assert_eq!(detection.evidence[3], "upgrade: mkdirp@0.5.2");
        assert_eq!(
            detection.vuln_ids,
            ["SNYK-JS-MINIMIST-559764", "CVE-2020-7598", "GHSA-vh95-rmgr-6w4m"]
        );
        assert_eq!(
            detection.content_hash(),
            minimist[0].content_hash(),
            "the kept one does not matter"
        );
    }
    // The lodash entry is apart and keeps only its own path.
    let lodash = &scan.detections[2];
    assert_eq!(lodash.evidence, ["path: shop@1.0.0 > lodash@4.17.15"]);
    assert_eq!(lodash.vuln_ids, ["SNYK-JS-LODASH-567746", "GHSA-p6mc-m468-83gw"]);
    assert_eq!(
        lodash.fingerprint,
        fingerprint::dependency("SNYK-JS-LODASH-567746", "lodash", &scan.asset)
    );
    assert_eq!(scan.asset.as_str(), "shop");
    assert_eq!(package(lodash).path.as_deref(), Some("package-lock.json"));
}

#[test]
fn severity_word_then_cvss_then_info() {
    let odd = REPEATED.replace(r#""severity": "high""#, r#""severity": "severe""#);
    let report = parse(odd.as_bytes()).unwrap();
    assert_eq!(report.scans[0].detections[2].severity, Severity::High, "cvssScore 7.3");
    let none = REPEATED.replace(r#""severity": "high", "cvssScore": 7.3,"#, "");
    assert_eq!(
        parse(none.as_bytes()).unwrap().scans[0].detections[2].severity,
        Severity::Info
    );
}

#[test]
fn all_projects_array_with_a_byte_order_mark_parses() {
    let mut text = b"\xEF\xBB\xBF[".to_vec();
    text.extend_from_slice(REPEATED.as_bytes());
    text.extend_from_slice(b",");
    text.extend_from_slice(REPEATED.replace("\"shop\"", "\"admin\"").as_bytes());
    text.extend_from_slice(b"]");
    let report = parse(&text).unwrap();
    let assets: Vec<&str> = report.scans.iter().map(|s| s.asset.as_str()).collect();
    assert_eq!(assets, ["shop", "admin"]);
    assert_eq!(report.detection_count(), 8);
}

#[test]
fn project_snyk_could_not_test_fails_the_report() {
    // GIVEN --all-projects output where the second project failed
    let text = format!(r#"[{REPEATED}, {{"ok": false, "error": "Failed to resolve dependencies", "path": "api"}}]"#);

    // WHEN it is parsed
    let message = schema_message(parse(text.as_bytes()).unwrap_err());

    // THEN nothing of it is used (reading the failure as clean would resolve every finding)
    assert!(message.starts_with("[1]: "), "{message}");
    assert!(message.contains("Failed to resolve dependencies"), "{message}");
    let message = schema_message(parse(br#"{"ok": true, "projectName": "x"}"#).unwrap_err());
    assert!(message.contains("vulnerabilities is missing"), "{message}");
}

#[test]
fn truncated_report_is_a_syntax_error_at_its_end() {
    let cut = REPEATED.find("\"lodash\"").unwrap() + 3;
    let truncated = &REPEATED[..cut];
    let error = parse(truncated.as_bytes()).unwrap_err();
    assert_eq!(error.code(), "malformed_report");
    let (offset, line, _) = syntax(&error);
    assert!(offset <= truncated.len(), "{error}");
    assert_eq!(line, line_at(truncated, truncated.len()), "{error}");
}

#[test]
fn every_truncation_of_a_real_sample_is_refused_without_panic() {
    let Some((bytes, _)) = sample("snyk_single_project_one_vuln.json") else {
        return;
    };
    let end = bytes.iter().rposition(|b| *b == b'}').unwrap();
    for cut in (1..end).step_by(7) {
        let error = parse(&bytes[..cut]).unwrap_err();
        assert!(
            matches!(error, ParseError::Syntax { .. } | ParseError::Empty),
            "cut at {cut}: {error:?}"
        );
    }
}

#[test]
fn wrong_type_inside_an_entry_names_the_entry_and_its_line() {
    // GIVEN the lodash entry's dependency path as a string
    let broken = REPEATED.replace(
        r#""from": ["shop@1.0.0", "lodash@4.17.15"]"#,
        r#""from": "shop > lodash""#,
    );
    let expected_line = line_at(&broken, broken.find(r#""from": "shop"#).unwrap());

    let error = parse(broken.as_bytes()).unwrap_err();
    let (offset, line, item) = syntax(&error);

    assert_eq!(item.as_deref(), Some("vulnerabilities[2]"), "{error}");
    assert_eq!(line, expected_line, "{error}");
    assert_eq!(line_at(&broken, offset), line);

    // In an --all-projects array the project index leads the path.
    let array = format!("[{REPEATED}, {broken}]");
    let (_, _, item) = syntax(&parse(array.as_bytes()).unwrap_err());
    assert_eq!(item.as_deref(), Some("[1].vulnerabilities[2]"));
}

#[test]
fn wrong_project_type_is_a_syntax_error() {
    let error = parse(br#"{"vulnerabilities": [], "projectName": ["x"]}"#).unwrap_err();
    let (offset, line, item) = syntax(&error);
    assert_eq!((line, item), (1, None));
    assert!(
        offset >= r#"{"vulnerabilities": [], "projectName": "#.len() - 1,
        "{error}"
    );
}

#[test]
fn missing_id_or_package_name_is_a_schema_error_naming_the_entry() {
    let no_id = REPEATED.replace(r#""id": "SNYK-JS-LODASH-567746", "#, "");
    assert_eq!(
        schema_message(parse(no_id.as_bytes()).unwrap_err()),
        "vulnerabilities[2]: id is missing"
    );
    let no_package = REPEATED.replace(r#""packageName": "lodash", "#, "");
    assert_eq!(
        schema_message(parse(no_package.as_bytes()).unwrap_err()),
        "vulnerabilities[2]: packageName is missing"
    );
}

#[test]
fn invalid_utf8_inside_an_entry_is_a_syntax_error_at_the_bad_byte() {
    // GIVEN a byte that is not UTF-8 in a field the parser never reads (sonic-rs skips such
    // values unchecked)
    let mut bytes = REPEATED
        .replace(r#""cvssScore": 7.3,"#, r#""cvssScore": 7.3, "note": "x@y","#)
        .into_bytes();
    let at = bytes.iter().position(|b| *b == b'@').unwrap();
    bytes[at] = 0xF1;

    let error = parse(&bytes).unwrap_err();

    let (offset, _, _) = syntax(&error);
    assert_eq!(offset, at, "{error}");
    assert!(error.to_string().contains("invalid UTF-8"), "{error}");
}
