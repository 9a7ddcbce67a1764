//! The fields of VPC and Transit Gateway flow-log records, by the names
//! their formats use (`${srcaddr}` in a `LogFormat`, `srcaddr` in the
//! header line of a file delivered to S3).
//!
//! Source: VPC User Guide, "Flow log records" (available fields and their
//! versions: 2 is the default format, 3 adds `vpc-id subnet-id instance-id
//! tcp-flags type pkt-srcaddr pkt-dstaddr`, 4 adds `region az-id
//! sublocation-type sublocation-id`, 5 adds `pkt-src-aws-service
//! pkt-dst-aws-service flow-direction traffic-path`, 7 the `ecs-*` fields,
//! 8 `reject-reason`); Transit Gateway Guide, "Transit Gateway Flow Log
//! records" (`resource-type`, `tgw-*`, `packets-lost-*`, version 6).
//! Fields the replay does not use are [`Field::Other`]: a format may name
//! them, and names AWS adds later, in any order.

/// One field of a flow-log format.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Field {
    /// `version`.
    Version,
    /// `account-id`.
    AccountId,
    /// `interface-id`.
    InterfaceId,
    /// `srcaddr`.
    SrcAddr,
    /// `dstaddr`.
    DstAddr,
    /// `srcport`.
    SrcPort,
    /// `dstport`.
    DstPort,
    /// `protocol`.
    Protocol,
    /// `packets`.
    Packets,
    /// `bytes`.
    Bytes,
    /// `start`.
    Start,
    /// `end`.
    End,
    /// `action`.
    Action,
    /// `log-status`.
    LogStatus,
    /// `vpc-id`.
    VpcId,
    /// `subnet-id`.
    SubnetId,
    /// `instance-id`.
    InstanceId,
    /// `tcp-flags`.
    TcpFlags,
    /// `type`.
    Type,
    /// `pkt-srcaddr`.
    PktSrcAddr,
    /// `pkt-dstaddr`.
    PktDstAddr,
    /// `region`.
    Region,
    /// `az-id`.
    AzId,
    /// `flow-direction`.
    FlowDirection,
    /// `traffic-path`.
    TrafficPath,
    /// `reject-reason`.
    RejectReason,
    /// `resource-type` (Transit Gateway records only).
    ResourceType,
    /// `tgw-id`.
    TgwId,
    /// `tgw-attachment-id`.
    TgwAttachmentId,
    /// `tgw-src-vpc-id`.
    TgwSrcVpcId,
    /// `tgw-dst-vpc-id`.
    TgwDstVpcId,
    /// `tgw-src-subnet-id`.
    TgwSrcSubnetId,
    /// `tgw-dst-subnet-id`.
    TgwDstSubnetId,
    /// `tgw-src-eni`.
    TgwSrcEni,
    /// `tgw-dst-eni`.
    TgwDstEni,
    /// `tgw-src-az-id`.
    TgwSrcAzId,
    /// `tgw-dst-az-id`.
    TgwDstAzId,
    /// `tgw-pair-attachment-id`.
    TgwPairAttachmentId,
    /// A field the replay does not use (`ecs-*`, `sublocation-*`,
    /// `packets-lost-*`, `pkt-*-aws-service`, and names added later).
    Other,
}

/// How many distinct fields [`Field`] has (the size of a format's index).
pub const FIELD_COUNT: usize = Field::Other as usize + 1;

/// Every named field, with the name formats use.
const NAMES: &[(&str, Field)] = &[
    ("version", Field::Version),
    ("account-id", Field::AccountId),
    ("interface-id", Field::InterfaceId),
    ("srcaddr", Field::SrcAddr),
    ("dstaddr", Field::DstAddr),
    ("srcport", Field::SrcPort),
    ("dstport", Field::DstPort),
    ("protocol", Field::Protocol),
    ("packets", Field::Packets),
    ("bytes", Field::Bytes),
    ("start", Field::Start),
    ("end", Field::End),
    ("action", Field::Action),
    ("log-status", Field::LogStatus),
    ("vpc-id", Field::VpcId),
    ("subnet-id", Field::SubnetId),
    ("instance-id", Field::InstanceId),
    ("tcp-flags", Field::TcpFlags),
    ("type", Field::Type),
    ("pkt-srcaddr", Field::PktSrcAddr),
    ("pkt-dstaddr", Field::PktDstAddr),
    ("region", Field::Region),
    ("az-id", Field::AzId),
    ("flow-direction", Field::FlowDirection),
    ("traffic-path", Field::TrafficPath),
    ("reject-reason", Field::RejectReason),
    ("resource-type", Field::ResourceType),
    ("tgw-id", Field::TgwId),
    ("tgw-attachment-id", Field::TgwAttachmentId),
    ("tgw-src-vpc-id", Field::TgwSrcVpcId),
    ("tgw-dst-vpc-id", Field::TgwDstVpcId),
    ("tgw-src-subnet-id", Field::TgwSrcSubnetId),
    ("tgw-dst-subnet-id", Field::TgwDstSubnetId),
    ("tgw-src-eni", Field::TgwSrcEni),
    ("tgw-dst-eni", Field::TgwDstEni),
    ("tgw-src-az-id", Field::TgwSrcAzId),
    ("tgw-dst-az-id", Field::TgwDstAzId),
    ("tgw-pair-attachment-id", Field::TgwPairAttachmentId),
];

