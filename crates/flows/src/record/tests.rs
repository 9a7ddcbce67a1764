//! Records of the VPC User Guide's "Flow log record examples" and the
//! Transit Gateway Guide's field table, read by their formats.

use super::*;

fn tokens(line: &str) -> Vec<&str> {
    let mut out = Vec::new();
    split(line, &mut out);
    out
}

fn vpc<'a>(format: &Format, line: &'a str) -> VpcRecord<'a> {
    let tokens: Vec<&'a str> = line.split_ascii_whitespace().collect();
    match parse(format, &tokens) {
        Ok(Record::Vpc(r)) => r,
        other => panic!("{line}: {other:?}"),
    }
}

#[test]
fn the_guides_rejected_rdp_record_is_read_in_the_default_format() {
    let line = "2 123456789010 eni-1235b8ca123456789 172.31.9.69 172.31.9.12 49761 3389 6 20 4249 1418530010 1418530070 REJECT OK";
    let r = vpc(&Format::default_vpc(), line);
    assert_eq!(r.account, Some("123456789010"));
    assert_eq!(
        r.interface.map(|i| i.to_string()).as_deref(),
        Some("eni-1235b8ca123456789")
    );
    assert_eq!(r.source(), "172.31.9.69".parse().ok());
    assert_eq!(r.destination(), "172.31.9.12".parse().ok());
    assert_eq!(
        (r.src_port, r.dst_port, r.protocol),
        (Some(49761), Some(3389), Some(6))
    );
    assert_eq!((r.start, r.end), (Some(1418530010), Some(1418530070)));
    assert_eq!(r.action, Some(Action::Reject));
    assert_eq!(r.log_status, Some(LogStatus::Ok));
    assert_eq!(r.tcp_flags, None, "not in the default format");
}

#[test]
fn nodata_and_skipdata_records_carry_no_addresses() {
    for (line, status) in [
        (
            "2 123456789010 eni-1235b8ca123456789 - - - - - - - 1431280876 1431280934 - NODATA",
            LogStatus::NoData,
        ),
        (
            "2 123456789010 eni-11111111aaaaaaaaa - - - - - - - 1431280876 1431280934 - SKIPDATA",
            LogStatus::SkipData,
        ),
    ] {
        let r = vpc(&Format::default_vpc(), line);
        assert_eq!(r.log_status, Some(status), "{line}");
        assert_eq!((r.src, r.dst, r.action), (None, None, None), "{line}");
    }
}

#[test]
fn the_guides_transit_gateway_example_keeps_the_real_client_in_pkt_srcaddr() {
    let format = Format::from_header(
        "version interface-id account-id vpc-id subnet-id instance-id srcaddr dstaddr srcport dstport protocol tcp-flags type pkt-srcaddr pkt-dstaddr action log-status",
    )
    .expect("header");
    let r = vpc(
        &format,
        "3 eni-11111111111111111 123456789010 vpc-abcdefab012345678 subnet-11111111aaaaaaaaa - 10.40.1.175 10.40.2.236 39812 80 6 3 IPv4 10.20.33.164 10.40.2.236 ACCEPT OK",
    );
    assert_eq!(
        r.src,
        "10.40.1.175".parse().ok(),
        "the TGW interface's own address"
    );
    assert_eq!(
        r.source(),
        "10.20.33.164".parse().ok(),
        "the client in VPC A"
    );
    assert_eq!(r.instance, None);
    assert_eq!(r.subnet, Some("subnet-11111111aaaaaaaaa"));
    assert_eq!(r.tcp_flags, Some(3));
}

#[test]
fn a_doubled_space_in_the_guides_tcp_flag_example_is_one_separator() {
    let format = Format::from_header(
        "version vpc-id subnet-id instance-id interface-id account-id type srcaddr dstaddr srcport dstport pkt-srcaddr pkt-dstaddr protocol bytes packets start end action tcp-flags log-status",
    )
    .expect("header");
    let line = "3 vpc-abcdefab012345678 subnet-aaaaaaaa012345678 i-01234567890123456 eni-1235b8ca123456789 123456789010 IPv4 10.0.0.62 52.213.180.42 5001 43638  10.0.0.62 52.213.180.42 6 967 14 1566933133 1566933193 ACCEPT 19 OK";
    let r = vpc(&format, line);
    assert_eq!(r.tcp_flags, Some(19));
    assert_eq!(r.dst_port, Some(43638));
}

