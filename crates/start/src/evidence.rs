//! The evidence model: typed facts about instances, API calls, volumes and
//! keys, as they come out of the parsers and before any correlation.
//!
//! An [`EvidenceSet`] is the deduplicated collection of everything read. It is
//! order-independent by construction: items are keyed by their event id or
//! resource id and kept in sorted maps, and when the same id is seen twice
//! with different content the smaller value wins, so the input order never
//! changes what is kept.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};

use crate::ids::{KeyArn, PrincipalArn};
use start_doctor_core::ids::{Account, InstanceId, VolumeId};

/// An EC2 instance state, as named by EC2.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum InstanceState {
    /// The instance is starting.
    Pending,
    /// The instance is running.
    Running,
    /// The instance is stopping.
    Stopping,
    /// The instance is stopped.
    Stopped,
    /// The instance is terminating.
    ShuttingDown,
    /// The instance is terminated.
    Terminated,
}

impl InstanceState {
    /// Parses the lower-case state name used by events and the EC2 API.
    pub fn parse(name: &str) -> Option<Self> {
        Some(match name {
            "pending" => Self::Pending,
            "running" => Self::Running,
            "stopping" => Self::Stopping,
            "stopped" => Self::Stopped,
            "shutting-down" => Self::ShuttingDown,
            "terminated" => Self::Terminated,
            _ => return None,
        })
    }

    /// Whether the instance is on its way down or down.
    pub fn is_down(self) -> bool {
        matches!(
            self,
            Self::Stopping | Self::Stopped | Self::ShuttingDown | Self::Terminated
        )
    }
}

/// Where an item came from: the account and region it belongs to.
pub use start_doctor_core::ids::Origin;

/// One `EC2 Instance State-change Notification`.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct StateChange {
    /// When the state changed (the event's `time`).
    pub time: DateTime<Utc>,
    /// The EventBridge event id.
    pub event_id: String,
    /// The instance.
    pub instance_id: InstanceId,
    /// The new state.
    pub state: InstanceState,
    /// Account and region.
    pub origin: Origin,
}

/// Which EC2 API started the instance.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum StartApi {
    /// `StartInstances` on a stopped instance.
    StartInstances,
    /// `RunInstances` launching a new one.
    RunInstances,
}

/// A successful `StartInstances` / `RunInstances` call from CloudTrail.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct StartCall {
    /// The CloudTrail `eventTime`.
    pub time: DateTime<Utc>,
    /// The CloudTrail `eventID`.
    pub event_id: String,
    /// The API that was called.
    pub api: StartApi,
    /// The CloudTrail `requestID`; the KMS calls EC2 makes for it share it.
    pub request_id: Option<String>,
    /// The instances the call started.
    pub instance_ids: Vec<InstanceId>,
    /// The role or user that made the call.
    pub principal: Option<PrincipalArn>,
    /// Account and region.
    pub origin: Origin,
}

/// A failed KMS call from CloudTrail (a record with an `errorCode`).
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct KmsFailure {
    /// The CloudTrail `eventTime`.
    pub time: DateTime<Utc>,
    /// The CloudTrail `eventID`.
    pub event_id: String,
    /// The KMS API, e.g. `CreateGrant`.
    pub api: String,
    /// The CloudTrail `errorCode`, e.g. `AccessDenied`.
    pub error_code: String,
    /// The CloudTrail `errorMessage`.
    pub error_message: String,
    /// The key whose use failed, as complete as the record allows.
    pub key: Option<KeyArn>,
    /// The instance the record names as EC2's: a grant's
    /// `granteePrincipal` (`<account>:aws:ec2-infrastructure:<id>` or
    /// `arn:aws:sts::<account>:assumed-role/aws:ec2-infrastructure/<id>`), or
    /// the caller when EC2 called with the instance's infrastructure
    /// credentials (a `Decrypt` by `assumed-role/aws:ec2-infrastructure/<id>`).
    pub grantee_instance: Option<InstanceId>,
    /// The account of that grantee or infrastructure caller.
    pub grantee_account: Option<Account>,
    /// `userIdentity.accountId`: the caller's account.
    pub caller_account: Option<Account>,
    /// The volume named by the `aws:ebs:id` encryption context.
    pub volume_id: Option<VolumeId>,
    /// The CloudTrail `requestID`.
    pub request_id: Option<String>,
    /// The role or user on whose behalf the call was made.
    pub principal: Option<PrincipalArn>,
    /// Whether an AWS service made the call for the principal
    /// (`invokedBy`, or `userAgent`/`sourceIPAddress` naming `AWS Internal`
    /// or an AWS service host such as `ec2-frontend-api.amazonaws.com`).
    pub via_aws_service: bool,
    /// Account and region.
    pub origin: Origin,
}

