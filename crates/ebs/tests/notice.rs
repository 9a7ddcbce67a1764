//! The EBS doctor in the live path (`notice`): what it publishes and what
//! not, its subject and group, what counts as a change worth a new
//! rendering, and the life of one (instance, cause) through the shared
//! engine over its in-memory ports: posted once, updated when the numbers
//! move, left alone on noise, resolved (message, reply, OpsItem) when it
//! clears. The engine's own behaviour (claims, leases, rate limits) is
//! tested once in the engine crate, not here.

use chrono::{DateTime, Duration, Utc};
use serde_json::{json, Value};
use start_doctor_ebs::finding::Cause;
use start_doctor_ebs::notice::{
    changed_materially, parse_subject, publishable, subject_of, EbsDoctor, EVENT_DETAIL_TYPE,
    MINUTES_CHANGE,
};
use start_doctor_ebs::{Finding, Options};
use start_doctor_engine::memory::{
    MemoryStore, RecordingAnnotator, RecordingDeferrer, RecordingNotifier,
};
use start_doctor_engine::ports::Io;
use start_doctor_engine::{Deadline, Doctor, Engine, Published, Settings, When};
use start_doctor_testkit::fixtures::ebs_scenario_names;
use start_doctor_testkit::schema::assert_ebs_valid;

use crate::common::{findings_of, scenario};

fn finding(name: &str) -> Finding {
    let (mut findings, _) = findings_of(name, &scenario(name), &Options::default());
    assert_eq!(findings.len(), 1, "{name}: one instance");
    findings.remove(0)
}

fn when(now: DateTime<Utc>) -> When {
    When::new(now, Deadline::after(now, 60))
}

type Ports = Io<MemoryStore, RecordingNotifier, RecordingDeferrer, RecordingAnnotator>;

fn ports(notifier: RecordingNotifier) -> Ports {
    Io {
        store: MemoryStore::new(),
        notifier,
        deferrer: RecordingDeferrer::default(),
        annotator: RecordingAnnotator::default(),
    }
}

fn text_of(message: &Value) -> String {
    message.to_string()
}

#[test]
fn only_a_problem_is_published() {
    let mut problems = 0;
    for name in ebs_scenario_names() {
        let (findings, _) = findings_of(&name, &scenario(&name), &Options::default());
        for f in findings {
            let expected = !matches!(f.cause, Cause::NotEbsBound | Cause::InsufficientData);
            assert_eq!(
                publishable(&f),
                expected,
                "{name}: {} is published: {}",
                f.cause.as_str(),
                publishable(&f)
            );
            problems += usize::from(expected);
        }
    }
    assert!(
        problems >= 6,
        "only {problems} problem findings among the scenarios"
    );
    assert!(!publishable(&finding("not-ebs-bound")));
    assert!(!publishable(&finding("insufficient-data")));
}

#[test]
fn one_member_and_one_group_per_instance_and_cause() {
    let doctor = EbsDoctor;
    let f = finding("volume-iops-limit");
    let subject = doctor.subject(&f);
    assert_eq!(
        subject,
        format!("{}#volume_iops_limit", f.instance_id),
        "subject"
    );
    assert_eq!(
        doctor.group(&f),
        subject,
        "the group is the (instance, cause)"
    );
    assert_eq!(doctor.shown_as(&subject), f.instance_id.to_string());
    assert_eq!(doctor.name(), "ebs");
    assert!(doctor.window().is_none(), "lasts until it clears");
    assert!(doctor.shows_resolution());
    let mut other = f.clone();
    other.cause = Cause::InstanceEbsIopsLimit;
    assert_ne!(
        doctor.group(&other),
        doctor.group(&f),
        "another cause of the same instance is another message"
    );
    assert!(
        !doctor.upgrades(&f, &other),
        "a cause never replaces another"
    );
    for cause in [
        Cause::VolumeIopsLimit,
        Cause::VolumeThroughputLimit,
        Cause::VolumeBurstExhausted,
        Cause::InstanceEbsIopsLimit,
        Cause::InstanceEbsThroughputLimit,
        Cause::InstanceEbsBurstExhausted,
        Cause::VolumeInitializing,
        Cause::VolumeIoStalled,
    ] {
        let s = subject_of(&f.instance_id, cause);
        assert_eq!(
            parse_subject(&s),
            Some((f.instance_id.clone(), cause)),
            "{s}"
        );
    }
    assert_eq!(parse_subject("i-0123#no_such_cause"), None);
    assert_eq!(parse_subject("not-an-instance#volume_iops_limit"), None);
}

