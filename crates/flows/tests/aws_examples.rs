//! Real public samples, read and answered right:
//!
//! - the flow-log records of the VPC User Guide's "Flow log record
//!   examples" (https://docs.aws.amazon.com/vpc/latest/userguide/flow-logs-records-examples.html),
//!   verbatim;
//! - the AWS CLI reference examples of the `describe-*` commands
//!   (`awscli/examples/ec2/*.rst` and `awscli/examples/logs/get-log-events.rst`
//!   in github.com/aws/aws-cli), in `tests/aws-examples/`, as published
//!   except two fixes that make them JSON (a trailing comma in
//!   `describe-security-groups`, a single-quoted value in
//!   `describe-subnets`); `describe-network-acls-2016.json` is the 2016
//!   version of that example, with 8-digit ids and an IPv6 network ACL.

use std::net::IpAddr;

use start_doctor_flows::config::{Config, InterfaceKind, RouteTarget};
use start_doctor_flows::conversation::conversations;
use start_doctor_flows::evaluate::{nacl, sg, Packet, Verdict};
use start_doctor_flows::finding::{Cause, Leg};
use start_doctor_flows::ids::{NetworkAclId, PrefixListId, SecurityGroupId, SubnetId};
use start_doctor_flows::read::json::read_json;
use start_doctor_flows::read::text::read_text;
use start_doctor_flows::read::Formats;
use start_doctor_flows::record::{Field, Format};
use start_doctor_flows::traffic::Traffic;
use start_doctor_flows::{diagnose, Options};

use crate::support::repo;

