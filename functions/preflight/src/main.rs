//! Lambda for preflight: on a schedule, and on the KMS and IAM changes
//! that can break a start, checks which instances will fail to start and
//! keeps one Slack message per (principal, key, cause) up to date
//! (`start_doctor_aws::preflight`).

use chrono::Utc;
use lambda_runtime::{service_fn, LambdaEvent};
use serde_json::Value;
use start_doctor_aws::lambda::start_preflight;

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    let run = start_preflight().await?;
    let run = &run;
    lambda_runtime::run(service_fn(move |event: LambdaEvent<Value>| async move {
        run.handle(&event.payload, Utc::now()).await
    }))
    .await
}
