//! What a preflight run re-checks, and how its failing checks are grouped.
//!
//! A scheduled run re-checks everything. A CloudTrail change event
//! (`PutKeyPolicy`, `DisableKey`, `ScheduleKeyDeletion` on a key; role
//! policy and boundary changes on a role; a new default version of a
//! managed policy) re-checks only the checks it can change: those of the
//! key named, of the role named, or of the principals the managed policy
//! is attached to (or bounds).

use std::collections::BTreeMap;

use serde_json::Value;

use super::check::{Check, Preflight, PreflightVerdict};
use crate::diagnosis::{Cause, Remediation};
use crate::evidence::EvidenceSet;
use crate::ids::{KeyArn, PrincipalArn};
use start_doctor_core::ids::{Account, InstanceId, Region};

/// The KMS calls that change whether a key may be used.
pub const KEY_CHANGES: [&str; 3] = ["PutKeyPolicy", "DisableKey", "ScheduleKeyDeletion"];
/// The IAM calls that change a role's identity policies or boundary.
pub const ROLE_CHANGES: [&str; 6] = [
    "PutRolePolicy",
    "DeleteRolePolicy",
    "AttachRolePolicy",
    "DetachRolePolicy",
    "PutRolePermissionsBoundary",
    "DeleteRolePermissionsBoundary",
];
/// The IAM calls that change the default version of a managed policy.
pub const POLICY_CHANGES: [&str; 2] = ["CreatePolicyVersion", "SetDefaultPolicyVersion"];

/// What one run re-checks.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Scope {
    /// Everything (a scheduled run).
    Everything,
    /// The checks of one key, by key id (the part after `key/`).
    Key(String),
    /// The checks of one role, by role name.
    Role(String),
    /// The checks of the principals a managed policy (by ARN) is attached
    /// to or bounds.
    ManagedPolicy(String),
}

/// Why an event names no scope.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum ScopeError {
    /// Neither a scheduled event nor a CloudTrail call preflight reacts to.
    #[error("event {event_id}: not a scheduled event nor a change preflight re-checks ({what})")]
    Unrelated {
        /// The EventBridge event id.
        event_id: String,
        /// Its detail-type and event name.
        what: String,
    },
    /// A change event without the request parameter naming what changed.
    #[error("event {event_id}: {event_name} without requestParameters.{parameter}")]
    MissingParameter {
        /// The EventBridge event id.
        event_id: String,
        /// The CloudTrail event name.
        event_name: String,
        /// The parameter looked for.
        parameter: &'static str,
    },
}

impl Scope {
    /// The scope of one EventBridge event.
    pub fn of_event(event: &Value) -> Result<Self, ScopeError> {
        let text = |v: &Value, k: &str| v.get(k).and_then(Value::as_str).map(str::to_owned);
        let event_id = text(event, "id").unwrap_or_else(|| "unknown".to_owned());
        let detail_type = text(event, "detail-type").unwrap_or_default();
        if detail_type == "Scheduled Event" {
            return Ok(Self::Everything);
        }
        let detail = event.get("detail").unwrap_or(&Value::Null);
        let event_name = text(detail, "eventName").unwrap_or_default();
        let failed = detail.get("errorCode").is_some_and(|c| !c.is_null());
        let parameters = detail.get("requestParameters").unwrap_or(&Value::Null);
        let parameter = |name: &'static str| {
            text(parameters, name)
                .filter(|v| !v.is_empty())
                .ok_or_else(|| ScopeError::MissingParameter {
                    event_id: event_id.clone(),
                    event_name: event_name.clone(),
                    parameter: name,
                })
        };
        if detail_type == "AWS API Call via CloudTrail" && !failed {
            if KEY_CHANGES.contains(&event_name.as_str()) {
                let key = parameter("keyId")?;
                let id = KeyArn::parse(&key).map_or(key.clone(), |k| k.key_id().to_owned());
                return Ok(Self::Key(id));
            }
            if ROLE_CHANGES.contains(&event_name.as_str()) {
                return parameter("roleName").map(Self::Role);
            }
            if POLICY_CHANGES.contains(&event_name.as_str()) {
                return parameter("policyArn").map(Self::ManagedPolicy);
            }
        }
        Err(ScopeError::Unrelated {
            event_id,
            what: format!("{detail_type:?} {event_name:?}"),
        })
    }

    /// Whether a group of `principal` on `key` is re-checked.
    pub fn covers(&self, principal: &PrincipalArn, key: &KeyArn, evidence: &EvidenceSet) -> bool {
        match self {
            Self::Everything => true,
            Self::Key(id) => key.key_id() == id,
            Self::Role(name) => {
                principal.kind() == crate::ids::PrincipalKind::Role && principal.name() == name
            }
            Self::ManagedPolicy(arn) => evidence.principals.get(principal).is_some_and(|p| {
                p.attached_policies.iter().any(|a| a == arn)
                    || p.permissions_boundary.as_deref() == Some(arn.as_str())
            }),
        }
    }
}

/// The key of a preflight group (one Slack message, one OpsItem):
/// (principal, first denied key, cause).
pub type GroupKey = (PrincipalArn, KeyArn, Cause);

