//! The start doctor's functions, `ec2-state-change` and
//! `cloudtrail-api-call`: their configuration, the pipeline built from it
//! once per container, and their handlers.
//!
//! | Variable | Meaning |
//! |---|---|
//! | (every variable of [`crate::config::Common`]) | |
//! | `DEFER_QUEUE_URL` | the SQS queue of the start doctor's deferred checks and notices (required) |
//! | `CLOUDTRAIL_WAIT_SECONDS` | wait for CloudTrail before live checks (default 900, 0 to 3600) |
//! | `STORM_WINDOW_SECONDS` | how long a storm group collects into one message (default 3600, 60 to 86400) |

use chrono::{DateTime, Duration, Utc};
use serde::Deserialize;
use serde_json::Value;
use start_doctor_core::ids::{Account, InstanceId, Region};
use start_doctor_engine::ports::{Io, Ports};
use start_doctor_engine::Later;
use start_doctor_start::pipeline::{
    DeferredCheck, EventOutcome, Pipeline, PipelineError, Settings, StartDeferred,
};
use start_doctor_start::ports::LiveChecks;

use crate::annotate::AwsAnnotator;
use crate::config::{slack_notifier, Common, ConfigError, Env, SlackNotifier};
use crate::defer::SqsDeferrer;
use crate::dynamodb::DynamoStore;
use crate::lambda::{self, HandlerError, Input, Invocation};
use crate::live::{AwsLiveChecks, CrossAccount};

/// `CLOUDTRAIL_WAIT_SECONDS` allowed: from no wait to an hour, as the
/// template's `CloudTrailWaitSeconds` (a longer wait leaves a failed start
/// unreported for longer than anyone would wait for it).
pub const CLOUDTRAIL_WAIT_RANGE: std::ops::RangeInclusive<u32> = 0..=3_600;
/// `STORM_WINDOW_SECONDS` allowed: at least a minute (0 would give every
/// instance of a storm its own message), at most a day.
pub const STORM_WINDOW_RANGE: std::ops::RangeInclusive<u32> = 60..=86_400;

/// The start doctor's functions' configuration.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StartConfig {
    /// What every function reads.
    pub common: Common,
    /// `DEFER_QUEUE_URL`.
    pub defer_queue_url: String,
    /// The pipeline's tunables.
    pub settings: Settings,
}

impl StartConfig {
    /// Reads the configuration.
    pub fn read<F: Fn(&str) -> Option<String>>(env: &Env<F>) -> Result<Self, ConfigError> {
        let common = Common::read(env)?;
        Ok(Self {
            defer_queue_url: env.required("DEFER_QUEUE_URL")?,
            settings: Settings {
                cloudtrail_wait_secs: env.seconds(
                    "CLOUDTRAIL_WAIT_SECONDS",
                    900,
                    CLOUDTRAIL_WAIT_RANGE,
                )?,
                storm_window: Duration::seconds(i64::from(env.seconds(
                    "STORM_WINDOW_SECONDS",
                    3600,
                    STORM_WINDOW_RANGE,
                )?)),
                engine: common.engine.clone(),
            },
            common,
        })
    }
}

/// Live checks, reaching member accounts through `READ_ROLE_NAME` when set.
pub fn live_checks(
    common: &Common,
    sdk: &aws_config::SdkConfig,
) -> Result<AwsLiveChecks, ConfigError> {
    let live = AwsLiveChecks::new(sdk);
    match (&common.read_role_name, &common.central_account_id) {
        (None, _) => Ok(live),
        (Some(role_name), Some(home)) => Ok(live.with_cross_account(CrossAccount {
            base: sdk.clone(),
            home_account: home.to_string(),
            role_name: role_name.clone(),
        })),
        (Some(_), None) => Err(ConfigError::Missing(
            "CENTRAL_ACCOUNT_ID (needed with READ_ROLE_NAME)",
        )),
    }
}

