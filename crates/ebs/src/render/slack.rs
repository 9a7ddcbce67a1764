//! Slack Block Kit messages for findings: one message per finding (the
//! live path announces one per (instance, cause)), and the thread reply
//! that says it cleared. Untrusted text (the instance's Name tag, device
//! names, alarm names in the evidence) goes through the project's Slack
//! escaping, every text through its limits (header 150, section 3,000,
//! field 2,000 characters, 10 fields per section).

use chrono::{DateTime, Utc};
use serde_json::Value;
use start_doctor_core::slack::{
    code, context, escape, field, fields, fit, header, link, message as slack_message, reply,
    section, whole_items, FIELD_MAX, SECTION_MAX,
};

use crate::finding::{Cause, Finding};
use crate::limits::LimitSource;
use crate::rules::{format_rate, thousands};

/// The title of a cause, for a header.
pub fn title(cause: Cause) -> &'static str {
    match cause {
        Cause::VolumeIopsLimit => "volume IOPS limit",
        Cause::VolumeThroughputLimit => "volume throughput limit",
        Cause::VolumeBurstExhausted => "volume burst credits spent",
        Cause::InstanceEbsIopsLimit => "instance EBS IOPS limit",
        Cause::InstanceEbsThroughputLimit => "instance EBS throughput limit",
        Cause::InstanceEbsBurstExhausted => "instance EBS burst spent",
        Cause::VolumeInitializing => "volume still initializing from its snapshot",
        Cause::VolumeIoStalled => "volume I/O stalled",
        Cause::NotEbsBound => "not held by EBS",
        Cause::InsufficientData => "not enough evidence",
    }
}

fn instance_link(f: &Finding) -> String {
    link(
        start_doctor_core::console::instance(f.region.as_ref(), &f.instance_id),
        f.instance_id.as_str(),
    )
}

/// The message for one finding: a JSON object with `text` (the
/// notification fallback) and `blocks`.
pub fn message(f: &Finding) -> Value {
    render(f, false)
}

/// The live path's message once the finding has cleared: the same facts
/// (the last seen while it lasted) under a header and a first line that
/// say it is over, so that the channel shows at a glance what is still
/// open.
pub fn cleared_message(f: &Finding) -> Value {
    render(f, true)
}

fn render(f: &Finding, cleared: bool) -> Value {
    let mut blocks = if cleared {
        vec![
            header(&format!(
                "Resolved: EBS {} on {}",
                title(f.cause),
                f.instance_id
            )),
            context(&format!(
                ":white_check_mark: No longer at this limit. What it was, as last seen: {}",
                escape(&f.summary)
            )),
        ]
    } else {
        vec![
            header(&format!("EBS: {} on {}", title(f.cause), f.instance_id)),
            section(escape(&f.summary)),
        ]
    };
    let mut list = Vec::new();
    let name = f
        .name
        .as_deref()
        .map(|n| format!(" ({})", code(n)))
        .unwrap_or_default();
    let kind = f
        .instance_type
        .as_ref()
        .map(|t| format!(" · {}", code(t.as_str())))
        .unwrap_or_default();
    list.push(field(
        "Instance",
        format!("{}{name}{kind}", instance_link(f)),
    ));
    let place = [f.account.as_deref(), f.region.as_deref()]
        .into_iter()
        .flatten()
        .map(escape)
        .collect::<Vec<_>>()
        .join(" / ");
    if !place.is_empty() {
        list.push(field("Account / region", place));
    }
    list.push(field("Cause", format!("`{}`", f.cause.as_str())));
    if !f.volume_ids.is_empty() {
        let ids: Vec<String> = f.volume_ids.iter().map(|v| v.as_str().to_owned()).collect();
        // Whole ids only, and the count of those left out: the label and
        // its newline take the rest of the field's limit.
        let room = FIELD_MAX - "*Volumes*\n".len();
        list.push(field("Volumes", whole_items(&ids, ids.len(), room)));
    }
    if let Some(w) = f.window {
        list.push(field(
            "Window (UTC)",
            format!(
                "{} to {}\n{} minutes",
                w.from.format("%Y-%m-%d %H:%M"),
                w.to.format("%H:%M"),
                f.minutes_at_limit
            ),
        ));
    }
    let rate = |iops: Option<f64>, mibps: Option<f64>| {
        format!(
            "{} · {}",
            iops.map_or("? IOPS".to_owned(), |i| format!("{} IOPS", thousands(i))),
            mibps.map_or("? MiB/s".to_owned(), |t| format_rate(
                t,
                crate::limits::Dimension::Throughput
            ))
        )
    };
    if f.peak_demand.iops.is_some() || f.peak_demand.throughput_mibps.is_some() {
        list.push(field(
            "Peak demand",
            rate(f.peak_demand.iops, f.peak_demand.throughput_mibps),
        ));
    }
    if let Some(source) = f.limit.source {
        let label = match source {
            LimitSource::Volume => "Limit (volume)",
            LimitSource::VolumeBurstBaseline => "Limit (volume burst baseline)",
            LimitSource::InstanceMaximum => "Limit (instance maximum)",
            LimitSource::InstanceBaseline => "Limit (instance baseline)",
        };
        list.push(field(label, rate(f.limit.iops, f.limit.throughput_mibps)));
    }
    if let Some(l) = f.read_latency_ms {
        list.push(field("Read latency", format!("{l:.1} ms")));
    }
    blocks.push(fields(list));

    let chart = super::chart::rows(&f.chart);
    if !chart.is_empty() {
        // The chart holds only our own characters (digits, block
        // elements, fixed words): nothing to escape.
        blocks.push(section(format!("```{}```", chart.join("\n"))));
    }
    if !f.missing.is_empty() {
        let missing: Vec<String> = f
            .missing
            .iter()
            .map(|m| format!("• {}", escape(m)))
            .collect();
        blocks.extend(line_sections("*Missing*", &missing));
    }
    let steps: Vec<String> = f
        .remediation
        .steps
        .iter()
        .enumerate()
        .map(|(n, s)| format!("{}. {}", n + 1, escape(s)))
        .collect();
    blocks.extend(line_sections(
        &format!("*Fix* (`{}`)", f.remediation.kind.as_str()),
        &steps,
    ));
    if !f.remediation.commands.is_empty() {
        // A command is cut before it becomes code, so that a cut never
        // leaves a code span open.
        let commands: Vec<String> = f
            .remediation
            .commands
            .iter()
            .map(|c| code(&fit(c, LINE_MAX / 2)))
            .collect();
        blocks.extend(line_sections("*Commands*", &commands));
    }
    let mut notes = vec![format!(
        "start-doctor ebs · {} evidence lines",
        f.evidence.len()
    )];
    if !f.contributing.is_empty() {
        notes.push(format!(
            "also seen: {}",
            f.contributing
                .iter()
                .map(|c| format!("`{}`", c.as_str()))
                .collect::<Vec<_>>()
                .join(", ")
        ));
    }
    blocks.push(context(&notes.join(" · ")));
    let fallback = if cleared {
        format!("Resolved: {}", escape(&f.summary))
    } else {
        escape(&f.summary)
    };
    slack_message(&fallback, blocks)
}

