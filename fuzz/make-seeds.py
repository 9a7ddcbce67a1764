#!/usr/bin/env python3
"""Writes the seed corpus of each fuzz target from the samples in events/.

Usage: python3 fuzz/make-seeds.py   (from the repository root)
Each seed is shaped as its target expects (see fuzz/src/lib.rs): a leading
shape byte, then the input. The fuzzer's own finds are added to the same
folders and the set minimised with `-merge=1` (docs/fuzzing.md).
"""
import gzip
import hashlib
import json
import pathlib

ROOT = pathlib.Path(__file__).resolve().parent.parent
CORPUS = ROOT / "fuzz" / "corpus"
MAX = 64 * 1024  # larger samples add time per run, not coverage


def put(target, data):
    if len(data) > MAX:
        return
    folder = CORPUS / target
    folder.mkdir(parents=True, exist_ok=True)
    (folder / hashlib.sha1(data).hexdigest()).write_bytes(data)


def compact(value):
    return json.dumps(value, separators=(",", ":")).encode()


def trimmed(doc, keep=30):
    """A GetMetricData response or request cut to `keep` datapoints and
    queries (each metric's series and the request's queries are alike)."""
    if isinstance(doc, dict):
        out = {}
        for key, value in doc.items():
            if key in ("Timestamps", "Values", "MetricDataQueries", "MetricDataResults"):
                value = value[:keep]
            out[key] = trimmed(value, keep)
        return out
    if isinstance(doc, list):
        return [trimmed(v, keep) for v in doc[:keep]]
    return doc


EBS = ROOT / "events" / "ebs"
FUZZ_MAX_LEN = 16384  # scripts/fuzz.sh's -max_len: longer seeds are cut
for path in sorted(EBS.rglob("*.json")):
    raw = path.read_bytes()
    if len(raw) <= FUZZ_MAX_LEN:
        put("ebs_document", raw)
    for keep in (30, 12, 5, 2):
        seed = compact(trimmed(json.loads(raw), keep))
        if len(seed) <= FUZZ_MAX_LEN:
            put("ebs_document", seed)
            break

for path in sorted(ROOT.joinpath("events").rglob("*")):
    if not path.is_file() or path.suffix not in (".json", ".jsonl", ".gz"):
        continue
    if EBS in path.parents:  # inputs of `start-doctor ebs`: its own target
        continue
    raw = path.read_bytes()
    plain = gzip.decompress(raw) if path.suffix == ".gz" else raw
    put("read_document", raw)
    if path.suffix == ".gz":
        put("gzip", b"\x00" + raw[2:])
    else:
        put("gzip", b"\x01" + raw)
    try:
        doc = json.loads(plain)
    except ValueError:
        for line in plain.splitlines():
            if line.strip():
                event = json.loads(line)
                put("eventbridge_envelope", b"\x00" + compact(event))
        continue
    events = doc if isinstance(doc, list) else [doc]
    for event in events:
        if isinstance(event, dict) and "detail-type" in event:
            put("eventbridge_envelope", b"\x00" + compact(event))
            shape = b"\x01" if event.get("source") == "aws.ec2" else b"\x02"
            put("eventbridge_envelope", shape + compact(event.get("detail")))
            if event.get("detail-type") == "AWS API Call via CloudTrail":
                put("cloudtrail_record", b"\x00" + compact(event.get("detail")))
    if isinstance(doc, dict):
        for record in doc.get("Records", [])[:20]:
            put("cloudtrail_record", b"\x00" + compact(record))
        for event in doc.get("Events", []):
            record = json.loads(event.get("CloudTrailEvent", "null"))
            put("cloudtrail_record", b"\x02" + compact(record))
