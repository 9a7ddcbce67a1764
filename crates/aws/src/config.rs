//! Configuration from the environment, and the production pipeline built
//! from it.
//!
//! | Variable | Meaning |
//! |---|---|
//! | `STORE_TABLE` | DynamoDB table for evidence and notices (required) |
//! | `DEFER_QUEUE_URL` | SQS queue for deferred checks (required) |
//! | `CLOUDTRAIL_WAIT_SECONDS` | wait for CloudTrail before live checks (default 900) |
//! | `STORM_WINDOW_SECONDS` | how long a storm group collects into one message (default 3600) |
//! | `SLACK_WEBHOOK_URL` | an Incoming Webhook (local runs; it is a secret) |
//! | `SLACK_TOKEN_SECRET_ARN` | a Secrets Manager secret holding a bot token (`xoxb-...`) or a webhook URL, plain or as JSON `{"token": ...}` / `{"webhook_url": ...}` |
//! | `SLACK_BOT_TOKEN` | a bot token (local runs only; production uses the secret) |
//! | `SLACK_CHANNEL` | the channel for bot-token delivery |
//! | `SLACK_API_URL` | another Slack Web API root (tests) |
//! | `ENABLE_OPSCENTER` | one OpsItem per diagnosis group (`true`/`false`, default false) |
//! | `ENABLE_INCIDENT_MANAGER` | timeline events on open incidents naming the instance (default false) |
//! | `ENABLE_INSTANCE_TAGGING` | tag failed instances `start-doctor:last-start-failure` (default false) |
//! | `DIAGNOSIS_EVENT_BUS` | bus for `EC2 Start Failure Diagnosed` events (default `default`; `none`: off) |
//! | `READ_ROLE_NAME` | read-only role assumed in member accounts for live checks |
//! | `CENTRAL_ACCOUNT_ID` | the account the functions run in (with `READ_ROLE_NAME`) |
//! | `AWS_ENDPOINT_URL` | local AWS emulator (read by the SDK itself) |

use std::fmt;

use aws_sdk_secretsmanager::error::DisplayErrorContext;
use chrono::Duration;
use serde_json::Value;

use super::annotate::AwsAnnotator;
use super::defer::SqsDeferrer;
use super::live::{AwsLiveChecks, CrossAccount};
use crate::dynamodb::DynamoStore;
use crate::slack::{SlackApi, SlackWebhook};
use start_doctor_core::pipeline::{Pipeline, Settings};
use start_doctor_core::ports::{MessageRef, Notifier, NotifyError};

/// `CLOUDTRAIL_WAIT_SECONDS` allowed: from no wait to an hour, as the
/// template's `CloudTrailWaitSeconds` (a longer wait leaves a failed start
/// unreported for longer than anyone would wait for it).
pub const CLOUDTRAIL_WAIT_RANGE: std::ops::RangeInclusive<u32> = 0..=3_600;
/// `STORM_WINDOW_SECONDS` allowed: at least a minute (0 would give every
/// instance of a storm its own message), at most a day.
pub const STORM_WINDOW_RANGE: std::ops::RangeInclusive<u32> = 60..=86_400;

/// Where the Slack credentials come from.
#[derive(Clone, PartialEq, Eq)]
pub enum SlackSource {
    /// An Incoming Webhook URL given directly.
    Webhook(String),
    /// A Secrets Manager secret (token or webhook URL), with the channel
    /// for a token.
    Secret {
        /// The secret's ARN.
        arn: String,
        /// The channel, required when the secret is a token.
        channel: Option<String>,
    },
    /// A bot token given directly, and its channel.
    Token {
        /// The token.
        token: String,
        /// The channel.
        channel: String,
    },
}

impl fmt::Debug for SlackSource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Webhook(_) => f.write_str("Webhook(<redacted>)"),
            Self::Secret { arn, channel } => f
                .debug_struct("Secret")
                .field("arn", arn)
                .field("channel", channel)
                .finish(),
            Self::Token { channel, .. } => f
                .debug_struct("Token")
                .field("channel", channel)
                .finish_non_exhaustive(),
        }
    }
}

/// The functions' configuration.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Config {
    /// `STORE_TABLE`.
    pub table: String,
    /// `DEFER_QUEUE_URL`.
    pub defer_queue_url: String,
    /// Tunables.
    pub settings: Settings,
    /// Slack credentials.
    pub slack: SlackSource,
    /// `SLACK_API_URL`.
    pub slack_api_url: Option<String>,
    /// `READ_ROLE_NAME`: the read-only role live checks assume in member
    /// accounts (unset: only the function's own account is checked).
    pub read_role_name: Option<String>,
    /// `CENTRAL_ACCOUNT_ID`: the account the functions run in.
    pub central_account_id: Option<String>,
    /// `ENABLE_OPSCENTER`: one OpsItem per diagnosis group.
    pub opscenter: bool,
    /// `ENABLE_INCIDENT_MANAGER`: timeline events on open incidents.
    pub incident_manager: bool,
    /// `ENABLE_INSTANCE_TAGGING`: the `start-doctor:last-start-failure` tag.
    pub instance_tagging: bool,
    /// `DIAGNOSIS_EVENT_BUS`: where `EC2 Start Failure Diagnosed` goes
    /// (default `default`; `none` turns it off).
    pub diagnosis_event_bus: Option<String>,
}

