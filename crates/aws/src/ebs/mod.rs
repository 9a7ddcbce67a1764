//! The EBS doctor in AWS: the `ebs-ceiling` function. Every run (an
//! EventBridge schedule, every 5 minutes by default) asks CloudWatch which
//! instances of the account and Region hit an EBS ceiling in the last
//! window ([`discover`]), gathers the full evidence of those and of the
//! instances already announced ([`gather`], the same calls as `start-doctor
//! ebs --live`), diagnoses them with the CLI's reader and rules, and
//! publishes through the shared engine with the EBS doctor
//! (`start_doctor_ebs::notice`): one Slack message and one OpsItem per
//! (instance, cause), updated when its numbers change materially, resolved
//! when a run no longer sees it. `not_ebs_bound` and `insufficient_data`
//! are never posted.
//!
//! Why a schedule rather than an alarm per volume: one rule covers every
//! volume and instance of the Region, new ones included, with no resource
//! to create or delete per volume; a run sees every ceiling at once, so it
//! also sees what cleared. A `CloudWatch Alarm State Change` event (for
//! example from one Metrics Insights alarm over the same query) also
//! starts a run, as a faster trigger; the run reads CloudWatch itself and
//! does not rely on which contributor the event names.
//!
//! Deferred notices: none leave the run. Its engine works with an
//! [`InlineDeferrer`] whose notices (a flush, a follow-up) are worked off
//! before the run ends; the next run, 5 minutes later, repeats anything a
//! failed run left, so no queue is needed.
//!
//! | Variable | Meaning |
//! |---|---|
//! | (every variable of [`crate::config::Common`]) | |
//! | `CENTRAL_ACCOUNT_ID` | required here: the account whose instances are watched (the template sets the function's own) |
//! | `EBS_WINDOW_MINUTES` | the window each run examines (default 30, 10 to 180): a ceiling hit in it is open, one not hit in it has cleared |
//! | `EBS_MAX_INSTANCES` | most instances whose evidence one run gathers (default 100, 1 to 500) |

pub mod discover;
pub mod gather;

use std::collections::BTreeSet;

use chrono::{DateTime, Duration, Utc};
use serde::Serialize;
use serde_json::{json, Value};
use start_doctor_core::ids::{InstanceId, Origin, Region};
use start_doctor_ebs::notice::{parse_subject, publishable, EbsDoctor};
use start_doctor_ebs::{diagnose, read_document, Collected, Finding, Options};
use start_doctor_engine::ports::{InlineDeferrer, Io, Ports};
use start_doctor_engine::{Deferred, Doctor, Engine, Later, Published};

use crate::annotate::AwsAnnotator;
use crate::config::{slack_notifier, Common, ConfigError, Env, SlackNotifier};
use crate::dynamodb::DynamoStore;
use crate::lambda::{self, HandlerError, Invocation};

/// The default window of a run, minutes.
pub const DEFAULT_WINDOW_MINUTES: u32 = 30;
/// `EBS_WINDOW_MINUTES` allowed: at least two schedule periods, at most
/// what one-minute points and one `GetMetricData` page cover well.
pub const WINDOW_RANGE: std::ops::RangeInclusive<u32> = 10..=180;
/// The default of `EBS_MAX_INSTANCES`.
pub const DEFAULT_MAX_INSTANCES: u32 = 100;
/// `EBS_MAX_INSTANCES` allowed.
pub const MAX_INSTANCES_RANGE: std::ops::RangeInclusive<u32> = 1..=500;
/// Seconds per point: the one-minute metrics of Nitro volumes.
pub const PERIOD: u32 = 60;
/// How many rounds of deferred notices a run works off.
const MAX_NOTICE_ROUNDS: usize = 8;

/// The function's configuration.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct EbsConfig {
    /// What every function reads.
    pub common: Common,
    /// `EBS_WINDOW_MINUTES`.
    pub window_minutes: u32,
    /// `EBS_MAX_INSTANCES`.
    pub max_instances: u32,
}

impl EbsConfig {
    /// Reads the configuration. The function defers nothing to a queue:
    /// it needs no `DEFER_QUEUE_URL`.
    pub fn read<F: Fn(&str) -> Option<String>>(env: &Env<F>) -> Result<Self, ConfigError> {
        let common = Common::read(env)?;
        if common.central_account_id.is_none() {
            return Err(ConfigError::Missing(
                "CENTRAL_ACCOUNT_ID (the account whose instances are watched)",
            ));
        }
        Ok(Self {
            window_minutes: env.number(
                "EBS_WINDOW_MINUTES",
                "minutes",
                DEFAULT_WINDOW_MINUTES,
                WINDOW_RANGE,
            )?,
            max_instances: env.number(
                "EBS_MAX_INSTANCES",
                "instances",
                DEFAULT_MAX_INSTANCES,
                MAX_INSTANCES_RANGE,
            )?,
            common,
        })
    }
}

