//! What the records said, aggregated as they stream by, in memory that
//! grows with the endpoints talking and the rejects, not with the records.
//!
//! Accepted traffic is by far the most of a flow log and matters only as
//! the counterpart of rejected traffic (is the conversation otherwise
//! accepted? how often?). It is kept per pair of addresses and protocol: a
//! count per direction, the time span, and for each side a small sketch of
//! the ports that side used (the server's port is constant, the client's
//! ephemeral ports vary: see [`PortSketch`]). Rejected records are kept in
//! detail per (pair, direction, ports, interface). Transit Gateway records
//! are kept per (source, destination, protocol, delivering interface), for
//! the AZ they tell.
//!
//! Aggregation is commutative: files read in parallel are aggregated apart
//! and [`Traffic::merge`]d, in any order, to the same result.

use std::net::IpAddr;

use rustc_hash::FxHashMap;

use crate::ids::EniId;
use crate::record::{Action, LogStatus, Record, TgwRecord, VpcRecord};

/// The time range asked for, in Unix seconds: a record is kept when its
/// interval overlaps it.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Window {
    /// Keep records that end at or after this time.
    pub since: Option<i64>,
    /// Keep records that start at or before this time.
    pub until: Option<i64>,
}

impl Window {
    fn admits(&self, start: Option<i64>, end: Option<i64>) -> bool {
        let late_enough = match (self.since, end.or(start)) {
            (Some(since), Some(t)) => t >= since,
            _ => true,
        };
        let early_enough = match (self.until, start.or(end)) {
            (Some(until), Some(t)) => t <= until,
            _ => true,
        };
        late_enough && early_enough
    }
}

/// Two endpoints and a protocol, the lower address first.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct PairKey {
    /// The lower address.
    pub a: IpAddr,
    /// The higher address.
    pub b: IpAddr,
    /// The IANA protocol number.
    pub protocol: u8,
}

impl PairKey {
    /// The pair of a packet from `src` to `dst`, and whether `src` is
    /// side `a`.
    pub fn of(src: IpAddr, dst: IpAddr, protocol: u8) -> (Self, bool) {
        if src <= dst {
            (
                Self {
                    a: src,
                    b: dst,
                    protocol,
                },
                true,
            )
        } else {
            (
                Self {
                    a: dst,
                    b: src,
                    protocol,
                },
                false,
            )
        }
    }

    /// The address of side `a` (`true`) or `b`.
    pub fn side(&self, a: bool) -> IpAddr {
        if a {
            self.a
        } else {
            self.b
        }
    }
}

/// How many ports a [`PortSketch`] keeps apart.
const SLOTS: usize = 4;

/// First port of the range Linux and most systems draw ephemeral ports
/// from; below it a port is more likely a service's.
const EPHEMERAL_START: u16 = 32768;

/// The ports one side of a pair used on accepted records: up to four kept
/// apart with their counts, the others only noticed. A server's port is
/// constant and stays in a slot; a client's ephemeral ports vary and soon
/// spill over. When the slots are full, a port below 32768 takes the slot
/// of the least-used port at or above it, so that a service port seen late
/// is still counted apart.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct PortSketch {
    ports: [u16; SLOTS],
    counts: [u64; SLOTS],
    used: u8,
    /// Whether more distinct ports were seen than there are slots.
    spilled: bool,
}

impl PortSketch {
    fn slot(&self, port: u16) -> Option<usize> {
        self.ports[..usize::from(self.used)]
            .iter()
            .position(|p| *p == port)
    }

    fn add(&mut self, port: u16, records: u64) {
        if let Some(i) = self.slot(port) {
            self.counts[i] += records;
            return;
        }
        let used = usize::from(self.used);
        if used < SLOTS {
            self.ports[used] = port;
            self.counts[used] = records;
            self.used += 1;
            return;
        }
        self.spilled = true;
        if port < EPHEMERAL_START {
            let victim = (0..used)
                .filter(|i| self.ports[*i] >= EPHEMERAL_START)
                .min_by_key(|i| self.counts[*i]);
            if let Some(i) = victim {
                self.ports[i] = port;
                self.counts[i] = records;
            }
        }
    }

