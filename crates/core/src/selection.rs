//! What a post-mortem asks for: a time range, accounts and regions, and the
//! decisions that follow from it, pure so that the local walker, the S3
//! lister and the tests share them.
//!
//! AWS services that deliver logs to S3 share one layout,
//! `AWSLogs/[o-<org>/]<account>/<service>/<region>/yyyy/mm/dd/[hh/]<file>`
//! (CloudTrail: service `CloudTrail`; VPC Flow Logs: `vpcflowlogs`, with an
//! optional hour folder). CloudTrail delivers a trail to
//! `AWSLogs/[o-<org>/]<account>/CloudTrail/<region>/yyyy/mm/dd/<file>.json.gz`,
//! the file named `<account>_CloudTrail_<region>_<yyyymmddThhmmZ>_<unique>.json.gz`
//! after the time it was delivered; "a log file delivered at a specific time
//! can contain records written at any point before that time" (CloudTrail
//! User Guide, log file name format). So a file (or a day folder) delivered
//! before `since` holds nothing from the range and is skipped; one delivered
//! more than [`DELIVERY_SLACK`] after `until` is skipped too. Inside the
//! files that are read, and in files outside that layout, records are kept
//! only when their own time, account and region are in the selection.

use chrono::{DateTime, Duration, NaiveDate, NaiveDateTime, TimeZone, Utc};

use crate::ids::{Account, Region};
use crate::time::midnight;

/// How long after an API call CloudTrail is assumed to have delivered its
/// record: files delivered later than `until` plus this are not read.
/// CloudTrail delivers within minutes on average; an hour is a wide margin.
pub const DELIVERY_SLACK: Duration = Duration::hours(1);

/// The time range, accounts and regions asked for. Empty lists and `None`
/// bounds select everything.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Selection {
    /// Keep records at or after this time.
    pub since: Option<DateTime<Utc>>,
    /// Keep records at or before this time.
    pub until: Option<DateTime<Utc>>,
    /// Keep only these 12-digit account ids.
    pub accounts: Vec<Account>,
    /// Keep only these regions.
    pub regions: Vec<Region>,
}

/// Where a path sits in the `AWSLogs` archive layout, as far as the path
/// goes (a folder names fewer parts than a file).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ArchivePath {
    /// The account folder.
    pub account: Option<String>,
    /// The service folder: `CloudTrail`, `CloudTrail-Digest`,
    /// `vpcflowlogs`, ...
    pub service: Option<String>,
    /// The region folder.
    pub region: Option<String>,
    /// The year, month and day folders, as far as present.
    pub date: (Option<i32>, Option<u32>, Option<u32>),
    /// The hour folder, for services that partition by hour.
    pub hour: Option<u32>,
    /// The delivery time in the file name.
    pub delivered: Option<DateTime<Utc>>,
}

impl ArchivePath {
    /// Reads the layout from a path's components (file system or S3 key,
    /// split at `/`). `None` when no `AWSLogs` component is followed by an
    /// account: the path is not in the layout.
    pub fn parse<'a>(components: impl IntoIterator<Item = &'a str>) -> Option<Self> {
        let parts: Vec<&str> = components.into_iter().filter(|c| !c.is_empty()).collect();
        let start = parts.iter().rposition(|c| *c == "AWSLogs")?;
        let mut rest = parts[start + 1..].iter().copied().peekable();
        if rest.peek().is_some_and(|c| c.starts_with("o-")) {
            rest.next();
        }
        let mut path = Self::default();
        let Some(account) = rest.next() else {
            return Some(path);
        };
        if !is_account(account) {
            return None;
        }
        path.account = Some(account.to_owned());
        path.service = rest.next().map(str::to_owned);
        path.region = rest.next().map(str::to_owned);
        let number = |c: Option<&str>, digits: usize| {
            c.filter(|c| c.len() == digits && c.bytes().all(|b| b.is_ascii_digit()))
                .and_then(|c| c.parse::<u32>().ok())
        };
        path.date.0 = number(rest.next(), 4).and_then(|y| i32::try_from(y).ok());
        path.date.1 = path.date.0.and(number(rest.next(), 2));
        path.date.2 = path.date.1.and(number(rest.next(), 2));
        if path.date.2.is_some() {
            let mut next = rest.next();
            if let Some(hour) = number(next, 2).filter(|h| *h < 24) {
                path.hour = Some(hour);
                next = rest.next();
            }
            path.delivered = next.and_then(delivery_time);
        }
        Some(path)
    }

    /// The span of delivery times the path's date (and hour) folders
    /// cover, `[start, end)`, when it names a valid year (and month, day,
    /// hour).
    fn delivery_span(&self) -> Option<(DateTime<Utc>, DateTime<Utc>)> {
        let (year, month, day) = self.date;
        let year = year?;
        let first = NaiveDate::from_ymd_opt(year, month.unwrap_or(1), day.unwrap_or(1))?;
        if let (Some(_), Some(hour)) = (day, self.hour) {
            let start = midnight(first) + Duration::hours(i64::from(hour));
            return Some((start, start + Duration::hours(1)));
        }
        let next = match (month, day) {
            (_, Some(_)) => first.succ_opt()?,
            (Some(12), None) => NaiveDate::from_ymd_opt(year + 1, 1, 1)?,
            (Some(m), None) => NaiveDate::from_ymd_opt(year, m + 1, 1)?,
            (None, _) => NaiveDate::from_ymd_opt(year + 1, 1, 1)?,
        };
        Some((midnight(first), midnight(next)))
    }
}

