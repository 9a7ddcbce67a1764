//! The rules: for each instance, every minute of the window is compared
//! with every ceiling that applies, and the findings follow.
//!
//! Per minute (or per period, for 5-minute data):
//! - each volume's ceiling: its provisioned (or burst) performance, or its
//!   burst baseline once `BurstBalance` is spent; the instance's maximum,
//!   or its baseline once `EBSIOBalance%` (IOPS) / `EBSByteBalance%`
//!   (throughput) is spent and its baseline is below its maximum;
//! - a ceiling is reached when its `*ExceededCheck` says 1, or, where none
//!   was published for that minute, when demand reached
//!   [`AT_LIMIT_SHARE`] of it; the binding ceiling of the minute is the one
//!   reached that demand came closest to (the lowest, relative to
//!   demand);
//! - a volume restored from a snapshot without fast snapshot restore, not
//!   yet initialized, whose read latency is at least [`SLOW_READ_MS_SSD`]
//!   ([`SLOW_READ_MS_HDD`] for HDD) while no ceiling is reached, is
//!   initializing in that minute;
//! - `VolumeStalledIOCheck` at 1 is a stalled minute.
//!
//! Per instance: stalled I/O wins over everything; otherwise the cause
//! with the most minutes, the others `contributing`; with no cause,
//! `not_ebs_bound` when every ceiling is known and latency is normal,
//! else `insufficient_data` naming what is missing.

use std::collections::{BTreeMap, BTreeSet};

use chrono::{DateTime, Utc};

use crate::evidence::Evidence;
use crate::finding::{round, Cause, Chart, Finding, InitializationFacts, Limit, Rate, Window};
use crate::ids::{InstanceId, VolumeId};
use crate::limits::{self, Dimension, LimitSource, VolumeLimits, SPENT_PERCENT};
use crate::metric::Metric;
use crate::model::{Ceiling, FsrState, Instance, TypeLimits, Volume, VolumeStatus};
use crate::remedy;
use crate::series::{Series, MAX_SPAN_MINUTES};

/// Demand at this share of a ceiling counts as at the ceiling, when no
/// `*ExceededCheck` was published for the minute (the contract's 95 %):
/// per-minute averages hide the seconds above it.
pub const AT_LIMIT_SHARE: f64 = 0.95;

/// Average read latency, ms, from which an SSD volume's minute is slow.
/// Healthy gp3/io2 volumes answer in about a millisecond (io2 Block
/// Express under 0.5 ms, gp3 "single-digit milliseconds"); a block read for
/// the first time from a volume restored from a snapshot is fetched from
/// S3, tens of milliseconds. An average of 10 ms over a whole minute is
/// far outside what a healthy SSD volume shows below its ceilings, and
/// well inside what lazy loading causes.
pub const SLOW_READ_MS_SSD: f64 = 10.0;

/// The same for HDD volumes (st1, sc1), which take several milliseconds
/// per seek even when healthy.
pub const SLOW_READ_MS_HDD: f64 = 100.0;

/// Reads per second below which a minute's latency says little (a handful
/// of reads, any of them slow for any reason).
pub const MIN_READS_PER_SECOND: f64 = 1.0;

/// What to diagnose: the window and the instances reported.
#[derive(Clone, Debug, Default)]
pub struct Options {
    /// Only minutes at or after this time.
    pub since: Option<DateTime<Utc>>,
    /// Only minutes at or before this time.
    pub until: Option<DateTime<Utc>>,
    /// Only these instances (all when empty).
    pub instance_ids: Vec<InstanceId>,
}

/// One finding per instance examined, sorted by instance id.
pub fn diagnose(evidence: &Evidence, options: &Options) -> Vec<Finding> {
    let low = options.since.map_or(0, minute_ceil);
    let high = options.until.map_or(u32::MAX, minute_floor);
    evidence
        .instance_ids()
        .into_iter()
        .filter(|i| options.instance_ids.is_empty() || options.instance_ids.contains(i))
        .map(|id| Examination::new(evidence, id, low, high).finding())
        .collect()
}

fn minute_floor(t: DateTime<Utc>) -> u32 {
    u32::try_from(t.timestamp().div_euclid(60)).unwrap_or(if t.timestamp() < 0 {
        0
    } else {
        u32::MAX
    })
}

fn minute_ceil(t: DateTime<Utc>) -> u32 {
    u32::try_from((t.timestamp() + 59).div_euclid(60)).unwrap_or(if t.timestamp() < 0 {
        0
    } else {
        u32::MAX
    })
}

/// A minute index as a time.
pub fn time_of(minute: u32) -> DateTime<Utc> {
    DateTime::from_timestamp(i64::from(minute) * 60, 0).unwrap_or_default()
}

/// One volume of the instance with everything read about it.
struct VolumeView<'e> {
    id: VolumeId,
    desc: Option<&'e Volume>,
    limits: Option<VolumeLimits>,
    status: Option<&'e VolumeStatus>,
    series: BTreeMap<Metric, &'e Series>,
}

impl VolumeView<'_> {
    fn get(&self, metric: Metric) -> Option<&Series> {
        self.series.get(&metric).copied()
    }

    /// Demand in the minute: IOPS and MiB/s. A missing read or write half
    /// counts as none (Xen instances publish only when there was I/O);
    /// both missing is unknown. The Nitro averages fill in when the totals
    /// are missing.
    fn demand(&self, m: u32) -> (Option<f64>, Option<f64>) {
        let sum = |a: Option<f64>, b: Option<f64>| match (a, b) {
            (None, None) => None,
            (a, b) => Some(a.unwrap_or(0.0) + b.unwrap_or(0.0)),
        };
        let rate = |metric| self.get(metric).and_then(|s| s.rate(m));
        let level = |metric| self.get(metric).and_then(|s| s.covering(m)).map(f64::from);
        let iops = sum(rate(Metric::VolumeReadOps), rate(Metric::VolumeWriteOps))
            .or_else(|| level(Metric::VolumeAvgIops));
        let mibps = sum(
            rate(Metric::VolumeReadBytes),
            rate(Metric::VolumeWriteBytes),
        )
        .map(|b| b / 1_048_576.0)
        .or_else(|| level(Metric::VolumeAvgThroughput).map(|kib| kib / 1024.0));
        (iops, mibps)
    }

    /// Read latency in the minute, ms, with the reads per second it rests
    /// on: `VolumeTotalReadTime / VolumeReadOps`, or the Nitro average.
    fn read_latency(&self, m: u32) -> Option<(f64, f64)> {
        let reads = self.get(Metric::VolumeReadOps).and_then(|s| s.rate(m));
        let total = self
            .get(Metric::VolumeTotalReadTime)
            .and_then(|s| s.rate(m));
        if let (Some(r), Some(t)) = (reads, total) {
            if r > 0.0 {
                return Some((t / r * 1000.0, r));
            }
        }
        let avg = self
            .get(Metric::VolumeAvgReadLatency)
            .and_then(|s| s.covering(m))
            .map(f64::from)?;
        let reads = reads.or_else(|| {
            self.get(Metric::VolumeAvgIops)
                .and_then(|s| s.covering(m))
                .map(f64::from)
        })?;
        Some((avg, reads))
    }

    fn check(&self, metric: Metric, m: u32) -> Option<bool> {
        self.get(metric)
            .and_then(|s| s.covering(m))
            .map(|v| v >= 0.5)
    }

    fn burst_spent(&self, m: u32) -> bool {
        self.get(Metric::BurstBalance)
            .and_then(|s| s.covering(m))
            .is_some_and(|b| f64::from(b) <= SPENT_PERCENT)
    }

    /// The volume's ceiling in force in the minute for a dimension.
    fn ceiling(&self, m: u32, dim: Dimension) -> Option<(f64, LimitSource)> {
        let limits = self.limits?;
        let normal = pick(&limits.normal, dim)?;
        match limits.spent.and_then(|s| pick(&s, dim)) {
            Some(spent) if spent < normal && self.burst_spent(m) => {
                Some((spent, LimitSource::VolumeBurstBaseline))
            }
            _ => Some((normal, LimitSource::Volume)),
        }
    }

    fn slow_read_ms(&self) -> f64 {
        match self.desc.and_then(|d| d.volume_type.as_ref()) {
            Some(t) if t.is_hdd() => SLOW_READ_MS_HDD,
            _ => SLOW_READ_MS_SSD,
        }
    }
}

