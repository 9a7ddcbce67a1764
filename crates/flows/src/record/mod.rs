//! Flow-log records: one line of space-separated values, read by a
//! [`Format`] into a [`VpcRecord`] or a [`TgwRecord`].
//!
//! `-` means "no value" in every field (VPC User Guide, "Flow log
//! records"). `NODATA` and `SKIPDATA` records carry `-` for the addresses,
//! ports and action. Values are borrowed from the line; only what the
//! replay needs is typed, so that a record costs no allocation.

pub mod fields;
pub mod format;

use std::net::IpAddr;

pub use fields::Field;
pub use format::{Format, RecordKind};

use crate::ids::EniId;

/// What the security groups and network ACLs did with the traffic.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Action {
    /// `ACCEPT`.
    Accept,
    /// `REJECT`: a security group or network ACL did not allow it, or it
    /// arrived after the connection was closed.
    Reject,
}

/// The logging status of a record.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum LogStatus {
    /// Data is logged normally.
    Ok,
    /// No traffic to or from the interface in the interval.
    NoData,
    /// Some records were skipped in the interval (internal capacity).
    SkipData,
}

/// A VPC flow-log record; every field is `None` when the format lacks it
/// or the record says `-`.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct VpcRecord<'a> {
    /// `account-id` (may be `unknown` for interfaces AWS services own).
    pub account: Option<&'a str>,
    /// `interface-id`.
    pub interface: Option<EniId>,
    /// `srcaddr`: for traffic through an intermediate interface (Transit
    /// Gateway, NAT gateway) that interface's own address.
    pub src: Option<IpAddr>,
    /// `dstaddr`.
    pub dst: Option<IpAddr>,
    /// `srcport`.
    pub src_port: Option<u16>,
    /// `dstport`.
    pub dst_port: Option<u16>,
    /// `protocol` (IANA number).
    pub protocol: Option<u8>,
    /// `start` (Unix seconds).
    pub start: Option<i64>,
    /// `end` (Unix seconds).
    pub end: Option<i64>,
    /// `action`.
    pub action: Option<Action>,
    /// `log-status`.
    pub log_status: Option<LogStatus>,
    /// `vpc-id`.
    pub vpc: Option<&'a str>,
    /// `subnet-id`.
    pub subnet: Option<&'a str>,
    /// `instance-id` (`-` on requester-managed interfaces such as a Transit
    /// Gateway's).
    pub instance: Option<&'a str>,
    /// `tcp-flags`, ORed over the interval (FIN 1, SYN 2, RST 4, SYN-ACK 18).
    pub tcp_flags: Option<u16>,
    /// `pkt-srcaddr`: the packet's real source.
    pub pkt_src: Option<IpAddr>,
    /// `pkt-dstaddr`: the packet's real destination.
    pub pkt_dst: Option<IpAddr>,
    /// `region`.
    pub region: Option<&'a str>,
    /// `az-id`.
    pub az_id: Option<&'a str>,
    /// `reject-reason` (`BPA` for VPC Block Public Access).
    pub reject_reason: Option<&'a str>,
}

impl VpcRecord<'_> {
    /// The packet's source: `pkt-srcaddr` when logged, else `srcaddr`.
    pub fn source(&self) -> Option<IpAddr> {
        self.pkt_src.or(self.src)
    }

    /// The packet's destination: `pkt-dstaddr` when logged, else `dstaddr`.
    pub fn destination(&self) -> Option<IpAddr> {
        self.pkt_dst.or(self.dst)
    }

    /// Whether VPC Block Public Access rejected it.
    pub fn rejected_by_block_public_access(&self) -> bool {
        self.reject_reason
            .is_some_and(|r| r.eq_ignore_ascii_case("BPA"))
    }
}

