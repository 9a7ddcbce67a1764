//! The same evidence in every shape AWS and people give it: files in any
//! order, responses duplicated, pages split anywhere and in either order,
//! timestamps in each form, points missing, responses without their
//! request or without labels, queries in both dimension forms, 5-minute
//! instance metrics, pages that never said `Complete`, gzip. Each
//! variation of each scenario must give the scenario's oracle.

use std::io::Write;

use serde_json::{json, Value};
use start_doctor_ebs::Options;
use start_doctor_testkit::fixtures::{ebs_expected, ebs_scenario_names};

use crate::common::{
    findings_of, is_request, is_response, pinned, scenario, whole_results, without_responses, File,
};

/// Checks a variation of every scenario against its oracle.
fn each_scenario(variation: &str, vary: impl Fn(&str, Vec<File>) -> Vec<File>) {
    for name in ebs_scenario_names() {
        let files = vary(&name, scenario(&name));
        let (findings, _) = findings_of(
            &format!("{name} ({variation})"),
            &files,
            &Options::default(),
        );
        assert_eq!(
            pinned(&findings),
            ebs_expected(&name),
            "{name}: {variation} changed the findings\n got: {}",
            serde_json::to_string_pretty(&pinned(&findings)).unwrap()
        );
    }
}

/// A response holding `results`.
fn response(results: Vec<Value>) -> Value {
    json!({"MetricDataResults": results, "Messages": []})
}

/// Splits every result into pages at the given fractions and lays the
/// pages out as separate responses.
fn paged(results: &[Value], cuts: &[f64], newest_first: bool) -> Vec<Value> {
    let mut bounds = vec![0.0];
    bounds.extend_from_slice(cuts);
    bounds.push(1.0);
    (0..bounds.len() - 1)
        .map(|p| {
            let page: Vec<Value> = results
                .iter()
                .map(|r| {
                    let mut pairs: Vec<(Value, Value)> = r["Timestamps"]
                        .as_array()
                        .unwrap()
                        .iter()
                        .cloned()
                        .zip(r["Values"].as_array().unwrap().iter().cloned())
                        .collect();
                    pairs.sort_by(|a, b| a.0.as_str().cmp(&b.0.as_str()));
                    if newest_first {
                        pairs.reverse();
                    }
                    let (a, b) = ((pairs.len() as f64 * bounds[p]) as usize, (pairs.len() as f64 * bounds[p + 1]) as usize);
                    let chunk = &pairs[a..b];
                    json!({
                        "Id": r["Id"],
                        "Label": r["Label"],
                        "Timestamps": chunk.iter().map(|c| c.0.clone()).collect::<Vec<_>>(),
                        "Values": chunk.iter().map(|c| c.1.clone()).collect::<Vec<_>>(),
                        "StatusCode": if p == bounds.len() - 2 { "Complete" } else { "PartialData" },
                    })
                })
                .collect();
            response(page)
        })
        .collect()
}

#[test]
fn files_in_any_order() {
    each_scenario("reversed files", |_, mut files| {
        files.reverse();
        files
    });
    each_scenario("rotated files", |_, mut files| {
        let n = files.len() / 2;
        files.rotate_left(n);
        files
    });
}

#[test]
fn duplicated_responses_and_descriptions() {
    each_scenario("every file twice", |_, files| {
        files.iter().chain(files.iter()).cloned().collect()
    });
}

#[test]
fn pages_split_anywhere_in_either_order_in_one_file_or_many() {
    for (cuts, newest_first, one_file) in [
        (vec![], true, true),
        (vec![0.01], false, false),
        (vec![0.33, 0.34, 0.9], true, false),
        (vec![0.5, 0.77, 0.78, 0.99], false, true),
    ] {
        let variation =
            format!("pages cut at {cuts:?}, newest first {newest_first}, one file {one_file}");
        each_scenario(&variation, |_, files| {
            let mut out = without_responses(&files);
            let pages = paged(&whole_results(&files), &cuts, newest_first);
            if one_file {
                let all: Vec<Value> = pages
                    .iter()
                    .flat_map(|p| p["MetricDataResults"].as_array().unwrap().clone())
                    .collect();
                out.push(File::json("merged.json", &response(all)));
            } else {
                // Pages saved in reverse, as a person might list them.
                for (n, page) in pages.iter().enumerate().rev() {
                    out.push(File::json(&format!("page-{n}.json"), page));
                }
            }
            out
        });
    }
}

