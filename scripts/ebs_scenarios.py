#!/usr/bin/env python3
"""Writes the `start-doctor ebs` sample scenarios under events/ebs/.

Each scenario is a small account: describe-* output as the AWS CLI prints
it, the get-metric-data request `start-doctor ebs query` writes, and the
responses CloudWatch gives for it, shaped the way real files vary (pages
newest-first or oldest-first, one file per page or merged by the CLI,
duplicated, labels or not, 1- and 5-minute instance metrics). The numbers
tell each scenario's story (see its README.md); they are deterministic, so
running this again reproduces the committed files byte for byte.

Usage: python3 scripts/ebs_scenarios.py [OUT_DIR]   (default: events/ebs)
Instance-type figures come from moto's copy of DescribeInstanceTypes when
moto is installed (the real EbsOptimizedInfo values); the few used here are
also written below so the script runs without it.
"""

import json
import math
import os
import random
import sys
from datetime import datetime, timedelta, timezone

OUT = sys.argv[1] if len(sys.argv) > 1 else os.path.join(os.path.dirname(__file__), "..", "events", "ebs")
ACCOUNT = "111122223333"

# describe-instance-types EBS figures (MB/s, as AWS publishes them) and
# sizes, as DescribeInstanceTypes returns them (checked against moto's copy
# of the real data, moto 5.x ec2/resources/instance_types.json.gz).
TYPES = {
    "m5.large": (2, 8192, 650, 81.25, 3600, 4750, 593.75, 18750),
    "m5.xlarge": (4, 16384, 1150, 143.75, 6000, 4750, 593.75, 18750),
    "m5.2xlarge": (8, 32768, 2300, 287.5, 12000, 4750, 593.75, 18750),
    "m5.4xlarge": (16, 65536, 4750, 593.75, 18750, 4750, 593.75, 18750),
    "m5.8xlarge": (32, 131072, 6800, 850.0, 30000, 6800, 850.0, 30000),
    "m6i.large": (2, 8192, 650, 81.25, 3600, 10000, 1250.0, 40000),
    "m6i.xlarge": (4, 16384, 1250, 156.25, 6000, 10000, 1250.0, 40000),
    "m6i.2xlarge": (8, 32768, 2500, 312.5, 12000, 10000, 1250.0, 40000),
    "m6i.4xlarge": (16, 65536, 5000, 625.0, 20000, 10000, 1250.0, 40000),
    "r5.2xlarge": (8, 65536, 2300, 287.5, 12000, 4750, 593.75, 18750),
    "r5.4xlarge": (16, 131072, 4750, 593.75, 18750, 4750, 593.75, 18750),
    "c5.4xlarge": (16, 32768, 4750, 593.75, 20000, 4750, 593.75, 20000),
    "c5.9xlarge": (36, 73728, 9500, 1187.5, 40000, 9500, 1187.5, 40000),
    "c6i.4xlarge": (16, 32768, 5000, 625.0, 20000, 10000, 1250.0, 40000),
    "c6i.8xlarge": (32, 65536, 10000, 1250.0, 40000, 10000, 1250.0, 40000),
}


def moto_types():
    try:
        import gzip
        import moto

        path = os.path.join(os.path.dirname(moto.__file__), "ec2", "resources", "instance_types.json.gz")
        with gzip.open(path) as f:
            return json.load(f)
    except Exception:  # moto absent: the table above stands
        return {}


REAL = moto_types()


def type_entry(name):
    real = REAL.get(name)
    if real and real.get("EbsInfo", {}).get("EbsOptimizedInfo"):
        e = real["EbsInfo"]["EbsOptimizedInfo"]
        return (
            real["VCpuInfo"]["DefaultVCpus"],
            real["MemoryInfo"]["SizeInMiB"],
            e["BaselineBandwidthInMbps"],
            e["BaselineThroughputInMBps"],
            e["BaselineIops"],
            e["MaximumBandwidthInMbps"],
            e["MaximumThroughputInMBps"],
            e["MaximumIops"],
        )
    return TYPES[name]


def describe_instance_types(names):
    out = []
    for name in names:
        vcpus, mem, bbw, btp, biops, mbw, mtp, miops = type_entry(name)
        out.append({
            "InstanceType": name,
            "CurrentGeneration": True,
            "SupportedUsageClasses": ["on-demand", "spot"],
            "SupportedRootDeviceTypes": ["ebs"],
            "BareMetal": False,
            "Hypervisor": "nitro",
            "ProcessorInfo": {"SupportedArchitectures": ["x86_64"]},
            "VCpuInfo": {"DefaultVCpus": vcpus},
            "MemoryInfo": {"SizeInMiB": mem},
            "InstanceStorageSupported": False,
            "EbsInfo": {
                "EbsOptimizedSupport": "default",
                "EncryptionSupport": "supported",
                "EbsOptimizedInfo": {
                    "BaselineBandwidthInMbps": bbw,
                    "BaselineThroughputInMBps": btp,
                    "BaselineIops": biops,
                    "MaximumBandwidthInMbps": mbw,
                    "MaximumThroughputInMBps": mtp,
                    "MaximumIops": miops,
                },
                "NvmeSupport": "required",
            },
        })
    return {"InstanceTypes": out}


