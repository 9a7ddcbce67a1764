//! Live checks through the AWS SDK: what EC2, KMS and IAM say now about a
//! batch of failed starts, and CloudTrail `LookupEvents` as a rate-limited
//! last resort.
//!
//! Calls are batched so that their number grows with distinct keys and
//! principals, not instances: one `DescribeInstances` and one
//! `DescribeVolumes` per 200 instances/volumes, one `DescribeKey` and
//! `GetKeyPolicy` per key, one `SimulatePrincipalPolicy` per (principal,
//! key), and at most [`MAX_LOOKUP_PAGES`] `LookupEvents` pages per batch,
//! spaced to CloudTrail's 2 requests per second. Each check is best effort:
//! a denied or failed call is logged and the others still count.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use aws_sdk_cloudtrail::types::{LookupAttribute, LookupAttributeKey};
use aws_sdk_iam::types::{ContextEntry, ContextKeyTypeEnum, PolicyEvaluationDecisionType};
use tokio::sync::Mutex;
use tokio::time::Instant;

use start_doctor_core::ids::{partition_of_region, Account, InstanceId, Region, VolumeId};
use start_doctor_engine::ports::ServiceError;
use start_doctor_start::evidence::{
    Evidence, InstanceReport, KeyPolicyReport, KeyReport, Origin, PolicySimulation,
    SimulatedDecision, VolumeReport,
};
use start_doctor_start::ids::{KeyArn, PrincipalArn};
use start_doctor_start::key_policy::key_policy_facts;
use start_doctor_start::ports::{LiveChecks, LiveRequest};

/// The most `LookupEvents` pages one batch may read.
pub const MAX_LOOKUP_PAGES: usize = 5;
/// CloudTrail allows 2 `LookupEvents` per second per account and region.
const LOOKUP_SPACING: Duration = Duration::from_millis(500);
/// Ids per describe call.
const DESCRIBE_CHUNK: usize = 200;

/// The SDK clients of one account.
#[derive(Clone, Debug)]
pub struct Clients {
    ec2: aws_sdk_ec2::Client,
    kms: aws_sdk_kms::Client,
    iam: aws_sdk_iam::Client,
    cloudtrail: aws_sdk_cloudtrail::Client,
}

impl Clients {
    /// Clients built from one SDK configuration.
    pub fn new(config: &aws_config::SdkConfig) -> Self {
        Self {
            ec2: aws_sdk_ec2::Client::new(config),
            kms: aws_sdk_kms::Client::new(config),
            iam: aws_sdk_iam::Client::new(config),
            cloudtrail: aws_sdk_cloudtrail::Client::new(config),
        }
    }

    /// The EC2 client.
    pub fn ec2(&self) -> &aws_sdk_ec2::Client {
        &self.ec2
    }

    /// The IAM client.
    pub fn iam(&self) -> &aws_sdk_iam::Client {
        &self.iam
    }

    /// The KMS client.
    pub fn kms(&self) -> &aws_sdk_kms::Client {
        &self.kms
    }

    /// The Region the clients call.
    pub fn region(&self) -> Option<start_doctor_core::ids::Region> {
        self.ec2
            .config()
            .region()
            .and_then(|r| start_doctor_core::ids::Region::parse(r.as_ref()))
    }

    /// Clients given one by one (tests mix emulated and mocked services).
    pub fn from_parts(
        ec2: aws_sdk_ec2::Client,
        kms: aws_sdk_kms::Client,
        iam: aws_sdk_iam::Client,
        cloudtrail: aws_sdk_cloudtrail::Client,
    ) -> Self {
        Self {
            ec2,
            kms,
            iam,
            cloudtrail,
        }
    }
}

/// How live checks reach member accounts of an organization: the central
/// account assumes a read-only role of this name in the account an event
/// came from.
#[derive(Clone, Debug)]
pub struct CrossAccount {
    /// The SDK configuration the role is assumed with.
    pub base: aws_config::SdkConfig,
    /// The central account's id: its instances use the function's own role.
    pub home_account: String,
    /// The role name in member accounts (`READ_ROLE_NAME`).
    pub role_name: String,
}

