//! Flow-log text: one record per line, streamed.
//!
//! A file delivered to S3 starts with a header line naming its fields. A
//! file without one (a CloudWatch Logs export, records copied by hand) is
//! read in the format its first record fits: a `LogFormat` of the
//! `describe-flow-logs` output given beside it, the default VPC format, or
//! the default Transit Gateway format. The format holds for the lines that
//! follow until a line fits another (files concatenated with `cat`). A line
//! of a CloudWatch Logs export to S3 (`create-export-task`) starts with the
//! event's time; that time is dropped.
//!
//! The text is read in chunks and split at newlines without building a
//! document: memory stays flat whatever the size of the file. An Athena
//! CSV result of flow-log records is text too, and read as such
//! ([`super::results`]).

use std::io::{BufRead, BufReader, Read};

use flate2::bufread::MultiGzDecoder;

use super::{Formats, LineProblem, Problems};
use crate::record::{self, Format, RecordError};
use crate::traffic::Traffic;

/// How much text is read at once.
const CHUNK: usize = 1 << 20;

/// What reading one flow-log text gave.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct TextSummary {
    /// Lines read (empty ones included).
    pub lines: u64,
    /// Records read.
    pub records: u64,
    /// Lines that could not be read.
    pub problems: Problems,
}

/// Why a flow-log text could not be read (records read before the error
/// are kept).
#[derive(Debug, thiserror::Error)]
pub enum TextError {
    /// The first line is neither a header nor a record of a known format.
    #[error(
        "line {line}: not a flow-log header or a record in a format start-doctor knows \
         (the default VPC or Transit Gateway format, or a LogFormat of the describe-flow-logs \
         output given beside it): {found}"
    )]
    NotFlowLog {
        /// The line.
        line: u64,
        /// Its start, cleaned.
        found: String,
    },
    /// The data could not be read or decompressed.
    #[error("after line {line}: {source}")]
    Read {
        /// The last complete line read.
        line: u64,
        /// The error (corrupt or truncated gzip, I/O).
        source: std::io::Error,
    },
    /// A Parquet file: flow logs can be delivered as Parquet, which is not
    /// read here.
    #[error(
        "a Parquet file: deliver flow logs as text to read them here, or query them where \
         they are (start-doctor query --doctor flows --engine athena)"
    )]
    Parquet,
}

/// Interprets record lines one at a time, keeping the format of the lines
/// before.
#[derive(Debug)]
pub struct LineReader<'f> {
    formats: &'f Formats,
    current: Option<Format>,
    strip_time: bool,
    /// Records read.
    pub records: u64,
    /// Lines that could not be read.
    pub problems: Problems,
}

/// What one line was.
#[derive(Debug, PartialEq, Eq)]
pub enum Line {
    /// A record, added to the traffic.
    Record,
    /// A header line: the format of the lines after it.
    Header,
    /// Nothing on it.
    Empty,
    /// A line that could not be read (kept in the problems).
    Problem,
    /// The first line, and no format fits it.
    Unknown,
}

impl<'f> LineReader<'f> {
    /// A reader for lines in `formats`, trying `preferred` first (the format
    /// of the flow log whose log group the lines come from).
    pub fn new(formats: &'f Formats, preferred: Option<&Format>) -> Self {
        Self {
            formats,
            current: preferred.cloned(),
            strip_time: false,
            records: 0,
            problems: Problems::default(),
        }
    }

    /// Reads line `number` (1-based); `tokens` is scratch space.
    pub fn line<'a>(
        &mut self,
        number: u64,
        line: &'a str,
        tokens: &mut Vec<&'a str>,
        traffic: &mut Traffic,
    ) -> Line {
        record::split(line, tokens);
        if tokens.is_empty() {
            return Line::Empty;
        }
        if (self.strip_time || self.current.is_none()) && looks_like_time(tokens[0]) {
            tokens.remove(0);
            self.strip_time = true;
        }
        if let Some(format) = &self.current {
            if tokens.len() == format.len() {
                match record::parse(format, tokens) {
                    Ok(record) => {
                        traffic.add(&record);
                        self.records += 1;
                        return Line::Record;
                    }
                    Err(e) => return self.misfit(number, line, tokens, traffic, Some(e)),
                }
            }
            return self.misfit(number, line, tokens, traffic, None);
        }
        if let Some(format) = Format::from_header(line) {
            self.current = Some(format);
            return Line::Header;
        }
        match self.formats.fitting(tokens) {
            Some(format) => {
                self.current = Some(format.clone());
                self.line(number, line, tokens, traffic)
            }
            None => Line::Unknown,
        }
    }

    /// A line that does not fit the current format: a new header, a line
    /// of another known format, or a problem.
    fn misfit<'a>(
        &mut self,
        number: u64,
        line: &'a str,
        tokens: &mut Vec<&'a str>,
        traffic: &mut Traffic,
        error: Option<RecordError>,
    ) -> Line {
        if let Some(format) = Format::from_header(line) {
            self.current = Some(format);
            return Line::Header;
        }
        if let Some(format) = self.formats.fitting(tokens) {
            if Some(format) != self.current.as_ref() {
                if let Ok(record) = record::parse(format, tokens) {
                    self.current = Some(format.clone());
                    traffic.add(&record);
                    self.records += 1;
                    return Line::Record;
                }
            }
        }
        let message = match (error, &self.current) {
            (Some(e), _) => e.to_string(),
            (None, Some(format)) => RecordError::Columns {
                expected: format.len(),
                found: tokens.len(),
            }
            .to_string(),
            (None, None) => "no format fits".to_owned(),
        };
        self.problems.push(LineProblem::at_line(number, message));
        Line::Problem
    }
}

