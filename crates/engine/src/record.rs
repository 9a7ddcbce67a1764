//! Versioned records as typed values: reading, writing and the one
//! optimistic read-modify-write loop every claim and update goes through.

use serde::de::DeserializeOwned;
use serde::Serialize;

use crate::engine::EngineError;
use crate::ports::{Record, Store, StoreError};

/// How often a versioned write is retried against concurrent writers.
pub const MAX_ATTEMPTS: u32 = 8;

/// The typed body of a record.
pub fn parse<T: DeserializeOwned>(key: &str, record: &Record) -> Result<T, StoreError> {
    serde_json::from_str(&record.body).map_err(|e| StoreError::Corrupt {
        key: key.to_owned(),
        message: e.to_string(),
    })
}

/// The JSON body of a record.
pub fn body<T: Serialize>(value: &T) -> String {
    // Plain data with string keys always serialises.
    serde_json::to_string(value).unwrap_or_default()
}

/// The record at `key`, typed, with its version.
pub async fn read<S: Store, T: DeserializeOwned>(
    store: &S,
    key: &str,
) -> Result<Option<(T, u64)>, StoreError> {
    match store.record(key).await? {
        Some(record) => Ok(Some((parse(key, &record)?, record.version))),
        None => Ok(None),
    }
}

/// What [`update`] did.
#[derive(Debug)]
pub enum Updated<T> {
    /// There is no record at the key.
    Missing,
    /// The change declined to write; the record as read.
    Unchanged(T),
    /// The change was written; the record as written.
    Written(T),
}

/// The one optimistic read-modify-write loop: reads the record at `key`,
/// lets `change` edit it (returning `false` to leave it as it is) and
/// writes it back only if nobody wrote in between, backing off (with the
/// store's jitter) and retrying against concurrent writers up to
/// [`MAX_ATTEMPTS`] times.
pub async fn update<S, T, F>(store: &S, key: &str, mut change: F) -> Result<Updated<T>, EngineError>
where
    S: Store,
    T: Serialize + DeserializeOwned,
    F: FnMut(&mut T) -> bool,
{
    for attempt in 0..MAX_ATTEMPTS {
        let Some((mut value, version)) = read::<S, T>(store, key).await? else {
            return Ok(Updated::Missing);
        };
        if !change(&mut value) {
            return Ok(Updated::Unchanged(value));
        }
        if store.put_record(key, &body(&value), Some(version)).await? {
            return Ok(Updated::Written(value));
        }
        store.contended(attempt).await;
    }
    Err(EngineError::Contention(key.to_owned()))
}

/// How long to wait after losing a conditional write for the `attempt`-th
/// time (0-based): "full jitter" over an exponential ceiling (25 ms,
/// doubling, at most 1 s), `jitter` in `[0, 1)` drawn by the caller, so
/// that writers that collided do not collide again in step.
pub fn contention_backoff(attempt: u32, jitter: f64) -> std::time::Duration {
    let ceiling_ms = 25u64.saturating_mul(1u64 << attempt.min(10)).min(1000);
    let jitter = if jitter.is_finite() {
        jitter.clamp(0.0, 1.0)
    } else {
        0.0
    };
    // A ceiling of at most 1000 ms times a fraction fits in u64.
    std::time::Duration::from_millis((ceiling_ms as f64 * jitter) as u64)
}
