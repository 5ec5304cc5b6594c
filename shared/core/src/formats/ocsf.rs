//! OCSF 1.0–1.2 findings (classes 2001 Security, 2002 Vulnerability, 2003 Compliance and 2004
//! Detection Finding) → detections: one event, an array of events or JSON Lines.
//!
//! Vulnerabilities in packages use the package recipe every dependency scanner shares, so an
//! Inspector finding read as OCSF or as ASFF is one finding. Other classes are cloud findings
//! keyed by the event's own `finding_info.uid`. Any bad event fails the whole report.

use std::sync::Arc;

use serde::Deserialize;

use super::common::{self, ScanGroups, epss_rating_or_evidence, push_cvss};
use super::json::{Number, Text, text, without_bom};
use super::{ParseContext, ParseError};
use crate::fingerprint;
use crate::model::{AssetKey, Detection, FindingKind, Location, PackageLocation, Reported, Scan, Severity, Tool};

const FORMAT: &str = "ocsf";

#[derive(Deserialize)]
struct RawEvent<'a> {
    #[serde(default)]
    class_uid: Option<i64>,
    #[serde(borrow, default)]
    class_name: Option<Text<'a>>,
    #[serde(borrow, default)]
    metadata: Option<RawMetadata<'a>>,
    #[serde(default)]
    severity_id: Option<i64>,
    #[serde(borrow, default)]
    severity: Option<Text<'a>>,
    #[serde(borrow, default)]
    status: Option<Text<'a>>,
    #[serde(default)]
    status_id: Option<i64>,
    #[serde(borrow, default)]
    status_code: Option<Text<'a>>,
    #[serde(borrow, default)]
    status_detail: Option<Text<'a>>,
    /// OCSF 1.0's Security Finding names the status `state`.
    #[serde(borrow, default)]
    state: Option<Text<'a>>,
    #[serde(default)]
    state_id: Option<i64>,
    #[serde(borrow, default)]
    message: Option<Text<'a>>,
    #[serde(borrow, default)]
    finding_info: Option<RawFindingInfo<'a>>,
    /// OCSF 1.0's name for `finding_info`.
    #[serde(borrow, default)]
    finding: Option<RawFindingInfo<'a>>,
    #[serde(borrow, default)]
    resources: Option<Vec<RawResource<'a>>>,
    /// Single resource, as the OCSF examples' Security Hub mapping writes it.
    #[serde(borrow, default)]
    resource: Option<RawResource<'a>>,
    #[serde(borrow, default)]
    cloud: Option<RawCloud<'a>>,
    #[serde(borrow, default)]
    vulnerabilities: Option<Vec<RawVulnerability<'a>>>,
    #[serde(borrow, default)]
    compliance: Option<RawCompliance<'a>>,
    #[serde(borrow, default)]
    remediation: Option<RawRemediation<'a>>,
}

#[derive(Deserialize)]
struct RawMetadata<'a> {
    #[serde(borrow, default)]
    event_code: Option<Text<'a>>,
    #[serde(borrow, default)]
    product: Option<RawProduct<'a>>,
}

#[derive(Deserialize)]
struct RawProduct<'a> {
    #[serde(borrow, default)]
    name: Option<Text<'a>>,
    #[serde(borrow, default)]
    vendor_name: Option<Text<'a>>,
    #[serde(borrow, default)]
    version: Option<Text<'a>>,
}

#[derive(Deserialize)]
struct RawFindingInfo<'a> {
    #[serde(borrow, default)]
    uid: Option<Text<'a>>,
    #[serde(borrow, default)]
    title: Option<Text<'a>>,
    #[serde(borrow, default)]
    desc: Option<Text<'a>>,
    #[serde(borrow, default)]
    types: Option<Vec<Text<'a>>>,
    #[serde(borrow, default)]
    src_url: Option<Text<'a>>,
}

