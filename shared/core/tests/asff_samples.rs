//! The ASFF parser against the Security Hub exports, findings and EventBridge events in
//! `shared/samples/asff/`, and against broken input. Expected values are read independently
//! from the same bytes with `serde_json`.

mod support;

use std::collections::BTreeSet;

use muster_core::formats::{Format, ParseError, common};
use muster_core::{AssetKey, FindingKind, Fingerprint, Location, Report, Reported, Severity};
use serde_json::{Value, json};
use support::detections;

const FOLDER: &str = "asff";

fn parse(bytes: &[u8]) -> Result<Report, ParseError> {
    support::parse_as(Format::Asff, bytes)
}

fn parse_json(value: &Value) -> Result<Report, ParseError> {
    parse(&serde_json::to_vec(value).expect("serializable"))
}

fn sample_json(name: &str) -> Option<(Vec<u8>, Value)> {
    support::sample_json(FOLDER, name)
}

/// The findings of any ASFF shape, and whether the shape is a full export.
fn findings_of(json: &Value) -> (Vec<&Value>, bool) {
    if let Some(list) = json.as_array() {
        return (list.iter().collect(), true);
    }
    for key in ["Findings", "findings"] {
        if let Some(list) = json[key].as_array() {
            return (list.iter().collect(), true);
        }
    }
    if json.get("detail-type").is_some() {
        let list = json["detail"]["findings"].as_array().expect("event has findings");
        return (list.iter().collect(), false);
    }
    (vec![json], false)
}

fn label(text: &str) -> Severity {
    match text {
        "CRITICAL" => Severity::Critical,
        "HIGH" => Severity::High,
        "MEDIUM" => Severity::Medium,
        "LOW" => Severity::Low,
        "INFORMATIONAL" => Severity::Info,
        other => panic!("unexpected label {other}"),
    }
}

/// Security Hub's order: `Severity.Label`, `Severity.Normalized`, the provider's label.
fn expected_severity(finding: &Value) -> Severity {
    if let Some(text) = finding["Severity"]["Label"].as_str() {
        return label(text);
    }
    if let Some(n) = finding["Severity"]["Normalized"].as_f64() {
        return match n {
            n if n >= 90.0 => Severity::Critical,
            n if n >= 70.0 => Severity::High,
            n if n >= 40.0 => Severity::Medium,
            n if n >= 1.0 => Severity::Low,
            _ => Severity::Info,
        };
    }
    label(finding["FindingProviderFields"]["Severity"]["Label"].as_str().unwrap())
}

fn expected_reported(finding: &Value) -> Reported {
    let workflow = finding["Workflow"]["Status"]
        .as_str()
        .or(finding["WorkflowState"].as_str());
    if finding["RecordState"] == "ARCHIVED" || workflow == Some("RESOLVED") {
        Reported::Resolved
    } else if workflow == Some("SUPPRESSED") {
        Reported::Suppressed
    } else if finding["Compliance"]["Status"] == "PASSED" {
        Reported::Resolved
    } else {
        Reported::Open
    }
}

fn expected_tool(finding: &Value) -> String {
    let fields = &finding["ProductFields"];
    finding["ProductName"]
        .as_str()
        .or(fields["aws/securityhub/ProductName"].as_str())
        .or(fields["Product Name"].as_str())
        .map(str::to_owned)
        .unwrap_or_else(|| {
            let arn = finding["ProductArn"].as_str().unwrap();
            arn.rsplit('/').next().unwrap().to_owned()
        })
}

