//! GitHub security alert webhooks (code scanning, Dependabot, secret scanning and the legacy
//! repository vulnerability alert) → detections.
//!
//! One delivery is one event about one alert, so its scan is never complete: it changes only the
//! finding it names. The secret of a secret scanning alert is never read, let alone stored.

use std::sync::Arc;

use serde::Deserialize;
use serde::de::IgnoredAny;

use super::common::{self, epss_rating_or_evidence, push_cvss};
use super::json::{Number, OneOrMany, Text, text, without_bom};
use super::sarif::repository_asset;
use super::{ParseContext, ParseError};
use crate::fingerprint;
use crate::model::{AssetKey, Cvss, Detection, FindingKind, Location, PackageLocation, Reported, Scan, Severity, Tool};

const FORMAT: &str = "github";
const SUPPORTED: &str = "code_scanning_alert, dependabot_alert, secret_scanning_alert, \
                         repository_vulnerability_alert (and ping)";

#[derive(Deserialize)]
struct RawPayload<'a> {
    #[serde(borrow, default)]
    action: Option<Text<'a>>,
    #[serde(borrow, default)]
    alert: Option<RawAlert<'a>>,
    #[serde(borrow, default)]
    repository: Option<RawRepository<'a>>,
    /// Keys that tell other events apart when the event name is not given.
    #[serde(default)]
    zen: Option<IgnoredAny>,
    #[serde(default)]
    hook_id: Option<IgnoredAny>,
    #[serde(default)]
    issue: Option<IgnoredAny>,
    #[serde(default)]
    comment: Option<IgnoredAny>,
    #[serde(default)]
    pull_request: Option<IgnoredAny>,
}

#[derive(Deserialize)]
struct RawRepository<'a> {
    #[serde(borrow, default)]
    html_url: Option<Text<'a>>,
}

/// The fields of all four alert kinds; which ones are set tells the kinds apart. `secret` (the
/// leaked value) is deliberately absent.
#[derive(Deserialize)]
struct RawAlert<'a> {
    #[serde(default)]
    number: Option<u64>,
    #[serde(borrow, default)]
    state: Option<Text<'a>>,
    #[serde(borrow, default)]
    html_url: Option<Text<'a>>,
    #[serde(borrow, default)]
    dismissed_reason: Option<Text<'a>>,
    #[serde(borrow, default)]
    dismissed_comment: Option<Text<'a>>,
    // Code scanning.
    #[serde(borrow, default)]
    rule: Option<RawRule<'a>>,
    #[serde(borrow, default)]
    tool: Option<RawTool<'a>>,
    #[serde(borrow, default)]
    most_recent_instance: Option<RawInstance<'a>>,
    #[serde(borrow, default)]
    instances: Option<Vec<RawInstance<'a>>>,
    // Dependabot.
    #[serde(borrow, default)]
    dependency: Option<RawDependency<'a>>,
    #[serde(borrow, default)]
    security_advisory: Option<RawAdvisory<'a>>,
    #[serde(borrow, default)]
    security_vulnerability: Option<RawVulnerability<'a>>,
    // Secret scanning.
    #[serde(borrow, default)]
    secret_type: Option<Text<'a>>,
    #[serde(borrow, default)]
    secret_type_display_name: Option<Text<'a>>,
    #[serde(borrow, default)]
    resolution: Option<Text<'a>>,
    #[serde(borrow, default)]
    resolution_comment: Option<Text<'a>>,
    #[serde(borrow, default)]
    validity: Option<Text<'a>>,
    #[serde(default)]
    publicly_leaked: Option<bool>,
    // Repository vulnerability alert (legacy Dependabot).
    #[serde(borrow, default)]
    affected_package_name: Option<Text<'a>>,
    #[serde(borrow, default)]
    affected_range: Option<Text<'a>>,
    #[serde(borrow, default)]
    external_identifier: Option<Text<'a>>,
    #[serde(borrow, default)]
    external_reference: Option<Text<'a>>,
    #[serde(borrow, default)]
    ghsa_id: Option<Text<'a>>,
    #[serde(borrow, default)]
    fixed_in: Option<Text<'a>>,
    #[serde(borrow, default)]
    severity: Option<Text<'a>>,
    #[serde(borrow, default)]
    dismiss_reason: Option<Text<'a>>,
}