#[test]
fn noise_does_not_refresh_and_a_material_change_does() {
    let base = finding("volume-iops-limit");
    let changed = |change: &dyn Fn(&mut Finding)| {
        let mut f = base.clone();
        change(&mut f);
        changed_materially(&base, &f)
    };
    assert!(!changed(&|_| {}), "the same finding");
    assert!(
        !changed(&|f| f.minutes_at_limit += f.minutes_at_limit / 8),
        "an eighth more minutes is not yet news: {} minutes",
        base.minutes_at_limit
    );
    assert!(
        !changed(&|f| f.minutes_at_limit += 1),
        "one minute more is noise"
    );
    assert!(
        !changed(&|f| f.peak_demand.iops = f.peak_demand.iops.map(|p| p * 1.05)),
        "a peak 5 % higher is noise"
    );
    assert!(
        changed(&|f| f.peak_demand.iops = f.peak_demand.iops.map(|p| p * 1.2)),
        "a peak 20 % higher is news"
    );
    assert!(
        changed(&|f| f.minutes_at_limit = f.minutes_at_limit * 2 + MINUTES_CHANGE),
        "twice as long at the limit"
    );
    assert!(
        changed(&|f| f.limit.iops = f.limit.iops.map(|l| l + 1000.0)),
        "the volume was modified: a new ceiling"
    );
    assert!(
        changed(&|f| f.volume_ids.clear()),
        "the volumes concerned changed"
    );
    let doctor = EbsDoctor;
    let mut bigger = base.clone();
    bigger.minutes_at_limit = bigger.minutes_at_limit * 2 + MINUTES_CHANGE;
    assert!(doctor.refreshes(&base, &bigger));
    assert!(doctor.same_occurrence(&base, &bigger));
}

#[test]
fn the_announcement_is_the_contract_finding() {
    let doctor = EbsDoctor;
    for name in ebs_scenario_names() {
        let (findings, _) = findings_of(&name, &scenario(&name), &Options::default());
        for f in findings.iter().filter(|f| publishable(f)) {
            let a = doctor.announcement(f);
            assert_eq!(a.detail_type, EVENT_DETAIL_TYPE, "{name}");
            assert_ebs_valid(&name, &json!({ "findings": [a.detail.clone()] }));
            assert_eq!(a.detail["cause"], f.cause.as_str(), "{name}");
            if f.account.is_some() && f.region.is_some() {
                assert!(
                    a.resources[0].ends_with(&format!(":instance/{}", f.instance_id)),
                    "{name}: {:?}",
                    a.resources
                );
                assert_eq!(a.resources.len(), 1 + f.volume_ids.len(), "{name}");
            }
            assert!(a.tag.is_none(), "{name}: the EBS doctor tags nothing");
        }
    }
}

/// The finding a run five minutes later sees, `minutes` later than `f`'s
/// last minute at the limit.
fn later(f: &Finding, minutes: i64) -> DateTime<Utc> {
    f.window.expect("a problem finding has its window").to + Duration::minutes(minutes)
}

#[test]
fn one_message_updated_while_it_lasts_and_resolved_when_it_clears() {
    futures_executor::block_on(async {
        let ports = ports(RecordingNotifier::new());
        let doctor = EbsDoctor;
        let settings = Settings::default();
        let engine = Engine::new(&ports, &doctor, &settings);
        let f = finding("volume-iops-limit");
        let scope = doctor.scope(&f);
        assert_eq!(
            engine.publish(&f, when(later(&f, 2))).await.unwrap(),
            Published::Joined,
            "first run: posted"
        );
        let posts = ports.notifier.posts();
        assert_eq!(posts.len(), 1, "one message");
        assert!(
            text_of(&posts[0].message).contains(f.instance_id.as_str()),
            "the message names the instance"
        );
        assert_eq!(ports.annotator.ops_items(), 1, "one OpsItem");
        let announced = ports.annotator.announced();
        assert_eq!(announced.len(), 1, "one diagnosis event");
        assert_eq!(announced[0].0.detail_type, EVENT_DETAIL_TYPE);

        let mut noise = f.clone();
        noise.minutes_at_limit += 1;
        assert_eq!(
            engine.publish(&noise, when(later(&f, 7))).await.unwrap(),
            Published::Already,
            "a run that sees one minute more changes nothing"
        );
        assert!(ports.notifier.updates().is_empty(), "no update on noise");
        assert_eq!(ports.notifier.posts().len(), 1, "no second post");

        let mut worse = f.clone();
        worse.minutes_at_limit += 30;
        worse.summary = format!("{} (now {} minutes)", f.summary, worse.minutes_at_limit);
        assert_eq!(
            engine.publish(&worse, when(later(&f, 12))).await.unwrap(),
            Published::Refreshed,
            "thirty minutes more is news"
        );
        let updates = ports.notifier.updates();
        assert_eq!(updates.len(), 1, "the message is updated in place");
        assert!(
            text_of(&updates[0].message).contains(&format!("{} minutes", worse.minutes_at_limit)),
            "the update shows the newest numbers: {}",
            updates[0].message
        );
        assert_eq!(ports.notifier.posts().len(), 1, "still one message");

        let cleared = later(&f, 20);
        assert!(engine
            .resolve(&scope, &doctor.subject(&f), cleared, when(cleared))
            .await
            .unwrap());
        let updates = ports.notifier.updates();
        let last = updates.last().expect("the message is updated once more");
        assert!(
            text_of(&last.message).contains("Resolved: EBS"),
            "the message says it cleared: {}",
            last.message
        );
        assert!(
            text_of(&last.message).contains(&format!("{} minutes", worse.minutes_at_limit)),
            "and keeps the numbers last seen"
        );
        let replies = ports.notifier.replies();
        assert_eq!(replies.len(), 1, "one thread reply");
        assert!(text_of(&replies[0].message).contains("Resolved:"));
        assert_eq!(
            ports.annotator.resolved().len(),
            1,
            "the OpsItem is resolved"
        );
        assert!(
            engine.open_groups(&scope).await.unwrap().is_empty(),
            "nothing left open"
        );

        let again = later(&f, 40);
        let mut back = f.clone();
        back.window = back.window.map(|mut w| {
            w.to = again - Duration::minutes(2);
            w
        });
        assert_eq!(
            engine.publish(&back, when(again)).await.unwrap(),
            Published::Joined,
            "hitting the limit again after it cleared is published again"
        );
        assert!(
            ports
                .notifier
                .replies()
                .iter()
                .any(|r| text_of(&r.message).contains("again")),
            "a reply says it is back"
        );
    });
}

