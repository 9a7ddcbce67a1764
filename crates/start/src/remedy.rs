//! Remediation: the one-sentence summary and the concrete fix for each
//! cause, with complete policy documents and copyable commands.
//!
//! Policies are least privilege. The identity policy allows only the KMS
//! action that was denied, only on the keys' ARNs, and for `CreateGrant`
//! only for grants to AWS resources (`kms:GrantIsForAWSResource`). The
//! key-policy statement allows the principal the grant operations only via
//! EC2 in the key's region (`kms:ViaService`).
//!
//! A fix must be one the user can apply: a service-linked role's policies
//! belong to AWS, so its access goes in the key policy (or a grant, for a
//! key in another account); a role that IAM Identity Center manages is
//! changed through its permission set; an instance whose launch ended
//! terminated is launched again, never started. Every value that reaches a
//! command line is validated by its type (ids, key ARNs) or shell-quoted.

use serde_json::{json, Value};

use crate::diagnosis::{Cause, Remediation, RemediationKind};
use crate::ids::{KeyArn, PrincipalArn, PrincipalKind};
use start_doctor_core::ids::{InstanceId, VolumeId};

/// What the rules know that the fix needs.
#[derive(Clone, Debug)]
pub struct FixContext<'a> {
    /// The instance that failed.
    pub instance_id: &'a InstanceId,
    /// The role or user that started it.
    pub principal: Option<&'a PrincipalArn>,
    /// Every key whose use failed in the attempt, the first first.
    pub keys: &'a [KeyArn],
    /// The instance's region.
    pub region: Option<&'a str>,
    /// The KMS action that was denied, e.g. `kms:CreateGrant`.
    pub denied_action: Option<&'a str>,
    /// Where an explicit deny sits, e.g. `service control policy`.
    pub deny_source: Option<String>,
    /// The reason clause of a denial that names no policy start-doctor
    /// knows how to fix (e.g. `because no VPC endpoint policy allows ...`).
    pub denial_clause: Option<String>,
    /// `StateReason.Message`.
    pub state_reason_message: Option<&'a str>,
    /// The instance's volumes on the keys.
    pub volume_ids: &'a [VolumeId],
    /// The attempt was a launch that ended terminated: launch again, never
    /// start.
    pub launched: bool,
}

/// Quotes `s` for a POSIX shell when it holds anything but characters that
/// are safe bare.
pub fn shell_quote(s: &str) -> String {
    let safe = !s.is_empty()
        && s.bytes().all(|b| {
            b.is_ascii_alphanumeric()
                || matches!(
                    b,
                    b'-' | b'_' | b'.' | b'/' | b':' | b'=' | b'@' | b',' | b'+'
                )
        });
    if safe {
        s.to_owned()
    } else {
        format!("'{}'", s.replace('\'', r"'\''"))
    }
}

impl FixContext<'_> {
    fn who(&self) -> String {
        self.principal
            .map_or_else(|| "the caller".to_owned(), |p| p.to_string())
    }

    fn key(&self) -> Option<&KeyArn> {
        self.keys.first()
    }

    fn key_text(&self) -> String {
        match self.keys {
            [] => "its KMS key".to_owned(),
            [one] => format!("KMS key {one}"),
            many => format!(
                "KMS keys {}",
                many.iter()
                    .map(KeyArn::as_str)
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
        }
    }

    fn action(&self) -> &str {
        self.denied_action.unwrap_or("kms:CreateGrant")
    }

    fn region(&self) -> String {
        let region = self
            .region
            .or_else(|| self.key().map(KeyArn::region))
            .filter(|r| !r.is_empty())
            .unwrap_or("<region>");
        shell_quote(region)
    }

    fn key_arg(&self) -> String {
        self.key()
            .map_or_else(|| "<key-arn>".to_owned(), |k| shell_quote(k.as_str()))
    }

    /// The step that gets the instance going again once the fix is in.
    fn start_again(&self) -> String {
        if self.launched {
            format!(
                "Launch again: {} ended terminated and cannot be started. An Auto Scaling group launches a replacement by itself once the fix is in (watch `aws autoscaling describe-scaling-activities --region {} --auto-scaling-group-name <group>`); otherwise re-run the launch (the EC2 Fleet or Spot request, or `aws ec2 run-instances --region {} --launch-template LaunchTemplateId=<id>,Version=<version>`).",
                self.instance_id,
                self.region(),
                self.region()
            )
        } else {
            format!(
                "Start the instance again: aws ec2 start-instances --region {} --instance-ids {}",
                self.region(),
                self.instance_id
            )
        }
    }

    /// Every key, one per command, for steps that must run for each.
    fn each_key(&self, command: impl Fn(&str) -> String) -> Vec<String> {
        if self.keys.is_empty() {
            return vec![command("<key-arn>")];
        }
        self.keys
            .iter()
            .map(|k| command(&shell_quote(k.as_str())))
            .collect()
    }
}

