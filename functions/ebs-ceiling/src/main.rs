//! Lambda for the EBS doctor: every few minutes (and on an alarm's state
//! change), finds the instances of the account and Region held by an EBS
//! ceiling, diagnoses them and keeps one Slack message and OpsItem per
//! (instance, cause) up to date until it clears
//! (`start_doctor_aws::ebs`).

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    start_doctor_aws::ebs::serve().await
}
