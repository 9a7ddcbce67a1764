//! The EBS gathering (`ebs-ceiling` and `start-doctor ebs --live`): what moto lacks (volume status with its
//! initialization details, fast snapshot restores, GetMetricData pages)
//! against `aws-smithy-mocks`, and a whole gather against the moto server
//! (instances, volumes, instance types, metrics put there first). What is
//! gathered must read back through `start-doctor ebs`'s own reader.

use aws_sdk_cloudwatch::operation::get_metric_data::GetMetricDataOutput;
use aws_sdk_cloudwatch::types::{MetricDataResult, StatusCode};
use aws_sdk_ec2::operation::describe_fast_snapshot_restores::DescribeFastSnapshotRestoresOutput;
use aws_sdk_ec2::operation::describe_volume_status::DescribeVolumeStatusOutput;
use aws_sdk_ec2::primitives::DateTime;
use aws_sdk_ec2::types::{
    DescribeFastSnapshotRestoreSuccessItem, FastSnapshotRestoreStateCode,
    InitializationStatusDetails, InitializationType, VolumeStatusDetails, VolumeStatusInfo,
    VolumeStatusInfoStatus, VolumeStatusItem, VolumeStatusName,
};
use aws_smithy_mocks::{mock, mock_client, RuleMode};
use serde_json::json;
use start_doctor_aws::ebs::gather as ebs;
use start_doctor_ebs::model::{FsrState, InitializationType as ReadType};
use start_doctor_ebs::read::{read_document, Status};

#[tokio::test]
async fn volume_status_keeps_the_initialization_details() {
    let status = mock!(aws_sdk_ec2::Client::describe_volume_status)
        .match_requests(|r| {
            r.filters()
                .iter()
                .any(|f| f.name() == Some("volume-id") && f.values() == ["vol-0c4f7a1b2d3e4f512"])
        })
        .sequence()
        .output(|| {
            DescribeVolumeStatusOutput::builder()
                .volume_statuses(
                    VolumeStatusItem::builder()
                        .volume_id("vol-0c4f7a1b2d3e4f512")
                        .availability_zone("eu-west-1a")
                        .volume_status(
                            VolumeStatusInfo::builder()
                                .status(VolumeStatusInfoStatus::Ok)
                                .details(
                                    VolumeStatusDetails::builder()
                                        .name(VolumeStatusName::IoPerformance)
                                        .status("normal")
                                        .build(),
                                )
                                .build(),
                        )
                        .initialization_status_details(
                            InitializationStatusDetails::builder()
                                .initialization_type(InitializationType::ProvisionedRate)
                                .progress(42)
                                .estimated_time_to_complete_in_seconds(1200)
                                .build(),
                        )
                        .build(),
                )
                .next_token("page-2")
                .build()
        })
        .output(|| DescribeVolumeStatusOutput::builder().build())
        .build();
    let client = mock_client!(aws_sdk_ec2, RuleMode::MatchAny, &[&status]);
    let (statuses, calls) = ebs::volume_status(&client, &["vol-0c4f7a1b2d3e4f512".to_owned()])
        .await
        .expect("the call answers");
    assert_eq!(calls, 2, "both pages");
    let doc = read_document(json!({"VolumeStatuses": statuses}).to_string().as_bytes()).unwrap();
    assert!(doc.problems.is_empty(), "{:?}", doc.problems);
    let init = doc.statuses[0]
        .initialization
        .as_ref()
        .expect("initialization details");
    assert_eq!(init.kind, Some(ReadType::ProvisionedRate));
    assert_eq!((init.progress, init.seconds_left), (Some(42), Some(1200)));
    assert_eq!(doc.statuses[0].io_performance.as_deref(), Some("normal"));
}

