//! Reading the files named on the command line, for every doctor:
//! directory walking (pruned by the selection's archive layout decisions),
//! parallel reading across cores, progress for large inputs, and errors
//! that name the file. What a file holds is the doctor's business: each
//! passes its own reader to [`read_all`].

use std::fmt;
use std::fs;
use std::io::IsTerminal;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use indicatif::{ProgressBar, ProgressStyle};
use rayon::prelude::*;
use start_doctor_core::selection::Selection;

/// A file (or S3 object, or query) that could not be read, with the reason.
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

/// What one file gave a doctor's reader: its content in the doctor's
/// terms, and the parts that were recognised but unusable (one line each,
/// such as `line 3: event ev-1: bad state`).
#[derive(Debug)]
pub struct FileContent<T> {
    /// The doctor's reading of the file.
    pub content: T,
    /// Recognised but unusable parts, skipped.
    pub problems: Vec<String>,
}

/// Everything read from the command line's paths.
#[derive(Debug)]
pub struct Files<T> {
    /// Each readable file's content, in path order.
    pub contents: Vec<T>,
    /// Files that could not be read.
    pub errors: Vec<FileError>,
    /// Parts of files that were skipped, as `path: problem; skipped`.
    pub warnings: Vec<String>,
    /// How much was read.
    pub stats: Stats,
}

impl<T> Default for Files<T> {
    fn default() -> Self {
        Self {
            contents: Vec::new(),
            errors: Vec::new(),
            warnings: Vec::new(),
            stats: Stats::default(),
        }
    }
}

impl<T> Files<T> {
    /// Adds what another source (S3, a query, a live read) read.
    #[cfg_attr(not(feature = "aws"), allow(dead_code))]
    pub fn absorb(&mut self, other: Files<T>) {
        self.contents.extend(other.contents);
        self.errors.extend(other.errors);
        self.warnings.extend(other.warnings);
        self.stats.files += other.stats.files;
        self.stats.skipped += other.stats.skipped;
        self.stats.bytes += other.stats.bytes;
        self.stats.elapsed += other.stats.elapsed;
    }

    /// Records one source's content (a file, an object, a query result)
    /// with its problems, named `name` in warnings.
    #[cfg_attr(not(feature = "aws"), allow(dead_code))]
    pub fn push(&mut self, name: &str, bytes: u64, file: FileContent<T>) {
        self.stats.files += 1;
        self.stats.bytes += bytes;
        self.warnings.extend(
            file.problems
                .into_iter()
                .map(|p| format!("{name}: {p}; skipped")),
        );
        self.contents.push(file.content);
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

/// Which folders and files of an `AWSLogs` archive layout can hold what a
/// doctor asks for: the selection and the service folder it reads
/// (`CloudTrail`, `vpcflowlogs`).
#[derive(Clone, Copy, Debug)]
pub struct Layout<'a> {
    /// The time range, accounts and Regions asked for.
    pub selection: &'a Selection,
    /// The service folder the doctor reads.
    pub service: &'a str,
}

/// A file to read and whether it was named explicitly (explicit files are
/// always read; files found in directories only when the reader wants
/// them).
struct Candidate {
    path: PathBuf,
    explicit: bool,
}

/// Below this much input no progress bar is worth drawing.
const PROGRESS_THRESHOLD_BYTES: u64 = 64 * 1024 * 1024;

/// Reads every path with `read`, files in parallel, passing over folders
/// and files that `layout` rules out by their place in the archive layout.
/// `read` gets a file's bytes and whether it was named on the command line;
/// it returns `Ok(None)` for a directory member that is none of its
/// business (a README, another doctor's input), `Err` with the reason for
/// a file it cannot read. Never panics on bad input.
pub fn read_all<T, F>(paths: &[&Path], layout: Option<Layout<'_>>, read: F) -> Files<T>
where
    T: Send,
    F: Fn(&[u8], bool) -> Result<Option<FileContent<T>>, String> + Sync,
{
    let started = Instant::now();
    let mut files = Files::default();
    let mut candidates = Vec::new();
    let mut walk = Walk {
        layout,
        out: &mut candidates,
        errors: &mut files.errors,
        skipped: 0,
    };
    for path in paths {
        walk.collect(path, true);
    }
    files.stats.skipped = walk.skipped;
    let total: u64 = candidates
        .iter()
        .filter_map(|c| fs::metadata(&c.path).ok())
        .map(|m| m.len())
        .sum();
    let progress = progress_bar(total);

    type Outcome<T> = Result<Option<(u64, FileContent<T>)>, String>;
    let results: Vec<(PathBuf, Outcome<T>)> = candidates
        .into_par_iter()
        .map(|c| {
            let result = fs::read(&c.path)
                .map_err(|e| e.to_string())
                .and_then(|bytes| {
                    let size = bytes.len() as u64;
                    progress.inc(size);
                    Ok(read(&bytes, c.explicit)?.map(|content| (size, content)))
                });
            (c.path, result)
        })
        .collect();
    progress.finish_and_clear();

    for (path, result) in results {
        match result {
            Ok(Some((bytes, content))) => {
                files.push(&path.display().to_string(), bytes, content);
            }
            Ok(None) => {}
            Err(reason) => files.errors.push(FileError { path, reason }),
        }
    }
    files.stats.elapsed = started.elapsed();
    files
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
    layout: Option<Layout<'a>>,
    out: &'a mut Vec<Candidate>,
    errors: &'a mut Vec<FileError>,
    skipped: usize,
}

impl Walk<'_> {
    /// Adds `path` (a file, or a directory walked recursively in name
    /// order, hidden entries left out). Paths found in directories are
    /// first checked against the layout; paths named explicitly are always
    /// read.
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
        let Some(layout) = self.layout else {
            return true;
        };
        if layout.selection.is_everything() {
            return true;
        }
        let components: Vec<String> = path
            .iter()
            .map(|c| c.to_string_lossy().into_owned())
            .collect();
        layout
            .selection
            .admits_components(components.iter().map(String::as_str), layout.service)
    }
}
