//! What the AWS crate's tests share: an SDK configuration for the moto
//! server, and the handler the functions run.

use aws_sdk_dynamodb::config::{Credentials, Region};
use chrono::{DateTime, Utc};
use serde_json::Value;
use start_doctor_aws::lambda::{handle_state_change_input, HandlerError};
use start_doctor_core::pipeline::Deadline;
use start_doctor_core::pipeline::Pipeline;
use start_doctor_core::ports::{Annotator, Deferrer, LiveChecks, Notifier, Store};

/// An SDK configuration for the moto server: fixed test credentials,
/// region `eu-west-1`, and none of the host's AWS settings.
pub async fn sdk_config() -> aws_config::SdkConfig {
    aws_config::defaults(aws_config::BehaviorVersion::latest())
        .empty_test_environment()
        .credentials_provider(Credentials::new("testing", "testing", None, None, "moto"))
        .region(Region::new("eu-west-1"))
        .endpoint_url(start_doctor_testkit::moto::endpoint())
        .load()
        .await
}

/// Hands `payload` (an EventBridge event or an SQS batch) to the handler
/// the functions run, as the Lambda runtime would, with Lambda's longest
/// timeout (15 minutes) left: these tests are about what is posted, not
/// about moto's speed; `e2e_faults` runs with the template's timeouts.
pub async fn handle<S, N, L, D, A>(
    pipeline: &Pipeline<S, N, L, D, A>,
    payload: &Value,
    now: DateTime<Utc>,
) -> Result<Value, HandlerError>
where
    S: Store,
    N: Notifier,
    L: LiveChecks,
    D: Deferrer,
    A: Annotator,
{
    handle_within(pipeline, payload, now, std::time::Duration::from_secs(900)).await
}

/// [`handle`] for an invocation with `left` before its deadline.
pub async fn handle_within<S, N, L, D, A>(
    pipeline: &Pipeline<S, N, L, D, A>,
    payload: &Value,
    now: DateTime<Utc>,
    left: std::time::Duration,
) -> Result<Value, HandlerError>
where
    S: Store,
    N: Notifier,
    L: LiveChecks,
    D: Deferrer,
    A: Annotator,
{
    let deadline = Deadline(now + chrono::Duration::from_std(left).unwrap_or_default());
    let stop = tokio::time::Instant::now()
        + left.saturating_sub(start_doctor_aws::lambda::DEADLINE_MARGIN);
    handle_state_change_input(pipeline, payload, now, (deadline, stop)).await
}
