//! The binary refuses to start without its configuration, naming what is
//! missing in a JSON log line, and never panics.

use start_doctor_testkit::startup::configuration_error;

const BIN: &str = env!("CARGO_BIN_EXE_cloudtrail-api-call");

#[test]
fn missing_configuration_is_a_clear_error() {
    let line = configuration_error(BIN, &[]);
    let error = line["fields"]["error"].as_str().unwrap_or_default();
    assert!(error.contains("STORE_TABLE"), "{line}");
}
