//! The `flows-rejects` function end to end: the seed story's network built
//! on moto (a Transit Gateway attachment in two AZs, the per-AZ network
//! ACLs, the database's security group, the flow log to CloudWatch Logs in
//! the story's custom format), its REJECT records (with moto's ids) handed
//! to the handler as CloudWatch Logs subscription payloads, the store on
//! moto's DynamoDB, the engine's notices through the function's own SQS
//! queue, and Slack's Web API (or a webhook) played by the local receiver.
//! Every AWS call goes through the testkit's fault proxy, which counts
//! them: the burst test shows what a batch costs.

use std::collections::BTreeMap;
use std::io::Write;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::OnceLock;

use base64::Engine as _;
use chrono::{DateTime, Duration, Utc};
use flate2::write::GzEncoder;
use serde_json::{json, Value};
use start_doctor_aws::config::SlackNotifier;
use start_doctor_aws::defer::SqsDeferrer;
use start_doctor_aws::dynamodb::{create_table, DynamoStore};
use start_doctor_aws::flows::{handle_input, ConfigCache, FlowsPorts, FlowsRun};
use start_doctor_aws::lambda::Invocation;
use start_doctor_aws::slack::{SlackApi, SlackWebhook};
use start_doctor_core::ids::{Account, Origin, Region};
use start_doctor_engine::ports::Io;
use start_doctor_flows::live::{noise_key, NoiseTally};
use start_doctor_flows::Options;
use start_doctor_testkit::fault_proxy::FaultProxy;
use start_doctor_testkit::slack::SlackReceiver;

const ACCOUNT: &str = "123456789012";
const TOKEN: &str = "xoxb-flows-test";

/// Builds the seed story's network on moto and prints its ids as JSON.
const SETUP: &str = r#"
import boto3, json, sys
endpoint, suffix = sys.argv[1], sys.argv[2]
kw = dict(endpoint_url=endpoint, region_name='eu-west-1',
          aws_access_key_id='testing', aws_secret_access_key='testing')
ec2, logs, sqs = (boto3.client(n, **kw) for n in ('ec2', 'logs', 'sqs'))
vpc = ec2.create_vpc(CidrBlock='10.1.0.0/16')['Vpc']['VpcId']
def subnet(cidr, zone):
    s = ec2.create_subnet(VpcId=vpc, CidrBlock=cidr, AvailabilityZone=zone)['Subnet']
    return s['SubnetId'], s['AvailabilityZoneId']
tgw_a, az_a = subnet('10.1.0.0/28', 'eu-west-1a')
tgw_c, az_c = subnet('10.1.0.32/28', 'eu-west-1c')
db, _ = subnet('10.1.1.0/24', 'eu-west-1a')
app_c, _ = subnet('10.1.3.0/24', 'eu-west-1c')
def acl(deny, subnets):
    a = ec2.create_network_acl(VpcId=vpc)['NetworkAcl']['NetworkAclId']
    for egress in (False, True):
        ec2.create_network_acl_entry(NetworkAclId=a, RuleNumber=100, Protocol='-1', RuleAction='deny', Egress=egress, CidrBlock=deny)
        ec2.create_network_acl_entry(NetworkAclId=a, RuleNumber=200, Protocol='-1', RuleAction='allow', Egress=egress, CidrBlock='0.0.0.0/0')
    for s in subnets:
        current = ec2.describe_network_acls(Filters=[{'Name': 'association.subnet-id', 'Values': [s]}])
        association = [x for x in current['NetworkAcls'][0]['Associations'] if x['SubnetId'] == s][0]
        ec2.replace_network_acl_association(AssociationId=association['NetworkAclAssociationId'], NetworkAclId=a)
    return a