/// A configuration problem, named by its variable.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// A required variable is missing.
    #[error("{0} is not set")]
    Missing(&'static str),
    /// A variable has a bad value.
    #[error("{name}: {message}")]
    Invalid {
        /// The variable.
        name: &'static str,
        /// What is wrong.
        message: String,
    },
    /// The Slack secret could not be read.
    #[error("reading the Slack secret: {0}")]
    Secret(String),
}

impl Config {
    /// Reads the configuration from the process environment.
    pub fn from_env() -> Result<Self, ConfigError> {
        Self::from_lookup(|name| std::env::var(name).ok().filter(|v| !v.is_empty()))
    }

    /// Reads the configuration through `get` (the environment, or a map in
    /// tests).
    pub fn from_lookup(get: impl Fn(&str) -> Option<String>) -> Result<Self, ConfigError> {
        let required = |name: &'static str| get(name).ok_or(ConfigError::Missing(name));
        let seconds = |name: &'static str, default: u32, range: std::ops::RangeInclusive<u32>| {
            let value = get(name).map_or(Ok(default), |v| {
                v.trim().parse::<u32>().map_err(|e| ConfigError::Invalid {
                    name,
                    message: format!("{v:?} is not a number of seconds ({e})"),
                })
            })?;
            if range.contains(&value) {
                Ok(value)
            } else {
                Err(ConfigError::Invalid {
                    name,
                    message: format!(
                        "{value} s is out of range: allowed are {} to {} seconds",
                        range.start(),
                        range.end()
                    ),
                })
            }
        };
        let flag = |name: &'static str| -> Result<bool, ConfigError> {
            match get(name).as_deref().map(str::to_ascii_lowercase).as_deref() {
                None | Some("false") | Some("0") | Some("no") => Ok(false),
                Some("true") | Some("1") | Some("yes") => Ok(true),
                Some(other) => Err(ConfigError::Invalid {
                    name,
                    message: format!("{other:?} is not true or false"),
                }),
            }
        };
        let table = required("STORE_TABLE")?;
        let defer_queue_url = required("DEFER_QUEUE_URL")?;
        let slack = match (
            get("SLACK_WEBHOOK_URL"),
            get("SLACK_TOKEN_SECRET_ARN"),
            get("SLACK_BOT_TOKEN"),
        ) {
            (Some(url), _, _) => SlackSource::Webhook(url),
            (None, Some(arn), _) => SlackSource::Secret {
                arn,
                channel: get("SLACK_CHANNEL"),
            },
            (None, None, Some(token)) => SlackSource::Token {
                token,
                channel: required("SLACK_CHANNEL")?,
            },
            (None, None, None) => {
                return Err(ConfigError::Missing(
                    "SLACK_WEBHOOK_URL or SLACK_TOKEN_SECRET_ARN",
                ))
            }
        };
        Ok(Self {
            table,
            defer_queue_url,
            settings: Settings {
                cloudtrail_wait_secs: seconds(
                    "CLOUDTRAIL_WAIT_SECONDS",
                    900,
                    CLOUDTRAIL_WAIT_RANGE,
                )?,
                storm_window: Duration::seconds(i64::from(seconds(
                    "STORM_WINDOW_SECONDS",
                    3600,
                    STORM_WINDOW_RANGE,
                )?)),
            },
            slack,
            slack_api_url: get("SLACK_API_URL"),
            read_role_name: get("READ_ROLE_NAME"),
            opscenter: flag("ENABLE_OPSCENTER")?,
            incident_manager: flag("ENABLE_INCIDENT_MANAGER")?,
            instance_tagging: flag("ENABLE_INSTANCE_TAGGING")?,
            diagnosis_event_bus: match get("DIAGNOSIS_EVENT_BUS") {
                Some(bus) if bus == "none" => None,
                Some(bus) => Some(bus),
                None => Some("default".to_owned()),
            },
            central_account_id: get("CENTRAL_ACCOUNT_ID"),
        })
    }
}

/// Slack through a webhook or the Web API, chosen by configuration.
#[derive(Debug)]
pub enum SlackNotifier {
    /// Incoming Webhook.
    Webhook(SlackWebhook),
    /// Web API with a bot token.
    Api(SlackApi),
}