#[test]
fn every_sample_parses_to_one_detection_per_finding() {
    let Some(files) = support::sample_files(FOLDER) else {
        return;
    };
    for (name, bytes) in &files {
        // GIVEN a Security Hub export, finding or event
        let json: Value = serde_json::from_slice(bytes).unwrap();
        let (findings, complete) = findings_of(&json);

        // WHEN it is parsed
        let report = parse(bytes).unwrap_or_else(|e| panic!("{name}: {e}"));

        // THEN each finding gives one detection, in order, with its severity, state and tool
        assert_eq!(report.detection_count(), findings.len(), "{name}");
        assert!(
            report.scans.iter().all(|s| s.complete == complete),
            "{name}: complete = {complete}"
        );
        let mut expected: Vec<(Severity, Reported, String)> = findings
            .iter()
            .map(|f| (expected_severity(f), expected_reported(f), expected_tool(f)))
            .collect();
        let mut actual: Vec<(Severity, Reported, String)> = report
            .scans
            .iter()
            .flat_map(|s| {
                s.detections
                    .iter()
                    .map(|d| (d.severity, d.reported, s.tool.name.clone()))
            })
            .collect();
        expected.sort();
        actual.sort();
        assert_eq!(actual, expected, "{name}");
    }
}

#[test]
fn detect_recognizes_every_sample_as_asff() {
    let Some(files) = support::sample_files(FOLDER) else {
        return;
    };
    for (name, bytes) in &files {
        assert_eq!(Format::detect(bytes), Ok(Format::Asff), "{name}");
    }
}

#[test]
fn archived_finding_event_resolves_the_finding() {
    let Some((bytes, _)) = sample_json("eventbridge_imported_archived_existing.template.json") else {
        return;
    };
    let Some((new, _)) = sample_json("eventbridge_imported_new_notautomated.template.json") else {
        return;
    };
    let archived = parse(&bytes).unwrap();
    let new = parse(&new).unwrap();
    let (archived, new) = (detections(&archived)[0], detections(&new)[0]);
    assert_eq!(archived.reported, Reported::Resolved);
    assert_eq!(archived.reason.as_deref(), Some("archived"));
    assert_eq!(new.reported, Reported::Open);
    assert_eq!(
        archived.fingerprint, new.fingerprint,
        "both events are about one finding"
    );
}

#[test]
fn passed_controls_are_resolved_and_failed_ones_open() {
    let Some((passed, _)) = sample_json("securityhub_config_many_findings.json") else {
        return;
    };
    let Some((failed, _)) = sample_json("securityhub_config_one_finding_active.json") else {
        return;
    };
    let passed = parse(&passed).unwrap();
    let failed = parse(&failed).unwrap();
    assert!(detections(&passed).iter().all(|d| d.reported == Reported::Resolved));
    assert_eq!(detections(&failed)[0].reported, Reported::Open);
    // IAM.5 passed in one export and failed in the other: the same control on the same account.
    let iam5 = |r: &Report| {
        detections(r)
            .into_iter()
            .find(|d| d.title.starts_with("IAM.5"))
            .map(|d| d.fingerprint)
    };
    assert_eq!(iam5(&passed), iam5(&failed));
}

#[test]
fn suppressed_or_resolved_workflow_is_not_open() {
    let Some((_, json)) = sample_json("eventbridge_imported_new_notautomated.template.json") else {
        return;
    };
    for (status, expected) in [("SUPPRESSED", Reported::Suppressed), ("RESOLVED", Reported::Resolved)] {
        let mut event = json.clone();
        event["detail"]["findings"][0]["Workflow"]["Status"] = json!(status);
        event["detail"]["findings"][0]["Note"] = json!({"Text": "accepted by the platform team"});
        let report = parse_json(&event).unwrap();
        let detection = detections(&report)[0];
        assert_eq!(detection.reported, expected, "{status}");
        assert!(
            detection
                .reason
                .as_deref()
                .unwrap()
                .contains("accepted by the platform team")
        );
    }
}

