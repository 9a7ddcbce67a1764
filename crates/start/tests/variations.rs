//! Realistic variations of the inputs an outside checker would try: the seed
//! story in every format AWS and its CLIs produce, in any order and
//! delivered more than once, the KMS record shapes seen in the wild, other
//! ways a start fails, and the things that must yield no diagnosis at all.
//!
//! Every input is built here with `serde_json::json!`; the seed story is the
//! one of `events/seed-story` (DESIGN.md §1): the scheduler role starts
//! `web-1` and `reports-db` in one call, and `reports-db` goes pending ->
//! stopped because no identity policy allows the role `kms:CreateGrant` on
//! the CMK of its volume.

use std::collections::BTreeSet;
use std::io::Write;

use flate2::write::GzEncoder;
use flate2::Compression;
use serde_json::{json, Value};
use start_doctor_start::{diagnose, read_document, render, Diagnosis, Evidence, EvidenceSet};
use start_doctor_testkit::fixtures::{expected, pinned_diagnoses};
use start_doctor_testkit::schema::assert_diagnoses_valid;

// ---- the cast ----

const ACCOUNT: &str = "111122223333";
const REGION: &str = "eu-west-1";
const ROLE_ARN: &str = "arn:aws:iam::111122223333:role/instance-scheduler-job";
const SESSION_ARN: &str =
    "arn:aws:sts::111122223333:assumed-role/instance-scheduler-job/scheduler-run-20261120";
const USER_ARN: &str = "arn:aws:iam::111122223333:user/ops-alice";
const KEY_ID: &str = "3f0c5a8e-6b1d-4e27-9a4c-2d7e81b05f63";
const KEY_ARN: &str = "arn:aws:kms:eu-west-1:111122223333:key/3f0c5a8e-6b1d-4e27-9a4c-2d7e81b05f63";
const AWS_EBS_KEY_ARN: &str =
    "arn:aws:kms:eu-west-1:111122223333:key/7c2e9b14-0d5a-4f8e-b3a1-96e4c0d2f815";
const WEB_1: &str = "i-0a1b2c3d4e5f60001";
const WEB_1_VOL: &str = "vol-0aaa1b2c3d4e50001";
const REPORTS_DB: &str = "i-0a1b2c3d4e5f60002";
const REPORTS_DB_VOL: &str = "vol-0aaa1b2c3d4e50002";
const START_REQUEST: &str = "78004490-1065-4547-b685-069831b48bb4";
const START_EVENT: &str = "9f34b847-0279-48b1-bbf3-7296e4335690";
const GRANT_EVENT: &str = "3d239675-acda-452d-bff6-043cbbcf52a6";

// ---- building blocks ----

/// The scheduler's assumed-role identity, as CloudTrail writes it.
fn assumed_role_identity() -> Value {
    json!({
        "type": "AssumedRole",
        "principalId": "AROARZ5BGZQ4KT7WD3MNQ:scheduler-run-20261120",
        "arn": SESSION_ARN,
        "accountId": ACCOUNT,
        "accessKeyId": "ASIARZ5BGZQ4WQ2KXN7P",
        "sessionContext": {
            "sessionIssuer": {
                "type": "Role",
                "principalId": "AROARZ5BGZQ4KT7WD3MNQ",
                "arn": ROLE_ARN,
                "accountId": ACCOUNT,
                "userName": "instance-scheduler-job"
            },
            "webIdFederationData": {},
            "attributes": {"creationDate": "2026-11-20T07:00:01Z", "mfaAuthenticated": "false"}
        }
    })
}

/// An assumed-role identity with only the STS session ARN (no
/// `sessionContext`), as some trails and tools trim it.
fn session_only_identity() -> Value {
    json!({
        "type": "AssumedRole",
        "principalId": "AROARZ5BGZQ4KT7WD3MNQ:scheduler-run-20261120",
        "arn": SESSION_ARN,
        "accountId": ACCOUNT
    })
}

fn iam_user_identity() -> Value {
    json!({
        "type": "IAMUser",
        "principalId": "AIDARZ5BGZQ4EXAMPLE01",
        "arn": USER_ARN,
        "accountId": ACCOUNT,
        "accessKeyId": "AKIARZ5BGZQ4EXAMPLE1",
        "userName": "ops-alice"
    })
}

/// An `EC2 Instance State-change Notification`.
fn state_change(id: &str, instance: &str, state: &str, time: &str) -> Value {
    json!({
        "version": "0",
        "id": id,
        "detail-type": "EC2 Instance State-change Notification",
        "source": "aws.ec2",
        "account": ACCOUNT,
        "time": time,
        "region": REGION,
        "resources": [format!("arn:aws:ec2:{REGION}:{ACCOUNT}:instance/{instance}")],
        "detail": {"instance-id": instance, "state": state}
    })
}

/// A CloudTrail record as EventBridge delivers it.
fn via_eventbridge(id: &str, record: &Value) -> Value {
    let source = record["eventSource"]
        .as_str()
        .and_then(|s| s.strip_suffix(".amazonaws.com"))
        .map_or_else(|| "aws.unknown".to_owned(), |s| format!("aws.{s}"));
    json!({
        "version": "0",
        "id": id,
        "detail-type": "AWS API Call via CloudTrail",
        "source": source,
        "account": ACCOUNT,
        "time": record["eventTime"],
        "region": REGION,
        "resources": [],
        "detail": record
    })
}

/// A successful `StartInstances` record.
fn start_instances(
    event_id: &str,
    request_id: &str,
    instances: &[&str],
    time: &str,
    identity: Value,
) -> Value {
    let items: Vec<Value> = instances.iter().map(|i| json!({"instanceId": i})).collect();
    let started: Vec<Value> = instances
        .iter()
        .map(|i| {
            json!({
                "instanceId": i,
                "currentState": {"code": 0, "name": "pending"},
                "previousState": {"code": 80, "name": "stopped"}
            })
        })
        .collect();
    json!({
        "eventVersion": "1.09",
        "userIdentity": identity,
        "eventTime": time,
        "eventSource": "ec2.amazonaws.com",
        "eventName": "StartInstances",
        "awsRegion": REGION,
        "sourceIPAddress": "203.0.113.24",
        "userAgent": "aws-cli/2.22.4 md/command#ec2.start-instances",
        "requestParameters": {"instancesSet": {"items": items}},
        "responseElements": {"requestId": request_id, "instancesSet": {"items": started}},
        "requestID": request_id,
        "eventID": event_id,
        "readOnly": false,
        "eventType": "AwsApiCall",
        "managementEvent": true,
        "recipientAccountId": ACCOUNT,
        "eventCategory": "Management"
    })
}

/// `User: <who> is not authorized to perform: <action> on resource: <key> <reason>`.
fn not_authorized(who: &str, action: &str, key: &str, reason: &str) -> String {
    format!("User: {who} is not authorized to perform: {action} on resource: {key} {reason}")
}

fn because_no_identity_policy(action: &str) -> String {
    format!("because no identity-based policy allows the {action} action")
}

/// A failed KMS call made by EC2 for the caller (`AWS Internal`).
fn kms_failure(
    event_id: &str,
    api: &str,
    request_id: &str,
    time: &str,
    code: &str,
    message: &str,
    parameters: Value,
) -> Value {
    json!({
        "eventVersion": "1.09",
        "userIdentity": assumed_role_identity(),
        "eventTime": time,
        "eventSource": "kms.amazonaws.com",
        "eventName": api,
        "awsRegion": REGION,
        "sourceIPAddress": "AWS Internal",
        "userAgent": "AWS Internal",
        "errorCode": code,
        "errorMessage": message,
        "requestParameters": parameters,
        "responseElements": null,
        "requestID": request_id,
        "eventID": event_id,
        "readOnly": api != "CreateGrant",
        "resources": [{"accountId": ACCOUNT, "type": "AWS::KMS::Key", "ARN": KEY_ARN}],
        "eventType": "AwsApiCall",
        "managementEvent": true,
        "recipientAccountId": ACCOUNT,
        "eventCategory": "Management"
    })
}

/// EC2's `CreateGrant` for attaching `volume` to `instance`, denied because
/// no identity policy allows it.
fn create_grant_denied(
    event_id: &str,
    request_id: &str,
    instance: &str,
    volume: &str,
    time: &str,
) -> Value {
    kms_failure(
        event_id,
        "CreateGrant",
        request_id,
        time,
        "AccessDenied",
        &not_authorized(
            SESSION_ARN,
            "kms:CreateGrant",
            KEY_ARN,
            &because_no_identity_policy("kms:CreateGrant"),
        ),
        json!({
            "keyId": KEY_ARN,
            "granteePrincipal": format!("{ACCOUNT}:aws:ec2-infrastructure:{instance}"),
            "constraints": {"encryptionContextSubset": {"aws:ebs:id": volume}},
            "retiringPrincipal": format!("ec2.{REGION}.amazonaws.com"),
            "operations": ["Decrypt"]
        }),
    )
}

/// One instance as `aws ec2 describe-instances` shows it.
struct Described<'a> {
    id: &'a str,
    name: &'a str,
    state: &'a str,
    reason: Option<&'a str>,
    volumes: &'a [&'a str],
}

