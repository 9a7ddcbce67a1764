//! Tests for content detection and per-event fault isolation.

use std::io::Write;

use super::*;
use crate::evidence::Evidence;

const STATE_CHANGE: &str = r#"{"version":"0","id":"ev-1","detail-type":"EC2 Instance State-change Notification","source":"aws.ec2","account":"111122223333","time":"2026-11-20T07:00:05Z","region":"eu-west-1","resources":[],"detail":{"instance-id":"i-0123456789abcdef0","state":"pending"}}"#;

const KMS_DENIAL: &str = r#"{"eventVersion":"1.09","eventID":"ct-1","eventTime":"2026-11-20T07:00:07Z","eventSource":"kms.amazonaws.com","eventName":"CreateGrant","awsRegion":"eu-west-1","recipientAccountId":"111122223333","userAgent":"AWS Internal","errorCode":"AccessDenied","errorMessage":"User: arn:aws:sts::111122223333:assumed-role/job/s is not authorized to perform: kms:CreateGrant on resource: arn:aws:kms:eu-west-1:111122223333:key/k1 because no identity-based policy allows the kms:CreateGrant action","requestParameters":{"keyId":"k1","granteePrincipal":"111122223333:aws:ec2-infrastructure:i-0123456789abcdef0","constraints":{"encryptionContextSubset":{"aws:ebs:id":"vol-0123456789abcdef0"}}},"userIdentity":{"type":"AssumedRole","arn":"arn:aws:sts::111122223333:assumed-role/job/s"}}"#;

fn kinds(doc: &Document) -> Vec<&'static str> {
    doc.evidence
        .iter()
        .map(|e| match e {
            Evidence::StateChange(_) => "state",
            Evidence::StartCall(_) => "start",
            Evidence::KmsFailure(_) => "kms",
            Evidence::Instance(_) => "instance",
            Evidence::Volume(_) => "volume",
            Evidence::Key(_) => "key",
            Evidence::Simulation(_) => "simulation",
            Evidence::Principal(_) => "principal",
            Evidence::ManagedPolicy(_) => "managed policy",
            Evidence::KeyPolicy(_) => "key policy",
        })
        .collect()
}

#[test]
fn one_event_an_array_and_json_lines_read_alike() {
    let single = read_document(STATE_CHANGE.as_bytes()).unwrap();
    let array = read_document(format!("[{STATE_CHANGE}, {KMS_DENIAL}]").as_bytes()).unwrap();
    let lines = read_document(format!("{STATE_CHANGE}\r\n{KMS_DENIAL}\r\n").as_bytes()).unwrap();
    assert_eq!(kinds(&single), ["state"]);
    assert_eq!(kinds(&array), ["state", "kms"]);
    assert_eq!(array, lines);
}

#[test]
fn cloudtrail_log_files_plain_gzip_and_bom() {
    let log = format!("\u{feff}{{\"Records\": [{KMS_DENIAL}, {{\"eventSource\":\"s3.amazonaws.com\",\"eventName\":\"GetObject\"}}]}}");
    let plain = read_document(log.as_bytes()).unwrap();
    assert_eq!(kinds(&plain), ["kms"]);
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    gz.write_all(log.as_bytes()).unwrap();
    assert_eq!(read_document(&gz.finish().unwrap()).unwrap(), plain);
}

#[test]
fn lookup_events_hold_records_as_strings() {
    let out = serde_json::json!({"Events": [{"EventId": "ct-1", "CloudTrailEvent": KMS_DENIAL}], "NextToken": "x"});
    let doc = read_document(out.to_string().as_bytes()).unwrap();
    assert_eq!(kinds(&doc), ["kms"]);
}

#[test]
fn a_bad_line_is_named_by_its_line_number() {
    let text = format!("{STATE_CHANGE}\n{STATE_CHANGE}\n{{\"id\": oops}}\n");
    let err = read_document(text.as_bytes()).unwrap_err();
    assert_eq!(err.line(), Some(3), "{err}");
}

