//! Annotations where incidents are worked: OpsCenter OpsItems (one per
//! group, deduplicated by the group key, updated as it grows, resolved when
//! every instance runs again), Incident Manager timeline events (only when
//! an incident is open for the instance; never required), the
//! `EC2 Start Failure Diagnosed` EventBridge event, and the opt-in instance
//! tag `start-doctor:last-start-failure`.

use aws_sdk_eventbridge::types::PutEventsRequestEntry;
use aws_sdk_ssm::operation::create_ops_item::CreateOpsItemError;
use aws_sdk_ssm::types::{OpsItemDataType, OpsItemDataValue, OpsItemStatus};
use aws_sdk_ssmincidents::types::{
    AttributeValueList, Condition, Filter, ItemIdentifier, ItemType, ItemValue, RelatedItem,
    RelatedItemsUpdate,
};

use start_doctor_core::console;
use start_doctor_core::diagnosis::Diagnosis;
use start_doctor_core::ids::InstanceId;
use start_doctor_core::pipeline::notice::GroupNotice;
use start_doctor_core::ports::{Annotator, ServiceError};

/// The tag set on an instance whose start failed.
pub const FAILURE_TAG: &str = "start-doctor:last-start-failure";
/// The source of the diagnosis event.
pub const EVENT_SOURCE: &str = "start-doctor";
/// The detail-type of the diagnosis event.
pub const EVENT_DETAIL_TYPE: &str = "EC2 Start Failure Diagnosed";

/// Production annotations; each part is optional.
#[derive(Debug)]
pub struct AwsAnnotator {
    /// OpsCenter (`ENABLE_OPSCENTER`).
    pub ssm: Option<aws_sdk_ssm::Client>,
    /// Incident Manager timelines (`ENABLE_INCIDENT_MANAGER`).
    pub incidents: Option<aws_sdk_ssmincidents::Client>,
    /// The diagnosis event and its bus (`DIAGNOSIS_EVENT_BUS`).
    pub events: Option<(aws_sdk_eventbridge::Client, String)>,
    /// Instance tagging (`ENABLE_INSTANCE_TAGGING`).
    pub ec2: Option<aws_sdk_ec2::Client>,
}

fn failed(service: &'static str, message: String) -> ServiceError {
    ServiceError { service, message }
}

/// Maps an SDK error to a [`ServiceError`] with the SDK's full context.
fn sdk<E: std::error::Error + 'static>(service: &'static str) -> impl Fn(E) -> ServiceError {
    move |e| {
        failed(
            service,
            aws_sdk_ssm::error::DisplayErrorContext(&e).to_string(),
        )
    }
}

fn searchable(value: impl Into<String>) -> OpsItemDataValue {
    OpsItemDataValue::builder()
        .value(value)
        .r#type(OpsItemDataType::SearchableString)
        .build()
}

