//! The notice engine, tested once with a test doctor over the in-memory
//! ports and their faults: what is posted, updated, replied and annotated
//! when findings arrive in storms, twice, stronger, fresher, or while
//! Slack, the store or the invocation fails.

use std::future::Future;
use std::sync::atomic::Ordering;
use std::task::Poll;

use chrono::{DateTime, Duration, Utc};
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};
use start_doctor_core::ids::{Account, Origin, Region};
use start_doctor_engine::engine::Group;
use start_doctor_engine::memory::{
    FlakyStore, RecordingAnnotator, RecordingDeferrer, RecordingNotifier,
};
use start_doctor_engine::ports::{Annotation, Announcement, Io, Ports, ResourceTag, Store};
use start_doctor_engine::{
    Deadline, Deferred, Doctor, Engine, EngineError, GroupView, Later, Notice, Published, Settings,
    When,
};

/// A finding of the test doctor: `subject` is in `group`, with a
/// `strength` (a stronger one upgrades) and a growing `count`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
struct Finding {
    subject: String,
    group: String,
    strength: u8,
    count: u32,
    at: DateTime<Utc>,
}

/// The test doctor: one message per group, naming its members and their
/// total count.
struct TestDoctor {
    window: Option<Duration>,
}

impl Doctor for TestDoctor {
    type Finding = Finding;
    type Tally = u32;

    fn name(&self) -> &'static str {
        "test"
    }

    fn scope(&self, _: &Finding) -> Origin {
        Origin {
            account: Account::parse("111122223333"),
            region: Region::parse("eu-west-1"),
        }
    }

    fn subject(&self, f: &Finding) -> String {
        f.subject.clone()
    }

    fn group(&self, f: &Finding) -> String {
        f.group.clone()
    }

    fn occurred_at(&self, f: &Finding) -> Option<DateTime<Utc>> {
        Some(f.at)
    }

    fn window(&self) -> Option<Duration> {
        self.window
    }

    fn same_occurrence(&self, old: &Finding, new: &Finding) -> bool {
        (old.at - new.at).abs() < Duration::hours(1)
    }

    fn upgrades(&self, old: &Finding, new: &Finding) -> bool {
        new.strength > old.strength
    }

    fn refreshes(&self, old: &Finding, new: &Finding) -> bool {
        new.count > old.count
    }

    fn tally(&self, tally: &mut u32, old: Option<&Finding>, new: &Finding) {
        *tally = *tally - old.map_or(0, |o| o.count) + new.count;
    }

    fn shows_resolution(&self) -> bool {
        true
    }

    fn message(&self, g: &GroupView<'_, Self>) -> Value {
        let listed: Vec<&String> = if g.name_all {
            g.members.iter().collect()
        } else {
            g.members.iter().take(3).collect()
        };
        json!({
            "text": format!("{} ({}): {} members, {} in all, resolved {}, listed {listed:?}",
                g.key, g.finding.strength, g.members.len(), g.tally, g.resolved.len()),
            "blocks": []
        })
    }

    fn follow_up(&self, g: &GroupView<'_, Self>, members: &[String]) -> Value {
        json!({ "text": format!("{} more in {}: {members:?}", members.len(), g.key) })
    }

    fn upgraded_reply(&self, f: &Finding) -> Value {
        json!({ "text": format!("stronger: {}", f.strength) })
    }

    fn again_reply(&self, f: &Finding) -> Value {
        json!({ "text": format!("again: {}", f.subject) })
    }

    fn resolved_reply(
        &self,
        g: &GroupView<'_, Self>,
        subjects: &[String],
        _: DateTime<Utc>,
    ) -> Value {
        json!({ "text": format!("cleared {subjects:?}, all: {}", g.all_resolved()) })
    }

    fn annotation(&self, g: &GroupView<'_, Self>) -> Annotation {
        Annotation {
            title: format!("{} members", g.members.len()),
            description: g.members.join(","),
            operational_data: Vec::new(),
            resources: Vec::new(),
            severity: 2,
            category: "Availability".into(),
        }
    }

    fn announcement(&self, f: &Finding) -> Announcement {
        Announcement {
            detail_type: "Test Finding".into(),
            detail: json!({ "subject": f.subject }),
            resources: Vec::new(),
            tag: Some(ResourceTag {
                resource_id: f.subject.clone(),
                key: "test".into(),
                value: "found".into(),
            }),
            incident: None,
        }
    }

    fn cleared_tag(&self, f: &Finding) -> Option<ResourceTag> {
        Some(ResourceTag {
            resource_id: f.subject.clone(),
            key: "test".into(),
            value: String::new(),
        })
    }
}

