//! Preflight: will the next start of an instance fail, and why?
//!
//! Before a start window, walk the chain a start depends on (instance →
//! volumes → KMS keys → key state → key policy → the starting principal's
//! identity policies and permissions boundary) and evaluate, as KMS would,
//! the `CreateGrant` EC2 makes for each encrypted volume. [`policy`] is the
//! evaluator; [`check::preflight`] runs the check over an
//! [`EvidenceSet`](crate::EvidenceSet) read by [`crate::read`]; [`render`]
//! prints it; [`scope`] says what a run re-checks and groups its failures.

pub mod check;
pub mod notice;
pub mod policy;
pub mod render;
pub mod scope;

pub use check::{preflight, Check, Preflight, PreflightVerdict, PrincipalSource};
