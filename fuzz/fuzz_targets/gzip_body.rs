//! A webhook or upload body as the server decodes it: gzip inflated under the body limit, then
//! format detection and the parser it picks. Any bytes end in a report or an error; a gzip bomb
//! stops at the limit instead of exhausting memory.
#![no_main]

#[allow(unused_macros)] // the per-format target macro; this target calls `check` itself
#[path = "common.rs"]
mod common;

/// The limit the fuzzer runs under; small, so bombs are found quickly.
const LIMIT: usize = 1 << 20;

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    match muster_http::uploads::inflate(data, LIMIT) {
        Ok(decoded) => {
            assert!(decoded.len() <= LIMIT, "inflated past the limit");
            common::check(&decoded, None);
        }
        Err(muster_http::uploads::InflateError::TooLarge(limit)) => assert_eq!(limit, LIMIT),
        Err(muster_http::uploads::InflateError::Corrupt(_)) => {}
    }
});
