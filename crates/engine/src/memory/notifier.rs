//! A [`Notifier`] that records what it is asked to deliver, with the faults
//! a real Slack has, for tests of the code that decides what to post,
//! update and reply.
//!
//! It behaves like the Web API by default (posts return a [`MessageRef`]
//! in channel `C-TEST` with timestamps `1.000001`, `1.000002`, ..., and can
//! be found again by their tag), or like an Incoming Webhook with
//! [`RecordingNotifier::webhook_like`] (posts return `None`; updates and
//! replies are refused, as the Slack adapter's webhook refuses them;
//! nothing can be looked up).
//!
//! Faults, each for the next N calls: posts refused with a 429
//! ([`RecordingNotifier::fail_posts`]), posts that Slack makes but whose
//! answer never comes ([`RecordingNotifier::unanswered_posts`]), posts
//! lost on the way with no answer ([`RecordingNotifier::lost_posts`]),
//! failing replies, and posts held pending while
//! [`RecordingNotifier::hold`] is set (a slow Slack).

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Mutex, MutexGuard, PoisonError};
use std::task::Poll;

use chrono::{DateTime, Utc};
use serde_json::Value;

use super::take_one;
use crate::ports::notify::{MessageRef, MessageTag, Notifier, NotifyError};

/// The channel every recorded message lives in.
pub const TEST_CHANNEL: &str = "C-TEST";

/// A recorded [`Notifier::post`] (one Slack made).
#[derive(Clone, Debug, PartialEq)]
pub struct Post {
    /// The message posted.
    pub message: Value,
    /// Its tag.
    pub tag: MessageTag,
    /// Where the message lives (`None` when webhook-like).
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
    lookups: usize,
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
    /// How many of the next posts Slack refuses with a 429.
    pub fail_posts: AtomicUsize,
    /// How many of the next posts Slack makes without the answer arriving.
    pub unanswered_posts: AtomicUsize,
    /// How many of the next posts are lost on the way (no post, no answer).
    pub lost_posts: AtomicUsize,
    /// How many of the next replies fail.
    pub fail_replies: AtomicUsize,
    /// While set, posts wait (a slow Slack).
    pub hold: AtomicBool,
}

impl RecordingNotifier {
    /// A notifier that behaves like the Web API: posts can be updated,
    /// replied to and found again.
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

    /// Every post Slack made, in order.
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

    /// How many history lookups were made.
    pub fn lookups(&self) -> usize {
        self.log().lookups
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
    fn can_update(&self) -> bool {
        !self.webhook_like
    }

    async fn post(
        &self,
        message: &Value,
        tag: &MessageTag,
    ) -> Result<Option<MessageRef>, NotifyError> {
        std::future::poll_fn(|cx| {
            if self.hold.load(Ordering::SeqCst) {
                cx.waker().wake_by_ref();
                Poll::Pending
            } else {
                Poll::Ready(())
            }
        })
        .await;
        if take_one(&self.fail_posts) {
            return Err(NotifyError::RateLimited {
                retry_after_secs: 60,
            });
        }
        if take_one(&self.lost_posts) {
            return Err(NotifyError::Unknown("injected: no answer".into()));
        }
        let mut log = self.log();
        let at = (!self.webhook_like).then(|| log.next_ref());
        log.posts.push(Post {
            message: message.clone(),
            tag: tag.clone(),
            at: at.clone(),
        });
        drop(log);
        if take_one(&self.unanswered_posts) {
            return Err(NotifyError::Unknown(
                "injected: posted, the answer timed out".into(),
            ));
        }
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
        if take_one(&self.fail_replies) {
            return Err(NotifyError::Transport("injected failure".into()));
        }
        let mut log = self.log();
        let reply = log.next_ref();
        log.replies.push(Reply {
            thread: at.clone(),
            message: message.clone(),
            at: reply,
        });
        Ok(())
    }

    async fn find(
        &self,
        tag: &MessageTag,
        _since: DateTime<Utc>,
    ) -> Result<Option<MessageRef>, NotifyError> {
        if self.webhook_like {
            return Ok(None);
        }
        let mut log = self.log();
        log.lookups += 1;
        Ok(log
            .posts
            .iter()
            .find(|p| &p.tag == tag)
            .and_then(|p| p.at.clone()))
    }
}

#[cfg(test)]
mod tests {
    use std::future::Future;
    use std::pin::pin;
    use std::task::{Context, Waker};

    use serde_json::json;

    use super::*;

    /// Runs a future that never waits (the recorder never does unless
    /// held).
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

    fn tag(group: &str) -> MessageTag {
        MessageTag {
            doctor: "test".into(),
            group: group.into(),
        }
    }

    #[test]
    fn posts_get_increasing_timestamps_and_are_found_by_tag() {
        let slack = RecordingNotifier::new();
        let first = ready(slack.post(&json!({"text": "one"}), &tag("a"))).unwrap();
        let second = ready(slack.post(&json!({"text": "two"}), &tag("b"))).unwrap();
        assert_eq!(first, Some(at("1.000001")));
        assert_eq!(second, Some(at("1.000002")));
        assert_eq!(ready(slack.find(&tag("b"), Utc::now())).unwrap(), second);
        assert_eq!(ready(slack.find(&tag("c"), Utc::now())).unwrap(), None);
        assert_eq!(slack.lookups(), 2);
    }

    #[test]
    fn an_unanswered_post_is_made_and_an_unknown_outcome() {
        let slack = RecordingNotifier::new();
        slack.unanswered_posts.store(1, Ordering::SeqCst);
        let outcome = ready(slack.post(&json!({"text": "one"}), &tag("a")));
        assert!(
            matches!(outcome, Err(NotifyError::Unknown(_))),
            "{outcome:?}"
        );
        assert_eq!(slack.posts().len(), 1, "Slack has it");
        slack.lost_posts.store(1, Ordering::SeqCst);
        let outcome = ready(slack.post(&json!({"text": "two"}), &tag("b")));
        assert!(
            matches!(outcome, Err(NotifyError::Unknown(_))),
            "{outcome:?}"
        );
        assert_eq!(slack.posts().len(), 1, "a lost post never arrived");
    }

    #[test]
    fn updates_keep_the_message_and_replies_get_their_own_timestamp() {
        let slack = RecordingNotifier::new();
        let posted = ready(slack.post(&json!({"text": "2 failed"}), &tag("a")))
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
    fn webhook_like_posts_cannot_be_updated_replied_to_or_found() {
        let slack = RecordingNotifier::webhook_like();
        assert!(!slack.can_update());
        assert_eq!(
            ready(slack.post(&json!({"text": "hi"}), &tag("a"))).unwrap(),
            None
        );
        let update = ready(slack.update(&at("1.000001"), &json!({"text": "x"})));
        let reply = ready(slack.reply(&at("1.000001"), &json!({"text": "x"})));
        assert!(
            matches!(update, Err(NotifyError::Rejected(_))),
            "{update:?}"
        );
        assert!(matches!(reply, Err(NotifyError::Rejected(_))), "{reply:?}");
        assert_eq!(ready(slack.find(&tag("a"), Utc::now())).unwrap(), None);
        assert_eq!(slack.posts().len(), 1);
        assert!(slack.updates().is_empty());
        assert!(slack.replies().is_empty());
    }

    #[test]
    fn debug_shows_counts() {
        let slack = RecordingNotifier::new();
        ready(slack.post(&json!({"text": "hi"}), &tag("a"))).unwrap();
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
