//! Fingerprint recipes (DESIGN §4): what identifies a problem, hashed.
//!
//! A recipe must never include what moves without the problem changing: line numbers, the
//! installed version of a package, report timestamps. Changing a recipe re-creates every
//! finding of that kind, so recipes are versioned by their leading tag.

use sha2::{Digest, Sha256};

use crate::model::{AssetKey, Fingerprint};

/// Length-prefixed hashing of parts, so `("ab", "c")` and `("a", "bc")` differ; 128 bits of
/// SHA-256. Serves fingerprints and the content hashes that tell a re-seen finding changed.
#[derive(Clone)]
pub struct FingerprintBuilder(Sha256);

impl FingerprintBuilder {
    pub fn new(recipe: &'static str) -> Self {
        let mut builder = Self(Sha256::new());
        builder.part(recipe);
        builder
    }

    pub fn part(&mut self, text: &str) -> &mut Self {
        self.bytes(text.as_bytes())
    }

    /// A binary part, length-prefixed like a text part.
    pub fn bytes(&mut self, bytes: &[u8]) -> &mut Self {
        self.0.update((bytes.len() as u64).to_le_bytes());
        self.0.update(bytes);
        self
    }

    pub fn finish(self) -> Fingerprint {
        let digest = self.0.finalize();
        let mut bytes = [0u8; 16];
        bytes.copy_from_slice(&digest[..16]);
        Fingerprint::from_bytes(bytes)
    }
}

/// A code finding: tool + rule + asset + path + a line-independent anchor.
pub fn code(tool: &str, rule: &str, asset: &AssetKey, path: &str, anchor: &str) -> Fingerprint {
    let mut builder = FingerprintBuilder::new("code/v1");
    builder
        .part(&tool.to_ascii_lowercase())
        .part(rule)
        .part(asset.as_str())
        .part(path)
        .part(anchor);
    builder.finish()
}

/// A dependency finding: vulnerability + package + asset, deliberately without the installed
/// version so that an incomplete upgrade stays the same finding, and without the tool so that
/// two scanners reporting it collapse into one.
pub fn dependency(vuln_id: &str, package: &str, asset: &AssetKey) -> Fingerprint {
    let mut builder = FingerprintBuilder::new("dependency/v1");
    builder
        .part(&vuln_id.to_ascii_uppercase())
        .part(package)
        .part(asset.as_str());
    builder.finish()
}

/// Tells apart results that share an anchor-based fingerprint but sit on different lines (the
/// same snippet twice in one file, or a tool that reports only a message).
///
/// `items` holds (base fingerprint, line) per eligible result. Within each base fingerprint the
/// distinct lines are ranked in order; the first keeps the base, the k-th gets `k` mixed in.
/// Moving code keeps the order, so fingerprints survive a shift; two results on the same line
/// stay duplicates.
pub fn rank_repeated(items: &mut [(Fingerprint, Option<u32>)]) {
    use std::collections::HashMap;

    let mut lines: HashMap<Fingerprint, Vec<Option<u32>>> = HashMap::new();
    for (fingerprint, line) in items.iter() {
        lines.entry(*fingerprint).or_default().push(*line);
    }
    lines.retain(|_, lines| {
        lines.sort_unstable();
        lines.dedup();
        lines.len() > 1
    });
    if lines.is_empty() {
        return;
    }
    for (fingerprint, line) in items.iter_mut() {
        let Some(distinct) = lines.get(fingerprint) else {
            continue;
        };
        let rank = distinct.binary_search(line).unwrap_or_default();
        if rank > 0 {
            let mut builder = FingerprintBuilder::new("occurrence/v1");
            builder.part(&fingerprint.to_hex()).part(&rank.to_string());
            *fingerprint = builder.finish();
        }
    }
}

/// Collapses whitespace runs so re-indented code keeps its anchor.
pub fn normalize_anchor(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for word in text.split_whitespace() {
        if !out.is_empty() {
            out.push(' ');
        }
        out.push_str(word);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn asset() -> AssetKey {
        AssetKey::parse("github.com/acme/shop").unwrap()
    }

    #[test]
    fn parts_are_length_prefixed() {
        let a = code("t", "ab", &asset(), "c", "x");
        let b = code("t", "a", &asset(), "bc", "x");
        assert_ne!(a, b);
    }

    #[test]
    fn dependency_ignores_case_of_vulnerability_id() {
        assert_eq!(
            dependency("cve-2024-1", "openssl", &asset()),
            dependency("CVE-2024-1", "openssl", &asset())
        );
        assert_ne!(
            dependency("CVE-2024-1", "openssl", &asset()),
            dependency("CVE-2024-1", "libssl", &asset())
        );
    }

    #[test]
    fn repeated_anchors_on_different_lines_stay_apart_and_survive_a_shift() {
        let base = code("t", "r", &asset(), "a.py", "snippet:eval(x)");
        let other = code("t", "r", &asset(), "b.py", "snippet:eval(x)");
        let mut before = vec![(base, Some(10)), (other, Some(3)), (base, Some(40)), (base, Some(10))];
        let mut shifted = vec![(base, Some(20)), (other, Some(3)), (base, Some(50)), (base, Some(20))];
        rank_repeated(&mut before);
        rank_repeated(&mut shifted);

        assert_eq!(before[0].0, base, "the first occurrence keeps the base fingerprint");
        assert_eq!(before[1].0, other, "a fingerprint seen once is untouched");
        assert_ne!(before[2].0, base, "a second line gets its own fingerprint");
        assert_eq!(before[3].0, before[0].0, "same line twice is a duplicate");
        let fingerprints = |items: &[(Fingerprint, Option<u32>)]| items.iter().map(|i| i.0).collect::<Vec<_>>();
        assert_eq!(fingerprints(&before), fingerprints(&shifted));
    }

    #[test]
    fn anchor_ignores_indentation() {
        assert_eq!(normalize_anchor("  eval( x )\n"), normalize_anchor("eval( x )"));
        assert_ne!(normalize_anchor("eval(x)"), normalize_anchor("eval(y)"));
    }
}