/// The cause in one sentence.
pub fn summary(cause: Cause, fix: &FixContext) -> String {
    let i = fix.instance_id;
    let who = fix.who();
    let key = fix.key_text();
    let action = fix.action();
    let failed = if fix.launched {
        "failed to launch"
    } else {
        "failed to start"
    };
    match cause {
        Cause::KmsIdentityPolicyMissing => format!(
            "{i} {failed} because no identity-based policy allows {who} {action} on {key}, which EC2 needs to attach the encrypted volume."
        ),
        Cause::KmsKeyPolicyMissing => format!(
            "{i} {failed} because the key policy of {key} neither allows {who} {action} nor lets IAM policies grant it."
        ),
        Cause::KmsExplicitDeny => format!(
            "{i} {failed} because an explicit deny in {} blocks {who} from {action} on {key}.",
            fix.deny_source.as_deref().map_or_else(|| "a policy".to_owned(), |s| format!("a {s}"))
        ),
        Cause::KmsAccessDenied => match &fix.denial_clause {
            Some(clause) => format!(
                "{i} {failed} because KMS denied {who} {action} on {key} (\"{clause}\")."
            ),
            None => format!(
                "{i} {failed} because KMS denied {who} {action} on {key}; the evidence does not say which policy denies it."
            ),
        },
        Cause::KmsPermissionsBoundaryMissing => format!(
            "{i} {failed} because the permissions boundary of {who} does not allow {action} on {key}."
        ),
        Cause::KmsSessionPolicyMissing => format!(
            "{i} {failed} because the session policy of {who}'s session does not allow {action} on {key}."
        ),
        Cause::KmsKeyDisabled => format!(
            "{i} {failed} because {key}, which encrypts its volume, is disabled or not usable."
        ),
        Cause::KmsKeyPendingDeletion => format!(
            "{i} {failed} because {key}, which encrypts its volume, is scheduled for deletion."
        ),
        Cause::KmsKeyPendingImport => format!(
            "{i} {failed} because {key}, which encrypts its volume, has no key material (imported material missing or expired)."
        ),
        Cause::KmsKeyUnavailable => format!(
            "{i} {failed} because {key}, which encrypts its volume, is unavailable: its custom key store is disconnected."
        ),
        Cause::KmsKeyNotFound => format!(
            "{i} {failed} because {key}, which encrypts its volume, does not exist (deleted, or in another account or region)."
        ),
        Cause::InsufficientCapacity => format!(
            "{i} {failed} because EC2 had no capacity for its instance type in its Availability Zone."
        ),
        Cause::VolumeLimitExceeded => format!(
            "{i} {failed} because the account reached its EBS volume or storage limit."
        ),
        Cause::SnapshotNotFound => format!(
            "{i} {failed} because a snapshot its volumes are created from no longer exists."
        ),
        Cause::InternalErrorUnexplained => format!(
            "{i} went pending and then {}{}, and no KMS or capacity evidence explains why.",
            if fix.launched { "terminated" } else { "stopped" },
            fix.state_reason_message
                .map(|m| format!(" ({m})"))
                .unwrap_or_default()
        ),
    }
}

