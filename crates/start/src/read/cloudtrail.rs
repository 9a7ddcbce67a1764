//! CloudTrail records: the raw, borrowed form read from any container
//! (EventBridge `detail`, a log file's `Records`, a lookup-events
//! `CloudTrailEvent` string) and its validation into evidence.
//!
//! Only two kinds of record matter: successful EC2 `StartInstances` /
//! `RunInstances` calls and failed KMS calls. Everything else is recognised
//! from a handful of borrowed fields and dropped without building a document
//! for it, which keeps large archives cheap to scan.

use std::borrow::Cow;

use chrono::{DateTime, Utc};
use serde::Deserialize;
use serde_json::value::RawValue;
use serde_json::Value;

use crate::evidence::{Evidence, KmsFailure, Origin, StartApi, StartCall};
use crate::ids::{KeyArn, PrincipalArn, EC2_INFRASTRUCTURE};
use start_doctor_core::ids::{partition_of_region, Account, InstanceId, Region, VolumeId};

use super::EventProblem;

/// A CloudTrail record with only the fields the triage needs, borrowed from
/// the input. Nested objects stay raw until the record is known to matter.
#[derive(Debug, Deserialize)]
pub(crate) struct RawRecord<'a> {
    #[serde(rename = "eventID", borrow, default)]
    event_id: Option<Cow<'a, str>>,
    #[serde(rename = "eventSource", borrow, default)]
    event_source: Option<Cow<'a, str>>,
    #[serde(rename = "eventName", borrow, default)]
    event_name: Option<Cow<'a, str>>,
    #[serde(rename = "eventTime", borrow, default)]
    event_time: Option<Cow<'a, str>>,
    #[serde(rename = "awsRegion", borrow, default)]
    aws_region: Option<Cow<'a, str>>,
    #[serde(rename = "recipientAccountId", borrow, default)]
    recipient_account_id: Option<Cow<'a, str>>,
    #[serde(rename = "errorCode", borrow, default)]
    error_code: Option<Cow<'a, str>>,
    #[serde(rename = "errorMessage", borrow, default)]
    error_message: Option<Cow<'a, str>>,
    #[serde(rename = "requestID", borrow, default)]
    request_id: Option<Cow<'a, str>>,
    #[serde(rename = "userAgent", borrow, default)]
    user_agent: Option<Cow<'a, str>>,
    #[serde(rename = "sourceIPAddress", borrow, default)]
    source_ip_address: Option<Cow<'a, str>>,
    #[serde(rename = "userIdentity", borrow, default)]
    user_identity: Option<&'a RawValue>,
    #[serde(rename = "requestParameters", borrow, default)]
    request_parameters: Option<&'a RawValue>,
    #[serde(rename = "responseElements", borrow, default)]
    response_elements: Option<&'a RawValue>,
    #[serde(borrow, default)]
    resources: Option<&'a RawValue>,
}

/// What a record is, decided from borrowed fields only.
enum Relevance {
    Start(StartApi),
    KmsFailure,
    Irrelevant,
}

