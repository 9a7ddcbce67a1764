//! The live path under faults, with real parts: DynamoDB and SQS on moto
//! behind a fault proxy (`start_doctor_testkit::fault_proxy`) that fails or
//! delays named AWS actions, Slack as the local receiver with its hangs and
//! rate tiers, and a runner that invokes the handler as Lambda does: cut
//! off at the function's `Timeout` from template.yaml, retried the way the
//! event source retries (EventBridge → Lambda asynchronous invocation: two
//! retries, one and then two minutes later; SQS: redelivery of what the
//! batch response names after the visibility timeout).

use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration as Wait, Instant};

use chrono::{DateTime, Duration, Utc};
use serde_json::{json, Value};
use start_doctor_aws::config::SlackNotifier;
use start_doctor_aws::defer::SqsDeferrer;
use start_doctor_aws::dynamodb::{create_table, DynamoStore};
use start_doctor_aws::lambda::HandlerError;
use start_doctor_aws::slack::{SlackApi, SlackWebhook};
use start_doctor_engine::ports::{Io, NoAnnotator, ServiceError, Store};
use start_doctor_start::pipeline::{Pipeline, Settings};
use start_doctor_start::ports::{LiveChecks, LiveRequest};
use start_doctor_testkit::fault_proxy::FaultProxy;
use start_doctor_testkit::slack::SlackReceiver;

use crate::support::handle_within;

const TOKEN: &str = "xoxb-test-token";
const ACCOUNT: &str = "111122223333";
const KEY: &str = "arn:aws:kms:eu-west-1:111122223333:key/3f0c5a8e-6b1d-4e27-9a4c-2d7e81b05f63";
const SESSION: &str = "arn:aws:sts::111122223333:assumed-role/instance-scheduler-job/run-1";
const ROLE: &str = "arn:aws:iam::111122223333:role/instance-scheduler-job";
const T0: &str = "2026-11-20T07:00:00Z";

/// No live checks: these tests are about delivery, not diagnosis.
struct NoLive;

impl LiveChecks for NoLive {
    async fn describe(
        &self,
        _: &[LiveRequest],
    ) -> Result<Vec<start_doctor_start::Evidence>, ServiceError> {
        Ok(Vec::new())
    }

    async fn lookup_cloudtrail(
        &self,
        _: &[LiveRequest],
    ) -> Result<Vec<start_doctor_start::Evidence>, ServiceError> {
        Ok(Vec::new())
    }
}

type FaultPipeline = Pipeline<Io<DynamoStore, SlackNotifier, SqsDeferrer, NoAnnotator>, NoLive>;

/// How the world talks to Slack.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Transport {
    /// The Web API with a bot token.
    Api,
    /// An Incoming Webhook.
    Webhook,
}

struct World {
    pipeline: FaultPipeline,
    proxy: FaultProxy,
    slack: SlackReceiver,
    sqs: aws_sdk_sqs::Client,
    queue_url: String,
}

fn unique(name: &str) -> String {
    static N: AtomicUsize = AtomicUsize::new(0);
    format!(
        "faults-{name}-{}-{}",
        std::process::id(),
        N.fetch_add(1, Ordering::SeqCst)
    )
}

/// A pipeline whose DynamoDB and SQS calls go through a fresh fault proxy
/// to moto; the queue redelivers after 2 s.
async fn world() -> World {
    world_with(Transport::Api).await
}

/// [`world`] with Slack through `transport`.
async fn world_with(transport: Transport) -> World {
    let proxy = FaultProxy::start(&start_doctor_testkit::moto::endpoint());
    let sdk = crate::support::sdk_config().await.into_builder();
    let sdk = sdk.endpoint_url(proxy.endpoint()).build();
    let dynamo = aws_sdk_dynamodb::Client::new(&sdk);
    let table = unique("faults");
    create_table(&dynamo, &table).await.unwrap();
    let sqs = aws_sdk_sqs::Client::new(&sdk);
    let queue_url = sqs
        .create_queue()
        .queue_name(unique("deferred"))
        .attributes(
            aws_sdk_sqs::types::QueueAttributeName::VisibilityTimeout,
            "2",
        )
        .send()
        .await
        .unwrap()
        .queue_url()
        .unwrap()
        .to_owned();
    let slack = SlackReceiver::start(TOKEN);
    let pipeline = Pipeline {
        ports: Io {
            store: DynamoStore::new(dynamo, table),
            notifier: match transport {
                Transport::Api => SlackNotifier::Api(
                    SlackApi::new(TOKEN, "C0STARTDOC", reqwest::Client::new())
                        .with_base_url(slack.api_base()),
                ),
                Transport::Webhook => SlackNotifier::Webhook(SlackWebhook::new(
                    slack.webhook_url(),
                    reqwest::Client::new(),
                )),
            },
            deferrer: SqsDeferrer::new(sqs.clone(), queue_url.clone()),
            annotator: NoAnnotator,
        },
        live: NoLive,
        settings: Settings {
            cloudtrail_wait_secs: 0,
            ..Settings::default()
        },
    };
    proxy.reset_counts();
    World {
        pipeline,
        proxy,
        slack,
        sqs,
        queue_url,
    }
}

