//! From records and configuration to findings: conversations, noise set
//! aside, each rejected leg replayed, its cause named, its fix written, in
//! one sentence and in steps.
//!
//! Noise (counted, not reported unless `--all`):
//! - rejects of FIN or RST packets (`tcp-flags` 1, 4 or 5) on a
//!   conversation that was otherwise accepted: packets that arrived after
//!   the connection closed (VPC User Guide: REJECT also means "arrived
//!   after the connection was closed");
//! - rejects of conversations started from outside addresses (not in a VPC
//!   or subnet CIDR described, nor in `--internal`) with no accepted
//!   traffic between the two ends: scans of closed ports, which network
//!   ACLs, security groups and Block Public Access exist to drop.

use std::net::IpAddr;

use chrono::{DateTime, TimeZone, Utc};
use ipnet::IpNet;

use crate::config::{Config, InterfaceKind};
use crate::conversation::{conversations, Conversation};
use crate::finding::{AzVerdict, Cause, Finding, Leg, Report};
use crate::ids::{Account, EniId, Region};
use crate::remedy::{describe_traffic, remediation, FixContext};
use crate::replay::{replay, Context, Replay};
use crate::traffic::{TgwIndex, Traffic};

/// How to diagnose.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Options {
    /// CIDRs that count as inside (on premises, other VPCs).
    pub internal: Vec<IpNet>,
    /// Report noise as findings too.
    pub all: bool,
}

/// Diagnoses every rejected conversation of `traffic` against `config`.
pub fn diagnose(config: &Config, traffic: &Traffic, options: &Options) -> Report {
    let context = Context::new(config, traffic, &options.internal);
    let mut report = Report::default();
    let tgw = TgwIndex::new(traffic);
    let unhide = |address: IpAddr, interface: Option<EniId>, other: IpAddr, protocol: u8| {
        behind_tgw_interface(config, &tgw, address, interface, other, protocol)
    };
    for conversation in conversations(traffic, &unhide) {
        let rejected = conversation.rejected();
        let outside = !config.is_inside(conversation.key.client, &options.internal);
        if outside && conversation.pair_accepted == 0 {
            report.noise.unsolicited += rejected;
            if !options.all {
                continue;
            }
        }
        let late = if conversation.accepted > 0 {
            conversation.after_close()
        } else {
            0
        };
        report.noise.after_close += late;
        let counted = if options.all {
            rejected
        } else {
            rejected - late
        };
        if counted == 0 {
            continue;
        }
        let replayed = replay(&context, &conversation);
        report.findings.push(finding(
            config,
            traffic,
            options,
            &conversation,
            &replayed,
            counted,
            late == rejected,
        ));
    }
    report
}

/// The real source of packets a Transit Gateway interface logged with its
/// own address as the source (a flow-log format without `pkt-srcaddr`):
/// the one source the Transit Gateway flow logs show delivering to
/// `other` through that interface.
fn behind_tgw_interface(
    config: &Config,
    tgw: &TgwIndex<'_>,
    address: IpAddr,
    interface: Option<EniId>,
    other: IpAddr,
    protocol: u8,
) -> Option<IpAddr> {
    let eni = interface?;
    let own = config.interfaces.get(&eni)?;
    if !matches!(own.kind, InterfaceKind::TransitGateway { .. })
        || !own.addresses.contains(&address)
    {
        return None;
    }
    match tgw.sources.get(&(eni, other, protocol)).map(Vec::as_slice) {
        Some([only]) => Some(*only),
        _ => None,
    }
}

fn time(seconds: i64) -> DateTime<Utc> {
    Utc.timestamp_opt(seconds, 0).single().unwrap_or_default()
}

/// The account and region of the conversation's interfaces.
fn origin(
    config: &Config,
    traffic: &Traffic,
    conversation: &Conversation,
) -> (Option<Account>, Option<Region>) {
    let mut account = None;
    let mut region = None;
    for eni in conversation.interfaces() {
        if let Some(seen) = traffic.interfaces.get(&eni) {
            account = account.or_else(|| seen.account.as_deref().and_then(Account::parse));
            region = region.or_else(|| seen.region.as_deref().and_then(Region::parse));
        }
        if let Some(interface) = config.interfaces.get(&eni) {
            region = region.or_else(|| {
                let zone = interface.az_name.as_ref()?;
                Region::of_zone(zone.as_str())
            });
            account = account.or_else(|| {
                let subnet = interface.subnet.as_ref()?;
                config.subnets.get(subnet)?.account.clone()
            });
        }
    }
    (account, region)
}