impl KmsFailure {
    /// Whether the record can be evidence about an instance at all: AWS
    /// made the call on the caller's behalf, and the grantee (or EC2's
    /// infrastructure caller) belongs to the record's own account
    /// (`recipientAccountId`, else `userIdentity.accountId`). A call typed
    /// by a person or a script, or one naming another account's instance,
    /// proves nothing about this account's instances.
    pub fn is_trustworthy(&self) -> bool {
        let record_account = self
            .origin
            .account
            .as_ref()
            .or(self.caller_account.as_ref());
        let same_account = match (&self.grantee_account, record_account) {
            (Some(grantee), Some(record)) => grantee == record,
            (Some(_), None) => false,
            (None, _) => true,
        };
        self.via_aws_service && same_account
    }
}

/// What `describe-instances` says about one instance.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct InstanceReport {
    /// The instance.
    pub instance_id: InstanceId,
    /// Its current state.
    pub state: Option<InstanceState>,
    /// `StateReason.Code`, e.g. `Client.InternalError`.
    pub state_reason_code: Option<String>,
    /// `StateReason.Message`.
    pub state_reason_message: Option<String>,
    /// The EBS volumes in its block device mappings.
    pub volume_ids: Vec<VolumeId>,
    /// The `Name` tag.
    pub name: Option<String>,
    /// The Auto Scaling group it belongs to (tag `aws:autoscaling:groupName`):
    /// the group, through its service-linked role, launches its instances.
    pub autoscaling_group: Option<String>,
    /// Account and region.
    pub origin: Origin,
}

/// What `describe-volumes` says about one volume.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct VolumeReport {
    /// The volume.
    pub volume_id: VolumeId,
    /// The KMS key that encrypts it (`KmsKeyId`), when encrypted.
    pub key: Option<KeyArn>,
    /// The instances it is attached to.
    pub attached_to: Vec<InstanceId>,
}

impl InstanceReport {
    /// The one way every reader (CLI files, live checks) builds a report:
    /// the state parsed, empty state reasons dropped, volumes sorted and
    /// deduplicated, the `Name` and `aws:autoscaling:groupName` tags picked
    /// from `tags`.
    pub fn new<'a>(
        instance_id: InstanceId,
        state: Option<&str>,
        state_reason: (Option<&str>, Option<&str>),
        volume_ids: impl IntoIterator<Item = VolumeId>,
        tags: impl IntoIterator<Item = (&'a str, &'a str)>,
        origin: Origin,
    ) -> Self {
        let mut volume_ids: Vec<VolumeId> = volume_ids.into_iter().collect();
        volume_ids.sort();
        volume_ids.dedup();
        let non_empty = |s: Option<&str>| s.filter(|s| !s.is_empty()).map(str::to_owned);
        let (mut name, mut autoscaling_group) = (None, None);
        for (key, value) in tags {
            match key {
                "Name" => name = Some(value.to_owned()),
                "aws:autoscaling:groupName" => autoscaling_group = non_empty(Some(value)),
                _ => {}
            }
        }
        Self {
            instance_id,
            state: state.and_then(InstanceState::parse),
            state_reason_code: non_empty(state_reason.0),
            state_reason_message: non_empty(state_reason.1),
            volume_ids,
            name,
            autoscaling_group,
            origin,
        }
    }
}

