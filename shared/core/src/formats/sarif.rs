//! SARIF 2.1.0 → detections.
//!
//! Reads a log in two passes over one borrowed buffer: the first deserializes runs (sonic-rs +
//! serde) with each result kept as an unparsed, already validated slice (so the whole report
//! never exists twice in memory), the second reads results one at a time, once the run's tool
//! and rules are known, with a small pull reader that takes only the fields muster uses. Per
//! result it allocates the `Detection` it returns (title, path) and the few strings that had
//! JSON escapes; anchors and fingerprint entries live in buffers reused across results.

use std::borrow::Cow;
use std::collections::HashMap;
use std::fmt::Write as _;
use std::ops::Range;
use std::sync::Arc;

use serde::Deserialize;
use sonic_rs::LazyValue;

use super::{ParseContext, ParseError, position_of};
use crate::fingerprint::{self, FingerprintBuilder};
use crate::model::{AssetKey, Detection, FindingKind, Fingerprint, Location, Reported, Scan, Severity, Tool};

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

/// The parts of a SARIF `result` muster uses, read by [`read_result`].
#[derive(Default)]
struct RawResult<'a> {
    rule_id: Option<Text<'a>>,
    rule_index: Option<i64>,
    rule: Option<RawRuleReference<'a>>,
    kind: Option<Text<'a>>,
    level: Option<Text<'a>>,
    message: Option<RawMessage<'a>>,
    /// The primary (first) location; the others are skipped unread.
    location: Option<RawLocation<'a>>,
    /// Ranges of [`Scratch::pairs`].
    partial_fingerprints: Option<Range<usize>>,
    fingerprints: Option<Range<usize>>,
    /// Some suppression has status `accepted` or none (SARIF §3.35.3).
    suppressed: bool,
    security_severity: Option<NumberOrText<'a>>,
    /// The first fix that has a description.
    fix: Option<RawMessage<'a>>,
}

#[derive(Default)]
struct RawRuleReference<'a> {
    id: Option<Text<'a>>,
    index: Option<i64>,
    tool_component: Option<RawComponentReference<'a>>,
}

#[derive(Default)]
struct RawComponentReference<'a> {
    index: Option<i64>,
    name: Option<Text<'a>>,
}

#[derive(Default)]
struct RawLocation<'a> {
    physical_location: Option<RawPhysicalLocation<'a>>,
    /// The first logical location's fully qualified name, else its name.
    logical_name: Option<Text<'a>>,
}

#[derive(Default)]
struct RawPhysicalLocation<'a> {
    artifact_location: Option<RawArtifactLocation<'a>>,
    region: Option<RawRegion<'a>>,
    context_region: Option<RawRegion<'a>>,
}

#[derive(Default)]
struct RawRegion<'a> {
    start_line: Option<i64>,
    start_column: Option<i64>,
    end_column: Option<i64>,
    snippet: Option<Str<'a>>,
}

/// A string borrowed from the report, or one decoded into [`Scratch::decoded`].
enum Str<'a> {
    Borrowed(&'a str),
    Decoded(Range<usize>),
}

impl Str<'_> {
    fn resolve<'s>(&'s self, decoded: &'s str) -> &'s str {
        match self {
            Self::Borrowed(text) => text,
            Self::Decoded(range) => decoded.get(range.clone()).unwrap_or_default(),
        }
    }
}

/// Buffers reused from one result to the next: reading a result allocates only for strings
/// that had JSON escapes (outside snippets), and building its fingerprint allocates nothing.
struct Scratch<'a> {
    /// Entries of `fingerprints` and `partialFingerprints`.
    pairs: Vec<(Text<'a>, Text<'a>)>,
    /// Snippets that had escapes, decoded.
    decoded: String,
    /// The anchor being hashed.
    anchor: String,
}

impl Scratch<'_> {
    fn new() -> Self {
        Self {
            pairs: Vec::new(),
            decoded: String::new(),
            anchor: String::with_capacity(256),
        }
    }
}

fn read_result<'a>(r: &mut Reader<'a>, scratch: &mut Scratch<'a>) -> Read<RawResult<'a>> {
    scratch.pairs.clear();
    scratch.decoded.clear();
    let mut result = RawResult::default();
    let mut seen = SeenKeys::default();
    r.object(|r, key| {
        match key {
            "ruleId" => {
                seen.first(r, 0)?;
                result.rule_id = r.opt_string()?;
            }
            "ruleIndex" => {
                seen.first(r, 1)?;
                result.rule_index = r.opt_int()?;
            }
            "rule" => {
                seen.first(r, 2)?;
                result.rule = read_rule_reference(r)?;
            }
            "kind" => {
                seen.first(r, 3)?;
                result.kind = r.opt_string()?;
            }
            "level" => {
                seen.first(r, 4)?;
                result.level = r.opt_string()?;
            }
            "message" => {
                seen.first(r, 5)?;
                result.message = read_message(r)?;
            }
            "locations" => {
                seen.first(r, 6)?;
                result.location = None;
                r.opt_array(|r, index| {
                    if index == 0 {
                        result.location = read_location(r, &mut scratch.decoded)?;
                        Ok(())
                    } else {
                        r.skip()
                    }
                })?;
            }
            "partialFingerprints" => {
                seen.first(r, 7)?;
                result.partial_fingerprints = read_pairs(r, &mut scratch.pairs)?;
            }
            "fingerprints" => {
                seen.first(r, 8)?;
                result.fingerprints = read_pairs(r, &mut scratch.pairs)?;
            }
            "suppressions" => {
                seen.first(r, 9)?;
                result.suppressed = false;
                r.opt_array(|r, _| {
                    let mut status: Option<Text<'_>> = None;
                    r.object(|r, key| {
                        match key {
                            "status" => status = r.opt_string()?,
                            _ => r.skip()?,
                        }
                        Ok(())
                    })?;
                    result.suppressed |= status.is_none_or(|status| status.eq_ignore_ascii_case("accepted"));
                    Ok(())
                })?;
            }
            "properties" => {
                seen.first(r, 10)?;
                result.security_severity = None;
                r.opt_object(|r, key| {
                    match key {
                        "security-severity" => result.security_severity = read_score(r)?,
                        _ => r.skip()?,
                    }
                    Ok(())
                })?;
            }
            "fixes" => {
                seen.first(r, 11)?;
                result.fix = None;
                r.opt_array(|r, _| {
                    r.object(|r, key| match key {
                        "description" => {
                            let description = read_message(r)?;
                            if result.fix.is_none() {
                                result.fix = description.filter(|d| d.plain().is_some());
                            }
                            Ok(())
                        }
                        _ => r.skip(),
                    })
                })?;
            }
            _ => r.skip()?,
        }
        Ok(())
    })?;
    Ok(result)
}

