//! The EBS evidence gathered from the account, for the `ebs-ceiling`
//! function and `start-doctor ebs --live` alike, written as the very files
//! `start-doctor ebs` reads (the AWS CLI's JSON shapes), so that `--save
//! DIR` keeps them, a later `start-doctor ebs DIR` gives the same findings,
//! and the function diagnoses with the same reader as the CLI.
//!
//! The calls, all read-only: `DescribeInstances` (the instances asked, by
//! an `instance-id` filter so that one terminated id does not fail the
//! call for the others, or every running one), `DescribeVolumes` (their volumes),
//! `DescribeInstanceTypes` (the types seen), `DescribeVolumeStatus`
//! (initialization progress), `DescribeFastSnapshotRestores` (the volumes'
//! snapshots), then `GetMetricData` with the requests `start-doctor ebs
//! query` writes (at most 500 queries each, every `NextToken` followed).
//! Filters take at most 200 values and `DescribeInstanceTypes` 100 types,
//! so longer lists are split. A call that fails for an optional piece
//! (volume status, fast snapshot restores, one metrics request) is reported
//! and the rest is still gathered; the findings then say what is missing.

use aws_sdk_cloudwatch::primitives::DateTime as CwDateTime;
use aws_sdk_cloudwatch::types::{Dimension, Metric, MetricDataQuery, MetricStat};
use aws_sdk_ec2::primitives::{DateTime, DateTimeFormat};
use aws_sdk_ec2::types::Filter;
use chrono::Utc;
use serde_json::{json, Value};
use start_doctor_ebs::ids::InstanceId;
use start_doctor_ebs::{query, read_document, Collected, Evidence};

/// Why a gathering failed as a whole.
#[derive(Debug, thiserror::Error)]
pub enum GatherError {
    /// An AWS call failed (after the SDK's retries).
    #[error("{operation}: {message}")]
    Call {
        /// The API, e.g. `DescribeInstances`.
        operation: &'static str,
        /// The SDK's error, with its cause chain.
        message: String,
    },
}

impl GatherError {
    /// An SDK error with its whole cause chain, which is where the SDK keeps
    /// the service's message.
    pub(crate) fn call(operation: &'static str, error: &dyn std::error::Error) -> Self {
        let message = start_doctor_core::text::error_chain(error);
        Self::Call { operation, message }
    }
}

/// Most values in one EC2 filter.
const FILTER_VALUES: usize = 200;
/// Most instance types in one `DescribeInstanceTypes` call.
const TYPES_PER_CALL: usize = 100;

/// What to gather.
#[derive(Clone, Debug)]
pub struct Gather {
    /// These instances (every running or pending one when empty).
    pub instance_ids: Vec<InstanceId>,
    /// Start of the metrics window.
    pub since: chrono::DateTime<Utc>,
    /// End of the metrics window.
    pub until: chrono::DateTime<Utc>,
    /// Seconds per point (60 for 1-minute metrics).
    pub period: u32,
    /// The clock, read by the caller: which resolution CloudWatch still
    /// keeps for the window.
    pub now: chrono::DateTime<Utc>,
}

/// One file of gathered evidence.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct GatheredFile {
    /// Its name, for `--save DIR`.
    pub name: String,
    /// Its JSON, as the AWS CLI prints it.
    pub bytes: Vec<u8>,
}

/// Everything gathered.
#[derive(Debug, Default)]
pub struct Gathered {
    /// The files, in the order they were gathered.
    pub files: Vec<GatheredFile>,
    /// The optional calls that failed, one line each.
    pub errors: Vec<String>,
    /// Notes for stderr (a raised period).
    pub notes: Vec<String>,
    /// AWS calls made.
    pub calls: usize,
}

impl Gathered {
    fn add(&mut self, name: impl Into<String>, value: &Value) {
        self.files.push(GatheredFile {
            name: name.into(),
            bytes: serde_json::to_vec_pretty(value).unwrap_or_default(),
        });
    }
}

/// An EC2 client for `config`.
pub fn ec2_client(config: &aws_config::SdkConfig) -> aws_sdk_ec2::Client {
    aws_sdk_ec2::Client::new(config)
}

