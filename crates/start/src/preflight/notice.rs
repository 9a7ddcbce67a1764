//! Preflight in the live path: a failing check is a finding of the
//! preflight doctor, its (instance, principal) the subject, (principal,
//! key, cause) the group; a group lasts until every member passes, its
//! message then says it is fixed. A scheduled or change run
//! ([`publish_run`]) publishes every failing check it covers, and clears the
//! members of open groups that pass now: an unchanged run posts nothing,
//! through a webhook too.

use chrono::{DateTime, Duration, Utc};
use serde_json::{json, Value};
use start_doctor_core::ids::{InstanceId, Origin};
use start_doctor_core::slack::reply;
use start_doctor_engine::ports::{Annotation, Announcement, InlineDeferrer, Ports};
use start_doctor_engine::{Deferred, Doctor, Engine, EngineError, GroupView, Published, When};

use super::check::{Check, Preflight, PreflightVerdict};
use super::scope::{group_key, FailingGroup, GroupKey};
use crate::ids::{KeyArn, PrincipalArn};
use crate::render::slack;

/// How many rounds of deferred notices a run works off.
const MAX_NOTICE_ROUNDS: usize = 8;

/// The detail-type of the event a failing check announces.
pub const EVENT_DETAIL_TYPE: &str = "EC2 Start Will Fail";

/// The preflight doctor's part in the live path.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct PreflightDoctor;

/// The instance of a preflight subject (`<instance>#<principal>`).
fn instance_of(subject: &str) -> Option<InstanceId> {
    subject.split('#').next().and_then(InstanceId::parse)
}

fn instances<'a>(subjects: impl IntoIterator<Item = &'a String>) -> Vec<InstanceId> {
    let mut out: Vec<InstanceId> = subjects
        .into_iter()
        .filter_map(|s| instance_of(s))
        .collect();
    out.sort();
    out.dedup();
    out
}

/// A failing check's group key; checks that are not failing never reach
/// the engine (see [`publish_run`]).
fn key_of(check: &Check) -> Option<GroupKey> {
    group_key(check)
}

/// The group as the Slack message shows it: the members that still fail.
fn failing_group(group: &GroupView<'_, PreflightDoctor>) -> FailingGroup {
    let check = group.finding;
    FailingGroup {
        instances: instances(group.members.iter().filter(|m| !group.resolved.contains(m))),
        place: (check.account.clone(), check.region.clone()),
        remediation: check.remediation.clone(),
        reasons: check.reasons.clone(),
    }
}

impl Doctor for PreflightDoctor {
    type Finding = Check;
    type Tally = ();

    fn name(&self) -> &'static str {
        "preflight"
    }

    fn scope(&self, check: &Check) -> Origin {
        Origin {
            account: check.account.clone(),
            region: check.region.clone(),
        }
    }

    fn subject(&self, check: &Check) -> String {
        format!("{}#{}", check.instance_id, check.principal_arn)
    }

    fn shown_as(&self, subject: &str) -> String {
        subject.split('#').next().unwrap_or(subject).to_owned()
    }

    fn group(&self, check: &Check) -> String {
        match key_of(check) {
            Some((principal, key, cause)) => format!("{principal}#{}#{cause}", key.key_id()),
            None => format!("{}#-#-", check.principal_arn),
        }
    }

    fn window(&self) -> Option<Duration> {
        None
    }

    fn same_occurrence(&self, _old: &Check, _new: &Check) -> bool {
        true
    }

    fn upgrades(&self, old: &Check, new: &Check) -> bool {
        key_of(old) != key_of(new)
    }

    fn tally(&self, _tally: &mut (), _old: Option<&Check>, _new: &Check) {}

    fn shows_resolution(&self) -> bool {
        true
    }

    fn message(&self, group: &GroupView<'_, Self>) -> Value {
        let Some(key) = key_of(group.finding) else {
            return reply("start-doctor preflight: nothing fails");
        };
        if group.all_resolved() {
            return slack::preflight_fixed_message(&key, &instances(group.members));
        }
        slack::preflight_message(&key, &failing_group(group), group.name_all)
    }

    fn follow_up(&self, group: &GroupView<'_, Self>, members: &[String]) -> Value {
        let Some(key) = key_of(group.finding) else {
            return reply("start-doctor preflight: nothing fails");
        };
        slack::preflight_more(&key, &instances(members))
    }

    fn upgraded_reply(&self, check: &Check) -> Value {
        reply(&format!(
            "{} now fails preflight for another reason ({}); its group's message shows it.",
            check.instance_id,
            check.cause.map_or("unknown", |c| c.as_str())
        ))
    }

    fn again_reply(&self, check: &Check) -> Value {
        reply(&format!(
            "{} will fail to start again ({}); the message above lists it again.",
            check.instance_id,
            check.cause.map_or("unknown", |c| c.as_str())
        ))
    }

    fn resolved_reply(
        &self,
        _group: &GroupView<'_, Self>,
        subjects: &[String],
        _since: DateTime<Utc>,
    ) -> Value {
        slack::preflight_passed_reply(&instances(subjects))
    }

    fn annotation(&self, group: &GroupView<'_, Self>) -> Annotation {
        let check = group.finding;
        let failing = failing_group(group);
        let ids: Vec<&str> = failing.instances.iter().map(InstanceId::as_str).collect();
        let steps: Vec<String> = check
            .remediation
            .iter()
            .flat_map(|r| r.steps.iter())
            .enumerate()
            .map(|(n, s)| format!("{}. {s}", n + 1))
            .collect();
        let cause = check.cause.map_or("unknown", |c| c.as_str());
        Annotation {
            title: format!(
                "Preflight: {} EC2 instance{} will fail to start ({})",
                ids.len(),
                if ids.len() == 1 { "" } else { "s" },
                check.cause.map_or("unknown", |c| c.title())
            ),
            description: format!(
                "The next start by {} will fail: {}\n\nInstances ({}): {}\n\nFix:\n{}",
                check.principal_arn,
                check.reasons.first().map_or("", String::as_str),
                ids.len(),
                ids.join(", "),
                steps.join("\n")
            ),
            operational_data: vec![
                ("start-doctor:cause".to_owned(), cause.to_owned()),
                ("start-doctor:instances".to_owned(), ids.join(",")),
                (
                    "start-doctor:principal".to_owned(),
                    check.principal_arn.to_string(),
                ),
                (
                    "start-doctor:kms_key".to_owned(),
                    check
                        .kms_key_arns
                        .first()
                        .map(KeyArn::to_string)
                        .unwrap_or_default(),
                ),
            ],
            resources: Vec::new(),
            severity: 3,
            category: "Availability".to_owned(),
        }
    }

    fn announcement(&self, check: &Check) -> Announcement {
        Announcement {
            detail_type: EVENT_DETAIL_TYPE.to_owned(),
            detail: serde_json::to_value(check).unwrap_or(Value::Null),
            resources: Vec::new(),
            tag: None,
            incident: None,
        }
    }
}

