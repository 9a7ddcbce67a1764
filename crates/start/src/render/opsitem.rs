//! The OpsCenter OpsItem of a group of failed starts, as people read it in
//! Systems Manager: the title, the description with the cause and the fix,
//! and searchable operational data naming the instances, key, principal and
//! evidence. The annotator only puts it there.

use start_doctor_core::ids::InstanceId;
use start_doctor_engine::ports::Annotation;

use crate::diagnosis::Diagnosis;

/// The ARN of an instance of the diagnosis' account and Region.
pub fn instance_arn(d: &Diagnosis, id: &InstanceId) -> Option<String> {
    let region = d.region.as_ref()?;
    Some(format!(
        "arn:{}:ec2:{region}:{}:instance/{id}",
        region.partition(),
        d.account.as_ref()?
    ))
}

fn description(d: &Diagnosis, instances: &[InstanceId]) -> String {
    let steps: Vec<String> = d
        .remediation
        .steps
        .iter()
        .enumerate()
        .map(|(n, s)| format!("{}. {s}", n + 1))
        .collect();
    let policy = d
        .remediation
        .policy
        .as_ref()
        .map(|p| {
            format!(
                "\n\nPolicy:\n{}",
                serde_json::to_string_pretty(p).unwrap_or_default()
            )
        })
        .unwrap_or_default();
    let ids: Vec<&str> = instances.iter().map(InstanceId::as_str).collect();
    format!(
        "{}\n\nInstances ({}): {}\n\nFix:\n{}{policy}",
        d.summary,
        ids.len(),
        ids.join(", "),
        steps.join("\n")
    )
}

fn title(d: &Diagnosis, count: usize) -> String {
    let what = if count > 1 {
        format!("{count} EC2 instances failed to start")
    } else {
        format!("EC2 instance {} failed to start", d.instance_id)
    };
    format!("{what}: {}", d.cause.title())
}

/// The OpsItem of a group shown by `d` with `instances`.
pub fn annotation(d: &Diagnosis, instances: &[InstanceId]) -> Annotation {
    let ids: Vec<&str> = instances.iter().map(InstanceId::as_str).collect();
    let resources: Vec<String> = instances
        .iter()
        .filter_map(|i| instance_arn(d, i))
        .collect();
    let mut data = vec![
        ("start-doctor:cause".to_owned(), d.cause.as_str().to_owned()),
        ("start-doctor:instances".to_owned(), ids.join(",")),
        (
            "start-doctor:evidence_event_ids".to_owned(),
            d.evidence_event_ids.join(","),
        ),
    ];
    if let Some(key) = &d.kms_key_arn {
        data.push(("start-doctor:kms_key".to_owned(), key.as_str().to_owned()));
    }
    if let Some(p) = &d.principal_arn {
        data.push(("start-doctor:principal".to_owned(), p.as_str().to_owned()));
    }
    Annotation {
        title: title(d, instances.len().max(1)),
        description: description(d, instances),
        operational_data: data,
        resources,
        severity: 2,
        category: "Availability".to_owned(),
    }
}
