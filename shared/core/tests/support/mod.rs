//! Finding the real samples in `shared/samples/` for the parser tests.
#![allow(dead_code)] // each test binary uses its own subset

use std::path::{Path, PathBuf};

use muster_core::formats::{Format, ParseContext, ParseError, parse_report};
use muster_core::{Report, SourceName};

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

pub fn ctx() -> ParseContext {
    ParseContext::for_source(SourceName::parse("ci").unwrap())
}

pub fn parse_as(format: Format, bytes: &[u8]) -> Result<Report, ParseError> {
    parse_report(bytes, Some(format), &ctx())
}