/// The `Resource` of a statement on `keys`: one ARN as a string, several
/// as a list.
fn resource(keys: &[KeyArn]) -> Value {
    match keys {
        [one] => json!(one.as_str()),
        many => json!(many.iter().map(KeyArn::as_str).collect::<Vec<_>>()),
    }
}

/// The least-privilege identity policy for the denied action on the keys.
pub fn identity_policy(action: &str, keys: &[KeyArn], region: &str) -> Value {
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
            "Resource": resource(keys),
            "Condition": condition,
        }]
    })
}

/// A statement id made of the letters and digits of `name`.
fn sid(prefix: &str, name: &str) -> String {
    format!(
        "{prefix}{}",
        name.replace(|c: char| !c.is_ascii_alphanumeric(), "")
    )
}

/// The key-policy statement that lets `principal` have EC2 create grants on
/// the key in `region`.
pub fn key_policy_statement(principal: &PrincipalArn, region: &str) -> Value {
    json!({
        "Version": "2012-10-17",
        "Statement": [{
            "Sid": sid("AllowEc2GrantsFor", principal.name()),
            "Effect": "Allow",
            "Principal": { "AWS": principal.as_str() },
            "Action": ["kms:CreateGrant", "kms:ListGrants", "kms:RevokeGrant"],
            "Resource": "*",
            "Condition": { "StringEquals": { "kms:ViaService": format!("ec2.{region}.amazonaws.com") } },
        }]
    })
}

/// The key-policy statements a service-linked role (e.g. EC2 Auto
/// Scaling's) needs to launch instances with volumes on the key, as the EC2
/// Auto Scaling User Guide lists them.
pub fn service_linked_key_policy(principal: &PrincipalArn) -> Value {
    json!({
        "Version": "2012-10-17",
        "Statement": [
            {
                "Sid": sid("AllowUseOfTheKeyBy", principal.name()),
                "Effect": "Allow",
                "Principal": { "AWS": principal.as_str() },
                "Action": ["kms:Encrypt", "kms:Decrypt", "kms:ReEncrypt*", "kms:GenerateDataKey*", "kms:DescribeKey"],
                "Resource": "*"
            },
            {
                "Sid": sid("AllowAttachmentOfPersistentResourcesBy", principal.name()),
                "Effect": "Allow",
                "Principal": { "AWS": principal.as_str() },
                "Action": "kms:CreateGrant",
                "Resource": "*",
                "Condition": { "Bool": { "kms:GrantIsForAWSResource": true } }
            }
        ]
    })
}

/// The CLI command that attaches an inline policy to the principal.
fn put_policy_command(principal: Option<&PrincipalArn>) -> String {
    let target = match principal.map(|p| (p.kind(), shell_quote(p.name()))) {
        Some((PrincipalKind::User, name)) => format!("aws iam put-user-policy --user-name {name}"),
        Some((PrincipalKind::Role, name)) => format!("aws iam put-role-policy --role-name {name}"),
        _ => "aws iam put-role-policy --role-name <role-that-starts-the-instance>".to_owned(),
    };
    format!("{target} --policy-name start-doctor-ebs-kms --policy-document file://policy.json")
}

