//! The fixes: commands a person can run today, within AWS's limits, with
//! what they take and cost.
//!
//! - More volume performance: `aws ec2 modify-volume` (Elastic Volumes).
//!   The change applies while the volume stays attached and in use: it goes
//!   `modifying`, then `optimizing` (performance between the old and new
//!   values), then `completed`; after a modification the same volume cannot
//!   be modified again for at least six hours (EBS User Guide, "Modify a
//!   volume using Amazon EBS Elastic Volumes", "Requirements").
//! - gp3 values cover the peak with [`HEADROOM`] and stay within gp3's
//!   limits and ratios ([`crate::limits::gp3`]); when gp3 cannot, io2.
//! - A larger instance type: chosen from the `describe-instance-types`
//!   output at hand (baseline covering the demand, at least the current
//!   vCPUs and memory, same architecture), else the command that lists
//!   candidates; changing it needs a stop and a start.
//! - Initialization: read every block now (`fio`, as the EBS User Guide,
//!   "Initialize Amazon EBS volumes", shows), and for the next launch fast
//!   snapshot restore in that zone or a provisioned initialization rate
//!   (100 to 300 MiB/s, set when the volume is created).

use std::collections::BTreeMap;

use crate::finding::{InitializationFacts, Rate, Remediation, RemediationKind};
use crate::ids::{InstanceId, InstanceType, VolumeId};
use crate::limits::{gp3, io2, volume_limits, LimitSource};
use crate::model::{FastRestore, FsrState, Instance, TypeLimits, Volume, VolumeType};
use crate::price;
use crate::rules::thousands;

/// How much above the observed peak a fix provisions: 20 %.
pub const HEADROOM: f64 = 1.2;

fn region_arg(region: Option<&str>) -> String {
    region.map(|r| format!(" --region {r}")).unwrap_or_default()
}

fn up_to(v: f64, step: u64) -> u64 {
    let step = step.max(1) as f64;
    ((v / step).ceil() * step).max(0.0) as u64
}

const ELASTIC_VOLUMES: &str = "The change applies while the volume stays attached and in use: \
     it goes `modifying`, then `optimizing` (performance between the old and new values, \
     usually minutes, up to hours for large volumes), then `completed`; \
     follow it with `aws ec2 describe-volumes-modifications`. \
     A volume can be modified again only six hours after the previous modification, \
     so choose values that cover the peak now.";

/// A gp3 configuration that covers a peak.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Gp3Plan {
    iops: u64,
    throughput: u64,
    size: u64,
}

/// gp3 values covering `peak` with headroom, never below the volume's
/// current ones, within gp3's limits and ratios; `None` when gp3 cannot.
fn gp3_plan(current: Option<&Volume>, peak: Rate) -> Option<Gp3Plan> {
    let size = current.and_then(|v| v.size_gib).unwrap_or(1);
    let (cur_iops, cur_tput) = match current.filter(|v| v.volume_type == Some(VolumeType::Gp3)) {
        Some(v) => (
            v.iops.unwrap_or(gp3::BASE_IOPS),
            v.throughput_mibps.unwrap_or(gp3::BASE_THROUGHPUT),
        ),
        None => (gp3::BASE_IOPS, gp3::BASE_THROUGHPUT),
    };
    let mut iops = up_to(peak.iops.unwrap_or(0.0) * HEADROOM, 100)
        .max(cur_iops)
        .max(gp3::BASE_IOPS);
    let throughput = up_to(peak.throughput_mibps.unwrap_or(0.0) * HEADROOM, 5)
        .max(cur_tput)
        .max(gp3::BASE_THROUGHPUT);
    // Throughput is bounded by IOPS: at most 0.25 MiB/s per IOPS.
    let needed = (throughput as f64 / gp3::MIBPS_PER_IOPS).ceil() as u64;
    if needed > iops {
        iops = up_to(needed as f64, 100);
    }
    if iops > gp3::MAX_IOPS || throughput > gp3::MAX_THROUGHPUT {
        return None;
    }
    // IOPS are bounded by size: at most 500 per GiB; a volume only grows.
    let size = size.max(iops.div_ceil(gp3::IOPS_PER_GIB));
    (size <= gp3::MAX_SIZE_GIB).then_some(Gp3Plan {
        iops,
        throughput,
        size,
    })
}

