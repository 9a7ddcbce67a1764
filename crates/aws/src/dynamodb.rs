//! The DynamoDB [`Store`] used in production.
//!
//! # Table shape
//!
//! One table, two string keys, billed per request, with DynamoDB TTL on
//! the `ttl` attribute:
//!
//! | item   | `pk` (HASH, S) | `sk` (RANGE, S)      | other attributes                          |
//! |--------|----------------|----------------------|-------------------------------------------|
//! | event  | the partition  | `event#` + event id  | `body` (S), `ttl` (N)                     |
//! | record | the record key | `record`             | `body` (S), `version` (N), `ttl` (N)      |
//!
//! `ttl` is in epoch seconds: the time of the last write plus the store's
//! retention (30 days unless set with [`DynamoStore::with_retention`]).
//! DynamoDB deletes expired items lazily (typically within days), and reads
//! return them until then; nothing here depends on an item being gone.
//!
//! Every write is a conditional `PutItem`, so a redelivered event and a
//! losing writer are told apart from a failure without a read first. Reads
//! are strongly consistent: an invocation sees what the one before it
//! wrote. An item is at most 400 KB, so an event body larger than that is
//! refused with [`StoreError::Backend`].

use std::collections::HashMap;
use std::fmt;
use std::hash::{BuildHasher, RandomState};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use aws_sdk_dynamodb::client::Waiters;
use aws_sdk_dynamodb::error::DisplayErrorContext;
use aws_sdk_dynamodb::types::{
    AttributeDefinition, AttributeValue, BillingMode, KeySchemaElement, KeyType,
    ScalarAttributeType, TimeToLiveSpecification,
};
use aws_sdk_dynamodb::Client;

use start_doctor_engine::ports::{Record, Store, StoreError, StoredEvent};
use start_doctor_engine::record::contention_backoff;

/// The range key prefix of event items.
const EVENT_PREFIX: &str = "event#";
/// The range key of record items.
const RECORD_SORT_KEY: &str = "record";
/// How long items live after their last write unless told otherwise.
const DEFAULT_RETENTION: Duration = Duration::from_secs(30 * 24 * 60 * 60);
/// How long [`create_table`] waits for the table to become active.
const CREATE_TIMEOUT: Duration = Duration::from_secs(120);

type Item = HashMap<String, AttributeValue>;

/// Where the jitter of contention backoffs comes from: a fraction in
/// `[0, 1)` per call. Injected so that tests can fix it.
#[derive(Clone)]
pub struct Jitter(Arc<dyn Fn() -> f64 + Send + Sync>);

impl Jitter {
    /// Uniformly spread fractions (from the process' random hash keys and
    /// a counter: no dependency, good enough to keep writers apart).
    pub fn random() -> Self {
        let state = RandomState::new();
        let counter = AtomicU64::new(0);
        Self(Arc::new(move || {
            let bits = state.hash_one(counter.fetch_add(1, Ordering::Relaxed)) >> 11;
            bits as f64 / (1u64 << 53) as f64
        }))
    }

    /// Always `fraction` (tests).
    pub fn fixed(fraction: f64) -> Self {
        Self(Arc::new(move || fraction))
    }
}

impl fmt::Debug for Jitter {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Jitter")
    }
}

/// A [`Store`] in one DynamoDB table (shape in the module docs).
#[derive(Clone, Debug)]
pub struct DynamoStore {
    client: Client,
    table: String,
    retention: Duration,
    jitter: Jitter,
}

impl DynamoStore {
    /// A store in `table`, keeping items for 30 days after their last write.
    pub fn new(client: Client, table: impl Into<String>) -> Self {
        Self {
            client,
            table: table.into(),
            retention: DEFAULT_RETENTION,
            jitter: Jitter::random(),
        }
    }

    /// The same store, drawing the jitter of its contention backoffs from
    /// `jitter`.
    pub fn with_jitter(mut self, jitter: Jitter) -> Self {
        self.jitter = jitter;
        self
    }

    /// The same store, keeping items for `retention` after their last write.
    pub fn with_retention(mut self, retention: Duration) -> Self {
        self.retention = retention;
        self
    }

    /// The `ttl` attribute for an item written now.
    fn expiry(&self) -> AttributeValue {
        // A clock before 1970 is not worth an error: the item then expires
        // `retention` after the epoch, i.e. DynamoDB removes it soon.
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap_or_default();
        AttributeValue::N((now + self.retention).as_secs().to_string())
    }

    /// The outcome of a conditional PutItem: written, or beaten by another
    /// writer (the condition failed), or a backend error.
    fn conditional_put(
        &self,
        result: Result<
            aws_sdk_dynamodb::operation::put_item::PutItemOutput,
            aws_sdk_dynamodb::error::SdkError<aws_sdk_dynamodb::operation::put_item::PutItemError>,
        >,
    ) -> Result<bool, StoreError> {
        match result {
            Ok(_) => Ok(true),
            Err(err)
                if err
                    .as_service_error()
                    .is_some_and(|e| e.is_conditional_check_failed_exception()) =>
            {
                Ok(false)
            }
            Err(err) => Err(self.backend("PutItem", err)),
        }
    }

