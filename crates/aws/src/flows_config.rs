//! The network configuration of an account and Region, read with
//! `Describe*` calls (every page) and written as the AWS CLI prints them
//! (`{"NetworkAcls": [...]}` ...), with the keys the flows readers use: one
//! gathering for `start-doctor flows --live` (whose `--save` writes these
//! documents) and the `flows-rejects` function, so that both replay
//! against the same shapes the files give.
//!
//! Describe calls have no resource-level permissions (the Service
//! Authorization Reference lists no resource type for `ec2:Describe*`):
//! the role reading them is granted `Resource: "*"`.

use std::collections::BTreeSet;

use aws_sdk_ec2::types::Filter;
use aws_sdk_ec2::Client as Ec2Client;
use serde_json::{json, Value};
use start_doctor_flows::config::{Config, ConfigPart};
use start_doctor_flows::read::json::read_json;

/// A describe call that failed (after the SDK's retries).
#[derive(Debug, thiserror::Error)]
#[error("{operation}: {message}")]
pub struct DescribeError {
    /// The API, e.g. `DescribeNetworkAcls`.
    pub operation: &'static str,
    /// The SDK's error, with its cause chain.
    pub message: String,
}

impl DescribeError {
    /// An SDK error with its whole cause chain, which is where the SDK keeps
    /// the service's message.
    pub fn call(operation: &'static str, error: &dyn std::error::Error) -> Self {
        let message = start_doctor_core::text::error_chain(error);
        Self { operation, message }
    }

    /// Whether the replay is whole without this call: the fix of a Block
    /// Public Access reject and AWS-managed prefix lists.
    pub fn is_optional(&self) -> bool {
        OPTIONAL_CALLS.contains(&self.operation)
    }
}

/// Describe calls whose failure leaves the replay whole.
pub const OPTIONAL_CALLS: [&str; 3] = [
    "DescribeVpcBlockPublicAccessOptions",
    "DescribeVpcBlockPublicAccessExclusions",
    "DescribePrefixLists",
];

/// One `describe-*` output, named as its file is.
#[derive(Debug)]
pub struct Described {
    /// `describe-network-acls` ...
    pub name: &'static str,
    /// The output, as the AWS CLI prints it.
    pub output: Value,
}

/// What the describe calls gave, and those that failed.
#[derive(Debug, Default)]
pub struct Configuration {
    /// The outputs.
    pub outputs: Vec<Described>,
    /// The calls that failed (the rest is still used).
    pub errors: Vec<DescribeError>,
}

fn s(v: Option<&str>) -> Value {
    v.map_or(Value::Null, |v| Value::String(v.to_owned()))
}

fn vpc_filter(vpcs: &[String]) -> Option<Vec<Filter>> {
    (!vpcs.is_empty()).then(|| {
        vec![Filter::builder()
            .name("vpc-id")
            .set_values(Some(vpcs.to_vec()))
            .build()]
    })
}

macro_rules! pages {
    ($errors:expr, $operation:literal, $request:expr, $items:ident, $convert:expr) => {{
        let mut out: Vec<Value> = Vec::new();
        let mut stream = $request.into_paginator().send();
        while let Some(page) = stream.next().await {
            match page {
                Ok(page) => out.extend(page.$items().iter().map($convert)),
                Err(e) => {
                    $errors.push(DescribeError::call($operation, &e));
                    break;
                }
            }
        }
        out
    }};
}

