//! Conventions every parser shares, so that two tools describing the same problem produce the
//! same asset key and the same fingerprint (cross-tool dedupe, DESIGN §4), and read ratings,
//! titles, evidence and scans the same way.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;

use crate::fingerprint;
use crate::model::{AssetKey, Cvss, Detection, Epss, Fingerprint, Scan, Severity, Tool};

/// Longest title kept; scanners sometimes put whole advisories there.
pub const MAX_TITLE: usize = 300;

/// The asset key of a container image as any scanner names it: `alpine:3.10`,
/// `docker.io/library/alpine:3.10` and Trivy's `alpine:3.10 (alpine 3.10.2)` are one asset.
pub fn image_asset(name: &str) -> Option<AssetKey> {
    let mut name = name.trim();
    // Trivy appends the detected OS to targets: "image:tag (alpine 3.10.2)".
    if name.ends_with(')')
        && let Some(open) = name.rfind(" (")
    {
        name = name[..open].trim_end();
    }
    for prefix in [
        "docker.io/library/",
        "index.docker.io/library/",
        "docker.io/",
        "index.docker.io/",
    ] {
        if let Some(rest) = name.strip_prefix(prefix) {
            name = rest;
            break;
        }
    }
    asset_from_text(name)
}

/// An asset key from free text: whitespace and control characters become `_`, and text that
/// is still not a valid key (empty, too long) gives `None`.
pub fn asset_from_text(text: &str) -> Option<AssetKey> {
    let text = text.trim();
    if let Ok(asset) = AssetKey::parse(text) {
        return Some(asset);
    }
    let cleaned: String = text
        .chars()
        .map(|c| if c.is_whitespace() || c.is_control() { '_' } else { c })
        .collect();
    AssetKey::parse(&cleaned).ok()
}

/// The id two tools agree on for a vulnerability: the first CVE among the primary id and its
/// aliases (Grype reports `GHSA-…` with the CVE as a related id; Trivy reports the CVE), else the
/// primary id.
pub fn canonical_vuln_id<'a>(primary: &'a str, aliases: impl IntoIterator<Item = &'a str>) -> &'a str {
    if is_cve(primary) {
        return primary;
    }
    aliases.into_iter().find(|id| is_cve(id)).unwrap_or(primary)
}

pub fn is_cve(id: &str) -> bool {
    id.get(..4).is_some_and(|p| p.eq_ignore_ascii_case("CVE-"))
}

/// The fingerprint of a vulnerable package in an asset, shared by every dependency and
/// container scanner: canonical vulnerability id + package name + asset.
pub fn package_fingerprint<'a>(
    primary_id: &'a str,
    aliases: impl IntoIterator<Item = &'a str>,
    package: &str,
    asset: &AssetKey,
) -> Fingerprint {
    fingerprint::dependency(canonical_vuln_id(primary_id, aliases), package, asset)
}

/// All vulnerability ids of a finding, primary first, without repeats.
pub fn vuln_ids<'a>(primary: &'a str, aliases: impl IntoIterator<Item = &'a str>) -> Vec<String> {
    let mut ids = vec![primary.to_owned()];
    for alias in aliases {
        if !alias.is_empty() && !ids.iter().any(|id| id.eq_ignore_ascii_case(alias)) {
            ids.push(alias.to_owned());
        }
    }
    ids
}

/// Cuts text to at most `max` bytes at a character boundary, marking the cut.
pub fn truncate(mut text: String, max: usize) -> String {
    if text.len() > max {
        let mut end = max.saturating_sub(3);
        while !text.is_char_boundary(end) {
            end -= 1;
        }
        text.truncate(end);
        text.push_str("...");
    }
    text
}

/// "Upgrade openssl to 3.0.13" — the fix line a ticket shows.
pub fn upgrade_hint(package: &str, fixed_version: Option<&str>) -> Option<String> {
    let fixed = fixed_version?.trim();
    (!fixed.is_empty()).then(|| format!("Upgrade {package} to {fixed}"))
}

/// "CVE-2024-6345 in setuptools 63.2.0".
pub(crate) fn package_title(vulnerability: &str, package: &str, version: Option<&str>) -> String {
    let title = match version {
        Some(version) => format!("{vulnerability} in {package} {version}"),
        None => format!("{vulnerability} in {package}"),
    };
    truncate(title, MAX_TITLE)
}

/// The report's severity word; else the best CVSS rating; else `Info`. An odd word is never an
/// error: scanners add levels over time.
pub(crate) fn severity_or_cvss(word: Option<&str>, detection: &Detection) -> Severity {
    word.and_then(|w| Severity::parse(w).ok())
        .or_else(|| detection.best_cvss().map(|c| Severity::from_cvss(f64::from(c.score))))
        .unwrap_or(Severity::Info)
}

/// Adds a CVSS rating unless it is out of range, empty (GitHub sends score 0 without a vector
/// when there is none) or already listed. Sources are lower-cased (`nvd`), as the model names them.
pub(crate) fn push_cvss(
    list: &mut Vec<Cvss>,
    score: Option<f64>,
    vector: Option<&str>,
    version: Option<&str>,
    source: Option<&str>,
) {
    let Some(score) = score.filter(|s| (0.0..=10.0).contains(s)) else {
        return;
    };
    let vector = vector.map(str::trim).filter(|v| !v.is_empty());
    if score == 0.0 && vector.is_none() {
        return;
    }
    let source = source
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(str::to_ascii_lowercase);
    let mut cvss = Cvss::new(score as f32, vector.map(str::to_owned), source);
    if cvss.version.is_none() {
        cvss.version = version.map(str::trim).filter(|v| !v.is_empty()).map(str::to_owned);
    }
    if !list.contains(&cvss) {
        list.push(cvss);
    }
}

