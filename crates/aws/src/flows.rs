//! The flows doctor in AWS: the `flows-rejects` function. A CloudWatch Logs
//! subscription filter on the VPC flow-log group hands it batches of REJECT
//! records (`{"awslogs": {"data": <base64 gzip>}}`); it replays them
//! against the network configuration read live (cached), aggregates them
//! per conversation in the store, and publishes through the shared engine:
//! one Slack message and one OpsItem per (cause, control), refreshed as the
//! counts grow. Its own SQS queue brings back the engine's deferred
//! notices (flushes of rate-limited updates, webhook posts and follow-ups).
//!
//! | Variable | Meaning |
//! |---|---|
//! | (every variable of [`crate::config::Common`]) | |
//! | `DEFER_QUEUE_URL` | the function's own SQS queue for the engine's deferred notices (required) |
//! | `FLOWS_INTERNAL_CIDRS` | comma-separated CIDRs that count as inside besides the VPCs' (on premises, peers); default the RFC 1918 ranges; `none` for none |
//! | `FLOWS_CONFIG_TTL_SECONDS` | how long a container reuses the configuration it read (default 300, 30 to 3600) |
//! | `FLOWS_VPC_IDS` | comma-separated VPC ids to read (default every VPC of the Region) |
//!
//! Per batch (one invocation), whatever its size (CloudWatch Logs batches
//! up to about 1 MB of events): the configuration is read at most once
//! (none while the cache is fresh), each conversation costs one
//! read-modify-write of its aggregate and one engine publication (a few
//! store reads and writes, a Slack update at most once per the engine's
//! update interval), and the noise one write. Records never cost a store
//! write each.

use std::str::FromStr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use chrono::{DateTime, Duration, Utc};
use ipnet::IpNet;
use serde::de::DeserializeOwned;
use serde::Serialize;
use serde_json::Value;
use start_doctor_core::ids::{Origin, Region};
use start_doctor_engine::ports::{Io, Ports, Store};
use start_doctor_engine::record::{self, body, MAX_ATTEMPTS};
use start_doctor_engine::{Deferred, Engine, EngineError, Later, Published};
use start_doctor_flows::config::Config;
use start_doctor_flows::finding::Noise;
use start_doctor_flows::live::{
    aggregate_key, noise_key, publishable, Aggregate, FlowsDoctor, NoiseTally, SetAside,
};
use start_doctor_flows::read::json::read_json;
use start_doctor_flows::traffic::{Traffic, Window};
use start_doctor_flows::{diagnose, Options};
use tokio::sync::Mutex;

use crate::annotate::AwsAnnotator;
use crate::config::{slack_notifier, Common, ConfigError, Env, SlackNotifier};
use crate::defer::SqsDeferrer;
use crate::dynamodb::DynamoStore;
use crate::flows_config::{describe, Configuration};
use crate::lambda::{self, HandlerError, Invocation};

/// `FLOWS_CONFIG_TTL_SECONDS` allowed.
pub const CONFIG_TTL_RANGE: std::ops::RangeInclusive<u32> = 30..=3_600;
/// The default configuration lifetime: flow-log records reach CloudWatch
/// Logs 5 to 15 minutes after the traffic (an aggregation interval of up to
/// 10 minutes, then about 5 of delivery), so a configuration 5 minutes old
/// is as recent as the records it replays; a NACL change shows within 5
/// minutes, and a busy container reads the configuration 12 times an hour.
pub const DEFAULT_CONFIG_TTL_SECS: u32 = 300;
/// A configuration that leaves a reject unexplained (an interface created
/// since, a read that failed) is read again, but not more often than this.
pub const MISS_REFRESH_SECS: i64 = 60;
/// The most conversations one batch publishes, the most-rejected first:
/// each costs a handful of store calls (about 10 ms each), so 200 finish
/// well within the function's 60 s; the others are counted (one write) and
/// logged, and publish when a later batch brings them among its first 200.
/// A scan of thousands of ports from an inside address is thus one count,
/// not thousands of writes.
pub const MAX_CONVERSATIONS_PER_BATCH: usize = 200;
/// The default inside ranges: private addresses (RFC 1918) cannot come
/// from the internet, so their rejects are never scans.
pub const DEFAULT_INTERNAL: [&str; 3] = ["10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16"];

