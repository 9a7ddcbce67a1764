//! The notice engine: one Slack message and one OpsItem per group of
//! findings, for any [`Doctor`], updated as the group grows, never posted
//! twice, and nothing lost when an invocation dies half-way.
//!
//! Records (JSON bodies in the store's versioned records), every key
//! starting with the doctor's name and the finding's `account#region`:
//! - `<doctor>#group#<scope>#<group>`: the group's message, members, the
//!   finding it shows, its tally and OpsItem ([`Group`]);
//! - `<doctor>#member#<scope>#<subject>`: which group a subject was
//!   published in, with its latest finding ([`Member`]);
//! - `<doctor>#open#<scope>`: the groups with members that have not
//!   cleared, for doctors that reconcile (preflight) or resolve by sweep.
//!
//! How nothing is lost or doubled:
//! - a member record is **claimed** (a conditional write) before anything
//!   is posted, with a lease ending shortly after the claiming invocation's
//!   deadline: concurrent evaluations of one subject publish once, and a
//!   claim whose holder died is taken over after its lease;
//! - creating a group record is the claim to **post** its message, again a
//!   lease: a member joining a group whose message never came takes the
//!   post over once the lease is over, and the message lists every member;
//! - a post whose answer never came (a timeout, a reset connection, a
//!   5xx) is an **unknown outcome**, not a failure: every message carries
//!   its [`MessageTag`], the group remembers when a post was started, and
//!   before anyone posts again the channel's history is searched for the
//!   tag and what is found is adopted. The same lookup closes the gap of a
//!   store that fails right after a good post;
//! - Slack allows about 50 `chat.update` a minute: a group's message is
//!   updated at most once per [`Settings::update_interval`]; members that
//!   join in between mark it stale and one deferred flush renders the
//!   latest state;
//! - a transport that cannot update (an Incoming Webhook) gets the group's
//!   first post after a short gather window (a deferred message, not a
//!   sleep), listing the members known by then, and one follow-up per
//!   [`Settings::follow_up_interval`] naming the members that joined
//!   since: every member is named at least once, never one post each.

use chrono::{DateTime, Duration, Utc};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use start_doctor_core::ids::Origin;

use crate::deadline::When;
use crate::doctor::{Doctor, GroupView};
use crate::ports::{
    Annotator, Deferrer, MessageRef, MessageTag, Notifier, NotifyError, Ports, ServiceError, Store,
    StoreError,
};
use crate::record::{self, body, Updated, MAX_ATTEMPTS};

/// How often the write of a posted message's reference is tried when the
/// store fails: losing it would mean looking the message up again.
const MESSAGE_WRITE_ATTEMPTS: u32 = 4;
/// How far before a post's start the channel's history is searched for it
/// (clock skew between the function and Slack).
const LOOKUP_MARGIN_SECS: i64 = 120;

/// The engine's tunables.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Settings {
    /// The least time between two `chat.update` of one group's message.
    pub update_interval: Duration,
    /// Webhooks: how long a new group gathers members before its first
    /// post (`SLACK_GATHER_SECONDS`; zero posts at once).
    pub gather: Duration,
    /// Gather with the Web API too: for a run that knows every member at
    /// once and works off its own notices at its end (preflight), so that
    /// a group's first post lists them all.
    pub gather_always: bool,
    /// Webhooks: the least time between two follow-ups of one group.
    pub follow_up_interval: Duration,
}

impl Default for Settings {
    fn default() -> Self {
        Self {
            update_interval: Duration::seconds(5),
            gather: Duration::seconds(60),
            gather_always: false,
            follow_up_interval: Duration::seconds(60),
        }
    }
}

/// Why the engine could not finish.
#[derive(Debug, thiserror::Error)]
pub enum EngineError {
    /// The store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// Slack failed (or its outcome is unknown).
    #[error(transparent)]
    Notify(#[from] NotifyError),
    /// A deferral failed.
    #[error(transparent)]
    Service(#[from] ServiceError),
    /// Too many concurrent writers on one record; a retry is safe.
    #[error("record {0}: too much contention, giving up for now")]
    Contention(String),
    /// Another invocation is publishing this member right now; a retry
    /// once it is done is safe.
    #[error("record {0}: being published by another invocation, retry later")]
    Busy(String),
}

/// What the engine does later, through the doctor's queue.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Notice {
    /// Render a stale group's latest state.
    Flush {
        /// The group's store key.
        group: String,
    },
    /// Post a group whose gather window is over (webhooks).
    Post {
        /// The group's store key.
        group: String,
    },
    /// Name the members that joined since the last post (webhooks).
    FollowUp {
        /// The group's store key.
        group: String,
    },
}

/// A message on a doctor's deferral queue: it names its doctor, and is
/// either the engine's ([`Notice`]) or the doctor's own `C`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Deferred<C> {
    /// The doctor whose function handles it.
    pub doctor: String,
    /// What to do.
    #[serde(flatten)]
    pub what: Later<C>,
}

/// What a deferred message asks for.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Later<C> {
    /// The engine's work on a group.
    Notice(Notice),
    /// The doctor's own check.
    Check(C),
}

/// Where a subject was published.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(bound(serialize = "F: Serialize", deserialize = "F: DeserializeOwned"))]
pub struct Member<F> {
    /// The group record key.
    pub group: String,
    /// The subject's latest finding.
    pub finding: F,
    /// The group's message, when known.
    pub message: Option<MessageRef>,
    /// The finding has cleared since.
    #[serde(default)]
    pub resolved: bool,
    /// While publishing: until when the claiming invocation holds it.
    #[serde(default)]
    pub lease_until: Option<DateTime<Utc>>,
    /// While upgrading: the group and message the member was in before.
    #[serde(default)]
    pub replaces: Option<Replaced>,
}

/// The message an upgraded member was published in, reused when the
/// member was alone in it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Replaced {
    /// The group the member leaves.
    pub group: String,
    /// Its message.
    pub message: Option<MessageRef>,
}

