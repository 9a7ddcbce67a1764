//! Every input shape of flow-log records: header files, header-less
//! default and custom formats, gzip, concatenations, CloudWatch Logs
//! exports, JSON containers, subscription payloads, and broken inputs.

use std::io::Write;

use base64::Engine;
use flate2::write::GzEncoder;
use flate2::Compression;

use super::json::{read_json, JsonError};
use super::text::{read_text, TextError};
use super::*;
use crate::record::Format;
use crate::traffic::Traffic;

const HEADER: &str = "version account-id interface-id srcaddr dstaddr srcport dstport protocol packets bytes start end action log-status";
const ACCEPT: &str = "2 123456789010 eni-1235b8ca123456789 172.31.16.139 172.31.16.21 20641 22 6 20 4249 1418530010 1418530070 ACCEPT OK";
const REJECT: &str = "2 123456789010 eni-1235b8ca123456789 172.31.9.69 172.31.9.12 49761 3389 6 20 4249 1418530010 1418530070 REJECT OK";

fn gzip(text: &[u8]) -> Vec<u8> {
    let mut encoder = GzEncoder::new(Vec::new(), Compression::default());
    encoder.write_all(text).expect("gzip in memory");
    encoder.finish().expect("gzip in memory")
}

fn read(text: &[u8], formats: &Formats) -> (Traffic, Result<text::TextSummary, TextError>) {
    let mut traffic = Traffic::default();
    let result = read_text(text, formats, &mut traffic);
    (traffic, result)
}

fn counts(traffic: &Traffic) -> (u64, u64) {
    (traffic.counts.accepted, traffic.counts.rejected)
}

#[test]
fn a_file_delivered_to_s3_starts_with_its_header() {
    let text = format!("{HEADER}\n{ACCEPT}\n{REJECT}\n");
    let (traffic, result) = read(text.as_bytes(), &Formats::default());
    let summary = result.expect("readable");
    assert_eq!((summary.lines, summary.records), (3, 2));
    assert!(summary.problems.is_empty());
    assert_eq!(counts(&traffic), (1, 1));
}

#[test]
fn records_without_a_header_are_read_in_the_default_format() {
    let text = format!("{ACCEPT}\r\n{REJECT}");
    let (traffic, result) = read(text.as_bytes(), &Formats::default());
    assert_eq!(
        result.expect("readable").records,
        2,
        "CRLF and no final newline"
    );
    assert_eq!(counts(&traffic), (1, 1));
}

#[test]
fn gzip_is_detected_by_content() {
    let text = format!("\u{feff}{HEADER}\n{ACCEPT}\n{REJECT}\n");
    let (traffic, result) = read(&gzip(text.as_bytes()), &Formats::default());
    assert_eq!(result.expect("readable").records, 2);
    assert_eq!(counts(&traffic), (1, 1));
}

#[test]
fn a_custom_format_without_header_needs_its_describe_flow_logs_format() {
    // The VPC User Guide's TCP-flag example format, records in that order.
    let log_format = "${version} ${vpc-id} ${subnet-id} ${instance-id} ${interface-id} ${account-id} ${type} ${srcaddr} ${dstaddr} ${srcport} ${dstport} ${pkt-srcaddr} ${pkt-dstaddr} ${protocol} ${bytes} ${packets} ${start} ${end} ${action} ${tcp-flags} ${log-status}";
    let line = "3 vpc-abcdefab012345678 subnet-aaaaaaaa012345678 i-01234567890123456 eni-1235b8ca123456789 123456789010 IPv4 52.213.180.42 10.0.0.62 43416 5001 52.213.180.42 10.0.0.62 6 568 8 1566848875 1566848933 REJECT 2 OK\n";
    let (_, without) = read(line.as_bytes(), &Formats::default());
    assert!(
        matches!(without, Err(TextError::NotFlowLog { line: 1, .. })),
        "without the format the line fits nothing: {without:?}"
    );
    let mut formats = Formats::default();
    formats.add(None, Format::from_log_format(log_format).expect("format"));
    let (traffic, with) = read(line.as_bytes(), &formats);
    assert_eq!(with.expect("readable").records, 1);
    let reject = traffic.rejects.values().next().expect("a reject");
    assert_eq!(reject.syn, 1, "tcp-flags 2 read from its column");
}

