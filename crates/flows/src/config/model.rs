//! The typed configuration, and its construction from the raw
//! `describe-*` parts.

use std::net::IpAddr;

use ipnet::IpNet;

use super::describe::{Describe, RawAclEntry, RawNetworkAcl, RawPermission, RawRoute};
use super::Config;
use crate::ids::{
    Account, AttachmentId, AzId, AzName, EniId, NetworkAclId, PrefixListId, Region, RouteTableId,
    SecurityGroupId, SubnetId, TransitGatewayId, VpcId,
};
use crate::record::Format;

/// A VPC and its address space.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Vpc {
    /// The VPC.
    pub id: VpcId,
    /// Its associated IPv4 and IPv6 CIDR blocks.
    pub cidrs: Vec<IpNet>,
    /// Its owner.
    pub account: Option<Account>,
}

/// A subnet.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Subnet {
    /// The subnet.
    pub id: SubnetId,
    /// Its VPC.
    pub vpc: Option<VpcId>,
    /// Its IPv4 and IPv6 CIDR blocks.
    pub cidrs: Vec<IpNet>,
    /// Its AZ id (the same zone in every account).
    pub az_id: Option<AzId>,
    /// Its AZ name, as its account sees it.
    pub az_name: Option<AzName>,
    /// Its owner.
    pub account: Option<Account>,
}

/// What a rule does to traffic it matches.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum RuleAction {
    /// `allow`.
    Allow,
    /// `deny`.
    Deny,
}

/// A rule's protocol: all (`-1`) or one IANA number.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Protocol {
    /// Every protocol (`-1`).
    All,
    /// One protocol.
    Number(u8),
}

impl Protocol {
    /// Reads `-1`, a number, or the names the CLI takes (`tcp`, `udp`,
    /// `icmp`, `icmpv6`, `all`).
    pub fn parse(text: &str) -> Option<Self> {
        match text.trim().to_ascii_lowercase().as_str() {
            "-1" | "all" => Some(Self::All),
            "tcp" => Some(Self::Number(6)),
            "udp" => Some(Self::Number(17)),
            "icmp" => Some(Self::Number(1)),
            "icmpv6" => Some(Self::Number(58)),
            other => other.parse().ok().map(Self::Number),
        }
    }
}

/// An inclusive port range.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct PortRange {
    /// The first port.
    pub from: u16,
    /// The last port.
    pub to: u16,
}

impl PortRange {
    /// Whether `port` is in the range.
    pub fn contains(&self, port: u16) -> bool {
        (self.from..=self.to).contains(&port)
    }
}

/// An ICMP type and code; `-1` is every type or every code.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct IcmpTypeCode {
    /// The type, or -1.
    pub kind: i16,
    /// The code, or -1.
    pub code: i16,
}

impl IcmpTypeCode {
    /// Whether it matches every ICMP message.
    pub fn is_all(&self) -> bool {
        self.kind == -1 && (self.code == -1)
    }
}

/// One entry of a network ACL.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct AclEntry {
    /// 1 to 32766; 32767 (IPv4) and 32768 (IPv6) are the final `*` rules.
    pub rule_number: u16,
    /// An outbound (egress) rule.
    pub egress: bool,
    /// Allow or deny.
    pub action: RuleAction,
    /// The protocol.
    pub protocol: Protocol,
    /// The CIDR: the source for inbound rules, the destination for
    /// outbound rules. IPv4 entries match only IPv4 traffic, IPv6 entries
    /// only IPv6 traffic.
    pub cidr: IpNet,
    /// The destination ports (TCP and UDP rules).
    pub ports: Option<PortRange>,
    /// The ICMP type and code (ICMP and ICMPv6 rules).
    pub icmp: Option<IcmpTypeCode>,
}

/// A network ACL.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NetworkAcl {
    /// The network ACL.
    pub id: NetworkAclId,
    /// Its VPC.
    pub vpc: Option<VpcId>,
    /// Whether it is its VPC's default network ACL (which applies to every
    /// subnet without an explicit association).
    pub is_default: bool,
    /// The subnets associated with it.
    pub subnets: Vec<SubnetId>,
    /// Its entries, in ascending rule number.
    pub entries: Vec<AclEntry>,
    /// Entries that could not be read: evaluations through it are
    /// unknown.
    pub incomplete: bool,
}

