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


# The application VPC of the other scenarios: an app tier, a database
# tier and a public web tier.
VPC_B = "vpc-0a1b2c3d4e5f6b001"
SUBNET_APP = "subnet-0a1b2c3d4e5f6b0a1"
SUBNET_DBB = "subnet-0a1b2c3d4e5f6b0d2"
SUBNET_WEB = "subnet-0a1b2c3d4e5f6b0e1"
ACL_APP = "acl-0a1b2c3d4e5f6b0a1"
ACL_DBB = "acl-0a1b2c3d4e5f6b0d2"
ACL_WEB = "acl-0a1b2c3d4e5f6b0e1"
ACL_B_DEFAULT = "acl-0a1b2c3d4e5f6b0d0"
SG_APP = "sg-0a1b2c3d4e5f6b0a1"
SG_APP_LEGACY = "sg-0a1b2c3d4e5f6b0a0"
SG_DBB = "sg-0a1b2c3d4e5f6b0d2"
SG_WEB = "sg-0a1b2c3d4e5f6b0e1"
ENI_APP = "eni-0a1b2c3d4e5f6b0a1"
ENI_DBB = "eni-0a1b2c3d4e5f6b0d2"
ENI_WEB = "eni-0a1b2c3d4e5f6b0e1"
APP = "10.2.1.10"
DBB = "10.2.2.20"
WEB = "10.2.10.15"
WEB6 = "2001:db8:1234:1a10::15"
ALLOW_ALL = [(100, "allow", "-1", "0.0.0.0/0", None)]


def app_env(acl_app=None, acl_db=None, acl_web=None, sg_db=None, ipv6=False):
    env = Env(VPC_B, ["10.2.0.0/16"], ipv6="2001:db8:1234:1a00::/56" if ipv6 else None)
    env.subnet(SUBNET_APP, "10.2.1.0/24", "eu-west-1a", "euw1-az1")
    env.subnet(SUBNET_DBB, "10.2.2.0/24", "eu-west-1b", "euw1-az2")
    env.subnet(SUBNET_WEB, "10.2.10.0/24", "eu-west-1a", "euw1-az1", ipv6="2001:db8:1234:1a10::/64" if ipv6 else None)
    for aid, subnet, rules in ((ACL_APP, SUBNET_APP, acl_app), (ACL_DBB, SUBNET_DBB, acl_db), (ACL_WEB, SUBNET_WEB, acl_web)):
        inbound, outbound = rules or (ALLOW_ALL, ALLOW_ALL)
        env.acl(aid, [subnet], inbound=inbound, outbound=outbound)
    env.acl(ACL_B_DEFAULT, [], inbound=ALLOW_ALL, outbound=ALLOW_ALL, default=True)
    env.group(SG_APP, "app", ingress=[("tcp", 8080, 8080, "10.2.10.0/24")])
    env.group(SG_APP_LEGACY, "app-legacy", ingress=[])
    env.group(SG_DBB, "orders-db", ingress=sg_db or [("tcp", 3306, 3306, "10.2.1.0/24")])
    web_in = [("tcp", 443, 443, "0.0.0.0/0"), ("tcp", 80, 80, "0.0.0.0/0")]
    if ipv6:
        web_in += [("tcp", 443, 443, "::/0"), ("tcp", 80, 80, "::/0")]
    env.group(SG_WEB, "web", ingress=web_in)
    env.interface(ENI_APP, SUBNET_APP, "eu-west-1a", APP, groups=[SG_APP], instance="i-0a1b2c3d4e5f6b0a1")
    env.interface(ENI_DBB, SUBNET_DBB, "eu-west-1b", DBB, groups=[SG_DBB], instance="i-0a1b2c3d4e5f6b0d2")
    env.interface(ENI_WEB, SUBNET_WEB, "eu-west-1a", WEB, groups=[SG_WEB], instance="i-0a1b2c3d4e5f6b0e1",
                  ipv6=WEB6 if ipv6 else None)
    env.route_table("rtb-0a1b2c3d4e5f6b001", [("0.0.0.0/0", "igw-0a1b2c3d4e5f6b001")])
    return env


def tcp(rec, eni, subnet, src, dst, sport, dport, start, action, flags=None, packets=3, **extra):
    rec.add(interface_id=eni, srcaddr=src, dstaddr=dst, srcport=sport, dstport=dport, protocol=6,
            packets=packets, bytes=packets * 60, start=start, end=start + 59, action=action,
            subnet_id=subnet, vpc_id=VPC_B, tcp_flags=flags if flags is not None else "-",
            pkt_srcaddr=src, pkt_dstaddr=dst, **extra)