/// The function's configuration.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FlowsConfig {
    /// What every function reads.
    pub common: Common,
    /// `DEFER_QUEUE_URL`.
    pub defer_queue_url: String,
    /// `FLOWS_INTERNAL_CIDRS`.
    pub internal: Vec<IpNet>,
    /// `FLOWS_CONFIG_TTL_SECONDS`.
    pub config_ttl: Duration,
    /// `FLOWS_VPC_IDS`.
    pub vpc_ids: Vec<String>,
}

fn list(value: Option<String>) -> Vec<String> {
    value
        .unwrap_or_default()
        .split(',')
        .map(str::trim)
        .filter(|v| !v.is_empty())
        .map(str::to_owned)
        .collect()
}

impl FlowsConfig {
    /// Reads the configuration.
    pub fn read<F: Fn(&str) -> Option<String>>(env: &Env<F>) -> Result<Self, ConfigError> {
        let common = Common::read(env)?;
        let internal = match env.get("FLOWS_INTERNAL_CIDRS") {
            None => DEFAULT_INTERNAL
                .iter()
                .filter_map(|c| IpNet::from_str(c).ok())
                .collect(),
            Some(v) if v.trim().eq_ignore_ascii_case("none") => Vec::new(),
            Some(v) => list(Some(v))
                .iter()
                .map(|c| {
                    IpNet::from_str(c).map_err(|e| ConfigError::Invalid {
                        name: "FLOWS_INTERNAL_CIDRS",
                        message: format!("{c:?} is not a CIDR: {e}"),
                    })
                })
                .collect::<Result<_, _>>()?,
        };
        let vpc_ids = list(env.get("FLOWS_VPC_IDS"));
        if let Some(bad) = vpc_ids.iter().find(|v| !v.starts_with("vpc-")) {
            return Err(ConfigError::Invalid {
                name: "FLOWS_VPC_IDS",
                message: format!("{bad:?} is not a VPC id"),
            });
        }
        Ok(Self {
            defer_queue_url: env.required("DEFER_QUEUE_URL")?,
            internal,
            config_ttl: Duration::seconds(i64::from(env.seconds(
                "FLOWS_CONFIG_TTL_SECONDS",
                DEFAULT_CONFIG_TTL_SECS,
                CONFIG_TTL_RANGE,
            )?)),
            vpc_ids,
            common,
        })
    }
}

/// The configuration a container read, and when.
#[derive(Debug)]
struct Cached {
    read_at: DateTime<Utc>,
    config: Arc<Config>,
}

/// The network configuration, read with `Describe*` calls and kept for a
/// lifetime per container (the function's only AWS reads besides the
/// store).
#[derive(Debug)]
pub struct ConfigCache {
    ec2: aws_sdk_ec2::Client,
    vpc_ids: Vec<String>,
    ttl: Duration,
    cached: Mutex<Option<Cached>>,
    reads: AtomicUsize,
}

impl ConfigCache {
    /// A cache reading through `ec2`.
    pub fn new(ec2: aws_sdk_ec2::Client, vpc_ids: Vec<String>, ttl: Duration) -> Self {
        Self {
            ec2,
            vpc_ids,
            ttl,
            cached: Mutex::new(None),
            reads: AtomicUsize::new(0),
        }
    }

    /// How many times the configuration was read.
    pub fn reads(&self) -> usize {
        self.reads.load(Ordering::Relaxed)
    }

    async fn read(&self) -> Result<Config, HandlerError> {
        self.reads.fetch_add(1, Ordering::Relaxed);
        let described: Configuration = describe(&self.ec2, &self.vpc_ids).await;
        let mut required = Vec::new();
        for e in &described.errors {
            if e.is_optional() {
                tracing::warn!(error = %e, "optional describe call failed; left out");
            } else {
                required.push(e.to_string());
            }
        }
        if !required.is_empty() {
            // Replaying against half a configuration would name wrong
            // causes: the batch is retried instead.
            return Err(HandlerError::Retryable(format!(
                "reading the network configuration: {}",
                required.join("; ")
            )));
        }
        let (config, problems) = described.build();
        for problem in problems {
            tracing::warn!(problem, "configuration");
        }
        Ok(config)
    }

