//! A finding reads back from its JSON: the live path will store findings
//! as JSON (the engine's `Doctor::Finding` is `Serialize +
//! DeserializeOwned`) and render Slack messages and OpsItems from what it
//! stored. Everything in the contract comes back as it was; only what the
//! contract leaves out (the `Name` tag, the chart) does not.

use serde::Deserialize;
use start_doctor_ebs::finding::Chart;
use start_doctor_ebs::{render, Finding, Options};
use start_doctor_testkit::fixtures::ebs_scenario_names;

use crate::common::{findings_of, scenario};

#[derive(Deserialize)]
struct Report {
    findings: Vec<Finding>,
}

#[test]
fn every_scenario_finding_reads_back_from_its_json() {
    let mut seen = 0;
    for name in ebs_scenario_names() {
        let (findings, _) = findings_of(&name, &scenario(&name), &Options::default());
        let json = render::json::render(&findings);
        let back: Report = serde_json::from_str(&json)
            .unwrap_or_else(|e| panic!("{name}: the JSON does not read back: {e}\n{json}"));
        let expected: Vec<Finding> = findings
            .into_iter()
            .map(|f| Finding {
                name: None,
                chart: Chart::default(),
                ..f
            })
            .collect();
        assert_eq!(back.findings, expected, "{name}");
        assert_eq!(render::json::render(&back.findings), json, "{name}");
        seen += back.findings.len();
    }
    assert!(seen >= 10, "only {seen} findings");
}

#[test]
fn a_finding_from_an_older_contract_without_optional_lists_reads() {
    let json = r#"{"findings": [{
        "instance_id": "i-0123456789abcdef0", "instance_type": null, "account": null,
        "region": null, "cause": "not_ebs_bound", "contributing": [], "volume_ids": [],
        "window": null, "minutes_at_limit": 0,
        "peak_demand": {"iops": null, "throughput_mibps": null},
        "limit": {"source": null, "iops": null, "throughput_mibps": null},
        "read_latency_ms": null, "initialization": null, "evidence": [],
        "summary": "s", "remediation": {"kind": "look_elsewhere", "steps": []}
    }]}"#;
    let back: Report = serde_json::from_str(json).unwrap();
    assert!(back.findings[0].missing.is_empty());
    assert!(back.findings[0].remediation.commands.is_empty());
}