def iso(t):
    return t.strftime("%Y-%m-%dT%H:%M:%S+00:00")


def isoz(t):
    return t.strftime("%Y-%m-%dT%H:%M:%S.000Z")


def describe_instances(instances):
    reservations = []
    for i in instances:
        reservations.append({
            "Groups": [],
            "OwnerId": ACCOUNT,
            "ReservationId": "r-" + i["id"][2:],
            "Instances": [{
                "InstanceId": i["id"],
                "InstanceType": i["type"],
                "ImageId": "ami-0abcdef1234567890",
                "LaunchTime": iso(i["launch"]),
                "Placement": {"AvailabilityZone": i["zone"], "GroupName": "", "Tenancy": "default"},
                "State": {"Code": 16, "Name": "running"},
                "Monitoring": {"State": "enabled" if i.get("detailed") else "disabled"},
                "EbsOptimized": True,
                "Hypervisor": "xen",
                "BlockDeviceMappings": [
                    {"DeviceName": v["device"], "Ebs": {"AttachTime": iso(i["launch"]), "DeleteOnTermination": True,
                                                        "Status": "attached", "VolumeId": v["id"]}}
                    for v in i["volumes"]
                ],
                "Tags": [{"Key": "Name", "Value": i["name"]}] + i.get("tags", []),
            }],
        })
    return {"Reservations": reservations}


def describe_volumes(instances):
    out = []
    for i in instances:
        for v in i["volumes"]:
            d = {
                "AvailabilityZone": i["zone"],
                "Attachments": [{"AttachTime": iso(i["launch"]), "Device": v["device"], "InstanceId": i["id"],
                                 "State": "attached", "VolumeId": v["id"], "DeleteOnTermination": True}],
                "CreateTime": isoz(v.get("created", i["launch"] - timedelta(seconds=30))),
                "Encrypted": True,
                "Size": v["size"],
                "SnapshotId": v.get("snapshot", ""),
                "State": "in-use",
                "VolumeId": v["id"],
                "VolumeType": v["type"],
                "MultiAttachEnabled": False,
            }
            if "iops" in v:
                d["Iops"] = v["iops"]
            if "throughput" in v:
                d["Throughput"] = v["throughput"]
            if v.get("snapshot"):
                d["FastRestored"] = v.get("fast_restored", False)
            out.append(d)
    return {"Volumes": out}


def label(ns, metric, dims):
    return " ".join([ns, metric] + [f"{k}={v}" for k, v in dims])


def qid(metric, dims):
    res = "_".join(v.replace("-", "") for _, v in dims)
    return res + "_" + "".join(c.lower() for c in metric if c.isalnum())


VOLUME_METRICS = [
    ("VolumeReadOps", "Sum"), ("VolumeWriteOps", "Sum"), ("VolumeReadBytes", "Sum"), ("VolumeWriteBytes", "Sum"),
    ("VolumeTotalReadTime", "Sum"), ("VolumeTotalWriteTime", "Sum"), ("VolumeIdleTime", "Sum"),
    ("VolumeQueueLength", "Average"), ("BurstBalance", "Minimum"),
]
PAIR_METRICS = [
    ("VolumeIOPSExceededCheck", "Maximum"), ("VolumeThroughputExceededCheck", "Maximum"),
    ("VolumeStalledIOCheck", "Maximum"), ("VolumeAvgReadLatency", "Average"), ("VolumeAvgWriteLatency", "Average"),
    ("VolumeAvgIOPS", "Average"), ("VolumeAvgThroughput", "Average"),
]
INSTANCE_METRICS = [
    ("EBSReadOps", "Sum"), ("EBSWriteOps", "Sum"), ("EBSReadBytes", "Sum"), ("EBSWriteBytes", "Sum"),
    ("EBSIOBalance%", "Minimum"), ("EBSByteBalance%", "Minimum"),
    ("InstanceEBSIOPSExceededCheck", "Maximum"), ("InstanceEBSThroughputExceededCheck", "Maximum"),
]


class Series:
    def __init__(self, ns, metric, dims, stat, period=60):
        self.ns, self.metric, self.dims, self.stat, self.period = ns, metric, dims, stat, period
        self.points = {}

    def query(self):
        return {
            "Id": qid(self.metric, self.dims),
            "MetricStat": {
                "Metric": {"Namespace": self.ns, "MetricName": self.metric,
                           "Dimensions": [{"Name": k, "Value": v} for k, v in self.dims]},
                "Period": self.period,
                "Stat": self.stat,
            },
            "Label": label(self.ns, self.metric, self.dims),
        }


def r(x, nd=3):
    return round(x, nd)