#[test]
fn concatenated_files_switch_format_at_each_header() {
    let custom = "version interface-id srcaddr dstaddr srcport dstport protocol start end action tcp-flags log-status";
    let custom_record = "3 eni-0a1b2c3d4e5f60001 10.1.1.25 10.20.5.17 5432 40112 6 1763622000 1763622060 REJECT 1 OK";
    let text = format!("{HEADER}\n{ACCEPT}\n{custom}\n{custom_record}\n{HEADER}\n{REJECT}\n");
    let (traffic, result) = read(text.as_bytes(), &Formats::default());
    let summary = result.expect("readable");
    assert!(summary.problems.is_empty(), "{:?}", summary.problems);
    assert_eq!(summary.records, 3);
    assert_eq!(counts(&traffic), (1, 2));
    assert_eq!(
        traffic.rejects.values().map(|r| r.after_close).sum::<u64>(),
        1,
        "the custom record's FIN"
    );
}

#[test]
fn mixed_versions_in_one_file_each_fit_their_format() {
    let mut formats = Formats::default();
    formats.add(
        None,
        Format::from_log_format("${version} ${interface-id} ${srcaddr} ${dstaddr} ${srcport} ${dstport} ${protocol} ${start} ${end} ${action} ${log-status} ${reject-reason}").expect("v8"),
    );
    let v8 = "8 eni-0a1b2c3d4e5f60001 203.0.113.9 10.0.1.5 51000 443 6 1700000000 1700000060 REJECT OK BPA";
    let text = format!("{ACCEPT}\n{v8}\n{REJECT}\n");
    let (traffic, result) = read(text.as_bytes(), &formats);
    assert_eq!(result.expect("readable").records, 3);
    assert_eq!(
        traffic
            .rejects
            .keys()
            .filter(|k| k.block_public_access)
            .count(),
        1
    );
}

#[test]
fn a_cloudwatch_logs_export_to_s3_has_the_event_time_before_each_record() {
    let text = format!("2014-12-14T04:07:50.000Z {ACCEPT}\n2014-12-14T04:07:50.000Z {REJECT}\n");
    let (traffic, result) = read(text.as_bytes(), &Formats::default());
    assert_eq!(result.expect("readable").records, 2);
    assert_eq!(counts(&traffic), (1, 1));
}

#[test]
fn a_bad_line_is_a_problem_naming_it_and_the_rest_is_read() {
    let text =
        format!("{HEADER}\n{ACCEPT}\n2 123456789010 eni-1235b8ca123456789 garbage\n{REJECT}\n\n");
    let (traffic, result) = read(text.as_bytes(), &Formats::default());
    let summary = result.expect("readable");
    assert_eq!(summary.records, 2);
    assert_eq!(summary.problems.total, 1);
    assert_eq!(
        summary.problems.lines(),
        vec!["line 3: 4 values, but its format has 14 fields".to_owned()]
    );
    assert_eq!(counts(&traffic), (1, 1));
}

#[test]
fn many_bad_lines_are_summed_up_after_the_first_few() {
    let mut text = format!("{HEADER}\n");
    for _ in 0..20 {
        text.push_str("2 1 eni-1235b8ca123456789 x\n");
    }
    let (_, result) = read(text.as_bytes(), &Formats::default());
    let problems = result.expect("readable").problems;
    assert_eq!(problems.total, 20);
    let lines = problems.lines();
    assert_eq!(lines.len(), KEPT_PROBLEMS + 1);
    assert_eq!(lines[KEPT_PROBLEMS], "15 more lines could not be read");
}

