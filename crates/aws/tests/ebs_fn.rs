//! The `ebs-ceiling` function end to end: instances and volumes on moto
//! (an m5.large, whose EBS figures moto's `DescribeInstanceTypes` gives, a
//! gp3 volume at 3,000 IOPS), CloudWatch mocked with `aws-smithy-mocks`
//! (moto answers no Metrics Insights query): the mock computes every
//! series a request asks for from what the test says each instance is
//! doing, minute by minute. The store on moto, Slack the local receiver.
//! A ceiling hit is one message; the next run still hitting changes
//! nothing, a run that sees it twice as long updates the same message;
//! cleared, the message says so, its thread says so; a second instance
//! gets its own message; through a webhook nothing is posted twice.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use aws_sdk_cloudwatch::operation::get_metric_data::{GetMetricDataInput, GetMetricDataOutput};
use aws_sdk_cloudwatch::primitives::DateTime as CwDateTime;
use aws_sdk_cloudwatch::types::{MetricDataResult, StatusCode};
use aws_sdk_ec2::types::{InstanceType, Placement, VolumeType};
use aws_smithy_mocks::{mock, mock_client, RuleMode};
use chrono::{DateTime, Duration, Utc};
use serde_json::{json, Value};
use start_doctor_aws::config::SlackNotifier;
use start_doctor_aws::dynamodb::{create_table, DynamoStore};
use start_doctor_aws::ebs::{ebs_engine, EbsOutcome, EbsPorts, EbsRun};
use start_doctor_aws::lambda::{HandlerError, Invocation};
use start_doctor_aws::slack::{SlackApi, SlackWebhook};
use start_doctor_core::ids::{Account, Origin, Region};
use start_doctor_engine::ports::{InlineDeferrer, Io};

const ACCOUNT: &str = "123456789012";
const TOKEN: &str = "xoxb-ebs-test";
/// The gp3 volume's provisioned IOPS.
const PROVISIONED: f64 = 3000.0;

/// When the first run happens.
fn t0() -> DateTime<Utc> {
    "2026-12-07T06:00:00Z".parse().unwrap()
}

fn unique(name: &str) -> String {
    static N: AtomicUsize = AtomicUsize::new(0);
    format!(
        "{name}-{}-{}",
        std::process::id(),
        N.fetch_add(1, Ordering::SeqCst)
    )
}

/// A data volume driven at its ceiling: (its instance, from, until).
type Hit = (String, DateTime<Utc>, Option<DateTime<Utc>>);

/// What each data volume is doing: the minutes from which its
/// instance drives it at the ceiling, and until when.
#[derive(Clone, Default)]
struct Load {
    /// volume id → its hit.
    hits: BTreeMap<String, Hit>,
}

impl Load {
    fn at_ceiling(&self, volume: &str, minute: DateTime<Utc>) -> bool {
        self.hits
            .get(volume)
            .is_some_and(|(_, from, until)| minute >= *from && until.is_none_or(|u| minute < u))
    }

    fn instance_at_ceiling(&self, instance: &str, minute: DateTime<Utc>) -> bool {
        self.hits
            .iter()
            .any(|(v, (i, _, _))| i == instance && self.at_ceiling(v, minute))
    }
}

fn to_chrono(t: &CwDateTime) -> DateTime<Utc> {
    DateTime::from_timestamp(t.secs(), 0).unwrap()
}

/// The value of one minute of `metric` for `instance` / `volume`, as its
/// statistic would give it: at the ceiling, 2,990 reads a second of
/// 16 KiB at 2 ms; otherwise 300 reads a second.
fn value(
    load: &Load,
    metric: &str,
    instance: Option<&str>,
    volume: Option<&str>,
    minute: DateTime<Utc>,
) -> f64 {
    let hitting = match (instance, volume) {
        (_, Some(v)) => load.at_ceiling(v, minute),
        (Some(i), None) => load.instance_at_ceiling(i, minute),
        (None, None) => false,
    };
    let iops = if volume.is_some_and(|v| !load.hits.contains_key(v)) {
        10.0 // the root volume, idle
    } else if hitting {
        PROVISIONED - 10.0
    } else {
        300.0
    };
    match metric {
        "VolumeReadOps" | "EBSReadOps" => iops * 60.0,
        "VolumeReadBytes" | "EBSReadBytes" => iops * 60.0 * 16384.0,
        "VolumeTotalReadTime" => iops * 60.0 * 0.002,
        "VolumeQueueLength" => iops / 400.0,
        "VolumeIOPSExceededCheck" => f64::from(u8::from(hitting)),
        "VolumeAvgReadLatency" => 2.0,
        "VolumeAvgIOPS" => iops,
        "VolumeAvgThroughput" => iops * 16.0,
        "BurstBalance" | "EBSIOBalance%" | "EBSByteBalance%" => 100.0,
        _ => 0.0,
    }
}

