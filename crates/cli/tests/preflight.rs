//! `start-doctor preflight` as a process: the sample start window of
//! `events/preflight` against its oracle and the output schema, the text a
//! person reads, principals from the command line, and unreadable input.

use std::fs;
use std::path::PathBuf;
use std::process::Output;

use serde_json::Value;
use start_doctor_testkit::fixtures::repo;
use start_doctor_testkit::schema::assert_preflight_valid;
use tempfile::TempDir;

use crate::process::{assert_no_panic, run, stderr};

/// The fields of a check the oracle pins, plus `remediation_kind`.
const PINNED: [&str; 7] = [
    "instance_id",
    "principal_arn",
    "principal_source",
    "verdict",
    "cause",
    "kms_key_arns",
    "volume_ids",
];

fn sample() -> PathBuf {
    repo().join("events/preflight")
}

fn preflight(args: &[&str], paths: &[PathBuf]) -> Output {
    run("preflight", paths, args)
}

fn json_report(what: &str, output: &Output) -> Value {
    assert_no_panic(what, output);
    let report: Value = serde_json::from_slice(&output.stdout).unwrap_or_else(|e| {
        panic!(
            "{what}: no JSON on stdout ({e}); stderr:\n{}",
            stderr(output)
        )
    });
    assert_preflight_valid(what, &report);
    report
}

fn pinned(report: &Value) -> Vec<Value> {
    report["checks"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|c| {
            let mut picked: serde_json::Map<String, Value> = PINNED
                .iter()
                .map(|f| ((*f).to_owned(), c[*f].clone()))
                .collect();
            picked.insert(
                "remediation_kind".to_owned(),
                c["remediation"]["kind"].clone(),
            );
            Value::Object(picked)
        })
        .collect()
}

fn oracle() -> Value {
    let path = repo().join("tests/expected/preflight.json");
    let text = fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

fn check_of<'a>(report: &'a Value, instance: &str, principal: &str) -> &'a Value {
    report["checks"]
        .as_array()
        .into_iter()
        .flatten()
        .find(|c| c["instance_id"] == instance && c["principal_arn"] == principal)
        .unwrap_or_else(|| panic!("no check of {instance} by {principal}"))
}

#[test]
fn the_sample_start_window_names_exactly_the_failing_instances_with_cause_and_fix() {
    let output = preflight(&["--format", "json"], &[sample()]);
    let report = json_report("preflight", &output);
    assert_eq!(
        output.status.code(),
        Some(0),
        "stderr:\n{}",
        stderr(&output)
    );
    assert_eq!(stderr(&output), "", "the sample is read without warnings");
    let want = oracle();
    let got = pinned(&report);
    assert_eq!(
        Value::Array(got.clone()),
        want["checks"],
        "checks differ from tests/expected/preflight.json\n got: {}",
        serde_json::to_string_pretty(&got).unwrap_or_default()
    );
    assert_eq!(report["not_evaluated"], want["not_evaluated"]);
    for check in report["checks"].as_array().into_iter().flatten() {
        let id = &check["instance_id"];
        assert!(
            check["reasons"].as_array().is_some_and(|r| !r.is_empty()),
            "{id}: every verdict says why"
        );
        match check["verdict"].as_str() {
            Some("will_fail") => {
                let steps = check["remediation"]["steps"].as_array();
                assert!(
                    steps.is_some_and(|s| !s.is_empty()),
                    "{id}: a fix with steps"
                );
                let text = check["remediation"]["steps"].to_string();
                assert!(
                    !text.contains("start-instances"),
                    "{id}: nothing failed yet, nothing to start again: {text}"
                );
            }
            _ => assert!(
                check["remediation"].is_null() && check["cause"].is_null(),
                "{id}: only will_fail carries a cause and a fix"
            ),
        }
    }
}

