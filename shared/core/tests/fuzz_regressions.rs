//! Inputs that once broke a parser (found by `cargo fuzz` or by hand, kept in
//! `fuzz/regressions/`), replayed through every format on stable Rust: each must end in a
//! report or an error, never a panic or a crash.

use std::path::Path;

use muster_core::formats::{ParseContext, parse_report};
use muster_core::{Format, SourceName};

#[test]
fn every_regression_input_parses_or_fails_cleanly_in_every_format() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../fuzz/regressions");
    let mut files: Vec<_> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|entry| entry.unwrap().path())
        .collect();
    files.sort();
    assert!(!files.is_empty(), "no regression inputs in {}", dir.display());
    let ctx = ParseContext::for_source(SourceName::parse("fuzz").unwrap());
    for file in files {
        let bytes = std::fs::read(&file).unwrap();
        for format in Format::ALL.into_iter().map(Some).chain([None]) {
            // Reaching the next line at all is the assertion: no panic, no stack overflow.
            let outcome = parse_report(&bytes, format, &ctx);
            if let Err(error) = outcome {
                assert!(!error.to_string().is_empty(), "{}: {format:?}", file.display());
            }
        }
    }
}
