//! The text a person reads: one block per group of conversations that
//! share a cause, a control and a fix, each entry AZ's verdict at a glance,
//! the fix with its commands, then the noise set aside.

use std::fmt::Write;

use start_doctor_core::text::one_line;

use super::{groups, Group};
use crate::finding::{AzVerdict, ControlKind, Finding, Report};
use crate::remedy::describe_traffic;

/// What else the text reports: how much was read.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Extra {
    /// Whether noise is shown as findings (`--all`).
    pub all: bool,
}

/// Renders the report.
pub fn render(report: &Report, extra: Extra) -> String {
    let mut out = String::new();
    let grouped = groups(&report.findings);
    for group in &grouped {
        block(&mut out, group);
        out.push('\n');
    }
    let conversations = report.findings.len();
    if conversations == 0 {
        out.push_str("No rejected conversation to explain.\n");
    } else {
        let _ = writeln!(
            out,
            "{conversations} rejected conversation{} in {} group{} (cause, control, fix).",
            plural(conversations),
            grouped.len(),
            plural(grouped.len())
        );
    }
    let noise = report.noise;
    if noise.after_close + noise.unsolicited > 0 {
        let _ = writeln!(
            out,
            "Noise{}: {} REJECT record{} of FIN/RST packets after the connection closed, {} from outside addresses that never got an answer (scans).",
            if extra.all { " (shown above too: --all)" } else { " set aside (--all shows it)" },
            noise.after_close,
            plural(noise.after_close as usize),
            noise.unsolicited
        );
    }
    out
}

fn plural(n: usize) -> &'static str {
    if n == 1 {
        ""
    } else {
        "s"
    }
}

fn control_words(group: &Group<'_>) -> String {
    let Some(control) = &group.key.control else {
        return "no control found".to_owned();
    };
    match control.kind {
        ControlKind::NetworkAcl => format!(
            "{} rule {} ({}) on {}",
            control.id.as_deref().unwrap_or("network ACL"),
            control
                .rule_number
                .map_or_else(|| "?".to_owned(), |r| r.to_string()),
            if control.egress == Some(true) {
                "outbound"
            } else {
                "inbound"
            },
            control
                .subnet_id
                .as_ref()
                .map_or_else(|| "?".to_owned(), ToString::to_string)
        ),
        ControlKind::SecurityGroup => format!(
            "security groups {}",
            control
                .security_group_ids
                .iter()
                .map(ToString::to_string)
                .collect::<Vec<_>>()
                .join(", ")
        ),
        ControlKind::BlockPublicAccess => "VPC Block Public Access".to_owned(),
    }
}

fn conversation_line(f: &Finding) -> String {
    let span = format!(
        "{} .. {}",
        f.first_seen.format("%Y-%m-%d %H:%M:%S"),
        f.last_seen.format("%H:%M:%S")
    );
    format!(
        "  {} -> {} {}  {} rejected {}x, accepted {}x  {span}",
        f.client,
        f.server,
        describe_traffic(f.protocol, f.server_port),
        f.rejected_leg.as_str(),
        f.rejected_records,
        f.accepted_records
    )
}

fn block(out: &mut String, group: &Group<'_>) {
    let first = group.findings[0];
    let origin = [
        first.account.as_ref().map(ToString::to_string),
        first.region.as_ref().map(ToString::to_string),
    ]
    .into_iter()
    .flatten()
    .collect::<Vec<_>>()
    .join(" ");
    let _ = writeln!(
        out,
        "== {}  {}  {}",
        group.key.cause,
        one_line(&control_words(group)),
        origin
    );
    let intermittent = group.findings.iter().any(|f| f.intermittent);
    let _ = writeln!(
        out,
        "{} conversation{}, {} rejected record{}, {} accepted{}",
        group.findings.len(),
        plural(group.findings.len()),
        group.rejected(),
        plural(group.rejected() as usize),
        group.accepted(),
        if intermittent { " (intermittent)" } else { "" }
    );
    for f in &group.findings {
        out.push_str(&one_line(&conversation_line(f)));
        out.push('\n');
    }
    if !first.entry_azs.is_empty() {
        let azs = first
            .entry_azs
            .iter()
            .map(|a| {
                let verdict = match a.verdict {
                    AzVerdict::Pass => "pass",
                    AzVerdict::Fail => "FAIL",
                };
                let rule = match (&a.network_acl_id, a.rule_number) {
                    (Some(acl), Some(rule)) => format!(" ({acl} rule {rule})"),
                    _ => String::new(),
                };
                format!("{} {} {verdict}{rule}", a.az_id, a.subnet_id)
            })
            .collect::<Vec<_>>()
            .join(" | ");
        let _ = writeln!(out, "entry AZs:  {}", one_line(&azs));
    }
    let _ = writeln!(out, "summary:    {}", one_line(&first.summary));
    if !first.missing.is_empty() {
        out.push_str("missing:\n");
        for m in &first.missing {
            let _ = writeln!(out, "  - {}", one_line(m));
        }
    }
    let interfaces: Vec<String> = {
        let mut all: Vec<String> = group
            .findings
            .iter()
            .flat_map(|f| f.interface_ids.iter().map(ToString::to_string))
            .collect();
        all.sort();
        all.dedup();
        all
    };
    if !interfaces.is_empty() {
        let _ = writeln!(out, "logged on:  {}", interfaces.join(", "));
    }
    let _ = writeln!(
        out,
        "fix ({}):",
        serde_json::to_value(group.remediation.kind)
            .ok()
            .and_then(|v| v.as_str().map(str::to_owned))
            .unwrap_or_default()
    );
    for (i, step) in group.remediation.steps.iter().enumerate() {
        let _ = writeln!(out, "  {}. {}", i + 1, one_line(step));
    }
    if !group.remediation.commands.is_empty() {
        out.push_str("  commands:\n");
        for command in &group.remediation.commands {
            let _ = writeln!(out, "    {}", one_line(command));
        }
    }
}
