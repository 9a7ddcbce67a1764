#!/usr/bin/env python3
"""Writes a synthetic preflight input for benchmarks.

Usage: make_preflight.py OUT_DIR [INSTANCES] [KEYS] [ROLES]   (default 1000 20 10)

Authorization details for ROLES roles (half allowed kms:CreateGrant, some with a
boundary, one with an explicit deny), KEYS keys with key policies of three
shapes (root delegation, named roles, aws/ebs style), INSTANCES instances with
one or two encrypted volumes each, and one CloudTrail StartInstances call per
role naming its share of the instances. Deterministic (fixed seed).
"""
import json
import os
import random
import sys

out = sys.argv[1]
n_inst = int(sys.argv[2]) if len(sys.argv) > 2 else 1000
n_keys = int(sys.argv[3]) if len(sys.argv) > 3 else 20
n_roles = int(sys.argv[4]) if len(sys.argv) > 4 else 10
rng = random.Random(20261203)
A, R = "111122223333", "eu-west-1"
os.makedirs(out, exist_ok=True)


def key_arn(k):
    return f"arn:aws:kms:{R}:{A}:key/0000{k:04x}-1111-4222-8333-444455556666"


def role_arn(r):
    return f"arn:aws:iam::{A}:role/bench/role-{r}"


def doc(*st):
    return {"Version": "2012-10-17", "Statement": list(st)}


roles, policies = [], []
boundary = f"arn:aws:iam::{A}:policy/bench-boundary"
policies.append({"PolicyName": "bench-boundary", "Arn": boundary, "DefaultVersionId": "v1",
                 "PolicyVersionList": [{"VersionId": "v1", "IsDefaultVersion": True,
                                        "Document": doc({"Effect": "Allow", "Action": ["ec2:*", "s3:*"], "Resource": "*"})}]})
for r in range(n_roles):
    inline = [{"PolicyName": "start-stop", "PolicyDocument": doc(
        {"Sid": "StartStop", "Effect": "Allow", "Action": ["ec2:StartInstances", "ec2:StopInstances"], "Resource": "*"})}]
    if r % 2 == 0:
        inline.append({"PolicyName": "ebs-kms", "PolicyDocument": doc(
            {"Sid": "EbsGrants", "Effect": "Allow", "Action": "kms:CreateGrant",
             "Resource": [key_arn(k) for k in range(n_keys) if (k + r) % 3 != 0],
             "Condition": {"Bool": {"kms:GrantIsForAWSResource": "true"}}})})
    if r == n_roles - 1:
        inline.append({"PolicyName": "deny", "PolicyDocument": doc(
            {"Sid": "DenyKms", "Effect": "Deny", "Action": "kms:*", "NotResource": key_arn(0)})})
    role = {"Path": "/bench/", "RoleName": f"role-{r}", "Arn": role_arn(r), "RolePolicyList": inline,
            "AttachedManagedPolicies": [], "Tags": [{"Key": "team", "Value": f"t{r % 3}"}]}
    if r % 5 == 1:
        role["PermissionsBoundary"] = {"PermissionsBoundaryType": "Policy", "PermissionsBoundaryArn": boundary}
    roles.append(role)
json.dump({"RoleDetailList": roles, "UserDetailList": [], "GroupDetailList": [], "Policies": policies},
          open(f"{out}/authorization-details.json", "w"))

root = {"Sid": "Enable IAM User Permissions", "Effect": "Allow", "Principal": {"AWS": f"arn:aws:iam::{A}:root"},
        "Action": "kms:*", "Resource": "*"}
with open(f"{out}/key-policies.jsonl", "w") as kp, open(f"{out}/keys.jsonl", "w") as kd:
    for k in range(n_keys):
        shape = k % 3
        if shape == 0:
            policy = doc(root)
        elif shape == 1:
            named = [role_arn(r) for r in range(n_roles) if (r + k) % 2 == 0]
            policy = doc({"Sid": "Allow attachment of persistent resources", "Effect": "Allow",
                          "Principal": {"AWS": named}, "Action": ["kms:CreateGrant", "kms:ListGrants", "kms:RevokeGrant"],
                          "Resource": "*", "Condition": {"Bool": {"kms:GrantIsForAWSResource": True}}})
        else:
            policy = doc({"Sid": "EBS", "Effect": "Allow", "Principal": {"AWS": "*"},
                          "Action": ["kms:CreateGrant", "kms:Decrypt", "kms:DescribeKey"], "Resource": "*",
                          "Condition": {"StringEquals": {"kms:CallerAccount": A, "kms:ViaService": f"ec2.{R}.amazonaws.com"}}})
        kp.write(json.dumps({"KeyArn": key_arn(k), "Policy": json.dumps(policy)}) + "\n")
        state = "Disabled" if k == n_keys - 1 else "Enabled"
        kd.write(json.dumps({"KeyMetadata": {"Arn": key_arn(k), "KeyState": state, "KeyManager": "CUSTOMER"}}) + "\n")

instances, volumes, starts = [], [], {r: [] for r in range(n_roles)}
for i in range(n_inst):
    iid = f"i-{i:017x}"
    vols = []
    for v in range(rng.choice([1, 1, 2])):
        vid = f"vol-{i * 2 + v:017x}"
        vols.append(vid)
        volumes.append({"VolumeId": vid, "KmsKeyId": key_arn(rng.randrange(n_keys)), "Encrypted": True,
                        "Attachments": [{"InstanceId": iid, "VolumeId": vid, "State": "attached"}]})
    instances.append({"InstanceId": iid, "State": {"Name": "stopped"}, "Placement": {"AvailabilityZone": f"{R}a"},
                      "BlockDeviceMappings": [{"DeviceName": "/dev/xvda", "Ebs": {"VolumeId": v}} for v in vols],
                      "Tags": [{"Key": "Name", "Value": f"bench-{i}"}]})
    starts[i % n_roles].append(iid)
json.dump({"Reservations": [{"OwnerId": A, "Instances": instances}]}, open(f"{out}/describe-instances.json", "w"))
json.dump({"Volumes": volumes}, open(f"{out}/describe-volumes.json", "w"))
records = []
for r, ids in starts.items():
    records.append({"eventVersion": "1.11", "eventID": f"bench-start-{r}", "eventTime": "2026-12-02T07:00:00Z",
                    "eventSource": "ec2.amazonaws.com", "eventName": "StartInstances", "awsRegion": R, "recipientAccountId": A,
                    "requestID": f"req-{r}",
                    "userIdentity": {"type": "AssumedRole", "arn": f"arn:aws:sts::{A}:assumed-role/role-{r}/s",
                                     "sessionContext": {"sessionIssuer": {"type": "Role", "arn": role_arn(r)}}},
                    "requestParameters": {"instancesSet": {"items": [{"instanceId": x} for x in ids]}}})
json.dump({"Records": records}, open(f"{out}/cloudtrail.json", "w"))