/// The production pipeline.
pub type AwsPipeline =
    Pipeline<Io<DynamoStore, SlackNotifier, SqsDeferrer, AwsAnnotator>, AwsLiveChecks>;

/// Builds the production pipeline from the configuration and the SDK
/// configuration (clients are built once, here).
pub async fn pipeline(
    config: &StartConfig,
    sdk: &aws_config::SdkConfig,
) -> Result<AwsPipeline, ConfigError> {
    Ok(Pipeline {
        ports: Io {
            store: config.common.store(sdk),
            notifier: slack_notifier(&config.common, sdk).await?,
            deferrer: SqsDeferrer::new(
                aws_sdk_sqs::Client::new(sdk),
                config.defer_queue_url.clone(),
            ),
            annotator: config.common.annotator(sdk),
        },
        live: live_checks(&config.common, sdk)?,
        settings: config.settings.clone(),
    })
}

/// JSON logs, configuration from the environment, clients built once: what
/// both functions' `main` does before the runtime loop. Errors are logged
/// as JSON before they are returned.
pub async fn start() -> Result<AwsPipeline, lambda_runtime::Error> {
    lambda::init_tracing();
    let config = StartConfig::read(&Env::process()).inspect_err(|e| {
        tracing::error!(error = %e, "configuration");
    })?;
    let sdk = aws_config::load_defaults(aws_config::BehaviorVersion::latest()).await;
    Ok(pipeline(&config, &sdk)
        .await
        .inspect_err(|e| tracing::error!(error = %e, "start-up"))?)
}

impl From<PipelineError> for HandlerError {
    fn from(e: PipelineError) -> Self {
        match e {
            PipelineError::Unreadable { .. }
            | PipelineError::Malformed { .. }
            | PipelineError::OtherDoctor(_) => Self::Unreadable(e.to_string()),
            other => Self::Retryable(other.to_string()),
        }
    }
}

/// A deferred check as queued before deferred messages named their doctor
/// (a queue drained across an upgrade): read as the start doctor's.
#[derive(Deserialize)]
struct EarlierCheck {
    instance_id: InstanceId,
    account: Option<Account>,
    region: Option<Region>,
    failed_at: Option<DateTime<Utc>>,
    not_before: DateTime<Utc>,
    /// The flush of a group keyed the earlier way: nothing to render now.
    #[serde(default)]
    flush_group: Option<String>,
}

/// A message on the start doctor's queue, in either form.
#[derive(Deserialize)]
#[serde(untagged)]
enum QueueMessage {
    Current(StartDeferred),
    Earlier(EarlierCheck),
}

impl QueueMessage {
    /// The message as the pipeline reads it; `None` for a flush of a group
    /// that no longer exists under that key.
    fn current(self) -> Option<StartDeferred> {
        match self {
            Self::Current(m) => Some(m),
            Self::Earlier(c) if c.flush_group.is_some() => None,
            Self::Earlier(c) => Some(StartDeferred {
                doctor: "start".to_owned(),
                what: Later::Check(DeferredCheck {
                    instance_id: c.instance_id,
                    account: c.account,
                    region: c.region,
                    failed_at: c.failed_at,
                    not_before: c.not_before,
                }),
            }),
        }
    }
}

/// Handles one EventBridge event (a state change or a CloudTrail API call)
/// within the invocation: files and evaluates it. The raw payload is what
/// is stored, so that nothing the typed envelope leaves out is lost.
pub async fn handle_eventbridge<P: Ports, L: LiveChecks>(
    pipeline: &Pipeline<P, L>,
    payload: &Value,
    invocation: &Invocation,
) -> Result<EventOutcome, HandlerError> {
    let event_id = lambda::eventbridge_id(payload)?;
    lambda::within(invocation, async {
        match pipeline
            .handle_event(payload, invocation.now, invocation.deadline)
            .await
        {
            Ok(outcome) => {
                for evaluation in &outcome.evaluations {
                    tracing::info!(event_id, redelivered = outcome.redelivered, evaluation = ?evaluation, "evaluated");
                }
                Ok(outcome)
            }
            Err(e) => {
                tracing::error!(event_id, error = %e, "event failed");
                Err(e.into())
            }
        }
    })
    .await
}

