//! One metric's points over time, as they arrive: pages in any order
//! (newest first by default), duplicated pages and files, missing minutes.
//!
//! Points are kept densely, one `f32` per minute from the first to the last
//! point (`NaN` where CloudWatch returned none), so a day of a 1-minute
//! metric costs 5.6 KiB whatever order its pages came in, and a lookup by
//! minute is an index. A minute given twice with different values keeps the
//! larger, so the result does not depend on the order files are read in.

/// The widest span a series keeps, in minutes: CloudWatch keeps 1-hour
/// points 455 days. A file with two points years apart would otherwise
/// cost a dense vector of millions of minutes; the oldest points beyond
/// this span from the newest are dropped instead (whatever the order they
/// came in).
pub const MAX_SPAN_MINUTES: u32 = 456 * 24 * 60;

/// A metric's points, by minute since the Unix epoch.
#[derive(Clone, Debug, Default)]
pub struct Series {
    start: u32,
    values: Vec<f32>,
    /// The requested `Period`, seconds, when a request said.
    pub period: Option<u32>,
    /// How many minutes each point covers: the period, or the spacing of
    /// the points when it is wider (5-minute basic monitoring asked with a
    /// 60-second period still answers every 5 minutes). Set by
    /// [`Series::finish`].
    resolution: u32,
}

impl PartialEq for Series {
    /// The same points (`NaN` marks no point, and is not a value to
    /// compare), period and resolution.
    fn eq(&self, other: &Self) -> bool {
        self.period == other.period
            && self.resolution == other.resolution
            && self.points().eq(other.points())
    }
}

impl Series {
    /// Adds one page of (minute, value) points.
    pub fn add(&mut self, points: &[(u32, f32)]) {
        let Some((low, high)) = points
            .iter()
            .fold(None, |acc: Option<(u32, u32)>, &(m, _)| match acc {
                None => Some((m, m)),
                Some((lo, hi)) => Some((lo.min(m), hi.max(m))),
            })
        else {
            return;
        };
        let newest = if self.values.is_empty() {
            high
        } else {
            high.max(self.start + self.values.len() as u32 - 1)
        };
        let floor = newest.saturating_sub(MAX_SPAN_MINUTES);
        if low < floor {
            let kept: Vec<(u32, f32)> = points
                .iter()
                .copied()
                .filter(|(m, _)| *m >= floor)
                .collect();
            return self.add(&kept);
        }
        if !self.values.is_empty() && self.start < floor {
            let gone = ((floor - self.start) as usize).min(self.values.len());
            self.values.drain(..gone);
            self.start = floor;
        }
        if self.values.is_empty() {
            self.start = low;
        } else if low < self.start {
            // Grow at the front once per page, not once per point: newest-
            // first pages arrive in exactly this order.
            let grow = (self.start - low) as usize;
            self.values
                .splice(0..0, std::iter::repeat_n(f32::NAN, grow));
            self.start = low;
        }
        let needed = (high - self.start) as usize + 1;
        if needed > self.values.len() {
            self.values.resize(needed, f32::NAN);
        }
        for &(minute, value) in points {
            let slot = &mut self.values[(minute - self.start) as usize];
            if slot.is_nan() || value > *slot {
                *slot = value;
            }
        }
    }

    /// Adds another series' points (the same metric read from two files).
    pub fn merge(&mut self, other: &Series) {
        let points: Vec<(u32, f32)> = other.points().collect();
        self.add(&points);
        self.period = self.period.or(other.period);
    }

    /// Works out the resolution once every page is in.
    pub fn finish(&mut self) {
        let by_period = self.period.map_or(1, |p| (p / 60).max(1));
        let mut spacing: Option<u32> = None;
        let mut last: Option<u32> = None;
        for (minute, _) in self.points() {
            if let Some(prev) = last {
                let gap = minute - prev;
                spacing = Some(spacing.map_or(gap, |s| s.min(gap)));
            }
            last = Some(minute);
        }
        self.resolution = by_period.max(spacing.unwrap_or(by_period));
    }

    /// How many minutes one point covers (1 for 1-minute data).
    pub fn resolution(&self) -> u32 {
        self.resolution.max(1)
    }