fn describe_instances(instances: &[Described]) -> Value {
    let reservations: Vec<Value> = instances
        .iter()
        .map(|i| {
            let mappings: Vec<Value> = i
                .volumes
                .iter()
                .map(|v| json!({"DeviceName": "/dev/xvda", "Ebs": {"Status": "attached", "VolumeId": v}}))
                .collect();
            let mut instance = json!({
                "InstanceId": i.id,
                "InstanceType": "r6i.large",
                "Placement": {"AvailabilityZone": "eu-west-1a"},
                "State": {"Code": 80, "Name": i.state},
                "BlockDeviceMappings": mappings,
                "Tags": [{"Key": "Name", "Value": i.name}]
            });
            if let Some(code) = i.reason {
                let message = match code {
                    "Client.InternalError" => "Client.InternalError: Client error on launch".to_owned(),
                    other => format!("{other}: {other}"),
                };
                instance["StateReason"] = json!({"Code": code, "Message": message});
            }
            json!({"OwnerId": ACCOUNT, "ReservationId": "r-0f37122d9b1a848e4", "Instances": [instance]})
        })
        .collect();
    json!({"Reservations": reservations})
}

fn describe_volumes(volumes: &[(&str, &str, &str)]) -> Value {
    let volumes: Vec<Value> = volumes
        .iter()
        .map(|(volume, key, instance)| {
            json!({
                "Attachments": [{"Device": "/dev/xvda", "InstanceId": instance, "State": "attached", "VolumeId": volume}],
                "AvailabilityZone": "eu-west-1a",
                "Encrypted": true,
                "KmsKeyId": key,
                "State": "in-use",
                "VolumeId": volume
            })
        })
        .collect();
    json!({"Volumes": volumes})
}

fn describe_key(arn: &str, state: &str) -> Value {
    json!({"KeyMetadata": {"AWSAccountId": ACCOUNT, "KeyId": arn.rsplit('/').next(), "Arn": arn, "KeyState": state, "KeyManager": "CUSTOMER"}})
}

/// The seed story, piece by piece.
struct SeedStory {
    state_changes: Vec<Value>,
    start: Value,
    grant: Value,
    describe_instances: Value,
    describe_volumes: Value,
}

fn seed_story() -> SeedStory {
    SeedStory {
        state_changes: vec![
            state_change(
                "f5c4fb03-e33e-42f2-a340-3ebdab4dde90",
                WEB_1,
                "pending",
                "2026-11-20T07:00:06Z",
            ),
            state_change(
                "b01a4880-e452-4044-93fc-76205e7a5b14",
                REPORTS_DB,
                "pending",
                "2026-11-20T07:00:06Z",
            ),
            state_change(
                "e06c57d7-2711-42a7-9c73-b6c4f3122f54",
                REPORTS_DB,
                "stopping",
                "2026-11-20T07:00:10Z",
            ),
            state_change(
                "ba739baa-9a0b-46d4-bf35-b3821d41a3e5",
                WEB_1,
                "running",
                "2026-11-20T07:00:21Z",
            ),
            state_change(
                "9c945762-8fb4-4b7f-841f-db7402756e09",
                REPORTS_DB,
                "stopped",
                "2026-11-20T07:00:26Z",
            ),
        ],
        start: start_instances(
            START_EVENT,
            START_REQUEST,
            &[WEB_1, REPORTS_DB],
            "2026-11-20T07:00:05Z",
            assumed_role_identity(),
        ),
        grant: create_grant_denied(
            GRANT_EVENT,
            START_REQUEST,
            REPORTS_DB,
            REPORTS_DB_VOL,
            "2026-11-20T07:00:06Z",
        ),
        describe_instances: describe_instances(&[
            Described {
                id: WEB_1,
                name: "web-1",
                state: "running",
                reason: None,
                volumes: &[WEB_1_VOL],
            },
            Described {
                id: REPORTS_DB,
                name: "reports-db",
                state: "stopped",
                reason: Some("Client.InternalError"),
                volumes: &[REPORTS_DB_VOL],
            },
        ]),
        describe_volumes: describe_volumes(&[
            (WEB_1_VOL, AWS_EBS_KEY_ARN, WEB_1),
            (REPORTS_DB_VOL, KEY_ARN, REPORTS_DB),
        ]),
    }
}

impl SeedStory {
    /// The CloudTrail records: StartInstances, then the denied CreateGrant.
    fn records(&self) -> Vec<Value> {
        vec![self.start.clone(), self.grant.clone()]
    }

    /// Every event as EventBridge delivers it, in arrival order.
    fn events(&self) -> Vec<Value> {
        let mut events = self.state_changes.clone();
        events.insert(
            0,
            via_eventbridge("08f459a4-9f28-4c7d-82a8-e5a1aaca9e22", &self.start),
        );
        events.insert(
            2,
            via_eventbridge("7e3abf7f-075d-4576-93f2-106f945510bb", &self.grant),
        );
        events
    }

    /// The describe-instances and describe-volumes documents.
    fn describe_documents(&self) -> Vec<Vec<u8>> {
        vec![
            pretty(&self.describe_instances),
            pretty(&self.describe_volumes),
        ]
    }
}

// ---- encodings ----

fn compact(value: &Value) -> Vec<u8> {
    serde_json::to_vec(value).expect("JSON serialises")
}

fn pretty(value: &Value) -> Vec<u8> {
    serde_json::to_vec_pretty(value).expect("JSON serialises")
}

fn json_lines(values: &[Value]) -> Vec<u8> {
    values
        .iter()
        .flat_map(|v| [compact(v), b"\n".to_vec()])
        .flatten()
        .collect()
}

fn crlf(bytes: &[u8]) -> Vec<u8> {
    String::from_utf8_lossy(bytes)
        .replace('\n', "\r\n")
        .into_bytes()
}

fn with_bom(bytes: &[u8]) -> Vec<u8> {
    [b"\xEF\xBB\xBF".as_slice(), bytes].concat()
}

fn gzip(bytes: &[u8]) -> Vec<u8> {
    let mut encoder = GzEncoder::new(Vec::new(), Compression::default());
    encoder.write_all(bytes).expect("gzip in memory");
    encoder.finish().expect("gzip in memory")
}

/// One document split across `members` concatenated gzip members, as
/// parallel compressors and `cat a.gz b.gz` produce.
fn multi_member_gzip(bytes: &[u8], members: usize) -> Vec<u8> {
    let size = bytes.len().div_ceil(members);
    bytes.chunks(size).flat_map(gzip).collect()
}

fn cloudtrail_log(records: &[Value]) -> Value {
    json!({"Records": records})
}

/// `aws cloudtrail lookup-events` output: each record as a JSON string.
fn lookup_events(records: &[Value]) -> Value {
    let events: Vec<Value> = records
        .iter()
        .map(|r| {
            json!({
                "EventId": r["eventID"],
                "EventName": r["eventName"],
                "ReadOnly": "false",
                "EventTime": r["eventTime"],
                "EventSource": r["eventSource"],
                "Username": "scheduler-run-20261120",
                "Resources": [],
                "CloudTrailEvent": r.to_string()
            })
        })
        .collect();
    json!({"Events": events})
}

/// A deterministic shuffle (xorshift), so a failure can be replayed.
fn shuffled<T: Clone>(items: &[T], seed: u64) -> Vec<T> {
    let mut state = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    let mut out = items.to_vec();
    for i in (1..out.len()).rev() {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        let j = usize::try_from(state % (i as u64 + 1)).expect("index fits");
        out.swap(i, j);
    }
    out
}

// ---- running the core and checking the contract ----

fn read(scenario: &str, n: usize, bytes: &[u8]) -> Vec<Evidence> {
    let document = read_document(bytes)
        .unwrap_or_else(|e| panic!("{scenario}: document #{n} is unreadable: {e}"));
    assert!(
        document.problems.is_empty(),
        "{scenario}: document #{n} is well formed but gave warnings: {:?}",
        document.problems
    );
    document.evidence
}

/// Reads every document, diagnoses, and checks what holds for any output:
/// it validates against the schema, names each instance once and each
/// evidence event once.
fn diagnose_documents(scenario: &str, documents: &[Vec<u8>]) -> Vec<Diagnosis> {
    let set: EvidenceSet = documents
        .iter()
        .enumerate()
        .flat_map(|(n, d)| read(scenario, n, d))
        .collect();
    let diagnoses = diagnose(&set);
    let report: Value =
        serde_json::from_str(&render::json::render(&diagnoses)).expect("the JSON report is JSON");
    assert_diagnoses_valid(scenario, &report);
    let instances: BTreeSet<&str> = diagnoses.iter().map(|d| d.instance_id.as_str()).collect();
    assert_eq!(
        instances.len(),
        diagnoses.len(),
        "{scenario}: more than one diagnosis for an instance"
    );
    for d in &diagnoses {
        let ids: BTreeSet<&String> = d.evidence_event_ids.iter().collect();
        assert_eq!(
            ids.len(),
            d.evidence_event_ids.len(),
            "{scenario}: {} lists an evidence event twice: {:?}",
            d.instance_id,
            d.evidence_event_ids
        );
    }
    diagnoses
}

/// An expected diagnosis with one key in `kms_key_arn` lists it in
/// `kms_key_arns` too (none when it names none), unless it says otherwise.
fn with_key_list(expected: &Value) -> Value {
    let mut expected = expected.clone();
    if let Some(object) = expected.as_object_mut() {
        if !object.contains_key("kms_key_arns") {
            let keys = match object.get("kms_key_arn") {
                Some(Value::String(key)) => json!([key]),
                _ => json!([]),
            };
            object.insert("kms_key_arns".into(), keys);
        }
    }
    expected
}

fn assert_diagnoses(scenario: &str, documents: &[Vec<u8>], expected: &[Value]) -> Vec<Diagnosis> {
    let diagnoses = diagnose_documents(scenario, documents);
    let got = pinned_diagnoses(&diagnoses);
    let expected = Value::Array(expected.iter().map(with_key_list).collect());
    assert_eq!(
        got,
        expected,
        "{scenario}:\n got: {}\nwant: {}",
        serde_json::to_string_pretty(&got).unwrap_or_default(),
        serde_json::to_string_pretty(&expected).unwrap_or_default()
    );
    diagnoses
}

