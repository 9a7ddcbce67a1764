//! Reading what people and AWS hand us, detected by content: flow-log
//! text (plain or gzip, streamed: [`text`]), and JSON documents
//! ([`json`]): `describe-*` output, `filter-log-events` /
//! `get-log-events` output and CloudWatch Logs subscription payloads.
//!
//! The configuration must be known before header-less records can be read
//! in a custom format, so a caller reads every JSON document first
//! ([`json::read_json`]), builds the [`Formats`] from the
//! `describe-flow-logs` output among them, then streams the text files
//! ([`text::read_text`]) and the records of the JSON documents
//! ([`json::LogEvents::read`]).

pub mod json;
pub mod results;
pub mod text;

use std::fmt;

use crate::record::Format;

/// The gzip magic number.
pub(crate) const GZIP_MAGIC: [u8; 2] = [0x1f, 0x8b];

/// What a document is, from its first bytes (after decompression).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Content {
    /// A JSON object or array.
    Json,
    /// Text lines (flow-log records, or anything else that is not JSON).
    Text,
    /// Nothing but whitespace.
    Empty,
}

/// What `head` (the first bytes of a document, decompressed) holds.
pub fn content(head: &[u8]) -> Content {
    let head = head.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(head);
    match head.iter().find(|b| !b.is_ascii_whitespace()) {
        None => Content::Empty,
        Some(b'{' | b'[') => Content::Json,
        Some(_) => Content::Text,
    }
}

/// Whether `head` (raw, maybe compressed) starts like gzip.
pub fn is_gzip(head: &[u8]) -> bool {
    head.starts_with(&GZIP_MAGIC)
}

/// One line (or record) that could not be read.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LineProblem {
    /// The 1-based line, or the 1-based number of the log event in a JSON
    /// container (see [`LineProblem::event`]).
    pub line: u64,
    /// Whether `line` numbers a log event of a JSON document rather than a
    /// line of text.
    pub event: bool,
    /// Why.
    pub message: String,
}

impl LineProblem {
    /// A problem on line `line` of a text.
    pub fn at_line(line: u64, message: impl Into<String>) -> Self {
        Self {
            line,
            event: false,
            message: message.into(),
        }
    }
}

impl fmt::Display for LineProblem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let what = if self.event { "log event" } else { "line" };
        write!(f, "{what} {}: {}", self.line, self.message)
    }
}

/// How many problems of one input are kept with their line.
pub const KEPT_PROBLEMS: usize = 5;

/// The lines of one input that could not be read: the first few with
/// their line, and how many in all (a file of garbage must not flood the
/// terminal).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Problems {
    /// The first [`KEPT_PROBLEMS`].
    pub first: Vec<LineProblem>,
    /// How many in all.
    pub total: u64,
}

impl Problems {
    /// Records one more.
    pub fn push(&mut self, problem: LineProblem) {
        self.total += 1;
        if self.first.len() < KEPT_PROBLEMS {
            self.first.push(problem);
        }
    }

    /// Whether there are none.
    pub fn is_empty(&self) -> bool {
        self.total == 0
    }

    /// Adds another input part's problems.
    pub fn extend(&mut self, other: Problems) {
        for p in other.first {
            if self.first.len() < KEPT_PROBLEMS {
                self.first.push(p);
            }
        }
        self.total += other.total;
    }

    /// One line per kept problem, and one for the rest.
    pub fn lines(&self) -> Vec<String> {
        let mut out: Vec<String> = self.first.iter().map(ToString::to_string).collect();
        let rest = self.total.saturating_sub(self.first.len() as u64);
        if rest > 0 {
            out.push(format!("{rest} more lines could not be read"));
        }
        out
    }
}

/// The flow-log formats known: the `LogFormat`s of the `describe-flow-logs`
/// output given (with their log groups), then the two default formats.
#[derive(Clone, Debug)]
pub struct Formats {
    given: Vec<(Option<String>, Format)>,
    defaults: [Format; 2],
}

impl Default for Formats {
    fn default() -> Self {
        Self {
            given: Vec::new(),
            defaults: [Format::default_vpc(), Format::default_tgw()],
        }
    }
}

impl Formats {
    /// Adds the format of a flow log, and the log group it delivers to.
    pub fn add(&mut self, log_group: Option<String>, format: Format) {
        if !self
            .given
            .iter()
            .any(|(g, f)| *g == log_group && *f == format)
        {
            self.given.push((log_group, format));
        }
    }

    /// The format of the flow log delivering to `log_group`, when exactly
    /// one format is known for it.
    pub fn for_log_group(&self, log_group: &str) -> Option<&Format> {
        let mut found = self
            .given
            .iter()
            .filter(|(g, _)| g.as_deref() == Some(log_group))
            .map(|(_, f)| f);
        let first = found.next()?;
        found.all(|f| f == first).then_some(first)
    }

    /// The first known format `tokens` fit.
    pub fn fitting(&self, tokens: &[&str]) -> Option<&Format> {
        self.given
            .iter()
            .map(|(_, f)| f)
            .chain(self.defaults.iter())
            .find(|f| f.fits(tokens))
    }

    /// How many formats were given.
    pub fn given(&self) -> usize {
        self.given.len()
    }
}

#[cfg(test)]
mod tests;
