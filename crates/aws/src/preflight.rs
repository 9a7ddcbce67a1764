//! Preflight in AWS: the evidence gathered live with the SDK (EC2, KMS,
//! IAM authorization details, CloudTrail start calls) in every account it
//! is given (the function's own, a list, or the organization's), the
//! check run over it, and its failing groups published through the live
//! path's engine with the preflight doctor: one Slack message and one
//! OpsItem per (account, principal, key, cause), updated when its
//! instances change, marked fixed when they pass, nothing posted when a
//! run changes nothing (a webhook included). The same gathering serves
//! `start-doctor preflight --live`.
//!
//! | Variable | Meaning |
//! |---|---|
//! | (every variable of [`crate::config::Common`]) | |
//! | `PREFLIGHT_LOOKBACK_DAYS` | days of CloudTrail `StartInstances` that name who starts what (default 30, 1 to 90) |
//! | `PREFLIGHT_ACCOUNTS` | the accounts to check: unset for the function's own, a comma-separated list of ids, or `organization` (AWS Organizations `ListAccounts`); other accounts are read through `READ_ROLE_NAME` |

use std::collections::BTreeSet;

use aws_sdk_cloudtrail::types::{LookupAttribute, LookupAttributeKey};
use chrono::{DateTime, Utc};
use serde::Serialize;
use serde_json::{json, Value};

use start_doctor_core::ids::{Account, Origin, VolumeId};
use start_doctor_engine::ports::{InlineDeferrer, Io, Ports};
use start_doctor_engine::Engine;
use start_doctor_start::evidence::EvidenceSet;
use start_doctor_start::ids::KeyArn;
use start_doctor_start::preflight::notice::{publish_run, PreflightDoctor, RunOutcome};
use start_doctor_start::preflight::preflight;
use start_doctor_start::preflight::scope::Scope;

use crate::annotate::AwsAnnotator;
use crate::config::{slack_notifier, Common, ConfigError, Env, SlackNotifier};
use crate::dynamodb::DynamoStore;
use crate::lambda::{self, HandlerError, Invocation};
use crate::live::{warn, AwsLiveChecks, Clients, MAX_LOOKUP_PAGES};
use crate::start::live_checks;

/// How far back start calls are looked up by default.
pub const DEFAULT_LOOKBACK_DAYS: u32 = 30;
/// `PREFLIGHT_LOOKBACK_DAYS` allowed: CloudTrail event history keeps 90.
pub const LOOKBACK_RANGE: std::ops::RangeInclusive<u32> = 1..=90;

/// Which accounts a run checks.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Accounts {
    /// The function's own account.
    Own,
    /// These accounts (through `READ_ROLE_NAME` where not the function's).
    List(Vec<Account>),
    /// Every active account of the organization (`ListAccounts`).
    Organization,
}

/// The preflight function's configuration.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PreflightConfig {
    /// What every function reads.
    pub common: Common,
    /// `PREFLIGHT_LOOKBACK_DAYS`.
    pub lookback_days: u32,
    /// `PREFLIGHT_ACCOUNTS`.
    pub accounts: Accounts,
}

impl PreflightConfig {
    /// Reads the configuration. Preflight defers nothing to a queue: it
    /// needs no `DEFER_QUEUE_URL`.
    pub fn read<F: Fn(&str) -> Option<String>>(env: &Env<F>) -> Result<Self, ConfigError> {
        let common = Common::read(env)?;
        let accounts = match env.get("PREFLIGHT_ACCOUNTS").as_deref().map(str::trim) {
            None | Some("") => Accounts::Own,
            Some(v) if v.eq_ignore_ascii_case("organization") => Accounts::Organization,
            Some(list) => Accounts::List(
                list.split(',')
                    .map(str::trim)
                    .filter(|a| !a.is_empty())
                    .map(|a| {
                        Account::parse(a).ok_or_else(|| ConfigError::Invalid {
                            name: "PREFLIGHT_ACCOUNTS",
                            message: format!("{a:?} is not an account id (12 digits)"),
                        })
                    })
                    .collect::<Result<_, _>>()?,
            ),
        };
        if accounts != Accounts::Own && common.read_role_name.is_none() {
            return Err(ConfigError::Missing(
                "READ_ROLE_NAME (needed to read the accounts of PREFLIGHT_ACCOUNTS)",
            ));
        }
        Ok(Self {
            lookback_days: env.number(
                "PREFLIGHT_LOOKBACK_DAYS",
                "days",
                DEFAULT_LOOKBACK_DAYS,
                LOOKBACK_RANGE,
            )?,
            accounts,
            common,
        })
    }
}

