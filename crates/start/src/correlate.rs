//! Correlation: which instances failed to start, and which evidence belongs
//! to each.
//!
//! An instance failed to start when its state went `pending` and then down
//! (`stopping`, `stopped`, `shutting-down`, `terminated`) without `running`,
//! when `describe-instances` shows it down with a launch-failure
//! `StateReason`, or when a failed KMS grant names it as grantee (EC2 makes
//! that grant only while starting the instance).
//!
//! KMS failures are tied to instances by the strongest key available, in
//! this order: the instance id in `granteePrincipal`; the volume in the
//! `aws:ebs:id` encryption context, attached to the instance; the
//! `requestID` shared with the start call; the same principal within a time
//! window of the failed start (only for calls an AWS service made on the
//! principal's behalf). A failure tied by a stronger key is never also tied
//! by a weaker one.

use std::collections::{BTreeMap, BTreeSet};

use chrono::{DateTime, Duration, Utc};

use crate::evidence::{
    EvidenceSet, InstanceReport, InstanceState, KeyReport, KmsFailure, PolicySimulation, StartCall,
    StateChange, VolumeReport,
};
use crate::ids::KeyArn;
use crate::state_reason;
use start_doctor_core::ids::{InstanceId, VolumeId};

/// The evidence window of a failed attempt: KMS errors and start calls
/// count for it from this long before its `pending`...
const ATTEMPT_BEFORE: Duration = Duration::minutes(2);
/// ...to this long after its first down state. EC2 makes its KMS calls
/// between the two (seconds apart); the margins allow for the clock skew
/// between CloudTrail's `eventTime` and EventBridge's `time`.
const ATTEMPT_AFTER: Duration = Duration::minutes(2);
/// How long before its `pending` the start call of an attempt may be.
const START_CALL_BEFORE: Duration = Duration::minutes(5);
/// Without state changes, the KMS errors of one attempt are those within
/// this long of the latest one (EC2 retries for seconds, not minutes).
const KMS_BURST: Duration = Duration::minutes(10);

/// How far from a failed start a KMS failure by the same principal may be
/// and still count as evidence for it.
const PRINCIPAL_WINDOW_BEFORE: Duration = Duration::minutes(1);
const PRINCIPAL_WINDOW_AFTER: Duration = Duration::minutes(10);
/// Clock skew allowed between a CloudTrail `eventTime` and an EventBridge
/// `time` when matching a start call to a state change.
const CLOCK_SKEW: Duration = Duration::minutes(2);

/// How a KMS failure was tied to an instance, strongest first.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Link {
    /// The grant's `granteePrincipal` names the instance.
    Grantee,
    /// The `aws:ebs:id` volume is attached to the instance.
    Volume,
    /// The `requestID` equals the start call's.
    Request,
    /// Same principal, close in time, made by an AWS service.
    PrincipalWindow,
}

/// A KMS failure tied to an instance.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Linked<'e> {
    /// How it was tied.
    pub link: Link,
    /// The failure.
    pub failure: &'e KmsFailure,
}

/// The failed start of one instance and the evidence about it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Case<'e> {
    /// The instance.
    pub instance_id: InstanceId,
    /// The state changes of the (latest) failed attempt, oldest first.
    pub transitions: Vec<&'e StateChange>,
    /// What describe-instances says.
    pub report: Option<&'e InstanceReport>,
    /// The call that started it.
    pub start_call: Option<&'e StartCall>,
    /// KMS failures tied to it, strongest link first, then oldest first.
    pub kms_failures: Vec<Linked<'e>>,
    /// Its volumes (from describe-instances, describe-volumes and KMS
    /// encryption contexts), each with the key that encrypts it when known.
    pub volumes: BTreeMap<VolumeId, Option<KeyArn>>,
    /// describe-key reports for the keys of its volumes and KMS failures.
    pub keys: Vec<&'e KeyReport>,
    /// Policy simulations of its start call's principal on those keys.
    pub simulations: Vec<&'e PolicySimulation>,
    /// How many failed attempts the state changes show (at least 1).
    pub failed_attempts: u32,
}

