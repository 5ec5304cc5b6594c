//! Trivy JSON reports (`trivy image|fs|repo|config|sbom --format json`, `trivy k8s --format json`)
//! → detections. Owns the mapping of Trivy's vulnerabilities, misconfigurations and secrets onto
//! muster's model; it never guesses an id it was not given and never returns part of a report.
//!
//! Layouts read:
//! - schema 2: `{"SchemaVersion": 2, "ArtifactName", "ArtifactType", "Metadata", "Results": [..]}`;
//! - the pre-schema-2 list of results `[{"Target", "Type", "Vulnerabilities"}]`;
//! - Kubernetes: `{"ClusterName", "Resources": [{"Namespace", "Kind", "Name", "Results"}]}`, its
//!   `--report summary` form (`"Findings"` instead of `"Resources"`) and the older
//!   `{"ClusterName", "Vulnerabilities": [resource..], "Misconfigurations": [resource..]}`.
//!
//! Assets (one [`Scan`] per asset):
//! - container images are named by `ArtifactName` (else the first `Metadata.RepoTags` entry)
//!   through [`common::image_asset`], so Trivy's `alpine:3.10 (alpine 3.10.2)` target and Grype's
//!   `docker.io/library/alpine:3.10` are one asset. An image read from an archive (`--input
//!   image.tar`) keeps the archive's name, as Trivy's own ASFF output of the scan does;
//! - repositories given as URLs become `host/org/repo` like SARIF's; other artifacts (filesystem,
//!   SBOM, VM) use their name as written, except `.`, which names nothing;
//! - the list form has no artifact name: the OS-package target (`trivy-ci-test (alpine 3.7.1)`)
//!   names the image;
//! - a Kubernetes resource is `k8s/<cluster>/<namespace>/<kind>/<name>`, with `-` for the
//!   namespace of cluster-scoped resources. A resource Trivy failed to scan (`Error`) gives an
//!   incomplete scan, so its earlier findings are not resolved by its silence;
//! - otherwise [`ParseContext::default_asset`].
//!
//! Counting: one detection per `Vulnerabilities[]` entry, per `Misconfigurations[]` entry whose
//! `Status` is `FAIL` or absent (`EXCEPTION` gives a suppressed detection, `PASS` nothing) and per
//! `Secrets[]` entry; licenses give nothing.

use std::borrow::Cow;
use std::collections::HashMap;
use std::fmt;
use std::sync::Arc;

use serde::Deserialize;
use serde::de::{self, DeserializeSeed, Deserializer, IgnoredAny, MapAccess, SeqAccess, Visitor};

use super::json::{Text, without_bom};
use super::{ParseContext, ParseError, common, sarif};
use crate::fingerprint;
use crate::model::{AssetKey, Cvss, Detection, FindingKind, Location, PackageLocation, Reported, Scan, Severity, Tool};

const FORMAT: &str = "trivy";
const TOOL: &str = "Trivy";

// ---- What is read from the report -----------------------------------------------------------

/// A long text a detection keeps as `Arc<str>`: borrowed from the report, or decoded straight
/// into the `Arc` when it had escapes (Trivy's descriptions mostly do), never via a `String`.
enum SharedText<'a> {
    Borrowed(&'a str),
    Decoded(Arc<str>),
}

impl<'de: 'a, 'a> Deserialize<'de> for SharedText<'a> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct SharedVisitor;
        impl<'de> Visitor<'de> for SharedVisitor {
            type Value = SharedText<'de>;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a string")
            }
            fn visit_borrowed_str<E: de::Error>(self, text: &'de str) -> Result<Self::Value, E> {
                Ok(SharedText::Borrowed(text))
            }
            fn visit_str<E: de::Error>(self, text: &str) -> Result<Self::Value, E> {
                Ok(SharedText::Decoded(Arc::from(text)))
            }
        }
        deserializer.deserialize_str(SharedVisitor)
    }
}

impl SharedText<'_> {
    /// The trimmed text, `None` when blank.
    fn text(&self) -> Option<&str> {
        let text = match self {
            Self::Borrowed(text) => text,
            Self::Decoded(text) => &**text,
        };
        Some(trim(text)).filter(|t| !t.is_empty())
    }

    /// The trimmed text as an `Arc`, reusing the decoded one when trimming changes nothing.
    fn to_arc(&self) -> Option<Arc<str>> {
        let text = self.text()?;
        match self {
            Self::Decoded(decoded) if decoded.len() == text.len() => Some(decoded.clone()),
            _ => Some(Arc::from(text)),
        }
    }
}

/// The trimmed text of an optional string, `None` when absent or blank.
fn text<'t>(value: &'t Option<Text<'_>>) -> Option<&'t str> {
    value.as_deref().map(trim).filter(|t| !t.is_empty())
}

/// Like [`text`], for a string borrowed from the report: it outlives the parsed item.
fn borrowed<'de>(value: &Option<Text<'de>>) -> Option<&'de str> {
    match value {
        Some(Text(Cow::Borrowed(text))) => Some(trim(text)).filter(|t| !t.is_empty()),
        _ => None,
    }
}

/// `str::trim` without its per-character decoding when neither end can be whitespace, which
/// is nearly always (a dozen strings per vulnerability).
fn trim(text: &str) -> &str {
    // Every whitespace character starts with an ASCII space or control byte, or is multi-byte
    // (its first and last bytes are ≥ 0x80).
    let plain = |byte: Option<&u8>| byte.is_some_and(|b| !matches!(b, b'\t'..=b'\r' | b' ' | 0x80..));
    if plain(text.as_bytes().first()) && plain(text.as_bytes().last()) {
        text
    } else {
        text.trim()
    }
}

#[derive(Deserialize)]
struct RawTrivy<'a> {
    #[serde(rename = "Version", borrow)]
    version: Option<Text<'a>>,
}

#[derive(Deserialize)]
struct RawMetadata<'a> {
    #[serde(rename = "RepoTags", borrow)]
    repo_tags: Option<Vec<Text<'a>>>,
}

#[derive(Deserialize)]
struct RawResource<'a> {
    #[serde(rename = "Namespace", borrow)]
    namespace: Option<Text<'a>>,
    #[serde(rename = "Kind", borrow)]
    kind: Option<Text<'a>>,
    #[serde(rename = "Name", borrow)]
    name: Option<Text<'a>>,
    #[serde(rename = "Results", borrow)]
    results: Option<Vec<RawResult<'a>>>,
    #[serde(rename = "Error", borrow)]
    error: Option<Text<'a>>,
}

#[derive(Deserialize, Default)]
struct RawResult<'a> {
    #[serde(rename = "Target", borrow)]
    target: Option<Text<'a>>,
    #[serde(rename = "Class", borrow)]
    class: Option<Text<'a>>,
    #[serde(rename = "Type", borrow)]
    kind: Option<Text<'a>>,
    #[serde(rename = "Vulnerabilities", borrow)]
    vulnerabilities: Option<Vec<RawVulnerability<'a>>>,
    #[serde(rename = "Misconfigurations", borrow)]
    misconfigurations: Option<Vec<RawMisconfiguration<'a>>>,
    #[serde(rename = "Secrets", borrow)]
    secrets: Option<Vec<RawSecret<'a>>>,
}

