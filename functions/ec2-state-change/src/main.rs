//! Lambda for EC2 state-change notifications from EventBridge, and for the
//! start doctor's deferred messages in its SQS queue (checks after the
//! CloudTrail wait, and the engine's notices): the input is read raw, so
//! that one unreadable SQS message never makes a whole batch unreadable
//! (`start_doctor_aws::start::handle_state_change_input`).

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    start_doctor_aws::start::serve_state_changes().await
}
