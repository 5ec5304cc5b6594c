//! The Grype parser against the real reports in `shared/samples/grype/` (grype 0.7 to 0.114)
//! and against broken input. Expected values are computed independently from the same bytes
//! with `serde_json`.

mod support;

use std::collections::HashSet;

use muster_core::fingerprint;
use muster_core::formats::{Format, ParseError};
use muster_core::{AssetKey, Detection, FindingKind, Report, Severity};
use serde_json::Value;
use support::{line_at, package};

fn parse(bytes: &[u8]) -> Result<Report, ParseError> {
    support::parse_as(Format::Grype, bytes)
}

fn sample(name: &str) -> Option<(Vec<u8>, Value)> {
    support::sample_json("grype", name)
}

fn matches(json: &Value) -> &[Value] {
    json["matches"].as_array().map_or(&[], Vec::as_slice)
}

fn default_asset() -> AssetKey {
    support::ctx().default_asset
}

/// The asset as the task defines it: an image's `userInput`, else the context's asset for `.`.
fn expected_asset(json: &Value) -> AssetKey {
    let source = &json["source"];
    match source["type"].as_str() {
        Some("image") => AssetKey::parse(source["target"]["userInput"].as_str().unwrap()).unwrap(),
        _ => match source["target"].as_str().map(|t| t.trim_matches('"')) {
            Some("." | "") | None => default_asset(),
            Some(target) => AssetKey::parse(target).unwrap(),
        },
    }
}

/// The first CVE among the match's own id and its related ids, else its own id.
fn canonical_id(entry: &Value) -> String {
    let own = entry["vulnerability"]["id"].as_str().unwrap();
    std::iter::once(own)
        .chain(
            entry["relatedVulnerabilities"]
                .as_array()
                .into_iter()
                .flatten()
                .filter_map(|r| r["id"].as_str()),
        )
        .find(|id| id.to_ascii_uppercase().starts_with("CVE-"))
        .unwrap_or(own)
        .to_owned()
}

/// Grype's severity word; a missing one falls back to the newest, highest CVSS base score.
fn expected_severity(entry: &Value) -> Severity {
    match entry["vulnerability"]["severity"]
        .as_str()
        .map(str::to_ascii_lowercase)
        .as_deref()
    {
        Some("critical") => Severity::Critical,
        Some("high") => Severity::High,
        Some("medium") => Severity::Medium,
        Some("low") => Severity::Low,
        Some("negligible" | "unknown") => Severity::Info,
        _ => {
            let related = entry["relatedVulnerabilities"].as_array().into_iter().flatten();
            let best = std::iter::once(&entry["vulnerability"])
                .chain(related)
                .flat_map(|v| v["cvss"].as_array().into_iter().flatten())
                .filter_map(|c| {
                    let major = c["version"].as_str()?.split('.').next()?.parse::<u32>().ok()?;
                    Some((major, c["metrics"]["baseScore"].as_f64()?))
                })
                .max_by(|a, b| a.partial_cmp(b).unwrap());
            best.map_or(Severity::Info, |(_, score)| Severity::from_cvss(score))
        }
    }
}