    fn backend(&self, operation: &str, err: impl std::error::Error + 'static) -> StoreError {
        StoreError::Backend(format!(
            "{operation} on table {}: {}",
            self.table,
            DisplayErrorContext(err)
        ))
    }
}

impl Store for DynamoStore {
    async fn put_event(&self, partition: &str, event: &StoredEvent) -> Result<bool, StoreError> {
        let result = self
            .client
            .put_item()
            .table_name(&self.table)
            .item("pk", AttributeValue::S(partition.to_owned()))
            .item(
                "sk",
                AttributeValue::S(format!("{EVENT_PREFIX}{}", event.event_id)),
            )
            .item("body", AttributeValue::S(event.body.clone()))
            .item("ttl", self.expiry())
            .condition_expression("attribute_not_exists(pk)")
            .send()
            .await;
        self.conditional_put(result)
    }

    async fn events(&self, partition: &str) -> Result<Vec<StoredEvent>, StoreError> {
        let mut events = Vec::new();
        let mut start_key: Option<Item> = None;
        loop {
            // A page holds at most 1 MB: a storm's partition needs several.
            let page = self
                .client
                .query()
                .table_name(&self.table)
                .key_condition_expression("pk = :p AND begins_with(sk, :prefix)")
                .expression_attribute_values(":p", AttributeValue::S(partition.to_owned()))
                .expression_attribute_values(":prefix", AttributeValue::S(EVENT_PREFIX.to_owned()))
                .consistent_read(true)
                .set_exclusive_start_key(start_key.take())
                .send()
                .await
                .map_err(|err| self.backend("Query", err))?;
            for item in page.items.unwrap_or_default() {
                events.push(event_from_item(partition, item)?);
            }
            match page.last_evaluated_key {
                Some(key) if !key.is_empty() => start_key = Some(key),
                _ => return Ok(events),
            }
        }
    }

    async fn record(&self, key: &str) -> Result<Option<Record>, StoreError> {
        let output = self
            .client
            .get_item()
            .table_name(&self.table)
            .key("pk", AttributeValue::S(key.to_owned()))
            .key("sk", AttributeValue::S(RECORD_SORT_KEY.to_owned()))
            .consistent_read(true)
            .send()
            .await
            .map_err(|err| self.backend("GetItem", err))?;
        let Some(mut item) = output.item else {
            return Ok(None);
        };
        let body = take_string(&mut item, "body", key)?;
        let version = take_number(&mut item, "version", key)?;
        Ok(Some(Record { body, version }))
    }

    async fn put_record(
        &self,
        key: &str,
        body: &str,
        expected: Option<u64>,
    ) -> Result<bool, StoreError> {
        let version = next_version(key, expected)?;
        let request = self
            .client
            .put_item()
            .table_name(&self.table)
            .item("pk", AttributeValue::S(key.to_owned()))
            .item("sk", AttributeValue::S(RECORD_SORT_KEY.to_owned()))
            .item("body", AttributeValue::S(body.to_owned()))
            .item("version", AttributeValue::N(version.to_string()))
            .item("ttl", self.expiry());
        let request = match expected {
            None => request.condition_expression("attribute_not_exists(pk)"),
            // `version` is a reserved word in expressions, hence `#v`.
            Some(current) => request
                .condition_expression("#v = :expected")
                .expression_attribute_names("#v", "version")
                .expression_attribute_values(":expected", AttributeValue::N(current.to_string())),
        };
        self.conditional_put(request.send().await)
    }

    async fn contended(&self, attempt: u32) {
        tokio::time::sleep(contention_backoff(attempt, (self.jitter.0)())).await;
    }
}

