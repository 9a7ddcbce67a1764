//! Fixes a person can apply today, with the exact AWS CLI commands, the
//! narrowest that work:
//!
//! - a network ACL entry that allows the leg, numbered below the rule that
//!   denies it (free numbers are taken between the denying rule and the
//!   rule before it; when there is none, the denying rule is copied one
//!   number up first and then replaced, so that nothing else opens);
//! - the CIDR is the subnet of the address when it is in a described
//!   subnet (network ACLs filter subnets), the `--internal` range that holds
//!   it, or else the address alone;
//! - the port is the server's for a request; for return traffic the
//!   clients' ephemeral range, 1024-65535, which covers every client
//!   (Linux draws from 32768-60999, Windows from 49152-65535, NAT
//!   gateways, load balancers and Lambda from 1024-65535; VPC User Guide,
//!   "Ephemeral ports"), with the ports actually seen;
//! - a security group rule for the request's port and peer;
//! - a VPC Block Public Access exclusion for the subnet;
//! - for a Transit Gateway path dropped in some AZs only, the immediate
//!   entry on the attachment subnet's network ACL, then the layout AWS
//!   recommends (Transit Gateway Guide, "Design best practices"): small
//!   dedicated attachment subnets with one network ACL open both ways,
//!   filtering on the workload subnets, in an order that cuts nothing.

use std::collections::BTreeSet;
use std::net::IpAddr;

use ipnet::IpNet;

use crate::config::{AclEntry, Config, InterfaceKind, NetworkAcl, Protocol, RuleAction};
use crate::conversation::Conversation;
use crate::evaluate::nacl::{DEFAULT_DENY_IPV4, DEFAULT_DENY_IPV6};
use crate::evaluate::Packet;
use crate::finding::{AzVerdict, Cause, Leg, Remediation, RemediationKind};
use crate::ids::{NetworkAclId, Region, SubnetId};
use crate::missing::Missing;
use crate::replay::{Check, Outcome, Paths, Replay};

/// What the fixes need besides the replay.
pub struct FixContext<'a> {
    /// The configuration.
    pub config: &'a Config,
    /// `--internal` CIDRs.
    pub internal: &'a [IpNet],
    /// The region of the conversation, for `--region`.
    pub region: Option<&'a Region>,
}

impl FixContext<'_> {
    fn region_flag(&self) -> String {
        self.region
            .map(|r| format!(" --region {r}"))
            .unwrap_or_default()
    }

    /// The narrowest CIDR to allow for `address`, and why.
    fn cidr_for(&self, address: IpAddr) -> (IpNet, String) {
        if let Some(subnet) = self.config.subnet_of_address(address) {
            if let Some(cidr) = subnet
                .cidrs
                .iter()
                .filter(|c| c.contains(&address))
                .max_by_key(|c| c.prefix_len())
            {
                return (
                    *cidr,
                    format!("{cidr} is {}, the subnet of {address}", subnet.id),
                );
            }
        }
        if let Some(cidr) = self
            .internal
            .iter()
            .filter(|c| c.contains(&address))
            .max_by_key(|c| c.prefix_len())
        {
            return (
                *cidr,
                format!("{cidr} is the --internal range of {address}"),
            );
        }
        let host = IpNet::from(address);
        (host, format!("{host} is the address itself"))
    }
}

/// Protocol as the CLI takes it.
fn protocol_name(protocol: u8) -> String {
    match protocol {
        6 => "tcp".to_owned(),
        17 => "udp".to_owned(),
        1 => "icmp".to_owned(),
        n => n.to_string(),
    }
}

/// A protocol and port for people: `TCP 5432`, `ICMP`, `protocol 50`.
pub fn describe_traffic(protocol: u8, port: Option<u16>) -> String {
    let name = match protocol {
        6 => "TCP",
        17 => "UDP",
        1 => "ICMP",
        58 => "ICMPv6",
        132 => "SCTP",
        _ => "",
    };
    match (name, port) {
        ("", _) => format!("protocol {protocol}"),
        (name, Some(port)) => format!("{name} {port}"),
        (name, None) => name.to_owned(),
    }
}

/// The ports (or ICMP messages) an allowing entry opens, its CLI flags, and
/// a sentence on the choice.
struct PortChoice {
    flags: String,
    words: String,
    why: Option<String>,
}

