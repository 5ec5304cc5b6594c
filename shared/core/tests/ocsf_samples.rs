//! The OCSF parser against the findings in `shared/samples/ocsf/` (an OCSF example mapped from
//! Security Hub, and Prowler's output), against JSON Lines and against broken input. Expected
//! values are read independently from the same bytes with `serde_json`.

mod support;

use muster_core::formats::{Format, ParseError, common};
use muster_core::{FindingKind, Location, Report, Reported, Severity};
use serde_json::{Value, json};
use support::detections;

const FOLDER: &str = "ocsf";

fn parse(bytes: &[u8]) -> Result<Report, ParseError> {
    support::parse_as(Format::Ocsf, bytes)
}

fn parse_json(value: &Value) -> Result<Report, ParseError> {
    parse(&serde_json::to_vec(value).expect("serializable"))
}

fn sample_json(name: &str) -> Option<(Vec<u8>, Value)> {
    support::sample_json(FOLDER, name)
}

/// One Prowler event, as the sample holds it.
fn prowler_event() -> Option<Value> {
    let (_, json) = sample_json("prowler_one_vuln.ocsf.json")?;
    Some(json[0].clone())
}

fn expected_severity(event: &Value) -> Severity {
    match event["severity_id"].as_i64() {
        Some(1) => Severity::Info,
        Some(2) => Severity::Low,
        Some(3) => Severity::Medium,
        Some(4) => Severity::High,
        Some(5 | 6) => Severity::Critical,
        other => panic!("sample without severity_id: {other:?}"),
    }
}

#[test]
fn every_sample_parses_to_one_detection_per_event() {
    let Some(files) = support::sample_files(FOLDER) else {
        return;
    };
    for (name, bytes) in &files {
        // GIVEN an OCSF event or array of events
        let json: Value = serde_json::from_slice(bytes).unwrap();
        let (events, complete): (Vec<&Value>, bool) = match json.as_array() {
            Some(list) => (list.iter().collect(), true),
            None => (vec![&json], false),
        };

        // WHEN it is parsed
        let report = parse(bytes).unwrap_or_else(|e| panic!("{name}: {e}"));

        // THEN each event gives one detection with its tool, severity and title
        assert_eq!(report.detection_count(), events.len(), "{name}");
        assert!(report.scans.iter().all(|s| s.complete == complete), "{name}");
        for (detection, event) in detections(&report).into_iter().zip(&events) {
            assert_eq!(detection.severity, expected_severity(event), "{name}");
            assert_eq!(
                detection.title,
                event["finding_info"]["title"].as_str().unwrap(),
                "{name}"
            );
        }
        for scan in &report.scans {
            let product = &events[0]["metadata"]["product"];
            assert_eq!(scan.tool.name, product["name"].as_str().unwrap(), "{name}");
            assert_eq!(scan.tool.version.as_deref(), product["version"].as_str(), "{name}");
        }
    }
}

#[test]
fn detect_recognizes_every_sample_as_ocsf() {
    let Some(files) = support::sample_files(FOLDER) else {
        return;
    };
    for (name, bytes) in &files {
        assert_eq!(Format::detect(bytes), Ok(Format::Ocsf), "{name}");
    }
}

#[test]
fn prowler_fail_is_open_and_pass_is_resolved() {
    let Some(event) = prowler_event() else { return };
    assert_eq!(event["status_code"], "FAIL");
    let failed = parse_json(&json!([event])).unwrap();
    let mut passed_event = event.clone();
    passed_event["status_code"] = json!("PASS");
    let passed = parse_json(&json!([passed_event])).unwrap();

    let (failed, passed) = (detections(&failed)[0], detections(&passed)[0]);
    assert_eq!(
        failed.reported,
        Reported::Open,
        "status \"New\" wins over Prowler's status_id 3"
    );
    assert_eq!(passed.reported, Reported::Resolved);
    assert_eq!(passed.reason.as_deref(), Some("passed"));
    assert_eq!(
        failed.fingerprint, passed.fingerprint,
        "a check that passes resolves the same finding"
    );
}

