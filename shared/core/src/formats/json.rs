//! Reading JSON reports with sonic-rs, shared by the parsers: strings borrowed from the input,
//! numbers some producers write as text, fields of two shapes, and array items kept raw so that
//! an error names the item and its position in the whole report.

use std::borrow::Cow;

use serde::{Deserialize, Deserializer};
use sonic_rs::LazyValue;

use super::{ParseError, position_of};

const BOM: &[u8] = b"\xEF\xBB\xBF";

/// The input without a UTF-8 byte order mark, and where it starts in `bytes` (so that error
/// positions still count from the start of the report).
pub(crate) fn without_bom(bytes: &[u8]) -> (usize, &[u8]) {
    let base = if bytes.starts_with(BOM) { BOM.len() } else { 0 };
    (base, &bytes[base..])
}

/// A JSON string, borrowed from the report unless it had escapes. serde borrows only a field
/// whose type is exactly `Cow<str>`; inside `Option` or `Vec` a bare `Cow` would copy every string.
#[derive(Deserialize)]
#[serde(transparent)]
pub(crate) struct Text<'a>(#[serde(borrow)] pub(crate) Cow<'a, str>);

impl std::ops::Deref for Text<'_> {
    type Target = str;

    fn deref(&self) -> &str {
        &self.0
    }
}

/// Trimmed text, or `None` when it is missing or blank.
pub(crate) fn non_empty(text: Option<&str>) -> Option<&str> {
    text.map(str::trim).filter(|t| !t.is_empty())
}

/// A string field, trimmed, or `None` when it is missing or blank.
pub(crate) fn text<'s>(value: &'s Option<Text<'_>>) -> Option<&'s str> {
    non_empty(value.as_deref())
}

/// A number some producers write as a string (`"5.9"`, GitHub's `"0.16001e0"`, Snyk's EPSS
/// values).
#[derive(Deserialize)]
#[serde(untagged)]
pub(crate) enum Number<'a> {
    Value(f64),
    Text(#[serde(borrow)] Text<'a>),
}

impl Number<'_> {
    /// The finite value, whichever way it was written.
    pub(crate) fn value(&self) -> Option<f64> {
        match self {
            Self::Value(n) => Some(*n),
            Self::Text(t) => t.trim().parse().ok(),
        }
        .filter(|n: &f64| n.is_finite())
    }
}

/// A field that is an object in some versions of a payload and an array of them in others.
#[derive(Deserialize)]
#[serde(untagged)]
pub(crate) enum OneOrMany<T> {
    Many(Vec<T>),
    One(T),
}

/// The report as text, without a UTF-8 byte order mark, and where that text starts in `bytes`.
///
/// Validated whole up front: sonic-rs skips the values it keeps lazily (every match, every
/// Snyk entry) without checking their UTF-8 and then treats them as `&str`, so invalid bytes
/// there must be refused before it sees them.
pub(crate) fn report_text<'b>(format: &'static str, bytes: &'b [u8]) -> Result<(usize, &'b str), ParseError> {
    let (base, input) = without_bom(bytes);
    let text = std::str::from_utf8(input).map_err(|error| {
        let offset = base + error.valid_up_to();
        let (line, column) = position_of(bytes, offset);
        ParseError::Syntax {
            format,
            message: "invalid UTF-8".to_owned(),
            offset,
            line,
            column,
            item: None,
        }
    })?;
    Ok((base, text))
}

/// Tells a missing key (`None`) from `null` (`Some(None)`): Go writes an empty list as `null`,
/// while a missing list means the document is not the report it claims to be.
pub(crate) fn present<'de, D, T>(deserializer: D) -> Result<Option<Option<T>>, D::Error>
where
    D: Deserializer<'de>,
    T: Deserialize<'de>,
{
    Option::<T>::deserialize(deserializer).map(Some)
}

/// Deserializes one array element kept as a raw slice of `bytes`, so that an error names the
/// element (`matches[3]`) and its line and column in the whole report.
pub(crate) fn parse_item<'v, T: Deserialize<'v>>(
    format: &'static str,
    bytes: &[u8],
    item: &'v LazyValue<'_>,
    path: impl FnOnce() -> String,
) -> Result<T, ParseError> {
    let raw = item.as_raw_str();
    sonic_rs::from_str(raw).map_err(|e| ParseError::syntax(format, bytes, offset_in(bytes, raw), &e).in_item(path()))
}

/// Where `part` starts in `bytes`; a lazy value from `from_str` borrows its input, anything
/// else (never expected) maps to the start rather than to a wrong place.
fn offset_in(bytes: &[u8], part: &str) -> usize {
    let start = bytes.as_ptr() as usize;
    let at = part.as_ptr() as usize;
    if at >= start && at <= start + bytes.len() {
        at - start
    } else {
        0
    }
}
