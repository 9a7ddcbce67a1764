//! Scenario tests built from AWS's documented examples (URLs in docs/preflight-evaluation.md).
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic
)]

use serde_json::{json, Value};
use start_doctor_start::preflight::policy::{
    evaluate_create_grant, evaluate_policy, Boundary, DenyReason, Inputs, KeyState, Policy,
    PolicyKind, PrincipalMatch, Request, Verdict,
};

const ACCT: &str = "111122223333";
const OTHER: &str = "444455556666";
const ROLE: &str = "arn:aws:iam::111122223333:role/ops/scheduler";
const KEY: &str = "arn:aws:kms:us-east-1:111122223333:key/1234abcd-12ab-34cd-56ef-1234567890ab";
const SLR: &str = "arn:aws:iam::111122223333:role/aws-service-role/autoscaling.amazonaws.com/AWSServiceRoleForAutoScaling";

fn pol(name: &str, v: Value) -> Policy {
    Policy::from_value(&v).unwrap().named(name)
}

fn req() -> Request {
    Request::ec2_create_grant(
        ROLE,
        [("team", "ops")],
        KEY,
        "us-east-1",
        "vol-0123456789abcdef0",
    )
    .unwrap()
}

/// KMS "Default key policy": the "Enable IAM policies" statement.
fn default_key_policy(acct: &str) -> Policy {
    pol(
        "key policy",
        json!({"Version":"2012-10-17","Id":"key-default-1","Statement":[{
            "Sid":"Enable IAM policies","Effect":"Allow",
            "Principal":{"AWS":format!("arn:aws:iam::{acct}:root")},
            "Action":"kms:*","Resource":"*"}]}),
    )
}

/// KMS "Default key policy": "Allow attachment of persistent resources" as an
/// identity policy (no Principal) — the grant permission key users need.
fn identity_create_grant_for_aws_resource() -> Policy {
    pol(
        "ebs-kms",
        json!({"Version":"2012-10-17","Statement":[{
            "Sid":"AllowAttachmentOfPersistentResources","Effect":"Allow",
            "Action":["kms:CreateGrant","kms:ListGrants","kms:RevokeGrant"],
            "Resource":KEY,
            "Condition":{"Bool":{"kms:GrantIsForAWSResource":true}}}]}),
    )
}

fn unrelated_identity() -> Policy {
    pol(
        "ec2-ops",
        json!({"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":["ec2:StartInstances","ec2:StopInstances"],"Resource":"*"}]}),
    )
}

fn inputs(key: Policy, identity: Vec<Policy>) -> Inputs {
    Inputs {
        key_state: KeyState::Enabled,
        key_policy: Some(key),
        identity_policies: Some(identity),
        permissions_boundary: Boundary::NoBoundary,
        scps: None,
        rcps: None,
    }
}

fn reason(v: &Verdict) -> DenyReason {
    match v {
        Verdict::Denied { reason, .. } => *reason,
        other => panic!("expected Denied, got {other:?}"),
    }
}

fn allowed(v: &Verdict) -> &[start_doctor_start::preflight::policy::StatementRef] {
    match v {
        Verdict::Allowed { deciding } => deciding,
        other => panic!("expected Allowed, got {other:?}"),
    }
}

fn missing(v: &Verdict) -> &[String] {
    match v {
        Verdict::Unknown { missing } => missing,
        other => panic!("expected Unknown, got {other:?}"),
    }
}

#[test]
fn default_key_policy_plus_identity_grant_for_aws_resource_is_allowed() {
    let r = evaluate_create_grant(
        &inputs(
            default_key_policy(ACCT),
            vec![
                unrelated_identity(),
                identity_create_grant_for_aws_resource(),
            ],
        ),
        &req(),
    );
    let d = allowed(&r.verdict);
    assert!(d
        .iter()
        .any(|s| s.sid.as_deref() == Some("Enable IAM policies")
            && s.principal_match == Some(PrincipalMatch::Account)));
    assert!(d
        .iter()
        .any(|s| s.sid.as_deref() == Some("AllowAttachmentOfPersistentResources")));
    assert_eq!(
        r.not_evaluated,
        vec!["service control policies", "resource control policies"]
    );
}

#[test]
fn default_key_policy_without_identity_allow_is_identity_policy_missing() {
    let r = evaluate_create_grant(
        &inputs(default_key_policy(ACCT), vec![unrelated_identity()]),
        &req(),
    );
    assert_eq!(reason(&r.verdict), DenyReason::IdentityPolicyMissing);
    // The root statement alone does not allow the role (KMS "Default key policy").
    let r = evaluate_create_grant(&inputs(default_key_policy(ACCT), vec![]), &req());
    assert_eq!(reason(&r.verdict), DenyReason::IdentityPolicyMissing);
}

#[test]
fn key_policy_naming_only_another_role_is_key_policy_missing() {
    let key = pol(
        "key policy",
        json!({"Version":"2012-10-17","Statement":[{
            "Sid":"Allow use of the key","Effect":"Allow",
            "Principal":{"AWS":"arn:aws:iam::111122223333:role/other"},
            "Action":["kms:Encrypt","kms:Decrypt","kms:ReEncrypt*","kms:GenerateDataKey*","kms:DescribeKey","kms:CreateGrant"],
            "Resource":"*"}]}),
    );
    // Even with an identity allow: IAM policies have no effect without the key policy.
    let r = evaluate_create_grant(
        &inputs(key.clone(), vec![identity_create_grant_for_aws_resource()]),
        &req(),
    );
    assert_eq!(reason(&r.verdict), DenyReason::KeyPolicyMissing);
    // Definitive even when identity policies are not known.
    let mut i = inputs(key, vec![]);
    i.identity_policies = None;
    i.permissions_boundary = Boundary::Unknown;
    let r = evaluate_create_grant(&i, &req());
    assert_eq!(reason(&r.verdict), DenyReason::KeyPolicyMissing);
}

