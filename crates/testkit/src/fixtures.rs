//! The scenarios of `events/` (one folder each) and their oracles in
//! `tests/expected/<scenario>.json`, with the one list of fields the
//! oracles pin.

use std::fs;
use std::path::{Path, PathBuf};

use serde_json::Value;
use start_doctor_start::{read_document, Diagnosis, Evidence, EvidenceSet};

/// The repository root.
pub fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// Every input file of a scenario folder (recursively; READMEs and scripts
/// left out), in name order.
pub fn scenario_files(name: &str) -> Vec<PathBuf> {
    fn walk(dir: &Path, out: &mut Vec<PathBuf>) {
        let mut entries: Vec<PathBuf> = fs::read_dir(dir)
            .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
            .map(|e| e.unwrap().path())
            .collect();
        entries.sort();
        for path in entries {
            if path.is_dir() {
                walk(&path, out);
            } else if start_doctor_start::read::looks_readable(&fs::read(&path).unwrap()) {
                out.push(path);
            }
        }
    }
    let mut out = Vec::new();
    walk(&repo().join("events").join(name), &mut out);
    assert!(!out.is_empty(), "scenario {name} has no input files");
    out
}

/// All evidence items of a scenario, file by file, in name order.
pub fn scenario_evidence(name: &str) -> Vec<Evidence> {
    scenario_files(name)
        .iter()
        .flat_map(|path| {
            let doc = read_document(&fs::read(path).unwrap())
                .unwrap_or_else(|e| panic!("{name}: {}: {e}", path.display()));
            assert!(
                doc.problems.is_empty(),
                "{name}: {}: {:?}",
                path.display(),
                doc.problems
            );
            doc.evidence
        })
        .collect()
}

/// Diagnoses a scenario through the library.
pub fn diagnose_scenario(name: &str) -> Vec<Diagnosis> {
    let set: EvidenceSet = scenario_evidence(name).into_iter().collect();
    start_doctor_start::diagnose(&set)
}

/// The fields of a diagnosis that the oracles pin.
pub const ORACLE_FIELDS: [&str; 7] = [
    "instance_id",
    "cause",
    "principal_arn",
    "kms_key_arn",
    "kms_key_arns",
    "volume_ids",
    "state_reason_code",
];

/// The pinned fields of each diagnosis of a `{"diagnoses": [...]}` report,
/// sorted by instance id: what an oracle is compared with.
pub fn pinned(report: &Value) -> Value {
    let mut picked: Vec<Value> = report["diagnoses"]
        .as_array()
        .map(|list| {
            list.iter()
                .map(|d| {
                    Value::Object(
                        ORACLE_FIELDS
                            .iter()
                            .map(|f| ((*f).to_owned(), d[*f].clone()))
                            .collect(),
                    )
                })
                .collect()
        })
        .unwrap_or_default();
    picked.sort_by(|a, b| a["instance_id"].as_str().cmp(&b["instance_id"].as_str()));
    Value::Array(picked)
}

/// The pinned fields of library diagnoses, as [`pinned`] gives them.
pub fn pinned_diagnoses(diagnoses: &[Diagnosis]) -> Value {
    let report = serde_json::json!({ "diagnoses": diagnoses });
    pinned(&report)
}

/// The oracle of a scenario (`tests/expected/<name>.json`), pinned fields
/// only, sorted as [`pinned`] sorts.
pub fn expected(name: &str) -> Value {
    let path = repo().join("tests/expected").join(format!("{name}.json"));
    let text = fs::read_to_string(&path)
        .unwrap_or_else(|e| panic!("{name}: no oracle {}: {e}", path.display()));
    let value: Value = serde_json::from_str(&text)
        .unwrap_or_else(|e| panic!("{name}: oracle {} is not JSON: {e}", path.display()));
    pinned(&value)
}

/// Folders of `events/` that hold another doctor's scenarios (one folder
/// per scenario inside), not the start doctor's.
pub const OTHER_DOCTORS: [&str; 2] = ["ebs", "flows"];

/// Whether a folder of `events/` (or `tests/expected/`) belongs to another
/// doctor than the start doctor.
pub fn is_other_doctor(name: &str) -> bool {
    OTHER_DOCTORS.contains(&name)
}

/// The start doctor's scenario folders of `events/` (those holding
/// inputs), sorted; other doctors' folders are left out.
pub fn scenario_names() -> Vec<String> {
    let mut names: Vec<String> = fs::read_dir(repo().join("events"))
        .unwrap_or_else(|e| panic!("events/: {e}"))
        .filter_map(|e| e.ok())
        .filter(|e| e.path().is_dir())
        .filter_map(|e| e.file_name().into_string().ok())
        .filter(|n| !is_other_doctor(n))
        .collect();
    names.sort();
    names
}

