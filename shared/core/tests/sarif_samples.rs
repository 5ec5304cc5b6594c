//! The SARIF parser against the real reports in `shared/samples/sarif/` and against broken
//! input. Expected values are computed independently from the same bytes with `serde_json`.

mod support;

use muster_core::formats::{Format, ParseContext, ParseError, parse_report};
use muster_core::{Detection, FindingKind, Report, Reported, Severity, SourceName};
use serde_json::Value;

fn sarif_samples() -> Option<Vec<(String, Vec<u8>)>> {
    support::sample_files("sarif")
}

fn ctx() -> ParseContext {
    support::ctx()
}

fn parse(bytes: &[u8]) -> Result<Report, ParseError> {
    parse_report(bytes, Some(Format::Sarif), &ctx())
}

fn sample(name: &str) -> Option<(Vec<u8>, Value)> {
    let bytes = std::fs::read(support::samples_dir()?.join("sarif").join(name)).ok()?;
    let json = serde_json::from_slice(&bytes).expect("sample is JSON");
    Some((bytes, json))
}

fn results(run: &Value) -> &[Value] {
    run["results"].as_array().map_or(&[], Vec::as_slice)
}

/// The rule a result points at: `ruleIndex` into the driver's rules, else by `ruleId`.
fn rule_of<'a>(run: &'a Value, result: &Value) -> Option<&'a Value> {
    let rules = run["tool"]["driver"]["rules"].as_array()?;
    if let Some(index) = result["ruleIndex"].as_u64() {
        return rules.get(index as usize);
    }
    let id = result["ruleId"].as_str()?;
    rules.iter().find(|rule| rule["id"].as_str() == Some(id))
}

fn security_severity(properties: &Value) -> Option<f64> {
    match &properties["security-severity"] {
        Value::Number(n) => n.as_f64(),
        Value::String(s) => s.trim().parse().ok(),
        _ => None,
    }
}

fn level(text: Option<&str>) -> Option<Severity> {
    match text? {
        "error" => Some(Severity::High),
        "warning" => Some(Severity::Medium),
        "note" => Some(Severity::Low),
        "none" => Some(Severity::Info),
        _ => None,
    }
}

/// SARIF's precedence: `security-severity` (result, then rule), then `level` (result, then
/// the rule's default configuration), else `warning`.
fn expected_severity(run: &Value, result: &Value) -> Severity {
    let rule = rule_of(run, result);
    security_severity(&result["properties"])
        .or_else(|| rule.and_then(|r| security_severity(&r["properties"])))
        .map(Severity::from_cvss)
        .or_else(|| level(result["level"].as_str()))
        .or_else(|| rule.and_then(|r| level(r["defaultConfiguration"]["level"].as_str())))
        .unwrap_or(Severity::Medium)
}

/// SARIF §3.35.3: a suppression without a status is accepted.
fn expected_suppressed(result: &Value) -> bool {
    result["suppressions"].as_array().is_some_and(|list| {
        list.iter()
            .any(|s| s["status"].as_str().is_none_or(|status| status == "accepted"))
    })
}

#[test]
fn every_sarif_sample_yields_one_detection_per_result() {
    let Some(samples) = sarif_samples() else { return };
    for (name, bytes) in &samples {
        // GIVEN the result count as a plain JSON reader sees it
        let json: Value = serde_json::from_slice(bytes).expect("sample is JSON");
        let runs = json["runs"].as_array().expect("runs");
        let expected: usize = runs.iter().map(|run| results(run).len()).sum();

        // WHEN muster parses the report
        let report = parse(bytes).unwrap_or_else(|e| panic!("{name}: {e}"));

        // THEN there is one scan per run and one detection per result, in order
        assert_eq!(report.format, Format::Sarif);
        assert_eq!(report.detection_count(), expected, "{name}: detections");
        assert_eq!(report.scans.len(), runs.len(), "{name}: scans");
        for (run_index, (run, scan)) in runs.iter().zip(&report.scans).enumerate() {
            assert_eq!(
                scan.tool.name,
                run["tool"]["driver"]["name"].as_str().unwrap().trim(),
                "{name}: runs[{run_index}] tool"
            );
            assert_eq!(scan.detections.len(), results(run).len(), "{name}: runs[{run_index}]");
            for (index, (result, detection)) in results(run).iter().zip(&scan.detections).enumerate() {
                let at = format!("{name}: runs[{run_index}].results[{index}]");
                assert!(!detection.title.trim().is_empty(), "{at}: empty title");
                assert_eq!(detection.severity, expected_severity(run, result), "{at}: severity");
                assert_eq!(
                    detection.reported == Reported::Suppressed,
                    expected_suppressed(result),
                    "{at}: suppressed"
                );
                if let Some(rule_id) = result["ruleId"].as_str() {
                    assert_eq!(detection.rule_id.as_deref(), Some(rule_id), "{at}: rule id");
                }
            }
        }
    }
}

