//! Errors of the context files users keep in git (owners, assets, CODEOWNERS, threat intel):
//! each names the file and, where it can, the line, so a bad commit is fixed in one look.

use std::fmt;

/// Why an import file was refused. Nothing is stored when an import fails.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub struct ImportError {
    /// The file (or URL) as the user named it.
    pub origin: String,
    /// 1-based line, when known.
    pub line: Option<usize>,
    /// 1-based column, when known.
    pub column: Option<usize>,
    pub message: String,
}

impl ImportError {
    pub fn new(origin: &str, message: impl Into<String>) -> Self {
        Self {
            origin: origin.to_owned(),
            line: None,
            column: None,
            message: message.into(),
        }
    }

    pub fn at_line(origin: &str, line: usize, message: impl Into<String>) -> Self {
        Self {
            line: Some(line),
            ..Self::new(origin, message)
        }
    }
}

impl fmt::Display for ImportError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.origin)?;
        if let Some(line) = self.line {
            write!(f, ":{line}")?;
            if let Some(column) = self.column {
                write!(f, ":{column}")?;
            }
        }
        write!(f, ": {}", self.message)
    }
}

// Helpers of the YAML importers (owners, assets).

/// An `ImportError` carrying serde_yaml_ng's line and column (both 1-based).
pub(crate) fn yaml_error(origin: &str, error: &serde_yaml_ng::Error) -> ImportError {
    let mut message = error.to_string();
    let mut import = ImportError::new(origin, "");
    if let Some(location) = error.location() {
        import.line = Some(location.line());
        import.column = Some(location.column());
        // The position is in the error's fields; do not print it twice.
        let suffix = format!(" at line {} column {}", location.line(), location.column());
        if let Some(stripped) = message.strip_suffix(&suffix) {
            message = stripped.to_owned();
        }
    }
    import.message = message;
    import
}

pub(crate) fn error_at(origin: &str, line: Option<usize>, message: impl Into<String>) -> ImportError {
    ImportError {
        line,
        ..ImportError::new(origin, message)
    }
}

/// True when the text holds no YAML content (only blank lines and comments).
pub(crate) fn is_blank_yaml(text: &str) -> bool {
    text.lines()
        .map(str::trim)
        .all(|l| l.is_empty() || l.starts_with('#') || l == "---")
}

/// 1-based lines of the block-sequence items under the top-level `section:` key, for error
/// messages. Best effort: returns an empty list unless exactly `expected` items were found
/// (flow style, anchors or odd layouts simply lose the line number).
pub(crate) fn item_lines(text: &str, section: &str, expected: usize) -> Vec<usize> {
    let mut lines = Vec::new();
    let mut in_section = false;
    let mut indent = None;
    for (index, line) in text.lines().enumerate() {
        let trimmed = line.trim_start();
        if trimmed.is_empty() || trimmed.starts_with('#') {
            continue;
        }
        let this_indent = line.len() - trimmed.len();
        let is_item = trimmed == "-" || trimmed.starts_with("- ");
        if this_indent == 0 && !is_item {
            in_section = trimmed.strip_prefix(section).is_some_and(|rest| rest.starts_with(':'));
            continue;
        }
        if in_section && is_item && *indent.get_or_insert(this_indent) == this_indent {
            lines.push(index + 1);
        }
    }
    if lines.len() == expected { lines } else { Vec::new() }
}

/// 1-based line of the top-level `key:`, for error messages.
pub(crate) fn top_level_line(text: &str, key: &str) -> Option<usize> {
    text.lines()
        .position(|line| line.strip_prefix(key).is_some_and(|rest| rest.starts_with(':')))
        .map(|index| index + 1)
}
