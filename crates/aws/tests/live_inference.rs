//! Live-check inference without CloudTrail: an instance on moto whose
//! volume's key carries a key policy of each shape, the IAM simulator mocked
//! (moto cannot simulate) and required to receive EC2's request context.
//! The cause must be one the evidence proves, else `kms_access_denied` or
//! `internal_error_unexplained`.

use aws_sdk_ec2::types::{InstanceType, Placement};
use aws_sdk_iam::operation::simulate_principal_policy::{
    SimulatePrincipalPolicyInput, SimulatePrincipalPolicyOutput,
};
use aws_sdk_iam::types::{EvaluationResult, PolicyEvaluationDecisionType};
use aws_smithy_mocks::{mock, mock_client, RuleMode};
use chrono::{DateTime, Utc};
use start_doctor_aws::live::{AwsLiveChecks, Clients};
use start_doctor_core::ids::InstanceId;
use start_doctor_start::evidence::{
    Evidence, InstanceState, Origin, StartApi, StartCall, StateChange,
};
use start_doctor_start::ids::PrincipalArn;
use start_doctor_start::ports::{LiveChecks, LiveRequest};
use start_doctor_start::{Cause, EvidenceSet};

/// moto's account.
const ACCOUNT: &str = "123456789012";
const ROLE: &str = "arn:aws:iam::123456789012:role/ops/instance-scheduler";

fn root_delegation() -> String {
    format!(
        r#"{{"Version":"2012-10-17","Statement":[{{"Sid":"Enable IAM User Permissions","Effect":"Allow","Principal":{{"AWS":"arn:aws:iam::{ACCOUNT}:root"}},"Action":"kms:*","Resource":"*"}}]}}"#
    )
}

fn named_only(principal: &str) -> String {
    format!(
        r#"{{"Version":"2012-10-17","Statement":[{{"Sid":"Admins","Effect":"Allow","Principal":{{"AWS":"arn:aws:iam::{ACCOUNT}:role/key-admin"}},"Action":"kms:*","Resource":"*"}},
        {{"Sid":"App","Effect":"Allow","Principal":{{"AWS":"{principal}"}},"Action":["kms:CreateGrant","kms:Decrypt"],"Resource":"*"}}]}}"#
    )
}

fn everyone_via_ec2() -> String {
    format!(
        r#"{{"Version":"2012-10-17","Statement":[{{"Sid":"Admins","Effect":"Allow","Principal":{{"AWS":"arn:aws:iam::{ACCOUNT}:role/key-admin"}},"Action":"kms:*","Resource":"*"}},
        {{"Sid":"Ebs","Effect":"Allow","Principal":{{"AWS":"*"}},"Action":["kms:Encrypt","kms:Decrypt","kms:ReEncrypt*","kms:GenerateDataKey*","kms:CreateGrant","kms:DescribeKey"],"Resource":"*",
          "Condition":{{"StringEquals":{{"kms:CallerAccount":"{ACCOUNT}","kms:ViaService":"ec2.eu-west-1.amazonaws.com"}}}}}}]}}"#
    )
}

fn conditional_root() -> String {
    format!(
        r#"{{"Version":"2012-10-17","Statement":[{{"Sid":"Admins","Effect":"Allow","Principal":{{"AWS":"arn:aws:iam::{ACCOUNT}:role/key-admin"}},"Action":"kms:*","Resource":"*"}},
        {{"Sid":"Delegate","Effect":"Allow","Principal":{{"AWS":"arn:aws:iam::{ACCOUNT}:root"}},"Action":"kms:CreateGrant","Resource":"*",
          "Condition":{{"StringEquals":{{"aws:PrincipalTag/team":"platform"}}}}}}]}}"#
    )
}

/// Whether the simulation asked what EC2's request asks: a grant for an
/// AWS resource, via EC2 in the key's region, by the principal's account.
fn has_ec2_context(input: &SimulatePrincipalPolicyInput) -> bool {
    let entry = |name: &str, value: &str| {
        input.context_entries().iter().any(|e| {
            e.context_key_name() == Some(name) && e.context_key_values().iter().any(|v| v == value)
        })
    };
    input.action_names() == ["kms:CreateGrant"]
        && entry("kms:GrantIsForAWSResource", "true")
        && entry("kms:ViaService", "ec2.eu-west-1.amazonaws.com")
        && entry("kms:CallerAccount", ACCOUNT)
}

