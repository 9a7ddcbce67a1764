//! The Lambda path end to end with real parts: DynamoDB, SQS, EC2 and KMS
//! on a moto server; IAM `SimulatePrincipalPolicy` and CloudTrail
//! `LookupEvents` (which moto does not implement) through `aws-smithy-mocks`;
//! Slack as a local receiver that rejects what Slack would. The handler is
//! driven with EventBridge events and SQS batches exactly as Lambda passes
//! them, and the test asserts which Slack messages were posted and updated
//! and how many AWS calls the live checks made.

use std::sync::atomic::{AtomicUsize, Ordering};

use crate::support::handle;
use aws_sdk_cloudtrail::operation::lookup_events::LookupEventsOutput;
use aws_sdk_ec2::types::{InstanceType, Placement};
use aws_sdk_iam::operation::simulate_principal_policy::SimulatePrincipalPolicyOutput;
use aws_sdk_iam::types::{EvaluationResult, PolicyEvaluationDecisionType};
use aws_smithy_mocks::{mock, mock_client, Rule, RuleMode};
use chrono::{DateTime, Duration, Utc};
use serde_json::{json, Value};
use start_doctor_aws::defer::SqsDeferrer;
use start_doctor_aws::dynamodb::{create_table, DynamoStore};
use start_doctor_aws::live::{AwsLiveChecks, Clients};
use start_doctor_aws::slack::SlackApi;
use start_doctor_engine::ports::{Io, NoAnnotator};
use start_doctor_start::pipeline::{Pipeline, Settings};

const TOKEN: &str = "xoxb-test-token";
const ROLE: &str = "arn:aws:iam::111122223333:role/instance-scheduler-job";
const SESSION: &str = "arn:aws:sts::111122223333:assumed-role/instance-scheduler-job/run-1";

type AwsPipeline = Pipeline<Io<DynamoStore, SlackApi, SqsDeferrer, NoAnnotator>, AwsLiveChecks>;

struct World {
    pipeline: AwsPipeline,
    slack: start_doctor_testkit::slack::SlackReceiver,
    sqs: aws_sdk_sqs::Client,
    queue_url: String,
    ec2: aws_sdk_ec2::Client,
    kms: aws_sdk_kms::Client,
    simulate: Rule,
    lookup: Rule,
}

fn unique(name: &str) -> String {
    static N: AtomicUsize = AtomicUsize::new(0);
    format!(
        "{name}-{}-{}",
        std::process::id(),
        N.fetch_add(1, Ordering::SeqCst)
    )
}

/// A pipeline on moto, mocks and the Slack receiver. CloudTrail is never
/// deferred for long here: the wait is 0 s so the SQS message is visible at
/// once.
async fn world(decision: PolicyEvaluationDecisionType) -> World {
    let sdk = crate::support::sdk_config().await;
    let dynamo = aws_sdk_dynamodb::Client::new(&sdk);
    let table = unique("e2e");
    create_table(&dynamo, &table).await.unwrap();
    let sqs = aws_sdk_sqs::Client::new(&sdk);
    let queue_url = sqs
        .create_queue()
        .queue_name(unique("deferred"))
        .send()
        .await
        .unwrap()
        .queue_url()
        .unwrap()
        .to_owned();
    let simulate = mock!(aws_sdk_iam::Client::simulate_principal_policy).then_output(move || {
        SimulatePrincipalPolicyOutput::builder()
            .evaluation_results(
                EvaluationResult::builder()
                    .eval_action_name("kms:CreateGrant")
                    .eval_decision(decision.clone())
                    .build()
                    .unwrap(),
            )
            .build()
    });
    let lookup = mock!(aws_sdk_cloudtrail::Client::lookup_events)
        .then_output(|| LookupEventsOutput::builder().build());
    let iam = mock_client!(aws_sdk_iam, RuleMode::MatchAny, &[&simulate]);
    let cloudtrail = mock_client!(aws_sdk_cloudtrail, RuleMode::MatchAny, &[&lookup]);
    let ec2 = aws_sdk_ec2::Client::new(&sdk);
    let kms = aws_sdk_kms::Client::new(&sdk);
    let slack = start_doctor_testkit::slack::SlackReceiver::start(TOKEN);
    let http = reqwest::Client::new();
    let pipeline = Pipeline {
        ports: Io {
            store: DynamoStore::new(dynamo, table),
            notifier: SlackApi::new(TOKEN, "C0STARTDOC", http).with_base_url(slack.api_base()),
            deferrer: SqsDeferrer::new(sqs.clone(), queue_url.clone()),
            annotator: NoAnnotator,
        },
        live: AwsLiveChecks::from_clients(Clients::from_parts(
            ec2.clone(),
            kms.clone(),
            iam,
            cloudtrail,
        )),
        settings: Settings {
            cloudtrail_wait_secs: 0,
            ..Settings::default()
        },
    };
    World {
        pipeline,
        slack,
        sqs,
        queue_url,
        ec2,
        kms,
        simulate,
        lookup,
    }
}

