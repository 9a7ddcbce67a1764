//! The `describe-*` outputs as the AWS CLI prints them (PascalCase keys,
//! lists that may be missing or empty), read leniently: unknown keys are
//! ignored, missing lists are empty. [`super::Config`] turns them into the
//! typed model and says what it could not use.

use serde::Deserialize;

/// `describe-network-acls`: one of `NetworkAcls`.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct RawNetworkAcl {
    pub network_acl_id: String,
    pub vpc_id: Option<String>,
    pub is_default: Option<bool>,
    pub associations: Vec<RawAclAssociation>,
    pub entries: Vec<RawAclEntry>,
    pub owner_id: Option<String>,
}

/// `NetworkAcls[].Associations[]`.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct RawAclAssociation {
    pub subnet_id: Option<String>,
}

/// `NetworkAcls[].Entries[]`.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct RawAclEntry {
    pub rule_number: Option<i64>,
    pub protocol: Option<String>,
    pub rule_action: Option<String>,
    pub egress: Option<bool>,
    pub cidr_block: Option<String>,
    pub ipv6_cidr_block: Option<String>,
    pub port_range: Option<RawPortRange>,
    pub icmp_type_code: Option<RawIcmpTypeCode>,
}

/// `PortRange`.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct RawPortRange {
    pub from: Option<i64>,
    pub to: Option<i64>,
}

/// `IcmpTypeCode`.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct RawIcmpTypeCode {
    #[serde(rename = "Type")]
    pub kind: Option<i64>,
    pub code: Option<i64>,
}

/// `describe-subnets`: one of `Subnets`.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct RawSubnet {
    pub subnet_id: String,
    pub vpc_id: Option<String>,
    pub cidr_block: Option<String>,
    pub availability_zone: Option<String>,
    pub availability_zone_id: Option<String>,
    pub ipv6_cidr_block_association_set: Vec<RawIpv6Association>,
    pub owner_id: Option<String>,
}

/// `Ipv6CidrBlockAssociationSet[]` (subnets and VPCs).
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct RawIpv6Association {
    pub ipv6_cidr_block: Option<String>,
    pub ipv6_cidr_block_state: Option<RawBlockState>,
}

/// `CidrBlockAssociationSet[]` of a VPC.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct RawCidrAssociation {
    pub cidr_block: Option<String>,
    pub cidr_block_state: Option<RawBlockState>,
}

/// `…CidrBlockState`.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct RawBlockState {
    pub state: Option<String>,
}

/// `describe-vpcs`: one of `Vpcs`.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct RawVpc {
    pub vpc_id: String,
    pub cidr_block: Option<String>,
    pub cidr_block_association_set: Vec<RawCidrAssociation>,
    pub ipv6_cidr_block_association_set: Vec<RawIpv6Association>,
    pub owner_id: Option<String>,
}

/// `describe-security-groups`: one of `SecurityGroups`.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct RawSecurityGroup {
    pub group_id: String,
    pub group_name: Option<String>,
    pub vpc_id: Option<String>,
    pub ip_permissions: Vec<RawPermission>,
    pub ip_permissions_egress: Vec<RawPermission>,
}

/// `IpPermissions[]` / `IpPermissionsEgress[]`.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct RawPermission {
    pub ip_protocol: Option<String>,
    pub from_port: Option<i64>,
    pub to_port: Option<i64>,
    pub ip_ranges: Vec<RawIpRange>,
    pub ipv6_ranges: Vec<RawIpv6Range>,
    pub prefix_list_ids: Vec<RawPrefixListId>,
    pub user_id_group_pairs: Vec<RawGroupPair>,
}

/// `IpRanges[]`.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct RawIpRange {
    pub cidr_ip: Option<String>,
}

/// `Ipv6Ranges[]`.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct RawIpv6Range {
    pub cidr_ipv6: Option<String>,
}

/// `PrefixListIds[]`.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct RawPrefixListId {
    pub prefix_list_id: Option<String>,
}

/// `UserIdGroupPairs[]`.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct RawGroupPair {
    pub group_id: Option<String>,
}

/// `describe-network-interfaces`: one of `NetworkInterfaces`.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct RawInterface {
    pub network_interface_id: String,
    pub subnet_id: Option<String>,
    pub vpc_id: Option<String>,
    pub availability_zone: Option<String>,
    pub interface_type: Option<String>,
    pub description: Option<String>,
    pub private_ip_address: Option<String>,
    pub private_ip_addresses: Vec<RawPrivateAddress>,
    pub ipv6_addresses: Vec<RawIpv6Address>,
    pub groups: Vec<RawGroupIdentifier>,
    pub attachment: Option<RawInterfaceAttachment>,
    pub owner_id: Option<String>,
}

/// `PrivateIpAddresses[]`.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct RawPrivateAddress {
    pub private_ip_address: Option<String>,
}

/// `Ipv6Addresses[]`.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct RawIpv6Address {
    pub ipv6_address: Option<String>,
}

/// `Groups[]`.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct RawGroupIdentifier {
    pub group_id: Option<String>,
}

/// `Attachment`.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct RawInterfaceAttachment {
    pub instance_id: Option<String>,
}

/// `describe-transit-gateway-vpc-attachments`: one of
/// `TransitGatewayVpcAttachments`.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct RawVpcAttachment {
    pub transit_gateway_attachment_id: String,
    pub transit_gateway_id: Option<String>,
    pub vpc_id: Option<String>,
    pub state: Option<String>,
    pub subnet_ids: Vec<String>,
    pub options: Option<RawVpcAttachmentOptions>,
}

