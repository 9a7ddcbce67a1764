//! The live path end to end over in-memory ports: events in realistic
//! orders, exactly which Slack messages are posted and updated, and how many
//! live checks run.

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Mutex;
use std::task::Poll;

use chrono::{DateTime, Duration, Utc};
use serde_json::{json, Value};
use start_doctor_core::evidence::{
    Evidence, KeyPolicyFacts, KeyReport, KeyState, PolicySimulation, SimulatedDecision,
};
use start_doctor_core::ids::InstanceId;
use start_doctor_core::ids::{KeyArn, PrincipalArn};
use start_doctor_core::memory::{MemoryStore, RecordingNotifier};
use start_doctor_core::pipeline::notice::GroupNotice;
use start_doctor_core::pipeline::notice::UPDATE_INTERVAL_SECS;
use start_doctor_core::pipeline::{Deadline, Evaluation, Pipeline, PipelineError, Settings};
use start_doctor_core::ports::{
    Annotator, DeferredCheck, Deferrer, LiveChecks, LiveRequest, MessageRef, Notifier, NotifyError,
    Record, ServiceError, Store, StoreError, StoredEvent,
};
use start_doctor_core::Cause;

#[derive(Default)]
struct FakeDeferrer {
    deferred: Mutex<Vec<(DeferredCheck, u32)>>,
    /// How many of the next deferrals fail (SQS down).
    fail_next: AtomicUsize,
}

impl Deferrer for FakeDeferrer {
    async fn defer(&self, check: &DeferredCheck, delay_secs: u32) -> Result<(), ServiceError> {
        if take_one(&self.fail_next) {
            return Err(ServiceError {
                service: "sqs",
                message: "injected failure".into(),
            });
        }
        self.deferred
            .lock()
            .unwrap()
            .push((check.clone(), delay_secs));
        Ok(())
    }
}

#[derive(Default)]
struct FakeLive {
    describe_result: Vec<Evidence>,
    lookup_result: Vec<Evidence>,
    describe_calls: AtomicUsize,
    lookup_calls: AtomicUsize,
    described_instances: AtomicUsize,
}

impl LiveChecks for FakeLive {
    async fn describe(&self, requests: &[LiveRequest]) -> Result<Vec<Evidence>, ServiceError> {
        self.describe_calls.fetch_add(1, Ordering::SeqCst);
        self.described_instances
            .fetch_add(requests.len(), Ordering::SeqCst);
        Ok(self.describe_result.clone())
    }

    async fn lookup_cloudtrail(&self, _: &[LiveRequest]) -> Result<Vec<Evidence>, ServiceError> {
        self.lookup_calls.fetch_add(1, Ordering::SeqCst);
        Ok(self.lookup_result.clone())
    }
}

/// Records annotations; OpsItems are deduplicated by their dedup string,
/// as OpsCenter does.
#[derive(Default)]
struct FakeAnnotator {
    ops_items: Mutex<Vec<String>>,
    updates: AtomicUsize,
    diagnosed: Mutex<Vec<(String, Option<String>)>>,
    recovered: Mutex<Vec<(String, Option<String>, bool)>>,
}

impl Annotator for FakeAnnotator {
    async fn open_ops_item(
        &self,
        _: &start_doctor_core::Diagnosis,
        dedup: &str,
    ) -> Result<Option<String>, ServiceError> {
        let mut items = self.ops_items.lock().unwrap();
        let n = match items.iter().position(|d| d == dedup) {
            Some(n) => n,
            None => {
                items.push(dedup.to_owned());
                items.len() - 1
            }
        };
        Ok(Some(format!("oi-{n:012x}")))
    }

    async fn update_ops_item(&self, _: &str, _: &GroupNotice) -> Result<(), ServiceError> {
        self.updates.fetch_add(1, Ordering::SeqCst);
        Ok(())
    }

    async fn diagnosed(
        &self,
        d: &start_doctor_core::Diagnosis,
        ops_item: Option<&str>,
    ) -> Result<(), ServiceError> {
        self.diagnosed
            .lock()
            .unwrap()
            .push((d.instance_id.to_string(), ops_item.map(str::to_owned)));
        Ok(())
    }

    async fn recovered(
        &self,
        instance: &InstanceId,
        ops_item: Option<&str>,
        all: bool,
    ) -> Result<(), ServiceError> {
        self.recovered.lock().unwrap().push((
            instance.to_string(),
            ops_item.map(str::to_owned),
            all,
        ));
        Ok(())
    }
}

/// Takes one from a fault counter: whether the call should fail.
fn take_one(counter: &AtomicUsize) -> bool {
    counter
        .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1))
        .is_ok()
}

/// Slack with faults: failing posts or replies, and posts held (pending)
/// while `hold` is set, as a slow Slack or a 429 with a long Retry-After.
#[derive(Default)]
struct FaultyNotifier {
    inner: RecordingNotifier,
    fail_posts: AtomicUsize,
    fail_replies: AtomicUsize,
    hold: AtomicBool,
}

impl std::ops::Deref for FaultyNotifier {
    type Target = RecordingNotifier;
    fn deref(&self) -> &RecordingNotifier {
        &self.inner
    }
}

impl Notifier for FaultyNotifier {
    async fn post(&self, message: &Value) -> Result<Option<MessageRef>, NotifyError> {
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
        self.inner.post(message).await
    }

    async fn update(&self, at: &MessageRef, message: &Value) -> Result<(), NotifyError> {
        self.inner.update(at, message).await
    }

    async fn reply(&self, at: &MessageRef, message: &Value) -> Result<(), NotifyError> {
        if take_one(&self.fail_replies) {
            return Err(NotifyError::Transport("injected failure".into()));
        }
        self.inner.reply(at, message).await
    }
}

