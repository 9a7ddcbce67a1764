//! The request context: who asks, for what, on which key, with which
//! condition keys.
//!
//! Condition keys are stored lower-cased (IAM condition key names are
//! case-insensitive). Each key is in one of three states:
//! * present with values ([`Request::keys`]),
//! * known to be absent ([`Request::absent_keys`], or any key when
//!   [`Request::unlisted_keys_absent`] is true),
//! * unknown: present in the real request but its value cannot be known here
//!   ([`Request::unknown_keys`], [`Request::unknown_prefixes`], and every key
//!   that is neither present nor listed absent when `unlisted_keys_absent` is
//!   false). Conditions on unknown keys evaluate to "unresolved".

use std::collections::{BTreeMap, BTreeSet};

use thiserror::Error;

use super::matching::Arn;

/// The action EC2 asks KMS to authorize.
pub const CREATE_GRANT: &str = "kms:CreateGrant";

/// Grant operations assumed for the grant EC2 creates to attach a volume.
/// Source: KMS Developer Guide "Examining grants" shows the grant created for
/// the `aws:ec2-infrastructure` grantee with `"Operations": ["Decrypt"]` and an
/// `EncryptionContextSubset` constraint on `aws:ebs:id`.
pub const EBS_ATTACH_GRANT_OPERATIONS: &[&str] = &["Decrypt"];

/// Errors building a [`Request`].
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum RequestError {
    /// The principal ARN is not an IAM user/role ARN.
    #[error("principal ARN {0:?} is not an IAM role or user ARN (arn:<partition>:iam::<account>:role/... or user/...)")]
    BadPrincipalArn(String),
    /// The key ARN is not a KMS key ARN.
    #[error(
        "key ARN {0:?} is not a KMS key ARN (arn:<partition>:kms:<region>:<account>:key/<id>)"
    )]
    BadKeyArn(String),
    /// Principal and key are in different partitions: such a request cannot exist.
    #[error("principal partition {principal:?} differs from key partition {key:?}")]
    PartitionMismatch {
        /// Partition of the principal ARN.
        principal: String,
        /// Partition of the key ARN.
        key: String,
    },
    /// The region is empty.
    #[error("region must not be empty")]
    EmptyRegion,
}

/// The kind of IAM principal making the request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PrincipalType {
    /// An IAM role (the request is made by one of its sessions).
    Role,
    /// An IAM user.
    User,
}

/// The request context for one authorization decision.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Request {
    /// The principal's ARN: the role ARN with its path (e.g.
    /// `arn:aws:iam::111122223333:role/ops/scheduler`) or a user ARN.
    pub principal_arn: String,
    /// Role or user.
    pub principal_type: PrincipalType,
    /// The role name (last path segment) or user name.
    pub principal_name: String,
    /// The principal's account id.
    pub principal_account: String,
    /// The assumed-role session ARN
    /// (`arn:<p>:sts::<acct>:assumed-role/<role-name>/<session>`), when known.
    pub session_arn: Option<String>,
    /// Partition, taken from the key ARN.
    pub partition: String,
    /// Principal tags (`aws:PrincipalTag/<k>`), as given.
    pub principal_tags: BTreeMap<String, String>,
    /// Whether the principal is a service-linked role (path `/aws-service-role/`).
    pub is_service_linked_role: bool,
    /// The action, e.g. `kms:CreateGrant`.
    pub action: String,
    /// The resource ARN (the KMS key ARN).
    pub resource: String,
    /// The account owning the resource (key account).
    pub resource_account: String,
    /// The region of the request.
    pub region: String,
    /// Present condition keys: lower-cased key → values.
    pub keys: BTreeMap<String, Vec<String>>,
    /// Lower-cased keys known to be present but whose value is unknown.
    pub unknown_keys: BTreeSet<String>,
    /// Lower-cased key prefixes whose keys are unknown (e.g. `aws:resourcetag/`).
    pub unknown_prefixes: BTreeSet<String>,
    /// Lower-cased keys known to be absent from the request, with the reason.
    pub absent_keys: BTreeMap<String, String>,
    /// When true, any key not present is absent; when false, keys that are
    /// neither present nor in `absent_keys` are unknown.
    pub unlisted_keys_absent: bool,
}

