//! JSON documents, detected by their keys (one object, an array of
//! objects, or JSON Lines):
//!
//! - `describe-*` output: `NetworkAcls`, `Subnets`, `Vpcs`,
//!   `SecurityGroups`, `NetworkInterfaces`, `TransitGatewayVpcAttachments`,
//!   `TransitGatewayAttachments`, `RouteTables`, `FlowLogs`, `PrefixLists`,
//!   `get-managed-prefix-list-entries` (`Entries` of `Cidr`, with a
//!   `PrefixListId` added), `VpcBlockPublicAccessOptions`,
//!   `VpcBlockPublicAccessExclusions`;
//! - `aws logs filter-log-events` / `get-log-events` output (`events[]`
//!   with a `message` each);
//! - a CloudWatch Logs subscription payload as Lambda receives it
//!   (`{"awslogs": {"data": <base64 of gzip of JSON>}}`), or decoded
//!   (`messageType`, `logGroup`, `logEvents[]`); `CONTROL_MESSAGE`s hold
//!   no records.
//!
//! The records inside log events are read later ([`LogEvents::read`]),
//! once the formats of every `describe-flow-logs` output are known.

use std::io::Read;

use base64::Engine;
use flate2::read::MultiGzDecoder;
use serde::de::DeserializeOwned;
use serde_json::{Map, Value};

use super::text::{Line, LineReader};
use super::{Formats, LineProblem, Problems, GZIP_MAGIC};
use crate::config::ConfigPart;
use crate::traffic::Traffic;

/// The most one JSON document (or subscription payload) may decompress to.
pub const MAX_DECOMPRESSED: u64 = start_doctor_core::input::MAX_DECOMPRESSED;

/// The log events of one container: their messages are flow-log records.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct LogEvents {
    /// The log group, when the container names it (subscription payloads).
    pub log_group: Option<String>,
    /// The messages, in order.
    pub messages: Vec<String>,
}

impl LogEvents {
    /// Reads the records in the messages into `traffic`. Returns how many
    /// were records, and the messages that were none.
    pub fn read(&self, formats: &Formats, traffic: &mut Traffic) -> (u64, Problems) {
        let preferred = self
            .log_group
            .as_deref()
            .and_then(|g| formats.for_log_group(g));
        let mut lines = LineReader::new(formats, preferred);
        let mut tokens: Vec<&str> = Vec::with_capacity(64);
        for (i, message) in self.messages.iter().enumerate() {
            let number = i as u64 + 1;
            // One message is one record; a hand-made document may hold
            // several lines in one message: each is read.
            for part in message.trim_end_matches(['\n', '\r']).split('\n') {
                let part = part.trim_end_matches('\r');
                if lines.line(number, part, &mut tokens, traffic) == Line::Unknown {
                    lines.problems.push(LineProblem {
                        line: number,
                        event: true,
                        message: "not a flow-log record in a format start-doctor knows (give the \
                                  describe-flow-logs output of its flow log beside it)"
                            .to_owned(),
                    });
                }
            }
        }
        let mut problems = lines.problems;
        for p in &mut problems.first {
            p.event = true;
        }
        (lines.records, problems)
    }
}

/// What one JSON document held.
#[derive(Clone, Debug, Default)]
pub struct JsonDocument {
    /// Its `describe-*` parts.
    pub config: ConfigPart,
    /// Its log events.
    pub events: Vec<LogEvents>,
}

