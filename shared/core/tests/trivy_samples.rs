//! The Trivy parser against the real reports in `shared/samples/trivy/` and against broken
//! input. Expected values are computed independently from the same bytes with `serde_json`.

mod support;

use std::collections::HashSet;

use muster_core::formats::common::{image_asset, package_fingerprint};
use muster_core::formats::{Format, ParseError};
use muster_core::{Detection, FindingKind, Location, Report, Reported, Severity};
use serde_json::Value;

fn parse(bytes: &[u8]) -> Result<Report, ParseError> {
    support::parse_as(Format::Trivy, bytes)
}

fn sample(name: &str) -> Option<(Report, Value)> {
    let bytes = support::sample("trivy", name)?;
    let report = parse(&bytes).unwrap_or_else(|e| panic!("{name}: {e}"));
    Some((report, serde_json::from_slice(&bytes).expect("sample is JSON")))
}

fn detections(report: &Report) -> impl Iterator<Item = &Detection> {
    report.scans.iter().flat_map(|s| &s.detections)
}

fn array(value: &Value) -> &[Value] {
    value.as_array().map_or(&[], Vec::as_slice)
}

/// Every `Results` entry of any layout: the list form, schema 2 and the Kubernetes ones.
fn results(json: &Value) -> Vec<&Value> {
    if let Some(list) = json.as_array() {
        return list.iter().collect();
    }
    let mut results: Vec<&Value> = array(&json["Results"]).iter().collect();
    for key in ["Resources", "Findings", "Vulnerabilities", "Misconfigurations"] {
        for resource in array(&json[key]) {
            results.extend(array(&resource["Results"]));
        }
    }
    results
}

/// The counting rule: (vulnerabilities, failed or excepted misconfigurations, secrets).
fn counted(json: &Value) -> (usize, usize, usize) {
    let mut counts = (0, 0, 0);
    for result in results(json) {
        counts.0 += array(&result["Vulnerabilities"]).len();
        counts.1 += array(&result["Misconfigurations"])
            .iter()
            .filter(|m| m["Status"].as_str().is_none_or(|s| s == "FAIL" || s == "EXCEPTION"))
            .count();
        counts.2 += array(&result["Secrets"]).len();
    }
    counts
}

fn count_kind(report: &Report, kinds: &[FindingKind]) -> usize {
    detections(report).filter(|d| kinds.contains(&d.kind)).count()
}

#[test]
fn every_trivy_sample_yields_one_detection_per_counted_entry() {
    let Some(files) = support::sample_files("trivy") else {
        return;
    };
    for (name, bytes) in files {
        // GIVEN a real Trivy report and the counting rule applied by serde_json
        let json: Value = serde_json::from_slice(&bytes).expect("sample is JSON");
        let (vulnerabilities, misconfigurations, secrets) = counted(&json);

        // WHEN muster parses it
        let report = parse(&bytes).unwrap_or_else(|e| panic!("{name}: {e}"));

        // THEN each vulnerability, failed misconfiguration and secret is one detection
        let total = vulnerabilities + misconfigurations + secrets;
        assert_eq!(report.detection_count(), total, "{name}");
        let packages = detections(&report)
            .filter(|d| matches!(d.location, Location::Package(_)))
            .count();
        assert_eq!(packages, vulnerabilities, "{name}: vulnerabilities");
        assert_eq!(
            count_kind(&report, &[FindingKind::Container, FindingKind::Dependency]),
            vulnerabilities,
            "{name}"
        );
        assert_eq!(count_kind(&report, &[FindingKind::Cloud]), misconfigurations, "{name}");
        assert_eq!(count_kind(&report, &[FindingKind::Secret]), secrets, "{name}");
        // AND every scan is Trivy's, complete, and every detection has a title
        assert!(!report.scans.is_empty(), "{name}: a clean report still resolves");
        for scan in &report.scans {
            assert_eq!(scan.tool.name, "Trivy", "{name}");
            assert!(scan.complete, "{name}");
        }
        assert!(detections(&report).all(|d| !d.title.trim().is_empty()), "{name}");
    }
}

