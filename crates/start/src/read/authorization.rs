//! What IAM and KMS say about who may use a key: `aws iam
//! get-account-authorization-details` output (roles and users with their
//! inline, attached and boundary policies; managed policies with their
//! default versions) and key policies as `{"KeyArn": ..., "Policy": ...}`.
//!
//! Policy documents come in three forms: a JSON object (what the AWS CLI
//! prints), a JSON string holding the document, or that string URL-encoded
//! (what the IAM API returns and some tools pass through). All three are
//! stored as the document's JSON text; the preflight check parses it.

use serde::Deserialize;
use serde_json::value::RawValue;

use super::sink::Sink;
use super::EventProblem;
use crate::evidence::{Evidence, KeyPolicyReport, ManagedPolicyReport, PrincipalReport};
use crate::ids::{KeyArn, PrincipalArn};

#[derive(Deserialize)]
struct NamedDocument<'a> {
    #[serde(rename = "PolicyName", default)]
    policy_name: String,
    #[serde(rename = "PolicyDocument", borrow)]
    policy_document: &'a RawValue,
}

#[derive(Deserialize)]
struct AttachedPolicy {
    #[serde(rename = "PolicyArn")]
    policy_arn: String,
}

#[derive(Deserialize)]
struct Boundary {
    #[serde(rename = "PermissionsBoundaryArn")]
    arn: String,
}

#[derive(Deserialize)]
struct Tag {
    #[serde(rename = "Key")]
    key: String,
    #[serde(rename = "Value", default)]
    value: String,
}

/// A `RoleDetailList` or `UserDetailList` entry (the two share these fields
/// but for the inline list's name).
#[derive(Deserialize)]
struct Entity<'a> {
    #[serde(rename = "Arn")]
    arn: String,
    #[serde(rename = "Path", default)]
    path: Option<String>,
    #[serde(rename = "RolePolicyList", alias = "UserPolicyList", borrow, default)]
    inline: Vec<NamedDocument<'a>>,
    #[serde(rename = "AttachedManagedPolicies", default)]
    attached: Vec<AttachedPolicy>,
    #[serde(rename = "PermissionsBoundary", default)]
    boundary: Option<Boundary>,
    #[serde(rename = "Tags", default)]
    tags: Vec<Tag>,
    #[serde(rename = "GroupList", default)]
    groups: Vec<String>,
}

#[derive(Deserialize)]
struct Group<'a> {
    #[serde(rename = "GroupName")]
    name: String,
    #[serde(rename = "GroupPolicyList", borrow, default)]
    inline: Vec<NamedDocument<'a>>,
    #[serde(rename = "AttachedManagedPolicies", default)]
    attached: Vec<AttachedPolicy>,
}

#[derive(Deserialize)]
struct ManagedPolicy<'a> {
    #[serde(rename = "Arn")]
    arn: String,
    #[serde(rename = "PolicyName", default)]
    name: String,
    #[serde(rename = "DefaultVersionId", default)]
    default_version_id: Option<String>,
    #[serde(rename = "PolicyVersionList", borrow, default)]
    versions: Vec<PolicyVersion<'a>>,
}

#[derive(Deserialize)]
struct PolicyVersion<'a> {
    #[serde(rename = "Document", borrow, default)]
    document: Option<&'a RawValue>,
    #[serde(rename = "VersionId", default)]
    version_id: Option<String>,
    #[serde(rename = "IsDefaultVersion", default)]
    is_default: bool,
}

/// Decodes `%XX` escapes (and `+` as a space, as form encoding does).
/// `None` when an escape is malformed or the result is not UTF-8.
fn percent_decode(text: &str) -> Option<String> {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while let Some(&b) = bytes.get(i) {
        match b {
            b'%' => {
                let hex = bytes.get(i + 1..i + 3)?;
                if !hex.iter().all(u8::is_ascii_hexdigit) {
                    return None;
                }
                out.push(u8::from_str_radix(std::str::from_utf8(hex).ok()?, 16).ok()?);
                i += 3;
            }
            b'+' => {
                out.push(b' ');
                i += 1;
            }
            _ => {
                out.push(b);
                i += 1;
            }
        }
    }
    String::from_utf8(out).ok()
}

