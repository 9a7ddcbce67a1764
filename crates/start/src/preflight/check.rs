//! The preflight check: for each (instance, principal that starts it), the
//! instance's volumes, their keys, each key's state and policy and the
//! principal's policies, evaluated as KMS evaluates the `CreateGrant` EC2
//! makes to attach each encrypted volume.
//!
//! Policies are parsed once per principal and once per key, so the cost
//! grows with principals and keys, not with instances.

use std::collections::{BTreeMap, BTreeSet};

use serde::{Deserialize, Serialize};

use super::policy::{
    evaluate_create_grant, Boundary, CreateGrantReport, DenyReason, Inputs, KeyState, Policy,
    PolicyKind, Request, StatementRef, Verdict,
};
use crate::diagnosis::{Cause, Remediation};
use crate::evidence::{self, EvidenceSet, InstanceReport};
use crate::ids::{KeyArn, PrincipalArn};
use crate::remedy::{self, FixContext};
use start_doctor_core::ids::{partition_of_region, Account, InstanceId, Region, VolumeId};

/// Where the principal of a check came from.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PrincipalSource {
    /// `--principal ARN` on the command line.
    Argument,
    /// A `StartInstances` / `RunInstances` call in the CloudTrail input.
    Cloudtrail,
    /// The instance is in an Auto Scaling group, which launches through its
    /// service-linked role.
    Autoscaling,
}

/// The answer of one check.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PreflightVerdict {
    /// Every encrypted volume's key may be used: the start will get past KMS.
    WillStart,
    /// A key will refuse the grant (or cannot be used): the start will fail.
    WillFail,
    /// The input does not say; `reasons` lists what is missing.
    Unknown,
}

/// One (instance, principal) check, as pinned by `schema/preflight.schema.json`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Check {
    /// The instance.
    pub instance_id: InstanceId,
    /// Its `Name` tag, when known.
    pub instance_name: Option<String>,
    /// Its account.
    pub account: Option<Account>,
    /// Its region.
    pub region: Option<Region>,
    /// The role or user (with its path) that would start or launch it.
    pub principal_arn: PrincipalArn,
    /// Where that principal came from.
    pub principal_source: PrincipalSource,
    /// The answer.
    pub verdict: PreflightVerdict,
    /// For `will_fail`: the cause the failed start would be diagnosed with.
    pub cause: Option<Cause>,
    /// For `will_fail`: the keys that would be denied; else the keys checked.
    pub kms_key_arns: Vec<KeyArn>,
    /// The volumes on those keys.
    pub volume_ids: Vec<VolumeId>,
    /// Why: the deciding statements, or what is missing.
    pub reasons: Vec<String>,
    /// For `will_fail`: the fix, shaped as a diagnosis remediation.
    pub remediation: Option<Remediation>,
}

/// The preflight report: `{"checks": [...], "not_evaluated": [...]}`.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct Preflight {
    /// One check per (instance, principal), sorted by instance id, then
    /// principal ARN.
    pub checks: Vec<Check>,
    /// Policy kinds the input cannot give (service and resource control
    /// policies, session policies), so not evaluated.
    pub not_evaluated: Vec<String>,
    /// Instances found in the input that no known principal starts (pass
    /// `--principal` to check them).
    #[serde(skip)]
    pub without_principal: Vec<InstanceId>,
}

/// The Auto Scaling service-linked role of `account` in `partition`.
pub fn autoscaling_role(partition: &str, account: &str) -> Option<PrincipalArn> {
    PrincipalArn::parse(&format!(
        "arn:{partition}:iam::{account}:role/aws-service-role/autoscaling.amazonaws.com/AWSServiceRoleForAutoScaling"
    ))
}

/// The role or user ARN as the authorization details know it (with its
/// path): an ARN from an STS session (no path) or typed without its path
/// is matched by account, kind and name.
pub fn resolve_principal(arn: &PrincipalArn, evidence: &EvidenceSet) -> PrincipalArn {
    if evidence.principals.contains_key(arn) {
        return arn.clone();
    }
    evidence
        .principals
        .keys()
        .find(|known| {
            known.kind() == arn.kind()
                && known.name() == arn.name()
                && known.account() == arn.account()
        })
        .cloned()
        .unwrap_or_else(|| arn.clone())
}

