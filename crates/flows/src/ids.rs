//! Identifiers of the network resources a flow crosses, validated once at
//! the parsing edge.
//!
//! A network interface id is kept in a compact, copyable form: flow logs
//! name one on every record, and the aggregation of hundreds of millions of
//! records must not allocate a string for each. The other ids (subnet, VPC,
//! network ACL, security group, prefix list, Transit Gateway attachment)
//! appear in configuration and on the few rejected records, and are plain
//! strings.
//!
//! AWS writes ids as a prefix and 8 or 17 lowercase hex digits. The AWS CLI
//! reference examples also use ids such as `acl-0ea1f54ca7EXAMPLE`, so the
//! string ids accept 8 to 17 ASCII letters and digits after the prefix: a
//! sample from the documentation reads, and nothing that could carry
//! markup or control characters gets through.

use std::fmt;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// A network interface id: `eni-` and 8 or 17 lowercase hex digits, kept as
/// a number (17 hex digits are 68 bits: the top four in `high`) and its
/// width (so `eni-0a…` keeps its leading zero), in 16 bytes.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct EniId {
    width: std::num::NonZeroU8,
    high: u8,
    low: u64,
}

impl EniId {
    /// Parses `eni-` followed by 8 to 17 lowercase hex digits.
    pub fn parse(text: &str) -> Option<Self> {
        let digits = text.strip_prefix("eni-")?;
        if !(8..=17).contains(&digits.len()) {
            return None;
        }
        let mut value: u128 = 0;
        for b in digits.bytes() {
            let nibble = match b {
                b'0'..=b'9' => b - b'0',
                b'a'..=b'f' => b - b'a' + 10,
                _ => return None,
            };
            value = (value << 4) | u128::from(nibble);
        }
        Some(Self {
            width: std::num::NonZeroU8::new(u8::try_from(digits.len()).ok()?)?,
            high: u8::try_from(value >> 64).ok()?,
            low: value as u64,
        })
    }
}

impl fmt::Display for EniId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let value = (u128::from(self.high) << 64) | u128::from(self.low);
        write!(
            f,
            "eni-{:0width$x}",
            value,
            width = usize::from(self.width.get())
        )
    }
}

impl fmt::Debug for EniId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

impl Serialize for EniId {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

/// A finding stored by the live path reads back: an id that does not
/// parse is an error, never a panic.
impl<'de> Deserialize<'de> for EniId {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = String::deserialize(deserializer)?;
        EniId::parse(&text).ok_or_else(|| {
            serde::de::Error::custom(format!("not a network interface id: {text:?}"))
        })
    }
}

/// Whether `rest` is 8 to 17 ASCII letters or digits.
fn is_id_body(rest: &str) -> bool {
    (8..=17).contains(&rest.len()) && rest.bytes().all(|b| b.is_ascii_alphanumeric())
}

