//! The configuration built from the AWS CLI reference examples and from
//! shapes they do not show.

use super::*;
use crate::ids::TransitGatewayId;
use crate::read::json::read_json;

fn build(json: &str) -> Config {
    Config::build(
        read_json(json.as_bytes())
            .unwrap_or_else(|e| panic!("{e}\n{json}"))
            .config,
    )
}

/// `aws ec2 describe-network-acls`, the AWS CLI reference example (its
/// current version: ids with `EXAMPLE` in them).
const DESCRIBE_NETWORK_ACLS: &str = r#"{
    "NetworkAcls": [
        {
            "Associations": [
                {
                    "NetworkAclAssociationId": "aclassoc-0c1679dc41EXAMPLE",
                    "NetworkAclId": "acl-0ea1f54ca7EXAMPLE",
                    "SubnetId": "subnet-0931fc2fa5EXAMPLE"
                }
            ],
            "Entries": [
                {"CidrBlock": "0.0.0.0/0", "Egress": true, "Protocol": "-1", "RuleAction": "allow", "RuleNumber": 100},
                {"CidrBlock": "0.0.0.0/0", "Egress": true, "Protocol": "-1", "RuleAction": "deny", "RuleNumber": 32767},
                {"CidrBlock": "0.0.0.0/0", "Egress": false, "Protocol": "-1", "RuleAction": "allow", "RuleNumber": 100},
                {"CidrBlock": "0.0.0.0/0", "Egress": false, "Protocol": "-1", "RuleAction": "deny", "RuleNumber": 32767}
            ],
            "IsDefault": true,
            "NetworkAclId": "acl-0ea1f54ca7EXAMPLE",
            "Tags": [],
            "VpcId": "vpc-06e4ab6c6cEXAMPLE",
            "OwnerId": "111122223333"
        },
        {
            "Associations": [],
            "Entries": [
                {"CidrBlock": "0.0.0.0/0", "Egress": true, "Protocol": "-1", "RuleAction": "allow", "RuleNumber": 100},
                {"Egress": true, "Ipv6CidrBlock": "::/0", "Protocol": "-1", "RuleAction": "allow", "RuleNumber": 101},
                {"CidrBlock": "0.0.0.0/0", "Egress": true, "Protocol": "-1", "RuleAction": "deny", "RuleNumber": 32767},
                {"Egress": true, "Ipv6CidrBlock": "::/0", "Protocol": "-1", "RuleAction": "deny", "RuleNumber": 32768},
                {"CidrBlock": "0.0.0.0/0", "Egress": false, "Protocol": "-1", "RuleAction": "allow", "RuleNumber": 100},
                {"Egress": false, "Ipv6CidrBlock": "::/0", "Protocol": "-1", "RuleAction": "allow", "RuleNumber": 101},
                {"CidrBlock": "0.0.0.0/0", "Egress": false, "Protocol": "-1", "RuleAction": "deny", "RuleNumber": 32767},
                {"Egress": false, "Ipv6CidrBlock": "::/0", "Protocol": "-1", "RuleAction": "deny", "RuleNumber": 32768}
            ],
            "IsDefault": true,
            "NetworkAclId": "acl-0e2a78e4e2EXAMPLE",
            "Tags": [],
            "VpcId": "vpc-03914afb3eEXAMPLE",
            "OwnerId": "111122223333"
        }
    ]
}"#;

#[test]
fn the_cli_reference_describe_network_acls_example_is_read() {
    let config = build(DESCRIBE_NETWORK_ACLS);
    assert!(config.warnings.is_empty(), "{:?}", config.warnings);
    assert_eq!(config.network_acls.len(), 2);
    let ipv6 = config
        .network_acls
        .values()
        .find(|a| a.id.as_str() == "acl-0e2a78e4e2EXAMPLE")
        .expect("second ACL");
    assert_eq!(ipv6.entries.len(), 8);
    assert!(ipv6.is_default && !ipv6.incomplete);
    let subnet = SubnetId::parse("subnet-0931fc2fa5EXAMPLE").expect("id");
    assert_eq!(
        config.network_acl_of(&subnet).map(|a| a.id.as_str()),
        Some("acl-0ea1f54ca7EXAMPLE"),
        "explicit association"
    );
}

#[test]
fn a_subnet_without_an_association_uses_its_vpcs_default_network_acl() {
    let config = build(&format!(
        r#"{{"Subnets": [{{"SubnetId": "subnet-0a1b2c3d4e5f60009", "VpcId": "vpc-03914afb3eEXAMPLE", "CidrBlock": "10.9.0.0/24", "AvailabilityZoneId": "use1-az2"}}]}}
{DESCRIBE_NETWORK_ACLS}"#
    ));
    let subnet = SubnetId::parse("subnet-0a1b2c3d4e5f60009").expect("id");
    assert_eq!(
        config.network_acl_of(&subnet).map(|a| a.id.as_str()),
        Some("acl-0e2a78e4e2EXAMPLE")
    );
}

