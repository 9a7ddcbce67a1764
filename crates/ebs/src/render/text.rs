//! The findings for people: per instance the cause and the sentence that
//! explains it, the numbers, demand against the ceiling at a glance, then
//! the fix and the evidence. Every line goes through the project's
//! untrusted-text cleaner (names and devices come from the account).

use std::fmt::Write;

use start_doctor_core::text::one_line;

use crate::finding::{Cause, Finding};
use crate::limits::LimitSource;
use crate::rules::{format_rate, thousands};

/// Renders every finding.
pub fn render(findings: &[Finding]) -> String {
    if findings.is_empty() {
        return "No instance to examine: give describe-instances (or describe-volumes) output and the \
                instances' and volumes' CloudWatch metrics; `start-doctor ebs query` writes the \
                get-metric-data request.\n"
            .to_owned();
    }
    let mut out = String::new();
    for (n, f) in findings.iter().enumerate() {
        if n > 0 {
            out.push('\n');
        }
        finding(&mut out, f);
    }
    out
}

fn finding(out: &mut String, f: &Finding) {
    let mut head = format!("== {}", f.instance_id);
    if let Some(name) = &f.name {
        let _ = write!(head, " ({})", one_line(name));
    }
    for part in [
        f.instance_type.as_ref().map(|t| t.to_string()),
        f.account.as_ref().map(|a| a.to_string()),
        f.region.as_ref().map(|r| r.to_string()),
    ]
    .into_iter()
    .flatten()
    {
        let _ = write!(head, "  {part}");
    }
    let _ = writeln!(out, "{}", one_line(&head));
    let contributing = if f.contributing.is_empty() {
        String::new()
    } else {
        format!(
            "  (also seen: {})",
            f.contributing
                .iter()
                .map(|c| c.as_str())
                .collect::<Vec<_>>()
                .join(", ")
        )
    };
    line(out, "cause", &format!("{}{contributing}", f.cause.as_str()));
    line(out, "summary", &f.summary);
    if !f.volume_ids.is_empty() {
        line(
            out,
            "volumes",
            &f.volume_ids
                .iter()
                .map(|v| v.to_string())
                .collect::<Vec<_>>()
                .join(", "),
        );
    }
    if let Some(w) = f.window {
        let minutes = match f.cause {
            Cause::NotEbsBound | Cause::InsufficientData => "window examined".to_owned(),
            Cause::VolumeInitializing => {
                format!("{} minutes slow while initializing", f.minutes_at_limit)
            }
            Cause::VolumeIoStalled => format!("{} minutes stalled", f.minutes_at_limit),
            _ => format!("{} minutes at the limit", f.minutes_at_limit),
        };
        line(
            out,
            "window",
            &format!(
                "{} to {} UTC, {minutes}",
                w.from.format("%Y-%m-%d %H:%M"),
                w.to.format("%Y-%m-%d %H:%M")
            ),
        );
    }
    let rate = |iops: Option<f64>, mibps: Option<f64>| {
        format!(
            "{}, {}",
            iops.map_or("? IOPS".to_owned(), |i| format!("{} IOPS", thousands(i))),
            mibps.map_or("? MiB/s".to_owned(), |t| format_rate(
                t,
                crate::limits::Dimension::Throughput
            ))
        )
    };
    if f.peak_demand.iops.is_some() || f.peak_demand.throughput_mibps.is_some() {
        line(
            out,
            "peak demand",
            &rate(f.peak_demand.iops, f.peak_demand.throughput_mibps),
        );
    }
    if f.limit.iops.is_some() || f.limit.throughput_mibps.is_some() || f.limit.source.is_some() {
        let source = match f.limit.source {
            Some(LimitSource::Volume) => "volume",
            Some(LimitSource::VolumeBurstBaseline) => "volume burst baseline",
            Some(LimitSource::InstanceMaximum) => "instance maximum",
            Some(LimitSource::InstanceBaseline) => "instance baseline",
            None => "nearest ceiling (not reached)",
        };
        line(
            out,
            "limit",
            &format!("{source}: {}", rate(f.limit.iops, f.limit.throughput_mibps)),
        );
    }
    if let Some(l) = f.read_latency_ms {
        line(out, "read latency", &format!("{l:.1} ms average"));
    }
    if let Some(i) = &f.initialization {
        let mut text = i
            .snapshot_id
            .clone()
            .unwrap_or_else(|| "snapshot unknown".to_owned());
        match i.fast_restored {
            Some(true) => text.push_str(", fast snapshot restore"),
            Some(false) => text.push_str(", no fast snapshot restore"),
            None => {}
        }
        if let Some(p) = i.progress {
            let _ = write!(text, ", {p}% initialized");
        }
        if let Some(s) = i.estimated_seconds_left {
            let _ = write!(text, ", about {} min left", s.div_ceil(60));
        }
        line(out, "restored from", &text);
    }
    let chart = super::chart::rows(&f.chart);
    if !chart.is_empty() {
        let _ = writeln!(out, "chart:");
        for row in chart {
            let _ = writeln!(out, "  {row}");
        }
    }
    for m in &f.missing {
        line(out, "missing", m);
    }
    let _ = writeln!(out, "fix ({}):", f.remediation.kind.as_str());
    for (n, step) in f.remediation.steps.iter().enumerate() {
        let _ = writeln!(out, "  {}. {}", n + 1, one_line(step));
    }
    if !f.remediation.commands.is_empty() {
        let _ = writeln!(out, "  commands:");
        for c in &f.remediation.commands {
            let _ = writeln!(out, "    $ {}", one_line(c));
        }
    }
    if !f.evidence.is_empty() {
        let _ = writeln!(out, "evidence:");
        for e in &f.evidence {
            let _ = writeln!(out, "  - {}", one_line(e));
        }
    }
}

fn line(out: &mut String, label: &str, value: &str) {
    let _ = writeln!(out, "{:<15}{}", format!("{label}:"), one_line(value));
}
