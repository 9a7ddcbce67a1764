//! Reading the files named on the command line: directory walking, parallel
//! parsing across cores, progress for large inputs, and errors that name the
//! file.

use std::fmt;
use std::fs;
use std::io::IsTerminal;
use std::path::{Path, PathBuf};

use indicatif::{ProgressBar, ProgressStyle};
use rayon::prelude::*;
use start_doctor_core::{read_document, DocumentError, EvidenceSet};

/// A file that could not be read, with the reason.
#[derive(Debug)]
pub struct FileError {
    path: PathBuf,
    reason: String,
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
}

/// A file to read and whether it was named explicitly (explicit files are
/// always read; files found in directories only when they look like JSON or
/// gzip).
struct Candidate {
    path: PathBuf,
    explicit: bool,
}

/// Below this much input no progress bar is worth drawing.
const PROGRESS_THRESHOLD_BYTES: u64 = 64 * 1024 * 1024;

/// Reads every path, files in parallel. Never panics on bad input.
pub fn read_all(paths: &[PathBuf]) -> Read {
    let mut read = Read::default();
    let mut candidates = Vec::new();
    for path in paths {
        collect(path, true, &mut candidates, &mut read.errors);
    }
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

/// Adds `path` (a file, or a directory walked recursively in name order).
fn collect(path: &Path, explicit: bool, out: &mut Vec<Candidate>, errors: &mut Vec<FileError>) {
    let error = |reason: String| FileError {
        path: path.to_owned(),
        reason,
    };
    let meta = match fs::metadata(path) {
        Ok(m) => m,
        Err(e) => return errors.push(error(e.to_string())),
    };
    if meta.is_file() {
        return out.push(Candidate {
            path: path.to_owned(),
            explicit,
        });
    }
    if !meta.is_dir() {
        return errors.push(error("not a file or directory".to_owned()));
    }
    let entries = match fs::read_dir(path) {
        Ok(e) => e,
        Err(e) => return errors.push(error(e.to_string())),
    };
    let mut children: Vec<PathBuf> = entries.filter_map(Result::ok).map(|e| e.path()).collect();
    children.sort();
    for child in children {
        let hidden = child
            .file_name()
            .is_some_and(|n| n.to_string_lossy().starts_with('.'));
        if !hidden {
            collect(&child, false, out, errors);
        }
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
