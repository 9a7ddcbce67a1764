//! Content detection, every input shape, and fault isolation.

use std::io::Write;

use super::*;
use crate::metric::{Metric, Resource};
use crate::model::{FsrState, InitializationType, VolumeType};

fn read(text: &str) -> Document {
    read_document(text.as_bytes()).unwrap_or_else(|e| panic!("{e}\n{text}"))
}

#[test]
fn describe_instances_keeps_type_zone_volumes_and_name() {
    let doc = read(
        r#"{"Reservations": [{"OwnerId": "111122223333", "Instances": [{
            "InstanceId": "i-0a1b2c3d4e5f60002", "InstanceType": "m5.large",
            "State": {"Code": 16, "Name": "running"},
            "Placement": {"AvailabilityZone": "eu-west-1a", "Tenancy": "default"},
            "LaunchTime": "2026-11-20T06:58:12+00:00",
            "BlockDeviceMappings": [{"DeviceName": "/dev/sda1", "Ebs": {"VolumeId": "vol-0aaa1b2c3d4e50002", "Status": "attached"}}],
            "Tags": [{"Key": "Name", "Value": "reports-db"}]}]}]}"#,
    );
    let i = &doc.instances[0];
    assert_eq!(i.id.as_str(), "i-0a1b2c3d4e5f60002");
    assert_eq!(
        i.instance_type.as_ref().map(|t| t.as_str()),
        Some("m5.large")
    );
    assert_eq!(
        i.zone.as_ref().and_then(|z| z.region()).as_deref(),
        Some("eu-west-1")
    );
    assert_eq!(i.account.as_deref(), Some("111122223333"));
    assert_eq!(i.name.as_deref(), Some("reports-db"));
    assert_eq!(i.volumes[0].0.as_str(), "vol-0aaa1b2c3d4e50002");
    assert_eq!(i.volumes[0].1.as_deref(), Some("/dev/sda1"));
    assert!(doc.problems.is_empty());
}

#[test]
fn describe_volumes_reads_performance_and_restore_facts() {
    let doc = read(
        r#"{"Volumes": [
          {"VolumeId": "vol-0aaa1b2c3d4e50002", "VolumeType": "gp3", "Size": 500, "Iops": 3000, "Throughput": 125,
           "SnapshotId": "snap-0bbb1c2d3e4f50001", "FastRestored": false, "CreateTime": "2026-11-20T06:57:40.123Z",
           "AvailabilityZone": "eu-west-1a", "State": "in-use",
           "Attachments": [{"InstanceId": "i-0a1b2c3d4e5f60002", "Device": "/dev/sda1", "State": "attached"}]},
          {"VolumeId": "vol-0ccc1b2c3d4e50003", "VolumeType": "gp2", "Size": 100, "Iops": 300, "SnapshotId": "",
           "Attachments": [{"InstanceId": "i-0a1b2c3d4e5f60003", "State": "detached"}]},
          {"VolumeId": "not-a-volume"}
        ]}"#,
    );
    assert_eq!(doc.volumes.len(), 2);
    let v = &doc.volumes[0];
    assert_eq!(v.volume_type, Some(VolumeType::Gp3));
    assert_eq!(
        (v.size_gib, v.iops, v.throughput_mibps),
        (Some(500), Some(3000), Some(125))
    );
    assert_eq!(
        v.snapshot_id.as_ref().map(|s| s.as_str()),
        Some("snap-0bbb1c2d3e4f50001")
    );
    assert_eq!(v.fast_restored, Some(false));
    assert!(v.create_time.is_some());
    assert_eq!(v.attachments.len(), 1);
    // An empty SnapshotId is a volume created empty; a detached attachment
    // is none.
    assert_eq!(doc.volumes[1].snapshot_id, None);
    assert!(doc.volumes[1].attachments.is_empty());
    // The bad item is one problem; the rest is kept.
    assert_eq!(doc.problems.len(), 1, "{:?}", doc.problems);
    assert!(doc.problems[0].message.contains("not-a-volume"));
}