/// What the request context says about one condition key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum KeyLookup<'a> {
    /// The key is present with these values.
    Present(&'a [String]),
    /// The key is absent.
    Absent,
    /// The key's value cannot be known.
    Unknown,
}

impl Request {
    /// A minimal request with no condition keys, every unlisted key absent.
    /// Useful for generic evaluation and tests; see [`Request::ec2_create_grant`]
    /// for the EBS case.
    pub fn new(principal_arn: &str, action: &str, resource: &str) -> Result<Request, RequestError> {
        let (ptype, pname, pacct, ppart) = parse_principal(principal_arn)?;
        let res = Arn::parse(resource);
        Ok(Request {
            principal_arn: principal_arn.to_string(),
            principal_type: ptype,
            principal_name: pname,
            principal_account: pacct,
            session_arn: None,
            partition: res.as_ref().map(|a| a.partition.clone()).unwrap_or(ppart),
            principal_tags: BTreeMap::new(),
            is_service_linked_role: is_slr(principal_arn),
            action: action.to_string(),
            resource: resource.to_string(),
            resource_account: res.as_ref().map(|a| a.account.clone()).unwrap_or_default(),
            region: res.map(|a| a.region).unwrap_or_default(),
            keys: BTreeMap::new(),
            unknown_keys: BTreeSet::new(),
            unknown_prefixes: BTreeSet::new(),
            absent_keys: BTreeMap::new(),
            unlisted_keys_absent: true,
        })
    }

