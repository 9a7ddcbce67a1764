//! The binary refuses to start without its configuration, naming what is
//! missing in a JSON log line, and never panics.

use std::process::Command;

#[test]
fn missing_configuration_is_a_clear_error() {
    let output = Command::new(env!("CARGO_BIN_EXE_ec2-state-change"))
        .env_clear()
        .env("PATH", std::env::var_os("PATH").unwrap_or_default())
        .output()
        .expect("the binary runs");
    assert!(!output.status.success());
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    let log = stdout
        .lines()
        .find(|l| l.contains("configuration"))
        .unwrap_or_else(|| panic!("no configuration error logged: {stdout} / {stderr}"));
    let line: serde_json::Value = serde_json::from_str(log).expect("logs are JSON");
    assert_eq!(line["level"], "ERROR");
    assert!(
        line["fields"]["error"]
            .as_str()
            .unwrap()
            .contains("STORE_TABLE"),
        "{line}"
    );
    assert!(!stderr.contains("panicked"), "{stderr}");
}

#[test]
fn an_out_of_range_setting_stops_it_at_start_up_naming_the_variable() {
    let output = Command::new(env!("CARGO_BIN_EXE_ec2-state-change"))
        .env_clear()
        .env("PATH", std::env::var_os("PATH").unwrap_or_default())
        .env("STORE_TABLE", "t")
        .env("DEFER_QUEUE_URL", "http://127.0.0.1:9/queue")
        .env("SLACK_WEBHOOK_URL", "http://127.0.0.1:9/hook")
        .env("STORM_WINDOW_SECONDS", "0")
        .output()
        .expect("the binary runs");
    assert!(!output.status.success());
    let stdout = String::from_utf8_lossy(&output.stdout);
    let log = stdout
        .lines()
        .find(|l| l.contains("configuration"))
        .unwrap_or_else(|| panic!("no configuration error logged: {stdout}"));
    let line: serde_json::Value = serde_json::from_str(log).expect("logs are JSON");
    let error = line["fields"]["error"].as_str().unwrap_or_default();
    assert!(
        error.contains("STORM_WINDOW_SECONDS") && error.contains("out of range"),
        "{line}"
    );
}
