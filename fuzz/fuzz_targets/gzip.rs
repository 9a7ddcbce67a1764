//! Fuzz target: see [`start_doctor_fuzz::gzip`].
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| start_doctor_fuzz::gzip(data));
