//! The preflight function end to end: instances on moto with encrypted
//! volumes on a key whose policy leaves the scheduler's role out, the
//! role's authorization details and its `StartInstances` calls mocked, and
//! the Slack receiver. A scheduled run posts one message per failing group,
//! a second posts nothing new, and a `PutKeyPolicy` change event after the
//! fix updates the message and says in its thread that the instances pass.

use std::sync::atomic::{AtomicUsize, Ordering};

use aws_sdk_cloudtrail::operation::lookup_events::LookupEventsOutput;
use aws_sdk_cloudtrail::types::Event;
use aws_sdk_ec2::types::{InstanceType, Placement};
use aws_sdk_iam::operation::get_account_authorization_details::GetAccountAuthorizationDetailsOutput;
use aws_sdk_iam::types::RoleDetail;
use aws_smithy_mocks::{mock, mock_client, RuleMode};
use chrono::{DateTime, Utc};
use serde_json::{json, Value};
use start_doctor_aws::dynamodb::{create_table, DynamoStore};
use start_doctor_aws::lambda::Invocation;
use start_doctor_aws::live::{AwsLiveChecks, Clients};
use start_doctor_aws::preflight::{preflight_engine, Accounts, PreflightOutcome, PreflightRun};
use start_doctor_engine::ports::{InlineDeferrer, Io, NoAnnotator};
use start_doctor_start::preflight::notice::RunOutcome;

/// The time of the preflight runs.
fn now_of_run() -> DateTime<Utc> {
    "2026-12-03T06:00:00Z".parse().unwrap()
}

/// The outcome of the one account a run checked.
fn run_of(outcome: PreflightOutcome) -> RunOutcome {
    assert!(outcome.failed.is_empty(), "{outcome:?}");
    assert_eq!(outcome.accounts.len(), 1, "{outcome:?}");
    outcome.accounts[0].1.clone()
}
use start_doctor_aws::slack::SlackApi;

const ACCOUNT: &str = "123456789012";
const ROLE: &str = "arn:aws:iam::123456789012:role/ops/instance-scheduler";
const TOKEN: &str = "xoxb-preflight-test";

fn key_policy(statements: Value) -> String {
    json!({ "Version": "2012-10-17", "Statement": statements }).to_string()
}

/// A key policy that lets only the account's admin role use the key.
fn admins_only() -> String {
    key_policy(json!([{
        "Sid": "Admins", "Effect": "Allow",
        "Principal": { "AWS": format!("arn:aws:iam::{ACCOUNT}:role/admin") },
        "Action": "kms:*", "Resource": "*"
    }]))
}

/// The fix: the scheduler's role may create grants for AWS resources.
fn scheduler_allowed() -> String {
    key_policy(json!([
        { "Sid": "Admins", "Effect": "Allow",
          "Principal": { "AWS": format!("arn:aws:iam::{ACCOUNT}:role/admin") },
          "Action": "kms:*", "Resource": "*" },
        { "Sid": "SchedulerGrants", "Effect": "Allow",
          "Principal": { "AWS": ROLE },
          "Action": ["kms:CreateGrant", "kms:ListGrants", "kms:RevokeGrant"], "Resource": "*",
          "Condition": { "Bool": { "kms:GrantIsForAWSResource": "true" } } }
    ]))
}

fn start_call(instances: &[String]) -> String {
    json!({
        "eventVersion": "1.11",
        "userIdentity": {
            "type": "AssumedRole",
            "arn": format!("arn:aws:sts::{ACCOUNT}:assumed-role/instance-scheduler/run"),
            "accountId": ACCOUNT,
            "sessionContext": { "sessionIssuer": { "type": "Role", "arn": ROLE, "accountId": ACCOUNT, "userName": "instance-scheduler" } }
        },
        "eventTime": "2026-12-02T07:00:02Z", "eventSource": "ec2.amazonaws.com", "eventName": "StartInstances",
        "awsRegion": "eu-west-1", "sourceIPAddress": "203.0.113.24", "userAgent": "Boto3/1.35.36",
        "requestParameters": { "instancesSet": { "items": instances.iter().map(|i| json!({ "instanceId": i })).collect::<Vec<_>>() } },
        "requestID": "req-pf-1", "eventID": format!("ev-pf-{}", instances.join("-")),
        "readOnly": false, "eventType": "AwsApiCall", "managementEvent": true, "recipientAccountId": ACCOUNT
    })
    .to_string()
}

fn unique(name: &str) -> String {
    static N: AtomicUsize = AtomicUsize::new(0);
    format!(
        "{name}-{}-{}",
        std::process::id(),
        N.fetch_add(1, Ordering::SeqCst)
    )
}

