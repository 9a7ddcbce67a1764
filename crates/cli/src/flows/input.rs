//! Reading the paths of `start-doctor flows`: the directory walk (pruned
//! by the flow-log archive layout), then two parallel passes: every JSON
//! document first (the configuration, whose `describe-flow-logs` output
//! gives the formats of header-less records), then every flow-log text,
//! streamed. Errors name the file (and the line).

use std::fmt;
use std::fs::{self, File};
use std::io::Read as _;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use rayon::prelude::*;
use start_doctor_flows::archive;
use start_doctor_flows::config::{Config, ConfigPart};
use start_doctor_flows::read::json::{read_json, JsonError, LogEvents};
use start_doctor_flows::read::text::{read_text, TextError};
use start_doctor_flows::read::{content, is_gzip, Content, Formats, Problems};
use start_doctor_flows::traffic::{Traffic, Window};

use crate::input::FileError;

/// Everything read.
#[derive(Debug, Default)]
pub struct Read {
    /// The configuration described.
    pub config: Config,
    /// The records, aggregated.
    pub traffic: Traffic,
    /// Inputs that could not be read.
    pub errors: Vec<FileError>,
    /// Lines that could not be read, configuration left out.
    pub warnings: Vec<String>,
    /// How much was read.
    pub stats: Stats,
}

/// How much was read, for `--stats` and the benchmark.
#[derive(Debug, Default)]
pub struct Stats {
    /// Files read.
    pub files: usize,
    /// Files and folders passed over (outside --since/--until, unrelated).
    pub skipped: usize,
    /// Bytes as stored.
    pub bytes: u64,
    /// Flow-log records read.
    pub records: u64,
    /// Time spent.
    pub elapsed: Duration,
}

impl fmt::Display for Stats {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let secs = self.elapsed.as_secs_f64();
        let (mb, records) = if secs > 0.0 {
            (self.bytes as f64 / secs / 1e6, self.records as f64 / secs)
        } else {
            (0.0, 0.0)
        };
        write!(
            f,
            "read {} files, {} bytes as stored, {} records in {secs:.2} s ({mb:.1} MB/s as stored, {records:.0} records/s); {} files or folders skipped",
            self.files, self.bytes, self.records, self.skipped
        )
    }
}

/// A file to read; `explicit` when named on the command line (explicit
/// files are always read and an unrelated one is an error; files found in
/// directories that are no input are passed over). A document read from
/// the account (`--live`) is held in memory under the name it is saved as.
struct Candidate {
    path: PathBuf,
    explicit: bool,
    memory: Option<Arc<Vec<u8>>>,
}

impl Candidate {
    fn open(&self) -> std::io::Result<Box<dyn std::io::Read + Send + '_>> {
        Ok(match &self.memory {
            Some(bytes) => Box::new(&bytes[..]),
            None => Box::new(File::open(&self.path)?),
        })
    }

    fn bytes(&self) -> std::io::Result<Vec<u8>> {
        match &self.memory {
            Some(bytes) => Ok(bytes.to_vec()),
            None => fs::read(&self.path),
        }
    }

    fn size(&self) -> u64 {
        match &self.memory {
            Some(bytes) => bytes.len() as u64,
            None => fs::metadata(&self.path).map(|m| m.len()).unwrap_or(0),
        }
    }
}

/// How much of a file is looked at to tell what it is.
const HEAD: usize = 4096;

/// What the first pass found in a file.
enum Sniffed {
    /// A JSON document: its configuration and log events.
    Json {
        config: Box<ConfigPart>,
        events: Vec<LogEvents>,
        bytes: u64,
    },
    /// Text, read in the second pass.
    Text,
    /// Nothing in it.
    Empty { bytes: u64 },
    /// An input of another doctor, or a file in a directory that is none.
    Unrelated,
}

/// Reads every path.
pub fn read_all(paths: &[PathBuf], window: Window) -> Read {
    read_with(paths, Vec::new(), window)
}

