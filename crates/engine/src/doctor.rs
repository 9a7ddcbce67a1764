//! What a doctor supplies to the engine: the one home of its group key,
//! what makes a finding new, stronger or merely fresher, and everything
//! people read (Slack messages, replies, the OpsItem, the diagnosis
//! event). The engine owns everything else.

use std::fmt::Debug;

use chrono::{DateTime, Duration, Utc};
use serde::de::DeserializeOwned;
use serde::Serialize;
use serde_json::Value;
use start_doctor_core::ids::Origin;

use crate::ports::{Annotation, Announcement, ResourceTag};

/// A group as the doctor renders it: the finding it shows, its members
/// and what they add up to.
#[derive(Debug)]
pub struct GroupView<'a, D: Doctor + ?Sized> {
    /// The group's store key.
    pub key: &'a str,
    /// The finding the group shows (its first, or the stronger one that
    /// replaced it).
    pub finding: &'a D::Finding,
    /// Its members (subjects), sorted.
    pub members: &'a [String],
    /// What its members add up to.
    pub tally: &'a D::Tally,
    /// Members whose finding has cleared since (recovered, fixed).
    pub resolved: &'a [String],
    /// The group's OpsItem, when OpsCenter is on.
    pub ops_item: Option<&'a str>,
    /// The message can never be updated (a webhook): it must name every
    /// member it knows, not a first few and a count.
    pub name_all: bool,
}

impl<D: Doctor + ?Sized> GroupView<'_, D> {
    /// Whether every member has cleared.
    pub fn all_resolved(&self) -> bool {
        !self.members.is_empty() && self.members.iter().all(|m| self.resolved.contains(m))
    }
}

/// A doctor, as the live path's engine sees it.
pub trait Doctor: Send + Sync {
    /// What the doctor found about one subject.
    type Finding: Clone + Debug + Serialize + DeserializeOwned + Send + Sync;
    /// What a group's members add up to beyond the member list (the start
    /// doctor's volumes, the flow doctor's record counts).
    type Tally: Clone + Debug + Default + Serialize + DeserializeOwned + Send + Sync;

    /// Its name: the first part of every store key it owns, and the name
    /// its deferred messages carry.
    fn name(&self) -> &'static str;

    /// The account and Region of a finding.
    fn scope(&self, finding: &Self::Finding) -> Origin;

    /// Who the finding is about, unique within its scope: one member of a
    /// group (an instance, an instance and cause, a conversation).
    fn subject(&self, finding: &Self::Finding) -> String;

    /// The group a finding belongs to, without doctor and scope: the one
    /// home of the doctor's group key. One Slack message and one OpsItem
    /// per group.
    fn group(&self, finding: &Self::Finding) -> String;

    /// When the finding's occurrence happened (a failure's time), if
    /// known: a clearing at or before it does not clear it.
    fn occurred_at(&self, finding: &Self::Finding) -> Option<DateTime<Utc>> {
        let _ = finding;
        None
    }

    /// How long a group collects members into one message; `None`: until
    /// every member has cleared.
    fn window(&self) -> Option<Duration>;

    /// Whether `new` is the same occurrence as `old`, a finding of the same
    /// subject published before (a redelivery, more evidence), rather than
    /// a new one (a failure after a recovery, a day later).
    fn same_occurrence(&self, old: &Self::Finding, new: &Self::Finding) -> bool;

    /// Whether `new` (same subject, same occurrence) is stronger than
    /// `old`: it replaces it, and the member moves to `new`'s group.
    fn upgrades(&self, old: &Self::Finding, new: &Self::Finding) -> bool;

    /// Whether `new` (same subject, same occurrence, not stronger) changes
    /// what the group shows (counts grew, a peak rose): the message is then
    /// rendered again (rate-limited).
    fn refreshes(&self, old: &Self::Finding, new: &Self::Finding) -> bool {
        let _ = (old, new);
        false
    }

    /// Adds a member's finding to its group's tally; `old` is what the same
    /// member added before (`None` for a member new to the group).
    fn tally(&self, tally: &mut Self::Tally, old: Option<&Self::Finding>, new: &Self::Finding);

    /// Whether the group's message shows which members have cleared (it is
    /// rendered again when one does).
    fn shows_resolution(&self) -> bool {
        false
    }

    /// The group's top-level Slack message (Block Kit).
    fn message(&self, group: &GroupView<'_, Self>) -> Value;

    /// A top-level follow-up naming `members` that joined the group after
    /// its message was posted, for transports that cannot update it
    /// (webhooks): "12 more instances failed for the same cause".
    fn follow_up(&self, group: &GroupView<'_, Self>, members: &[String]) -> Value;

    /// The thread reply when a stronger finding replaced the one first
    /// posted (the message above now shows it).
    fn upgraded_reply(&self, finding: &Self::Finding) -> Value;

    /// The thread reply when a member that had cleared comes back.
    fn again_reply(&self, finding: &Self::Finding) -> Value;

    /// The thread reply when `subjects` have cleared since `since`; the
    /// group as it is now.
    fn resolved_reply(
        &self,
        group: &GroupView<'_, Self>,
        subjects: &[String],
        since: DateTime<Utc>,
    ) -> Value;

    /// How a subject shows in messages (the instance of an
    /// instance-and-principal subject): a webhook post that contains it
    /// names the member.
    fn shown_as(&self, subject: &str) -> String {
        subject.to_owned()
    }

    /// The group's OpsItem.
    fn annotation(&self, group: &GroupView<'_, Self>) -> Annotation;

    /// What one finding announces (the diagnosis event, a tag, an incident
    /// note).
    fn announcement(&self, finding: &Self::Finding) -> Announcement;

    /// The tag to take off when the finding clears, if the doctor tags.
    fn cleared_tag(&self, finding: &Self::Finding) -> Option<ResourceTag> {
        let _ = finding;
        None
    }
}