fn kinds(messages: &[Value]) -> Vec<&str> {
    messages
        .iter()
        .map(|m| m["kind"].as_str().unwrap_or_default())
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn scheduled_then_fixed_by_a_key_policy_change() {
    let sdk = crate::support::sdk_config().await;
    let ec2 = aws_sdk_ec2::Client::new(&sdk);
    let kms = aws_sdk_kms::Client::new(&sdk);
    let dynamo = aws_sdk_dynamodb::Client::new(&sdk);
    let table = unique("preflight");
    create_table(&dynamo, &table).await.unwrap();

    let key = kms.create_key().policy(admins_only()).send().await.unwrap();
    let key_arn = key.key_metadata().unwrap().arn().unwrap().to_owned();
    let images = ec2.describe_images().send().await.unwrap();
    let ami = images.images()[0].image_id().unwrap().to_owned();
    let run = ec2
        .run_instances()
        .image_id(ami)
        .instance_type(InstanceType::T3Micro)
        .min_count(2)
        .max_count(2)
        .placement(Placement::builder().availability_zone("eu-west-1a").build())
        .send()
        .await
        .unwrap();
    let mut instances: Vec<String> = run
        .instances()
        .iter()
        .map(|i| i.instance_id().unwrap().to_owned())
        .collect();
    instances.sort();
    for instance in &instances {
        let volume = ec2
            .create_volume()
            .availability_zone("eu-west-1a")
            .size(8)
            .encrypted(true)
            .kms_key_id(&key_arn)
            .send()
            .await
            .unwrap();
        ec2.attach_volume()
            .volume_id(volume.volume_id().unwrap())
            .instance_id(instance)
            .device("/dev/sdf")
            .send()
            .await
            .unwrap();
    }

    let details = mock!(aws_sdk_iam::Client::get_account_authorization_details).then_output(|| {
        GetAccountAuthorizationDetailsOutput::builder()
            .role_detail_list(
                RoleDetail::builder()
                    .arn(ROLE)
                    .path("/ops/")
                    .role_name("instance-scheduler")
                    .build(),
            )
            .is_truncated(false)
            .build()
    });
    let record = start_call(&instances);
    let lookup = mock!(aws_sdk_cloudtrail::Client::lookup_events)
        .match_requests(|r| {
            r.lookup_attributes()
                .first()
                .is_some_and(|a| a.attribute_value() == "StartInstances")
        })
        .then_output(move || {
            LookupEventsOutput::builder()
                .events(Event::builder().cloud_trail_event(record.clone()).build())
                .build()
        });
    let iam = mock_client!(aws_sdk_iam, RuleMode::MatchAny, &[&details]);
    let cloudtrail = mock_client!(aws_sdk_cloudtrail, RuleMode::MatchAny, &[&lookup]);
    let slack = start_doctor_testkit::slack::SlackReceiver::start(TOKEN);
    let preflight = PreflightRun {
        live: AwsLiveChecks::from_clients(Clients::from_parts(ec2, kms.clone(), iam, cloudtrail)),
        ports: Io {
            store: DynamoStore::new(dynamo, table),
            notifier: SlackApi::new(TOKEN, "C0STARTDOC", reqwest::Client::new())
                .with_base_url(slack.api_base()),
            deferrer: InlineDeferrer::default(),
            annotator: NoAnnotator,
        },
        engine: preflight_engine(&start_doctor_engine::Settings::default()),
        lookback_days: 30,
        accounts: Accounts::Own,
        organizations: None,
    };
    let invocation = Invocation::with_time_left(now_of_run(), std::time::Duration::from_secs(120));
    let schedule = json!({
        "version": "0", "id": "sched-1", "detail-type": "Scheduled Event", "source": "aws.events",
        "account": ACCOUNT, "time": "2026-12-03T06:00:00Z", "region": "eu-west-1",
        "resources": ["arn:aws:events:eu-west-1:123456789012:rule/preflight"], "detail": {}
    });

    let first = run_of(preflight.handle(&schedule, &invocation).await.unwrap());
    assert_eq!((first.joined, first.fixed), (2, 0), "{first:?}");
    let messages = slack.messages();
    assert_eq!(kinds(&messages), ["post"], "one message for the group");
    let post = &messages[0];
    let text = post["payload"].to_string();
    assert!(
        text.contains("Preflight: 2 EC2 instances will fail to start"),
        "{text}"
    );
    for instance in &instances {
        assert!(
            text.contains(instance.as_str()),
            "{instance} listed: {text}"
        );
    }
    assert!(text.contains(ROLE) && text.contains(&key_arn), "{text}");
    assert!(text.contains("kms_key_policy_missing"), "{text}");
    assert!(slack.rejections().is_empty(), "{:?}", slack.rejections());

    let again = run_of(preflight.handle(&schedule, &invocation).await.unwrap());
    assert_eq!(
        again,
        RunOutcome {
            checks: again.checks,
            unchanged: 2,
            ..RunOutcome::default()
        }
    );
    assert_eq!(kinds(&slack.messages()), ["post"], "nothing new");

    kms.put_key_policy()
        .key_id(&key_arn)
        .policy_name("default")
        .policy(scheduler_allowed())
        .send()
        .await
        .unwrap();
    let change = json!({
        "version": "0", "id": "chg-1", "detail-type": "AWS API Call via CloudTrail", "source": "aws.kms",
        "account": ACCOUNT, "time": "2026-12-03T06:10:00Z", "region": "eu-west-1", "resources": [],
        "detail": {
            "eventSource": "kms.amazonaws.com", "eventName": "PutKeyPolicy",
            "requestParameters": { "keyId": key_arn, "policyName": "default" }
        }
    });
    // The change comes ten minutes after the scheduled run.
    let later = Invocation::with_time_left(
        now_of_run() + chrono::Duration::minutes(10),
        std::time::Duration::from_secs(120),
    );
    let fixed = run_of(preflight.handle(&change, &later).await.unwrap());
    assert_eq!((fixed.joined, fixed.fixed), (0, 2), "{fixed:?}");
    let messages = slack.messages();
    assert_eq!(kinds(&messages), ["post", "update", "reply"]);
    let ts = &messages[0]["ts"];
    assert_eq!(&messages[1]["ts"], ts, "the group's message is updated");
    assert_eq!(&messages[2]["thread_ts"], ts, "the reply is in its thread");
    let update = messages[1]["payload"].to_string();
    assert!(update.contains("Preflight: fixed"), "{update}");
    let reply = messages[2]["payload"].to_string();
    assert!(
        reply.contains(&format!(
            "the instances now pass preflight: {}, {}",
            instances[0], instances[1]
        )),
        "{reply}"
    );
    assert!(slack.rejections().is_empty(), "{:?}", slack.rejections());
}
