#!/usr/bin/env python3
"""Generates the `storm` scenario: 200 instances started by the scheduler role in 4 StartInstances
calls of 50, every volume on the same customer managed key, every EC2 CreateGrant denied
("no identity-based policy allows the kms:CreateGrant action"), every instance pending -> stopped.

Deterministic (fixed seed, gzip mtime 0): running it again rewrites byte-identical files.
Writes, next to this script:
  state-changes.jsonl                      400 EventBridge state-change events, shuffled
  cloudtrail/<trail log name>.json.gz      {"Records": [...]}: 4 StartInstances, 200 CreateGrant denials, noise
  expected.json                            200 diagnoses
Usage: python3 generate.py
"""
import glob
import gzip
import hashlib
import io
import json
import os
import random
import uuid

HERE = os.path.dirname(os.path.abspath(__file__))
SEED = 20261120
rng = random.Random(SEED)

ACCOUNT = "111122223333"
REGION = "eu-west-1"
ROLE_NAME = "instance-scheduler-job"
ROLE_ARN = f"arn:aws:iam::{ACCOUNT}:role/{ROLE_NAME}"
ROLE_ID = "AROARZ5BGZQ4KT7WD3MNQ"
SESSION = "scheduler-run-20261120"
STS_ARN = f"arn:aws:sts::{ACCOUNT}:assumed-role/{ROLE_NAME}/{SESSION}"
ACCESS_KEY = "ASIARZ5BGZQ4WQ2KXN7P"
JOB_SERVER_IP = "203.0.113.24"
N_INSTANCES = 200
BATCH = 50


def uid():
    return str(uuid.UUID(int=rng.getrandbits(128), version=4))


def alnum(n, alphabet="ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789"):
    return "".join(rng.choice(alphabet) for _ in range(n))


def ts(sec):
    """Seconds after 2026-11-20T00:00:00Z -> CloudTrail timestamp."""
    return f"2026-11-20T{sec // 3600:02d}:{sec % 3600 // 60:02d}:{sec % 60:02d}Z"


KEY_ARN = f"arn:aws:kms:{REGION}:{ACCOUNT}:key/{uid()}"
APP_KEY = f"arn:aws:kms:{REGION}:{ACCOUNT}:key/5b8d2e91-4c3a-47f0-8e16-a9d03c7b2e44"
T0 = 7 * 3600 + 5  # 07:00:05Z, first StartInstances


def cli_ua(command):
    return ("aws-cli/2.22.4 md/awscrt#0.22.0 ua/2.0 os/linux#6.1.112-124.190.amzn2023.x86_64 md/arch#x86_64 "
            "lang/python#3.12.6 md/pyimpl#CPython cfg/retry-mode#standard md/installer#exe md/distrib#amzn.2023 "
            f"md/prompt#off md/command#{command}")


def role_identity(role_name, role_id, session, access_key, created, ec2_role_delivery=False):
    ctx = {"sessionIssuer": {"type": "Role", "principalId": role_id,
                             "arn": f"arn:aws:iam::{ACCOUNT}:role/{role_name}", "accountId": ACCOUNT,
                             "userName": role_name}}
    if not ec2_role_delivery:
        ctx["webIdFederationData"] = {}
    ctx["attributes"] = {"creationDate": created, "mfaAuthenticated": "false"}
    if ec2_role_delivery:
        ctx["ec2RoleDelivery"] = "2.0"
    return {"type": "AssumedRole", "principalId": f"{role_id}:{session}",
            "arn": f"arn:aws:sts::{ACCOUNT}:assumed-role/{role_name}/{session}", "accountId": ACCOUNT,
            "accessKeyId": access_key, "sessionContext": ctx}


def scheduler():
    return role_identity(ROLE_NAME, ROLE_ID, SESSION, ACCESS_KEY, "2026-11-20T07:00:01Z")


def finish(rec, request_id, read_only, resources=None, host=None, category="Management"):
    rec["requestID"] = request_id
    rec["eventID"] = uid()
    rec["readOnly"] = read_only
    if resources is not None:
        rec["resources"] = resources
    rec["eventType"] = "AwsApiCall"
    rec["managementEvent"] = category == "Management"
    rec["recipientAccountId"] = ACCOUNT
    rec["eventCategory"] = category
    if host:
        rec["tlsDetails"] = {"tlsVersion": "TLSv1.3", "cipherSuite": "TLS_AES_128_GCM_SHA256",
                             "clientProvidedHostHeader": host}
    return rec