#[test]
fn describe_instance_types_converts_megabytes_to_mebibytes() {
    let doc = read(
        r#"{"InstanceTypes": [{"InstanceType": "m5.large", "CurrentGeneration": true, "Hypervisor": "nitro",
            "VCpuInfo": {"DefaultVCpus": 2}, "MemoryInfo": {"SizeInMiB": 8192},
            "ProcessorInfo": {"SupportedArchitectures": ["x86_64"]},
            "EbsInfo": {"EbsOptimizedSupport": "default", "EncryptionSupport": "supported",
              "EbsOptimizedInfo": {"BaselineBandwidthInMbps": 650, "BaselineThroughputInMBps": 81.25, "BaselineIops": 3600,
                                   "MaximumBandwidthInMbps": 4750, "MaximumThroughputInMBps": 593.75, "MaximumIops": 18750},
              "NvmeSupport": "required"}}]}"#,
    );
    let t = &doc.instance_types[0];
    assert_eq!(t.baseline.iops, Some(3600.0));
    assert_eq!(t.baseline_mbps, Some(81.25));
    assert!((t.baseline.throughput_mibps.unwrap() - 77.486).abs() < 0.001);
    assert!((t.maximum.throughput_mibps.unwrap() - 566.244).abs() < 0.001);
    assert_eq!(t.nitro, Some(true));
    assert!(t.bursts());
}

#[test]
fn describe_volume_status_reads_initialization_progress() {
    let doc = read(
        r#"{"VolumeStatuses": [{"VolumeId": "vol-0aaa1b2c3d4e50002", "AvailabilityZone": "eu-west-1a",
            "VolumeStatus": {"Status": "ok", "Details": [{"Name": "io-enabled", "Status": "passed"}, {"Name": "io-performance", "Status": "normal"}]},
            "InitializationStatusDetails": {"InitializationType": "provisioned-rate", "Progress": 42, "EstimatedTimeToCompleteInSeconds": 1200},
            "Actions": [], "Events": []},
           {"VolumeId": "vol-0aaa1b2c3d4e50003", "InitializationStatusDetails": {"Progress": 140}}]}"#,
    );
    let s = &doc.statuses[0];
    let i = s.initialization.as_ref().unwrap();
    assert_eq!(i.kind, Some(InitializationType::ProvisionedRate));
    assert_eq!((i.progress, i.seconds_left), (Some(42), Some(1200)));
    assert_eq!(s.io_performance.as_deref(), Some("normal"));
    assert_eq!(doc.problems.len(), 1, "a progress above 100 is refused");
}

#[test]
fn describe_fast_snapshot_restores() {
    let doc = read(
        r#"{"FastSnapshotRestores": [{"SnapshotId": "snap-0bbb1c2d3e4f50001", "AvailabilityZone": "eu-west-1a",
            "State": "optimizing", "StateTransitionReason": "Client.UserInitiated - Lifecycle state transition",
            "OwnerId": "111122223333", "EnablingTime": "2026-11-20T08:00:00.000Z", "OptimizingTime": "2026-11-20T08:01:00.000Z"}]}"#,
    );
    assert_eq!(doc.fast_restores[0].state, FsrState::Optimizing);
    assert_eq!(doc.fast_restores[0].zone.as_str(), "eu-west-1a");
}

const REQUEST: &str = r#"{"MetricDataQueries": [
  {"Id": "vol0aaa1b2c3d4e50002_volumereadops", "MetricStat": {"Metric": {"Namespace": "AWS/EBS", "MetricName": "VolumeReadOps",
    "Dimensions": [{"Name": "VolumeId", "Value": "vol-0aaa1b2c3d4e50002"}]}, "Period": 60, "Stat": "Sum"}},
  {"Id": "m3", "Expression": "m1/60", "Label": "IOPS"},
  {"Id": "cpu", "MetricStat": {"Metric": {"Namespace": "AWS/EC2", "MetricName": "CPUUtilization",
    "Dimensions": [{"Name": "InstanceId", "Value": "i-0a1b2c3d4e5f60002"}]}, "Period": 60, "Stat": "Average"}}
 ], "StartTime": "2026-11-20T07:00:00Z", "EndTime": "2026-11-20T08:00:00Z"}"#;

