//! Fuzz target: see [`start_doctor_fuzz::read_any`].
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| start_doctor_fuzz::read_any(data));
