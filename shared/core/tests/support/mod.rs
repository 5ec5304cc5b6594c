//! Finding the real samples in `shared/samples/` for the parser tests.
#![allow(dead_code)] // each test binary uses its own subset

use std::path::{Path, PathBuf};

use muster_core::formats::{Format, ParseContext, ParseError, parse_report};
use muster_core::{Detection, Location, PackageLocation, Report, SourceName};
use serde_json::Value;

/// The samples folder: `$MUSTER_SAMPLES`, else the first `shared/samples` found walking up from
/// this crate (the workspace's sibling `../shared/samples`).
pub fn samples_dir() -> Option<PathBuf> {
    if let Some(dir) = std::env::var_os("MUSTER_SAMPLES") {
        let dir = PathBuf::from(dir);
        return dir.is_dir().then_some(dir);
    }
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .ancestors()
        .map(|dir| dir.join("shared").join("samples"))
        .find(|dir| dir.join("sarif").is_dir())
}

/// Every file of one samples folder as (file name, bytes), sorted by name; `None` (and a
/// "skipped" line) when the samples are not there.
pub fn sample_files(folder: &str) -> Option<Vec<(String, Vec<u8>)>> {
    let Some(dir) = samples_dir() else {
        println!("skipped: samples not found (set MUSTER_SAMPLES)");
        return None;
    };
    let dir = dir.join(folder);
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{} is readable: {e}", dir.display()))
        .map(|entry| entry.expect("directory entry").path())
        .filter(|path| path.is_file())
        .collect();
    files.sort();
    assert!(!files.is_empty(), "no files in {}", dir.display());
    Some(
        files
            .into_iter()
            .map(|path| {
                let name = path.file_name().unwrap().to_string_lossy().into_owned();
                let bytes = std::fs::read(&path).expect("sample is readable");
                (name, bytes)
            })
            .collect(),
    )
}

/// One sample's bytes, or `None` (and a "skipped" line) when the samples are not there.
pub fn sample(folder: &str, name: &str) -> Option<Vec<u8>> {
    let Some(dir) = samples_dir() else {
        println!("skipped: samples not found (set MUSTER_SAMPLES)");
        return None;
    };
    let path = dir.join(folder).join(name);
    Some(std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display())))
}

/// One sample's bytes and the same bytes read by `serde_json`, to compute expected values
/// independently of the parser.
pub fn sample_json(folder: &str, name: &str) -> Option<(Vec<u8>, Value)> {
    let bytes = sample(folder, name)?;
    let json = serde_json::from_slice(&bytes).expect("sample is JSON");
    Some((bytes, json))
}

pub fn ctx() -> ParseContext {
    ParseContext::for_source(SourceName::parse("ci").unwrap())
}

pub fn parse_as(format: Format, bytes: &[u8]) -> Result<Report, ParseError> {
    parse_report(bytes, Some(format), &ctx())
}

/// Every detection of a report, scan after scan.
pub fn detections(report: &Report) -> Vec<&Detection> {
    report.scans.iter().flat_map(|s| &s.detections).collect()
}

pub fn package(detection: &Detection) -> &PackageLocation {
    match &detection.location {
        Location::Package(package) => package,
        other => panic!("expected a package location, got {other:?}"),
    }
}

/// (offset, line, item) of a syntax error of `format`, which must carry a message.
pub fn syntax_error(error: &ParseError, expected_format: &str) -> (usize, usize, Option<String>) {
    match error {
        ParseError::Syntax {
            format,
            offset,
            line,
            item,
            message,
            ..
        } => {
            assert_eq!(*format, expected_format);
            assert!(!message.is_empty());
            (*offset, *line, item.clone())
        }
        other => panic!("expected a syntax error, got {other:?}"),
    }
}

/// The message of a schema error of `format`.
pub fn schema_message(error: ParseError, expected_format: &str) -> String {
    match error {
        ParseError::Schema { format, message } if format == expected_format => message,
        other => panic!("expected a {expected_format} schema error, got {other:?}"),
    }
}

/// One-based line of a byte offset of `text`.
pub fn line_at(text: &str, offset: usize) -> usize {
    text[..offset].matches('\n').count() + 1
}