impl VolumeReport {
    /// The one way every reader builds a report: the key id read as a key
    /// ARN (or bare id), attachments sorted and deduplicated.
    pub fn new(
        volume_id: VolumeId,
        kms_key_id: Option<&str>,
        attached_to: impl IntoIterator<Item = InstanceId>,
    ) -> Self {
        let mut attached_to: Vec<InstanceId> = attached_to.into_iter().collect();
        attached_to.sort();
        attached_to.dedup();
        Self {
            volume_id,
            key: kms_key_id.and_then(KeyArn::parse),
            attached_to,
        }
    }
}

/// The state of a KMS key (`KeyMetadata.KeyState`).
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum KeyState {
    /// Usable.
    Enabled,
    /// Disabled by someone.
    Disabled,
    /// Scheduled for deletion (also `PendingReplicaDeletion`).
    PendingDeletion,
    /// Key material was never imported or has expired (`PendingImport`).
    PendingImport,
    /// Its custom key store is disconnected (`Unavailable`).
    Unavailable,
    /// Any other state (`Creating`, `Updating`, ...).
    Other(String),
}

impl KeyState {
    /// Parses `KeyMetadata.KeyState`.
    pub fn parse(s: &str) -> Self {
        match s {
            "Enabled" => Self::Enabled,
            "Disabled" => Self::Disabled,
            "PendingDeletion" | "PendingReplicaDeletion" => Self::PendingDeletion,
            "PendingImport" => Self::PendingImport,
            "Unavailable" => Self::Unavailable,
            other => Self::Other(other.to_owned()),
        }
    }
}

/// What `describe-key` (and, from live checks, `get-key-policy`) says
/// about one key.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct KeyReport {
    /// The key.
    pub key: KeyArn,
    /// Its state.
    pub state: KeyState,
    /// Whether it is a customer managed key (`KeyManager: CUSTOMER`). AWS
    /// managed keys (`aws/ebs`) let every principal of the account use them
    /// through EC2, so they never cause a grant denial.
    pub customer_managed: bool,
    /// What its key policy says, when it was read.
    pub policy: Option<KeyPolicyFacts>,
}

impl KeyReport {
    /// The one way every reader builds a report from `KeyMetadata`:
    /// `KeyState` parsed, customer managed unless `KeyManager` is `AWS`.
    pub fn new(
        key: KeyArn,
        key_state: Option<&str>,
        key_manager: Option<&str>,
        policy: Option<KeyPolicyFacts>,
    ) -> Self {
        Self {
            key,
            state: KeyState::parse(key_state.unwrap_or("Unknown")),
            customer_managed: key_manager != Some("AWS"),
            policy,
        }
    }
}

/// The facts of a key policy that decide whether IAM policies can grant use
/// of the key.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct KeyPolicyFacts {
    /// The policy lets IAM policies in the account grant access (the default
    /// statement allowing the account root `kms:*`).
    pub allows_iam_policies: bool,
    /// The principals the policy itself allows `kms:CreateGrant`.
    pub grant_principals: Vec<String>,
    /// Some statement that may allow the grant has conditions that were not
    /// evaluated: the facts cannot prove a denial.
    pub uncertain: bool,
}

/// The decision of an IAM policy simulation.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum SimulatedDecision {
    /// The identity policies allow the action.
    Allowed,
    /// Nothing allows it.
    ImplicitDeny,
    /// A statement denies it.
    ExplicitDeny,
}

/// What IAM `SimulatePrincipalPolicy` says about a principal using a key
/// the way EC2 does when it attaches a volume.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct PolicySimulation {
    /// The role or user simulated.
    pub principal: PrincipalArn,
    /// The key.
    pub key: KeyArn,
    /// The action, e.g. `kms:CreateGrant`.
    pub action: String,
    /// The decision.
    pub decision: SimulatedDecision,
}

