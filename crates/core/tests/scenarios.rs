//! One test per `events/` scenario: the library's diagnoses of the folder
//! equal the scenario's oracle in `tests/expected/`.

use start_doctor_core::{Cause, RemediationKind};
use start_doctor_testkit::fixtures::{diagnose_scenario, expected, pinned_diagnoses};

fn check(name: &str) -> Vec<start_doctor_core::Diagnosis> {
    let diagnoses = diagnose_scenario(name);
    assert_eq!(
        pinned_diagnoses(&diagnoses),
        expected(name),
        "scenario {name}: diagnoses differ from tests/expected/{name}.json"
    );
    diagnoses
}

#[test]
fn seed_story_only_the_instance_with_the_cmk_volume_fails() {
    let d = check("seed-story");
    assert_eq!(
        d.len(),
        1,
        "web-1 reached running and must not be diagnosed"
    );
    let d = &d[0];
    assert_eq!(d.cause, Cause::KmsIdentityPolicyMissing);
    assert_eq!(d.instance_name.as_deref(), Some("reports-db"));
    assert_eq!(d.remediation.kind, RemediationKind::IdentityPolicy);
    assert_eq!(
        d.remediation.attach_to, d.principal_arn,
        "the policy goes on the role"
    );
    let statement = &d.remediation.policy.as_ref().expect("a policy")["Statement"][0];
    assert_eq!(statement["Action"], "kms:CreateGrant");
    assert_eq!(
        statement["Resource"],
        d.kms_key_arn.as_ref().unwrap().as_str()
    );
    assert_eq!(
        statement["Condition"]["Bool"]["kms:GrantIsForAWSResource"],
        "true"
    );
    assert!(
        d.evidence_event_ids.len() >= 3,
        "state changes, start call and the denial: {:?}",
        d.evidence_event_ids
    );
}

#[test]
fn kms_key_policy_missing() {
    let d = check("kms-key-policy-missing");
    let policy = d[0]
        .remediation
        .policy
        .as_ref()
        .expect("a key policy statement");
    assert_eq!(
        policy["Statement"][0]["Principal"]["AWS"],
        d[0].principal_arn.as_ref().unwrap().as_str()
    );
    assert!(
        policy["Statement"][0]["Condition"]["StringEquals"]["kms:ViaService"]
            .as_str()
            .unwrap()
            .starts_with("ec2.")
    );
}

#[test]
fn kms_explicit_deny() {
    let d = check("kms-explicit-deny");
    assert_eq!(d[0].remediation.kind, RemediationKind::RemoveExplicitDeny);
}

#[test]
fn kms_access_denied_by_an_iam_user() {
    let d = check("kms-access-denied");
    assert!(d[0]
        .remediation
        .steps
        .iter()
        .any(|s| s.contains("put-user-policy")));
}

#[test]
fn kms_key_disabled() {
    let d = check("kms-key-disabled");
    assert!(d[0]
        .remediation
        .steps
        .iter()
        .any(|s| s.contains("aws kms enable-key")));
}

#[test]
fn kms_key_pending_deletion() {
    let d = check("kms-key-pending-deletion");
    assert!(d[0]
        .remediation
        .steps
        .iter()
        .any(|s| s.contains("aws kms cancel-key-deletion")));
}

#[test]
fn kms_key_not_found() {
    check("kms-key-not-found");
}

#[test]
fn insufficient_capacity() {
    check("insufficient-capacity");
}

#[test]
fn volume_limit_exceeded() {
    check("volume-limit-exceeded");
}

#[test]
fn snapshot_not_found() {
    check("snapshot-not-found");
}

#[test]
fn internal_error_without_kms_evidence_is_not_guessed() {
    let d = check("internal-error-unexplained");
    assert_eq!(d[0].remediation.kind, RemediationKind::Investigate);
}

#[test]
fn normal_stops_are_not_failures() {
    assert!(check("normal-stops").is_empty());
}

#[test]
fn unrelated_noise_yields_nothing() {
    assert!(check("noise").is_empty());
}

#[test]
fn duplicates_count_once() {
    let d = check("duplicates");
    let seed = diagnose_scenario("seed-story");
    assert_eq!(d, seed, "redelivered events must not change the diagnosis");
}

#[test]
fn a_cloudtrail_archive_alone_is_enough() {
    check("cloudtrail-archive");
}

#[test]
fn lookup_events_output() {
    check("lookup-events");
}

#[test]
fn storm_of_200_instances_one_role_one_key() {
    let d = check("storm");
    assert_eq!(d.len(), 200);
    let groups = start_doctor_core::render::slack::group(&d);
    assert_eq!(groups.len(), 1, "one Slack message for the storm");
}
