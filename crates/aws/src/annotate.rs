//! Annotations where incidents are worked, as the doctors write them:
//! OpsCenter OpsItems (one per group, deduplicated by the SHA-256 of the
//! group key, updated as it grows, resolved when every member clears),
//! Incident Manager timeline events (only when an open incident lists the
//! resource; never required), the diagnosis event on EventBridge, and the
//! opt-in resource tag. This module puts them there and cuts them to
//! AWS's limits; what they say is the doctor's (`Doctor::annotation`,
//! `Doctor::announcement`).

use aws_sdk_eventbridge::types::PutEventsRequestEntry;
use aws_sdk_ssm::operation::create_ops_item::CreateOpsItemError;
use aws_sdk_ssm::types::{OpsItemDataType, OpsItemDataValue, OpsItemStatus};
use aws_sdk_ssmincidents::types::{
    AttributeValueList, Condition, Filter, ItemIdentifier, ItemType, ItemValue, RelatedItem,
    RelatedItemsUpdate,
};

use start_doctor_core::console;
use start_doctor_core::ids::Region;
use start_doctor_engine::engine::sha256_hex;
use start_doctor_engine::ports::{
    Annotation, Annotator, Announcement, IncidentNote, ResourceTag, ServiceError,
};

/// The source of every diagnosis event.
pub const EVENT_SOURCE: &str = "start-doctor";
/// OpsCenter's limit on an OpsItem title.
const TITLE_MAX: usize = 1024;
/// OpsCenter's limit on an OpsItem description.
const DESCRIPTION_MAX: usize = 2048;
/// OpsCenter's limit on one operational data value.
const DATA_VALUE_MAX: usize = 4000;
/// EC2's limit on a tag value.
const TAG_VALUE_MAX: usize = 256;

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

/// The OpsItem dedup string of a group key: its SHA-256 in hex, 64
/// characters whatever the key's length (a cut key would merge every group
/// of one cause in an account, whose keys differ only after 64 characters).
pub fn dedup_string(group_key: &str) -> String {
    sha256_hex(group_key)
}

/// Cuts text to `max` characters (AWS limits titles, descriptions, values).
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

/// The operational data of an OpsItem: the doctor's, each value cut to
/// OpsCenter's limit, and `/aws/resources` from its ARNs.
fn operational_data(annotation: &Annotation) -> Vec<(String, OpsItemDataValue)> {
    let resources: Vec<serde_json::Value> = annotation
        .resources
        .iter()
        .map(|arn| serde_json::json!({ "arn": arn }))
        .collect();
    annotation
        .operational_data
        .iter()
        .map(|(key, value)| (key.clone(), searchable(cut(value, DATA_VALUE_MAX))))
        .chain([(
            "/aws/resources".to_owned(),
            searchable(cut(
                &serde_json::Value::Array(resources).to_string(),
                DATA_VALUE_MAX,
            )),
        )])
        .collect()
}

/// The Region named in an ARN (`arn:<partition>:<service>:<region>:...`).
fn region_of_arn(arn: &str) -> Option<Region> {
    arn.split(':').nth(3).and_then(Region::parse)
}

impl AwsAnnotator {
    /// Adds a timeline event (and a link to the OpsItem) to every open
    /// incident that names the resource among its related items.
    async fn annotate_incidents(
        &self,
        client: &aws_sdk_ssmincidents::Client,
        note: &IncidentNote,
        region: Option<&Region>,
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
            let names_resource = items
                .related_items()
                .iter()
                .any(|item| format!("{:?}", item.identifier()).contains(note.resource_id.as_str()));
            if !names_resource {
                continue;
            }
            let mut data = note.data.clone();
            if let Some(object) = data.as_object_mut() {
                object.insert("ops_item".into(), ops_item.into());
            }
            client
                .create_timeline_event()
                .incident_record_arn(arn)
                .event_time(aws_sdk_ssmincidents::primitives::DateTime::from_secs(
                    note.time.map_or(0, |t| t.timestamp()),
                ))
                .event_type("Custom Event")
                .event_data(data.to_string())
                .send()
                .await
                .map_err(sdk("ssm-incidents"))?;
            if let Some(url) = ops_item.and_then(|id| console::ops_item(region, id)) {
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
    async fn open(
        &self,
        annotation: &Annotation,
        dedup: &str,
    ) -> Result<Option<String>, ServiceError> {
        let Some(ssm) = &self.ssm else {
            return Ok(None);
        };
        let mut request = ssm
            .create_ops_item()
            .source(EVENT_SOURCE)
            .title(cut(&annotation.title, TITLE_MAX))
            .description(cut(&annotation.description, DESCRIPTION_MAX))
            .severity(annotation.severity.to_string())
            .category(&annotation.category)
            .operational_data(
                "/aws/dedup",
                searchable(serde_json::json!({ "dedupString": dedup_string(dedup) }).to_string()),
            );
        for (key, value) in operational_data(annotation) {
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

    async fn update(&self, ops_item: &str, annotation: &Annotation) -> Result<(), ServiceError> {
        let Some(ssm) = &self.ssm else {
            return Ok(());
        };
        let mut request = ssm
            .update_ops_item()
            .ops_item_id(ops_item)
            // A member that joins (or comes back) re-opens a resolved item.
            .status(OpsItemStatus::Open)
            .title(cut(&annotation.title, TITLE_MAX))
            .description(cut(&annotation.description, DESCRIPTION_MAX));
        for (key, value) in operational_data(annotation) {
            request = request.operational_data(key, value);
        }
        request.send().await.map_err(sdk("ssm"))?;
        Ok(())
    }

    async fn resolve(&self, ops_item: &str) -> Result<(), ServiceError> {
        let Some(ssm) = &self.ssm else {
            return Ok(());
        };
        ssm.update_ops_item()
            .ops_item_id(ops_item)
            .status(OpsItemStatus::Resolved)
            .send()
            .await
            .map_err(sdk("ssm"))?;
        Ok(())
    }

    async fn announce(&self, a: &Announcement, ops_item: Option<&str>) -> Result<(), ServiceError> {
        if let Some((client, bus)) = &self.events {
            let mut entry = PutEventsRequestEntry::builder()
                .source(EVENT_SOURCE)
                .detail_type(&a.detail_type)
                .detail(a.detail.to_string())
                .event_bus_name(bus);
            for arn in &a.resources {
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
        if let (Some(ec2), Some(tag)) = (&self.ec2, &a.tag) {
            let aws_tag = aws_sdk_ec2::types::Tag::builder()
                .key(&tag.key)
                .value(cut(&tag.value, TAG_VALUE_MAX))
                .build();
            ec2.create_tags()
                .resources(&tag.resource_id)
                .tags(aws_tag)
                .send()
                .await
                .map_err(sdk("ec2"))?;
        }
        if let (Some(incidents), Some(note)) = (&self.incidents, &a.incident) {
            let region = a.resources.first().and_then(|arn| region_of_arn(arn));
            self.annotate_incidents(incidents, note, region.as_ref(), ops_item)
                .await?;
        }
        Ok(())
    }

    async fn withdraw(&self, tag: &ResourceTag) -> Result<(), ServiceError> {
        if let Some(ec2) = &self.ec2 {
            ec2.delete_tags()
                .resources(&tag.resource_id)
                .tags(aws_sdk_ec2::types::Tag::builder().key(&tag.key).build())
                .send()
                .await
                .map_err(sdk("ec2"))?;
        }
        Ok(())
    }
}
