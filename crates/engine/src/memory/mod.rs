//! In-memory adapters of the ports, with the faults real parts have, for
//! every doctor's tests and local runs (feature `test-util`): a store that
//! can fail or lose writes, a Slack that can refuse, hold, rate-limit or
//! post without answering, a deferral queue that can fail, and an
//! annotator that records what it is told.

pub mod annotator;
pub mod deferrer;
pub mod notifier;
pub mod store;

pub use annotator::RecordingAnnotator;
pub use deferrer::RecordingDeferrer;
pub use notifier::RecordingNotifier;
pub use store::{FlakyStore, MemoryStore};

use std::sync::atomic::{AtomicUsize, Ordering};

/// Takes one from a fault counter: whether the call should fail.
pub fn take_one(counter: &AtomicUsize) -> bool {
    counter
        .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1))
        .is_ok()
}