#[test]
fn the_service_linked_role_is_fixed_in_the_key_policy_never_in_iam() {
    let report = json_report("preflight", &preflight(&["--format", "json"], &[sample()]));
    let slr = "arn:aws:iam::111122223333:role/aws-service-role/autoscaling.amazonaws.com/AWSServiceRoleForAutoScaling";
    let check = check_of(&report, "i-0f1e2d3c4b5a6000c", slr);
    assert_eq!(check["principal_source"], "autoscaling");
    assert_eq!(check["remediation"]["kind"], "key_policy");
    assert_eq!(
        check["remediation"]["policy"]["Statement"][0]["Principal"]["AWS"],
        slr
    );
    let steps = check["remediation"]["steps"].to_string();
    assert!(!steps.contains("put-role-policy"), "{steps}");
    assert!(
        !steps.contains("start-instances"),
        "Auto Scaling launches: {steps}"
    );
}

#[test]
fn reasons_name_the_deciding_statements() {
    let report = json_report("preflight", &preflight(&["--format", "json"], &[sample()]));
    let deny = check_of(
        &report,
        "i-0f1e2d3c4b5a60008",
        "arn:aws:iam::111122223333:role/legacy-cron",
    );
    let reasons = deny["reasons"].to_string();
    assert!(
        reasons.contains("DenyKmsOutsideArchive") && reasons.contains("DenyKmsExceptArchiveKey"),
        "policy name and Sid of the deny: {reasons}"
    );
    let allowed = check_of(
        &report,
        "i-0f1e2d3c4b5a60005",
        "arn:aws:iam::111122223333:role/batch-runner",
    );
    let reasons = allowed["reasons"].to_string();
    assert!(
        reasons.contains("EbsKms") && reasons.contains("AllowEc2GrantsOnBatchKey"),
        "the identity statement that allows: {reasons}"
    );
    let unknown = check_of(
        &report,
        "i-0f1e2d3c4b5a6000d",
        "arn:aws:iam::111122223333:role/ops/nightly-scheduler",
    );
    assert_eq!(unknown["verdict"], "unknown");
    assert!(unknown["reasons"]
        .to_string()
        .contains("key policy of arn:aws:kms:eu-west-1:111122223333:key/bd8aefc7"));
}

#[test]
fn text_groups_by_principal_key_and_cause_and_counts() {
    let output = preflight(&[], &[sample()]);
    assert_no_panic("preflight text", &output);
    assert_eq!(output.status.code(), Some(0));
    let text = String::from_utf8_lossy(&output.stdout);
    for check in oracle()["checks"].as_array().into_iter().flatten() {
        if check["verdict"] == "will_fail" {
            let (id, cause) = (
                check["instance_id"].as_str().unwrap_or("?"),
                check["cause"].as_str().unwrap_or("?"),
            );
            assert!(
                text.lines()
                    .any(|l| l.starts_with(id) && l.contains("will fail") && l.contains(cause)),
                "one line for {id} with {cause}:\n{text}"
            );
        }
    }
    assert_eq!(
        text.matches("put-role-policy --role-name nightly-scheduler")
            .count(),
        1,
        "reports-db-1 and -2 share one group and one fix:\n{text}"
    );
    assert!(
        text.contains("i-0f1e2d3c4b5a6000d (analytics) started by"),
        "{text}"
    );
    assert!(
        text.contains("13 checks: 4 will start, 8 will fail, 1 unknown"),
        "{text}"
    );
}

#[test]
fn a_session_arn_on_the_command_line_is_checked_as_its_role_with_its_path() {
    let output = preflight(
        &[
            "--format",
            "json",
            "--principal",
            "arn:aws:sts::111122223333:assumed-role/nightly-scheduler/manual-run",
        ],
        &[sample()],
    );
    let report = json_report("--principal", &output);
    let check = check_of(
        &report,
        "i-0f1e2d3c4b5a60005",
        "arn:aws:iam::111122223333:role/ops/nightly-scheduler",
    );
    assert_eq!(check["principal_source"], "argument");
    assert_eq!(check["verdict"], "will_fail");
    assert_eq!(check["cause"], "kms_identity_policy_missing");
    let keep = check_of(
        &report,
        "i-0f1e2d3c4b5a60005",
        "arn:aws:iam::111122223333:role/batch-runner",
    );
    assert_eq!(
        keep["verdict"], "will_start",
        "the CloudTrail starter is still checked"
    );
}

