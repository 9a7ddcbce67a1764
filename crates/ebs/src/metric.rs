//! The CloudWatch metrics the doctor reads: their namespace, dimensions and
//! the statistic it asks for, and the label that names a series without
//! its request (`<Namespace> <MetricName> <Dim>=<Value>[ <Dim>=<Value>]`).
//!
//! Sources: Amazon EBS User Guide, "Amazon CloudWatch metrics for Amazon
//! EBS" (volume metrics, dimension `VolumeId`; Nitro metrics published with
//! the pair `InstanceId` + `VolumeId`), Amazon EC2 User Guide, "Instance
//! metrics" (`EBSReadOps`... with `InstanceId`).

use std::fmt;

use crate::ids::{InstanceId, VolumeId};

/// A CloudWatch namespace the doctor reads.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Namespace {
    /// `AWS/EBS`: volume metrics.
    Ebs,
    /// `AWS/EC2`: the instance's EBS metrics.
    Ec2,
}

impl Namespace {
    /// The namespace as CloudWatch writes it.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Ebs => "AWS/EBS",
            Self::Ec2 => "AWS/EC2",
        }
    }

    fn parse(text: &str) -> Option<Self> {
        match text {
            "AWS/EBS" => Some(Self::Ebs),
            "AWS/EC2" => Some(Self::Ec2),
            _ => None,
        }
    }
}

/// Which dimensions a metric is published with.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DimensionSet {
    /// `VolumeId` alone.
    Volume,
    /// `InstanceId` and `VolumeId` (the Nitro volume metrics: a query with
    /// `VolumeId` alone returns nothing for them).
    InstanceVolume,
    /// `InstanceId`.
    Instance,
}

/// How a metric's values are read.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    /// A count or amount per period (`Sum`): divided by the seconds the
    /// point covers, it is a rate.
    Total,
    /// A value that holds for the period (latency, queue length, a balance
    /// in percent, a 0/1 check).
    Level,
}

macro_rules! metrics {
    ($($variant:ident => $name:literal, $ns:ident, $dims:ident, $stat:literal, $kind:ident, $doc:literal;)*) => {
        /// A metric the doctor reads (any other is ignored).
        #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
        pub enum Metric {
            $(
                #[doc = $doc]
                $variant,
            )*
        }

        impl Metric {
            /// Every metric, in the order `ebs query` asks for them.
            pub const ALL: &'static [Metric] = &[$(Metric::$variant),*];

            /// The metric name as CloudWatch writes it.
            pub fn name(self) -> &'static str {
                match self { $(Self::$variant => $name,)* }
            }

            /// Its namespace.
            pub fn namespace(self) -> Namespace {
                match self { $(Self::$variant => Namespace::$ns,)* }
            }

            /// The dimensions it is published with.
            pub fn dimensions(self) -> DimensionSet {
                match self { $(Self::$variant => DimensionSet::$dims,)* }
            }

            /// The statistic `ebs query` asks for.
            pub fn stat(self) -> &'static str {
                match self { $(Self::$variant => $stat,)* }
            }

            /// How its values are read.
            pub fn kind(self) -> Kind {
                match self { $(Self::$variant => Kind::$kind,)* }
            }

            /// The metric of this name in this namespace.
            pub fn parse(namespace: &str, name: &str) -> Option<Self> {
                let ns = Namespace::parse(namespace)?;
                match name {
                    $($name if ns == Namespace::$ns => Some(Self::$variant),)*
                    _ => None,
                }
            }

            /// The metric of this name in whichever namespace has it (for a
            /// default label, which is the bare metric name).
            pub fn by_name(name: &str) -> Option<Self> {
                match name {
                    $($name => Some(Self::$variant),)*
                    _ => None,
                }
            }
        }
    };
}

