//! Security group evaluation (VPC User Guide, "Security groups"): the
//! groups of an interface allow a packet when any rule of any of them
//! allows it; there are no deny rules. A rule allows when its protocol is
//! `-1` or the packet's, its ports (TCP, UDP) or ICMP type and code cover
//! the packet, and its peer holds the packet's other end: a CIDR, the
//! CIDRs of a prefix list, or the interfaces that carry a referenced group.
//! Security groups are stateful: replies to allowed traffic pass without a
//! rule, so only requests are evaluated (the replay knows which leg is
//! which).

use std::net::IpAddr;

use super::{Match, Packet, Verdict};
use crate::config::{Config, Peer, Protocol, RulePorts, SgRule};
use crate::ids::SecurityGroupId;
use crate::missing::Missing;

/// The rule that allowed a packet: its group and its position among the
/// group's rules of that direction (0-based).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Allowing {
    /// The group.
    pub group: SecurityGroupId,
    /// The rule's position.
    pub rule: usize,
}

/// Whether `peer` holds `address` (the packet's other end).
fn peer_matches(
    config: &Config,
    peer: &Peer,
    address: Option<IpAddr>,
    missing: &mut Vec<Missing>,
) -> Match {
    let Some(address) = address else {
        return match peer {
            Peer::Cidr(c) if c.prefix_len() == 0 => Match::Yes,
            _ => Match::Maybe,
        };
    };
    match peer {
        Peer::Cidr(cidr) => Match::from_bool(cidr.contains(&address)),
        Peer::PrefixList(list) => match config.prefix_lists.get(list) {
            Some(cidrs) => Match::from_bool(cidrs.iter().any(|c| c.contains(&address))),
            None => {
                missing.push(Missing::PrefixList(list.clone()));
                Match::Maybe
            }
        },
        Peer::Group(group) => match config.interface_with_address(address) {
            Some(interface) => Match::from_bool(interface.groups.contains(group)),
            // A group reference matches interfaces only; an address outside
            // every VPC and subnet described is none.
            None if config.vpc_of_address(address).is_some()
                || config.subnet_of_address(address).is_some() =>
            {
                missing.push(Missing::InterfaceWithAddress(address));
                Match::Maybe
            }
            None => Match::No,
        },
    }
}

/// Whether `rule` allows `packet`, whose other end is `peer_address`.
fn rule_matches(
    config: &Config,
    rule: &SgRule,
    packet: &Packet,
    peer_address: Option<IpAddr>,
    missing: &mut Vec<Missing>,
) -> Match {
    let protocol = match rule.protocol {
        Protocol::All => Match::Yes,
        Protocol::Number(n) => Match::from_bool(n == packet.protocol),
    };
    if protocol == Match::No {
        return Match::No;
    }
    let ports = match rule.ports {
        RulePorts::All => Match::Yes,
        RulePorts::Range(range) => match packet.dst_port {
            Some(port) => Match::from_bool(range.contains(port)),
            None => Match::Maybe,
        },
        RulePorts::Icmp(icmp) if icmp.is_all() => Match::Yes,
        RulePorts::Icmp(icmp) => match packet.icmp {
            Some((kind, code)) => Match::from_bool(
                (icmp.kind == -1 || icmp.kind == i16::from(kind))
                    && (icmp.code == -1 || icmp.code == i16::from(code)),
            ),
            None => {
                missing.push(Missing::IcmpType);
                Match::Maybe
            }
        },
    };
    if ports == Match::No {
        return Match::No;
    }
    let peers = rule
        .peers
        .iter()
        .map(|p| peer_matches(config, p, peer_address, missing))
        .fold(Match::No, |acc, m| match (acc, m) {
            (Match::Yes, _) | (_, Match::Yes) => Match::Yes,
            (Match::Maybe, _) | (_, Match::Maybe) => Match::Maybe,
            _ => Match::No,
        });
    protocol.and(ports).and(peers)
}

