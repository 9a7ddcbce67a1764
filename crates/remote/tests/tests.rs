//! The remote crate's tests, one binary: the query runs against
//! `aws-smithy-mocks`, the S3 read against the moto server. No traffic
//! leaves 127.0.0.1.

mod queries;
mod s3;

use serde_json::Value;
use start_doctor_start::{Document, EvidenceSet};
use start_doctor_testkit::fixtures::{pinned_diagnoses, repo};

/// The diagnoses of a document, as the oracles pin them.
fn pinned_of(documents: impl IntoIterator<Item = Document>) -> Value {
    let set: EvidenceSet = documents.into_iter().flat_map(|d| d.evidence).collect();
    pinned_diagnoses(&start_doctor_start::diagnose(&set))
}

/// The rows of the committed Lake result (`events/lake-results`), as
/// (column, value) pairs: what both engines return for the archive.
fn evidence_rows() -> Vec<Vec<(String, String)>> {
    let path = repo().join("events/lake-results/get-query-results.json");
    let text = std::fs::read_to_string(&path).expect("lake result fixture");
    let doc: Value = serde_json::from_str(&text).expect("lake result is JSON");
    doc["QueryResultRows"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|row| {
            row.as_array()
                .into_iter()
                .flatten()
                .filter_map(Value::as_object)
                .flat_map(|cell| cell.iter())
                .map(|(k, v)| (k.clone(), v.as_str().unwrap_or_default().to_owned()))
                .collect()
        })
        .collect()
}
