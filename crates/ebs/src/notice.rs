//! The EBS doctor in the live path: a finding that an instance is held by
//! an EBS ceiling (or initializing, or stalled) is published through the
//! shared engine as one Slack message and one OpsItem per (instance,
//! cause), kept up to date while it lasts and marked resolved when it
//! clears. Findings that are not a problem (`not_ebs_bound`,
//! `insufficient_data`) are never published: a person is told only about a
//! binding ceiling, a volume still initializing or stalled I/O
//! ([`publishable`]).
//!
//! A group has one member, so the group key and the subject are the same
//! `<instance>#<cause>`. The message shows the newest numbers the run saw,
//! which the group keeps in its [`Tally`] (the engine keeps a group's first
//! finding); a run re-renders it only when they changed materially
//! ([`changed_materially`]), never on the noise of one minute more or less.

use chrono::{DateTime, Duration, Utc};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use start_doctor_core::ids::{InstanceId, Origin};
use start_doctor_engine::ports::{Annotation, Announcement};
use start_doctor_engine::{Doctor, GroupView};

use crate::finding::{Cause, Finding};
use crate::render::slack;

/// The detail-type of the diagnosis event (EventBridge) a finding
/// announces; its detail is the finding in the JSON contract
/// (`schema/ebs.schema.json`).
pub const EVENT_DETAIL_TYPE: &str = "EBS Ceiling Diagnosed";

/// A peak that moved by less than this share is noise: the message is not
/// rendered again for it.
pub const PEAK_CHANGE: f64 = 0.10;

/// Minutes at the limit that moved by less than this many (or less than a
/// quarter of the count before, whichever is more) are noise.
pub const MINUTES_CHANGE: u32 = 5;

/// A ceiling that moved by more than this share was changed (the volume
/// was modified, the instance resized): always shown.
pub const LIMIT_CHANGE: f64 = 0.01;

/// The EBS doctor's part in the live path.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct EbsDoctor;

/// Whether a finding is published at all: only a problem (a binding
/// ceiling, initialization, stalled I/O) of a known instance. Demand below
/// every ceiling and missing evidence stay in the logs and the CLI.
pub fn publishable(finding: &Finding) -> bool {
    finding.cause.is_problem()
}

/// The subject (and group) of an (instance, cause): `<instance>#<cause>`.
pub fn subject_of(instance: &InstanceId, cause: Cause) -> String {
    format!("{instance}#{}", cause.as_str())
}

/// The instance and cause of a subject, when it is one.
pub fn parse_subject(subject: &str) -> Option<(InstanceId, Cause)> {
    let (instance, cause) = subject.split_once('#')?;
    let cause: Cause = serde_json::from_value(Value::String(cause.to_owned())).ok()?;
    Some((InstanceId::parse(instance)?, cause))
}

/// What a group keeps beyond its first finding: the newest one published,
/// with what the contract leaves out of a finding's JSON (the instance's
/// name, the chart), so that every rendering shows the numbers last seen.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
pub struct Tally {
    /// The newest finding of the group's (one) member.
    pub latest: Option<Finding>,
    /// Its instance's `Name` tag (untrusted, escaped when rendered).
    pub name: Option<String>,
    /// Its chart.
    pub chart: crate::finding::Chart,
}

impl Tally {
    /// The finding to show: the newest, else the group's first.
    fn shown(&self, first: &Finding) -> Finding {
        let mut f = self.latest.clone().unwrap_or_else(|| first.clone());
        if f.name.is_none() {
            f.name.clone_from(&self.name);
        }
        if f.chart.points.is_empty() {
            f.chart = self.chart.clone();
        }
        f
    }
}

fn relative_change(old: Option<f64>, new: Option<f64>) -> Option<f64> {
    match (old, new) {
        (Some(a), Some(b)) if a.abs() > f64::EPSILON => Some((b - a).abs() / a.abs()),
        (Some(a), Some(b)) => Some(if (b - a).abs() > f64::EPSILON {
            1.0
        } else {
            0.0
        }),
        (None, None) => Some(0.0),
        // A number that appears or disappears changes what is shown.
        _ => None,
    }
}

