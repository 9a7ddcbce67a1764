//! The flows doctor in the live path: what the shared engine
//! (`start-doctor-engine`) needs to post one Slack message and one OpsItem
//! per (cause, control), and what the function keeps per conversation
//! between invocations.
//!
//! - A **finding** is one conversation with its counts so far
//!   ([`Finding`]); its **subject** is the conversation's name
//!   ([`conversation_name`]: client, server, protocol and port, unique in
//!   an account and Region); its **group** is [`Finding::group_key`], the
//!   one home of the (cause, control) key.
//! - A group lasts until resolved (no window): a rule that drops traffic
//!   keeps dropping it until someone changes it.
//! - A finding whose counts grew **refreshes** its group: the message is
//!   rendered again with the new totals, at most once per the engine's
//!   update interval (Slack's `chat.update` limit), never one post per
//!   record or per batch.
//! - The **tally** adds up the members' record counts and span.
//! - A conversation whose cause changed (someone edited the rule, the
//!   configuration cache expired) **upgrades**: it moves to its new group.
//!   A finding that became `unexplained` never replaces an explained one.
//!
//! What is never published: noise (late FIN/RST, unsolicited scans),
//! counted in the store ([`NoiseTally`]), and `unexplained` findings
//! ([`publishable`]): in the live path the configuration is read by the
//! function itself, so an unexplained reject means a read failed or the
//! interface is not in the account and Region the function reads (another
//! account's flow logs); both are the operator's to fix, logged with what
//! is missing, and a Slack message saying "cause unknown" for every such
//! conversation would be noise. The CLI names them (`start-doctor flows`).
//!
//! The per-conversation aggregate ([`Aggregate`]) is what makes a burst
//! cheap: the function diagnoses a whole subscription batch at once and
//! merges each conversation's counts into its aggregate once per batch
//! (a batch id makes the merge idempotent when Lambda retries).

use std::collections::VecDeque;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use start_doctor_core::ids::Origin;
use start_doctor_core::slack::{code, escape, id_sections, message, reply, section};
use start_doctor_engine::ports::{Annotation, Announcement};
use start_doctor_engine::{Doctor, GroupView};

use crate::finding::{Cause, ControlKind, Finding, Noise};
use crate::ids::EniId;
use crate::render::slack::{shown_message, Shown, State};

pub use crate::render::slack::conversation_name;

/// The detail-type of the diagnosis event (EventBridge).
pub const EVENT_DETAIL_TYPE: &str = "Flow Rejection Diagnosed";

/// How many batch ids an aggregate remembers to ignore a redelivered batch
/// (Lambda retries an asynchronous invocation at most twice; a few dozen
/// covers retries interleaved with newer batches).
pub const REMEMBERED_BATCHES: usize = 32;

/// The flows doctor's part in the live path.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct FlowsDoctor;

/// What a group's members add up to.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Tally {
    /// REJECT records of every member.
    pub rejected_records: u64,
    /// ACCEPT records of every member.
    pub accepted_records: u64,
    /// The first rejected record of any member.
    pub first_seen: Option<DateTime<Utc>>,
    /// The last rejected record of any member.
    pub last_seen: Option<DateTime<Utc>>,
}

/// Whether the live path posts `finding`: not `unexplained` (see the
/// module's header for why).
pub fn publishable(finding: &Finding) -> bool {
    finding.cause != Cause::Unexplained
}

fn earlier(a: Option<DateTime<Utc>>, b: DateTime<Utc>) -> DateTime<Utc> {
    a.map_or(b, |a| a.min(b))
}

fn later(a: Option<DateTime<Utc>>, b: DateTime<Utc>) -> DateTime<Utc> {
    a.map_or(b, |a| a.max(b))
}