/// KMS "kms:CallerAccount": the statement from the AWS managed key for EBS.
fn aws_ebs_key_policy(acct: &str, region: &str) -> Policy {
    pol(
        "aws/ebs",
        json!({"Version":"2012-10-17","Statement":[{
            "Sid":"Allow access through EBS for all principals in the account that are authorized to use EBS",
            "Effect":"Allow","Principal":{"AWS":"*"},
            "Condition":{"StringEquals":{"kms:CallerAccount":acct,"kms:ViaService":format!("ec2.{region}.amazonaws.com")}},
            "Action":["kms:Encrypt","kms:Decrypt","kms:ReEncrypt*","kms:GenerateDataKey*","kms:CreateGrant","kms:DescribeKey"],
            "Resource":"*"}]}),
    )
}

#[test]
fn aws_managed_ebs_style_key_policy_allows_the_account_via_ec2() {
    // Principal "*" narrowed to the caller account and EC2 in the region: the
    // key policy itself allows every identity of the account (KMS doc wording:
    // "effectively allow access to all identities in AWS account"), so no IAM
    // kms:* permission is needed.
    let r = evaluate_create_grant(
        &inputs(aws_ebs_key_policy(ACCT, "us-east-1"), vec![]),
        &req(),
    );
    let d = allowed(&r.verdict);
    assert_eq!(d[0].principal_match, Some(PrincipalMatch::Wildcard));
    // Other caller account: statement does not apply.
    let r = evaluate_create_grant(
        &inputs(aws_ebs_key_policy(OTHER, "us-east-1"), vec![]),
        &req(),
    );
    assert_eq!(reason(&r.verdict), DenyReason::KeyPolicyMissing);
    // Other region's EC2: kms:ViaService does not match.
    let r = evaluate_create_grant(
        &inputs(aws_ebs_key_policy(ACCT, "us-west-2"), vec![]),
        &req(),
    );
    assert_eq!(reason(&r.verdict), DenyReason::KeyPolicyMissing);
    assert!(
        r.notes.iter().any(|n| n.contains("kms:ViaService")),
        "{:?}",
        r.notes
    );
    // Wildcard grants to a role are treated like role-ARN grants: limited by a boundary.
    let mut i = inputs(aws_ebs_key_policy(ACCT, "us-east-1"), vec![]);
    i.permissions_boundary = Boundary::Attached(unrelated_identity().named("boundary"));
    let r = evaluate_create_grant(&i, &req());
    assert_eq!(reason(&r.verdict), DenyReason::PermissionsBoundaryMissing);
}

#[test]
fn explicit_deny_with_not_action() {
    let deny = pol(
        "deny-all-but-decrypt",
        json!({"Version":"2012-10-17","Statement":[{"Sid":"DenyAllButDecrypt","Effect":"Deny","NotAction":["kms:Decrypt","kms:DescribeKey"],"Resource":"*"}]}),
    );
    let r = evaluate_create_grant(
        &inputs(
            default_key_policy(ACCT),
            vec![identity_create_grant_for_aws_resource(), deny],
        ),
        &req(),
    );
    match &r.verdict {
        Verdict::Denied {
            reason: DenyReason::ExplicitDeny { kind },
            deciding,
        } => {
            assert_eq!(*kind, PolicyKind::Identity);
            assert_eq!(deciding[0].sid.as_deref(), Some("DenyAllButDecrypt"));
        }
        other => panic!("{other:?}"),
    }
    // NotAction that lists CreateGrant: the deny does not apply.
    let deny2 = pol(
        "deny-other",
        json!({"Version":"2012-10-17","Statement":[{"Effect":"Deny","NotAction":"kms:Create*","Resource":"*"}]}),
    );
    let r = evaluate_create_grant(
        &inputs(
            default_key_policy(ACCT),
            vec![identity_create_grant_for_aws_resource(), deny2],
        ),
        &req(),
    );
    allowed(&r.verdict);
}

