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

use chrono::{DateTime, Duration, Utc};
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::diagnosis::{Cause, Diagnosis};
use crate::evidence::{Evidence, EvidenceSet};
use crate::ids::{InstanceId, KeyArn, VolumeId};
use crate::ports::{
    Annotator, DeferredCheck, Deferrer, LiveChecks, LiveRequest, NoAnnotator, Notifier,
    NotifyError, ServiceError, Store, StoreError, StoredEvent,
};
use crate::read::{read_document, DocumentError};

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
        let mut results: Vec<Result<Option<Evaluation>, PipelineError>> =
            checks.iter().map(|_| Ok(None)).collect();
        let mut open: Vec<OpenCheck> = Vec::new();
        for (index, check) in checks.iter().enumerate() {
            if check.not_before > now {
                let remaining = (check.not_before - now)
                    .num_seconds()
                    .clamp(1, i64::from(u32::MAX));
                results[index] = self
                    .deferrer
                    .defer(check, u32::try_from(remaining).unwrap_or(u32::MAX))
                    .await
                    .map(|()| None)
                    .map_err(PipelineError::from);
                continue;
            }
            match self.gather(&check.instance_id, &[]).await {
                Err(e) => results[index] = Err(e),
                Ok(set) => match diagnosis_of(&set, &check.instance_id) {
                    None => {}
                    Some(d) if d.cause != Cause::InternalErrorUnexplained => {
                        results[index] = self.publish(d, now).await.map(Some);
                    }
                    Some(diagnosis) => open.push(OpenCheck {
                        index,
                        set,
                        diagnosis,
                    }),
                },
            }
        }
        for step in LiveStep::ALL {
            if open.is_empty() {
                break;
            }
            let requests: Vec<LiveRequest> = open
                .iter()
                .map(|o| live_request(&o.set, &o.diagnosis))
                .collect();
            let found = match step {
                LiveStep::Describe => self.live.describe(&requests).await,
                LiveStep::LookupCloudTrail => self.live.lookup_cloudtrail(&requests).await,
            }
            .unwrap_or_else(|e| {
                log_service_error(&e, "live check failed; diagnosing with what is known");
                Vec::new()
            });
            let mut still = Vec::new();
            for mut check in open {
                check.set.extend(found.iter().cloned());
                let d = diagnosis_of(&check.set, &check.diagnosis.instance_id)
                    .unwrap_or(check.diagnosis);
                if d.cause == Cause::InternalErrorUnexplained && step != LiveStep::LAST {
                    still.push(OpenCheck {
                        diagnosis: d,
                        ..check
                    });
                } else {
                    results[check.index] = self.publish(d, now).await.map(Some);
                }
            }
            open = still;
        }
        results
    }
}

/// A deferred check still unexplained by what is stored.
struct OpenCheck {
    /// Its position in the batch.
    index: usize,
    /// What is known about it.
    set: EvidenceSet,
    /// Its diagnosis so far.
    diagnosis: Diagnosis,
}

/// The live steps of a deferred check, cheapest and most telling first.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum LiveStep {
    /// EC2, KMS and IAM describe and simulate calls.
    Describe,
    /// CloudTrail `LookupEvents`, the rate-limited last resort.
    LookupCloudTrail,
}

impl LiveStep {
    const ALL: [LiveStep; 2] = [LiveStep::Describe, LiveStep::LookupCloudTrail];
    /// After the last step, whatever is known is published.
    const LAST: LiveStep = LiveStep::LookupCloudTrail;
}

/// Logs a failed best-effort call (a live check, an annotation): the
/// pipeline goes on with what it knows.
pub(crate) fn log_service_error(e: &ServiceError, what: &str) {
    tracing::warn!(service = e.service, error = %e.message, "{what}");
}

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
    crate::rules::diagnose(set)
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
    let volumes: Vec<&VolumeId> = set
        .instances
        .get(&d.instance_id)
        .map(|r| r.volume_ids.iter().collect())
        .unwrap_or_default();
    let mut keys: Vec<KeyArn> = set
        .volumes
        .values()
        .filter(|v| v.attached_to.contains(&d.instance_id) || volumes.contains(&&v.volume_id))
        .filter_map(|v| v.key.clone())
        .chain(d.kms_key_arns.iter().cloned())
        .collect();
    keys.sort();
    keys.dedup();
    LiveRequest {
        instance_id: d.instance_id.clone(),
        principal,
        account: d.account.clone(),
        region: d.region.clone(),
        failed_at: d.failed_at,
        keys,
    }
}