/// Clients by (account, region).
type ClientCache = BTreeMap<(Option<String>, Option<String>), Clients>;

/// Live checks through the AWS SDK, built once per Lambda container.
#[derive(Debug)]
pub struct AwsLiveChecks {
    home: Clients,
    /// The function's own SDK configuration, to build clients in other
    /// regions (absent when clients were given one by one, in tests).
    home_config: Option<aws_config::SdkConfig>,
    cross_account: Option<CrossAccount>,
    /// Clients by (account, region), built once per container.
    assumed: Mutex<ClientCache>,
    last_lookup: Mutex<Option<Instant>>,
    calls: AtomicUsize,
}

impl AwsLiveChecks {
    /// Live checks with clients built from one SDK configuration.
    pub fn new(config: &aws_config::SdkConfig) -> Self {
        let mut checks = Self::from_clients(Clients::new(config));
        checks.home_config = Some(config.clone());
        checks
    }

    /// Live checks with the given clients for the function's own account.
    pub fn from_clients(home: Clients) -> Self {
        Self {
            home,
            home_config: None,
            cross_account: None,
            assumed: Mutex::new(BTreeMap::new()),
            last_lookup: Mutex::new(None),
            calls: AtomicUsize::new(0),
        }
    }

    /// Reads `account` (in the home Region) with the given clients instead
    /// of assuming its role: tests mix emulated and mocked services.
    pub fn with_clients_for(self, account: &str, clients: Clients) -> Self {
        self.assumed
            .try_lock()
            .map(|mut cache| cache.insert((Some(account.to_owned()), None), clients))
            .ok();
        self
    }

    /// Checks instances of other accounts through their read-only role.
    pub fn with_cross_account(mut self, cross_account: CrossAccount) -> Self {
        self.cross_account = Some(cross_account);
        self
    }

    /// How many AWS requests these checks have made.
    pub fn calls(&self) -> usize {
        self.calls.load(Ordering::SeqCst)
    }

    /// The clients for `account` in `region` (EventBridge events, and so
    /// live checks, are regional): the function's own credentials, or (when
    /// cross-account checks are configured and the account is another) the
    /// account's read-only role, assumed once per container.
    pub async fn clients_for(&self, account: Option<&str>, region: Option<&str>) -> Clients {
        let region = region.filter(|r| {
            !r.is_empty()
                && r.bytes()
                    .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
        });
        if let Some(account) = account {
            let given = (Some(account.to_owned()), region.map(str::to_owned));
            if let Some(clients) = self.assumed.lock().await.get(&given) {
                return clients.clone();
            }
        }
        let other_account = match (&self.cross_account, account) {
            (Some(cross), Some(account)) if account != cross.home_account => Some((cross, account)),
            _ => None,
        };
        let in_home_region = self
            .home_config
            .as_ref()
            .is_none_or(|c| c.region().map(|r| r.as_ref()) == region || region.is_none());
        if other_account.is_none() && in_home_region {
            return self.home.clone();
        }
        let cache_key = (
            other_account.map(|(_, a)| a.to_owned()),
            region.map(str::to_owned),
        );
        let mut cache = self.assumed.lock().await;
        if let Some(clients) = cache.get(&cache_key) {
            return clients.clone();
        }
        let with_region = |config: &aws_config::SdkConfig| match region {
            Some(r) => config
                .to_builder()
                .region(aws_config::Region::new(r.to_owned()))
                .build(),
            None => config.clone(),
        };
        let clients = match (other_account, &self.home_config) {
            (Some((cross, account)), _) => {
                let base = with_region(&cross.base);
                let partition = partition_of_region(base.region().map_or("", |r| r.as_ref()));
                let role = format!("arn:{partition}:iam::{account}:role/{}", cross.role_name);
                let provider = aws_config::sts::AssumeRoleProvider::builder(role)
                    .session_name("start-doctor-live-check")
                    .configure(&base)
                    .build()
                    .await;
                Clients::new(
                    &base
                        .to_builder()
                        .credentials_provider(
                            aws_credential_types::provider::SharedCredentialsProvider::new(
                                provider,
                            ),
                        )
                        .build(),
                )
            }
            (None, Some(home)) => Clients::new(&with_region(home)),
            (None, None) => self.home.clone(),
        };
        cache.insert(cache_key, clients.clone());
        clients
    }