/// The store with faults: the next writes whose body contains a string
/// fail (DynamoDB throttling or unreachable), or lose as if another writer
/// had got there first.
#[derive(Default)]
struct FlakyStore {
    inner: MemoryStore,
    fail_writes: Mutex<Vec<(String, usize)>>,
    lose_writes: AtomicUsize,
}

impl std::ops::Deref for FlakyStore {
    type Target = MemoryStore;
    fn deref(&self) -> &MemoryStore {
        &self.inner
    }
}

impl Store for FlakyStore {
    async fn put_event(&self, partition: &str, event: &StoredEvent) -> Result<bool, StoreError> {
        self.inner.put_event(partition, event).await
    }

    async fn events(&self, partition: &str) -> Result<Vec<StoredEvent>, StoreError> {
        self.inner.events(partition).await
    }

    async fn record(&self, key: &str) -> Result<Option<Record>, StoreError> {
        self.inner.record(key).await
    }

    async fn put_record(
        &self,
        key: &str,
        body: &str,
        expected: Option<u64>,
    ) -> Result<bool, StoreError> {
        {
            let mut faults = self.fail_writes.lock().unwrap();
            if let Some(fault) = faults
                .iter_mut()
                .find(|(s, n)| *n > 0 && body.contains(s.as_str()))
            {
                fault.1 -= 1;
                return Err(StoreError::Backend("injected failure".into()));
            }
        }
        if take_one(&self.lose_writes) {
            return Ok(false);
        }
        self.inner.put_record(key, body, expected).await
    }

    async fn contended(&self, attempt: u32) {
        self.inner.contended(attempt).await
    }
}

type TestPipeline = Pipeline<FlakyStore, FaultyNotifier, FakeLive, FakeDeferrer, FakeAnnotator>;

fn pipeline_with(notifier: RecordingNotifier, live: FakeLive) -> TestPipeline {
    Pipeline {
        store: FlakyStore::default(),
        notifier: FaultyNotifier {
            inner: notifier,
            ..FaultyNotifier::default()
        },
        live,
        deferrer: FakeDeferrer::default(),
        annotator: FakeAnnotator::default(),
        settings: Settings::default(),
    }
}

fn pipeline() -> TestPipeline {
    pipeline_with(RecordingNotifier::new(), FakeLive::default())
}

/// Every JSON value in a sample file (one event, an array, or JSON Lines).
fn sample(path: &str) -> Vec<Value> {
    let text = std::fs::read_to_string(
        start_doctor_testkit::fixtures::repo()
            .join("events")
            .join(path),
    )
    .unwrap();
    serde_json::Deserializer::from_str(&text)
        .into_iter::<Value>()
        .flat_map(|v| match v.unwrap() {
            Value::Array(items) => items,
            one => vec![one],
        })
        .collect()
}

/// A CloudTrail record as EventBridge delivers it.
fn via_eventbridge(record: &Value) -> Value {
    json!({
        "version": "0",
        "id": format!("eb-{}", record["eventID"].as_str().unwrap()),
        "detail-type": "AWS API Call via CloudTrail",
        "source": format!("aws.{}", record["eventSource"].as_str().unwrap().split('.').next().unwrap()),
        "account": record["recipientAccountId"],
        "time": record["eventTime"],
        "region": record["awsRegion"],
        "resources": [],
        "detail": record,
    })
}

fn at(s: &str) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc)
}

const T0: &str = "2026-11-20T07:00:30Z";

async fn feed(p: &TestPipeline, events: &[Value], now: DateTime<Utc>) -> Vec<Evaluation> {
    let mut out = Vec::new();
    for e in events {
        out.extend(
            p.handle_event(e, now, Deadline::after(now, 30))
                .await
                .unwrap()
                .evaluations,
        );
    }
    out
}

/// Takes the queued flushes of group messages out of the deferrer and runs
/// them at `now`; returns how many there were.
async fn run_flushes(p: &TestPipeline, now: DateTime<Utc>) -> usize {
    let flushes: Vec<DeferredCheck> = {
        let mut deferred = p.deferrer.deferred.lock().unwrap();
        let (flushes, rest): (Vec<_>, Vec<_>) = deferred
            .drain(..)
            .partition(|(c, _)| c.flush_group.is_some());
        *deferred = rest;
        flushes.into_iter().map(|(c, _)| c).collect()
    };
    let results = p
        .handle_deferred(&flushes, now, Deadline::after(now, 60))
        .await;
    assert!(results.iter().all(Result::is_ok), "{results:?}");
    flushes.len()
}

/// The deferred checks of instances (not flushes) queued so far.
fn instance_checks(p: &TestPipeline) -> Vec<DeferredCheck> {
    p.deferrer
        .deferred
        .lock()
        .unwrap()
        .iter()
        .filter(|(c, _)| c.flush_group.is_none())
        .map(|(c, _)| c.clone())
        .collect()
}

fn cloudtrail_seed() -> Vec<Value> {
    let mut v = sample("seed-story/start-instances.json");
    v.extend(sample("seed-story/create-grant-denied.json"));
    v
}

fn header(message: &Value) -> String {
    message["blocks"][0]["text"]["text"]
        .as_str()
        .unwrap()
        .to_owned()
}