#[test]
fn an_unknown_shape_is_an_error() {
    let err = read_document(br#"{"hello": "world"}"#).unwrap_err();
    assert!(matches!(err, DocumentError::Shape { line: 1, .. }), "{err}");
    assert!(err.to_string().contains("hello"));
    assert!(read_document(b"42").is_err());
}

#[test]
fn the_flow_doctors_inputs_are_known_and_hold_no_evidence() {
    let header = "version account-id interface-id srcaddr dstaddr srcport dstport protocol packets bytes start end action log-status\n2 123456789010 eni-1235b8ca123456789 172.31.9.69 172.31.9.12 49761 3389 6 20 4249 1418530010 1418530070 REJECT OK\n";
    let record = "2 123456789010 eni-1235b8ca123456789 172.31.9.69 172.31.9.12 49761 3389 6 20 4249 1418530010 1418530070 REJECT OK\n";
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    gz.write_all(header.as_bytes()).unwrap();
    let gzip = gz.finish().unwrap();
    for (what, bytes) in [
        ("a header file", header.as_bytes().to_vec()),
        ("a gzip header file", gzip),
        ("a default-format record", record.as_bytes().to_vec()),
        ("describe-network-acls", br#"{"NetworkAcls": []}"#.to_vec()),
        ("describe-subnets", br#"{"Subnets": []}"#.to_vec()),
        (
            "filter-log-events",
            br#"{"events": [{"message": "x"}], "searchedLogStreams": []}"#.to_vec(),
        ),
        (
            "a subscription payload",
            br#"{"awslogs": {"data": "H4sI"}}"#.to_vec(),
        ),
    ] {
        let doc = read_document(&bytes).unwrap_or_else(|e| panic!("{what}: {e}"));
        assert!(doc.evidence.is_empty() && doc.problems.is_empty(), "{what}");
    }
    assert!(
        !is_flow_log_text(b"# notes\nversion 2\n"),
        "a README is no flow log"
    );
    assert!(read_document(b"2 not a record").is_err());
}

#[test]
fn truncated_gzip_is_an_error() {
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    gz.write_all(KMS_DENIAL.as_bytes()).unwrap();
    let bytes = gz.finish().unwrap();
    let err = read_document(&bytes[..bytes.len() / 2]).unwrap_err();
    assert!(matches!(err, DocumentError::Gzip(_)), "{err}");
}

#[test]
fn a_malformed_event_costs_only_itself() {
    let bad = STATE_CHANGE
        .replace("\"pending\"", "\"exploded\"")
        .replace("ev-1", "ev-bad");
    let doc = read_document(format!("{bad}\n{KMS_DENIAL}\n").as_bytes()).unwrap();
    assert_eq!(kinds(&doc), ["kms"]);
    assert_eq!(doc.problems.len(), 1);
    let problem = &doc.problems[0];
    assert_eq!(
        (problem.line, problem.event_id.as_deref()),
        (Some(1), Some("ev-bad"))
    );
}

#[test]
fn the_grant_names_instance_volume_key_and_role() {
    let doc = read_document(KMS_DENIAL.as_bytes()).unwrap();
    let Evidence::KmsFailure(f) = &doc.evidence[0] else {
        panic!("expected a KMS failure");
    };
    assert_eq!(
        f.grantee_instance.as_ref().unwrap().as_str(),
        "i-0123456789abcdef0"
    );
    assert_eq!(
        f.volume_id.as_ref().unwrap().as_str(),
        "vol-0123456789abcdef0"
    );
    assert_eq!(
        f.key.as_ref().unwrap().as_str(),
        "arn:aws:kms:eu-west-1:111122223333:key/k1"
    );
    assert_eq!(
        f.principal.as_ref().unwrap().as_str(),
        "arn:aws:iam::111122223333:role/job"
    );
    assert!(f.via_aws_service);
}

#[test]
fn empty_input_has_no_events() {
    assert_eq!(read_document(b"").unwrap(), Document::default());
    assert_eq!(read_document(b" \n").unwrap(), Document::default());
}

const KEY_POLICY: &str = r#"{"KeyArn": "arn:aws:kms:eu-west-1:111122223333:key/k1", "Policy": {"Version": "2012-10-17", "Statement": []}}"#;

#[test]
fn key_policies_read_alike_one_per_file_in_an_array_and_as_json_lines() {
    let one = read_document(KEY_POLICY.as_bytes()).unwrap();
    assert_eq!(kinds(&one), ["key policy"]);
    let as_string = KEY_POLICY.replace(
        r#"{"Version": "2012-10-17", "Statement": []}"#,
        r#""{\"Version\": \"2012-10-17\", \"Statement\": []}""#,
    );
    let array = read_document(format!("[{KEY_POLICY}, {as_string}]").as_bytes()).unwrap();
    let lines = read_document(format!("{KEY_POLICY}\n{as_string}\n").as_bytes()).unwrap();
    assert_eq!(kinds(&array), ["key policy", "key policy"]);
    assert_eq!(array, lines);
}

#[test]
fn authorization_details_yield_principals_and_managed_policies() {
    let details = r#"{"RoleDetailList": [{"Path": "/ops/", "RoleName": "job", "Arn": "arn:aws:iam::111122223333:role/ops/job",
        "RolePolicyList": [{"PolicyName": "p", "PolicyDocument": "%7B%22Statement%22%3A%5B%5D%7D"}],
        "AttachedManagedPolicies": [{"PolicyName": "m", "PolicyArn": "arn:aws:iam::111122223333:policy/m"}]}],
        "Policies": [{"PolicyName": "m", "Arn": "arn:aws:iam::111122223333:policy/m", "DefaultVersionId": "v2",
        "PolicyVersionList": [{"VersionId": "v1", "IsDefaultVersion": false, "Document": {"Statement": [{"Sid": "old"}]}},
                              {"VersionId": "v2", "IsDefaultVersion": true, "Document": {"Statement": [{"Sid": "new"}]}}]}]}"#;
    let doc = read_document(details.as_bytes()).unwrap();
    assert_eq!(kinds(&doc), ["principal", "managed policy"]);
    assert!(doc.problems.is_empty(), "{:?}", doc.problems);
    let Evidence::Principal(role) = &doc.evidence[0] else {
        panic!("expected a principal");
    };
    assert_eq!(role.path, "/ops/");
    assert_eq!(
        role.inline_policies,
        [("p".to_owned(), r#"{"Statement":[]}"#.to_owned())]
    );
    let Evidence::ManagedPolicy(m) = &doc.evidence[1] else {
        panic!("expected a managed policy");
    };
    assert!(
        m.document.as_deref().unwrap().contains("new"),
        "the default version"
    );
}

#[test]
fn instance_tags_name_the_auto_scaling_group() {
    let out = r#"{"Reservations": [{"OwnerId": "111122223333", "Instances": [{"InstanceId": "i-0123456789abcdef0",
        "Tags": [{"Key": "aws:autoscaling:groupName", "Value": "web"}, {"Key": "Name", "Value": "w1"}]}]}]}"#;
    let doc = read_document(out.as_bytes()).unwrap();
    let Evidence::Instance(i) = &doc.evidence[0] else {
        panic!("expected an instance");
    };
    assert_eq!(
        (i.autoscaling_group.as_deref(), i.name.as_deref()),
        (Some("web"), Some("w1"))
    );
}

#[test]
fn ebs_doctor_inputs_are_known_and_add_nothing() {
    // `start-doctor ebs` reads these; beside this doctor's files in a
    // folder they must be neither evidence nor unreadable.
    for text in [
        r#"{"InstanceTypes": [{"InstanceType": "m5.large"}]}"#,
        r#"{"VolumeStatuses": []}"#,
        r#"{"FastSnapshotRestores": [], "NextToken": null}"#,
        r#"{"MetricDataQueries": [], "StartTime": "2026-11-20T07:00:00Z", "EndTime": "2026-11-20T08:00:00Z"}"#,
        r#"{"MetricDataResults": [{"Id": "m1", "Label": "x", "Timestamps": [], "Values": [], "StatusCode": "Complete"}], "Messages": []}"#,
        r#"[{"Id": "m1", "MetricStat": {"Metric": {"Namespace": "AWS/EBS", "MetricName": "VolumeReadOps"}, "Period": 60, "Stat": "Sum"}}, {"Id": "m3", "Expression": "m1/60"}]"#,
    ] {
        let doc = read_document(text.as_bytes()).unwrap_or_else(|e| panic!("{text}: {e}"));
        assert_eq!(doc, Document::default(), "{text}");
    }
}