impl Case<'_> {
    /// When the attempt started (its `pending`), or the start call's time.
    pub fn started_at(&self) -> Option<DateTime<Utc>> {
        self.transitions
            .first()
            .filter(|t| t.state == InstanceState::Pending)
            .map(|t| t.time)
            .or_else(|| self.start_call.map(|c| c.time))
    }

    /// Whether the attempt was a launch that ended terminated (RunInstances,
    /// Auto Scaling, Fleet, Spot): it cannot be started again, only
    /// launched again.
    pub fn ended_terminated(&self) -> bool {
        let terminated =
            |s: InstanceState| matches!(s, InstanceState::ShuttingDown | InstanceState::Terminated);
        self.transitions.iter().any(|t| terminated(t.state))
            || self.report.and_then(|r| r.state).is_some_and(terminated)
            || self
                .start_call
                .is_some_and(|c| c.api == crate::evidence::StartApi::RunInstances)
    }

    /// When the start failed: the first down state, else the first KMS
    /// failure.
    pub fn failed_at(&self) -> Option<DateTime<Utc>> {
        self.transitions
            .iter()
            .find(|t| t.state.is_down())
            .map(|t| t.time)
            .or_else(|| self.kms_failures.iter().map(|l| l.failure.time).min())
    }
}

/// What an instance's state changes say about its attempts to start.
struct Attempts<'e> {
    /// The transitions of the latest failed attempt (pending, then down
    /// without running), oldest first; empty when none failed.
    latest_failed: Vec<&'e StateChange>,
    /// How many attempts failed.
    failed: u32,
    /// When the instance was seen `running`, oldest first.
    running: Vec<DateTime<Utc>>,
}

impl Attempts<'_> {
    /// The latest failed attempt's evidence window.
    fn window(&self) -> Option<(DateTime<Utc>, DateTime<Utc>)> {
        let start = self.latest_failed.first()?.time;
        let down = self
            .latest_failed
            .iter()
            .find(|t| t.state.is_down())
            .map_or(start, |t| t.time);
        Some((start - ATTEMPT_BEFORE, down + ATTEMPT_AFTER))
    }

    /// Whether the instance ran at or after `time`: a KMS error before a
    /// good start is history.
    fn ran_since(&self, time: DateTime<Utc>) -> bool {
        self.running.iter().any(|r| *r >= time)
    }
}

/// Splits an instance's state changes into attempts.
fn attempts(mut changes: Vec<&StateChange>) -> Attempts<'_> {
    changes.sort_by(|a, b| (a.time, a.state, &a.event_id).cmp(&(b.time, b.state, &b.event_id)));
    let mut latest_failed = Vec::new();
    let mut failed = 0;
    let mut running = Vec::new();
    let mut current: Vec<&StateChange> = Vec::new();
    let mut counted = false;
    for change in changes {
        match change.state {
            InstanceState::Pending => {
                current = vec![change];
                counted = false;
            }
            InstanceState::Running => {
                running.push(change.time);
                current.clear();
            }
            state if state.is_down() && !current.is_empty() => {
                current.push(change);
                if !counted {
                    failed += 1;
                    counted = true;
                }
                latest_failed = current.clone();
            }
            _ => {}
        }
    }
    Attempts {
        latest_failed,
        failed,
        running,
    }
}

fn is_launch_failure(report: &InstanceReport) -> bool {
    let down = report.state.is_none_or(InstanceState::is_down);
    let code = report.state_reason_code.as_deref().unwrap_or_default();
    down && state_reason::is_launch_failure(code)
}

/// Indexes built once over the evidence set.
struct Index<'e> {
    calls_by_instance: BTreeMap<&'e InstanceId, Vec<&'e StartCall>>,
    calls_by_request: BTreeMap<&'e str, Vec<&'e StartCall>>,
    instances_by_volume: BTreeMap<&'e VolumeId, BTreeSet<&'e InstanceId>>,
}

impl<'e> Index<'e> {
    fn new(set: &'e EvidenceSet) -> Self {
        let mut calls_by_instance: BTreeMap<_, Vec<_>> = BTreeMap::new();
        let mut calls_by_request: BTreeMap<_, Vec<_>> = BTreeMap::new();
        for call in set.start_calls.values() {
            for id in &call.instance_ids {
                calls_by_instance.entry(id).or_default().push(call);
            }
            if let Some(request) = call.request_id.as_deref() {
                calls_by_request.entry(request).or_default().push(call);
            }
        }
        let mut instances_by_volume: BTreeMap<_, BTreeSet<_>> = BTreeMap::new();
        for volume in set.volumes.values() {
            for id in &volume.attached_to {
                instances_by_volume
                    .entry(&volume.volume_id)
                    .or_default()
                    .insert(id);
            }
        }
        for report in set.instances.values() {
            for volume in &report.volume_ids {
                instances_by_volume
                    .entry(volume)
                    .or_default()
                    .insert(&report.instance_id);
            }
        }
        Self {
            calls_by_instance,
            calls_by_request,
            instances_by_volume,
        }
    }