acl_a = acl('10.1.3.0/24', [tgw_a, db])
acl_c = acl('10.1.1.0/24', [tgw_c, app_c])
sg = ec2.create_security_group(GroupName='reports-db-' + suffix, Description='reports-db', VpcId=vpc)['GroupId']
ec2.authorize_security_group_ingress(GroupId=sg, IpPermissions=[{'IpProtocol': 'tcp', 'FromPort': 5432, 'ToPort': 5432, 'IpRanges': [{'CidrIp': '10.20.0.0/16'}]}])
tgw = ec2.create_transit_gateway(Description='dx')['TransitGateway']['TransitGatewayId']
attachment = ec2.create_transit_gateway_vpc_attachment(TransitGatewayId=tgw, VpcId=vpc, SubnetIds=[tgw_a, tgw_c])['TransitGatewayVpcAttachment']['TransitGatewayAttachmentId']
# moto creates no Transit Gateway interfaces: made here, described as AWS describes them.
def eni(s, address, groups, description):
    return ec2.create_network_interface(SubnetId=s, PrivateIpAddress=address, Groups=groups, Description=description)['NetworkInterface']['NetworkInterfaceId']
tgw_description = 'Network Interface for Transit Gateway Attachment ' + attachment
eni_a = eni(tgw_a, '10.1.0.10', [], tgw_description)
eni_c = eni(tgw_c, '10.1.0.40', [], tgw_description)
eni_db = eni(db, '10.1.1.25', [sg], 'Primary network interface')
group = '/vpc/flow-logs/' + suffix
logs.create_log_group(logGroupName=group)
fmt = '${version} ${account-id} ${interface-id} ${srcaddr} ${dstaddr} ${srcport} ${dstport} ${protocol} ${packets} ${bytes} ${start} ${end} ${action} ${log-status} ${vpc-id} ${subnet-id} ${instance-id} ${tcp-flags} ${type} ${pkt-srcaddr} ${pkt-dstaddr} ${az-id}'
ec2.create_flow_logs(ResourceType='VPC', ResourceIds=[vpc], TrafficType='ALL', LogGroupName=group, LogFormat=fmt,
    DeliverLogsPermissionArn='arn:aws:iam::123456789012:role/flow-logs')
queue = sqs.create_queue(QueueName='flows-defer-' + suffix)['QueueUrl']
print(json.dumps(dict(vpc=vpc, tgw_a=tgw_a, tgw_c=tgw_c, db=db, app_c=app_c, az_a=az_a, az_c=az_c,
    acl_a=acl_a, acl_c=acl_c, sg=sg, attachment=attachment, eni_a=eni_a, eni_c=eni_c, eni_db=eni_db,
    group=group, queue=queue)))
"#;

fn unique(name: &str) -> String {
    static N: AtomicUsize = AtomicUsize::new(0);
    format!(
        "{name}-{}-{}",
        std::process::id(),
        N.fetch_add(1, Ordering::SeqCst)
    )
}

/// The seed story on moto: its ids.
struct Story {
    ids: Value,
}

impl Story {
    fn build() -> Story {
        let endpoint = start_doctor_testkit::moto::endpoint();
        let setup = std::process::Command::new("python3")
            .arg("-c")
            .arg(SETUP)
            .arg(&endpoint)
            .arg(unique("seed"))
            .output()
            .expect("python3 runs");
        assert!(
            setup.status.success(),
            "setting up the seed story on moto: {}",
            String::from_utf8_lossy(&setup.stderr)
        );
        Story {
            ids: serde_json::from_slice(&setup.stdout).expect("the setup prints the ids"),
        }
    }

    fn id(&self, key: &str) -> String {
        self.ids[key].as_str().unwrap_or_default().to_owned()
    }

    /// The seed story's REJECT records (both archive files, in order), with
    /// moto's ids and account in place of the story's.
    fn rejects(&self) -> Vec<String> {
        let story = [
            ("111122223333", ACCOUNT.to_owned()),
            ("eni-0a1b2c3d4e5f6a0c3", self.id("eni_c")),
            ("vpc-0a1b2c3d4e5f6a001", self.id("vpc")),
            ("subnet-0a1b2c3d4e5f6a0c3", self.id("tgw_c")),
            ("euw1-az3", self.id("az_c")),
        ];
        seed_rejects()
            .iter()
            .map(|line| {
                story
                    .iter()
                    .fold(line.clone(), |l, (from, to)| l.replace(from, to))
            })
            .collect()
    }