#[derive(Deserialize)]
struct RawRule<'a> {
    #[serde(borrow, default)]
    id: Option<Text<'a>>,
    #[serde(borrow, default)]
    name: Option<Text<'a>>,
    #[serde(borrow, default)]
    severity: Option<Text<'a>>,
    #[serde(borrow, default)]
    security_severity_level: Option<Text<'a>>,
    #[serde(borrow, default)]
    description: Option<Text<'a>>,
    #[serde(borrow, default)]
    full_description: Option<Text<'a>>,
    #[serde(borrow, default)]
    help_uri: Option<Text<'a>>,
}

#[derive(Deserialize)]
struct RawTool<'a> {
    #[serde(borrow, default)]
    name: Option<Text<'a>>,
    #[serde(borrow, default)]
    version: Option<Text<'a>>,
}

#[derive(Deserialize)]
struct RawInstance<'a> {
    #[serde(borrow, default)]
    message: Option<RawMessage<'a>>,
    #[serde(borrow, default)]
    location: Option<RawLocation<'a>>,
}

#[derive(Deserialize)]
struct RawMessage<'a> {
    #[serde(borrow, default)]
    text: Option<Text<'a>>,
}

#[derive(Deserialize)]
struct RawLocation<'a> {
    #[serde(borrow, default)]
    path: Option<Text<'a>>,
    #[serde(default)]
    start_line: Option<i64>,
}

#[derive(Deserialize)]
struct RawDependency<'a> {
    #[serde(borrow, default)]
    package: Option<RawPackage<'a>>,
    #[serde(borrow, default)]
    manifest_path: Option<Text<'a>>,
    #[serde(borrow, default)]
    scope: Option<Text<'a>>,
}

#[derive(Deserialize)]
struct RawPackage<'a> {
    #[serde(borrow, default)]
    ecosystem: Option<Text<'a>>,
    #[serde(borrow, default)]
    name: Option<Text<'a>>,
}

#[derive(Deserialize)]
struct RawAdvisory<'a> {
    #[serde(borrow, default)]
    ghsa_id: Option<Text<'a>>,
    #[serde(borrow, default)]
    cve_id: Option<Text<'a>>,
    #[serde(borrow, default)]
    summary: Option<Text<'a>>,
    #[serde(borrow, default)]
    description: Option<Text<'a>>,
    #[serde(borrow, default)]
    severity: Option<Text<'a>>,
    #[serde(borrow, default)]
    identifiers: Option<Vec<RawIdentifier<'a>>>,
    #[serde(borrow, default)]
    cvss: Option<RawCvss<'a>>,
    #[serde(borrow, default)]
    cvss_severities: Option<RawCvssSeverities<'a>>,
    /// An array of one entry in today's API, an object in some older payloads.
    #[serde(borrow, default)]
    epss: Option<OneOrMany<RawEpss<'a>>>,
}

#[derive(Deserialize)]
struct RawIdentifier<'a> {
    #[serde(borrow, default)]
    value: Option<Text<'a>>,
}

#[derive(Deserialize)]
struct RawCvss<'a> {
    #[serde(borrow, default)]
    score: Option<Number<'a>>,
    #[serde(borrow, default)]
    vector_string: Option<Text<'a>>,
}

#[derive(Deserialize)]
struct RawCvssSeverities<'a> {
    #[serde(borrow, default)]
    cvss_v3: Option<RawCvss<'a>>,
    #[serde(borrow, default)]
    cvss_v4: Option<RawCvss<'a>>,
}

#[derive(Deserialize)]
struct RawEpss<'a> {
    /// The probability (0–1), despite its name.
    #[serde(borrow, default)]
    percentage: Option<Number<'a>>,
    /// GitHub writes it as a string (`"0.16001e0"`).
    #[serde(borrow, default)]
    percentile: Option<Number<'a>>,
}

#[derive(Deserialize)]
struct RawVulnerability<'a> {
    #[serde(borrow, default)]
    severity: Option<Text<'a>>,
    #[serde(borrow, default)]
    vulnerable_version_range: Option<Text<'a>>,
    #[serde(borrow, default)]
    first_patched_version: Option<RawPatched<'a>>,
}

#[derive(Deserialize)]
struct RawPatched<'a> {
    #[serde(borrow, default)]
    identifier: Option<Text<'a>>,
}

/// The alert events muster reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Event {
    CodeScanning,
    Dependabot,
    SecretScanning,
    RepositoryVulnerability,
}

