//! AWS console URLs for what a diagnosis names (instances, keys,
//! CloudTrail events, OpsItems): one place for Slack messages and
//! annotations. A URL is built only from a region and an id that are safe
//! to put in one; otherwise there is none.

use crate::ids::{InstanceId, KeyArn};

/// Whether `region` is safe to put in a URL host.
fn safe_region(region: Option<&str>) -> Option<&str> {
    region.filter(|r| {
        !r.is_empty()
            && r.bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
    })
}

/// Whether `id` is safe in a URL path or fragment (letters, digits, `-`).
fn safe_id(id: &str) -> bool {
    !id.is_empty() && id.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
}

/// The EC2 console page of an instance.
pub fn instance(region: Option<&str>, id: &InstanceId) -> Option<String> {
    let r = safe_region(region)?;
    Some(format!(
        "https://{r}.console.aws.amazon.com/ec2/home?region={r}#InstanceDetails:instanceId={id}"
    ))
}

/// The KMS console page of a key (in the key's own region).
pub fn key(key: &KeyArn) -> Option<String> {
    let r = safe_region(Some(key.region()))?;
    let id = key.key_id();
    safe_id(id)
        .then(|| format!("https://{r}.console.aws.amazon.com/kms/home?region={r}#/kms/keys/{id}"))
}

/// The CloudTrail console page of an event.
pub fn event(region: Option<&str>, event_id: &str) -> Option<String> {
    let r = safe_region(region)?;
    safe_id(event_id).then(|| {
        format!(
            "https://{r}.console.aws.amazon.com/cloudtrailv2/home?region={r}#/events/{event_id}"
        )
    })
}

/// The Systems Manager console page of an OpsItem.
pub fn ops_item(region: Option<&str>, ops_item: &str) -> Option<String> {
    let r = safe_region(region)?;
    safe_id(ops_item).then(|| {
        format!("https://{r}.console.aws.amazon.com/systems-manager/opsitems/{ops_item}?region={r}")
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unsafe_regions_and_ids_give_no_url() {
        let id = InstanceId::parse("i-0a1b2c3d4e5f60002").unwrap();
        assert!(instance(Some("eu-west-1"), &id).is_some());
        assert_eq!(instance(Some("eu-west-1|x"), &id), None);
        assert_eq!(instance(None, &id), None);
        assert_eq!(event(Some("eu-west-1"), "a|b"), None);
        assert_eq!(ops_item(Some("eu-west-1"), ""), None);
        assert_eq!(
            ops_item(Some("eu-west-1"), "oi-0123abcd").as_deref(),
            Some("https://eu-west-1.console.aws.amazon.com/systems-manager/opsitems/oi-0123abcd?region=eu-west-1")
        );
    }
}