#[test]
fn assets_are_the_image_the_resource_or_the_account() {
    let cases = [
        (
            "trivy_alpine-310.asff.json",
            "testdata/fixtures/images/alpine-310.tar.gz",
        ),
        (
            "eventbridge_custom_new.template.json",
            "arn:aws:ec2:eu-west-1:123456789012:instance/i-0000000aaaaaaaaaa",
        ),
        ("eventbridge_CIS-1.4.json", "aws-account/111111111111"),
    ];
    for (name, expected) in cases {
        let Some((bytes, _)) = sample_json(name) else { return };
        let report = parse(&bytes).unwrap();
        let assets: BTreeSet<&str> = report.scans.iter().map(|s| s.asset.as_str()).collect();
        assert_eq!(assets, BTreeSet::from([expected]), "{name}");
    }
}

#[test]
fn findings_are_grouped_into_one_scan_per_tool_and_asset() {
    let Some((bytes, json)) = sample_json("securityhub_guardduty.json") else {
        return;
    };
    let report = parse(&bytes).unwrap();
    let resources: BTreeSet<&str> = json["Findings"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["Resources"][0]["Id"].as_str().unwrap())
        .collect();
    assert_eq!(report.scans.len(), resources.len());
    assert!(report.scans.iter().all(|s| s.tool.name == "GuardDuty"));
    for scan in &report.scans {
        for detection in &scan.detections {
            assert_eq!(detection.kind, FindingKind::Cloud);
            assert_eq!(
                detection.location,
                Location::Resource {
                    id: scan.asset.as_str().to_owned()
                }
            );
        }
    }
}

#[test]
fn inspector_vulnerability_keeps_package_cvss_and_epss() {
    let Some((bytes, json)) = sample_json("securityhub_inspector.raw.json") else {
        return;
    };
    let report = parse(&bytes).unwrap();
    let detection = detections(&report)[0];
    let vulnerability = &json["Vulnerabilities"][0];
    let package = &vulnerability["VulnerablePackages"][0];
    assert_eq!(detection.kind, FindingKind::Container, "an ECR image");
    assert_eq!(
        detection.fingerprint,
        common::package_fingerprint(
            vulnerability["Id"].as_str().unwrap(),
            [],
            package["Name"].as_str().unwrap(),
            &report.scans[0].asset
        )
    );
    let Location::Package(location) = &detection.location else {
        panic!("{:?}", detection.location)
    };
    assert_eq!(location.version.as_deref(), package["Version"].as_str());
    assert_eq!(location.fixed_version.as_deref(), package["FixedInVersion"].as_str());
    // Inspector lists the NVD rating twice; it is kept once.
    let vectors: BTreeSet<&str> = vulnerability["Cvss"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["BaseVector"].as_str().unwrap())
        .collect();
    assert_eq!(detection.cvss.len(), vectors.len());
    assert_eq!(
        detection.cvss[0].score,
        vulnerability["Cvss"][0]["BaseScore"].as_f64().unwrap() as f32
    );
    assert_eq!(detection.cvss[0].version.as_deref(), Some("3.1"));
    assert_eq!(detection.cvss[0].source.as_deref(), Some("nvd"));
    // ASFF gives the EPSS probability without its percentile.
    assert!(detection.epss.is_none());
    assert!(
        detection.evidence.iter().any(|e| e.starts_with("EPSS 0.00066")),
        "{:?}",
        detection.evidence
    );
    assert!(
        detection
            .evidence
            .contains(&"type: Software and Configuration Checks/Vulnerabilities/CVE".to_owned())
    );
    assert!(detection.evidence.contains(&"provider severity: MEDIUM".to_owned()));
}

#[test]
fn severity_falls_back_to_normalized_then_provider_label() {
    let Some((_, json)) = sample_json("securityhub_config_one_finding_active.json") else {
        return;
    };
    let mut finding = json["findings"][0].clone();
    finding["Severity"] = json!({"Normalized": 95});
    assert_eq!(
        detections(&parse_json(&finding).unwrap())[0].severity,
        Severity::Critical
    );
    finding["Severity"] = json!({"Normalized": 0});
    assert_eq!(detections(&parse_json(&finding).unwrap())[0].severity, Severity::Info);
    finding.as_object_mut().unwrap().remove("Severity");
    finding["FindingProviderFields"] = json!({"Severity": {"Label": "HIGH"}});
    assert_eq!(detections(&parse_json(&finding).unwrap())[0].severity, Severity::High);
}

