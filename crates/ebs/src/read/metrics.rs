//! `get-metric-data` requests and responses.
//!
//! A request is `{"MetricDataQueries": [...], "StartTime", "EndTime"}` (the
//! `--cli-input-json` form) or the bare list given to
//! `--metric-data-queries`. A response is `{"MetricDataResults": [...],
//! "Messages": [...], "NextToken"}`; the CLI, which follows `NextToken`
//! itself, prints one object holding every page, so one query's `Id` comes
//! back once per page. Results are the bulk of any input (a day of one
//! metric is 1,440 points): they are read as they stream by, straight into
//! compact points, never as a tree.

use std::fmt;

use serde::de::{self, DeserializeSeed, Deserializer, IgnoredAny, MapAccess, SeqAccess, Visitor};
use serde::Deserialize;
use serde_json::value::RawValue;

use super::document::each_item;
use super::time::{parse_timestamp_cached, DayCache};
use super::{Document, MetricResult, Problem, Query, QueryTarget, Status};
use crate::metric::SeriesKey;

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct RawQuery {
    id: String,
    #[serde(default)]
    metric_stat: Option<RawMetricStat>,
    #[serde(default)]
    expression: Option<String>,
    #[serde(default)]
    period: Option<u32>,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct RawMetricStat {
    metric: RawMetric,
    #[serde(default)]
    period: Option<u32>,
    #[serde(default)]
    stat: Option<String>,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct RawMetric {
    #[serde(default)]
    namespace: Option<String>,
    metric_name: String,
    #[serde(default)]
    dimensions: Vec<RawDimension>,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct RawDimension {
    name: String,
    value: String,
}

fn query(raw: &RawValue) -> Result<Query, String> {
    let q: RawQuery = serde_json::from_str(raw.get()).map_err(|e| e.to_string())?;
    let target;
    let mut period = q.period;
    match (q.metric_stat, q.expression) {
        (Some(stat), None) => {
            period = stat.period.or(period);
            let namespace = stat.metric.namespace.unwrap_or_default();
            let key = SeriesKey::from_parts(
                &namespace,
                &stat.metric.metric_name,
                stat.metric
                    .dimensions
                    .iter()
                    .map(|d| (d.name.as_str(), d.value.as_str())),
            );
            target = match key {
                Some(key) => QueryTarget::Series {
                    key,
                    stat: stat.stat,
                },
                None => QueryTarget::Unread(format!("{namespace} {}", stat.metric.metric_name)),
            };
        }
        (None, Some(_)) => target = QueryTarget::Expression,
        _ => {
            return Err(format!(
                "query {:?} needs exactly one of MetricStat and Expression",
                q.id
            ))
        }
    }
    Ok(Query {
        id: q.id,
        target,
        period,
    })
}

/// `MetricDataQueries` of a request.
pub(super) fn read_queries(raw: &RawValue, doc: &mut Document) {
    each_item(raw, "MetricDataQueries", doc, |raw, doc| {
        doc.queries.push(query(raw)?);
        Ok(())
    });
}

/// One query given as an object of its own (an element of the
/// `--metric-data-queries` list).
pub(super) fn read_query_fields(fields: &[(String, &RawValue)], doc: &mut Document) {
    match object_of(fields).and_then(|raw| query(&raw)) {
        Ok(q) => doc.queries.push(q),
        Err(message) => doc
            .problems
            .push(Problem::new(format!("metric data query: {message}"))),
    }
}

/// One result given as an object of its own (a saved
/// `MetricDataResults` element).
pub(super) fn read_result_fields(fields: &[(String, &RawValue)], doc: &mut Document) {
    let parsed = object_of(fields).and_then(|raw| {
        let mut de = serde_json::Deserializer::from_str(raw.get());
        ResultSeed { doc: &mut *doc }
            .deserialize(&mut de)
            .map_err(|e| e.to_string())
    });
    if let Err(message) = parsed {
        doc.problems
            .push(Problem::new(format!("metric data result: {message}")));
    }
}

/// The fields of an object, as one raw JSON object again.
fn object_of(fields: &[(String, &RawValue)]) -> Result<Box<RawValue>, String> {
    let mut text = String::from("{");
    for (n, (key, value)) in fields.iter().enumerate() {
        if n > 0 {
            text.push(',');
        }
        text.push_str(&serde_json::to_string(key).map_err(|e| e.to_string())?);
        text.push(':');
        text.push_str(value.get());
    }
    text.push('}');
    RawValue::from_string(text).map_err(|e| e.to_string())
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct RawMessage {
    #[serde(default)]
    code: Option<String>,
    #[serde(default)]
    value: Option<String>,
}

/// The response's top-level `Messages` ("Maximum number of allowed
/// metrics exceeded"...): the data may be incomplete.
pub(super) fn read_messages(raw: &RawValue, doc: &mut Document) {
    if let Ok(messages) = serde_json::from_str::<Vec<RawMessage>>(raw.get()) {
        for m in messages {
            doc.problems.push(Problem::new(format!(
                "get-metric-data message {}: {}",
                m.code.unwrap_or_default(),
                m.value.unwrap_or_default()
            )));
        }
    }
}

/// `MetricDataResults`: every element read as it streams by.
pub(super) struct ResultsSeed<'d> {
    pub(super) doc: &'d mut Document,
}

impl<'de> DeserializeSeed<'de> for ResultsSeed<'_> {
    type Value = ();

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<(), D::Error> {
        deserializer.deserialize_seq(self)
    }
}

impl<'de> Visitor<'de> for ResultsSeed<'_> {
    type Value = ();

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a list of metric data results")
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<(), A::Error> {
        while seq
            .next_element_seed(ResultSeed {
                doc: &mut *self.doc,
            })?
            .is_some()
        {}
        Ok(())
    }
}

/// One `MetricDataResults` element.
struct ResultSeed<'d> {
    doc: &'d mut Document,
}