    pub(crate) fn count(&self) {
        self.calls.fetch_add(1, Ordering::SeqCst);
    }

    /// Calls `describe` once per [`DESCRIBE_CHUNK`] ids, counting each call;
    /// a failed call is logged and skipped so the other chunks still count.
    pub(crate) async fn in_chunks<T: ToString, R, E, F, Fut>(
        &self,
        ids: &[T],
        call: &str,
        describe: F,
    ) -> Vec<R>
    where
        E: std::error::Error + 'static,
        F: Fn(Vec<String>) -> Fut,
        Fut: std::future::Future<Output = Result<R, E>>,
    {
        let mut responses = Vec::new();
        for chunk in ids.chunks(DESCRIBE_CHUNK) {
            self.count();
            match describe(chunk.iter().map(ToString::to_string).collect()).await {
                Ok(r) => responses.push(r),
                Err(e) => warn(
                    call,
                    &aws_sdk_ec2::error::DisplayErrorContext(&e).to_string(),
                ),
            }
        }
        responses
    }

    pub(crate) async fn instances(
        &self,
        c: &Clients,
        ids: &[InstanceId],
        out: &mut Vec<Evidence>,
    ) -> BTreeSet<VolumeId> {
        let mut volumes = BTreeSet::new();
        let responses = self
            .in_chunks(ids, "ec2:DescribeInstances", |chunk| {
                // A filter, not InstanceIds: one unknown or terminated id
                // must not fail the call for every other instance.
                c.ec2
                    .describe_instances()
                    .filters(
                        aws_sdk_ec2::types::Filter::builder()
                            .name("instance-id")
                            .set_values(Some(chunk))
                            .build(),
                    )
                    .send()
            })
            .await;
        for response in responses {
            volumes.extend(instance_evidence(&response, out));
        }
        volumes
    }

    /// `DescribeVolumes` of `ids`, [`DESCRIBE_CHUNK`] ids a call, by
    /// `volume-id` filter (one unknown id must not fail the call for the
    /// others); a failed call is logged and skipped.
    pub(crate) async fn describe_volumes(
        &self,
        c: &Clients,
        ids: &[VolumeId],
    ) -> Vec<aws_sdk_ec2::operation::describe_volumes::DescribeVolumesOutput> {
        self.in_chunks(ids, "ec2:DescribeVolumes", |chunk| {
            c.ec2
                .describe_volumes()
                .filters(
                    aws_sdk_ec2::types::Filter::builder()
                        .name("volume-id")
                        .set_values(Some(chunk))
                        .build(),
                )
                .send()
        })
        .await
    }

    pub(crate) async fn volumes(
        &self,
        c: &Clients,
        ids: &[VolumeId],
        out: &mut Vec<Evidence>,
    ) -> BTreeSet<KeyArn> {
        let mut keys = BTreeSet::new();
        for response in self.describe_volumes(c, ids).await {
            for volume in response.volumes() {
                let Some(volume_id) = volume.volume_id().and_then(VolumeId::parse) else {
                    continue;
                };
                let report = VolumeReport::new(
                    volume_id,
                    volume.kms_key_id(),
                    volume
                        .attachments()
                        .iter()
                        .filter_map(|a| a.instance_id().and_then(InstanceId::parse)),
                );
                keys.extend(report.key.clone());
                out.push(Evidence::Volume(report));
            }
        }
        keys
    }

