//! Identifiers of the start doctor: KMS keys and IAM principals. The ids
//! every doctor shares (instance, volume, account, region) are in
//! `start_doctor_core::ids`.

use std::fmt;

use serde::{Deserialize, Serialize};

/// A KMS key reference as complete as the evidence allows: a key ARN when
/// known, otherwise the key id or alias that was used.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct KeyArn(String);

impl TryFrom<String> for KeyArn {
    type Error = String;

    fn try_from(s: String) -> Result<Self, String> {
        Self::parse(&s).ok_or_else(|| format!("not a valid KeyArn: {s:?}"))
    }
}

impl From<KeyArn> for String {
    fn from(id: KeyArn) -> String {
        id.0
    }
}

impl KeyArn {
    /// Accepts a key ARN (`arn:<partition>:kms:<region>:<account>:key/<id>`)
    /// whose parts are made of the characters AWS uses (so that it is safe
    /// in a command line and a URL): partition and region lower-case
    /// letters, digits and `-`, a 12-digit account, a key id of letters,
    /// digits and `-`.
    pub fn parse(s: &str) -> Option<Self> {
        let mut parts = s.splitn(6, ':');
        let lower = |p: &str| {
            !p.is_empty()
                && p.bytes()
                    .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
        };
        let ok = parts.next() == Some("arn")
            && parts.next().is_some_and(lower)
            && parts.next() == Some("kms")
            && parts.next().is_some_and(lower)
            && parts
                .next()
                .is_some_and(|a| a.len() == 12 && a.bytes().all(|b| b.is_ascii_digit()))
            && parts
                .next()
                .and_then(|r| r.strip_prefix("key/"))
                .is_some_and(is_key_id);
        ok.then(|| Self(s.to_owned()))
    }

    /// Finds a key ARN inside free text such as a KMS error message.
    pub fn find_in(text: &str) -> Option<Self> {
        text.match_indices("arn:").find_map(|(i, _)| {
            let token = text[i..]
                .split(|c: char| c.is_whitespace() || matches!(c, '\'' | '"' | ',' | ')'))
                .next()?
                .trim_end_matches('.');
            Self::parse(token)
        })
    }

    /// Builds a key ARN from a bare key id (a UUID or `mrk-` id) and the
    /// partition, region and account the call was made in.
    pub fn from_key_id(key_id: &str, partition: &str, region: &str, account: &str) -> Option<Self> {
        Self::parse(&format!(
            "arn:{partition}:kms:{region}:{account}:key/{key_id}"
        ))
    }

    /// The partition part of the ARN (`aws`, `aws-cn`, `aws-us-gov`).
    pub fn partition(&self) -> &str {
        self.0.split(':').nth(1).unwrap_or_default()
    }

    /// The account part of the ARN: the account that owns the key.
    pub fn account(&self) -> &str {
        self.0.split(':').nth(4).unwrap_or_default()
    }

    /// The ARN text.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The region part of the ARN.
    pub fn region(&self) -> &str {
        self.0.split(':').nth(3).unwrap_or_default()
    }

    /// The key id part of the ARN (after `key/`).
    pub fn key_id(&self) -> &str {
        self.0.rsplit('/').next().unwrap_or_default()
    }
}

impl fmt::Display for KeyArn {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// Whether `id` looks like a KMS key id: letters, digits and `-`.
fn is_key_id(id: &str) -> bool {
    !id.is_empty() && id.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
}

/// The kind of IAM principal a policy can be attached to.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum PrincipalKind {
    /// An IAM role (also the issuer of an assumed-role session).
    Role,
    /// An IAM user.
    User,
    /// Anything else: the account root, a federated user.
    Other,
}

/// The pseudo-role EC2 uses for an instance's infrastructure calls
/// (`assumed-role/aws:ec2-infrastructure/<instance-id>`, grantee
/// `<account>:aws:ec2-infrastructure:<instance-id>`).
pub const EC2_INFRASTRUCTURE: &str = "aws:ec2-infrastructure";

/// The IAM role or user behind an API call. An assumed-role session ARN is
/// turned into the role ARN, because that is where a policy belongs.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct PrincipalArn(String);

impl TryFrom<String> for PrincipalArn {
    type Error = String;

    fn try_from(s: String) -> Result<Self, String> {
        Self::parse(&s).ok_or_else(|| format!("not a valid PrincipalArn: {s:?}"))
    }
}

impl From<PrincipalArn> for String {
    fn from(id: PrincipalArn) -> String {
        id.0
    }
}

