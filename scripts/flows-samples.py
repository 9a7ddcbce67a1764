#!/usr/bin/env python3
"""Writes the `start-doctor flows` sample scenarios under events/flows/.

Each scenario folder holds what a person would collect for a post-mortem:
`describe-*` output (as the AWS CLI prints it) and flow-log records in the
shape the scenario is about (S3 archive files with a header, gzip,
CloudWatch Logs output, subscription payloads, Transit Gateway flow logs).
The READMEs are written by hand; this script writes only the data, the
same every run (no clock, no randomness).

Usage: python3 scripts/flows-samples.py
"""
import base64
import gzip
import io
import json
import pathlib

ROOT = pathlib.Path(__file__).resolve().parent.parent / "events" / "flows"
ACCOUNT = "111122223333"
REGION = "eu-west-1"
T0 = 1795158000  # 2026-11-20T07:00:00Z

FORMAT_V4 = [
    "version", "account-id", "interface-id", "srcaddr", "dstaddr", "srcport", "dstport",
    "protocol", "packets", "bytes", "start", "end", "action", "log-status", "vpc-id",
    "subnet-id", "instance-id", "tcp-flags", "type", "pkt-srcaddr", "pkt-dstaddr", "az-id",
]
DEFAULT_V2 = FORMAT_V4[:14]


def log_format(fields):
    return " ".join("${%s}" % f for f in fields)


def write_json(path, value):
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(value, indent=4) + "\n")


def gz(text):
    out = io.BytesIO()
    # mtime=0: the same bytes every run.
    with gzip.GzipFile(fileobj=out, mode="wb", mtime=0) as f:
        f.write(text.encode())
    return out.getvalue()


