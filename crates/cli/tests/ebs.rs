//! `start-doctor ebs` as a process: every sample scenario against its
//! oracle and the output schema, the seed story read over its two days,
//! the text a person reads, `ebs query`, and every way an input can be
//! unreadable or a command line wrong.
//!
//! Contract (EBS.md): one finding per instance; exit 0 when the input was
//! read, exit 1 with one line per unreadable file on stderr naming it (the
//! rest still diagnosed and printed), exit 2 for a bad command line.

use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::Output;

use assert_cmd::Command;
use flate2::write::GzEncoder;
use flate2::Compression;
use serde_json::Value;
use start_doctor_testkit::fixtures::{ebs_expected, ebs_pinned, ebs_scenario_names, repo};
use start_doctor_testkit::schema::assert_ebs_valid;
use tempfile::TempDir;

use crate::process::{assert_no_panic, run, stderr, stdout};

const SEED: &str = "i-0c4f7a1b2d3e4f501";

fn scenario(name: &str) -> PathBuf {
    repo().join("events/ebs").join(name)
}

fn ebs<P: AsRef<Path>>(args: &[&str], paths: &[P]) -> Output {
    run("ebs", paths, args)
}

/// `ebs --format json` on `paths` with `extra` args, expecting `code`; the
/// report, checked against the schema.
fn report<P: AsRef<Path>>(what: &str, paths: &[P], extra: &[&str], code: i32) -> (Value, Output) {
    let mut args = vec!["--format", "json"];
    args.extend_from_slice(extra);
    let o = ebs(&args, paths);
    assert_no_panic(what, &o);
    assert_eq!(
        o.status.code(),
        Some(code),
        "{what}: exit status; stderr:\n{}",
        stderr(&o)
    );
    let report: Value = serde_json::from_slice(&o.stdout).unwrap_or_else(|e| {
        panic!(
            "{what}: --format json printed no JSON ({e}):\n{}",
            stdout(&o)
        )
    });
    assert_ebs_valid(what, &report);
    (report, o)
}

fn finding<'a>(report: &'a Value, instance: &str) -> &'a Value {
    report["findings"]
        .as_array()
        .and_then(|l| l.iter().find(|f| f["instance_id"] == instance))
        .unwrap_or_else(|| panic!("no finding for {instance} in {report}"))
}

fn check_scenario(name: &str) {
    let folder = scenario(name);
    let (got, o) = report(name, &[&folder], &[], 0);
    assert_eq!(
        stderr(&o),
        "",
        "{name}: the sample should read without warnings"
    );
    let want = ebs_expected(name);
    assert_eq!(
        ebs_pinned(&got),
        want,
        "{name}: findings differ from tests/expected/ebs/{name}.json\n got: {}",
        serde_json::to_string_pretty(&ebs_pinned(&got)).unwrap_or_default()
    );
    let text = ebs(&[], &[&folder]);
    assert_eq!(
        text.status.code(),
        Some(0),
        "{name}: text run: {}",
        stderr(&text)
    );
    let text = stdout(&text);
    for f in want.as_array().into_iter().flatten() {
        for field in ["instance_id", "cause"] {
            let needle = f[field].as_str().unwrap_or_default();
            assert!(
                text.contains(needle),
                "{name}: the text does not name {needle}:\n{text}"
            );
        }
        let kind = f["remediation_kind"].as_str().unwrap_or_default();
        assert!(
            text.contains(&format!("fix ({kind})")),
            "{name}: the text does not give the {kind} fix"
        );
    }
}

scenarios! {
    ebs_seed_1_initializing => "seed-1-initializing",
    ebs_seed_2_instance_baseline => "seed-2-instance-baseline",
    ebs_volume_iops_limit => "volume-iops-limit",
    ebs_volume_throughput_limit => "volume-throughput-limit",
    ebs_volume_burst_exhausted => "volume-burst-exhausted",
    ebs_instance_ebs_throughput_limit => "instance-ebs-throughput-limit",
    ebs_instance_ebs_iops_limit => "instance-ebs-iops-limit",
    ebs_volume_io_stalled => "volume-io-stalled",
    ebs_not_ebs_bound => "not-ebs-bound",
    ebs_insufficient_data => "insufficient-data",
}

