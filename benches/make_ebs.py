#!/usr/bin/env python3
"""A fleet for the `start-doctor ebs` benchmark: INSTANCES instances with
VOLUMES volumes in all, HOURS hours of 1-minute metrics.

Writes into OUT:
  describe/instances.json, describe/volumes.json, describe/instance-types.json
  requests.jsonl                one get-metric-data request per 500 queries,
                                as `start-doctor ebs query` writes them
  metrics/response-NNN.json     one response per request, every page merged
                                as the AWS CLI prints it, newest first

Every metric `ebs query` asks for is there (8 per instance; per gp3 volume 8
VolumeId and 7 InstanceId+VolumeId metrics, per gp2 volume 9 and 7). The
values follow a few shapes (idle, busy, at a volume limit, at the instance's
baseline), chosen per instance, so the rules have real work to do. Each
series' JSON text is assembled from pre-rendered pieces: generating 2 GB
must not take longer than reading it.

Usage: python3 benches/make_ebs.py OUT [INSTANCES] [VOLUMES] [HOURS]
"""

import json
import os
import sys
from datetime import datetime, timedelta, timezone

OUT = sys.argv[1]
INSTANCES = int(sys.argv[2]) if len(sys.argv) > 2 else 1000
VOLUMES = int(sys.argv[3]) if len(sys.argv) > 3 else 2000
HOURS = int(sys.argv[4]) if len(sys.argv) > 4 else 24
MINUTES = HOURS * 60
START = datetime(2026, 11, 20, 0, 0, tzinfo=timezone.utc)
ACCOUNT = "111122223333"

os.makedirs(os.path.join(OUT, "describe"), exist_ok=True)
os.makedirs(os.path.join(OUT, "metrics"), exist_ok=True)


def iid(n):
    return f"i-0{n:016x}"


def vid(n):
    return f"vol-0{n:016x}"


# Volumes per instance: spread VOLUMES over INSTANCES (2 each by default).
volumes_of = [[] for _ in range(INSTANCES)]
for v in range(VOLUMES):
    volumes_of[v % INSTANCES].append(v)

KINDS = ["idle", "busy", "volume_limit", "instance_baseline"]


def kind(i):
    # Most of a fleet is fine; some of it is not.
    return KINDS[0 if i % 10 < 6 else 1 if i % 10 < 8 else 2 if i % 10 == 8 else 3]


def volume_type(v):
    return "gp2" if v % 7 == 3 else "gp3"


instances = []
for i in range(INSTANCES):
    instances.append({
        "InstanceId": iid(i), "InstanceType": "m5.large", "State": {"Code": 16, "Name": "running"},
        "Placement": {"AvailabilityZone": "eu-west-1a"}, "LaunchTime": "2026-11-01T00:00:00+00:00",
        "BlockDeviceMappings": [{"DeviceName": f"/dev/sd{chr(97 + k)}", "Ebs": {"VolumeId": vid(v), "Status": "attached"}}
                                for k, v in enumerate(volumes_of[i])],
        "Tags": [{"Key": "Name", "Value": f"node-{i}"}],
    })
with open(os.path.join(OUT, "describe", "instances.json"), "w") as f:
    json.dump({"Reservations": [{"OwnerId": ACCOUNT, "Instances": instances[k:k + 50]} for k in range(0, INSTANCES, 50)]}, f)

vols = []
for i in range(INSTANCES):
    for k, v in enumerate(volumes_of[i]):
        t = volume_type(v)
        d = {"VolumeId": vid(v), "VolumeType": t, "Size": 200 if t == "gp3" else 100, "AvailabilityZone": "eu-west-1a",
             "SnapshotId": "", "State": "in-use", "CreateTime": "2026-11-01T00:00:00.000Z",
             "Attachments": [{"InstanceId": iid(i), "Device": f"/dev/sd{chr(97 + k)}", "State": "attached"}]}
        if t == "gp3":
            d.update({"Iops": 3000, "Throughput": 125})
        else:
            d["Iops"] = 300
        vols.append(d)
with open(os.path.join(OUT, "describe", "volumes.json"), "w") as f:
    json.dump({"Volumes": vols}, f)
with open(os.path.join(OUT, "describe", "instance-types.json"), "w") as f:
    json.dump({"InstanceTypes": [{
        "InstanceType": "m5.large", "CurrentGeneration": True, "Hypervisor": "nitro",
        "VCpuInfo": {"DefaultVCpus": 2}, "MemoryInfo": {"SizeInMiB": 8192},
        "ProcessorInfo": {"SupportedArchitectures": ["x86_64"]},
        "EbsInfo": {"EbsOptimizedSupport": "default", "EbsOptimizedInfo": {
            "BaselineBandwidthInMbps": 650, "BaselineThroughputInMBps": 81.25, "BaselineIops": 3600,
            "MaximumBandwidthInMbps": 4750, "MaximumThroughputInMBps": 593.75, "MaximumIops": 18750}}}]}, f)

