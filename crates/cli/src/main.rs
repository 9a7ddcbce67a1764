//! `start-doctor`: diagnoses EC2 instances that went `pending` and then
//! `stopped`, offline, from CloudTrail files, EventBridge events and AWS CLI
//! output (`investigate`), and checks ahead of time which will fail
//! (`preflight`).

mod ebs;
mod input;
#[cfg(feature = "aws")]
mod remote;

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use chrono::{DateTime, Utc};
use clap::{Args, Parser, Subcommand, ValueEnum};
use start_doctor_core::ids::{InstanceId, PrincipalArn};
use start_doctor_core::selection::{self, Selection};
use start_doctor_core::{preflight, query, render};

/// Finds out why EC2 instances failed to start (pending, then stopped) and
/// prints the exact fix.
#[derive(Debug, Parser)]
#[command(name = "start-doctor", version, about, long_about = None)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Diagnose failed starts from files: EventBridge events, CloudTrail logs,
    /// lookup-events and describe-* output.
    #[command(after_help = INVESTIGATE_HELP)]
    Investigate {
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
    },
    /// Check ahead of a start window which instances will fail to start,
    /// and why: walks instance, volumes, keys, key policies and the starting
    /// principal's policies, as KMS evaluates EC2's CreateGrant.
    #[command(after_help = PREFLIGHT_HELP)]
    Preflight {
        /// Files or directories (read recursively), detected by content.
        #[arg(required = true, value_name = "PATH")]
        paths: Vec<PathBuf>,
        /// A role or user that starts the instances (repeatable). An
        /// assumed-role session ARN is read as its role.
        #[arg(long = "principal", value_name = "ARN", value_parser = parse_principal)]
        principals: Vec<PrincipalArn>,
        /// Output format.
        #[arg(long, value_enum, default_value_t = Format::Text)]
        format: Format,
    },
    /// Print (or, with --run, run) the SQL that selects the evidence from a
    /// CloudTrail table in Athena or a CloudTrail Lake event data store.
    #[command(after_help = QUERY_HELP)]
    Query {
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
    },
    /// Why is this instance slow? Names the EBS ceiling that binds (volume,
    /// volume burst, instance maximum or baseline), a volume still
    /// initializing from its snapshot, or stalled I/O, with the fix.
    Ebs(ebs::EbsArgs),
}

/// The query engines `start-doctor query` writes SQL for.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
enum Engine {
    /// Amazon Athena over the trail's S3 bucket (the standard CloudTrail
    /// table with partition projection).
    Athena,
    /// A CloudTrail Lake event data store.
    Lake,
}

const QUERY_HELP: &str = "\
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

/// The time range, accounts and regions to read.
#[derive(Debug, Args)]
struct SelectArgs {
    /// Only events at or after this time: RFC 3339 (2026-11-20T07:00:00Z), a
    /// date (2026-11-20, midnight UTC) or an age (90m, 12h, 2d, 1w).
    #[arg(long, value_name = "TIME", value_parser = parse_time)]
    since: Option<DateTime<Utc>>,
    /// Only events at or before this time (same forms as --since).
    #[arg(long, value_name = "TIME", value_parser = parse_time)]
    until: Option<DateTime<Utc>>,
    /// Only this account (repeatable): 12 digits.
    #[arg(long = "account", value_name = "ID", value_parser = parse_account)]
    accounts: Vec<String>,
    /// Only this region (repeatable), e.g. eu-west-1.
    #[arg(long = "region", value_name = "REGION")]
    regions: Vec<String>,
}

impl SelectArgs {
    fn selection(&self) -> Selection {
        Selection {
            since: self.since,
            until: self.until,
            accounts: self.accounts.clone(),
            regions: self.regions.clone(),
        }
    }
}

fn parse_time(text: &str) -> Result<DateTime<Utc>, String> {
    // The clock is read here, at the edge; the core only compares times.
    selection::parse_time_bound(text, Utc::now()).map_err(|e| e.to_string())
}

