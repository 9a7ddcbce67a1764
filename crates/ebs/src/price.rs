//! A small table of EBS volume prices, to say what a fix costs a month.
//!
//! Only the prices we could check are here: US East (N. Virginia),
//! us-east-1, on-demand, as listed on <https://aws.amazon.com/ebs/pricing/>
//! and repeated in AWS's own agent toolkit (aws/agent-toolkit-for-aws,
//! "ebs-optimization.md", "us-east-1 approximate as of early 2026": gp3
//! $0.08/GB-month, gp2 $0.10, io2 $0.125/GB-month + $0.065/IOPS-month);
//! gp3 IOPS above 3,000 $0.005/IOPS-month and throughput above 125 MiB/s
//! $0.040/MiB/s-month (the same page; unchanged since gp3 was launched in
//! December 2020). Table date: 2026-01. io2 IOPS above 32,000 are billed at
//! lower tiers we could not confirm, so such volumes have no price here.
//! For any other Region, or type, the fix says the price is not known
//! rather than guess (Region prices differ by up to about 50 %).

use crate::model::VolumeType;

/// When the table was checked.
pub const TABLE_DATE: &str = "2026-01";

/// Where the prices come from.
pub const SOURCE: &str = "https://aws.amazon.com/ebs/pricing/";

/// One Region's prices, USD per month.
struct Prices {
    region: &'static str,
    gp3_gb: f64,
    gp3_iops: f64,
    gp3_mibps: f64,
    gp2_gb: f64,
    io2_gb: f64,
    /// Per provisioned IOPS, up to 32,000.
    io2_iops_tier1: f64,
}

const TABLE: &[Prices] = &[Prices {
    region: "us-east-1",
    gp3_gb: 0.08,
    gp3_iops: 0.005,
    gp3_mibps: 0.040,
    gp2_gb: 0.10,
    io2_gb: 0.125,
    io2_iops_tier1: 0.065,
}];

/// A volume configuration to price.
#[derive(Clone, Debug, PartialEq)]
pub struct Config {
    /// Its type.
    pub volume_type: VolumeType,
    /// Size, GiB (billed as GB-month).
    pub size_gib: u64,
    /// Provisioned IOPS (gp3, io2).
    pub iops: u64,
    /// Provisioned MiB/s (gp3).
    pub throughput_mibps: u64,
}

/// The monthly price of a configuration in a Region, when the table has it.
pub fn monthly(region: &str, c: &Config) -> Option<f64> {
    let p = TABLE.iter().find(|p| p.region == region)?;
    let size = c.size_gib as f64;
    match c.volume_type {
        VolumeType::Gp3 => Some(
            size * p.gp3_gb
                + c.iops.saturating_sub(3_000) as f64 * p.gp3_iops
                + c.throughput_mibps.saturating_sub(125) as f64 * p.gp3_mibps,
        ),
        VolumeType::Gp2 => Some(size * p.gp2_gb),
        VolumeType::Io2 if c.iops <= 32_000 => {
            Some(size * p.io2_gb + c.iops as f64 * p.io2_iops_tier1)
        }
        _ => None,
    }
}

/// "+$27.50 a month (us-east-1 prices of 2026-01)", or why there is no
/// figure.
pub fn difference(region: Option<&str>, from: &Config, to: &Config) -> String {
    let Some(region) = region else {
        return "cost: the Region is unknown, so no price is given".to_owned();
    };
    match (monthly(region, from), monthly(region, to)) {
        (Some(a), Some(b)) => {
            let d = b - a;
            let sign = if d < 0.0 { "-" } else { "+" };
            format!(
                "cost: {sign}${:.2} a month (${a:.2} to ${b:.2}; {region} on-demand prices of {TABLE_DATE}, {SOURCE})",
                d.abs()
            )
        }
        _ => format!("cost: start-doctor has no {region} price for this change; see {SOURCE}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn gp3(size: u64, iops: u64, mibps: u64) -> Config {
        Config {
            volume_type: VolumeType::Gp3,
            size_gib: size,
            iops,
            throughput_mibps: mibps,
        }
    }

    #[test]
    fn gp3_pays_only_above_what_is_included() {
        assert_eq!(monthly("us-east-1", &gp3(100, 3000, 125)), Some(8.0));
        let m = monthly("us-east-1", &gp3(100, 6000, 250)).unwrap();
        assert!((m - (8.0 + 15.0 + 5.0)).abs() < 1e-9, "{m}");
    }

    #[test]
    fn unknown_regions_and_tiers_have_no_price() {
        assert_eq!(monthly("eu-west-1", &gp3(100, 3000, 125)), None);
        let io2 = Config {
            volume_type: VolumeType::Io2,
            size_gib: 100,
            iops: 40_000,
            throughput_mibps: 0,
        };
        assert_eq!(monthly("us-east-1", &io2), None);
        assert!(
            difference(Some("eu-west-1"), &gp3(1, 3000, 125), &gp3(1, 4000, 125))
                .contains("no eu-west-1 price")
        );
    }

    #[test]
    fn the_difference_names_its_source() {
        let text = difference(
            Some("us-east-1"),
            &gp3(100, 3000, 125),
            &gp3(100, 4000, 125),
        );
        assert!(text.starts_with("cost: +$5.00 a month"), "{text}");
        assert!(text.contains(TABLE_DATE));
    }
}
