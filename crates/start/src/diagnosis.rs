//! The diagnosis: what the CLI prints, the Lambdas post and the diagnosis
//! event carries. Its JSON form is the contract pinned by
//! `schema/diagnosis.schema.json`.

use std::fmt;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::ids::{KeyArn, PrincipalArn};
use start_doctor_core::ids::{Account, InstanceId, Region, VolumeId};

/// Why a start failed. The serde names are the stable contract strings.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Cause {
    /// No identity-based policy allows the caller `kms:CreateGrant` (or the
    /// KMS action EC2 needed) on the key.
    KmsIdentityPolicyMissing,
    /// The key policy does not allow the caller, and does not let IAM
    /// policies grant access.
    KmsKeyPolicyMissing,
    /// An explicit deny (identity policy, key policy, SCP, boundary) blocks it.
    KmsExplicitDeny,
    /// KMS denied access without saying which policy is missing.
    KmsAccessDenied,
    /// The caller's permissions boundary does not allow the KMS action.
    KmsPermissionsBoundaryMissing,
    /// The session policy passed when the caller's session was created
    /// does not allow the KMS action.
    KmsSessionPolicyMissing,
    /// The key is disabled (or in another unusable state).
    KmsKeyDisabled,
    /// The key is scheduled for deletion.
    KmsKeyPendingDeletion,
    /// The key's imported key material is missing or expired.
    KmsKeyPendingImport,
    /// The key's custom key store is disconnected.
    KmsKeyUnavailable,
    /// The key does not exist (deleted, wrong region or account).
    KmsKeyNotFound,
    /// EC2 had no capacity for the instance type in the zone.
    InsufficientCapacity,
    /// The account's EBS volume limit was reached.
    VolumeLimitExceeded,
    /// A snapshot the instance's volumes come from does not exist.
    SnapshotNotFound,
    /// The start failed and the evidence does not say why.
    InternalErrorUnexplained,
}

impl Cause {
    /// Every cause, in contract order.
    pub const ALL: [Cause; 15] = [
        Cause::KmsIdentityPolicyMissing,
        Cause::KmsKeyPolicyMissing,
        Cause::KmsExplicitDeny,
        Cause::KmsAccessDenied,
        Cause::KmsPermissionsBoundaryMissing,
        Cause::KmsSessionPolicyMissing,
        Cause::KmsKeyDisabled,
        Cause::KmsKeyPendingDeletion,
        Cause::KmsKeyPendingImport,
        Cause::KmsKeyUnavailable,
        Cause::KmsKeyNotFound,
        Cause::InsufficientCapacity,
        Cause::VolumeLimitExceeded,
        Cause::SnapshotNotFound,
        Cause::InternalErrorUnexplained,
    ];

    /// The contract name, e.g. `kms_identity_policy_missing`.
    pub fn as_str(self) -> &'static str {
        match self {
            Cause::KmsIdentityPolicyMissing => "kms_identity_policy_missing",
            Cause::KmsKeyPolicyMissing => "kms_key_policy_missing",
            Cause::KmsExplicitDeny => "kms_explicit_deny",
            Cause::KmsAccessDenied => "kms_access_denied",
            Cause::KmsPermissionsBoundaryMissing => "kms_permissions_boundary_missing",
            Cause::KmsSessionPolicyMissing => "kms_session_policy_missing",
            Cause::KmsKeyDisabled => "kms_key_disabled",
            Cause::KmsKeyPendingDeletion => "kms_key_pending_deletion",
            Cause::KmsKeyPendingImport => "kms_key_pending_import",
            Cause::KmsKeyUnavailable => "kms_key_unavailable",
            Cause::KmsKeyNotFound => "kms_key_not_found",
            Cause::InsufficientCapacity => "insufficient_capacity",
            Cause::VolumeLimitExceeded => "volume_limit_exceeded",
            Cause::SnapshotNotFound => "snapshot_not_found",
            Cause::InternalErrorUnexplained => "internal_error_unexplained",
        }
    }

    /// A short title for people: Slack headers, OpsItem titles.
    pub fn title(self) -> &'static str {
        match self {
            Cause::KmsIdentityPolicyMissing => "KMS grant denied: identity policy missing",
            Cause::KmsKeyPolicyMissing => "KMS grant denied: key policy missing",
            Cause::KmsExplicitDeny => "KMS grant denied: explicit deny",
            Cause::KmsAccessDenied => "KMS access denied",
            Cause::KmsPermissionsBoundaryMissing => "KMS grant denied: permissions boundary",
            Cause::KmsSessionPolicyMissing => "KMS grant denied: session policy",
            Cause::KmsKeyDisabled => "KMS key disabled",
            Cause::KmsKeyPendingDeletion => "KMS key pending deletion",
            Cause::KmsKeyPendingImport => "KMS key material not imported",
            Cause::KmsKeyUnavailable => "KMS key store disconnected",
            Cause::KmsKeyNotFound => "KMS key not found",
            Cause::InsufficientCapacity => "insufficient capacity",
            Cause::VolumeLimitExceeded => "EBS volume limit exceeded",
            Cause::SnapshotNotFound => "snapshot not found",
            Cause::InternalErrorUnexplained => "internal error, cause unknown",
        }
    }
}