    /// The request KMS evaluates when EC2, during `RunInstances` /
    /// `StartInstances`, calls `CreateGrant` on `key_arn` on behalf of
    /// `principal_arn` to attach encrypted volume `volume_id` in `region`.
    ///
    /// Keys set (see docs/preflight-evaluation.md for sources): `kms:CallerAccount`,
    /// `kms:ViaService` (`ec2.<region>.amazonaws.com`, for partitions `aws` and
    /// `aws-us-gov`; unknown elsewhere), `kms:GrantIsForAWSResource=true`,
    /// `kms:GrantOperations` ([`EBS_ATTACH_GRANT_OPERATIONS`]),
    /// `kms:GrantConstraintType=EncryptionContextSubset`,
    /// `kms:EncryptionContextKeys=[aws:ebs:id]`,
    /// `kms:EncryptionContext:aws:ebs:id=<volume>`, `aws:PrincipalArn`,
    /// `aws:PrincipalAccount`, `aws:PrincipalType=AssumedRole|User`,
    /// `aws:PrincipalTag/<k>`, `aws:ViaAWSService=true`,
    /// `aws:PrincipalIsAWSService=false`, `aws:RequestedRegion`,
    /// `aws:ResourceAccount`.
    ///
    /// Absent: `aws:SourceIp` (EC2, not the caller, talks to KMS; see docs/preflight-evaluation.md
    /// for the caveat and [`Request::assume_source_ip_unknown`]),
    /// `aws:TagKeys` and `aws:RequestTag/*` (CreateGrant takes no tags),
    /// `aws:PrincipalTag/<k>` for tags not given (the tag set is taken as complete).
    /// Unknown: `aws:CalledVia*` (documents conflict, see docs/preflight-evaluation.md).
    /// Every other key is unknown (e.g. `aws:PrincipalOrgID`,
    /// `kms:GranteePrincipal`, `aws:ResourceTag/*`, `aws:CurrentTime`).
    pub fn ec2_create_grant<'t, I>(
        principal_arn: &str,
        principal_tags: I,
        key_arn: &str,
        region: &str,
        volume_id: &str,
    ) -> Result<Request, RequestError>
    where
        I: IntoIterator<Item = (&'t str, &'t str)>,
    {
        let (ptype, pname, pacct, ppart) = parse_principal(principal_arn)?;
        let key = Arn::parse(key_arn)
            .filter(|a| {
                a.service == "kms" && a.resource.starts_with("key/") && !a.account.is_empty()
            })
            .ok_or_else(|| RequestError::BadKeyArn(key_arn.to_string()))?;
        if ppart != key.partition {
            return Err(RequestError::PartitionMismatch {
                principal: ppart,
                key: key.partition,
            });
        }
        if region.is_empty() {
            return Err(RequestError::EmptyRegion);
        }
        let tags: BTreeMap<String, String> = principal_tags
            .into_iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        let mut r = Request {
            principal_arn: principal_arn.to_string(),
            principal_type: ptype,
            principal_name: pname,
            principal_account: pacct.clone(),
            session_arn: None,
            partition: key.partition.clone(),
            principal_tags: tags.clone(),
            is_service_linked_role: is_slr(principal_arn),
            action: CREATE_GRANT.to_string(),
            resource: key_arn.to_string(),
            resource_account: key.account.clone(),
            region: region.to_string(),
            keys: BTreeMap::new(),
            unknown_keys: BTreeSet::new(),
            unknown_prefixes: BTreeSet::new(),
            absent_keys: BTreeMap::new(),
            unlisted_keys_absent: false,
        };
        r.set("kms:CallerAccount", [pacct.as_str()]);
        match key.partition.as_str() {
            "aws" | "aws-us-gov" => {
                let via = format!("ec2.{region}.amazonaws.com");
                r.set("kms:ViaService", [via.as_str()]);
            }
            _ => r.mark_unknown("kms:ViaService"),
        }
        r.set("kms:GrantIsForAWSResource", ["true"]);
        r.set(
            "kms:GrantOperations",
            EBS_ATTACH_GRANT_OPERATIONS.iter().copied(),
        );
        r.set("kms:GrantConstraintType", ["EncryptionContextSubset"]);
        r.set("kms:EncryptionContextKeys", ["aws:ebs:id"]);
        r.set("kms:EncryptionContext:aws:ebs:id", [volume_id]);
        r.set("aws:PrincipalArn", [principal_arn]);
        r.set("aws:PrincipalAccount", [pacct.as_str()]);
        r.set(
            "aws:PrincipalType",
            [match ptype {
                PrincipalType::Role => "AssumedRole",
                PrincipalType::User => "User",
            }],
        );
        for (k, v) in &tags {
            r.set(&format!("aws:PrincipalTag/{k}"), [v.as_str()]);
        }
        r.set("aws:ViaAWSService", ["true"]);
        r.set("aws:PrincipalIsAWSService", ["false"]);
        r.set("aws:RequestedRegion", [region]);
        r.set("aws:ResourceAccount", [key.account.as_str()]);
        // Tags not given for the principal: those keys are absent only if the
        // caller gave the complete tag set; we assume the given set is complete.
        r.absent_keys.insert(
            "aws:principaltag/".into(),
            "principal has no tag with this key (tags given are taken as complete)".into(),
        );
        r.absent_keys.insert(
            "aws:sourceip".into(),
            "EC2 makes the KMS call on the principal's behalf; the caller's IP is not in the KMS request (CloudTrail shows sourceIPAddress \"AWS Internal\")".into(),
        );
        // aws:CalledVia*: the 2023 IAM key reference lists the services that set
        // it (EC2 is not among them), while the current "Forward access
        // sessions" page says FAS requests populate it with the calling
        // service. The documents conflict, so the value is left unknown.
        for k in ["aws:calledvia", "aws:calledviafirst", "aws:calledvialast"] {
            r.unknown_keys.insert(k.into());
        }
        r.absent_keys.insert(
            "aws:tagkeys".into(),
            "CreateGrant does not take tags in the request".into(),
        );
        r.absent_keys.insert(
            "aws:requesttag/".into(),
            "CreateGrant does not take tags in the request".into(),
        );
        r.unknown_prefixes.insert("aws:resourcetag/".into());
        Ok(r)
    }

    /// Set a condition key (name matched case-insensitively) to these values.
    pub fn set<'a, I>(&mut self, key: &str, values: I)
    where
        I: IntoIterator<Item = &'a str>,
    {
        let k = key.to_ascii_lowercase();
        self.unknown_keys.remove(&k);
        self.absent_keys.remove(&k);
        self.keys
            .insert(k, values.into_iter().map(str::to_string).collect());
    }

    /// Mark a condition key as present with an unknowable value.
    pub fn mark_unknown(&mut self, key: &str) {
        let k = key.to_ascii_lowercase();
        self.keys.remove(&k);
        self.absent_keys.remove(&k);
        self.unknown_keys.insert(k);
    }

    /// Mark a condition key as absent, with a reason shown in explanations.
    pub fn mark_absent(&mut self, key: &str, reason: &str) {
        let k = key.to_ascii_lowercase();
        self.keys.remove(&k);
        self.unknown_keys.remove(&k);
        self.absent_keys.insert(k, reason.to_string());
    }

    /// Treat `aws:SourceIp` as unknown instead of absent (conservative mode for
    /// the documentation conflict described in docs/preflight-evaluation.md).
    pub fn assume_source_ip_unknown(&mut self) {
        self.mark_unknown("aws:SourceIp");
    }

    /// Set the assumed-role session ARN of the calling role session.
    pub fn with_session_arn(mut self, session_arn: &str) -> Request {
        self.session_arn = Some(session_arn.to_string());
        self
    }

    /// Override the grant operations (`kms:GrantOperations`).
    pub fn with_grant_operations(mut self, ops: &[&str]) -> Request {
        self.set("kms:GrantOperations", ops.iter().copied());
        self
    }

    /// Look a condition key up (case-insensitive).
    pub fn lookup(&self, key: &str) -> KeyLookup<'_> {
        let k = key.to_ascii_lowercase();
        if let Some(v) = self.keys.get(&k) {
            return KeyLookup::Present(v);
        }
        if self.unknown_keys.contains(&k) {
            return KeyLookup::Unknown;
        }
        if self.absent_keys.contains_key(&k) || self.unlisted_keys_absent {
            return KeyLookup::Absent;
        }
        if self
            .unknown_prefixes
            .iter()
            .any(|p| k.starts_with(p.as_str()))
        {
            return KeyLookup::Unknown;
        }
        if self
            .absent_keys
            .keys()
            .any(|p| p.ends_with('/') && k.starts_with(p.as_str()))
        {
            return KeyLookup::Absent;
        }
        KeyLookup::Unknown
    }

    /// Why a key is absent, when a reason was recorded.
    pub fn absent_reason(&self, key: &str) -> Option<&str> {
        let k = key.to_ascii_lowercase();
        if let Some(r) = self.absent_keys.get(&k) {
            return Some(r.as_str());
        }
        self.absent_keys
            .iter()
            .find(|(p, _)| p.ends_with('/') && k.starts_with(p.as_str()))
            .map(|(_, r)| r.as_str())
    }

    /// Whether principal and key are in the same account.
    pub fn same_account(&self) -> bool {
        self.principal_account == self.resource_account
    }
}

