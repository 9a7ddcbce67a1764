//! AWS CLI `describe-*` output (the same shapes `--live --save` writes):
//! instances, volumes, instance types, volume status, fast snapshot
//! restores. Field names as in the EC2 API reference; every field is
//! optional except the id, since real output varies with the CLI version,
//! the account's features and the resource's age.

use chrono::{DateTime, Utc};
use serde::Deserialize;
use serde_json::value::RawValue;

use super::document::each_item;
use super::Document;
use crate::ids::{Account, InstanceId, InstanceType, SnapshotId, VolumeId, Zone};
use crate::model::{
    mb_to_mib, Ceiling, FastRestore, FsrState, Initialization, InitializationType, Instance,
    TypeLimits, Volume, VolumeStatus, VolumeType,
};

fn time(text: Option<&str>) -> Option<DateTime<Utc>> {
    text.and_then(|t| DateTime::parse_from_rfc3339(t).ok())
        .map(|t| t.with_timezone(&Utc))
}

fn zone(text: Option<&str>) -> Option<Zone> {
    text.and_then(Zone::parse)
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct RawReservation<'a> {
    #[serde(default)]
    owner_id: Option<String>,
    #[serde(borrow, default)]
    instances: Vec<&'a RawValue>,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct RawInstance {
    instance_id: String,
    #[serde(default)]
    instance_type: Option<String>,
    #[serde(default)]
    state: Option<RawState>,
    #[serde(default)]
    placement: Option<RawPlacement>,
    #[serde(default)]
    block_device_mappings: Vec<RawMapping>,
    #[serde(default)]
    tags: Vec<RawTag>,
    #[serde(default)]
    launch_time: Option<String>,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct RawState {
    #[serde(default)]
    name: Option<String>,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct RawPlacement {
    #[serde(default)]
    availability_zone: Option<String>,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct RawMapping {
    #[serde(default)]
    device_name: Option<String>,
    #[serde(default)]
    ebs: Option<RawMappingEbs>,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct RawMappingEbs {
    #[serde(default)]
    volume_id: Option<String>,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct RawTag {
    key: String,
    #[serde(default)]
    value: String,
}

/// `aws ec2 describe-instances` (`Reservations`).
pub(super) fn read_instances(raw: &RawValue, doc: &mut Document) {
    each_item(raw, "describe-instances reservation", doc, |raw, doc| {
        let reservation: RawReservation =
            serde_json::from_str(raw.get()).map_err(|e| e.to_string())?;
        let owner = reservation.owner_id.as_deref().and_then(Account::parse);
        for raw in reservation.instances {
            match instance(raw, owner.clone()) {
                Ok(i) => doc.instances.push(i),
                Err(message) => doc.problems.push(super::Problem::new(format!(
                    "describe-instances instance: {message}"
                ))),
            }
        }
        Ok(())
    });
}

fn instance(raw: &RawValue, account: Option<Account>) -> Result<Instance, String> {
    let i: RawInstance = serde_json::from_str(raw.get()).map_err(|e| e.to_string())?;
    let id = InstanceId::parse(&i.instance_id)
        .ok_or_else(|| format!("bad InstanceId {:?}", i.instance_id))?;
    Ok(Instance {
        id,
        instance_type: i.instance_type.as_deref().and_then(InstanceType::parse),
        state: i.state.and_then(|s| s.name),
        zone: zone(i.placement.and_then(|p| p.availability_zone).as_deref()),
        account,
        name: i
            .tags
            .into_iter()
            .find(|t| t.key == "Name")
            .map(|t| t.value),
        volumes: i
            .block_device_mappings
            .into_iter()
            .filter_map(|m| {
                let volume = VolumeId::parse(m.ebs?.volume_id.as_deref()?)?;
                Some((volume, m.device_name))
            })
            .collect(),
        launch_time: time(i.launch_time.as_deref()),
    })
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct RawVolume {
    volume_id: String,
    #[serde(default)]
    volume_type: Option<String>,
    #[serde(default)]
    size: Option<u64>,
    #[serde(default)]
    iops: Option<u64>,
    #[serde(default)]
    throughput: Option<u64>,
    #[serde(default)]
    snapshot_id: Option<String>,
    #[serde(default)]
    fast_restored: Option<bool>,
    #[serde(default)]
    volume_initialization_rate: Option<u64>,
    #[serde(default)]
    create_time: Option<String>,
    #[serde(default)]
    availability_zone: Option<String>,
    #[serde(default)]
    attachments: Vec<RawAttachment>,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct RawAttachment {
    #[serde(default)]
    instance_id: Option<String>,
    #[serde(default)]
    device: Option<String>,
    #[serde(default)]
    state: Option<String>,
}

/// `aws ec2 describe-volumes` (`Volumes`).
pub(super) fn read_volumes(raw: &RawValue, doc: &mut Document) {
    each_item(raw, "describe-volumes volume", doc, |raw, doc| {
        let v: RawVolume = serde_json::from_str(raw.get()).map_err(|e| e.to_string())?;
        let id = VolumeId::parse(&v.volume_id)
            .ok_or_else(|| format!("bad VolumeId {:?}", v.volume_id))?;
        doc.volumes.push(Volume {
            id,
            volume_type: v.volume_type.as_deref().map(VolumeType::parse),
            size_gib: v.size,
            iops: v.iops,
            throughput_mibps: v.throughput,
            // `SnapshotId` is "" for a volume created empty.
            snapshot_id: v.snapshot_id.as_deref().and_then(SnapshotId::parse),
            fast_restored: v.fast_restored,
            initialization_rate: v.volume_initialization_rate,
            create_time: time(v.create_time.as_deref()),
            zone: zone(v.availability_zone.as_deref()),
            attachments: v
                .attachments
                .into_iter()
                .filter(|a| !matches!(a.state.as_deref(), Some("detached" | "detaching")))
                .filter_map(|a| Some((InstanceId::parse(a.instance_id.as_deref()?)?, a.device)))
                .collect(),
        });
        Ok(())
    });
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct RawInstanceType {
    instance_type: String,
    #[serde(default)]
    current_generation: Option<bool>,
    #[serde(default)]
    hypervisor: Option<String>,
    #[serde(default)]
    v_cpu_info: Option<RawVcpu>,
    #[serde(default)]
    memory_info: Option<RawMemory>,
    #[serde(default)]
    processor_info: Option<RawProcessor>,
    #[serde(default)]
    ebs_info: Option<RawEbsInfo>,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct RawVcpu {
    #[serde(default)]
    default_v_cpus: Option<u32>,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct RawMemory {
    #[serde(default)]
    size_in_mi_b: Option<u64>,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct RawProcessor {
    #[serde(default)]
    supported_architectures: Vec<String>,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct RawEbsInfo {
    #[serde(default)]
    ebs_optimized_info: Option<RawEbsOptimized>,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct RawEbsOptimized {
    #[serde(default)]
    baseline_throughput_in_m_bps: Option<f64>,
    #[serde(default)]
    baseline_iops: Option<f64>,
    #[serde(default)]
    maximum_throughput_in_m_bps: Option<f64>,
    #[serde(default)]
    maximum_iops: Option<f64>,
}

/// `aws ec2 describe-instance-types` (`InstanceTypes`). Throughput is
/// published in MB/s (10^6 bytes) and kept in MiB/s (2^20 bytes), the
/// unit of the volumes it is compared with.
pub(super) fn read_instance_types(raw: &RawValue, doc: &mut Document) {
    each_item(raw, "describe-instance-types type", doc, |raw, doc| {
        let t: RawInstanceType = serde_json::from_str(raw.get()).map_err(|e| e.to_string())?;
        let instance_type = InstanceType::parse(&t.instance_type)
            .ok_or_else(|| format!("bad InstanceType {:?}", t.instance_type))?;
        let ebs = t.ebs_info.and_then(|e| e.ebs_optimized_info);
        let positive = |v: Option<f64>| v.filter(|v| v.is_finite() && *v > 0.0);
        let (baseline_mbps, maximum_mbps, baseline_iops, maximum_iops) = match &ebs {
            Some(e) => (
                positive(e.baseline_throughput_in_m_bps),
                positive(e.maximum_throughput_in_m_bps),
                positive(e.baseline_iops),
                positive(e.maximum_iops),
            ),
            None => (None, None, None, None),
        };
        doc.instance_types.push(TypeLimits {
            instance_type,
            baseline: Ceiling {
                iops: baseline_iops,
                throughput_mibps: baseline_mbps.map(mb_to_mib),
            },
            maximum: Ceiling {
                iops: maximum_iops,
                throughput_mibps: maximum_mbps.map(mb_to_mib),
            },
            baseline_mbps,
            maximum_mbps,
            nitro: t.hypervisor.map(|h| h == "nitro"),
            vcpus: t.v_cpu_info.and_then(|v| v.default_v_cpus),
            memory_mib: t.memory_info.and_then(|m| m.size_in_mi_b),
            architectures: t
                .processor_info
                .map(|p| p.supported_architectures)
                .unwrap_or_default(),
            current_generation: t.current_generation,
        });
        Ok(())
    });
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct RawVolumeStatusItem {
    volume_id: String,
    #[serde(default)]
    volume_status: Option<RawVolumeStatusInfo>,
    #[serde(default)]
    initialization_status_details: Option<RawInitialization>,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct RawVolumeStatusInfo {
    #[serde(default)]
    status: Option<String>,
    #[serde(default)]
    details: Vec<RawStatusDetail>,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct RawStatusDetail {
    #[serde(default)]
    name: Option<String>,
    #[serde(default)]
    status: Option<String>,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct RawInitialization {
    #[serde(default)]
    initialization_type: Option<String>,
    #[serde(default)]
    progress: Option<i64>,
    #[serde(default)]
    estimated_time_to_complete_in_seconds: Option<i64>,
}

/// `aws ec2 describe-volume-status` (`VolumeStatuses`).
pub(super) fn read_volume_statuses(raw: &RawValue, doc: &mut Document) {
    each_item(raw, "describe-volume-status volume", doc, |raw, doc| {
        let s: RawVolumeStatusItem = serde_json::from_str(raw.get()).map_err(|e| e.to_string())?;
        let id = VolumeId::parse(&s.volume_id)
            .ok_or_else(|| format!("bad VolumeId {:?}", s.volume_id))?;
        let (status, details) = match s.volume_status {
            Some(v) => (v.status, v.details),
            None => (None, Vec::new()),
        };
        let initialization = match s.initialization_status_details {
            Some(i) => {
                let progress = match i.progress {
                    Some(p @ 0..=100) => Some(u8::try_from(p).unwrap_or(100)),
                    Some(p) => return Err(format!("Progress {p} is not a percentage")),
                    None => None,
                };
                Some(Initialization {
                    kind: i.initialization_type.map(|t| match t.as_str() {
                        "default" => InitializationType::Default,
                        "provisioned-rate" => InitializationType::ProvisionedRate,
                        "volume-copy" => InitializationType::VolumeCopy,
                        _ => InitializationType::Other(t),
                    }),
                    progress,
                    seconds_left: i
                        .estimated_time_to_complete_in_seconds
                        .and_then(|s| u64::try_from(s).ok()),
                })
            }
            None => None,
        };
        doc.statuses.push(VolumeStatus {
            id,
            initialization,
            io_performance: details
                .into_iter()
                .find(|d| d.name.as_deref() == Some("io-performance"))
                .and_then(|d| d.status),
            status,
        });
        Ok(())
    });
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct RawFastRestore {
    snapshot_id: String,
    availability_zone: String,
    state: String,
    #[serde(default)]
    enabled_time: Option<String>,
}

/// `aws ec2 describe-fast-snapshot-restores` (`FastSnapshotRestores`).
pub(super) fn read_fast_restores(raw: &RawValue, doc: &mut Document) {
    each_item(
        raw,
        "describe-fast-snapshot-restores entry",
        doc,
        |raw, doc| {
            let f: RawFastRestore = serde_json::from_str(raw.get()).map_err(|e| e.to_string())?;
            let snapshot_id = SnapshotId::parse(&f.snapshot_id)
                .ok_or_else(|| format!("bad SnapshotId {:?}", f.snapshot_id))?;
            let zone = Zone::parse(&f.availability_zone)
                .ok_or_else(|| format!("bad AvailabilityZone {:?}", f.availability_zone))?;
            doc.fast_restores.push(FastRestore {
                snapshot_id,
                zone,
                state: FsrState::parse(&f.state),
                enabled_time: time(f.enabled_time.as_deref()),
            });
            Ok(())
        },
    );
}
