//! The generated SARIF is valid JSON, has the requested shape and parses in muster.

use std::collections::HashSet;

use muster_bench::generate_sarif;
use muster_core::formats::{Format, ParseContext, parse_report};
use muster_core::{Severity, SourceName};
use serde_json::Value;

#[test]
fn generated_sarif_has_the_requested_shape() {
    // GIVEN a small generated report
    let bytes = generate_sarif(5_000, 3, 40, 0.2, 7);

    // THEN it is JSON with 3 runs of 40 rules each and 5 000 results in all
    let json: Value = serde_json::from_slice(&bytes).expect("generated SARIF is JSON");
    assert_eq!(json["version"], "2.1.0");
    let runs = json["runs"].as_array().unwrap();
    assert_eq!(runs.len(), 3);
    let results: Vec<&Value> = runs.iter().flat_map(|r| r["results"].as_array().unwrap()).collect();
    assert_eq!(results.len(), 5_000);
    for run in runs {
        assert_eq!(run["tool"]["driver"]["rules"].as_array().unwrap().len(), 40);
        assert!(
            run["versionControlProvenance"][0]["repositoryUri"]
                .as_str()
                .unwrap()
                .starts_with("https://")
        );
    }

    // AND about a fifth are exact duplicates, about half carry partialFingerprints
    let mut seen = HashSet::new();
    let duplicates = results.iter().filter(|r| !seen.insert(r.to_string())).count();
    assert!((800..1200).contains(&duplicates), "{duplicates} duplicates");
    let with_partial = results
        .iter()
        .filter(|r| r.get("partialFingerprints").is_some())
        .count();
    assert!(
        (2200..2800).contains(&with_partial),
        "{with_partial} with partialFingerprints"
    );

    // AND muster reads every result, with rule severities and one asset per run
    let ctx = ParseContext::for_source(SourceName::parse("ci").unwrap());
    let report = parse_report(&bytes, Some(Format::Sarif), &ctx).unwrap();
    assert_eq!(report.detection_count(), 5_000);
    let assets: HashSet<_> = report.scans.iter().map(|s| s.asset.to_string()).collect();
    assert_eq!(assets.len(), 3);
    let detections = report.scans.iter().flat_map(|s| &s.detections);
    assert!(detections.clone().all(|d| !d.title.is_empty()));
    assert!(detections.clone().any(|d| d.severity == Severity::Critical));
    let distinct: HashSet<_> = detections.map(|d| d.fingerprint).collect();
    assert!(distinct.len() < 5_000 - 800, "duplicates share fingerprints");
}
