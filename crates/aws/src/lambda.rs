//! The glue every function is made of, one place for each concern: JSON
//! logs ([`init_tracing`]), the invocation's deadline ([`Invocation`]),
//! the one mapping of errors to what Lambda is told ([`HandlerError`] →
//! `Diagnostic`), partial-batch failures of SQS batches ([`run_batch`]),
//! and the runtime loop of each kind of function: one fed by EventBridge
//! events ([`serve_events`]), one fed by an SQS queue of its own deferred
//! messages as well ([`serve_events_and_batches`]).
//!
//! - An EventBridge event whose envelope is not one fails its invocation
//!   with an `Unreadable` error naming its id (EventBridge's retries then
//!   the on-failure destination keep it); a failure of AWS or Slack is
//!   `Retryable`, and the retry is idempotent.
//! - An SQS batch is read raw, message by message: a bad or failed message
//!   is reported in `batchItemFailures` and the rest of the batch is kept;
//!   a batch whose message ids cannot be read fails the invocation, so
//!   that SQS redelivers all of it (never acknowledged).
//!
//! Every handler works within the invocation's deadline: it stops
//! [`DEADLINE_MARGIN`] before it with a `Retryable` error instead of being
//! killed, and no Slack wait (`Retry-After`, backoff) runs past that point.
//! What a stopped invocation claimed is a lease the retry (or another
//! invocation) takes over.

use std::future::Future;

use aws_lambda_events::eventbridge::EventBridgeEvent;
use aws_lambda_events::sqs::{BatchItemFailure, SqsBatchResponse, SqsMessage};
use chrono::{DateTime, Utc};
use lambda_runtime::{service_fn, Diagnostic, LambdaEvent};
use serde::de::DeserializeOwned;
use serde::Serialize;
use serde_json::Value;
use start_doctor_engine::{Deadline, When};

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

impl From<start_doctor_engine::EngineError> for HandlerError {
    fn from(e: start_doctor_engine::EngineError) -> Self {
        Self::Retryable(e.to_string())
    }
}

/// How long before the invocation's deadline a handler stops, so that it
/// answers (a retryable error) instead of being killed.
pub const DEADLINE_MARGIN: std::time::Duration = std::time::Duration::from_secs(3);

/// The budget assumed when the context carries no usable deadline (none,
/// or one already past, as some local emulators send): the template's
/// function `Timeout`.
pub const FALLBACK_BUDGET: std::time::Duration = std::time::Duration::from_secs(30);

/// An invocation's time: when it started, its deadline as the engine sees
/// it, and the tokio instant the handler must be done by.
#[derive(Clone, Copy, Debug)]
pub struct Invocation {
    /// When the invocation started.
    pub now: DateTime<Utc>,
    /// The Lambda deadline.
    pub deadline: Deadline,
    /// When the handler stops: [`DEADLINE_MARGIN`] before the deadline, or
    /// a tenth of the time left when that is less.
    pub stop: tokio::time::Instant,
}

impl Invocation {
    /// The invocation of `context` (its `deadline`: epoch milliseconds)
    /// starting at `now`.
    pub fn of(context: &lambda_runtime::Context, now: DateTime<Utc>) -> Self {
        let deadline = i64::try_from(context.deadline)
            .ok()
            .and_then(DateTime::<Utc>::from_timestamp_millis)
            .filter(|d| *d > now)
            .unwrap_or_else(|| {
                now + chrono::Duration::from_std(FALLBACK_BUDGET).unwrap_or_default()
            });
        Self::with_time_left(now, (deadline - now).to_std().unwrap_or_default())
    }

    /// An invocation starting at `now` with `left` before its deadline
    /// (tests, local runs).
    pub fn with_time_left(now: DateTime<Utc>, left: std::time::Duration) -> Self {
        let margin = DEADLINE_MARGIN.min(left / 10);
        Self {
            now,
            deadline: Deadline(now + chrono::Duration::from_std(left).unwrap_or_default()),
            stop: tokio::time::Instant::now() + left.saturating_sub(margin),
        }
    }

    /// The engine's view of it.
    pub fn when(&self) -> When {
        When::new(self.now, self.deadline)
    }
}