/// Documented fields the replay reads nothing from: known, so that a
/// header naming them is recognised as a header.
const OTHER_NAMES: &[&str] = &[
    "sublocation-type",
    "sublocation-id",
    "pkt-src-aws-service",
    "pkt-dst-aws-service",
    "ecs-cluster-arn",
    "ecs-cluster-name",
    "ecs-container-instance-arn",
    "ecs-container-instance-id",
    "ecs-container-id",
    "ecs-second-container-id",
    "ecs-service-name",
    "ecs-task-definition-arn",
    "ecs-task-arn",
    "ecs-task-id",
    "resource-id",
    "encryption-status",
    "interface-type",
    "next-hop-interface-id",
    "next-hop-subnet-id",
    "next-hop-az-id",
    "next-hop-vpc-id",
    "next-hop-interface-type",
    "tgw-src-vpc-account-id",
    "tgw-dst-vpc-account-id",
    "packets-lost-no-route",
    "packets-lost-blackhole",
    "packets-lost-mtu-exceeded",
    "packets-lost-ttl-expired",
];

impl Field {
    /// The field a format names `name`; `None` for a name that is no
    /// documented field (it may still be a field added later: see
    /// [`looks_like_field_name`]).
    pub fn from_name(name: &str) -> Option<Self> {
        NAMES
            .iter()
            .find(|(n, _)| *n == name)
            .map(|(_, f)| *f)
            .or_else(|| OTHER_NAMES.contains(&name).then_some(Field::Other))
    }

    /// Whether only Transit Gateway records carry this field.
    pub fn is_transit_gateway(self) -> bool {
        matches!(
            self,
            Field::ResourceType
                | Field::TgwId
                | Field::TgwAttachmentId
                | Field::TgwSrcVpcId
                | Field::TgwDstVpcId
                | Field::TgwSrcSubnetId
                | Field::TgwDstSubnetId
                | Field::TgwSrcEni
                | Field::TgwDstEni
                | Field::TgwSrcAzId
                | Field::TgwDstAzId
                | Field::TgwPairAttachmentId
        )
    }
}

/// Whether `name` has the shape of a field name (lowercase words joined by
/// dashes, like `next-hop-vpc-id`), for fields AWS adds after this was
/// written; `tgw-0abc…`-like ids and numbers do not.
pub fn looks_like_field_name(name: &str) -> bool {
    !name.is_empty()
        && name.split('-').all(|word| {
            !word.is_empty()
                && word.bytes().next().is_some_and(|b| b.is_ascii_lowercase())
                && word
                    .bytes()
                    .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit())
        })
        && !name
            .split('-')
            .skip(1)
            .any(|word| word.len() >= 8 && word.bytes().all(|b| b.is_ascii_hexdigit()))
}

/// The default VPC flow-log format (version 2), in order.
pub const DEFAULT_VPC: [Field; 14] = [
    Field::Version,
    Field::AccountId,
    Field::InterfaceId,
    Field::SrcAddr,
    Field::DstAddr,
    Field::SrcPort,
    Field::DstPort,
    Field::Protocol,
    Field::Packets,
    Field::Bytes,
    Field::Start,
    Field::End,
    Field::Action,
    Field::LogStatus,
];

/// The default Transit Gateway flow-log format: every field of versions 2
/// to 6, in the order of the Transit Gateway Guide's table.
pub const DEFAULT_TGW: [&str; 36] = [
    "version",
    "resource-type",
    "account-id",
    "tgw-id",
    "tgw-attachment-id",
    "tgw-src-vpc-account-id",
    "tgw-dst-vpc-account-id",
    "tgw-src-vpc-id",
    "tgw-dst-vpc-id",
    "tgw-src-subnet-id",
    "tgw-dst-subnet-id",
    "tgw-src-eni",
    "tgw-dst-eni",
    "tgw-src-az-id",
    "tgw-dst-az-id",
    "tgw-pair-attachment-id",
    "srcaddr",
    "dstaddr",
    "srcport",
    "dstport",
    "protocol",
    "packets",
    "bytes",
    "start",
    "end",
    "log-status",
    "type",
    "packets-lost-no-route",
    "packets-lost-blackhole",
    "packets-lost-mtu-exceeded",
    "packets-lost-ttl-expired",
    "tcp-flags",
    "region",
    "flow-direction",
    "pkt-src-aws-service",
    "pkt-dst-aws-service",
];

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_name_maps_back_to_its_field() {
        for (name, field) in NAMES {
            assert_eq!(Field::from_name(name), Some(*field), "{name}");
        }
        for name in OTHER_NAMES {
            assert_eq!(Field::from_name(name), Some(Field::Other), "{name}");
        }
        assert_eq!(Field::from_name("srcaddr "), None);
    }

    #[test]
    fn field_name_shapes_are_told_from_values() {
        for name in ["next-hop-vpc-id", "version", "some-new-field2"] {
            assert!(looks_like_field_name(name), "{name}");
        }
        for value in [
            "2",
            "eni-1235b8ca123456789",
            "tgw-0a1b2c3d4e5f60001",
            "10.0.0.1",
            "ACCEPT",
            "-",
            "",
        ] {
            assert!(!looks_like_field_name(value), "{value}");
        }
    }
}