/// The keys of one object that muster reads, so that a key given twice is refused instead of
/// silently taking its last value (another tool reading the same report could take the first).
/// Keys muster skips are not tracked: their values are never read.
#[derive(Default)]
struct SeenKeys(u32);

impl SeenKeys {
    fn first(&mut self, r: &Reader<'_>, key: u32) -> Read<()> {
        let bit = 1 << key;
        if self.0 & bit != 0 {
            return r.error("duplicate key in a result");
        }
        self.0 |= bit;
        Ok(())
    }
}

fn read_rule_reference<'a>(r: &mut Reader<'a>) -> Read<Option<RawRuleReference<'a>>> {
    let mut reference = RawRuleReference::default();
    if r.null() {
        return Ok(None);
    }
    r.object(|r, key| {
        match key {
            "id" => reference.id = r.opt_string()?,
            "index" => reference.index = r.opt_int()?,
            "toolComponent" => {
                if r.null() {
                    reference.tool_component = None;
                } else {
                    let mut component = RawComponentReference::default();
                    r.object(|r, key| {
                        match key {
                            "index" => component.index = r.opt_int()?,
                            "name" => component.name = r.opt_string()?,
                            _ => r.skip()?,
                        }
                        Ok(())
                    })?;
                    reference.tool_component = Some(component);
                }
            }
            _ => r.skip()?,
        }
        Ok(())
    })?;
    Ok(Some(reference))
}

fn read_message<'a>(r: &mut Reader<'a>) -> Read<Option<RawMessage<'a>>> {
    if r.null() {
        return Ok(None);
    }
    let mut message = RawMessage::default();
    r.object(|r, key| {
        match key {
            "text" => message.text = r.opt_string()?,
            "markdown" => message.markdown = r.opt_string()?,
            "id" => message.id = r.opt_string()?,
            "arguments" => {
                message.arguments = None;
                if !r.null() {
                    let mut arguments = Vec::new();
                    r.array(|r, _| {
                        arguments.push(r.string()?);
                        Ok(())
                    })?;
                    message.arguments = Some(arguments);
                }
            }
            _ => r.skip()?,
        }
        Ok(())
    })?;
    Ok(Some(message))
}

fn read_location<'a>(r: &mut Reader<'a>, decoded: &mut String) -> Read<Option<RawLocation<'a>>> {
    if r.null() {
        return Ok(None);
    }
    let mut location = RawLocation::default();
    r.object(|r, key| {
        match key {
            "physicalLocation" => {
                location.physical_location = None;
                if !r.null() {
                    let mut physical = RawPhysicalLocation::default();
                    r.object(|r, key| {
                        match key {
                            "artifactLocation" => physical.artifact_location = read_artifact_location(r)?,
                            "region" => physical.region = read_region(r, decoded)?,
                            "contextRegion" => physical.context_region = read_region(r, decoded)?,
                            _ => r.skip()?,
                        }
                        Ok(())
                    })?;
                    location.physical_location = Some(physical);
                }
            }
            "logicalLocations" => {
                location.logical_name = None;
                r.opt_array(|r, index| {
                    if index > 0 {
                        return r.skip();
                    }
                    let (mut qualified, mut name) = (None, None);
                    r.object(|r, key| {
                        match key {
                            "fullyQualifiedName" => qualified = r.opt_string()?,
                            "name" => name = r.opt_string()?,
                            _ => r.skip()?,
                        }
                        Ok(())
                    })?;
                    location.logical_name = qualified.or(name);
                    Ok(())
                })?;
            }
            _ => r.skip()?,
        }
        Ok(())
    })?;
    Ok(Some(location))
}

fn read_artifact_location<'a>(r: &mut Reader<'a>) -> Read<Option<RawArtifactLocation<'a>>> {
    if r.null() {
        return Ok(None);
    }
    let (mut uri, mut index) = (None, None);
    r.object(|r, key| {
        match key {
            "uri" => uri = r.opt_string()?,
            "index" => index = r.opt_int()?,
            _ => r.skip()?,
        }
        Ok(())
    })?;
    Ok(Some(RawArtifactLocation { uri, index }))
}

fn read_region<'a>(r: &mut Reader<'a>, decoded: &mut String) -> Read<Option<RawRegion<'a>>> {
    if r.null() {
        return Ok(None);
    }
    let mut region = RawRegion::default();
    r.object(|r, key| {
        match key {
            "startLine" => region.start_line = r.opt_int()?,
            "startColumn" => region.start_column = r.opt_int()?,
            "endColumn" => region.end_column = r.opt_int()?,
            "snippet" => {
                region.snippet = None;
                r.opt_object(|r, key| {
                    match key {
                        "text" => region.snippet = r.opt_string_into(decoded)?,
                        _ => r.skip()?,
                    }
                    Ok(())
                })?;
            }
            _ => r.skip()?,
        }
        Ok(())
    })?;
    Ok(Some(region))
}

