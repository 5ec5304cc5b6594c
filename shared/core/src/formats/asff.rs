//! AWS Security Hub findings (ASFF) → detections: `get-findings` output (`{"Findings": […]}`),
//! arrays, single findings and the EventBridge events Security Hub sends.
//!
//! A finding that names a vulnerable package is fingerprinted with the package recipe every
//! dependency scanner shares, so Trivy's ASFF output and its JSON report of one image collapse
//! into the same findings.

use std::sync::Arc;

use serde::Deserialize;

use super::common::{self, ScanGroups, epss_rating_or_evidence, push_cvss};
use super::json::{Number, Text, text, without_bom};
use super::{ParseContext, ParseError};
use crate::fingerprint;
use crate::model::{AssetKey, Cvss, Detection, FindingKind, Location, PackageLocation, Reported, Scan, Severity, Tool};

const FORMAT: &str = "asff";
/// The EventBridge detail types that carry findings.
const DETAIL_TYPES: [&str; 2] = [
    "Security Hub Findings - Imported",
    "Security Hub Findings - Custom Action",
];

#[derive(Deserialize)]
struct RawEnvelope<'a> {
    #[serde(rename = "Findings", borrow, default)]
    findings: Option<Vec<RawFinding<'a>>>,
    #[serde(rename = "findings", borrow, default)]
    findings_lower: Option<Vec<RawFinding<'a>>>,
    #[serde(rename = "detail-type", borrow, default)]
    detail_type: Option<Text<'a>>,
}

/// An EventBridge event, read again once its detail type says it holds findings.
#[derive(Deserialize)]
struct RawEvent<'a> {
    #[serde(borrow, default)]
    detail: Option<RawDetail<'a>>,
}

#[derive(Deserialize)]
struct RawDetail<'a> {
    #[serde(borrow, default)]
    findings: Option<Vec<RawFinding<'a>>>,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct RawFinding<'a> {
    #[serde(borrow, default)]
    id: Option<Text<'a>>,
    #[serde(borrow, default)]
    product_arn: Option<Text<'a>>,
    #[serde(borrow, default)]
    product_name: Option<Text<'a>>,
    #[serde(borrow, default)]
    product_fields: Option<RawProductFields<'a>>,
    #[serde(borrow, default)]
    generator_id: Option<Text<'a>>,
    #[serde(borrow, default)]
    aws_account_id: Option<Text<'a>>,
    #[serde(borrow, default)]
    types: Option<Vec<Text<'a>>>,
    #[serde(borrow, default)]
    severity: Option<RawSeverity<'a>>,
    #[serde(borrow, default)]
    title: Option<Text<'a>>,
    #[serde(borrow, default)]
    description: Option<Text<'a>>,
    #[serde(borrow, default)]
    remediation: Option<RawRemediation<'a>>,
    #[serde(borrow, default)]
    source_url: Option<Text<'a>>,
    #[serde(borrow, default)]
    resources: Option<Vec<RawResource<'a>>>,
    #[serde(borrow, default)]
    record_state: Option<Text<'a>>,
    #[serde(borrow, default)]
    workflow: Option<RawWorkflow<'a>>,
    #[serde(borrow, default)]
    workflow_state: Option<Text<'a>>,
    #[serde(borrow, default)]
    compliance: Option<RawCompliance<'a>>,
    #[serde(borrow, default)]
    finding_provider_fields: Option<RawProviderFields<'a>>,
    #[serde(borrow, default)]
    vulnerabilities: Option<Vec<RawVulnerability<'a>>>,
    #[serde(borrow, default)]
    note: Option<RawNote<'a>>,
}

