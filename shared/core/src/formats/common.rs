//! Conventions every parser shares, so that two tools describing the same problem produce the
//! same asset key and the same fingerprint (cross-tool dedupe, DESIGN §4).

use crate::fingerprint;
use crate::model::{AssetKey, Fingerprint};

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
