//! SARIF 2.1.0 → detections.
//!
//! Reads a log in two passes over one borrowed buffer: the first deserializes runs with each
//! result kept as an unparsed slice (so the whole report never exists twice in memory), the
//! second parses results one at a time once the run's tool and rules are known. It never
//! allocates per result beyond the `Detection` it returns.

use std::borrow::Cow;
use std::collections::HashMap;
use std::sync::Arc;

use serde::Deserialize;
use sonic_rs::LazyValue;

use super::{ParseContext, ParseError};
use crate::fingerprint::{self, normalize_anchor};
use crate::model::{AssetKey, Detection, FindingKind, Location, Scan, Severity, Tool};

const FORMAT: &str = "sarif";
/// Titles longer than this are cut: tickets and chat need a line, not a page.
const MAX_TITLE: usize = 500;

type Text<'a> = Cow<'a, str>;

#[derive(Deserialize)]
struct RawLog<'a> {
    #[serde(borrow, default)]
    runs: Option<Vec<RawRun<'a>>>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct RawRun<'a> {
    #[serde(borrow)]
    tool: RawTool<'a>,
    #[serde(borrow, default)]
    results: Option<Vec<LazyValue<'a>>>,
    #[serde(borrow, default)]
    version_control_provenance: Option<Vec<RawVersionControl<'a>>>,
    #[serde(borrow, default)]
    artifacts: Option<Vec<RawArtifact<'a>>>,
}

#[derive(Deserialize)]
struct RawTool<'a> {
    #[serde(borrow)]
    driver: RawComponent<'a>,
    #[serde(borrow, default)]
    extensions: Option<Vec<RawComponent<'a>>>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct RawComponent<'a> {
    #[serde(borrow)]
    name: Text<'a>,
    #[serde(borrow, default)]
    version: Option<Text<'a>>,
    #[serde(borrow, default)]
    semantic_version: Option<Text<'a>>,
    #[serde(borrow, default)]
    rules: Option<Vec<RawRule<'a>>>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct RawRule<'a> {
    #[serde(borrow)]
    id: Text<'a>,
    #[serde(borrow, default)]
    short_description: Option<RawMessage<'a>>,
    #[serde(borrow, default)]
    full_description: Option<RawMessage<'a>>,
    #[serde(borrow, default)]
    help_uri: Option<Text<'a>>,
    #[serde(borrow, default)]
    default_configuration: Option<RawConfiguration<'a>>,
    #[serde(borrow, default)]
    properties: Option<RawProperties<'a>>,
    #[serde(borrow, default)]
    message_strings: Option<HashMap<Text<'a>, RawMessage<'a>>>,
}

#[derive(Deserialize)]
struct RawConfiguration<'a> {
    #[serde(borrow, default)]
    level: Option<Text<'a>>,
}

#[derive(Deserialize, Default)]
struct RawProperties<'a> {
    #[serde(rename = "security-severity", default)]
    security_severity: Option<NumberOrText<'a>>,
    #[serde(borrow, default)]
    tags: Option<Vec<Text<'a>>>,
}

/// Tools write `security-severity` as `"8.8"` (CodeQL) or `8.8`.
#[derive(Deserialize)]
#[serde(untagged)]
enum NumberOrText<'a> {
    Number(f64),
    Text(#[serde(borrow)] Text<'a>),
}

impl NumberOrText<'_> {
    fn value(&self) -> Option<f64> {
        match self {
            Self::Number(n) => Some(*n),
            Self::Text(t) => t.trim().parse().ok(),
        }
        .filter(|n: &f64| n.is_finite() && (0.0..=10.0).contains(n))
    }
}

#[derive(Deserialize, Default)]
struct RawMessage<'a> {
    #[serde(borrow, default)]
    text: Option<Text<'a>>,
    #[serde(borrow, default)]
    markdown: Option<Text<'a>>,
    #[serde(borrow, default)]
    id: Option<Text<'a>>,
    #[serde(borrow, default)]
    arguments: Option<Vec<Text<'a>>>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct RawVersionControl<'a> {
    #[serde(borrow, default)]
    repository_uri: Option<Text<'a>>,
}

