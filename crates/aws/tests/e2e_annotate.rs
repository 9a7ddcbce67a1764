//! Annotations end to end: OpsItems and Incident Manager through
//! `aws-smithy-mocks` (moto implements neither), the diagnosis event through
//! moto's EventBridge (delivered by a rule to an SQS queue), and the
//! instance tag on a moto instance.

use crate::support::handle;
use aws_sdk_ssm::operation::create_ops_item::CreateOpsItemOutput;
use aws_sdk_ssm::operation::update_ops_item::UpdateOpsItemOutput;
use aws_sdk_ssm::types::OpsItemStatus;
use aws_sdk_ssmincidents::operation::create_timeline_event::CreateTimelineEventOutput;
use aws_sdk_ssmincidents::operation::list_incident_records::ListIncidentRecordsOutput;
use aws_sdk_ssmincidents::operation::list_related_items::ListRelatedItemsOutput;
use aws_sdk_ssmincidents::operation::update_related_items::UpdateRelatedItemsOutput;
use aws_sdk_ssmincidents::types::{
    IncidentRecordStatus, IncidentRecordSummary, ItemIdentifier, ItemType, ItemValue, RelatedItem,
};
use aws_smithy_mocks::{mock, mock_client, Rule, RuleMode};
use chrono::{DateTime, Utc};
use serde_json::{json, Value};
use start_doctor_aws::annotate::AwsAnnotator;
use start_doctor_engine::memory::{MemoryStore, RecordingDeferrer, RecordingNotifier};
use start_doctor_engine::ports::{Io, ServiceError};
use start_doctor_start::pipeline::doctor::FAILURE_TAG;
use start_doctor_start::pipeline::{Pipeline, Settings};
use start_doctor_start::ports::{LiveChecks, LiveRequest};

const OPS_ITEM: &str = "oi-0123456789ab";
const INCIDENT: &str = "arn:aws:ssm-incidents::111122223333:incident-record/ec2-starts/abc";

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

struct Mocks {
    create: Rule,
    update: Rule,
    resolve: Rule,
    list_incidents: Rule,
    related: Rule,
    timeline: Rule,
    link: Rule,
}

fn mocks(incident_open: bool, instance: String) -> Mocks {
    let create = mock!(aws_sdk_ssm::Client::create_ops_item)
        .match_requests(|r| {
            r.source() == Some("start-doctor")
                && r.operational_data()
                    .is_some_and(|d| d.contains_key("/aws/dedup"))
        })
        .then_output(|| CreateOpsItemOutput::builder().ops_item_id(OPS_ITEM).build());
    let resolve = mock!(aws_sdk_ssm::Client::update_ops_item)
        .match_requests(|r| {
            r.status() == Some(&OpsItemStatus::Resolved) && r.ops_item_id() == Some(OPS_ITEM)
        })
        .then_output(|| UpdateOpsItemOutput::builder().build());
    let update = mock!(aws_sdk_ssm::Client::update_ops_item)
        .then_output(|| UpdateOpsItemOutput::builder().build());
    let list_incidents =
        mock!(aws_sdk_ssmincidents::Client::list_incident_records).then_output(move || {
            let summaries = if incident_open {
                vec![IncidentRecordSummary::builder()
                    .arn(INCIDENT)
                    .title("EC2 starts failing")
                    .status(IncidentRecordStatus::Open)
                    .creation_time(aws_sdk_ssmincidents::primitives::DateTime::from_secs(0))
                    .impact(2)
                    .incident_record_source(
                        aws_sdk_ssmincidents::types::IncidentRecordSource::builder()
                            .created_by("me")
                            .source("aws.ssm-incidents.custom")
                            .build()
                            .unwrap(),
                    )
                    .build()
                    .unwrap()]
            } else {
                Vec::new()
            };
            ListIncidentRecordsOutput::builder()
                .set_incident_record_summaries(Some(summaries))
                .build()
                .unwrap()
        });
    let related = mock!(aws_sdk_ssmincidents::Client::list_related_items).then_output(move || {
        let item = RelatedItem::builder()
            .identifier(
                ItemIdentifier::builder()
                    .r#type(ItemType::InvolvedResource)
                    .value(ItemValue::Arn(format!(
                        "arn:aws:ec2:eu-west-1:123456789012:instance/{instance}"
                    )))
                    .build()
                    .unwrap(),
            )
            .build();
        ListRelatedItemsOutput::builder()
            .related_items(item)
            .build()
            .unwrap()
    });
    let timeline = mock!(aws_sdk_ssmincidents::Client::create_timeline_event)
        .match_requests(|r| {
            r.event_type() == Some("Custom Event") && r.incident_record_arn() == Some(INCIDENT)
        })
        .then_output(|| {
            CreateTimelineEventOutput::builder()
                .incident_record_arn(INCIDENT)
                .event_id("e1")
                .build()
                .unwrap()
        });
    let link = mock!(aws_sdk_ssmincidents::Client::update_related_items)
        .then_output(|| UpdateRelatedItemsOutput::builder().build());
    Mocks {
        create,
        update,
        resolve,
        list_incidents,
        related,
        timeline,
        link,
    }
}