/// `security-severity`: a number, or a string holding one.
fn read_score<'a>(r: &mut Reader<'a>) -> Read<Option<NumberOrText<'a>>> {
    match r.peek() {
        Some(b'"') => Ok(Some(NumberOrText::Text(r.string()?))),
        Some(b'n') if r.null() => Ok(None),
        _ => {
            let at = r.pos;
            let text = r.number_text()?;
            match text.parse() {
                Ok(number) => Ok(Some(NumberOrText::Number(number))),
                Err(_) => Err(ReadError {
                    at,
                    message: "invalid number",
                }),
            }
        }
    }
}

/// A string-to-string object (`fingerprints`, `partialFingerprints`) appended to `pairs`:
/// returns the range it fills, sorted the way anchors list entries.
fn read_pairs<'a>(r: &mut Reader<'a>, pairs: &mut Vec<(Text<'a>, Text<'a>)>) -> Read<Option<Range<usize>>> {
    if r.null() {
        return Ok(None);
    }
    let start = pairs.len();
    r.entries(|r, key| {
        pairs.push((key, r.string()?));
        Ok(())
    })?;
    // Stable sort by key, then keep each key's last value, as a map would.
    pairs[start..].sort_by(|a, b| a.0.cmp(&b.0));
    let mut kept = start;
    for next in start..pairs.len() {
        if kept > start && pairs[kept - 1].0 == pairs[next].0 {
            pairs.swap(kept - 1, next);
        } else {
            pairs.swap(kept, next);
            kept += 1;
        }
    }
    pairs.truncate(kept);
    // Anchors list entries in the order of their `key=value` strings.
    pairs[start..].sort_unstable_by(|a, b| entry_bytes(a).cmp(entry_bytes(b)));
    Ok(Some(start..kept))
}

/// The bytes of `key=value`, without building it.
fn entry_bytes<'r>((key, value): &'r (Text<'_>, Text<'_>)) -> impl Iterator<Item = u8> + 'r {
    key.bytes().chain(std::iter::once(b'=')).chain(value.bytes())
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
    /// The run's fingerprint recipe fed with this rule's id and the asset, for results that
    /// name the rule by that id.
    fingerprint: FingerprintBuilder,
}

impl<'a> RuleInfo<'a> {
    fn new(rule: &'a RawRule<'a>, run_fingerprint: &FingerprintBuilder, asset: &AssetKey) -> Self {
        let mut fingerprint = run_fingerprint.clone();
        fingerprint.part(&rule.id).part(asset.as_str());
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
            fingerprint,
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

/// Replaces SARIF placeholders `{0}`, `{1}`, … with the message arguments, in one pass so an
/// argument that itself contains `{1}` is kept as written.
fn substitute(template: &str, arguments: Option<&[Text<'_>]>) -> String {
    let Some(arguments) = arguments.filter(|a| !a.is_empty()) else {
        return template.to_owned();
    };
    let mut out = String::with_capacity(template.len() + 16 * arguments.len());
    let mut rest = template;
    while let Some(open) = rest.find('{') {
        out.push_str(&rest[..open]);
        let after = &rest[open + 1..];
        let digits = after.bytes().take_while(u8::is_ascii_digit).count();
        let canonical = digits == 1 || (digits > 1 && !after.starts_with('0'));
        let argument = (canonical && after[digits..].starts_with('}'))
            .then(|| after[..digits].parse::<usize>().ok())
            .flatten()
            .and_then(|index| arguments.get(index));
        match argument {
            Some(argument) => {
                out.push_str(argument);
                rest = &after[digits + 1..];
            }
            None => {
                out.push('{');
                rest = after;
            }
        }
    }
    out.push_str(rest);
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
    // User info ends at the last `@` of the authority, never at one further down the path.
    let authority_end = without_scheme.find('/').unwrap_or(without_scheme.len());
    let without_user = without_scheme[..authority_end]
        .rfind('@')
        .map_or(without_scheme, |at| &without_scheme[at + 1..]);
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

/// `CVE-…` and `GHSA-…` rule ids name a vulnerability in a dependency.
fn is_vulnerability_id(id: &str) -> bool {
    let starts = |prefix: &str| {
        id.get(..prefix.len())
            .is_some_and(|head| head.eq_ignore_ascii_case(prefix))
    };
    (starts("CVE-") || starts("GHSA-")) && id.len() > 8 && !id.contains(char::is_whitespace)
}

fn is_secret_scanner(tool: &str) -> bool {
    let lower = tool.to_ascii_lowercase();
    ["gitleaks", "trufflehog", "detect-secrets", "ggshield"]
        .iter()
        .any(|name| lower.contains(name))
}

/// RFC 8259 §8.1 lets a parser ignore a byte order mark; .NET and PowerShell tools write one.
const BOM: &[u8] = b"\xEF\xBB\xBF";

/// Results between two progress reports.
const PROGRESS_EVERY: usize = 4096;

/// Parses a SARIF 2.1.0 log; `progress` hears how far into `bytes` the second pass has read.
pub fn parse(bytes: &[u8], ctx: &ParseContext, progress: &mut dyn FnMut(usize)) -> Result<Vec<Scan>, ParseError> {
    let base = if bytes.starts_with(BOM) { BOM.len() } else { 0 };
    let log: RawLog<'_> =
        sonic_rs::from_slice(&bytes[base..]).map_err(|e| ParseError::syntax(FORMAT, bytes, base, &e))?;
    let runs = log.runs.ok_or_else(|| ParseError::Schema {
        format: FORMAT,
        message: "missing \"runs\": a SARIF log is an object with a \"runs\" array".into(),
    })?;
    let mut scratch = Scratch::new();
    let mut scans = Vec::with_capacity(runs.len());
    for (run_index, run) in runs.iter().enumerate() {
        scans.push(parse_run(bytes, run, run_index, ctx, &mut scratch, progress)?);
    }
    Ok(scans)
}

/// A tool component's rules, with the name a `toolComponent` reference may use.
struct Component<'a> {
    name: &'a str,
    rules: Vec<RuleInfo<'a>>,
}

/// What every result of one run shares.
struct RunInfo<'r> {
    asset: &'r AssetKey,
    artifacts: &'r [Option<&'r str>],
    secret_tool: bool,
    /// The `code/v1` recipe fed with the tool, for results whose rule id names no known rule
    /// (the others start from their rule's `fingerprint`).
    fingerprint: &'r FingerprintBuilder,
}

fn parse_run<'r>(
    bytes: &[u8],
    run: &'r RawRun<'_>,
    run_index: usize,
    ctx: &ParseContext,
    scratch: &mut Scratch<'r>,
    progress: &mut dyn FnMut(usize),
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

