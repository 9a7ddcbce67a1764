//! Network ACL evaluation (VPC User Guide, "Network ACL rules"): the
//! entries of the packet's direction, in ascending rule number; the first
//! that matches decides; a packet no entry matches meets the final `*`
//! rule, which denies (32767 for IPv4, 32768 for IPv6 in API output).
//!
//! An entry matches when its protocol is `-1` or the packet's, its CIDR
//! holds the packet's source (inbound) or destination (outbound) address
//! of the same family (IPv4 entries never match IPv6 traffic, and the
//! reverse), and for TCP and UDP its port range holds the destination
//! port, for ICMP its type and code (`-1` every type or code) the
//! packet's.

use super::{Match, Packet, Verdict};
use crate::config::{AclEntry, NetworkAcl, Protocol, RuleAction};
use crate::missing::Missing;

/// The rule number of the final `*` rule for IPv4 traffic.
pub const DEFAULT_DENY_IPV4: u16 = 32767;
/// The rule number of the final `*` rule for IPv6 traffic.
pub const DEFAULT_DENY_IPV6: u16 = 32768;

/// Whether `entry` matches `packet` in its direction.
pub fn entry_matches(entry: &AclEntry, packet: &Packet) -> Match {
    let address = if entry.egress { packet.dst } else { packet.src };
    let same_family = entry.cidr.network().is_ipv6() == packet.is_ipv6();
    if !same_family {
        return Match::No;
    }
    let address = match address {
        Some(a) => Match::from_bool(entry.cidr.contains(&a)),
        None if entry.cidr.prefix_len() == 0 => Match::Yes,
        None => Match::Maybe,
    };
    let protocol = match entry.protocol {
        Protocol::All => Match::Yes,
        Protocol::Number(n) => Match::from_bool(n == packet.protocol),
    };
    let detail = match (entry.protocol, entry.ports, entry.icmp) {
        (Protocol::All, _, _) => Match::Yes,
        (_, Some(range), _) => match packet.dst_port {
            Some(port) => Match::from_bool(range.contains(port)),
            None if range.from == 0 && range.to == u16::MAX => Match::Yes,
            None => Match::Maybe,
        },
        (_, None, Some(icmp)) if icmp.is_all() => Match::Yes,
        (_, None, Some(icmp)) => match packet.icmp {
            Some((kind, code)) => Match::from_bool(
                (icmp.kind == -1 || icmp.kind == i16::from(kind))
                    && (icmp.code == -1 || icmp.code == i16::from(code)),
            ),
            None => Match::Maybe,
        },
        (_, None, None) => Match::Yes,
    };
    address.and(protocol).and(detail)
}