    fn merge(&mut self, other: &PortSketch) {
        for i in 0..usize::from(other.used) {
            self.add(other.ports[i], other.counts[i]);
        }
        self.spilled |= other.spilled;
    }

    /// The accepted records on which this side used `port`, when it has a
    /// slot.
    pub fn count(&self, port: u16) -> Option<u64> {
        self.slot(port).map(|i| self.counts[i])
    }

    /// How many distinct ports this side used, and whether there were more
    /// than could be told apart.
    pub fn distinct(&self) -> (usize, bool) {
        (usize::from(self.used), self.spilled)
    }
}

/// Accepted traffic between two endpoints.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct PairStats {
    /// Accepted records from `a` to `b` and from `b` to `a`.
    pub accepted: [u64; 2],
    /// The ports each side used (`[a, b]`).
    pub ports: [PortSketch; 2],
}

/// Rejected records of one direction, port pair and interface.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct RejectKey {
    /// The endpoints.
    pub pair: PairKey,
    /// Whether the packets went from `a` to `b`.
    pub from_a: bool,
    /// The source port (0 when none is logged).
    pub src_port: u16,
    /// The destination port (0 when none is logged).
    pub dst_port: u16,
    /// The interface that logged them.
    pub interface: Option<EniId>,
    /// Whether VPC Block Public Access rejected them (`reject-reason` BPA).
    pub block_public_access: bool,
    /// Whether the source is the client (`Some(true)`), the server
    /// (`Some(false)`), or not yet known. When the record alone tells (a
    /// SYN or SYN-ACK, a service port below 1024 on one side only), the
    /// client's port is left out of the key (0) and kept as a range in
    /// [`RejectStats::client_ports`]: a scan of a thousand source ports or
    /// a retried connection is one entry, not thousands.
    pub source_is_client: Option<bool>,
}

/// Which side of a rejected record is the client, when the record alone
/// tells: TCP flags (SYN without ACK comes from the client, SYN-ACK from the
/// server), else a service port (below 1024) on one side only, else, for a
/// FIN or RST alone, the lower port.
fn orientation(protocol: u8, src_port: u16, dst_port: u16, flags: Option<u16>) -> Option<bool> {
    if !matches!(protocol, 6 | 17 | 132) || (src_port == 0 && dst_port == 0) {
        return None;
    }
    match flags {
        Some(f) if f & 18 == 18 => return Some(false),
        Some(f) if f & 2 != 0 => return Some(true),
        _ => {}
    }
    match (src_port < 1024, dst_port < 1024) {
        (false, true) => Some(true),
        (true, false) => Some(false),
        // A FIN or RST alone (a late packet, most likely) on two high
        // ports: the lower port is taken for the server's, so that the
        // late packets of many connections are one entry; a SYN would
        // have told, and a record without flags waits for the pair's
        // other records.
        (false, false) if flags.is_some_and(|f| matches!(f, 1 | 4 | 5)) => {
            Some(src_port > dst_port)
        }
        _ => None,
    }
}

/// What the records of one [`RejectKey`] add up to.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct RejectStats {
    /// REJECT records.
    pub records: u64,
    /// Records whose `tcp-flags` are only FIN and RST (1, 4 or 5): packets
    /// of a connection already closed.
    pub after_close: u64,
    /// Records that carry `tcp-flags` at all.
    pub flagged: u64,
    /// Records with SYN and no ACK: their source opens the connection.
    pub syn: u64,
    /// Records with SYN-ACK: their source is the server.
    pub syn_ack: u64,
    /// The first and last second.
    pub span: Option<(i64, i64)>,
    /// The lowest and highest client port, when the key leaves it out.
    pub client_ports: Option<(u16, u16)>,
}