/// Reads the configuration of `vpcs` (every VPC of the region when empty).
pub async fn describe(ec2: &Ec2Client, vpcs: &[String]) -> Configuration {
    let mut config = Configuration::default();
    let errors = &mut config.errors;
    let filter = vpc_filter(vpcs);
    let vpc_list = pages!(
        errors,
        "DescribeVpcs",
        ec2.describe_vpcs()
            .set_vpc_ids((!vpcs.is_empty()).then(|| vpcs.to_vec())),
        vpcs,
        |v| json!({
            "VpcId": s(v.vpc_id()),
            "CidrBlock": s(v.cidr_block()),
            "OwnerId": s(v.owner_id()),
            "CidrBlockAssociationSet": v.cidr_block_association_set().iter().map(|a| json!({
                "CidrBlock": s(a.cidr_block()),
                "CidrBlockState": {"State": s(a.cidr_block_state().and_then(|s| s.state()).map(|s| s.as_str()))},
            })).collect::<Vec<_>>(),
            "Ipv6CidrBlockAssociationSet": v.ipv6_cidr_block_association_set().iter().map(|a| json!({
                "Ipv6CidrBlock": s(a.ipv6_cidr_block()),
                "Ipv6CidrBlockState": {"State": s(a.ipv6_cidr_block_state().and_then(|s| s.state()).map(|s| s.as_str()))},
            })).collect::<Vec<_>>(),
        })
    );
    let subnets = pages!(
        errors,
        "DescribeSubnets",
        ec2.describe_subnets().set_filters(filter.clone()),
        subnets,
        |v| json!({
            "SubnetId": s(v.subnet_id()),
            "VpcId": s(v.vpc_id()),
            "CidrBlock": s(v.cidr_block()),
            "AvailabilityZone": s(v.availability_zone()),
            "AvailabilityZoneId": s(v.availability_zone_id()),
            "OwnerId": s(v.owner_id()),
            "Ipv6CidrBlockAssociationSet": v.ipv6_cidr_block_association_set().iter().map(|a| json!({
                "Ipv6CidrBlock": s(a.ipv6_cidr_block()),
                "Ipv6CidrBlockState": {"State": s(a.ipv6_cidr_block_state().and_then(|s| s.state()).map(|s| s.as_str()))},
            })).collect::<Vec<_>>(),
        })
    );
    let acls = pages!(
        errors,
        "DescribeNetworkAcls",
        ec2.describe_network_acls().set_filters(filter.clone()),
        network_acls,
        |a| json!({
            "NetworkAclId": s(a.network_acl_id()),
            "VpcId": s(a.vpc_id()),
            "IsDefault": a.is_default(),
            "OwnerId": s(a.owner_id()),
            "Associations": a.associations().iter().map(|x| json!({
                "NetworkAclAssociationId": s(x.network_acl_association_id()),
                "NetworkAclId": s(x.network_acl_id()),
                "SubnetId": s(x.subnet_id()),
            })).collect::<Vec<_>>(),
            "Entries": a.entries().iter().map(|e| {
                let mut entry = json!({
                    "RuleNumber": e.rule_number(),
                    "Protocol": s(e.protocol()),
                    "RuleAction": s(e.rule_action().map(|r| r.as_str())),
                    "Egress": e.egress(),
                });
                if let Some(c) = e.cidr_block() { entry["CidrBlock"] = json!(c); }
                if let Some(c) = e.ipv6_cidr_block() { entry["Ipv6CidrBlock"] = json!(c); }
                if let Some(p) = e.port_range() { entry["PortRange"] = json!({"From": p.from(), "To": p.to()}); }
                if let Some(i) = e.icmp_type_code() { entry["IcmpTypeCode"] = json!({"Type": i.r#type(), "Code": i.code()}); }
                entry
            }).collect::<Vec<_>>(),
        })
    );
    let permission = |p: &aws_sdk_ec2::types::IpPermission| {
        json!({
            "IpProtocol": s(p.ip_protocol()),
            "FromPort": p.from_port(),
            "ToPort": p.to_port(),
            "IpRanges": p.ip_ranges().iter().map(|r| json!({"CidrIp": s(r.cidr_ip())})).collect::<Vec<_>>(),
            "Ipv6Ranges": p.ipv6_ranges().iter().map(|r| json!({"CidrIpv6": s(r.cidr_ipv6())})).collect::<Vec<_>>(),
            "PrefixListIds": p.prefix_list_ids().iter().map(|r| json!({"PrefixListId": s(r.prefix_list_id())})).collect::<Vec<_>>(),
            "UserIdGroupPairs": p.user_id_group_pairs().iter().map(|r| json!({"GroupId": s(r.group_id()), "UserId": s(r.user_id())})).collect::<Vec<_>>(),
        })
    };
    let groups = pages!(
        errors,
        "DescribeSecurityGroups",
        ec2.describe_security_groups().set_filters(filter.clone()),
        security_groups,
        |g| json!({
            "GroupId": s(g.group_id()),
            "GroupName": s(g.group_name()),
            "VpcId": s(g.vpc_id()),
            "IpPermissions": g.ip_permissions().iter().map(permission).collect::<Vec<_>>(),
            "IpPermissionsEgress": g.ip_permissions_egress().iter().map(permission).collect::<Vec<_>>(),
        })
    );
    let prefix_lists: BTreeSet<String> = groups
        .iter()
        .flat_map(|g| ["IpPermissions", "IpPermissionsEgress"].map(|k| g[k].clone()))
        .flat_map(|perms| perms.as_array().cloned().unwrap_or_default())
        .flat_map(|p| p["PrefixListIds"].as_array().cloned().unwrap_or_default())
        .filter_map(|p| p["PrefixListId"].as_str().map(str::to_owned))
        .collect();
    let interfaces = pages!(
        errors,
        "DescribeNetworkInterfaces",
        ec2.describe_network_interfaces()
            .set_filters(filter.clone()),
        network_interfaces,
        |i| json!({
            "NetworkInterfaceId": s(i.network_interface_id()),
            "SubnetId": s(i.subnet_id()),
            "VpcId": s(i.vpc_id()),
            "AvailabilityZone": s(i.availability_zone()),
            "InterfaceType": s(i.interface_type().map(|t| t.as_str())),
            "Description": s(i.description()),
            "OwnerId": s(i.owner_id()),
            "PrivateIpAddress": s(i.private_ip_address()),
            "PrivateIpAddresses": i.private_ip_addresses().iter().map(|a| json!({"PrivateIpAddress": s(a.private_ip_address())})).collect::<Vec<_>>(),
            "Ipv6Addresses": i.ipv6_addresses().iter().map(|a| json!({"Ipv6Address": s(a.ipv6_address())})).collect::<Vec<_>>(),
            "Groups": i.groups().iter().map(|g| json!({"GroupId": s(g.group_id()), "GroupName": s(g.group_name())})).collect::<Vec<_>>(),
            "Attachment": i.attachment().map(|a| json!({"InstanceId": s(a.instance_id())})),
        })
    );
    let attachments = pages!(
        errors,
        "DescribeTransitGatewayVpcAttachments",
        ec2.describe_transit_gateway_vpc_attachments()
            .set_filters(filter.clone()),
        transit_gateway_vpc_attachments,
        |a| json!({
            "TransitGatewayAttachmentId": s(a.transit_gateway_attachment_id()),
            "TransitGatewayId": s(a.transit_gateway_id()),
            "VpcId": s(a.vpc_id()),
            "State": s(a.state().map(|s| s.as_str())),
            "SubnetIds": a.subnet_ids(),
            "Options": {"ApplianceModeSupport": s(a.options().and_then(|o| o.appliance_mode_support()).map(|m| m.as_str()))},
        })
    );
    let routes = pages!(
        errors,
        "DescribeRouteTables",
        ec2.describe_route_tables().set_filters(filter.clone()),
        route_tables,
        |t| json!({
            "RouteTableId": s(t.route_table_id()),
            "VpcId": s(t.vpc_id()),
            "Associations": t.associations().iter().map(|a| json!({"SubnetId": s(a.subnet_id()), "Main": a.main()})).collect::<Vec<_>>(),
            "Routes": t.routes().iter().map(|r| json!({
                "DestinationCidrBlock": s(r.destination_cidr_block()),
                "DestinationIpv6CidrBlock": s(r.destination_ipv6_cidr_block()),
                "DestinationPrefixListId": s(r.destination_prefix_list_id()),
                "TransitGatewayId": s(r.transit_gateway_id()),
                "GatewayId": s(r.gateway_id()),
                "NatGatewayId": s(r.nat_gateway_id()),
                "VpcPeeringConnectionId": s(r.vpc_peering_connection_id()),
                "NetworkInterfaceId": s(r.network_interface_id()),
                "EgressOnlyInternetGatewayId": s(r.egress_only_internet_gateway_id()),
                "CoreNetworkArn": s(r.core_network_arn()),
                "LocalGatewayId": s(r.local_gateway_id()),
                "State": s(r.state().map(|s| s.as_str())),
            })).collect::<Vec<_>>(),
        })
    );
    let flow_logs = pages!(
        errors,
        "DescribeFlowLogs",
        ec2.describe_flow_logs(),
        flow_logs,
        |f| json!({
            "FlowLogId": s(f.flow_log_id()),
            "LogFormat": s(f.log_format()),
            "LogGroupName": s(f.log_group_name()),
            "ResourceId": s(f.resource_id()),
            "LogDestinationType": s(f.log_destination_type().map(|t| t.as_str())),
            "LogDestination": s(f.log_destination()),
        })
    );
    let mut entries = Vec::new();
    for list in &prefix_lists {
        let cidrs = pages!(
            errors,
            "GetManagedPrefixListEntries",
            ec2.get_managed_prefix_list_entries().prefix_list_id(list),
            entries,
            |e| json!({"Cidr": s(e.cidr())})
        );
        entries.push(json!({"PrefixListId": list, "Entries": cidrs}));
    }
    let aws_lists = pages!(
        errors,
        "DescribePrefixLists",
        ec2.describe_prefix_lists(),
        prefix_lists,
        |p| json!({
            "PrefixListId": s(p.prefix_list_id()),
            "PrefixListName": s(p.prefix_list_name()),
            "Cidrs": p.cidrs(),
        })
    );
    // VPC Block Public Access is recent and not everywhere (nor in every
    // emulator): without it, a BPA reject still names its cause.
    let mut bpa = Vec::new();
    match ec2.describe_vpc_block_public_access_options().send().await {
        Ok(o) => {
            if let Some(o) = o.vpc_block_public_access_options() {
                bpa.push(json!({"VpcBlockPublicAccessOptions": {
                    "AwsRegion": s(o.aws_region()),
                    "State": s(o.state().map(|s| s.as_str())),
                    "InternetGatewayBlockMode": s(o.internet_gateway_block_mode().map(|m| m.as_str())),
                }}));
            }
        }
        Err(e) => config.errors.push(DescribeError::call(
            "DescribeVpcBlockPublicAccessOptions",
            &e,
        )),
    }
    match ec2.describe_vpc_block_public_access_exclusions().send().await {
        Ok(o) => bpa.push(json!({"VpcBlockPublicAccessExclusions": o.vpc_block_public_access_exclusions().iter().map(|x| json!({
            "ExclusionId": s(x.exclusion_id()),
            "InternetGatewayExclusionMode": s(x.internet_gateway_exclusion_mode().map(|m| m.as_str())),
            "ResourceArn": s(x.resource_arn()),
            "State": s(x.state().map(|s| s.as_str())),
        })).collect::<Vec<_>>()})),
        Err(e) => config.errors.push(DescribeError::call("DescribeVpcBlockPublicAccessExclusions", &e)),
    }
    let outputs = &mut config.outputs;
    let mut add = |name: &'static str, output: Value| outputs.push(Described { name, output });
    add("describe-vpcs", json!({"Vpcs": vpc_list}));
    add("describe-subnets", json!({"Subnets": subnets}));
    add("describe-network-acls", json!({"NetworkAcls": acls}));
    add(
        "describe-security-groups",
        json!({"SecurityGroups": groups}),
    );
    add(
        "describe-network-interfaces",
        json!({"NetworkInterfaces": interfaces}),
    );
    add(
        "describe-transit-gateway-vpc-attachments",
        json!({"TransitGatewayVpcAttachments": attachments}),
    );
    add("describe-route-tables", json!({"RouteTables": routes}));
    add("describe-flow-logs", json!({"FlowLogs": flow_logs}));
    add("describe-prefix-lists", json!({"PrefixLists": aws_lists}));
    add("get-managed-prefix-list-entries", Value::Array(entries));
    add("describe-vpc-block-public-access", Value::Array(bpa));
    config
}

impl Configuration {
    /// The configuration the replay reads, built by the same reader as
    /// files (each output read as the JSON document it is). Outputs that do
    /// not read are returned as problems (they cannot be: they are written
    /// above in the shapes the reader knows).
    pub fn build(&self) -> (Config, Vec<String>) {
        let mut part = ConfigPart::default();
        let mut problems = Vec::new();
        for output in &self.outputs {
            let bytes = serde_json::to_vec(&output.output).unwrap_or_default();
            match read_json(&bytes) {
                Ok(document) => part.extend(document.config),
                Err(e) => problems.push(format!("{}: {e}", output.name)),
            }
        }
        let config = Config::build(part);
        problems.extend(config.warnings.iter().map(ToString::to_string));
        (config, problems)
    }
}
