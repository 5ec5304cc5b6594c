//! Snyk CLI JSON reports (`snyk test --json`, its `--all-projects` array, `snyk container test
//! --json` with the applications found in the image) → detections.
//!
//! One detection per `vulnerabilities[]` entry. Snyk lists a vulnerability once per dependency
//! path; those entries share a fingerprint and each carries every path as evidence, so the one
//! the ingest keeps names them all. A project Snyk could not test fails the whole report:
//! reading it as "no vulnerabilities" would resolve every open finding of the project.

use serde::Deserialize;
use serde::de::IgnoredAny;
use sonic_rs::LazyValue;

use super::common::{self, Interner, MAX_EVIDENCE, ScanGroups, package_title, severity_or_cvss, share_evidence};
use super::json::{Number, Text, non_empty, parse_item, present, report_text};
use super::{ParseContext, ParseError};
use crate::model::{AssetKey, Cvss, Detection, FindingKind, Location, PackageLocation, Scan, Tool};

const FORMAT: &str = "snyk";
const OPEN_SOURCE: &str = "Snyk Open Source";
const CONTAINER: &str = "Snyk Container";
const PATH: &str = "path: ";

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct RawProject<'a> {
    /// Outer `None`: absent (a failed test); inner `None`: `null`, an empty list.
    #[serde(borrow, default, deserialize_with = "present")]
    vulnerabilities: Option<Option<Vec<LazyValue<'a>>>>,
    #[serde(borrow, default)]
    error: Option<Text<'a>>,
    #[serde(borrow, default)]
    project_name: Option<Text<'a>>,
    #[serde(borrow, default)]
    package_manager: Option<Text<'a>>,
    #[serde(borrow, default)]
    path: Option<Text<'a>>,
    #[serde(borrow, default)]
    display_target_file: Option<Text<'a>>,
    #[serde(borrow, default)]
    target_file: Option<Text<'a>>,
    /// Present (even `{}`) only in container results.
    #[serde(default)]
    docker: Option<IgnoredAny>,
    /// Application dependencies Snyk Container found inside the image (`--app-vulns`).
    #[serde(borrow, default)]
    applications: Option<Vec<RawProject<'a>>>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct RawVulnerability<'a> {
    #[serde(borrow, default)]
    id: Option<Text<'a>>,
    #[serde(borrow, default)]
    title: Option<Text<'a>>,
    #[serde(borrow, default)]
    description: Option<Text<'a>>,
    #[serde(borrow, default)]
    severity: Option<Text<'a>>,
    #[serde(borrow, default)]
    severity_with_critical: Option<Text<'a>>,
    #[serde(borrow, default)]
    cvss_score: Option<Number<'a>>,
    #[serde(borrow, default, rename = "CVSSv3")]
    cvss_v3: Option<Text<'a>>,
    #[serde(borrow, default)]
    cvss_details: Option<Vec<RawCvssDetail<'a>>>,
    #[serde(borrow, default)]
    epss_details: Option<RawEpss<'a>>,
    #[serde(borrow, default)]
    identifiers: Option<RawIdentifiers<'a>>,
    #[serde(borrow, default)]
    package_name: Option<Text<'a>>,
    #[serde(borrow, default)]
    version: Option<Text<'a>>,
    #[serde(borrow, default)]
    from: Option<Vec<Text<'a>>>,
    /// `[false, "direct@2", …]`: `false` stands for a package that needs no change.
    #[serde(borrow, default)]
    upgrade_path: Option<Vec<PathStep<'a>>>,
    #[serde(default)]
    is_upgradable: Option<bool>,
    #[serde(borrow, default)]
    fixed_in: Option<Vec<Text<'a>>>,
    /// Container results without `fixedIn` (SUSE advisories) name the fix here.
    #[serde(borrow, default)]
    nearest_fixed_in_version: Option<Text<'a>>,
    #[serde(borrow, default)]
    exploit: Option<Text<'a>>,
}