/// Reads every path, and documents held in memory (named as they would be
/// saved).
pub fn read_with(paths: &[PathBuf], memory: Vec<(PathBuf, Vec<u8>)>, window: Window) -> Read {
    let started = Instant::now();
    let mut read = Read::default();
    let mut candidates = Vec::new();
    for path in paths {
        walk(path, true, &window, &mut candidates, &mut read);
    }
    candidates.extend(memory.into_iter().map(|(path, bytes)| Candidate {
        path,
        explicit: true,
        memory: Some(Arc::new(bytes)),
    }));
    let sniffed: Vec<(Candidate, Result<Sniffed, String>)> = candidates
        .into_par_iter()
        .map(|c| {
            let result = sniff(&c);
            (c, result)
        })
        .collect();
    let mut part = ConfigPart::default();
    let mut events = Vec::new();
    let mut texts = Vec::new();
    for (candidate, result) in sniffed {
        match result {
            Ok(Sniffed::Json {
                config,
                events: e,
                bytes,
            }) => {
                read.stats.files += 1;
                read.stats.bytes += bytes;
                part.extend(*config);
                events.extend(e.into_iter().map(|e| (candidate.path.clone(), e)));
            }
            Ok(Sniffed::Text) => texts.push(candidate),
            Ok(Sniffed::Empty { bytes }) => {
                read.stats.files += 1;
                read.stats.bytes += bytes;
            }
            Ok(Sniffed::Unrelated) => read.stats.skipped += 1,
            Err(reason) => read.errors.push(FileError {
                path: candidate.path,
                reason,
            }),
        }
    }
    read.config = Config::build(part);
    read.warnings.extend(
        read.config
            .warnings
            .iter()
            .map(|w| format!("configuration: {w}")),
    );
    let formats = read.config.formats();
    let passes = texts
        .into_par_iter()
        .fold(
            || Pass::new(window),
            |mut pass, candidate| {
                pass.text(&candidate, &formats);
                pass
            },
        )
        .reduce(|| Pass::new(window), Pass::merge);
    let mut pass = passes;
    for (path, e) in &events {
        let (records, problems) = e.read(&formats, &mut pass.traffic);
        pass.records += records;
        pass.warn(path, problems);
    }
    read.traffic = pass.traffic;
    read.errors.extend(pass.errors);
    read.warnings.extend(pass.warnings);
    read.stats.files += pass.files;
    read.stats.skipped += pass.skipped;
    read.stats.bytes += pass.bytes;
    read.stats.records = pass.records;
    read.errors.sort_by(|a, b| a.path.cmp(&b.path));
    read.stats.elapsed = started.elapsed();
    read
}

/// The directory walk: name order, hidden entries left out, folders and
/// files of the archive layout outside the window passed over.
fn walk(path: &Path, explicit: bool, window: &Window, out: &mut Vec<Candidate>, read: &mut Read) {
    let error = |reason: String| FileError {
        path: path.to_owned(),
        reason,
    };
    if !explicit {
        let components: Vec<String> = path
            .iter()
            .map(|c| c.to_string_lossy().into_owned())
            .collect();
        if !archive::admits(components.iter().map(String::as_str), window) {
            read.stats.skipped += 1;
            return;
        }
    }
    let meta = match fs::metadata(path) {
        Ok(m) => m,
        Err(e) => return read.errors.push(error(e.to_string())),
    };
    if meta.is_file() {
        return out.push(Candidate {
            path: path.to_owned(),
            explicit,
            memory: None,
        });
    }
    if !meta.is_dir() {
        return read
            .errors
            .push(error("not a file or directory".to_owned()));
    }
    let entries = match fs::read_dir(path) {
        Ok(e) => e,
        Err(e) => return read.errors.push(error(e.to_string())),
    };
    let mut children: Vec<PathBuf> = entries.filter_map(Result::ok).map(|e| e.path()).collect();
    children.sort();
    for child in children {
        let hidden = child
            .file_name()
            .is_some_and(|n| n.to_string_lossy().starts_with('.'));
        if !hidden {
            walk(&child, false, window, out, read);
        }
    }
}