#[test]
fn text_that_is_no_flow_log_is_an_error_naming_its_first_line() {
    let (_, result) = read(
        b"\n# start-doctor notes\nnothing here\n",
        &Formats::default(),
    );
    match result {
        Err(TextError::NotFlowLog { line, found }) => {
            assert_eq!(line, 2);
            assert_eq!(found, "# start-doctor notes");
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn a_truncated_gzip_is_an_error_and_the_records_before_it_are_kept() {
    let mut text = format!("{HEADER}\n");
    for i in 0..5000 {
        text.push_str(&format!(
            "2 123456789010 eni-1235b8ca123456789 172.31.9.69 172.31.9.12 {} 3389 6 20 4249 1418530010 1418530070 REJECT OK\n",
            10000 + i
        ));
    }
    let compressed = gzip(text.as_bytes());
    let cut = &compressed[..compressed.len() * 3 / 4];
    let (traffic, result) = read(cut, &Formats::default());
    assert!(matches!(result, Err(TextError::Read { .. })), "{result:?}");
    assert!(
        traffic.counts.rejected > 0,
        "records before the cut are kept"
    );
    assert!(traffic.counts.rejected < 5000);
}

#[test]
fn parquet_is_refused_with_a_way_forward() {
    let (_, result) = read(b"PAR1\x15\x04\x15", &Formats::default());
    let message = result.expect_err("parquet").to_string();
    assert!(
        message.contains("Parquet") && message.contains("query"),
        "{message}"
    );
}

#[test]
fn transit_gateway_records_in_the_default_format_are_read_as_such() {
    let line = "6 TransitGatewayAttachment 111122223333 tgw-0a1b2c3d4e5f60001 tgw-attach-0a1b2c3d4e5f6000c 444455556666 111122223333 vpc-0a1b2c3d4e5f60009 vpc-0a1b2c3d4e5f60001 - subnet-0a1b2c3d4e5f6000c - eni-0a1b2c3d4e5f6000c - euw1-az3 tgw-attach-0a1b2c3d4e5f60009 10.20.5.17 10.1.1.25 40112 5432 6 3 180 1763622000 1763622060 OK IPv4 0 0 0 0 2 eu-west-1 egress - -\n";
    let (traffic, result) = read(line.as_bytes(), &Formats::default());
    assert_eq!(result.expect("readable").records, 1);
    assert_eq!(traffic.counts.tgw_records, 1);
    assert_eq!(
        counts(&traffic),
        (0, 0),
        "no action: never an accept or reject"
    );
    let seen = traffic.tgw.values().next().expect("a delivery");
    assert_eq!(seen.dst_az.as_deref(), Some("euw1-az3"));
}

fn filter_log_events(messages: &[&str]) -> String {
    let events: Vec<serde_json::Value> = messages
        .iter()
        .enumerate()
        .map(|(i, m)| {
            serde_json::json!({
                "logStreamName": "eni-1235b8ca123456789-all",
                "timestamp": 1418530010000_i64 + i as i64,
                "message": m,
                "ingestionTime": 1418530100000_i64,
                "eventId": format!("3{i:055}")
            })
        })
        .collect();
    serde_json::json!({"events": events, "searchedLogStreams": []}).to_string()
}

#[test]
fn filter_log_events_output_holds_records_in_its_messages() {
    let document = read_json(filter_log_events(&[ACCEPT, REJECT]).as_bytes()).expect("json");
    assert_eq!(document.events.len(), 1);
    let mut traffic = Traffic::default();
    let (records, problems) = document.events[0].read(&Formats::default(), &mut traffic);
    assert_eq!(records, 2);
    assert!(problems.is_empty());
    assert_eq!(counts(&traffic), (1, 1));
}

#[test]
fn get_log_events_messages_that_are_no_records_are_problems_naming_the_event() {
    // The AWS CLI reference example of get-log-events.
    let example = r#"{
      "nextForwardToken": "f/31961209122447488583055879464742346735121166569214640130",
      "events": [
          {"ingestionTime": 1433190494190, "timestamp": 1433190184356, "message": "Example Event 1"},
          {"ingestionTime": 1433190516679, "timestamp": 1433190184356, "message": "Example Event 1"},
          {"ingestionTime": 1433190494190, "timestamp": 1433190184358, "message": "Example Event 2"}
      ],
      "nextBackwardToken": "b/31961209122358285602261756944988674324553373268216709120"
    }"#;
    let document = read_json(example.as_bytes()).expect("json");
    let mut traffic = Traffic::default();
    let (records, problems) = document.events[0].read(&Formats::default(), &mut traffic);
    assert_eq!(records, 0);
    assert_eq!(problems.total, 3);
    assert!(
        problems.lines()[0].starts_with("log event 1: not a flow-log record"),
        "{:?}",
        problems.lines()
    );
}

fn subscription(log_group: &str, messages: &[&str]) -> serde_json::Value {
    let events: Vec<serde_json::Value> = messages
        .iter()
        .enumerate()
        .map(|(i, m)| serde_json::json!({"id": format!("{i}"), "timestamp": 1418530010000_i64, "message": m}))
        .collect();
    serde_json::json!({
        "messageType": "DATA_MESSAGE",
        "owner": "123456789010",
        "logGroup": log_group,
        "logStream": "eni-1235b8ca123456789-all",
        "subscriptionFilters": ["rejects"],
        "logEvents": events
    })
}

#[test]
fn a_lambda_subscription_payload_is_base64_of_gzip_of_json() {
    let inner = subscription("/vpc/flow-logs", &[REJECT]).to_string();
    let data = base64::engine::general_purpose::STANDARD.encode(gzip(inner.as_bytes()));
    let payload = serde_json::json!({"awslogs": {"data": data}}).to_string();
    let document = read_json(payload.as_bytes()).expect("payload");
    assert_eq!(document.events.len(), 1);
    assert_eq!(
        document.events[0].log_group.as_deref(),
        Some("/vpc/flow-logs")
    );
    let mut traffic = Traffic::default();
    let (records, _) = document.events[0].read(&Formats::default(), &mut traffic);
    assert_eq!(records, 1);
    assert_eq!(counts(&traffic), (0, 1));
}

#[test]
fn a_subscription_uses_the_format_of_its_log_groups_flow_log() {
    let custom = "3 eni-0a1b2c3d4e5f60001 10.1.1.25 10.20.5.17 5432 40112 6 1763622000 1763622060 REJECT 4 OK";
    let describe = serde_json::json!({"FlowLogs": [{
        "FlowLogId": "fl-0a1b2c3d4e5f60001",
        "LogGroupName": "/vpc/flow-logs",
        "LogFormat": "${version} ${interface-id} ${srcaddr} ${dstaddr} ${srcport} ${dstport} ${protocol} ${start} ${end} ${action} ${tcp-flags} ${log-status}"
    }]});
    let config = crate::config::Config::build(
        read_json(describe.to_string().as_bytes())
            .expect("describe")
            .config,
    );
    let formats = config.formats();
    let document = read_json(
        subscription("/vpc/flow-logs", &[custom])
            .to_string()
            .as_bytes(),
    )
    .expect("decoded payload");
    let mut traffic = Traffic::default();
    let (records, problems) = document.events[0].read(&formats, &mut traffic);
    assert_eq!((records, problems.total), (1, 0));
}

#[test]
fn control_messages_hold_no_records() {
    let control = serde_json::json!({
        "messageType": "CONTROL_MESSAGE",
        "owner": "CloudwatchLogs",
        "logGroup": "",
        "logStream": "",
        "subscriptionFilters": [],
        "logEvents": [{"id": "", "timestamp": 1432826855000_i64, "message": "CWL CONTROL MESSAGE: Checking health of destination Kinesis stream."}]
    });
    let document = read_json(control.to_string().as_bytes()).expect("control message");
    let mut traffic = Traffic::default();
    let (records, _) = document.events[0].read(&Formats::default(), &mut traffic);
    assert_eq!(records, 0);
}

#[test]
fn json_lines_and_arrays_of_describe_outputs_are_read() {
    let text = "{\"Subnets\": [{\"SubnetId\": \"subnet-0a1b2c3d4e5f60001\", \"CidrBlock\": \"10.1.1.0/24\"}]}\n[{\"Vpcs\": [{\"VpcId\": \"vpc-0a1b2c3d4e5f60001\", \"CidrBlock\": \"10.1.0.0/16\"}]}]\n";
    let document = read_json(text.as_bytes()).expect("json lines");
    let config = crate::config::Config::build(document.config);
    assert_eq!((config.subnets.len(), config.vpcs.len()), (1, 1));
}

#[test]
fn unknown_json_is_a_shape_error_naming_its_line_and_keys() {
    let text = "{\"Subnets\": []}\n{\"Records\": [], \"x\": 1}\n";
    match read_json(text.as_bytes()) {
        Err(JsonError::Unknown { line, message }) => {
            assert_eq!(line, 2);
            assert!(message.contains("[Records, x]"), "{message}");
        }
        other => panic!("{other:?}"),
    }
    assert!(matches!(
        read_json(b"{\"Subnets\": [}"),
        Err(JsonError::Syntax { line: 1, .. })
    ));
    assert!(
        matches!(
            read_json(b"{\"NetworkAcls\": \"none\"}"),
            Err(JsonError::Shape { line: 1, .. })
        ),
        "a known key with a bad value is no unknown shape"
    );
}

#[test]
fn content_is_told_from_the_first_bytes() {
    assert_eq!(content(b"  {\"a\":1}"), Content::Json);
    assert_eq!(content(b"\xEF\xBB\xBF[1]"), Content::Json);
    assert_eq!(content(HEADER.as_bytes()), Content::Text);
    assert_eq!(content(b" \n\t"), Content::Empty);
    assert!(is_gzip(&gzip(b"x")));
}
