//! start-doctor flows: why do some connections fail?
//!
//! Reads VPC and Transit Gateway flow-log records and the network
//! configuration (`describe-*` output), groups the records into
//! conversations, replays every rejected leg against the network ACLs and
//! security groups on every path it could have taken (every Transit
//! Gateway attachment AZ it could have entered by), and names the control
//! that dropped it, with the fix.
//!
//! Pure, like the core: no network, no clock, no AWS SDK, no async runtime.
//! Readers take bytes or an [`std::io::Read`] the caller opened.

#![deny(missing_docs)]

pub mod archive;
pub mod config;
pub mod conversation;
pub mod diagnose;
pub mod evaluate;
pub mod finding;
pub mod ids;
pub mod live;
pub mod missing;
pub mod query;
pub mod read;
pub mod record;
pub mod remedy;
pub mod render;
pub mod replay;
pub mod traffic;

pub use diagnose::{diagnose, Options};
pub use finding::{Finding, Noise, Report};