fn pick(c: &Ceiling, dim: Dimension) -> Option<f64> {
    match dim {
        Dimension::Iops => c.iops,
        Dimension::Throughput => c.throughput_mibps,
    }
    .filter(|v| *v > 0.0)
}

/// Whether, and how, a volume's initialization from its snapshot can slow
/// it in a minute.
#[derive(Clone, Debug)]
struct Restore {
    facts: InitializationFacts,
    /// Initialized before this minute (an `initializeVolume` success).
    done_at: Option<u32>,
    /// Fast snapshot restore made it whole at creation.
    fast: bool,
}

/// A ceiling reached in a minute.
#[derive(Clone, Debug, PartialEq)]
struct Reach {
    source: LimitSource,
    dim: Dimension,
    volume: Option<VolumeId>,
    ratio: f64,
    ceiling: Option<f64>,
}

impl Reach {
    fn cause(&self) -> Cause {
        Cause::of_limit(self.source, self.dim)
    }

    /// Sort key: the ceiling demand came closest to (or went furthest
    /// past) first; then the lower ceiling; then volume before instance.
    fn rank(&self) -> (std::cmp::Reverse<u64>, u64, LimitSource, Dimension) {
        (
            std::cmp::Reverse((self.ratio * 1e6) as u64),
            self.ceiling.map_or(u64::MAX, |c| (c * 1e3) as u64),
            self.source,
            self.dim,
        )
    }
}

/// The state of one ceiling in one minute.
enum State {
    At(Reach),
    Below,
    Unknown,
}

fn judge(
    check: Option<bool>,
    demand: Option<f64>,
    ceiling: Option<(f64, LimitSource)>,
    fallback: LimitSource,
    dim: Dimension,
    volume: Option<&VolumeId>,
) -> State {
    let ratio = match (demand, ceiling) {
        (Some(d), Some((c, _))) => Some(d / c),
        _ => None,
    };
    let reach = |ratio: f64| {
        State::At(Reach {
            source: ceiling.map_or(fallback, |(_, s)| s),
            dim,
            volume: volume.cloned(),
            ratio,
            ceiling: ceiling.map(|(c, _)| c),
        })
    };
    match check {
        Some(true) => reach(ratio.unwrap_or(1.0).max(1.0)),
        Some(false) => State::Below,
        None => match (demand, ratio) {
            (_, Some(r)) if r >= AT_LIMIT_SHARE => reach(r),
            (_, Some(_)) => State::Below,
            (Some(d), None) if d > 0.0 => State::Unknown,
            _ => State::Below,
        },
    }
}

/// Everything examined for one instance.
struct Examination<'e> {
    evidence: &'e Evidence,
    id: InstanceId,
    desc: Option<&'e Instance>,
    type_limits: Option<&'e TypeLimits>,
    instance_series: BTreeMap<Metric, &'e Series>,
    volumes: Vec<VolumeView<'e>>,
    minutes: Vec<u32>,
    /// Points before this minute were left out: more than
    /// [`MAX_SPAN_MINUTES`] before the newest.
    cut_before: Option<u32>,
}

/// The ceiling demand came closest to in a dimension.
#[derive(Clone, Debug)]
struct Closest {
    ratio: f64,
    ceiling: f64,
    source: LimitSource,
    volume: Option<VolumeId>,
}

/// What each minute showed.
#[derive(Default)]
struct Tally {
    /// Minutes a ceiling bound, by cause: (minute, the binding reach).
    bound: BTreeMap<Cause, Vec<(u32, Reach)>>,
    /// Minutes a volume was slow while initializing, by volume.
    initializing: BTreeMap<VolumeId, Vec<u32>>,
    /// Minutes a volume stalled.
    stalled: BTreeMap<VolumeId, Vec<u32>>,
    /// Minutes with demand and no way to judge a ceiling, by what is unknown.
    unknown: BTreeMap<String, BTreeSet<u32>>,
    /// Minutes a restored volume had reads but no latency to judge.
    latency_unknown: BTreeMap<VolumeId, u32>,
    /// Minutes a volume was slow with no ceiling reached and no
    /// initialization to explain it: (volume, minute, latency).
    unexplained: Vec<(VolumeId, u32, f64)>,
    /// The ceiling demand came closest to without reaching it, per
    /// dimension.
    closest: BTreeMap<Dimension, Closest>,
}

impl<'e> Examination<'e> {
    fn new(evidence: &'e Evidence, id: InstanceId, low: u32, high: u32) -> Self {
        let desc = evidence.instances.get(&id);
        let type_limits = desc
            .and_then(|d| d.instance_type.as_ref())
            .and_then(|t| evidence.types.get(t));
        let instance_series: BTreeMap<Metric, &Series> = Metric::ALL
            .iter()
            .filter_map(|&m| {
                let key = crate::metric::SeriesKey::for_instance(m, &id)?;
                evidence
                    .series
                    .get(&key)
                    .filter(|s| !s.is_empty())
                    .map(|s| (m, s))
            })
            .collect();
        let volumes: Vec<VolumeView> = evidence
            .volumes_of(&id)
            .into_iter()
            .map(|v| {
                let desc = evidence.volumes.get(&v);
                let series = Metric::ALL
                    .iter()
                    .filter(|m| m.dimensions() != crate::metric::DimensionSet::Instance)
                    .filter_map(|&m| evidence.series(m, &id, &v).map(|s| (m, s)))
                    .collect();
                VolumeView {
                    limits: desc.and_then(limits::volume_limits),
                    status: evidence.statuses.get(&v),
                    desc,
                    series,
                    id: v,
                }
            })
            .collect();
        let all: Vec<&Series> = volumes
            .iter()
            .flat_map(|v| v.series.values().copied())
            .chain(instance_series.values().copied())
            .collect();
        // Each series keeps at most MAX_SPAN_MINUTES, but two series of one
        // instance may lie years apart (metrics saved a year and a half
        // apart, a corrupt timestamp): the instance is examined over the
        // newest span only, like each series.
        let newest = all
            .iter()
            .filter_map(|s| s.span())
            .map(|(first, last)| last.min(high).max(first))
            .filter(|&m| m >= low && m <= high)
            .max();
        let floor = newest.map_or(low, |n| n.saturating_sub(MAX_SPAN_MINUTES));
        let cut_before = (floor > low
            && all
                .iter()
                .filter_map(|s| s.span())
                .any(|(first, _)| first.max(low) < floor))
        .then_some(floor);
        let minutes = minutes_with_points(&all, low.max(floor), high);
        Self {
            evidence,
            desc,
            type_limits,
            instance_series,
            volumes,
            minutes,
            cut_before,
            id,
        }
    }

    fn instance_get(&self, metric: Metric) -> Option<&Series> {
        self.instance_series.get(&metric).copied()
    }

