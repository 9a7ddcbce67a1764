//! The glue the Lambda functions are made of: JSON logging, the pipeline
//! built from the environment, and one typed handler per kind of payload.
//!
//! - [`handle_eventbridge`]: one EventBridge event (a state change or a
//!   CloudTrail API call). A bad event fails its invocation with an
//!   `Unreadable` error naming its id (EventBridge's retries then the
//!   on-failure destination keep it); a failure of AWS or Slack is a
//!   `Retryable` error, and the retry is idempotent.
//! - [`handle_deferred_checks`]: an SQS batch of deferred checks. A bad or
//!   failed message is reported in `batchItemFailures` and the rest of the
//!   batch is kept.

use aws_lambda_events::eventbridge::EventBridgeEvent;
use aws_lambda_events::sqs::{BatchItemFailure, SqsBatchResponse, SqsEvent};
use chrono::{DateTime, Utc};
use lambda_runtime::Diagnostic;
use serde_json::Value;

use start_doctor_core::pipeline::{EventOutcome, Pipeline, PipelineError};
use start_doctor_core::ports::{Annotator, DeferredCheck, Deferrer, LiveChecks, Notifier, Store};

use crate::config::{self, AwsPipeline, Config, SlackNotifier};
use crate::dynamodb::DynamoStore;
use crate::live::AwsLiveChecks;
use crate::preflight::{PreflightRun, DEFAULT_LOOKBACK_DAYS};

/// Sets up JSON logs for CloudWatch, level from `RUST_LOG` (default info).
pub fn init_tracing() {
    tracing_subscriber::fmt()
        .json()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info")),
        )
        .with_current_span(false)
        .without_time()
        .with_target(false)
        .init();
}

/// JSON logs, configuration from the environment, clients built once: what
/// every function's `main` does before its runtime loop. Errors are logged
/// as JSON before they are returned.
pub async fn start() -> Result<AwsPipeline, lambda_runtime::Error> {
    init_tracing();
    let config = Config::from_env().inspect_err(|e| {
        tracing::error!(error = %e, "configuration");
    })?;
    let sdk = aws_config::load_defaults(aws_config::BehaviorVersion::latest()).await;
    Ok(config::pipeline(&config, &sdk)
        .await
        .inspect_err(|e| tracing::error!(error = %e, "start-up"))?)
}

/// JSON logs, configuration from the environment, clients built once:
/// what the `preflight` function's `main` does before its runtime loop.
/// It reads `STORE_TABLE`, the Slack settings and `PREFLIGHT_LOOKBACK_DAYS`
/// (default 30); it defers nothing, so it needs no `DEFER_QUEUE_URL`.
pub async fn start_preflight(
) -> Result<PreflightRun<DynamoStore, SlackNotifier>, lambda_runtime::Error> {
    init_tracing();
    let env = |name: &str| std::env::var(name).ok().filter(|v| !v.is_empty());
    let config = Config::from_lookup(|name| match name {
        "DEFER_QUEUE_URL" => Some(String::new()),
        other => env(other),
    })
    .inspect_err(|e| tracing::error!(error = %e, "configuration"))?;
    let lookback_days = match env("PREFLIGHT_LOOKBACK_DAYS") {
        None => DEFAULT_LOOKBACK_DAYS,
        Some(v) => v.trim().parse::<i64>().map_err(|e| {
            tracing::error!(error = %e, "configuration");
            format!("PREFLIGHT_LOOKBACK_DAYS: {v:?} is not a number of days ({e})")
        })?,
    };
    let sdk = aws_config::load_defaults(aws_config::BehaviorVersion::latest()).await;
    Ok(PreflightRun {
        live: AwsLiveChecks::new(&sdk),
        store: DynamoStore::new(aws_sdk_dynamodb::Client::new(&sdk), config.table.clone()),
        notifier: config::slack_notifier(&config, &sdk)
            .await
            .inspect_err(|e| tracing::error!(error = %e, "start-up"))?,
        lookback_days,
    })
}

/// Why an invocation failed, as Lambda is told it.
#[derive(Debug, thiserror::Error)]
pub enum HandlerError {
    /// The event cannot be read; retrying will not help.
    #[error("{0}")]
    Unreadable(String),
    /// AWS, the store or Slack failed (throttling, contention, 5xx, a
    /// timeout); a retry of the same event is safe and may succeed.
    #[error("{0}")]
    Retryable(String),
}

impl From<PipelineError> for HandlerError {
    fn from(e: PipelineError) -> Self {
        match e {
            PipelineError::Unreadable { .. } | PipelineError::Malformed { .. } => {
                Self::Unreadable(e.to_string())
            }
            other => Self::Retryable(other.to_string()),
        }
    }
}