fn port_choice(packet: &Packet, leg: Leg, conversation: &Conversation) -> PortChoice {
    match packet.protocol {
        6 | 17 => match leg {
            Leg::Request => {
                let port = packet
                    .dst_port
                    .or(conversation.key.server_port)
                    .unwrap_or(0);
                PortChoice {
                    flags: format!(" --port-range From={port},To={port}"),
                    words: format!("port {port}"),
                    why: Some(format!("The port is the server's, {port}.")),
                }
            }
            Leg::Response => {
                let seen = conversation
                    .client_ports
                    .map(|(lo, hi)| {
                        let linux = lo >= 32768 && hi <= 60999;
                        let windows = lo >= 49152;
                        let fits = match (linux, windows) {
                            (true, true) => " (within both Linux's 32768-60999 and Windows's 49152-65535)",
                            (true, false) => " (within Linux's 32768-60999)",
                            (false, true) => " (within Windows's 49152-65535)",
                            (false, false) => "",
                        };
                        format!(" The clients seen used ports {lo}-{hi}{fits}; narrow the range to their system's only if every client runs it.")
                    })
                    .unwrap_or_default();
                PortChoice {
                    flags: " --port-range From=1024,To=65535".to_owned(),
                    words: "ports 1024-65535 (the clients' ephemeral ports)".to_owned(),
                    why: Some(format!(
                        "Return traffic goes to the client's ephemeral port: 1024-65535 covers every client (Linux uses 32768-60999, Windows 49152-65535, NAT gateways, load balancers and Lambda 1024-65535).{seen}"
                    )),
                }
            }
        },
        1 | 58 => PortChoice {
            flags: " --icmp-type-code Type=-1,Code=-1".to_owned(),
            words: "every ICMP type".to_owned(),
            why: Some(
                "Flow logs do not record the ICMP type, so the entry covers every type.".to_owned(),
            ),
        },
        _ => PortChoice {
            flags: String::new(),
            words: String::new(),
            why: None,
        },
    }
}

/// A free rule number below `deny` in `acl`'s direction: the denying rule
/// is the first that matches, so any number between the rule before it
/// and it is evaluated first. Round numbers are preferred.
pub fn free_rule_number(acl: &NetworkAcl, egress: bool, deny: u16) -> Option<u16> {
    let used: BTreeSet<u16> = acl
        .entries
        .iter()
        .filter(|e| e.egress == egress)
        .map(|e| e.rule_number)
        .collect();
    if deny == DEFAULT_DENY_IPV4 || deny == DEFAULT_DENY_IPV6 {
        let last = used
            .iter()
            .copied()
            .filter(|n| *n < DEFAULT_DENY_IPV4)
            .max()
            .unwrap_or(0);
        let next = (last / 10 + 1) * 10;
        if next < DEFAULT_DENY_IPV4 && !used.contains(&next) {
            return Some(next);
        }
        return (1..DEFAULT_DENY_IPV4).rev().find(|n| !used.contains(n));
    }
    let before = used.range(..deny).next_back().copied().unwrap_or(0);
    let free: Vec<u16> = (before + 1..deny).filter(|n| !used.contains(n)).collect();
    free.iter()
        .rev()
        .find(|n| *n % 10 == 0)
        .or_else(|| free.iter().rev().find(|n| *n % 5 == 0))
        .or_else(|| free.last())
        .copied()
}

/// A free rule number above `rule` and below the next rule.
fn free_number_above(acl: &NetworkAcl, egress: bool, rule: u16) -> Option<u16> {
    let used: BTreeSet<u16> = acl
        .entries
        .iter()
        .filter(|e| e.egress == egress)
        .map(|e| e.rule_number)
        .collect();
    let next = used
        .range(rule + 1..)
        .next()
        .copied()
        .unwrap_or(DEFAULT_DENY_IPV4)
        .min(DEFAULT_DENY_IPV4);
    (rule + 1..next).find(|n| !used.contains(n))
}

