//! Network ACL evaluation, property-tested against a reference model
//! written as plainly as the VPC User Guide states the rules: the entries
//! of the direction, lowest rule number first; the first whose protocol,
//! CIDR (source inbound, destination outbound, same address family) and
//! ports or ICMP type and code match decides; else the final `*` rule
//! denies (32767 IPv4, 32768 IPv6).
//!
//! The ACL under test is built the way users give it, as
//! `describe-network-acls` JSON with the entries in a random order.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use proptest::prelude::*;
use serde_json::{json, Value};
use start_doctor_flows::config::Config;
use start_doctor_flows::evaluate::nacl::evaluate;
use start_doctor_flows::evaluate::{Packet, Verdict};
use start_doctor_flows::read::json::read_json;

#[derive(Clone, Debug)]
struct Entry {
    rule: u16,
    egress: bool,
    allow: bool,
    protocol: i16,
    v6: bool,
    net: u32,
    prefix: u8,
    ports: (u16, u16),
    icmp: (i16, i16),
}

/// Addresses from a small space so that rules and packets meet often.
fn v4(host: u32) -> Ipv4Addr {
    Ipv4Addr::from(0x0a00_0000 | (host & 0xffff))
}

fn v6(host: u32) -> Ipv6Addr {
    Ipv6Addr::from(0x2001_0db8_0000_0000_0000_0000_0000_0000_u128 | u128::from(host & 0xffff))
}

impl Entry {
    fn cidr(&self) -> (IpAddr, u8) {
        if self.v6 {
            let prefix = 112 + self.prefix.min(16);
            let mask = if prefix == 128 {
                u128::MAX
            } else {
                !(u128::MAX >> prefix)
            };
            (
                IpAddr::V6(Ipv6Addr::from(u128::from(v6(self.net)) & mask)),
                prefix,
            )
        } else {
            let prefix = 16 + self.prefix.min(16);
            let mask = if prefix == 32 {
                u32::MAX
            } else {
                !(u32::MAX >> prefix)
            };
            (
                IpAddr::V4(Ipv4Addr::from(u32::from(v4(self.net)) & mask)),
                prefix,
            )
        }
    }

    fn json(&self) -> Value {
        let (network, prefix) = self.cidr();
        let mut e = json!({
            "RuleNumber": self.rule,
            "Egress": self.egress,
            "RuleAction": if self.allow { "allow" } else { "deny" },
            "Protocol": self.protocol.to_string(),
        });
        let key = if self.v6 {
            "Ipv6CidrBlock"
        } else {
            "CidrBlock"
        };
        e[key] = json!(format!("{network}/{prefix}"));
        if matches!(self.protocol, 6 | 17) {
            e["PortRange"] = json!({"From": self.ports.0, "To": self.ports.1});
        }
        if matches!(self.protocol, 1 | 58) {
            e["IcmpTypeCode"] = json!({"Type": self.icmp.0, "Code": self.icmp.1});
        }
        e
    }

    fn contains(&self, address: IpAddr) -> bool {
        let (network, prefix) = self.cidr();
        match (network, address) {
            (IpAddr::V4(n), IpAddr::V4(a)) => {
                let mask = if prefix == 32 {
                    u32::MAX
                } else {
                    !(u32::MAX >> prefix)
                };
                u32::from(a) & mask == u32::from(n)
            }
            (IpAddr::V6(n), IpAddr::V6(a)) => {
                let mask = if prefix == 128 {
                    u128::MAX
                } else {
                    !(u128::MAX >> prefix)
                };
                u128::from(a) & mask == u128::from(n)
            }
            _ => false,
        }
    }
}

fn entry() -> impl Strategy<Value = Entry> {
    (
        1u16..=60,
        any::<bool>(),
        any::<bool>(),
        prop_oneof![Just(-1i16), Just(6), Just(17), Just(1), Just(58), Just(50)],
        any::<bool>(),
        any::<u32>(),
        0u8..=16,
        (0u16..=100, 0u16..=100),
        (
            prop_oneof![Just(-1i16), 0i16..=3],
            prop_oneof![Just(-1i16), 0i16..=2],
        ),
    )
        .prop_map(
            |(rule, egress, allow, protocol, v6, net, prefix, (a, b), icmp)| Entry {
                rule: rule * 10,
                egress,
                allow,
                protocol,
                v6,
                net,
                prefix,
                ports: (a.min(b), a.max(b)),
                icmp,
            },
        )
}

/// Entries with unique (rule number, direction), as AWS keeps them.
fn entries() -> impl Strategy<Value = Vec<Entry>> {
    prop::collection::vec(entry(), 0..12).prop_map(|mut list| {
        let mut seen = std::collections::HashSet::new();
        list.retain(|e| seen.insert((e.rule, e.egress)));
        list
    })
}

#[derive(Clone, Debug)]
struct Sample {
    src: IpAddr,
    dst: IpAddr,
    protocol: u8,
    port: u16,
    icmp: (u8, u8),
}

