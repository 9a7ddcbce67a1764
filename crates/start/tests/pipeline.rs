//! The live path end to end over in-memory ports: events in realistic
//! orders, exactly which Slack messages are posted and updated, and how many
//! live checks run.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::task::Poll;

use chrono::{DateTime, Duration, Utc};
use serde_json::{json, Value};
use start_doctor_engine::engine::Group;
use start_doctor_engine::memory::{
    FlakyStore, RecordingAnnotator, RecordingDeferrer, RecordingNotifier,
};
use start_doctor_engine::ports::{Io, ServiceError, Store};
use start_doctor_engine::{EngineError, Later, Notice};
use start_doctor_start::evidence::{
    Evidence, KeyPolicyFacts, KeyReport, KeyState, PolicySimulation, SimulatedDecision,
};
use start_doctor_start::ids::{KeyArn, PrincipalArn};
use start_doctor_start::pipeline::doctor::Volumes;
use start_doctor_start::pipeline::{
    Deadline, DeferredCheck, Evaluation, Pipeline, PipelineError, Settings, StartDeferred,
};
use start_doctor_start::ports::{LiveChecks, LiveRequest};
use start_doctor_start::{Cause, Diagnosis};

/// The least time between two updates of a group's message.
const UPDATE_INTERVAL_SECS: i64 = 5;

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

type TestPipeline =
    Pipeline<Io<FlakyStore, RecordingNotifier, RecordingDeferrer, RecordingAnnotator>, FakeLive>;

fn pipeline_with(notifier: RecordingNotifier, live: FakeLive) -> TestPipeline {
    Pipeline {
        ports: Io {
            store: FlakyStore::default(),
            notifier,
            deferrer: RecordingDeferrer::default(),
            annotator: RecordingAnnotator::default(),
        },
        live,
        settings: Settings::default(),
    }
}

/// What is on the deferral queue, read as the start doctor's messages,
/// with their delays.
fn queued(p: &TestPipeline) -> Vec<(StartDeferred, u32)> {
    p.ports
        .deferrer
        .deferred()
        .into_iter()
        .map(|(m, delay)| (serde_json::from_value(m).unwrap(), delay))
        .collect()
}

/// The start doctor's own check, as its queue carries it.
fn check_message(check: DeferredCheck) -> StartDeferred {
    StartDeferred {
        doctor: "start".into(),
        what: Later::Check(check),
    }
}

/// (instance, OpsItem) of every diagnosis announced (event, tag), in order.
fn diagnosed(p: &TestPipeline) -> Vec<(String, Option<String>)> {
    p.ports
        .annotator
        .announced()
        .into_iter()
        .map(|(a, ops)| (a.detail["instance_id"].as_str().unwrap().to_owned(), ops))
        .collect()
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
    let (flushes, rest): (Vec<_>, Vec<_>) = p
        .ports
        .deferrer
        .take::<StartDeferred>()
        .into_iter()
        .partition(|m| matches!(m.what, Later::Notice(Notice::Flush { .. })));
    for m in rest {
        let value = serde_json::to_value(&m).unwrap();
        start_doctor_engine::ports::Deferrer::defer(&p.ports.deferrer, &value, 0)
            .await
            .unwrap();
    }
    let results = p
        .handle_deferred(&flushes, now, Deadline::after(now, 60))
        .await;
    assert!(results.iter().all(Result::is_ok), "{results:?}");
    flushes.len()
}