/// Where a security group rule lets traffic come from or go to.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum Peer {
    /// A CIDR block.
    Cidr(IpNet),
    /// The CIDRs of a prefix list.
    PrefixList(PrefixListId),
    /// The interfaces that carry a security group.
    Group(SecurityGroupId),
}

/// The ports (or ICMP messages) a security group rule covers.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum RulePorts {
    /// Every port (protocols other than TCP, UDP, ICMP, ICMPv6 have none).
    All,
    /// A port range (TCP, UDP).
    Range(PortRange),
    /// ICMP type and code.
    Icmp(IcmpTypeCode),
}

/// One permission of a security group.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct SgRule {
    /// The protocol.
    pub protocol: Protocol,
    /// The ports.
    pub ports: RulePorts,
    /// The peers it allows.
    pub peers: Vec<Peer>,
}

/// A security group.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SecurityGroup {
    /// The group.
    pub id: SecurityGroupId,
    /// Its name.
    pub name: Option<String>,
    /// Its VPC.
    pub vpc: Option<VpcId>,
    /// Inbound rules (`IpPermissions`).
    pub ingress: Vec<SgRule>,
    /// Outbound rules (`IpPermissionsEgress`).
    pub egress: Vec<SgRule>,
    /// Rules that could not be read: evaluations are unknown unless a
    /// readable rule allows.
    pub incomplete: bool,
}

/// What kind of network interface it is.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum InterfaceKind {
    /// A Transit Gateway attachment's interface (`InterfaceType`
    /// `transit_gateway`): no security group applies to it.
    TransitGateway {
        /// The attachment, from the description.
        attachment: Option<AttachmentId>,
    },
    /// A NAT gateway's interface.
    NatGateway,
    /// Any other interface (instances, load balancers, endpoints, Lambda):
    /// its security groups apply.
    Other,
}

/// A network interface.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Interface {
    /// The interface.
    pub id: EniId,
    /// Its subnet.
    pub subnet: Option<SubnetId>,
    /// Its VPC.
    pub vpc: Option<VpcId>,
    /// Its AZ name.
    pub az_name: Option<AzName>,
    /// Its kind.
    pub kind: InterfaceKind,
    /// Its private IPv4 and IPv6 addresses.
    pub addresses: Vec<IpAddr>,
    /// Its security groups.
    pub groups: Vec<SecurityGroupId>,
    /// The instance it is attached to.
    pub instance: Option<String>,
    /// Its description.
    pub description: Option<String>,
}

/// A Transit Gateway VPC attachment.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct VpcAttachment {
    /// The attachment.
    pub id: AttachmentId,
    /// Its Transit Gateway.
    pub tgw: Option<TransitGatewayId>,
    /// Its VPC.
    pub vpc: Option<VpcId>,
    /// One subnet per AZ it is enabled in.
    pub subnets: Vec<SubnetId>,
    /// Appliance mode: a flow stays in one AZ both ways (the AZ is still
    /// any of them for traffic from Direct Connect or VPN).
    pub appliance_mode: bool,
    /// Its state (`available`, `deleted`, ...).
    pub state: Option<String>,
}

impl VpcAttachment {
    /// Whether it carries traffic (not deleted, failed or rejected).
    pub fn is_usable(&self) -> bool {
        !matches!(
            self.state.as_deref(),
            Some("deleted" | "deleting" | "failed" | "failing" | "rejected" | "rejecting")
        )
    }
}

/// Where a route sends traffic.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum RouteTarget {
    /// Within the VPC.
    Local,
    /// A Transit Gateway.
    TransitGateway(TransitGatewayId),
    /// An internet gateway (`igw-…`).
    InternetGateway(String),
    /// A virtual private gateway (`vgw-…`).
    VpnGateway(String),
    /// Anything else (NAT gateway, peering, interface, endpoint, ...).
    Other(String),
}

/// What a route matches.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum RouteDestination {
    /// A CIDR.
    Cidr(IpNet),
    /// A prefix list.
    PrefixList(PrefixListId),
}

/// One route.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Route {
    /// What it matches.
    pub destination: RouteDestination,
    /// Where it sends traffic.
    pub target: RouteTarget,
    /// Whether it is active (`blackhole` routes are not).
    pub active: bool,
}