    pub(crate) async fn key(
        &self,
        c: &Clients,
        key: &KeyArn,
        out: &mut Vec<Evidence>,
    ) -> Option<bool> {
        self.count();
        let described = match c.kms.describe_key().key_id(key.as_str()).send().await {
            Ok(r) => r,
            Err(e) => {
                warn(
                    "kms:DescribeKey",
                    &aws_sdk_kms::error::DisplayErrorContext(&e).to_string(),
                );
                return None;
            }
        };
        let metadata = described.key_metadata()?;
        let customer_managed = metadata.key_manager().map(|m| m.as_str()) != Some("AWS");
        let policy = if customer_managed {
            self.count();
            match c
                .kms
                .get_key_policy()
                .key_id(key.as_str())
                .policy_name("default")
                .send()
                .await
            {
                Ok(r) => r.policy().and_then(|p| {
                    // The document itself, for preflight's evaluator; the
                    // facts, for the diagnosis of a failed start.
                    out.push(Evidence::KeyPolicy(KeyPolicyReport {
                        key: key.clone(),
                        document: p.to_owned(),
                    }));
                    key_policy_facts(p, key)
                }),
                Err(e) => {
                    warn(
                        "kms:GetKeyPolicy",
                        &aws_sdk_kms::error::DisplayErrorContext(&e).to_string(),
                    );
                    None
                }
            }
        } else {
            None
        };
        out.push(Evidence::Key(KeyReport::new(
            key.clone(),
            metadata.key_state().map(|s| s.as_str()),
            metadata.key_manager().map(|m| m.as_str()),
            policy,
        )));
        Some(customer_managed)
    }

    async fn simulate(
        &self,
        c: &Clients,
        principal: &PrincipalArn,
        key: &KeyArn,
        out: &mut Vec<Evidence>,
    ) {
        // The context EC2 gives KMS when it attaches a volume: a grant for
        // an AWS resource, via EC2 in the key's region, by the principal's
        // own account.
        let entry = |name: &str, kind: ContextKeyTypeEnum, value: &str| {
            ContextEntry::builder()
                .context_key_name(name)
                .context_key_type(kind)
                .context_key_values(value)
                .build()
        };
        let context = [
            entry(
                "kms:GrantIsForAWSResource",
                ContextKeyTypeEnum::Boolean,
                "true",
            ),
            entry(
                "kms:ViaService",
                ContextKeyTypeEnum::String,
                &format!("ec2.{}.amazonaws.com", key.region()),
            ),
            entry(
                "kms:CallerAccount",
                ContextKeyTypeEnum::String,
                principal.account(),
            ),
        ];
        self.count();
        let response = c
            .iam
            .simulate_principal_policy()
            .policy_source_arn(principal.as_str())
            .action_names("kms:CreateGrant")
            .resource_arns(key.as_str())
            .set_context_entries(Some(context.to_vec()))
            .send()
            .await;
        let response = match response {
            Ok(r) => r,
            Err(e) => {
                warn(
                    "iam:SimulatePrincipalPolicy",
                    &aws_sdk_iam::error::DisplayErrorContext(&e).to_string(),
                );
                return;
            }
        };
        let decision = response
            .evaluation_results()
            .first()
            .map(|r| match r.eval_decision() {
                PolicyEvaluationDecisionType::Allowed => SimulatedDecision::Allowed,
                PolicyEvaluationDecisionType::ExplicitDeny => SimulatedDecision::ExplicitDeny,
                _ => SimulatedDecision::ImplicitDeny,
            });
        if let Some(decision) = decision {
            out.push(Evidence::Simulation(PolicySimulation {
                principal: principal.clone(),
                key: key.clone(),
                action: "kms:CreateGrant".to_owned(),
                decision,
            }));
        }
    }

    /// Waits until a `LookupEvents` call is allowed.
    async fn lookup_slot(&self) {
        let mut last = self.last_lookup.lock().await;
        if let Some(at) = *last {
            tokio::time::sleep_until(at + LOOKUP_SPACING).await;
        }
        *last = Some(Instant::now());
    }
}

