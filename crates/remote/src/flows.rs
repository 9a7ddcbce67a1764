//! `start-doctor flows --live`: the flow-log records read from the
//! account, in the shapes `start-doctor flows` reads from files, so that
//! what `--save` writes reads back to the same findings. (The network
//! configuration is read by `start_doctor_aws::flows_config`, which the
//! live function shares.)
//!
//! - the records of a CloudWatch Logs group: `FilterLogEvents` with the
//!   filter pattern `REJECT` over the time range (every page), then the
//!   records of the addresses those rejects name (patterns of `?"address"`
//!   terms, a few dozen addresses per call), for their accepted
//!   counterparts; events are deduplicated by id and written as a decoded
//!   subscription payload (`logGroup`, `logEvents`), so that the log
//!   group's `LogFormat` applies;
//! - the records under an S3 prefix: the flow-log archive layout, pruned by
//!   `--since`/`--until` before listing (`start_doctor_flows::archive`),
//!   objects fetched with a bounded number of requests in flight.

use std::collections::BTreeSet;
use std::net::IpAddr;
use std::sync::Arc;

use aws_sdk_cloudwatchlogs::Client as LogsClient;
use serde_json::{json, Value};
use start_doctor_flows::archive;
use start_doctor_flows::traffic::Window;
use tokio::sync::Semaphore;
use tokio::task::JoinSet;

use crate::s3::{self, S3Location};
use crate::RemoteError;

/// The longest filter pattern `FilterLogEvents` takes (the `FilterPattern`
/// shape of the CloudWatch Logs API model).
pub const MAX_PATTERN: usize = 1024;
/// The most addresses whose counterparts are fetched.
pub const MAX_ADDRESSES: usize = 2000;

/// The records read from a log group.
#[derive(Debug, Default)]
pub struct LogRecords {
    /// A decoded subscription payload (`logGroup`, `logEvents`) holding
    /// them, deduplicated by event id, in time order.
    pub document: Value,
    /// REJECT records.
    pub rejects: usize,
    /// Records in all.
    pub records: usize,
    /// `FilterLogEvents` calls made.
    pub calls: usize,
    /// Addresses whose counterparts were not fetched (over [`MAX_ADDRESSES`]).
    pub addresses_left_out: usize,
}

async fn filter(
    logs: &LogsClient,
    group: &str,
    pattern: &str,
    window: &Window,
    seen: &mut BTreeSet<String>,
    events: &mut Vec<(i64, String, Value)>,
    calls: &mut usize,
) -> Result<(), RemoteError> {
    let mut stream = logs
        .filter_log_events()
        .log_group_name(group)
        .filter_pattern(pattern)
        .set_start_time(window.since.map(|s| s.saturating_mul(1000)))
        .set_end_time(
            window
                .until
                .map(|s| s.saturating_add(3600).saturating_mul(1000)),
        )
        .into_paginator()
        .send();
    while let Some(page) = stream.next().await {
        *calls += 1;
        let page = page.map_err(|e| RemoteError::call("FilterLogEvents", &e))?;
        for event in page.events() {
            let (Some(id), Some(message)) = (event.event_id(), event.message()) else {
                continue;
            };
            if seen.insert(id.to_owned()) {
                events.push((
                    event.timestamp().unwrap_or_default(),
                    id.to_owned(),
                    json!({"id": id, "timestamp": event.timestamp(), "message": message}),
                ));
            }
        }
    }
    Ok(())
}

/// Filter patterns matching the events that name any of `addresses`
/// (`?"10.0.1.5" ?"10.0.2.7" ...`), each at most [`MAX_PATTERN`] long.
/// A term matches where the address is part of a longer one too
/// (`10.0.1.5` in `10.0.1.50`): a few records more, never one less.
pub fn counterpart_patterns(addresses: &[IpAddr]) -> Vec<String> {
    let mut patterns = Vec::new();
    let mut pattern = String::new();
    for address in addresses {
        let term = format!("?\"{address}\"");
        if !pattern.is_empty() && pattern.len() + 1 + term.len() > MAX_PATTERN {
            patterns.push(std::mem::take(&mut pattern));
        }
        if !pattern.is_empty() {
            pattern.push(' ');
        }
        pattern.push_str(&term);
    }
    if !pattern.is_empty() {
        patterns.push(pattern);
    }
    patterns
}

