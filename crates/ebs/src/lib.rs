//! start-doctor ebs: why is this instance slow? Names the EBS ceiling that
//! binds (a volume's IOPS or throughput, its burst baseline, the instance
//! type's EBS maximum or its baseline once the burst is spent), a volume
//! still initializing from its snapshot, or stalled I/O, with the numbers
//! and the fix, from `describe-*` output and CloudWatch metrics.
//!
//! Pure, like the rest of the project's core: no network, no clock, no AWS
//! SDK. [`read`] turns documents into pieces of evidence, [`evidence`]
//! joins them, [`rules`] compares every minute with every ceiling
//! ([`limits`]) and names the cause, [`remedy`] writes the fix (with
//! [`price`]), [`render`] prints it, [`query`] writes the CloudWatch
//! request that collects the metrics, [`notice`] is the doctor the live
//! path's engine publishes findings with (one Slack message and OpsItem per
//! (instance, cause)).

#![deny(missing_docs)]

pub mod evidence;
pub mod finding;
pub mod ids;
pub mod limits;
pub mod metric;
pub mod model;
pub mod notice;
pub mod price;
pub mod query;
pub mod read;
pub mod remedy;
pub mod render;
pub mod rules;
pub mod series;

pub use evidence::{Collected, Evidence};
pub use finding::{Cause, Finding, RemediationKind};
pub use read::{read_document, Document, DocumentError, Problem};
pub use rules::{diagnose, Options};
