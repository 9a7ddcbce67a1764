//! The binary refuses to start without its configuration, naming what is
//! missing in a JSON log line, and never panics.

use start_doctor_testkit::startup::configuration_error;

const BIN: &str = env!("CARGO_BIN_EXE_ec2-state-change");

#[test]
fn missing_configuration_is_a_clear_error() {
    let line = configuration_error(BIN, &[]);
    let error = line["fields"]["error"].as_str().unwrap_or_default();
    assert!(error.contains("STORE_TABLE"), "{line}");
}

#[test]
fn an_out_of_range_setting_stops_it_at_start_up_naming_the_variable() {
    let line = configuration_error(
        BIN,
        &[
            ("STORE_TABLE", "t"),
            ("DEFER_QUEUE_URL", "http://127.0.0.1:9/queue"),
            ("SLACK_WEBHOOK_URL", "http://127.0.0.1:9/hook"),
            ("STORM_WINDOW_SECONDS", "0"),
        ],
    );
    let error = line["fields"]["error"].as_str().unwrap_or_default();
    assert!(
        error.contains("STORM_WINDOW_SECONDS") && error.contains("out of range"),
        "{line}"
    );
}
