//! The replay: a rejected leg played again over every path it could have
//! taken, against the controls on each, to find the one that denies.
//!
//! A path is the checks a packet meets from its source to its
//! destination:
//! - leaving an interface: its security groups' outbound rules (requests
//!   only: security groups are stateful);
//! - leaving a subnet: the subnet's network ACL outbound rules, on the
//!   destination address;
//! - entering a subnet: its network ACL inbound rules, on the source
//!   address;
//! - entering an interface: its security groups' inbound rules (requests
//!   only).
//!
//! Traffic between two interfaces of one subnet meets no network ACL.
//! Traffic that crosses a Transit Gateway attachment does as the Transit
//! Gateway Guide ("Network ACLs") states: from the VPC to the Transit
//! Gateway, the source subnet's outbound rules and the attachment subnet's
//! inbound rules (the attachment subnet's outbound rules are not
//! evaluated), both of the one subnet when they are the same; from the
//! Transit Gateway into the VPC, the attachment subnet's outbound rules
//! and the destination subnet's inbound rules, none when they are the same
//! subnet. A VPC sends traffic to the Transit Gateway through the
//! attachment subnet in the source's own AZ (Transit Gateway Guide, "VPC
//! attachments": resources in an AZ without one cannot reach it); traffic
//! from Direct Connect or VPN may enter by any attachment AZ, so every one
//! is replayed.

use std::net::IpAddr;

use ipnet::IpNet;

use crate::config::{AttachmentSubnet, Config, InterfaceKind, NetworkAcl, RouteTarget};
use crate::conversation::Conversation;
use crate::evaluate::{nacl, sg, Packet, Verdict};
use crate::finding::{AzVerdict, Cause, Control, ControlKind, EntryAz, Leg};
use crate::ids::{AzId, EniId, NetworkAclId, SecurityGroupId, SubnetId, VpcId};
use crate::missing::Missing;
use crate::traffic::{TgwIndex, Traffic};

/// One control on a path.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Check {
    /// A subnet's network ACL, in one direction.
    Nacl {
        /// The subnet.
        subnet: SubnetId,
        /// Outbound rules (on the destination) or inbound (on the source).
        egress: bool,
    },
    /// An interface's security groups.
    Groups {
        /// The interface.
        interface: EniId,
        /// Inbound rules (on the source) or outbound (on the destination).
        inbound: bool,
    },
    /// The security groups of an interface that was not described.
    UnknownGroups {
        /// Its address.
        address: IpAddr,
    },
}

/// What one check did.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Outcome {
    /// Allowed (by a network ACL rule, or a security group rule).
    Allow {
        /// The network ACL, for a network ACL check.
        acl: Option<NetworkAclId>,
        /// Its rule.
        rule: Option<u16>,
    },
    /// Denied.
    Deny {
        /// The network ACL, for a network ACL check.
        acl: Option<NetworkAclId>,
        /// The denying rule (network ACLs).
        rule: Option<u16>,
        /// The interface's groups (security groups).
        groups: Vec<SecurityGroupId>,
    },
    /// Cannot be told.
    Unknown(Vec<Missing>),
}

/// A check and what it did.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Step {
    /// The check.
    pub check: Check,
    /// Its outcome.
    pub outcome: Outcome,
}

/// A path's result: its steps in order; it fails at the first denying step.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PathResult {
    /// The steps.
    pub steps: Vec<Step>,
}

impl PathResult {
    /// The first denying step.
    pub fn failure(&self) -> Option<&Step> {
        self.steps
            .iter()
            .find(|s| matches!(s.outcome, Outcome::Deny { .. }))
    }

    /// What is missing to tell the steps that are unknown.
    pub fn missing(&self) -> Vec<Missing> {
        self.steps
            .iter()
            .filter_map(|s| match &s.outcome {
                Outcome::Unknown(m) => Some(m.clone()),
                _ => None,
            })
            .flatten()
            .collect()
    }

    /// Whether every step allows.
    pub fn passes(&self) -> bool {
        self.steps
            .iter()
            .all(|s| matches!(s.outcome, Outcome::Allow { .. }))
    }
}

/// A path through one Transit Gateway attachment subnet.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AzPath {
    /// The attachment subnet.
    pub attachment: AttachmentSubnet,
    /// Whether the records show the flow took it.
    pub observed: bool,
    /// The path's result.
    pub result: PathResult,
}