#[test]
fn a_second_instance_gets_its_own_message() {
    futures_executor::block_on(async {
        let ports = ports(RecordingNotifier::new());
        let doctor = EbsDoctor;
        let settings = Settings::default();
        let engine = Engine::new(&ports, &doctor, &settings);
        let f = finding("volume-iops-limit");
        let mut g = f.clone();
        g.instance_id = start_doctor_core::ids::InstanceId::parse("i-0aaaabbbbccccddd1").unwrap();
        engine.publish(&f, when(later(&f, 2))).await.unwrap();
        engine.publish(&g, when(later(&f, 2))).await.unwrap();
        let posts = ports.notifier.posts();
        assert_eq!(posts.len(), 2, "two instances, two messages");
        assert!(text_of(&posts[1].message).contains("i-0aaaabbbbccccddd1"));
        assert_eq!(ports.annotator.ops_items(), 2, "two OpsItems");
    });
}

#[test]
fn cleared_message_and_opsitem_snapshots() {
    let doctor = EbsDoctor;
    let f = finding("volume-iops-limit");
    let members = [doctor.subject(&f)];
    let mut tally = start_doctor_ebs::notice::Tally::default();
    doctor.tally(&mut tally, None, &f);
    let key = "ebs#group#x";
    let view = start_doctor_engine::GroupView::<EbsDoctor> {
        key,
        finding: &f,
        members: &members,
        tally: &tally,
        resolved: &members,
        ops_item: None,
        name_all: false,
    };
    let message = doctor.message(&view);
    assert!(view.all_resolved());
    insta::assert_json_snapshot!("cleared_volume_iops_limit", message);
    let a = doctor.annotation(&view);
    assert!(a.title.chars().count() <= 1024 && a.description.chars().count() <= 2048);
    insta::assert_snapshot!(
        "opsitem_volume_iops_limit",
        format!(
            "title: {}\nseverity: {} category: {}\nresources: {:?}\ndata: {:?}\n\n{}",
            a.title, a.severity, a.category, a.resources, a.operational_data, a.description
        )
    );
}

#[test]
fn every_live_message_is_within_slack_limits() {
    let doctor = EbsDoctor;
    for name in ebs_scenario_names() {
        let (findings, _) = findings_of(&name, &scenario(&name), &Options::default());
        for f in findings.iter().filter(|f| publishable(f)) {
            let members = [doctor.subject(f)];
            let mut tally = start_doctor_ebs::notice::Tally::default();
            doctor.tally(&mut tally, None, f);
            for resolved in [&[][..], &members[..]] {
                let view = start_doctor_engine::GroupView::<EbsDoctor> {
                    key: "k",
                    finding: f,
                    members: &members,
                    tally: &tally,
                    resolved,
                    ops_item: None,
                    name_all: true,
                };
                crate::slack::assert_within_limits(&name, &doctor.message(&view));
                crate::slack::assert_within_limits(&name, &doctor.follow_up(&view, &members));
                crate::slack::assert_within_limits(
                    &name,
                    &doctor.resolved_reply(&view, &members, later(f, 5)),
                );
            }
            crate::slack::assert_within_limits(&name, &doctor.again_reply(f));
        }
    }
}
