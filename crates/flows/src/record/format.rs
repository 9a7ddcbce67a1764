//! Flow-log formats: which field sits in which column.
//!
//! A format comes from the header line of a file delivered to S3, from a
//! `LogFormat` (`${version} ${srcaddr} …`) of `describe-flow-logs`, or is
//! one of the two default formats. A line without a header is matched to
//! the formats known by its number of columns and the shape of its values
//! (see [`Format::fits`]).

use super::fields::{looks_like_field_name, Field, DEFAULT_TGW, DEFAULT_VPC, FIELD_COUNT};

/// The most columns a format may have (AWS documents fewer than 70 fields).
pub const MAX_COLUMNS: usize = 128;

/// Which kind of record a format describes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RecordKind {
    /// A VPC flow-log record (network interface, subnet or VPC flow log).
    Vpc,
    /// A Transit Gateway flow-log record: no `action`, `resource-type` and
    /// `tgw-*` fields instead.
    TransitGateway,
}

/// The columns of one flow-log format.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Format {
    columns: Vec<Field>,
    index: [Option<u8>; FIELD_COUNT],
    kind: RecordKind,
}

impl Format {
    /// A format from its fields in order. `None` when it has no column or
    /// more than [`MAX_COLUMNS`].
    pub fn new(columns: Vec<Field>) -> Option<Self> {
        if columns.is_empty() || columns.len() > MAX_COLUMNS {
            return None;
        }
        let mut index = [None; FIELD_COUNT];
        for (i, field) in columns.iter().enumerate().rev() {
            if *field != Field::Other {
                index[*field as usize] = u8::try_from(i).ok();
            }
        }
        let kind = if columns.iter().any(|f| f.is_transit_gateway()) {
            RecordKind::TransitGateway
        } else {
            RecordKind::Vpc
        };
        Some(Self {
            columns,
            index,
            kind,
        })
    }

    /// The default VPC format (version 2).
    pub fn default_vpc() -> Self {
        Self::new(DEFAULT_VPC.to_vec()).unwrap_or_else(|| unreachable!("14 columns"))
    }

    /// The default Transit Gateway format (versions 2 to 6).
    pub fn default_tgw() -> Self {
        let columns = DEFAULT_TGW
            .iter()
            .map(|name| Field::from_name(name).unwrap_or(Field::Other))
            .collect();
        Self::new(columns).unwrap_or_else(|| unreachable!("36 columns"))
    }

    /// Reads a header line (`version account-id …`): every token a field
    /// name, at least one of them documented. `None` when the line is no
    /// header.
    pub fn from_header(line: &str) -> Option<Self> {
        let mut known = 0;
        let mut columns = Vec::new();
        for token in line.split_ascii_whitespace() {
            match Field::from_name(token) {
                Some(field) => {
                    known += 1;
                    columns.push(field);
                }
                None if looks_like_field_name(token) => columns.push(Field::Other),
                None => return None,
            }
        }
        (known > 0 && known * 2 >= columns.len())
            .then(|| Self::new(columns))
            .flatten()
    }

    /// Reads a `LogFormat` as `describe-flow-logs` prints it:
    /// `${version} ${vpc-id} …`. `None` when a token is not `${name}`.
    pub fn from_log_format(text: &str) -> Option<Self> {
        let columns = text
            .split_ascii_whitespace()
            .map(|token| {
                let name = token.strip_prefix("${")?.strip_suffix('}')?;
                Some(Field::from_name(name).unwrap_or(Field::Other))
            })
            .collect::<Option<Vec<_>>>()?;
        Self::new(columns)
    }

    /// The number of columns.
    pub fn len(&self) -> usize {
        self.columns.len()
    }

    /// Whether the format has no column (never: [`Format::new`] refuses).
    pub fn is_empty(&self) -> bool {
        self.columns.is_empty()
    }

    /// What the records of this format are.
    pub fn kind(&self) -> RecordKind {
        self.kind
    }

    /// The column of `field`, when the format has it.
    pub fn column(&self, field: Field) -> Option<usize> {
        self.index[field as usize].map(usize::from)
    }

    /// The fields in order.
    pub fn columns(&self) -> &[Field] {
        &self.columns
    }

    /// Whether `tokens` (one record line, split at whitespace) plausibly
    /// is a record of this format: as many columns, and every value of a
    /// typed field shaped as that field's values are.
    pub fn fits(&self, tokens: &[&str]) -> bool {
        tokens.len() == self.columns.len()
            && self
                .columns
                .iter()
                .zip(tokens)
                .all(|(field, token)| *token == "-" || value_fits(*field, token))
    }
}

