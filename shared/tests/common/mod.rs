//! Helpers shared by the library's integration tests: loading the `events/`
//! scenarios and their oracles.

#![allow(dead_code)]

use std::fs;
use std::path::{Path, PathBuf};

use start_doctor::{read_document, Diagnosis, Evidence, EvidenceSet};

/// The repository root.
pub fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
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
            } else if start_doctor::events::looks_readable(&fs::read(&path).unwrap()) {
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
    start_doctor::diagnose(&set)
}

/// The fields the oracles pin, as JSON.
pub fn pinned(diagnoses: &[Diagnosis]) -> serde_json::Value {
    let fields = [
        "instance_id",
        "cause",
        "principal_arn",
        "kms_key_arn",
        "volume_ids",
        "state_reason_code",
    ];
    let list: Vec<serde_json::Value> = diagnoses
        .iter()
        .map(|d| {
            let full = serde_json::to_value(d).unwrap();
            fields
                .iter()
                .map(|f| (f.to_string(), full[*f].clone()))
                .collect()
        })
        .collect();
    serde_json::Value::Array(list)
}

/// The oracle of a scenario (`tests/expected/<name>.json`), pinned fields only.
pub fn expected(name: &str) -> serde_json::Value {
    let path = repo().join("tests/expected").join(format!("{name}.json"));
    let text = fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let value: serde_json::Value = serde_json::from_str(&text).unwrap();
    value["diagnoses"].clone()
}
