//! Lambda for EC2 state-change notifications from EventBridge, and the deferred checks the pipeline queues for them in SQS.
//! All logic lives in the start-doctor library; see
//! `start_doctor::lambda` and `start_doctor::pipeline`.

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    start_doctor::lambda::run().await
}