/// The first bytes of a file, decompressed when it is gzip.
fn head(candidate: &Candidate) -> Result<(Vec<u8>, bool), String> {
    let mut file = candidate.open().map_err(|e| e.to_string())?;
    let mut raw = vec![0; HEAD];
    let mut filled = 0;
    while filled < HEAD {
        match file.read(&mut raw[filled..]) {
            Ok(0) => break,
            Ok(n) => filled += n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e.to_string()),
        }
    }
    raw.truncate(filled);
    if !is_gzip(&raw) {
        return Ok((raw, false));
    }
    let file = candidate.open().map_err(|e| e.to_string())?;
    let mut plain = Vec::with_capacity(HEAD);
    // A gzip whose first block is damaged reads nothing here; the second
    // pass names the error.
    let _ = flate2::read::MultiGzDecoder::new(std::io::BufReader::new(file))
        .take(HEAD as u64)
        .read_to_end(&mut plain);
    Ok((plain, true))
}

/// Whether `bytes` are an input of the start doctor (CloudTrail, events,
/// query results): known, and not this doctor's.
fn other_doctors(bytes: &[u8]) -> bool {
    start_doctor_start::read::looks_readable(bytes)
        && start_doctor_start::read::read_document(bytes).is_ok()
}

fn sniff(candidate: &Candidate) -> Result<Sniffed, String> {
    let (head, _) = head(candidate)?;
    match content(&head) {
        Content::Empty => Ok(Sniffed::Empty {
            bytes: candidate.size(),
        }),
        Content::Text => Ok(Sniffed::Text),
        Content::Json => {
            let bytes = candidate.bytes().map_err(|e| e.to_string())?;
            match read_json(&bytes) {
                Ok(document) => Ok(Sniffed::Json {
                    config: Box::new(document.config),
                    events: document.events,
                    bytes: bytes.len() as u64,
                }),
                Err(JsonError::Unknown { .. }) if other_doctors(&bytes) => Ok(Sniffed::Unrelated),
                Err(e) => Err(e.to_string()),
            }
        }
    }
}

/// One thread's share of the second pass.
struct Pass {
    traffic: Traffic,
    errors: Vec<FileError>,
    warnings: Vec<String>,
    files: usize,
    skipped: usize,
    bytes: u64,
    records: u64,
}

impl Pass {
    fn new(window: Window) -> Self {
        Self {
            traffic: Traffic::new(window),
            errors: Vec::new(),
            warnings: Vec::new(),
            files: 0,
            skipped: 0,
            bytes: 0,
            records: 0,
        }
    }

    fn merge(mut self, other: Pass) -> Pass {
        self.traffic.merge(other.traffic);
        self.errors.extend(other.errors);
        self.warnings.extend(other.warnings);
        self.files += other.files;
        self.skipped += other.skipped;
        self.bytes += other.bytes;
        self.records += other.records;
        self
    }

    fn warn(&mut self, path: &Path, problems: Problems) {
        self.warnings.extend(
            problems
                .lines()
                .into_iter()
                .map(|p| format!("{}: {p}; skipped", path.display())),
        );
    }

    fn text(&mut self, candidate: &Candidate, formats: &Formats) {
        let path = &candidate.path;
        let error = |reason: String| FileError {
            path: path.clone(),
            reason,
        };
        let file = match candidate.open() {
            Ok(f) => f,
            Err(e) => return self.errors.push(error(e.to_string())),
        };
        let size = candidate.size();
        match read_text(file, formats, &mut self.traffic) {
            Ok(summary) => {
                self.files += 1;
                self.bytes += size;
                self.records += summary.records;
                self.warn(path, summary.problems);
            }
            Err(TextError::NotFlowLog { .. }) if !candidate.explicit => self.skipped += 1,
            Err(TextError::NotFlowLog { .. })
                if candidate.bytes().is_ok_and(|bytes| other_doctors(&bytes)) =>
            {
                self.skipped += 1;
            }
            Err(e) => {
                self.files += 1;
                self.bytes += size;
                self.errors.push(error(e.to_string()));
            }
        }
    }
}
