//! The GitHub webhook parser against the recorded deliveries in `shared/samples/github_webhooks/`
//! and against broken or foreign input. Expected values are read independently from the same
//! bytes with `serde_json`.

mod support;

use muster_core::formats::{Format, ParseContext, ParseError, common, parse_report};
use muster_core::{AssetKey, Detection, FindingKind, Fingerprint, Location, Report, Reported, Scan, Severity};
use serde_json::{Value, json};

const FOLDER: &str = "github_webhooks";
const ALERT_EVENTS: [&str; 4] = [
    "code_scanning_alert",
    "dependabot_alert",
    "secret_scanning_alert",
    "repository_vulnerability_alert",
];

fn parse(bytes: &[u8], event: Option<&str>) -> Result<Report, ParseError> {
    let ctx = support::ctx().with_event(event.map(str::to_owned));
    parse_report(bytes, Some(Format::Github), &ctx)
}

fn parse_json(payload: &Value, event: Option<&str>) -> Result<Report, ParseError> {
    parse(&serde_json::to_vec(payload).expect("serializable"), event)
}

/// The one detection of a delivery, with its scan.
fn only(report: &Report) -> (&Scan, &Detection) {
    assert_eq!(report.scans.len(), 1, "one scan per delivery");
    let scan = &report.scans[0];
    assert_eq!(scan.detections.len(), 1, "one detection per delivery");
    (scan, &scan.detections[0])
}

fn sample_json(name: &str) -> Option<(Vec<u8>, Value)> {
    support::sample_json(FOLDER, name)
}

/// The event a sample was recorded for, from its file name (`github_<event>_<action>…`).
fn event_of(name: &str) -> Option<&'static str> {
    let rest = name.strip_prefix("github_")?;
    ALERT_EVENTS.into_iter().find(|event| rest.starts_with(event))
}

/// The package recipe every dependency scanner uses, for a CVE found in `package`.
fn package_fingerprint(cve: &str, package: &str, asset: &AssetKey) -> Fingerprint {
    common::package_fingerprint(cve, [], package, asset)
}

fn asset(text: &str) -> AssetKey {
    AssetKey::parse(text).unwrap()
}

#[test]
fn every_alert_delivery_gives_one_incomplete_scan_with_or_without_the_event_header() {
    let Some(files) = support::sample_files(FOLDER) else {
        return;
    };
    let mut alerts = 0;
    for (name, bytes) in files.iter().filter(|(name, _)| !name.starts_with("github_issues_")) {
        // GIVEN a recorded alert delivery
        let json: Value = serde_json::from_slice(bytes).unwrap();
        let expected = usize::from(json["alert"].is_object());
        let event = event_of(name).unwrap_or_else(|| panic!("{name}: sample name names its event"));

        // WHEN it is parsed with the X-GitHub-Event header and without it
        let named = parse(bytes, Some(event)).unwrap_or_else(|e| panic!("{name}: {e}"));
        let guessed = parse(bytes, None).unwrap_or_else(|e| panic!("{name}: {e}"));

        // THEN both read the same single detection of an incomplete scan
        assert_eq!(named.detection_count(), expected, "{name}");
        assert_eq!(
            named.scans, guessed.scans,
            "{name}: the payload shape names the same event"
        );
        assert!(
            named.scans.iter().all(|s| !s.complete),
            "{name}: an event is never a full scan"
        );
        alerts += 1;
    }
    assert!(alerts >= 6, "all alert samples were read");
}

#[test]
fn issues_events_are_refused_as_not_security_alerts() {
    let Some(files) = support::sample_files(FOLDER) else {
        return;
    };
    for (name, bytes) in files.iter().filter(|(name, _)| name.starts_with("github_issues_")) {
        for event in [Some("issues"), None] {
            let error = parse(bytes, event).expect_err(name);
            let ParseError::Schema { format, message } = &error else {
                panic!("{name}: expected a schema error, got {error:?}");
            };
            assert_eq!(*format, "github");
            assert!(message.contains("\"issues\""), "{name}: names the event: {message}");
            assert!(
                ALERT_EVENTS.iter().all(|e| message.contains(e)),
                "{name}: lists the supported events: {message}"
            );
        }
    }
}