fn entry_flags(entry: &AclEntry) -> String {
    let protocol = match entry.protocol {
        Protocol::All => "-1".to_owned(),
        Protocol::Number(n) => protocol_name(n),
    };
    let mut out = format!(" --protocol {protocol}");
    if let Some(range) = entry.ports {
        out.push_str(&format!(
            " --port-range From={},To={}",
            range.from, range.to
        ));
    }
    if let Some(icmp) = entry.icmp {
        out.push_str(&format!(
            " --icmp-type-code Type={},Code={}",
            icmp.kind, icmp.code
        ));
    }
    let cidr_flag = if entry.cidr.network().is_ipv6() {
        "--ipv6-cidr-block"
    } else {
        "--cidr-block"
    };
    let action = match entry.action {
        RuleAction::Allow => "allow",
        RuleAction::Deny => "deny",
    };
    out.push_str(&format!(
        " {cidr_flag} {} --rule-action {action}",
        entry.cidr
    ));
    out
}

/// An allow rule for return traffic (TCP or UDP, its CIDR holding the
/// client, evaluated before the denying rule) whose port range starts at
/// 1024 or above and misses the client's port: widening it to 1024-65535
/// keeps everything it allowed.
fn narrow_return_rule<'a>(
    acl: &'a NetworkAcl,
    egress: bool,
    deny: u16,
    packet: &Packet,
    leg: Leg,
) -> Option<(&'a AclEntry, crate::config::PortRange)> {
    if leg != Leg::Response || !matches!(packet.protocol, 6 | 17) {
        return None;
    }
    let address = if egress { packet.dst } else { packet.src }?;
    let port = packet.dst_port?;
    acl.entries.iter().find_map(|e| {
        let range = e.ports?;
        (e.egress == egress
            && e.rule_number < deny
            && e.action == RuleAction::Allow
            && e.protocol == Protocol::Number(packet.protocol)
            && e.cidr.contains(&address)
            && !range.contains(port)
            && range.from >= 1024
            && port >= 1024)
            .then_some((e, range))
    })
}

/// Where an allowing entry goes: a network ACL, the subnet it was
/// evaluated for, its direction, and the rule that denies today.
#[derive(Clone, Copy)]
struct AclTarget<'a> {
    acl: &'a NetworkAcl,
    subnet: &'a SubnetId,
    egress: bool,
    deny: u16,
}

