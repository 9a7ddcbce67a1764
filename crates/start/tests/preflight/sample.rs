//! The preflight check through the library: the `events/preflight` sample
//! against its oracle, and what the reader makes of authorization details.

use serde_json::Value;
use start_doctor_core::ids::InstanceId;
use start_doctor_start::evidence::EvidenceSet;
use start_doctor_start::ids::PrincipalArn;
use start_doctor_start::preflight::{preflight, PreflightVerdict, PrincipalSource};
use start_doctor_start::read_document;
use start_doctor_testkit::fixtures::{repo, scenario_evidence};

fn sample() -> EvidenceSet {
    scenario_evidence("preflight").into_iter().collect()
}

fn arn(s: &str) -> PrincipalArn {
    PrincipalArn::parse(s).unwrap()
}

#[test]
fn the_library_check_of_the_sample_equals_the_oracle() {
    let report = preflight(&sample(), &[]);
    let text = std::fs::read_to_string(repo().join("tests/expected/preflight.json")).unwrap();
    let oracle: Value = serde_json::from_str(&text).unwrap();
    let want = oracle["checks"].as_array().unwrap();
    assert_eq!(report.checks.len(), want.len());
    for (got, want) in report.checks.iter().zip(want) {
        let got = serde_json::to_value(got).unwrap();
        for field in [
            "instance_id",
            "principal_arn",
            "verdict",
            "cause",
            "kms_key_arns",
        ] {
            assert_eq!(got[field], want[field], "{}: {field}", want["instance_id"]);
        }
    }
    let mut sorted = report.checks.clone();
    sorted.sort_by(|a, b| {
        (&a.instance_id, &a.principal_arn).cmp(&(&b.instance_id, &b.principal_arn))
    });
    assert_eq!(
        sorted, report.checks,
        "checks are sorted by (instance, principal)"
    );
}

#[test]
fn authorization_details_give_paths_default_versions_boundaries_and_group_policies() {
    let set = sample();
    let scheduler = &set.principals[&arn("arn:aws:iam::111122223333:role/ops/nightly-scheduler")];
    assert_eq!(scheduler.path, "/ops/");
    assert_eq!(scheduler.tags, [("team".to_owned(), "platform".to_owned())]);
    let deployer = &set.principals[&arn("arn:aws:iam::111122223333:role/bounded-deployer")];
    let boundary = deployer.permissions_boundary.as_deref().unwrap();
    let doc = set.managed_policies[boundary].document.as_deref().unwrap();
    assert!(
        doc.starts_with('{') && doc.contains("DeployerBoundary"),
        "URL-encoded document decoded: {doc}"
    );
    let access = &set.managed_policies["arn:aws:iam::111122223333:policy/DeployerAccess"];
    assert!(
        access.document.as_deref().unwrap().contains("EbsGrants"),
        "v2 is the default version"
    );
    let alice = &set.principals[&arn("arn:aws:iam::111122223333:user/ops-alice")];
    assert_eq!(alice.inline_policies[0].0, "group ops: OpsEbs");
    assert_eq!(
        alice.attached_policies,
        ["arn:aws:iam::aws:policy/AmazonEC2ReadOnlyAccess"]
    );
}

#[test]
fn a_user_allowed_through_its_group_will_start_on_a_delegating_key() {
    let alice = arn("arn:aws:iam::111122223333:user/ops-alice");
    let report = preflight(&sample(), std::slice::from_ref(&alice));
    let id = InstanceId::parse("i-0f1e2d3c4b5a60001").unwrap();
    let check = report
        .checks
        .iter()
        .find(|c| c.instance_id == id && c.principal_arn == alice)
        .unwrap();
    assert_eq!(check.principal_source, PrincipalSource::Argument);
    assert_eq!(
        check.verdict,
        PreflightVerdict::WillStart,
        "{:?}",
        check.reasons
    );
    assert!(
        check.reasons.iter().any(|r| r.contains("OpsEbsGrants")),
        "{:?}",
        check.reasons
    );
}