    /// The configuration at `now`: the cached one while it is younger than
    /// the lifetime (and, with `fresher_than`, younger than that), else
    /// read again.
    pub async fn get(
        &self,
        now: DateTime<Utc>,
        fresher_than: Option<Duration>,
    ) -> Result<(Arc<Config>, bool), HandlerError> {
        let mut cached = self.cached.lock().await;
        let max_age = fresher_than.map_or(self.ttl, |f| f.min(self.ttl));
        if let Some(c) = cached.as_ref() {
            let age = now - c.read_at;
            if age >= Duration::zero() && age < max_age {
                return Ok((Arc::clone(&c.config), false));
            }
        }
        let config = Arc::new(self.read().await?);
        *cached = Some(Cached {
            read_at: now,
            config: Arc::clone(&config),
        });
        Ok((config, true))
    }
}

/// The ports of the function.
pub type FlowsPorts = Io<DynamoStore, SlackNotifier, SqsDeferrer, AwsAnnotator>;

/// The function's collaborators, built once per container.
#[derive(Debug)]
pub struct FlowsRun<P> {
    /// The live path's ports.
    pub ports: P,
    /// The engine's tunables.
    pub engine: start_doctor_engine::Settings,
    /// The configuration, cached.
    pub config: ConfigCache,
    /// The diagnosis options (`FLOWS_INTERNAL_CIDRS`).
    pub options: Options,
    /// The function's own account and Region: the scope of findings whose
    /// records and configuration do not say.
    pub home: Origin,
}

/// What one subscription batch did.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct BatchOutcome {
    /// The batch was a control message (no records).
    pub control: bool,
    /// Records read.
    pub records: u64,
    /// Log events that were not records start-doctor reads.
    pub unreadable: usize,
    /// Conversations diagnosed (noise left out).
    pub conversations: usize,
    /// Conversations new to their group.
    pub joined: usize,
    /// Conversations whose group now shows their grown counts.
    pub refreshed: usize,
    /// Conversations published before with the same counts (a retried
    /// batch).
    pub unchanged: usize,
    /// Unexplained conversations, counted and logged, not posted.
    pub unexplained: usize,
    /// Noise counted.
    pub noise: Noise,
    /// Conversations beyond [`MAX_CONVERSATIONS_PER_BATCH`], counted and
    /// logged, not published by this batch.
    pub left_out: usize,
    /// The configuration was read (not cached) for this batch.
    pub config_read: bool,
}

/// Writes the record at `key`, created from `T::default()` when missing,
/// changed by `change` (which returns `false` to leave it): one optimistic
/// read-modify-write, retried against concurrent writers.
async fn upsert<S, T, F>(store: &S, key: &str, mut change: F) -> Result<T, EngineError>
where
    S: Store,
    T: Serialize + DeserializeOwned + Default,
    F: FnMut(&mut T) -> bool,
{
    for attempt in 0..MAX_ATTEMPTS {
        let current: Option<(T, u64)> = record::read(store, key).await?;
        let version = current.as_ref().map(|(_, v)| *v);
        let mut value = current.map(|(v, _)| v).unwrap_or_default();
        if !change(&mut value) {
            return Ok(value);
        }
        if store.put_record(key, &body(&value), version).await? {
            return Ok(value);
        }
        store.contended(attempt).await;
    }
    Err(EngineError::Contention(key.to_owned()))
}

/// The batch's id: the SHA-256 of its payload (a redelivered batch has the
/// same).
fn batch_id(payload: &Value) -> String {
    let data = payload
        .pointer("/awslogs/data")
        .and_then(Value::as_str)
        .map_or_else(|| payload.to_string(), str::to_owned);
    start_doctor_engine::engine::sha256_hex(&data)
}

/// Diagnoses the records of `events` against `config`.
fn diagnose_events(
    config: &Config,
    events: &[start_doctor_flows::read::json::LogEvents],
    options: &Options,
) -> (start_doctor_flows::Report, u64, usize) {
    let formats = config.formats();
    let mut traffic = Traffic::new(Window::default());
    let mut records = 0;
    let mut unreadable = 0;
    for e in events {
        let (n, problems) = e.read(&formats, &mut traffic);
        records += n;
        unreadable += problems.lines().len();
        for line in problems.lines() {
            tracing::warn!(problem = line, "log event");
        }
    }
    (diagnose(config, &traffic, options), records, unreadable)
}