def write_text(path, text):
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)


def nacl_inbound_deny():
    # The orders database's subnet allows MySQL from 10.2.3.0/24, a typo for
    # the app subnet 10.2.1.0/24: every connection dies at the final deny.
    folder = ROOT / "nacl-inbound-deny"
    env = app_env(acl_db=([(100, "allow", "6", "10.2.3.0/24", (3306, 3306)),
                           (110, "allow", "6", "0.0.0.0/0", (32768, 65535))], ALLOW_ALL))
    env.flow_log("fl-0a1b2c3d4e5f6b002", DEFAULT_V2, destination="cwl", group="/vpc/flow-logs/orders")
    env.write(folder)
    rec = Records(DEFAULT_V2)
    for k in range(6):
        start = T0 + 600 + k * 90
        port = 45000 + k * 17
        tcp(rec, ENI_APP, SUBNET_APP, APP, DBB, port, 3306, start, "ACCEPT")
        tcp(rec, ENI_DBB, SUBNET_DBB, APP, DBB, port, 3306, start, "REJECT")
    events = [{"logStreamName": line.split()[2] + "-all", "timestamp": int(line.split()[10]) * 1000,
               "message": line, "ingestionTime": int(line.split()[11]) * 1000 + 300000,
               "eventId": "%056d" % (i * 7919)} for i, line in enumerate(rec.lines)]
    write_json(folder / "filter-log-events.json", {"events": events, "searchedLogStreams": [
        {"logStreamName": ENI_APP + "-all", "searchedCompletely": True},
        {"logStreamName": ENI_DBB + "-all", "searchedCompletely": True}]})


def nacl_outbound_deny():
    # The app subnet's network ACL still denies MySQL to the database subnet
    # (rule 100, from before the app tier used the database).
    folder = ROOT / "nacl-outbound-deny"
    env = app_env(acl_app=(ALLOW_ALL, [(100, "deny", "6", "10.2.2.0/24", (3306, 3306)),
                                       (200, "allow", "-1", "0.0.0.0/0", None)]))
    fields = ["version", "interface-id", "srcaddr", "dstaddr", "srcport", "dstport", "protocol", "packets",
              "bytes", "start", "end", "action", "log-status", "subnet-id", "tcp-flags"]
    env.flow_log("fl-0a1b2c3d4e5f6b003", fields)
    env.write(folder)
    rec = Records(fields)
    for k in range(4):
        tcp(rec, ENI_APP, SUBNET_APP, APP, DBB, 51000 + k * 3, 3306, T0 + k * 120, "REJECT", flags=2, version=3)
    write_text(folder / "flows-2026-11-20.log", rec.text())


def nacl_return_traffic_deny():
    # The web tier's outbound rules allow replies to 32768-65535 only; a
    # client whose system draws ephemeral ports from 1025-5000 never gets
    # an answer. Records in the default format, without a header.
    folder = ROOT / "nacl-return-traffic-deny"
    env = app_env(acl_web=([(100, "allow", "6", "0.0.0.0/0", (443, 443)),
                            (110, "allow", "6", "0.0.0.0/0", (32768, 65535))],
                           [(100, "allow", "6", "0.0.0.0/0", (32768, 65535)),
                            (110, "allow", "6", "0.0.0.0/0", (443, 443))]))
    env.write(folder)
    rec = Records(DEFAULT_V2)
    for client, ports in (("203.0.113.25", range(1030, 1036)), ("192.0.2.44", range(4100, 4103)),
                          ("198.51.100.61", range(40100, 40104))):
        for k, port in enumerate(ports):
            start = T0 + 300 + k * 60
            rec.add(interface_id=ENI_WEB, srcaddr=client, dstaddr=WEB, srcport=port, dstport=443, protocol=6,
                    packets=4, bytes=240, start=start, end=start + 59, action="ACCEPT")
            ok = port >= 32768
            rec.add(interface_id=ENI_WEB, srcaddr=WEB, dstaddr=client, srcport=443, dstport=port, protocol=6,
                    packets=6 if ok else 4, bytes=3400 if ok else 240, start=start, end=start + 59,
                    action="ACCEPT" if ok else "REJECT")
    write_text(folder / "flow-records.txt", rec.text(header=False))