#[test]
fn a_principal_unknown_to_the_authorization_details_is_unknown_unless_the_key_decides() {
    let stranger = arn("arn:aws:iam::111122223333:role/stranger");
    let report = preflight(&sample(), std::slice::from_ref(&stranger));
    let verdict = |suffix: &str| {
        let id = InstanceId::parse(&format!("i-0f1e2d3c4b5a6000{suffix}")).unwrap();
        report
            .checks
            .iter()
            .find(|c| c.instance_id == id && c.principal_arn == stranger)
            .map(|c| (c.verdict, c.cause.map(|c| c.as_str())))
            .unwrap()
    };
    assert_eq!(
        verdict("1").0,
        PreflightVerdict::Unknown,
        "delegating key: identity policies decide"
    );
    assert_eq!(
        verdict("4"),
        (PreflightVerdict::WillFail, Some("kms_key_policy_missing")),
        "a key policy naming only others decides without identity policies"
    );
    assert_eq!(
        verdict("9"),
        (PreflightVerdict::WillFail, Some("kms_key_disabled"))
    );
    assert_eq!(
        verdict("3").0,
        PreflightVerdict::WillStart,
        "AWS managed key"
    );
}

#[test]
fn an_identity_center_role_is_fixed_through_its_permission_set() {
    let details = r#"{"RoleDetailList": [{"Path": "/aws-reserved/sso.amazonaws.com/eu-west-1/", "RoleName": "AWSReservedSSO_DataOps_5f1e2d3c4b5a6978",
        "Arn": "arn:aws:iam::111122223333:role/aws-reserved/sso.amazonaws.com/eu-west-1/AWSReservedSSO_DataOps_5f1e2d3c4b5a6978",
        "RolePolicyList": [], "AttachedManagedPolicies": []}]}"#;
    let mut set = sample();
    set.extend(read_document(details.as_bytes()).unwrap().evidence);
    let session = arn("arn:aws:sts::111122223333:assumed-role/AWSReservedSSO_DataOps_5f1e2d3c4b5a6978/alice@example.com");
    let report = preflight(&set, &[session]);
    let id = InstanceId::parse("i-0f1e2d3c4b5a60001").unwrap();
    let check = report
        .checks
        .iter()
        .find(|c| c.instance_id == id && c.principal_arn.as_str().contains("AWSReservedSSO"))
        .unwrap();
    assert!(
        check
            .principal_arn
            .as_str()
            .contains("/aws-reserved/sso.amazonaws.com/eu-west-1/"),
        "path restored"
    );
    assert_eq!(check.verdict, PreflightVerdict::WillFail);
    let steps = check.remediation.as_ref().unwrap().steps.join("\n");
    assert!(steps.contains("permission set DataOps"), "{steps}");
    assert!(!steps.contains("put-role-policy"), "{steps}");
}

#[test]
fn instances_nobody_starts_are_named_in_the_text() {
    let instances = r#"{"Reservations": [{"OwnerId": "111122223333", "Instances": [{"InstanceId": "i-0123456789abcdef0",
        "Placement": {"AvailabilityZone": "eu-west-1a"}, "BlockDeviceMappings": []}]}]}"#;
    let set: EvidenceSet = read_document(instances.as_bytes())
        .unwrap()
        .evidence
        .into_iter()
        .collect();
    let report = preflight(&set, &[]);
    assert!(report.checks.is_empty());
    assert_eq!(report.without_principal.len(), 1);
    let text = start_doctor_start::preflight::render::text(&report);
    assert!(
        text.contains("no known principal starts i-0123456789abcdef0: pass --principal ARN"),
        "{text}"
    );
    assert!(
        text.ends_with("0 checks: 0 will start, 0 will fail, 0 unknown\n"),
        "{text}"
    );
}
