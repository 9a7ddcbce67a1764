//! Content detection: one pass over the JSON that decides, object by object,
//! what each value is and hands it to the right reader.
//!
//! A file is a stream of JSON values (one value, or JSON Lines). A value is
//! an array of items or one object. An object is a container whose records
//! are streamed one at a time (`Records`, `Events`), or is classified by its
//! keys once they have all been seen, since JSON key order is arbitrary.

use serde::de::value::MapDeserializer;
use serde::de::{self, DeserializeSeed, Deserializer, MapAccess, SeqAccess, Visitor};
use serde::Deserialize;
use serde_json::value::RawValue;
use start_doctor_core::json;

use super::cloudtrail::RawRecord;
use super::sink::{read_record, Sink};
use super::{authorization, describe, eventbridge, results, Document, DocumentError, EventProblem};

/// Reads a JSON stream (one value or JSON Lines) into a document.
pub(super) fn read_json(data: &[u8]) -> Result<Document, DocumentError> {
    let mut document = Document::default();
    let read = json::read_stream::<Sink>(data, |sink, line| {
        let (evidence, problems) = sink.into_parts();
        document.evidence.extend(evidence);
        document.problems.extend(problems.into_iter().map(|mut p| {
            p.line.get_or_insert(line);
            p
        }));
    });
    read.map(|()| document)
}

/// What `Records` / `Events` containers and shapes are expected to be.
const EXPECTING: &str = "an EventBridge event, a CloudTrail record or log file, \
     cloudtrail lookup-events output, describe-instances/describe-volumes/describe-key output, \
     get-account-authorization-details output, a key policy {\"KeyArn\", \"Policy\"}, \
     or CloudTrail Lake query results";

/// Keys of the documents `start-doctor flows` reads (`describe-*` output of
/// the network, `filter-log-events` / `get-log-events` output, CloudWatch
/// Logs subscription payloads): passed over quietly here.
const FLOWS_KEYS: [&str; 17] = [
    "NetworkAcls",
    "Subnets",
    "Vpcs",
    "SecurityGroups",
    "NetworkInterfaces",
    "TransitGatewayVpcAttachments",
    "TransitGatewayAttachments",
    "RouteTables",
    "FlowLogs",
    "PrefixLists",
    "Entries",
    "VpcBlockPublicAccessOptions",
    "VpcBlockPublicAccessExclusions",
    "events",
    "logEvents",
    "messageType",
    "awslogs",
];

impl json::ObjectReader for Sink {
    const EXPECTING: &'static str = EXPECTING;

    fn read_object<'de, A: MapAccess<'de>>(&mut self, map: A) -> Result<(), A::Error> {
        read_object(map, self)
    }
}

