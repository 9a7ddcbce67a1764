//! Slack Block Kit messages.
//!
//! One message per group of diagnoses that share (cause, principal, key):
//! a storm of 200 instances failing for one missing grant is one message
//! listing them. Every untrusted string (names, ids from events, AWS error
//! messages) goes through [`escape`] (or [`code`] inside a code span) before
//! it reaches mrkdwn: `&`, `<`, `>` become entities, line breaks a space
//! (a quoted KMS message stays in its quote), control and bidirectional
//! characters a visible U+FFFD, and `scheme://` gets a zero-width space so
//! a name is never a link. Every mrkdwn text object is `verbatim`, so Slack
//! does not link bare domains, channel names or mentions either. Every
//! text is cut to Slack's limits (header 150, section 3000, field 2000,
//! 50 blocks, 10 fields per section).

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use serde_json::{json, Value};

use crate::console;
use crate::diagnosis::{Cause, Diagnosis};
use crate::ids::{InstanceId, KeyArn, PrincipalArn, VolumeId};
use crate::render::untrusted;

/// Slack's limit on header text.
pub const HEADER_MAX: usize = 150;
/// Slack's limit on section text.
pub const SECTION_MAX: usize = 3000;
/// Slack's limit on one section field.
pub const FIELD_MAX: usize = 2000;
/// Slack's limit on context element text.
const CONTEXT_MAX: usize = 2000;
/// How many instance ids a storm message lists.
pub const LISTED_INSTANCES: usize = 20;

/// Makes untrusted text safe for one line of mrkdwn: escapes the three
/// characters Slack treats as control (`&`, `<`, `>`), puts the text on one
/// line and neutralises control and bidirectional characters (see
/// [`untrusted::one_line_char`]), and breaks `://` with a zero-width space
/// so Slack never turns a URL in a name into a link.
pub fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            c => out.push(untrusted::one_line_char(c)),
        }
    }
    break_links(&out)
}

/// `text` with a zero-width space after the `:` of every `scheme://`
/// except `file://` (which Slack does not link, and which the fix steps'
/// commands use): `https:\u{200B}//evil.example` reads the same but is not
/// a link.
fn break_links(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(i) = rest.find("://") {
        let before = &rest[..i];
        let scheme_start = before
            .rfind(|c: char| !c.is_ascii_alphanumeric() && !matches!(c, '+' | '-' | '.'))
            .map_or(0, |j| j + 1);
        out.push_str(before);
        out.push(':');
        if !before[scheme_start..].eq_ignore_ascii_case("file") {
            out.push('\u{200B}');
        }
        out.push_str("//");
        rest = &rest[i + 3..];
    }
    out.push_str(rest);
    out
}

/// Untrusted text as an inline code span: [`escape`]d, with backticks
/// replaced by U+02CB (which looks alike) so the value cannot end the span
/// and let `*`, `_` or `~` in it format the rest.
pub fn code(text: &str) -> String {
    format!("`{}`", escape(text).replace('`', "\u{02CB}"))
}

/// Text for a ``` code block: `&`, `<`, `>` escaped, backticks replaced as
/// in [`code`], control (except line breaks) and bidirectional characters
/// neutralised. Line breaks are kept: the block is multi-line by design.
fn code_block(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '`' => out.push('\u{02CB}'),
            '\n' => out.push('\n'),
            c if untrusted::is_unsafe(c) => out.push(untrusted::REPLACEMENT),
            c => out.push(c),
        }
    }
    out
}

/// Cuts `text` to at most `max` characters, marking the cut with `…`,
/// never inside an `&…;` escape.
pub fn fit(text: &str, max: usize) -> String {
    if text.chars().count() <= max {
        return text.to_owned();
    }
    let mut cut: String = text.chars().take(max.saturating_sub(1)).collect();
    if let Some(amp) = cut.rfind('&') {
        if !cut[amp..].contains(';') {
            cut.truncate(amp);
        }
    }
    cut.push('…');
    cut
}

/// As many whole `items` (of `total`) as fit in `max` characters, joined
/// by commas, and `…and N more` for the rest: a link is never cut in half
/// and the count of what is left out always shows.
pub fn whole_items(items: &[String], total: usize, max: usize) -> String {
    let mut out = String::new();
    let mut used = 0;
    for (shown, item) in items.iter().enumerate() {
        let rest = total.saturating_sub(shown + 1);
        let tail = if rest > 0 {
            format!("\n…and {rest} more").chars().count()
        } else {
            0
        };
        let sep = if shown == 0 { 0 } else { 2 };
        let len = item.chars().count();
        if used + sep + len + tail > max {
            let left = total.saturating_sub(shown);
            out.push_str(&format!("\n…and {left} more"));
            return out;
        }
        if shown > 0 {
            out.push_str(", ");
        }
        out.push_str(item);
        used += sep + len;
    }
    let left = total.saturating_sub(items.len());
    if left > 0 {
        out.push_str(&format!("\n…and {left} more"));
    }
    out
}

