//! Reading the files named on the command line: directory walking (pruned
//! by the selection's archive layout decisions), parallel parsing across
//! cores, progress for large inputs, and errors that name the file.

use std::fmt;
use std::fs;
use std::io::IsTerminal;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use indicatif::{ProgressBar, ProgressStyle};
use rayon::prelude::*;
use start_doctor_core::selection::Selection;
use start_doctor_core::{read_document, DocumentError, EvidenceSet};

/// A file (or S3 object) that could not be read, with the reason.
#[derive(Debug)]
pub struct FileError {
    /// The file, or the object's `s3://` URI.
    pub path: PathBuf,
    /// Why.
    pub reason: String,
}

impl fmt::Display for FileError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.path.display(), self.reason)
    }
}

/// Everything read from the command line's paths.
#[derive(Debug, Default)]
pub struct Read {
    /// The deduplicated evidence of all readable files.
    pub evidence: EvidenceSet,
    /// Files that could not be read.
    pub errors: Vec<FileError>,
    /// Malformed events that were skipped, as `path: line N: event ID: why`.
    pub warnings: Vec<String>,
    /// How much was read.
    pub stats: Stats,
}

impl Read {
    /// Adds what another source (S3, a query) read.
    #[cfg(feature = "aws")]
    pub fn absorb(&mut self, other: Read) {
        self.evidence.merge(other.evidence);
        self.errors.extend(other.errors);
        self.warnings.extend(other.warnings);
        self.stats.files += other.stats.files;
        self.stats.skipped += other.stats.skipped;
        self.stats.bytes += other.stats.bytes;
        self.stats.elapsed += other.stats.elapsed;
    }
}

/// How much of the input was read, for `--stats` and the benchmarks.
#[derive(Debug, Default)]
pub struct Stats {
    /// Files read.
    pub files: usize,
    /// Files and folders the selection ruled out without reading them.
    pub skipped: usize,
    /// Bytes read from disk (compressed size for gzip).
    pub bytes: u64,
    /// Time spent reading and parsing.
    pub elapsed: Duration,
}

impl fmt::Display for Stats {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let secs = self.elapsed.as_secs_f64();
        let rate = if secs > 0.0 {
            self.bytes as f64 / secs / 1e6
        } else {
            0.0
        };
        write!(
            f,
            "read {} files, {} bytes as stored in {secs:.2} s ({rate:.1} MB/s as stored); {} files or folders skipped by the filters",
            self.files, self.bytes, self.skipped
        )
    }
}

/// A file to read and whether it was named explicitly (explicit files are
/// always read; files found in directories only when they look like JSON or
/// gzip).
pub struct Candidate {
    /// The file.
    pub path: PathBuf,
    /// Named on the command line (rather than found in a directory).
    pub explicit: bool,
}

/// The files under `paths` (directories walked recursively in name order,
/// hidden entries skipped, folders the selection rules out passed over),
/// the paths that could not be walked, and how many were passed over.
pub fn candidates(
    paths: &[&Path],
    selection: &Selection,
) -> (Vec<Candidate>, Vec<FileError>, usize) {
    let mut candidates = Vec::new();
    let mut errors = Vec::new();
    let mut walk = Walk {
        selection,
        out: &mut candidates,
        errors: &mut errors,
        skipped: 0,
    };
    for path in paths {
        walk.collect(path, true);
    }
    let skipped = walk.skipped;
    (candidates, errors, skipped)
}

/// Below this much input no progress bar is worth drawing.
const PROGRESS_THRESHOLD_BYTES: u64 = 64 * 1024 * 1024;

