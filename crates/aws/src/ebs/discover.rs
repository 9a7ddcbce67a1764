//! Which instances of the account hit an EBS ceiling in the last window,
//! asked of CloudWatch without a resource per volume: one Metrics Insights
//! query per signal (`GetMetricData` takes one such query per call), each
//! grouping every series of the Region by its dimensions, ordered so that
//! the series at a limit come first.
//!
//! | Signal | Query | A candidate when |
//! |---|---|---|
//! | `VolumeIOPSExceededCheck`, `VolumeThroughputExceededCheck`, `VolumeStalledIOCheck` | `MAX` over `SCHEMA("AWS/EBS", InstanceId, VolumeId)` (Nitro publishes them with both dimensions) | the maximum is 1 |
//! | `InstanceEBSIOPSExceededCheck`, `InstanceEBSThroughputExceededCheck` | `MAX` over `SCHEMA("AWS/EC2", InstanceId)` | the maximum is 1 |
//! | `BurstBalance` (gp2, st1, sc1) | `MIN` over `SCHEMA("AWS/EBS", VolumeId)` | at or below [`BALANCE_LOW`] % (the volume's instance through `DescribeVolumes`) |
//! | `EBSIOBalance%`, `EBSByteBalance%` | `MIN` over `SCHEMA("AWS/EC2", InstanceId)` | at or below [`BALANCE_LOW`] % |
//!
//! A candidate is only that: its evidence is then gathered and diagnosed,
//! and only a finding that a ceiling binds is published. A volume still
//! initializing from its snapshot reaches no ceiling, so no query finds it;
//! an instance already announced is examined on every run until it clears.

use std::collections::BTreeSet;

use aws_sdk_cloudwatch::primitives::DateTime as CwDateTime;
use aws_sdk_cloudwatch::types::MetricDataQuery;
use chrono::{DateTime, Utc};
use start_doctor_ebs::ids::{InstanceId, VolumeId};

use super::gather::GatherError;

/// A burst balance (percent) at or below which the volume or instance is
/// examined: spent, or about to be.
pub const BALANCE_LOW: f64 = 5.0;

/// The most series one Metrics Insights query returns.
pub const SERIES_MAX: usize = 500;

/// How a signal's series are read.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Test {
    /// A 0/1 check: a candidate when any minute is 1.
    CheckIsOne,
    /// A balance: a candidate when any minute is at or below
    /// [`BALANCE_LOW`].
    BalanceLow,
}

/// One discovery query.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Signal {
    /// The metric, for logs and the query id.
    pub metric: &'static str,
    /// The Metrics Insights query.
    pub query: &'static str,
    /// How its values are read.
    pub test: Test,
}

