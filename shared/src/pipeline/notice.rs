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
use crate::notify::{MessageRef, Notifier};
use crate::render::slack;
use crate::store::{Record, Store, StoreError};

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

/// The Slack message of a group.
pub fn render(group: &GroupNotice) -> serde_json::Value {
    slack::group_message(&group.diagnosis, &group.instances, &group.volumes)
}

/// Publishes `diagnosis`: adds it to its group's message (posting or
/// updating) unless the instance was already published with this cause. An
/// `internal_error_unexplained` notice is upgraded in place by a conclusive
/// cause; a conclusive one is never downgraded.
pub async fn publish<S: Store, N: Notifier>(
    store: &S,
    notifier: &N,
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
    if let Some((notice, _)) = &previous {
        let upgrade = notice.cause == Cause::InternalErrorUnexplained
            && diagnosis.cause != Cause::InternalErrorUnexplained;
        if !upgrade {
            return Ok(());
        }
    }

    // An unexplained notice alone in its message: reuse that message.
    let mut reuse = None;
    if let Some((notice, _)) = &previous {
        reuse = leave_group(store, notifier, &notice.group, &diagnosis.instance_id).await?;
    }

    let gkey = group_key(&diagnosis);
    let cause = diagnosis.cause;
    let message = join_group(store, notifier, settings, &gkey, diagnosis, reuse, now).await?;

    let notice = InstanceNotice {
        group: gkey,
        cause,
        message,
    };
    // When another invocation published this instance at the same moment
    // the write loses; the group already lists the instance either way.
    store
        .put_record(&ikey, &body(&notice), previous.as_ref().map(|(_, v)| *v))
        .await?;
    Ok(())
}

/// Removes `instance` from the group at `gkey`. Returns the group's message
/// when the instance was its only member, so the caller can reuse it.
async fn leave_group<S: Store, N: Notifier>(
    store: &S,
    notifier: &N,
    gkey: &str,
    instance: &InstanceId,
) -> Result<Option<MessageRef>, PipelineError> {
    for _ in 0..MAX_ATTEMPTS {
        let Some(record) = store.record(gkey).await? else {
            return Ok(None);
        };
        let mut group: GroupNotice = parse(gkey, &record)?;
        if !group.instances.contains(instance) {
            return Ok(None);
        }
        group.instances.retain(|i| i != instance);
        let alone = group.instances.is_empty();
        let reused = if alone { group.message.take() } else { None };
        if store
            .put_record(gkey, &body(&group), Some(record.version))
            .await?
        {
            if let (false, Some(at)) = (alone, &group.message) {
                notifier.update(at, &render(&group)).await?;
            }
            return Ok(reused);
        }
    }
    Err(PipelineError::Contention(gkey.to_owned()))
}

/// Adds the diagnosis' instance to its group, posting the group's message
/// (or updating `reuse`) when this call opens the group, updating it when
/// the group already has one. Returns the group's message.
async fn join_group<S: Store, N: Notifier>(
    store: &S,
    notifier: &N,
    settings: &Settings,
    gkey: &str,
    diagnosis: Diagnosis,
    reuse: Option<MessageRef>,
    now: DateTime<Utc>,
) -> Result<Option<MessageRef>, PipelineError> {
    let instance = diagnosis.instance_id.clone();
    for _ in 0..MAX_ATTEMPTS {
        let current = store.record(gkey).await?;
        let open = match &current {
            Some(r) => {
                let g: GroupNotice = parse(gkey, r)?;
                (now - g.window_start < settings.storm_window && !g.instances.is_empty())
                    .then_some((g, r.version))
            }
            None => None,
        };
        match open {
            Some((mut group, version)) => {
                if group.instances.contains(&instance) {
                    return Ok(group.message);
                }
                group.instances.push(instance.clone());
                group.instances.sort();
                group.volumes.extend(diagnosis.volume_ids.iter().cloned());
                group.volumes.sort();
                group.volumes.dedup();
                if !store.put_record(gkey, &body(&group), Some(version)).await? {
                    continue;
                }
                if let Some(at) = &group.message {
                    notifier.update(at, &render(&group)).await?;
                }
                // Without a message yet, the poster renders the final set.
                return Ok(group.message);
            }
            None => {
                let group = GroupNotice {
                    window_start: now,
                    message: None,
                    instances: vec![instance.clone()],
                    volumes: diagnosis.volume_ids.clone(),
                    diagnosis: diagnosis.clone(),
                };
                if !store
                    .put_record(gkey, &body(&group), current.as_ref().map(|r| r.version))
                    .await?
                {
                    continue;
                }
                return open_group(store, notifier, gkey, group, reuse).await;
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
                .reply(&at, &follow_up(&group.diagnosis))
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
    for _ in 0..MAX_ATTEMPTS {
        let Some(record) = store.record(gkey).await? else {
            return Ok(message);
        };
        let mut latest: GroupNotice = parse(gkey, &record)?;
        latest.message = message.clone();
        if store
            .put_record(gkey, &body(&latest), Some(record.version))
            .await?
        {
            if latest.instances != group.instances {
                if let Some(at) = &message {
                    notifier.update(at, &render(&latest)).await?;
                }
            }
            return Ok(message);
        }
    }
    Err(PipelineError::Contention(gkey.to_owned()))
}

/// The thread reply that announces a cause found after the first post.
pub fn follow_up(d: &Diagnosis) -> serde_json::Value {
    let text = format!(
        "Cause found: {} (`{}`). The message above now shows the fix.",
        slack::escape(&d.summary),
        d.cause
    );
    serde_json::json!({
        "text": slack::fit(&text, slack::SECTION_MAX),
        "blocks": [{ "type": "section", "text": { "type": "mrkdwn", "text": slack::fit(&text, slack::SECTION_MAX) } }]
    })
}

/// Empties a group whose message could not be posted, so the retry of this
/// event (and any instance that joined meanwhile) opens it again.
async fn close_after_failed_post<S: Store>(store: &S, gkey: &str) {
    if let Ok(Some(record)) = store.record(gkey).await {
        if let Ok(mut group) = parse::<GroupNotice>(gkey, &record) {
            group.instances.clear();
            let _ = store
                .put_record(gkey, &body(&group), Some(record.version))
                .await;
        }
    }
}