/// An io2 configuration covering `peak`: (IOPS, size).
fn io2_plan(current: Option<&Volume>, peak: Rate) -> Option<(u64, u64)> {
    let size = current.and_then(|v| v.size_gib).unwrap_or(4).max(4);
    let for_iops = peak.iops.unwrap_or(0.0) * HEADROOM;
    let for_tput = peak.throughput_mibps.unwrap_or(0.0) * HEADROOM / io2::MIBPS_PER_IOPS;
    let iops = up_to(for_iops.max(for_tput), 100).max(io2::MIN_IOPS);
    if iops > io2::MAX_IOPS
        || peak.throughput_mibps.unwrap_or(0.0) * HEADROOM > io2::MAX_THROUGHPUT as f64
    {
        return None;
    }
    let size = size.max(iops.div_ceil(io2::IOPS_PER_GIB));
    (size <= io2::MAX_SIZE_GIB).then_some((iops, size))
}

fn config_of(v: &Volume) -> Option<price::Config> {
    Some(price::Config {
        volume_type: v.volume_type.clone()?,
        size_gib: v.size_gib?,
        iops: v.iops.unwrap_or(0),
        throughput_mibps: v.throughput_mibps.unwrap_or(0),
    })
}

fn cost(region: Option<&str>, from: Option<&Volume>, to: &price::Config) -> String {
    match from.and_then(config_of) {
        Some(from) => price::difference(region, &from, to),
        None => "cost: the current configuration is not known (describe-volumes), so no difference is given".to_owned(),
    }
}

/// A step warning that the instance will bind once the volume no longer
/// does, when its limits are known and lower than the new volume's.
fn instance_caveat(limits: Option<&TypeLimits>, iops: u64, throughput: f64) -> Option<String> {
    let t = limits?;
    let max_iops = t.maximum.iops?;
    let max_tput = t.maximum.throughput_mibps?;
    let base_iops = t.baseline.iops.unwrap_or(max_iops);
    let base_tput = t.baseline.throughput_mibps.unwrap_or(max_tput);
    if (iops as f64) <= base_iops && throughput <= base_tput {
        return None;
    }
    Some(format!(
        "The instance type {} carries at most {} IOPS / {:.2} MiB/s of EBS ({} IOPS / {:.2} MiB/s sustained{}); \
         above that the instance, not the volume, will hold the I/O: see `start-doctor ebs` again after the change, \
         and a larger type if it reports an instance limit.",
        t.instance_type,
        thousands(max_iops),
        max_tput,
        thousands(base_iops),
        base_tput,
        if t.bursts() { " after its 30-minute daily burst" } else { "" }
    ))
}