    /// Instance demand in the minute: the volumes' sum, or the instance's
    /// own EBS metrics when they say more (they count every volume,
    /// including those without metrics here; 5-minute data is an average
    /// over its period).
    fn instance_demand(&self, m: u32) -> (Option<f64>, Option<f64>) {
        let mut iops = None;
        let mut mibps = None;
        for v in &self.volumes {
            let (i, t) = v.demand(m);
            if let Some(i) = i {
                *iops.get_or_insert(0.0) += i;
            }
            if let Some(t) = t {
                *mibps.get_or_insert(0.0) += t;
            }
        }
        let rate = |metric| self.instance_get(metric).and_then(|s| s.rate(m));
        let both = |a: Option<f64>, b: Option<f64>| match (a, b) {
            (None, None) => None,
            (a, b) => Some(a.unwrap_or(0.0) + b.unwrap_or(0.0)),
        };
        let own_iops = both(rate(Metric::EbsReadOps), rate(Metric::EbsWriteOps));
        let own_mibps =
            both(rate(Metric::EbsReadBytes), rate(Metric::EbsWriteBytes)).map(|b| b / 1_048_576.0);
        let max = |a: Option<f64>, b: Option<f64>| match (a, b) {
            (Some(a), Some(b)) => Some(a.max(b)),
            (a, b) => a.or(b),
        };
        (max(iops, own_iops), max(mibps, own_mibps))
    }

    fn balance_spent(&self, dim: Dimension, m: u32) -> bool {
        let metric = match dim {
            Dimension::Iops => Metric::EbsIoBalance,
            Dimension::Throughput => Metric::EbsByteBalance,
        };
        self.instance_get(metric)
            .and_then(|s| s.covering(m))
            .is_some_and(|b| f64::from(b) <= SPENT_PERCENT)
    }

    /// The instance's ceiling in force in the minute for a dimension.
    fn instance_ceiling(&self, m: u32, dim: Dimension) -> Option<(f64, LimitSource)> {
        let t = self.type_limits?;
        let maximum = pick(&t.maximum, dim);
        let baseline = pick(&t.baseline, dim);
        match (baseline, maximum) {
            (Some(b), Some(x)) if b < x && self.balance_spent(dim, m) => {
                Some((b, LimitSource::InstanceBaseline))
            }
            (_, Some(x)) => Some((x, LimitSource::InstanceMaximum)),
            (Some(b), None) => Some((b, LimitSource::InstanceMaximum)),
            (None, None) => None,
        }
    }

    fn instance_check(&self, dim: Dimension, m: u32) -> Option<bool> {
        let metric = match dim {
            Dimension::Iops => Metric::InstanceEbsIopsExceededCheck,
            Dimension::Throughput => Metric::InstanceEbsThroughputExceededCheck,
        };
        self.instance_get(metric)
            .and_then(|s| s.covering(m))
            .map(|v| v >= 0.5)
    }

    fn restore(&self, v: &VolumeView) -> Option<Restore> {
        let desc = v.desc?;
        let snapshot = desc.snapshot_id.as_ref()?;
        let fsr = desc.zone.as_ref().and_then(|z| {
            self.evidence
                .fast_restores
                .get(&(snapshot.clone(), z.clone()))
        });
        // FastRestored is the volume's own word; an FSR enabled before the
        // volume was created says the same when an older CLI omits it.
        let fast = desc.fast_restored.unwrap_or_else(|| {
            matches!(fsr, Some(f) if f.state == FsrState::Enabled
                && matches!((f.enabled_time, desc.create_time), (Some(e), Some(c)) if e <= c))
        });
        let init = v.status.and_then(|s| s.initialization.as_ref());
        Some(Restore {
            facts: InitializationFacts {
                snapshot_id: Some(snapshot.to_string()),
                fast_restored: desc.fast_restored.or(Some(fast).filter(|f| *f)),
                progress: init.and_then(|i| i.progress),
                estimated_seconds_left: init.and_then(|i| i.seconds_left),
            },
            done_at: self
                .evidence
                .initialized
                .get(&v.id)
                .map(|t| minute_floor(*t)),
            fast,
        })
    }

    /// Walks the minutes.
    fn tally(&self) -> Tally {
        let mut tally = Tally::default();
        let restores: Vec<Option<Restore>> = self.volumes.iter().map(|v| self.restore(v)).collect();
        for &m in &self.minutes {
            let mut reached: Vec<Reach> = Vec::new();
            for v in &self.volumes {
                if v.check(Metric::VolumeStalledIoCheck, m) == Some(true) {
                    tally.stalled.entry(v.id.clone()).or_default().push(m);
                }
                let (iops, mibps) = v.demand(m);
                for (dim, demand, check) in [
                    (
                        Dimension::Iops,
                        iops,
                        v.check(Metric::VolumeIopsExceededCheck, m),
                    ),
                    (
                        Dimension::Throughput,
                        mibps,
                        v.check(Metric::VolumeThroughputExceededCheck, m),
                    ),
                ] {
                    let ceiling = v.ceiling(m, dim);
                    let fallback = if v.burst_spent(m) {
                        LimitSource::VolumeBurstBaseline
                    } else {
                        LimitSource::Volume
                    };
                    if let (Some(d), Some((c, s))) = (demand, ceiling) {
                        let candidate = Closest {
                            ratio: d / c,
                            ceiling: c,
                            source: s,
                            volume: Some(v.id.clone()),
                        };
                        closest(&mut tally, dim, candidate);
                    }
                    let state = judge(check, demand, ceiling, fallback, dim, Some(&v.id));
                    record(
                        state,
                        m,
                        || format!("the limits of {}", v.id),
                        &mut reached,
                        &mut tally,
                    );
                }
            }
            let (iops, mibps) = self.instance_demand(m);
            for (dim, demand) in [(Dimension::Iops, iops), (Dimension::Throughput, mibps)] {
                let ceiling = self.instance_ceiling(m, dim);
                let fallback = if self.balance_spent(dim, m) {
                    LimitSource::InstanceBaseline
                } else {
                    LimitSource::InstanceMaximum
                };
                if let (Some(d), Some((c, s))) = (demand, ceiling) {
                    let candidate = Closest {
                        ratio: d / c,
                        ceiling: c,
                        source: s,
                        volume: None,
                    };
                    closest(&mut tally, dim, candidate);
                }
                let state = judge(
                    self.instance_check(dim, m),
                    demand,
                    ceiling,
                    fallback,
                    dim,
                    None,
                );
                record(
                    state,
                    m,
                    || "the instance type's EBS limits".to_owned(),
                    &mut reached,
                    &mut tally,
                );
            }
            reached.sort_by_key(Reach::rank);
            if let Some(binding) = reached.into_iter().next() {
                tally
                    .bound
                    .entry(binding.cause())
                    .or_default()
                    .push((m, binding));
                continue;
            }
            for (v, restore) in self.volumes.iter().zip(&restores) {
                let pending = restore
                    .as_ref()
                    .filter(|r| !r.fast && r.done_at.is_none_or(|d| m < d));
                match (v.read_latency(m), pending) {
                    (Some((ms, reads)), Some(_))
                        if reads >= MIN_READS_PER_SECOND && ms >= v.slow_read_ms() =>
                    {
                        tally.initializing.entry(v.id.clone()).or_default().push(m);
                    }
                    (Some((ms, reads)), None)
                        if reads >= MIN_READS_PER_SECOND && ms >= v.slow_read_ms() =>
                    {
                        tally.unexplained.push((v.id.clone(), m, ms));
                    }
                    (None, Some(_)) if v.demand(m).0.is_some_and(|d| d >= MIN_READS_PER_SECOND) => {
                        *tally.latency_unknown.entry(v.id.clone()).or_default() += 1;
                    }
                    _ => {}
                }
            }
        }
        tally
    }