class Account:
    """The series of one scenario, filled minute by minute."""

    def __init__(self):
        self.series = {}

    def s(self, ns, metric, dims, stat, period=60):
        key = (ns, metric, tuple(dims))
        if key not in self.series:
            self.series[key] = Series(ns, metric, list(dims), stat, period)
        return self.series[key]

    def volume_minute(self, inst, vol, t, reads, writes, read_kib, write_kib, read_ms, write_ms=1.0,
                      burst=None, iops_check=0, tput_check=0, stalled=0, nitro=True, queue=None):
        vd = [("VolumeId", vol)]
        pd = [("InstanceId", inst), ("VolumeId", vol)]
        ops_r, ops_w = reads * 60, writes * 60
        self.s("AWS/EBS", "VolumeReadOps", vd, "Sum").points[t] = r(ops_r, 1)
        self.s("AWS/EBS", "VolumeWriteOps", vd, "Sum").points[t] = r(ops_w, 1)
        self.s("AWS/EBS", "VolumeReadBytes", vd, "Sum").points[t] = r(ops_r * read_kib * 1024, 0)
        self.s("AWS/EBS", "VolumeWriteBytes", vd, "Sum").points[t] = r(ops_w * write_kib * 1024, 0)
        self.s("AWS/EBS", "VolumeTotalReadTime", vd, "Sum").points[t] = r(ops_r * read_ms / 1000.0)
        self.s("AWS/EBS", "VolumeTotalWriteTime", vd, "Sum").points[t] = r(ops_w * write_ms / 1000.0)
        busy = min(60.0, (ops_r * read_ms + ops_w * write_ms) / 1000.0 / 4)
        self.s("AWS/EBS", "VolumeIdleTime", vd, "Sum").points[t] = r(max(0.0, 60.0 - busy), 2)
        q = queue if queue is not None else (reads * read_ms + writes * write_ms) / 1000.0
        self.s("AWS/EBS", "VolumeQueueLength", vd, "Average").points[t] = r(q, 3)
        if burst is not None:
            self.s("AWS/EBS", "BurstBalance", vd, "Minimum").points[t] = r(burst, 2)
        if nitro:
            self.s("AWS/EBS", "VolumeIOPSExceededCheck", pd, "Maximum").points[t] = iops_check
            self.s("AWS/EBS", "VolumeThroughputExceededCheck", pd, "Maximum").points[t] = tput_check
            self.s("AWS/EBS", "VolumeStalledIOCheck", pd, "Maximum").points[t] = stalled
            self.s("AWS/EBS", "VolumeAvgReadLatency", pd, "Average").points[t] = r(read_ms if reads else 0.0, 3)
            self.s("AWS/EBS", "VolumeAvgWriteLatency", pd, "Average").points[t] = r(write_ms if writes else 0.0, 3)
            self.s("AWS/EBS", "VolumeAvgIOPS", pd, "Average").points[t] = r(reads + writes, 2)
            self.s("AWS/EBS", "VolumeAvgThroughput", pd, "Average").points[t] = r(reads * read_kib + writes * write_kib, 2)

    def instance_minute(self, inst, t, period, reads, writes, read_bytes_s, write_bytes_s, io_balance=100.0,
                        byte_balance=100.0, iops_check=0, tput_check=0, checks=True):
        """`reads` etc. are per-second rates over the period starting at t."""
        d = [("InstanceId", inst)]
        self.s("AWS/EC2", "EBSReadOps", d, "Sum", 60).points[t] = r(reads * period, 1)
        self.s("AWS/EC2", "EBSWriteOps", d, "Sum", 60).points[t] = r(writes * period, 1)
        self.s("AWS/EC2", "EBSReadBytes", d, "Sum", 60).points[t] = r(read_bytes_s * period, 0)
        self.s("AWS/EC2", "EBSWriteBytes", d, "Sum", 60).points[t] = r(write_bytes_s * period, 0)
        self.s("AWS/EC2", "EBSIOBalance%", d, "Minimum", 60).points[t] = r(io_balance, 2)
        self.s("AWS/EC2", "EBSByteBalance%", d, "Minimum", 60).points[t] = r(byte_balance, 2)
        if checks:
            self.s("AWS/EC2", "InstanceEBSIOPSExceededCheck", d, "Maximum", 60).points[t] = iops_check
            self.s("AWS/EC2", "InstanceEBSThroughputExceededCheck", d, "Maximum", 60).points[t] = tput_check

    def request(self, start, end):
        return {
            "MetricDataQueries": [s.query() for s in self.series.values()],
            "StartTime": start.strftime("%Y-%m-%dT%H:%M:%SZ"),
            "EndTime": end.strftime("%Y-%m-%dT%H:%M:%SZ"),
        }

    def pages(self, splits, newest_first=True, labels="ours", iso_form=iso):
        """The response split into pages at the given fractions of each
        series (uneven on purpose): a list of response objects."""
        bounds = [0.0] + list(splits) + [1.0]
        pages = []
        for p in range(len(bounds) - 1):
            results = []
            for s in self.series.values():
                times = sorted(s.points, reverse=newest_first)
                a, b = int(len(times) * bounds[p]), int(len(times) * bounds[p + 1])
                chunk = times[a:b]
                lab = {"ours": label(s.ns, s.metric, s.dims), "default": s.metric}[labels]
                results.append({
                    "Id": qid(s.metric, s.dims),
                    "Label": lab,
                    "Timestamps": [iso_form(t) for t in chunk],
                    "Values": [s.points[t] for t in chunk],
                    "StatusCode": "Complete" if p == len(bounds) - 2 else "PartialData",
                })
            page = {"MetricDataResults": results, "Messages": []}
            if p < len(bounds) - 2:
                page["NextToken"] = f"token-{p + 1}"
            pages.append(page)
        return pages


