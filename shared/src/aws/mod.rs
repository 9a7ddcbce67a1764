//! Production adapters for the pipeline's ports: live checks through the
//! official AWS SDK (EC2, KMS, IAM, CloudTrail), deferral through an SQS
//! delay queue, annotations (OpsCenter, Incident Manager, EventBridge,
//! instance tags), Slack credentials from Secrets Manager, and configuration
//! from the environment.

pub mod annotate;
pub mod config;
pub mod defer;
pub mod live;
pub mod policy;
