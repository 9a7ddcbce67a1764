//! Configuration from the environment: what every live-path function
//! reads ([`Common`]: the store, Slack, the annotations, member accounts),
//! and what each doctor's function reads besides (its own struct in its
//! module, built on [`Env`]).
//!
//! | Variable | Meaning |
//! |---|---|
//! | `STORE_TABLE` | DynamoDB table for evidence and notices (required) |
//! | `SLACK_WEBHOOK_URL` | an Incoming Webhook (local runs; it is a secret) |
//! | `SLACK_TOKEN_SECRET_ARN` | a Secrets Manager secret holding a bot token (`xoxb-...`) or a webhook URL, plain or as JSON `{"token": ...}` / `{"webhook_url": ...}` |
//! | `SLACK_BOT_TOKEN` | a bot token (local runs only; production uses the secret) |
//! | `SLACK_CHANNEL` | the channel id (`C0123ABCD`) for bot-token delivery: the history a lost answer is looked up in takes no name |
//! | `SLACK_API_URL` | another Slack Web API root (tests) |
//! | `SLACK_GATHER_SECONDS` | webhooks: how long a new group gathers members before its first post (default 60, 0 to 900) |
//! | `ENABLE_OPSCENTER` | one OpsItem per group (`true`/`false`, default false) |
//! | `ENABLE_INCIDENT_MANAGER` | timeline events on open incidents naming the resource (default false) |
//! | `ENABLE_INSTANCE_TAGGING` | tag resources with their finding (default false) |
//! | `DIAGNOSIS_EVENT_BUS` | bus for the diagnosis events (default `default`; `none`: off) |
//! | `READ_ROLE_NAME` | read-only role assumed in member accounts for live reads |
//! | `CENTRAL_ACCOUNT_ID` | the account the functions run in (with `READ_ROLE_NAME`) |
//! | `AWS_ENDPOINT_URL` | local AWS emulator (read by the SDK itself) |

use std::fmt;

use aws_sdk_secretsmanager::error::DisplayErrorContext;

use serde_json::Value;

use chrono::{DateTime, Utc};
use start_doctor_core::ids::Account;
use start_doctor_engine::ports::{MessageRef, MessageTag, Notifier, NotifyError};

use crate::annotate::AwsAnnotator;
use crate::dynamodb::DynamoStore;
use crate::slack::{SlackApi, SlackWebhook};

/// `SLACK_GATHER_SECONDS` allowed: no gathering, up to SQS's longest
/// delay.
pub const GATHER_RANGE: std::ops::RangeInclusive<u32> = 0..=900;

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

/// What every live-path function reads.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Common {
    /// `STORE_TABLE`.
    pub table: String,
    /// Slack credentials.
    pub slack: SlackSource,
    /// `SLACK_API_URL`.
    pub slack_api_url: Option<String>,
    /// The engine's tunables (`SLACK_GATHER_SECONDS`).
    pub engine: start_doctor_engine::Settings,
    /// `READ_ROLE_NAME`: the read-only role live reads assume in member
    /// accounts (unset: only the function's own account is read).
    pub read_role_name: Option<String>,
    /// `CENTRAL_ACCOUNT_ID`: the account the functions run in.
    pub central_account_id: Option<Account>,
    /// `ENABLE_OPSCENTER`: one OpsItem per group.
    pub opscenter: bool,
    /// `ENABLE_INCIDENT_MANAGER`: timeline events on open incidents.
    pub incident_manager: bool,
    /// `ENABLE_INSTANCE_TAGGING`: a tag on the resource of a finding.
    pub instance_tagging: bool,
    /// `DIAGNOSIS_EVENT_BUS`: where diagnosis events go (default
    /// `default`; `none` turns them off).
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

/// The environment (or a map, in tests), read with the checks every
/// variable gets.
pub struct Env<F> {
    get: F,
}

impl Env<fn(&str) -> Option<String>> {
    /// The process environment; empty values count as unset.
    pub fn process() -> Self {
        fn get(name: &str) -> Option<String> {
            std::env::var(name).ok().filter(|v| !v.is_empty())
        }
        Self { get }
    }
}