def start_instances(instance_ids, sec, request_id):
    rec = {
        "eventVersion": "1.09", "userIdentity": scheduler(), "eventTime": ts(sec),
        "eventSource": "ec2.amazonaws.com", "eventName": "StartInstances", "awsRegion": REGION,
        "sourceIPAddress": JOB_SERVER_IP, "userAgent": cli_ua("ec2.start-instances"),
        "requestParameters": {"instancesSet": {"items": [{"instanceId": i} for i in instance_ids]}},
        "responseElements": {"requestId": request_id, "instancesSet": {"items": [
            {"instanceId": i, "currentState": {"code": 0, "name": "pending"},
             "previousState": {"code": 80, "name": "stopped"}} for i in instance_ids]}},
    }
    return finish(rec, request_id, False, host=f"ec2.{REGION}.amazonaws.com")


def create_grant_denied(instance_id, volume_id, sec, request_id):
    rec = {
        "eventVersion": "1.09", "userIdentity": scheduler(), "eventTime": ts(sec),
        "eventSource": "kms.amazonaws.com", "eventName": "CreateGrant", "awsRegion": REGION,
        "sourceIPAddress": "AWS Internal", "userAgent": "AWS Internal",
        "errorCode": "AccessDenied",
        "errorMessage": (f"User: {STS_ARN} is not authorized to perform: kms:CreateGrant on resource: {KEY_ARN} "
                         "because no identity-based policy allows the kms:CreateGrant action"),
        "requestParameters": {
            "keyId": KEY_ARN,
            "granteePrincipal": f"{ACCOUNT}:aws:ec2-infrastructure:{instance_id}",
            "constraints": {"encryptionContextSubset": {"aws:ebs:id": volume_id}},
            "retiringPrincipal": f"ec2.{REGION}.amazonaws.com",
            "operations": ["Decrypt"],
        },
        "responseElements": None,
    }
    return finish(rec, request_id, False, resources=[{"accountId": ACCOUNT, "type": "AWS::KMS::Key", "ARN": KEY_ARN}])


def state_change(instance_id, state, sec):
    return {"version": "0", "id": uid(), "detail-type": "EC2 Instance State-change Notification",
            "source": "aws.ec2", "account": ACCOUNT, "time": ts(sec), "region": REGION,
            "resources": [f"arn:aws:ec2:{REGION}:{ACCOUNT}:instance/{instance_id}"],
            "detail": {"instance-id": instance_id, "state": state}}


# ------------------------------------------------------------------ noise

APP_INSTANCES = ["i-0b7e1f2a3c4d50101", "i-0b7e1f2a3c4d50102", "i-0b7e1f2a3c4d50103"]


def app_role(n):
    return role_identity("app-instance-role", "AROARZ5BGZQ4Q8B6TW5HY", APP_INSTANCES[n],
                         "ASIARZ5BGZQ4" + alnum(8, "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567"),
                         "2026-11-20T04:58:17Z", ec2_role_delivery=True)


def noise_assume_role(sec):
    job = role_identity("job-server-instance-role", "AROARZ5BGZQ4F3PXN2KDL", "i-0fe1d2c3b4a596870",
                        "ASIARZ5BGZQ4C7M2P4RT", "2026-11-20T05:12:40Z", ec2_role_delivery=True)
    rec = {"eventVersion": "1.08", "userIdentity": job, "eventTime": ts(sec), "eventSource": "sts.amazonaws.com",
           "eventName": "AssumeRole", "awsRegion": REGION, "sourceIPAddress": JOB_SERVER_IP,
           "userAgent": cli_ua("sts.assume-role"),
           "requestParameters": {"roleArn": ROLE_ARN, "roleSessionName": SESSION, "durationSeconds": 3600},
           "responseElements": {"credentials": {"accessKeyId": ACCESS_KEY, "sessionToken": "IQoJb3JpZ2luX2VjE" + alnum(40),
                                                "expiration": "Nov 20, 2026, 8:00:01 AM"},
                                "assumedRoleUser": {"assumedRoleId": f"{ROLE_ID}:{SESSION}", "arn": STS_ARN}}}
    return finish(rec, uid(), True, resources=[{"accountId": ACCOUNT, "type": "AWS::IAM::Role", "ARN": ROLE_ARN}],
                  host=f"sts.{REGION}.amazonaws.com")