#[test]
fn every_grype_sample_yields_one_detection_per_match() {
    let Some(samples) = support::sample_files("grype") else {
        return;
    };
    assert_eq!(samples.len(), 7, "the task names seven Grype samples");
    for (name, bytes) in &samples {
        // GIVEN the match count as a plain JSON reader sees it
        let json: Value = serde_json::from_slice(bytes).expect("sample is JSON");
        let entries = matches(&json);

        // WHEN muster parses the report
        let report = parse(bytes).unwrap_or_else(|e| panic!("{name}: {e}"));

        // THEN there is one complete scan of the report's asset, with one detection per match
        assert_eq!(report.format, Format::Grype);
        assert_eq!(report.detection_count(), entries.len(), "{name}: detections");
        assert_eq!(report.scans.len(), 1, "{name}: scans");
        let scan = &report.scans[0];
        assert!(scan.complete, "{name}");
        assert_eq!(scan.asset, expected_asset(&json), "{name}: asset");
        assert_eq!(scan.tool.name, json["descriptor"]["name"].as_str().unwrap(), "{name}");
        assert_eq!(
            scan.tool.version.as_deref(),
            json["descriptor"]["version"].as_str(),
            "{name}"
        );
        let image = json["source"]["type"] == "image";
        for (index, (entry, detection)) in entries.iter().zip(&scan.detections).enumerate() {
            let at = format!("{name}: matches[{index}]");
            let vulnerability = &entry["vulnerability"];
            let artifact = &entry["artifact"];
            let package_name = artifact["name"].as_str().unwrap();
            assert_eq!(
                detection.fingerprint,
                fingerprint::dependency(&canonical_id(entry), package_name, &scan.asset),
                "{at}: fingerprint"
            );
            assert_eq!(detection.vuln_ids[0], vulnerability["id"].as_str().unwrap(), "{at}");
            assert_eq!(detection.rule_id.as_deref(), vulnerability["id"].as_str(), "{at}");
            assert_eq!(detection.severity, expected_severity(entry), "{at}: severity");
            let os_package = matches!(artifact["type"].as_str(), Some("deb" | "rpm" | "apk"));
            let kind = if image && os_package {
                FindingKind::Container
            } else {
                FindingKind::Dependency
            };
            assert_eq!(detection.kind, kind, "{at}: kind");
            let location = package(detection);
            assert_eq!(location.name, package_name, "{at}");
            assert_eq!(location.version.as_deref(), artifact["version"].as_str(), "{at}");
            let fixed = vulnerability["fix"]["versions"][0].as_str();
            assert_eq!(location.fixed_version.as_deref(), fixed, "{at}: fixed version");
            assert_eq!(
                detection.fix,
                fixed.map(|f| format!("Upgrade {package_name} to {f}")),
                "{at}: fix"
            );
            assert_eq!(
                location.path.as_deref(),
                artifact["locations"][0]["path"].as_str(),
                "{at}"
            );
            assert!(!detection.kev, "{at}: no sample lists knownExploited");
            assert!(detection.title.contains(package_name), "{at}: {}", detection.title);
        }
    }
}

#[test]
fn every_location_of_a_fingerprint_is_in_the_evidence_of_each_detection() {
    let Some(samples) = support::sample_files("grype") else {
        return;
    };
    for (name, bytes) in &samples {
        let json: Value = serde_json::from_slice(bytes).unwrap();
        let report = parse(bytes).unwrap();
        let detections = &report.scans[0].detections;
        for (entry, detection) in matches(&json).iter().zip(detections) {
            // GIVEN every match that shares this detection's fingerprint
            let shared: Vec<&Value> = matches(&json)
                .iter()
                .zip(detections)
                .filter(|(_, d)| d.fingerprint == detection.fingerprint)
                .map(|(e, _)| e)
                .collect();
            assert!(shared.iter().any(|e| std::ptr::eq(*e, entry)));
            // THEN its evidence names each of their locations
            for other in shared {
                for location in other["artifact"]["locations"].as_array().unwrap() {
                    let line = format!("location: {}", location["path"].as_str().unwrap());
                    assert!(
                        detection.evidence.contains(&line),
                        "{name}: {line} missing in {:?}",
                        detection.evidence
                    );
                }
            }
        }
    }
}

#[test]
fn same_cve_at_two_paths_is_two_matches_of_one_finding_carrying_both_paths() {
    let Some((bytes, json)) = sample("grype_same_cve_different_paths.json") else {
        return;
    };
    let report = parse(&bytes).unwrap();
    let detections = &report.scans[0].detections;

    assert_eq!(matches(&json).len(), 2);
    assert_eq!(detections.len(), 2, "one detection per match; the ingest dedupes");
    assert_eq!(detections[0].fingerprint, detections[1].fingerprint);
    let both = [
        "location: /usr/lib/x86_64-linux-gnu/libc.so.6".to_owned(),
        "location: /lib/x86_64-linux-gnu/libc.so.6".to_owned(),
    ];
    for detection in detections {
        assert_eq!(detection.evidence, both);
        assert_eq!(detection.kind, FindingKind::Container);
        assert_eq!(detection.severity, Severity::Critical);
    }
    // Each keeps its own place as the package path.
    assert_eq!(
        package(&detections[0]).path.as_deref(),
        Some("/usr/lib/x86_64-linux-gnu/libc.so.6")
    );
    assert_eq!(
        package(&detections[1]).path.as_deref(),
        Some("/lib/x86_64-linux-gnu/libc.so.6")
    );
    assert_eq!(report.scans[0].asset.as_str(), "test-image:latest");
}

