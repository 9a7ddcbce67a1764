//! What EC2 says about the fleet right now, from `describe-*` output and
//! EventBridge events, in typed form: instances, volumes, instance types'
//! EBS limits, volume initialization status, fast snapshot restores.

use chrono::{DateTime, Utc};
use serde::Serialize;

use crate::ids::{Account, InstanceId, InstanceType, SnapshotId, VolumeId, Zone};

/// One mebibyte per second in megabytes per second (MB = 10^6 bytes as
/// `describe-instance-types` counts; MiB = 2^20 bytes as EBS volumes do).
pub const MB_PER_MIB: f64 = 1_048_576.0 / 1_000_000.0;

/// Converts MB/s (10^6 bytes) to MiB/s (2^20 bytes).
pub fn mb_to_mib(mb: f64) -> f64 {
    mb / MB_PER_MIB
}

/// An instance, from `describe-instances`.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Instance {
    /// Its id.
    pub id: InstanceId,
    /// Its type, when given.
    pub instance_type: Option<InstanceType>,
    /// `running`, `stopped`...
    pub state: Option<String>,
    /// Where it runs.
    pub zone: Option<Zone>,
    /// The account that owns the reservation.
    pub account: Option<Account>,
    /// The `Name` tag (untrusted text: cleaned when shown).
    pub name: Option<String>,
    /// Its EBS volumes and the device each is attached as.
    pub volumes: Vec<(VolumeId, Option<String>)>,
    /// `LaunchTime`.
    pub launch_time: Option<DateTime<Utc>>,
}

/// An EBS volume type.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum VolumeType {
    /// General Purpose SSD with burst credits.
    Gp2,
    /// General Purpose SSD, provisioned IOPS and throughput.
    Gp3,
    /// Provisioned IOPS SSD.
    Io1,
    /// Provisioned IOPS SSD (Block Express).
    Io2,
    /// Throughput Optimized HDD.
    St1,
    /// Cold HDD.
    Sc1,
    /// Magnetic (previous generation).
    Standard,
    /// A type this version does not know.
    Other(String),
}

impl VolumeType {
    /// Reads `VolumeType`.
    pub fn parse(text: &str) -> Self {
        match text {
            "gp2" => Self::Gp2,
            "gp3" => Self::Gp3,
            "io1" => Self::Io1,
            "io2" => Self::Io2,
            "st1" => Self::St1,
            "sc1" => Self::Sc1,
            "standard" => Self::Standard,
            other => Self::Other(other.to_owned()),
        }
    }

    /// The type as AWS writes it.
    pub fn as_str(&self) -> &str {
        match self {
            Self::Gp2 => "gp2",
            Self::Gp3 => "gp3",
            Self::Io1 => "io1",
            Self::Io2 => "io2",
            Self::St1 => "st1",
            Self::Sc1 => "sc1",
            Self::Standard => "standard",
            Self::Other(o) => o,
        }
    }

    /// SSD volumes answer in about a millisecond when healthy; HDD volumes
    /// in several.
    pub fn is_hdd(&self) -> bool {
        matches!(self, Self::St1 | Self::Sc1 | Self::Standard)
    }
}

/// An EBS volume, from `describe-volumes`.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Volume {
    /// Its id.
    pub id: VolumeId,
    /// Its type.
    pub volume_type: Option<VolumeType>,
    /// Size, GiB.
    pub size_gib: Option<u64>,
    /// Provisioned IOPS (gp3, io1, io2) or the gp2 baseline.
    pub iops: Option<u64>,
    /// Provisioned throughput, MiB/s (gp3).
    pub throughput_mibps: Option<u64>,
    /// The snapshot it was created from.
    pub snapshot_id: Option<SnapshotId>,
    /// Whether it was created fully initialized by fast snapshot restore.
    pub fast_restored: Option<bool>,
    /// The provisioned initialization rate, MiB/s, when one was set.
    pub initialization_rate: Option<u64>,
    /// When it was created.
    pub create_time: Option<DateTime<Utc>>,
    /// Its Availability Zone.
    pub zone: Option<Zone>,
    /// The instances it is attached to, with the device name.
    pub attachments: Vec<(InstanceId, Option<String>)>,
}

/// One EBS limit: IOPS and throughput (MiB/s), either may be unknown.
#[derive(Clone, Copy, Debug, Default, PartialEq, Serialize)]
pub struct Ceiling {
    /// Operations per second.
    pub iops: Option<f64>,
    /// MiB per second.
    pub throughput_mibps: Option<f64>,
}