/// The ports of a preflight run: no queue, the run works off its own
/// notices.
pub type PreflightPorts = Io<DynamoStore, SlackNotifier, InlineDeferrer, AwsAnnotator>;

/// The function's collaborators, built once per container.
#[derive(Debug)]
pub struct PreflightRun<P> {
    /// Live reads (the function's own account and region, and member
    /// accounts through their read role).
    pub live: AwsLiveChecks,
    /// The live path's ports.
    pub ports: P,
    /// The engine's tunables.
    pub engine: start_doctor_engine::Settings,
    /// How many days of CloudTrail `StartInstances` name the principals.
    pub lookback_days: u32,
    /// Which accounts a run checks.
    pub accounts: Accounts,
    /// The organization's accounts (`Accounts::Organization`).
    pub organizations: Option<aws_sdk_organizations::Client>,
}

/// What a run did, per account.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct PreflightOutcome {
    /// Each account checked and what its run did.
    pub accounts: Vec<(String, RunOutcome)>,
    /// Accounts that could not be checked, with why.
    pub failed: Vec<(String, String)>,
}

/// What a live read gathered, as the documents `preflight` reads from
/// files (`describe-instances`, `describe-volumes`, `describe-key`, key
/// policies, `get-account-authorization-details`, `lookup-events`), each
/// with the file name `--save` gives it: the evidence is read from them by
/// the same reader as files, so a live run and a saved one agree.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Documents {
    /// (file name, document), in the order gathered.
    pub files: Vec<(String, Value)>,
}

impl Documents {
    fn push(&mut self, name: impl Into<String>, document: Value) {
        self.files.push((name.into(), document));
    }

    /// The evidence in the documents, and the problems met reading them.
    pub fn evidence(&self) -> (EvidenceSet, Vec<String>) {
        let mut evidence = EvidenceSet::new();
        let mut problems = Vec::new();
        for (name, document) in &self.files {
            match start_doctor_start::read_document(document.to_string().as_bytes()) {
                Ok(read) => {
                    problems.extend(read.problems.iter().map(|p| format!("{name}: {p}")));
                    evidence.extend(read.evidence);
                }
                Err(e) => problems.push(format!("{name}: {e}")),
            }
        }
        (evidence, problems)
    }
}

/// One `DescribeInstances` page as the AWS CLI prints it (the fields the
/// reader reads), and the volumes its instances map.
fn instances_document(
    page: &aws_sdk_ec2::operation::describe_instances::DescribeInstancesOutput,
) -> (Vec<Value>, BTreeSet<VolumeId>) {
    let mut volumes = BTreeSet::new();
    let reservations = page
        .reservations()
        .iter()
        .map(|r| {
            let instances: Vec<Value> = r
                .instances()
                .iter()
                .map(|i| {
                    let mappings: Vec<Value> = i
                        .block_device_mappings()
                        .iter()
                        .filter_map(|m| m.ebs().and_then(|e| e.volume_id()))
                        .inspect(|v| volumes.extend(VolumeId::parse(v)))
                        .map(|v| json!({ "Ebs": { "VolumeId": v } }))
                        .collect();
                    json!({
                        "InstanceId": i.instance_id(),
                        "State": i.state().map(|s| json!({ "Name": s.name().map(|n| n.as_str()) })),
                        "StateReason": i.state_reason().map(|r| json!({ "Code": r.code(), "Message": r.message() })),
                        "BlockDeviceMappings": mappings,
                        "Tags": i.tags().iter().map(|t| json!({ "Key": t.key(), "Value": t.value() })).collect::<Vec<_>>(),
                        "Placement": { "AvailabilityZone": i.placement().and_then(|p| p.availability_zone()) },
                    })
                })
                .collect();
            json!({ "OwnerId": r.owner_id(), "Instances": instances })
        })
        .collect();
    (reservations, volumes)
}