#[derive(Deserialize)]
struct RawResource<'a> {
    #[serde(borrow, default)]
    uid: Option<Text<'a>>,
    #[serde(borrow, default, rename = "type")]
    kind: Option<Text<'a>>,
}

#[derive(Deserialize)]
struct RawCloud<'a> {
    #[serde(borrow, default)]
    account: Option<RawAccount<'a>>,
}

#[derive(Deserialize)]
struct RawAccount<'a> {
    #[serde(borrow, default)]
    uid: Option<Text<'a>>,
}

#[derive(Deserialize)]
struct RawVulnerability<'a> {
    #[serde(borrow, default)]
    cve: Option<RawCve<'a>>,
    #[serde(borrow, default)]
    affected_packages: Option<Vec<RawPackage<'a>>>,
    /// OCSF 1.0's name for `affected_packages`.
    #[serde(borrow, default)]
    packages: Option<Vec<RawPackage<'a>>>,
    #[serde(borrow, default)]
    vendor_name: Option<Text<'a>>,
    #[serde(borrow, default)]
    remediation: Option<RawRemediation<'a>>,
    #[serde(borrow, default)]
    title: Option<Text<'a>>,
    #[serde(borrow, default)]
    desc: Option<Text<'a>>,
}

#[derive(Deserialize)]
struct RawCve<'a> {
    #[serde(borrow, default)]
    uid: Option<Text<'a>>,
    #[serde(borrow, default)]
    cvss: Option<Vec<RawCvss<'a>>>,
    #[serde(borrow, default)]
    epss: Option<RawEpss<'a>>,
}

#[derive(Deserialize)]
struct RawCvss<'a> {
    #[serde(borrow, default)]
    base_score: Option<Number<'a>>,
    #[serde(borrow, default)]
    vector_string: Option<Text<'a>>,
    #[serde(borrow, default)]
    version: Option<Text<'a>>,
    #[serde(borrow, default)]
    source: Option<Text<'a>>,
}

#[derive(Deserialize)]
struct RawEpss<'a> {
    /// A string in the schema (`"0.00066"`); some producers write a number.
    #[serde(borrow, default)]
    score: Option<Number<'a>>,
    #[serde(borrow, default)]
    percentile: Option<Number<'a>>,
}

#[derive(Deserialize)]
struct RawPackage<'a> {
    #[serde(borrow, default)]
    name: Option<Text<'a>>,
    #[serde(borrow, default)]
    version: Option<Text<'a>>,
    #[serde(borrow, default)]
    fixed_in_version: Option<Text<'a>>,
    #[serde(borrow, default)]
    path: Option<Text<'a>>,
}

#[derive(Deserialize)]
struct RawCompliance<'a> {
    #[serde(borrow, default)]
    status: Option<Text<'a>>,
    #[serde(default)]
    status_id: Option<i64>,
    #[serde(borrow, default)]
    control: Option<Text<'a>>,
    #[serde(borrow, default)]
    standards: Option<Vec<Text<'a>>>,
}

#[derive(Deserialize)]
struct RawRemediation<'a> {
    #[serde(borrow, default)]
    desc: Option<Text<'a>>,
    #[serde(borrow, default)]
    references: Option<Vec<Text<'a>>>,
}