/// What one run of one account and Region did.
#[derive(Clone, Debug, Default, PartialEq, Eq, serde::Serialize)]
pub struct RunOutcome {
    /// Checks run.
    pub checks: usize,
    /// Failing checks new to their group (a post, an update or a
    /// follow-up names them).
    pub joined: usize,
    /// Failing checks that were published already: nothing posted.
    pub unchanged: usize,
    /// Checks of open groups that pass now.
    pub fixed: usize,
}

/// Publishes a preflight run of `origin` through the engine: every failing
/// check of a group `covers` (principal, key) includes, then, for every open
/// group it covers, clears the members whose check passes now (a check that
/// cannot answer proves no fix: its member stays). The engine's notices that
/// the run deferred (follow-ups, flushes) are worked off before it returns.
pub async fn publish_run<P>(
    engine: &Engine<'_, P, PreflightDoctor>,
    origin: &Origin,
    report: &Preflight,
    covers: impl Fn(&PrincipalArn, &KeyArn) -> bool,
    when: When,
) -> Result<RunOutcome, EngineError>
where
    P: Ports<Deferrer = InlineDeferrer>,
{
    let doctor = PreflightDoctor;
    let mut outcome = RunOutcome {
        checks: report.checks.len(),
        ..RunOutcome::default()
    };
    for check in &report.checks {
        let Some((principal, key, _)) = key_of(check) else {
            continue;
        };
        if !covers(&principal, &key) {
            continue;
        }
        match engine.publish(check, when).await? {
            Published::Joined => outcome.joined += 1,
            Published::Already | Published::Refreshed => outcome.unchanged += 1,
        }
    }
    let failing: Vec<String> = report
        .checks
        .iter()
        .filter(|c| key_of(c).is_some())
        .map(|c| doctor.subject(c))
        .collect();
    let undecided: Vec<String> = report
        .checks
        .iter()
        .filter(|c| c.verdict == PreflightVerdict::Unknown)
        .map(|c| doctor.subject(c))
        .collect();
    for open in engine.open_groups(origin).await? {
        let Some((principal, key, _)) = key_of(&open.group.finding) else {
            continue;
        };
        if !covers(&principal, &key) {
            continue;
        }
        let passing: Vec<String> = open
            .group
            .members
            .iter()
            .filter(|m| !open.group.resolved.contains(m))
            .filter(|m| !failing.contains(m) && !undecided.contains(m))
            .cloned()
            .collect();
        if !passing.is_empty() {
            outcome.fixed += engine.resolve_all(origin, &passing, when.now, when).await?;
        }
    }
    // Notices deferred during the run (follow-ups, flushes), worked off
    // now: a follow-up that could not name everyone queues another, a few
    // rounds at most.
    for _ in 0..MAX_NOTICE_ROUNDS {
        let queued = engine.ports.deferrer().drain();
        if queued.is_empty() {
            break;
        }
        for message in queued {
            let deferred: Deferred<()> = serde_json::from_value(message.clone()).map_err(|e| {
                start_doctor_engine::ports::StoreError::Corrupt {
                    key: "inline deferral".to_owned(),
                    message: format!("{e}: {}", json!(message)),
                }
            })?;
            if let start_doctor_engine::Later::Notice(notice) = deferred.what {
                engine.handle(&notice, when).await?;
            }
        }
    }
    Ok(outcome)
}
