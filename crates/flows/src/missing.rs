//! What the replay needed and was not given, and the command that
//! collects it: a finding that cannot be explained says exactly this
//! rather than guess.

use std::fmt;
use std::net::IpAddr;

use crate::ids::{EniId, NetworkAclId, PrefixListId, SecurityGroupId, SubnetId, VpcId};

/// The flow-log format start-doctor recommends: the default fields, and
/// those that tell where a reject happened (subnet, AZ, TCP flags, the real
/// endpoints behind Transit Gateway and NAT interfaces, Block Public
/// Access).
pub const RECOMMENDED_FORMAT: &str = "${version} ${account-id} ${interface-id} ${srcaddr} ${dstaddr} ${srcport} ${dstport} ${protocol} ${packets} ${bytes} ${start} ${end} ${action} ${log-status} ${vpc-id} ${subnet-id} ${instance-id} ${tcp-flags} ${type} ${pkt-srcaddr} ${pkt-dstaddr} ${region} ${az-id} ${flow-direction} ${reject-reason}";

/// One piece of missing configuration or record data.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Missing {
    /// A network interface named by the records was not described.
    Interface(EniId),
    /// No interface described has this address, and it is inside a VPC.
    InterfaceWithAddress(IpAddr),
    /// A subnet was not described.
    Subnet(SubnetId),
    /// No subnet described holds this address (inside a VPC).
    SubnetOfAddress(IpAddr),
    /// The network ACL of a subnet was not described.
    NetworkAclOf(SubnetId),
    /// A network ACL has entries that could not be read.
    UnreadableNetworkAcl(NetworkAclId),
    /// A security group was not described.
    SecurityGroup(SecurityGroupId),
    /// A security group has rules that could not be read.
    UnreadableSecurityGroup(SecurityGroupId),
    /// A prefix list's entries were not given.
    PrefixList(PrefixListId),
    /// The VPC's Transit Gateway attachments were not described.
    Attachments(VpcId),
    /// The records of a Transit Gateway interface have no `pkt-srcaddr` /
    /// `pkt-dstaddr`: the far endpoint is hidden behind the interface's
    /// own address.
    PacketAddresses(EniId),
    /// A rule names ICMP types, which flow logs do not record.
    IcmpType,
}

impl Missing {
    /// The command that collects it, when one does.
    pub fn command(&self) -> Option<String> {
        Some(match self {
            Missing::Interface(eni) => {
                format!("aws ec2 describe-network-interfaces --network-interface-ids {eni}")
            }
            Missing::InterfaceWithAddress(address) => format!(
                "aws ec2 describe-network-interfaces --filters Name={},Values={address}",
                if address.is_ipv4() {
                    "addresses.private-ip-address"
                } else {
                    "ipv6-addresses.ipv6-address"
                }
            ),
            Missing::Subnet(subnet) => format!("aws ec2 describe-subnets --subnet-ids {subnet}"),
            Missing::SubnetOfAddress(_) => "aws ec2 describe-subnets".to_owned(),
            Missing::NetworkAclOf(subnet) => format!(
                "aws ec2 describe-network-acls --filters Name=association.subnet-id,Values={subnet}"
            ),
            Missing::UnreadableNetworkAcl(acl) => {
                format!("aws ec2 describe-network-acls --network-acl-ids {acl}")
            }
            Missing::SecurityGroup(group) | Missing::UnreadableSecurityGroup(group) => {
                format!("aws ec2 describe-security-groups --group-ids {group}")
            }
            Missing::PrefixList(list) => format!(
                "aws ec2 get-managed-prefix-list-entries --prefix-list-id {list} (add \"PrefixListId\": \"{list}\" to the output)"
            ),
            Missing::Attachments(vpc) => format!(
                "aws ec2 describe-transit-gateway-vpc-attachments --filters Name=vpc-id,Values={vpc}"
            ),
            Missing::PacketAddresses(eni) => format!(
                "aws ec2 create-flow-logs --resource-type NetworkInterface --resource-ids {eni} \
                 --traffic-type ALL --log-destination-type s3 --log-destination arn:aws:s3:::<your-bucket> \
                 --log-format '{RECOMMENDED_FORMAT}'"
            ),
            Missing::IcmpType => return None,
        })
    }
}

impl fmt::Display for Missing {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Missing::Interface(eni) => write!(f, "network interface {eni} (describe-network-interfaces)"),
            Missing::InterfaceWithAddress(address) => {
                write!(f, "the network interface with address {address} (describe-network-interfaces)")
            }
            Missing::Subnet(subnet) => write!(f, "subnet {subnet} (describe-subnets)"),
            Missing::SubnetOfAddress(address) => {
                write!(f, "the subnet of {address} (describe-subnets)")
            }
            Missing::NetworkAclOf(subnet) => {
                write!(f, "the network ACL of {subnet} (describe-network-acls)")
            }
            Missing::UnreadableNetworkAcl(acl) => {
                write!(f, "the entries of network ACL {acl}, some of which could not be read")
            }
            Missing::SecurityGroup(group) => {
                write!(f, "security group {group} (describe-security-groups)")
            }
            Missing::UnreadableSecurityGroup(group) => {
                write!(f, "the rules of security group {group}, some of which could not be read")
            }
            Missing::PrefixList(list) => {
                write!(f, "the entries of prefix list {list} (get-managed-prefix-list-entries)")
            }
            Missing::Attachments(vpc) => write!(
                f,
                "the Transit Gateway attachments of {vpc} (describe-transit-gateway-vpc-attachments)"
            ),
            Missing::PacketAddresses(eni) => write!(
                f,
                "the real endpoints of the records of Transit Gateway interface {eni} (the pkt-srcaddr and pkt-dstaddr fields of a custom flow-log format)"
            ),
            Missing::IcmpType => write!(
                f,
                "the ICMP type of the packets, which flow logs do not record (a rule for one ICMP type applies or not)"
            ),
        }
    }
}