/// Whether `new` changes what a person reads in the message of `old`
/// (same instance and cause): the binding ceiling moved (the volume was
/// modified, the type changed), the volumes differ, the peak moved by
/// [`PEAK_CHANGE`] or more, the minutes at the limit by [`MINUTES_CHANGE`]
/// or a quarter, initialization progress by 10 points. Anything less is
/// the noise of a run five minutes later.
pub fn changed_materially(old: &Finding, new: &Finding) -> bool {
    let moved = |a, b, share| relative_change(a, b).is_none_or(|c| c >= share);
    let limit_moved = old.limit.source != new.limit.source
        || relative_change(old.limit.iops, new.limit.iops).is_none_or(|c| c > LIMIT_CHANGE)
        || relative_change(old.limit.throughput_mibps, new.limit.throughput_mibps)
            .is_none_or(|c| c > LIMIT_CHANGE);
    let peak_moved = moved(old.peak_demand.iops, new.peak_demand.iops, PEAK_CHANGE)
        || moved(
            old.peak_demand.throughput_mibps,
            new.peak_demand.throughput_mibps,
            PEAK_CHANGE,
        );
    let minutes_moved = old.minutes_at_limit.abs_diff(new.minutes_at_limit)
        >= MINUTES_CHANGE.max(old.minutes_at_limit / 4);
    let progress = |f: &Finding| f.initialization.as_ref().and_then(|i| i.progress);
    let progress_moved = match (progress(old), progress(new)) {
        (Some(a), Some(b)) => a.abs_diff(b) >= 10,
        (a, b) => a.is_some() != b.is_some(),
    };
    limit_moved
        || peak_moved
        || minutes_moved
        || progress_moved
        || old.volume_ids != new.volume_ids
        || old.instance_type != new.instance_type
}

/// The ARN of the finding's instance, when its account and Region are
/// known.
pub fn instance_arn(f: &Finding) -> Option<String> {
    let region = f.region.as_ref()?;
    Some(format!(
        "arn:{}:ec2:{region}:{}:instance/{}",
        region.partition(),
        f.account.as_ref()?,
        f.instance_id
    ))
}

/// The ARNs of the finding's volumes, when its account and Region are
/// known.
pub fn volume_arns(f: &Finding) -> Vec<String> {
    let (Some(region), Some(account)) = (f.region.as_ref(), f.account.as_ref()) else {
        return Vec::new();
    };
    f.volume_ids
        .iter()
        .map(|v| {
            format!(
                "arn:{}:ec2:{region}:{account}:volume/{v}",
                region.partition()
            )
        })
        .collect()
}

/// The OpsItem of a finding: what people read in OpsCenter.
pub fn annotation_of(f: &Finding) -> Annotation {
    let steps: Vec<String> = f
        .remediation
        .steps
        .iter()
        .enumerate()
        .map(|(n, s)| format!("{}. {s}", n + 1))
        .collect();
    let commands = f.remediation.commands.join("\n");
    let volumes: Vec<&str> = f.volume_ids.iter().map(|v| v.as_str()).collect();
    let mut operational_data = vec![
        ("start-doctor:cause".to_owned(), f.cause.as_str().to_owned()),
        (
            "start-doctor:instance".to_owned(),
            f.instance_id.to_string(),
        ),
        ("start-doctor:volumes".to_owned(), volumes.join(",")),
        (
            "start-doctor:minutes_at_limit".to_owned(),
            f.minutes_at_limit.to_string(),
        ),
        (
            "start-doctor:remediation".to_owned(),
            f.remediation.kind.as_str().to_owned(),
        ),
    ];
    if let Some(source) = f.limit.source {
        operational_data.push((
            "start-doctor:limit_source".to_owned(),
            serde_json::to_value(source)
                .ok()
                .and_then(|v| v.as_str().map(str::to_owned))
                .unwrap_or_default(),
        ));
    }
    let mut resources: Vec<String> = instance_arn(f).into_iter().collect();
    resources.extend(volume_arns(f));
    let stalled = f.cause == Cause::VolumeIoStalled;
    Annotation {
        title: format!("EBS: {} on {}", slack::title(f.cause), f.instance_id),
        description: format!(
            "{}\n\nFix ({}):\n{}{}",
            f.summary,
            f.remediation.kind.as_str(),
            steps.join("\n"),
            if commands.is_empty() {
                String::new()
            } else {
                format!("\n\nCommands:\n{commands}")
            }
        ),
        operational_data,
        resources,
        // Stalled I/O is an outage of the volume; a ceiling slows.
        severity: if stalled { 2 } else { 3 },
        category: if stalled {
            "Availability"
        } else {
            "Performance"
        }
        .to_owned(),
    }
}