/// The key diagnoses are grouped by: one message per distinct value.
pub type GroupKey = (Cause, Option<PrincipalArn>, Option<KeyArn>);

/// The group a diagnosis belongs to.
pub fn group_key(d: &Diagnosis) -> GroupKey {
    (d.cause, d.principal_arn.clone(), d.kms_key_arn.clone())
}

/// Groups diagnoses by (cause, principal, key), each group ordered by
/// instance id.
pub fn group(diagnoses: &[Diagnosis]) -> Vec<Vec<&Diagnosis>> {
    let mut groups: BTreeMap<GroupKey, Vec<&Diagnosis>> = BTreeMap::new();
    for d in diagnoses {
        groups.entry(group_key(d)).or_default().push(d);
    }
    groups
        .into_values()
        .map(|mut g| {
            g.sort_by(|a, b| a.instance_id.cmp(&b.instance_id));
            g
        })
        .collect()
}

/// A mrkdwn link to `url` labelled `label`, or the label as code when there
/// is no URL.
fn link(url: Option<String>, label: &str) -> String {
    match url {
        Some(url) => format!("<{url}|{}>", escape(label)),
        None => code(label),
    }
}

fn instance_link(id: &InstanceId, region: Option<&str>) -> String {
    link(console::instance(region, id), id.as_str())
}

fn key_link(key: &KeyArn) -> String {
    link(console::key(key), key.as_str())
}

fn event_link(region: Option<&str>, event_id: &str) -> String {
    link(console::event(region, event_id), event_id)
}

/// A link to an OpsCenter OpsItem in the Systems Manager console.
pub fn ops_item_link(region: Option<&str>, ops_item: &str) -> String {
    format!(
        "OpsItem {}",
        link(console::ops_item(region, ops_item), ops_item)
    )
}

fn section(text: String) -> Value {
    json!({ "type": "section", "text": mrkdwn(fit(&text, SECTION_MAX)) })
}

fn field(label: &str, value: String) -> Value {
    mrkdwn(fit(&format!("*{label}*\n{value}"), FIELD_MAX))
}

/// A mrkdwn text object. `verbatim` stops Slack from linking URLs, bare
/// domains and channel names or parsing mentions in the text itself; the
/// links this module writes as `<url|label>` still work.
fn mrkdwn(text: String) -> Value {
    json!({ "type": "mrkdwn", "text": text, "verbatim": true })
}

/// The Block Kit message for one group of diagnoses (see [`group`]): a
/// JSON object with `text` (the notification fallback) and `blocks`.
pub fn message(group: &[&Diagnosis]) -> Value {
    let Some(first) = group.first() else {
        return json!({ "text": "start-doctor: nothing to report", "blocks": [] });
    };
    let instances: Vec<InstanceId> = group.iter().map(|d| d.instance_id.clone()).collect();
    let mut volumes: Vec<VolumeId> = group
        .iter()
        .flat_map(|d| d.volume_ids.iter().cloned())
        .collect();
    volumes.sort();
    volumes.dedup();
    group_message(first, &instances, &volumes)
}