impl RejectStats {
    /// Adds the records of `other`.
    pub fn merge(&mut self, other: &RejectStats) {
        self.records += other.records;
        self.after_close += other.after_close;
        self.flagged += other.flagged;
        self.syn += other.syn;
        self.syn_ack += other.syn_ack;
        self.span = join_spans(self.span, other.span);
        self.client_ports = match (self.client_ports, other.client_ports) {
            (Some((l1, h1)), Some((l2, h2))) => Some((l1.min(l2), h1.max(h2))),
            (x, None) | (None, x) => x,
        };
    }
}

fn join_spans(a: Option<(i64, i64)>, b: Option<(i64, i64)>) -> Option<(i64, i64)> {
    match (a, b) {
        (Some((s1, e1)), Some((s2, e2))) => Some((s1.min(s2), e1.max(e2))),
        (x, None) | (None, x) => x,
    }
}

fn span_of(start: Option<i64>, end: Option<i64>) -> Option<(i64, i64)> {
    match (start, end) {
        (Some(s), Some(e)) => Some((s.min(e), s.max(e))),
        (Some(t), None) | (None, Some(t)) => Some((t, t)),
        (None, None) => None,
    }
}

/// What the records tell about an interface (fields of versions 3 and 4),
/// from the first record that names each.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct InterfaceSeen {
    /// `account-id`.
    pub account: Option<String>,
    /// `region`.
    pub region: Option<String>,
    /// `vpc-id`.
    pub vpc: Option<String>,
    /// `subnet-id`.
    pub subnet: Option<String>,
    /// `az-id`.
    pub az_id: Option<String>,
    /// `instance-id`.
    pub instance: Option<String>,
    /// The interface's own address, when it carried traffic for others
    /// (`srcaddr` or `dstaddr` differs from `pkt-srcaddr`/`pkt-dstaddr`:
    /// a Transit Gateway or NAT gateway interface).
    pub intermediate_address: Option<IpAddr>,
}

impl InterfaceSeen {
    fn learn(&mut self, r: &VpcRecord<'_>) {
        let fill = |slot: &mut Option<String>, value: Option<&str>| {
            if slot.is_none() {
                *slot = value.map(str::to_owned);
            }
        };
        fill(&mut self.account, r.account.filter(|a| *a != "unknown"));
        fill(&mut self.region, r.region);
        fill(&mut self.vpc, r.vpc);
        fill(&mut self.subnet, r.subnet);
        fill(&mut self.az_id, r.az_id);
        fill(&mut self.instance, r.instance);
        if self.intermediate_address.is_none() {
            self.intermediate_address = match (r.src, r.pkt_src, r.dst, r.pkt_dst) {
                (Some(src), Some(pkt), _, _) if src != pkt => Some(src),
                (_, _, Some(dst), Some(pkt)) if dst != pkt => Some(dst),
                _ => None,
            };
        }
    }

    fn merge(&mut self, other: &InterfaceSeen) {
        let fill = |slot: &mut Option<String>, value: &Option<String>| {
            if slot.is_none() {
                slot.clone_from(value);
            }
        };
        fill(&mut self.account, &other.account);
        fill(&mut self.region, &other.region);
        fill(&mut self.vpc, &other.vpc);
        fill(&mut self.subnet, &other.subnet);
        fill(&mut self.az_id, &other.az_id);
        fill(&mut self.instance, &other.instance);
        if self.intermediate_address.is_none() {
            self.intermediate_address = other.intermediate_address;
        }
    }
}

/// Transit Gateway records of one flow direction and delivering interface.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct TgwKey {
    /// The packets' source.
    pub src: IpAddr,
    /// The packets' destination.
    pub dst: IpAddr,
    /// The protocol.
    pub protocol: u8,
    /// `tgw-dst-eni`: the attachment interface that delivered them.
    pub dst_eni: Option<EniId>,
}

