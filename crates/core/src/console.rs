//! AWS console URLs for what the doctors name (instances, volumes, network
//! ACLs, security groups, KMS keys, CloudTrail events, OpsItems): one place
//! for Slack messages and annotations. A URL is built only from a checked
//! [`Region`] and an id that is safe in a URL; otherwise there is none.

use crate::ids::{InstanceId, Region, VolumeId};

/// Whether `id` is safe in a URL path or fragment (letters, digits, `-`).
fn safe_id(id: &str) -> bool {
    !id.is_empty() && id.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
}

/// The console host of `region`.
fn host(region: &Region) -> String {
    format!("https://{region}.console.aws.amazon.com")
}

/// An EC2 console page (`#<page>:<key>=<id>`).
fn ec2(region: Option<&Region>, page: &str, key: &str, id: &str) -> Option<String> {
    let r = region?;
    safe_id(id).then(|| format!("{}/ec2/home?region={r}#{page}:{key}={id}", host(r)))
}

/// The EC2 console page of an instance.
pub fn instance(region: Option<&Region>, id: &InstanceId) -> Option<String> {
    ec2(region, "InstanceDetails", "instanceId", id.as_str())
}

/// The EC2 console page of an EBS volume.
pub fn volume(region: Option<&Region>, id: &VolumeId) -> Option<String> {
    ec2(region, "VolumeDetails", "volumeId", id.as_str())
}

/// The VPC console page of a network ACL (`acl-...`).
pub fn network_acl(region: Option<&Region>, id: &str) -> Option<String> {
    let r = region?;
    safe_id(id).then(|| {
        format!(
            "{}/vpcconsole/home?region={r}#NetworkAclDetails:networkAclId={id}",
            host(r)
        )
    })
}

/// The EC2 console page of a security group (`sg-...`).
pub fn security_group(region: Option<&Region>, id: &str) -> Option<String> {
    ec2(region, "SecurityGroup", "groupId", id)
}

/// The KMS console page of a key, in the key's own Region.
pub fn kms_key(region: &Region, key_id: &str) -> Option<String> {
    safe_id(key_id).then(|| {
        format!(
            "{}/kms/home?region={region}#/kms/keys/{key_id}",
            host(region)
        )
    })
}

/// The CloudTrail console page of an event.
pub fn cloudtrail_event(region: Option<&Region>, event_id: &str) -> Option<String> {
    let r = region?;
    safe_id(event_id).then(|| {
        format!(
            "{}/cloudtrailv2/home?region={r}#/events/{event_id}",
            host(r)
        )
    })
}

/// The Systems Manager console page of an OpsItem.
pub fn ops_item(region: Option<&Region>, ops_item: &str) -> Option<String> {
    let r = region?;
    safe_id(ops_item).then(|| format!("{}/systems-manager/opsitems/{ops_item}?region={r}", host(r)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unsafe_ids_and_unknown_regions_give_no_url() {
        let id = InstanceId::parse("i-0a1b2c3d4e5f60002").expect("id");
        let region = Region::parse("eu-west-1").expect("region");
        assert_eq!(
            instance(Some(&region), &id).as_deref(),
            Some("https://eu-west-1.console.aws.amazon.com/ec2/home?region=eu-west-1#InstanceDetails:instanceId=i-0a1b2c3d4e5f60002")
        );
        assert_eq!(instance(None, &id), None);
        assert_eq!(cloudtrail_event(Some(&region), "a|b"), None);
        assert_eq!(ops_item(Some(&region), ""), None);
        assert_eq!(security_group(Some(&region), "sg-1\"x"), None);
        assert_eq!(
            ops_item(Some(&region), "oi-0123abcd").as_deref(),
            Some("https://eu-west-1.console.aws.amazon.com/systems-manager/opsitems/oi-0123abcd?region=eu-west-1")
        );
    }
}