/// What the seed story must come to: reports-db, missing identity policy.
fn reports_db_diagnosis(state_reason_code: Option<&str>) -> Value {
    json!({
        "instance_id": REPORTS_DB,
        "cause": "kms_identity_policy_missing",
        "principal_arn": ROLE_ARN,
        "kms_key_arn": KEY_ARN,
        "volume_ids": [REPORTS_DB_VOL],
        "state_reason_code": state_reason_code,
    })
}

fn seed_expected() -> Vec<Value> {
    vec![reports_db_diagnosis(Some("Client.InternalError"))]
}

/// The events of the seed story in `documents`, plus its describe output.
fn with_describe(seed: &SeedStory, mut documents: Vec<Vec<u8>>) -> Vec<Vec<u8>> {
    documents.extend(seed.describe_documents());
    documents
}

#[test]
fn the_seed_story_built_here_is_the_one_the_oracle_pins() {
    let built = Value::Array(seed_expected().iter().map(with_key_list).collect());
    assert_eq!(expected("seed-story"), built);
}

// ---- the seed story in every format ----

#[test]
fn seed_story_as_single_compact_eventbridge_events() {
    let seed = seed_story();
    let documents = with_describe(&seed, seed.events().iter().map(compact).collect());
    assert_diagnoses(
        "one compact EventBridge event per file",
        &documents,
        &seed_expected(),
    );
}

#[test]
fn seed_story_as_single_pretty_printed_eventbridge_events() {
    let seed = seed_story();
    let documents = with_describe(&seed, seed.events().iter().map(pretty).collect());
    assert_diagnoses(
        "one pretty-printed EventBridge event per file",
        &documents,
        &seed_expected(),
    );
}

#[test]
fn seed_story_as_one_json_array() {
    let seed = seed_story();
    let array = Value::Array(seed.events());
    assert_diagnoses(
        "compact JSON array",
        &with_describe(&seed, vec![compact(&array)]),
        &seed_expected(),
    );
    assert_diagnoses(
        "pretty JSON array",
        &with_describe(&seed, vec![pretty(&array)]),
        &seed_expected(),
    );
}

#[test]
fn seed_story_as_json_lines() {
    let seed = seed_story();
    let lines = json_lines(&seed.events());
    assert_diagnoses(
        "JSON Lines",
        &with_describe(&seed, vec![lines.clone()]),
        &seed_expected(),
    );
    let no_final_newline = lines[..lines.len() - 1].to_vec();
    assert_diagnoses(
        "JSON Lines without a final newline",
        &with_describe(&seed, vec![no_final_newline]),
        &seed_expected(),
    );
    let blank_lines = String::from_utf8_lossy(&lines).replace('\n', "\n\n   \n");
    assert_diagnoses(
        "JSON Lines with blank lines between events",
        &with_describe(&seed, vec![blank_lines.into_bytes()]),
        &seed_expected(),
    );
}

#[test]
fn seed_story_with_windows_line_endings() {
    let seed = seed_story();
    let documents = vec![
        crlf(&json_lines(&seed.events())),
        crlf(&pretty(&seed.describe_instances)),
        crlf(&pretty(&seed.describe_volumes)),
    ];
    assert_diagnoses(
        "JSON Lines and describe output with CRLF",
        &documents,
        &seed_expected(),
    );
    let array = crlf(&pretty(&Value::Array(seed.events())));
    assert_diagnoses(
        "pretty JSON array with CRLF",
        &with_describe(&seed, vec![array]),
        &seed_expected(),
    );
}

#[test]
fn seed_story_with_a_utf8_byte_order_mark() {
    let seed = seed_story();
    let documents: Vec<Vec<u8>> = seed
        .events()
        .iter()
        .map(|e| with_bom(&pretty(e)))
        .chain([
            with_bom(&pretty(&seed.describe_instances)),
            with_bom(&pretty(&seed.describe_volumes)),
        ])
        .collect();
    assert_diagnoses(
        "every file starting with a BOM",
        &documents,
        &seed_expected(),
    );
    let lines = with_bom(&crlf(&json_lines(&seed.events())));
    assert_diagnoses(
        "JSON Lines with BOM and CRLF",
        &with_describe(&seed, vec![lines]),
        &seed_expected(),
    );
    let log = with_bom(&pretty(&cloudtrail_log(&seed.records())));
    let documents = with_describe(&seed, vec![log, json_lines(&seed.state_changes)]);
    assert_diagnoses(
        "CloudTrail log file with a BOM",
        &documents,
        &seed_expected(),
    );
    let gz = gzip(&with_bom(&compact(&cloudtrail_log(&seed.records()))));
    let documents = with_describe(&seed, vec![gz, json_lines(&seed.state_changes)]);
    assert_diagnoses(
        "gzipped CloudTrail log file with a BOM",
        &documents,
        &seed_expected(),
    );
}

#[test]
fn seed_story_as_concatenated_pretty_json_like_jq_prints_it() {
    let seed = seed_story();
    let concatenated: Vec<u8> = seed.events().iter().flat_map(pretty).collect();
    assert_diagnoses(
        "jq '.' output: pretty objects one after another",
        &with_describe(&seed, vec![concatenated]),
        &seed_expected(),
    );
}

#[test]
fn seed_story_as_a_firehose_archive_of_eventbridge_events() {
    // Firehose writes the events back to back, no separator, gzipped.
    let seed = seed_story();
    let back_to_back: Vec<u8> = seed.events().iter().flat_map(compact).collect();
    assert_diagnoses(
        "Firehose .gz of concatenated events",
        &with_describe(&seed, vec![gzip(&back_to_back)]),
        &seed_expected(),
    );
}

#[test]
fn seed_story_from_a_plain_cloudtrail_log_file() {
    let seed = seed_story();
    for (form, log) in [
        ("compact", compact(&cloudtrail_log(&seed.records()))),
        ("pretty", pretty(&cloudtrail_log(&seed.records()))),
    ] {
        let documents = with_describe(&seed, vec![log, json_lines(&seed.state_changes)]);
        assert_diagnoses(
            &format!("{form} CloudTrail log file + state changes"),
            &documents,
            &seed_expected(),
        );
    }
}

#[test]
fn seed_story_from_a_gzipped_cloudtrail_log_file() {
    let seed = seed_story();
    let log = gzip(&compact(&cloudtrail_log(&seed.records())));
    let documents = with_describe(&seed, vec![log, gzip(&json_lines(&seed.state_changes))]);
    assert_diagnoses(
        "gzipped CloudTrail log file + gzipped state changes",
        &documents,
        &seed_expected(),
    );
}

#[test]
fn seed_story_from_a_multi_member_gzip_log_file() {
    let seed = seed_story();
    let log = compact(&cloudtrail_log(&seed.records()));
    for members in [2, 3, 7] {
        let documents = with_describe(
            &seed,
            vec![
                multi_member_gzip(&log, members),
                json_lines(&seed.state_changes),
            ],
        );
        assert_diagnoses(
            &format!("log file split over {members} gzip members"),
            &documents,
            &seed_expected(),
        );
    }
}

#[test]
fn seed_story_from_bare_cloudtrail_records() {
    let seed = seed_story();
    let bare: Vec<Vec<u8>> = seed.records().iter().map(pretty).collect();
    let documents = with_describe(
        &seed,
        [bare, vec![json_lines(&seed.state_changes)]].concat(),
    );
    assert_diagnoses(
        "one bare CloudTrail record per file",
        &documents,
        &seed_expected(),
    );
    let array = compact(&Value::Array(seed.records()));
    let documents = with_describe(&seed, vec![array, json_lines(&seed.state_changes)]);
    assert_diagnoses(
        "jq '.Records' output: an array of bare records",
        &documents,
        &seed_expected(),
    );
    let lines = json_lines(&seed.records());
    let documents = with_describe(&seed, vec![lines, json_lines(&seed.state_changes)]);
    assert_diagnoses(
        "jq -c '.Records[]' output: bare records as JSON Lines",
        &documents,
        &seed_expected(),
    );
}

#[test]
fn seed_story_from_lookup_events_output() {
    let seed = seed_story();
    let documents = with_describe(
        &seed,
        vec![
            pretty(&lookup_events(&seed.records())),
            json_lines(&seed.state_changes),
        ],
    );
    assert_diagnoses(
        "lookup-events with CloudTrailEvent as a JSON string",
        &documents,
        &seed_expected(),
    );
    // Two lookups (by user name, by event name) overlap on the grant.
    let documents = with_describe(
        &seed,
        vec![
            pretty(&lookup_events(&seed.records())),
            pretty(&lookup_events(std::slice::from_ref(&seed.grant))),
            json_lines(&seed.state_changes),
        ],
    );
    assert_diagnoses(
        "two overlapping lookup-events outputs",
        &documents,
        &seed_expected(),
    );
}

#[test]
fn seed_story_from_cloudtrail_alone_still_finds_the_failed_start() {
    // No state changes, no describe output: the denied grant names the
    // instance as grantee, which is enough (cloudtrail-archive's story).
    let seed = seed_story();
    let documents = vec![gzip(&compact(&cloudtrail_log(&seed.records())))];
    assert_diagnoses(
        "CloudTrail log file only",
        &documents,
        &[reports_db_diagnosis(None)],
    );
}

#[test]
fn seed_story_without_describe_output_has_no_state_reason() {
    let seed = seed_story();
    let documents = vec![json_lines(&seed.events())];
    assert_diagnoses(
        "events only, no describe output",
        &documents,
        &[reports_db_diagnosis(None)],
    );
}