/// The Block Kit message for a group shown by its first diagnosis, with
/// every instance and volume of the group listed (the first
/// [`LISTED_INSTANCES`] of each, then a count).
pub fn group_message(first: &Diagnosis, instances: &[InstanceId], volumes: &[VolumeId]) -> Value {
    let count = instances.len().max(1);
    let region = first.region.as_deref();
    let title = first.cause.title();
    let header = if count == 1 {
        format!("EC2 start failed: {} ({title})", first.instance_id)
    } else {
        format!("{count} EC2 instances failed to start ({title})")
    };
    let fallback = if count == 1 {
        escape(&first.summary)
    } else {
        format!(
            "{count} instances failed to start: {}",
            escape(&first.summary)
        )
    };

    let mut blocks = vec![
        json!({ "type": "header", "text": { "type": "plain_text", "text": fit(&header, HEADER_MAX), "emoji": true } }),
        section(escape(&first.summary)),
    ];

    let mut fields = Vec::new();
    if count == 1 {
        let name = first
            .instance_name
            .as_deref()
            .map(|n| format!(" ({})", code(n)))
            .unwrap_or_default();
        fields.push(field(
            "Instance",
            format!("{}{name}", instance_link(&first.instance_id, region)),
        ));
    } else {
        let label = format!("Instances ({count})");
        let links: Vec<String> = instances
            .iter()
            .take(LISTED_INSTANCES)
            .map(|i| instance_link(i, region))
            .collect();
        // The label and its newline come first in the field.
        let room = FIELD_MAX.saturating_sub(label.chars().count() + 3);
        fields.push(field(&label, whole_items(&links, count, room)));
    }
    let place = [first.account.as_deref(), first.region.as_deref()]
        .into_iter()
        .flatten()
        .map(escape)
        .collect::<Vec<_>>()
        .join(" / ");
    if !place.is_empty() {
        fields.push(field("Account / region", place));
    }
    if let Some(p) = &first.principal_arn {
        fields.push(field("Started by", code(p.as_str())));
    }
    match first.kms_key_arns.as_slice() {
        [] => {}
        [k] => fields.push(field("KMS key", key_link(k))),
        keys => fields.push(field(
            "KMS keys",
            keys.iter().map(key_link).collect::<Vec<_>>().join("\n"),
        )),
    }
    if !volumes.is_empty() {
        let shown: Vec<&str> = volumes
            .iter()
            .take(LISTED_INSTANCES)
            .map(VolumeId::as_str)
            .collect();
        let more = volumes.len().saturating_sub(shown.len());
        let tail = if more > 0 {
            format!(" …and {more} more")
        } else {
            String::new()
        };
        fields.push(field("Volumes", format!("{}{tail}", shown.join(", "))));
    }
    if let Some(state) = &first.state_reason_code {
        fields.push(field("State reason", code(state)));
    }
    blocks.push(json!({ "type": "section", "fields": fields }));

    if let Some(err) = &first.kms_error {
        blocks.push(section(format!(
            "*KMS said* ({} {}):\n>{}",
            escape(&err.api),
            escape(&err.code),
            escape(&err.message)
        )));
    }

    let steps: Vec<String> = first
        .remediation
        .steps
        .iter()
        .enumerate()
        .map(|(n, s)| format!("{}. {}", n + 1, escape(s)))
        .collect();
    blocks.push(section(format!("*Fix*\n{}", steps.join("\n"))));

    if let Some(policy) = &first.remediation.policy {
        let pretty = serde_json::to_string_pretty(policy).unwrap_or_default();
        let target = first.remediation.attach_to.as_ref().map_or_else(
            || "Key policy statement".to_owned(),
            |p| format!("Policy for {}", code(p.as_str())),
        );
        let body = fit(
            &code_block(&pretty),
            SECTION_MAX - target.chars().count() - 12,
        );
        blocks.push(section(format!("*{target}*\n```{body}```")));
    }

    let mut context: Vec<String> = Vec::new();
    if let Some(at) = first.failed_at {
        context.push(format!("Failed at {}", at.format("%Y-%m-%d %H:%M:%S UTC")));
    }
    let evidence: Vec<String> = first
        .evidence_event_ids
        .iter()
        .take(10)
        .map(|id| event_link(region, id))
        .collect();
    if !evidence.is_empty() {
        context.push(format!("Evidence: {}", evidence.join(", ")));
    }
    context.push(format!("start-doctor · cause `{}`", first.cause));
    blocks.push(json!({
        "type": "context",
        "elements": [mrkdwn(fit(&context.join(" · "), CONTEXT_MAX))]
    }));

    json!({ "text": fit(&fallback, SECTION_MAX), "blocks": blocks })
}

/// The message of a live storm group: [`group_message`], plus a link to
/// the group's OpsItem when there is one.
pub fn group_notice(
    first: &Diagnosis,
    instances: &[InstanceId],
    volumes: &[VolumeId],
    ops_item: Option<&str>,
) -> Value {
    let mut message = group_message(first, instances, volumes);
    if let (Some(id), Some(blocks)) = (ops_item, message["blocks"].as_array_mut()) {
        blocks.push(json!({
            "type": "context",
            "elements": [mrkdwn(fit(&ops_item_link(first.region.as_deref(), id), CONTEXT_MAX))]
        }));
    }
    message
}

/// A thread reply carrying one mrkdwn text (already escaped).
fn reply(text: &str) -> Value {
    let text = fit(text, SECTION_MAX);
    json!({
        "text": text,
        "blocks": [{ "type": "section", "text": mrkdwn(text) }]
    })
}

/// The thread reply that announces a cause found after the first post.
pub fn cause_found_reply(d: &Diagnosis) -> Value {
    reply(&format!(
        "Cause found: {} (`{}`). The message above now shows the fix.",
        escape(&d.summary),
        d.cause
    ))
}