#[test]
fn a_bad_principal_is_a_usage_error() {
    let output = preflight(&["--principal", "scheduler"], &[sample()]);
    assert_no_panic("bad --principal", &output);
    assert_eq!(output.status.code(), Some(2), "{}", stderr(&output));
    assert!(output.stdout.is_empty());
}

#[test]
fn an_unreadable_file_is_named_and_the_rest_is_still_checked() {
    let dir = TempDir::new().expect("a temp dir");
    let bad = dir.path().join("key-policy.json");
    fs::write(
        &bad,
        br#"{"KeyArn": "arn:aws:kms:eu-west-1:111122223333:key/x", "Policy": {"#,
    )
    .expect("write");
    let output = preflight(&["--format", "json"], &[sample(), bad.clone()]);
    let report = json_report("unreadable", &output);
    assert_eq!(output.status.code(), Some(1));
    let err = stderr(&output);
    assert_eq!(err.lines().count(), 1, "one line: {err}");
    assert!(err.contains(&bad.display().to_string()), "{err}");
    assert_eq!(report["checks"].as_array().map(Vec::len), Some(13));
}

#[test]
fn odd_preflight_inputs_are_warnings_never_panics() {
    let dir = TempDir::new().expect("a temp dir");
    let files: [(&str, &[u8]); 5] = [
        ("auth.json", br#"{"RoleDetailList": [{"Arn": "nope"}, 7, {"Arn": "arn:aws:iam::111122223333:role/r", "RolePolicyList": [{"PolicyName": "p", "PolicyDocument": "%zz"}]}], "Policies": [{"Arn": "a", "PolicyVersionList": [{"Document": 1, "IsDefaultVersion": true}]}]}"#),
        ("kp.jsonl", b"{\"KeyArn\": \"arn:aws:kms:eu-west-1:111122223333:key/k\", \"Policy\": \"not json\"}\n{\"KeyArn\": 3, \"Policy\": {}}\n"),
        ("kp2.json", br#"{"KeyArn": "arn:aws:kms:eu-west-1:111122223333:key/k2", "Policy": {"Statement": [{"Effect": "Maybe"}]}}"#),
        ("vol.json", br#"{"Volumes": [{"VolumeId": "vol-0f1e2d3c4b5a7000f", "KmsKeyId": "arn:aws:kms:eu-west-1:111122223333:key/k2", "Attachments": [{"InstanceId": "i-0f1e2d3c4b5a6000f"}]}]}"#),
        ("key.json", br#"{"KeyMetadata": {"Arn": "arn:aws:kms:eu-west-1:111122223333:key/k2", "KeyState": "Enabled", "KeyManager": "CUSTOMER"}}"#),
    ];
    let paths: Vec<PathBuf> = files
        .iter()
        .map(|(name, bytes)| {
            let path = dir.path().join(name);
            fs::write(&path, bytes).expect("write");
            path
        })
        .collect();
    let output = preflight(
        &[
            "--format",
            "json",
            "--principal",
            "arn:aws:iam::111122223333:role/r",
        ],
        &paths,
    );
    let report = json_report("odd inputs", &output);
    assert_eq!(output.status.code(), Some(0), "{}", stderr(&output));
    assert!(
        stderr(&output).contains("warning"),
        "the bad entries are named"
    );
    let check = check_of(
        &report,
        "i-0f1e2d3c4b5a6000f",
        "arn:aws:iam::111122223333:role/r",
    );
    assert_eq!(
        check["verdict"], "unknown",
        "a policy that does not parse decides nothing"
    );
}

// ---- preflight --live (feature aws): the account read on moto, saved and read back ----

/// An instance on moto with an encrypted volume on a key only the admins
/// may use; returns (instance id, key ARN).
#[cfg(feature = "aws")]
fn moto_start_window(endpoint: &str) -> (String, String) {
    let setup = std::process::Command::new("python3")
        .arg("-c")
        .arg(
            "import boto3, json, sys\n\
             kw = dict(endpoint_url=sys.argv[1], region_name='eu-west-1',\n\
                 aws_access_key_id='testing', aws_secret_access_key='testing')\n\
             ec2, kms = boto3.client('ec2', **kw), boto3.client('kms', **kw)\n\
             policy = {'Version': '2012-10-17', 'Statement': [{'Sid': 'Admins', 'Effect': 'Allow',\n\
                 'Principal': {'AWS': 'arn:aws:iam::123456789012:role/admin'}, 'Action': 'kms:*', 'Resource': '*'}]}\n\
             key = kms.create_key(Policy=json.dumps(policy))['KeyMetadata']['Arn']\n\
             ami = ec2.describe_images()['Images'][0]['ImageId']\n\
             i = ec2.run_instances(ImageId=ami, MinCount=1, MaxCount=1, InstanceType='t3.micro',\n\
                 Placement={'AvailabilityZone': 'eu-west-1a'})['Instances'][0]['InstanceId']\n\
             v = ec2.create_volume(AvailabilityZone='eu-west-1a', Size=8, Encrypted=True, KmsKeyId=key)['VolumeId']\n\
             ec2.attach_volume(VolumeId=v, InstanceId=i, Device='/dev/sdf')\n\
             print(i, key)\n",
        )
        .arg(endpoint)
        .output()
        .expect("python3 runs");
    assert!(
        setup.status.success(),
        "moto setup: {}",
        String::from_utf8_lossy(&setup.stderr)
    );
    let out = String::from_utf8_lossy(&setup.stdout).into_owned();
    let mut parts = out.split_whitespace();
    (
        parts.next().expect("instance").to_owned(),
        parts.next().expect("key").to_owned(),
    )
}

#[cfg(feature = "aws")]
#[test]
fn live_preflight_reads_the_account_and_saves_what_it_read() {
    let endpoint = start_doctor_testkit::moto::endpoint();
    let (instance, key) = moto_start_window(&endpoint);
    let role = "arn:aws:iam::123456789012:role/ops/nightly-scheduler";
    let saved = TempDir::new().expect("temp dir");
    let mut cmd = assert_cmd::Command::cargo_bin("start-doctor").expect("built");
    cmd.args([
        "preflight",
        "--live",
        "--principal",
        role,
        "--format",
        "json",
        "--save",
    ])
    .arg(saved.path())
    .env_clear()
    .env("PATH", std::env::var_os("PATH").unwrap_or_default())
    .env("AWS_ENDPOINT_URL", &endpoint)
    .env("AWS_REGION", "eu-west-1")
    .env("AWS_ACCESS_KEY_ID", "testing")
    .env("AWS_SECRET_ACCESS_KEY", "testing")
    .env("AWS_EC2_METADATA_DISABLED", "true");
    let live = cmd.output().expect("start-doctor runs");
    assert_no_panic("live", &live);
    assert_eq!(live.status.code(), Some(0), "{}", stderr(&live));
    let report = json_report("live", &live);
    let check = check_of(&report, &instance, role);
    assert_eq!(check["verdict"], "will_fail", "{check}");
    assert_eq!(check["cause"], "kms_key_policy_missing", "{check}");
    assert_eq!(check["kms_key_arns"][0], key.as_str(), "{check}");
    for file in [
        "describe-instances.json",
        "describe-volumes.json",
        "authorization-details.json",
    ] {
        assert!(saved.path().join(file).is_file(), "{file} saved");
    }
    // What was saved reads back to the same checks.
    let again = preflight(
        &["--principal", role, "--format", "json"],
        &[saved.path().to_path_buf()],
    );
    assert_eq!(again.status.code(), Some(0), "{}", stderr(&again));
    let from_files = json_report("saved", &again);
    assert_eq!(
        check_of(&from_files, &instance, role),
        check,
        "the saved files give the same check"
    );
}

#[cfg(not(feature = "aws"))]
#[test]
fn live_preflight_needs_the_aws_feature() {
    let output = preflight(&["--live"], &[]);
    assert_eq!(output.status.code(), Some(2), "{}", stderr(&output));
    assert!(
        stderr(&output).contains("--features aws"),
        "{}",
        stderr(&output)
    );
}