/// An instance on moto with a volume on a new key whose policy is
/// `policy`, checked live with the simulator answering `decision`; returns
/// the cause the core draws from a failed start of it.
async fn infer(policy: &str, decision: PolicyEvaluationDecisionType) -> Cause {
    let sdk = crate::support::sdk_config().await;
    let ec2 = aws_sdk_ec2::Client::new(&sdk);
    let kms = aws_sdk_kms::Client::new(&sdk);
    let key = kms
        .create_key()
        .policy(policy)
        .send()
        .await
        .expect("moto creates the key");
    let key_arn = key
        .key_metadata()
        .and_then(|m| m.arn())
        .unwrap_or_default()
        .to_owned();
    let images = ec2
        .describe_images()
        .send()
        .await
        .expect("moto lists images");
    let ami = images.images()[0].image_id().unwrap_or_default().to_owned();
    let run = ec2
        .run_instances()
        .image_id(ami)
        .instance_type(InstanceType::T3Micro)
        .min_count(1)
        .max_count(1)
        .placement(Placement::builder().availability_zone("eu-west-1a").build())
        .send()
        .await
        .expect("moto runs an instance");
    let id = run.instances()[0]
        .instance_id()
        .unwrap_or_default()
        .to_owned();
    let volume = ec2
        .create_volume()
        .availability_zone("eu-west-1a")
        .size(8)
        .encrypted(true)
        .kms_key_id(&key_arn)
        .send()
        .await
        .expect("moto creates the volume");
    ec2.attach_volume()
        .volume_id(volume.volume_id().unwrap_or_default())
        .instance_id(&id)
        .device("/dev/sdf")
        .send()
        .await
        .expect("moto attaches the volume");

    let simulate = mock!(aws_sdk_iam::Client::simulate_principal_policy)
        .match_requests(has_ec2_context)
        .then_output(move || {
            SimulatePrincipalPolicyOutput::builder()
                .evaluation_results(
                    EvaluationResult::builder()
                        .eval_action_name("kms:CreateGrant")
                        .eval_decision(decision.clone())
                        .build()
                        .expect("a complete result"),
                )
                .build()
        });
    let lookup = mock!(aws_sdk_cloudtrail::Client::lookup_events).then_output(|| {
        aws_sdk_cloudtrail::operation::lookup_events::LookupEventsOutput::builder().build()
    });
    let iam = mock_client!(aws_sdk_iam, RuleMode::MatchAny, &[&simulate]);
    let cloudtrail = mock_client!(aws_sdk_cloudtrail, RuleMode::MatchAny, &[&lookup]);
    let live = AwsLiveChecks::from_clients(Clients::from_parts(ec2, kms, iam, cloudtrail));

    let instance = InstanceId::parse(&id).expect("moto's instance id");
    let principal = PrincipalArn::parse(ROLE).expect("the role ARN");
    let evidence = live
        .describe(&[LiveRequest {
            instance_id: instance.clone(),
            principal: Some(principal.clone()),
            account: start_doctor_core::ids::Account::parse(ACCOUNT),
            region: start_doctor_core::ids::Region::parse("eu-west-1"),
            failed_at: None,
            keys: Vec::new(),
        }])
        .await
        .expect("live checks answer");
    assert_eq!(
        simulate.num_calls(),
        1,
        "one simulation per (principal, key)"
    );

    let t0: DateTime<Utc> = "2026-11-20T07:00:05Z".parse().expect("a time");
    let origin = Origin {
        account: start_doctor_core::ids::Account::parse(ACCOUNT),
        region: start_doctor_core::ids::Region::parse("eu-west-1"),
    };
    let mut set: EvidenceSet = evidence.into_iter().collect();
    set.add(Evidence::StartCall(StartCall {
        time: t0,
        event_id: "start".into(),
        api: StartApi::StartInstances,
        request_id: Some("req-1".into()),
        instance_ids: vec![instance.clone()],
        principal: Some(principal),
        origin: origin.clone(),
    }));
    for (n, state) in [InstanceState::Pending, InstanceState::Stopped]
        .into_iter()
        .enumerate()
    {
        set.add(Evidence::StateChange(StateChange {
            time: t0 + chrono::Duration::seconds(1 + 6 * n as i64),
            event_id: format!("sc-{n}"),
            instance_id: instance.clone(),
            state,
            origin: origin.clone(),
        }));
    }
    let diagnoses = start_doctor_start::diagnose(&set);
    assert_eq!(diagnoses.len(), 1, "{diagnoses:?}");
    diagnoses[0].cause
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn root_delegation_and_no_identity_policy_is_identity_policy_missing() {
    let cause = infer(
        &root_delegation(),
        PolicyEvaluationDecisionType::ImplicitDeny,
    )
    .await;
    assert_eq!(cause, Cause::KmsIdentityPolicyMissing);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_key_policy_naming_only_others_is_key_policy_missing_whatever_iam_says() {
    let other = format!("arn:aws:iam::{ACCOUNT}:role/someone-else");
    for decision in [
        PolicyEvaluationDecisionType::ImplicitDeny,
        PolicyEvaluationDecisionType::Allowed,
    ] {
        let cause = infer(&named_only(&other), decision.clone()).await;
        assert_eq!(cause, Cause::KmsKeyPolicyMissing, "{decision:?}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_key_policy_naming_the_principal_proves_no_denial() {
    let cause = infer(
        &named_only(ROLE),
        PolicyEvaluationDecisionType::ImplicitDeny,
    )
    .await;
    assert_eq!(cause, Cause::InternalErrorUnexplained);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn everyone_via_ec2_in_the_account_proves_no_denial() {
    let cause = infer(
        &everyone_via_ec2(),
        PolicyEvaluationDecisionType::ImplicitDeny,
    )
    .await;
    assert_eq!(cause, Cause::InternalErrorUnexplained);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_conditional_delegation_is_access_denied_not_a_named_policy() {
    let cause = infer(
        &conditional_root(),
        PolicyEvaluationDecisionType::ImplicitDeny,
    )
    .await;
    assert_eq!(cause, Cause::KmsAccessDenied);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_explicit_deny_in_identity_policies_is_proven_by_the_simulator() {
    let cause = infer(
        &root_delegation(),
        PolicyEvaluationDecisionType::ExplicitDeny,
    )
    .await;
    assert_eq!(cause, Cause::KmsExplicitDeny);
}