#[derive(Deserialize)]
struct RawVulnerability<'a> {
    #[serde(rename = "VulnerabilityID", borrow)]
    id: Option<Text<'a>>,
    #[serde(rename = "VendorIDs", borrow)]
    vendor_ids: Option<Vec<Text<'a>>>,
    #[serde(rename = "PkgName", borrow)]
    pkg_name: Option<Text<'a>>,
    #[serde(rename = "PkgPath", borrow)]
    pkg_path: Option<Text<'a>>,
    #[serde(rename = "SrcName", borrow)]
    src_name: Option<Text<'a>>,
    #[serde(rename = "InstalledVersion", borrow)]
    installed_version: Option<Text<'a>>,
    #[serde(rename = "FixedVersion", borrow)]
    fixed_version: Option<Text<'a>>,
    #[serde(rename = "PrimaryURL", borrow)]
    primary_url: Option<Text<'a>>,
    #[serde(rename = "Title", borrow)]
    title: Option<Text<'a>>,
    #[serde(rename = "Description", borrow)]
    description: Option<SharedText<'a>>,
    #[serde(rename = "Severity", borrow)]
    severity: Option<Text<'a>>,
    #[serde(rename = "CVSS", borrow)]
    cvss: Option<CvssBySource<'a>>,
}

/// `"CVSS": {"nvd": {..}, "redhat": {..}}` in report order, without a hash map per entry.
struct CvssBySource<'a>(Vec<(Text<'a>, RawCvss<'a>)>);

impl<'de: 'a, 'a> Deserialize<'de> for CvssBySource<'a> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct SourcesVisitor;
        impl<'de> Visitor<'de> for SourcesVisitor {
            type Value = CvssBySource<'de>;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("an object of CVSS ratings by source")
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
                let mut sources = Vec::with_capacity(map.size_hint().unwrap_or(2));
                while let Some(entry) = map.next_entry()? {
                    sources.push(entry);
                }
                Ok(CvssBySource(sources))
            }
        }
        deserializer.deserialize_map(SourcesVisitor)
    }
}

#[derive(Deserialize)]
struct RawCvss<'a> {
    #[serde(rename = "V2Vector", borrow)]
    v2_vector: Option<Text<'a>>,
    #[serde(rename = "V2Score")]
    v2_score: Option<f64>,
    #[serde(rename = "V3Vector", borrow)]
    v3_vector: Option<Text<'a>>,
    #[serde(rename = "V3Score")]
    v3_score: Option<f64>,
    #[serde(rename = "V40Vector", borrow)]
    v40_vector: Option<Text<'a>>,
    #[serde(rename = "V40Score")]
    v40_score: Option<f64>,
}

#[derive(Deserialize)]
struct RawMisconfiguration<'a> {
    #[serde(rename = "ID", borrow)]
    id: Option<Text<'a>>,
    #[serde(rename = "AVDID", borrow)]
    avd_id: Option<Text<'a>>,
    #[serde(rename = "Title", borrow)]
    title: Option<Text<'a>>,
    #[serde(rename = "Description", borrow)]
    description: Option<Text<'a>>,
    #[serde(rename = "Message", borrow)]
    message: Option<Text<'a>>,
    #[serde(rename = "Resolution", borrow)]
    resolution: Option<Text<'a>>,
    #[serde(rename = "Severity", borrow)]
    severity: Option<Text<'a>>,
    #[serde(rename = "PrimaryURL", borrow)]
    primary_url: Option<Text<'a>>,
    #[serde(rename = "Status", borrow)]
    status: Option<Text<'a>>,
    #[serde(rename = "CauseMetadata", borrow)]
    cause: Option<RawCause<'a>>,
}

#[derive(Deserialize)]
struct RawCause<'a> {
    #[serde(rename = "Resource", borrow)]
    resource: Option<Text<'a>>,
    #[serde(rename = "StartLine")]
    start_line: Option<i64>,
}

#[derive(Deserialize)]
struct RawSecret<'a> {
    #[serde(rename = "RuleID", borrow)]
    rule_id: Option<Text<'a>>,
    #[serde(rename = "Category", borrow)]
    category: Option<Text<'a>>,
    #[serde(rename = "Severity", borrow)]
    severity: Option<Text<'a>>,
    #[serde(rename = "Title", borrow)]
    title: Option<Text<'a>>,
    #[serde(rename = "StartLine")]
    start_line: Option<i64>,
    /// The matched line, with the secret already replaced by `*` by Trivy.
    #[serde(rename = "Match", borrow)]
    matched: Option<Text<'a>>,
}

// ---- Entry point ----------------------------------------------------------------------------

/// Parses a Trivy JSON report of any layout above into one `Scan` per asset.
///
/// Reads in one pass: once a report's header has named its asset (Trivy writes `ArtifactName`,
/// `ArtifactType` and `Metadata` before `Results`, and `Target`, `Class` and `Type` before a
/// result's `Vulnerabilities`), each vulnerability becomes a detection as soon as it is read,
/// so the report is never held twice. Keys in another order are still read right: what comes
/// too early is kept until the header is complete. The list form and Kubernetes reports are
/// read whole first.
pub fn parse(bytes: &[u8], ctx: &ParseContext) -> Result<Vec<Scan>, ParseError> {
    let (base, json) = without_bom(bytes);
    let mut builder = Builder::new(ctx, json.len());
    // sonic-rs checks UTF-8 once up front and refuses any string it reads at or after a bad
    // byte; `parse_report` has refused invalid UTF-8 anywhere before calling this.
    let mut deserializer = sonic_rs::Deserializer::from_slice(json);
    let read = Document(&mut builder)
        .deserialize(&mut deserializer)
        .and_then(|()| deserializer.end());
    // A refused item stops the deserializer with an error that carries no position; the
    // builder kept the real one.
    if let Some(failure) = builder.failure.take() {
        return Err(failure);
    }
    read.map_err(|error| ParseError::syntax(FORMAT, bytes, base, &error))?;
    Ok(builder.finish())
}

/// The whole document: a list of results, or a report object.
struct Document<'b, 'de, 'c>(&'b mut Builder<'de, 'c>);

impl<'de> DeserializeSeed<'de> for Document<'_, 'de, '_> {
    type Value = ();
    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<(), D::Error> {
        deserializer.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for Document<'_, 'de, '_> {
    type Value = ();

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a Trivy report (an object) or a list of Trivy results")
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<(), A::Error> {
        let mut results = Vec::new();
        while let Some(result) = seq.next_element::<RawResult<'de>>()? {
            results.push(result);
        }
        let outcome = self.0.list(&results);
        outcome.map_err(|failure| self.0.fail(failure))
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<(), A::Error> {
        let builder = self.0;
        let mut header = Header::default();
        let mut results = ResultsRead::Absent;
        while let Some(key) = map.next_key::<Text<'de>>()? {
            match &*key {
                "SchemaVersion" => {
                    header.schema_version = true;
                    map.next_value::<IgnoredAny>()?;
                }
                "Trivy" => header.trivy = map.next_value()?,
                "ArtifactName" => header.artifact_name = Some(map.next_value()?),
                "ArtifactType" => header.artifact_type = Some(map.next_value()?),
                "Metadata" => header.metadata = Some(map.next_value()?),
                "ClusterName" => header.cluster_name = Some(map.next_value()?),
                "Resources" => header.resources[0] = map.next_value()?,
                "Findings" => header.resources[1] = map.next_value()?,
                "Vulnerabilities" => header.resources[2] = map.next_value()?,
                "Misconfigurations" => header.resources[3] = map.next_value()?,
                "Results" => {
                    if !matches!(results, ResultsRead::Absent) {
                        return Err(de::Error::duplicate_field("Results"));
                    }
                    results = match header.streamable(builder.ctx) {
                        Some((asset, image)) => {
                            let scan = builder.scan(&header.tool(), asset, image, true);
                            map.next_value_seed(Results {
                                builder: &mut *builder,
                                scan: &scan,
                            })?;
                            ResultsRead::Streamed(scan.index)
                        }
                        None => ResultsRead::Buffered(map.next_value()?),
                    };
                }
                _ => {
                    map.next_value::<IgnoredAny>()?;
                }
            }
        }
        let outcome = builder.report(&header, results);
        outcome.map_err(|failure| builder.fail(failure))
    }
}