impl Notifier for SlackNotifier {
    async fn post(&self, message: &Value) -> Result<Option<MessageRef>, NotifyError> {
        match self {
            Self::Webhook(w) => w.post(message).await,
            Self::Api(a) => a.post(message).await,
        }
    }

    async fn update(&self, at: &MessageRef, message: &Value) -> Result<(), NotifyError> {
        match self {
            Self::Webhook(w) => w.update(at, message).await,
            Self::Api(a) => a.update(at, message).await,
        }
    }

    async fn reply(&self, at: &MessageRef, message: &Value) -> Result<(), NotifyError> {
        match self {
            Self::Webhook(w) => w.reply(at, message).await,
            Self::Api(a) => a.reply(at, message).await,
        }
    }
}

/// A secret's value: a webhook URL or a token, plain or in JSON.
fn parse_secret(value: &str) -> Result<(Option<String>, Option<String>), ConfigError> {
    let value = value.trim();
    if let Ok(Value::Object(map)) = serde_json::from_str::<Value>(value) {
        let field = |k: &str| map.get(k).and_then(Value::as_str).map(str::to_owned);
        let webhook = field("webhook_url");
        let token = field("token").or_else(|| field("bot_token"));
        if webhook.is_none() && token.is_none() {
            return Err(ConfigError::Secret(
                "JSON secret has neither \"token\" nor \"webhook_url\"".to_owned(),
            ));
        }
        return Ok((webhook, token));
    }
    if value.starts_with("https://") {
        Ok((Some(value.to_owned()), None))
    } else if value.starts_with("xox") {
        Ok((None, Some(value.to_owned())))
    } else {
        Err(ConfigError::Secret(
            "the secret is neither a webhook URL nor a Slack token".to_owned(),
        ))
    }
}

/// Builds the Slack notifier, reading the secret when configured so.
pub async fn slack_notifier(
    config: &Config,
    sdk: &aws_config::SdkConfig,
) -> Result<SlackNotifier, ConfigError> {
    let http = reqwest::Client::builder()
        .timeout(std::time::Duration::from_secs(10))
        .build()
        .map_err(|e| ConfigError::Secret(format!("HTTP client: {e}")))?;
    let api = |token: String, channel: String| {
        let client = SlackApi::new(token, channel, http.clone());
        SlackNotifier::Api(match &config.slack_api_url {
            Some(url) => client.with_base_url(url.clone()),
            None => client,
        })
    };
    match &config.slack {
        SlackSource::Webhook(url) => Ok(SlackNotifier::Webhook(SlackWebhook::new(
            url.clone(),
            http.clone(),
        ))),
        SlackSource::Token { token, channel } => Ok(api(token.clone(), channel.clone())),
        SlackSource::Secret { arn, channel } => {
            let secrets = aws_sdk_secretsmanager::Client::new(sdk);
            let value = secrets
                .get_secret_value()
                .secret_id(arn)
                .send()
                .await
                .map_err(|e| ConfigError::Secret(DisplayErrorContext(&e).to_string()))?;
            let text = value
                .secret_string()
                .ok_or_else(|| ConfigError::Secret("the secret has no SecretString".to_owned()))?;
            match parse_secret(text)? {
                (Some(url), _) => Ok(SlackNotifier::Webhook(SlackWebhook::new(url, http.clone()))),
                (None, Some(token)) => {
                    let channel = channel
                        .clone()
                        .ok_or(ConfigError::Missing("SLACK_CHANNEL"))?;
                    Ok(api(token, channel))
                }
                (None, None) => Err(ConfigError::Secret("empty secret".to_owned())),
            }
        }
    }
}

/// Live checks, reaching member accounts through `READ_ROLE_NAME` when set.
fn live_checks(config: &Config, sdk: &aws_config::SdkConfig) -> Result<AwsLiveChecks, ConfigError> {
    let live = AwsLiveChecks::new(sdk);
    match (&config.read_role_name, &config.central_account_id) {
        (None, _) => Ok(live),
        (Some(role_name), Some(home)) => Ok(live.with_cross_account(CrossAccount {
            base: sdk.clone(),
            home_account: home.clone(),
            role_name: role_name.clone(),
        })),
        (Some(_), None) => Err(ConfigError::Missing(
            "CENTRAL_ACCOUNT_ID (needed with READ_ROLE_NAME)",
        )),
    }
}

/// The production pipeline.
pub type AwsPipeline =
    Pipeline<DynamoStore, SlackNotifier, AwsLiveChecks, SqsDeferrer, AwsAnnotator>;

