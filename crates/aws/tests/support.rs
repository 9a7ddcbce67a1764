//! What the AWS crate's tests share: an SDK configuration for the moto
//! server, and the handler the functions run.

use aws_sdk_dynamodb::config::{Credentials, Region};
use chrono::{DateTime, Utc};
use serde_json::Value;
use start_doctor_aws::lambda::{handle_state_change_input, HandlerError, StateChangeInput};
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
/// the functions run, as the Lambda runtime would after deserialising it.
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
    let input: StateChangeInput = serde_json::from_value(payload.clone())
        .map_err(|e| HandlerError::Unreadable(e.to_string()))?;
    handle_state_change_input(pipeline, input, now).await
}
