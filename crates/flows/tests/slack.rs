//! The Slack message of a (cause, control) group: snapshots of what people
//! will see (open, grown, resolved), Slack's limits on a storm, escaping of
//! untrusted text, and every message checked by Slack's own SDK in the
//! local receiver.

use std::io::{Read, Write};
use std::net::TcpStream;

use chrono::{TimeZone, Utc};
use serde_json::Value;
use start_doctor_core::slack::{HEADER_MAX, SECTION_MAX};
use start_doctor_flows::finding::Finding;
use start_doctor_flows::render::slack::{group_message, State};
use start_doctor_flows::render::{groups, Group};
use start_doctor_flows::Options;
use start_doctor_testkit::slack::SlackReceiver;

use crate::support::diagnose_scenario;

fn texts(message: &Value) -> Vec<(String, String)> {
    let mut out = Vec::new();
    for block in message["blocks"].as_array().into_iter().flatten() {
        let kind = block["type"].as_str().unwrap_or_default().to_owned();
        if let Some(t) = block["text"]["text"].as_str() {
            out.push((kind.clone(), t.to_owned()));
        }
        for f in block["fields"].as_array().into_iter().flatten() {
            out.push((
                "field".into(),
                f["text"].as_str().unwrap_or_default().to_owned(),
            ));
        }
        for e in block["elements"].as_array().into_iter().flatten() {
            out.push((
                "context".into(),
                e["text"].as_str().unwrap_or_default().to_owned(),
            ));
        }
    }
    out
}

fn assert_within_limits(what: &str, message: &Value) {
    let blocks = message["blocks"].as_array().expect("blocks");
    assert!(blocks.len() <= 50, "{what}: {} blocks", blocks.len());
    for (kind, text) in texts(message) {
        let n = text.chars().count();
        let max = match kind.as_str() {
            "header" => HEADER_MAX,
            "field" | "context" => 2000,
            _ => SECTION_MAX,
        };
        assert!(
            n <= max,
            "{what}: {kind} text has {n} characters (max {max})"
        );
    }
    for block in blocks {
        assert!(
            block["fields"].as_array().is_none_or(|f| f.len() <= 10),
            "{what}: too many fields"
        );
    }
    assert!(message["text"]
        .as_str()
        .is_some_and(|t| t.chars().count() <= SECTION_MAX));
}

fn seed_findings() -> Vec<Finding> {
    diagnose_scenario("seed-story", &Options::default()).findings
}

fn only_group(findings: &[Finding]) -> Group<'_> {
    let mut all = groups(findings);
    assert_eq!(all.len(), 1, "one (cause, control) group");
    all.remove(0)
}

#[test]
fn seed_story_message() {
    let findings = seed_findings();
    let group = only_group(&findings);
    let message = group_message(&group, State::Open);
    assert_within_limits("seed open", &message);
    let all = texts(&message)
        .into_iter()
        .map(|(_, t)| t)
        .collect::<Vec<_>>()
        .join("\n");
    for needle in [
        "2 connections dropped",
        "`euw1-az3` *fails*",
        "`euw1-az1` passes",
        "*Conversations (2)*",
        "20 rejected, 160 accepted",
    ] {
        assert!(all.contains(needle), "seed open lacks {needle:?}:\n{all}");
    }
    insta::assert_json_snapshot!("seed_story_open", message);
}

#[test]
fn a_grown_group_says_what_it_was_and_a_resolved_one_drops_the_fix() {
    let findings = seed_findings();
    let group = only_group(&findings);
    let grown = group_message(
        &group,
        State::Grown {
            conversations: 1,
            rejected: 7,
        },
    );
    assert_within_limits("seed grown", &grown);
    let grown_text = texts(&grown)
        .into_iter()
        .map(|(_, t)| t)
        .collect::<Vec<_>>()
        .join("\n");
    assert!(
        grown_text.contains("Still dropping 2 connections"),
        "{grown_text}"
    );
    assert!(
        grown_text.contains("was 1 conversation and 7 rejected records"),
        "{grown_text}"
    );
    insta::assert_json_snapshot!("seed_story_grown", grown);
    let since = Utc
        .with_ymd_and_hms(2026, 11, 20, 8, 5, 0)
        .single()
        .expect("time");
    let resolved = group_message(&group, State::Resolved { since });
    assert_within_limits("seed resolved", &resolved);
    let resolved_text = texts(&resolved)
        .into_iter()
        .map(|(_, t)| t)
        .collect::<Vec<_>>()
        .join("\n");
    assert!(
        resolved_text.starts_with("Resolved: 2 connections no longer dropped"),
        "{resolved_text}"
    );
    assert!(
        !resolved_text.contains("*Fix*"),
        "a resolved message shows no fix"
    );
    assert!(resolved_text.contains("no rejects since 2026-11-20 08:05 UTC"));
    insta::assert_json_snapshot!("seed_story_resolved", resolved);
}