/// The steps and commands that allow `packet` through `acl` in its
/// direction, below `deny`.
fn acl_entry_fix(
    ctx: &FixContext<'_>,
    target: AclTarget<'_>,
    packet: &Packet,
    leg: Leg,
    conversation: &Conversation,
) -> (Vec<String>, Vec<String>) {
    let AclTarget {
        acl,
        subnet,
        egress,
        deny,
    } = target;
    let address = if egress { packet.dst } else { packet.src };
    let direction = if egress { "--egress" } else { "--ingress" };
    let (cidr_text, cidr_flag, cidr_why) = match address {
        Some(address) => {
            let (cidr, why) = ctx.cidr_for(address);
            let flag = if cidr.network().is_ipv6() { "--ipv6-cidr-block" } else { "--cidr-block" };
            (cidr.to_string(), flag, Some(why))
        }
        None => (
            "<client-cidr>".to_owned(),
            if packet.is_ipv6() { "--ipv6-cidr-block" } else { "--cidr-block" },
            Some("The client's address is hidden behind the Transit Gateway interface in these records: put your clients' range in place of <client-cidr>.".to_owned()),
        ),
    };
    let ports = port_choice(packet, leg, conversation);
    let protocol = protocol_name(packet.protocol);
    let region = ctx.region_flag();
    let toward = if egress { "to" } else { "from" };
    let traffic = match packet.protocol {
        6 | 17 => format!(
            "{} {}",
            describe_traffic(packet.protocol, None),
            ports.words
        ),
        1 | 58 => format!("{} (every type)", describe_traffic(packet.protocol, None)),
        _ => describe_traffic(packet.protocol, None),
    };
    let deny_words = if deny == DEFAULT_DENY_IPV4 || deny == DEFAULT_DENY_IPV6 {
        format!("the final * rule ({deny}), which denies it because no rule allows it")
    } else {
        format!("rule {deny}, which denies it today")
    };
    let way = if egress { "outbound" } else { "inbound" };
    let mut steps = Vec::new();
    let mut commands = Vec::new();
    if let Some((entry, range)) = narrow_return_rule(acl, egress, deny, packet, leg) {
        // A rule meant for return traffic exists but its ports miss this
        // client's: widen it where it is (same number, same CIDR), which
        // fixes every client at once.
        let cidr_flag = if entry.cidr.network().is_ipv6() {
            "--ipv6-cidr-block"
        } else {
            "--cidr-block"
        };
        steps.push(format!(
            "Rule {} of {} ({way}, the network ACL of {subnet}) allows return traffic {toward} {} on ports {}-{} only, and the client used port {}: widen it to ports 1024-65535 in place (same rule number and CIDR).",
            entry.rule_number,
            acl.id,
            entry.cidr,
            range.from,
            range.to,
            packet.dst_port.unwrap_or_default()
        ));
        commands.push(format!(
            "aws ec2 replace-network-acl-entry --network-acl-id {} {direction} --rule-number {} --protocol {protocol} --port-range From=1024,To=65535 {cidr_flag} {} --rule-action allow{region}",
            acl.id, entry.rule_number, entry.cidr
        ));
        if let Some(why) = ports.why {
            steps.push(why);
        }
        return (steps, commands);
    }
    let allow = |number: u16, verb: &str| {
        format!(
            "aws ec2 {verb} --network-acl-id {} {direction} --rule-number {number} --protocol {protocol}{} {cidr_flag} {cidr_text} --rule-action allow{region}",
            acl.id, ports.flags
        )
    };
    match free_rule_number(acl, egress, deny) {
        Some(number) => {
            steps.push(format!(
                "Allow {traffic} {toward} {cidr_text} in the {way} rules of {} (the network ACL of {subnet}): add rule {number}, below {deny_words}, so that it is evaluated first.",
                acl.id
            ));
            commands.push(allow(number, "create-network-acl-entry"));
        }
        None => {
            let existing = acl
                .entries
                .iter()
                .find(|e| e.egress == egress && e.rule_number == deny);
            match (existing, free_number_above(acl, egress, deny)) {
                (Some(entry), Some(copy)) => {
                    steps.push(format!(
                        "No rule number is free below rule {deny} of {} ({way}, the network ACL of {subnet}). First copy rule {deny} to rule {copy}, so that what it denies stays denied.",
                        acl.id
                    ));
                    commands.push(format!(
                        "aws ec2 create-network-acl-entry --network-acl-id {} {direction} --rule-number {copy}{}{region}",
                        acl.id,
                        entry_flags(entry)
                    ));
                    steps.push(format!(
                        "Then replace rule {deny} with an entry that allows {traffic} {toward} {cidr_text}."
                    ));
                    commands.push(allow(deny, "replace-network-acl-entry"));
                }
                _ => steps.push(format!(
                    "No rule number is free around rule {deny} of {} ({way}): renumber its rules (recreate them with gaps, highest first) and add an entry that allows {traffic} {toward} {cidr_text} below rule {deny}.",
                    acl.id
                )),
            }
        }
    }
    if let Some(why) = cidr_why {
        steps.push(why.trim_end_matches('.').to_owned() + ".");
    }
    let others: Vec<String> = acl
        .subnets
        .iter()
        .filter(|s| *s != subnet)
        .map(ToString::to_string)
        .collect();
    if !others.is_empty() {
        steps.push(format!(
            "{} also applies to {}: the entry lets the same traffic through there.",
            acl.id,
            others.join(", ")
        ));
    }
    if let Some(why) = ports.why {
        steps.push(why);
    }
    (steps, commands)
}

/// The fix of a replayed conversation.
pub fn remediation(
    ctx: &FixContext<'_>,
    conversation: &Conversation,
    replay: &Replay,
) -> Remediation {
    match replay.cause {
        Cause::NaclInboundDeny | Cause::NaclOutboundDeny | Cause::NaclReturnTrafficDeny => {
            let (steps, commands) = acl_fixes(ctx, conversation, replay);
            finish(RemediationKind::NetworkAclEntry, steps, commands, replay)
        }
        Cause::TgwEntryAzNacl => tgw_layout(ctx, conversation, replay),
        Cause::SecurityGroupNoAllow => security_group_fix(ctx, conversation, replay),
        Cause::BlockPublicAccess => bpa_fix(ctx, conversation, replay),
        Cause::Unexplained => collect(replay),
    }
}

fn finish(
    kind: RemediationKind,
    steps: Vec<String>,
    commands: Vec<String>,
    replay: &Replay,
) -> Remediation {
    if steps.is_empty() {
        return collect(replay);
    }
    Remediation {
        kind,
        steps,
        commands,
    }
}

