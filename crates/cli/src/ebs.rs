//! `start-doctor ebs`: why is this instance slow? Reads describe output and
//! CloudWatch metrics (files in parallel, by content) and prints one
//! finding per instance; `ebs query` prints the get-metric-data request
//! that collects the metrics.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use chrono::{DateTime, Duration, DurationRound, Utc};
use clap::{Args, Subcommand};
use start_doctor_core::ids::InstanceId;
use start_doctor_ebs::read::{looks_readable, read_document};
use start_doctor_ebs::{query, render, rules, Collected, Evidence};

use crate::args::{parse_instance_id, parse_time, Format};
use crate::input::{self, FileContent, Files};
use crate::report;

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

/// Runs `start-doctor ebs`.
pub fn run(args: EbsArgs) -> ExitCode {
    match args.command {
        Some(EbsCommand::Query(q)) => run_query(&q),
        None => run_diagnose(&args.diagnose),
    }
}

/// Reads one file for this doctor: `Ok(None)` for a directory member
/// that is not JSON or gzip (a README, a script).
fn read_file(bytes: &[u8], explicit: bool) -> Result<Option<FileContent<Collected>>, String> {
    if !explicit && !looks_readable(bytes) {
        return Ok(None);
    }
    let document = read_document(bytes).map_err(|e| e.to_string())?;
    let problems = document.problems.iter().map(ToString::to_string).collect();
    let mut collected = Collected::default();
    collected.add(document);
    Ok(Some(FileContent {
        content: collected,
        problems,
    }))
}

/// Joins what every file held and reports the inputs (and what could not
/// be joined) on stderr.
fn evidence_of(files: Files<Collected>, stats: bool) -> (Evidence, report::Unreadable) {
    let unreadable = report::inputs(&files, stats);
    let mut all = Collected::default();
    for collected in files.contents {
        all.merge(collected);
    }
    let evidence = all.finish();
    let mut stderr = std::io::stderr().lock();
    for warning in &evidence.warnings {
        let _ = writeln!(stderr, "start-doctor: warning: {warning}");
    }
    (evidence, unreadable)
}

/// The window of `--live` and `ebs query` when not given: the last 3
/// hours, to the minute.
fn window(
    since: Option<DateTime<Utc>>,
    until: Option<DateTime<Utc>>,
    now: DateTime<Utc>,
) -> (DateTime<Utc>, DateTime<Utc>) {
    let until = until.unwrap_or_else(|| now.duration_trunc(Duration::minutes(1)).unwrap_or(now));
    (since.unwrap_or(until - Duration::hours(3)), until)
}

fn run_diagnose(args: &DiagnoseArgs) -> ExitCode {
    if args.paths.is_empty() && !args.live {
        return report::usage_error(
            "start-doctor ebs needs at least one PATH, or --live (see --help)",
        );
    }
    if let (Some(since), Some(until)) = (args.since, args.until) {
        if since > until {
            return report::usage_error(&format!("--since ({since}) is after --until ({until})"));
        }
    }
    let paths: Vec<&Path> = args.paths.iter().map(PathBuf::as_path).collect();
    #[cfg_attr(not(feature = "aws"), allow(unused_mut))]
    let mut files = input::read_all(&paths, None, read_file);
    if args.live {
        #[cfg(feature = "aws")]
        {
            let now = Utc::now();
            let (since, until) = window(args.since, args.until, now);
            let gather = start_doctor_aws::ebs::gather::Gather {
                instance_ids: args.instance_ids.clone(),
                since,
                until,
                period: 60,
                now,
            };
            files.absorb(crate::remote::ebs_live(
                &gather,
                args.save.as_deref(),
                read_file,
            ));
        }
        #[cfg(not(feature = "aws"))]
        return report::usage_error(&format!("--live: {}", crate::NO_AWS));
    }
    let (evidence, unreadable) = evidence_of(files, args.stats);
    let findings = rules::diagnose(
        &evidence,
        &rules::Options {
            since: args.since,
            until: args.until,
            instance_ids: args.instance_ids.clone(),
        },
    );
    if args.stats {
        let _ = writeln!(
            std::io::stderr(),
            "start-doctor: {} series, {} findings",
            evidence.series.len(),
            findings.len()
        );
    }
    let out = match args.format {
        Format::Text => render::text::render(&findings),
        Format::Json => render::json::render(&findings) + "\n",
    };
    report::answer(&out, unreadable)
}

fn run_query(args: &QueryArgs) -> ExitCode {
    let now = Utc::now();
    let (since, until) = window(args.since, args.until, now);
    let paths: Vec<&Path> = args.paths.iter().map(PathBuf::as_path).collect();
    let files = input::read_all(&paths, None, read_file);
    let (evidence, unreadable) = evidence_of(files, false);
    let requests = match query::requests(&evidence, since, until, args.period, now) {
        Ok(r) => r,
        Err(e @ query::QueryError::Nothing) => {
            if unreadable.0 == 0 {
                let _ = writeln!(std::io::stderr(), "start-doctor: error: {e}");
            }
            return ExitCode::FAILURE;
        }
        Err(e) => return report::usage_error(&e.to_string()),
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
    drop(stderr);
    report::answer(&requests.output(), unreadable)
}
