//! The `start-doctor investigate` CLI as a process: every sample scenario
//! against its oracle and the output schema, the text a person reads, the
//! help, and every way an input can be unreadable or half-broken.
//!
//! Contract (DESIGN.md §4): exit 0 when the input was read, exit 1 with one
//! line per unreadable file on stderr naming it (everything else still
//! diagnosed and printed), exit 2 for a bad command line; recognised-but-malformed events are warnings naming their id.

use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::Output;

use assert_cmd::Command;
use flate2::write::GzEncoder;
use flate2::Compression;
use predicates::prelude::*;
use serde_json::{json, Value};
use start_doctor_testkit::fixtures::{expected, is_other_doctor, pinned, repo};
use start_doctor_testkit::schema::assert_diagnoses_valid;
use tempfile::TempDir;

use crate::process::{assert_no_panic, run, stderr, stdout};

fn project(path: &str) -> PathBuf {
    repo().join(path)
}

fn start_doctor() -> Command {
    Command::cargo_bin("start-doctor")
        .expect("the start-doctor binary is built for integration tests")
}

/// Runs `start-doctor investigate <paths> [extra args]`.
fn investigate<P: AsRef<Path>>(paths: &[P], extra: &[&str]) -> Output {
    run("investigate", paths, extra)
}

/// Runs `investigate --format json` on `paths`, expecting success, and
/// returns the report after checking it against the schema.
fn json_report<P: AsRef<Path>>(scenario: &str, paths: &[P]) -> (Value, Output) {
    let output = investigate(paths, &["--format", "json"]);
    assert_no_panic(scenario, &output);
    assert_eq!(
        output.status.code(),
        Some(0),
        "{scenario}: expected exit 0; stderr:\n{}",
        stderr(&output)
    );
    let report: Value = serde_json::from_slice(&output.stdout).unwrap_or_else(|e| {
        panic!(
            "{scenario}: --format json printed no JSON ({e}):\n{}",
            stdout(&output)
        )
    });
    assert_diagnoses_valid(scenario, &report);
    (report, output)
}

/// A sample scenario: the JSON output validates, equals the oracle on its
/// fields, is read without warnings, and the text output names every
/// failed instance and its cause.
fn check_scenario(scenario: &str) {
    let folder = project(&format!("events/{scenario}"));
    let (report, output) = json_report(scenario, &[&folder]);
    assert_eq!(
        stderr(&output),
        "",
        "{scenario}: sample events should be read without warnings"
    );
    let got = pinned(&report);
    let want = expected(scenario);
    assert_eq!(
        got,
        want,
        "{scenario}: diagnoses differ from tests/expected/{scenario}.json\n got: {}\nwant: {}",
        serde_json::to_string_pretty(&got).unwrap_or_default(),
        serde_json::to_string_pretty(&want).unwrap_or_default()
    );

    let text = investigate(&[&folder], &[]);
    assert_no_panic(scenario, &text);
    assert_eq!(
        text.status.code(),
        Some(0),
        "{scenario}: text run failed: {}",
        stderr(&text)
    );
    let text = stdout(&text);
    for d in want.as_array().into_iter().flatten() {
        let id = d["instance_id"].as_str().unwrap_or_default();
        let cause = d["cause"].as_str().unwrap_or_default();
        assert!(
            text.contains(id),
            "{scenario}: text output does not name {id}:\n{text}"
        );
        assert!(
            text.contains(cause),
            "{scenario}: text output does not name cause {cause} for {id}"
        );
    }
}

scenarios! {
    scenario_seed_story => "seed-story",
    scenario_duplicates => "duplicates",
    scenario_cloudtrail_archive => "cloudtrail-archive",
    scenario_athena_results => "athena-results",
    scenario_lake_results => "lake-results",
    scenario_lookup_events => "lookup-events",
    scenario_kms_key_policy_missing => "kms-key-policy-missing",
    scenario_kms_explicit_deny => "kms-explicit-deny",
    scenario_kms_access_denied => "kms-access-denied",
    scenario_kms_key_disabled => "kms-key-disabled",
    scenario_kms_key_pending_deletion => "kms-key-pending-deletion",
    scenario_kms_key_not_found => "kms-key-not-found",
    scenario_insufficient_capacity => "insufficient-capacity",
    scenario_volume_limit_exceeded => "volume-limit-exceeded",
    scenario_snapshot_not_found => "snapshot-not-found",
    scenario_internal_error_unexplained => "internal-error-unexplained",
    scenario_noise => "noise",
    scenario_normal_stops => "normal-stops",
    scenario_storm => "storm",
    scenario_history_then_unexplained => "history-then-unexplained",
    scenario_multiple_keys_denied => "multiple-keys-denied",
    scenario_kms_key_pending_import => "kms-key-pending-import",
    scenario_kms_key_unavailable => "kms-key-unavailable",
    scenario_kms_permissions_boundary_missing => "kms-permissions-boundary-missing",
    scenario_kms_session_policy_missing => "kms-session-policy-missing",
    scenario_kms_access_denied_other_clause => "kms-access-denied-other-clause",
    scenario_autoscaling_launch_denied => "autoscaling-launch-denied",
    scenario_identity_center_role => "identity-center-role",
    scenario_eventversion_1_11_role_path => "eventversion-1-11-role-path",
    scenario_untrusted_kms_records => "untrusted-kms-records",
    scenario_ec2_infrastructure_decrypt => "ec2-infrastructure-decrypt",
    scenario_launch_invalid_kms_key_state => "launch-invalid-kms-key-state",
    // A preflight sample: nothing has failed yet, so investigate finds
    // nothing; its checks are tested in `preflight.rs`.
    scenario_preflight => "preflight",
}

fn names_in(dir: &str, strip: &str) -> Vec<String> {
    let mut names: Vec<String> = fs::read_dir(project(dir))
        .unwrap_or_else(|e| panic!("{dir}: {e}"))
        .filter_map(Result::ok)
        .filter_map(|e| {
            e.file_name()
                .to_str()
                .map(|n| n.trim_end_matches(strip).to_owned())
        })
        .filter(|n| !n.starts_with('.'))
        // Other doctors' scenarios (events/ebs/, events/flows/) are tested
        // in their own files.
        .filter(|n| !is_other_doctor(n))
        .collect();
    names.sort();
    names
}