/// Creates `table` in the shape the store expects (see the module docs),
/// waits until it is active and turns on TTL. For tests and local runs;
/// deployments create the table from the SAM template.
pub async fn create_table(client: &Client, table: &str) -> Result<(), StoreError> {
    let backend = |operation: &str, err: &dyn std::error::Error| {
        StoreError::Backend(format!(
            "{operation} on table {table}: {}",
            DisplayErrorContext(err)
        ))
    };
    let key = |name: &str, key_type: KeyType| {
        KeySchemaElement::builder()
            .attribute_name(name)
            .key_type(key_type)
            .build()
            .map_err(|err| backend("CreateTable", &err))
    };
    let string_attribute = |name: &str| {
        AttributeDefinition::builder()
            .attribute_name(name)
            .attribute_type(ScalarAttributeType::S)
            .build()
            .map_err(|err| backend("CreateTable", &err))
    };
    client
        .create_table()
        .table_name(table)
        .billing_mode(BillingMode::PayPerRequest)
        .key_schema(key("pk", KeyType::Hash)?)
        .key_schema(key("sk", KeyType::Range)?)
        .attribute_definitions(string_attribute("pk")?)
        .attribute_definitions(string_attribute("sk")?)
        .send()
        .await
        .map_err(|err| backend("CreateTable", &err))?;
    client
        .wait_until_table_exists()
        .table_name(table)
        .wait(CREATE_TIMEOUT)
        .await
        .map_err(|err| backend("DescribeTable", &err))?;
    let ttl = TimeToLiveSpecification::builder()
        .attribute_name("ttl")
        .enabled(true)
        .build()
        .map_err(|err| backend("UpdateTimeToLive", &err))?;
    client
        .update_time_to_live()
        .table_name(table)
        .time_to_live_specification(ttl)
        .send()
        .await
        .map_err(|err| backend("UpdateTimeToLive", &err))?;
    Ok(())
}

/// The version a write after `expected` stores.
fn next_version(key: &str, expected: Option<u64>) -> Result<u64, StoreError> {
    match expected {
        None => Ok(1),
        Some(current) => current.checked_add(1).ok_or_else(|| StoreError::Corrupt {
            key: key.to_owned(),
            message: format!("version {current} cannot be incremented"),
        }),
    }
}

fn event_from_item(partition: &str, mut item: Item) -> Result<StoredEvent, StoreError> {
    let item_key = match item.get("sk") {
        Some(AttributeValue::S(sk)) => format!("{partition}/{sk}"),
        _ => partition.to_owned(),
    };
    let sort_key = take_string(&mut item, "sk", &item_key)?;
    let event_id = sort_key
        .strip_prefix(EVENT_PREFIX)
        .ok_or_else(|| {
            corrupt(
                &item_key,
                format!("sort key does not start with `{EVENT_PREFIX}`"),
            )
        })?
        .to_owned();
    let body = take_string(&mut item, "body", &item_key)?;
    Ok(StoredEvent { event_id, body })
}

fn take_string(item: &mut Item, name: &str, key: &str) -> Result<String, StoreError> {
    match item.remove(name) {
        Some(AttributeValue::S(value)) => Ok(value),
        Some(_) => Err(corrupt(key, format!("attribute `{name}` is not a string"))),
        None => Err(corrupt(key, format!("attribute `{name}` is missing"))),
    }
}

fn take_number(item: &mut Item, name: &str, key: &str) -> Result<u64, StoreError> {
    match item.remove(name) {
        Some(AttributeValue::N(value)) => value.parse().map_err(|_| {
            corrupt(
                key,
                format!("attribute `{name}` is not a whole number: {value}"),
            )
        }),
        Some(_) => Err(corrupt(key, format!("attribute `{name}` is not a number"))),
        None => Err(corrupt(key, format!("attribute `{name}` is missing"))),
    }
}

fn corrupt(key: &str, message: String) -> StoreError {
    StoreError::Corrupt {
        key: key.to_owned(),
        message,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn item(pairs: &[(&str, AttributeValue)]) -> Item {
        pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), v.clone()))
            .collect()
    }

    #[test]
    fn an_event_item_reads_back_as_the_event() {
        let event = event_from_item(
            "i-0abc",
            item(&[
                ("pk", AttributeValue::S("i-0abc".into())),
                ("sk", AttributeValue::S("event#e-1".into())),
                ("body", AttributeValue::S("{}".into())),
            ]),
        )
        .unwrap();
        assert_eq!(
            event,
            StoredEvent {
                event_id: "e-1".into(),
                body: "{}".into()
            }
        );
    }

    #[test]
    fn an_event_item_without_a_string_body_is_corrupt() {
        let err = event_from_item(
            "i-0abc",
            item(&[
                ("sk", AttributeValue::S("event#e-1".into())),
                ("body", AttributeValue::N("1".into())),
            ]),
        )
        .unwrap_err();
        assert!(
            matches!(&err, StoreError::Corrupt { key, .. } if key == "i-0abc/event#e-1"),
            "{err}"
        );
        assert!(err.to_string().contains("`body` is not a string"), "{err}");
    }

    #[test]
    fn a_record_version_must_be_a_whole_number() {
        let mut record = item(&[("version", AttributeValue::N("1.5".into()))]);
        let err = take_number(&mut record, "version", "msg").unwrap_err();
        assert!(err.to_string().contains("not a whole number: 1.5"), "{err}");
    }

    #[test]
    fn versions_start_at_one_and_count_up() {
        assert_eq!(next_version("k", None).unwrap(), 1);
        assert_eq!(next_version("k", Some(1)).unwrap(), 2);
        assert!(next_version("k", Some(u64::MAX)).is_err());
    }
}