    /// The points, oldest first.
    pub fn points(&self) -> impl Iterator<Item = (u32, f32)> + '_ {
        self.values
            .iter()
            .enumerate()
            .filter(|(_, v)| !v.is_nan())
            .map(|(i, v)| (self.start + i as u32, *v))
    }

    /// Whether the series has no points.
    pub fn is_empty(&self) -> bool {
        self.points().next().is_none()
    }

    /// The point whose period covers `minute`: the one at `minute`, or the
    /// latest before it within the resolution.
    pub fn covering(&self, minute: u32) -> Option<f32> {
        let res = self.resolution();
        (0..res).find_map(|back| {
            let m = minute.checked_sub(back)?;
            let i = m.checked_sub(self.start)? as usize;
            self.values.get(i).copied().filter(|v| !v.is_nan())
        })
    }

    /// The value of a total (`Sum`) at `minute` as a rate per second: the
    /// covering point divided by the seconds it covers.
    pub fn rate(&self, minute: u32) -> Option<f64> {
        self.covering(minute)
            .map(|v| f64::from(v) / f64::from(self.resolution() * 60))
    }

    /// The first and last minute with a point.
    pub fn span(&self) -> Option<(u32, u32)> {
        let first = self.points().next()?.0;
        let last = self.values.iter().rposition(|v| !v.is_nan())? as u32 + self.start;
        Some((first, last))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn series(pages: &[&[(u32, f32)]]) -> Series {
        let mut s = Series::default();
        for page in pages {
            s.add(page);
        }
        s.finish();
        s
    }

    #[test]
    fn page_order_and_duplicates_do_not_matter() {
        let newest_first = series(&[&[(104, 4.0), (103, 3.0)], &[(102, 2.0), (101, 1.0)]]);
        let oldest_first = series(&[&[(101, 1.0), (102, 2.0)], &[(103, 3.0), (104, 4.0)]]);
        let doubled = series(&[
            &[(101, 1.0), (102, 2.0), (103, 3.0), (104, 4.0)],
            &[(103, 3.0), (104, 4.0)],
        ]);
        assert_eq!(newest_first, oldest_first);
        assert_eq!(newest_first, doubled);
        assert_eq!(
            newest_first.points().collect::<Vec<_>>(),
            [(101, 1.0), (102, 2.0), (103, 3.0), (104, 4.0)]
        );
    }

    #[test]
    fn conflicting_points_keep_the_larger_whatever_the_order() {
        assert_eq!(
            series(&[&[(10, 1.0)], &[(10, 5.0)]]),
            series(&[&[(10, 5.0)], &[(10, 1.0)]])
        );
        assert_eq!(
            series(&[&[(10, 1.0)], &[(10, 5.0)]]).covering(10),
            Some(5.0)
        );
    }

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig::with_cases(48))]

        #[test]
        fn any_pages_in_any_order_give_one_series(
            pages in proptest::collection::vec(proptest::collection::vec((0u32..800_000, 0f32..1e6), 0..20), 1..6),
        ) {
            let forward: Vec<&[(u32, f32)]> = pages.iter().map(Vec::as_slice).collect();
            let mut backward = forward.clone();
            backward.reverse();
            let a = series(&forward);
            let b = series(&backward);
            proptest::prop_assert_eq!(&a, &b);
            if let Some((first, last)) = a.span() {
                proptest::prop_assert!(last - first <= MAX_SPAN_MINUTES);
            }
        }
    }

    #[test]
    fn points_years_apart_keep_only_the_newest_span() {
        let far = MAX_SPAN_MINUTES + 10;
        let a = series(&[&[(5, 1.0)], &[(5 + far, 2.0)]]);
        let b = series(&[&[(5 + far, 2.0)], &[(5, 1.0)]]);
        assert_eq!(a.points().collect::<Vec<_>>(), [(5 + far, 2.0)]);
        assert_eq!(a, b, "whatever the order");
        assert!(a.values.len() < 10);
    }

    #[test]
    fn missing_minutes_stay_missing() {
        let s = series(&[&[(10, 60.0), (11, 120.0), (14, 60.0)]]);
        assert_eq!(s.resolution(), 1);
        assert_eq!(s.rate(11), Some(2.0));
        assert_eq!(s.rate(12), None);
        assert_eq!(s.span(), Some((10, 14)));
    }

    #[test]
    fn five_minute_points_cover_their_five_minutes() {
        // Basic monitoring asked with a 60 s period: points every 5 minutes,
        // each the total of its 5 minutes.
        let mut s = Series {
            period: Some(60),
            ..Series::default()
        };
        s.add(&[(100, 3000.0), (105, 6000.0)]);
        s.finish();
        assert_eq!(s.resolution(), 5);
        assert_eq!(s.rate(100), Some(10.0));
        assert_eq!(s.rate(104), Some(10.0));
        assert_eq!(s.rate(105), Some(20.0));
        assert_eq!(s.rate(109), Some(20.0));
        assert_eq!(s.rate(110), None);
        assert_eq!(s.rate(99), None);
    }
}