/// A policy document as JSON text: an object as is, a string holding the
/// document (plain or URL-encoded) decoded. An error says what was found.
pub(crate) fn policy_text(raw: &RawValue) -> Result<String, String> {
    let text = raw.get().trim_start();
    if text.starts_with('{') {
        return Ok(raw.get().to_owned());
    }
    let s: String =
        serde_json::from_str(raw.get()).map_err(|_| "not an object or a string".to_owned())?;
    let decoded = if s.trim_start().starts_with('{') {
        s
    } else {
        percent_decode(&s)
            .ok_or_else(|| "a string that is neither JSON nor URL-encoded".to_owned())?
    };
    match serde_json::from_str::<&RawValue>(&decoded) {
        Ok(value) if value.get().starts_with('{') => Ok(decoded),
        _ => Err("a string that does not hold a JSON object".to_owned()),
    }
}

fn inline_policies(
    owner: &str,
    list: &[NamedDocument],
    prefix: &str,
) -> Result<Vec<(String, String)>, EventProblem> {
    list.iter()
        .map(|p| {
            let text = policy_text(p.policy_document).map_err(|e| {
                EventProblem::new(
                    None,
                    format!(
                        "{owner}: inline policy {:?}: PolicyDocument is {e}",
                        p.policy_name
                    ),
                )
            })?;
            Ok((format!("{prefix}{}", p.policy_name), text))
        })
        .collect()
}

/// `aws iam get-account-authorization-details`: every role, user and
/// managed policy, one evidence item each; a malformed entry costs only
/// itself.
pub(super) fn read_details(fields: &[(String, &RawValue)], sink: &mut Sink) {
    let field = |name: &str| fields.iter().find(|(k, _)| k == name).map(|(_, v)| *v);
    let list = |name: &str, sink: &mut Sink| -> Vec<&RawValue> {
        let Some(raw) = field(name) else {
            return Vec::new();
        };
        serde_json::from_str(raw.get()).unwrap_or_else(|e| {
            sink.problem(EventProblem::new(
                None,
                format!("authorization details {name}: {e}"),
            ));
            Vec::new()
        })
    };
    let mut groups = Vec::new();
    for raw in list("GroupDetailList", sink) {
        match serde_json::from_str::<Group>(raw.get()) {
            Ok(group) => match inline_policies(&format!("group {}", group.name), &group.inline, "")
            {
                Ok(inline) => groups.push((group.name, inline, group.attached)),
                Err(problem) => sink.problem(problem),
            },
            Err(e) => sink.problem(EventProblem::new(
                None,
                format!("authorization details group: {e}"),
            )),
        }
    }
    for name in ["RoleDetailList", "UserDetailList"] {
        for raw in list(name, sink) {
            sink.take(entity(raw, name, &groups));
        }
    }
    for raw in list("Policies", sink) {
        sink.take(managed_policy(raw));
    }
}

type GroupPolicies<'a> = (String, Vec<(String, String)>, Vec<AttachedPolicy>);

