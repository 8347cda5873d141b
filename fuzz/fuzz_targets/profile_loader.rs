#![no_main]
//! Fuzz target `profile_loader`: see `fuzz/checks.rs` for the invariants.

#[path = "../checks.rs"]
mod checks;

libfuzzer_sys::fuzz_target!(|data: &[u8]| checks::profile_loader(data));