#[test]
fn a_storm_of_conversations_is_one_message_within_slacks_limits() {
    let template = seed_findings().remove(0);
    let findings: Vec<Finding> = (0..500u32)
        .map(|i| {
            let mut f = template.clone();
            f.client = std::net::IpAddr::from([10, 20, (i / 250) as u8, (i % 250) as u8]);
            f.summary = format!("{} {}", f.summary, "long words & <tags> ".repeat(300));
            f.remediation.steps = vec!["step ".repeat(900); 12];
            f.remediation.commands = vec![template.remediation.commands[0].clone(); 40];
            f
        })
        .collect();
    let group = only_group(&findings);
    let message = group_message(&group, State::Open);
    assert_within_limits("storm", &message);
    let all = texts(&message)
        .into_iter()
        .map(|(_, t)| t)
        .collect::<Vec<_>>()
        .join("\n");
    assert!(all.contains("*Conversations (500)*"), "{all}");
    assert!(
        all.contains("more"),
        "the count of conversations left out shows"
    );
    assert!(
        all.contains("…and 34 more (start-doctor flows prints them all)"),
        "commands left out are counted"
    );
}

#[test]
fn untrusted_text_is_escaped() {
    let mut findings = seed_findings();
    findings.truncate(1);
    findings[0].summary = "<!channel> drop & <https://evil.example|click> \u{202e}".to_owned();
    findings[0].remediation.steps = vec!["run <@U123> `rm` *now*".to_owned()];
    let group = only_group(&findings);
    let message = group_message(&group, State::Open);
    let all = texts(&message)
        .into_iter()
        .map(|(_, t)| t)
        .collect::<Vec<_>>()
        .join("\n");
    assert!(
        all.contains("&lt;!channel&gt; drop &amp; &lt;https:\u{200B}//evil.example|click&gt;"),
        "{all}"
    );
    assert!(
        !all.contains("<!channel>") && !all.contains("<@U123>") && !all.contains('\u{202e}'),
        "{all}"
    );
    assert!(message["text"]
        .as_str()
        .is_some_and(|t| !t.contains("<!channel>")));
}

/// Posts `body` to an `http://127.0.0.1:port/path` URL and returns the
/// status line.
fn post(url: &str, body: &str) -> String {
    let rest = url.strip_prefix("http://").expect("http URL");
    let (host, path) = rest.split_once('/').expect("a path");
    let mut stream = TcpStream::connect(host).expect("the receiver listens");
    let request = format!(
        "POST /{path} HTTP/1.1\r\nHost: {host}\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    );
    stream.write_all(request.as_bytes()).expect("send");
    let mut answer = String::new();
    let _ = stream.read_to_string(&mut answer);
    answer.lines().next().unwrap_or_default().to_owned()
}

#[test]
fn slacks_own_sdk_accepts_every_message_of_every_scenario() {
    let slack = SlackReceiver::start("xoxb-test");
    let mut posted = 0;
    for scenario in [
        "seed-story",
        "nacl-return-traffic-deny",
        "security-group-no-allow",
        "block-public-access",
        "unexplained",
        "ipv6",
        "ping-reply-denied",
    ] {
        let report = diagnose_scenario(scenario, &Options::default());
        for group in groups(&report.findings) {
            for state in [
                State::Open,
                State::Grown {
                    conversations: 1,
                    rejected: 1,
                },
                State::Resolved {
                    since: Utc
                        .with_ymd_and_hms(2026, 11, 20, 9, 0, 0)
                        .single()
                        .expect("time"),
                },
            ] {
                let status = post(
                    &slack.webhook_url(),
                    &group_message(&group, state).to_string(),
                );
                assert!(
                    status.contains("200"),
                    "{scenario}: Slack refused the message: {status}\n{:?}",
                    slack.rejections()
                );
                posted += 1;
            }
        }
    }
    assert!(slack.rejections().is_empty(), "{:?}", slack.rejections());
    assert_eq!(slack.messages().len(), posted);
}