fn example(name: &str) -> String {
    let path = repo().join("crates/flows/tests/aws-examples").join(name);
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

fn config(names: &[&str]) -> Config {
    let mut part = start_doctor_flows::config::ConfigPart::default();
    for name in names {
        let document =
            read_json(example(name).as_bytes()).unwrap_or_else(|e| panic!("{name}: {e}"));
        part.extend(document.config);
    }
    Config::build(part)
}

fn ip(text: &str) -> IpAddr {
    text.parse().unwrap_or_else(|e| panic!("{text}: {e}"))
}

fn tcp(src: &str, dst: &str, port: u16) -> Packet {
    Packet {
        src: Some(ip(src)),
        dst: Some(ip(dst)),
        protocol: 6,
        dst_port: Some(port),
        icmp: None,
    }
}

fn records(format: &Format, text: &str) -> Traffic {
    let mut formats = Formats::default();
    formats.add(None, format.clone());
    let mut traffic = Traffic::default();
    let summary =
        read_text(text.as_bytes(), &formats, &mut traffic).unwrap_or_else(|e| panic!("{e}"));
    assert!(summary.problems.is_empty(), "{:?}", summary.problems);
    traffic
}

#[test]
fn every_cli_reference_example_reads_without_a_warning() {
    let names = [
        "describe-flow-logs.json",
        "describe-managed-prefix-lists.json",
        "describe-network-acls-2016.json",
        "describe-network-acls.json",
        "describe-network-interfaces-2.json",
        "describe-network-interfaces.json",
        "describe-prefix-lists.json",
        "describe-route-tables.json",
        "describe-security-groups.json",
        "describe-subnets-2.json",
        "describe-subnets.json",
        "describe-transit-gateway-attachments.json",
        "describe-transit-gateway-vpc-attachments.json",
        "describe-vpcs-2.json",
        "describe-vpcs.json",
    ];
    let c = config(&names);
    assert!(c.warnings.is_empty(), "{:?}", c.warnings);
    assert_eq!(c.network_acls.len(), 6, "two current, four from 2016");
    assert_eq!(c.flow_logs.len(), 2);
    assert!(!c.interfaces.is_empty() && !c.subnets.is_empty() && !c.vpcs.is_empty());
}

#[test]
fn the_default_network_acls_of_the_examples_allow_and_the_empty_one_denies() {
    let c = config(&[
        "describe-network-acls.json",
        "describe-network-acls-2016.json",
    ]);
    let acl = |id: &str| &c.network_acls[&NetworkAclId::parse(id).expect("id")];
    let web = tcp("198.51.100.7", "10.0.0.5", 443);
    assert_eq!(
        nacl::evaluate(acl("acl-0ea1f54ca7EXAMPLE"), false, &web),
        Verdict::Allow(100)
    );
    let v6 = tcp("2001:db8::7", "2001:db8::5", 443);
    assert_eq!(
        nacl::evaluate(acl("acl-0e2a78e4e2EXAMPLE"), true, &v6),
        Verdict::Allow(101)
    );
    assert_eq!(
        nacl::evaluate(acl("acl-0ea1f54ca7EXAMPLE"), true, &v6),
        Verdict::Deny(32768),
        "an ACL with IPv4 rules only denies IPv6 at the final rule, though the example lists no 32768 entry"
    );
    // acl-5fb85d36: a custom network ACL with its final rules only.
    assert_eq!(
        nacl::evaluate(acl("acl-5fb85d36"), false, &web),
        Verdict::Deny(32767)
    );
    assert_eq!(
        nacl::evaluate(acl("acl-5fb85d36"), true, &web),
        Verdict::Deny(32767)
    );
    // acl-6da75208: IPv6 allowed in, denied out.
    assert_eq!(
        nacl::evaluate(acl("acl-6da75208"), false, &v6),
        Verdict::Allow(101)
    );
    assert_eq!(
        nacl::evaluate(acl("acl-6da75208"), true, &v6),
        Verdict::Deny(32768)
    );
    let subnet = SubnetId::parse("subnet-6bea5f06").expect("id");
    assert_eq!(
        c.network_acl_of(&subnet).map(|a| a.id.as_str()),
        Some("acl-9aeb5ef7")
    );
}

#[test]
fn the_security_group_example_allows_ssh_from_the_office_and_itself() {
    let c = config(&[
        "describe-security-groups.json",
        "describe-network-interfaces.json",
    ]);
    let group = vec![SecurityGroupId::parse("sg-903004f8").expect("id")];
    let from_office = tcp("203.0.113.40", "10.0.1.17", 22);
    assert!(sg::evaluate(&c, &group, true, &from_office).is_allow());
    let elsewhere = tcp("198.51.100.40", "10.0.1.17", 22);
    assert_eq!(
        sg::evaluate(&c, &group, true, &elsewhere),
        Verdict::Deny(None)
    );
    assert!(
        sg::evaluate(&c, &group, false, &elsewhere).is_allow(),
        "its egress rule allows all"
    );
}

#[test]
fn the_network_interface_examples_give_addresses_groups_and_subnets() {
    let c = config(&[
        "describe-network-interfaces.json",
        "describe-network-interfaces-2.json",
    ]);
    let eni = c
        .interface_with_address(ip("10.0.1.17"))
        .expect("by address");
    assert_eq!(eni.id.to_string(), "eni-e5aa89a3");
    assert_eq!(eni.kind, InterfaceKind::Other);
    assert_eq!(
        eni.subnet.as_ref().map(SubnetId::as_str),
        Some("subnet-b61f49f0")
    );
    let second = c
        .interface_with_address(ip("10.0.1.117"))
        .expect("a secondary address");
    assert_eq!(second.id.to_string(), "eni-b9a5ac93");
}

#[test]
fn the_subnet_vpc_route_and_attachment_examples_place_addresses() {
    let c = config(&[
        "describe-subnets.json",
        "describe-vpcs.json",
        "describe-route-tables.json",
        "describe-transit-gateway-vpc-attachments.json",
        "describe-transit-gateway-attachments.json",
    ]);
    let subnet = c.subnet_of_address(ip("172.31.80.9")).expect("subnet");
    assert_eq!(subnet.az_id.as_ref().map(|a| a.as_str()), Some("use1-az2"));
    assert!(
        c.is_inside(ip("30.1.200.1"), &[]),
        "a VPC CIDR of the describe-vpcs example"
    );
    let routed = SubnetId::parse("subnet-0d3d002af8EXAMPLE").expect("id");
    assert!(matches!(
        c.route(&routed, ip("8.8.8.8")).map(|r| &r.target),
        Some(RouteTarget::InternetGateway(_))
    ));
    let vpc = start_doctor_flows::ids::VpcId::parse("vpc-0f501f7ee8EXAMPLE").expect("id");
    let subnets: Vec<String> = c
        .attachment_subnets(&vpc)
        .into_iter()
        .map(|a| a.subnet.to_string())
        .collect();
    assert_eq!(
        subnets,
        vec!["subnet-045d586432EXAMPLE", "subnet-0a0ad478a6EXAMPLE"]
    );
    assert_eq!(
        c.attachments.len(),
        3,
        "one VPC attachment with subnets, two more without"
    );
}

#[test]
fn prefix_list_examples_give_cidrs_when_they_can() {
    let c = config(&[
        "describe-prefix-lists.json",
        "describe-managed-prefix-lists.json",
    ]);
    let s3 = PrefixListId::parse("pl-63a5400a").expect("id");
    assert_eq!(
        c.prefix_lists[&s3],
        vec!["54.231.0.0/17".parse::<ipnet::IpNet>().expect("cidr")]
    );
    assert_eq!(
        c.prefix_lists.len(),
        1,
        "describe-managed-prefix-lists names lists without entries"
    );
    let entries = config(&["get-managed-prefix-list-entries.json"]);
    assert_eq!(
        entries.warnings.len(),
        1,
        "its output does not name the list: {:?}",
        entries.warnings
    );
    let mut named: serde_json::Value =
        serde_json::from_str(&example("get-managed-prefix-list-entries.json")).expect("json");
    named["PrefixListId"] = "pl-0123456abcabcabc1".into();
    let c = Config::build(
        read_json(named.to_string().as_bytes())
            .expect("json")
            .config,
    );
    assert_eq!(c.prefix_lists.values().next().map(Vec::len), Some(2));
}

#[test]
fn the_flow_log_example_formats_are_read_by_log_group() {
    let c = config(&["describe-flow-logs.json"]);
    let formats = c.formats();
    assert_eq!(
        formats.for_log_group("FlowLogGroup"),
        Some(&Format::default_vpc())
    );
    let s3 = c
        .flow_logs
        .iter()
        .find(|f| f.id.as_deref() == Some("fl-01234567890123456"))
        .expect("the S3 flow log");
    let format = s3.format.as_ref().expect("its format");
    assert_eq!(format.len(), 21);
    assert_eq!(format.column(Field::TcpFlags), Some(19));
}

#[test]
fn the_get_log_events_example_holds_no_flow_log_record() {
    let document = read_json(example("get-log-events.json").as_bytes()).expect("json");
    let mut traffic = Traffic::default();
    let (records, problems) = document.events[0].read(&Formats::default(), &mut traffic);
    assert_eq!((records, problems.total), (0, 3));
}

const GUIDE_DEFAULT: &str = "2 123456789010 eni-1235b8ca123456789 172.31.16.139 172.31.16.21 20641 22 6 20 4249 1418530010 1418530070 ACCEPT OK
2 123456789010 eni-1235b8ca123456789 172.31.9.69 172.31.9.12 49761 3389 6 20 4249 1418530010 1418530070 REJECT OK
2 123456789010 eni-1235b8ca123456789 - - - - - - - 1431280876 1431280934 - NODATA
2 123456789010 eni-11111111aaaaaaaaa - - - - - - - 1431280876 1431280934 - SKIPDATA
2 123456789010 eni-1235b8ca123456789 2001:db8:1234:a100:8d6e:3477:df66:f105 2001:db8:1234:a102:3304:8879:34cf:4071 34892 22 6 54 8855 1477913708 1477913820 ACCEPT OK
";

#[test]
fn the_guides_default_records_read_and_an_unplaced_reject_is_no_guess() {
    let traffic = records(&Format::default_vpc(), GUIDE_DEFAULT);
    let counts = traffic.counts;
    assert_eq!(
        (
            counts.accepted,
            counts.rejected,
            counts.no_data,
            counts.skip_data
        ),
        (2, 1, 1, 1)
    );
    // Without configuration every address is outside, and 172.31.9.69 got
    // no answer: a scan, as far as the records tell.
    let report = diagnose(&Config::default(), &traffic, &Options::default());
    assert!(report.findings.is_empty());
    assert_eq!(report.noise.unsolicited, 1);
    // Told that 172.31.0.0/16 is inside, the RDP reject is a finding that
    // says what to collect to explain it.
    let options = Options {
        internal: vec!["172.31.0.0/16".parse().expect("cidr")],
        all: false,
    };
    let report = diagnose(&Config::default(), &traffic, &options);
    assert_eq!(report.findings.len(), 1);
    let f = &report.findings[0];
    assert_eq!((f.server_port, f.cause), (Some(3389), Cause::Unexplained));
    assert!(
        f.missing.iter().any(|m| m
            .contains("describe-network-interfaces --network-interface-ids eni-1235b8ca123456789")),
        "{:?}",
        f.missing
    );
}

const TCP_FLAGS_FORMAT: &str = "version vpc-id subnet-id instance-id interface-id account-id type srcaddr dstaddr srcport dstport pkt-srcaddr pkt-dstaddr protocol bytes packets start end action tcp-flags log-status";
const TCP_FLAGS: &str = "3 vpc-abcdefab012345678 subnet-aaaaaaaa012345678 i-01234567890123456 eni-1235b8ca123456789 123456789010 IPv4 52.213.180.42 10.0.0.62 43416 5001 52.213.180.42 10.0.0.62 6 568 8 1566848875 1566848933 ACCEPT 2 OK
3 vpc-abcdefab012345678 subnet-aaaaaaaa012345678 i-01234567890123456 eni-1235b8ca123456789 123456789010 IPv4 10.0.0.62 52.213.180.42 5001 43416 10.0.0.62 52.213.180.42 6 376 7 1566848875 1566848933 ACCEPT 18 OK
3 vpc-abcdefab012345678 subnet-aaaaaaaa012345678 i-01234567890123456 eni-1235b8ca123456789 123456789010 IPv4 52.213.180.42 10.0.0.62 43418 5001 52.213.180.42 10.0.0.62 6 100701 70 1566848875 1566848933 ACCEPT 2 OK
3 vpc-abcdefab012345678 subnet-aaaaaaaa012345678 i-01234567890123456 eni-1235b8ca123456789 123456789010 IPv4 10.0.0.62 52.213.180.42 5001 43418 10.0.0.62 52.213.180.42 6 632 12 1566848875 1566848933 ACCEPT 18 OK
3 vpc-abcdefab012345678 subnet-aaaaaaaa012345678 i-01234567890123456 eni-1235b8ca123456789 123456789010 IPv4 10.0.0.62 52.213.180.42 5001 43418 10.0.0.62 52.213.180.42 6 63388 1219 1566848933 1566849113 ACCEPT 1 OK
3 vpc-abcdefab012345678 subnet-aaaaaaaa012345678 i-01234567890123456 eni-1235b8ca123456789 123456789010 IPv4 52.213.180.42 10.0.0.62 43418 5001 52.213.180.42 10.0.0.62 6 23294588 15774 1566848933 1566849113 ACCEPT 1 OK
3 vpc-abcdefab012345678 subnet-aaaaaaaa012345678 i-01234567890123456 eni-1235b8ca123456789 123456789010 IPv4 52.213.180.42 10.0.0.62 43638 5001 52.213.180.42 10.0.0.62 6 1260 17 1566933133 1566933193 ACCEPT 3 OK
3 vpc-abcdefab012345678 subnet-aaaaaaaa012345678 i-01234567890123456 eni-1235b8ca123456789 123456789010 IPv4 10.0.0.62 52.213.180.42 5001 43638  10.0.0.62 52.213.180.42 6 967 14 1566933133 1566933193 ACCEPT 19 OK
";

#[test]
fn the_guides_tcp_flag_sequence_reads_and_tells_the_server_on_port_5001() {
    let format = Format::from_header(TCP_FLAGS_FORMAT).expect("header");
    let accepted = records(&format, TCP_FLAGS);
    assert_eq!(accepted.counts.accepted, 8);
    assert!(accepted.rejects.is_empty());
    // The same records with the server's SYN-ACK rejected: the flags, not
    // the ports (both above 1024), tell 10.0.0.62:5001 is the server, and
    // the reject is the response leg.
    let rejected = TCP_FLAGS.replacen("ACCEPT 18 OK", "REJECT 18 OK", 1);
    let traffic = records(&format, &rejected);
    let all = conversations(&traffic, &|_, _, _, _| None);
    assert_eq!(all.len(), 1);
    assert_eq!(all[0].key.server, ip("10.0.0.62"));
    assert_eq!(all[0].key.server_port, Some(5001));
    assert_eq!(all[0].rejects[0].leg, Leg::Response);
    assert!(
        all[0].accepted > 0,
        "the rest of the conversation was accepted"
    );
}

#[test]
fn the_guides_transit_gateway_records_show_the_client_behind_the_interface() {
    let format = Format::from_header(
        "version interface-id account-id vpc-id subnet-id instance-id srcaddr dstaddr srcport dstport protocol tcp-flags type pkt-srcaddr pkt-dstaddr action log-status",
    )
    .expect("header");
    let traffic = records(
        &format,
        "3 eni-33333333333333333 123456789010 vpc-abcdefab012345678 subnet-22222222bbbbbbbbb i-01234567890123456 10.20.33.164 10.40.2.236 39812 80 6 3 IPv4 10.20.33.164 10.40.2.236 ACCEPT OK
3 eni-33333333333333333 123456789010 vpc-abcdefab012345678 subnet-22222222bbbbbbbbb i-01234567890123456 10.40.2.236 10.20.33.164 80 39812 6 19 IPv4 10.40.2.236 10.20.33.164 ACCEPT OK
3 eni-11111111111111111 123456789010 vpc-abcdefab012345678 subnet-11111111aaaaaaaaa - 10.40.1.175 10.40.2.236 39812 80 6 3 IPv4 10.20.33.164 10.40.2.236 ACCEPT OK
3 eni-22222222222222222 123456789010 vpc-abcdefab012345678 subnet-22222222bbbbbbbbb - 10.40.2.236 10.40.2.31 80 39812 6 19 IPv4 10.40.2.236 10.20.33.164 ACCEPT OK
",
    );
    let tgw_in = start_doctor_flows::ids::EniId::parse("eni-11111111111111111").expect("id");
    let tgw_out = start_doctor_flows::ids::EniId::parse("eni-22222222222222222").expect("id");
    assert_eq!(
        traffic.interfaces[&tgw_in].intermediate_address,
        Some(ip("10.40.1.175"))
    );
    assert_eq!(
        traffic.interfaces[&tgw_out].intermediate_address,
        Some(ip("10.40.2.31"))
    );
    assert_eq!(
        traffic.interfaces[&tgw_in].subnet.as_deref(),
        Some("subnet-11111111aaaaaaaaa")
    );
    let (pair, _) =
        start_doctor_flows::traffic::PairKey::of(ip("10.20.33.164"), ip("10.40.2.236"), 6);
    let stats = &traffic.pairs[&pair];
    assert_eq!(
        stats.accepted[0] + stats.accepted[1],
        4,
        "every interface's record, by the real endpoints"
    );
}

#[test]
fn the_guides_nat_gateway_records_without_an_action_show_nothing_rejected() {
    let format =
        Format::from_header("instance-id interface-id srcaddr dstaddr pkt-srcaddr pkt-dstaddr")
            .expect("header");
    let traffic = records(
        &format,
        "- eni-1235b8ca123456789 10.0.1.5 10.0.0.220 10.0.1.5 203.0.113.5
- eni-1235b8ca123456789 10.0.0.220 203.0.113.5 10.0.0.220 203.0.113.5
- eni-1235b8ca123456789 203.0.113.5 10.0.0.220 203.0.113.5 10.0.0.220
- eni-1235b8ca123456789 10.0.0.220 10.0.1.5 203.0.113.5 10.0.1.5
",
    );
    assert_eq!(
        traffic.counts.unusable, 4,
        "no action: neither accepted nor rejected"
    );
    assert!(traffic.rejects.is_empty() && traffic.pairs.is_empty());
}

#[test]
fn the_guides_version_5_records_read() {
    let format = Format::from_header(
        "version srcaddr dstaddr srcport dstport protocol start end type packets bytes account-id vpc-id subnet-id instance-id interface-id region az-id sublocation-type sublocation-id action tcp-flags pkt-srcaddr pkt-dstaddr pkt-src-aws-service pkt-dst-aws-service traffic-path flow-direction log-status",
    )
    .expect("header");
    let traffic = records(
        &format,
        "5 52.95.128.179 10.0.0.71 80 34210 6 1616729292 1616729349 IPv4 14 15044 123456789012 vpc-abcdefab012345678 subnet-aaaaaaaa012345678 i-0c50d5961bcb2d47b eni-1235b8ca123456789 ap-southeast-2 apse2-az3 - - ACCEPT 19 52.95.128.179 10.0.0.71 S3 - - ingress OK
5 10.0.0.71 52.95.128.179 34210 80 6 1616729292 1616729349 IPv4 7 471 123456789012 vpc-abcdefab012345678 subnet-aaaaaaaa012345678 i-0c50d5961bcb2d47b eni-1235b8ca123456789 ap-southeast-2 apse2-az3 - - REJECT 3 10.0.0.71 52.95.128.179 - S3 8 egress OK
",
    );
    // The guide's second record, rejected here: its interface's region and
    // AZ are learned from it.
    assert_eq!((traffic.counts.accepted, traffic.counts.rejected), (1, 1));
    let eni = start_doctor_flows::ids::EniId::parse("eni-1235b8ca123456789").expect("id");
    assert_eq!(
        traffic.interfaces[&eni].region.as_deref(),
        Some("ap-southeast-2")
    );
    assert_eq!(traffic.interfaces[&eni].az_id.as_deref(), Some("apse2-az3"));
}
