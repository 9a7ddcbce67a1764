//! The start doctor as the live path's engine sees it: a diagnosis is the
//! finding, its instance the subject, (cause, principal, key) the group,
//! an `internal_error_unexplained` diagnosis is upgraded in place by a
//! conclusive one, and a failure more than the storm window from the one
//! published is a new occurrence.

use chrono::{DateTime, Duration, Utc};
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};
use start_doctor_core::ids::{InstanceId, Origin, VolumeId};
use start_doctor_engine::ports::{Annotation, Announcement, IncidentNote, ResourceTag};
use start_doctor_engine::{Doctor, GroupView};

use crate::diagnosis::{Cause, Diagnosis};
use crate::render::{opsitem, slack};

/// The tag set on an instance whose start failed.
pub const FAILURE_TAG: &str = "start-doctor:last-start-failure";
/// The detail-type of the diagnosis event.
pub const EVENT_DETAIL_TYPE: &str = "EC2 Start Failure Diagnosed";

/// The start doctor's part in the live path.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StartDoctor {
    /// How long a (cause, principal, key) group keeps collecting instances
    /// into one message (`STORM_WINDOW_SECONDS`).
    pub storm_window: Duration,
}

impl Default for StartDoctor {
    fn default() -> Self {
        Self {
            storm_window: Duration::hours(1),
        }
    }
}

/// What a group's instances add up to: their volumes on the key.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Volumes {
    /// The volumes, sorted.
    pub volumes: Vec<VolumeId>,
}

/// The instances of a group's members (subjects are instance ids).
fn instances(members: &[String]) -> Vec<InstanceId> {
    members
        .iter()
        .filter_map(|m| InstanceId::parse(m))
        .collect()
}

impl Doctor for StartDoctor {
    type Finding = Diagnosis;
    type Tally = Volumes;

    fn name(&self) -> &'static str {
        "start"
    }

    fn scope(&self, d: &Diagnosis) -> Origin {
        Origin {
            account: d.account.clone(),
            region: d.region.clone(),
        }
    }

    fn subject(&self, d: &Diagnosis) -> String {
        d.instance_id.to_string()
    }

    fn group(&self, d: &Diagnosis) -> String {
        d.group_key().to_string()
    }

    fn occurred_at(&self, d: &Diagnosis) -> Option<DateTime<Utc>> {
        d.failed_at
    }

    fn window(&self) -> Option<Duration> {
        Some(self.storm_window)
    }

    fn same_occurrence(&self, old: &Diagnosis, new: &Diagnosis) -> bool {
        match (old.failed_at, new.failed_at) {
            (Some(a), Some(b)) => (a - b).abs() < self.storm_window,
            _ => true,
        }
    }

    fn upgrades(&self, old: &Diagnosis, new: &Diagnosis) -> bool {
        old.cause == Cause::InternalErrorUnexplained && new.cause != Cause::InternalErrorUnexplained
    }

    fn tally(&self, tally: &mut Volumes, _old: Option<&Diagnosis>, new: &Diagnosis) {
        tally.volumes.extend(new.volume_ids.iter().cloned());
        tally.volumes.sort();
        tally.volumes.dedup();
    }

    fn message(&self, group: &GroupView<'_, Self>) -> Value {
        slack::group_notice(
            group.finding,
            &instances(group.members),
            &group.tally.volumes,
            group.ops_item,
            group.name_all,
        )
    }

    fn follow_up(&self, group: &GroupView<'_, Self>, members: &[String]) -> Value {
        slack::more_instances(group.finding, &instances(members))
    }

    fn upgraded_reply(&self, d: &Diagnosis) -> Value {
        slack::cause_found_reply(d)
    }

    fn again_reply(&self, d: &Diagnosis) -> Value {
        slack::failed_again_reply(d)
    }

    fn resolved_reply(
        &self,
        group: &GroupView<'_, Self>,
        subjects: &[String],
        since: DateTime<Utc>,
    ) -> Value {
        slack::recovered_reply(&instances(subjects), since, group.all_resolved())
    }

    fn annotation(&self, group: &GroupView<'_, Self>) -> Annotation {
        opsitem::annotation(group.finding, &instances(group.members))
    }

    fn announcement(&self, d: &Diagnosis) -> Announcement {
        let when = d
            .failed_at
            .map_or_else(|| "unknown time".to_owned(), |t| t.to_rfc3339());
        Announcement {
            detail_type: EVENT_DETAIL_TYPE.to_owned(),
            detail: serde_json::to_value(d).unwrap_or(Value::Null),
            resources: opsitem::instance_arn(d, &d.instance_id)
                .into_iter()
                .collect(),
            tag: Some(ResourceTag {
                resource_id: d.instance_id.to_string(),
                key: FAILURE_TAG.to_owned(),
                value: format!("{} {when}", d.cause),
            }),
            incident: Some(IncidentNote {
                resource_id: d.instance_id.to_string(),
                time: d.failed_at,
                data: json!({
                    "source": "start-doctor",
                    "instance_id": d.instance_id,
                    "cause": d.cause,
                    "summary": d.summary,
                }),
            }),
        }
    }

    fn cleared_tag(&self, d: &Diagnosis) -> Option<ResourceTag> {
        Some(ResourceTag {
            resource_id: d.instance_id.to_string(),
            key: FAILURE_TAG.to_owned(),
            value: String::new(),
        })
    }
}