fn is_slr(principal_arn: &str) -> bool {
    Arn::parse(principal_arn)
        .map(|a| a.service == "iam" && a.resource.starts_with("role/aws-service-role/"))
        .unwrap_or(false)
}

fn parse_principal(arn: &str) -> Result<(PrincipalType, String, String, String), RequestError> {
    let bad = || RequestError::BadPrincipalArn(arn.to_string());
    let a = Arn::parse(arn).ok_or_else(bad)?;
    if a.service != "iam" || a.account.len() != 12 || !a.account.bytes().all(|b| b.is_ascii_digit())
    {
        return Err(bad());
    }
    let (ptype, rest) = if let Some(r) = a.resource.strip_prefix("role/") {
        (PrincipalType::Role, r)
    } else if let Some(r) = a.resource.strip_prefix("user/") {
        (PrincipalType::User, r)
    } else {
        return Err(bad());
    };
    let name = rest.rsplit('/').next().unwrap_or_default();
    if name.is_empty() {
        return Err(bad());
    }
    Ok((ptype, name.to_string(), a.account, a.partition))
}

#[cfg(test)]
#[allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic
)]
mod tests {
    use super::*;

    const ROLE: &str = "arn:aws:iam::111122223333:role/ops/scheduler";
    const KEY: &str = "arn:aws:kms:us-east-1:111122223333:key/1234abcd-12ab-34cd-56ef-1234567890ab";

