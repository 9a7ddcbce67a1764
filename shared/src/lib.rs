//! start-doctor core: diagnoses EC2 instances that go `pending` and then
//! `stopped`, from EC2 state changes, CloudTrail records and `describe-*`
//! output.
//!
//! The core is pure: [`events`] turns documents into [`evidence`],
//! [`correlate`] groups the evidence per failed start, [`diagnose`] applies
//! the cause rules, [`remedy`] writes the fix and [`render`] prints it. No
//! network, no clock, no AWS SDK types.

#![deny(missing_docs)]

#[cfg(feature = "aws")]
pub mod aws;
pub mod correlate;
pub mod diagnose;
pub mod diagnosis;
pub mod events;
pub mod evidence;
pub mod ids;
#[cfg(feature = "lambda")]
pub mod lambda;
pub mod notify;
pub mod pipeline;
pub mod remedy;
pub mod render;
pub mod store;

pub use diagnose::diagnose;
pub use diagnosis::{Cause, Diagnosis, Remediation, RemediationKind, Report};
pub use events::{read_document, Document, DocumentError, EventProblem};
pub use evidence::{Evidence, EvidenceSet};
