//! A function binary started as Lambda would start it, with only the
//! environment given: what it logs when its configuration is refused.

use std::process::Command;

use serde_json::Value;

/// Runs the binary at `path` with a clean environment plus `env`, asserts
/// that it exits with an error and without a panic, and returns the JSON
/// log line of its configuration error.
pub fn configuration_error(path: &str, env: &[(&str, &str)]) -> Value {
    let output = Command::new(path)
        .env_clear()
        .env("PATH", std::env::var_os("PATH").unwrap_or_default())
        .envs(env.iter().copied())
        .output()
        .unwrap_or_else(|e| panic!("{path} does not run: {e}"));
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(!output.status.success(), "{path} started: {stdout}");
    assert!(!stderr.contains("panicked"), "{stderr}");
    let log = stdout
        .lines()
        .find(|l| l.contains("configuration"))
        .unwrap_or_else(|| panic!("no configuration error logged: {stdout} / {stderr}"));
    let line: Value = serde_json::from_str(log).expect("logs are JSON");
    assert_eq!(line["level"], "ERROR", "{line}");
    line
}