def merged(pages):
    """One response object holding every page, as the AWS CLI prints it."""
    out = {"MetricDataResults": [], "Messages": []}
    for p in pages:
        out["MetricDataResults"].extend(p["MetricDataResults"])
    return out


def write(scenario, name, value, lines=False):
    folder = os.path.join(OUT, scenario)
    os.makedirs(folder, exist_ok=True)
    with open(os.path.join(folder, name), "w") as f:
        if lines:
            for v in value:
                f.write(json.dumps(v) + "\n")
        else:
            json.dump(value, f, indent=2)
            f.write("\n")


def minutes(start, n, step=1):
    return [start + timedelta(minutes=m) for m in range(0, n, step)]


def noise(rng, x, spread=0.05):
    return x * (1.0 + rng.uniform(-spread, spread))


def five_minute_instance(acc, inst, start, n, per_minute, **kw):
    """Basic monitoring: one point per 5 minutes, the totals of its minutes."""
    for t in minutes(start, n, 5):
        window = [per_minute(t + timedelta(minutes=k)) for k in range(5)]
        avg = [sum(w[i] for w in window) / 5 for i in range(4)]
        acc.instance_minute(inst, t, 300, *avg, **kw)


# ---------------------------------------------------------------- scenarios

SEED = {
    "id": "i-0c4f7a1b2d3e4f501",
    "name": "orders-db",
    "type": "m5.large",
    "zone": "eu-west-1a",
    "launch": datetime(2026, 11, 20, 6, 52, 10, tzinfo=timezone.utc),
    "tags": [{"Key": "AWSApplicationMigrationServiceSourceServerID", "Value": "s-0c4f7a1b2d3e4f5a1"}],
    "volumes": [
        {"id": "vol-0c4f7a1b2d3e4f511", "device": "/dev/sda1", "type": "gp3", "size": 30, "iops": 3000,
         "throughput": 125, "snapshot": "snap-0c4f7a1b2d3e4f521"},
        {"id": "vol-0c4f7a1b2d3e4f512", "device": "/dev/sdb", "type": "gp3", "size": 500, "iops": 3000,
         "throughput": 125, "snapshot": "snap-0c4f7a1b2d3e4f522"},
    ],
}
ROOT, DATA = SEED["volumes"][0]["id"], SEED["volumes"][1]["id"]


def seed_initializing():
    name = "seed-1-initializing"
    rng = random.Random(1)
    acc = Account()
    start = datetime(2026, 11, 20, 7, 0, tzinfo=timezone.utc)
    n = 120
    per = {}
    for k, t in enumerate(minutes(start, n)):
        # The database warms its cache from a volume whose blocks still come
        # from S3: reads wait 25-60 ms, so the app cannot ask for more.
        lat = noise(rng, 42 - 12 * math.sin(k / 9.0), 0.15)
        reads = noise(rng, 820, 0.12)
        writes = noise(rng, 95, 0.2)
        acc.volume_minute(SEED["id"], DATA, t, reads, writes, 32, 16, lat, 1.1)
        root_reads = noise(rng, 18, 0.3)
        acc.volume_minute(SEED["id"], ROOT, t, root_reads, noise(rng, 6, 0.3), 16, 8, noise(rng, 0.9, 0.1), 0.8)
        per[t] = (reads + root_reads, writes + 6, (reads * 32 + root_reads * 16) * 1024, (writes * 16 + 6 * 8) * 1024)
    five_minute_instance(acc, SEED["id"], start, n, lambda t: per[t])
    for t in minutes(start, n):
        d = [("InstanceId", SEED["id"])]
        acc.s("AWS/EC2", "InstanceEBSIOPSExceededCheck", d, "Maximum").points[t] = 0
        acc.s("AWS/EC2", "InstanceEBSThroughputExceededCheck", d, "Maximum").points[t] = 0
    write(name, "describe-instances.json", describe_instances([SEED]))
    write(name, "describe-volumes.json", describe_volumes([SEED]))
    write(name, "describe-instance-types.json", describe_instance_types(["m5.large", "m5.xlarge", "m5.2xlarge", "m6i.large", "m6i.xlarge", "m6i.2xlarge"]))
    write(name, "describe-volume-status.json", {"VolumeStatuses": [
        {"VolumeId": ROOT, "AvailabilityZone": "eu-west-1a", "Actions": [], "Events": [],
         "VolumeStatus": {"Status": "ok", "Details": [{"Name": "io-enabled", "Status": "passed"}, {"Name": "io-performance", "Status": "not-applicable"}]},
         "InitializationStatusDetails": {"InitializationType": "default", "Progress": 100}},
        {"VolumeId": DATA, "AvailabilityZone": "eu-west-1a", "Actions": [], "Events": [],
         "VolumeStatus": {"Status": "ok", "Details": [{"Name": "io-enabled", "Status": "passed"}, {"Name": "io-performance", "Status": "not-applicable"}]},
         "InitializationStatusDetails": {"InitializationType": "default", "Progress": 31}},
    ]})
    write(name, "describe-fast-snapshot-restores.json", {"FastSnapshotRestores": []})
    write(name, "events.jsonl", [ebs_initialized(ROOT, datetime(2026, 11, 20, 7, 12, 31, tzinfo=timezone.utc), "7e0b5a52-9d4e-4c61-8f0e-31a2b9c40001")], lines=True)
    write(name, "metrics-request.json", acc.request(start, start + timedelta(minutes=n)))
    # The CLI followed NextToken itself: two pages in one file, newest first.
    write(name, "metrics.json", merged(acc.pages([0.37], newest_first=True)))