/// A route table.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RouteTable {
    /// The table.
    pub id: RouteTableId,
    /// Its VPC.
    pub vpc: Option<VpcId>,
    /// The subnets explicitly associated with it.
    pub subnets: Vec<SubnetId>,
    /// Whether it is its VPC's main route table.
    pub main: bool,
    /// Its routes.
    pub routes: Vec<Route>,
}

/// A flow log's format and where it delivers.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FlowLog {
    /// `fl-…`.
    pub id: Option<String>,
    /// The CloudWatch Logs group it delivers to.
    pub log_group: Option<String>,
    /// Its record format.
    pub format: Option<Format>,
    /// The resource it logs (VPC, subnet, interface, Transit Gateway).
    pub resource: Option<String>,
}

/// The mode of VPC Block Public Access in a region.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum BpaMode {
    /// Off.
    Off,
    /// Traffic to and from internet gateways is blocked both ways.
    BlockBidirectional,
    /// Inbound internet traffic is blocked; outbound through NAT and
    /// egress-only gateways still works.
    BlockIngress,
}

/// VPC Block Public Access in one region.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BlockPublicAccess {
    /// The region.
    pub region: Option<Region>,
    /// The mode.
    pub mode: BpaMode,
}

/// An exclusion from VPC Block Public Access.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BpaExclusion {
    /// `vpcbpa-exclude-…`.
    pub id: Option<String>,
    /// `allow-bidirectional` or `allow-egress`.
    pub mode: Option<String>,
    /// The excluded subnet or VPC id.
    pub resource: Option<String>,
}

/// Reads a CIDR, refusing host bits set (`10.0.0.1/24`) as AWS does.
fn cidr(text: &str) -> Option<IpNet> {
    let net: IpNet = text.trim().parse().ok()?;
    (net.trunc() == net).then_some(net)
}

fn account(text: &Option<String>) -> Option<Account> {
    text.as_deref().and_then(Account::parse)
}

