#!/usr/bin/env python3
"""Writes a synthetic CloudTrail S3 archive for benchmarks.

Usage: make_archive.py OUT_DIR [TOTAL_MB] [FILES] [ACCOUNTS] [DAYS]

Realistic records (EC2, S3, STS, KMS calls with full userIdentity and request
parameters), mostly noise, with a few denied EC2 CreateGrant calls so the
investigation has something to find. Deterministic (fixed seed).

With ACCOUNTS and DAYS, an organization trail's layout
(AWSLogs/o-exampleorg/<account>/CloudTrail/<region>/2026/11/<dd>/) of
ACCOUNTS accounts over the DAYS days ending 2026-11-20, TOTAL_MB and FILES
spread evenly over them. To keep generation fast, each account's first day
is generated and the other days are copies with their dates (and so their
event ids' owners' days) rewritten; files are gzipped at level 6 as
CloudTrail's are.
"""
import gzip
import json
import os
import random
import sys
import uuid

out_dir = sys.argv[1]
total_mb = float(sys.argv[2]) if len(sys.argv) > 2 else 200
files = int(sys.argv[3]) if len(sys.argv) > 3 else 20
accounts = int(sys.argv[4]) if len(sys.argv) > 4 else 1
days = int(sys.argv[5]) if len(sys.argv) > 5 else 1
rng = random.Random(20261120)
ACCOUNT = "111122223333"
REGION = "eu-west-1"
ROLE = f"arn:aws:iam::{ACCOUNT}:role/instance-scheduler-job"
KEY = f"arn:aws:kms:{REGION}:{ACCOUNT}:key/3f0c5a8e-6b1d-4e27-9a4c-2d7e81b05f63"


def uid():
    return str(uuid.UUID(int=rng.getrandbits(128)))


def identity(role="app-role"):
    return {
        "type": "AssumedRole",
        "principalId": "AROAEXAMPLE:session",
        "arn": f"arn:aws:sts::{ACCOUNT}:assumed-role/{role}/session",
        "accountId": ACCOUNT,
        "accessKeyId": "ASIAEXAMPLE",
        "sessionContext": {
            "sessionIssuer": {"type": "Role", "principalId": "AROAEXAMPLE", "arn": f"arn:aws:iam::{ACCOUNT}:role/{role}",
                              "accountId": ACCOUNT, "userName": role},
            "attributes": {"creationDate": "2026-11-20T06:00:00Z", "mfaAuthenticated": "false"},
        },
    }


def base(source, name, t, role="app-role"):
    return {
        "eventVersion": "1.09", "userIdentity": identity(role), "eventTime": t, "eventSource": source,
        "eventName": name, "awsRegion": REGION, "sourceIPAddress": "10.0.0.12",
        "userAgent": "aws-sdk-go-v2/1.30.0 os/linux lang/go#1.22 md/GOOS#linux api/ec2#1.160.0",
        "requestID": uid(), "eventID": uid(), "readOnly": True, "eventType": "AwsApiCall",
        "managementEvent": True, "recipientAccountId": ACCOUNT, "eventCategory": "Management",
        "tlsDetails": {"tlsVersion": "TLSv1.3", "cipherSuite": "TLS_AES_128_GCM_SHA256",
                       "clientProvidedHostHeader": f"ec2.{REGION}.amazonaws.com"},
    }


