//! The entry points the fuzz targets drive, as plain functions: each takes
//! the fuzzer's bytes, shapes them into one kind of input and runs it
//! through the same reader the CLI and the Lambda functions use
//! ([`start_doctor_start::read_document`]), then through diagnosis and every
//! renderer. Each may return an error for bad input; none may panic, hang
//! or take memory out of proportion to its input.

use std::io::Write;

use flate2::write::GzEncoder;
use flate2::Compression;
use serde_json::Value;
use start_doctor_start::{read_document, render, EvidenceSet};

/// Reads `bytes` as one CLI input file (any format), then diagnoses and
/// renders what was read.
pub fn read_any(bytes: &[u8]) {
    let Ok(document) = read_document(bytes) else {
        return;
    };
    let set: EvidenceSet = document.evidence.into_iter().collect();
    let diagnoses = start_doctor_start::diagnose(&set);
    let _ = render::text::render(&diagnoses);
    let _ = render::json::render(&diagnoses);
    for group in render::slack::group(&diagnoses) {
        let _ = render::slack::message(&group);
    }
}

/// The detail types the live rules deliver.
const DETAIL_TYPES: [(&str, &str); 2] = [
    ("aws.ec2", "EC2 Instance State-change Notification"),
    ("aws.kms", "AWS API Call via CloudTrail"),
];

/// An EventBridge event as the Lambda functions receive it. The first byte
/// picks the shape: the bytes as the whole envelope, or (when they are
/// JSON) as the `detail` of a state change or a CloudTrail API call. Like
/// the Lambda runtime, the payload is parsed into a JSON value first and
/// read from its serialisation.
pub fn eventbridge_envelope(bytes: &[u8]) {
    let Some((&shape, rest)) = bytes.split_first() else {
        return;
    };
    let Ok(value) = serde_json::from_slice::<Value>(rest) else {
        return;
    };
    let payload = match DETAIL_TYPES.get(usize::from(shape % 3)) {
        None => value,
        Some((source, detail_type)) => serde_json::json!({
            "version": "0",
            "id": "6a7e8feb-b491-4cf7-a9f1-bf3703467718",
            "detail-type": detail_type,
            "source": source,
            "account": "111122223333",
            "time": "2026-11-20T07:00:00Z",
            "region": "eu-west-1",
            "resources": [],
            "detail": value,
        }),
    };
    read_any(payload.to_string().as_bytes());
}

/// One CloudTrail record: the first byte picks whether it comes in a log
/// file (`{"Records": [...]}`), as an EventBridge `AWS API Call via
/// CloudTrail` event, or in `lookup-events` output (as `CloudTrailEvent`,
/// a JSON string).
pub fn cloudtrail_record(bytes: &[u8]) {
    let Some((&shape, rest)) = bytes.split_first() else {
        return;
    };
    let Ok(record) = serde_json::from_slice::<Value>(rest) else {
        return;
    };
    let document = match shape % 3 {
        0 => serde_json::json!({ "Records": [record] }),
        1 => serde_json::json!({
            "version": "0",
            "id": "0b7f1c2e-3d4a-4b5c-8d6e-7f8091a2b3c4",
            "detail-type": "AWS API Call via CloudTrail",
            "source": "aws.kms",
            "account": "111122223333",
            "time": "2026-11-20T07:00:00Z",
            "region": "eu-west-1",
            "resources": [],
            "detail": record,
        }),
        _ => serde_json::json!({
            "Events": [{ "EventId": "e1", "EventName": "CreateGrant", "CloudTrailEvent": record.to_string() }]
        }),
    };
    read_any(document.to_string().as_bytes());
}

/// Gzip input. The first byte picks the shape: the bytes as they are behind
/// a gzip magic number (a damaged or hostile archive), or the bytes
/// compressed as one gzip member, or split in two members (CloudTrail
/// archives may be concatenated).
pub fn gzip(bytes: &[u8]) {
    let Some((&shape, rest)) = bytes.split_first() else {
        return;
    };
    match shape % 3 {
        0 => {
            let mut raw = vec![0x1f, 0x8b];
            raw.extend_from_slice(rest);
            read_any(&raw);
        }
        1 => read_any(&compress(&[rest])),
        _ => {
            let at = usize::from(shape).min(rest.len());
            let (a, b) = rest.split_at(at);
            read_any(&compress(&[a, b]));
        }
    }
}

/// `parts` as consecutive gzip members.
fn compress(parts: &[&[u8]]) -> Vec<u8> {
    let mut out = Vec::new();
    for part in parts {
        let mut encoder = GzEncoder::new(Vec::new(), Compression::fast());
        if encoder.write_all(part).is_ok() {
            if let Ok(member) = encoder.finish() {
                out.extend(member);
            }
        }
    }
    out
}

/// Reads `bytes` as one input file of `start-doctor ebs` (describe output,
/// GetMetricData output or request, an EBS EventBridge event, any of them
/// as JSON Lines or gzip), then joins, diagnoses and renders what was read
/// in every format, the resolved Slack reply included. The series are
/// dense (one value a minute), so two timestamps far apart cost memory
/// out of proportion to the bytes: the reader caps a series' span (456
/// days, CloudWatch's retention), which this target keeps honest.
pub fn ebs_document(bytes: &[u8]) {
    let Ok(document) = start_doctor_ebs::read_document(bytes) else {
        return;
    };
    let evidence = start_doctor_ebs::Evidence::from_documents([document]);
    let findings = start_doctor_ebs::diagnose(&evidence, &start_doctor_ebs::Options::default());
    let _ = start_doctor_ebs::render::text::render(&findings);
    let _ = start_doctor_ebs::render::json::render(&findings);
    for finding in &findings {
        let _ = start_doctor_ebs::render::slack::message(finding);
        if let Some(window) = &finding.window {
            let _ = start_doctor_ebs::render::slack::resolved_reply(finding, window.to);
        }
    }
}