/// Room left in a section for the `…and N more` line.
const LINE_MAX: usize = SECTION_MAX - 40;

/// Sections a list may take (the message has at most 50 blocks; the
/// others take under ten).
const LIST_SECTIONS_MAX: usize = 8;

/// `lines` (already escaped) under `title`, whole lines packed into as few
/// sections as Slack's limit allows, at most [`LIST_SECTIONS_MAX`]; the
/// last says how many lines did not fit. A line longer than a section is
/// cut on its own.
fn line_sections(title: &str, lines: &[String]) -> Vec<Value> {
    let mut sections = vec![title.to_owned()];
    let mut shown = 0;
    for line in lines {
        let line = fit(line, LINE_MAX);
        let Some(current) = sections.last_mut() else {
            break;
        };
        if current.chars().count() + 1 + line.chars().count() > LINE_MAX {
            if sections.len() == LIST_SECTIONS_MAX {
                break;
            }
            sections.push(String::new());
        }
        if let Some(current) = sections.last_mut() {
            if !current.is_empty() {
                current.push('\n');
            }
            current.push_str(&line);
        }
        shown += 1;
    }
    let left = lines.len() - shown;
    if left > 0 {
        if let Some(last) = sections.last_mut() {
            last.push_str(&format!("\n…and {left} more"));
        }
    }
    sections.into_iter().map(section).collect()
}

/// The thread reply that says the finding cleared: the instance is no
/// longer held by that cause since `since`.
pub fn resolved_reply(f: &Finding, since: DateTime<Utc>) -> Value {
    reply(&format!(
        "Resolved: {} is no longer held by {} (`{}`) since {}.",
        f.instance_id,
        title(f.cause),
        f.cause.as_str(),
        since.format("%Y-%m-%d %H:%M UTC")
    ))
}

/// The thread reply when a finding that had cleared comes back (the
/// message above shows it open again).
pub fn again_reply(f: &Finding) -> Value {
    reply(&format!(
        "{} is at the {} (`{}`) again: {}",
        f.instance_id,
        title(f.cause),
        f.cause.as_str(),
        escape(&f.summary)
    ))
}

/// A top-level follow-up for a webhook (a message that cannot be
/// updated): these instances are at the same limit.
pub fn follow_up(f: &Finding, instances: &[String]) -> Value {
    let room = SECTION_MAX - 80;
    reply(&format!(
        "EBS {} (`{}`) also on: {}",
        title(f.cause),
        f.cause.as_str(),
        whole_items(instances, instances.len(), room)
    ))
}