def security_group_no_allow():
    # The database's security group allows MySQL from the app tier's old
    # security group; the app instances now carry the new one.
    folder = ROOT / "security-group-no-allow"
    env = app_env(sg_db=[("tcp", 3306, 3306, SG_APP_LEGACY)])
    fields = ["version", "interface-id", "srcaddr", "dstaddr", "srcport", "dstport", "protocol", "packets",
              "bytes", "start", "end", "action", "log-status", "tcp-flags", "flow-direction", "subnet-id"]
    env.flow_log("fl-0a1b2c3d4e5f6b004", fields, destination="cwl", group="/vpc/flow-logs/orders")
    env.write(folder)
    rec = Records(fields)
    for k in range(5):
        start = T0 + k * 200
        port = 38000 + k * 11
        tcp(rec, ENI_APP, SUBNET_APP, APP, DBB, port, 3306, start, "ACCEPT", flags=2, flow_direction="egress")
        tcp(rec, ENI_DBB, SUBNET_DBB, APP, DBB, port, 3306, start, "REJECT", flags=2, flow_direction="ingress")
    write_text(folder / "orders-flow-log-export.txt", rec.text(header=False))


def block_public_access():
    # VPC Block Public Access turned on (bidirectional) without an exclusion
    # for the public web subnet: the web server's calls to a partner API
    # are rejected. The records arrive as a Lambda subscription payload.
    folder = ROOT / "block-public-access"
    env = app_env()
    fields = ["version", "account-id", "interface-id", "srcaddr", "dstaddr", "srcport", "dstport", "protocol",
              "packets", "bytes", "start", "end", "action", "log-status", "subnet-id", "tcp-flags", "region",
              "az-id", "reject-reason"]
    env.flow_log("fl-0a1b2c3d4e5f6b005", fields, destination="cwl", group="/vpc/flow-logs/web")
    env.write(folder)
    write_json(folder / "config" / "describe-vpc-block-public-access-options.json", {"VpcBlockPublicAccessOptions": {
        "AwsAccountId": ACCOUNT, "AwsRegion": REGION, "State": "update-complete",
        "InternetGatewayBlockMode": "block-bidirectional", "Reason": "SCP policy", "ExclusionsAllowed": "allowed",
        "LastUpdateTimestamp": "2026-11-20T06:55:00.000Z", "ManagedBy": "account"}})
    rec = Records(fields)
    for k in range(4):
        start = T0 + 900 + k * 60
        rec.add(version=8, interface_id=ENI_WEB, srcaddr=WEB, dstaddr="198.51.100.80", srcport=41000 + k, dstport=443,
                protocol=6, packets=2, bytes=120, start=start, end=start + 59, action="REJECT", subnet_id=SUBNET_WEB,
                tcp_flags=2, region=REGION, az_id="euw1-az1", reject_reason="BPA")
    payload = {"messageType": "DATA_MESSAGE", "owner": ACCOUNT, "logGroup": "/vpc/flow-logs/web",
               "logStream": ENI_WEB + "-all", "subscriptionFilters": ["start-doctor-rejects"],
               "logEvents": [{"id": "%056d" % (i + 1), "timestamp": (T0 + 900 + i * 60) * 1000, "message": m}
                             for i, m in enumerate(rec.lines)]}
    data = base64.b64encode(gz(json.dumps(payload))).decode()
    write_json(folder / "subscription-event.json", {"awslogs": {"data": data}})


def unexplained():
    # On-premises clients are rejected by the orders database, but only
    # the subnets and VPC were described: the network ACL and the security
    # groups on the path are missing, so the doctor says which and how to
    # get them.
    folder = ROOT / "unexplained"
    env = app_env()
    env.write(folder, only={"describe-vpcs.json", "describe-subnets.json"})
    rec = Records(DEFAULT_V2)
    for k in range(3):
        start = T0 + k * 300
        rec.add(interface_id=ENI_DBB, srcaddr="10.20.5.17", dstaddr=DBB, srcport=50500 + k, dstport=3306, protocol=6,
                packets=3, bytes=180, start=start, end=start + 59, action="REJECT")
        rec.add(interface_id=ENI_DBB, srcaddr="10.20.5.17", dstaddr=DBB, srcport=50600 + k, dstport=3306, protocol=6,
                packets=20, bytes=4000, start=start + 60, end=start + 119, action="ACCEPT")
    write_text(folder / "records.log", rec.text())