/// The `ec2-state-change` function's handler. Its input is an SQS batch of
/// the start doctor's deferred messages (an object with `Records`) or one
/// EventBridge event; it is read raw, so that one unreadable message never
/// makes the whole batch unreadable. Returns the response Lambda expects
/// (the batch failures, or the event outcome).
pub async fn handle_state_change_input<P: Ports, L: LiveChecks>(
    pipeline: &Pipeline<P, L>,
    input: &Value,
    invocation: &Invocation,
) -> Result<Value, HandlerError> {
    // Both responses are plain data with string keys: they serialise.
    match Input::of(input)? {
        Input::Batch(records) => lambda::run_batch(records, invocation, |messages: Vec<QueueMessage>| async move {
            let (kept, index): (Vec<StartDeferred>, Vec<Option<usize>>) = {
                let mut kept = Vec::new();
                let index = messages
                    .into_iter()
                    .map(|m| {
                        m.current().map(|m| {
                            kept.push(m);
                            kept.len() - 1
                        })
                    })
                    .collect();
                (kept, index)
            };
            let results = pipeline
                .handle_deferred(&kept, invocation.now, invocation.deadline)
                .await;
            let mut results: Vec<Option<Result<(), HandlerError>>> = results
                .into_iter()
                .zip(&kept)
                .map(|(r, m)| {
                    Some(match r {
                        Ok(evaluation) => {
                            tracing::info!(doctor = m.doctor, evaluation = ?evaluation, "deferred message done");
                            Ok(())
                        }
                        Err(e) => Err(HandlerError::from(e)),
                    })
                })
                .collect();
            index
                .into_iter()
                .map(|i| i.and_then(|i| results[i].take()).unwrap_or(Ok(())))
                .collect()
        })
        .await
        .map(|r| serde_json::to_value(r).unwrap_or(Value::Null)),
        Input::Event(event) => handle_eventbridge(pipeline, event, invocation)
            .await
            .map(|outcome| serde_json::to_value(outcome).unwrap_or(Value::Null)),
    }
}

/// Runs `ec2-state-change`.
pub async fn serve_state_changes() -> Result<(), lambda_runtime::Error> {
    let pipeline = start().await?;
    let pipeline = &pipeline;
    lambda::serve_events_and_batches(move |payload, invocation| async move {
        handle_state_change_input(pipeline, &payload, &invocation).await
    })
    .await
}

