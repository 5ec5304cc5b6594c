//! Grype JSON reports (`grype -o json`, from 0.7 to today's layout) → detections.
//!
//! One detection per `matches[]` entry, fingerprinted with the package recipe every dependency
//! scanner shares, so that Grype and Trivy reports of one image collapse into one finding. The
//! parser reads borrowed slices of the input and never returns part of a report: any bad match
//! fails the whole report with its position or item path.

use std::borrow::Cow;
use std::fmt;

use serde::de::{self, IgnoredAny, MapAccess, Visitor};
use serde::{Deserialize, Deserializer};
use sonic_rs::LazyValue;

use super::common::{self, Interner, MAX_EVIDENCE, package_title, severity_or_cvss, share_evidence};
use super::json::{Text, non_empty, parse_item, present, report_text};
use super::{ParseContext, ParseError};
use crate::model::{AssetKey, Cvss, Detection, Epss, FindingKind, Location, PackageLocation, Scan, Severity, Tool};

const FORMAT: &str = "grype";

#[derive(Deserialize)]
struct RawReport<'a> {
    /// Outer `None`: the key is absent (not a Grype report); inner `None`: `null`, which is how
    /// Go writes an empty match list.
    #[serde(borrow, default, deserialize_with = "present")]
    matches: Option<Option<Vec<LazyValue<'a>>>>,
    #[serde(borrow, default)]
    source: Option<RawSource<'a>>,
    #[serde(borrow, default)]
    descriptor: Option<RawDescriptor<'a>>,
}

#[derive(Deserialize)]
struct RawSource<'a> {
    #[serde(borrow, default, rename = "type")]
    kind: Option<Text<'a>>,
    #[serde(borrow, default)]
    target: Option<RawTarget<'a>>,
}

/// `source.target`: a path for directory and file scans, an object for images.
enum RawTarget<'a> {
    Path(Text<'a>),
    Image {
        user_input: Option<Text<'a>>,
        tags: Vec<Text<'a>>,
        image_id: Option<Text<'a>>,
    },
}

#[derive(Deserialize)]
struct RawDescriptor<'a> {
    #[serde(borrow, default)]
    name: Option<Text<'a>>,
    #[serde(borrow, default)]
    version: Option<Text<'a>>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct RawMatch<'a> {
    #[serde(borrow, default)]
    vulnerability: Option<RawVulnerability<'a>>,
    #[serde(borrow, default)]
    related_vulnerabilities: Option<Vec<RawVulnerability<'a>>>,
    #[serde(borrow, default)]
    artifact: Option<RawArtifact<'a>>,
}

/// A match's `vulnerability` and its `relatedVulnerabilities` share this shape.
#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct RawVulnerability<'a> {
    #[serde(borrow, default)]
    id: Option<Text<'a>>,
    #[serde(borrow, default)]
    data_source: Option<Text<'a>>,
    #[serde(borrow, default)]
    severity: Option<Text<'a>>,
    #[serde(borrow, default)]
    urls: Option<Vec<Text<'a>>>,
    #[serde(borrow, default)]
    description: Option<Text<'a>>,
    #[serde(borrow, default)]
    cvss: Option<Vec<RawCvss<'a>>>,
    #[serde(borrow, default)]
    fix: Option<RawFix<'a>>,
    #[serde(borrow, default)]
    epss: Option<Vec<RawEpss<'a>>>,
    /// CISA KEV entries (grype ≥ 0.87); any entry means the CVE is in the catalog.
    #[serde(default)]
    known_exploited: Option<Vec<IgnoredAny>>,
}

#[derive(Deserialize)]
struct RawCvss<'a> {
    #[serde(borrow, default)]
    source: Option<Text<'a>>,
    #[serde(borrow, default)]
    version: Option<Text<'a>>,
    #[serde(borrow, default)]
    vector: Option<Text<'a>>,
    #[serde(default)]
    metrics: Option<RawMetrics>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct RawMetrics {
    #[serde(default)]
    base_score: Option<f64>,
}

#[derive(Deserialize)]
struct RawFix<'a> {
    #[serde(borrow, default)]
    versions: Option<Vec<Text<'a>>>,
}

