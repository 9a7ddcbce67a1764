//! An invocation's time: when it started and when it must be done. The
//! engine has no clock: the adapter reads the Lambda context's deadline and
//! the current time and passes both in.

use chrono::{DateTime, Duration, Utc};

/// When the invocation handling an event must be done: the Lambda
/// context's deadline. Claims taken by an invocation (the post of a group,
/// the publishing of a member) are leases that end [`LEASE_MARGIN_SECS`]
/// after it, so that a later invocation takes over what a killed one left
/// undone.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Deadline(pub DateTime<Utc>);

impl Deadline {
    /// The deadline `secs` seconds after `now` (tests, local runs).
    pub fn after(now: DateTime<Utc>, secs: i64) -> Self {
        Self(now + Duration::seconds(secs))
    }
}

/// How long after its holder's deadline a lease ends.
pub const LEASE_MARGIN_SECS: i64 = 5;

/// An invocation's time: when it started and when it must be done.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct When {
    /// When the event was received.
    pub now: DateTime<Utc>,
    /// When the invocation must be done.
    pub deadline: Deadline,
}

impl When {
    /// The time of an invocation received at `now` that must be done by
    /// `deadline`.
    pub fn new(now: DateTime<Utc>, deadline: Deadline) -> Self {
        Self { now, deadline }
    }

    /// Until when a claim taken now holds.
    pub fn lease_until(&self) -> DateTime<Utc> {
        self.deadline.0.max(self.now) + Duration::seconds(LEASE_MARGIN_SECS)
    }
}
