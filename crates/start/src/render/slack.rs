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

use crate::diagnosis::{Diagnosis, GroupKey};
use crate::ids::KeyArn;
use start_doctor_core::console;
use start_doctor_core::ids::{InstanceId, Region, VolumeId};
use start_doctor_core::slack::{
    code, code_block, escape, field, fit, id_sections, link, mrkdwn, reply, section, whole_items,
    BLOCKS_MAX, CONTEXT_MAX, FIELD_MAX, HEADER_MAX, SECTION_MAX,
};

/// How many instance ids a storm message lists.
pub const LISTED_INSTANCES: usize = 20;

/// Groups diagnoses by [`Diagnosis::group_key`], each group ordered by
/// instance id.
pub fn group(diagnoses: &[Diagnosis]) -> Vec<Vec<&Diagnosis>> {
    let mut groups: BTreeMap<GroupKey, Vec<&Diagnosis>> = BTreeMap::new();
    for d in diagnoses {
        groups.entry(d.group_key()).or_default().push(d);
    }
    groups
        .into_values()
        .map(|mut g| {
            g.sort_by(|a, b| a.instance_id.cmp(&b.instance_id));
            g
        })
        .collect()
}

fn instance_link(id: &InstanceId, region: Option<&Region>) -> String {
    link(console::instance(region, id), id.as_str())
}

fn key_link(key: &KeyArn) -> String {
    let url = Region::parse(key.region()).and_then(|r| console::kms_key(&r, key.key_id()));
    link(url, key.as_str())
}

fn event_link(region: Option<&Region>, event_id: &str) -> String {
    link(console::cloudtrail_event(region, event_id), event_id)
}

/// A link to an OpsCenter OpsItem in the Systems Manager console.
pub fn ops_item_link(region: Option<&Region>, ops_item: &str) -> String {
    format!(
        "OpsItem {}",
        link(console::ops_item(region, ops_item), ops_item)
    )
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
    let region = first.region.as_ref();
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
/// the group's OpsItem when there is one. With `name_all` (a message that
/// can never be updated: a webhook), every instance is named, in sections
/// of plain ids after the linked ones.
pub fn group_notice(
    first: &Diagnosis,
    instances: &[InstanceId],
    volumes: &[VolumeId],
    ops_item: Option<&str>,
    name_all: bool,
) -> Value {
    let mut message = group_message(first, instances, volumes);
    if let Some(blocks) = message["blocks"].as_array_mut() {
        if name_all && instances.len() > 1 {
            let ids: Vec<&str> = instances.iter().map(InstanceId::as_str).collect();
            let room = BLOCKS_MAX.saturating_sub(blocks.len() + 1);
            blocks.extend(id_sections("Every instance", &ids, room));
        }
        if let Some(id) = ops_item {
            blocks.push(json!({
                "type": "context",
                "elements": [mrkdwn(fit(&ops_item_link(first.region.as_ref(), id), CONTEXT_MAX))]
            }));
        }
    }
    message
}

/// A follow-up for a group whose message cannot be updated (a webhook):
/// the instances that failed for the same cause since it was posted, every
/// one named.
pub fn more_instances(first: &Diagnosis, instances: &[InstanceId]) -> Value {
    let n = instances.len();
    let text = format!(
        "{n} more instance{} failed to start for the same cause ({}): {}",
        if n == 1 { "" } else { "s" },
        first.cause.title(),
        escape(&first.summary)
    );
    let ids: Vec<&str> = instances.iter().map(InstanceId::as_str).collect();
    let mut blocks = vec![section(text.clone())];
    blocks.extend(id_sections("Instances", &ids, BLOCKS_MAX - 2));
    blocks.push(json!({
        "type": "context",
        "elements": [mrkdwn(format!("start-doctor · cause `{}`", first.cause))]
    }));
    json!({ "text": fit(&text, SECTION_MAX), "blocks": blocks })
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

/// The thread reply that says instances run again; `all` when every
/// instance of the message has.
pub fn recovered_reply(instances: &[InstanceId], since: DateTime<Utc>, all: bool) -> Value {
    let ids: Vec<&str> = instances.iter().map(InstanceId::as_str).collect();
    reply(&format!(
        "{} {} running again (since {}).{}",
        ids.join(", "),
        if ids.len() == 1 { "is" } else { "are" },
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
    name_all: bool,
) -> Value {
    let count = group.instances.len();
    let region = group.place.1.as_ref();
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
    if name_all && count > 1 {
        let ids: Vec<&str> = group.instances.iter().map(InstanceId::as_str).collect();
        let room = BLOCKS_MAX.saturating_sub(blocks.len() + 1);
        blocks.extend(id_sections("Every instance", &ids, room));
    }
    blocks.push(json!({
        "type": "context",
        "elements": [{ "type": "mrkdwn", "text": format!("start-doctor preflight · cause `{cause}`") }]
    }));
    json!({ "text": fit(&escape(&header), SECTION_MAX), "blocks": blocks })
}

/// A preflight follow-up for a group whose message cannot be updated (a
/// webhook): the instances that will now fail for the same cause too, every
/// one named.
pub fn preflight_more(
    (principal, key, cause): &crate::preflight::scope::GroupKey,
    instances: &[InstanceId],
) -> Value {
    let n = instances.len();
    let text = format!(
        "Preflight: {n} more EC2 instance{} will fail to start when {} starts {} ({})",
        if n == 1 { "" } else { "s" },
        code(principal.as_str()),
        if n == 1 { "it" } else { "them" },
        cause.title()
    );
    let ids: Vec<&str> = instances.iter().map(InstanceId::as_str).collect();
    let mut blocks = vec![section(text.clone())];
    blocks.extend(id_sections("Instances", &ids, BLOCKS_MAX - 2));
    blocks.push(json!({
        "type": "context",
        "elements": [mrkdwn(format!("start-doctor preflight · key {} · cause `{cause}`", key_link(key)))]
    }));
    json!({ "text": fit(&text, SECTION_MAX), "blocks": blocks })
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