impl<'de> DeserializeSeed<'de> for ResultSeed<'_> {
    type Value = ();

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<(), D::Error> {
        deserializer.deserialize_map(self)
    }
}

impl<'de> Visitor<'de> for ResultSeed<'_> {
    type Value = ();

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a metric data result object")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<(), A::Error> {
        let mut id: Option<String> = None;
        let mut label: Option<String> = None;
        let mut timestamps: Option<Vec<Option<i64>>> = None;
        let mut values: Option<Vec<Option<f64>>> = None;
        let mut status: Option<String> = None;
        while let Some(key) = map.next_key::<std::borrow::Cow<'de, str>>()? {
            match key.as_ref() {
                "Id" => id = map.next_value()?,
                "Label" => label = map.next_value()?,
                "Timestamps" => timestamps = Some(map.next_value::<Timestamps>()?.0),
                "Values" => values = Some(map.next_value::<Values>()?.0),
                "StatusCode" => status = map.next_value()?,
                _ => {
                    map.next_value::<IgnoredAny>()?;
                }
            }
        }
        let what = || {
            format!(
                "metric data result {}",
                id.as_deref().or(label.as_deref()).unwrap_or("without Id")
            )
        };
        let timestamps = timestamps.unwrap_or_default();
        let values = values.unwrap_or_default();
        if timestamps.len() != values.len() {
            self.doc.problems.push(Problem::new(format!(
                "{}: {} timestamps but {} values: the {} without a pair",
                what(),
                timestamps.len(),
                values.len(),
                timestamps.len().abs_diff(values.len())
            )));
        }
        let mut bad = 0usize;
        let mut points = Vec::with_capacity(timestamps.len().min(values.len()));
        for (t, v) in timestamps.into_iter().zip(values) {
            let minute = t.and_then(|t| u32::try_from(t.div_euclid(60)).ok());
            match (minute, v) {
                // f32 keeps 7 significant digits: plenty for a rate
                // compared with a limit, and half the memory of f64.
                // No metric read here is negative, and a value beyond f32
                // would be infinite: both are unreadable points.
                (Some(m), Some(v)) if v >= 0.0 && (v as f32).is_finite() => {
                    points.push((m, v as f32))
                }
                _ => bad += 1,
            }
        }
        if bad > 0 {
            self.doc.problems.push(Problem::new(format!(
                "{}: {bad} points with an unreadable timestamp or value",
                what()
            )));
        }
        if id.is_none() && label.is_none() {
            self.doc
                .problems
                .push(Problem::new("metric data result without Id or Label"));
            return Ok(());
        }
        self.doc.results.push(MetricResult {
            id,
            label,
            points,
            status: Status::parse(status.as_deref()),
        });
        Ok(())
    }
}