/// A group's message, members and state.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(bound(
    serialize = "F: Serialize, T: Serialize",
    deserialize = "F: DeserializeOwned, T: DeserializeOwned + Default"
))]
pub struct Group<F, T> {
    /// When the group's window opened.
    pub window_start: DateTime<Utc>,
    /// The posted message (`None` before it is posted, or for webhooks).
    pub message: Option<MessageRef>,
    /// The members (subjects), sorted.
    pub members: Vec<String>,
    /// The finding the message shows.
    pub finding: F,
    /// What the members add up to.
    #[serde(default)]
    pub tally: T,
    /// The group's OpsItem, when OpsCenter is on.
    #[serde(default)]
    pub ops_item: Option<String>,
    /// Members whose finding has cleared since.
    #[serde(default)]
    pub resolved: Vec<String>,
    /// The message was delivered (also for webhooks, which give no
    /// reference).
    #[serde(default)]
    pub posted: bool,
    /// Until when the invocation that is posting the message holds the
    /// post; after it, another invocation may take the post over.
    #[serde(default)]
    pub lease_until: Option<DateTime<Utc>>,
    /// When a post of the message was first started and its outcome is not
    /// known to have failed: Slack may have it, so it is looked up before
    /// anyone posts again.
    #[serde(default)]
    pub post_started: Option<DateTime<Utc>>,
    /// When the message was last rendered (posted or updated).
    #[serde(default)]
    pub rendered_at: Option<DateTime<Utc>>,
    /// Members joined since the message was last rendered.
    #[serde(default)]
    pub stale: bool,
    /// A deferred flush of the stale message is queued.
    #[serde(default)]
    pub flush_pending: bool,
    /// Webhooks: the first post waits for the gather window until then.
    #[serde(default)]
    pub post_due: Option<DateTime<Utc>>,
    /// Webhooks: the members a delivered post has named.
    #[serde(default)]
    pub shown: Vec<String>,
    /// Webhooks: a follow-up is queued.
    #[serde(default)]
    pub follow_up_pending: bool,
}

impl<F, T> Group<F, T> {
    /// Whether the group's message reached Slack.
    pub fn delivered(&self) -> bool {
        self.posted || self.message.is_some()
    }

    /// Whether an invocation may post the group's message at `now`: nobody
    /// did, nobody holds the post, and its gather window (if any) is over.
    fn postable(&self, now: DateTime<Utc>) -> bool {
        !self.delivered()
            && self.lease_until.is_none_or(|l| now >= l)
            && self.post_due.is_none_or(|d| now >= d)
    }

    /// Whether every member has cleared.
    pub fn all_resolved(&self) -> bool {
        !self.members.is_empty() && self.members.iter().all(|m| self.resolved.contains(m))
    }
}

/// What publishing a finding did.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Published {
    /// The subject joined its group (a new message, or the group's message
    /// now lists it).
    Joined,
    /// The subject was published before for this occurrence (or is being
    /// published right now): nothing changed.
    Already,
    /// The subject was published before and its group now shows its newer
    /// numbers.
    Refreshed,
}

/// A group with members that have not cleared, as [`Engine::open_groups`]
/// lists them.
#[derive(Clone, Debug)]
pub struct OpenGroup<F, T> {
    /// The group's store key.
    pub key: String,
    /// The group.
    pub group: Group<F, T>,
}

/// The engine for one doctor over one set of ports.
#[derive(Debug)]
pub struct Engine<'a, P, D> {
    /// The ports.
    pub ports: &'a P,
    /// The doctor.
    pub doctor: &'a D,
    /// The tunables.
    pub settings: &'a Settings,
}

type GroupOf<D> = Group<<D as Doctor>::Finding, <D as Doctor>::Tally>;

/// A group being joined: what [`Engine::join`] adds to which group.
struct Joining<'a, F> {
    gkey: &'a str,
    subject: &'a str,
    finding: &'a F,
    /// What this member added to the group before, when it was in it.
    before: Option<&'a F>,
    /// A message to update instead of posting one (an upgraded member).
    reuse: Option<MessageRef>,
    /// The group's OpsItem, when OpsCenter is on.
    ops_item: Option<String>,
    when: When,
}

/// The group after [`Engine::join`].
struct Joined<F, T> {
    /// The group as this call left it.
    group: Group<F, T>,
    /// The group when this call added the member to an existing group (its
    /// OpsItem needs the new member).
    grown: bool,
}

impl<'a, P: Ports, D: Doctor> Engine<'a, P, D> {
    /// The engine for `doctor` over `ports`.
    pub fn new(ports: &'a P, doctor: &'a D, settings: &'a Settings) -> Self {
        Self {
            ports,
            doctor,
            settings,
        }
    }

    fn store(&self) -> &P::Store {
        self.ports.store()
    }

    /// The store key of the group a finding belongs to.
    pub fn group_key(&self, finding: &D::Finding) -> String {
        format!(
            "{}#group#{}#{}",
            self.doctor.name(),
            self.doctor.scope(finding).key(),
            self.doctor.group(finding)
        )
    }

    /// The store key of a subject's member record.
    pub fn member_key(&self, scope: &Origin, subject: &str) -> String {
        format!("{}#member#{}#{subject}", self.doctor.name(), scope.key())
    }

    /// The store key of the index of a scope's open groups.
    pub fn open_key(&self, scope: &Origin) -> String {
        format!("{}#open#{}", self.doctor.name(), scope.key())
    }

    /// The tag a group's messages carry.
    pub fn tag(&self, gkey: &str) -> MessageTag {
        MessageTag {
            doctor: self.doctor.name().to_owned(),
            group: sha256_hex(gkey),
        }
    }

    fn view<'g>(&self, gkey: &'g str, group: &'g GroupOf<D>) -> GroupView<'g, D> {
        GroupView {
            key: gkey,
            finding: &group.finding,
            members: &group.members,
            tally: &group.tally,
            resolved: &group.resolved,
            ops_item: group.ops_item.as_deref(),
            name_all: !self.ports.notifier().can_update(),
        }
    }

