//! AWS's own examples read as they are published: the AWS CLI command
//! reference (awscli/examples in github.com/aws/aws-cli, and the CLI v2
//! reference pages) and the Amazon EBS User Guide. Each is sample data
//! quoted with its source; none was written for start-doctor.

use start_doctor_ebs::read::{read_document, QueryTarget, Status};
use start_doctor_ebs::{diagnose, Evidence, Options};

/// `aws cloudwatch get-metric-data`, Example 1 ("To get the Average Total
/// IOPS for the specified EC2 using math expression"), the contents of
/// `file.json` given to `--metric-data-queries`:
/// <https://awscli.amazonaws.com/v2/documentation/api/latest/reference/cloudwatch/get-metric-data.html>
const GET_METRIC_DATA_1_QUERIES: &str = r#"[
    {
        "Id": "m3",
        "Expression": "(m1+m2)/300",
        "Label": "Avg Total IOPS"
    },
    {
        "Id": "m1",
        "MetricStat": {
            "Metric": {
                "Namespace": "AWS/EC2",
                "MetricName": "EBSReadOps",
                "Dimensions": [
                    {
                        "Name": "InstanceId",
                        "Value": "i-abcdef"
                    }
                ]
            },
            "Period": 300,
            "Stat": "Sum",
            "Unit": "Count"
        },
        "ReturnData": false
    },
    {
        "Id": "m2",
        "MetricStat": {
            "Metric": {
                "Namespace": "AWS/EC2",
                "MetricName": "EBSWriteOps",
                "Dimensions": [
                    {
                        "Name": "InstanceId",
                        "Value": "i-abcdef"
                    }
                ]
            },
            "Period": 300,
            "Stat": "Sum",
            "Unit": "Count"
        },
        "ReturnData": false
    }
]"#;

/// Its output.
const GET_METRIC_DATA_1_OUTPUT: &str = r#"{
    "MetricDataResults": [
        {
            "Id": "m3",
            "Label": "Avg Total IOPS",
            "Timestamps": [
                "2024-09-29T22:10:00+00:00"
            ],
            "Values": [
                96.85
            ],
            "StatusCode": "Complete"
        }
    ],
    "Messages": []
}"#;

/// Example 2 ("To monitor the estimated AWS charges"), the output.
const GET_METRIC_DATA_2_OUTPUT: &str = r#"{
    "MetricDataResults": [
        {
            "Id": "m1",
            "Label": "EstimatedCharges",
            "Timestamps": [
                "2024-09-26T12:00:00+00:00"
            ],
            "Values": [
                542.38
            ],
            "StatusCode": "Complete"
        }
    ],
    "Messages": []
}"#;

/// `aws ec2 describe-volumes`, "To describe all volumes"
/// (awscli/examples/ec2/describe-volumes.rst).
const DESCRIBE_VOLUMES: &str = r#"{
       "Volumes": [
           {
               "AvailabilityZone": "us-east-1a",
               "Attachments": [
                   {
                       "AttachTime": "2013-12-18T22:35:00.000Z",
                       "InstanceId": "i-1234567890abcdef0",
                       "VolumeId": "vol-049df61146c4d7901",
                       "State": "attached",
                       "DeleteOnTermination": true,
                       "Device": "/dev/sda1"
                   }
               ],
               "Encrypted": false,
               "VolumeType": "gp2",
               "VolumeId": "vol-049df61146c4d7901",
               "State": "in-use",
               "SnapshotId": "snap-1234567890abcdef0",
               "CreateTime": "2013-12-18T22:35:00.084Z",
               "Size": 8
           },
           {
               "AvailabilityZone": "us-east-1a",
               "Attachments": [],
               "Encrypted": false,
               "VolumeType": "gp2",
               "VolumeId": "vol-1234567890abcdef0",
               "State": "available",
               "Iops": 1000,
               "SnapshotId": null,
               "CreateTime": "2014-02-27T00:02:41.791Z",
               "Size": 100
           }
       ]
   }"#;

