//! The KEV parser against the real CISA catalog in `shared/samples/kev/`: every expected value is
//! computed from the same file by `serde_json`, independently of the parser.

mod support;

use muster_core::intel::{KevCatalog, parse_kev};
use serde_json::Value;
use support::sample_json;

const KEV_FILE: &str = "known_exploited_vulnerabilities.json";

fn real_catalog() -> Option<(KevCatalog, Value)> {
    let (bytes, json) = sample_json("kev", KEV_FILE)?;
    let catalog = parse_kev(&bytes, KEV_FILE).unwrap_or_else(|e| panic!("the real catalog parses: {e}"));
    Some((catalog, json))
}

#[test]
fn real_kev_catalog_has_as_many_entries_as_its_own_count() {
    let Some((catalog, json)) = real_catalog() else { return };

    let count = json["count"].as_u64().expect("the catalog states its count");
    assert_eq!(catalog.entries.len() as u64, count);
    assert_eq!(catalog.version.as_deref(), json["catalogVersion"].as_str());
}

#[test]
fn real_kev_catalog_marks_exactly_the_known_ransomware_entries() {
    let Some((catalog, json)) = real_catalog() else { return };

    let expected = json["vulnerabilities"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|v| v["knownRansomwareCampaignUse"] == "Known")
        .count();
    assert!(expected > 0);
    assert_eq!(catalog.entries.iter().filter(|e| e.ransomware).count(), expected);
}

#[test]
fn real_kev_entries_keep_their_ids_names_and_dates() {
    let Some((catalog, json)) = real_catalog() else { return };

    let vulnerabilities = json["vulnerabilities"].as_array().unwrap();
    assert_eq!(
        catalog.entries.len(),
        vulnerabilities.len(),
        "the real catalog lists each CVE once"
    );
    for (entry, raw) in catalog.entries.iter().zip(vulnerabilities) {
        assert_eq!(entry.cve, raw["cveID"].as_str().unwrap());
        assert_eq!(entry.name, raw["vulnerabilityName"].as_str().unwrap());
        assert_eq!(entry.date_added.to_string(), raw["dateAdded"].as_str().unwrap());
        assert_eq!(
            entry.due_date.map(|d| d.to_string()).as_deref(),
            raw["dueDate"].as_str(),
            "{}",
            entry.cve
        );
    }
    let log4shell = catalog.entries.iter().find(|e| e.cve == "CVE-2021-44228").unwrap();
    assert!(log4shell.ransomware);
}