    /// Scans of closed ports on the database from an outside address:
    /// noise, in the log group's format.
    fn scans(&self, n: u16) -> Vec<String> {
        (0..n)
            .map(|i| {
                let t = 1_795_158_000 + i64::from(i) * 13;
                format!(
                    "4 {ACCOUNT} {} 192.0.2.15 10.1.1.25 {} {} 6 1 44 {t} {} REJECT OK {} {} - 2 IPv4 192.0.2.15 10.1.1.25 {}",
                    self.id("eni_db"),
                    61_000 + i,
                    [22, 23, 445, 1433, 3389][usize::from(i) % 5],
                    t + 59,
                    self.id("vpc"),
                    self.id("db"),
                    self.id("az_a"),
                )
            })
            .collect()
    }
}

/// The REJECT lines of the seed story's archive.
fn seed_rejects() -> &'static [String] {
    static LINES: OnceLock<Vec<String>> = OnceLock::new();
    LINES.get_or_init(|| {
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join(
            "../../events/flows/seed-story/AWSLogs/111122223333/vpcflowlogs/eu-west-1/2026/11/20",
        );
        let mut files: Vec<_> = std::fs::read_dir(&dir)
            .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
            .map(|e| e.expect("entry").path())
            .collect();
        files.sort();
        let mut lines = Vec::new();
        for file in files {
            let bytes = std::fs::read(&file).expect("archive file");
            let mut text = String::new();
            std::io::Read::read_to_string(&mut flate2::read::GzDecoder::new(&bytes[..]), &mut text)
                .expect("gzip");
            lines.extend(
                text.lines()
                    .filter(|l| l.contains(" REJECT "))
                    .map(str::to_owned),
            );
        }
        lines
    })
}

/// A CloudWatch Logs subscription payload as Lambda receives it: the
/// `DATA_MESSAGE` of `lines`, gzip, base64.
fn subscription(group: &str, stream: &str, lines: &[String], first_id: usize) -> Value {
    let events: Vec<Value> = lines
        .iter()
        .enumerate()
        .map(|(i, message)| {
            let start: i64 = message
                .split(' ')
                .nth(10)
                .and_then(|t| t.parse().ok())
                .unwrap_or_default();
            json!({
                "id": format!("{:056}", first_id + i),
                "timestamp": start * 1000,
                "message": message,
            })
        })
        .collect();
    let data = json!({
        "messageType": "DATA_MESSAGE",
        "owner": ACCOUNT,
        "logGroup": group,
        "logStream": stream,
        "subscriptionFilters": ["start-doctor-flows"],
        "logEvents": events,
    });
    let mut gz = GzEncoder::new(Vec::new(), flate2::Compression::default());
    gz.write_all(data.to_string().as_bytes()).expect("gzip");
    let bytes = gz.finish().expect("gzip");
    json!({"awslogs": {"data": base64::engine::general_purpose::STANDARD.encode(bytes)}})
}