/// Gathers the preflight documents of one account and region: every
/// instance (its volumes, their keys' state and policy), the authorization
/// details and the `StartInstances` calls of the last `lookback_days`. A
/// call that fails is logged and the rest is still gathered (the check then
/// answers `unknown` where something is missing).
pub async fn gather(
    live: &AwsLiveChecks,
    c: &Clients,
    now: DateTime<Utc>,
    lookback_days: u32,
) -> Documents {
    let mut docs = Documents::default();
    let mut reservations: Vec<Value> = Vec::new();
    let mut volumes: BTreeSet<VolumeId> = BTreeSet::new();
    let mut pages = c.ec2().describe_instances().into_paginator().send();
    while let Some(page) = pages.next().await {
        live.count();
        match page {
            Ok(response) => {
                let (more, vols) = instances_document(&response);
                reservations.extend(more);
                volumes.extend(vols);
            }
            Err(e) => {
                warn(
                    "ec2:DescribeInstances",
                    &aws_sdk_ec2::error::DisplayErrorContext(&e).to_string(),
                );
                break;
            }
        }
    }
    docs.push(
        "describe-instances.json",
        json!({ "Reservations": reservations }),
    );
    let volumes: Vec<VolumeId> = volumes.into_iter().collect();
    let mut described: Vec<Value> = Vec::new();
    let mut keys: BTreeSet<KeyArn> = BTreeSet::new();
    let responses = live.describe_volumes(c, &volumes).await;
    for response in responses {
        for v in response.volumes() {
            keys.extend(v.kms_key_id().and_then(KeyArn::parse));
            described.push(json!({
                "VolumeId": v.volume_id(),
                "KmsKeyId": v.kms_key_id(),
                "Encrypted": v.encrypted(),
                "Attachments": v.attachments().iter().map(|a| json!({ "InstanceId": a.instance_id() })).collect::<Vec<_>>(),
            }));
        }
    }
    docs.push("describe-volumes.json", json!({ "Volumes": described }));
    let mut policies: Vec<Value> = Vec::new();
    for key in &keys {
        live.count();
        let metadata = match c.kms().describe_key().key_id(key.as_str()).send().await {
            Ok(r) => r.key_metadata().cloned(),
            Err(e) => {
                warn(
                    "kms:DescribeKey",
                    &aws_sdk_kms::error::DisplayErrorContext(&e).to_string(),
                );
                continue;
            }
        };
        let Some(metadata) = metadata else { continue };
        let manager = metadata.key_manager().map(|m| m.as_str().to_owned());
        docs.push(
            format!("key-{}.json", key.key_id()),
            json!({ "KeyMetadata": {
                "Arn": metadata.arn().unwrap_or(key.as_str()),
                "KeyId": metadata.key_id(),
                "KeyState": metadata.key_state().map(|s| s.as_str()),
                "KeyManager": manager,
            }}),
        );
        if manager.as_deref() != Some("AWS") {
            live.count();
            let policy = c
                .kms()
                .get_key_policy()
                .key_id(key.as_str())
                .policy_name("default")
                .send()
                .await;
            match policy {
                Ok(r) => policies.extend(r.policy().map(|p| json!({ "KeyArn": key, "Policy": p }))),
                Err(e) => warn(
                    "kms:GetKeyPolicy",
                    &aws_sdk_kms::error::DisplayErrorContext(&e).to_string(),
                ),
            }
        }
    }
    if !policies.is_empty() {
        docs.push("key-policies.json", Value::Array(policies));
    }
    if let Some(details) = authorization_details(live, c).await {
        docs.push("authorization-details.json", details);
    }
    let start = aws_sdk_cloudtrail::primitives::DateTime::from_secs(
        (now - chrono::Duration::days(i64::from(lookback_days))).timestamp(),
    );
    let end = aws_sdk_cloudtrail::primitives::DateTime::from_secs(now.timestamp());
    match LookupAttribute::builder()
        .attribute_key(LookupAttributeKey::EventName)
        .attribute_value("StartInstances")
        .build()
    {
        Ok(attribute) => match live.lookup_records(c, attribute, start, end).await {
            Ok(records) => {
                let events: Vec<Value> = records
                    .into_iter()
                    .map(|r| json!({ "CloudTrailEvent": r }))
                    .collect();
                docs.push("start-calls.json", json!({ "Events": events }));
            }
            Err(e) => warn("cloudtrail:LookupEvents", &e.to_string()),
        },
        Err(e) => warn("cloudtrail:LookupEvents", &e.to_string()),
    }
    tracing::info!(
        documents = docs.files.len(),
        lookup_pages_max = MAX_LOOKUP_PAGES,
        calls = live.calls(),
        "preflight documents gathered"
    );
    docs
}