#[derive(Deserialize)]
struct RawIdentifiers<'a> {
    #[serde(borrow, default, rename = "CVE")]
    cve: Option<Vec<Text<'a>>>,
    #[serde(borrow, default, rename = "GHSA")]
    ghsa: Option<Vec<Text<'a>>>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct RawCvssDetail<'a> {
    #[serde(borrow, default)]
    assigner: Option<Text<'a>>,
    #[serde(borrow, default, rename = "cvssV3Vector")]
    vector: Option<Text<'a>>,
    #[serde(borrow, default, rename = "cvssV3BaseScore")]
    score: Option<Number<'a>>,
}

#[derive(Deserialize)]
struct RawEpss<'a> {
    #[serde(borrow, default)]
    probability: Option<Number<'a>>,
    #[serde(borrow, default)]
    percentile: Option<Number<'a>>,
}

#[derive(Deserialize)]
#[serde(untagged)]
enum PathStep<'a> {
    Package(#[serde(borrow)] Text<'a>),
    Unchanged(IgnoredAny),
}

/// Where one project's entries go: its asset and tool, and how to name its items in errors.
struct Target<'p> {
    asset: AssetKey,
    tool: &'static str,
    kind: FindingKind,
    /// The manifest the packages come from (`pom.xml`), for open source projects.
    file: Option<&'p str>,
    /// `[1].` or `applications[0].` — prefix of item paths in errors.
    prefix: String,
}

/// Reads a Snyk JSON report: one `Scan` per (tool, asset) it covers, with one detection per
/// `vulnerabilities[]` entry of every project (and of every application in a container image).
pub fn parse(bytes: &[u8], ctx: &ParseContext) -> Result<Vec<Scan>, ParseError> {
    let (base, text) = report_text(FORMAT, bytes)?;
    let syntax = |e: sonic_rs::Error| ParseError::syntax(FORMAT, bytes, base, &e);
    let array = text.trim_start().starts_with('[');
    let projects: Vec<RawProject<'_>> = if array {
        sonic_rs::from_str(text).map_err(syntax)?
    } else {
        vec![sonic_rs::from_str(text).map_err(syntax)?]
    };

    let mut scans = ScanGroups::new(true);
    let mut texts = Interner::default();
    for (index, project) in projects.iter().enumerate() {
        let prefix = if array { format!("[{index}].") } else { String::new() };
        let container = is_container(project);
        let asset = if container {
            container_asset(project, ctx)
        } else {
            non_empty(project.project_name.as_deref())
                .into_iter()
                .chain(non_empty(project.path.as_deref()))
                .find_map(common::asset_from_text)
                .unwrap_or_else(|| ctx.default_asset.clone())
        };
        let target = Target {
            asset,
            tool: if container { CONTAINER } else { OPEN_SOURCE },
            kind: if container {
                FindingKind::Container
            } else {
                FindingKind::Dependency
            },
            file: (!container).then(|| manifest(project)).flatten(),
            prefix,
        };
        read_project(bytes, project, &target, &mut scans, &mut texts)?;
        for (app_index, app) in project.applications.iter().flatten().enumerate() {
            let app_target = Target {
                asset: target.asset.clone(),
                tool: target.tool,
                kind: FindingKind::Dependency,
                file: manifest(app),
                prefix: format!("{}applications[{app_index}].", target.prefix),
            };
            read_project(bytes, app, &app_target, &mut scans, &mut texts)?;
        }
    }
    let mut scans = scans.into_scans();
    for scan in &mut scans {
        share_evidence(&mut scan.detections, PATH);
    }
    Ok(scans)
}

fn read_project(
    bytes: &[u8],
    project: &RawProject<'_>,
    target: &Target<'_>,
    scans: &mut ScanGroups,
    texts: &mut Interner,
) -> Result<(), ParseError> {
    let vulnerabilities = match &project.vulnerabilities {
        Some(list) => list.as_deref().unwrap_or_default(),
        None => {
            let name = non_empty(project.project_name.as_deref())
                .or(non_empty(project.path.as_deref()))
                .unwrap_or("a project");
            let at = match target.prefix.trim_end_matches('.') {
                "" => String::new(),
                at => format!("{at}: "),
            };
            let message = match non_empty(project.error.as_deref()) {
                Some(error) => format!("{at}Snyk could not test {name}: {error}"),
                None => format!("{at}vulnerabilities is missing (expected `snyk test --json` output)"),
            };
            return Err(ParseError::Schema {
                format: FORMAT,
                message,
            });
        }
    };
    let tool = Tool {
        name: target.tool.to_owned(),
        version: None,
    };
    let detections = &mut scans.scan(tool, target.asset.clone()).detections;
    detections.reserve(vulnerabilities.len());
    for (index, lazy) in vulnerabilities.iter().enumerate() {
        let path = || format!("{}vulnerabilities[{index}]", target.prefix);
        let raw: RawVulnerability<'_> = parse_item(FORMAT, bytes, lazy, path)?;
        detections.push(detection(&raw, target, texts, path)?);
    }
    Ok(())
}