def noise_scan():
    # The web server's interface rejects scans from the internet (closed
    # ports, no answer ever): noise, counted, not reported.
    folder = ROOT / "noise-scan"
    app_env().write(folder)
    rec = Records(DEFAULT_V2)
    k = 0
    for scanner in ("192.0.2.15", "192.0.2.77", "203.0.113.190"):
        for port in (22, 23, 445, 1433, 3389, 5900):
            start = T0 + k * 13
            rec.add(interface_id=ENI_WEB, srcaddr=scanner, dstaddr=WEB, srcport=61000 + k, dstport=port, protocol=6,
                    packets=1, bytes=44, start=start, end=start + 59, action="REJECT")
            k += 1
    rec.add(interface_id=ENI_WEB, srcaddr="203.0.113.190", dstaddr=WEB, srcport=0, dstport=0, protocol=1,
            packets=1, bytes=84, start=T0 + 400, end=T0 + 459, action="REJECT")
    rec.add(interface_id=ENI_WEB, srcaddr="198.51.100.61", dstaddr=WEB, srcport=40100, dstport=443, protocol=6,
            packets=8, bytes=900, start=T0 + 30, end=T0 + 89, action="ACCEPT")
    rec.add(interface_id=ENI_WEB, srcaddr=WEB, dstaddr="198.51.100.61", srcport=443, dstport=40100, protocol=6,
            packets=9, bytes=5200, start=T0 + 30, end=T0 + 89, action="ACCEPT")
    path = folder / s3_key("20261120T0710Z", "fl-0a1b2c3d4e5f6b001", "5e6f7a8b")
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(gz(rec.text()))


def noise_late_close():
    # A connection the app closed: the database's FIN and RST arrive after
    # the app instance forgot the connection and are rejected. Nothing is
    # wrong with the controls.
    folder = ROOT / "noise-late-close"
    app_env().write(folder)
    fields = ["version", "interface-id", "srcaddr", "dstaddr", "srcport", "dstport", "protocol", "packets", "bytes",
              "start", "end", "action", "log-status", "subnet-id", "vpc-id", "tcp-flags", "pkt-srcaddr", "pkt-dstaddr"]
    rec = Records(fields)
    tcp(rec, ENI_APP, SUBNET_APP, APP, DBB, 47001, 3306, T0, "ACCEPT", flags=3, packets=40, version=3)
    tcp(rec, ENI_APP, SUBNET_APP, DBB, APP, 3306, 47001, T0, "ACCEPT", flags=19, packets=38, version=3)
    tcp(rec, ENI_DBB, SUBNET_DBB, APP, DBB, 47001, 3306, T0, "ACCEPT", flags=3, packets=40, version=3)
    tcp(rec, ENI_DBB, SUBNET_DBB, DBB, APP, 3306, 47001, T0, "ACCEPT", flags=19, packets=38, version=3)
    tcp(rec, ENI_APP, SUBNET_APP, DBB, APP, 3306, 47001, T0 + 400, "REJECT", flags=1, packets=1, version=3)
    tcp(rec, ENI_APP, SUBNET_APP, DBB, APP, 3306, 47001, T0 + 460, "REJECT", flags=4, packets=1, version=3)
    tcp(rec, ENI_APP, SUBNET_APP, DBB, APP, 3306, 47001, T0 + 520, "REJECT", flags=5, packets=2, version=3)
    write_text(folder / "flows.log", rec.text())


TGW_DEFAULT = [
    "version", "resource-type", "account-id", "tgw-id", "tgw-attachment-id", "tgw-src-vpc-account-id",
    "tgw-dst-vpc-account-id", "tgw-src-vpc-id", "tgw-dst-vpc-id", "tgw-src-subnet-id", "tgw-dst-subnet-id",
    "tgw-src-eni", "tgw-dst-eni", "tgw-src-az-id", "tgw-dst-az-id", "tgw-pair-attachment-id", "srcaddr",
    "dstaddr", "srcport", "dstport", "protocol", "packets", "bytes", "start", "end", "log-status", "type",
    "packets-lost-no-route", "packets-lost-blackhole", "packets-lost-mtu-exceeded", "packets-lost-ttl-expired",
    "tcp-flags", "region", "flow-direction", "pkt-src-aws-service", "pkt-dst-aws-service",
]
DX_ATTACHMENT = "tgw-attach-0a1b2c3d4e5f6dc01"


