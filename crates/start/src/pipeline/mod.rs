//! The live path: EventBridge events in, one Slack message per failure (or
//! per storm group) out, even when the evidence arrives late, twice or out
//! of order.
//!
//! 1. [`Pipeline::handle_event`] files the event in the [`Store`] under the
//!    partitions that will join it to its instance (see [`partition`]),
//!    then re-evaluates every instance it concerns from everything stored.
//! 2. A failed start with a conclusive cause is published at once through
//!    the live path's engine ([`start_doctor_engine::Engine`], with the
//!    start doctor of [`doctor`]). One without KMS evidence yet is deferred
//!    once, through the deferral queue, for `CLOUDTRAIL_WAIT_SECONDS`: the
//!    CloudTrail event usually arrives minutes after the state change.
//! 3. [`Pipeline::handle_deferred`] runs when the wait is over: the stored
//!    evidence first, then live checks ([`LiveChecks::describe`]: EC2, KMS,
//!    IAM), then, only for what is still unexplained, one rate-limited
//!    CloudTrail lookup for the whole batch. Whatever it finds is published.
//!
//! Stronger evidence that arrives after a diagnosis was published updates
//! that message and record; it never posts a second one for the instance.

pub mod doctor;
pub mod partition;

use chrono::{DateTime, Duration, Utc};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use start_doctor_core::ids::{Account, InstanceId, Region, VolumeId};
use start_doctor_engine::ports::{Deferrer, Ports, ServiceError, Store, StoreError, StoredEvent};
use start_doctor_engine::record;
pub use start_doctor_engine::{Deadline, When};
use start_doctor_engine::{Deferred, Doctor, Engine, EngineError, Later};

use self::doctor::StartDoctor;
use crate::diagnosis::{Cause, Diagnosis};
use crate::evidence::{Evidence, EvidenceSet, Origin};
use crate::ids::KeyArn;
use crate::ports::{LiveChecks, LiveRequest};
use crate::read::{read_document, DocumentError};

/// The start doctor's own deferred message: look at an instance again
/// once CloudTrail has had time to deliver.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct DeferredCheck {
    /// The instance whose start failed.
    pub instance_id: InstanceId,
    /// Its account.
    pub account: Option<Account>,
    /// Its region.
    pub region: Option<Region>,
    /// When its start failed.
    pub failed_at: Option<DateTime<Utc>>,
    /// Not before this time (for waits longer than the deferral mechanism's
    /// own maximum delay, the check is deferred again).
    pub not_before: DateTime<Utc>,
}

/// A message on the start doctor's deferral queue.
pub type StartDeferred = Deferred<DeferredCheck>;

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
    /// A deferred message for another doctor reached this one's queue.
    #[error("a deferred message for the {0:?} doctor reached the start doctor")]
    OtherDoctor(String),
    /// The store, Slack, the deferral queue failed, or a record is contended
    /// or being published by another invocation: the event is retried.
    #[error(transparent)]
    Engine(#[from] EngineError),
}

impl From<StoreError> for PipelineError {
    fn from(e: StoreError) -> Self {
        Self::Engine(EngineError::Store(e))
    }
}

impl From<ServiceError> for PipelineError {
    fn from(e: ServiceError) -> Self {
        Self::Engine(EngineError::Service(e))
    }
}

/// Tunables, from the environment in production.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Settings {
    /// How long to wait for CloudTrail before live checks
    /// (`CLOUDTRAIL_WAIT_SECONDS`, default 900).
    pub cloudtrail_wait_secs: u32,
    /// How long a storm group keeps collecting instances into one message.
    pub storm_window: Duration,
    /// The notice engine's tunables (update rate, webhook gathering).
    pub engine: start_doctor_engine::Settings,
}

