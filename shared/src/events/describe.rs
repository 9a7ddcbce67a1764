//! AWS CLI `describe-*` output: what EC2 and KMS say about instances,
//! volumes and keys right now.

use serde::Deserialize;
use serde_json::value::RawValue;

use super::document::Sink;
use super::EventProblem;
use crate::evidence::{
    Evidence, InstanceReport, InstanceState, KeyReport, KeyState, Origin, VolumeReport,
};
use crate::ids::{InstanceId, KeyArn, VolumeId};

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

/// The region of an availability zone name: the dash-separated parts up to
/// and including the first numeric one (`eu-west-1a` -> `eu-west-1`,
/// `us-east-1-bos-1a` -> `us-east-1`).
pub(crate) fn region_of_zone(zone: &str) -> Option<String> {
    let mut parts = Vec::new();
    for part in zone.split('-') {
        let digits: String = part.chars().take_while(char::is_ascii_digit).collect();
        if digits.is_empty() {
            parts.push(part);
        } else {
            parts.push(&part[..digits.len()]);
            let region = parts.join("-");
            return (parts.len() >= 3 && zone.len() > region.len()).then_some(region);
        }
    }
    None
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
    let mut volume_ids: Vec<VolumeId> = i
        .block_device_mappings
        .iter()
        .filter_map(|m| m.ebs.as_ref()?.volume_id.as_deref())
        .filter_map(VolumeId::parse)
        .collect();
    volume_ids.sort();
    volume_ids.dedup();
    let reason = i.state_reason.as_ref();
    Ok(Some(Evidence::Instance(InstanceReport {
        state: i.state.as_ref().and_then(|s| InstanceState::parse(&s.name)),
        state_reason_code: reason
            .and_then(|r| r.code.clone())
            .filter(|c| !c.is_empty()),
        state_reason_message: reason
            .and_then(|r| r.message.clone())
            .filter(|m| !m.is_empty()),
        volume_ids,
        name: i
            .tags
            .into_iter()
            .find(|t| t.key == "Name")
            .map(|t| t.value),
        origin: Origin {
            account: owner.map(str::to_owned),
            region: i
                .placement
                .and_then(|p| p.availability_zone)
                .and_then(|z| region_of_zone(&z)),
        },
        instance_id,
    })))
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
    let mut attached_to: Vec<InstanceId> = v
        .attachments
        .iter()
        .filter_map(|a| a.instance_id.as_deref().and_then(InstanceId::parse))
        .collect();
    attached_to.sort();
    attached_to.dedup();
    Ok(Some(Evidence::Volume(VolumeReport {
        volume_id,
        key: v.kms_key_id.as_deref().and_then(KeyArn::parse),
        attached_to,
    })))
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
            Ok(Some(Evidence::Key(KeyReport {
                key,
                state: KeyState::parse(&m.key_state),
                customer_managed: m.key_manager.as_deref() != Some("AWS"),
                policy: None,
            })))
        });
    sink.take(parsed);
}

#[cfg(test)]
mod tests {
    use super::region_of_zone;

    #[test]
    fn zones_map_to_regions() {
        assert_eq!(region_of_zone("eu-west-1a").as_deref(), Some("eu-west-1"));
        assert_eq!(
            region_of_zone("us-east-1-bos-1a").as_deref(),
            Some("us-east-1")
        );
        assert_eq!(
            region_of_zone("us-gov-west-1b").as_deref(),
            Some("us-gov-west-1")
        );
        assert_eq!(region_of_zone("eu-west-1"), None);
    }
}
