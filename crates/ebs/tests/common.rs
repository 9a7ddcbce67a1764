//! Helpers: a scenario's files as JSON values, diagnosing a set of files,
//! and the pinned view of findings the oracles hold.

use std::fs;

use serde_json::Value;
use start_doctor_ebs::{diagnose, read_document, Evidence, Finding, Options};
use start_doctor_testkit::fixtures::{ebs_pinned, ebs_scenario_files};

/// One input file: its name and content.
#[derive(Clone, Debug)]
pub struct File {
    pub name: String,
    pub bytes: Vec<u8>,
}

impl File {
    pub fn json(name: &str, value: &Value) -> Self {
        Self {
            name: name.to_owned(),
            bytes: serde_json::to_vec_pretty(value).unwrap(),
        }
    }

    /// The file's JSON values (one, or one per line for JSON Lines).
    pub fn values(&self) -> Vec<Value> {
        serde_json::Deserializer::from_slice(&self.bytes)
            .into_iter::<Value>()
            .map(|v| v.unwrap_or_else(|e| panic!("{}: {e}", self.name)))
            .collect()
    }
}

/// The input files of a scenario.
pub fn scenario(name: &str) -> Vec<File> {
    ebs_scenario_files(name)
        .into_iter()
        .map(|p| File {
            name: p.file_name().unwrap().to_string_lossy().into_owned(),
            bytes: fs::read(&p).unwrap(),
        })
        .collect()
}

/// Reads the files (each must read without problems) and diagnoses them.
pub fn findings_of(what: &str, files: &[File], options: &Options) -> (Vec<Finding>, Evidence) {
    let docs = files.iter().map(|f| {
        let doc = read_document(&f.bytes).unwrap_or_else(|e| panic!("{what}: {}: {e}", f.name));
        assert!(
            doc.problems.is_empty(),
            "{what}: {}: {:?}",
            f.name,
            doc.problems
        );
        doc
    });
    let evidence = Evidence::from_documents(docs.collect::<Vec<_>>());
    (diagnose(&evidence, options), evidence)
}

/// The pinned fields, as the oracles hold them.
pub fn pinned(findings: &[Finding]) -> Value {
    let report: Value =
        serde_json::from_str(&start_doctor_ebs::render::json::render(findings)).unwrap();
    ebs_pinned(&report)
}

/// Whether a value is a get-metric-data response.
pub fn is_response(v: &Value) -> bool {
    v.get("MetricDataResults").is_some()
}

/// Whether a value is a get-metric-data request (either form).
pub fn is_request(v: &Value) -> bool {
    v.get("MetricDataQueries").is_some()
        || v.as_array()
            .is_some_and(|a| a.iter().any(|q| q.get("MetricStat").is_some()))
}

/// Every result of a scenario's responses, each series' pages merged
/// into one complete result.
pub fn whole_results(files: &[File]) -> Vec<Value> {
    let mut by_id: std::collections::BTreeMap<String, Value> = std::collections::BTreeMap::new();
    for f in files {
        for v in f.values().into_iter().filter(is_response) {
            for r in v["MetricDataResults"].as_array().unwrap() {
                let id = r["Id"].as_str().unwrap().to_owned();
                let entry = by_id.entry(id).or_insert_with(|| {
                    serde_json::json!({"Id": r["Id"], "Label": r["Label"], "Timestamps": [], "Values": [], "StatusCode": "Complete"})
                });
                for (t, x) in r["Timestamps"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .zip(r["Values"].as_array().unwrap())
                {
                    entry["Timestamps"].as_array_mut().unwrap().push(t.clone());
                    entry["Values"].as_array_mut().unwrap().push(x.clone());
                }
            }
        }
    }
    by_id.into_values().collect()
}

/// The scenario's files other than its responses.
pub fn without_responses(files: &[File]) -> Vec<File> {
    files
        .iter()
        .filter(|f| !f.values().iter().any(is_response))
        .cloned()
        .collect()
}