/// A principal's policies, parsed once.
struct PrincipalInputs {
    identity: Option<Vec<Policy>>,
    boundary: Boundary,
    tags: Vec<(String, String)>,
    missing: Vec<String>,
}

fn parse_named(text: &str, name: &str) -> Result<Policy, String> {
    Policy::from_json_str(text)
        .map(|p| p.named(name))
        .map_err(|e| format!("policy {name:?} does not parse: {e}"))
}

fn principal_inputs(arn: &PrincipalArn, evidence: &EvidenceSet) -> PrincipalInputs {
    let Some(report) = evidence.principals.get(arn) else {
        return PrincipalInputs {
            identity: None,
            boundary: Boundary::Unknown,
            tags: Vec::new(),
            missing: vec![format!(
                "{arn} is not in the authorization details (aws iam get-account-authorization-details)"
            )],
        };
    };
    let mut missing = Vec::new();
    let managed = |policy_arn: &str| -> Result<Policy, String> {
        let m = evidence
            .managed_policies
            .get(policy_arn)
            .ok_or_else(|| format!("managed policy {policy_arn} of {arn} is not in Policies of the authorization details"))?;
        let text = m.document.as_deref().ok_or_else(|| {
            format!("managed policy {policy_arn} has no default version document")
        })?;
        parse_named(text, &m.name)
    };
    let mut identity = Vec::new();
    let mut complete = true;
    for (name, text) in &report.inline_policies {
        match parse_named(text, name) {
            Ok(p) => identity.push(p),
            Err(e) => {
                missing.push(format!("{arn}: {e}"));
                complete = false;
            }
        }
    }
    for policy_arn in &report.attached_policies {
        match managed(policy_arn) {
            Ok(p) => identity.push(p),
            Err(e) => {
                missing.push(e);
                complete = false;
            }
        }
    }
    let boundary = match report.permissions_boundary.as_deref() {
        None => Boundary::NoBoundary,
        Some(policy_arn) => match managed(policy_arn) {
            Ok(p) => {
                let name = p.name.clone().unwrap_or_default();
                Boundary::Attached(p.named(format!("permissions boundary {name}")))
            }
            Err(e) => {
                missing.push(e);
                Boundary::Unknown
            }
        },
    };
    PrincipalInputs {
        identity: complete.then_some(identity),
        boundary,
        tags: report.tags.clone(),
        missing,
    }
}

/// A key's state and policy, parsed once.
struct KeyInputs {
    /// `Some(false)` for an AWS managed key, `None` when not described.
    customer_managed: Option<bool>,
    state: KeyState,
    policy: Option<Policy>,
    missing: Vec<String>,
}

fn key_state(state: &evidence::KeyState) -> KeyState {
    match state {
        evidence::KeyState::Enabled => KeyState::Enabled,
        evidence::KeyState::Disabled => KeyState::Disabled,
        evidence::KeyState::PendingDeletion => KeyState::PendingDeletion,
        evidence::KeyState::PendingImport => KeyState::PendingImport,
        evidence::KeyState::Unavailable => KeyState::Unavailable,
        evidence::KeyState::Other(other) => match other.as_str() {
            "Creating" => KeyState::Creating,
            "Updating" => KeyState::Updating,
            _ => KeyState::Unknown,
        },
    }
}

fn key_inputs(key: &KeyArn, evidence: &EvidenceSet) -> KeyInputs {
    let report = evidence.keys.get(key.key_id());
    let mut missing = Vec::new();
    if report.is_none() {
        missing.push(format!("key state of {key} (aws kms describe-key)"));
    }
    let policy = match evidence.key_policies.get(key.key_id()) {
        None => {
            missing.push(format!(
                "key policy of {key} (aws kms get-key-policy, as {{\"KeyArn\": ..., \"Policy\": ...}})"
            ));
            None
        }
        Some(kp) => match parse_named(&kp.document, "key policy") {
            Ok(p) => Some(p),
            Err(e) => {
                missing.push(format!("{key}: {e}"));
                None
            }
        },
    };
    KeyInputs {
        customer_managed: report.map(|r| r.customer_managed),
        state: report.map_or(KeyState::Unknown, |r| key_state(&r.state)),
        policy,
        missing,
    }
}