/// Whether `token` is an RFC 3339 time (`2026-11-20T07:00:05.000Z`), as a
/// CloudWatch Logs export to S3 writes before each event.
fn looks_like_time(token: &str) -> bool {
    token.len() >= 20
        && token.as_bytes().get(4) == Some(&b'-')
        && token.as_bytes().get(10) == Some(&b'T')
        && chrono::DateTime::parse_from_rfc3339(token).is_ok()
}

/// Reads flow-log text (plain or gzip) from `reader` into `traffic`.
/// Records read before an error are kept.
pub fn read_text(
    reader: impl Read,
    formats: &Formats,
    traffic: &mut Traffic,
) -> Result<TextSummary, TextError> {
    let mut buffered = BufReader::with_capacity(CHUNK, reader);
    let head = buffered
        .fill_buf()
        .map_err(|source| TextError::Read { line: 0, source })?;
    if head.starts_with(b"PAR1") {
        return Err(TextError::Parquet);
    }
    if head.starts_with(&super::GZIP_MAGIC) {
        let plain = BufReader::with_capacity(CHUNK, MultiGzDecoder::new(buffered));
        dispatch(plain, formats, traffic)
    } else {
        dispatch(buffered, formats, traffic)
    }
}

/// Flow-log lines, or an Athena CSV result of flow-log records.
fn dispatch(
    mut reader: impl BufRead,
    formats: &Formats,
    traffic: &mut Traffic,
) -> Result<TextSummary, TextError> {
    let head = reader
        .fill_buf()
        .map_err(|source| TextError::Read { line: 0, source })?;
    if super::results::looks_like_csv(head) {
        return super::results::read_csv(reader, traffic);
    }
    read_plain(reader, formats, traffic)
}

fn read_plain(
    mut reader: impl Read,
    formats: &Formats,
    traffic: &mut Traffic,
) -> Result<TextSummary, TextError> {
    let mut lines = LineReader::new(formats, None);
    let mut summary = TextSummary::default();
    let mut buffer: Vec<u8> = vec![0; CHUNK];
    let mut filled = 0;
    loop {
        if filled == buffer.len() {
            // One line longer than the buffer: make room for it.
            buffer.resize(buffer.len() * 2, 0);
        }
        let read = match reader.read(&mut buffer[filled..]) {
            Ok(n) => n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(source) => {
                summary.records = lines.records;
                summary.problems = std::mem::take(&mut lines.problems);
                return Err(TextError::Read {
                    line: summary.lines,
                    source,
                });
            }
        };
        let end = filled + read;
        let at_eof = read == 0;
        let complete = if at_eof {
            end
        } else {
            match memchr::memrchr(b'\n', &buffer[..end]) {
                Some(i) => i + 1,
                None => {
                    filled = end;
                    continue;
                }
            }
        };
        process(&buffer[..complete], &mut lines, &mut summary, traffic)?;
        buffer.copy_within(complete..end, 0);
        filled = end - complete;
        if at_eof {
            break;
        }
    }
    summary.records = lines.records;
    summary.problems = lines.problems;
    Ok(summary)
}

/// Reads the complete lines of one chunk.
fn process(
    chunk: &[u8],
    lines: &mut LineReader<'_>,
    summary: &mut TextSummary,
    traffic: &mut Traffic,
) -> Result<(), TextError> {
    let mut tokens: Vec<&str> = Vec::with_capacity(64);
    let mut start = 0;
    while start < chunk.len() {
        let end = memchr::memchr(b'\n', &chunk[start..]).map_or(chunk.len(), |i| start + i);
        let mut raw = &chunk[start..end];
        start = end + 1;
        summary.lines += 1;
        let number = summary.lines;
        if number == 1 {
            raw = raw.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(raw);
        }
        let raw = raw.strip_suffix(b"\r").unwrap_or(raw);
        let Ok(text) = std::str::from_utf8(raw) else {
            lines
                .problems
                .push(LineProblem::at_line(number, "not UTF-8 text"));
            continue;
        };
        if lines.line(number, text, &mut tokens, traffic) == Line::Unknown {
            return Err(TextError::NotFlowLog {
                line: number,
                found: start_doctor_core::text::one_line(
                    &text.chars().take(80).collect::<String>(),
                ),
            });
        }
    }
    Ok(())
}
