//! The network configuration a flow crosses, typed: VPCs and subnets (with
//! their AZ ids), network ACLs and their entries, security groups and
//! their rules, network interfaces (with their groups and addresses),
//! Transit Gateway VPC attachments and their subnets, route tables, prefix
//! lists, flow-log formats, and VPC Block Public Access.
//!
//! Built from the `describe-*` outputs ([`ConfigPart`]) in any order and
//! any number of pieces. Anything that cannot be used is a warning in
//! [`Config::warnings`]; a network ACL or security group with an entry that
//! cannot be read is kept but marked incomplete, so that the replay says
//! "unknown" through it rather than guess.

pub(crate) mod describe;
mod model;

use std::collections::BTreeMap;
use std::net::IpAddr;

use ipnet::IpNet;

pub use model::*;

use crate::ids::{
    AttachmentId, AzId, EniId, NetworkAclId, PrefixListId, RouteTableId, SecurityGroupId, SubnetId,
    VpcId,
};
use crate::read::Formats;
use crate::record::Format;

/// The `describe-*` parts of one document, not yet checked.
#[derive(Clone, Debug, Default)]
pub struct ConfigPart(pub(crate) describe::Describe);

impl ConfigPart {
    /// Adds another document's parts.
    pub fn extend(&mut self, other: ConfigPart) {
        self.0.extend(other.0);
    }

    /// Whether the document held no configuration.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

/// The configuration, typed and indexed.
#[derive(Clone, Debug, Default)]
pub struct Config {
    /// VPCs.
    pub vpcs: BTreeMap<VpcId, Vpc>,
    /// Subnets.
    pub subnets: BTreeMap<SubnetId, Subnet>,
    /// Network ACLs.
    pub network_acls: BTreeMap<NetworkAclId, NetworkAcl>,
    /// Security groups.
    pub security_groups: BTreeMap<SecurityGroupId, SecurityGroup>,
    /// Network interfaces.
    pub interfaces: BTreeMap<EniId, Interface>,
    /// Transit Gateway VPC attachments.
    pub attachments: BTreeMap<AttachmentId, VpcAttachment>,
    /// Route tables.
    pub route_tables: BTreeMap<RouteTableId, RouteTable>,
    /// Prefix lists whose entries are known.
    pub prefix_lists: BTreeMap<PrefixListId, Vec<IpNet>>,
    /// VPC Block Public Access, per region.
    pub block_public_access: Vec<BlockPublicAccess>,
    /// VPC Block Public Access exclusions.
    pub bpa_exclusions: Vec<BpaExclusion>,
    /// Flow logs and their formats.
    pub flow_logs: Vec<FlowLog>,
    /// What could not be used, one sentence each.
    pub warnings: Vec<String>,
}

impl Config {
    /// Builds the configuration from every part read.
    pub fn build(part: ConfigPart) -> Self {
        let mut config = Config::default();
        model::build(&mut config, part.0);
        config
    }

    /// The formats of the flow logs described, by log group.
    pub fn formats(&self) -> Formats {
        let mut formats = Formats::default();
        for flow_log in &self.flow_logs {
            if let Some(format) = &flow_log.format {
                formats.add(flow_log.log_group.clone(), format.clone());
            }
        }
        formats
    }

    /// Whether anything was described.
    pub fn is_empty(&self) -> bool {
        self.vpcs.is_empty()
            && self.subnets.is_empty()
            && self.network_acls.is_empty()
            && self.security_groups.is_empty()
            && self.interfaces.is_empty()
            && self.attachments.is_empty()
    }

    /// The subnet whose CIDR holds `address` (the most specific one).
    pub fn subnet_of_address(&self, address: IpAddr) -> Option<&Subnet> {
        self.subnets
            .values()
            .filter_map(|s| {
                s.cidrs
                    .iter()
                    .filter(|c| c.contains(&address))
                    .map(|c| c.prefix_len())
                    .max()
                    .map(|len| (len, s))
            })
            .max_by_key(|(len, _)| *len)
            .map(|(_, s)| s)
    }

    /// The VPC whose CIDR holds `address`.
    pub fn vpc_of_address(&self, address: IpAddr) -> Option<&Vpc> {
        self.vpcs
            .values()
            .find(|v| v.cidrs.iter().any(|c| c.contains(&address)))
    }

    /// Whether `address` is inside: in a VPC or subnet CIDR described, or
    /// in one of `internal`.
    pub fn is_inside(&self, address: IpAddr, internal: &[IpNet]) -> bool {
        internal.iter().any(|c| c.contains(&address))
            || self.vpc_of_address(address).is_some()
            || self.subnet_of_address(address).is_some()
    }

    /// The interface that has `address` as one of its own.
    pub fn interface_with_address(&self, address: IpAddr) -> Option<&Interface> {
        self.interfaces
            .values()
            .find(|i| i.addresses.contains(&address))
    }