    /// The call that started `instance` for the attempt that began at
    /// `anchor`: the latest one shortly before it (allowing for clock
    /// skew), or the one whose request a KMS error of the attempt shares.
    /// Without an anchor, the latest call.
    fn start_call(
        &self,
        instance: &InstanceId,
        anchor: Option<DateTime<Utc>>,
        requests: &BTreeSet<&str>,
    ) -> Option<&'e StartCall> {
        let calls = self.calls_by_instance.get(instance)?;
        let by_request = calls
            .iter()
            .filter(|c| {
                c.request_id
                    .as_deref()
                    .is_some_and(|r| requests.contains(r))
            })
            .max_by_key(|c| (c.time, &c.event_id))
            .copied();
        let Some(anchor) = anchor else {
            return by_request
                .or_else(|| calls.iter().max_by_key(|c| (c.time, &c.event_id)).copied());
        };
        by_request.or_else(|| {
            calls
                .iter()
                .filter(|c| c.time <= anchor + CLOCK_SKEW && c.time >= anchor - START_CALL_BEFORE)
                .max_by_key(|c| (c.time, &c.event_id))
                .copied()
        })
    }
}

/// Finds every failed start in `set` and gathers its evidence. Cases come
/// ordered by instance id; the result depends only on the set's content.
///
/// A case is the instance's latest failed attempt: only evidence inside
/// that attempt's window (or sharing its start call's request) counts, and
/// a KMS error that a good start followed is history. KMS records that AWS
/// did not make for the caller, or that name another account's instance,
/// are not evidence at all ([`KmsFailure::is_trustworthy`]).
pub fn cases(set: &EvidenceSet) -> Vec<Case<'_>> {
    let index = Index::new(set);

    let mut by_instance: BTreeMap<&InstanceId, Vec<&StateChange>> = BTreeMap::new();
    for change in set.state_changes.values() {
        by_instance
            .entry(&change.instance_id)
            .or_default()
            .push(change);
    }
    let history: BTreeMap<&InstanceId, Attempts> = by_instance
        .iter()
        .map(|(id, changes)| (*id, attempts(changes.clone())))
        .collect();
    let trusted: Vec<&KmsFailure> = set
        .kms_failures
        .values()
        .filter(|f| f.is_trustworthy())
        .collect();
    // A grant denied while the instance was running (attaching a volume to
    // it, say), or before a good start, is not about a failed start.
    let running_at = |failure: &KmsFailure, id: &InstanceId| {
        by_instance.get(id).is_some_and(|changes| {
            changes
                .iter()
                .filter(|c| c.time <= failure.time)
                .max_by_key(|c| (c.time, c.state))
                .is_some_and(|c| c.state == InstanceState::Running)
        })
    };
    let stale = |failure: &KmsFailure, id: &InstanceId| {
        history.get(id).is_some_and(|h| {
            let in_attempt = h
                .window()
                .is_some_and(|(from, to)| failure.time >= from && failure.time <= to);
            !in_attempt && (h.ran_since(failure.time - CLOCK_SKEW) || running_at(failure, id))
        })
    };

    let mut failed: BTreeSet<&InstanceId> = history
        .iter()
        .filter(|(_, h)| !h.latest_failed.is_empty())
        .map(|(id, _)| *id)
        .collect();
    failed.extend(
        set.instances
            .values()
            .filter(|r| is_launch_failure(r))
            .map(|r| &r.instance_id),
    );
    failed.extend(
        trusted
            .iter()
            .filter_map(|f| f.grantee_instance.as_ref().filter(|id| !stale(f, id))),
    );

    let mut links: BTreeMap<&InstanceId, Vec<Linked>> = BTreeMap::new();
    let mut weak: Vec<&KmsFailure> = Vec::new();
    for failure in trusted {
        let (link, mut targets) = strong_targets(failure, &index, &failed);
        targets.retain(|id| !stale(failure, id));
        if targets.is_empty() && link == Link::PrincipalWindow {
            weak.push(failure);
        }
        for target in targets {
            links
                .entry(target)
                .or_default()
                .push(Linked { link, failure });
        }
    }
    failed.extend(links.keys().copied());

    let mut cases: Vec<Case> = failed
        .into_iter()
        .filter_map(|id| {
            let attempt = history.get(id);
            let transitions = attempt.map(|h| h.latest_failed.clone()).unwrap_or_default();
            let linked = links.remove(id).unwrap_or_default();
            let (kms_failures, anchor) = match attempt.and_then(Attempts::window) {
                Some(window) => {
                    let anchor = transitions.first().map(|t| t.time);
                    let call = index.start_call(id, anchor, &BTreeSet::new());
                    (in_window(linked, window, call), anchor)
                }
                None => {
                    let burst = latest_burst(linked);
                    let anchor = burst.iter().map(|l| l.failure.time).min();
                    (burst, anchor)
                }
            };
            let requests: BTreeSet<&str> = kms_failures
                .iter()
                .filter_map(|l| l.failure.request_id.as_deref())
                .collect();
            let report = set.instances.get(id);
            let failed_here = !transitions.is_empty()
                || !kms_failures.is_empty()
                || report.is_some_and(is_launch_failure);
            failed_here.then(|| Case {
                instance_id: id.clone(),
                failed_attempts: attempt.map_or(1, |h| h.failed.max(1)),
                transitions,
                report,
                start_call: index.start_call(id, anchor, &requests),
                kms_failures,
                volumes: BTreeMap::new(),
                keys: Vec::new(),
                simulations: Vec::new(),
            })
        })
        .collect();

    for case in &mut cases {
        link_by_principal(case, &weak);
        case.kms_failures.sort_by(|a, b| {
            (a.link, a.failure.time, &a.failure.event_id).cmp(&(
                b.link,
                b.failure.time,
                &b.failure.event_id,
            ))
        });
        gather_volumes_and_keys(case, set);
    }
    cases
}