    fn render(&self, gkey: &str, group: &GroupOf<D>) -> Value {
        self.doctor.message(&self.view(gkey, group))
    }

    /// Publishes `finding`: claims its subject's member record, adds the
    /// subject to its group's message (posting or updating) and OpsItem,
    /// and announces it, unless it was published already for this
    /// occurrence or another invocation is publishing it right now. A
    /// stronger finding moves the member to its group in place; a fresher
    /// one (same group) re-renders the group; a new occurrence after the
    /// subject cleared is published again.
    pub async fn publish(
        &self,
        finding: &D::Finding,
        when: When,
    ) -> Result<Published, EngineError> {
        let subject = self.doctor.subject(finding);
        let scope = self.doctor.scope(finding);
        let mkey = self.member_key(&scope, &subject);
        let gkey = self.group_key(finding);
        for attempt in 0..MAX_ATTEMPTS {
            let previous: Option<(Member<D::Finding>, u64)> =
                record::read(self.store(), &mkey).await?;
            let mut replaces = None;
            let mut before = None;
            if let Some((member, _)) = &previous {
                let same =
                    !member.resolved && self.doctor.same_occurrence(&member.finding, finding);
                if same {
                    let held = member.lease_until.is_some_and(|l| when.now < l);
                    let upgrade = self.doctor.upgrades(&member.finding, finding);
                    if held && upgrade {
                        // The weaker message is being posted right now:
                        // upgrade it once it exists (the event is retried).
                        return Err(EngineError::Busy(mkey));
                    }
                    if !upgrade {
                        // Done (a finished publication has no lease), being
                        // done, or done but for the final write of the
                        // member record.
                        let done = member.lease_until.is_none()
                            || held
                            || self.delivered(&member.group, &subject).await?;
                        if done {
                            return self.refresh(&mkey, &member.group, finding, when).await;
                        }
                        // A claim whose holder died: take it over.
                        replaces = member.replaces.clone();
                    } else {
                        replaces = Some(Replaced {
                            group: member.group.clone(),
                            message: member.message.clone(),
                        });
                    }
                }
                if member.group == gkey {
                    before = Some(member.finding.clone());
                }
            }
            let claim = Member {
                group: gkey.clone(),
                finding: finding.clone(),
                message: None,
                resolved: false,
                lease_until: Some(when.lease_until()),
                replaces: replaces.clone(),
            };
            if !self
                .store()
                .put_record(&mkey, &body(&claim), previous.as_ref().map(|(_, v)| *v))
                .await?
            {
                self.store().contended(attempt).await;
                continue;
            }
            let reuse = match &replaces {
                Some(old) if old.group != gkey => {
                    if self.leave(&old.group, &subject, when).await? {
                        old.message.clone()
                    } else {
                        None
                    }
                }
                _ => None,
            };
            let ops_item = self.open_ops_item(&gkey, &subject, finding).await;
            let joined = Box::pin(self.join(Joining {
                gkey: &gkey,
                subject: &subject,
                finding,
                before: before.as_ref(),
                reuse,
                ops_item,
                when,
            }))
            .await?;
            if let (Some(id), true) = (joined.group.ops_item.as_deref(), joined.grown) {
                let annotation = self.doctor.annotation(&self.view(&gkey, &joined.group));
                if let Err(e) = self.ports.annotator().update(id, &annotation).await {
                    annotation_failed(&e);
                }
            }
            let announcement = self.doctor.announcement(finding);
            if let Err(e) = self
                .ports
                .annotator()
                .announce(&announcement, joined.group.ops_item.as_deref())
                .await
            {
                annotation_failed(&e);
            }
            // The group holds the message either way: a failure here only
            // leaves the member record without its copy of the reference.
            let message = joined.group.message.clone();
            let done = record::update(self.store(), &mkey, |m: &mut Member<D::Finding>| {
                if m.group != gkey {
                    return false;
                }
                m.message = message.clone();
                m.lease_until = None;
                m.replaces = None;
                true
            })
            .await;
            if let Err(e) = done {
                tracing::warn!(record = mkey, error = %e, "could not record the message of a published member");
            }
            return Ok(Published::Joined);
        }
        Err(EngineError::Contention(mkey))
    }

    /// The OpsItem of the group `gkey` is about to be joined by `subject`
    /// (created on first use; found again by its dedup string).
    async fn open_ops_item(
        &self,
        gkey: &str,
        subject: &str,
        finding: &D::Finding,
    ) -> Option<String> {
        let mut tally = D::Tally::default();
        self.doctor.tally(&mut tally, None, finding);
        let members = [subject.to_owned()];
        let view = GroupView {
            key: gkey,
            finding,
            members: &members,
            tally: &tally,
            resolved: &[],
            ops_item: None,
            name_all: false,
        };
        let annotation = self.doctor.annotation(&view);
        self.ports
            .annotator()
            .open(&annotation, gkey)
            .await
            .unwrap_or_else(|e| {
                annotation_failed(&e);
                None
            })
    }

    /// A member published before for this occurrence: when the new finding
    /// changes what its group shows, the member's finding and the group's
    /// tally take it, and the message is rendered again (rate-limited).
    async fn refresh(
        &self,
        mkey: &str,
        gkey: &str,
        finding: &D::Finding,
        when: When,
    ) -> Result<Published, EngineError> {
        let mut old = None;
        let updated = record::update(self.store(), mkey, |m: &mut Member<D::Finding>| {
            if m.group != gkey || !self.doctor.refreshes(&m.finding, finding) {
                return false;
            }
            old = Some(std::mem::replace(&mut m.finding, finding.clone()));
            true
        })
        .await?;
        let (Updated::Written(_), Some(old)) = (updated, old) else {
            return Ok(Published::Already);
        };
        let mut render_now = false;
        let mut flush = false;
        let updated = record::update(self.store(), gkey, |g: &mut GroupOf<D>| {
            self.doctor.tally(&mut g.tally, Some(&old), finding);
            (render_now, flush) = self.schedule_render(g, when.now);
            true
        })
        .await?;
        let Updated::Written(group) = updated else {
            return Ok(Published::Refreshed);
        };
        if let Some(at) = group.message.clone().filter(|_| render_now) {
            self.update_message(gkey, &group, &at, when).await?;
            if let Some(id) = group.ops_item.as_deref() {
                let annotation = self.doctor.annotation(&self.view(gkey, &group));
                if let Err(e) = self.ports.annotator().update(id, &annotation).await {
                    annotation_failed(&e);
                }
            }
        }
        if flush {
            self.defer_flush(gkey, &group, when).await?;
        }
        Ok(Published::Refreshed)
    }

