//! Preflight in AWS: the evidence gathered live with the SDK (EC2, KMS,
//! IAM authorization details, CloudTrail start calls), the core's check run
//! over it, and one Slack message per failing (principal, key, cause),
//! kept in the store, updated as things change and answered in its thread
//! when a fix makes its instances pass.

use std::collections::BTreeSet;

use aws_sdk_cloudtrail::types::{LookupAttribute, LookupAttributeKey};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

use start_doctor_core::evidence::{Evidence, EvidenceSet};
use start_doctor_core::ids::{InstanceId, KeyArn, VolumeId};
use start_doctor_core::ports::{MessageRef, Notifier, NotifyError, Store, StoreError};
use start_doctor_core::preflight::scope::{failing_groups, passing_instances, GroupKey, Scope};
use start_doctor_core::preflight::{preflight, Preflight, PreflightVerdict};
use start_doctor_core::render::slack;

use crate::live::{instance_evidence, warn, AwsLiveChecks, Clients, MAX_LOOKUP_PAGES};

/// How far back start calls are looked up by default.
pub const DEFAULT_LOOKBACK_DAYS: i64 = 30;
/// The store record listing the open (failing) groups.
const OPEN_GROUPS: &str = "preflight#open";

/// Why a preflight run failed, as Lambda is told it.
#[derive(Debug, thiserror::Error)]
pub enum PreflightError {
    /// The event names nothing to re-check; retrying will not help.
    #[error(transparent)]
    Unreadable(#[from] start_doctor_core::preflight::scope::ScopeError),
    /// The store failed; a retry is safe.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// Slack failed; a retry is safe.
    #[error(transparent)]
    Notify(#[from] NotifyError),
    /// Two runs raced on the same group; a retry is safe.
    #[error("store record {0} changed during the run")]
    Contention(String),
}

impl From<PreflightError> for lambda_runtime::Diagnostic {
    fn from(e: PreflightError) -> Self {
        let error_type = match &e {
            PreflightError::Unreadable(_) => "Unreadable",
            _ => "Retryable",
        };
        Self {
            error_type: error_type.to_owned(),
            error_message: e.to_string(),
        }
    }
}

/// What a run did.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct PreflightOutcome {
    /// Checks run.
    pub checks: usize,
    /// Groups posted for the first time.
    pub posted: usize,
    /// Group messages updated (instances changed, or fixed).
    pub updated: usize,
    /// Groups whose instances now pass.
    pub fixed: usize,
}

/// One group's state in the store.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
struct GroupRecord {
    message: MessageRef,
    instances: Vec<InstanceId>,
}

/// The function's collaborators, built once per container.
#[derive(Debug)]
pub struct PreflightRun<S, N> {
    /// Live reads (the function's own account and region).
    pub live: AwsLiveChecks,
    /// Where group state is kept.
    pub store: S,
    /// Where messages go.
    pub notifier: N,
    /// How many days of CloudTrail `StartInstances` name the principals.
    pub lookback_days: i64,
}

fn group_id((principal, key, cause): &GroupKey) -> String {
    format!("preflight#group#{principal}|{key}|{cause}")
}

fn parse_group_id(id: &str) -> Option<GroupKey> {
    let rest = id.strip_prefix("preflight#group#")?;
    let mut parts = rest.splitn(3, '|');
    let principal = start_doctor_core::ids::PrincipalArn::parse(parts.next()?)?;
    let key = KeyArn::parse(parts.next()?)?;
    let cause = serde_json::from_value(Value::String(parts.next()?.to_owned())).ok()?;
    Some((principal, key, cause))
}

/// Gathers the preflight evidence of one account and region: every
/// instance (its volumes, their keys' state and policy), the authorization
/// details and the `StartInstances` calls of the last `lookback_days`.
pub async fn gather(
    live: &AwsLiveChecks,
    c: &Clients,
    now: DateTime<Utc>,
    lookback_days: i64,
) -> EvidenceSet {
    let mut out: Vec<Evidence> = Vec::new();
    let mut volumes: BTreeSet<VolumeId> = BTreeSet::new();
    let mut pages = c.ec2().describe_instances().into_paginator().send();
    while let Some(page) = pages.next().await {
        live.count();
        match page {
            Ok(response) => volumes.extend(instance_evidence(&response, &mut out)),
            Err(e) => {
                warn(
                    "ec2:DescribeInstances",
                    &aws_sdk_ec2::error::DisplayErrorContext(&e).to_string(),
                );
                break;
            }
        }
    }
    let volumes: Vec<VolumeId> = volumes.into_iter().collect();
    let keys: BTreeSet<KeyArn> = live.volumes(c, &volumes, &mut out).await;
    for key in &keys {
        live.key(c, key, &mut out).await;
    }
    authorization_details(live, c, &mut out).await;
    let start = aws_sdk_cloudtrail::primitives::DateTime::from_secs(
        (now - chrono::Duration::days(lookback_days)).timestamp(),
    );
    let end = aws_sdk_cloudtrail::primitives::DateTime::from_secs(now.timestamp());
    match LookupAttribute::builder()
        .attribute_key(LookupAttributeKey::EventName)
        .attribute_value("StartInstances")
        .build()
    {
        Ok(attribute) => {
            if let Err(e) = live.lookup_pages(c, attribute, start, end, &mut out).await {
                warn("cloudtrail:LookupEvents", &e.to_string());
            }
        }
        Err(e) => warn("cloudtrail:LookupEvents", &e.to_string()),
    }
    tracing::info!(
        evidence = out.len(),
        lookup_pages_max = MAX_LOOKUP_PAGES,
        calls = live.calls(),
        "preflight evidence gathered"
    );
    out.into_iter().collect()
}

/// `GetAccountAuthorizationDetails`, every page, turned into the
/// documented output shape and read by the core's reader (one parser for
/// files and live reads).
async fn authorization_details(live: &AwsLiveChecks, c: &Clients, out: &mut Vec<Evidence>) {
    use aws_sdk_iam::types::EntityType;
    let mut pages = c
        .iam()
        .get_account_authorization_details()
        .filter(EntityType::Role)
        .filter(EntityType::User)
        .filter(EntityType::Group)
        .filter(EntityType::LocalManagedPolicy)
        .filter(EntityType::AwsManagedPolicy)
        .into_paginator()
        .send();
    let (mut roles, mut users, mut groups, mut policies) = (vec![], vec![], vec![], vec![]);
    while let Some(page) = pages.next().await {
        live.count();
        let page = match page {
            Ok(p) => p,
            Err(e) => {
                warn(
                    "iam:GetAccountAuthorizationDetails",
                    &aws_sdk_iam::error::DisplayErrorContext(&e).to_string(),
                );
                return;
            }
        };
        let named = |list: &[aws_sdk_iam::types::PolicyDetail]| -> Vec<Value> {
            list.iter()
                .map(|p| json!({ "PolicyName": p.policy_name(), "PolicyDocument": p.policy_document() }))
                .collect()
        };
        let attached = |list: &[aws_sdk_iam::types::AttachedPolicy]| -> Vec<Value> {
            list.iter()
                .map(|p| json!({ "PolicyArn": p.policy_arn() }))
                .collect()
        };
        let tags = |list: &[aws_sdk_iam::types::Tag]| -> Vec<Value> {
            list.iter()
                .map(|t| json!({ "Key": t.key(), "Value": t.value() }))
                .collect()
        };
        let boundary = |b: Option<&aws_sdk_iam::types::AttachedPermissionsBoundary>| {
            b.and_then(|b| b.permissions_boundary_arn())
                .map(|arn| json!({ "PermissionsBoundaryArn": arn }))
        };
        roles.extend(page.role_detail_list().iter().map(|r| {
            json!({
                "Arn": r.arn(), "Path": r.path(),
                "RolePolicyList": named(r.role_policy_list()),
                "AttachedManagedPolicies": attached(r.attached_managed_policies()),
                "PermissionsBoundary": boundary(r.permissions_boundary()),
                "Tags": tags(r.tags()),
            })
        }));
        users.extend(page.user_detail_list().iter().map(|u| {
            json!({
                "Arn": u.arn(), "Path": u.path(),
                "UserPolicyList": named(u.user_policy_list()),
                "AttachedManagedPolicies": attached(u.attached_managed_policies()),
                "PermissionsBoundary": boundary(u.permissions_boundary()),
                "Tags": tags(u.tags()),
                "GroupList": u.group_list(),
            })
        }));
        groups.extend(page.group_detail_list().iter().map(|g| {
            json!({
                "GroupName": g.group_name(),
                "GroupPolicyList": named(g.group_policy_list()),
                "AttachedManagedPolicies": attached(g.attached_managed_policies()),
            })
        }));
        policies.extend(page.policies().iter().map(|p| {
            json!({
                "Arn": p.arn(), "PolicyName": p.policy_name(),
                "DefaultVersionId": p.default_version_id(),
                "PolicyVersionList": p.policy_version_list().iter().map(|v| json!({
                    "Document": v.document(), "VersionId": v.version_id(),
                    "IsDefaultVersion": v.is_default_version(),
                })).collect::<Vec<_>>(),
            })
        }));
    }
    let document = json!({
        "RoleDetailList": roles, "UserDetailList": users,
        "GroupDetailList": groups, "Policies": policies,
    });
    match start_doctor_core::read_document(document.to_string().as_bytes()) {
        Ok(read) => {
            for problem in read.problems {
                warn("iam:GetAccountAuthorizationDetails", &problem.to_string());
            }
            out.extend(read.evidence);
        }
        Err(e) => warn("iam:GetAccountAuthorizationDetails", &e.to_string()),
    }
}

impl<S: Store, N: Notifier> PreflightRun<S, N> {
    /// Handles one EventBridge event (a schedule or a change) at `now`.
    pub async fn handle(
        &self,
        event: &Value,
        now: DateTime<Utc>,
    ) -> Result<PreflightOutcome, PreflightError> {
        let scope = Scope::of_event(event)?;
        let clients = self.live.clients_for(None, None).await;
        let evidence = gather(&self.live, &clients, now, self.lookback_days).await;
        let report = preflight(&evidence, &[]);
        tracing::info!(scope = ?scope, checks = report.checks.len(), "preflight checked");
        self.publish(&scope, &evidence, &report).await
    }