type TestPorts = Io<FlakyStore, RecordingNotifier, RecordingDeferrer, RecordingAnnotator>;

struct World {
    ports: TestPorts,
    doctor: TestDoctor,
    settings: Settings,
}

impl World {
    fn new(notifier: RecordingNotifier) -> Self {
        Self {
            ports: Io {
                store: FlakyStore::default(),
                notifier,
                deferrer: RecordingDeferrer::default(),
                annotator: RecordingAnnotator::default(),
            },
            doctor: TestDoctor {
                window: Some(Duration::hours(1)),
            },
            settings: Settings::default(),
        }
    }

    fn engine(&self) -> Engine<'_, TestPorts, TestDoctor> {
        Engine::new(&self.ports, &self.doctor, &self.settings)
    }

    fn scope(&self) -> Origin {
        self.doctor.scope(&finding("x", "g", 0))
    }

    async fn publish(&self, f: &Finding, now: DateTime<Utc>) -> Result<Published, EngineError> {
        self.engine().publish(f, when(now)).await
    }

    /// Runs the engine's queued notices at `now`; returns how many.
    async fn run_notices(&self, now: DateTime<Utc>) -> usize {
        let notices: Vec<Deferred<()>> = self.ports.deferrer.take();
        for n in &notices {
            assert_eq!(n.doctor, "test", "every deferred message names its doctor");
            let Later::Notice(notice) = &n.what else {
                panic!("only notices: {n:?}")
            };
            self.engine().handle(notice, when(now)).await.unwrap();
        }
        notices.len()
    }

    async fn group(&self, group: &str) -> Group<Finding, u32> {
        let key = format!("test#group#111122223333#eu-west-1#{group}");
        let record = self.ports.store.record(&key).await.unwrap().expect(&key);
        serde_json::from_str(&record.body).unwrap()
    }

    fn posts(&self) -> Vec<String> {
        self.ports
            .notifier
            .posts()
            .iter()
            .map(|p| p.message["text"].as_str().unwrap_or_default().to_owned())
            .collect()
    }
}

const T0: &str = "2026-11-20T07:00:00Z";

fn at(secs: i64) -> DateTime<Utc> {
    T0.parse::<DateTime<Utc>>().unwrap() + Duration::seconds(secs)
}

fn when(now: DateTime<Utc>) -> When {
    When::new(now, Deadline::after(now, 30))
}

fn finding(subject: &str, group: &str, strength: u8) -> Finding {
    Finding {
        subject: subject.into(),
        group: group.into(),
        strength,
        count: 1,
        at: at(0),
    }
}

fn block_on<F: std::future::Future>(f: F) -> F::Output {
    futures_executor::block_on(f)
}

#[test]
fn a_finding_is_one_post_and_its_redelivery_posts_nothing() {
    block_on(async {
        let w = World::new(RecordingNotifier::new());
        let f = finding("s-1", "g", 1);
        assert_eq!(w.publish(&f, at(0)).await.unwrap(), Published::Joined);
        assert_eq!(w.publish(&f, at(1)).await.unwrap(), Published::Already);
        assert_eq!(w.posts().len(), 1);
        let post = &w.ports.notifier.posts()[0];
        assert_eq!(post.tag.doctor, "test");
        assert_eq!(
            post.tag.group.len(),
            64,
            "the tag is the group key's SHA-256"
        );
        assert_eq!(w.ports.annotator.ops_items(), 1);
        assert_eq!(w.ports.annotator.announced().len(), 1);
        let keys = w.ports.store.record_keys();
        assert!(
            keys.iter().all(|k| k.starts_with("test#")),
            "every record is the doctor's: {keys:?}"
        );
    })
}

