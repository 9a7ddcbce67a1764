//! The identifiers this doctor adds to the project's own (`InstanceId`,
//! `VolumeId` come from `start-doctor-core`): snapshots, instance types and
//! Availability Zones. Each is validated once, where it is read, so that it
//! is safe to print in a shell command or a Slack message afterwards.

use std::fmt;

use serde::{Deserialize, Serialize};

pub use start_doctor_core::ids::{InstanceId, VolumeId};

/// An EBS snapshot id (`snap-` followed by 8 or 17 lowercase hex digits).
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct SnapshotId(String);

impl SnapshotId {
    /// Parses an exact id as `describe-volumes` writes it.
    pub fn parse(text: &str) -> Option<Self> {
        let hex = text.strip_prefix("snap-")?;
        let ok = matches!(hex.len(), 8 | 17)
            && hex
                .bytes()
                .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b));
        ok.then(|| Self(text.to_owned()))
    }

    /// The id as AWS writes it.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// An instance type such as `m5.large` or `u-6tb1.112xlarge`: lowercase
/// letters, digits, `-`, and one `.` between family and size.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct InstanceType(String);

impl InstanceType {
    /// Parses a type name; `None` for anything that could not be one.
    pub fn parse(text: &str) -> Option<Self> {
        let (family, size) = text.split_once('.')?;
        let part = |p: &str| {
            !p.is_empty()
                && p.len() <= 32
                && p.bytes()
                    .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
        };
        (part(family) && part(size)).then(|| Self(text.to_owned()))
    }

    /// The family (`m5` of `m5.large`).
    pub fn family(&self) -> &str {
        self.0.split_once('.').map_or(self.0.as_str(), |(f, _)| f)
    }

    /// The name as AWS writes it.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// An Availability Zone name such as `eu-west-1a` (lowercase letters,
/// digits and `-`), with the Region it belongs to.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct Zone(String);

impl Zone {
    /// Parses a zone name; `None` when it is not one.
    pub fn parse(text: &str) -> Option<Self> {
        let ok = (4..=40).contains(&text.len())
            && text
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
            && start_doctor_core::ids::region_of_zone(text).is_some();
        ok.then(|| Self(text.to_owned()))
    }

    /// The Region of the zone (`eu-west-1` of `eu-west-1a`).
    pub fn region(&self) -> String {
        start_doctor_core::ids::region_of_zone(&self.0).unwrap_or_default()
    }

    /// The name as AWS writes it.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

macro_rules! string_id {
    ($name:ident) => {
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

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }
    };
}

string_id!(SnapshotId);
string_id!(InstanceType);
string_id!(Zone);

/// Whether `text` is a 12-digit AWS account id.
pub fn is_account(text: &str) -> bool {
    text.len() == 12 && text.bytes().all(|b| b.is_ascii_digit())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn snapshot_ids() {
        assert!(SnapshotId::parse("snap-0123456789abcdef0").is_some());
        assert!(SnapshotId::parse("snap-01234567").is_some());
        assert!(SnapshotId::parse("snap-0123456789ABCDEF0").is_none());
        assert!(SnapshotId::parse("snap-012345").is_none());
        assert!(SnapshotId::parse("vol-0123456789abcdef0").is_none());
    }

    #[test]
    fn instance_types() {
        let t = InstanceType::parse("m5.large").unwrap();
        assert_eq!(t.family(), "m5");
        assert!(InstanceType::parse("u-6tb1.112xlarge").is_some());
        assert!(InstanceType::parse("m5").is_none());
        assert!(InstanceType::parse("m5.large; rm -rf /").is_none());
        assert!(InstanceType::parse("M5.large").is_none());
    }

    #[test]
    fn zones_know_their_region() {
        let z = Zone::parse("eu-west-1a").unwrap();
        assert_eq!(z.region(), "eu-west-1");
        assert_eq!(
            Zone::parse("us-gov-west-1b").unwrap().region(),
            "us-gov-west-1"
        );
        assert!(Zone::parse("eu-west-1a\n").is_none());
        assert!(Zone::parse("nowhere").is_none());
    }
}
