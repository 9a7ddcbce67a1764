//! Delivering messages to people: the [`Notifier`] trait the pipeline
//! posts through, with a Slack implementation (Incoming Webhook, or the Web
//! API with a bot token) and a recording one for tests.

use std::future::Future;

use serde::{Deserialize, Serialize};
use serde_json::Value;

/// Where a posted message lives, so it can be updated or replied to.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct MessageRef {
    /// The Slack channel id.
    pub channel: String,
    /// The message timestamp (`ts`), Slack's message id.
    pub ts: String,
}

/// A delivery failure.
#[derive(Debug, thiserror::Error)]
pub enum NotifyError {
    /// The transport failed (connection, timeout, 5xx) after retries.
    #[error("slack transport: {0}")]
    Transport(String),
    /// Slack refused the message (`ok: false`, 4xx); retrying will not help.
    #[error("slack rejected the message: {0}")]
    Rejected(String),
    /// Slack kept answering 429 after the retries allowed.
    #[error("slack rate limited the message (retry after {retry_after_secs}s)")]
    RateLimited {
        /// The last `Retry-After` Slack sent.
        retry_after_secs: u64,
    },
}

/// What the pipeline needs to tell people. `message` is a Block Kit
/// message: `{"text": fallback, "blocks": [...]}` (see
/// [`crate::render::slack`]); implementations add channel and thread fields.
pub trait Notifier: Send + Sync {
    /// Posts a new message. Returns where it lives when the transport can
    /// update it later (Web API); `None` when it cannot (webhook).
    fn post(
        &self,
        message: &Value,
    ) -> impl Future<Output = Result<Option<MessageRef>, NotifyError>> + Send;

    /// Replaces the content of a posted message (`chat.update`).
    fn update(
        &self,
        at: &MessageRef,
        message: &Value,
    ) -> impl Future<Output = Result<(), NotifyError>> + Send;

    /// Posts `message` as a reply in the thread of `at`.
    fn reply(
        &self,
        at: &MessageRef,
        message: &Value,
    ) -> impl Future<Output = Result<(), NotifyError>> + Send;
}