#[test]
fn seed_story_with_keys_in_unusual_order() {
    // JSON key order is arbitrary: `detail` may come before `detail-type`
    // and `eventName` before `eventSource`.
    fn reversed(value: &Value) -> Value {
        match value {
            Value::Object(map) => Value::Object(
                map.iter()
                    .rev()
                    .map(|(k, v)| (k.clone(), reversed(v)))
                    .collect(),
            ),
            Value::Array(items) => Value::Array(items.iter().map(reversed).collect()),
            other => other.clone(),
        }
    }
    let seed = seed_story();
    let first_key = |v: &Value| v.as_object().and_then(|m| m.keys().next().cloned());
    let events: Vec<Value> = seed.events().iter().map(reversed).collect();
    assert_eq!(
        first_key(&events[0]).as_deref(),
        Some("detail"),
        "the reversal keeps its order"
    );
    let documents = vec![
        json_lines(&events),
        compact(&reversed(&seed.describe_instances)),
        compact(&reversed(&seed.describe_volumes)),
    ];
    assert_diagnoses(
        "every object with its keys reversed",
        &documents,
        &seed_expected(),
    );
}

// ---- order and redelivery ----

#[test]
fn seed_story_in_reverse_order() {
    let seed = seed_story();
    let mut events = seed.events();
    events.reverse();
    let mut documents = with_describe(&seed, vec![json_lines(&events)]);
    assert_diagnoses(
        "events in reverse order, one file",
        &documents,
        &seed_expected(),
    );
    documents = with_describe(&seed, events.iter().map(compact).collect());
    documents.reverse();
    assert_diagnoses(
        "files in reverse order, describe output first",
        &documents,
        &seed_expected(),
    );
}

#[test]
fn seed_story_in_shuffled_order() {
    let seed = seed_story();
    let mut reference: Option<String> = None;
    for shuffle in 1..=40u64 {
        let events = shuffled(&seed.events(), shuffle);
        let mut documents: Vec<Vec<u8>> = events.iter().map(compact).collect();
        documents.extend(seed.describe_documents());
        let documents = shuffled(&documents, shuffle + 1000);
        let diagnoses =
            assert_diagnoses(&format!("shuffle #{shuffle}"), &documents, &seed_expected());
        // Not only the pinned fields: the whole report is order-independent.
        let rendered = render::json::render(&diagnoses);
        match &reference {
            None => reference = Some(rendered),
            Some(first) => assert_eq!(
                &rendered, first,
                "shuffle #{shuffle}: report differs from shuffle #1"
            ),
        }
    }
}

#[test]
fn seed_story_with_every_event_delivered_twice() {
    let seed = seed_story();
    let events = seed.events();
    let twice: Vec<Value> = events.iter().chain(events.iter()).cloned().collect();
    let once = assert_diagnoses(
        "all events once",
        &with_describe(&seed, vec![json_lines(&events)]),
        &seed_expected(),
    );
    let documents = with_describe(
        &seed,
        vec![json_lines(&twice), compact(&Value::Array(events.clone()))],
    );
    let doubled = assert_diagnoses(
        "every event delivered three times",
        &documents,
        &seed_expected(),
    );
    assert_eq!(
        doubled[0].evidence_event_ids, once[0].evidence_event_ids,
        "redelivery must not add evidence"
    );
    let mut documents = with_describe(&seed, vec![json_lines(&events)]);
    documents.extend(seed.describe_documents());
    assert_diagnoses("describe output given twice", &documents, &seed_expected());
}

#[test]
fn the_same_cloudtrail_record_via_eventbridge_in_a_log_file_and_in_lookup_events() {
    let seed = seed_story();
    let documents = with_describe(
        &seed,
        vec![
            json_lines(&seed.events()),
            gzip(&compact(&cloudtrail_log(&seed.records()))),
            pretty(&lookup_events(std::slice::from_ref(&seed.grant))),
            pretty(&seed.grant),
        ],
    );
    let diagnoses = assert_diagnoses(
        "one grant record arriving four ways",
        &documents,
        &seed_expected(),
    );
    let ids = &diagnoses[0].evidence_event_ids;
    assert_eq!(
        ids.iter().filter(|id| *id == GRANT_EVENT).count(),
        1,
        "grant listed once: {ids:?}"
    );
    assert_eq!(
        ids.iter().filter(|id| *id == START_EVENT).count(),
        1,
        "start listed once: {ids:?}"
    );
}

// ---- KMS record variants ----

#[test]
fn access_denied_exception_means_the_same_as_access_denied() {
    let mut seed = seed_story();
    seed.grant["errorCode"] = json!("AccessDeniedException");
    let documents = with_describe(&seed, vec![json_lines(&seed.events())]);
    assert_diagnoses(
        "errorCode AccessDeniedException",
        &documents,
        &seed_expected(),
    );
}

#[test]
fn a_bare_key_id_becomes_the_key_arn() {
    // keyId as the key's UUID and no resources array: the ARN in the
    // denial message is the key.
    let mut seed = seed_story();
    seed.grant["requestParameters"]["keyId"] = json!(KEY_ID);
    seed.grant
        .as_object_mut()
        .expect("record")
        .remove("resources");
    let documents = with_describe(&seed, vec![json_lines(&seed.events())]);
    assert_diagnoses(
        "keyId as bare UUID, no resources",
        &documents,
        &seed_expected(),
    );
}

#[test]
fn a_bare_key_id_with_nothing_else_is_made_an_arn_from_region_and_account() {
    let mut seed = seed_story();
    seed.grant["requestParameters"]["keyId"] = json!(KEY_ID);
    seed.grant
        .as_object_mut()
        .expect("record")
        .remove("resources");
    seed.grant["errorMessage"] = json!(format!(
        "User: {SESSION_ARN} is not authorized to perform: kms:CreateGrant {}",
        because_no_identity_policy("kms:CreateGrant")
    ));
    let documents = with_describe(&seed, vec![json_lines(&seed.events())]);
    assert_diagnoses(
        "keyId as bare UUID, no resources, no ARN in the message",
        &documents,
        &seed_expected(),
    );
    let documents = vec![json_lines(&seed.events())];
    assert_diagnoses(
        "keyId as bare UUID and no describe-volumes to look the key up in",
        &documents,
        &[reports_db_diagnosis(None)],
    );
}

#[test]
fn an_assumed_role_session_arn_alone_gives_the_role_arn() {
    let mut seed = seed_story();
    seed.start["userIdentity"] = session_only_identity();
    seed.grant["userIdentity"] = session_only_identity();
    let documents = with_describe(&seed, vec![json_lines(&seed.events())]);
    let diagnoses = assert_diagnoses(
        "userIdentity without sessionContext",
        &documents,
        &seed_expected(),
    );
    assert_eq!(
        diagnoses[0]
            .remediation
            .attach_to
            .as_ref()
            .map(|p| p.as_str()),
        Some(ROLE_ARN),
        "the policy goes on the role, not the session"
    );
    // Without the StartInstances record the principal comes from the grant.
    let events: Vec<Value> = seed
        .state_changes
        .iter()
        .cloned()
        .chain([via_eventbridge("ev-grant", &seed.grant)])
        .collect();
    let documents = with_describe(&seed, vec![json_lines(&events)]);
    assert_diagnoses(
        "only the grant names the principal, by session ARN",
        &documents,
        &seed_expected(),
    );
}

#[test]
fn a_role_with_a_path_keeps_its_path() {
    let role = "arn:aws:iam::111122223333:role/service-role/instance-scheduler-job";
    let mut seed = seed_story();
    seed.start["userIdentity"]["sessionContext"]["sessionIssuer"]["arn"] = json!(role);
    seed.grant["userIdentity"]["sessionContext"]["sessionIssuer"]["arn"] = json!(role);
    let documents = with_describe(&seed, vec![json_lines(&seed.events())]);
    let mut expected = seed_expected();
    expected[0]["principal_arn"] = json!(role);
    let diagnoses = assert_diagnoses("role under path service-role/", &documents, &expected);
    let steps = diagnoses[0].remediation.steps.join("\n");
    assert!(
        steps.contains("--role-name instance-scheduler-job "),
        "put-role-policy takes the role name without its path:\n{steps}"
    );
}

#[test]
fn an_iam_user_who_starts_by_hand_gets_the_policy_on_the_user() {
    let mut seed = seed_story();
    seed.start["userIdentity"] = iam_user_identity();
    seed.grant["userIdentity"] = iam_user_identity();
    seed.grant["errorMessage"] = json!(not_authorized(
        USER_ARN,
        "kms:CreateGrant",
        KEY_ARN,
        &because_no_identity_policy("kms:CreateGrant")
    ));
    let documents = with_describe(&seed, vec![json_lines(&seed.events())]);
    let mut expected = seed_expected();
    expected[0]["principal_arn"] = json!(USER_ARN);
    let diagnoses = assert_diagnoses("IAMUser identity", &documents, &expected);
    let remediation = &diagnoses[0].remediation;
    assert_eq!(
        remediation.attach_to.as_ref().map(|p| p.as_str()),
        Some(USER_ARN)
    );
    let steps = remediation.steps.join("\n");
    assert!(
        steps.contains("aws iam put-user-policy --user-name ops-alice"),
        "a user takes a user policy:\n{steps}"
    );
    assert!(
        !steps.contains("put-role-policy"),
        "no role involved:\n{steps}"
    );
}

#[test]
fn a_grant_with_invoked_by_is_the_same_story() {
    let mut seed = seed_story();
    seed.grant["userIdentity"]["invokedBy"] = json!("ec2.amazonaws.com");
    seed.grant["sourceIPAddress"] = json!("ec2.amazonaws.com");
    seed.grant["userAgent"] = json!("ec2.amazonaws.com");
    let documents = with_describe(&seed, vec![json_lines(&seed.events())]);
    assert_diagnoses(
        "userIdentity.invokedBy ec2.amazonaws.com",
        &documents,
        &seed_expected(),
    );
}