/// A lookup of environment variables held in a map (tests).
#[cfg(test)]
pub(crate) type MapLookup = Box<dyn Fn(&str) -> Option<String>>;

#[cfg(test)]
impl Env<MapLookup> {
    /// An environment of exactly these variables, for the configuration
    /// tests of every function.
    pub(crate) fn from_pairs(vars: &[(&str, &str)]) -> Self {
        let map: std::collections::HashMap<String, String> = vars
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect();
        Self::from_lookup(Box::new(move |k: &str| map.get(k).cloned()))
    }
}

impl<F: Fn(&str) -> Option<String>> Env<F> {
    /// An environment read through `get`.
    pub fn from_lookup(get: F) -> Self {
        Self { get }
    }

    /// The value of `name`, if set.
    pub fn get(&self, name: &str) -> Option<String> {
        (self.get)(name)
    }

    /// The value of `name`, which must be set.
    pub fn required(&self, name: &'static str) -> Result<String, ConfigError> {
        self.get(name).ok_or(ConfigError::Missing(name))
    }

    /// A number of `name`, `default` when unset, refused outside `range`.
    pub fn number(
        &self,
        name: &'static str,
        unit: &str,
        default: u32,
        range: std::ops::RangeInclusive<u32>,
    ) -> Result<u32, ConfigError> {
        let value = self.get(name).map_or(Ok(default), |v| {
            v.trim().parse::<u32>().map_err(|e| ConfigError::Invalid {
                name,
                message: format!("{v:?} is not a number of {unit} ({e})"),
            })
        })?;
        if range.contains(&value) {
            Ok(value)
        } else {
            Err(ConfigError::Invalid {
                name,
                message: format!(
                    "{value} {unit_short} is out of range: allowed are {} to {} {unit}",
                    range.start(),
                    range.end(),
                    unit_short = if unit == "seconds" { "s" } else { unit }
                ),
            })
        }
    }

    /// A number of seconds (see [`Env::number`]).
    pub fn seconds(
        &self,
        name: &'static str,
        default: u32,
        range: std::ops::RangeInclusive<u32>,
    ) -> Result<u32, ConfigError> {
        self.number(name, "seconds", default, range)
    }

    /// A `true`/`false` flag, false when unset.
    pub fn flag(&self, name: &'static str) -> Result<bool, ConfigError> {
        match self
            .get(name)
            .as_deref()
            .map(str::to_ascii_lowercase)
            .as_deref()
        {
            None | Some("false") | Some("0") | Some("no") => Ok(false),
            Some("true") | Some("1") | Some("yes") => Ok(true),
            Some(other) => Err(ConfigError::Invalid {
                name,
                message: format!("{other:?} is not true or false"),
            }),
        }
    }
}

/// Whether `channel` is a Slack channel id (`C…`, `G…` or `D…` and eight or
/// more capitals and digits), not a name.
fn is_channel_id(channel: &str) -> bool {
    let mut chars = channel.chars();
    matches!(chars.next(), Some('C' | 'G' | 'D'))
        && channel.len() >= 9
        && chars.all(|c| c.is_ascii_uppercase() || c.is_ascii_digit())
}

