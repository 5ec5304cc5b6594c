//! `--format auto`: recognizes a report from the keys in its first 64 KiB.
//!
//! Only keys are looked at, never free text, so a SARIF message that mentions "matches" or a
//! Grype description quoting SARIF cannot mislead it. A huge first value (Grype's `matches`,
//! Snyk's `vulnerabilities`) is fine: its key comes first.

use super::Format;

const HEAD: usize = 64 * 1024;

/// The keys of a report's head: `top` are those of the root object, or of the root array's
/// elements; `all` are keys at any depth.
struct Shape<'a> {
    root_is_array: bool,
    top: Vec<&'a [u8]>,
    all: Vec<&'a [u8]>,
}

impl Shape<'_> {
    fn top(&self, key: &str) -> bool {
        self.top.contains(&key.as_bytes())
    }

    fn any(&self, key: &str) -> bool {
        self.all.contains(&key.as_bytes())
    }
}

pub(super) fn detect(bytes: &[u8]) -> Option<Format> {
    let bytes = bytes.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(bytes);
    let shape = shape(&bytes[..bytes.len().min(HEAD)])?;
    let object = !shape.root_is_array;

    if object && shape.top("runs") {
        return Some(Format::Sarif);
    }
    if shape.top("class_uid") {
        return Some(Format::Ocsf);
    }
    if object && (shape.top("detail-type") || shape.top("Findings") || shape.top("findings")) {
        return Some(Format::Asff);
    }
    if shape.top("ProductArn") && (shape.top("AwsAccountId") || shape.top("GeneratorId")) {
        return Some(Format::Asff);
    }
    if object && shape.top("alert") && (shape.top("action") || shape.top("repository")) {
        return Some(Format::Github);
    }
    // Other GitHub deliveries (a hook's `ping`, an `issues` event) are recognized too, so they
    // get GitHub's answer (zeros for a ping, "unsupported event") instead of "unrecognized".
    if object && ((shape.top("zen") && shape.top("hook_id")) || (shape.top("action") && shape.top("issue"))) {
        return Some(Format::Github);
    }
    if object && shape.top("matches") {
        return Some(Format::Grype);
    }
    if object && (shape.top("ClusterName") || (shape.top("SchemaVersion") && shape.top("Results"))) {
        return Some(Format::Trivy);
    }
    if object && shape.top("ArtifactName") && shape.top("SchemaVersion") {
        return Some(Format::Trivy);
    }
    if shape.root_is_array && shape.top("Target") {
        return Some(Format::Trivy);
    }
    if shape.top("vulnerabilities")
        && (shape.top("packageManager") || shape.top("projectName") || shape.any("packageName"))
    {
        return Some(Format::Snyk);
    }
    if object && shape.top("$schema") && contains(bytes, b"sarif") {
        return Some(Format::Sarif);
    }
    None
}

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    haystack[..haystack.len().min(HEAD)]
        .windows(needle.len())
        .any(|w| w == needle)
}

/// Walks the head of a JSON document collecting object keys; tolerates the cut at the end.
fn shape(head: &[u8]) -> Option<Shape<'_>> {
    let root = *head.iter().find(|b| !b.is_ascii_whitespace())?;
    if root != b'{' && root != b'[' {
        return None;
    }
    let mut shape = Shape {
        root_is_array: root == b'[',
        top: Vec::new(),
        all: Vec::new(),
    };
    // Per open container: is it an object, and is the next string in it a key?
    let mut stack: Vec<(bool, bool)> = Vec::new();
    let mut i = 0;
    while i < head.len() {
        match head[i] {
            b'{' => stack.push((true, true)),
            b'[' => stack.push((false, false)),
            b'}' | b']' => {
                stack.pop();
            }
            b',' => {
                if let Some((true, expect_key)) = stack.last_mut() {
                    *expect_key = true;
                }
            }
            b'"' => {
                let start = i + 1;
                let mut end = start;
                while end < head.len() && head[end] != b'"' {
                    end += if head[end] == b'\\' { 2 } else { 1 };
                }
                if end >= head.len() {
                    break;
                }
                if let Some((true, expect_key)) = stack.last_mut()
                    && *expect_key
                {
                    *expect_key = false;
                    let key = &head[start..end];
                    let depth = stack.len();
                    let top_depth = if shape.root_is_array { 2 } else { 1 };
                    if depth == top_depth {
                        shape.top.push(key);
                    }
                    shape.all.push(key);
                }
                i = end;
            }
            _ => {}
        }
        i += 1;
    }
    Some(shape)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn recognizes_each_format_by_its_keys() {
        let cases: [(&str, Format); 11] = [
            (r#"{"version":"2.1.0","runs":[]}"#, Format::Sarif),
            (r#"{"SchemaVersion":2,"ArtifactName":"a","Results":[]}"#, Format::Trivy),
            (r#"[{"Target":"a","Vulnerabilities":[]}]"#, Format::Trivy),
            (r#"{"matches":[{"vulnerability":{}}],"source":{}}"#, Format::Grype),
            (r#"{"vulnerabilities":[{"packageName":"x"}],"ok":false}"#, Format::Snyk),
            (r#"{"action":"created","alert":{"number":1}}"#, Format::Github),
            (r#"{"zen":"Design for failure.","hook_id":1}"#, Format::Github),
            (r#"{"action":"opened","issue":{"number":1}}"#, Format::Github),
            (r#"{"Findings":[]}"#, Format::Asff),
            (
                r#"{"detail-type":"Security Hub Findings - Imported","detail":{}}"#,
                Format::Asff,
            ),
            (r#"[{"class_uid":2004,"metadata":{}}]"#, Format::Ocsf),
        ];
        for (text, format) in cases {
            assert_eq!(detect(text.as_bytes()), Some(format), "{text}");
        }
    }

    #[test]
    fn free_text_does_not_count_as_keys() {
        assert_eq!(detect(br#"{"message":"\"runs\": \"matches\""}"#), None);
        assert_eq!(detect(br#"{"nested":{"runs":[]}}"#), None);
        assert_eq!(detect(b"not json"), None);
    }

    #[test]
    fn a_cut_head_still_shows_the_first_keys() {
        let mut grype = br#"{"matches":[{"vulnerability":{"id":"CVE-1","description":""#.to_vec();
        grype.extend(std::iter::repeat_n(b'x', HEAD * 2));
        assert_eq!(detect(&grype), Some(Format::Grype));
    }
}