#[tokio::test]
async fn fast_snapshot_restores_read_back() {
    let fsr = mock!(aws_sdk_ec2::Client::describe_fast_snapshot_restores)
        .match_requests(|r| r.filters().iter().any(|f| f.name() == Some("snapshot-id")))
        .then_output(|| {
            DescribeFastSnapshotRestoresOutput::builder()
                .fast_snapshot_restores(
                    DescribeFastSnapshotRestoreSuccessItem::builder()
                        .snapshot_id("snap-0c4f7a1b2d3e4f522")
                        .availability_zone("eu-west-1a")
                        .state(FastSnapshotRestoreStateCode::Optimizing)
                        .enabled_time(DateTime::from_secs(1_795_158_000))
                        .build(),
                )
                .build()
        });
    let client = mock_client!(aws_sdk_ec2, RuleMode::MatchAny, &[&fsr]);
    let (restores, _) =
        ebs::fast_snapshot_restores(&client, &["snap-0c4f7a1b2d3e4f522".to_owned()])
            .await
            .unwrap();
    let doc = read_document(
        json!({"FastSnapshotRestores": restores})
            .to_string()
            .as_bytes(),
    )
    .unwrap();
    assert!(doc.problems.is_empty(), "{:?}", doc.problems);
    assert_eq!(doc.fast_restores[0].state, FsrState::Optimizing);
    assert!(doc.fast_restores[0].enabled_time.is_some());
}

#[tokio::test]
async fn get_metric_data_follows_every_page() {
    let page = |minute: i64, status: StatusCode, token: Option<&str>| {
        GetMetricDataOutput::builder()
            .metric_data_results(
                MetricDataResult::builder()
                    .id("vol0c4f7a1b2d3e4f512_volumereadops")
                    .label("AWS/EBS VolumeReadOps VolumeId=vol-0c4f7a1b2d3e4f512")
                    .timestamps(DateTime::from_secs(1_795_158_000 + minute * 60))
                    .values(6000.0)
                    .status_code(status)
                    .build(),
            )
            .set_next_token(token.map(str::to_owned))
            .build()
    };
    let pages = mock!(aws_sdk_cloudwatch::Client::get_metric_data)
        .match_requests(|r| r.metric_data_queries().len() == 1 && r.start_time().is_some())
        .sequence()
        .output(move || page(1, StatusCode::PartialData, Some("t2")))
        .output(move || page(0, StatusCode::Complete, None))
        .build();
    let client = mock_client!(aws_sdk_cloudwatch, RuleMode::MatchAny, &[&pages]);
    let request = json!({
        "MetricDataQueries": [{"Id": "vol0c4f7a1b2d3e4f512_volumereadops", "Label": "AWS/EBS VolumeReadOps VolumeId=vol-0c4f7a1b2d3e4f512",
            "MetricStat": {"Metric": {"Namespace": "AWS/EBS", "MetricName": "VolumeReadOps",
                "Dimensions": [{"Name": "VolumeId", "Value": "vol-0c4f7a1b2d3e4f512"}]}, "Period": 60, "Stat": "Sum"}}],
        "StartTime": "2026-11-20T07:00:00Z", "EndTime": "2026-11-20T08:00:00Z"
    });
    let (response, calls) = ebs::metric_data(&client, &request).await.unwrap();
    assert_eq!(calls, 2);
    let doc = read_document(response.to_string().as_bytes()).unwrap();
    assert!(doc.problems.is_empty(), "{:?}", doc.problems);
    assert_eq!(
        doc.results.len(),
        2,
        "one result per page, as the CLI prints them"
    );
    assert_eq!(doc.results[0].status, Status::PartialData);
    assert_eq!(doc.results[1].status, Status::Complete);
    let minutes: Vec<u32> = doc.results.iter().map(|r| r.points[0].0).collect();
    assert_eq!(minutes, [1_795_158_000 / 60 + 1, 1_795_158_000 / 60]);
}

#[tokio::test]
async fn a_request_without_times_is_refused_without_a_call() {
    let pages = mock!(aws_sdk_cloudwatch::Client::get_metric_data)
        .then_output(|| GetMetricDataOutput::builder().build());
    let client = mock_client!(aws_sdk_cloudwatch, RuleMode::MatchAny, &[&pages]);
    let err = ebs::metric_data(&client, &json!({"MetricDataQueries": []}))
        .await
        .unwrap_err();
    assert!(err.to_string().contains("StartTime"), "{err}");
    assert_eq!(pages.num_calls(), 0);
}