/// The REJECT records of `group` in `window`, and the records of the
/// addresses they name.
pub async fn log_records(
    logs: &LogsClient,
    group: &str,
    window: &Window,
) -> Result<LogRecords, RemoteError> {
    let mut out = LogRecords::default();
    let mut seen = BTreeSet::new();
    let mut events = Vec::new();
    filter(
        logs,
        group,
        "REJECT",
        window,
        &mut seen,
        &mut events,
        &mut out.calls,
    )
    .await?;
    out.rejects = events.len();
    let mut addresses: BTreeSet<IpAddr> = BTreeSet::new();
    for (_, _, event) in &events {
        let message = event["message"].as_str().unwrap_or_default();
        addresses.extend(
            message
                .split_ascii_whitespace()
                .filter_map(|t| t.parse::<IpAddr>().ok()),
        );
    }
    out.addresses_left_out = addresses.len().saturating_sub(MAX_ADDRESSES);
    let addresses: Vec<IpAddr> = addresses.into_iter().take(MAX_ADDRESSES).collect();
    for pattern in counterpart_patterns(&addresses) {
        filter(
            logs,
            group,
            &pattern,
            window,
            &mut seen,
            &mut events,
            &mut out.calls,
        )
        .await?;
    }
    events.sort_by(|a, b| (a.0, &a.1).cmp(&(b.0, &b.1)));
    out.records = events.len();
    out.document = json!({
        "messageType": "DATA_MESSAGE",
        "logGroup": group,
        "logEvents": events.into_iter().map(|(_, _, e)| e).collect::<Vec<_>>(),
    });
    Ok(out)
}

/// One object of a flow-log archive.
#[derive(Debug)]
pub struct Object {
    /// Its key.
    pub key: String,
    /// Its body, or why it could not be read.
    pub body: Result<Vec<u8>, String>,
}

/// The objects of the archive under `location` that can hold records of
/// `window`, and how many folders and objects were passed over.
pub async fn archive_objects(
    client: &aws_sdk_s3::Client,
    location: &S3Location,
    window: &Window,
) -> Result<(Vec<Object>, usize), RemoteError> {
    let admits = |path: &str| archive::admits(path.split('/'), window);
    let flat = window.since.is_none() && window.until.is_none();
    let listing = s3::list_keys(client, location, flat, &admits).await?;
    let permits = Arc::new(Semaphore::new(s3::CONCURRENCY));
    let mut tasks = JoinSet::new();
    for (key, _) in listing.keys {
        let client = client.clone();
        let bucket = location.bucket.clone();
        let permits = Arc::clone(&permits);
        tasks.spawn(async move {
            let body = match permits.acquire_owned().await {
                Ok(_permit) => s3::fetch(&client, &bucket, &key).await,
                Err(_) => Err("reader stopped".to_owned()),
            };
            Object { key, body }
        });
    }
    let mut objects = Vec::new();
    while let Some(done) = tasks.join_next().await {
        match done {
            Ok(object) => objects.push(object),
            Err(e) => objects.push(Object {
                key: location.prefix.clone(),
                body: Err(format!("reader task failed: {e}")),
            }),
        }
    }
    objects.sort_by(|a, b| a.key.cmp(&b.key));
    Ok((objects, listing.skipped))
}

/// A value as the AWS CLI writes it to a file: indented, with a final
/// newline.
pub fn pretty(value: &Value) -> Vec<u8> {
    let mut bytes = serde_json::to_vec_pretty(value).unwrap_or_default();
    bytes.push(b'\n');
    bytes
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counterpart_patterns_name_every_address_once_and_fit_the_limit() {
        let mut addresses: Vec<IpAddr> = (0..300u32)
            .map(|i| IpAddr::from([10, 200, (i / 250) as u8, (i % 250) as u8]))
            .collect();
        addresses.extend(
            (0..300u16)
                .map(|i| IpAddr::from([0x2001, 0xdb8, 0xffff, 0xffff, 0xffff, 0xffff, 0xffff, i])),
        );
        let patterns = counterpart_patterns(&addresses);
        assert!(patterns.iter().all(|p| p.len() <= MAX_PATTERN));
        let (_, full) = patterns.split_last().unwrap_or((&String::new(), &[]));
        assert!(
            full.iter().all(|p| p.len() > MAX_PATTERN - 45),
            "full but the last"
        );
        let terms: Vec<String> = patterns
            .iter()
            .flat_map(|p| p.split(' ').map(str::to_owned))
            .collect();
        let expected: Vec<String> = addresses.iter().map(|a| format!("?\"{a}\"")).collect();
        assert_eq!(terms, expected);
        assert_eq!(
            counterpart_patterns(&[IpAddr::from([10, 0, 1, 5])]),
            vec!["?\"10.0.1.5\"".to_owned()]
        );
        assert!(counterpart_patterns(&[]).is_empty());
    }
}