/// Whether `token` has the shape of a value of `field`.
fn value_fits(field: Field, token: &str) -> bool {
    let digits = |t: &str| !t.is_empty() && t.bytes().all(|b| b.is_ascii_digit());
    match field {
        Field::Version
        | Field::SrcPort
        | Field::DstPort
        | Field::Protocol
        | Field::Packets
        | Field::Bytes
        | Field::Start
        | Field::End
        | Field::TcpFlags
        | Field::TrafficPath => digits(token),
        Field::AccountId => token == "unknown" || (token.len() == 12 && digits(token)),
        Field::InterfaceId | Field::TgwSrcEni | Field::TgwDstEni => token.starts_with("eni-"),
        Field::SrcAddr | Field::DstAddr | Field::PktSrcAddr | Field::PktDstAddr => {
            token.parse::<std::net::IpAddr>().is_ok()
        }
        Field::Action => matches!(token, "ACCEPT" | "REJECT"),
        Field::LogStatus => matches!(token, "OK" | "NODATA" | "SKIPDATA"),
        Field::VpcId | Field::TgwSrcVpcId | Field::TgwDstVpcId => token.starts_with("vpc-"),
        Field::SubnetId | Field::TgwSrcSubnetId | Field::TgwDstSubnetId => {
            token.starts_with("subnet-")
        }
        Field::InstanceId => token.starts_with("i-"),
        Field::Type => matches!(token, "IPv4" | "IPv6" | "EFA"),
        Field::FlowDirection => matches!(token, "ingress" | "egress"),
        Field::ResourceType => token.starts_with("TransitGateway"),
        Field::TgwId => token.starts_with("tgw-"),
        Field::TgwAttachmentId | Field::TgwPairAttachmentId => token.starts_with("tgw-attach-"),
        Field::Region
        | Field::AzId
        | Field::TgwSrcAzId
        | Field::TgwDstAzId
        | Field::RejectReason
        | Field::Other => true,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tokens(line: &str) -> Vec<&str> {
        line.split_ascii_whitespace().collect()
    }

    #[test]
    fn a_header_line_is_a_format_and_a_record_line_is_not() {
        let header = Format::from_header(
            "version vpc-id subnet-id instance-id interface-id account-id type srcaddr dstaddr srcport dstport pkt-srcaddr pkt-dstaddr protocol bytes packets start end action tcp-flags log-status",
        )
        .expect("header");
        assert_eq!(header.len(), 21);
        assert_eq!(header.column(Field::PktSrcAddr), Some(11));
        assert_eq!(header.kind(), RecordKind::Vpc);
        assert!(Format::from_header(
            "2 123456789010 eni-1235b8ca123456789 172.31.16.139 172.31.16.21 20641 22 6 20 4249 1418530010 1418530070 ACCEPT OK"
        )
        .is_none());
        let later = Format::from_header("version srcaddr dstaddr next-hop-vpc-id action")
            .expect("a field added later is still a header");
        assert_eq!(later.columns()[3], Field::Other);
    }

    #[test]
    fn a_log_format_from_describe_flow_logs_is_read() {
        let format = Format::from_log_format(
            "${version} ${account-id} ${interface-id} ${srcaddr} ${dstaddr} ${srcport} ${dstport} ${protocol} ${packets} ${bytes} ${start} ${end} ${action} ${log-status}",
        )
        .expect("format");
        assert_eq!(format, Format::default_vpc());
        assert!(Format::from_log_format("${version} srcaddr").is_none());
        assert!(Format::from_log_format("").is_none());
    }

    #[test]
    fn transit_gateway_formats_are_told_apart_from_vpc_formats() {
        assert_eq!(Format::default_tgw().kind(), RecordKind::TransitGateway);
        assert_eq!(Format::default_tgw().len(), 36);
        assert_eq!(Format::default_vpc().kind(), RecordKind::Vpc);
        let tgw_line = "6 TransitGateway 123456789012 tgw-0a1b2c3d4e5f60001 tgw-attach-0a1b2c3d4e5f60001 123456789012 111122223333 vpc-0a1b2c3d4e5f60001 vpc-0a1b2c3d4e5f60002 subnet-0a1b2c3d4e5f60001 subnet-0a1b2c3d4e5f60002 eni-0a1b2c3d4e5f60001 eni-0a1b2c3d4e5f60002 use1-az1 use1-az2 tgw-attach-0a1b2c3d4e5f60002 10.0.0.1 10.1.0.1 34567 443 6 10 840 1700000000 1700000060 OK IPv4 0 0 0 0 2 us-east-1 ingress - -";
        assert!(Format::default_tgw().fits(&tokens(tgw_line)));
        assert!(!Format::default_vpc().fits(&tokens(tgw_line)));
    }

    #[test]
    fn fitting_checks_the_shape_of_typed_values() {
        let v2 = Format::default_vpc();
        assert!(v2.fits(&tokens(
            "2 123456789010 eni-1235b8ca123456789 - - - - - - - 1431280876 1431280934 - NODATA"
        )));
        assert!(v2.fits(&tokens(
            "2 unknown eni-1235b8ca123456789 2001:db8::1 2001:db8::2 34892 22 6 54 8855 1477913708 1477913820 REJECT OK"
        )));
        assert!(!v2.fits(&tokens(
            "2 123456789010 eni-1235b8ca123456789 172.31.16.139 172.31.16.21 20641 22 6 20 4249 1418530010 1418530070 DROP OK"
        )));
        assert!(!v2.fits(&tokens("2 123456789010 eni-1235b8ca123456789")));
    }
}