/// Runs `work` until the invocation's stop: Slack waits end before it, and
/// the work is cut off there with a `Retryable` error.
pub async fn within<T>(
    invocation: &Invocation,
    work: impl Future<Output = Result<T, HandlerError>>,
) -> Result<T, HandlerError> {
    // Boxed: the engine's futures are large for a thread's stack.
    let work = Box::pin(crate::slack::until(invocation.stop, work));
    match tokio::time::timeout_at(invocation.stop, work).await {
        Ok(result) => result,
        Err(_) => {
            tracing::error!("stopping before the invocation deadline; the event will be retried");
            Err(HandlerError::Retryable(
                "stopped before the invocation deadline; retry".to_owned(),
            ))
        }
    }
}

/// The id of an EventBridge event, once its envelope is checked: an event
/// that is not one is `Unreadable`, named by its id.
pub fn eventbridge_id(payload: &Value) -> Result<String, HandlerError> {
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
    Ok(event_id)
}

/// Runs one SQS batch (`records`, the raw `Records` list) of messages read
/// as `T`: a message that cannot be read is one failure, a message whose id
/// cannot be read fails the invocation (SQS then redelivers the batch),
/// `run` gets the readable ones and answers each, and when the deadline
/// cuts it off every message is reported failed. Returns the response
/// Lambda expects.
pub async fn run_batch<T, F, Fut>(
    records: &[Value],
    invocation: &Invocation,
    run: F,
) -> Result<SqsBatchResponse, HandlerError>
where
    T: DeserializeOwned,
    F: FnOnce(Vec<T>) -> Fut,
    Fut: Future<Output = Vec<Result<(), HandlerError>>>,
{
    let mut failures: Vec<String> = Vec::new();
    let mut ids: Vec<String> = Vec::new();
    let mut messages: Vec<T> = Vec::new();
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
        let message = serde_json::from_value::<SqsMessage>(raw.clone())
            .map_err(|e| e.to_string())
            .and_then(|m| {
                serde_json::from_str::<T>(m.body.as_deref().unwrap_or_default())
                    .map_err(|e| e.to_string())
            });
        match message {
            Ok(message) => {
                ids.push(id);
                messages.push(message);
            }
            Err(e) => {
                tracing::error!(message_id = id, error = %e, "unreadable message");
                failures.push(id);
            }
        }
    }
    let results = within(invocation, async { Ok(run(messages).await) }).await;
    let Ok(results) = results else {
        // Cut off at the deadline: every message is tried again.
        failures.extend(ids);
        return Ok(batch_response(failures));
    };
    for (id, result) in ids.into_iter().zip(results) {
        match result {
            Ok(()) => tracing::info!(message_id = id, "message done"),
            Err(e) => {
                tracing::error!(message_id = id, error = %e, "message failed");
                failures.push(id);
            }
        }
    }
    Ok(batch_response(failures))
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

/// The runtime loop of a function fed by EventBridge: JSON logs, then each
/// event's envelope checked and `handler` run on it within the deadline.
pub async fn serve_events<F, Fut, R>(handler: F) -> Result<(), lambda_runtime::Error>
where
    F: Fn(Value, Invocation) -> Fut,
    Fut: Future<Output = Result<R, HandlerError>>,
    R: Serialize,
{
    let handler = &handler;
    lambda_runtime::run(service_fn(move |event: LambdaEvent<Value>| async move {
        let invocation = Invocation::of(&event.context, Utc::now());
        eventbridge_id(&event.payload)?;
        let outcome = within(&invocation, handler(event.payload, invocation)).await?;
        Ok::<Value, HandlerError>(serde_json::to_value(outcome).unwrap_or(Value::Null))
    }))
    .await
}