/// The function whose handler an event is given to.
#[derive(Clone, Copy, Debug)]
enum Function {
    /// `ec2-state-change`: state changes and SQS batches of deferred checks.
    Ec2StateChange,
    /// `cloudtrail-api-call`: CloudTrail API calls.
    CloudTrailApiCall,
}

/// The function's `Timeout` in template.yaml.
fn template_timeout(function: Function) -> Wait {
    let dir = match function {
        Function::Ec2StateChange => "ec2-state-change",
        Function::CloudTrailApiCall => "cloudtrail-api-call",
    };
    let template =
        std::fs::read_to_string(start_doctor_testkit::fixtures::repo().join("template.yaml"))
            .unwrap();
    let code_uri = format!("CodeUri: functions/{dir}");
    let after = template
        .split_once(&code_uri)
        .unwrap_or_else(|| panic!("template.yaml has no {code_uri}"))
        .1;
    let secs: u64 = after
        .lines()
        .find_map(|l| l.trim().strip_prefix("Timeout:"))
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or_else(|| panic!("no Timeout after {code_uri}"));
    Wait::from_secs(secs)
}

/// How one invocation ended.
#[derive(Debug)]
enum Invocation {
    /// The handler answered within the timeout.
    Answered(Result<Value, HandlerError>),
    /// Lambda killed it at the timeout.
    Killed,
}

impl Invocation {
    fn succeeded(&self) -> bool {
        matches!(self, Invocation::Answered(Ok(_)))
    }
}

/// One invocation of `function` with `payload` at `now`, killed (its
/// future dropped) past the template `Timeout`, as Lambda does.
async fn invoke(w: &World, function: Function, payload: &Value, now: DateTime<Utc>) -> Invocation {
    let timeout = template_timeout(function);
    match tokio::time::timeout(timeout, handle_within(&w.pipeline, payload, now, timeout)).await {
        Ok(answer) => Invocation::Answered(answer),
        Err(_) => Invocation::Killed,
    }
}

/// An EventBridge event through Lambda's asynchronous invocation: the
/// first attempt, then up to two retries one and two minutes later while
/// it fails or is killed. Returns every attempt.
async fn invoke_async(
    w: &World,
    function: Function,
    event: &Value,
    now: DateTime<Utc>,
) -> Vec<Invocation> {
    let mut attempts = Vec::new();
    for delay in [0, 60, 180] {
        let attempt = invoke(w, function, event, now + Duration::seconds(delay)).await;
        let done = attempt.succeeded();
        attempts.push(attempt);
        if done {
            break;
        }
    }
    attempts
}

/// The messages visible in the deferral queue (at most 100, the template's
/// `BatchSize`), as the SQS event Lambda receives, with their receipt
/// handles.
async fn receive(w: &World) -> (Value, Vec<(String, String)>) {
    let mut records = Vec::new();
    let mut handles = Vec::new();
    for _ in 0..10 {
        let received = w
            .sqs
            .receive_message()
            .queue_url(&w.queue_url)
            .max_number_of_messages(10)
            .send()
            .await
            .unwrap();
        if received.messages().is_empty() {
            break;
        }
        for m in received.messages() {
            let id = m.message_id().unwrap_or_default().to_owned();
            handles.push((
                id.clone(),
                m.receipt_handle().unwrap_or_default().to_owned(),
            ));
            records.push(json!({
                "messageId": id, "receiptHandle": m.receipt_handle(), "body": m.body(),
                "attributes": {}, "messageAttributes": {}, "eventSource": "aws:sqs",
                "eventSourceARN": "arn:aws:sqs:eu-west-1:111122223333:deferred", "awsRegion": "eu-west-1"
            }));
        }
    }
    (json!({ "Records": records }), handles)
}

/// One SQS-triggered invocation as the event source mapping runs it: the
/// messages the response does not name (all of them, on success without
/// failures) are deleted; the others (all of them, when the invocation
/// failed or was killed) become visible again after the visibility
/// timeout. Returns the invocation and how many messages it took.
async fn invoke_sqs(w: &World, now: DateTime<Utc>) -> (Invocation, usize) {
    let (batch, handles) = receive(w).await;
    if handles.is_empty() {
        return (Invocation::Answered(Ok(json!({}))), 0);
    }
    let invocation = invoke(w, Function::Ec2StateChange, &batch, now).await;
    let failed: Vec<String> = match &invocation {
        Invocation::Answered(Ok(response)) => response["batchItemFailures"]
            .as_array()
            .map(|f| {
                f.iter()
                    .filter_map(|i| i["itemIdentifier"].as_str().map(str::to_owned))
                    .collect()
            })
            .unwrap_or_default(),
        _ => handles.iter().map(|(id, _)| id.clone()).collect(),
    };
    for (id, receipt) in &handles {
        if !failed.contains(id) {
            w.sqs
                .delete_message()
                .queue_url(&w.queue_url)
                .receipt_handle(receipt)
                .send()
                .await
                .unwrap();
        }
    }
    (invocation, handles.len())
}

