//! Findings for people ([`text`]), for programs ([`json`]), and for Slack
//! ([`slack`]), grouped as the live path groups them: conversations that
//! share one cause, one control and one fix are one block (one message).

pub mod slack;
pub mod text;

use crate::finding::{Finding, GroupKey, Remediation, Report};

/// `--format json`: the report as `schema/flows.schema.json` pins it.
pub fn json(report: &Report) -> String {
    serde_json::to_string_pretty(report).unwrap_or_else(|e| {
        // Serializing plain data cannot fail; say so rather than panic.
        format!("{{\"error\": \"{e}\"}}")
    })
}

/// Findings that share one cause, one control and one fix (the same
/// commands; the steps may name each conversation's details).
#[derive(Clone, Debug)]
pub struct Group<'a> {
    /// The (cause, control) key.
    pub key: GroupKey,
    /// The fix they share.
    pub remediation: &'a Remediation,
    /// The findings, in report order.
    pub findings: Vec<&'a Finding>,
}

impl Group<'_> {
    /// Rejected records of every finding.
    pub fn rejected(&self) -> u64 {
        self.findings.iter().map(|f| f.rejected_records).sum()
    }

    /// Accepted records of every finding.
    pub fn accepted(&self) -> u64 {
        self.findings.iter().map(|f| f.accepted_records).sum()
    }
}

/// The findings grouped by (cause, control, fix commands), the group with
/// the most rejected records first. A fix without commands (collecting
/// data) groups by its steps.
pub fn groups(findings: &[Finding]) -> Vec<Group<'_>> {
    let mut out: Vec<Group<'_>> = Vec::new();
    for finding in findings {
        let key = finding.group_key();
        let fix = &finding.remediation;
        match out.iter_mut().find(|g| {
            g.key == key
                && g.remediation.kind == fix.kind
                && g.remediation.commands == fix.commands
                && (!fix.commands.is_empty() || g.remediation.steps == fix.steps)
        }) {
            Some(group) => group.findings.push(finding),
            None => out.push(Group {
                key,
                remediation: &finding.remediation,
                findings: vec![finding],
            }),
        }
    }
    out.sort_by(|a, b| b.rejected().cmp(&a.rejected()).then(a.key.cmp(&b.key)));
    out
}
