//! A finding: the one diagnosis of an instance, in the shape of the output
//! contract (`schema/ebs.schema.json`). A finding is also what the live
//! path will announce: one Slack message and one OpsItem per
//! [`Finding::group_key`] (instance, cause). It reads back from its JSON
//! (the live path stores findings), all but the fields the contract leaves
//! out (`name`, `chart`).

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::ids::{Account, InstanceId, InstanceType, Region, VolumeId};
use crate::limits::{Dimension, LimitSource};

/// Why an instance's EBS I/O is slow (stable contract strings).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Cause {
    /// Demand reached a volume's provisioned IOPS.
    VolumeIopsLimit,
    /// Demand reached a volume's provisioned throughput.
    VolumeThroughputLimit,
    /// A gp2/st1/sc1 volume spent its burst credits and fell to its
    /// baseline.
    VolumeBurstExhausted,
    /// Demand reached the instance type's maximum EBS IOPS.
    InstanceEbsIopsLimit,
    /// Demand reached the instance type's maximum EBS throughput.
    InstanceEbsThroughputLimit,
    /// The instance spent its EBS burst and fell to its baseline.
    InstanceEbsBurstExhausted,
    /// A volume restored from a snapshot is still fetching blocks from S3
    /// on first read.
    VolumeInitializing,
    /// A volume stopped completing I/O (an AWS-side impairment).
    VolumeIoStalled,
    /// Demand stayed below every ceiling with normal latency.
    NotEbsBound,
    /// The evidence is not enough to say.
    InsufficientData,
}

impl Cause {
    /// The contract string.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::VolumeIopsLimit => "volume_iops_limit",
            Self::VolumeThroughputLimit => "volume_throughput_limit",
            Self::VolumeBurstExhausted => "volume_burst_exhausted",
            Self::InstanceEbsIopsLimit => "instance_ebs_iops_limit",
            Self::InstanceEbsThroughputLimit => "instance_ebs_throughput_limit",
            Self::InstanceEbsBurstExhausted => "instance_ebs_burst_exhausted",
            Self::VolumeInitializing => "volume_initializing",
            Self::VolumeIoStalled => "volume_io_stalled",
            Self::NotEbsBound => "not_ebs_bound",
            Self::InsufficientData => "insufficient_data",
        }
    }

    /// The cause of demand at a ceiling of this source and dimension.
    pub fn of_limit(source: LimitSource, dimension: Dimension) -> Self {
        match (source, dimension) {
            (LimitSource::Volume, Dimension::Iops) => Self::VolumeIopsLimit,
            (LimitSource::Volume, Dimension::Throughput) => Self::VolumeThroughputLimit,
            (LimitSource::VolumeBurstBaseline, _) => Self::VolumeBurstExhausted,
            (LimitSource::InstanceMaximum, Dimension::Iops) => Self::InstanceEbsIopsLimit,
            (LimitSource::InstanceMaximum, Dimension::Throughput) => {
                Self::InstanceEbsThroughputLimit
            }
            (LimitSource::InstanceBaseline, _) => Self::InstanceEbsBurstExhausted,
        }
    }

    /// Whether the cause is a volume's (rather than the instance's).
    pub fn is_volume_level(self) -> bool {
        matches!(
            self,
            Self::VolumeIopsLimit
                | Self::VolumeThroughputLimit
                | Self::VolumeBurstExhausted
                | Self::VolumeInitializing
                | Self::VolumeIoStalled
        )
    }

    /// Whether the instance is slowed by EBS at all.
    pub fn is_problem(self) -> bool {
        !matches!(self, Self::NotEbsBound | Self::InsufficientData)
    }
}

/// What a remediation changes (stable contract strings).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RemediationKind {
    /// `aws ec2 modify-volume` with more IOPS or throughput, same type.
    ModifyVolume,
    /// `aws ec2 modify-volume --volume-type` (gp2 to gp3, gp3 to io2...).
    ChangeVolumeType,
    /// A larger instance type.
    ChangeInstanceType,
    /// Read every block now; FSR or an initialization rate next time.
    InitializeVolume,
    /// An AWS-side impairment.
    ContactSupport,
    /// EBS is not what is slow.
    LookElsewhere,
    /// Collect the missing evidence.
    CollectData,
}