    // Same parts, in the same order, as `fingerprint::code`.
    let mut fingerprint = FingerprintBuilder::new("code/v1");
    fingerprint.part(&tool.name.to_ascii_lowercase());
    let components: Vec<Component<'_>> = std::iter::once(driver)
        .chain(run.tool.extensions.iter().flatten())
        .map(|c| Component {
            name: c.name.trim(),
            rules: c
                .rules
                .iter()
                .flatten()
                .map(|rule| RuleInfo::new(rule, &fingerprint, &asset))
                .collect(),
        })
        .collect();
    let rules_by_id: HashMap<&str, (usize, usize)> = components
        .iter()
        .enumerate()
        .flat_map(|(ci, c)| c.rules.iter().enumerate().map(move |(ri, r)| (&*r.id, (ci, ri))))
        .rev() // the driver's definition wins over an extension's
        .collect();
    let artifacts: Vec<Option<&str>> = run
        .artifacts
        .iter()
        .flatten()
        .map(|a| a.location.as_ref().and_then(|l| l.uri.as_deref()))
        .collect();
    let info = RunInfo {
        asset: &asset,
        artifacts: &artifacts,
        secret_tool: is_secret_scanner(tool_name),
        fingerprint: &fingerprint,
    };

    let results = run.results.as_deref().unwrap_or_default();
    let mut detections = Vec::with_capacity(results.len());
    // Results fingerprinted by muster's own anchor, which may repeat on several lines.
    let mut anchored = Vec::new();
    for (result_index, lazy) in results.iter().enumerate() {
        let raw = lazy.as_raw_str();
        // The lazy value borrows from `bytes` (`from_slice` never copies its input).
        let offset = (raw.as_ptr() as usize).saturating_sub(bytes.as_ptr() as usize);
        if result_index % PROGRESS_EVERY == 0 {
            progress(offset);
        }
        let result = read_result(&mut Reader::new(raw), scratch).map_err(|e| {
            let at = (offset + e.at).min(bytes.len());
            let (line, column) = position_of(bytes, at);
            ParseError::Syntax {
                format: FORMAT,
                message: e.message.to_owned(),
                offset: at,
                line,
                column,
                item: None,
            }
            .in_item(format!("runs[{run_index}].results[{result_index}]"))
        })?;
        let rule = lookup_rule(&result, &components, &rules_by_id);
        let (detection, tool_anchor) = detection(&result, rule, &info, scratch);
        if !tool_anchor {
            anchored.push(detections.len());
        }
        detections.push(detection);
    }
    rank_repeated_anchors(&mut detections, &anchored);
    Ok(Scan {
        tool,
        asset,
        detections,
        complete: true,
    })
}

/// Gives each distinct line of a repeated anchor its own fingerprint (`fingerprint::rank_repeated`);
/// `anchored` indexes the detections whose fingerprint rests on such an anchor.
pub(super) fn rank_repeated_anchors(detections: &mut [Detection], anchored: &[usize]) {
    let line = |d: &Detection| match d.location {
        Location::Source { line, .. } => line,
        _ => None,
    };
    let mut items: Vec<(Fingerprint, Option<u32>)> = anchored
        .iter()
        .map(|&i| (detections[i].fingerprint, line(&detections[i])))
        .collect();
    fingerprint::rank_repeated(&mut items);
    for (&index, (fingerprint, _)) in anchored.iter().zip(items) {
        detections[index].fingerprint = fingerprint;
    }
}

fn lookup_rule<'r, 'a>(
    result: &RawResult<'_>,
    components: &'r [Component<'a>],
    by_id: &HashMap<&str, (usize, usize)>,
) -> Option<&'r RuleInfo<'a>> {
    let reference = result.rule.as_ref();
    // SARIF §3.54.5: a `toolComponent` reference's index points into `tool.extensions`;
    // without a reference the rule is the driver's.
    let component = match reference.and_then(|r| r.tool_component.as_ref()) {
        None => Some(0),
        Some(c) => match c.index {
            Some(i) => usize::try_from(i).ok().and_then(|i| i.checked_add(1)),
            None => c
                .name
                .as_deref()
                .and_then(|name| components.iter().position(|c| c.name == name.trim())),
        },
    };
    let index = result
        .rule_index
        .or_else(|| reference.and_then(|r| r.index))
        .and_then(|i| usize::try_from(i).ok());
    if let Some(rule) = component.zip(index).and_then(|(c, i)| components.get(c)?.rules.get(i)) {
        return Some(rule);
    }
    let id = result
        .rule_id
        .as_deref()
        .or_else(|| reference.and_then(|r| r.id.as_deref()))?;
    let (ci, ri) = by_id.get(id)?;
    components.get(*ci)?.rules.get(*ri)
}