/// Fills `config` from `raw`, with a warning for everything left out.
pub(super) fn build(config: &mut Config, raw: Describe) {
    for vpc in raw.vpcs {
        let Some(id) = VpcId::parse(&vpc.vpc_id) else {
            config.warnings.push(format!(
                "describe-vpcs: {:?} is not a VPC id; left out",
                vpc.vpc_id
            ));
            continue;
        };
        let mut cidrs: Vec<IpNet> = vpc
            .cidr_block
            .as_deref()
            .and_then(cidr)
            .into_iter()
            .collect();
        let active = |state: &Option<super::describe::RawBlockState>| {
            state
                .as_ref()
                .and_then(|s| s.state.as_deref())
                .is_none_or(|s| s == "associated")
        };
        for a in &vpc.cidr_block_association_set {
            if active(&a.cidr_block_state) {
                cidrs.extend(a.cidr_block.as_deref().and_then(cidr));
            }
        }
        for a in &vpc.ipv6_cidr_block_association_set {
            if active(&a.ipv6_cidr_block_state) {
                cidrs.extend(a.ipv6_cidr_block.as_deref().and_then(cidr));
            }
        }
        cidrs.sort();
        cidrs.dedup();
        config.vpcs.insert(
            id.clone(),
            Vpc {
                id,
                cidrs,
                account: account(&vpc.owner_id),
            },
        );
    }
    for subnet in raw.subnets {
        let Some(id) = SubnetId::parse(&subnet.subnet_id) else {
            config.warnings.push(format!(
                "describe-subnets: {:?} is not a subnet id; left out",
                subnet.subnet_id
            ));
            continue;
        };
        let mut cidrs: Vec<IpNet> = subnet
            .cidr_block
            .as_deref()
            .and_then(cidr)
            .into_iter()
            .collect();
        for a in &subnet.ipv6_cidr_block_association_set {
            let associated = a
                .ipv6_cidr_block_state
                .as_ref()
                .and_then(|s| s.state.as_deref())
                .is_none_or(|s| s == "associated");
            if associated {
                cidrs.extend(a.ipv6_cidr_block.as_deref().and_then(cidr));
            }
        }
        config.subnets.insert(
            id.clone(),
            Subnet {
                id,
                vpc: subnet.vpc_id.as_deref().and_then(VpcId::parse),
                cidrs,
                az_id: subnet.availability_zone_id.as_deref().and_then(AzId::parse),
                az_name: subnet.availability_zone.as_deref().and_then(AzName::parse),
                account: account(&subnet.owner_id),
            },
        );
    }
    for acl in raw.network_acls {
        if let Some(acl) = network_acl(acl, &mut config.warnings) {
            config.network_acls.insert(acl.id.clone(), acl);
        }
    }
    for group in raw.security_groups {
        let Some(id) = SecurityGroupId::parse(&group.group_id) else {
            config.warnings.push(format!(
                "describe-security-groups: {:?} is not a security group id; left out",
                group.group_id
            ));
            continue;
        };
        let mut incomplete = false;
        let mut rules = |permissions: &[RawPermission], direction: &str| -> Vec<SgRule> {
            permissions
                .iter()
                .enumerate()
                .filter_map(|(i, p)| match sg_rule(p) {
                    Ok(rule) => Some(rule),
                    Err(why) => {
                        config.warnings.push(format!(
                            "security group {id}: {direction} rule {}: {why}; evaluations through this group are unknown unless another rule allows",
                            i + 1
                        ));
                        incomplete = true;
                        None
                    }
                })
                .collect()
        };
        let ingress = rules(&group.ip_permissions, "inbound");
        let egress = rules(&group.ip_permissions_egress, "outbound");
        config.security_groups.insert(
            id.clone(),
            SecurityGroup {
                id,
                name: group.group_name,
                vpc: group.vpc_id.as_deref().and_then(VpcId::parse),
                ingress,
                egress,
                incomplete,
            },
        );
    }
    for interface in raw.interfaces {
        let Some(id) = EniId::parse(&interface.network_interface_id) else {
            config.warnings.push(format!(
                "describe-network-interfaces: {:?} is not a network interface id; left out",
                interface.network_interface_id
            ));
            continue;
        };
        let description = interface.description.clone();
        let attachment = description.as_deref().and_then(|d| {
            d.split_whitespace().find_map(|w| {
                AttachmentId::parse(
                    w.trim_matches(|c: char| !c.is_ascii_alphanumeric() && c != '-'),
                )
            })
        });
        let tgw_described = description
            .as_deref()
            .is_some_and(|d| d.starts_with("Network Interface for Transit Gateway Attachment"));
        let kind = match interface.interface_type.as_deref() {
            Some("transit_gateway") => InterfaceKind::TransitGateway { attachment },
            Some("nat_gateway") => InterfaceKind::NatGateway,
            _ if tgw_described => InterfaceKind::TransitGateway { attachment },
            _ => InterfaceKind::Other,
        };
        let mut addresses: Vec<IpAddr> = interface
            .private_ip_address
            .iter()
            .chain(
                interface
                    .private_ip_addresses
                    .iter()
                    .filter_map(|a| a.private_ip_address.as_ref()),
            )
            .chain(
                interface
                    .ipv6_addresses
                    .iter()
                    .filter_map(|a| a.ipv6_address.as_ref()),
            )
            .filter_map(|a| a.parse().ok())
            .collect();
        addresses.sort();
        addresses.dedup();
        config.interfaces.insert(
            id,
            Interface {
                id,
                subnet: interface.subnet_id.as_deref().and_then(SubnetId::parse),
                vpc: interface.vpc_id.as_deref().and_then(VpcId::parse),
                az_name: interface
                    .availability_zone
                    .as_deref()
                    .and_then(AzName::parse),
                kind,
                addresses,
                groups: interface
                    .groups
                    .iter()
                    .filter_map(|g| g.group_id.as_deref().and_then(SecurityGroupId::parse))
                    .collect(),
                instance: interface.attachment.and_then(|a| a.instance_id),
                description,
            },
        );
    }
    for attachment in raw.vpc_attachments {
        let Some(id) = AttachmentId::parse(&attachment.transit_gateway_attachment_id) else {
            config.warnings.push(format!(
                "describe-transit-gateway-vpc-attachments: {:?} is not an attachment id; left out",
                attachment.transit_gateway_attachment_id
            ));
            continue;
        };
        config.attachments.insert(
            id.clone(),
            VpcAttachment {
                id,
                tgw: attachment
                    .transit_gateway_id
                    .as_deref()
                    .and_then(TransitGatewayId::parse),
                vpc: attachment.vpc_id.as_deref().and_then(VpcId::parse),
                subnets: attachment
                    .subnet_ids
                    .iter()
                    .filter_map(|s| SubnetId::parse(s))
                    .collect(),
                appliance_mode: attachment
                    .options
                    .and_then(|o| o.appliance_mode_support)
                    .is_some_and(|m| m == "enable"),
                state: attachment.state,
            },
        );
    }
    // describe-transit-gateway-attachments names the VPC but not the
    // subnets: it adds an attachment only when nothing better describes it.
    for attachment in raw.tgw_attachments {
        if attachment.resource_type.as_deref() != Some("vpc") {
            continue;
        }
        let Some(id) = AttachmentId::parse(&attachment.transit_gateway_attachment_id) else {
            continue;
        };
        config
            .attachments
            .entry(id.clone())
            .or_insert_with(|| VpcAttachment {
                id,
                tgw: attachment
                    .transit_gateway_id
                    .as_deref()
                    .and_then(TransitGatewayId::parse),
                vpc: attachment.resource_id.as_deref().and_then(VpcId::parse),
                subnets: Vec::new(),
                appliance_mode: false,
                state: attachment.state,
            });
    }
    for table in raw.route_tables {
        let Some(id) = RouteTableId::parse(&table.route_table_id) else {
            continue;
        };
        config.route_tables.insert(
            id.clone(),
            RouteTable {
                id,
                vpc: table.vpc_id.as_deref().and_then(VpcId::parse),
                subnets: table
                    .associations
                    .iter()
                    .filter_map(|a| a.subnet_id.as_deref().and_then(SubnetId::parse))
                    .collect(),
                main: table.associations.iter().any(|a| a.main == Some(true)),
                routes: table.routes.iter().filter_map(route).collect(),
            },
        );
    }
    for list in raw.prefix_lists {
        let (Some(id), Some(cidrs)) = (PrefixListId::parse(&list.prefix_list_id), list.cidrs)
        else {
            continue;
        };
        config
            .prefix_lists
            .insert(id, cidrs.iter().filter_map(|c| cidr(c)).collect());
    }
    for entries in raw.prefix_list_entries {
        let Some(id) = entries
            .prefix_list_id
            .as_deref()
            .and_then(PrefixListId::parse)
        else {
            config.warnings.push(
                "get-managed-prefix-list-entries output without a PrefixListId key: add \
                 \"PrefixListId\": \"pl-…\" to it so its entries can be used; left out"
                    .to_owned(),
            );
            continue;
        };
        config.prefix_lists.insert(
            id,
            entries
                .entries
                .iter()
                .filter_map(|e| e.cidr.as_deref().and_then(cidr))
                .collect(),
        );
    }
    for flow_log in raw.flow_logs {
        let format = flow_log
            .log_format
            .as_deref()
            .map(|text| Format::from_log_format(text).ok_or_else(|| text.to_owned()));
        let format = match format {
            Some(Ok(f)) => Some(f),
            Some(Err(text)) => {
                config.warnings.push(format!(
                    "describe-flow-logs: {}: LogFormat {:?} is not a list of ${{field}}; left out",
                    flow_log.flow_log_id.as_deref().unwrap_or("a flow log"),
                    start_doctor_core::text::one_line(&text.chars().take(80).collect::<String>())
                ));
                None
            }
            None => None,
        };
        config.flow_logs.push(FlowLog {
            id: flow_log.flow_log_id,
            log_group: flow_log.log_group_name,
            format,
            resource: flow_log.resource_id,
        });
    }
    for options in raw.bpa_options {
        let mode = match options.internet_gateway_block_mode.as_deref() {
            Some("block-bidirectional") => BpaMode::BlockBidirectional,
            Some("block-ingress") => BpaMode::BlockIngress,
            _ => BpaMode::Off,
        };
        config.block_public_access.push(BlockPublicAccess {
            region: options.aws_region.as_deref().and_then(Region::parse),
            mode,
        });
    }
    for exclusion in raw.bpa_exclusions {
        if exclusion
            .state
            .as_deref()
            .is_some_and(|s| s.starts_with("delete"))
        {
            continue;
        }
        let resource = exclusion
            .resource_arn
            .as_deref()
            .and_then(|arn| arn.rsplit('/').next())
            .map(str::to_owned);
        config.bpa_exclusions.push(BpaExclusion {
            id: exclusion.exclusion_id,
            mode: exclusion.internet_gateway_exclusion_mode,
            resource,
        });
    }
}