/// Demand held at a volume's provisioned IOPS or throughput.
pub fn volume_limit(
    desc: Option<&Volume>,
    id: &VolumeId,
    peak: Rate,
    instance: Option<&TypeLimits>,
    region: Option<&str>,
) -> Remediation {
    let r = region_arg(region);
    let kind = desc.and_then(|d| d.volume_type.clone());
    match kind {
        Some(VolumeType::Io1 | VolumeType::Io2) => provisioned_iops(desc, id, peak, instance, region),
        Some(VolumeType::Gp3) | Some(VolumeType::Gp2) | None => match gp3_plan(desc, peak) {
            Some(plan) => {
                let change_type = kind != Some(VolumeType::Gp3);
                let mut cmd = format!("aws ec2 modify-volume{r} --volume-id {id}");
                if change_type {
                    cmd.push_str(" --volume-type gp3");
                }
                cmd.push_str(&format!(" --iops {} --throughput {}", plan.iops, plan.throughput));
                let grows = desc.and_then(|d| d.size_gib).is_some_and(|s| plan.size > s);
                if grows {
                    cmd.push_str(&format!(" --size {}", plan.size));
                }
                let mut steps = vec![format!(
                    "Give {id} {} IOPS and {} MiB/s{}{} (peak demand {} IOPS and {:.2} MiB/s, plus {}% headroom; gp3 allows up to {} IOPS at 500 per GiB and {} MiB/s at 0.25 MiB/s per IOPS): {cmd}",
                    thousands(plan.iops as f64),
                    plan.throughput,
                    if change_type { " as gp3" } else { "" },
                    if grows { format!(", growing it to {} GiB for the IOPS-per-GiB ratio", plan.size) } else { String::new() },
                    thousands(peak.iops.unwrap_or(0.0)),
                    peak.throughput_mibps.unwrap_or(0.0),
                    ((HEADROOM - 1.0) * 100.0).round(),
                    thousands(gp3::MAX_IOPS as f64),
                    thousands(gp3::MAX_THROUGHPUT as f64),
                )];
                steps.push(ELASTIC_VOLUMES.to_owned());
                if grows {
                    steps.push("After the size changes, extend the partition and file system (growpart, then resize2fs or xfs_growfs; Disk Management on Windows).".to_owned());
                }
                steps.extend(instance_caveat(instance, plan.iops, plan.throughput as f64));
                steps.push(cost(
                    region,
                    desc,
                    &price::Config {
                        volume_type: VolumeType::Gp3,
                        size_gib: plan.size,
                        iops: plan.iops,
                        throughput_mibps: plan.throughput,
                    },
                ));
                Remediation {
                    kind: if change_type { RemediationKind::ChangeVolumeType } else { RemediationKind::ModifyVolume },
                    steps,
                    commands: vec![cmd, format!("aws ec2 describe-volumes-modifications{r} --volume-ids {id}")],
                }
            }
            None => to_io2(desc, id, peak, instance, region, "gp3 tops out at 80,000 IOPS and 2,000 MiB/s"),
        },
        Some(other) => Remediation {
            kind: RemediationKind::ChangeVolumeType,
            steps: vec![format!(
                "{id} is {}: move it to gp3 sized for the peak ({} IOPS, {:.2} MiB/s): aws ec2 modify-volume{r} --volume-id {id} --volume-type gp3 --iops <IOPS> --throughput <MiB/s>",
                other.as_str(),
                thousands(peak.iops.unwrap_or(0.0)),
                peak.throughput_mibps.unwrap_or(0.0)
            ), ELASTIC_VOLUMES.to_owned()],
            commands: Vec::new(),
        },
    }
}

fn provisioned_iops(
    desc: Option<&Volume>,
    id: &VolumeId,
    peak: Rate,
    instance: Option<&TypeLimits>,
    region: Option<&str>,
) -> Remediation {
    let r = region_arg(region);
    match io2_plan(desc, peak) {
        Some((iops, size)) => {
            let from = desc.and_then(|d| d.volume_type.clone());
            let change_type = from != Some(VolumeType::Io2);
            let mut cmd = format!("aws ec2 modify-volume{r} --volume-id {id}");
            if change_type {
                cmd.push_str(" --volume-type io2");
            }
            cmd.push_str(&format!(" --iops {iops}"));
            let grows = desc.and_then(|d| d.size_gib).is_some_and(|s| size > s);
            if grows {
                cmd.push_str(&format!(" --size {size}"));
            }
            let mut steps = vec![format!(
                "Provision {} IOPS on {id}{} (peak {} IOPS and {:.2} MiB/s plus {}% headroom; io2 gives 0.256 MiB/s per IOPS, up to {} IOPS at 1,000 per GiB): {cmd}",
                thousands(iops as f64),
                if change_type { " as io2" } else { "" },
                thousands(peak.iops.unwrap_or(0.0)),
                peak.throughput_mibps.unwrap_or(0.0),
                ((HEADROOM - 1.0) * 100.0).round(),
                thousands(io2::MAX_IOPS as f64),
            )];
            steps.push(ELASTIC_VOLUMES.to_owned());
            steps.extend(instance_caveat(
                instance,
                iops,
                iops as f64 * io2::MIBPS_PER_IOPS,
            ));
            steps.push(cost(
                region,
                desc,
                &price::Config {
                    volume_type: VolumeType::Io2,
                    size_gib: size,
                    iops,
                    throughput_mibps: 0,
                },
            ));
            Remediation {
                kind: if change_type {
                    RemediationKind::ChangeVolumeType
                } else {
                    RemediationKind::ModifyVolume
                },
                steps,
                commands: vec![
                    cmd,
                    format!("aws ec2 describe-volumes-modifications{r} --volume-ids {id}"),
                ],
            }
        }
        None => beyond_one_volume(id, peak),
    }
}