#[test]
fn every_ebs_scenario_has_an_oracle_and_a_test_and_every_cause_a_scenario() {
    let mut tested: Vec<String> = SCENARIOS.iter().map(|s| (*s).to_owned()).collect();
    tested.sort();
    assert_eq!(
        ebs_scenario_names(),
        tested,
        "events/ebs/ folders vs scenarios tested here"
    );
    let mut oracles: Vec<String> = fs::read_dir(repo().join("tests/expected/ebs"))
        .expect("tests/expected/ebs")
        .filter_map(|e| e.ok()?.file_name().into_string().ok())
        .map(|n| n.trim_end_matches(".json").to_owned())
        .collect();
    oracles.sort();
    assert_eq!(oracles, tested, "oracles vs scenarios");
    let schema: Value =
        serde_json::from_str(&fs::read_to_string(repo().join("schema/ebs.schema.json")).unwrap())
            .unwrap();
    let mut causes: Vec<String> = schema["$defs"]["finding"]["properties"]["cause"]["enum"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c.as_str().unwrap().to_owned())
        .collect();
    causes.sort();
    let mut seen: Vec<String> = tested
        .iter()
        .flat_map(|s| ebs_expected(s).as_array().cloned().unwrap_or_default())
        .map(|f| f["cause"].as_str().unwrap_or_default().to_owned())
        .collect();
    seen.sort();
    seen.dedup();
    assert_eq!(seen, causes, "one scenario per cause of the contract");
}

#[test]
fn the_schema_copy_is_the_contract() {
    let shared = repo().join("../shared/ebs.schema.json");
    if let Ok(contract) = fs::read(&shared) {
        assert_eq!(
            fs::read(repo().join("schema/ebs.schema.json")).unwrap(),
            contract,
            "schema/ebs.schema.json differs from the shared contract"
        );
    }
}

#[test]
fn the_whole_folder_is_one_run_with_the_seed_story_over_two_days() {
    let (all, o) = report("events/ebs", &[repo().join("events/ebs")], &[], 0);
    assert_eq!(stderr(&o), "", "events/ebs: no warnings");
    let got = ebs_pinned(&all);
    let got = got.as_array().unwrap();
    // Every scenario's instance once; the seed story's two days are one
    // instance.
    assert_eq!(got.len(), SCENARIOS.len() - 1, "one finding per instance");
    for name in SCENARIOS.iter().filter(|s| !s.starts_with("seed-")) {
        for want in ebs_expected(name).as_array().unwrap() {
            let id = want["instance_id"].as_str().unwrap();
            let f = got.iter().find(|f| f["instance_id"] == id).unwrap();
            assert_eq!(
                f, want,
                "{name}: differs when read with every other scenario"
            );
        }
    }
    // Over both days, the initialization's 120 minutes outweigh the
    // baseline's 68: the other causes are contributing.
    let seed = finding(&all, SEED);
    assert_eq!(seed["cause"], "volume_initializing");
    assert_eq!(
        seed["contributing"],
        serde_json::json!(["volume_throughput_limit", "instance_ebs_burst_exhausted"])
    );
    // --until and --since pick each day out of the same files.
    let seeds = [
        scenario("seed-1-initializing"),
        scenario("seed-2-instance-baseline"),
    ];
    let (day1, _) = report("day 1", &seeds, &["--until", "2026-11-20T23:59:59Z"], 0);
    assert_eq!(
        ebs_pinned(&day1),
        ebs_expected("seed-1-initializing"),
        "--until picks day 1"
    );
    let (day2, _) = report("day 2", &seeds, &["--since", "2026-11-21"], 0);
    assert_eq!(
        ebs_pinned(&day2),
        ebs_expected("seed-2-instance-baseline"),
        "--since picks day 2"
    );
}

#[test]
fn instance_id_narrows_what_is_reported() {
    let (r, _) = report(
        "--instance-id",
        &[repo().join("events/ebs")],
        &["--instance-id", SEED],
        0,
    );
    let list = r["findings"].as_array().unwrap();
    assert_eq!(list.len(), 1);
    assert_eq!(list[0]["instance_id"], SEED);
    let (none, _) = report(
        "--instance-id absent",
        &[repo().join("events/ebs")],
        &["--instance-id", "i-0000000000000000f"],
        0,
    );
    assert_eq!(none["findings"], serde_json::json!([]));
}

