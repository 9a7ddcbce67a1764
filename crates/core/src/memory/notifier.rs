//! A [`Notifier`] that records what it is asked to deliver, for tests of
//! the code that decides what to post, update and reply.
//!
//! It behaves like the Web API by default (posts return a [`MessageRef`]
//! in channel `C-TEST` with timestamps `1.000001`, `1.000002`, ...), or like
//! an Incoming Webhook with [`RecordingNotifier::webhook_like`] (posts
//! return `None`; updates and replies are refused, as the Slack adapter's
//! webhook refuses them).

use std::sync::{Mutex, MutexGuard, PoisonError};

use serde_json::Value;

use crate::ports::notify::{MessageRef, Notifier, NotifyError};

/// The channel every recorded message lives in.
pub const TEST_CHANNEL: &str = "C-TEST";

/// A recorded [`Notifier::post`].
#[derive(Clone, Debug, PartialEq)]
pub struct Post {
    /// The message posted.
    pub message: Value,
    /// What `post` returned: where the message lives (`None` when webhook-like).
    pub at: Option<MessageRef>,
}

/// A recorded [`Notifier::update`].
#[derive(Clone, Debug, PartialEq)]
pub struct Update {
    /// The message updated.
    pub at: MessageRef,
    /// Its new content.
    pub message: Value,
}

/// A recorded [`Notifier::reply`].
#[derive(Clone, Debug, PartialEq)]
pub struct Reply {
    /// The message whose thread was replied to.
    pub thread: MessageRef,
    /// The reply.
    pub message: Value,
    /// Where the reply itself lives (same channel, its own timestamp).
    pub at: MessageRef,
}

#[derive(Default)]
struct Log {
    posts: Vec<Post>,
    updates: Vec<Update>,
    replies: Vec<Reply>,
    /// Timestamps handed out so far.
    issued: u32,
}

impl Log {
    fn next_ref(&mut self) -> MessageRef {
        self.issued += 1;
        MessageRef {
            channel: TEST_CHANNEL.to_owned(),
            ts: format!("1.{:06}", self.issued),
        }
    }
}

/// Records every delivery instead of sending it. Cheap to share behind an
/// `Arc`; the accessors return copies of what was recorded so far.
#[derive(Default)]
pub struct RecordingNotifier {
    webhook_like: bool,
    log: Mutex<Log>,
}

impl RecordingNotifier {
    /// A notifier that behaves like the Web API: posts can be updated and
    /// replied to.
    pub fn new() -> Self {
        Self::default()
    }

    /// A notifier that behaves like an Incoming Webhook: `post` returns
    /// `None`, and `update`/`reply` are rejected (and not recorded).
    pub fn webhook_like() -> Self {
        Self {
            webhook_like: true,
            ..Self::default()
        }
    }

    /// Every post, in order.
    pub fn posts(&self) -> Vec<Post> {
        self.log().posts.clone()
    }

    /// Every update, in order.
    pub fn updates(&self) -> Vec<Update> {
        self.log().updates.clone()
    }

    /// Every reply, in order.
    pub fn replies(&self) -> Vec<Reply> {
        self.log().replies.clone()
    }

    fn log(&self) -> MutexGuard<'_, Log> {
        // A test that panicked while holding the lock left a complete
        // record behind: keep reading it.
        self.log.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn refuse_if_webhook(&self) -> Result<(), NotifyError> {
        if self.webhook_like {
            return Err(NotifyError::Rejected(
                "webhooks cannot update messages".to_owned(),
            ));
        }
        Ok(())
    }
}

impl std::fmt::Debug for RecordingNotifier {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let log = self.log();
        f.debug_struct("RecordingNotifier")
            .field("webhook_like", &self.webhook_like)
            .field("posts", &log.posts.len())
            .field("updates", &log.updates.len())
            .field("replies", &log.replies.len())
            .finish()
    }
}

impl Notifier for RecordingNotifier {
    async fn post(&self, message: &Value) -> Result<Option<MessageRef>, NotifyError> {
        let mut log = self.log();
        let at = (!self.webhook_like).then(|| log.next_ref());
        log.posts.push(Post {
            message: message.clone(),
            at: at.clone(),
        });
        Ok(at)
    }