#[test]
fn every_scenario_folder_has_an_oracle_and_a_test() {
    let mut tested: Vec<String> = SCENARIOS.iter().map(|s| (*s).to_owned()).collect();
    tested.sort();
    assert_eq!(
        names_in("events", ""),
        tested,
        "events/ folders vs scenarios tested here"
    );
    assert_eq!(
        names_in("tests/expected", ".json"),
        tested,
        "tests/expected oracles vs scenarios tested here"
    );
}

#[test]
fn the_whole_events_folder_is_one_investigation_with_every_oracle_in_it() {
    let (report, output) = json_report("events/", &[project("events")]);
    assert_eq!(stderr(&output), "", "events/: no warnings expected");
    // seed-story and duplicates tell the same story: one diagnosis per
    // instance, so the union of the oracles keyed by instance id.
    let mut union: Vec<Value> = SCENARIOS
        .iter()
        .flat_map(|s| expected(s).as_array().cloned().unwrap_or_default())
        .collect();
    union.sort_by(|a, b| a["instance_id"].as_str().cmp(&b["instance_id"].as_str()));
    union.dedup();
    let got = pinned(&report);
    let got = got.as_array().cloned().unwrap_or_default();
    assert_eq!(
        got.len(),
        union.len(),
        "events/: one diagnosis per failed instance"
    );
    assert_eq!(
        got, union,
        "events/: diagnoses differ from the union of the oracles"
    );
}

#[test]
fn seed_story_text_names_the_instance_the_cause_and_the_fix() {
    let output = investigate(&[project("events/seed-story")], &[]);
    assert_no_panic("seed-story text", &output);
    assert_eq!(output.status.code(), Some(0));
    let text = stdout(&output);
    for needle in [
        "i-0a1b2c3d4e5f60002",
        "reports-db",
        "kms_identity_policy_missing",
        "arn:aws:iam::111122223333:role/instance-scheduler-job",
        "arn:aws:kms:eu-west-1:111122223333:key/3f0c5a8e-6b1d-4e27-9a4c-2d7e81b05f63",
        "vol-0aaa1b2c3d4e50002",
        "kms:CreateGrant",
        "kms:GrantIsForAWSResource",
        "aws iam put-role-policy --role-name instance-scheduler-job",
        "aws ec2 start-instances --region eu-west-1 --instance-ids i-0a1b2c3d4e5f60002",
    ] {
        assert!(
            text.contains(needle),
            "seed-story text lacks {needle:?}:\n{text}"
        );
    }
    assert!(
        !text.contains("i-0a1b2c3d4e5f60001"),
        "seed-story: web-1 started fine and must not be mentioned:\n{text}"
    );
    assert!(
        !text.trim_start().starts_with('{'),
        "seed-story: the default format is text, not JSON"
    );
}

#[test]
fn normal_stops_text_says_nothing_failed() {
    let output = investigate(&[project("events/normal-stops")], &[]);
    assert_no_panic("normal-stops text", &output);
    assert_eq!(output.status.code(), Some(0));
    let text = stdout(&output);
    assert!(
        text.to_lowercase().contains("no failed"),
        "normal-stops: text should tell the reader that no start failed:\n{text}"
    );
    for id in ["i-0a1b2c3d4e5f6000d", "i-0a1b2c3d4e5f6000e"] {
        assert!(
            !text.contains(id),
            "normal-stops: {id} stopped normally:\n{text}"
        );
    }
}

#[test]
fn investigate_help_documents_the_exit_codes() {
    start_doctor()
        .args(["investigate", "--help"])
        .assert()
        .success()
        .stdout(predicate::str::is_match(r"(?i)exit (status|code)").expect("regex"))
        .stdout(predicate::str::is_match(r"(?m)^\s*0\s+\S").expect("regex"))
        .stdout(predicate::str::is_match(r"(?m)^\s*1\s+\S").expect("regex"))
        .stdout(predicate::str::is_match(r"(?m)^\s*2\s+\S").expect("regex"))
        .stdout(predicate::str::contains("--format"));
}

#[test]
fn a_bad_format_is_a_usage_error() {
    let output = investigate(&[project("events/seed-story")], &["--format", "yaml"]);
    assert_no_panic("--format yaml", &output);
    assert_eq!(
        output.status.code(),
        Some(2),
        "--format yaml: {}",
        stderr(&output)
    );
    assert!(
        stderr(&output).contains("yaml"),
        "the usage error names the bad value"
    );
    assert!(output.stdout.is_empty());
}

#[test]
fn investigate_without_a_path_is_a_usage_error() {
    let output = investigate::<&str>(&[], &[]);
    assert_no_panic("no path", &output);
    assert_eq!(
        output.status.code(),
        Some(2),
        "no path: {}",
        stderr(&output)
    );
}

// ---- unreadable input: exit 1, one stderr line naming the file, the rest still read ----

fn temp_file(dir: &TempDir, name: &str, bytes: &[u8]) -> PathBuf {
    let path = dir.path().join(name);
    fs::write(&path, bytes).expect("write temp file");
    path
}

fn gzip(bytes: &[u8]) -> Vec<u8> {
    let mut encoder = GzEncoder::new(Vec::new(), Compression::default());
    encoder.write_all(bytes).expect("gzip in memory");
    encoder.finish().expect("gzip in memory")
}

/// Asserts exit 1 and exactly one stderr line that names `file`; whatever
/// else was given is still reported on stdout (for `--format json`, a
/// report valid against the schema). Returns that line.
fn assert_one_line_error(scenario: &str, output: &Output, file: &Path) -> String {
    assert_no_panic(scenario, output);
    let err = stderr(output);
    assert_eq!(
        output.status.code(),
        Some(1),
        "{scenario}: expected exit 1; stderr:\n{err}"
    );
    let out = stdout(output);
    if out.trim_start().starts_with('{') {
        let report: Value = serde_json::from_str(&out)
            .unwrap_or_else(|e| panic!("{scenario}: stdout is not JSON ({e}):\n{out}"));
        assert_diagnoses_valid(scenario, &report);
    } else {
        assert!(
            out.contains("diagnosed") || out.contains("No failed instance starts"),
            "{scenario}: the text report of the rest should still be printed:\n{out}"
        );
    }
    let lines: Vec<&str> = err.lines().collect();
    assert_eq!(
        lines.len(),
        1,
        "{scenario}: expected one stderr line, got:\n{err}"
    );
    assert!(
        lines[0].contains(&file.display().to_string()),
        "{scenario}: the error does not name {}: {}",
        file.display(),
        lines[0]
    );
    lines[0].to_owned()
}