/// The top-level keys of a report object other than `Results`. Outer `Option`s of the
/// artifact fields say whether the key was read yet.
#[derive(Default)]
struct Header<'de> {
    schema_version: bool,
    trivy: Option<RawTrivy<'de>>,
    artifact_name: Option<Option<Text<'de>>>,
    artifact_type: Option<Option<Text<'de>>>,
    metadata: Option<Option<RawMetadata<'de>>>,
    cluster_name: Option<Option<Text<'de>>>,
    /// `Resources`, `Findings`, `Vulnerabilities`, `Misconfigurations` of Kubernetes reports.
    resources: [Option<Vec<RawResource<'de>>>; 4],
}

/// How a report's `Results` were read.
enum ResultsRead<'de> {
    Absent,
    /// Into the scan at this index, while reading.
    Streamed(usize),
    /// Whole, because they came before the keys naming the asset.
    Buffered(Option<Vec<RawResult<'de>>>),
}

const RESOURCE_LISTS: [&str; 4] = ["Resources", "Findings", "Vulnerabilities", "Misconfigurations"];

impl Header<'_> {
    fn tool(&self) -> Tool {
        Tool {
            name: TOOL.to_owned(),
            version: self.trivy.as_ref().and_then(|t| text(&t.version)).map(str::to_owned),
        }
    }

    fn kubernetes(&self) -> bool {
        self.cluster_name.is_some() || self.resources.iter().any(Option::is_some)
    }

    /// Whether the artifact is a container image; `None` when the report does not say.
    fn image(&self) -> Option<bool> {
        let kind = self.artifact_type.as_ref().and_then(text)?;
        Some(kind == "container_image")
    }

    fn tags(&self) -> &[Text<'_>] {
        self.metadata
            .as_ref()
            .and_then(Option::as_ref)
            .and_then(|m| m.repo_tags.as_deref())
            .unwrap_or_default()
    }

    /// The asset the header names (module doc), without looking at results.
    fn named_asset(&self, image: bool) -> Option<AssetKey> {
        let name = self.artifact_name.as_ref().and_then(text);
        if image {
            return name
                .and_then(common::image_asset)
                .or_else(|| self.tags().iter().find_map(|t| common::image_asset(t)));
        }
        match name {
            Some(name) if name.contains("://") || name.starts_with("git@") => sarif::repository_asset(name),
            Some("." | "./") | None => None,
            Some(name) => common::asset_from_text(name),
        }
    }

    /// The asset and image flag, when the keys read so far settle them for good.
    fn streamable(&self, ctx: &ParseContext) -> Option<(AssetKey, bool)> {
        if self.kubernetes() || self.artifact_name.is_none() {
            return None;
        }
        let image = self.image()?;
        // Tags name an image only when `ArtifactName` does not, and come before `Results`.
        let name = self.artifact_name.as_ref().and_then(text);
        if image && name.and_then(common::image_asset).is_none() && self.metadata.is_none() {
            return None;
        }
        match self.named_asset(image) {
            Some(asset) => Some((asset, image)),
            // An unnamed image may still be named by its OS-package target.
            None if image => None,
            None => Some((ctx.default_asset.clone(), false)),
        }
    }
}

/// A report's `Results`, read into one scan as they come.
struct Results<'b, 'de, 'c> {
    builder: &'b mut Builder<'de, 'c>,
    scan: &'b ScanInfo,
}

impl<'de> DeserializeSeed<'de> for Results<'_, 'de, '_> {
    type Value = ();
    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<(), D::Error> {
        deserializer.deserialize_option(self)
    }
}

impl<'de> Visitor<'de> for Results<'_, 'de, '_> {
    type Value = ();

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a list of results")
    }

    fn visit_none<E: de::Error>(self) -> Result<(), E> {
        Ok(())
    }

    fn visit_some<D: Deserializer<'de>>(self, deserializer: D) -> Result<(), D::Error> {
        deserializer.deserialize_seq(self)
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<(), A::Error> {
        let mut index = 0;
        loop {
            let result = ResultReader {
                builder: &mut *self.builder,
                scan: self.scan,
                at: At {
                    resource: None,
                    result: index,
                    list: false,
                },
            };
            if seq.next_element_seed(result)?.is_none() {
                return Ok(());
            }
            index += 1;
        }
    }
}

/// One result, its vulnerabilities turned into detections as they are read once its target
/// is known.
struct ResultReader<'b, 'de, 'c> {
    builder: &'b mut Builder<'de, 'c>,
    scan: &'b ScanInfo,
    at: At,
}

impl<'de> DeserializeSeed<'de> for ResultReader<'_, 'de, '_> {
    type Value = ();
    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<(), D::Error> {
        deserializer.deserialize_map(self)
    }
}

impl<'de> Visitor<'de> for ResultReader<'_, 'de, '_> {
    type Value = ();

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a result object")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<(), A::Error> {
        let (builder, scan, at) = (self.builder, self.scan, self.at);
        let mut target: Option<Option<Text<'de>>> = None;
        let (mut class, mut kind): (Option<Text<'de>>, Option<Text<'de>>) = (None, None);
        // (first detection, kind given) of vulnerabilities read as they came.
        let mut streamed: Option<(usize, FindingKind)> = None;
        let mut raw = RawResult::default();
        while let Some(key) = map.next_key::<Text<'de>>()? {
            match &*key {
                "Target" => target = Some(map.next_value()?),
                "Class" => class = map.next_value()?,
                "Type" => kind = map.next_value()?,
                "Vulnerabilities" => {
                    if streamed.is_some() || raw.vulnerabilities.is_some() {
                        return Err(de::Error::duplicate_field("Vulnerabilities"));
                    }
                    match &target {
                        Some(target) => {
                            let package_kind = package_kind(scan.image, text(&class), text(&kind));
                            let first = builder.scans[scan.index].detections.len();
                            map.next_value_seed(Vulnerabilities {
                                builder: &mut *builder,
                                scan,
                                kind: package_kind,
                                target: text(target),
                                at,
                            })?;
                            streamed = Some((first, package_kind));
                        }
                        None => raw.vulnerabilities = map.next_value()?,
                    }
                }
                "Misconfigurations" => raw.misconfigurations = map.next_value()?,
                "Secrets" => raw.secrets = map.next_value()?,
                _ => {
                    map.next_value::<IgnoredAny>()?;
                }
            }
        }
        raw.target = target.flatten();
        raw.class = class;
        raw.kind = kind;
        // A `Class` or `Type` after the vulnerabilities decides their kind after all.
        if let Some((first, given)) = streamed {
            let final_kind = package_kind(scan.image, text(&raw.class), text(&raw.kind));
            if final_kind != given {
                for detection in &mut builder.scans[scan.index].detections[first..] {
                    detection.kind = final_kind;
                }
            }
        }
        let outcome = builder.result(scan, &raw, at, false);
        outcome.map_err(|failure| builder.fail(failure))
    }
}

