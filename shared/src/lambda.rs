//! What the Lambda binaries share: JSON logging, and the translation of a
//! Lambda payload into pipeline calls.
//!
//! A payload is either one EventBridge event (a state change or a
//! CloudTrail API call) or an SQS batch of deferred checks. A bad EventBridge
//! event fails its invocation with an error naming its id (Lambda retries
//! it, then sends it to the dead-letter queue); a bad SQS message is
//! reported in `batchItemFailures` and the rest of the batch is kept.

use aws_lambda_events::sqs::{BatchItemFailure, SqsBatchResponse, SqsEvent};
use chrono::{DateTime, Utc};
use serde_json::Value;

use crate::notify::Notifier;
use crate::pipeline::{Annotator, DeferredCheck, Deferrer, LiveChecks, Pipeline, PipelineError};
use crate::store::Store;

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

/// Runs a start-doctor Lambda function: JSON logs, configuration from the
/// environment (see [`crate::aws::config`]), clients built once, then the
/// runtime loop calling [`handle`] for each invocation.
#[cfg(feature = "aws")]
pub async fn run() -> Result<(), lambda_runtime::Error> {
    init_tracing();
    let config = crate::aws::config::Config::from_env().inspect_err(|e| {
        tracing::error!(error = %e, "configuration");
    })?;
    let sdk = aws_config::load_defaults(aws_config::BehaviorVersion::latest()).await;
    let pipeline = crate::aws::config::pipeline(&config, &sdk)
        .await
        .inspect_err(|e| tracing::error!(error = %e, "start-up"))?;
    let pipeline = &pipeline;
    lambda_runtime::run(lambda_runtime::service_fn(
        move |event: lambda_runtime::LambdaEvent<Value>| async move {
            handle(pipeline, &event.payload, Utc::now())
                .await
                .map_err(lambda_runtime::Error::from)
        },
    ))
    .await
}

/// Whether a payload is an SQS batch rather than an EventBridge event.
fn is_sqs_batch(payload: &Value) -> bool {
    payload
        .get("Records")
        .and_then(Value::as_array)
        .is_some_and(|r| {
            r.iter()
                .all(|m| m.get("eventSource").and_then(Value::as_str) == Some("aws:sqs"))
        })
}

/// Handles one Lambda payload at `now`. Returns the invocation's response:
/// the event outcome, or for an SQS batch the `batchItemFailures`.
pub async fn handle<S, N, L, D, A>(
    pipeline: &Pipeline<S, N, L, D, A>,
    payload: &Value,
    now: DateTime<Utc>,
) -> Result<Value, PipelineError>
where
    S: Store,
    N: Notifier,
    L: LiveChecks,
    D: Deferrer,
    A: Annotator,
{
    if is_sqs_batch(payload) {
        return Ok(handle_sqs(pipeline, payload, now).await);
    }
    let event_id = payload
        .get("id")
        .and_then(Value::as_str)
        .unwrap_or("unknown");
    match pipeline.handle_event(payload, now).await {
        Ok(outcome) => {
            for evaluation in &outcome.evaluations {
                tracing::info!(event_id, redelivered = outcome.redelivered, evaluation = ?evaluation, "evaluated");
            }
            Ok(serde_json::to_value(&outcome).unwrap_or(Value::Null))
        }
        Err(e) => {
            tracing::error!(event_id, error = %e, "event failed");
            Err(e)
        }
    }
}

async fn handle_sqs<S, N, L, D, A>(
    pipeline: &Pipeline<S, N, L, D, A>,
    payload: &Value,
    now: DateTime<Utc>,
) -> Value
where
    S: Store,
    N: Notifier,
    L: LiveChecks,
    D: Deferrer,
    A: Annotator,
{
    let mut failures: Vec<String> = Vec::new();
    let batch: SqsEvent = match serde_json::from_value(payload.clone()) {
        Ok(b) => b,
        Err(e) => {
            tracing::error!(error = %e, "unreadable SQS batch");
            return batch_response(Vec::new());
        }
    };
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

fn batch_response(failures: Vec<String>) -> Value {
    let mut response = SqsBatchResponse::default();
    response.batch_item_failures = failures
        .into_iter()
        .map(|id| {
            let mut f = BatchItemFailure::default();
            f.item_identifier = id;
            f
        })
        .collect();
    serde_json::to_value(&response).unwrap_or(Value::Null)
}