#[derive(Deserialize)]
struct RawProductFields<'a> {
    #[serde(rename = "aws/securityhub/ProductName", borrow, default)]
    product_name: Option<Text<'a>>,
    /// Trivy's ASFF template.
    #[serde(rename = "Product Name", borrow, default)]
    trivy_product_name: Option<Text<'a>>,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct RawSeverity<'a> {
    #[serde(borrow, default)]
    label: Option<Text<'a>>,
    #[serde(borrow, default)]
    normalized: Option<Number<'a>>,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct RawRemediation<'a> {
    #[serde(borrow, default)]
    recommendation: Option<RawRecommendation<'a>>,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct RawRecommendation<'a> {
    #[serde(borrow, default)]
    text: Option<Text<'a>>,
    #[serde(borrow, default)]
    url: Option<Text<'a>>,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct RawResource<'a> {
    #[serde(rename = "Type", borrow, default)]
    kind: Option<Text<'a>>,
    #[serde(borrow, default)]
    id: Option<Text<'a>>,
    #[serde(borrow, default)]
    details: Option<RawResourceDetails<'a>>,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct RawResourceDetails<'a> {
    #[serde(borrow, default)]
    container: Option<RawContainer<'a>>,
    #[serde(borrow, default)]
    other: Option<RawOther<'a>>,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct RawContainer<'a> {
    #[serde(borrow, default)]
    image_name: Option<Text<'a>>,
}

/// `Details.Other` as Trivy's ASFF template fills it.
#[derive(Deserialize)]
struct RawOther<'a> {
    #[serde(rename = "CVE ID", borrow, default)]
    cve_id: Option<Text<'a>>,
    #[serde(rename = "PkgName", borrow, default)]
    package: Option<Text<'a>>,
    #[serde(rename = "Installed Package", borrow, default)]
    installed: Option<Text<'a>>,
    #[serde(rename = "Patched Package", borrow, default)]
    patched: Option<Text<'a>>,
    #[serde(rename = "NvdCvssScoreV3", borrow, default)]
    nvd_v3_score: Option<Text<'a>>,
    #[serde(rename = "NvdCvssVectorV3", borrow, default)]
    nvd_v3_vector: Option<Text<'a>>,
    #[serde(rename = "NvdCvssScoreV2", borrow, default)]
    nvd_v2_score: Option<Text<'a>>,
    #[serde(rename = "NvdCvssVectorV2", borrow, default)]
    nvd_v2_vector: Option<Text<'a>>,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct RawWorkflow<'a> {
    #[serde(borrow, default)]
    status: Option<Text<'a>>,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct RawCompliance<'a> {
    #[serde(borrow, default)]
    status: Option<Text<'a>>,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct RawProviderFields<'a> {
    #[serde(borrow, default)]
    severity: Option<RawSeverity<'a>>,
    #[serde(borrow, default)]
    types: Option<Vec<Text<'a>>>,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct RawVulnerability<'a> {
    #[serde(borrow, default)]
    id: Option<Text<'a>>,
    #[serde(borrow, default)]
    vulnerable_packages: Option<Vec<RawPackage<'a>>>,
    #[serde(borrow, default)]
    cvss: Option<Vec<RawCvss<'a>>>,
    #[serde(borrow, default)]
    epss_score: Option<Number<'a>>,
    #[serde(borrow, default)]
    related_vulnerabilities: Option<Vec<Text<'a>>>,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct RawPackage<'a> {
    #[serde(borrow, default)]
    name: Option<Text<'a>>,
    #[serde(borrow, default)]
    version: Option<Text<'a>>,
    #[serde(borrow, default)]
    fixed_in_version: Option<Text<'a>>,
    #[serde(borrow, default)]
    file_path: Option<Text<'a>>,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct RawCvss<'a> {
    #[serde(borrow, default)]
    version: Option<Text<'a>>,
    #[serde(borrow, default)]
    base_score: Option<Number<'a>>,
    #[serde(borrow, default)]
    base_vector: Option<Text<'a>>,
    #[serde(borrow, default)]
    source: Option<Text<'a>>,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct RawNote<'a> {
    #[serde(borrow, default)]
    text: Option<Text<'a>>,
}

/// Parses ASFF findings in any of the shapes of the module doc. A list (`Findings`, an array)
/// is a scan export and complete; an EventBridge event or a single finding changes only the
/// findings it names.
pub fn parse(bytes: &[u8], ctx: &ParseContext) -> Result<Vec<Scan>, ParseError> {
    let (base, input) = without_bom(bytes);
    let syntax = |e: sonic_rs::Error| ParseError::syntax(FORMAT, bytes, base, &e);
    let first = input.iter().find(|b| !b.is_ascii_whitespace()).copied();
    let (findings, path, complete): (Vec<RawFinding<'_>>, &str, bool) = if first == Some(b'[') {
        (sonic_rs::from_slice(input).map_err(syntax)?, "", true)
    } else {
        let envelope: RawEnvelope<'_> = sonic_rs::from_slice(input).map_err(syntax)?;
        if let Some(findings) = envelope.findings {
            (findings, "Findings", true)
        } else if let Some(findings) = envelope.findings_lower {
            (findings, "findings", true)
        } else if let Some(detail_type) = envelope.detail_type.as_deref() {
            (event_findings(input, detail_type, syntax)?, "detail.findings", false)
        } else {
            let finding: RawFinding<'_> = sonic_rs::from_slice(input).map_err(syntax)?;
            if finding.id.is_none() && finding.product_arn.is_none() {
                return Err(schema(
                    "expected {\"Findings\": [...]}, an array of findings, an EventBridge event or a single \
                     finding; this object has none of their keys (Findings, detail-type, Id, ProductArn)"
                        .to_owned(),
                ));
            }
            (vec![finding], "", false)
        }
    };

    let mut scans = ScanGroups::new(complete);
    for (i, raw) in findings.iter().enumerate() {
        let item = if path.is_empty() && !complete {
            "finding".to_owned()
        } else {
            format!("{path}[{i}]")
        };
        let (tool, asset, detection) = finding(raw, &item, ctx)?;
        scans.scan(tool, asset).detections.push(detection);
    }
    Ok(scans.into_scans())
}

fn schema(message: String) -> ParseError {
    ParseError::Schema {
        format: FORMAT,
        message,
    }
}

/// The findings of an EventBridge event, once its detail type says it carries them.
fn event_findings<'a>(
    input: &'a [u8],
    detail_type: &str,
    syntax: impl Fn(sonic_rs::Error) -> ParseError,
) -> Result<Vec<RawFinding<'a>>, ParseError> {
    if !DETAIL_TYPES.contains(&detail_type.trim()) {
        return Err(schema(format!(
            "EventBridge detail-type {detail_type:?} carries no Security Hub findings; expected {}",
            DETAIL_TYPES.map(|t| format!("{t:?}")).join(" or ")
        )));
    }
    let event: RawEvent<'a> = sonic_rs::from_slice(input).map_err(syntax)?;
    event
        .detail
        .and_then(|d| d.findings)
        .ok_or_else(|| schema("the event has no detail.findings".to_owned()))
}

/// The vulnerable package a finding names: (vulnerability id, related ids, package, installed
/// version, fixed version, file path).
struct VulnerablePackage<'f> {
    id: &'f str,
    related: Vec<&'f str>,
    name: &'f str,
    version: Option<&'f str>,
    fixed: Option<&'f str>,
    path: Option<&'f str>,
}

fn vulnerable_package<'f>(
    finding: &'f RawFinding<'_>,
) -> Option<(VulnerablePackage<'f>, Option<&'f RawVulnerability<'f>>)> {
    for vulnerability in finding.vulnerabilities.iter().flatten() {
        let Some(id) = text(&vulnerability.id) else { continue };
        let Some(package) = vulnerability
            .vulnerable_packages
            .iter()
            .flatten()
            .find(|p| text(&p.name).is_some())
        else {
            continue;
        };
        let name = text(&package.name)?;
        let related = vulnerability
            .related_vulnerabilities
            .iter()
            .flatten()
            .filter_map(|r| Some(r.trim()).filter(|r| !r.is_empty()))
            .collect();
        return Some((
            VulnerablePackage {
                id,
                related,
                name,
                version: text(&package.version),
                fixed: text(&package.fixed_in_version),
                path: text(&package.file_path),
            },
            Some(vulnerability),
        ));
    }
    finding
        .resources
        .iter()
        .flatten()
        .filter_map(|r| r.details.as_ref()?.other.as_ref())
        .find_map(|other| {
            Some((
                VulnerablePackage {
                    id: text(&other.cve_id)?,
                    related: Vec::new(),
                    name: text(&other.package)?,
                    version: text(&other.installed),
                    fixed: text(&other.patched),
                    path: None,
                },
                None,
            ))
        })
}

fn tool_of(finding: &RawFinding<'_>) -> Option<Tool> {
    let fields = finding.product_fields.as_ref();
    let name = text(&finding.product_name)
        .or_else(|| fields.and_then(|f| text(&f.product_name)))
        .or_else(|| fields.and_then(|f| text(&f.trivy_product_name)))
        .or_else(|| {
            text(&finding.product_arn)?
                .rsplit('/')
                .map(str::trim)
                .find(|s| !s.is_empty())
        })?;
    Some(Tool {
        name: name.to_owned(),
        version: None,
    })
}

/// The asset of a finding and whether it is a container image.
fn asset_of(finding: &RawFinding<'_>, ctx: &ParseContext) -> (AssetKey, bool) {
    let resources = finding.resources.as_deref().unwrap_or_default();
    let image = resources.iter().find_map(|r| {
        let details = r.details.as_ref()?.container.as_ref()?;
        common::image_asset(text(&details.image_name)?)
    });
    if let Some(image) = image {
        return (image, true);
    }
    let account = || text(&finding.aws_account_id).and_then(|id| AssetKey::parse(&format!("aws-account/{id}")).ok());
    if let Some(first) = resources.first() {
        let kind = text(&first.kind).unwrap_or_default();
        let container = kind.eq_ignore_ascii_case("Container") || kind.contains("ContainerImage");
        // An account-level check names the account the way OCSF's `cloud.account.uid` does.
        let asset = if kind == "AwsAccount" { account() } else { None }
            .or_else(|| text(&first.id).and_then(common::asset_from_text));
        if let Some(asset) = asset {
            return (asset, container);
        }
    }
    (account().unwrap_or_else(|| ctx.default_asset.clone()), false)
}

/// `Severity.Normalized` (0–100) on the CVSS-like scale Security Hub documents.
fn normalized(score: f64) -> Severity {
    match score {
        s if s >= 90.0 => Severity::Critical,
        s if s >= 70.0 => Severity::High,
        s if s >= 40.0 => Severity::Medium,
        s if s >= 1.0 => Severity::Low,
        _ => Severity::Info,
    }
}

fn severity_of(finding: &RawFinding<'_>) -> Severity {
    let label = |s: &RawSeverity<'_>| text(&s.label).and_then(|l| Severity::parse(l).ok());
    let own = finding.severity.as_ref();
    own.and_then(label)
        .or_else(|| own.and_then(|s| s.normalized.as_ref()?.value()).map(normalized))
        .or_else(|| {
            finding
                .finding_provider_fields
                .as_ref()
                .and_then(|f| f.severity.as_ref())
                .and_then(label)
        })
        .unwrap_or(Severity::Medium)
}

/// Archived records, resolved or suppressed workflows and passed controls are not open.
fn reported_of(finding: &RawFinding<'_>) -> (Reported, Option<String>) {
    let is = |value: Option<&str>, expected: &str| value.is_some_and(|v| v.eq_ignore_ascii_case(expected));
    let workflow = finding
        .workflow
        .as_ref()
        .and_then(|w| text(&w.status))
        .or_else(|| text(&finding.workflow_state));
    let note = finding.note.as_ref().and_then(|n| text(&n.text));
    let with_note = |reason: &str| match note {
        Some(note) => format!("{reason}: {note}"),
        None => reason.to_owned(),
    };
    if is(text(&finding.record_state), "ARCHIVED") {
        (Reported::Resolved, Some("archived".to_owned()))
    } else if is(workflow, "RESOLVED") {
        (Reported::Resolved, Some(with_note("resolved")))
    } else if is(workflow, "SUPPRESSED") {
        (Reported::Suppressed, Some(with_note("suppressed")))
    } else if is(finding.compliance.as_ref().and_then(|c| text(&c.status)), "PASSED") {
        (Reported::Resolved, Some("passed".to_owned()))
    } else {
        (Reported::Open, None)
    }
}

fn finding(raw: &RawFinding<'_>, item: &str, ctx: &ParseContext) -> Result<(Tool, AssetKey, Detection), ParseError> {
    let id = text(&raw.id).ok_or_else(|| schema(format!("{item}: Id is missing")))?;
    let tool = tool_of(raw).ok_or_else(|| {
        schema(format!(
            "{item}: no product name (ProductName, ProductFields or ProductArn)"
        ))
    })?;
    let (asset, container) = asset_of(raw, ctx);
    let severity = severity_of(raw);
    let heading = text(&raw.title).or_else(|| text(&raw.generator_id)).unwrap_or(id);
    let recommendation = raw.remediation.as_ref().and_then(|r| r.recommendation.as_ref());
    let resource_id = raw
        .resources
        .iter()
        .flatten()
        .find_map(|r| text(&r.id))
        .unwrap_or_default();

    let mut detection = match vulnerable_package(raw) {
        Some((package, vulnerability)) => {
            let fingerprint =
                common::package_fingerprint(package.id, package.related.iter().copied(), package.name, &asset);
            let kind = if container {
                FindingKind::Container
            } else {
                FindingKind::Dependency
            };
            let location = Location::Package(Box::new(PackageLocation {
                name: package.name.to_owned(),
                version: package.version.map(str::to_owned),
                fixed_version: package.fixed.map(str::to_owned),
                path: package.path.map(str::to_owned),
                source: None,
            }));
            let mut detection = Detection::new(fingerprint, kind, String::new(), severity, location);
            let canonical = common::canonical_vuln_id(package.id, package.related.iter().copied());
            detection.rule_id = Some(Arc::from(canonical));
            detection.vuln_ids = common::vuln_ids(package.id, package.related.iter().copied());
            detection.fix = common::upgrade_hint(package.name, package.fixed);
            match vulnerability {
                Some(vulnerability) => {
                    for cvss in vulnerability.cvss.iter().flatten() {
                        push_cvss(
                            &mut detection.cvss,
                            cvss.base_score.as_ref().and_then(Number::value),
                            text(&cvss.base_vector),
                            text(&cvss.version),
                            text(&cvss.source),
                        );
                    }
                    let epss = vulnerability.epss_score.as_ref().and_then(Number::value);
                    detection.epss = epss_rating_or_evidence(epss, None, &mut detection.evidence);
                }
                None => trivy_cvss(raw, &mut detection.cvss),
            }
            let others: Vec<String> = vulnerability
                .into_iter()
                .flat_map(|v| v.vulnerable_packages.iter().flatten())
                .filter_map(|p| {
                    let name = text(&p.name)?;
                    Some(match text(&p.version) {
                        Some(version) => format!("{name}@{version}"),
                        None => name.to_owned(),
                    })
                })
                .skip(1)
                .collect();
            if !others.is_empty() {
                detection
                    .evidence
                    .push(format!("also vulnerable: {}", others.join(", ")));
            }
            detection
        }
        None => {
            let rule = text(&raw.generator_id).unwrap_or(id);
            let fingerprint = fingerprint::code(&tool.name, rule, &asset, resource_id, id);
            let location = if resource_id.is_empty() {
                Location::Unspecified
            } else {
                Location::Resource {
                    id: resource_id.to_owned(),
                }
            };
            let mut detection = Detection::new(fingerprint, FindingKind::Cloud, String::new(), severity, location);
            detection.rule_id = Some(Arc::from(rule));
            detection
        }
    };
    detection.title = common::truncate(heading.to_owned(), common::MAX_TITLE);
    detection.description = text(&raw.description).map(Arc::from);
    if detection.fix.is_none() {
        detection.fix = recommendation.and_then(|r| text(&r.text)).map(str::to_owned);
    }
    detection.help_uri = recommendation
        .and_then(|r| text(&r.url))
        .or_else(|| text(&raw.source_url))
        .map(Arc::from);
    let provider = raw.finding_provider_fields.as_ref();
    let mut types: Vec<&str> = raw
        .types
        .iter()
        .flatten()
        .filter_map(|t| Some(t.trim()).filter(|t| !t.is_empty()))
        .collect();
    for t in provider.and_then(|p| p.types.as_ref()).into_iter().flatten() {
        let t = t.trim();
        if !t.is_empty() && !types.contains(&t) {
            types.push(t);
        }
    }
    detection
        .evidence
        .extend(types.into_iter().map(|t| format!("type: {t}")));
    if let Some(label) = provider.and_then(|p| p.severity.as_ref()).and_then(|s| text(&s.label)) {
        detection.evidence.push(format!("provider severity: {label}"));
    }
    if let Some(status) = raw.compliance.as_ref().and_then(|c| text(&c.status)) {
        detection.evidence.push(format!("compliance: {status}"));
    }
    (detection.reported, detection.reason) = reported_of(raw);
    Ok((tool, asset, detection))
}

/// Trivy's template puts NVD's ratings in `Details.Other` as strings.
fn trivy_cvss(finding: &RawFinding<'_>, list: &mut Vec<Cvss>) {
    let score = |t: &Option<Text<'_>>| text(t).and_then(|s| s.parse::<f64>().ok());
    for other in finding
        .resources
        .iter()
        .flatten()
        .filter_map(|r| r.details.as_ref()?.other.as_ref())
    {
        push_cvss(
            list,
            score(&other.nvd_v3_score),
            text(&other.nvd_v3_vector),
            None,
            Some("nvd"),
        );
        push_cvss(
            list,
            score(&other.nvd_v2_score),
            text(&other.nvd_v2_vector),
            Some("2.0"),
            Some("nvd"),
        );
    }
}