#[test]
fn prowler_check_is_a_cloud_finding_on_its_resource() {
    let Some((bytes, json)) = sample_json("prowler_one_vuln_after_4_5_0.ocsf.json") else {
        return;
    };
    let event = &json[0];
    let report = parse(&bytes).unwrap();
    let scan = &report.scans[0];
    let detection = &scan.detections[0];
    let resource = event["resources"][0]["uid"].as_str().unwrap();
    assert_eq!(scan.asset.as_str(), resource);
    assert_eq!(detection.kind, FindingKind::Cloud);
    assert_eq!(detection.rule_id.as_deref(), event["metadata"]["event_code"].as_str());
    assert_eq!(
        detection.location,
        Location::Resource {
            id: resource.to_owned()
        }
    );
    assert_eq!(detection.fix.as_deref(), event["remediation"]["desc"].as_str());
    assert_eq!(
        detection.help_uri.as_deref(),
        event["remediation"]["references"][0].as_str()
    );
}

#[test]
fn muted_or_suppressed_findings_are_suppressed() {
    let Some(event) = prowler_event() else { return };
    let mut suppressed = event.clone();
    suppressed["status"] = json!("Suppressed");
    let mut by_id = event.clone();
    by_id.as_object_mut().unwrap().remove("status");
    by_id["status_id"] = json!(3);
    let mut resolved = event.clone();
    resolved.as_object_mut().unwrap().remove("status");
    resolved["status_id"] = json!(4);
    let report = parse_json(&json!([suppressed, by_id, resolved])).unwrap();
    let states: Vec<Reported> = detections(&report).iter().map(|d| d.reported).collect();
    assert_eq!(states, [Reported::Suppressed, Reported::Suppressed, Reported::Resolved]);
}

#[test]
fn inspector_vulnerability_finding_is_the_same_finding_as_its_asff_original() {
    let Some((ocsf, json)) = sample_json("ocsf_inspector.ocsf.json") else {
        return;
    };
    let Some(asff) = support::sample("asff", "securityhub_inspector.raw.json") else {
        return;
    };
    let ocsf = parse(&ocsf).unwrap();
    let asff = support::parse_as(Format::Asff, &asff).unwrap();
    let (detection, original) = (detections(&ocsf)[0], detections(&asff)[0]);

    assert_eq!(ocsf.scans[0].asset, asff.scans[0].asset);
    assert_eq!(detection.fingerprint, original.fingerprint);
    assert_eq!(detection.kind, FindingKind::Container);
    let vulnerability = &json["vulnerabilities"][0];
    let package = &vulnerability["affected_packages"][0];
    assert_eq!(
        detection.fingerprint,
        common::package_fingerprint(
            vulnerability["cve"]["uid"].as_str().unwrap(),
            [],
            package["name"].as_str().unwrap(),
            &ocsf.scans[0].asset
        )
    );
    let Location::Package(location) = &detection.location else {
        panic!("{:?}", detection.location)
    };
    assert_eq!(location.version.as_deref(), package["version"].as_str());
    assert_eq!(location.fixed_version.as_deref(), package["fixed_in_version"].as_str());
    // Two identical NVD ratings are kept once.
    assert_eq!(detection.cvss.len(), 1);
    let cvss = &vulnerability["cve"]["cvss"][0];
    assert_eq!(detection.cvss[0].score, cvss["base_score"].as_f64().unwrap() as f32);
    assert_eq!(detection.cvss[0].vector.as_deref(), cvss["vector_string"].as_str());
    assert_eq!(detection.cvss[0].source.as_deref(), Some("nvd"));
    // epss.score arrives as a string without a percentile.
    assert!(detection.epss.is_none());
    assert!(
        detection.evidence.iter().any(|e| e.starts_with("EPSS 0.00066")),
        "{:?}",
        detection.evidence
    );
}

#[test]
fn epss_with_percentile_is_kept() {
    let Some((_, mut json)) = sample_json("ocsf_inspector.ocsf.json") else {
        return;
    };
    json["vulnerabilities"][0]["cve"]["epss"] = json!({"score": "0.25", "percentile": 0.97});
    let report = parse_json(&json).unwrap();
    let epss = detections(&report)[0].epss.expect("EPSS");
    assert_eq!((epss.probability, epss.percentile), (0.25, 0.97));
}

#[test]
fn json_lines_are_read_one_event_per_line() {
    let Some(event) = prowler_event() else { return };
    let mut second = event.clone();
    second["finding_info"]["uid"] = json!("prowler-aws-other-check");
    let lines = format!(
        "{}\n\n{}\n",
        serde_json::to_string(&event).unwrap(),
        serde_json::to_string(&second).unwrap()
    );
    let report = parse(lines.as_bytes()).unwrap();
    assert_eq!(report.detection_count(), 2);
    assert!(
        report.scans.iter().all(|s| s.complete),
        "an export of lines is a full scan"
    );
    let fingerprints: Vec<_> = detections(&report).iter().map(|d| d.fingerprint).collect();
    assert_ne!(fingerprints[0], fingerprints[1]);

    // A broken third line is reported at its own line.
    let broken = format!("{lines}{{\"class_uid\": 2004,\n");
    let error = parse(broken.as_bytes()).unwrap_err();
    let ParseError::Syntax { line, item, .. } = &error else {
        panic!("{error:?}")
    };
    assert_eq!(*line, 4);
    assert_eq!(item.as_deref(), Some("line 4"));
}

