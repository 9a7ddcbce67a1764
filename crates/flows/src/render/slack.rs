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
    code, escape, fit, id_sections, whole_items, FIELD_MAX, HEADER_MAX, SECTION_MAX,
};

use super::Group;
use crate::finding::{AzVerdict, Cause, ControlKind};
use crate::finding::{Finding, GroupKey, Remediation};
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

/// What a message shows of a group: the CLI's grouped findings
/// ([`group_message`]) or the live path's stored group (one finding shown,
/// its members' names and what they add up to).
#[derive(Clone, Debug)]
pub struct Shown<'a> {
    /// The (cause, control) key.
    pub key: &'a GroupKey,
    /// The finding whose summary, place and entry AZs the message shows.
    pub first: &'a Finding,
    /// The fix the group shares.
    pub remediation: &'a Remediation,
    /// The conversations, as [`conversation_name`] writes them.
    pub conversations: Vec<String>,
    /// Rejected records of every conversation.
    pub rejected: u64,
    /// Accepted records of every conversation.
    pub accepted: u64,
    /// The first and last rejected record's times.
    pub span: Option<(DateTime<Utc>, DateTime<Utc>)>,
    /// The message can never be updated (a webhook): name every
    /// conversation, over as many sections as it takes.
    pub name_all: bool,
}

/// How a conversation is named in messages: `10.20.5.17 → 10.1.1.25 TCP
/// 5432`.
pub fn conversation_name(finding: &Finding) -> String {
    format!(
        "{} → {} {}",
        finding.client,
        finding.server,
        describe_traffic(finding.protocol, finding.server_port)
    )
}

/// The sections a message of every conversation may fill (Slack allows
/// 50 blocks; the others hold the header, summary, fields, fix, commands
/// and context).
const CONVERSATION_SECTIONS_MAX: usize = 40;

/// The message of `group` in `state`.
pub fn group_message(group: &Group<'_>, state: State) -> Value {
    let first = group.findings[0];
    let span = group
        .findings
        .iter()
        .map(|f| (f.first_seen, f.last_seen))
        .reduce(|(a, b), (c, d)| (a.min(c), b.max(d)));
    shown_message(
        &Shown {
            key: &group.key,
            first,
            remediation: group.remediation,
            conversations: group
                .findings
                .iter()
                .map(|f| conversation_name(f))
                .collect(),
            rejected: group.rejected(),
            accepted: group.accepted(),
            span,
            name_all: false,
        },
        state,
    )
}

/// The message of what `shown` shows, in `state`.
pub fn shown_message(shown: &Shown<'_>, state: State) -> Value {
    let first = shown.first;
    let n = shown.conversations.len();
    let connections = if n == 1 {
        "connection".to_owned()
    } else {
        format!("{n} connections")
    };
    let headline = match state {
        State::Open => format!(
            "{} dropped: {}",
            capitalize(&connections),
            cause_words(shown.key.cause)
        ),
        State::Grown { .. } => format!(
            "Still dropping {connections}: {}",
            cause_words(shown.key.cause)
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
        format!("*Cause*\n{}", code(shown.key.cause.as_str())),
        FIELD_MAX,
    ));
    if let Some(control) = &shown.key.control {
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
            shown.rejected, shown.accepted
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
    if shown.name_all {
        let names: Vec<&str> = shown.conversations.iter().map(String::as_str).collect();
        blocks.extend(id_sections(
            "Conversations",
            &names,
            CONVERSATION_SECTIONS_MAX,
        ));
    } else {
        let listed: Vec<String> = shown
            .conversations
            .iter()
            .take(LISTED_CONVERSATIONS)
            .map(|c| code(c))
            .collect();
        blocks.push(json!({
            "type": "section",
            "text": mrkdwn(
                format!("*Conversations ({n})*\n{}", whole_items(&listed, n, SECTION_MAX - 40)),
                SECTION_MAX
            )
        }));
    }
    if !matches!(state, State::Resolved { .. }) {
        let steps = shown
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
        if !shown.remediation.commands.is_empty() {
            let commands: Vec<String> = shown
                .remediation
                .commands
                .iter()
                .take(SHOWN_COMMANDS)
                .map(|c| code(c))
                .collect();
            let rest = shown
                .remediation
                .commands
                .len()
                .saturating_sub(commands.len());
            let mut text = format!("*Commands*\n{}", commands.join("\n"));
            if rest > 0 {
                text.push_str(&format!(
                    "\n…and {rest} more (start-doctor flows prints them all)"
                ));
            }
            blocks.push(json!({"type": "section", "text": mrkdwn(text, SECTION_MAX)}));
        }
    }
    let mut context = format!("start-doctor flows · group {}", code(&shown.key.id()));
    if let Some((first_seen, last_seen)) = shown.span {
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