def noise_describe_instances(sec, token=None):
    req = {"instancesSet": {}, "filterSet": {"items": [
        {"name": "tag:Schedule", "valueSet": {"items": [{"value": "office-hours"}]}}]}}
    if token:
        req["nextToken"] = token
    rec = {"eventVersion": "1.09", "userIdentity": scheduler(), "eventTime": ts(sec),
           "eventSource": "ec2.amazonaws.com", "eventName": "DescribeInstances", "awsRegion": REGION,
           "sourceIPAddress": JOB_SERVER_IP, "userAgent": cli_ua("ec2.describe-instances"),
           "requestParameters": req, "responseElements": None}
    return finish(rec, uid(), True, host=f"ec2.{REGION}.amazonaws.com")


def noise_ssm(sec, n):
    ip = ["10.20.1.15", "10.20.1.38", "10.20.2.61"][n]
    rec = {"eventVersion": "1.08", "userIdentity": app_role(n), "eventTime": ts(sec),
           "eventSource": "ssm.amazonaws.com", "eventName": "UpdateInstanceInformation", "awsRegion": REGION,
           "sourceIPAddress": f"34.245.101.{20 + n}",
           "userAgent": "aws-sdk-go/1.55.5 (go1.22.10; linux; amd64) amazon-ssm-agent/3.3.1142.0",
           "requestParameters": {"instanceId": APP_INSTANCES[n], "agentVersion": "3.3.1142.0", "agentStatus": "Active",
                                 "platformType": "Linux", "platformName": "Amazon Linux", "platformVersion": "2023",
                                 "iPAddress": ip, "computerName": f"ip-{ip.replace('.', '-')}.{REGION}.compute.internal",
                                 "agentName": "amazon-ssm-agent", "availabilityZone": "eu-west-1a",
                                 "availabilityZoneId": "euw1-az1", "sSMConnectionChannel": "ssmmessages"},
           "responseElements": None}
    return finish(rec, uid(), False, host=f"ssm.{REGION}.amazonaws.com")


def noise_decrypt(sec):
    ident = role_identity("orders-api-lambda-role", "AROARZ5BGZQ4M4D7RS2LE", "orders-api",
                          "ASIARZ5BGZQ4V5H3LJ8M", "2026-11-20T06:41:02Z")
    rec = {"eventVersion": "1.09", "userIdentity": ident, "eventTime": ts(sec), "eventSource": "kms.amazonaws.com",
           "eventName": "Decrypt", "awsRegion": REGION, "sourceIPAddress": "52.31.204.18",
           "userAgent": ("Boto3/1.35.36 md/Botocore#1.35.36 ua/2.0 os/linux#5.10.227-239.884.amzn2.x86_64 "
                         "md/arch#x86_64 lang/python#3.12.7 md/pyimpl#CPython exec-env/AWS_Lambda_python3.12 "
                         "cfg/retry-mode#legacy Botocore/1.35.36"),
           "requestParameters": {"encryptionContext": {
               "aws:lambda:FunctionArn": f"arn:aws:lambda:{REGION}:{ACCOUNT}:function:orders-api"},
               "encryptionAlgorithm": "SYMMETRIC_DEFAULT"},
           "responseElements": None}
    return finish(rec, uid(), True, resources=[{"accountId": ACCOUNT, "type": "AWS::KMS::Key", "ARN": APP_KEY}])