/// A Transit Gateway flow-log record: where a flow crossed the Transit
/// Gateway, and through which attachment interface and Availability Zone.
/// It has no `action`: it never says whether traffic was accepted.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct TgwRecord<'a> {
    /// `resource-type`: `TransitGateway` or `TransitGatewayAttachment`.
    pub resource_type: Option<&'a str>,
    /// `account-id`.
    pub account: Option<&'a str>,
    /// `tgw-attachment-id`.
    pub attachment: Option<&'a str>,
    /// `tgw-src-vpc-id`.
    pub src_vpc: Option<&'a str>,
    /// `tgw-dst-vpc-id`.
    pub dst_vpc: Option<&'a str>,
    /// `tgw-src-subnet-id`.
    pub src_subnet: Option<&'a str>,
    /// `tgw-dst-subnet-id`.
    pub dst_subnet: Option<&'a str>,
    /// `tgw-src-eni`.
    pub src_eni: Option<EniId>,
    /// `tgw-dst-eni`: the attachment interface the flow was delivered by.
    pub dst_eni: Option<EniId>,
    /// `tgw-src-az-id`.
    pub src_az: Option<&'a str>,
    /// `tgw-dst-az-id`: the Availability Zone the flow was delivered in.
    pub dst_az: Option<&'a str>,
    /// `srcaddr`.
    pub src: Option<IpAddr>,
    /// `dstaddr`.
    pub dst: Option<IpAddr>,
    /// `srcport`.
    pub src_port: Option<u16>,
    /// `dstport`.
    pub dst_port: Option<u16>,
    /// `protocol`.
    pub protocol: Option<u8>,
    /// `start`.
    pub start: Option<i64>,
    /// `end`.
    pub end: Option<i64>,
    /// `log-status`.
    pub log_status: Option<LogStatus>,
    /// `region`.
    pub region: Option<&'a str>,
}

/// One record of either kind.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Record<'a> {
    /// A VPC flow-log record.
    Vpc(VpcRecord<'a>),
    /// A Transit Gateway flow-log record.
    TransitGateway(TgwRecord<'a>),
}

/// Why a record line could not be read.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum RecordError {
    /// The line has another number of values than its format has columns.
    #[error("{found} values, but its format has {expected} fields")]
    Columns {
        /// Columns of the format.
        expected: usize,
        /// Values on the line.
        found: usize,
    },
    /// A value is not what its field holds.
    #[error("{field} is {value:?}, not {expected}")]
    Value {
        /// The field's name in formats.
        field: &'static str,
        /// The value (cut to 40 characters).
        value: String,
        /// What the field holds.
        expected: &'static str,
    },
}

/// The tokens of a record line (split at ASCII whitespace, which also
/// takes care of doubled spaces).
pub fn split<'a>(line: &'a str, out: &mut Vec<&'a str>) {
    out.clear();
    let bytes = line.as_bytes();
    let mut start = None;
    for (i, b) in bytes.iter().enumerate() {
        if b.is_ascii_whitespace() {
            if let Some(s) = start.take() {
                // ASCII whitespace is always a character boundary.
                out.push(&line[s..i]);
            }
        } else if start.is_none() {
            start = Some(i);
        }
    }
    if let Some(s) = start {
        out.push(&line[s..]);
    }
}

/// Reads the values of one line (already split) by `format`.
pub fn parse<'a>(format: &Format, tokens: &[&'a str]) -> Result<Record<'a>, RecordError> {
    if tokens.len() != format.len() {
        return Err(RecordError::Columns {
            expected: format.len(),
            found: tokens.len(),
        });
    }
    let values = Values { format, tokens };
    match format.kind() {
        RecordKind::Vpc => values.vpc().map(Record::Vpc),
        RecordKind::TransitGateway => values.tgw().map(Record::TransitGateway),
    }
}

/// The values of one line, looked up by field.
struct Values<'f, 't, 'a> {
    format: &'f Format,
    tokens: &'t [&'a str],
}

