//! Format detection plus whichever parser it picks, on any bytes.
#![no_main]

#[macro_use]
#[path = "common.rs"]
mod common;

muster_fuzz_target!(None);