#[test]
fn vulnerabilities_keep_ids_packages_fixes_and_every_cvss_rating() {
    let Some(files) = support::sample_files("trivy") else {
        return;
    };
    for (name, bytes) in files {
        // GIVEN every vulnerability entry of a sample, read by serde_json
        let json: Value = serde_json::from_slice(&bytes).unwrap();
        let report = parse(&bytes).unwrap();
        let expected: Vec<&Value> = results(&json)
            .into_iter()
            .flat_map(|r| array(&r["Vulnerabilities"]))
            .collect();
        let actual: Vec<&Detection> = detections(&report)
            .filter(|d| matches!(d.location, Location::Package(_)))
            .collect();
        assert_eq!(actual.len(), expected.len(), "{name}");

        // THEN the detections carry them in report order
        for (detection, entry) in actual.iter().zip(expected) {
            let Location::Package(package) = &detection.location else {
                unreachable!()
            };
            assert_eq!(Some(package.name.as_str()), entry["PkgName"].as_str(), "{name}");
            assert_eq!(package.version.as_deref(), entry["InstalledVersion"].as_str(), "{name}");
            assert_eq!(
                package.fixed_version.as_deref(),
                entry["FixedVersion"].as_str(),
                "{name}"
            );
            if let Some(id) = entry["VulnerabilityID"].as_str() {
                assert_eq!(detection.vuln_ids.first().map(String::as_str), Some(id), "{name}");
                assert_eq!(detection.rule_id.as_deref(), Some(id), "{name}");
            }
            // Text is kept as written, without surrounding whitespace.
            let trimmed = |key: &str| entry[key].as_str().map(str::trim);
            if let Some(title) = trimmed("Title") {
                assert_eq!(detection.title, title, "{name}");
            }
            assert_eq!(detection.description.as_deref(), trimmed("Description"), "{name}");
            assert_eq!(detection.help_uri.as_deref(), trimmed("PrimaryURL"), "{name}");
            match entry["Severity"].as_str() {
                Some("UNKNOWN") => assert_eq!(detection.severity, Severity::Info, "{name}"),
                Some(severity) => assert_eq!(detection.severity, Severity::parse(severity).unwrap(), "{name}"),
                None => {}
            }
            // Every (source, vector, score) the report rates, no more.
            // (serde_json's map iterates sources in name order, as Go writes them.)
            let mut ratings = Vec::new();
            for (source, cvss) in entry["CVSS"].as_object().into_iter().flatten() {
                for version in ["V2", "V3", "V40"] {
                    if let Some(score) = cvss[format!("{version}Score")].as_f64() {
                        let vector = cvss[format!("{version}Vector")].as_str().map(str::to_owned);
                        ratings.push((source.clone(), vector, score as f32));
                    }
                }
            }
            let got: Vec<_> = detection
                .cvss
                .iter()
                .map(|c| (c.source.clone().unwrap_or_default(), c.vector.clone(), c.score))
                .collect();
            assert_eq!(got, ratings, "{name}: {}", detection.title);
        }
    }
}

