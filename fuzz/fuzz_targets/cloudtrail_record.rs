//! Fuzz target: see [`start_doctor_fuzz::cloudtrail_record`].
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| start_doctor_fuzz::cloudtrail_record(data));