/// Builds a result's detection; the flag says its fingerprint came from the tool's own
/// fingerprints rather than an anchor of muster's.
fn detection(
    result: &RawResult<'_>,
    rule: Option<&RuleInfo<'_>>,
    run: &RunInfo<'_>,
    scratch: &mut Scratch<'_>,
) -> (Detection, bool) {
    let rule_id: Option<Arc<str>> = match (result.rule_id.as_deref(), rule) {
        (Some(id), Some(rule)) if *rule.id == *id => Some(rule.id.clone()),
        (Some(id), _) => Some(Arc::from(id)),
        (None, Some(rule)) => Some(rule.id.clone()),
        (None, None) => result.rule.as_ref().and_then(|r| r.id.as_deref()).map(Arc::from),
    };

    let result_security = result.security_severity.as_ref().and_then(NumberOrText::value);
    // SARIF §3.27.10: without a level, a result whose kind is not "fail" (pass, review,
    // informational, …) is level "none"; otherwise the rule's default level, else "warning".
    let not_a_failure = result.kind.as_deref().is_some_and(|kind| kind != "fail");
    let severity = result_security
        .or(rule.and_then(|r| r.security_severity))
        .map(Severity::from_cvss)
        .or_else(|| result.level.as_deref().and_then(level_severity))
        .or(not_a_failure.then_some(Severity::Info))
        .or(rule.and_then(|r| r.level))
        .unwrap_or(Severity::Medium);

    let first_location = result.location.as_ref();
    let physical = first_location.and_then(|l| l.physical_location.as_ref());
    let path = physical
        .and_then(|p| p.artifact_location.as_ref())
        .and_then(|a| {
            a.uri.as_deref().or_else(|| {
                let index = usize::try_from(a.index?).ok()?;
                run.artifacts.get(index).copied().flatten()
            })
        })
        .map(clean_path);
    let region = physical.and_then(|p| p.region.as_ref());
    let line = line_number(region.and_then(|r| r.start_line));

    let message = result.message.as_ref().and_then(|m| m.render(rule));
    let rule_text = rule_id.as_deref().unwrap_or("");
    let path_text = path.as_deref().unwrap_or("");
    let anchor = &mut scratch.anchor;
    let tool_anchor = write_anchor(anchor, result, &scratch.pairs, &scratch.decoded, message.as_deref());
    let mut fingerprint = match (rule, &rule_id) {
        (Some(rule), Some(id)) if Arc::ptr_eq(&rule.id, id) => rule.fingerprint.clone(),
        _ => {
            let mut fingerprint = run.fingerprint.clone();
            fingerprint.part(rule_text).part(run.asset.as_str());
            fingerprint
        }
    };
    fingerprint.part(path_text).part(anchor);
    let fingerprint = fingerprint.finish();

    let vulnerability = is_vulnerability_id(rule_text);
    let kind = if run.secret_tool || rule.is_some_and(|r| r.secret) {
        FindingKind::Secret
    } else if vulnerability {
        FindingKind::Dependency
    } else {
        FindingKind::Code
    };
    let vuln_ids = if vulnerability {
        vec![rule_text.to_ascii_uppercase()]
    } else {
        Vec::new()
    };

    let title = message
        .or_else(|| rule.and_then(|r| r.short_description.map(str::to_owned)))
        .or_else(|| rule_id.as_deref().map(str::to_owned))
        .unwrap_or_else(|| "SARIF result without a message".to_owned());

    // SARIF §3.35.3: a suppression without a status is accepted; rejected or under-review ones
    // do not hide the result (decided while reading).
    let reported = if result.suppressed {
        Reported::Suppressed
    } else {
        Reported::Open
    };

    let detection = Detection {
        fingerprint,
        kind,
        rule_id,
        vuln_ids,
        title: truncate(title, MAX_TITLE),
        description: rule.and_then(|r| r.description.clone()),
        severity,
        cvss: Vec::new(),
        epss: None,
        kev: false,
        location: match path {
            Some(path) => Location::Source { path, line },
            None => Location::Unspecified,
        },
        fix: result.fix.as_ref().and_then(RawMessage::plain).map(str::to_owned),
        help_uri: rule.and_then(|r| r.help_uri.clone()),
        evidence: Vec::new(),
        reported,
        reason: None,
    };
    (detection, tool_anchor)
}

/// Writes the line-independent part of a code fingerprint into `out`, best source first:
/// `fp:` / `pfp:` sorted `key=value` entries, `snippet:` / `context:` whitespace-normalized
/// code, `logical:name:message`, else `message:text:startColumn:endColumn`. Returns whether the
/// anchor is the tool's own fingerprint (which already tells repeated occurrences apart).
fn write_anchor(
    out: &mut String,
    result: &RawResult<'_>,
    pairs: &[(Text<'_>, Text<'_>)],
    decoded: &str,
    message: Option<&str>,
) -> bool {
    out.clear();
    let entries = |range: &Option<Range<usize>>| range.clone().and_then(|r| pairs.get(r)).filter(|p| !p.is_empty());
    if let Some(entries) = entries(&result.fingerprints) {
        out.push_str("fp:");
        write_entries(out, entries);
        return true;
    }
    if let Some(entries) = entries(&result.partial_fingerprints) {
        out.push_str("pfp:");
        write_entries(out, entries);
        return true;
    }
    let location = result.location.as_ref();
    let physical = location.and_then(|l| l.physical_location.as_ref());
    let region = physical.and_then(|p| p.region.as_ref());
    if write_normalized(out, "snippet:", snippet(region, decoded)) {
        return false;
    }
    let context = physical.and_then(|p| p.context_region.as_ref());
    if write_normalized(out, "context:", snippet(context, decoded)) {
        return false;
    }
    if let Some(name) = location.and_then(|l| l.logical_name.as_deref()) {
        out.push_str("logical:");
        out.push_str(name);
        out.push(':');
        push_normalized(out, message.unwrap_or_default());
        return false;
    }
    // Columns survive code moving down; the message distinguishes two hits on one line.
    out.push_str("message:");
    push_normalized(out, message.unwrap_or_default());
    let columns = region.map_or((None, None), |r| (r.start_column, r.end_column));
    // Writing to a `String` cannot fail.
    let _ = write!(out, ":{:?}:{:?}", columns.0, columns.1);
    false
}

fn snippet<'s>(region: Option<&'s RawRegion<'_>>, decoded: &'s str) -> Option<&'s str> {
    Some(region?.snippet.as_ref()?.resolve(decoded))
}