#[test]
fn doc_rag_sample_carries_epss_and_reports_ghsa_matches_under_their_cve() {
    let Some((bytes, json)) = sample("grype_doc-rag_grype-results.json") else {
        return;
    };
    let report = parse(&bytes).unwrap();
    let scan = &report.scans[0];
    assert_eq!(scan.asset, default_asset(), "`grype dir:.` names no asset");

    // EPSS: every match carries Grype's pair for its CVE.
    for (entry, detection) in matches(&json).iter().zip(&scan.detections) {
        let expected = &entry["vulnerability"]["epss"][0];
        let epss = detection.epss.expect("every doc-rag match has EPSS");
        assert_eq!(epss.probability, expected["epss"].as_f64().unwrap() as f32);
        assert_eq!(epss.percentile, expected["percentile"].as_f64().unwrap() as f32);
    }

    // GIVEN the setuptools match reported as GHSA-cx63-2mw6-8hw5, related to CVE-2024-6345
    let setuptools = &scan.detections[0];
    assert_eq!(setuptools.vuln_ids, ["GHSA-cx63-2mw6-8hw5", "CVE-2024-6345"]);
    // THEN its fingerprint is the one Trivy's CVE-2024-6345 report of setuptools gets
    assert_eq!(
        setuptools.fingerprint,
        fingerprint::dependency("CVE-2024-6345", "setuptools", &default_asset())
    );
    assert_eq!(setuptools.title, "CVE-2024-6345 in setuptools 63.2.0");
    let epss = setuptools.epss.unwrap();
    assert_eq!((epss.probability, epss.percentile), (0.04814, 0.8918));
    assert_eq!(package(setuptools).fixed_version.as_deref(), Some("70.0.0"));
    assert_eq!(setuptools.fix.as_deref(), Some("Upgrade setuptools to 70.0.0"));
    assert_eq!(
        setuptools.help_uri.as_deref(),
        Some("https://github.com/advisories/GHSA-cx63-2mw6-8hw5")
    );
    // Both ratings: the GHSA one (no source given) and the related CVE's, with their versions.
    let ratings: Vec<(f32, Option<&str>, Option<&str>)> = setuptools
        .cvss
        .iter()
        .map(|c| (c.score, c.version.as_deref(), c.source.as_deref()))
        .collect();
    assert_eq!(
        ratings,
        [(8.8, Some("3.1"), None), (8.8, Some("3.0"), Some("security@huntr.dev"))]
    );
    assert_eq!(setuptools.evidence.len(), 3, "three files of the setuptools dist-info");

    // ffmpeg's CVE-2025-22921 has an empty fix state: no fixed version, no fix line.
    let ffmpeg = scan
        .detections
        .iter()
        .find(|d| d.vuln_ids == ["CVE-2025-22921"])
        .unwrap();
    assert_eq!(package(ffmpeg).fixed_version, None);
    assert_eq!(ffmpeg.fix, None);
}

#[test]
fn missing_severity_falls_back_to_the_related_cvss_score() {
    let Some((bytes, json)) = sample("grype_issue_9618.json") else {
        return;
    };
    let index = matches(&json)
        .iter()
        .position(|m| m["vulnerability"]["severity"].is_null())
        .expect("one match in this sample has no severity");
    let report = parse(&bytes).unwrap();
    let detection = &report.scans[0].detections[index];
    assert_eq!(detection.vuln_ids, ["CVE-2024-26308", "GHSA-4265-ccf5-phj5"]);
    assert_eq!(detection.cvss.len(), 1);
    assert_eq!(detection.cvss[0].score, 7.5);
    assert_eq!(detection.severity, Severity::High);
    assert_eq!(
        report.scans[0].asset.as_str(),
        "quay.io/cloudservices/xjoin-kafka-connect-strimzi:latest"
    );
}

