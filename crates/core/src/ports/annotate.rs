//! The [`Annotator`] port: where incidents are worked besides Slack.

use std::future::Future;

use super::ServiceError;
use crate::diagnosis::Diagnosis;
use crate::ids::InstanceId;
use crate::pipeline::notice::GroupNotice;

/// Records diagnoses where incidents are worked, besides Slack: OpsCenter
/// OpsItems, Incident Manager timelines, the `EC2 Start Failure Diagnosed`
/// event and the instance tag in production ([`NoAnnotator`] when off).
pub trait Annotator: Send + Sync {
    /// The OpsItem of the group `dedup` (created on first use, found again
    /// by its dedup string afterwards). `None` when OpsCenter is off.
    fn open_ops_item(
        &self,
        diagnosis: &Diagnosis,
        dedup: &str,
    ) -> impl Future<Output = Result<Option<String>, ServiceError>> + Send;

    /// Brings the OpsItem up to date with the group (its instances, a
    /// better diagnosis).
    fn update_ops_item(
        &self,
        ops_item: &str,
        group: &GroupNotice,
    ) -> impl Future<Output = Result<(), ServiceError>> + Send;

    /// Announces one instance's diagnosis: the diagnosis event, the
    /// instance tag, a timeline event on an open incident.
    fn diagnosed(
        &self,
        diagnosis: &Diagnosis,
        ops_item: Option<&str>,
    ) -> impl Future<Output = Result<(), ServiceError>> + Send;

    /// The instance started again: clears its tag, and resolves the OpsItem
    /// when every instance of the group has.
    fn recovered(
        &self,
        instance: &InstanceId,
        ops_item: Option<&str>,
        group_recovered: bool,
    ) -> impl Future<Output = Result<(), ServiceError>> + Send;
}

/// An [`Annotator`] that records nothing (Slack only).
#[derive(Clone, Copy, Debug, Default)]
pub struct NoAnnotator;

impl Annotator for NoAnnotator {
    async fn open_ops_item(&self, _: &Diagnosis, _: &str) -> Result<Option<String>, ServiceError> {
        Ok(None)
    }

    async fn update_ops_item(&self, _: &str, _: &GroupNotice) -> Result<(), ServiceError> {
        Ok(())
    }

    async fn diagnosed(&self, _: &Diagnosis, _: Option<&str>) -> Result<(), ServiceError> {
        Ok(())
    }

    async fn recovered(
        &self,
        _: &InstanceId,
        _: Option<&str>,
        _: bool,
    ) -> Result<(), ServiceError> {
        Ok(())
    }
}
