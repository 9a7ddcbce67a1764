//! AWS identifiers every doctor uses: instance, volume, snapshot, account
//! and region.
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

resource_id!(
    /// An EBS snapshot id (`snap-` followed by 8 or 17 hex digits).
    SnapshotId,
    "snap-"
);

/// A 12-digit AWS account id.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct Account(String);

impl Account {
    /// Parses an account id: exactly 12 ASCII digits.
    pub fn parse(s: &str) -> Option<Self> {
        (s.len() == 12 && s.bytes().all(|b| b.is_ascii_digit())).then(|| Self(s.to_owned()))
    }

    /// The id as AWS writes it.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// An AWS Region name (`eu-west-1`, `us-gov-west-1`, `cn-north-1`): lowercase
/// dash-separated parts, a two-letter area first and a number last. Being
/// checked, it is safe in a URL host, a store key or a command line.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct Region(String);

impl Region {
    /// Parses a Region name.
    pub fn parse(s: &str) -> Option<Self> {
        let parts: Vec<&str> = s.split('-').collect();
        let letters = |p: &&str| !p.is_empty() && p.bytes().all(|b| b.is_ascii_lowercase());
        let ok = (3..=5).contains(&parts.len())
            && parts[0].len() == 2
            && letters(&parts[0])
            && parts[1..parts.len() - 1].iter().all(letters)
            && parts.last().is_some_and(|n| {
                !n.is_empty() && n.len() <= 2 && n.bytes().all(|b| b.is_ascii_digit())
            });
        ok.then(|| Self(s.to_owned()))
    }

    /// The Region of an Availability Zone name: the dash-separated parts
    /// up to and including the first numeric one (`eu-west-1a` ->
    /// `eu-west-1`, `us-east-1-bos-1a` -> `us-east-1`).
    pub fn of_zone(zone: &str) -> Option<Self> {
        region_of_zone(zone).and_then(|r| Self::parse(&r))
    }

    /// The name as AWS writes it.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The partition the Region is in (`aws`, `aws-cn`, `aws-us-gov`).
    pub fn partition(&self) -> &'static str {
        partition_of_region(&self.0)
    }
}

/// Where something happened: its account and Region, each when known.
/// Every store key starts with [`Origin::key`], so that equal ids of two
/// accounts or Regions never meet.
#[derive(Clone, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct Origin {
    /// The 12-digit AWS account id.
    pub account: Option<Account>,
    /// The AWS Region, e.g. `eu-west-1`.
    pub region: Option<Region>,
}

impl Origin {
    /// `account#region`, `-` for what is unknown.
    pub fn key(&self) -> String {
        format!(
            "{}#{}",
            self.account.as_deref().unwrap_or("-"),
            self.region.as_deref().unwrap_or("-")
        )
    }
}

macro_rules! string_id {
    ($name:ident, $what:literal) => {
        impl TryFrom<String> for $name {
            type Error = String;

            fn try_from(s: String) -> Result<Self, String> {
                Self::parse(&s).ok_or_else(|| format!("not {}: {s:?}", $what))
            }
        }

        impl From<$name> for String {
            fn from(id: $name) -> String {
                id.0
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }

        /// A checked id reads as the string it is (`Option<Region>::as_deref`
        /// gives an `Option<&str>`).
        impl std::ops::Deref for $name {
            type Target = str;

            fn deref(&self) -> &str {
                &self.0
            }
        }

        impl std::str::FromStr for $name {
            type Err = String;

            fn from_str(s: &str) -> Result<Self, String> {
                Self::parse(s).ok_or_else(|| format!("{s:?} is not {}", $what))
            }
        }
    };
}

string_id!(Account, "an AWS account id (12 digits)");
string_id!(Region, "an AWS Region name (such as eu-west-1)");

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
    fn accounts_are_twelve_digits() {
        assert!(Account::parse("111122223333").is_some());
        for bad in [
            "11112222333",
            "1111222233334",
            "11112222333a",
            "",
            "-11122223333",
        ] {
            assert!(Account::parse(bad).is_none(), "{bad:?}");
        }
    }

    #[test]
    fn regions_are_checked_names() {
        for good in [
            "eu-west-1",
            "us-gov-west-1",
            "cn-north-1",
            "us-isob-east-1",
            "ap-southeast-4",
            "il-central-1",
        ] {
            assert_eq!(
                Region::parse(good).map(|r| r.to_string()).as_deref(),
                Some(good)
            );
        }
        for bad in [
            "eu-west",
            "EU-west-1",
            "eu-west-1a",
            "eu-west-1|x",
            "e-west-1",
            "eu--1",
            "",
            "eu-west-123",
        ] {
            assert!(Region::parse(bad).is_none(), "{bad:?}");
        }
        assert_eq!(
            Region::of_zone("us-east-1-bos-1a").unwrap().as_str(),
            "us-east-1"
        );
        assert_eq!(Region::parse("cn-north-1").unwrap().partition(), "aws-cn");
    }
}
