//! Slack Block Kit rendering: snapshots of the messages people will see,
//! escaping of untrusted text, and Slack's size limits.

use serde_json::Value;
use start_doctor_core::render::slack::{self, HEADER_MAX, SECTION_MAX};
use start_doctor_core::Diagnosis;

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

fn assert_within_limits(message: &Value) {
    let blocks = message["blocks"].as_array().unwrap();
    assert!(blocks.len() <= 50, "{} blocks", blocks.len());
    for (kind, text) in texts(message) {
        let n = text.chars().count();
        let max = match kind.as_str() {
            "header" => HEADER_MAX,
            "field" | "context" => 2000,
            _ => SECTION_MAX,
        };
        assert!(n <= max, "{kind} text has {n} characters (max {max})");
    }
    for block in blocks {
        assert!(block["fields"].as_array().is_none_or(|f| f.len() <= 10));
    }
}

#[test]
fn seed_story_message() {
    let diagnoses = start_doctor_testkit::fixtures::diagnose_scenario("seed-story");
    let message = slack::message(&[&diagnoses[0]]);
    assert_within_limits(&message);
    insta::assert_json_snapshot!("seed_story", message);
}

#[test]
fn storm_is_one_message_listing_the_first_instances() {
    let diagnoses = start_doctor_testkit::fixtures::diagnose_scenario("storm");
    let groups = slack::group(&diagnoses);
    assert_eq!(groups.len(), 1);
    let message = slack::message(&groups[0]);
    assert_within_limits(&message);
    let all = texts(&message)
        .into_iter()
        .map(|(_, t)| t)
        .collect::<Vec<_>>()
        .join("\n");
    assert!(all.contains("Instances (200)"));
    assert!(all.contains("…and 180 more"), "volumes");
    // The instance links fill the field whole: none is cut in half, and
    // the count of those left out survives.
    let instances = texts(&message)
        .into_iter()
        .map(|(_, t)| t)
        .find(|t| t.starts_with("*Instances (200)*"))
        .unwrap();
    assert!(instances.ends_with("\n…and 186 more"), "{instances}");
    assert_eq!(instances.matches('<').count(), 14);
    assert_eq!(instances.matches('>').count(), 14);
    assert!(message["blocks"][0]["text"]["text"]
        .as_str()
        .unwrap()
        .starts_with("200 EC2 instances failed"));
    insta::assert_json_snapshot!("storm", message);
}

#[test]
fn untrusted_text_is_escaped() {
    let mut d: Diagnosis =
        start_doctor_testkit::fixtures::diagnose_scenario("seed-story").remove(0);
    d.instance_name = Some("<!channel> db & <https://evil.example|click>".into());
    if let Some(e) = d.kms_error.as_mut() {
        e.message = "denied <@U123> & more".into();
    }
    let message = slack::message(&[&d]);
    let all = texts(&message)
        .into_iter()
        .map(|(_, t)| t)
        .collect::<Vec<_>>()
        .join("\n");
    assert!(all.contains("&lt;!channel&gt; db &amp; &lt;https://evil.example|click&gt;"));
    assert!(all.contains("denied &lt;@U123&gt; &amp; more"));
    assert!(!all.contains("<!channel>") && !all.contains("<@U123>"));
}

#[test]
fn oversized_text_is_cut_to_slack_limits() {
    let mut d: Diagnosis =
        start_doctor_testkit::fixtures::diagnose_scenario("seed-story").remove(0);
    d.summary = "x&".repeat(5000);
    d.instance_name = Some("n".repeat(4000));
    d.remediation.steps = vec!["step ".repeat(1000); 5];
    let message = slack::message(&[&d]);
    assert_within_limits(&message);
    assert!(message["text"].as_str().unwrap().chars().count() <= SECTION_MAX);
}

#[test]
fn different_causes_are_different_messages() {
    let mut diagnoses = start_doctor_testkit::fixtures::diagnose_scenario("seed-story");
    diagnoses.extend(start_doctor_testkit::fixtures::diagnose_scenario(
        "kms-key-disabled",
    ));
    diagnoses.extend(start_doctor_testkit::fixtures::diagnose_scenario(
        "insufficient-capacity",
    ));
    assert_eq!(slack::group(&diagnoses).len(), 3);
}