/// CloudWatch, computed from `load`: Metrics Insights discovery queries
/// and the doctor's `MetricStat` queries alike.
fn cloudwatch(load: Arc<Mutex<Load>>) -> aws_sdk_cloudwatch::Client {
    let rule = mock!(aws_sdk_cloudwatch::Client::get_metric_data).then_compute_output(
        move |request: &GetMetricDataInput| {
            let load = load.lock().unwrap().clone();
            let start = to_chrono(request.start_time().unwrap());
            let end = to_chrono(request.end_time().unwrap());
            let minutes: Vec<DateTime<Utc>> = (0..)
                .map(|m| start + Duration::minutes(m))
                .take_while(|m| *m < end)
                .collect();
            let stamps = |ms: &[DateTime<Utc>]| -> Vec<CwDateTime> {
                ms.iter()
                    .rev()
                    .map(|m| CwDateTime::from_secs(m.timestamp()))
                    .collect()
            };
            let mut results = Vec::new();
            for q in request.metric_data_queries() {
                if let Some(expression) = q.expression() {
                    // Discovery: one series per volume at the ceiling.
                    if !expression.contains("VolumeIOPSExceededCheck") {
                        continue;
                    }
                    for (volume, (instance, _, _)) in &load.hits {
                        let values: Vec<f64> = minutes
                            .iter()
                            .rev()
                            .map(|m| f64::from(u8::from(load.at_ceiling(volume, *m))))
                            .collect();
                        results.push(
                            MetricDataResult::builder()
                                .id(q.id().unwrap_or_default())
                                .label(format!("{instance} {volume}"))
                                .set_timestamps(Some(stamps(&minutes)))
                                .set_values(Some(values))
                                .status_code(StatusCode::Complete)
                                .build(),
                        );
                    }
                    continue;
                }
                let Some(metric) = q.metric_stat().and_then(|s| s.metric()) else {
                    continue;
                };
                let dim = |name: &str| {
                    metric
                        .dimensions()
                        .iter()
                        .find(|d| d.name() == Some(name))
                        .and_then(|d| d.value())
                };
                let name = metric.metric_name().unwrap_or_default();
                let values: Vec<f64> = minutes
                    .iter()
                    .rev()
                    .map(|m| value(&load, name, dim("InstanceId"), dim("VolumeId"), *m))
                    .collect();
                results.push(
                    MetricDataResult::builder()
                        .id(q.id().unwrap_or_default())
                        .set_label(q.label().map(str::to_owned))
                        .set_timestamps(Some(stamps(&minutes)))
                        .set_values(Some(values))
                        .status_code(StatusCode::Complete)
                        .build(),
                );
            }
            GetMetricDataOutput::builder()
                .set_metric_data_results(Some(results))
                .build()
        },
    );
    mock_client!(aws_sdk_cloudwatch, RuleMode::MatchAny, &[&rule])
}