/// Whether `value` is in `list`, an empty list selecting everything.
fn listed<T: PartialEq>(list: &[T], value: Option<&T>) -> bool {
    list.is_empty() || value.is_some_and(|v| list.contains(v))
}

fn is_account(s: &str) -> bool {
    s.len() == 12 && s.bytes().all(|b| b.is_ascii_digit())
}

/// The delivery time in a log file name: the `yyyymmddThhmmZ` part.
fn delivery_time(file_name: &str) -> Option<DateTime<Utc>> {
    file_name.split('_').find_map(|part| {
        let stamp = part.strip_suffix('Z')?;
        (stamp.len() == 13 && stamp.as_bytes().get(8) == Some(&b'T'))
            .then(|| NaiveDateTime::parse_from_str(stamp, "%Y%m%dT%H%M").ok())
            .flatten()
            .map(|t| Utc.from_utc_datetime(&t))
    })
}

impl Selection {
    /// Whether nothing narrows the selection.
    pub fn is_everything(&self) -> bool {
        self.since.is_none()
            && self.until.is_none()
            && self.accounts.is_empty()
            && self.regions.is_empty()
    }

    /// Whether a folder or file at `path` can hold selected records of
    /// `service` (`CloudTrail`, `vpcflowlogs`), from its place in the
    /// archive layout alone. Paths outside the layout are always read
    /// (their records are filtered by the doctor). Other services' folders
    /// (CloudTrail-Digest, CloudTrail-Insight) are never read.
    pub fn admits(&self, path: &ArchivePath, service: &str) -> bool {
        if let Some(account) = &path.account {
            if !self.accounts.is_empty() && !self.accounts.iter().any(|a| a.as_str() == account) {
                return false;
            }
        }
        if path.service.as_deref().is_some_and(|s| s != service) {
            return false;
        }
        if let Some(region) = &path.region {
            if !self.regions.is_empty() && !self.regions.iter().any(|r| r.as_str() == region) {
                return false;
            }
        }
        let (start, end) = match (path.delivered, path.delivery_span()) {
            (Some(t), _) => (t, t + Duration::minutes(1)),
            (None, Some(span)) => span,
            (None, None) => return true,
        };
        // Delivered wholly before `since`: every record in it is older.
        let too_old = self.since.is_some_and(|since| end <= since);
        // Delivered after `until` plus the slack: assumed newer.
        let too_new = self
            .until
            .is_some_and(|until| start > until + DELIVERY_SLACK);
        !too_old && !too_new
    }