/// Reads one object: streams `Records` / `Events`, classifies the rest.
fn read_object<'de, A: MapAccess<'de>>(mut map: A, sink: &mut Sink) -> Result<(), A::Error> {
    let mut fields: Vec<(String, &'de RawValue)> = Vec::new();
    let mut streamed = false;
    while let Some(key) = map.next_key::<String>()? {
        match key.as_str() {
            "Records" => {
                map.next_value_seed(RecordsSeed { sink: &mut *sink })?;
                streamed = true;
            }
            "Events" => {
                map.next_value_seed(LookupEventsSeed { sink: &mut *sink })?;
                streamed = true;
            }
            _ => fields.push((key, map.next_value()?)),
        }
    }
    if streamed {
        return Ok(());
    }
    let has = |name: &str| fields.iter().any(|(k, _)| k == name);
    let field = |name: &str| fields.iter().find(|(k, _)| k == name).map(|(_, v)| *v);
    if let Some(raw) = field("Reservations") {
        describe::read_instances(raw, sink);
    } else if let Some(raw) = field("Volumes") {
        describe::read_volumes(raw, sink);
    } else if let Some(raw) = field("KeyMetadata") {
        describe::read_key(raw, sink);
    } else if [
        "RoleDetailList",
        "UserDetailList",
        "GroupDetailList",
        "Policies",
    ]
    .iter()
    .any(|k| has(k))
    {
        authorization::read_details(&fields, sink);
    } else if let (Some(key_arn), Some(policy)) = (field("KeyArn"), field("Policy")) {
        authorization::read_key_policy(key_arn, policy, sink);
    } else if has("detail-type") && has("detail") {
        eventbridge::read_event(&fields, sink);
    } else if has("eventSource") && has("eventName") {
        let record = RawRecord::deserialize(MapDeserializer::new(fields.into_iter()));
        match record {
            Ok(record) => sink.take(record.into_evidence()),
            Err(e) => sink.problem(EventProblem::new(None, format!("CloudTrail record: {e}"))),
        }
    } else if let Some(raw) = field("CloudTrailEvent") {
        read_lookup_event_string(raw, sink);
    } else if let Some(raw) = field("QueryResultRows") {
        results::read_lake_rows(raw, sink);
    } else if has("digestStartTime") && has("logFiles") {
        // A CloudTrail digest file (log file validation): no events in it.
    } else if is_other_doctor_input(&has) {
        // Read by `start-doctor ebs` or `start-doctor flows`: known, and
        // unrelated to failed starts.
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

/// Whether an object is an input of another doctor: one of [`FLOWS_KEYS`]
/// (`start-doctor flows`), or (`start-doctor ebs`) `describe-instance-types`, `describe-volume-status`,
/// `describe-fast-snapshot-restores` output, a `get-metric-data` request
/// (`--cli-input-json`, or one query of a `--metric-data-queries` array)
/// or response. Such files sit beside this doctor's in `events/` and in
/// users' folders, so they are passed over quietly rather than reported as
/// unreadable.
fn is_other_doctor_input(has: &dyn Fn(&str) -> bool) -> bool {
    [
        "InstanceTypes",
        "VolumeStatuses",
        "FastSnapshotRestores",
        "MetricDataQueries",
        "MetricDataResults",
    ]
    .iter()
    .any(|k| has(k))
        || (has("Id") && (has("MetricStat") || has("Expression")))
        || FLOWS_KEYS.iter().any(|k| has(k))
}

/// `Records`: CloudTrail records, one at a time, so a bad record costs only
/// itself.
struct RecordsSeed<'s> {
    sink: &'s mut Sink,
}

impl<'de> DeserializeSeed<'de> for RecordsSeed<'_> {
    type Value = ();

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<(), D::Error> {
        deserializer.deserialize_seq(self)
    }
}

impl<'de> Visitor<'de> for RecordsSeed<'_> {
    type Value = ();

    fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        f.write_str("an array of CloudTrail records")
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<(), A::Error> {
        while let Some(raw) = seq.next_element::<&'de RawValue>()? {
            read_record(raw, self.sink);
        }
        Ok(())
    }
}

/// `Events` of `aws cloudtrail lookup-events`: each holds its record as a
/// JSON string in `CloudTrailEvent`.
struct LookupEventsSeed<'s> {
    sink: &'s mut Sink,
}

impl<'de> DeserializeSeed<'de> for LookupEventsSeed<'_> {
    type Value = ();

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<(), D::Error> {
        deserializer.deserialize_seq(self)
    }
}

impl<'de> Visitor<'de> for LookupEventsSeed<'_> {
    type Value = ();

    fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        f.write_str("an array of lookup-events results")
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<(), A::Error> {
        #[derive(Deserialize)]
        struct LookupEvent<'a> {
            #[serde(rename = "EventId", default)]
            event_id: Option<String>,
            #[serde(rename = "CloudTrailEvent", borrow, default)]
            cloudtrail_event: Option<&'a RawValue>,
        }
        while let Some(raw) = seq.next_element::<&'de RawValue>()? {
            match serde_json::from_str::<LookupEvent>(raw.get()) {
                Ok(LookupEvent {
                    cloudtrail_event: Some(record),
                    ..
                }) => read_lookup_event_string(record, self.sink),
                Ok(LookupEvent { event_id, .. }) => self.sink.problem(EventProblem::new(
                    event_id,
                    "lookup-events result has no CloudTrailEvent",
                )),
                Err(e) => self.sink.problem(EventProblem::new(
                    None,
                    format!("lookup-events result: {e}"),
                )),
            }
        }
        Ok(())
    }
}

/// A `CloudTrailEvent` value: the record as a JSON string (as the CLI
/// prints it), or already an object.
fn read_lookup_event_string(raw: &RawValue, sink: &mut Sink) {
    match serde_json::from_str::<String>(raw.get()) {
        Ok(text) => match serde_json::from_str::<&RawValue>(&text) {
            Ok(record) => read_record(record, sink),
            Err(e) => sink.problem(EventProblem::new(
                None,
                format!("CloudTrailEvent is not JSON: {e}"),
            )),
        },
        Err(_) => read_record(raw, sink),
    }
}
