//! Fuzz target: see [`start_doctor_fuzz::ebs_document`].
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| start_doctor_fuzz::ebs_document(data));
