//! The Slack Block Kit message of one (cause, control) group: what drops
//! the connections, how many, each entry AZ's verdict, the conversations,
//! and the fix with its commands. The live path posts it once per group and
//! updates it as the group grows ([`State::Grown`]) or stops
//! ([`State::Resolved`]), never once per record.
//!
//! Every string goes through the project's Slack helpers (escaping of
//! `&`, `<`, `>`, control and bidirectional characters, links broken;
//! texts cut to Slack's limits), and every mrkdwn text is `verbatim`.

use chrono::{DateTime, Utc};
use serde_json::{json, Value};
use start_doctor_core::slack::{
    code, escape, fit, whole_items, FIELD_MAX, HEADER_MAX, SECTION_MAX,
};

use super::Group;
use crate::finding::{AzVerdict, Cause, ControlKind};
use crate::remedy::describe_traffic;

/// How many conversations a message lists by name.
pub const LISTED_CONVERSATIONS: usize = 20;
/// How many commands a message shows.
pub const SHOWN_COMMANDS: usize = 6;

/// Where the group stands.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum State {
    /// First posted.
    Open,
    /// More conversations or records since the message was posted.
    Grown {
        /// Conversations when last posted.
        conversations: usize,
        /// Rejected records when last posted.
        rejected: u64,
    },
    /// No rejects since this time: the fix took, or the traffic stopped.
    Resolved {
        /// The last reject.
        since: DateTime<Utc>,
    },
}

fn mrkdwn(text: String, max: usize) -> Value {
    json!({"type": "mrkdwn", "text": fit(&text, max), "verbatim": true})
}

fn cause_words(cause: Cause) -> &'static str {
    match cause {
        Cause::NaclInboundDeny => "a network ACL denies them coming in",
        Cause::NaclOutboundDeny => "a network ACL denies them going out",
        Cause::NaclReturnTrafficDeny => "a network ACL denies the replies",
        Cause::TgwEntryAzNacl => "a network ACL drops them in one Transit Gateway AZ",
        Cause::SecurityGroupNoAllow => "no security group rule allows them",
        Cause::BlockPublicAccess => "VPC Block Public Access rejects them",
        Cause::Unexplained => "the cause is not known yet",
    }
}

