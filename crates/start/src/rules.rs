//! The cause rules: a pure function from the evidence of one failed start
//! to its diagnosis.
//!
//! EC2's own `StateReason` wins when it names a specific, non-KMS cause
//! (capacity, volume limit, snapshot). Otherwise the strongest tied KMS
//! failure decides; failing that, a key that describe-key shows disabled or
//! pending deletion; failing that, `internal_error_unexplained`: without
//! KMS evidence start-doctor does not guess.

use crate::correlate::{self, Case};
use crate::diagnosis::{Cause, Diagnosis, KmsError};
use crate::evidence::{
    EvidenceSet, KeyPolicyFacts, KeyReport, KeyState, KmsFailure, SimulatedDecision,
};
use crate::ids::{KeyArn, PrincipalArn};
use crate::remedy::{self, FixContext};
use crate::state_reason;
use start_doctor_core::ids::{Region, VolumeId};

/// Diagnoses every failed start in `set`, one per instance, ordered by
/// instance id.
pub fn diagnose(set: &EvidenceSet) -> Vec<Diagnosis> {
    correlate::cases(set).iter().map(diagnose_case).collect()
}

/// What a KMS error code and message say about the cause. The code alone
/// does not tell key states apart (`DisabledException` also answers for a
/// key pending deletion), so the message decides.
pub fn classify_kms_error(code: &str, message: &str) -> Cause {
    let lower = message.to_ascii_lowercase();
    match code {
        "AccessDenied" | "AccessDeniedException" => denial_cause(&lower),
        "DisabledException"
        | "KMSInvalidStateException"
        | "KMSInvalidStateFault"
        | "KeyUnavailableException" => {
            if lower.contains("pending deletion") {
                Cause::KmsKeyPendingDeletion
            } else if lower.contains("pending import") {
                Cause::KmsKeyPendingImport
            } else if lower.contains("unavailable") || code == "KeyUnavailableException" {
                Cause::KmsKeyUnavailable
            } else {
                Cause::KmsKeyDisabled
            }
        }
        "NotFoundException" => Cause::KmsKeyNotFound,
        _ => Cause::InternalErrorUnexplained,
    }
}

/// The cause an `AccessDenied` message names by its reason clause (IAM
/// User Guide, "Troubleshoot access denied error messages"); any other
/// clause, or none, is `kms_access_denied`.
fn denial_cause(lower: &str) -> Cause {
    if lower.contains("explicit deny") {
        Cause::KmsExplicitDeny
    } else if lower.contains("no identity-based policy allows") {
        Cause::KmsIdentityPolicyMissing
    } else if lower.contains("no resource-based policy allows") {
        Cause::KmsKeyPolicyMissing
    } else if lower.contains("no permissions boundary allows") {
        Cause::KmsPermissionsBoundaryMissing
    } else if lower.contains("no session policy allows") {
        Cause::KmsSessionPolicyMissing
    } else {
        Cause::KmsAccessDenied
    }
}

/// The reason clause of a denial (`because no VPC endpoint policy allows
/// the kms:CreateGrant action`), when the message has one.
pub fn denial_clause(message: &str) -> Option<String> {
    let lower = message.to_ascii_lowercase();
    let at = lower
        .find(" because ")
        .or_else(|| lower.find(" with an explicit deny"))?;
    let clause = message.get(at + 1..)?.trim().trim_end_matches('.');
    (!clause.is_empty()).then(|| clause.to_owned())
}

/// The cause and, for KMS causes, the failures and keys it rests on.
struct Finding<'e> {
    cause: Cause,
    /// The first failure of the cause (the one its summary quotes).
    failure: Option<&'e KmsFailure>,
    /// Every key whose use failed in the attempt, the first first.
    keys: Vec<KeyArn>,
}

/// The cause a key's state names, when it makes the key unusable.
fn cause_of_key_state(state: &KeyState) -> Option<Cause> {
    match state {
        KeyState::Disabled => Some(Cause::KmsKeyDisabled),
        KeyState::PendingDeletion => Some(Cause::KmsKeyPendingDeletion),
        KeyState::PendingImport => Some(Cause::KmsKeyPendingImport),
        KeyState::Unavailable => Some(Cause::KmsKeyUnavailable),
        _ => None,
    }
}

