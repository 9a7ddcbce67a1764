//! The JSON contract: `{"findings": [...]}` (`schema/ebs.schema.json`).

use serde::Serialize;

use crate::finding::Finding;

#[derive(Serialize)]
struct Report<'a> {
    findings: &'a [Finding],
}

/// `{"findings": [...]}`, pretty-printed.
pub fn render(findings: &[Finding]) -> String {
    // Serializing plain data with string keys cannot fail; an empty report
    // rather than a panic if it ever did.
    serde_json::to_string_pretty(&Report { findings })
        .unwrap_or_else(|_| "{\"findings\": []}".to_owned())
}