/// Trivy JSON vulnerabilities as (fingerprint, vulnerability, package) under `asset`, read with
/// `serde_json`.
fn trivy_json_fingerprints(trivy: &Value, asset: &AssetKey) -> BTreeSet<Fingerprint> {
    trivy["Results"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|r| r["Vulnerabilities"].as_array().into_iter().flatten())
        .map(|v| {
            common::package_fingerprint(
                v["VulnerabilityID"].as_str().unwrap(),
                [],
                v["PkgName"].as_str().unwrap(),
                asset,
            )
        })
        .collect()
}

fn fingerprints(report: &Report) -> BTreeSet<Fingerprint> {
    detections(report).into_iter().map(|d| d.fingerprint).collect()
}

#[test]
fn trivy_asff_and_trivy_json_of_one_image_are_the_same_findings() {
    let Some((asff, _)) = sample_json("trivy_alpine-310.asff.json") else {
        return;
    };
    let Some(trivy) = support::sample("trivy", "trivy_alpine-310.json") else {
        return;
    };
    let trivy: Value = serde_json::from_slice(&trivy).unwrap();
    // The image as Trivy's OS-package target names it ("<image> (alpine 3.10.2)").
    let target = trivy["Results"][0]["Target"].as_str().unwrap();
    let asset = common::image_asset(target).unwrap();

    let asff = parse(&asff).unwrap();
    assert_eq!(asff.scans.len(), 1);
    assert_eq!(asff.scans[0].asset, asset);
    assert!(detections(&asff).iter().all(|d| d.kind == FindingKind::Container));
    assert_eq!(fingerprints(&asff), trivy_json_fingerprints(&trivy, &asset));
}

/// `trivy image alpine:3.10` in both output formats, made from the two samples by naming the
/// image as a registry reference instead of a local archive.
#[test]
fn trivy_parser_and_asff_parser_agree_on_a_registry_image() {
    let Some((_, mut asff)) = sample_json("trivy_alpine-310.asff.json") else {
        return;
    };
    let Some(trivy) = support::sample("trivy", "trivy_alpine-310.json") else {
        return;
    };
    let mut trivy: Value = serde_json::from_slice(&trivy).unwrap();
    let target = "alpine:3.10 (alpine 3.10.2)";
    trivy["ArtifactName"] = json!("alpine:3.10");
    trivy["Results"][0]["Target"] = json!(target);
    for finding in asff["Findings"].as_array_mut().unwrap() {
        finding["Resources"][0]["Id"] = json!(target);
        finding["Resources"][0]["Details"]["Container"]["ImageName"] = json!(target);
    }
    let trivy = serde_json::to_vec(&trivy).unwrap();
    let asff = parse_json(&asff).unwrap();

    match support::parse_as(Format::Trivy, &trivy) {
        Ok(trivy) => {
            assert_eq!(trivy.scans[0].asset, asff.scans[0].asset);
            assert_eq!(fingerprints(&asff), fingerprints(&trivy));
        }
        // The Trivy parser is not there yet: compare with the recipe it must follow.
        Err(ParseError::Schema { message, .. }) if message.contains("not supported yet") => {
            let trivy: Value = serde_json::from_slice(&trivy).unwrap();
            let asset = common::image_asset("alpine:3.10").unwrap();
            assert_eq!(fingerprints(&asff), trivy_json_fingerprints(&trivy, &asset));
        }
        Err(e) => panic!("trivy: {e}"),
    }
}