/// What `describe-instance-types` says about a type's EBS performance.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct TypeLimits {
    /// The type.
    pub instance_type: InstanceType,
    /// What it sustains indefinitely (throughput converted to MiB/s).
    pub baseline: Ceiling,
    /// What it reaches for 30 minutes a day when its baseline is lower.
    pub maximum: Ceiling,
    /// The baseline as published, MB/s (10^6 bytes), for the record.
    pub baseline_mbps: Option<f64>,
    /// The maximum as published, MB/s.
    pub maximum_mbps: Option<f64>,
    /// `Hypervisor: nitro`.
    pub nitro: Option<bool>,
    /// Default vCPUs.
    pub vcpus: Option<u32>,
    /// Memory, MiB.
    pub memory_mib: Option<u64>,
    /// Processor architectures (`x86_64`, `arm64`).
    pub architectures: Vec<String>,
    /// Whether it is a current-generation type.
    pub current_generation: Option<bool>,
}

impl TypeLimits {
    /// Whether the type bursts: a baseline below its maximum.
    pub fn bursts(&self) -> bool {
        let below = |b: Option<f64>, m: Option<f64>| matches!((b, m), (Some(b), Some(m)) if b < m);
        below(self.baseline.iops, self.maximum.iops)
            || below(
                self.baseline.throughput_mibps,
                self.maximum.throughput_mibps,
            )
    }
}

/// How a volume created from a snapshot is being initialized
/// (`InitializationStatusDetails.InitializationType`).
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum InitializationType {
    /// Blocks are fetched from S3 on first read (or FSR made it instant).
    Default,
    /// A provisioned initialization rate.
    ProvisionedRate,
    /// A copy of another volume.
    VolumeCopy,
    /// A type this version does not know.
    Other(String),
}

/// A volume's status, from `describe-volume-status`.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct VolumeStatus {
    /// The volume.
    pub id: VolumeId,
    /// `InitializationStatusDetails` (volumes created from snapshots).
    pub initialization: Option<Initialization>,
    /// The `io-performance` detail (`normal`, `degraded`,
    /// `severely-degraded`, `stalled`), when published.
    pub io_performance: Option<String>,
    /// The overall status (`ok`, `impaired`, `warning`,
    /// `insufficient-data`).
    pub status: Option<String>,
}

/// Initialization progress (may lag up to 5 minutes, EC2 API reference).
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Initialization {
    /// How it initializes.
    pub kind: Option<InitializationType>,
    /// Percent done, 0-100.
    pub progress: Option<u8>,
    /// Seconds left (only for a provisioned rate).
    pub seconds_left: Option<u64>,
}

/// The state of fast snapshot restore for a snapshot in a zone.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum FsrState {
    /// Being enabled.
    Enabling,
    /// Enabled, volumes not yet fully initialized at creation.
    Optimizing,
    /// Volumes created now are fully initialized.
    Enabled,
    /// Being disabled.
    Disabling,
    /// Off.
    Disabled,
    /// A state this version does not know.
    Other(String),
}

impl FsrState {
    /// Reads `State`.
    pub fn parse(text: &str) -> Self {
        match text {
            "enabling" => Self::Enabling,
            "optimizing" => Self::Optimizing,
            "enabled" => Self::Enabled,
            "disabling" => Self::Disabling,
            "disabled" => Self::Disabled,
            other => Self::Other(other.to_owned()),
        }
    }

    /// The state as AWS writes it.
    pub fn as_str(&self) -> &str {
        match self {
            Self::Enabling => "enabling",
            Self::Optimizing => "optimizing",
            Self::Enabled => "enabled",
            Self::Disabling => "disabling",
            Self::Disabled => "disabled",
            Self::Other(o) => o,
        }
    }
}

/// Fast snapshot restore of a snapshot in a zone, from
/// `describe-fast-snapshot-restores`.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct FastRestore {
    /// The snapshot.
    pub snapshot_id: SnapshotId,
    /// The zone.
    pub zone: Zone,
    /// Its state.
    pub state: FsrState,
    /// When it became `enabled`, if it did.
    pub enabled_time: Option<DateTime<Utc>>,
}

/// A CloudWatch alarm state change (EventBridge), for the instances and
/// volumes its metrics name.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Alarm {
    /// The alarm's name (untrusted text).
    pub name: String,
    /// `ALARM`, `OK`, `INSUFFICIENT_DATA`.
    pub state: String,
    /// When the state changed.
    pub time: DateTime<Utc>,
    /// The metric names its configuration watches.
    pub metrics: Vec<String>,
    /// Instances named by its dimensions.
    pub instances: Vec<InstanceId>,
    /// Volumes named by its dimensions.
    pub volumes: Vec<VolumeId>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn megabytes_are_not_mebibytes() {
        // m5.large: 593.75 MB/s maximum is 566.23 MiB/s.
        assert!((mb_to_mib(593.75) - 566.244).abs() < 0.001);
        assert!((mb_to_mib(81.25) - 77.486).abs() < 0.001);
    }
}