/// A CloudWatch client for `config`.
pub fn cloudwatch_client(config: &aws_config::SdkConfig) -> aws_sdk_cloudwatch::Client {
    aws_sdk_cloudwatch::Client::new(config)
}

fn time(t: Option<&DateTime>) -> Option<String> {
    t.and_then(|t| t.fmt(DateTimeFormat::DateTime).ok())
}

fn filter(name: &str, values: &[String]) -> Filter {
    Filter::builder()
        .name(name)
        .set_values(Some(values.to_vec()))
        .build()
}

/// Gathers the evidence for `what`.
pub async fn gather(
    ec2: &aws_sdk_ec2::Client,
    cloudwatch: &aws_sdk_cloudwatch::Client,
    what: &Gather,
) -> Result<Gathered, GatherError> {
    let mut out = Gathered::default();
    let (instances, calls) = describe_instances(ec2, &what.instance_ids).await?;
    out.calls += calls;
    let ids: Vec<String> = instances
        .iter()
        .filter_map(|i| i["InstanceId"].as_str().map(str::to_owned))
        .collect();
    let types: Vec<String> = {
        let mut t: Vec<String> = instances
            .iter()
            .filter_map(|i| i["InstanceType"].as_str().map(str::to_owned))
            .collect();
        t.sort();
        t.dedup();
        t
    };
    out.add(
        "describe-instances.json",
        &json!({"Reservations": group_reservations(instances)}),
    );
    let (volumes, calls) = describe_volumes(ec2, &ids).await?;
    out.calls += calls;
    let volume_ids: Vec<String> = volumes
        .iter()
        .filter_map(|v| v["VolumeId"].as_str().map(str::to_owned))
        .collect();
    let mut snapshots: Vec<String> = volumes
        .iter()
        .filter_map(|v| {
            v["SnapshotId"]
                .as_str()
                .filter(|s| !s.is_empty())
                .map(str::to_owned)
        })
        .collect();
    snapshots.sort();
    snapshots.dedup();
    out.add("describe-volumes.json", &json!({"Volumes": volumes}));
    let (types, calls) = describe_instance_types(ec2, &types).await?;
    out.calls += calls;
    out.add(
        "describe-instance-types.json",
        &json!({"InstanceTypes": types}),
    );
    match volume_status(ec2, &volume_ids).await {
        Ok((statuses, calls)) => {
            out.calls += calls;
            out.add(
                "describe-volume-status.json",
                &json!({"VolumeStatuses": statuses}),
            );
        }
        Err(e) => out.errors.push(format!("describe-volume-status: {e}")),
    }
    match fast_snapshot_restores(ec2, &snapshots).await {
        Ok((restores, calls)) => {
            out.calls += calls;
            out.add(
                "describe-fast-snapshot-restores.json",
                &json!({"FastSnapshotRestores": restores}),
            );
        }
        Err(e) => out
            .errors
            .push(format!("describe-fast-snapshot-restores: {e}")),
    }
    // The requests are those `ebs query` writes for what was just
    // described: read back through the same reader.
    let mut collected = Collected::default();
    for file in &out.files {
        if let Ok(doc) = read_document(&file.bytes) {
            collected.add(doc);
        }
    }
    let evidence: Evidence = collected.finish();
    let requests = match query::requests(&evidence, what.since, what.until, what.period, what.now) {
        Ok(r) => r,
        Err(query::QueryError::Nothing) => return Ok(out),
        Err(e) => {
            return Err(GatherError::Call {
                operation: "GetMetricData",
                message: e.to_string(),
            })
        }
    };
    out.notes.extend(requests.notes.iter().cloned());
    for (n, request) in requests.requests.iter().enumerate() {
        out.add(format!("metrics-request-{n:03}.json"), request);
        match metric_data(cloudwatch, request).await {
            Ok((response, calls)) => {
                out.calls += calls;
                out.add(format!("metrics-{n:03}.json"), &response);
            }
            Err(e) => out.errors.push(format!("metrics request {n}: {e}")),
        }
    }
    Ok(out)
}