macro_rules! string_id {
    ($(#[$doc:meta])* $name:ident, $prefix:literal) => {
        $(#[$doc])*
        #[derive(Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
        #[serde(into = "String", try_from = "String")]
        pub struct $name(String);

        impl $name {
            /// Parses the id: its prefix, then 8 to 17 letters or digits.
            pub fn parse(text: &str) -> Option<Self> {
                text.strip_prefix($prefix)
                    .is_some_and(is_id_body)
                    .then(|| Self(text.to_owned()))
            }

            /// The id as AWS writes it.
            pub fn as_str(&self) -> &str {
                &self.0
            }
        }

        impl From<$name> for String {
            fn from(id: $name) -> String {
                id.0
            }
        }

        impl TryFrom<String> for $name {
            type Error = String;

            fn try_from(text: String) -> Result<Self, String> {
                Self::parse(&text).ok_or_else(|| format!("not {}: {text:?}", stringify!($name)))
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }

        impl fmt::Debug for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }
    };
}

string_id!(
    /// A subnet id (`subnet-…`).
    SubnetId,
    "subnet-"
);
string_id!(
    /// A VPC id (`vpc-…`).
    VpcId,
    "vpc-"
);
string_id!(
    /// A network ACL id (`acl-…`).
    NetworkAclId,
    "acl-"
);
string_id!(
    /// A security group id (`sg-…`).
    SecurityGroupId,
    "sg-"
);
string_id!(
    /// A prefix list id (`pl-…`).
    PrefixListId,
    "pl-"
);
string_id!(
    /// A Transit Gateway attachment id (`tgw-attach-…`).
    AttachmentId,
    "tgw-attach-"
);
string_id!(
    /// A Transit Gateway id (`tgw-…`).
    TransitGatewayId,
    "tgw-"
);
string_id!(
    /// A route table id (`rtb-…`).
    RouteTableId,
    "rtb-"
);

/// Whether `text` is lowercase letters, digits and dashes, 1 to 32 long,
/// starting with a letter: the shape of an AZ id, an AZ name and a region.
fn is_location(text: &str) -> bool {
    (1..=32).contains(&text.len())
        && text.bytes().next().is_some_and(|b| b.is_ascii_lowercase())
        && text
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
}

macro_rules! location {
    ($(#[$doc:meta])* $name:ident) => {
        $(#[$doc])*
        #[derive(Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
        #[serde(into = "String", try_from = "String")]
        pub struct $name(String);

        impl $name {
            /// Parses lowercase letters, digits and dashes (1 to 32).
            pub fn parse(text: &str) -> Option<Self> {
                is_location(text).then(|| Self(text.to_owned()))
            }

            /// The value as AWS writes it.
            pub fn as_str(&self) -> &str {
                &self.0
            }
        }

        impl From<$name> for String {
            fn from(id: $name) -> String {
                id.0
            }
        }

        impl TryFrom<String> for $name {
            type Error = String;

            fn try_from(text: String) -> Result<Self, String> {
                Self::parse(&text).ok_or_else(|| format!("not {}: {text:?}", stringify!($name)))
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }

        impl fmt::Debug for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }
    };
}

location!(
    /// An Availability Zone id (`euw1-az1`): the same zone in every account,
    /// unlike zone names, which AWS maps differently per account.
    AzId
);
location!(
    /// An Availability Zone name (`eu-west-1a`), as one account sees it.
    AzName
);
/// Account and Region ids are every doctor's: one home in the core.
pub use start_doctor_core::ids::{Account, Region};

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn interface_ids_keep_their_width_and_leading_zeros() {
        for id in [
            "eni-1235b8ca123456789",
            "eni-0a1b2c3d4e5f60001",
            "eni-e5aa89a3",
            "eni-00000000",
        ] {
            let parsed = EniId::parse(id).unwrap_or_else(|| panic!("{id} should parse"));
            assert_eq!(parsed.to_string(), id);
        }
        assert_ne!(EniId::parse("eni-00000001"), EniId::parse("eni-000000001"));
        for bad in [
            "eni-",
            "eni-1234567",
            "eni-123456789012345678",
            "eni-0abcEXAMPLE",
            "ENI-12345678",
            "-",
            "eni-1234567g",
        ] {
            assert_eq!(EniId::parse(bad), None, "{bad} should be refused");
        }
    }

    #[test]
    fn string_ids_accept_documentation_examples_and_refuse_markup() {
        assert!(NetworkAclId::parse("acl-0ea1f54ca7EXAMPLE").is_some());
        assert!(SubnetId::parse("subnet-8EXAMPLE").is_some());
        assert!(AttachmentId::parse("tgw-attach-0a08e88308EXAMPLE").is_some());
        assert!(SecurityGroupId::parse("sg-903004f8").is_some());
        for bad in ["acl-<!here>xx", "acl-1234567", "subnet-0abc def0123", "sg-"] {
            assert!(
                NetworkAclId::parse(bad).is_none() && SubnetId::parse(bad).is_none(),
                "{bad}"
            );
        }
        assert!(Account::parse("unknown").is_none());
        assert!(Account::parse("123456789010").is_some());
        assert!(AzId::parse("euw1-az3").is_some());
        assert!(AzId::parse("Euw1 az3").is_none());
    }
}