fn to_io2(
    desc: Option<&Volume>,
    id: &VolumeId,
    peak: Rate,
    instance: Option<&TypeLimits>,
    region: Option<&str>,
    why: &str,
) -> Remediation {
    let mut r = provisioned_iops(desc, id, peak, instance, region);
    if r.commands.is_empty() {
        // Not even io2: the striping advice stands alone.
        return r;
    }
    r.steps.insert(
        0,
        format!("gp3 cannot cover this peak ({why}); io2 Block Express can."),
    );
    r
}

fn beyond_one_volume(id: &VolumeId, peak: Rate) -> Remediation {
    Remediation {
        kind: RemediationKind::ChangeVolumeType,
        steps: vec![
            format!(
                "No single EBS volume covers a peak of {} IOPS and {:.2} MiB/s with headroom (io2 Block Express tops out at 256,000 IOPS and 4,000 MiB/s).",
                thousands(peak.iops.unwrap_or(0.0)),
                peak.throughput_mibps.unwrap_or(0.0)
            ),
            format!("Spread the data of {id} over several volumes striped together (RAID 0 / LVM striping), each sized within io2's limits, on an instance type whose EBS maximum carries the sum."),
        ],
        commands: Vec::new(),
    }
}

/// A gp2, st1 or sc1 volume fell to its baseline once its credits ran out.
pub fn volume_burst(
    desc: Option<&Volume>,
    id: &VolumeId,
    peak: Rate,
    region: Option<&str>,
) -> Remediation {
    let r = region_arg(region);
    match gp3_plan(desc, peak) {
        Some(plan) => {
            let cmd = format!(
                "aws ec2 modify-volume{r} --volume-id {id} --volume-type gp3 --iops {} --throughput {}{}",
                plan.iops,
                plan.throughput,
                if desc.and_then(|d| d.size_gib).is_some_and(|s| plan.size > s) { format!(" --size {}", plan.size) } else { String::new() }
            );
            let from = desc
                .and_then(|d| d.volume_type.as_ref())
                .map_or("the volume", |t| t.as_str())
                .to_owned();
            let mut steps = vec![
                format!(
                    "{id} spent its burst credits and fell to its baseline. Move it from {from} to gp3, which does not burst: {} IOPS and {} MiB/s hold all the time (peak demand {} IOPS and {:.2} MiB/s plus {}% headroom): {cmd}",
                    thousands(plan.iops as f64),
                    plan.throughput,
                    thousands(peak.iops.unwrap_or(0.0)),
                    peak.throughput_mibps.unwrap_or(0.0),
                    ((HEADROOM - 1.0) * 100.0).round(),
                ),
                ELASTIC_VOLUMES.to_owned(),
            ];
            if let Some(limits) = desc.and_then(volume_limits) {
                if let Some(spent) = limits.spent {
                    steps.push(format!(
                        "For reference: with its credits spent it was held at {} IOPS / {:.2} MiB/s.",
                        spent.iops.map_or("?".to_owned(), thousands),
                        spent.throughput_mibps.unwrap_or(0.0)
                    ));
                }
            }
            steps.push(cost(
                region,
                desc,
                &price::Config {
                    volume_type: VolumeType::Gp3,
                    size_gib: plan.size,
                    iops: plan.iops,
                    throughput_mibps: plan.throughput,
                },
            ));
            Remediation {
                kind: RemediationKind::ChangeVolumeType,
                steps,
                commands: vec![
                    cmd,
                    format!("aws ec2 describe-volumes-modifications{r} --volume-ids {id}"),
                ],
            }
        }
        None => to_io2(
            desc,
            id,
            peak,
            None,
            region,
            "gp3 tops out at 80,000 IOPS and 2,000 MiB/s",
        ),
    }
}

