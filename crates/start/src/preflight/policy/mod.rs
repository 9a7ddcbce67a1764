//! A pure IAM / KMS policy evaluator for one question: may principal P have
//! EC2 create a grant (`kms:CreateGrant`) on KMS key K for EBS volume V when
//! EC2 attaches the volume during `RunInstances` / `StartInstances`?
//!
//! * [`document`]: policy JSON into a typed model.
//! * [`matching`]: action / resource / ARN wildcard matching.
//! * [`condition`]: condition operators, set operators, policy variables.
//! * [`context`]: the request context ([`Request::ec2_create_grant`]).
//! * [`evaluate`]: [`evaluate_policy`] and [`evaluate_create_grant`].
//!
//! No I/O and no panics on any input. The AWS rules relied on are quoted,
//! with their sources, in `docs/preflight-evaluation.md`.

pub mod condition;
pub mod context;
pub mod document;
pub mod evaluate;
pub mod matching;

pub use condition::{BaseOp, Operator, Outcome, SetOp};
pub use context::{KeyLookup, PrincipalType, Request, RequestError};
pub use document::{Effect, ParseError, Policy, Statement};
pub use evaluate::{
    evaluate_create_grant, evaluate_policy, Boundary, CreateGrantReport, DenyReason, Inputs,
    KeyState, PolicyKind, PolicyResult, PrincipalMatch, StatementRef, Verdict,
};
