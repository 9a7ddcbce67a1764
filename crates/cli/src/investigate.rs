//! `start-doctor investigate` (failed starts, from files and, with the
//! `aws` feature, S3 in place) and `start-doctor query` (the evidence SQL
//! for Athena or CloudTrail Lake, run with `--run`).

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use clap::{Args, ValueEnum};
use start_doctor_core::ids::InstanceId;
use start_doctor_core::selection::Selection;
use start_doctor_start::evidence::EvidenceSet;
use start_doctor_start::{query, read, render, selection};

use crate::args::{parse_instance_id, Format, SelectArgs};
use crate::input::{self, FileContent, Files, Layout};
use crate::report;

/// `investigate`: diagnose failed starts from files.
#[derive(Debug, Args)]
pub struct InvestigateArgs {
    /// Files or directories (read recursively). The kind of each file is
    /// detected from its content; gzip is decompressed.
    #[arg(required = true, value_name = "PATH")]
    paths: Vec<PathBuf>,
    /// Output format.
    #[arg(long, value_enum, default_value_t = Format::Text)]
    format: Format,
    #[command(flatten)]
    select: SelectArgs,
    /// Report only this instance (repeatable). The evidence of the others
    /// is still read: it may be what explains this one.
    #[arg(long = "instance-id", value_name = "ID", value_parser = parse_instance_id)]
    instance_ids: Vec<InstanceId>,
    /// Print what was read (files, skipped, bytes, rate) on stderr.
    #[arg(long)]
    stats: bool,
}

/// The help after `investigate --help`.
pub const INVESTIGATE_HELP: &str = "\
Inputs (any mix, any order, duplicates counted once):
  one EventBridge event, a JSON array of events, or JSON Lines
  CloudTrail log files {\"Records\": [...]}, plain or .json.gz, or a whole
    AWSLogs/<account>/CloudTrail/<region>/... archive directory
  aws cloudtrail lookup-events output
  aws ec2 describe-instances / describe-volumes, aws kms describe-key output
Unrelated events are ignored; preflight inputs (authorization details, key
policies) are read and add nothing. In directories, files that are neither JSON
nor gzip (READMEs, scripts) are skipped.

Filters: --since/--until/--account/--region keep only the events in the
range, accounts and regions. In a CloudTrail archive layout
(AWSLogs/[o-org/]<account>/CloudTrail/<region>/yyyy/mm/dd/) whole folders
and files delivered outside the range are not even read (files delivered
up to an hour after --until are, since CloudTrail delivers late).
--instance-id narrows what is reported, not what is read.

Exit status:
  0  every input was read (whether or not failed starts were found)
  1  an input could not be read (missing, bad JSON, corrupt gzip, unknown
     shape): one line per such file on stderr names it (and the line, for
     JSON Lines); the diagnoses of everything else are still printed
  2  bad command line

Events that are recognised but malformed are reported as warnings on stderr,
with their line and id, and skipped; the rest of the input is still used.";

/// `query`: the evidence SQL, printed or (with `--run`) run.
#[derive(Debug, Args)]
pub struct QueryArgs {
    /// The engine to write SQL for.
    #[arg(long, value_enum)]
    engine: Engine,
    #[command(flatten)]
    select: SelectArgs,
    /// Athena: the CloudTrail table, `table` or `database.table`.
    #[arg(long, default_value = "cloudtrail_logs_pp", value_name = "NAME")]
    table: String,
    /// Athena: the table is also partitioned by `account` and `region`.
    #[arg(long)]
    account_region_partitions: bool,
    /// Lake: the event data store id or ARN (required for --engine lake).
    #[arg(long, value_name = "ID")]
    event_data_store: Option<String>,
    /// Run the query and diagnose its results (needs the `aws` feature).
    #[arg(long)]
    run: bool,
    /// Athena with --run: the workgroup.
    #[arg(long, default_value = "primary")]
    workgroup: String,
    /// Athena with --run: where Athena writes results (s3://bucket/prefix/),
    /// unless the workgroup sets it.
    #[arg(long, value_name = "S3_URI")]
    output_location: Option<String>,
    /// With --run: the output format of the diagnoses.
    #[arg(long, value_enum, default_value_t = Format::Text)]
    format: Format,
    /// With --run: report only this instance (repeatable).
    #[arg(long = "instance-id", value_name = "ID", value_parser = parse_instance_id)]
    instance_ids: Vec<InstanceId>,
}

/// The query engines `start-doctor query` writes SQL for.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum Engine {
    /// Amazon Athena over the trail's S3 bucket (the standard CloudTrail
    /// table with partition projection).
    Athena,
    /// A CloudTrail Lake event data store.
    Lake,
}

