//! Lambda for preflight: on a schedule, and on the KMS and IAM changes
//! that can break a start, checks which instances of every account it is
//! given will fail to start and keeps one Slack message and OpsItem per
//! (account, principal, key, cause) up to date
//! (`start_doctor_aws::preflight`).

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    start_doctor_aws::preflight::serve().await
}