/// Where the Transit Gateway delivered the packets of one [`TgwKey`].
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct TgwSeen {
    /// `tgw-dst-az-id`.
    pub dst_az: Option<String>,
    /// `tgw-dst-subnet-id`.
    pub dst_subnet: Option<String>,
    /// `tgw-dst-vpc-id`.
    pub dst_vpc: Option<String>,
    /// `tgw-src-az-id`.
    pub src_az: Option<String>,
    /// Records.
    pub records: u64,
}

/// The Transit Gateway records indexed for the replay's questions.
#[derive(Clone, Debug, Default)]
pub struct TgwIndex<'a> {
    /// By (source, destination).
    pub by_pair: FxHashMap<(IpAddr, IpAddr), Vec<(&'a TgwKey, &'a TgwSeen)>>,
    /// The sources delivered to a destination through an interface, by
    /// (interface, destination, protocol).
    pub sources: FxHashMap<(EniId, IpAddr, u8), Vec<IpAddr>>,
}

impl<'a> TgwIndex<'a> {
    /// Indexes `traffic`'s Transit Gateway records.
    pub fn new(traffic: &'a Traffic) -> Self {
        let mut index = TgwIndex::default();
        for (key, seen) in &traffic.tgw {
            index
                .by_pair
                .entry((key.src, key.dst))
                .or_default()
                .push((key, seen));
            if let Some(eni) = key.dst_eni {
                let sources = index
                    .sources
                    .entry((eni, key.dst, key.protocol))
                    .or_default();
                if !sources.contains(&key.src) {
                    sources.push(key.src);
                }
            }
        }
        index
    }

    /// The records from `src` to `dst`.
    pub fn between(&self, src: IpAddr, dst: IpAddr) -> &[(&'a TgwKey, &'a TgwSeen)] {
        self.by_pair.get(&(src, dst)).map_or(&[], Vec::as_slice)
    }
}

/// Record counts, for the summary and `--stats`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Counts {
    /// VPC flow-log records read.
    pub vpc_records: u64,
    /// Transit Gateway flow-log records read.
    pub tgw_records: u64,
    /// ACCEPT records kept.
    pub accepted: u64,
    /// REJECT records kept.
    pub rejected: u64,
    /// `NODATA` records.
    pub no_data: u64,
    /// `SKIPDATA` records: intervals in which some flows were not logged.
    pub skip_data: u64,
    /// Records outside `--since`/`--until`.
    pub outside_window: u64,
    /// `OK` records without an action (their format leaves it out) or
    /// without addresses: they cannot show a reject.
    pub unusable: u64,
}

impl Counts {
    fn merge(&mut self, other: &Counts) {
        self.vpc_records += other.vpc_records;
        self.tgw_records += other.tgw_records;
        self.accepted += other.accepted;
        self.rejected += other.rejected;
        self.no_data += other.no_data;
        self.skip_data += other.skip_data;
        self.outside_window += other.outside_window;
        self.unusable += other.unusable;
    }
}

/// Everything the records said.
#[derive(Clone, Debug, Default)]
pub struct Traffic {
    window: Window,
    /// Accepted traffic per pair.
    pub pairs: FxHashMap<PairKey, PairStats>,
    /// Rejected records.
    pub rejects: FxHashMap<RejectKey, RejectStats>,
    /// What records told about interfaces.
    pub interfaces: FxHashMap<EniId, InterfaceSeen>,
    /// `SKIPDATA` records per interface.
    pub skip_data: FxHashMap<Option<EniId>, u64>,
    /// Transit Gateway deliveries.
    pub tgw: FxHashMap<TgwKey, TgwSeen>,
    /// Record counts.
    pub counts: Counts,
}

impl Traffic {
    /// An empty aggregate keeping the records in `window`.
    pub fn new(window: Window) -> Self {
        Self {
            window,
            ..Self::default()
        }
    }

    /// Adds one record.
    pub fn add(&mut self, record: &Record<'_>) {
        match record {
            Record::Vpc(r) => self.add_vpc(r),
            Record::TransitGateway(r) => self.add_tgw(r),
        }
    }