#[test]
fn fingerprints_are_stable_across_parses() {
    let Some(samples) = sarif_samples() else { return };
    let fingerprints = |report: &Report| -> Vec<_> {
        report
            .scans
            .iter()
            .flat_map(|s| s.detections.iter().map(|d| d.fingerprint))
            .collect()
    };
    for (name, bytes) in &samples {
        let first = parse(bytes).unwrap_or_else(|e| panic!("{name}: {e}"));
        let second = parse(&bytes.clone()).unwrap_or_else(|e| panic!("{name}: {e}"));
        assert_eq!(fingerprints(&first), fingerprints(&second), "{name}");
        assert_eq!(first.scans, second.scans, "{name}: whole scans");
    }
}

#[test]
fn accepted_suppressions_mark_detections_suppressed() {
    let Some((bytes, json)) = sample("sarif-spec_suppression_test.sarif") else {
        println!("skipped: samples not found (set MUSTER_SAMPLES)");
        return;
    };
    let expected = json["runs"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(results)
        .filter(|r| expected_suppressed(r))
        .count();
    let report = parse(&bytes).unwrap();
    let suppressed: Vec<&Detection> = report
        .scans
        .iter()
        .flat_map(|s| &s.detections)
        .filter(|d| d.reported == Reported::Suppressed)
        .collect();
    assert_eq!(expected, 3);
    assert_eq!(suppressed.len(), 3);
    assert!(suppressed.iter().all(|d| d.title == "Suppressed"));
}

#[test]
fn codeql_sample_takes_tool_and_rule_severity() {
    let Some((bytes, json)) = sample("codeql_codeQL-output.sarif") else {
        println!("skipped: samples not found (set MUSTER_SAMPLES)");
        return;
    };
    let report = parse(&bytes).unwrap();
    let run = &json["runs"][0];
    let scan = &report.scans[0];
    assert_eq!(scan.tool.name, "CodeQL");
    assert_eq!(scan.tool.version.as_deref(), Some("2.5.4"));
    assert_eq!(scan.detections.len(), 72);
    for (result, detection) in results(run).iter().zip(&scan.detections) {
        let rule = rule_of(run, result).expect("every CodeQL result names a rule");
        // `security-severity` decides where the rule carries it, else the default level.
        let expected = match security_severity(&rule["properties"]) {
            Some(score) => Severity::from_cvss(score),
            None => level(rule["defaultConfiguration"]["level"].as_str()).unwrap(),
        };
        assert_eq!(detection.severity, expected, "{}", result["ruleId"]);
        assert_eq!(detection.kind, FindingKind::Code);
        assert_eq!(
            detection.description.as_deref(),
            rule["shortDescription"]["text"].as_str(),
        );
        assert!(matches!(detection.location, muster_core::Location::Source { .. }));
    }
}

#[test]
fn security_severity_of_rules_maps_through_cvss_table() {
    // The CodeQL sample's rules predate `security-severity`; Grype's carry it on every rule.
    let Some((bytes, json)) = sample("grype_cxf-3.4.6.sarif") else {
        println!("skipped: samples not found (set MUSTER_SAMPLES)");
        return;
    };
    let report = parse(&bytes).unwrap();
    let run = &json["runs"][0];
    let mut checked = 0;
    for (result, detection) in results(run).iter().zip(&report.scans[0].detections) {
        let score = security_severity(&rule_of(run, result).unwrap()["properties"]).unwrap();
        assert_eq!(detection.severity, Severity::from_cvss(score));
        checked += 1;
    }
    assert_eq!(checked, 22);
}

#[test]
fn trivy_sample_gives_dependency_detections_with_cve_ids() {
    let Some((bytes, _)) = sample("trivy_alpine-310.sarif") else {
        println!("skipped: samples not found (set MUSTER_SAMPLES)");
        return;
    };
    let report = parse(&bytes).unwrap();
    let scan = &report.scans[0];
    assert_eq!(scan.tool.name, "Trivy");
    assert_eq!(scan.detections.len(), 4);
    for detection in &scan.detections {
        assert_eq!(detection.kind, FindingKind::Dependency);
        assert_eq!(detection.vuln_ids.len(), 1);
        assert!(detection.vuln_ids[0].starts_with("CVE-"), "{:?}", detection.vuln_ids);
        assert_eq!(detection.rule_id.as_deref(), Some(detection.vuln_ids[0].as_str()));
        // Both rules carry security-severity 5.3 / 7.5 or similar; none is Info.
        assert!(detection.severity >= Severity::Medium);
    }
}

#[test]
fn gitleaks_sample_is_secrets() {
    let Some((bytes, _)) = sample("gitleaks_gitleaks_7.5.0.sarif") else {
        println!("skipped: samples not found (set MUSTER_SAMPLES)");
        return;
    };
    let report = parse(&bytes).unwrap();
    assert!(report.scans[0].detections.iter().all(|d| d.kind == FindingKind::Secret));
}

// ---- broken input -------------------------------------------------------------------------

const SMALL: &str = r#"{
  "version": "2.1.0",
  "runs": [
    {
      "tool": { "driver": { "name": "demo", "rules": [ { "id": "r1" } ] } },
      "results": [
        { "ruleId": "r1", "message": { "text": "first" } },
        { "ruleId": "r1", "message": { "text": "second" } },
        { "ruleId": "r1", "message": { "text": "third" } }
      ]
    }
  ]
}
"#;