    /// Whether a group whose message exists can be rendered at `now`
    /// (and marks it rendered), or must wait for a flush (marks it stale;
    /// `true` in the second place when this call must queue the flush).
    fn schedule_render(&self, g: &mut GroupOf<D>, now: DateTime<Utc>) -> (bool, bool) {
        if g.message.is_none() {
            return (false, false);
        }
        let render_now = g
            .rendered_at
            .is_none_or(|t| now - t >= self.settings.update_interval);
        if render_now {
            g.rendered_at = Some(now);
            g.stale = false;
            (true, false)
        } else {
            g.stale = true;
            let flush = !g.flush_pending;
            g.flush_pending = true;
            (false, flush)
        }
    }

    /// Updates the group's message; on failure the group is stale again
    /// (a flush, or the event's retry, renders it).
    async fn update_message(
        &self,
        gkey: &str,
        group: &GroupOf<D>,
        at: &MessageRef,
        when: When,
    ) -> Result<(), EngineError> {
        if let Err(e) = self
            .ports
            .notifier()
            .update(at, &self.render(gkey, group))
            .await
        {
            self.mark_stale(gkey, when).await?;
            return Err(e.into());
        }
        Ok(())
    }

    /// Whether the group at `gkey` lists `subject` in a delivered message.
    async fn delivered(&self, gkey: &str, subject: &str) -> Result<bool, EngineError> {
        let group: Option<(GroupOf<D>, u64)> = record::read(self.store(), gkey).await?;
        Ok(group.is_some_and(|(g, _)| g.delivered() && g.members.iter().any(|m| m == subject)))
    }

    /// Removes `subject` from the group at `gkey` (an upgrade moves it to
    /// another group). Returns whether the group has no members left, so
    /// that its message can be reused.
    async fn leave(&self, gkey: &str, subject: &str, when: When) -> Result<bool, EngineError> {
        let updated = record::update(self.store(), gkey, |g: &mut GroupOf<D>| {
            if !g.members.iter().any(|m| m == subject) {
                return false;
            }
            g.members.retain(|m| m != subject);
            true
        })
        .await?;
        let group = match updated {
            Updated::Missing => return Ok(true),
            Updated::Unchanged(g) => return Ok(g.members.is_empty()),
            Updated::Written(g) => g,
        };
        if group.members.is_empty() {
            // The weaker finding's OpsItem is superseded by the new one's.
            if let Some(id) = group.ops_item.as_deref() {
                if let Err(e) = self.ports.annotator().resolve(id).await {
                    annotation_failed(&e);
                }
            }
            self.forget_open(gkey, &self.doctor.scope(&group.finding))
                .await;
            return Ok(true);
        }
        if group.message.is_some() {
            self.mark_stale(gkey, when).await?;
        }
        Ok(false)
    }