    fn finding(&self) -> Finding {
        let tally = self.tally();
        let mut counts: BTreeMap<Cause, usize> = tally
            .bound
            .iter()
            .map(|(c, minutes)| (*c, minutes.len()))
            .collect();
        let init_minutes: BTreeSet<u32> = tally.initializing.values().flatten().copied().collect();
        if !init_minutes.is_empty() {
            counts.insert(Cause::VolumeInitializing, init_minutes.len());
        }
        let stalled_by_status: Vec<VolumeId> = self
            .volumes
            .iter()
            .filter(|v| v.status.and_then(|s| s.io_performance.as_deref()) == Some("stalled"))
            .map(|v| v.id.clone())
            .collect();
        let cause = if !tally.stalled.is_empty() || !stalled_by_status.is_empty() {
            Cause::VolumeIoStalled
        } else {
            counts
                .iter()
                .max_by(|a, b| a.1.cmp(b.1).then(b.0.cmp(a.0)))
                .map(|(c, _)| *c)
                .unwrap_or(Cause::NotEbsBound)
        };
        let contributing: Vec<Cause> = counts.keys().copied().filter(|c| *c != cause).collect();
        let mut f = match cause {
            Cause::VolumeIoStalled => self.stalled(&tally, &stalled_by_status),
            Cause::VolumeInitializing => self.initializing(&tally),
            Cause::NotEbsBound => self.below(&tally),
            c => self.bound(&tally, c),
        };
        for also in &contributing {
            self.add_fix_of(&mut f, &tally, *also);
        }
        f.contributing = contributing;
        f.evidence.extend(self.evidence_lines(&tally));
        f
    }

    /// Adds the fix of a contributing cause as a last step (with its
    /// command): the primary fix alone would leave it to bind next.
    fn add_fix_of(&self, f: &mut Finding, tally: &Tally, cause: Cause) {
        let minutes = match cause {
            Cause::VolumeInitializing => tally
                .initializing
                .values()
                .flatten()
                .collect::<BTreeSet<_>>()
                .len(),
            c => tally.bound.get(&c).map_or(0, Vec::len),
        };
        let volume = match cause {
            Cause::VolumeInitializing => tally
                .initializing
                .iter()
                .max_by_key(|(_, m)| m.len())
                .map(|(v, _)| v.clone()),
            c => tally
                .bound
                .get(&c)
                .and_then(|b| b.iter().find_map(|(_, r)| r.volume.clone())),
        };
        let view = volume.as_ref().and_then(|v| self.volume(v));
        let region = f.region.as_deref();
        let fix = match (cause, view) {
            (Cause::VolumeIopsLimit | Cause::VolumeThroughputLimit, Some(v)) => {
                remedy::volume_limit(v.desc, &v.id, self.peak_volume(v), self.type_limits, region)
            }
            (Cause::VolumeBurstExhausted, Some(v)) => {
                remedy::volume_burst(v.desc, &v.id, self.peak_volume(v), region)
            }
            (Cause::VolumeInitializing, Some(v)) => remedy::initialize(
                v.desc,
                &v.id,
                self.desc,
                self.restore(v).as_ref().map(|r| &r.facts),
                None,
                None,
                region,
            ),
            (
                Cause::InstanceEbsIopsLimit
                | Cause::InstanceEbsThroughputLimit
                | Cause::InstanceEbsBurstExhausted,
                _,
            ) if f.remediation.kind == crate::finding::RemediationKind::ChangeInstanceType => {
                return;
            }
            (
                Cause::InstanceEbsIopsLimit
                | Cause::InstanceEbsThroughputLimit
                | Cause::InstanceEbsBurstExhausted,
                _,
            ) => remedy::instance_type(
                &self.id,
                self.desc,
                self.type_limits,
                &self.evidence.types,
                self.peak_instance(),
                if cause == Cause::InstanceEbsBurstExhausted {
                    LimitSource::InstanceBaseline
                } else {
                    LimitSource::InstanceMaximum
                },
                region,
            ),
            _ => return,
        };
        let command = fix
            .commands
            .iter()
            .find(|c| !f.remediation.commands.contains(c))
            .cloned();
        f.remediation.steps.push(format!(
            "Also seen in the window: {} for {minutes} minute{}{}; it would bind next. {}",
            cause.as_str(),
            if minutes == 1 { "" } else { "s" },
            volume.map(|v| format!(" on {v}")).unwrap_or_default(),
            command.as_ref().map_or_else(
                || fix.steps.first().cloned().unwrap_or_default(),
                |c| format!("Fix: {c}")
            )
        ));
        f.remediation.commands.extend(command);
    }

    fn base(&self, cause: Cause) -> Finding {
        let region = self
            .desc
            .and_then(|d| d.zone.as_ref())
            .or_else(|| {
                self.volumes
                    .iter()
                    .find_map(|v| v.desc.and_then(|d| d.zone.as_ref()))
            })
            .and_then(|z| z.region());
        Finding {
            instance_id: self.id.clone(),
            instance_type: self.desc.and_then(|d| d.instance_type.clone()),
            account: self.desc.and_then(|d| d.account.clone()),
            region,
            cause,
            contributing: Vec::new(),
            volume_ids: self.volumes.iter().map(|v| v.id.clone()).collect(),
            window: self.examined(),
            minutes_at_limit: 0,
            peak_demand: Rate::default(),
            limit: Limit::default(),
            read_latency_ms: None,
            initialization: None,
            evidence: Vec::new(),
            missing: Vec::new(),
            summary: String::new(),
            remediation: remedy::collect_data(&self.id, &[]),
            name: self.desc.and_then(|d| d.name.clone()),
            chart: Chart::default(),
        }
    }

    fn examined(&self) -> Option<Window> {
        Some(Window {
            from: time_of(*self.minutes.first()?),
            to: time_of(*self.minutes.last()?),
        })
    }

    fn peak_instance(&self) -> Rate {
        let mut peak = Rate::default();
        for &m in &self.minutes {
            let (i, t) = self.instance_demand(m);
            bump(&mut peak, i, t);
        }
        rounded(peak)
    }

    fn peak_volume(&self, v: &VolumeView) -> Rate {
        let mut peak = Rate::default();
        for &m in &self.minutes {
            let (i, t) = v.demand(m);
            bump(&mut peak, i, t);
        }
        rounded(peak)
    }

