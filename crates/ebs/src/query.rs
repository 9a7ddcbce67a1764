//! `start-doctor ebs query`: the `aws cloudwatch get-metric-data
//! --cli-input-json` requests that collect every metric the doctor reads,
//! for the instances and volumes of the describe output given.
//!
//! Each query carries a label naming its series
//! (`<Namespace> <MetricName> <Dim>=<Value>...`), so a response can be
//! read without its request, and an `Id` unique across the whole fleet.
//! GetMetricData takes at most 500 queries per request (CloudWatch API
//! reference): more are split into several requests. The AWS CLI follows
//! `NextToken` by itself and prints every page in one response.

use chrono::{DateTime, Duration, Utc};
use serde_json::{json, Value};

use crate::evidence::Evidence;
use crate::ids::{InstanceId, VolumeId};
use crate::metric::{DimensionSet, Metric, SeriesKey};

/// Most queries in one GetMetricData request.
pub const MAX_QUERIES: usize = 500;

/// Why no request can be written.
#[derive(Debug, PartialEq, Eq, thiserror::Error)]
pub enum QueryError {
    /// The window is empty or reversed.
    #[error("--since ({since}) must be before --until ({until})")]
    Window {
        /// Start.
        since: DateTime<Utc>,
        /// End.
        until: DateTime<Utc>,
    },
    /// The period is not a positive multiple of 60 seconds.
    #[error("--period {0} is not a multiple of 60 seconds (EBS and EC2 metrics have 1-minute resolution at best)")]
    Period(u32),
    /// Nothing to ask about.
    #[error("no instance or attached volume found in the describe-instances / describe-volumes output given")]
    Nothing,
}

/// The requests, and what the caller should know about them.
#[derive(Debug, PartialEq)]
pub struct Requests {
    /// One `--cli-input-json` document per request (at most
    /// [`MAX_QUERIES`] queries each).
    pub requests: Vec<Value>,
    /// How many queries in all.
    pub queries: usize,
    /// Notes for stderr (a period raised to what CloudWatch keeps).
    pub notes: Vec<String>,
}

impl Requests {
    /// What `ebs query` prints: one request as a pretty JSON document
    /// (ready for `--cli-input-json file://...`), several as JSON Lines, one
    /// request per line.
    pub fn output(&self) -> String {
        match self.requests.as_slice() {
            [one] => serde_json::to_string_pretty(one).unwrap_or_default() + "\n",
            many => many
                .iter()
                .map(|r| serde_json::to_string(r).unwrap_or_default() + "\n")
                .collect(),
        }
    }
}

/// The period CloudWatch can answer for data that starts at `since`:
/// 1-minute points are kept 15 days, 5-minute points 63 days, 1-hour
/// points 455 days (GetMetricData API reference).
fn period_for(since: DateTime<Utc>, now: DateTime<Utc>, asked: u32) -> u32 {
    let age = now - since;
    let multiple = if age > Duration::days(63) {
        3600
    } else if age > Duration::days(15) {
        300
    } else {
        60
    };
    asked.div_ceil(multiple) * multiple
}

/// The requests for every described instance (not terminated) and its
/// volumes, over [since, until) at `period` seconds. `now` decides which
/// resolution CloudWatch still keeps.
pub fn requests(
    evidence: &Evidence,
    since: DateTime<Utc>,
    until: DateTime<Utc>,
    period: u32,
    now: DateTime<Utc>,
) -> Result<Requests, QueryError> {
    if since >= until {
        return Err(QueryError::Window { since, until });
    }
    if period == 0 || period % 60 != 0 {
        return Err(QueryError::Period(period));
    }
    let mut notes = Vec::new();
    let effective = period_for(since, now, period);
    if effective != period {
        notes.push(format!(
            "--period {period} raised to {effective}: CloudWatch keeps 1-minute points 15 days and 5-minute points 63 days, and {} is older",
            since.format("%Y-%m-%dT%H:%M:%SZ")
        ));
    }
    let mut targets: Vec<(InstanceId, Vec<VolumeId>)> = Vec::new();
    let mut instances: std::collections::BTreeSet<InstanceId> = evidence
        .instances
        .values()
        .filter(|i| i.state.as_deref() != Some("terminated"))
        .map(|i| i.id.clone())
        .collect();
    instances.extend(
        evidence
            .volumes
            .values()
            .flat_map(|v| v.attachments.iter().map(|(i, _)| i.clone())),
    );
    for id in instances {
        let volumes: Vec<VolumeId> = evidence.volumes_of(&id).into_iter().collect();
        targets.push((id, volumes));
    }
    if targets.is_empty() {
        return Err(QueryError::Nothing);
    }
    let mut queries = Vec::new();
    for (instance, volumes) in &targets {
        for &metric in Metric::ALL {
            if let Some(key) = SeriesKey::for_instance(metric, instance) {
                queries.push(query(&key, effective));
            }
        }
        for volume in volumes {
            let volume_type = evidence
                .volumes
                .get(volume)
                .and_then(|v| v.volume_type.as_ref())
                .map(|t| t.as_str().to_owned());
            for &metric in Metric::ALL
                .iter()
                .filter(|m| m.dimensions() != DimensionSet::Instance)
                .filter(|m| m.applies_to_volume_type(volume_type.as_deref()))
            {
                queries.push(query(&SeriesKey::new(metric, instance, volume), effective));
            }
        }
    }
    let total = queries.len();
    let start = since.format("%Y-%m-%dT%H:%M:%SZ").to_string();
    let end = until.format("%Y-%m-%dT%H:%M:%SZ").to_string();
    let requests = queries
        .chunks(MAX_QUERIES)
        .map(|chunk| {
            json!({
                "MetricDataQueries": chunk,
                "StartTime": start,
                "EndTime": end,
            })
        })
        .collect();
    Ok(Requests {
        requests,
        queries: total,
        notes,
    })
}

fn query(key: &SeriesKey, period: u32) -> Value {
    let dimensions: Vec<Value> = key
        .dimensions()
        .into_iter()
        .map(|(name, value)| json!({ "Name": name, "Value": value }))
        .collect();
    json!({
        "Id": key.query_id(),
        "MetricStat": {
            "Metric": {
                "Namespace": key.metric.namespace().as_str(),
                "MetricName": key.metric.name(),
                "Dimensions": dimensions,
            },
            "Period": period,
            "Stat": key.metric.stat(),
        },
        "Label": key.to_string(),
    })
}