#[test]
fn a_single_event_is_not_a_full_scan() {
    let Some(event) = prowler_event() else { return };
    let report = parse_json(&event).unwrap();
    assert_eq!(report.detection_count(), 1);
    assert!(!report.scans[0].complete);
}

#[test]
fn compliance_finding_that_passes_is_resolved() {
    let Some(mut event) = prowler_event() else { return };
    event["class_uid"] = json!(2003);
    event["class_name"] = json!("Compliance Finding");
    event.as_object_mut().unwrap().remove("status_code");
    event["compliance"] = json!({"status": "Pass", "control": "IAM.1", "standards": ["CIS AWS 1.4"]});
    let report = parse_json(&event).unwrap();
    let detection = detections(&report)[0];
    assert_eq!(detection.reported, Reported::Resolved);
    assert!(
        detection.evidence.contains(&"control: IAM.1".to_owned()),
        "{:?}",
        detection.evidence
    );

    event["compliance"]["status"] = json!("Fail");
    assert_eq!(detections(&parse_json(&event).unwrap())[0].reported, Reported::Open);
}

#[test]
fn account_is_the_asset_when_no_resource_is_named() {
    let Some(mut event) = prowler_event() else { return };
    event.as_object_mut().unwrap().remove("resources");
    let report = parse_json(&event).unwrap();
    assert_eq!(report.scans[0].asset.as_str(), "aws-account/123456789012");
    assert_eq!(report.scans[0].detections[0].location, Location::Unspecified);
}

#[test]
fn severity_id_maps_fatal_to_critical_and_falls_back_to_the_caption() {
    let Some(mut event) = prowler_event() else { return };
    event["severity_id"] = json!(6);
    assert_eq!(detections(&parse_json(&event).unwrap())[0].severity, Severity::Critical);
    event["severity_id"] = json!(99);
    event["severity"] = json!("Low");
    assert_eq!(detections(&parse_json(&event).unwrap())[0].severity, Severity::Low);
}

#[test]
fn byte_order_mark_is_ignored() {
    let Some((bytes, _)) = sample_json("prowler_one_vuln.ocsf.json") else {
        return;
    };
    let mut with_bom = b"\xEF\xBB\xBF".to_vec();
    with_bom.extend_from_slice(&bytes);
    assert_eq!(parse(&with_bom).unwrap().scans, parse(&bytes).unwrap().scans);
}

#[test]
fn truncated_report_is_a_syntax_error() {
    let Some((bytes, _)) = sample_json("ocsf_inspector.ocsf.json") else {
        return;
    };
    let error = parse(&bytes[..bytes.len() / 2]).unwrap_err();
    assert!(matches!(error, ParseError::Syntax { format: "ocsf", .. }), "{error:?}");
}

#[test]
fn wrong_types_are_syntax_errors() {
    let Some(event) = prowler_event() else { return };
    for (field, value) in [
        ("class_uid", json!("2004")),
        ("severity_id", json!("high")),
        ("resources", json!({"uid": "arn"})),
    ] {
        let mut broken = event.clone();
        broken[field] = value;
        let error = parse_json(&json!([broken])).unwrap_err();
        assert!(
            matches!(error, ParseError::Syntax { format: "ocsf", .. }),
            "{field}: {error:?}"
        );
    }
}

#[test]
fn events_that_are_not_findings_are_schema_errors_naming_the_event() {
    let Some(event) = prowler_event() else { return };
    let mut authentication = event.clone();
    authentication["class_uid"] = json!(3002);
    let error = parse_json(&json!([event, authentication])).unwrap_err();
    let ParseError::Schema { message, .. } = &error else {
        panic!("{error:?}")
    };
    assert!(message.starts_with("[1]: class_uid 3002"), "{message}");

    let mut unnamed = event.clone();
    unnamed.as_object_mut().unwrap().remove("metadata");
    let error = parse_json(&unnamed).unwrap_err();
    assert!(
        matches!(&error, ParseError::Schema { message, .. } if message.contains("metadata.product.name")),
        "{error:?}"
    );
}