/// The group of a failing check: the one home of preflight's group key.
/// `None` for a check that does not fail, or names no key.
pub fn group_key(check: &Check) -> Option<GroupKey> {
    match (check.verdict, check.cause, check.kms_key_arns.first()) {
        (PreflightVerdict::WillFail, Some(cause), Some(key)) => {
            Some((check.principal_arn.clone(), key.clone(), cause))
        }
        _ => None,
    }
}

/// The instances of one failing group, with the fix of its first check.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FailingGroup {
    /// The instances that will fail, sorted.
    pub instances: Vec<InstanceId>,
    /// The account and region of the first of them.
    pub place: (Option<Account>, Option<Region>),
    /// The fix, as a failed start would be diagnosed with.
    pub remediation: Option<Remediation>,
    /// Why, from the first check.
    pub reasons: Vec<String>,
}

/// The `will_fail` checks grouped by (principal, first denied key, cause).
pub fn failing_groups(report: &Preflight) -> BTreeMap<GroupKey, FailingGroup> {
    let mut groups: BTreeMap<GroupKey, FailingGroup> = BTreeMap::new();
    for check in &report.checks {
        let Some(key) = group_key(check) else {
            continue;
        };
        let group = groups.entry(key).or_insert_with(|| FailingGroup {
            instances: Vec::new(),
            place: (check.account.clone(), check.region.clone()),
            remediation: check.remediation.clone(),
            reasons: check.reasons.clone(),
        });
        group.instances.push(check.instance_id.clone());
    }
    for group in groups.values_mut() {
        group.instances.sort();
        group.instances.dedup();
    }
    groups
}

/// The instances of `principal` whose check says they will start.
pub fn passing_instances(report: &Preflight, principal: &PrincipalArn) -> Vec<InstanceId> {
    let mut out: Vec<InstanceId> = report
        .checks
        .iter()
        .filter(|c| &c.principal_arn == principal && c.verdict == PreflightVerdict::WillStart)
        .map(|c| c.instance_id.clone())
        .collect();
    out.sort();
    out.dedup();
    out
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn change(name: &str, parameters: Value) -> Value {
        json!({
            "id": "e-1",
            "detail-type": "AWS API Call via CloudTrail",
            "source": "aws.kms",
            "detail": { "eventName": name, "requestParameters": parameters }
        })
    }

    const KEY: &str = "arn:aws:kms:eu-west-1:111122223333:key/1234abcd-12ab-34cd-56ef-1234567890ab";

    #[test]
    fn a_schedule_rechecks_everything() {
        let event = json!({"id": "s", "detail-type": "Scheduled Event", "detail": {}});
        assert_eq!(Scope::of_event(&event), Ok(Scope::Everything));
    }

    #[test]
    fn a_key_change_rechecks_the_key_named_by_arn_or_id() {
        for name in KEY_CHANGES {
            let by_arn = change(name, json!({ "keyId": KEY }));
            let id = "1234abcd-12ab-34cd-56ef-1234567890ab";
            assert_eq!(
                Scope::of_event(&by_arn),
                Ok(Scope::Key(id.into())),
                "{name}"
            );
            let by_id = change(name, json!({ "keyId": id }));
            assert_eq!(Scope::of_event(&by_id), Ok(Scope::Key(id.into())), "{name}");
        }
    }

    #[test]
    fn a_role_change_rechecks_the_role_and_a_policy_version_its_holders() {
        for name in ROLE_CHANGES {
            let event = change(name, json!({ "roleName": "scheduler" }));
            assert_eq!(Scope::of_event(&event), Ok(Scope::Role("scheduler".into())));
        }
        let arn = "arn:aws:iam::111122223333:policy/start";
        for name in POLICY_CHANGES {
            let event = change(name, json!({ "policyArn": arn }));
            assert_eq!(
                Scope::of_event(&event),
                Ok(Scope::ManagedPolicy(arn.into()))
            );
        }
    }

    #[test]
    fn failed_unrelated_and_incomplete_events_name_no_scope() {
        let mut failed = change("PutKeyPolicy", json!({ "keyId": KEY }));
        failed["detail"]["errorCode"] = json!("AccessDenied");
        assert!(matches!(
            Scope::of_event(&failed),
            Err(ScopeError::Unrelated { .. })
        ));
        let other = change("CreateKey", json!({}));
        assert!(matches!(
            Scope::of_event(&other),
            Err(ScopeError::Unrelated { .. })
        ));
        let incomplete = change("PutRolePolicy", json!({}));
        assert!(matches!(
            Scope::of_event(&incomplete),
            Err(ScopeError::MissingParameter {
                parameter: "roleName",
                ..
            })
        ));
    }

    #[test]
    fn scopes_cover_their_groups_only() {
        let key = KeyArn::parse(KEY).unwrap();
        let role = PrincipalArn::parse("arn:aws:iam::111122223333:role/ops/scheduler").unwrap();
        let evidence = EvidenceSet::new();
        assert!(Scope::Everything.covers(&role, &key, &evidence));
        assert!(Scope::Key(key.key_id().into()).covers(&role, &key, &evidence));
        assert!(!Scope::Key("other".into()).covers(&role, &key, &evidence));
        assert!(Scope::Role("scheduler".into()).covers(&role, &key, &evidence));
        assert!(!Scope::Role("ops".into()).covers(&role, &key, &evidence));
        assert!(
            !Scope::ManagedPolicy("arn:aws:iam::111122223333:policy/p".into())
                .covers(&role, &key, &evidence)
        );
    }
}