/// An m5.large on moto with a 200 GiB gp3 data volume at 3,000 IOPS:
/// (instance, data volume).
async fn instance(ec2: &aws_sdk_ec2::Client) -> (String, String) {
    let images = ec2.describe_images().send().await.unwrap();
    let ami = images.images()[0].image_id().unwrap().to_owned();
    let run = ec2
        .run_instances()
        .image_id(ami)
        .instance_type(InstanceType::M5Large)
        .min_count(1)
        .max_count(1)
        .placement(Placement::builder().availability_zone("eu-west-1a").build())
        .send()
        .await
        .unwrap();
    let id = run.instances()[0].instance_id().unwrap().to_owned();
    let volume = ec2
        .create_volume()
        .availability_zone("eu-west-1a")
        .size(200)
        .volume_type(VolumeType::Gp3)
        .iops(3000)
        .throughput(125)
        .send()
        .await
        .unwrap();
    let vol = volume.volume_id().unwrap().to_owned();
    ec2.attach_volume()
        .volume_id(&vol)
        .instance_id(&id)
        .device("/dev/sdf")
        .send()
        .await
        .unwrap();
    (id, vol)
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Transport {
    Api,
    Webhook,
}

struct World {
    run: EbsRun<EbsPorts>,
    load: Arc<Mutex<Load>>,
    ec2: aws_sdk_ec2::Client,
}

async fn world(slack: &start_doctor_testkit::slack::SlackReceiver, transport: Transport) -> World {
    let sdk = crate::support::sdk_config().await;
    let dynamo = aws_sdk_dynamodb::Client::new(&sdk);
    let table = unique("ebs");
    create_table(&dynamo, &table).await.unwrap();
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
    let load = Arc::new(Mutex::new(Load::default()));
    let ec2 = aws_sdk_ec2::Client::new(&sdk);
    World {
        run: EbsRun {
            ec2: ec2.clone(),
            cloudwatch: cloudwatch(load.clone()),
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
            engine: ebs_engine(&start_doctor_engine::Settings::default()),
            origin: Origin {
                account: Account::parse(ACCOUNT),
                region: Region::parse("eu-west-1"),
            },
            window: Duration::minutes(30),
            max_instances: 100,
        },
        load,
        ec2,
    }
}

impl World {
    fn hit(&self, instance: &str, volume: &str, from: DateTime<Utc>) {
        self.load
            .lock()
            .unwrap()
            .hits
            .insert(volume.to_owned(), (instance.to_owned(), from, None));
    }

    fn clear(&self, volume: &str, at: DateTime<Utc>) {
        if let Some(hit) = self.load.lock().unwrap().hits.get_mut(volume) {
            hit.2 = Some(at);
        }
    }

    async fn run_at(&self, minutes: i64) -> Result<EbsOutcome, HandlerError> {
        let schedule = json!({
            "version": "0", "id": unique("sched"), "detail-type": "Scheduled Event", "source": "aws.events",
            "account": ACCOUNT, "time": (t0() + Duration::minutes(minutes)).to_rfc3339(), "region": "eu-west-1",
            "resources": ["arn:aws:events:eu-west-1:123456789012:rule/ebs-ceiling"], "detail": {}
        });
        let invocation = Invocation::with_time_left(
            t0() + Duration::minutes(minutes),
            std::time::Duration::from_secs(120),
        );
        self.run.handle(&schedule, &invocation).await
    }
}

fn kinds(messages: &[Value]) -> Vec<&str> {
    messages
        .iter()
        .map(|m| m["kind"].as_str().unwrap_or_default())
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_ceiling_is_posted_once_updated_while_it_lasts_and_resolved_when_it_clears() {
    let slack = start_doctor_testkit::slack::SlackReceiver::start(TOKEN);
    let w = world(&slack, Transport::Api).await;
    let (a, vol_a) = instance(&w.ec2).await;
    // At the ceiling since ten minutes before the first run.
    w.hit(&a, &vol_a, t0() - Duration::minutes(10));

    let first = w.run_at(0).await.unwrap();
    assert_eq!(first.joined, 1, "first run: {first:?}");
    assert!(first.candidates >= 1, "{first:?}");
    let messages = slack.messages();
    assert_eq!(kinds(&messages), ["post"], "one message");
    let post = messages[0]["payload"].to_string();
    assert!(post.contains(&a) && post.contains(&vol_a), "{post}");
    assert!(post.contains("volume IOPS limit"), "{post}");
    assert!(post.contains("modify-volume"), "the fix: {post}");

    let second = w.run_at(2).await.unwrap();
    assert_eq!(
        (second.joined, second.unchanged),
        (0, 1),
        "two minutes later nothing worth showing changed: {second:?}"
    );
    assert_eq!(kinds(&slack.messages()), ["post"], "no new post, no update");

    let third = w.run_at(12).await.unwrap();
    assert_eq!(
        third.refreshed, 1,
        "twice as long at the ceiling: {third:?}"
    );
    let messages = slack.messages();
    assert_eq!(
        kinds(&messages),
        ["post", "update"],
        "the same message, updated"
    );
    assert_eq!(messages[1]["ts"], messages[0]["ts"]);

    // The load drops; the run 31 minutes later sees no minute at the ceiling.
    w.clear(&vol_a, t0() + Duration::minutes(13));
    let still = w.run_at(20).await.unwrap();
    assert_eq!(still.resolved, 0, "still in the window: {still:?}");
    let cleared = w.run_at(45).await.unwrap();
    assert_eq!(cleared.resolved, 1, "{cleared:?}");
    assert!(
        cleared.not_posted.iter().any(|s| s.starts_with(&a)),
        "the instance is now diagnosed as not EBS-bound, which is not posted: {cleared:?}"
    );
    let messages = slack.messages();
    assert_eq!(kinds(&messages), ["post", "update", "update", "reply"]);
    let update = messages[2]["payload"].to_string();
    assert!(update.contains("Resolved: EBS"), "{update}");
    assert_eq!(
        messages[3]["thread_ts"], messages[0]["ts"],
        "the reply is in its thread"
    );
    assert!(messages[3]["payload"].to_string().contains("Resolved:"));

    let quiet = w.run_at(50).await.unwrap();
    assert_eq!(
        quiet.examined, 0,
        "nothing open, nothing at a ceiling: {quiet:?}"
    );
    assert_eq!(slack.messages().len(), 4, "nothing more");
    assert!(slack.rejections().is_empty(), "{:?}", slack.rejections());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_second_instance_gets_its_own_message() {
    let slack = start_doctor_testkit::slack::SlackReceiver::start(TOKEN);
    let w = world(&slack, Transport::Api).await;
    let (a, vol_a) = instance(&w.ec2).await;
    let (b, vol_b) = instance(&w.ec2).await;
    w.hit(&a, &vol_a, t0() - Duration::minutes(10));
    w.run_at(0).await.unwrap();
    w.hit(&b, &vol_b, t0() - Duration::minutes(5));
    let second = w.run_at(2).await.unwrap();
    assert_eq!((second.joined, second.unchanged), (1, 1), "{second:?}");
    let messages = slack.messages();
    assert_eq!(
        kinds(&messages),
        ["post", "post"],
        "one message per instance"
    );
    assert!(messages[0]["payload"].to_string().contains(&a));
    let b_post = messages[1]["payload"].to_string();
    assert!(b_post.contains(&b) && !b_post.contains(&a), "{b_post}");
    assert_ne!(messages[0]["ts"], messages[1]["ts"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn through_a_webhook_nothing_is_posted_twice() {
    let slack = start_doctor_testkit::slack::SlackReceiver::start(TOKEN);
    let w = world(&slack, Transport::Webhook).await;
    let (a, vol_a) = instance(&w.ec2).await;
    w.hit(&a, &vol_a, t0() - Duration::minutes(10));
    for minutes in [0, 2, 12, 17] {
        w.run_at(minutes).await.unwrap();
    }
    let messages = slack.messages();
    let posts: Vec<String> = messages
        .iter()
        .map(|m| m["payload"].to_string())
        .filter(|p| p.contains("EBS: volume IOPS limit"))
        .collect();
    assert_eq!(posts.len(), 1, "one message for the ceiling: {messages:?}");
    assert!(posts[0].contains(&a));
    assert!(slack.rejections().is_empty(), "{:?}", slack.rejections());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_instance_left_for_the_next_run_is_not_taken_for_cleared() {
    let slack = start_doctor_testkit::slack::SlackReceiver::start(TOKEN);
    let mut w = world(&slack, Transport::Api).await;
    let (a, vol_a) = instance(&w.ec2).await;
    let (b, vol_b) = instance(&w.ec2).await;
    w.hit(&a, &vol_a, t0() - Duration::minutes(10));
    w.hit(&b, &vol_b, t0() - Duration::minutes(10));
    let first = w.run_at(0).await.unwrap();
    assert_eq!(first.joined, 2, "{first:?}");
    // Both still at the ceiling, but this run may gather only one.
    w.run.max_instances = 1;
    let second = w.run_at(2).await.unwrap();
    assert_eq!(
        (second.examined, second.postponed, second.resolved),
        (1, 1, 0),
        "the instance not examined stays open: {second:?}"
    );
    assert_eq!(
        kinds(&slack.messages()),
        ["post", "post"],
        "nothing resolved, nothing posted"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_alarm_state_change_starts_the_same_run() {
    let slack = start_doctor_testkit::slack::SlackReceiver::start(TOKEN);
    let w = world(&slack, Transport::Api).await;
    let (a, vol_a) = instance(&w.ec2).await;
    w.hit(&a, &vol_a, t0() - Duration::minutes(10));
    // A Metrics Insights alarm's event names no contributor the run relies
    // on: the run asks CloudWatch itself.
    let alarm = json!({
        "version": "0", "id": unique("alarm"), "detail-type": "CloudWatch Alarm State Change",
        "source": "aws.cloudwatch", "account": ACCOUNT, "time": t0().to_rfc3339(), "region": "eu-west-1",
        "resources": ["arn:aws:cloudwatch:eu-west-1:123456789012:alarm:ebs-ceilings"],
        "detail": {"alarmName": "ebs-ceilings", "state": {"value": "ALARM"}, "previousState": {"value": "OK"}}
    });
    let invocation = Invocation::with_time_left(t0(), std::time::Duration::from_secs(120));
    let outcome = w.run.handle(&alarm, &invocation).await.unwrap();
    assert_eq!(outcome.joined, 1, "{outcome:?}");
    assert_eq!(kinds(&slack.messages()), ["post"]);
    let other = json!({"version": "0", "id": "x", "detail-type": "EBS Volume Notification", "source": "aws.ec2", "detail": {}});
    assert!(
        matches!(
            w.run.handle(&other, &invocation).await,
            Err(HandlerError::Unreadable(_))
        ),
        "another event is refused"
    );
}