/// The ports of a run: no queue, the run works off its own notices.
pub type EbsPorts = Io<DynamoStore, SlackNotifier, InlineDeferrer, AwsAnnotator>;

/// The function's collaborators, built once per container.
#[derive(Debug)]
pub struct EbsRun<P> {
    /// EC2 (describe calls).
    pub ec2: aws_sdk_ec2::Client,
    /// CloudWatch (Metrics Insights discovery and `GetMetricData`).
    pub cloudwatch: aws_sdk_cloudwatch::Client,
    /// The live path's ports.
    pub ports: P,
    /// The engine's tunables.
    pub engine: start_doctor_engine::Settings,
    /// The account and Region watched.
    pub origin: Origin,
    /// The window each run examines.
    pub window: Duration,
    /// Most instances gathered per run.
    pub max_instances: usize,
}

/// What a run did.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct EbsOutcome {
    /// Instances a discovery query named.
    pub candidates: usize,
    /// Instances whose evidence was gathered and diagnosed.
    pub examined: usize,
    /// Findings new to their group: a message was posted (or is due).
    pub joined: usize,
    /// Findings published before whose message now shows newer numbers.
    pub refreshed: usize,
    /// Findings published before, nothing new to show.
    pub unchanged: usize,
    /// Findings not posted (`not_ebs_bound`, `insufficient_data`), as
    /// `<instance>#<cause>`.
    pub not_posted: Vec<String>,
    /// Open (instance, cause) that cleared in this run.
    pub resolved: usize,
    /// Instances left for the next run (more than `EBS_MAX_INSTANCES`):
    /// nothing of theirs is published or resolved by this one.
    pub postponed: usize,
    /// What could not be read (the run then resolves nothing).
    pub errors: Vec<String>,
}

/// The engine's settings for a run: each (instance, cause) is its own
/// group with one member, so nothing is gathered before a first post.
pub fn ebs_engine(common: &start_doctor_engine::Settings) -> start_doctor_engine::Settings {
    start_doctor_engine::Settings {
        gather: Duration::zero(),
        gather_always: false,
        ..common.clone()
    }
}

/// Whether an event starts a run: the schedule, or an alarm's state
/// change (a faster trigger). Anything else is refused.
fn trigger_of(event: &Value) -> Result<&str, HandlerError> {
    let kind = event["detail-type"].as_str().unwrap_or_default();
    match kind {
        "Scheduled Event" | "CloudWatch Alarm State Change" => Ok(kind),
        other => Err(HandlerError::Unreadable(format!(
            "ebs-ceiling runs on a schedule or an alarm's state change, not on {other:?}"
        ))),
    }
}

