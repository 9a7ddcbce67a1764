//! Lambda for EC2 state-change notifications from EventBridge, and for the
//! deferred checks the pipeline queues for them in SQS
//! (`start_doctor_aws::lambda::handle_state_change_input`). The input is
//! read raw: one unreadable SQS message must not make a whole batch
//! unreadable.

use chrono::Utc;
use lambda_runtime::{service_fn, LambdaEvent};
use serde_json::Value;
use start_doctor_aws::lambda::{deadline_of, handle_state_change_input, start};

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    let pipeline = start().await?;
    let pipeline = &pipeline;
    lambda_runtime::run(service_fn(move |event: LambdaEvent<Value>| async move {
        let now = Utc::now();
        let deadline = deadline_of(&event.context, now);
        handle_state_change_input(pipeline, &event.payload, now, deadline).await
    }))
    .await
}