/// `GetAccountAuthorizationDetails`, every page, turned into the
/// documented output shape and read by the core's reader (one parser for
/// files and live reads).
async fn authorization_details(live: &AwsLiveChecks, c: &Clients) -> Option<Value> {
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
                return None;
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
    Some(json!({
        "RoleDetailList": roles, "UserDetailList": users,
        "GroupDetailList": groups, "Policies": policies,
    }))
}

impl<P: Ports<Deferrer = InlineDeferrer>> PreflightRun<P> {
    /// The accounts this run checks; `None` stands for the function's own.
    async fn accounts(&self) -> Result<Vec<Option<Account>>, HandlerError> {
        match &self.accounts {
            Accounts::Own => Ok(vec![None]),
            Accounts::List(list) => Ok(list.iter().cloned().map(Some).collect()),
            Accounts::Organization => {
                let Some(client) = &self.organizations else {
                    return Err(HandlerError::Retryable(
                        "no Organizations client for PREFLIGHT_ACCOUNTS=organization".into(),
                    ));
                };
                let mut out = Vec::new();
                let mut pages = client.list_accounts().into_paginator().send();
                while let Some(page) = pages.next().await {
                    let page = page.map_err(|e| {
                        HandlerError::Retryable(format!(
                            "organizations:ListAccounts: {}",
                            aws_sdk_organizations::error::DisplayErrorContext(&e)
                        ))
                    })?;
                    out.extend(
                        page.accounts()
                            .iter()
                            .filter(|a| {
                                a.state().is_none_or(|s| {
                                    *s == aws_sdk_organizations::types::AccountState::Active
                                })
                            })
                            .filter_map(|a| a.id().and_then(Account::parse))
                            .map(Some),
                    );
                }
                Ok(out)
            }
        }
    }

    /// Handles one EventBridge event (a schedule or a change) at `now`:
    /// every account is gathered, checked and published in turn; one
    /// account that cannot be read is reported and the others are still
    /// checked (the invocation then fails, so that it is retried).
    pub async fn handle(
        &self,
        event: &Value,
        invocation: &Invocation,
    ) -> Result<PreflightOutcome, HandlerError> {
        let scope = Scope::of_event(event).map_err(|e| HandlerError::Unreadable(e.to_string()))?;
        let when = invocation.when();
        let mut outcome = PreflightOutcome::default();
        for account in self.accounts().await? {
            let name = account
                .as_ref()
                .map_or_else(|| "own account".to_owned(), Account::to_string);
            let clients = self.live.clients_for(account.as_deref(), None).await;
            let documents = gather(&self.live, &clients, when.now, self.lookback_days).await;
            let (evidence, problems) = documents.evidence();
            for problem in problems {
                warn("preflight documents", &problem);
            }
            if evidence.instances.is_empty() && account.is_some() {
                tracing::warn!(
                    account = name,
                    "no instances read (is the read role deployed there?)"
                );
            }
            let report = preflight(&evidence, &[]);
            tracing::info!(account = name, scope = ?scope, checks = report.checks.len(), "preflight checked");
            let origin = report
                .checks
                .first()
                .map(|c| Origin {
                    account: c.account.clone(),
                    region: c.region.clone(),
                })
                .unwrap_or_else(|| Origin {
                    account: account.clone(),
                    region: clients.region(),
                });
            let doctor = PreflightDoctor;
            let engine = Engine::new(&self.ports, &doctor, &self.engine);
            let covers = |p: &_, k: &KeyArn| scope.covers(p, k, &evidence);
            match publish_run(&engine, &origin, &report, covers, when).await {
                Ok(run) => outcome.accounts.push((name, run)),
                Err(e) => {
                    tracing::error!(account = name, error = %e, "preflight publication failed");
                    outcome.failed.push((name, e.to_string()));
                }
            }
        }
        if !outcome.failed.is_empty() {
            return Err(HandlerError::Retryable(format!(
                "preflight failed for {} account(s): {}",
                outcome.failed.len(),
                outcome
                    .failed
                    .iter()
                    .map(|(a, e)| format!("{a}: {e}"))
                    .collect::<Vec<_>>()
                    .join("; ")
            )));
        }
        Ok(outcome)
    }
}