    fn volume(&self, id: &VolumeId) -> Option<&VolumeView<'e>> {
        self.volumes.iter().find(|v| &v.id == id)
    }

    /// Average read latency over some minutes, weighted by reads.
    fn latency_over(&self, volumes: &[&VolumeView], minutes: &BTreeSet<u32>) -> Option<f64> {
        let (mut weighted, mut reads) = (0.0, 0.0);
        for v in volumes {
            for &m in minutes {
                if let Some((ms, r)) = v.read_latency(m) {
                    weighted += ms * r;
                    reads += r;
                }
            }
        }
        (reads > 0.0).then(|| round(weighted / reads))
    }

    fn window_of(minutes: &BTreeSet<u32>) -> Option<Window> {
        Some(Window {
            from: time_of(*minutes.first()?),
            to: time_of(*minutes.last()?),
        })
    }

    fn chart(&self, dim: Dimension, volume: Option<&VolumeView>) -> Chart {
        let points = self
            .minutes
            .iter()
            .map(|&m| {
                let (demand, ceiling) = match volume {
                    Some(v) => {
                        let (i, t) = v.demand(m);
                        (pick_rate(i, t, dim), v.ceiling(m, dim).map(|c| c.0))
                    }
                    None => {
                        let (i, t) = self.instance_demand(m);
                        (
                            pick_rate(i, t, dim),
                            self.instance_ceiling(m, dim).map(|c| c.0),
                        )
                    }
                };
                (time_of(m), demand, ceiling)
            })
            .collect();
        Chart {
            dimension: Some(dim),
            points,
        }
    }

    fn bound(&self, tally: &Tally, cause: Cause) -> Finding {
        let mut f = self.base(cause);
        let minutes_bound = &tally.bound[&cause];
        let minutes: BTreeSet<u32> = minutes_bound.iter().map(|(m, _)| *m).collect();
        f.minutes_at_limit = minutes.len() as u32;
        f.window = Self::window_of(&minutes);
        // The reach seen most often names the volume and dimension.
        let mut by_target: BTreeMap<(Option<VolumeId>, Dimension), usize> = BTreeMap::new();
        for (_, r) in minutes_bound {
            *by_target.entry((r.volume.clone(), r.dim)).or_default() += 1;
        }
        let ((volume, dim), _) = by_target
            .iter()
            .max_by(|a, b| a.1.cmp(b.1).then(b.0.cmp(a.0)))
            .map(|(k, n)| (k.clone(), *n))
            .unwrap_or(((None, Dimension::Iops), 0));
        let first = minutes_bound
            .iter()
            .find(|(_, r)| r.volume == volume && r.dim == dim)
            .map(|(_, r)| r.clone());
        let source = first.as_ref().map_or(LimitSource::Volume, |r| r.source);
        let view = volume.as_ref().and_then(|v| self.volume(v));
        if cause.is_volume_level() {
            let mut ids: Vec<VolumeId> = minutes_bound
                .iter()
                .filter_map(|(_, r)| r.volume.clone())
                .collect();
            ids.sort();
            ids.dedup();
            f.volume_ids = ids;
        }
        let limits = match (view, source) {
            (Some(v), LimitSource::VolumeBurstBaseline) => v.limits.and_then(|l| l.spent),
            (Some(v), _) => v.limits.map(|l| l.normal),
            (None, LimitSource::InstanceBaseline) => self.type_limits.map(|t| t.baseline),
            (None, _) => self.type_limits.map(|t| t.maximum),
        };
        f.limit = Limit {
            source: Some(source),
            iops: limits.and_then(|c| c.iops).map(round),
            throughput_mibps: limits.and_then(|c| c.throughput_mibps).map(round),
        };
        f.peak_demand = match view {
            Some(v) => self.peak_volume(v),
            None => self.peak_instance(),
        };
        let latency_volumes: Vec<&VolumeView> = match view {
            Some(v) => vec![v],
            None => self.volumes.iter().collect(),
        };
        f.read_latency_ms = self.latency_over(&latency_volumes, &minutes);
        f.initialization = view
            .or(self.volumes.first())
            .and_then(|v| self.restore(v))
            .map(|r| r.facts);
        f.chart = self.chart(dim, view);
        let what = match (&volume, dim) {
            (Some(v), Dimension::Iops) => format!("{v}'s IOPS"),
            (Some(v), Dimension::Throughput) => format!("{v}'s throughput"),
            (None, Dimension::Iops) => "the instance's EBS IOPS".to_owned(),
            (None, Dimension::Throughput) => "the instance's EBS throughput".to_owned(),
        };
        let ceiling_text = first
            .as_ref()
            .and_then(|r| r.ceiling)
            .map(|c| format_rate(c, dim))
            .unwrap_or_else(|| "its limit (value unknown: its ExceededCheck said so)".to_owned());
        let peak = match dim {
            Dimension::Iops => f.peak_demand.iops,
            Dimension::Throughput => f.peak_demand.throughput_mibps,
        }
        .map(|p| format_rate(p, dim))
        .unwrap_or_else(|| "unknown".to_owned());
        let type_text = self
            .desc
            .and_then(|d| d.instance_type.as_ref())
            .map(|t| format!(" ({t})"))
            .unwrap_or_default();
        let why = match source {
            LimitSource::Volume => String::new(),
            LimitSource::VolumeBurstBaseline => {
                " after its burst credits ran out (BurstBalance at 0)".to_owned()
            }
            LimitSource::InstanceMaximum => String::new(),
            LimitSource::InstanceBaseline => format!(
                " after its EBS burst credits ran out ({} at 0)",
                match dim {
                    Dimension::Iops => "EBSIOBalance%",
                    Dimension::Throughput => "EBSByteBalance%",
                }
            ),
        };
        f.summary = format!(
            "{}{type_text} was held at {what} ceiling of {ceiling_text}{why} for {} minute{} between {} and {} UTC; demand peaked at {peak}.",
            self.id,
            f.minutes_at_limit,
            if f.minutes_at_limit == 1 { "" } else { "s" },
            hm(f.window.map(|w| w.from)),
            hm(f.window.map(|w| w.to)),
        );
        f.remediation = match (view, cause) {
            (Some(v), Cause::VolumeBurstExhausted) => {
                remedy::volume_burst(v.desc, &v.id, self.peak_volume(v), f.region.as_deref())
            }
            (Some(v), _) => remedy::volume_limit(
                v.desc,
                &v.id,
                self.peak_volume(v),
                self.type_limits,
                f.region.as_deref(),
            ),
            (None, _) => remedy::instance_type(
                &self.id,
                self.desc,
                self.type_limits,
                &self.evidence.types,
                self.peak_instance(),
                source,
                f.region.as_deref(),
            ),
        };
        f
    }

    fn initializing(&self, tally: &Tally) -> Finding {
        let mut f = self.base(Cause::VolumeInitializing);
        let minutes: BTreeSet<u32> = tally.initializing.values().flatten().copied().collect();
        f.minutes_at_limit = minutes.len() as u32;
        f.window = Self::window_of(&minutes);
        f.volume_ids = tally.initializing.keys().cloned().collect();
        let main = tally
            .initializing
            .iter()
            .max_by(|a, b| a.1.len().cmp(&b.1.len()).then(b.0.cmp(a.0)))
            .and_then(|(id, _)| self.volume(id));
        let Some(v) = main else {
            return f;
        };
        let restore = self.restore(v);
        f.initialization = restore.as_ref().map(|r| r.facts.clone());
        f.peak_demand = self.peak_volume(v);
        f.read_latency_ms = self.latency_over(&[v], &minutes);
        f.limit = Limit {
            source: None,
            iops: v.limits.and_then(|l| l.normal.iops).map(round),
            throughput_mibps: v.limits.and_then(|l| l.normal.throughput_mibps).map(round),
        };
        f.chart = self.chart(Dimension::Throughput, Some(v));
        let progress = f
            .initialization
            .as_ref()
            .and_then(|i| i.progress)
            .map(|p| format!(", {p}% initialized"))
            .unwrap_or_default();
        let snapshot = f
            .initialization
            .as_ref()
            .and_then(|i| i.snapshot_id.clone())
            .unwrap_or_default();
        f.summary = format!(
            "{} read {} at {} ms on average for {} minute{} between {} and {} UTC while demand stayed below every ceiling (peak {}, {}): the volume, restored from {snapshot} without fast snapshot restore{progress}, still fetches blocks from S3 on first read.",
            self.id,
            v.id,
            f.read_latency_ms.map_or_else(|| "?".to_owned(), |l| format!("{l:.1}")),
            f.minutes_at_limit,
            if f.minutes_at_limit == 1 { "" } else { "s" },
            hm(f.window.map(|w| w.from)),
            hm(f.window.map(|w| w.to)),
            f.peak_demand.iops.map_or_else(|| "? IOPS".to_owned(), |i| format_rate(i, Dimension::Iops)),
            f.peak_demand
                .throughput_mibps
                .map_or_else(|| "? MiB/s".to_owned(), |t| format_rate(t, Dimension::Throughput)),
        );
        let fsr = v.desc.and_then(|d| {
            let z = d.zone.as_ref()?;
            self.evidence
                .fast_restores
                .get(&(d.snapshot_id.clone()?, z.clone()))
        });
        let throughput = v.limits.and_then(|l| l.normal.throughput_mibps);
        let instance_throughput = self.type_limits.and_then(|t| t.baseline.throughput_mibps);
        f.remediation = remedy::initialize(
            v.desc,
            &v.id,
            self.desc,
            restore.as_ref().map(|r| &r.facts),
            fsr,
            [throughput, instance_throughput]
                .into_iter()
                .flatten()
                .reduce(f64::min),
            f.region.as_deref(),
        );
        f
    }

    fn stalled(&self, tally: &Tally, by_status: &[VolumeId]) -> Finding {
        let mut f = self.base(Cause::VolumeIoStalled);
        let minutes: BTreeSet<u32> = tally.stalled.values().flatten().copied().collect();
        let mut ids: Vec<VolumeId> = tally
            .stalled
            .keys()
            .cloned()
            .chain(by_status.iter().cloned())
            .collect();
        ids.sort();
        ids.dedup();
        f.volume_ids = ids.clone();
        f.minutes_at_limit = minutes.len() as u32;
        if !minutes.is_empty() {
            f.window = Self::window_of(&minutes);
        }
        f.peak_demand = self.peak_instance();
        let views: Vec<&VolumeView> = ids.iter().filter_map(|i| self.volume(i)).collect();
        f.read_latency_ms = self.latency_over(&views, &minutes);
        let list = ids
            .iter()
            .map(VolumeId::to_string)
            .collect::<Vec<_>>()
            .join(", ");
        f.summary = if minutes.is_empty() {
            format!("{}: describe-volume-status reports the I/O of {list} as stalled: an impairment on the AWS side, not a limit.", self.id)
        } else {
            format!(
                "{}: {list} stopped completing I/O (VolumeStalledIOCheck = 1) for {} minute{} between {} and {} UTC: an impairment on the AWS side, not a limit.",
                self.id,
                f.minutes_at_limit,
                if f.minutes_at_limit == 1 { "" } else { "s" },
                hm(f.window.map(|w| w.from)),
                hm(f.window.map(|w| w.to)),
            )
        };
        f.remediation = remedy::stalled(&self.id, &ids, f.region.as_deref());
        f
    }

    /// No cause: `not_ebs_bound` when everything needed was there,
    /// otherwise `insufficient_data` naming what was missing.
    fn below(&self, tally: &Tally) -> Finding {
        let mut missing = Vec::new();
        let mut commands = Vec::new();
        let region = self.base(Cause::NotEbsBound).region;
        let region_arg = region
            .as_deref()
            .map(|r| format!(" --region {r}"))
            .unwrap_or_default();
        let has_demand = self.minutes.iter().any(|&m| {
            let (i, t) = self.instance_demand(m);
            i.is_some() || t.is_some()
        });
        if self.minutes.is_empty() || !has_demand {
            missing.push(format!(
                "CloudWatch metrics of {} and its volumes (VolumeReadOps, VolumeWriteOps, VolumeReadBytes, VolumeWriteBytes... or EBSReadOps...) in the window",
                self.id
            ));
            commands.push(format!(
                "start-doctor ebs query describe/ > request.json && aws cloudwatch get-metric-data --cli-input-json file://request.json{region_arg} > metrics.json"
            ));
        }
        if self.desc.is_none() {
            missing.push(format!(
                "aws ec2 describe-instances output for {} (its type, zone and volumes)",
                self.id
            ));
            commands.push(format!("aws ec2 describe-instances --instance-ids {}{region_arg} > describe/instances.json", self.id));
        }
        for (what, minutes) in &tally.unknown {
            let minutes = minutes.len();
            if what.starts_with("the limits of ") {
                let volume = what.trim_start_matches("the limits of ");
                missing.push(format!(
                    "{what} ({minutes} minutes with demand): describe-volumes output giving its type, size and provisioned IOPS and throughput, or the Nitro VolumeIOPSExceededCheck/VolumeThroughputExceededCheck metrics"
                ));
                commands.push(format!("aws ec2 describe-volumes --volume-ids {volume}{region_arg} > describe/volumes.json"));
            } else {
                let t = self
                    .desc
                    .and_then(|d| d.instance_type.as_ref())
                    .map(|t| t.to_string());
                missing.push(format!(
                    "{what}{} ({minutes} minutes with demand): describe-instance-types output, or the Nitro InstanceEBSIOPSExceededCheck/InstanceEBSThroughputExceededCheck metrics",
                    t.as_ref().map(|t| format!(" ({t})")).unwrap_or_default()
                ));
                match t {
                    Some(t) => commands.push(format!("aws ec2 describe-instance-types --instance-types {t}{region_arg} > describe/instance-types.json")),
                    None => commands.push(format!("aws ec2 describe-instances --instance-ids {}{region_arg} > describe/instances.json", self.id)),
                }
            }
        }
        for (volume, minutes) in &tally.latency_unknown {
            missing.push(format!(
                "the read latency of {volume}, restored from a snapshot and perhaps still initializing ({minutes} minutes with reads): VolumeTotalReadTime with VolumeReadOps, or VolumeAvgReadLatency"
            ));
        }
        if !tally.unexplained.is_empty() {
            let mut vols: Vec<&VolumeId> = tally.unexplained.iter().map(|(v, _, _)| v).collect();
            vols.sort();
            vols.dedup();
            let worst = tally
                .unexplained
                .iter()
                .map(|(_, _, ms)| *ms)
                .fold(0.0, f64::max);
            missing.push(format!(
                "an explanation for {} minutes of slow reads (up to {worst:.1} ms) on {} below every ceiling, on a volume that is not initializing: check `aws ec2 describe-volume-status` (io-performance), VolumeQueueLength and the I/O size",
                tally.unexplained.len(),
                vols.iter().map(|v| v.to_string()).collect::<Vec<_>>().join(", ")
            ));
            commands.push(format!(
                "aws ec2 describe-volume-status --volume-ids {}{region_arg}",
                vols.iter()
                    .map(|v| v.to_string())
                    .collect::<Vec<_>>()
                    .join(" ")
            ));
        }
        let mut f;
        if missing.is_empty() {
            f = self.base(Cause::NotEbsBound);
            f.peak_demand = self.peak_instance();
            f.read_latency_ms = self.latency_over(
                &self.volumes.iter().collect::<Vec<_>>(),
                &self.minutes.iter().copied().collect(),
            );
            let iops = tally.closest.get(&Dimension::Iops);
            let tput = tally.closest.get(&Dimension::Throughput);
            f.limit = Limit {
                source: None,
                iops: iops.map(|c| round(c.ceiling)),
                throughput_mibps: tput.map(|c| round(c.ceiling)),
            };
            let headroom = |c: Option<&Closest>, dim| {
                c.map(|c| {
                    format!(
                        "{:.0}% of the nearest {} ceiling ({}, {}{})",
                        c.ratio * 100.0,
                        match dim {
                            Dimension::Iops => "IOPS",
                            Dimension::Throughput => "throughput",
                        },
                        format_rate(c.ceiling, dim),
                        source_text(c.source),
                        c.volume
                            .as_ref()
                            .map(|v| format!(" {v}"))
                            .unwrap_or_default()
                    )
                })
                .unwrap_or_else(|| "no ceiling to compare".to_owned())
            };
            let (dim, nearest) = match (iops, tput) {
                (Some(i), Some(t)) if t.ratio > i.ratio => (Dimension::Throughput, Some(t)),
                (None, Some(t)) => (Dimension::Throughput, Some(t)),
                (i, _) => (Dimension::Iops, i),
            };
            let view = nearest
                .and_then(|c| c.volume.as_ref())
                .and_then(|v| self.volume(v));
            f.chart = self.chart(dim, view);
            f.summary = format!(
                "{} is not held by EBS: between {} and {} UTC demand peaked at {} ({}) and {} ({}), below every ceiling, with normal read latency.",
                self.id,
                hm(f.window.map(|w| w.from)),
                hm(f.window.map(|w| w.to)),
                f.peak_demand.iops.map_or_else(|| "? IOPS".to_owned(), |i| format_rate(i, Dimension::Iops)),
                headroom(iops, Dimension::Iops),
                f.peak_demand
                    .throughput_mibps
                    .map_or_else(|| "? MiB/s".to_owned(), |t| format_rate(t, Dimension::Throughput)),
                headroom(tput, Dimension::Throughput),
            );
            f.remediation = remedy::look_elsewhere(&self.id);
        } else {
            f = self.base(Cause::InsufficientData);
            f.peak_demand = self.peak_instance();
            f.summary = format!(
                "{}: not enough evidence to say whether EBS holds it back: {}.",
                self.id,
                missing
                    .iter()
                    .map(|m| m
                        .split(" (")
                        .next()
                        .unwrap_or(m)
                        .split(':')
                        .next()
                        .unwrap_or(m)
                        .to_owned())
                    .collect::<Vec<_>>()
                    .join("; ")
            );
            f.remediation = remedy::collect_data(&self.id, &commands);
            f.missing = missing;
        }
        f
    }

    fn evidence_lines(&self, tally: &Tally) -> Vec<String> {
        let mut lines = Vec::new();
        if let Some(d) = self.desc {
            let vols = d
                .volumes
                .iter()
                .map(|(v, dev)| match dev {
                    Some(dev) => format!("{v} ({dev})"),
                    None => v.to_string(),
                })
                .collect::<Vec<_>>()
                .join(", ");
            lines.push(format!(
                "describe-instances: {} {} in {}, {}; volumes {}",
                self.id,
                d.instance_type
                    .as_ref()
                    .map_or("(type unknown)", |t| t.as_str()),
                d.zone.as_ref().map_or("(zone unknown)", |z| z.as_str()),
                d.state.as_deref().unwrap_or("state unknown"),
                if vols.is_empty() {
                    "none listed".to_owned()
                } else {
                    vols
                }
            ));
        }
        if let Some(t) = self.type_limits {
            let mb = |v: Option<f64>, mib: Option<f64>| match (v, mib) {
                (Some(mb), Some(mib)) => format!("{mb} MB/s ({mib:.2} MiB/s)"),
                _ => "? MB/s".to_owned(),
            };
            lines.push(format!(
                "describe-instance-types: {} EBS baseline {} IOPS / {}, maximum {} IOPS / {}{}",
                t.instance_type,
                t.baseline.iops.map_or("?".to_owned(), thousands),
                mb(t.baseline_mbps, t.baseline.throughput_mibps),
                t.maximum.iops.map_or("?".to_owned(), thousands),
                mb(t.maximum_mbps, t.maximum.throughput_mibps),
                if t.bursts() {
                    " (the maximum for 30 minutes a day, then the baseline)"
                } else {
                    ""
                }
            ));
        }
        for v in &self.volumes {
            lines.extend(self.volume_lines(v));
        }
        lines.extend(series_lines(
            &format!("AWS/EC2 {}", self.id),
            &self.instance_series,
        ));
        if let Some(floor) = self.cut_before {
            lines.push(format!(
                "points before {} UTC not examined: more than {} days before the newest \
                 (give --since and --until to examine an older window)",
                hm(Some(time_of(floor))),
                MAX_SPAN_MINUTES / (24 * 60)
            ));
        }
        for (dim, name) in [
            (Dimension::Iops, "EBSIOBalance%"),
            (Dimension::Throughput, "EBSByteBalance%"),
        ] {
            if let Some(first) = self.minutes.iter().find(|&&m| self.balance_spent(dim, m)) {
                lines.push(format!(
                    "{name} of {} spent (≤ {SPENT_PERCENT}%) from {} UTC",
                    self.id,
                    hm(Some(time_of(*first)))
                ));
            }
        }
        lines.extend(
            self.checks_line(
                self.id.as_str(),
                [
                    Metric::InstanceEbsIopsExceededCheck,
                    Metric::InstanceEbsThroughputExceededCheck,
                ]
                .into_iter()
                .filter_map(|m| Some((m, self.instance_get(m)?))),
            ),
        );
        let vols: BTreeSet<&VolumeId> = self.volumes.iter().map(|v| &v.id).collect();
        for alarm in &self.evidence.alarms {
            if alarm.instances.contains(&self.id) || alarm.volumes.iter().any(|v| vols.contains(v))
            {
                lines.push(format!(
                    "CloudWatch alarm {} went {} at {} ({})",
                    start_doctor_core::text::one_line(&alarm.name),
                    alarm.state,
                    alarm.time.to_rfc3339(),
                    alarm.metrics.join(", ")
                ));
            }
        }
        for (key, why) in &self.evidence.incomplete {
            let mine = match &key.resource {
                crate::metric::Resource::Instance(i)
                | crate::metric::Resource::InstanceVolume(i, _) => i == &self.id,
                crate::metric::Resource::Volume(v) => vols.contains(v),
            };
            if mine {
                lines.push(format!("{key}: {why}; points may be missing"));
            }
        }
        if self.type_limits.is_none() && tally.unknown.is_empty() && !self.minutes.is_empty() {
            lines.push("the instance type's EBS limits were not given (describe-instance-types); the Nitro ExceededCheck metrics stood in for them".to_owned());
        }
        lines
    }

    /// What was read about one volume.
    fn volume_lines(&self, v: &VolumeView) -> Vec<String> {
        let mut lines = Vec::new();
        if let Some(d) = v.desc {
            lines.push(format!(
                "describe-volumes: {} {} {} GiB, {} IOPS, {} MiB/s{}{}{}",
                v.id,
                d.volume_type.as_ref().map_or("?", |t| t.as_str()),
                d.size_gib.map_or("?".to_owned(), |s| s.to_string()),
                d.iops.map_or("?".to_owned(), |i| thousands(i as f64)),
                d.throughput_mibps.map_or_else(
                    || v.limits
                        .and_then(|l| l.normal.throughput_mibps)
                        .map_or("?".to_owned(), |t| format!("{t:.0}")),
                    |t| t.to_string()
                ),
                d.snapshot_id
                    .as_ref()
                    .map(|s| format!(", from {s}"))
                    .unwrap_or_default(),
                d.fast_restored
                    .map(|f| format!(", FastRestored {f}"))
                    .unwrap_or_default(),
                d.initialization_rate
                    .map(|r| format!(", initialization rate {r} MiB/s"))
                    .unwrap_or_default(),
            ));
            if let (Some(snap), Some(zone)) = (&d.snapshot_id, &d.zone) {
                if let Some(fsr) = self
                    .evidence
                    .fast_restores
                    .get(&(snap.clone(), zone.clone()))
                {
                    lines.push(format!(
                        "describe-fast-snapshot-restores: {snap} in {zone}: {}",
                        fsr.state.as_str()
                    ));
                }
            }
        }
        if let Some(s) = v.status {
            if let Some(i) = &s.initialization {
                lines.push(format!(
                    "describe-volume-status: {} initialization {}{}{}",
                    v.id,
                    match &i.kind {
                        Some(crate::model::InitializationType::Default) => "default",
                        Some(crate::model::InitializationType::ProvisionedRate) =>
                            "provisioned-rate",
                        Some(crate::model::InitializationType::VolumeCopy) => "volume-copy",
                        Some(crate::model::InitializationType::Other(o)) => o.as_str(),
                        None => "(type not given)",
                    },
                    i.progress
                        .map(|p| format!(", {p}% done"))
                        .unwrap_or_default(),
                    i.seconds_left
                        .map(|s| format!(", about {s} s left"))
                        .unwrap_or_default()
                ));
            }
            match s.io_performance.as_deref() {
                None | Some("normal" | "not-applicable") => {}
                Some(p) => lines.push(format!(
                    "describe-volume-status: {} io-performance {p} (status {})",
                    v.id,
                    s.status.as_deref().unwrap_or("?")
                )),
            }
        }
        if let Some(t) = self.evidence.initialized.get(&v.id) {
            lines.push(format!(
                "EBS Volume Notification: initializeVolume succeeded for {} at {}",
                v.id,
                t.to_rfc3339()
            ));
        }
        lines.extend(series_lines(&format!("AWS/EBS {}", v.id), &v.series));
        lines.extend(
            self.checks_line(
                v.id.as_str(),
                [
                    Metric::VolumeIopsExceededCheck,
                    Metric::VolumeThroughputExceededCheck,
                    Metric::VolumeStalledIoCheck,
                ]
                .into_iter()
                .filter_map(|m| Some((m, v.get(m)?))),
            ),
        );
        if let Some(first) = self.minutes.iter().find(|&&m| v.burst_spent(m)) {
            lines.push(format!(
                "BurstBalance of {} spent (≤ {SPENT_PERCENT}%) from {} UTC",
                v.id,
                hm(Some(time_of(*first)))
            ));
        }
        lines
    }

    /// One line: how many minutes each 0/1 check said 1.
    fn checks_line<'s>(
        &self,
        what: &str,
        checks: impl Iterator<Item = (Metric, &'s Series)>,
    ) -> Option<String> {
        let counts: Vec<String> = checks
            .map(|(metric, s)| {
                let at = self
                    .minutes
                    .iter()
                    .filter(|&&m| s.covering(m).is_some_and(|x| x >= 0.5))
                    .count();
                format!("{} {at}", metric.name())
            })
            .collect();
        (!counts.is_empty()).then(|| {
            format!(
                "minutes at 1 for {what} (of {}): {}",
                self.minutes.len(),
                counts.join(", ")
            )
        })
    }
}

