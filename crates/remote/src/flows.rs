//! `start-doctor flows --live`: the network configuration and the
//! flow-log records read from the account, in the shapes `start-doctor
//! flows` reads from files, so that what `--save` writes reads back to the
//! same findings.
//!
//! - the configuration: `Describe*` calls (every page), written as the AWS
//!   CLI prints them (`{"NetworkAcls": [...]}` ...), with the keys the
//!   readers use;
//! - the records of a CloudWatch Logs group: `FilterLogEvents` with the
//!   filter pattern `REJECT` over the time range (every page), then the
//!   records of the addresses those rejects name (patterns of `?"address"`
//!   terms, a few dozen addresses per call), for their accepted
//!   counterparts; events are deduplicated by id and written as a decoded
//!   subscription payload (`logGroup`, `logEvents`), so that the log
//!   group's `LogFormat` applies;
//! - the records under an S3 prefix: the flow-log archive layout, pruned by
//!   `--since`/`--until` before listing (`start_doctor_flows::archive`),
//!   objects fetched with a bounded number of requests in flight.

use std::collections::BTreeSet;
use std::net::IpAddr;
use std::sync::Arc;

use aws_sdk_cloudwatchlogs::Client as LogsClient;
use aws_sdk_ec2::types::Filter;
use aws_sdk_ec2::Client as Ec2Client;
use serde_json::{json, Value};
use start_doctor_flows::archive;
use start_doctor_flows::traffic::Window;
use tokio::sync::Semaphore;
use tokio::task::JoinSet;