/// Handles one CloudWatch Logs subscription payload: diagnoses its records,
/// counts noise, merges each conversation into its aggregate once and
/// publishes the conversations whose cause is known.
pub async fn handle_logs<P: Ports>(
    run: &FlowsRun<P>,
    payload: &Value,
    invocation: &Invocation,
) -> Result<BatchOutcome, HandlerError> {
    let bytes = serde_json::to_vec(payload).unwrap_or_default();
    let document = read_json(&bytes).map_err(|e| {
        tracing::error!(error = %e, "not a CloudWatch Logs subscription payload");
        HandlerError::Unreadable(format!("subscription payload: {e}"))
    })?;
    let mut outcome = BatchOutcome::default();
    if document.events.iter().all(|e| e.messages.is_empty()) {
        // CloudWatch Logs checks a new subscription with a control message.
        outcome.control = true;
        return Ok(outcome);
    }
    let batch = batch_id(payload);
    let now = invocation.now;
    let (mut config, read) = run.config.get(now, None).await?;
    outcome.config_read = read;
    let (mut report, records, unreadable) =
        diagnose_events(&config, &document.events, &run.options);
    if !read && report.findings.iter().any(|f| !publishable(f)) {
        // Something the cached configuration does not know: read it again
        // (at most once a minute) before calling it unexplained.
        let (fresh, reread) = run
            .config
            .get(now, Some(Duration::seconds(MISS_REFRESH_SECS)))
            .await?;
        if reread {
            outcome.config_read = true;
            config = fresh;
            (report, _, _) = diagnose_events(&config, &document.events, &run.options);
        }
    }
    outcome.records = records;
    outcome.unreadable = unreadable;
    outcome.noise = report.noise;
    let store = run.ports.store();
    let mut findings = report.findings;
    // The most-rejected first (ties in a stable order): the bound keeps
    // the conversations that matter most.
    findings.sort_by(|a, b| {
        b.rejected_records
            .cmp(&a.rejected_records)
            .then_with(|| a.client.cmp(&b.client))
            .then_with(|| a.server.cmp(&b.server))
            .then_with(|| a.server_port.cmp(&b.server_port))
    });
    let left_out: Vec<_> = findings.split_off(findings.len().min(MAX_CONVERSATIONS_PER_BATCH));
    outcome.left_out = left_out.len();
    let aside = SetAside {
        noise: report.noise,
        left_out_conversations: left_out.len() as u64,
        left_out_records: left_out.iter().map(|f| f.rejected_records).sum(),
    };
    if !aside.is_empty() {
        let key = noise_key(&run.home);
        let tally: NoiseTally = upsert(store, &key, |t: &mut NoiseTally| t.merge(&batch, &aside))
            .await
            .map_err(HandlerError::from)?;
        tracing::info!(
            after_close = tally.noise.after_close,
            unsolicited = tally.noise.unsolicited,
            left_out_conversations = tally.left_out_conversations,
            left_out_records = tally.left_out_records,
            batch_left_out = left_out.len(),
            "set aside"
        );
    }
    let doctor = FlowsDoctor;
    let engine = Engine::new(&run.ports, &doctor, &run.engine);
    for mut finding in findings {
        if finding.account.is_none() {
            finding.account.clone_from(&run.home.account);
        }
        if finding.region.is_none() {
            finding.region.clone_from(&run.home.region);
        }
        outcome.conversations += 1;
        let scope = Origin {
            account: finding.account.clone(),
            region: finding.region.clone(),
        };
        let subject = start_doctor_flows::live::conversation_name(&finding);
        let key = aggregate_key(&scope, &subject);
        let aggregate: Aggregate =
            upsert(store, &key, |a: &mut Aggregate| a.merge(&batch, &finding))
                .await
                .map_err(HandlerError::from)?;
        let total = aggregate.apply(&finding);
        if !publishable(&total) {
            outcome.unexplained += 1;
            tracing::warn!(
                conversation = subject,
                rejected = total.rejected_records,
                missing = ?total.missing,
                summary = total.summary,
                "unexplained reject: counted, not posted"
            );
            continue;
        }
        match engine.publish(&total, invocation.when()).await? {
            Published::Joined => outcome.joined += 1,
            Published::Refreshed => outcome.refreshed += 1,
            Published::Already => outcome.unchanged += 1,
        }
    }
    Ok(outcome)
}