/// Appends `key=value` entries joined by `;`.
fn write_entries(out: &mut String, pairs: &[(Text<'_>, Text<'_>)]) {
    for (index, (key, value)) in pairs.iter().enumerate() {
        if index > 0 {
            out.push(';');
        }
        out.push_str(key);
        out.push('=');
        out.push_str(value);
    }
}

/// Appends `prefix` and the normalized `text`; appends nothing and returns false when the
/// text is absent or only whitespace.
fn write_normalized(out: &mut String, prefix: &str, text: Option<&str>) -> bool {
    let Some(text) = text else { return false };
    let start = out.len();
    out.push_str(prefix);
    let body = out.len();
    push_normalized(out, text);
    if out.len() == body {
        out.truncate(start);
        return false;
    }
    true
}

/// `fingerprint::normalize_anchor` without its allocation: whitespace runs become one space.
fn push_normalized(out: &mut String, text: &str) {
    if !text.is_ascii() {
        for (index, word) in text.split_whitespace().enumerate() {
            if index > 0 {
                out.push(' ');
            }
            out.push_str(word);
        }
        return;
    }
    // The ASCII characters `split_whitespace` splits on (Unicode White_Space), by byte; in
    // ASCII text every byte offset is a character boundary.
    let space = |byte: &u8| matches!(byte, b' ' | b'\t' | b'\n' | b'\x0B' | b'\x0C' | b'\r');
    let bytes = text.as_bytes();
    let mut at = 0;
    let mut first = true;
    while let Some(start) = bytes[at..].iter().position(|b| !space(b)).map(|p| at + p) {
        let end = bytes[start..].iter().position(space).map_or(bytes.len(), |p| start + p);
        if !first {
            out.push(' ');
        }
        first = false;
        out.push_str(text.get(start..end).unwrap_or_default());
        at = end;
    }
}

// ---- JSON reader for the second pass --------------------------------------------------------

/// Why the second pass refused a result: a byte offset inside the result's text.
#[derive(Debug)]
struct ReadError {
    at: usize,
    message: &'static str,
}

type Read<T> = Result<T, ReadError>;

/// A forward-only reader over the text of one result. The first pass has checked the syntax
/// already; this one only extracts what muster uses and skips the rest, borrowing every
/// string that has no escapes. It never panics: anything unexpected is an error at a position.
struct Reader<'a> {
    text: &'a str,
    pos: usize,
}

impl<'a> Reader<'a> {
    fn new(text: &'a str) -> Self {
        Self { text, pos: 0 }
    }

