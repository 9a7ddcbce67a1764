//! Reading the files people and AWS hand us, by content (the file name
//! plays no part): `describe-instances`, `describe-volumes`,
//! `describe-instance-types`, `describe-volume-status`,
//! `describe-fast-snapshot-restores` output; `get-metric-data` requests
//! (`--cli-input-json`, or the `--metric-data-queries` array) and
//! responses (one or several pages, as the CLI merges them or one per
//! file); EventBridge `EBS Volume Notification` and `CloudWatch Alarm State
//! Change` events. One value, an array or JSON Lines; plain or gzip.
//!
//! The inputs of the start doctor (`investigate`) that may sit in the same
//! folder (CloudTrail logs, lookup-events, describe-key, authorization
//! details, key policies, Lake results) are known and passed over quietly;
//! EventBridge events of other kinds are ignored. A document that cannot
//! be read (bad gzip, bad JSON, a shape that is none of these) is an error;
//! a readable one with a malformed item keeps the rest and names the item
//! in [`Problem`]s.

mod describe;
mod document;
mod events;
mod metrics;
mod time;

use std::fmt;

use chrono::{DateTime, Utc};

use crate::ids::VolumeId;
use crate::metric::SeriesKey;
use crate::model::{Alarm, FastRestore, Instance, TypeLimits, Volume, VolumeStatus};

pub use time::parse_timestamp;

/// One item that was recognised but could not be used. Its message names
/// what is left out; the CLI's shared report adds "; skipped".
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Problem {
    /// The line of the document its value starts on, when known.
    pub line: Option<usize>,
    /// What is wrong with it.
    pub message: String,
}

impl Problem {
    pub(crate) fn new(message: impl Into<String>) -> Self {
        Self {
            line: None,
            message: message.into(),
        }
    }
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if let Some(line) = self.line {
            write!(f, "line {line}: ")?;
        }
        f.write_str(&self.message)
    }
}

pub use start_doctor_core::json::DocumentError;

/// What a query of a `get-metric-data` request asks for.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum QueryTarget {
    /// A metric the doctor reads, with the statistic asked.
    Series {
        /// The series.
        key: SeriesKey,
        /// `Stat` (`Sum`, `Average`...).
        stat: Option<String>,
    },
    /// A metric math expression or Metrics Insights query: its results are
    /// not read (the doctor does the arithmetic from the raw metrics).
    Expression,
    /// A metric the doctor does not read.
    Unread(String),
}

/// One query of a `get-metric-data` request.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Query {
    /// Its `Id`, which the response's results carry.
    pub id: String,
    /// What it asks for.
    pub target: QueryTarget,
    /// `Period` in seconds.
    pub period: Option<u32>,
}

/// A result's `StatusCode`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Status {
    /// Every point of the range was returned.
    Complete,
    /// More pages follow (`NextToken`).
    PartialData,
    /// CloudWatch failed for this query.
    InternalError,
    /// Not allowed (e.g. cross-Region).
    Forbidden,
    /// Not given, or a code this version does not know.
    Other(String),
}

impl Status {
    fn parse(text: Option<&str>) -> Self {
        match text {
            Some("Complete") => Self::Complete,
            Some("PartialData") => Self::PartialData,
            Some("InternalError") => Self::InternalError,
            Some("Forbidden") => Self::Forbidden,
            other => Self::Other(other.unwrap_or_default().to_owned()),
        }
    }
}

/// One `MetricDataResults` entry (one page of one query).
#[derive(Clone, Debug, PartialEq)]
pub struct MetricResult {
    /// Its `Id`.
    pub id: Option<String>,
    /// Its `Label`.
    pub label: Option<String>,
    /// The points, as (minute since the Unix epoch, value), in the order
    /// given (CloudWatch returns newest first by default).
    pub points: Vec<(u32, f32)>,
    /// Its `StatusCode`.
    pub status: Status,
}

/// Everything one document held, not yet joined or deduplicated.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Document {
    /// `describe-instances`.
    pub instances: Vec<Instance>,
    /// `describe-volumes`.
    pub volumes: Vec<Volume>,
    /// `describe-instance-types`.
    pub instance_types: Vec<TypeLimits>,
    /// `describe-volume-status`.
    pub statuses: Vec<VolumeStatus>,
    /// `describe-fast-snapshot-restores`.
    pub fast_restores: Vec<FastRestore>,
    /// Successful `initializeVolume` events: the volume and when.
    pub initialized: Vec<(VolumeId, DateTime<Utc>)>,
    /// Alarm state changes.
    pub alarms: Vec<Alarm>,
    /// Queries of `get-metric-data` requests.
    pub queries: Vec<Query>,
    /// Results of `get-metric-data` responses.
    pub results: Vec<MetricResult>,
    /// Items recognised but unusable.
    pub problems: Vec<Problem>,
}

impl Document {
    /// Whether nothing was found in it.
    pub fn is_empty(&self) -> bool {
        self.instances.is_empty()
            && self.volumes.is_empty()
            && self.instance_types.is_empty()
            && self.statuses.is_empty()
            && self.fast_restores.is_empty()
            && self.initialized.is_empty()
            && self.alarms.is_empty()
            && self.queries.is_empty()
            && self.results.is_empty()
    }

    fn append(&mut self, other: Document) {
        self.instances.extend(other.instances);
        self.volumes.extend(other.volumes);
        self.instance_types.extend(other.instance_types);
        self.statuses.extend(other.statuses);
        self.fast_restores.extend(other.fast_restores);
        self.initialized.extend(other.initialized);
        self.alarms.extend(other.alarms);
        self.queries.extend(other.queries);
        self.results.extend(other.results);
        self.problems.extend(other.problems);
    }
}

/// Whether `bytes` look like something [`read_document`] reads (gzip, or
/// JSON starting with an object or an array): used to pass over READMEs,
/// scripts and CSV files when walking a directory.
pub fn looks_readable(bytes: &[u8]) -> bool {
    let bytes = bytes.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(bytes);
    bytes.starts_with(&[0x1f, 0x8b])
        || matches!(
            bytes.iter().find(|b| !b.is_ascii_whitespace()),
            Some(b'{' | b'[') | None
        )
}

/// Reads one document (gzip detected by its magic number, decompressed up
/// to the project's 1 GiB cap; a byte order mark removed).
pub fn read_document(bytes: &[u8]) -> Result<Document, DocumentError> {
    let plain = start_doctor_core::input::decode(bytes).map_err(DocumentError::from)?;
    document::read_json(&plain)
}

#[cfg(test)]
mod tests;