/// Parses OCSF findings; an array or JSON Lines is a full export (complete scans), a single
/// event changes only the finding it names.
pub fn parse(bytes: &[u8], ctx: &ParseContext) -> Result<Vec<Scan>, ParseError> {
    let (base, input) = without_bom(bytes);
    let first = input.iter().find(|b| !b.is_ascii_whitespace()).copied();
    let (events, complete): (Vec<(String, RawEvent<'_>)>, bool) = if first == Some(b'[') {
        let events: Vec<RawEvent<'_>> =
            sonic_rs::from_slice(input).map_err(|e| ParseError::syntax(FORMAT, bytes, base, &e))?;
        let events = events
            .into_iter()
            .enumerate()
            .map(|(i, e)| (format!("[{i}]"), e))
            .collect();
        (events, true)
    } else if let Some(lines) = json_lines(input) {
        let mut events = Vec::with_capacity(lines.len());
        for (number, start, line) in lines {
            let event: RawEvent<'_> = sonic_rs::from_slice(line)
                .map_err(|e| ParseError::syntax(FORMAT, bytes, base + start, &e).in_item(format!("line {number}")))?;
            events.push((format!("line {number}"), event));
        }
        (events, true)
    } else {
        let event: RawEvent<'_> =
            sonic_rs::from_slice(input).map_err(|e| ParseError::syntax(FORMAT, bytes, base, &e))?;
        (vec![("event".to_owned(), event)], false)
    };

    let mut scans = ScanGroups::new(complete);
    for (item, raw) in &events {
        let (tool, asset, detection) = event(raw, item, ctx)?;
        scans.scan(tool, asset).detections.push(detection);
    }
    Ok(scans.into_scans())
}

/// The non-blank lines of a JSON Lines document as (1-based line number, byte offset, bytes),
/// or `None` when the input is one (possibly pretty-printed) document: JSON Lines has more than
/// one line and its first line holds a whole object.
fn json_lines(input: &[u8]) -> Option<Vec<(usize, usize, &[u8])>> {
    let mut lines = Vec::new();
    let mut start = 0;
    for (number, line) in input.split(|b| *b == b'\n').enumerate() {
        if !line.iter().all(u8::is_ascii_whitespace) {
            lines.push((number + 1, start, line));
        }
        start += line.len() + 1;
    }
    let (_, _, first) = lines.first()?;
    let trimmed = first.trim_ascii();
    (lines.len() > 1 && trimmed.starts_with(b"{") && trimmed.ends_with(b"}")).then_some(lines)
}

fn schema(message: String) -> ParseError {
    ParseError::Schema {
        format: FORMAT,
        message,
    }
}

fn class_name(class: i64) -> Option<&'static str> {
    Some(match class {
        2001 => "Security Finding",
        2002 => "Vulnerability Finding",
        2003 => "Compliance Finding",
        2004 => "Detection Finding",
        _ => return None,
    })
}

/// `severity_id` (OCSF's enum, `Fatal` counted as critical), else the `severity` caption.
fn severity_of(raw: &RawEvent<'_>) -> Severity {
    let from_id = match raw.severity_id {
        Some(1) => Some(Severity::Info),
        Some(2) => Some(Severity::Low),
        Some(3) => Some(Severity::Medium),
        Some(4) => Some(Severity::High),
        Some(5 | 6) => Some(Severity::Critical),
        _ => None,
    };
    from_id
        .or_else(|| {
            let caption = text(&raw.severity)?;
            if caption.eq_ignore_ascii_case("fatal") {
                Some(Severity::Critical)
            } else {
                Severity::parse(caption).ok()
            }
        })
        .unwrap_or(Severity::Medium)
}

/// A passed check is resolved; otherwise the finding's status caption decides, and its
/// `status_id` only when there is no caption (Prowler writes `"New"` with id 3, which is
/// `Suppressed` in the enum).
fn reported_of(raw: &RawEvent<'_>) -> (Reported, Option<String>) {
    let is = |value: Option<&str>, expected: &str| value.is_some_and(|v| v.eq_ignore_ascii_case(expected));
    let compliance = raw.compliance.as_ref();
    if is(text(&raw.status_code), "PASS")
        || is(compliance.and_then(|c| text(&c.status)), "Pass")
        || compliance.and_then(|c| c.status_id) == Some(1)
    {
        return (Reported::Resolved, Some("passed".to_owned()));
    }
    if is(text(&raw.status_code), "MUTED") {
        return (Reported::Suppressed, Some("muted".to_owned()));
    }
    let caption = text(&raw.status).or_else(|| text(&raw.state));
    let state = match caption {
        Some(caption) if caption.eq_ignore_ascii_case("Suppressed") => Reported::Suppressed,
        Some(caption) if caption.eq_ignore_ascii_case("Resolved") => Reported::Resolved,
        Some(_) => Reported::Open,
        None => match raw.status_id.or(raw.state_id) {
            Some(3) => Reported::Suppressed,
            Some(4) => Reported::Resolved,
            _ => Reported::Open,
        },
    };
    let reason = match state {
        Reported::Open => None,
        Reported::Suppressed => Some("suppressed".to_owned()),
        Reported::Resolved => Some("resolved".to_owned()),
    };
    (state, reason)
}

/// The first vulnerability that names a package: (vulnerability, CVE id, package).
fn vulnerable_package<'e>(raw: &'e RawEvent<'_>) -> Option<(&'e RawVulnerability<'e>, &'e str, &'e RawPackage<'e>)> {
    raw.vulnerabilities.iter().flatten().find_map(|v| {
        let cve = text(&v.cve.as_ref()?.uid)?;
        let package = v
            .affected_packages
            .iter()
            .chain(v.packages.iter())
            .flatten()
            .find(|p| text(&p.name).is_some())?;
        Some((v, cve, package))
    })
}