fn at(s: &str) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc)
}

fn state_change(id: &str, state: &str, secs: i64) -> Value {
    json!({
        "version": "0", "id": format!("sc-{id}-{state}-{secs}"), "detail-type": "EC2 Instance State-change Notification",
        "source": "aws.ec2", "account": ACCOUNT, "time": (at(T0) + Duration::seconds(secs)).to_rfc3339(),
        "region": "eu-west-1", "resources": [format!("arn:aws:ec2:eu-west-1:{ACCOUNT}:instance/{id}")],
        "detail": {"instance-id": id, "state": state}
    })
}

/// A denied `CreateGrant` EC2 made for `id` (conclusive at once).
fn grant_denied(id: &str, secs: i64) -> Value {
    let time = (at(T0) + Duration::seconds(secs)).to_rfc3339();
    json!({
        "version": "0", "id": format!("eb-grant-{id}-{secs}"), "detail-type": "AWS API Call via CloudTrail",
        "source": "aws.kms", "account": ACCOUNT, "time": time, "region": "eu-west-1", "resources": [],
        "detail": {
            "eventVersion": "1.09", "eventID": format!("ct-grant-{id}-{secs}"), "eventTime": time,
            "eventSource": "kms.amazonaws.com", "eventName": "CreateGrant", "awsRegion": "eu-west-1",
            "recipientAccountId": ACCOUNT, "requestID": format!("req-{id}-{secs}"), "sourceIPAddress": "AWS Internal",
            "userAgent": "AWS Internal", "errorCode": "AccessDenied",
            "errorMessage": format!("User: {SESSION} is not authorized to perform: kms:CreateGrant on resource: {KEY} because no identity-based policy allows the kms:CreateGrant action"),
            "userIdentity": {"type": "AssumedRole", "arn": SESSION,
                "sessionContext": {"sessionIssuer": {"type": "Role", "arn": ROLE}}},
            "requestParameters": {"keyId": KEY, "granteePrincipal": format!("{ACCOUNT}:aws:ec2-infrastructure:{id}"),
                "retiringPrincipal": "ec2.eu-west-1.amazonaws.com", "operations": ["Decrypt"]},
            "responseElements": null
        }
    })
}

fn kinds(slack: &SlackReceiver) -> Vec<String> {
    slack
        .messages()
        .iter()
        .map(|m| m["kind"].as_str().unwrap_or_default().to_owned())
        .collect()
}