fn seed_state_change_lines() -> Vec<String> {
    fs::read_to_string(project("events/seed-story/state-changes.jsonl"))
        .expect("seed-story state changes")
        .lines()
        .map(str::to_owned)
        .collect()
}

#[test]
fn json_lines_cut_mid_line_names_line_3() {
    let dir = TempDir::new().expect("temp dir");
    let mut lines = seed_state_change_lines();
    let third = lines[2].clone();
    lines[2] = third[..third.len() / 2].to_owned();
    let file = temp_file(
        &dir,
        "state-changes.jsonl",
        (lines.join("\n") + "\n").as_bytes(),
    );
    for format in ["text", "json"] {
        let output = investigate(&[&file], &["--format", format]);
        let line = assert_one_line_error("JSONL with line 3 cut in half", &output, &file);
        assert!(
            line.contains("line 3"),
            "JSONL cut at line 3 ({format}): {line}"
        );
    }
}

#[test]
fn json_lines_whose_third_line_lacks_its_closing_brace_names_line_3() {
    let dir = TempDir::new().expect("temp dir");
    let mut lines = seed_state_change_lines();
    lines[2].pop();
    let file = temp_file(
        &dir,
        "state-changes.jsonl",
        (lines.join("\n") + "\n").as_bytes(),
    );
    let output = investigate(&[&file], &["--format", "json"]);
    let line = assert_one_line_error("JSONL line 3 without its closing brace", &output, &file);
    assert!(
        line.contains("line 3"),
        "JSONL line 3 lacks its final '}}': the error should point at line 3, not where the parser gave up: {line}"
    );
}

#[test]
fn a_truncated_gzip_log_file_is_an_error_naming_it() {
    let dir = TempDir::new().expect("temp dir");
    let record = fs::read_to_string(project("events/seed-story/create-grant-denied.json"))
        .expect("seed grant");
    let record: Value = serde_json::from_str(&record).expect("seed grant is JSON");
    let log = json!({"Records": [record["detail"]]}).to_string();
    let gz = gzip(log.as_bytes());
    let file = temp_file(
        &dir,
        "111122223333_CloudTrail_eu-west-1_20261120T0705Z_trunc.json.gz",
        &gz[..gz.len() / 2],
    );
    let output = investigate(&[&file], &["--format", "json"]);
    let line = assert_one_line_error("truncated gzip", &output, &file);
    assert!(
        line.to_lowercase().contains("gzip"),
        "truncated gzip: say it is the gzip: {line}"
    );
}

#[test]
fn an_unknown_json_shape_named_explicitly_is_an_error_naming_it() {
    let dir = TempDir::new().expect("temp dir");
    let file = temp_file(
        &dir,
        "package.json",
        br#"{"name": "web", "version": "1.0.0"}"#,
    );
    let output = investigate(&[&file], &[]);
    assert_one_line_error("unknown JSON shape", &output, &file);
}

#[test]
fn a_missing_path_is_an_error_naming_it() {
    let dir = TempDir::new().expect("temp dir");
    let file = dir.path().join("no-such-file.json");
    let output = investigate(&[&file], &["--format", "json"]);
    assert_one_line_error("missing path", &output, &file);
}

#[test]
fn a_bad_file_among_good_ones_is_reported_and_the_rest_is_still_diagnosed() {
    let dir = TempDir::new().expect("temp dir");
    let bad = temp_file(&dir, "broken.json", b"{\"Records\": [");
    let paths = [project("events/seed-story"), bad.clone()];
    let output = investigate(&paths, &["--format", "json"]);
    assert_one_line_error("seed-story plus a broken file", &output, &bad);
    let report: Value = serde_json::from_slice(&output.stdout).expect("JSON report");
    assert_eq!(
        pinned(&report),
        expected("seed-story"),
        "seed-story plus a broken file: the seed story is still diagnosed"
    );

    let text = investigate(&paths, &[]);
    assert_one_line_error("seed-story plus a broken file, text", &text, &bad);
    let text = stdout(&text);
    assert!(
        text.contains("i-0a1b2c3d4e5f60002") && text.contains("kms_identity_policy_missing"),
        "seed-story plus a broken file: the text still names the failed instance:\n{text}"
    );
}

#[test]
fn a_missing_path_beside_a_good_one_still_diagnoses_the_good_one() {
    let dir = TempDir::new().expect("temp dir");
    let missing = dir.path().join("2026-11-21");
    let output = investigate(
        &[project("events/seed-story"), missing.clone()],
        &["--format", "json"],
    );
    assert_one_line_error("seed-story plus a missing folder", &output, &missing);
    let report: Value = serde_json::from_slice(&output.stdout).expect("JSON report");
    assert_eq!(pinned(&report), expected("seed-story"));
}

#[test]
fn two_bad_files_give_one_line_each() {
    let dir = TempDir::new().expect("temp dir");
    let first = temp_file(&dir, "first.json", b"{ not json");
    let second = dir.path().join("second-missing.json");
    let output = investigate(&[&first, &second], &[]);
    assert_no_panic("two bad files", &output);
    assert_eq!(output.status.code(), Some(1));
    let err = stderr(&output);
    let lines: Vec<&str> = err.lines().collect();
    assert_eq!(lines.len(), 2, "two bad files, two lines:\n{err}");
    for file in [&first, &second] {
        let name = file.display().to_string();
        assert_eq!(
            lines.iter().filter(|l| l.contains(&name)).count(),
            1,
            "exactly one line names {name}:\n{err}"
        );
    }
}