#[test]
fn two_jars_of_one_library_are_one_finding_listing_both_jars() {
    let Some((bytes, _)) = sample("grype_issue_9618.json") else {
        return;
    };
    let report = parse(&bytes).unwrap();
    let avro: Vec<&Detection> = report.scans[0]
        .detections
        .iter()
        .filter(|d| package(d).name == "avro")
        .collect();
    assert_eq!(avro.len(), 2);
    assert_eq!(
        avro[0].fingerprint, avro[1].fingerprint,
        "the installed version is not identity"
    );
    for detection in avro {
        assert_eq!(
            detection.evidence,
            [
                "location: /opt/kafka/plugins/apicurio/avro-1.11.1.jar",
                "location: /opt/kafka/libs/avro/avro-1.9.2.jar"
            ]
        );
        assert_eq!(
            detection.kind,
            FindingKind::Dependency,
            "a jar in an image is not an OS package"
        );
    }
}

#[test]
fn old_grype_layouts_parse() {
    // grype 0.24: quoted "." target, no CVSS source; grype 0.7: no matches at all.
    let Some((bytes, _)) = sample("grype_many_vulns4.json") else {
        return;
    };
    let report = parse(&bytes).unwrap();
    assert_eq!(report.scans[0].asset, default_asset());
    assert_eq!(report.scans[0].tool.version.as_deref(), Some("0.24.0"));
    let through = report.scans[0]
        .detections
        .iter()
        .find(|d| d.vuln_ids == ["CVE-2021-29940"])
        .unwrap();
    assert_eq!(through.severity, Severity::Critical);
    assert_eq!(through.best_cvss().map(|c| c.score), Some(9.8));
    assert_eq!(package(through).path.as_deref(), Some("components/yarn.lock"));

    let Some((bytes, _)) = sample("grype_no_vuln.json") else {
        return;
    };
    let report = parse(&bytes).unwrap();
    assert_eq!(report.scans[0].asset.as_str(), "busybox:latest");
    assert!(
        report.scans[0].complete && report.scans[0].detections.is_empty(),
        "a clean scan resolves"
    );
}

