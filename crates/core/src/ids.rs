//! Domain identifiers: instance, volume, KMS key and IAM principal.
//!
//! Each identifier is validated once at the parsing edge so the rest of the
//! core can rely on its shape (an `InstanceId` always starts with `i-`, a
//! `PrincipalArn` always names a role or user rather than an STS session).

use std::fmt;

use serde::{Deserialize, Serialize};

/// Returns true when `s` is `prefix` followed by 8 to 17 lowercase hex digits.
fn is_aws_resource_id(s: &str, prefix: &str) -> bool {
    s.strip_prefix(prefix).is_some_and(|rest| {
        (8..=17).contains(&rest.len())
            && rest
                .bytes()
                .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
    })
}

/// Finds the first `prefix` + hex token inside free text (a grantee principal,
/// an ARN, an error message).
fn find_aws_resource_id<'a>(text: &'a str, prefix: &str) -> Option<&'a str> {
    let mut start = 0;
    while let Some(pos) = text[start..].find(prefix) {
        let begin = start + pos;
        let end = text[begin + prefix.len()..]
            .find(|c: char| !c.is_ascii_hexdigit())
            .map_or(text.len(), |n| begin + prefix.len() + n);
        let candidate = &text[begin..end];
        if is_aws_resource_id(candidate, prefix) {
            return Some(candidate);
        }
        start = begin + prefix.len();
    }
    None
}

macro_rules! resource_id {
    ($(#[$doc:meta])* $name:ident, $prefix:literal) => {
        $(#[$doc])*
        #[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
        #[serde(try_from = "String", into = "String")]
        pub struct $name(String);

        impl TryFrom<String> for $name {
            type Error = String;

            fn try_from(s: String) -> Result<Self, String> {
                Self::parse(&s).ok_or_else(|| format!("not a valid {}: {s:?}", stringify!($name)))
            }
        }

        impl From<$name> for String {
            fn from(id: $name) -> String {
                id.0
            }
        }

        impl $name {
            /// Parses an exact id, e.g. from a `describe-*` field.
            pub fn parse(s: &str) -> Option<Self> {
                is_aws_resource_id(s, $prefix).then(|| Self(s.to_owned()))
            }

            /// Finds the first id of this kind inside longer text.
            pub fn find_in(text: &str) -> Option<Self> {
                find_aws_resource_id(text, $prefix).map(|s| Self(s.to_owned()))
            }

            /// The id as AWS writes it.
            pub fn as_str(&self) -> &str {
                &self.0
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }
    };
}

resource_id!(
    /// An EC2 instance id (`i-` followed by 8 or 17 hex digits).
    InstanceId,
    "i-"
);
resource_id!(
    /// An EBS volume id (`vol-` followed by 8 or 17 hex digits).
    VolumeId,
    "vol-"
);

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

/// The partition of an AWS region name (`cn-north-1` is in `aws-cn`,
/// `us-gov-west-1` in `aws-us-gov`, the rest in `aws`).
pub fn partition_of_region(region: &str) -> &'static str {
    if region.starts_with("cn-") {
        "aws-cn"
    } else if region.starts_with("us-gov-") {
        "aws-us-gov"
    } else {
        "aws"
    }
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

/// The region of an availability zone name: the dash-separated parts up to
/// and including the first numeric one (`eu-west-1a` -> `eu-west-1`,
/// `us-east-1-bos-1a` -> `us-east-1`).
pub fn region_of_zone(zone: &str) -> Option<String> {
    let mut parts = Vec::new();
    for part in zone.split('-') {
        let digits: String = part.chars().take_while(char::is_ascii_digit).collect();
        if digits.is_empty() {
            parts.push(part);
        } else {
            parts.push(&part[..digits.len()]);
            let region = parts.join("-");
            return (parts.len() >= 3 && zone.len() > region.len()).then_some(region);
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn zones_map_to_regions() {
        assert_eq!(region_of_zone("eu-west-1a").as_deref(), Some("eu-west-1"));
        assert_eq!(
            region_of_zone("us-east-1-bos-1a").as_deref(),
            Some("us-east-1")
        );
        assert_eq!(
            region_of_zone("us-gov-west-1b").as_deref(),
            Some("us-gov-west-1")
        );
        assert_eq!(region_of_zone("eu-west-1"), None);
    }

    #[test]
    fn instance_ids_are_found_in_grantee_principals() {
        let id = InstanceId::find_in("111122223333:aws:ec2-infrastructure:i-0a1b2c3d4e5f60002");
        assert_eq!(id.unwrap().as_str(), "i-0a1b2c3d4e5f60002");
        let sts = "arn:aws:sts::111122223333:assumed-role/aws:ec2-infrastructure/i-5d476fab";
        assert_eq!(InstanceId::find_in(sts).unwrap().as_str(), "i-5d476fab");
        assert!(InstanceId::find_in("ec2.eu-west-1.amazonaws.com").is_none());
        assert!(InstanceId::parse("i-XYZ").is_none());
        assert!(
            InstanceId::parse("i-0123456789abcdef01").is_none(),
            "18 digits"
        );
    }

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