def ebs_initialized(volume, t, event_id):
    return {
        "version": "0", "id": event_id, "detail-type": "EBS Volume Notification", "source": "aws.ec2",
        "account": ACCOUNT, "time": t.strftime("%Y-%m-%dT%H:%M:%SZ"), "region": "eu-west-1",
        "resources": [f"arn:aws:ec2:eu-west-1:{ACCOUNT}:volume/{volume}"],
        "detail": {"event": "initializeVolume", "result": "succeeded", "cause": "", "request-id": event_id},
    }


def seed_instance_baseline():
    name = "seed-2-instance-baseline"
    rng = random.Random(2)
    acc = Account()
    start = datetime(2026, 11, 21, 13, 0, tzinfo=timezone.utc)
    n = 120
    baseline_mib = 81.25e6 / 2**20
    spent_at = 52
    inst = dict(SEED, detailed=True)
    for k, t in enumerate(minutes(start, n)):
        if k < spent_at:
            # The nightly report job reads 128 KiB blocks as fast as it can:
            # the gp3's 125 MiB/s holds it while the instance bursts.
            mib = noise(rng, 124.6, 0.003)
            balance = max(0.0, 100.0 * (1 - (k + 1) / spent_at))
            vcheck, icheck = 1, 0
            lat = noise(rng, 6.5, 0.1)
        else:
            # Burst spent: the m5.large's 81.25 MB/s (77.49 MiB/s) baseline.
            mib = noise(rng, baseline_mib * 0.995, 0.003)
            balance = 0.0
            vcheck, icheck = 0, 1
            lat = noise(rng, 9.5, 0.1)
        reads = mib * 1024 / 128
        writes = noise(rng, 40, 0.2)
        acc.volume_minute(SEED["id"], DATA, t, reads, writes, 128, 16, lat, 1.2, tput_check=vcheck)
        root_reads = noise(rng, 10, 0.3)
        acc.volume_minute(SEED["id"], ROOT, t, root_reads, 4, 16, 8, 0.9, 0.8)
        acc.instance_minute(SEED["id"], t, 60, reads + root_reads, writes + 4,
                            (reads * 128 + root_reads * 16) * 1024, (writes * 16 + 32) * 1024,
                            io_balance=100.0, byte_balance=balance, tput_check=icheck)
    write(name, "describe-instances.json", describe_instances([inst]))
    write(name, "describe-volumes.json", describe_volumes([SEED]))
    write(name, "describe-instance-types.json", describe_instance_types(["m5.large", "m5.xlarge", "m5.2xlarge", "m6i.large", "m6i.xlarge", "m6i.2xlarge"]))
    write(name, "describe-volume-status.json", {"VolumeStatuses": [
        {"VolumeId": v, "AvailabilityZone": "eu-west-1a", "Actions": [], "Events": [],
         "VolumeStatus": {"Status": "ok", "Details": [{"Name": "io-enabled", "Status": "passed"}, {"Name": "io-performance", "Status": "not-applicable"}]},
         "InitializationStatusDetails": {"InitializationType": "default", "Progress": 100}} for v in (ROOT, DATA)]})
    write(name, "events.jsonl", [
        ebs_initialized(ROOT, datetime(2026, 11, 20, 7, 12, 31, tzinfo=timezone.utc), "7e0b5a52-9d4e-4c61-8f0e-31a2b9c40001"),
        ebs_initialized(DATA, datetime(2026, 11, 20, 10, 41, 7, tzinfo=timezone.utc), "7e0b5a52-9d4e-4c61-8f0e-31a2b9c40002"),
    ], lines=True)
    write(name, "metrics-request.json", acc.request(start, start + timedelta(minutes=n)))
    # Oldest first (ScanBy TimestampAscending), one file per page, saved
    # with --no-paginate and --starting-token.
    for p, page in enumerate(acc.pages([0.21, 0.68], newest_first=False, iso_form=lambda t: t.strftime("%Y-%m-%dT%H:%M:%SZ"))):
        write(name, f"metrics-page-{p + 1}.json", page)


