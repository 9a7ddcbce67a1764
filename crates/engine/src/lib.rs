//! start-doctor's live path, for every doctor: the [`ports`] its I/O goes
//! through (one [`ports::Ports`] value), the [`Doctor`] trait a doctor
//! implements, and the notice [`engine`] that turns findings into one Slack
//! message and one OpsItem per group, updated rather than repeated, and
//! never lost or doubled when Slack, the store or the invocation fails.
//!
//! The engine is pure, and its manifest keeps it so: no network, no clock,
//! no AWS SDK, no async runtime. Time comes in as [`When`].

#![deny(missing_docs)]

pub mod deadline;
pub mod doctor;
pub mod engine;
#[cfg(any(test, feature = "test-util"))]
pub mod memory;
pub mod ports;
pub mod record;

pub use deadline::{Deadline, When, LEASE_MARGIN_SECS};
pub use doctor::{Doctor, GroupView};
pub use engine::{Deferred, Engine, EngineError, Later, Notice, Published, Settings};