impl Event {
    fn name(self) -> &'static str {
        match self {
            Self::CodeScanning => "code_scanning_alert",
            Self::Dependabot => "dependabot_alert",
            Self::SecretScanning => "secret_scanning_alert",
            Self::RepositoryVulnerability => "repository_vulnerability_alert",
        }
    }

    fn from_name(name: &str) -> Option<Self> {
        [
            Self::CodeScanning,
            Self::Dependabot,
            Self::SecretScanning,
            Self::RepositoryVulnerability,
        ]
        .into_iter()
        .find(|event| event.name() == name)
    }

    /// The event an alert's shape belongs to (module doc of `Format::Github`).
    fn from_shape(alert: &RawAlert<'_>) -> Option<Self> {
        if alert.rule.is_some() && alert.tool.is_some() {
            Some(Self::CodeScanning)
        } else if alert.security_advisory.is_some() && alert.dependency.is_some() {
            Some(Self::Dependabot)
        } else if alert.secret_type.is_some() {
            Some(Self::SecretScanning)
        } else if alert.affected_package_name.is_some() {
            Some(Self::RepositoryVulnerability)
        } else {
            None
        }
    }
}

/// Parses one webhook delivery; `ctx.event` is the `X-GitHub-Event` header when known.
/// `ping` (sent when a hook is created) gives no scan; other non-alert events are refused.
pub fn parse(bytes: &[u8], ctx: &ParseContext) -> Result<Vec<Scan>, ParseError> {
    // Positions count from after a byte order mark.
    let (_, bytes) = without_bom(bytes);
    let named = ctx.event.as_deref().map(|e| e.trim().to_ascii_lowercase());
    let named_event = match named.as_deref() {
        Some("ping") => return Ok(Vec::new()),
        Some(name) => Some(Event::from_name(name).ok_or_else(|| unsupported(name))?),
        None => None,
    };
    let payload: RawPayload<'_> = sonic_rs::from_slice(bytes).map_err(|e| ParseError::syntax(FORMAT, bytes, 0, &e))?;
    let Some(alert) = &payload.alert else {
        return match named_event {
            Some(event) => Err(schema(format!("{}: the payload has no \"alert\"", event.name()))),
            None => other_event(&payload),
        };
    };
    let event = match named_event {
        Some(event) => event,
        None => Event::from_shape(alert).ok_or_else(|| {
            schema(format!(
                "could not tell which alert event this is from its fields; pass the X-GitHub-Event \
                 header (CLI: --event); supported: {SUPPORTED}"
            ))
        })?,
    };
    let asset = repository(&payload, alert).unwrap_or_else(|| ctx.default_asset.clone());
    let action = text(&payload.action);
    let (tool, mut detection) = match event {
        Event::CodeScanning => code_scanning(alert, &asset)?,
        Event::Dependabot => dependabot(alert, &asset)?,
        Event::SecretScanning => secret_scanning(alert, &asset)?,
        Event::RepositoryVulnerability => repository_vulnerability(alert, &asset)?,
    };
    (detection.reported, detection.reason) = reported(event, action, alert);
    Ok(vec![Scan {
        tool,
        asset,
        detections: vec![detection],
        complete: false,
    }])
}

fn schema(message: String) -> ParseError {
    ParseError::Schema {
        format: FORMAT,
        message,
    }
}

fn unsupported(event: &str) -> ParseError {
    schema(format!(
        "event {event:?} is not a security alert; supported events: {SUPPORTED}"
    ))
}

/// Names the event of a payload without an alert, so the refusal says what was sent.
fn other_event(payload: &RawPayload<'_>) -> Result<Vec<Scan>, ParseError> {
    if payload.zen.is_some() && payload.hook_id.is_some() {
        return Ok(Vec::new());
    }
    let guess = if payload.issue.is_some() {
        Some(if payload.comment.is_some() {
            "issue_comment"
        } else {
            "issues"
        })
    } else if payload.pull_request.is_some() {
        Some("pull_request")
    } else {
        None
    };
    Err(match guess {
        Some(event) => unsupported(event),
        None => schema(format!(
            "the payload has no \"alert\", so it is not a security alert event; supported events: {SUPPORTED}"
        )),
    })
}

/// `repository.html_url` as SARIF names the same repository, else the repository part of the
/// alert's own page (`…/security/code-scanning/10`).
fn repository(payload: &RawPayload<'_>, alert: &RawAlert<'_>) -> Option<AssetKey> {
    payload
        .repository
        .as_ref()
        .and_then(|r| text(&r.html_url))
        .and_then(repository_asset)
        .or_else(|| {
            let url = text(&alert.html_url)?;
            let repo = &url[..url.find("/security/")?];
            repository_asset(repo)
        })
}