fn event(raw: &RawEvent<'_>, item: &str, ctx: &ParseContext) -> Result<(Tool, AssetKey, Detection), ParseError> {
    let class = raw
        .class_uid
        .ok_or_else(|| schema(format!("{item}: class_uid is missing")))?;
    let class = class_name(class).ok_or_else(|| {
        schema(format!(
            "{item}: class_uid {class} is not a finding class muster reads (2001 Security, \
             2002 Vulnerability, 2003 Compliance or 2004 Detection Finding)"
        ))
    })?;
    let product = raw.metadata.as_ref().and_then(|m| m.product.as_ref());
    let tool = Tool {
        name: product
            .and_then(|p| text(&p.name).or_else(|| text(&p.vendor_name)))
            .ok_or_else(|| schema(format!("{item}: metadata.product.name is missing")))?
            .to_owned(),
        version: product.and_then(|p| text(&p.version)).map(str::to_owned),
    };
    let resources: Vec<&RawResource<'_>> = raw.resources.iter().flatten().chain(raw.resource.as_ref()).collect();
    let resource = resources.iter().find(|r| text(&r.uid).is_some());
    let resource_uid = resource.and_then(|r| text(&r.uid));
    let asset = resource_uid
        .and_then(common::asset_from_text)
        .or_else(|| {
            let account = raw.cloud.as_ref()?.account.as_ref()?;
            AssetKey::parse(&format!("aws-account/{}", text(&account.uid)?)).ok()
        })
        .unwrap_or_else(|| ctx.default_asset.clone());
    let info = raw.finding_info.as_ref().or(raw.finding.as_ref());
    let severity = severity_of(raw);
    let remediation = raw.remediation.as_ref();

    let mut detection = match vulnerable_package(raw) {
        Some((vulnerability, cve, package)) => {
            let name = text(&package.name).unwrap_or_default();
            let fixed = text(&package.fixed_in_version);
            let container = resources.iter().any(|r| {
                text(&r.kind).is_some_and(|k| k.contains("ContainerImage") || k.eq_ignore_ascii_case("Container"))
            });
            let kind = if container {
                FindingKind::Container
            } else {
                FindingKind::Dependency
            };
            let location = Location::Package(Box::new(PackageLocation {
                name: name.to_owned(),
                version: text(&package.version).map(str::to_owned),
                fixed_version: fixed.map(str::to_owned),
                path: text(&package.path).map(str::to_owned),
                source: None,
            }));
            let fingerprint = common::package_fingerprint(cve, [], name, &asset);
            let heading = info
                .and_then(|i| text(&i.title))
                .or_else(|| text(&vulnerability.title))
                .map_or_else(|| format!("{cve} in {name}"), str::to_owned);
            let mut detection = Detection::new(fingerprint, kind, heading, severity, location);
            detection.rule_id = Some(Arc::from(cve));
            detection.vuln_ids = vec![cve.to_owned()];
            detection.fix = common::upgrade_hint(name, fixed).or_else(|| {
                vulnerability
                    .remediation
                    .as_ref()
                    .and_then(|r| text(&r.desc))
                    .map(str::to_owned)
            });
            if let Some(cve) = &vulnerability.cve {
                let vendor = text(&vulnerability.vendor_name);
                for cvss in cve.cvss.iter().flatten() {
                    push_cvss(
                        &mut detection.cvss,
                        cvss.base_score.as_ref().and_then(Number::value),
                        text(&cvss.vector_string),
                        text(&cvss.version),
                        text(&cvss.source).or(vendor),
                    );
                }
                if let Some(epss) = &cve.epss {
                    detection.epss = epss_rating_or_evidence(
                        epss.score.as_ref().and_then(Number::value),
                        epss.percentile.as_ref().and_then(Number::value),
                        &mut detection.evidence,
                    );
                }
            }
            if detection.description.is_none() {
                detection.description = text(&vulnerability.desc).map(Arc::from);
            }
            detection
        }
        None => {
            let rule = raw
                .metadata
                .as_ref()
                .and_then(|m| text(&m.event_code))
                .or_else(|| {
                    info.and_then(|i| {
                        i.types
                            .iter()
                            .flatten()
                            .find_map(|t| Some(t.trim()).filter(|t| !t.is_empty()))
                    })
                })
                .or_else(|| raw.compliance.as_ref().and_then(|c| text(&c.control)))
                .or_else(|| text(&raw.class_name))
                .unwrap_or(class);
            let title = info.and_then(|i| text(&i.title));
            // OCSF requires `finding_info.uid`; the title stands in for producers that omit it.
            let anchor = info
                .and_then(|i| text(&i.uid))
                .or(title)
                .ok_or_else(|| schema(format!("{item}: finding_info.uid is missing")))?;
            let fingerprint = fingerprint::code(&tool.name, rule, &asset, resource_uid.unwrap_or_default(), anchor);
            let location = match resource_uid {
                Some(id) => Location::Resource { id: id.to_owned() },
                None => Location::Unspecified,
            };
            let heading = title.unwrap_or(anchor).to_owned();
            let mut detection = Detection::new(fingerprint, FindingKind::Cloud, heading, severity, location);
            detection.rule_id = Some(Arc::from(rule));
            detection
        }
    };
    detection.title = common::truncate(std::mem::take(&mut detection.title), common::MAX_TITLE);
    if let Some(description) = info.and_then(|i| text(&i.desc)).or_else(|| text(&raw.message)) {
        detection.description = Some(Arc::from(description));
    }
    if detection.fix.is_none() {
        detection.fix = remediation.and_then(|r| text(&r.desc)).map(str::to_owned);
    }
    detection.help_uri = info
        .and_then(|i| text(&i.src_url))
        .or_else(|| {
            remediation?
                .references
                .iter()
                .flatten()
                .find_map(|r| Some(r.trim()).filter(|r| !r.is_empty()))
        })
        .map(Arc::from);
    if let Some(detail) = text(&raw.status_detail) {
        detection.evidence.push(format!("status: {detail}"));
    }
    if let Some(compliance) = raw.compliance.as_ref() {
        if let Some(control) = text(&compliance.control) {
            detection.evidence.push(format!("control: {control}"));
        }
        let standards: Vec<&str> = compliance.standards.iter().flatten().map(|s| s.trim()).collect();
        if !standards.is_empty() {
            detection.evidence.push(format!("standards: {}", standards.join(", ")));
        }
    }
    (detection.reported, detection.reason) = reported_of(raw);
    Ok((tool, asset, detection))
}
