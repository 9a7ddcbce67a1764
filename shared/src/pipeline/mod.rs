//! The live path: EventBridge events in, one Slack message per failure (or
//! per storm group) out, even when the evidence arrives late, twice or out
//! of order.
//!
//! 1. [`Pipeline::handle_event`] files the event in the [`Store`] under the
//!    partitions that will join it to its instance (see [`partition`]),
//!    then re-evaluates every instance it concerns from everything stored.
//! 2. A failed start with a conclusive cause is published at once
//!    ([`notice`]). One without KMS evidence yet is deferred once, by
//!    [`Deferrer`], for `CLOUDTRAIL_WAIT_SECONDS`: the CloudTrail event
//!    usually arrives minutes after the state change.
//! 3. [`Pipeline::handle_deferred`] runs when the wait is over: the stored
//!    evidence first, then live checks ([`LiveChecks::describe`]: EC2, KMS,
//!    IAM), then, only for what is still unexplained, one rate-limited
//!    CloudTrail lookup for the whole batch. Whatever it finds is published.
//!
//! Stronger evidence that arrives after a diagnosis was published updates
//! that message and record; it never posts a second one for the instance.

pub mod notice;
pub mod partition;

use std::future::Future;

use chrono::{DateTime, Duration, Utc};
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::diagnosis::{Cause, Diagnosis};
use crate::events::{read_document, DocumentError};
use crate::evidence::{Evidence, EvidenceSet};
use crate::ids::{InstanceId, PrincipalArn, VolumeId};
use crate::notify::{Notifier, NotifyError};
use crate::store::{Store, StoreError, StoredEvent};

/// A deferred check: look at an instance again once CloudTrail has had time
/// to deliver.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct DeferredCheck {
    /// The instance whose start failed.
    pub instance_id: InstanceId,
    /// Its account.
    pub account: Option<String>,
    /// Its region.
    pub region: Option<String>,
    /// When its start failed.
    pub failed_at: Option<DateTime<Utc>>,
    /// Not before this time (for waits longer than the deferral mechanism's
    /// own maximum delay, the check is deferred again).
    pub not_before: DateTime<Utc>,
}

/// What a live check needs to know about one instance.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LiveRequest {
    /// The instance.
    pub instance_id: InstanceId,
    /// The principal that started it, when known.
    pub principal: Option<PrincipalArn>,
    /// Its account.
    pub account: Option<String>,
    /// Its region.
    pub region: Option<String>,
    /// When its start failed.
    pub failed_at: Option<DateTime<Utc>>,
}

/// A live-check or deferral failure.
#[derive(Debug, thiserror::Error)]
#[error("{service}: {message}")]
pub struct ServiceError {
    /// The AWS service or component.
    pub service: &'static str,
    /// What failed.
    pub message: String,
}

/// Defers a check (SQS delay queue in production).
pub trait Deferrer: Send + Sync {
    /// Delivers `check` to [`Pipeline::handle_deferred`] after `delay_secs`
    /// (or as close as the mechanism allows).
    fn defer(
        &self,
        check: &DeferredCheck,
        delay_secs: u32,
    ) -> impl Future<Output = Result<(), ServiceError>> + Send;
}

/// Asks AWS what it knows now (EC2, KMS, IAM, CloudTrail in production).
pub trait LiveChecks: Send + Sync {
    /// Describes the instances, their volumes and keys, key policies, and
    /// simulates the principals' policies on the keys. Calls grow with the
    /// distinct keys and principals, not with the instances.
    fn describe(
        &self,
        requests: &[LiveRequest],
    ) -> impl Future<Output = Result<Vec<Evidence>, ServiceError>> + Send;

    /// The last resort: CloudTrail `LookupEvents` for KMS errors around the
    /// failures (2 requests/second per account and region: one lookup for
    /// the whole batch, never one per instance).
    fn lookup_cloudtrail(
        &self,
        requests: &[LiveRequest],
    ) -> impl Future<Output = Result<Vec<Evidence>, ServiceError>> + Send;
}