/// The instance type's EBS maximum, or its baseline once the burst is
/// spent, held the I/O.
pub fn instance_type(
    id: &InstanceId,
    desc: Option<&Instance>,
    current: Option<&TypeLimits>,
    types: &BTreeMap<InstanceType, TypeLimits>,
    peak: Rate,
    source: LimitSource,
    region: Option<&str>,
) -> Remediation {
    let r = region_arg(region);
    let need_iops = peak.iops.unwrap_or(0.0) * HEADROOM;
    let need_tput = peak.throughput_mibps.unwrap_or(0.0) * HEADROOM;
    let current_name = desc.and_then(|d| d.instance_type.as_ref());
    let candidate = types
        .values()
        .filter(|t| Some(&t.instance_type) != current_name)
        .filter(|t| {
            t.baseline.iops.is_some_and(|b| b >= need_iops)
                && t.baseline.throughput_mibps.is_some_and(|b| b >= need_tput)
        })
        .filter(|t| match current {
            Some(c) => {
                t.vcpus.unwrap_or(0) >= c.vcpus.unwrap_or(0)
                    && t.memory_mib.unwrap_or(0) >= c.memory_mib.unwrap_or(0)
                    && (c.architectures.is_empty()
                        || t.architectures.iter().any(|a| c.architectures.contains(a)))
            }
            None => true,
        })
        .filter(|t| t.current_generation != Some(false))
        .min_by(|a, b| {
            let same_family = |t: &TypeLimits| {
                current_name.is_some_and(|c| c.family() == t.instance_type.family())
            };
            (a.vcpus, a.memory_mib, !same_family(a))
                .cmp(&(b.vcpus, b.memory_mib, !same_family(b)))
                .then(
                    a.baseline
                        .throughput_mibps
                        .partial_cmp(&b.baseline.throughput_mibps)
                        .unwrap_or(std::cmp::Ordering::Equal),
                )
                .then(a.instance_type.cmp(&b.instance_type))
        });
    let why = match (source, current) {
        (LimitSource::InstanceBaseline, Some(c)) => format!(
            "{id} ({}) spent its EBS burst credits (the maximum lasts 30 minutes a day at full demand) and fell to its baseline of {} IOPS / {:.2} MiB/s ({} MB/s).",
            c.instance_type,
            c.baseline.iops.map_or("?".to_owned(), thousands),
            c.baseline.throughput_mibps.unwrap_or(0.0),
            c.baseline_mbps.unwrap_or(0.0)
        ),
        (_, Some(c)) => format!(
            "{id} ({}) reached its EBS maximum of {} IOPS / {:.2} MiB/s ({} MB/s).",
            c.instance_type,
            c.maximum.iops.map_or("?".to_owned(), thousands),
            c.maximum.throughput_mibps.unwrap_or(0.0),
            c.maximum_mbps.unwrap_or(0.0)
        ),
        (_, None) => format!("{id} reached its instance type's EBS limit."),
    };
    let need = format!(
        "It needs a type whose EBS baseline (what it sustains past 30 minutes) covers {} IOPS and {:.2} MiB/s ({:.2} MB/s): the peak seen plus {}% headroom; demand was capped at the ceiling, so the real need may be higher.",
        thousands(need_iops),
        need_tput,
        need_tput * crate::model::MB_PER_MIB,
        ((HEADROOM - 1.0) * 100.0).round(),
    );
    let mut steps = vec![why, need];
    let mut commands = Vec::new();
    match candidate {
        Some(t) => {
            steps.push(format!(
                "{} does (baseline {} IOPS / {:.2} MiB/s, maximum {} IOPS / {:.2} MiB/s, {} vCPUs, {} GiB): stop the instance, change its type, start it (minutes of downtime; instance store data is lost and a public IPv4 address that is not an Elastic IP changes).",
                t.instance_type,
                t.baseline.iops.map_or("?".to_owned(), thousands),
                t.baseline.throughput_mibps.unwrap_or(0.0),
                t.maximum.iops.map_or("?".to_owned(), thousands),
                t.maximum.throughput_mibps.unwrap_or(0.0),
                t.vcpus.map_or("?".to_owned(), |v| v.to_string()),
                t.memory_mib.map_or("?".to_owned(), |m| format!("{:.0}", m as f64 / 1024.0)),
            ));
            commands.push(format!("aws ec2 stop-instances{r} --instance-ids {id}"));
            commands.push(format!(
                "aws ec2 wait instance-stopped{r} --instance-ids {id}"
            ));
            commands.push(format!(
                "aws ec2 modify-instance-attribute{r} --instance-id {id} --instance-type Value={}",
                t.instance_type
            ));
            commands.push(format!("aws ec2 start-instances{r} --instance-ids {id}"));
            steps.push("Instance prices are not in start-doctor's table: compare the two types on https://aws.amazon.com/ec2/pricing/ before the change.".to_owned());
        }
        None => {
            let arch = current
                .and_then(|c| c.architectures.first())
                .map(|a| format!(" Name=processor-info.supported-architecture,Values={a}"))
                .unwrap_or_default();
            let query = format!(
                "aws ec2 describe-instance-types{r} --filters Name=current-generation,Values=true{arch} --query \"InstanceTypes[?EbsInfo.EbsOptimizedInfo.BaselineIops >= to_number('{}') && EbsInfo.EbsOptimizedInfo.BaselineThroughputInMBps >= to_number('{:.0}')].[InstanceType,VCpuInfo.DefaultVCpus,MemoryInfo.SizeInMiB,EbsInfo.EbsOptimizedInfo.BaselineIops,EbsInfo.EbsOptimizedInfo.BaselineThroughputInMBps]\" --output table",
                need_iops.ceil(),
                (need_tput * crate::model::MB_PER_MIB).ceil(),
            );
            steps.push(format!(
                "None of the instance types described here does; list those that do (at least {} vCPUs and {} GiB to keep the CPU and memory): {query}",
                current.and_then(|c| c.vcpus).map_or("the current".to_owned(), |v| v.to_string()),
                current.and_then(|c| c.memory_mib).map_or("the current".to_owned(), |m| format!("{:.0}", m as f64 / 1024.0)),
            ));
            commands.push(query);
        }
    }
    Remediation {
        kind: RemediationKind::ChangeInstanceType,
        steps,
        commands,
    }
}