    fn bytes(&self) -> &'a [u8] {
        self.text.as_bytes()
    }

    /// What is left to read.
    fn rest(&self) -> &'a [u8] {
        self.bytes().get(self.pos..).unwrap_or_default()
    }

    fn error<T>(&self, message: &'static str) -> Read<T> {
        Err(ReadError { at: self.pos, message })
    }

    /// The next byte after whitespace, not consumed.
    fn peek(&mut self) -> Option<u8> {
        while let Some(&byte) = self.bytes().get(self.pos) {
            if !matches!(byte, b' ' | b'\n' | b'\r' | b'\t') {
                return Some(byte);
            }
            self.pos += 1;
        }
        None
    }

    fn expect(&mut self, byte: u8, message: &'static str) -> Read<()> {
        if self.peek() != Some(byte) {
            return self.error(message);
        }
        self.pos += 1;
        Ok(())
    }

    /// Consumes `null` and returns true, or consumes nothing.
    fn null(&mut self) -> bool {
        let null = self.peek() == Some(b'n') && self.rest().starts_with(b"null");
        if null {
            self.pos += 4;
        }
        null
    }

    /// Calls `field` with each key of an object, positioned on its value; `field` must consume
    /// the value (or call `skip`).
    fn object(&mut self, mut field: impl FnMut(&mut Self, &str) -> Read<()>) -> Read<()> {
        self.entries(|r, key| field(r, &key))
    }

    /// `object` with keys that outlive the call.
    fn entries(&mut self, mut field: impl FnMut(&mut Self, Text<'a>) -> Read<()>) -> Read<()> {
        self.expect(b'{', "invalid type: expected an object")?;
        if self.peek() == Some(b'}') {
            self.pos += 1;
            return Ok(());
        }
        loop {
            let key = self.string()?;
            self.expect(b':', "expected ':'")?;
            field(self, key)?;
            match self.peek() {
                Some(b',') => self.pos += 1,
                Some(b'}') => {
                    self.pos += 1;
                    return Ok(());
                }
                _ => return self.error("expected ',' or '}'"),
            }
        }
    }

    /// Calls `element` with the index of each element of an array, positioned on it.
    fn array(&mut self, mut element: impl FnMut(&mut Self, usize) -> Read<()>) -> Read<()> {
        self.expect(b'[', "invalid type: expected an array")?;
        if self.peek() == Some(b']') {
            self.pos += 1;
            return Ok(());
        }
        let mut index = 0;
        loop {
            element(self, index)?;
            index += 1;
            match self.peek() {
                Some(b',') => self.pos += 1,
                Some(b']') => {
                    self.pos += 1;
                    return Ok(());
                }
                _ => return self.error("expected ',' or ']'"),
            }
        }
    }

    /// `null` or an object.
    fn opt_object(&mut self, field: impl FnMut(&mut Self, &str) -> Read<()>) -> Read<()> {
        if self.null() { Ok(()) } else { self.object(field) }
    }

    /// `null` or an array.
    fn opt_array(&mut self, element: impl FnMut(&mut Self, usize) -> Read<()>) -> Read<()> {
        if self.null() { Ok(()) } else { self.array(element) }
    }

    fn opt_string(&mut self) -> Read<Option<Text<'a>>> {
        if self.null() { Ok(None) } else { self.string().map(Some) }
    }

    /// A string, borrowed unless it has escapes.
    fn string(&mut self) -> Read<Text<'a>> {
        match self.string_start()? {
            Ok(text) => Ok(Cow::Borrowed(text)),
            Err(head) => {
                let mut owned = String::with_capacity(head.len() + 32);
                owned.push_str(head);
                self.unescape_into(&mut owned)?;
                Ok(Cow::Owned(owned))
            }
        }
    }

    /// `null` or a string; one with escapes is decoded at the end of `decoded`.
    fn opt_string_into(&mut self, decoded: &mut String) -> Read<Option<Str<'a>>> {
        if self.null() {
            return Ok(None);
        }
        match self.string_start()? {
            Ok(text) => Ok(Some(Str::Borrowed(text))),
            Err(head) => {
                let start = decoded.len();
                decoded.push_str(head);
                self.unescape_into(decoded)?;
                Ok(Some(Str::Decoded(start..decoded.len())))
            }
        }
    }

    /// Reads a string up to its closing quote (`Ok`) or to its first escape (`Err` with the
    /// text before it, positioned on the backslash).
    fn string_start(&mut self) -> Read<Result<&'a str, &'a str>> {
        self.expect(b'"', "invalid type: expected a string")?;
        let start = self.pos;
        let end = find_quote_or_backslash(self.bytes(), start);
        let closed = match self.bytes().get(end) {
            Some(b'"') => true,
            Some(_) => false,
            None => return self.error("EOF while parsing a string"),
        };
        let head = self.slice(start, end)?;
        self.pos = if closed { end + 1 } else { end };
        Ok(if closed { Ok(head) } else { Err(head) })
    }

    fn slice(&self, start: usize, end: usize) -> Read<&'a str> {
        self.text.get(start..end).ok_or(ReadError {
            at: start,
            message: "invalid UTF-8 in string",
        })
    }

    /// Decodes from a backslash at `pos` to the closing quote, appending to `out`.
    fn unescape_into(&mut self, out: &mut String) -> Read<()> {
        loop {
            match self.bytes().get(self.pos) {
                Some(b'"') => {
                    self.pos += 1;
                    return Ok(());
                }
                Some(b'\\') => {
                    let escaped = self.bytes().get(self.pos + 1).copied();
                    self.pos += 2;
                    match escaped {
                        Some(b'"') => out.push('"'),
                        Some(b'\\') => out.push('\\'),
                        Some(b'/') => out.push('/'),
                        Some(b'b') => out.push('\u{8}'),
                        Some(b'f') => out.push('\u{c}'),
                        Some(b'n') => out.push('\n'),
                        Some(b'r') => out.push('\r'),
                        Some(b't') => out.push('\t'),
                        Some(b'u') => out.push(self.unicode_escape()?),
                        _ => return self.error("invalid escape"),
                    }
                }
                Some(_) => {
                    let end = find_quote_or_backslash(self.bytes(), self.pos);
                    out.push_str(self.slice(self.pos, end)?);
                    self.pos = end;
                }
                None => return self.error("EOF while parsing a string"),
            }
        }
    }

    /// The character of `\uXXXX` (after `\u`), joining a surrogate pair.
    fn unicode_escape(&mut self) -> Read<char> {
        let high = self.hex4()?;
        let code = if (0xD800..0xDC00).contains(&high) {
            if !self.rest().starts_with(b"\\u") {
                return self.error("lone leading surrogate in hex escape");
            }
            self.pos += 2;
            let low = self.hex4()?;
            if !(0xDC00..0xE000).contains(&low) {
                return self.error("invalid surrogate pair in hex escape");
            }
            0x10000 + ((high - 0xD800) << 10) + (low - 0xDC00)
        } else {
            high
        };
        match char::from_u32(code) {
            Some(c) => Ok(c),
            None => self.error("invalid Unicode code point in hex escape"),
        }
    }

    fn hex4(&mut self) -> Read<u32> {
        let digits = self.bytes().get(self.pos..self.pos + 4);
        let value = digits.and_then(|d| {
            d.iter()
                .try_fold(0u32, |acc, &b| Some(acc * 16 + char::from(b).to_digit(16)?))
        });
        match value {
            Some(value) => {
                self.pos += 4;
                Ok(value)
            }
            None => self.error("invalid hex escape"),
        }
    }

    /// The text of a number, not yet converted.
    fn number_text(&mut self) -> Read<&'a str> {
        match self.peek() {
            Some(b'-' | b'0'..=b'9') => {}
            _ => return self.error("invalid type: expected a number"),
        }
        let start = self.pos;
        while let Some(b'-' | b'+' | b'.' | b'e' | b'E' | b'0'..=b'9') = self.bytes().get(self.pos) {
            self.pos += 1;
        }
        self.slice(start, self.pos)
    }

    /// `null` or an integer.
    fn opt_int(&mut self) -> Read<Option<i64>> {
        if self.null() {
            return Ok(None);
        }
        let start = self.pos;
        let text = self.number_text()?;
        match text.parse() {
            Ok(value) => Ok(Some(value)),
            Err(_) => Err(ReadError {
                at: start,
                message: "invalid type: expected an integer",
            }),
        }
    }

    /// Skips one value of any type.
    fn skip(&mut self) -> Read<()> {
        match self.peek() {
            Some(b'"') => {
                self.pos += 1;
                self.skip_string_body()
            }
            Some(b'{' | b'[') => {
                let mut depth = 0usize;
                loop {
                    match self.bytes().get(self.pos) {
                        Some(b'{' | b'[') => {
                            depth += 1;
                            self.pos += 1;
                        }
                        Some(b'}' | b']') => {
                            depth -= 1;
                            self.pos += 1;
                            if depth == 0 {
                                return Ok(());
                            }
                        }
                        Some(b'"') => {
                            self.pos += 1;
                            self.skip_string_body()?;
                        }
                        Some(_) => self.pos += 1,
                        None => return self.error("EOF while parsing a value"),
                    }
                }
            }
            Some(b't' | b'f' | b'n' | b'-' | b'0'..=b'9') => {
                while let Some(b'a'..=b'z' | b'-' | b'+' | b'.' | b'0'..=b'9' | b'E') = self.bytes().get(self.pos) {
                    self.pos += 1;
                }
                Ok(())
            }
            _ => self.error("expected a value"),
        }
    }

    /// Skips from just after an opening quote to just after the closing one.
    fn skip_string_body(&mut self) -> Read<()> {
        loop {
            let end = find_quote_or_backslash(self.bytes(), self.pos);
            match self.bytes().get(end) {
                Some(b'"') => {
                    self.pos = end + 1;
                    return Ok(());
                }
                Some(_) => self.pos = end + 2,
                None => return self.error("EOF while parsing a string"),
            }
        }
    }
}