#[test]
fn an_entry_that_cannot_be_read_makes_its_network_acl_incomplete_with_a_warning() {
    let config = build(
        r#"{"NetworkAcls": [{"NetworkAclId": "acl-0a1b2c3d4e5f60001", "VpcId": "vpc-0a1b2c3d4e5f60001", "Entries": [
            {"CidrBlock": "10.0.0.1/24", "Egress": false, "Protocol": "6", "RuleAction": "deny", "RuleNumber": 90, "PortRange": {"From": 22, "To": 22}},
            {"CidrBlock": "0.0.0.0/0", "Egress": false, "Protocol": "6", "RuleAction": "allow", "RuleNumber": 100},
            {"CidrBlock": "0.0.0.0/0", "Egress": false, "Protocol": "1", "RuleAction": "allow", "RuleNumber": 110, "IcmpTypeCode": {"Type": 8, "Code": -1}}
        ]}]}"#,
    );
    let acl = config.network_acls.values().next().expect("kept");
    assert!(acl.incomplete);
    assert_eq!(acl.entries.len(), 1, "only the ICMP entry reads");
    assert_eq!(
        acl.entries[0].icmp,
        Some(IcmpTypeCode { kind: 8, code: -1 })
    );
    assert_eq!(config.warnings.len(), 2, "{:?}", config.warnings);
    assert!(
        config.warnings[0].contains("entry 1"),
        "{}",
        config.warnings[0]
    );
    assert!(
        config.warnings[1].contains("without PortRange"),
        "{}",
        config.warnings[1]
    );
}

#[test]
fn the_cli_reference_describe_security_groups_example_is_read() {
    // The AWS CLI reference example, without its trailing comma (which
    // makes the published text invalid JSON).
    let config = build(
        r#"{
        "SecurityGroups": [
            {
                "IpPermissionsEgress": [
                    {"IpProtocol": "-1", "IpRanges": [{"CidrIp": "0.0.0.0/0"}], "UserIdGroupPairs": [], "PrefixListIds": []}
                ],
                "Description": "My security group",
                "Tags": [{"Value": "SG1", "Key": "Name"}],
                "IpPermissions": [
                    {"IpProtocol": "-1", "IpRanges": [], "UserIdGroupPairs": [{"UserId": "123456789012", "GroupId": "sg-903004f8"}], "PrefixListIds": []},
                    {"PrefixListIds": [], "FromPort": 22, "IpRanges": [{"Description": "Access from NY office", "CidrIp": "203.0.113.0/24"}], "ToPort": 22, "IpProtocol": "tcp", "UserIdGroupPairs": []}
                ],
                "GroupName": "MySecurityGroup",
                "VpcId": "vpc-1a2b3c4d",
                "OwnerId": "123456789012",
                "GroupId": "sg-903004f8"
            }
        ]
    }"#,
    );
    let group = config.security_groups.values().next().expect("group");
    assert_eq!(group.ingress.len(), 2);
    assert_eq!(
        group.ingress[0].peers,
        vec![Peer::Group(
            SecurityGroupId::parse("sg-903004f8").expect("id")
        )]
    );
    assert_eq!(
        group.ingress[1].ports,
        RulePorts::Range(PortRange { from: 22, to: 22 })
    );
    assert_eq!(group.ingress[1].protocol, Protocol::Number(6));
    assert_eq!(group.egress[0].protocol, Protocol::All);
}

