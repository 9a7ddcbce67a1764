//! Remediation: the one-sentence summary and the concrete fix for each
//! cause, with complete policy documents and copyable commands.
//!
//! Policies are least privilege. The identity policy allows only the KMS
//! action that was denied, only on the key's ARN, and for `CreateGrant` only
//! for grants to AWS resources (`kms:GrantIsForAWSResource`). The key-policy
//! statement allows the principal the grant operations only via EC2 in the
//! key's region (`kms:ViaService`).

use serde_json::{json, Value};

use crate::diagnosis::{Cause, Remediation, RemediationKind};
use crate::ids::{InstanceId, KeyArn, PrincipalArn, PrincipalKind, VolumeId};

/// What the rules know that the fix needs.
#[derive(Clone, Debug)]
pub struct FixContext<'a> {
    /// The instance that failed.
    pub instance_id: &'a InstanceId,
    /// The role or user that started it.
    pub principal: Option<&'a PrincipalArn>,
    /// The key whose use failed.
    pub key: Option<&'a KeyArn>,
    /// The instance's region.
    pub region: Option<&'a str>,
    /// The KMS action that was denied, e.g. `kms:CreateGrant`.
    pub denied_action: Option<&'a str>,
    /// Where an explicit deny sits, e.g. `service control policy`.
    pub deny_source: Option<String>,
    /// `StateReason.Message`.
    pub state_reason_message: Option<&'a str>,
    /// The instance's volumes on the key.
    pub volume_ids: &'a [VolumeId],
}

impl FixContext<'_> {
    fn who(&self) -> String {
        self.principal
            .map_or_else(|| "the caller".to_owned(), |p| p.to_string())
    }

    fn key_text(&self) -> String {
        self.key
            .map_or_else(|| "its KMS key".to_owned(), |k| format!("KMS key {k}"))
    }

    fn action(&self) -> &str {
        self.denied_action.unwrap_or("kms:CreateGrant")
    }

    fn region(&self) -> &str {
        self.region
            .or_else(|| self.key.map(KeyArn::region))
            .filter(|r| !r.is_empty())
            .unwrap_or("<region>")
    }

    fn key_arg(&self) -> String {
        self.key
            .map_or_else(|| "<key-arn>".to_owned(), |k| k.to_string())
    }

    fn start_again(&self) -> String {
        format!(
            "Start the instance again: aws ec2 start-instances --region {} --instance-ids {}",
            self.region(),
            self.instance_id
        )
    }
}

/// The cause in one sentence.
pub fn summary(cause: Cause, fix: &FixContext) -> String {
    let i = fix.instance_id;
    let who = fix.who();
    let key = fix.key_text();
    let action = fix.action();
    match cause {
        Cause::KmsIdentityPolicyMissing => format!(
            "{i} failed to start because no identity-based policy allows {who} {action} on {key}, which EC2 needs to attach the encrypted volume."
        ),
        Cause::KmsKeyPolicyMissing => format!(
            "{i} failed to start because the key policy of {key} does not allow {who} {action} (and does not let IAM policies allow it)."
        ),
        Cause::KmsExplicitDeny => format!(
            "{i} failed to start because an explicit deny in {} blocks {who} from {action} on {key}.",
            fix.deny_source.as_deref().map_or_else(|| "a policy".to_owned(), |s| format!("a {s}"))
        ),
        Cause::KmsAccessDenied => format!(
            "{i} failed to start because KMS denied {who} {action} on {key}; the message does not say whether the identity policy or the key policy is missing."
        ),
        Cause::KmsPermissionsBoundaryMissing => format!(
            "{i} failed to start because the permissions boundary of {who} does not allow {action} on {key}."
        ),
        Cause::KmsSessionPolicyMissing => format!(
            "{i} failed to start because the session policy of {who}'s session does not allow {action} on {key}."
        ),
        Cause::KmsKeyDisabled => format!(
            "{i} failed to start because {key}, which encrypts its volume, is disabled or not usable."
        ),
        Cause::KmsKeyPendingImport => format!(
            "{i} failed to start because {key}, which encrypts its volume, has no key material (pending import)."
        ),
        Cause::KmsKeyUnavailable => format!(
            "{i} failed to start because {key}, which encrypts its volume, is in a custom key store that is disconnected."
        ),
        Cause::KmsKeyPendingDeletion => format!(
            "{i} failed to start because {key}, which encrypts its volume, is scheduled for deletion."
        ),
        Cause::KmsKeyNotFound => format!(
            "{i} failed to start because {key}, which encrypts its volume, does not exist (deleted, or in another account or region)."
        ),
        Cause::InsufficientCapacity => format!(
            "{i} failed to start because EC2 had no capacity for its instance type in its Availability Zone."
        ),
        Cause::VolumeLimitExceeded => format!(
            "{i} failed to start because the account reached its EBS volume or storage limit."
        ),
        Cause::SnapshotNotFound => format!(
            "{i} failed to start because a snapshot its volumes are created from no longer exists."
        ),
        Cause::InternalErrorUnexplained => format!(
            "{i} went pending and then stopped{}, and no KMS or capacity evidence explains why.",
            fix.state_reason_message
                .map(|m| format!(" ({m})"))
                .unwrap_or_default()
        ),
    }
}