/// The paths a leg could take.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Paths {
    /// One path.
    Single(PathResult),
    /// One path per Transit Gateway attachment AZ it could enter by (or,
    /// leaving, the one of its AZ).
    PerAz(Vec<AzPath>),
}

/// The rejected leg played again.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Replay {
    /// The leg.
    pub leg: Leg,
    /// The packet replayed.
    pub packet: Packet,
    /// The paths and their results (none when the ends could not be
    /// placed).
    pub paths: Option<Paths>,
    /// Why.
    pub cause: Cause,
    /// The control that denies.
    pub control: Option<Control>,
    /// The failing step behind the control.
    pub failing: Option<Step>,
    /// Each Transit Gateway AZ and its verdict.
    pub entry_azs: Vec<EntryAz>,
    /// What is missing.
    pub missing: Vec<Missing>,
    /// Assumptions the replay made (said in the summary).
    pub assumptions: Vec<String>,
    /// The VPC of the inside end (for layout fixes).
    pub vpc: Option<VpcId>,
}

/// Where an address sits.
#[derive(Clone, Debug)]
enum Place {
    /// On a described interface.
    Interface {
        eni: EniId,
        subnet: Option<SubnetId>,
        vpc: Option<VpcId>,
        groups: Option<Vec<SecurityGroupId>>,
    },
    /// In a described subnet, interface unknown.
    Subnet {
        subnet: SubnetId,
        vpc: Option<VpcId>,
    },
    /// The address of a Transit Gateway interface: the real endpoint is
    /// hidden behind it (records without `pkt-srcaddr`/`pkt-dstaddr`).
    Behind { eni: EniId, vpc: Option<VpcId> },
    /// In a VPC's CIDR, subnet unknown.
    Vpc(VpcId),
    /// Outside every VPC described.
    Outside,
}

impl Place {
    fn subnet(&self) -> Option<&SubnetId> {
        match self {
            Place::Interface { subnet, .. } => subnet.as_ref(),
            Place::Subnet { subnet, .. } => Some(subnet),
            _ => None,
        }
    }

    fn vpc(&self) -> Option<&VpcId> {
        match self {
            Place::Interface { vpc, .. } | Place::Subnet { vpc, .. } => vpc.as_ref(),
            Place::Vpc(vpc) => Some(vpc),
            Place::Behind { .. } | Place::Outside => None,
        }
    }
}

fn place(config: &Config, address: IpAddr) -> Place {
    if let Some(interface) = config.interface_with_address(address) {
        let subnet = interface
            .subnet
            .clone()
            .or_else(|| config.subnet_of_address(address).map(|s| s.id.clone()));
        let vpc = interface.vpc.clone().or_else(|| {
            subnet
                .as_ref()
                .and_then(|s| config.subnets.get(s))
                .and_then(|s| s.vpc.clone())
        });
        let groups = match interface.kind {
            InterfaceKind::Other => Some(interface.groups.clone()),
            InterfaceKind::TransitGateway { .. } => {
                return Place::Behind {
                    eni: interface.id,
                    vpc,
                }
            }
            InterfaceKind::NatGateway => None,
        };
        return Place::Interface {
            eni: interface.id,
            subnet,
            vpc,
            groups,
        };
    }
    if let Some(subnet) = config.subnet_of_address(address) {
        return Place::Subnet {
            subnet: subnet.id.clone(),
            vpc: subnet.vpc.clone(),
        };
    }
    match config.vpc_of_address(address) {
        Some(vpc) => Place::Vpc(vpc.id.clone()),
        None => Place::Outside,
    }
}

/// Whether an outside address is private (RFC 1918, shared address space,
/// unique local IPv6): reached through a Transit Gateway or VPN rather than
/// an internet gateway, when nothing better tells.
fn is_private(address: IpAddr) -> bool {
    const PRIVATE: [&str; 5] = [
        "10.0.0.0/8",
        "172.16.0.0/12",
        "192.168.0.0/16",
        "100.64.0.0/10",
        "fc00::/7",
    ];
    PRIVATE
        .iter()
        .filter_map(|c| c.parse::<IpNet>().ok())
        .any(|c| c.contains(&address))
}