/// The KMS failures inside an attempt's window, or sharing the request of
/// its start call.
fn in_window<'e>(
    linked: Vec<Linked<'e>>,
    (from, to): (DateTime<Utc>, DateTime<Utc>),
    call: Option<&StartCall>,
) -> Vec<Linked<'e>> {
    let request = call.and_then(|c| c.request_id.as_deref());
    linked
        .into_iter()
        .filter(|l| {
            (l.failure.time >= from && l.failure.time <= to)
                || (request.is_some() && l.failure.request_id.as_deref() == request)
        })
        .collect()
}

/// Without state changes, the latest attempt is the latest burst of KMS
/// failures: those within [`KMS_BURST`] of the latest one.
fn latest_burst(linked: Vec<Linked<'_>>) -> Vec<Linked<'_>> {
    let Some(latest) = linked.iter().map(|l| l.failure.time).max() else {
        return linked;
    };
    linked
        .into_iter()
        .filter(|l| l.failure.time >= latest - KMS_BURST)
        .collect()
}

/// The instances a failure is tied to by its grantee, volume or request id.
fn strong_targets<'e>(
    failure: &'e KmsFailure,
    index: &Index<'e>,
    failed: &BTreeSet<&'e InstanceId>,
) -> (Link, Vec<&'e InstanceId>) {
    if let Some(grantee) = &failure.grantee_instance {
        return (Link::Grantee, vec![grantee]);
    }
    if let Some(attached) = failure
        .volume_id
        .as_ref()
        .and_then(|v| index.instances_by_volume.get(v))
    {
        return (Link::Volume, attached.iter().copied().collect());
    }
    let calls = failure
        .request_id
        .as_deref()
        .and_then(|r| index.calls_by_request.get(r));
    if let Some(calls) = calls {
        let started: BTreeSet<&InstanceId> = calls.iter().flat_map(|c| &c.instance_ids).collect();
        let failed_ones: Vec<&InstanceId> = started
            .iter()
            .copied()
            .filter(|i| failed.contains(i))
            .collect();
        if !failed_ones.is_empty() {
            return (Link::Request, failed_ones);
        }
        if started.len() == 1 {
            return (Link::Request, started.into_iter().collect());
        }
    }
    (Link::PrincipalWindow, Vec::new())
}

/// Ties failures that nothing stronger tied to any instance, by principal
/// and time, to a case that has no stronger KMS evidence of its own.
fn link_by_principal<'e>(case: &mut Case<'e>, weak: &[&'e KmsFailure]) {
    if !case.kms_failures.is_empty() {
        return;
    }
    let (Some(call), Some(started)) = (case.start_call, case.started_at()) else {
        return;
    };
    let Some(principal) = call.principal.as_ref() else {
        return;
    };
    case.kms_failures.extend(
        weak.iter()
            .filter(|f| f.via_aws_service && f.principal.as_ref() == Some(principal))
            .filter(|f| {
                f.time >= started - PRINCIPAL_WINDOW_BEFORE
                    && f.time <= started + PRINCIPAL_WINDOW_AFTER
            })
            .map(|failure| Linked {
                link: Link::PrincipalWindow,
                failure,
            }),
    );
}