fn title(text: &str) -> String {
    common::truncate(text.trim().to_owned(), common::MAX_TITLE)
}

fn alert_number(alert: &RawAlert<'_>, event: Event) -> Result<u64, ParseError> {
    alert
        .number
        .ok_or_else(|| schema(format!("{}: alert.number is missing", event.name())))
}

/// Code scanning alerts are numbered per repository and the number survives every event of the
/// alert, so it anchors the fingerprint. The path is left out on purpose: some events (the
/// `reopened` example among them) carry no location, and must still hit the same finding.
fn code_scanning(alert: &RawAlert<'_>, asset: &AssetKey) -> Result<(Tool, Detection), ParseError> {
    let event = Event::CodeScanning;
    let number = alert_number(alert, event)?;
    let rule = alert.rule.as_ref();
    let rule_id = rule
        .and_then(|r| text(&r.id))
        .ok_or_else(|| schema(format!("{}: alert.rule.id is missing", event.name())))?;
    let tool_name = alert
        .tool
        .as_ref()
        .and_then(|t| text(&t.name))
        .ok_or_else(|| schema(format!("{}: alert.tool.name is missing", event.name())))?;
    let tool = Tool {
        name: tool_name.to_owned(),
        version: alert.tool.as_ref().and_then(|t| text(&t.version)).map(str::to_owned),
    };
    let instance = alert.most_recent_instance.as_ref();
    let location = instance
        .and_then(|i| i.location.as_ref())
        .or_else(|| alert.instances.iter().flatten().find_map(|i| i.location.as_ref()));
    let message = instance
        .or_else(|| alert.instances.as_ref().and_then(|list| list.first()))
        .and_then(|i| i.message.as_ref())
        .and_then(|m| text(&m.text));
    let severity = rule
        .and_then(|r| text(&r.security_severity_level))
        .or_else(|| rule.and_then(|r| text(&r.severity)))
        .and_then(|s| Severity::parse(s).ok())
        .unwrap_or(Severity::Medium);
    let heading = rule
        .and_then(|r| text(&r.description))
        .or(message)
        .or_else(|| rule.and_then(|r| text(&r.name)))
        .unwrap_or(rule_id);
    let location = match location.and_then(|l| text(&l.path).map(|path| (path, l.start_line))) {
        Some((path, line)) => Location::Source {
            path: path.to_owned(),
            line: line.and_then(|l| u32::try_from(l).ok()).filter(|l| *l > 0),
        },
        None => Location::Unspecified,
    };
    let fingerprint = fingerprint::code(&tool.name, rule_id, asset, "", &format!("github-alert:{number}"));
    let mut detection = Detection::new(fingerprint, FindingKind::Code, title(heading), severity, location);
    detection.rule_id = Some(Arc::from(rule_id));
    detection.description = rule
        .and_then(|r| text(&r.full_description))
        .or(message.filter(|m| *m != heading))
        .map(Arc::from);
    detection.help_uri = text(&alert.html_url)
        .or_else(|| rule.and_then(|r| text(&r.help_uri)))
        .map(Arc::from);
    detection.evidence.push(format!("code scanning alert #{number}"));
    Ok((tool, detection))
}