/// What the replay needs besides the configuration.
pub struct Context<'a> {
    /// The configuration.
    pub config: &'a Config,
    /// The records' aggregate.
    pub traffic: &'a Traffic,
    /// `--internal` CIDRs.
    pub internal: &'a [IpNet],
    /// The VPC whose Transit Gateway interface hides one end of the leg
    /// being replayed.
    hidden_behind: Option<VpcId>,
    /// The Transit Gateway records, indexed.
    tgw: TgwIndex<'a>,
}

impl<'a> Context<'a> {
    /// A context for replays.
    pub fn new(config: &'a Config, traffic: &'a Traffic, internal: &'a [IpNet]) -> Self {
        Self {
            config,
            traffic,
            internal,
            hidden_behind: None,
            tgw: TgwIndex::new(traffic),
        }
    }
}

impl Context<'_> {
    fn evaluate(&self, check: &Check, packet: &Packet) -> Outcome {
        match check {
            Check::Nacl { subnet, egress } => {
                let Some(acl) = self.config.network_acl_of(subnet) else {
                    let mut missing = vec![Missing::NetworkAclOf(subnet.clone())];
                    if !self.config.subnets.contains_key(subnet) {
                        missing.push(Missing::Subnet(subnet.clone()));
                    }
                    return Outcome::Unknown(missing);
                };
                nacl_outcome(acl, *egress, packet)
            }
            Check::Groups { interface, inbound } => {
                let groups = self
                    .config
                    .interfaces
                    .get(interface)
                    .map(|i| i.groups.clone())
                    .unwrap_or_default();
                match sg::evaluate(self.config, &groups, *inbound, packet) {
                    Verdict::Allow(_) => Outcome::Allow {
                        acl: None,
                        rule: None,
                    },
                    Verdict::Deny(_) if groups.is_empty() => {
                        Outcome::Unknown(vec![Missing::Interface(*interface)])
                    }
                    Verdict::Deny(_) => Outcome::Deny {
                        acl: None,
                        rule: None,
                        groups,
                    },
                    Verdict::Unknown(missing) => Outcome::Unknown(missing),
                }
            }
            Check::UnknownGroups { address } => {
                Outcome::Unknown(vec![Missing::InterfaceWithAddress(*address)])
            }
        }
    }

    fn run(&self, checks: Vec<Check>, packet: &Packet) -> PathResult {
        PathResult {
            steps: checks
                .into_iter()
                .map(|check| {
                    let outcome = self.evaluate(&check, packet);
                    Step { check, outcome }
                })
                .collect(),
        }
    }

    /// Whether traffic between `inside` (in `vpc`, `subnet`) and the
    /// outside address `remote` crosses a Transit Gateway, and why.
    fn via_tgw(
        &self,
        vpc: &VpcId,
        subnet: Option<&SubnetId>,
        remote: IpAddr,
        conversation: &Conversation,
        assumptions: &mut Vec<String>,
    ) -> bool {
        if self.hidden_behind.as_ref() == Some(vpc) {
            return true;
        }
        let attachments = self.config.attachment_subnets(vpc);
        let seen_on_tgw = conversation.interfaces().iter().any(|eni| {
            attachments.iter().any(|a| a.interface == Some(*eni))
                || self
                    .config
                    .interfaces
                    .get(eni)
                    .is_some_and(|i| matches!(i.kind, InterfaceKind::TransitGateway { .. }))
        }) || {
            let (client, server) = (conversation.key.client, conversation.key.server);
            let other = if remote == client { server } else { client };
            !self.tgw.between(remote, other).is_empty()
                || !self.tgw.between(other, remote).is_empty()
        };
        if seen_on_tgw {
            return true;
        }
        if attachments.is_empty() {
            return false;
        }
        if let Some(route) = subnet.and_then(|s| self.config.route(s, remote)) {
            return matches!(route.target, RouteTarget::TransitGateway(_));
        }
        let private = is_private(remote) || self.internal.iter().any(|c| c.contains(&remote));
        if private {
            assumptions.push(format!(
                "no route table was given: {remote} is private, so it is taken to be reached through the Transit Gateway attachment of {vpc}"
            ));
        }
        private
    }

    /// Where the records show the flow crossing a Transit Gateway
    /// attachment subnet.
    fn observed_attachment_subnets(&self, conversation: &Conversation, leg: Leg) -> Vec<SubnetId> {
        let mut out = Vec::new();
        for reject in conversation.rejects.iter().filter(|r| r.leg == leg) {
            let Some(eni) = reject.interface else {
                continue;
            };
            let tgw_described = self
                .config
                .interfaces
                .get(&eni)
                .filter(|i| matches!(i.kind, InterfaceKind::TransitGateway { .. }));
            let subnet = tgw_described.and_then(|i| i.subnet.clone()).or_else(|| {
                let seen = self.traffic.interfaces.get(&eni)?;
                seen.intermediate_address?;
                seen.subnet.as_deref().and_then(SubnetId::parse)
            });
            out.extend(subnet);
        }
        let (src, dst) = match leg {
            Leg::Request => (conversation.key.client, conversation.key.server),
            Leg::Response => (conversation.key.server, conversation.key.client),
        };
        for (key, seen) in self.tgw.between(src, dst) {
            {
                let subnet = seen
                    .dst_subnet
                    .as_deref()
                    .and_then(SubnetId::parse)
                    .or_else(|| {
                        let eni = key.dst_eni?;
                        self.config.interfaces.get(&eni)?.subnet.clone()
                    });
                out.extend(subnet);
            }
        }
        out.sort();
        out.dedup();
        out
    }
}

