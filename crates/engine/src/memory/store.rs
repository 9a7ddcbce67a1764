//! An in-memory [`Store`] for tests and local runs.
//!
//! It keeps the DynamoDB adapter's semantics exactly: an event is filed once
//! per (partition, event id), a record is created only when absent and
//! updated only from the version the writer read. Each operation takes one
//! lock, so a check and its write are atomic like a conditional `PutItem`.

use std::collections::BTreeMap;
use std::sync::{Mutex, MutexGuard, PoisonError};

use crate::ports::store::{Record, Store, StoreError, StoredEvent};

/// A [`Store`] held in process memory. Nothing expires.
#[derive(Debug, Default)]
pub struct MemoryStore {
    inner: Mutex<Inner>,
}

#[derive(Debug, Default)]
struct Inner {
    /// Event bodies by (partition, event id).
    events: BTreeMap<(String, String), String>,
    /// Records by key.
    records: BTreeMap<String, Record>,
    /// Every [`Store::contended`] wait asked for, by attempt.
    contended: Vec<u32>,
}

impl MemoryStore {
    /// An empty store.
    pub fn new() -> Self {
        Self::default()
    }

    /// How many events are filed, over all partitions.
    pub fn event_count(&self) -> usize {
        self.lock().events.len()
    }

    /// The keys of every record, in order.
    pub fn record_keys(&self) -> Vec<String> {
        self.lock().records.keys().cloned().collect()
    }

    /// The attempts of every backoff after a lost write, in order.
    pub fn contended_attempts(&self) -> Vec<u32> {
        self.lock().contended.clone()
    }

    fn lock(&self) -> MutexGuard<'_, Inner> {
        // Every write is a single map insert, so a panic elsewhere while the
        // lock was held cannot have left the maps half-updated.
        self.inner.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

impl Store for MemoryStore {
    async fn put_event(&self, partition: &str, event: &StoredEvent) -> Result<bool, StoreError> {
        let mut inner = self.lock();
        let key = (partition.to_owned(), event.event_id.clone());
        if inner.events.contains_key(&key) {
            return Ok(false);
        }
        inner.events.insert(key, event.body.clone());
        Ok(true)
    }

    async fn events(&self, partition: &str) -> Result<Vec<StoredEvent>, StoreError> {
        let inner = self.lock();
        let events = inner
            .events
            .iter()
            .filter(|((p, _), _)| p == partition)
            .map(|((_, event_id), body)| StoredEvent {
                event_id: event_id.clone(),
                body: body.clone(),
            })
            .collect();
        Ok(events)
    }

    async fn record(&self, key: &str) -> Result<Option<Record>, StoreError> {
        Ok(self.lock().records.get(key).cloned())
    }

    async fn put_record(
        &self,
        key: &str,
        body: &str,
        expected: Option<u64>,
    ) -> Result<bool, StoreError> {
        let mut inner = self.lock();
        let current = inner.records.get(key).map(|record| record.version);
        if current != expected {
            return Ok(false);
        }
        let version = match expected {
            None => 1,
            Some(current) => current.checked_add(1).ok_or_else(|| StoreError::Corrupt {
                key: key.to_owned(),
                message: format!("version {current} cannot be incremented"),
            })?,
        };
        inner.records.insert(
            key.to_owned(),
            Record {
                body: body.to_owned(),
                version,
            },
        );
        Ok(true)
    }

    async fn contended(&self, attempt: u32) {
        self.lock().contended.push(attempt);
    }
}

/// A [`MemoryStore`] with the faults of a real store: the next writes whose
/// body contains a given text fail (DynamoDB throttled or unreachable), or
/// the next writes lose as if another writer had got there first.
#[derive(Debug, Default)]
pub struct FlakyStore {
    /// The store itself.
    pub inner: MemoryStore,
    /// `(text, n)`: the next `n` writes whose body contains `text` fail.
    pub fail_writes: Mutex<Vec<(String, usize)>>,
    /// How many of the next writes lose.
    pub lose_writes: std::sync::atomic::AtomicUsize,
}

impl FlakyStore {
    /// Makes the next `times` writes whose body contains `text` fail.
    pub fn fail_writes_containing(&self, text: &str, times: usize) {
        self.fail_writes
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .push((text.to_owned(), times));
    }
}

impl std::ops::Deref for FlakyStore {
    type Target = MemoryStore;

    fn deref(&self) -> &MemoryStore {
        &self.inner
    }
}

impl Store for FlakyStore {
    async fn put_event(&self, partition: &str, event: &StoredEvent) -> Result<bool, StoreError> {
        self.inner.put_event(partition, event).await
    }

    async fn events(&self, partition: &str) -> Result<Vec<StoredEvent>, StoreError> {
        self.inner.events(partition).await
    }

    async fn record(&self, key: &str) -> Result<Option<Record>, StoreError> {
        self.inner.record(key).await
    }

