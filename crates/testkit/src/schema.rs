//! The output contracts: `schema/diagnosis.schema.json`,
//! `schema/preflight.schema.json`, `schema/ebs.schema.json` and
//! `schema/flows.schema.json`, compiled
//! once per test binary.

use std::fs;
use std::sync::OnceLock;

use serde_json::Value;

use crate::fixtures::repo;

fn compile(name: &str) -> jsonschema::Validator {
    let path = repo().join("schema").join(name);
    let text = fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let schema: Value =
        serde_json::from_str(&text).unwrap_or_else(|e| panic!("{}: not JSON: {e}", path.display()));
    jsonschema::draft202012::new(&schema)
        .unwrap_or_else(|e| panic!("{}: does not compile as draft 2020-12: {e}", path.display()))
}

fn check(validator: &jsonschema::Validator, name: &str, what: &str, report: &Value) {
    let errors: Vec<String> = validator
        .iter_errors(report)
        .map(|e| format!("{} at {}", e, e.instance_path()))
        .collect();
    assert!(
        errors.is_empty(),
        "{what}: output does not match schema/{name}:\n{}",
        errors.join("\n")
    );
}

/// Asserts that `report` (`investigate --format json` output) matches the
/// diagnosis contract; `what` names the scenario in the failure.
pub fn assert_diagnoses_valid(what: &str, report: &Value) {
    static VALIDATOR: OnceLock<jsonschema::Validator> = OnceLock::new();
    let name = "diagnosis.schema.json";
    check(VALIDATOR.get_or_init(|| compile(name)), name, what, report);
}

/// Asserts that `report` (`preflight --format json` output) matches the
/// preflight contract; `what` names the scenario in the failure.
pub fn assert_preflight_valid(what: &str, report: &Value) {
    static VALIDATOR: OnceLock<jsonschema::Validator> = OnceLock::new();
    let name = "preflight.schema.json";
    check(VALIDATOR.get_or_init(|| compile(name)), name, what, report);
}

/// Asserts that `report` (`flows --format json` output) matches the flows
/// contract; `what` names the scenario in the failure.
pub fn assert_flows_valid(what: &str, report: &Value) {
    static VALIDATOR: OnceLock<jsonschema::Validator> = OnceLock::new();
    let name = "flows.schema.json";
    check(VALIDATOR.get_or_init(|| compile(name)), name, what, report);
}

/// Asserts that `report` (`ebs --format json` output) matches the EBS
/// contract (`schema/ebs.schema.json`); `what` names the scenario in the
/// failure.
pub fn assert_ebs_valid(what: &str, report: &Value) {
    static VALIDATOR: OnceLock<jsonschema::Validator> = OnceLock::new();
    let name = "ebs.schema.json";
    check(VALIDATOR.get_or_init(|| compile(name)), name, what, report);
}