#[derive(Deserialize)]
struct RawEpss<'a> {
    #[serde(borrow, default)]
    cve: Option<Text<'a>>,
    #[serde(default)]
    epss: Option<f64>,
    #[serde(default)]
    percentile: Option<f64>,
}

#[derive(Deserialize)]
struct RawArtifact<'a> {
    #[serde(borrow, default)]
    name: Option<Text<'a>>,
    #[serde(borrow, default)]
    version: Option<Text<'a>>,
    #[serde(borrow, default, rename = "type")]
    kind: Option<Text<'a>>,
    #[serde(borrow, default)]
    locations: Option<Vec<RawLocation<'a>>>,
    /// Source packages an OS package was built from (`openssl` for `libssl3`).
    #[serde(borrow, default)]
    upstreams: Option<Vec<RawUpstream<'a>>>,
}

#[derive(Deserialize)]
struct RawUpstream<'a> {
    #[serde(borrow, default)]
    name: Option<Text<'a>>,
}

#[derive(Deserialize)]
struct RawLocation<'a> {
    #[serde(borrow, default)]
    path: Option<Text<'a>>,
}

/// Reads a Grype JSON report: one `Scan` (the report's one asset) with one detection per match.
pub fn parse(bytes: &[u8], ctx: &ParseContext) -> Result<Vec<Scan>, ParseError> {
    let (base, text) = report_text(FORMAT, bytes)?;
    let report: RawReport<'_> = sonic_rs::from_str(text).map_err(|e| ParseError::syntax(FORMAT, bytes, base, &e))?;
    let matches = report.matches.ok_or_else(|| ParseError::Schema {
        format: FORMAT,
        message: "missing \"matches\": a Grype report is an object with a \"matches\" array (grype -o json)".into(),
    })?;
    let matches = matches.unwrap_or_default();

    let asset = report_asset(report.source.as_ref(), ctx);
    let image = report.source.as_ref().is_some_and(RawSource::is_image);
    let mut texts = Interner::default();
    let mut detections = Vec::with_capacity(matches.len());
    for (index, lazy) in matches.iter().enumerate() {
        let raw: RawMatch<'_> = parse_item(FORMAT, bytes, lazy, || format!("matches[{index}]"))?;
        detections.push(detection(&raw, index, &asset, image, &mut texts)?);
    }
    share_evidence(&mut detections, LOCATION);

    let descriptor = report.descriptor.as_ref();
    let tool = Tool {
        name: descriptor
            .and_then(|d| non_empty(d.name.as_deref()))
            .unwrap_or("grype")
            .to_owned(),
        version: descriptor
            .and_then(|d| non_empty(d.version.as_deref()))
            .map(str::to_owned),
    };
    Ok(vec![Scan {
        tool,
        asset,
        detections,
        complete: true,
    }])
}

const LOCATION: &str = "location: ";