impl Common {
    /// Reads what every function shares.
    pub fn read<F: Fn(&str) -> Option<String>>(env: &Env<F>) -> Result<Self, ConfigError> {
        let table = env.required("STORE_TABLE")?;
        let channel = || -> Result<Option<String>, ConfigError> {
            match env.get("SLACK_CHANNEL") {
                Some(c) if !is_channel_id(&c) => Err(ConfigError::Invalid {
                    name: "SLACK_CHANNEL",
                    message: format!(
                        "{c:?} is not a channel id: use the id (such as C0123ABCD, in the channel's details), \
                         which the lookup of a post whose answer never came needs"
                    ),
                }),
                other => Ok(other),
            }
        };
        let slack = match (
            env.get("SLACK_WEBHOOK_URL"),
            env.get("SLACK_TOKEN_SECRET_ARN"),
            env.get("SLACK_BOT_TOKEN"),
        ) {
            (Some(url), _, _) => SlackSource::Webhook(url),
            (None, Some(arn), _) => SlackSource::Secret {
                arn,
                channel: channel()?,
            },
            (None, None, Some(token)) => SlackSource::Token {
                token,
                channel: channel()?.ok_or(ConfigError::Missing("SLACK_CHANNEL"))?,
            },
            (None, None, None) => {
                return Err(ConfigError::Missing(
                    "SLACK_WEBHOOK_URL or SLACK_TOKEN_SECRET_ARN",
                ))
            }
        };
        let central_account_id = match env.get("CENTRAL_ACCOUNT_ID") {
            None => None,
            Some(v) => Some(Account::parse(&v).ok_or(ConfigError::Invalid {
                name: "CENTRAL_ACCOUNT_ID",
                message: format!("{v:?} is not an account id (12 digits)"),
            })?),
        };
        let gather = env.seconds("SLACK_GATHER_SECONDS", 60, GATHER_RANGE)?;
        Ok(Self {
            table,
            slack,
            slack_api_url: env.get("SLACK_API_URL"),
            engine: start_doctor_engine::Settings {
                gather: chrono::Duration::seconds(i64::from(gather)),
                ..start_doctor_engine::Settings::default()
            },
            read_role_name: env.get("READ_ROLE_NAME"),
            central_account_id,
            opscenter: env.flag("ENABLE_OPSCENTER")?,
            incident_manager: env.flag("ENABLE_INCIDENT_MANAGER")?,
            instance_tagging: env.flag("ENABLE_INSTANCE_TAGGING")?,
            diagnosis_event_bus: match env.get("DIAGNOSIS_EVENT_BUS") {
                Some(bus) if bus == "none" => None,
                Some(bus) => Some(bus),
                None => Some("default".to_owned()),
            },
        })
    }

    /// The store.
    pub fn store(&self, sdk: &aws_config::SdkConfig) -> DynamoStore {
        DynamoStore::new(aws_sdk_dynamodb::Client::new(sdk), self.table.clone())
    }

    /// The annotations the configuration turns on.
    pub fn annotator(&self, sdk: &aws_config::SdkConfig) -> AwsAnnotator {
        AwsAnnotator {
            ssm: self.opscenter.then(|| aws_sdk_ssm::Client::new(sdk)),
            incidents: self
                .incident_manager
                .then(|| aws_sdk_ssmincidents::Client::new(sdk)),
            events: self
                .diagnosis_event_bus
                .clone()
                .map(|bus| (aws_sdk_eventbridge::Client::new(sdk), bus)),
            ec2: self.instance_tagging.then(|| aws_sdk_ec2::Client::new(sdk)),
        }
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
    fn can_update(&self) -> bool {
        match self {
            Self::Webhook(w) => w.can_update(),
            Self::Api(a) => a.can_update(),
        }
    }

    async fn post(
        &self,
        message: &Value,
        tag: &MessageTag,
    ) -> Result<Option<MessageRef>, NotifyError> {
        match self {
            Self::Webhook(w) => w.post(message, tag).await,
            Self::Api(a) => a.post(message, tag).await,
        }
    }

    async fn find(
        &self,
        tag: &MessageTag,
        since: DateTime<Utc>,
    ) -> Result<Option<MessageRef>, NotifyError> {
        match self {
            Self::Webhook(w) => w.find(tag, since).await,
            Self::Api(a) => a.find(tag, since).await,
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
    config: &Common,
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

#[cfg(test)]
mod tests {
    use super::*;

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

    #[test]
    fn channel_ids_are_told_from_names() {
        for id in ["C0STARTDOC", "G012345678", "D0ABCDEFGH"] {
            assert!(is_channel_id(id), "{id}");
        }
        for name in ["#alerts", "alerts", "C01", "c0startdoc", "X0STARTDOC"] {
            assert!(!is_channel_id(name), "{name}");
        }
    }
}