#[derive(Deserialize)]
struct RawArtifact<'a> {
    #[serde(borrow, default)]
    location: Option<RawArtifactLocation<'a>>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct RawArtifactLocation<'a> {
    #[serde(borrow, default)]
    uri: Option<Text<'a>>,
    #[serde(default)]
    index: Option<i64>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct RawResult<'a> {
    #[serde(borrow, default)]
    rule_id: Option<Text<'a>>,
    #[serde(default)]
    rule_index: Option<i64>,
    #[serde(borrow, default)]
    rule: Option<RawRuleReference<'a>>,
    #[serde(borrow, default)]
    level: Option<Text<'a>>,
    #[serde(borrow, default)]
    message: Option<RawMessage<'a>>,
    #[serde(borrow, default)]
    locations: Option<Vec<RawLocation<'a>>>,
    #[serde(borrow, default)]
    partial_fingerprints: Option<HashMap<Text<'a>, Text<'a>>>,
    #[serde(borrow, default)]
    fingerprints: Option<HashMap<Text<'a>, Text<'a>>>,
    #[serde(borrow, default)]
    suppressions: Option<Vec<RawSuppression<'a>>>,
    #[serde(borrow, default)]
    properties: Option<RawProperties<'a>>,
    #[serde(borrow, default)]
    fixes: Option<Vec<RawFix<'a>>>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct RawRuleReference<'a> {
    #[serde(borrow, default)]
    id: Option<Text<'a>>,
    #[serde(default)]
    index: Option<i64>,
    #[serde(default)]
    tool_component: Option<RawComponentReference>,
}

#[derive(Deserialize)]
struct RawComponentReference {
    #[serde(default)]
    index: Option<i64>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct RawLocation<'a> {
    #[serde(borrow, default)]
    physical_location: Option<RawPhysicalLocation<'a>>,
    #[serde(borrow, default)]
    logical_locations: Option<Vec<RawLogicalLocation<'a>>>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct RawPhysicalLocation<'a> {
    #[serde(borrow, default)]
    artifact_location: Option<RawArtifactLocation<'a>>,
    #[serde(borrow, default)]
    region: Option<RawRegion<'a>>,
    #[serde(borrow, default)]
    context_region: Option<RawRegion<'a>>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct RawRegion<'a> {
    #[serde(default)]
    start_line: Option<i64>,
    #[serde(default)]
    start_column: Option<i64>,
    #[serde(default)]
    end_column: Option<i64>,
    #[serde(borrow, default)]
    snippet: Option<RawContent<'a>>,
}

#[derive(Deserialize)]
struct RawContent<'a> {
    #[serde(borrow, default)]
    text: Option<Text<'a>>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct RawLogicalLocation<'a> {
    #[serde(borrow, default)]
    fully_qualified_name: Option<Text<'a>>,
    #[serde(borrow, default)]
    name: Option<Text<'a>>,
}

#[derive(Deserialize)]
struct RawSuppression<'a> {
    #[serde(borrow, default)]
    status: Option<Text<'a>>,
}

#[derive(Deserialize)]
struct RawFix<'a> {
    #[serde(borrow, default)]
    description: Option<RawMessage<'a>>,
}

/// What a result needs from its rule, computed once per rule.
struct RuleInfo<'a> {
    id: Arc<str>,
    description: Option<Arc<str>>,
    help_uri: Option<Arc<str>>,
    level: Option<Severity>,
    security_severity: Option<f64>,
    secret: bool,
    message_strings: Option<&'a HashMap<Text<'a>, RawMessage<'a>>>,
    short_description: Option<&'a str>,
}

impl<'a> RuleInfo<'a> {
    fn new(rule: &'a RawRule<'a>) -> Self {
        let description = rule
            .short_description
            .as_ref()
            .or(rule.full_description.as_ref())
            .and_then(RawMessage::plain)
            .map(Arc::from);
        let properties = rule.properties.as_ref();
        Self {
            id: Arc::from(rule.id.as_ref()),
            description,
            help_uri: rule.help_uri.as_deref().map(Arc::from),
            level: rule
                .default_configuration
                .as_ref()
                .and_then(|c| c.level.as_deref())
                .and_then(level_severity),
            security_severity: properties
                .and_then(|p| p.security_severity.as_ref())
                .and_then(NumberOrText::value),
            secret: properties
                .and_then(|p| p.tags.as_ref())
                .is_some_and(|tags| tags.iter().any(|t| t.eq_ignore_ascii_case("secret"))),
            message_strings: rule.message_strings.as_ref(),
            short_description: rule.short_description.as_ref().and_then(RawMessage::plain),
        }
    }
}

