//! Content detection: one pass over the JSON that decides, object by
//! object, what each value is. Large arrays (`MetricDataResults`) are read
//! element by element as they stream by; small ones (`describe-*`) are
//! kept raw and read item by item so that one malformed item costs only
//! itself. An object is classified once all its keys are seen, since JSON
//! key order is arbitrary.

use serde::de::{self, MapAccess};
use serde_json::value::RawValue;
use start_doctor_core::json;

use super::{describe, events, metrics, Document, DocumentError, Problem};

/// Reads a JSON stream (one value or JSON Lines) into a document.
pub(super) fn read_json(data: &[u8]) -> Result<Document, DocumentError> {
    let mut document = Document::default();
    let read = json::read_stream::<Document>(data, |mut doc, line| {
        for p in &mut doc.problems {
            p.line.get_or_insert(line);
        }
        document.append(doc);
    });
    read.map(|()| document)
}

/// What the doctor reads, for the error about a shape it does not.
const EXPECTING: &str = "describe-instances/describe-volumes/describe-instance-types/\
     describe-volume-status/describe-fast-snapshot-restores output, a get-metric-data \
     request or response, or an EventBridge event";

impl json::ObjectReader for Document {
    const EXPECTING: &'static str = EXPECTING;

    fn read_object<'de, A: MapAccess<'de>>(&mut self, map: A) -> Result<(), A::Error> {
        read_object(map, self)
    }
}

/// Keys whose presence makes an object an input of the start doctor
/// (`investigate`, `preflight`): known, and nothing for this one.
fn is_start_doctor_input(has: &dyn Fn(&str) -> bool) -> bool {
    [
        "Records",
        "Events",
        "KeyMetadata",
        "RoleDetailList",
        "UserDetailList",
        "GroupDetailList",
        "Policies",
        "CloudTrailEvent",
        "QueryResultRows",
    ]
    .iter()
    .any(|k| has(k))
        || (has("KeyArn") && has("Policy"))
        || (has("eventSource") && has("eventName"))
        || (has("digestStartTime") && has("logFiles"))
}

/// Reads one object: streams `MetricDataResults`, reads `describe-*`
/// lists item by item, classifies the rest.
fn read_object<'de, A: MapAccess<'de>>(mut map: A, doc: &mut Document) -> Result<(), A::Error> {
    let mut fields: Vec<(String, &'de RawValue)> = Vec::new();
    let mut read = false;
    while let Some(key) = map.next_key::<String>()? {
        match key.as_str() {
            "MetricDataResults" => {
                map.next_value_seed(metrics::ResultsSeed { doc: &mut *doc })?;
                read = true;
            }
            "MetricDataQueries" => {
                let raw: &RawValue = map.next_value()?;
                metrics::read_queries(raw, doc);
                read = true;
            }
            "Reservations" => {
                describe::read_instances(map.next_value()?, doc);
                read = true;
            }
            "Volumes" => {
                describe::read_volumes(map.next_value()?, doc);
                read = true;
            }
            "InstanceTypes" => {
                describe::read_instance_types(map.next_value()?, doc);
                read = true;
            }
            "VolumeStatuses" => {
                describe::read_volume_statuses(map.next_value()?, doc);
                read = true;
            }
            "FastSnapshotRestores" => {
                describe::read_fast_restores(map.next_value()?, doc);
                read = true;
            }
            _ => fields.push((key, map.next_value()?)),
        }
    }
    let has = |name: &str| fields.iter().any(|(k, _)| k == name);
    if read {
        if let Some((_, messages)) = fields.iter().find(|(k, _)| k == "Messages") {
            metrics::read_messages(messages, doc);
        }
        return Ok(());
    }
    if has("detail-type") && has("detail") {
        events::read_event(&fields, doc);
    } else if has("Id") && (has("MetricStat") || has("Expression")) {
        metrics::read_query_fields(&fields, doc);
    } else if has("Id") && has("Timestamps") && has("Values") {
        metrics::read_result_fields(&fields, doc);
    } else if is_start_doctor_input(&has) {
        // Read by `start-doctor investigate`; nothing here.
    } else {
        let mut keys: Vec<&str> = fields.iter().map(|(k, _)| k.as_str()).take(6).collect();
        keys.sort_unstable();
        return Err(de::Error::custom(format!(
            "found an object with keys [{}], which is not {EXPECTING}",
            keys.join(", ")
        )));
    }
    Ok(())
}

/// Reads the items of a raw JSON array one by one with `item`, so a
/// malformed item is a problem and the rest is kept.
pub(super) fn each_item(
    raw: &RawValue,
    what: &str,
    doc: &mut Document,
    mut item: impl FnMut(&RawValue, &mut Document) -> Result<(), String>,
) {
    match serde_json::from_str::<Vec<&RawValue>>(raw.get()) {
        Ok(items) => {
            for (n, raw) in items.into_iter().enumerate() {
                if let Err(message) = item(raw, doc) {
                    doc.problems
                        .push(Problem::new(format!("{what} item {}: {message}", n + 1)));
                }
            }
        }
        Err(e) => doc
            .problems
            .push(Problem::new(format!("{what}: not a list: {e}"))),
    }
}