    /// Adds the finding's subject to its group: posting the group's message
    /// (or updating `reuse`) when this call opens the group or takes over a
    /// post nobody finished, updating it (rate-limited) when the group
    /// already has one, or (webhooks) queuing the first post after the
    /// gather window or a follow-up.
    async fn join(
        &self,
        joining: Joining<'_, D::Finding>,
    ) -> Result<Joined<D::Finding, D::Tally>, EngineError> {
        let Joining {
            gkey,
            subject,
            finding,
            before,
            reuse,
            ops_item,
            when,
        } = joining;
        let now = when.now;
        let webhook = !self.ports.notifier().can_update();
        for attempt in 0..MAX_ATTEMPTS {
            let current: Option<(GroupOf<D>, u64)> = record::read(self.store(), gkey).await?;
            let open = current.as_ref().and_then(|(g, version)| {
                let in_window = self
                    .doctor
                    .window()
                    .is_none_or(|w| now - g.window_start < w);
                (in_window && !g.members.is_empty()).then(|| (g.clone(), *version))
            });
            let Some((mut group, version)) = open else {
                let mut tally = D::Tally::default();
                self.doctor.tally(&mut tally, None, finding);
                let gather = (webhook || self.settings.gather_always)
                    && reuse.is_none()
                    && self.settings.gather > Duration::zero();
                let group = Group {
                    window_start: now,
                    message: None,
                    members: vec![subject.to_owned()],
                    finding: finding.clone(),
                    tally,
                    ops_item: ops_item.clone(),
                    resolved: Vec::new(),
                    posted: false,
                    lease_until: (!gather).then(|| when.lease_until()),
                    post_started: (!gather).then_some(now),
                    rendered_at: None,
                    stale: false,
                    flush_pending: false,
                    post_due: gather.then(|| now + self.settings.gather),
                    shown: Vec::new(),
                    follow_up_pending: false,
                };
                if !self
                    .store()
                    .put_record(gkey, &body(&group), current.as_ref().map(|(_, v)| *v))
                    .await?
                {
                    self.store().contended(attempt).await;
                    continue;
                }
                self.remember_open(gkey, &self.doctor.scope(finding))
                    .await?;
                if gather {
                    return self.gather(gkey, group, when).await;
                }
                let group = self.open(gkey, group, reuse, when).await?;
                return Ok(Joined {
                    group,
                    grown: false,
                });
            };
            let member = group.members.iter().any(|m| m == subject);
            let again = group.resolved.iter().any(|m| m == subject);
            let take_over = group.postable(now);
            if member && !again && !take_over {
                // Listed already: a redelivery, or the poster is still at it.
                return Ok(Joined {
                    group,
                    grown: false,
                });
            }
            if !member {
                group.members.push(subject.to_owned());
                group.members.sort();
                self.doctor.tally(&mut group.tally, None, finding);
            } else if again {
                self.doctor.tally(&mut group.tally, before, finding);
            }
            group.resolved.retain(|m| m != subject);
            if group.ops_item.is_none() {
                group.ops_item = ops_item.clone();
            }
            let mut render_now = false;
            let mut flush = false;
            let mut follow_up = false;
            if take_over {
                group.lease_until = Some(when.lease_until());
                group.post_started = group.post_started.or(Some(now));
            } else if webhook {
                follow_up = group.delivered() && !group.follow_up_pending;
            } else {
                (render_now, flush) = self.schedule_render(&mut group, now);
            }
            if follow_up {
                // Queued before the flag is written: a lost write queues a
                // second follow-up (which finds nothing new), never none.
                self.defer_notice(
                    Notice::FollowUp {
                        group: gkey.to_owned(),
                    },
                    self.follow_up_delay(&group, now),
                )
                .await?;
                group.follow_up_pending = true;
            }
            if !self
                .store()
                .put_record(gkey, &body(&group), Some(version))
                .await?
            {
                self.store().contended(attempt).await;
                continue;
            }
            if again {
                // The group was cleared (and left the open index) or is
                // about to be: it is open again.
                self.remember_open(gkey, &self.doctor.scope(finding))
                    .await?;
            }
            if take_over {
                let group = self.open(gkey, group, reuse, when).await?;
                return Ok(Joined { group, grown: true });
            }
            if let Some(at) = group.message.clone() {
                if again {
                    if let Err(e) = self
                        .ports
                        .notifier()
                        .reply(&at, &self.doctor.again_reply(finding))
                        .await
                    {
                        tracing::warn!(subject, error = %e, "could not reply that the finding is back");
                    }
                }
                if render_now {
                    self.update_message(gkey, &group, &at, when).await?;
                }
                if flush {
                    self.defer_flush(gkey, &group, when).await?;
                }
            }
            if let Some(old) = reuse {
                // The upgraded member's old message now shows where it went.
                if self
                    .ports
                    .notifier()
                    .update(&old, &self.render(gkey, &group))
                    .await
                    .is_ok()
                {
                    if let Err(e) = self
                        .ports
                        .notifier()
                        .reply(&old, &self.doctor.upgraded_reply(finding))
                        .await
                    {
                        tracing::warn!(subject, error = %e, "could not reply that a stronger finding replaced the first");
                    }
                }
            }
            return Ok(Joined { group, grown: true });
        }
        Err(EngineError::Contention(gkey.to_owned()))
    }

    /// Webhooks: queues the first post of a new group for the end of its
    /// gather window. If the queue fails, the group is posted now instead:
    /// a post too early is better than none.
    async fn gather(
        &self,
        gkey: &str,
        group: GroupOf<D>,
        when: When,
    ) -> Result<Joined<D::Finding, D::Tally>, EngineError> {
        let delay = u32::try_from(self.settings.gather.num_seconds().max(1)).unwrap_or(u32::MAX);
        let queued = self
            .defer_notice(
                Notice::Post {
                    group: gkey.to_owned(),
                },
                delay,
            )
            .await;
        if let Err(e) = queued {
            tracing::warn!(group = gkey, error = %e, "could not queue the gathered post; posting now");
            return self.post_now(gkey, when).await.map(|group| Joined {
                group,
                grown: false,
            });
        }
        Ok(Joined {
            group,
            grown: false,
        })
    }

    /// Takes the post of a group nobody holds and whose time has come, and
    /// posts it (the end of a gather window, or a failed queue). Returns
    /// the group as it is then.
    async fn post_now(&self, gkey: &str, when: When) -> Result<GroupOf<D>, EngineError> {
        let mut take = false;
        let updated = record::update(self.store(), gkey, |g: &mut GroupOf<D>| {
            take = !g.delivered() && g.lease_until.is_none_or(|l| when.now >= l);
            if take {
                g.post_due = None;
                g.lease_until = Some(when.lease_until());
                g.post_started = g.post_started.or(Some(when.now));
            }
            take
        })
        .await?;
        match updated {
            Updated::Written(group) => self.open(gkey, group, None, when).await,
            // Another invocation holds the post: the notice is tried again
            // (it may be a post whose outcome is still being found out).
            Updated::Unchanged(group) if !group.delivered() => {
                Err(EngineError::Busy(gkey.to_owned()))
            }
            Updated::Unchanged(group) => Ok(group),
            Updated::Missing => Err(StoreError::Corrupt {
                key: gkey.to_owned(),
                message: "the group to post is gone".to_owned(),
            }
            .into()),
        }
    }