/// The least-privilege identity policy for the denied action on the key.
pub fn identity_policy(action: &str, key: &KeyArn, region: &str) -> Value {
    let condition = if action == "kms:CreateGrant" {
        json!({ "Bool": { "kms:GrantIsForAWSResource": "true" } })
    } else {
        json!({ "StringEquals": { "kms:ViaService": format!("ec2.{region}.amazonaws.com") } })
    };
    json!({
        "Version": "2012-10-17",
        "Statement": [{
            "Sid": "AllowEc2ToUseKeyForEncryptedVolumes",
            "Effect": "Allow",
            "Action": action,
            "Resource": key.as_str(),
            "Condition": condition,
        }]
    })
}

/// The key-policy statement that lets `principal` have EC2 create grants on
/// the key in `region`.
pub fn key_policy_statement(principal: &PrincipalArn, region: &str) -> Value {
    json!({
        "Version": "2012-10-17",
        "Statement": [{
            "Sid": format!("AllowEc2GrantsFor{}", principal.name().replace(|c: char| !c.is_ascii_alphanumeric(), "")),
            "Effect": "Allow",
            "Principal": { "AWS": principal.as_str() },
            "Action": ["kms:CreateGrant", "kms:ListGrants", "kms:RevokeGrant"],
            "Resource": "*",
            "Condition": { "StringEquals": { "kms:ViaService": format!("ec2.{region}.amazonaws.com") } },
        }]
    })
}

/// The CLI command that attaches an inline policy to the principal.
fn put_policy_command(principal: Option<&PrincipalArn>) -> String {
    let target = match principal.map(|p| (p.kind(), p.name())) {
        Some((PrincipalKind::User, name)) => format!("aws iam put-user-policy --user-name {name}"),
        Some((PrincipalKind::Role, name)) => format!("aws iam put-role-policy --role-name {name}"),
        _ => "aws iam put-role-policy --role-name <role-that-starts-the-instance>".to_owned(),
    };
    format!("{target} --policy-name start-doctor-ebs-kms --policy-document file://policy.json")
}

