//! Publishing diagnoses: one Slack message per (cause, principal, key)
//! group within the storm window, updated as the group grows, and one
//! record per instance so that redeliveries post nothing and stronger late
//! evidence updates what was posted instead of posting again.
//!
//! Records (JSON bodies in the store's versioned records):
//! - `notice#group#<cause>#<principal>#<key>`: the group's message, its
//!   instances and a representative diagnosis;
//! - `notice#instance#<id>`: which group the instance was published in.
//!
//! Creating a group record is the claim to post its message: of two racing
//! invocations exactly one creates it and posts; the other adds its instance
//! with a versioned update, and whoever holds the message reference last
//! re-renders it with every instance.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::{PipelineError, Settings};
use crate::diagnosis::{Cause, Diagnosis};
use crate::ids::{InstanceId, VolumeId};
use crate::ports::notify::{MessageRef, Notifier};
use crate::ports::store::{Record, Store, StoreError};
use crate::ports::{Annotator, ServiceError};
use crate::render::slack;

/// How often a versioned write is retried against concurrent writers.
const MAX_ATTEMPTS: usize = 8;

/// A group's message and members.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct GroupNotice {
    /// When the group's window opened.
    pub window_start: DateTime<Utc>,
    /// The posted message (`None` before it is posted, or for webhooks).
    pub message: Option<MessageRef>,
    /// The instances, sorted.
    pub instances: Vec<InstanceId>,
    /// Their volumes on the key, sorted.
    pub volumes: Vec<VolumeId>,
    /// The first diagnosis of the group, which the message shows.
    pub diagnosis: Diagnosis,
    /// The group's OpsItem, when OpsCenter is on.
    #[serde(default)]
    pub ops_item: Option<String>,
    /// Instances of the group that have started fine since.
    #[serde(default)]
    pub recovered: Vec<InstanceId>,
}

/// Where an instance was published.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct InstanceNotice {
    /// The group record key.
    pub group: String,
    /// The cause published.
    pub cause: Cause,
    /// The group's message, when known.
    pub message: Option<MessageRef>,
    /// When the published failure happened.
    #[serde(default)]
    pub failed_at: Option<DateTime<Utc>>,
    /// The instance has started fine since.
    #[serde(default)]
    pub recovered: bool,
}

/// The record key of a diagnosis' group.
pub fn group_key(d: &Diagnosis) -> String {
    let principal = d.principal_arn.as_ref().map_or("-", |p| p.as_str());
    let key = d.kms_key_arn.as_ref().map_or("-", |k| k.key_id());
    format!("notice#group#{}#{principal}#{key}", d.cause)
}

/// The record key of an instance's notice.
pub fn instance_key(id: &InstanceId) -> String {
    format!("notice#instance#{id}")
}

fn parse<T: for<'de> Deserialize<'de>>(key: &str, record: &Record) -> Result<T, StoreError> {
    serde_json::from_str(&record.body).map_err(|e| StoreError::Corrupt {
        key: key.to_owned(),
        message: e.to_string(),
    })
}

fn body<T: Serialize>(value: &T) -> String {
    // Plain data with string keys always serialises.
    serde_json::to_string(value).unwrap_or_default()
}

/// What [`update_record`] did.
enum Updated<T> {
    /// There is no record at the key.
    Missing,
    /// The change declined to write; the record as read.
    Unchanged(T),
    /// The change was written; the record as written.
    Written(T),
}

/// The one optimistic read-modify-write loop: reads the record at `key`,
/// lets `change` edit it (returning `false` to leave it as it is) and
/// writes it back only if nobody wrote in between, retrying against
/// concurrent writers up to [`MAX_ATTEMPTS`] times.
async fn update_record<S, T, F>(
    store: &S,
    key: &str,
    mut change: F,
) -> Result<Updated<T>, PipelineError>
where
    S: Store,
    T: Serialize + for<'de> Deserialize<'de>,
    F: FnMut(&mut T) -> bool,
{
    for _ in 0..MAX_ATTEMPTS {
        let Some(record) = store.record(key).await? else {
            return Ok(Updated::Missing);
        };
        let mut value: T = parse(key, &record)?;
        if !change(&mut value) {
            return Ok(Updated::Unchanged(value));
        }
        if store
            .put_record(key, &body(&value), Some(record.version))
            .await?
        {
            return Ok(Updated::Written(value));
        }
    }
    Err(PipelineError::Contention(key.to_owned()))
}