#[test]
fn a_broken_json_file_found_in_a_directory_is_an_error_naming_it() {
    let dir = TempDir::new().expect("temp dir");
    fs::create_dir_all(dir.path().join("2026/11/20")).expect("mkdir");
    temp_file(&dir, "README.md", b"# notes\nnot JSON at all\n");
    let bad = temp_file(&dir, "2026/11/20/events.json", b"[{\"id\": \"x\",]");
    let output = investigate(&[dir.path()], &[]);
    assert_one_line_error("directory with a broken file", &output, &bad);
}

#[test]
fn an_empty_file_is_readable_and_has_no_events() {
    let dir = TempDir::new().expect("temp dir");
    for (name, bytes) in [
        ("empty.json", &b""[..]),
        ("blank.jsonl", &b"\n\n  \r\n"[..]),
        ("bom-only.json", &b"\xEF\xBB\xBF"[..]),
    ] {
        let file = temp_file(&dir, name, bytes);
        let (report, output) = json_report(name, &[&file]);
        assert_eq!(
            report,
            json!({"diagnoses": []}),
            "{name}: no events, no diagnoses"
        );
        assert_eq!(stderr(&output), "", "{name}: nothing to warn about");
    }
    let empty = dir.path().join("empty.json");
    let text = investigate(&[&empty], &[]);
    assert_eq!(
        text.status.code(),
        Some(0),
        "empty file, text: {}",
        stderr(&text)
    );
    assert!(
        !text.stdout.is_empty(),
        "empty file, text: say that nothing failed"
    );
}

#[test]
fn an_empty_gzip_file_is_readable_and_has_no_events() {
    let dir = TempDir::new().expect("temp dir");
    let file = temp_file(&dir, "empty.json.gz", &gzip(b""));
    let (report, _) = json_report("empty gzip", &[&file]);
    assert_eq!(report, json!({"diagnoses": []}));
}

#[test]
fn malformed_but_recognised_events_are_warnings_and_the_rest_is_diagnosed() {
    let dir = TempDir::new().expect("temp dir");
    for name in [
        "create-grant-denied.json",
        "start-instances.json",
        "describe-instances.json",
        "describe-volumes.json",
    ] {
        fs::copy(
            project(&format!("events/seed-story/{name}")),
            dir.path().join(name),
        )
        .expect("copy seed file");
    }
    let exploded = json!({
        "version": "0", "id": "0e1f2a3b-0000-4000-8000-00000000e001",
        "detail-type": "EC2 Instance State-change Notification", "source": "aws.ec2",
        "account": "111122223333", "time": "2026-11-20T07:00:30Z", "region": "eu-west-1", "resources": [],
        "detail": {"instance-id": "i-0a1b2c3d4e5f60001", "state": "exploded"}
    });
    let bogus = json!({
        "version": "0", "id": "0e1f2a3b-0000-4000-8000-00000000e002",
        "detail-type": "EC2 Instance State-change Notification", "source": "aws.ec2",
        "account": "111122223333", "time": "2026-11-20T07:00:31Z", "region": "eu-west-1", "resources": [],
        "detail": {"instance-id": "bogus", "state": "pending"}
    });
    let mut lines = seed_state_change_lines();
    lines.insert(1, exploded.to_string());
    lines.push(bogus.to_string());
    let file = temp_file(
        &dir,
        "state-changes.jsonl",
        (lines.join("\n") + "\n").as_bytes(),
    );

    let (report, output) =
        json_report("seed-story with two malformed state changes", &[dir.path()]);
    assert_eq!(
        pinned(&report),
        expected("seed-story"),
        "the malformed events must not cost the seed-story diagnosis"
    );
    let err = stderr(&output);
    let lines: Vec<&str> = err.lines().collect();
    assert_eq!(lines.len(), 2, "one warning per malformed event:\n{err}");
    for (id, line_no, what) in [
        ("0e1f2a3b-0000-4000-8000-00000000e001", 2, "exploded"),
        ("0e1f2a3b-0000-4000-8000-00000000e002", 7, "bogus"),
    ] {
        let warning = lines
            .iter()
            .find(|l| l.contains(id))
            .unwrap_or_else(|| panic!("no warning names event {id}:\n{err}"));
        assert!(
            warning.contains(&file.display().to_string()),
            "warning names the file: {warning}"
        );
        assert!(
            warning.contains(&format!("line {line_no}")),
            "warning names line {line_no}: {warning}"
        );
        assert!(
            warning.contains(what),
            "warning says what is wrong ({what}): {warning}"
        );
    }
}

#[test]
fn a_malformed_kms_record_in_a_log_file_is_a_warning_naming_its_event_id() {
    let dir = TempDir::new().expect("temp dir");
    let text = fs::read_to_string(project("events/seed-story/create-grant-denied.json"))
        .expect("seed grant");
    let grant: Value = serde_json::from_str(&text).expect("JSON");
    let mut broken = grant["detail"].clone();
    broken["eventID"] = json!("5ca1ab1e-0000-4000-8000-0000000000bd");
    broken["eventTime"] = json!("yesterday-ish");
    let log = json!({"Records": [broken, grant["detail"]]});
    let file = temp_file(&dir, "log.json.gz", &gzip(log.to_string().as_bytes()));
    let (report, output) = json_report(
        "log file with a KMS record whose eventTime is bad",
        &[&file],
    );
    assert_eq!(
        report["diagnoses"].as_array().map(Vec::len),
        Some(1),
        "the good record still diagnoses reports-db"
    );
    assert_eq!(report["diagnoses"][0]["instance_id"], "i-0a1b2c3d4e5f60002");
    let err = stderr(&output);
    assert_eq!(err.lines().count(), 1, "one warning:\n{err}");
    assert!(
        err.contains("5ca1ab1e-0000-4000-8000-0000000000bd"),
        "the warning names the eventID:\n{err}"
    );
    assert!(
        err.contains(&file.display().to_string()),
        "the warning names the file:\n{err}"
    );
}