/// A KMS `Decrypt` of the volume's key with nothing tying it to the
/// instance but the principal and the time; `made_by_ec2` says whether EC2
/// made it for the role (`invokedBy`) or the role's own script did.
fn lone_decrypt_denial(made_by_ec2: bool) -> Value {
    let mut record = kms_failure(
        "c0ffee00-1111-4222-8333-444455556666",
        "Decrypt",
        "0d15ea5e-0000-4000-8000-000000000001",
        "2026-11-20T07:00:07Z",
        "AccessDenied",
        &not_authorized(
            SESSION_ARN,
            "kms:Decrypt",
            KEY_ARN,
            &because_no_identity_policy("kms:Decrypt"),
        ),
        json!({"encryptionAlgorithm": "SYMMETRIC_DEFAULT"}),
    );
    if made_by_ec2 {
        record["userIdentity"]["invokedBy"] = json!("ec2.amazonaws.com");
        record["sourceIPAddress"] = json!("ec2.amazonaws.com");
        record["userAgent"] = json!("ec2.amazonaws.com");
        record["requestParameters"]["encryptionContext"] = json!({"aws:ebs:id": REPORTS_DB_VOL});
    } else {
        record["sourceIPAddress"] = json!("203.0.113.24");
        record["userAgent"] = json!("aws-cli/2.22.4 md/command#kms.decrypt");
        record["requestParameters"]["encryptionContext"] = json!({"app": "nightly-report"});
    }
    record
}

#[test]
fn a_decrypt_denial_made_by_ec2_for_the_role_is_tied_by_principal_and_time() {
    let seed = seed_story();
    let events: Vec<Value> = seed
        .state_changes
        .iter()
        .cloned()
        .chain([
            via_eventbridge("ev-start", &seed.start),
            via_eventbridge("ev-decrypt", &lone_decrypt_denial(true)),
        ])
        .collect();
    let diagnoses = assert_diagnoses(
        "Decrypt denial with invokedBy, no grantee, other requestID, no describe output",
        &[json_lines(&events)],
        &[reports_db_diagnosis(None)],
    );
    let policy = diagnoses[0]
        .remediation
        .policy
        .as_ref()
        .expect("an identity policy");
    assert_eq!(
        policy["Statement"][0]["Action"], "kms:Decrypt",
        "the fix allows the action that was denied"
    );
}

#[test]
fn a_decrypt_denial_tied_by_the_volume_in_its_encryption_context() {
    // EC2's Decrypt of the volume's data key, denied; describe-volumes says
    // the volume in `aws:ebs:id` is attached to reports-db.
    let seed = seed_story();
    let mut decrypt = kms_failure(
        "dec0de00-1111-4222-8333-444455556666",
        "Decrypt",
        "0d15ea5e-0000-4000-8000-000000000002",
        "2026-11-20T07:00:07Z",
        "AccessDenied",
        &not_authorized(
            SESSION_ARN,
            "kms:Decrypt",
            KEY_ARN,
            &because_no_identity_policy("kms:Decrypt"),
        ),
        json!({"encryptionContext": {"aws:ebs:id": REPORTS_DB_VOL}, "encryptionAlgorithm": "SYMMETRIC_DEFAULT"}),
    );
    decrypt["readOnly"] = json!(true);
    let events: Vec<Value> = seed
        .state_changes
        .iter()
        .cloned()
        .chain([
            via_eventbridge("ev-start", &seed.start),
            via_eventbridge("ev-decrypt", &decrypt),
        ])
        .collect();
    let documents = with_describe(&seed, vec![json_lines(&events)]);
    let diagnoses = assert_diagnoses(
        "Decrypt denial with aws:ebs:id",
        &documents,
        &seed_expected(),
    );
    let d = &diagnoses[0];
    assert!(
        d.evidence_event_ids
            .iter()
            .any(|id| id == "dec0de00-1111-4222-8333-444455556666"),
        "the Decrypt record is evidence"
    );
    let policy = d.remediation.policy.as_ref().expect("an identity policy");
    assert_eq!(
        policy["Statement"][0]["Action"], "kms:Decrypt",
        "the fix allows kms:Decrypt, the action denied"
    );
    assert_eq!(policy["Statement"][0]["Resource"], KEY_ARN);
}

// ---- other ways to fail, and no guessing ----

#[test]
fn a_run_instances_launch_that_fails_on_kms_is_diagnosed() {
    let instance = "i-0b1c2d3e4f5a60020";
    let volume = "vol-0bbb1c2d3e4f60020";
    let request = "5e1f2a3b-aaaa-4bbb-8ccc-000000000020";
    let run = json!({
        "eventVersion": "1.09",
        "userIdentity": assumed_role_identity(),
        "eventTime": "2026-11-20T07:10:02Z",
        "eventSource": "ec2.amazonaws.com",
        "eventName": "RunInstances",
        "awsRegion": REGION,
        "sourceIPAddress": "203.0.113.24",
        "userAgent": "aws-cli/2.22.4 md/command#ec2.run-instances",
        "requestParameters": {
            "instancesSet": {"items": [{"imageId": "ami-0c1b8e2f4a9d3e567", "minCount": 1, "maxCount": 1}]},
            "instanceType": "r6i.large",
            "blockDeviceMapping": {"items": [{"deviceName": "/dev/xvda", "ebs": {"volumeSize": 200, "encrypted": true, "kmsKeyId": KEY_ARN}}]}
        },
        "responseElements": {
            "requestId": request,
            "reservationId": "r-0aa11bb22cc33dd44",
            "ownerId": ACCOUNT,
            "instancesSet": {"items": [{
                "instanceId": instance,
                "imageId": "ami-0c1b8e2f4a9d3e567",
                "currentState": {"code": 0, "name": "pending"},
                "instanceType": "r6i.large"
            }]}
        },
        "requestID": request,
        "eventID": "a1a1a1a1-2222-4333-8444-555566667777",
        "readOnly": false,
        "eventType": "AwsApiCall",
        "managementEvent": true,
        "recipientAccountId": ACCOUNT,
        "eventCategory": "Management"
    });
    let grant = create_grant_denied(
        "b2b2b2b2-2222-4333-8444-555566667777",
        request,
        instance,
        volume,
        "2026-11-20T07:10:04Z",
    );
    let events = vec![
        via_eventbridge("ev-run", &run),
        state_change(
            "c3000000-0000-4000-8000-000000000001",
            instance,
            "pending",
            "2026-11-20T07:10:03Z",
        ),
        via_eventbridge("ev-grant", &grant),
        state_change(
            "c3000000-0000-4000-8000-000000000002",
            instance,
            "shutting-down",
            "2026-11-20T07:10:09Z",
        ),
        state_change(
            "c3000000-0000-4000-8000-000000000003",
            instance,
            "terminated",
            "2026-11-20T07:10:30Z",
        ),
    ];
    let described = describe_instances(&[Described {
        id: instance,
        name: "reports-db-2",
        state: "terminated",
        reason: Some("Client.InternalError"),
        volumes: &[],
    }]);
    let expected = json!({
        "instance_id": instance,
        "cause": "kms_identity_policy_missing",
        "principal_arn": ROLE_ARN,
        "kms_key_arn": KEY_ARN,
        "volume_ids": [volume],
        "state_reason_code": "Client.InternalError",
    });
    let diagnoses = assert_diagnoses(
        "RunInstances: pending -> shutting-down -> terminated",
        &[json_lines(&events), pretty(&described)],
        std::slice::from_ref(&expected),
    );
    assert!(
        diagnoses[0]
            .evidence_event_ids
            .iter()
            .any(|id| id == "a1a1a1a1-2222-4333-8444-555566667777"),
        "the RunInstances call is part of the evidence: {:?}",
        diagnoses[0].evidence_event_ids
    );
    let mut without_describe = expected;
    without_describe["state_reason_code"] = Value::Null;
    assert_diagnoses(
        "RunInstances without describe output",
        &[json_lines(&events)],
        &[without_describe],
    );
}

#[test]
fn two_instances_of_one_call_each_get_their_own_denial() {
    let seed = seed_story();
    let web_1_grant = create_grant_denied(
        "a0a0a0a0-0000-4000-8000-000000000001",
        START_REQUEST,
        WEB_1,
        WEB_1_VOL,
        "2026-11-20T07:00:06Z",
    );
    let events = vec![
        via_eventbridge("ev-start", &seed.start),
        via_eventbridge("ev-grant-2", &seed.grant),
        via_eventbridge("ev-grant-1", &web_1_grant),
        state_change(
            "d1000000-0000-4000-8000-000000000001",
            WEB_1,
            "pending",
            "2026-11-20T07:00:06Z",
        ),
        state_change(
            "d1000000-0000-4000-8000-000000000002",
            REPORTS_DB,
            "pending",
            "2026-11-20T07:00:06Z",
        ),
        state_change(
            "d1000000-0000-4000-8000-000000000003",
            WEB_1,
            "stopped",
            "2026-11-20T07:00:25Z",
        ),
        state_change(
            "d1000000-0000-4000-8000-000000000004",
            REPORTS_DB,
            "stopped",
            "2026-11-20T07:00:26Z",
        ),
    ];
    let volumes = describe_volumes(&[
        (WEB_1_VOL, KEY_ARN, WEB_1),
        (REPORTS_DB_VOL, KEY_ARN, REPORTS_DB),
    ]);
    let web_1 = json!({
        "instance_id": WEB_1,
        "cause": "kms_identity_policy_missing",
        "principal_arn": ROLE_ARN,
        "kms_key_arn": KEY_ARN,
        "volume_ids": [WEB_1_VOL],
        "state_reason_code": null,
    });
    assert_diagnoses(
        "both instances of one StartInstances denied",
        &[json_lines(&events), compact(&volumes)],
        &[web_1, reports_db_diagnosis(None)],
    );
}

