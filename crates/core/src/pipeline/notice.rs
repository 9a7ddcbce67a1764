//! Publishing diagnoses: one Slack message per (cause, principal, key)
//! group within the storm window, updated as the group grows, and one
//! record per instance so that redeliveries post nothing and stronger late
//! evidence updates what was posted instead of posting again.
//!
//! Records (JSON bodies in the store's versioned records):
//! - `notice#group#<account>#<region>#<cause>#<principal>#<key>`: the
//!   group's message, its instances and a representative diagnosis;
//! - `notice#instance#<account>#<region>#<id>`: which group the instance
//!   was published in.
//!
//! Nothing is lost when an invocation dies half-way (killed at its
//! timeout, Slack slow or rate limiting, a write failing):
//! - the instance record is claimed (a conditional write) *before* anything
//!   is posted, with a lease that ends shortly after the claiming
//!   invocation's deadline: concurrent evaluations of one instance post
//!   once, and a claim whose holder died is taken over after its lease;
//! - creating a group record is the claim to post its message, again with a
//!   lease: an instance joining a group whose message never came takes the
//!   post over once the lease is over, and the message lists every member;
//! - the message reference is written back with retries; a thread reply
//!   that fails after a good update is logged, never undoes the update.
//!
//! Slack allows about 50 `chat.update` a minute: a group's message is
//! updated at most once per [`UPDATE_INTERVAL_SECS`]; members that join in
//! between mark it stale and one deferred flush renders the latest state.

use chrono::{DateTime, Duration, Utc};
use serde::{Deserialize, Serialize};

use super::{Pipeline, PipelineError, When};
use crate::diagnosis::{Cause, Diagnosis};
use crate::evidence::Origin;
use crate::ids::{InstanceId, VolumeId};
use crate::ports::notify::{MessageRef, Notifier};
use crate::ports::store::{Record, Store, StoreError};
use crate::ports::{Annotator, DeferredCheck, Deferrer, LiveChecks, ServiceError};
use crate::render::slack;

/// How often a versioned write is retried against concurrent writers.
const MAX_ATTEMPTS: u32 = 8;
/// How often the write of a posted message's reference is tried when the
/// store fails: losing it would mean posting the message again.
const MESSAGE_WRITE_ATTEMPTS: u32 = 4;
/// The least time between two `chat.update` of one group's message.
pub const UPDATE_INTERVAL_SECS: i64 = 5;

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
    /// The message was delivered (also for webhooks, which give no
    /// reference).
    #[serde(default)]
    pub posted: bool,
    /// Until when the invocation that is posting the message holds the
    /// post; after it, another invocation may take the post over.
    #[serde(default)]
    pub lease_until: Option<DateTime<Utc>>,
    /// When the message was last rendered (posted or updated).
    #[serde(default)]
    pub rendered_at: Option<DateTime<Utc>>,
    /// Members joined since the message was last rendered.
    #[serde(default)]
    pub stale: bool,
    /// A deferred flush of the stale message is queued.
    #[serde(default)]
    pub flush_pending: bool,
}

impl GroupNotice {
    /// Whether the group's message reached Slack.
    pub fn delivered(&self) -> bool {
        self.posted || self.message.is_some()
    }

    /// Whether an invocation may post the group's message at `now`: nobody
    /// did, and nobody holds the post.
    fn postable(&self, now: DateTime<Utc>) -> bool {
        !self.delivered() && self.lease_until.is_none_or(|l| now >= l)
    }
}

/// The message an upgraded instance was published in, to be reused when
/// the instance was alone in it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Replaced {
    /// The group the instance leaves.
    pub group: String,
    /// Its message.
    pub message: Option<MessageRef>,
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
    /// While publishing: until when the claiming invocation holds it.
    #[serde(default)]
    pub lease_until: Option<DateTime<Utc>>,
    /// While upgrading: the message the instance was published in before.
    #[serde(default)]
    pub replaces: Option<Replaced>,
}

