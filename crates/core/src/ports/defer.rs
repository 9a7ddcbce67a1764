//! The [`Deferrer`] port: runs a check again once CloudTrail has had time
//! to deliver (an SQS delay queue in production).

use std::future::Future;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::ServiceError;
use crate::ids::InstanceId;

/// A deferred check: look at an instance again once CloudTrail has had time
/// to deliver.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct DeferredCheck {
    /// The instance whose start failed.
    pub instance_id: InstanceId,
    /// Its account.
    pub account: Option<String>,
    /// Its region.
    pub region: Option<String>,
    /// When its start failed.
    pub failed_at: Option<DateTime<Utc>>,
    /// Not before this time (for waits longer than the deferral mechanism's
    /// own maximum delay, the check is deferred again).
    pub not_before: DateTime<Utc>,
    /// Not a check of the instance but the flush of this storm group's
    /// message: its latest state is rendered (the instance is the member
    /// whose joining asked for the flush).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub flush_group: Option<String>,
}

/// Defers a check (SQS delay queue in production).
pub trait Deferrer: Send + Sync {
    /// Delivers `check` to `Pipeline::handle_deferred` after `delay_secs`
    /// (or as close as the mechanism allows).
    fn defer(
        &self,
        check: &DeferredCheck,
        delay_secs: u32,
    ) -> impl Future<Output = Result<(), ServiceError>> + Send;
}