/// The Slack message of a group, linking its OpsItem when there is one.
pub fn render(group: &GroupNotice) -> serde_json::Value {
    slack::group_notice(
        &group.diagnosis,
        &group.instances,
        &group.volumes,
        group.ops_item.as_deref(),
    )
}

/// Publishes `diagnosis`: adds it to its group's message (posting or
/// updating) and its OpsItem, announces it (diagnosis event, tag, incident
/// timeline), unless the instance was already published for this failure.
/// An `internal_error_unexplained` notice is upgraded in place by a
/// conclusive cause; a conclusive one is never downgraded. A failure after
/// the instance recovered is a new failure.
pub async fn publish<S: Store, N: Notifier, A: Annotator>(
    store: &S,
    notifier: &N,
    annotator: &A,
    settings: &Settings,
    diagnosis: Diagnosis,
    now: DateTime<Utc>,
) -> Result<(), PipelineError> {
    let ikey = instance_key(&diagnosis.instance_id);
    let existing = store.record(&ikey).await?;
    let previous: Option<(InstanceNotice, u64)> = match &existing {
        Some(r) => Some((parse(&ikey, r)?, r.version)),
        None => None,
    };
    let mut reuse = None;
    if let Some((notice, _)) = &previous {
        let same_failure = !notice.recovered
            && match (notice.failed_at, diagnosis.failed_at) {
                (Some(a), Some(b)) => (a - b).abs() < settings.storm_window,
                _ => true,
            };
        if same_failure {
            let upgrade = notice.cause == Cause::InternalErrorUnexplained
                && diagnosis.cause != Cause::InternalErrorUnexplained;
            if !upgrade {
                return Ok(());
            }
            // An unexplained notice alone in its message: reuse that message.
            reuse = leave_group(
                store,
                notifier,
                annotator,
                &notice.group,
                &diagnosis.instance_id,
            )
            .await?;
        }
    }

    let gkey = group_key(&diagnosis);
    let ops_item = annotator
        .open_ops_item(&diagnosis, &gkey)
        .await
        .unwrap_or_else(|e| {
            annotation_failed(&e);
            None
        });
    let joining = Joining {
        gkey: &gkey,
        diagnosis: &diagnosis,
        reuse,
        ops_item,
        now,
        storm_window: settings.storm_window,
    };
    let joined = join_group(store, notifier, joining).await?;
    if let (Some(id), Some(group)) = (joined.group.ops_item.as_deref(), &joined.grown) {
        if let Err(e) = annotator.update_ops_item(id, group).await {
            annotation_failed(&e);
        }
    }
    if let Err(e) = annotator
        .diagnosed(&diagnosis, joined.group.ops_item.as_deref())
        .await
    {
        annotation_failed(&e);
    }

    let notice = InstanceNotice {
        group: gkey,
        cause: diagnosis.cause,
        message: joined.group.message.clone(),
        failed_at: diagnosis.failed_at,
        recovered: false,
    };
    // When another invocation published this instance at the same moment
    // the write loses; the group already lists the instance either way.
    store
        .put_record(&ikey, &body(&notice), previous.as_ref().map(|(_, v)| *v))
        .await?;
    Ok(())
}

/// Annotations are best effort: Slack has the diagnosis either way.
fn annotation_failed(e: &ServiceError) {
    super::log_service_error(e, "annotation failed");
}