/// A volume restored from a snapshot is still initializing.
#[allow(clippy::too_many_arguments)]
pub fn initialize(
    desc: Option<&Volume>,
    id: &VolumeId,
    instance: Option<&Instance>,
    facts: Option<&InitializationFacts>,
    fsr: Option<&FastRestore>,
    read_mibps: Option<f64>,
    region: Option<&str>,
) -> Remediation {
    let r = region_arg(region);
    let serial = id.as_str().replace('-', "");
    let device = instance
        .and_then(|i| i.volumes.iter().find(|(v, _)| v == id))
        .and_then(|(_, dev)| dev.clone())
        .or_else(|| {
            desc.and_then(|d| d.attachments.first())
                .and_then(|(_, dev)| dev.clone())
        });
    let size = desc.and_then(|d| d.size_gib);
    let progress = facts.and_then(|f| f.progress).unwrap_or(0);
    let left_gib = size.map(|s| s as f64 * f64::from(100 - progress.min(100)) / 100.0);
    let estimate = match (facts.and_then(|f| f.estimated_seconds_left), left_gib, read_mibps) {
        (Some(s), _, _) => format!("EC2 estimates {} minutes left at the provisioned rate.", s.div_ceil(60)),
        (None, Some(gib), Some(rate)) if rate > 0.0 => format!(
            "Reading the {gib:.0} GiB left at up to {rate:.0} MiB/s (the lower of the volume's and the instance's sustained throughput) takes at least {} minutes; S3 may deliver less, so allow more.",
            (gib * 1024.0 / rate / 60.0).ceil()
        ),
        _ => "How long it takes depends on the size left and the throughput the volume and instance allow.".to_owned(),
    };
    let fio = "sudo fio --filename=\"$DEV\" --rw=read --bs=1M --iodepth=32 --ioengine=libaio --direct=1 --name=volume-initialize".to_owned();
    let find = format!("DEV=/dev/$(lsblk -dno NAME,SERIAL | awk '$2==\"{serial}\" {{print $1}}')");
    let mut steps = vec![format!(
        "Read every block of {id} now, so the application stops paying for first reads: on the instance, find its device (Nitro: the NVMe serial is {serial}{}) and read it whole with fio (or `sudo dd if=$DEV of=/dev/null bs=1M`). It competes with the application for throughput: run it off-peak. {estimate}",
        device.map(|d| format!("; attached as {d}")).unwrap_or_default()
    )];
    let mut commands = vec![find, fio];
    let snapshot = facts.and_then(|f| f.snapshot_id.clone());
    let zone = desc.and_then(|d| d.zone.as_ref()).map(|z| z.to_string());
    if let (Some(snap), Some(zone)) = (&snapshot, &zone) {
        match fsr.map(|f| &f.state) {
            Some(FsrState::Enabled) => steps.push(format!(
                "Fast snapshot restore is already enabled for {snap} in {zone}: volumes created from it from now on are initialized at creation (this one was not)."
            )),
            Some(FsrState::Enabling | FsrState::Optimizing) => steps.push(format!(
                "Fast snapshot restore for {snap} in {zone} is still being set up (about 60 minutes per TiB of snapshot): volumes created once it is `enabled` are initialized at creation."
            )),
            _ => {
                let cmd = format!("aws ec2 enable-fast-snapshot-restores{r} --availability-zones {zone} --source-snapshot-ids {snap}");
                steps.push(format!(
                    "Before the next launch from {snap} (the cutover, or a relaunch), enable fast snapshot restore for it in {zone}: {cmd}. It is billed per hour per snapshot and zone while enabled, takes about 60 minutes per TiB to optimize, and creation credits limit how many fully initialized volumes it gives per hour; disable it afterwards with `aws ec2 disable-fast-snapshot-restores`."
                ));
                commands.push(cmd);
            }
        }
        let rate_cmd = format!(
            "aws ec2 create-volume{r} --availability-zone {zone} --snapshot-id {snap} --volume-type gp3 --volume-initialization-rate 300"
        );
        let time = size
            .map(|s| {
                format!(
                    " ({} GiB at 300 MiB/s is about {} minutes)",
                    s,
                    (s as f64 * 1024.0 / 300.0 / 60.0).ceil()
                )
            })
            .unwrap_or_default();
        steps.push(format!(
            "Or give volumes created from {snap} a provisioned initialization rate (100 to 300 MiB/s, set at creation, e.g. `VolumeInitializationRate` in a launch template's block device mapping): a predictable time to full performance{time}: {rate_cmd}"
        ));
        commands.push(rate_cmd);
    }
    Remediation {
        kind: RemediationKind::InitializeVolume,
        steps,
        commands,
    }
}