fn nacl_outcome(acl: &NetworkAcl, egress: bool, packet: &Packet) -> Outcome {
    match nacl::evaluate(acl, egress, packet) {
        Verdict::Allow(rule) => Outcome::Allow {
            acl: Some(acl.id.clone()),
            rule: Some(rule),
        },
        Verdict::Deny(rule) => Outcome::Deny {
            acl: Some(acl.id.clone()),
            rule: Some(rule),
            groups: Vec::new(),
        },
        Verdict::Unknown(missing) => Outcome::Unknown(missing),
    }
}

/// The checks of a packet leaving `source` toward something outside its
/// subnet (or its VPC).
fn leave(source: &Place, address: IpAddr, request: bool, checks: &mut Vec<Check>) {
    if request {
        match source {
            Place::Interface {
                eni,
                groups: Some(_),
                ..
            } => checks.push(Check::Groups {
                interface: *eni,
                inbound: false,
            }),
            Place::Subnet { .. } => checks.push(Check::UnknownGroups { address }),
            _ => {}
        }
    }
}

/// The checks of a packet arriving at `destination`'s interface.
fn arrive(destination: &Place, address: IpAddr, request: bool, checks: &mut Vec<Check>) {
    if request {
        match destination {
            Place::Interface {
                eni,
                groups: Some(_),
                ..
            } => checks.push(Check::Groups {
                interface: *eni,
                inbound: true,
            }),
            Place::Subnet { .. } => checks.push(Check::UnknownGroups { address }),
            _ => {}
        }
    }
}

/// Replays the rejected leg of `conversation`.
pub fn replay(ctx: &Context<'_>, conversation: &Conversation) -> Replay {
    let leg = rejected_leg(conversation);
    let key = conversation.key;
    let (src, dst) = match leg {
        Leg::Request => (key.client, key.server),
        Leg::Response => (key.server, key.client),
    };
    let dst_ports: Vec<Option<u16>> = match (leg, key.server_port) {
        (_, None) => vec![None],
        (Leg::Request, Some(port)) => vec![Some(port)],
        (Leg::Response, Some(_)) => match conversation.client_ports {
            Some((lo, hi)) if lo != hi => vec![Some(lo), Some(hi)],
            Some((lo, _)) => vec![Some(lo)],
            None => vec![None],
        },
    };
    let mut first = None;
    for port in dst_ports {
        let packet = Packet {
            src: Some(src),
            dst: Some(dst),
            protocol: key.protocol,
            dst_port: port,
            icmp: None,
        };
        let replay = replay_packet(ctx, conversation, leg, packet);
        if replay.failing.is_some() {
            return replay;
        }
        first.get_or_insert(replay);
    }
    first.unwrap_or_else(|| unreachable!("at least one port is replayed"))
}

/// The leg with the most rejected records (the request on a tie).
fn rejected_leg(conversation: &Conversation) -> Leg {
    let count = |leg: Leg| {
        conversation
            .rejects
            .iter()
            .filter(|r| r.leg == leg)
            .map(|r| r.stats.records - r.stats.after_close)
            .sum::<u64>()
    };
    if count(Leg::Response) > count(Leg::Request) {
        Leg::Response
    } else {
        Leg::Request
    }
}

