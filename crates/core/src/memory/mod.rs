//! In-memory adapters of the pipeline's ports, for tests and local runs
//! (feature `test-util`).

pub mod notifier;
pub mod store;

pub use notifier::RecordingNotifier;
pub use store::MemoryStore;