/// What one key says for one (instance, principal).
enum KeyOutcome {
    Allowed(Vec<String>),
    Denied {
        reason: DenyReason,
        reasons: Vec<String>,
    },
    Unknown(Vec<String>),
}

fn statements(refs: &[StatementRef]) -> String {
    refs.iter()
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join(", ")
}

fn deny_sentence(reason: DenyReason, principal: &PrincipalArn) -> String {
    match reason {
        DenyReason::KeyDisabled => "the key is disabled".to_owned(),
        DenyReason::KeyPendingDeletion => "the key is pending deletion".to_owned(),
        DenyReason::KeyPendingImport => "the key is pending import (no key material)".to_owned(),
        DenyReason::KeyUnavailable => {
            "the key is unavailable (custom key store disconnected, or still being created)"
                .to_owned()
        }
        DenyReason::KeyNotFound => "the key does not exist".to_owned(),
        DenyReason::ExplicitDeny { kind } => {
            format!("an explicit deny in the {} applies", policy_kind_name(kind))
        }
        DenyReason::KeyPolicyMissing => format!(
            "the key policy neither allows {principal} kms:CreateGrant nor lets IAM policies allow it"
        ),
        DenyReason::IdentityPolicyMissing => format!(
            "the key policy leaves it to IAM policies, and no identity-based policy of {principal} allows kms:CreateGrant on the key"
        ),
        DenyReason::PermissionsBoundaryMissing => format!(
            "the permissions boundary of {principal} does not allow kms:CreateGrant on the key"
        ),
        DenyReason::ServiceControlPolicyMissing => {
            "no service control policy allows kms:CreateGrant".to_owned()
        }
        DenyReason::ResourceControlPolicyMissing => {
            "no resource control policy allows kms:CreateGrant".to_owned()
        }
    }
}

fn policy_kind_name(kind: PolicyKind) -> &'static str {
    match kind {
        PolicyKind::Identity => "identity-based policy",
        PolicyKind::Resource => "key policy",
        PolicyKind::Boundary => "permissions boundary",
        PolicyKind::Scp => "service control policy",
        PolicyKind::Rcp => "resource control policy",
    }
}

fn cause_of(reason: DenyReason) -> Cause {
    match reason {
        DenyReason::KeyDisabled => Cause::KmsKeyDisabled,
        DenyReason::KeyPendingDeletion => Cause::KmsKeyPendingDeletion,
        DenyReason::KeyPendingImport => Cause::KmsKeyPendingImport,
        DenyReason::KeyUnavailable => Cause::KmsKeyUnavailable,
        DenyReason::KeyNotFound => Cause::KmsKeyNotFound,
        DenyReason::ExplicitDeny { .. } => Cause::KmsExplicitDeny,
        DenyReason::KeyPolicyMissing => Cause::KmsKeyPolicyMissing,
        DenyReason::IdentityPolicyMissing => Cause::KmsIdentityPolicyMissing,
        DenyReason::PermissionsBoundaryMissing => Cause::KmsPermissionsBoundaryMissing,
        DenyReason::ServiceControlPolicyMissing | DenyReason::ResourceControlPolicyMissing => {
            Cause::KmsAccessDenied
        }
    }
}

