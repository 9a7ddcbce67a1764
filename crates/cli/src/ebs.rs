//! `start-doctor ebs`: why is this instance slow? Reads describe output and
//! CloudWatch metrics (files in parallel, by content) and prints one
//! finding per instance; `ebs query` prints the get-metric-data request
//! that collects the metrics.

use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Instant;

use chrono::{DateTime, Duration, DurationRound, Utc};
use clap::{Args, Subcommand, ValueEnum};
use rayon::prelude::*;
use start_doctor_core::ids::InstanceId;
use start_doctor_core::selection::{self, Selection};
use start_doctor_ebs::read::{looks_readable, read_document, Problem};
use start_doctor_ebs::{query, render, rules, Collected, Evidence};

use crate::input;

/// `start-doctor ebs [PATH]... | ebs query PATH...`
#[derive(Debug, Args)]
#[command(args_conflicts_with_subcommands = true, after_help = EBS_HELP)]
pub struct EbsArgs {
    #[command(subcommand)]
    command: Option<EbsCommand>,
    #[command(flatten)]
    diagnose: DiagnoseArgs,
}

#[derive(Debug, Subcommand)]
enum EbsCommand {
    /// Print the `aws cloudwatch get-metric-data --cli-input-json` request
    /// for every instance and attached volume of the describe output given.
    #[command(after_help = QUERY_HELP)]
    Query(QueryArgs),
}

#[derive(Debug, Args)]
struct DiagnoseArgs {
    /// Files or directories (read recursively), detected by content; gzip
    /// is decompressed.
    #[arg(value_name = "PATH")]
    paths: Vec<PathBuf>,
    /// Report only this instance (repeatable); everything is still read.
    #[arg(long = "instance-id", value_name = "ID", value_parser = parse_instance_id)]
    instance_ids: Vec<InstanceId>,
    /// Only metric points at or after this time: RFC 3339, a date, or an
    /// age (90m, 12h, 2d).
    #[arg(long, value_name = "TIME", value_parser = parse_time)]
    since: Option<DateTime<Utc>>,
    /// Only metric points at or before this time (same forms).
    #[arg(long, value_name = "TIME", value_parser = parse_time)]
    until: Option<DateTime<Utc>>,
    /// Output format.
    #[arg(long, value_enum, default_value_t = Format::Text)]
    format: Format,
    /// Print what was read (files, bytes, time) on stderr.
    #[arg(long)]
    stats: bool,
    /// Gather the evidence from the account (describe calls and
    /// GetMetricData, with the caller's credentials and Region) beside any
    /// PATH: needs a build with the `aws` feature. The window is
    /// --since/--until (default: the last 3 hours).
    #[arg(long)]
    live: bool,
    /// With --live: write what was gathered to DIR, as the files
    /// `start-doctor ebs DIR` reads back.
    #[arg(long, value_name = "DIR", requires = "live")]
    save: Option<PathBuf>,
}