fn network_acl(raw: RawNetworkAcl, warnings: &mut Vec<String>) -> Option<NetworkAcl> {
    let Some(id) = NetworkAclId::parse(&raw.network_acl_id) else {
        warnings.push(format!(
            "describe-network-acls: {:?} is not a network ACL id; left out",
            raw.network_acl_id
        ));
        return None;
    };
    let mut incomplete = false;
    let mut entries = Vec::with_capacity(raw.entries.len());
    for (i, entry) in raw.entries.iter().enumerate() {
        match acl_entry(entry) {
            Ok(e) => entries.push(e),
            Err(why) => {
                warnings.push(format!(
                    "network ACL {id}: entry {}: {why}; evaluations through this network ACL are unknown",
                    i + 1
                ));
                incomplete = true;
            }
        }
    }
    entries.sort_by_key(|e| (e.egress, e.rule_number));
    Some(NetworkAcl {
        vpc: raw.vpc_id.as_deref().and_then(VpcId::parse),
        is_default: raw.is_default.unwrap_or(false),
        subnets: raw
            .associations
            .iter()
            .filter_map(|a| a.subnet_id.as_deref().and_then(SubnetId::parse))
            .collect(),
        entries,
        incomplete,
        id,
    })
}

fn acl_entry(raw: &RawAclEntry) -> Result<AclEntry, String> {
    let rule_number = raw
        .rule_number
        .and_then(|n| u16::try_from(n).ok())
        .filter(|n| (1..=32768).contains(n))
        .ok_or_else(|| format!("RuleNumber {:?} is not 1 to 32768", raw.rule_number))?;
    let egress = raw.egress.ok_or("no Egress")?;
    let action = match raw
        .rule_action
        .as_deref()
        .map(str::to_ascii_lowercase)
        .as_deref()
    {
        Some("allow") => RuleAction::Allow,
        Some("deny") => RuleAction::Deny,
        other => return Err(format!("RuleAction {other:?} is not allow or deny")),
    };
    let protocol = raw
        .protocol
        .as_deref()
        .and_then(Protocol::parse)
        .ok_or_else(|| format!("Protocol {:?} is not -1 or a protocol number", raw.protocol))?;
    let cidr = match (&raw.cidr_block, &raw.ipv6_cidr_block) {
        (Some(v4), None) => cidr(v4).filter(|c| matches!(c, IpNet::V4(_))),
        (None, Some(v6)) => cidr(v6).filter(|c| matches!(c, IpNet::V6(_))),
        _ => None,
    }
    .ok_or("not exactly one valid CidrBlock or Ipv6CidrBlock")?;
    let ports = match protocol {
        Protocol::Number(6 | 17) => {
            let range = raw
                .port_range
                .as_ref()
                .ok_or("a TCP or UDP entry without PortRange")?;
            let port = |p: Option<i64>| p.and_then(|p| u16::try_from(p).ok());
            match (port(range.from), port(range.to)) {
                (Some(from), Some(to)) if from <= to => Some(PortRange { from, to }),
                _ => return Err(format!("PortRange {range:?} is not a port range")),
            }
        }
        _ => None,
    };
    let icmp = match protocol {
        Protocol::Number(1 | 58) => {
            let tc = raw
                .icmp_type_code
                .as_ref()
                .ok_or("an ICMP entry without IcmpTypeCode")?;
            let value = |v: Option<i64>| {
                v.and_then(|v| i16::try_from(v).ok())
                    .filter(|v| (-1..=255).contains(v))
            };
            match (value(tc.kind), value(tc.code)) {
                (Some(kind), Some(code)) => Some(IcmpTypeCode { kind, code }),
                _ => return Err(format!("IcmpTypeCode {tc:?} is not a type and code")),
            }
        }
        _ => None,
    };
    Ok(AclEntry {
        rule_number,
        egress,
        action,
        protocol,
        cidr,
        ports,
        icmp,
    })
}