def simple(name, region_zone, inst_type, other_types, volumes, n, start, fill, *, request="cli-input-json",
           labels="ours", newest_first=True, splits=(0.5,), nitro_instance=True, extra=None):
    inst = {"id": volumes["instance"], "name": volumes["name"], "type": inst_type, "zone": region_zone,
            "launch": start - timedelta(days=3), "volumes": volumes["volumes"], "detailed": True}
    acc = Account()
    rng = random.Random(name)
    for k, t in enumerate(minutes(start, n)):
        fill(acc, inst, k, t, rng)
    write(name, "describe-instances.json", describe_instances([inst]))
    write(name, "describe-volumes.json", describe_volumes([inst]))
    write(name, "describe-instance-types.json", describe_instance_types([inst_type] + other_types))
    if request == "cli-input-json":
        write(name, "metrics-request.json", acc.request(start, start + timedelta(minutes=n)))
    elif request == "bare-list":
        write(name, "metric-data-queries.json", acc.request(start, start + timedelta(minutes=n))["MetricDataQueries"])
    write(name, "metrics.json", merged(acc.pages(list(splits), newest_first=newest_first, labels=labels)))
    if extra:
        extra(name, acc, inst)
    return acc, inst


def volume_iops_limit():
    vid = "vol-0d2e3f4a5b6c7d811"

    def fill(acc, inst, k, t, rng):
        # A PostgreSQL checkpoint storm from 09:10 to 10:25: the 3,000 IOPS
        # gp3 is the ceiling (8 KiB pages).
        busy = 10 <= k < 86
        total = 3000 * noise(rng, 0.997, 0.002) if busy else noise(rng, 1400, 0.2)
        reads, writes = total * 0.35, total * 0.65
        lat = noise(rng, 7.5 if busy else 1.1, 0.1)
        acc.volume_minute(inst["id"], vid, t, reads, writes, 8, 8, lat, lat, iops_check=1 if busy else 0)
        acc.instance_minute(inst["id"], t, 60, reads, writes, reads * 8192, writes * 8192)

    simple("volume-iops-limit", "us-east-1a", "r5.2xlarge", ["r5.4xlarge"],
           {"instance": "i-0d2e3f4a5b6c7d801", "name": "billing-pg",
            "volumes": [{"id": vid, "device": "/dev/sdf", "type": "gp3", "size": 400, "iops": 3000, "throughput": 125}]},
           120, datetime(2026, 11, 18, 9, 0, tzinfo=timezone.utc), fill,
           request="bare-list", labels="default", newest_first=True, splits=(0.13, 0.77))


def volume_throughput_limit():
    vid = "vol-0e3f4a5b6c7d8e911"

    def fill(acc, inst, k, t, rng):
        # Nightly scans of 1 MiB blocks hold the gp3's 250 MiB/s from 02:20
        # to 03:04; no Nitro check was collected: demand at 95 % of the
        # ceiling says it.
        busy = 20 <= k < 65
        mib = 250 * noise(rng, 0.985, 0.01) if busy else noise(rng, 40, 0.3)
        reads = mib
        acc.volume_minute(inst["id"], vid, t, reads, noise(rng, 20, 0.2), 1024, 64, noise(rng, 12 if busy else 2, 0.1),
                          1.0, nitro=False)

    simple("volume-throughput-limit", "us-east-1b", "m6i.2xlarge", [],
           {"instance": "i-0e3f4a5b6c7d8e901", "name": "warehouse-etl",
            "volumes": [{"id": vid, "device": "/dev/sdf", "type": "gp3", "size": 1000, "iops": 6000, "throughput": 250}]},
           90, datetime(2026, 11, 19, 2, 0, tzinfo=timezone.utc), fill,
           request=None, labels="ours", newest_first=False, splits=(0.61,))