fn unexplained(state_reason_code: Option<&str>, principal: Option<&str>) -> Value {
    json!({
        "instance_id": REPORTS_DB,
        "cause": "internal_error_unexplained",
        "principal_arn": principal,
        "kms_key_arn": null,
        "volume_ids": [],
        "state_reason_code": state_reason_code,
    })
}

#[test]
fn a_failed_start_with_no_kms_evidence_is_unexplained_not_guessed() {
    // The volume is on a CMK and the key is fine; nothing in the evidence
    // says KMS failed, so start-doctor must not say it did.
    let seed = seed_story();
    let events: Vec<Value> = seed
        .state_changes
        .iter()
        .cloned()
        .chain([via_eventbridge("ev-start", &seed.start)])
        .collect();
    let documents = with_describe(
        &seed,
        vec![
            json_lines(&events),
            pretty(&describe_key(KEY_ARN, "Enabled")),
        ],
    );
    let diagnoses = assert_diagnoses(
        "pending -> stopped, Client.InternalError, CMK enabled, no KMS error",
        &documents,
        &[unexplained(Some("Client.InternalError"), Some(ROLE_ARN))],
    );
    assert!(diagnoses[0].kms_error.is_none(), "no KMS error to cite");
    assert!(
        diagnoses[0].remediation.policy.is_none(),
        "no policy to propose without a KMS cause"
    );
}

#[test]
fn a_bare_pending_then_stopped_is_unexplained() {
    let seed = seed_story();
    let documents = vec![json_lines(&seed.state_changes)];
    assert_diagnoses("only state changes", &documents, &[unexplained(None, None)]);
}

#[test]
fn a_kms_denial_the_role_got_from_its_own_script_is_not_the_cause() {
    // Same role, same minute, same key, but the role called Decrypt itself
    // from a script: EC2 did not make this call, so it explains nothing.
    let seed = seed_story();
    let events: Vec<Value> = seed
        .state_changes
        .iter()
        .cloned()
        .chain([
            via_eventbridge("ev-start", &seed.start),
            via_eventbridge("ev-script", &lone_decrypt_denial(false)),
        ])
        .collect();
    let documents = with_describe(&seed, vec![json_lines(&events)]);
    assert_diagnoses(
        "the role's own Decrypt denial beside an unexplained failure",
        &documents,
        &[unexplained(Some("Client.InternalError"), Some(ROLE_ARN))],
    );
}

/// Denials that have nothing to do with starting an instance.
fn unrelated_denials() -> Vec<Value> {
    let lambda_identity = json!({
        "type": "AssumedRole",
        "arn": "arn:aws:sts::111122223333:assumed-role/orders-api-lambda-role/orders-api",
        "accountId": ACCOUNT,
        "sessionContext": {"sessionIssuer": {"type": "Role", "arn": "arn:aws:iam::111122223333:role/orders-api-lambda-role"}}
    });
    let lambda_key = "arn:aws:kms:eu-west-1:111122223333:key/5b8d2e91-4c3a-47f0-8e16-a9d03c7b2e44";
    let lambda_decrypt = json!({
        "eventVersion": "1.09",
        "userIdentity": lambda_identity,
        "eventTime": "2026-11-20T07:00:12Z",
        "eventSource": "kms.amazonaws.com",
        "eventName": "Decrypt",
        "awsRegion": REGION,
        "sourceIPAddress": "52.31.204.18",
        "userAgent": "Boto3/1.35.36 exec-env/AWS_Lambda_python3.12",
        "errorCode": "AccessDenied",
        "errorMessage": not_authorized(
            "arn:aws:sts::111122223333:assumed-role/orders-api-lambda-role/orders-api",
            "kms:Decrypt",
            lambda_key,
            &because_no_identity_policy("kms:Decrypt")
        ),
        "requestParameters": {"encryptionContext": {"aws:lambda:FunctionArn": "arn:aws:lambda:eu-west-1:111122223333:function:orders-api"}},
        "requestID": "dec542f3-be46-4729-8e17-3fc54faa93b3",
        "eventID": "bf1b8538-8914-4bcb-b968-6bc6877241f0",
        "readOnly": true,
        "resources": [{"type": "AWS::KMS::Key", "ARN": lambda_key}],
        "recipientAccountId": ACCOUNT
    });
    let s3_denied = json!({
        "eventVersion": "1.10",
        "userIdentity": {"type": "AssumedRole", "arn": "arn:aws:sts::111122223333:assumed-role/app-instance-role/i-0b7e1f2a3c4d50101", "accountId": ACCOUNT},
        "eventTime": "2026-11-20T07:00:31Z",
        "eventSource": "s3.amazonaws.com",
        "eventName": "GetObject",
        "awsRegion": REGION,
        "errorCode": "AccessDenied",
        "errorMessage": "Access Denied",
        "requestParameters": {"bucketName": "acme-app-artifacts-euw1", "key": "finance/q3/ledger.parquet"},
        "requestID": "82C246D0622D98FC",
        "eventID": "0f284a89-2879-4ffa-b555-c273b7764cb1",
        "readOnly": true,
        "recipientAccountId": ACCOUNT
    });
    let mut users_own_grant = kms_failure(
        "9a9a9a9a-0000-4000-8000-000000000009",
        "CreateGrant",
        "9a9a9a9a-0000-4000-8000-00000000000a",
        "2026-11-20T07:00:40Z",
        "AccessDenied",
        &not_authorized(
            USER_ARN,
            "kms:CreateGrant",
            KEY_ARN,
            &because_no_identity_policy("kms:CreateGrant"),
        ),
        json!({"keyId": KEY_ARN, "granteePrincipal": "arn:aws:iam::111122223333:role/orders-api-lambda-role", "operations": ["Decrypt"]}),
    );
    users_own_grant["userIdentity"] = iam_user_identity();
    users_own_grant["sourceIPAddress"] = json!("203.0.113.77");
    users_own_grant["userAgent"] = json!("aws-cli/2.22.4 md/command#kms.create-grant");
    vec![
        via_eventbridge("ev-lambda-decrypt", &lambda_decrypt),
        via_eventbridge("ev-s3", &s3_denied),
        users_own_grant,
    ]
}

#[test]
fn unrelated_denials_yield_nothing() {
    assert_diagnoses(
        "S3 and Lambda denials only",
        &[json_lines(&unrelated_denials())],
        &[],
    );
}

#[test]
fn unrelated_denials_do_not_explain_a_failed_start() {
    let seed = seed_story();
    let events: Vec<Value> = seed
        .state_changes
        .iter()
        .cloned()
        .chain([via_eventbridge("ev-start", &seed.start)])
        .chain(unrelated_denials())
        .collect();
    let documents = with_describe(&seed, vec![json_lines(&events)]);
    assert_diagnoses(
        "a failed start among S3 and Lambda denials",
        &documents,
        &[unexplained(Some("Client.InternalError"), Some(ROLE_ARN))],
    );
}

#[test]
fn normal_stops_yield_nothing() {
    let bastion = "i-0a1b2c3d4e5f6000d";
    let kiosk = "i-0a1b2c3d4e5f6000e";
    let start = start_instances(
        "e1000000-0000-4000-8000-000000000001",
        "e1000000-0000-4000-8000-0000000000aa",
        &[bastion, kiosk],
        "2026-11-20T06:00:05Z",
        assumed_role_identity(),
    );
    let mut stop = start_instances(
        "e1000000-0000-4000-8000-000000000002",
        "e1000000-0000-4000-8000-0000000000bb",
        &[bastion],
        "2026-11-20T06:10:00Z",
        iam_user_identity(),
    );
    stop["eventName"] = json!("StopInstances");
    let events = vec![
        via_eventbridge("ev-start", &start),
        state_change(
            "e2000000-0000-4000-8000-000000000001",
            bastion,
            "pending",
            "2026-11-20T06:00:06Z",
        ),
        state_change(
            "e2000000-0000-4000-8000-000000000002",
            kiosk,
            "pending",
            "2026-11-20T06:00:06Z",
        ),
        state_change(
            "e2000000-0000-4000-8000-000000000003",
            bastion,
            "running",
            "2026-11-20T06:00:20Z",
        ),
        state_change(
            "e2000000-0000-4000-8000-000000000004",
            kiosk,
            "running",
            "2026-11-20T06:00:21Z",
        ),
        via_eventbridge("ev-stop", &stop),
        state_change(
            "e2000000-0000-4000-8000-000000000005",
            bastion,
            "stopping",
            "2026-11-20T06:10:01Z",
        ),
        state_change(
            "e2000000-0000-4000-8000-000000000006",
            bastion,
            "stopped",
            "2026-11-20T06:10:40Z",
        ),
        state_change(
            "e2000000-0000-4000-8000-000000000007",
            kiosk,
            "stopping",
            "2026-11-20T06:30:00Z",
        ),
        state_change(
            "e2000000-0000-4000-8000-000000000008",
            kiosk,
            "stopped",
            "2026-11-20T06:30:30Z",
        ),
    ];
    let described = describe_instances(&[
        Described {
            id: bastion,
            name: "bastion",
            state: "stopped",
            reason: Some("Client.UserInitiatedShutdown"),
            volumes: &[],
        },
        Described {
            id: kiosk,
            name: "kiosk-render",
            state: "stopped",
            reason: Some("Client.InstanceInitiatedShutdown"),
            volumes: &[],
        },
    ]);
    assert_diagnoses(
        "a user's stop and an OS shutdown",
        &[json_lines(&events), pretty(&described)],
        &[],
    );
    let mut reversed = events.clone();
    reversed.reverse();
    assert_diagnoses(
        "the same stops in reverse order",
        &[json_lines(&reversed)],
        &[],
    );
    assert_diagnoses(
        "describe-instances of normal stops alone",
        &[pretty(&described)],
        &[],
    );
}