/// The steps that put an identity policy (saved as `policy.json`) where it
/// belongs: the permission set of an Identity Center role, else the role
/// or user itself.
fn attach_identity_policy(fix: &FixContext) -> Vec<String> {
    match fix.principal {
        Some(p) if p.is_identity_center_role() => {
            let set = p.permission_set_name().map_or_else(
                || "the role's permission set".to_owned(),
                |n| format!("permission set {n}"),
            );
            vec![
                format!("{} is managed by IAM Identity Center: change {set}, not the role (IAM would revert it).", fix.who()),
                format!(
                    "Find the permission set ARN (aws sso-admin list-permission-sets --instance-arn <instance-arn>, then describe-permission-set), add the statement to its inline policy: aws sso-admin put-inline-policy-to-permission-set --instance-arn <instance-arn> --permission-set-arn <permission-set-arn> --inline-policy file://policy.json (merge with the existing inline policy: get-inline-policy-for-permission-set), or use the IAM Identity Center console."
                ),
                "Provision the permission set to the account: aws sso-admin provision-permission-set --instance-arn <instance-arn> --permission-set-arn <permission-set-arn> --target-type AWS_ACCOUNT --target-id <account-id>".to_owned(),
            ]
        }
        _ => vec![format!(
            "Attach it to {}: {}",
            fix.who(),
            put_policy_command(fix.principal)
        )],
    }
}

/// The fix for a principal whose own policies cannot be edited: a
/// service-linked role. Key-policy statements for a key in its account, a
/// grant for a key in another account.
fn service_linked_fix(fix: &FixContext, principal: &PrincipalArn) -> Remediation {
    let cross_account: Vec<&KeyArn> = fix
        .keys
        .iter()
        .filter(|k| k.account() != principal.account())
        .collect();
    let mut steps = vec![format!(
        "{} is a service-linked role: its policies belong to AWS and cannot be edited. Give it access in the key policy instead.",
        principal
    )];
    if cross_account.is_empty() {
        steps.extend(fix.each_key(|key| {
            format!("Fetch the key policy: aws kms get-key-policy --key-id {key} --policy-name default --output text > key-policy.json; add the two statements below to its Statement list; apply it: aws kms put-key-policy --key-id {key} --policy-name default --policy file://key-policy.json")
        }));
    } else {
        for key in cross_account {
            steps.push(format!(
                "{key} is in account {}: allow account {} in that key policy, then from account {} create a grant for the role: aws kms create-grant --region {} --key-id {} --grantee-principal {} --operations Decrypt Encrypt GenerateDataKey GenerateDataKeyWithoutPlaintext ReEncryptFrom ReEncryptTo CreateGrant DescribeKey",
                key.account(),
                principal.account(),
                principal.account(),
                shell_quote(key.region()),
                shell_quote(key.as_str()),
                shell_quote(principal.as_str())
            ));
        }
    }
    steps.push(fix.start_again());
    Remediation {
        kind: RemediationKind::KeyPolicy,
        steps,
        // The statements belong in the key policy, not on the role.
        attach_to: None,
        policy: Some(service_linked_key_policy(principal)),
    }
}

