//! Time bounds as people write them on a command line (`--since`,
//! `--until`): RFC 3339, a date, or an age. The clock is read by the
//! caller and passed in.

use chrono::{DateTime, Duration, NaiveDate, TimeZone, Utc};

/// Why a `--since` / `--until` value was refused.
#[derive(Debug, PartialEq, Eq, thiserror::Error)]
#[error(
    "{0:?} is not a time: use RFC 3339 (2026-11-20T07:00:00Z), a date (2026-11-20, UTC) \
     or an age such as 90m, 12h, 2d, 1w"
)]
pub struct TimeBoundError(pub String);

/// Parses a `--since` / `--until` value: RFC 3339, a date (midnight UTC), or
/// an age before `now` (`<n>s`, `m`, `h`, `d`, `w`).
pub fn parse_time_bound(text: &str, now: DateTime<Utc>) -> Result<DateTime<Utc>, TimeBoundError> {
    let text = text.trim();
    let refuse = || TimeBoundError(text.to_owned());
    if let Ok(t) = DateTime::parse_from_rfc3339(text) {
        return Ok(t.with_timezone(&Utc));
    }
    if let Ok(day) = NaiveDate::parse_from_str(text, "%Y-%m-%d") {
        return Ok(midnight(day));
    }
    let unit_at = text.len().checked_sub(1).ok_or_else(refuse)?;
    let (number, unit) = text.split_at(unit_at);
    let n: i64 = number.parse().map_err(|_| refuse())?;
    let age = match unit {
        "s" => Duration::try_seconds(n),
        "m" => Duration::try_minutes(n),
        "h" => Duration::try_hours(n),
        "d" => Duration::try_days(n),
        "w" => Duration::try_weeks(n),
        _ => None,
    }
    .filter(|_| n >= 0)
    .ok_or_else(refuse)?;
    now.checked_sub_signed(age).ok_or_else(refuse)
}

/// Midnight UTC at the start of `day`.
pub fn midnight(day: NaiveDate) -> DateTime<Utc> {
    Utc.from_utc_datetime(&day.and_time(chrono::NaiveTime::MIN))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(s: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(s)
            .map(|t| t.with_timezone(&Utc))
            .unwrap_or_else(|e| panic!("test time {s}: {e}"))
    }

    #[test]
    fn time_bounds_are_rfc3339_dates_or_ages_before_now() {
        let now = t("2026-11-20T12:00:00Z");
        let ok = |s: &str| parse_time_bound(s, now).unwrap_or_else(|e| panic!("{s}: {e}"));
        assert_eq!(ok("2026-11-19T07:00:00+01:00"), t("2026-11-19T06:00:00Z"));
        assert_eq!(ok("2026-11-18"), t("2026-11-18T00:00:00Z"));
        assert_eq!(ok("90m"), t("2026-11-20T10:30:00Z"));
        assert_eq!(ok("12h"), t("2026-11-20T00:00:00Z"));
        assert_eq!(ok("2d"), t("2026-11-18T12:00:00Z"));
        assert_eq!(ok("1w"), t("2026-11-13T12:00:00Z"));
        assert_eq!(ok("30s"), t("2026-11-20T11:59:30Z"));
        for bad in [
            "",
            "d",
            "2x",
            "-2d",
            "yesterday",
            "2026-13-01",
            "99999999999999999999d",
        ] {
            assert_eq!(
                parse_time_bound(bad, now),
                Err(TimeBoundError(bad.to_owned())),
                "{bad:?} should be refused"
            );
        }
    }
}
