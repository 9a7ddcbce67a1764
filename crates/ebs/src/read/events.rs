//! EventBridge events: `EBS Volume Notification` (`initializeVolume`,
//! `result: succeeded`, when a volume created from a snapshot finished
//! initializing; EBS User Guide, "EventBridge for Amazon EBS") and
//! `CloudWatch Alarm State Change` (an alarm on the EBS metrics, e.g. the
//! fleet's Metrics Insights alarm on the `*ExceededCheck` metrics). Every
//! other detail type is unrelated and ignored.

use chrono::{DateTime, Utc};
use serde::Deserialize;
use serde_json::value::RawValue;

use super::{Document, Problem};
use crate::ids::{InstanceId, VolumeId};
use crate::model::Alarm;

/// `detail-type` of EBS volume events.
pub const EBS_VOLUME_NOTIFICATION: &str = "EBS Volume Notification";
/// `detail-type` of alarm state changes.
pub const ALARM_STATE_CHANGE: &str = "CloudWatch Alarm State Change";

fn text(fields: &[(String, &RawValue)], name: &str) -> Option<String> {
    let raw = fields.iter().find(|(k, _)| k == name)?.1;
    serde_json::from_str::<Option<String>>(raw.get())
        .ok()
        .flatten()
}

fn time(text: Option<&str>) -> Option<DateTime<Utc>> {
    text.and_then(|t| DateTime::parse_from_rfc3339(t).ok())
        .map(|t| t.with_timezone(&Utc))
}

/// Reads an EventBridge event given as its top-level fields.
pub(super) fn read_event(fields: &[(String, &RawValue)], doc: &mut Document) {
    let Some(detail) = fields.iter().find(|(k, _)| k == "detail").map(|(_, v)| *v) else {
        return;
    };
    let id = text(fields, "id").unwrap_or_default();
    let result = match text(fields, "detail-type").as_deref() {
        Some(EBS_VOLUME_NOTIFICATION) => volume_notification(fields, detail, doc),
        Some(ALARM_STATE_CHANGE) => alarm(fields, detail, doc),
        _ => Ok(()),
    };
    if let Err(message) = result {
        doc.problems
            .push(Problem::new(format!("event {id}: {message}")));
    }
}

#[derive(Deserialize)]
struct VolumeDetail {
    #[serde(default)]
    event: Option<String>,
    #[serde(default)]
    result: Option<String>,
}

fn volume_notification(
    fields: &[(String, &RawValue)],
    detail: &RawValue,
    doc: &mut Document,
) -> Result<(), String> {
    let detail: VolumeDetail = serde_json::from_str(detail.get()).map_err(|e| e.to_string())?;
    if detail.event.as_deref() != Some("initializeVolume")
        || detail.result.as_deref() != Some("succeeded")
    {
        return Ok(());
    }
    let when =
        time(text(fields, "time").as_deref()).ok_or("initializeVolume event without a time")?;
    // The volume is named in `resources` by its ARN
    // (arn:aws:ec2:<region>:<account>:volume/vol-...).
    let resources: Vec<String> = fields
        .iter()
        .find(|(k, _)| k == "resources")
        .and_then(|(_, raw)| serde_json::from_str(raw.get()).ok())
        .unwrap_or_default();
    let volumes: Vec<VolumeId> = resources
        .iter()
        .filter_map(|arn| {
            arn.rsplit_once(":volume/")
                .and_then(|(_, id)| VolumeId::parse(id))
        })
        .collect();
    if volumes.is_empty() {
        return Err("initializeVolume event names no volume in resources".into());
    }
    doc.initialized
        .extend(volumes.into_iter().map(|v| (v, when)));
    Ok(())
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct AlarmDetail {
    alarm_name: String,
    state: AlarmState,
    #[serde(default)]
    configuration: Option<AlarmConfiguration>,
}

#[derive(Deserialize)]
struct AlarmState {
    value: String,
    #[serde(default)]
    timestamp: Option<String>,
}

#[derive(Deserialize)]
struct AlarmConfiguration {
    #[serde(default)]
    metrics: Vec<AlarmMetric>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct AlarmMetric {
    #[serde(default)]
    metric_stat: Option<AlarmMetricStat>,
}

#[derive(Deserialize)]
struct AlarmMetricStat {
    metric: AlarmMetricName,
}

#[derive(Deserialize)]
struct AlarmMetricName {
    #[serde(default)]
    name: Option<String>,
    #[serde(default)]
    dimensions: std::collections::BTreeMap<String, String>,
}

fn alarm(
    fields: &[(String, &RawValue)],
    detail: &RawValue,
    doc: &mut Document,
) -> Result<(), String> {
    let detail: AlarmDetail = serde_json::from_str(detail.get()).map_err(|e| e.to_string())?;
    let when = time(detail.state.timestamp.as_deref())
        .or_else(|| time(text(fields, "time").as_deref()))
        .ok_or("alarm event without a time")?;
    let stats: Vec<AlarmMetricName> = detail
        .configuration
        .map(|c| {
            c.metrics
                .into_iter()
                .filter_map(|m| Some(m.metric_stat?.metric))
                .collect()
        })
        .unwrap_or_default();
    let mut instances: Vec<InstanceId> = stats
        .iter()
        .filter_map(|m| {
            m.dimensions
                .get("InstanceId")
                .and_then(|i| InstanceId::parse(i))
        })
        .collect();
    let mut volumes: Vec<VolumeId> = stats
        .iter()
        .filter_map(|m| {
            m.dimensions
                .get("VolumeId")
                .and_then(|v| VolumeId::parse(v))
        })
        .collect();
    instances.sort();
    instances.dedup();
    volumes.sort();
    volumes.dedup();
    doc.alarms.push(Alarm {
        name: detail.alarm_name,
        state: detail.state.value,
        time: when,
        metrics: stats.into_iter().filter_map(|m| m.name).collect(),
        instances,
        volumes,
    });
    Ok(())
}
