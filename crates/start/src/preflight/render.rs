//! Printing a preflight: the JSON contract (`schema/preflight.schema.json`)
//! and terminal text that groups the instances that will fail by
//! (principal, key, cause), so each fix is shown once.

use std::collections::BTreeMap;
use std::fmt::Write;

use super::check::{Check, Preflight, PreflightVerdict};

/// `{"checks": [...], "not_evaluated": [...]}`, pretty-printed.
pub fn json(report: &Preflight) -> String {
    // Serialising plain data with string keys cannot fail.
    serde_json::to_string_pretty(report).unwrap_or_else(|e| format!("{{\"error\": \"{e}\"}}"))
}

fn instance_label(check: &Check) -> String {
    match &check.instance_name {
        Some(name) => format!("{} ({name})", check.instance_id),
        None => check.instance_id.to_string(),
    }
}

/// Text for a terminal: one line per instance that will fail, under its
/// (principal, key, cause) group and that group's fix; then the unknowns
/// with what is missing; then a count.
pub fn text(report: &Preflight) -> String {
    let mut out = String::new();
    let mut groups: BTreeMap<(String, String, String), Vec<&Check>> = BTreeMap::new();
    for check in &report.checks {
        if check.verdict == PreflightVerdict::WillFail {
            let key = check
                .kms_key_arns
                .first()
                .map(ToString::to_string)
                .unwrap_or_default();
            let cause = check
                .cause
                .map(|c| c.as_str().to_owned())
                .unwrap_or_default();
            groups
                .entry((check.principal_arn.to_string(), key, cause))
                .or_default()
                .push(check);
        }
    }
    for ((principal, key, cause), checks) in &groups {
        let title = checks
            .first()
            .and_then(|c| c.cause)
            .map(|c| c.title())
            .unwrap_or_default();
        let _ = writeln!(out, "== {title} ({cause})");
        let _ = writeln!(out, "principal: {principal}");
        let _ = writeln!(out, "key:       {key}");
        for check in checks {
            let _ = writeln!(
                out,
                "{} will fail: {cause} (volumes {})",
                instance_label(check),
                check
                    .volume_ids
                    .iter()
                    .map(ToString::to_string)
                    .collect::<Vec<_>>()
                    .join(", ")
            );
        }
        if let Some(check) = checks.first() {
            for reason in &check.reasons {
                let _ = writeln!(out, "  why: {reason}");
            }
            if let Some(fix) = &check.remediation {
                let kind = serde_json::to_value(fix.kind)
                    .ok()
                    .and_then(|v| v.as_str().map(str::to_owned))
                    .unwrap_or_default();
                let _ = writeln!(out, "fix ({kind}):");
                for (n, step) in fix.steps.iter().enumerate() {
                    let _ = writeln!(out, "  {}. {step}", n + 1);
                }
                if let Some(policy) = &fix.policy {
                    let text = serde_json::to_string_pretty(policy).unwrap_or_default();
                    let _ = writeln!(out, "  policy:");
                    for line in text.lines() {
                        let _ = writeln!(out, "    {line}");
                    }
                }
            }
        }
        out.push('\n');
    }
    for check in &report.checks {
        if check.verdict == PreflightVerdict::Unknown {
            let _ = writeln!(
                out,
                "{} started by {}: unknown, missing: {}",
                instance_label(check),
                check.principal_arn,
                check.reasons.join("; ")
            );
        }
    }
    if !report.without_principal.is_empty() {
        let _ = writeln!(
            out,
            "no known principal starts {}: pass --principal ARN to check them",
            report
                .without_principal
                .iter()
                .map(ToString::to_string)
                .collect::<Vec<_>>()
                .join(", ")
        );
    }
    if !report.not_evaluated.is_empty() {
        let _ = writeln!(out, "not evaluated: {}", report.not_evaluated.join(", "));
    }
    let count = |v: PreflightVerdict| report.checks.iter().filter(|c| c.verdict == v).count();
    let n = report.checks.len();
    let _ = writeln!(
        out,
        "{n} check{}: {} will start, {} will fail, {} unknown",
        if n == 1 { "" } else { "s" },
        count(PreflightVerdict::WillStart),
        count(PreflightVerdict::WillFail),
        count(PreflightVerdict::Unknown)
    );
    out
}
