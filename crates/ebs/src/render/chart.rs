//! Demand against the ceiling at a glance: two sparklines on one scale and
//! a row marking the columns at the ceiling. A long window is folded into
//! at most [`COLUMNS`] columns: a column shows its highest demand and its
//! lowest ceiling, so a short burst to the ceiling is never averaged away.

use crate::finding::Chart;
use crate::limits::Dimension;
use crate::rules::AT_LIMIT_SHARE;

/// The widest chart, in columns.
pub const COLUMNS: usize = 60;

const LEVELS: [char; 8] = ['▁', '▂', '▃', '▄', '▅', '▆', '▇', '█'];

/// The chart's rows: a title, demand, ceiling, and the columns at the
/// ceiling. Empty when there is nothing to draw.
pub fn rows(chart: &Chart) -> Vec<String> {
    let n = chart.points.len();
    if n == 0 || chart.points.iter().all(|(_, d, _)| d.is_none()) {
        return Vec::new();
    }
    let per = n.div_ceil(COLUMNS);
    let columns: Vec<(Option<f64>, Option<f64>)> = chart
        .points
        .chunks(per)
        .map(|chunk| {
            let demand = chunk.iter().filter_map(|(_, d, _)| *d).reduce(f64::max);
            let ceiling = chunk.iter().filter_map(|(_, _, c)| *c).reduce(f64::min);
            (demand, ceiling)
        })
        .collect();
    // One scale for both rows, up to the higher of the peak demand and the
    // lowest ceiling: demand meeting its ceiling then shows as two bars of
    // the same height, and a ceiling far above it (an instance maximum of
    // 40,000 IOPS over a 600 IOPS load) shows full rather than flattening
    // the demand to nothing.
    let peak = columns
        .iter()
        .filter_map(|(d, _)| *d)
        .fold(0.0_f64, f64::max);
    let lowest = columns
        .iter()
        .filter_map(|(_, c)| *c)
        .reduce(f64::min)
        .unwrap_or(0.0);
    let top = peak.max(lowest);
    let bar = |v: Option<f64>| match v {
        None => ' ',
        Some(_) if top <= 0.0 => LEVELS[0],
        Some(v) => {
            let i = ((v.min(top) / top) * (LEVELS.len() as f64) - 1e-9).ceil() as isize - 1;
            LEVELS[i.clamp(0, LEVELS.len() as isize - 1) as usize]
        }
    };
    let demand: String = columns.iter().map(|(d, _)| bar(*d)).collect();
    let ceiling: String = columns.iter().map(|(_, c)| bar(*c)).collect();
    let at: String = columns
        .iter()
        .map(|(d, c)| match (d, c) {
            (Some(d), Some(c)) if *c > 0.0 && d / c >= AT_LIMIT_SHARE => '^',
            _ => ' ',
        })
        .collect();
    let unit = match chart.dimension {
        Some(Dimension::Iops) => "IOPS",
        _ => "MiB/s",
    };
    let fmt = |v: f64| match chart.dimension {
        Some(Dimension::Iops) => crate::rules::thousands(v),
        _ => format!("{v:.1}"),
    };
    let peak = columns
        .iter()
        .filter_map(|(d, _)| *d)
        .fold(0.0_f64, f64::max);
    let ceilings: Vec<f64> = columns.iter().filter_map(|(_, c)| *c).collect();
    let ceiling_text = match (
        ceilings.first(),
        ceilings.iter().copied().reduce(f64::min),
        ceilings.iter().copied().reduce(f64::max),
    ) {
        (Some(first), Some(low), Some(high)) if (high - low).abs() > f64::EPSILON => {
            let last = ceilings.last().copied().unwrap_or(*first);
            format!("ceiling {} to {}", fmt(*first), fmt(last))
        }
        (Some(first), _, _) => format!("ceiling {}", fmt(*first)),
        _ => "ceiling unknown".to_owned(),
    };
    let minutes = if per == 1 {
        "1 minute per column".to_owned()
    } else {
        format!("{per} minutes per column")
    };
    let mut out = vec![
        format!("{unit}: peak {}, {ceiling_text} ({minutes})", fmt(peak)),
        format!("demand   {demand}"),
        format!("ceiling  {ceiling}"),
    ];
    if at.contains('^') {
        out.push(format!("at limit {at}"));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::{DateTime, Utc};

    fn at(minute: i64) -> DateTime<Utc> {
        DateTime::from_timestamp(minute * 60, 0).unwrap()
    }

    #[test]
    fn demand_meeting_a_falling_ceiling_shows_as_such() {
        let mut points = Vec::new();
        for m in 0..10 {
            points.push((at(m), Some(300.0), Some(566.0)));
        }
        for m in 10..20 {
            points.push((at(m), Some(77.0), Some(77.5)));
        }
        let rows = rows(&Chart {
            dimension: Some(Dimension::Throughput),
            points,
        });
        assert_eq!(
            rows[0],
            "MiB/s: peak 300.0, ceiling 566.0 to 77.5 (1 minute per column)"
        );
        // Demand at its ceiling: bars of the same height; the ceiling above
        // the scale (the peak) shows full.
        assert_eq!(
            rows[1],
            format!("demand   {}{}", "█".repeat(10), "▃".repeat(10))
        );
        assert_eq!(
            rows[2],
            format!("ceiling  {}{}", "█".repeat(10), "▃".repeat(10))
        );
        assert_eq!(
            rows[3],
            format!("at limit {}{}", " ".repeat(10), "^".repeat(10))
        );
    }

    #[test]
    fn long_windows_fold_to_sixty_columns_keeping_the_peak() {
        let points: Vec<_> = (0..1440)
            .map(|m| {
                (
                    at(m),
                    Some(if m == 700 { 3000.0 } else { 100.0 }),
                    Some(3000.0),
                )
            })
            .collect();
        let rows = rows(&Chart {
            dimension: Some(Dimension::Iops),
            points,
        });
        let demand = rows[1].trim_start_matches("demand   ");
        assert_eq!(demand.chars().count(), 60);
        assert_eq!(demand.chars().filter(|c| *c == '█').count(), 1);
        assert!(rows[0].contains("24 minutes per column"), "{}", rows[0]);
    }

    #[test]
    fn nothing_to_draw_is_no_chart() {
        assert!(rows(&Chart::default()).is_empty());
    }
}