/// The fix for `cause`.
pub fn remediation(cause: Cause, fix: &FixContext) -> Remediation {
    let key = fix.key_arg();
    let region = fix.region();
    let (kind, steps, attach_to, policy) = match cause {
        Cause::KmsIdentityPolicyMissing | Cause::KmsAccessDenied => {
            let policy = fix.key.map(|k| identity_policy(fix.action(), k, region));
            let mut steps = vec![
                format!("Save the policy below as policy.json; it allows {} only on this key.", fix.action()),
                format!("Attach it to {}: {}", fix.who(), put_policy_command(fix.principal)),
            ];
            if cause == Cause::KmsAccessDenied {
                steps.push(format!(
                    "If the key policy does not let IAM policies grant access, also add a key-policy statement for {} (see `aws kms get-key-policy --key-id {key} --policy-name default`).",
                    fix.who()
                ));
            }
            steps.push(fix.start_again());
            (RemediationKind::IdentityPolicy, steps, fix.principal.cloned(), policy)
        }
        Cause::KmsKeyPolicyMissing => {
            let policy = fix.principal.map(|p| key_policy_statement(p, region));
            let steps = vec![
                format!("Fetch the key policy: aws kms get-key-policy --key-id {key} --policy-name default --output text > key-policy.json"),
                "Add the statement below to its Statement list.".to_owned(),
                format!("Apply it: aws kms put-key-policy --key-id {key} --policy-name default --policy file://key-policy.json"),
                fix.start_again(),
            ];
            (RemediationKind::KeyPolicy, steps, None, policy)
        }
        Cause::KmsExplicitDeny => {
            let place = fix.deny_source.clone().unwrap_or_else(|| "policy".to_owned());
            let steps = vec![
                format!(
                    "Find the Deny statement in the {place} that matches {} on {key} for {}.",
                    fix.action(),
                    fix.who()
                ),
                format!(
                    "Narrow it so that it does not apply when EC2 uses the key for volumes (for example exempt requests with kms:ViaService = ec2.{region}.amazonaws.com or kms:GrantIsForAWSResource = true), or start the instance with a principal it does not cover."
                ),
                fix.start_again(),
            ];
            (RemediationKind::RemoveExplicitDeny, steps, fix.principal.cloned(), None)
        }
        Cause::KmsPermissionsBoundaryMissing => {
            let policy = fix.key.map(|k| identity_policy(fix.action(), k, region));
            let steps = vec![
                format!("Find the boundary: aws iam get-role --role-name {} --query Role.PermissionsBoundary (get-user for a user)", fix.principal.map_or("<role>", PrincipalArn::name)),
                "Add the statement below to the boundary policy's document, keeping its other statements, and make that the default version: aws iam create-policy-version --policy-arn <boundary-arn> --policy-document file://boundary.json --set-as-default".to_owned(),
                fix.start_again(),
            ];
            (RemediationKind::PermissionsBoundary, steps, fix.principal.cloned(), policy)
        }
        Cause::KmsSessionPolicyMissing => {
            let policy = fix.key.map(|k| identity_policy(fix.action(), k, region));
            let steps = vec![
                format!("Add the statement below to the session policy passed when {} is assumed (the --policy or --policy-arns of assume-role, or the scheduler's session policy setting).", fix.who()),
                fix.start_again(),
            ];
            (RemediationKind::SessionPolicy, steps, fix.principal.cloned(), policy)
        }
        Cause::KmsKeyPendingImport => (
            RemediationKind::ImportKeyMaterial,
            vec![
                format!("Get an import token and wrapping key: aws kms get-parameters-for-import --key-id {key} --wrapping-algorithm RSAES_OAEP_SHA_256 --wrapping-key-spec RSA_2048"),
                format!("Import the same key material as before (other material cannot decrypt the volumes): aws kms import-key-material --key-id {key} --encrypted-key-material fileb://EncryptedKeyMaterial.bin --import-token fileb://ImportToken.bin --expiration-model KEY_MATERIAL_DOES_NOT_EXPIRE"),
                fix.start_again(),
            ],
            None,
            None,
        ),
        Cause::KmsKeyUnavailable => (
            RemediationKind::ConnectKeyStore,
            vec![
                format!("Find the key store: aws kms describe-key --key-id {key} --query KeyMetadata.CustomKeyStoreId"),
                "Reconnect it: aws kms connect-custom-key-store --custom-key-store-id <id>, and wait until describe-custom-key-stores shows ConnectionState CONNECTED.".to_owned(),
                fix.start_again(),
            ],
            None,
            None,
        ),
        Cause::KmsKeyDisabled => (
            RemediationKind::EnableKey,
            vec![
                format!("Check the key state: aws kms describe-key --key-id {key} --query KeyMetadata.KeyState"),
                format!("Enable the key: aws kms enable-key --key-id {key}"),
                fix.start_again(),
            ],
            None,
            None,
        ),
        Cause::KmsKeyPendingDeletion => (
            RemediationKind::CancelKeyDeletion,
            vec![
                format!("Cancel the deletion: aws kms cancel-key-deletion --key-id {key}"),
                format!("The key is now disabled; enable it: aws kms enable-key --key-id {key}"),
                fix.start_again(),
            ],
            None,
            None,
        ),
        Cause::KmsKeyNotFound => (
            RemediationKind::RestoreKey,
            vec![
                format!("Check that {key} exists in the account and region the volume expects: aws kms describe-key --key-id {key}"),
                "If the key was deleted, the volumes encrypted with it cannot be decrypted: restore the instance's volumes from a snapshot or backup encrypted with an existing key.".to_owned(),
                "If it is a key in another account, make sure it still exists and its key policy allows this account.".to_owned(),
            ],
            None,
            None,
        ),
        Cause::InsufficientCapacity => (
            RemediationKind::Capacity,
            vec![
                "Retry the start in a few minutes; capacity changes often.".to_owned(),
                format!("Or change the instance type (aws ec2 modify-instance-attribute --instance-id {} --instance-type ...) and start it again.", fix.instance_id),
                "For instances that must start on schedule, create an On-Demand Capacity Reservation in their Availability Zone.".to_owned(),
            ],
            None,
            None,
        ),
        Cause::VolumeLimitExceeded => (
            RemediationKind::VolumeLimit,
            vec![
                format!("Find unused volumes: aws ec2 describe-volumes --region {region} --filters Name=status,Values=available"),
                "Delete those no longer needed, or request a higher EBS quota in Service Quotas (service code ebs).".to_owned(),
                fix.start_again(),
            ],
            None,
            None,
        ),
        Cause::SnapshotNotFound => (
            RemediationKind::Snapshot,
            vec![
                format!(
                    "Find the missing snapshot{}.",
                    fix.state_reason_message.map(|m| format!(" named in the state reason ({m})")).unwrap_or_default()
                ),
                "Point the instance's block device mapping (or its AMI) at an existing snapshot, or restore the snapshot from a backup.".to_owned(),
                fix.start_again(),
            ],
            None,
            None,
        ),
        Cause::InternalErrorUnexplained => (
            RemediationKind::Investigate,
            vec![
                format!(
                    "Look for KMS errors around the start: aws cloudtrail lookup-events --region {region} --lookup-attributes AttributeKey=EventSource,AttributeValue=kms.amazonaws.com --max-results 50"
                ),
                format!("Check which keys encrypt its volumes: aws ec2 describe-volumes --region {region} --filters Name=attachment.instance-id,Values={}", fix.instance_id),
                format!("Check the state reason: aws ec2 describe-instances --region {region} --instance-ids {} --query 'Reservations[].Instances[].StateReason'", fix.instance_id),
                "Run start-doctor investigate again with the CloudTrail logs and these outputs.".to_owned(),
            ],
            None,
            None,
        ),
    };
    Remediation {
        kind,
        steps,
        attach_to,
        policy,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key() -> KeyArn {
        KeyArn::parse("arn:aws:kms:eu-west-1:111122223333:key/1234abcd-12ab-34cd-56ef-1234567890ab")
            .unwrap()
    }

    #[test]
    fn identity_policy_is_scoped_to_the_key_and_aws_resources() {
        let p = identity_policy("kms:CreateGrant", &key(), "eu-west-1");
        let s = &p["Statement"][0];
        assert_eq!(p["Version"], "2012-10-17");
        assert_eq!(s["Effect"], "Allow");
        assert_eq!(s["Action"], "kms:CreateGrant");
        assert_eq!(s["Resource"], key().as_str());
        assert_eq!(s["Condition"]["Bool"]["kms:GrantIsForAWSResource"], "true");
    }

    #[test]
    fn other_denied_actions_are_limited_to_ec2() {
        let p = identity_policy("kms:Decrypt", &key(), "eu-west-1");
        assert_eq!(
            p["Statement"][0]["Condition"]["StringEquals"]["kms:ViaService"],
            "ec2.eu-west-1.amazonaws.com"
        );
    }

    #[test]
    fn key_policy_statement_names_the_role_and_ec2() {
        let role =
            PrincipalArn::parse("arn:aws:iam::111122223333:role/instance-scheduler-job").unwrap();
        let p = key_policy_statement(&role, "eu-west-1");
        let s = &p["Statement"][0];
        assert_eq!(s["Principal"]["AWS"], role.as_str());
        assert_eq!(
            s["Action"],
            json!(["kms:CreateGrant", "kms:ListGrants", "kms:RevokeGrant"])
        );
        assert_eq!(
            s["Condition"]["StringEquals"]["kms:ViaService"],
            "ec2.eu-west-1.amazonaws.com"
        );
        assert_eq!(s["Sid"], "AllowEc2GrantsForinstanceschedulerjob");
    }

    #[test]
    fn policy_commands_target_users_and_roles() {
        let user = PrincipalArn::parse("arn:aws:iam::111122223333:user/ops-alice").unwrap();
        assert!(put_policy_command(Some(&user))
            .starts_with("aws iam put-user-policy --user-name ops-alice "));
        let role = PrincipalArn::parse("arn:aws:iam::111122223333:role/path/job").unwrap();
        assert!(
            put_policy_command(Some(&role)).starts_with("aws iam put-role-policy --role-name job ")
        );
    }
}