/// A volume stopped completing I/O.
pub fn stalled(id: &InstanceId, volumes: &[VolumeId], region: Option<&str>) -> Remediation {
    let r = region_arg(region);
    let list = volumes
        .iter()
        .map(VolumeId::to_string)
        .collect::<Vec<_>>()
        .join(" ");
    Remediation {
        kind: RemediationKind::ContactSupport,
        steps: vec![
            format!("This is not a limit to raise: {list} stopped completing I/O, an impairment of the volume on the AWS side. No change of size, IOPS or type fixes it."),
            format!("Check the volume status and AWS Health for an EBS event: aws ec2 describe-volume-status{r} --volume-ids {list}"),
            format!("Open an AWS Support case naming {list}, the instance {id} and the minutes above; keep the metrics as evidence."),
            "If the application must recover before AWS answers: restore the data from the latest snapshot to a new volume and move the application to it.".to_owned(),
        ],
        commands: vec![format!("aws ec2 describe-volume-status{r} --volume-ids {list}")],
    }
}

/// EBS is not what is slow.
pub fn look_elsewhere(id: &InstanceId) -> Remediation {
    Remediation {
        kind: RemediationKind::LookElsewhere,
        steps: vec![
            format!("EBS is not what holds {id}: no volume or instance EBS ceiling was reached and reads were fast."),
            "Look at the CPU (CPUUtilization, and steal time inside the guest), memory pressure and swapping, the network (the instance's bandwidth and packets-per-second allowances: ethtool -S shows *_allowance_exceeded), and the application's own waits (locks, a remote database, DNS).".to_owned(),
        ],
        commands: Vec::new(),
    }
}

