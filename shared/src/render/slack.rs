//! Slack Block Kit messages.
//!
//! One message per group of diagnoses that share (cause, principal, key):
//! a storm of 200 instances failing for one missing grant is one message
//! listing them. Every untrusted string (names, ids from events, AWS error
//! messages) is escaped (`&`, `<`, `>`) before it reaches mrkdwn, and every
//! text is cut to Slack's limits (header 150, section 3000, field 2000,
//! 50 blocks, 10 fields per section).

use std::collections::BTreeMap;

use serde_json::{json, Value};

use crate::diagnosis::{Cause, Diagnosis};
use crate::ids::{InstanceId, KeyArn, PrincipalArn, VolumeId};

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

/// Escapes the three characters Slack's mrkdwn treats as control.
pub fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
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

/// A short title for a cause, for headers.
pub fn cause_title(cause: Cause) -> &'static str {
    match cause {
        Cause::KmsIdentityPolicyMissing => "KMS grant denied: identity policy missing",
        Cause::KmsKeyPolicyMissing => "KMS grant denied: key policy missing",
        Cause::KmsExplicitDeny => "KMS grant denied: explicit deny",
        Cause::KmsAccessDenied => "KMS access denied",
        Cause::KmsKeyDisabled => "KMS key disabled",
        Cause::KmsKeyPendingDeletion => "KMS key pending deletion",
        Cause::KmsKeyNotFound => "KMS key not found",
        Cause::InsufficientCapacity => "insufficient capacity",
        Cause::VolumeLimitExceeded => "EBS volume limit exceeded",
        Cause::SnapshotNotFound => "snapshot not found",
        Cause::InternalErrorUnexplained => "internal error, cause unknown",
    }
}

/// Whether `region` is safe to put in a console URL.
fn url_safe_region(region: &str) -> bool {
    !region.is_empty()
        && region
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
}

fn instance_link(id: &InstanceId, region: Option<&str>) -> String {
    match region.filter(|r| url_safe_region(r)) {
        Some(r) => format!("<https://{r}.console.aws.amazon.com/ec2/home?region={r}#InstanceDetails:instanceId={id}|{id}>"),
        None => format!("`{id}`"),
    }
}

fn key_link(key: &KeyArn) -> String {
    let r = key.region();
    let id = key.key_id();
    if url_safe_region(r) && id.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-') {
        format!(
            "<https://{r}.console.aws.amazon.com/kms/home?region={r}#/kms/keys/{id}|{}>",
            escape(key.as_str())
        )
    } else {
        format!("`{}`", escape(key.as_str()))
    }
}

fn event_link(region: Option<&str>, event_id: &str) -> String {
    let safe_id = event_id
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || b == b'-');
    match region.filter(|r| url_safe_region(r)) {
        Some(r) if safe_id => format!("<https://{r}.console.aws.amazon.com/cloudtrailv2/home?region={r}#/events/{event_id}|{event_id}>"),
        _ => format!("`{}`", escape(event_id)),
    }
}

/// A link to an OpsCenter OpsItem in the Systems Manager console.
pub fn ops_item_link(region: Option<&str>, ops_item: &str) -> String {
    let safe = !ops_item.is_empty()
        && ops_item
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-');
    match region.filter(|r| url_safe_region(r)) {
        Some(r) if safe => format!(
            "OpsItem <https://{r}.console.aws.amazon.com/systems-manager/opsitems/{ops_item}?region={r}|{ops_item}>"
        ),
        _ => format!("OpsItem `{}`", escape(ops_item)),
    }
}

fn section(text: String) -> Value {
    json!({ "type": "section", "text": { "type": "mrkdwn", "text": fit(&text, SECTION_MAX) } })
}

fn field(label: &str, value: String) -> Value {
    json!({ "type": "mrkdwn", "text": fit(&format!("*{label}*\n{value}"), FIELD_MAX) })
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
    let title = cause_title(first.cause);
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
            .map(|n| format!(" ({})", escape(n)))
            .unwrap_or_default();
        fields.push(field(
            "Instance",
            format!("{}{name}", instance_link(&first.instance_id, region)),
        ));
    } else {
        let listed: Vec<String> = instances
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
        fields.push(field(
            &format!("Instances ({count})"),
            format!("{}{tail}", listed.join(", ")),
        ));
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
        fields.push(field("Started by", format!("`{}`", escape(p.as_str()))));
    }
    if let Some(k) = &first.kms_key_arn {
        fields.push(field("KMS key", key_link(k)));
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
    if let Some(code) = &first.state_reason_code {
        fields.push(field("State reason", format!("`{}`", escape(code))));
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
            |p| format!("Policy for `{}`", escape(p.as_str())),
        );
        let body = fit(&escape(&pretty), SECTION_MAX - target.len() - 12);
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
        "elements": [{ "type": "mrkdwn", "text": fit(&context.join(" · "), CONTEXT_MAX) }]
    }));

    json!({ "text": fit(&fallback, SECTION_MAX), "blocks": blocks })
}