impl<'a> RawMessage<'a> {
    fn plain(&self) -> Option<&str> {
        self.text
            .as_deref()
            .or(self.markdown.as_deref())
            .map(str::trim)
            .filter(|t| !t.is_empty())
    }

    /// Resolves `{"id": …, "arguments": […]}` against the rule's message strings.
    fn render(&self, rule: Option<&RuleInfo<'_>>) -> Option<String> {
        if let Some(text) = self.plain() {
            return Some(substitute(text, self.arguments.as_deref()));
        }
        let id = self.id.as_deref()?;
        let template = rule?.message_strings?.get(id)?.plain()?;
        Some(substitute(template, self.arguments.as_deref()))
    }
}

/// Replaces SARIF placeholders `{0}`, `{1}`, … with the message arguments.
fn substitute(template: &str, arguments: Option<&[Text<'_>]>) -> String {
    let Some(arguments) = arguments.filter(|a| !a.is_empty()) else {
        return template.to_owned();
    };
    let mut out = template.to_owned();
    for (index, argument) in arguments.iter().enumerate() {
        out = out.replace(&format!("{{{index}}}"), argument);
    }
    out
}

fn level_severity(level: &str) -> Option<Severity> {
    match level {
        "error" => Some(Severity::High),
        "warning" => Some(Severity::Medium),
        "note" => Some(Severity::Low),
        "none" => Some(Severity::Info),
        _ => None,
    }
}

/// `https://github.com/org/repo.git` and `git@github.com:org/repo` → `github.com/org/repo`.
pub(crate) fn repository_asset(uri: &str) -> Option<AssetKey> {
    let uri = uri.trim();
    let without_scheme = uri.split_once("://").map_or(uri, |(_, rest)| rest);
    let without_user = without_scheme.rsplit_once('@').map_or(without_scheme, |(_, rest)| rest);
    let normalized = without_user.replacen(':', "/", usize::from(!uri.contains("://")));
    let trimmed = normalized.trim_end_matches('/');
    let trimmed = trimmed.strip_suffix(".git").unwrap_or(trimmed);
    let (host, path) = trimmed.split_once('/').unwrap_or((trimmed, ""));
    let key = if path.is_empty() {
        host.to_ascii_lowercase()
    } else {
        format!("{}/{path}", host.to_ascii_lowercase())
    };
    AssetKey::parse(&key).ok()
}

fn clean_path(uri: &str) -> String {
    let path = uri.strip_prefix("file://").unwrap_or(uri);
    path.strip_prefix("./").unwrap_or(path).to_owned()
}

fn truncate(mut text: String, max: usize) -> String {
    if text.len() > max {
        let mut cut = max;
        while !text.is_char_boundary(cut) {
            cut -= 1;
        }
        text.truncate(cut);
        text.push('…');
    }
    text
}

fn line_number(value: Option<i64>) -> Option<u32> {
    value.and_then(|v| u32::try_from(v).ok()).filter(|v| *v > 0)
}

fn is_vulnerability_id(id: &str) -> bool {
    let upper = id.to_ascii_uppercase();
    (upper.starts_with("CVE-") || upper.starts_with("GHSA-"))
        && upper.len() > 8
        && !upper.contains(char::is_whitespace)
}

fn is_secret_scanner(tool: &str) -> bool {
    let lower = tool.to_ascii_lowercase();
    ["gitleaks", "trufflehog", "detect-secrets", "ggshield"]
        .iter()
        .any(|name| lower.contains(name))
}

/// Parses a SARIF 2.1.0 log.
pub fn parse(bytes: &[u8], ctx: &ParseContext) -> Result<Vec<Scan>, ParseError> {
    let log: RawLog<'_> =
        sonic_rs::from_slice(bytes).map_err(|e| ParseError::syntax(FORMAT, bytes, 0, &e))?;
    let runs = log.runs.ok_or_else(|| ParseError::Schema {
        format: FORMAT,
        message: "missing \"runs\": a SARIF log is an object with a \"runs\" array".into(),
    })?;
    let mut scans = Vec::with_capacity(runs.len());
    for (run_index, run) in runs.iter().enumerate() {
        scans.push(parse_run(bytes, run, run_index, ctx)?);
    }
    Ok(scans)
}

fn parse_run(
    bytes: &[u8],
    run: &RawRun<'_>,
    run_index: usize,
    ctx: &ParseContext,
) -> Result<Scan, ParseError> {
    let driver = &run.tool.driver;
    let tool_name = driver.name.trim();
    if tool_name.is_empty() {
        return Err(ParseError::Schema {
            format: FORMAT,
            message: format!("runs[{run_index}].tool.driver.name is empty"),
        });
    }
    let tool = Tool {
        name: tool_name.to_owned(),
        version: driver
            .version
            .as_deref()
            .or(driver.semantic_version.as_deref())
            .map(str::to_owned),
    };
    let asset = run
        .version_control_provenance
        .iter()
        .flatten()
        .find_map(|vcp| vcp.repository_uri.as_deref().and_then(repository_asset))
        .unwrap_or_else(|| ctx.default_asset.clone());

    let components: Vec<Vec<RuleInfo<'_>>> = std::iter::once(driver)
        .chain(run.tool.extensions.iter().flatten())
        .map(|c| c.rules.iter().flatten().map(RuleInfo::new).collect())
        .collect();
    let rules_by_id: HashMap<&str, (usize, usize)> = components
        .iter()
        .enumerate()
        .flat_map(|(ci, rules)| rules.iter().enumerate().map(move |(ri, r)| (&*r.id, (ci, ri))))
        .rev() // the driver's definition wins over an extension's
        .collect();
    let artifacts: Vec<Option<&str>> = run
        .artifacts
        .iter()
        .flatten()
        .map(|a| a.location.as_ref().and_then(|l| l.uri.as_deref()))
        .collect();
    let secret_tool = is_secret_scanner(tool_name);

    let results = run.results.as_deref().unwrap_or_default();
    let mut detections = Vec::with_capacity(results.len());
    for (result_index, lazy) in results.iter().enumerate() {
        let raw = lazy.as_raw_str();
        let offset = raw.as_ptr() as usize - bytes.as_ptr() as usize;
        let result: RawResult<'_> = sonic_rs::from_str(raw).map_err(|e| {
            ParseError::syntax(FORMAT, bytes, offset, &e).in_item(format!(
                "runs[{run_index}].results[{result_index}]"
            ))
        })?;
        let rule = lookup_rule(&result, &components, &rules_by_id);
        detections.push(detection(&result, rule, &tool, &asset, &artifacts, secret_tool));
    }
    Ok(Scan { tool, asset, detections })
}