#[test]
fn not_resource_in_deny_and_allow() {
    // Deny everything except another key: denies this key.
    let deny = pol(
        "only-other-key",
        json!({"Version":"2012-10-17","Statement":[{"Effect":"Deny","Action":"kms:*","NotResource":"arn:aws:kms:us-east-1:111122223333:key/other"}]}),
    );
    let r = evaluate_create_grant(
        &inputs(
            default_key_policy(ACCT),
            vec![identity_create_grant_for_aws_resource(), deny],
        ),
        &req(),
    );
    assert_eq!(
        reason(&r.verdict),
        DenyReason::ExplicitDeny {
            kind: PolicyKind::Identity
        }
    );
    // Allow with NotResource that covers this key: does not allow.
    let allow = pol(
        "allow-not-this",
        json!({"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"kms:CreateGrant","NotResource":"arn:aws:kms:*:111122223333:key/*"}]}),
    );
    let r = evaluate_create_grant(&inputs(default_key_policy(ACCT), vec![allow]), &req());
    assert_eq!(reason(&r.verdict), DenyReason::IdentityPolicyMissing);
}

#[test]
fn boundary_without_kms_is_permissions_boundary_missing() {
    let mut i = inputs(
        default_key_policy(ACCT),
        vec![identity_create_grant_for_aws_resource()],
    );
    i.permissions_boundary = Boundary::Attached(pol(
        "boundary",
        json!({"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":["ec2:*","s3:*"],"Resource":"*"}]}),
    ));
    let r = evaluate_create_grant(&i, &req());
    assert_eq!(reason(&r.verdict), DenyReason::PermissionsBoundaryMissing);
    // Boundary that allows kms:* -> allowed, boundary statement is deciding.
    i.permissions_boundary = Boundary::Attached(pol(
        "boundary",
        json!({"Version":"2012-10-17","Statement":[{"Sid":"Kms","Effect":"Allow","Action":"kms:*","Resource":"*"}]}),
    ));
    let r = evaluate_create_grant(&i, &req());
    assert!(allowed(&r.verdict)
        .iter()
        .any(|s| s.kind == PolicyKind::Boundary));
    // Boundary unknown -> Unknown.
    i.permissions_boundary = Boundary::Unknown;
    let r = evaluate_create_grant(&i, &req());
    assert!(missing(&r.verdict)
        .iter()
        .any(|m| m.contains("permissions boundary")));
}

#[test]
fn role_arn_grant_is_limited_by_boundary_but_session_arn_grant_is_not() {
    // IAM "Policy evaluation for requests within a single account": grants to
    // a role ARN are limited by an implicit deny in a boundary; grants to a
    // role session ARN are not.
    let boundary = Boundary::Attached(unrelated_identity().named("boundary"));
    let direct_role = pol(
        "key policy",
        json!({"Version":"2012-10-17","Statement":[{"Sid":"Role","Effect":"Allow","Principal":{"AWS":ROLE},"Action":"kms:CreateGrant","Resource":"*"}]}),
    );
    let mut i = inputs(direct_role.clone(), vec![]);
    let r = evaluate_create_grant(&i, &req());
    let d = allowed(&r.verdict);
    assert_eq!(d[0].principal_match, Some(PrincipalMatch::Role));
    i.permissions_boundary = boundary.clone();
    let r = evaluate_create_grant(&i, &req());
    assert_eq!(reason(&r.verdict), DenyReason::PermissionsBoundaryMissing);

    let session = "arn:aws:sts::111122223333:assumed-role/scheduler/nightly";
    let direct_session = pol(
        "key policy",
        json!({"Version":"2012-10-17","Statement":[{"Sid":"Session","Effect":"Allow","Principal":{"AWS":session},"Action":"kms:CreateGrant","Resource":"*"}]}),
    );
    let mut i = inputs(direct_session.clone(), vec![]);
    i.permissions_boundary = boundary;
    let r = evaluate_create_grant(&i, &req().with_session_arn(session));
    assert_eq!(
        allowed(&r.verdict)[0].principal_match,
        Some(PrincipalMatch::Session)
    );
    // Session name unknown: cannot tell.
    let r = evaluate_create_grant(&i, &req());
    assert!(missing(&r.verdict).iter().any(|m| m.contains("session")));
    // A different session: does not match.
    let r = evaluate_create_grant(
        &i,
        &req().with_session_arn("arn:aws:sts::111122223333:assumed-role/scheduler/other"),
    );
    assert_eq!(reason(&r.verdict), DenyReason::KeyPolicyMissing);
}

#[test]
fn grant_operations_set_operators() {
    let key = |op: &str, ops: Value| {
        pol(
            "key policy",
            json!({"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"AWS":ROLE},
                "Action":"kms:CreateGrant","Resource":"*","Condition":{op:{"kms:GrantOperations":ops}}}]}),
        )
    };
    let r = evaluate_create_grant(
        &inputs(key("ForAnyValue:StringEquals", json!(["Decrypt"])), vec![]),
        &req(),
    );
    allowed(&r.verdict);
    // KMS "kms:GrantOperations" example: ForAllValues limits to Encrypt/ReEncryptTo.
    let r = evaluate_create_grant(
        &inputs(
            key(
                "ForAllValues:StringEquals",
                json!(["Encrypt", "ReEncryptTo"]),
            ),
            vec![],
        ),
        &req(),
    );
    assert_eq!(reason(&r.verdict), DenyReason::KeyPolicyMissing);
    // With a wider request operation set, ForAnyValue still matches, ForAllValues not.
    let wide = req().with_grant_operations(&["Decrypt", "Encrypt", "CreateGrant", "RetireGrant"]);
    let r = evaluate_create_grant(
        &inputs(key("ForAnyValue:StringEquals", json!(["Decrypt"])), vec![]),
        &wide,
    );
    allowed(&r.verdict);
    let r = evaluate_create_grant(
        &inputs(key("ForAllValues:StringEquals", json!(["Decrypt"])), vec![]),
        &wide,
    );
    assert_eq!(reason(&r.verdict), DenyReason::KeyPolicyMissing);
}

#[test]
fn for_all_values_with_missing_key_is_true_for_any_value_false() {
    // aws:CalledVia is unknown (documents conflict): a condition on it is unresolved.
    let called_via = pol(
        "key policy",
        json!({"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"AWS":ROLE},
            "Action":"kms:CreateGrant","Resource":"*","Condition":{"ForAnyValue:StringEquals":{"aws:CalledVia":["ec2.amazonaws.com"]}}}]}),
    );
    let r = evaluate_create_grant(&inputs(called_via, vec![]), &req());
    assert!(missing(&r.verdict)
        .iter()
        .any(|m| m.contains("aws:CalledVia")));
    // aws:TagKeys is absent: CreateGrant takes no tags.
    let key = |op: &str| {
        pol(
            "key policy",
            json!({"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"AWS":ROLE},
                "Action":"kms:CreateGrant","Resource":"*","Condition":{op:{"aws:TagKeys":["team"]}}}]}),
        )
    };
    allowed(
        &evaluate_create_grant(&inputs(key("ForAllValues:StringEquals"), vec![]), &req()).verdict,
    );
    assert_eq!(
        reason(
            &evaluate_create_grant(&inputs(key("ForAnyValue:StringEquals"), vec![]), &req())
                .verdict
        ),
        DenyReason::KeyPolicyMissing
    );
}

#[test]
fn string_like_with_wildcards() {
    let key = |pat: &str| {
        pol(
            "key policy",
            json!({"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"AWS":ROLE},
                "Action":"kms:Create*","Resource":"*","Condition":{"StringLike":{"kms:ViaService":pat, "kms:EncryptionContext:aws:ebs:id":"vol-*"}}}]}),
        )
    };
    allowed(&evaluate_create_grant(&inputs(key("ec2.*.amazonaws.com"), vec![]), &req()).verdict);
    allowed(
        &evaluate_create_grant(&inputs(key("ec2.us-east-?.amazonaws.com"), vec![]), &req()).verdict,
    );
    assert_eq!(
        reason(&evaluate_create_grant(&inputs(key("rds.*"), vec![]), &req()).verdict),
        DenyReason::KeyPolicyMissing
    );
}

#[test]
fn arn_like_principal_arn_with_path_wildcard() {
    let key = pol(
        "key policy",
        json!({"Version":"2012-10-17","Statement":[{"Sid":"OpsRoles","Effect":"Allow","Principal":{"AWS":"*"},
            "Action":"kms:CreateGrant","Resource":"*",
            "Condition":{"StringEquals":{"kms:CallerAccount":ACCT},"ArnLike":{"aws:PrincipalArn":"arn:aws:iam::111122223333:role/ops/*"}}}]}),
    );
    allowed(&evaluate_create_grant(&inputs(key.clone(), vec![]), &req()).verdict);
    let dev = Request::ec2_create_grant(
        "arn:aws:iam::111122223333:role/dev/builder",
        [],
        KEY,
        "us-east-1",
        "vol-1",
    )
    .unwrap();
    assert_eq!(
        reason(&evaluate_create_grant(&inputs(key, vec![]), &dev).verdict),
        DenyReason::KeyPolicyMissing
    );
}

#[test]
fn null_condition() {
    // Deny untagged principals (aws:PrincipalTag/team absent).
    let deny_untagged = pol(
        "deny-untagged",
        json!({"Version":"2012-10-17","Statement":[{"Effect":"Deny","Action":"kms:*","Resource":"*","Condition":{"Null":{"aws:PrincipalTag/team":"true"}}}]}),
    );
    let i = inputs(
        default_key_policy(ACCT),
        vec![identity_create_grant_for_aws_resource(), deny_untagged],
    );
    allowed(&evaluate_create_grant(&i, &req()).verdict);
    let untagged = Request::ec2_create_grant(ROLE, [], KEY, "us-east-1", "vol-1").unwrap();
    assert_eq!(
        reason(&evaluate_create_grant(&i, &untagged).verdict),
        DenyReason::ExplicitDeny {
            kind: PolicyKind::Identity
        }
    );
    // Allow only when the grant is for an AWS resource key is present.
    let key = pol(
        "key policy",
        json!({"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"AWS":ROLE},"Action":"kms:CreateGrant","Resource":"*","Condition":{"Null":{"kms:GrantIsForAWSResource":false}}}]}),
    );
    allowed(&evaluate_create_grant(&inputs(key, vec![]), &req()).verdict);
}

#[test]
fn if_exists_operators() {
    // Deny unless via EC2 in us-east-1 when the key exists: does not deny here.
    let guard = pol(
        "guard",
        json!({"Version":"2012-10-17","Statement":[
            {"Effect":"Deny","Action":"kms:*","Resource":"*","Condition":{"StringNotEqualsIfExists":{"kms:ViaService":"ec2.us-east-1.amazonaws.com"}}},
            {"Effect":"Deny","Action":"kms:*","Resource":"*","Condition":{"StringEqualsIfExists":{"aws:RequestTag/env":"prod"}}}
        ]}),
    );
    // Second statement: aws:RequestTag/env absent -> IfExists true -> deny!
    let r = evaluate_create_grant(
        &inputs(
            default_key_policy(ACCT),
            vec![identity_create_grant_for_aws_resource(), guard],
        ),
        &req(),
    );
    match &r.verdict {
        Verdict::Denied { deciding, .. } => {
            assert_eq!(deciding.len(), 1);
            assert_eq!(deciding[0].index, 1);
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn source_ip_allow_is_not_satisfied_because_key_is_absent() {
    // IAM "aws:SourceIp": "this policy denies access if an AWS service makes
    // calls on the principal's behalf". EC2 calls KMS; the key is absent.
    let identity = pol(
        "office-only",
        json!({"Version":"2012-10-17","Statement":[{"Sid":"OfficeOnly","Effect":"Allow","Action":"kms:CreateGrant","Resource":"*",
            "Condition":{"IpAddress":{"aws:SourceIp":["192.0.2.0/24","203.0.113.0/24"]}}}]}),
    );
    let r = evaluate_create_grant(
        &inputs(default_key_policy(ACCT), vec![identity.clone()]),
        &req(),
    );
    assert_eq!(reason(&r.verdict), DenyReason::IdentityPolicyMissing);
    assert!(
        r.notes.iter().any(|n| n.contains("OfficeOnly")
            && n.contains("aws:SourceIp")
            && n.contains("absent")),
        "{:?}",
        r.notes
    );
    // Conservative mode: treat aws:SourceIp as unknown -> Unknown.
    let mut q = req();
    q.assume_source_ip_unknown();
    let r = evaluate_create_grant(&inputs(default_key_policy(ACCT), vec![identity]), &q);
    assert!(missing(&r.verdict)
        .iter()
        .any(|m| m.contains("aws:SourceIp")));
}

#[test]
fn source_ip_deny_breaks_ebs_unless_guarded_by_via_aws_service() {
    let deny = pol(
        "deny-outside-office",
        json!({"Version":"2012-10-17","Statement":[{"Effect":"Deny","Action":"*","Resource":"*",
            "Condition":{"NotIpAddress":{"aws:SourceIp":["192.0.2.0/24"]}}}]}),
    );
    let r = evaluate_create_grant(
        &inputs(
            default_key_policy(ACCT),
            vec![identity_create_grant_for_aws_resource(), deny],
        ),
        &req(),
    );
    assert_eq!(
        reason(&r.verdict),
        DenyReason::ExplicitDeny {
            kind: PolicyKind::Identity
        }
    );
    // The documented fix: also require aws:ViaAWSService false.
    let guarded = pol(
        "deny-outside-office",
        json!({"Version":"2012-10-17","Statement":[{"Effect":"Deny","Action":"*","Resource":"*",
            "Condition":{"NotIpAddress":{"aws:SourceIp":["192.0.2.0/24"]},"Bool":{"aws:ViaAWSService":"false"}}}]}),
    );
    let r = evaluate_create_grant(
        &inputs(
            default_key_policy(ACCT),
            vec![identity_create_grant_for_aws_resource(), guarded],
        ),
        &req(),
    );
    allowed(&r.verdict);
}

#[test]
fn principal_tag_conditions_and_unknown_resource_tags() {
    let abac = |team: &str| {
        pol(
            "abac",
            json!({"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"kms:CreateGrant","Resource":"*",
                "Condition":{"StringEquals":{"aws:PrincipalTag/team":team}}}]}),
        )
    };
    allowed(
        &evaluate_create_grant(&inputs(default_key_policy(ACCT), vec![abac("ops")]), &req())
            .verdict,
    );
    assert_eq!(
        reason(
            &evaluate_create_grant(&inputs(default_key_policy(ACCT), vec![abac("dev")]), &req())
                .verdict
        ),
        DenyReason::IdentityPolicyMissing
    );
    // Policy variable against key tags: the key's tags are not known.
    let by_tag = pol(
        "abac-key-tags",
        json!({"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"kms:CreateGrant","Resource":"*",
            "Condition":{"StringEquals":{"aws:ResourceTag/team":"${aws:PrincipalTag/team}"}}}]}),
    );
    let r = evaluate_create_grant(&inputs(default_key_policy(ACCT), vec![by_tag]), &req());
    assert!(missing(&r.verdict)
        .iter()
        .any(|m| m.contains("aws:ResourceTag/team")));
}

#[test]
fn key_states() {
    let base = inputs(
        default_key_policy(ACCT),
        vec![identity_create_grant_for_aws_resource()],
    );
    for (state, want) in [
        (KeyState::PendingImport, DenyReason::KeyPendingImport),
        (KeyState::Disabled, DenyReason::KeyDisabled),
        (KeyState::PendingDeletion, DenyReason::KeyPendingDeletion),
        (
            KeyState::PendingReplicaDeletion,
            DenyReason::KeyPendingDeletion,
        ),
        (KeyState::Unavailable, DenyReason::KeyUnavailable),
        (KeyState::Creating, DenyReason::KeyUnavailable),
        (KeyState::NotFound, DenyReason::KeyNotFound),
    ] {
        let mut i = base.clone();
        i.key_state = state;
        assert_eq!(
            reason(&evaluate_create_grant(&i, &req()).verdict),
            want,
            "{state:?}"
        );
    }
    let mut i = base.clone();
    i.key_state = KeyState::Updating;
    allowed(&evaluate_create_grant(&i, &req()).verdict);
    i.key_state = KeyState::Unknown;
    assert_eq!(
        missing(&evaluate_create_grant(&i, &req()).verdict),
        ["key state"]
    );
}

/// EC2 Auto Scaling guide "Required AWS KMS key policy for use with encrypted
/// volumes", Example: key policy sections that allow access to the key.
fn autoscaling_key_policy() -> Policy {
    pol(
        "key policy",
        json!({"Version":"2012-10-17","Statement":[
            {"Sid":"Enable IAM policies","Effect":"Allow","Principal":{"AWS":"arn:aws:iam::111122223333:root"},"Action":"kms:*","Resource":"*"},
            {"Sid":"Allow service-linked role use of the customer managed key","Effect":"Allow",
             "Principal":{"AWS":[SLR]},
             "Action":["kms:Encrypt","kms:Decrypt","kms:ReEncrypt*","kms:GenerateDataKey*","kms:DescribeKey"],"Resource":"*"},
            {"Sid":"Allow attachment of persistent resources","Effect":"Allow",
             "Principal":{"AWS":[SLR]},
             "Action":["kms:CreateGrant"],"Resource":"*","Condition":{"Bool":{"kms:GrantIsForAWSResource":true}}}
        ]}),
    )
}

fn slr_req() -> Request {
    Request::ec2_create_grant(SLR, [], KEY, "us-east-1", "vol-1").unwrap()
}

#[test]
fn autoscaling_service_linked_role_with_key_policy_statements_is_allowed() {
    // The SLR's own (AWS-managed) policies do not grant kms on customer keys;
    // they are given here as known-and-irrelevant (empty).
    let mut i = inputs(autoscaling_key_policy(), vec![]);
    // SCPs do not affect service-linked roles: even a deny-all SCP is ignored.
    i.scps = Some(vec![vec![pol(
        "deny-all",
        json!({"Version":"2012-10-17","Statement":[{"Effect":"Deny","Action":"*","Resource":"*"}]}),
    )]]);
    let r = evaluate_create_grant(&i, &slr_req());
    let d = allowed(&r.verdict);
    assert_eq!(
        d[0].sid.as_deref(),
        Some("Allow attachment of persistent resources")
    );
    assert!(r.not_evaluated.is_empty());
}

#[test]
fn autoscaling_service_linked_role_without_key_policy_statements() {
    // Key policy naming only a key administrator role: KeyPolicyMissing.
    let admin_only = pol(
        "key policy",
        json!({"Version":"2012-10-17","Statement":[{"Sid":"Allow access for Key Administrators","Effect":"Allow",
            "Principal":{"AWS":"arn:aws:iam::111122223333:role/KeyAdmin"},
            "Action":["kms:Create*","kms:Describe*","kms:Enable*","kms:List*","kms:Put*","kms:Update*","kms:Revoke*","kms:Disable*","kms:Get*","kms:Delete*","kms:ScheduleKeyDeletion","kms:CancelKeyDeletion"],
            "Resource":"*"}]}),
    );
    let r = evaluate_create_grant(&inputs(admin_only, vec![]), &slr_req());
    assert_eq!(reason(&r.verdict), DenyReason::KeyPolicyMissing);
    // Default key policy only: the SLR's identity policies don't grant kms -> IdentityPolicyMissing.
    let r = evaluate_create_grant(&inputs(default_key_policy(ACCT), vec![]), &slr_req());
    assert_eq!(reason(&r.verdict), DenyReason::IdentityPolicyMissing);
    // ... and Unknown when its identity policies are not given.
    let mut i = inputs(default_key_policy(ACCT), vec![]);
    i.identity_policies = None;
    let r = evaluate_create_grant(&i, &slr_req());
    assert!(missing(&r.verdict)
        .iter()
        .any(|m| m.contains("identity policies")));
}

#[test]
fn cross_account_key_requires_key_policy_and_identity_policy() {
    // KMS "Allowing users in other accounts to use a KMS key": key in 444455556666.
    let key_arn = "arn:aws:kms:us-east-1:444455556666:key/1a2b3c4d-5e6f-1a2b-3c4d-5e6f1a2b3c4d";
    let q = Request::ec2_create_grant(ROLE, [], key_arn, "us-east-1", "vol-1").unwrap();
    let key = pol(
        "key policy",
        json!({"Version":"2012-10-17","Statement":[
            {"Sid":"Enable IAM policies","Effect":"Allow","Principal":{"AWS":"arn:aws:iam::444455556666:root"},"Action":"kms:*","Resource":"*"},
            {"Sid":"Allow an external account to use this KMS key","Effect":"Allow","Principal":{"AWS":"arn:aws:iam::111122223333:root"},
             "Action":["kms:Encrypt","kms:Decrypt","kms:ReEncrypt*","kms:GenerateDataKey*","kms:DescribeKey","kms:CreateGrant"],"Resource":"*"}]}),
    );
    let identity = pol(
        "use-external-key",
        json!({"Version":"2012-10-17","Statement":[{"Sid":"AllowCreateGrantOnExternalKey","Effect":"Allow","Action":"kms:CreateGrant","Resource":key_arn}]}),
    );
    let r = evaluate_create_grant(&inputs(key.clone(), vec![identity]), &q);
    assert_eq!(allowed(&r.verdict).len(), 2);
    let r = evaluate_create_grant(&inputs(key, vec![]), &q);
    assert_eq!(reason(&r.verdict), DenyReason::IdentityPolicyMissing);
    // Key policy naming the role directly still needs an identity allow cross-account.
    let direct = pol(
        "key policy",
        json!({"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"AWS":ROLE},"Action":"kms:CreateGrant","Resource":"*"}]}),
    );
    let r = evaluate_create_grant(&inputs(direct, vec![]), &q);
    assert_eq!(reason(&r.verdict), DenyReason::IdentityPolicyMissing);
    // Key policy that trusts only its own account: KeyPolicyMissing.
    let r = evaluate_create_grant(
        &inputs(
            default_key_policy(OTHER),
            vec![identity_create_grant_for_aws_resource()],
        ),
        &q,
    );
    assert_eq!(reason(&r.verdict), DenyReason::KeyPolicyMissing);
}

#[test]
fn missing_inputs_give_unknown_with_reasons() {
    let i = Inputs::default();
    let r = evaluate_create_grant(&i, &req());
    let m = missing(&r.verdict);
    for want in [
        "key state",
        "key policy",
        "identity policies",
        "permissions boundary",
    ] {
        assert!(m.iter().any(|x| x.contains(want)), "{want} in {m:?}");
    }
    assert_eq!(
        r.not_evaluated,
        vec!["service control policies", "resource control policies"]
    );
    // An Allow that depends on aws:PrincipalOrgID (unknown) -> Unknown, naming the key.
    let org = pol(
        "key policy",
        json!({"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"AWS":"*"},"Action":"kms:CreateGrant","Resource":"*",
            "Condition":{"StringEquals":{"aws:PrincipalOrgID":"o-a1b2c3d4e5"}}}]}),
    );
    let r = evaluate_create_grant(&inputs(org, vec![]), &req());
    assert!(missing(&r.verdict)
        .iter()
        .any(|m| m.contains("aws:PrincipalOrgID")));
    // A Deny that depends on an unknown key: conservative Unknown, not Allowed.
    let deny_org = pol(
        "deny-outside-org",
        json!({"Version":"2012-10-17","Statement":[{"Effect":"Deny","Action":"kms:*","Resource":"*",
            "Condition":{"StringNotEquals":{"aws:PrincipalOrgID":"o-a1b2c3d4e5"}}}]}),
    );
    let r = evaluate_create_grant(
        &inputs(
            default_key_policy(ACCT),
            vec![identity_create_grant_for_aws_resource(), deny_org],
        ),
        &req(),
    );
    assert!(missing(&r.verdict)
        .iter()
        .any(|m| m.contains("aws:PrincipalOrgID")));
}

#[test]
fn service_and_resource_control_policies() {
    let full = pol(
        "FullAWSAccess",
        json!({"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"*","Resource":"*"}]}),
    );
    let ec2_only = pol(
        "ec2-only",
        json!({"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"ec2:*","Resource":"*"}]}),
    );
    let mut i = inputs(
        default_key_policy(ACCT),
        vec![identity_create_grant_for_aws_resource()],
    );
    i.scps = Some(vec![vec![full.clone()], vec![full.clone()]]);
    i.rcps = Some(vec![vec![pol(
        "RCPFullAWSAccess",
        json!({"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":"*","Action":"*","Resource":"*"}]}),
    )]]);
    let r = evaluate_create_grant(&i, &req());
    allowed(&r.verdict);
    assert!(r.not_evaluated.is_empty());
    // An OU level that only allows ec2:* -> implicit deny from SCPs.
    i.scps = Some(vec![vec![full.clone()], vec![ec2_only]]);
    assert_eq!(
        reason(&evaluate_create_grant(&i, &req()).verdict),
        DenyReason::ServiceControlPolicyMissing
    );
    // SCP deny.
    i.scps = Some(vec![vec![
        full,
        pol(
            "deny-kms-grants",
            json!({"Version":"2012-10-17","Statement":[{"Effect":"Deny","Action":"kms:CreateGrant","Resource":"*"}]}),
        ),
    ]]);
    assert_eq!(
        reason(&evaluate_create_grant(&i, &req()).verdict),
        DenyReason::ExplicitDeny {
            kind: PolicyKind::Scp
        }
    );
    // RCP deny for principals outside the org (org unknown) -> Unknown.
    i.scps = None;
    i.rcps = Some(vec![vec![pol(
        "perimeter",
        json!({"Version":"2012-10-17","Statement":[
            {"Effect":"Allow","Principal":"*","Action":"*","Resource":"*"},
            {"Effect":"Deny","Principal":"*","Action":"kms:*","Resource":"*",
             "Condition":{"StringNotEqualsIfExists":{"aws:PrincipalOrgID":"o-a1b2c3d4e5"},"BoolIfExists":{"aws:PrincipalIsAWSService":"false"}}}]}),
    )]]);
    let r = evaluate_create_grant(&i, &req());
    assert!(missing(&r.verdict)
        .iter()
        .any(|m| m.contains("aws:PrincipalOrgID")));
    assert_eq!(r.not_evaluated, vec!["service control policies"]);
}

#[test]
fn not_principal_deny_in_key_policy() {
    let session = "arn:aws:sts::111122223333:assumed-role/scheduler/nightly";
    let key = |names: Value| {
        pol(
            "key policy",
            json!({"Version":"2012-10-17","Statement":[
                {"Sid":"Enable IAM policies","Effect":"Allow","Principal":{"AWS":"arn:aws:iam::111122223333:root"},"Action":"kms:*","Resource":"*"},
                {"Sid":"DenyOthers","Effect":"Deny","NotPrincipal":{"AWS":names},"Action":"kms:*","Resource":"*"}]}),
        )
    };
    let id = || vec![identity_create_grant_for_aws_resource()];
    // Only some other role excluded: deny applies to us.
    let r = evaluate_create_grant(
        &inputs(key(json!(["arn:aws:iam::111122223333:role/other"])), id()),
        &req(),
    );
    assert_eq!(
        reason(&r.verdict),
        DenyReason::ExplicitDeny {
            kind: PolicyKind::Resource
        }
    );
    // Account + role + session listed (IAM doc best practice): excluded.
    let full = json!([session, ROLE, "arn:aws:iam::111122223333:root"]);
    let r = evaluate_create_grant(&inputs(key(full), id()), &req().with_session_arn(session));
    allowed(&r.verdict);
    // Role and account listed, session not known: AWS "might" deny -> Unknown.
    let partial = json!([ROLE, "arn:aws:iam::111122223333:root"]);
    let r = evaluate_create_grant(&inputs(key(partial), id()), &req());
    assert!(missing(&r.verdict)
        .iter()
        .any(|m| m.contains("NotPrincipal")));
}

#[test]
fn service_principals_never_match_a_role() {
    let key = pol(
        "key policy",
        json!({"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"Service":"ec2.amazonaws.com"},"Action":"kms:*","Resource":"*"}]}),
    );
    let r = evaluate_create_grant(
        &inputs(key, vec![identity_create_grant_for_aws_resource()]),
        &req(),
    );
    assert_eq!(reason(&r.verdict), DenyReason::KeyPolicyMissing);
}

#[test]
fn bare_account_id_principal_delegates() {
    let key = pol(
        "key policy",
        json!({"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"AWS":ACCT},"Action":"kms:*","Resource":"*"}]}),
    );
    assert_eq!(
        reason(&evaluate_create_grant(&inputs(key.clone(), vec![]), &req()).verdict),
        DenyReason::IdentityPolicyMissing
    );
    allowed(
        &evaluate_create_grant(
            &inputs(key, vec![identity_create_grant_for_aws_resource()]),
            &req(),
        )
        .verdict,
    );
}

#[test]
fn iam_user_guide_carlos_example() {
    // IAM "Policy evaluation logic", example identity-based and resource-based policy evaluation.
    let identity = pol(
        "carlossalazar",
        json!({"Version":"2012-10-17","Statement":[
            {"Sid":"AllowS3ListRead","Effect":"Allow","Action":["s3:GetBucketLocation","s3:GetAccountPublicAccessBlock","s3:ListAccessPoints","s3:ListAllMyBuckets"],"Resource":"arn:aws:s3:::*"},
            {"Sid":"AllowS3Self","Effect":"Allow","Action":"s3:*","Resource":["arn:aws:s3:::carlossalazar/*","arn:aws:s3:::carlossalazar"]},
            {"Sid":"DenyS3Logs","Effect":"Deny","Action":"s3:*","Resource":"arn:aws:s3:::*log*"}]}),
    );
    let bucket = pol(
        "bucket policy",
        json!({"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"AWS":"arn:aws:iam::123456789012:user/carlossalazar"},
            "Action":"s3:*","Resource":["arn:aws:s3:::carlossalazar/*","arn:aws:s3:::carlossalazar"]}]}),
    );
    let user = "arn:aws:iam::123456789012:user/carlossalazar";
    let logs = Request::new(
        user,
        "s3:PutObject",
        "arn:aws:s3:::carlossalazar-logs/file.txt",
    )
    .unwrap();
    let r = evaluate_policy(&identity, &logs, PolicyKind::Identity);
    assert_eq!(r.explicit_deny[0].sid.as_deref(), Some("DenyS3Logs"));
    let own = Request::new(user, "s3:PutObject", "arn:aws:s3:::carlossalazar/file.txt").unwrap();
    let r = evaluate_policy(&identity, &own, PolicyKind::Identity);
    assert!(r.explicit_deny.is_empty());
    assert_eq!(r.allow[0].sid.as_deref(), Some("AllowS3Self"));
    let r = evaluate_policy(&bucket, &own, PolicyKind::Resource);
    assert_eq!(r.allow[0].principal_match, Some(PrincipalMatch::User));
    // A different user does not match the bucket policy principal.
    let other = Request::new(
        "arn:aws:iam::123456789012:user/maria",
        "s3:PutObject",
        "arn:aws:s3:::carlossalazar/file.txt",
    )
    .unwrap();
    assert!(evaluate_policy(&bucket, &other, PolicyKind::Resource)
        .allow
        .is_empty());
}

#[test]
fn iam_user_guide_explicit_and_implicit_deny_example() {
    // IAM "The difference between explicit and implicit denies": AllowGetList / DenyReports.
    let p = pol(
        "iam-read",
        json!({"Version":"2012-10-17","Statement":[
            {"Sid":"AllowGetList","Effect":"Allow","Action":["iam:Get*","iam:List*"],"Resource":"*"},
            {"Sid":"DenyReports","Effect":"Deny","Action":"iam:*Report","Resource":"*"}]}),
    );
    let u = "arn:aws:iam::123456789012:user/carlossalazar";
    let get = Request::new(u, "iam:GetRole", "arn:aws:iam::123456789012:role/x").unwrap();
    let r = evaluate_policy(&p, &get, PolicyKind::Identity);
    assert_eq!(r.allow.len(), 1);
    let create = Request::new(u, "iam:CreatePolicy", "*").unwrap();
    let r = evaluate_policy(&p, &create, PolicyKind::Identity);
    assert!(r.allow.is_empty() && r.explicit_deny.is_empty());
    let report = Request::new(u, "iam:GetOrganizationsAccessReport", "*").unwrap();
    let r = evaluate_policy(&p, &report, PolicyKind::Identity);
    assert_eq!(r.explicit_deny[0].sid.as_deref(), Some("DenyReports"));
}

#[test]
fn kms_via_service_key_policy_example() {
    // KMS "kms:ViaService": allow for EC2 or RDS in us-west-2 on behalf of a principal.
    let q = Request::ec2_create_grant(
        ROLE,
        [],
        "arn:aws:kms:us-west-2:111122223333:key/k",
        "us-west-2",
        "vol-1",
    )
    .unwrap();
    let key = pol(
        "key policy",
        json!({"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"AWS":ROLE},
            "Action":["kms:Encrypt","kms:Decrypt","kms:ReEncrypt*","kms:GenerateDataKey*","kms:CreateGrant","kms:ListGrants","kms:DescribeKey"],
            "Resource":"*","Condition":{"StringEquals":{"kms:ViaService":["ec2.us-west-2.amazonaws.com","rds.us-west-2.amazonaws.com"]}}}]}),
    );
    allowed(&evaluate_create_grant(&inputs(key.clone(), vec![]), &q).verdict);
    // Same key policy, request in us-east-1: ViaService differs.
    assert_eq!(
        reason(&evaluate_create_grant(&inputs(key, vec![]), &req()).verdict),
        DenyReason::KeyPolicyMissing
    );
}

#[test]
fn kms_caller_account_and_policy_variables_in_resource() {
    let p = pol(
        "self-keys",
        json!({"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"kms:CreateGrant",
            "Resource":"arn:aws:kms:*:${aws:PrincipalAccount}:key/*"}]}),
    );
    allowed(
        &evaluate_create_grant(&inputs(default_key_policy(ACCT), vec![p.clone()]), &req()).verdict,
    );
    // Version 2008-10-17: variables are literal, resource does not match.
    let mut old = p;
    old.version = Some("2008-10-17".into());
    assert_eq!(
        reason(
            &evaluate_create_grant(&inputs(default_key_policy(ACCT), vec![old]), &req()).verdict
        ),
        DenyReason::IdentityPolicyMissing
    );
}