/// A result's `Vulnerabilities`, each a detection as soon as it is read.
struct Vulnerabilities<'b, 'de, 'c> {
    builder: &'b mut Builder<'de, 'c>,
    scan: &'b ScanInfo,
    kind: FindingKind,
    target: Option<&'b str>,
    at: At,
}

impl<'de> DeserializeSeed<'de> for Vulnerabilities<'_, 'de, '_> {
    type Value = ();
    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<(), D::Error> {
        deserializer.deserialize_option(self)
    }
}

impl<'de> Visitor<'de> for Vulnerabilities<'_, 'de, '_> {
    type Value = ();

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a list of vulnerabilities")
    }

    fn visit_none<E: de::Error>(self) -> Result<(), E> {
        Ok(())
    }

    fn visit_some<D: Deserializer<'de>>(self, deserializer: D) -> Result<(), D::Error> {
        deserializer.deserialize_seq(self)
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<(), A::Error> {
        let mut index = 0;
        while let Some(raw) = seq.next_element::<RawVulnerability<'de>>()? {
            let detection = self
                .builder
                .vulnerability(&raw, &self.scan.asset, self.kind, self.target, false)
                .map_err(|problem| self.builder.fail(self.at.error("Vulnerabilities", index, problem)))?;
            self.builder.scans[self.scan.index].detections.push(detection);
            index += 1;
        }
        Ok(())
    }
}

// ---- Building detections --------------------------------------------------------------------

/// Where an item sits in the report, spelled only when an error names it.
#[derive(Clone, Copy)]
struct At {
    /// A Kubernetes resource list and index (`Resources[3]`).
    resource: Option<(&'static str, usize)>,
    /// Index into `Results`, or into the top-level array of the list form.
    result: usize,
    list: bool,
}

impl At {
    fn result(&self) -> String {
        let mut path = String::new();
        if let Some((list, index)) = self.resource {
            path.push_str(&format!("{list}[{index}]."));
        }
        if self.list {
            path.push_str(&format!("[{}]", self.result));
        } else {
            path.push_str(&format!("Results[{}]", self.result));
        }
        path
    }

    fn error(&self, section: &str, index: usize, problem: &str) -> ParseError {
        schema(format!("{}.{section}[{index}]: {problem}", self.result()))
    }
}

fn schema(message: String) -> ParseError {
    ParseError::Schema {
        format: FORMAT,
        message,
    }
}

/// Text one vulnerability id carries wherever it appears, shared because one CVE is reported
/// once per affected package and its description is the bulk of a detection.
struct Advisory {
    id: Arc<str>,
    description: Option<Arc<str>>,
    help: Option<Arc<str>>,
}

/// What every result of one scan shares.
struct ScanInfo {
    index: usize,
    asset: AssetKey,
    /// OS packages here are packages of a container image.
    image: bool,
}

struct Builder<'de, 'c> {
    ctx: &'c ParseContext,
    scans: Vec<Scan>,
    by_asset: HashMap<AssetKey, usize>,
    /// By vulnerability id, for ids borrowed from the report (all but escaped ones).
    advisories: HashMap<&'de str, Advisory>,
    /// Why reading stopped, when an item was refused.
    failure: Option<ParseError>,
}

impl<'de, 'c> Builder<'de, 'c> {
    fn new(ctx: &'c ParseContext, report_len: usize) -> Self {
        Self {
            ctx,
            scans: Vec::new(),
            by_asset: HashMap::new(),
            // Real reports spend ~2 KiB per vulnerability; growing the map costs more than this.
            advisories: HashMap::with_capacity(report_len / 4096),
            failure: None,
        }
    }

    /// Keeps `failure` and stops the deserializer.
    fn fail<E: de::Error>(&mut self, failure: ParseError) -> E {
        let error = E::custom(&failure);
        self.failure = Some(failure);
        error
    }

    /// The scan of `asset`, created on first use; a scan is complete only if every part is.
    fn scan(&mut self, tool: &Tool, asset: AssetKey, image: bool, complete: bool) -> ScanInfo {
        let index = match self.by_asset.get(&asset) {
            Some(&index) => {
                self.scans[index].complete &= complete;
                index
            }
            None => {
                self.scans.push(Scan {
                    tool: tool.clone(),
                    asset: asset.clone(),
                    detections: Vec::new(),
                    complete,
                });
                self.by_asset.insert(asset.clone(), self.scans.len() - 1);
                self.scans.len() - 1
            }
        };
        ScanInfo { index, asset, image }
    }

    fn finish(mut self) -> Vec<Scan> {
        for scan in &mut self.scans {
            rank_repeated_anchors(&mut scan.detections);
        }
        self.scans
    }