impl Default for Settings {
    fn default() -> Self {
        Self {
            cloudtrail_wait_secs: 900,
            storm_window: Duration::hours(1),
            engine: start_doctor_engine::Settings::default(),
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
pub struct Pipeline<P, L> {
    /// The live path's ports: the store of evidence and notices, Slack,
    /// the deferral queue, the annotations.
    pub ports: P,
    /// Live AWS checks.
    pub live: L,
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
impl<P: Ports, L: LiveChecks> Pipeline<P, L> {
    /// The start doctor with this pipeline's storm window.
    fn doctor(&self) -> StartDoctor {
        StartDoctor {
            storm_window: self.settings.storm_window,
        }
    }

    /// The store.
    fn store(&self) -> &P::Store {
        self.ports.store()
    }

    /// Handles one EventBridge event (EC2 state change or CloudTrail API
    /// call) received at `now` by an invocation that must be done by
    /// `deadline`.
    pub async fn handle_event(
        &self,
        payload: &Value,
        now: DateTime<Utc>,
        deadline: Deadline,
    ) -> Result<EventOutcome, PipelineError> {
        let when = When::new(now, deadline);
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
        let mut affected: Vec<(Origin, InstanceId)> = Vec::new();
        for item in &document.evidence {
            let event_id = event_id_of(item).unwrap_or(&envelope_id).to_owned();
            let stored = StoredEvent {
                event_id,
                body: body.clone(),
            };
            for key in partition::partitions(item) {
                if self.store().put_event(&key, &stored).await? {
                    outcome.redelivered = false;
                }
            }
            affected.extend(self.instances_concerned(item).await?);
        }
        affected.sort();
        affected.dedup();
        for (origin, instance) in affected {
            outcome
                .evaluations
                .push(self.evaluate(&origin, &instance, when).await?);
        }
        Ok(outcome)
    }

    /// The instances an item may complete the picture of, with their
    /// account and region.
    async fn instances_concerned(
        &self,
        item: &Evidence,
    ) -> Result<Vec<(Origin, InstanceId)>, PipelineError> {
        let with = |origin: &Origin, ids: Vec<InstanceId>| -> Vec<(Origin, InstanceId)> {
            ids.into_iter().map(|i| (origin.clone(), i)).collect()
        };
        Ok(match item {
            Evidence::StateChange(s) => with(&s.origin, vec![s.instance_id.clone()]),
            Evidence::StartCall(c) => with(&c.origin, c.instance_ids.clone()),
            Evidence::KmsFailure(k) => match (&k.grantee_instance, &k.request_id) {
                (Some(id), _) => with(&k.origin, vec![id.clone()]),
                (None, Some(request)) => {
                    let set = self.load(&partition::request(&k.origin, request)).await?;
                    let ids = set
                        .start_calls
                        .values()
                        .flat_map(|c| c.instance_ids.clone())
                        .collect();
                    with(&k.origin, ids)
                }
                (None, None) => Vec::new(),
            },
            _ => Vec::new(),
        })
    }

    /// Reads every event filed under `partition`.
    async fn load(&self, partition: &str) -> Result<EvidenceSet, PipelineError> {
        let mut set = EvidenceSet::new();
        for event in self.store().events(partition).await? {
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

    /// Everything stored about `instance` of `origin`: its own partition,
    /// the requests of its start calls, its volumes, and its principal's
    /// recent KMS failures.
    async fn gather(
        &self,
        origin: &Origin,
        instance: &InstanceId,
    ) -> Result<EvidenceSet, PipelineError> {
        let mut set = self.load(&partition::instance(origin, instance)).await?;
        let mut extra: Vec<String> = Vec::new();
        for call in set.start_calls.values() {
            extra.extend(
                call.request_id
                    .as_deref()
                    .map(|r| partition::request(origin, r)),
            );
            if let Some(principal) = &call.principal {
                extra.extend(partition::principal_windows(origin, principal, call.time));
            }
        }
        extra.extend(
            set.kms_failures
                .values()
                .filter_map(|f| f.volume_id.as_ref())
                .map(|v| partition::volume(origin, v)),
        );
        extra.sort();
        extra.dedup();
        for key in extra {
            set.merge(self.load(&key).await?);
        }
        Ok(set)
    }

    /// Re-diagnoses `instance` of `origin` from the store and acts on the
    /// result.
    async fn evaluate(
        &self,
        origin: &Origin,
        instance: &InstanceId,
        when: When,
    ) -> Result<Evaluation, PipelineError> {
        let set = self.gather(origin, instance).await?;
        let running = running_since(&set, instance);
        let diagnosis = match diagnosis_of(&set, instance) {
            // Started fine after the failure (or never failed): recovery.
            Some(d) if running.is_some_and(|t| d.failed_at.is_none_or(|f| t > f)) => None,
            other => other,
        };
        let Some(diagnosis) = diagnosis else {
            if let Some(since) = running {
                self.end_deferral(origin, instance, since).await?;
                let doctor = self.doctor();
                let engine = Engine::new(&self.ports, &doctor, &self.settings.engine);
                if engine
                    .resolve(origin, instance.as_str(), since, when)
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
            return self.publish(diagnosis, when).await;
        }
        self.defer_once(origin, instance, diagnosis.failed_at, when)
            .await?;
        Ok(Evaluation::Deferred {
            instance_id: instance.clone(),
        })
    }

    /// Defers the one check of a failure. The check is sent first and the
    /// claim written after it: a failure in between sends a second check
    /// on the retry (harmless: publishing is idempotent), never none.
    /// Events of one failed attempt (`stopping`, then `stopped`) move its
    /// failure time by seconds; a failure more than an hour from the
    /// claimed one, or after the instance recovered, is a new attempt.
    async fn defer_once(
        &self,
        origin: &Origin,
        instance: &InstanceId,
        failed_at: Option<DateTime<Utc>>,
        when: When,
    ) -> Result<(), PipelineError> {
        let key = deferral_key(origin, instance);
        let current = self.store().record(&key).await?;
        if let Some(record) = &current {
            let claimed: Option<DeferralClaim> = serde_json::from_str(&record.body).ok();
            if let Some(claim) = claimed.filter(|c| c.recovered_at.is_none()) {
                let same_attempt = match (claim.failed_at, failed_at) {
                    (Some(a), Some(b)) => (a - b).abs() < Duration::hours(1),
                    _ => true,
                };
                if same_attempt {
                    return Ok(());
                }
            }
        }
        let wait = self.settings.cloudtrail_wait_secs;
        let check = DeferredCheck {
            instance_id: instance.clone(),
            account: origin.account.clone(),
            region: origin.region.clone(),
            failed_at,
            not_before: when.now + Duration::seconds(i64::from(wait)),
        };
        self.defer(&check, wait).await?;
        let claim = DeferralClaim {
            failed_at,
            recovered_at: None,
        };
        let body = serde_json::to_string(&claim).unwrap_or_default();
        // Losing this race means another invocation deferred it too.
        self.store()
            .put_record(&key, &body, current.map(|r| r.version))
            .await?;
        Ok(())
    }

    /// Sends the start doctor's own check to its deferral queue.
    async fn defer(&self, check: &DeferredCheck, delay_secs: u32) -> Result<(), ServiceError> {
        let message = StartDeferred {
            doctor: self.doctor().name().to_owned(),
            what: Later::Check(check.clone()),
        };
        let value = serde_json::to_value(&message).unwrap_or(Value::Null);
        self.ports.deferrer().defer(&value, delay_secs).await
    }

    /// Ends the deferral claim of a failure the instance recovered from, so
    /// that its next failure is deferred again.
    async fn end_deferral(
        &self,
        origin: &Origin,
        instance: &InstanceId,
        since: DateTime<Utc>,
    ) -> Result<(), PipelineError> {
        record::update(
            self.store(),
            &deferral_key(origin, instance),
            |claim: &mut DeferralClaim| {
                let ends =
                    claim.recovered_at.is_none() && claim.failed_at.is_none_or(|f| since > f);
                if ends {
                    claim.recovered_at = Some(since);
                }
                ends
            },
        )
        .await?;
        Ok(())
    }

    async fn publish(&self, diagnosis: Diagnosis, when: When) -> Result<Evaluation, PipelineError> {
        let doctor = self.doctor();
        let engine = Engine::new(&self.ports, &doctor, &self.settings.engine);
        // Boxed: publishing is a deep chain of futures, and a future that
        // size on the stack overflows a 2 MB thread in debug builds.
        Box::pin(engine.publish(&diagnosis, when)).await?;
        Ok(Evaluation::Published {
            instance_id: diagnosis.instance_id,
            cause: diagnosis.cause,
        })
    }

    /// Runs deferred checks at `now` (by an invocation that must be done by
    /// `deadline`): stored evidence, then live checks, then one CloudTrail
    /// lookup for what is still unexplained; publishes what it finds,
    /// unless the instance has run since it failed. Flushes of stale group
    /// messages render their latest state. Returns, per check, its result;
    /// a failed check does not stop the others.
    pub async fn handle_deferred(
        &self,
        messages: &[StartDeferred],
        now: DateTime<Utc>,
        deadline: Deadline,
    ) -> Vec<Result<Option<Evaluation>, PipelineError>> {
        let when = When::new(now, deadline);
        let doctor = self.doctor();
        let engine = Engine::new(&self.ports, &doctor, &self.settings.engine);
        let mut results: Vec<Result<Option<Evaluation>, PipelineError>> =
            messages.iter().map(|_| Ok(None)).collect();
        let mut open: Vec<OpenCheck> = Vec::new();
        for (index, message) in messages.iter().enumerate() {
            if message.doctor != doctor.name() {
                results[index] = Err(PipelineError::OtherDoctor(message.doctor.clone()));
                continue;
            }
            let check = match &message.what {
                Later::Notice(notice) => {
                    results[index] = Box::pin(engine.handle(notice, when))
                        .await
                        .map(|()| None)
                        .map_err(PipelineError::from);
                    continue;
                }
                Later::Check(check) => check,
            };
            if check.not_before > now {
                let remaining = (check.not_before - now)
                    .num_seconds()
                    .clamp(1, i64::from(u32::MAX));
                results[index] = self
                    .defer(check, u32::try_from(remaining).unwrap_or(u32::MAX))
                    .await
                    .map(|()| None)
                    .map_err(PipelineError::from);
                continue;
            }
            let origin = Origin {
                account: check.account.clone(),
                region: check.region.clone(),
            };
            match self.gather(&origin, &check.instance_id).await {
                Err(e) => results[index] = Err(e),
                Ok(set) => match diagnosis_of(&set, &check.instance_id) {
                    None => {}
                    Some(d) if ran_since(&set, &d) => {
                        results[index] = Ok(Some(Evaluation::NoFailure {
                            instance_id: d.instance_id,
                        }));
                    }
                    Some(d) if d.cause != Cause::InternalErrorUnexplained => {
                        results[index] = self.publish(d, when).await.map(Some);
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
                    results[check.index] = self.publish(d, when).await.map(Some);
                }
            }
            open = still;
        }
        results
    }
}

/// The record key of an instance's deferral claim.
fn deferral_key(origin: &Origin, instance: &InstanceId) -> String {
    format!("start#deferred#{}#{instance}", origin.key())
}

/// The claim of a failure's one deferred check.
#[derive(Serialize, Deserialize)]
struct DeferralClaim {
    /// When the failure happened.
    failed_at: Option<DateTime<Utc>>,
    /// When the instance ran again, which ends the claim.
    #[serde(default)]
    recovered_at: Option<DateTime<Utc>>,
}

/// Whether the instance of `d` has run since its failure.
fn ran_since(set: &EvidenceSet, d: &Diagnosis) -> bool {
    set.state_changes.values().any(|c| {
        c.instance_id == d.instance_id
            && c.state == crate::evidence::InstanceState::Running
            && d.failed_at.is_none_or(|f| c.time > f)
    })
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