/// The input of a function fed by both EventBridge and its own SQS queue:
/// an SQS batch (an object with `Records`) or one EventBridge event.
pub enum Input<'a> {
    /// An SQS batch's raw records.
    Batch(&'a [Value]),
    /// One EventBridge event.
    Event(&'a Value),
}

impl<'a> Input<'a> {
    /// Reads the input raw, so that one unreadable SQS message never makes
    /// the whole batch unreadable.
    pub fn of(payload: &'a Value) -> Result<Self, HandlerError> {
        match payload.get("Records") {
            Some(Value::Array(records)) => Ok(Self::Batch(records)),
            Some(_) => Err(HandlerError::Retryable(
                "an SQS batch whose Records is not a list: the batch is redelivered".to_owned(),
            )),
            None => {
                eventbridge_id(payload)?;
                Ok(Self::Event(payload))
            }
        }
    }
}

/// The runtime loop of a function fed by EventBridge and by an SQS queue of
/// its own deferred messages: `handler` gets each input and the invocation
/// and answers with what Lambda expects (the batch failures, or the event
/// outcome).
pub async fn serve_events_and_batches<F, Fut>(handler: F) -> Result<(), lambda_runtime::Error>
where
    F: Fn(Value, Invocation) -> Fut,
    Fut: Future<Output = Result<Value, HandlerError>>,
{
    let handler = &handler;
    lambda_runtime::run(service_fn(move |event: LambdaEvent<Value>| async move {
        let invocation = Invocation::of(&event.context, Utc::now());
        handler(event.payload, invocation).await
    }))
    .await
}

#[cfg(test)]
mod tests {
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
            let invocation = Invocation::of(&context(deadline), now);
            assert_eq!(
                invocation.deadline.0,
                now + chrono::Duration::seconds(30),
                "deadline {deadline}"
            );
            let budget = invocation.stop - started;
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
        let invocation = Invocation::of(&context(deadline), now);
        let budget = invocation.stop - started;
        assert!(
            budget >= std::time::Duration::from_millis(1_700),
            "a 2 s budget loses only a tenth: {budget:?}"
        );
    }

    fn sqs(id: Option<&str>, body: &str) -> Value {
        let mut record = serde_json::json!({ "body": body, "eventSource": "aws:sqs" });
        if let Some(id) = id {
            record["messageId"] = id.into();
        }
        record
    }

    fn failed_ids(response: &SqsBatchResponse) -> Vec<String> {
        response
            .batch_item_failures
            .iter()
            .map(|f| f.item_identifier.clone())
            .collect()
    }

    #[tokio::test]
    async fn a_bad_message_fails_alone_and_the_rest_of_the_batch_runs() {
        let records = [
            sqs(Some("a"), "1"),
            sqs(Some("b"), "not json"),
            sqs(Some("c"), "3"),
        ];
        let invocation = Invocation::with_time_left(Utc::now(), std::time::Duration::from_secs(30));
        let mut seen = Vec::new();
        let response = run_batch(&records, &invocation, |numbers: Vec<u32>| {
            seen = numbers.clone();
            async move {
                numbers
                    .iter()
                    .map(|n| {
                        if *n == 3 {
                            Err(HandlerError::Retryable("three fails".into()))
                        } else {
                            Ok(())
                        }
                    })
                    .collect()
            }
        })
        .await
        .expect("a batch with readable ids is answered");
        assert_eq!(seen, [1, 3], "the readable messages ran");
        assert_eq!(failed_ids(&response), ["b", "c"]);
    }

    #[tokio::test]
    async fn a_batch_with_an_unreadable_id_fails_whole() {
        let records = [sqs(Some("a"), "1"), sqs(None, "2")];
        let invocation = Invocation::with_time_left(Utc::now(), std::time::Duration::from_secs(30));
        let result = run_batch(&records, &invocation, |_: Vec<u32>| async { Vec::new() }).await;
        assert!(
            matches!(result, Err(HandlerError::Retryable(_))),
            "{result:?}"
        );
    }

    #[tokio::test]
    async fn a_batch_cut_off_at_the_deadline_is_all_failed() {
        let records = [sqs(Some("a"), "1"), sqs(Some("b"), "2")];
        let invocation =
            Invocation::with_time_left(Utc::now(), std::time::Duration::from_millis(200));
        let response = run_batch(&records, &invocation, |_: Vec<u32>| async {
            tokio::time::sleep(std::time::Duration::from_secs(5)).await;
            vec![Ok(()), Ok(())]
        })
        .await
        .expect("answered");
        assert_eq!(failed_ids(&response), ["a", "b"]);
    }

    #[test]
    fn errors_map_to_their_lambda_error_type() {
        let unreadable: Diagnostic = HandlerError::Unreadable("bad".into()).into();
        let retryable: Diagnostic = HandlerError::Retryable("later".into()).into();
        assert_eq!(unreadable.error_type, "Unreadable");
        assert_eq!(retryable.error_type, "Retryable");
        assert_eq!(retryable.error_message, "later");
    }
}