fn finding(
    config: &Config,
    traffic: &Traffic,
    options: &Options,
    conversation: &Conversation,
    replayed: &Replay,
    rejected_records: u64,
    only_late: bool,
) -> Finding {
    let (account, region) = origin(config, traffic, conversation);
    let fix = FixContext {
        config,
        internal: &options.internal,
        region: region.as_ref(),
    };
    let remediation = remediation(&fix, conversation, replayed);
    let (first, last) = conversation.span().unwrap_or((0, 0));
    let key = conversation.key;
    Finding {
        client: key.client,
        server: key.server,
        server_port: key.server_port,
        protocol: key.protocol,
        rejected_leg: replayed.leg,
        interface_ids: conversation.interfaces(),
        account,
        region,
        first_seen: time(first),
        last_seen: time(last),
        rejected_records,
        accepted_records: conversation.accepted,
        intermittent: conversation.accepted > 0,
        cause: replayed.cause,
        control: replayed.control.clone(),
        entry_azs: replayed.entry_azs.clone(),
        missing: replayed
            .missing
            .iter()
            .map(|m| match m.command() {
                Some(command) => format!("{m}: {command}"),
                None => m.to_string(),
            })
            .collect(),
        summary: summary(conversation, replayed, only_late),
        remediation,
    }
}

/// The conversation in words: `10.20.5.17 to 10.1.1.25 on TCP 5432`.
fn conversation_words(conversation: &Conversation) -> String {
    let key = conversation.key;
    format!(
        "{} to {} on {}",
        key.client,
        key.server,
        describe_traffic(key.protocol, key.server_port)
    )
}

fn summary(conversation: &Conversation, replayed: &Replay, only_late: bool) -> String {
    let what = conversation_words(conversation);
    let control = replayed.control.as_ref();
    let rule = control
        .and_then(|c| c.rule_number)
        .map_or_else(|| "a rule".to_owned(), |r| format!("rule {r}"));
    let acl = control
        .and_then(|c| c.id.clone())
        .unwrap_or_else(|| "its network ACL".to_owned());
    let subnet = control
        .and_then(|c| c.subnet_id.as_ref())
        .map_or_else(String::new, |s| format!(" of {s}"));
    let leg = match replayed.leg {
        Leg::Request => "request",
        Leg::Response => "reply",
    };
    let azs = |verdict: AzVerdict| {
        replayed
            .entry_azs
            .iter()
            .filter(|a| a.verdict == verdict)
            .map(|a| a.az_id.clone())
            .collect::<Vec<_>>()
            .join(", ")
    };
    match replayed.cause {
        Cause::TgwEntryAzNacl => format!(
            "{what} passes when the Transit Gateway delivers it in {} and is dropped in {} by {rule} of {acl}{subnet} ({} rules), so it fails only sometimes.",
            azs(AzVerdict::Pass),
            azs(AzVerdict::Fail),
            if control.and_then(|c| c.egress) == Some(true) { "outbound" } else { "inbound" },
        ),
        Cause::NaclInboundDeny => format!("{what}: the request is denied entering the subnet by {rule} of {acl}{subnet} (inbound rules)."),
        Cause::NaclOutboundDeny => format!("{what}: the request is denied leaving the subnet by {rule} of {acl}{subnet} (outbound rules)."),
        Cause::NaclReturnTrafficDeny => format!(
            "{what}: the request gets through but the reply is denied by {rule} of {acl}{subnet} ({} rules): network ACLs are stateless and need a rule for return traffic{}.",
            if control.and_then(|c| c.egress) == Some(true) { "outbound" } else { "inbound" },
            if conversation.key.server_port.is_some() { " to the client's ephemeral ports" } else { "" },
        ),
        Cause::SecurityGroupNoAllow => format!(
            "{what}: no rule of the security groups ({}) of the {} allows the request.",
            control.map(|c| c.security_group_ids.iter().map(ToString::to_string).collect::<Vec<_>>().join(", ")).unwrap_or_default(),
            if conversation.key.server == replayed.packet.dst.unwrap_or(conversation.key.server) { "server's interface" } else { "client's interface" },
        ),
        Cause::BlockPublicAccess => format!("{what}: VPC Block Public Access rejects the {leg} (reject-reason BPA)."),
        Cause::Unexplained if only_late => format!(
            "{what}: every rejected record is a FIN or RST on a conversation otherwise accepted, packets that arrived after the connection closed."
        ),
        Cause::Unexplained if replayed.missing.is_empty() => format!(
            "{what}: the {leg} was rejected, but the configuration given allows it on every path it could take."
        ),
        Cause::Unexplained => format!(
            "{what}: the {leg} was rejected and cannot be explained without {}.",
            replayed.missing.iter().map(ToString::to_string).collect::<Vec<_>>().join("; ")
        ),
    }
    .replace("  ", " ")
        + &assumption_words(replayed)
}

fn assumption_words(replayed: &Replay) -> String {
    replayed
        .assumptions
        .iter()
        .map(|a| format!(" (Assumed: {a}.)"))
        .collect()
}