impl Doctor for EbsDoctor {
    type Finding = Finding;
    type Tally = Tally;

    fn name(&self) -> &'static str {
        "ebs"
    }

    fn scope(&self, f: &Finding) -> Origin {
        Origin {
            account: f.account.clone(),
            region: f.region.clone(),
        }
    }

    fn subject(&self, f: &Finding) -> String {
        subject_of(&f.instance_id, f.cause)
    }

    fn shown_as(&self, subject: &str) -> String {
        subject.split('#').next().unwrap_or(subject).to_owned()
    }

    fn group(&self, f: &Finding) -> String {
        let (instance, cause) = f.group_key();
        subject_of(&instance, cause)
    }

    fn occurred_at(&self, f: &Finding) -> Option<DateTime<Utc>> {
        // The last minute seen at the limit: a clearing observed at or
        // before it cannot clear it.
        f.window.map(|w| w.to)
    }

    fn window(&self) -> Option<Duration> {
        None
    }

    fn same_occurrence(&self, _old: &Finding, _new: &Finding) -> bool {
        // Until it clears, the instance is held by the same cause: a run
        // five minutes later sees the same occurrence.
        true
    }

    fn upgrades(&self, _old: &Finding, _new: &Finding) -> bool {
        // The cause is part of the subject: another cause is another
        // member, never a replacement.
        false
    }

    fn refreshes(&self, old: &Finding, new: &Finding) -> bool {
        changed_materially(old, new)
    }

    fn tally(&self, tally: &mut Tally, _old: Option<&Finding>, new: &Finding) {
        tally.latest = Some(new.clone());
        if new.name.is_some() {
            tally.name.clone_from(&new.name);
        }
        if !new.chart.points.is_empty() {
            tally.chart = new.chart.clone();
        }
    }

    fn shows_resolution(&self) -> bool {
        true
    }

    fn message(&self, group: &GroupView<'_, Self>) -> Value {
        let shown = group.tally.shown(group.finding);
        if group.all_resolved() {
            slack::cleared_message(&shown)
        } else {
            slack::message(&shown)
        }
    }

    fn follow_up(&self, group: &GroupView<'_, Self>, members: &[String]) -> Value {
        let instances: Vec<String> = members.iter().map(|m| self.shown_as(m)).collect();
        slack::follow_up(group.finding, &instances)
    }

    fn upgraded_reply(&self, f: &Finding) -> Value {
        // Never called (nothing upgrades); a truthful reply all the same.
        slack::again_reply(f)
    }

    fn again_reply(&self, f: &Finding) -> Value {
        slack::again_reply(f)
    }

    fn resolved_reply(
        &self,
        group: &GroupView<'_, Self>,
        _subjects: &[String],
        since: DateTime<Utc>,
    ) -> Value {
        slack::resolved_reply(&group.tally.shown(group.finding), since)
    }

    fn annotation(&self, group: &GroupView<'_, Self>) -> Annotation {
        annotation_of(&group.tally.shown(group.finding))
    }

    fn announcement(&self, f: &Finding) -> Announcement {
        let mut resources: Vec<String> = instance_arn(f).into_iter().collect();
        resources.extend(volume_arns(f));
        Announcement {
            detail_type: EVENT_DETAIL_TYPE.to_owned(),
            // A finding of plain data serializes; `Null` rather than a
            // panic if it ever did not.
            detail: serde_json::to_value(f).unwrap_or(Value::Null),
            resources,
            tag: None,
            incident: None,
        }
    }
}