    /// Posts (or reuses, or finds again) the message of a group this call
    /// holds the post of, records it, and has it re-rendered if members
    /// joined meanwhile. A post whose outcome is unknown is looked up; if
    /// it is not found, the lease is kept (the retry looks again, then
    /// posts). A post that certainly failed releases the lease, so that the
    /// retry (or any member that joins) posts at once.
    async fn open(
        &self,
        gkey: &str,
        group: GroupOf<D>,
        reuse: Option<MessageRef>,
        when: When,
    ) -> Result<GroupOf<D>, EngineError> {
        let rendered = self.render(gkey, &group);
        let notifier = self.ports.notifier();
        let tag = self.tag(gkey);
        let found = match (&reuse, group.post_started) {
            (None, Some(started)) if started < when.now && notifier.can_update() => {
                self.find(&tag, started).await?
            }
            _ => None,
        };
        let posted = match (reuse, found) {
            (Some(at), _) => match notifier.update(&at, &rendered).await {
                Ok(()) => {
                    // Say in the thread what changed, so the people who
                    // read the first version see the stronger finding. The
                    // update is done: a failed reply must not undo it.
                    if let Err(e) = notifier
                        .reply(&at, &self.doctor.upgraded_reply(&group.finding))
                        .await
                    {
                        tracing::warn!(group = gkey, error = %e, "could not reply that a stronger finding replaced the first");
                    }
                    Ok(Some(at))
                }
                Err(e) => Err(e),
            },
            (None, Some(at)) => {
                tracing::info!(
                    group = gkey,
                    ts = at.ts,
                    "adopting a message posted by an earlier attempt"
                );
                if let Err(e) = notifier.update(&at, &rendered).await {
                    tracing::warn!(group = gkey, error = %e, "could not bring an adopted message up to date");
                }
                Ok(Some(at))
            }
            (None, None) => notifier.post(&rendered, &tag).await,
        };
        let message = match posted {
            Ok(m) => m,
            Err(NotifyError::Unknown(why)) => {
                // Slack may have it: look once now; a slow Slack may still
                // be writing it, so what is not found yet is left to the
                // retry, which looks again before posting.
                let started = group.post_started.unwrap_or(when.now);
                match self.find(&tag, started).await? {
                    Some(at) => Some(at),
                    None => return Err(NotifyError::Unknown(why).into()),
                }
            }
            Err(e) => {
                self.release_after_failed_post(gkey).await;
                return Err(e.into());
            }
        };
        let shown = group.members.clone();
        let named = self.named_in(&rendered, &group.members);
        let webhook = !notifier.can_update();
        let mut flush = false;
        let mut follow_up = false;
        let mut last_error = None;
        for attempt in 0..MESSAGE_WRITE_ATTEMPTS {
            let written = record::update(self.store(), gkey, |latest: &mut GroupOf<D>| {
                latest.message = message.clone();
                latest.posted = true;
                latest.lease_until = None;
                latest.post_started = None;
                latest.post_due = None;
                latest.rendered_at = Some(when.now);
                for m in &named {
                    if !latest.shown.contains(m) {
                        latest.shown.push(m.clone());
                    }
                }
                latest.shown.sort();
                latest.stale = latest.message.is_some() && latest.members != shown;
                flush = latest.stale && !latest.flush_pending;
                latest.flush_pending |= latest.stale;
                follow_up = webhook
                    && !latest.follow_up_pending
                    && latest.members.iter().any(|m| !latest.shown.contains(m));
                latest.follow_up_pending |= follow_up;
                true
            })
            .await;
            match written {
                Ok(Updated::Written(latest)) => {
                    if flush {
                        self.defer_flush(gkey, &latest, when).await?;
                    }
                    if follow_up {
                        self.defer_notice(
                            Notice::FollowUp {
                                group: gkey.to_owned(),
                            },
                            self.follow_up_delay(&latest, when.now),
                        )
                        .await?;
                    }
                    return Ok(latest);
                }
                Ok(Updated::Missing | Updated::Unchanged(_)) => {
                    return Ok(Group {
                        message,
                        posted: true,
                        ..group
                    })
                }
                Err(e) => {
                    tracing::warn!(group = gkey, attempt, error = %e, "could not record a posted message; trying again");
                    last_error = Some(e);
                    self.store().contended(attempt).await;
                }
            }
        }
        Err(last_error.unwrap_or_else(|| EngineError::Contention(gkey.to_owned())))
    }

    /// Searches the channel's recent history for a message carrying `tag`
    /// posted since shortly before `started`.
    async fn find(
        &self,
        tag: &MessageTag,
        started: DateTime<Utc>,
    ) -> Result<Option<MessageRef>, EngineError> {
        let since = started - Duration::seconds(LOOKUP_MARGIN_SECS);
        let found = match self.ports.notifier().find(tag, since).await {
            Ok(found) => found,
            // Slack refuses the lookup (a missing history scope, a channel
            // given by name): it will not work on a retry either. A message
            // shown twice is better than one never shown.
            Err(NotifyError::Rejected(why)) => {
                tracing::error!(
                    doctor = tag.doctor,
                    group = tag.group,
                    error = why,
                    "cannot search the channel for an earlier post; posting without looking"
                );
                None
            }
            Err(e) => return Err(e.into()),
        };
        if found.is_none() {
            tracing::info!(
                doctor = tag.doctor,
                group = tag.group,
                "no earlier post of the group in the channel"
            );
        }
        Ok(found)
    }

    /// Releases the post of a group whose message certainly could not be
    /// posted, so the retry (and any member that joins meanwhile) posts it
    /// with every member.
    async fn release_after_failed_post(&self, gkey: &str) {
        let released = record::update(self.store(), gkey, |g: &mut GroupOf<D>| {
            g.lease_until = None;
            g.post_started = None;
            true
        })
        .await;
        if let Err(e) = released {
            tracing::warn!(group = gkey, error = %e, "could not release a group after a failed post");
        }
    }

    /// Marks the group's message stale and queues one flush for it.
    async fn mark_stale(&self, gkey: &str, when: When) -> Result<(), EngineError> {
        let mut flush = false;
        let updated = record::update(self.store(), gkey, |g: &mut GroupOf<D>| {
            flush = !g.flush_pending;
            g.stale = true;
            g.flush_pending = true;
            true
        })
        .await?;
        if let (Updated::Written(group), true) = (updated, flush) {
            self.defer_flush(gkey, &group, when).await?;
        }
        Ok(())
    }

    /// Queues the flush of a stale group for when its next update is
    /// allowed.
    async fn defer_flush(
        &self,
        gkey: &str,
        group: &GroupOf<D>,
        when: When,
    ) -> Result<(), EngineError> {
        let interval = self.settings.update_interval;
        let not_before = group.rendered_at.map_or(when.now, |t| t + interval);
        let delay = (not_before - when.now)
            .num_seconds()
            .clamp(1, interval.num_seconds().max(1));
        self.defer_notice(
            Notice::Flush {
                group: gkey.to_owned(),
            },
            u32::try_from(delay).unwrap_or(1),
        )
        .await
    }