/// `account#region` of an origin (`-` for what is unknown): every record
/// and partition key starts with it, so that equal ids of two accounts or
/// regions never meet.
pub fn scope(origin: &Origin) -> String {
    format!(
        "{}#{}",
        origin.account.as_deref().unwrap_or("-"),
        origin.region.as_deref().unwrap_or("-")
    )
}

/// The origin of a diagnosis.
pub fn origin_of(d: &Diagnosis) -> Origin {
    Origin {
        account: d.account.clone(),
        region: d.region.clone(),
    }
}

/// The record key of a diagnosis' group.
pub fn group_key(d: &Diagnosis) -> String {
    let principal = d.principal_arn.as_ref().map_or("-", |p| p.as_str());
    let key = d.kms_key_arn.as_ref().map_or("-", |k| k.key_id());
    format!(
        "notice#group#{}#{}#{principal}#{key}",
        scope(&origin_of(d)),
        d.cause
    )
}

/// The record key of an instance's notice.
pub fn instance_key(origin: &Origin, id: &InstanceId) -> String {
    format!("notice#instance#{}#{id}", scope(origin))
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
pub(crate) enum Updated<T> {
    /// There is no record at the key.
    Missing,
    /// The change declined to write; the record as read.
    Unchanged(T),
    /// The change was written; the record as written.
    Written(T),
}

/// The one optimistic read-modify-write loop: reads the record at `key`,
/// lets `change` edit it (returning `false` to leave it as it is) and
/// writes it back only if nobody wrote in between, backing off (with the
/// store's jitter) and retrying against concurrent writers up to
/// [`MAX_ATTEMPTS`] times.
pub(crate) async fn update_record<S, T, F>(
    store: &S,
    key: &str,
    mut change: F,
) -> Result<Updated<T>, PipelineError>
where
    S: Store,
    T: Serialize + for<'de> Deserialize<'de>,
    F: FnMut(&mut T) -> bool,
{
    for attempt in 0..MAX_ATTEMPTS {
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
        store.contended(attempt).await;
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

/// Publishes `diagnosis`: claims the instance's record, adds the instance
/// to its group's message (posting or updating) and its OpsItem, announces
/// it (diagnosis event, tag, incident timeline), unless the instance was
/// already published for this failure or another invocation is publishing
/// it right now. An `internal_error_unexplained` notice is upgraded in
/// place by a conclusive cause; a conclusive one is never downgraded. A
/// failure after the instance recovered is a new failure.
pub(crate) async fn publish<S, N, L, D, A>(
    p: &Pipeline<S, N, L, D, A>,
    diagnosis: Diagnosis,
    when: When,
) -> Result<(), PipelineError>
where
    S: Store,
    N: Notifier,
    L: LiveChecks,
    D: Deferrer,
    A: Annotator,
{
    let instance = diagnosis.instance_id.clone();
    let ikey = instance_key(&origin_of(&diagnosis), &instance);
    let gkey = group_key(&diagnosis);
    for attempt in 0..MAX_ATTEMPTS {
        let existing = p.store.record(&ikey).await?;
        let previous: Option<(InstanceNotice, u64)> = match &existing {
            Some(r) => Some((parse(&ikey, r)?, r.version)),
            None => None,
        };
        let mut replaces = None;
        if let Some((notice, _)) = &previous {
            let same_failure = !notice.recovered
                && match (notice.failed_at, diagnosis.failed_at) {
                    (Some(a), Some(b)) => (a - b).abs() < p.settings.storm_window,
                    _ => true,
                };
            if same_failure {
                let held = notice.lease_until.is_some_and(|l| when.now < l);
                let upgrade = notice.cause == Cause::InternalErrorUnexplained
                    && diagnosis.cause != Cause::InternalErrorUnexplained;
                if held && upgrade {
                    // The unexplained message is being posted right now:
                    // upgrade it once it exists (the event is retried).
                    return Err(PipelineError::Busy(ikey));
                }
                if !upgrade {
                    // Done (a finished publication has no lease), being done,
                    // or done but for the final write of the instance record.
                    let done = notice.lease_until.is_none()
                        || held
                        || delivered(&p.store, &notice.group, &instance).await?;
                    if done {
                        return Ok(());
                    }
                    // A claim whose holder died: take it over.
                    replaces = notice.replaces.clone();
                } else {
                    replaces = Some(Replaced {
                        group: notice.group.clone(),
                        message: notice.message.clone(),
                    });
                }
            }
        }
        let claim = InstanceNotice {
            group: gkey.clone(),
            cause: diagnosis.cause,
            message: None,
            failed_at: diagnosis.failed_at,
            recovered: false,
            lease_until: Some(when.lease_until()),
            replaces: replaces.clone(),
        };
        if !p
            .store
            .put_record(&ikey, &body(&claim), previous.as_ref().map(|(_, v)| *v))
            .await?
        {
            p.store.contended(attempt).await;
            continue;
        }
        let reuse = match &replaces {
            Some(old) if old.group != gkey => {
                if leave_group(p, &old.group, &instance, when).await? {
                    old.message.clone()
                } else {
                    None
                }
            }
            _ => None,
        };
        let ops_item = p
            .annotator
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
            when,
        };
        let joined = join_group(p, joining).await?;
        if let (Some(id), Some(group)) = (joined.group.ops_item.as_deref(), &joined.grown) {
            if let Err(e) = p.annotator.update_ops_item(id, group).await {
                annotation_failed(&e);
            }
        }
        if let Err(e) = p
            .annotator
            .diagnosed(&diagnosis, joined.group.ops_item.as_deref())
            .await
        {
            annotation_failed(&e);
        }
        // The group holds the message either way: a failure here only
        // leaves the instance record without its copy of the reference.
        let message = joined.group.message.clone();
        let done = update_record(&p.store, &ikey, |notice: &mut InstanceNotice| {
            if notice.group != gkey {
                return false;
            }
            notice.message = message.clone();
            notice.lease_until = None;
            notice.replaces = None;
            true
        })
        .await;
        if let Err(e) = done {
            tracing::warn!(record = ikey, error = %e, "could not record the message of a published instance");
        }
        return Ok(());
    }
    Err(PipelineError::Contention(ikey))
}

/// Whether the group at `gkey` lists `instance` in a delivered message.
async fn delivered<S: Store>(
    store: &S,
    gkey: &str,
    instance: &InstanceId,
) -> Result<bool, PipelineError> {
    let Some(record) = store.record(gkey).await? else {
        return Ok(false);
    };
    let group: GroupNotice = parse(gkey, &record)?;
    Ok(group.delivered() && group.instances.contains(instance))
}

/// Annotations are best effort: Slack has the diagnosis either way.
fn annotation_failed(e: &ServiceError) {
    super::log_service_error(e, "annotation failed");
}

/// Marks `instance` as running again since `since`: resolves its part of
/// the group, replies in the group's thread, and lets the annotator clear
/// the tag and resolve the OpsItem once the whole group runs. Returns
/// whether there was a failure to resolve.
pub(crate) async fn recover<S: Store, N: Notifier, A: Annotator>(
    store: &S,
    notifier: &N,
    annotator: &A,
    ikey: &str,
    instance: &InstanceId,
    since: DateTime<Utc>,
) -> Result<bool, PipelineError> {
    let Some(record) = store.record(ikey).await? else {
        return Ok(false);
    };
    let mut notice: InstanceNotice = parse(ikey, &record)?;
    if notice.recovered || notice.failed_at.is_some_and(|f| since <= f) {
        return Ok(false);
    }
    notice.recovered = true;
    if !store
        .put_record(ikey, &body(&notice), Some(record.version))
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
        if let Err(e) = notifier
            .reply(at, &slack::recovered_reply(instance, since, all))
            .await
        {
            tracing::warn!(instance_id = %instance, error = %e, "could not reply that the instance recovered");
        }
    }
    Ok(true)
}

/// Removes `instance` from the group at `gkey` (an upgrade moves it to
/// another group). Returns whether the group has no members left, so that
/// its message can be reused.
async fn leave_group<S, N, L, D, A>(
    p: &Pipeline<S, N, L, D, A>,
    gkey: &str,
    instance: &InstanceId,
    when: When,
) -> Result<bool, PipelineError>
where
    S: Store,
    N: Notifier,
    L: LiveChecks,
    D: Deferrer,
    A: Annotator,
{
    let updated = update_record(&p.store, gkey, |group: &mut GroupNotice| {
        if !group.instances.contains(instance) {
            return false;
        }
        group.instances.retain(|i| i != instance);
        true
    })
    .await?;
    let group = match updated {
        Updated::Missing => return Ok(true),
        Updated::Unchanged(group) => return Ok(group.instances.is_empty()),
        Updated::Written(group) => group,
    };
    if group.instances.is_empty() {
        // The unexplained OpsItem is superseded by the new cause's.
        if let Some(id) = group.ops_item.as_deref() {
            if let Err(e) = p.annotator.recovered(instance, Some(id), true).await {
                annotation_failed(&e);
            }
        }
        return Ok(true);
    }
    if group.message.is_some() {
        mark_stale(p, gkey, instance, when).await?;
    }
    Ok(false)
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
    /// The invocation's time.
    when: When,
}

/// Adds the diagnosis' instance to its group: posting the group's message
/// (or updating `reuse`) when this call opens the group or takes over a
/// post nobody finished, updating it (at most once per
/// [`UPDATE_INTERVAL_SECS`]) when the group already has one.
async fn join_group<S, N, L, D, A>(
    p: &Pipeline<S, N, L, D, A>,
    joining: Joining<'_>,
) -> Result<Joined, PipelineError>
where
    S: Store,
    N: Notifier,
    L: LiveChecks,
    D: Deferrer,
    A: Annotator,
{
    let Joining {
        gkey,
        diagnosis,
        reuse,
        ops_item,
        when,
    } = joining;
    let now = when.now;
    let instance = diagnosis.instance_id.clone();
    for attempt in 0..MAX_ATTEMPTS {
        let current = p.store.record(gkey).await?;
        let open = match &current {
            Some(r) => {
                let g: GroupNotice = parse(gkey, r)?;
                (now - g.window_start < p.settings.storm_window && !g.instances.is_empty())
                    .then_some((g, r.version))
            }
            None => None,
        };
        let Some((mut group, version)) = open else {
            let group = GroupNotice {
                window_start: now,
                message: None,
                instances: vec![instance.clone()],
                volumes: diagnosis.volume_ids.clone(),
                diagnosis: diagnosis.clone(),
                ops_item: ops_item.clone(),
                recovered: Vec::new(),
                posted: false,
                lease_until: Some(when.lease_until()),
                rendered_at: None,
                stale: false,
                flush_pending: false,
            };
            if !p
                .store
                .put_record(gkey, &body(&group), current.as_ref().map(|r| r.version))
                .await?
            {
                p.store.contended(attempt).await;
                continue;
            }
            let group = open_group(p, gkey, group, reuse, when).await?;
            return Ok(Joined { group, grown: None });
        };
        let member = group.instances.contains(&instance);
        let failed_again = group.recovered.contains(&instance);
        let take_over = group.postable(now);
        if member && !failed_again && !take_over {
            // Listed already: a redelivery, or the poster is still at it.
            return Ok(Joined { group, grown: None });
        }
        if !member {
            group.instances.push(instance.clone());
            group.instances.sort();
            group.volumes.extend(diagnosis.volume_ids.iter().cloned());
            group.volumes.sort();
            group.volumes.dedup();
        }
        group.recovered.retain(|i| i != &instance);
        if group.ops_item.is_none() {
            group.ops_item = ops_item.clone();
        }
        let mut render_now = false;
        let mut flush = false;
        if take_over {
            group.lease_until = Some(when.lease_until());
        } else if group.message.is_some() {
            render_now = group
                .rendered_at
                .is_none_or(|t| now - t >= Duration::seconds(UPDATE_INTERVAL_SECS));
            if render_now {
                group.rendered_at = Some(now);
                group.stale = false;
            } else {
                group.stale = true;
                flush = !group.flush_pending;
                group.flush_pending = true;
            }
        }
        if !p
            .store
            .put_record(gkey, &body(&group), Some(version))
            .await?
        {
            p.store.contended(attempt).await;
            continue;
        }
        if take_over {
            let group = open_group(p, gkey, group, reuse, when).await?;
            return Ok(Joined {
                grown: Some(group.clone()),
                group,
            });
        }
        if let Some(at) = &group.message {
            if failed_again {
                if let Err(e) = p
                    .notifier
                    .reply(at, &slack::failed_again_reply(diagnosis))
                    .await
                {
                    tracing::warn!(instance_id = %instance, error = %e, "could not reply that the instance failed again");
                }
            }
            if render_now {
                if let Err(e) = p.notifier.update(at, &render(&group)).await {
                    // The latest state is rendered by a flush, or by this
                    // event's retry.
                    mark_stale(p, gkey, &instance, when).await?;
                    return Err(e.into());
                }
            }
            if flush {
                defer_flush(p, gkey, &instance, &group, when).await?;
            }
        }
        if let Some(old) = reuse {
            // The upgraded instance's old message now shows where it went.
            if p.notifier.update(&old, &render(&group)).await.is_ok() {
                if let Err(e) = p
                    .notifier
                    .reply(&old, &slack::cause_found_reply(diagnosis))
                    .await
                {
                    tracing::warn!(instance_id = %instance, error = %e, "could not reply that the cause was found");
                }
            }
        }
        return Ok(Joined {
            grown: Some(group.clone()),
            group,
        });
    }
    Err(PipelineError::Contention(gkey.to_owned()))
}

/// Posts (or reuses) the message of a group this call holds the post of,
/// records it, and has it re-rendered if members joined meanwhile. If
/// posting fails, the lease is released so that the retry of this event
/// (or any instance that joins) posts at once.
async fn open_group<S, N, L, D, A>(
    p: &Pipeline<S, N, L, D, A>,
    gkey: &str,
    group: GroupNotice,
    reuse: Option<MessageRef>,
    when: When,
) -> Result<GroupNotice, PipelineError>
where
    S: Store,
    N: Notifier,
    L: LiveChecks,
    D: Deferrer,
    A: Annotator,
{
    let rendered = render(&group);
    let posted = match reuse {
        Some(at) => match p.notifier.update(&at, &rendered).await {
            Ok(()) => {
                // Say in the thread what changed, so the people who read
                // the first version see that the cause is now known. The
                // update is done: a failed reply must not undo it.
                if let Err(e) = p
                    .notifier
                    .reply(&at, &slack::cause_found_reply(&group.diagnosis))
                    .await
                {
                    tracing::warn!(group = gkey, error = %e, "could not reply that the cause was found");
                }
                Ok(Some(at))
            }
            Err(e) => Err(e),
        },
        None => p.notifier.post(&rendered).await,
    };
    let message = match posted {
        Ok(m) => m,
        Err(e) => {
            release_after_failed_post(&p.store, gkey).await;
            return Err(e.into());
        }
    };
    let shown = group.instances.clone();
    let mut flush = false;
    let mut last_error = None;
    for attempt in 0..MESSAGE_WRITE_ATTEMPTS {
        let written = update_record(&p.store, gkey, |latest: &mut GroupNotice| {
            latest.message = message.clone();
            latest.posted = true;
            latest.lease_until = None;
            latest.rendered_at = Some(when.now);
            latest.stale = latest.message.is_some() && latest.instances != shown;
            flush = latest.stale && !latest.flush_pending;
            latest.flush_pending |= latest.stale;
            true
        })
        .await;
        match written {
            Ok(Updated::Written(latest)) => {
                if flush {
                    defer_flush(p, gkey, &latest.diagnosis.instance_id, &latest, when).await?;
                }
                return Ok(latest);
            }
            Ok(Updated::Missing | Updated::Unchanged(_)) => {
                return Ok(GroupNotice {
                    message,
                    posted: true,
                    ..group
                })
            }
            Err(e) => {
                tracing::warn!(group = gkey, attempt, error = %e, "could not record a posted message; trying again");
                last_error = Some(e);
                p.store.contended(attempt).await;
            }
        }
    }
    Err(last_error.unwrap_or_else(|| PipelineError::Contention(gkey.to_owned())))
}

/// Releases the post of a group whose message could not be posted, so the
/// retry of this event (and any instance that joins meanwhile) posts it
/// with every member.
async fn release_after_failed_post<S: Store>(store: &S, gkey: &str) {
    let released = update_record(store, gkey, |group: &mut GroupNotice| {
        group.lease_until = None;
        true
    })
    .await;
    if let Err(e) = released {
        tracing::warn!(group = gkey, error = %e, "could not release a group after a failed post");
    }
}

/// Marks the group's message stale and queues one flush for it.
async fn mark_stale<S, N, L, D, A>(
    p: &Pipeline<S, N, L, D, A>,
    gkey: &str,
    instance: &InstanceId,
    when: When,
) -> Result<(), PipelineError>
where
    S: Store,
    N: Notifier,
    L: LiveChecks,
    D: Deferrer,
    A: Annotator,
{
    let mut flush = false;
    let updated = update_record(&p.store, gkey, |group: &mut GroupNotice| {
        flush = !group.flush_pending;
        group.stale = true;
        group.flush_pending = true;
        true
    })
    .await?;
    if let (Updated::Written(group), true) = (updated, flush) {
        defer_flush(p, gkey, instance, &group, when).await?;
    }
    Ok(())
}

/// Queues the flush of a stale group for when its next update is allowed.
async fn defer_flush<S, N, L, D, A>(
    p: &Pipeline<S, N, L, D, A>,
    gkey: &str,
    instance: &InstanceId,
    group: &GroupNotice,
    when: When,
) -> Result<(), PipelineError>
where
    S: Store,
    N: Notifier,
    L: LiveChecks,
    D: Deferrer,
    A: Annotator,
{
    let interval = Duration::seconds(UPDATE_INTERVAL_SECS);
    let not_before = group.rendered_at.map_or(when.now, |t| t + interval);
    let delay = (not_before - when.now)
        .num_seconds()
        .clamp(1, UPDATE_INTERVAL_SECS);
    let check = DeferredCheck {
        instance_id: instance.clone(),
        account: group.diagnosis.account.clone(),
        region: group.diagnosis.region.clone(),
        failed_at: None,
        not_before,
        flush_group: Some(gkey.to_owned()),
    };
    p.deferrer
        .defer(&check, u32::try_from(delay).unwrap_or(1))
        .await?;
    Ok(())
}

/// Renders a stale group's latest state (a deferred flush).
pub(crate) async fn flush<S, N, L, D, A>(
    p: &Pipeline<S, N, L, D, A>,
    gkey: &str,
    when: When,
) -> Result<(), PipelineError>
where
    S: Store,
    N: Notifier,
    L: LiveChecks,
    D: Deferrer,
    A: Annotator,
{
    let updated = update_record(&p.store, gkey, |group: &mut GroupNotice| {
        if !group.stale && !group.flush_pending {
            return false;
        }
        group.stale = false;
        group.flush_pending = false;
        group.rendered_at = Some(when.now);
        true
    })
    .await?;
    let Updated::Written(group) = updated else {
        return Ok(());
    };
    if let Some(at) = &group.message {
        if let Err(e) = p.notifier.update(at, &render(&group)).await {
            // Stale again: the redelivered flush renders it.
            let _ = update_record(&p.store, gkey, |g: &mut GroupNotice| {
                g.stale = true;
                g.flush_pending = true;
                true
            })
            .await;
            return Err(e.into());
        }
    }
    Ok(())
}