fn dependabot(alert: &RawAlert<'_>, asset: &AssetKey) -> Result<(Tool, Detection), ParseError> {
    let event = Event::Dependabot;
    let advisory = alert
        .security_advisory
        .as_ref()
        .ok_or_else(|| schema(format!("{}: alert.security_advisory is missing", event.name())))?;
    let ghsa = text(&advisory.ghsa_id);
    let cve = text(&advisory.cve_id);
    let primary = ghsa.or(cve).ok_or_else(|| {
        schema(format!(
            "{}: security_advisory has neither ghsa_id nor cve_id",
            event.name()
        ))
    })?;
    let dependency = alert.dependency.as_ref();
    let package = dependency
        .and_then(|d| d.package.as_ref())
        .and_then(|p| text(&p.name))
        .ok_or_else(|| schema(format!("{}: alert.dependency.package.name is missing", event.name())))?;
    let aliases: Vec<&str> = cve
        .into_iter()
        .chain(ghsa)
        .chain(advisory.identifiers.iter().flatten().filter_map(|i| text(&i.value)))
        .collect();
    let fingerprint = common::package_fingerprint(primary, aliases.iter().copied(), package, asset);
    let vulnerability = alert.security_vulnerability.as_ref();
    let fixed = vulnerability
        .and_then(|v| v.first_patched_version.as_ref())
        .and_then(|p| text(&p.identifier));

    let mut cvss = Vec::new();
    if let Some(c) = &advisory.cvss {
        push_github_cvss(&mut cvss, c);
    }
    if let Some(severities) = &advisory.cvss_severities {
        for c in [&severities.cvss_v3, &severities.cvss_v4].into_iter().flatten() {
            push_github_cvss(&mut cvss, c);
        }
    }
    let severity = text(&advisory.severity)
        .or_else(|| vulnerability.and_then(|v| text(&v.severity)))
        .and_then(|s| Severity::parse(s).ok())
        .or_else(|| {
            cvss.iter()
                .map(|c| f64::from(c.score))
                .reduce(f64::max)
                .map(Severity::from_cvss)
        })
        .unwrap_or(Severity::Medium);
    let heading = text(&advisory.summary).map_or_else(|| format!("{primary} in {package}"), str::to_owned);
    let location = Location::Package(Box::new(PackageLocation {
        name: package.to_owned(),
        version: None,
        fixed_version: fixed.map(str::to_owned),
        path: dependency.and_then(|d| text(&d.manifest_path)).map(str::to_owned),
        source: None,
    }));
    let mut detection = Detection::new(
        fingerprint,
        FindingKind::Dependency,
        title(&heading),
        severity,
        location,
    );
    detection.rule_id = Some(Arc::from(primary));
    detection.vuln_ids = common::vuln_ids(primary, aliases.iter().copied());
    detection.description = text(&advisory.description).map(Arc::from);
    detection.cvss = cvss;
    detection.fix = common::upgrade_hint(package, fixed);
    detection.help_uri = text(&alert.html_url).map(Arc::from);
    if let Some(range) = vulnerability.and_then(|v| text(&v.vulnerable_version_range)) {
        detection.evidence.push(format!("vulnerable range: {range}"));
    }
    if let Some(ecosystem) = dependency
        .and_then(|d| d.package.as_ref())
        .and_then(|p| text(&p.ecosystem))
    {
        detection.evidence.push(format!("ecosystem: {ecosystem}"));
    }
    if let Some(scope) = dependency.and_then(|d| text(&d.scope)) {
        detection.evidence.push(format!("scope: {scope}"));
    }
    let epss = match &advisory.epss {
        Some(OneOrMany::One(entry)) => Some(entry),
        Some(OneOrMany::Many(entries)) => entries.first(),
        None => None,
    };
    if let Some(entry) = epss {
        detection.epss = epss_rating_or_evidence(
            entry.percentage.as_ref().and_then(Number::value),
            entry.percentile.as_ref().and_then(Number::value),
            &mut detection.evidence,
        );
    }
    Ok((dependabot_tool(), detection))
}

fn push_github_cvss(list: &mut Vec<Cvss>, cvss: &RawCvss<'_>) {
    push_cvss(
        list,
        cvss.score.as_ref().and_then(Number::value),
        text(&cvss.vector_string),
        None,
        Some("github"),
    );
}

fn dependabot_tool() -> Tool {
    Tool {
        name: "Dependabot".to_owned(),
        version: None,
    }
}

/// The legacy event Dependabot sent before `dependabot_alert`; fingerprinted like it, so both
/// describe one finding.
fn repository_vulnerability(alert: &RawAlert<'_>, asset: &AssetKey) -> Result<(Tool, Detection), ParseError> {
    let event = Event::RepositoryVulnerability;
    let package = text(&alert.affected_package_name)
        .ok_or_else(|| schema(format!("{}: alert.affected_package_name is missing", event.name())))?;
    let ghsa = text(&alert.ghsa_id);
    let cve = text(&alert.external_identifier);
    let primary = ghsa.or(cve).ok_or_else(|| {
        schema(format!(
            "{}: alert has neither ghsa_id nor external_identifier",
            event.name()
        ))
    })?;
    let aliases: Vec<&str> = cve.into_iter().chain(ghsa).collect();
    let fingerprint = common::package_fingerprint(primary, aliases.iter().copied(), package, asset);
    let fixed = text(&alert.fixed_in);
    let severity = text(&alert.severity)
        .and_then(|s| Severity::parse(s).ok())
        .unwrap_or(Severity::Medium);
    let vuln = common::canonical_vuln_id(primary, aliases.iter().copied());
    let location = Location::Package(Box::new(PackageLocation {
        name: package.to_owned(),
        version: None,
        fixed_version: fixed.map(str::to_owned),
        path: None,
        source: None,
    }));
    let mut detection = Detection::new(
        fingerprint,
        FindingKind::Dependency,
        title(&format!("{vuln} in {package}")),
        severity,
        location,
    );
    detection.rule_id = Some(Arc::from(primary));
    detection.vuln_ids = common::vuln_ids(primary, aliases.iter().copied());
    detection.fix = common::upgrade_hint(package, fixed);
    detection.help_uri = text(&alert.external_reference).map(Arc::from);
    if let Some(range) = text(&alert.affected_range) {
        detection.evidence.push(format!("vulnerable range: {range}"));
    }
    Ok((dependabot_tool(), detection))
}