/// The `start-doctor ebs` scenarios: the folders of `events/ebs/`, sorted.
pub fn ebs_scenario_names() -> Vec<String> {
    let mut names: Vec<String> = fs::read_dir(repo().join("events/ebs"))
        .unwrap_or_else(|e| panic!("events/ebs/: {e}"))
        .filter_map(|e| e.ok())
        .filter(|e| e.path().is_dir())
        .filter_map(|e| e.file_name().into_string().ok())
        .collect();
    names.sort();
    names
}

/// The input files of an EBS scenario, in name order (READMEs left out).
pub fn ebs_scenario_files(name: &str) -> Vec<PathBuf> {
    let dir = repo().join("events/ebs").join(name);
    let mut files: Vec<PathBuf> = fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|e| e.unwrap().path())
        .filter(|p| {
            p.extension()
                .is_some_and(|x| x == "json" || x == "jsonl" || x == "gz")
        })
        .collect();
    files.sort();
    assert!(!files.is_empty(), "EBS scenario {name} has no input files");
    files
}

/// The fields of an EBS finding that the oracles pin.
pub const EBS_ORACLE_FIELDS: [&str; 7] = [
    "instance_id",
    "cause",
    "contributing",
    "volume_ids",
    "window",
    "minutes_at_limit",
    "limit",
];

/// The pinned fields of each finding of a `{"findings": [...]}` report,
/// plus `remediation.kind`, sorted by instance id.
pub fn ebs_pinned(report: &Value) -> Value {
    let mut picked: Vec<Value> = report["findings"]
        .as_array()
        .map(|list| {
            list.iter()
                .map(|f| {
                    let mut o: serde_json::Map<String, Value> = EBS_ORACLE_FIELDS
                        .iter()
                        .map(|k| ((*k).to_owned(), f[*k].clone()))
                        .collect();
                    o.insert(
                        "remediation_kind".to_owned(),
                        f["remediation"]["kind"].clone(),
                    );
                    Value::Object(o)
                })
                .collect()
        })
        .unwrap_or_default();
    picked.sort_by(|a, b| a["instance_id"].as_str().cmp(&b["instance_id"].as_str()));
    Value::Array(picked)
}

/// The oracle of an EBS scenario (`tests/expected/ebs/<name>.json`), as
/// [`ebs_pinned`] gives it.
pub fn ebs_expected(name: &str) -> Value {
    let path = repo()
        .join("tests/expected/ebs")
        .join(format!("{name}.json"));
    let text = fs::read_to_string(&path)
        .unwrap_or_else(|e| panic!("{name}: no oracle {}: {e}", path.display()));
    let value: Value = serde_json::from_str(&text)
        .unwrap_or_else(|e| panic!("{name}: oracle {} is not JSON: {e}", path.display()));
    ebs_pinned(&value)
}

/// The fields of a flow finding that the `tests/expected/flows/` oracles
/// pin (`remediation` is pinned as its kind and commands).
pub const FLOWS_ORACLE_FIELDS: [&str; 11] = [
    "client",
    "server",
    "server_port",
    "protocol",
    "rejected_leg",
    "rejected_records",
    "accepted_records",
    "intermittent",
    "cause",
    "control",
    "entry_azs",
];

/// The pinned fields of a `flows --format json` report: each finding's
/// [`FLOWS_ORACLE_FIELDS`] and its remediation's kind and commands, sorted
/// by conversation, and the noise.
pub fn flows_pinned(report: &Value) -> Value {
    let mut findings: Vec<Value> = report["findings"]
        .as_array()
        .map(|list| {
            list.iter()
                .map(|f| {
                    let mut picked: serde_json::Map<String, Value> = FLOWS_ORACLE_FIELDS
                        .iter()
                        .map(|k| ((*k).to_owned(), f[*k].clone()))
                        .collect();
                    picked.insert(
                        "remediation".to_owned(),
                        serde_json::json!({
                            "kind": f["remediation"]["kind"],
                            "commands": f["remediation"]["commands"],
                        }),
                    );
                    Value::Object(picked)
                })
                .collect()
        })
        .unwrap_or_default();
    let order = |f: &Value| {
        (
            f["client"].as_str().unwrap_or_default().to_owned(),
            f["server"].as_str().unwrap_or_default().to_owned(),
            f["server_port"].as_u64(),
            f["protocol"].as_u64(),
        )
    };
    findings.sort_by_key(order);
    serde_json::json!({"findings": findings, "noise": report["noise"]})
}

/// The oracle of a flows scenario (`tests/expected/flows/<name>.json`),
/// pinned as [`flows_pinned`] pins.
pub fn flows_expected(name: &str) -> Value {
    let path = repo()
        .join("tests/expected/flows")
        .join(format!("{name}.json"));
    let text = fs::read_to_string(&path)
        .unwrap_or_else(|e| panic!("{name}: no oracle {}: {e}", path.display()));
    let value: Value = serde_json::from_str(&text)
        .unwrap_or_else(|e| panic!("{name}: oracle {} is not JSON: {e}", path.display()));
    flows_pinned(&value)
}