#[test]
fn state_change_first_then_cloudtrail_minutes_later() {
    futures_executor::block_on(async {
        let p = pipeline();
        let evaluations = feed(&p, &sample("seed-story/state-changes.jsonl"), at(T0)).await;
        assert!(evaluations
            .iter()
            .any(|e| matches!(e, Evaluation::Deferred { .. })));
        assert_eq!(
            p.deferrer.deferred.lock().unwrap().len(),
            1,
            "deferred once per failure"
        );
        assert_eq!(p.deferrer.deferred.lock().unwrap()[0].1, 900);
        assert!(p.notifier.posts().is_empty(), "nothing conclusive yet");

        feed(&p, &cloudtrail_seed(), at(T0) + Duration::minutes(4)).await;
        let posts = p.notifier.posts();
        assert_eq!(posts.len(), 1);
        assert!(header(&posts[0].message).contains("i-0a1b2c3d4e5f60002"));
        assert!(p.notifier.updates().is_empty());

        // The deferred check fires later: the diagnosis is already published.
        let checks: Vec<DeferredCheck> = p
            .deferrer
            .deferred
            .lock()
            .unwrap()
            .iter()
            .map(|(c, _)| c.clone())
            .collect();
        let results = p
            .handle_deferred(
                &checks,
                at(T0) + Duration::minutes(16),
                Deadline::after(at(T0) + Duration::minutes(16), 60),
            )
            .await;
        assert!(results.iter().all(Result::is_ok));
        assert_eq!(p.notifier.posts().len(), 1, "no second post");
        assert_eq!(
            p.live.describe_calls.load(Ordering::SeqCst),
            0,
            "no live calls when CloudTrail explained it"
        );
    })
}

#[test]
fn cloudtrail_first_then_state_changes() {
    futures_executor::block_on(async {
        let p = pipeline();
        let evaluations = feed(&p, &cloudtrail_seed(), at(T0)).await;
        assert!(evaluations.contains(&Evaluation::Published {
            instance_id: start_doctor_core::ids::InstanceId::parse("i-0a1b2c3d4e5f60002").unwrap(),
            cause: Cause::KmsIdentityPolicyMissing
        }));
        feed(
            &p,
            &sample("seed-story/state-changes.jsonl"),
            at(T0) + Duration::seconds(30),
        )
        .await;
        assert_eq!(p.notifier.posts().len(), 1);
        assert!(
            p.deferrer.deferred.lock().unwrap().is_empty(),
            "conclusive at once: nothing to defer"
        );
    })
}

#[test]
fn every_event_delivered_twice_posts_once() {
    futures_executor::block_on(async {
        let p = pipeline();
        let mut events = sample("seed-story/state-changes.jsonl");
        events.extend(cloudtrail_seed());
        let twice: Vec<Value> = events.iter().chain(events.iter()).cloned().collect();
        feed(&p, &twice, at(T0)).await;
        assert_eq!(p.notifier.posts().len(), 1);
        let again = p
            .handle_event(&events[0], at(T0), Deadline::after(at(T0), 30))
            .await
            .unwrap();
        assert!(again.redelivered);
    })
}

fn storm_events() -> Vec<Value> {
    let mut events = sample("storm/state-changes.jsonl");
    let dir = start_doctor_testkit::fixtures::repo().join("events/storm/cloudtrail");
    for entry in std::fs::read_dir(dir).unwrap() {
        let bytes = std::fs::read(entry.unwrap().path()).unwrap();
        let mut text = String::new();
        use std::io::Read;
        flate2::read::GzDecoder::new(&bytes[..])
            .read_to_string(&mut text)
            .unwrap();
        let log: Value = serde_json::from_str(&text).unwrap();
        events.extend(
            log["Records"]
                .as_array()
                .unwrap()
                .iter()
                .map(via_eventbridge),
        );
    }
    events
}

#[test]
fn a_storm_of_200_is_one_message_updated_as_it_grows() {
    futures_executor::block_on(async {
        let p = pipeline();
        let mut events = storm_events();
        // CloudTrail after the state changes, as in life.
        events.sort_by_key(|e| e["detail-type"] == "AWS API Call via CloudTrail");
        feed(&p, &events, at(T0)).await;
        let posts = p.notifier.posts();
        assert_eq!(posts.len(), 1, "one message for the storm");
        assert!(
            p.notifier.updates().is_empty(),
            "no chat.update within {UPDATE_INTERVAL_SECS} s of the post: {}",
            p.notifier.updates().len()
        );
        let flushes = run_flushes(&p, at(T0) + Duration::seconds(UPDATE_INTERVAL_SECS)).await;
        assert_eq!(flushes, 1, "one deferred flush for the storm");
        let updates = p.notifier.updates();
        assert_eq!(updates.len(), 1, "the flush renders the latest state once");
        let last = &updates[0].message;
        assert!(
            header(last).starts_with("200 EC2 instances failed to start"),
            "{}",
            header(last)
        );
        assert!(
            updates.iter().all(|u| Some(&u.at) == posts[0].at.as_ref()),
            "updates target the one message"
        );
    })
}

#[test]
fn a_storm_through_a_webhook_is_one_post_and_no_updates() {
    futures_executor::block_on(async {
        let p = pipeline_with(RecordingNotifier::webhook_like(), FakeLive::default());
        feed(&p, &storm_events(), at(T0)).await;
        assert_eq!(p.notifier.posts().len(), 1);
        assert!(p.notifier.updates().is_empty());
    })
}

#[test]
fn late_kms_evidence_updates_the_unexplained_message() {
    futures_executor::block_on(async {
        let p = pipeline();
        feed(&p, &sample("seed-story/state-changes.jsonl"), at(T0)).await;
        let checks: Vec<DeferredCheck> = p
            .deferrer
            .deferred
            .lock()
            .unwrap()
            .iter()
            .map(|(c, _)| c.clone())
            .collect();
        p.handle_deferred(
            &checks,
            at(T0) + Duration::minutes(15),
            Deadline::after(at(T0) + Duration::minutes(15), 60),
        )
        .await;
        let posts = p.notifier.posts();
        assert_eq!(posts.len(), 1);
        assert!(header(&posts[0].message).contains("cause unknown"));
        assert_eq!(p.live.describe_calls.load(Ordering::SeqCst), 1);
        assert_eq!(
            p.live.lookup_calls.load(Ordering::SeqCst),
            1,
            "last resort used once"
        );

        // CloudTrail finally delivers.
        feed(&p, &cloudtrail_seed(), at(T0) + Duration::minutes(20)).await;
        assert_eq!(p.notifier.posts().len(), 1, "never a second post");
        let updates = p.notifier.updates();
        assert_eq!(updates.len(), 1);
        assert_eq!(Some(&updates[0].at), posts[0].at.as_ref());
        assert!(header(&updates[0].message).contains("identity policy missing"));
        let replies = p.notifier.replies();
        assert_eq!(replies.len(), 1, "a follow-up in the thread");
        assert_eq!(Some(&replies[0].thread), posts[0].at.as_ref());
        assert!(replies[0].message["text"]
            .as_str()
            .unwrap()
            .starts_with("Cause found"));
    })
}