fn gather_volumes_and_keys<'e>(case: &mut Case<'e>, set: &'e EvidenceSet) {
    let mut volumes: BTreeMap<VolumeId, Option<KeyArn>> = BTreeMap::new();
    let reported = case
        .report
        .map(|r| r.volume_ids.iter())
        .into_iter()
        .flatten();
    for id in reported {
        volumes.insert(id.clone(), None);
    }
    for volume in set.volumes.values() {
        if volume.attached_to.contains(&case.instance_id) || volumes.contains_key(&volume.volume_id)
        {
            volumes.insert(volume.volume_id.clone(), volume.key.clone());
        }
    }
    for linked in &case.kms_failures {
        if let Some(id) = &linked.failure.volume_id {
            let known: Option<&VolumeReport> = set.volumes.get(id);
            let key = known
                .and_then(|v| v.key.clone())
                .or_else(|| linked.failure.key.clone());
            let slot = volumes.entry(id.clone()).or_insert(None);
            if slot.is_none() {
                *slot = key;
            }
        }
    }
    let key_ids: BTreeSet<&str> = volumes
        .values()
        .flatten()
        .chain(
            case.kms_failures
                .iter()
                .filter_map(|l| l.failure.key.as_ref()),
        )
        .map(KeyArn::key_id)
        .collect();
    let principal = case.start_call.and_then(|c| c.principal.as_ref());
    case.simulations = set
        .simulations
        .values()
        .filter(|s| Some(&s.principal) == principal && key_ids.contains(s.key.key_id()))
        .collect();
    case.keys = key_ids
        .into_iter()
        .filter_map(|id| set.keys.get(id))
        .collect();
    case.volumes = volumes;
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::evidence::{Evidence, Origin};

    fn change(id: &str, instance: &str, state: InstanceState, secs: i64) -> Evidence {
        Evidence::StateChange(StateChange {
            time: DateTime::from_timestamp(1_800_000_000 + secs, 0).unwrap(),
            event_id: id.into(),
            instance_id: InstanceId::parse(instance).unwrap(),
            state,
            origin: Origin::default(),
        })
    }

    const I1: &str = "i-0123456789abcdef0";

    #[test]
    fn pending_then_stopped_is_a_failed_start() {
        let set: EvidenceSet = [
            change("a", I1, InstanceState::Stopped, 20),
            change("b", I1, InstanceState::Pending, 0),
            change("c", I1, InstanceState::Stopping, 10),
        ]
        .into_iter()
        .collect();
        let cases = cases(&set);
        assert_eq!(cases.len(), 1);
        let ids: Vec<&str> = cases[0]
            .transitions
            .iter()
            .map(|t| t.event_id.as_str())
            .collect();
        assert_eq!(ids, ["b", "c", "a"]);
    }

    #[test]
    fn a_stop_after_running_is_not_a_failed_start() {
        let set: EvidenceSet = [
            change("a", I1, InstanceState::Pending, 0),
            change("b", I1, InstanceState::Running, 10),
            change("c", I1, InstanceState::Stopping, 3600),
            change("d", I1, InstanceState::Stopped, 3620),
        ]
        .into_iter()
        .collect();
        assert!(cases(&set).is_empty());
    }

    #[test]
    fn a_stop_without_a_seen_pending_is_not_a_failed_start() {
        let set: EvidenceSet = [change("d", I1, InstanceState::Stopped, 3620)]
            .into_iter()
            .collect();
        assert!(cases(&set).is_empty());
    }

    #[test]
    fn a_failure_followed_by_a_good_start_is_still_reported() {
        let set: EvidenceSet = [
            change("a", I1, InstanceState::Pending, 0),
            change("b", I1, InstanceState::Stopped, 10),
            change("c", I1, InstanceState::Pending, 86_400),
            change("d", I1, InstanceState::Running, 86_410),
        ]
        .into_iter()
        .collect();
        let cases = cases(&set);
        assert_eq!(cases.len(), 1);
        assert_eq!(cases[0].transitions.len(), 2);
    }
}