/// Evidence is missing: the commands that collect it.
pub fn collect_data(id: &InstanceId, commands: &[String]) -> Remediation {
    // Two missing pieces may come from one command (the instance's type
    // and its volumes both from describe-instances): each runs once, in
    // the order first needed.
    let mut unique: Vec<String> = Vec::with_capacity(commands.len());
    for c in commands {
        if !unique.contains(c) {
            unique.push(c.clone());
        }
    }
    let mut steps = vec![format!(
        "Collect what is missing for {id} and run start-doctor ebs again on all of it."
    )];
    steps.extend(unique.iter().map(|c| format!("Run: {c}")));
    Remediation {
        kind: RemediationKind::CollectData,
        steps,
        commands: unique,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn gp3_volume(size: u64, iops: u64, tput: u64) -> Volume {
        Volume {
            id: VolumeId::parse("vol-0123456789abcdef0").unwrap(),
            volume_type: Some(VolumeType::Gp3),
            size_gib: Some(size),
            iops: Some(iops),
            throughput_mibps: Some(tput),
            snapshot_id: None,
            fast_restored: None,
            initialization_rate: None,
            create_time: None,
            zone: None,
            attachments: Vec::new(),
        }
    }

    fn rate(iops: f64, mibps: f64) -> Rate {
        Rate {
            iops: Some(iops),
            throughput_mibps: Some(mibps),
        }
    }

    #[test]
    fn collect_data_runs_each_command_once() {
        let id = InstanceId::parse("i-0123456789abcdef0").unwrap();
        let instances = "aws ec2 describe-instances --instance-ids i-0123456789abcdef0".to_owned();
        let volumes = "aws ec2 describe-volumes --volume-ids vol-0123456789abcdef0".to_owned();
        // The instance's type and its volumes both come from describe-instances.
        let r = collect_data(
            &id,
            &[instances.clone(), instances.clone(), volumes.clone()],
        );
        assert_eq!(r.commands, vec![instances.clone(), volumes]);
        assert_eq!(r.steps.len(), 3, "{:?}", r.steps);
        assert_eq!(r.steps[1], format!("Run: {instances}"));
    }

    #[test]
    fn gp3_plans_cover_the_peak_within_the_ratios() {
        let v = gp3_volume(500, 3000, 125);
        let plan = gp3_plan(Some(&v), rate(3000.0, 120.0)).unwrap();
        assert_eq!(
            plan,
            Gp3Plan {
                iops: 3600,
                throughput: 145,
                size: 500
            }
        );
        // Throughput needs IOPS: 1,200 MiB/s needs 4,800 IOPS at 0.25 MiB/s per IOPS.
        let plan = gp3_plan(Some(&v), rate(1000.0, 1000.0)).unwrap();
        assert_eq!(plan.throughput, 1200);
        assert_eq!(plan.iops, 4800);
        // IOPS need size: 40,000 IOPS need 80 GiB at 500 per GiB.
        let small = gp3_volume(20, 3000, 125);
        assert_eq!(
            gp3_plan(Some(&small), rate(33_000.0, 100.0)).unwrap().size,
            80
        );
        // Beyond gp3.
        assert_eq!(gp3_plan(Some(&v), rate(70_000.0, 100.0)), None);
        assert_eq!(gp3_plan(Some(&v), rate(9_000.0, 1_800.0)), None);
    }

    #[test]
    fn a_plan_never_lowers_what_is_provisioned() {
        let v = gp3_volume(500, 10_000, 500);
        assert_eq!(
            gp3_plan(Some(&v), rate(100.0, 10.0)).unwrap(),
            Gp3Plan {
                iops: 10_000,
                throughput: 500,
                size: 500
            }
        );
    }

    #[test]
    fn beyond_gp3_is_io2_and_beyond_io2_is_striping() {
        let v = gp3_volume(500, 16_000, 1000);
        let r = volume_limit(
            Some(&v),
            &v.id,
            rate(75_000.0, 900.0),
            None,
            Some("us-east-1"),
        );
        assert_eq!(r.kind, RemediationKind::ChangeVolumeType);
        assert!(
            r.commands[0].contains("--volume-type io2 --iops 90000"),
            "{:?}",
            r.commands
        );
        let r = volume_limit(Some(&v), &v.id, rate(300_000.0, 900.0), None, None);
        assert!(r.steps[0].contains("No single EBS volume"), "{:?}", r.steps);
    }
}