impl PrincipalArn {
    /// Accepts an IAM ARN (`arn:aws:iam::…`) as is and turns an STS
    /// assumed-role ARN into its role ARN. The role path is not in the
    /// session ARN; callers that know it should pass the session issuer ARN.
    pub fn parse(s: &str) -> Option<Self> {
        let mut parts = s.splitn(6, ':');
        let (arn, partition, service, _region, account, resource) = (
            parts.next()?,
            parts.next()?,
            parts.next()?,
            parts.next()?,
            parts.next()?,
            parts.next()?,
        );
        if arn != "arn" || partition.is_empty() || account.len() != 12 {
            return None;
        }
        match service {
            // EC2 itself, acting with an instance's infrastructure
            // credentials: never a principal anyone can fix.
            _ if resource.contains(EC2_INFRASTRUCTURE) => None,
            "iam" if !resource.is_empty() => Some(Self(s.to_owned())),
            "sts" => {
                let role = resource.strip_prefix("assumed-role/")?.split('/').next()?;
                (!role.is_empty())
                    .then(|| Self(format!("arn:{partition}:iam::{account}:role/{role}")))
            }
            _ => None,
        }
    }

    /// The ARN text.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// Whether this is a role, a user or something else.
    pub fn kind(&self) -> PrincipalKind {
        let resource = self.0.splitn(6, ':').nth(5).unwrap_or_default();
        if resource.starts_with("role/") {
            PrincipalKind::Role
        } else if resource.starts_with("user/") {
            PrincipalKind::User
        } else {
            PrincipalKind::Other
        }
    }

    /// The role or user name (the last path segment).
    pub fn name(&self) -> &str {
        self.0.rsplit('/').next().unwrap_or_default()
    }

    /// The account the principal belongs to.
    pub fn account(&self) -> &str {
        self.0.split(':').nth(4).unwrap_or_default()
    }

    /// The partition of the ARN.
    pub fn partition(&self) -> &str {
        self.0.split(':').nth(1).unwrap_or_default()
    }

    /// The resource part after `role/` or `user/`: path and name.
    fn path_and_name(&self) -> &str {
        let resource = self.0.splitn(6, ':').nth(5).unwrap_or_default();
        resource
            .strip_prefix("role/")
            .or_else(|| resource.strip_prefix("user/"))
            .unwrap_or(resource)
    }

    /// A service-linked role (`role/aws-service-role/<service>/...`): its
    /// policies belong to AWS and cannot be edited.
    pub fn is_service_linked_role(&self) -> bool {
        self.kind() == PrincipalKind::Role && self.path_and_name().starts_with("aws-service-role/")
    }

    /// A role that IAM Identity Center manages
    /// (`role/aws-reserved/sso.amazonaws.com/...`, `AWSReservedSSO_*`): it
    /// is changed through its permission set, not in IAM.
    pub fn is_identity_center_role(&self) -> bool {
        self.kind() == PrincipalKind::Role
            && (self
                .path_and_name()
                .starts_with("aws-reserved/sso.amazonaws.com/")
                || self.name().starts_with("AWSReservedSSO_"))
    }

    /// For an Identity Center role `AWSReservedSSO_<PermissionSet>_<hex>`,
    /// the permission set's name.
    pub fn permission_set_name(&self) -> Option<&str> {
        let rest = self.name().strip_prefix("AWSReservedSSO_")?;
        let (name, suffix) = rest.rsplit_once('_')?;
        (!name.is_empty() && suffix.bytes().all(|b| b.is_ascii_hexdigit())).then_some(name)
    }
}

impl fmt::Display for PrincipalArn {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn key_arns_are_found_in_denial_messages() {
        let msg = "User: arn:aws:sts::111122223333:assumed-role/job/s is not authorized to perform: \
                   kms:CreateGrant on resource: arn:aws:kms:eu-west-1:111122223333:key/1234abcd-12ab because no";
        let key = KeyArn::find_in(msg).unwrap();
        assert_eq!(
            key.as_str(),
            "arn:aws:kms:eu-west-1:111122223333:key/1234abcd-12ab"
        );
        assert_eq!(key.region(), "eu-west-1");
        assert_eq!(key.key_id(), "1234abcd-12ab");
        let quoted = "Key 'arn:aws:kms:eu-west-1:111122223333:key/abc' does not exist";
        assert_eq!(KeyArn::find_in(quoted).unwrap().key_id(), "abc");
        assert!(KeyArn::parse("alias/aws/ebs").is_none());
    }

    #[test]
    fn session_arns_become_role_arns() {
        let p =
            PrincipalArn::parse("arn:aws:sts::111122223333:assumed-role/scheduler/run-1").unwrap();
        assert_eq!(p.as_str(), "arn:aws:iam::111122223333:role/scheduler");
        assert_eq!(p.kind(), PrincipalKind::Role);
        let u = PrincipalArn::parse("arn:aws:iam::111122223333:user/ops/alice").unwrap();
        assert_eq!((u.kind(), u.name()), (PrincipalKind::User, "alice"));
        assert!(PrincipalArn::parse("arn:aws:sts::111122223333:federated-user/bob").is_none());
    }
}