fn parse_account(text: &str) -> Result<String, String> {
    if text.len() == 12 && text.bytes().all(|b| b.is_ascii_digit()) {
        Ok(text.to_owned())
    } else {
        Err(format!("{text:?} is not an AWS account id (12 digits)"))
    }
}

const PREFLIGHT_HELP: &str = "\
Inputs (any mix, detected by content):
  aws iam get-account-authorization-details (roles, users, managed policies)
  aws ec2 describe-instances / describe-volumes, aws kms describe-key
  key policies: {\"KeyArn\": ..., \"Policy\": ...}, one per file, an array or JSON Lines
  CloudTrail StartInstances / RunInstances records (who starts what)
Principals: --principal, the start calls found, and for instances of an Auto
Scaling group its service-linked role.

Exit status:
  0  every input was read
  1  an input could not be read (one line per file on stderr); the rest is
     still checked and printed
  2  bad command line";

fn parse_principal(arn: &str) -> Result<PrincipalArn, String> {
    PrincipalArn::parse(arn).ok_or_else(|| {
        format!("{arn:?} is not an IAM role or user ARN, or an assumed-role session ARN")
    })
}

fn parse_instance_id(text: &str) -> Result<InstanceId, String> {
    InstanceId::parse(text).ok_or_else(|| format!("{text:?} is not an instance id (i-...)"))
}

const INVESTIGATE_HELP: &str = "\
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

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
enum Format {
    /// For people.
    Text,
    /// The JSON contract: `{"diagnoses": [...]}` (schema/diagnosis.schema.json)
    /// or `{"checks": [...]}` (schema/preflight.schema.json).
    Json,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    match cli.command {
        Command::Investigate {
            paths,
            format,
            select,
            instance_ids,
            stats,
        } => investigate(&paths, format, &select.selection(), &instance_ids, stats),
        Command::Query {
            engine,
            select,
            table,
            account_region_partitions,
            event_data_store,
            run,
            workgroup,
            output_location,
            format,
            instance_ids,
        } => {
            let source = match (engine, event_data_store) {
                (Engine::Athena, _) => query::Source::Athena {
                    table,
                    account_region_partitions,
                },
                (Engine::Lake, Some(event_data_store)) => query::Source::Lake { event_data_store },
                (Engine::Lake, None) => {
                    return usage_error("--engine lake needs --event-data-store <ID>");
                }
            };
            let selection = select.selection();
            let sql = match query::evidence_sql(&source, &selection) {
                Ok(sql) => sql,
                Err(e) => return usage_error(&e.to_string()),
            };
            if !run {
                return print(&sql);
            }
            let run = RunQuery {
                source,
                sql,
                workgroup,
                output_location,
            };
            run_query(&run, format, &selection, &instance_ids)
        }
        Command::Preflight {
            paths,
            principals,
            format,
        } => run_preflight(&paths, &principals, format),
        Command::Ebs(args) => ebs::run(args),
    }
}

/// Reads everything readable, reports each unreadable file on stderr, and
/// prints the check of the rest: exit 1 when a file could not be read.
fn run_preflight(paths: &[PathBuf], principals: &[PrincipalArn], format: Format) -> ExitCode {
    let paths: Vec<&Path> = paths.iter().map(PathBuf::as_path).collect();
    let read = input::read_all(&paths, &Selection::default());
    let mut stderr = std::io::stderr().lock();
    for warning in &read.warnings {
        let _ = writeln!(stderr, "start-doctor: warning: {warning}");
    }
    for error in &read.errors {
        let _ = writeln!(stderr, "start-doctor: error: {error}");
    }
    drop(stderr);
    let report = preflight::preflight(&read.evidence, principals);
    let out = match format {
        Format::Text => preflight::render::text(&report),
        Format::Json => preflight::render::json(&report) + "\n",
    };
    match print(&out) {
        code if code != ExitCode::SUCCESS => code,
        _ if read.errors.is_empty() => ExitCode::SUCCESS,
        _ => ExitCode::FAILURE,
    }
}

/// A query to run on its engine.
#[cfg_attr(not(feature = "aws"), allow(dead_code))]
struct RunQuery {
    source: query::Source,
    sql: String,
    workgroup: String,
    output_location: Option<String>,
}

/// The message for the features of a build without AWS support.
#[cfg(not(feature = "aws"))]
const NO_AWS: &str = "this start-doctor was built without AWS support; \
     build it with `cargo install --path crates/cli --features aws` \
     (or `cargo run --release --features aws -- ...`)";

#[cfg(not(feature = "aws"))]
fn run_query(_: &RunQuery, _: Format, _: &Selection, _: &[InstanceId]) -> ExitCode {
    usage_error(&format!("--run: {NO_AWS}"))
}

#[cfg(feature = "aws")]
fn run_query(
    run: &RunQuery,
    format: Format,
    selection: &Selection,
    instance_ids: &[InstanceId],
) -> ExitCode {
    report(
        remote::run_query(run),
        format,
        selection,
        instance_ids,
        false,
    )
}

fn usage_error(message: &str) -> ExitCode {
    let _ = writeln!(std::io::stderr(), "start-doctor: error: {message}");
    ExitCode::from(2)
}

fn print(text: &str) -> ExitCode {
    let mut stdout = std::io::stdout().lock();
    match stdout
        .write_all(text.as_bytes())
        .and_then(|()| stdout.flush())
    {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => ExitCode::SUCCESS,
        Err(e) => {
            let _ = writeln!(
                std::io::stderr(),
                "start-doctor: error: writing output: {e}"
            );
            ExitCode::FAILURE
        }
    }
}

fn investigate(
    paths: &[PathBuf],
    format: Format,
    selection: &Selection,
    instance_ids: &[InstanceId],
    stats: bool,
) -> ExitCode {
    let (buckets, local): (Vec<&Path>, Vec<&Path>) = paths
        .iter()
        .map(PathBuf::as_path)
        .partition(|p| p.to_str().is_some_and(|p| p.starts_with("s3://")));
    #[cfg_attr(not(feature = "aws"), allow(unused_mut))]
    let mut read = input::read_all(&local, selection);
    if !buckets.is_empty() {
        #[cfg(feature = "aws")]
        read.absorb(remote::read_s3(&buckets, selection));
        #[cfg(not(feature = "aws"))]
        return usage_error(&format!(
            "{}: reading S3 in place: {NO_AWS}",
            buckets
                .iter()
                .map(|b| b.display().to_string())
                .collect::<Vec<_>>()
                .join(", ")
        ));
    }
    report(read, format, selection, instance_ids, stats)
}

/// Prints the warnings and errors of what was read, then the diagnoses of
/// everything that could be read; exit 1 when anything could not be.
fn report(
    mut read: input::Read,
    format: Format,
    selection: &Selection,
    instance_ids: &[InstanceId],
    stats: bool,
) -> ExitCode {
    let mut stderr = std::io::stderr().lock();
    for warning in &read.warnings {
        let _ = writeln!(stderr, "start-doctor: warning: {warning}");
    }
    // Like ripgrep: a file that cannot be read is reported and the run goes
    // on with the rest; only the exit status remembers it.
    for error in &read.errors {
        let _ = writeln!(stderr, "start-doctor: error: {error}");
    }
    if stats {
        let _ = writeln!(stderr, "start-doctor: {}", read.stats);
    }
    drop(stderr);
    selection.retain(&mut read.evidence);
    let mut diagnoses = start_doctor_core::diagnose(&read.evidence);
    if !instance_ids.is_empty() {
        diagnoses.retain(|d| instance_ids.contains(&d.instance_id));
    }
    let out = match format {
        Format::Text => render::text::render(&diagnoses),
        Format::Json => render::json::render(&diagnoses) + "\n",
    };
    match print(&out) {
        code if code != ExitCode::SUCCESS => code,
        _ if read.errors.is_empty() => ExitCode::SUCCESS,
        _ => ExitCode::FAILURE,
    }
}