#[derive(Debug, Args)]
struct QueryArgs {
    /// describe-instances / describe-volumes output (files or directories).
    #[arg(required = true, value_name = "PATH")]
    paths: Vec<PathBuf>,
    /// Start of the window (default: 3 hours before --until).
    #[arg(long, value_name = "TIME", value_parser = parse_time)]
    since: Option<DateTime<Utc>>,
    /// End of the window (default: now, to the minute).
    #[arg(long, value_name = "TIME", value_parser = parse_time)]
    until: Option<DateTime<Utc>>,
    /// Seconds per point: 60 (EBS volume metrics are 1-minute), or a
    /// multiple of 60; raised to 300 or 3600 for windows older than
    /// CloudWatch keeps 1-minute points.
    #[arg(long, default_value_t = 60, value_name = "SECONDS")]
    period: u32,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
enum Format {
    /// For people, with a chart of demand against the ceiling.
    Text,
    /// The JSON contract: `{"findings": [...]}` (schema/ebs.schema.json).
    Json,
}

const EBS_HELP: &str = "\
Inputs (any mix, any order, detected by content; duplicates counted once):
  aws ec2 describe-instances / describe-volumes / describe-instance-types /
    describe-volume-status / describe-fast-snapshot-restores output
  aws cloudwatch get-metric-data requests (--cli-input-json, or the
    --metric-data-queries list) and responses, one or several pages, in any
    order; a response without its request is read when its labels are
    `<Namespace> <MetricName> <Dim>=<Value>...` (start-doctor ebs query writes those)
  EventBridge events: EBS Volume Notification (initializeVolume),
    CloudWatch Alarm State Change
The start doctor's inputs (CloudTrail logs...) are passed over quietly.

Collect them with the AWS CLI:
  aws ec2 describe-instances --instance-ids i-... > describe/instances.json
  aws ec2 describe-volumes --filters Name=attachment.instance-id,Values=i-... > describe/volumes.json
  aws ec2 describe-instance-types --instance-types m5.large > describe/types.json
  aws ec2 describe-volume-status --volume-ids vol-... > describe/status.json
  start-doctor ebs query describe/ --since 3h > request.json
  aws cloudwatch get-metric-data --cli-input-json file://request.json > metrics.json
  start-doctor ebs describe/ request.json metrics.json

Exit status:
  0  every input was read (whatever was found)
  1  an input could not be read: one line per file on stderr (and the line,
     for JSON Lines); the findings of everything else are still printed
  2  bad command line";

const QUERY_HELP: &str = "\
Prints the --cli-input-json request of aws cloudwatch get-metric-data for
every metric start-doctor ebs reads, per instance and attached volume, with
the dimensions CloudWatch publishes them under, and a label naming each
series so the response reads without the request.

GetMetricData takes at most 500 queries per request. Up to 500, one JSON
document is printed: save it and run
  aws cloudwatch get-metric-data --cli-input-json file://request.json > metrics.json
Beyond 500, one request per line (JSON Lines) is printed; run each:
  start-doctor ebs query describe/ > requests.jsonl
  split -l 1 -d -a 4 requests.jsonl request-
  for f in request-*; do aws cloudwatch get-metric-data --cli-input-json \"file://$f\" > \"$f.metrics.json\"; done
The AWS CLI follows NextToken by itself and prints every page in one
response; start-doctor ebs reads them all.";

fn parse_time(text: &str) -> Result<DateTime<Utc>, String> {
    // The clock is read here, at the edge; the doctor only compares times.
    selection::parse_time_bound(text, Utc::now()).map_err(|e| e.to_string())
}

fn parse_instance_id(text: &str) -> Result<InstanceId, String> {
    InstanceId::parse(text).ok_or_else(|| format!("{text:?} is not an instance id (i-...)"))
}

/// Runs `start-doctor ebs`.
pub fn run(args: EbsArgs) -> ExitCode {
    match args.command {
        Some(EbsCommand::Query(q)) => run_query(&q),
        None => run_diagnose(&args.diagnose),
    }
}

fn usage_error(message: &str) -> ExitCode {
    let _ = writeln!(std::io::stderr(), "start-doctor: error: {message}");
    ExitCode::from(2)
}

fn print(text: &str) -> bool {
    let mut stdout = std::io::stdout().lock();
    match stdout
        .write_all(text.as_bytes())
        .and_then(|()| stdout.flush())
    {
        Ok(()) => true,
        Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => true,
        Err(e) => {
            let _ = writeln!(
                std::io::stderr(),
                "start-doctor: error: writing output: {e}"
            );
            false
        }
    }
}

/// What was read from the command line's paths (and, with --live, the
/// account).
struct Read {
    evidence: Evidence,
    errors: Vec<input::FileError>,
    warnings: Vec<String>,
    files: usize,
    bytes: u64,
}

/// Reads every path, files in parallel, into joined evidence.
fn read_paths(paths: &[PathBuf]) -> Read {
    read_all(paths, Vec::new())
}

/// Reads every path, files in parallel, and the in-memory files given
/// (what --live gathered, named for messages), into joined evidence.
fn read_all(paths: &[PathBuf], gathered: Vec<(PathBuf, Vec<u8>)>) -> Read {
    let paths: Vec<&Path> = paths.iter().map(PathBuf::as_path).collect();
    let (candidates, mut errors, _) = input::candidates(&paths, &Selection::default());
    type Outcome = (PathBuf, Result<Option<(Vec<Problem>, u64)>, String>);
    let (collected, mut outcomes) = candidates
        .into_par_iter()
        .fold(
            || (Collected::default(), Vec::<Outcome>::new()),
            |(mut collected, mut outcomes), candidate| {
                let result = fs::read(&candidate.path)
                    .map_err(|e| e.to_string())
                    .and_then(|bytes| {
                        if !candidate.explicit && !looks_readable(&bytes) {
                            return Ok(None);
                        }
                        let doc = read_document(&bytes).map_err(|e| e.to_string())?;
                        let problems = doc.problems.clone();
                        collected.add(doc);
                        Ok(Some((problems, bytes.len() as u64)))
                    });
                outcomes.push((candidate.path, result));
                (collected, outcomes)
            },
        )
        .reduce(
            || (Collected::default(), Vec::new()),
            |(mut a, mut ao), (b, bo)| {
                a.merge(b);
                ao.extend(bo);
                (a, ao)
            },
        );
    let mut collected = collected;
    for (path, bytes) in gathered {
        let result = read_document(&bytes).map_err(|e| e.to_string()).map(|doc| {
            let problems = doc.problems.clone();
            collected.add(doc);
            Some((problems, bytes.len() as u64))
        });
        outcomes.push((path, result));
    }
    // Files finish in any order across threads: report them in path order.
    outcomes.sort_by(|a, b| a.0.cmp(&b.0));
    let mut warnings = Vec::new();
    let (mut files, mut bytes) = (0, 0);
    for (path, result) in outcomes {
        match result {
            Ok(Some((problems, size))) => {
                files += 1;
                bytes += size;
                warnings.extend(
                    problems
                        .iter()
                        .map(|p| format!("{}: {p}; skipped", path.display())),
                );
            }
            Ok(None) => {}
            Err(reason) => errors.push(input::FileError { path, reason }),
        }
    }
    let evidence = collected.finish();
    warnings.extend(evidence.warnings.iter().cloned());
    Read {
        evidence,
        errors,
        warnings,
        files,
        bytes,
    }
}

/// Reports what could not be read; true when everything could.
fn report_problems(read: &Read) -> bool {
    let mut stderr = std::io::stderr().lock();
    for warning in &read.warnings {
        let _ = writeln!(stderr, "start-doctor: warning: {warning}");
    }
    // Like `investigate`: a file that cannot be read is one line, and the
    // run goes on with the rest; only the exit status remembers it.
    for error in &read.errors {
        let _ = writeln!(stderr, "start-doctor: error: {error}");
    }
    read.errors.is_empty()
}

fn run_diagnose(args: &DiagnoseArgs) -> ExitCode {
    if args.paths.is_empty() && !args.live {
        return usage_error("start-doctor ebs needs at least one PATH, or --live (see --help)");
    }
    if let (Some(since), Some(until)) = (args.since, args.until) {
        if since > until {
            return usage_error(&format!("--since ({since}) is after --until ({until})"));
        }
    }
    let started = Instant::now();
    let gathered = if args.live {
        match live(args) {
            Ok(files) => files,
            Err(code) => return code,
        }
    } else {
        Live::default()
    };
    let mut read = read_all(&args.paths, gathered.files);
    read.errors.extend(gathered.errors);
    let all_read = report_problems(&read);
    let findings = rules::diagnose(
        &read.evidence,
        &rules::Options {
            since: args.since,
            until: args.until,
            instance_ids: args.instance_ids.clone(),
        },
    );
    if args.stats {
        let secs = started.elapsed().as_secs_f64();
        let _ = writeln!(
            std::io::stderr(),
            "start-doctor: read {} files, {} bytes, {} series, {} findings in {secs:.2} s ({:.1} MB/s)",
            read.files,
            read.bytes,
            read.evidence.series.len(),
            findings.len(),
            read.bytes as f64 / secs.max(1e-9) / 1e6
        );
    }
    let out = match args.format {
        Format::Text => render::text::render(&findings),
        Format::Json => render::json::render(&findings) + "\n",
    };
    if !print(&out) {
        return ExitCode::FAILURE;
    }
    if all_read {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    }
}

/// What --live gathered: files to read, and the optional calls that
/// failed (each an unreadable input: exit 1, the rest still diagnosed).
#[derive(Default)]
struct Live {
    files: Vec<(PathBuf, Vec<u8>)>,
    errors: Vec<input::FileError>,
}

/// The message for --live in a build without AWS support.
#[cfg(not(feature = "aws"))]
fn live(_: &DiagnoseArgs) -> Result<Live, ExitCode> {
    Err(usage_error(
        "--live: this start-doctor was built without AWS support; build it with \
         `cargo install --path crates/cli --features aws` (or `cargo run --release --features aws -- ...`)",
    ))
}

/// Gathers the evidence from the account; with --save, writes it to DIR.
#[cfg(feature = "aws")]
fn live(args: &DiagnoseArgs) -> Result<Live, ExitCode> {
    let now = Utc::now();
    let until = args
        .until
        .unwrap_or_else(|| now.duration_trunc(Duration::minutes(1)).unwrap_or(now));
    let since = args.since.unwrap_or(until - Duration::hours(3));
    let gather = start_doctor_remote::ebs::Gather {
        instance_ids: args.instance_ids.clone(),
        since,
        until,
        period: 60,
        now,
    };
    let gathered = match crate::remote::ebs_live(&gather) {
        Ok(g) => g,
        Err(reason) => {
            let _ = writeln!(std::io::stderr(), "start-doctor: error: --live: {reason}");
            return Err(ExitCode::FAILURE);
        }
    };
    let mut stderr = std::io::stderr().lock();
    for note in &gathered.notes {
        let _ = writeln!(stderr, "start-doctor: note: {note}");
    }
    if args.stats {
        let _ = writeln!(
            stderr,
            "start-doctor: --live made {} AWS calls",
            gathered.calls
        );
    }
    drop(stderr);
    let mut live = Live::default();
    for reason in gathered.errors {
        live.errors.push(input::FileError {
            path: PathBuf::from("--live"),
            reason,
        });
    }
    if let Some(dir) = &args.save {
        if let Err(e) = fs::create_dir_all(dir) {
            let _ = writeln!(
                std::io::stderr(),
                "start-doctor: error: {}: {e}",
                dir.display()
            );
            return Err(ExitCode::FAILURE);
        }
    }
    for file in gathered.files {
        let path = match &args.save {
            Some(dir) => {
                let path = dir.join(&file.name);
                if let Err(e) = fs::write(&path, &file.bytes) {
                    live.errors.push(input::FileError {
                        path: path.clone(),
                        reason: format!("could not save: {e}"),
                    });
                }
                path
            }
            None => PathBuf::from(format!("--live/{}", file.name)),
        };
        live.files.push((path, file.bytes));
    }
    Ok(live)
}

fn run_query(args: &QueryArgs) -> ExitCode {
    let now = Utc::now();
    let until = args
        .until
        .unwrap_or_else(|| now.duration_trunc(Duration::minutes(1)).unwrap_or(now));
    let since = args.since.unwrap_or(until - Duration::hours(3));
    let read = read_paths(&args.paths);
    let all_read = report_problems(&read);
    let requests = match query::requests(&read.evidence, since, until, args.period, now) {
        Ok(r) => r,
        Err(query::QueryError::Nothing) if !all_read => return ExitCode::FAILURE,
        Err(e @ query::QueryError::Nothing) => {
            let _ = writeln!(std::io::stderr(), "start-doctor: error: {e}");
            return ExitCode::FAILURE;
        }
        Err(e) => return usage_error(&e.to_string()),
    };
    let mut stderr = std::io::stderr().lock();
    for note in &requests.notes {
        let _ = writeln!(stderr, "start-doctor: note: {note}");
    }
    if requests.requests.len() > 1 {
        let _ = writeln!(
            stderr,
            "start-doctor: note: {} queries exceed GetMetricData's 500 per request: printing {} requests, one per line; \
             run each (see `start-doctor ebs query --help`)",
            requests.queries,
            requests.requests.len()
        );
    }
    let out = requests.output();
    drop(stderr);
    if !print(&out) {
        return ExitCode::FAILURE;
    }
    if all_read {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    }
}