/// The deferred checks of instances (not the engine's notices) queued so
/// far.
fn instance_checks(p: &TestPipeline) -> Vec<StartDeferred> {
    queued(p)
        .into_iter()
        .filter(|(m, _)| matches!(m.what, Later::Check(_)))
        .map(|(m, _)| m)
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
        assert_eq!(queued(&p).len(), 1, "deferred once per failure");
        assert_eq!(queued(&p)[0].1, 900);
        assert!(
            p.ports.notifier.posts().is_empty(),
            "nothing conclusive yet"
        );

        feed(&p, &cloudtrail_seed(), at(T0) + Duration::minutes(4)).await;
        let posts = p.ports.notifier.posts();
        assert_eq!(posts.len(), 1);
        assert!(header(&posts[0].message).contains("i-0a1b2c3d4e5f60002"));
        assert!(p.ports.notifier.updates().is_empty());

        // The deferred check fires later: the diagnosis is already published.
        let checks: Vec<StartDeferred> = queued(&p).into_iter().map(|(c, _)| c).collect();
        let results = p
            .handle_deferred(
                &checks,
                at(T0) + Duration::minutes(16),
                Deadline::after(at(T0) + Duration::minutes(16), 60),
            )
            .await;
        assert!(results.iter().all(Result::is_ok));
        assert_eq!(p.ports.notifier.posts().len(), 1, "no second post");
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
        assert_eq!(p.ports.notifier.posts().len(), 1);
        assert!(
            queued(&p).is_empty(),
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
        assert_eq!(p.ports.notifier.posts().len(), 1);
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
        let posts = p.ports.notifier.posts();
        assert_eq!(posts.len(), 1, "one message for the storm");
        assert!(
            p.ports.notifier.updates().is_empty(),
            "no chat.update within {UPDATE_INTERVAL_SECS} s of the post: {}",
            p.ports.notifier.updates().len()
        );
        let flushes = run_flushes(&p, at(T0) + Duration::seconds(UPDATE_INTERVAL_SECS)).await;
        assert_eq!(flushes, 1, "one deferred flush for the storm");
        let updates = p.ports.notifier.updates();
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
        let events = storm_events();
        feed(&p, &events, at(T0)).await;
        assert!(
            p.ports.notifier.posts().is_empty(),
            "a webhook's first post waits for the gather window"
        );
        run_notices(&p, at(T0) + Duration::seconds(60)).await;
        let posts = p.ports.notifier.posts();
        assert_eq!(posts.len(), 1);
        assert!(p.ports.notifier.updates().is_empty());
        let text = posts[0].message.to_string();
        let mut ids: Vec<&str> = events
            .iter()
            .filter_map(|e| e["detail"]["instance-id"].as_str())
            .collect();
        ids.sort_unstable();
        ids.dedup();
        assert_eq!(ids.len(), 200);
        let missing: Vec<&&str> = ids.iter().filter(|i| !text.contains(**i)).collect();
        assert!(missing.is_empty(), "every instance is named: {missing:?}");
    })
}

/// Takes the engine's queued notices (flushes, gathered posts,
/// follow-ups) out of the deferrer and runs them at `now`, leaving the
/// instance checks queued; returns how many there were.
async fn run_notices(p: &TestPipeline, now: DateTime<Utc>) -> usize {
    let (notices, rest): (Vec<_>, Vec<_>) = p
        .ports
        .deferrer
        .take::<StartDeferred>()
        .into_iter()
        .partition(|m| matches!(m.what, Later::Notice(_)));
    for m in rest {
        let value = serde_json::to_value(&m).unwrap();
        start_doctor_engine::ports::Deferrer::defer(&p.ports.deferrer, &value, 0)
            .await
            .unwrap();
    }
    let results = p
        .handle_deferred(&notices, now, Deadline::after(now, 60))
        .await;
    assert!(results.iter().all(Result::is_ok), "{results:?}");
    notices.len()
}