fn find_cause<'e>(case: &Case<'e>) -> Finding<'e> {
    let reason = case.report.and_then(|r| r.state_reason_code.as_deref());
    if let Some(cause) = reason.and_then(state_reason::cause_of) {
        return Finding {
            cause,
            failure: None,
            keys: Vec::new(),
        };
    }
    let mut known: Vec<(&KmsFailure, Cause)> = case
        .kms_failures
        .iter()
        .map(|l| {
            let cause = classify_kms_error(&l.failure.error_code, &l.failure.error_message);
            (
                l.failure,
                refine_with_key_state(cause, l.failure.key.as_ref(), case),
            )
        })
        .filter(|(_, cause)| *cause != Cause::InternalErrorUnexplained)
        .collect();
    known.sort_by(|a, b| (a.0.time, &a.0.event_id).cmp(&(b.0.time, &b.0.event_id)));
    if let Some(&(failure, cause)) = known.first() {
        let mut keys: Vec<KeyArn> = Vec::new();
        for key in known.iter().filter_map(|(f, _)| f.key.as_ref()) {
            if !keys.iter().any(|k| k.key_id() == key.key_id()) {
                keys.push(key.clone());
            }
        }
        return Finding {
            cause,
            failure: Some(failure),
            keys,
        };
    }
    let unusable: Vec<(Cause, &KeyReport)> = case
        .keys
        .iter()
        .filter_map(|k| cause_of_key_state(&k.state).map(|c| (c, *k)))
        .collect();
    if let Some(&(cause, _)) = unusable.first() {
        return Finding {
            cause,
            failure: None,
            keys: unusable
                .iter()
                .filter(|(c, _)| *c == cause)
                .map(|(_, k)| k.key.clone())
                .collect(),
        };
    }
    match cause_from_policies(case) {
        Some((cause, key)) => Finding {
            cause,
            failure: None,
            keys: vec![key],
        },
        None => Finding {
            cause: Cause::InternalErrorUnexplained,
            failure: None,
            keys: Vec::new(),
        },
    }
}

/// Live-check evidence, when CloudTrail has nothing: for each customer
/// managed key on the instance's volumes, an explicit deny in the
/// principal's policies, then a key policy that neither lets IAM policies
/// grant access nor names the principal, then identity policies that do not
/// allow `kms:CreateGrant`.
fn cause_from_policies(case: &Case) -> Option<(Cause, KeyArn)> {
    let principal = case.start_call.and_then(|c| c.principal.as_ref())?;
    let on_volumes: Vec<&str> = case
        .volumes
        .values()
        .flatten()
        .map(KeyArn::key_id)
        .collect();
    let mut keys = case
        .keys
        .iter()
        .filter(|k| k.customer_managed && on_volumes.contains(&k.key.key_id()));
    let decision = |key: &KeyArn| {
        case.simulations
            .iter()
            .find(|s| s.key.key_id() == key.key_id() && s.action == "kms:CreateGrant")
            .map(|s| s.decision)
    };
    keys.find_map(|report| {
        let key = &report.key;
        let policy = report.policy.as_ref();
        let named = |p: &KeyPolicyFacts| {
            p.grant_principals
                .iter()
                .any(|g| g == principal.as_str() || g == "*")
        };
        let cause = match (decision(key), policy) {
            // The simulator evaluated the identity policies: a deny there is proven.
            (Some(SimulatedDecision::ExplicitDeny), _) => Cause::KmsExplicitDeny,
            // The key policy neither delegates to IAM nor names the principal.
            (_, Some(p)) if !p.uncertain && !p.allows_iam_policies && !named(p) => {
                Cause::KmsKeyPolicyMissing
            }
            // Delegated to IAM, and IAM allows nothing.
            (Some(SimulatedDecision::ImplicitDeny), Some(p))
                if !p.uncertain && p.allows_iam_policies && !named(p) =>
            {
                Cause::KmsIdentityPolicyMissing
            }
            // Denied by IAM, but a key-policy statement with conditions
            // might allow it: which policy is missing is not proven.
            (Some(SimulatedDecision::ImplicitDeny), Some(p)) if p.uncertain && !named(p) => {
                Cause::KmsAccessDenied
            }
            _ => return None,
        };
        Some((cause, key.clone()))
    })
}