/// `aws ec2 describe-volume-status`, "To describe the status of a single
/// volume" (awscli/examples/ec2/describe-volume-status.rst).
const DESCRIBE_VOLUME_STATUS: &str = r#"{
       "VolumeStatuses": [
           {
               "VolumeStatus": {
                   "Status": "ok",
                   "Details": [
                       {
                           "Status": "passed",
                           "Name": "io-enabled"
                       },
                       {
                           "Status": "not-applicable",
                           "Name": "io-performance"
                       }
                   ]
               },
               "AvailabilityZone": "us-east-1a",
               "VolumeId": "vol-2725bc51",
               "Actions": [],
               "Events": []
           }
       ]
   }"#;

/// `aws ec2 describe-instance-types`, Example 1, t2.micro (a type without
/// EBS optimization: no `EbsOptimizedInfo`)
/// (awscli/examples/ec2/describe-instance-types.rst).
const DESCRIBE_INSTANCE_TYPES: &str = r#"{
        "InstanceTypes": [
            {
                "InstanceType": "t2.micro",
                "CurrentGeneration": true,
                "FreeTierEligible": true,
                "SupportedUsageClasses": [
                    "on-demand",
                    "spot"
                ],
                "SupportedRootDeviceTypes": [
                    "ebs"
                ],
                "BareMetal": false,
                "Hypervisor": "xen",
                "ProcessorInfo": {
                    "SupportedArchitectures": [
                        "i386",
                        "x86_64"
                    ],
                    "SustainedClockSpeedInGhz": 2.5
                },
                "VCpuInfo": {
                    "DefaultVCpus": 1,
                    "DefaultCores": 1,
                    "DefaultThreadsPerCore": 1,
                    "ValidCores": [
                        1
                    ],
                    "ValidThreadsPerCore": [
                        1
                    ]
                },
                "MemoryInfo": {
                    "SizeInMiB": 1024
                },
                "InstanceStorageSupported": false,
                "EbsInfo": {
                    "EbsOptimizedSupport": "unsupported",
                    "EncryptionSupport": "supported"
                },
                "NetworkInfo": {
                    "NetworkPerformance": "Low to Moderate",
                    "MaximumNetworkInterfaces": 2,
                    "Ipv4AddressesPerInterface": 2,
                    "Ipv6AddressesPerInterface": 2,
                    "Ipv6Supported": true,
                    "EnaSupport": "unsupported"
                },
                "PlacementGroupInfo": {
                    "SupportedStrategies": [
                        "partition",
                        "spread"
                    ]
                },
                "HibernationSupported": false,
                "BurstablePerformanceSupported": true,
                "DedicatedHostsSupported": false,
                "AutoRecoverySupported": true
            }
        ]
    }"#;

/// `aws ec2 describe-fast-snapshot-restores`
/// (awscli/examples/ec2/describe-fast-snapshot-restores.rst).
const DESCRIBE_FAST_SNAPSHOT_RESTORES: &str = r#"{
        "FastSnapshotRestores": [
            {
                "SnapshotId": "snap-1234567890abcdef0",
                "AvailabilityZone": "us-west-2c",
                "State": "disabled",
                "StateTransitionReason": "Client.UserInitiated - Lifecycle state transition",
                "OwnerId": "123456789012",
                "EnablingTime": "2020-01-25T23:57:49.596Z",
                "OptimizingTime": "2020-01-25T23:58:25.573Z",
                "EnabledTime": "2020-01-25T23:59:29.852Z",
                "DisablingTime": "2020-01-26T00:40:56.069Z",
                "DisabledTime": "2020-01-26T00:41:27.390Z"
            }
        ]
    }"#;

/// EBS User Guide, "EventBridge for Amazon EBS", a successful
/// `createVolume` event: an EBS Volume Notification that is not
/// `initializeVolume`.
const CREATE_VOLUME_EVENT: &str = r#"{
   "version": "0",
   "id": "01234567-0123-0123-0123-012345678901",
   "detail-type": "EBS Volume Notification",
   "source": "aws.ec2",
   "account": "012345678901",
   "time": "yyyy-mm-ddThh:mm:ssZ",
   "region": "us-east-1",
   "resources": [
      "arn:aws:ec2:us-east-1:012345678901:volume/vol-01234567"
   ],
   "detail": {
      "result": "available",
      "cause": "",
      "event": "createVolume",
      "request-id": "01234567-0123-0123-0123-0123456789ab"
   }
}"#;