/// The fix for `cause`.
pub fn remediation(cause: Cause, fix: &FixContext) -> Remediation {
    let key = fix.key_arg();
    let region = fix.region();
    let denial = matches!(
        cause,
        Cause::KmsIdentityPolicyMissing
            | Cause::KmsKeyPolicyMissing
            | Cause::KmsAccessDenied
            | Cause::KmsPermissionsBoundaryMissing
            | Cause::KmsSessionPolicyMissing
    );
    if let Some(p) = fix
        .principal
        .filter(|p| denial && p.is_service_linked_role())
    {
        return service_linked_fix(fix, p);
    }
    let plain_region = fix
        .region
        .or_else(|| fix.key().map(KeyArn::region))
        .unwrap_or("<region>");
    let (kind, steps, attach_to, policy) = match cause {
        Cause::KmsIdentityPolicyMissing | Cause::KmsAccessDenied => {
            let policy = (!fix.keys.is_empty()).then(|| identity_policy(fix.action(), fix.keys, plain_region));
            let mut steps = vec![format!(
                "Save the policy below as policy.json; it allows {} only on {}.",
                fix.action(),
                if fix.keys.len() > 1 { "these keys" } else { "this key" }
            )];
            steps.extend(attach_identity_policy(fix));
            if cause == Cause::KmsAccessDenied {
                steps.push(format!(
                    "KMS did not say which policy denied it{}: if the key policy does not let IAM policies grant access, also add a key-policy statement for {} (see `aws kms get-key-policy --key-id {key} --policy-name default`); check the permissions boundary, the session policy and any VPC endpoint policy too.",
                    fix.denial_clause.as_deref().map(|c| format!(" (\"{c}\")")).unwrap_or_default(),
                    fix.who()
                ));
            }
            steps.push(fix.start_again());
            (RemediationKind::IdentityPolicy, steps, fix.principal.cloned(), policy)
        }
        Cause::KmsKeyPolicyMissing => {
            let policy = fix.principal.map(|p| key_policy_statement(p, plain_region));
            let mut steps = fix.each_key(|key| {
                format!("Fetch the key policy: aws kms get-key-policy --key-id {key} --policy-name default --output text > key-policy.json; add the statement below to its Statement list; apply it: aws kms put-key-policy --key-id {key} --policy-name default --policy file://key-policy.json")
            });
            steps.push(fix.start_again());
            (RemediationKind::KeyPolicy, steps, None, policy)
        }
        Cause::KmsPermissionsBoundaryMissing => {
            let policy = (!fix.keys.is_empty()).then(|| identity_policy(fix.action(), fix.keys, plain_region));
            let lookup = match fix.principal.map(|p| (p.kind(), shell_quote(p.name()))) {
                Some((PrincipalKind::User, name)) => format!("aws iam get-user --user-name {name} --query User.PermissionsBoundary.PermissionsBoundaryArn --output text"),
                Some((_, name)) => format!("aws iam get-role --role-name {name} --query Role.PermissionsBoundary.PermissionsBoundaryArn --output text"),
                None => "aws iam get-role --role-name <role> --query Role.PermissionsBoundary.PermissionsBoundaryArn --output text".to_owned(),
            };
            let steps = vec![
                format!("Find the permissions boundary of {}: {lookup}", fix.who()),
                "Fetch its default version (aws iam get-policy --policy-arn <boundary-arn>, then aws iam get-policy-version --policy-arn <boundary-arn> --version-id <default-version>) and add the statement below to it, saved as boundary.json.".to_owned(),
                "Publish it as the default version: aws iam create-policy-version --policy-arn <boundary-arn> --policy-document file://boundary.json --set-as-default".to_owned(),
                "The identity policies of the principal must allow the action too (a boundary only limits them).".to_owned(),
                fix.start_again(),
            ];
            (RemediationKind::PermissionsBoundary, steps, fix.principal.cloned(), policy)
        }
        Cause::KmsSessionPolicyMissing => {
            let policy = (!fix.keys.is_empty()).then(|| identity_policy(fix.action(), fix.keys, plain_region));
            let steps = vec![
                format!("The session of {} was created with a session policy (the Policy or PolicyArns of AssumeRole, AssumeRoleWithWebIdentity, GetFederationToken) that does not allow {}.", fix.who(), fix.action()),
                "Add the statement below to the policy the scheduler or tool passes when it creates the session (its configuration, not IAM), or stop passing a session policy.".to_owned(),
                fix.start_again(),
            ];
            (RemediationKind::SessionPolicy, steps, fix.principal.cloned(), policy)
        }
        Cause::KmsExplicitDeny => {
            let place = fix.deny_source.clone().unwrap_or_else(|| "policy".to_owned());
            let steps = vec![
                format!(
                    "Find the Deny statement in the {place} that matches {} on {} for {}.",
                    fix.action(),
                    fix.key_text(),
                    fix.who()
                ),
                format!(
                    "Narrow it so that it does not apply when EC2 uses the key for volumes (for example exempt requests with kms:ViaService = ec2.{plain_region}.amazonaws.com or kms:GrantIsForAWSResource = true), or start the instance with a principal it does not cover."
                ),
                fix.start_again(),
            ];
            (RemediationKind::RemoveExplicitDeny, steps, fix.principal.cloned(), None)
        }
        Cause::KmsKeyDisabled => {
            let mut steps = fix.each_key(|key| {
                format!("Check the key state (aws kms describe-key --key-id {key} --query KeyMetadata.KeyState) and, if it is Disabled, enable it: aws kms enable-key --key-id {key}")
            });
            steps.push(fix.start_again());
            (RemediationKind::EnableKey, steps, None, None)
        }
        Cause::KmsKeyPendingDeletion => {
            let mut steps = fix.each_key(|key| {
                format!("Cancel the deletion: aws kms cancel-key-deletion --key-id {key}; the key is then disabled, so enable it: aws kms enable-key --key-id {key}")
            });
            steps.push(fix.start_again());
            (RemediationKind::CancelKeyDeletion, steps, None, None)
        }
        Cause::KmsKeyPendingImport => {
            let mut steps = vec!["The key's imported key material is missing or expired; enable-key cannot help: import the same key material again.".to_owned()];
            steps.extend(fix.each_key(|key| {
                format!("Get a wrapping key and import token: aws kms get-parameters-for-import --key-id {key} --wrapping-algorithm RSAES_OAEP_SHA_256 --wrapping-key-spec RSA_2048; wrap the original key material with it; then: aws kms import-key-material --key-id {key} --encrypted-key-material fileb://EncryptedKeyMaterial.bin --import-token fileb://ImportToken.bin --expiration-model KEY_MATERIAL_DOES_NOT_EXPIRE")
            }));
            steps.push("Only the original key material decrypts the volumes: material from anywhere else will not.".to_owned());
            steps.push(fix.start_again());
            (RemediationKind::ImportKeyMaterial, steps, None, None)
        }
        Cause::KmsKeyUnavailable => {
            let mut steps = fix.each_key(|key| {
                format!("Find the key's custom key store: aws kms describe-key --key-id {key} --query KeyMetadata.CustomKeyStoreId --output text")
            });
            steps.push("Check why it is disconnected: aws kms describe-custom-key-stores --custom-key-store-id <store-id> (ConnectionState, ConnectionErrorCode)".to_owned());
            steps.push("Reconnect it: aws kms connect-custom-key-store --custom-key-store-id <store-id> (for an AWS CloudHSM key store, its cluster needs an active HSM; for an external key store, its proxy must be reachable).".to_owned());
            steps.push(fix.start_again());
            (RemediationKind::ConnectKeyStore, steps, None, None)
        }
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
        Cause::InsufficientCapacity => {
            let mut steps = vec!["Retry in a few minutes; capacity changes often.".to_owned()];
            if fix.launched {
                steps.push("Or launch with more instance types or Availability Zones (the Auto Scaling group's or fleet's overrides, or another subnet).".to_owned());
            } else {
                steps.push(format!("Or change the instance type (aws ec2 modify-instance-attribute --instance-id {} --instance-type ...) and start it again.", fix.instance_id));
            }
            steps.push("For instances that must run on schedule, create an On-Demand Capacity Reservation in their Availability Zone.".to_owned());
            (RemediationKind::Capacity, steps, None, None)
        }
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
                "Point the instance's block device mapping (or its AMI or launch template) at an existing snapshot, or restore the snapshot from a backup.".to_owned(),
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

    fn key2() -> KeyArn {
        KeyArn::parse("arn:aws:kms:eu-west-1:111122223333:key/0f0f0f0f-12ab-34cd-56ef-1234567890ab")
            .unwrap()
    }

    fn instance() -> InstanceId {
        InstanceId::parse("i-0a1b2c3d4e5f60002").unwrap()
    }

    fn context<'a>(
        instance: &'a InstanceId,
        principal: Option<&'a PrincipalArn>,
        keys: &'a [KeyArn],
    ) -> FixContext<'a> {
        FixContext {
            instance_id: instance,
            principal,
            keys,
            region: Some("eu-west-1"),
            denied_action: Some("kms:CreateGrant"),
            deny_source: None,
            denial_clause: None,
            state_reason_message: None,
            volume_ids: &[],
            launched: false,
        }
    }

    fn all_steps(r: &Remediation) -> String {
        r.steps.join("\n")
    }

    #[test]
    fn identity_policy_is_scoped_to_the_key_and_aws_resources() {
        let p = identity_policy("kms:CreateGrant", &[key()], "eu-west-1");
        let s = &p["Statement"][0];
        assert_eq!(p["Version"], "2012-10-17");
        assert_eq!(s["Effect"], "Allow");
        assert_eq!(s["Action"], "kms:CreateGrant");
        assert_eq!(s["Resource"], key().as_str());
        assert_eq!(s["Condition"]["Bool"]["kms:GrantIsForAWSResource"], "true");
    }

    #[test]
    fn one_statement_covers_every_denied_key() {
        let p = identity_policy("kms:CreateGrant", &[key(), key2()], "eu-west-1");
        assert_eq!(p["Statement"].as_array().map(Vec::len), Some(1));
        assert_eq!(
            p["Statement"][0]["Resource"],
            json!([key().as_str(), key2().as_str()])
        );
    }

    #[test]
    fn other_denied_actions_are_limited_to_ec2() {
        let p = identity_policy("kms:Decrypt", &[key()], "eu-west-1");
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

    #[test]
    fn a_service_linked_role_is_fixed_in_the_key_policy() {
        let slr = PrincipalArn::parse("arn:aws:iam::111122223333:role/aws-service-role/autoscaling.amazonaws.com/AWSServiceRoleForAutoScaling").unwrap();
        let i = instance();
        let keys = [key()];
        let mut fix = context(&i, Some(&slr), &keys);
        fix.launched = true;
        let r = remediation(Cause::KmsIdentityPolicyMissing, &fix);
        assert_eq!(r.kind, RemediationKind::KeyPolicy);
        let steps = all_steps(&r);
        assert!(!steps.contains("put-role-policy"), "{steps}");
        assert!(!steps.contains("start-instances"), "{steps}");
        assert!(steps.contains("put-key-policy"), "{steps}");
        let policy = r.policy.unwrap();
        assert_eq!(policy["Statement"][0]["Principal"]["AWS"], slr.as_str());
        assert_eq!(
            policy["Statement"][0]["Action"],
            json!([
                "kms:Encrypt",
                "kms:Decrypt",
                "kms:ReEncrypt*",
                "kms:GenerateDataKey*",
                "kms:DescribeKey"
            ])
        );
        assert_eq!(policy["Statement"][1]["Action"], "kms:CreateGrant");
        assert_eq!(
            policy["Statement"][1]["Condition"]["Bool"]["kms:GrantIsForAWSResource"],
            true
        );
    }

    #[test]
    fn a_service_linked_role_gets_a_grant_for_a_key_in_another_account() {
        let slr = PrincipalArn::parse("arn:aws:iam::111122223333:role/aws-service-role/autoscaling.amazonaws.com/AWSServiceRoleForAutoScaling").unwrap();
        let other = KeyArn::parse(
            "arn:aws:kms:eu-west-1:444455556666:key/1234abcd-12ab-34cd-56ef-1234567890ab",
        )
        .unwrap();
        let i = instance();
        let keys = [other];
        let r = remediation(Cause::KmsAccessDenied, &context(&i, Some(&slr), &keys));
        let steps = all_steps(&r);
        assert!(steps.contains("aws kms create-grant"), "{steps}");
        assert!(steps.contains("--grantee-principal arn:aws:iam::111122223333:role/aws-service-role/autoscaling.amazonaws.com/AWSServiceRoleForAutoScaling"), "{steps}");
    }

    #[test]
    fn an_identity_center_role_is_fixed_in_its_permission_set() {
        let sso = PrincipalArn::parse("arn:aws:iam::111122223333:role/aws-reserved/sso.amazonaws.com/eu-west-1/AWSReservedSSO_Operators_0123456789abcdef").unwrap();
        let i = instance();
        let keys = [key()];
        let r = remediation(
            Cause::KmsIdentityPolicyMissing,
            &context(&i, Some(&sso), &keys),
        );
        assert_eq!(r.kind, RemediationKind::IdentityPolicy);
        let steps = all_steps(&r);
        assert!(!steps.contains("put-role-policy"), "{steps}");
        assert!(
            steps.contains("put-inline-policy-to-permission-set"),
            "{steps}"
        );
        assert!(steps.contains("permission set Operators"), "{steps}");
    }

    #[test]
    fn a_terminated_launch_is_launched_again_never_started() {
        let i = instance();
        let keys = [key()];
        for cause in Cause::ALL {
            let mut fix = context(&i, None, &keys);
            fix.launched = true;
            let steps = all_steps(&remediation(cause, &fix));
            assert!(!steps.contains("start-instances"), "{cause}: {steps}");
        }
    }

    #[test]
    fn key_state_fixes_name_the_right_api() {
        let i = instance();
        let keys = [key()];
        let fix = context(&i, None, &keys);
        let import = all_steps(&remediation(Cause::KmsKeyPendingImport, &fix));
        assert!(import.contains("aws kms import-key-material"), "{import}");
        assert!(!import.contains("aws kms enable-key"), "{import}");
        let store = all_steps(&remediation(Cause::KmsKeyUnavailable, &fix));
        assert!(
            store.contains("aws kms connect-custom-key-store"),
            "{store}"
        );
        let deletion = all_steps(&remediation(Cause::KmsKeyPendingDeletion, &fix));
        assert!(
            deletion.contains("aws kms cancel-key-deletion --key-id arn:aws:kms:"),
            "{deletion}"
        );
    }

    #[test]
    fn boundary_and_session_fixes_go_where_the_policy_lives() {
        let role = PrincipalArn::parse("arn:aws:iam::111122223333:role/ops/scheduler").unwrap();
        let i = instance();
        let keys = [key()];
        let fix = context(&i, Some(&role), &keys);
        let boundary = remediation(Cause::KmsPermissionsBoundaryMissing, &fix);
        assert_eq!(boundary.kind, RemediationKind::PermissionsBoundary);
        assert!(all_steps(&boundary)
            .contains("aws iam get-role --role-name scheduler --query Role.PermissionsBoundary"));
        assert!(all_steps(&boundary).contains("create-policy-version"));
        let session = remediation(Cause::KmsSessionPolicyMissing, &fix);
        assert_eq!(session.kind, RemediationKind::SessionPolicy);
        assert!(!all_steps(&session).contains("put-role-policy"));
    }

    #[test]
    fn unsafe_values_are_shell_quoted() {
        assert_eq!(shell_quote("eu-west-1"), "eu-west-1");
        assert_eq!(shell_quote("a b"), "'a b'");
        assert_eq!(shell_quote("it's"), r"'it'\''s'");
        assert_eq!(shell_quote("$(reboot)"), "'$(reboot)'");
        assert_eq!(shell_quote(""), "''");
    }

    #[test]
    fn every_policy_is_valid_json_with_version_and_statements() {
        let role = PrincipalArn::parse("arn:aws:iam::111122223333:role/job").unwrap();
        let i = instance();
        let keys = [key(), key2()];
        for cause in Cause::ALL {
            let r = remediation(cause, &context(&i, Some(&role), &keys));
            assert!(!r.steps.is_empty(), "{cause}");
            if let Some(policy) = r.policy {
                let text = serde_json::to_string(&policy).unwrap();
                let back: Value = serde_json::from_str(&text).unwrap();
                assert_eq!(back["Version"], "2012-10-17", "{cause}");
                assert!(
                    back["Statement"].as_array().is_some_and(|s| !s.is_empty()),
                    "{cause}"
                );
            }
        }
    }
}
