//! Rejected records grouped into conversations: (client, server, server
//! port, protocol), the client's ephemeral ports aggregated.
//!
//! Which side is the server, for each group of rejected records, strongest
//! evidence first:
//! 1. protocols without ports: the side whose packets the other side
//!    accepted first — a direction rejected while the reverse direction is
//!    accepted is the response;
//! 2. TCP flags: SYN without ACK comes from the client, SYN-ACK from the
//!    server;
//! 3. a service port (below 1024) on one side only;
//! 4. the port that stays constant while the other side's varies, over
//!    every record of the pair (accepted ones included);
//! 5. a port in the ephemeral range (32768 and up) on one side only;
//! 6. the lower port.
//!
//! A record going from server to client is the response leg.

use std::collections::BTreeMap;
use std::net::IpAddr;

use crate::finding::Leg;
use crate::ids::EniId;
use rustc_hash::FxHashMap;

use crate::traffic::{PairKey, PairStats, PortSketch, RejectKey, RejectStats, Traffic};

/// A conversation.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct ConversationKey {
    /// The side that opens connections.
    pub client: IpAddr,
    /// The side that listens.
    pub server: IpAddr,
    /// The server's port (none for protocols without ports).
    pub server_port: Option<u16>,
    /// IANA protocol number.
    pub protocol: u8,
}

/// Rejected records of one leg, interface and reason within a
/// conversation.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RejectedLeg {
    /// Request or response.
    pub leg: Leg,
    /// The interface that logged them.
    pub interface: Option<EniId>,
    /// Whether VPC Block Public Access rejected them.
    pub block_public_access: bool,
    /// Their counts and times.
    pub stats: RejectStats,
}

/// Everything known about one conversation with rejected records.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Conversation {
    /// Who talks to whom.
    pub key: ConversationKey,
    /// Its rejected records, per leg and interface.
    pub rejects: Vec<RejectedLeg>,
    /// Its accepted records (both legs, every interface).
    pub accepted: u64,
    /// Accepted records between the two addresses, any port.
    pub pair_accepted: u64,
    /// The lowest and highest client port seen on rejected records.
    pub client_ports: Option<(u16, u16)>,
}

impl Conversation {
    /// Every rejected record.
    pub fn rejected(&self) -> u64 {
        self.rejects.iter().map(|r| r.stats.records).sum()
    }

    /// Rejected FIN/RST records (late packets after close).
    pub fn after_close(&self) -> u64 {
        self.rejects.iter().map(|r| r.stats.after_close).sum()
    }

    /// The first and last second of the rejected records.
    pub fn span(&self) -> Option<(i64, i64)> {
        self.rejects
            .iter()
            .filter_map(|r| r.stats.span)
            .reduce(|(s1, e1), (s2, e2)| (s1.min(s2), e1.max(e2)))
    }

    /// The interfaces that logged rejects, sorted.
    pub fn interfaces(&self) -> Vec<EniId> {
        let mut out: Vec<EniId> = self.rejects.iter().filter_map(|r| r.interface).collect();
        out.sort();
        out.dedup();
        out
    }
}

/// Whether the protocol has ports flow logs record.
pub fn has_ports(protocol: u8) -> bool {
    matches!(protocol, 6 | 17 | 132)
}

/// The ports each side of a pair used, over its accepted records (the
/// sketch) and its rejected ones, computed once per pair.
struct PairUsage<'a> {
    sketch: [Option<&'a PortSketch>; 2],
    rejected: [FxHashMap<u16, u64>; 2],
    distinct: [(usize, bool); 2],
}