/// An invalid-state error whose message names no state is made precise by
/// describe-key when we have it.
fn refine_with_key_state(cause: Cause, key: Option<&KeyArn>, case: &Case) -> Cause {
    if cause != Cause::KmsKeyDisabled {
        return cause;
    }
    let state = key.and_then(|key| case.keys.iter().find(|k| k.key.key_id() == key.key_id()));
    state
        .and_then(|k| cause_of_key_state(&k.state))
        .unwrap_or(cause)
}

/// The instance's volumes on `keys` (compared by key id, since a volume may
/// name its key by ARN and a KMS record by id).
fn volumes_on_keys(case: &Case, keys: &[KeyArn]) -> Vec<VolumeId> {
    let on = |k: &KeyArn| keys.iter().any(|key| key.key_id() == k.key_id());
    let mut ids: Vec<VolumeId> = case
        .volumes
        .iter()
        .filter(|(_, k)| k.as_ref().is_some_and(on))
        .map(|(v, _)| v.clone())
        .collect();
    if !keys.is_empty() {
        ids.extend(
            case.kms_failures
                .iter()
                .filter(|l| l.failure.key.as_ref().is_none_or(on))
                .filter_map(|l| l.failure.volume_id.clone()),
        );
    }
    ids.sort();
    ids.dedup();
    ids
}

fn principal(case: &Case, failure: Option<&KmsFailure>) -> Option<PrincipalArn> {
    case.start_call
        .and_then(|c| c.principal.clone())
        .or_else(|| failure.and_then(|f| f.principal.clone()))
        .or_else(|| {
            case.kms_failures
                .iter()
                .find_map(|l| l.failure.principal.clone())
        })
}

/// Diagnoses one case.
pub fn diagnose_case(case: &Case) -> Diagnosis {
    let finding = find_cause(case);
    let principal_arn = principal(case, finding.failure);
    let volume_ids = volumes_on_keys(case, &finding.keys);

    let mut evidence: Vec<(chrono::DateTime<chrono::Utc>, &str)> = case
        .transitions
        .iter()
        .map(|t| (t.time, t.event_id.as_str()))
        .chain(case.start_call.map(|c| (c.time, c.event_id.as_str())))
        .chain(
            case.kms_failures
                .iter()
                .map(|l| (l.failure.time, l.failure.event_id.as_str())),
        )
        .collect();
    evidence.sort();
    evidence.dedup_by(|a, b| a.1 == b.1);

    let origins = case
        .report
        .map(|r| &r.origin)
        .into_iter()
        .chain(case.transitions.iter().map(|t| &t.origin))
        .chain(case.start_call.map(|c| &c.origin))
        .chain(case.kms_failures.iter().map(|l| &l.failure.origin));
    let (mut account, mut region) = (None, None);
    for origin in origins {
        account = account.or_else(|| origin.account.clone());
        region = region.or_else(|| origin.region.clone());
    }
    let region = region.or_else(|| finding.keys.first().and_then(|k| Region::parse(k.region())));

    let denied_action = finding.failure.map(denied_action);
    let fix = FixContext {
        instance_id: &case.instance_id,
        principal: principal_arn.as_ref(),
        keys: &finding.keys,
        region: region.as_deref(),
        denied_action: denied_action.as_deref(),
        deny_source: finding
            .failure
            .and_then(|f| explicit_deny_source(&f.error_message)),
        denial_clause: finding
            .failure
            .filter(|_| finding.cause == Cause::KmsAccessDenied)
            .and_then(|f| denial_clause(&f.error_message)),
        state_reason_message: case.report.and_then(|r| r.state_reason_message.as_deref()),
        volume_ids: &volume_ids,
        launched: case.ended_terminated(),
    };
    Diagnosis {
        instance_id: case.instance_id.clone(),
        instance_name: case.report.and_then(|r| r.name.clone()),
        account,
        region: region.clone(),
        cause: finding.cause,
        summary: remedy::summary(finding.cause, &fix),
        remediation: remedy::remediation(finding.cause, &fix),
        principal_arn,
        kms_key_arn: finding.keys.first().cloned(),
        kms_key_arns: finding.keys.clone(),
        volume_ids,
        state_reason_code: case.report.and_then(|r| r.state_reason_code.clone()),
        failed_at: case.failed_at(),
        failed_attempts: case.failed_attempts,
        kms_error: finding.failure.map(|f| KmsError {
            api: f.api.clone(),
            code: f.error_code.clone(),
            message: f.error_message.clone(),
        }),
        evidence_event_ids: evidence.into_iter().map(|(_, id)| id.to_owned()).collect(),
    }
}