/// Every discovery query of a run, in the order they are sent.
pub const SIGNALS: [Signal; 8] = [
    Signal {
        metric: "VolumeIOPSExceededCheck",
        query: r#"SELECT MAX(VolumeIOPSExceededCheck) FROM SCHEMA("AWS/EBS", InstanceId, VolumeId) GROUP BY InstanceId, VolumeId ORDER BY MAX() DESC LIMIT 500"#,
        test: Test::CheckIsOne,
    },
    Signal {
        metric: "VolumeThroughputExceededCheck",
        query: r#"SELECT MAX(VolumeThroughputExceededCheck) FROM SCHEMA("AWS/EBS", InstanceId, VolumeId) GROUP BY InstanceId, VolumeId ORDER BY MAX() DESC LIMIT 500"#,
        test: Test::CheckIsOne,
    },
    Signal {
        metric: "VolumeStalledIOCheck",
        query: r#"SELECT MAX(VolumeStalledIOCheck) FROM SCHEMA("AWS/EBS", InstanceId, VolumeId) GROUP BY InstanceId, VolumeId ORDER BY MAX() DESC LIMIT 500"#,
        test: Test::CheckIsOne,
    },
    Signal {
        metric: "InstanceEBSIOPSExceededCheck",
        query: r#"SELECT MAX(InstanceEBSIOPSExceededCheck) FROM SCHEMA("AWS/EC2", InstanceId) GROUP BY InstanceId ORDER BY MAX() DESC LIMIT 500"#,
        test: Test::CheckIsOne,
    },
    Signal {
        metric: "InstanceEBSThroughputExceededCheck",
        query: r#"SELECT MAX(InstanceEBSThroughputExceededCheck) FROM SCHEMA("AWS/EC2", InstanceId) GROUP BY InstanceId ORDER BY MAX() DESC LIMIT 500"#,
        test: Test::CheckIsOne,
    },
    Signal {
        metric: "BurstBalance",
        query: r#"SELECT MIN(BurstBalance) FROM SCHEMA("AWS/EBS", VolumeId) GROUP BY VolumeId ORDER BY MIN() ASC LIMIT 500"#,
        test: Test::BalanceLow,
    },
    Signal {
        metric: "EBSIOBalance%",
        query: r#"SELECT MIN("EBSIOBalance%") FROM SCHEMA("AWS/EC2", InstanceId) GROUP BY InstanceId ORDER BY MIN() ASC LIMIT 500"#,
        test: Test::BalanceLow,
    },
    Signal {
        metric: "EBSByteBalance%",
        query: r#"SELECT MIN("EBSByteBalance%") FROM SCHEMA("AWS/EC2", InstanceId) GROUP BY InstanceId ORDER BY MIN() ASC LIMIT 500"#,
        test: Test::BalanceLow,
    },
];

/// What the discovery found.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Candidates {
    /// Instances named by a series at a limit.
    pub instances: BTreeSet<InstanceId>,
    /// Volumes named without their instance (`BurstBalance` has only
    /// `VolumeId`): their instance is looked up.
    pub volumes: BTreeSet<VolumeId>,
    /// Queries that failed, one line each: a run with any cannot tell
    /// what cleared.
    pub errors: Vec<String>,
    /// Signals whose query returned [`SERIES_MAX`] series at a limit:
    /// more may exist than were seen.
    pub truncated: Vec<&'static str>,
    /// `GetMetricData` calls made.
    pub calls: usize,
}

/// The ids a series label names: Metrics Insights labels a `GROUP BY`
/// series with its dimension values; every word that parses as an id is
/// taken, in whatever order and separator the label uses.
pub fn ids_of_label(label: &str) -> (Option<InstanceId>, Option<VolumeId>) {
    let words = label.split(|c: char| c.is_whitespace() || c == ',' || c == '=');
    let mut instance = None;
    let mut volume = None;
    for word in words {
        instance = instance.or_else(|| InstanceId::parse(word));
        volume = volume.or_else(|| VolumeId::parse(word));
    }
    (instance, volume)
}

/// Whether a series' values make it a candidate.
pub fn hits(test: Test, values: &[f64]) -> bool {
    match test {
        Test::CheckIsOne => values.iter().any(|v| *v >= 0.5),
        Test::BalanceLow => values.iter().any(|v| *v <= BALANCE_LOW),
    }
}