impl<'a> PairUsage<'a> {
    fn new(stats: Option<&'a PairStats>, rejects: &[(&RejectKey, &RejectStats)]) -> Self {
        let sketch = [stats.map(|s| &s.ports[0]), stats.map(|s| &s.ports[1])];
        let mut rejected: [FxHashMap<u16, u64>; 2] = Default::default();
        // A side whose ports the keys left out (the client of an oriented
        // key) varies when its range does.
        let mut varies = [false, false];
        for (key, stats) in rejects {
            let (a_port, b_port) = if key.from_a {
                (key.src_port, key.dst_port)
            } else {
                (key.dst_port, key.src_port)
            };
            let client_side_a = key
                .source_is_client
                .map(|src_is_client| src_is_client == key.from_a);
            for (side, port) in [(0, a_port), (1, b_port)] {
                if client_side_a == Some(side == 0) {
                    varies[side] |= stats.client_ports.is_some_and(|(lo, hi)| lo != hi);
                    continue;
                }
                *rejected[side].entry(port).or_default() += stats.records;
            }
        }
        let distinct = [0, 1].map(|side| {
            let (kept, spilled) = sketch[side].map_or((0, false), |s| s.distinct());
            let extra = rejected[side]
                .keys()
                .filter(|p| sketch[side].is_none_or(|s| s.count(**p).is_none()))
                .count();
            (kept + extra, spilled || varies[side])
        });
        Self {
            sketch,
            rejected,
            distinct,
        }
    }

    /// How many records of the pair used `port` on side `a` (or `b`), and
    /// how many distinct ports that side used (with whether there were
    /// more than could be told apart).
    fn side(&self, side_a: bool, port: u16) -> (u64, usize, bool) {
        let side = usize::from(!side_a);
        let count = self.sketch[side].and_then(|s| s.count(port)).unwrap_or(0)
            + self.rejected[side].get(&port).copied().unwrap_or(0);
        let (distinct, spilled) = self.distinct[side];
        (count, distinct, spilled)
    }
}

/// Whether the source of the rejected records of `key` is the client.
fn source_is_client(
    key: &RejectKey,
    stats: &RejectStats,
    pair_stats: Option<&PairStats>,
    usage: &PairUsage<'_>,
) -> bool {
    let protocol = key.pair.protocol;
    let (sport, dport) = (key.src_port, key.dst_port);
    if !has_ports(protocol) || (sport == 0 && dport == 0) {
        let accepted = pair_stats.map_or([0, 0], |s| s.accepted);
        let (forward, reverse) = if key.from_a {
            (accepted[0], accepted[1])
        } else {
            (accepted[1], accepted[0])
        };
        return !(reverse > 0 && forward == 0);
    }
    if stats.syn > 0 && stats.syn_ack == 0 {
        return true;
    }
    if stats.syn_ack > 0 {
        return false;
    }
    match (sport < 1024, dport < 1024) {
        (false, true) => return true,
        (true, false) => return false,
        _ => {}
    }
    let src_side_a = key.from_a;
    let (src_count, src_distinct, src_spilled) = usage.side(src_side_a, sport);
    let (dst_count, dst_distinct, dst_spilled) = usage.side(!src_side_a, dport);
    let src_varies = src_spilled || src_distinct > 1;
    let dst_varies = dst_spilled || dst_distinct > 1;
    if src_varies && !dst_varies {
        return true;
    }
    if dst_varies && !src_varies {
        return false;
    }
    if src_count != dst_count && (src_count > 1 || dst_count > 1) {
        return dst_count > src_count;
    }
    const EPHEMERAL: u16 = 32768;
    match (sport >= EPHEMERAL, dport >= EPHEMERAL) {
        (true, false) => return true,
        (false, true) => return false,
        _ => {}
    }
    dport <= sport
}

/// Finds the real address behind an intermediate interface's own address:
/// `(address, interface that logged the record, the other end, protocol)`.
pub type Unhide<'a> = dyn Fn(IpAddr, Option<EniId>, IpAddr, u8) -> Option<IpAddr> + 'a;