def tgw_flow_logs():
    # The seed story again, with the VPC flow log in the default format:
    # on the Transit Gateway interfaces a record shows the interface's own
    # address as the source, not the client's. The Transit Gateway's flow
    # log names the client, the interface and the AZ it delivered each flow
    # by.
    folder = ROOT / "tgw-flow-logs"
    env = seed_env()
    env.flow_logs = []
    env.flow_log(FLOW_LOG, DEFAULT_V2)
    env.write(folder)
    connections = seed_connections(["10.20.5.17"])
    vpc = Records(DEFAULT_V2)
    tgw = Records(TGW_DEFAULT)
    for client, port, start, az in connections:
        end = start + 59
        eni, ip, subnet, az_id = (ENI_TGW_A, TGW_A_IP, SUBNET_TGW_A, "euw1-az1") if az == "a" else \
            (ENI_TGW_C, TGW_C_IP, SUBNET_TGW_C, "euw1-az3")
        action = "ACCEPT" if az == "a" else "REJECT"
        vpc.add(interface_id=eni, srcaddr=ip, dstaddr=DB, srcport=port, dstport=5432, protocol=6,
                packets=12 if az == "a" else 3, bytes=1840 if az == "a" else 180, start=start, end=end, action=action)
        if az == "a":
            vpc.add(interface_id=ENI_DB, srcaddr=client, dstaddr=DB, srcport=port, dstport=5432, protocol=6,
                    packets=12, bytes=1840, start=start, end=end, action="ACCEPT")
            vpc.add(interface_id=ENI_DB, srcaddr=DB, dstaddr=client, srcport=5432, dstport=port, protocol=6,
                    packets=10, bytes=5210, start=start, end=end, action="ACCEPT")
        tgw.add(version=6, resource_type="TransitGateway", account_id=ACCOUNT, tgw_id=TGW,
                tgw_attachment_id=ATTACHMENT, tgw_dst_vpc_account_id=ACCOUNT, tgw_dst_vpc_id=VPC,
                tgw_dst_subnet_id=subnet, tgw_dst_eni=eni, tgw_dst_az_id=az_id, tgw_pair_attachment_id=DX_ATTACHMENT,
                srcaddr=client, dstaddr=DB, srcport=port, dstport=5432, protocol=6, packets=12 if az == "a" else 3,
                bytes=1840 if az == "a" else 180, start=start, end=end, type="IPv4", packets_lost_no_route=0,
                packets_lost_blackhole=0, packets_lost_mtu_exceeded=0, packets_lost_ttl_expired=0,
                tcp_flags=3 if az == "a" else 2, region=REGION, flow_direction="egress")
    for name, rec, stamp, suffix in (("fl-0a1b2c3d4e5f6a001", vpc, "20261120T0805Z", "91ab22cd"),
                                     ("fl-0a1b2c3d4e5f6a0f6", tgw, "20261120T0805Z", "3e4f5a6b")):
        path = folder / s3_key(stamp, name, suffix)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(gz(rec.text()))


def mixed_versions():
    # The return-traffic story over three deliveries concatenated into one
    # gzip file (one gzip member each): version 2, then 5 with TCP flags,
    # then 8 with reject-reason; each part starts with its header.
    folder = ROOT / "mixed-versions"
    env = app_env(acl_web=([(100, "allow", "6", "0.0.0.0/0", (443, 443)),
                            (110, "allow", "6", "0.0.0.0/0", (32768, 65535))],
                           [(100, "allow", "6", "0.0.0.0/0", (32768, 65535)),
                            (110, "allow", "6", "0.0.0.0/0", (443, 443))]))
    env.write(folder)
    v5 = ["version", "interface-id", "srcaddr", "dstaddr", "srcport", "dstport", "protocol", "start", "end",
          "action", "log-status", "tcp-flags", "flow-direction", "traffic-path", "pkt-srcaddr", "pkt-dstaddr"]
    v8 = ["version", "interface-id", "srcaddr", "dstaddr", "srcport", "dstport", "protocol", "start", "end",
          "action", "log-status", "reject-reason"]
    client = "203.0.113.25"
    members = []
    for i, fields in enumerate((DEFAULT_V2, v5, v8)):
        rec = Records(fields)
        version = (2, 5, 8)[i]
        for k in range(2):
            start = T0 + i * 600 + k * 60
            port = 1100 + i * 10 + k
            rec.add(version=version, interface_id=ENI_WEB, srcaddr=client, dstaddr=WEB, srcport=port, dstport=443,
                    protocol=6, packets=4, bytes=240, start=start, end=start + 59, action="ACCEPT", tcp_flags=2,
                    flow_direction="ingress", pkt_srcaddr=client, pkt_dstaddr=WEB)
            rec.add(version=version, interface_id=ENI_WEB, srcaddr=WEB, dstaddr=client, srcport=443, dstport=port,
                    protocol=6, packets=4, bytes=240, start=start, end=start + 59, action="REJECT", tcp_flags=18,
                    flow_direction="egress", traffic_path=8, pkt_srcaddr=WEB, pkt_dstaddr=client)
        members.append(gz(rec.text()))
    path = folder / s3_key("20261120T0735Z", "fl-0a1b2c3d4e5f6b001", "concat01")
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(b"".join(members))