#[test]
fn a_request_names_what_each_id_asks() {
    let doc = read(REQUEST);
    assert_eq!(doc.queries.len(), 3);
    match &doc.queries[0].target {
        QueryTarget::Series { key, stat } => {
            assert_eq!(key.metric, Metric::VolumeReadOps);
            assert!(matches!(key.resource, Resource::Volume(_)));
            assert_eq!(stat.as_deref(), Some("Sum"));
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(doc.queries[0].period, Some(60));
    assert_eq!(doc.queries[1].target, QueryTarget::Expression);
    assert!(matches!(doc.queries[2].target, QueryTarget::Unread(_)));
    // The bare list given to --metric-data-queries reads the same.
    let bare: serde_json::Value = serde_json::from_str(REQUEST).unwrap();
    let list = bare["MetricDataQueries"].to_string();
    assert_eq!(read(&list).queries, doc.queries);
}

#[test]
fn a_response_reads_both_timestamp_forms_and_keeps_its_pages() {
    let doc = read(
        r#"{"MetricDataResults": [
            {"Id": "a", "Label": "VolumeReadOps", "Timestamps": ["2026-11-20T07:02:00+00:00", "2026-11-20T07:01:00Z"], "Values": [120.0, 60], "StatusCode": "PartialData"},
            {"Id": "a", "Label": "VolumeReadOps", "Timestamps": [1795158000], "Values": [30], "StatusCode": "Complete"}
           ], "Messages": [], "NextToken": null}"#,
    );
    assert_eq!(doc.results.len(), 2);
    let minute = |t: &str| (crate::read::parse_timestamp(t).unwrap() / 60) as u32;
    assert_eq!(
        doc.results[0].points,
        [
            (minute("2026-11-20T07:02:00Z"), 120.0),
            (minute("2026-11-20T07:01:00Z"), 60.0)
        ]
    );
    assert_eq!(doc.results[0].status, Status::PartialData);
    assert_eq!(doc.results[1].points, [(1795158000 / 60, 30.0)]);
    assert!(doc.problems.is_empty(), "{:?}", doc.problems);
}

#[test]
fn bad_points_and_mismatched_lengths_are_problems_not_failures() {
    let doc = read(
        r#"{"MetricDataResults": [{"Id": "a", "Timestamps": ["2026-11-20T07:02:00Z", "yesterday", "2026-11-20T07:04:00Z"], "Values": [1, 2, "x", 4]}],
            "Messages": [{"Code": "MaxMetricsExceeded", "Value": "Maximum number of allowed metrics exceeded"}]}"#,
    );
    assert_eq!(doc.results[0].points.len(), 1);
    let messages: Vec<&str> = doc.problems.iter().map(|p| p.message.as_str()).collect();
    assert_eq!(messages.len(), 3, "{messages:?}");
    assert!(messages
        .iter()
        .any(|m| m.contains("3 timestamps but 4 values")));
    assert!(messages.iter().any(|m| m.contains("2 points")));
    assert!(messages
        .iter()
        .any(|m| m.contains("Maximum number of allowed metrics exceeded")));
}