fn replay_packet(
    ctx: &Context<'_>,
    conversation: &Conversation,
    leg: Leg,
    packet: Packet,
) -> Replay {
    let config = ctx.config;
    let (src, dst) = (
        packet.src.unwrap_or(conversation.key.client),
        packet.dst.unwrap_or(conversation.key.server),
    );
    let request = leg == Leg::Request;
    let mut source = place(config, src);
    let mut destination = place(config, dst);
    let mut assumptions = Vec::new();
    let mut missing = Vec::new();
    // An end hidden behind a Transit Gateway interface: replayed as an
    // unknown address outside the VPC, through the Transit Gateway.
    let mut packet = packet;
    let mut hidden = None;
    for (end, is_source) in [(&mut source, true), (&mut destination, false)] {
        if let Place::Behind { eni, vpc, .. } = end {
            missing.push(Missing::PacketAddresses(*eni));
            hidden = vpc.clone();
            if is_source {
                packet.src = None;
            } else {
                packet.dst = None;
            }
            *end = Place::Outside;
        }
    }
    let scoped;
    let ctx = if hidden.is_some() {
        scoped = Context {
            config: ctx.config,
            traffic: ctx.traffic,
            internal: ctx.internal,
            hidden_behind: hidden,
            tgw: ctx.tgw.clone(),
        };
        &scoped
    } else {
        ctx
    };
    let mut out = Replay {
        leg,
        packet,
        paths: None,
        cause: Cause::Unexplained,
        control: None,
        failing: None,
        entry_azs: Vec::new(),
        missing: Vec::new(),
        assumptions: Vec::new(),
        vpc: destination.vpc().or(source.vpc()).cloned(),
    };
    for (p, address) in [(&source, src), (&destination, dst)] {
        if let Place::Vpc(_) = p {
            missing.push(Missing::SubnetOfAddress(address));
        }
    }
    if matches!(source, Place::Vpc(_)) || matches!(destination, Place::Vpc(_)) {
        out.missing = missing;
        return finish(out, conversation);
    }
    if matches!((&source, &destination), (Place::Outside, Place::Outside))
        && ctx.hidden_behind.is_none()
    {
        // Neither end is in a VPC described: ask for what places them.
        for eni in conversation.interfaces() {
            if !config.interfaces.contains_key(&eni) {
                missing.push(Missing::Interface(eni));
            }
        }
        missing.push(Missing::SubnetOfAddress(dst));
        out.missing = missing;
        return finish(out, conversation);
    }
    let same_vpc = source.vpc().is_some() && source.vpc() == destination.vpc();
    let paths = if same_vpc {
        let mut checks = Vec::new();
        leave(&source, src, request, &mut checks);
        match (source.subnet(), destination.subnet()) {
            (Some(a), Some(b)) if a != b => {
                checks.push(Check::Nacl {
                    subnet: a.clone(),
                    egress: true,
                });
                checks.push(Check::Nacl {
                    subnet: b.clone(),
                    egress: false,
                });
            }
            _ => {}
        }
        arrive(&destination, dst, request, &mut checks);
        Paths::Single(ctx.run(checks, &packet))
    } else {
        // The part leaving the source's VPC (if inside) and the part
        // entering the destination's (if inside).
        let mut exit: Vec<Check> = Vec::new();
        let mut exit_missing = Vec::new();
        let mut source_az: Option<AzId> = None;
        if let (Some(vpc), Some(subnet)) = (source.vpc(), source.subnet()) {
            leave(&source, src, request, &mut exit);
            source_az = config.az_of(subnet).cloned();
            if ctx.via_tgw(vpc, Some(subnet), dst, conversation, &mut assumptions) {
                let attachment = config
                    .attachment_subnets(vpc)
                    .into_iter()
                    .find(|a| a.az_id.is_some() && a.az_id == source_az);
                match attachment {
                    Some(a) if &a.subnet == subnet => {
                        // Instance and attachment share the subnet: the
                        // guide lists both of the subnet's rule sets.
                        exit.push(Check::Nacl {
                            subnet: subnet.clone(),
                            egress: true,
                        });
                        exit.push(Check::Nacl {
                            subnet: subnet.clone(),
                            egress: false,
                        });
                    }
                    Some(a) => {
                        exit.push(Check::Nacl {
                            subnet: subnet.clone(),
                            egress: true,
                        });
                        exit.push(Check::Nacl {
                            subnet: a.subnet.clone(),
                            egress: false,
                        });
                    }
                    None => {
                        if source_az.is_none() {
                            exit_missing.push(Missing::Subnet(subnet.clone()));
                        } else {
                            exit_missing.push(Missing::Attachments(vpc.clone()));
                        }
                    }
                }
            } else {
                exit.push(Check::Nacl {
                    subnet: subnet.clone(),
                    egress: true,
                });
            }
        }
        let mut entry_paths: Option<Vec<(AttachmentSubnet, Vec<Check>)>> = None;
        let mut enter: Vec<Check> = Vec::new();
        if let (Some(vpc), Some(subnet)) = (destination.vpc(), destination.subnet()) {
            if ctx.via_tgw(vpc, Some(subnet), src, conversation, &mut assumptions) {
                let mut attachments = config.attachment_subnets(vpc);
                let appliance = config
                    .attachments
                    .values()
                    .any(|a| a.vpc.as_ref() == Some(vpc) && a.appliance_mode);
                // From another VPC's AZ, the Transit Gateway keeps the flow
                // in that AZ when the attachment has it (not in appliance
                // mode); from Direct Connect or VPN, any AZ.
                if let Some(az) = &source_az {
                    if !appliance && attachments.iter().any(|a| a.az_id.as_ref() == Some(az)) {
                        attachments.retain(|a| a.az_id.as_ref() == Some(az));
                    }
                }
                if attachments.is_empty() {
                    missing.push(Missing::Attachments(vpc.clone()));
                }
                let per_az = attachments
                    .into_iter()
                    .map(|a| {
                        let mut checks = exit.clone();
                        if &a.subnet != subnet {
                            checks.push(Check::Nacl {
                                subnet: a.subnet.clone(),
                                egress: true,
                            });
                            checks.push(Check::Nacl {
                                subnet: subnet.clone(),
                                egress: false,
                            });
                        }
                        arrive(&destination, dst, request, &mut checks);
                        (a, checks)
                    })
                    .collect();
                entry_paths = Some(per_az);
            } else {
                enter.push(Check::Nacl {
                    subnet: subnet.clone(),
                    egress: false,
                });
                arrive(&destination, dst, request, &mut enter);
            }
        }
        missing.extend(exit_missing);
        match entry_paths {
            Some(per_az) => {
                let observed = ctx.observed_attachment_subnets(conversation, leg);
                Paths::PerAz(
                    per_az
                        .into_iter()
                        .map(|(attachment, checks)| AzPath {
                            observed: observed.contains(&attachment.subnet),
                            result: ctx.run(checks, &packet),
                            attachment,
                        })
                        .collect(),
                )
            }
            None => {
                let mut checks = exit;
                checks.extend(enter);
                // Leaving through a Transit Gateway: the path is the
                // attachment of the source's AZ; shown as that AZ.
                Paths::Single(ctx.run(checks, &packet))
            }
        }
    };
    out.assumptions = assumptions;
    out.missing = missing;
    out.paths = Some(paths);
    decide(out, conversation, config)
}

