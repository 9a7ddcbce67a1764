//! Lambda for CloudTrail API calls delivered by EventBridge: KMS errors and EC2 start calls.
//! All logic lives in the start-doctor library; see
//! `start_doctor::lambda` and `start_doctor::pipeline`.

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    start_doctor::lambda::run().await
}
