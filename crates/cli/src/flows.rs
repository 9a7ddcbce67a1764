//! `start-doctor flows`: why do some connections fail? Reads flow logs and
//! the network configuration from files (or, with the `aws` feature and
//! `--live`, from the account), replays every rejected connection, and
//! prints the control that drops it and the fix.

mod input;
#[cfg(feature = "aws")]
mod live;

use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;

use chrono::{DateTime, Utc};
use clap::Args;
use ipnet::IpNet;
use start_doctor_flows::render::text::Extra;
use start_doctor_flows::traffic::Window;
use start_doctor_flows::{diagnose, render, Options};

use crate::args::Format;
use crate::input::Files;
use crate::report;

/// `start-doctor flows` arguments.
#[derive(Debug, Args)]
pub struct FlowsArgs {
    /// Files or directories (read recursively): flow-log files (plain or
    /// gzip, any version and field order), CloudWatch Logs output, Lambda
    /// subscription payloads, Transit Gateway flow logs and `describe-*`
    /// output. Detected by content.
    #[arg(value_name = "PATH", required_unless_present = "live")]
    paths: Vec<PathBuf>,
    /// Only records at or after this time: RFC 3339, a date (midnight UTC)
    /// or an age (90m, 12h, 2d).
    #[arg(long, value_name = "TIME", value_parser = crate::args::parse_time)]
    since: Option<DateTime<Utc>>,
    /// Only records at or before this time (same forms as --since).
    #[arg(long, value_name = "TIME", value_parser = crate::args::parse_time)]
    until: Option<DateTime<Utc>>,
    /// A CIDR that counts as inside, besides the VPCs and subnets described
    /// (on premises, other VPCs); repeatable.
    #[arg(long = "internal", value_name = "CIDR", value_parser = parse_cidr)]
    internal: Vec<IpNet>,
    /// Also report noise as findings: FIN/RST rejected after the
    /// connection closed, and scans from outside.
    #[arg(long)]
    all: bool,
    /// Output format.
    #[arg(long, value_enum, default_value_t = Format::Text)]
    format: Format,
    /// Print what was read (files, records, bytes, rate) on stderr.
    #[arg(long)]
    stats: bool,
    #[command(flatten)]
    live: LiveArgs,
}

/// `--live` and what it reads.
#[derive(Debug, Args)]
pub struct LiveArgs {
    /// Read the configuration from the account (describe calls, with the
    /// caller's credentials and region), and the records from --log-group
    /// or --s3 (needs the `aws` feature).
    #[arg(long)]
    live: bool,
    /// With --live: the VPC whose configuration to read (repeatable); by
    /// default every VPC of the region.
    #[arg(long = "vpc-id", value_name = "VPC", requires = "live")]
    vpc_ids: Vec<String>,
    /// With --live: read the records of this CloudWatch Logs group
    /// (FilterLogEvents, REJECT records and their conversations' ACCEPTs).
    #[arg(long, value_name = "NAME", requires = "live")]
    log_group: Option<String>,
    /// With --live: read the records under this S3 prefix
    /// (s3://bucket/prefix, the AWSLogs/... archive; pruned by --since/--until).
    #[arg(long, value_name = "S3_URI", requires = "live")]
    s3: Option<String>,
    /// With --live: write what was read to this directory as files
    /// `start-doctor flows` reads back.
    #[arg(long, value_name = "DIR", requires = "live")]
    save: Option<PathBuf>,
}