#[test]
fn the_seed_text_shows_the_chart_and_the_fix() {
    let o = ebs(&[], &[scenario("seed-2-instance-baseline")]);
    assert_eq!(o.status.code(), Some(0));
    let text = stdout(&o);
    for needle in [
        "== i-0c4f7a1b2d3e4f501 (orders-db)  m5.large",
        "cause:         instance_ebs_burst_exhausted  (also seen: volume_throughput_limit)",
        "limit:         instance baseline: 3,600 IOPS, 77.49 MiB/s",
        "MiB/s: peak 125.9, ceiling 566.2 to 77.5",
        "at limit ",
        "aws ec2 modify-instance-attribute --region eu-west-1 --instance-id i-0c4f7a1b2d3e4f501 --instance-type Value=m5.2xlarge",
        "aws ec2 modify-volume --region eu-west-1 --volume-id vol-0c4f7a1b2d3e4f512",
        "81.25 MB/s (77.49 MiB/s)",
    ] {
        assert!(text.contains(needle), "seed-2 text lacks {needle:?}:\n{text}");
    }
    let o = ebs(&[], &[scenario("seed-1-initializing")]);
    let text = stdout(&o);
    for needle in [
        "cause:         volume_initializing",
        "restored from: snap-0c4f7a1b2d3e4f522, no fast snapshot restore, 31% initialized",
        "sudo fio --filename=\"$DEV\" --rw=read --bs=1M",
        "aws ec2 enable-fast-snapshot-restores --region eu-west-1 --availability-zones eu-west-1a --source-snapshot-ids snap-0c4f7a1b2d3e4f522",
        "--volume-initialization-rate 300",
    ] {
        assert!(text.contains(needle), "seed-1 text lacks {needle:?}:\n{text}");
    }
}

#[test]
fn nothing_to_examine_says_what_to_give() {
    let dir = TempDir::new().unwrap();
    fs::write(dir.path().join("empty.json"), "{\"Volumes\": []}").unwrap();
    let o = ebs(&[], &[dir.path()]);
    assert_eq!(o.status.code(), Some(0));
    assert!(
        stdout(&o).contains("No instance to examine"),
        "{}",
        stdout(&o)
    );
}

fn gzip(bytes: &[u8]) -> Vec<u8> {
    let mut gz = GzEncoder::new(Vec::new(), Compression::fast());
    gz.write_all(bytes).unwrap();
    gz.finish().unwrap()
}

#[test]
fn unreadable_files_are_one_line_each_and_the_rest_is_diagnosed() {
    let dir = TempDir::new().unwrap();
    // The volume-iops-limit scenario, gzipped, beside broken files.
    for file in fs::read_dir(scenario("volume-iops-limit")).unwrap() {
        let path = file.unwrap().path();
        if path.extension().is_some_and(|e| e == "json") {
            let name = format!("{}.gz", path.file_name().unwrap().to_string_lossy());
            fs::write(dir.path().join(name), gzip(&fs::read(&path).unwrap())).unwrap();
        }
    }
    fs::write(dir.path().join("bad.json"), "{\"Volumes\": [").unwrap();
    fs::write(dir.path().join("unknown.json"), "{\"Hello\": \"world\"}").unwrap();
    fs::write(
        dir.path().join("lines.jsonl"),
        "{\"VolumeStatuses\": []}\n{oops}\n",
    )
    .unwrap();
    fs::write(
        dir.path().join("corrupt.json.gz"),
        &gzip(b"{\"Volumes\": []}")[..12],
    )
    .unwrap();
    fs::write(
        dir.path().join("notes.txt"),
        "not JSON, skipped in a directory",
    )
    .unwrap();
    let missing = dir.path().join("missing.json");
    let (r, o) = report(
        "broken inputs",
        &[dir.path().to_path_buf(), missing.clone()],
        &[],
        1,
    );
    assert_eq!(
        ebs_pinned(&r),
        ebs_expected("volume-iops-limit"),
        "the readable files are still diagnosed"
    );
    let err = stderr(&o);
    let lines: Vec<&str> = err
        .lines()
        .filter(|l| l.starts_with("start-doctor: error:"))
        .collect();
    assert_eq!(lines.len(), 5, "one line per unreadable file:\n{err}");
    for (file, detail) in [
        ("bad.json", "invalid JSON"),
        ("unknown.json", "[Hello]"),
        ("lines.jsonl", "line 2"),
        ("corrupt.json.gz", "gzip"),
        ("missing.json", ""),
    ] {
        assert!(
            lines.iter().any(|l| l.contains(file) && l.contains(detail)),
            "no error line naming {file} ({detail}):\n{err}"
        );
    }
    assert!(
        !err.contains("notes.txt"),
        "a text file in a directory is passed over"
    );
    // A file named on the command line is read whatever it holds.
    let text = dir.path().join("notes.txt");
    let o = ebs(&[], &[&text]);
    assert_eq!(o.status.code(), Some(1));
    assert!(stderr(&o).contains("notes.txt"));
}