fn entity(
    raw: &RawValue,
    list: &str,
    groups: &[GroupPolicies],
) -> Result<Option<Evidence>, EventProblem> {
    let e: Entity = serde_json::from_str(raw.get())
        .map_err(|e| EventProblem::new(None, format!("authorization details {list}: {e}")))?;
    let arn = PrincipalArn::parse(&e.arn)
        .filter(|a| a.as_str() == e.arn)
        .ok_or_else(|| EventProblem::new(None, format!("{list}: bad Arn {:?}", e.arn)))?;
    let mut inline_policies = inline_policies(&e.arn, &e.inline, "")?;
    let mut attached: Vec<String> = e.attached.into_iter().map(|a| a.policy_arn).collect();
    // A user's groups give it their policies too.
    for group in &e.groups {
        match groups.iter().find(|(name, _, _)| name == group) {
            Some((name, inline, group_attached)) => {
                inline_policies.extend(
                    inline
                        .iter()
                        .map(|(policy, text)| (format!("group {name}: {policy}"), text.clone())),
                );
                attached.extend(group_attached.iter().map(|a| a.policy_arn.clone()));
            }
            None => {
                return Err(EventProblem::new(
                    None,
                    format!("{}: group {group:?} is not in GroupDetailList", e.arn),
                ))
            }
        }
    }
    attached.sort();
    attached.dedup();
    let mut tags: Vec<(String, String)> = e.tags.into_iter().map(|t| (t.key, t.value)).collect();
    tags.sort();
    Ok(Some(Evidence::Principal(PrincipalReport {
        arn,
        path: e.path.unwrap_or_else(|| "/".to_owned()),
        inline_policies,
        attached_policies: attached,
        permissions_boundary: e.boundary.map(|b| b.arn),
        tags,
    })))
}

fn managed_policy(raw: &RawValue) -> Result<Option<Evidence>, EventProblem> {
    let p: ManagedPolicy = serde_json::from_str(raw.get())
        .map_err(|e| EventProblem::new(None, format!("authorization details Policies: {e}")))?;
    let default = p
        .versions
        .iter()
        .find(|v| v.is_default)
        .or_else(|| {
            p.versions
                .iter()
                .find(|v| v.version_id.is_some() && v.version_id == p.default_version_id)
        })
        .and_then(|v| v.document);
    let document = default.map(policy_text).transpose().map_err(|e| {
        EventProblem::new(
            None,
            format!("managed policy {}: default version Document is {e}", p.arn),
        )
    })?;
    Ok(Some(Evidence::ManagedPolicy(ManagedPolicyReport {
        arn: p.arn,
        name: p.name,
        document,
    })))
}

/// A key policy: `{"KeyArn": "<arn>", "Policy": <document or its JSON string>}`.
pub(super) fn read_key_policy(key_arn: &RawValue, policy: &RawValue, sink: &mut Sink) {
    let parsed = serde_json::from_str::<String>(key_arn.get())
        .ok()
        .and_then(|arn| KeyArn::parse(&arn))
        .ok_or_else(|| EventProblem::new(None, format!("key policy: bad KeyArn {}", key_arn.get())))
        .and_then(|key| {
            let document = policy_text(policy).map_err(|e| {
                EventProblem::new(None, format!("key policy of {key}: Policy is {e}"))
            })?;
            Ok(Some(Evidence::KeyPolicy(KeyPolicyReport { key, document })))
        });
    sink.take(parsed);
}

#[cfg(test)]
mod tests {
    use super::*;

    fn raw(json: &str) -> Box<RawValue> {
        RawValue::from_string(json.to_owned()).unwrap()
    }

    #[test]
    fn documents_may_be_objects_strings_or_url_encoded() {
        let doc = r#"{"Version":"2012-10-17","Statement":[]}"#;
        assert_eq!(policy_text(&raw(doc)).unwrap(), doc);
        let string = serde_json::to_string(doc).unwrap();
        assert_eq!(policy_text(&raw(&string)).unwrap(), doc);
        let encoded = "%7B%22Version%22%3A%222012-10-17%22%2C%22Statement%22%3A%5B%5D%7D";
        assert_eq!(policy_text(&raw(&format!("\"{encoded}\""))).unwrap(), doc);
    }

    #[test]
    fn documents_that_are_not_objects_are_errors() {
        assert!(policy_text(&raw("[1]")).is_err());
        assert!(policy_text(&raw("\"%7\"")).is_err(), "a cut escape");
        assert!(policy_text(&raw("\"hello\"")).is_err());
        assert!(policy_text(&raw("\"%FF%FE\"")).is_err(), "not UTF-8");
        assert!(policy_text(&raw("42")).is_err());
    }
}
