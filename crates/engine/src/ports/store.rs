//! The [`Store`] port: raw events filed by partition, and small versioned
//! records (claims, notice state) written only from the version read.
//!
//! Writes are conditional: a redelivered event is stored once, and two
//! invocations racing to create or update a record cannot both win.

use std::future::Future;

/// An event as filed in the store.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StoredEvent {
    /// The event's id; unique within a partition.
    pub event_id: String,
    /// The event's raw JSON, as delivered.
    pub body: String,
}

/// A versioned record.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Record {
    /// The record's JSON body.
    pub body: String,
    /// Its version: 1 when created, +1 on each update.
    pub version: u64,
}

/// A store failure.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The backend failed or could not be reached.
    #[error("store backend: {0}")]
    Backend(String),
    /// An item in the store is not in the expected form.
    #[error("store item {key}: {message}")]
    Corrupt {
        /// The item's key.
        key: String,
        /// What is wrong with it.
        message: String,
    },
}

/// What the live path needs from a store: `memory::MemoryStore` (tests,
/// local runs) and `DynamoStore` (start-doctor-aws, production).
pub trait Store: Send + Sync {
    /// Files `event` under `partition`. Returns `false` when an event with
    /// the same id is already there (a redelivery); the store is unchanged
    /// then.
    fn put_event(
        &self,
        partition: &str,
        event: &StoredEvent,
    ) -> impl Future<Output = Result<bool, StoreError>> + Send;

    /// Every event filed under `partition`, in no particular order.
    fn events(
        &self,
        partition: &str,
    ) -> impl Future<Output = Result<Vec<StoredEvent>, StoreError>> + Send;

    /// The record at `key`, if any.
    fn record(&self, key: &str) -> impl Future<Output = Result<Option<Record>, StoreError>> + Send;

    /// Writes the record at `key` if its current version is `expected`
    /// (`None`: only if there is no record yet). Returns `false`, changing
    /// nothing, when another writer got there first.
    fn put_record(
        &self,
        key: &str,
        body: &str,
        expected: Option<u64>,
    ) -> impl Future<Output = Result<bool, StoreError>> + Send;

    /// Waits before the next try after a conditional write lost (or a
    /// write failed) for the `attempt`-th time (0-based). Production
    /// stores sleep [`crate::record::contention_backoff`] with random
    /// jitter; the default does not wait.
    fn contended(&self, attempt: u32) -> impl Future<Output = ()> + Send {
        let _ = attempt;
        async {}
    }
}