impl fmt::Display for Cause {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// What kind of fix a remediation is.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RemediationKind {
    /// Attach an identity policy to the role or user.
    IdentityPolicy,
    /// Add a statement to the key policy (also for service-linked roles,
    /// whose own policies cannot be edited).
    KeyPolicy,
    /// Add the action to the permissions boundary policy.
    PermissionsBoundary,
    /// Allow the action in the policy passed when the session is created.
    SessionPolicy,
    /// Find and narrow the explicit deny.
    RemoveExplicitDeny,
    /// Enable the key.
    EnableKey,
    /// Cancel the key's scheduled deletion.
    CancelKeyDeletion,
    /// Import the key material again.
    ImportKeyMaterial,
    /// Reconnect the key's custom key store.
    ConnectKeyStore,
    /// Restore access to a key that is gone.
    RestoreKey,
    /// Work around missing capacity.
    Capacity,
    /// Raise or free the volume quota.
    VolumeLimit,
    /// Replace the missing snapshot.
    Snapshot,
    /// Look further; the evidence is not conclusive.
    Investigate,
}

/// The fix for a diagnosis.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Remediation {
    /// What kind of fix.
    pub kind: RemediationKind,
    /// What to do, in order; commands are complete and copyable.
    pub steps: Vec<String>,
    /// The role or user the policy belongs on.
    pub attach_to: Option<PrincipalArn>,
    /// A complete IAM policy document (identity policy, or the key-policy
    /// statement to add).
    pub policy: Option<serde_json::Value>,
}

/// The KMS error a diagnosis rests on.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct KmsError {
    /// The KMS API EC2 called, e.g. `CreateGrant`.
    pub api: String,
    /// The CloudTrail `errorCode`.
    pub code: String,
    /// The CloudTrail `errorMessage`.
    pub message: String,
}

fn one() -> u32 {
    1
}

/// One failed start, explained.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Diagnosis {
    /// The instance that failed to start.
    pub instance_id: InstanceId,
    /// Its `Name` tag, when known.
    pub instance_name: Option<String>,
    /// The account it lives in.
    pub account: Option<Account>,
    /// The region it lives in.
    pub region: Option<Region>,
    /// Why it failed.
    pub cause: Cause,
    /// The role or user that started it.
    pub principal_arn: Option<PrincipalArn>,
    /// The first key whose use failed in the attempt (`kms_key_arns[0]`).
    pub kms_key_arn: Option<KeyArn>,
    /// Every key whose use failed in the attempt.
    #[serde(default)]
    pub kms_key_arns: Vec<KeyArn>,
    /// The instance's volumes on those keys.
    pub volume_ids: Vec<VolumeId>,
    /// `StateReason.Code` from describe-instances.
    pub state_reason_code: Option<String>,
    /// When the start failed (the stop, or the KMS error).
    pub failed_at: Option<DateTime<Utc>>,
    /// How many failed attempts of the instance the input shows (the
    /// diagnosis is for the latest).
    #[serde(default = "one")]
    pub failed_attempts: u32,
    /// The KMS error the diagnosis rests on.
    pub kms_error: Option<KmsError>,
    /// CloudTrail event ids and EventBridge ids of the evidence, oldest first.
    pub evidence_event_ids: Vec<String>,
    /// The cause in one sentence.
    pub summary: String,
    /// The fix.
    pub remediation: Remediation,
}

/// What a diagnosis' fix depends on, and so what diagnoses are grouped
/// by: one block of text output, one Slack message and one OpsItem per
/// value (a storm of instances failing for one missing grant is one
/// group). The one home of the start doctor's group key.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct GroupKey {
    /// The account.
    pub account: Option<Account>,
    /// The Region.
    pub region: Option<Region>,
    /// The cause.
    pub cause: Cause,
    /// The principal whose policies the fix changes.
    pub principal: Option<PrincipalArn>,
    /// Every key the fix covers.
    pub keys: Vec<KeyArn>,
}

/// The group within its account and Region, as store keys write it:
/// `<cause>#<principal or ->#<key ids joined by +, or ->`.
impl std::fmt::Display for GroupKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let principal = self.principal.as_ref().map_or("-", PrincipalArn::as_str);
        let keys: Vec<&str> = self.keys.iter().map(KeyArn::key_id).collect();
        let keys = if keys.is_empty() {
            "-".to_owned()
        } else {
            keys.join("+")
        };
        write!(f, "{}#{principal}#{keys}", self.cause)
    }
}

impl Diagnosis {
    /// The group the diagnosis belongs to.
    pub fn group_key(&self) -> GroupKey {
        GroupKey {
            account: self.account.clone(),
            region: self.region.clone(),
            cause: self.cause,
            principal: self.principal_arn.clone(),
            keys: self.kms_key_arns.clone(),
        }
    }
}

/// The JSON output document: `{"diagnoses": [...]}`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Report {
    /// One diagnosis per failed instance, ordered by instance id.
    pub diagnoses: Vec<Diagnosis>,
}
