//! The identifiers this doctor adds to the project's shared ones
//! (instance, volume, snapshot, account, Region come from
//! `start-doctor-core`): instance types and Availability Zones. Each is
//! validated once, where it is read, so that it is safe to print in a shell
//! command or a Slack message afterwards.

use std::fmt;

use serde::{Deserialize, Serialize};

pub use start_doctor_core::ids::{Account, InstanceId, Region, SnapshotId, VolumeId};

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
            && Region::of_zone(text).is_some();
        ok.then(|| Self(text.to_owned()))
    }

    /// The Region of the zone (`eu-west-1` of `eu-west-1a`).
    pub fn region(&self) -> Option<Region> {
        Region::of_zone(&self.0)
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

string_id!(InstanceType);
string_id!(Zone);

#[cfg(test)]
mod tests {
    use super::*;

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
        assert_eq!(z.region().as_deref(), Some("eu-west-1"));
        assert_eq!(
            Zone::parse("us-gov-west-1b").unwrap().region().as_deref(),
            Some("us-gov-west-1")
        );
        assert!(Zone::parse("eu-west-1a\n").is_none());
        assert!(Zone::parse("nowhere").is_none());
    }
}