/// Evaluates one key for one principal over the instance's volumes on it;
/// the worst volume decides (they differ only through encryption-context
/// conditions).
fn evaluate_key(
    key: &KeyArn,
    volumes: &[VolumeId],
    principal: &PrincipalArn,
    region: &str,
    who: &PrincipalInputs,
    what: &KeyInputs,
    not_evaluated: &mut Vec<String>,
) -> KeyOutcome {
    if what.customer_managed == Some(false) {
        return KeyOutcome::Allowed(vec![format!(
            "{key} is an AWS managed key: every principal of the account may use it through EC2"
        )]);
    }
    let inputs = Inputs {
        key_state: what.state,
        key_policy: what.policy.clone(),
        identity_policies: who.identity.clone(),
        permissions_boundary: who.boundary.clone(),
        scps: None,
        rcps: None,
    };
    let mut worst: Option<(u8, CreateGrantReport)> = None;
    for volume in volumes {
        let tags = who.tags.iter().map(|(k, v)| (k.as_str(), v.as_str()));
        let report = match Request::ec2_create_grant(
            principal.as_str(),
            tags,
            key.as_str(),
            region,
            volume.as_str(),
        ) {
            Ok(request) => evaluate_create_grant(&inputs, &request),
            Err(e) => return KeyOutcome::Unknown(vec![format!("{key}: {e}")]),
        };
        let rank = match report.verdict {
            Verdict::Denied { .. } => 2,
            Verdict::Unknown { .. } => 1,
            Verdict::Allowed { .. } => 0,
        };
        if worst.as_ref().is_none_or(|(r, _)| rank > *r) {
            worst = Some((rank, report));
        }
    }
    let Some((_, report)) = worst else {
        return KeyOutcome::Allowed(Vec::new());
    };
    for kind in report.not_evaluated {
        if !not_evaluated.contains(&kind) {
            not_evaluated.push(kind);
        }
    }
    match report.verdict {
        Verdict::Allowed { deciding } => {
            KeyOutcome::Allowed(vec![format!("{key}: allowed by {}", statements(&deciding))])
        }
        Verdict::Denied { reason, deciding } => {
            let mut reasons = vec![format!("{key}: {}", deny_sentence(reason, principal))];
            if !deciding.is_empty() {
                reasons.push(format!(
                    "{key}: deciding statements: {}",
                    statements(&deciding)
                ));
            }
            KeyOutcome::Denied { reason, reasons }
        }
        Verdict::Unknown { missing } => {
            let mut reasons: Vec<String> =
                who.missing.iter().chain(&what.missing).cloned().collect();
            if reasons.is_empty() {
                reasons.extend(missing.into_iter().map(|m| format!("{key}: {m}")));
            }
            KeyOutcome::Unknown(reasons)
        }
    }
}

/// The fix for a start that will fail, shaped as a diagnosis remediation.
struct FailedStart<'a> {
    cause: Cause,
    deny: Option<DenyReason>,
    instance_id: &'a InstanceId,
    principal: &'a PrincipalArn,
    source: PrincipalSource,
    autoscaling_group: Option<&'a str>,
    key: &'a KeyArn,
    region: Option<&'a str>,
    volume_ids: &'a [VolumeId],
}

fn remediation(failed: &FailedStart) -> Remediation {
    let deny_source = match failed.deny {
        Some(DenyReason::ExplicitDeny { kind }) => Some(policy_kind_name(kind).to_owned()),
        _ => None,
    };
    let keys = std::slice::from_ref(failed.key);
    // The remedy knows where each principal's fix goes: the key policy for
    // a service-linked role, the permission set for an Identity Center role.
    let context = FixContext {
        instance_id: failed.instance_id,
        principal: Some(failed.principal),
        keys,
        region: failed.region,
        denied_action: Some("kms:CreateGrant"),
        deny_source,
        denial_clause: None,
        state_reason_message: None,
        volume_ids: failed.volume_ids,
        launched: false,
    };
    let mut fix = remedy::remediation(failed.cause, &context);
    // Nothing has failed yet: the start at the window is the retry, so the
    // diagnosis's "start the instance again" step does not belong here.
    fix.steps
        .retain(|s| !s.starts_with("Start the instance again"));
    if failed.source == PrincipalSource::Autoscaling {
        fix.steps.push(format!(
            "Auto Scaling group {} can then launch instances with this key.",
            failed.autoscaling_group.unwrap_or("<group>")
        ));
    }
    fix
}