fn role() -> PrincipalArn {
    PrincipalArn::parse("arn:aws:iam::111122223333:role/instance-scheduler-job").unwrap()
}

fn seed_key() -> KeyArn {
    KeyArn::parse("arn:aws:kms:eu-west-1:111122223333:key/3f0c5a8e-6b1d-4e27-9a4c-2d7e81b05f63")
        .unwrap()
}

/// What the live checks find for the seed story: the instance, its volume
/// on the customer key, the key's policy and the role's simulation.
fn live_seed(decision: SimulatedDecision, allows_iam: bool) -> Vec<Evidence> {
    let mut live: Vec<Evidence> = [
        "seed-story/describe-instances.json",
        "seed-story/describe-volumes.json",
    ]
    .iter()
    .flat_map(|f| {
        let bytes = std::fs::read(
            start_doctor_testkit::fixtures::repo()
                .join("events")
                .join(f),
        )
        .unwrap();
        start_doctor_core::read_document(&bytes).unwrap().evidence
    })
    .collect();
    live.push(Evidence::Key(KeyReport {
        key: seed_key(),
        state: KeyState::Enabled,
        customer_managed: true,
        policy: Some(KeyPolicyFacts {
            allows_iam_policies: allows_iam,
            grant_principals: Vec::new(),
            uncertain: false,
        }),
    }));
    live.push(Evidence::Simulation(PolicySimulation {
        principal: role(),
        key: seed_key(),
        action: "kms:CreateGrant".into(),
        decision,
    }));
    live
}

#[test]
fn live_checks_diagnose_when_cloudtrail_never_comes() {
    futures_executor::block_on(async {
        for (decision, allows_iam, cause) in [
            (
                SimulatedDecision::ImplicitDeny,
                true,
                Cause::KmsIdentityPolicyMissing,
            ),
            (
                SimulatedDecision::ExplicitDeny,
                true,
                Cause::KmsExplicitDeny,
            ),
            (
                SimulatedDecision::Allowed,
                false,
                Cause::KmsKeyPolicyMissing,
            ),
        ] {
            let live = FakeLive {
                describe_result: live_seed(decision, allows_iam),
                ..FakeLive::default()
            };
            let p = pipeline_with(RecordingNotifier::new(), live);
            let mut events = sample("seed-story/state-changes.jsonl");
            events.extend(sample("seed-story/start-instances.json"));
            feed(&p, &events, at(T0)).await;
            let checks: Vec<DeferredCheck> = p
                .deferrer
                .deferred
                .lock()
                .unwrap()
                .iter()
                .map(|(c, _)| c.clone())
                .collect();
            let results = p
                .handle_deferred(
                    &checks,
                    at(T0) + Duration::minutes(15),
                    Deadline::after(at(T0) + Duration::minutes(15), 60),
                )
                .await;
            assert!(
                matches!(results[..], [Ok(Some(Evaluation::Published { cause: c, .. }))] if c == cause),
                "{cause}: {results:?}"
            );
            assert_eq!(
                p.live.lookup_calls.load(Ordering::SeqCst),
                0,
                "{cause}: no CloudTrail lookup needed"
            );
            assert_eq!(p.notifier.posts().len(), 1);
        }
    })
}

#[test]
fn a_deferred_check_that_comes_early_is_deferred_again() {
    futures_executor::block_on(async {
        let p = pipeline();
        let check = DeferredCheck {
            instance_id: start_doctor_core::ids::InstanceId::parse("i-0a1b2c3d4e5f60002").unwrap(),
            account: None,
            region: None,
            failed_at: None,
            not_before: at(T0) + Duration::minutes(30),
            flush_group: None,
        };
        let results = p
            .handle_deferred(
                std::slice::from_ref(&check),
                at(T0),
                Deadline::after(at(T0), 60),
            )
            .await;
        assert!(matches!(results[..], [Ok(None)]));
        assert_eq!(p.deferrer.deferred.lock().unwrap()[0].1, 1800);
    })
}

#[test]
fn a_malformed_event_is_an_error_with_its_id_and_stores_nothing() {
    futures_executor::block_on(async {
        let p = pipeline();
        let mut bad = sample("seed-story/state-changes.jsonl").remove(0);
        bad["detail"]["state"] = json!("exploded");
        let id = bad["id"].as_str().unwrap().to_owned();
        let err = p
            .handle_event(&bad, at(T0), Deadline::after(at(T0), 30))
            .await
            .unwrap_err();
        assert!(
            matches!(&err, PipelineError::Malformed { event_id, .. } if *event_id == id),
            "{err}"
        );
        assert_eq!(p.store.event_count(), 0);
    })
}

#[test]
fn a_good_start_is_no_failure() {
    futures_executor::block_on(async {
        let p = pipeline();
        let good: Vec<Value> = sample("seed-story/state-changes.jsonl")
            .into_iter()
            .filter(|e| e["detail"]["instance-id"] == "i-0a1b2c3d4e5f60001")
            .collect();
        let evaluations = feed(&p, &good, at(T0)).await;
        assert!(evaluations
            .iter()
            .all(|e| matches!(e, Evaluation::NoFailure { .. })));
        assert!(p.notifier.posts().is_empty());
        assert!(p.deferrer.deferred.lock().unwrap().is_empty());
    })
}

