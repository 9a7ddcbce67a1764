//! The ceilings that hold an instance's EBS I/O, per volume type and per
//! instance type, and the limits a fix must stay within.
//!
//! Sources (checked 2026; numbers change, see docs/ebs.md):
//! - Amazon EBS User Guide, "Amazon EBS volume types", "General Purpose SSD
//!   volumes", "Provisioned IOPS SSD volumes", "Throughput Optimized HDD and
//!   Cold HDD volumes": gp2 3 IOPS/GiB (100 minimum, 16,000 maximum), burst
//!   to 3,000 IOPS below 1,000 GiB; gp2 throughput 128 MiB/s up to 170 GiB,
//!   250 MiB/s from 334 GiB, in between 250 only while burst credits last;
//!   io1 throughput 256 KiB per IOPS up to 500 MiB/s (32,000 IOPS and
//!   below), 16 KiB per IOPS above, to 1,000 MiB/s; io2 Block Express 0.256
//!   MiB/s per IOPS to 4,000 MiB/s; st1 40 MiB/s per TiB baseline, 250 per
//!   TiB burst, 500 maximum, 500 IOPS of 1 MiB; sc1 12 and 80 MiB/s per
//!   TiB, 250 maximum, 250 IOPS.
//! - Amazon EC2 API Reference, `ModifyVolume` / `CreateVolume`: gp3 3,000 to
//!   80,000 IOPS, 125 to 2,000 MiB/s, 1 to 65,536 GiB; io2 100 to 256,000
//!   IOPS, 4 to 65,536 GiB; io1 100 to 64,000 IOPS.
//! - gp3 ratios (EBS User Guide, "General Purpose SSD volumes"): at most 500
//!   IOPS per GiB and 0.25 MiB/s per provisioned IOPS.
//! - Instance limits: `describe-instance-types` `EbsOptimizedInfo`; types
//!   whose baseline is below their maximum "can support maximum performance
//!   for 30 minutes at least once every 24 hours" (EC2 instance types
//!   guide, "Amazon EBS specifications").

use serde::{Deserialize, Serialize};

use crate::model::{Ceiling, Volume, VolumeType};

/// Where a ceiling comes from (the contract's `limit.source`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum LimitSource {
    /// The volume's provisioned (or burst) performance.
    Volume,
    /// The volume's baseline once its burst credits are spent.
    VolumeBurstBaseline,
    /// The instance type's maximum EBS performance.
    InstanceMaximum,
    /// The instance type's baseline once its burst credits are spent.
    InstanceBaseline,
}

/// A limit dimension.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Dimension {
    /// Operations per second.
    Iops,
    /// MiB per second.
    Throughput,
}

/// A balance at or below this percent counts as spent (CloudWatch shows 0
/// when it is; a point of margin for rounding).
pub const SPENT_PERCENT: f64 = 1.0;

/// gp3: included and maximum performance, size and ratios.
pub mod gp3 {
    /// IOPS included in the price.
    pub const BASE_IOPS: u64 = 3_000;
    /// MiB/s included in the price.
    pub const BASE_THROUGHPUT: u64 = 125;
    /// Most provisionable IOPS.
    pub const MAX_IOPS: u64 = 80_000;
    /// Most provisionable MiB/s.
    pub const MAX_THROUGHPUT: u64 = 2_000;
    /// Most IOPS per GiB of size.
    pub const IOPS_PER_GIB: u64 = 500;
    /// Most MiB/s per provisioned IOPS (throughput ≤ IOPS / 4).
    pub const MIBPS_PER_IOPS: f64 = 0.25;
    /// Largest size, GiB.
    pub const MAX_SIZE_GIB: u64 = 65_536;
}

