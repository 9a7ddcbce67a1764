//! Content detection: one pass over the JSON that decides, object by
//! object, what each value is. Large arrays (`MetricDataResults`) are read
//! element by element as they stream by; small ones (`describe-*`) are
//! kept raw and read item by item so that one malformed item costs only
//! itself. An object is classified once all its keys are seen, since JSON
//! key order is arbitrary.

use serde::de::{self, DeserializeSeed, Deserializer, MapAccess, SeqAccess, Visitor};
use serde::Deserialize;
use serde_json::value::RawValue;

use super::{describe, events, metrics, Document, DocumentError, Problem};

/// Reads a JSON stream (one value or JSON Lines) into a document.
pub(super) fn read_json(data: &[u8]) -> Result<Document, DocumentError> {
    let mut document = Document::default();
    let mut stream = serde_json::Deserializer::from_slice(data).into_iter::<TopLevel>();
    for index in 0.. {
        let start = stream.byte_offset();
        match stream.next() {
            None => break,
            Some(Ok(TopLevel(mut doc))) => {
                let line = line_of_value(data, start);
                for p in &mut doc.problems {
                    p.line.get_or_insert(line);
                }
                document.append(doc);
            }
            Some(Err(e)) => return Err(document_error(&e, index, line_of_value(data, start))),
        }
    }
    Ok(document)
}

/// The 1-based line on which the value after `offset` (past whitespace)
/// starts.
fn line_of_value(data: &[u8], offset: usize) -> usize {
    let offset = offset.min(data.len());
    let skip = data[offset..]
        .iter()
        .take_while(|b| b.is_ascii_whitespace())
        .count();
    1 + data[..offset + skip]
        .iter()
        .filter(|&&b| b == b'\n')
        .count()
}

/// The error for a value that failed to parse; in JSON Lines the line
/// named is the one the broken value starts on.
fn document_error(e: &serde_json::Error, index: usize, value_line: usize) -> DocumentError {
    let text = e.to_string();
    let (message, position) = text.rsplit_once(" at line ").unwrap_or((text.as_str(), ""));
    let json_lines = index > 0 || (e.line() > value_line && e.column() <= 1);
    let (line, message) = if json_lines && e.line() != value_line {
        (value_line, format!("{message} (found at line {position})"))
    } else {
        (e.line(), message.to_owned())
    };
    match e.classify() {
        serde_json::error::Category::Data => DocumentError::Shape { line, message },
        _ => DocumentError::Json {
            line,
            column: if line == e.line() { e.column() } else { 1 },
            message,
        },
    }
}

/// What the doctor reads, for the error about a shape it does not.
const EXPECTING: &str = "describe-instances/describe-volumes/describe-instance-types/\
     describe-volume-status/describe-fast-snapshot-restores output, a get-metric-data \
     request or response, or an EventBridge event";

/// One top-level JSON value: an array of items or one object.
struct TopLevel(Document);

impl<'de> Deserialize<'de> for TopLevel {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let mut doc = Document::default();
        deserializer.deserialize_any(ValueVisitor {
            doc: &mut doc,
            allow_array: true,
        })?;
        Ok(TopLevel(doc))
    }
}

/// Visits an array of objects (only at the top level) or one object.
struct ValueVisitor<'d> {
    doc: &'d mut Document,
    allow_array: bool,
}

impl<'de> Visitor<'de> for ValueVisitor<'_> {
    type Value = ();

    fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        f.write_str(EXPECTING)
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<(), A::Error> {
        if !self.allow_array {
            return Err(de::Error::custom(format!(
                "a nested array is not {EXPECTING}"
            )));
        }
        while seq
            .next_element_seed(ObjectSeed {
                doc: &mut *self.doc,
            })?
            .is_some()
        {}
        Ok(())
    }

    fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<(), A::Error> {
        read_object(map, self.doc)
    }
}

/// One array element: must be an object.
struct ObjectSeed<'d> {
    doc: &'d mut Document,
}

impl<'de> DeserializeSeed<'de> for ObjectSeed<'_> {
    type Value = ();

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<(), D::Error> {
        deserializer.deserialize_any(ValueVisitor {
            doc: self.doc,
            allow_array: false,
        })
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