// Statistics: totals are asked as `Sum` (EBS: "The Sum statistic reports
// the total ... during the period"; `Average` of bytes is the average I/O
// size on Xen instances); checks as `Maximum` (any minute at 1 counts);
// balances as `Minimum` (a balance spent within the period shows).
metrics! {
    VolumeReadOps => "VolumeReadOps", Ebs, Volume, "Sum", Total, "Read operations completed (Count).";
    VolumeWriteOps => "VolumeWriteOps", Ebs, Volume, "Sum", Total, "Write operations completed (Count).";
    VolumeReadBytes => "VolumeReadBytes", Ebs, Volume, "Sum", Total, "Bytes read (Bytes).";
    VolumeWriteBytes => "VolumeWriteBytes", Ebs, Volume, "Sum", Total, "Bytes written (Bytes).";
    VolumeTotalReadTime => "VolumeTotalReadTime", Ebs, Volume, "Sum", Total, "Seconds spent by the reads completed.";
    VolumeTotalWriteTime => "VolumeTotalWriteTime", Ebs, Volume, "Sum", Total, "Seconds spent by the writes completed.";
    VolumeIdleTime => "VolumeIdleTime", Ebs, Volume, "Sum", Total, "Seconds without I/O submitted.";
    VolumeQueueLength => "VolumeQueueLength", Ebs, Volume, "Average", Level, "Requests waiting to complete.";
    BurstBalance => "BurstBalance", Ebs, Volume, "Minimum", Level, "Burst credits left, percent (gp2, st1, sc1 only).";
    VolumeIopsExceededCheck => "VolumeIOPSExceededCheck", Ebs, InstanceVolume, "Maximum", Level, "1 when demand consistently exceeded the volume's IOPS in the minute (Nitro).";
    VolumeThroughputExceededCheck => "VolumeThroughputExceededCheck", Ebs, InstanceVolume, "Maximum", Level, "1 when demand consistently exceeded the volume's throughput in the minute (Nitro).";
    VolumeStalledIoCheck => "VolumeStalledIOCheck", Ebs, InstanceVolume, "Maximum", Level, "1 when the volume stopped completing I/O in the minute (Nitro).";
    VolumeAvgReadLatency => "VolumeAvgReadLatency", Ebs, InstanceVolume, "Average", Level, "Average read latency, ms (Nitro).";
    VolumeAvgWriteLatency => "VolumeAvgWriteLatency", Ebs, InstanceVolume, "Average", Level, "Average write latency, ms (Nitro).";
    VolumeAvgIops => "VolumeAvgIOPS", Ebs, InstanceVolume, "Average", Level, "Average IOPS in the minute (Nitro).";
    VolumeAvgThroughput => "VolumeAvgThroughput", Ebs, InstanceVolume, "Average", Level, "Average throughput in the minute, KiB/s (Nitro).";
    EbsReadOps => "EBSReadOps", Ec2, Instance, "Sum", Total, "Read operations of all the instance's volumes.";
    EbsWriteOps => "EBSWriteOps", Ec2, Instance, "Sum", Total, "Write operations of all the instance's volumes.";
    EbsReadBytes => "EBSReadBytes", Ec2, Instance, "Sum", Total, "Bytes read from all the instance's volumes.";
    EbsWriteBytes => "EBSWriteBytes", Ec2, Instance, "Sum", Total, "Bytes written to all the instance's volumes.";
    EbsIoBalance => "EBSIOBalance%", Ec2, Instance, "Minimum", Level, "The instance's EBS IOPS burst credits left, percent.";
    EbsByteBalance => "EBSByteBalance%", Ec2, Instance, "Minimum", Level, "The instance's EBS throughput burst credits left, percent.";
    InstanceEbsIopsExceededCheck => "InstanceEBSIOPSExceededCheck", Ec2, Instance, "Maximum", Level, "1 when the instance's EBS IOPS limit was exceeded (Nitro).";
    InstanceEbsThroughputExceededCheck => "InstanceEBSThroughputExceededCheck", Ec2, Instance, "Maximum", Level, "1 when the instance's EBS throughput limit was exceeded (Nitro).";
}

impl Metric {
    /// Whether `ebs query` asks for this metric for a volume of this type
    /// (`BurstBalance` exists only for gp2, st1 and sc1; an unknown type
    /// gets it, in case).
    pub fn applies_to_volume_type(self, volume_type: Option<&str>) -> bool {
        self != Self::BurstBalance
            || !matches!(volume_type, Some(t) if !matches!(t, "gp2" | "st1" | "sc1"))
    }
}

/// The resource a series is about.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Resource {
    /// A volume (`VolumeId`).
    Volume(VolumeId),
    /// A volume on an instance (`InstanceId` + `VolumeId`).
    InstanceVolume(InstanceId, VolumeId),
    /// An instance (`InstanceId`).
    Instance(InstanceId),
}

/// One time series: a metric of a resource.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct SeriesKey {
    /// The metric.
    pub metric: Metric,
    /// Its dimensions.
    pub resource: Resource,
}

impl SeriesKey {
    /// The series of `metric` for an instance and one of its volumes, with
    /// the dimensions CloudWatch publishes it under.
    pub fn new(metric: Metric, instance: &InstanceId, volume: &VolumeId) -> Self {
        let resource = match metric.dimensions() {
            DimensionSet::Volume => Resource::Volume(volume.clone()),
            DimensionSet::InstanceVolume => {
                Resource::InstanceVolume(instance.clone(), volume.clone())
            }
            DimensionSet::Instance => Resource::Instance(instance.clone()),
        };
        Self { metric, resource }
    }

    /// The series of an instance metric (`AWS/EC2`, `InstanceId`); `None`
    /// for a volume metric.
    pub fn for_instance(metric: Metric, instance: &InstanceId) -> Option<Self> {
        (metric.dimensions() == DimensionSet::Instance).then(|| Self {
            metric,
            resource: Resource::Instance(instance.clone()),
        })
    }