/// ARNs of what a finding is about: its control (network ACL or security
/// groups) and the interfaces that logged the rejects, when the account and
/// Region are known.
fn resources(finding: &Finding) -> Vec<String> {
    let (Some(account), Some(region)) = (&finding.account, &finding.region) else {
        return Vec::new();
    };
    let arn = |kind: &str, id: &str| format!("arn:aws:ec2:{region}:{account}:{kind}/{id}");
    let mut out = Vec::new();
    if let Some(control) = &finding.control {
        match control.kind {
            ControlKind::NetworkAcl => {
                out.extend(control.id.as_deref().map(|id| arn("network-acl", id)));
            }
            ControlKind::SecurityGroup => out.extend(
                control
                    .security_group_ids
                    .iter()
                    .map(|g| arn("security-group", g.as_str())),
            ),
            ControlKind::BlockPublicAccess => {}
        }
    }
    out.extend(
        finding
            .interface_ids
            .iter()
            .map(|e| arn("network-interface", &e.to_string())),
    );
    out
}

/// The control in words: `rule 120 of acl-… (inbound) on subnet-…`.
fn control_words(finding: &Finding) -> String {
    let Some(control) = &finding.control else {
        return "no control named".to_owned();
    };
    match control.kind {
        ControlKind::NetworkAcl => format!(
            "rule {} of {} ({}) on {}",
            control
                .rule_number
                .map_or_else(|| "?".to_owned(), |r| r.to_string()),
            control.id.as_deref().unwrap_or("its network ACL"),
            if control.egress == Some(true) {
                "outbound"
            } else {
                "inbound"
            },
            control
                .subnet_id
                .as_ref()
                .map_or_else(|| "its subnet".to_owned(), ToString::to_string),
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

impl Doctor for FlowsDoctor {
    type Finding = Finding;
    type Tally = Tally;

    fn name(&self) -> &'static str {
        "flows"
    }

    fn scope(&self, finding: &Finding) -> Origin {
        Origin {
            account: finding.account.clone(),
            region: finding.region.clone(),
        }
    }

    fn subject(&self, finding: &Finding) -> String {
        conversation_name(finding)
    }

    fn group(&self, finding: &Finding) -> String {
        finding.group_key().id()
    }

    fn occurred_at(&self, finding: &Finding) -> Option<DateTime<Utc>> {
        Some(finding.last_seen)
    }

    fn window(&self) -> Option<chrono::Duration> {
        None
    }

    fn same_occurrence(&self, _old: &Finding, _new: &Finding) -> bool {
        // A conversation dropped by a rule is one occurrence until it is
        // resolved: more records are more evidence, not a new incident.
        true
    }

    fn upgrades(&self, old: &Finding, new: &Finding) -> bool {
        publishable(new) && old.group_key() != new.group_key()
    }

    fn refreshes(&self, old: &Finding, new: &Finding) -> bool {
        new.rejected_records > old.rejected_records
            || new.accepted_records > old.accepted_records
            || new.last_seen > old.last_seen
    }

    fn tally(&self, tally: &mut Tally, old: Option<&Finding>, new: &Finding) {
        if let Some(old) = old {
            tally.rejected_records = tally.rejected_records.saturating_sub(old.rejected_records);
            tally.accepted_records = tally.accepted_records.saturating_sub(old.accepted_records);
        }
        tally.rejected_records = tally.rejected_records.saturating_add(new.rejected_records);
        tally.accepted_records = tally.accepted_records.saturating_add(new.accepted_records);
        tally.first_seen = Some(earlier(tally.first_seen, new.first_seen));
        tally.last_seen = Some(later(tally.last_seen, new.last_seen));
    }

    fn message(&self, group: &GroupView<'_, Self>) -> Value {
        let finding = group.finding;
        let key = finding.group_key();
        let span = group.tally.first_seen.zip(group.tally.last_seen);
        shown_message(
            &Shown {
                key: &key,
                first: finding,
                remediation: &finding.remediation,
                conversations: group.members.to_vec(),
                rejected: group.tally.rejected_records,
                accepted: group.tally.accepted_records,
                span,
                name_all: group.name_all,
            },
            State::Open,
        )
    }

    fn follow_up(&self, group: &GroupView<'_, Self>, members: &[String]) -> Value {
        let finding = group.finding;
        let headline = format!(
            "{} more connection{} dropped by {} ({})",
            members.len(),
            if members.len() == 1 { "" } else { "s" },
            control_words(finding),
            finding.cause
        );
        let names: Vec<&str> = members.iter().map(String::as_str).collect();
        let mut blocks = vec![section(escape(&headline))];
        blocks.extend(id_sections("Conversations", &names, 45));
        blocks.push(section(format!(
            "{} rejected and {} accepted records in all; the fix is in the first message.",
            group.tally.rejected_records, group.tally.accepted_records
        )));
        message(&escape(&headline), blocks)
    }

    fn upgraded_reply(&self, finding: &Finding) -> Value {
        reply(&escape(&format!(
            "{} is now dropped by {} ({}); its group's message shows it.",
            conversation_name(finding),
            control_words(finding),
            finding.cause
        )))
    }

    fn again_reply(&self, finding: &Finding) -> Value {
        reply(&escape(&format!(
            "{} is dropped again by {} ({}); the message above lists it again.",
            conversation_name(finding),
            control_words(finding),
            finding.cause
        )))
    }

    fn resolved_reply(
        &self,
        _group: &GroupView<'_, Self>,
        subjects: &[String],
        since: DateTime<Utc>,
    ) -> Value {
        let names: Vec<String> = subjects.iter().map(|s| code(s)).collect();
        reply(&format!(
            "No rejects since {} of {}.",
            since.format("%Y-%m-%d %H:%M UTC"),
            names.join(", ")
        ))
    }

    fn annotation(&self, group: &GroupView<'_, Self>) -> Annotation {
        let finding = group.finding;
        let n = group.members.len();
        let steps: Vec<String> = finding
            .remediation
            .steps
            .iter()
            .enumerate()
            .map(|(i, s)| format!("{}. {s}", i + 1))
            .collect();
        let mut description = format!(
            "{}\n\nConversations ({n}): {}\n\nRecords: {} rejected, {} accepted.\n\nFix:\n{}",
            finding.summary,
            group.members.join(", "),
            group.tally.rejected_records,
            group.tally.accepted_records,
            steps.join("\n"),
        );
        if !finding.remediation.commands.is_empty() {
            description.push_str("\n\nCommands:\n");
            description.push_str(&finding.remediation.commands.join("\n"));
        }
        let control = finding.control.as_ref();
        Annotation {
            title: format!(
                "Flows: {n} connection{} dropped by {} ({})",
                if n == 1 { "" } else { "s" },
                control_words(finding),
                finding.cause
            ),
            description,
            operational_data: vec![
                ("start-doctor:cause".to_owned(), finding.cause.to_string()),
                (
                    "start-doctor:control".to_owned(),
                    control.and_then(|c| c.id.clone()).unwrap_or_default(),
                ),
                (
                    "start-doctor:subnet".to_owned(),
                    control
                        .and_then(|c| c.subnet_id.as_ref())
                        .map(ToString::to_string)
                        .unwrap_or_default(),
                ),
                (
                    "start-doctor:rule_number".to_owned(),
                    control
                        .and_then(|c| c.rule_number)
                        .map(|r| r.to_string())
                        .unwrap_or_default(),
                ),
                ("start-doctor:conversations".to_owned(), n.to_string()),
                (
                    "start-doctor:rejected_records".to_owned(),
                    group.tally.rejected_records.to_string(),
                ),
            ],
            resources: resources(finding),
            severity: if finding.cause == Cause::TgwEntryAzNacl || finding.intermittent {
                // Intermittent failures are the costly ones: they pass
                // tests and fail in production.
                2
            } else {
                3
            },
            category: "Availability".to_owned(),
        }
    }

    fn announcement(&self, finding: &Finding) -> Announcement {
        Announcement {
            detail_type: EVENT_DETAIL_TYPE.to_owned(),
            detail: serde_json::to_value(finding).unwrap_or(Value::Null),
            resources: resources(finding),
            tag: None,
            incident: None,
        }
    }
}

/// What the store keeps of one conversation between invocations: its
/// counts so far, merged once per batch.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Aggregate {
    /// REJECT records counted so far.
    pub rejected_records: u64,
    /// ACCEPT records counted so far (the subscription keeps REJECTs only:
    /// zero unless the filter pattern lets ACCEPTs through).
    pub accepted_records: u64,
    /// The first rejected record's start.
    pub first_seen: Option<DateTime<Utc>>,
    /// The last rejected record's end.
    pub last_seen: Option<DateTime<Utc>>,
    /// Every interface that logged a reject.
    pub interface_ids: Vec<EniId>,
    /// The latest batches merged (a redelivered batch is not counted
    /// twice).
    pub batches: VecDeque<String>,
}

impl Aggregate {
    /// Adds `batch`'s finding of this conversation. Returns `false`,
    /// changing nothing, when that batch was merged already.
    pub fn merge(&mut self, batch: &str, finding: &Finding) -> bool {
        if self.batches.iter().any(|b| b == batch) {
            return false;
        }
        self.batches.push_back(batch.to_owned());
        while self.batches.len() > REMEMBERED_BATCHES {
            self.batches.pop_front();
        }
        self.rejected_records = self
            .rejected_records
            .saturating_add(finding.rejected_records);
        self.accepted_records = self
            .accepted_records
            .saturating_add(finding.accepted_records);
        self.first_seen = Some(earlier(self.first_seen, finding.first_seen));
        self.last_seen = Some(later(self.last_seen, finding.last_seen));
        for eni in &finding.interface_ids {
            if let Err(at) = self.interface_ids.binary_search(eni) {
                self.interface_ids.insert(at, *eni);
            }
        }
        true
    }

    /// `finding` (diagnosed from one batch) with the conversation's counts
    /// so far: what the engine publishes.
    pub fn apply(&self, finding: &Finding) -> Finding {
        let mut out = finding.clone();
        out.rejected_records = self.rejected_records.max(finding.rejected_records);
        out.accepted_records = self.accepted_records.max(finding.accepted_records);
        out.first_seen = earlier(self.first_seen, finding.first_seen);
        out.last_seen = later(self.last_seen, finding.last_seen);
        if !self.interface_ids.is_empty() {
            out.interface_ids.clone_from(&self.interface_ids);
        }
        out.intermittent = out.accepted_records > 0 && out.rejected_records > 0;
        out
    }
}

/// The noise a scope has counted (never posted), and the conversations a
/// batch left out beyond its bound, merged once per batch.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct NoiseTally {
    /// The counts so far.
    pub noise: Noise,
    /// Conversations left out of batches that held more than a batch
    /// publishes (each batch counts its own: a conversation left out twice
    /// counts twice).
    #[serde(default)]
    pub left_out_conversations: u64,
    /// Their REJECT records.
    #[serde(default)]
    pub left_out_records: u64,
    /// The latest batches merged.
    pub batches: VecDeque<String>,
}