#[test]
fn alpine_image_is_named_by_its_artifact_and_keeps_cvss_by_source() {
    let Some((report, _)) = sample("trivy_alpine-310.json") else {
        return;
    };

    // THEN the image read from a tarball keeps the tarball's name, as in Trivy's own ASFF
    // output of the same scan, and Trivy's version is kept
    assert_eq!(report.scans.len(), 1);
    let scan = &report.scans[0];
    assert_eq!(scan.asset.as_str(), "testdata/fixtures/images/alpine-310.tar.gz");
    assert_eq!(scan.tool.version.as_deref(), Some("dev"));

    // AND CVE-2019-1549 in libcrypto1.1 is a container finding with NVD v2/v3 and Red Hat v3
    let detection = scan
        .detections
        .iter()
        .find(|d| d.vuln_ids[0] == "CVE-2019-1549" && d.title.starts_with("openssl"))
        .expect("CVE-2019-1549");
    assert_eq!(detection.kind, FindingKind::Container);
    assert_eq!(detection.severity, Severity::Medium);
    let ratings: Vec<_> = detection
        .cvss
        .iter()
        .map(|c| {
            (
                c.source.as_deref().unwrap(),
                c.version.as_deref().unwrap(),
                c.score,
                c.vector.as_deref().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        ratings,
        [
            ("nvd", "2.0", 5.0, "AV:N/AC:L/Au:N/C:P/I:N/A:N"),
            ("nvd", "3.1", 5.3, "CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:L/I:N/A:N"),
            ("redhat", "3.0", 4.8, "CVSS:3.0/AV:N/AC:H/PR:N/UI:N/S:U/C:L/I:L/A:N"),
        ]
    );
    let Location::Package(package) = &detection.location else {
        panic!("package location")
    };
    assert_eq!(package.fixed_version.as_deref(), Some("1.1.1d-r0"));
    assert_eq!(
        package.path.as_deref(),
        Some("testdata/fixtures/images/alpine-310.tar.gz (alpine 3.10.2)")
    );
    assert_eq!(
        detection.fix.as_deref(),
        Some(format!("Upgrade {} to 1.1.1d-r0", package.name).as_str())
    );
    assert_eq!(
        detection.fingerprint,
        package_fingerprint("CVE-2019-1549", [], &package.name, &scan.asset)
    );
}

#[test]
fn image_findings_share_fingerprints_with_other_scanners_of_the_same_image() {
    let Some((report, _)) = sample("trivy_scheme_2_many_vulns.json") else {
        return;
    };

    // GIVEN the image as Grype would name it
    let grype_asset = image_asset("docker.io/library/teamdojo:latest").unwrap();

    // THEN Trivy's scan is that asset and each fingerprint is the shared package recipe
    assert_eq!(report.scans[0].asset, grype_asset);
    for detection in detections(&report) {
        let Location::Package(package) = &detection.location else {
            panic!("package location")
        };
        let (id, aliases) = detection.vuln_ids.split_first().unwrap();
        let expected = package_fingerprint(id, aliases.iter().map(String::as_str), &package.name, &grype_asset);
        assert_eq!(detection.fingerprint, expected, "{}", detection.title);
    }
    // AND OS packages are container findings, jar contents dependencies
    let kinds: HashSet<_> = detections(&report).map(|d| d.kind).collect();
    assert_eq!(kinds, HashSet::from([FindingKind::Container, FindingKind::Dependency]));
}

#[test]
fn registry_image_keeps_its_full_reference() {
    let Some((report, json)) = sample("trivy_unext-trivy-dashboard_trivy-results.json") else {
        return;
    };
    assert_eq!(report.scans.len(), 1);
    assert_eq!(Some(report.scans[0].asset.as_str()), json["ArtifactName"].as_str());
    let node = detections(&report)
        .filter(|d| d.kind == FindingKind::Dependency)
        .count();
    assert_eq!(node, array(&json["Results"][1]["Vulnerabilities"]).len());
}

#[test]
fn secrets_and_misconfigurations_are_located_and_fingerprinted_apart() {
    let Some((report, _)) = sample("trivy_misconfigurations_and_secrets.json") else {
        return;
    };

    // THEN the filesystem scan of `.` falls back to the default asset
    assert_eq!(report.scans.len(), 1);
    assert_eq!(report.scans[0].asset, support::ctx().default_asset);

    // AND the Dockerfile check is a cloud finding with Trivy's resolution as the fix
    let misconfig: Vec<&Detection> = detections(&report).filter(|d| d.kind == FindingKind::Cloud).collect();
    assert_eq!(misconfig.len(), 1);
    let ds002 = misconfig[0];
    assert_eq!(ds002.rule_id.as_deref(), Some("DS002"));
    assert_eq!(ds002.title, "Image user should not be 'root'");
    assert_eq!(ds002.severity, Severity::High);
    assert_eq!(
        ds002.location,
        Location::Source {
            path: "Dockerfile".into(),
            line: None
        }
    );
    assert_eq!(
        ds002.fix.as_deref(),
        Some("Add 'USER <non root user name>' line to the Dockerfile")
    );
    assert_eq!(
        ds002.help_uri.as_deref(),
        Some("https://avd.aquasec.com/misconfig/ds002")
    );
    assert!(ds002.evidence[0].starts_with("Specify at least 1 USER command"));

    // AND both GitHub tokens are critical secrets at their lines, with the redacted match
    let secrets: Vec<&Detection> = detections(&report).filter(|d| d.kind == FindingKind::Secret).collect();
    let places: Vec<String> = secrets.iter().map(|d| d.location.to_string()).collect();
    assert_eq!(places, ["Dockerfile:24", "secret.txt:1"]);
    for secret in &secrets {
        assert_eq!(secret.rule_id.as_deref(), Some("github-pat"));
        assert_eq!(secret.title, "GitHub Personal Access Token");
        assert_eq!(secret.severity, Severity::Critical);
        assert!(secret.evidence[0].ends_with("GITHUB_PAT=*****"));
        assert_eq!(secret.reported, Reported::Open);
    }
    let fingerprints: HashSet<_> = detections(&report).map(|d| d.fingerprint).collect();
    assert_eq!(fingerprints.len(), report.detection_count());
}

#[test]
fn helm_checks_are_cloud_findings_with_lines_and_distinct_fingerprints() {
    let Some((report, json)) = sample("trivy_helm.json") else {
        return;
    };
    let entries = array(&json["Results"][0]["Misconfigurations"]);
    let target = json["Results"][0]["Target"].as_str().unwrap();
    let found: Vec<&Detection> = detections(&report).collect();
    assert_eq!(found.len(), entries.len());
    for (detection, entry) in found.iter().zip(entries) {
        assert_eq!(detection.kind, FindingKind::Cloud);
        assert_eq!(detection.rule_id.as_deref(), entry["ID"].as_str());
        let line = entry["CauseMetadata"]["StartLine"].as_u64().map(|l| l as u32);
        assert_eq!(
            detection.location,
            Location::Source {
                path: target.into(),
                line
            }
        );
    }
    let fingerprints: HashSet<_> = found.iter().map(|d| d.fingerprint).collect();
    assert_eq!(fingerprints.len(), found.len());
}

#[test]
fn list_form_names_the_image_by_its_os_target() {
    let Some((report, _)) = sample("trivy_legacy_trivy_mix.json") else {
        return;
    };

    // THEN one scan of the image "trivy-ci-test (alpine 3.7.1)" holds every result
    assert_eq!(report.scans.len(), 1);
    let scan = &report.scans[0];
    assert_eq!(scan.asset.as_str(), "trivy-ci-test");
    assert_eq!(scan.tool.version, None);
    let kinds: Vec<(FindingKind, &str)> = scan
        .detections
        .iter()
        .map(|d| match &d.location {
            Location::Package(p) => (d.kind, p.name.as_str()),
            other => panic!("{other:?}"),
        })
        .collect();
    assert_eq!(
        kinds,
        [
            (FindingKind::Dependency, "simplito/elliptic-php"),
            (FindingKind::Dependency, "lodash"),
            (FindingKind::Container, "curl"),
            (FindingKind::Container, "curl"),
            (FindingKind::Container, "curl"),
            (FindingKind::Container, "git"),
            (FindingKind::Container, "git"),
        ]
    );
    // AND the advisory Trivy listed without an id is kept, named by its package
    let unnamed = &scan.detections[0];
    assert!(unnamed.vuln_ids.is_empty() && unnamed.rule_id.is_none());
    assert_eq!(unnamed.title, "Unidentified vulnerability in simplito/elliptic-php");
    assert_eq!(
        scan.detections[2].title,
        "curl: Use-after-free when closing \"easy\" handle in Curl_close()"
    );
}

#[test]
fn license_only_report_gives_a_clean_scan() {
    let Some((report, _)) = sample("trivy_license_scheme.json") else {
        return;
    };
    assert_eq!(report.scans.len(), 1);
    assert_eq!(report.scans[0].asset.as_str(), "alpine:3.11");
    assert_eq!(report.detection_count(), 0);
}

#[test]
fn fingerprints_are_stable_across_parses_and_a_byte_order_mark() {
    let Some(files) = support::sample_files("trivy") else {
        return;
    };
    for (name, bytes) in files {
        let first = parse(&bytes).unwrap();
        let mut with_bom = b"\xEF\xBB\xBF".to_vec();
        with_bom.extend_from_slice(&bytes);
        let second = parse(&with_bom).unwrap_or_else(|e| panic!("{name} with BOM: {e}"));
        let prints = |r: &Report| detections(r).map(|d| d.fingerprint).collect::<Vec<_>>();
        assert_eq!(prints(&first), prints(&second), "{name}");
    }
}

/// `value` as JSON text with every object's keys sorted, or reverse-sorted.
fn with_key_order(value: &Value, reverse: bool) -> String {
    match value {
        Value::Object(map) => {
            let mut keys: Vec<&String> = map.keys().collect();
            keys.sort();
            if reverse {
                keys.reverse();
            }
            let fields: Vec<String> = keys
                .into_iter()
                .map(|k| format!("{}:{}", Value::from(k.as_str()), with_key_order(&map[k], reverse)))
                .collect();
            format!("{{{}}}", fields.join(","))
        }
        Value::Array(items) => {
            let items: Vec<String> = items.iter().map(|v| with_key_order(v, reverse)).collect();
            format!("[{}]", items.join(","))
        }
        other => other.to_string(),
    }
}

#[test]
fn key_order_does_not_change_what_a_report_says() {
    let Some(files) = support::sample_files("trivy") else {
        return;
    };
    for (name, bytes) in files {
        // GIVEN a report as Trivy wrote it, and with keys reordered so that `Results` and
        // `Vulnerabilities` come before (reverse-sorted) or after (sorted) what names them
        let json: Value = serde_json::from_slice(&bytes).unwrap();
        let original = parse(&bytes).unwrap();
        for reverse in [false, true] {
            let reordered = with_key_order(&json, reverse);

            // THEN the scans are the same
            let report = parse(reordered.as_bytes()).unwrap_or_else(|e| panic!("{name}: {e}"));
            assert_eq!(report.scans, original.scans, "{name}, reverse: {reverse}");
        }
    }
}

#[test]
fn detect_recognizes_every_trivy_sample() {
    let Some(files) = support::sample_files("trivy") else {
        return;
    };
    for (name, bytes) in files {
        assert_eq!(Format::detect(&bytes).ok(), Some(Format::Trivy), "{name}");
        let auto = muster_core::parse_report(&bytes, None, &support::ctx()).unwrap();
        assert_eq!(auto.format, Format::Trivy, "{name}");
    }
}

// ---- Broken input ---------------------------------------------------------------------------

fn syntax(error: ParseError) -> (usize, usize, usize, String) {
    match error {
        ParseError::Syntax {
            format,
            offset,
            line,
            column,
            message,
            ..
        } => {
            assert_eq!(format, "trivy");
            (offset, line, column, message)
        }
        other => panic!("expected a syntax error, got {other:?}"),
    }
}

fn schema_message(error: ParseError) -> String {
    match error {
        ParseError::Schema { format, message } => {
            assert_eq!(format, "trivy");
            message
        }
        other => panic!("expected a schema error, got {other:?}"),
    }
}

fn line_of(text: &str, needle: &str) -> usize {
    let at = text.find(needle).expect("needle in text");
    text[..at].matches('\n').count() + 1
}

#[test]
fn truncated_report_is_a_syntax_error_at_its_end() {
    let Some(bytes) = support::sample("trivy", "trivy_alpine-310.json") else {
        return;
    };
    // GIVEN the report cut in the middle of its vulnerabilities
    let cut = &bytes[..bytes.len() / 2];

    // THEN the error points into the last line there is
    let (offset, line, column, _) = syntax(parse(cut).unwrap_err());
    assert!(offset <= cut.len());
    assert_eq!(line, cut.iter().filter(|b| **b == b'\n').count() + 1);
    assert!(column >= 1);
}

#[test]
fn wrong_type_is_a_syntax_error_at_the_value() {
    let Some(bytes) = support::sample("trivy", "trivy_alpine-310.json") else {
        return;
    };
    // GIVEN a CVSS score written as a string deep inside the report
    let text = String::from_utf8(bytes).unwrap();
    let broken = text.replacen("\"V3Score\": 5.3", "\"V3Score\": \"5.3\"", 1);
    assert_ne!(broken, text);

    // THEN the error names the line of that score
    let (_, line, _, message) = syntax(parse(broken.as_bytes()).unwrap_err());
    assert_eq!(line, line_of(&broken, "\"V3Score\": \"5.3\""));
    assert!(message.contains("invalid type"), "{message}");

    // AND a results object instead of a list is refused the same way
    let (_, line, _, _) = syntax(
        parse(
            br#"{"SchemaVersion": 2,
        "Results": {"Target": "x"}}"#,
        )
        .unwrap_err(),
    );
    assert_eq!(line, 2);
}

#[test]
fn vulnerability_without_id_is_a_schema_error_naming_the_item() {
    let Some(bytes) = support::sample("trivy", "trivy_scheme_2_many_vulns.json") else {
        return;
    };
    // GIVEN the second vulnerability of the third result without its id
    let mut json: Value = serde_json::from_slice(&bytes).unwrap();
    let vulnerability = &mut json["Results"][2]["Vulnerabilities"][1];
    vulnerability.as_object_mut().unwrap().remove("VulnerabilityID");
    let broken = serde_json::to_vec_pretty(&json).unwrap();

    // THEN nothing is returned but an error naming that item
    assert_eq!(
        schema_message(parse(&broken).unwrap_err()),
        "Results[2].Vulnerabilities[1]: VulnerabilityID is missing"
    );

    // AND a blank package name is refused the same way
    let mut json: Value = serde_json::from_slice(&bytes).unwrap();
    json["Results"][0]["Vulnerabilities"][2]["PkgName"] = Value::from("  ");
    let broken = serde_json::to_vec(&json).unwrap();
    assert_eq!(
        schema_message(parse(&broken).unwrap_err()),
        "Results[0].Vulnerabilities[2]: PkgName is missing"
    );
}

#[test]
fn secret_without_rule_is_a_schema_error_naming_the_item() {
    let Some(bytes) = support::sample("trivy", "trivy_misconfigurations_and_secrets.json") else {
        return;
    };
    let mut json: Value = serde_json::from_slice(&bytes).unwrap();
    json["Results"][3]["Secrets"][0]["RuleID"] = Value::Null;
    let broken = serde_json::to_vec(&json).unwrap();
    assert_eq!(
        schema_message(parse(&broken).unwrap_err()),
        "Results[3].Secrets[0]: RuleID is missing"
    );
}

#[test]
fn json_that_is_not_a_trivy_report_is_refused() {
    assert!(matches!(parse(b"  \n"), Err(ParseError::Empty)));
    assert!(matches!(parse(br#"{"runs": []}"#), Err(ParseError::Schema { .. })));
    assert!(matches!(parse(b"42"), Err(ParseError::Syntax { .. })));
    assert!(matches!(parse(br#"[{"Target": 1}]"#), Err(ParseError::Syntax { .. })));
}

#[test]
fn any_prefix_or_corruption_of_a_sample_is_an_error_not_a_panic() {
    let Some(files) = support::sample_files("trivy") else {
        return;
    };
    for (name, bytes) in files {
        // Cuts at ~150 places (ending inside strings, numbers, keys, between values).
        let step = (bytes.len() / 150).max(1);
        for end in (0..bytes.len().saturating_sub(2)).step_by(step) {
            let cut = &bytes[..end];
            if cut.iter().all(u8::is_ascii_whitespace) {
                continue;
            }
            assert!(parse(cut).is_err(), "{name} cut at {end} parsed");
        }
        // Single bytes replaced by characters that change the structure.
        for (index, at) in (0..bytes.len()).step_by(step).enumerate() {
            let mut broken = bytes.clone();
            broken[at] = [b'"', b'{', b']', b'\\', b'\xff', b':'][index % 6];
            let _ = parse(&broken);
        }
    }
}