/// io2 Block Express: maximum performance, size and ratios.
pub mod io2 {
    /// Most provisionable IOPS.
    pub const MAX_IOPS: u64 = 256_000;
    /// Most IOPS per GiB.
    pub const IOPS_PER_GIB: u64 = 1_000;
    /// MiB/s per provisioned IOPS.
    pub const MIBPS_PER_IOPS: f64 = 0.256;
    /// Most MiB/s.
    pub const MAX_THROUGHPUT: u64 = 4_000;
    /// Largest size, GiB.
    pub const MAX_SIZE_GIB: u64 = 65_536;
    /// Smallest IOPS.
    pub const MIN_IOPS: u64 = 100;
}

/// What a volume can do: normally, and once its burst credits are spent.
#[derive(Clone, Copy, Debug, PartialEq, Serialize)]
pub struct VolumeLimits {
    /// With credits (or always, for a type without burst).
    pub normal: Ceiling,
    /// Once `BurstBalance` is spent, for types that burst; `None` when the
    /// volume never falls below `normal`.
    pub spent: Option<Ceiling>,
}

/// The limits of a described volume; `None` when its type, size or
/// provisioned performance is not known well enough to say.
pub fn volume_limits(v: &Volume) -> Option<VolumeLimits> {
    let size = v.size_gib;
    let iops = v.iops.map(|i| i as f64);
    let tib = |size: u64| size as f64 / 1024.0;
    let ceiling = |iops: f64, mibps: f64| Ceiling {
        iops: Some(iops),
        throughput_mibps: Some(mibps),
    };
    match v.volume_type.as_ref()? {
        VolumeType::Gp3 => {
            // Unset in old CLI output only for the included performance.
            let iops = iops.unwrap_or(gp3::BASE_IOPS as f64);
            let mibps = v.throughput_mibps.unwrap_or(gp3::BASE_THROUGHPUT) as f64;
            Some(VolumeLimits {
                normal: ceiling(iops, mibps),
                spent: None,
            })
        }
        VolumeType::Gp2 => {
            let size = size?;
            let baseline = (3.0 * size as f64).clamp(100.0, 16_000.0);
            let burst = if baseline < 3_000.0 {
                3_000.0
            } else {
                baseline
            };
            let (mibps, spent_mibps) = match size {
                0..=170 => (128.0, 128.0),
                171..=333 => (250.0, 128.0),
                _ => (250.0, 250.0),
            };
            let bursts = burst > baseline || spent_mibps < mibps;
            Some(VolumeLimits {
                normal: ceiling(burst, mibps),
                spent: bursts.then(|| ceiling(baseline, spent_mibps)),
            })
        }
        VolumeType::Io1 => {
            let iops = iops?;
            let mibps = if iops <= 32_000.0 {
                (iops * 256.0 / 1024.0).min(500.0)
            } else {
                (iops * 16.0 / 1024.0).min(1_000.0)
            };
            Some(VolumeLimits {
                normal: ceiling(iops, mibps),
                spent: None,
            })
        }
        VolumeType::Io2 => {
            let iops = iops?;
            Some(VolumeLimits {
                normal: ceiling(
                    iops,
                    (iops * io2::MIBPS_PER_IOPS).min(io2::MAX_THROUGHPUT as f64),
                ),
                spent: None,
            })
        }
        VolumeType::St1 => {
            let size = tib(size?);
            Some(VolumeLimits {
                normal: ceiling(500.0, (250.0 * size).min(500.0)),
                spent: Some(ceiling(500.0, (40.0 * size).min(500.0))),
            })
        }
        VolumeType::Sc1 => {
            let size = tib(size?);
            Some(VolumeLimits {
                normal: ceiling(250.0, (80.0 * size).min(250.0)),
                spent: Some(ceiling(250.0, (12.0 * size).min(250.0))),
            })
        }
        // Magnetic volumes have no documented ceiling to compare with.
        VolumeType::Standard | VolumeType::Other(_) => None,
    }
}