class Env:
    """A VPC as describe-* prints it."""

    def __init__(self, vpc, cidrs, ipv6=None):
        self.vpc = vpc
        self.cidrs = cidrs
        self.ipv6 = ipv6
        self.subnets = []
        self.acls = []
        self.groups = []
        self.interfaces = []
        self.attachments = []
        self.routes = []
        self.flow_logs = []

    def subnet(self, sid, cidr, az, az_id, ipv6=None):
        s = {
            "AvailabilityZone": az,
            "AvailabilityZoneId": az_id,
            "AvailableIpAddressCount": 250,
            "CidrBlock": cidr,
            "DefaultForAz": False,
            "MapPublicIpOnLaunch": False,
            "State": "available",
            "SubnetId": sid,
            "VpcId": self.vpc,
            "OwnerId": ACCOUNT,
            "AssignIpv6AddressOnCreation": False,
            "Ipv6CidrBlockAssociationSet": [],
            "SubnetArn": f"arn:aws:ec2:{REGION}:{ACCOUNT}:subnet/{sid}",
        }
        if ipv6:
            s["Ipv6CidrBlockAssociationSet"] = [{
                "AssociationId": "subnet-cidr-assoc-" + sid[-17:],
                "Ipv6CidrBlock": ipv6,
                "Ipv6CidrBlockState": {"State": "associated"},
            }]
        self.subnets.append(s)

    def acl(self, aid, subnets, inbound, outbound, default=False):
        """inbound/outbound: (rule, action, protocol, cidr, ports or icmp)."""
        entries = []
        for egress, rules in ((False, inbound), (True, outbound)):
            for rule, action, protocol, cidr, extra in rules:
                e = {"Egress": egress, "Protocol": protocol, "RuleAction": action, "RuleNumber": rule}
                e["Ipv6CidrBlock" if ":" in cidr else "CidrBlock"] = cidr
                if protocol in ("6", "17"):
                    e["PortRange"] = {"From": extra[0], "To": extra[1]}
                if protocol in ("1", "58"):
                    e["IcmpTypeCode"] = {"Code": extra[1], "Type": extra[0]}
                entries.append(e)
            entries.append({"CidrBlock": "0.0.0.0/0", "Egress": egress, "Protocol": "-1", "RuleAction": "deny", "RuleNumber": 32767})
            if self.ipv6:
                entries.append({"Ipv6CidrBlock": "::/0", "Egress": egress, "Protocol": "-1", "RuleAction": "deny", "RuleNumber": 32768})
        self.acls.append({
            "Associations": [
                {"NetworkAclAssociationId": "aclassoc-" + s[-17:], "NetworkAclId": aid, "SubnetId": s}
                for s in subnets
            ],
            "Entries": entries,
            "IsDefault": default,
            "NetworkAclId": aid,
            "Tags": [],
            "VpcId": self.vpc,
            "OwnerId": ACCOUNT,
        })

    def group(self, gid, name, ingress, egress=None):
        def perm(rule):
            protocol, lo, hi, peer = rule
            p = {"IpProtocol": protocol, "IpRanges": [], "Ipv6Ranges": [], "PrefixListIds": [], "UserIdGroupPairs": []}
            if protocol != "-1":
                p["FromPort"] = lo
                p["ToPort"] = hi
            if peer.startswith("sg-"):
                p["UserIdGroupPairs"].append({"GroupId": peer, "UserId": ACCOUNT})
            elif peer.startswith("pl-"):
                p["PrefixListIds"].append({"PrefixListId": peer})
            elif ":" in peer:
                p["Ipv6Ranges"].append({"CidrIpv6": peer})
            else:
                p["IpRanges"].append({"CidrIp": peer})
            return p

        egress = egress if egress is not None else [("-1", None, None, "0.0.0.0/0")]
        self.groups.append({
            "Description": name,
            "GroupName": name,
            "IpPermissions": [perm(r) for r in ingress],
            "OwnerId": ACCOUNT,
            "GroupId": gid,
            "IpPermissionsEgress": [perm(r) for r in egress],
            "VpcId": self.vpc,
        })

    def interface(self, eni, subnet, az, address, groups=(), instance=None, tgw=None, ipv6=None):
        i = {
            "AvailabilityZone": az,
            "Description": f"Network Interface for Transit Gateway Attachment {tgw}" if tgw else "Primary network interface",
            "Groups": [{"GroupName": g, "GroupId": g} for g in groups],
            "InterfaceType": "transit_gateway" if tgw else "interface",
            "Ipv6Addresses": [{"Ipv6Address": ipv6}] if ipv6 else [],
            "NetworkInterfaceId": eni,
            "OwnerId": ACCOUNT,
            "PrivateIpAddress": address,
            "PrivateIpAddresses": [{"Primary": True, "PrivateIpAddress": address}],
            "RequesterManaged": bool(tgw),
            "SourceDestCheck": not tgw,
            "Status": "in-use",
            "SubnetId": subnet,
            "VpcId": self.vpc,
        }
        if instance:
            i["Attachment"] = {"AttachmentId": "eni-attach-" + eni[-17:], "DeviceIndex": 0, "InstanceId": instance, "InstanceOwnerId": ACCOUNT, "Status": "attached"}
        self.interfaces.append(i)

    def attachment(self, aid, tgw, subnets, appliance="disable"):
        self.attachments.append({
            "TransitGatewayAttachmentId": aid,
            "TransitGatewayId": tgw,
            "VpcId": self.vpc,
            "VpcOwnerId": ACCOUNT,
            "State": "available",
            "SubnetIds": subnets,
            "CreationTime": "2025-03-04T10:00:00.000Z",
            "Options": {"DnsSupport": "enable", "Ipv6Support": "disable", "ApplianceModeSupport": appliance},
        })

    def route_table(self, rid, routes, subnets=(), main=True):
        assoc = [{"Main": True, "RouteTableAssociationId": "rtbassoc-" + rid[-17:], "RouteTableId": rid}] if main else []
        assoc += [{"Main": False, "RouteTableId": rid, "SubnetId": s} for s in subnets]
        rs = [{"DestinationCidrBlock": c, "GatewayId": "local", "Origin": "CreateRouteTable", "State": "active"} for c in self.cidrs]
        for dest, target in routes:
            r = {"DestinationCidrBlock": dest, "Origin": "CreateRoute", "State": "active"}
            if target.startswith("tgw-"):
                r["TransitGatewayId"] = target
            else:
                r["GatewayId"] = target
            rs.append(r)
        self.routes.append({"Associations": assoc, "RouteTableId": rid, "Routes": rs, "VpcId": self.vpc, "OwnerId": ACCOUNT})

    def flow_log(self, fid, fields, destination="s3", group=None):
        f = {
            "CreationTime": "2025-03-04T10:05:00.000Z",
            "DeliverLogsStatus": "SUCCESS",
            "FlowLogId": fid,
            "FlowLogStatus": "ACTIVE",
            "ResourceId": self.vpc,
            "TrafficType": "ALL",
            "LogDestinationType": "s3" if destination == "s3" else "cloud-watch-logs",
            "LogFormat": log_format(fields),
            "MaxAggregationInterval": 60,
        }
        if destination == "s3":
            f["LogDestination"] = "arn:aws:s3:::example-flow-logs"
        else:
            f["LogGroupName"] = group
            f["DeliverLogsPermissionArn"] = f"arn:aws:iam::{ACCOUNT}:role/flow-logs-delivery"
        self.flow_logs.append(f)

    def write(self, folder, only=None):
        vpc = {
            "CidrBlock": self.cidrs[0],
            "DhcpOptionsId": "dopt-0a1b2c3d4e5f60001",
            "State": "available",
            "VpcId": self.vpc,
            "OwnerId": ACCOUNT,
            "InstanceTenancy": "default",
            "CidrBlockAssociationSet": [
                {"AssociationId": "vpc-cidr-assoc-" + self.vpc[-17:], "CidrBlock": c, "CidrBlockState": {"State": "associated"}}
                for c in self.cidrs
            ],
            "IsDefault": False,
        }
        if self.ipv6:
            vpc["Ipv6CidrBlockAssociationSet"] = [{"AssociationId": "vpc-cidr-assoc-6" + self.vpc[-16:], "Ipv6CidrBlock": self.ipv6, "Ipv6CidrBlockState": {"State": "associated"}, "NetworkBorderGroup": REGION, "Ipv6Pool": "Amazon"}]
        parts = {
            "describe-vpcs.json": {"Vpcs": [vpc]},
            "describe-subnets.json": {"Subnets": self.subnets},
            "describe-network-acls.json": {"NetworkAcls": self.acls},
            "describe-security-groups.json": {"SecurityGroups": self.groups},
            "describe-network-interfaces.json": {"NetworkInterfaces": self.interfaces},
            "describe-transit-gateway-vpc-attachments.json": {"TransitGatewayVpcAttachments": self.attachments},
            "describe-route-tables.json": {"RouteTables": self.routes},
            "describe-flow-logs.json": {"FlowLogs": self.flow_logs},
        }
        for name, value in parts.items():
            key = next(iter(value))
            if only is not None and name not in only:
                continue
            if value[key]:
                write_json(folder / "config" / name, value)