    /// The network ACL that applies to `subnet`: the one it is explicitly
    /// associated with, else its VPC's default network ACL.
    pub fn network_acl_of(&self, subnet: &SubnetId) -> Option<&NetworkAcl> {
        self.network_acls
            .values()
            .find(|acl| acl.subnets.contains(subnet))
            .or_else(|| {
                let vpc = self.subnets.get(subnet)?.vpc.as_ref()?;
                self.network_acls
                    .values()
                    .find(|acl| acl.is_default && acl.vpc.as_ref() == Some(vpc))
            })
    }

    /// The subnets (and their AZs) of the Transit Gateway attachments of
    /// `vpc`: from `describe-transit-gateway-vpc-attachments`, and from
    /// Transit Gateway interfaces of `describe-network-interfaces`.
    pub fn attachment_subnets(&self, vpc: &VpcId) -> Vec<AttachmentSubnet> {
        let mut out: BTreeMap<SubnetId, AttachmentSubnet> = BTreeMap::new();
        for attachment in self.attachments.values() {
            if attachment.vpc.as_ref() != Some(vpc) || !attachment.is_usable() {
                continue;
            }
            for subnet in &attachment.subnets {
                out.entry(subnet.clone())
                    .or_insert_with(|| AttachmentSubnet {
                        subnet: subnet.clone(),
                        az_id: self.subnets.get(subnet).and_then(|s| s.az_id.clone()),
                        attachment: Some(attachment.id.clone()),
                        interface: None,
                    });
            }
        }
        for interface in self.interfaces.values() {
            let InterfaceKind::TransitGateway { attachment } = &interface.kind else {
                continue;
            };
            let Some(subnet) = &interface.subnet else {
                continue;
            };
            let in_vpc = interface.vpc.as_ref() == Some(vpc)
                || self.subnets.get(subnet).and_then(|s| s.vpc.as_ref()) == Some(vpc);
            if !in_vpc {
                continue;
            }
            let entry = out
                .entry(subnet.clone())
                .or_insert_with(|| AttachmentSubnet {
                    subnet: subnet.clone(),
                    az_id: self.subnets.get(subnet).and_then(|s| s.az_id.clone()),
                    attachment: attachment.clone(),
                    interface: None,
                });
            entry.interface = Some(interface.id);
            if entry.attachment.is_none() {
                entry.attachment.clone_from(attachment);
            }
        }
        out.into_values().collect()
    }

    /// Whether the VPC has a Transit Gateway attachment (described, or seen
    /// as an interface).
    pub fn has_attachment(&self, vpc: &VpcId) -> bool {
        !self.attachment_subnets(vpc).is_empty()
    }

    /// The route table of `subnet`: its explicit association, else the main
    /// route table of its VPC.
    pub fn route_table_of(&self, subnet: &SubnetId) -> Option<&RouteTable> {
        self.route_tables
            .values()
            .find(|t| t.subnets.contains(subnet))
            .or_else(|| {
                let vpc = self.subnets.get(subnet)?.vpc.as_ref()?;
                self.route_tables
                    .values()
                    .find(|t| t.main && t.vpc.as_ref() == Some(vpc))
            })
    }

    /// The most specific active route of `subnet`'s route table for
    /// `destination`, when the table is known.
    pub fn route(&self, subnet: &SubnetId, destination: IpAddr) -> Option<&Route> {
        let table = self.route_table_of(subnet)?;
        table
            .routes
            .iter()
            .filter(|r| r.active)
            .filter_map(|r| {
                let len = match &r.destination {
                    RouteDestination::Cidr(c) => c.contains(&destination).then(|| c.prefix_len()),
                    RouteDestination::PrefixList(id) => self
                        .prefix_lists
                        .get(id)?
                        .iter()
                        .filter(|c| c.contains(&destination))
                        .map(|c| c.prefix_len())
                        .max(),
                }?;
                Some((len, r))
            })
            .max_by_key(|(len, _)| *len)
            .map(|(_, r)| r)
    }

    /// The AZ id of `subnet`, when known.
    pub fn az_of(&self, subnet: &SubnetId) -> Option<&AzId> {
        self.subnets.get(subnet)?.az_id.as_ref()
    }

    /// The format of each flow log, with its log group.
    pub fn flow_log_formats(&self) -> impl Iterator<Item = (&Option<String>, &Format)> {
        self.flow_logs
            .iter()
            .filter_map(|f| f.format.as_ref().map(|format| (&f.log_group, format)))
    }
}

/// A subnet of a Transit Gateway VPC attachment: where the Transit Gateway
/// enters and leaves the VPC in one AZ.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AttachmentSubnet {
    /// The subnet.
    pub subnet: SubnetId,
    /// Its AZ id, when the subnet is described.
    pub az_id: Option<AzId>,
    /// The attachment.
    pub attachment: Option<AttachmentId>,
    /// The Transit Gateway interface in it, when described.
    pub interface: Option<EniId>,
}

#[cfg(test)]
mod tests;