/// Runs `cloudtrail-api-call`.
pub async fn serve_api_calls() -> Result<(), lambda_runtime::Error> {
    let pipeline = start().await?;
    let pipeline = &pipeline;
    lambda::serve_events(move |payload, invocation| async move {
        handle_eventbridge(pipeline, &payload, &invocation).await
    })
    .await
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config(vars: &[(&str, &str)]) -> Result<StartConfig, ConfigError> {
        StartConfig::read(&Env::from_pairs(vars))
    }

    const BASE: [(&str, &str); 2] = [
        ("STORE_TABLE", "t"),
        ("DEFER_QUEUE_URL", "http://127.0.0.1/q"),
    ];

    #[test]
    fn defaults_and_webhook() {
        let mut vars = BASE.to_vec();
        vars.push(("SLACK_WEBHOOK_URL", "https://hooks.example/T/B/X"));
        let c = config(&vars).unwrap();
        assert_eq!(c.settings.cloudtrail_wait_secs, 900);
        assert_eq!(c.settings.storm_window, Duration::hours(1));
        assert_eq!(c.settings.engine.gather, Duration::seconds(60));
        assert!(matches!(
            c.common.slack,
            crate::config::SlackSource::Webhook(_)
        ));
        assert!(
            !format!("{c:?}").contains("hooks.example"),
            "the webhook URL is a secret"
        );
    }

    #[test]
    fn errors_name_the_variable() {
        let err = config(&[("STORE_TABLE", "t"), ("SLACK_WEBHOOK_URL", "u")])
            .unwrap_err()
            .to_string();
        assert!(err.contains("DEFER_QUEUE_URL"), "{err}");
        let mut vars = BASE.to_vec();
        vars.extend([
            ("SLACK_WEBHOOK_URL", "u"),
            ("CLOUDTRAIL_WAIT_SECONDS", "soon"),
        ]);
        assert!(config(&vars)
            .unwrap_err()
            .to_string()
            .contains("CLOUDTRAIL_WAIT_SECONDS"));
        let mut vars = BASE.to_vec();
        vars.push(("SLACK_BOT_TOKEN", "xoxb-1"));
        assert!(config(&vars)
            .unwrap_err()
            .to_string()
            .contains("SLACK_CHANNEL"));
    }

    #[test]
    fn a_channel_name_is_refused_for_its_id() {
        let mut vars = BASE.to_vec();
        vars.extend([("SLACK_BOT_TOKEN", "xoxb-1"), ("SLACK_CHANNEL", "#alerts")]);
        let err = config(&vars).unwrap_err().to_string();
        assert!(
            err.starts_with("SLACK_CHANNEL") && err.contains("channel id"),
            "{err}"
        );
        let mut vars = BASE.to_vec();
        vars.extend([
            ("SLACK_BOT_TOKEN", "xoxb-1"),
            ("SLACK_CHANNEL", "C0STARTDOC"),
        ]);
        assert!(config(&vars).is_ok());
    }

    #[test]
    fn out_of_range_settings_are_refused_naming_the_variable_and_range() {
        for (name, value, range) in [
            ("STORM_WINDOW_SECONDS", "0", "60 to 86400"),
            ("STORM_WINDOW_SECONDS", "86401", "60 to 86400"),
            ("CLOUDTRAIL_WAIT_SECONDS", "3601", "0 to 3600"),
            ("SLACK_GATHER_SECONDS", "901", "0 to 900"),
        ] {
            let mut vars = BASE.to_vec();
            vars.extend([("SLACK_WEBHOOK_URL", "u"), (name, value)]);
            let err = config(&vars).unwrap_err().to_string();
            assert!(
                err.starts_with(name) && err.contains("out of range") && err.contains(range),
                "{name}={value}: {err}"
            );
        }
        let mut vars = BASE.to_vec();
        vars.extend([
            ("SLACK_WEBHOOK_URL", "u"),
            ("STORM_WINDOW_SECONDS", "60"),
            ("CLOUDTRAIL_WAIT_SECONDS", "0"),
        ]);
        let c = config(&vars).unwrap();
        assert_eq!(c.settings.storm_window, Duration::minutes(1));
        assert_eq!(c.settings.cloudtrail_wait_secs, 0);
    }

    #[test]
    fn a_check_queued_the_earlier_way_is_still_read() {
        let earlier = r#"{"instance_id":"i-0a1b2c3d4e5f60002","account":"111122223333","region":"eu-west-1","failed_at":null,"not_before":"2026-11-20T07:15:00Z"}"#;
        let message: QueueMessage = serde_json::from_str(earlier).unwrap();
        let current = message.current().expect("a check");
        assert_eq!(current.doctor, "start");
        assert!(
            matches!(current.what, Later::Check(c) if c.instance_id.as_str() == "i-0a1b2c3d4e5f60002")
        );
        let flush = r#"{"instance_id":"i-0a1b2c3d4e5f60002","account":null,"region":null,"failed_at":null,"not_before":"2026-11-20T07:15:00Z","flush_group":"notice#group#x"}"#;
        let message: QueueMessage = serde_json::from_str(flush).unwrap();
        assert!(
            message.current().is_none(),
            "a flush of an earlier key is done"
        );
    }
}