def record(fields, **v):
    return " ".join(str(v.get(f.replace("-", "_"), "-")) for f in fields)


class Records:
    """Lines of one flow-log format."""

    def __init__(self, fields):
        self.fields = fields
        self.lines = []

    def add(self, **v):
        v.setdefault("version", 2 if self.fields == DEFAULT_V2 else 5 if "flow-direction" in self.fields else 4)
        v.setdefault("account_id", ACCOUNT)
        v.setdefault("log_status", "OK")
        v.setdefault("type", "IPv6" if ":" in str(v.get("srcaddr", "")) else "IPv4")
        self.lines.append(record(self.fields, **v))

    def text(self, header=True):
        head = [" ".join(self.fields)] if header else []
        return "\n".join(head + self.lines) + "\n"


def s3_key(stamp, flow_log, suffix):
    """The S3 key of a flow-log file delivered at `stamp` (yyyymmddThhmmZ)."""
    day = stamp[:8]
    return f"AWSLogs/{ACCOUNT}/vpcflowlogs/{REGION}/{day[:4]}/{day[4:6]}/{day[6:]}/{ACCOUNT}_vpcflowlogs_{REGION}_{flow_log}_{stamp}_{suffix}.log.gz"


# The seed story's VPC: a database in AZ a, an app tier in AZ c, and a
# Transit Gateway attachment with a subnet in each AZ; the network ACLs were
# written per AZ to keep the AZs apart.
VPC = "vpc-0a1b2c3d4e5f6a001"
TGW = "tgw-0a1b2c3d4e5f6a001"
ATTACHMENT = "tgw-attach-0a1b2c3d4e5f6a001"
SUBNET_TGW_A = "subnet-0a1b2c3d4e5f6a0a1"
SUBNET_TGW_C = "subnet-0a1b2c3d4e5f6a0c3"
SUBNET_DB_A = "subnet-0a1b2c3d4e5f6d0a1"
SUBNET_APP_C = "subnet-0a1b2c3d4e5f6e0c3"
ACL_A = "acl-0a1b2c3d4e5f6a00a"
ACL_C = "acl-0a1b2c3d4e5f6a00c"
ACL_DEFAULT = "acl-0a1b2c3d4e5f6a0d0"
SG_DB = "sg-0a1b2c3d4e5f6db01"
ENI_DB = "eni-0a1b2c3d4e5f6db01"
ENI_TGW_A = "eni-0a1b2c3d4e5f6a0a1"
ENI_TGW_C = "eni-0a1b2c3d4e5f6a0c3"
DB = "10.1.1.25"
TGW_A_IP = "10.1.0.10"
TGW_C_IP = "10.1.0.40"
FLOW_LOG = "fl-0a1b2c3d4e5f6a001"