#[test]
fn detect_recognizes_every_github_delivery_and_issues_are_refused_as_unsupported_events() {
    let Some(files) = support::sample_files(FOLDER) else {
        return;
    };
    for (name, bytes) in &files {
        assert_eq!(Format::detect(bytes), Ok(Format::Github), "{name}");
        if name.starts_with("github_issues_") {
            // Recognized as GitHub, so the answer names the event instead of "unrecognized".
            let error = parse_report(bytes, None, &support::ctx()).unwrap_err();
            assert!(matches!(error, ParseError::Schema { .. }), "{name}: {error:?}");
            assert!(error.to_string().contains("issues"), "{name}: {error}");
        }
    }
}

#[test]
fn ping_is_accepted_without_findings() {
    let ping = json!({"zen": "Keep it logically awesome.", "hook_id": 1, "hook": {"type": "Repository"}});
    assert_eq!(parse_json(&ping, Some("ping")).unwrap().detection_count(), 0);
    assert_eq!(parse_json(&ping, None).unwrap().detection_count(), 0);
}

#[test]
fn code_scanning_alert_is_read_with_tool_rule_location_and_repository() {
    let Some((bytes, json)) = sample_json("github_code_scanning_alert_created.payload.json") else {
        return;
    };
    let report = parse(&bytes, None).unwrap();
    let (scan, detection) = only(&report);
    let alert = &json["alert"];

    assert_eq!(scan.tool.name, alert["tool"]["name"].as_str().unwrap());
    assert_eq!(scan.asset, asset("github.com/Codertocat/Hello-World"));
    assert_eq!(detection.kind, FindingKind::Code);
    assert_eq!(detection.rule_id.as_deref(), alert["rule"]["id"].as_str());
    assert_eq!(detection.title, alert["rule"]["description"].as_str().unwrap());
    // rule.severity "error" (no security_severity_level in this payload)
    assert_eq!(detection.severity, Severity::High);
    let location = &alert["instances"][0]["location"];
    assert_eq!(
        detection.location,
        Location::Source {
            path: location["path"].as_str().unwrap().to_owned(),
            line: location["start_line"].as_u64().map(|l| l as u32),
        }
    );
    assert_eq!(detection.help_uri.as_deref(), alert["html_url"].as_str());
    assert_eq!(detection.reported, Reported::Open);
}

#[test]
fn security_severity_level_wins_over_the_rule_level() {
    let Some((_, mut json)) = sample_json("github_code_scanning_alert_created.payload.json") else {
        return;
    };
    json["alert"]["rule"]["security_severity_level"] = json!("critical");
    let report = parse_json(&json, Some("code_scanning_alert")).unwrap();
    assert_eq!(only(&report).1.severity, Severity::Critical);
}

#[test]
fn fixed_code_scanning_event_resolves_the_alert() {
    let Some((bytes, json)) = sample_json("github_code_scanning_alert_fixed.payload.json") else {
        return;
    };
    assert_eq!(json["action"], "fixed");
    let report = parse(&bytes, Some("code_scanning_alert")).unwrap();
    let detection = only(&report).1;
    assert_eq!(detection.reported, Reported::Resolved);
    assert_eq!(detection.reason.as_deref(), Some("fixed"));
}

#[test]
fn created_fixed_and_reopened_events_of_one_alert_share_a_fingerprint() {
    let Some((created, created_json)) = sample_json("github_code_scanning_alert_created.payload.json") else {
        return;
    };
    let Some((fixed, _)) = sample_json("github_code_scanning_alert_fixed.payload.json") else {
        return;
    };
    // The recorded `reopened` example is another tool's alert; this is alert #10 reopened, shaped
    // like that example: no most_recent_instance and instances without a location.
    let mut reopened = created_json.clone();
    reopened["action"] = json!("reopened");
    reopened["alert"]["instances"] = json!([{"ref": "refs/heads/main", "state": "open"}]);

    let created = parse(&created, None).unwrap();
    let fixed = parse(&fixed, None).unwrap();
    let reopened = parse_json(&reopened, None).unwrap();

    let (created, fixed, reopened) = (only(&created).1, only(&fixed).1, only(&reopened).1);
    assert_eq!(created.fingerprint, fixed.fingerprint);
    assert_eq!(created.fingerprint, reopened.fingerprint);
    assert_eq!(
        [created.reported, fixed.reported, reopened.reported],
        [Reported::Open, Reported::Resolved, Reported::Open]
    );
}