/// The instances of one `DescribeInstances` response as evidence; returns
/// their volumes.
pub(crate) fn instance_evidence(
    response: &aws_sdk_ec2::operation::describe_instances::DescribeInstancesOutput,
    out: &mut Vec<Evidence>,
) -> BTreeSet<VolumeId> {
    let mut volumes = BTreeSet::new();
    for reservation in response.reservations() {
        for instance in reservation.instances() {
            let Some(instance_id) = instance.instance_id().and_then(InstanceId::parse) else {
                continue;
            };
            let report = InstanceReport::new(
                instance_id,
                instance.state().and_then(|s| s.name()).map(|n| n.as_str()),
                (
                    instance.state_reason().and_then(|r| r.code()),
                    instance.state_reason().and_then(|r| r.message()),
                ),
                instance
                    .block_device_mappings()
                    .iter()
                    .filter_map(|m| m.ebs()?.volume_id())
                    .filter_map(VolumeId::parse),
                instance
                    .tags()
                    .iter()
                    .filter_map(|t| Some((t.key()?, t.value().unwrap_or_default()))),
                Origin {
                    account: reservation.owner_id().and_then(Account::parse),
                    region: instance
                        .placement()
                        .and_then(|p| p.availability_zone())
                        .and_then(Region::of_zone),
                },
            );
            volumes.extend(report.volume_ids.iter().cloned());
            out.push(Evidence::Instance(report));
        }
    }
    volumes
}

pub(crate) fn warn(call: &str, error: &str) {
    tracing::warn!(
        call,
        error,
        "live check failed; continuing with what is known"
    );
}

/// Requests grouped by account and region, in that order.
type Place<'r> = (Option<&'r str>, Option<&'r str>);

fn by_place(requests: &[LiveRequest]) -> BTreeMap<Place<'_>, Vec<&LiveRequest>> {
    let mut groups: BTreeMap<Place<'_>, Vec<&LiveRequest>> = BTreeMap::new();
    for r in requests {
        groups
            .entry((r.account.as_deref(), r.region.as_deref()))
            .or_default()
            .push(r);
    }
    groups
}

impl LiveChecks for AwsLiveChecks {
    async fn describe(&self, requests: &[LiveRequest]) -> Result<Vec<Evidence>, ServiceError> {
        let mut out = Vec::new();
        for ((account, region), requests) in by_place(requests) {
            let c = self.clients_for(account, region).await;
            let instances: Vec<InstanceId> = requests
                .iter()
                .map(|r| r.instance_id.clone())
                .collect::<BTreeSet<_>>()
                .into_iter()
                .collect();
            let volumes: Vec<VolumeId> = self
                .instances(&c, &instances, &mut out)
                .await
                .into_iter()
                .collect();
            let keys: Vec<KeyArn> = self
                .volumes(&c, &volumes, &mut out)
                .await
                .into_iter()
                .collect();
            let principals: BTreeSet<&PrincipalArn> = requests
                .iter()
                .filter_map(|r| r.principal.as_ref())
                .collect();
            for key in &keys {
                if self.key(&c, key, &mut out).await == Some(true) {
                    for principal in &principals {
                        self.simulate(&c, principal, key, &mut out).await;
                    }
                }
            }
        }
        Ok(out)
    }

    async fn lookup_cloudtrail(
        &self,
        requests: &[LiveRequest],
    ) -> Result<Vec<Evidence>, ServiceError> {
        let mut out = Vec::new();
        for ((account, region), requests) in by_place(requests) {
            let c = self.clients_for(account, region).await;
            // One account's failure must not erase what the others found.
            if let Err(e) = self.lookup(&c, &requests, &mut out).await {
                warn("cloudtrail:LookupEvents", &e.to_string());
            }
        }
        Ok(out)
    }
}

