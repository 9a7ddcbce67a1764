//! Slack Block Kit messages for findings: one message per finding (the
//! live path announces one per (instance, cause)), and the thread reply
//! that says it cleared. Untrusted text (the instance's Name tag, device
//! names, alarm names in the evidence) goes through the project's Slack
//! escaping, every text through its limits (header 150, section 3,000,
//! field 2,000 characters, 10 fields per section).

use chrono::{DateTime, Utc};
use serde_json::{json, Value};
use start_doctor_core::render::slack::{code, escape, fit, FIELD_MAX, HEADER_MAX, SECTION_MAX};

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

fn mrkdwn(text: String) -> Value {
    json!({ "type": "mrkdwn", "text": text, "verbatim": true })
}

fn section(text: String) -> Value {
    json!({ "type": "section", "text": mrkdwn(fit(&text, SECTION_MAX)) })
}

fn field(label: &str, value: String) -> Value {
    mrkdwn(fit(&format!("*{label}*\n{value}"), FIELD_MAX))
}

fn instance_link(f: &Finding) -> String {
    match start_doctor_core::console::instance(f.region.as_deref(), &f.instance_id) {
        Some(url) => format!("<{url}|{}>", f.instance_id),
        None => f.instance_id.to_string(),
    }
}

/// The message for one finding: a JSON object with `text` (the
/// notification fallback) and `blocks`.
pub fn message(f: &Finding) -> Value {
    let header = format!("EBS: {} on {}", title(f.cause), f.instance_id);
    let mut blocks = vec![
        json!({ "type": "header", "text": { "type": "plain_text", "text": fit(&header, HEADER_MAX), "emoji": true } }),
        section(escape(&f.summary)),
    ];
    let mut fields = Vec::new();
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
    fields.push(field(
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
        fields.push(field("Account / region", place));
    }
    fields.push(field("Cause", format!("`{}`", f.cause.as_str())));
    if !f.volume_ids.is_empty() {
        let shown: Vec<&str> = f.volume_ids.iter().take(20).map(|v| v.as_str()).collect();
        let more = f.volume_ids.len().saturating_sub(shown.len());
        let tail = if more > 0 {
            format!(" …and {more} more")
        } else {
            String::new()
        };
        fields.push(field("Volumes", format!("{}{tail}", shown.join(", "))));
    }
    if let Some(w) = f.window {
        fields.push(field(
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
        fields.push(field(
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
        fields.push(field(label, rate(f.limit.iops, f.limit.throughput_mibps)));
    }
    if let Some(l) = f.read_latency_ms {
        fields.push(field("Read latency", format!("{l:.1} ms")));
    }
    fields.truncate(10);
    blocks.push(json!({ "type": "section", "fields": fields }));

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
        blocks.push(section(format!("*Missing*\n{}", missing.join("\n"))));
    }
    let steps: Vec<String> = f
        .remediation
        .steps
        .iter()
        .enumerate()
        .map(|(n, s)| format!("{}. {}", n + 1, escape(s)))
        .collect();
    blocks.push(section(format!(
        "*Fix* (`{}`)\n{}",
        f.remediation.kind.as_str(),
        steps.join("\n")
    )));
    if !f.remediation.commands.is_empty() {
        let commands: Vec<String> = f.remediation.commands.iter().map(|c| code(c)).collect();
        blocks.push(section(format!("*Commands*\n{}", commands.join("\n"))));
    }
    let mut context = vec![format!(
        "start-doctor ebs · {} evidence lines",
        f.evidence.len()
    )];
    if !f.contributing.is_empty() {
        context.push(format!(
            "also seen: {}",
            f.contributing
                .iter()
                .map(|c| format!("`{}`", c.as_str()))
                .collect::<Vec<_>>()
                .join(", ")
        ));
    }
    blocks.push(json!({
        "type": "context",
        "elements": [mrkdwn(fit(&context.join(" · "), FIELD_MAX))]
    }));
    json!({ "text": fit(&escape(&f.summary), SECTION_MAX), "blocks": blocks })
}

/// The thread reply that says the finding cleared: the instance is no
/// longer held by that cause since `since`.
pub fn resolved_reply(f: &Finding, since: DateTime<Utc>) -> Value {
    let text = fit(
        &format!(
            "Resolved: {} is no longer held by {} (`{}`) since {}.",
            f.instance_id,
            title(f.cause),
            f.cause.as_str(),
            since.format("%Y-%m-%d %H:%M UTC")
        ),
        SECTION_MAX,
    );
    json!({
        "text": text,
        "blocks": [{ "type": "section", "text": mrkdwn(text) }]
    })
}