/// Groups the rejected records of `traffic` into conversations, sorted.
/// An end that is the own address of the interface that logged the record
/// (a Transit Gateway interface in a format without `pkt-srcaddr`) is
/// replaced by the real one when `unhide` knows it.
pub fn conversations(traffic: &Traffic, unhide: &Unhide<'_>) -> Vec<Conversation> {
    let mut by_pair: BTreeMap<PairKey, Vec<(&RejectKey, &RejectStats)>> = BTreeMap::new();
    for (key, stats) in &traffic.rejects {
        by_pair.entry(key.pair).or_default().push((key, stats));
    }
    let mut out: BTreeMap<ConversationKey, Conversation> = BTreeMap::new();
    for (pair, mut rejects) in by_pair {
        rejects.sort_by_key(|(k, _)| **k);
        let pair_stats = traffic.pairs.get(&pair);
        let usage = PairUsage::new(pair_stats, &rejects);
        for &(key, stats) in &rejects {
            let client_is_src = key
                .source_is_client
                .unwrap_or_else(|| source_is_client(key, stats, pair_stats, &usage));
            let logged_src = pair.side(key.from_a);
            let logged_dst = pair.side(!key.from_a);
            let src =
                unhide(logged_src, key.interface, logged_dst, pair.protocol).unwrap_or(logged_src);
            let dst =
                unhide(logged_dst, key.interface, logged_src, pair.protocol).unwrap_or(logged_dst);
            let (real_pair, _) = PairKey::of(src, dst, pair.protocol);
            let real_stats = traffic.pairs.get(&real_pair);
            let (client, server, server_port, client_port) = if client_is_src {
                (src, dst, key.dst_port, key.src_port)
            } else {
                (dst, src, key.src_port, key.dst_port)
            };
            let ported = has_ports(pair.protocol) && !(key.src_port == 0 && key.dst_port == 0);
            let conversation_key = ConversationKey {
                client,
                server,
                server_port: ported.then_some(server_port),
                protocol: pair.protocol,
            };
            let accepted =
                accepted_records(&real_pair, real_stats, server, conversation_key.server_port);
            let pair_accepted = real_stats.map_or(0, |s| s.accepted[0] + s.accepted[1]);
            let conversation = out.entry(conversation_key).or_insert_with(|| Conversation {
                key: conversation_key,
                rejects: Vec::new(),
                accepted,
                pair_accepted,
                client_ports: None,
            });
            if ported {
                let (lo, hi) = stats.client_ports.unwrap_or((client_port, client_port));
                conversation.client_ports = Some(match conversation.client_ports {
                    Some((l, h)) => (l.min(lo), h.max(hi)),
                    None => (lo, hi),
                });
            }
            let leg = if client_is_src {
                Leg::Request
            } else {
                Leg::Response
            };
            match conversation.rejects.iter_mut().find(|r| {
                r.leg == leg
                    && r.interface == key.interface
                    && r.block_public_access == key.block_public_access
            }) {
                Some(existing) => existing.stats.merge(stats),
                None => conversation.rejects.push(RejectedLeg {
                    leg,
                    interface: key.interface,
                    block_public_access: key.block_public_access,
                    stats: *stats,
                }),
            }
        }
    }
    out.into_values().collect()
}

