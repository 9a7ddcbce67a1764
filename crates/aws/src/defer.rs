//! Deferral through an SQS delay queue: a doctor's own checks and the
//! engine's notices (flushes, gathered posts, follow-ups), each naming its
//! doctor.
//!
//! Why SQS: the wait (`CLOUDTRAIL_WAIT_SECONDS`, default 900) fits SQS's
//! per-message delay (at most 900 s; longer waits are re-deferred by the
//! handler using `not_before`), delivery is at least once with a dead-letter
//! queue, the deferred checks arrive in batches (one live check round and
//! one CloudTrail lookup per batch, which bounds AWS calls in a storm), and
//! nothing has to be cleaned up afterwards (unlike one-time schedules).

use aws_sdk_sqs::error::DisplayErrorContext;
use serde_json::Value;

use start_doctor_engine::ports::{Deferrer, ServiceError};

/// SQS's maximum per-message delay.
pub const MAX_DELAY_SECS: u32 = 900;

/// Sends deferred messages to an SQS queue with a delay.
#[derive(Clone, Debug)]
pub struct SqsDeferrer {
    client: aws_sdk_sqs::Client,
    queue_url: String,
}

impl SqsDeferrer {
    /// A deferrer sending to `queue_url`.
    pub fn new(client: aws_sdk_sqs::Client, queue_url: impl Into<String>) -> Self {
        Self {
            client,
            queue_url: queue_url.into(),
        }
    }
}

impl Deferrer for SqsDeferrer {
    async fn defer(&self, message: &Value, delay_secs: u32) -> Result<(), ServiceError> {
        let body = message.to_string();
        let delay = i32::try_from(delay_secs.min(MAX_DELAY_SECS)).unwrap_or(0);
        self.client
            .send_message()
            .queue_url(&self.queue_url)
            .message_body(body)
            .delay_seconds(delay)
            .send()
            .await
            .map_err(|e| ServiceError {
                service: "sqs",
                message: DisplayErrorContext(&e).to_string(),
            })?;
        Ok(())
    }
}