def seed_env():
    env = Env(VPC, ["10.1.0.0/16"])
    env.subnet(SUBNET_TGW_A, "10.1.0.0/28", "eu-west-1a", "euw1-az1")
    env.subnet(SUBNET_TGW_C, "10.1.0.32/28", "eu-west-1c", "euw1-az3")
    env.subnet(SUBNET_DB_A, "10.1.1.0/24", "eu-west-1a", "euw1-az1")
    env.subnet(SUBNET_APP_C, "10.1.3.0/24", "eu-west-1c", "euw1-az3")
    all_ = ("-1", "0.0.0.0/0")
    env.acl(ACL_A, [SUBNET_TGW_A, SUBNET_DB_A],
            inbound=[(100, "deny", "-1", "10.1.3.0/24", None), (200, "allow", "-1", "0.0.0.0/0", None)],
            outbound=[(100, "deny", "-1", "10.1.3.0/24", None), (200, "allow", "-1", "0.0.0.0/0", None)])
    env.acl(ACL_C, [SUBNET_TGW_C, SUBNET_APP_C],
            inbound=[(100, "deny", "-1", "10.1.1.0/24", None), (200, "allow", "-1", "0.0.0.0/0", None)],
            outbound=[(100, "deny", "-1", "10.1.1.0/24", None), (200, "allow", "-1", "0.0.0.0/0", None)])
    env.acl(ACL_DEFAULT, [], inbound=[(100, "allow", "-1", "0.0.0.0/0", None)],
            outbound=[(100, "allow", "-1", "0.0.0.0/0", None)], default=True)
    env.group(SG_DB, "reports-db", ingress=[("tcp", 5432, 5432, "10.20.0.0/16")])
    env.interface(ENI_DB, SUBNET_DB_A, "eu-west-1a", DB, groups=[SG_DB], instance="i-0a1b2c3d4e5f6db01")
    env.interface(ENI_TGW_A, SUBNET_TGW_A, "eu-west-1a", TGW_A_IP, tgw=ATTACHMENT)
    env.interface(ENI_TGW_C, SUBNET_TGW_C, "eu-west-1c", TGW_C_IP, tgw=ATTACHMENT)
    env.attachment(ATTACHMENT, TGW, [SUBNET_TGW_A, SUBNET_TGW_C])
    env.route_table("rtb-0a1b2c3d4e5f6a001", [("10.20.0.0/16", TGW)])
    env.flow_log(FLOW_LOG, FORMAT_V4)
    return env