fn lookup_rule<'r, 'a>(
    result: &RawResult<'_>,
    components: &'r [Vec<RuleInfo<'a>>],
    by_id: &HashMap<&str, (usize, usize)>,
) -> Option<&'r RuleInfo<'a>> {
    let reference = result.rule.as_ref();
    let component = reference
        .and_then(|r| r.tool_component.as_ref())
        .and_then(|c| c.index)
        .and_then(|i| usize::try_from(i).ok())
        .unwrap_or(0);
    let index = result
        .rule_index
        .or_else(|| reference.and_then(|r| r.index))
        .and_then(|i| usize::try_from(i).ok());
    if let Some(rule) = index.and_then(|i| components.get(component)?.get(i)) {
        return Some(rule);
    }
    let id = result
        .rule_id
        .as_deref()
        .or_else(|| reference.and_then(|r| r.id.as_deref()))?;
    let (ci, ri) = by_id.get(id)?;
    components.get(*ci)?.get(*ri)
}

fn detection(
    result: &RawResult<'_>,
    rule: Option<&RuleInfo<'_>>,
    tool: &Tool,
    asset: &AssetKey,
    artifacts: &[Option<&str>],
    secret_tool: bool,
) -> Detection {
    let rule_id: Option<Arc<str>> = match (result.rule_id.as_deref(), rule) {
        (Some(id), Some(rule)) if *rule.id == *id => Some(rule.id.clone()),
        (Some(id), _) => Some(Arc::from(id)),
        (None, Some(rule)) => Some(rule.id.clone()),
        (None, None) => result
            .rule
            .as_ref()
            .and_then(|r| r.id.as_deref())
            .map(Arc::from),
    };

    let result_security = result
        .properties
        .as_ref()
        .and_then(|p| p.security_severity.as_ref())
        .and_then(NumberOrText::value);
    let severity = result_security
        .or(rule.and_then(|r| r.security_severity))
        .map(Severity::from_cvss)
        .or_else(|| result.level.as_deref().and_then(level_severity))
        .or(rule.and_then(|r| r.level))
        .unwrap_or(Severity::Medium); // SARIF's default level is "warning"

    let first_location = result.locations.as_deref().and_then(<[_]>::first);
    let physical = first_location.and_then(|l| l.physical_location.as_ref());
    let path = physical
        .and_then(|p| p.artifact_location.as_ref())
        .and_then(|a| {
            a.uri.as_deref().or_else(|| {
                let index = usize::try_from(a.index?).ok()?;
                artifacts.get(index).copied().flatten()
            })
        })
        .map(clean_path);
    let region = physical.and_then(|p| p.region.as_ref());
    let line = line_number(region.and_then(|r| r.start_line));

    let message = result.message.as_ref().and_then(|m| m.render(rule));
    let title = message
        .clone()
        .or_else(|| rule.and_then(|r| r.short_description.map(str::to_owned)))
        .or_else(|| rule_id.as_deref().map(str::to_owned))
        .unwrap_or_else(|| "SARIF result without a message".to_owned());

    let anchor = anchor(result, physical, first_location, message.as_deref());
    let rule_text = rule_id.as_deref().unwrap_or("");
    let path_text = path.as_deref().unwrap_or("");
    let fingerprint = fingerprint::code(&tool.name, rule_text, asset, path_text, &anchor);

    let kind = if secret_tool || rule.is_some_and(|r| r.secret) {
        FindingKind::Secret
    } else if is_vulnerability_id(rule_text) {
        FindingKind::Dependency
    } else {
        FindingKind::Code
    };
    let vuln_ids = if is_vulnerability_id(rule_text) {
        vec![rule_text.to_ascii_uppercase()]
    } else {
        Vec::new()
    };

    // SARIF §3.35.3: a suppression without a status is accepted; rejected or under-review ones
    // do not hide the result.
    let suppressed = result.suppressions.iter().flatten().any(|s| {
        s.status
            .as_deref()
            .is_none_or(|status| status.eq_ignore_ascii_case("accepted"))
    });

    Detection {
        fingerprint,
        kind,
        rule_id,
        vuln_ids,
        title: truncate(title, MAX_TITLE),
        description: rule.and_then(|r| r.description.clone()),
        severity,
        cvss: None,
        location: match path {
            Some(path) => Location::Source { path, line },
            None => Location::Unspecified,
        },
        fix: result
            .fixes
            .iter()
            .flatten()
            .find_map(|f| f.description.as_ref()?.plain().map(str::to_owned)),
        help_uri: rule.and_then(|r| r.help_uri.clone()),
        suppressed,
    }
}