/// An IAM role or user from `aws iam get-account-authorization-details`:
/// what preflight needs to evaluate its identity policies.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct PrincipalReport {
    /// The role or user ARN, with its path.
    pub arn: PrincipalArn,
    /// Its path (`/`, `/aws-service-role/autoscaling.amazonaws.com/`, ...).
    pub path: String,
    /// Inline policies as (policy name, policy document JSON text).
    pub inline_policies: Vec<(String, String)>,
    /// The ARNs of the managed policies attached to it (for a user, also
    /// those of its groups).
    pub attached_policies: Vec<String>,
    /// The ARN of its permissions boundary, when it has one.
    pub permissions_boundary: Option<String>,
    /// Its tags (`aws:PrincipalTag/...`), sorted by key.
    pub tags: Vec<(String, String)>,
}

/// A managed policy from `get-account-authorization-details` (`Policies`):
/// its default version, which is the one in force.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct ManagedPolicyReport {
    /// The policy ARN.
    pub arn: String,
    /// The policy name.
    pub name: String,
    /// The document of the default version (JSON text), when the output
    /// holds it.
    pub document: Option<String>,
}

/// A KMS key policy (`{"KeyArn": ..., "Policy": ...}`).
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct KeyPolicyReport {
    /// The key.
    pub key: KeyArn,
    /// The policy document (JSON text).
    pub document: String,
}

/// One item of evidence.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Evidence {
    /// An EC2 state change.
    StateChange(StateChange),
    /// A start call.
    StartCall(StartCall),
    /// A failed KMS call.
    KmsFailure(KmsFailure),
    /// An instance description.
    Instance(InstanceReport),
    /// A volume description.
    Volume(VolumeReport),
    /// A key description.
    Key(KeyReport),
    /// A policy simulation from a live check.
    Simulation(PolicySimulation),
    /// An IAM role or user with its policies (authorization details).
    Principal(PrincipalReport),
    /// A managed policy (authorization details).
    ManagedPolicy(ManagedPolicyReport),
    /// A key policy.
    KeyPolicy(KeyPolicyReport),
}

/// Inserts `value` under `key`; on a clash keeps the new value only when
/// `better(new, old)`, so the result does not depend on insertion order.
fn keep<K: Ord, V>(map: &mut BTreeMap<K, V>, key: K, value: V, better: fn(&V, &V) -> bool) {
    match map.entry(key) {
        std::collections::btree_map::Entry::Vacant(e) => {
            e.insert(value);
        }
        std::collections::btree_map::Entry::Occupied(mut e) => {
            if better(&value, e.get()) {
                e.insert(value);
            }
        }
    }
}

/// Keeps the smaller of two clashing items: any total order will do.
fn smaller<V: Ord>(new: &V, old: &V) -> bool {
    new < old
}

/// Keeps the larger: for key reports, the one that also carries the key
/// policy.
fn larger<V: Ord>(new: &V, old: &V) -> bool {
    new > old
}

/// Everything read, deduplicated by event id (events) or resource id
/// (descriptions).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct EvidenceSet {
    /// State changes by EventBridge event id.
    pub state_changes: BTreeMap<String, StateChange>,
    /// Start calls by CloudTrail event id.
    pub start_calls: BTreeMap<String, StartCall>,
    /// KMS failures by CloudTrail event id.
    pub kms_failures: BTreeMap<String, KmsFailure>,
    /// Instance descriptions by instance id.
    pub instances: BTreeMap<InstanceId, InstanceReport>,
    /// Volume descriptions by volume id.
    pub volumes: BTreeMap<VolumeId, VolumeReport>,
    /// Key descriptions by key id (the part after `key/`), so that a key
    /// named by ARN and by bare id meet.
    pub keys: BTreeMap<String, KeyReport>,
    /// Policy simulations by (principal, key id, action).
    pub simulations: BTreeMap<(PrincipalArn, String, String), PolicySimulation>,
    /// IAM roles and users by ARN.
    pub principals: BTreeMap<PrincipalArn, PrincipalReport>,
    /// Managed policies by ARN.
    pub managed_policies: BTreeMap<String, ManagedPolicyReport>,
    /// Key policies by key id (the part after `key/`).
    pub key_policies: BTreeMap<String, KeyPolicyReport>,
}