fn event(detail_type: &str, source: &str, id: &str, time: &str, detail: Value) -> Value {
    json!({"version": "0", "id": id, "detail-type": detail_type, "source": source, "account": "123456789012",
           "time": time, "region": "eu-west-1", "resources": [], "detail": detail})
}

fn state(instance: &str, state: &str, time: &str) -> Value {
    event(
        "EC2 Instance State-change Notification",
        "aws.ec2",
        &format!("{instance}-{state}-{time}"),
        time,
        json!({"instance-id": instance, "state": state}),
    )
}

fn denied_grant(instance: &str) -> Value {
    let key = "arn:aws:kms:eu-west-1:123456789012:key/3f0c5a8e-6b1d-4e27-9a4c-2d7e81b05f63";
    event(
        "AWS API Call via CloudTrail",
        "aws.kms",
        "grant-1",
        "2026-11-20T07:00:07Z",
        json!({
            "eventID": "ct-grant-1", "eventTime": "2026-11-20T07:00:07Z", "eventSource": "kms.amazonaws.com",
            "eventName": "CreateGrant", "awsRegion": "eu-west-1", "recipientAccountId": "123456789012",
            "errorCode": "AccessDenied", "userAgent": "AWS Internal",
            "errorMessage": format!("User: arn:aws:sts::123456789012:assumed-role/job/s is not authorized to perform: kms:CreateGrant on resource: {key} because no identity-based policy allows the kms:CreateGrant action"),
            "userIdentity": {"type": "AssumedRole", "arn": "arn:aws:sts::123456789012:assumed-role/job/s"},
            "requestParameters": {"keyId": key, "granteePrincipal": format!("123456789012:aws:ec2-infrastructure:{instance}")}
        }),
    )
}

fn at(s: &str) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc)
}