/// Instances in moto, each with a data volume encrypted by one new customer
/// managed key. Returns the instance ids and the key ARN.
async fn encrypted_instances(w: &World, count: i32) -> (Vec<String>, String) {
    let key = w
        .kms
        .create_key()
        .description("start-doctor e2e")
        .send()
        .await
        .unwrap();
    let key_arn = key.key_metadata().unwrap().arn().unwrap().to_owned();
    let images = w.ec2.describe_images().send().await.unwrap();
    let ami = images.images()[0].image_id().unwrap().to_owned();
    let run = w
        .ec2
        .run_instances()
        .image_id(ami)
        .instance_type(InstanceType::T3Micro)
        .min_count(count)
        .max_count(count)
        .placement(Placement::builder().availability_zone("eu-west-1a").build())
        .send()
        .await
        .unwrap();
    let ids: Vec<String> = run
        .instances()
        .iter()
        .map(|i| i.instance_id().unwrap().to_owned())
        .collect();
    for id in &ids {
        let volume = w
            .ec2
            .create_volume()
            .availability_zone("eu-west-1a")
            .size(8)
            .encrypted(true)
            .kms_key_id(&key_arn)
            .send()
            .await
            .unwrap();
        w.ec2
            .attach_volume()
            .volume_id(volume.volume_id().unwrap())
            .instance_id(id)
            .device("/dev/sdf")
            .send()
            .await
            .unwrap();
    }
    (ids, key_arn)
}

fn at(s: &str) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc)
}

const T0: &str = "2026-11-20T07:00:00Z";

fn state_change(id: &str, state: &str, secs: i64) -> Value {
    json!({
        "version": "0", "id": format!("sc-{id}-{state}"), "detail-type": "EC2 Instance State-change Notification",
        "source": "aws.ec2", "account": "111122223333", "time": (at(T0) + Duration::seconds(secs)).to_rfc3339(),
        "region": "eu-west-1", "resources": [format!("arn:aws:ec2:eu-west-1:111122223333:instance/{id}")],
        "detail": {"instance-id": id, "state": state}
    })
}

fn start_call(ids: &[String], request: &str) -> Value {
    let items: Vec<Value> = ids.iter().map(|i| json!({"instanceId": i})).collect();
    json!({
        "version": "0", "id": format!("eb-{request}"), "detail-type": "AWS API Call via CloudTrail",
        "source": "aws.ec2", "account": "111122223333", "time": T0, "region": "eu-west-1", "resources": [],
        "detail": {
            "eventVersion": "1.09", "eventID": format!("ct-{request}"), "eventTime": T0,
            "eventSource": "ec2.amazonaws.com", "eventName": "StartInstances", "awsRegion": "eu-west-1",
            "recipientAccountId": "111122223333", "requestID": request, "readOnly": false,
            "userIdentity": {"type": "AssumedRole", "arn": SESSION,
                "sessionContext": {"sessionIssuer": {"type": "Role", "arn": ROLE}}},
            "requestParameters": {"instancesSet": {"items": items}},
            "responseElements": {"instancesSet": {"items": []}}
        }
    })
}

