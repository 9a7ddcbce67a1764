//! Terminal text: one block per failed start with the cause, the evidence
//! and the fix. Untrusted values (names, ARNs, AWS messages) are put on one
//! line with escape sequences and bidirectional controls neutralised
//! ([`untrusted::one_line`]), so an input file cannot rewrite the terminal
//! or forge a line of the report.

use std::fmt::Write;

use crate::diagnosis::Diagnosis;
use crate::render::untrusted;

/// Renders diagnoses for a terminal.
pub fn render(diagnoses: &[Diagnosis]) -> String {
    let mut out = String::new();
    if diagnoses.is_empty() {
        out.push_str("No failed instance starts found.\n");
        return out;
    }
    for d in diagnoses {
        block(&mut out, d);
        out.push('\n');
    }
    let n = diagnoses.len();
    let _ = writeln!(
        out,
        "{n} failed start{} diagnosed.",
        if n == 1 { "" } else { "s" }
    );
    out
}

fn block(out: &mut String, d: &Diagnosis) {
    let clean = untrusted::one_line;
    let name = d
        .instance_name
        .as_deref()
        .map(|n| format!(" ({})", clean(n)))
        .unwrap_or_default();
    let place = clean(
        &[d.account.as_deref(), d.region.as_deref()]
            .into_iter()
            .flatten()
            .collect::<Vec<_>>()
            .join(" "),
    );
    let _ = writeln!(out, "== {}{name}  {place}", d.instance_id);
    let _ = writeln!(out, "cause:      {}", d.cause);
    let _ = writeln!(out, "summary:    {}", clean(&d.summary));
    let field = |out: &mut String, label: &str, value: Option<String>| {
        if let Some(v) = value.filter(|v| !v.is_empty()) {
            let _ = writeln!(out, "{label:<11} {}", clean(&v));
        }
    };
    field(
        out,
        "principal:",
        d.principal_arn.as_ref().map(ToString::to_string),
    );
    field(
        out,
        if d.kms_key_arns.len() > 1 {
            "kms keys:"
        } else {
            "kms key:"
        },
        Some(
            d.kms_key_arns
                .iter()
                .map(|k| k.as_str())
                .collect::<Vec<_>>()
                .join(", "),
        ),
    );
    field(
        out,
        "volumes:",
        Some(
            d.volume_ids
                .iter()
                .map(|v| v.as_str())
                .collect::<Vec<_>>()
                .join(", "),
        ),
    );
    field(out, "state:", d.state_reason_code.clone());
    field(out, "failed at:", d.failed_at.map(|t| t.to_rfc3339()));
    field(
        out,
        "attempts:",
        (d.failed_attempts > 1)
            .then(|| format!("{} failed (this is the latest)", d.failed_attempts)),
    );
    field(
        out,
        "kms error:",
        d.kms_error
            .as_ref()
            .map(|e| format!("{} {}: {}", e.api, e.code, e.message)),
    );
    field(out, "evidence:", Some(d.evidence_event_ids.join(", ")));
    let _ = writeln!(out, "fix:");
    for (n, step) in d.remediation.steps.iter().enumerate() {
        let _ = writeln!(out, "  {}. {}", n + 1, clean(step));
    }
    if let Some(policy) = &d.remediation.policy {
        let target = d
            .remediation
            .attach_to
            .as_ref()
            .map_or_else(|| "the key policy".to_owned(), ToString::to_string);
        let _ = writeln!(out, "  policy ({}):", clean(&target));
        let pretty = serde_json::to_string_pretty(policy).unwrap_or_default();
        for line in pretty.lines() {
            let _ = writeln!(out, "    {}", clean(line));
        }
    }
}
