//! What the AWS crate's tests share: an SDK configuration for the moto
//! server, and the handler the functions run.

use aws_sdk_dynamodb::config::{Credentials, Region};
use chrono::{DateTime, Utc};
use serde_json::Value;
use start_doctor_aws::lambda::{HandlerError, Invocation};
use start_doctor_aws::start::handle_state_change_input;
use start_doctor_engine::ports::Ports;
use start_doctor_start::pipeline::Pipeline;
use start_doctor_start::ports::LiveChecks;

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
pub async fn handle<P: Ports, L: LiveChecks>(
    pipeline: &Pipeline<P, L>,
    payload: &Value,
    now: DateTime<Utc>,
) -> Result<Value, HandlerError> {
    handle_within(pipeline, payload, now, std::time::Duration::from_secs(900)).await
}

/// [`handle`] for an invocation with `left` before its deadline.
pub async fn handle_within<P: Ports, L: LiveChecks>(
    pipeline: &Pipeline<P, L>,
    payload: &Value,
    now: DateTime<Utc>,
    left: std::time::Duration,
) -> Result<Value, HandlerError> {
    let invocation = Invocation::with_time_left(now, left);
    handle_state_change_input(pipeline, payload, &invocation).await
}
