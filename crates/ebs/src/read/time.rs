//! Timestamps as `get-metric-data` output writes them: the CLI prints ISO
//! 8601 with an offset (`2024-09-29T22:10:00+00:00`), SDKs and `--save`
//! write `Z`, the wire format has epoch seconds. A response holds hundreds
//! of thousands of them, so the common shapes are parsed by hand; anything
//! else goes through chrono.

use chrono::DateTime;

/// Seconds since the Unix epoch of an ISO 8601 / RFC 3339 timestamp
/// (`YYYY-MM-DDTHH:MM:SS[.fff][Z|±HH:MM|±HHMM]`, UTC when no offset is
/// given, as CloudWatch means it).
pub fn parse_timestamp(text: &str) -> Option<i64> {
    parse_timestamp_cached(text, &mut DayCache::default())
}

/// The last date parsed and its day number: a series' 1,440 points of a
/// day share their date, so most timestamps skip the calendar arithmetic.
#[derive(Debug, Default)]
pub(crate) struct DayCache {
    date: [u8; 10],
    days: Option<i64>,
}

/// [`parse_timestamp`], reusing the day of the previous call when the date
/// is the same.
pub(crate) fn parse_timestamp_cached(text: &str, cache: &mut DayCache) -> Option<i64> {
    fast(text.as_bytes(), cache).or_else(|| {
        DateTime::parse_from_rfc3339(text)
            .ok()
            .map(|t| t.timestamp())
    })
}

fn digits(bytes: &[u8]) -> Option<i64> {
    let mut n: i64 = 0;
    for &b in bytes {
        if !b.is_ascii_digit() {
            return None;
        }
        n = n * 10 + i64::from(b - b'0');
    }
    Some(n)
}

fn fast(b: &[u8], cache: &mut DayCache) -> Option<i64> {
    if b.len() < 19 || b[4] != b'-' || b[7] != b'-' || !matches!(b[10], b'T' | b't' | b' ') {
        return None;
    }
    if b[13] != b':' || b[16] != b':' {
        return None;
    }
    let days = match cache.days {
        Some(days) if cache.date == b[0..10] => days,
        _ => {
            let year = digits(&b[0..4])?;
            let month = digits(&b[5..7])?;
            let day = digits(&b[8..10])?;
            if !(1..=12).contains(&month) || day < 1 || day > days_in_month(year, month) {
                return None;
            }
            let days = days_from_civil(year, month, day);
            cache.date.copy_from_slice(&b[0..10]);
            cache.days = Some(days);
            days
        }
    };
    let hour = digits(&b[11..13])?;
    let minute = digits(&b[14..16])?;
    let second = digits(&b[17..19])?;
    if hour > 23 || minute > 59 || second > 60 {
        return None;
    }
    let mut rest = &b[19..];
    if let Some(fraction) = rest.strip_prefix(b".") {
        let n = fraction.iter().take_while(|c| c.is_ascii_digit()).count();
        if n == 0 {
            return None;
        }
        rest = &fraction[n..];
    }
    let offset = match rest {
        [] | [b'Z' | b'z'] => 0,
        [sign @ (b'+' | b'-'), h1, h2, b':', m1, m2] | [sign @ (b'+' | b'-'), h1, h2, m1, m2] => {
            let hours = digits(&[*h1, *h2])?;
            let minutes = digits(&[*m1, *m2])?;
            if hours > 23 || minutes > 59 {
                return None;
            }
            let seconds = hours * 3600 + minutes * 60;
            if *sign == b'+' {
                seconds
            } else {
                -seconds
            }
        }
        _ => return None,
    };
    Some(days * 86_400 + hour * 3600 + minute * 60 + second - offset)
}

fn days_in_month(year: i64, month: i64) -> i64 {
    match month {
        4 | 6 | 9 | 11 => 30,
        2 if year % 4 == 0 && (year % 100 != 0 || year % 400 == 0) => 29,
        2 => 28,
        _ => 31,
    }
}

/// Days since 1970-01-01 of a proleptic Gregorian date (H. Hinnant's
/// `days_from_civil`).
fn days_from_civil(year: i64, month: i64, day: i64) -> i64 {
    let y = if month <= 2 { year - 1 } else { year };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (month + 9) % 12;
    let doy = (153 * mp + 2) / 5 + day - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn the_shapes_aws_writes() {
        let t = 1_727_647_800; // 2024-09-29T22:10:00Z
        assert_eq!(parse_timestamp("2024-09-29T22:10:00+00:00"), Some(t));
        assert_eq!(parse_timestamp("2024-09-29T22:10:00Z"), Some(t));
        assert_eq!(parse_timestamp("2024-09-29T22:10:00.000Z"), Some(t));
        assert_eq!(parse_timestamp("2024-09-29T22:10:00"), Some(t));
        assert_eq!(parse_timestamp("2024-09-30T00:10:00+02:00"), Some(t));
        assert_eq!(parse_timestamp("2024-09-29T21:10:00-0100"), Some(t));
    }

    #[test]
    fn the_day_cache_never_changes_an_answer() {
        let mut cache = DayCache::default();
        for text in [
            "2024-09-29T22:10:00Z",
            "2024-09-29T23:59:00Z",
            "2024-09-30T00:00:00Z",
            "2024-02-30T00:00:00Z",
            "2024-09-30T00:01:00+01:00",
        ] {
            assert_eq!(
                parse_timestamp_cached(text, &mut cache),
                parse_timestamp(text),
                "{text}"
            );
        }
    }

    #[test]
    fn nonsense_is_refused() {
        for bad in [
            "",
            "2024-13-01T00:00:00Z",
            "2024-02-30T00:00:00Z",
            "yesterday",
            "2024-09-29T22:10:00+25:00",
            "2024-09-29T22:10:00 UTC",
        ] {
            assert_eq!(parse_timestamp(bad), None, "{bad}");
        }
    }

    proptest! {
        #[test]
        fn agrees_with_chrono(secs in 0i64..4_102_444_800, offset_min in -720i32..=840) {
            let offset = chrono::FixedOffset::east_opt(offset_min * 60).unwrap();
            let t = DateTime::from_timestamp(secs, 0).unwrap().with_timezone(&offset);
            let text = t.to_rfc3339();
            prop_assert_eq!(fast(text.as_bytes(), &mut DayCache::default()), Some(secs), "{}", text);
        }
    }
}
