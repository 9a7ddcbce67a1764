//! The [`Deferrer`] port: a message delivered back to the doctor's
//! function later (an SQS delay queue in production).

use std::future::Future;

use serde_json::Value;

use super::ServiceError;

/// Sends a message to be handled later by the function that owns the
/// queue. Messages name their doctor (see [`crate::engine::Deferred`]).
pub trait Deferrer: Send + Sync {
    /// Delivers `message` after `delay_secs` (or as close as the mechanism
    /// allows: SQS delays at most 900 s).
    fn defer(
        &self,
        message: &Value,
        delay_secs: u32,
    ) -> impl Future<Output = Result<(), ServiceError>> + Send;
}

/// A deferral "queue" kept in memory for the invocation to work off itself
/// before it ends: for a run that has no queue of its own (preflight posts
/// at most one follow-up per group per run, at its end). Delays are not
/// kept: what is deferred is done when the run drains it.
#[derive(Debug, Default)]
pub struct InlineDeferrer {
    queued: std::sync::Mutex<Vec<Value>>,
}

impl InlineDeferrer {
    /// Takes every message deferred so far, in order.
    pub fn drain(&self) -> Vec<Value> {
        std::mem::take(
            &mut *self
                .queued
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner),
        )
    }
}

impl Deferrer for InlineDeferrer {
    async fn defer(&self, message: &Value, _delay_secs: u32) -> Result<(), ServiceError> {
        self.queued
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .push(message.clone());
        Ok(())
    }
}