#[test]
fn transit_gateway_interfaces_and_attachments_give_the_attachment_subnets() {
    let config = build(
        r#"{"Subnets": [
            {"SubnetId": "subnet-0a1b2c3d4e5f6000a", "VpcId": "vpc-0a1b2c3d4e5f60001", "CidrBlock": "10.1.0.0/28", "AvailabilityZoneId": "euw1-az1"},
            {"SubnetId": "subnet-0a1b2c3d4e5f6000c", "VpcId": "vpc-0a1b2c3d4e5f60001", "CidrBlock": "10.1.0.32/28", "AvailabilityZoneId": "euw1-az3"}
        ]}
        {"TransitGatewayVpcAttachments": [{"TransitGatewayAttachmentId": "tgw-attach-0a1b2c3d4e5f60001", "TransitGatewayId": "tgw-0a1b2c3d4e5f60001", "VpcId": "vpc-0a1b2c3d4e5f60001", "State": "available", "SubnetIds": ["subnet-0a1b2c3d4e5f6000a"], "Options": {"ApplianceModeSupport": "disable"}}]}
        {"NetworkInterfaces": [{"NetworkInterfaceId": "eni-0a1b2c3d4e5f6000c", "SubnetId": "subnet-0a1b2c3d4e5f6000c", "VpcId": "vpc-0a1b2c3d4e5f60001", "InterfaceType": "transit_gateway", "Description": "Network Interface for Transit Gateway Attachment tgw-attach-0a1b2c3d4e5f60001", "PrivateIpAddress": "10.1.0.40", "Groups": []}]}"#,
    );
    let vpc = VpcId::parse("vpc-0a1b2c3d4e5f60001").expect("id");
    let subnets = config.attachment_subnets(&vpc);
    let azs: Vec<&str> = subnets
        .iter()
        .filter_map(|s| s.az_id.as_ref().map(AzId::as_str))
        .collect();
    assert_eq!(azs, vec!["euw1-az1", "euw1-az3"]);
    assert_eq!(
        subnets[1].attachment.as_ref().map(AttachmentId::as_str),
        Some("tgw-attach-0a1b2c3d4e5f60001"),
        "from the interface's description"
    );
    let interface = config
        .interface_with_address("10.1.0.40".parse().expect("ip"))
        .expect("by address");
    assert!(matches!(
        interface.kind,
        InterfaceKind::TransitGateway { .. }
    ));
}

#[test]
fn inside_is_a_vpc_or_subnet_cidr_or_an_internal_cidr() {
    let config = build(
        r#"{"Vpcs": [{"VpcId": "vpc-0a1b2c3d4e5f60001", "CidrBlock": "10.1.0.0/16",
            "CidrBlockAssociationSet": [{"CidrBlock": "10.1.0.0/16", "CidrBlockState": {"State": "associated"}}, {"CidrBlock": "100.64.0.0/16", "CidrBlockState": {"State": "disassociated"}}],
            "Ipv6CidrBlockAssociationSet": [{"Ipv6CidrBlock": "2001:db8:1234:1a00::/56", "Ipv6CidrBlockState": {"State": "associated"}}]}]}"#,
    );
    let inside = |a: &str, internal: &[IpNet]| config.is_inside(a.parse().expect("ip"), internal);
    assert!(inside("10.1.200.7", &[]));
    assert!(inside("2001:db8:1234:1a00::5", &[]));
    assert!(
        !inside("100.64.0.9", &[]),
        "a disassociated block is not the VPC's"
    );
    assert!(!inside("10.20.5.17", &[]));
    assert!(inside(
        "10.20.5.17",
        &["10.20.0.0/16".parse().expect("cidr")]
    ));
    assert!(!inside("198.51.100.7", &[]));
}

#[test]
fn routes_pick_the_most_specific_active_route_of_the_subnets_table() {
    let config = build(
        r#"{"Subnets": [{"SubnetId": "subnet-0a1b2c3d4e5f60001", "VpcId": "vpc-0a1b2c3d4e5f60001", "CidrBlock": "10.1.1.0/24"}]}
        {"RouteTables": [
            {"RouteTableId": "rtb-0a1b2c3d4e5f60001", "VpcId": "vpc-0a1b2c3d4e5f60001", "Associations": [{"Main": true}], "Routes": [
                {"DestinationCidrBlock": "10.1.0.0/16", "GatewayId": "local", "State": "active"},
                {"DestinationCidrBlock": "0.0.0.0/0", "GatewayId": "igw-0a1b2c3d4e5f60001", "State": "active"},
                {"DestinationCidrBlock": "10.0.0.0/8", "TransitGatewayId": "tgw-0a1b2c3d4e5f60001", "State": "active"},
                {"DestinationCidrBlock": "10.20.0.0/16", "TransitGatewayId": "tgw-0a1b2c3d4e5f60002", "State": "blackhole"}
            ]}
        ]}"#,
    );
    let subnet = SubnetId::parse("subnet-0a1b2c3d4e5f60001").expect("id");
    let target = |a: &str| {
        config
            .route(&subnet, a.parse().expect("ip"))
            .map(|r| r.target.clone())
    };
    assert_eq!(
        target("10.20.5.17"),
        Some(RouteTarget::TransitGateway(
            TransitGatewayId::parse("tgw-0a1b2c3d4e5f60001").expect("id")
        )),
        "the blackhole /16 is not used; the /8 to the first TGW is"
    );
    assert_eq!(target("10.1.7.7"), Some(RouteTarget::Local));
    assert!(matches!(
        target("198.51.100.7"),
        Some(RouteTarget::InternetGateway(_))
    ));
}
