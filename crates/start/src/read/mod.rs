//! Reading evidence from the documents people and AWS hand us.
//!
//! [`read_document`] takes the bytes of one file (or one Lambda payload),
//! detects what it holds from the content alone and returns the evidence in
//! it. Supported: a single EventBridge event, a JSON array or JSON Lines of
//! events, a bare CloudTrail record, a CloudTrail log file
//! (`{"Records": [...]}`, plain or gzip), `aws cloudtrail lookup-events`
//! output, `aws ec2 describe-instances` / `describe-volumes` /
//! `aws kms describe-key` output, for preflight `aws iam
//! get-account-authorization-details` output and key policies
//! (`{"KeyArn": ..., "Policy": ...}`), and the results of the evidence
//! query (`start-doctor query`): Athena CSV and CloudTrail Lake
//! `GetQueryResults` JSON.
//!
//! A document that cannot be read (bad gzip, bad JSON, a shape that is none
//! of these) is an error. A readable document holding one malformed event
//! yields the other events plus an [`EventProblem`] naming the bad one, so
//! nothing else is lost.

mod authorization;
mod cloudtrail;
mod describe;
mod document;
mod eventbridge;
mod results;
mod sink;

use std::fmt;

use start_doctor_core::input::{self, strip_bom};

use crate::evidence::Evidence;

/// One event that was recognised but could not be used.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct EventProblem {
    /// The line of the document the event starts on, when known.
    pub line: Option<usize>,
    /// The event's id (EventBridge `id` or CloudTrail `eventID`), when known.
    pub event_id: Option<String>,
    /// What is wrong with it.
    pub message: String,
}

impl EventProblem {
    pub(crate) fn new(event_id: Option<String>, message: impl Into<String>) -> Self {
        Self {
            line: None,
            event_id,
            message: message.into(),
        }
    }
}

impl fmt::Display for EventProblem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if let Some(line) = self.line {
            write!(f, "line {line}: ")?;
        }
        if let Some(id) = &self.event_id {
            write!(f, "event {id}: ")?;
        }
        f.write_str(&self.message)
    }
}

pub use start_doctor_core::json::DocumentError;

/// What one document held.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Document {
    /// The evidence found, in document order (not yet deduplicated).
    pub evidence: Vec<Evidence>,
    /// Events that were recognised but unusable.
    pub problems: Vec<EventProblem>,
}

/// The most one gzip document may decompress to.
pub use start_doctor_core::input::MAX_DECOMPRESSED;

/// Whether `bytes` look like something [`read_document`] reads: gzip,
/// JSON starting with an object or an array, or an Athena CSV result. Used
/// to pass over unrelated files (READMEs, scripts) when walking a
/// directory.
pub fn looks_readable(bytes: &[u8]) -> bool {
    input::is_gzip(bytes)
        || results::looks_like_csv(strip_bom(bytes))
        || matches!(
            strip_bom(bytes).iter().find(|b| !b.is_ascii_whitespace()),
            Some(b'{' | b'[') | None
        )
}

/// Reads one document. Gzip is detected by its magic number, the JSON shape
/// by its keys; the file name plays no part.
pub fn read_document(bytes: &[u8]) -> Result<Document, DocumentError> {
    let plain = input::decode(bytes).map_err(DocumentError::from)?;
    read_plain(&plain)
}

/// Reads the rows of the evidence query as an engine API returns them
/// (Athena `GetQueryResults`, Lake `GetQueryResults`): each row a list of
/// (column, value) pairs, an empty value standing for null. The columns are
/// those of [`crate::query::COLUMNS`] or of the standard CloudTrail table.
pub fn read_query_rows<R>(rows: impl IntoIterator<Item = R>) -> Document
where
    R: IntoIterator<Item = (String, String)>,
{
    let mut document = Document::default();
    for row in rows {
        let row: Vec<(String, String)> = row
            .into_iter()
            .map(|(column, value)| (column.to_ascii_lowercase(), value))
            .collect();
        let mut sink = sink::Sink::default();
        results::read_row(row.iter().map(|(c, v)| (c.as_str(), v.clone())), &mut sink);
        let (evidence, problems) = sink.into_parts();
        document.evidence.extend(evidence);
        document.problems.extend(problems);
    }
    document
}

/// Reads decompressed content: an Athena CSV result or JSON.
fn read_plain(bytes: &[u8]) -> Result<Document, DocumentError> {
    if results::looks_like_csv(bytes) {
        return results::read_csv(bytes);
    }
    if is_flow_log_text(bytes) {
        return Ok(Document::default());
    }
    document::read_json(bytes)
}

/// Whether `bytes` start like VPC or Transit Gateway flow-log text (what
/// `start-doctor flows` reads): a header line naming `srcaddr` and
/// `dstaddr` (plain, or quoted as in an Athena result), or a record of the
/// default formats (version first, then the account or resource type and
/// an `eni-` interface or `tgw-` gateway). Known, and no evidence of a start.
pub fn is_flow_log_text(bytes: &[u8]) -> bool {
    let first_line = bytes
        .split(|&b| b == b'\n')
        .map(|l| l.strip_suffix(b"\r").unwrap_or(l))
        .find(|l| l.iter().any(|b| !b.is_ascii_whitespace()))
        .unwrap_or_default();
    let line = String::from_utf8_lossy(first_line);
    let tokens: Vec<&str> = line
        .split(|c: char| c.is_ascii_whitespace() || c == ',')
        .map(|t| t.trim_matches('"'))
        .filter(|t| !t.is_empty())
        .collect();
    let header = tokens.contains(&"srcaddr") && tokens.contains(&"dstaddr");
    let version = tokens
        .first()
        .is_some_and(|t| !t.is_empty() && t.bytes().all(|b| b.is_ascii_digit()));
    let vpc_record =
        version && tokens.len() >= 14 && tokens.get(2).is_some_and(|t| t.starts_with("eni-"));
    let tgw_record = version
        && tokens
            .get(1)
            .is_some_and(|t| t.starts_with("TransitGateway"))
        && tokens.get(3).is_some_and(|t| t.starts_with("tgw-"));
    header || vpc_record || tgw_record
}

#[cfg(test)]
mod tests;