/// Whether a volume type publishes `BurstBalance`.
pub fn has_burst_balance(volume_type: Option<&VolumeType>) -> bool {
    matches!(
        volume_type,
        Some(VolumeType::Gp2 | VolumeType::St1 | VolumeType::Sc1)
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ids::VolumeId;

    fn volume(kind: &str, size: u64, iops: Option<u64>, mibps: Option<u64>) -> Volume {
        Volume {
            id: VolumeId::parse("vol-0123456789abcdef0").unwrap(),
            volume_type: Some(VolumeType::parse(kind)),
            size_gib: Some(size),
            iops,
            throughput_mibps: mibps,
            snapshot_id: None,
            fast_restored: None,
            initialization_rate: None,
            create_time: None,
            zone: None,
            attachments: Vec::new(),
        }
    }

    type Pair = (Option<f64>, Option<f64>);

    fn limits(v: &Volume) -> (Option<f64>, Option<f64>, Option<Pair>) {
        let l = volume_limits(v).unwrap();
        (
            l.normal.iops,
            l.normal.throughput_mibps,
            l.spent.map(|s| (s.iops, s.throughput_mibps)),
        )
    }

    #[test]
    fn gp3_is_what_was_provisioned() {
        assert_eq!(
            limits(&volume("gp3", 500, Some(3000), Some(125))),
            (Some(3000.0), Some(125.0), None)
        );
        assert_eq!(
            limits(&volume("gp3", 500, None, None)),
            (Some(3000.0), Some(125.0), None)
        );
    }

    #[test]
    fn gp2_bursts_below_a_thousand_gib() {
        // 100 GiB: 300 baseline, 3,000 burst, 128 MiB/s either way.
        assert_eq!(
            limits(&volume("gp2", 100, Some(300), None)),
            (Some(3000.0), Some(128.0), Some((Some(300.0), Some(128.0))))
        );
        // 10 GiB: the 100 IOPS floor.
        assert_eq!(
            limits(&volume("gp2", 10, Some(100), None)).2,
            Some((Some(100.0), Some(128.0)))
        );
        // 200 GiB: 250 MiB/s only with credits.
        assert_eq!(
            limits(&volume("gp2", 200, Some(600), None)).2,
            Some((Some(600.0), Some(128.0)))
        );
        // 2,000 GiB: 6,000 baseline, no burst.
        assert_eq!(
            limits(&volume("gp2", 2000, Some(6000), None)),
            (Some(6000.0), Some(250.0), None)
        );
        // 6,000 GiB: the 16,000 cap.
        assert_eq!(
            limits(&volume("gp2", 6000, Some(16000), None)).0,
            Some(16000.0)
        );
    }

    #[test]
    fn provisioned_iops_throughput_follows_iops() {
        assert_eq!(limits(&volume("io1", 500, Some(1000), None)).1, Some(250.0));
        assert_eq!(
            limits(&volume("io1", 500, Some(32000), None)).1,
            Some(500.0)
        );
        assert_eq!(
            limits(&volume("io1", 1500, Some(64000), None)).1,
            Some(1000.0)
        );
        assert_eq!(
            limits(&volume("io2", 500, Some(10000), None)).1,
            Some(2560.0)
        );
        assert_eq!(
            limits(&volume("io2", 500, Some(256000), None)).1,
            Some(4000.0)
        );
    }

    #[test]
    fn hdd_throughput_scales_with_size() {
        // st1 2 TiB: 80 baseline, 500 burst.
        assert_eq!(
            limits(&volume("st1", 2048, None, None)),
            (Some(500.0), Some(500.0), Some((Some(500.0), Some(80.0))))
        );
        // sc1 1 TiB: 12 baseline, 80 burst.
        assert_eq!(
            limits(&volume("sc1", 1024, None, None)),
            (Some(250.0), Some(80.0), Some((Some(250.0), Some(12.0))))
        );
    }

    #[test]
    fn unknowns_are_unknown() {
        assert!(volume_limits(&volume("standard", 100, None, None)).is_none());
        assert!(volume_limits(&volume("io2", 100, None, None)).is_none());
        let mut v = volume("gp2", 100, None, None);
        v.size_gib = None;
        assert!(volume_limits(&v).is_none());
    }
}