    /// The pre-schema-2 list: one image (named by its OS target) or the default asset.
    fn list(&mut self, results: &[RawResult<'de>]) -> Result<(), ParseError> {
        let tool = Tool {
            name: TOOL.to_owned(),
            version: None,
        };
        let image = os_target_asset(results);
        let is_image = image.is_some();
        let asset = image.unwrap_or_else(|| self.ctx.default_asset.clone());
        let scan = self.scan(&tool, asset, is_image, true);
        for (index, result) in results.iter().enumerate() {
            let at = At {
                resource: None,
                result: index,
                list: true,
            };
            self.result(&scan, result, at, true)?;
        }
        Ok(())
    }

    /// Everything of a report object not read while streaming.
    fn report(&mut self, header: &Header<'de>, results: ResultsRead<'de>) -> Result<(), ParseError> {
        let tool = header.tool();
        if header.kubernetes() {
            let cluster = header.cluster_name.as_ref().and_then(text).unwrap_or("-");
            for (name, list) in RESOURCE_LISTS.into_iter().zip(&header.resources) {
                for (index, resource) in list.iter().flatten().enumerate() {
                    self.resource(&tool, cluster, resource, (name, index))?;
                }
            }
        }
        let results = match results {
            // `Trivy.Version` may come after the results.
            ResultsRead::Streamed(index) => {
                self.scans[index].tool = tool;
                return Ok(());
            }
            ResultsRead::Buffered(results) => results,
            ResultsRead::Absent if header.kubernetes() => return Ok(()),
            ResultsRead::Absent => None,
        };
        let results = results.unwrap_or_default();
        if !header.schema_version && header.artifact_name.is_none() && results.is_empty() {
            return Err(schema(
                "not a Trivy report: expected \"SchemaVersion\", \"ArtifactName\" and \"Results\" \
                 (trivy --format json), a list of results, or \"ClusterName\" and \"Resources\" \
                 (trivy k8s --format json)"
                    .to_owned(),
            ));
        }
        let image = header
            .image()
            .unwrap_or_else(|| results.iter().any(|r| is_os_packages(text(&r.class), text(&r.kind))));
        let asset = header
            .named_asset(image)
            .or_else(|| if image { os_target_asset(&results) } else { None })
            .unwrap_or_else(|| self.ctx.default_asset.clone());
        let scan = self.scan(&tool, asset, image, true);
        for (index, result) in results.iter().enumerate() {
            let at = At {
                resource: None,
                result: index,
                list: false,
            };
            self.result(&scan, result, at, false)?;
        }
        Ok(())
    }

    fn resource(
        &mut self,
        tool: &Tool,
        cluster: &str,
        resource: &RawResource<'de>,
        at: (&'static str, usize),
    ) -> Result<(), ParseError> {
        let (list, index) = at;
        let missing = |field: &str| schema(format!("{list}[{index}]: {field} is missing"));
        let kind = text(&resource.kind).ok_or_else(|| missing("Kind"))?;
        let name = text(&resource.name).ok_or_else(|| missing("Name"))?;
        let namespace = text(&resource.namespace).unwrap_or("-");
        let key = format!("k8s/{cluster}/{namespace}/{kind}/{name}");
        let asset = common::asset_from_text(&key)
            .ok_or_else(|| schema(format!("{list}[{index}]: {key:?} is not a usable asset key")))?;
        let complete = text(&resource.error).is_none();
        let scan = self.scan(tool, asset, true, complete);
        for (result_index, result) in resource.results.iter().flatten().enumerate() {
            let at = At {
                resource: Some(at),
                result: result_index,
                list: false,
            };
            self.result(&scan, result, at, false)?;
        }
        Ok(())
    }

    /// Detections of a result read whole (or of what remains of a streamed one).
    fn result(&mut self, scan: &ScanInfo, result: &RawResult<'de>, at: At, list: bool) -> Result<(), ParseError> {
        let target = text(&result.target);
        let kind = package_kind(scan.image, text(&result.class), text(&result.kind));
        let vulnerabilities = result.vulnerabilities.as_deref().unwrap_or_default();
        for (index, vulnerability) in vulnerabilities.iter().enumerate() {
            let detection = self
                .vulnerability(vulnerability, &scan.asset, kind, target, list)
                .map_err(|problem| at.error("Vulnerabilities", index, problem))?;
            self.scans[scan.index].detections.push(detection);
        }
        let misconfigurations = result.misconfigurations.as_deref().unwrap_or_default();
        let secrets = result.secrets.as_deref().unwrap_or_default();
        if misconfigurations.is_empty() && secrets.is_empty() {
            return Ok(());
        }
        let target = target.ok_or_else(|| schema(format!("{}: Target is missing", at.result())))?;
        let detections = &mut self.scans[scan.index].detections;
        for (index, misconfiguration) in misconfigurations.iter().enumerate() {
            let detection = misconfiguration_detection(misconfiguration, &scan.asset, target)
                .map_err(|problem| at.error("Misconfigurations", index, &problem))?;
            detections.extend(detection);
        }
        for (index, secret) in secrets.iter().enumerate() {
            let detection =
                secret_detection(secret, &scan.asset, target).map_err(|problem| at.error("Secrets", index, problem))?;
            detections.push(detection);
        }
        Ok(())
    }

    fn vulnerability(
        &mut self,
        raw: &RawVulnerability<'de>,
        asset: &AssetKey,
        kind: FindingKind,
        target: Option<&str>,
        list: bool,
    ) -> Result<Detection, &'static str> {
        let package = text(&raw.pkg_name).ok_or("PkgName is missing")?;
        // Pre-schema-2 reports do list advisories without an id (the list-form sample has one);
        // they are kept, identified by package alone. Schema 2 always names the id.
        let id = match text(&raw.id) {
            Some(id) => id,
            None if list => "",
            None => return Err("VulnerabilityID is missing"),
        };
        let vendor_ids = || {
            raw.vendor_ids
                .iter()
                .flatten()
                .map(|id| trim(id))
                .filter(|id| !id.is_empty())
        };
        let fingerprint = common::package_fingerprint(id, vendor_ids(), package, asset);
        let cvss = ratings(raw.cvss.as_ref());
        let fixed_version = text(&raw.fixed_version);
        let title = match (text(&raw.title), id) {
            (Some(title), _) => title.to_owned(),
            (None, "") => format!("Unidentified vulnerability in {package}"),
            (None, id) => format!("{id} in {package}"),
        };
        let location = Location::Package(Box::new(PackageLocation {
            name: package.to_owned(),
            version: text(&raw.installed_version).map(str::to_owned),
            fixed_version: fixed_version.map(str::to_owned),
            path: text(&raw.pkg_path).or(target).map(str::to_owned),
            source: text(&raw.src_name)
                .filter(|source| *source != package)
                .map(str::to_owned),
        }));
        let severity = match text(&raw.severity).and_then(parse_severity) {
            Some(severity) => severity,
            None => cvss_severity(&cvss),
        };
        let mut detection = Detection::new(
            fingerprint,
            kind,
            common::truncate(title, common::MAX_TITLE),
            severity,
            location,
        );
        detection.cvss = cvss;
        if !id.is_empty() {
            detection.vuln_ids = common::vuln_ids(id, vendor_ids());
            let (rule_id, description, help) = self.advisory(raw, id);
            detection.rule_id = Some(rule_id);
            detection.description = description;
            detection.help_uri = help;
        } else {
            detection.vuln_ids = vendor_ids().map(str::to_owned).collect();
            detection.description = raw.description.as_ref().and_then(SharedText::to_arc);
            detection.help_uri = text(&raw.primary_url).map(Arc::from);
        }
        detection.fix = common::upgrade_hint(package, fixed_version);
        Ok(detection)
    }

    /// The shared id, description and link of advisory `id`; text that differs from the
    /// first package's (or an id with escapes, which is not kept) gets its own copy.
    #[allow(clippy::type_complexity)]
    fn advisory(&mut self, raw: &RawVulnerability<'de>, id: &str) -> (Arc<str>, Option<Arc<str>>, Option<Arc<str>>) {
        let description = raw.description.as_ref();
        let help = text(&raw.primary_url);
        let Some(key) = borrowed(&raw.id) else {
            return (
                Arc::from(id),
                description.and_then(SharedText::to_arc),
                help.map(Arc::from),
            );
        };
        let advisory = self.advisories.entry(key).or_insert_with(|| Advisory {
            id: Arc::from(key),
            description: description.and_then(SharedText::to_arc),
            help: help.map(Arc::from),
        });
        if advisory.description.as_deref() != description.and_then(SharedText::text) {
            advisory.description = description.and_then(SharedText::to_arc);
        }
        if advisory.help.as_deref() != help {
            advisory.help = help.map(Arc::from);
        }
        (advisory.id.clone(), advisory.description.clone(), advisory.help.clone())
    }
}

fn misconfiguration_detection(
    raw: &RawMisconfiguration<'_>,
    asset: &AssetKey,
    target: &str,
) -> Result<Option<Detection>, String> {
    let reported = match text(&raw.status) {
        None => Reported::Open,
        Some(status) if status.eq_ignore_ascii_case("FAIL") => Reported::Open,
        Some(status) if status.eq_ignore_ascii_case("EXCEPTION") => Reported::Suppressed,
        Some(status) if status.eq_ignore_ascii_case("PASS") => return Ok(None),
        Some(status) => return Err(format!("Status {status:?} is not FAIL, PASS or EXCEPTION")),
    };
    let id = text(&raw.id).or(text(&raw.avd_id)).ok_or("ID is missing")?;
    // Trivy renamed its checks (`DS002` + `AVD-DS-0002` → `DS-0002`); the AVD id without its
    // prefix is the name that survives the rename, so upgrading Trivy keeps fingerprints.
    let check = text(&raw.avd_id).unwrap_or(id);
    let check = check.strip_prefix("AVD-").unwrap_or(check);
    let resource = raw.cause.as_ref().and_then(|c| text(&c.resource));
    let message = text(&raw.message);
    let anchor = format!(
        "resource:{}:message:{}",
        resource.unwrap_or_default(),
        fingerprint::normalize_anchor(message.unwrap_or_default())
    );
    let fingerprint = fingerprint::code(TOOL, check, asset, target, &anchor);
    let line = line_number(raw.cause.as_ref().and_then(|c| c.start_line));
    let title = text(&raw.title).unwrap_or(id).to_owned();
    let mut detection = Detection::new(
        fingerprint,
        FindingKind::Cloud,
        common::truncate(title, common::MAX_TITLE),
        text(&raw.severity).and_then(parse_severity).unwrap_or(Severity::Medium),
        Location::Source {
            path: target.to_owned(),
            line,
        },
    );
    detection.rule_id = Some(Arc::from(id));
    detection.description = text(&raw.description).map(Arc::from);
    detection.help_uri = text(&raw.primary_url).map(Arc::from);
    detection.fix = text(&raw.resolution).map(str::to_owned);
    detection.evidence = message
        .map(str::to_owned)
        .into_iter()
        .chain(resource.map(|r| format!("resource: {r}")))
        .collect();
    detection.reported = reported;
    Ok(Some(detection))
}

fn secret_detection(raw: &RawSecret<'_>, asset: &AssetKey, target: &str) -> Result<Detection, &'static str> {
    let rule = text(&raw.rule_id).ok_or("RuleID is missing")?;
    let matched = text(&raw.matched);
    let anchor = format!("match:{}", fingerprint::normalize_anchor(matched.unwrap_or_default()));
    let fingerprint = fingerprint::code(TOOL, rule, asset, target, &anchor);
    let title = text(&raw.title).unwrap_or(rule).to_owned();
    let mut detection = Detection::new(
        fingerprint,
        FindingKind::Secret,
        common::truncate(title, common::MAX_TITLE),
        text(&raw.severity).and_then(parse_severity).unwrap_or(Severity::Medium),
        Location::Source {
            path: target.to_owned(),
            line: line_number(raw.start_line),
        },
    );
    detection.rule_id = Some(Arc::from(rule));
    detection.description = text(&raw.category).map(|c| Arc::from(format!("{c} secret")));
    detection.evidence = matched.map(str::to_owned).into_iter().collect();
    Ok(detection)
}

/// Gives each distinct line of a repeated misconfiguration or secret anchor its own fingerprint
/// (`fingerprint::rank_repeated`), as the SARIF parser does for code.
fn rank_repeated_anchors(detections: &mut [Detection]) {
    let anchored: Vec<usize> = detections
        .iter()
        .enumerate()
        .filter(|(_, d)| matches!(d.kind, FindingKind::Cloud | FindingKind::Secret))
        .map(|(index, _)| index)
        .collect();
    if anchored.len() < 2 {
        return;
    }
    sarif::rank_repeated_anchors(detections, &anchored);
}

// ---- Field conventions ----------------------------------------------------------------------

/// Trivy writes upper-case names; anything else goes through the shared parser.
fn parse_severity(name: &str) -> Option<Severity> {
    match name {
        "CRITICAL" => Some(Severity::Critical),
        "HIGH" => Some(Severity::High),
        "MEDIUM" => Some(Severity::Medium),
        "LOW" => Some(Severity::Low),
        "UNKNOWN" => Some(Severity::Info),
        other => Severity::parse(other).ok(),
    }
}

/// The rating of the newest CVSS version, highest score first (as `Detection::best_cvss`).
fn cvss_severity(cvss: &[Cvss]) -> Severity {
    let major = |c: &Cvss| {
        c.version
            .as_deref()
            .and_then(|v| v.split('.').next())
            .and_then(|v| v.parse::<u32>().ok())
            .unwrap_or(2)
    };
    cvss.iter()
        .max_by(|a, b| {
            (major(a), a.score)
                .partial_cmp(&(major(b), b.score))
                .unwrap_or(std::cmp::Ordering::Equal)
        })
        .map_or(Severity::Info, |c| Severity::from_cvss(f64::from(c.score)))
}

/// Every rating of every source, sources in name order, v2 then v3 then v4 within a source.
fn ratings(sources: Option<&CvssBySource<'_>>) -> Vec<Cvss> {
    let Some(sources) = sources else {
        return Vec::new();
    };
    let mut ratings = Vec::with_capacity(sources.0.len() * 2);
    for (source, raw) in &sources.0 {
        let source = source.trim();
        // A v2 vector has no `CVSS:2.0/` prefix, and a bare score has no vector at all.
        let versions = [
            (raw.v2_score, &raw.v2_vector, "2.0"),
            (raw.v3_score, &raw.v3_vector, "3"),
            (raw.v40_score, &raw.v40_vector, "4.0"),
        ];
        for (score, vector, version) in versions {
            let Some(score) = score.filter(|s| s.is_finite() && (0.0..=10.0).contains(s)) else {
                continue;
            };
            let vector = text(vector).map(str::to_owned);
            let source = (!source.is_empty()).then(|| source.to_owned());
            let mut rating = Cvss::new(score as f32, vector, source);
            if version == "2.0" || rating.version.is_none() {
                rating.version = Some(version.to_owned());
            }
            ratings.push(rating);
        }
    }
    // By source, as Go writes map keys, so that the order never depends on the writer.
    if !ratings.is_sorted_by(|a, b| a.source <= b.source) {
        ratings.sort_by(|a, b| a.source.cmp(&b.source));
    }
    ratings
}

fn line_number(value: Option<i64>) -> Option<u32> {
    value.and_then(|v| u32::try_from(v).ok()).filter(|v| *v > 0)
}

/// OS families Trivy names in `Type` (fanal's `OSType`), for results that predate `Class`.
const OS_FAMILIES: [&str; 26] = [
    "alma",
    "alpine",
    "amazon",
    "azurelinux",
    "bottlerocket",
    "cbl-mariner",
    "centos",
    "chainguard",
    "coreos",
    "debian",
    "echo",
    "fedora",
    "minimos",
    "opensuse",
    "opensuse-leap",
    "opensuse-tumbleweed",
    "opensuse.leap",
    "opensuse.tumbleweed",
    "oracle",
    "photon",
    "redhat",
    "rocky",
    "sles",
    "suse linux enterprise server",
    "ubuntu",
    "wolfi",
];

/// The result lists the packages of an operating system rather than of an application.
fn is_os_packages(class: Option<&str>, kind: Option<&str>) -> bool {
    match class {
        Some(class) => class == "os-pkgs",
        None => kind.is_some_and(|t| OS_FAMILIES.iter().any(|os| t.eq_ignore_ascii_case(os))),
    }
}

/// OS packages of an image are container findings; everything else is a dependency.
fn package_kind(image: bool, class: Option<&str>, kind: Option<&str>) -> FindingKind {
    if image && is_os_packages(class, kind) {
        FindingKind::Container
    } else {
        FindingKind::Dependency
    }
}

/// The image an OS-package target names (`trivy-ci-test (alpine 3.7.1)` → `trivy-ci-test`).
fn os_target_asset(results: &[RawResult<'_>]) -> Option<AssetKey> {
    results
        .iter()
        .filter(|r| is_os_packages(text(&r.class), text(&r.kind)))
        .find_map(|r| text(&r.target).and_then(common::image_asset))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::SourceName;

    fn ctx() -> ParseContext {
        ParseContext::for_source(SourceName::parse("ci").unwrap())
    }

    fn fixture(name: &str) -> Vec<u8> {
        let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("tests/fixtures/trivy")
            .join(name);
        std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
    }

    fn scan<'s>(scans: &'s [Scan], asset: &str) -> &'s Scan {
        scans.iter().find(|s| s.asset.as_str() == asset).unwrap_or_else(|| {
            panic!(
                "no scan of {asset} in {:?}",
                scans.iter().map(|s| &s.asset).collect::<Vec<_>>()
            )
        })
    }

    #[test]
    fn kubernetes_resources_are_one_scan_each() {
        // GIVEN a `trivy k8s --format json` report with three resources
        let scans = parse(&fixture("k8s_resources.json"), &ctx()).unwrap();

        // THEN each resource is its own asset, namespaced or cluster-scoped
        assert_eq!(scans.len(), 3);
        let deployment = scan(&scans, "k8s/prod-eu/default/Deployment/web");
        let kinds: Vec<_> = deployment.detections.iter().map(|d| d.kind).collect();
        assert_eq!(
            kinds,
            [
                FindingKind::Container,
                FindingKind::Container,
                FindingKind::Dependency,
                FindingKind::Secret,
                FindingKind::Cloud
            ]
        );
        assert!(deployment.complete);
        let role = scan(&scans, "k8s/prod-eu/-/ClusterRole/admin-all");
        assert_eq!(role.detections.len(), 1, "the PASS check gives nothing");
        assert_eq!(role.detections[0].rule_id.as_deref(), Some("KSV-0046"));
        // AND a resource Trivy could not scan does not resolve what it found before
        let failed = scan(&scans, "k8s/prod-eu/kube-system/DaemonSet/agent");
        assert!(!failed.complete);
        assert!(failed.detections.is_empty());
    }

    #[test]
    fn kubernetes_findings_of_one_package_in_two_resources_stay_apart() {
        let scans = parse(&fixture("k8s_resources.json"), &ctx()).unwrap();
        let deployment = scan(&scans, "k8s/prod-eu/default/Deployment/web");
        let first = &deployment.detections[0];
        assert_eq!(first.vuln_ids, ["CVE-2023-5363"]);
        assert_eq!(
            first.fingerprint,
            common::package_fingerprint("CVE-2023-5363", [], "libssl3", &deployment.asset)
        );
        assert_eq!(first.severity, Severity::High);
        let Location::Package(package) = &first.location else {
            panic!("package location");
        };
        assert_eq!(package.fixed_version.as_deref(), Some("3.1.4-r0"));
        assert_eq!(first.fix.as_deref(), Some("Upgrade libssl3 to 3.1.4-r0"));
    }

    #[test]
    fn older_kubernetes_layout_merges_a_resource_from_both_lists() {
        // GIVEN the pre-`Resources` layout, with one Deployment in both lists
        let scans = parse(&fixture("k8s_legacy.json"), &ctx()).unwrap();

        // THEN it is one scan holding its vulnerability and its misconfiguration
        assert_eq!(scans.len(), 2);
        let web = scan(&scans, "k8s/minikube/shop/Deployment/web");
        let kinds: Vec<_> = web.detections.iter().map(|d| d.kind).collect();
        assert_eq!(kinds, [FindingKind::Container, FindingKind::Cloud]);
        let pod = scan(&scans, "k8s/minikube/kube-system/Pod/etcd-minikube");
        assert_eq!(pod.detections.len(), 1);
        assert_eq!(
            pod.detections[0].reported,
            Reported::Suppressed,
            "EXCEPTION is a suppression"
        );
    }

    #[test]
    fn kubernetes_summary_layout_reads_findings() {
        let scans = parse(&fixture("k8s_summary.json"), &ctx()).unwrap();
        assert_eq!(scans.len(), 1);
        assert_eq!(scans[0].asset.as_str(), "k8s/kind-kind/default/Pod/nginx");
        assert_eq!(scans[0].detections.len(), 2);
    }

    #[test]
    fn kubernetes_resource_without_kind_is_named() {
        let bytes = br#"{"ClusterName":"c","Resources":[{"Namespace":"n","Kind":"Pod","Name":"a"},{"Name":"b"}]}"#;
        let error = parse(bytes, &ctx()).unwrap_err();
        assert_eq!(
            error,
            ParseError::Schema {
                format: "trivy",
                message: "Resources[1]: Kind is missing".into()
            }
        );
    }

    #[test]
    fn misconfiguration_fingerprint_survives_trivy_renaming_its_checks() {
        let asset = AssetKey::parse("github.com/acme/shop").unwrap();
        let check = |id: &str, avd: Option<&str>| {
            let json = format!(
                r#"{{"ID":"{id}",{}"Status":"FAIL","Message":"m","CauseMetadata":{{"StartLine":3}}}}"#,
                avd.map(|a| format!(r#""AVDID":"{a}","#)).unwrap_or_default()
            );
            let raw: RawMisconfiguration<'_> = sonic_rs::from_str(&json).unwrap();
            misconfiguration_detection(&raw, &asset, "Dockerfile")
                .unwrap()
                .unwrap()
                .fingerprint
        };
        assert_eq!(check("DS002", Some("AVD-DS-0002")), check("DS-0002", None));
        assert_ne!(check("DS-0002", None), check("DS-0001", None));
    }

    #[test]
    fn moved_misconfiguration_keeps_its_fingerprint() {
        let asset = AssetKey::parse("a").unwrap();
        let at_line = |line: u32| {
            let json = format!(
                r#"{{"ID":"KSV-0001","Status":"FAIL","Message":"Container  'x'\n should","CauseMetadata":{{"Resource":"r","StartLine":{line}}}}}"#
            );
            let raw: RawMisconfiguration<'_> = sonic_rs::from_str(&json).unwrap();
            misconfiguration_detection(&raw, &asset, "deploy.yaml")
                .unwrap()
                .unwrap()
        };
        let (before, after) = (at_line(10), at_line(42));
        assert_eq!(before.fingerprint, after.fingerprint);
        assert_eq!(
            after.location,
            Location::Source {
                path: "deploy.yaml".into(),
                line: Some(42)
            }
        );
    }

    #[test]
    fn unknown_misconfiguration_status_is_refused() {
        let bytes = br#"{"SchemaVersion":2,"ArtifactName":"x","Results":[{"Target":"a.tf","Misconfigurations":[{"ID":"A","Status":"MAYBE"}]}]}"#;
        let error = parse(bytes, &ctx()).unwrap_err();
        let ParseError::Schema { message, .. } = error else {
            panic!("schema error");
        };
        assert!(
            message.starts_with("Results[0].Misconfigurations[0]: Status \"MAYBE\""),
            "{message}"
        );
    }

    #[test]
    fn ratings_keep_every_source_and_version() {
        let json = r#"{"nvd":{"V2Vector":"AV:N/AC:L/Au:N/C:P/I:N/A:N","V2Score":5,"V3Vector":"CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:L/I:N/A:N","V3Score":5.3},
            "ghsa":{"V40Vector":"CVSS:4.0/AV:N/AC:L/AT:N/PR:N/UI:N/VC:H/VI:N/VA:N/SC:N/SI:N/SA:N","V40Score":8.7},"bad":{"V3Score":11}}"#;
        let sources: CvssBySource<'_> = sonic_rs::from_str(json).unwrap();
        let ratings = ratings(Some(&sources));
        let summary: Vec<_> = ratings
            .iter()
            .map(|c| (c.source.as_deref().unwrap(), c.version.as_deref().unwrap(), c.score))
            .collect();
        assert_eq!(
            summary,
            [("ghsa", "4.0", 8.7), ("nvd", "2.0", 5.0), ("nvd", "3.1", 5.3)]
        );
        assert_eq!(cvss_severity(&ratings), Severity::High, "v4 is the newest rating");
    }

    #[test]
    fn key_order_does_not_change_kubernetes_or_image_reports() {
        // Sorted keys put `Trivy` and `SchemaVersion` after `Results`; reverse-sorted ones put
        // `Results` before `ArtifactName` and `Vulnerabilities` before `Target`.
        fn reorder(value: &serde_json::Value, reverse: bool) -> String {
            match value {
                serde_json::Value::Object(map) => {
                    let mut keys: Vec<&String> = map.keys().collect();
                    keys.sort();
                    if reverse {
                        keys.reverse();
                    }
                    let fields: Vec<String> = keys
                        .into_iter()
                        .map(|k| format!("{:?}:{}", k, reorder(&map[k], reverse)))
                        .collect();
                    format!("{{{}}}", fields.join(","))
                }
                serde_json::Value::Array(items) => {
                    format!(
                        "[{}]",
                        items.iter().map(|v| reorder(v, reverse)).collect::<Vec<_>>().join(",")
                    )
                }
                other => other.to_string(),
            }
        }
        let archive = br#"{"SchemaVersion":2,"Trivy":{"Version":"0.50.0"},"ArtifactName":"app.tar","ArtifactType":"container_image",
            "Metadata":{"RepoTags":["acme/app:1"]},"Results":[{"Target":"app.tar (alpine 3.19.1)","Class":"os-pkgs","Type":"alpine",
            "Vulnerabilities":[{"VulnerabilityID":"CVE-2024-1","PkgName":"musl","Severity":"LOW"}]},
            {"Target":"Dockerfile","Class":"config","Misconfigurations":[{"ID":"DS002","Status":"FAIL","Message":"m"}]}]}"#;
        for bytes in [
            &archive[..],
            &fixture("k8s_resources.json"),
            &fixture("k8s_legacy.json"),
            &fixture("k8s_summary.json"),
        ] {
            let original = parse(bytes, &ctx()).unwrap();
            let json: serde_json::Value = serde_json::from_slice(bytes).unwrap();
            for reverse in [false, true] {
                let reordered = parse(reorder(&json, reverse).as_bytes(), &ctx()).unwrap();
                assert_eq!(reordered, original, "reverse: {reverse}");
            }
        }
        let scans = parse(archive, &ctx()).unwrap();
        assert_eq!(scans[0].asset.as_str(), "app.tar");
        assert_eq!(scans[0].tool.version.as_deref(), Some("0.50.0"));
        assert_eq!(scans[0].detections[0].kind, FindingKind::Container);
    }

    #[test]
    fn invalid_utf8_in_a_string_read_is_a_syntax_error() {
        let bytes = b"{\"SchemaVersion\":2,\"ArtifactName\":\"a\",\"ArtifactType\":\"filesystem\",\"Results\":[{\"Target\":\"x\",\"Vulnerabilities\":[{\"VulnerabilityID\":\"CVE-1\",\"PkgName\":\"p\xff\"}]}]}";
        assert!(matches!(parse(bytes, &ctx()), Err(ParseError::Syntax { .. })));
    }

    #[test]
    fn trim_matches_str_trim() {
        for text in [
            "",
            " ",
            "a",
            " a ",
            "\ta\n",
            "a\u{a0}",
            "\u{2003}a",
            "é",
            "aé ",
            "\x0b",
            "a\x1f",
        ] {
            assert_eq!(trim(text), text.trim(), "{text:?}");
        }
    }

    #[test]
    fn escaped_strings_are_decoded_and_plain_ones_borrowed() {
        let raw: RawSecret<'_> = sonic_rs::from_str(r#"{"RuleID":"plain","Title":"a \"b\"\nc"}"#).unwrap();
        assert!(matches!(raw.rule_id.as_ref().unwrap().0, Cow::Borrowed("plain")));
        assert_eq!(raw.title.as_deref(), Some("a \"b\"\nc"));
    }

    #[test]
    fn artifacts_are_named_by_type() {
        let json =
            br#"{"SchemaVersion":2,"ArtifactName":"docker.io/library/alpine:3.10","ArtifactType":"container_image",
            "Metadata":{"RepoTags":["alpine:latest"]},"Results":[]}"#;
        let scans = parse(json, &ctx()).unwrap();
        assert_eq!(scans[0].asset.as_str(), "alpine:3.10");
        let json = br#"{"SchemaVersion":2,"ArtifactType":"container_image","Metadata":{"RepoTags":["alpine:latest"]}}"#;
        assert_eq!(
            parse(json, &ctx()).unwrap()[0].asset.as_str(),
            "alpine:latest",
            "tags name an unnamed image"
        );
        let json = br#"{"SchemaVersion":2,"ArtifactName":".","ArtifactType":"filesystem"}"#;
        let scans = parse(json, &ctx()).unwrap();
        assert_eq!(scans[0].asset, ctx().default_asset, "`.` names nothing");
        assert!(
            scans[0].complete && scans[0].detections.is_empty(),
            "a clean scan resolves"
        );
        let json =
            br#"{"SchemaVersion":2,"ArtifactName":"https://github.com/Acme/Shop.git","ArtifactType":"repository"}"#;
        assert_eq!(parse(json, &ctx()).unwrap()[0].asset.as_str(), "github.com/Acme/Shop");
    }

    #[test]
    fn other_json_is_not_taken_for_a_report() {
        for bytes in [&b"{}"[..], br#"{"matches":[]}"#] {
            assert!(matches!(parse(bytes, &ctx()), Err(ParseError::Schema { .. })));
        }
    }
}