def ipv6():
    # The web subnet's network ACL allows IPv6 on port 80 but was never
    # given port 443 for IPv6: HTTPS over IPv6 dies at the final IPv6 deny
    # (rule 32768) while HTTP works.
    folder = ROOT / "ipv6"
    env = app_env(ipv6=True, acl_web=(
        [(100, "allow", "6", "0.0.0.0/0", (443, 443)), (101, "allow", "6", "::/0", (80, 80)),
         (110, "allow", "6", "0.0.0.0/0", (1024, 65535)), (111, "allow", "6", "::/0", (1024, 65535))],
        [(100, "allow", "6", "0.0.0.0/0", (1024, 65535)), (101, "allow", "6", "::/0", (1024, 65535))]))
    env.write(folder)
    rec = Records(DEFAULT_V2)
    client = "2001:db8:ffff:1::25"
    for k in range(3):
        start = T0 + k * 60
        rec.add(interface_id=ENI_WEB, srcaddr=client, dstaddr=WEB6, srcport=50200 + k, dstport=80, protocol=6,
                packets=5, bytes=600, start=start, end=start + 59, action="ACCEPT")
        rec.add(interface_id=ENI_WEB, srcaddr=WEB6, dstaddr=client, srcport=80, dstport=50200 + k, protocol=6,
                packets=5, bytes=3000, start=start, end=start + 59, action="ACCEPT")
        rec.add(interface_id=ENI_WEB, srcaddr=client, dstaddr=WEB6, srcport=50300 + k, dstport=443, protocol=6,
                packets=3, bytes=240, start=start, end=start + 59, action="REJECT")
    path = folder / s3_key("20261120T0710Z", "fl-0a1b2c3d4e5f6b001", "6a6b6c6d")
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(gz(rec.text()))


def ping_reply_denied():
    # The VPC User Guide's example (Flow log record examples, "Security
    # group and network ACL rules"): a ping from 203.0.113.12 to an instance
    # whose network ACL allows inbound ICMP but not outbound. Its two
    # records verbatim, and a configuration that matches the story.
    folder = ROOT / "ping-reply-denied"
    vpc = "vpc-a01106c2"
    env = Env(vpc, ["172.31.0.0/16"])
    env.subnet("subnet-b61f49f0", "172.31.16.0/20", "us-east-1d", "use1-az2")
    env.acl("acl-5fb85d36", ["subnet-b61f49f0"],
            inbound=[(100, "allow", "-1", "0.0.0.0/0", None)],
            outbound=[(100, "allow", "6", "0.0.0.0/0", (0, 65535))])
    env.group("sg-8637d3e3", "default", ingress=[("icmp", -1, -1, "0.0.0.0/0"), ("tcp", 22, 22, "203.0.113.0/24")])
    env.interface("eni-1235b8ca123456789", "subnet-b61f49f0", "us-east-1d", "172.31.16.139", groups=["sg-8637d3e3"],
                  instance="i-1234567890abcdef0")
    env.write(folder)
    write_text(folder / "flow-log-records.txt",
               "2 123456789010 eni-1235b8ca123456789 203.0.113.12 172.31.16.139 0 0 1 4 336 1432917027 1432917142 ACCEPT OK\n"
               "2 123456789010 eni-1235b8ca123456789 172.31.16.139 203.0.113.12 0 0 1 4 336 1432917094 1432917142 REJECT OK\n")


def athena_results():
    # The seed story queried where it lives: the configuration, and the CSV
    # Athena writes for `start-doctor query --doctor flows` (made by
    # scripts/flows-query-check.py with DuckDB; see the README).
    seed_env().write(ROOT / "athena-results")


def main():
    seed_story()
    athena_results()
    nacl_inbound_deny()
    nacl_outbound_deny()
    nacl_return_traffic_deny()
    security_group_no_allow()
    block_public_access()
    unexplained()
    noise_scan()
    noise_late_close()
    tgw_flow_logs()
    mixed_versions()
    ipv6()
    ping_reply_denied()


if __name__ == "__main__":
    main()
