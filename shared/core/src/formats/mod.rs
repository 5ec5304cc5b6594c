//! Scanner report parsers: bytes in, `Scan`s out, behind one API so the JSON engine can change.
//!
//! Parsers are pure: no I/O, no clock, no store. A report either parses whole or fails with an
//! error naming the format, the position and what was expected — never a partial result.

pub mod asff;
pub mod common;
mod depth;
mod detect;
pub mod github;
pub mod grype;
pub(crate) mod json;
pub mod ocsf;
pub mod sarif;
pub mod snyk;
pub mod trivy;

pub use depth::MAX_DEPTH;

use std::fmt;

use crate::model::{AssetKey, Scan, SourceName};

/// The report formats muster reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Format {
    Sarif,
    Trivy,
    Grype,
    Snyk,
    /// One GitHub webhook delivery (code scanning, Dependabot, secret scanning alerts).
    Github,
    /// AWS Security Hub findings (ASFF), plain or wrapped in EventBridge events.
    Asff,
    Ocsf,
}

impl Format {
    /// Every concrete format, in the order `auto` tries them.
    pub const ALL: [Format; 7] = [
        Format::Sarif,
        Format::Trivy,
        Format::Grype,
        Format::Snyk,
        Format::Github,
        Format::Asff,
        Format::Ocsf,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Sarif => "sarif",
            Self::Trivy => "trivy",
            Self::Grype => "grype",
            Self::Snyk => "snyk",
            Self::Github => "github",
            Self::Asff => "asff",
            Self::Ocsf => "ocsf",
        }
    }

    /// Parses a format name; `auto` is `None`.
    pub fn parse_choice(name: &str) -> Result<Option<Self>, ParseError> {
        let name = name.trim().to_ascii_lowercase();
        if name == "auto" {
            return Ok(None);
        }
        Self::ALL
            .into_iter()
            .find(|f| f.as_str() == name)
            .map(Some)
            .ok_or(ParseError::UnknownFormatName { name })
    }

    /// Recognizes the format from the report's structure: its top-level keys and the keys of
    /// its first elements, read from the first 64 KiB.
    pub fn detect(bytes: &[u8]) -> Result<Self, ParseError> {
        detect::detect(bytes).ok_or_else(|| ParseError::UnknownFormat {
            tried: Self::ALL.iter().map(|f| f.as_str()).collect::<Vec<_>>().join(", "),
        })
    }
}

impl fmt::Display for Format {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// What a parser needs to know beyond the bytes.
#[derive(Debug, Clone)]
pub struct ParseContext {
    pub source: SourceName,
    /// Asset to use when the report does not name one (SARIF without version control data).
    pub default_asset: AssetKey,
    /// The event name of a webhook delivery (GitHub's `X-GitHub-Event`), when known.
    pub event: Option<String>,
}

impl ParseContext {
    pub fn for_source(source: SourceName) -> Self {
        let default_asset = AssetKey::parse(source.as_str())
            .expect("a source name is always a valid asset key (subset of its characters)");
        Self {
            source,
            default_asset,
            event: None,
        }
    }