/// The annotations the configuration turns on.
pub fn annotator(config: &Config, sdk: &aws_config::SdkConfig) -> AwsAnnotator {
    AwsAnnotator {
        ssm: config.opscenter.then(|| aws_sdk_ssm::Client::new(sdk)),
        incidents: config
            .incident_manager
            .then(|| aws_sdk_ssmincidents::Client::new(sdk)),
        events: config
            .diagnosis_event_bus
            .clone()
            .map(|bus| (aws_sdk_eventbridge::Client::new(sdk), bus)),
        ec2: config
            .instance_tagging
            .then(|| aws_sdk_ec2::Client::new(sdk)),
    }
}

/// Builds the production pipeline from the configuration and the SDK
/// configuration (clients are built once, here).
pub async fn pipeline(
    config: &Config,
    sdk: &aws_config::SdkConfig,
) -> Result<AwsPipeline, ConfigError> {
    Ok(Pipeline {
        store: DynamoStore::new(aws_sdk_dynamodb::Client::new(sdk), config.table.clone()),
        notifier: slack_notifier(config, sdk).await?,
        live: live_checks(config, sdk)?,
        deferrer: SqsDeferrer::new(
            aws_sdk_sqs::Client::new(sdk),
            config.defer_queue_url.clone(),
        ),
        annotator: annotator(config, sdk),
        settings: config.settings.clone(),
    })
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use super::*;

    fn config(vars: &[(&str, &str)]) -> Result<Config, ConfigError> {
        let map: HashMap<String, String> = vars
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect();
        Config::from_lookup(|k| map.get(k).cloned())
    }

    const BASE: [(&str, &str); 2] = [
        ("STORE_TABLE", "t"),
        ("DEFER_QUEUE_URL", "http://127.0.0.1/q"),
    ];

    #[test]
    fn defaults_and_webhook() {
        let mut vars = BASE.to_vec();
        vars.push(("SLACK_WEBHOOK_URL", "https://hooks.example/T/B/X"));
        let c = config(&vars).unwrap();
        assert_eq!(c.settings.cloudtrail_wait_secs, 900);
        assert_eq!(c.settings.storm_window, Duration::hours(1));
        assert!(matches!(c.slack, SlackSource::Webhook(_)));
        assert!(
            !format!("{c:?}").contains("hooks.example"),
            "the webhook URL is a secret"
        );
    }

    #[test]
    fn errors_name_the_variable() {
        let err = config(&[("STORE_TABLE", "t")]).unwrap_err().to_string();
        assert!(err.contains("DEFER_QUEUE_URL"), "{err}");
        let mut vars = BASE.to_vec();
        vars.extend([
            ("SLACK_WEBHOOK_URL", "u"),
            ("CLOUDTRAIL_WAIT_SECONDS", "soon"),
        ]);
        assert!(config(&vars)
            .unwrap_err()
            .to_string()
            .contains("CLOUDTRAIL_WAIT_SECONDS"));
        let mut vars = BASE.to_vec();
        vars.push(("SLACK_BOT_TOKEN", "xoxb-1"));
        assert!(config(&vars)
            .unwrap_err()
            .to_string()
            .contains("SLACK_CHANNEL"));
    }

    #[test]
    fn out_of_range_settings_are_refused_naming_the_variable_and_range() {
        for (name, value, range) in [
            ("STORM_WINDOW_SECONDS", "0", "60 to 86400"),
            ("STORM_WINDOW_SECONDS", "86401", "60 to 86400"),
            ("CLOUDTRAIL_WAIT_SECONDS", "3601", "0 to 3600"),
        ] {
            let mut vars = BASE.to_vec();
            vars.extend([("SLACK_WEBHOOK_URL", "u"), (name, value)]);
            let err = config(&vars).unwrap_err().to_string();
            assert!(
                err.starts_with(name) && err.contains("out of range") && err.contains(range),
                "{name}={value}: {err}"
            );
        }
        let mut vars = BASE.to_vec();
        vars.extend([
            ("SLACK_WEBHOOK_URL", "u"),
            ("STORM_WINDOW_SECONDS", "60"),
            ("CLOUDTRAIL_WAIT_SECONDS", "0"),
        ]);
        let c = config(&vars).unwrap();
        assert_eq!(c.settings.storm_window, Duration::minutes(1));
        assert_eq!(c.settings.cloudtrail_wait_secs, 0);
    }

    #[test]
    fn secrets_hold_tokens_or_webhooks() {
        assert_eq!(
            parse_secret("xoxb-123").unwrap(),
            (None, Some("xoxb-123".into()))
        );
        assert_eq!(
            parse_secret("https://hooks.example/x\n").unwrap(),
            (Some("https://hooks.example/x".into()), None)
        );
        assert_eq!(
            parse_secret(r#"{"token":"xoxb-9"}"#).unwrap(),
            (None, Some("xoxb-9".into()))
        );
        assert!(parse_secret("hunter2").is_err());
        assert!(parse_secret(r#"{"other":1}"#).is_err());
    }
}