    async fn put_record(
        &self,
        key: &str,
        body: &str,
        expected: Option<u64>,
    ) -> Result<bool, StoreError> {
        {
            let mut faults = self
                .fail_writes
                .lock()
                .unwrap_or_else(PoisonError::into_inner);
            if let Some(fault) = faults
                .iter_mut()
                .find(|(s, n)| *n > 0 && body.contains(s.as_str()))
            {
                fault.1 -= 1;
                return Err(StoreError::Backend("injected failure".into()));
            }
        }
        if super::take_one(&self.lose_writes) {
            return Ok(false);
        }
        self.inner.put_record(key, body, expected).await
    }

    async fn contended(&self, attempt: u32) {
        self.inner.contended(attempt).await
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::*;
    use futures_executor::block_on;

    fn event(id: &str, body: &str) -> StoredEvent {
        StoredEvent {
            event_id: id.to_owned(),
            body: body.to_owned(),
        }
    }

    #[test]
    fn a_redelivered_event_is_stored_once() {
        block_on(async {
            let store = MemoryStore::new();
            let first = event("e-1", r#"{"id":"e-1"}"#);
            assert!(store.put_event("i-0abc", &first).await.unwrap());
            // The redelivery carries the same id; even a different body does not
            // replace what was filed first.
            assert!(!store
                .put_event("i-0abc", &event("e-1", "{}"))
                .await
                .unwrap());
            assert_eq!(store.event_count(), 1);
            assert_eq!(store.events("i-0abc").await.unwrap(), vec![first]);
        })
    }

    #[test]
    fn the_same_event_id_may_be_filed_under_two_partitions() {
        block_on(async {
            let store = MemoryStore::new();
            assert!(store
                .put_event("i-0abc", &event("e-1", "{}"))
                .await
                .unwrap());
            assert!(store.put_event("req-1", &event("e-1", "{}")).await.unwrap());
            assert_eq!(store.event_count(), 2);
        })
    }

    #[test]
    fn events_are_returned_for_their_partition_only() {
        block_on(async {
            let store = MemoryStore::new();
            for i in 0..300 {
                let id = format!("e-{i:03}");
                let body = format!(r#"{{"id":"{id}","pad":"{}"}}"#, "x".repeat(4096));
                assert!(store.put_event("i-0abc", &event(&id, &body)).await.unwrap());
            }
            store
                .put_event("i-0def", &event("other", "{}"))
                .await
                .unwrap();

            let mut events = store.events("i-0abc").await.unwrap();
            assert_eq!(events.len(), 300);
            events.sort_by(|a, b| a.event_id.cmp(&b.event_id));
            assert_eq!(events[0].event_id, "e-000");
            assert!(events[299].body.starts_with(r#"{"id":"e-299""#));
            assert_eq!(
                store.events("i-0def").await.unwrap(),
                vec![event("other", "{}")]
            );
            assert!(store.events("i-0999").await.unwrap().is_empty());
        })
    }

    #[test]
    fn a_record_is_created_once() {
        block_on(async {
            let store = MemoryStore::new();
            assert_eq!(store.record("claim").await.unwrap(), None);
            assert!(store.put_record("claim", "first", None).await.unwrap());
            assert!(!store.put_record("claim", "second", None).await.unwrap());
            let record = store.record("claim").await.unwrap();
            assert_eq!(
                record,
                Some(Record {
                    body: "first".into(),
                    version: 1
                })
            );
            assert_eq!(store.record_keys(), vec!["claim".to_owned()]);
        })
    }

    #[test]
    fn an_update_needs_the_current_version() {
        block_on(async {
            let store = MemoryStore::new();
            assert!(
                !store.put_record("msg", "v?", Some(1)).await.unwrap(),
                "no record yet"
            );
            store.put_record("msg", "v1", None).await.unwrap();
            assert!(store.put_record("msg", "v2", Some(1)).await.unwrap());
            assert!(!store.put_record("msg", "stale", Some(1)).await.unwrap());
            let record = store.record("msg").await.unwrap();
            assert_eq!(
                record,
                Some(Record {
                    body: "v2".into(),
                    version: 2
                })
            );
        })
    }

    #[test]
    fn of_two_racing_updates_exactly_one_wins() {
        for round in 0..50 {
            let store = Arc::new(MemoryStore::new());
            block_on(store.put_record("msg", "v1", None)).unwrap();
            let writer = |body: &'static str| {
                let store = Arc::clone(&store);
                std::thread::spawn(move || block_on(store.put_record("msg", body, Some(1))))
            };
            let (a, b) = (writer("a"), writer("b"));
            let (a, b) = (a.join().unwrap().unwrap(), b.join().unwrap().unwrap());
            assert!(a ^ b, "round {round}: a won: {a}, b won: {b}");
            let record = block_on(store.record("msg")).unwrap().unwrap();
            assert_eq!(record.version, 2);
            assert_eq!(record.body, if a { "a" } else { "b" });
        }
    }
}
