//! The DynamoDB store against a moto server: redeliveries are stored once,
//! a partition reads back whole across pages, records are created once and
//! updated by one writer at a time, and every item carries its expiry.
//!
//! Each test works in a table of its own, so the tests can share one server.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use aws_sdk_dynamodb::types::{AttributeValue, TimeToLiveStatus};
use aws_sdk_dynamodb::Client;
use start_doctor_aws::dynamodb::{create_table, DynamoStore};
use start_doctor_engine::ports::{Record, Store, StoreError, StoredEvent};

/// A client for moto and a fresh table named after the test.
async fn fresh_table(test: &str) -> (Client, String) {
    static TABLES: AtomicUsize = AtomicUsize::new(0);
    let client = Client::new(&crate::support::sdk_config().await);
    // Unique within this run and, for a long-lived server given through
    // START_DOCTOR_MOTO_URL, across runs.
    let started = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default();
    let table = format!(
        "{test}-{}-{}-{}",
        std::process::id(),
        started.as_millis(),
        TABLES.fetch_add(1, Ordering::Relaxed)
    );
    create_table(&client, &table).await.unwrap();
    (client, table)
}

async fn store(test: &str) -> DynamoStore {
    let (client, table) = fresh_table(test).await;
    DynamoStore::new(client, table)
}

fn event(id: &str, body: &str) -> StoredEvent {
    StoredEvent {
        event_id: id.to_owned(),
        body: body.to_owned(),
    }
}

fn now_secs() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs()
}