/// Names the cause from the paths' results.
fn decide(mut out: Replay, conversation: &Conversation, config: &Config) -> Replay {
    let Some(paths) = out.paths.clone() else {
        return finish(out, conversation);
    };
    match paths {
        Paths::Single(result) => {
            out.missing.extend(result.missing());
            if let Some(step) = result.failure() {
                out.cause = cause_of(step, out.leg);
                out.control = control_of(step, config);
                out.failing = Some(step.clone());
            }
        }
        Paths::PerAz(paths) => {
            let mut passes = false;
            let mut fails: Vec<&AzPath> = Vec::new();
            for path in &paths {
                let az = path
                    .attachment
                    .az_id
                    .clone()
                    .or_else(|| config.az_of(&path.attachment.subnet).cloned());
                let acl_of_attachment = config
                    .network_acl_of(&path.attachment.subnet)
                    .map(|a| a.id.clone());
                if let Some(step) = path.result.failure() {
                    fails.push(path);
                    if let (Some(az), Outcome::Deny { acl, rule, .. }) = (az, &step.outcome) {
                        out.entry_azs.push(EntryAz {
                            az_id: az.to_string(),
                            subnet_id: path.attachment.subnet.clone(),
                            verdict: AzVerdict::Fail,
                            network_acl_id: acl.clone(),
                            rule_number: *rule,
                        });
                    } else {
                        out.missing
                            .push(Missing::Subnet(path.attachment.subnet.clone()));
                    }
                } else if path.result.passes() {
                    passes = true;
                    let rule =
                        path.result
                            .steps
                            .iter()
                            .find_map(|s| match (&s.check, &s.outcome) {
                                (Check::Nacl { subnet, .. }, Outcome::Allow { rule, .. })
                                    if *subnet == path.attachment.subnet =>
                                {
                                    *rule
                                }
                                _ => None,
                            });
                    match az {
                        Some(az) => out.entry_azs.push(EntryAz {
                            az_id: az.to_string(),
                            subnet_id: path.attachment.subnet.clone(),
                            verdict: AzVerdict::Pass,
                            network_acl_id: acl_of_attachment,
                            rule_number: rule,
                        }),
                        None => out
                            .missing
                            .push(Missing::Subnet(path.attachment.subnet.clone())),
                    }
                } else {
                    out.missing.extend(path.result.missing());
                }
            }
            // The AZ the records show the drop in, else the first failing.
            let chosen = fails
                .iter()
                .find(|p| p.observed)
                .or_else(|| fails.first())
                .copied();
            if let Some(path) = chosen {
                if let Some(step) = path.result.failure() {
                    out.failing = Some(step.clone());
                    out.control = control_of(step, config);
                    out.cause = if passes && matches!(step.check, Check::Nacl { .. }) {
                        Cause::TgwEntryAzNacl
                    } else {
                        cause_of(step, out.leg)
                    };
                }
            }
        }
    }
    finish(out, conversation)
}

