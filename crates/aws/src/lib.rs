//! start-doctor's adapters: the pipeline's ports over the official AWS SDK
//! and Slack's HTTP APIs, configuration from the environment, and the glue
//! the Lambda functions are made of.
//!
//! | Module | Port ([`start_doctor_core::ports`]) |
//! |---|---|
//! | [`dynamodb`] | `Store` |
//! | [`slack`] | `Notifier` (Incoming Webhook, or the Web API with a bot token) |
//! | [`live`] | `LiveChecks` (EC2, KMS, IAM, CloudTrail) |
//! | [`preflight`] | the preflight function (over `Store` and `Notifier`) |
//! | [`defer`] | `Deferrer` (SQS delay queue) |
//! | [`annotate`] | `Annotator` (OpsCenter, Incident Manager, EventBridge, tags) |

#![deny(missing_docs)]

pub mod annotate;
pub mod config;
pub mod defer;
pub mod dynamodb;
pub mod lambda;
pub mod live;
pub mod preflight;
pub mod slack;
