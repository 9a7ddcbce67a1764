//! The start doctor: diagnoses EC2 instances that go `pending` and then
//! `stopped` (or `terminated`), from EC2 state changes, CloudTrail records
//! and `describe-*` output, and checks ahead of time which will
//! ([`preflight`]).
//!
//! The crate is pure, and its manifest keeps it so: no network, no clock,
//! no AWS SDK, no async runtime. [`read`] turns documents into
//! [`evidence`], [`correlate`] groups the evidence per failed attempt,
//! [`rules`] names the cause, [`remedy`] writes the fix and [`render`]
//! prints it. [`pipeline`] is the live path's logic over the engine's ports
//! and its own [`ports`] (live checks); the AWS and Slack adapters live in
//! the `start-doctor-aws` crate.

#![deny(missing_docs)]

pub mod correlate;
pub mod diagnosis;
pub mod evidence;
pub mod ids;
pub mod key_policy;
pub mod pipeline;
pub mod ports;
pub mod preflight;
pub mod query;
pub mod read;
pub mod remedy;
pub mod render;
pub mod rules;
pub mod selection;
pub mod state_reason;

pub use diagnosis::{Cause, Diagnosis, Remediation, RemediationKind, Report};
pub use evidence::{Evidence, EvidenceSet};
pub use read::{read_document, Document, DocumentError, EventProblem};
pub use rules::diagnose;
