//! The flow-log archive layout in S3, and which of its folders and files
//! can hold records of a time range.
//!
//! VPC Flow Logs deliver to S3 as
//! `[prefix/]AWSLogs/<account>/vpcflowlogs/<region>/yyyy/mm/dd/[hh/]<account>_vpcflowlogs_<region>_<flow-log-id>_<yyyymmddThhmmZ>_<hash>.log.gz`,
//! or with Hive-compatible prefixes
//! (`aws-account-id=<account>/aws-service=vpcflowlogs/aws-region=<region>/year=yyyy/month=mm/day=dd/[hour=hh/]`)
//! (VPC User Guide, "Flow log files"). The time in the file name is when
//! the file was written: its records ended before it. Delivery takes about
//! ten minutes and is best effort, so a file written more than
//! [`DELIVERY_SLACK`] after `until` is taken to hold nothing before it.
//! Paths outside the layout are always read; their records are filtered
//! one by one.

use chrono::{DateTime, Duration, NaiveDate, NaiveDateTime, TimeZone, Utc};

use crate::traffic::Window;

/// How long after its records end a file may be written.
pub const DELIVERY_SLACK: Duration = Duration::hours(1);

/// What a path's place in the layout says about when its files were
/// written: a span `[start, end)`.
fn span(components: &[&str]) -> Option<(DateTime<Utc>, DateTime<Utc>)> {
    // Where the layout starts: `AWSLogs/<account>/vpcflowlogs/<region>/`
    // (or its Hive form), the date parts after it.
    let (start, hive) = if let Some(i) = components.iter().rposition(|c| *c == "vpcflowlogs") {
        (i + 2, false)
    } else {
        let i = components
            .iter()
            .rposition(|c| *c == "aws-service=vpcflowlogs")?;
        (i + 2, true)
    };
    let parts = components.get(start..).unwrap_or_default();
    let value = |i: usize, key: &str, digits: usize| -> Option<u32> {
        let part = *parts.get(i)?;
        let text = if hive {
            part.strip_prefix(key)?.strip_prefix('=')?
        } else {
            part
        };
        (text.len() == digits && text.bytes().all(|b| b.is_ascii_digit()))
            .then(|| text.parse().ok())
            .flatten()
    };
    let year = value(0, "year", 4)?;
    let month = value(1, "month", 2);
    let day = month.and(value(2, "day", 2));
    let hour = day.and(value(3, "hour", 2));
    if let Some(written) = day.and_then(|_| parts.last()).and_then(|f| written_at(f)) {
        return Some((written, written + Duration::minutes(1)));
    }
    let year = i32::try_from(year).ok()?;
    let first = NaiveDate::from_ymd_opt(year, month.unwrap_or(1), day.unwrap_or(1))?;
    let start = Utc.from_utc_datetime(&first.and_hms_opt(hour.unwrap_or(0), 0, 0)?);
    let end = match (month, day, hour) {
        (_, _, Some(_)) => start + Duration::hours(1),
        (_, Some(_), None) => start + Duration::days(1),
        (Some(m), None, _) => {
            let (y, m) = if m == 12 {
                (year + 1, 1)
            } else {
                (year, m + 1)
            };
            Utc.from_utc_datetime(&NaiveDate::from_ymd_opt(y, m, 1)?.and_hms_opt(0, 0, 0)?)
        }
        (None, _, _) => {
            Utc.from_utc_datetime(&NaiveDate::from_ymd_opt(year + 1, 1, 1)?.and_hms_opt(0, 0, 0)?)
        }
    };
    Some((start, end))
}

/// The `yyyymmddThhmmZ` part of a flow-log file name.
fn written_at(file_name: &str) -> Option<DateTime<Utc>> {
    file_name.split('_').find_map(|part| {
        let stamp = part.strip_suffix('Z')?;
        (stamp.len() == 13 && stamp.as_bytes().get(8) == Some(&b'T'))
            .then(|| NaiveDateTime::parse_from_str(stamp, "%Y%m%dT%H%M").ok())
            .flatten()
            .map(|t| Utc.from_utc_datetime(&t))
    })
}

/// Whether the folder or file at `components` (a path split at `/`) can
/// hold records of `window`.
pub fn admits<'a>(components: impl IntoIterator<Item = &'a str>, window: &Window) -> bool {
    if window.since.is_none() && window.until.is_none() {
        return true;
    }
    let parts: Vec<&str> = components.into_iter().filter(|c| !c.is_empty()).collect();
    let Some((start, end)) = span(&parts) else {
        return true;
    };
    // Written wholly before `since`: every record in it ended before.
    let too_old = window.since.is_some_and(|since| end.timestamp() <= since);
    // Written after `until` plus the slack: its records started after.
    let too_new = window
        .until
        .is_some_and(|until| start.timestamp() > until + DELIVERY_SLACK.num_seconds());
    !too_old && !too_new
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(s: &str) -> i64 {
        DateTime::parse_from_rfc3339(s)
            .map(|t| t.timestamp())
            .unwrap_or_else(|e| panic!("{s}: {e}"))
    }

    fn window() -> Window {
        Window {
            since: Some(t("2026-11-20T07:00:00Z")),
            until: Some(t("2026-11-20T08:00:00Z")),
        }
    }

    fn admits_path(path: &str) -> bool {
        admits(path.split('/'), &window())
    }

    #[test]
    fn day_folders_and_files_outside_the_range_are_skipped() {
        let base = "bucket-prefix/AWSLogs/111122223333/vpcflowlogs/eu-west-1";
        assert!(admits_path(&format!("{base}/2026/11/20")));
        assert!(!admits_path(&format!("{base}/2026/11/19")));
        assert!(admits_path(&format!("{base}/2026/11")));
        assert!(!admits_path(&format!("{base}/2026/10")));
        assert!(!admits_path(&format!("{base}/2025")));
        assert!(
            !admits_path(&format!("{base}/2026/11/21")),
            "more than an hour after until"
        );
        let file = |stamp: &str| {
            format!("{base}/2026/11/20/111122223333_vpcflowlogs_eu-west-1_fl-0a1b2c3d4e5f6a001_{stamp}_7a3f9c1e.log.gz")
        };
        assert!(
            !admits_path(&file("20261120T0655Z")),
            "written before since"
        );
        assert!(admits_path(&file("20261120T0705Z")));
        assert!(
            admits_path(&file("20261120T0855Z")),
            "late delivery within the slack"
        );
        assert!(!admits_path(&file("20261120T0905Z")));
        assert!(
            admits_path("elsewhere/flows.log"),
            "outside the layout: read and filtered"
        );
        assert!(admits(
            file("20261120T0655Z").split('/'),
            &Window::default()
        ));
    }

    #[test]
    fn hourly_and_hive_style_prefixes_are_read() {
        let hive =
            "AWSLogs/aws-account-id=111122223333/aws-service=vpcflowlogs/aws-region=eu-west-1";
        assert!(admits_path(&format!(
            "{hive}/year=2026/month=11/day=20/hour=07"
        )));
        assert!(!admits_path(&format!(
            "{hive}/year=2026/month=11/day=20/hour=05"
        )));
        assert!(!admits_path(&format!("{hive}/year=2026/month=11/day=19")));
        let hourly = "AWSLogs/111122223333/vpcflowlogs/eu-west-1/2026/11/20";
        assert!(admits_path(&format!("{hourly}/07")));
        assert!(!admits_path(&format!("{hourly}/04")));
    }
}
