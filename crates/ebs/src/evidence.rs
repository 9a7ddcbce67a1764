//! The evidence of a whole run: every document's facts and metrics joined
//! and deduplicated, whatever order the files came in.
//!
//! A metric result is placed by its `Label` when the label names the
//! series (`<Namespace> <MetricName> <Dim>=<Value>...`, the form `ebs
//! query` writes), otherwise by its `Id` through the request that asked
//! for it; so a response can be read without its request, and a request
//! read after its response still joins. Reading is split in two steps so
//! that files can be read in parallel: each file's [`Document`] goes into a
//! [`Collected`], collections merge, and [`Collected::finish`] joins.

use std::collections::{BTreeMap, BTreeSet};

use chrono::{DateTime, Utc};
use serde::Serialize;

use crate::ids::{InstanceId, InstanceType, SnapshotId, VolumeId, Zone};
use crate::metric::{Kind, Metric, SeriesKey};
use crate::model::{Alarm, FastRestore, Instance, TypeLimits, Volume, VolumeStatus};
use crate::read::{Document, MetricResult, Query, QueryTarget, Status};
use crate::series::Series;

/// What the pages of one series said about their completeness.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
struct Completeness {
    complete: bool,
    partial: bool,
    failed: bool,
}

/// Documents gathered, not yet joined. Merge collections read in parallel
/// with [`Collected::merge`], then [`Collected::finish`].
#[derive(Debug, Default)]
pub struct Collected {
    instances: Vec<Instance>,
    volumes: Vec<Volume>,
    types: Vec<TypeLimits>,
    statuses: Vec<VolumeStatus>,
    fast_restores: Vec<FastRestore>,
    initialized: Vec<(VolumeId, DateTime<Utc>)>,
    alarms: Vec<Alarm>,
    queries: Vec<Query>,
    series: BTreeMap<SeriesKey, Series>,
    completeness: BTreeMap<SeriesKey, Completeness>,
    /// Results whose label does not name their series: joined by `Id` at
    /// the end.
    pending: Vec<MetricResult>,
}

impl Collected {
    /// Adds one document (its problems are the caller's to report).
    pub fn add(&mut self, doc: Document) {
        self.instances.extend(doc.instances);
        self.volumes.extend(doc.volumes);
        self.types.extend(doc.instance_types);
        self.statuses.extend(doc.statuses);
        self.fast_restores.extend(doc.fast_restores);
        self.initialized.extend(doc.initialized);
        self.alarms.extend(doc.alarms);
        self.queries.extend(doc.queries);
        for result in doc.results {
            match result.label.as_deref().and_then(SeriesKey::parse_label) {
                Some(key) => self.place(key, &result),
                None => self.pending.push(result),
            }
        }
    }

    fn place(&mut self, key: SeriesKey, result: &MetricResult) {
        let c = self.completeness.entry(key.clone()).or_default();
        match result.status {
            Status::Complete => c.complete = true,
            Status::PartialData => c.partial = true,
            Status::InternalError | Status::Forbidden => c.failed = true,
            Status::Other(_) => {}
        }
        self.series.entry(key).or_default().add(&result.points);
    }

    /// Adds what another collection gathered.
    pub fn merge(&mut self, other: Collected) {
        self.instances.extend(other.instances);
        self.volumes.extend(other.volumes);
        self.types.extend(other.types);
        self.statuses.extend(other.statuses);
        self.fast_restores.extend(other.fast_restores);
        self.initialized.extend(other.initialized);
        self.alarms.extend(other.alarms);
        self.queries.extend(other.queries);
        self.pending.extend(other.pending);
        for (key, c) in other.completeness {
            let mine = self.completeness.entry(key).or_default();
            mine.complete |= c.complete;
            mine.partial |= c.partial;
            mine.failed |= c.failed;
        }
        for (key, series) in other.series {
            match self.series.get_mut(&key) {
                Some(mine) => mine.merge(&series),
                None => {
                    self.series.insert(key, series);
                }
            }
        }
    }