fn detection(
    raw: &RawMatch<'_>,
    index: usize,
    asset: &AssetKey,
    image: bool,
    texts: &mut Interner,
) -> Result<Detection, ParseError> {
    let missing = |what: &str| ParseError::Schema {
        format: FORMAT,
        message: format!("matches[{index}].{what} is missing"),
    };
    let vulnerability = raw.vulnerability.as_ref().ok_or_else(|| missing("vulnerability"))?;
    let primary = non_empty(vulnerability.id.as_deref()).ok_or_else(|| missing("vulnerability: id"))?;
    let artifact = raw.artifact.as_ref().ok_or_else(|| missing("artifact"))?;
    let name = non_empty(artifact.name.as_deref()).ok_or_else(|| missing("artifact: name"))?;
    let related = raw.related_vulnerabilities.as_deref().unwrap_or_default();
    let aliases = || related.iter().filter_map(|r| non_empty(r.id.as_deref()));

    let fingerprint = common::package_fingerprint(primary, aliases(), name, asset);
    let canonical = common::canonical_vuln_id(primary, aliases());
    let version = non_empty(artifact.version.as_deref());
    let fixed_version = vulnerability
        .fix
        .as_ref()
        .and_then(|f| f.versions.as_deref())
        .and_then(|versions| versions.iter().find_map(|v| non_empty(Some(v))));
    let paths = || {
        artifact
            .locations
            .iter()
            .flatten()
            .filter_map(|l| non_empty(l.path.as_deref()))
    };
    let kind = match artifact.kind.as_deref().map(str::trim) {
        Some("deb" | "rpm" | "apk") if image => FindingKind::Container,
        _ => FindingKind::Dependency,
    };
    let location = Location::Package(Box::new(PackageLocation {
        name: name.to_owned(),
        version: version.map(str::to_owned),
        fixed_version: fixed_version.map(str::to_owned),
        path: paths().next().map(str::to_owned),
        source: artifact
            .upstreams
            .iter()
            .flatten()
            .find_map(|u| non_empty(u.name.as_deref()))
            .filter(|upstream| *upstream != name)
            .map(str::to_owned),
    }));

    let mut detection = Detection::new(
        fingerprint,
        kind,
        package_title(canonical, name, version),
        Severity::Info,
        location,
    );
    detection.rule_id = Some(texts.get(primary));
    detection.vuln_ids = common::vuln_ids(primary, aliases());
    detection.description = std::iter::once(vulnerability)
        .chain(related)
        .find_map(|v| non_empty(v.description.as_deref()))
        .map(|text| texts.get(text));
    detection.help_uri = non_empty(vulnerability.data_source.as_deref())
        .or_else(|| vulnerability.urls.iter().flatten().find_map(|u| non_empty(Some(u))))
        .map(|uri| texts.get(uri));
    for entry in std::iter::once(vulnerability)
        .chain(related)
        .flat_map(|v| v.cvss.iter().flatten())
    {
        if let Some(cvss) = cvss(entry)
            && !detection.cvss.contains(&cvss)
        {
            detection.cvss.push(cvss);
        }
    }
    detection.severity = severity_or_cvss(vulnerability.severity.as_deref(), &detection);
    detection.epss = epss(vulnerability, related, canonical);
    detection.kev = std::iter::once(vulnerability)
        .chain(related)
        .any(|v| v.known_exploited.as_ref().is_some_and(|k| !k.is_empty()));
    detection.fix = common::upgrade_hint(name, fixed_version);
    for path in paths() {
        let line = format!("{LOCATION}{path}");
        if !detection.evidence.contains(&line) && detection.evidence.len() < MAX_EVIDENCE {
            detection.evidence.push(line);
        }
    }
    Ok(detection)
}

fn cvss(raw: &RawCvss<'_>) -> Option<Cvss> {
    let score = raw.metrics.as_ref()?.base_score?;
    if !(score.is_finite() && (0.0..=10.0).contains(&score)) {
        return None;
    }
    let mut cvss = Cvss::new(
        score as f32,
        non_empty(raw.vector.as_deref()).map(str::to_owned),
        non_empty(raw.source.as_deref()).map(str::to_owned),
    );
    if let Some(version) = non_empty(raw.version.as_deref()) {
        cvss.version = Some(version.to_owned());
    }
    Some(cvss)
}

/// The EPSS entry of the canonical CVE, else the first one, from the match or its related ids.
fn epss(vulnerability: &RawVulnerability<'_>, related: &[RawVulnerability<'_>], canonical: &str) -> Option<Epss> {
    let entries = || {
        std::iter::once(vulnerability)
            .chain(related)
            .flat_map(|v| v.epss.iter().flatten())
    };
    let of_canonical = entries().find(|e| e.cve.as_deref().is_some_and(|c| c.eq_ignore_ascii_case(canonical)));
    let entry = of_canonical.or_else(|| entries().next())?;
    common::epss_rating(entry.epss?, entry.percentile?)
}

impl RawSource<'_> {
    fn is_image(&self) -> bool {
        self.kind
            .as_deref()
            .is_some_and(|k| k.trim().eq_ignore_ascii_case("image"))
            || matches!(self.target, Some(RawTarget::Image { .. }))
    }
}

