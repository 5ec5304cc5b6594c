//! A nesting limit checked before any parser runs.
//!
//! JSON libraries recurse per nesting level, so `[[[[…` a few thousand deep (a 32 MiB body
//! can hold millions) would overflow a worker's stack and kill the process. Real reports nest
//! a dozen levels; anything past `MAX_DEPTH` is refused as malformed.
//!
//! The scan classifies 64 bytes at a time into bit masks (quotes, backslashes, brackets), finds
//! which bytes are inside strings with a prefix XOR — the technique of simdjson's stage 1 —
//! and only looks at brackets one by one in the rare block where the depth could pass the
//! limit. It runs at several GB/s, a few percent of parsing.

/// Deepest nesting accepted (serde_json's own default limit is 128; reports need far less).
pub const MAX_DEPTH: usize = 64;

/// Bit masks of one 64-byte block: bit `i` is byte `i`.
struct Block {
    quote: u64,
    backslash: u64,
    open: u64,
    close: u64,
}

impl Block {
    /// `[`/`{` and `]`/`}` differ from each other only in bit 0x20, so one compare of
    /// `byte | 0x20` finds both of a pair.
    fn classify(bytes: &[u8; 64]) -> Self {
        #[cfg(target_arch = "x86_64")]
        return Self::classify_sse2(bytes);
        #[cfg(not(target_arch = "x86_64"))]
        return Self::classify_portable(bytes);
    }

    #[cfg(target_arch = "x86_64")]
    fn classify_sse2(bytes: &[u8; 64]) -> Self {
        use std::arch::x86_64::{
            __m128i, _mm_cmpeq_epi8, _mm_loadu_si128, _mm_movemask_epi8, _mm_or_si128, _mm_set1_epi8,
        };
        let mut block = Self::empty();
        for lane in 0..4 {
            // SAFETY: SSE2 is part of the x86_64 baseline, and the unaligned 16-byte load at
            // `lane * 16` stays inside the 64-byte array.
            let masks = unsafe {
                let v = _mm_loadu_si128(bytes.as_ptr().add(lane * 16).cast::<__m128i>());
                let folded = _mm_or_si128(v, _mm_set1_epi8(0x20));
                let mask = |m: __m128i| u64::from(_mm_movemask_epi8(m) as u16);
                [
                    mask(_mm_cmpeq_epi8(v, _mm_set1_epi8(b'"' as i8))),
                    mask(_mm_cmpeq_epi8(v, _mm_set1_epi8(b'\\' as i8))),
                    mask(_mm_cmpeq_epi8(folded, _mm_set1_epi8(b'{' as i8))),
                    mask(_mm_cmpeq_epi8(folded, _mm_set1_epi8(b'}' as i8))),
                ]
            };
            let shift = lane * 16;
            block.quote |= masks[0] << shift;
            block.backslash |= masks[1] << shift;
            block.open |= masks[2] << shift;
            block.close |= masks[3] << shift;
        }
        block
    }

    #[cfg_attr(target_arch = "x86_64", allow(dead_code))]
    fn classify_portable(bytes: &[u8; 64]) -> Self {
        let mut block = Self::empty();
        for (i, &byte) in bytes.iter().enumerate() {
            let folded = byte | 0x20;
            block.quote |= u64::from(byte == b'"') << i;
            block.backslash |= u64::from(byte == b'\\') << i;
            block.open |= u64::from(folded == b'{') << i;
            block.close |= u64::from(folded == b'}') << i;
        }
        block
    }

    fn empty() -> Self {
        Self {
            quote: 0,
            backslash: 0,
            open: 0,
            close: 0,
        }
    }
}

/// String state carried from one block to the next.
#[derive(Default)]
struct Strings {
    /// The first byte of the next block is escaped by a trailing backslash.
    escaped: u64,
    /// All ones when the previous block ended inside a string.
    inside: u64,
}

impl Strings {
    /// Bits of the bytes inside strings (opening quote included, closing quote excluded).
    fn inside(&mut self, block: &Block) -> u64 {
        let escaped = self.escaped_bytes(block.backslash);
        let quotes = block.quote & !escaped;
        let inside = prefix_xor(quotes) ^ self.inside;
        self.inside = ((inside as i64) >> 63) as u64;
        inside
    }

    /// Bytes escaped by an odd run of backslashes (simdjson's branchless method).
    fn escaped_bytes(&mut self, backslash: u64) -> u64 {
        const EVEN: u64 = 0x5555_5555_5555_5555;
        let backslash = backslash & !self.escaped;
        let follows_escape = (backslash << 1) | self.escaped;
        let odd_starts = backslash & !EVEN & !follows_escape;
        let (even_starts, overflow) = odd_starts.overflowing_add(backslash);
        self.escaped = u64::from(overflow);
        (EVEN ^ (even_starts << 1)) & follows_escape
    }
}

/// Bit `i` of the result is the XOR of bits `0..=i`: set between an opening and closing quote.
fn prefix_xor(mut bits: u64) -> u64 {
    for shift in [1, 2, 4, 8, 16, 32] {
        bits ^= bits << shift;
    }
    bits
}