fn syntax(error: ParseError) -> (usize, usize, usize, Option<String>) {
    match error {
        ParseError::Syntax {
            format,
            offset,
            line,
            column,
            item,
            message,
        } => {
            assert_eq!(format, "sarif");
            assert!(!message.is_empty());
            (offset, line, column, item)
        }
        other => panic!("expected a syntax error, got {other:?}"),
    }
}

/// One-based line of a byte offset, counted here independently of the parser.
fn line_at(text: &str, offset: usize) -> usize {
    text[..offset].matches('\n').count() + 1
}

#[test]
fn small_log_parses() {
    let report = parse(SMALL.as_bytes()).unwrap();
    assert_eq!(report.detection_count(), 3);
}

#[test]
fn truncated_log_is_a_syntax_error_at_its_end() {
    // GIVEN the log cut in the middle of the second result
    let cut = SMALL.find("\"second\"").unwrap() + 4;
    let truncated = &SMALL[..cut];

    // WHEN it is parsed
    let error = parse(truncated.as_bytes()).unwrap_err();
    assert_eq!(error.code(), "malformed_report");
    let (offset, line, column, _) = syntax(error.clone());

    // THEN the position is the end of what was received
    assert!(offset <= truncated.len(), "{error}");
    assert_eq!(line, line_at(truncated, truncated.len()), "{error}");
    assert!(column >= 1, "{error}");
    assert!(error.to_string().contains(&format!("line {line}")), "{error}");
}

#[test]
fn truncated_file_of_a_real_sample_reports_a_position_inside_it() {
    let Some((bytes, _)) = sample("codeql_codeQL-output.sarif") else {
        println!("skipped: samples not found (set MUSTER_SAMPLES)");
        return;
    };
    let truncated = &bytes[..bytes.len() / 2];
    let text = String::from_utf8_lossy(truncated);
    let (offset, line, _, _) = syntax(parse(truncated).unwrap_err());
    assert!(offset <= truncated.len());
    assert!(line > 1 && line <= text.lines().count() + 1, "line {line}");
}

#[test]
fn broken_result_in_the_middle_reports_its_line() {
    // GIVEN the second result lost its value and its closing brace
    let broken = SMALL.replace(
        r#"{ "ruleId": "r1", "message": { "text": "second" } },"#,
        r#"{ "ruleId": "r1", "message": { "text": "second" }, "level": },"#,
    );
    let expected_line = line_at(&broken, broken.find("\"level\": }").unwrap());

    // WHEN it is parsed
    let error = parse(broken.as_bytes()).unwrap_err();
    let (offset, line, column, _) = syntax(error.clone());

    // THEN the error points at that result's line, at the bad value
    assert_eq!(line, expected_line, "{error}");
    assert_eq!(line_at(&broken, offset), line);
    let line_text = broken.lines().nth(line - 1).unwrap();
    assert!(column > line_text.find("\"level\"").unwrap(), "{error}");
}