fn restart(instance: &str, secs: i64) -> Vec<Value> {
    ["pending", "running"]
        .iter()
        .enumerate()
        .map(|(n, state)| {
            json!({
                "version": "0", "id": format!("restart-{instance}-{state}"),
                "detail-type": "EC2 Instance State-change Notification", "source": "aws.ec2",
                "account": "111122223333", "region": "eu-west-1", "resources": [],
                "time": (at(T0) + Duration::seconds(secs + n as i64 * 20)).to_rfc3339(),
                "detail": {"instance-id": instance, "state": state}
            })
        })
        .collect()
}

#[test]
fn one_ops_item_per_failure_then_resolved_when_the_instance_runs_again() {
    futures_executor::block_on(async {
        let p = pipeline();
        let mut events = sample("seed-story/state-changes.jsonl");
        events.extend(cloudtrail_seed());
        let twice: Vec<Value> = events.iter().chain(events.iter()).cloned().collect();
        feed(&p, &twice, at(T0)).await;

        assert_eq!(
            p.annotator.ops_items.lock().unwrap().len(),
            1,
            "one OpsItem"
        );
        let diagnosed = p.annotator.diagnosed.lock().unwrap().clone();
        assert_eq!(
            diagnosed.len(),
            1,
            "one diagnosis event and tag, despite redeliveries"
        );
        assert_eq!(
            diagnosed[0],
            (
                "i-0a1b2c3d4e5f60002".to_owned(),
                Some("oi-000000000000".to_owned())
            )
        );
        let post = &p.notifier.posts()[0];
        assert!(
            post.message
                .to_string()
                .contains("systems-manager/opsitems/oi-000000000000"),
            "the message links the OpsItem"
        );

        // The role gets its grant; the next start works.
        let evaluations = feed(
            &p,
            &restart("i-0a1b2c3d4e5f60002", 3600),
            at(T0) + Duration::hours(1),
        )
        .await;
        assert!(
            evaluations
                .iter()
                .any(|e| matches!(e, Evaluation::Recovered { .. })),
            "{evaluations:?}"
        );
        let recovered = p.annotator.recovered.lock().unwrap().clone();
        assert_eq!(
            recovered,
            [(
                "i-0a1b2c3d4e5f60002".to_owned(),
                Some("oi-000000000000".to_owned()),
                true
            )]
        );
        let replies = p.notifier.replies();
        assert_eq!(replies.len(), 1);
        assert_eq!(
            Some(&replies[0].thread),
            post.at.as_ref(),
            "resolution reply in the thread"
        );
        assert!(replies[0].message["text"]
            .as_str()
            .unwrap()
            .contains("running again"));

        // Redelivered running events resolve nothing twice.
        feed(
            &p,
            &restart("i-0a1b2c3d4e5f60002", 3600),
            at(T0) + Duration::hours(1),
        )
        .await;
        assert_eq!(p.annotator.recovered.lock().unwrap().len(), 1);
        assert_eq!(p.notifier.replies().len(), 1);
    })
}

#[test]
fn a_storm_is_one_ops_item_updated_as_it_grows_and_resolved_when_all_run() {
    futures_executor::block_on(async {
        let p = pipeline();
        let mut events = storm_events();
        events.sort_by_key(|e| e["detail-type"] == "AWS API Call via CloudTrail");
        feed(&p, &events, at(T0)).await;
        assert_eq!(
            p.annotator.ops_items.lock().unwrap().len(),
            1,
            "one OpsItem for the storm"
        );
        assert_eq!(
            p.annotator.diagnosed.lock().unwrap().len(),
            200,
            "one diagnosis event per instance"
        );
        assert_eq!(
            p.annotator.updates.load(Ordering::SeqCst),
            199,
            "updated as each instance joins"
        );

        let ids: Vec<String> = p
            .annotator
            .diagnosed
            .lock()
            .unwrap()
            .iter()
            .map(|(i, _)| i.clone())
            .collect();
        for id in &ids {
            feed(&p, &restart(id, 3600), at(T0) + Duration::hours(1)).await;
        }
        let recovered = p.annotator.recovered.lock().unwrap().clone();
        assert_eq!(recovered.len(), 200);
        assert_eq!(
            recovered.iter().filter(|(_, _, all)| *all).count(),
            1,
            "resolved once, when the last one runs"
        );
        assert!(recovered.last().unwrap().2);
    })
}

#[test]
fn a_new_failure_after_recovery_is_published_again() {
    futures_executor::block_on(async {
        let p = pipeline();
        feed(&p, &cloudtrail_seed(), at(T0)).await;
        feed(
            &p,
            &restart("i-0a1b2c3d4e5f60002", 3600),
            at(T0) + Duration::hours(1),
        )
        .await;
        assert_eq!(p.notifier.posts().len(), 1);
        // A day later the grant is gone again and the next start fails.
        let mut next_day: Vec<Value> = cloudtrail_seed();
        for e in &mut next_day {
            let id = e["detail"]["eventID"].as_str().unwrap().to_owned();
            e["detail"]["eventID"] = json!(format!("{id}-tomorrow"));
            e["id"] = json!(format!("{}-tomorrow", e["id"].as_str().unwrap()));
            e["detail"]["requestID"] = json!("tomorrow-request");
            e["detail"]["eventTime"] = json!("2026-11-21T07:00:07Z");
            e["time"] = json!("2026-11-21T07:00:07Z");
        }
        for (state, secs) in [("pending", 5), ("stopped", 12)] {
            next_day.push(json!({
                "version": "0", "id": format!("tomorrow-{state}"),
                "detail-type": "EC2 Instance State-change Notification", "source": "aws.ec2",
                "account": "111122223333", "region": "eu-west-1", "resources": [],
                "time": format!("2026-11-21T07:00:{secs:02}Z"),
                "detail": {"instance-id": "i-0a1b2c3d4e5f60002", "state": state}
            }));
        }
        feed(&p, &next_day, at(T0) + Duration::days(1)).await;
        assert_eq!(
            p.notifier.posts().len(),
            2,
            "a new failure is a new message"
        );
    })
}

