//! Lambda for CloudTrail API calls delivered by EventBridge: failed KMS
//! calls and EC2 start and launch calls. Each event is filed and the
//! instances it concerns are evaluated (`start_doctor_core::pipeline`),
//! within the invocation's deadline.

use chrono::Utc;
use lambda_runtime::{service_fn, LambdaEvent};
use serde_json::Value;
use start_doctor_aws::lambda::{deadline_of, handle_eventbridge, start};

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    let pipeline = start().await?;
    let pipeline = &pipeline;
    lambda_runtime::run(service_fn(move |event: LambdaEvent<Value>| async move {
        let now = Utc::now();
        let deadline = deadline_of(&event.context, now);
        handle_eventbridge(pipeline, &event.payload, now, deadline).await
    }))
    .await
}