#[test]
fn truncated_result_in_the_middle_reports_its_line() {
    // GIVEN the second result was cut short: its object never closes
    let broken = SMALL.replace(
        r#"{ "ruleId": "r1", "message": { "text": "second" } },"#,
        r#"{ "ruleId": "r1", "message": { "text": "sec"#,
    );
    let truncated_line = line_at(&broken, broken.find("\"sec").unwrap());

    // WHEN it is parsed
    let error = parse(broken.as_bytes()).unwrap_err();
    let (_, line, _, _) = syntax(error.clone());

    // THEN the error is on that line or where the next result begins
    assert!(
        line == truncated_line || line == truncated_line + 1,
        "expected line {truncated_line} or the next, got {error}"
    );
}

#[test]
fn wrong_type_inside_a_result_names_the_result() {
    // GIVEN a structurally valid log whose third result has a string start line
    let broken = SMALL.replace(
        r#"{ "ruleId": "r1", "message": { "text": "third" } }"#,
        r#"{ "ruleId": "r1", "message": { "text": "third" }, "locations": [ { "physicalLocation": { "region": { "startLine": "x" } } } ] }"#,
    );
    let expected_line = line_at(&broken, broken.find("\"third\"").unwrap());

    let error = parse(broken.as_bytes()).unwrap_err();
    let (_, line, _, item) = syntax(error.clone());

    assert_eq!(line, expected_line, "{error}");
    assert_eq!(item.as_deref(), Some("runs[0].results[2]"), "{error}");
}

#[test]
fn log_without_runs_is_a_schema_error() {
    let error = parse(br#"{"version": "2.1.0"}"#).unwrap_err();
    assert!(matches!(error, ParseError::Schema { format: "sarif", .. }), "{error:?}");
    assert_eq!(error.code(), "invalid_report");
    assert!(error.to_string().contains("runs"), "{error}");
}

#[test]
fn empty_report_is_refused() {
    assert_eq!(parse(b"  \n").unwrap_err(), ParseError::Empty);
}

#[test]
fn detect_recognizes_sarif() {
    assert_eq!(Format::detect(SMALL.as_bytes()).unwrap(), Format::Sarif);
    let auto = parse_report(SMALL.as_bytes(), None, &ctx()).unwrap();
    assert_eq!(auto.format, Format::Sarif);
    if let Some(samples) = sarif_samples() {
        for (name, bytes) in &samples {
            assert_eq!(Format::detect(bytes).ok(), Some(Format::Sarif), "{name}");
        }
    }
}

#[test]
fn detect_refuses_an_empty_object_naming_what_it_tried() {
    let error = Format::detect(b"{}").unwrap_err();
    match &error {
        ParseError::UnknownFormat { tried } => {
            for format in Format::ALL {
                assert!(tried.contains(format.as_str()), "{tried}");
            }
        }
        other => panic!("expected UnknownFormat, got {other:?}"),
    }
    assert!(error.to_string().contains("sarif"), "{error}");
    assert_eq!(
        parse_report(b"{}", None, &ctx()).unwrap_err().code(),
        "unrecognized_report"
    );
}

// ---- rules the samples do not exercise ----------------------------------------------------

/// A one-run log with the given driver rules, extensions and results (JSON fragments).
fn run_log(rules: &str, extensions: &str, results: &str) -> String {
    format!(
        r#"{{ "version": "2.1.0", "runs": [ {{
             "tool": {{ "driver": {{ "name": "demo", "rules": [ {rules} ] }}, "extensions": [ {extensions} ] }},
             "results": [ {results} ] }} ] }}"#
    )
}

fn only_detection(log: &str) -> Detection {
    let report = parse(log.as_bytes()).unwrap_or_else(|e| panic!("{e}\n{log}"));
    assert_eq!(report.detection_count(), 1);
    report.scans[0].detections[0].clone()
}

#[test]
fn tool_component_index_points_into_extensions() {
    // GIVEN a rule defined only by the first extension, referenced as SARIF §3.54.5 says
    let log = run_log(
        r#"{ "id": "driver/rule", "shortDescription": { "text": "driver rule" } }"#,
        r#"{ "name": "pack", "rules": [ { "id": "pack/rule", "shortDescription": { "text": "pack rule" },
              "defaultConfiguration": { "level": "note" } } ] }"#,
        r#"{ "message": { "text": "m" }, "rule": { "id": "pack/rule", "index": 0, "toolComponent": { "index": 0 } } }"#,
    );
    // WHEN it is parsed
    let detection = only_detection(&log);
    // THEN the extension's rule is used, not the driver's rule 0
    assert_eq!(detection.rule_id.as_deref(), Some("pack/rule"));
    assert_eq!(detection.description.as_deref(), Some("pack rule"));
    assert_eq!(detection.severity, Severity::Low);
}