// ---- history: Monday and Tuesday ----

struct Day {
    start: Value,
    events: Vec<Value>,
}

/// One morning of reports-db: the scheduler's start at 07:00 on `date`,
/// and either a denied grant and pending -> stopped, or pending -> running.
fn morning(date: &str, tag: u8, fails: bool) -> Day {
    let id = |n: u8| format!("{tag:02x}{n:06x}-0000-4000-8000-000000000000");
    let at = |time: &str| format!("{date}T{time}Z");
    let request = id(0xaa);
    let start = start_instances(
        &id(1),
        &request,
        &[REPORTS_DB],
        &at("07:00:05"),
        assumed_role_identity(),
    );
    let mut events = vec![
        via_eventbridge(&id(2), &start),
        state_change(&id(3), REPORTS_DB, "pending", &at("07:00:06")),
    ];
    if fails {
        let grant = create_grant_denied(
            &id(4),
            &request,
            REPORTS_DB,
            REPORTS_DB_VOL,
            &at("07:00:06"),
        );
        events.push(via_eventbridge(&id(5), &grant));
        events.push(state_change(
            &id(6),
            REPORTS_DB,
            "stopping",
            &at("07:00:10"),
        ));
        events.push(state_change(&id(7), REPORTS_DB, "stopped", &at("07:00:26")));
    } else {
        events.push(state_change(&id(6), REPORTS_DB, "running", &at("07:00:21")));
    }
    Day { start, events }
}

fn event_ids(day: &Day) -> Vec<String> {
    day.events
        .iter()
        .map(|e| {
            e["detail"]["eventID"]
                .as_str()
                .or_else(|| e["id"].as_str())
                .unwrap_or_default()
                .to_owned()
        })
        .collect()
}

#[test]
fn failed_on_monday_started_fine_on_tuesday() {
    let monday = morning("2026-11-16", 0x16, true);
    let tuesday = morning("2026-11-17", 0x17, false);
    let now = describe_instances(&[Described {
        id: REPORTS_DB,
        name: "reports-db",
        state: "running",
        reason: None,
        volumes: &[REPORTS_DB_VOL],
    }]);
    let volumes = describe_volumes(&[(REPORTS_DB_VOL, KEY_ARN, REPORTS_DB)]);
    let events: Vec<Value> = tuesday
        .events
        .iter()
        .chain(&monday.events)
        .cloned()
        .collect();
    let diagnoses = assert_diagnoses(
        "Monday's failure, Tuesday's good start",
        &[json_lines(&events), pretty(&now), pretty(&volumes)],
        &[reports_db_diagnosis(None)],
    );
    let d = &diagnoses[0];
    let evidence: BTreeSet<&str> = d.evidence_event_ids.iter().map(String::as_str).collect();
    let monday_start = monday.start["eventID"].as_str().unwrap_or_default();
    assert!(
        evidence.contains(monday_start),
        "Monday's StartInstances is the evidence: {evidence:?}"
    );
    for id in event_ids(&tuesday) {
        assert!(
            !evidence.contains(id.as_str()),
            "Tuesday's good start ({id}) is not evidence of Monday's failure"
        );
    }
    let failed_at = d.failed_at.map(|t| t.to_rfc3339()).unwrap_or_default();
    assert!(
        failed_at.starts_with("2026-11-16"),
        "the failure was on Monday, not {failed_at}"
    );
}

#[test]
fn started_fine_on_monday_failed_on_tuesday() {
    let monday = morning("2026-11-16", 0x16, false);
    let tuesday = morning("2026-11-17", 0x17, true);
    let events: Vec<Value> = monday
        .events
        .iter()
        .chain(&tuesday.events)
        .cloned()
        .collect();
    let seed = seed_story();
    let diagnoses = assert_diagnoses(
        "Monday's good start, Tuesday's failure",
        &with_describe(&seed, vec![json_lines(&events)]),
        &seed_expected(),
    );
    let evidence = &diagnoses[0].evidence_event_ids;
    for id in event_ids(&monday) {
        assert!(
            !evidence.contains(&id),
            "Monday's good start ({id}) is not evidence of Tuesday's failure: {evidence:?}"
        );
    }
    let failed_at = diagnoses[0]
        .failed_at
        .map(|t| t.to_rfc3339())
        .unwrap_or_default();
    assert!(
        failed_at.starts_with("2026-11-17"),
        "the failure was on Tuesday, not {failed_at}"
    );
}

#[test]
fn failed_on_monday_and_again_on_tuesday_is_one_diagnosis() {
    let monday = morning("2026-11-16", 0x16, true);
    let tuesday = morning("2026-11-17", 0x17, true);
    let events: Vec<Value> = shuffled(&[monday.events, tuesday.events].concat(), 7);
    let seed = seed_story();
    let diagnoses = assert_diagnoses(
        "two failed mornings",
        &with_describe(&seed, vec![json_lines(&events)]),
        &seed_expected(),
    );
    let failed_at = diagnoses[0]
        .failed_at
        .map(|t| t.to_rfc3339())
        .unwrap_or_default();
    assert!(
        failed_at.starts_with("2026-11-17"),
        "the latest failure is reported, not {failed_at}"
    );
}

// ---- more shapes seen in the wild ----

#[test]
fn every_denial_message_variant_names_its_cause() {
    let key_is = |what: &str| format!("{KEY_ARN} is {what}.");
    let cases: Vec<(&str, String, &str)> = vec![
        (
            "AccessDenied",
            not_authorized(
                SESSION_ARN,
                "kms:CreateGrant",
                KEY_ARN,
                &because_no_identity_policy("kms:CreateGrant"),
            ),
            "kms_identity_policy_missing",
        ),
        (
            "AccessDenied",
            not_authorized(
                SESSION_ARN,
                "kms:CreateGrant",
                KEY_ARN,
                "because no resource-based policy allows the kms:CreateGrant action",
            ),
            "kms_key_policy_missing",
        ),
        (
            "AccessDenied",
            not_authorized(
                SESSION_ARN,
                "kms:CreateGrant",
                KEY_ARN,
                "with an explicit deny in an identity-based policy",
            ),
            "kms_explicit_deny",
        ),
        (
            "AccessDenied",
            not_authorized(
                SESSION_ARN,
                "kms:CreateGrant",
                KEY_ARN,
                "with an explicit deny in a resource-based policy",
            ),
            "kms_explicit_deny",
        ),
        (
            "AccessDenied",
            not_authorized(
                SESSION_ARN,
                "kms:CreateGrant",
                KEY_ARN,
                "with an explicit deny in a service control policy",
            ),
            "kms_explicit_deny",
        ),
        (
            "AccessDenied",
            not_authorized(
                SESSION_ARN,
                "kms:CreateGrant",
                KEY_ARN,
                "with an explicit deny in a permissions boundary",
            ),
            "kms_explicit_deny",
        ),
        (
            "AccessDeniedException",
            not_authorized(SESSION_ARN, "kms:CreateGrant", KEY_ARN, "")
                .trim_end()
                .to_owned(),
            "kms_access_denied",
        ),
        ("DisabledException", key_is("disabled"), "kms_key_disabled"),
        (
            "KMSInvalidStateException",
            key_is("pending deletion"),
            "kms_key_pending_deletion",
        ),
        (
            "NotFoundException",
            format!("Key '{KEY_ARN}' does not exist"),
            "kms_key_not_found",
        ),
    ];
    for (code, message, cause) in cases {
        let mut seed = seed_story();
        seed.grant["errorCode"] = json!(code);
        seed.grant["errorMessage"] = json!(message);
        let documents = with_describe(&seed, vec![json_lines(&seed.events())]);
        let mut expected = seed_expected();
        expected[0]["cause"] = json!(cause);
        assert_diagnoses(&format!("{code}: {message:?}"), &documents, &expected);
    }
}

#[test]
fn a_grant_logged_without_request_parameters_is_tied_by_its_request_id() {
    // Only the requestID shared with StartInstances ties it; of the two
    // instances that call started, reports-db is the one that failed.
    let mut seed = seed_story();
    seed.grant["requestParameters"] = Value::Null;
    let documents = with_describe(&seed, vec![json_lines(&seed.events())]);
    assert_diagnoses(
        "CreateGrant denial with requestParameters null",
        &documents,
        &seed_expected(),
    );
}

#[test]
fn a_key_in_another_account_is_named_as_it_is() {
    let shared_key = "arn:aws:kms:eu-west-1:444455556666:key/0b0e9d2a-1c3f-4a5b-8c7d-6e5f4a3b2c1d";
    let mut seed = seed_story();
    seed.grant["requestParameters"]["keyId"] = json!(shared_key);
    seed.grant["resources"] =
        json!([{"accountId": "444455556666", "type": "AWS::KMS::Key", "ARN": shared_key}]);
    seed.grant["errorMessage"] = json!(not_authorized(
        SESSION_ARN,
        "kms:CreateGrant",
        shared_key,
        "because no resource-based policy allows the kms:CreateGrant action"
    ));
    seed.describe_volumes = describe_volumes(&[
        (WEB_1_VOL, AWS_EBS_KEY_ARN, WEB_1),
        (REPORTS_DB_VOL, shared_key, REPORTS_DB),
    ]);
    let documents = with_describe(&seed, vec![json_lines(&seed.events())]);
    let mut expected = seed_expected();
    expected[0]["cause"] = json!("kms_key_policy_missing");
    expected[0]["kms_key_arn"] = json!(shared_key);
    assert_diagnoses(
        "a CMK shared from account 444455556666",
        &documents,
        &expected,
    );
}