fn sg_rule(raw: &RawPermission) -> Result<SgRule, String> {
    let protocol = raw
        .ip_protocol
        .as_deref()
        .and_then(Protocol::parse)
        .ok_or_else(|| format!("IpProtocol {:?} is not a protocol", raw.ip_protocol))?;
    let ports = match protocol {
        Protocol::Number(6 | 17) => {
            let port = |p: Option<i64>| p.and_then(|p| u16::try_from(p).ok());
            match (port(raw.from_port), port(raw.to_port)) {
                (Some(from), Some(to)) if from <= to => RulePorts::Range(PortRange { from, to }),
                _ if raw.from_port == Some(-1) && raw.to_port == Some(-1) => RulePorts::All,
                _ => {
                    return Err(format!(
                        "FromPort {:?} and ToPort {:?} are not a port range",
                        raw.from_port, raw.to_port
                    ))
                }
            }
        }
        Protocol::Number(1 | 58) => {
            let value = |v: Option<i64>| {
                v.and_then(|v| i16::try_from(v).ok())
                    .filter(|v| (-1..=255).contains(v))
            };
            RulePorts::Icmp(IcmpTypeCode {
                kind: value(raw.from_port).unwrap_or(-1),
                code: value(raw.to_port).unwrap_or(-1),
            })
        }
        _ => RulePorts::All,
    };
    let mut peers = Vec::new();
    for range in &raw.ip_ranges {
        let text = range.cidr_ip.as_deref().unwrap_or_default();
        peers.push(Peer::Cidr(
            cidr(text)
                .filter(|c| matches!(c, IpNet::V4(_)))
                .ok_or_else(|| format!("CidrIp {text:?} is not an IPv4 CIDR"))?,
        ));
    }
    for range in &raw.ipv6_ranges {
        let text = range.cidr_ipv6.as_deref().unwrap_or_default();
        peers.push(Peer::Cidr(
            cidr(text)
                .filter(|c| matches!(c, IpNet::V6(_)))
                .ok_or_else(|| format!("CidrIpv6 {text:?} is not an IPv6 CIDR"))?,
        ));
    }
    for list in &raw.prefix_list_ids {
        let text = list.prefix_list_id.as_deref().unwrap_or_default();
        peers.push(Peer::PrefixList(
            PrefixListId::parse(text).ok_or_else(|| format!("{text:?} is not a prefix list id"))?,
        ));
    }
    for pair in &raw.user_id_group_pairs {
        let text = pair.group_id.as_deref().unwrap_or_default();
        peers
            .push(Peer::Group(SecurityGroupId::parse(text).ok_or_else(
                || format!("{text:?} is not a security group id"),
            )?));
    }
    Ok(SgRule {
        protocol,
        ports,
        peers,
    })
}