fn detection(
    raw: &RawVulnerability<'_>,
    target: &Target<'_>,
    texts: &mut Interner,
    path: impl Fn() -> String,
) -> Result<Detection, ParseError> {
    let missing = |what: &str| ParseError::Schema {
        format: FORMAT,
        message: format!("{}: {what} is missing", path()),
    };
    let id = non_empty(raw.id.as_deref()).ok_or_else(|| missing("id"))?;
    let package = non_empty(raw.package_name.as_deref()).ok_or_else(|| missing("packageName"))?;
    let identifiers = raw.identifiers.as_ref();
    let aliases = || {
        identifiers
            .into_iter()
            .flat_map(|i| i.cve.iter().flatten().chain(i.ghsa.iter().flatten()))
            .filter_map(|a| non_empty(Some(a)))
    };
    let fingerprint = common::package_fingerprint(id, aliases(), package, &target.asset);
    let canonical = common::canonical_vuln_id(id, aliases());
    let version = non_empty(raw.version.as_deref());
    let fixed_version = raw
        .fixed_in
        .iter()
        .flatten()
        .find_map(|v| non_empty(Some(v)))
        .or(non_empty(raw.nearest_fixed_in_version.as_deref()));
    let location = Location::Package(Box::new(PackageLocation {
        name: package.to_owned(),
        version: version.map(str::to_owned),
        fixed_version: fixed_version.map(str::to_owned),
        path: target.file.map(str::to_owned),
        source: None,
    }));
    let title = non_empty(raw.title.as_deref()).unwrap_or(canonical);

    let mut detection = Detection::new(
        fingerprint,
        target.kind,
        package_title(title, package, version),
        crate::model::Severity::Info,
        location,
    );
    detection.rule_id = Some(texts.get(id));
    detection.vuln_ids = common::vuln_ids(id, aliases());
    detection.description = non_empty(raw.description.as_deref()).map(|d| texts.get(d));
    if !id.starts_with("snyk:lic:") {
        detection.help_uri = Some(texts.get(&format!("https://security.snyk.io/vuln/{id}")));
    }
    for detail in raw.cvss_details.iter().flatten() {
        let source = non_empty(detail.assigner.as_deref()).unwrap_or("snyk");
        push_cvss(&mut detection, detail.score.as_ref(), detail.vector.as_deref(), source);
    }
    push_cvss(&mut detection, raw.cvss_score.as_ref(), raw.cvss_v3.as_deref(), "snyk");
    let word = non_empty(raw.severity.as_deref()).or(non_empty(raw.severity_with_critical.as_deref()));
    detection.severity = severity_or_cvss(word, &detection);
    detection.epss = raw
        .epss_details
        .as_ref()
        .and_then(|e| common::epss_rating(e.probability.as_ref()?.value()?, e.percentile.as_ref()?.value()?));
    detection.fix = common::upgrade_hint(package, fixed_version);

    if let Some(from) = raw.from.as_deref().filter(|f| !f.is_empty()) {
        let steps: Vec<&str> = from.iter().map(|step| &**step).collect();
        detection.evidence.push(format!("{PATH}{}", steps.join(" > ")));
    }
    if raw.is_upgradable == Some(true)
        && let Some(upgrade) = raw.upgrade_path.iter().flatten().find_map(|step| match step {
            PathStep::Package(name) => non_empty(Some(name)),
            PathStep::Unchanged(_) => None,
        })
    {
        detection.evidence.push(format!("upgrade: {upgrade}"));
    }
    if let Some(exploit) = non_empty(raw.exploit.as_deref()).filter(|e| !e.eq_ignore_ascii_case("Not Defined")) {
        detection.evidence.push(format!("exploit maturity: {exploit}"));
    }
    detection.evidence.truncate(MAX_EVIDENCE);
    Ok(detection)
}

