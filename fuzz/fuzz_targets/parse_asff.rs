//! Any bytes given to the asff parser end in a report or an error: never a panic, a hang or a crash.
#![no_main]

#[macro_use]
#[path = "common.rs"]
mod common;

muster_fuzz_target!(Some(muster_core::Format::Asff));