#[test]
fn late_kms_evidence_updates_the_unexplained_message() {
    futures_executor::block_on(async {
        let p = pipeline();
        feed(&p, &sample("seed-story/state-changes.jsonl"), at(T0)).await;
        let checks: Vec<StartDeferred> = queued(&p).into_iter().map(|(c, _)| c).collect();
        p.handle_deferred(
            &checks,
            at(T0) + Duration::minutes(15),
            Deadline::after(at(T0) + Duration::minutes(15), 60),
        )
        .await;
        let posts = p.ports.notifier.posts();
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
        assert_eq!(p.ports.notifier.posts().len(), 1, "never a second post");
        let updates = p.ports.notifier.updates();
        assert_eq!(updates.len(), 1);
        assert_eq!(Some(&updates[0].at), posts[0].at.as_ref());
        assert!(header(&updates[0].message).contains("identity policy missing"));
        let replies = p.ports.notifier.replies();
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
        start_doctor_start::read_document(&bytes).unwrap().evidence
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
            let checks: Vec<StartDeferred> = queued(&p).into_iter().map(|(c, _)| c).collect();
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
            assert_eq!(p.ports.notifier.posts().len(), 1);
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
        };
        let results = p
            .handle_deferred(&[check_message(check)], at(T0), Deadline::after(at(T0), 60))
            .await;
        assert!(matches!(results[..], [Ok(None)]));
        assert_eq!(queued(&p)[0].1, 1800);
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
        assert_eq!(p.ports.store.event_count(), 0);
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
        assert!(p.ports.notifier.posts().is_empty());
        assert!(queued(&p).is_empty());
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

        assert_eq!(p.ports.annotator.ops_items(), 1, "one OpsItem");
        let diagnosed = diagnosed(&p);
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
        let post = &p.ports.notifier.posts()[0];
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
        let untagged: Vec<String> = p
            .ports
            .annotator
            .withdrawn()
            .into_iter()
            .map(|t| t.resource_id)
            .collect();
        assert_eq!(
            untagged,
            ["i-0a1b2c3d4e5f60002"],
            "the failure tag comes off"
        );
        assert_eq!(
            p.ports.annotator.resolved(),
            ["oi-000000000000"],
            "the OpsItem is resolved: its one instance runs"
        );
        let replies = p.ports.notifier.replies();
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
        assert_eq!(p.ports.annotator.withdrawn().len(), 1);
        assert_eq!(p.ports.annotator.resolved().len(), 1);
        assert_eq!(p.ports.notifier.replies().len(), 1);
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
            p.ports.annotator.ops_items(),
            1,
            "one OpsItem for the storm"
        );
        assert_eq!(diagnosed(&p).len(), 200, "one diagnosis event per instance");
        assert_eq!(
            p.ports.annotator.update_count(),
            199,
            "updated as each instance joins"
        );

        let ids: Vec<String> = diagnosed(&p).into_iter().map(|(i, _)| i).collect();
        for (n, id) in ids.iter().enumerate() {
            feed(&p, &restart(id, 3600), at(T0) + Duration::hours(1)).await;
            let resolved = p.ports.annotator.resolved().len();
            assert_eq!(
                resolved,
                usize::from(n + 1 == ids.len()),
                "resolved once, when the last one runs ({} of {} run)",
                n + 1,
                ids.len()
            );
        }
        assert_eq!(p.ports.annotator.withdrawn().len(), 200);
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
        assert_eq!(p.ports.notifier.posts().len(), 1);
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
            p.ports.notifier.posts().len(),
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

async fn group_record(p: &TestPipeline) -> Group<Diagnosis, Volumes> {
    let keys: Vec<String> = p
        .ports
        .store
        .record_keys()
        .into_iter()
        .filter(|k| k.starts_with("start#group#") && !k.contains("internal_error"))
        .collect();
    assert_eq!(keys.len(), 1, "{keys:?}");
    let record = p.ports.store.record(&keys[0]).await.unwrap().unwrap();
    serde_json::from_str(&record.body).unwrap()
}

#[test]
fn a_deferral_that_failed_to_send_is_sent_by_the_retry() {
    futures_executor::block_on(async {
        let p = pipeline();
        p.ports.deferrer.fail_next.store(1, Ordering::SeqCst);
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
        p.ports.notifier.hold.store(true, Ordering::SeqCst);
        let first = grant_for("i-0a1b2c3d4e5f60011", "a", 0);
        {
            let handling = p.handle_event(&first, at(T0), Deadline::after(at(T0), 30));
            let mut handling = std::pin::pin!(handling);
            assert!(poll_once(handling.as_mut()).is_pending(), "stuck in Slack");
            // The invocation is killed at its timeout: the future is dropped.
        }
        p.ports.notifier.hold.store(false, Ordering::SeqCst);
        assert!(p.ports.notifier.posts().is_empty());
        // A minute later another instance of the same group fails.
        let later = at(T0) + Duration::minutes(1);
        feed(&p, &[grant_for("i-0a1b2c3d4e5f60012", "b", 60)], later).await;
        let posts = p.ports.notifier.posts();
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
        assert_eq!(p.ports.notifier.posts().len(), 1);
        assert!(group_record(&p).await.posted);
    })
}

#[test]
fn a_post_refused_by_slack_is_posted_by_the_retry_with_every_member() {
    futures_executor::block_on(async {
        let p = pipeline();
        p.ports.notifier.fail_posts.store(1, Ordering::SeqCst);
        let first = grant_for("i-0a1b2c3d4e5f60011", "a", 0);
        let result = p
            .handle_event(&first, at(T0), Deadline::after(at(T0), 30))
            .await;
        assert!(
            matches!(result, Err(PipelineError::Engine(EngineError::Notify(_)))),
            "{result:?}"
        );
        feed(
            &p,
            &[grant_for("i-0a1b2c3d4e5f60012", "b", 5)],
            at(T0) + Duration::seconds(5),
        )
        .await;
        let posts = p.ports.notifier.posts();
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
        let ops_updates = p.ports.annotator.update_count();
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
        let posts = p.ports.notifier.posts();
        assert_eq!(posts.len(), 1, "the same message, in its window");
        let replies: Vec<String> = p
            .ports
            .notifier
            .replies()
            .iter()
            .map(|r| r.message["text"].as_str().unwrap().to_owned())
            .collect();
        assert_eq!(replies.len(), 2, "{replies:?}");
        assert!(replies[0].contains("running again"), "{replies:?}");
        assert!(replies[1].contains("failed to start again"), "{replies:?}");
        assert!(
            p.ports
                .notifier
                .replies()
                .iter()
                .all(|r| Some(&r.thread) == posts[0].at.as_ref()),
            "in the thread"
        );
        assert!(
            p.ports.annotator.update_count() > ops_updates,
            "the OpsItem is brought up to date (re-opened)"
        );
        let group = group_record(&p).await;
        assert!(group.resolved.is_empty(), "the recovered mark is cleared");
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
        assert_eq!(p.ports.notifier.replies().len(), 3);
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
        assert!(
            p.ports.notifier.posts().is_empty(),
            "it runs: nothing to tell"
        );
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
        p.ports.notifier.hold.store(true, Ordering::SeqCst);
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
        assert!(
            matches!(racing, Err(PipelineError::Engine(EngineError::Busy(_)))),
            "{racing:?}"
        );
        p.ports.notifier.hold.store(false, Ordering::SeqCst);
        let results = deferred.await;
        assert!(results.iter().all(Result::is_ok), "{results:?}");
        assert_eq!(p.ports.notifier.posts().len(), 1);
        // Lambda retries the busy event: it upgrades the message in place.
        feed(&p, &cloudtrail_seed(), now + Duration::minutes(1)).await;
        let posts = p.ports.notifier.posts();
        assert_eq!(posts.len(), 1, "one post for the instance");
        let updates = p.ports.notifier.updates();
        assert_eq!(updates.len(), 1);
        assert_eq!(Some(&updates[0].at), posts[0].at.as_ref());
        assert!(header(&updates[0].message).contains("identity policy missing"));
    })
}

#[test]
fn concurrent_evaluations_of_one_instance_post_once() {
    futures_executor::block_on(async {
        let p = pipeline();
        p.ports.notifier.hold.store(true, Ordering::SeqCst);
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
        p.ports.notifier.hold.store(false, Ordering::SeqCst);
        first.await.unwrap();
        assert_eq!(p.ports.notifier.posts().len(), 1, "posted once");
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
        assert_eq!(p.ports.notifier.posts().len(), 1);
        p.ports.notifier.fail_replies.store(1, Ordering::SeqCst);
        let later = now + Duration::minutes(5);
        feed(&p, &cloudtrail_seed(), later).await;
        assert_eq!(
            p.ports.notifier.updates().len(),
            1,
            "the message shows the cause"
        );
        let group = group_record(&p).await;
        assert_eq!(
            group.message,
            p.ports.notifier.posts()[0].at,
            "the thread is kept"
        );
        // Redeliveries and a restart later: no second post; the thread gets the reply.
        feed(&p, &cloudtrail_seed(), later + Duration::minutes(1)).await;
        feed(&p, &restart(SEED_FAILED, 3600), at(T0) + Duration::hours(1)).await;
        assert_eq!(p.ports.notifier.posts().len(), 1);
        let replies = p.ports.notifier.replies();
        assert_eq!(replies.len(), 1);
        assert_eq!(
            Some(&replies[0].thread),
            p.ports.notifier.posts()[0].at.as_ref()
        );
    })
}

#[test]
fn a_failed_write_of_the_message_reference_is_retried_not_reposted() {
    futures_executor::block_on(async {
        let p = pipeline();
        p.ports
            .store
            .fail_writes
            .lock()
            .unwrap()
            .push((r#""message":{"channel""#.to_owned(), 1));
        feed(&p, &[grant_for("i-0a1b2c3d4e5f60011", "a", 0)], at(T0)).await;
        assert_eq!(p.ports.notifier.posts().len(), 1);
        let posted = p.ports.notifier.posts()[0].at.clone();
        assert_eq!(
            group_record(&p).await.message,
            posted,
            "the reference is recorded"
        );
        // Another member joins later: the message is updated, never reposted.
        let later = at(T0) + Duration::seconds(UPDATE_INTERVAL_SECS + 1);
        feed(&p, &[grant_for("i-0a1b2c3d4e5f60012", "b", 6)], later).await;
        assert_eq!(p.ports.notifier.posts().len(), 1);
        let updates = p.ports.notifier.updates();
        assert_eq!(updates.len(), 1);
        assert_eq!(Some(&updates[0].at), posted.as_ref());
        assert!(header(&updates[0].message).starts_with("2 EC2 instances"));
    })
}

#[test]
fn lost_writes_back_off_with_growing_attempts_and_injected_jitter() {
    futures_executor::block_on(async {
        let p = pipeline();
        p.ports.store.lose_writes.store(3, Ordering::SeqCst);
        feed(&p, &cloudtrail_seed(), at(T0)).await;
        assert_eq!(p.ports.notifier.posts().len(), 1);
        assert_eq!(p.ports.store.contended_attempts(), [0, 1, 2]);
    });
    use start_doctor_engine::record::contention_backoff;
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
        let posts = p.ports.notifier.posts();
        assert_eq!(posts.len(), 2, "one per account");
        assert!(posts[1].message.to_string().contains("444455556666"));
        assert!(p
            .ports
            .store
            .record_keys()
            .iter()
            .any(|k| k == "start#member#444455556666#eu-west-1#i-0a1b2c3d4e5f60002"));
    })
}