    /// How long until a group's next follow-up is allowed.
    fn follow_up_delay(&self, group: &GroupOf<D>, now: DateTime<Utc>) -> u32 {
        let interval = self.settings.follow_up_interval;
        let next = group.rendered_at.map_or(now, |t| t + interval);
        let secs = (next - now)
            .num_seconds()
            .clamp(1, interval.num_seconds().max(1));
        u32::try_from(secs).unwrap_or(1)
    }

    /// Which of `members` a rendered message names (its text shows them
    /// as the doctor shows them).
    fn named_in(&self, message: &Value, members: &[String]) -> Vec<String> {
        let text = message.to_string();
        members
            .iter()
            .filter(|m| text.contains(self.doctor.shown_as(m).as_str()))
            .cloned()
            .collect()
    }

    async fn defer_notice(&self, notice: Notice, delay_secs: u32) -> Result<(), EngineError> {
        let message = Deferred::<()> {
            doctor: self.doctor.name().to_owned(),
            what: Later::Notice(notice),
        };
        let value = serde_json::to_value(&message).unwrap_or(Value::Null);
        self.ports.deferrer().defer(&value, delay_secs).await?;
        Ok(())
    }

    /// Handles one of the engine's deferred notices.
    pub async fn handle(&self, notice: &Notice, when: When) -> Result<(), EngineError> {
        match notice {
            Notice::Flush { group } => self.flush(group, when).await,
            Notice::Post { group } => self.post_now(group, when).await.map(drop),
            Notice::FollowUp { group } => self.follow_up(group, when).await,
        }
    }