/// The SDK configuration for moto through `proxy`.
async fn sdk_through(proxy: &FaultProxy) -> aws_config::SdkConfig {
    crate::support::sdk_config()
        .await
        .to_builder()
        .endpoint_url(proxy.endpoint())
        .build()
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Transport {
    Api,
    Webhook,
}

async fn run_over(
    story: &Story,
    sdk: &aws_config::SdkConfig,
    slack: &SlackReceiver,
    transport: Transport,
) -> FlowsRun<FlowsPorts> {
    let dynamo = aws_sdk_dynamodb::Client::new(sdk);
    let table = unique("flows");
    create_table(&dynamo, &table).await.expect("table");
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
    FlowsRun {
        ports: Io {
            store: DynamoStore::new(dynamo, table),
            notifier,
            deferrer: SqsDeferrer::new(aws_sdk_sqs::Client::new(sdk), story.id("queue")),
            annotator: start_doctor_aws::annotate::AwsAnnotator {
                ssm: None,
                incidents: None,
                events: None,
                ec2: None,
            },
        },
        engine: start_doctor_engine::Settings {
            // Webhooks: the first post waits a second for the batch's
            // other conversations (SQS's delay, not a sleep).
            gather: Duration::seconds(1),
            ..start_doctor_engine::Settings::default()
        },
        config: ConfigCache::new(
            aws_sdk_ec2::Client::new(sdk),
            vec![story.id("vpc")],
            Duration::minutes(5),
        ),
        options: Options {
            internal: vec!["10.0.0.0/8".parse().expect("cidr")],
            all: false,
        },
        home: Origin {
            account: Account::parse(ACCOUNT),
            region: Region::parse("eu-west-1"),
        },
    }
}

fn at(minutes: i64) -> DateTime<Utc> {
    "2026-11-20T09:00:00Z"
        .parse::<DateTime<Utc>>()
        .expect("time")
        + Duration::minutes(minutes)
}

fn invocation(minutes: i64) -> Invocation {
    Invocation::with_time_left(at(minutes), std::time::Duration::from_secs(120))
}

/// The function's queue handed back to it, as Lambda's SQS trigger would:
/// every message received within `wait` (the engine's flushes are delayed).
async fn drain_queue(
    run: &FlowsRun<FlowsPorts>,
    sqs: &aws_sdk_sqs::Client,
    queue: &str,
    minutes: i64,
    wait: std::time::Duration,
) -> usize {
    let until = tokio::time::Instant::now() + wait;
    let mut handled = 0;
    while tokio::time::Instant::now() < until {
        let received = sqs
            .receive_message()
            .queue_url(queue)
            .max_number_of_messages(10)
            .wait_time_seconds(1)
            .send()
            .await
            .expect("receive");
        let records: Vec<Value> = received
            .messages()
            .iter()
            .map(|m| {
                json!({
                    "messageId": m.message_id(),
                    "receiptHandle": m.receipt_handle(),
                    "body": m.body(),
                    "eventSource": "aws:sqs",
                })
            })
            .collect();
        if records.is_empty() {
            continue;
        }
        let response = handle_input(run, &json!({"Records": records}), &invocation(minutes))
            .await
            .expect("the queue's batch is handled");
        assert_eq!(
            response["batchItemFailures"],
            json!([]),
            "every notice done: {response}"
        );
        for m in received.messages() {
            sqs.delete_message()
                .queue_url(queue)
                .receipt_handle(m.receipt_handle().unwrap_or_default())
                .send()
                .await
                .expect("delete");
        }
        handled += records.len();
    }
    handled
}

fn text_of(message: &Value) -> String {
    message["payload"].to_string()
}

fn kinds(messages: &[Value]) -> Vec<String> {
    messages
        .iter()
        .map(|m| m["kind"].as_str().unwrap_or_default().to_owned())
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_seed_storys_rejects_post_one_message_that_grows_and_noise_posts_nothing() {
    let story = Story::build();
    let proxy = FaultProxy::start(&start_doctor_testkit::moto::endpoint());
    let sdk = sdk_through(&proxy).await;
    let slack = SlackReceiver::start(TOKEN);
    let run = run_over(&story, &sdk, &slack, Transport::Api).await;
    let sqs = aws_sdk_sqs::Client::new(&sdk);
    let group = story.id("group");
    let rejects = story.rejects();
    assert_eq!(rejects.len(), 20, "the seed story has 20 REJECT records");
    let (first, second) = rejects.split_at(10);

    // The first half hour of rejects: both clients, one group.
    let outcome = handle_input(
        &run,
        &subscription(&group, &story.id("eni_c"), first, 0),
        &invocation(0),
    )
    .await
    .expect("the first batch is handled");
    assert_eq!(outcome["conversations"], 2, "{outcome}");
    assert_eq!(outcome["joined"], 2, "{outcome}");
    assert_eq!(outcome["config_read"], true, "{outcome}");
    // The second member joined within Slack's update interval: the flush
    // comes back through the function's queue.
    drain_queue(
        &run,
        &sqs,
        &story.id("queue"),
        1,
        std::time::Duration::from_secs(8),
    )
    .await;
    let messages = slack.messages();
    assert_eq!(
        kinds(&messages).iter().filter(|k| *k == "post").count(),
        1,
        "one message for (tgw_entry_az_nacl, rule 100): {:?}",
        kinds(&messages)
    );
    let shown = text_of(messages.last().expect("a message"));
    for expected in [
        story.id("acl_c"),
        "rule 100 (outbound)".to_owned(),
        story.id("tgw_c"),
        format!("`{}` passes", story.id("az_a")),
        format!("`{}` *fails*", story.id("az_c")),
        "10.20.5.17 → 10.1.1.25 TCP 5432".to_owned(),
        "10.20.8.9 → 10.1.1.25 TCP 5432".to_owned(),
        "10 rejected".to_owned(),
    ] {
        assert!(
            shown.contains(&expected),
            "the message names {expected:?}: {shown}"
        );
    }

    // The next half hour of records, three minutes later (the
    // configuration is still cached): the same message, updated with the
    // counts.
    let outcome = handle_input(
        &run,
        &subscription(&group, &story.id("eni_c"), second, 100),
        &invocation(3),
    )
    .await
    .expect("the second batch is handled");
    assert_eq!(outcome["refreshed"], 2, "{outcome}");
    assert_eq!(outcome["config_read"], false, "cached: {outcome}");
    drain_queue(
        &run,
        &sqs,
        &story.id("queue"),
        4,
        std::time::Duration::from_secs(8),
    )
    .await;
    let messages = slack.messages();
    assert_eq!(
        kinds(&messages).iter().filter(|k| *k == "post").count(),
        1,
        "still one post: {:?}",
        kinds(&messages)
    );
    let shown = text_of(messages.last().expect("an update"));
    assert_eq!(
        messages.last().map(|m| m["kind"].clone()),
        Some(json!("update"))
    );
    assert!(
        shown.contains("20 rejected"),
        "the update counts 20: {shown}"
    );

    // Lambda retries the second batch: nothing counted twice, nothing sent.
    let before = slack.messages().len();
    let outcome = handle_input(
        &run,
        &subscription(&group, &story.id("eni_c"), second, 100),
        &invocation(4),
    )
    .await
    .expect("the retry is handled");
    assert_eq!(outcome["unchanged"], 2, "{outcome}");
    assert_eq!(
        slack.messages().len(),
        before,
        "a retried batch sends nothing"
    );

    // Scans of closed ports from outside: counted, never posted.
    let outcome = handle_input(
        &run,
        &subscription(&group, &story.id("eni_db"), &story.scans(25), 1000),
        &invocation(5),
    )
    .await
    .expect("the scans are handled");
    assert_eq!(outcome["conversations"], 0, "{outcome}");
    assert_eq!(outcome["noise"]["unsolicited"], 25, "{outcome}");
    assert_eq!(slack.messages().len(), before, "noise posts nothing");
    let noise: NoiseTally =
        start_doctor_engine::record::read(&run.ports.store, &noise_key(&run.home))
            .await
            .expect("store")
            .map(|(n, _)| n)
            .expect("the noise is counted in the store");
    assert_eq!(noise.noise.unsolicited, 25);
    assert!(slack.rejections().is_empty(), "{:?}", slack.rejections());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn through_a_webhook_the_message_names_both_conversations() {
    let story = Story::build();
    let proxy = FaultProxy::start(&start_doctor_testkit::moto::endpoint());
    let sdk = sdk_through(&proxy).await;
    let slack = SlackReceiver::start(TOKEN);
    let run = run_over(&story, &sdk, &slack, Transport::Webhook).await;
    let sqs = aws_sdk_sqs::Client::new(&sdk);
    let rejects = story.rejects();
    handle_input(
        &run,
        &subscription(&story.id("group"), &story.id("eni_c"), &rejects, 0),
        &invocation(0),
    )
    .await
    .expect("handled");
    drain_queue(
        &run,
        &sqs,
        &story.id("queue"),
        2,
        std::time::Duration::from_secs(3),
    )
    .await;
    let messages = slack.messages();
    assert!(
        kinds(&messages).iter().all(|k| k == "webhook"),
        "{:?}",
        kinds(&messages)
    );
    assert_eq!(messages.len(), 1, "one post naming both: {messages:?}");
    let shown = text_of(&messages[0]);
    for conversation in [
        "10.20.5.17 → 10.1.1.25 TCP 5432",
        "10.20.8.9 → 10.1.1.25 TCP 5432",
    ] {
        assert!(shown.contains(conversation), "{conversation}: {shown}");
    }
    assert!(slack.rejections().is_empty(), "{:?}", slack.rejections());
}

/// Calls per AWS action.
fn calls(proxy: &FaultProxy) -> BTreeMap<String, u32> {
    proxy.calls()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_burst_costs_per_conversation_not_per_record() {
    let story = Story::build();
    let proxy = FaultProxy::start(&start_doctor_testkit::moto::endpoint());
    let sdk = sdk_through(&proxy).await;
    let slack = SlackReceiver::start(TOKEN);
    let run = run_over(&story, &sdk, &slack, Transport::Api).await;
    let group = story.id("group");
    // A burst: the seed story's 20 rejects repeated 250 times (5,000
    // records of 2 conversations) in batches of 1,000 records.
    let burst: Vec<String> = (0..250).flat_map(|_| story.rejects()).collect();
    proxy.reset_counts();
    let mut batches = 0;
    for (i, chunk) in burst.chunks(1000).enumerate() {
        let minutes = i64::try_from(i).unwrap_or_default();
        handle_input(
            &run,
            &subscription(&group, &story.id("eni_c"), chunk, i * 1000),
            &invocation(minutes),
        )
        .await
        .expect("a burst batch is handled");
        batches += 1;
    }
    let counted = calls(&proxy);
    let describes: u32 = counted
        .iter()
        .filter(|(k, _)| k.starts_with("Describe") || k.starts_with("GetManagedPrefixList"))
        .map(|(_, v)| v)
        .sum();
    let writes = counted.get("PutItem").copied().unwrap_or_default()
        + counted.get("UpdateItem").copied().unwrap_or_default();
    let reads = counted.get("GetItem").copied().unwrap_or_default();
    eprintln!(
        "burst: {} records in {batches} batches, 2 conversations: {describes} describe calls, {reads} store reads, {writes} store writes, {:?}",
        burst.len(),
        counted
    );
    // One configuration read for the whole burst (the cache lives 5
    // minutes; the batches are a minute apart).
    assert!(
        run.config.reads() == 1,
        "the configuration was read {} times",
        run.config.reads()
    );
    // Per batch and conversation: the aggregate's read-modify-write and the
    // engine's member and group records: a bounded handful, never one per
    // record.
    let per_batch_and_conversation = f64::from(writes) / (f64::from(batches) * 2.0);
    assert!(
        per_batch_and_conversation <= 4.0,
        "{writes} store writes for {batches} batches of 2 conversations"
    );
    assert!(
        u64::from(writes) < (burst.len() as u64) / 100,
        "{writes} store writes for {} records",
        burst.len()
    );
    let posts = slack
        .messages()
        .iter()
        .filter(|m| m["kind"] == "post")
        .count();
    assert_eq!(posts, 1, "one message for the burst");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_batch_of_more_conversations_than_the_bound_publishes_the_most_rejected() {
    let story = Story::build();
    let proxy = FaultProxy::start(&start_doctor_testkit::moto::endpoint());
    let sdk = sdk_through(&proxy).await;
    let slack = SlackReceiver::start(TOKEN);
    let run = run_over(&story, &sdk, &slack, Transport::Api).await;
    let bound = start_doctor_aws::flows::MAX_CONVERSATIONS_PER_BATCH;
    // The seed story's first reject, from `bound + 30` on-premises clients;
    // the first client's twice (the most rejected).
    let template = story.rejects()[0].clone();
    let mut lines: Vec<String> = (0..bound + 30)
        .map(|i| {
            let client = format!("10.20.{}.{}", 100 + i / 250, 1 + i % 250);
            template.replace("10.20.5.17", &client)
        })
        .collect();
    lines.push(lines[0].clone());
    let outcome = handle_input(
        &run,
        &subscription(&story.id("group"), &story.id("eni_c"), &lines, 0),
        &invocation(0),
    )
    .await
    .expect("handled");
    assert_eq!(outcome["conversations"], bound, "{outcome}");
    assert_eq!(outcome["left_out"], 30, "{outcome}");
    let tally: NoiseTally =
        start_doctor_engine::record::read(&run.ports.store, &noise_key(&run.home))
            .await
            .expect("store")
            .map(|(n, _)| n)
            .expect("the left-out conversations are counted");
    assert_eq!(tally.left_out_conversations, 30);
    assert_eq!(tally.left_out_records, 30);
    let posted = text_of(&slack.messages()[0]);
    assert!(
        posted.contains("10.20.100.1 → 10.1.1.25 TCP 5432"),
        "the most-rejected conversation is published first: {posted}"
    );
}
