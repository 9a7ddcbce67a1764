//! `start-doctor preflight`: which instances will fail to start, and why,
//! from files.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use clap::Args;
use start_doctor_core::ids::{Account, Region};
use start_doctor_start::evidence::EvidenceSet;
use start_doctor_start::ids::PrincipalArn;
use start_doctor_start::preflight;

use crate::args::Format;
use crate::input;
use crate::investigate::read_file;
use crate::report;

/// `preflight`: check a start window ahead of time.
#[derive(Debug, Args)]
pub struct PreflightArgs {
    /// Files or directories (read recursively), detected by content.
    #[arg(required_unless_present = "live", value_name = "PATH")]
    paths: Vec<PathBuf>,
    /// Read the account live (needs the `aws` feature): every instance,
    /// volume, key and key policy, the authorization details and the
    /// StartInstances calls, with the caller's credentials.
    #[arg(long)]
    pub live: bool,
    /// With --live: the Region to read (default: the caller's, as the AWS
    /// CLI finds it).
    #[arg(long, requires = "live", value_name = "REGION")]
    pub region: Option<Region>,
    /// With --live: read this account (repeatable) through --role-name
    /// instead of the caller's own.
    #[arg(long = "account", requires_all = ["live", "role_name"], value_name = "ID")]
    pub accounts: Vec<Account>,
    /// With --account: the role assumed in each account (start-doctor's
    /// member read role, `start-doctor-read-only` by default in
    /// template-member.yaml).
    #[arg(long, requires = "live", value_name = "NAME")]
    pub role_name: Option<String>,
    /// With --live: how many days of CloudTrail StartInstances calls name
    /// who starts what (1 to 90).
    #[arg(long, requires = "live", default_value_t = 30, value_parser = clap::value_parser!(u32).range(1..=90))]
    pub lookback_days: u32,
    /// With --live: also write what was read to DIR (one folder per
    /// account), as files `start-doctor preflight DIR` reads back.
    #[arg(long, requires = "live", value_name = "DIR")]
    pub save: Option<PathBuf>,
    /// A role or user that starts the instances (repeatable). An
    /// assumed-role session ARN is read as its role.
    #[arg(long = "principal", value_name = "ARN", value_parser = parse_principal)]
    principals: Vec<PrincipalArn>,
    /// Output format.
    #[arg(long, value_enum, default_value_t = Format::Text)]
    format: Format,
}

/// The help after `preflight --help`.
pub const PREFLIGHT_HELP: &str = "\
Inputs (any mix, detected by content):
  aws iam get-account-authorization-details (roles, users, managed policies)
  aws ec2 describe-instances / describe-volumes, aws kms describe-key
  key policies: {\"KeyArn\": ..., \"Policy\": ...}, one per file, an array or JSON Lines
  CloudTrail StartInstances / RunInstances records (who starts what)
Principals: --principal, the start calls found, and for instances of an Auto
Scaling group its service-linked role.

With --live (a build with `--features aws`), the account is read with the
caller's credentials (`ec2:DescribeInstances`, `ec2:DescribeVolumes`,
`kms:DescribeKey`, `kms:GetKeyPolicy`, `iam:GetAccountAuthorizationDetails`,
`cloudtrail:LookupEvents`), or each --account through --role-name; --save DIR
keeps what was read as files this command reads back.

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

/// Runs `preflight`: reads everything readable (files, and the account
/// with `--live`), reports each unreadable file on stderr, and prints the
/// check of the rest (exit 1 when a file could not be read).
pub fn run(args: PreflightArgs) -> ExitCode {
    let paths: Vec<&Path> = args.paths.iter().map(PathBuf::as_path).collect();
    #[cfg_attr(not(feature = "aws"), allow(unused_mut))]
    let mut files = input::read_all(&paths, None, read_file);
    if args.live {
        #[cfg(feature = "aws")]
        files.absorb(crate::remote::preflight_live(&args));
        #[cfg(not(feature = "aws"))]
        return report::usage_error(&format!("--live: {}", crate::NO_AWS));
    }
    let unreadable = report::inputs(&files, false);
    let mut evidence = EvidenceSet::new();
    for set in files.contents {
        evidence.merge(set);
    }
    let checked = preflight::preflight(&evidence, &args.principals);
    let out = match args.format {
        Format::Text => preflight::render::text(&checked),
        Format::Json => preflight::render::json(&checked) + "\n",
    };
    report::answer(&out, unreadable)
}