fn create_grant_denied(id: &str, key_arn: &str, request: &str) -> Value {
    json!({
        "version": "0", "id": format!("eb-grant-{id}"), "detail-type": "AWS API Call via CloudTrail",
        "source": "aws.kms", "account": "111122223333", "time": T0, "region": "eu-west-1", "resources": [],
        "detail": {
            "eventVersion": "1.09", "eventID": format!("ct-grant-{id}"), "eventTime": "2026-11-20T07:00:03Z",
            "eventSource": "kms.amazonaws.com", "eventName": "CreateGrant", "awsRegion": "eu-west-1",
            "recipientAccountId": "111122223333", "requestID": request, "sourceIPAddress": "AWS Internal",
            "userAgent": "AWS Internal", "errorCode": "AccessDenied",
            "errorMessage": format!("User: {SESSION} is not authorized to perform: kms:CreateGrant on resource: {key_arn} because no identity-based policy allows the kms:CreateGrant action"),
            "userIdentity": {"type": "AssumedRole", "arn": SESSION,
                "sessionContext": {"sessionIssuer": {"type": "Role", "arn": ROLE}}},
            "requestParameters": {"keyId": key_arn, "granteePrincipal": format!("111122223333:aws:ec2-infrastructure:{id}"),
                "retiringPrincipal": "ec2.eu-west-1.amazonaws.com", "operations": ["Decrypt"]},
            "responseElements": null
        }
    })
}

/// The deferred checks waiting in the queue, as the SQS event Lambda
/// would receive.
async fn sqs_batch(w: &World) -> Value {
    let mut records = Vec::new();
    for _ in 0..40 {
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
            records.push(json!({
                "messageId": m.message_id(), "receiptHandle": m.receipt_handle(), "body": m.body(),
                "attributes": {}, "messageAttributes": {}, "eventSource": "aws:sqs",
                "eventSourceARN": "arn:aws:sqs:eu-west-1:111122223333:deferred", "awsRegion": "eu-west-1"
            }));
        }
    }
    json!({ "Records": records })
}