#[test]
fn tool_component_name_selects_the_component() {
    let log = run_log(
        r#"{ "id": "a" }"#,
        r#"{ "name": "pack", "rules": [ { "id": "b", "shortDescription": { "text": "from pack" } } ] }"#,
        r#"{ "message": { "text": "m" }, "rule": { "index": 0, "toolComponent": { "name": "pack" } } }"#,
    );
    assert_eq!(only_detection(&log).description.as_deref(), Some("from pack"));
}

#[test]
fn result_that_is_not_a_failure_defaults_to_info() {
    // SARIF §3.27.10: without a level, kind "pass" (or review, informational, …) means "none".
    let rules = r#"{ "id": "r", "defaultConfiguration": { "level": "error" } }"#;
    let pass = run_log(
        rules,
        "",
        r#"{ "ruleId": "r", "kind": "pass", "message": { "text": "ok" } }"#,
    );
    let fail = run_log(
        rules,
        "",
        r#"{ "ruleId": "r", "kind": "fail", "message": { "text": "bad" } }"#,
    );
    assert_eq!(only_detection(&pass).severity, Severity::Info);
    assert_eq!(only_detection(&fail).severity, Severity::High);
}

#[test]
fn message_arguments_are_substituted_once() {
    let log = run_log(
        r#"{ "id": "r", "messageStrings": { "default": { "text": "{0} flows to {1} ({2})" } } }"#,
        "",
        r#"{ "ruleId": "r", "message": { "id": "default", "arguments": ["input {1}", "eval", "{9}"] } }"#,
    );
    assert_eq!(only_detection(&log).title, "input {1} flows to eval ({9})");
}

#[test]
fn escaped_strings_are_decoded() {
    let log = run_log(
        r#"{ "id": "r" }"#,
        "",
        r#"{ "ruleId": "r", "message": { "text": "say \"hi\" \u00e9\ud83d\ude00 a\/b\\" },
             "locations": [ { "physicalLocation": { "artifactLocation": { "uri": "src\/a b.js" } } } ] }"#,
    );
    let detection = only_detection(&log);
    assert_eq!(detection.title, "say \"hi\" é😀 a/b\\");
    assert_eq!(detection.location.to_string(), "src/a b.js");
}