const SEED_FAILED: &str = "i-0a1b2c3d4e5f60002";

/// The seed story's denied `CreateGrant`, for `instance`, as a new record
/// (`tag` makes its ids unique) at `secs` after T0.
fn grant_for(instance: &str, tag: &str, secs: i64) -> Value {
    let text = serde_json::to_string(&sample("seed-story/create-grant-denied.json")[0])
        .unwrap()
        .replace(SEED_FAILED, instance)
        .replace("vol-0aaa1b2c3d4e50002", &format!("vol-0{}", &instance[3..]));
    let mut e: Value = serde_json::from_str(&text).unwrap();
    let time = (at(T0) + Duration::seconds(secs)).to_rfc3339();
    e["id"] = json!(format!("eb-grant-{tag}"));
    e["time"] = json!(time);
    e["detail"]["eventID"] = json!(format!("ct-grant-{tag}"));
    e["detail"]["requestID"] = json!(format!("req-{tag}"));
    e["detail"]["eventTime"] = json!(time);
    e
}

/// A failed start of `instance`: `pending` then `stopped`, from `secs`
/// after T0.
fn failed_start(instance: &str, tag: &str, secs: i64) -> Vec<Value> {
    ["pending", "stopped"]
        .iter()
        .enumerate()
        .map(|(n, state)| {
            json!({
                "version": "0", "id": format!("{tag}-{instance}-{state}"),
                "detail-type": "EC2 Instance State-change Notification", "source": "aws.ec2",
                "account": "111122223333", "region": "eu-west-1", "resources": [],
                "time": (at(T0) + Duration::seconds(secs + n as i64 * 10)).to_rfc3339(),
                "detail": {"instance-id": instance, "state": state}
            })
        })
        .collect()
}

/// Polls `future` once, as a runtime would before the invocation is
/// killed; the caller then drops it or goes on polling.
fn poll_once<F: std::future::Future>(future: std::pin::Pin<&mut F>) -> Poll<F::Output> {
    let mut cx = std::task::Context::from_waker(std::task::Waker::noop());
    future.poll(&mut cx)
}

async fn group_record(p: &TestPipeline) -> GroupNotice {
    let keys: Vec<String> = p
        .store
        .record_keys()
        .into_iter()
        .filter(|k| k.starts_with("notice#group#") && !k.contains("internal_error"))
        .collect();
    assert_eq!(keys.len(), 1, "{keys:?}");
    let record = p.store.record(&keys[0]).await.unwrap().unwrap();
    serde_json::from_str(&record.body).unwrap()
}

#[test]
fn a_deferral_that_failed_to_send_is_sent_by_the_retry() {
    futures_executor::block_on(async {
        let p = pipeline();
        p.deferrer.fail_next.store(1, Ordering::SeqCst);
        let events = failed_start(SEED_FAILED, "a", 0);
        let mut errors = 0;
        for e in &events {
            if p.handle_event(e, at(T0), Deadline::after(at(T0), 30))
                .await
                .is_err()
            {
                errors += 1;
            }
        }
        assert_eq!(errors, 1, "SQS failed once: that invocation fails");
        // Lambda retries the failed event.
        feed(&p, &events, at(T0) + Duration::minutes(1)).await;
        assert_eq!(
            instance_checks(&p).len(),
            1,
            "the retry defers the check: a claim left by the failed send must not block it"
        );
    })
}

#[test]
fn a_group_whose_poster_was_killed_is_posted_by_the_next_member() {
    futures_executor::block_on(async {
        let p = pipeline();
        p.notifier.hold.store(true, Ordering::SeqCst);
        let first = grant_for("i-0a1b2c3d4e5f60011", "a", 0);
        {
            let handling = p.handle_event(&first, at(T0), Deadline::after(at(T0), 30));
            let mut handling = std::pin::pin!(handling);
            assert!(poll_once(handling.as_mut()).is_pending(), "stuck in Slack");
            // The invocation is killed at its timeout: the future is dropped.
        }
        p.notifier.hold.store(false, Ordering::SeqCst);
        assert!(p.notifier.posts().is_empty());
        // A minute later another instance of the same group fails.
        let later = at(T0) + Duration::minutes(1);
        feed(&p, &[grant_for("i-0a1b2c3d4e5f60012", "b", 60)], later).await;
        let posts = p.notifier.posts();
        assert_eq!(
            posts.len(),
            1,
            "the group's message is posted by the next member"
        );
        let text = posts[0].message.to_string();
        assert!(
            text.contains("i-0a1b2c3d4e5f60011") && text.contains("i-0a1b2c3d4e5f60012"),
            "{}",
            header(&posts[0].message)
        );
        // Lambda's retry of the killed event posts nothing more.
        feed(&p, &[first], later + Duration::minutes(1)).await;
        assert_eq!(p.notifier.posts().len(), 1);
        assert!(group_record(&p).await.posted);
    })
}

#[test]
fn a_post_refused_by_slack_is_posted_by_the_retry_with_every_member() {
    futures_executor::block_on(async {
        let p = pipeline();
        p.notifier.fail_posts.store(1, Ordering::SeqCst);
        let first = grant_for("i-0a1b2c3d4e5f60011", "a", 0);
        let result = p
            .handle_event(&first, at(T0), Deadline::after(at(T0), 30))
            .await;
        assert!(
            matches!(result, Err(PipelineError::Notify(_))),
            "{result:?}"
        );
        feed(
            &p,
            &[grant_for("i-0a1b2c3d4e5f60012", "b", 5)],
            at(T0) + Duration::seconds(5),
        )
        .await;
        let posts = p.notifier.posts();
        assert_eq!(posts.len(), 1);
        assert!(
            header(&posts[0].message).starts_with("2 EC2 instances"),
            "{}",
            header(&posts[0].message)
        );
    })
}

