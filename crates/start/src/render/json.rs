//! The JSON contract: `{"diagnoses": [...]}`.

use crate::diagnosis::{Diagnosis, Report};

/// Renders diagnoses as the pretty-printed JSON report.
pub fn render(diagnoses: &[Diagnosis]) -> String {
    let report = Report {
        diagnoses: diagnoses.to_vec(),
    };
    // Serialising plain data with string keys cannot fail.
    serde_json::to_string_pretty(&report).unwrap_or_else(|e| format!("{{\"error\": \"{e}\"}}"))
}
