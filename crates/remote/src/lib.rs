//! start-doctor where the evidence lives: a CloudTrail archive read in place
//! in S3 ([`s3`]), the evidence query of [`start_doctor_start::query`] run
//! on Athena ([`athena`]) or CloudTrail Lake ([`lake`]), and the network
//! configuration and flow-log records of `flows --live` ([`flows`]).
//! Everything here is I/O; what is read is handed to the doctors' readers,
//! so a record from S3 or a query result is diagnosed like one from a local
//! file. (The EBS evidence of `start-doctor ebs --live` is gathered by
//! `start_doctor_aws::ebs::gather`, which the `ebs-ceiling` function
//! shares.)
//!
//! Only the `start-doctor` CLI's `aws` feature builds this crate, so that
//! the default build compiles no AWS SDK.

#![deny(missing_docs)]

pub mod athena;
pub mod flows;
pub mod lake;
pub mod s3;

use std::time::Duration;

use start_doctor_start::Document;

/// Why a remote read or query failed as a whole.
#[derive(Debug, thiserror::Error)]
pub enum RemoteError {
    /// An `s3://` URI that names no bucket.
    #[error("{0:?} is not an s3://bucket/prefix URI")]
    S3Uri(String),
    /// An AWS call failed (after the SDK's retries).
    #[error("{operation}: {message}")]
    Call {
        /// The API, e.g. `ListObjectsV2`.
        operation: &'static str,
        /// The SDK's error, with its cause chain.
        message: String,
    },
    /// The query ended in a state other than success.
    #[error("query {id} ended {state}: {reason}")]
    QueryFailed {
        /// The query execution id.
        id: String,
        /// Its final state.
        state: String,
        /// The engine's reason.
        reason: String,
    },
    /// The query did not finish in the time allowed.
    #[error("query {id} still {state} after {waited:?}; stopped waiting")]
    QueryTimeout {
        /// The query execution id.
        id: String,
        /// Its last state.
        state: String,
        /// How long was waited.
        waited: Duration,
    },
}

impl RemoteError {
    /// An SDK error with its whole cause chain, which is where the SDK keeps
    /// the service's message.
    pub(crate) fn call(operation: &'static str, error: &dyn std::error::Error) -> Self {
        let message = start_doctor_core::text::error_chain(error);
        Self::Call { operation, message }
    }
}

/// How a running query is waited for.
#[derive(Clone, Copy, Debug)]
pub struct Wait {
    /// The pause between two status calls.
    pub poll: Duration,
    /// The longest wait before giving up.
    pub timeout: Duration,
}

impl Default for Wait {
    fn default() -> Self {
        Self {
            poll: Duration::from_secs(2),
            timeout: Duration::from_secs(30 * 60),
        }
    }
}

/// Where a running query stands, as its engine answers a status call.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum QueryState {
    /// Queued or running: ask again.
    Running,
    /// Finished: read the result.
    Succeeded,
    /// Ended without a result, with the engine's reason.
    Failed {
        /// The reason the engine gave.
        reason: String,
    },
}

/// Asks `status` for the state of query `id` every [`Wait::poll`] until it
/// ends, telling `progress` each line `status` gives with it: `Ok` when it
/// succeeded; its failure (with the engine's state and reason), or a
/// timeout after [`Wait::timeout`], otherwise. The one polling loop of the
/// Athena and CloudTrail Lake runs.
pub async fn wait_for<F, Fut>(
    id: &str,
    wait: Wait,
    mut progress: impl FnMut(&str),
    mut status: F,
) -> Result<(), RemoteError>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Result<(QueryState, String, String), RemoteError>>,
{
    let since = tokio::time::Instant::now();
    loop {
        let (state, name, line) = status().await?;
        progress(&line);
        match state {
            QueryState::Succeeded => return Ok(()),
            QueryState::Failed { reason } => {
                return Err(RemoteError::QueryFailed {
                    id: id.to_owned(),
                    state: name,
                    reason,
                })
            }
            QueryState::Running if since.elapsed() >= wait.timeout => {
                return Err(RemoteError::QueryTimeout {
                    id: id.to_owned(),
                    state: name,
                    waited: since.elapsed(),
                })
            }
            QueryState::Running => tokio::time::sleep(wait.poll).await,
        }
    }
}

/// What a finished query returned, read as evidence.
#[derive(Debug, Default)]
pub struct QueryOutcome {
    /// The query's id.
    pub id: String,
    /// The rows read back.
    pub rows: usize,
    /// The evidence in them.
    pub document: Document,
}

/// The caller's SDK configuration: credentials, region and endpoint from
/// the environment, profile or instance role, as the AWS CLI finds them
/// (`AWS_ENDPOINT_URL` included, which the tests use).
pub async fn sdk_config() -> aws_config::SdkConfig {
    aws_config::load_defaults(aws_config::BehaviorVersion::latest()).await
}

/// An S3 client for `config`. With a custom endpoint (`AWS_ENDPOINT_URL`:
/// an S3-compatible store or a local emulator), addressing is path-style,
/// which those need; against AWS itself the SDK's default is kept.
pub fn s3_client(config: &aws_config::SdkConfig) -> aws_sdk_s3::Client {
    let custom = config.endpoint_url().is_some();
    aws_sdk_s3::Client::from_conf(
        aws_sdk_s3::config::Builder::from(config)
            .force_path_style(custom)
            .build(),
    )
}

/// An EC2 client for `config`.
pub fn ec2_client(config: &aws_config::SdkConfig) -> aws_sdk_ec2::Client {
    aws_sdk_ec2::Client::new(config)
}

/// A CloudWatch Logs client for `config`.
pub fn logs_client(config: &aws_config::SdkConfig) -> aws_sdk_cloudwatchlogs::Client {
    aws_sdk_cloudwatchlogs::Client::new(config)
}
