//! AWS CLI `describe-*` output: what EC2 and KMS say about instances,
//! volumes and keys right now.

use serde::Deserialize;
use serde_json::value::RawValue;

use super::sink::Sink;
use super::EventProblem;
use crate::evidence::{Evidence, InstanceReport, KeyReport, Origin, VolumeReport};
use crate::ids::KeyArn;
use start_doctor_core::ids::{Account, InstanceId, Region, VolumeId};

#[derive(Deserialize)]
struct Reservation<'a> {
    #[serde(rename = "OwnerId", default)]
    owner_id: Option<String>,
    #[serde(rename = "Instances", borrow, default)]
    instances: Vec<&'a RawValue>,
}

#[derive(Deserialize)]
struct Instance {
    #[serde(rename = "InstanceId")]
    instance_id: String,
    #[serde(rename = "State", default)]
    state: Option<NamedState>,
    #[serde(rename = "StateReason", default)]
    state_reason: Option<StateReason>,
    #[serde(rename = "BlockDeviceMappings", default)]
    block_device_mappings: Vec<BlockDeviceMapping>,
    #[serde(rename = "Tags", default)]
    tags: Vec<Tag>,
    #[serde(rename = "Placement", default)]
    placement: Option<Placement>,
}

#[derive(Deserialize)]
struct NamedState {
    #[serde(rename = "Name")]
    name: String,
}

#[derive(Deserialize)]
struct StateReason {
    #[serde(rename = "Code", default)]
    code: Option<String>,
    #[serde(rename = "Message", default)]
    message: Option<String>,
}

#[derive(Deserialize)]
struct BlockDeviceMapping {
    #[serde(rename = "Ebs", default)]
    ebs: Option<EbsMapping>,
}

#[derive(Deserialize)]
struct EbsMapping {
    #[serde(rename = "VolumeId", default)]
    volume_id: Option<String>,
}

#[derive(Deserialize)]
struct Tag {
    #[serde(rename = "Key")]
    key: String,
    #[serde(rename = "Value", default)]
    value: String,
}

#[derive(Deserialize)]
struct Placement {
    #[serde(rename = "AvailabilityZone", default)]
    availability_zone: Option<String>,
}

/// `aws ec2 describe-instances` (`Reservations`).
pub(super) fn read_instances(raw: &RawValue, sink: &mut Sink) {
    let reservations: Vec<Reservation> = match serde_json::from_str(raw.get()) {
        Ok(r) => r,
        Err(e) => {
            return sink.problem(EventProblem::new(
                None,
                format!("describe-instances Reservations: {e}"),
            ))
        }
    };
    for reservation in reservations {
        for raw in reservation.instances {
            sink.take(instance(raw, reservation.owner_id.as_deref()));
        }
    }
}

fn instance(raw: &RawValue, owner: Option<&str>) -> Result<Option<Evidence>, EventProblem> {
    let i: Instance = serde_json::from_str(raw.get())
        .map_err(|e| EventProblem::new(None, format!("describe-instances instance: {e}")))?;
    let instance_id = InstanceId::parse(&i.instance_id).ok_or_else(|| {
        EventProblem::new(
            None,
            format!("describe-instances: bad InstanceId {:?}", i.instance_id),
        )
    })?;
    let region = i
        .placement
        .as_ref()
        .and_then(|p| p.availability_zone.as_deref())
        .and_then(Region::of_zone);
    let reason = i.state_reason.as_ref();
    Ok(Some(Evidence::Instance(InstanceReport::new(
        instance_id,
        i.state.as_ref().map(|s| s.name.as_str()),
        (
            reason.and_then(|r| r.code.as_deref()),
            reason.and_then(|r| r.message.as_deref()),
        ),
        i.block_device_mappings
            .iter()
            .filter_map(|m| m.ebs.as_ref()?.volume_id.as_deref())
            .filter_map(VolumeId::parse),
        i.tags.iter().map(|t| (t.key.as_str(), t.value.as_str())),
        Origin {
            account: owner.and_then(Account::parse),
            region,
        },
    ))))
}

#[derive(Deserialize)]
struct Volume {
    #[serde(rename = "VolumeId")]
    volume_id: String,
    #[serde(rename = "KmsKeyId", default)]
    kms_key_id: Option<String>,
    #[serde(rename = "Attachments", default)]
    attachments: Vec<Attachment>,
}

#[derive(Deserialize)]
struct Attachment {
    #[serde(rename = "InstanceId", default)]
    instance_id: Option<String>,
}

/// `aws ec2 describe-volumes` (`Volumes`).
pub(super) fn read_volumes(raw: &RawValue, sink: &mut Sink) {
    let volumes: Vec<&RawValue> = match serde_json::from_str(raw.get()) {
        Ok(v) => v,
        Err(e) => {
            return sink.problem(EventProblem::new(
                None,
                format!("describe-volumes Volumes: {e}"),
            ))
        }
    };
    for raw in volumes {
        sink.take(volume(raw));
    }
}

fn volume(raw: &RawValue) -> Result<Option<Evidence>, EventProblem> {
    let v: Volume = serde_json::from_str(raw.get())
        .map_err(|e| EventProblem::new(None, format!("describe-volumes volume: {e}")))?;
    let volume_id = VolumeId::parse(&v.volume_id).ok_or_else(|| {
        EventProblem::new(
            None,
            format!("describe-volumes: bad VolumeId {:?}", v.volume_id),
        )
    })?;
    Ok(Some(Evidence::Volume(VolumeReport::new(
        volume_id,
        v.kms_key_id.as_deref(),
        v.attachments
            .iter()
            .filter_map(|a| a.instance_id.as_deref().and_then(InstanceId::parse)),
    ))))
}

#[derive(Deserialize)]
struct KeyMetadata {
    #[serde(rename = "Arn")]
    arn: String,
    #[serde(rename = "KeyState")]
    key_state: String,
    #[serde(rename = "KeyManager", default)]
    key_manager: Option<String>,
}

/// `aws kms describe-key` (`KeyMetadata`).
pub(super) fn read_key(raw: &RawValue, sink: &mut Sink) {
    let parsed = serde_json::from_str::<KeyMetadata>(raw.get())
        .map_err(|e| EventProblem::new(None, format!("describe-key KeyMetadata: {e}")))
        .and_then(|m| {
            let key = KeyArn::parse(&m.arn).ok_or_else(|| {
                EventProblem::new(None, format!("describe-key: bad Arn {:?}", m.arn))
            })?;
            Ok(Some(Evidence::Key(KeyReport::new(
                key,
                Some(&m.key_state),
                m.key_manager.as_deref(),
                None,
            ))))
        });
    sink.take(parsed);
}