fn route(raw: &RawRoute) -> Option<Route> {
    let destination = if let Some(v4) = &raw.destination_cidr_block {
        RouteDestination::Cidr(cidr(v4)?)
    } else if let Some(v6) = &raw.destination_ipv6_cidr_block {
        RouteDestination::Cidr(cidr(v6)?)
    } else {
        RouteDestination::PrefixList(PrefixListId::parse(
            raw.destination_prefix_list_id.as_deref()?,
        )?)
    };
    let target = if let Some(tgw) = raw
        .transit_gateway_id
        .as_deref()
        .and_then(TransitGatewayId::parse)
    {
        RouteTarget::TransitGateway(tgw)
    } else if let Some(gateway) = &raw.gateway_id {
        match gateway.as_str() {
            "local" => RouteTarget::Local,
            g if g.starts_with("igw-") => RouteTarget::InternetGateway(g.to_owned()),
            g if g.starts_with("vgw-") => RouteTarget::VpnGateway(g.to_owned()),
            g => RouteTarget::Other(g.to_owned()),
        }
    } else {
        let other = [
            &raw.nat_gateway_id,
            &raw.vpc_peering_connection_id,
            &raw.network_interface_id,
            &raw.egress_only_internet_gateway_id,
            &raw.core_network_arn,
            &raw.local_gateway_id,
        ]
        .into_iter()
        .find_map(|t| t.clone())
        .unwrap_or_else(|| "unknown target".to_owned());
        RouteTarget::Other(other)
    };
    Some(Route {
        destination,
        target,
        active: raw.state.as_deref() != Some("blackhole"),
    })
}
