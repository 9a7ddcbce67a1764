//! The scenarios of `events/flows/` through the library.

use start_doctor_flows::finding::{AzVerdict, Cause, ControlKind, RemediationKind};
use start_doctor_flows::render::text::{render, Extra};
use start_doctor_flows::Options;

use crate::support::diagnose_scenario;

#[test]
fn seed_story_names_the_attachment_subnets_rule_and_the_az_it_drops_in() {
    let report = diagnose_scenario("seed-story", &Options::default());
    assert_eq!(
        report.findings.len(),
        2,
        "one finding per on-premises client"
    );
    for f in &report.findings {
        assert_eq!(f.cause, Cause::TgwEntryAzNacl, "seed-story: {f:#?}");
        let control = f.control.as_ref().expect("a control");
        assert_eq!(control.kind, ControlKind::NetworkAcl);
        assert_eq!(control.id.as_deref(), Some("acl-0a1b2c3d4e5f6a00c"));
        assert_eq!(
            (control.rule_number, control.egress),
            (Some(100), Some(true))
        );
        let verdicts: Vec<(&str, AzVerdict)> = f
            .entry_azs
            .iter()
            .map(|a| (a.az_id.as_str(), a.verdict))
            .collect();
        assert_eq!(
            verdicts,
            vec![("euw1-az1", AzVerdict::Pass), ("euw1-az3", AzVerdict::Fail)]
        );
        assert!(f.intermittent && f.accepted_records > 0);
        assert_eq!(f.remediation.kind, RemediationKind::TgwSubnetLayout);
        assert_eq!(
            f.remediation.commands[0],
            "aws ec2 create-network-acl-entry --network-acl-id acl-0a1b2c3d4e5f6a00c --egress --rule-number 90 --protocol tcp --port-range From=5432,To=5432 --cidr-block 10.1.1.0/24 --rule-action allow --region eu-west-1"
        );
    }
    let text = render(&report, Extra::default());
    assert!(
        text.contains("2 rejected conversations in 1 group"),
        "{text}"
    );
}