def noise(t):
    kind = rng.random()
    if kind < 0.4:
        r = base("ec2.amazonaws.com", "DescribeInstances", t)
        r["requestParameters"] = {"instancesSet": {}, "filterSet": {"items": [{"name": "tag:Env", "valueSet": {"items": [{"value": "prod"}]}}]}}
        r["responseElements"] = None
    elif kind < 0.7:
        r = base("kms.amazonaws.com", "Decrypt", t)
        r["requestParameters"] = {"encryptionAlgorithm": "SYMMETRIC_DEFAULT",
                                  "encryptionContext": {"aws:lambda:FunctionArn": f"arn:aws:lambda:{REGION}:{ACCOUNT}:function:app"}}
        r["responseElements"] = None
        r["resources"] = [{"accountId": ACCOUNT, "type": "AWS::KMS::Key", "ARN": KEY}]
    elif kind < 0.9:
        r = base("sts.amazonaws.com", "AssumeRole", t)
        r["requestParameters"] = {"roleArn": f"arn:aws:iam::{ACCOUNT}:role/app-role", "roleSessionName": "session", "durationSeconds": 3600}
        r["responseElements"] = {"credentials": {"accessKeyId": "ASIAEXAMPLE", "sessionToken": "x" * 200, "expiration": "Nov 20, 2026, 8:00:00 AM"}}
    else:
        r = base("s3.amazonaws.com", "GetBucketAcl", t)
        r["requestParameters"] = {"bucketName": "app-bucket", "Host": "app-bucket.s3.eu-west-1.amazonaws.com", "acl": ""}
        r["responseElements"] = None
    return r


def denial(n, t):
    instance = f"i-0b{n:015x}"
    r = base("kms.amazonaws.com", "CreateGrant", t, "instance-scheduler-job")
    r.update({"sourceIPAddress": "AWS Internal", "userAgent": "AWS Internal", "readOnly": False,
              "errorCode": "AccessDenied",
              "errorMessage": f"User: arn:aws:sts::{ACCOUNT}:assumed-role/instance-scheduler-job/session is not authorized to perform: kms:CreateGrant on resource: {KEY} because no identity-based policy allows the kms:CreateGrant action",
              "requestParameters": {"keyId": KEY, "granteePrincipal": f"{ACCOUNT}:aws:ec2-infrastructure:{instance}",
                                    "constraints": {"encryptionContextSubset": {"aws:ebs:id": f"vol-0b{n:015x}"}},
                                    "retiringPrincipal": f"ec2.{REGION}.amazonaws.com", "operations": ["Decrypt"]},
              "responseElements": None,
              "resources": [{"accountId": ACCOUNT, "type": "AWS::KMS::Key", "ARN": KEY}]})
    return r


def day_texts(count, per_file):
    """`count` log file texts of about `per_file` bytes, for 2026-11-20."""
    global denials
    texts = []
    for f in range(count):
        records, size = [], 0
        while size < per_file:
            t = f"2026-11-20T{7 + f % 10:02d}:{rng.randrange(60):02d}:{rng.randrange(60):02d}Z"
            r = denial(denials, t) if rng.random() < 0.0005 else noise(t)
            denials += r.get("errorCode") == "AccessDenied"
            text = json.dumps(r, separators=(",", ":"))
            size += len(text) + 1
            records.append(text)
        texts.append('{"Records":[' + ",".join(records) + "]}")
    return texts


per_day = max(1, files // (accounts * days))
per_file = int(total_mb * 1024 * 1024 / (per_day * accounts * days))
denials = 0
written = 0
for a in range(accounts):
    account = ACCOUNT if a == 0 else f"{444455556666 + a:012d}"
    texts = [t.replace(ACCOUNT, account) for t in day_texts(per_day, per_file)]
    for d in range(days):
        dd = 20 - d
        root = ["AWSLogs"] if accounts == 1 else ["AWSLogs", "o-exampleorg"]
        day = os.path.join(out_dir, *root, account, "CloudTrail", REGION, "2026", "11", f"{dd:02d}")
        os.makedirs(day, exist_ok=True)
        for f, text in enumerate(texts):
            if d:
                text = text.replace("2026-11-20T", f"2026-11-{dd:02d}T")
            path = os.path.join(day, f"{account}_CloudTrail_{REGION}_202611{dd:02d}T{f % 24:02d}{f // 24 % 60:02d}Z_{uid()[:16]}.json.gz")
            with gzip.open(path, "wt", compresslevel=6) as out:
                out.write(text)
            written += 1
print(f"{written} files, {total_mb:.0f} MB of JSON, {accounts} accounts x {days} days, "
      f"{denials} denied grants a day, in {out_dir}")