/// What one batch sets aside: its noise, and the conversations beyond the
/// batch's bound.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct SetAside {
    /// Noise.
    pub noise: Noise,
    /// Conversations not published.
    pub left_out_conversations: u64,
    /// Their REJECT records.
    pub left_out_records: u64,
}

impl SetAside {
    /// Whether there is nothing to count.
    pub fn is_empty(&self) -> bool {
        self.noise.after_close == 0 && self.noise.unsolicited == 0 && self.left_out_records == 0
    }
}

impl NoiseTally {
    /// Adds `batch`'s noise and left-out conversations. Returns `false`
    /// when that batch was merged already or set nothing aside.
    pub fn merge(&mut self, batch: &str, aside: &SetAside) -> bool {
        if aside.is_empty() || self.batches.iter().any(|b| b == batch) {
            return false;
        }
        self.batches.push_back(batch.to_owned());
        while self.batches.len() > REMEMBERED_BATCHES {
            self.batches.pop_front();
        }
        let noise = &aside.noise;
        self.noise.after_close = self.noise.after_close.saturating_add(noise.after_close);
        self.noise.unsolicited = self.noise.unsolicited.saturating_add(noise.unsolicited);
        self.left_out_conversations = self
            .left_out_conversations
            .saturating_add(aside.left_out_conversations);
        self.left_out_records = self.left_out_records.saturating_add(aside.left_out_records);
        true
    }
}

/// The store key of a conversation's aggregate.
pub fn aggregate_key(scope: &Origin, subject: &str) -> String {
    format!("flows#conversation#{}#{subject}", scope.key())
}

/// The store key of a scope's noise counts.
pub fn noise_key(scope: &Origin) -> String {
    format!("flows#noise#{}", scope.key())
}