/// The help after the options.
pub const HELP: &str = "\
Inputs (any mix, detected by content, any order):
  flow-log files: S3 deliveries with their header line (plain or .log.gz),
    records without a header in the default format, or in the format of a
    describe-flow-logs output given beside them; any version, any field order
  aws logs filter-log-events / get-log-events output, Lambda CloudWatch Logs
    subscription payloads ({\"awslogs\": {\"data\": ...}})
  Transit Gateway flow logs (they tell the AZ a flow entered by)
  aws ec2 describe-network-acls, describe-subnets, describe-vpcs,
    describe-security-groups, describe-network-interfaces,
    describe-transit-gateway-vpc-attachments, describe-route-tables,
    describe-flow-logs, describe-prefix-lists / get-managed-prefix-list-entries
    (with \"PrefixListId\" added), describe-vpc-block-public-access-options /
    -exclusions
In a flow-log archive layout (AWSLogs/<account>/vpcflowlogs/<region>/yyyy/mm/dd/)
--since/--until skip the folders and files written outside the range.
Inputs of the other doctors (CloudTrail, EventBridge events) are passed over.

Exit status:
  0  every input was read (whether or not rejected conversations were found)
  1  an input could not be read: one line per such file on stderr names it
     (and the line); everything else is still read, diagnosed and printed
  2  bad command line";

fn parse_cidr(text: &str) -> Result<IpNet, String> {
    let net: IpNet = text
        .trim()
        .parse()
        .map_err(|_| format!("{text:?} is not a CIDR (10.20.0.0/16, 2001:db8::/32)"))?;
    Ok(net.trunc())
}

/// The unix-second window of `--since` / `--until`.
fn window(args: &FlowsArgs) -> Window {
    Window {
        since: args.since.map(|t| t.timestamp()),
        until: args.until.map(|t| t.timestamp()),
    }
}

/// Runs `start-doctor flows`.
pub fn run(args: FlowsArgs) -> ExitCode {
    let window = window(&args);
    let read = if args.live.live {
        #[cfg(feature = "aws")]
        {
            live::read(&args.live, &args.paths, window)
        }
        #[cfg(not(feature = "aws"))]
        {
            return report::usage_error(&format!("--live: {}", crate::NO_AWS));
        }
    } else {
        input::read_all(&args.paths, window)
    };
    let options = Options {
        internal: args.internal.clone(),
        all: args.all,
    };
    report(read, &options, args.format, args.stats)
}

/// Prints the warnings and errors of what was read (the shared report of
/// unreadable inputs), then the diagnosis of everything that could be
/// read; exit 1 when anything could not be.
fn report(read: input::Read, options: &Options, format: Format, stats: bool) -> ExitCode {
    let files: Files<()> = Files {
        contents: Vec::new(),
        errors: read.errors,
        warnings: read.warnings,
        stats: Default::default(),
    };
    let unreadable = report::inputs(&files, false);
    if stats {
        // With the records read, which the shared statistics do not count.
        let _ = writeln!(std::io::stderr(), "start-doctor: {}", read.stats);
    }
    let found = diagnose(&read.config, &read.traffic, options);
    let out = match format {
        Format::Text => render::text::render(&found, Extra { all: options.all }),
        Format::Json => render::json(&found) + "\n",
    };
    report::answer(&out, unreadable)
}

/// `start-doctor query --doctor flows` options besides the query's own.
#[derive(Debug, Args)]
pub struct FlowsQueryArgs {
    /// With --doctor flows --run: the network configuration to replay the
    /// records against (describe-* output; files or directories,
    /// repeatable).
    #[arg(long = "config", value_name = "PATH")]
    config: Vec<PathBuf>,
    /// With --doctor flows --run: a CIDR that counts as inside
    /// (repeatable).
    #[arg(long = "internal", value_name = "CIDR", value_parser = parse_cidr)]
    internal: Vec<IpNet>,
    /// With --doctor flows --run: report noise as findings too.
    #[arg(long)]
    all: bool,
}

/// A `start-doctor query --doctor flows` request.
#[cfg_attr(not(feature = "aws"), allow(dead_code))]
pub struct QueryRequest {
    /// Whether the engine is Athena (the only one with flow logs).
    pub athena: bool,
    /// `--since`, `--until`, `--account`, `--region`.
    pub selection: start_doctor_core::selection::Selection,
    /// `--table`.
    pub table: Option<String>,
    /// `--run`.
    pub run: bool,
    /// `--workgroup`.
    pub workgroup: String,
    /// `--output-location`.
    pub output_location: Option<String>,
    /// `--format`.
    pub format: Format,
    /// The flows options.
    pub args: FlowsQueryArgs,
}

/// The table `--doctor flows` queries by default: the Athena User Guide's
/// name for the VPC flow-log table.
pub const DEFAULT_TABLE: &str = "vpc_flow_logs";

/// Prints (or, with `--run`, runs and diagnoses) the flow doctor's SQL.
pub fn query(request: QueryRequest) -> ExitCode {
    if !request.athena {
        return report::usage_error(
            "--doctor flows: flow logs are queried with --engine athena (a CloudTrail Lake event data store holds no flow logs)",
        );
    }
    let selection = &request.selection;
    let flow_query = start_doctor_flows::query::FlowQuery {
        table: request
            .table
            .clone()
            .unwrap_or_else(|| DEFAULT_TABLE.to_owned()),
        since: selection.since,
        until: selection.until,
        accounts: selection.accounts.iter().map(|a| a.to_string()).collect(),
        regions: selection.regions.iter().map(|r| r.to_string()).collect(),
    };
    let sql = match start_doctor_flows::query::athena_sql(&flow_query) {
        Ok(sql) => sql,
        Err(e) => return report::usage_error(&e.to_string()),
    };
    if !request.run {
        return report::print(&sql);
    }
    run_query(&request, &sql)
}

#[cfg(not(feature = "aws"))]
fn run_query(_: &QueryRequest, _: &str) -> ExitCode {
    report::usage_error(&format!("--run: {}", crate::NO_AWS))
}

#[cfg(feature = "aws")]
fn run_query(request: &QueryRequest, sql: &str) -> ExitCode {
    let window = Window {
        since: request.selection.since.map(|t| t.timestamp()),
        until: request.selection.until.map(|t| t.timestamp()),
    };
    let mut read = input::read_all(&request.args.config, window);
    live::run_athena(
        sql,
        &request.workgroup,
        request.output_location.as_deref(),
        &mut read,
    );
    let options = Options {
        internal: request.args.internal.clone(),
        all: request.args.all,
    };
    report(read, &options, request.format, false)
}