/// Reads every path, files in parallel, passing over folders and files
/// that the selection rules out by their place in the archive layout.
/// Never panics on bad input.
pub fn read_all(paths: &[&Path], selection: &Selection) -> Read {
    let started = Instant::now();
    let mut read = Read::default();
    let (candidates, errors, skipped) = candidates(paths, selection);
    read.errors = errors;
    read.stats.skipped = skipped;
    let total: u64 = candidates
        .iter()
        .filter_map(|c| fs::metadata(&c.path).ok())
        .map(|m| m.len())
        .sum();
    let progress = progress_bar(total);

    let results: Vec<(PathBuf, Result<Option<FileResult>, String>)> = candidates
        .into_par_iter()
        .map(|c| {
            let result = read_file(&c);
            if let Ok(Some(r)) = &result {
                progress.inc(r.bytes);
            }
            (c.path, result)
        })
        .collect();
    progress.finish_and_clear();

    for (path, result) in results {
        match result {
            Ok(Some(file)) => {
                read.stats.files += 1;
                read.stats.bytes += file.bytes;
                read.evidence.merge(file.evidence);
                read.warnings.extend(
                    file.problems
                        .into_iter()
                        .map(|p| format!("{}: {p}; skipped", path.display())),
                );
            }
            Ok(None) => {}
            Err(reason) => read.errors.push(FileError { path, reason }),
        }
    }
    read.stats.elapsed = started.elapsed();
    read
}

fn progress_bar(total: u64) -> ProgressBar {
    if total < PROGRESS_THRESHOLD_BYTES || !std::io::stderr().is_terminal() {
        return ProgressBar::hidden();
    }
    let bar = ProgressBar::new(total);
    if let Ok(style) = ProgressStyle::with_template(
        "{spinner} reading {bytes}/{total_bytes} ({bytes_per_sec}, eta {eta})",
    ) {
        bar.set_style(style);
    }
    bar
}

/// The walk over the command line's paths.
struct Walk<'a> {
    selection: &'a Selection,
    out: &'a mut Vec<Candidate>,
    errors: &'a mut Vec<FileError>,
    skipped: usize,
}

impl Walk<'_> {
    /// Adds `path` (a file, or a directory walked recursively in name
    /// order). Paths found in directories are first checked against the
    /// selection; paths named explicitly are always read.
    fn collect(&mut self, path: &Path, explicit: bool) {
        let error = |reason: String| FileError {
            path: path.to_owned(),
            reason,
        };
        if !explicit && !self.admits(path) {
            self.skipped += 1;
            return;
        }
        let meta = match fs::metadata(path) {
            Ok(m) => m,
            Err(e) => return self.errors.push(error(e.to_string())),
        };
        if meta.is_file() {
            return self.out.push(Candidate {
                path: path.to_owned(),
                explicit,
            });
        }
        if !meta.is_dir() {
            return self
                .errors
                .push(error("not a file or directory".to_owned()));
        }
        let entries = match fs::read_dir(path) {
            Ok(e) => e,
            Err(e) => return self.errors.push(error(e.to_string())),
        };
        let mut children: Vec<PathBuf> = entries.filter_map(Result::ok).map(|e| e.path()).collect();
        children.sort();
        for child in children {
            let hidden = child
                .file_name()
                .is_some_and(|n| n.to_string_lossy().starts_with('.'));
            if !hidden {
                self.collect(&child, false);
            }
        }
    }

    fn admits(&self, path: &Path) -> bool {
        if self.selection.is_everything() {
            return true;
        }
        let components: Vec<String> = path
            .iter()
            .map(|c| c.to_string_lossy().into_owned())
            .collect();
        self.selection
            .admits_components(components.iter().map(String::as_str))
    }
}

struct FileResult {
    evidence: EvidenceSet,
    problems: Vec<start_doctor_core::EventProblem>,
    bytes: u64,
}

/// Reads one file. `Ok(None)`: a directory member that is not JSON or gzip.
fn read_file(candidate: &Candidate) -> Result<Option<FileResult>, String> {
    let bytes = fs::read(&candidate.path).map_err(|e| e.to_string())?;
    if !candidate.explicit && !start_doctor_core::read::looks_readable(&bytes) {
        return Ok(None);
    }
    let document = read_document(&bytes).map_err(|e| match e {
        DocumentError::Gzip(_) | DocumentError::Json { .. } | DocumentError::Shape { .. } => {
            e.to_string()
        }
    })?;
    Ok(Some(FileResult {
        evidence: document.evidence.into_iter().collect(),
        problems: document.problems,
        bytes: bytes.len() as u64,
    }))
}