/// Cuts text to `max` characters (OpsCenter limits title and description).
/// The OpsItem dedup string of a group key: its SHA-256 in hex, 64
/// characters whatever the key's length (a cut key would merge every group
/// of one cause in an account, whose keys differ only after 64 characters).
pub fn dedup_string(group_key: &str) -> String {
    use sha2::{Digest, Sha256};
    Sha256::digest(group_key.as_bytes())
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

fn cut(text: &str, max: usize) -> String {
    if text.chars().count() <= max {
        text.to_owned()
    } else {
        text.chars()
            .take(max.saturating_sub(1))
            .chain(['…'])
            .collect()
    }
}

fn instance_arn(d: &Diagnosis, id: &InstanceId) -> Option<String> {
    Some(format!(
        "arn:aws:ec2:{}:{}:instance/{id}",
        d.region.as_deref()?,
        d.account.as_deref()?
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
    cut(
        &format!(
            "{}\n\nInstances ({}): {}\n\nFix:\n{}{policy}",
            d.summary,
            ids.len(),
            ids.join(", "),
            steps.join("\n")
        ),
        2048,
    )
}

fn title(d: &Diagnosis, count: usize) -> String {
    let what = if count > 1 {
        format!("{count} EC2 instances failed to start")
    } else {
        format!("EC2 instance {} failed to start", d.instance_id)
    };
    cut(&format!("{what}: {}", d.cause.title()), 1024)
}

/// The operational data of a group's OpsItem.
fn operational_data(d: &Diagnosis, instances: &[InstanceId]) -> Vec<(String, OpsItemDataValue)> {
    let ids: Vec<&str> = instances.iter().map(InstanceId::as_str).collect();
    let resources: Vec<serde_json::Value> = instances
        .iter()
        .filter_map(|i| instance_arn(d, i))
        .map(|arn| serde_json::json!({ "arn": arn }))
        .collect();
    let mut data = vec![
        (
            "start-doctor:cause".to_owned(),
            searchable(d.cause.as_str()),
        ),
        (
            "start-doctor:instances".to_owned(),
            searchable(cut(&ids.join(","), 4000)),
        ),
        (
            "start-doctor:evidence_event_ids".to_owned(),
            searchable(cut(&d.evidence_event_ids.join(","), 4000)),
        ),
        (
            "/aws/resources".to_owned(),
            searchable(serde_json::Value::Array(resources).to_string()),
        ),
    ];
    if let Some(key) = &d.kms_key_arn {
        data.push(("start-doctor:kms_key".to_owned(), searchable(key.as_str())));
    }
    if let Some(p) = &d.principal_arn {
        data.push(("start-doctor:principal".to_owned(), searchable(p.as_str())));
    }
    data
}

impl AwsAnnotator {
    /// Adds a timeline event (and a link to the OpsItem) to every open
    /// incident that names the instance among its related items.
    async fn annotate_incidents(
        &self,
        client: &aws_sdk_ssmincidents::Client,
        d: &Diagnosis,
        ops_item: Option<&str>,
    ) -> Result<(), ServiceError> {
        let err = |e: String| failed("ssm-incidents", e);
        let open = Filter::builder()
            .key("status")
            .condition(Condition::Equals(AttributeValueList::StringValues(vec![
                "OPEN".to_owned(),
            ])))
            .build()
            .map_err(|e| err(e.to_string()))?;
        let records = client
            .list_incident_records()
            .filters(open)
            .send()
            .await
            .map_err(sdk("ssm-incidents"))?;
        for record in records.incident_record_summaries() {
            let arn = record.arn();
            let items = client
                .list_related_items()
                .incident_record_arn(arn)
                .send()
                .await
                .map_err(sdk("ssm-incidents"))?;
            let names_instance = items
                .related_items()
                .iter()
                .any(|item| format!("{:?}", item.identifier()).contains(d.instance_id.as_str()));
            if !names_instance {
                continue;
            }
            let data = serde_json::json!({
                "source": EVENT_SOURCE,
                "instance_id": d.instance_id,
                "cause": d.cause,
                "summary": d.summary,
                "ops_item": ops_item,
            });
            client
                .create_timeline_event()
                .incident_record_arn(arn)
                .event_time(aws_sdk_ssmincidents::primitives::DateTime::from_secs(
                    d.failed_at.map_or(0, |t| t.timestamp()),
                ))
                .event_type("Custom Event")
                .event_data(data.to_string())
                .send()
                .await
                .map_err(sdk("ssm-incidents"))?;
            if let Some(url) = ops_item.and_then(|id| console::ops_item(d.region.as_deref(), id)) {
                let identifier = ItemIdentifier::builder()
                    .r#type(ItemType::Other)
                    .value(ItemValue::Url(url))
                    .build()
                    .map_err(|e| err(e.to_string()))?;
                let related = RelatedItem::builder()
                    .identifier(identifier)
                    .title("start-doctor OpsItem")
                    .build();
                client
                    .update_related_items()
                    .incident_record_arn(arn)
                    .related_items_update(RelatedItemsUpdate::ItemToAdd(related))
                    .send()
                    .await
                    .map_err(sdk("ssm-incidents"))?;
            }
        }
        Ok(())
    }
}

impl Annotator for AwsAnnotator {
    async fn open_ops_item(
        &self,
        d: &Diagnosis,
        dedup: &str,
    ) -> Result<Option<String>, ServiceError> {
        let Some(ssm) = &self.ssm else {
            return Ok(None);
        };
        let mut request = ssm
            .create_ops_item()
            .source(EVENT_SOURCE)
            .title(title(d, 1))
            .description(description(d, std::slice::from_ref(&d.instance_id)))
            .severity("2")
            .category("Availability")
            .operational_data(
                "/aws/dedup",
                searchable(serde_json::json!({ "dedupString": dedup_string(dedup) }).to_string()),
            );
        for (key, value) in operational_data(d, std::slice::from_ref(&d.instance_id)) {
            request = request.operational_data(key, value);
        }
        match request.send().await {
            Ok(out) => Ok(out.ops_item_id().map(str::to_owned)),
            Err(e) => match e.as_service_error() {
                Some(CreateOpsItemError::OpsItemAlreadyExistsException(exists)) => {
                    Ok(exists.ops_item_id().map(str::to_owned))
                }
                _ => Err(sdk("ssm")(e)),
            },
        }
    }

    async fn update_ops_item(
        &self,
        ops_item: &str,
        group: &GroupNotice,
    ) -> Result<(), ServiceError> {
        let Some(ssm) = &self.ssm else {
            return Ok(());
        };
        let d = &group.diagnosis;
        let mut request = ssm
            .update_ops_item()
            .ops_item_id(ops_item)
            // A member that joins (or fails again) re-opens a resolved item.
            .status(OpsItemStatus::Open)
            .title(title(d, group.instances.len()))
            .description(description(d, &group.instances));
        for (key, value) in operational_data(d, &group.instances) {
            request = request.operational_data(key, value);
        }
        request.send().await.map_err(sdk("ssm"))?;
        Ok(())
    }

    async fn diagnosed(&self, d: &Diagnosis, ops_item: Option<&str>) -> Result<(), ServiceError> {
        if let Some((client, bus)) = &self.events {
            let detail = serde_json::to_string(d).map_err(|e| failed("events", e.to_string()))?;
            let mut entry = PutEventsRequestEntry::builder()
                .source(EVENT_SOURCE)
                .detail_type(EVENT_DETAIL_TYPE)
                .detail(detail)
                .event_bus_name(bus);
            if let Some(arn) = instance_arn(d, &d.instance_id) {
                entry = entry.resources(arn);
            }
            let out = client
                .put_events()
                .entries(entry.build())
                .send()
                .await
                .map_err(sdk("events"))?;
            if out.failed_entry_count() > 0 {
                let why = out
                    .entries()
                    .first()
                    .and_then(|e| e.error_message())
                    .unwrap_or("unknown");
                return Err(failed(
                    "events",
                    format!("PutEvents rejected the diagnosis event: {why}"),
                ));
            }
        }
        if let Some(ec2) = &self.ec2 {
            let when = d
                .failed_at
                .map_or_else(|| "unknown time".to_owned(), |t| t.to_rfc3339());
            let tag = aws_sdk_ec2::types::Tag::builder()
                .key(FAILURE_TAG)
                .value(cut(&format!("{} {when}", d.cause), 256))
                .build();
            ec2.create_tags()
                .resources(d.instance_id.as_str())
                .tags(tag)
                .send()
                .await
                .map_err(sdk("ec2"))?;
        }
        if let Some(incidents) = &self.incidents {
            self.annotate_incidents(incidents, d, ops_item).await?;
        }
        Ok(())
    }

    async fn recovered(
        &self,
        instance: &InstanceId,
        ops_item: Option<&str>,
        group_recovered: bool,
    ) -> Result<(), ServiceError> {
        if let Some(ec2) = &self.ec2 {
            ec2.delete_tags()
                .resources(instance.as_str())
                .tags(aws_sdk_ec2::types::Tag::builder().key(FAILURE_TAG).build())
                .send()
                .await
                .map_err(sdk("ec2"))?;
        }
        if let (Some(ssm), Some(id), true) = (&self.ssm, ops_item, group_recovered) {
            ssm.update_ops_item()
                .ops_item_id(id)
                .status(OpsItemStatus::Resolved)
                .send()
                .await
                .map_err(sdk("ssm"))?;
        }
        Ok(())
    }
}