/// Records diagnoses where incidents are worked, besides Slack: OpsCenter
/// OpsItems, Incident Manager timelines, the `EC2 Start Failure Diagnosed`
/// event and the instance tag in production ([`NoAnnotator`] when off).
pub trait Annotator: Send + Sync {
    /// The OpsItem of the group `dedup` (created on first use, found again
    /// by its dedup string afterwards). `None` when OpsCenter is off.
    fn open_ops_item(
        &self,
        diagnosis: &Diagnosis,
        dedup: &str,
    ) -> impl Future<Output = Result<Option<String>, ServiceError>> + Send;

    /// Brings the OpsItem up to date with the group (its instances, a
    /// better diagnosis).
    fn update_ops_item(
        &self,
        ops_item: &str,
        group: &notice::GroupNotice,
    ) -> impl Future<Output = Result<(), ServiceError>> + Send;

    /// Announces one instance's diagnosis: the diagnosis event, the
    /// instance tag, a timeline event on an open incident.
    fn diagnosed(
        &self,
        diagnosis: &Diagnosis,
        ops_item: Option<&str>,
    ) -> impl Future<Output = Result<(), ServiceError>> + Send;

    /// The instance started again: clears its tag, and resolves the OpsItem
    /// when every instance of the group has.
    fn recovered(
        &self,
        instance: &InstanceId,
        ops_item: Option<&str>,
        group_recovered: bool,
    ) -> impl Future<Output = Result<(), ServiceError>> + Send;
}

/// An [`Annotator`] that records nothing (Slack only).
#[derive(Clone, Copy, Debug, Default)]
pub struct NoAnnotator;

impl Annotator for NoAnnotator {
    async fn open_ops_item(&self, _: &Diagnosis, _: &str) -> Result<Option<String>, ServiceError> {
        Ok(None)
    }

    async fn update_ops_item(&self, _: &str, _: &notice::GroupNotice) -> Result<(), ServiceError> {
        Ok(())
    }

    async fn diagnosed(&self, _: &Diagnosis, _: Option<&str>) -> Result<(), ServiceError> {
        Ok(())
    }

    async fn recovered(
        &self,
        _: &InstanceId,
        _: Option<&str>,
        _: bool,
    ) -> Result<(), ServiceError> {
        Ok(())
    }
}

/// Why an event or check could not be handled.
#[derive(Debug, thiserror::Error)]
pub enum PipelineError {
    /// The event is not readable.
    #[error("event {event_id}: unreadable: {source}")]
    Unreadable {
        /// The event's id (or `unknown`).
        event_id: String,
        /// Why.
        #[source]
        source: DocumentError,
    },
    /// The event is of a known kind but malformed.
    #[error("event {event_id}: malformed: {message}")]
    Malformed {
        /// The event's id.
        event_id: String,
        /// What is wrong.
        message: String,
    },
    /// The store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// Slack failed.
    #[error(transparent)]
    Notify(#[from] NotifyError),
    /// A live check or the deferral failed.
    #[error(transparent)]
    Service(#[from] ServiceError),
    /// Too many concurrent writers on one record; the event will be retried.
    #[error("record {0}: too much contention, giving up for now")]
    Contention(String),
}

/// Tunables, from the environment in production.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Settings {
    /// How long to wait for CloudTrail before live checks
    /// (`CLOUDTRAIL_WAIT_SECONDS`, default 900).
    pub cloudtrail_wait_secs: u32,
    /// How long a storm group keeps collecting instances into one message.
    pub storm_window: Duration,
}

impl Default for Settings {
    fn default() -> Self {
        Self {
            cloudtrail_wait_secs: 900,
            storm_window: Duration::hours(1),
        }
    }
}

/// What handling one event did for one instance.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case", tag = "action")]
pub enum Evaluation {
    /// No failed start (yet) for the instance.
    NoFailure {
        /// The instance.
        instance_id: InstanceId,
    },
    /// A diagnosis was published (or was already).
    Published {
        /// The instance.
        instance_id: InstanceId,
        /// Its cause.
        cause: Cause,
    },
    /// Not conclusive yet; a check is deferred (once per failure).
    Deferred {
        /// The instance.
        instance_id: InstanceId,
    },
    /// A diagnosed instance is running again; its notices were resolved.
    Recovered {
        /// The instance.
        instance_id: InstanceId,
    },
}

/// What handling one event did.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct EventOutcome {
    /// The event was seen before (a redelivery).
    pub redelivered: bool,
    /// One entry per instance the event concerns.
    pub evaluations: Vec<Evaluation>,
}