/// The help after `query --help`.
pub const QUERY_HELP: &str = "\
The SQL selects successful StartInstances/RunInstances calls and failed KMS
CreateGrant, Decrypt, GenerateDataKeyWithoutPlaintext and ReEncrypt* calls,
with the columns `start-doctor investigate` reads back: save Athena's CSV
result or `aws cloudtrail get-query-results` output and investigate it.
EC2 state changes are not in CloudTrail; none are needed.

With --run (a build with `--features aws`), start-doctor runs the query
with the caller's credentials and region (Athena StartQueryExecution in
--workgroup, or Lake StartQuery), shows progress on stderr, and diagnoses
the results. Exit status as for investigate; 2 also when --run is given to
a build without the aws feature.";

/// A query to run on its engine.
#[cfg_attr(not(feature = "aws"), allow(dead_code))]
pub struct RunQuery {
    /// Where it runs.
    pub source: query::Source,
    /// The SQL.
    pub sql: String,
    /// Athena's workgroup.
    pub workgroup: String,
    /// Athena's result location, unless the workgroup sets it.
    pub output_location: Option<String>,
}

/// Reads one file for the start doctor: `Ok(None)` for a directory member
/// that is neither JSON nor gzip.
pub fn read_file(bytes: &[u8], explicit: bool) -> Result<Option<FileContent<EvidenceSet>>, String> {
    if !explicit && !read::looks_readable(bytes) {
        return Ok(None);
    }
    let document = read::read_document(bytes).map_err(|e| e.to_string())?;
    Ok(Some(FileContent {
        content: document.evidence.into_iter().collect(),
        problems: document.problems.iter().map(ToString::to_string).collect(),
    }))
}

/// The archive layout the start doctor reads.
pub fn layout(selection: &Selection) -> Layout<'_> {
    Layout {
        selection,
        service: "CloudTrail",
    }
}

/// Runs `investigate`.
pub fn run(args: InvestigateArgs) -> ExitCode {
    let selection = args.select.selection();
    let (buckets, local): (Vec<&Path>, Vec<&Path>) = args
        .paths
        .iter()
        .map(PathBuf::as_path)
        .partition(|p| p.to_str().is_some_and(|p| p.starts_with("s3://")));
    #[cfg_attr(not(feature = "aws"), allow(unused_mut))]
    let mut files = input::read_all(&local, Some(layout(&selection)), read_file);
    if !buckets.is_empty() {
        #[cfg(feature = "aws")]
        files.absorb(crate::remote::read_s3(&buckets, &selection));
        #[cfg(not(feature = "aws"))]
        return report::usage_error(&format!(
            "{}: reading S3 in place: {}",
            buckets
                .iter()
                .map(|b| b.display().to_string())
                .collect::<Vec<_>>()
                .join(", "),
            crate::NO_AWS
        ));
    }
    answer(
        files,
        args.format,
        &selection,
        &args.instance_ids,
        args.stats,
    )
}

/// Prints the problems of what was read, then the diagnoses of everything
/// that could be read; exit 1 when anything could not be.
fn answer(
    files: Files<EvidenceSet>,
    format: Format,
    selection: &Selection,
    instance_ids: &[InstanceId],
    stats: bool,
) -> ExitCode {
    let unreadable = report::inputs(&files, stats);
    let mut evidence = EvidenceSet::new();
    for set in files.contents {
        evidence.merge(set);
    }
    selection::retain(selection, &mut evidence);
    let mut diagnoses = start_doctor_start::diagnose(&evidence);
    if !instance_ids.is_empty() {
        diagnoses.retain(|d| instance_ids.contains(&d.instance_id));
    }
    let out = match format {
        Format::Text => render::text::render(&diagnoses),
        Format::Json => render::json::render(&diagnoses) + "\n",
    };
    report::answer(&out, unreadable)
}

/// Runs `query`.
pub fn run_query(args: QueryArgs) -> ExitCode {
    let source = match (args.engine, args.event_data_store) {
        (Engine::Athena, _) => query::Source::Athena {
            table: args.table,
            account_region_partitions: args.account_region_partitions,
        },
        (Engine::Lake, Some(event_data_store)) => query::Source::Lake { event_data_store },
        (Engine::Lake, None) => {
            return report::usage_error("--engine lake needs --event-data-store <ID>");
        }
    };
    let selection = args.select.selection();
    let sql = match query::evidence_sql(&source, &selection) {
        Ok(sql) => sql,
        Err(e) => return report::usage_error(&e.to_string()),
    };
    if !args.run {
        return report::print(&sql);
    }
    let run = RunQuery {
        source,
        sql,
        workgroup: args.workgroup,
        output_location: args.output_location,
    };
    #[cfg(feature = "aws")]
    {
        answer(
            crate::remote::run_query(&run),
            args.format,
            &selection,
            &args.instance_ids,
            false,
        )
    }
    #[cfg(not(feature = "aws"))]
    {
        let _ = (run, args.format, args.instance_ids);
        report::usage_error(&format!("--run: {}", crate::NO_AWS))
    }
}