#[test]
fn trivy_asff_keeps_package_versions_and_nvd_ratings() {
    let Some((bytes, json)) = sample_json("trivy_alpine-310.asff.json") else {
        return;
    };
    let report = parse(&bytes).unwrap();
    assert_eq!(report.scans[0].tool.name, "Trivy");
    for (detection, finding) in detections(&report)
        .into_iter()
        .zip(json["Findings"].as_array().unwrap())
    {
        let other = &finding["Resources"][0]["Details"]["Other"];
        let Location::Package(location) = &detection.location else {
            panic!("{:?}", detection.location)
        };
        assert_eq!(location.name, other["PkgName"].as_str().unwrap());
        assert_eq!(location.version.as_deref(), other["Installed Package"].as_str());
        assert_eq!(location.fixed_version.as_deref(), other["Patched Package"].as_str());
        let v3 = detection
            .cvss
            .iter()
            .find(|c| c.version.as_deref() == Some("3.1"))
            .expect("NVD v3");
        assert_eq!(v3.vector.as_deref(), other["NvdCvssVectorV3"].as_str());
        assert_eq!(
            Some(v3.score.to_string()),
            other["NvdCvssScoreV3"].as_str().map(str::to_owned)
        );
        assert_eq!(
            detection.help_uri.as_deref(),
            finding["Remediation"]["Recommendation"]["Url"].as_str()
        );
    }
}

#[test]
fn byte_order_mark_is_ignored() {
    let Some((bytes, _)) = sample_json("securityhub_guardduty.json") else {
        return;
    };
    let mut with_bom = b"\xEF\xBB\xBF".to_vec();
    with_bom.extend_from_slice(&bytes);
    assert_eq!(parse(&with_bom).unwrap().scans, parse(&bytes).unwrap().scans);
}

#[test]
fn truncated_export_is_a_syntax_error() {
    let Some((bytes, _)) = sample_json("securityhub_inspector_ec2_cve.json") else {
        return;
    };
    let error = parse(&bytes[..bytes.len() - 40]).unwrap_err();
    assert!(matches!(error, ParseError::Syntax { format: "asff", .. }), "{error:?}");
}

#[test]
fn wrong_types_are_syntax_errors() {
    for report in [
        json!({"Findings": 5}),
        json!({"Findings": [{"Id": "x", "ProductArn": "arn:p/x", "Resources": "none"}]}),
        json!([{"Id": 7, "ProductArn": "arn:p/x"}]),
        json!({"detail-type": "Security Hub Findings - Imported", "detail": {"findings": {}}}),
    ] {
        let error = parse_json(&report).unwrap_err();
        assert!(
            matches!(error, ParseError::Syntax { format: "asff", .. }),
            "{report}: {error:?}"
        );
    }
}

#[test]
fn other_eventbridge_detail_types_are_refused_by_name() {
    let Some((_, mut event)) = sample_json("eventbridge_CIS-1.4.json") else {
        return;
    };
    event["detail-type"] = json!("AWS API Call via CloudTrail");
    let error = parse_json(&event).unwrap_err();
    let ParseError::Schema { message, .. } = &error else {
        panic!("{error:?}")
    };
    assert!(message.contains("AWS API Call via CloudTrail"), "{message}");
}

#[test]
fn a_finding_without_id_is_named_in_the_error() {
    let Some((_, mut json)) = sample_json("securityhub_guardduty.json") else {
        return;
    };
    json["Findings"][2].as_object_mut().unwrap().remove("Id");
    let error = parse_json(&json).unwrap_err();
    assert_eq!(
        error,
        ParseError::Schema {
            format: "asff",
            message: "Findings[2]: Id is missing".to_owned()
        }
    );
}

#[test]
fn an_object_of_no_known_shape_is_a_schema_error() {
    let error = parse_json(&json!({"hello": "world"})).unwrap_err();
    assert!(matches!(error, ParseError::Schema { format: "asff", .. }), "{error:?}");
}