/// The scanned image or directory; `.` (how `grype dir:.` names the working directory, quoted by
/// grype 0.24) says nothing, so it and a missing target fall back to the context's asset.
fn report_asset(source: Option<&RawSource<'_>>, ctx: &ParseContext) -> AssetKey {
    let image = source.is_some_and(RawSource::is_image);
    let asset = match source.and_then(|s| s.target.as_ref()) {
        Some(RawTarget::Image {
            user_input,
            tags,
            image_id,
        }) => {
            // The image is what the user asked to scan, as Trivy names it by `ArtifactName`:
            // an archive keeps its file name (without Grype's `docker-archive:` scheme), so
            // both scanners of one archive agree.
            let user_input = non_empty(user_input.as_deref()).map(without_scheme);
            let tags = tags.iter().map(|t| &**t);
            user_input
                .into_iter()
                .chain(tags)
                .chain(image_id.as_deref())
                .find_map(common::image_asset)
        }
        Some(RawTarget::Path(path)) => {
            let path = path.trim();
            let unquoted = path
                .strip_prefix('"')
                .and_then(|p| p.strip_suffix('"'))
                .unwrap_or(path)
                .trim();
            match unquoted {
                "" | "." => None,
                target if image => common::image_asset(target),
                target => common::asset_from_text(target),
            }
        }
        None => None,
    };
    asset.unwrap_or_else(|| ctx.default_asset.clone())
}

/// Grype's source schemes (`docker-archive:app.tar`, `registry:alpine:3.10`, …) say how the
/// image was read, not what it is.
fn without_scheme(input: &str) -> &str {
    const SCHEMES: [&str; 7] = [
        "docker-archive:",
        "oci-archive:",
        "oci-dir:",
        "docker:",
        "podman:",
        "registry:",
        "singularity:",
    ];
    SCHEMES
        .iter()
        .find_map(|scheme| input.strip_prefix(scheme))
        .unwrap_or(input)
}

impl<'de: 'a, 'a> Deserialize<'de> for RawTarget<'a> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_any(TargetVisitor(std::marker::PhantomData))
    }
}

struct TargetVisitor<'a>(std::marker::PhantomData<&'a ()>);

#[derive(Deserialize)]
#[serde(field_identifier, rename_all = "camelCase")]
enum TargetField {
    UserInput,
    Tags,
    #[serde(rename = "imageID")]
    ImageId,
    #[serde(other)]
    Other,
}

