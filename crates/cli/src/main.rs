//! `start-doctor`: diagnoses EC2 instances that went `pending` and then
//! `stopped`, offline, from CloudTrail files, EventBridge events and AWS CLI
//! output.

mod input;

use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand, ValueEnum};
use start_doctor_core::render;

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
}

const INVESTIGATE_HELP: &str = "\
Inputs (any mix, any order, duplicates counted once):
  one EventBridge event, a JSON array of events, or JSON Lines
  CloudTrail log files {\"Records\": [...]}, plain or .json.gz, or a whole
    AWSLogs/<account>/CloudTrail/<region>/... archive directory
  aws cloudtrail lookup-events output
  aws ec2 describe-instances / describe-volumes, aws kms describe-key output
Unrelated events are ignored. In directories, files that are neither JSON
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
    /// One block per failed start, for people.
    Text,
    /// `{"diagnoses": [...]}` as pinned by schema/diagnosis.schema.json.
    Json,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    match cli.command {
        Command::Investigate { paths, format } => investigate(&paths, format),
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
    let mut stdout = std::io::stdout().lock();
    match stdout
        .write_all(out.as_bytes())
        .and_then(|()| stdout.flush())
    {
        Ok(()) => ExitCode::SUCCESS,
        // A closed pipe (`| head`) is not an error worth a message.
        Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => ExitCode::SUCCESS,
        Err(e) => {
            let _ = writeln!(stderr, "start-doctor: error: writing output: {e}");
            ExitCode::FAILURE
        }
    }
}