/// The engine's settings for a preflight run: a run knows every failing
/// check before it ends and works off its deferred notices then, so each
/// group's first post waits for the end of the run (with the Web API too)
/// and lists every instance.
pub fn preflight_engine(common: &start_doctor_engine::Settings) -> start_doctor_engine::Settings {
    start_doctor_engine::Settings {
        gather: chrono::Duration::seconds(1),
        gather_always: true,
        ..common.clone()
    }
}

/// JSON logs, configuration from the environment, clients built once: what
/// the `preflight` function's `main` does before its runtime loop.
pub async fn start() -> Result<PreflightRun<PreflightPorts>, lambda_runtime::Error> {
    lambda::init_tracing();
    let config = PreflightConfig::read(&Env::process())
        .inspect_err(|e| tracing::error!(error = %e, "configuration"))?;
    let sdk = aws_config::load_defaults(aws_config::BehaviorVersion::latest()).await;
    let notifier = slack_notifier(&config.common, &sdk)
        .await
        .inspect_err(|e| tracing::error!(error = %e, "start-up"))?;
    Ok(PreflightRun {
        live: live_checks(&config.common, &sdk)
            .inspect_err(|e| tracing::error!(error = %e, "start-up"))?,
        ports: Io {
            store: config.common.store(&sdk),
            notifier,
            deferrer: InlineDeferrer::default(),
            annotator: config.common.annotator(&sdk),
        },
        engine: preflight_engine(&config.common.engine),
        lookback_days: config.lookback_days,
        organizations: (config.accounts == Accounts::Organization)
            .then(|| aws_sdk_organizations::Client::new(&sdk)),
        accounts: config.accounts,
    })
}

/// Runs the `preflight` function.
pub async fn serve() -> Result<(), lambda_runtime::Error> {
    let run = start().await?;
    let run = &run;
    lambda::serve_events(move |payload, invocation| async move {
        run.handle(&payload, &invocation).await
    })
    .await
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config(vars: &[(&str, &str)]) -> Result<PreflightConfig, ConfigError> {
        PreflightConfig::read(&Env::from_pairs(vars))
    }

    const BASE: [(&str, &str); 2] = [("STORE_TABLE", "t"), ("SLACK_WEBHOOK_URL", "u")];

    #[test]
    fn no_queue_is_needed_and_defaults_check_the_own_account() {
        let c = config(&BASE).unwrap();
        assert_eq!(c.lookback_days, 30);
        assert_eq!(c.accounts, Accounts::Own);
    }

    #[test]
    fn accounts_are_a_list_or_the_organization_and_need_the_read_role() {
        let mut vars = BASE.to_vec();
        vars.extend([
            ("PREFLIGHT_ACCOUNTS", "111122223333, 444455556666"),
            ("READ_ROLE_NAME", "start-doctor-read"),
            ("CENTRAL_ACCOUNT_ID", "111122223333"),
        ]);
        let c = config(&vars).unwrap();
        assert_eq!(
            c.accounts,
            Accounts::List(vec![
                Account::parse("111122223333").unwrap(),
                Account::parse("444455556666").unwrap()
            ])
        );
        let mut vars = BASE.to_vec();
        vars.extend([
            ("PREFLIGHT_ACCOUNTS", "Organization"),
            ("READ_ROLE_NAME", "r"),
        ]);
        assert_eq!(config(&vars).unwrap().accounts, Accounts::Organization);
        let mut vars = BASE.to_vec();
        vars.push(("PREFLIGHT_ACCOUNTS", "111122223333"));
        assert!(config(&vars)
            .unwrap_err()
            .to_string()
            .contains("READ_ROLE_NAME"));
        let mut vars = BASE.to_vec();
        vars.extend([("PREFLIGHT_ACCOUNTS", "1111"), ("READ_ROLE_NAME", "r")]);
        assert!(config(&vars)
            .unwrap_err()
            .to_string()
            .starts_with("PREFLIGHT_ACCOUNTS"));
        let mut vars = BASE.to_vec();
        vars.push(("PREFLIGHT_LOOKBACK_DAYS", "91"));
        let err = config(&vars).unwrap_err().to_string();
        assert!(err.contains("1 to 90 days"), "{err}");
    }
}