#[test]
fn a_storm_is_one_post_and_updates_at_most_once_per_interval() {
    block_on(async {
        let w = World::new(RecordingNotifier::new());
        for n in 0..50 {
            w.publish(&finding(&format!("s-{n:02}"), "g", 1), at(0))
                .await
                .unwrap();
        }
        assert_eq!(w.posts().len(), 1);
        assert!(
            w.ports.notifier.updates().is_empty(),
            "none within the interval"
        );
        assert_eq!(
            w.run_notices(at(5)).await,
            1,
            "one flush queued for the storm"
        );
        let updates = w.ports.notifier.updates();
        assert_eq!(updates.len(), 1);
        let text = updates[0].message["text"].as_str().unwrap();
        assert!(text.contains("50 members, 50 in all"), "{text}");
        assert_eq!(w.ports.annotator.ops_items(), 1);
        assert_eq!(
            w.ports.annotator.update_count(),
            49,
            "the OpsItem grows with each member"
        );
    })
}

#[test]
fn a_post_whose_poster_was_killed_is_taken_over_with_every_member() {
    block_on(async {
        let w = World::new(RecordingNotifier::new());
        w.ports.notifier.hold.store(true, Ordering::SeqCst);
        {
            let engine = w.engine();
            let first = finding("s-1", "g", 1);
            let publishing = engine.publish(&first, when(at(0)));
            let mut publishing = std::pin::pin!(publishing);
            let mut cx = std::task::Context::from_waker(std::task::Waker::noop());
            assert!(
                publishing.as_mut().poll(&mut cx).is_pending(),
                "stuck in Slack"
            );
        }
        w.ports.notifier.hold.store(false, Ordering::SeqCst);
        w.publish(&finding("s-2", "g", 1), at(60)).await.unwrap();
        let posts = w.posts();
        assert_eq!(posts.len(), 1, "{posts:?}");
        assert!(posts[0].contains("2 members"), "{posts:?}");
        assert_eq!(
            w.ports.notifier.lookups(),
            1,
            "an earlier post was looked for first"
        );
    })
}

#[test]
fn a_post_whose_answer_never_came_is_found_not_posted_again() {
    block_on(async {
        let w = World::new(RecordingNotifier::new());
        w.ports.notifier.unanswered_posts.store(1, Ordering::SeqCst);
        let f = finding("s-1", "g", 1);
        // Slack made the post; its answer was lost. The engine looks it up
        // at once and adopts it.
        assert_eq!(w.publish(&f, at(0)).await.unwrap(), Published::Joined);
        assert_eq!(w.posts().len(), 1);
        let group = w.group("g").await;
        assert_eq!(group.message, w.ports.notifier.posts()[0].at);
        // Later members update the adopted message.
        w.publish(&finding("s-2", "g", 1), at(10)).await.unwrap();
        assert_eq!(w.posts().len(), 1);
        assert_eq!(w.ports.notifier.updates().len(), 1);
    })
}

#[test]
fn a_post_lost_on_the_way_is_posted_once_by_the_retry() {
    block_on(async {
        let w = World::new(RecordingNotifier::new());
        w.ports.notifier.lost_posts.store(1, Ordering::SeqCst);
        let f = finding("s-1", "g", 1);
        let first = w.publish(&f, at(0)).await;
        assert!(
            matches!(first, Err(EngineError::Notify(_))),
            "an unknown outcome not found yet is retried: {first:?}"
        );
        assert!(w.posts().is_empty());
        // Within the lease the retry waits; after it, it looks and posts.
        assert_eq!(w.publish(&f, at(10)).await.unwrap(), Published::Already);
        assert!(w.posts().is_empty(), "the claim holds until its lease ends");
        w.publish(&f, at(60)).await.unwrap();
        assert_eq!(w.posts().len(), 1);
        assert!(w.ports.notifier.lookups() >= 2);
        w.publish(&f, at(120)).await.unwrap();
        assert_eq!(w.posts().len(), 1, "never twice");
    })
}