#[test]
fn timestamps_as_epoch_seconds_and_with_z() {
    for (what, form) in [("epoch", 0), ("Z", 1)] {
        each_scenario(what, |_, files| {
            let mut out = without_responses(&files);
            let results: Vec<Value> = whole_results(&files)
                .into_iter()
                .map(|mut r| {
                    let ts: Vec<Value> = r["Timestamps"]
                        .as_array()
                        .unwrap()
                        .iter()
                        .map(|t| {
                            let secs = chrono::DateTime::parse_from_rfc3339(t.as_str().unwrap())
                                .unwrap()
                                .timestamp();
                            match form {
                                0 => json!(secs),
                                _ => json!(chrono::DateTime::from_timestamp(secs, 0)
                                    .unwrap()
                                    .format("%Y-%m-%dT%H:%M:%SZ")
                                    .to_string()),
                            }
                        })
                        .collect();
                    r["Timestamps"] = json!(ts);
                    r
                })
                .collect();
            out.push(File::json("metrics.json", &response(results)));
            out
        });
    }
}

#[test]
fn responses_read_by_label_without_their_request_or_by_id_without_labels() {
    each_scenario("requests removed", |name, files| {
        // Scenarios whose labels are the metric names alone need their
        // request: leave those.
        if name == "volume-iops-limit" {
            return files;
        }
        files
            .into_iter()
            .filter(|f| !f.values().iter().any(is_request))
            .collect()
    });
    each_scenario("labels replaced by CloudWatch's default", |name, files| {
        // Scenarios without a request file keep their labels.
        if !files.iter().any(|f| f.values().iter().any(is_request)) {
            return files;
        }
        let mut out = without_responses(&files);
        let results: Vec<Value> = whole_results(&files)
            .into_iter()
            .map(|mut r| {
                let label = r["Label"].as_str().unwrap_or_default().to_owned();
                let metric = label.split(' ').nth(1).unwrap_or(&label).to_owned();
                r["Label"] = json!(metric);
                r
            })
            .collect();
        out.push(File::json("metrics.json", &response(results)));
        let _ = name;
        out
    });
}

