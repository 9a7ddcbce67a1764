//! `start-doctor`: diagnoses EC2 instances that went `pending` and then
//! `stopped`, offline, from CloudTrail files, EventBridge events and AWS CLI
//! output (`investigate`), and checks ahead of time which will fail
//! (`preflight`).

mod input;

use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand, ValueEnum};
use start_doctor_core::ids::PrincipalArn;
use start_doctor_core::{preflight, render};

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

Exit status:
  0  every input was read (whether or not failed starts were found)
  1  an input could not be read (missing, bad JSON, corrupt gzip, unknown
     shape); one line per file on stderr names it, nothing is printed
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
        Command::Investigate { paths, format } => investigate(&paths, format),
        Command::Preflight {
            paths,
            principals,
            format,
        } => run_preflight(&paths, &principals, format),
    }
}

/// Reads everything readable, reports each unreadable file on stderr, and
/// prints the check of the rest: exit 1 when a file could not be read.
fn run_preflight(paths: &[PathBuf], principals: &[PrincipalArn], format: Format) -> ExitCode {
    let read = input::read_all(paths);
    let mut stderr = std::io::stderr().lock();
    for warning in &read.warnings {
        let _ = writeln!(stderr, "start-doctor: warning: {warning}");
    }
    for error in &read.errors {
        let _ = writeln!(stderr, "start-doctor: error: {error}");
    }
    let report = preflight::preflight(&read.evidence, principals);
    let out = match format {
        Format::Text => preflight::render::text(&report),
        Format::Json => preflight::render::json(&report) + "\n",
    };
    match write_stdout(&out) {
        Ok(()) if read.errors.is_empty() => ExitCode::SUCCESS,
        Ok(()) => ExitCode::FAILURE,
        Err(e) => {
            let _ = writeln!(stderr, "start-doctor: error: writing output: {e}");
            ExitCode::FAILURE
        }
    }
}

/// Writes `out` to stdout; a closed pipe (`| head`) is not an error.
fn write_stdout(out: &str) -> std::io::Result<()> {
    let mut stdout = std::io::stdout().lock();
    match stdout
        .write_all(out.as_bytes())
        .and_then(|()| stdout.flush())
    {
        Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => Ok(()),
        other => other,
    }
}

fn investigate(paths: &[PathBuf], format: Format) -> ExitCode {
    let read = input::read_all(paths);
    let mut stderr = std::io::stderr().lock();
    for warning in &read.warnings {
        let _ = writeln!(stderr, "start-doctor: warning: {warning}");
    }
    if !read.errors.is_empty() {
        for error in &read.errors {
            let _ = writeln!(stderr, "start-doctor: error: {error}");
        }
        return ExitCode::FAILURE;
    }
    let diagnoses = start_doctor_core::diagnose(&read.evidence);
    let out = match format {
        Format::Text => render::text::render(&diagnoses),
        Format::Json => render::json::render(&diagnoses) + "\n",
    };
    match write_stdout(&out) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            let _ = writeln!(stderr, "start-doctor: error: writing output: {e}");
            ExitCode::FAILURE
        }
    }
}