/// Who starts which instance: `--principal` for every instance, the start
/// calls of the CloudTrail input, and the Auto Scaling service-linked role
/// for instances of an Auto Scaling group. The strongest source is kept.
fn principals(
    evidence: &EvidenceSet,
    arguments: &[PrincipalArn],
    instances: &BTreeSet<InstanceId>,
) -> BTreeMap<InstanceId, BTreeMap<PrincipalArn, PrincipalSource>> {
    let mut out: BTreeMap<InstanceId, BTreeMap<PrincipalArn, PrincipalSource>> = BTreeMap::new();
    let mut add = |instance: &InstanceId, principal: PrincipalArn, source: PrincipalSource| {
        let entry = out
            .entry(instance.clone())
            .or_default()
            .entry(resolve_principal(&principal, evidence))
            .or_insert(source);
        *entry = (*entry).min(source);
    };
    for instance in instances {
        for principal in arguments {
            add(instance, principal.clone(), PrincipalSource::Argument);
        }
    }
    for call in evidence.start_calls.values() {
        if let Some(principal) = &call.principal {
            for instance in &call.instance_ids {
                add(instance, principal.clone(), PrincipalSource::Cloudtrail);
            }
        }
    }
    for report in evidence.instances.values() {
        if report.autoscaling_group.is_none() {
            continue;
        }
        let region = report.origin.region.as_deref().unwrap_or_default();
        let role = report
            .origin
            .account
            .as_deref()
            .and_then(|account| autoscaling_role(partition_of_region(region), account));
        if let Some(role) = role {
            add(&report.instance_id, role, PrincipalSource::Autoscaling);
        }
    }
    out
}

/// Runs the preflight over everything read: one check per (instance,
/// principal), for principals given as `arguments` (normalised to the role
/// or user with its path when the authorization details know it) and
/// those found in the evidence.
pub fn preflight(evidence: &EvidenceSet, arguments: &[PrincipalArn]) -> Preflight {
    let mut volumes_of: BTreeMap<&InstanceId, BTreeSet<&VolumeId>> = BTreeMap::new();
    for (id, report) in &evidence.instances {
        volumes_of.entry(id).or_default().extend(&report.volume_ids);
    }
    for volume in evidence.volumes.values() {
        for instance in &volume.attached_to {
            volumes_of
                .entry(instance)
                .or_default()
                .insert(&volume.volume_id);
        }
    }
    // Instances from describe-instances, from the volumes' attachments and
    // from the start calls.
    let mut instances: BTreeSet<InstanceId> = volumes_of.keys().map(|i| (*i).clone()).collect();
    instances.extend(
        evidence
            .start_calls
            .values()
            .flat_map(|c| c.instance_ids.clone()),
    );
    let who_starts = principals(evidence, arguments, &instances);

    let mut principal_cache: BTreeMap<PrincipalArn, PrincipalInputs> = BTreeMap::new();
    let mut key_cache: BTreeMap<KeyArn, KeyInputs> = BTreeMap::new();
    let mut report = Preflight::default();
    for instance_id in &instances {
        let Some(starters) = who_starts.get(instance_id) else {
            report.without_principal.push(instance_id.clone());
            continue;
        };
        let instance = evidence.instances.get(instance_id);
        let volumes: Vec<VolumeId> = volumes_of
            .get(instance_id)
            .map(|v| v.iter().map(|v| (*v).clone()).collect())
            .unwrap_or_default();
        for (principal, source) in starters {
            let who = principal_cache
                .entry(principal.clone())
                .or_insert_with(|| principal_inputs(principal, evidence));
            let check = check_instance(
                instance_id,
                instance,
                &volumes,
                principal,
                *source,
                who,
                evidence,
                &mut key_cache,
                &mut report.not_evaluated,
            );
            report.checks.push(check);
        }
    }
    if !report.checks.is_empty() {
        report.not_evaluated.push("session policies".to_owned());
    }
    report
}