impl<P: Ports<Deferrer = InlineDeferrer>> EbsRun<P> {
    /// Handles one EventBridge event: discovers, gathers, diagnoses,
    /// publishes and resolves. What could not be read is reported and the
    /// rest is still published; the run then resolves nothing (it cannot
    /// tell what cleared) and fails, so that Lambda retries it.
    pub async fn handle(
        &self,
        event: &Value,
        invocation: &Invocation,
    ) -> Result<EbsOutcome, HandlerError> {
        let trigger = trigger_of(event)?;
        let when = invocation.when();
        let until = when.now;
        let since = until - self.window;
        let doctor = EbsDoctor;
        let engine = Engine::new(&self.ports, &doctor, &self.engine);
        let mut outcome = EbsOutcome::default();

        let found = discover::discover(&self.cloudwatch, since, until).await;
        outcome.errors.extend(found.errors.iter().cloned());
        for metric in &found.truncated {
            tracing::warn!(
                metric,
                "a discovery query returned its most series: more may be at a limit"
            );
        }
        let mut candidates = found.instances.clone();
        if !found.volumes.is_empty() {
            match discover::instances_of_volumes(&self.ec2, &found.volumes).await {
                Ok((instances, _)) => candidates.extend(instances),
                Err(e) => outcome.errors.push(e.to_string()),
            }
        }
        outcome.candidates = candidates.len();
        let open = engine.open_groups(&self.origin).await?;
        let announced: BTreeSet<InstanceId> = open
            .iter()
            .flat_map(|g| g.group.members.iter())
            .filter_map(|m| parse_subject(m).map(|(i, _)| i))
            .collect();
        // Announced instances first: their clearing must be seen.
        let mut examine: Vec<InstanceId> = announced.iter().cloned().collect();
        examine.extend(
            candidates
                .iter()
                .filter(|i| !announced.contains(i))
                .cloned(),
        );
        if examine.len() > self.max_instances {
            tracing::warn!(
                instances = examine.len(),
                max = self.max_instances,
                "more instances than one run gathers (EBS_MAX_INSTANCES): the rest waits for the next run"
            );
            outcome.postponed = examine.len() - self.max_instances;
            examine.truncate(self.max_instances);
        }
        tracing::info!(
            trigger,
            candidates = outcome.candidates,
            open = open.len(),
            examine = examine.len(),
            discovery_calls = found.calls,
            "ebs run"
        );

        let findings = if examine.is_empty() {
            Vec::new()
        } else {
            self.diagnose(&examine, since, until, &mut outcome).await?
        };
        outcome.examined = examine.len();

        let mut current: BTreeSet<String> = BTreeSet::new();
        let mut undecided: BTreeSet<InstanceId> = BTreeSet::new();
        for finding in &findings {
            let subject = doctor.subject(finding);
            if !publishable(finding) {
                if finding.cause == start_doctor_ebs::Cause::InsufficientData {
                    undecided.insert(finding.instance_id.clone());
                }
                tracing::info!(subject, summary = finding.summary, "not posted");
                outcome.not_posted.push(subject);
                continue;
            }
            current.insert(subject.clone());
            // One finding that cannot be published (store contention,
            // Slack down) does not keep the others from theirs; the run
            // then resolves nothing and is retried.
            match engine.publish(finding, when).await {
                Ok(Published::Joined) => outcome.joined += 1,
                Ok(Published::Refreshed) => outcome.refreshed += 1,
                Ok(Published::Already) => outcome.unchanged += 1,
                Err(e) => {
                    tracing::error!(subject, error = %e, "publication failed");
                    outcome.errors.push(format!("{subject}: {e}"));
                }
            }
        }

        if outcome.errors.is_empty() {
            let cleared: Vec<String> = open
                .iter()
                .flat_map(|g| {
                    g.group
                        .members
                        .iter()
                        .filter(|m| !g.group.resolved.contains(m))
                })
                .filter(|m| !current.contains(*m))
                .filter(|m| {
                    // Only what this run examined; an instance whose
                    // evidence is missing proves nothing: it stays open
                    // until a run can tell.
                    parse_subject(m)
                        .is_some_and(|(i, _)| examine.contains(&i) && !undecided.contains(&i))
                })
                .cloned()
                .collect();
            if !cleared.is_empty() {
                outcome.resolved = engine
                    .resolve_all(&self.origin, &cleared, until, when)
                    .await?;
            }
        }
        self.work_off(&engine, when).await?;
        if !outcome.errors.is_empty() {
            return Err(HandlerError::Retryable(format!(
                "ebs run incomplete (nothing resolved): {}",
                outcome.errors.join("; ")
            )));
        }
        Ok(outcome)
    }

    /// Gathers and diagnoses `instances` over `[since, until]`; every
    /// finding carries the run's account and Region.
    async fn diagnose(
        &self,
        instances: &[InstanceId],
        since: DateTime<Utc>,
        until: DateTime<Utc>,
        outcome: &mut EbsOutcome,
    ) -> Result<Vec<Finding>, HandlerError> {
        let what = gather::Gather {
            instance_ids: instances.to_vec(),
            since,
            until,
            period: PERIOD,
            now: until,
        };
        let gathered = gather::gather(&self.ec2, &self.cloudwatch, &what)
            .await
            .map_err(|e| HandlerError::Retryable(e.to_string()))?;
        tracing::info!(
            calls = gathered.calls,
            files = gathered.files.len(),
            "ebs evidence gathered"
        );
        // Volume status and fast snapshot restores are optional pieces:
        // without them a finding says what is missing, and clearing is
        // still decided by the metrics.
        for error in &gathered.errors {
            tracing::warn!(error, "ebs evidence");
            if error.starts_with("metrics") {
                outcome.errors.push(error.clone());
            }
        }
        let mut collected = Collected::default();
        for file in &gathered.files {
            match read_document(&file.bytes) {
                Ok(doc) => {
                    for p in &doc.problems {
                        tracing::warn!(file = file.name, problem = %p, "ebs evidence");
                    }
                    collected.add(doc);
                }
                Err(e) => outcome.errors.push(format!("{}: {e}", file.name)),
            }
        }
        let evidence = collected.finish();
        let options = Options {
            since: Some(since),
            until: Some(until),
            instance_ids: instances.to_vec(),
        };
        Ok(diagnose(&evidence, &options)
            .into_iter()
            .map(|mut f| {
                // The run reads one account and Region: every key of the
                // engine is under it, whatever a describe call omitted.
                f.account.clone_from(&self.origin.account);
                f.region.clone_from(&self.origin.region);
                f
            })
            .collect())
    }

