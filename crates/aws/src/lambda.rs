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
//!   batch is kept; a batch whose message ids cannot be read fails the
//!   invocation, so that SQS redelivers all of it (never acknowledged).
//!
//! Every handler works within the invocation's deadline ([`Deadline`],
//! from the Lambda context): it stops [`DEADLINE_MARGIN`] before it with a
//! `Retryable` error instead of being killed, and no Slack wait
//! (`Retry-After`, backoff) runs past that point. What a stopped
//! invocation claimed is a lease the retry (or another invocation) takes
//! over.

use aws_lambda_events::eventbridge::EventBridgeEvent;
use aws_lambda_events::sqs::{BatchItemFailure, SqsBatchResponse, SqsMessage};
use chrono::{DateTime, Utc};
use lambda_runtime::Diagnostic;
use serde_json::Value;

use start_doctor_core::pipeline::{Deadline, EventOutcome, Pipeline, PipelineError};
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

/// How long before the invocation's deadline a handler stops, so that it
/// answers (a retryable error) instead of being killed.
pub const DEADLINE_MARGIN: std::time::Duration = std::time::Duration::from_secs(3);

/// The budget assumed when the context carries no usable deadline (none,
/// or one already past, as some local emulators send): the template's
/// function `Timeout`.
pub const FALLBACK_BUDGET: std::time::Duration = std::time::Duration::from_secs(30);

/// The invocation's deadline from the Lambda context (`deadline`: epoch
/// milliseconds), as the pipeline's [`Deadline`] and as the tokio instant
/// the handler must be done by: [`DEADLINE_MARGIN`] before it, or a tenth of
/// the time left when that is less (a short budget is not spent on the
/// margin alone).
pub fn deadline_of(
    context: &lambda_runtime::Context,
    now: DateTime<Utc>,
) -> (Deadline, tokio::time::Instant) {
    let deadline = i64::try_from(context.deadline)
        .ok()
        .and_then(DateTime::<Utc>::from_timestamp_millis)
        .filter(|d| *d > now)
        .unwrap_or_else(|| now + chrono::Duration::from_std(FALLBACK_BUDGET).unwrap_or_default());
    let left = (deadline - now).to_std().unwrap_or_default();
    let margin = DEADLINE_MARGIN.min(left / 10);
    let stop = tokio::time::Instant::now() + left.saturating_sub(margin);
    (Deadline(deadline), stop)
}

/// Runs `work` until `stop`: Slack waits end before it, and the work is
/// cut off there with a `Retryable` error.
async fn within<T>(
    stop: tokio::time::Instant,
    work: impl std::future::Future<Output = Result<T, HandlerError>>,
) -> Result<T, HandlerError> {
    // Boxed: the pipeline's futures are large for a thread's stack.
    let work = Box::pin(crate::slack::until(stop, work));
    match tokio::time::timeout_at(stop, work).await {
        Ok(result) => result,
        Err(_) => {
            tracing::error!("stopping before the invocation deadline; the event will be retried");
            Err(HandlerError::Retryable(
                "stopped before the invocation deadline; retry".to_owned(),
            ))
        }
    }
}