#[test]
fn malformed_items_are_warnings_and_the_rest_is_read() {
    let dir = TempDir::new().unwrap();
    fs::write(
        dir.path().join("volumes.json"),
        r#"{"Volumes": [{"VolumeId": "vol-0d2e3f4a5b6c7d811", "VolumeType": "gp3", "Size": 400, "Iops": 3000, "Throughput": 125, "Attachments": [{"InstanceId": "i-0d2e3f4a5b6c7d801", "State": "attached"}]}, {"VolumeId": 42}]}"#,
    )
    .unwrap();
    let (_, o) = report("malformed item", &[dir.path()], &[], 0);
    let err = stderr(&o);
    assert!(
        err.contains("warning") && err.contains("volumes.json") && err.contains("item 2"),
        "{err}"
    );
}

#[test]
fn bad_command_lines_exit_2() {
    for (args, needle) in [
        (vec![], "PATH"),
        (vec!["events", "--since", "yesterday"], "yesterday"),
        (vec!["events", "--instance-id", "i-nope"], "i-nope"),
        (vec!["events", "--format", "yaml"], "yaml"),
        (
            vec!["events", "--since", "2026-11-21", "--until", "2026-11-20"],
            "--since",
        ),
        (vec!["query"], "PATH"),
        (vec!["query", "events", "--period", "90"], "period"),
    ] {
        let mut cmd = Command::cargo_bin("start-doctor").unwrap();
        let o = cmd.arg("ebs").args(&args).output().unwrap();
        assert_eq!(o.status.code(), Some(2), "{args:?}: {}", stderr(&o));
        assert!(
            stderr(&o).contains(needle),
            "{args:?}: stderr lacks {needle:?}:\n{}",
            stderr(&o)
        );
    }
}

#[test]
fn help_names_the_inputs_and_the_exit_status() {
    let o = Command::cargo_bin("start-doctor")
        .unwrap()
        .args(["ebs", "--help"])
        .output()
        .unwrap();
    let text = stdout(&o);
    for needle in [
        "describe-instance-types",
        "get-metric-data",
        "initializeVolume",
        "Exit status",
        "query",
    ] {
        assert!(text.contains(needle), "ebs --help lacks {needle:?}");
    }
}

fn query(args: &[&str]) -> Output {
    let mut cmd = Command::cargo_bin("start-doctor").unwrap();
    cmd.args(["ebs", "query"]).args(args).output().unwrap()
}