/// Instances into reservations by owner, as describe-instances prints
/// them (the owner is what the reader keeps of a reservation).
fn group_reservations(instances: Vec<Value>) -> Vec<Value> {
    let mut by_owner: std::collections::BTreeMap<String, Vec<Value>> =
        std::collections::BTreeMap::new();
    for mut i in instances {
        let owner = i
            .as_object_mut()
            .and_then(|o| o.remove("OwnerId"))
            .and_then(|v| v.as_str().map(str::to_owned))
            .unwrap_or_default();
        by_owner.entry(owner).or_default().push(i);
    }
    by_owner
        .into_iter()
        .map(|(owner, instances)| json!({"OwnerId": owner, "Instances": instances}))
        .collect()
}

/// `DescribeInstances`: the instances asked, or every running or pending
/// one; each with its reservation's owner under `OwnerId`.
pub async fn describe_instances(
    ec2: &aws_sdk_ec2::Client,
    ids: &[InstanceId],
) -> Result<(Vec<Value>, usize), GatherError> {
    let mut out = Vec::new();
    let mut calls = 0;
    let batches: Vec<Option<Vec<String>>> = if ids.is_empty() {
        vec![None]
    } else {
        ids.chunks(FILTER_VALUES)
            .map(|c| Some(c.iter().map(|i| i.to_string()).collect()))
            .collect()
    };
    for batch in batches {
        let mut request = ec2.describe_instances();
        request = match batch {
            // A filter, not `InstanceIds`: an id that no longer exists
            // (terminated since its notice was posted) is left out rather
            // than failing the whole call.
            Some(ids) => request.filters(filter("instance-id", &ids)),
            None => request.filters(filter(
                "instance-state-name",
                &["running".to_owned(), "pending".to_owned()],
            )),
        };
        let mut pages = request.into_paginator().send();
        while let Some(page) = pages.next().await {
            calls += 1;
            let page = page.map_err(|e| GatherError::call("DescribeInstances", &e))?;
            for r in page.reservations() {
                for i in r.instances() {
                    let mut v = json!({
                        "InstanceId": i.instance_id(),
                        "InstanceType": i.instance_type().map(|t| t.as_str()),
                        "State": {"Name": i.state().and_then(|s| s.name()).map(|n| n.as_str())},
                        "Placement": {"AvailabilityZone": i.placement().and_then(|p| p.availability_zone())},
                        "LaunchTime": time(i.launch_time()),
                        "BlockDeviceMappings": i.block_device_mappings().iter().map(|m| json!({
                            "DeviceName": m.device_name(),
                            "Ebs": {"VolumeId": m.ebs().and_then(|e| e.volume_id())},
                        })).collect::<Vec<_>>(),
                        "Tags": i.tags().iter().map(|t| json!({"Key": t.key(), "Value": t.value()})).collect::<Vec<_>>(),
                    });
                    v["OwnerId"] = json!(r.owner_id());
                    out.push(v);
                }
            }
        }
    }
    Ok((out, calls))
}

/// `DescribeVolumes` of the volumes attached to these instances.
pub async fn describe_volumes(
    ec2: &aws_sdk_ec2::Client,
    instance_ids: &[String],
) -> Result<(Vec<Value>, usize), GatherError> {
    let mut out = Vec::new();
    let mut calls = 0;
    for batch in instance_ids.chunks(FILTER_VALUES) {
        let mut pages = ec2
            .describe_volumes()
            .filters(filter("attachment.instance-id", batch))
            .into_paginator()
            .send();
        while let Some(page) = pages.next().await {
            calls += 1;
            let page = page.map_err(|e| GatherError::call("DescribeVolumes", &e))?;
            for v in page.volumes() {
                out.push(json!({
                    "VolumeId": v.volume_id(),
                    "VolumeType": v.volume_type().map(|t| t.as_str()),
                    "Size": v.size(),
                    "Iops": v.iops(),
                    "Throughput": v.throughput(),
                    "SnapshotId": v.snapshot_id(),
                    "FastRestored": v.fast_restored(),
                    "VolumeInitializationRate": v.volume_initialization_rate(),
                    "CreateTime": time(v.create_time()),
                    "AvailabilityZone": v.availability_zone(),
                    "State": v.state().map(|s| s.as_str()),
                    "Attachments": v.attachments().iter().map(|a| json!({
                        "InstanceId": a.instance_id(),
                        "Device": a.device(),
                        "State": a.state().map(|s| s.as_str()),
                    })).collect::<Vec<_>>(),
                }));
            }
        }
    }
    Ok((out, calls))
}