#[test]
fn eventbridge_initialization_and_alarm_events() {
    let doc = read(
        r#"{"version": "0", "id": "e1", "detail-type": "EBS Volume Notification", "source": "aws.ec2", "account": "111122223333",
            "time": "2026-11-20T10:41:00Z", "region": "eu-west-1",
            "resources": ["arn:aws:ec2:eu-west-1:111122223333:volume/vol-0aaa1b2c3d4e50002"],
            "detail": {"event": "initializeVolume", "result": "succeeded", "cause": "", "request-id": "r1"}}
           {"version": "0", "id": "e2", "detail-type": "CloudWatch Alarm State Change", "source": "aws.cloudwatch", "account": "111122223333",
            "time": "2026-11-20T13:35:00Z", "region": "eu-west-1", "resources": ["arn:aws:cloudwatch:eu-west-1:111122223333:alarm:ebs-limits"],
            "detail": {"alarmName": "ebs-limits", "state": {"value": "ALARM", "reason": "x", "timestamp": "2026-11-20T13:35:00.000+0000"},
              "previousState": {"value": "OK"},
              "configuration": {"metrics": [{"id": "m1", "metricStat": {"metric": {"namespace": "AWS/EC2", "name": "InstanceEBSThroughputExceededCheck",
                 "dimensions": {"InstanceId": "i-0a1b2c3d4e5f60002"}}, "period": 60, "stat": "Maximum"}, "returnData": true}]}}}
           {"version": "0", "id": "e3", "detail-type": "EC2 Instance State-change Notification", "source": "aws.ec2", "detail": {"instance-id": "i-0a1b2c3d4e5f60002", "state": "running"}}"#,
    );
    assert_eq!(doc.initialized.len(), 1);
    assert_eq!(doc.initialized[0].0.as_str(), "vol-0aaa1b2c3d4e50002");
    assert_eq!(doc.alarms.len(), 1);
    assert_eq!(doc.alarms[0].instances[0].as_str(), "i-0a1b2c3d4e5f60002");
    assert_eq!(
        doc.alarms[0].metrics,
        ["InstanceEBSThroughputExceededCheck"]
    );
    assert!(doc.problems.is_empty(), "{:?}", doc.problems);
}

#[test]
fn the_start_doctors_inputs_are_known_and_add_nothing() {
    for text in [
        r#"{"Records": [{"eventSource": "kms.amazonaws.com", "eventName": "CreateGrant"}]}"#,
        r#"{"Events": [], "NextToken": "x"}"#,
        r#"{"KeyMetadata": {"Arn": "arn:aws:kms:eu-west-1:111122223333:key/k", "KeyState": "Enabled"}}"#,
        r#"{"KeyArn": "arn:aws:kms:eu-west-1:111122223333:key/k", "Policy": "{}"}"#,
        r#"{"eventSource": "kms.amazonaws.com", "eventName": "Decrypt", "eventID": "x"}"#,
        r#"{"RoleDetailList": [], "UserDetailList": []}"#,
    ] {
        let doc = read(text);
        assert!(doc.is_empty() && doc.problems.is_empty(), "{text}");
    }
}

#[test]
fn unknown_shapes_and_bad_json_are_errors_naming_the_line() {
    let err = read_document(b"{\"Volumes\": []}\n{\"Hello\": 1}\n").unwrap_err();
    assert!(matches!(err, DocumentError::Shape { line: 2, .. }), "{err}");
    assert!(err.to_string().contains("[Hello]"), "{err}");
    let err = read_document(b"{\"Volumes\": [").unwrap_err();
    assert!(matches!(err, DocumentError::Json { .. }), "{err}");
    let err = read_document(&[0x1f, 0x8b, 8, 0, 0, 0]).unwrap_err();
    assert!(matches!(err, DocumentError::Gzip(_)), "{err}");
}

#[test]
fn gzip_json_lines_and_a_bom_read_alike() {
    let text = format!("{REQUEST}\n{REQUEST}\n");
    let plain = read(&text);
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    gz.write_all(format!("\u{feff}{text}").as_bytes()).unwrap();
    assert_eq!(read_document(&gz.finish().unwrap()).unwrap(), plain);
    assert_eq!(plain.queries.len(), 6);
}

#[test]
fn directories_skip_what_is_not_json() {
    assert!(looks_readable(b"  {\"a\": 1}"));
    assert!(looks_readable(b"[1]"));
    assert!(looks_readable(&[0x1f, 0x8b]));
    assert!(!looks_readable(b"# README"));
    assert!(!looks_readable(b"eventversion,useridentity\n"));
}