/// What `acl` does with `packet` leaving (`egress`) or entering its
/// subnets. The rule of an `Allow` is the one that allows; of a `Deny`, the
/// first rule that denies it (or may, when an earlier "may" rule denies
/// too), or the final `*` rule.
pub fn evaluate(acl: &NetworkAcl, egress: bool, packet: &Packet) -> Verdict<u16> {
    if acl.incomplete {
        return Verdict::Unknown(vec![Missing::UnreadableNetworkAcl(acl.id.clone())]);
    }
    let mut maybe: Vec<(u16, RuleAction)> = Vec::new();
    let mut missing = Vec::new();
    let mut decided = None;
    for entry in acl.entries.iter().filter(|e| e.egress == egress) {
        match entry_matches(entry, packet) {
            Match::No => {}
            Match::Yes => {
                decided = Some((entry.rule_number, entry.action));
                break;
            }
            Match::Maybe => {
                maybe.push((entry.rule_number, entry.action));
                if entry.icmp.is_some() && packet.icmp.is_none() {
                    missing.push(Missing::IcmpType);
                }
            }
        }
    }
    let default = if packet.is_ipv6() {
        DEFAULT_DENY_IPV6
    } else {
        DEFAULT_DENY_IPV4
    };
    let (rule, action) = decided.unwrap_or((default, RuleAction::Deny));
    if maybe.iter().any(|(_, a)| *a != action) {
        missing.sort();
        missing.dedup();
        return Verdict::Unknown(missing);
    }
    match action {
        RuleAction::Allow => Verdict::Allow(rule),
        // A rule that may match and denies comes first: the fix must go
        // below it.
        RuleAction::Deny => Verdict::Deny(maybe.first().map_or(rule, |(r, _)| *r)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::{IcmpTypeCode, PortRange};
    use crate::ids::NetworkAclId;

    fn entry(
        rule: u16,
        egress: bool,
        action: RuleAction,
        protocol: Protocol,
        cidr: &str,
    ) -> AclEntry {
        let ports = matches!(protocol, Protocol::Number(6 | 17))
            .then_some(PortRange { from: 0, to: 65535 });
        let icmp = matches!(protocol, Protocol::Number(1 | 58))
            .then_some(IcmpTypeCode { kind: -1, code: -1 });
        AclEntry {
            rule_number: rule,
            egress,
            action,
            protocol,
            cidr: cidr.parse().expect("cidr"),
            ports,
            icmp,
        }
    }

    fn acl(mut entries: Vec<AclEntry>) -> NetworkAcl {
        entries.sort_by_key(|e| (e.egress, e.rule_number));
        NetworkAcl {
            id: NetworkAclId::parse("acl-0a1b2c3d4e5f60001").expect("id"),
            vpc: None,
            is_default: false,
            subnets: Vec::new(),
            entries,
            incomplete: false,
        }
    }

    fn tcp(src: &str, dst: &str, port: u16) -> Packet {
        Packet {
            src: src.parse().ok(),
            dst: dst.parse().ok(),
            protocol: 6,
            dst_port: Some(port),
            icmp: None,
        }
    }

    #[test]
    fn the_lowest_matching_rule_decides_whatever_comes_after() {
        let mut deny_ssh = entry(
            90,
            false,
            RuleAction::Deny,
            Protocol::Number(6),
            "0.0.0.0/0",
        );
        deny_ssh.ports = Some(PortRange { from: 22, to: 22 });
        let acl = acl(vec![
            entry(100, false, RuleAction::Allow, Protocol::All, "0.0.0.0/0"),
            deny_ssh,
        ]);
        assert_eq!(
            evaluate(&acl, false, &tcp("10.0.0.1", "10.0.1.1", 22)),
            Verdict::Deny(90)
        );
        assert_eq!(
            evaluate(&acl, false, &tcp("10.0.0.1", "10.0.1.1", 23)),
            Verdict::Allow(100)
        );
    }

    #[test]
    fn no_matching_rule_meets_the_final_deny_of_its_family() {
        let acl = acl(vec![entry(
            100,
            true,
            RuleAction::Allow,
            Protocol::All,
            "10.0.0.0/8",
        )]);
        assert_eq!(
            evaluate(&acl, true, &tcp("10.0.0.1", "192.0.2.1", 443)),
            Verdict::Deny(32767)
        );
        assert_eq!(
            evaluate(&acl, true, &tcp("2001:db8::1", "2001:db8::2", 443)),
            Verdict::Deny(32768),
            "an IPv4 entry never matches IPv6 traffic"
        );
        assert_eq!(
            evaluate(&acl, true, &tcp("192.0.2.1", "10.2.3.4", 443)),
            Verdict::Allow(100)
        );
        assert_eq!(
            evaluate(&acl, false, &tcp("10.2.3.4", "10.0.0.1", 443)),
            Verdict::Deny(32767),
            "outbound entries do not apply inbound"
        );
    }

    #[test]
    fn inbound_rules_match_the_source_and_outbound_rules_the_destination() {
        let acl = acl(vec![
            entry(100, false, RuleAction::Allow, Protocol::All, "10.20.0.0/16"),
            entry(100, true, RuleAction::Allow, Protocol::All, "10.1.1.0/24"),
        ]);
        let p = tcp("10.20.5.17", "10.1.1.25", 5432);
        assert_eq!(evaluate(&acl, false, &p), Verdict::Allow(100));
        assert_eq!(evaluate(&acl, true, &p), Verdict::Allow(100));
        let q = tcp("10.1.1.25", "10.20.5.17", 40000);
        assert_eq!(evaluate(&acl, false, &q), Verdict::Deny(32767));
        assert_eq!(evaluate(&acl, true, &q), Verdict::Deny(32767));
    }

    #[test]
    fn an_icmp_rule_for_one_type_is_unknown_when_it_would_change_the_answer() {
        let mut echo = entry(
            50,
            false,
            RuleAction::Deny,
            Protocol::Number(1),
            "0.0.0.0/0",
        );
        echo.icmp = Some(IcmpTypeCode { kind: 8, code: -1 });
        let ping = Packet {
            src: "203.0.113.12".parse().ok(),
            dst: "172.31.16.139".parse().ok(),
            protocol: 1,
            dst_port: None,
            icmp: None,
        };
        let allows = acl(vec![
            echo.clone(),
            entry(100, false, RuleAction::Allow, Protocol::All, "0.0.0.0/0"),
        ]);
        assert_eq!(
            evaluate(&allows, false, &ping),
            Verdict::Unknown(vec![Missing::IcmpType])
        );
        let denies = acl(vec![
            echo,
            entry(100, false, RuleAction::Deny, Protocol::All, "0.0.0.0/0"),
        ]);
        assert_eq!(
            evaluate(&denies, false, &ping),
            Verdict::Deny(50),
            "denied either way; a fix goes below rule 50"
        );
        let known = Packet {
            icmp: Some((0, 0)),
            ..ping
        };
        assert_eq!(evaluate(&allows, false, &known), Verdict::Allow(100));
    }

    #[test]
    fn an_unreadable_network_acl_gives_no_verdict() {
        let mut broken = acl(vec![entry(
            100,
            false,
            RuleAction::Allow,
            Protocol::All,
            "0.0.0.0/0",
        )]);
        broken.incomplete = true;
        assert!(matches!(
            evaluate(&broken, false, &tcp("10.0.0.1", "10.0.0.2", 80)),
            Verdict::Unknown(_)
        ));
    }

    #[test]
    fn an_unknown_source_only_matters_to_rules_that_look_at_it() {
        let acl = acl(vec![
            entry(90, false, RuleAction::Deny, Protocol::All, "10.1.1.0/24"),
            entry(100, false, RuleAction::Allow, Protocol::All, "0.0.0.0/0"),
        ]);
        let hidden = Packet {
            src: None,
            ..tcp("10.0.0.1", "10.1.2.2", 443)
        };
        assert!(matches!(
            evaluate(&acl, false, &hidden),
            Verdict::Unknown(_)
        ));
        assert_eq!(evaluate(&acl, true, &hidden), Verdict::Deny(32767));
    }
}