/// `DescribeInstanceTypes` of the types seen.
pub async fn describe_instance_types(
    ec2: &aws_sdk_ec2::Client,
    types: &[String],
) -> Result<(Vec<Value>, usize), GatherError> {
    let mut out = Vec::new();
    let mut calls = 0;
    for batch in types.chunks(TYPES_PER_CALL) {
        let mut pages = ec2
            .describe_instance_types()
            .set_instance_types(Some(
                batch
                    .iter()
                    .map(|t| aws_sdk_ec2::types::InstanceType::from(t.as_str()))
                    .collect(),
            ))
            .into_paginator()
            .send();
        while let Some(page) = pages.next().await {
            calls += 1;
            let page = page.map_err(|e| GatherError::call("DescribeInstanceTypes", &e))?;
            for t in page.instance_types() {
                let ebs = t.ebs_info().and_then(|e| e.ebs_optimized_info());
                out.push(json!({
                    "InstanceType": t.instance_type().map(|x| x.as_str()),
                    "CurrentGeneration": t.current_generation(),
                    "Hypervisor": t.hypervisor().map(|h| h.as_str()),
                    "VCpuInfo": {"DefaultVCpus": t.v_cpu_info().and_then(|v| v.default_v_cpus())},
                    "MemoryInfo": {"SizeInMiB": t.memory_info().and_then(|m| m.size_in_mib())},
                    "ProcessorInfo": {"SupportedArchitectures": t.processor_info()
                        .map(|p| p.supported_architectures().iter().map(|a| a.as_str()).collect::<Vec<_>>())
                        .unwrap_or_default()},
                    "EbsInfo": {"EbsOptimizedInfo": ebs.map(|e| json!({
                        "BaselineBandwidthInMbps": e.baseline_bandwidth_in_mbps(),
                        "BaselineThroughputInMBps": e.baseline_throughput_in_m_bps(),
                        "BaselineIops": e.baseline_iops(),
                        "MaximumBandwidthInMbps": e.maximum_bandwidth_in_mbps(),
                        "MaximumThroughputInMBps": e.maximum_throughput_in_m_bps(),
                        "MaximumIops": e.maximum_iops(),
                    }))},
                }));
            }
        }
    }
    Ok((out, calls))
}

/// `DescribeVolumeStatus` of these volumes (initialization progress).
pub async fn volume_status(
    ec2: &aws_sdk_ec2::Client,
    volume_ids: &[String],
) -> Result<(Vec<Value>, usize), GatherError> {
    let mut out = Vec::new();
    let mut calls = 0;
    for batch in volume_ids.chunks(FILTER_VALUES) {
        let mut pages = ec2
            .describe_volume_status()
            .filters(filter("volume-id", batch))
            .into_paginator()
            .send();
        while let Some(page) = pages.next().await {
            calls += 1;
            let page = page.map_err(|e| GatherError::call("DescribeVolumeStatus", &e))?;
            for s in page.volume_statuses() {
                let init = s.initialization_status_details();
                out.push(json!({
                    "VolumeId": s.volume_id(),
                    "AvailabilityZone": s.availability_zone(),
                    "VolumeStatus": s.volume_status().map(|v| json!({
                        "Status": v.status().map(|x| x.as_str()),
                        "Details": v.details().iter().map(|d| json!({
                            "Name": d.name().map(|n| n.as_str()),
                            "Status": d.status(),
                        })).collect::<Vec<_>>(),
                    })),
                    "InitializationStatusDetails": init.map(|i| json!({
                        "InitializationType": i.initialization_type().map(|t| t.as_str()),
                        "Progress": i.progress(),
                        "EstimatedTimeToCompleteInSeconds": i.estimated_time_to_complete_in_seconds(),
                    })),
                }));
            }
        }
    }
    Ok((out, calls))
}