/// The accepted records of the conversation whose server is `server` on
/// `port`: those on which the server used that port (both legs).
fn accepted_records(
    pair: &PairKey,
    stats: Option<&PairStats>,
    server: IpAddr,
    port: Option<u16>,
) -> u64 {
    let Some(stats) = stats else { return 0 };
    match port {
        Some(port) => {
            let side = usize::from(pair.a != server);
            stats.ports[side].count(port).unwrap_or(0)
        }
        None => stats.accepted[0] + stats.accepted[1],
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::record::{parse, Format};

    fn traffic(header: &str, lines: &[&str]) -> Traffic {
        let format = Format::from_header(header).expect("header");
        let mut t = Traffic::default();
        for line in lines {
            let tokens: Vec<&str> = line.split_ascii_whitespace().collect();
            t.add(&parse(&format, &tokens).unwrap_or_else(|e| panic!("{line}: {e}")));
        }
        t
    }

    const V2: &str = "version account-id interface-id srcaddr dstaddr srcport dstport protocol packets bytes start end action log-status";

    fn only(t: &Traffic) -> Conversation {
        let mut all = conversations(t, &|_, _, _, _| None);
        assert_eq!(all.len(), 1, "{all:#?}");
        all.remove(0)
    }

    #[test]
    fn a_service_port_below_1024_is_the_server() {
        let c = only(&traffic(V2, &[
            "2 123456789010 eni-1235b8ca123456789 172.31.9.69 172.31.9.12 49761 3389 6 20 4249 1418530010 1418530070 REJECT OK",
        ]));
        assert_eq!(c.key.server, "172.31.9.12".parse::<IpAddr>().expect("ip"));
        assert_eq!(c.key.server_port, Some(3389));
        assert_eq!(c.rejects[0].leg, Leg::Request);
    }

    #[test]
    fn a_rejected_reply_from_a_service_port_is_the_response_leg() {
        let c = only(&traffic(V2, &[
            "2 123456789010 eni-1235b8ca123456789 203.0.113.12 172.31.16.139 51000 443 6 4 336 1432917027 1432917142 ACCEPT OK",
            "2 123456789010 eni-1235b8ca123456789 172.31.16.139 203.0.113.12 443 51000 6 4 336 1432917094 1432917142 REJECT OK",
        ]));
        assert_eq!(c.key.client, "203.0.113.12".parse::<IpAddr>().expect("ip"));
        assert_eq!(c.rejects[0].leg, Leg::Response);
        assert_eq!((c.accepted, c.rejected()), (1, 1));
        assert_eq!(c.client_ports, Some((51000, 51000)));
    }

    #[test]
    fn the_guides_ping_whose_reply_the_network_acl_drops_is_a_rejected_response() {
        // VPC User Guide, "Security group and network ACL rules": an ACCEPT
        // for the ping, a REJECT for its reply.
        let c = only(&traffic(V2, &[
            "2 123456789010 eni-1235b8ca123456789 203.0.113.12 172.31.16.139 0 0 1 4 336 1432917027 1432917142 ACCEPT OK",
            "2 123456789010 eni-1235b8ca123456789 172.31.16.139 203.0.113.12 0 0 1 4 336 1432917094 1432917142 REJECT OK",
        ]));
        assert_eq!(c.key.client, "203.0.113.12".parse::<IpAddr>().expect("ip"));
        assert_eq!((c.key.server_port, c.key.protocol), (None, 1));
        assert_eq!(c.rejects[0].leg, Leg::Response);
    }

    #[test]
    fn a_constant_port_above_1024_against_varying_ports_is_the_server() {
        let c = only(&traffic(V2, &[
            "2 111122223333 eni-0a1b2c3d4e5f60001 10.20.5.17 10.1.1.25 3001 5432 6 3 180 1763622000 1763622060 ACCEPT OK",
            "2 111122223333 eni-0a1b2c3d4e5f60001 10.20.5.17 10.1.1.25 3002 5432 6 3 180 1763622000 1763622060 ACCEPT OK",
            "2 111122223333 eni-0a1b2c3d4e5f6000c 10.20.5.17 10.1.1.25 3003 5432 6 1 60 1763622100 1763622160 REJECT OK",
        ]));
        assert_eq!(c.key.server, "10.1.1.25".parse::<IpAddr>().expect("ip"));
        assert_eq!(c.key.server_port, Some(5432));
        assert_eq!(c.accepted, 2);
        assert_eq!(c.rejects[0].leg, Leg::Request);
    }

    #[test]
    fn tcp_flags_tell_the_server_even_on_high_ports() {
        let header = "version interface-id srcaddr dstaddr srcport dstport protocol start end action tcp-flags log-status";
        let c = only(&traffic(header, &[
            "3 eni-0a1b2c3d4e5f60001 10.1.1.25 10.20.5.17 50051 33000 6 1763622000 1763622060 REJECT 18 OK",
        ]));
        assert_eq!(c.key.server_port, Some(50051));
        assert_eq!(c.rejects[0].leg, Leg::Response);
    }

    #[test]
    fn ephemeral_ports_of_many_connections_collapse_into_one_conversation() {
        let lines: Vec<String> = (0..50)
            .map(|i| format!(
                "2 111122223333 eni-0a1b2c3d4e5f60001 10.1.1.25 10.20.5.17 5432 {} 6 3 180 1763622000 1763622060 REJECT OK",
                40000 + i
            ))
            .collect();
        let refs: Vec<&str> = lines.iter().map(String::as_str).collect();
        let c = only(&traffic(V2, &refs));
        assert_eq!(c.rejected(), 50);
        assert_eq!(c.client_ports, Some((40000, 40049)));
        assert_eq!(c.rejects.len(), 1, "one leg, one interface");
    }
}