/// The minutes within [low, high] that any of the series covers, in
/// order: one pass over the points into a bitmap of the span (the minutes
/// of a fleet's day are millions; a set would cost more than the rules).
fn minutes_with_points(series: &[&Series], low: u32, high: u32) -> Vec<u32> {
    let spans: Vec<(u32, u32)> = series
        .iter()
        .filter_map(|s| {
            let (first, last) = s.span()?;
            Some((
                first.max(low),
                last.saturating_add(s.resolution() - 1).min(high),
            ))
        })
        .filter(|(a, b)| a <= b)
        .collect();
    let (Some(start), Some(end)) = (
        spans.iter().map(|s| s.0).min(),
        spans.iter().map(|s| s.1).max(),
    ) else {
        return Vec::new();
    };
    let mut seen = vec![false; (end - start) as usize + 1];
    for s in series {
        let res = s.resolution();
        for (m, _) in s.points() {
            for k in 0..res {
                let minute = m.saturating_add(k);
                if (start..=end).contains(&minute) {
                    seen[(minute - start) as usize] = true;
                }
            }
        }
    }
    seen.iter()
        .enumerate()
        .filter(|(_, s)| **s)
        .map(|(i, _)| start + i as u32)
        .collect()
}

/// One line per resolution: which metrics of a resource were read, and
/// how many minutes each point covers (5 for basic monitoring).
fn series_lines(what: &str, series: &BTreeMap<Metric, &Series>) -> Vec<String> {
    let mut by_resolution: BTreeMap<u32, Vec<&str>> = BTreeMap::new();
    for (metric, s) in series {
        by_resolution
            .entry(s.resolution())
            .or_default()
            .push(metric.name());
    }
    by_resolution
        .into_iter()
        .map(|(res, names)| {
            format!(
                "CloudWatch {what}: {} ({res}-minute points{})",
                names.join(", "),
                if res == 5 { ", basic monitoring" } else { "" }
            )
        })
        .collect()
}