impl RawRecord<'_> {
    fn relevance(&self) -> Relevance {
        let source = self.event_source.as_deref().unwrap_or_default();
        let name = self.event_name.as_deref().unwrap_or_default();
        let failed = self.error_code.as_deref().is_some_and(|c| !c.is_empty());
        match (source, name) {
            ("ec2.amazonaws.com", "StartInstances") if !failed => {
                Relevance::Start(StartApi::StartInstances)
            }
            ("ec2.amazonaws.com", "RunInstances") if !failed => {
                Relevance::Start(StartApi::RunInstances)
            }
            ("kms.amazonaws.com", _) if failed => Relevance::KmsFailure,
            _ => Relevance::Irrelevant,
        }
    }

    /// Turns the record into evidence: `Ok(None)` for a record that does not
    /// matter, an error for a relevant record that is malformed.
    pub(crate) fn into_evidence(self) -> Result<Option<Evidence>, EventProblem> {
        let relevance = self.relevance();
        if matches!(relevance, Relevance::Irrelevant) {
            return Ok(None);
        }
        let event_id = self
            .event_id
            .as_deref()
            .filter(|id| !id.is_empty())
            .ok_or_else(|| EventProblem::new(None, "CloudTrail record has no eventID"))?
            .to_owned();
        let problem = |what: String| EventProblem::new(Some(event_id.clone()), what);
        let time = parse_time(self.event_time.as_deref())
            .ok_or_else(|| problem(format!("bad or missing eventTime {:?}", self.event_time)))?;
        let origin = Origin {
            account: self
                .recipient_account_id
                .as_deref()
                .and_then(Account::parse),
            region: self.aws_region.as_deref().and_then(Region::parse),
        };
        let identity = parse_raw::<UserIdentity>(self.user_identity)
            .map_err(|e| problem(format!("userIdentity: {e}")))?;
        let caller_account = identity
            .as_ref()
            .and_then(|i| i.account_id.as_deref())
            .and_then(Account::parse);
        let principal = identity.as_ref().and_then(UserIdentity::principal);
        let request_id = self.request_id.as_deref().map(str::to_owned);

        match relevance {
            Relevance::Start(api) => {
                let items_from = match api {
                    StartApi::StartInstances => self.request_parameters,
                    StartApi::RunInstances => self.response_elements,
                };
                let instance_ids = parse_raw::<InstancesContainer>(items_from)
                    .map_err(|e| problem(format!("instancesSet: {e}")))?
                    .map(InstancesContainer::instance_ids)
                    .unwrap_or_default();
                if instance_ids.is_empty() {
                    return Err(problem(format!("{api:?} record names no instance")));
                }
                Ok(Some(Evidence::StartCall(StartCall {
                    time,
                    event_id,
                    api,
                    request_id,
                    instance_ids,
                    principal,
                    origin,
                })))
            }
            Relevance::KmsFailure => {
                let params = parse_raw::<Value>(self.request_parameters)
                    .map_err(|e| problem(format!("requestParameters: {e}")))?
                    .unwrap_or(Value::Null);
                let resources = parse_raw::<Vec<Resource>>(self.resources)
                    .map_err(|e| problem(format!("resources: {e}")))?
                    .unwrap_or_default();
                let error_message = self.error_message.as_deref().unwrap_or_default().to_owned();
                let key = key_of(&params, &resources, &error_message, &origin);
                // EC2 names the instance in the grant it asks for, or calls
                // itself with the instance's infrastructure credentials.
                let infrastructure = identity
                    .as_ref()
                    .and_then(|i| i.arn.as_deref())
                    .and_then(ec2_infrastructure);
                let infrastructure_called = infrastructure.is_some();
                let grantee = params
                    .get("granteePrincipal")
                    .and_then(Value::as_str)
                    .and_then(ec2_infrastructure);
                let (grantee_account, grantee_instance) = match grantee.or(infrastructure.clone()) {
                    Some((account, instance)) => (account, Some(instance)),
                    None => (None, None),
                };
                let principal = match infrastructure {
                    // EC2 itself: the principal to fix is the start call's.
                    Some(_) => None,
                    None => principal.or_else(|| principal_in_message(&error_message)),
                };
                let by_aws = |v: &Option<Cow<'_, str>>| v.as_deref().is_some_and(names_aws_service);
                let via_aws_service = by_aws(&self.user_agent)
                    || by_aws(&self.source_ip_address)
                    || identity
                        .as_ref()
                        .is_some_and(|i| i.invoked_by.as_deref().is_some_and(|s| !s.is_empty()))
                    || infrastructure_called;
                Ok(Some(Evidence::KmsFailure(KmsFailure {
                    time,
                    event_id,
                    api: self.event_name.as_deref().unwrap_or_default().to_owned(),
                    error_code: self.error_code.as_deref().unwrap_or_default().to_owned(),
                    error_message,
                    key,
                    grantee_instance,
                    volume_id: ebs_volume_in_context(&params),
                    grantee_account,
                    caller_account,
                    request_id,
                    principal,
                    via_aws_service,
                    origin,
                })))
            }
            Relevance::Irrelevant => Ok(None),
        }
    }
}

/// Parses an RFC 3339 time such as CloudTrail's `2026-11-20T07:00:05Z`.
pub(crate) fn parse_time(s: Option<&str>) -> Option<DateTime<Utc>> {
    DateTime::parse_from_rfc3339(s?)
        .ok()
        .map(|t| t.with_timezone(&Utc))
}

fn parse_raw<'a, T: Deserialize<'a>>(
    raw: Option<&'a RawValue>,
) -> Result<Option<T>, serde_json::Error> {
    match raw {
        None => Ok(None),
        Some(raw) if raw.get() == "null" => Ok(None),
        Some(raw) => serde_json::from_str(raw.get()).map(Some),
    }
}

#[derive(Deserialize)]
struct UserIdentity {
    #[serde(rename = "type", default)]
    kind: Option<String>,
    #[serde(default)]
    arn: Option<String>,
    #[serde(rename = "sessionContext", default)]
    session_context: Option<SessionContext>,
    #[serde(rename = "invokedBy", default)]
    invoked_by: Option<String>,
    #[serde(rename = "accountId", default)]
    account_id: Option<String>,
}