#[test]
fn a_store_failing_right_after_a_good_post_does_not_post_it_again() {
    block_on(async {
        let w = World::new(RecordingNotifier::new());
        w.ports
            .store
            .fail_writes_containing(r#""message":{"channel""#, 4);
        let f = finding("s-1", "g", 1);
        assert!(
            w.publish(&f, at(0)).await.is_err(),
            "the reference could not be written"
        );
        assert_eq!(w.posts().len(), 1);
        // The event's retry after the lease finds the post and adopts it.
        w.publish(&f, at(60)).await.unwrap();
        w.publish(&finding("s-2", "g", 1), at(70)).await.unwrap();
        assert_eq!(w.posts().len(), 1, "one top-level message");
        assert!(w.group("g").await.message.is_some());
    })
}

#[test]
fn a_lookup_slack_refuses_posts_rather_than_loses_the_finding() {
    block_on(async {
        struct NoHistory(RecordingNotifier);
        impl start_doctor_engine::ports::Notifier for NoHistory {
            fn can_update(&self) -> bool {
                true
            }
            async fn post(
                &self,
                m: &Value,
                t: &start_doctor_engine::ports::MessageTag,
            ) -> Result<
                Option<start_doctor_engine::ports::MessageRef>,
                start_doctor_engine::ports::NotifyError,
            > {
                self.0.post(m, t).await
            }
            async fn update(
                &self,
                a: &start_doctor_engine::ports::MessageRef,
                m: &Value,
            ) -> Result<(), start_doctor_engine::ports::NotifyError> {
                self.0.update(a, m).await
            }
            async fn reply(
                &self,
                a: &start_doctor_engine::ports::MessageRef,
                m: &Value,
            ) -> Result<(), start_doctor_engine::ports::NotifyError> {
                self.0.reply(a, m).await
            }
            async fn find(
                &self,
                _: &start_doctor_engine::ports::MessageTag,
                _: DateTime<Utc>,
            ) -> Result<
                Option<start_doctor_engine::ports::MessageRef>,
                start_doctor_engine::ports::NotifyError,
            > {
                Err(start_doctor_engine::ports::NotifyError::Rejected(
                    "missing_scope".into(),
                ))
            }
        }
        let notifier = NoHistory(RecordingNotifier::new());
        notifier.0.lost_posts.store(1, Ordering::SeqCst);
        let ports = Io {
            store: FlakyStore::default(),
            notifier,
            deferrer: RecordingDeferrer::default(),
            annotator: RecordingAnnotator::default(),
        };
        let doctor = TestDoctor { window: None };
        let settings = Settings::default();
        let engine = Engine::new(&ports, &doctor, &settings);
        let f = finding("s-1", "g", 1);
        let first = engine.publish(&f, when(at(0))).await;
        assert!(first.is_err(), "{first:?}");
        engine.publish(&f, when(at(60))).await.unwrap();
        assert_eq!(
            ports.notifier.0.posts().len(),
            1,
            "posted although the lookup was refused"
        );
    })
}

#[test]
fn a_webhook_storm_of_40_names_every_member_in_at_most_5_posts() {
    block_on(async {
        let w = World::new(RecordingNotifier::webhook_like());
        // 25 members before the gather window ends, 15 after, spread out.
        for n in 0..40 {
            let secs = if n < 25 { n } else { 60 + (n - 25) * 8 };
            w.publish(&finding(&format!("s-{n:02}"), "g", 1), at(secs))
                .await
                .unwrap();
            if n == 24 {
                assert!(w.posts().is_empty(), "the first post waits for the window");
                assert_eq!(w.run_notices(at(60)).await, 1, "one gathered post");
            }
        }
        let mut now = 180;
        while w.run_notices(at(now)).await > 0 {
            now += 60;
        }
        let posts = w.posts();
        assert!(posts.len() <= 5, "{} posts: {posts:?}", posts.len());
        assert!(posts[0].contains("25 members"), "{}", posts[0]);
        let all = posts.join("\n");
        for n in 0..40 {
            assert!(
                all.contains(&format!("\"s-{n:02}\"")),
                "s-{n:02} never named: {all}"
            );
        }
        assert!(w.ports.notifier.updates().is_empty());
    })
}

#[test]
fn a_webhook_group_names_later_members_in_one_follow_up_per_interval() {
    block_on(async {
        let mut w = World::new(RecordingNotifier::webhook_like());
        w.settings.gather = Duration::zero();
        w.publish(&finding("s-1", "g", 1), at(0)).await.unwrap();
        assert_eq!(w.posts().len(), 1, "no gathering: posted at once");
        for n in 2..=13 {
            w.publish(&finding(&format!("s-{n}"), "g", 1), at(n))
                .await
                .unwrap();
        }
        assert_eq!(w.posts().len(), 1, "never one post per member");
        assert_eq!(w.run_notices(at(60)).await, 1, "one follow-up queued");
        let posts = w.posts();
        assert_eq!(posts.len(), 2);
        assert!(posts[1].starts_with("12 more"), "{}", posts[1]);
        assert_eq!(w.run_notices(at(120)).await, 0, "nothing left to name");
    })
}

#[test]
fn an_unchanged_rerun_over_a_webhook_posts_nothing() {
    block_on(async {
        let mut w = World::new(RecordingNotifier::webhook_like());
        w.settings.gather = Duration::zero();
        w.doctor.window = None;
        let run = |t| {
            let w = &w;
            async move {
                for n in 0..3 {
                    w.publish(&finding(&format!("s-{n}"), "g", 1), at(t))
                        .await
                        .unwrap();
                }
                w.run_notices(at(t + 60)).await;
            }
        };
        run(0).await;
        let first = w.posts().len();
        run(86_400).await;
        assert_eq!(
            w.posts().len(),
            first,
            "a day later, nothing changed: nothing posted"
        );
    })
}

#[test]
fn a_stronger_finding_moves_its_member_and_reuses_the_message() {
    block_on(async {
        let w = World::new(RecordingNotifier::new());
        w.publish(&finding("s-1", "weak", 1), at(0)).await.unwrap();
        w.publish(&finding("s-1", "strong", 2), at(60))
            .await
            .unwrap();
        assert_eq!(w.posts().len(), 1, "no second post");
        let updates = w.ports.notifier.updates();
        assert_eq!(updates.len(), 1);
        assert!(updates[0].message["text"]
            .as_str()
            .unwrap()
            .contains("strong (2)"));
        assert!(w.ports.notifier.replies()[0].message["text"]
            .as_str()
            .unwrap()
            .starts_with("stronger"));
        assert_eq!(
            w.ports.annotator.resolved().len(),
            1,
            "the weak OpsItem is superseded"
        );
        // A weaker finding never downgrades.
        w.publish(&finding("s-1", "weak", 1), at(120))
            .await
            .unwrap();
        assert_eq!(w.ports.notifier.updates().len(), 1);
    })
}

#[test]
fn a_fresher_finding_renders_its_group_again_within_the_rate() {
    block_on(async {
        let w = World::new(RecordingNotifier::new());
        let mut f = finding("s-1", "g", 1);
        w.publish(&f, at(0)).await.unwrap();
        f.count = 5;
        assert_eq!(w.publish(&f, at(2)).await.unwrap(), Published::Refreshed);
        assert!(
            w.ports.notifier.updates().is_empty(),
            "within the interval: a flush"
        );
        w.run_notices(at(5)).await;
        let text = w.ports.notifier.updates()[0].message["text"].clone();
        assert!(text.as_str().unwrap().contains("5 in all"), "{text}");
        f.count = 5;
        assert_eq!(w.publish(&f, at(30)).await.unwrap(), Published::Already);
    })
}

#[test]
fn members_that_clear_are_replied_to_once_and_the_group_resolves_with_the_last() {
    block_on(async {
        let mut w = World::new(RecordingNotifier::new());
        w.doctor.window = None;
        for n in 0..3 {
            w.publish(&finding(&format!("s-{n}"), "g", 1), at(0))
                .await
                .unwrap();
        }
        let scope = w.scope();
        assert_eq!(w.engine().open_groups(&scope).await.unwrap().len(), 1);
        let cleared = w
            .engine()
            .resolve_all(
                &scope,
                &["s-0".into(), "s-1".into()],
                at(600),
                when(at(600)),
            )
            .await
            .unwrap();
        assert_eq!(cleared, 2);
        let replies = w.ports.notifier.replies();
        assert_eq!(replies.len(), 1, "one reply for both");
        assert!(replies[0].message["text"]
            .as_str()
            .unwrap()
            .contains("all: false"));
        assert!(w.ports.annotator.resolved().is_empty());
        assert!(w
            .engine()
            .resolve(&scope, "s-2", at(700), when(at(700)))
            .await
            .unwrap());
        assert_eq!(
            w.ports.annotator.resolved().len(),
            1,
            "resolved with the last"
        );
        assert_eq!(
            w.ports.annotator.withdrawn().len(),
            3,
            "every tag comes off"
        );
        assert!(w.engine().open_groups(&scope).await.unwrap().is_empty());
        assert!(
            !w.engine()
                .resolve(&scope, "s-2", at(800), when(at(800)))
                .await
                .unwrap(),
            "resolved once"
        );
        assert!(
            !w.engine()
                .resolve(&scope, "s-9", at(800), when(at(800)))
                .await
                .unwrap(),
            "never published"
        );
    })
}

#[test]
fn a_member_back_after_clearing_reopens_its_group_in_the_thread() {
    block_on(async {
        let mut w = World::new(RecordingNotifier::new());
        w.doctor.window = None;
        w.publish(&finding("s-0", "g", 1), at(0)).await.unwrap();
        let scope = w.scope();
        w.engine()
            .resolve(&scope, "s-0", at(60), when(at(60)))
            .await
            .unwrap();
        let mut again = finding("s-0", "g", 1);
        again.at = at(120);
        w.publish(&again, at(120)).await.unwrap();
        assert_eq!(w.posts().len(), 1);
        let replies: Vec<String> = w
            .ports
            .notifier
            .replies()
            .iter()
            .map(|r| r.message["text"].as_str().unwrap().to_owned())
            .collect();
        assert!(replies.last().unwrap().starts_with("again"), "{replies:?}");
        assert_eq!(w.engine().open_groups(&scope).await.unwrap().len(), 1);
        assert!(w.group("g").await.resolved.is_empty());
    })
}

#[test]
fn a_racing_upgrade_of_a_member_being_posted_is_busy() {
    block_on(async {
        let w = World::new(RecordingNotifier::new());
        w.ports.notifier.hold.store(true, Ordering::SeqCst);
        let engine = w.engine();
        let weak = finding("s-1", "weak", 1);
        let publishing = engine.publish(&weak, when(at(0)));
        let mut publishing = std::pin::pin!(publishing);
        let mut cx = std::task::Context::from_waker(std::task::Waker::noop());
        assert!(publishing.as_mut().poll(&mut cx).is_pending());
        let strong = finding("s-1", "strong", 2);
        let racing = w.publish(&strong, at(1)).await;
        assert!(matches!(racing, Err(EngineError::Busy(_))), "{racing:?}");
        w.ports.notifier.hold.store(false, Ordering::SeqCst);
        assert!(matches!(
            publishing.as_mut().poll(&mut cx),
            Poll::Ready(Ok(_))
        ));
        w.publish(&strong, at(2)).await.unwrap();
        assert_eq!(w.posts().len(), 1);
        assert_eq!(
            w.ports.notifier.updates().len(),
            1,
            "the retry upgrades the message"
        );
    })
}

#[test]
fn deferred_messages_read_back_as_sent() {
    let message = Deferred {
        doctor: "test".to_owned(),
        what: Later::<u8>::Notice(Notice::FollowUp { group: "k".into() }),
    };
    let json = serde_json::to_value(&message).unwrap();
    assert_eq!(json["doctor"], "test");
    assert_eq!(json["notice"]["kind"], "follow_up");
    assert_eq!(
        serde_json::from_value::<Deferred<u8>>(json).unwrap(),
        message
    );
    let check = Deferred {
        doctor: "test".to_owned(),
        what: Later::Check(7u8),
    };
    let json = serde_json::to_value(&check).unwrap();
    assert_eq!(json, json!({"doctor": "test", "check": 7}));
}

#[test]
fn the_ports_travel_as_one_value() {
    fn takes_ports<P: Ports>(_: &P) {}
    let w = World::new(RecordingNotifier::new());
    takes_ports(&w.ports);
}