/// `DescribeFastSnapshotRestores` of these snapshots, in every zone.
pub async fn fast_snapshot_restores(
    ec2: &aws_sdk_ec2::Client,
    snapshot_ids: &[String],
) -> Result<(Vec<Value>, usize), GatherError> {
    let mut out = Vec::new();
    let mut calls = 0;
    for batch in snapshot_ids.chunks(FILTER_VALUES) {
        let mut pages = ec2
            .describe_fast_snapshot_restores()
            .filters(filter("snapshot-id", batch))
            .into_paginator()
            .send();
        while let Some(page) = pages.next().await {
            calls += 1;
            let page = page.map_err(|e| GatherError::call("DescribeFastSnapshotRestores", &e))?;
            for f in page.fast_snapshot_restores() {
                out.push(json!({
                    "SnapshotId": f.snapshot_id(),
                    "AvailabilityZone": f.availability_zone(),
                    "State": f.state().map(|s| s.as_str()),
                    "EnabledTime": time(f.enabled_time()),
                }));
            }
        }
    }
    Ok((out, calls))
}

/// One `get-metric-data` request (as `ebs query` writes it) run with every
/// page followed: the response as the AWS CLI prints it (every page's
/// results in one list).
pub async fn metric_data(
    cloudwatch: &aws_sdk_cloudwatch::Client,
    request: &Value,
) -> Result<(Value, usize), GatherError> {
    let bad = |what: &str| GatherError::Call {
        operation: "GetMetricData",
        message: format!("the request has no valid {what}"),
    };
    let epoch = |name: &str| {
        request[name]
            .as_str()
            .and_then(|t| chrono::DateTime::parse_from_rfc3339(t).ok())
            .map(|t| CwDateTime::from_secs(t.timestamp()))
            .ok_or_else(|| bad(name))
    };
    let (start, end) = (epoch("StartTime")?, epoch("EndTime")?);
    let queries: Vec<MetricDataQuery> = request["MetricDataQueries"]
        .as_array()
        .ok_or_else(|| bad("MetricDataQueries"))?
        .iter()
        .map(|q| {
            let stat = &q["MetricStat"];
            let metric = Metric::builder()
                .set_namespace(stat["Metric"]["Namespace"].as_str().map(str::to_owned))
                .set_metric_name(stat["Metric"]["MetricName"].as_str().map(str::to_owned))
                .set_dimensions(Some(
                    stat["Metric"]["Dimensions"]
                        .as_array()
                        .into_iter()
                        .flatten()
                        .map(|d| {
                            Dimension::builder()
                                .set_name(d["Name"].as_str().map(str::to_owned))
                                .set_value(d["Value"].as_str().map(str::to_owned))
                                .build()
                        })
                        .collect(),
                ))
                .build();
            MetricDataQuery::builder()
                .set_id(q["Id"].as_str().map(str::to_owned))
                .set_label(q["Label"].as_str().map(str::to_owned))
                .metric_stat(
                    MetricStat::builder()
                        .metric(metric)
                        .set_period(stat["Period"].as_i64().and_then(|p| i32::try_from(p).ok()))
                        .set_stat(stat["Stat"].as_str().map(str::to_owned))
                        .build(),
                )
                .build()
        })
        .collect();
    let mut results = Vec::new();
    let mut messages = Vec::new();
    let mut calls = 0;
    let mut pages = cloudwatch
        .get_metric_data()
        .set_metric_data_queries(Some(queries))
        .start_time(start)
        .end_time(end)
        .into_paginator()
        .send();
    while let Some(page) = pages.next().await {
        calls += 1;
        let page = page.map_err(|e| GatherError::call("GetMetricData", &e))?;
        for r in page.metric_data_results() {
            results.push(json!({
                "Id": r.id(),
                "Label": r.label(),
                "Timestamps": r.timestamps().iter().filter_map(|t| t.fmt(aws_sdk_cloudwatch::primitives::DateTimeFormat::DateTime).ok()).collect::<Vec<_>>(),
                "Values": r.values(),
                "StatusCode": r.status_code().map(|s| s.as_str()),
            }));
        }
        for m in page.messages() {
            messages.push(json!({"Code": m.code(), "Value": m.value()}));
        }
    }
    Ok((
        json!({"MetricDataResults": results, "Messages": messages}),
        calls,
    ))
}