def seed_connections(clients, minutes=60, pattern=None):
    """(client, port, start, az) for each connection: every 2 minutes per
    client; the Transit Gateway delivers some in AZ c (`pattern`)."""
    out = []
    for ci, client in enumerate(clients):
        for k in range(minutes // 2):
            start = T0 + k * 120 + 7 * ci
            port = 40000 + ci * 997 + k * 131
            az = "c" if (pattern or (lambda c, k: (k + c) % 3 == 1))(ci, k) else "a"
            out.append((client, port, start, az))
    return out


def seed_records(fields, connections, tgw_side=True):
    """VPC flow-log records of the connections (interface, then time)."""
    rec = Records(fields)
    for client, port, start, az in connections:
        end = start + 59
        common = dict(vpc_id=VPC, start=start, end=end)
        if az == "a":
            if tgw_side:
                rec.add(interface_id=ENI_TGW_A, srcaddr=TGW_A_IP, dstaddr=DB, srcport=port, dstport=5432, protocol=6,
                        packets=12, bytes=1840, action="ACCEPT", subnet_id=SUBNET_TGW_A, tcp_flags=3,
                        pkt_srcaddr=client, pkt_dstaddr=DB, az_id="euw1-az1", **common)
                rec.add(interface_id=ENI_TGW_A, srcaddr=DB, dstaddr=TGW_A_IP, srcport=5432, dstport=port, protocol=6,
                        packets=10, bytes=5210, action="ACCEPT", subnet_id=SUBNET_TGW_A, tcp_flags=19,
                        pkt_srcaddr=DB, pkt_dstaddr=client, az_id="euw1-az1", **common)
            rec.add(interface_id=ENI_DB, srcaddr=client, dstaddr=DB, srcport=port, dstport=5432, protocol=6,
                    packets=12, bytes=1840, action="ACCEPT", subnet_id=SUBNET_DB_A, instance_id="i-0a1b2c3d4e5f6db01",
                    tcp_flags=3, pkt_srcaddr=client, pkt_dstaddr=DB, az_id="euw1-az1", **common)
            rec.add(interface_id=ENI_DB, srcaddr=DB, dstaddr=client, srcport=5432, dstport=port, protocol=6,
                    packets=10, bytes=5210, action="ACCEPT", subnet_id=SUBNET_DB_A, instance_id="i-0a1b2c3d4e5f6db01",
                    tcp_flags=19, pkt_srcaddr=DB, pkt_dstaddr=client, az_id="euw1-az1", **common)
        else:
            rec.add(interface_id=ENI_TGW_C, srcaddr=TGW_C_IP, dstaddr=DB, srcport=port, dstport=5432, protocol=6,
                    packets=3, bytes=180, action="REJECT", subnet_id=SUBNET_TGW_C, tcp_flags=2,
                    pkt_srcaddr=client, pkt_dstaddr=DB, az_id="euw1-az3", **common)
    return rec


def seed_story():
    folder = ROOT / "seed-story"
    seed_env().write(folder)
    connections = seed_connections(["10.20.5.17", "10.20.8.9"])
    for (lo, hi), stamp, suffix in (((T0, T0 + 1800), "20261120T0735Z", "7a3f9c1e"),
                                    ((T0 + 1800, T0 + 3600), "20261120T0805Z", "c04d2b88")):
        part = [c for c in connections if lo <= c[2] < hi]
        path = folder / s3_key(stamp, FLOW_LOG, suffix)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(gz(seed_records(FORMAT_V4, part).text()))


def main():
    seed_story()


if __name__ == "__main__":
    main()