/// The live path over its ports.
#[derive(Debug)]
pub struct Pipeline<S, N, L, D, A = NoAnnotator> {
    /// Evidence and notification records.
    pub store: S,
    /// Slack.
    pub notifier: N,
    /// Live AWS checks.
    pub live: L,
    /// Deferral of checks.
    pub deferrer: D,
    /// OpsCenter, Incident Manager, diagnosis events, instance tags.
    pub annotator: A,
    /// Tunables.
    pub settings: Settings,
}

/// The id an evidence item is deduplicated by.
fn event_id_of(item: &Evidence) -> Option<&str> {
    match item {
        Evidence::StateChange(s) => Some(&s.event_id),
        Evidence::StartCall(c) => Some(&c.event_id),
        Evidence::KmsFailure(k) => Some(&k.event_id),
        _ => None,
    }
}

impl<S: Store, N: Notifier, L: LiveChecks, D: Deferrer, A: Annotator> Pipeline<S, N, L, D, A> {
    /// Handles one EventBridge event (EC2 state change or CloudTrail API
    /// call) received at `now`.
    pub async fn handle_event(
        &self,
        payload: &Value,
        now: DateTime<Utc>,
    ) -> Result<EventOutcome, PipelineError> {
        let envelope_id = payload
            .get("id")
            .and_then(Value::as_str)
            .unwrap_or("unknown")
            .to_owned();
        let body = payload.to_string();
        let document =
            read_document(body.as_bytes()).map_err(|source| PipelineError::Unreadable {
                event_id: envelope_id.clone(),
                source,
            })?;
        if let Some(problem) = document.problems.first() {
            return Err(PipelineError::Malformed {
                event_id: problem.event_id.clone().unwrap_or(envelope_id),
                message: problem.message.clone(),
            });
        }
        let mut outcome = EventOutcome {
            redelivered: !document.evidence.is_empty(),
            evaluations: Vec::new(),
        };
        let mut affected: Vec<InstanceId> = Vec::new();
        for item in &document.evidence {
            let event_id = event_id_of(item).unwrap_or(&envelope_id).to_owned();
            let stored = StoredEvent {
                event_id,
                body: body.clone(),
            };
            for key in partition::partitions(item) {
                if self.store.put_event(&key, &stored).await? {
                    outcome.redelivered = false;
                }
            }
            affected.extend(self.instances_concerned(item).await?);
        }
        affected.sort();
        affected.dedup();
        for instance in affected {
            outcome
                .evaluations
                .push(self.evaluate(&instance, now).await?);
        }
        Ok(outcome)
    }

    /// The instances an item may complete the picture of.
    async fn instances_concerned(&self, item: &Evidence) -> Result<Vec<InstanceId>, PipelineError> {
        Ok(match item {
            Evidence::StateChange(s) => vec![s.instance_id.clone()],
            Evidence::StartCall(c) => c.instance_ids.clone(),
            Evidence::KmsFailure(k) => match (&k.grantee_instance, &k.request_id) {
                (Some(id), _) => vec![id.clone()],
                (None, Some(request)) => {
                    let set = self.load(&partition::request(request)).await?;
                    set.start_calls
                        .values()
                        .flat_map(|c| c.instance_ids.clone())
                        .collect()
                }
                (None, None) => Vec::new(),
            },
            _ => Vec::new(),
        })
    }

    /// Reads every event filed under `partition`.
    async fn load(&self, partition: &str) -> Result<EvidenceSet, PipelineError> {
        let mut set = EvidenceSet::new();
        for event in self.store.events(partition).await? {
            // Stored events were validated when they arrived; one that no
            // longer reads is reported, not fatal to the others.
            match read_document(event.body.as_bytes()) {
                Ok(document) => set.extend(document.evidence),
                Err(e) => {
                    return Err(StoreError::Corrupt {
                        key: format!("{partition}/{}", event.event_id),
                        message: e.to_string(),
                    }
                    .into())
                }
            }
        }
        Ok(set)
    }

