//! start-doctor's adapters: the live path's ports over the official AWS
//! SDK and Slack's HTTP APIs, configuration from the environment, the glue
//! the Lambda functions are made of, and each doctor's live reads and
//! functions behind a feature of its own, so that a function links only its
//! own doctor.
//!
//! | Module | Port (`start_doctor_engine::ports`) |
//! |---|---|
//! | [`dynamodb`] | `Store` |
//! | [`slack`] | `Notifier` (Incoming Webhook, or the Web API with a bot token) |
//! | [`defer`] | `Deferrer` (SQS delay queue) |
//! | [`annotate`] | `Annotator` (OpsCenter, Incident Manager, EventBridge, tags) |
//! | [`config`] | what every function reads |
//! | [`lambda`] | tracing, deadlines, partial batch failures, errors for Lambda |
//!
//! Feature `start` (the start doctor): [`live`] (its `LiveChecks`: EC2,
//! KMS, IAM, CloudTrail), [`start`] (`ec2-state-change`,
//! `cloudtrail-api-call`) and [`preflight`] (the preflight function and
//! `preflight --live`).
//!
//! Feature `ebs` (the EBS doctor): [`ebs`] (the `ebs-ceiling` function:
//! which instances hit an EBS ceiling, their evidence gathered, diagnosed
//! and published; the same gathering serves `start-doctor ebs --live`).
//!
//! Feature `flows` (the flows doctor): [`flows_config`] (the network
//! configuration from `Describe*` calls, shared with `flows --live`) and
//! [`flows`] (the `flows-rejects` function).

#![deny(missing_docs)]

pub mod annotate;
pub mod config;
pub mod defer;
pub mod dynamodb;
// ---- ebs (issue 17) ----
#[cfg(feature = "ebs")]
pub mod ebs;
// ---- end ebs ----
// --- flows doctor (feature `flows`) ---
#[cfg(feature = "flows")]
pub mod flows;
#[cfg(feature = "flows")]
pub mod flows_config;
// --- end flows doctor ---
pub mod lambda;
#[cfg(feature = "start")]
pub mod live;
#[cfg(feature = "start")]
pub mod preflight;
pub mod slack;
#[cfg(feature = "start")]
pub mod start;