    fn add_vpc(&mut self, r: &VpcRecord<'_>) {
        self.counts.vpc_records += 1;
        match r.log_status {
            Some(LogStatus::NoData) => {
                self.counts.no_data += 1;
                return;
            }
            Some(LogStatus::SkipData) => {
                self.counts.skip_data += 1;
                *self.skip_data.entry(r.interface).or_default() += 1;
                return;
            }
            Some(LogStatus::Ok) | None => {}
        }
        if !self.window.admits(r.start, r.end) {
            self.counts.outside_window += 1;
            return;
        }
        let (Some(action), Some(src), Some(dst)) = (r.action, r.source(), r.destination()) else {
            self.counts.unusable += 1;
            return;
        };
        // Intermediate interfaces (Transit Gateway, NAT gateway) are told
        // by any record; the others matter once they reject something.
        let intermediate = r.pkt_src.is_some_and(|p| Some(p) != r.src)
            || r.pkt_dst.is_some_and(|p| Some(p) != r.dst);
        if intermediate || action == Action::Reject {
            if let Some(eni) = r.interface {
                self.interfaces.entry(eni).or_default().learn(r);
            }
        }
        let protocol = r.protocol.unwrap_or(0);
        let (pair, from_a) = PairKey::of(src, dst, protocol);
        let (src_port, dst_port) = (r.src_port.unwrap_or(0), r.dst_port.unwrap_or(0));
        let span = span_of(r.start, r.end);
        match action {
            Action::Accept => {
                self.counts.accepted += 1;
                let stats = self.pairs.entry(pair).or_default();
                stats.accepted[usize::from(!from_a)] += 1;
                let (a_port, b_port) = if from_a {
                    (src_port, dst_port)
                } else {
                    (dst_port, src_port)
                };
                stats.ports[0].add(a_port, 1);
                stats.ports[1].add(b_port, 1);
            }
            Action::Reject => {
                self.counts.rejected += 1;

                let flags = r.tcp_flags.filter(|_| protocol == 6);
                let oriented = orientation(protocol, src_port, dst_port, flags);
                let (key_src, key_dst, client_port) = match oriented {
                    Some(true) => (0, dst_port, Some(src_port)),
                    Some(false) => (src_port, 0, Some(dst_port)),
                    None => (src_port, dst_port, None),
                };
                let key = RejectKey {
                    pair,
                    from_a,
                    src_port: key_src,
                    dst_port: key_dst,
                    interface: r.interface,
                    block_public_access: r.rejected_by_block_public_access(),
                    source_is_client: oriented,
                };
                let one = RejectStats {
                    client_ports: client_port.map(|p| (p, p)),
                    records: 1,
                    after_close: u64::from(flags.is_some_and(|f| matches!(f, 1 | 4 | 5))),
                    flagged: u64::from(flags.is_some()),
                    syn: u64::from(flags.is_some_and(|f| f & 2 != 0 && f & 16 == 0)),
                    syn_ack: u64::from(flags.is_some_and(|f| f & 18 == 18)),
                    span,
                };
                self.rejects.entry(key).or_default().merge(&one);
            }
        }
    }

    fn add_tgw(&mut self, r: &TgwRecord<'_>) {
        self.counts.tgw_records += 1;
        if r.log_status == Some(LogStatus::NoData) {
            self.counts.no_data += 1;
            return;
        }
        if !self.window.admits(r.start, r.end) {
            self.counts.outside_window += 1;
            return;
        }
        let (Some(src), Some(dst)) = (r.src, r.dst) else {
            self.counts.unusable += 1;
            return;
        };
        let key = TgwKey {
            src,
            dst,
            protocol: r.protocol.unwrap_or(0),
            dst_eni: r.dst_eni,
        };
        let seen = self.tgw.entry(key).or_default();
        seen.records += 1;
        let fill = |slot: &mut Option<String>, value: Option<&str>| {
            if slot.is_none() {
                *slot = value.map(str::to_owned);
            }
        };
        fill(&mut seen.dst_az, r.dst_az);
        fill(&mut seen.dst_subnet, r.dst_subnet);
        fill(&mut seen.dst_vpc, r.dst_vpc);
        fill(&mut seen.src_az, r.src_az);
    }