/// Runs every discovery query over `[since, until]`. A query that fails is
/// recorded and the others still run.
pub async fn discover(
    cloudwatch: &aws_sdk_cloudwatch::Client,
    since: DateTime<Utc>,
    until: DateTime<Utc>,
) -> Candidates {
    let mut out = Candidates::default();
    for (n, signal) in SIGNALS.iter().enumerate() {
        let query = MetricDataQuery::builder()
            .id(format!("d{n}"))
            .expression(signal.query)
            .period(60)
            .build();
        let mut pages = cloudwatch
            .get_metric_data()
            .metric_data_queries(query)
            .start_time(CwDateTime::from_secs(since.timestamp()))
            .end_time(CwDateTime::from_secs(until.timestamp()))
            .into_paginator()
            .send();
        let mut hit = 0;
        while let Some(page) = pages.next().await {
            out.calls += 1;
            let page = match page {
                Ok(p) => p,
                Err(e) => {
                    out.errors.push(
                        GatherError::call("GetMetricData", &e).to_string()
                            + &format!(" (Metrics Insights, {})", signal.metric),
                    );
                    break;
                }
            };
            for result in page.metric_data_results() {
                if !hits(signal.test, result.values()) {
                    continue;
                }
                hit += 1;
                let (instance, volume) = ids_of_label(result.label().unwrap_or_default());
                match (instance, volume) {
                    (Some(i), _) => {
                        out.instances.insert(i);
                    }
                    (None, Some(v)) => {
                        out.volumes.insert(v);
                    }
                    (None, None) => tracing::warn!(
                        metric = signal.metric,
                        label = result.label().unwrap_or_default(),
                        "a series at a limit names no instance or volume"
                    ),
                }
            }
        }
        if hit >= SERIES_MAX {
            out.truncated.push(signal.metric);
        }
    }
    out
}

/// The instances the volumes are attached to (`DescribeVolumes` by a
/// `volume-id` filter: a deleted volume is left out, not an error).
pub async fn instances_of_volumes(
    ec2: &aws_sdk_ec2::Client,
    volumes: &BTreeSet<VolumeId>,
) -> Result<(BTreeSet<InstanceId>, usize), GatherError> {
    let ids: Vec<String> = volumes.iter().map(|v| v.to_string()).collect();
    let mut out = BTreeSet::new();
    let mut calls = 0;
    for batch in ids.chunks(200) {
        let mut pages = ec2
            .describe_volumes()
            .filters(
                aws_sdk_ec2::types::Filter::builder()
                    .name("volume-id")
                    .set_values(Some(batch.to_vec()))
                    .build(),
            )
            .into_paginator()
            .send();
        while let Some(page) = pages.next().await {
            calls += 1;
            let page = page.map_err(|e| GatherError::call("DescribeVolumes", &e))?;
            for v in page.volumes() {
                out.extend(
                    v.attachments()
                        .iter()
                        .filter_map(|a| a.instance_id().and_then(InstanceId::parse)),
                );
            }
        }
    }
    Ok((out, calls))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_label_names_its_ids_in_any_order() {
        let i = InstanceId::parse("i-0d2e3f4a5b6c7d801");
        let v = VolumeId::parse("vol-0d2e3f4a5b6c7d811");
        assert_eq!(
            ids_of_label("i-0d2e3f4a5b6c7d801 vol-0d2e3f4a5b6c7d811"),
            (i.clone(), v.clone())
        );
        assert_eq!(
            ids_of_label("vol-0d2e3f4a5b6c7d811 i-0d2e3f4a5b6c7d801"),
            (i.clone(), v.clone())
        );
        assert_eq!(
            ids_of_label("InstanceId=i-0d2e3f4a5b6c7d801,VolumeId=vol-0d2e3f4a5b6c7d811"),
            (i, v)
        );
        assert_eq!(ids_of_label("Other"), (None, None));
    }

    #[test]
    fn checks_hit_at_one_and_balances_when_low() {
        assert!(hits(Test::CheckIsOne, &[0.0, 1.0, 0.0]));
        assert!(!hits(Test::CheckIsOne, &[0.0, 0.0]));
        assert!(!hits(Test::CheckIsOne, &[]), "no data is no hit");
        assert!(hits(Test::BalanceLow, &[80.0, 0.0]));
        assert!(hits(Test::BalanceLow, &[BALANCE_LOW]));
        assert!(!hits(Test::BalanceLow, &[6.0, 99.0]));
    }

    #[test]
    fn every_query_groups_and_limits_to_what_one_query_returns() {
        for s in SIGNALS {
            assert!(s.query.contains("GROUP BY"), "{}", s.metric);
            assert!(
                s.query.ends_with(&format!("LIMIT {SERIES_MAX}")),
                "{}",
                s.metric
            );
            assert!(s.query.contains(s.metric), "{}", s.metric);
        }
    }
}