/// `Options` of a VPC attachment.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct RawVpcAttachmentOptions {
    pub appliance_mode_support: Option<String>,
}

/// `describe-transit-gateway-attachments`: one of
/// `TransitGatewayAttachments`.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct RawTgwAttachment {
    pub transit_gateway_attachment_id: String,
    pub transit_gateway_id: Option<String>,
    pub resource_type: Option<String>,
    pub resource_id: Option<String>,
    pub state: Option<String>,
}

/// `describe-route-tables`: one of `RouteTables`.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct RawRouteTable {
    pub route_table_id: String,
    pub vpc_id: Option<String>,
    pub associations: Vec<RawRouteTableAssociation>,
    pub routes: Vec<RawRoute>,
}

/// `RouteTables[].Associations[]`.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct RawRouteTableAssociation {
    pub subnet_id: Option<String>,
    pub main: Option<bool>,
}

/// `RouteTables[].Routes[]`.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct RawRoute {
    pub destination_cidr_block: Option<String>,
    pub destination_ipv6_cidr_block: Option<String>,
    pub destination_prefix_list_id: Option<String>,
    pub transit_gateway_id: Option<String>,
    pub gateway_id: Option<String>,
    pub nat_gateway_id: Option<String>,
    pub vpc_peering_connection_id: Option<String>,
    pub network_interface_id: Option<String>,
    pub egress_only_internet_gateway_id: Option<String>,
    pub core_network_arn: Option<String>,
    pub local_gateway_id: Option<String>,
    pub state: Option<String>,
}

/// `describe-flow-logs`: one of `FlowLogs`.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct RawFlowLog {
    pub flow_log_id: Option<String>,
    pub log_format: Option<String>,
    pub log_group_name: Option<String>,
    pub resource_id: Option<String>,
}

/// `describe-prefix-lists` (with `Cidrs`) or `describe-managed-prefix-lists`
/// (without): one of `PrefixLists`.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct RawPrefixList {
    pub prefix_list_id: String,
    pub prefix_list_name: Option<String>,
    pub cidrs: Option<Vec<String>>,
}

/// `get-managed-prefix-list-entries` output, which does not name its
/// prefix list: start-doctor reads it with a `PrefixListId` key added
/// (`--save` writes it so).
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct RawPrefixListEntries {
    pub prefix_list_id: Option<String>,
    pub entries: Vec<RawPrefixListEntry>,
}

/// `Entries[]` of a managed prefix list.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct RawPrefixListEntry {
    pub cidr: Option<String>,
}

/// `describe-vpc-block-public-access-options`: `VpcBlockPublicAccessOptions`.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct RawBpaOptions {
    pub aws_region: Option<String>,
    pub state: Option<String>,
    pub internet_gateway_block_mode: Option<String>,
}

/// `describe-vpc-block-public-access-exclusions`: one of
/// `VpcBlockPublicAccessExclusions`.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct RawBpaExclusion {
    pub exclusion_id: Option<String>,
    pub internet_gateway_exclusion_mode: Option<String>,
    pub resource_arn: Option<String>,
    pub state: Option<String>,
}

/// Every `describe-*` part one document held.
#[derive(Clone, Debug, Default)]
pub struct Describe {
    pub network_acls: Vec<RawNetworkAcl>,
    pub subnets: Vec<RawSubnet>,
    pub vpcs: Vec<RawVpc>,
    pub security_groups: Vec<RawSecurityGroup>,
    pub interfaces: Vec<RawInterface>,
    pub vpc_attachments: Vec<RawVpcAttachment>,
    pub tgw_attachments: Vec<RawTgwAttachment>,
    pub route_tables: Vec<RawRouteTable>,
    pub flow_logs: Vec<RawFlowLog>,
    pub prefix_lists: Vec<RawPrefixList>,
    pub prefix_list_entries: Vec<RawPrefixListEntries>,
    pub bpa_options: Vec<RawBpaOptions>,
    pub bpa_exclusions: Vec<RawBpaExclusion>,
}

impl Describe {
    /// Adds another document's parts.
    pub fn extend(&mut self, other: Describe) {
        self.network_acls.extend(other.network_acls);
        self.subnets.extend(other.subnets);
        self.vpcs.extend(other.vpcs);
        self.security_groups.extend(other.security_groups);
        self.interfaces.extend(other.interfaces);
        self.vpc_attachments.extend(other.vpc_attachments);
        self.tgw_attachments.extend(other.tgw_attachments);
        self.route_tables.extend(other.route_tables);
        self.flow_logs.extend(other.flow_logs);
        self.prefix_lists.extend(other.prefix_lists);
        self.prefix_list_entries.extend(other.prefix_list_entries);
        self.bpa_options.extend(other.bpa_options);
        self.bpa_exclusions.extend(other.bpa_exclusions);
    }

    /// Whether nothing was read.
    pub fn is_empty(&self) -> bool {
        self.network_acls.is_empty()
            && self.subnets.is_empty()
            && self.vpcs.is_empty()
            && self.security_groups.is_empty()
            && self.interfaces.is_empty()
            && self.vpc_attachments.is_empty()
            && self.tgw_attachments.is_empty()
            && self.route_tables.is_empty()
            && self.flow_logs.is_empty()
            && self.prefix_lists.is_empty()
            && self.prefix_list_entries.is_empty()
            && self.bpa_options.is_empty()
            && self.bpa_exclusions.is_empty()
    }
}