/// The action KMS denied: `kms:CreateGrant` from `... perform: kms:CreateGrant on ...`,
/// else `kms:` and the API name.
fn denied_action(failure: &KmsFailure) -> String {
    failure
        .error_message
        .split_whitespace()
        .find(|w| w.starts_with("kms:") && w.len() > 4)
        .map(|w| {
            w.trim_end_matches(|c: char| !c.is_ascii_alphanumeric())
                .to_owned()
        })
        .unwrap_or_else(|| format!("kms:{}", failure.api))
}

/// Where an explicit deny sits: `identity-based policy`, `resource-based
/// policy`, `service control policy`, `permissions boundary`, ...
fn explicit_deny_source(message: &str) -> Option<String> {
    let lower = message.to_ascii_lowercase();
    let at = lower.find("explicit deny in ")? + "explicit deny in ".len();
    let rest = lower[at..]
        .trim_start_matches("an ")
        .trim_start_matches("a ");
    let source = rest.split(['.', ',']).next()?.trim();
    (!source.is_empty()).then(|| source.to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    const KEY: &str = "arn:aws:kms:eu-west-1:111122223333:key/1234abcd-12ab-34cd-56ef-1234567890ab";

    fn denied(reason: &str) -> String {
        format!(
            "User: arn:aws:sts::111122223333:assumed-role/job/s is not authorized to perform: \
             kms:CreateGrant on resource: {KEY}{reason}"
        )
    }

    #[test]
    fn identity_policy_missing() {
        let m = denied(" because no identity-based policy allows the kms:CreateGrant action");
        assert_eq!(
            classify_kms_error("AccessDenied", &m),
            Cause::KmsIdentityPolicyMissing
        );
    }

    #[test]
    fn key_policy_missing() {
        let m = denied(" because no resource-based policy allows the kms:CreateGrant action");
        assert_eq!(
            classify_kms_error("AccessDeniedException", &m),
            Cause::KmsKeyPolicyMissing
        );
    }

    #[test]
    fn explicit_deny_in_each_policy_type() {
        for place in [
            "an identity-based policy",
            "a resource-based policy",
            "a service control policy",
        ] {
            let m = denied(&format!(" with an explicit deny in {place}"));
            assert_eq!(
                classify_kms_error("AccessDenied", &m),
                Cause::KmsExplicitDeny,
                "{place}"
            );
        }
        let m = denied(" with an explicit deny in a service control policy");
        assert_eq!(
            explicit_deny_source(&m).as_deref(),
            Some("service control policy")
        );
    }

    #[test]
    fn old_denial_without_reason_is_plain_access_denied() {
        assert_eq!(
            classify_kms_error("AccessDeniedException", &denied("")),
            Cause::KmsAccessDenied
        );
    }

    #[test]
    fn boundary_session_and_other_implicit_denies() {
        assert_eq!(
            classify_kms_error(
                "AccessDenied",
                &denied(" because no permissions boundary allows the kms:CreateGrant action")
            ),
            Cause::KmsPermissionsBoundaryMissing
        );
        assert_eq!(
            classify_kms_error(
                "AccessDeniedException",
                &denied(" because no session policy allows the kms:CreateGrant action")
            ),
            Cause::KmsSessionPolicyMissing
        );
        let vpce = denied(" because no VPC endpoint policy allows the kms:CreateGrant action");
        assert_eq!(
            classify_kms_error("AccessDenied", &vpce),
            Cause::KmsAccessDenied
        );
        assert_eq!(
            denial_clause(&vpce).as_deref(),
            Some("because no VPC endpoint policy allows the kms:CreateGrant action")
        );
        assert_eq!(denial_clause(&denied("")), None);
        for kind in [
            "resource control policy",
            "session policy",
            "permissions boundary",
        ] {
            assert_eq!(
                classify_kms_error(
                    "AccessDenied",
                    &denied(&format!(" with an explicit deny in a {kind}"))
                ),
                Cause::KmsExplicitDeny,
                "{kind}"
            );
        }
    }

    #[test]
    fn the_message_not_the_code_names_the_key_state() {
        let cases = [
            (
                "DisabledException",
                format!("{KEY} is pending deletion."),
                Cause::KmsKeyPendingDeletion,
            ),
            (
                "KMSInvalidStateException",
                format!("{KEY} is pending deletion."),
                Cause::KmsKeyPendingDeletion,
            ),
            (
                "DisabledException",
                format!("{KEY} is pending import."),
                Cause::KmsKeyPendingImport,
            ),
            (
                "KMSInvalidStateException",
                format!("{KEY} is pending import."),
                Cause::KmsKeyPendingImport,
            ),
            (
                "KMSInvalidStateException",
                format!("{KEY} is unavailable."),
                Cause::KmsKeyUnavailable,
            ),
            (
                "KeyUnavailableException",
                "The request was rejected because the specified KMS key is not available."
                    .to_owned(),
                Cause::KmsKeyUnavailable,
            ),
            (
                "DisabledException",
                format!("{KEY} is disabled."),
                Cause::KmsKeyDisabled,
            ),
            (
                "KMSInvalidStateException",
                format!("{KEY} is not usable."),
                Cause::KmsKeyDisabled,
            ),
        ];
        for (code, message, cause) in cases {
            assert_eq!(
                classify_kms_error(code, &message),
                cause,
                "{code}: {message}"
            );
        }
    }

    #[test]
    fn key_state_errors() {
        assert_eq!(
            classify_kms_error("DisabledException", &format!("{KEY} is disabled.")),
            Cause::KmsKeyDisabled
        );
        assert_eq!(
            classify_kms_error(
                "KMSInvalidStateException",
                &format!("{KEY} is pending deletion.")
            ),
            Cause::KmsKeyPendingDeletion
        );
        assert_eq!(
            classify_kms_error("NotFoundException", &format!("Key '{KEY}' does not exist")),
            Cause::KmsKeyNotFound
        );
        assert_eq!(
            classify_kms_error("ThrottlingException", "Rate exceeded"),
            Cause::InternalErrorUnexplained
        );
    }

    #[test]
    fn denied_action_comes_from_the_message() {
        let failure = KmsFailure {
            time: chrono::DateTime::from_timestamp(0, 0).unwrap(),
            event_id: "e".into(),
            api: "CreateGrant".into(),
            error_code: "AccessDenied".into(),
            error_message: denied(
                " because no identity-based policy allows the kms:CreateGrant action",
            ),
            key: None,
            grantee_instance: None,
            grantee_account: None,
            caller_account: None,
            volume_id: None,
            request_id: None,
            principal: None,
            via_aws_service: true,
            origin: Default::default(),
        };
        assert_eq!(denied_action(&failure), "kms:CreateGrant");
        let bare = KmsFailure {
            api: "Decrypt".into(),
            error_message: "Access denied".into(),
            ..failure
        };
        assert_eq!(denied_action(&bare), "kms:Decrypt");
    }
}
