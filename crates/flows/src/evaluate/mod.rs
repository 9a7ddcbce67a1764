//! The two controls a packet meets in a VPC, evaluated as AWS documents
//! them: network ACLs ([`nacl`]: stateless, per subnet, first matching rule
//! in ascending order) and security groups ([`sg`]: stateful, per
//! interface, allow-only).
//!
//! Flow logs do not always say everything a rule looks at (an ICMP type,
//! the real client behind a Transit Gateway interface without
//! `pkt-srcaddr`). Evaluation is therefore three-valued: a rule matches,
//! does not, or may; a verdict that depends on a "may" is
//! [`Verdict::Unknown`], with what is missing.

pub mod nacl;
pub mod sg;

use std::net::IpAddr;

use crate::missing::Missing;

/// A packet as the controls see it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Packet {
    /// Its source, when known.
    pub src: Option<IpAddr>,
    /// Its destination, when known.
    pub dst: Option<IpAddr>,
    /// IANA protocol number.
    pub protocol: u8,
    /// Its destination port (TCP, UDP), when known.
    pub dst_port: Option<u16>,
    /// Its ICMP type and code; flow logs do not record them.
    pub icmp: Option<(u8, u8)>,
}

impl Packet {
    /// Whether it is IPv6 (from whichever address is known).
    pub fn is_ipv6(&self) -> bool {
        self.src.or(self.dst).is_some_and(|a| a.is_ipv6())
    }
}

/// Whether a rule matches a packet.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Match {
    /// It does.
    Yes,
    /// It does not.
    No,
    /// It may: the packet's value the rule looks at is unknown.
    Maybe,
}

impl Match {
    /// Both must match.
    pub fn and(self, other: Match) -> Match {
        match (self, other) {
            (Match::No, _) | (_, Match::No) => Match::No,
            (Match::Maybe, _) | (_, Match::Maybe) => Match::Maybe,
            (Match::Yes, Match::Yes) => Match::Yes,
        }
    }

    /// From a known yes or no.
    pub fn from_bool(yes: bool) -> Match {
        if yes {
            Match::Yes
        } else {
            Match::No
        }
    }
}

/// What a control does with a packet.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Verdict<R> {
    /// Allowed, by this rule.
    Allow(R),
    /// Denied, by this rule (for a network ACL, the first rule that may
    /// deny it; for a security group, nothing: no rule allows it).
    Deny(R),
    /// Cannot be told without what is missing.
    Unknown(Vec<Missing>),
}

impl<R> Verdict<R> {
    /// Whether it is allowed.
    pub fn is_allow(&self) -> bool {
        matches!(self, Verdict::Allow(_))
    }

    /// Whether it is denied.
    pub fn is_deny(&self) -> bool {
        matches!(self, Verdict::Deny(_))
    }
}