impl AwsLiveChecks {
    /// One account and region's `LookupEvents` for the KMS calls around the
    /// failures: by each key of the failed instances' volumes when they are
    /// known (grant and decrypt calls alike), else by `CreateGrant`; in the
    /// attempts' window. Calls grow with the distinct keys, not the
    /// instances.
    async fn lookup(
        &self,
        c: &Clients,
        requests: &[&LiveRequest],
        out: &mut Vec<Evidence>,
    ) -> Result<(), ServiceError> {
        let times: Vec<chrono::DateTime<chrono::Utc>> =
            requests.iter().filter_map(|r| r.failed_at).collect();
        let (Some(first), Some(last)) = (times.iter().min(), times.iter().max()) else {
            return Ok(());
        };
        // The attempt window: EC2's KMS calls come between `pending` and
        // the stop, seconds before `failed_at`.
        let start = aws_sdk_cloudtrail::primitives::DateTime::from_secs(
            (*first - chrono::Duration::minutes(5)).timestamp(),
        );
        let end = aws_sdk_cloudtrail::primitives::DateTime::from_secs(
            (*last + chrono::Duration::minutes(5)).timestamp(),
        );
        let keys: BTreeSet<&KeyArn> = requests.iter().flat_map(|r| &r.keys).collect();
        let attributes: Vec<(LookupAttributeKey, String)> = if keys.is_empty() {
            vec![(LookupAttributeKey::EventName, "CreateGrant".to_owned())]
        } else {
            keys.iter()
                .map(|k| (LookupAttributeKey::ResourceName, k.as_str().to_owned()))
                .collect()
        };
        for (key, value) in attributes {
            let attribute = LookupAttribute::builder()
                .attribute_key(key)
                .attribute_value(value)
                .build()
                .map_err(|e| ServiceError {
                    service: "cloudtrail",
                    message: e.to_string(),
                })?;
            self.lookup_pages(c, attribute, start, end, out).await?;
        }
        Ok(())
    }

    /// Reads up to [`MAX_LOOKUP_PAGES`] pages of one lookup, spaced to
    /// CloudTrail's rate, as evidence.
    pub(crate) async fn lookup_pages(
        &self,
        c: &Clients,
        attribute: LookupAttribute,
        start: aws_sdk_cloudtrail::primitives::DateTime,
        end: aws_sdk_cloudtrail::primitives::DateTime,
        out: &mut Vec<Evidence>,
    ) -> Result<(), ServiceError> {
        for record in self.lookup_records(c, attribute, start, end).await? {
            if let Ok(document) = start_doctor_start::read_document(record.as_bytes()) {
                out.extend(document.evidence);
            }
        }
        Ok(())
    }

    /// Reads up to [`MAX_LOOKUP_PAGES`] pages of one lookup, spaced to
    /// CloudTrail's rate: the CloudTrail records, as the JSON text
    /// `LookupEvents` gives them.
    pub(crate) async fn lookup_records(
        &self,
        c: &Clients,
        attribute: LookupAttribute,
        start: aws_sdk_cloudtrail::primitives::DateTime,
        end: aws_sdk_cloudtrail::primitives::DateTime,
    ) -> Result<Vec<String>, ServiceError> {
        let mut records = Vec::new();
        let mut token: Option<String> = None;
        for _ in 0..MAX_LOOKUP_PAGES {
            self.lookup_slot().await;
            self.count();
            let response = c
                .cloudtrail
                .lookup_events()
                .lookup_attributes(attribute.clone())
                .start_time(start)
                .end_time(end)
                .max_results(50)
                .set_next_token(token.take())
                .send()
                .await
                .map_err(|e| ServiceError {
                    service: "cloudtrail",
                    message: aws_sdk_cloudtrail::error::DisplayErrorContext(&e).to_string(),
                })?;
            records.extend(
                response
                    .events()
                    .iter()
                    .filter_map(|e| e.cloud_trail_event())
                    .map(str::to_owned),
            );
            token = response.next_token().map(str::to_owned);
            if token.is_none() {
                break;
            }
        }
        Ok(records)
    }
}
