//! The generated SARIF and Trivy reports are valid JSON, have the requested shape and parse in
//! muster.

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

#[test]
fn generated_trivy_report_has_the_requested_shape() {
    // GIVEN a small generated image report
    let bytes = muster_bench::generate_trivy(4_000, 5, 0.2, 7);

    // THEN it is a schema-2 image report with OS and language results holding 4 000 entries
    let json: Value = serde_json::from_slice(&bytes).expect("generated Trivy report is JSON");
    assert_eq!(json["SchemaVersion"], 2);
    assert_eq!(json["ArtifactType"], "container_image");
    let results = json["Results"].as_array().unwrap();
    assert_eq!(results.len(), 5);
    assert_eq!(results[0]["Class"], "os-pkgs");
    assert!(results[1..].iter().all(|r| r["Class"] == "lang-pkgs"));
    let entries: Vec<&Value> = results
        .iter()
        .flat_map(|r| r["Vulnerabilities"].as_array().unwrap())
        .collect();
    assert_eq!(entries.len(), 4_000);
    assert_eq!(results[0]["Vulnerabilities"].as_array().unwrap().len(), 2_000);

    // AND about a fifth repeat an advisory already reported in their result
    let mut seen = HashSet::new();
    let repeated = results
        .iter()
        .flat_map(|r| {
            let target = r["Target"].as_str().unwrap().to_owned();
            r["Vulnerabilities"]
                .as_array()
                .unwrap()
                .iter()
                .map(move |v| (target.clone(), v["VulnerabilityID"].as_str().unwrap().to_owned()))
        })
        .filter(|key| !seen.insert(key.clone()))
        .count();
    assert!((640..960).contains(&repeated), "{repeated} repeated advisories");
    // AND entries carry Trivy's field set, CVSS by source, and escaped descriptions
    assert!(
        entries
            .iter()
            .all(|v| v["PkgName"].is_string() && v["References"].is_array())
    );
    assert!(entries.iter().any(|v| v["CVSS"]["redhat"]["V3Score"].is_number()));
    assert!(entries.iter().any(|v| v["VendorIDs"].is_array()));
    let text = String::from_utf8(bytes.clone()).unwrap();
    assert!(text.contains("\\\"specially crafted\\\"") && text.contains("\\u003c") && text.contains("\\n\\n"));

    // AND muster reads every entry into one scan of the image
    let ctx = ParseContext::for_source(SourceName::parse("ci").unwrap());
    let report = parse_report(&bytes, Some(Format::Trivy), &ctx).unwrap();
    assert_eq!(report.detection_count(), 4_000);
    assert_eq!(report.scans.len(), 1);
    assert_eq!(Some(report.scans[0].asset.as_str()), json["ArtifactName"].as_str());
    let detections = &report.scans[0].detections;
    assert!(detections.iter().any(|d| d.severity == Severity::Critical));
    let rated = detections.iter().filter(|d| !d.cvss.is_empty()).count();
    assert!((3_200..3_800).contains(&rated), "{rated} with CVSS ratings");
    let distinct: HashSet<_> = detections.iter().map(|d| d.fingerprint).collect();
    assert!(
        distinct.len() < 4_000,
        "an advisory repeated for the same package shares its fingerprint"
    );
    assert_eq!(Format::detect(&bytes).ok(), Some(Format::Trivy));
}