    /// Whether a path, given as its components, can hold selected records
    /// of `service`.
    pub fn admits_components<'a>(
        &self,
        components: impl IntoIterator<Item = &'a str>,
        service: &str,
    ) -> bool {
        ArchivePath::parse(components).is_none_or(|p| self.admits(&p, service))
    }

    /// Whether `account` and `region` (each when known) are selected.
    pub fn origin_selected(&self, account: Option<&Account>, region: Option<&Region>) -> bool {
        listed(&self.accounts, account) && listed(&self.regions, region)
    }

    /// Whether `t` is within the time range.
    pub fn time_in_range(&self, t: DateTime<Utc>) -> bool {
        self.since.is_none_or(|s| t >= s) && self.until.is_none_or(|u| t <= u)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(s: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(s)
            .map(|t| t.with_timezone(&Utc))
            .unwrap_or_else(|e| panic!("test time {s}: {e}"))
    }

    fn path(p: &str) -> Option<ArchivePath> {
        ArchivePath::parse(p.split('/'))
    }

    fn day_20() -> Selection {
        Selection {
            since: Some(t("2026-11-20T00:00:00Z")),
            until: Some(t("2026-11-20T23:59:59Z")),
            ..Selection::default()
        }
    }

    #[test]
    fn the_archive_layout_is_read_with_and_without_an_organization() {
        let file = "bucket-prefix/AWSLogs/o-abc123/111122223333/CloudTrail/eu-west-1/2026/11/20/\
                    111122223333_CloudTrail_eu-west-1_20261120T0705Z_Mu0KsOhtH1ar15ZZ.json.gz";
        assert_eq!(
            path(file),
            Some(ArchivePath {
                account: Some("111122223333".into()),
                service: Some("CloudTrail".into()),
                region: Some("eu-west-1".into()),
                date: (Some(2026), Some(11), Some(20)),
                hour: None,
                delivered: Some(t("2026-11-20T07:05:00Z")),
            })
        );
        let folder = path("AWSLogs/111122223333/CloudTrail/eu-west-1/2026/11").expect("layout");
        assert_eq!(folder.date, (Some(2026), Some(11), None));
        assert_eq!(folder.delivered, None);
        assert_eq!(path("AWSLogs"), Some(ArchivePath::default()));
        assert_eq!(path("events/seed-story/start-instances.json"), None);
        assert_eq!(path("AWSLogs/not-an-account/x.json"), None);
    }

    #[test]
    fn folders_and_files_outside_the_days_asked_for_are_skipped() {
        let s = day_20();
        let admits = |p: &str| s.admits_components(p.split('/'), "CloudTrail");
        let base = "AWSLogs/111122223333/CloudTrail/eu-west-1";
        assert!(admits(&format!("{base}/2026")));
        assert!(admits(&format!("{base}/2026/11")));
        assert!(!admits(&format!("{base}/2026/10")), "October is before");
        assert!(!admits(&format!("{base}/2025")), "2025 is before");
        assert!(admits(&format!("{base}/2026/11/20")));
        assert!(
            !admits(&format!("{base}/2026/11/19")),
            "delivered before since"
        );
        assert!(
            admits(&format!("{base}/2026/11/21")),
            "the 21st may hold records of the 20th's last hour"
        );
        assert!(!admits(&format!("{base}/2026/11/22")));
        let file = |stamp: &str| {
            format!("{base}/2026/11/21/111122223333_CloudTrail_eu-west-1_{stamp}_u.json.gz")
        };
        assert!(admits(&file("20261121T0030Z")), "within the delivery slack");
        assert!(
            !admits(&file("20261121T0300Z")),
            "beyond the delivery slack"
        );
        assert!(
            admits("elsewhere/events.json"),
            "outside the layout: read and filtered by record"
        );
    }

    #[test]
    fn accounts_regions_and_digest_folders_prune_the_walk() {
        let s = Selection {
            accounts: vec![Account::parse("111122223333").expect("account")],
            regions: vec![Region::parse("eu-west-1").expect("region")],
            ..Selection::default()
        };
        let admits = |p: &str| s.admits_components(p.split('/'), "CloudTrail");
        assert!(admits("AWSLogs/o-abc/111122223333"));
        assert!(!admits("AWSLogs/o-abc/444455556666"));
        assert!(!admits("AWSLogs/111122223333/CloudTrail/us-east-1"));
        assert!(!admits("AWSLogs/111122223333/CloudTrail-Digest"));
        assert!(admits(
            "AWSLogs/111122223333/CloudTrail/eu-west-1/2019/01/01"
        ));
        assert!(
            Selection::default().admits_components("AWSLogs/111122223333".split('/'), "CloudTrail")
        );
    }

    #[test]
    fn flow_log_hour_folders_narrow_the_span() {
        let s = Selection {
            since: Some(t("2026-11-20T07:00:00Z")),
            until: Some(t("2026-11-20T07:59:59Z")),
            ..Selection::default()
        };
        let admits = |p: &str| s.admits_components(p.split('/'), "vpcflowlogs");
        let base = "AWSLogs/111122223333/vpcflowlogs/eu-west-1/2026/11/20";
        let hour = path(&format!("{base}/07")).expect("layout");
        assert_eq!(hour.hour, Some(7));
        assert!(admits(&format!("{base}/07")));
        assert!(!admits(&format!("{base}/05")), "delivered before since");
        assert!(admits(&format!("{base}/08")), "within the delivery slack");
        assert!(!admits(&format!("{base}/10")), "after until and the slack");
        assert!(
            !admits("AWSLogs/111122223333/CloudTrail/eu-west-1"),
            "another service"
        );
        let file = format!("{base}/07/111122223333_vpcflowlogs_eu-west-1_fl-0123456789abcdef0_20260920T0710Z_ab12cd34.log.gz");
        assert_eq!(
            path(&file).and_then(|p| p.delivered),
            Some(t("2026-09-20T07:10:00Z"))
        );
    }
}