def volume_burst_exhausted():
    vid = "vol-0f4a5b6c7d8e9fa11"
    credits = {"left": 5.4e6}

    def fill(acc, inst, k, t, rng):
        # A log shipper writes 1,500 IOPS to a 100 GiB gp2 (300 IOPS
        # baseline, 3,000 burst): 5.4 million credits last 75 minutes.
        want = noise(rng, 1500, 0.03)
        if credits["left"] > 0:
            got = want
            credits["left"] = max(0.0, credits["left"] - (got - 300) * 60)
            check = 0
        else:
            got = 300 * noise(rng, 0.995, 0.003)
            check = 1
        balance = 100.0 * credits["left"] / 5.4e6
        writes, reads = got * 0.9, got * 0.1
        lat = noise(rng, 1.2, 0.1) if check == 0 else noise(rng, 28, 0.1)
        acc.volume_minute(inst["id"], vid, t, reads, writes, 16, 16, lat, lat, burst=balance, iops_check=check)
        acc.instance_minute(inst["id"], t, 60, reads, writes, reads * 16384, writes * 16384)

    simple("volume-burst-exhausted", "us-east-1c", "m5.xlarge", [],
           {"instance": "i-0f4a5b6c7d8e9fa01", "name": "log-shipper",
            "volumes": [{"id": vid, "device": "/dev/xvdf", "type": "gp2", "size": 100, "iops": 300}]},
           180, datetime(2026, 11, 17, 6, 0, tzinfo=timezone.utc), fill, splits=(0.44,))


def instance_throughput_limit():
    v1, v2 = "vol-0a5b6c7d8e9f0a111", "vol-0a5b6c7d8e9f0a112"

    def fill(acc, inst, k, t, rng):
        # An ETL reads two 1,000 MiB/s gp3 volumes at once; the m5.4xlarge
        # carries 593.75 MB/s (566.24 MiB/s) of EBS in all, from 04:10.
        busy = 10 <= k < 50
        cap = 593.75e6 / 2**20
        total = cap * noise(rng, 0.996, 0.002) if busy else noise(rng, 150, 0.2)
        for v, share in ((v1, 0.52), (v2, 0.48)):
            mib = total * share
            acc.volume_minute(inst["id"], v, t, mib, 2, 1024, 64, noise(rng, 14 if busy else 2.5, 0.1), 1.0)
        acc.instance_minute(inst["id"], t, 60, total, 4, total * 2**20, 4 * 65536, tput_check=1 if busy else 0)

    simple("instance-ebs-throughput-limit", "eu-central-1a", "m5.4xlarge", ["m5.8xlarge", "m6i.4xlarge", "r5.4xlarge"],
           {"instance": "i-0a5b6c7d8e9f0a101", "name": "etl-worker",
            "volumes": [{"id": v1, "device": "/dev/sdf", "type": "gp3", "size": 1000, "iops": 4000, "throughput": 1000},
                        {"id": v2, "device": "/dev/sdg", "type": "gp3", "size": 1000, "iops": 4000, "throughput": 1000}]},
           60, datetime(2026, 11, 16, 4, 0, tzinfo=timezone.utc), fill, splits=(0.3,))


def instance_iops_limit():
    vols = ["vol-0b6c7d8e9f0a1b211", "vol-0b6c7d8e9f0a1b212", "vol-0b6c7d8e9f0a1b213"]

    def fill(acc, inst, k, t, rng):
        # Three 8,000 IOPS gp3 shards of a key-value store; the c5.4xlarge
        # carries 20,000 IOPS in all.
        busy = 15 <= k < 45
        total = 20000 * noise(rng, 0.997, 0.002) if busy else noise(rng, 6000, 0.15)
        for v in vols:
            each = total / 3
            acc.volume_minute(inst["id"], v, t, each * 0.7, each * 0.3, 8, 8, noise(rng, 3.5 if busy else 0.8, 0.1), 1.0)
        acc.instance_minute(inst["id"], t, 60, total * 0.7, total * 0.3, total * 0.7 * 8192, total * 0.3 * 8192,
                            iops_check=1 if busy else 0)

    simple("instance-ebs-iops-limit", "ap-southeast-2a", "c5.4xlarge", ["c5.9xlarge", "c6i.4xlarge", "c6i.8xlarge"],
           {"instance": "i-0b6c7d8e9f0a1b201", "name": "kv-store-3",
            "volumes": [{"id": v, "device": d, "type": "gp3", "size": 500, "iops": 8000, "throughput": 250}
                        for v, d in zip(vols, ["/dev/sdf", "/dev/sdg", "/dev/sdh"])]},
           60, datetime(2026, 11, 15, 20, 0, tzinfo=timezone.utc), fill, newest_first=False, splits=(0.5,))


