//! The [`LiveChecks`] port: what AWS knows now (EC2, KMS, IAM and
//! CloudTrail through the SDK in production).

use std::future::Future;

use chrono::{DateTime, Utc};

use crate::evidence::Evidence;
use crate::ids::{KeyArn, PrincipalArn};
use start_doctor_core::ids::{Account, InstanceId, Region};
use start_doctor_engine::ports::ServiceError;

/// What a live check needs to know about one instance.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LiveRequest {
    /// The instance.
    pub instance_id: InstanceId,
    /// The principal that started it, when known.
    pub principal: Option<PrincipalArn>,
    /// Its account.
    pub account: Option<Account>,
    /// Its region.
    pub region: Option<Region>,
    /// When its start failed.
    pub failed_at: Option<DateTime<Utc>>,
    /// The keys of its volumes, when known: CloudTrail lookups narrow by
    /// them.
    pub keys: Vec<KeyArn>,
}

/// Asks AWS what it knows now (EC2, KMS, IAM, CloudTrail in production).
pub trait LiveChecks: Send + Sync {
    /// Describes the instances, their volumes and keys, key policies, and
    /// simulates the principals' policies on the keys. Calls grow with the
    /// distinct keys and principals, not with the instances.
    fn describe(
        &self,
        requests: &[LiveRequest],
    ) -> impl Future<Output = Result<Vec<Evidence>, ServiceError>> + Send;

    /// The last resort: CloudTrail `LookupEvents` for KMS errors around the
    /// failures (2 requests/second per account and region: one lookup for
    /// the whole batch, never one per instance).
    fn lookup_cloudtrail(
        &self,
        requests: &[LiveRequest],
    ) -> impl Future<Output = Result<Vec<Evidence>, ServiceError>> + Send;
}
