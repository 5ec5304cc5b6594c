//! A nesting limit checked before any parser runs.
//!
//! JSON libraries recurse per nesting level, so `[[[[…` a few thousand deep (a 32 MiB body
//! can hold millions) would overflow a worker's stack and kill the process. Real reports nest
//! a dozen levels; anything past `MAX_DEPTH` is refused as malformed. The scan jumps between
//! structural bytes with SIMD `memchr`, so it costs a small fraction of parsing.

use memchr::{memchr2, memchr2_iter, memchr3};

/// Deepest nesting accepted (serde_json's own default limit is 128; reports need far less).
pub const MAX_DEPTH: usize = 64;

/// The offset of the first bracket that opens level `max + 1`, if any. Brackets inside strings
/// do not count; unbalanced or truncated input is left for the parser to report.
pub(super) fn too_deep(bytes: &[u8], max: usize) -> Option<usize> {
    let mut depth = 0usize;
    let mut at = 0;
    while at < bytes.len() {
        let rest = &bytes[at..];
        let next = memchr3(b'"', b'[', b'{', rest).unwrap_or(rest.len());
        // Only closers lie between here and the next opener or string.
        depth = depth.saturating_sub(memchr2_iter(b']', b'}', &rest[..next]).count());
        at += next;
        match bytes.get(at) {
            None => return None,
            Some(b'"') => at = string_end(bytes, at + 1)?,
            Some(_) => {
                depth += 1;
                if depth > max {
                    return Some(at);
                }
                at += 1;
            }
        }
    }
    None
}

/// The offset just past the quote that closes a string whose body starts at `at`.
fn string_end(bytes: &[u8], mut at: usize) -> Option<usize> {
    loop {
        at += memchr2(b'"', b'\\', bytes.get(at..)?)?;
        if bytes[at] == b'"' {
            return Some(at + 1);
        }
        at += 2; // skip the escaped byte
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn nested(levels: usize) -> Vec<u8> {
        let mut text = "[".repeat(levels).into_bytes();
        text.extend("]".repeat(levels).bytes());
        text
    }

    #[test]
    fn counts_levels_of_arrays_and_objects() {
        assert_eq!(too_deep(&nested(64), 64), None);
        assert_eq!(too_deep(&nested(65), 64), Some(64));
        assert_eq!(too_deep(br#"{"a":{"b":[1]}}"#, 3), None);
        assert_eq!(too_deep(br#"{"a":{"b":[1]}}"#, 2), Some(10));
    }

    #[test]
    fn siblings_do_not_add_up() {
        let siblings = "[1],".repeat(10_000);
        assert_eq!(too_deep(format!("[{siblings}[]]").as_bytes(), 2), None);
    }

    #[test]
    fn brackets_in_strings_and_escapes_do_not_count() {
        let text = br#"{"a":"[[[[{{{{\"[[[[","b":"\\","c":[]}"#;
        assert_eq!(too_deep(text, 2), None);
        assert_eq!(too_deep(text, 1), Some(text.len() - 3));
    }

    #[test]
    fn truncated_input_is_left_to_the_parser() {
        assert_eq!(too_deep(br#"{"a":"unterminated"#, 1), None);
        assert_eq!(too_deep(b"[[[", 5), None);
    }
}