#[test]
fn another_alert_number_is_another_finding() {
    let Some((bytes, mut json)) = sample_json("github_code_scanning_alert_created.payload.json") else {
        return;
    };
    json["alert"]["number"] = json!(11);
    let first = parse(&bytes, None).unwrap();
    let second = parse_json(&json, None).unwrap();
    assert_ne!(only(&first).1.fingerprint, only(&second).1.fingerprint);
}

#[test]
fn dismissed_alert_is_resolved_with_the_reason_and_comment() {
    let Some((_, mut json)) = sample_json("github_code_scanning_alert_created.payload.json") else {
        return;
    };
    json["action"] = json!("dismissed");
    json["alert"]["state"] = json!("dismissed");
    json["alert"]["dismissed_reason"] = json!("false positive");
    json["alert"]["dismissed_comment"] = json!("input is a constant");
    let report = parse_json(&json, Some("code_scanning_alert")).unwrap();
    let detection = only(&report).1;
    assert_eq!(detection.reported, Reported::Resolved);
    assert_eq!(detection.reason.as_deref(), Some("false positive: input is a constant"));
}

#[test]
fn unknown_action_falls_back_to_the_alert_state() {
    let Some((_, mut json)) = sample_json("github_dependabot_alert_created.payload.json") else {
        return;
    };
    json["action"] = json!("assignees_changed");
    json["alert"]["state"] = json!("auto_dismissed");
    let report = parse_json(&json, None).unwrap();
    let detection = only(&report).1;
    assert_eq!(detection.reported, Reported::Resolved);
    assert_eq!(detection.reason.as_deref(), Some("auto_dismissed"));

    json["alert"]["state"] = json!("open");
    let report = parse_json(&json, None).unwrap();
    assert_eq!(only(&report).1.reported, Reported::Open);
}

#[test]
fn asset_is_the_repository_as_sarif_names_it() {
    let Some((bytes, json)) = sample_json("github_code_scanning_alert_created.payload.json") else {
        return;
    };
    let html_url = json["repository"]["html_url"].as_str().unwrap();
    let sarif = json!({
        "version": "2.1.0",
        "runs": [{
            "tool": {"driver": {"name": "CodeQL"}},
            "versionControlProvenance": [{"repositoryUri": format!("{html_url}.git")}],
            "results": []
        }]
    });
    let sarif = parse_report(
        &serde_json::to_vec(&sarif).unwrap(),
        Some(Format::Sarif),
        &support::ctx(),
    )
    .unwrap();
    let github = parse(&bytes, None).unwrap();
    assert_eq!(only(&github).0.asset, sarif.scans[0].asset);
}