    async fn update(&self, at: &MessageRef, message: &Value) -> Result<(), NotifyError> {
        self.refuse_if_webhook()?;
        self.log().updates.push(Update {
            at: at.clone(),
            message: message.clone(),
        });
        Ok(())
    }

    async fn reply(&self, at: &MessageRef, message: &Value) -> Result<(), NotifyError> {
        self.refuse_if_webhook()?;
        let mut log = self.log();
        let reply = log.next_ref();
        log.replies.push(Reply {
            thread: at.clone(),
            message: message.clone(),
            at: reply,
        });
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use std::future::Future;
    use std::pin::pin;
    use std::task::{Context, Poll, Waker};

    use serde_json::json;

    use super::*;

    /// Runs a future that never waits (the recorder never does).
    fn ready<T>(future: impl Future<Output = T>) -> T {
        let mut cx = Context::from_waker(Waker::noop());
        match pin!(future).poll(&mut cx) {
            Poll::Ready(value) => value,
            Poll::Pending => panic!("the recording notifier never waits"),
        }
    }

    fn at(ts: &str) -> MessageRef {
        MessageRef {
            channel: TEST_CHANNEL.to_owned(),
            ts: ts.to_owned(),
        }
    }

    #[test]
    fn posts_get_increasing_timestamps_in_the_test_channel() {
        let slack = RecordingNotifier::new();
        let first = ready(slack.post(&json!({"text": "one"}))).unwrap();
        let second = ready(slack.post(&json!({"text": "two"}))).unwrap();
        assert_eq!(first, Some(at("1.000001")));
        assert_eq!(second, Some(at("1.000002")));
        let posts = slack.posts();
        assert_eq!(posts.len(), 2);
        assert_eq!(posts[0].message, json!({"text": "one"}));
        assert_eq!(posts[1].at, second);
    }

    #[test]
    fn updates_keep_the_message_and_replies_get_their_own_timestamp() {
        let slack = RecordingNotifier::new();
        let posted = ready(slack.post(&json!({"text": "2 failed"})))
            .unwrap()
            .unwrap();
        ready(slack.update(&posted, &json!({"text": "3 failed"}))).unwrap();
        ready(slack.reply(&posted, &json!({"text": "i-3 joined"}))).unwrap();

        assert_eq!(
            slack.updates(),
            vec![Update {
                at: posted.clone(),
                message: json!({"text": "3 failed"}),
            }]
        );
        assert_eq!(
            slack.replies(),
            vec![Reply {
                thread: posted,
                message: json!({"text": "i-3 joined"}),
                at: at("1.000002"),
            }]
        );
    }

    #[test]
    fn webhook_like_posts_cannot_be_updated_or_replied_to() {
        let slack = RecordingNotifier::webhook_like();
        assert_eq!(ready(slack.post(&json!({"text": "hi"}))).unwrap(), None);
        let update = ready(slack.update(&at("1.000001"), &json!({"text": "x"})));
        let reply = ready(slack.reply(&at("1.000001"), &json!({"text": "x"})));
        assert!(
            matches!(update, Err(NotifyError::Rejected(_))),
            "{update:?}"
        );
        assert!(matches!(reply, Err(NotifyError::Rejected(_))), "{reply:?}");
        assert_eq!(slack.posts().len(), 1);
        assert!(slack.updates().is_empty());
        assert!(slack.replies().is_empty());
    }

    #[test]
    fn debug_shows_counts() {
        let slack = RecordingNotifier::new();
        ready(slack.post(&json!({"text": "hi"}))).unwrap();
        assert_eq!(
            format!("{slack:?}"),
            "RecordingNotifier { webhook_like: false, posts: 1, updates: 0, replies: 0 }"
        );
    }

    #[test]
    fn is_a_notifier_that_can_be_shared_across_tasks() {
        fn shareable<T: Notifier + 'static>() {}
        shareable::<RecordingNotifier>();
    }
}