/// The group record of the identity-policy group, as stored.
async fn group_record(w: &World) -> Value {
    let key = format!(
        "start#group#{ACCOUNT}#eu-west-1#kms_identity_policy_missing#{ROLE}#3f0c5a8e-6b1d-4e27-9a4c-2d7e81b05f63"
    );
    let record = w.pipeline.ports.store.record(&key).await.unwrap();
    serde_json::from_str(&record.unwrap_or_else(|| panic!("no {key}")).body).unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqs_failing_after_the_state_change_is_retried_and_the_check_is_queued() {
    let w = world().await;
    let id = "i-0fa00000000000001";
    invoke_async(
        &w,
        Function::Ec2StateChange,
        &state_change(id, "pending", 0),
        at(T0),
    )
    .await;
    // SendMessage fails for all three of the SDK's attempts: one failed call.
    w.proxy.fail("SendMessage", 3);
    let attempts = invoke_async(
        &w,
        Function::Ec2StateChange,
        &state_change(id, "stopped", 10),
        at(T0),
    )
    .await;
    assert!(
        matches!(
            attempts[..],
            [
                Invocation::Answered(Err(HandlerError::Retryable(_))),
                Invocation::Answered(Ok(_))
            ]
        ),
        "{attempts:?}"
    );
    assert_eq!(w.proxy.failed().get("SendMessage"), Some(&3));
    let (batch, handles) = receive(&w).await;
    assert_eq!(handles.len(), 1, "the retry queued the check: {batch}");
    let body: Value = serde_json::from_str(batch["Records"][0]["body"].as_str().unwrap()).unwrap();
    assert_eq!(body["doctor"], "start", "the message names its doctor");
    assert_eq!(body["check"]["instance_id"], id);
    let claim = w
        .pipeline
        .ports
        .store
        .record(&format!("start#deferred#{ACCOUNT}#eu-west-1#{id}"))
        .await
        .unwrap();
    assert!(claim.is_some(), "claimed after the send");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn slack_hanging_past_the_timeout_is_cut_off_and_the_retry_posts_once() {
    let w = world().await;
    let id = "i-0fa00000000000002";
    // Slack never answers the first post (and never makes it): the client
    // gives up after its 10 s request timeout, and since the post may have
    // been made it is not repeated blindly. The channel's history does not
    // have it, so the invocation ends retryable; the retry looks again and
    // posts.
    w.slack.hang_next(1, 45.0);
    let started = Instant::now();
    let attempts = invoke_async(
        &w,
        Function::CloudTrailApiCall,
        &grant_denied(id, 5),
        at(T0),
    )
    .await;
    let timeout = template_timeout(Function::CloudTrailApiCall);
    assert!(
        matches!(
            attempts[0],
            Invocation::Answered(Err(HandlerError::Retryable(_)))
        ),
        "stopped itself before being killed: {attempts:?}"
    );
    assert!(attempts.iter().all(|a| !matches!(a, Invocation::Killed)));
    assert!(
        attempts.last().is_some_and(Invocation::succeeded),
        "{attempts:?}"
    );
    assert!(started.elapsed() < timeout * 2, "{:?}", started.elapsed());
    assert_eq!(kinds(&w.slack), ["post"], "posted once, by the retry");
    let group = group_record(&w).await;
    assert_eq!(group["posted"], true);
    assert_eq!(group["message"]["ts"], w.slack.messages()[0]["ts"]);
    assert_eq!(group["members"], json!([id]));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_long_retry_after_fails_fast_and_the_next_member_posts_the_whole_group() {
    let w = world().await;
    let (a, b) = ("i-0fa00000000000003", "i-0fa00000000000004");
    // Slack asks to wait two minutes: more than the function has.
    w.slack.rate_limit_next(1, 120);
    let first = invoke(&w, Function::CloudTrailApiCall, &grant_denied(a, 5), at(T0)).await;
    assert!(
        matches!(first, Invocation::Answered(Err(HandlerError::Retryable(_)))),
        "{first:?}"
    );
    // Another instance of the group fails before Lambda retries the first.
    let second = invoke(
        &w,
        Function::CloudTrailApiCall,
        &grant_denied(b, 20),
        at(T0) + Duration::seconds(20),
    )
    .await;
    assert!(second.succeeded(), "{second:?}");
    let messages = w.slack.messages();
    assert_eq!(kinds(&w.slack), ["post"], "{messages:?}");
    let header = messages[0]["payload"]["blocks"][0]["text"]["text"]
        .as_str()
        .unwrap();
    assert!(header.starts_with("2 EC2 instances"), "{header}");
    // The retry of the first event changes nothing.
    let retry = invoke(
        &w,
        Function::CloudTrailApiCall,
        &grant_denied(a, 5),
        at(T0) + Duration::minutes(1),
    )
    .await;
    assert!(retry.succeeded(), "{retry:?}");
    assert_eq!(kinds(&w.slack), ["post"]);
    assert_eq!(group_record(&w).await["members"], json!([a, b]));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_batch_with_an_unreadable_message_fails_that_message_only() {
    let w = world().await;
    let id = "i-0fa00000000000005";
    for e in [
        state_change(id, "pending", 0),
        state_change(id, "stopped", 10),
    ] {
        assert!(invoke(&w, Function::Ec2StateChange, &e, at(T0))
            .await
            .succeeded());
    }
    let (mut batch, _) = receive(&w).await;
    let records = batch["Records"].as_array_mut().unwrap();
    assert_eq!(records.len(), 1);
    let mut bad = records[0].clone();
    bad["messageId"] = json!("bad-1");
    bad["attributes"] = json!(5);
    let mut garbage = records[0].clone();
    garbage["messageId"] = json!("bad-2");
    garbage["body"] = json!("not a check");
    records.extend([bad, garbage]);
    let answer = invoke(
        &w,
        Function::Ec2StateChange,
        &batch,
        at(T0) + Duration::minutes(1),
    )
    .await;
    let Invocation::Answered(Ok(response)) = answer else {
        panic!("{answer:?}")
    };
    assert_eq!(
        response["batchItemFailures"],
        json!([{"itemIdentifier": "bad-1"}, {"itemIdentifier": "bad-2"}])
    );
    assert_eq!(kinds(&w.slack), ["post"], "the good check was run");

    // Without readable message ids the batch cannot be answered per
    // message: the invocation fails and SQS redelivers all of it.
    let unreadable = json!({"Records": [{"body": "{}"}, 7]});
    let answer = invoke(&w, Function::Ec2StateChange, &unreadable, at(T0)).await;
    assert!(
        matches!(
            answer,
            Invocation::Answered(Err(HandlerError::Retryable(_)))
        ),
        "{answer:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_storm_under_slacks_rate_tiers_is_one_post_and_few_updates() {
    let w = world().await;
    // Slack's tiers: chat.update Tier 3 (~50/min), chat.postMessage ~1/s.
    w.slack
        .per_minute(&[("chat.update", 50), ("chat.postMessage", 60)]);
    let ids: Vec<String> = (1..=60).map(|n| format!("i-0fb{n:014x}")).collect();
    let mut invocations = Vec::new();
    for (n, id) in ids.iter().enumerate() {
        // One failure every half second, for 30 s.
        let now = at(T0) + Duration::milliseconds(500 * n as i64);
        invocations
            .extend(invoke_async(&w, Function::CloudTrailApiCall, &grant_denied(id, 5), now).await);
    }
    // The flush was queued with an SQS delay of at most the update interval.
    tokio::time::sleep(Wait::from_secs(6)).await;
    let (flush, taken) = invoke_sqs(&w, at(T0) + Duration::seconds(40)).await;
    assert!(flush.succeeded() && taken >= 1, "{flush:?} {taken}");
    assert!(
        invocations.iter().all(Invocation::succeeded),
        "none failed or timed out"
    );
    let kinds = kinds(&w.slack);
    let updates = kinds.iter().filter(|k| *k == "update").count();
    assert_eq!(kinds.iter().filter(|k| *k == "post").count(), 1);
    assert!(
        updates <= 8,
        "at most one update per group per 5 s: {updates}"
    );
    assert_eq!(
        w.slack.control()["rate_limited"],
        0,
        "never over Slack's limits"
    );
    let last = w.slack.messages().pop().unwrap();
    let header = last["payload"]["blocks"][0]["text"]["text"]
        .as_str()
        .unwrap()
        .to_owned();
    assert!(
        header.starts_with("60 EC2 instances"),
        "the latest state in the end: {header}"
    );
}

#[test]
fn every_function_timeout_is_read_from_the_template() {
    assert_eq!(
        template_timeout(Function::Ec2StateChange),
        Wait::from_secs(60)
    );
    assert_eq!(
        template_timeout(Function::CloudTrailApiCall),
        Wait::from_secs(30)
    );
}

#[test]
fn the_ops_item_dedup_string_is_a_hash_of_the_whole_group_key() {
    use start_doctor_aws::annotate::dedup_string;
    let long = format!(
        "start#group#{ACCOUNT}#eu-west-1#kms_identity_policy_missing#arn:aws:iam::{ACCOUNT}:role/"
    );
    let (a, b) = (format!("{long}team-a#key-1"), format!("{long}team-b#key-1"));
    assert!(
        a.len() > 64 && a[..64] == b[..64],
        "keys that differ after 64 characters"
    );
    assert_ne!(dedup_string(&a), dedup_string(&b));
    assert_eq!(dedup_string(&a), dedup_string(&a));
    assert_eq!(dedup_string(&a).len(), 64);
    assert!(dedup_string(&a).chars().all(|c| c.is_ascii_hexdigit()));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_dead_letter_replay_script_replays_and_deletes_every_message() {
    let sdk = crate::support::sdk_config().await;
    let sqs = aws_sdk_sqs::Client::new(&sdk);
    let url = sqs
        .create_queue()
        .queue_name(unique("failed-invocations"))
        .send()
        .await
        .unwrap()
        .queue_url()
        .unwrap()
        .to_owned();
    let function = "arn:aws:lambda:eu-west-1:111122223333:function:start-doctor-ec2-state-change";
    for n in 0..12 {
        let record = json!({
            "version": "1.0", "requestContext": {"functionArn": format!("{function}:$LATEST"),
                "condition": "RetriesExhausted", "approximateInvokeCount": 3},
            "requestPayload": state_change(&format!("i-0fc{n:014x}"), "stopped", n),
            "responseContext": {"statusCode": 200, "functionError": "Unhandled"}
        });
        sqs.send_message()
            .queue_url(&url)
            .message_body(record.to_string())
            .send()
            .await
            .unwrap();
    }
    // `aws lambda` is a shim that records what would be invoked; `aws sqs`
    // is the real CLI, on moto.
    let dir = std::env::temp_dir().join(unique("replay"));
    std::fs::create_dir_all(&dir).unwrap();
    let log = dir.join("invoked");
    let real = String::from_utf8(
        std::process::Command::new("sh")
            .args(["-c", "command -v aws"])
            .output()
            .unwrap()
            .stdout,
    )
    .unwrap();
    // The real CLI is pointed at moto explicitly: nothing leaves 127.0.0.1.
    let shim = format!(
        "#!/bin/sh\nif [ \"$1\" = lambda ]; then\n  while [ $# -gt 0 ]; do\n    case $1 in\n      --function-name) printf '%s ' \"$2\" >> {log};;\n      --payload) jq -c .id \"${{2#file://}}\" >> {log};;\n    esac\n    shift\n  done\n  exit 0\nfi\nexec {real} --endpoint-url {moto} \"$@\"\n",
        log = log.display(),
        real = real.trim(),
        moto = start_doctor_testkit::moto::endpoint()
    );
    std::fs::write(dir.join("aws"), shim).unwrap();
    std::process::Command::new("chmod")
        .arg("+x")
        .arg(dir.join("aws"))
        .status()
        .unwrap();
    let script =
        start_doctor_testkit::fixtures::repo().join("scripts/replay-failed-invocations.sh");
    let path = format!(
        "{}:{}",
        dir.display(),
        std::env::var("PATH").unwrap_or_default()
    );
    let url_arg = url.clone();
    let output = tokio::task::spawn_blocking(move || {
        std::process::Command::new("sh")
            .arg(script)
            .arg(url_arg)
            .env("PATH", path)
            .env("AWS_ACCESS_KEY_ID", "testing")
            .env("AWS_SECRET_ACCESS_KEY", "testing")
            .env("AWS_DEFAULT_REGION", "eu-west-1")
            .env_remove("AWS_PROFILE")
            .output()
            .unwrap()
    })
    .await
    .unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "{stderr}");
    assert_eq!(
        String::from_utf8_lossy(&output.stdout).trim(),
        "replayed 12 event(s)"
    );
    let invoked = std::fs::read_to_string(&log).unwrap();
    let lines: Vec<&str> = invoked.lines().collect();
    assert_eq!(lines.len(), 12, "{invoked}");
    assert!(
        lines
            .iter()
            .all(|l| l.starts_with(&format!("{function} \"sc-i-0fc"))),
        "{invoked}"
    );
    let left = sqs
        .get_queue_attributes()
        .queue_url(&url)
        .attribute_names(aws_sdk_sqs::types::QueueAttributeName::ApproximateNumberOfMessages)
        .send()
        .await
        .unwrap();
    let left = left
        .attributes()
        .and_then(|a| a.get(&aws_sdk_sqs::types::QueueAttributeName::ApproximateNumberOfMessages))
        .cloned();
    assert_eq!(
        left.as_deref(),
        Some("0"),
        "every replayed message is deleted"
    );
}

/// The storm benchmark of docs/performance.md ("Live path storm"): 1000
/// instances fail for one cause; their state changes go through
/// `ec2-state-change`, their denied grants (CloudTrail, later) through
/// `cloudtrail-api-call`, then the deferred checks and flushes through
/// `ec2-state-change` from SQS, with Slack enforcing its rate tiers.
/// Prints Slack calls by method, AWS calls by action, failed and killed
/// invocations and the wall time.
///
/// `cargo test -p start-doctor-aws --test tests storm_benchmark -- --ignored --nocapture`
/// (`STORM_INSTANCES` sets another size).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "a benchmark: minutes on moto"]
async fn storm_benchmark() {
    let count: usize = std::env::var("STORM_INSTANCES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(1000);
    let w = world().await;
    w.slack
        .per_minute(&[("chat.update", 50), ("chat.postMessage", 60)]);
    let ids: Vec<String> = (1..=count).map(|n| format!("i-0fd{n:014x}")).collect();
    let started = Instant::now();
    let mut invocations: Vec<Invocation> = Vec::new();
    let mut n = 0i64;
    let mut next = || {
        n += 1;
        at(T0) + Duration::milliseconds(50 * n)
    };
    for id in &ids {
        for (state, secs) in [("pending", 0), ("stopped", 10)] {
            let now = next();
            invocations.extend(
                invoke_async(
                    &w,
                    Function::Ec2StateChange,
                    &state_change(id, state, secs),
                    now,
                )
                .await,
            );
        }
    }
    for id in &ids {
        let now = next();
        invocations.extend(
            invoke_async(&w, Function::CloudTrailApiCall, &grant_denied(id, 30), now).await,
        );
    }
    let mut batches = 0;
    let drain_at = at(T0) + Duration::minutes(16);
    for round in 0..3 {
        loop {
            let (invocation, taken) =
                invoke_sqs(&w, drain_at + Duration::seconds(10 * round)).await;
            if taken == 0 {
                break;
            }
            batches += 1;
            invocations.push(invocation);
        }
        // Flushes wait out their SQS delay (at most the update interval).
        tokio::time::sleep(Wait::from_secs(6)).await;
    }
    let wall = started.elapsed();
    let failed = invocations
        .iter()
        .filter(|i| matches!(i, Invocation::Answered(Err(_))))
        .count();
    let killed = invocations
        .iter()
        .filter(|i| matches!(i, Invocation::Killed))
        .count();
    let control = w.slack.control();
    let kinds = kinds(&w.slack);
    let figures = json!({
        "instances": count,
        "invocations": invocations.len(),
        "sqs_batches": batches,
        "failed_invocations": failed,
        "killed_invocations": killed,
        "slack_accepted": {
            "post": kinds.iter().filter(|k| *k == "post").count(),
            "update": kinds.iter().filter(|k| *k == "update").count(),
            "reply": kinds.iter().filter(|k| *k == "reply").count(),
        },
        "slack_requests": control["calls"],
        "slack_429": control["rate_limited"],
        "aws_calls": w.proxy.calls(),
        "wall_seconds": wall.as_secs_f64(),
    });
    println!("STORM {figures}");
    assert_eq!(failed + killed, 0, "{figures}");
    assert_eq!(
        kinds.iter().filter(|k| *k == "post").count(),
        1,
        "{figures}"
    );
    let last = w.slack.messages().pop().unwrap();
    let header = last["payload"]["blocks"][0]["text"]["text"]
        .as_str()
        .unwrap()
        .to_owned();
    assert!(
        header.starts_with(&format!("{count} EC2 instances")),
        "{header}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_deferred_check_of_an_instance_that_ran_since_posts_nothing() {
    let w = world().await;
    let id = "i-0fa00000000000006";
    for (state, secs) in [
        ("pending", 0),
        ("stopped", 10),
        ("pending", 60),
        ("running", 80),
    ] {
        let e = state_change(id, state, secs);
        assert!(invoke(
            &w,
            Function::Ec2StateChange,
            &e,
            at(T0) + Duration::seconds(secs)
        )
        .await
        .succeeded());
    }
    let (invocation, taken) = invoke_sqs(&w, at(T0) + Duration::minutes(15)).await;
    assert_eq!(taken, 1, "the check was queued");
    let Invocation::Answered(Ok(response)) = invocation else {
        panic!("{invocation:?}")
    };
    assert_eq!(response["batchItemFailures"], json!([]));
    assert!(kinds(&w.slack).is_empty(), "it runs: nothing posted");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fail_recover_fail_again_is_a_reply_in_the_thread() {
    let w = world().await;
    let id = "i-0fa00000000000007";
    let mut events = vec![(Function::CloudTrailApiCall, grant_denied(id, 5))];
    for (state, secs) in [
        ("pending", 600),
        ("running", 620),
        ("pending", 1200),
        ("stopped", 1210),
    ] {
        events.push((Function::Ec2StateChange, state_change(id, state, secs)));
    }
    events.push((Function::CloudTrailApiCall, grant_denied(id, 1205)));
    for (function, e) in &events {
        let now = at(e["time"].as_str().unwrap()) + Duration::seconds(2);
        let attempts = invoke_async(&w, *function, e, now).await;
        assert!(attempts.iter().all(Invocation::succeeded), "{attempts:?}");
    }
    // The post, the recovery, the failure again, and the message brought
    // up to date.
    assert_eq!(kinds(&w.slack), ["post", "reply", "reply", "update"]);
    let messages = w.slack.messages();
    let ts = messages[0]["ts"].clone();
    assert!(
        messages[1..3].iter().all(|m| m["thread_ts"] == ts),
        "in the thread"
    );
    assert_eq!(messages[3]["ts"], ts, "the update targets the message");
    let texts: Vec<String> = messages[1..3]
        .iter()
        .map(|m| m["payload"]["text"].as_str().unwrap_or_default().to_owned())
        .collect();
    assert!(texts[0].contains("running again"), "{texts:?}");
    assert!(texts[1].contains("failed to start again"), "{texts:?}");
    let group = group_record(&w).await;
    assert_eq!(
        group["resolved"],
        json!([]),
        "the recovered mark is cleared"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dynamodb_hanging_past_the_timeout_is_cut_off_and_the_retry_posts_once() {
    let w = world().await;
    let id = "i-0fa00000000000008";
    // The first write of the invocation (filing the event) takes 40 s: the
    // function has 30. The write still lands after the client gave up.
    w.proxy.delay("PutItem", 1, Wait::from_secs(40));
    let attempts = invoke_async(
        &w,
        Function::CloudTrailApiCall,
        &grant_denied(id, 5),
        at(T0),
    )
    .await;
    assert!(
        matches!(
            attempts[..],
            [
                Invocation::Answered(Err(HandlerError::Retryable(_))),
                Invocation::Answered(Ok(_))
            ]
        ),
        "stopped itself, then the retry did the work: {attempts:?}"
    );
    assert_eq!(kinds(&w.slack), ["post"]);
    assert_eq!(group_record(&w).await["members"], json!([id]));
}

/// The top-level messages Slack shows (posts through the Web API or a
/// webhook; replies and updates excluded).
fn top_level(slack: &SlackReceiver) -> Vec<Value> {
    slack
        .messages()
        .into_iter()
        .filter(|m| matches!(m["kind"].as_str(), Some("post" | "webhook")))
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn slack_answering_after_the_client_timeout_is_one_message() {
    let w = world().await;
    let (a, b) = ("i-0fa00000000000021", "i-0fa00000000000022");
    // Slack makes the post, then answers 12 s later: the client gave up
    // after its 10 s timeout. The outcome is unknown, so the channel's
    // history is searched and the post adopted, never repeated.
    w.slack.slow_next(1, 12.0);
    let attempts = invoke_async(&w, Function::CloudTrailApiCall, &grant_denied(a, 5), at(T0)).await;
    assert!(
        attempts.iter().all(|a| !matches!(a, Invocation::Killed)),
        "{attempts:?}"
    );
    assert!(
        attempts.last().is_some_and(Invocation::succeeded),
        "{attempts:?}"
    );
    assert_eq!(top_level(&w.slack).len(), 1, "{:?}", kinds(&w.slack));
    assert!(
        w.slack.control()["calls"]["conversations.history"]
            .as_u64()
            .is_some_and(|n| n >= 1),
        "the post was looked up: {}",
        w.slack.control()
    );
    let group = group_record(&w).await;
    assert_eq!(
        group["message"]["ts"],
        top_level(&w.slack)[0]["ts"],
        "adopted"
    );
    // The next member updates the adopted message.
    let second = invoke(
        &w,
        Function::CloudTrailApiCall,
        &grant_denied(b, 20),
        at(T0) + Duration::seconds(20),
    )
    .await;
    assert!(second.succeeded(), "{second:?}");
    assert_eq!(top_level(&w.slack).len(), 1, "{:?}", kinds(&w.slack));
    assert!(kinds(&w.slack).contains(&"update".to_owned()));
    assert!(
        w.slack.rejections().is_empty(),
        "{:?}",
        w.slack.rejections()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_store_failing_right_after_a_good_post_is_one_message() {
    let w = world().await;
    let id = "i-0fa00000000000023";
    // The post is made (its answer held 2 s); the moment Slack has it,
    // DynamoDB starts failing every write: the message's reference cannot
    // be recorded (4 tries of 3 SDK attempts each).
    w.slack.slow_next(1, 2.0);
    let (slack, proxy) = (w.slack.watch(), w.proxy.clone());
    let arm = std::thread::spawn(move || {
        let started = Instant::now();
        while started.elapsed() < Wait::from_secs(20) {
            if !slack.messages().is_empty() {
                proxy.fail("PutItem", 12);
                return true;
            }
            std::thread::sleep(Wait::from_millis(20));
        }
        false
    });
    let first = invoke(
        &w,
        Function::CloudTrailApiCall,
        &grant_denied(id, 5),
        at(T0),
    )
    .await;
    assert!(arm.join().unwrap(), "the post was made");
    assert!(
        matches!(first, Invocation::Answered(Err(HandlerError::Retryable(_)))),
        "{first:?}"
    );
    assert_eq!(w.proxy.failed().get("PutItem"), Some(&12));
    w.proxy.heal();
    // Lambda retries the event a minute later: the post is found and
    // adopted.
    let retry = invoke(
        &w,
        Function::CloudTrailApiCall,
        &grant_denied(id, 5),
        at(T0) + Duration::minutes(1),
    )
    .await;
    assert!(retry.succeeded(), "{retry:?}");
    assert_eq!(top_level(&w.slack).len(), 1, "{:?}", kinds(&w.slack));
    let group = group_record(&w).await;
    assert_eq!(group["message"]["ts"], top_level(&w.slack)[0]["ts"]);
    assert_eq!(group["members"], json!([id]));
}

/// Works off the deferral queue as the event source mapping does, until
/// it stays empty for `quiet` (delayed messages become visible later).
async fn drain(w: &World, now: DateTime<Utc>, quiet: Wait) {
    let mut idle_since = Instant::now();
    while idle_since.elapsed() < quiet {
        let (invocation, taken) = invoke_sqs(w, now).await;
        if taken > 0 {
            assert!(invocation.succeeded(), "{invocation:?}");
            idle_since = Instant::now();
        } else {
            tokio::time::sleep(Wait::from_millis(250)).await;
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_webhook_storm_of_40_names_every_instance_in_at_most_5_posts() {
    let mut w = world_with(Transport::Webhook).await;
    // Short windows so the test runs in seconds: the first post gathers
    // for 2 s, follow-ups come at most every 2 s.
    w.pipeline.settings.engine.gather = Duration::seconds(2);
    w.pipeline.settings.engine.follow_up_interval = Duration::seconds(2);
    let ids: Vec<String> = (0..40)
        .map(|n| format!("i-0fb000000000000{n:02}"))
        .collect();
    // 25 fail within the gather window, 15 more trickle in afterwards.
    for (n, id) in ids.iter().take(25).enumerate() {
        let event = grant_denied(id, n as i64);
        assert!(invoke(&w, Function::CloudTrailApiCall, &event, at(T0))
            .await
            .succeeded());
    }
    assert!(
        top_level(&w.slack).is_empty(),
        "the first post waits for its window"
    );
    drain(&w, at(T0) + Duration::seconds(3), Wait::from_secs(4)).await;
    assert_eq!(top_level(&w.slack).len(), 1, "one gathered post");
    for (n, id) in ids.iter().enumerate().skip(25) {
        let event = grant_denied(id, n as i64);
        let now = at(T0) + Duration::seconds(3 + n as i64);
        assert!(invoke(&w, Function::CloudTrailApiCall, &event, now)
            .await
            .succeeded());
    }
    drain(&w, at(T0) + Duration::minutes(2), Wait::from_secs(5)).await;
    let posts = top_level(&w.slack);
    assert!(posts.len() <= 5, "{} posts", posts.len());
    let all: String = posts.iter().map(|p| p["payload"].to_string()).collect();
    let missing: Vec<&String> = ids.iter().filter(|id| !all.contains(id.as_str())).collect();
    assert!(missing.is_empty(), "never named in Slack: {missing:?}");
    assert!(
        w.slack.rejections().is_empty(),
        "{:?}",
        w.slack.rejections()
    );
}