/// The network ACL fixes: the failing step, and for Transit Gateway paths
/// every other AZ that fails at a different network ACL rule.
fn acl_fixes(
    ctx: &FixContext<'_>,
    conversation: &Conversation,
    replay: &Replay,
) -> (Vec<String>, Vec<String>) {
    let mut steps = Vec::new();
    let mut commands = Vec::new();
    let mut done: Vec<(NetworkAclId, u16, bool)> = Vec::new();
    let mut fix = |subnet: &SubnetId, egress: bool, acl_id: &NetworkAclId, rule: u16| {
        if done.contains(&(acl_id.clone(), rule, egress)) {
            return;
        }
        done.push((acl_id.clone(), rule, egress));
        let Some(acl) = ctx.config.network_acls.get(acl_id) else {
            return;
        };
        let target = AclTarget {
            acl,
            subnet,
            egress,
            deny: rule,
        };
        let (s, c) = acl_entry_fix(ctx, target, &replay.packet, replay.leg, conversation);
        steps.extend(s);
        commands.extend(c);
    };
    let mut failing: Vec<&crate::replay::Step> = replay.failing.iter().collect();
    if let Some(Paths::PerAz(paths)) = &replay.paths {
        failing.extend(paths.iter().filter_map(|p| p.result.failure()));
    }
    for step in failing {
        if let (
            Check::Nacl { subnet, egress },
            Outcome::Deny {
                acl: Some(acl),
                rule: Some(rule),
                ..
            },
        ) = (&step.check, &step.outcome)
        {
            fix(subnet, *egress, acl, *rule);
        }
    }
    (steps, commands)
}

fn tgw_layout(ctx: &FixContext<'_>, conversation: &Conversation, replay: &Replay) -> Remediation {
    let (mut steps, mut commands) = acl_fixes(ctx, conversation, replay);
    if let Some(first) = steps.first_mut() {
        *first = format!(
            "Stop the drops now, opening nothing else: {}",
            lowercase_first(first)
        );
    }
    let region = ctx.region_flag();
    let vpc = replay
        .vpc
        .as_ref()
        .map(ToString::to_string)
        .unwrap_or_else(|| "<vpc-id>".to_owned());
    let attachment_subnets: Vec<SubnetId> = replay
        .vpc
        .as_ref()
        .map(|v| {
            ctx.config
                .attachment_subnets(v)
                .into_iter()
                .map(|a| a.subnet)
                .collect()
        })
        .unwrap_or_else(|| {
            replay
                .entry_azs
                .iter()
                .map(|a| a.subnet_id.clone())
                .collect()
        });
    let mut ordered: Vec<SubnetId> = replay
        .entry_azs
        .iter()
        .filter(|a| a.verdict == AzVerdict::Fail)
        .map(|a| a.subnet_id.clone())
        .collect();
    for s in &attachment_subnets {
        if !ordered.contains(s) {
            ordered.push(s.clone());
        }
    }
    let ipv6 = replay
        .vpc
        .as_ref()
        .and_then(|v| ctx.config.vpcs.get(v))
        .is_some_and(|v| v.cidrs.iter().any(|c| c.network().is_ipv6()));
    let list = ordered
        .iter()
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join(",");
    steps.push(
        "Then move to the layout AWS recommends for Transit Gateway attachments: a small dedicated subnet (a /28) per AZ holding only the attachment, one network ACL open both ways for those subnets, and the filtering on the workload subnets' network ACLs and security groups. Which AZ the Transit Gateway delivers a flow from Direct Connect or VPN in is not yours to choose, so a rule on an attachment subnet drops flows at random.".to_owned(),
    );
    steps.push(format!(
        "Check that the attachment subnets ({list}) hold nothing but the attachment: aws ec2 describe-network-interfaces --filters Name=subnet-id,Values={list}{region}. If workloads share them, give the attachment its own /28 subnets first, one AZ at a time in a quiet window (modify-transit-gateway-vpc-attachment --add-subnet-ids / --remove-subnet-ids): while an AZ has no attachment subnet its resources cannot reach the Transit Gateway."
    ));
    steps.push(
        "Make sure the workload subnets' network ACLs and security groups filter what the attachment subnets' rules were meant to filter (for example traffic between AZs) before opening them; opening the attachment subnets removes drops and cuts nothing.".to_owned(),
    );
    steps.push(format!("Create the open network ACL for the attachment subnets in {vpc} and note its id (<open-acl-id> below)."));
    commands.push(format!("aws ec2 create-network-acl --vpc-id {vpc}{region}"));
    for direction in ["--ingress", "--egress"] {
        commands.push(format!(
            "aws ec2 create-network-acl-entry --network-acl-id <open-acl-id> {direction} --rule-number 100 --protocol -1 --cidr-block 0.0.0.0/0 --rule-action allow{region}"
        ));
        if ipv6 {
            commands.push(format!(
                "aws ec2 create-network-acl-entry --network-acl-id <open-acl-id> {direction} --rule-number 101 --protocol -1 --ipv6-cidr-block ::/0 --rule-action allow{region}"
            ));
        }
    }
    steps.push(if ipv6 {
        "Allow everything both ways in it, IPv4 and IPv6 (rules 100 and 101).".to_owned()
    } else {
        "Allow everything both ways in it (rule 100 inbound and outbound).".to_owned()
    });
    steps.push(format!(
        "Associate it with each attachment subnet, the failing AZ's first ({list}): look up the subnet's current association id, then replace it; the switch is atomic and the open network ACL allows everything the old one did."
    ));
    for subnet in &ordered {
        commands.push(format!(
            "aws ec2 describe-network-acls --filters Name=association.subnet-id,Values={subnet} --query \"NetworkAcls[].Associations[?SubnetId=='{subnet}'].NetworkAclAssociationId\" --output text{region}"
        ));
        commands.push(format!(
            "aws ec2 replace-network-acl-association --association-id <association-id-of-{subnet}> --network-acl-id <open-acl-id>{region}"
        ));
    }
    steps.push("Run start-doctor flows again on the flow logs of the next hour: the attachment interfaces should log no more REJECT records for this traffic, and the temporary entry can then be removed (delete-network-acl-entry).".to_owned());
    Remediation {
        kind: RemediationKind::TgwSubnetLayout,
        steps,
        commands,
    }
}