    /// Everything stored about `instance`: its own partition, the requests
    /// of its start calls, its volumes, and its principal's recent KMS
    /// failures.
    async fn gather(
        &self,
        instance: &InstanceId,
        volumes: &[VolumeId],
    ) -> Result<EvidenceSet, PipelineError> {
        let mut set = self.load(&partition::instance(instance)).await?;
        let mut extra: Vec<String> = Vec::new();
        for call in set.start_calls.values() {
            extra.extend(call.request_id.as_deref().map(partition::request));
            if let Some(principal) = &call.principal {
                extra.extend(partition::principal_windows(principal, call.time));
            }
        }
        extra.extend(
            set.kms_failures
                .values()
                .filter_map(|f| f.volume_id.as_ref())
                .map(partition::volume),
        );
        extra.extend(volumes.iter().map(partition::volume));
        extra.sort();
        extra.dedup();
        for key in extra {
            set.merge(self.load(&key).await?);
        }
        Ok(set)
    }

    /// Re-diagnoses `instance` from the store and acts on the result.
    pub async fn evaluate(
        &self,
        instance: &InstanceId,
        now: DateTime<Utc>,
    ) -> Result<Evaluation, PipelineError> {
        let set = self.gather(instance, &[]).await?;
        let running = running_since(&set, instance);
        let diagnosis = match diagnosis_of(&set, instance) {
            // Started fine after the failure (or never failed): recovery.
            Some(d) if running.is_some_and(|t| d.failed_at.is_none_or(|f| t > f)) => None,
            other => other,
        };
        let Some(diagnosis) = diagnosis else {
            if let Some(since) = running {
                if notice::recover(
                    &self.store,
                    &self.notifier,
                    &self.annotator,
                    instance,
                    since,
                )
                .await?
                {
                    return Ok(Evaluation::Recovered {
                        instance_id: instance.clone(),
                    });
                }
            }
            return Ok(Evaluation::NoFailure {
                instance_id: instance.clone(),
            });
        };
        if diagnosis.cause != Cause::InternalErrorUnexplained {
            return self.publish(diagnosis, now).await;
        }
        if self.claim_deferral(instance, diagnosis.failed_at).await? {
            let wait = self.settings.cloudtrail_wait_secs;
            let check = DeferredCheck {
                instance_id: instance.clone(),
                account: diagnosis.account.clone(),
                region: diagnosis.region.clone(),
                failed_at: diagnosis.failed_at,
                not_before: now + Duration::seconds(i64::from(wait)),
            };
            self.deferrer.defer(&check, wait).await?;
        }
        Ok(Evaluation::Deferred {
            instance_id: instance.clone(),
        })
    }

    /// Claims the one deferred check of a failure. Events of one failed
    /// attempt (`stopping`, then `stopped`) move its failure time by seconds;
    /// a failure more than an hour from the claimed one is a new attempt.
    async fn claim_deferral(
        &self,
        instance: &InstanceId,
        failed_at: Option<DateTime<Utc>>,
    ) -> Result<bool, PipelineError> {
        #[derive(Serialize, Deserialize)]
        struct Claim {
            failed_at: Option<DateTime<Utc>>,
        }
        let key = format!("deferred#{instance}");
        let body = serde_json::to_string(&Claim { failed_at }).unwrap_or_default();
        let expected = match self.store.record(&key).await? {
            None => None,
            Some(record) => {
                let claimed: Option<Claim> = serde_json::from_str(&record.body).ok();
                let same_attempt = match (claimed.and_then(|c| c.failed_at), failed_at) {
                    (Some(a), Some(b)) => (a - b).abs() < Duration::hours(1),
                    _ => true,
                };
                if same_attempt {
                    return Ok(false);
                }
                Some(record.version)
            }
        };
        Ok(self.store.put_record(&key, &body, expected).await?)
    }

    async fn publish(
        &self,
        diagnosis: Diagnosis,
        now: DateTime<Utc>,
    ) -> Result<Evaluation, PipelineError> {
        let instance_id = diagnosis.instance_id.clone();
        let cause = diagnosis.cause;
        notice::publish(
            &self.store,
            &self.notifier,
            &self.annotator,
            &self.settings,
            diagnosis,
            now,
        )
        .await?;
        Ok(Evaluation::Published { instance_id, cause })
    }