fn sample() -> impl Strategy<Value = Sample> {
    (
        any::<bool>(),
        any::<u32>(),
        any::<u32>(),
        prop_oneof![Just(6u8), Just(17), Just(1), Just(58), Just(50)],
        0u16..=100,
        (0u8..=3, 0u8..=2),
    )
        .prop_map(|(v6_, a, b, protocol, port, icmp)| Sample {
            src: if v6_ {
                IpAddr::V6(v6(a))
            } else {
                IpAddr::V4(v4(a))
            },
            dst: if v6_ {
                IpAddr::V6(v6(b))
            } else {
                IpAddr::V4(v4(b))
            },
            protocol,
            port,
            icmp,
        })
}

/// The reference: allow (`true`) or deny, and the deciding rule number.
fn reference(entries: &[Entry], egress: bool, s: &Sample) -> (bool, u16) {
    let mut mine: Vec<&Entry> = entries.iter().filter(|e| e.egress == egress).collect();
    mine.sort_by_key(|e| e.rule);
    let address = if egress { s.dst } else { s.src };
    for e in mine {
        if e.protocol != -1 && e.protocol != i16::from(s.protocol) {
            continue;
        }
        if !e.contains(address) {
            continue;
        }
        if e.protocol != -1
            && matches!(s.protocol, 6 | 17)
            && !(e.ports.0..=e.ports.1).contains(&s.port)
        {
            continue;
        }
        if e.protocol != -1
            && matches!(s.protocol, 1 | 58)
            && !((e.icmp.0 == -1 || e.icmp.0 == i16::from(s.icmp.0))
                && (e.icmp.1 == -1 || e.icmp.1 == i16::from(s.icmp.1)))
        {
            continue;
        }
        return (e.allow, e.rule);
    }
    (false, if s.src.is_ipv6() { 32768 } else { 32767 })
}

fn build(entries: &[Entry], order: &[usize]) -> Config {
    let mut listed: Vec<Value> = entries.iter().map(Entry::json).collect();
    // Give the entries in the order drawn, not in rule order.
    let mut shuffled = Vec::with_capacity(listed.len());
    for &i in order {
        if let Some(slot) = listed.get_mut(i) {
            if !slot.is_null() {
                shuffled.push(std::mem::take(slot));
            }
        }
    }
    shuffled.extend(listed.into_iter().filter(|v| !v.is_null()));
    let document = json!({"NetworkAcls": [{
        "NetworkAclId": "acl-0a1b2c3d4e5f60001",
        "VpcId": "vpc-0a1b2c3d4e5f60001",
        "IsDefault": false,
        "Associations": [],
        "Entries": shuffled,
    }]});
    let config = Config::build(
        read_json(document.to_string().as_bytes())
            .expect("generated JSON")
            .config,
    );
    assert!(config.warnings.is_empty(), "{:?}", config.warnings);
    config
}

fn packet(s: &Sample, icmp_known: bool) -> Packet {
    Packet {
        src: Some(s.src),
        dst: Some(s.dst),
        protocol: s.protocol,
        dst_port: matches!(s.protocol, 6 | 17).then_some(s.port),
        icmp: (icmp_known && matches!(s.protocol, 1 | 58)).then_some(s.icmp),
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2000))]

    #[test]
    fn evaluation_equals_the_reference_model(
        entries in entries(),
        order in prop::collection::vec(0usize..12, 0..12),
        s in sample(),
        egress in any::<bool>(),
    ) {
        let config = build(&entries, &order);
        let acl = config.network_acls.values().next().expect("one ACL");
        let got = evaluate(acl, egress, &packet(&s, true));
        let (allow, rule) = reference(&entries, egress, &s);
        let want = if allow { Verdict::Allow(rule) } else { Verdict::Deny(rule) };
        prop_assert_eq!(got, want, "entries {:?}, packet {:?}, egress {}", entries, s, egress);
    }

    #[test]
    fn a_verdict_without_the_icmp_type_holds_for_every_type(
        entries in entries(),
        s in sample(),
        egress in any::<bool>(),
    ) {
        let config = build(&entries, &[]);
        let acl = config.network_acls.values().next().expect("one ACL");
        let got = evaluate(acl, egress, &packet(&s, false));
        for kind in 0u8..=4 {
            for code in 0u8..=3 {
                let each = Sample { icmp: (kind, code), ..s.clone() };
                let (allow, _) = reference(&entries, egress, &each);
                match &got {
                    Verdict::Allow(_) => prop_assert!(allow, "allowed without the type, denied for {kind}/{code}"),
                    Verdict::Deny(_) => prop_assert!(!allow, "denied without the type, allowed for {kind}/{code}"),
                    Verdict::Unknown(_) => prop_assert!(matches!(s.protocol, 1 | 58), "only ICMP can be unknown here"),
                }
            }
        }
    }
}
