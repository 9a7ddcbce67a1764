//! Lambda for the flows doctor: fed by a CloudWatch Logs subscription
//! filter on a VPC flow-log group (REJECT records), it names the network
//! ACL rule or security group that drops each conversation and keeps one
//! Slack message and OpsItem per (cause, control) up to date; its own SQS
//! queue brings back the engine's deferred notices
//! (`start_doctor_aws::flows`).

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    start_doctor_aws::flows::serve().await
}
