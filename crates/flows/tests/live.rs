//! The flows doctor in the live path (`start_doctor_flows::live`): the
//! doctor's own decisions (subject, group, tally, refresh, upgrade, what is
//! never posted) and what its messages, OpsItem and event say, driven
//! through the shared engine on its in-memory ports. The engine's own
//! behaviour (claims, leases, rate limits) is tested once in the engine's
//! crate and not again here.

use chrono::{DateTime, Duration, TimeZone, Utc};
use futures_executor::block_on;
use serde_json::Value;
use start_doctor_engine::memory::{
    MemoryStore, RecordingAnnotator, RecordingDeferrer, RecordingNotifier,
};
use start_doctor_engine::ports::Io;
use start_doctor_engine::{Deadline, Deferred, Doctor, Engine, Later, Published, Settings, When};
use start_doctor_flows::finding::{Cause, Finding, Noise};
use start_doctor_flows::live::{
    conversation_name, publishable, Aggregate, FlowsDoctor, NoiseTally, SetAside, Tally,
    EVENT_DETAIL_TYPE,
};
use start_doctor_flows::Options;
use start_doctor_testkit::schema::assert_flows_valid;

use crate::support::diagnose_scenario;

type Ports = Io<MemoryStore, RecordingNotifier, RecordingDeferrer, RecordingAnnotator>;

fn ports(notifier: RecordingNotifier) -> Ports {
    Io {
        store: MemoryStore::new(),
        notifier,
        deferrer: RecordingDeferrer::default(),
        annotator: RecordingAnnotator::default(),
    }
}

/// Works off the engine's deferred notices (flushes, posts, follow-ups)
/// at `now`, as the function's queue would deliver them; how many.
fn run_notices(
    engine: &Engine<'_, Ports, FlowsDoctor>,
    ports: &Ports,
    now: DateTime<Utc>,
) -> usize {
    let notices: Vec<Deferred<()>> = ports.deferrer.take();
    for n in &notices {
        assert_eq!(n.doctor, "flows", "every deferred message names its doctor");
        if let Later::Notice(notice) = &n.what {
            block_on(engine.handle(notice, when(now))).expect("notice");
        }
    }
    notices.len()
}

fn at(minute: i64) -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 11, 20, 9, 0, 0)
        .single()
        .unwrap_or_default()
        + Duration::minutes(minute)
}

fn when(now: DateTime<Utc>) -> When {
    When::new(now, Deadline::after(now, 60))
}

/// The seed story's findings: two on-premises clients dropped by rule 100
/// of the attachment subnet's network ACL in AZ c.
fn seed() -> Vec<Finding> {
    let report = diagnose_scenario("seed-story", &Options::default());
    assert_eq!(report.findings.len(), 2, "seed-story: two conversations");
    report.findings
}