#[test]
fn missing_points_leave_the_cause_unchanged() {
    for name in ebs_scenario_names() {
        let files = scenario(&name);
        let mut out = without_responses(&files);
        let results: Vec<Value> = whole_results(&files)
            .into_iter()
            .map(|mut r| {
                // CloudWatch omits minutes without data: drop one in seven.
                let keep = |i: &usize| i % 7 != 3;
                let ts: Vec<Value> = r["Timestamps"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .enumerate()
                    .filter(|(i, _)| keep(i))
                    .map(|(_, t)| t.clone())
                    .collect();
                let vs: Vec<Value> = r["Values"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .enumerate()
                    .filter(|(i, _)| keep(i))
                    .map(|(_, v)| v.clone())
                    .collect();
                r["Timestamps"] = json!(ts);
                r["Values"] = json!(vs);
                r
            })
            .collect();
        out.push(File::json("metrics.json", &response(results)));
        let (findings, _) = findings_of(&name, &out, &Options::default());
        let got = pinned(&findings);
        let want = ebs_expected(&name);
        for (g, w) in got.as_array().unwrap().iter().zip(want.as_array().unwrap()) {
            for field in ["instance_id", "cause", "volume_ids", "remediation_kind"] {
                assert_eq!(g[field], w[field], "{name}: missing points changed {field}");
            }
            assert_eq!(
                g["limit"]["source"], w["limit"]["source"],
                "{name}: missing points changed the binding ceiling"
            );
        }
    }
}

#[test]
fn queries_in_the_wrong_dimension_form_are_ignored() {
    // A Nitro metric asked with VolumeId alone (CloudWatch returns nothing
    // for it) and a VolumeId metric asked with the InstanceId pair: neither
    // is a series the doctor reads, and the finding is unchanged.
    let mut files = scenario("volume-iops-limit");
    let wrong = json!({"MetricDataQueries": [
        {"Id": "wrong1", "MetricStat": {"Metric": {"Namespace": "AWS/EBS", "MetricName": "VolumeIOPSExceededCheck",
            "Dimensions": [{"Name": "VolumeId", "Value": "vol-0d2e3f4a5b6c7d811"}]}, "Period": 60, "Stat": "Maximum"}},
        {"Id": "wrong2", "MetricStat": {"Metric": {"Namespace": "AWS/EBS", "MetricName": "VolumeReadOps",
            "Dimensions": [{"Name": "InstanceId", "Value": "i-0d2e3f4a5b6c7d801"}, {"Name": "VolumeId", "Value": "vol-0d2e3f4a5b6c7d811"}]}, "Period": 60, "Stat": "Sum"}}
    ], "StartTime": "2026-11-18T09:00:00Z", "EndTime": "2026-11-18T11:00:00Z"});
    files.push(File::json("wrong-request.json", &wrong));
    files.push(File::json(
        "wrong-response.json",
        &response(vec![
            json!({"Id": "wrong1", "Label": "VolumeIOPSExceededCheck", "Timestamps": [], "Values": [], "StatusCode": "Complete"}),
            json!({"Id": "wrong2", "Label": "VolumeReadOps", "Timestamps": ["2026-11-18T09:30:00Z"], "Values": [1e9], "StatusCode": "Complete"}),
        ]),
    ));
    let (findings, evidence) = findings_of("wrong dimensions", &files, &Options::default());
    assert_eq!(pinned(&findings), ebs_expected("volume-iops-limit"));
    assert!(evidence.warnings.is_empty(), "{:?}", evidence.warnings);
}

#[test]
fn five_minute_instance_metrics_beside_one_minute_volume_metrics() {
    // volume-iops-limit with its instance metrics folded into 5-minute
    // totals, as basic monitoring publishes them.
    let files = scenario("volume-iops-limit");
    let mut out = without_responses(&files);
    let results: Vec<Value> = whole_results(&files)
        .into_iter()
        .map(|mut r| {
            // Instance metrics only (the Nitro volume metrics' Ids start
            // with the instance too, then name the volume).
            let id = r["Id"].as_str().unwrap();
            if !id.starts_with('i') || id.contains("_vol") {
                return r;
            }
            let mut buckets: std::collections::BTreeMap<i64, f64> =
                std::collections::BTreeMap::new();
            for (t, v) in r["Timestamps"]
                .as_array()
                .unwrap()
                .iter()
                .zip(r["Values"].as_array().unwrap())
            {
                let secs = chrono::DateTime::parse_from_rfc3339(t.as_str().unwrap())
                    .unwrap()
                    .timestamp();
                let bucket = secs - secs.rem_euclid(300);
                let total = buckets.entry(bucket).or_default();
                let id = r["Id"].as_str().unwrap();
                let v = v.as_f64().unwrap();
                // Checks as Maximum, balances as Minimum, totals as Sum.
                *total = if id.contains("check") {
                    total.max(v)
                } else if id.contains("balance") {
                    if *total == 0.0 {
                        v
                    } else {
                        total.min(v)
                    }
                } else {
                    *total + v
                };
            }
            r["Timestamps"] = json!(buckets
                .keys()
                .map(|s| chrono::DateTime::from_timestamp(*s, 0)
                    .unwrap()
                    .to_rfc3339())
                .collect::<Vec<_>>());
            r["Values"] = json!(buckets.values().collect::<Vec<_>>());
            r
        })
        .collect();
    out.push(File::json("metrics.json", &response(results)));
    let (findings, evidence) = findings_of("5-minute instance metrics", &out, &Options::default());
    assert_eq!(pinned(&findings), ebs_expected("volume-iops-limit"));
    assert!(
        findings[0]
            .evidence
            .iter()
            .any(|e| e.contains("5-minute points, basic monitoring")),
        "{:?}",
        findings[0].evidence
    );
    let _ = evidence;
}

#[test]
fn pages_that_never_said_complete_are_named_in_the_evidence() {
    // not-ebs-bound without its last pages: every result stays PartialData.
    let files = scenario("not-ebs-bound");
    let mut out = without_responses(&files);
    let pages = paged(&whole_results(&files), &[0.5], true);
    out.push(File::json("first-page-only.json", &pages[0]));
    let (findings, evidence) = findings_of("partial", &out, &Options::default());
    assert_eq!(
        findings[0].cause.as_str(),
        "not_ebs_bound",
        "half the window still says it"
    );
    assert!(!evidence.incomplete.is_empty());
    assert!(
        findings[0]
            .evidence
            .iter()
            .any(|e| e.contains("PartialData and no Complete page; points may be missing")),
        "{:?}",
        findings[0].evidence
    );
}

#[test]
fn gzip_reads_like_plain() {
    each_scenario("gzip", |_, files| {
        files
            .into_iter()
            .map(|f| {
                let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
                gz.write_all(&f.bytes).unwrap();
                File {
                    name: format!("{}.gz", f.name),
                    bytes: gz.finish().unwrap(),
                }
            })
            .collect()
    });
}

#[test]
fn a_response_holding_every_scenario_at_once() {
    // One response file for the whole fleet, as one batch of `ebs query`
    // would give, beside every scenario's descriptions.
    let mut files = Vec::new();
    let mut results = Vec::new();
    for name in ebs_scenario_names()
        .into_iter()
        .filter(|n| !n.starts_with("seed-2"))
    {
        let s = scenario(&name);
        files.extend(without_responses(&s).into_iter().map(|mut f| {
            f.name = format!("{name}/{}", f.name);
            f
        }));
        results.extend(whole_results(&s));
    }
    files.push(File::json("fleet.json", &response(results)));
    let (findings, _) = findings_of("fleet", &files, &Options::default());
    let got = pinned(&findings);
    for name in ebs_scenario_names()
        .into_iter()
        .filter(|n| !n.starts_with("seed-2"))
    {
        for want in ebs_expected(&name).as_array().unwrap() {
            let g = got
                .as_array()
                .unwrap()
                .iter()
                .find(|g| g["instance_id"] == want["instance_id"])
                .unwrap();
            assert_eq!(g, want, "{name}: differs in the fleet response");
        }
    }
    let _ = is_response;
}

#[test]
fn a_metric_saved_years_earlier_is_left_out_and_said() {
    // Every scenario with its VolumeQueueLength series (which no rule
    // uses) moved three years back, as if saved from another incident:
    // the instance is examined over the newest 456 days only, so the
    // findings stay the oracle's, and the evidence says what was left out.
    let three_years = chrono::Duration::days(3 * 365);
    for name in ebs_scenario_names() {
        let files = scenario(&name);
        let mut out = without_responses(&files);
        let mut moved = 0;
        let results: Vec<Value> = whole_results(&files)
            .into_iter()
            .map(|mut r| {
                let queue = r["Id"].as_str().unwrap().contains("volumequeuelength")
                    || r["Label"]
                        .as_str()
                        .unwrap_or("")
                        .contains("VolumeQueueLength");
                if queue {
                    moved += 1;
                    let ts: Vec<Value> = r["Timestamps"]
                        .as_array()
                        .unwrap()
                        .iter()
                        .map(|t| {
                            let t = chrono::DateTime::parse_from_rfc3339(t.as_str().unwrap())
                                .unwrap()
                                - three_years;
                            json!(t.to_rfc3339())
                        })
                        .collect();
                    r["Timestamps"] = json!(ts);
                }
                r
            })
            .collect();
        out.push(File::json("metrics.json", &response(results)));
        let (findings, _) = findings_of(&name, &out, &Options::default());
        assert_eq!(
            pinned(&findings),
            ebs_expected(&name),
            "{name}: a series three years back changed the findings\n got: {}",
            serde_json::to_string_pretty(&pinned(&findings)).unwrap()
        );
        if moved > 0 {
            assert!(
                findings.iter().any(|f| f
                    .evidence
                    .iter()
                    .any(|l| l.contains("not examined: more than 456 days before the newest"))),
                "{name}: the evidence does not say that older points were left out"
            );
        }
    }
}
