//! Where an event is filed so that it meets the rest of its story: under
//! its instance when it names one, under the request id it shares with the
//! start call, under the volume of its encryption context, and under its
//! principal and hour for the weakest join. Every partition starts with
//! the doctor's name and the item's account and region (see [`scope`]):
//! EventBridge rules, keys and instance ids are regional, and two accounts
//! may well hold equal-looking ids.

use chrono::{DateTime, Duration, Timelike, Utc};

use crate::evidence::{Evidence, Origin};
use crate::ids::PrincipalArn;
use start_doctor_core::ids::{InstanceId, VolumeId};

/// The start of every partition of `origin`: `start#<account>#<region>`.
fn scope(origin: &Origin) -> String {
    format!("start#{}", origin.key())
}

/// The partition of an instance.
pub fn instance(origin: &Origin, id: &InstanceId) -> String {
    format!("{}#instance#{id}", scope(origin))
}

/// The partition of a request id (a start call and the KMS calls EC2 made
/// for it).
pub fn request(origin: &Origin, request_id: &str) -> String {
    format!("{}#request#{request_id}", scope(origin))
}

/// The partition of a volume.
pub fn volume(origin: &Origin, id: &VolumeId) -> String {
    format!("{}#volume#{id}", scope(origin))
}

/// The partition of a principal's KMS failures in the hour of `time`.
pub fn principal_hour(origin: &Origin, principal: &PrincipalArn, time: DateTime<Utc>) -> String {
    let hour = time
        .with_minute(0)
        .and_then(|t| t.with_second(0))
        .and_then(|t| t.with_nanosecond(0))
        .unwrap_or(time);
    format!(
        "{}#principal#{principal}#{}",
        scope(origin),
        hour.format("%Y-%m-%dT%H")
    )
}

/// The principal partitions a start at `time` may find its KMS failures in
/// (its hour and the next, since a failure follows its start by minutes).
pub fn principal_windows(
    origin: &Origin,
    principal: &PrincipalArn,
    time: DateTime<Utc>,
) -> Vec<String> {
    vec![
        principal_hour(origin, principal, time),
        principal_hour(origin, principal, time + Duration::hours(1)),
    ]
}

/// Every partition an evidence item is filed under.
pub fn partitions(item: &Evidence) -> Vec<String> {
    let mut out = Vec::new();
    match item {
        Evidence::StateChange(s) => out.push(instance(&s.origin, &s.instance_id)),
        Evidence::StartCall(c) => {
            let o = &c.origin;
            out.extend(c.instance_ids.iter().map(|i| instance(o, i)));
            out.extend(c.request_id.as_deref().map(|r| request(o, r)));
        }
        Evidence::KmsFailure(k) => {
            let o = &k.origin;
            out.extend(k.grantee_instance.as_ref().map(|i| instance(o, i)));
            out.extend(k.request_id.as_deref().map(|r| request(o, r)));
            out.extend(k.volume_id.as_ref().map(|v| volume(o, v)));
            if k.grantee_instance.is_none() {
                out.extend(k.principal.as_ref().map(|p| principal_hour(o, p, k.time)));
            }
        }
        Evidence::Instance(_)
        | Evidence::Volume(_)
        | Evidence::Key(_)
        | Evidence::Simulation(_)
        | Evidence::Principal(_)
        | Evidence::ManagedPolicy(_)
        | Evidence::KeyPolicy(_) => {}
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use start_doctor_core::ids::{Account, Region};

    #[test]
    fn principal_hours_cover_the_next_hour() {
        let p = PrincipalArn::parse("arn:aws:iam::111122223333:role/job").unwrap();
        let t = DateTime::parse_from_rfc3339("2026-11-20T07:59:30Z")
            .unwrap()
            .with_timezone(&Utc);
        let o = Origin {
            account: Account::parse("111122223333"),
            region: Region::parse("eu-west-1"),
        };
        assert_eq!(
            principal_windows(&o, &p, t),
            [
                "start#111122223333#eu-west-1#principal#arn:aws:iam::111122223333:role/job#2026-11-20T07",
                "start#111122223333#eu-west-1#principal#arn:aws:iam::111122223333:role/job#2026-11-20T08"
            ]
        );
    }
}
