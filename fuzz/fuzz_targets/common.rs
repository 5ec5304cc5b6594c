//! The one fuzz body every parser target shares.

use muster_core::formats::{ParseContext, parse_report};
use muster_core::{Format, SourceName};

/// Parses `data` and checks what a good parse promises: every detection has a title, and
/// parsing is deterministic (the same bytes give the same fingerprints).
pub fn check(data: &[u8], format: Option<Format>) {
    let ctx = ParseContext::for_source(SourceName::parse("fuzz").expect("valid source name"));
    let Ok(first) = parse_report(data, format, &ctx) else {
        return;
    };
    let fingerprints = |report: &muster_core::Report| -> Vec<_> {
        report
            .scans
            .iter()
            .flat_map(|scan| scan.detections.iter().map(|d| d.fingerprint))
            .collect()
    };
    for scan in &first.scans {
        for detection in &scan.detections {
            assert!(!detection.title.is_empty(), "a detection without a title");
        }
    }
    let again = parse_report(data, format, &ctx).expect("the same bytes parse again");
    assert_eq!(fingerprints(&first), fingerprints(&again), "parsing is deterministic");
}

macro_rules! muster_fuzz_target {
    ($format:expr) => {
        libfuzzer_sys::fuzz_target!(|data: &[u8]| common::check(data, $format));
    };
}