/// `Timestamps`: ISO 8601 strings (CLI) or epoch seconds (wire format);
/// `None` for one that cannot be read.
struct Timestamps(Vec<Option<i64>>);

impl<'de> Deserialize<'de> for Timestamps {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = Vec<Option<i64>>;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a list of timestamps")
            }
            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
                let mut out = Vec::with_capacity(seq.size_hint().unwrap_or(256));
                let mut cache = DayCache::default();
                while let Some(t) = seq.next_element_seed(Timestamp { cache: &mut cache })? {
                    out.push(t);
                }
                Ok(out)
            }
        }
        deserializer.deserialize_seq(V).map(Timestamps)
    }
}

/// One timestamp, sharing the day cache of its list.
struct Timestamp<'c> {
    cache: &'c mut DayCache,
}

impl<'de> DeserializeSeed<'de> for Timestamp<'_> {
    type Value = Option<i64>;

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<Self::Value, D::Error> {
        deserializer.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for Timestamp<'_> {
    type Value = Option<i64>;
    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a timestamp")
    }
    fn visit_str<E: de::Error>(self, v: &str) -> Result<Self::Value, E> {
        Ok(parse_timestamp_cached(v, self.cache))
    }
    fn visit_u64<E: de::Error>(self, v: u64) -> Result<Self::Value, E> {
        Ok(i64::try_from(v).ok().map(epoch))
    }
    fn visit_i64<E: de::Error>(self, v: i64) -> Result<Self::Value, E> {
        Ok(Some(epoch(v)))
    }
    fn visit_f64<E: de::Error>(self, v: f64) -> Result<Self::Value, E> {
        Ok((v.is_finite() && v.abs() < 1e15).then(|| epoch(v.floor() as i64)))
    }
    fn visit_unit<E: de::Error>(self) -> Result<Self::Value, E> {
        Ok(None)
    }
    fn visit_bool<E: de::Error>(self, _: bool) -> Result<Self::Value, E> {
        Ok(None)
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
        while seq.next_element::<IgnoredAny>()?.is_some() {}
        Ok(None)
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
        while map.next_entry::<IgnoredAny, IgnoredAny>()?.is_some() {}
        Ok(None)
    }
}

/// Epoch seconds; a number too large to be seconds is taken as
/// milliseconds (some exporters write those).
fn epoch(v: i64) -> i64 {
    if v.abs() > 100_000_000_000 {
        v / 1000
    } else {
        v
    }
}

/// `Values`: numbers; `None` for anything else.
struct Values(Vec<Option<f64>>);

impl<'de> Deserialize<'de> for Values {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = Vec<Option<f64>>;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a list of values")
            }
            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
                let mut out = Vec::with_capacity(seq.size_hint().unwrap_or(256));
                while let Some(Number(n)) = seq.next_element()? {
                    out.push(n);
                }
                Ok(out)
            }
        }
        deserializer.deserialize_seq(V).map(Values)
    }
}

struct Number(Option<f64>);

impl<'de> Deserialize<'de> for Number {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = Option<f64>;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a number")
            }
            fn visit_f64<E: de::Error>(self, v: f64) -> Result<Self::Value, E> {
                Ok(Some(v))
            }
            fn visit_u64<E: de::Error>(self, v: u64) -> Result<Self::Value, E> {
                Ok(Some(v as f64))
            }
            fn visit_i64<E: de::Error>(self, v: i64) -> Result<Self::Value, E> {
                Ok(Some(v as f64))
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<Self::Value, E> {
                Ok(v.trim().parse().ok())
            }
            fn visit_unit<E: de::Error>(self) -> Result<Self::Value, E> {
                Ok(None)
            }
            fn visit_bool<E: de::Error>(self, _: bool) -> Result<Self::Value, E> {
                Ok(None)
            }
            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
                while seq.next_element::<IgnoredAny>()?.is_some() {}
                Ok(None)
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
                while map.next_entry::<IgnoredAny, IgnoredAny>()?.is_some() {}
                Ok(None)
            }
        }
        deserializer.deserialize_any(V).map(Number)
    }
}