fn lowercase_first(text: &str) -> String {
    let mut chars = text.chars();
    match chars.next() {
        Some(c) => c.to_lowercase().chain(chars).collect(),
        None => String::new(),
    }
}

fn security_group_fix(
    ctx: &FixContext<'_>,
    conversation: &Conversation,
    replay: &Replay,
) -> Remediation {
    let Some(step) = &replay.failing else {
        return collect(replay);
    };
    let (Check::Groups { interface, inbound }, Outcome::Deny { groups, .. }) =
        (&step.check, &step.outcome)
    else {
        return collect(replay);
    };
    let Some(group) = groups.first() else {
        return collect(replay);
    };
    let peer = if *inbound {
        replay.packet.src
    } else {
        replay.packet.dst
    };
    let Some(peer) = peer else {
        return collect(replay);
    };
    // The peer is an interface of the same VPC with security groups: a
    // reference to its group is narrower than any CIDR and follows it.
    let vpc = ctx
        .config
        .security_groups
        .get(group)
        .and_then(|g| g.vpc.clone());
    let peer_group = ctx
        .config
        .interface_with_address(peer)
        .filter(|i| matches!(i.kind, InterfaceKind::Other))
        .filter(|i| vpc.is_some() && i.vpc == vpc)
        .and_then(|i| i.groups.first().map(|g| (g.clone(), i.id)));
    let (range, who, why) = match &peer_group {
        Some((peer_group, eni)) => (
            format!("UserIdGroupPairs=[{{GroupId={peer_group}}}]"),
            format!("the interfaces that carry {peer_group}"),
            format!("{peer_group} is the security group of {eni} ({peer}): a reference to it allows those instances wherever their addresses move"),
        ),
        None => {
            let (cidr, why) = ctx.cidr_for(peer);
            let range = if cidr.network().is_ipv6() {
                format!("Ipv6Ranges=[{{CidrIpv6={cidr}}}]")
            } else {
                format!("IpRanges=[{{CidrIp={cidr}}}]")
            };
            (range, cidr.to_string(), why)
        }
    };
    let protocol = replay.packet.protocol;
    let permission = match protocol {
        6 | 17 => {
            let port = replay
                .packet
                .dst_port
                .or(conversation.key.server_port)
                .unwrap_or(0);
            format!(
                "IpProtocol={},FromPort={port},ToPort={port},{range}",
                protocol_name(protocol)
            )
        }
        1 => format!("IpProtocol=icmp,FromPort=-1,ToPort=-1,{range}"),
        58 => format!("IpProtocol=icmpv6,FromPort=-1,ToPort=-1,{range}"),
        n => format!("IpProtocol={n},{range}"),
    };
    let (verb, toward, way) = if *inbound {
        ("authorize-security-group-ingress", "from", "inbound")
    } else {
        ("authorize-security-group-egress", "to", "outbound")
    };
    let all = groups
        .iter()
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join(", ");
    let steps = vec![
        format!(
            "Allow {} {toward} {who} in the {way} rules of {group}, a security group of {interface} (its groups: {all}); security groups are stateful, so the replies need no rule.",
            describe_traffic(protocol, replay.packet.dst_port.or(conversation.key.server_port).filter(|_| matches!(protocol, 6 | 17)))
        ),
        format!("{why}."),
    ];
    let commands = vec![format!(
        "aws ec2 {verb} --group-id {group} --ip-permissions '{permission}'{}",
        ctx.region_flag()
    )];
    Remediation {
        kind: RemediationKind::SecurityGroupRule,
        steps,
        commands,
    }
}