#[test]
fn query_prints_a_request_the_cli_accepts_for_every_metric() {
    let folder = scenario("seed-1-initializing");
    let describe: Vec<PathBuf> = ["describe-instances.json", "describe-volumes.json"]
        .iter()
        .map(|f| folder.join(f))
        .collect();
    // A window CloudWatch still keeps at 1 minute: the last few hours.
    let until = chrono::Utc::now() - chrono::Duration::hours(1);
    let until = until.format("%Y-%m-%dT%H:00:00Z").to_string();
    let mut args: Vec<&str> = describe.iter().map(|p| p.to_str().unwrap()).collect();
    args.extend(["--since", "4h", "--until", until.as_str()]);
    let o = query(&args);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let request: Value = serde_json::from_slice(&o.stdout).expect("one JSON document");
    assert_eq!(request["EndTime"], until.as_str());
    assert!(request["StartTime"]
        .as_str()
        .is_some_and(|s| s.ends_with('Z') && s < until.as_str()));
    let queries = request["MetricDataQueries"].as_array().unwrap();
    // 8 instance metrics; per gp3 volume 8 VolumeId metrics (no
    // BurstBalance) and 7 InstanceId+VolumeId ones.
    assert_eq!(queries.len(), 8 + 2 * 15);
    let mut ids: Vec<&str> = queries.iter().map(|q| q["Id"].as_str().unwrap()).collect();
    ids.sort_unstable();
    ids.dedup();
    assert_eq!(ids.len(), queries.len(), "Ids are unique");
    for q in queries {
        let id = q["Id"].as_str().unwrap();
        assert!(
            id.starts_with(|c: char| c.is_ascii_lowercase())
                && id.chars().all(|c| c.is_ascii_alphanumeric() || c == '_'),
            "{id}"
        );
        assert_eq!(q["MetricStat"]["Period"], 60);
        let metric = q["MetricStat"]["Metric"]["MetricName"].as_str().unwrap();
        let dims: Vec<&str> = q["MetricStat"]["Metric"]["Dimensions"]
            .as_array()
            .unwrap()
            .iter()
            .map(|d| d["Name"].as_str().unwrap())
            .collect();
        let want: &[&str] = if metric.starts_with("EBS") || metric.starts_with("InstanceEBS") {
            &["InstanceId"]
        } else if [
            "VolumeIOPSExceededCheck",
            "VolumeThroughputExceededCheck",
            "VolumeStalledIOCheck",
            "VolumeAvgReadLatency",
            "VolumeAvgWriteLatency",
            "VolumeAvgIOPS",
            "VolumeAvgThroughput",
        ]
        .contains(&metric)
        {
            &["InstanceId", "VolumeId"]
        } else {
            &["VolumeId"]
        };
        assert_eq!(dims, want, "{metric}: dimensions");
        let label = q["Label"].as_str().unwrap();
        assert!(
            label.starts_with(&format!(
                "{} {metric} ",
                q["MetricStat"]["Metric"]["Namespace"].as_str().unwrap()
            )),
            "{label}"
        );
    }
    // The committed request of the scenario is this one.
    let committed: Value =
        serde_json::from_str(&fs::read_to_string(folder.join("metrics-request.json")).unwrap())
            .unwrap();
    let mut a: Vec<String> = queries
        .iter()
        .map(|q| q["Label"].as_str().unwrap().to_owned())
        .collect();
    let mut b: Vec<String> = committed["MetricDataQueries"]
        .as_array()
        .unwrap()
        .iter()
        .map(|q| q["Label"].as_str().unwrap().to_owned())
        .collect();
    a.sort();
    b.sort();
    assert_eq!(a, b, "ebs query asks what the scenario's request asks");
}