impl<'a> Values<'_, '_, 'a> {
    /// The raw value of `field`, `None` when absent or `-`.
    fn text(&self, field: Field) -> Option<&'a str> {
        let token = *self.tokens.get(self.format.column(field)?)?;
        (token != "-").then_some(token)
    }

    fn typed<T>(
        &self,
        field: Field,
        name: &'static str,
        expected: &'static str,
        parse: impl FnOnce(&str) -> Option<T>,
    ) -> Result<Option<T>, RecordError> {
        match self.text(field) {
            None => Ok(None),
            Some(text) => parse(text).map(Some).ok_or_else(|| RecordError::Value {
                field: name,
                value: text.chars().take(40).collect(),
                expected,
            }),
        }
    }

    fn number<T: std::str::FromStr>(
        &self,
        field: Field,
        name: &'static str,
    ) -> Result<Option<T>, RecordError> {
        self.typed(field, name, "a number in range", |t| t.parse().ok())
    }

    fn address(&self, field: Field, name: &'static str) -> Result<Option<IpAddr>, RecordError> {
        self.typed(field, name, "an IP address", |t| t.parse().ok())
    }

    fn eni(&self, field: Field, name: &'static str) -> Result<Option<EniId>, RecordError> {
        self.typed(field, name, "a network interface id", EniId::parse)
    }

    fn log_status(&self) -> Result<Option<LogStatus>, RecordError> {
        self.typed(
            Field::LogStatus,
            "log-status",
            "OK, NODATA or SKIPDATA",
            |t| match t {
                "OK" => Some(LogStatus::Ok),
                "NODATA" => Some(LogStatus::NoData),
                "SKIPDATA" => Some(LogStatus::SkipData),
                _ => None,
            },
        )
    }

    /// A `pkt-*` address: most records repeat the plain address, which is
    /// then not parsed again.
    fn same_or_address(
        &self,
        field: Field,
        name: &'static str,
        plain: Field,
        parsed: Option<IpAddr>,
    ) -> Result<Option<IpAddr>, RecordError> {
        match (self.text(field), self.text(plain)) {
            (Some(a), Some(b)) if a == b => Ok(parsed),
            _ => self.address(field, name),
        }
    }

    fn vpc(&self) -> Result<VpcRecord<'a>, RecordError> {
        let src = self.address(Field::SrcAddr, "srcaddr")?;
        let dst = self.address(Field::DstAddr, "dstaddr")?;
        Ok(VpcRecord {
            account: self.text(Field::AccountId),
            interface: self.eni(Field::InterfaceId, "interface-id")?,
            src,
            dst,
            src_port: self.number(Field::SrcPort, "srcport")?,
            dst_port: self.number(Field::DstPort, "dstport")?,
            protocol: self.number(Field::Protocol, "protocol")?,
            start: self.number(Field::Start, "start")?,
            end: self.number(Field::End, "end")?,
            action: self.typed(Field::Action, "action", "ACCEPT or REJECT", |t| match t {
                "ACCEPT" => Some(Action::Accept),
                "REJECT" => Some(Action::Reject),
                _ => None,
            })?,
            log_status: self.log_status()?,
            vpc: self.text(Field::VpcId),
            subnet: self.text(Field::SubnetId),
            instance: self.text(Field::InstanceId),
            tcp_flags: self.number(Field::TcpFlags, "tcp-flags")?,
            pkt_src: self.same_or_address(Field::PktSrcAddr, "pkt-srcaddr", Field::SrcAddr, src)?,
            pkt_dst: self.same_or_address(Field::PktDstAddr, "pkt-dstaddr", Field::DstAddr, dst)?,
            region: self.text(Field::Region),
            az_id: self.text(Field::AzId),
            reject_reason: self.text(Field::RejectReason),
        })
    }

    fn tgw(&self) -> Result<TgwRecord<'a>, RecordError> {
        Ok(TgwRecord {
            resource_type: self.text(Field::ResourceType),
            account: self.text(Field::AccountId),
            attachment: self.text(Field::TgwAttachmentId),
            src_vpc: self.text(Field::TgwSrcVpcId),
            dst_vpc: self.text(Field::TgwDstVpcId),
            src_subnet: self.text(Field::TgwSrcSubnetId),
            dst_subnet: self.text(Field::TgwDstSubnetId),
            src_eni: self.eni(Field::TgwSrcEni, "tgw-src-eni")?,
            dst_eni: self.eni(Field::TgwDstEni, "tgw-dst-eni")?,
            src_az: self.text(Field::TgwSrcAzId),
            dst_az: self.text(Field::TgwDstAzId),
            src: self.address(Field::SrcAddr, "srcaddr")?,
            dst: self.address(Field::DstAddr, "dstaddr")?,
            src_port: self.number(Field::SrcPort, "srcport")?,
            dst_port: self.number(Field::DstPort, "dstport")?,
            protocol: self.number(Field::Protocol, "protocol")?,
            start: self.number(Field::Start, "start")?,
            end: self.number(Field::End, "end")?,
            log_status: self.log_status()?,
            region: self.text(Field::Region),
        })
    }
}

#[cfg(test)]
mod tests;