#[test]
fn the_kind_of_file_comes_from_its_content_not_its_name() {
    let dir = TempDir::new().expect("temp dir");
    let seed = project("events/seed-story");
    let mut paths = Vec::new();
    for entry in fs::read_dir(&seed).expect("seed-story") {
        let path = entry.expect("entry").path();
        if path.extension().is_some_and(|e| e == "md") {
            continue;
        }
        let bytes = fs::read(&path).expect("read");
        let name = path
            .file_name()
            .and_then(|n| n.to_str())
            .unwrap_or("x")
            .replace('.', "_");
        // Gzip behind a .txt name, plain JSON behind a .gz name.
        let renamed = if name.starts_with("create") {
            temp_file(&dir, &format!("{name}.txt"), &gzip(&bytes))
        } else {
            temp_file(&dir, &format!("{name}.json.gz"), &bytes)
        };
        paths.push(renamed);
    }
    let (report, _) = json_report("seed-story under misleading file names", &paths);
    assert_eq!(pinned(&report), expected("seed-story"));
}

#[test]
fn odd_inputs_never_panic() {
    let dir = TempDir::new().expect("temp dir");
    let deep_arrays = "[".repeat(100_000);
    let deep_objects = "{\"a\":".repeat(100_000);
    let cases: Vec<(&str, Vec<u8>)> = vec![
        ("empty-array.json", b"[]".to_vec()),
        ("empty-object.json", b"{}".to_vec()),
        ("nested-array.json", b"[[]]".to_vec()),
        ("string.json", b"\"hello\"".to_vec()),
        ("number.json", b"42".to_vec()),
        ("null.json", b"null".to_vec()),
        ("records-null.json", br#"{"Records": null}"#.to_vec()),
        ("records-junk.json", br#"{"Records": [1, "x", null, [], {}]}"#.to_vec()),
        ("events-junk.json", br#"{"Events": [{"CloudTrailEvent": "not json"}, {"EventId": "e"}, 7]}"#.to_vec()),
        ("detail-null.json", br#"{"detail-type": "EC2 Instance State-change Notification", "detail": null}"#.to_vec()),
        ("detail-type-number.json", br#"{"detail-type": 5, "detail": 5}"#.to_vec()),
        ("reservations-string.json", br#"{"Reservations": "x"}"#.to_vec()),
        ("volumes-junk.json", br#"{"Volumes": [{"VolumeId": 3}, {"VolumeId": "vol-zz"}]}"#.to_vec()),
        ("key-junk.json", br#"{"KeyMetadata": {"Arn": "nope", "KeyState": 1}}"#.to_vec()),
        (
            "far-future.json",
            br#"{"version":"0","id":"ff","detail-type":"EC2 Instance State-change Notification","time":"9999-12-31T23:59:59Z","detail":{"instance-id":"i-0123456789abcdef0","state":"pending"}}
{"version":"0","id":"fg","detail-type":"EC2 Instance State-change Notification","time":"9999-12-31T23:59:59Z","detail":{"instance-id":"i-0123456789abcdef0","state":"stopped"}}
{"eventID":"k","eventSource":"kms.amazonaws.com","eventName":"Decrypt","errorCode":"AccessDenied","eventTime":"0000-01-01T00:00:00Z","userAgent":"AWS Internal","userIdentity":{"type":"AssumedRole","arn":"arn:aws:sts::111122223333:assumed-role/r/s"}}"#
                .to_vec(),
        ),
        ("bad-utf8.json", b"{\"detail-type\": \"\xff\xfe\", \"detail\": {}}".to_vec()),
        ("binary.bin", vec![0, 159, 146, 150, 255, 0, 1]),
        ("gzip-magic-only.gz", vec![0x1f, 0x8b]),
        ("gzip-of-garbage.gz", gzip(b"\x00\x01 not json at all")),
        ("deep-arrays.json", deep_arrays.into_bytes()),
        ("deep-objects.json", deep_objects.into_bytes()),
    ];
    for (name, bytes) in cases {
        let file = temp_file(&dir, name, &bytes);
        for format in ["text", "json"] {
            let output = investigate(&[&file], &["--format", format]);
            assert_no_panic(name, &output);
            match output.status.code() {
                Some(0) => {
                    if format == "json" {
                        let report: Value = serde_json::from_slice(&output.stdout)
                            .unwrap_or_else(|e| panic!("{name}: exit 0 but no JSON report: {e}"));
                        assert_diagnoses_valid(name, &report);
                    }
                }
                Some(1) => {
                    assert_one_line_error(name, &output, &file);
                }
                other => panic!(
                    "{name}: unexpected exit {other:?}; stderr:\n{}",
                    stderr(&output)
                ),
            }
        }
    }
}

#[test]
fn a_synced_trail_bucket_with_digest_files_is_read() {
    // `aws s3 sync s3://<trail-bucket>/AWSLogs/ .` brings the log files and,
    // with log file validation on (the console default), CloudTrail's own
    // digest files beside them. The digests hold no events; the archive
    // must still be diagnosed.
    let dir = TempDir::new().expect("temp dir");
    let logs = dir.path().join("AWSLogs/111122223333/CloudTrail");
    let digests = dir
        .path()
        .join("AWSLogs/111122223333/CloudTrail-Digest/eu-west-1/2026/11/20");
    fs::create_dir_all(&digests).expect("mkdir");
    copy_tree(
        &project("events/cloudtrail-archive/AWSLogs/111122223333/CloudTrail"),
        &logs,
    );
    let digest = json!({
        "awsAccountId": "111122223333",
        "digestStartTime": "2026-11-20T06:05:00Z",
        "digestEndTime": "2026-11-20T07:05:00Z",
        "digestS3Bucket": "acme-trail-logs",
        "digestS3Object": "AWSLogs/111122223333/CloudTrail-Digest/eu-west-1/2026/11/20/111122223333_CloudTrail-Digest_eu-west-1_acme-trail_eu-west-1_20261120T070500Z.json.gz",
        "digestPublicKeyFingerprint": "a4b5c6d7e8f90123456789abcdef0123",
        "digestSignatureAlgorithm": "SHA256withRSA",
        "newestEventTime": "2026-11-20T07:04:59Z",
        "oldestEventTime": "2026-11-20T06:05:01Z",
        "previousDigestS3Bucket": null,
        "previousDigestS3Object": null,
        "previousDigestHashValue": null,
        "previousDigestHashAlgorithm": null,
        "previousDigestSignature": null,
        "logFiles": [{
            "s3Bucket": "acme-trail-logs",
            "s3Object": "AWSLogs/111122223333/CloudTrail/eu-west-1/2026/11/20/111122223333_CloudTrail_eu-west-1_20261120T0655Z_bHWq5n8KKFVl3UAl.json.gz",
            "hashValue": "9f2a0c1b7e5d4c3b2a19080706050403020100ffeeddccbbaa99887766554433",
            "hashAlgorithm": "SHA-256",
            "newestEventTime": "2026-11-20T06:59:58Z",
            "oldestEventTime": "2026-11-20T06:55:02Z"
        }]
    });
    fs::write(
        digests.join("111122223333_CloudTrail-Digest_eu-west-1_acme-trail_eu-west-1_20261120T070500Z.json.gz"),
        gzip(digest.to_string().as_bytes()),
    )
    .expect("write digest");
    let (report, _) = json_report(
        "synced trail bucket with CloudTrail-Digest files",
        &[dir.path().join("AWSLogs")],
    );
    assert_eq!(pinned(&report), expected("cloudtrail-archive"));
}

fn copy_tree(from: &Path, to: &Path) {
    fs::create_dir_all(to).expect("mkdir");
    for entry in fs::read_dir(from).expect("read dir") {
        let path = entry.expect("entry").path();
        let target = to.join(path.file_name().expect("a name"));
        if path.is_dir() {
            copy_tree(&path, &target);
        } else {
            fs::copy(&path, &target).expect("copy");
        }
    }
}

// ---- filters: --since/--until/--account/--region prune the archive, --instance-id the report ----

/// The bundled archive copied into a temp dir, with a corrupt log file
/// planted in `day` (yyyy/mm/dd) of `account`: reading it would fail the
/// run, so a clean run proves the filters never opened it.
fn archive_with_a_trap(account: &str, day: &str) -> (TempDir, PathBuf) {
    let dir = TempDir::new().expect("temp dir");
    copy_tree(&project("events/cloudtrail-archive"), dir.path());
    let folder = dir
        .path()
        .join(format!("AWSLogs/{account}/CloudTrail/eu-west-1/{day}"));
    fs::create_dir_all(&folder).expect("mkdir");
    let stamp = day.replace('/', "");
    let trap = folder.join(format!(
        "{account}_CloudTrail_eu-west-1_{stamp}T1200Z_trapTRAPtrapTRAP.json.gz"
    ));
    fs::write(&trap, &gzip(b"{\"Records\": [")[..10]).expect("write trap");
    (dir, trap)
}

#[test]
fn since_skips_the_days_before_it_without_reading_them() {
    let (dir, trap) = archive_with_a_trap("111122223333", "2026/11/18");
    let unfiltered = investigate(&[dir.path()], &["--format", "json"]);
    assert_one_line_error(
        "archive with a corrupt file on the 18th",
        &unfiltered,
        &trap,
    );

    let output = investigate(
        &[dir.path()],
        &["--format", "json", "--since", "2026-11-20", "--stats"],
    );
    assert_no_panic("--since 2026-11-20", &output);
    assert_eq!(
        output.status.code(),
        Some(0),
        "--since 2026-11-20 must not read the 18th: {}",
        stderr(&output)
    );
    let report: Value = serde_json::from_slice(&output.stdout).expect("JSON report");
    assert_diagnoses_valid("--since", &report);
    assert_eq!(pinned(&report), expected("cloudtrail-archive"));
    let err = stderr(&output);
    assert!(
        err.contains("read 3 files") && err.contains("1 files or folders skipped"),
        "--stats reports the 3 files read and the one folder skipped: {err}"
    );
}

#[test]
fn until_skips_the_days_after_it_and_drops_later_records() {
    let (dir, _trap) = archive_with_a_trap("111122223333", "2026/11/23");
    let output = investigate(
        &[dir.path()],
        &["--format", "json", "--until", "2026-11-21T00:00:00Z"],
    );
    assert_eq!(output.status.code(), Some(0), "{}", stderr(&output));
    let report: Value = serde_json::from_slice(&output.stdout).expect("JSON report");
    assert_eq!(pinned(&report), expected("cloudtrail-archive"));

    let early = investigate(
        &[dir.path()],
        &["--format", "json", "--until", "2026-11-20T06:00:00Z"],
    );
    assert_eq!(early.status.code(), Some(0), "{}", stderr(&early));
    let report: Value = serde_json::from_slice(&early.stdout).expect("JSON report");
    assert_eq!(
        report,
        json!({"diagnoses": []}),
        "nothing before 06:00 on the 20th"
    );
}

#[test]
fn account_and_region_filters_skip_other_accounts_folders() {
    let (dir, trap) = archive_with_a_trap("444455556666", "2026/11/20");
    let ours = investigate(
        &[dir.path()],
        &["--format", "json", "--account", "111122223333"],
    );
    assert_eq!(ours.status.code(), Some(0), "{}", stderr(&ours));
    let report: Value = serde_json::from_slice(&ours.stdout).expect("JSON report");
    assert_eq!(pinned(&report), expected("cloudtrail-archive"));

    let theirs = investigate(
        &[dir.path()],
        &["--format", "json", "--account", "444455556666"],
    );
    assert_one_line_error("--account of the corrupt file", &theirs, &trap);
    let report: Value = serde_json::from_slice(&theirs.stdout).expect("JSON report");
    assert_eq!(report, json!({"diagnoses": []}));

    let region = investigate(
        &[dir.path()],
        &["--format", "json", "--region", "us-east-1"],
    );
    assert_eq!(region.status.code(), Some(0), "{}", stderr(&region));
    let report: Value = serde_json::from_slice(&region.stdout).expect("JSON report");
    assert_eq!(report, json!({"diagnoses": []}), "no us-east-1 folders");
}

#[test]
fn filters_apply_to_records_of_files_outside_the_archive_layout() {
    let folder = project("events/seed-story");
    let (report, _) = json_report("seed-story", &[&folder]);
    assert_eq!(pinned(&report), expected("seed-story"));
    // describe-instances output has no time: the instance is still known
    // when the range excludes its events, but the KMS denial is not used.
    let before = investigate(
        &[&folder],
        &["--format", "json", "--until", "2026-11-19T23:59:59Z"],
    );
    assert_eq!(before.status.code(), Some(0), "{}", stderr(&before));
    let report: Value = serde_json::from_slice(&before.stdout).expect("JSON report");
    assert_diagnoses_valid("seed-story --until", &report);
    for d in report["diagnoses"].as_array().into_iter().flatten() {
        assert_eq!(
            d["evidence_event_ids"],
            json!([]),
            "--until before the events: no event is evidence: {d}"
        );
        assert_ne!(d["cause"], "kms_identity_policy_missing");
    }
    for (flags, want_empty) in [
        (&["--since", "2026-11-20T06:00:00Z"][..], false),
        (&["--account", "444455556666"][..], true),
        (
            &["--account", "111122223333", "--region", "eu-west-1"][..],
            false,
        ),
        (&["--region", "us-east-1"][..], true),
    ] {
        let mut args = vec!["--format", "json"];
        args.extend_from_slice(flags);
        let output = investigate(&[&folder], &args);
        assert_eq!(
            output.status.code(),
            Some(0),
            "{flags:?}: {}",
            stderr(&output)
        );
        let report: Value = serde_json::from_slice(&output.stdout).expect("JSON report");
        assert_diagnoses_valid("seed-story filtered", &report);
        if want_empty {
            assert_eq!(report, json!({"diagnoses": []}), "{flags:?}");
        } else {
            assert_eq!(pinned(&report), expected("seed-story"), "{flags:?}");
        }
    }
}

#[test]
fn bad_filter_values_are_usage_errors() {
    for flags in [
        &["--since", "yesterday"][..],
        &["--until", "2026-13-40"][..],
        &["--account", "1111"][..],
        &["--instance-id", "vol-0aaa1b2c3d4e50002"][..],
    ] {
        let output = investigate(&[project("events/seed-story")], flags);
        assert_no_panic("bad filter", &output);
        assert_eq!(
            output.status.code(),
            Some(2),
            "{flags:?}: {}",
            stderr(&output)
        );
        assert!(
            stderr(&output).contains(flags[1]),
            "{flags:?}: the usage error names the bad value: {}",
            stderr(&output)
        );
        assert!(output.stdout.is_empty());
    }
}

#[test]
fn instance_id_narrows_the_report_to_those_instances() {
    let storm = project("events/storm");
    let output = investigate(
        &[&storm],
        &[
            "--format",
            "json",
            "--instance-id",
            "i-0d000000000000007",
            "--instance-id",
            "i-0d0000000000000c8",
        ],
    );
    assert_eq!(output.status.code(), Some(0), "{}", stderr(&output));
    let report: Value = serde_json::from_slice(&output.stdout).expect("JSON report");
    assert_diagnoses_valid("storm --instance-id", &report);
    let ids: Vec<&str> = report["diagnoses"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|d| d["instance_id"].as_str())
        .collect();
    assert_eq!(ids, ["i-0d000000000000007", "i-0d0000000000000c8"]);
}

// ---- grouped text: one block and one fix per (cause, principal, keys) ----

#[test]
fn a_storm_is_one_text_block_with_one_fix_for_all_its_instances() {
    let output = investigate(&[project("events/storm")], &[]);
    assert_eq!(output.status.code(), Some(0), "{}", stderr(&output));
    let text = stdout(&output);
    assert_eq!(
        text.matches("\n== ").count() + usize::from(text.starts_with("== ")),
        1,
        "200 instances, one cause, one principal, one key: one block:\n{text}"
    );
    assert!(text.starts_with("== 200 instances: kms_identity_policy_missing"));
    assert_eq!(text.matches("fix (one for all 200):").count(), 1);
    assert_eq!(
        text.matches("\"kms:CreateGrant\"").count(),
        1,
        "one policy, not 200"
    );
    let start = text
        .lines()
        .find(|l| l.contains("aws ec2 start-instances"))
        .unwrap_or_else(|| panic!("the fix starts the instances again:\n{text}"));
    for n in 1..=200u32 {
        let id = format!("i-0d{n:015x}");
        assert!(start.contains(&id), "the start command names {id}: {start}");
    }
    assert!(text.ends_with("200 failed starts diagnosed.\n"));
}

#[test]
fn storm_json_is_still_one_diagnosis_per_instance() {
    let (report, _) = json_report("storm", &[project("events/storm")]);
    assert_eq!(report["diagnoses"].as_array().map(Vec::len), Some(200));
}

// ---- query: the evidence SQL, run for real on DuckDB; engines' result files ----

fn query(args: &[&str]) -> Output {
    let mut cmd = start_doctor();
    cmd.arg("query").args(args);
    cmd.output().expect("start-doctor runs")
}

#[test]
fn the_athena_query_runs_on_duckdb_and_selects_the_committed_rows() {
    let output = query(&[
        "--engine",
        "athena",
        "--since",
        "2026-11-20",
        "--until",
        "2026-11-20T23:59:59Z",
    ]);
    assert_eq!(output.status.code(), Some(0), "{}", stderr(&output));
    let sql = stdout(&output);
    let pinned_sql =
        fs::read_to_string(project("events/athena-results/query.sql")).expect("query.sql");
    assert_eq!(
        sql, pinned_sql,
        "the printed SQL differs from events/athena-results/query.sql"
    );

    let dir = TempDir::new().expect("temp dir");
    let sql_file = temp_file(&dir, "query.sql", sql.as_bytes());
    let (csv, lake) = (dir.path().join("result.csv"), dir.path().join("lake.json"));
    let run = std::process::Command::new("python3")
        .arg(project("scripts/query-check.py"))
        .arg(&sql_file)
        .arg(project("events/cloudtrail-archive"))
        .arg(&csv)
        .arg(&lake)
        .output()
        .expect("python3 runs");
    assert!(
        run.status.success(),
        "DuckDB rejected the Athena SQL or the script failed (pip install -r scripts/requirements-test.txt):\n{}",
        String::from_utf8_lossy(&run.stderr)
    );
    assert!(
        String::from_utf8_lossy(&run.stderr).contains("2 selected"),
        "exactly the StartInstances call and the denied CreateGrant: {}",
        String::from_utf8_lossy(&run.stderr)
    );
    for (got, committed) in [
        (&csv, "events/athena-results/8d3f1c2a-athena-result.csv"),
        (&lake, "events/lake-results/get-query-results.json"),
    ] {
        assert_eq!(
            fs::read_to_string(got).expect("result"),
            fs::read_to_string(project(committed)).expect("committed result"),
            "{committed} is not what the query selects today"
        );
    }
}

#[test]
fn the_lake_query_names_its_event_data_store_and_needs_one() {
    let output = query(&[
        "--engine",
        "lake",
        "--event-data-store",
        "EXAMPLEf852-4e8f-8bd1-bcf6cEXAMPLE",
        "--account",
        "111122223333",
    ]);
    assert_eq!(output.status.code(), Some(0), "{}", stderr(&output));
    let sql = stdout(&output);
    assert!(
        sql.contains("FROM EXAMPLEf852-4e8f-8bd1-bcf6cEXAMPLE\n"),
        "{sql}"
    );
    assert!(
        sql.contains("recipientAccountId IN ('111122223333')"),
        "{sql}"
    );

    let missing = query(&["--engine", "lake"]);
    assert_eq!(missing.status.code(), Some(2));
    assert!(stderr(&missing).contains("--event-data-store"));
    let bad = query(&["--engine", "athena", "--table", "logs; DROP TABLE x"]);
    assert_eq!(bad.status.code(), Some(2), "{}", stderr(&bad));
    assert!(bad.stdout.is_empty());
}

#[test]
fn a_query_result_among_other_inputs_is_detected_by_content() {
    let dir = TempDir::new().expect("temp dir");
    let csv = fs::read(project("events/athena-results/8d3f1c2a-athena-result.csv")).expect("csv");
    let renamed = temp_file(&dir, "results.txt", &csv);
    let gz = temp_file(&dir, "results.csv.gz", &gzip(&csv));
    for file in [&renamed, &gz] {
        let (report, _) = json_report("Athena CSV under another name", &[file]);
        assert_eq!(
            pinned(&report),
            expected("cloudtrail-archive"),
            "{}",
            file.display()
        );
    }
    let broken = temp_file(
        &dir,
        "broken.csv",
        b"\"eventid\",\"eventname\"\n\"never closed\n",
    );
    let output = investigate(&[&broken], &["--format", "json"]);
    let line = assert_one_line_error("a CSV whose quote never closes", &output, &broken);
    assert!(line.contains("line 2"), "{line}");
}

#[cfg(not(feature = "aws"))]
#[test]
fn without_the_aws_feature_s3_and_run_say_how_to_get_them() {
    for output in [
        investigate(&["s3://trail-bucket/AWSLogs/"], &[]),
        query(&["--engine", "athena", "--run"]),
    ] {
        assert_no_panic("no aws feature", &output);
        assert_eq!(output.status.code(), Some(2), "{}", stderr(&output));
        let err = stderr(&output);
        assert_eq!(err.lines().count(), 1, "one line: {err}");
        assert!(err.contains("--features aws"), "{err}");
        assert!(output.stdout.is_empty());
    }
}

// ---- S3 in place (feature aws): the same archive read from moto gives the same answer ----

#[cfg(feature = "aws")]
#[test]
fn an_archive_read_in_place_from_s3_is_diagnosed_like_the_local_copy() {
    let endpoint = start_doctor_testkit::moto::endpoint();
    let (dir, trap) = archive_with_a_trap("111122223333", "2026/11/18");
    let upload = std::process::Command::new("python3")
        .arg("-c")
        .arg(
            "import boto3, pathlib, sys\n\
             s3 = boto3.client('s3', endpoint_url=sys.argv[1], region_name='eu-west-1',\n\
                 aws_access_key_id='testing', aws_secret_access_key='testing')\n\
             s3.create_bucket(Bucket='cli-trail', CreateBucketConfiguration={'LocationConstraint': 'eu-west-1'})\n\
             root = pathlib.Path(sys.argv[2])\n\
             for f in sorted(root.rglob('*.json.gz')): s3.upload_file(str(f), 'cli-trail', 'org/' + f.relative_to(root).as_posix())\n",
        )
        .arg(&endpoint)
        .arg(dir.path())
        .output()
        .expect("python3 runs");
    assert!(
        upload.status.success(),
        "upload to moto: {}",
        String::from_utf8_lossy(&upload.stderr)
    );
    let s3 = |extra: &[&str]| {
        let mut cmd = start_doctor();
        cmd.args(["investigate", "s3://cli-trail/org/", "--format", "json"])
            .args(extra)
            .env_clear()
            .env("PATH", std::env::var_os("PATH").unwrap_or_default())
            .env("AWS_ENDPOINT_URL", &endpoint)
            .env("AWS_REGION", "eu-west-1")
            .env("AWS_ACCESS_KEY_ID", "testing")
            .env("AWS_SECRET_ACCESS_KEY", "testing")
            .env("AWS_EC2_METADATA_DISABLED", "true");
        cmd.output().expect("start-doctor runs")
    };
    let selected = s3(&["--since", "2026-11-20"]);
    assert_eq!(selected.status.code(), Some(0), "{}", stderr(&selected));
    let report: Value = serde_json::from_slice(&selected.stdout).expect("JSON report");
    assert_diagnoses_valid("s3 --since", &report);
    let (local, _) = json_report(
        "local copy",
        &[dir
            .path()
            .join("AWSLogs/111122223333/CloudTrail/eu-west-1/2026/11/20")],
    );
    assert_eq!(report, local, "S3 and the local copy give the same report");
    assert_eq!(pinned(&report), expected("cloudtrail-archive"));

    let everything = s3(&[]);
    let err = stderr(&everything);
    assert_eq!(everything.status.code(), Some(1), "{err}");
    let name = trap
        .file_name()
        .and_then(|n| n.to_str())
        .unwrap_or_default();
    assert_eq!(err.lines().count(), 1, "{err}");
    assert!(
        err.contains("s3://cli-trail/org/") && err.contains(name),
        "{err}"
    );
    let report: Value = serde_json::from_slice(&everything.stdout).expect("JSON report");
    assert_eq!(
        pinned(&report),
        expected("cloudtrail-archive"),
        "the rest is still diagnosed"
    );
}