impl From<HandlerError> for Diagnostic {
    fn from(e: HandlerError) -> Self {
        let error_type = match &e {
            HandlerError::Unreadable(_) => "Unreadable",
            HandlerError::Retryable(_) => "Retryable",
        };
        Diagnostic {
            error_type: error_type.to_owned(),
            error_message: e.to_string(),
        }
    }
}

/// Handles one EventBridge event received at `now`: checks the envelope,
/// then files and evaluates it. The raw payload is what is stored, so that
/// nothing the typed envelope leaves out is lost.
pub async fn handle_eventbridge<S, N, L, D, A>(
    pipeline: &Pipeline<S, N, L, D, A>,
    payload: &Value,
    now: DateTime<Utc>,
) -> Result<EventOutcome, HandlerError>
where
    S: Store,
    N: Notifier,
    L: LiveChecks,
    D: Deferrer,
    A: Annotator,
{
    let event_id = payload
        .get("id")
        .and_then(Value::as_str)
        .unwrap_or("unknown")
        .to_owned();
    if let Err(e) = serde_json::from_value::<EventBridgeEvent<Value>>(payload.clone()) {
        tracing::error!(event_id, error = %e, "not an EventBridge event");
        return Err(HandlerError::Unreadable(format!(
            "event {event_id}: not an EventBridge event: {e}"
        )));
    }
    match pipeline.handle_event(payload, now).await {
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
}

/// Handles an SQS batch of deferred checks at `now`; returns the messages
/// to redeliver.
pub async fn handle_deferred_checks<S, N, L, D, A>(
    pipeline: &Pipeline<S, N, L, D, A>,
    batch: SqsEvent,
    now: DateTime<Utc>,
) -> SqsBatchResponse
where
    S: Store,
    N: Notifier,
    L: LiveChecks,
    D: Deferrer,
    A: Annotator,
{
    let mut failures: Vec<String> = Vec::new();
    let mut checks: Vec<(String, DeferredCheck)> = Vec::new();
    for message in batch.records {
        let id = message.message_id.unwrap_or_default();
        match serde_json::from_str::<DeferredCheck>(message.body.as_deref().unwrap_or_default()) {
            Ok(check) => checks.push((id, check)),
            Err(e) => {
                tracing::error!(message_id = id, error = %e, "malformed deferred check");
                failures.push(id);
            }
        }
    }
    let only: Vec<DeferredCheck> = checks.iter().map(|(_, c)| c.clone()).collect();
    let results = pipeline.handle_deferred(&only, now).await;
    for ((id, check), result) in checks.into_iter().zip(results) {
        match result {
            Ok(evaluation) => {
                tracing::info!(message_id = id, instance_id = %check.instance_id, evaluation = ?evaluation, "deferred check done")
            }
            Err(e) => {
                tracing::error!(message_id = id, instance_id = %check.instance_id, error = %e, "deferred check failed");
                failures.push(id);
            }
        }
    }
    batch_response(failures)
}

/// What the `ec2-state-change` function receives: an SQS batch of the
/// deferred checks it queued (it has `Records`), or one EventBridge event.
#[derive(Debug, serde::Deserialize)]
#[serde(untagged)]
pub enum StateChangeInput {
    /// Deferred checks whose wait is over.
    DeferredChecks(SqsEvent),
    /// One EventBridge event (`EC2 Instance State-change Notification`).
    Event(Value),
}

/// The `ec2-state-change` function's handler: routes the input to
/// [`handle_deferred_checks`] or [`handle_eventbridge`] and returns the
/// response Lambda expects (the batch failures, or the event outcome).
pub async fn handle_state_change_input<S, N, L, D, A>(
    pipeline: &Pipeline<S, N, L, D, A>,
    input: StateChangeInput,
    now: DateTime<Utc>,
) -> Result<Value, HandlerError>
where
    S: Store,
    N: Notifier,
    L: LiveChecks,
    D: Deferrer,
    A: Annotator,
{
    // Both responses are plain data with string keys: they serialise.
    match input {
        StateChangeInput::DeferredChecks(batch) => Ok(serde_json::to_value(
            handle_deferred_checks(pipeline, batch, now).await,
        )
        .unwrap_or(Value::Null)),
        StateChangeInput::Event(payload) => handle_eventbridge(pipeline, &payload, now)
            .await
            .map(|outcome| serde_json::to_value(outcome).unwrap_or(Value::Null)),
    }
}

fn batch_response(failures: Vec<String>) -> SqsBatchResponse {
    let mut response = SqsBatchResponse::default();
    response.batch_item_failures = failures
        .into_iter()
        .map(|id| {
            let mut f = BatchItemFailure::default();
            f.item_identifier = id;
            f
        })
        .collect();
    response
}