/// Keeps a reached ceiling, or counts a minute whose ceiling is unknown.
fn record(
    state: State,
    minute: u32,
    what: impl FnOnce() -> String,
    reached: &mut Vec<Reach>,
    tally: &mut Tally,
) {
    match state {
        State::At(r) => reached.push(r),
        State::Below => {}
        State::Unknown => {
            tally.unknown.entry(what()).or_default().insert(minute);
        }
    }
}

fn closest(tally: &mut Tally, dim: Dimension, candidate: Closest) {
    match tally.closest.get(&dim) {
        Some(c) if c.ratio >= candidate.ratio => {}
        _ => {
            tally.closest.insert(dim, candidate);
        }
    }
}

fn bump(peak: &mut Rate, iops: Option<f64>, mibps: Option<f64>) {
    if let Some(i) = iops {
        peak.iops = Some(peak.iops.map_or(i, |p| p.max(i)));
    }
    if let Some(t) = mibps {
        peak.throughput_mibps = Some(peak.throughput_mibps.map_or(t, |p| p.max(t)));
    }
}

fn rounded(r: Rate) -> Rate {
    Rate {
        iops: r.iops.map(round),
        throughput_mibps: r.throughput_mibps.map(round),
    }
}

fn pick_rate(iops: Option<f64>, mibps: Option<f64>, dim: Dimension) -> Option<f64> {
    match dim {
        Dimension::Iops => iops,
        Dimension::Throughput => mibps,
    }
}

/// A rate for a sentence: `3,000 IOPS`, `77.49 MiB/s`.
pub fn format_rate(v: f64, dim: Dimension) -> String {
    match dim {
        Dimension::Iops => format!("{} IOPS", thousands(v)),
        Dimension::Throughput => format!("{v:.2} MiB/s"),
    }
}

/// A number rounded to a whole, with thousands separators.
pub fn thousands(v: f64) -> String {
    let n = v.round() as i64;
    let digits = n.unsigned_abs().to_string();
    let mut out = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i) % 3 == 0 {
            out.push(',');
        }
        out.push(c);
    }
    if n < 0 {
        format!("-{out}")
    } else {
        out
    }
}

fn source_text(source: LimitSource) -> &'static str {
    match source {
        LimitSource::Volume => "volume",
        LimitSource::VolumeBurstBaseline => "volume burst baseline",
        LimitSource::InstanceMaximum => "instance maximum",
        LimitSource::InstanceBaseline => "instance baseline",
    }
}

fn hm(t: Option<DateTime<Utc>>) -> String {
    t.map_or_else(
        || "?".to_owned(),
        |t| t.format("%Y-%m-%d %H:%M").to_string(),
    )
}
