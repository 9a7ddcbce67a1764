//! Lambda for EC2 state-change notifications from EventBridge, and for the
//! deferred checks the pipeline queues for them in SQS
//! (`start_doctor_aws::lambda::StateChangeInput`).

use chrono::Utc;
use lambda_runtime::{service_fn, LambdaEvent};
use start_doctor_aws::lambda::{handle_state_change_input, start, StateChangeInput};

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    let pipeline = start().await?;
    let pipeline = &pipeline;
    lambda_runtime::run(service_fn(
        move |event: LambdaEvent<StateChangeInput>| async move {
            handle_state_change_input(pipeline, event.payload, Utc::now()).await
        },
    ))
    .await
}