#[test]
fn fail_recover_fail_again_is_said_in_the_thread_and_reopens_the_ops_item() {
    futures_executor::block_on(async {
        let p = pipeline();
        feed(&p, &cloudtrail_seed(), at(T0)).await;
        feed(
            &p,
            &restart(SEED_FAILED, 600),
            at(T0) + Duration::minutes(10),
        )
        .await;
        let ops_updates = p.annotator.updates.load(Ordering::SeqCst);
        // Twenty minutes later, within the storm window, it fails again.
        let mut again = failed_start(SEED_FAILED, "again", 1200);
        again.push(grant_for(SEED_FAILED, "again", 1205));
        let evaluations = feed(&p, &again, at(T0) + Duration::minutes(20)).await;
        assert!(
            evaluations
                .iter()
                .any(|e| matches!(e, Evaluation::Published { .. })),
            "{evaluations:?}"
        );
        let posts = p.notifier.posts();
        assert_eq!(posts.len(), 1, "the same message, in its window");
        let replies: Vec<String> = p
            .notifier
            .replies()
            .iter()
            .map(|r| r.message["text"].as_str().unwrap().to_owned())
            .collect();
        assert_eq!(replies.len(), 2, "{replies:?}");
        assert!(replies[0].contains("running again"), "{replies:?}");
        assert!(replies[1].contains("failed to start again"), "{replies:?}");
        assert!(
            p.notifier
                .replies()
                .iter()
                .all(|r| Some(&r.thread) == posts[0].at.as_ref()),
            "in the thread"
        );
        assert!(
            p.annotator.updates.load(Ordering::SeqCst) > ops_updates,
            "the OpsItem is brought up to date (re-opened)"
        );
        let group = group_record(&p).await;
        assert!(group.recovered.is_empty(), "the recovered mark is cleared");
        // And its next recovery is said again.
        feed(
            &p,
            &restart(SEED_FAILED, 1800),
            at(T0) + Duration::minutes(30),
        )
        .await;
        let restarts: Vec<Value> = restart(SEED_FAILED, 1800)
            .into_iter()
            .map(|mut e| {
                e["id"] = json!(format!("{}-2", e["id"].as_str().unwrap()));
                e
            })
            .collect();
        feed(&p, &restarts, at(T0) + Duration::minutes(30)).await;
        assert_eq!(p.notifier.replies().len(), 3);
    })
}

#[test]
fn a_deferral_claim_ends_when_the_instance_recovers() {
    futures_executor::block_on(async {
        let p = pipeline();
        feed(&p, &failed_start(SEED_FAILED, "a", 0), at(T0)).await;
        assert_eq!(instance_checks(&p).len(), 1);
        feed(
            &p,
            &restart(SEED_FAILED, 300),
            at(T0) + Duration::minutes(5),
        )
        .await;
        feed(
            &p,
            &failed_start(SEED_FAILED, "b", 600),
            at(T0) + Duration::minutes(10),
        )
        .await;
        assert_eq!(
            instance_checks(&p).len(),
            2,
            "the failure after the recovery is checked too"
        );
    })
}

#[test]
fn a_deferred_check_of_an_instance_that_ran_since_posts_nothing() {
    futures_executor::block_on(async {
        let p = pipeline();
        feed(&p, &failed_start(SEED_FAILED, "a", 0), at(T0)).await;
        feed(
            &p,
            &restart(SEED_FAILED, 300),
            at(T0) + Duration::minutes(5),
        )
        .await;
        let now = at(T0) + Duration::minutes(15);
        let results = p
            .handle_deferred(&instance_checks(&p), now, Deadline::after(now, 60))
            .await;
        assert!(
            matches!(results[..], [Ok(Some(Evaluation::NoFailure { .. }))]),
            "{results:?}"
        );
        assert!(p.notifier.posts().is_empty(), "it runs: nothing to tell");
        assert_eq!(p.live.describe_calls.load(Ordering::SeqCst), 0);
    })
}

#[test]
fn a_late_cloudtrail_event_racing_the_deferred_post_posts_once() {
    futures_executor::block_on(async {
        let p = pipeline();
        feed(&p, &sample("seed-story/state-changes.jsonl"), at(T0)).await;
        let checks = instance_checks(&p);
        let now = at(T0) + Duration::minutes(15);
        p.notifier.hold.store(true, Ordering::SeqCst);
        let deferred = p.handle_deferred(&checks, now, Deadline::after(now, 60));
        let mut deferred = std::pin::pin!(deferred);
        assert!(
            poll_once(deferred.as_mut()).is_pending(),
            "posting 'cause unknown'"
        );
        // Meanwhile CloudTrail delivers, to another invocation.
        let racing = p
            .handle_event(&cloudtrail_seed()[1], now, Deadline::after(now, 30))
            .await;
        assert!(matches!(racing, Err(PipelineError::Busy(_))), "{racing:?}");
        p.notifier.hold.store(false, Ordering::SeqCst);
        let results = deferred.await;
        assert!(results.iter().all(Result::is_ok), "{results:?}");
        assert_eq!(p.notifier.posts().len(), 1);
        // Lambda retries the busy event: it upgrades the message in place.
        feed(&p, &cloudtrail_seed(), now + Duration::minutes(1)).await;
        let posts = p.notifier.posts();
        assert_eq!(posts.len(), 1, "one post for the instance");
        let updates = p.notifier.updates();
        assert_eq!(updates.len(), 1);
        assert_eq!(Some(&updates[0].at), posts[0].at.as_ref());
        assert!(header(&updates[0].message).contains("identity policy missing"));
    })
}