fn headers(messages: &[Value]) -> Vec<String> {
    messages
        .iter()
        .map(|m| {
            m["payload"]["blocks"][0]["text"]["text"]
                .as_str()
                .unwrap_or_default()
                .to_owned()
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cloudtrail_never_comes_live_checks_diagnose_through_sqs() {
    let w = world(PolicyEvaluationDecisionType::ImplicitDeny).await;
    let (ids, key_arn) = encrypted_instances(&w, 1).await;
    let id = &ids[0];
    for event in [
        start_call(&ids, "req-1"),
        state_change(id, "pending", 0),
        state_change(id, "stopped", 9),
    ] {
        handle(&w.pipeline, &event, at(T0)).await.unwrap();
    }
    assert!(
        w.slack.messages().is_empty(),
        "nothing conclusive before the wait"
    );

    let batch = sqs_batch(&w).await;
    assert_eq!(
        batch["Records"].as_array().unwrap().len(),
        1,
        "one deferred check for the failure"
    );
    let response = handle(&w.pipeline, &batch, at(T0) + Duration::minutes(15))
        .await
        .unwrap();
    assert_eq!(response["batchItemFailures"], json!([]));

    let messages = w.slack.messages();
    assert_eq!(messages.len(), 1, "{messages:#?}");
    assert_eq!(messages[0]["kind"], "post");
    let text = messages[0]["payload"].to_string();
    assert!(
        headers(&messages)[0].contains(id.as_str())
            && headers(&messages)[0].contains("identity policy missing")
    );
    assert!(text.contains(&key_arn) && text.contains(ROLE));
    // DescribeInstances, DescribeVolumes, DescribeKey, GetKeyPolicy, SimulatePrincipalPolicy.
    assert_eq!(w.pipeline.live.calls(), 5);
    assert_eq!(w.simulate.num_calls(), 1);
    assert_eq!(
        w.lookup.num_calls(),
        0,
        "no CloudTrail lookup when live checks explain it"
    );
    assert!(w.slack.rejections().is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_storm_of_live_checks_costs_calls_per_key_not_per_instance() {
    let w = world(PolicyEvaluationDecisionType::ImplicitDeny).await;
    let (ids, _) = encrypted_instances(&w, 40).await;
    handle(&w.pipeline, &start_call(&ids, "req-storm"), at(T0))
        .await
        .unwrap();
    for id in &ids {
        handle(&w.pipeline, &state_change(id, "pending", 0), at(T0))
            .await
            .unwrap();
        handle(&w.pipeline, &state_change(id, "stopped", 8), at(T0))
            .await
            .unwrap();
    }
    let batch = sqs_batch(&w).await;
    assert_eq!(batch["Records"].as_array().unwrap().len(), 40);
    let response = handle(&w.pipeline, &batch, at(T0) + Duration::minutes(15))
        .await
        .unwrap();
    assert_eq!(response["batchItemFailures"], json!([]));
    // The members that joined after the post are rendered by one flush,
    // queued with an SQS delay of at most the update interval.
    tokio::time::sleep(std::time::Duration::from_secs(6)).await;
    let flush = sqs_batch(&w).await;
    assert_eq!(flush["Records"].as_array().unwrap().len(), 1, "{flush}");
    let response = handle(&w.pipeline, &flush, at(T0) + Duration::minutes(16))
        .await
        .unwrap();
    assert_eq!(response["batchItemFailures"], json!([]));

    let messages = w.slack.messages();
    let posts = messages.iter().filter(|m| m["kind"] == "post").count();
    assert_eq!(
        posts,
        1,
        "one message for the storm: {:?}",
        headers(&messages)
    );
    let updates = messages.iter().filter(|m| m["kind"] == "update").count();
    assert_eq!(updates, 1, "one coalesced update");
    let last = headers(&messages).pop().unwrap();
    assert!(
        last.starts_with("40 EC2 instances failed to start"),
        "{last}"
    );
    // 40 instances, one key, one principal: the same 5 calls as for one.
    assert_eq!(w.pipeline.live.calls(), 5);
    assert_eq!(w.simulate.num_calls(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kms_evidence_first_is_posted_at_once_and_redeliveries_change_nothing() {
    let w = world(PolicyEvaluationDecisionType::Allowed).await;
    let (ids, key_arn) = encrypted_instances(&w, 1).await;
    let id = &ids[0];
    let events = [
        create_grant_denied(id, &key_arn, "req-2"),
        start_call(&ids, "req-2"),
        state_change(id, "stopped", 9),
        state_change(id, "pending", 0),
    ];
    for event in events.iter().chain(events.iter()) {
        handle(&w.pipeline, event, at(T0)).await.unwrap();
    }
    let messages = w.slack.messages();
    assert_eq!(messages.len(), 1, "{:?}", headers(&messages));
    assert!(headers(&messages)[0].contains("identity policy missing"));
    assert!(
        sqs_batch(&w).await["Records"]
            .as_array()
            .unwrap()
            .is_empty(),
        "nothing deferred"
    );
    assert_eq!(w.pipeline.live.calls(), 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_malformed_message_is_one_batch_failure_and_the_rest_is_kept() {
    let w = world(PolicyEvaluationDecisionType::ImplicitDeny).await;
    let (ids, _) = encrypted_instances(&w, 1).await;
    for event in [
        start_call(&ids, "req-3"),
        state_change(&ids[0], "pending", 0),
        state_change(&ids[0], "stopped", 9),
    ] {
        handle(&w.pipeline, &event, at(T0)).await.unwrap();
    }
    let mut batch = sqs_batch(&w).await;
    batch["Records"].as_array_mut().unwrap().push(json!({
        "messageId": "bad-message-1", "body": "{not json", "eventSource": "aws:sqs", "attributes": {}, "messageAttributes": {}
    }));
    let response = handle(&w.pipeline, &batch, at(T0) + Duration::minutes(15))
        .await
        .unwrap();
    assert_eq!(
        response["batchItemFailures"],
        json!([{"itemIdentifier": "bad-message-1"}])
    );
    assert_eq!(w.slack.messages().len(), 1, "the good check still posted");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_malformed_event_fails_its_invocation_naming_its_id() {
    let w = world(PolicyEvaluationDecisionType::ImplicitDeny).await;
    let mut bad = state_change("i-0123456789abcdef0", "pending", 0);
    bad["detail"]["state"] = json!("exploded");
    let err = handle(&w.pipeline, &bad, at(T0))
        .await
        .unwrap_err()
        .to_string();
    assert!(err.contains("sc-i-0123456789abcdef0-pending"), "{err}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn slack_rate_limits_are_waited_out_and_the_message_posted_once() {
    let w = world(PolicyEvaluationDecisionType::Allowed).await;
    let (ids, key_arn) = encrypted_instances(&w, 1).await;
    w.slack.rate_limit_next(1, 1);
    handle(
        &w.pipeline,
        &create_grant_denied(&ids[0], &key_arn, "req-4"),
        at(T0),
    )
    .await
    .unwrap();
    assert_eq!(w.slack.messages().len(), 1);
    assert_eq!(
        w.slack.control()["rate_limited"],
        1,
        "{}",
        w.slack.control()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn instances_of_other_accounts_are_checked_through_their_read_only_role() {
    use start_doctor_aws::live::CrossAccount;
    use start_doctor_core::ids::InstanceId;
    use start_doctor_start::evidence::Evidence;
    use start_doctor_start::ports::{LiveChecks, LiveRequest};

    let w = world(PolicyEvaluationDecisionType::ImplicitDeny).await;
    let (ids, _) = encrypted_instances(&w, 1).await;
    let sdk = crate::support::sdk_config().await;
    // moto's own account is 123456789012; it gives assumed-role sessions the
    // role's account, whose (empty) resources are then what they see.
    let live = AwsLiveChecks::new(&sdk).with_cross_account(CrossAccount {
        base: sdk.clone(),
        home_account: "123456789012".into(),
        role_name: "start-doctor-read-only".into(),
    });
    let request = |account: &str| LiveRequest {
        instance_id: InstanceId::parse(&ids[0]).unwrap(),
        principal: None,
        account: start_doctor_core::ids::Account::parse(account),
        region: start_doctor_core::ids::Region::parse("eu-west-1"),
        failed_at: None,
        keys: Vec::new(),
    };
    let found = |evidence: &[Evidence]| evidence.iter().any(|e| matches!(e, Evidence::Instance(_)));
    let home = live.describe(&[request("123456789012")]).await.unwrap();
    assert!(
        found(&home),
        "the central account's instance is described with the function's own role"
    );
    let member = live.describe(&[request("222233334444")]).await.unwrap();
    assert!(
        !found(&member),
        "another account is described through its role, which cannot see this instance"
    );

    // An instance that lives in the member account is found through the role.
    let provider = aws_config::sts::AssumeRoleProvider::builder(
        "arn:aws:iam::222233334444:role/start-doctor-read-only",
    )
    .session_name("test")
    .configure(&sdk)
    .build()
    .await;
    let member_sdk = sdk
        .to_builder()
        .credentials_provider(
            aws_credential_types::provider::SharedCredentialsProvider::new(provider),
        )
        .build();
    let member_ec2 = aws_sdk_ec2::Client::new(&member_sdk);
    let ami = member_ec2.describe_images().send().await.unwrap().images()[0]
        .image_id()
        .unwrap()
        .to_owned();
    let run = member_ec2
        .run_instances()
        .image_id(ami)
        .min_count(1)
        .max_count(1)
        .send()
        .await
        .unwrap();
    let member_instance = run.instances()[0].instance_id().unwrap().to_owned();
    let mut in_member = request("222233334444");
    in_member.instance_id = InstanceId::parse(&member_instance).unwrap();
    let evidence = live.describe(&[in_member]).await.unwrap();
    assert!(
        found(&evidence),
        "the member account's instance is described through its role"
    );
}

/// Every JSON value in a sample file under `events/`.
fn sample(path: &str) -> Vec<Value> {
    let root = start_doctor_testkit::fixtures::repo().join("events");
    let text = std::fs::read_to_string(root.join(path)).unwrap();
    serde_json::Deserializer::from_str(&text)
        .into_iter::<Value>()
        .flat_map(|v| match v.unwrap() {
            Value::Array(items) => items,
            one => vec![one],
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_200_instance_storm_sample_is_one_slack_message_updated_in_place() {
    use std::io::Read;
    let w = world(PolicyEvaluationDecisionType::ImplicitDeny).await;
    let mut events = sample("storm/state-changes.jsonl");
    let dir = start_doctor_testkit::fixtures::repo().join("events/storm/cloudtrail");
    for entry in std::fs::read_dir(dir).unwrap() {
        let mut text = String::new();
        flate2::read::GzDecoder::new(std::fs::File::open(entry.unwrap().path()).unwrap())
            .read_to_string(&mut text)
            .unwrap();
        let log: Value = serde_json::from_str(&text).unwrap();
        for record in log["Records"].as_array().unwrap() {
            events.push(json!({
                "version": "0", "id": format!("eb-{}", record["eventID"].as_str().unwrap()),
                "detail-type": "AWS API Call via CloudTrail", "source": "aws.kms",
                "account": "111122223333", "time": record["eventTime"], "region": "eu-west-1",
                "resources": [], "detail": record
            }));
        }
    }
    for event in &events {
        handle(&w.pipeline, event, at("2026-11-20T07:20:00Z"))
            .await
            .unwrap();
    }
    // The queued checks and the one flush of the coalesced updates.
    let batch = sqs_batch(&w).await;
    let response = handle(&w.pipeline, &batch, at("2026-11-20T07:20:10Z"))
        .await
        .unwrap();
    assert_eq!(response["batchItemFailures"], json!([]), "{response}");
    let messages = w.slack.messages();
    let updates = messages.iter().filter(|m| m["kind"] == "update").count();
    assert_eq!(
        updates, 1,
        "chat.update coalesced into one flush: {updates}"
    );
    let posts: Vec<&Value> = messages.iter().filter(|m| m["kind"] == "post").collect();
    assert_eq!(
        posts.len(),
        1,
        "one message for the storm: {:?}",
        headers(&messages)
    );
    let ts = posts[0]["ts"].clone();
    assert!(
        messages.iter().all(|m| m["ts"] == ts),
        "every update targets the storm message"
    );
    let last = headers(&messages).pop().unwrap();
    assert_eq!(
        last,
        "200 EC2 instances failed to start (KMS grant denied: identity policy missing)"
    );
    assert!(
        w.slack.rejections().is_empty(),
        "Slack would accept every payload"
    );
    assert_eq!(
        w.pipeline.live.calls(),
        0,
        "CloudTrail explained it: no live checks"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_slack_token_comes_from_secrets_manager() {
    use start_doctor_aws::config::{slack_notifier, Common, Env};
    use start_doctor_engine::ports::{MessageTag, Notifier};

    let sdk = crate::support::sdk_config().await;
    let slack = start_doctor_testkit::slack::SlackReceiver::start(TOKEN);
    let secrets = aws_sdk_secretsmanager::Client::new(&sdk);
    let arn = secrets
        .create_secret()
        .name(unique("slack"))
        .secret_string(format!(r#"{{"token": "{TOKEN}"}}"#))
        .send()
        .await
        .unwrap()
        .arn()
        .unwrap()
        .to_owned();
    let api_base = slack.api_base();
    let config = Common::read(&Env::from_lookup(|name: &str| match name {
        "STORE_TABLE" => Some("t".to_owned()),
        "SLACK_TOKEN_SECRET_ARN" => Some(arn.clone()),
        "SLACK_CHANNEL" => Some("C0STARTDOC".to_owned()),
        "SLACK_API_URL" => Some(api_base.clone()),
        _ => None,
    }))
    .unwrap();
    let notifier = slack_notifier(&config, &sdk).await.unwrap();
    assert!(
        !format!("{notifier:?}").contains(TOKEN),
        "the token never shows in logs"
    );
    let tag = MessageTag {
        doctor: "start".into(),
        group: "g".into(),
    };
    let posted = notifier
        .post(&json!({"text": "hello"}), &tag)
        .await
        .unwrap();
    assert!(
        posted.is_some(),
        "a bot token posts through the Web API and can update later"
    );
    assert_eq!(slack.messages().len(), 1);
}