    /// The series from a metric's namespace, name and dimensions, when it
    /// is one the doctor reads and the dimensions are the ones it is
    /// published with (in any order).
    pub fn from_parts<'a>(
        namespace: &str,
        name: &str,
        dimensions: impl IntoIterator<Item = (&'a str, &'a str)>,
    ) -> Option<Self> {
        let metric = Metric::parse(namespace, name)?;
        let mut instance = None;
        let mut volume = None;
        for (dim, value) in dimensions {
            match dim {
                "InstanceId" if instance.is_none() => instance = Some(InstanceId::parse(value)?),
                "VolumeId" if volume.is_none() => volume = Some(VolumeId::parse(value)?),
                _ => return None,
            }
        }
        let resource = match (metric.dimensions(), instance, volume) {
            (DimensionSet::Volume, None, Some(v)) => Resource::Volume(v),
            (DimensionSet::InstanceVolume, Some(i), Some(v)) => Resource::InstanceVolume(i, v),
            (DimensionSet::Instance, Some(i), None) => Resource::Instance(i),
            _ => return None,
        };
        Some(Self { metric, resource })
    }

    /// The dimensions, as CloudWatch names them, in the documented order.
    pub fn dimensions(&self) -> Vec<(&'static str, &str)> {
        match &self.resource {
            Resource::Volume(v) => vec![("VolumeId", v.as_str())],
            Resource::InstanceVolume(i, v) => {
                vec![("InstanceId", i.as_str()), ("VolumeId", v.as_str())]
            }
            Resource::Instance(i) => vec![("InstanceId", i.as_str())],
        }
    }

    /// Reads a label `<Namespace> <MetricName> <Dim>=<Value>[ <Dim>=<Value>]`
    /// (the form `ebs query` gives every query).
    pub fn parse_label(label: &str) -> Option<Self> {
        let mut words = label.split(' ');
        let namespace = words.next()?;
        let name = words.next()?;
        let mut dims = Vec::with_capacity(2);
        for word in words {
            dims.push(word.split_once('=')?);
        }
        Self::from_parts(namespace, name, dims)
    }

    /// A query `Id` for the series: unique across a whole fleet (so that
    /// requests split in batches never reuse one), a lowercase letter
    /// first, then letters, digits and `_` (the GetMetricData rule).
    pub fn query_id(&self) -> String {
        let resource = match &self.resource {
            Resource::Volume(v) => v.as_str().replace('-', ""),
            Resource::InstanceVolume(i, v) => {
                format!(
                    "{}_{}",
                    i.as_str().replace('-', ""),
                    v.as_str().replace('-', "")
                )
            }
            Resource::Instance(i) => i.as_str().replace('-', ""),
        };
        let name: String = self
            .metric
            .name()
            .chars()
            .filter(char::is_ascii_alphanumeric)
            .map(|c| c.to_ascii_lowercase())
            .collect();
        format!("{resource}_{name}")
    }
}

impl fmt::Display for SeriesKey {
    /// The label form: `AWS/EBS VolumeReadOps VolumeId=vol-...`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} {}",
            self.metric.namespace().as_str(),
            self.metric.name()
        )?;
        for (dim, value) in self.dimensions() {
            write!(f, " {dim}={value}")?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn vol() -> VolumeId {
        VolumeId::parse("vol-0aaa1b2c3d4e50002").unwrap()
    }

    fn inst() -> InstanceId {
        InstanceId::parse("i-0a1b2c3d4e5f60002").unwrap()
    }

    #[test]
    fn labels_round_trip_for_every_metric() {
        for &metric in Metric::ALL {
            let key = SeriesKey::new(metric, &inst(), &vol());
            let label = key.to_string();
            assert_eq!(SeriesKey::parse_label(&label), Some(key.clone()), "{label}");
            let id = key.query_id();
            assert!(id.starts_with(|c: char| c.is_ascii_lowercase()), "{id}");
            assert!(
                id.chars().all(|c| c.is_ascii_alphanumeric() || c == '_'),
                "{id}"
            );
        }
    }

    #[test]
    fn dimension_order_does_not_matter_but_the_set_does() {
        let a = SeriesKey::parse_label(
            "AWS/EBS VolumeIOPSExceededCheck VolumeId=vol-0aaa1b2c3d4e50002 InstanceId=i-0a1b2c3d4e5f60002",
        );
        assert_eq!(
            a,
            Some(SeriesKey::new(
                Metric::VolumeIopsExceededCheck,
                &inst(),
                &vol()
            ))
        );
        // The Nitro checks are not published under VolumeId alone.
        assert_eq!(
            SeriesKey::parse_label(
                "AWS/EBS VolumeIOPSExceededCheck VolumeId=vol-0aaa1b2c3d4e50002"
            ),
            None
        );
        assert_eq!(SeriesKey::parse_label("AWS/EBS VolumeReadOps"), None);
        assert_eq!(SeriesKey::parse_label("Avg Total IOPS"), None);
        assert_eq!(
            SeriesKey::parse_label("AWS/EC2 EBSReadOps InstanceId=i-0a1b2c3d4e5f60002 Extra=1"),
            None
        );
    }

    #[test]
    fn names_are_per_namespace() {
        assert_eq!(
            Metric::parse("AWS/EC2", "EBSIOBalance%"),
            Some(Metric::EbsIoBalance)
        );
        assert_eq!(Metric::parse("AWS/EBS", "EBSIOBalance%"), None);
        assert_eq!(
            Metric::by_name("VolumeReadOps"),
            Some(Metric::VolumeReadOps)
        );
    }
}