/// The offset of the first bracket that opens level `max + 1`, if any. Brackets inside strings
/// do not count; unbalanced or truncated input is left for the parser to report.
pub(super) fn too_deep(bytes: &[u8], max: usize) -> Option<usize> {
    let mut strings = Strings::default();
    let mut depth = 0usize;
    let mut chunks = bytes.chunks_exact(64);
    let mut start = 0;
    for chunk in &mut chunks {
        let chunk: &[u8; 64] = chunk.try_into().expect("chunks_exact yields 64 bytes");
        if let Some(at) = block_depth(chunk, &mut strings, &mut depth, max) {
            return Some(start + at);
        }
        start += 64;
    }
    let rest = chunks.remainder();
    if rest.is_empty() {
        return None;
    }
    let mut tail = [b' '; 64];
    tail[..rest.len()].copy_from_slice(rest);
    block_depth(&tail, &mut strings, &mut depth, max).map(|at| start + at)
}

/// Advances `depth` over one block; the index of the opener that passes `max`, if any.
fn block_depth(chunk: &[u8; 64], strings: &mut Strings, depth: &mut usize, max: usize) -> Option<usize> {
    let block = Block::classify(chunk);
    let outside = !strings.inside(&block);
    let open = block.open & outside;
    let close = block.close & outside;
    let opens = open.count_ones() as usize;
    let closes = close.count_ones() as usize;
    // Common case: the limit cannot be reached in this block and no closer underflows.
    if *depth + opens <= max && closes <= *depth {
        *depth = *depth + opens - closes;
        return None;
    }
    let mut brackets = open | close;
    while brackets != 0 {
        let at = brackets.trailing_zeros() as usize;
        brackets &= brackets - 1;
        if open & (1 << at) != 0 {
            *depth += 1;
            if *depth > max {
                return Some(at);
            }
        } else {
            *depth = depth.saturating_sub(1);
        }
    }
    None
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

    /// The obvious byte-by-byte scanner, to check the block scanner against.
    fn reference(bytes: &[u8], max: usize) -> Option<usize> {
        let (mut depth, mut in_string, mut escaped) = (0usize, false, false);
        for (at, &byte) in bytes.iter().enumerate() {
            if in_string {
                match (escaped, byte) {
                    (true, _) => escaped = false,
                    (false, b'\\') => escaped = true,
                    (false, b'"') => in_string = false,
                    _ => {}
                }
                continue;
            }
            match byte {
                b'"' => in_string = true,
                b'[' | b'{' => {
                    depth += 1;
                    if depth > max {
                        return Some(at);
                    }
                }
                b']' | b'}' => depth = depth.saturating_sub(1),
                _ => {}
            }
        }
        None
    }

    #[test]
    fn agrees_with_a_byte_by_byte_scan_across_block_edges() {
        // Valid-JSON pieces (backslashes only inside strings, as a parser would stop at any other)
        // whose escapes, strings and brackets straddle 64-byte boundaries at every offset.
        let long = format!("\"{}\\\\\"", "{".repeat(70));
        let pieces: [&[u8]; 10] = [
            br#"{"a":["#,
            br#""x\\","#,
            br#""\"[{""#,
            b"[[",
            b"]]",
            br#""\\\\\\\"]""#,
            br#""]""#,
            b"{}",
            b" ",
            long.as_bytes(),
        ];
        let mut seed = 0x2545_f491_4f6c_dd1du64;
        for _ in 0..2_000 {
            let mut text = Vec::new();
            let len = (seed % 120) as usize;
            for _ in 0..len {
                seed ^= seed << 13;
                seed ^= seed >> 7;
                seed ^= seed << 17;
                text.extend_from_slice(pieces[(seed % pieces.len() as u64) as usize]);
            }
            for max in [1, 3, 8] {
                assert_eq!(
                    too_deep(&text, max),
                    reference(&text, max),
                    "{:?} max {max}",
                    String::from_utf8_lossy(&text)
                );
            }
        }
    }

    #[cfg(target_arch = "x86_64")]
    #[test]
    fn sse2_and_portable_classifiers_agree() {
        let mut seed = 0x9e37_79b9_7f4a_7c15u64;
        for _ in 0..10_000 {
            let mut block = [0u8; 64];
            for byte in &mut block {
                seed ^= seed << 13;
                seed ^= seed >> 7;
                seed ^= seed << 17;
                // Mostly the bytes that matter, plus their 0x20 neighbours and anything else.
                *byte = match seed % 4 {
                    0 => b"\"\\[]{};:"[(seed >> 8) as usize % 8],
                    _ => (seed >> 16) as u8,
                };
            }
            let (a, b) = (Block::classify_sse2(&block), Block::classify_portable(&block));
            assert_eq!(
                (a.quote, a.backslash, a.open, a.close),
                (b.quote, b.backslash, b.open, b.close),
                "{block:?}"
            );
        }
    }

    #[test]
    fn truncated_input_is_left_to_the_parser() {
        assert_eq!(too_deep(br#"{"a":"unterminated"#, 1), None);
        assert_eq!(too_deep(b"[[[", 5), None);
    }
}