    /// Joins the results to their requests, picks one description per
    /// resource and works out each series' resolution.
    pub fn finish(mut self) -> Evidence {
        let mut warnings = Vec::new();
        // Id -> what it asks; an Id used for two different things in the
        // requests read cannot join a result.
        let mut by_id: BTreeMap<String, Option<&Query>> = BTreeMap::new();
        for q in &self.queries {
            by_id
                .entry(q.id.clone())
                .and_modify(|seen| {
                    if seen.is_some_and(|s| s.target != q.target) {
                        *seen = None;
                    }
                })
                .or_insert(Some(q));
        }
        let pending = std::mem::take(&mut self.pending);
        let mut placed = Vec::new();
        let mut unjoined = BTreeSet::new();
        let mut expressions = BTreeSet::new();
        for result in pending {
            let id = result.id.clone().unwrap_or_default();
            match by_id.get(&id) {
                Some(Some(Query {
                    target: QueryTarget::Series { key, .. },
                    ..
                })) => placed.push((key.clone(), result)),
                Some(Some(Query {
                    target: QueryTarget::Expression,
                    ..
                })) => {
                    expressions.insert(id);
                }
                Some(Some(Query {
                    target: QueryTarget::Unread(_),
                    ..
                })) => {}
                Some(None) => {
                    warnings.push(format!(
                        "metric result {id:?}: its Id names different metrics in the requests read, and its label {:?} does not name one; skipped",
                        result.label.as_deref().unwrap_or_default()
                    ));
                }
                None => {
                    // A result without its request is still read when its
                    // label is a bare metric name the doctor knows but whose
                    // resource is unknown: nothing to do with it, say so once.
                    unjoined.insert(id);
                }
            }
        }
        for (key, result) in placed {
            self.place(key, &result);
        }
        if !unjoined.is_empty() {
            warnings.push(format!(
                "{} metric results ({}) have neither their request nor a label of the form \
                 `<Namespace> <MetricName> <Dim>=<Value>`; give the request file too \
                 (`start-doctor ebs query` writes both)",
                unjoined.len(),
                abbreviate(&unjoined)
            ));
        }
        if !expressions.is_empty() {
            warnings.push(format!(
                "metric math results ({}) are not read: start-doctor computes rates from the raw metrics",
                abbreviate(&expressions)
            ));
        }
        let mut wrong_stat = BTreeSet::new();
        for q in &self.queries {
            if let QueryTarget::Series { key, stat } = &q.target {
                if let Some(series) = self.series.get_mut(key) {
                    series.period = series.period.or(q.period);
                    if key.metric.kind() == Kind::Total
                        && stat.as_deref().is_some_and(|s| s != "Sum")
                    {
                        wrong_stat.insert(key.clone());
                    }
                }
            }
        }
        for key in &wrong_stat {
            // A total asked as an average is a rate only by accident of
            // sampling: leave it out rather than compare it with a limit.
            self.series.remove(key);
            warnings.push(format!(
                "{key}: asked with a statistic other than Sum; start-doctor needs Sum for it and left it out"
            ));
        }
        for series in self.series.values_mut() {
            series.finish();
        }
        let incomplete = self
            .completeness
            .iter()
            .filter(|(key, c)| {
                self.series.contains_key(key) && !c.complete && (c.partial || c.failed)
            })
            .map(|(key, c)| {
                let why = if c.failed {
                    "InternalError or Forbidden"
                } else {
                    "PartialData and no Complete page"
                };
                (key.clone(), why)
            })
            .collect();
        let mut initialized: BTreeMap<VolumeId, DateTime<Utc>> = BTreeMap::new();
        for (volume, time) in self.initialized {
            let first = initialized.entry(volume).or_insert(time);
            *first = (*first).min(time);
        }
        let mut alarms = self.alarms;
        alarms.sort_by(|a, b| (a.time, &a.name, &a.state).cmp(&(b.time, &b.name, &b.state)));
        alarms.dedup();
        let instances = pick(self.instances, |i| i.id.clone());
        let volumes = pick(self.volumes, |v: &Volume| v.id.clone());
        // Which volume is on which instance, by every source that says so,
        // indexed once (a fleet has thousands of each).
        let mut described: BTreeMap<VolumeId, BTreeSet<InstanceId>> = BTreeMap::new();
        for i in instances.values() {
            for (v, _) in &i.volumes {
                described.entry(v.clone()).or_default().insert(i.id.clone());
            }
        }
        for v in volumes.values() {
            for (i, _) in &v.attachments {
                described.entry(v.id.clone()).or_default().insert(i.clone());
            }
        }
        let mut by_instance: BTreeMap<InstanceId, BTreeSet<VolumeId>> = BTreeMap::new();
        for (v, on) in &described {
            for i in on {
                by_instance.entry(i.clone()).or_default().insert(v.clone());
            }
        }
        for key in self.series.keys() {
            if let crate::metric::Resource::InstanceVolume(i, v) = &key.resource {
                by_instance.entry(i.clone()).or_default().insert(v.clone());
            }
        }
        Evidence {
            instances,
            volumes,
            described_attachments: described,
            volumes_by_instance: by_instance,
            types: pick(self.types, |t| t.instance_type.clone()),
            statuses: pick(self.statuses, |s| s.id.clone()),
            fast_restores: pick(self.fast_restores, |f| {
                (f.snapshot_id.clone(), f.zone.clone())
            }),
            initialized,
            alarms,
            series: self.series,
            incomplete,
            warnings,
        }
    }
}

