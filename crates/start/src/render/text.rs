//! Terminal text: one block per failed start with the cause, the evidence
//! and the fix; instances that failed for one reason (cause, principal,
//! keys, account and region) share one block with one fix, so a storm of
//! a hundred failures reads as one finding. Untrusted values (names, ARNs,
//! AWS messages) are put on one line with escape sequences and
//! bidirectional controls neutralised ([`start_doctor_core::text::one_line`]), so an
//! input file cannot rewrite the terminal or forge a line of the report.

use std::collections::BTreeMap;
use std::fmt::Write;

use crate::diagnosis::{Diagnosis, GroupKey};

/// Renders diagnoses for a terminal.
pub fn render(diagnoses: &[Diagnosis]) -> String {
    let mut out = String::new();
    if diagnoses.is_empty() {
        out.push_str("No failed instance starts found.\n");
        return out;
    }
    for group in groups(diagnoses) {
        match group.as_slice() {
            [d] => block(&mut out, d),
            _ => group_block(&mut out, &group),
        }
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

/// Diagnoses grouped by what their fix depends on
/// ([`Diagnosis::group_key`]), in the order of each group's first
/// instance.
fn groups(diagnoses: &[Diagnosis]) -> Vec<Vec<&Diagnosis>> {
    let mut index: BTreeMap<GroupKey, usize> = BTreeMap::new();
    let mut groups: Vec<Vec<&Diagnosis>> = Vec::new();
    for d in diagnoses {
        let at = *index.entry(d.group_key()).or_insert_with(|| {
            groups.push(Vec::new());
            groups.len() - 1
        });
        groups[at].push(d);
    }
    groups
}

/// One block for several instances: count and ids, the shared evidence,
/// one fix whose commands name every instance.
fn group_block(out: &mut String, group: &[&Diagnosis]) {
    let Some(first) = group.first() else {
        return;
    };
    let _ = writeln!(
        out,
        "== {} instances: {}  {}",
        group.len(),
        first.cause,
        place(first)
    );
    let _ = writeln!(out, "cause:      {}", first.cause);
    let _ = writeln!(out, "instances:");
    for d in group {
        let name = d
            .instance_name
            .as_deref()
            .map(|n| format!(" ({})", start_doctor_core::text::one_line(n)))
            .unwrap_or_default();
        let mut line = format!("  {}{name}", d.instance_id);
        if let Some(t) = d.failed_at {
            let _ = write!(line, "  failed at {}", t.to_rfc3339());
        }
        if !d.volume_ids.is_empty() {
            let volumes: Vec<&str> = d.volume_ids.iter().map(|v| v.as_str()).collect();
            let _ = write!(line, "  volumes {}", volumes.join(", "));
        }
        let _ = writeln!(out, "{line}");
    }
    field(
        out,
        "principal:",
        first.principal_arn.as_ref().map(ToString::to_string),
    );
    keys_field(out, first);
    field(out, "state:", first.state_reason_code.clone());
    field(
        out,
        "kms error:",
        first
            .kms_error
            .as_ref()
            .map(|e| format!("{} {}: {}", e.api, e.code, e.message)),
    );
    let events: usize = group.iter().map(|d| d.evidence_event_ids.len()).sum();
    field(
        out,
        "evidence:",
        Some(format!(
            "{events} events (--format json lists them per instance)"
        )),
    );
    let ids: Vec<&str> = group.iter().map(|d| d.instance_id.as_str()).collect();
    let _ = writeln!(out, "fix (one for all {}):", group.len());
    for (n, step) in first.remediation.steps.iter().enumerate() {
        let _ = writeln!(
            out,
            "  {}. {}",
            n + 1,
            start_doctor_core::text::one_line(&widen(step, &ids))
        );
    }
    policy(out, first);
}

/// A step of the first instance's fix made to cover the group: a command's
/// `--instance-ids` and `Values=` name every instance; any other mention
/// becomes a placeholder to fill in per instance.
fn widen(step: &str, ids: &[&str]) -> String {
    let Some(first) = ids.first() else {
        return step.to_owned();
    };
    const IDS: &str = "\u{0}ids\u{0}";
    const VALUES: &str = "\u{0}values\u{0}";
    let marked = step
        .replace(&format!("--instance-ids {first}"), IDS)
        .replace(&format!("Values={first}"), VALUES);
    let marked = if marked.contains(first) {
        format!(
            "For each instance: {}",
            marked.replace(first, "<instance-id>")
        )
    } else {
        marked
    };
    marked
        .replace(IDS, &format!("--instance-ids {}", ids.join(" ")))
        .replace(VALUES, &format!("Values={}", ids.join(",")))
}

fn place(d: &Diagnosis) -> String {
    start_doctor_core::text::one_line(
        &[d.account.as_deref(), d.region.as_deref()]
            .into_iter()
            .flatten()
            .collect::<Vec<_>>()
            .join(" "),
    )
}

fn field(out: &mut String, label: &str, value: Option<String>) {
    if let Some(v) = value.filter(|v| !v.is_empty()) {
        let _ = writeln!(out, "{label:<11} {}", start_doctor_core::text::one_line(&v));
    }
}

/// The keys of a diagnosis, labelled for one or several.
fn keys_field(out: &mut String, d: &Diagnosis) {
    let keys: Vec<&str> = d.kms_key_arns.iter().map(|k| k.as_str()).collect();
    let label = if keys.len() > 1 {
        "kms keys:"
    } else {
        "kms key:"
    };
    field(out, label, Some(keys.join(", ")));
}

fn policy(out: &mut String, d: &Diagnosis) {
    if let Some(policy) = &d.remediation.policy {
        let target = d
            .remediation
            .attach_to
            .as_ref()
            .map_or_else(|| "the key policy".to_owned(), ToString::to_string);
        let _ = writeln!(
            out,
            "  policy ({}):",
            start_doctor_core::text::one_line(&target)
        );
        let pretty = serde_json::to_string_pretty(policy).unwrap_or_default();
        for line in pretty.lines() {
            let _ = writeln!(out, "    {}", start_doctor_core::text::one_line(line));
        }
    }
}

fn block(out: &mut String, d: &Diagnosis) {
    let name = d
        .instance_name
        .as_deref()
        .map(|n| format!(" ({})", start_doctor_core::text::one_line(n)))
        .unwrap_or_default();
    let _ = writeln!(out, "== {}{name}  {}", d.instance_id, place(d));
    let _ = writeln!(out, "cause:      {}", d.cause);
    let _ = writeln!(
        out,
        "summary:    {}",
        start_doctor_core::text::one_line(&d.summary)
    );
    field(
        out,
        "principal:",
        d.principal_arn.as_ref().map(ToString::to_string),
    );
    keys_field(out, d);
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
        let _ = writeln!(
            out,
            "  {}. {}",
            n + 1,
            start_doctor_core::text::one_line(step)
        );
    }
    policy(out, d);
}

#[cfg(test)]
mod tests {
    use super::widen;

    #[test]
    fn a_group_fix_names_every_instance_where_a_command_takes_a_list() {
        let ids = ["i-0a1b2c3d4e5f60002", "i-0a1b2c3d4e5f60003"];
        assert_eq!(
            widen(
                "Start the instance again: aws ec2 start-instances --region eu-west-1 --instance-ids i-0a1b2c3d4e5f60002",
                &ids
            ),
            "Start the instance again: aws ec2 start-instances --region eu-west-1 --instance-ids i-0a1b2c3d4e5f60002 i-0a1b2c3d4e5f60003"
        );
        assert_eq!(
            widen(
                "aws ec2 describe-volumes --filters Name=attachment.instance-id,Values=i-0a1b2c3d4e5f60002",
                &ids
            ),
            "aws ec2 describe-volumes --filters Name=attachment.instance-id,Values=i-0a1b2c3d4e5f60002,i-0a1b2c3d4e5f60003"
        );
        assert_eq!(
            widen(
                "aws ec2 modify-instance-attribute --instance-id i-0a1b2c3d4e5f60002 --instance-type ...",
                &ids
            ),
            "For each instance: aws ec2 modify-instance-attribute --instance-id <instance-id> --instance-type ..."
        );
        assert_eq!(widen("Save the policy.", &ids), "Save the policy.");
    }
}