    /// Adds everything `other` aggregated.
    pub fn merge(&mut self, other: Traffic) {
        self.counts.merge(&other.counts);
        for (key, stats) in other.pairs {
            match self.pairs.get_mut(&key) {
                Some(mine) => {
                    mine.accepted[0] += stats.accepted[0];
                    mine.accepted[1] += stats.accepted[1];
                    mine.ports[0].merge(&stats.ports[0]);
                    mine.ports[1].merge(&stats.ports[1]);
                }
                None => {
                    self.pairs.insert(key, stats);
                }
            }
        }
        for (key, stats) in other.rejects {
            self.rejects.entry(key).or_default().merge(&stats);
        }
        for (eni, seen) in other.interfaces {
            self.interfaces.entry(eni).or_default().merge(&seen);
        }
        for (eni, n) in other.skip_data {
            *self.skip_data.entry(eni).or_default() += n;
        }
        for (key, seen) in other.tgw {
            let mine = self.tgw.entry(key).or_default();
            mine.records += seen.records;
            if mine.dst_az.is_none() {
                mine.dst_az = seen.dst_az;
            }
            if mine.dst_subnet.is_none() {
                mine.dst_subnet = seen.dst_subnet;
            }
            if mine.dst_vpc.is_none() {
                mine.dst_vpc = seen.dst_vpc;
            }
            if mine.src_az.is_none() {
                mine.src_az = seen.src_az;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::record::{parse, Format};

    fn add_lines(traffic: &mut Traffic, lines: &[&str]) {
        let format = Format::default_vpc();
        for line in lines {
            let tokens: Vec<&str> = line.split_ascii_whitespace().collect();
            let record = parse(&format, &tokens).unwrap_or_else(|e| panic!("{line}: {e}"));
            traffic.add(&record);
        }
    }

    #[test]
    fn the_server_port_keeps_its_slot_while_client_ports_spill_over() {
        let mut sketch = PortSketch::default();
        for port in 40000..40010 {
            sketch.add(port, 1);
        }
        sketch.add(5432, 1);
        sketch.add(5432, 1);
        assert_eq!(sketch.count(5432), Some(2));
        assert_eq!(sketch.distinct(), (4, true));
    }

    #[test]
    fn accepted_records_count_per_direction_and_rejects_per_ports_and_interface() {
        let mut t = Traffic::default();
        add_lines(
            &mut t,
            &[
                "2 111122223333 eni-0a1b2c3d4e5f60001 10.20.5.17 10.1.1.25 40112 5432 6 3 180 1763622000 1763622060 ACCEPT OK",
                "2 111122223333 eni-0a1b2c3d4e5f60001 10.1.1.25 10.20.5.17 5432 40112 6 3 180 1763622000 1763622060 ACCEPT OK",
                "2 111122223333 eni-0a1b2c3d4e5f6000c 10.20.5.17 10.1.1.25 40113 5432 6 1 60 1763622100 1763622160 REJECT OK",
                "2 111122223333 eni-0a1b2c3d4e5f6000c 10.20.5.17 10.1.1.25 40113 5432 6 1 60 1763622200 1763622260 REJECT OK",
                "2 111122223333 eni-0a1b2c3d4e5f6000c - - - - - - - 1763622000 1763622060 - SKIPDATA",
            ],
        );
        assert_eq!(
            (t.counts.accepted, t.counts.rejected, t.counts.skip_data),
            (2, 2, 1)
        );
        let (pair, _) = PairKey::of(
            "10.20.5.17".parse().expect("ip"),
            "10.1.1.25".parse().expect("ip"),
            6,
        );
        let stats = &t.pairs[&pair];
        assert_eq!(stats.accepted, [1, 1]);
        assert_eq!(stats.ports[0].count(5432), Some(2), "10.1.1.25 is side a");
        assert_eq!(t.rejects.len(), 1);
        let (key, reject) = t.rejects.iter().next().expect("one reject");
        assert_eq!(
            (key.src_port, key.dst_port, key.from_a),
            (40113, 5432, false)
        );
        assert_eq!(reject.records, 2);
        assert_eq!(reject.span, Some((1763622100, 1763622260)));
    }

    #[test]
    fn merging_in_any_order_gives_the_same_aggregate() {
        let lines = [
            "2 111122223333 eni-0a1b2c3d4e5f60001 10.20.5.17 10.1.1.25 40112 5432 6 3 180 1763622000 1763622060 ACCEPT OK",
            "2 111122223333 eni-0a1b2c3d4e5f6000c 10.20.5.17 10.1.1.25 40113 5432 6 1 60 1763622100 1763622160 REJECT OK",
            "2 111122223333 eni-0a1b2c3d4e5f60001 10.1.1.25 10.20.5.17 5432 40112 6 3 180 1763622000 1763622060 ACCEPT OK",
        ];
        let mut whole = Traffic::default();
        add_lines(&mut whole, &lines);
        let mut parts: Vec<Traffic> = lines
            .iter()
            .map(|l| {
                let mut t = Traffic::default();
                add_lines(&mut t, &[l]);
                t
            })
            .collect();
        parts.reverse();
        let mut merged = Traffic::default();
        for part in parts {
            merged.merge(part);
        }
        assert_eq!(merged.pairs, whole.pairs);
        assert_eq!(merged.rejects, whole.rejects);
        assert_eq!(merged.counts, whole.counts);
    }

    #[test]
    fn records_outside_the_window_are_counted_and_left_out() {
        let mut t = Traffic::new(Window {
            since: Some(1763622100),
            until: Some(1763622200),
        });
        add_lines(
            &mut t,
            &[
                "2 111122223333 eni-0a1b2c3d4e5f60001 10.20.5.17 10.1.1.25 40112 5432 6 3 180 1763622000 1763622060 ACCEPT OK",
                "2 111122223333 eni-0a1b2c3d4e5f60001 10.20.5.17 10.1.1.25 40112 5432 6 3 180 1763622090 1763622150 ACCEPT OK",
                "2 111122223333 eni-0a1b2c3d4e5f60001 10.20.5.17 10.1.1.25 40112 5432 6 3 180 1763622201 1763622260 ACCEPT OK",
            ],
        );
        assert_eq!((t.counts.accepted, t.counts.outside_window), (1, 2));
    }

    #[test]
    fn late_fin_and_rst_rejects_are_told_from_syn_rejects() {
        let format = Format::from_header(
            "version interface-id srcaddr dstaddr srcport dstport protocol start end action tcp-flags log-status",
        )
        .expect("header");
        let mut t = Traffic::default();
        for line in [
            "3 eni-0a1b2c3d4e5f60001 10.1.1.25 10.20.5.17 5432 40112 6 1763622000 1763622060 REJECT 1 OK",
            "3 eni-0a1b2c3d4e5f60001 10.1.1.25 10.20.5.17 5432 40112 6 1763622000 1763622060 REJECT 4 OK",
            "3 eni-0a1b2c3d4e5f60001 10.1.1.25 10.20.5.17 5432 40112 6 1763622000 1763622060 REJECT 18 OK",
            "3 eni-0a1b2c3d4e5f60001 10.1.1.25 10.20.5.17 5432 40112 6 1763622000 1763622060 REJECT 0 OK",
        ] {
            let tokens: Vec<&str> = line.split_ascii_whitespace().collect();
            t.add(&parse(&format, &tokens).expect("record"));
        }
        assert_eq!(
            t.rejects.len(),
            2,
            "the SYN-ACK tells its side: a key of its own"
        );
        let mut stats = RejectStats::default();
        for s in t.rejects.values() {
            stats.merge(s);
        }
        assert_eq!(
            (
                stats.records,
                stats.after_close,
                stats.flagged,
                stats.syn,
                stats.syn_ack
            ),
            (4, 2, 4, 0, 1)
        );
    }
}