    /// Runs deferred checks at `now`: stored evidence, then live checks,
    /// then one CloudTrail lookup for what is still unexplained; publishes
    /// what it finds. Returns, per check, its result; a failed check does
    /// not stop the others.
    pub async fn handle_deferred(
        &self,
        checks: &[DeferredCheck],
        now: DateTime<Utc>,
    ) -> Vec<Result<Option<Evaluation>, PipelineError>> {
        let mut results: Vec<Option<Result<Option<Evaluation>, PipelineError>>> = Vec::new();
        let mut pending: Vec<(usize, EvidenceSet, Diagnosis)> = Vec::new();
        for (i, check) in checks.iter().enumerate() {
            if check.not_before > now {
                let remaining = (check.not_before - now)
                    .num_seconds()
                    .clamp(1, i64::from(u32::MAX));
                let deferred = self
                    .deferrer
                    .defer(check, u32::try_from(remaining).unwrap_or(u32::MAX))
                    .await
                    .map(|()| None)
                    .map_err(PipelineError::from);
                results.push(Some(deferred));
                continue;
            }
            match self.gather(&check.instance_id, &[]).await {
                Err(e) => results.push(Some(Err(e))),
                Ok(set) => match diagnosis_of(&set, &check.instance_id) {
                    None => results.push(Some(Ok(None))),
                    Some(d) if d.cause != Cause::InternalErrorUnexplained => {
                        results.push(Some(self.publish(d, now).await.map(Some)));
                    }
                    Some(d) => {
                        pending.push((i, set, d));
                        results.push(None);
                    }
                },
            }
        }

        let requests: Vec<LiveRequest> = pending
            .iter()
            .map(|(_, set, d)| live_request(set, d))
            .collect();
        let mut still: Vec<(usize, EvidenceSet, Diagnosis)> = Vec::new();
        if !requests.is_empty() {
            match self.live.describe(&requests).await {
                Ok(live) => {
                    for (i, mut set, d) in pending {
                        set.extend(live.iter().cloned());
                        let d = diagnosis_of(&set, &d.instance_id).unwrap_or(d);
                        if d.cause == Cause::InternalErrorUnexplained {
                            still.push((i, set, d));
                        } else {
                            results[i] = Some(self.publish(d, now).await.map(Some));
                        }
                    }
                }
                Err(e) => {
                    log_service_error(&e, "live check failed; diagnosing with what is known");
                    still = pending;
                }
            }
        }

        let requests: Vec<LiveRequest> = still
            .iter()
            .map(|(_, set, d)| live_request(set, d))
            .collect();
        let looked_up = if requests.is_empty() {
            Vec::new()
        } else {
            self.live
                .lookup_cloudtrail(&requests)
                .await
                .unwrap_or_else(|e| {
                    log_service_error(&e, "live check failed; diagnosing with what is known");
                    Vec::new()
                })
        };
        for (i, mut set, d) in still {
            set.extend(looked_up.iter().cloned());
            let d = diagnosis_of(&set, &d.instance_id).unwrap_or(d);
            results[i] = Some(self.publish(d, now).await.map(Some));
        }
        results.into_iter().map(|r| r.unwrap_or(Ok(None))).collect()
    }
}

/// Logs a failed best-effort call (a live check, an annotation): the
/// pipeline goes on with what it knows.
#[cfg(feature = "lambda")]
fn log_service_error(e: &ServiceError, what: &str) {
    tracing::warn!(service = e.service, error = %e.message, "{what}");
}

#[cfg(not(feature = "lambda"))]
fn log_service_error(_: &ServiceError, _: &str) {}

/// When the instance's latest known state is `running`, since when.
fn running_since(set: &EvidenceSet, instance: &InstanceId) -> Option<DateTime<Utc>> {
    set.state_changes
        .values()
        .filter(|c| &c.instance_id == instance)
        .max_by_key(|c| (c.time, c.state))
        .filter(|c| c.state == crate::evidence::InstanceState::Running)
        .map(|c| c.time)
}

fn diagnosis_of(set: &EvidenceSet, instance: &InstanceId) -> Option<Diagnosis> {
    crate::diagnose(set)
        .into_iter()
        .find(|d| &d.instance_id == instance)
}

fn live_request(set: &EvidenceSet, d: &Diagnosis) -> LiveRequest {
    let principal = d.principal_arn.clone().or_else(|| {
        set.start_calls
            .values()
            .filter(|c| c.instance_ids.contains(&d.instance_id))
            .find_map(|c| c.principal.clone())
    });
    LiveRequest {
        instance_id: d.instance_id.clone(),
        principal,
        account: d.account.clone(),
        region: d.region.clone(),
        failed_at: d.failed_at,
    }
}
