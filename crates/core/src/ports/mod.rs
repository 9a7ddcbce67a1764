//! The ports of the live path: the small traits the pipeline does its I/O
//! through. The production adapters (DynamoDB, Slack, SQS, the AWS SDK)
//! live in the `start-doctor-aws` crate; in-memory ones in [`crate::memory`]
//! (feature `test-util`).
//!
//! | Port | Production | Tests |
//! |---|---|---|
//! | [`store::Store`] | `DynamoStore` | `memory::MemoryStore` |
//! | [`notify::Notifier`] | `SlackWebhook`, `SlackApi` | `memory::RecordingNotifier` |
//! | [`live::LiveChecks`] | `AwsLiveChecks` | test fakes |
//! | [`defer::Deferrer`] | `SqsDeferrer` | test fakes |
//! | [`annotate::Annotator`] | `AwsAnnotator` | [`annotate::NoAnnotator`], test fakes |

pub mod annotate;
pub mod defer;
pub mod live;
pub mod notify;
pub mod store;

pub use annotate::{Annotator, NoAnnotator};
pub use defer::{DeferredCheck, Deferrer};
pub use live::{LiveChecks, LiveRequest};
pub use notify::{MessageRef, Notifier, NotifyError};
pub use store::{Record, Store, StoreError, StoredEvent};

/// A live-check or deferral failure.
#[derive(Debug, thiserror::Error)]
#[error("{service}: {message}")]
pub struct ServiceError {
    /// The AWS service or component.
    pub service: &'static str,
    /// What failed.
    pub message: String,
}