/// What the security groups `groups` of an interface do with a request
/// arriving at it (`inbound`) or leaving it: `Allow(Some(rule))`, or
/// `Deny(None)` when no rule of any group allows it.
pub fn evaluate(
    config: &Config,
    groups: &[SecurityGroupId],
    inbound: bool,
    packet: &Packet,
) -> Verdict<Option<Allowing>> {
    let peer_address = if inbound { packet.src } else { packet.dst };
    let mut missing = Vec::new();
    let mut maybe = false;
    for id in groups {
        let Some(group) = config.security_groups.get(id) else {
            missing.push(Missing::SecurityGroup(id.clone()));
            continue;
        };
        if group.incomplete {
            missing.push(Missing::UnreadableSecurityGroup(id.clone()));
        }
        let rules = if inbound {
            &group.ingress
        } else {
            &group.egress
        };
        for (i, rule) in rules.iter().enumerate() {
            match rule_matches(config, rule, packet, peer_address, &mut missing) {
                Match::Yes => {
                    return Verdict::Allow(Some(Allowing {
                        group: id.clone(),
                        rule: i,
                    }))
                }
                Match::Maybe => maybe = true,
                Match::No => {}
            }
        }
    }
    if maybe || !missing.is_empty() {
        missing.sort();
        missing.dedup();
        return Verdict::Unknown(missing);
    }
    Verdict::Deny(None)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::read::json::read_json;

    fn config() -> Config {
        let json = r#"{"SecurityGroups": [
            {"GroupId": "sg-0a1b2c3d4e5f60001", "VpcId": "vpc-0a1b2c3d4e5f60001",
             "IpPermissions": [
                {"IpProtocol": "tcp", "FromPort": 5432, "ToPort": 5432, "IpRanges": [{"CidrIp": "10.20.0.0/16"}]},
                {"IpProtocol": "tcp", "FromPort": 22, "ToPort": 22, "UserIdGroupPairs": [{"GroupId": "sg-0a1b2c3d4e5f60002"}]},
                {"IpProtocol": "tcp", "FromPort": 443, "ToPort": 443, "PrefixListIds": [{"PrefixListId": "pl-0a1b2c3d4e5f60001"}]},
                {"IpProtocol": "icmp", "FromPort": 8, "ToPort": -1, "IpRanges": [{"CidrIp": "0.0.0.0/0"}]}
             ],
             "IpPermissionsEgress": [{"IpProtocol": "-1", "IpRanges": [{"CidrIp": "0.0.0.0/0"}]}]},
            {"GroupId": "sg-0a1b2c3d4e5f60002", "VpcId": "vpc-0a1b2c3d4e5f60001", "IpPermissions": [], "IpPermissionsEgress": []}
        ]}
        {"Vpcs": [{"VpcId": "vpc-0a1b2c3d4e5f60001", "CidrBlock": "10.1.0.0/16"}]}
        {"NetworkInterfaces": [
            {"NetworkInterfaceId": "eni-0a1b2c3d4e5f60002", "PrivateIpAddress": "10.1.2.9", "Groups": [{"GroupId": "sg-0a1b2c3d4e5f60002"}]},
            {"NetworkInterfaceId": "eni-0a1b2c3d4e5f60003", "PrivateIpAddress": "10.1.2.10", "Groups": [{"GroupId": "sg-0a1b2c3d4e5f60001"}]}
        ]}"#;
        Config::build(read_json(json.as_bytes()).expect("json").config)
    }

    fn group(id: &str) -> Vec<SecurityGroupId> {
        vec![SecurityGroupId::parse(id).expect("id")]
    }

    fn tcp(src: &str, port: u16) -> Packet {
        Packet {
            src: src.parse().ok(),
            dst: "10.1.1.25".parse().ok(),
            protocol: 6,
            dst_port: Some(port),
            icmp: None,
        }
    }

    #[test]
    fn a_cidr_rule_allows_its_sources_on_its_ports_only() {
        let c = config();
        let g = group("sg-0a1b2c3d4e5f60001");
        assert!(evaluate(&c, &g, true, &tcp("10.20.5.17", 5432)).is_allow());
        assert!(evaluate(&c, &g, true, &tcp("10.30.5.17", 5432)).is_deny());
        assert!(evaluate(&c, &g, true, &tcp("10.20.5.17", 5433)).is_deny());
        assert!(
            evaluate(&c, &g, false, &tcp("10.20.5.17", 5433)).is_allow(),
            "outbound: the egress rule allows all"
        );
    }

    #[test]
    fn a_group_reference_allows_the_interfaces_that_carry_the_group() {
        let c = config();
        let g = group("sg-0a1b2c3d4e5f60001");
        assert!(evaluate(&c, &g, true, &tcp("10.1.2.9", 22)).is_allow());
        assert!(
            evaluate(&c, &g, true, &tcp("10.1.2.10", 22)).is_deny(),
            "the other interface lacks it"
        );
        assert_eq!(
            evaluate(&c, &g, true, &tcp("10.1.9.9", 22)),
            Verdict::Unknown(vec![Missing::InterfaceWithAddress(
                "10.1.9.9".parse().expect("ip")
            )]),
            "an address in the VPC on no interface described"
        );
        assert!(
            evaluate(&c, &g, true, &tcp("198.51.100.7", 22)).is_deny(),
            "outside: no interface"
        );
    }

    #[test]
    fn a_prefix_list_without_its_entries_is_missing() {
        let c = config();
        let g = group("sg-0a1b2c3d4e5f60001");
        assert_eq!(
            evaluate(&c, &g, true, &tcp("198.51.100.7", 443)),
            Verdict::Unknown(vec![Missing::PrefixList(
                crate::ids::PrefixListId::parse("pl-0a1b2c3d4e5f60001").expect("id")
            )])
        );
    }

    #[test]
    fn a_group_not_described_is_missing() {
        let c = config();
        assert_eq!(
            evaluate(
                &c,
                &group("sg-0a1b2c3d4e5f6ffff"),
                true,
                &tcp("10.20.5.17", 5432)
            ),
            Verdict::Unknown(vec![Missing::SecurityGroup(
                SecurityGroupId::parse("sg-0a1b2c3d4e5f6ffff").expect("id")
            )])
        );
    }
}