def volume_io_stalled():
    vid = "vol-0c7d8e9f0a1b2c311"

    def fill(acc, inst, k, t, rng):
        # The io2 volume stops answering from 11:20 to 11:31.
        stalled = 20 <= k < 32
        if stalled:
            reads, writes, lat = 0.02, 0.0, 30000.0
        else:
            reads, writes, lat = noise(rng, 2500, 0.1), noise(rng, 900, 0.1), noise(rng, 0.6, 0.1)
        acc.volume_minute(inst["id"], vid, t, reads, writes, 16, 16, lat, lat if writes else 0.0, stalled=1 if stalled else 0)
        acc.instance_minute(inst["id"], t, 60, reads, writes, reads * 16384, writes * 16384)

    def extra(name, acc, inst):
        write(name, "alarm-events.jsonl", [{
            "version": "0", "id": "c4c1c1c9-6542-e61b-6ef0-8c4d36933a92", "detail-type": "CloudWatch Alarm State Change",
            "source": "aws.cloudwatch", "account": ACCOUNT, "time": "2026-11-14T11:22:00Z", "region": "us-west-2",
            "resources": [f"arn:aws:cloudwatch:us-west-2:{ACCOUNT}:alarm:ebs-stalled-io-payments"],
            "detail": {"alarmName": "ebs-stalled-io-payments",
                       "state": {"value": "ALARM", "reason": "Threshold Crossed: 2 datapoints were greater than or equal to the threshold (1.0).",
                                 "timestamp": "2026-11-14T11:22:00.000+0000"},
                       "previousState": {"value": "OK", "timestamp": "2026-11-10T09:00:00.000+0000"},
                       "configuration": {"metrics": [{"id": "m1", "metricStat": {"metric": {"namespace": "AWS/EBS", "name": "VolumeStalledIOCheck",
                                                                                              "dimensions": {"InstanceId": inst["id"], "VolumeId": vid}},
                                                                                   "period": 60, "stat": "Maximum"}, "returnData": True}]}},
        }], lines=True)

    simple("volume-io-stalled", "us-west-2a", "m6i.xlarge", [],
           {"instance": "i-0c7d8e9f0a1b2c301", "name": "payments-api",
            "volumes": [{"id": vid, "device": "/dev/sdf", "type": "io2", "size": 200, "iops": 10000}]},
           60, datetime(2026, 11, 14, 11, 0, tzinfo=timezone.utc), fill, splits=(0.8,), extra=extra)


def not_ebs_bound():
    vid = "vol-0d8e9f0a1b2c3d411"

    def fill(acc, inst, k, t, rng):
        reads, writes = noise(rng, 380, 0.25), noise(rng, 120, 0.25)
        acc.volume_minute(inst["id"], vid, t, reads, writes, 24, 16, noise(rng, 0.8, 0.2), noise(rng, 1.1, 0.2))

    def extra(name, acc, inst):
        # Basic monitoring for the instance; the same response saved twice.
        per = {}
        s = {key: ser for key, ser in acc.series.items()}
        for t in minutes(datetime(2026, 11, 13, 15, 0, tzinfo=timezone.utc), 120):
            rd = s[("AWS/EBS", "VolumeReadOps", (("VolumeId", vid),))].points[t] / 60
            wr = s[("AWS/EBS", "VolumeWriteOps", (("VolumeId", vid),))].points[t] / 60
            per[t] = (rd, wr, rd * 24 * 1024, wr * 16 * 1024)
        inst_acc = Account()
        five_minute_instance(inst_acc, inst["id"], datetime(2026, 11, 13, 15, 0, tzinfo=timezone.utc), 120, lambda t: per[t])
        write(name, "instance-metrics.json", merged(inst_acc.pages([0.5])))
        write(name, "metrics-again.json", merged(acc.pages([0.5])))

    simple("not-ebs-bound", "eu-west-1b", "m6i.large", [],
           {"instance": "i-0d8e9f0a1b2c3d401", "name": "web-frontend",
            "volumes": [{"id": vid, "device": "/dev/xvda", "type": "gp3", "size": 100, "iops": 3000, "throughput": 125}]},
           120, datetime(2026, 11, 13, 15, 0, tzinfo=timezone.utc), fill, request=None, splits=(0.5,), extra=extra)


def insufficient_data():
    name = "insufficient-data"
    vid = "vol-0e9f0a1b2c3d4e511"
    inst = {"id": "i-0e9f0a1b2c3d4e501", "name": "legacy-app", "type": "m4.large", "zone": "us-east-2a",
            "launch": datetime(2026, 11, 1, 0, 0, tzinfo=timezone.utc),
            "volumes": [{"id": vid, "device": "/dev/xvda"}]}
    acc = Account()
    rng = random.Random(name)
    start = datetime(2026, 11, 12, 8, 0, tzinfo=timezone.utc)
    for t in minutes(start, 60):
        # A Xen instance: no Nitro metrics; only what was at hand was saved.
        acc.volume_minute(inst["id"], vid, t, noise(rng, 480, 0.2), noise(rng, 60, 0.2), 16, 16, noise(rng, 2.0, 0.2), 1.0, nitro=False)
    write(name, "describe-instances.json", describe_instances([inst]))
    write(name, "metrics.json", merged(acc.pages([0.5], labels="ours")))


def main():
    seed_initializing()
    seed_instance_baseline()
    volume_iops_limit()
    volume_throughput_limit()
    volume_burst_exhausted()
    instance_throughput_limit()
    instance_iops_limit()
    volume_io_stalled()
    not_ebs_bound()
    insufficient_data()


if __name__ == "__main__":
    main()
