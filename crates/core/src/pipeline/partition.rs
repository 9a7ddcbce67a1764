//! Where an event is filed so that it meets the rest of its story: under
//! its instance when it names one, under the request id it shares with the
//! start call, under the volume of its encryption context, and under its
//! principal and hour for the weakest join.

use chrono::{DateTime, Duration, Timelike, Utc};

use crate::evidence::Evidence;
use crate::ids::{InstanceId, PrincipalArn, VolumeId};

/// The partition of an instance.
pub fn instance(id: &InstanceId) -> String {
    format!("instance#{id}")
}

/// The partition of a request id (a start call and the KMS calls EC2 made
/// for it).
pub fn request(request_id: &str) -> String {
    format!("request#{request_id}")
}

/// The partition of a volume.
pub fn volume(id: &VolumeId) -> String {
    format!("volume#{id}")
}

/// The partition of a principal's KMS failures in the hour of `time`.
pub fn principal_hour(principal: &PrincipalArn, time: DateTime<Utc>) -> String {
    let hour = time
        .with_minute(0)
        .and_then(|t| t.with_second(0))
        .and_then(|t| t.with_nanosecond(0))
        .unwrap_or(time);
    format!("principal#{principal}#{}", hour.format("%Y-%m-%dT%H"))
}

/// The principal partitions a start at `time` may find its KMS failures in
/// (its hour and the next, since a failure follows its start by minutes).
pub fn principal_windows(principal: &PrincipalArn, time: DateTime<Utc>) -> Vec<String> {
    vec![
        principal_hour(principal, time),
        principal_hour(principal, time + Duration::hours(1)),
    ]
}

/// Every partition an evidence item is filed under.
pub fn partitions(item: &Evidence) -> Vec<String> {
    let mut out = Vec::new();
    match item {
        Evidence::StateChange(s) => out.push(instance(&s.instance_id)),
        Evidence::StartCall(c) => {
            out.extend(c.instance_ids.iter().map(instance));
            out.extend(c.request_id.as_deref().map(request));
        }
        Evidence::KmsFailure(k) => {
            out.extend(k.grantee_instance.as_ref().map(instance));
            out.extend(k.request_id.as_deref().map(request));
            out.extend(k.volume_id.as_ref().map(volume));
            if k.grantee_instance.is_none() {
                out.extend(k.principal.as_ref().map(|p| principal_hour(p, k.time)));
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

    #[test]
    fn principal_hours_cover_the_next_hour() {
        let p = PrincipalArn::parse("arn:aws:iam::111122223333:role/job").unwrap();
        let t = DateTime::parse_from_rfc3339("2026-11-20T07:59:30Z")
            .unwrap()
            .with_timezone(&Utc);
        assert_eq!(
            principal_windows(&p, t),
            [
                "principal#arn:aws:iam::111122223333:role/job#2026-11-20T07",
                "principal#arn:aws:iam::111122223333:role/job#2026-11-20T08"
            ]
        );
    }
}