/// Handles one batch of the function's queue: the engine's deferred
/// notices (`{"doctor": "flows", "notice": ...}`).
pub async fn handle_batch<P: Ports>(
    run: &FlowsRun<P>,
    records: &[Value],
    invocation: &Invocation,
) -> Result<Value, HandlerError> {
    let doctor = FlowsDoctor;
    let engine = Engine::new(&run.ports, &doctor, &run.engine);
    let response = lambda::run_batch(
        records,
        invocation,
        |messages: Vec<Deferred<Value>>| async {
            let mut results = Vec::with_capacity(messages.len());
            for message in messages {
                results.push(match (&message.doctor[..], &message.what) {
                    ("flows", Later::Notice(notice)) => engine
                        .handle(notice, invocation.when())
                        .await
                        .map_err(HandlerError::from),
                    (doctor, _) => {
                        // Another doctor's message (or a check, which this
                        // doctor never defers): a batch item failure, kept
                        // in the DLQ rather than dropped.
                        tracing::error!(doctor, "not a flows notice");
                        Err(HandlerError::Unreadable(format!(
                            "a deferred message of doctor {doctor:?} on the flows queue"
                        )))
                    }
                });
            }
            results
        },
    )
    .await?;
    Ok(serde_json::to_value(response).unwrap_or(Value::Null))
}

/// The function's handler: a subscription payload (`awslogs`) or a batch of
/// its queue (`Records`).
pub async fn handle_input<P: Ports>(
    run: &FlowsRun<P>,
    input: &Value,
    invocation: &Invocation,
) -> Result<Value, HandlerError> {
    if input.get("awslogs").is_some() {
        return lambda::within(invocation, handle_logs(run, input, invocation))
            .await
            .map(|outcome| {
                tracing::info!(outcome = ?outcome, "batch done");
                serde_json::to_value(outcome).unwrap_or(Value::Null)
            });
    }
    match input.get("Records") {
        Some(Value::Array(records)) => handle_batch(run, records, invocation).await,
        _ => Err(HandlerError::Unreadable(
            "neither a CloudWatch Logs subscription payload (awslogs) nor an SQS batch (Records)"
                .to_owned(),
        )),
    }
}

/// Builds the function's collaborators from the configuration and the SDK
/// configuration (clients are built once, here).
pub async fn flows_run(
    config: &FlowsConfig,
    sdk: &aws_config::SdkConfig,
) -> Result<FlowsRun<FlowsPorts>, ConfigError> {
    let region = sdk.region().and_then(|r| Region::parse(r.as_ref()));
    Ok(FlowsRun {
        ports: Io {
            store: config.common.store(sdk),
            notifier: slack_notifier(&config.common, sdk).await?,
            deferrer: SqsDeferrer::new(
                aws_sdk_sqs::Client::new(sdk),
                config.defer_queue_url.clone(),
            ),
            annotator: config.common.annotator(sdk),
        },
        engine: config.common.engine.clone(),
        config: ConfigCache::new(
            aws_sdk_ec2::Client::new(sdk),
            config.vpc_ids.clone(),
            config.config_ttl,
        ),
        options: Options {
            internal: config.internal.clone(),
            all: false,
        },
        home: Origin {
            account: config.common.central_account_id.clone(),
            region,
        },
    })
}

/// Runs `flows-rejects`.
pub async fn serve() -> Result<(), lambda_runtime::Error> {
    lambda::init_tracing();
    let config = FlowsConfig::read(&Env::process()).inspect_err(|e| {
        tracing::error!(error = %e, "configuration");
    })?;
    let sdk = aws_config::load_defaults(aws_config::BehaviorVersion::latest()).await;
    let run = flows_run(&config, &sdk)
        .await
        .inspect_err(|e| tracing::error!(error = %e, "start-up"))?;
    let run = &run;
    lambda::serve_events_and_batches(move |payload, invocation| async move {
        handle_input(run, &payload, &invocation).await
    })
    .await
}

#[cfg(test)]
mod tests {
    use std::net::IpAddr;

    use super::*;

    fn config(vars: &[(&str, &str)]) -> Result<FlowsConfig, ConfigError> {
        FlowsConfig::read(&Env::from_pairs(vars))
    }