fn secret_scanning(alert: &RawAlert<'_>, asset: &AssetKey) -> Result<(Tool, Detection), ParseError> {
    let event = Event::SecretScanning;
    let number = alert_number(alert, event)?;
    let secret_type =
        text(&alert.secret_type).ok_or_else(|| schema(format!("{}: alert.secret_type is missing", event.name())))?;
    let tool = Tool {
        name: "GitHub secret scanning".to_owned(),
        version: None,
    };
    let fingerprint = fingerprint::code(&tool.name, secret_type, asset, "", &format!("github-alert:{number}"));
    let heading = text(&alert.secret_type_display_name).unwrap_or(secret_type);
    let mut detection = Detection::new(
        fingerprint,
        FindingKind::Secret,
        title(heading),
        Severity::High,
        Location::Unspecified,
    );
    detection.rule_id = Some(Arc::from(secret_type));
    detection.help_uri = text(&alert.html_url).map(Arc::from);
    detection.evidence.push(format!("secret scanning alert #{number}"));
    if let Some(validity) = text(&alert.validity) {
        detection.evidence.push(format!("validity: {validity}"));
    }
    if alert.publicly_leaked == Some(true) {
        detection.evidence.push("publicly leaked".to_owned());
    }
    Ok((tool, detection))
}

/// What the event says about the alert: its action first, else the alert's state.
fn reported(event: Event, action: Option<&str>, alert: &RawAlert<'_>) -> (Reported, Option<String>) {
    match action {
        Some(
            "created" | "reopened" | "reopened_by_user" | "appeared_in_branch" | "auto_reopened" | "reintroduced"
            | "create" | "reopen",
        ) => (Reported::Open, None),
        Some(action @ ("fixed" | "resolved" | "closed_by_user" | "resolve")) => {
            let reason = if event == Event::SecretScanning {
                resolution(alert)
            } else if action == "closed_by_user" {
                dismissal(alert)
            } else {
                None
            };
            (Reported::Resolved, Some(reason.unwrap_or_else(|| action.to_owned())))
        }
        Some(action @ ("dismissed" | "auto_dismissed" | "dismiss")) => (
            Reported::Resolved,
            Some(dismissal(alert).unwrap_or_else(|| action.to_owned())),
        ),
        _ => match text(&alert.state).map(str::to_ascii_lowercase).as_deref() {
            Some("fixed") => (Reported::Resolved, Some("fixed".to_owned())),
            Some(state @ ("dismissed" | "auto_dismissed")) => (
                Reported::Resolved,
                Some(dismissal(alert).unwrap_or_else(|| state.to_owned())),
            ),
            Some("resolved") => (
                Reported::Resolved,
                Some(resolution(alert).unwrap_or_else(|| "resolved".to_owned())),
            ),
            _ => (Reported::Open, None),
        },
    }
}

/// "won't fix: used only in tests" — the dismissal reason with the comment, when given.
fn dismissal(alert: &RawAlert<'_>) -> Option<String> {
    let reason = text(&alert.dismissed_reason).or_else(|| text(&alert.dismiss_reason))?;
    Some(match text(&alert.dismissed_comment) {
        Some(comment) => format!("{reason}: {comment}"),
        None => reason.to_owned(),
    })
}

fn resolution(alert: &RawAlert<'_>) -> Option<String> {
    let reason = text(&alert.resolution)?;
    Some(match text(&alert.resolution_comment) {
        Some(comment) => format!("{reason}: {comment}"),
        None => reason.to_owned(),
    })
}