    /// Works off the notices the run deferred (a flush, a follow-up).
    async fn work_off(
        &self,
        engine: &Engine<'_, P, EbsDoctor>,
        when: start_doctor_engine::When,
    ) -> Result<(), HandlerError> {
        for _ in 0..MAX_NOTICE_ROUNDS {
            let queued = engine.ports.deferrer().drain();
            if queued.is_empty() {
                break;
            }
            for message in queued {
                let deferred: Deferred<()> =
                    serde_json::from_value(message.clone()).map_err(|e| {
                        HandlerError::Retryable(format!("inline deferral: {e}: {}", json!(message)))
                    })?;
                if let Later::Notice(notice) = deferred.what {
                    engine.handle(&notice, when).await?;
                }
            }
        }
        Ok(())
    }
}

/// JSON logs, configuration from the environment, clients built once: what
/// the `ebs-ceiling` function's `main` does before its runtime loop.
pub async fn start() -> Result<EbsRun<EbsPorts>, lambda_runtime::Error> {
    lambda::init_tracing();
    let config = EbsConfig::read(&Env::process())
        .inspect_err(|e| tracing::error!(error = %e, "configuration"))?;
    let sdk = aws_config::load_defaults(aws_config::BehaviorVersion::latest()).await;
    let notifier = slack_notifier(&config.common, &sdk)
        .await
        .inspect_err(|e| tracing::error!(error = %e, "start-up"))?;
    let region = sdk.region().and_then(|r| Region::parse(r.as_ref()));
    if region.is_none() {
        tracing::error!("no AWS Region (AWS_REGION)");
        return Err("no AWS Region (AWS_REGION)".into());
    }
    Ok(EbsRun {
        ec2: aws_sdk_ec2::Client::new(&sdk),
        cloudwatch: aws_sdk_cloudwatch::Client::new(&sdk),
        ports: Io {
            store: config.common.store(&sdk),
            notifier,
            deferrer: InlineDeferrer::default(),
            annotator: config.common.annotator(&sdk),
        },
        engine: ebs_engine(&config.common.engine),
        origin: Origin {
            account: config.common.central_account_id.clone(),
            region,
        },
        window: Duration::minutes(i64::from(config.window_minutes)),
        max_instances: config.max_instances as usize,
    })
}

/// Runs the `ebs-ceiling` function.
pub async fn serve() -> Result<(), lambda_runtime::Error> {
    let run = start().await?;
    let run = &run;
    lambda::serve_events(move |payload, invocation| async move {
        run.handle(&payload, &invocation).await
    })
    .await
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config(vars: &[(&str, &str)]) -> Result<EbsConfig, ConfigError> {
        EbsConfig::read(&Env::from_pairs(vars))
    }

    const BASE: [(&str, &str); 3] = [
        ("STORE_TABLE", "t"),
        ("SLACK_WEBHOOK_URL", "u"),
        ("CENTRAL_ACCOUNT_ID", "111122223333"),
    ];

    #[test]
    fn defaults_and_ranges() {
        let c = config(&BASE).unwrap();
        assert_eq!((c.window_minutes, c.max_instances), (30, 100));
        let mut vars = BASE.to_vec();
        vars.push(("EBS_WINDOW_MINUTES", "5"));
        let err = config(&vars).unwrap_err().to_string();
        assert!(
            err.starts_with("EBS_WINDOW_MINUTES") && err.contains("10 to 180"),
            "{err}"
        );
        let mut vars = BASE.to_vec();
        vars.push(("EBS_MAX_INSTANCES", "0"));
        assert!(config(&vars)
            .unwrap_err()
            .to_string()
            .starts_with("EBS_MAX_INSTANCES"));
    }

    #[test]
    fn the_account_watched_is_required() {
        let err = config(&BASE[..2]).unwrap_err().to_string();
        assert!(err.contains("CENTRAL_ACCOUNT_ID"), "{err}");
    }

    #[test]
    fn a_schedule_or_an_alarm_starts_a_run_and_nothing_else() {
        assert!(trigger_of(&json!({"detail-type": "Scheduled Event"})).is_ok());
        assert!(trigger_of(&json!({"detail-type": "CloudWatch Alarm State Change"})).is_ok());
        assert!(matches!(
            trigger_of(&json!({"detail-type": "EC2 Instance State-change Notification"})),
            Err(HandlerError::Unreadable(_))
        ));
    }
}