#[test]
fn parsing_twice_gives_equal_scans() {
    let Some(samples) = support::sample_files("grype") else {
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
fn detect_recognizes_every_grype_sample() {
    assert_eq!(Format::detect(SMALL.as_bytes()).unwrap(), Format::Grype);
    let Some(samples) = support::sample_files("grype") else {
        return;
    };
    for (name, bytes) in &samples {
        assert_eq!(Format::detect(bytes).ok(), Some(Format::Grype), "{name}");
        let auto = muster_core::parse_report(bytes, None, &support::ctx()).unwrap();
        assert_eq!(auto.format, Format::Grype, "{name}");
    }
}

// ---- small reports written here -------------------------------------------------------------

const SMALL: &str = r#"{
  "matches": [
    {
      "vulnerability": { "id": "GHSA-aaaa-bbbb-cccc", "severity": "High",
        "cvss": [ { "version": "3.1", "vector": "CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H", "metrics": { "baseScore": 9.8 } } ],
        "fix": { "versions": [ "1.2.4" ], "state": "fixed" } },
      "relatedVulnerabilities": [ { "id": "CVE-2024-0001" } ],
      "artifact": { "name": "left-pad", "version": "1.2.3", "type": "npm", "locations": [ { "path": "/app/package-lock.json" } ] }
    },
    {
      "vulnerability": { "id": "CVE-2024-0002", "severity": "Low" },
      "artifact": { "name": "openssl", "version": "3.0.1", "type": "apk", "locations": [ { "path": "/lib/apk/db/installed" } ] }
    },
    {
      "vulnerability": { "id": "CVE-2024-0003", "severity": "Medium" },
      "artifact": { "name": "zlib", "version": "1.2", "type": "apk" }
    }
  ],
  "source": { "type": "image", "target": { "userInput": "docker.io/library/alpine:3.19", "tags": [] } },
  "descriptor": { "name": "grype", "version": "0.80.0" }
}
"#;

fn syntax(error: &ParseError) -> (usize, usize, Option<String>) {
    support::syntax_error(error, "grype")
}

fn schema_message(error: ParseError) -> String {
    support::schema_message(error, "grype")
}

#[test]
fn small_report_names_image_kinds_and_canonical_ids() {
    let report = parse(SMALL.as_bytes()).unwrap();
    let scan = &report.scans[0];
    assert_eq!(
        scan.asset.as_str(),
        "alpine:3.19",
        "docker.io/library/ is dropped like Trivy does"
    );
    let kinds: Vec<FindingKind> = scan.detections.iter().map(|d| d.kind).collect();
    assert_eq!(
        kinds,
        [FindingKind::Dependency, FindingKind::Container, FindingKind::Container]
    );
    assert_eq!(
        scan.detections[0].fingerprint,
        fingerprint::dependency("CVE-2024-0001", "left-pad", &scan.asset)
    );
    assert_eq!(package(&scan.detections[2]).path, None);
    assert!(scan.detections[2].evidence.is_empty());
}

#[test]
fn known_exploited_entries_set_kev() {
    let with = SMALL.replace(
        r#""severity": "Low" }"#,
        r#""severity": "Low", "knownExploited": [ { "cve": "CVE-2024-0002", "knownRansomwareCampaignUse": "Known" } ] }"#,
    );
    let with_empty = SMALL.replace(r#""severity": "Low" }"#, r#""severity": "Low", "knownExploited": [] }"#);
    let kev = |text: &str| parse(text.as_bytes()).unwrap().scans[0].detections[1].kev;
    assert!(kev(&with));
    assert!(!kev(&with_empty));
    assert!(!kev(SMALL));
}

#[test]
fn odd_severity_words_fall_back_to_cvss_then_info() {
    let odd = SMALL.replace(r#""severity": "High""#, r#""severity": "Catastrophic""#);
    let report = parse(odd.as_bytes()).unwrap();
    assert_eq!(report.scans[0].detections[0].severity, Severity::Critical, "CVSS 9.8");
    let odd = SMALL.replace(r#""severity": "Low""#, r#""severity": "Whatever""#);
    assert_eq!(
        parse(odd.as_bytes()).unwrap().scans[0].detections[1].severity,
        Severity::Info
    );
    let negligible = SMALL.replace(r#""severity": "Low""#, r#""severity": "Negligible""#);
    assert_eq!(
        parse(negligible.as_bytes()).unwrap().scans[0].detections[1].severity,
        Severity::Info
    );
}

#[test]
fn epss_prefers_the_canonical_cve() {
    let text = SMALL.replace(
        r#""severity": "High","#,
        r#""severity": "High", "epss": [ { "cve": "CVE-1999-0001", "epss": 0.9, "percentile": 0.99 }, { "cve": "CVE-2024-0001", "epss": 0.25, "percentile": 0.5 } ],"#,
    );
    let epss = parse(text.as_bytes()).unwrap().scans[0].detections[0].epss.unwrap();
    assert_eq!((epss.probability, epss.percentile), (0.25, 0.5));
}

#[test]
fn byte_order_mark_and_null_matches_are_accepted() {
    let mut with_bom = b"\xEF\xBB\xBF".to_vec();
    with_bom.extend_from_slice(SMALL.as_bytes());
    assert_eq!(parse(&with_bom).unwrap().detection_count(), 3);

    let report = parse(br#"{"matches": null, "source": {"type": "directory", "target": "/src"}}"#).unwrap();
    assert_eq!(report.detection_count(), 0);
    assert_eq!(report.scans[0].tool.name, "grype");
    assert_eq!(report.scans[0].asset.as_str(), "/src");
}

#[test]
fn truncated_report_is_a_syntax_error_at_its_end() {
    // GIVEN the report cut inside the second match
    let cut = SMALL.find("\"openssl\"").unwrap() + 3;
    let truncated = &SMALL[..cut];

    // WHEN it is parsed
    let error = parse(truncated.as_bytes()).unwrap_err();

    // THEN it is malformed, positioned within what was received
    assert_eq!(error.code(), "malformed_report");
    let (offset, line, _) = syntax(&error);
    assert!(offset <= truncated.len(), "{error}");
    assert_eq!(line, line_at(truncated, truncated.len()), "{error}");
}

#[test]
fn every_truncation_of_a_real_sample_is_refused_without_panic() {
    let Some((bytes, _)) = sample("grype_same_cve_different_paths.json") else {
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
fn wrong_type_inside_a_match_names_the_match_and_its_line() {
    // GIVEN the third match's artifact locations as a string
    let broken = SMALL.replace(r#""type": "apk" }"#, r#""type": "apk", "locations": "/lib" }"#);
    let expected_line = line_at(&broken, broken.find(r#""locations": "/lib""#).unwrap());

    let error = parse(broken.as_bytes()).unwrap_err();
    let (offset, line, item) = syntax(&error);

    assert_eq!(item.as_deref(), Some("matches[2]"), "{error}");
    assert_eq!(line, expected_line, "{error}");
    assert_eq!(line_at(&broken, offset), line);
    assert!(error.to_string().contains("in matches[2]"), "{error}");
}

#[test]
fn wrong_top_level_type_is_a_syntax_error() {
    let error = parse(br#"{"matches": {"vulnerability": {}}}"#).unwrap_err();
    let (offset, line, item) = syntax(&error);
    assert_eq!((line, item), (1, None));
    assert!(offset >= "{\"matches\": ".len() - 1, "{error}");
}

#[test]
fn missing_ids_and_names_are_schema_errors_naming_the_match() {
    let no_id = SMALL.replace(r#""id": "CVE-2024-0002", "#, "");
    let message = schema_message(parse(no_id.as_bytes()).unwrap_err());
    assert_eq!(message, "matches[1].vulnerability: id is missing");

    let blank_id = SMALL.replace(r#""id": "CVE-2024-0002""#, r#""id": "  ""#);
    assert!(schema_message(parse(blank_id.as_bytes()).unwrap_err()).starts_with("matches[1]"));

    let no_name = SMALL.replace(r#""name": "zlib", "#, "");
    let message = schema_message(parse(no_name.as_bytes()).unwrap_err());
    assert_eq!(message, "matches[2].artifact: name is missing");

    let no_artifact = r#"{"matches": [{"vulnerability": {"id": "CVE-1"}}]}"#;
    let message = schema_message(parse(no_artifact.as_bytes()).unwrap_err());
    assert_eq!(message, "matches[0].artifact is missing");
}

#[test]
fn report_without_matches_is_refused_rather_than_read_as_clean() {
    let error = parse(br#"{"source": {"type": "image", "target": {"userInput": "alpine"}}}"#).unwrap_err();
    assert_eq!(error.code(), "invalid_report");
    assert!(schema_message(error).contains("matches"));
}

#[test]
fn shared_evidence_is_the_same_whichever_detection_is_kept() {
    // GIVEN one CVE in one package reported at three places, one of them twice
    let entry = |path: &str| {
        format!(
            r#"{{"vulnerability":{{"id":"CVE-2024-9"}},"artifact":{{"name":"libc6","type":"deb","locations":[{{"path":"{path}"}}]}}}}"#
        )
    };
    let text = format!(
        r#"{{"matches":[{},{},{},{}],"source":{{"type":"image","target":{{"userInput":"app:1"}}}}}}"#,
        entry("/a"),
        entry("/b"),
        entry("/a"),
        entry("/c")
    );
    let detections = parse(text.as_bytes()).unwrap().scans.remove(0).detections;
    assert_eq!(detections.len(), 4);
    let fingerprints: HashSet<_> = detections.iter().map(|d| d.fingerprint).collect();
    assert_eq!(fingerprints.len(), 1);
    for detection in &detections {
        assert_eq!(detection.evidence, ["location: /a", "location: /b", "location: /c"]);
    }
}

#[test]
fn invalid_utf8_inside_a_match_is_a_syntax_error_at_the_bad_byte() {
    // GIVEN a byte that is not UTF-8 in a field the parser never reads (found by fuzzing:
    // sonic-rs skips such values unchecked)
    let mut bytes = SMALL
        .replace(r#""id": "CVE-2024-0003","#, r#""id": "CVE-2024-0003", "note": "x@y","#)
        .into_bytes();
    let at = bytes.iter().position(|b| *b == b'@').unwrap();
    bytes[at] = 0xF1;

    let error = parse(&bytes).unwrap_err();

    let (offset, line, _) = syntax(&error);
    assert_eq!(offset, at, "{error}");
    assert_eq!(line, line_at(SMALL, SMALL.find("CVE-2024-0003").unwrap()), "{error}");
    assert!(error.to_string().contains("invalid UTF-8"), "{error}");
}