#[test]
fn concurrent_evaluations_of_one_instance_post_once() {
    futures_executor::block_on(async {
        let p = pipeline();
        p.notifier.hold.store(true, Ordering::SeqCst);
        let event = grant_for(SEED_FAILED, "a", 0);
        let first = p.handle_event(&event, at(T0), Deadline::after(at(T0), 30));
        let mut first = std::pin::pin!(first);
        assert!(poll_once(first.as_mut()).is_pending());
        // An SQS redelivery or a second key's event, in another invocation.
        let mut second = grant_for(SEED_FAILED, "b", 2);
        second["detail"]["requestParameters"]["keyId"] =
            json!("arn:aws:kms:eu-west-1:111122223333:key/00000000-0000-4000-8000-000000000002");
        let outcome = p
            .handle_event(&second, at(T0), Deadline::after(at(T0), 30))
            .await
            .unwrap();
        assert!(!outcome.redelivered);
        p.notifier.hold.store(false, Ordering::SeqCst);
        first.await.unwrap();
        assert_eq!(p.notifier.posts().len(), 1, "posted once");
    })
}

#[test]
fn a_failed_reply_after_the_upgrade_keeps_the_message_and_its_thread() {
    futures_executor::block_on(async {
        let p = pipeline();
        feed(&p, &sample("seed-story/state-changes.jsonl"), at(T0)).await;
        let now = at(T0) + Duration::minutes(15);
        p.handle_deferred(&instance_checks(&p), now, Deadline::after(now, 60))
            .await;
        assert_eq!(p.notifier.posts().len(), 1);
        p.notifier.fail_replies.store(1, Ordering::SeqCst);
        let later = now + Duration::minutes(5);
        feed(&p, &cloudtrail_seed(), later).await;
        assert_eq!(p.notifier.updates().len(), 1, "the message shows the cause");
        let group = group_record(&p).await;
        assert_eq!(
            group.message,
            p.notifier.posts()[0].at,
            "the thread is kept"
        );
        // Redeliveries and a restart later: no second post; the thread gets the reply.
        feed(&p, &cloudtrail_seed(), later + Duration::minutes(1)).await;
        feed(&p, &restart(SEED_FAILED, 3600), at(T0) + Duration::hours(1)).await;
        assert_eq!(p.notifier.posts().len(), 1);
        let replies = p.notifier.replies();
        assert_eq!(replies.len(), 1);
        assert_eq!(Some(&replies[0].thread), p.notifier.posts()[0].at.as_ref());
    })
}

#[test]
fn a_failed_write_of_the_message_reference_is_retried_not_reposted() {
    futures_executor::block_on(async {
        let p = pipeline();
        p.store
            .fail_writes
            .lock()
            .unwrap()
            .push((r#""message":{"channel""#.to_owned(), 1));
        feed(&p, &[grant_for("i-0a1b2c3d4e5f60011", "a", 0)], at(T0)).await;
        assert_eq!(p.notifier.posts().len(), 1);
        let posted = p.notifier.posts()[0].at.clone();
        assert_eq!(
            group_record(&p).await.message,
            posted,
            "the reference is recorded"
        );
        // Another member joins later: the message is updated, never reposted.
        let later = at(T0) + Duration::seconds(UPDATE_INTERVAL_SECS + 1);
        feed(&p, &[grant_for("i-0a1b2c3d4e5f60012", "b", 6)], later).await;
        assert_eq!(p.notifier.posts().len(), 1);
        let updates = p.notifier.updates();
        assert_eq!(updates.len(), 1);
        assert_eq!(Some(&updates[0].at), posted.as_ref());
        assert!(header(&updates[0].message).starts_with("2 EC2 instances"));
    })
}

#[test]
fn lost_writes_back_off_with_growing_attempts_and_injected_jitter() {
    futures_executor::block_on(async {
        let p = pipeline();
        p.store.lose_writes.store(3, Ordering::SeqCst);
        feed(&p, &cloudtrail_seed(), at(T0)).await;
        assert_eq!(p.notifier.posts().len(), 1);
        assert_eq!(p.store.contended_attempts(), [0, 1, 2]);
    });
    use start_doctor_core::pipeline::contention_backoff;
    use std::time::Duration as Wait;
    assert_eq!(contention_backoff(0, 0.5), Wait::from_millis(12));
    assert_eq!(contention_backoff(3, 0.5), Wait::from_millis(100));
    assert_eq!(contention_backoff(30, 0.999), Wait::from_millis(999));
    assert_eq!(contention_backoff(2, 0.0), Wait::ZERO);
    assert_eq!(contention_backoff(2, f64::NAN), Wait::ZERO);
}

#[test]
fn equal_ids_in_two_accounts_are_two_alerts() {
    futures_executor::block_on(async {
        let p = pipeline();
        feed(&p, &cloudtrail_seed(), at(T0)).await;
        let other: Vec<Value> = cloudtrail_seed()
            .iter()
            .map(|e| {
                serde_json::from_str(&e.to_string().replace("111122223333", "444455556666"))
                    .unwrap()
            })
            .collect();
        let evaluations = feed(&p, &other, at(T0) + Duration::seconds(30)).await;
        assert!(
            evaluations
                .iter()
                .any(|e| matches!(e, Evaluation::Published { .. })),
            "{evaluations:?}"
        );
        let posts = p.notifier.posts();
        assert_eq!(posts.len(), 2, "one per account");
        assert!(posts[1].message.to_string().contains("444455556666"));
        assert!(p
            .store
            .record_keys()
            .iter()
            .any(|k| k == "notice#instance#444455556666#eu-west-1#i-0a1b2c3d4e5f60002"));
    })
}