/// Index of the first `"` or `\` at or after `from` (or the length), eight bytes at a time.
fn find_quote_or_backslash(bytes: &[u8], from: usize) -> usize {
    const ONES: u64 = u64::from_ne_bytes([0x01; 8]);
    const HIGHS: u64 = u64::from_ne_bytes([0x80; 8]);
    const QUOTES: u64 = u64::from_ne_bytes([b'"'; 8]);
    const BACKSLASHES: u64 = u64::from_ne_bytes([b'\\'; 8]);
    let mut at = from;
    while let Some(chunk) = bytes.get(at..).and_then(<[u8]>::first_chunk::<8>) {
        let word = u64::from_le_bytes(*chunk);
        let quotes = word ^ QUOTES;
        let backslashes = word ^ BACKSLASHES;
        // A byte of `x` is zero iff its bit is set in `(x - 1s) & !x & 0x80s`; the lowest set
        // bit is always exact.
        let found = ((quotes.wrapping_sub(ONES) & !quotes) | (backslashes.wrapping_sub(ONES) & !backslashes)) & HIGHS;
        if found != 0 {
            return at + (found.trailing_zeros() / 8) as usize;
        }
        at += 8;
    }
    while let Some(&byte) = bytes.get(at) {
        if byte == b'"' || byte == b'\\' {
            return at;
        }
        at += 1;
    }
    at
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fingerprint::normalize_anchor;

    #[test]
    fn normalizing_in_place_matches_normalize_anchor() {
        let samples = [
            "",
            "   ",
            "eval(x)",
            "  eval( x )\n",
            "\ta\x0Bb\x0Cc\rd\n\ne ",
            "x\u{a0}y\u{2003}z\u{85}w",
            "naïve  café\t",
            "\u{3000}全角\u{3000}space",
        ];
        for text in samples {
            let mut out = String::from("prefix:");
            push_normalized(&mut out, text);
            assert_eq!(out, format!("prefix:{}", normalize_anchor(text)), "{text:?}");
        }
    }

    #[test]
    fn quote_search_finds_the_first_quote_or_backslash() {
        for text in ["", "abc", "\"", "abcdefgh\"", "abcdefghijklmno\\p\"", "ab\"cd\\"] {
            let expected = text.find(['"', '\\']).unwrap_or(text.len());
            assert_eq!(find_quote_or_backslash(text.as_bytes(), 0), expected, "{text:?}");
        }
        let long = format!("{}\"", "x".repeat(37));
        assert_eq!(find_quote_or_backslash(long.as_bytes(), 3), 37);
    }

    #[test]
    fn reader_borrows_plain_strings_and_decodes_escaped_ones() {
        let mut reader = Reader::new(r#"  "plain"  "a\"b\\c\/d\u00e9\ud83d\ude00\n""#);
        assert!(matches!(reader.string().unwrap(), Cow::Borrowed("plain")));
        let decoded = reader.string().unwrap();
        assert!(matches!(decoded, Cow::Owned(_)));
        assert_eq!(decoded, "a\"b\\c/dé😀\n");
    }

    #[test]
    fn reader_refuses_bad_escapes() {
        for text in [
            r#""\x""#,
            r#""\u12""#,
            r#""\ud83d""#,
            r#""\ud83dx""#,
            r#""\udc00""#,
            r#""abc"#,
        ] {
            assert!(Reader::new(text).string().is_err(), "{text}");
        }
    }

    #[test]
    fn reader_skips_nested_values() {
        let text = r#"{"a": [1, {"b": "x]}\"y"}, -2.5e3, true, null], "c": 7}"#;
        let mut c = None;
        Reader::new(text)
            .object(|r, key| {
                match key {
                    "c" => c = r.opt_int()?,
                    _ => r.skip()?,
                }
                Ok(())
            })
            .unwrap();
        assert_eq!(c, Some(7));
    }

    #[test]
    fn reader_reports_type_errors_where_they_are() {
        let text = r#"{"startLine": "12"}"#;
        let error = Reader::new(text).object(|r, _| r.opt_int().map(drop)).unwrap_err();
        assert_eq!(error.at, text.find("\"12\"").unwrap());
        assert!(Reader::new("1.5").opt_int().is_err());
        assert!(Reader::new("99999999999999999999").opt_int().is_err());
        assert_eq!(Reader::new(" null").opt_int().unwrap(), None);
    }

    #[test]
    fn pairs_sort_like_joined_entries_and_keep_the_last_duplicate() {
        let text = r#"{"b": "1", "a.b": "2", "a": "3", "b": "4"}"#;
        let mut pairs = Vec::new();
        let range = read_pairs(&mut Reader::new(text), &mut pairs).unwrap().unwrap();
        let mut anchor = String::new();
        write_entries(&mut anchor, &pairs[range]);
        // As the old `format!("{k}={v}")` + sort + join did: "a.b=2" < "a=3" < "b=4".
        assert_eq!(anchor, "a.b=2;a=3;b=4");
    }

    #[test]
    fn substitute_replaces_only_known_placeholders() {
        let args = [Cow::Borrowed("x{1}"), Cow::Borrowed("y")];
        assert_eq!(substitute("{0}-{1}-{2}-{01}-{", Some(&args)), "x{1}-y-{2}-{01}-{");
        assert_eq!(substitute("{0}", None), "{0}");
    }
}