# Timestamps, newest first (GetMetricData's default), rendered once.
times = [START + timedelta(minutes=m) for m in range(MINUTES)]
TS = json.dumps([t.strftime("%Y-%m-%dT%H:%M:%S+00:00") for t in reversed(times)])


def values(fn):
    return json.dumps([round(fn(m), 2) for m in reversed(range(MINUTES))])


def wave(base, amp, period=97):
    return lambda m: base + amp * ((m * 37) % period) / period


# Value shapes per (kind, metric), rendered once each.
SHAPES = {}


def shape(key, fn):
    if key not in SHAPES:
        SHAPES[key] = values(fn)
    return SHAPES[key]


BUSY = set(range(MINUTES // 3, MINUTES // 3 + 120))


def volume_values(k, metric, vtype):
    """(per-minute total or level) of a volume metric, by instance kind."""
    at = lambda m: m in BUSY
    if k == "idle":
        iops, kib, lat = wave(200, 100), 16, 0.8
    elif k == "busy":
        iops, kib, lat = wave(1500, 600), 32, 1.2
    elif k == "volume_limit":
        iops, kib, lat = (lambda m: 2990.0 if at(m) else 900.0), 8, 1.5
    else:
        iops, kib, lat = (lambda m: 620.0 if at(m) else 300.0), 128, 2.0
    if metric in ("VolumeReadOps", "VolumeWriteOps"):
        return shape((k, metric), lambda m: iops(m) * 60 / 2)
    if metric in ("VolumeReadBytes", "VolumeWriteBytes"):
        return shape((k, metric), lambda m: iops(m) * 60 / 2 * kib * 1024)
    if metric in ("VolumeTotalReadTime", "VolumeTotalWriteTime"):
        return shape((k, metric), lambda m: iops(m) * 60 / 2 * lat / 1000)
    if metric == "VolumeIdleTime":
        return shape((k, metric), lambda m: 30.0)
    if metric == "VolumeQueueLength":
        return shape((k, metric), lambda m: 0.5)
    if metric == "BurstBalance":
        return shape((k, metric, vtype), lambda m: 100.0)
    if metric == "VolumeIOPSExceededCheck":
        return shape((k, metric), lambda m: 1.0 if k == "volume_limit" and at(m) else 0.0)
    if metric in ("VolumeThroughputExceededCheck", "VolumeStalledIOCheck"):
        return shape((k, metric), lambda m: 0.0)
    if metric in ("VolumeAvgReadLatency", "VolumeAvgWriteLatency"):
        return shape((k, metric), lambda m: lat)
    if metric == "VolumeAvgIOPS":
        return shape((k, metric), iops)
    if metric == "VolumeAvgThroughput":
        return shape((k, metric), lambda m: iops(m) * kib)
    raise KeyError(metric)


def instance_values(k, metric, nvol):
    at = lambda m: m in BUSY
    if metric.startswith("EBS") and metric.endswith("Ops"):
        return shape((k, metric, nvol), lambda m: 0.0)  # filled below
    raise KeyError(metric)


BALANCE = {}


def instance_series(k, metric, nvol):
    """Instance metrics consistent with the volumes' (the sum)."""
    key = (k, metric, nvol)
    if key in SHAPES:
        return SHAPES[key]
    at = lambda m: m in BUSY
    per = {"idle": (wave(200, 100), 16), "busy": (wave(1500, 600), 32),
           "volume_limit": ((lambda m: 2990.0 if at(m) else 900.0), 8),
           "instance_baseline": ((lambda m: 620.0 if at(m) else 300.0), 128)}[k]
    iops, kib = per
    if metric in ("EBSReadOps", "EBSWriteOps"):
        fn = lambda m: iops(m) * 60 / 2 * nvol
    elif metric in ("EBSReadBytes", "EBSWriteBytes"):
        fn = lambda m: iops(m) * 60 / 2 * kib * 1024 * nvol
    elif metric == "EBSIOBalance%":
        fn = lambda m: 100.0
    elif metric == "EBSByteBalance%":
        # The baseline kind spends its credits 30 minutes into the busy hours.
        first = min(BUSY)
        fn = lambda m: 0.0 if k == "instance_baseline" and first + 30 <= m < first + 120 else 100.0
    elif metric == "InstanceEBSIOPSExceededCheck":
        fn = lambda m: 0.0
    else:
        first = min(BUSY)
        fn = lambda m: 1.0 if k == "instance_baseline" and first + 30 <= m < first + 120 else 0.0
    SHAPES[key] = values(fn)
    return SHAPES[key]


VOLUME_METRICS = ["VolumeReadOps", "VolumeWriteOps", "VolumeReadBytes", "VolumeWriteBytes", "VolumeTotalReadTime",
                  "VolumeTotalWriteTime", "VolumeIdleTime", "VolumeQueueLength", "BurstBalance"]
PAIR_METRICS = ["VolumeIOPSExceededCheck", "VolumeThroughputExceededCheck", "VolumeStalledIOCheck",
                "VolumeAvgReadLatency", "VolumeAvgWriteLatency", "VolumeAvgIOPS", "VolumeAvgThroughput"]
INSTANCE_METRICS = ["EBSReadOps", "EBSWriteOps", "EBSReadBytes", "EBSWriteBytes", "EBSIOBalance%",
                    "EBSByteBalance%", "InstanceEBSIOPSExceededCheck", "InstanceEBSThroughputExceededCheck"]
STATS = {"VolumeQueueLength": "Average", "BurstBalance": "Minimum", "EBSIOBalance%": "Minimum",
         "EBSByteBalance%": "Minimum", "VolumeAvgReadLatency": "Average", "VolumeAvgWriteLatency": "Average",
         "VolumeAvgIOPS": "Average", "VolumeAvgThroughput": "Average"}


def qid(metric, dims):
    return "_".join(v.replace("-", "") for _, v in dims) + "_" + "".join(c.lower() for c in metric if c.isalnum())


def series():
    """(namespace, metric, dims, values JSON text) for the whole fleet, in
    `ebs query` order."""
    for i in range(INSTANCES):
        k = kind(i)
        inst = iid(i)
        for metric in INSTANCE_METRICS:
            yield "AWS/EC2", metric, [("InstanceId", inst)], instance_series(k, metric, len(volumes_of[i]))
        for v in volumes_of[i]:
            vtype = volume_type(v)
            for metric in VOLUME_METRICS:
                if metric == "BurstBalance" and vtype != "gp2":
                    continue
                yield "AWS/EBS", metric, [("VolumeId", vid(v))], volume_values(k, metric, vtype)
            for metric in PAIR_METRICS:
                yield "AWS/EBS", metric, [("InstanceId", inst), ("VolumeId", vid(v))], volume_values(k, metric, vtype)


start_s = START.strftime("%Y-%m-%dT%H:%M:%SZ")
end_s = (START + timedelta(minutes=MINUTES)).strftime("%Y-%m-%dT%H:%M:%SZ")
batch, n, total_bytes = [], 0, 0
requests = open(os.path.join(OUT, "requests.jsonl"), "w")


def flush(batch, n):
    global total_bytes
    queries = []
    parts = []
    for ns, metric, dims, vals in batch:
        label = " ".join([ns, metric] + [f"{d}={v}" for d, v in dims])
        q = qid(metric, dims)
        queries.append({"Id": q, "MetricStat": {"Metric": {"Namespace": ns, "MetricName": metric,
                        "Dimensions": [{"Name": d, "Value": v} for d, v in dims]}, "Period": 60,
                        "Stat": STATS.get(metric, "Maximum" if metric.endswith("Check") else "Sum")}, "Label": label})
        parts.append('{"Id": "%s", "Label": "%s", "Timestamps": %s, "Values": %s, "StatusCode": "Complete"}' % (q, label, TS, vals))
    requests.write(json.dumps({"MetricDataQueries": queries, "StartTime": start_s, "EndTime": end_s}) + "\n")
    path = os.path.join(OUT, "metrics", f"response-{n:03d}.json")
    with open(path, "w") as f:
        f.write('{"MetricDataResults": [\n')
        f.write(",\n".join(parts))
        f.write('\n], "Messages": []}\n')
    total_bytes += os.path.getsize(path)


count = 0
for s in series():
    batch.append(s)
    count += 1
    if len(batch) == 500:
        flush(batch, n)
        batch, n = [], n + 1
if batch:
    flush(batch, n)
    n += 1
requests.close()
print(f"{INSTANCES} instances, {VOLUMES} volumes, {HOURS} h of 1-minute points: {count} series, "
      f"{count * MINUTES:,} points, {n} responses, {total_bytes / 1e6:,.0f} MB")