impl EvidenceSet {
    /// An empty set.
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds one item; a redelivered event is kept once.
    pub fn add(&mut self, item: Evidence) {
        match item {
            Evidence::StateChange(s) => {
                keep(&mut self.state_changes, s.event_id.clone(), s, smaller)
            }
            Evidence::StartCall(c) => keep(&mut self.start_calls, c.event_id.clone(), c, smaller),
            Evidence::KmsFailure(k) => keep(&mut self.kms_failures, k.event_id.clone(), k, smaller),
            Evidence::Instance(i) => keep(&mut self.instances, i.instance_id.clone(), i, smaller),
            Evidence::Volume(v) => keep(&mut self.volumes, v.volume_id.clone(), v, smaller),
            Evidence::Key(k) => keep(&mut self.keys, k.key.key_id().to_owned(), k, larger),
            Evidence::Simulation(s) => {
                let key = (
                    s.principal.clone(),
                    s.key.key_id().to_owned(),
                    s.action.clone(),
                );
                keep(&mut self.simulations, key, s, smaller);
            }
            Evidence::Principal(p) => keep(&mut self.principals, p.arn.clone(), p, smaller),
            Evidence::ManagedPolicy(m) => {
                keep(&mut self.managed_policies, m.arn.clone(), m, larger)
            }
            Evidence::KeyPolicy(k) => keep(
                &mut self.key_policies,
                k.key.key_id().to_owned(),
                k,
                smaller,
            ),
        }
    }

    /// Adds every item of `other`.
    pub fn merge(&mut self, other: EvidenceSet) {
        let EvidenceSet {
            state_changes,
            start_calls,
            kms_failures,
            instances,
            volumes,
            keys,
            simulations,
            principals,
            managed_policies,
            key_policies,
        } = other;
        state_changes
            .into_values()
            .map(Evidence::StateChange)
            .chain(start_calls.into_values().map(Evidence::StartCall))
            .chain(kms_failures.into_values().map(Evidence::KmsFailure))
            .chain(instances.into_values().map(Evidence::Instance))
            .chain(volumes.into_values().map(Evidence::Volume))
            .chain(keys.into_values().map(Evidence::Key))
            .chain(simulations.into_values().map(Evidence::Simulation))
            .chain(principals.into_values().map(Evidence::Principal))
            .chain(managed_policies.into_values().map(Evidence::ManagedPolicy))
            .chain(key_policies.into_values().map(Evidence::KeyPolicy))
            .for_each(|item| self.add(item));
    }

    /// The number of distinct items held.
    pub fn len(&self) -> usize {
        self.state_changes.len()
            + self.start_calls.len()
            + self.kms_failures.len()
            + self.instances.len()
            + self.volumes.len()
            + self.keys.len()
            + self.simulations.len()
            + self.principals.len()
            + self.managed_policies.len()
            + self.key_policies.len()
    }

    /// Whether nothing was kept.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

impl FromIterator<Evidence> for EvidenceSet {
    fn from_iter<T: IntoIterator<Item = Evidence>>(iter: T) -> Self {
        let mut set = Self::new();
        iter.into_iter().for_each(|item| set.add(item));
        set
    }
}

impl Extend<Evidence> for EvidenceSet {
    fn extend<T: IntoIterator<Item = Evidence>>(&mut self, iter: T) {
        iter.into_iter().for_each(|item| self.add(item));
    }
}