    #[test]
    fn ec2_create_grant_context() {
        let r = Request::ec2_create_grant(ROLE, [("team", "ops")], KEY, "us-east-1", "vol-0abc")
            .unwrap();
        assert_eq!(r.action, "kms:CreateGrant");
        assert_eq!(r.principal_name, "scheduler");
        assert_eq!(r.principal_account, "111122223333");
        assert!(!r.is_service_linked_role);
        let p = |k: &str| match r.lookup(k) {
            KeyLookup::Present(v) => v.to_vec(),
            other => panic!("{k}: {other:?}"),
        };
        assert_eq!(p("kms:ViaService"), vec!["ec2.us-east-1.amazonaws.com"]);
        assert_eq!(p("KMS:CALLERACCOUNT"), vec!["111122223333"]);
        assert_eq!(p("kms:GrantIsForAWSResource"), vec!["true"]);
        assert_eq!(p("kms:EncryptionContext:aws:ebs:id"), vec!["vol-0abc"]);
        assert_eq!(p("kms:EncryptionContextKeys"), vec!["aws:ebs:id"]);
        assert_eq!(p("aws:PrincipalTag/team"), vec!["ops"]);
        assert_eq!(p("aws:PrincipalArn"), vec![ROLE]);
        assert_eq!(r.lookup("aws:SourceIp"), KeyLookup::Absent);
        assert_eq!(r.lookup("aws:CalledVia"), KeyLookup::Unknown);
        assert_eq!(r.lookup("aws:TagKeys"), KeyLookup::Absent);
        assert_eq!(r.lookup("aws:RequestTag/env"), KeyLookup::Absent);
        assert_eq!(r.lookup("aws:PrincipalTag/other"), KeyLookup::Absent);
        assert_eq!(r.lookup("aws:PrincipalOrgID"), KeyLookup::Unknown);
        assert_eq!(r.lookup("aws:ResourceTag/x"), KeyLookup::Unknown);
        assert_eq!(r.lookup("kms:GranteePrincipal"), KeyLookup::Unknown);
    }

    #[test]
    fn partition_from_key_arn() {
        let r = Request::ec2_create_grant(
            "arn:aws-cn:iam::111122223333:role/x",
            [],
            "arn:aws-cn:kms:cn-north-1:111122223333:key/k",
            "cn-north-1",
            "vol-1",
        )
        .unwrap();
        assert_eq!(r.partition, "aws-cn");
        assert_eq!(r.lookup("kms:ViaService"), KeyLookup::Unknown);
        let g = Request::ec2_create_grant(
            "arn:aws-us-gov:iam::111122223333:role/x",
            [],
            "arn:aws-us-gov:kms:us-gov-west-1:111122223333:key/k",
            "us-gov-west-1",
            "vol-1",
        )
        .unwrap();
        assert_eq!(g.partition, "aws-us-gov");
        let e = Request::ec2_create_grant(
            "arn:aws:iam::111122223333:role/x",
            [],
            "arn:aws-cn:kms:cn-north-1:111122223333:key/k",
            "cn-north-1",
            "vol-1",
        )
        .unwrap_err();
        assert!(matches!(e, RequestError::PartitionMismatch { .. }));
    }

    #[test]
    fn bad_inputs_are_errors_not_panics() {
        for p in [
            "",
            "x",
            "arn:aws:iam::1:role/x",
            "arn:aws:iam::111122223333:root",
            "arn:aws:iam::111122223333:role/",
            "arn:aws:sts::111122223333:assumed-role/x/y",
        ] {
            assert!(
                Request::ec2_create_grant(p, [], KEY, "us-east-1", "v").is_err(),
                "{p}"
            );
        }
        for k in [
            "",
            "arn:aws:kms:us-east-1:111122223333:alias/x",
            "arn:aws:s3:::b",
        ] {
            assert!(
                Request::ec2_create_grant(ROLE, [], k, "us-east-1", "v").is_err(),
                "{k}"
            );
        }
        assert_eq!(
            Request::ec2_create_grant(ROLE, [], KEY, "", "v").unwrap_err(),
            RequestError::EmptyRegion
        );
    }

    #[test]
    fn service_linked_role_detected() {
        let r = Request::ec2_create_grant(
            "arn:aws:iam::111122223333:role/aws-service-role/autoscaling.amazonaws.com/AWSServiceRoleForAutoScaling",
            [],
            KEY,
            "us-east-1",
            "vol-1",
        )
        .unwrap();
        assert!(r.is_service_linked_role);
        assert_eq!(r.principal_name, "AWSServiceRoleForAutoScaling");
    }
}