#[test]
fn escaped_and_plain_snippets_fingerprint_alike() {
    // The same code written with and without escapes is the same anchor.
    let result = |snippet: &str| {
        format!(
            r#"{{ "ruleId": "r", "message": {{ "text": "m" }}, "locations": [ {{ "physicalLocation": {{
                 "artifactLocation": {{ "uri": "a.js" }}, "region": {{ "startLine": 3, "snippet": {{ "text": "{snippet}" }} }} }} }} ] }}"#
        )
    };
    let plain = only_detection(&run_log(r#"{ "id": "r" }"#, "", &result("eval(x) ")));
    let escaped = only_detection(&run_log(r#"{ "id": "r" }"#, "", &result(r"eval\u0028x)\n")));
    assert_eq!(plain.fingerprint, escaped.fingerprint);
}

#[test]
fn invalid_escape_inside_a_result_is_a_syntax_error_naming_it() {
    let log = run_log(
        r#"{ "id": "r" }"#,
        "",
        r#"{ "ruleId": "r", "message": { "text": "bad \uZZZZ" } }"#,
    );
    let (_, _, _, item) = syntax(parse(log.as_bytes()).unwrap_err());
    assert_eq!(item.as_deref(), Some("runs[0].results[0]"));
}

#[test]
fn byte_order_mark_is_ignored() {
    let with_bom = [b"\xEF\xBB\xBF".as_slice(), SMALL.as_bytes()].concat();
    assert_eq!(parse(&with_bom).unwrap().detection_count(), 3);

    // Positions still count from the start of the file.
    let broken = [b"\xEF\xBB\xBF".as_slice(), b"{\n  \"runs\": [ x ]\n}"].concat();
    let (offset, line, _, _) = syntax(parse(&broken).unwrap_err());
    assert_eq!(line, 2);
    assert_eq!(broken[offset], b'x');
}

#[test]
fn repository_with_at_sign_in_its_path_keeps_its_host() {
    let log = SMALL.replace(
        r#""tool": {"#,
        r#""versionControlProvenance": [ { "repositoryUri": "https://git.example.com/team/@scope/repo.git" } ], "tool": {"#,
    );
    let report = parse(log.as_bytes()).unwrap();
    assert_eq!(report.scans[0].asset.as_str(), "git.example.com/team/@scope/repo");

    let ssh = SMALL.replace(
        r#""tool": {"#,
        r#""versionControlProvenance": [ { "repositoryUri": "git@github.com:Acme/Shop.git" } ], "tool": {"#,
    );
    assert_eq!(
        parse(ssh.as_bytes()).unwrap().scans[0].asset.as_str(),
        "github.com/Acme/Shop"
    );
}

#[test]
fn null_members_read_as_absent() {
    let log = run_log(
        r#"{ "id": "r" }"#,
        "",
        r#"{ "ruleId": "r", "ruleIndex": null, "level": null, "message": { "text": "m", "arguments": null },
             "locations": null, "partialFingerprints": null, "suppressions": null, "properties": null, "fixes": null }"#,
    );
    let detection = only_detection(&log);
    assert_eq!(detection.title, "m");
    assert_eq!(detection.severity, Severity::Medium);
    assert_eq!(detection.reported, Reported::Open);
}

#[test]
fn suppression_status_decides() {
    let result = |suppressions: &str| {
        run_log(
            r#"{ "id": "r" }"#,
            "",
            &format!(r#"{{ "ruleId": "r", "message": {{ "text": "m" }}, "suppressions": {suppressions} }}"#),
        )
    };
    assert_eq!(
        only_detection(&result(r#"[ { "kind": "inSource" } ]"#)).reported,
        Reported::Suppressed
    );
    assert_eq!(
        only_detection(&result(r#"[ { "status": "accepted" } ]"#)).reported,
        Reported::Suppressed
    );
    assert_eq!(
        only_detection(&result(r#"[ { "status": "underReview" } ]"#)).reported,
        Reported::Open
    );
    assert_eq!(
        only_detection(&result(r#"[ { "status": "rejected" } ]"#)).reported,
        Reported::Open
    );
    assert_eq!(
        only_detection(&result(r#"[ { "status": "rejected" }, { "status": null } ]"#)).reported,
        Reported::Suppressed
    );
    assert_eq!(only_detection(&result("[]")).reported, Reported::Open);
}

#[test]
fn first_fix_with_a_description_is_kept() {
    let log = run_log(
        r#"{ "id": "r" }"#,
        "",
        r#"{ "ruleId": "r", "message": { "text": "m" }, "fixes": [ { "artifactChanges": [] },
             { "description": { "text": "  " } }, { "description": { "markdown": "Upgrade to 2.0" } } ] }"#,
    );
    assert_eq!(only_detection(&log).fix.as_deref(), Some("Upgrade to 2.0"));
}

#[test]
fn result_security_severity_beats_the_rules() {
    let log = run_log(
        r#"{ "id": "r", "properties": { "security-severity": "3.1" } }"#,
        "",
        r#"{ "ruleId": "r", "message": { "text": "m" }, "properties": { "security-severity": 9.8, "tags": [1] } }"#,
    );
    assert_eq!(only_detection(&log).severity, Severity::Critical);
}

#[test]
fn auto_detection_accepts_a_byte_order_mark() {
    let log = b"\xEF\xBB\xBF{\"version\":\"2.1.0\",\"runs\":[]}";
    assert_eq!(Format::detect(log).unwrap(), Format::Sarif);
}

#[test]
fn progress_moves_forward_and_ends_at_the_end_of_the_report() {
    let results: Vec<String> = (0..10_000)
        .map(|i| format!(r#"{{"ruleId":"r{}","message":{{"text":"hit {i}"}}}}"#, i % 7))
        .collect();
    let log = format!(
        r#"{{"version":"2.1.0","runs":[{{"tool":{{"driver":{{"name":"T"}}}},"results":[{}]}}]}}"#,
        results.join(",")
    );
    let ctx = ParseContext::for_source(SourceName::parse("ci").unwrap());
    let mut seen = Vec::new();
    let report =
        muster_core::formats::parse_report_with_progress(log.as_bytes(), None, &ctx, &mut |offset| seen.push(offset))
            .unwrap();

    assert_eq!(report.detection_count(), 10_000);
    assert!(
        seen.len() >= 3,
        "a 10k-result report reports progress more than once: {seen:?}"
    );
    assert!(seen.windows(2).all(|w| w[0] <= w[1]), "{seen:?}");
    assert_eq!(seen.last(), Some(&log.len()));
}