/// The message of `group` in `state`.
pub fn group_message(group: &Group<'_>, state: State) -> Value {
    let first = group.findings[0];
    let n = group.findings.len();
    let connections = if n == 1 {
        "connection".to_owned()
    } else {
        format!("{n} connections")
    };
    let headline = match state {
        State::Open => format!(
            "{} dropped: {}",
            capitalize(&connections),
            cause_words(group.key.cause)
        ),
        State::Grown { .. } => format!(
            "Still dropping {connections}: {}",
            cause_words(group.key.cause)
        ),
        State::Resolved { .. } => format!("Resolved: {connections} no longer dropped"),
    };
    let mut blocks = vec![json!({
        "type": "header",
        "text": {"type": "plain_text", "text": fit(&headline, HEADER_MAX), "emoji": false}
    })];
    blocks.push(json!({
        "type": "section",
        "text": mrkdwn(escape(&first.summary), SECTION_MAX)
    }));
    let mut fields = Vec::new();
    fields.push(mrkdwn(
        format!("*Cause*\n{}", code(group.key.cause.as_str())),
        FIELD_MAX,
    ));
    if let Some(control) = &group.key.control {
        let text = match control.kind {
            ControlKind::NetworkAcl => format!(
                "*Network ACL*\n{} rule {} ({}) on {}",
                code(control.id.as_deref().unwrap_or("?")),
                control
                    .rule_number
                    .map_or_else(|| "?".to_owned(), |r| r.to_string()),
                if control.egress == Some(true) {
                    "outbound"
                } else {
                    "inbound"
                },
                code(
                    &control
                        .subnet_id
                        .as_ref()
                        .map_or_else(|| "?".to_owned(), ToString::to_string)
                ),
            ),
            ControlKind::SecurityGroup => format!(
                "*Security groups*\n{}",
                control
                    .security_group_ids
                    .iter()
                    .map(|g| code(g.as_str()))
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
            ControlKind::BlockPublicAccess => "*Control*\nVPC Block Public Access".to_owned(),
        };
        fields.push(mrkdwn(text, FIELD_MAX));
    }
    fields.push(mrkdwn(
        format!(
            "*Records*\n{} rejected, {} accepted",
            group.rejected(),
            group.accepted()
        ),
        FIELD_MAX,
    ));
    let origin = [
        first.account.as_ref().map(ToString::to_string),
        first.region.as_ref().map(ToString::to_string),
    ]
    .into_iter()
    .flatten()
    .collect::<Vec<_>>();
    if !origin.is_empty() {
        fields.push(mrkdwn(
            format!("*Where*\n{}", escape(&origin.join(" "))),
            FIELD_MAX,
        ));
    }
    if !first.entry_azs.is_empty() {
        let azs = first
            .entry_azs
            .iter()
            .map(|a| {
                let verdict = match a.verdict {
                    AzVerdict::Pass => "passes",
                    AzVerdict::Fail => "*fails*",
                };
                format!("{} {verdict}", code(&a.az_id))
            })
            .collect::<Vec<_>>()
            .join("\n");
        fields.push(mrkdwn(format!("*Entry AZs*\n{azs}"), FIELD_MAX));
    }
    blocks.push(json!({"type": "section", "fields": fields}));
    let listed: Vec<String> = group
        .findings
        .iter()
        .take(LISTED_CONVERSATIONS)
        .map(|f| {
            code(&format!(
                "{} → {} {}",
                f.client,
                f.server,
                describe_traffic(f.protocol, f.server_port)
            ))
        })
        .collect();
    blocks.push(json!({
        "type": "section",
        "text": mrkdwn(
            format!("*Conversations ({n})*\n{}", whole_items(&listed, n, SECTION_MAX - 40)),
            SECTION_MAX
        )
    }));
    if !matches!(state, State::Resolved { .. }) {
        let steps = group
            .remediation
            .steps
            .iter()
            .enumerate()
            .map(|(i, s)| format!("{}. {}", i + 1, escape(s)))
            .collect::<Vec<_>>()
            .join("\n");
        blocks.push(
            json!({"type": "section", "text": mrkdwn(format!("*Fix*\n{steps}"), SECTION_MAX)}),
        );
        if !group.remediation.commands.is_empty() {
            let shown: Vec<String> = group
                .remediation
                .commands
                .iter()
                .take(SHOWN_COMMANDS)
                .map(|c| code(c))
                .collect();
            let rest = group.remediation.commands.len().saturating_sub(shown.len());
            let mut text = format!("*Commands*\n{}", shown.join("\n"));
            if rest > 0 {
                text.push_str(&format!(
                    "\n…and {rest} more (start-doctor flows prints them all)"
                ));
            }
            blocks.push(json!({"type": "section", "text": mrkdwn(text, SECTION_MAX)}));
        }
    }
    let spans = group
        .findings
        .iter()
        .map(|f| (f.first_seen, f.last_seen))
        .reduce(|(a, b), (c, d)| (a.min(c), b.max(d)));
    let mut context = format!("start-doctor flows · group {}", code(&group.key.id()));
    if let Some((first_seen, last_seen)) = spans {
        context.push_str(&format!(
            " · rejected from {} to {}",
            first_seen.format("%Y-%m-%d %H:%M UTC"),
            last_seen.format("%Y-%m-%d %H:%M UTC")
        ));
    }
    match state {
        State::Grown {
            conversations,
            rejected,
        } => context.push_str(&format!(
            " · was {conversations} conversation{} and {rejected} rejected records",
            if conversations == 1 { "" } else { "s" }
        )),
        State::Resolved { since } => {
            context.push_str(&format!(
                " · no rejects since {}",
                since.format("%Y-%m-%d %H:%M UTC")
            ));
        }
        State::Open => {}
    }
    blocks.push(json!({"type": "context", "elements": [mrkdwn(context, 2000)]}));
    json!({
        "text": fit(&format!("{headline}. {}", escape(&first.summary)), SECTION_MAX),
        "blocks": blocks,
    })
}

fn capitalize(text: &str) -> String {
    let mut chars = text.chars();
    match chars.next() {
        Some(c) => c.to_uppercase().chain(chars).collect(),
        None => String::new(),
    }
}