/// Why a JSON document could not be read.
#[derive(Debug, thiserror::Error)]
pub enum JsonError {
    /// Not JSON.
    #[error("invalid JSON at line {line}, column {column}: {message}")]
    Syntax {
        /// 1-based line.
        line: usize,
        /// 1-based column.
        column: usize,
        /// The parser's message.
        message: String,
    },
    /// JSON objects of no shape read here (maybe another doctor's input).
    #[error("line {line}: {message}")]
    Unknown {
        /// The line the value starts on.
        line: usize,
        /// What was found.
        message: String,
    },
    /// A shape read here, with a value that is not what it should be.
    #[error("line {line}: {message}")]
    Shape {
        /// The line the value starts on.
        line: usize,
        /// What was found.
        message: String,
    },
    /// Gzip that does not decompress (or too large).
    #[error("gzip data is corrupt, truncated or too large: {0}")]
    Gzip(#[source] std::io::Error),
}

/// Decompresses `bytes` when they are gzip, refusing more than `limit`.
pub fn gunzip_capped(bytes: &[u8], limit: u64) -> Result<Vec<u8>, std::io::Error> {
    let mut plain = Vec::new();
    MultiGzDecoder::new(bytes)
        .take(limit.saturating_add(1))
        .read_to_end(&mut plain)?;
    if plain.len() as u64 > limit {
        return Err(std::io::Error::other(format!(
            "decompresses to more than {limit} bytes"
        )));
    }
    Ok(plain)
}

/// Reads one JSON document (plain or gzip).
pub fn read_json(bytes: &[u8]) -> Result<JsonDocument, JsonError> {
    let plain;
    let bytes = if bytes.starts_with(&GZIP_MAGIC) {
        plain = gunzip_capped(bytes, MAX_DECOMPRESSED).map_err(JsonError::Gzip)?;
        &plain[..]
    } else {
        bytes
    };
    let bytes = bytes.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(bytes);
    let mut document = JsonDocument::default();
    let mut stream = serde_json::Deserializer::from_slice(bytes).into_iter::<Value>();
    loop {
        let start = stream.byte_offset();
        match stream.next() {
            None => return Ok(document),
            Some(Ok(value)) => {
                let line = line_of(bytes, start);
                read_value(value, &mut document).map_err(|e| match e {
                    ValueError::Unknown(message) => JsonError::Unknown { line, message },
                    ValueError::Shape(message) => JsonError::Shape { line, message },
                })?;
            }
            Some(Err(e)) => {
                return Err(JsonError::Syntax {
                    line: e.line(),
                    column: e.column(),
                    message: e
                        .to_string()
                        .rsplit_once(" at line ")
                        .map_or_else(|| e.to_string(), |(m, _)| m.to_owned()),
                })
            }
        }
    }
}

fn line_of(data: &[u8], offset: usize) -> usize {
    let skip = data[offset..]
        .iter()
        .take_while(|b| b.is_ascii_whitespace())
        .count();
    1 + data[..offset + skip]
        .iter()
        .filter(|&&b| b == b'\n')
        .count()
}

/// Why a value could not be read.
enum ValueError {
    /// No key of a shape read here.
    Unknown(String),
    /// A shape read here, badly formed.
    Shape(String),
}

impl From<String> for ValueError {
    fn from(message: String) -> Self {
        ValueError::Shape(message)
    }
}

impl From<&str> for ValueError {
    fn from(message: &str) -> Self {
        ValueError::Shape(message.to_owned())
    }
}

fn read_value(value: Value, document: &mut JsonDocument) -> Result<(), ValueError> {
    match value {
        Value::Array(items) => {
            for item in items {
                match item {
                    Value::Object(map) => read_object(map, document)?,
                    other => {
                        return Err(ValueError::Unknown(format!(
                            "an array holding {}",
                            kind(&other)
                        )))
                    }
                }
            }
            Ok(())
        }
        Value::Object(map) => read_object(map, document),
        other => Err(ValueError::Unknown(format!(
            "{} is not a document read here",
            kind(&other)
        ))),
    }
}

fn kind(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

/// The shapes read here, for messages.
const EXPECTING: &str = "describe-network-acls/subnets/vpcs/security-groups/network-interfaces/\
     transit-gateway-vpc-attachments/route-tables/flow-logs output, filter-log-events or \
     get-log-events output, or a CloudWatch Logs subscription payload";

fn list<T: DeserializeOwned>(
    map: &mut Map<String, Value>,
    key: &str,
) -> Result<Option<Vec<T>>, String> {
    match map.remove(key) {
        None => Ok(None),
        Some(Value::Null) => Ok(Some(Vec::new())),
        Some(value) => serde_json::from_value(value)
            .map(Some)
            .map_err(|e| format!("{key}: {e}")),
    }
}

fn read_object(mut map: Map<String, Value>, document: &mut JsonDocument) -> Result<(), ValueError> {
    let config = &mut document.config.0;
    let mut recognised = false;
    macro_rules! take {
        ($key:literal, $field:ident) => {
            if let Some(items) = list(&mut map, $key)? {
                config.$field.extend(items);
                recognised = true;
            }
        };
    }
    take!("NetworkAcls", network_acls);
    take!("Subnets", subnets);
    take!("Vpcs", vpcs);
    take!("SecurityGroups", security_groups);
    take!("NetworkInterfaces", interfaces);
    take!("TransitGatewayVpcAttachments", vpc_attachments);
    take!("TransitGatewayAttachments", tgw_attachments);
    take!("RouteTables", route_tables);
    take!("FlowLogs", flow_logs);
    take!("PrefixLists", prefix_lists);
    take!("VpcBlockPublicAccessExclusions", bpa_exclusions);
    if let Some(options) = map.remove("VpcBlockPublicAccessOptions") {
        config.bpa_options.push(
            serde_json::from_value(options)
                .map_err(|e| format!("VpcBlockPublicAccessOptions: {e}"))?,
        );
        recognised = true;
    }
    if map.contains_key("Entries") {
        let entries = serde_json::from_value(Value::Object(std::mem::take(&mut map)))
            .map_err(|e| format!("prefix list entries: {e}"))?;
        config.prefix_list_entries.push(entries);
        recognised = true;
    }
    if let Some(events) = map.remove("events") {
        document.events.push(log_events(events, None)?);
        recognised = true;
    }
    if let Some(events) = map.remove("logEvents") {
        let group = map
            .get("logGroup")
            .and_then(Value::as_str)
            .map(str::to_owned);
        document.events.push(log_events(events, group)?);
        recognised = true;
    } else if map.get("messageType").and_then(Value::as_str) == Some("CONTROL_MESSAGE") {
        recognised = true;
    }
    if let Some(awslogs) = map.remove("awslogs") {
        let decoded = subscription_payload(&awslogs)?;
        read_value(decoded, document)?;
        recognised = true;
    }
    if recognised {
        return Ok(());
    }
    let mut keys: Vec<&str> = map.keys().map(String::as_str).take(6).collect();
    keys.sort_unstable();
    Err(ValueError::Unknown(format!(
        "found an object with keys [{}], which is not {EXPECTING}",
        keys.join(", ")
    )))
}

/// `events[]` / `logEvents[]`: objects with a `message` string each.
fn log_events(value: Value, log_group: Option<String>) -> Result<LogEvents, String> {
    let Value::Array(items) = value else {
        return Err("log events are not an array".to_owned());
    };
    let mut messages = Vec::with_capacity(items.len());
    for (i, item) in items.into_iter().enumerate() {
        match item {
            Value::Object(mut event) => match event.remove("message") {
                Some(Value::String(message)) => messages.push(message),
                _ => return Err(format!("log event {} has no message string", i + 1)),
            },
            _ => return Err(format!("log event {} is not an object", i + 1)),
        }
    }
    Ok(LogEvents {
        log_group,
        messages,
    })
}

/// `awslogs.data`: base64 of gzip of the subscription's JSON.
fn subscription_payload(awslogs: &Value) -> Result<Value, String> {
    let data = awslogs
        .get("data")
        .and_then(Value::as_str)
        .ok_or("awslogs has no data string")?;
    let compressed = base64::engine::general_purpose::STANDARD
        .decode(data.trim())
        .map_err(|e| format!("awslogs.data is not base64: {e}"))?;
    let plain = if compressed.starts_with(&GZIP_MAGIC) {
        gunzip_capped(&compressed, MAX_DECOMPRESSED)
            .map_err(|e| format!("awslogs.data is not gzip: {e}"))?
    } else {
        compressed
    };
    serde_json::from_slice(&plain).map_err(|e| format!("awslogs.data is not JSON: {e}"))
}