    /// Posts, updates and answers the groups `scope` covers.
    async fn publish(
        &self,
        scope: &Scope,
        evidence: &EvidenceSet,
        report: &Preflight,
    ) -> Result<PreflightOutcome, PreflightError> {
        let mut outcome = PreflightOutcome {
            checks: report.checks.len(),
            ..PreflightOutcome::default()
        };
        let failing = failing_groups(report);
        let open_record = self.store.record(OPEN_GROUPS).await?;
        let mut open: BTreeSet<String> = match &open_record {
            Some(r) => serde_json::from_str(&r.body).map_err(|e| StoreError::Corrupt {
                key: OPEN_GROUPS.to_owned(),
                message: e.to_string(),
            })?,
            None => BTreeSet::new(),
        };
        let before = open.clone();
        for (key, group) in &failing {
            if !scope.covers(&key.0, &key.1, evidence) {
                continue;
            }
            let id = group_id(key);
            let message = slack::preflight_message(key, group);
            match self.group_record(&id).await? {
                Some((record, version)) => {
                    if record.instances != group.instances {
                        self.notifier.update(&record.message, &message).await?;
                        let record = GroupRecord {
                            message: record.message,
                            instances: group.instances.clone(),
                        };
                        self.put(&id, &record, Some(version)).await?;
                        outcome.updated += 1;
                    }
                }
                None => {
                    if let Some(at) = self.notifier.post(&message).await? {
                        let record = GroupRecord {
                            message: at,
                            instances: group.instances.clone(),
                        };
                        self.put(&id, &record, None).await?;
                    }
                    outcome.posted += 1;
                }
            }
            open.insert(id);
        }
        let still: BTreeSet<String> = failing.keys().map(group_id).collect();
        let gone: Vec<String> = open.difference(&still).cloned().collect();
        for id in gone {
            let Some(key) = parse_group_id(&id) else {
                open.remove(&id);
                continue;
            };
            if !scope.covers(&key.0, &key.1, evidence) {
                continue;
            }
            if let Some((record, _)) = self.group_record(&id).await? {
                // A check that cannot answer now (a read failed, a policy
                // went missing) proves no fix: the group stays open.
                let undecided = report.checks.iter().any(|c| {
                    c.principal_arn == key.0
                        && c.verdict == PreflightVerdict::Unknown
                        && record.instances.contains(&c.instance_id)
                });
                if undecided {
                    continue;
                }
                let passing: Vec<InstanceId> = passing_instances(report, &key.0)
                    .into_iter()
                    .filter(|i| record.instances.contains(i))
                    .collect();
                self.notifier
                    .update(
                        &record.message,
                        &slack::preflight_fixed_message(&key, &record.instances),
                    )
                    .await?;
                if !passing.is_empty() {
                    self.notifier
                        .reply(&record.message, &slack::preflight_passed_reply(&passing))
                        .await?;
                }
                outcome.updated += 1;
                outcome.fixed += 1;
            }
            open.remove(&id);
        }
        if open != before {
            let body = serde_json::to_string(&open).unwrap_or_default();
            if !self
                .store
                .put_record(OPEN_GROUPS, &body, open_record.map(|r| r.version))
                .await?
            {
                return Err(PreflightError::Contention(OPEN_GROUPS.to_owned()));
            }
        }
        Ok(outcome)
    }

    async fn group_record(&self, id: &str) -> Result<Option<(GroupRecord, u64)>, StoreError> {
        let Some(record) = self.store.record(id).await? else {
            return Ok(None);
        };
        let group = serde_json::from_str(&record.body).map_err(|e| StoreError::Corrupt {
            key: id.to_owned(),
            message: e.to_string(),
        })?;
        Ok(Some((group, record.version)))
    }

    async fn put(
        &self,
        id: &str,
        record: &GroupRecord,
        expected: Option<u64>,
    ) -> Result<(), PreflightError> {
        let body = serde_json::to_string(record).unwrap_or_default();
        if self.store.put_record(id, &body, expected).await? {
            Ok(())
        } else {
            Err(PreflightError::Contention(id.to_owned()))
        }
    }
}
