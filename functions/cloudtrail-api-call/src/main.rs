//! Lambda for CloudTrail API calls delivered by EventBridge: failed KMS
//! calls and EC2 start and launch calls. Each event is filed and the
//! instances it concerns are evaluated (`start_doctor_start::pipeline`),
//! within the invocation's deadline.

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    start_doctor_aws::start::serve_api_calls().await
}
