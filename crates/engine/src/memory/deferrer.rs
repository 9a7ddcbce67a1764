//! A [`Deferrer`] that keeps what it is asked to deliver later, so a test
//! can deliver it when it likes; it can be made to fail (SQS down).

use std::sync::atomic::AtomicUsize;
use std::sync::{Mutex, MutexGuard, PoisonError};

use serde::de::DeserializeOwned;
use serde_json::Value;

use super::take_one;
use crate::ports::{Deferrer, ServiceError};

/// Keeps every deferred message with its delay.
#[derive(Debug, Default)]
pub struct RecordingDeferrer {
    deferred: Mutex<Vec<(Value, u32)>>,
    /// How many of the next deferrals fail.
    pub fail_next: AtomicUsize,
}

impl RecordingDeferrer {
    fn lock(&self) -> MutexGuard<'_, Vec<(Value, u32)>> {
        self.deferred.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Every message deferred so far, with its delay, in order.
    pub fn deferred(&self) -> Vec<(Value, u32)> {
        self.lock().clone()
    }

    /// Takes every message deferred so far, read as `T`, leaving none.
    pub fn take<T: DeserializeOwned>(&self) -> Vec<T> {
        std::mem::take(&mut *self.lock())
            .into_iter()
            .filter_map(|(m, _)| serde_json::from_value(m).ok())
            .collect()
    }
}

impl Deferrer for RecordingDeferrer {
    async fn defer(&self, message: &Value, delay_secs: u32) -> Result<(), ServiceError> {
        if take_one(&self.fail_next) {
            return Err(ServiceError {
                service: "sqs",
                message: "injected failure".into(),
            });
        }
        self.lock().push((message.clone(), delay_secs));
        Ok(())
    }
}
