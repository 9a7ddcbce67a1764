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
use start_doctor_aws::config::SlackNotifier;
use start_doctor_aws::dynamodb::{create_table, DynamoStore};
use start_doctor_aws::lambda::Invocation;
use start_doctor_aws::live::{AwsLiveChecks, Clients};
use start_doctor_aws::preflight::{
    preflight_engine, Accounts, PreflightOutcome, PreflightPorts, PreflightRun,
};
use start_doctor_aws::slack::{SlackApi, SlackWebhook};
use start_doctor_engine::ports::{InlineDeferrer, Io};
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

/// moto's own account: the function's.
const ACCOUNT: &str = "123456789012";
/// A member account, read through its read-only role.
const MEMBER: &str = "222233334444";
const TOKEN: &str = "xoxb-preflight-test";

/// The scheduler's role in `account`.
fn role(account: &str) -> String {
    format!("arn:aws:iam::{account}:role/ops/instance-scheduler")
}

fn key_policy(statements: Value) -> String {
    json!({ "Version": "2012-10-17", "Statement": statements }).to_string()
}

/// A key policy that lets only the account's admin role use the key.
fn admins_only(account: &str) -> String {
    key_policy(json!([{
        "Sid": "Admins", "Effect": "Allow",
        "Principal": { "AWS": format!("arn:aws:iam::{account}:role/admin") },
        "Action": "kms:*", "Resource": "*"
    }]))
}

/// The fix: the scheduler's role may create grants for AWS resources.
fn scheduler_allowed(account: &str) -> String {
    key_policy(json!([
        { "Sid": "Admins", "Effect": "Allow",
          "Principal": { "AWS": format!("arn:aws:iam::{account}:role/admin") },
          "Action": "kms:*", "Resource": "*" },
        { "Sid": "SchedulerGrants", "Effect": "Allow",
          "Principal": { "AWS": role(account) },
          "Action": ["kms:CreateGrant", "kms:ListGrants", "kms:RevokeGrant"], "Resource": "*",
          "Condition": { "Bool": { "kms:GrantIsForAWSResource": "true" } } }
    ]))
}