#[test]
fn the_guides_version_5_record_with_service_names_is_read() {
    let format = Format::from_header(
        "version srcaddr dstaddr srcport dstport protocol start end type packets bytes account-id vpc-id subnet-id instance-id interface-id region az-id sublocation-type sublocation-id action tcp-flags pkt-srcaddr pkt-dstaddr pkt-src-aws-service pkt-dst-aws-service traffic-path flow-direction log-status",
    )
    .expect("header");
    let r = vpc(
        &format,
        "5 10.0.0.71 52.95.128.179 34210 80 6 1616729292 1616729349 IPv4 7 471 123456789012 vpc-abcdefab012345678 subnet-aaaaaaaa012345678 i-0c50d5961bcb2d47b eni-1235b8ca123456789 ap-southeast-2 apse2-az3 - - ACCEPT 3 10.0.0.71 52.95.128.179 - S3 8 egress OK",
    );
    assert_eq!(r.az_id, Some("apse2-az3"));
    assert_eq!(r.region, Some("ap-southeast-2"));
}

#[test]
fn ipv6_addresses_are_read() {
    let r = vpc(
        &Format::default_vpc(),
        "2 123456789010 eni-1235b8ca123456789 2001:db8:1234:a100:8d6e:3477:df66:f105 2001:db8:1234:a102:3304:8879:34cf:4071 34892 22 6 54 8855 1477913708 1477913820 ACCEPT OK",
    );
    assert!(matches!(r.source(), Some(IpAddr::V6(_))));
}

#[test]
fn a_block_public_access_reject_names_its_reason() {
    let format = Format::from_log_format(
        "${version} ${interface-id} ${srcaddr} ${dstaddr} ${srcport} ${dstport} ${protocol} ${start} ${end} ${action} ${log-status} ${reject-reason}",
    )
    .expect("format");
    let r = vpc(
        &format,
        "8 eni-0a1b2c3d4e5f60001 203.0.113.9 10.0.1.5 51000 443 6 1700000000 1700000060 REJECT OK BPA",
    );
    assert!(r.rejected_by_block_public_access());
}

#[test]
fn bad_values_name_their_field() {
    let v2 = Format::default_vpc();
    let bad = |line: &str| {
        let t = tokens(line);
        parse(&v2, &t).expect_err(line).to_string()
    };
    assert_eq!(
        bad("2 123456789010 eni-1235b8ca123456789 172.31.9.69 172.31.9.12 49761 99999 6 20 4249 1418530010 1418530070 REJECT OK"),
        "dstport is \"99999\", not a number in range"
    );
    assert_eq!(
        bad("2 123456789010 eni-1235b8ca123456789 172.31.9.x 172.31.9.12 49761 22 6 20 4249 1418530010 1418530070 REJECT OK"),
        "srcaddr is \"172.31.9.x\", not an IP address"
    );
    assert_eq!(
        bad("2 123456789010 eni-1235b8ca123456789"),
        "3 values, but its format has 14 fields"
    );
    assert_eq!(
        bad("2 123456789010 eni-1235b8ca123456789 172.31.9.69 172.31.9.12 49761 22 6 20 4249 1418530010 1418530070 DROP OK"),
        "action is \"DROP\", not ACCEPT or REJECT"
    );
}

#[test]
fn transit_gateway_records_are_never_vpc_records() {
    let line = "6 TransitGatewayAttachment 111122223333 tgw-0a1b2c3d4e5f60001 tgw-attach-0a1b2c3d4e5f6000c 444455556666 111122223333 vpc-0a1b2c3d4e5f60009 vpc-0a1b2c3d4e5f60001 - subnet-0a1b2c3d4e5f6000c - eni-0a1b2c3d4e5f6000c - euw1-az3 tgw-attach-0a1b2c3d4e5f60009 10.20.5.17 10.1.1.25 40112 5432 6 3 180 1763622000 1763622060 OK IPv4 0 0 0 0 2 eu-west-1 egress - -";
    let t = tokens(line);
    match parse(&Format::default_tgw(), &t) {
        Ok(Record::TransitGateway(r)) => {
            assert_eq!(r.dst_az, Some("euw1-az3"));
            assert_eq!(
                r.dst_eni.map(|e| e.to_string()).as_deref(),
                Some("eni-0a1b2c3d4e5f6000c")
            );
            assert_eq!(r.resource_type, Some("TransitGatewayAttachment"));
        }
        other => panic!("{other:?}"),
    }
}
