//! `start-doctor`: answers AWS incidents from the log nobody reads, offline
//! from files: failed starts (`investigate`, and `preflight` ahead of
//! time), instances slowed by an EBS ceiling (`ebs`), connections that fail
//! sometimes (`flows`), and their evidence queries (`query`).
//!
//! Every subcommand reads its inputs the same way ([`input`]) and ends the
//! same way ([`report`]): unreadable inputs named on stderr, the answer of
//! the rest on stdout, exit 0, 1 (an input could not be read) or 2 (bad
//! command line).

mod args;
mod ebs;
mod flows;
mod input;
mod investigate;
mod preflight;
#[cfg(feature = "aws")]
mod remote;
mod report;

use std::process::ExitCode;

use clap::{Parser, Subcommand};

/// Answers AWS incidents from the log nobody reads: why an EC2 instance
/// failed to start (pending, then stopped), with the exact fix.
#[derive(Debug, Parser)]
#[command(name = "start-doctor", version, about, long_about = None)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

/// Every subcommand: a closed set, dispatched in one place.
#[derive(Debug, Subcommand)]
enum Command {
    /// Diagnose failed starts from files: EventBridge events, CloudTrail logs,
    /// lookup-events and describe-* output.
    #[command(after_help = investigate::INVESTIGATE_HELP)]
    Investigate(investigate::InvestigateArgs),
    /// Check ahead of a start window which instances will fail to start,
    /// and why: walks instance, volumes, keys, key policies and the starting
    /// principal's policies, as KMS evaluates EC2's CreateGrant.
    #[command(after_help = preflight::PREFLIGHT_HELP)]
    Preflight(preflight::PreflightArgs),
    /// Print (or, with --run, run) the SQL that selects the evidence from a
    /// CloudTrail table in Athena or a CloudTrail Lake event data store (or,
    /// with --doctor flows, from a VPC flow-log table in Athena).
    #[command(after_help = investigate::QUERY_HELP)]
    Query(investigate::QueryArgs),
    /// Find why some connections fail: replays every rejected flow of VPC
    /// flow logs against the network ACLs and security groups on every path
    /// it could have taken, and names the rule, the AZ and the fix.
    #[command(after_help = flows::HELP)]
    Flows(flows::FlowsArgs),
    /// Why is this instance slow? Names the EBS ceiling that binds (volume,
    /// volume burst, instance maximum or baseline), a volume still
    /// initializing from its snapshot, or stalled I/O, with the fix.
    Ebs(ebs::EbsArgs),
}

/// The message for the features of a build without AWS support.
#[cfg(not(feature = "aws"))]
const NO_AWS: &str = "this start-doctor was built without AWS support; \
     build it with `cargo install --path crates/cli --features aws` \
     (or `cargo run --release --features aws -- ...`)";

fn main() -> ExitCode {
    match Cli::parse().command {
        Command::Investigate(args) => investigate::run(args),
        Command::Preflight(args) => preflight::run(args),
        Command::Query(args) => investigate::run_query(args),
        Command::Flows(args) => flows::run(args),
        Command::Ebs(args) => ebs::run(args),
    }
}