/// Block Public Access first (the records name it), then sorts and
/// deduplicates what is missing.
fn finish(mut out: Replay, conversation: &Conversation) -> Replay {
    let bpa = conversation.rejects.iter().any(|r| {
        r.leg == out.leg && r.block_public_access && r.stats.records > r.stats.after_close
    });
    if bpa {
        out.cause = Cause::BlockPublicAccess;
        out.control = Some(Control {
            kind: ControlKind::BlockPublicAccess,
            id: None,
            subnet_id: None,
            rule_number: None,
            egress: None,
            security_group_ids: Vec::new(),
        });
        out.failing = None;
    }
    if out.cause == Cause::Unexplained {
        out.control = None;
    }
    out.missing.sort();
    out.missing.dedup();
    out.entry_azs
        .sort_by(|a, b| a.az_id.cmp(&b.az_id).then(a.subnet_id.cmp(&b.subnet_id)));
    out
}

fn cause_of(step: &Step, leg: Leg) -> Cause {
    match (&step.check, leg) {
        (Check::Nacl { .. }, Leg::Response) => Cause::NaclReturnTrafficDeny,
        (Check::Nacl { egress: true, .. }, Leg::Request) => Cause::NaclOutboundDeny,
        (Check::Nacl { egress: false, .. }, Leg::Request) => Cause::NaclInboundDeny,
        (Check::Groups { .. } | Check::UnknownGroups { .. }, _) => Cause::SecurityGroupNoAllow,
    }
}

fn control_of(step: &Step, config: &Config) -> Option<Control> {
    match (&step.check, &step.outcome) {
        (Check::Nacl { subnet, egress }, Outcome::Deny { acl, rule, .. }) => Some(Control {
            kind: ControlKind::NetworkAcl,
            id: acl.as_ref().map(ToString::to_string),
            subnet_id: Some(subnet.clone()),
            rule_number: *rule,
            egress: Some(*egress),
            security_group_ids: Vec::new(),
        }),
        (Check::Groups { interface, .. }, Outcome::Deny { groups, .. }) => Some(Control {
            kind: ControlKind::SecurityGroup,
            id: groups.first().map(ToString::to_string),
            subnet_id: config
                .interfaces
                .get(interface)
                .and_then(|i| i.subnet.clone()),
            rule_number: None,
            egress: None,
            security_group_ids: groups.clone(),
        }),
        _ => None,
    }
}