/// Marks `instance` as running again since `since`: resolves its part of
/// the group, replies in the group's thread, and lets the annotator clear
/// the tag and resolve the OpsItem once the whole group runs. Returns
/// whether there was a failure to resolve.
pub async fn recover<S: Store, N: Notifier, A: Annotator>(
    store: &S,
    notifier: &N,
    annotator: &A,
    instance: &InstanceId,
    since: DateTime<Utc>,
) -> Result<bool, PipelineError> {
    let ikey = instance_key(instance);
    let Some(record) = store.record(&ikey).await? else {
        return Ok(false);
    };
    let mut notice: InstanceNotice = parse(&ikey, &record)?;
    if notice.recovered || notice.failed_at.is_some_and(|f| since <= f) {
        return Ok(false);
    }
    notice.recovered = true;
    if !store
        .put_record(&ikey, &body(&notice), Some(record.version))
        .await?
    {
        return Ok(false);
    }
    let group_state = match update_record(store, &notice.group, |group: &mut GroupNotice| {
        if !group.recovered.contains(instance) {
            group.recovered.push(instance.clone());
            group.recovered.sort();
        }
        true
    })
    .await?
    {
        Updated::Written(group) | Updated::Unchanged(group) => Some(group),
        Updated::Missing => None,
    };
    let ops_item = group_state.as_ref().and_then(|g| g.ops_item.clone());
    let all = group_state
        .as_ref()
        .is_some_and(|g| g.instances.iter().all(|i| g.recovered.contains(i)));
    if let Err(e) = annotator
        .recovered(instance, ops_item.as_deref(), all)
        .await
    {
        annotation_failed(&e);
    }
    if let Some(at) = group_state
        .as_ref()
        .and_then(|g| g.message.as_ref())
        .or(notice.message.as_ref())
    {
        notifier
            .reply(at, &slack::recovered_reply(instance, since, all))
            .await?;
    }
    Ok(true)
}

/// Removes `instance` from the group at `gkey`. Returns the group's message
/// when the instance was its only member, so the caller can reuse it.
async fn leave_group<S: Store, N: Notifier, A: Annotator>(
    store: &S,
    notifier: &N,
    annotator: &A,
    gkey: &str,
    instance: &InstanceId,
) -> Result<Option<MessageRef>, PipelineError> {
    let mut reused = None;
    let updated = update_record(store, gkey, |group: &mut GroupNotice| {
        if !group.instances.contains(instance) {
            return false;
        }
        group.instances.retain(|i| i != instance);
        reused = if group.instances.is_empty() {
            group.message.take()
        } else {
            None
        };
        true
    })
    .await?;
    let Updated::Written(group) = updated else {
        return Ok(None);
    };
    if group.instances.is_empty() {
        // The unexplained OpsItem is superseded by the new cause's.
        if let Some(id) = group.ops_item.as_deref() {
            if let Err(e) = annotator.recovered(instance, Some(id), true).await {
                annotation_failed(&e);
            }
        }
    } else if let Some(at) = &group.message {
        notifier.update(at, &render(&group)).await?;
    }
    Ok(reused)
}

/// The group after [`join_group`].
struct Joined {
    /// The group as this call left it.
    group: GroupNotice,
    /// The group when this call added the instance to an existing group
    /// (its OpsItem needs the new member).
    grown: Option<GroupNotice>,
}

/// What [`join_group`] adds to which group.
struct Joining<'a> {
    /// The group's record key.
    gkey: &'a str,
    /// The diagnosis of the instance joining.
    diagnosis: &'a Diagnosis,
    /// A message to update instead of posting one (an upgraded notice).
    reuse: Option<MessageRef>,
    /// The group's OpsItem, when OpsCenter is on.
    ops_item: Option<String>,
    /// Now.
    now: DateTime<Utc>,
    /// How long a group collects instances.
    storm_window: chrono::Duration,
}

