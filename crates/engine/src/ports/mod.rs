//! The ports of the live path: the small traits its I/O goes through, and
//! [`Ports`], the one value that carries them (so no function takes four
//! bounds). Production adapters (DynamoDB, Slack, SQS, SSM, EventBridge)
//! live in `start-doctor-aws`; in-memory ones with fault injection in
//! [`crate::memory`] (feature `test-util`).
//!
//! | Port | Production | Tests |
//! |---|---|---|
//! | [`Store`] | `DynamoStore` | `memory::MemoryStore`, `memory::FlakyStore` |
//! | [`Notifier`] | `SlackWebhook`, `SlackApi` | `memory::RecordingNotifier` |
//! | [`Deferrer`] | `SqsDeferrer` | `memory::RecordingDeferrer` |
//! | [`Annotator`] | `AwsAnnotator` | [`NoAnnotator`], `memory::RecordingAnnotator` |

pub mod annotate;
pub mod defer;
pub mod notify;
pub mod store;

pub use annotate::{Annotation, Annotator, Announcement, IncidentNote, NoAnnotator, ResourceTag};
pub use defer::{Deferrer, InlineDeferrer};
pub use notify::{MessageRef, MessageTag, Notifier, NotifyError};
pub use store::{Record, Store, StoreError, StoredEvent};

/// A failure of a best-effort AWS call (a deferral, an annotation, a live
/// read).
#[derive(Debug, thiserror::Error)]
#[error("{service}: {message}")]
pub struct ServiceError {
    /// The AWS service or component.
    pub service: &'static str,
    /// What failed.
    pub message: String,
}

/// The live path's ports as one value.
pub trait Ports: Send + Sync {
    /// The store.
    type Store: Store;
    /// Slack.
    type Notifier: Notifier;
    /// The deferral queue.
    type Deferrer: Deferrer;
    /// OpsCenter, diagnosis events, tags, incidents.
    type Annotator: Annotator;

    /// The store.
    fn store(&self) -> &Self::Store;
    /// Slack.
    fn notifier(&self) -> &Self::Notifier;
    /// The deferral queue.
    fn deferrer(&self) -> &Self::Deferrer;
    /// The annotations.
    fn annotator(&self) -> &Self::Annotator;
}

/// The ports as plain fields: what a function builds at start-up and a
/// test builds from fakes.
#[derive(Debug, Default)]
pub struct Io<S, N, D, A = NoAnnotator> {
    /// The store.
    pub store: S,
    /// Slack.
    pub notifier: N,
    /// The deferral queue.
    pub deferrer: D,
    /// The annotations.
    pub annotator: A,
}

impl<S: Store, N: Notifier, D: Deferrer, A: Annotator> Ports for Io<S, N, D, A> {
    type Store = S;
    type Notifier = N;
    type Deferrer = D;
    type Annotator = A;

    fn store(&self) -> &S {
        &self.store
    }

    fn notifier(&self) -> &N {
        &self.notifier
    }

    fn deferrer(&self) -> &D {
        &self.deferrer
    }

    fn annotator(&self) -> &A {
        &self.annotator
    }
}