fn push_cvss(detection: &mut Detection, score: Option<&Number<'_>>, vector: Option<&str>, source: &str) {
    let Some(score) = score.and_then(Number::value).filter(|s| (0.0..=10.0).contains(s)) else {
        return;
    };
    let cvss = Cvss::new(
        score as f32,
        non_empty(vector).map(str::to_owned),
        Some(source.to_owned()),
    );
    if !detection.cvss.contains(&cvss) {
        detection.cvss.push(cvss);
    }
}

/// A container result: `docker` is there, or OS packages were tested in an image.
fn is_container(project: &RawProject<'_>) -> bool {
    let os_packages = matches!(
        project.package_manager.as_deref().map(str::trim),
        Some("deb" | "rpm" | "apk" | "linux")
    );
    let image = non_empty(project.path.as_deref()).is_some()
        || project
            .project_name
            .as_deref()
            .is_some_and(|n| n.starts_with("docker-image|"));
    project.docker.is_some() || (os_packages && image)
}

/// The image a container result is about, named as other scanners name it.
///
/// `path` is the image as given to the CLI; Snyk may append the project to it
/// (`sarim04/juiceshop:latest/juiceshop` for `docker-image|sarim04/juiceshop`), so when the
/// project name's image is a prefix of `path`, only that image and its tag or digest are kept.
fn container_asset(project: &RawProject<'_>, ctx: &ParseContext) -> AssetKey {
    let image = non_empty(project.project_name.as_deref()).and_then(|n| non_empty(n.strip_prefix("docker-image|")));
    let name = match (non_empty(project.path.as_deref()), image) {
        (Some(path), Some(image)) => match path.strip_prefix(image) {
            Some(rest) if rest.starts_with([':', '@']) => {
                let reference = rest.find('/').map_or(rest, |end| &rest[..end]);
                Some(&path[..image.len() + reference.len()])
            }
            _ => Some(path),
        },
        (path, image) => path.or(image),
    };
    name.and_then(common::image_asset)
        .unwrap_or_else(|| ctx.default_asset.clone())
}

fn manifest<'p>(project: &'p RawProject<'_>) -> Option<&'p str> {
    non_empty(project.display_target_file.as_deref()).or(non_empty(project.target_file.as_deref()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::SourceName;

    fn ctx() -> ParseContext {
        ParseContext::for_source(SourceName::parse("ci").unwrap())
    }

    fn container(path: &str, project: &str) -> AssetKey {
        let json = format!(
            r#"{{"vulnerabilities":[],"docker":{{}},"packageManager":"deb","path":"{path}","projectName":"{project}"}}"#
        );
        parse(json.as_bytes(), &ctx()).unwrap()[0].asset.clone()
    }

    #[test]
    fn container_asset_is_the_image_with_its_tag() {
        assert_eq!(container("alpine:3.10", "docker-image|alpine").as_str(), "alpine:3.10");
        assert_eq!(
            container("sarim04/juiceshop:latest/juiceshop", "docker-image|sarim04/juiceshop").as_str(),
            "sarim04/juiceshop:latest"
        );
        assert_eq!(
            container("registry:5000/app@sha256:ab", "docker-image|registry:5000/app").as_str(),
            "registry:5000/app@sha256:ab"
        );
        assert_eq!(container("", "docker-image|hello-world").as_str(), "hello-world");
    }

    #[test]
    fn failed_project_is_refused_not_read_as_clean() {
        let error = parse(
            br#"{"ok":false,"error":"Could not detect supported target files","path":"/src"}"#,
            &ctx(),
        )
        .unwrap_err();
        assert!(matches!(error, ParseError::Schema { format: "snyk", .. }), "{error:?}");
        assert!(
            error.to_string().contains("Could not detect supported target files"),
            "{error}"
        );
    }
}
