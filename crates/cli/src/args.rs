//! Command-line values every subcommand shares: the output format, the
//! time, account and Region selection, and the parsers of ids.

use chrono::{DateTime, Utc};
use clap::{Args, ValueEnum};
use start_doctor_core::ids::{Account, InstanceId, Region};
use start_doctor_core::selection::Selection;

/// How the answer is printed.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum Format {
    /// For people.
    Text,
    /// The subcommand's JSON contract (see `schema/`).
    Json,
}

/// The time range, accounts and regions to read.
#[derive(Debug, Args)]
pub struct SelectArgs {
    /// Only events at or after this time: RFC 3339 (2026-11-20T07:00:00Z), a
    /// date (2026-11-20, midnight UTC) or an age (90m, 12h, 2d, 1w).
    #[arg(long, value_name = "TIME", value_parser = parse_time)]
    pub since: Option<DateTime<Utc>>,
    /// Only events at or before this time (same forms as --since).
    #[arg(long, value_name = "TIME", value_parser = parse_time)]
    pub until: Option<DateTime<Utc>>,
    /// Only this account (repeatable): 12 digits.
    #[arg(long = "account", value_name = "ID")]
    pub accounts: Vec<Account>,
    /// Only this region (repeatable), e.g. eu-west-1.
    #[arg(long = "region", value_name = "REGION")]
    pub regions: Vec<Region>,
}

impl SelectArgs {
    /// The selection the arguments ask for.
    pub fn selection(&self) -> Selection {
        Selection {
            since: self.since,
            until: self.until,
            accounts: self.accounts.clone(),
            regions: self.regions.clone(),
        }
    }
}

/// A `--since` / `--until` value. The clock is read here, at the edge; the
/// doctors only compare times.
pub fn parse_time(text: &str) -> Result<DateTime<Utc>, String> {
    start_doctor_core::time::parse_time_bound(text, Utc::now()).map_err(|e| e.to_string())
}

/// An `--instance-id` value.
pub fn parse_instance_id(text: &str) -> Result<InstanceId, String> {
    InstanceId::parse(text).ok_or_else(|| format!("{text:?} is not an instance id (i-...)"))
}
