//! One test per `events/` scenario: the library's diagnoses of the folder
//! equal the scenario's oracle in `tests/expected/`.

use start_doctor_start::{Cause, RemediationKind};
use start_doctor_testkit::fixtures::{diagnose_scenario, expected, pinned_diagnoses};

fn check(name: &str) -> Vec<start_doctor_start::Diagnosis> {
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
    let groups = start_doctor_start::render::slack::group(&d);
    assert_eq!(groups.len(), 1, "one Slack message for the storm");
}

/// Every step of every diagnosis, one per line.
fn steps(d: &start_doctor_start::Diagnosis) -> String {
    d.remediation.steps.join("\n")
}

#[test]
fn last_week_s_fixed_denial_is_history_not_today_s_cause() {
    let d = check("history-then-unexplained");
    assert_eq!(d[0].cause, Cause::InternalErrorUnexplained);
    assert_eq!(d[0].failed_attempts, 2, "two failed attempts in the input");
    assert!(
        d[0].evidence_event_ids.iter().all(|id| !id.is_empty()),
        "{:?}",
        d[0].evidence_event_ids
    );
    assert_eq!(d[0].kms_error, None, "the old denial is not evidence");
}

#[test]
fn every_denied_key_is_listed_and_covered_by_one_statement() {
    let d = check("multiple-keys-denied");
    let policy = d[0]
        .remediation
        .policy
        .as_ref()
        .expect("an identity policy");
    let statements = policy["Statement"].as_array().expect("statements");
    assert_eq!(statements.len(), 1);
    let keys: Vec<&str> = d[0].kms_key_arns.iter().map(|k| k.as_str()).collect();
    assert_eq!(statements[0]["Resource"], serde_json::json!(keys));
    assert_eq!(d[0].kms_key_arn.as_ref(), d[0].kms_key_arns.first());
}

#[test]
fn pending_import_is_fixed_by_importing_not_enabling() {
    let d = check("kms-key-pending-import");
    assert_eq!(d[0].remediation.kind, RemediationKind::ImportKeyMaterial);
    assert!(steps(&d[0]).contains("aws kms import-key-material"));
    assert!(!steps(&d[0]).contains("aws kms enable-key"));
}

#[test]
fn an_unavailable_key_is_fixed_by_reconnecting_its_store() {
    let d = check("kms-key-unavailable");
    assert_eq!(d[0].remediation.kind, RemediationKind::ConnectKeyStore);
    assert!(steps(&d[0]).contains("connect-custom-key-store"));
}

#[test]
fn a_permissions_boundary_denial_is_fixed_in_the_boundary() {
    let d = check("kms-permissions-boundary-missing");
    assert_eq!(d[0].remediation.kind, RemediationKind::PermissionsBoundary);
    assert!(steps(&d[0]).contains("create-policy-version"));
}

#[test]
fn a_session_policy_denial_is_fixed_where_the_session_is_made() {
    let d = check("kms-session-policy-missing");
    assert_eq!(d[0].remediation.kind, RemediationKind::SessionPolicy);
    assert!(!steps(&d[0]).contains("put-role-policy"));
}

#[test]
fn another_reason_clause_is_quoted_not_guessed() {
    let d = check("kms-access-denied-other-clause");
    assert!(
        d[0].summary.contains("no VPC endpoint policy allows"),
        "{}",
        d[0].summary
    );
}

#[test]
fn a_service_linked_role_launch_is_fixed_in_the_key_policy_and_launched_again() {
    let d = check("autoscaling-launch-denied");
    assert_eq!(d[0].remediation.kind, RemediationKind::KeyPolicy);
    let s = steps(&d[0]);
    assert!(!s.contains("put-role-policy"), "{s}");
    assert!(!s.contains("start-instances"), "{s}");
    assert!(s.contains("put-key-policy"), "{s}");
    let policy = d[0]
        .remediation
        .policy
        .as_ref()
        .expect("key policy statements");
    assert_eq!(
        policy["Statement"][1]["Condition"]["Bool"]["kms:GrantIsForAWSResource"],
        true
    );
}

#[test]
fn an_identity_center_role_is_fixed_in_its_permission_set() {
    let d = check("identity-center-role");
    let s = steps(&d[0]);
    assert!(s.contains("put-inline-policy-to-permission-set"), "{s}");
    assert!(!s.contains("put-role-policy"), "{s}");
}

#[test]
fn the_2026_record_shapes_give_the_role_with_its_path() {
    let d = check("eventversion-1-11-role-path");
    assert_eq!(d[0].remediation.kind, RemediationKind::IdentityPolicy);
    assert!(steps(&d[0]).contains("put-role-policy --role-name instance-scheduler "));
}

#[test]
fn kms_records_aws_did_not_write_for_the_instance_prove_nothing() {
    assert!(check("untrusted-kms-records").is_empty());
}

#[test]
fn ec2_s_own_decrypt_names_the_instance_not_the_principal() {
    let d = check("ec2-infrastructure-decrypt");
    assert!(d[0]
        .principal_arn
        .as_ref()
        .is_some_and(|p| !p.as_str().contains("ec2-infrastructure")));
    assert_eq!(d[0].remediation.kind, RemediationKind::EnableKey);
}

#[test]
fn an_invalid_key_state_launch_takes_the_key_state_and_launches_again() {
    let d = check("launch-invalid-kms-key-state");
    let s = steps(&d[0]);
    assert!(s.contains("aws kms enable-key"), "{s}");
    assert!(!s.contains("start-instances"), "{s}");
    assert!(
        d[0].summary.contains("failed to launch"),
        "{}",
        d[0].summary
    );
}