    pub fn with_event(mut self, event: Option<String>) -> Self {
        self.event = event;
        self
    }
}

/// A parsed report: one `Scan` per (tool, asset) it covers.
#[derive(Debug, Clone)]
pub struct Report {
    pub format: Format,
    pub scans: Vec<Scan>,
}

impl Report {
    pub fn detection_count(&self) -> usize {
        self.scans.iter().map(|s| s.detections.len()).sum()
    }
}

/// Parses a report of a known format, or detects it when `format` is `None`.
pub fn parse_report(bytes: &[u8], format: Option<Format>, ctx: &ParseContext) -> Result<Report, ParseError> {
    parse_report_with_progress(bytes, format, ctx, &mut |_| {})
}

/// Like `parse_report`, telling `progress` how many leading bytes of the input the parser is
/// done with (roughly, and never decreasing within one report). A caller that mapped the file can
/// release those pages as parsing moves on; the parser may still read rule text before that
/// point, so such a release must leave the bytes readable (re-read from the file).
pub fn parse_report_with_progress(
    bytes: &[u8],
    format: Option<Format>,
    ctx: &ParseContext,
    progress: &mut dyn FnMut(usize),
) -> Result<Report, ParseError> {
    if bytes.iter().all(u8::is_ascii_whitespace) {
        return Err(ParseError::Empty);
    }
    let format = match format {
        Some(format) => format,
        None => Format::detect(bytes)?,
    };
    // Checked once here for every parser: JSON engines that keep values unparsed (sonic-rs
    // lazy values) assume valid UTF-8, and invalid bytes there panic or worse.
    if let Err(error) = std::str::from_utf8(bytes) {
        return Err(ParseError::at(
            format,
            bytes,
            error.valid_up_to(),
            "invalid UTF-8 (a report must be UTF-8 JSON)".into(),
        ));
    }
    if let Some(offset) = depth::too_deep(bytes, MAX_DEPTH) {
        return Err(ParseError::at(
            format,
            bytes,
            offset,
            format!("nesting deeper than {MAX_DEPTH} levels"),
        ));
    }
    let scans = match format {
        Format::Sarif => sarif::parse(bytes, ctx, progress)?,
        Format::Trivy => trivy::parse(bytes, ctx)?,
        Format::Grype => grype::parse(bytes, ctx)?,
        Format::Snyk => snyk::parse(bytes, ctx)?,
        Format::Github => github::parse(bytes, ctx)?,
        Format::Asff => asff::parse(bytes, ctx)?,
        Format::Ocsf => ocsf::parse(bytes, ctx)?,
    };
    progress(bytes.len());
    Ok(Report { format, scans })
}

/// Why a report could not be read. Messages name the format, the position and what to do.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ParseError {
    #[error("the report is empty")]
    Empty,
    #[error("unknown format {name:?}: expected auto, sarif, trivy, grype, snyk, github, asff or ocsf")]
    UnknownFormatName { name: String },
    #[error("could not detect the report format (tried {tried}); pass the format explicitly")]
    UnknownFormat { tried: String },
    #[error("{format}: {message} at line {line}, column {column} (byte {offset}){}", item.as_ref().map(|i| format!(" in {i}")).unwrap_or_default())]
    Syntax {
        format: &'static str,
        message: String,
        offset: usize,
        line: usize,
        column: usize,
        item: Option<String>,
    },
    #[error("{format}: {message}")]
    Schema { format: &'static str, message: String },
}

impl ParseError {
    /// Maps a JSON error at `base + error.offset()` of `bytes` to a line and column of the
    /// whole report.
    pub(crate) fn syntax(format: &'static str, bytes: &[u8], base: usize, error: &sonic_rs::Error) -> Self {
        let offset = (base + error.offset()).min(bytes.len());
        let (line, column) = position_of(bytes, offset);
        let message = error.to_string();
        // sonic-rs appends its own position and an excerpt; keep only the description.
        let message = message.split(" at line ").next().unwrap_or(&message).trim().to_owned();
        Self::Syntax {
            format,
            message,
            offset,
            line,
            column,
            item: None,
        }
    }

    /// A syntax error at a byte offset of the whole report.
    fn at(format: Format, bytes: &[u8], offset: usize, message: String) -> Self {
        let (line, column) = position_of(bytes, offset);
        Self::Syntax {
            format: format.as_str(),
            message,
            offset,
            line,
            column,
            item: None,
        }
    }

    pub(crate) fn in_item(mut self, path: String) -> Self {
        if let Self::Syntax { item, .. } = &mut self {
            *item = Some(path);
        }
        self
    }

    /// A stable code for HTTP error bodies.
    pub fn code(&self) -> &'static str {
        match self {
            Self::Empty => "empty_report",
            Self::UnknownFormatName { .. } => "unknown_format",
            Self::UnknownFormat { .. } => "unrecognized_report",
            Self::Syntax { .. } => "malformed_report",
            Self::Schema { .. } => "invalid_report",
        }
    }
}

/// One-based line and column of a byte offset.
pub(crate) fn position_of(bytes: &[u8], offset: usize) -> (usize, usize) {
    let before = &bytes[..offset.min(bytes.len())];
    let line = before.iter().filter(|b| **b == b'\n').count() + 1;
    let line_start = before.iter().rposition(|b| *b == b'\n').map_or(0, |p| p + 1);
    (line, offset - line_start + 1)
}