#[test]
fn dependabot_alert_is_a_package_finding_shared_with_other_dependency_scanners() {
    let Some((bytes, json)) = sample_json("github_dependabot_alert_created.payload.json") else {
        return;
    };
    let report = parse(&bytes, None).unwrap();
    let (scan, detection) = only(&report);
    let advisory = &json["alert"]["security_advisory"];
    let ghsa = advisory["ghsa_id"].as_str().unwrap();
    let cve = advisory["cve_id"].as_str().unwrap();
    let package = json["alert"]["dependency"]["package"]["name"].as_str().unwrap();

    assert_eq!(scan.tool.name, "Dependabot");
    assert_eq!(scan.asset, asset("github.com/wolfy1339/pika-pack"));
    assert_eq!(detection.kind, FindingKind::Dependency);
    assert_eq!(detection.fingerprint, package_fingerprint(cve, package, &scan.asset));
    assert!(detection.vuln_ids.iter().any(|id| id == cve) && detection.vuln_ids.iter().any(|id| id == ghsa));
    assert_eq!(detection.title, advisory["summary"].as_str().unwrap());
    assert_eq!(detection.severity, Severity::Medium);
    let Location::Package(location) = &detection.location else {
        panic!("a package location: {:?}", detection.location)
    };
    assert_eq!(location.name, package);
    assert_eq!(
        location.fixed_version.as_deref(),
        json["alert"]["security_vulnerability"]["first_patched_version"]["identifier"].as_str()
    );
    assert_eq!(
        location.path.as_deref(),
        json["alert"]["dependency"]["manifest_path"].as_str()
    );
    assert_eq!(detection.cvss.len(), 1);
    assert_eq!(
        detection.cvss[0].score,
        advisory["cvss"]["score"].as_f64().unwrap() as f32
    );
    assert_eq!(
        detection.cvss[0].vector.as_deref(),
        advisory["cvss"]["vector_string"].as_str()
    );
    assert!(
        detection.evidence.contains(&"vulnerable range: < 7.5.2".to_owned()),
        "{:?}",
        detection.evidence
    );
}

#[test]
fn dependabot_cvss_severities_and_epss_are_kept() {
    let Some((_, mut json)) = sample_json("github_dependabot_alert_created.payload.json") else {
        return;
    };
    json["alert"]["security_advisory"]["cvss_severities"] = json!({
        "cvss_v3": {"vector_string": "CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:N/I:N/A:L", "score": 5.3},
        "cvss_v4": {"vector_string": "CVSS:4.0/AV:N/AC:L/AT:N/PR:N/UI:N/VC:N/VI:N/VA:L/SC:N/SI:N/SA:N", "score": 6.9}
    });
    json["alert"]["security_advisory"]["epss"] = json!([{"percentage": 0.00045, "percentile": "0.16001e0"}]);
    let report = parse_json(&json, None).unwrap();
    let detection = only(&report).1;
    let versions: Vec<_> = detection.cvss.iter().map(|c| c.version.as_deref()).collect();
    assert_eq!(versions, [Some("3.1"), Some("4.0")], "the v3 rating is listed once");
    let epss = detection.epss.expect("EPSS is kept");
    assert!((epss.probability - 0.00045).abs() < 1e-7 && (epss.percentile - 0.16001).abs() < 1e-6);
}

#[test]
fn legacy_vulnerability_alert_and_dependabot_alert_are_one_finding() {
    let Some((bytes, json)) = sample_json("github_repository_vulnerability_alert_create.payload.json") else {
        return;
    };
    let Some((_, mut dependabot)) = sample_json("github_dependabot_alert_created.payload.json") else {
        return;
    };
    let alert = &json["alert"];
    // The same advisory and package reported by the newer event, in the same repository.
    dependabot["repository"] = json["repository"].clone();
    dependabot["alert"]["dependency"]["package"]["name"] = alert["affected_package_name"].clone();
    dependabot["alert"]["security_advisory"]["ghsa_id"] = alert["ghsa_id"].clone();
    dependabot["alert"]["security_advisory"]["cve_id"] = alert["external_identifier"].clone();

    let legacy = parse(&bytes, None).unwrap();
    let current = parse_json(&dependabot, None).unwrap();
    let (scan, legacy) = only(&legacy);
    assert_eq!(scan.tool.name, "Dependabot");
    assert_eq!(legacy.kind, FindingKind::Dependency);
    assert_eq!(legacy.severity, Severity::Medium, "\"moderate\"");
    assert_eq!(legacy.fingerprint, only(&current).1.fingerprint);
    assert_eq!(
        legacy.fingerprint,
        package_fingerprint(
            alert["external_identifier"].as_str().unwrap(),
            alert["affected_package_name"].as_str().unwrap(),
            &scan.asset
        )
    );
}

