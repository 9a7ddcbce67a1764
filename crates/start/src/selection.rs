//! The start doctor's side of a selection (`start_doctor_core::selection`):
//! which events and descriptions of an evidence set it keeps.

use start_doctor_core::ids::{Account, Region};
use start_doctor_core::selection::Selection;

use crate::evidence::{EvidenceSet, Origin};

fn known_elsewhere<T: PartialEq>(list: &[T], value: Option<&T>) -> bool {
    !list.is_empty() && value.is_some_and(|v| !list.contains(v))
}

/// Drops the events outside the time range, accounts and regions of
/// `selection`. Descriptions (instances, volumes, keys) have no time:
/// instances are kept when their account and region are selected (or
/// unknown), volumes, keys and simulations always.
pub fn retain(selection: &Selection, evidence: &mut EvidenceSet) {
    if selection.is_everything() {
        return;
    }
    let keep = |t, origin: &Origin| {
        selection.time_in_range(t)
            && selection.origin_selected(origin.account.as_ref(), origin.region.as_ref())
    };
    evidence
        .state_changes
        .retain(|_, s| keep(s.time, &s.origin));
    evidence.start_calls.retain(|_, c| keep(c.time, &c.origin));
    evidence.kms_failures.retain(|_, k| keep(k.time, &k.origin));
    evidence.instances.retain(|_, i| {
        !known_elsewhere::<Account>(&selection.accounts, i.origin.account.as_ref())
            && !known_elsewhere::<Region>(&selection.regions, i.origin.region.as_ref())
    });
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::{DateTime, Utc};

    fn t(s: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(s)
            .map(|t| t.with_timezone(&Utc))
            .unwrap_or_else(|e| panic!("test time {s}: {e}"))
    }

    fn day_20() -> Selection {
        Selection {
            since: Some(t("2026-11-20T00:00:00Z")),
            until: Some(t("2026-11-20T23:59:59Z")),
            ..Selection::default()
        }
    }

    #[test]
    fn retain_keeps_records_in_the_range_and_origin() {
        use crate::evidence::{Evidence, InstanceState, StateChange};
        use start_doctor_core::ids::InstanceId;
        let change = |id: &str, time: &str, account: &str| {
            Evidence::StateChange(StateChange {
                time: t(time),
                event_id: id.into(),
                instance_id: InstanceId::parse("i-0a1b2c3d4e5f60002").expect("id"),
                state: InstanceState::Pending,
                origin: Origin {
                    account: Account::parse(account),
                    region: Region::parse("eu-west-1"),
                },
            })
        };
        let mut set: EvidenceSet = [
            change("before", "2026-11-19T23:59:59Z", "111122223333"),
            change("inside", "2026-11-20T07:00:00Z", "111122223333"),
            change("other-account", "2026-11-20T07:00:00Z", "444455556666"),
            change("after", "2026-11-21T00:00:00Z", "111122223333"),
        ]
        .into_iter()
        .collect();
        let mut s = day_20();
        s.accounts = vec![Account::parse("111122223333").expect("account")];
        retain(&s, &mut set);
        assert_eq!(set.state_changes.keys().collect::<Vec<_>>(), vec!["inside"]);
    }
}