impl<'de: 'a, 'a> Visitor<'de> for TargetVisitor<'a> {
    type Value = RawTarget<'a>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a path or an image description")
    }

    fn visit_borrowed_str<E: de::Error>(self, text: &'de str) -> Result<Self::Value, E> {
        Ok(RawTarget::Path(Text(Cow::Borrowed(text))))
    }

    fn visit_str<E: de::Error>(self, text: &str) -> Result<Self::Value, E> {
        Ok(RawTarget::Path(Text(Cow::Owned(text.to_owned()))))
    }

    fn visit_string<E: de::Error>(self, text: String) -> Result<Self::Value, E> {
        Ok(RawTarget::Path(Text(Cow::Owned(text))))
    }

    fn visit_map<M: MapAccess<'de>>(self, mut map: M) -> Result<Self::Value, M::Error> {
        let (mut user_input, mut tags, mut image_id) = (None, Vec::new(), None);
        while let Some(field) = map.next_key::<TargetField>()? {
            match field {
                TargetField::UserInput => user_input = map.next_value::<Option<Text<'a>>>()?,
                TargetField::Tags => tags = map.next_value::<Option<Vec<Text<'a>>>>()?.unwrap_or_default(),
                TargetField::ImageId => image_id = map.next_value::<Option<Text<'a>>>()?,
                TargetField::Other => {
                    map.next_value::<IgnoredAny>()?;
                }
            }
        }
        Ok(RawTarget::Image {
            user_input,
            tags,
            image_id,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{Fingerprint, SourceName};

    fn ctx() -> ParseContext {
        ParseContext::for_source(SourceName::parse("ci").unwrap())
    }

    fn report(source: &str) -> String {
        format!(
            r#"{{"matches":[{{"vulnerability":{{"id":"CVE-1"}},"artifact":{{"name":"a","type":"deb"}}}}],"source":{source}}}"#
        )
    }

    #[test]
    fn image_target_names_the_asset_and_os_packages_are_container_findings() {
        let scans = parse(
            report(r#"{"type":"image","target":{"userInput":"docker.io/library/alpine:3.10"}}"#).as_bytes(),
            &ctx(),
        )
        .unwrap();
        assert_eq!(scans[0].asset.as_str(), "alpine:3.10");
        assert_eq!(scans[0].detections[0].kind, FindingKind::Container);
    }

    #[test]
    fn image_without_user_input_falls_back_to_tags_then_id() {
        let tagged = parse(
            report(r#"{"type":"image","target":{"userInput":"","tags":["app:1"],"imageID":"sha256:x"}}"#).as_bytes(),
            &ctx(),
        )
        .unwrap();
        assert_eq!(tagged[0].asset.as_str(), "app:1");
        let archive = parse(report(r#"{"type":"image","target":{"userInput":"docker-archive:out/app.tar","tags":["docker.io/library/alpine:3.10"]}}"#).as_bytes(), &ctx()).unwrap();
        assert_eq!(
            archive[0].asset.as_str(),
            "out/app.tar",
            "an archive keeps its name, as Trivy's ArtifactName does"
        );
        let registry = parse(
            report(r#"{"type":"image","target":{"userInput":"registry:docker.io/library/alpine:3.10"}}"#).as_bytes(),
            &ctx(),
        )
        .unwrap();
        assert_eq!(registry[0].asset.as_str(), "alpine:3.10");
        let untagged = parse(
            report(r#"{"type":"image","target":{"tags":null,"imageID":"sha256:x"}}"#).as_bytes(),
            &ctx(),
        )
        .unwrap();
        assert_eq!(untagged[0].asset.as_str(), "sha256:x");
    }

    #[test]
    fn working_directory_target_uses_the_default_asset() {
        for target in [r#"".""#, r#""\".\"""#, r#""""#] {
            let source = format!(r#"{{"type":"directory","target":{target}}}"#);
            let scans = parse(report(&source).as_bytes(), &ctx()).unwrap();
            assert_eq!(scans[0].asset.as_str(), "ci", "{target}");
            assert_eq!(scans[0].detections[0].kind, FindingKind::Dependency, "{target}");
        }
        let scans = parse(
            report(r#"{"type":"directory","target":"/src/shop"}"#).as_bytes(),
            &ctx(),
        )
        .unwrap();
        assert_eq!(scans[0].asset.as_str(), "/src/shop");
    }

    #[test]
    fn plain_strings_are_borrowed_and_escaped_ones_decoded() {
        let raw: RawArtifact<'_> =
            sonic_rs::from_str(r#"{"name":"plain","version":"a\"b","locations":[{"path":"/x"}]}"#).unwrap();
        assert!(matches!(raw.name.as_ref().unwrap().0, Cow::Borrowed("plain")));
        assert_eq!(raw.version.as_deref(), Some("a\"b"));
        let locations = raw.locations.unwrap();
        assert!(matches!(locations[0].path.as_ref().unwrap().0, Cow::Borrowed("/x")));
        let source: RawSource<'_> = sonic_rs::from_str(r#"{"target":{"userInput":"app:1","tags":["t"]}}"#).unwrap();
        let Some(RawTarget::Image { user_input, tags, .. }) = source.target else {
            panic!("an image target")
        };
        assert!(matches!(user_input.unwrap().0, Cow::Borrowed("app:1")));
        assert!(matches!(tags[0].0, Cow::Borrowed("t")));
    }

    #[test]
    fn evidence_is_shared_and_bounded() {
        let mut detections: Vec<Detection> = (0..3)
            .map(|i| {
                let mut d = Detection::new(
                    Fingerprint::from_bytes([1; 16]),
                    FindingKind::Dependency,
                    "t".into(),
                    Severity::Low,
                    Location::Unspecified,
                );
                d.evidence = (0..MAX_EVIDENCE).map(|j| format!("location: {i}/{j}")).collect();
                d
            })
            .collect();
        share_evidence(&mut detections, LOCATION);
        for d in &detections {
            assert_eq!(d.evidence.len(), MAX_EVIDENCE);
            assert_eq!(
                d.evidence.last().unwrap(),
                &format!("... and {} more", 2 * MAX_EVIDENCE + 1)
            );
        }
    }
}
