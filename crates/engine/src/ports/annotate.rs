//! The [`Annotator`] port: where incidents are worked besides Slack
//! (OpsCenter OpsItems, the diagnosis event, a resource tag, an incident
//! timeline). Annotations arrive written: the doctor says what they say,
//! the annotator only puts them where they go.

use std::future::Future;

use chrono::{DateTime, Utc};
use serde_json::Value;

use super::ServiceError;

/// The OpsItem of a group, as the doctor writes it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Annotation {
    /// The title (OpsCenter allows 1024 characters; cut by the adapter).
    pub title: String,
    /// The description with the finding and its fix (2048 characters).
    pub description: String,
    /// Searchable operational data, `start-doctor:<name>` = value.
    pub operational_data: Vec<(String, String)>,
    /// ARNs of the resources concerned (`/aws/resources`).
    pub resources: Vec<String>,
    /// OpsItem severity, 1 (critical) to 4.
    pub severity: u8,
    /// OpsItem category (`Availability`, `Performance`, `Security`, ...).
    pub category: String,
}

/// A tag set on a resource while a finding lasts.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ResourceTag {
    /// The resource id (`i-...`).
    pub resource_id: String,
    /// The tag key.
    pub key: String,
    /// The tag value.
    pub value: String,
}

/// A note on the timeline of an open incident that lists the resource.
#[derive(Clone, Debug, PartialEq)]
pub struct IncidentNote {
    /// The resource an incident's related items must name.
    pub resource_id: String,
    /// When it happened.
    pub time: Option<DateTime<Utc>>,
    /// The event data.
    pub data: Value,
}

/// What one finding announces, as the doctor writes it.
#[derive(Clone, Debug, PartialEq)]
pub struct Announcement {
    /// The EventBridge detail-type of the diagnosis event.
    pub detail_type: String,
    /// Its detail: the finding in the doctor's JSON contract.
    pub detail: Value,
    /// The ARNs the event is about.
    pub resources: Vec<String>,
    /// A tag to set on the resource (when tagging is on).
    pub tag: Option<ResourceTag>,
    /// A note for an open incident naming the resource (when on).
    pub incident: Option<IncidentNote>,
}

/// Puts annotations where incidents are worked ([`NoAnnotator`] when all
/// are off).
pub trait Annotator: Send + Sync {
    /// The OpsItem of a group (created on first use, found again by its
    /// dedup string afterwards). `None` when OpsCenter is off.
    fn open(
        &self,
        annotation: &Annotation,
        dedup: &str,
    ) -> impl Future<Output = Result<Option<String>, ServiceError>> + Send;

    /// Brings the OpsItem up to date (and open again, if it was resolved).
    fn update(
        &self,
        ops_item: &str,
        annotation: &Annotation,
    ) -> impl Future<Output = Result<(), ServiceError>> + Send;

    /// Resolves the OpsItem.
    fn resolve(&self, ops_item: &str) -> impl Future<Output = Result<(), ServiceError>> + Send;

    /// Announces one finding: the diagnosis event, the resource tag, the
    /// incident note.
    fn announce(
        &self,
        announcement: &Announcement,
        ops_item: Option<&str>,
    ) -> impl Future<Output = Result<(), ServiceError>> + Send;

    /// Takes a finding's tag off its resource again.
    fn withdraw(&self, tag: &ResourceTag) -> impl Future<Output = Result<(), ServiceError>> + Send;
}

/// An [`Annotator`] that records nothing (Slack only).
#[derive(Clone, Copy, Debug, Default)]
pub struct NoAnnotator;

impl Annotator for NoAnnotator {
    async fn open(&self, _: &Annotation, _: &str) -> Result<Option<String>, ServiceError> {
        Ok(None)
    }

    async fn update(&self, _: &str, _: &Annotation) -> Result<(), ServiceError> {
        Ok(())
    }

    async fn resolve(&self, _: &str) -> Result<(), ServiceError> {
        Ok(())
    }

    async fn announce(&self, _: &Announcement, _: Option<&str>) -> Result<(), ServiceError> {
        Ok(())
    }

    async fn withdraw(&self, _: &ResourceTag) -> Result<(), ServiceError> {
        Ok(())
    }
}