use crate::s3::{self, S3Location};
use crate::RemoteError;

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
    pub errors: Vec<RemoteError>,
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
                    $errors.push(RemoteError::call($operation, &e));
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
        Err(e) => config
            .errors
            .push(RemoteError::call("DescribeVpcBlockPublicAccessOptions", &e)),
    }
    match ec2.describe_vpc_block_public_access_exclusions().send().await {
        Ok(o) => bpa.push(json!({"VpcBlockPublicAccessExclusions": o.vpc_block_public_access_exclusions().iter().map(|x| json!({
            "ExclusionId": s(x.exclusion_id()),
            "InternetGatewayExclusionMode": s(x.internet_gateway_exclusion_mode().map(|m| m.as_str())),
            "ResourceArn": s(x.resource_arn()),
            "State": s(x.state().map(|s| s.as_str())),
        })).collect::<Vec<_>>()})),
        Err(e) => config.errors.push(RemoteError::call("DescribeVpcBlockPublicAccessExclusions", &e)),
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

/// The longest filter pattern `FilterLogEvents` takes (the `FilterPattern`
/// shape of the CloudWatch Logs API model).
pub const MAX_PATTERN: usize = 1024;
/// The most addresses whose counterparts are fetched.
pub const MAX_ADDRESSES: usize = 2000;

/// The records read from a log group.
#[derive(Debug, Default)]
pub struct LogRecords {
    /// A decoded subscription payload (`logGroup`, `logEvents`) holding
    /// them, deduplicated by event id, in time order.
    pub document: Value,
    /// REJECT records.
    pub rejects: usize,
    /// Records in all.
    pub records: usize,
    /// `FilterLogEvents` calls made.
    pub calls: usize,
    /// Addresses whose counterparts were not fetched (over [`MAX_ADDRESSES`]).
    pub addresses_left_out: usize,
}

async fn filter(
    logs: &LogsClient,
    group: &str,
    pattern: &str,
    window: &Window,
    seen: &mut BTreeSet<String>,
    events: &mut Vec<(i64, String, Value)>,
    calls: &mut usize,
) -> Result<(), RemoteError> {
    let mut stream = logs
        .filter_log_events()
        .log_group_name(group)
        .filter_pattern(pattern)
        .set_start_time(window.since.map(|s| s.saturating_mul(1000)))
        .set_end_time(
            window
                .until
                .map(|s| s.saturating_add(3600).saturating_mul(1000)),
        )
        .into_paginator()
        .send();
    while let Some(page) = stream.next().await {
        *calls += 1;
        let page = page.map_err(|e| RemoteError::call("FilterLogEvents", &e))?;
        for event in page.events() {
            let (Some(id), Some(message)) = (event.event_id(), event.message()) else {
                continue;
            };
            if seen.insert(id.to_owned()) {
                events.push((
                    event.timestamp().unwrap_or_default(),
                    id.to_owned(),
                    json!({"id": id, "timestamp": event.timestamp(), "message": message}),
                ));
            }
        }
    }
    Ok(())
}

/// Filter patterns matching the events that name any of `addresses`
/// (`?"10.0.1.5" ?"10.0.2.7" ...`), each at most [`MAX_PATTERN`] long.
/// A term matches where the address is part of a longer one too
/// (`10.0.1.5` in `10.0.1.50`): a few records more, never one less.
pub fn counterpart_patterns(addresses: &[IpAddr]) -> Vec<String> {
    let mut patterns = Vec::new();
    let mut pattern = String::new();
    for address in addresses {
        let term = format!("?\"{address}\"");
        if !pattern.is_empty() && pattern.len() + 1 + term.len() > MAX_PATTERN {
            patterns.push(std::mem::take(&mut pattern));
        }
        if !pattern.is_empty() {
            pattern.push(' ');
        }
        pattern.push_str(&term);
    }
    if !pattern.is_empty() {
        patterns.push(pattern);
    }
    patterns
}

/// The REJECT records of `group` in `window`, and the records of the
/// addresses they name.
pub async fn log_records(
    logs: &LogsClient,
    group: &str,
    window: &Window,
) -> Result<LogRecords, RemoteError> {
    let mut out = LogRecords::default();
    let mut seen = BTreeSet::new();
    let mut events = Vec::new();
    filter(
        logs,
        group,
        "REJECT",
        window,
        &mut seen,
        &mut events,
        &mut out.calls,
    )
    .await?;
    out.rejects = events.len();
    let mut addresses: BTreeSet<IpAddr> = BTreeSet::new();
    for (_, _, event) in &events {
        let message = event["message"].as_str().unwrap_or_default();
        addresses.extend(
            message
                .split_ascii_whitespace()
                .filter_map(|t| t.parse::<IpAddr>().ok()),
        );
    }
    out.addresses_left_out = addresses.len().saturating_sub(MAX_ADDRESSES);
    let addresses: Vec<IpAddr> = addresses.into_iter().take(MAX_ADDRESSES).collect();
    for pattern in counterpart_patterns(&addresses) {
        filter(
            logs,
            group,
            &pattern,
            window,
            &mut seen,
            &mut events,
            &mut out.calls,
        )
        .await?;
    }
    events.sort_by(|a, b| (a.0, &a.1).cmp(&(b.0, &b.1)));
    out.records = events.len();
    out.document = json!({
        "messageType": "DATA_MESSAGE",
        "logGroup": group,
        "logEvents": events.into_iter().map(|(_, _, e)| e).collect::<Vec<_>>(),
    });
    Ok(out)
}

/// One object of a flow-log archive.
#[derive(Debug)]
pub struct Object {
    /// Its key.
    pub key: String,
    /// Its body, or why it could not be read.
    pub body: Result<Vec<u8>, String>,
}

/// The objects of the archive under `location` that can hold records of
/// `window`, and how many folders and objects were passed over.
pub async fn archive_objects(
    client: &aws_sdk_s3::Client,
    location: &S3Location,
    window: &Window,
) -> Result<(Vec<Object>, usize), RemoteError> {
    let admits = |path: &str| archive::admits(path.split('/'), window);
    let flat = window.since.is_none() && window.until.is_none();
    let listing = s3::list_keys(client, location, flat, &admits).await?;
    let permits = Arc::new(Semaphore::new(s3::CONCURRENCY));
    let mut tasks = JoinSet::new();
    for (key, _) in listing.keys {
        let client = client.clone();
        let bucket = location.bucket.clone();
        let permits = Arc::clone(&permits);
        tasks.spawn(async move {
            let body = match permits.acquire_owned().await {
                Ok(_permit) => s3::fetch(&client, &bucket, &key).await,
                Err(_) => Err("reader stopped".to_owned()),
            };
            Object { key, body }
        });
    }
    let mut objects = Vec::new();
    while let Some(done) = tasks.join_next().await {
        match done {
            Ok(object) => objects.push(object),
            Err(e) => objects.push(Object {
                key: location.prefix.clone(),
                body: Err(format!("reader task failed: {e}")),
            }),
        }
    }
    objects.sort_by(|a, b| a.key.cmp(&b.key));
    Ok((objects, listing.skipped))
}

/// A value as the AWS CLI writes it to a file: indented, with a final
/// newline.
pub fn pretty(value: &Value) -> Vec<u8> {
    let mut bytes = serde_json::to_vec_pretty(value).unwrap_or_default();
    bytes.push(b'\n');
    bytes
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counterpart_patterns_name_every_address_once_and_fit_the_limit() {
        let mut addresses: Vec<IpAddr> = (0..300u32)
            .map(|i| IpAddr::from([10, 200, (i / 250) as u8, (i % 250) as u8]))
            .collect();
        addresses.extend(
            (0..300u16)
                .map(|i| IpAddr::from([0x2001, 0xdb8, 0xffff, 0xffff, 0xffff, 0xffff, 0xffff, i])),
        );
        let patterns = counterpart_patterns(&addresses);
        assert!(patterns.iter().all(|p| p.len() <= MAX_PATTERN));
        let (_, full) = patterns.split_last().unwrap_or((&String::new(), &[]));
        assert!(
            full.iter().all(|p| p.len() > MAX_PATTERN - 45),
            "full but the last"
        );
        let terms: Vec<String> = patterns
            .iter()
            .flat_map(|p| p.split(' ').map(str::to_owned))
            .collect();
        let expected: Vec<String> = addresses.iter().map(|a| format!("?\"{a}\"")).collect();
        assert_eq!(terms, expected);
        assert_eq!(
            counterpart_patterns(&[IpAddr::from([10, 0, 1, 5])]),
            vec!["?\"10.0.1.5\"".to_owned()]
        );
        assert!(counterpart_patterns(&[]).is_empty());
    }
}
