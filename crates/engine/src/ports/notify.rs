//! The [`Notifier`] port: where people read the findings (Slack: an
//! Incoming Webhook, or the Web API with a bot token).

use std::future::Future;

use chrono::{DateTime, Utc};
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

/// What a top-level message is about, carried with it (Slack message
/// metadata) so that a post whose answer never came can be found again:
/// the doctor, and the SHA-256 of the group's store key.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct MessageTag {
    /// The doctor's name.
    pub doctor: String,
    /// The group: the SHA-256 (hex) of its store key.
    pub group: String,
}

impl MessageTag {
    /// The Slack message metadata `event_type` every tag is posted with.
    pub const EVENT_TYPE: &'static str = "start_doctor_notice";

    /// The tag as Slack message metadata.
    pub fn metadata(&self) -> Value {
        serde_json::json!({
            "event_type": Self::EVENT_TYPE,
            "event_payload": { "doctor": self.doctor, "group": self.group },
        })
    }

    /// Whether a message's `metadata` (as `conversations.history` returns
    /// it) carries this tag.
    pub fn matches(&self, metadata: &Value) -> bool {
        metadata.get("event_type").and_then(Value::as_str) == Some(Self::EVENT_TYPE)
            && metadata["event_payload"]["doctor"].as_str() == Some(self.doctor.as_str())
            && metadata["event_payload"]["group"].as_str() == Some(self.group.as_str())
    }
}

/// A delivery failure.
#[derive(Debug, thiserror::Error)]
pub enum NotifyError {
    /// The message was certainly not delivered (no connection, a refused
    /// request) after the retries allowed.
    #[error("slack transport: {0}")]
    Transport(String),
    /// The request was sent and no answer came (a timeout, a connection
    /// reset, a 5xx): Slack may have posted it. Never post again blindly:
    /// look it up first ([`Notifier::find`]).
    #[error("slack outcome unknown (the request was sent, no answer came): {0}")]
    Unknown(String),
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

/// What the live path needs to tell people. `message` is a Block Kit
/// message: `{"text": fallback, "blocks": [...]}`; implementations add
/// channel, thread and metadata fields.
pub trait Notifier: Send + Sync {
    /// Whether posted messages can be updated, replied to and looked up
    /// (the Web API), or only posted (an Incoming Webhook).
    fn can_update(&self) -> bool;

    /// Posts a new top-level message carrying `tag`. Returns where it
    /// lives when the transport can update it later (Web API); `None` when
    /// it cannot (webhook).
    fn post(
        &self,
        message: &Value,
        tag: &MessageTag,
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

    /// The top-level message carrying `tag` posted at or after `since`, if
    /// the channel's recent history has one. `Ok(None)` when the transport
    /// cannot look (webhook).
    fn find(
        &self,
        tag: &MessageTag,
        since: DateTime<Utc>,
    ) -> impl Future<Output = Result<Option<MessageRef>, NotifyError>> + Send;
}