    const BASE: [(&str, &str); 3] = [
        ("STORE_TABLE", "t"),
        ("DEFER_QUEUE_URL", "http://127.0.0.1/q"),
        ("SLACK_WEBHOOK_URL", "https://hooks.example/T/B/X"),
    ];

    #[test]
    fn defaults_are_private_ranges_and_five_minutes() {
        let c = config(&BASE).expect("config");
        assert_eq!(c.config_ttl, Duration::minutes(5));
        assert_eq!(c.internal.len(), 3);
        assert!(c
            .internal
            .iter()
            .any(|n| n.contains(&IpAddr::from([10, 20, 5, 17]))));
        assert!(c.vpc_ids.is_empty());
    }

    #[test]
    fn bad_values_name_their_variable() {
        for (name, value) in [
            ("FLOWS_INTERNAL_CIDRS", "10.0.0.0/8, on-prem"),
            ("FLOWS_CONFIG_TTL_SECONDS", "5"),
            ("FLOWS_VPC_IDS", "subnet-0123456789abcdef0"),
        ] {
            let mut vars = BASE.to_vec();
            vars.push((name, value));
            let err = config(&vars).expect_err(name).to_string();
            assert!(err.starts_with(name), "{name}={value}: {err}");
        }
        let mut vars = BASE.to_vec();
        vars.push(("FLOWS_INTERNAL_CIDRS", "none"));
        assert!(config(&vars).expect("none").internal.is_empty());
        let mut vars = BASE.to_vec();
        vars.retain(|(k, _)| *k != "DEFER_QUEUE_URL");
        assert!(config(&vars)
            .expect_err("queue")
            .to_string()
            .contains("DEFER_QUEUE_URL"));
    }

    #[tokio::test]
    async fn a_message_of_another_doctor_on_the_queue_is_a_batch_item_failure() {
        use start_doctor_engine::memory::{
            MemoryStore, RecordingAnnotator, RecordingDeferrer, RecordingNotifier,
        };
        let ec2 = aws_sdk_ec2::Client::from_conf(
            aws_sdk_ec2::Config::builder()
                .behavior_version(aws_config::BehaviorVersion::latest())
                .region(aws_sdk_ec2::config::Region::new("eu-west-1"))
                .build(),
        );
        let run = FlowsRun {
            ports: Io {
                store: MemoryStore::new(),
                notifier: RecordingNotifier::new(),
                deferrer: RecordingDeferrer::default(),
                annotator: RecordingAnnotator::default(),
            },
            engine: start_doctor_engine::Settings::default(),
            config: ConfigCache::new(ec2, Vec::new(), Duration::minutes(5)),
            options: Options::default(),
            home: Origin::default(),
        };
        let message = |id: &str, body: Value| serde_json::json!({"messageId": id, "body": body.to_string(), "eventSource": "aws:sqs"});
        let records = [
            message(
                "start",
                serde_json::json!({"doctor": "start", "notice": {"kind": "flush", "group": "start#group#-#-#g"}}),
            ),
            message(
                "flows",
                serde_json::json!({"doctor": "flows", "notice": {"kind": "flush", "group": "flows#group#-#-#g"}}),
            ),
        ];
        let invocation = Invocation::with_time_left(Utc::now(), std::time::Duration::from_secs(30));
        let response = handle_input(&run, &serde_json::json!({"Records": records}), &invocation)
            .await
            .expect("answered");
        assert_eq!(
            response["batchItemFailures"],
            serde_json::json!([{"itemIdentifier": "start"}]),
            "the start doctor's message fails alone; the flush of a missing group is done: {response}"
        );
        let unreadable = handle_input(&run, &serde_json::json!({"detail": {}}), &invocation).await;
        assert!(
            matches!(unreadable, Err(HandlerError::Unreadable(_))),
            "{unreadable:?}"
        );
    }

    #[test]
    fn a_batch_is_known_by_its_data() {
        let a = serde_json::json!({"awslogs": {"data": "H4sIAAAA"}});
        let b = serde_json::json!({"awslogs": {"data": "H4sIAAAB"}});
        assert_eq!(batch_id(&a), batch_id(&a.clone()));
        assert_ne!(batch_id(&a), batch_id(&b));
    }
}
