//! Slack Block Kit messages for findings: snapshots of what people will
//! see, Slack's size limits on every text, and escaping of untrusted text.

use chrono::{TimeZone, Utc};
use serde_json::Value;
use start_doctor_core::slack::{FIELD_MAX, HEADER_MAX, SECTION_MAX};
use start_doctor_ebs::render::slack;
use start_doctor_ebs::{Finding, Options};

use crate::common::{findings_of, scenario};

fn finding(name: &str) -> Finding {
    let (mut findings, _) = findings_of(name, &scenario(name), &Options::default());
    assert_eq!(findings.len(), 1, "{name}: one instance");
    findings.remove(0)
}

fn texts(message: &Value) -> Vec<(String, String)> {
    let mut out = Vec::new();
    for block in message["blocks"].as_array().unwrap() {
        let kind = block["type"].as_str().unwrap().to_owned();
        if let Some(t) = block["text"]["text"].as_str() {
            out.push((kind.clone(), t.to_owned()));
        }
        for f in block["fields"].as_array().into_iter().flatten() {
            out.push(("field".into(), f["text"].as_str().unwrap().to_owned()));
        }
        for e in block["elements"].as_array().into_iter().flatten() {
            out.push(("context".into(), e["text"].as_str().unwrap().to_owned()));
        }
    }
    out
}

pub fn assert_within_limits(what: &str, message: &Value) {
    let blocks = message["blocks"].as_array().unwrap();
    assert!(blocks.len() <= 50, "{what}: {} blocks", blocks.len());
    for (kind, text) in texts(message) {
        let n = text.chars().count();
        let max = match kind.as_str() {
            "header" => HEADER_MAX,
            "field" | "context" => FIELD_MAX,
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
            "{what}: more than 10 fields"
        );
    }
    assert!(message["text"].as_str().unwrap().chars().count() <= SECTION_MAX);
}

#[test]
fn seed_story_day_1_message() {
    let message = slack::message(&finding("seed-1-initializing"));
    assert_within_limits("seed-1", &message);
    insta::assert_json_snapshot!("seed_1_initializing", message);
}

#[test]
fn seed_story_day_2_message() {
    let message = slack::message(&finding("seed-2-instance-baseline"));
    assert_within_limits("seed-2", &message);
    let all: String = texts(&message)
        .into_iter()
        .map(|(_, t)| t)
        .collect::<Vec<_>>()
        .join("\n");
    assert!(all.contains("demand   "), "the chart is in the message");
    assert!(all.contains("`instance_ebs_burst_exhausted`"));
    insta::assert_json_snapshot!("seed_2_instance_baseline", message);
}

#[test]
fn stalled_and_insufficient_data_messages() {
    for name in ["volume-io-stalled", "insufficient-data"] {
        let message = slack::message(&finding(name));
        assert_within_limits(name, &message);
        insta::assert_json_snapshot!(name.replace('-', "_"), message);
    }
}

#[test]
fn every_scenario_fits_slack() {
    for name in start_doctor_testkit::fixtures::ebs_scenario_names() {
        let f = finding(&name);
        assert_within_limits(&name, &slack::message(&f));
        assert_within_limits(&name, &slack::resolved_reply(&f, Utc::now()));
    }
}

#[test]
fn the_resolved_reply() {
    let f = finding("seed-2-instance-baseline");
    let at = Utc.with_ymd_and_hms(2026, 11, 21, 16, 5, 0).unwrap();
    let reply = slack::resolved_reply(&f, at);
    insta::assert_json_snapshot!("resolved", reply);
}

#[test]
fn untrusted_text_is_escaped() {
    let mut f = finding("volume-iops-limit");
    f.name = Some("<!channel> db & <https://evil.example|click>\u{202e}".into());
    f.evidence.push("alarm <@U123>".into());
    let message = slack::message(&f);
    let all: String = texts(&message)
        .into_iter()
        .map(|(_, t)| t)
        .collect::<Vec<_>>()
        .join("\n");
    assert!(
        all.contains(
            "&lt;!channel&gt; db &amp; &lt;https:\u{200B}//evil.example|click&gt;\u{FFFD}"
        ),
        "{all}"
    );
    assert!(!all.contains("<!channel>"));
}

#[test]
fn oversized_text_is_cut_to_slack_limits() {
    let mut f = finding("seed-2-instance-baseline");
    f.summary = "x&".repeat(5000);
    f.name = Some("n".repeat(4000));
    f.remediation.steps = vec!["step ".repeat(1000); 5];
    f.remediation.commands = vec!["aws ".repeat(1000); 5];
    f.missing = vec!["m".repeat(3000); 3];
    f.volume_ids = (0..120)
        .map(|n| {
            start_doctor_ebs::ids::VolumeId::parse(&format!("vol-0aaaaaaaaaaaa{n:04x}")).unwrap()
        })
        .collect();
    let message = slack::message(&f);
    assert_within_limits("oversized", &message);
    let texts = texts(&message);
    let volumes = texts
        .iter()
        .find(|(_, t)| t.starts_with("*Volumes*"))
        .map(|(_, t)| t.as_str())
        .expect("a Volumes field");
    let shown = volumes.matches("vol-").count();
    assert!(
        shown > 50 && shown < 120,
        "as many whole ids as fit: {shown}"
    );
    assert!(
        volumes.ends_with(&format!("…and {} more", 120 - shown)),
        "the count of the ids left out: {volumes}"
    );
    assert!(
        volumes
            .split([',', '\n'])
            .filter(|p| p.contains("vol-"))
            .all(|p| p.trim().len() == "vol-0aaaaaaaaaaaa0000".len()),
        "no id cut in half"
    );
    for (_, text) in &texts {
        if text.starts_with("*Commands*") {
            assert_eq!(
                text.matches('`').count() % 2,
                0,
                "a code span left open: {text}"
            );
        }
    }
}

#[test]
fn long_lists_take_several_sections_and_count_what_is_left_out() {
    let mut f = finding("seed-2-instance-baseline");
    // 30 commands of 1,000 characters: three a section, eight sections.
    f.remediation.commands = (0..30)
        .map(|n| {
            format!(
                "aws ec2 modify-volume --volume-id vol-{n:017x} {}",
                "x".repeat(940)
            )
        })
        .collect();
    let message = slack::message(&f);
    assert_within_limits("30 commands", &message);
    let commands: Vec<String> = texts(&message)
        .into_iter()
        .map(|(_, t)| t)
        .filter(|t| t.contains(&"x".repeat(900)))
        .collect();
    assert_eq!(commands.len(), 8, "eight sections of commands");
    let shown: usize = commands
        .iter()
        .map(|t| t.matches("modify-volume").count())
        .sum();
    assert!((16..30).contains(&shown), "{shown} whole commands shown");
    assert!(
        commands[7].ends_with(&format!("…and {} more", 30 - shown)),
        "the last section counts what is left out: {}",
        commands[7]
    );
    for text in &commands {
        assert_eq!(text.matches('`').count() % 2, 0, "a command cut: {text}");
    }
}

#[test]
fn one_message_per_instance_and_cause() {
    let a = finding("seed-1-initializing");
    let b = finding("seed-2-instance-baseline");
    assert_eq!(a.instance_id, b.instance_id);
    assert_ne!(
        a.group_key(),
        b.group_key(),
        "two causes of one instance are two messages"
    );
}