fn abbreviate(ids: &BTreeSet<String>) -> String {
    let shown: Vec<&str> = ids.iter().take(5).map(String::as_str).collect();
    let more = ids.len().saturating_sub(shown.len());
    if more > 0 {
        format!("{} and {more} more", shown.join(", "))
    } else {
        shown.join(", ")
    }
}

/// One description per key when several files describe the same resource:
/// the most complete one (most fields set), ties broken by content, so the
/// choice never depends on the order files were read in.
fn pick<T: Serialize, K: Ord>(items: Vec<T>, key: impl Fn(&T) -> K) -> BTreeMap<K, T> {
    fn rank<T: Serialize>(item: &T) -> (usize, String) {
        let value = serde_json::to_value(item).unwrap_or_default();
        let set = value
            .as_object()
            .map_or(0, |o| o.values().filter(|v| !v.is_null()).count());
        (set, value.to_string())
    }
    let mut out: BTreeMap<K, T> = BTreeMap::new();
    for item in items {
        let k = key(&item);
        match out.get(&k) {
            Some(current) if rank(current) >= rank(&item) => {}
            _ => {
                out.insert(k, item);
            }
        }
    }
    out
}

/// Everything read, joined.
#[derive(Debug, Default)]
pub struct Evidence {
    /// Instances by id.
    pub instances: BTreeMap<InstanceId, Instance>,
    /// Volumes by id.
    pub volumes: BTreeMap<VolumeId, Volume>,
    /// Instance types' EBS limits.
    pub types: BTreeMap<InstanceType, TypeLimits>,
    /// Volume status by volume.
    pub statuses: BTreeMap<VolumeId, VolumeStatus>,
    /// Fast snapshot restore per (snapshot, zone).
    pub fast_restores: BTreeMap<(SnapshotId, Zone), FastRestore>,
    /// When each volume finished initializing (`initializeVolume`).
    pub initialized: BTreeMap<VolumeId, DateTime<Utc>>,
    /// Alarm state changes, oldest first.
    pub alarms: Vec<Alarm>,
    /// Every series read.
    pub series: BTreeMap<SeriesKey, Series>,
    /// Series whose pages never said `Complete`, and why.
    pub incomplete: BTreeMap<SeriesKey, &'static str>,
    /// What could not be joined or used, one line each.
    pub warnings: Vec<String>,
    /// Volume -> the instances describe output attaches it to.
    described_attachments: BTreeMap<VolumeId, BTreeSet<InstanceId>>,
    /// Instance -> its volumes, by every source.
    volumes_by_instance: BTreeMap<InstanceId, BTreeSet<VolumeId>>,
}

impl Evidence {
    /// Reads documents into evidence in one go (for tests and the library;
    /// the CLI merges collections read in parallel).
    pub fn from_documents(docs: impl IntoIterator<Item = Document>) -> Self {
        let mut collected = Collected::default();
        for doc in docs {
            collected.add(doc);
        }
        collected.finish()
    }

    /// A series, if it was read.
    pub fn series(
        &self,
        metric: Metric,
        instance: &InstanceId,
        volume: &VolumeId,
    ) -> Option<&Series> {
        self.series
            .get(&SeriesKey::new(metric, instance, volume))
            .filter(|s| !s.is_empty())
    }

    /// The instances to examine: every one described as running (or with no
    /// state given), and every one the metrics, volume attachments or
    /// alarms name.
    pub fn instance_ids(&self) -> BTreeSet<InstanceId> {
        let mut ids: BTreeSet<InstanceId> = self
            .instances
            .values()
            .filter(|i| matches!(i.state.as_deref(), None | Some("running" | "pending")))
            .map(|i| i.id.clone())
            .collect();
        for key in self.series.keys() {
            match &key.resource {
                crate::metric::Resource::InstanceVolume(i, _)
                | crate::metric::Resource::Instance(i) => {
                    ids.insert(i.clone());
                }
                crate::metric::Resource::Volume(v) => {
                    ids.extend(self.attached_to(v));
                }
            }
        }
        for alarm in &self.alarms {
            ids.extend(alarm.instances.iter().cloned());
        }
        ids
    }

    /// The instances describe output attaches a volume to.
    fn attached_to(&self, volume: &VolumeId) -> BTreeSet<InstanceId> {
        self.described_attachments
            .get(volume)
            .cloned()
            .unwrap_or_default()
    }

    /// An instance's volumes, from its description, the volumes'
    /// attachments and the Nitro metrics' (`InstanceId`, `VolumeId`) pairs.
    pub fn volumes_of(&self, instance: &InstanceId) -> BTreeSet<VolumeId> {
        self.volumes_by_instance
            .get(instance)
            .cloned()
            .unwrap_or_default()
    }
}
