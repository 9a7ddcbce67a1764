//! Preflight: will the next start of an instance fail, and why?
//!
//! Before a start window, walk the chain a start depends on (instance →
//! volumes → KMS keys → key state → key policy → the starting principal's
//! identity policies and permissions boundary) and evaluate, as KMS would,
//! the `CreateGrant` EC2 makes for each encrypted volume. [`policy`] is the
//! evaluator.

pub mod policy;