fn bpa_fix(ctx: &FixContext<'_>, conversation: &Conversation, replay: &Replay) -> Remediation {
    let client_inside = ctx
        .config
        .subnet_of_address(conversation.key.client)
        .is_some()
        || ctx
            .config
            .interface_with_address(conversation.key.client)
            .is_some();
    let inside = if client_inside {
        conversation.key.client
    } else {
        conversation.key.server
    };
    let subnet = ctx
        .config
        .interface_with_address(inside)
        .and_then(|i| i.subnet.clone())
        .or_else(|| ctx.config.subnet_of_address(inside).map(|s| s.id.clone()));
    let (mode, why) = if client_inside {
        (
            "allow-egress",
            "the connection starts inside, so outbound internet traffic (and its replies) is enough; allow-egress applies when Block Public Access blocks both ways",
        )
    } else {
        (
            "allow-bidirectional",
            "the connection starts on the internet, so inbound internet traffic must be allowed",
        )
    };
    let target = match &subnet {
        Some(s) => format!("--subnet-id {s}"),
        None => match &replay.vpc {
            Some(v) => format!("--vpc-id {v}"),
            None => "--subnet-id <subnet-id>".to_owned(),
        },
    };
    let excluded = subnet.as_ref().is_some_and(|s| {
        ctx.config
            .bpa_exclusions
            .iter()
            .any(|e| e.resource.as_deref() == Some(s.as_str()))
    });
    let mut steps = vec![format!(
        "Exclude {} from VPC Block Public Access in mode {mode}: {why}.",
        subnet.as_ref().map_or_else(
            || "the subnet of ".to_owned() + &inside.to_string(),
            ToString::to_string
        )
    )];
    if excluded {
        steps.push("An exclusion for this subnet is already described: check its mode (describe-vpc-block-public-access-exclusions); an exclusion takes a few minutes to apply.".to_owned());
    }
    steps.push("Block Public Access is evaluated apart from network ACLs and security groups: they must still allow the traffic.".to_owned());
    Remediation {
        kind: RemediationKind::BlockPublicAccessExclusion,
        steps,
        commands: vec![format!(
            "aws ec2 create-vpc-block-public-access-exclusion {target} --internet-gateway-exclusion-mode {mode}{}",
            ctx.region_flag()
        )],
    }
}

/// Collect what is missing; when nothing is, say why the configuration
/// given cannot explain the rejects.
pub fn collect(replay: &Replay) -> Remediation {
    let mut steps = Vec::new();
    let mut commands = Vec::new();
    for missing in &replay.missing {
        steps.push(format!("Collect {missing}."));
        if let Some(command) = missing.command() {
            commands.push(command);
        }
    }
    if replay.missing.is_empty()
        || replay
            .missing
            .iter()
            .all(|m| matches!(m, Missing::IcmpType))
    {
        steps.push("The configuration given allows this traffic on every path it could take. It may have changed since the records were written (describe it again, or look up its history in AWS Config or CloudTrail), the rejected packets may have come after the connection closed (a custom flow-log format with ${tcp-flags} tells), or another control applies (VPC Block Public Access: ${reject-reason}; a firewall appliance on the path).".to_owned());
    } else {
        steps
            .push("Run start-doctor flows again with that output beside the flow logs.".to_owned());
    }
    commands.dedup();
    Remediation {
        kind: RemediationKind::CollectData,
        steps,
        commands,
    }
}
