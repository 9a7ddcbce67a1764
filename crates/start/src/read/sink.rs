//! Where the readers put what they find: the [`Sink`] of one top-level JSON
//! value, and the one reader of a CloudTrail record from raw JSON that every
//! container (log file, EventBridge event, lookup result) shares.

use serde_json::value::RawValue;

use super::cloudtrail::RawRecord;
use super::EventProblem;
use crate::evidence::Evidence;

/// Evidence and problems gathered from one top-level JSON value.
#[derive(Default)]
pub(super) struct Sink {
    evidence: Vec<Evidence>,
    problems: Vec<EventProblem>,
}

impl Sink {
    pub(super) fn take(&mut self, item: Result<Option<Evidence>, EventProblem>) {
        match item {
            Ok(Some(evidence)) => self.evidence.push(evidence),
            Ok(None) => {}
            Err(problem) => self.problems.push(problem),
        }
    }

    pub(super) fn problem(&mut self, problem: EventProblem) {
        self.problems.push(problem);
    }

    /// What was gathered: evidence and problems, in document order.
    pub(super) fn into_parts(self) -> (Vec<Evidence>, Vec<EventProblem>) {
        (self.evidence, self.problems)
    }
}

/// Reads one CloudTrail record from raw JSON, isolating its failures.
pub(super) fn read_record(raw: &RawValue, sink: &mut Sink) {
    match serde_json::from_str::<RawRecord>(raw.get()) {
        Ok(record) => sink.take(record.into_evidence()),
        Err(e) => sink.problem(EventProblem::new(None, format!("CloudTrail record: {e}"))),
    }
}