/// The line-independent part of a code fingerprint, best source first.
fn anchor(
    result: &RawResult<'_>,
    physical: Option<&RawPhysicalLocation<'_>>,
    location: Option<&RawLocation<'_>>,
    message: Option<&str>,
) -> String {
    let sorted_entries = |map: &HashMap<Text<'_>, Text<'_>>| {
        let mut entries: Vec<String> = map.iter().map(|(k, v)| format!("{k}={v}")).collect();
        entries.sort_unstable();
        entries.join(";")
    };
    if let Some(map) = result.fingerprints.as_ref().filter(|m| !m.is_empty()) {
        return format!("fp:{}", sorted_entries(map));
    }
    if let Some(map) = result.partial_fingerprints.as_ref().filter(|m| !m.is_empty()) {
        return format!("pfp:{}", sorted_entries(map));
    }
    let snippet = |region: Option<&RawRegion<'_>>| {
        region
            .and_then(|r| r.snippet.as_ref()?.text.as_deref())
            .map(normalize_anchor)
            .filter(|s| !s.is_empty())
    };
    if let Some(text) = snippet(physical.and_then(|p| p.region.as_ref())) {
        return format!("snippet:{text}");
    }
    if let Some(text) = snippet(physical.and_then(|p| p.context_region.as_ref())) {
        return format!("context:{text}");
    }
    let logical = location
        .and_then(|l| l.logical_locations.as_deref())
        .and_then(<[_]>::first)
        .and_then(|l| l.fully_qualified_name.as_deref().or(l.name.as_deref()));
    let message = message.map(normalize_anchor).unwrap_or_default();
    if let Some(name) = logical {
        return format!("logical:{name}:{message}");
    }
    // Columns survive code moving down; the message distinguishes two hits on one line.
    let region = physical.and_then(|p| p.region.as_ref());
    let columns = region.map_or((None, None), |r| (r.start_column, r.end_column));
    format!("message:{message}:{:?}:{:?}", columns.0, columns.1)
}