    /// Renders a stale group's latest state (a deferred flush).
    async fn flush(&self, gkey: &str, when: When) -> Result<(), EngineError> {
        let updated = record::update(self.store(), gkey, |g: &mut GroupOf<D>| {
            if !g.stale && !g.flush_pending {
                return false;
            }
            g.stale = false;
            g.flush_pending = false;
            g.rendered_at = Some(when.now);
            true
        })
        .await?;
        let Updated::Written(group) = updated else {
            return Ok(());
        };
        if let Some(at) = &group.message {
            if let Err(e) = self
                .ports
                .notifier()
                .update(at, &self.render(gkey, &group))
                .await
            {
                // Stale again: the redelivered flush renders it.
                let _ = record::update(self.store(), gkey, |g: &mut GroupOf<D>| {
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

    /// Webhooks: posts one follow-up naming the members no delivered post
    /// has named yet (a deferred follow-up), and queues another when some
    /// did not fit.
    async fn follow_up(&self, gkey: &str, when: When) -> Result<(), EngineError> {
        let Some((group, _)) = record::read::<_, GroupOf<D>>(self.store(), gkey).await? else {
            return Ok(());
        };
        let unnamed: Vec<String> = group
            .members
            .iter()
            .filter(|m| !group.shown.contains(m))
            .cloned()
            .collect();
        if unnamed.is_empty() || !group.delivered() {
            record::update(self.store(), gkey, |g: &mut GroupOf<D>| {
                let was = g.follow_up_pending;
                g.follow_up_pending = false;
                was
            })
            .await?;
            return Ok(());
        }
        let message = self.doctor.follow_up(&self.view(gkey, &group), &unnamed);
        let named = self.named_in(&message, &unnamed);
        self.ports
            .notifier()
            .post(&message, &self.tag(gkey))
            .await?;
        let mut again = false;
        let mut last_error = None;
        for attempt in 0..MESSAGE_WRITE_ATTEMPTS {
            let written = record::update(self.store(), gkey, |g: &mut GroupOf<D>| {
                for m in &named {
                    if !g.shown.contains(m) {
                        g.shown.push(m.clone());
                    }
                }
                g.shown.sort();
                g.rendered_at = Some(when.now);
                again = g.members.iter().any(|m| !g.shown.contains(m));
                g.follow_up_pending = again;
                true
            })
            .await;
            match written {
                Ok(Updated::Written(latest)) => {
                    if again {
                        self.defer_notice(
                            Notice::FollowUp {
                                group: gkey.to_owned(),
                            },
                            self.follow_up_delay(&latest, when.now),
                        )
                        .await?;
                    }
                    return Ok(());
                }
                Ok(_) => return Ok(()),
                Err(e) => {
                    tracing::warn!(group = gkey, attempt, error = %e, "could not record a follow-up; trying again");
                    last_error = Some(e);
                    self.store().contended(attempt).await;
                }
            }
        }
        Err(last_error.unwrap_or_else(|| EngineError::Contention(gkey.to_owned())))
    }

    /// Marks `subject` of `scope` as cleared since `since` (an instance
    /// runs again, a check passes, a ceiling is no longer hit): see
    /// [`Engine::resolve_all`]. Returns whether there was something to
    /// resolve.
    pub async fn resolve(
        &self,
        scope: &Origin,
        subject: &str,
        since: DateTime<Utc>,
        when: When,
    ) -> Result<bool, EngineError> {
        Ok(self
            .resolve_all(scope, &[subject.to_owned()], since, when)
            .await?
            > 0)
    }

    /// Marks `subjects` of `scope` as cleared since `since`: resolves their
    /// part of their groups, replies once per group in its thread, takes
    /// their tags off, and resolves a group's OpsItem (and takes the group
    /// off the open index) once every member has cleared. A subject that
    /// was not published, has cleared already, or whose occurrence is not
    /// before `since` is left alone. Returns how many were resolved.
    pub async fn resolve_all(
        &self,
        scope: &Origin,
        subjects: &[String],
        since: DateTime<Utc>,
        when: When,
    ) -> Result<usize, EngineError> {
        let mut by_group: Vec<(String, Vec<String>, Option<MessageRef>)> = Vec::new();
        for subject in subjects {
            let mkey = self.member_key(scope, subject);
            let Some((mut member, version)) =
                record::read::<_, Member<D::Finding>>(self.store(), &mkey).await?
            else {
                continue;
            };
            let before_it = self
                .doctor
                .occurred_at(&member.finding)
                .is_some_and(|t| since <= t);
            if member.resolved || before_it {
                continue;
            }
            member.resolved = true;
            if !self
                .store()
                .put_record(&mkey, &body(&member), Some(version))
                .await?
            {
                continue;
            }
            if let Some(tag) = self.doctor.cleared_tag(&member.finding) {
                if let Err(e) = self.ports.annotator().withdraw(&tag).await {
                    annotation_failed(&e);
                }
            }
            match by_group.iter_mut().find(|(g, _, _)| *g == member.group) {
                Some((_, members, _)) => members.push(subject.clone()),
                None => {
                    by_group.push((member.group.clone(), vec![subject.clone()], member.message))
                }
            }
        }
        let mut resolved = 0;
        for (gkey, cleared, member_message) in by_group {
            resolved += cleared.len();
            self.clear_in_group(scope, &gkey, &cleared, member_message, since, when)
                .await?;
        }
        Ok(resolved)
    }

    /// The group side of [`Engine::resolve_all`] for the `cleared` members
    /// of the group at `gkey`.
    async fn clear_in_group(
        &self,
        scope: &Origin,
        gkey: &str,
        cleared: &[String],
        member_message: Option<MessageRef>,
        since: DateTime<Utc>,
        when: When,
    ) -> Result<(), EngineError> {
        let mut render_now = false;
        let mut flush = false;
        let rerender = self.doctor.shows_resolution();
        let updated = record::update(self.store(), gkey, |g: &mut GroupOf<D>| {
            for subject in cleared {
                if !g.resolved.contains(subject) {
                    g.resolved.push(subject.clone());
                }
            }
            g.resolved.sort();
            if rerender {
                (render_now, flush) = self.schedule_render(g, when.now);
            }
            true
        })
        .await?;
        let group = match updated {
            Updated::Written(g) | Updated::Unchanged(g) => g,
            Updated::Missing => return Ok(()),
        };
        let all = group.all_resolved();
        if let (Some(id), true) = (group.ops_item.as_deref(), all) {
            if let Err(e) = self.ports.annotator().resolve(id).await {
                annotation_failed(&e);
            }
        }
        if all {
            self.forget_open(gkey, scope).await;
        }
        if let Some(at) = group.message.clone().filter(|_| render_now) {
            self.update_message(gkey, &group, &at, when).await?;
        }
        if flush {
            self.defer_flush(gkey, &group, when).await?;
        }
        if let Some(at) = group.message.as_ref().or(member_message.as_ref()) {
            let reply = self
                .doctor
                .resolved_reply(&self.view(gkey, &group), cleared, since);
            if let Err(e) = self.ports.notifier().reply(at, &reply).await {
                tracing::warn!(group = gkey, error = %e, "could not reply that members cleared");
            }
        }
        Ok(())
    }

    /// The member record of `subject` in `scope`, if it was published.
    pub async fn member(
        &self,
        scope: &Origin,
        subject: &str,
    ) -> Result<Option<Member<D::Finding>>, EngineError> {
        let mkey = self.member_key(scope, subject);
        Ok(record::read(self.store(), &mkey).await?.map(|(m, _)| m))
    }

    /// The groups of `scope` with members that have not cleared.
    pub async fn open_groups(
        &self,
        scope: &Origin,
    ) -> Result<Vec<OpenGroup<D::Finding, D::Tally>>, EngineError> {
        let index: Vec<String> = record::read(self.store(), &self.open_key(scope))
            .await?
            .map(|(keys, _)| keys)
            .unwrap_or_default();
        let mut open = Vec::new();
        for key in index {
            if let Some((group, _)) = record::read::<_, GroupOf<D>>(self.store(), &key).await? {
                if !group.members.is_empty() && !group.all_resolved() {
                    open.push(OpenGroup { key, group });
                }
            }
        }
        Ok(open)
    }

    /// Adds a group to its scope's index of open groups.
    async fn remember_open(&self, gkey: &str, scope: &Origin) -> Result<(), EngineError> {
        let key = self.open_key(scope);
        for attempt in 0..MAX_ATTEMPTS {
            let current: Option<(Vec<String>, u64)> = record::read(self.store(), &key).await?;
            let mut keys = current.as_ref().map(|(k, _)| k.clone()).unwrap_or_default();
            if keys.iter().any(|k| k == gkey) {
                return Ok(());
            }
            keys.push(gkey.to_owned());
            keys.sort();
            if self
                .store()
                .put_record(&key, &body(&keys), current.map(|(_, v)| v))
                .await?
            {
                return Ok(());
            }
            self.store().contended(attempt).await;
        }
        Err(EngineError::Contention(key))
    }

    /// Takes a group off its scope's index (best effort: a group left in
    /// the index is skipped by [`Engine::open_groups`] anyway).
    async fn forget_open(&self, gkey: &str, scope: &Origin) {
        let key = self.open_key(scope);
        let removed = record::update(self.store(), &key, |keys: &mut Vec<String>| {
            let before = keys.len();
            keys.retain(|k| k != gkey);
            keys.len() != before
        })
        .await;
        if let Err(e) = removed {
            tracing::warn!(group = gkey, error = %e, "could not take a cleared group off the open index");
        }
    }
}

/// The SHA-256 of `text`, 64 lowercase hex digits: the OpsItem dedup
/// string and the message tag of a group key (fixed length whatever the
/// key's, and never a cut of it).
pub fn sha256_hex(text: &str) -> String {
    use sha2::{Digest, Sha256};
    Sha256::digest(text.as_bytes())
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// Annotations are best effort: Slack has the finding either way.
fn annotation_failed(e: &ServiceError) {
    tracing::warn!(service = e.service, error = %e.message, "annotation failed");
}