#[derive(Deserialize)]
struct SessionContext {
    #[serde(rename = "sessionIssuer", default)]
    session_issuer: Option<SessionIssuer>,
}

#[derive(Deserialize)]
struct SessionIssuer {
    #[serde(default)]
    arn: Option<String>,
}

impl UserIdentity {
    /// The role (for an assumed-role session, the issuing role with its
    /// path) or user behind the call.
    fn principal(&self) -> Option<PrincipalArn> {
        let issuer = self
            .session_context
            .as_ref()
            .and_then(|c| c.session_issuer.as_ref())
            .and_then(|i| i.arn.as_deref())
            .filter(|_| self.kind.as_deref() == Some("AssumedRole"))
            .and_then(PrincipalArn::parse);
        issuer.or_else(|| self.arn.as_deref().and_then(PrincipalArn::parse))
    }
}

#[derive(Deserialize)]
struct InstancesContainer {
    #[serde(rename = "instancesSet", default)]
    instances_set: Option<InstancesSet>,
}

#[derive(Deserialize)]
struct InstancesSet {
    #[serde(default)]
    items: Vec<InstanceItem>,
}

#[derive(Deserialize)]
struct InstanceItem {
    #[serde(rename = "instanceId", default)]
    instance_id: Option<String>,
}

impl InstancesContainer {
    fn instance_ids(self) -> Vec<InstanceId> {
        let mut ids: Vec<InstanceId> = self
            .instances_set
            .map(|s| s.items)
            .unwrap_or_default()
            .into_iter()
            .filter_map(|i| i.instance_id.as_deref().and_then(InstanceId::parse))
            .collect();
        ids.sort();
        ids.dedup();
        ids
    }
}

#[derive(Deserialize)]
struct Resource {
    #[serde(rename = "ARN", default)]
    arn: Option<String>,
}

/// The key of a KMS call: the record's resource ARN, else `keyId` when it is
/// an ARN, else the ARN in the error message, else `keyId` made into an ARN
/// with the record's region and account.
fn key_of(
    params: &Value,
    resources: &[Resource],
    message: &str,
    origin: &Origin,
) -> Option<KeyArn> {
    let key_id = params.get("keyId").and_then(Value::as_str);
    resources
        .iter()
        .find_map(|r| r.arn.as_deref().and_then(KeyArn::parse))
        .or_else(|| key_id.and_then(KeyArn::parse))
        .or_else(|| KeyArn::find_in(message))
        .or_else(|| {
            let id = key_id.filter(|k| !k.starts_with("alias/") && !k.starts_with("arn:"))?;
            let region = origin.region.as_deref()?;
            KeyArn::from_key_id(
                id,
                partition_of_region(region),
                region,
                origin.account.as_deref()?,
            )
        })
}

/// The EBS volume named by `aws:ebs:id` in any encryption context of a KMS
/// request (`encryptionContext`, or a grant's constraints).
fn ebs_volume_in_context(params: &Value) -> Option<VolumeId> {
    let constraints = params.get("constraints");
    [
        params.get("encryptionContext"),
        constraints.and_then(|c| c.get("encryptionContextSubset")),
        constraints.and_then(|c| c.get("encryptionContextEquals")),
    ]
    .into_iter()
    .flatten()
    .find_map(|ctx| {
        ctx.get("aws:ebs:id")
            .and_then(Value::as_str)
            .and_then(VolumeId::parse)
    })
}

/// The account and instance in an EC2 infrastructure principal, in either
/// form CloudTrail writes it: `<account>:aws:ec2-infrastructure:<id>`
/// (older records) or `arn:<partition>:sts::<account>:assumed-role/aws:ec2-infrastructure/<id>`.
fn ec2_infrastructure(principal: &str) -> Option<(Option<Account>, InstanceId)> {
    if !principal.contains(EC2_INFRASTRUCTURE) {
        return None;
    }
    let instance = InstanceId::find_in(principal)?;
    let account = if principal.starts_with("arn:") {
        principal.split(':').nth(4)
    } else {
        principal.split(':').next()
    };
    Some((account.and_then(Account::parse), instance))
}

/// Whether a `userAgent` or `sourceIPAddress` names AWS itself:
/// `AWS Internal`, or a service host such as `ec2-frontend-api.amazonaws.com`.
fn names_aws_service(value: &str) -> bool {
    value.eq_ignore_ascii_case("AWS Internal")
        || (value.ends_with(".amazonaws.com") && !value.contains(' ') && !value.contains('/'))
}

/// The principal in a denial message: `User: <arn> is not authorized ...`.
fn principal_in_message(message: &str) -> Option<PrincipalArn> {
    let rest = message.strip_prefix("User: ")?;
    PrincipalArn::parse(rest.split_whitespace().next()?)
}