#[test]
fn secret_scanning_alert_is_a_high_secret_finding_that_never_keeps_the_secret() {
    let Some((bytes, mut json)) = sample_json("github_secret_scanning_alert_reopened.payload.json") else {
        return;
    };
    let report = parse(&bytes, None).unwrap();
    let (scan, detection) = only(&report);
    assert_eq!(scan.tool.name, "GitHub secret scanning");
    assert_eq!(detection.kind, FindingKind::Secret);
    assert_eq!(detection.severity, Severity::High);
    assert_eq!(detection.rule_id.as_deref(), json["alert"]["secret_type"].as_str());
    assert_eq!(detection.reported, Reported::Open);

    // GIVEN the same alert carrying the leaked value, as real deliveries do
    let secret = "aio_SuperSecretValue1234567890";
    json["alert"]["secret"] = json!(secret);
    json["alert"]["secret_type_display_name"] = json!("Adafruit IO Key");
    json["action"] = json!("resolved");
    json["alert"]["resolution"] = json!("revoked");
    let report = parse_json(&json, Some("secret_scanning_alert")).unwrap();
    let detection = only(&report).1;
    // THEN nothing of it is kept, and the resolution is the reason
    assert!(!format!("{:?}", report.scans).contains(secret));
    assert_eq!(detection.title, "Adafruit IO Key");
    assert_eq!(detection.reported, Reported::Resolved);
    assert_eq!(detection.reason.as_deref(), Some("revoked"));
}

#[test]
fn byte_order_mark_is_ignored() {
    let Some((bytes, _)) = sample_json("github_code_scanning_alert_fixed.payload.json") else {
        return;
    };
    let mut with_bom = b"\xEF\xBB\xBF".to_vec();
    with_bom.extend_from_slice(&bytes);
    assert_eq!(
        parse(&with_bom, None).unwrap().scans,
        parse(&bytes, None).unwrap().scans
    );
}

#[test]
fn truncated_delivery_is_a_syntax_error() {
    let Some((bytes, _)) = sample_json("github_code_scanning_alert_created.payload.json") else {
        return;
    };
    let error = parse(&bytes[..bytes.len() / 2], Some("code_scanning_alert")).unwrap_err();
    assert!(
        matches!(error, ParseError::Syntax { format: "github", .. }),
        "{error:?}"
    );
}

#[test]
fn wrong_types_are_syntax_errors() {
    for payload in [
        json!({"action": "created", "alert": {"number": "ten", "rule": {"id": "x"}, "tool": {"name": "t"}}}),
        json!({"action": "created", "alert": {"number": 1, "rule": "x", "tool": {"name": "t"}}}),
        json!({"action": 5, "alert": {}}),
    ] {
        let error = parse_json(&payload, Some("code_scanning_alert")).unwrap_err();
        assert!(
            matches!(error, ParseError::Syntax { format: "github", .. }),
            "{payload}: {error:?}"
        );
    }
}

#[test]
fn unsupported_or_unrecognizable_events_are_schema_errors() {
    let alert =
        json!({"action": "created", "alert": {"number": 1}, "repository": {"html_url": "https://github.com/o/r"}});
    for (event, expected) in [
        (Some("issues"), "\"issues\""),
        (Some("push"), "\"push\""),
        (None, "X-GitHub-Event"),
    ] {
        let error = parse_json(&alert, event).unwrap_err();
        let ParseError::Schema { message, .. } = &error else {
            panic!("{event:?}: {error:?}")
        };
        assert!(message.contains(expected), "{event:?}: {message}");
    }
    // A named alert event without the fields it needs names what is missing.
    let error = parse_json(&alert, Some("code_scanning_alert")).unwrap_err();
    assert!(
        matches!(&error, ParseError::Schema { message, .. } if message.contains("rule.id")),
        "{error:?}"
    );
}

#[test]
fn alert_without_repository_falls_back_to_the_default_asset() {
    let payload = json!({
        "action": "created",
        "alert": {"number": 3, "secret_type": "github_pat"}
    });
    let ctx = ParseContext::for_source(muster_core::SourceName::parse("hooks").unwrap());
    let report = parse_report(&serde_json::to_vec(&payload).unwrap(), Some(Format::Github), &ctx).unwrap();
    assert_eq!(only(&report).0.asset, ctx.default_asset);
}