/// The thread reply that says an instance that had recovered failed to
/// start again.
pub fn failed_again_reply(d: &Diagnosis) -> Value {
    reply(&format!(
        "{} failed to start again{} (`{}`). The message above lists it again.",
        d.instance_id,
        d.failed_at
            .map(|t| format!(" at {}", t.format("%Y-%m-%d %H:%M:%S UTC")))
            .unwrap_or_default(),
        d.cause
    ))
}

/// The thread reply that says an instance runs again; `all` when every
/// instance of the message has.
pub fn recovered_reply(instance: &InstanceId, since: DateTime<Utc>, all: bool) -> Value {
    reply(&format!(
        "{instance} is running again (since {}).{}",
        since.format("%Y-%m-%d %H:%M:%S UTC"),
        if all {
            " Every instance of this failure has recovered."
        } else {
            ""
        }
    ))
}

/// The preflight message of one failing group (see
/// [`crate::preflight::scope::failing_groups`]): the instances `principal`
/// will not be able to start because of `key`, and the fix.
pub fn preflight_message(
    (principal, key, cause): &crate::preflight::scope::GroupKey,
    group: &crate::preflight::scope::FailingGroup,
) -> Value {
    let count = group.instances.len();
    let region = group.place.1.as_deref();
    let header = format!(
        "Preflight: {count} EC2 instance{} will fail to start ({})",
        if count == 1 { "" } else { "s" },
        cause.title()
    );
    let listed: Vec<String> = group
        .instances
        .iter()
        .take(LISTED_INSTANCES)
        .map(|i| instance_link(i, region))
        .collect();
    let more = count.saturating_sub(LISTED_INSTANCES);
    let tail = if more > 0 {
        format!("\n…and {more} more")
    } else {
        String::new()
    };
    let mut blocks = vec![
        json!({ "type": "header", "text": { "type": "plain_text", "text": fit(&header, HEADER_MAX), "emoji": true } }),
        section(escape(&format!(
            "The next start by {principal} will fail: {}",
            group
                .reasons
                .first()
                .map_or("the key refuses the grant EC2 makes", String::as_str)
        ))),
        json!({ "type": "section", "fields": [
            field(&format!("Instances ({count})"), format!("{}{tail}", listed.join(", "))),
            field("Started by", format!("`{}`", escape(principal.as_str()))),
            field("KMS key", key_link(key)),
        ]}),
    ];
    if let Some(remediation) = &group.remediation {
        let steps: Vec<String> = remediation
            .steps
            .iter()
            .enumerate()
            .map(|(n, s)| format!("{}. {}", n + 1, escape(s)))
            .collect();
        blocks.push(section(format!("*Fix*\n{}", steps.join("\n"))));
    }
    blocks.push(json!({
        "type": "context",
        "elements": [{ "type": "mrkdwn", "text": format!("start-doctor preflight · cause `{cause}`") }]
    }));
    json!({ "text": fit(&escape(&header), SECTION_MAX), "blocks": blocks })
}

/// The preflight message of a group that no longer fails: what it listed,
/// marked as fixed.
pub fn preflight_fixed_message(
    (principal, key, cause): &crate::preflight::scope::GroupKey,
    instances: &[InstanceId],
) -> Value {
    let header = format!("Preflight: fixed ({})", cause.title());
    let listed: Vec<&str> = instances
        .iter()
        .take(LISTED_INSTANCES)
        .map(InstanceId::as_str)
        .collect();
    let text = format!(
        "{} by `{}` on {} no longer fail{}: {}",
        if instances.len() == 1 {
            "The instance started"
        } else {
            "The instances started"
        },
        escape(principal.as_str()),
        key_link(key),
        if instances.len() == 1 { "s" } else { "" },
        listed.join(", ")
    );
    json!({
        "text": fit(&escape(&header), SECTION_MAX),
        "blocks": [
            { "type": "header", "text": { "type": "plain_text", "text": fit(&header, HEADER_MAX), "emoji": true } },
            section(text),
        ]
    })
}

/// The thread reply of a preflight group whose instances now pass.
pub fn preflight_passed_reply(instances: &[InstanceId]) -> Value {
    let listed: Vec<&str> = instances.iter().map(InstanceId::as_str).collect();
    reply(&format!(
        "Fixed: {} now pass{} preflight: {}.",
        if instances.len() == 1 {
            "the instance"
        } else {
            "the instances"
        },
        if instances.len() == 1 { "es" } else { "" },
        listed.join(", ")
    ))
}