#[tokio::test]
async fn a_redelivered_event_is_stored_once() {
    let store = store("redelivery").await;
    let first = event("e-1", r#"{"id":"e-1"}"#);
    assert!(store.put_event("i-0abc", &first).await.unwrap());
    // Same id, different body: still the redelivery, and the first body stays.
    assert!(!store
        .put_event("i-0abc", &event("e-1", "{}"))
        .await
        .unwrap());
    assert_eq!(store.events("i-0abc").await.unwrap(), vec![first]);
}

#[tokio::test]
async fn the_same_event_may_be_filed_under_two_partitions() {
    let store = store("two-partitions").await;
    assert!(store
        .put_event("i-0abc", &event("e-1", "{}"))
        .await
        .unwrap());
    assert!(store.put_event("req-1", &event("e-1", "{}")).await.unwrap());
    assert_eq!(
        store.events("req-1").await.unwrap(),
        vec![event("e-1", "{}")]
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_partition_larger_than_a_query_page_reads_back_whole() {
    let (client, table) = fresh_table("pages").await;
    let store = DynamoStore::new(client.clone(), &table);
    // 300 events of ~4 KB: about 1.2 MB, more than one 1 MB Query page.
    let pad = "x".repeat(4096);
    let mut writes = tokio::task::JoinSet::new();
    for i in 0..300 {
        let store = store.clone();
        let event = event(
            &format!("e-{i:03}"),
            &format!(r#"{{"id":"e-{i:03}","pad":"{pad}"}}"#),
        );
        writes.spawn(async move { store.put_event("i-0storm", &event).await });
    }
    while let Some(written) = writes.join_next().await {
        assert!(written.unwrap().unwrap());
    }
    // Neighbours in the table that must not show up: another partition, and
    // a record whose key is the same as the partition.
    store
        .put_event("i-0other", &event("e-000", "{}"))
        .await
        .unwrap();
    store.put_record("i-0storm", "{}", None).await.unwrap();

    // The store has to follow LastEvaluatedKey to see them all.
    let first_page = client
        .query()
        .table_name(&table)
        .key_condition_expression("pk = :p")
        .expression_attribute_values(":p", AttributeValue::S("i-0storm".into()))
        .send()
        .await
        .unwrap();
    assert!(
        first_page.count() < 300,
        "one page held {} items",
        first_page.count()
    );
    assert!(first_page.last_evaluated_key.is_some());

    let mut events = store.events("i-0storm").await.unwrap();
    events.sort_by(|a, b| a.event_id.cmp(&b.event_id));
    let ids: Vec<_> = events.iter().map(|e| e.event_id.clone()).collect();
    let expected: Vec<_> = (0..300).map(|i| format!("e-{i:03}")).collect();
    assert_eq!(ids, expected);
    assert!(events
        .iter()
        .all(|e| e.body.len() > 4096 && e.body.contains(&e.event_id)));
}

#[tokio::test]
async fn an_empty_partition_has_no_events() {
    let store = store("empty").await;
    assert!(store.events("i-0none").await.unwrap().is_empty());
}

#[tokio::test]
async fn a_record_is_created_once() {
    let store = store("create-once").await;
    assert_eq!(store.record("claim").await.unwrap(), None);
    assert!(store.put_record("claim", "first", None).await.unwrap());
    assert!(!store.put_record("claim", "second", None).await.unwrap());
    assert_eq!(
        store.record("claim").await.unwrap(),
        Some(Record {
            body: "first".into(),
            version: 1
        })
    );
}

#[tokio::test]
async fn an_update_needs_the_current_version() {
    let store = store("versions").await;
    assert!(
        !store.put_record("msg", "v?", Some(1)).await.unwrap(),
        "no record yet"
    );
    store.put_record("msg", "v1", None).await.unwrap();
    assert!(store.put_record("msg", "v2", Some(1)).await.unwrap());
    assert!(!store.put_record("msg", "stale", Some(1)).await.unwrap());
    assert!(store.put_record("msg", "v3", Some(2)).await.unwrap());
    assert_eq!(
        store.record("msg").await.unwrap(),
        Some(Record {
            body: "v3".into(),
            version: 3
        })
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn of_two_racing_writers_exactly_one_wins() {
    let store = store("race").await;
    for round in 0..20 {
        let key = format!("msg-{round}");
        let (a, b) = tokio::join!(
            store.put_record(&key, "a", None),
            store.put_record(&key, "b", None)
        );
        let (a, b) = (a.unwrap(), b.unwrap());
        assert!(a ^ b, "round {round}, create: a won: {a}, b won: {b}");

        let (a, b) = tokio::join!(
            store.put_record(&key, "a2", Some(1)),
            store.put_record(&key, "b2", Some(1))
        );
        let (a, b) = (a.unwrap(), b.unwrap());
        assert!(a ^ b, "round {round}, update: a won: {a}, b won: {b}");
        let record = store.record(&key).await.unwrap().unwrap();
        assert_eq!(record.version, 2, "round {round}");
        assert_eq!(record.body, if a { "a2" } else { "b2" }, "round {round}");
    }
}

#[tokio::test]
async fn every_item_expires_after_the_retention() {
    let (client, table) = fresh_table("ttl").await;
    let retention = Duration::from_secs(3600);
    let store = DynamoStore::new(client.clone(), &table).with_retention(retention);
    let before = now_secs();
    store
        .put_event("i-0abc", &event("e-1", "{}"))
        .await
        .unwrap();
    store.put_record("msg", "{}", None).await.unwrap();
    let after = now_secs();

    let ttl = client
        .describe_time_to_live()
        .table_name(&table)
        .send()
        .await
        .unwrap()
        .time_to_live_description
        .unwrap();
    assert_eq!(ttl.attribute_name(), Some("ttl"));
    assert_eq!(ttl.time_to_live_status(), Some(&TimeToLiveStatus::Enabled));

    for (pk, sk) in [("i-0abc", "event#e-1"), ("msg", "record")] {
        let item = client
            .get_item()
            .table_name(&table)
            .key("pk", AttributeValue::S(pk.into()))
            .key("sk", AttributeValue::S(sk.into()))
            .consistent_read(true)
            .send()
            .await
            .unwrap()
            .item
            .unwrap_or_else(|| panic!("no item {pk}/{sk}"));
        let Some(AttributeValue::N(expires)) = item.get("ttl") else {
            panic!("{pk}/{sk}: `ttl` is not a number: {item:?}");
        };
        let expires: u64 = expires.parse().unwrap();
        let range = before + retention.as_secs()..=after + retention.as_secs();
        assert!(
            range.contains(&expires),
            "{pk}/{sk}: ttl {expires} not in {range:?}"
        );
    }
}

#[tokio::test]
async fn an_ill_formed_record_is_reported_as_corrupt() {
    let (client, table) = fresh_table("corrupt").await;
    client
        .put_item()
        .table_name(&table)
        .item("pk", AttributeValue::S("msg".into()))
        .item("sk", AttributeValue::S("record".into()))
        .item("body", AttributeValue::S("{}".into()))
        .item("version", AttributeValue::S("one".into()))
        .send()
        .await
        .unwrap();
    let store = DynamoStore::new(client, table);
    let err = store.record("msg").await.unwrap_err();
    assert!(
        matches!(&err, StoreError::Corrupt { key, message } if key == "msg" && message.contains("`version`")),
        "{err}"
    );
}

#[tokio::test]
async fn a_missing_table_is_a_backend_error_naming_the_cause() {
    let client = Client::new(&crate::support::sdk_config().await);
    let store = DynamoStore::new(client, "no-such-table");
    let err = store
        .put_event("i-0abc", &event("e-1", "{}"))
        .await
        .unwrap_err();
    let StoreError::Backend(message) = &err else {
        panic!("expected a backend error, got {err}");
    };
    assert!(message.contains("no-such-table"), "{message}");
    assert!(message.contains("ResourceNotFoundException"), "{message}");
}