def noise_s3_get(sec, n):
    key = f"releases/2026-11-19/app-{n}.tar.gz"
    rec = {"eventVersion": "1.10", "userIdentity": app_role(n % 3), "eventTime": ts(sec),
           "eventSource": "s3.amazonaws.com", "eventName": "GetObject", "awsRegion": REGION,
           "sourceIPAddress": f"34.245.101.{20 + n % 3}", "userAgent": "[" + cli_ua("s3.cp") + "]",
           "requestParameters": {"bucketName": "acme-app-artifacts-euw1",
                                 "Host": "acme-app-artifacts-euw1.s3.eu-west-1.amazonaws.com", "key": key},
           "responseElements": None,
           "additionalEventData": {"SignatureVersion": "SigV4", "CipherSuite": "TLS_AES_128_GCM_SHA256",
                                   "bytesTransferredIn": 0, "AuthenticationMethod": "AuthHeader",
                                   "x-amz-id-2": alnum(56), "bytesTransferredOut": 48213}}
    return finish(rec, alnum(16, "0123456789ABCDEF"), True,
                  resources=[{"type": "AWS::S3::Object", "ARN": f"arn:aws:s3:::acme-app-artifacts-euw1/{key}"},
                             {"accountId": ACCOUNT, "type": "AWS::S3::Bucket",
                              "ARN": "arn:aws:s3:::acme-app-artifacts-euw1"}],
                  host="acme-app-artifacts-euw1.s3.eu-west-1.amazonaws.com", category="Data")


def main():
    instances = [f"i-0d{n:015x}" for n in range(1, N_INSTANCES + 1)]
    volumes = {i: f"vol-0ddd{n:013x}" for n, i in enumerate(instances, start=1)}

    records, states = [], []
    records.append(noise_assume_role(T0 - 4))
    records.append(noise_describe_instances(T0 - 3))
    records.append(noise_describe_instances(T0 - 2, token="eyJ2IjoiMiIsImMiOiJ" + alnum(24)))
    for b in range(N_INSTANCES // BATCH):
        batch = instances[b * BATCH:(b + 1) * BATCH]
        sec = T0 + 2 * b
        req = uid()
        records.append(start_instances(batch, sec, req))
        for iid in batch:
            records.append(create_grant_denied(iid, volumes[iid], sec + rng.randint(1, 3), req))
            states.append(state_change(iid, "pending", sec + rng.randint(1, 2)))
            states.append(state_change(iid, "stopped", sec + rng.randint(14, 30)))
    for k in range(40):
        sec = 6 * 3600 + 58 * 60 + k * 9 + rng.randint(0, 5)
        kind = k % 4
        if kind == 0:
            records.append(noise_ssm(sec, k % 3))
        elif kind == 1:
            records.append(noise_decrypt(sec))
        elif kind == 2:
            records.append(noise_s3_get(sec, k))
        else:
            records.append(noise_ssm(sec, (k + 1) % 3))
    rng.shuffle(records)
    rng.shuffle(states)

    with open(os.path.join(HERE, "state-changes.jsonl"), "w") as f:
        for ev in states:
            f.write(json.dumps(ev, separators=(",", ":")) + "\n")

    ct_dir = os.path.join(HERE, "cloudtrail")
    os.makedirs(ct_dir, exist_ok=True)
    for old in glob.glob(os.path.join(ct_dir, "*.json.gz")):
        os.remove(old)
    name = f"{ACCOUNT}_CloudTrail_{REGION}_20261120T0710Z_{alnum(16)}.json.gz"
    buf = io.BytesIO()
    with gzip.GzipFile(filename="", mode="wb", fileobj=buf, mtime=0) as gz:
        gz.write(json.dumps({"Records": records}, separators=(",", ":")).encode())
    with open(os.path.join(ct_dir, name), "wb") as f:
        f.write(buf.getvalue())

    expected = {"diagnoses": [
        {"instance_id": iid, "cause": "kms_identity_policy_missing", "principal_arn": ROLE_ARN,
         "kms_key_arn": KEY_ARN, "volume_ids": [volumes[iid]], "state_reason_code": None}
        for iid in sorted(instances)]}
    with open(os.path.join(HERE, "expected.json"), "w") as f:
        json.dump(expected, f, indent=2)
        f.write("\n")
    digest = hashlib.sha256(buf.getvalue()).hexdigest()[:12]
    print(f"wrote {len(states)} state changes, {len(records)} CloudTrail records ({name}, sha256 {digest}…), "
          f"{len(expected['diagnoses'])} expected diagnoses")


if __name__ == "__main__":
    main()