/// Handles one EventBridge event received at `now` by an invocation that
/// must be done by `deadline` (see [`deadline_of`]): checks the envelope,
/// then files and evaluates it. The raw payload is what is stored, so that
/// nothing the typed envelope leaves out is lost.
pub async fn handle_eventbridge<S, N, L, D, A>(
    pipeline: &Pipeline<S, N, L, D, A>,
    payload: &Value,
    now: DateTime<Utc>,
    deadline: (Deadline, tokio::time::Instant),
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
    let (limit, stop) = deadline;
    within(stop, async {
        match pipeline.handle_event(payload, now, limit).await {
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

/// Handles an SQS batch (`records`, the raw `Records` list) of deferred
/// checks at `now`; returns the messages to redeliver. A message that
/// cannot be read is one failure; a message whose id cannot be read fails
/// the invocation (SQS then redelivers the whole batch). Checks still
/// running at the deadline are all reported as failed.
pub async fn handle_deferred_checks<S, N, L, D, A>(
    pipeline: &Pipeline<S, N, L, D, A>,
    records: &[Value],
    now: DateTime<Utc>,
    deadline: (Deadline, tokio::time::Instant),
) -> Result<SqsBatchResponse, HandlerError>
where
    S: Store,
    N: Notifier,
    L: LiveChecks,
    D: Deferrer,
    A: Annotator,
{
    let mut failures: Vec<String> = Vec::new();
    let mut checks: Vec<(String, DeferredCheck)> = Vec::new();
    for (index, raw) in records.iter().enumerate() {
        let Some(id) = raw
            .get("messageId")
            .and_then(Value::as_str)
            .map(str::to_owned)
        else {
            tracing::error!(index, "SQS message without a readable messageId");
            return Err(HandlerError::Retryable(format!(
                "SQS message {index} of the batch has no readable messageId: the batch is redelivered"
            )));
        };
        let check = serde_json::from_value::<SqsMessage>(raw.clone())
            .map_err(|e| e.to_string())
            .and_then(|m| {
                serde_json::from_str::<DeferredCheck>(m.body.as_deref().unwrap_or_default())
                    .map_err(|e| e.to_string())
            });
        match check {
            Ok(check) => checks.push((id, check)),
            Err(e) => {
                tracing::error!(message_id = id, error = %e, "malformed deferred check");
                failures.push(id);
            }
        }
    }
    let only: Vec<DeferredCheck> = checks.iter().map(|(_, c)| c.clone()).collect();
    let (limit, stop) = deadline;
    let results = within(stop, async {
        Ok(pipeline.handle_deferred(&only, now, limit).await)
    })
    .await;
    let Ok(results) = results else {
        // Cut off at the deadline: every check is tried again.
        failures.extend(checks.into_iter().map(|(id, _)| id));
        return Ok(batch_response(failures));
    };
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
    Ok(batch_response(failures))
}

/// The `ec2-state-change` function's handler. Its input is an SQS batch of
/// the deferred checks it queued (an object with `Records`) or one
/// EventBridge event; it is read raw, so that one unreadable message never
/// makes the whole batch unreadable. Returns the response Lambda expects
/// (the batch failures, or the event outcome).
pub async fn handle_state_change_input<S, N, L, D, A>(
    pipeline: &Pipeline<S, N, L, D, A>,
    input: &Value,
    now: DateTime<Utc>,
    deadline: (Deadline, tokio::time::Instant),
) -> Result<Value, HandlerError>
where
    S: Store,
    N: Notifier,
    L: LiveChecks,
    D: Deferrer,
    A: Annotator,
{
    // Both responses are plain data with string keys: they serialise.
    match input.get("Records") {
        Some(Value::Array(records)) => handle_deferred_checks(pipeline, records, now, deadline)
            .await
            .map(|r| serde_json::to_value(r).unwrap_or(Value::Null)),
        Some(_) => Err(HandlerError::Retryable(
            "an SQS batch whose Records is not a list: the batch is redelivered".to_owned(),
        )),
        None => handle_eventbridge(pipeline, input, now, deadline)
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

#[cfg(test)]
mod deadline_tests {
    use super::*;

    fn context(deadline_ms: u64) -> lambda_runtime::Context {
        let mut context = lambda_runtime::Context::default();
        context.deadline = deadline_ms;
        context
    }

    #[tokio::test]
    async fn a_missing_or_past_deadline_gets_the_template_budget() {
        let now = Utc::now();
        for deadline in [
            0,
            u64::try_from(now.timestamp_millis() - 1_000).unwrap_or(0),
        ] {
            let started = tokio::time::Instant::now();
            let (Deadline(at), stop) = deadline_of(&context(deadline), now);
            assert_eq!(
                at,
                now + chrono::Duration::seconds(30),
                "deadline {deadline}"
            );
            let budget = stop - started;
            assert!(
                budget > std::time::Duration::from_secs(26)
                    && budget <= std::time::Duration::from_millis(27_100),
                "deadline {deadline}: {budget:?}"
            );
        }
    }

    #[tokio::test]
    async fn a_short_budget_keeps_most_of_its_time() {
        let now = Utc::now();
        let deadline = u64::try_from(now.timestamp_millis() + 2_000).unwrap_or(0);
        let started = tokio::time::Instant::now();
        let (_, stop) = deadline_of(&context(deadline), now);
        let budget = stop - started;
        assert!(
            budget >= std::time::Duration::from_millis(1_700),
            "a 2 s budget loses only a tenth: {budget:?}"
        );
    }
}