#[test]
fn get_metric_data_example_1_reads_and_its_math_is_left_aside() {
    let queries = read_document(GET_METRIC_DATA_1_QUERIES.as_bytes()).unwrap();
    assert!(queries.problems.is_empty(), "{:?}", queries.problems);
    assert_eq!(queries.queries.len(), 3);
    assert_eq!(queries.queries[0].target, QueryTarget::Expression);
    // `i-abcdef` is the documentation's placeholder, not an instance id:
    // the metrics it names are not series to diagnose.
    assert!(matches!(queries.queries[1].target, QueryTarget::Unread(_)));
    let output = read_document(GET_METRIC_DATA_1_OUTPUT.as_bytes()).unwrap();
    assert_eq!(output.results.len(), 1);
    assert_eq!(output.results[0].status, Status::Complete);
    assert_eq!(output.results[0].points.len(), 1);
    let evidence = Evidence::from_documents([queries, output]);
    assert!(evidence.series.is_empty());
    assert!(
        evidence
            .warnings
            .iter()
            .any(|w| w.contains("metric math results (m3) are not read")),
        "{:?}",
        evidence.warnings
    );
    assert!(diagnose(&evidence, &Options::default()).is_empty());
}

#[test]
fn get_metric_data_example_2_is_an_unrelated_metric() {
    let output = read_document(GET_METRIC_DATA_2_OUTPUT.as_bytes()).unwrap();
    assert!(output.problems.is_empty());
    let evidence = Evidence::from_documents([output]);
    assert!(evidence.series.is_empty());
    // Without its request, a bare metric name says nothing of the
    // resource: the warning asks for the request.
    assert!(
        evidence.warnings.iter().any(|w| w.contains("request")),
        "{:?}",
        evidence.warnings
    );
}

#[test]
fn describe_volumes_example_reads_both_volumes() {
    let doc = read_document(DESCRIBE_VOLUMES.as_bytes()).unwrap();
    assert!(doc.problems.is_empty(), "{:?}", doc.problems);
    assert_eq!(doc.volumes.len(), 2);
    assert_eq!(
        doc.volumes[0].attachments[0].0.as_str(),
        "i-1234567890abcdef0"
    );
    assert_eq!(
        doc.volumes[0].snapshot_id.as_ref().map(|s| s.as_str()),
        Some("snap-1234567890abcdef0")
    );
    assert_eq!(doc.volumes[1].snapshot_id, None, "SnapshotId null");
    assert_eq!(doc.volumes[1].iops, Some(1000));
    // An instance known only from an attachment, without metrics or a
    // description, is not examined: there is nothing to say about it.
    let evidence = Evidence::from_documents([doc]);
    assert!(diagnose(&evidence, &Options::default()).is_empty());
}

#[test]
fn describe_volume_status_example_reads() {
    let doc = read_document(DESCRIBE_VOLUME_STATUS.as_bytes()).unwrap();
    assert!(doc.problems.is_empty(), "{:?}", doc.problems);
    assert_eq!(doc.statuses[0].id.as_str(), "vol-2725bc51");
    assert_eq!(
        doc.statuses[0].io_performance.as_deref(),
        Some("not-applicable")
    );
    assert_eq!(doc.statuses[0].initialization, None);
}

#[test]
fn describe_instance_types_example_has_no_ebs_limits() {
    let doc = read_document(DESCRIBE_INSTANCE_TYPES.as_bytes()).unwrap();
    assert!(doc.problems.is_empty(), "{:?}", doc.problems);
    let t = &doc.instance_types[0];
    assert_eq!(t.instance_type.as_str(), "t2.micro");
    assert_eq!((t.baseline.iops, t.maximum.throughput_mibps), (None, None));
    assert_eq!(t.nitro, Some(false));
    assert_eq!(t.vcpus, Some(1));
}

#[test]
fn describe_fast_snapshot_restores_example_reads() {
    let doc = read_document(DESCRIBE_FAST_SNAPSHOT_RESTORES.as_bytes()).unwrap();
    assert!(doc.problems.is_empty(), "{:?}", doc.problems);
    assert_eq!(doc.fast_restores[0].state.as_str(), "disabled");
    assert!(doc.fast_restores[0].enabled_time.is_some());
}

#[test]
fn a_create_volume_event_is_not_an_initialization() {
    let doc = read_document(CREATE_VOLUME_EVENT.as_bytes()).unwrap();
    assert!(doc.problems.is_empty(), "{:?}", doc.problems);
    assert!(doc.is_empty());
}