fn start_call(account: &str, instances: &[String]) -> String {
    json!({
        "eventVersion": "1.11",
        "userIdentity": {
            "type": "AssumedRole",
            "arn": format!("arn:aws:sts::{account}:assumed-role/instance-scheduler/run"),
            "accountId": account,
            "sessionContext": { "sessionIssuer": { "type": "Role", "arn": role(account), "accountId": account, "userName": "instance-scheduler" } }
        },
        "eventTime": "2026-12-02T07:00:02Z", "eventSource": "ec2.amazonaws.com", "eventName": "StartInstances",
        "awsRegion": "eu-west-1", "sourceIPAddress": "203.0.113.24", "userAgent": "Boto3/1.35.36",
        "requestParameters": { "instancesSet": { "items": instances.iter().map(|i| json!({ "instanceId": i })).collect::<Vec<_>>() } },
        "requestID": "req-pf-1", "eventID": format!("ev-pf-{}", instances.join("-")),
        "readOnly": false, "eventType": "AwsApiCall", "managementEvent": true, "recipientAccountId": account
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

/// One account's start window on moto: two instances with encrypted
/// volumes on a key only the admins may use, the scheduler's authorization
/// details and `StartInstances` calls mocked (moto has neither).
struct Account {
    instances: Vec<String>,
    key_arn: String,
    kms: aws_sdk_kms::Client,
    clients: Clients,
}

/// The SDK configuration of `account`: moto's own, or the member's through
/// its read-only role (moto gives an assumed role's session its account).
async fn sdk_of(account: &str) -> aws_config::SdkConfig {
    let sdk = crate::support::sdk_config().await;
    if account == ACCOUNT {
        return sdk;
    }
    let provider = aws_config::sts::AssumeRoleProvider::builder(format!(
        "arn:aws:iam::{account}:role/start-doctor-read-only"
    ))
    .session_name("preflight-test")
    .configure(&sdk)
    .build()
    .await;
    sdk.to_builder()
        .credentials_provider(
            aws_credential_types::provider::SharedCredentialsProvider::new(provider),
        )
        .build()
}

async fn account(account: &str) -> Account {
    let sdk = sdk_of(account).await;
    let ec2 = aws_sdk_ec2::Client::new(&sdk);
    let kms = aws_sdk_kms::Client::new(&sdk);
    let key = kms
        .create_key()
        .policy(admins_only(account))
        .send()
        .await
        .unwrap();
    let key_arn = key.key_metadata().unwrap().arn().unwrap().to_owned();
    assert!(key_arn.contains(account), "{key_arn} is in {account}");
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
    let scheduler = role(account);
    let details =
        mock!(aws_sdk_iam::Client::get_account_authorization_details).then_output(move || {
            GetAccountAuthorizationDetailsOutput::builder()
                .role_detail_list(
                    RoleDetail::builder()
                        .arn(scheduler.clone())
                        .path("/ops/")
                        .role_name("instance-scheduler")
                        .build(),
                )
                .is_truncated(false)
                .build()
        });
    let record = start_call(account, &instances);
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
    Account {
        instances,
        key_arn,
        clients: Clients::from_parts(ec2, kms.clone(), iam, cloudtrail),
        kms,
    }
}

/// How the run talks to Slack.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Transport {
    Api,
    Webhook,
}

/// A preflight run over `home`'s clients (and `members`' through their
/// role), storing on moto and posting to `slack`.
async fn run_over(
    home: &Account,
    members: &[(&str, &Account)],
    slack: &start_doctor_testkit::slack::SlackReceiver,
    transport: Transport,
) -> PreflightRun<PreflightPorts> {
    let sdk = crate::support::sdk_config().await;
    let dynamo = aws_sdk_dynamodb::Client::new(&sdk);
    let table = unique("preflight");
    create_table(&dynamo, &table).await.unwrap();
    let mut live = AwsLiveChecks::from_clients(home.clients.clone());
    for (id, member) in members {
        live = live.with_clients_for(id, member.clients.clone());
    }
    let notifier = match transport {
        Transport::Api => SlackNotifier::Api(
            SlackApi::new(TOKEN, "C0STARTDOC", reqwest::Client::new())
                .with_base_url(slack.api_base()),
        ),
        Transport::Webhook => SlackNotifier::Webhook(SlackWebhook::new(
            slack.webhook_url(),
            reqwest::Client::new(),
        )),
    };
    PreflightRun {
        live,
        ports: Io {
            store: DynamoStore::new(dynamo, table),
            notifier,
            deferrer: InlineDeferrer::default(),
            annotator: start_doctor_aws::annotate::AwsAnnotator {
                ssm: None,
                incidents: None,
                events: None,
                ec2: None,
            },
        },
        engine: preflight_engine(&start_doctor_engine::Settings::default()),
        lookback_days: 30,
        accounts: if members.is_empty() {
            Accounts::Own
        } else {
            Accounts::List(
                std::iter::once(ACCOUNT)
                    .chain(members.iter().map(|(id, _)| *id))
                    .map(|a| start_doctor_core::ids::Account::parse(a).unwrap())
                    .collect(),
            )
        },
        organizations: None,
    }
}

fn schedule() -> Value {
    json!({
        "version": "0", "id": "sched-1", "detail-type": "Scheduled Event", "source": "aws.events",
        "account": ACCOUNT, "time": "2026-12-03T06:00:00Z", "region": "eu-west-1",
        "resources": ["arn:aws:events:eu-west-1:123456789012:rule/preflight"], "detail": {}
    })
}

fn invocation(minutes: i64) -> Invocation {
    Invocation::with_time_left(
        now_of_run() + chrono::Duration::minutes(minutes),
        std::time::Duration::from_secs(120),
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn scheduled_then_fixed_by_a_key_policy_change() {
    let home = account(ACCOUNT).await;
    let slack = start_doctor_testkit::slack::SlackReceiver::start(TOKEN);
    let preflight = run_over(&home, &[], &slack, Transport::Api).await;
    let (instances, key_arn, kms) = (&home.instances, &home.key_arn, &home.kms);
    let first = run_of(preflight.handle(&schedule(), &invocation(0)).await.unwrap());
    assert_eq!((first.joined, first.fixed), (2, 0), "{first:?}");
    let messages = slack.messages();
    assert_eq!(kinds(&messages), ["post"], "one message for the group");
    let post = &messages[0];
    let text = post["payload"].to_string();
    assert!(
        text.contains("Preflight: 2 EC2 instances will fail to start"),
        "{text}"
    );
    for instance in instances {
        assert!(
            text.contains(instance.as_str()),
            "{instance} listed: {text}"
        );
    }
    assert!(
        text.contains(&role(ACCOUNT)) && text.contains(key_arn.as_str()),
        "{text}"
    );
    assert!(text.contains("kms_key_policy_missing"), "{text}");
    assert!(slack.rejections().is_empty(), "{:?}", slack.rejections());

    let again = run_of(preflight.handle(&schedule(), &invocation(1)).await.unwrap());
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
        .key_id(key_arn)
        .policy_name("default")
        .policy(scheduler_allowed(ACCOUNT))
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
    let fixed = run_of(preflight.handle(&change, &invocation(10)).await.unwrap());
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

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unchanged_run_over_a_webhook_posts_nothing() {
    let home = account(ACCOUNT).await;
    let slack = start_doctor_testkit::slack::SlackReceiver::start(TOKEN);
    let preflight = run_over(&home, &[], &slack, Transport::Webhook).await;
    let first = run_of(preflight.handle(&schedule(), &invocation(0)).await.unwrap());
    assert_eq!(first.joined, 2, "{first:?}");
    let messages = slack.messages();
    assert_eq!(kinds(&messages), ["webhook"], "one post for the group");
    let text = messages[0]["payload"].to_string();
    for instance in &home.instances {
        assert!(text.contains(instance.as_str()), "{instance} named: {text}");
    }
    // The next day nothing changed: a webhook cannot update, and nothing is
    // posted again.
    let second = run_of(
        preflight
            .handle(&schedule(), &invocation(24 * 60))
            .await
            .unwrap(),
    );
    assert_eq!(second.unchanged, 2, "{second:?}");
    assert_eq!(slack.messages().len(), 1, "an unchanged run posts nothing");
    assert!(slack.rejections().is_empty(), "{:?}", slack.rejections());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_account_given_is_checked_with_its_own_group() {
    let home = account(ACCOUNT).await;
    let member = account(MEMBER).await;
    let slack = start_doctor_testkit::slack::SlackReceiver::start(TOKEN);
    let preflight = run_over(&home, &[(MEMBER, &member)], &slack, Transport::Api).await;
    let outcome = preflight.handle(&schedule(), &invocation(0)).await.unwrap();
    assert!(outcome.failed.is_empty(), "{outcome:?}");
    let checked: Vec<(&str, usize)> = outcome
        .accounts
        .iter()
        .map(|(a, run)| (a.as_str(), run.joined))
        .collect();
    assert_eq!(checked, [(ACCOUNT, 2), (MEMBER, 2)], "{outcome:?}");
    let posts: Vec<String> = slack
        .messages()
        .iter()
        .filter(|m| m["kind"] == "post")
        .map(|m| m["payload"].to_string())
        .collect();
    assert_eq!(
        posts.len(),
        2,
        "one group per (account, principal, key, cause)"
    );
    for (account, setup) in [(ACCOUNT, &home), (MEMBER, &member)] {
        let post = posts
            .iter()
            .find(|p| p.contains(&setup.key_arn))
            .unwrap_or_else(|| panic!("no message for {account}: {posts:?}"));
        assert!(post.contains(&role(account)), "{post}");
        for instance in &setup.instances {
            assert!(post.contains(instance.as_str()), "{post}");
        }
    }
}