async fn tags(ec2: &aws_sdk_ec2::Client, instance: &str) -> Vec<(String, String)> {
    let out = ec2
        .describe_tags()
        .filters(
            aws_sdk_ec2::types::Filter::builder()
                .name("resource-id")
                .values(instance)
                .build(),
        )
        .send()
        .await
        .unwrap();
    out.tags()
        .iter()
        .map(|t| {
            (
                t.key().unwrap_or_default().to_owned(),
                t.value().unwrap_or_default().to_owned(),
            )
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn opsitem_event_tag_and_timeline_for_a_failure_then_resolved() {
    let sdk = crate::support::sdk_config().await;
    let ec2 = aws_sdk_ec2::Client::new(&sdk);
    let ami = ec2.describe_images().send().await.unwrap().images()[0]
        .image_id()
        .unwrap()
        .to_owned();
    let run = ec2
        .run_instances()
        .image_id(ami)
        .min_count(1)
        .max_count(1)
        .send()
        .await
        .unwrap();
    let instance = run.instances()[0].instance_id().unwrap().to_owned();

    // The diagnosis event goes to the default bus; a rule delivers it to SQS.
    let sqs = aws_sdk_sqs::Client::new(&sdk);
    let queue = sqs
        .create_queue()
        .queue_name(format!("diagnoses-{instance}"))
        .send()
        .await
        .unwrap();
    let queue_url = queue.queue_url().unwrap().to_owned();
    let queue_arn = format!("arn:aws:sqs:eu-west-1:123456789012:diagnoses-{instance}");
    let events = aws_sdk_eventbridge::Client::new(&sdk);
    let rule = format!("diagnosed-{instance}");
    events
        .put_rule()
        .name(&rule)
        .event_pattern(
            json!({"source": ["start-doctor"], "detail-type": ["EC2 Start Failure Diagnosed"]})
                .to_string(),
        )
        .send()
        .await
        .unwrap();
    events
        .put_targets()
        .rule(&rule)
        .targets(
            aws_sdk_eventbridge::types::Target::builder()
                .id("q")
                .arn(&queue_arn)
                .build()
                .unwrap(),
        )
        .send()
        .await
        .unwrap();

    let m = mocks(true, instance.clone());
    let ssm = mock_client!(
        aws_sdk_ssm,
        RuleMode::MatchAny,
        &[&m.create, &m.resolve, &m.update]
    );
    let incidents = mock_client!(
        aws_sdk_ssmincidents,
        RuleMode::MatchAny,
        &[&m.list_incidents, &m.related, &m.timeline, &m.link]
    );
    let pipeline = Pipeline {
        ports: Io {
            store: MemoryStore::new(),
            notifier: RecordingNotifier::new(),
            deferrer: RecordingDeferrer::default(),
            annotator: AwsAnnotator {
                ssm: Some(ssm),
                incidents: Some(incidents),
                events: Some((events.clone(), "default".to_owned())),
                ec2: Some(ec2.clone()),
            },
        },
        live: NoLive,
        settings: Settings::default(),
    };
    let now = at("2026-11-20T07:05:00Z");
    for e in [
        state(&instance, "pending", "2026-11-20T07:00:05Z"),
        denied_grant(&instance),
        state(&instance, "stopped", "2026-11-20T07:00:12Z"),
        denied_grant(&instance),
    ] {
        handle(&pipeline, &e, now).await.unwrap();
    }

    assert_eq!(m.create.num_calls(), 1, "exactly one OpsItem");
    assert_eq!(
        m.timeline.num_calls(),
        1,
        "a timeline event on the open incident naming the instance"
    );
    assert_eq!(
        m.link.num_calls(),
        1,
        "the OpsItem linked from the incident"
    );
    let tag = tags(&ec2, &instance).await;
    assert!(
        tag.iter().any(|(k, v)| k == FAILURE_TAG
            && v.starts_with("kms_identity_policy_missing 2026-11-20T07:00:")),
        "{tag:?}"
    );
    let received = sqs
        .receive_message()
        .queue_url(&queue_url)
        .max_number_of_messages(10)
        .send()
        .await
        .unwrap();
    assert_eq!(received.messages().len(), 1, "one diagnosis event");
    let delivered: Value = serde_json::from_str(received.messages()[0].body().unwrap()).unwrap();
    assert_eq!(delivered["source"], "start-doctor");
    assert_eq!(delivered["detail"]["instance_id"], instance.as_str());
    assert_eq!(delivered["detail"]["cause"], "kms_identity_policy_missing");
    assert!(pipeline.ports.notifier.posts()[0]
        .message
        .to_string()
        .contains(OPS_ITEM));

    // The next start works: tag cleared, OpsItem resolved, thread reply.
    for e in [
        state(&instance, "pending", "2026-11-20T09:00:00Z"),
        state(&instance, "running", "2026-11-20T09:00:20Z"),
    ] {
        handle(&pipeline, &e, at("2026-11-20T09:01:00Z"))
            .await
            .unwrap();
    }
    assert_eq!(m.resolve.num_calls(), 1, "OpsItem resolved");
    assert!(
        tags(&ec2, &instance)
            .await
            .iter()
            .all(|(k, _)| k != FAILURE_TAG),
        "tag cleared"
    );
    assert_eq!(pipeline.ports.notifier.replies().len(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_open_incident_means_no_timeline_event() {
    let m = mocks(false, "i-0123456789abcdef0".to_owned());
    let ssm = mock_client!(
        aws_sdk_ssm,
        RuleMode::MatchAny,
        &[&m.create, &m.resolve, &m.update]
    );
    let incidents = mock_client!(
        aws_sdk_ssmincidents,
        RuleMode::MatchAny,
        &[&m.list_incidents, &m.related, &m.timeline, &m.link]
    );
    let pipeline = Pipeline {
        ports: Io {
            store: MemoryStore::new(),
            notifier: RecordingNotifier::new(),
            deferrer: RecordingDeferrer::default(),
            annotator: AwsAnnotator {
                ssm: Some(ssm),
                incidents: Some(incidents),
                events: None,
                ec2: None,
            },
        },
        live: NoLive,
        settings: Settings::default(),
    };
    handle(
        &pipeline,
        &denied_grant("i-0123456789abcdef0"),
        at("2026-11-20T07:05:00Z"),
    )
    .await
    .unwrap();
    assert_eq!(m.create.num_calls(), 1);
    assert_eq!(m.list_incidents.num_calls(), 1);
    assert_eq!(
        m.timeline.num_calls(),
        0,
        "Incident Manager is never required"
    );
    assert_eq!(pipeline.ports.notifier.posts().len(), 1);
}