#[test]
fn query_splits_beyond_500_queries_into_json_lines() {
    let dir = TempDir::new().unwrap();
    // 40 instances with 1 gp2 volume each: 8 + 9 + 7 = 24 queries each, 960.
    let reservations: Vec<Value> = (0..40)
        .map(|n| {
            serde_json::json!({"OwnerId": "111122223333", "Instances": [{
                "InstanceId": format!("i-0aaaaaaaaaaaaa{n:03x}"), "InstanceType": "m5.large",
                "State": {"Name": "running"}, "Placement": {"AvailabilityZone": "eu-west-1a"},
                "BlockDeviceMappings": [{"DeviceName": "/dev/xvda", "Ebs": {"VolumeId": format!("vol-0bbbbbbbbbbbbb{n:03x}")}}]}]})
        })
        .collect();
    let volumes: Vec<Value> = (0..40)
        .map(|n| serde_json::json!({"VolumeId": format!("vol-0bbbbbbbbbbbbb{n:03x}"), "VolumeType": "gp2", "Size": 100, "Iops": 300,
            "Attachments": [{"InstanceId": format!("i-0aaaaaaaaaaaaa{n:03x}"), "State": "attached"}]}))
        .collect();
    fs::write(
        dir.path().join("i.json"),
        serde_json::json!({"Reservations": reservations}).to_string(),
    )
    .unwrap();
    fs::write(
        dir.path().join("v.json"),
        serde_json::json!({"Volumes": volumes}).to_string(),
    )
    .unwrap();
    let o = query(&[
        dir.path().to_str().unwrap(),
        "--since",
        "2026-11-20T07:00:00Z",
        "--until",
        "2026-11-20T08:00:00Z",
    ]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let requests: Vec<Value> = stdout(&o)
        .lines()
        .map(|l| serde_json::from_str(l).expect("one request per line"))
        .collect();
    assert_eq!(requests.len(), 2);
    let sizes: Vec<usize> = requests
        .iter()
        .map(|r| r["MetricDataQueries"].as_array().unwrap().len())
        .collect();
    assert_eq!(sizes, [500, 460]);
    assert!(stderr(&o).contains("500 per request"), "{}", stderr(&o));
}

#[test]
fn query_raises_the_period_for_old_windows() {
    let folder = scenario("seed-1-initializing");
    let path = folder.join("describe-instances.json");
    let o = query(&[
        path.to_str().unwrap(),
        "--since",
        "2020-01-01",
        "--until",
        "2020-01-02",
    ]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let request: Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(
        request["MetricDataQueries"][0]["MetricStat"]["Period"],
        3600
    );
    assert!(stderr(&o).contains("raised to 3600"), "{}", stderr(&o));
}

#[test]
fn query_without_instances_says_so() {
    let dir = TempDir::new().unwrap();
    fs::write(dir.path().join("v.json"), "{\"Volumes\": []}").unwrap();
    let o = query(&[dir.path().to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(1));
    assert!(stderr(&o).contains("no instance"), "{}", stderr(&o));
}

#[cfg(not(feature = "aws"))]
#[test]
fn live_without_the_aws_feature_says_how_to_get_it() {
    let o = ebs(&["--live"], &[] as &[&str]);
    assert_no_panic("--live", &o);
    assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
    assert!(stderr(&o).contains("--features aws"), "{}", stderr(&o));
    assert!(o.stdout.is_empty());
}

/// Creates on moto an m5.large with a 400 GiB gp3 volume at 3,000 IOPS,
/// restored from a snapshot, and puts 30 minutes of metrics at that
/// ceiling; prints the two ids as JSON.
#[cfg(feature = "aws")]
const MOTO_SETUP: &str = r#"
import boto3, datetime, json, sys
kw = dict(endpoint_url=sys.argv[1], region_name='eu-west-1', aws_access_key_id='testing', aws_secret_access_key='testing')
ec2 = boto3.client('ec2', **kw)
cw = boto3.client('cloudwatch', **kw)
ami = ec2.describe_images(Owners=['amazon'])['Images'][0]['ImageId']
i = ec2.run_instances(ImageId=ami, InstanceType='m5.large', MinCount=1, MaxCount=1,
                      Placement={'AvailabilityZone': 'eu-west-1a'})['Instances'][0]['InstanceId']
source = ec2.create_volume(AvailabilityZone='eu-west-1a', Size=400, VolumeType='gp3')['VolumeId']
snapshot = ec2.create_snapshot(VolumeId=source)['SnapshotId']
v = ec2.create_volume(AvailabilityZone='eu-west-1a', SnapshotId=snapshot, Size=400, VolumeType='gp3', Iops=3000, Throughput=125)['VolumeId']
ec2.attach_volume(VolumeId=v, InstanceId=i, Device='/dev/sdf')
now = datetime.datetime.now(datetime.timezone.utc).replace(second=0, microsecond=0)
volume = [{'Name': 'VolumeId', 'Value': v}]
pair = [{'Name': 'InstanceId', 'Value': i}, {'Name': 'VolumeId', 'Value': v}]
data = []
for k in range(1, 31):
    t = now - datetime.timedelta(minutes=k)
    data += [
        dict(MetricName='VolumeReadOps', Dimensions=volume, Timestamp=t, Value=179800.0, Unit='Count'),
        dict(MetricName='VolumeWriteOps', Dimensions=volume, Timestamp=t, Value=0.0, Unit='Count'),
        dict(MetricName='VolumeReadBytes', Dimensions=volume, Timestamp=t, Value=179800.0 * 8192, Unit='Bytes'),
        dict(MetricName='VolumeWriteBytes', Dimensions=volume, Timestamp=t, Value=0.0, Unit='Bytes'),
        dict(MetricName='VolumeIOPSExceededCheck', Dimensions=pair, Timestamp=t, Value=1.0),
    ]
for n in range(0, len(data), 20):
    cw.put_metric_data(Namespace='AWS/EBS', MetricData=data[n:n + 20])
print(json.dumps({'instance': i, 'volume': v}))
"#;

/// `ebs --live` against the moto server: an m5.large with a 3,000 IOPS gp3
/// volume read at its ceiling for the last half hour. moto has no
/// DescribeVolumeStatus nor fast snapshot restores: those calls fail, are
/// one line each, and the rest is diagnosed (exit 1). What `--save` wrote,
/// read back by `ebs`, gives the same findings.
#[cfg(feature = "aws")]
#[test]
fn live_gathers_from_the_account_and_save_reads_back_the_same() {
    let endpoint = start_doctor_testkit::moto::endpoint();
    let setup = std::process::Command::new("python3")
        .arg("-c")
        .arg(MOTO_SETUP)
        .arg(&endpoint)
        .output()
        .expect("python3 runs");
    assert!(
        setup.status.success(),
        "moto setup: {}",
        String::from_utf8_lossy(&setup.stderr)
    );
    let ids: Value = serde_json::from_slice(&setup.stdout).expect("ids");
    let instance = ids["instance"].as_str().unwrap().to_owned();
    let volume = ids["volume"].as_str().unwrap().to_owned();
    let saved = TempDir::new().unwrap();
    let run = |args: &[&str]| {
        let mut cmd = Command::cargo_bin("start-doctor").unwrap();
        cmd.arg("ebs")
            .args(args)
            .env_clear()
            .env("PATH", std::env::var_os("PATH").unwrap_or_default())
            .env("AWS_ENDPOINT_URL", &endpoint)
            .env("AWS_REGION", "eu-west-1")
            .env("AWS_ACCESS_KEY_ID", "testing")
            .env("AWS_SECRET_ACCESS_KEY", "testing")
            .env("AWS_EC2_METADATA_DISABLED", "true");
        cmd.output().expect("start-doctor runs")
    };
    let save = saved.path().to_str().unwrap();
    let live = run(&[
        "--live",
        "--save",
        save,
        "--instance-id",
        &instance,
        "--since",
        "2h",
        "--format",
        "json",
    ]);
    assert_no_panic("--live", &live);
    let err = stderr(&live);
    assert_eq!(
        live.status.code(),
        Some(1),
        "moto lacks two calls: exit 1\n{err}"
    );
    for call in ["describe-volume-status", "describe-fast-snapshot-restores"] {
        assert!(
            err.lines()
                .any(|l| l.starts_with("start-doctor: error: --live") && l.contains(call)),
            "no line for {call}:\n{err}"
        );
    }
    let report: Value = serde_json::from_slice(&live.stdout).expect("JSON findings");
    assert_ebs_valid("--live", &report);
    let f = finding(&report, &instance);
    assert_eq!(f["cause"], "volume_iops_limit", "{f}");
    assert_eq!(f["volume_ids"], serde_json::json!([volume]));
    assert_eq!(f["instance_type"], "m5.large");
    for file in [
        "describe-instances.json",
        "describe-volumes.json",
        "describe-instance-types.json",
        "metrics-request-000.json",
        "metrics-000.json",
    ] {
        assert!(saved.path().join(file).is_file(), "--save wrote no {file}");
    }
    let again = run(&[save, "--since", "2h", "--format", "json"]);
    assert_eq!(again.status.code(), Some(0), "{}", stderr(&again));
    let back: Value = serde_json::from_slice(&again.stdout).unwrap();
    assert_eq!(
        ebs_pinned(&back),
        ebs_pinned(&report),
        "the saved files give the same findings"
    );
    assert_eq!(back, report, "to the last field");
}