#[test]
fn old_short_instance_and_volume_ids_are_accepted() {
    let (instance, volume) = ("i-1a2b3c4d", "vol-1a2b3c4d");
    let start = start_instances(
        "f0000000-0000-4000-8000-000000000001",
        "f0000000-0000-4000-8000-0000000000aa",
        &[instance],
        "2026-11-20T07:00:05Z",
        assumed_role_identity(),
    );
    let grant = create_grant_denied(
        "f0000000-0000-4000-8000-000000000002",
        "f0000000-0000-4000-8000-0000000000aa",
        instance,
        volume,
        "2026-11-20T07:00:06Z",
    );
    let events = vec![
        via_eventbridge("ev-start", &start),
        via_eventbridge("ev-grant", &grant),
        state_change(
            "f1000000-0000-4000-8000-000000000001",
            instance,
            "pending",
            "2026-11-20T07:00:06Z",
        ),
        state_change(
            "f1000000-0000-4000-8000-000000000002",
            instance,
            "stopped",
            "2026-11-20T07:00:26Z",
        ),
    ];
    let expected = json!({
        "instance_id": instance,
        "cause": "kms_identity_policy_missing",
        "principal_arn": ROLE_ARN,
        "kms_key_arn": KEY_ARN,
        "volume_ids": [volume],
        "state_reason_code": null,
    });
    assert_diagnoses(
        "8-digit ids from before 2016",
        &[json_lines(&events)],
        &[expected],
    );
}

#[test]
fn server_internal_error_without_kms_evidence_is_unexplained() {
    let seed = seed_story();
    let described = describe_instances(&[Described {
        id: REPORTS_DB,
        name: "reports-db",
        state: "stopped",
        reason: Some("Server.InternalError"),
        volumes: &[REPORTS_DB_VOL],
    }]);
    let documents = vec![
        json_lines(&seed.state_changes),
        pretty(&described),
        pretty(&seed.describe_volumes),
    ];
    assert_diagnoses(
        "Server.InternalError, no CloudTrail at all",
        &documents,
        &[unexplained(Some("Server.InternalError"), None)],
    );
}

#[test]
fn a_denied_attach_volume_on_a_running_instance_is_not_a_failed_start() {
    // web-1 started fine at 07:00 and is still running. At 09:30 someone
    // attaches a new encrypted data volume; EC2's CreateGrant for it (same
    // grantee form, the instance id) is denied and the volume stays
    // `available`. web-1 never went down: there is no failed start to report.
    let seed = seed_story();
    let data_volume = "vol-0aaa1b2c3d4e5f0d1";
    let attach_request = "a77ac400-0000-4000-8000-0000000000d1";
    let mut attach = start_instances(
        "a77ac400-0000-4000-8000-000000000001",
        attach_request,
        &[WEB_1],
        "2026-11-20T09:30:00Z",
        assumed_role_identity(),
    );
    attach["eventName"] = json!("AttachVolume");
    attach["requestParameters"] =
        json!({"volumeId": data_volume, "instanceId": WEB_1, "device": "/dev/sdf"});
    attach["responseElements"] = json!({"requestId": attach_request, "volumeId": data_volume, "instanceId": WEB_1, "device": "/dev/sdf", "status": "attaching"});
    let grant = create_grant_denied(
        "a77ac400-0000-4000-8000-000000000002",
        attach_request,
        WEB_1,
        data_volume,
        "2026-11-20T09:30:01Z",
    );
    let events: Vec<Value> = seed
        .state_changes
        .iter()
        .filter(|e| e["detail"]["instance-id"] == WEB_1)
        .cloned()
        .chain([
            via_eventbridge("ev-start", &seed.start),
            via_eventbridge("ev-attach", &attach),
            via_eventbridge("ev-grant", &grant),
        ])
        .collect();
    let now = describe_instances(&[Described {
        id: WEB_1,
        name: "web-1",
        state: "running",
        reason: None,
        volumes: &[WEB_1_VOL],
    }]);
    assert_diagnoses(
        "AttachVolume's CreateGrant denied on a running instance",
        &[json_lines(&events), pretty(&now)],
        &[],
    );
}

// ---- field shapes: which records count, which attempt ----

/// The seed story with the grant as a 2026 export writes it: eventVersion
/// 1.11, EC2's front end in `invokedBy`/`sourceIPAddress`/`userAgent`, the
/// grantee in ARN form.
fn seed_story_2026_shape() -> SeedStory {
    let mut seed = seed_story();
    seed.grant["eventVersion"] = json!("1.11");
    seed.grant["userIdentity"]["invokedBy"] = json!("ec2-frontend-api.amazonaws.com");
    seed.grant["sourceIPAddress"] = json!("ec2-frontend-api.amazonaws.com");
    seed.grant["userAgent"] = json!("ec2-frontend-api.amazonaws.com");
    seed.grant["requestParameters"]["granteePrincipal"] = json!(format!(
        "arn:aws:sts::{ACCOUNT}:assumed-role/aws:ec2-infrastructure/{REPORTS_DB}"
    ));
    seed
}

#[test]
fn the_2026_grantee_arn_form_tells_the_same_story_in_any_order() {
    let seed = seed_story_2026_shape();
    for (n, order) in [
        seed.events(),
        shuffled(&seed.events(), 7),
        shuffled(&seed.events(), 99),
    ]
    .into_iter()
    .enumerate()
    {
        let mut twice = order.clone();
        twice.extend(order.iter().cloned());
        let documents = with_describe(&seed, vec![json_lines(&twice)]);
        assert_diagnoses(
            &format!("eventVersion 1.11 grantee ARN, order #{n}, delivered twice"),
            &documents,
            &seed_expected(),
        );
    }
}

#[test]
fn only_the_grantee_arn_form_names_the_instance_without_a_request_id() {
    let mut seed = seed_story_2026_shape();
    seed.grant["requestID"] = json!("00000000-0000-4000-8000-00000000beef");
    let documents = vec![compact(&cloudtrail_log(&[seed.grant.clone()]))];
    let diagnoses = diagnose_documents("grantee ARN form, CloudTrail alone", &documents);
    assert_eq!(diagnoses.len(), 1);
    assert_eq!(diagnoses[0].instance_id.as_str(), REPORTS_DB);
}

#[test]
fn a_grant_typed_by_a_person_is_not_a_failed_start() {
    let mut seed = seed_story();
    seed.grant["sourceIPAddress"] = json!("198.51.100.7");
    seed.grant["userAgent"] = json!("aws-cli/2.22.4 md/command#kms.create-grant");
    let documents = vec![compact(&cloudtrail_log(&[seed.grant.clone()]))];
    assert_diagnoses("a create-grant typed by a person", &documents, &[]);
}

#[test]
fn a_grant_typed_by_a_person_does_not_explain_a_real_failure() {
    let mut seed = seed_story();
    seed.grant["sourceIPAddress"] = json!("198.51.100.7");
    seed.grant["userAgent"] = json!("Boto3/1.35.0 md/Botocore#1.35.0");
    let documents = with_describe(&seed, vec![json_lines(&seed.events())]);
    let diagnoses = diagnose_documents("a real failure and a typed grant", &documents);
    assert_eq!(diagnoses.len(), 1);
    assert_eq!(diagnoses[0].cause.as_str(), "internal_error_unexplained");
}

#[test]
fn a_grantee_of_another_account_is_not_this_account_s_instance() {
    let mut seed = seed_story();
    seed.grant["requestParameters"]["granteePrincipal"] =
        json!(format!("999988887777:aws:ec2-infrastructure:{REPORTS_DB}"));
    let documents = vec![compact(&cloudtrail_log(&[seed.grant.clone()]))];
    assert_diagnoses("a grantee in another account", &documents, &[]);
}

#[test]
fn a_denial_before_a_good_start_is_history_for_the_next_failure() {
    // The seed story's denial, then reports-db runs the next morning, then
    // fails again with nothing in CloudTrail.
    let seed = seed_story();
    let mut events = seed.events();
    events.extend([
        state_change("d2-pending", REPORTS_DB, "pending", "2026-11-21T07:00:06Z"),
        state_change("d2-running", REPORTS_DB, "running", "2026-11-21T07:00:20Z"),
        state_change("d2-stopped", REPORTS_DB, "stopped", "2026-11-21T19:00:20Z"),
        state_change("d3-pending", REPORTS_DB, "pending", "2026-11-22T07:00:06Z"),
        state_change("d3-stopped", REPORTS_DB, "stopped", "2026-11-22T07:00:16Z"),
    ]);
    for seed_n in [1, 2, 3] {
        let documents = vec![json_lines(&shuffled(&events, seed_n))];
        let diagnoses = diagnose_documents("history then a new failure", &documents);
        assert_eq!(diagnoses.len(), 1);
        assert_eq!(
            diagnoses[0].cause.as_str(),
            "internal_error_unexplained",
            "order #{seed_n}: the 2026-11-20 denial must not explain 2026-11-22"
        );
        assert_eq!(diagnoses[0].failed_attempts, 2);
        assert!(!diagnoses[0]
            .evidence_event_ids
            .contains(&GRANT_EVENT.to_owned()));
    }
}

#[test]
fn the_same_story_without_the_later_attempts_still_blames_the_grant() {
    let seed = seed_story();
    let documents = vec![json_lines(&seed.events())];
    let diagnoses = diagnose_documents("the denial's own attempt", &documents);
    assert_eq!(diagnoses[0].cause.as_str(), "kms_identity_policy_missing");
    assert_eq!(diagnoses[0].failed_attempts, 1);
}