#[allow(clippy::too_many_arguments)]
fn check_instance(
    instance_id: &InstanceId,
    instance: Option<&InstanceReport>,
    volumes: &[VolumeId],
    principal: &PrincipalArn,
    source: PrincipalSource,
    who: &PrincipalInputs,
    evidence: &EvidenceSet,
    key_cache: &mut BTreeMap<KeyArn, KeyInputs>,
    not_evaluated: &mut Vec<String>,
) -> Check {
    let region = instance.and_then(|i| i.origin.region.clone());
    let mut check = Check {
        instance_id: instance_id.clone(),
        instance_name: instance.and_then(|i| i.name.clone()),
        account: instance.and_then(|i| i.origin.account.clone()),
        region: region.clone(),
        principal_arn: principal.clone(),
        principal_source: source,
        verdict: PreflightVerdict::WillStart,
        cause: None,
        kms_key_arns: Vec::new(),
        volume_ids: volumes.to_vec(),
        reasons: Vec::new(),
        remediation: None,
    };
    if volumes.is_empty() {
        if instance.is_some() {
            check.reasons.push("no EBS volumes".to_owned());
        } else {
            check.verdict = PreflightVerdict::Unknown;
            check.reasons.push(format!(
                "the volumes of {instance_id} (aws ec2 describe-instances / describe-volumes)"
            ));
        }
        return check;
    }
    let mut missing = Vec::new();
    let mut allowed = Vec::new();
    let mut by_key: BTreeMap<KeyArn, Vec<VolumeId>> = BTreeMap::new();
    for volume in volumes {
        match evidence.volumes.get(volume) {
            None => missing.push(format!("the key of {volume} (aws ec2 describe-volumes)")),
            Some(v) => match &v.key {
                None => allowed.push(format!("{volume} is not encrypted with a KMS key")),
                Some(key) => by_key.entry(key.clone()).or_default().push(volume.clone()),
            },
        }
    }
    let mut denied: Vec<(KeyArn, DenyReason, Vec<VolumeId>, Vec<String>)> = Vec::new();
    for (key, key_volumes) in &by_key {
        let what = key_cache
            .entry(key.clone())
            .or_insert_with(|| key_inputs(key, evidence));
        let key_region = region.as_deref().unwrap_or_else(|| key.region());
        match evaluate_key(
            key,
            key_volumes,
            principal,
            key_region,
            who,
            what,
            not_evaluated,
        ) {
            KeyOutcome::Allowed(reasons) => allowed.extend(reasons),
            KeyOutcome::Denied { reason, reasons } => {
                denied.push((key.clone(), reason, key_volumes.clone(), reasons))
            }
            KeyOutcome::Unknown(reasons) => missing.extend(reasons),
        }
    }
    if let Some((first_key, first_reason, _, _)) = denied.first() {
        let cause = cause_of(*first_reason);
        check.verdict = PreflightVerdict::WillFail;
        check.kms_key_arns = denied.iter().map(|(k, ..)| k.clone()).collect();
        check.volume_ids = denied.iter().flat_map(|(_, _, v, _)| v.clone()).collect();
        check.volume_ids.sort();
        check.reasons = denied.iter().flat_map(|(.., r)| r.clone()).collect();
        check.remediation = Some(remediation(&FailedStart {
            cause,
            deny: Some(*first_reason),
            instance_id,
            principal,
            source,
            autoscaling_group: instance.and_then(|i| i.autoscaling_group.as_deref()),
            key: first_key,
            region: region.as_deref(),
            volume_ids: &check.volume_ids,
        }));
        check.cause = Some(cause);
    } else {
        check.kms_key_arns = by_key.keys().cloned().collect();
        if missing.is_empty() {
            check.reasons = allowed;
        } else {
            check.verdict = PreflightVerdict::Unknown;
            let mut seen = BTreeSet::new();
            missing.retain(|m| seen.insert(m.clone()));
            check.reasons = missing;
        }
    }
    check
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_deny_reason_maps_to_a_contract_cause() {
        let reasons = [
            (DenyReason::KeyPendingImport, "kms_key_pending_import"),
            (DenyReason::KeyUnavailable, "kms_key_unavailable"),
            (
                DenyReason::PermissionsBoundaryMissing,
                "kms_permissions_boundary_missing",
            ),
            (
                DenyReason::ExplicitDeny {
                    kind: PolicyKind::Boundary,
                },
                "kms_explicit_deny",
            ),
            (DenyReason::KeyPolicyMissing, "kms_key_policy_missing"),
            (
                DenyReason::IdentityPolicyMissing,
                "kms_identity_policy_missing",
            ),
        ];
        for (reason, name) in reasons {
            assert_eq!(cause_of(reason).as_str(), name, "{reason:?}");
        }
    }
}