/// Every text of a Block Kit message, joined.
fn text(message: &Value) -> String {
    let mut out = message["text"].as_str().unwrap_or_default().to_owned();
    for block in message["blocks"].as_array().into_iter().flatten() {
        for t in [&block["text"]["text"]]
            .into_iter()
            .chain(
                block["fields"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .map(|f| &f["text"]),
            )
            .chain(
                block["elements"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .map(|e| &e["text"]),
            )
        {
            if let Some(t) = t.as_str() {
                out.push('\n');
                out.push_str(t);
            }
        }
    }
    out
}

#[test]
fn the_seed_storys_conversations_are_two_members_of_one_group() {
    let doctor = FlowsDoctor;
    let findings = seed();
    let (a, b) = (&findings[0], &findings[1]);
    assert_eq!(doctor.group(a), doctor.group(b), "one (cause, control)");
    assert_eq!(
        doctor.group(a),
        "tgw_entry_az_nacl/acl-0a1b2c3d4e5f6a00c/subnet-0a1b2c3d4e5f6a0c3/100/egress"
    );
    assert_ne!(doctor.subject(a), doctor.subject(b), "two conversations");
    assert_eq!(doctor.subject(a), conversation_name(a));
    assert!(
        doctor.subject(a).contains(&a.client.to_string()) && doctor.subject(a).contains("TCP 5432"),
        "the subject names the conversation: {}",
        doctor.subject(a)
    );
    assert_eq!(doctor.scope(a).key(), "111122223333#eu-west-1");
    assert!(doctor.window().is_none(), "a rule drops until fixed");
}

#[test]
fn a_finding_reads_back_from_its_json_on_every_scenario() {
    for scenario in [
        "seed-story",
        "nacl-inbound-deny",
        "nacl-outbound-deny",
        "nacl-return-traffic-deny",
        "security-group-no-allow",
        "block-public-access",
        "unexplained",
        "ipv6",
    ] {
        let report = diagnose_scenario(scenario, &Options::default());
        for finding in &report.findings {
            let json = serde_json::to_value(finding).expect("serialises");
            let back: Finding = serde_json::from_value(json.clone())
                .unwrap_or_else(|e| panic!("{scenario}: does not read back: {e}\n{json}"));
            assert_eq!(&back, finding, "{scenario}: round trip changed the finding");
        }
    }
}

#[test]
fn the_tally_adds_members_and_replaces_a_members_old_counts() {
    let doctor = FlowsDoctor;
    let findings = seed();
    let mut tally = Tally::default();
    doctor.tally(&mut tally, None, &findings[0]);
    doctor.tally(&mut tally, None, &findings[1]);
    let rejected = findings[0].rejected_records + findings[1].rejected_records;
    assert_eq!(tally.rejected_records, rejected);
    let mut grown = findings[0].clone();
    grown.rejected_records += 40;
    grown.last_seen += Duration::minutes(30);
    doctor.tally(&mut tally, Some(&findings[0]), &grown);
    assert_eq!(
        tally.rejected_records,
        rejected + 40,
        "a member's new counts replace its old ones, not add to them"
    );
    assert_eq!(tally.last_seen, Some(grown.last_seen));
    assert_eq!(
        tally.first_seen,
        Some(findings[0].first_seen.min(findings[1].first_seen))
    );
}

#[test]
fn growth_refreshes_a_new_cause_upgrades_and_unexplained_never_does() {
    let doctor = FlowsDoctor;
    let old = seed().remove(0);
    let mut grown = old.clone();
    grown.rejected_records += 1;
    assert!(doctor.refreshes(&old, &grown), "one more reject");
    assert!(
        !doctor.refreshes(&old, &old),
        "a redelivery changes nothing"
    );
    assert!(!doctor.upgrades(&old, &grown), "same group");
    let mut moved = old.clone();
    if let Some(control) = moved.control.as_mut() {
        control.rule_number = Some(110);
    }
    assert!(doctor.upgrades(&old, &moved), "the rule was renumbered");
    let mut unknown = old.clone();
    unknown.cause = Cause::Unexplained;
    unknown.control = None;
    assert!(!publishable(&unknown));
    assert!(
        !doctor.upgrades(&old, &unknown),
        "a failed configuration read must not replace the rule found"
    );
}

#[test]
fn one_message_names_the_rule_and_each_azs_verdict_and_grows_in_place() {
    let ports = ports(RecordingNotifier::new());
    let doctor = FlowsDoctor;
    let settings = Settings::default();
    let engine = Engine::new(&ports, &doctor, &settings);
    let findings = seed();
    for f in &findings {
        let published = block_on(engine.publish(f, when(at(0)))).expect("publish");
        assert_eq!(published, Published::Joined);
    }
    // The second member joined within the update interval: one deferred
    // flush renders it.
    assert_eq!(run_notices(&engine, &ports, at(1)), 1, "one flush");
    let posts = ports.notifier.posts();
    assert_eq!(posts.len(), 1, "one message for the group, not one each");
    let updates = ports.notifier.updates();
    let last = updates.last().map_or(&posts[0].message, |u| &u.message);
    let shown = text(last);
    for expected in [
        "2 connections dropped",
        "acl-0a1b2c3d4e5f6a00c",
        "rule 100 (outbound)",
        "subnet-0a1b2c3d4e5f6a0c3",
        "`euw1-az1` passes",
        "`euw1-az3` *fails*",
        &doctor.subject(&findings[0]),
        &doctor.subject(&findings[1]),
    ] {
        assert!(
            shown.contains(expected),
            "missing {expected:?} in:\n{shown}"
        );
    }
    // More rejects of one conversation, after the update interval: the same
    // message, updated with the new total.
    let mut grown = findings[0].clone();
    grown.rejected_records += 1000;
    let published = block_on(engine.publish(&grown, when(at(5)))).expect("publish");
    assert_eq!(published, Published::Refreshed);
    assert_eq!(ports.notifier.posts().len(), 1, "no new post");
    let updates = ports.notifier.updates();
    let total = findings[0].rejected_records + findings[1].rejected_records + 1000;
    let shown = text(&updates.last().expect("an update").message);
    assert!(
        shown.contains(&format!("{total} rejected")),
        "the update shows {total} rejected:\n{shown}"
    );
    insta::assert_json_snapshot!("live_seed_story_grown", updates.last().map(|u| &u.message));
    // The same counts again (a retried batch): nothing at all.
    let before = ports.notifier.updates().len();
    let again = block_on(engine.publish(&grown, when(at(10)))).expect("publish");
    assert_eq!(again, Published::Already);
    assert_eq!(ports.notifier.updates().len(), before);
}

#[test]
fn a_webhook_post_names_every_conversation_of_a_storm() {
    let ports = ports(RecordingNotifier::webhook_like());
    let doctor = FlowsDoctor;
    let settings = Settings {
        gather: Duration::zero(),
        ..Settings::default()
    };
    let engine = Engine::new(&ports, &doctor, &settings);
    let base = seed().remove(0);
    let mut subjects = Vec::new();
    for i in 0..400u32 {
        let mut f = base.clone();
        f.client = std::net::IpAddr::from([10, 20, (i / 200) as u8, (i % 200) as u8 + 1]);
        subjects.push(doctor.subject(&f));
        block_on(engine.publish(&f, when(at(0)))).expect("publish");
    }
    // Follow-ups, one per interval, until every member is named.
    let mut minute = 0;
    while run_notices(&engine, &ports, at(minute)) > 0 && minute < 60 {
        minute += 2;
    }
    let posts = ports.notifier.posts();
    assert!(!posts.is_empty(), "posted");
    let all: String = posts.iter().map(|p| text(&p.message)).collect();
    for s in &subjects {
        assert!(
            all.contains(s.as_str()),
            "{s} never named in a webhook post"
        );
    }
    for p in &posts {
        let blocks = p.message["blocks"].as_array().map_or(0, Vec::len);
        assert!(blocks <= 50, "{blocks} blocks");
    }
    assert!(
        posts.len() < 10,
        "a storm is a few posts, not one per conversation: {}",
        posts.len()
    );
}

#[test]
fn the_opsitem_and_the_event_carry_the_finding_and_its_arns() {
    let ports = ports(RecordingNotifier::new());
    let doctor = FlowsDoctor;
    let settings = Settings::default();
    let engine = Engine::new(&ports, &doctor, &settings);
    let findings = seed();
    for f in &findings {
        block_on(engine.publish(f, when(at(0)))).expect("publish");
    }
    let announced = ports.annotator.announced();
    assert_eq!(announced.len(), 2, "one event per conversation");
    for (event, _) in &announced {
        assert_eq!(event.detail_type, EVENT_DETAIL_TYPE);
        assert_flows_valid(
            "live event detail",
            &serde_json::json!({"findings": [event.detail.clone()], "noise": {"after_close": 0, "unsolicited": 0}}),
        );
        assert!(
            event.resources.iter().any(
                |r| r == "arn:aws:ec2:eu-west-1:111122223333:network-acl/acl-0a1b2c3d4e5f6a00c"
            ),
            "the network ACL's ARN: {:?}",
            event.resources
        );
    }
    let key = engine.group_key(&findings[0]);
    let group: start_doctor_engine::engine::Group<Finding, Tally> =
        block_on(start_doctor_engine::record::read(&ports.store, &key))
            .expect("store")
            .map(|(g, _)| g)
            .expect("the group record");
    let view = start_doctor_engine::GroupView {
        key: &key,
        finding: &group.finding,
        members: &group.members,
        tally: &group.tally,
        resolved: &group.resolved,
        ops_item: None,
        name_all: false,
    };
    let annotation = doctor.annotation(&view);
    assert!(
        annotation.title.contains("2 connections")
            && annotation
                .title
                .contains("rule 100 of acl-0a1b2c3d4e5f6a00c"),
        "{}",
        annotation.title
    );
    assert!(annotation.description.contains("Fix:"));
    assert!(annotation
        .operational_data
        .iter()
        .any(|(k, v)| k == "start-doctor:rule_number" && v == "100"));
    assert_eq!(annotation.severity, 2, "intermittent drops are severity 2");
}

#[test]
fn an_aggregate_counts_each_batch_once() {
    let finding = seed().remove(0);
    let mut aggregate = Aggregate::default();
    assert!(aggregate.merge("batch-1", &finding));
    assert!(
        !aggregate.merge("batch-1", &finding),
        "a retried batch is not counted twice"
    );
    let mut later = finding.clone();
    later.rejected_records = 7;
    later.first_seen += Duration::hours(1);
    later.last_seen += Duration::hours(1);
    assert!(aggregate.merge("batch-2", &later));
    let published = aggregate.apply(&later);
    assert_eq!(published.rejected_records, finding.rejected_records + 7);
    assert_eq!(published.first_seen, finding.first_seen);
    assert_eq!(published.last_seen, later.last_seen);
    for i in 0..100 {
        aggregate.merge(&format!("b{i}"), &later);
    }
    assert!(
        aggregate.batches.len() <= start_doctor_flows::live::REMEMBERED_BATCHES,
        "the batch memory is bounded"
    );
}

#[test]
fn noise_is_counted_once_per_batch_and_an_empty_batch_writes_nothing() {
    let mut tally = NoiseTally::default();
    let aside = SetAside {
        noise: Noise {
            after_close: 2,
            unsolicited: 30,
        },
        left_out_conversations: 3,
        left_out_records: 9,
    };
    assert!(tally.merge("b1", &aside));
    assert!(!tally.merge("b1", &aside));
    assert!(!tally.merge("b2", &SetAside::default()), "nothing to write");
    assert_eq!(tally.noise.unsolicited, 30);
    assert_eq!(tally.left_out_records, 9);
    let report = diagnose_scenario("noise-scan", &Options::default());
    assert!(
        report.findings.iter().all(|f| !publishable(f)) || report.findings.is_empty(),
        "noise-scan: nothing to post"
    );
    assert!(report.noise.unsolicited > 0, "noise-scan: counted");
}