fn is_probability(value: f64) -> bool {
    value.is_finite() && (0.0..=1.0).contains(&value)
}

/// An EPSS rating when both values are probabilities.
pub(crate) fn epss_rating(probability: f64, percentile: f64) -> Option<Epss> {
    (is_probability(probability) && is_probability(percentile)).then_some(Epss {
        probability: probability as f32,
        percentile: percentile as f32,
    })
}

/// An EPSS rating when both numbers are given and in range. A probability without a percentile
/// (ASFF's `EpssScore`, OCSF's `epss.score`) becomes an evidence line instead: the model needs
/// both, and a made-up percentile would mislead triage.
pub(crate) fn epss_rating_or_evidence(
    probability: Option<f64>,
    percentile: Option<f64>,
    evidence: &mut Vec<String>,
) -> Option<Epss> {
    let probability = probability.filter(|p| is_probability(*p))?;
    match percentile.filter(|p| is_probability(*p)) {
        Some(percentile) => epss_rating(probability, percentile),
        None => {
            evidence.push(format!("EPSS {probability} (no percentile given)"));
            None
        }
    }
}

/// Most evidence lines one detection carries: enough for a ticket, bounded so that a report
/// repeating one vulnerability at thousands of places cannot blow up memory.
pub(crate) const MAX_EVIDENCE: usize = 100;

/// Gives every detection that shares a fingerprint the union of their evidence lines (lines
/// starting with `primary` first, then the rest, each in first-seen order, at most
/// `MAX_EVIDENCE`). The ingest keeps one detection per fingerprint; whichever it keeps then
/// lists every place the report named.
pub(crate) fn share_evidence(detections: &mut [Detection], primary: &str) {
    let mut groups: HashMap<Fingerprint, Vec<usize>> = HashMap::with_capacity(detections.len());
    for (index, detection) in detections.iter().enumerate() {
        groups.entry(detection.fingerprint).or_default().push(index);
    }
    for members in groups.into_values().filter(|m| m.len() > 1) {
        let mut seen = HashSet::new();
        let mut unique: Vec<&str> = Vec::new();
        for &index in &members {
            for line in &detections[index].evidence {
                if seen.insert(line.as_str()) {
                    unique.push(line);
                }
            }
        }
        // Stable: each kind keeps first-seen order.
        unique.sort_by_key(|line| !line.starts_with(primary));
        let mut lines: Vec<String> = unique.iter().take(MAX_EVIDENCE).map(|l| (*l).to_owned()).collect();
        if unique.len() > MAX_EVIDENCE
            && let Some(last) = lines.last_mut()
        {
            *last = format!("... and {} more", unique.len() - MAX_EVIDENCE + 1);
        }
        for &index in &members {
            detections[index].evidence.clone_from(&lines);
        }
    }
}

/// Shares text that many detections repeat (descriptions, ids, links) as one `Arc<str>`.
#[derive(Default)]
pub(crate) struct Interner(HashSet<Arc<str>>);

impl Interner {
    pub(crate) fn get(&mut self, text: &str) -> Arc<str> {
        if let Some(shared) = self.0.get(text) {
            return Arc::clone(shared);
        }
        let shared: Arc<str> = Arc::from(text);
        self.0.insert(Arc::clone(&shared));
        shared
    }
}

/// Detections gathered into one `Scan` per (tool, asset), in first-seen order: one report can
/// hold findings of several products (Security Hub) or several projects (Snyk).
pub(crate) struct ScanGroups {
    complete: bool,
    scans: Vec<Scan>,
    index: HashMap<(String, AssetKey), usize>,
}

impl ScanGroups {
    /// `complete`: whether the report lists everything its tools found on its assets.
    pub(crate) fn new(complete: bool) -> Self {
        Self {
            complete,
            scans: Vec::new(),
            index: HashMap::new(),
        }
    }

    /// The scan of (`tool`, `asset`), started empty when it is the first of them.
    pub(crate) fn scan(&mut self, tool: Tool, asset: AssetKey) -> &mut Scan {
        let slot = *self.index.entry((tool.name.clone(), asset.clone())).or_insert_with(|| {
            self.scans.push(Scan {
                tool,
                asset,
                detections: Vec::new(),
                complete: self.complete,
            });
            self.scans.len() - 1
        });
        &mut self.scans[slot]
    }

    pub(crate) fn into_scans(self) -> Vec<Scan> {
        self.scans
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn image_names_from_different_tools_are_one_asset() {
        let expected = image_asset("alpine:3.10").unwrap();
        for name in [
            "docker.io/library/alpine:3.10",
            "alpine:3.10 (alpine 3.10.2)",
            " alpine:3.10 ",
        ] {
            assert_eq!(image_asset(name).unwrap(), expected, "{name}");
        }
        assert_ne!(image_asset("ghcr.io/acme/alpine:3.10").unwrap(), expected);
        assert!(image_asset("").is_none());
    }

    #[test]
    fn cve_aliases_win_over_advisory_ids() {
        assert_eq!(canonical_vuln_id("GHSA-xxxx", ["CVE-2024-1"]), "CVE-2024-1");
        assert_eq!(canonical_vuln_id("CVE-2024-2", ["CVE-2024-1"]), "CVE-2024-2");
        assert_eq!(canonical_vuln_id("GHSA-xxxx", []), "GHSA-xxxx");
    }

    #[test]
    fn truncate_respects_char_boundaries() {
        let text = "é".repeat(10);
        let cut = truncate(text, 8);
        assert!(cut.len() <= 8 && cut.ends_with("..."), "{cut}");
    }
}