impl RemediationKind {
    /// The contract string.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::ModifyVolume => "modify_volume",
            Self::ChangeVolumeType => "change_volume_type",
            Self::ChangeInstanceType => "change_instance_type",
            Self::InitializeVolume => "initialize_volume",
            Self::ContactSupport => "contact_support",
            Self::LookElsewhere => "look_elsewhere",
            Self::CollectData => "collect_data",
        }
    }
}

/// Operations and MiB per second; either may be unknown.
#[derive(Clone, Copy, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Rate {
    /// IOPS.
    pub iops: Option<f64>,
    /// MiB/s.
    pub throughput_mibps: Option<f64>,
}

/// The binding ceiling (`source` null when none was reached: then the
/// numbers are the ceilings demand came closest to, for the headroom).
#[derive(Clone, Copy, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Limit {
    /// Where it comes from.
    pub source: Option<LimitSource>,
    /// Its IOPS.
    pub iops: Option<f64>,
    /// Its MiB/s.
    pub throughput_mibps: Option<f64>,
}

/// A time window, both ends included.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Window {
    /// First minute.
    pub from: DateTime<Utc>,
    /// Last minute.
    pub to: DateTime<Utc>,
}

/// What is known of a volume's initialization from its snapshot.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct InitializationFacts {
    /// The snapshot it was created from.
    pub snapshot_id: Option<String>,
    /// Whether fast snapshot restore initialized it at creation.
    pub fast_restored: Option<bool>,
    /// Percent done (`describe-volume-status`).
    pub progress: Option<u8>,
    /// Seconds left, when EC2 estimates it (provisioned rate).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub estimated_seconds_left: Option<u64>,
}

/// The fix.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Remediation {
    /// What it changes.
    pub kind: RemediationKind,
    /// What to do, in order, for a person.
    pub steps: Vec<String>,
    /// The commands of those steps, ready to paste.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub commands: Vec<String>,
}

/// Demand against the binding ceiling, minute by minute, for the chart.
/// Not in the JSON contract; serializable so that the live path can keep
/// it with the group it shows.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Chart {
    /// What is charted.
    pub dimension: Option<Dimension>,
    /// (minute, demand, ceiling in force) over the window examined.
    pub points: Vec<(DateTime<Utc>, Option<f64>, Option<f64>)>,
}

/// The diagnosis of one instance.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Finding {
    /// The instance.
    pub instance_id: InstanceId,
    /// Its type.
    pub instance_type: Option<InstanceType>,
    /// Its account.
    pub account: Option<Account>,
    /// Its Region.
    pub region: Option<Region>,
    /// The cause.
    pub cause: Cause,
    /// Other causes seen in the window, weaker than `cause`.
    pub contributing: Vec<Cause>,
    /// The volumes the cause concerns (every attached one for an
    /// instance-level cause).
    pub volume_ids: Vec<VolumeId>,
    /// First and last minute at the limit, or the window examined.
    pub window: Option<Window>,
    /// Minutes at the binding ceiling (or initializing, or stalled).
    pub minutes_at_limit: u32,
    /// Peak demand.
    pub peak_demand: Rate,
    /// The binding ceiling.
    pub limit: Limit,
    /// Average read latency over the minutes of the cause, ms.
    pub read_latency_ms: Option<f64>,
    /// Initialization of the volume concerned, when it was restored from a
    /// snapshot.
    pub initialization: Option<InitializationFacts>,
    /// The evidence, one line each.
    pub evidence: Vec<String>,
    /// For `insufficient_data`: what is missing, one line each.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub missing: Vec<String>,
    /// One sentence with the numbers.
    pub summary: String,
    /// The fix.
    pub remediation: Remediation,
    /// The instance's `Name` tag (untrusted; not in the JSON contract).
    #[serde(skip)]
    pub name: Option<String>,
    /// Demand against the ceiling, for the text and Slack charts.
    #[serde(skip)]
    pub chart: Chart,
}

impl Finding {
    /// What the live path groups announcements by: one Slack message and
    /// one OpsItem per (instance, cause).
    pub fn group_key(&self) -> (InstanceId, Cause) {
        (self.instance_id.clone(), self.cause)
    }
}

/// Rounds for output: two decimals (a rate to the hundredth is plenty, and
/// it keeps `77.48603820800781` out of reports).
pub fn round(v: f64) -> f64 {
    (v * 100.0).round() / 100.0
}