/// Adds the diagnosis' instance to its group, posting the group's message
/// (or updating `reuse`) when this call opens the group, updating it when
/// the group already has one.
async fn join_group<S: Store, N: Notifier>(
    store: &S,
    notifier: &N,
    joining: Joining<'_>,
) -> Result<Joined, PipelineError> {
    let Joining {
        gkey,
        diagnosis,
        reuse,
        ops_item,
        now,
        storm_window,
    } = joining;
    let instance = diagnosis.instance_id.clone();
    for _ in 0..MAX_ATTEMPTS {
        let current = store.record(gkey).await?;
        let open = match &current {
            Some(r) => {
                let g: GroupNotice = parse(gkey, r)?;
                (now - g.window_start < storm_window && !g.instances.is_empty())
                    .then_some((g, r.version))
            }
            None => None,
        };
        match open {
            Some((mut group, version)) => {
                if group.instances.contains(&instance) {
                    return Ok(Joined { group, grown: None });
                }
                group.instances.push(instance.clone());
                group.instances.sort();
                group.recovered.retain(|i| i != &instance);
                group.volumes.extend(diagnosis.volume_ids.iter().cloned());
                group.volumes.sort();
                group.volumes.dedup();
                if group.ops_item.is_none() {
                    group.ops_item = ops_item.clone();
                }
                if !store.put_record(gkey, &body(&group), Some(version)).await? {
                    continue;
                }
                if let Some(at) = &group.message {
                    notifier.update(at, &render(&group)).await?;
                }
                // Without a message yet, the poster renders the final set.
                return Ok(Joined {
                    grown: Some(group.clone()),
                    group,
                });
            }
            None => {
                let group = GroupNotice {
                    window_start: now,
                    message: None,
                    instances: vec![instance.clone()],
                    volumes: diagnosis.volume_ids.clone(),
                    diagnosis: diagnosis.clone(),
                    ops_item: ops_item.clone(),
                    recovered: Vec::new(),
                };
                if !store
                    .put_record(gkey, &body(&group), current.as_ref().map(|r| r.version))
                    .await?
                {
                    continue;
                }
                let message = open_group(store, notifier, gkey, group.clone(), reuse).await?;
                return Ok(Joined {
                    group: GroupNotice { message, ..group },
                    grown: None,
                });
            }
        }
    }
    Err(PipelineError::Contention(gkey.to_owned()))
}

/// Posts (or reuses) the message of a group this call created, records it,
/// and re-renders if members joined meanwhile. If posting fails, the group
/// is closed again so that a retry opens it anew.
async fn open_group<S: Store, N: Notifier>(
    store: &S,
    notifier: &N,
    gkey: &str,
    group: GroupNotice,
    reuse: Option<MessageRef>,
) -> Result<Option<MessageRef>, PipelineError> {
    let rendered = render(&group);
    let posted = match reuse {
        Some(at) => match notifier.update(&at, &rendered).await {
            // Say in the thread what changed, so the people who read the
            // first version see that the cause is now known.
            Ok(()) => notifier
                .reply(&at, &slack::cause_found_reply(&group.diagnosis))
                .await
                .map(|()| Some(at)),
            Err(e) => Err(e),
        },
        None => notifier.post(&rendered).await,
    };
    let message = match posted {
        Ok(m) => m,
        Err(e) => {
            close_after_failed_post(store, gkey).await;
            return Err(e.into());
        }
    };
    let updated = update_record(store, gkey, |latest: &mut GroupNotice| {
        latest.message = message.clone();
        true
    })
    .await?;
    if let (Updated::Written(latest), Some(at)) = (updated, &message) {
        if latest.instances != group.instances {
            notifier.update(at, &render(&latest)).await?;
        }
    }
    Ok(message)
}

/// Empties a group whose message could not be posted, so the retry of this
/// event (and any instance that joined meanwhile) opens it again.
async fn close_after_failed_post<S: Store>(store: &S, gkey: &str) {
    let closed = update_record(store, gkey, |group: &mut GroupNotice| {
        group.instances.clear();
        true
    })
    .await;
    if let Err(e) = closed {
        tracing::warn!(group = gkey, error = %e, "could not close a group after a failed post");
    }
}
