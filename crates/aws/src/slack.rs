//! Slack delivery over HTTPS: an Incoming Webhook ([`SlackWebhook`]) or the
//! Web API with a bot token ([`SlackApi`]).
//!
//! Both retry what is safe to retry, within bounds a Lambda can afford: a
//! 429 (or `ok: false, error: "ratelimited"`) waits the `Retry-After`
//! seconds Slack sent and tries again; a connection that could not be made
//! waits a short backoff (250 ms, doubling, at most 5 s) and tries again,
//! and so do a timeout and a 5xx of a call that is safe to repeat
//! (`chat.update`, `conversations.history`). A **post** whose request went
//! out and whose answer never came (a timeout, a reset connection, a 5xx,
//! `internal_error`) is never repeated here: Slack may have posted it, so
//! it is returned as [`NotifyError::Unknown`] and the engine looks the
//! message up ([`Notifier::find`]: `conversations.history`, matching the
//! message metadata every post carries) before anyone posts again. Every
//! client allows [`DEFAULT_MAX_RETRIES`] retries in all (see
//! `with_max_retries`), never waits longer than [`MAX_RETRY_AFTER`] at once
//! (a longer `Retry-After` is returned at once as
//! [`NotifyError::RateLimited`]), and gives each request
//! [`REQUEST_TIMEOUT`]. With the defaults one delivery can thus take up to
//! 3 × 30 s of waiting plus 4 × 10 s of requests; inside [`until`] (as the
//! Lambda handlers run), no wait or request outlasts the invocation's
//! deadline: a `Retry-After` that would is returned at once.
//!
//! An Incoming Webhook carries no metadata and has no history to search:
//! a webhook post whose answer never came is lost or shown twice, and
//! which cannot be known (docs/deploy.md says so).
//!
//! The webhook URL and the bot token are secrets: the `Debug` impls redact
//! them, errors never carry the URL (reqwest's do, so they are stripped),
//! and nothing here logs either.

use std::fmt;
use std::future::Future;
use std::time::Duration;

use chrono::{DateTime, Utc};
use reqwest::header::{CONTENT_TYPE, RETRY_AFTER};
use reqwest::{Client, StatusCode};
use serde::Deserialize;
use serde_json::{Map, Value};

use start_doctor_engine::ports::{MessageRef, MessageTag, Notifier, NotifyError};

/// Where the Web API lives.
pub const DEFAULT_BASE_URL: &str = "https://slack.com/api";
/// Retries allowed per delivery unless `with_max_retries` says otherwise.
pub const DEFAULT_MAX_RETRIES: u32 = 3;
/// The longest single wait for a `Retry-After`, so that a Lambda never
/// sleeps past its own timeout.
pub const MAX_RETRY_AFTER: Duration = Duration::from_secs(30);
/// The time one request may take, answer included.
pub const REQUEST_TIMEOUT: Duration = Duration::from_secs(10);
/// The first wait after a transient failure; doubles on each retry.
const FIRST_BACKOFF: Duration = Duration::from_millis(250);
/// The longest wait after a transient failure.
const MAX_BACKOFF: Duration = Duration::from_secs(5);
/// The wait when Slack rate limits without saying for how long.
const DEFAULT_RETRY_AFTER_SECS: u64 = 1;
/// Slack warns (`missing_charset`) about JSON bodies without a charset.
const JSON_UTF8: &str = "application/json; charset=utf-8";
/// How much of an unexpected answer body an error quotes.
const QUOTED_BODY_MAX: usize = 200;
/// How many pages of `conversations.history` a lookup reads at most.
const LOOKUP_PAGES: usize = 5;
/// Messages per page of `conversations.history`.
const LOOKUP_PAGE_SIZE: usize = 200;

/// Whether a call may be repeated when its answer did not come: a post may
/// have been made, an update or a read may be done again.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Repeat {
    /// Repeating could make a second message.
    Unsafe,
    /// Repeating does no harm.
    Safe,
}

/// Posts to a Slack Incoming Webhook.
///
/// A webhook can only post: it answers `ok` and no message id, so
/// [`Notifier::post`] returns `Ok(None)`, and [`Notifier::update`] and
/// [`Notifier::reply`] return [`NotifyError::Rejected`] without sending
/// anything. Use [`SlackApi`] to update messages as a storm grows.
pub struct SlackWebhook {
    url: String,
    http: Client,
    max_retries: u32,
}

impl SlackWebhook {
    /// A webhook client for `url` (`https://hooks.slack.com/services/...`),
    /// sending through `http` (build it once and share it).
    pub fn new(url: impl Into<String>, http: Client) -> Self {
        Self {
            url: url.into(),
            http,
            max_retries: DEFAULT_MAX_RETRIES,
        }
    }

    /// Allows `max_retries` retries per delivery (0: a single attempt).
    pub fn with_max_retries(mut self, max_retries: u32) -> Self {
        self.max_retries = max_retries;
        self
    }
}

impl fmt::Debug for SlackWebhook {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SlackWebhook")
            .field("url", &"<redacted>")
            .field("max_retries", &self.max_retries)
            .finish()
    }
}

impl Notifier for SlackWebhook {
    fn can_update(&self) -> bool {
        false
    }

    async fn post(
        &self,
        message: &Value,
        _tag: &MessageTag,
    ) -> Result<Option<MessageRef>, NotifyError> {
        let body = serde_json::to_vec(message).map_err(|e| NotifyError::Rejected(e.to_string()))?;
        with_retries(self.max_retries, || async {
            match send(&self.http, &self.url, None, &body, Repeat::Unsafe).await {
                Ok(answer) => webhook_verdict(&answer),
                Err(failure) => failure,
            }
        })
        .await?;
        Ok(None)
    }

    async fn update(&self, _at: &MessageRef, _message: &Value) -> Result<(), NotifyError> {
        Err(webhook_cannot_update())
    }

    async fn reply(&self, _at: &MessageRef, _message: &Value) -> Result<(), NotifyError> {
        Err(webhook_cannot_update())
    }

    async fn find(
        &self,
        _tag: &MessageTag,
        _since: DateTime<Utc>,
    ) -> Result<Option<MessageRef>, NotifyError> {
        Ok(None)
    }
}

fn webhook_cannot_update() -> NotifyError {
    NotifyError::Rejected("webhooks cannot update messages".to_owned())
}

/// Posts, updates and threads messages through the Slack Web API
/// (`chat.postMessage`, `chat.update`), and finds a post whose answer never
/// came (`conversations.history` with its metadata), with a bot token
/// (scopes `chat:write` and `channels:history`, plus `groups:history` for a
/// private channel; the bot must be in the channel, named by its id).
pub struct SlackApi {
    base_url: String,
    token: String,
    channel: String,
    http: Client,
    max_retries: u32,
}

impl SlackApi {
    /// A Web API client posting to `channel` (an id such as
    /// `C0123456789`: `conversations.history` takes no name) with the bot
    /// `token` (`xoxb-...`), sending through `http` (build it once and
    /// share it).
    pub fn new(token: impl Into<String>, channel: impl Into<String>, http: Client) -> Self {
        Self {
            base_url: DEFAULT_BASE_URL.to_owned(),
            token: token.into(),
            channel: channel.into(),
            http,
            max_retries: DEFAULT_MAX_RETRIES,
        }
    }

    /// Sends to another Web API root than [`DEFAULT_BASE_URL`] (a local
    /// receiver in tests), e.g. `http://127.0.0.1:8080/api`.
    pub fn with_base_url(mut self, base_url: impl Into<String>) -> Self {
        self.base_url = base_url.into().trim_end_matches('/').to_owned();
        self
    }

    /// Allows `max_retries` retries per delivery (0: a single attempt).
    pub fn with_max_retries(mut self, max_retries: u32) -> Self {
        self.max_retries = max_retries;
        self
    }

    /// Calls `method` with `body`, retrying as the module header says.
    async fn call(
        &self,
        method: &str,
        body: Map<String, Value>,
        repeat: Repeat,
    ) -> Result<ApiAnswer, NotifyError> {
        let url = format!("{}/{method}", self.base_url);
        let body = serde_json::to_vec(&body).map_err(|e| NotifyError::Rejected(e.to_string()))?;
        with_retries(self.max_retries, || async {
            match send(&self.http, &url, Some(&self.token), &body, repeat).await {
                Ok(answer) => api_verdict(&answer, repeat),
                Err(failure) => failure,
            }
        })
        .await
    }

    /// One page of `conversations.history` (a read: safe to repeat).
    async fn history_page(
        &self,
        since: DateTime<Utc>,
        cursor: Option<&str>,
    ) -> Result<ApiAnswer, NotifyError> {
        let mut url = reqwest::Url::parse(&format!("{}/conversations.history", self.base_url))
            .map_err(|e| NotifyError::Transport(format!("conversations.history: {e}")))?;
        url.query_pairs_mut()
            .append_pair("channel", &self.channel)
            .append_pair("oldest", &format!("{}.000000", since.timestamp().max(0)))
            .append_pair("inclusive", "true")
            .append_pair("include_all_metadata", "true")
            .append_pair("limit", &LOOKUP_PAGE_SIZE.to_string());
        if let Some(cursor) = cursor {
            url.query_pairs_mut().append_pair("cursor", cursor);
        }
        with_retries(self.max_retries, || async {
            match get(&self.http, url.as_str(), &self.token).await {
                Ok(answer) => api_verdict(&answer, Repeat::Safe),
                Err(failure) => failure,
            }
        })
        .await
    }

    /// `chat.postMessage` of `message`, in the thread of `thread` if given.
    async fn post_message(
        &self,
        channel: &str,
        thread: Option<&str>,
        tag: Option<&MessageTag>,
        message: &Value,
    ) -> Result<MessageRef, NotifyError> {
        let mut body = message_object(message)?;
        body.insert("channel".into(), channel.into());
        body.insert("unfurl_links".into(), false.into());
        if let Some(ts) = thread {
            body.insert("thread_ts".into(), ts.into());
        }
        if let Some(tag) = tag {
            body.insert("metadata".into(), tag.metadata());
        }
        let answer = self.call("chat.postMessage", body, Repeat::Unsafe).await?;
        match (answer.channel, answer.ts) {
            (Some(channel), Some(ts)) => Ok(MessageRef { channel, ts }),
            _ => Err(NotifyError::Unknown(
                "chat.postMessage answered ok without channel and ts".to_owned(),
            )),
        }
    }
}

impl fmt::Debug for SlackApi {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SlackApi")
            .field("base_url", &self.base_url)
            .field("token", &"<redacted>")
            .field("channel", &self.channel)
            .field("max_retries", &self.max_retries)
            .finish()
    }
}

impl Notifier for SlackApi {
    fn can_update(&self) -> bool {
        true
    }

    async fn post(
        &self,
        message: &Value,
        tag: &MessageTag,
    ) -> Result<Option<MessageRef>, NotifyError> {
        self.post_message(&self.channel, None, Some(tag), message)
            .await
            .map(Some)
    }

    async fn update(&self, at: &MessageRef, message: &Value) -> Result<(), NotifyError> {
        let mut body = message_object(message)?;
        // The channel Slack answered the post with (an id).
        body.insert("channel".into(), at.channel.as_str().into());
        body.insert("ts".into(), at.ts.as_str().into());
        self.call("chat.update", body, Repeat::Safe).await.map(drop)
    }

    async fn reply(&self, at: &MessageRef, message: &Value) -> Result<(), NotifyError> {
        self.post_message(&at.channel, Some(&at.ts), None, message)
            .await
            .map(drop)
    }

    async fn find(
        &self,
        tag: &MessageTag,
        since: DateTime<Utc>,
    ) -> Result<Option<MessageRef>, NotifyError> {
        let mut cursor: Option<String> = None;
        for _ in 0..LOOKUP_PAGES {
            let page = self.history_page(since, cursor.as_deref()).await?;
            let found = page.messages.iter().find(|m| {
                m.get("thread_ts").is_none_or(|t| t == &m["ts"])
                    && m.get("metadata").is_some_and(|meta| tag.matches(meta))
            });
            if let Some(ts) = found.and_then(|m| m["ts"].as_str()) {
                return Ok(Some(MessageRef {
                    channel: self.channel.clone(),
                    ts: ts.to_owned(),
                }));
            }
            cursor = page
                .response_metadata
                .and_then(|m| m.next_cursor)
                .filter(|c| !c.is_empty());
            if cursor.is_none() || page.has_more != Some(true) {
                break;
            }
        }
        Ok(None)
    }
}

/// The message's fields, to which the Web API's are added.
fn message_object(message: &Value) -> Result<Map<String, Value>, NotifyError> {
    match message {
        Value::Object(fields) => Ok(fields.clone()),
        _ => Err(NotifyError::Rejected(
            "a Slack message must be a JSON object".to_owned(),
        )),
    }
}

/// What the Web API answers (the fields used here).
#[derive(Debug, Deserialize)]
struct ApiAnswer {
    ok: bool,
    #[serde(default)]
    error: Option<String>,
    #[serde(default)]
    channel: Option<String>,
    #[serde(default)]
    ts: Option<String>,
    /// `conversations.history`: the page's messages, newest first.
    #[serde(default)]
    messages: Vec<Value>,
    /// `conversations.history`: whether older messages remain.
    #[serde(default)]
    has_more: Option<bool>,
    /// `conversations.history`: the cursor of the next page.
    #[serde(default)]
    response_metadata: Option<ResponseMetadata>,
}

/// The paging part of a Web API answer.
#[derive(Debug, Deserialize)]
struct ResponseMetadata {
    #[serde(default)]
    next_cursor: Option<String>,
}

/// One HTTP answer, read in full.
#[derive(Debug)]
struct Answer {
    status: StatusCode,
    /// `Retry-After` in seconds, when present and numeric.
    retry_after: Option<u64>,
    body: Vec<u8>,
}

/// The verdict on one attempt.
#[derive(Debug)]
enum Attempt<T> {
    /// Done: delivered, or refused for good.
    Final(Result<T, NotifyError>),
    /// Slack asked to wait this many seconds.
    RateLimited(u64),
    /// Worth retrying after a backoff; says what went wrong (no URL).
    Transient(String),
    /// The request went out and no answer came: Slack may have done it.
    /// Never repeated (only calls that are [`Repeat::Unsafe`] end so).
    Unknown(String),
}

tokio::task_local! {
    /// When the invocation running this task must be done (see [`until`]).
    static STOP: tokio::time::Instant;
}

/// Runs `work` with every Slack wait and request bounded by `stop` (the
/// invocation's deadline less a margin): a `Retry-After` or backoff that
/// would end past it is not waited for, the error is returned at once.
pub async fn until<F: Future>(stop: tokio::time::Instant, work: F) -> F::Output {
    STOP.scope(stop, work).await
}

/// The time left before the task's stop, when it has one.
fn time_left() -> Option<Duration> {
    STOP.try_with(|stop| stop.saturating_duration_since(tokio::time::Instant::now()))
        .ok()
}

/// Runs `attempt` until it is final, retrying at most `max_retries` times.
async fn with_retries<T, F, Fut>(max_retries: u32, mut attempt: F) -> Result<T, NotifyError>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Attempt<T>>,
{
    let mut retries = 0;
    loop {
        let (wait, reason) = match attempt().await {
            Attempt::Final(result) => return result,
            Attempt::RateLimited(secs) => {
                let wait = Duration::from_secs(secs);
                let too_late = time_left().is_some_and(|left| wait >= left);
                if retries >= max_retries || wait > MAX_RETRY_AFTER || too_late {
                    return Err(NotifyError::RateLimited {
                        retry_after_secs: secs,
                    });
                }
                (wait, "rate limited".to_owned())
            }
            Attempt::Unknown(why) => return Err(NotifyError::Unknown(why)),
            Attempt::Transient(why) => {
                let backoff = FIRST_BACKOFF
                    .saturating_mul(2u32.saturating_pow(retries))
                    .min(MAX_BACKOFF);
                let too_late = time_left().is_some_and(|left| backoff >= left);
                if retries >= max_retries || too_late {
                    return Err(NotifyError::Transport(why));
                }
                (backoff, why)
            }
        };
        retries += 1;
        tracing::warn!(
            retry = retries,
            wait_ms = u64::try_from(wait.as_millis()).unwrap_or(u64::MAX),
            reason = %reason,
            "slack delivery will be retried"
        );
        tokio::time::sleep(wait).await;
    }
}

/// POSTs `body` as JSON; a failure comes back as the attempt's verdict.
async fn send<T>(
    http: &Client,
    url: &str,
    token: Option<&str>,
    body: &[u8],
    repeat: Repeat,
) -> Result<Answer, Attempt<T>> {
    let timeout = time_left().map_or(REQUEST_TIMEOUT, |left| left.min(REQUEST_TIMEOUT));
    let mut request = http
        .post(url)
        .timeout(timeout)
        .header(CONTENT_TYPE, JSON_UTF8)
        .body(body.to_vec());
    if let Some(token) = token {
        // bearer_auth marks the header sensitive, so it never shows in Debug.
        request = request.bearer_auth(token);
    }
    answer_of(request, repeat).await
}

/// GETs `url` (a Web API read) with the bot token.
async fn get<T>(http: &Client, url: &str, token: &str) -> Result<Answer, Attempt<T>> {
    let timeout = time_left().map_or(REQUEST_TIMEOUT, |left| left.min(REQUEST_TIMEOUT));
    answer_of(
        http.get(url).timeout(timeout).bearer_auth(token),
        Repeat::Safe,
    )
    .await
}

/// Sends a request and reads its answer in full.
async fn answer_of<T>(
    request: reqwest::RequestBuilder,
    repeat: Repeat,
) -> Result<Answer, Attempt<T>> {
    let failure = |e| request_failure(e, repeat);
    let response = request.send().await.map_err(failure)?;
    let status = response.status();
    let retry_after = response
        .headers()
        .get(RETRY_AFTER)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().parse().ok());
    let body = response.bytes().await.map_err(failure)?.to_vec();
    Ok(Answer {
        status,
        retry_after,
        body,
    })
}

/// A request that got no answer: a malformed one will not get better; one
/// that never connected can be sent again; one that went out (a timeout, a
/// reset connection) may have been done, so only a call that is safe to
/// repeat is.
fn request_failure<T>(error: reqwest::Error, repeat: Repeat) -> Attempt<T> {
    let malformed = error.is_builder();
    let unsent = error.is_connect();
    let text = describe(error.without_url());
    if malformed {
        Attempt::Final(Err(NotifyError::Transport(text)))
    } else if unsent || repeat == Repeat::Safe {
        Attempt::Transient(text)
    } else {
        Attempt::Unknown(text)
    }
}

/// A server error: Slack may or may not have done it.
fn server_failure<T>(answer: &Answer, repeat: Repeat) -> Attempt<T> {
    match repeat {
        Repeat::Safe => Attempt::Transient(http_failure(answer)),
        Repeat::Unsafe => Attempt::Unknown(http_failure(answer)),
    }
}

/// An error and its causes on one line (the causes say "connection
/// refused" or "timed out", which reqwest's own message leaves out).
fn describe(error: reqwest::Error) -> String {
    start_doctor_core::text::error_chain(&error)
}

fn webhook_verdict(answer: &Answer) -> Attempt<()> {
    match answer.status {
        s if s.is_success() => Attempt::Final(Ok(())),
        StatusCode::TOO_MANY_REQUESTS => Attempt::RateLimited(retry_after(answer)),
        s if s.is_server_error() => server_failure(answer, Repeat::Unsafe),
        // 400 invalid_blocks / no_text, 403 invalid_token, 404 channel_not_found, 410 ...
        _ => Attempt::Final(Err(NotifyError::Rejected(error_text(answer)))),
    }
}

fn api_verdict(answer: &Answer, repeat: Repeat) -> Attempt<ApiAnswer> {
    match answer.status {
        StatusCode::TOO_MANY_REQUESTS => Attempt::RateLimited(retry_after(answer)),
        s if s.is_server_error() => server_failure(answer, repeat),
        s if s.is_success() => match serde_json::from_slice::<ApiAnswer>(&answer.body) {
            Ok(reply) if reply.ok => Attempt::Final(Ok(reply)),
            Ok(reply) => match reply.error.as_deref() {
                Some("ratelimited") => Attempt::RateLimited(retry_after(answer)),
                // Documented as temporary: nothing was done.
                Some("service_unavailable") => {
                    Attempt::Transient("slack: service_unavailable".to_owned())
                }
                // May have been done already.
                Some(error @ ("fatal_error" | "internal_error")) if repeat == Repeat::Unsafe => {
                    Attempt::Unknown(format!("slack: {error}"))
                }
                Some(error) => Attempt::Final(Err(NotifyError::Rejected(error.to_owned()))),
                None => Attempt::Final(Err(NotifyError::Rejected(
                    "ok: false without an error".to_owned(),
                ))),
            },
            Err(e) => {
                let why = format!("unreadable Web API answer ({e}): {}", quoted_body(answer));
                match repeat {
                    Repeat::Safe => Attempt::Final(Err(NotifyError::Transport(why))),
                    Repeat::Unsafe => Attempt::Unknown(why),
                }
            }
        },
        _ => Attempt::Final(Err(NotifyError::Rejected(error_text(answer)))),
    }
}

fn retry_after(answer: &Answer) -> u64 {
    answer.retry_after.unwrap_or(DEFAULT_RETRY_AFTER_SECS)
}

fn http_failure(answer: &Answer) -> String {
    format!("HTTP {}: {}", answer.status, quoted_body(answer))
}

/// Slack's error code from a refusal: the text body of a webhook answer,
/// the `error` of a Web API one, else the status.
fn error_text(answer: &Answer) -> String {
    if let Ok(ApiAnswer {
        error: Some(error), ..
    }) = serde_json::from_slice(&answer.body)
    {
        return error;
    }
    let body = quoted_body(answer);
    if body.is_empty() {
        format!("HTTP {}", answer.status)
    } else {
        body
    }
}

fn quoted_body(answer: &Answer) -> String {
    String::from_utf8_lossy(&answer.body)
        .trim()
        .chars()
        .take(QUOTED_BODY_MAX)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn answer(status: u16, retry_after: Option<u64>, body: &str) -> Answer {
        Answer {
            status: StatusCode::from_u16(status).unwrap(),
            retry_after,
            body: body.as_bytes().to_vec(),
        }
    }

    fn rejected<T: fmt::Debug>(verdict: Attempt<T>) -> String {
        match verdict {
            Attempt::Final(Err(NotifyError::Rejected(why))) => why,
            other => panic!("expected a rejection, got {other:?}"),
        }
    }

    #[test]
    fn webhook_ok_is_delivered() {
        assert!(matches!(
            webhook_verdict(&answer(200, None, "ok")),
            Attempt::Final(Ok(()))
        ));
    }

    #[test]
    fn webhook_refusals_carry_slacks_error_text() {
        for (status, text) in [
            (400, "invalid_blocks"),
            (400, "no_text"),
            (403, "invalid_token"),
            (404, "channel_not_found"),
        ] {
            assert_eq!(rejected(webhook_verdict(&answer(status, None, text))), text);
        }
        assert_eq!(
            rejected(webhook_verdict(&answer(404, None, ""))),
            "HTTP 404 Not Found"
        );
    }

    #[test]
    fn rate_limits_use_retry_after_or_one_second() {
        assert!(matches!(
            webhook_verdict(&answer(429, Some(7), "rate_limited")),
            Attempt::RateLimited(7)
        ));
        assert!(matches!(
            api_verdict(
                &answer(429, None, r#"{"ok":false,"error":"ratelimited"}"#),
                Repeat::Unsafe
            ),
            Attempt::RateLimited(1)
        ));
        assert!(matches!(
            api_verdict(
                &answer(200, Some(4), r#"{"ok":false,"error":"ratelimited"}"#),
                Repeat::Unsafe
            ),
            Attempt::RateLimited(4)
        ));
    }

    #[test]
    fn server_errors_are_retried_only_where_repeating_is_safe() {
        assert!(matches!(
            api_verdict(&answer(500, None, ""), Repeat::Safe),
            Attempt::Transient(_)
        ));
        assert!(matches!(
            api_verdict(
                &answer(200, None, r#"{"ok":false,"error":"service_unavailable"}"#),
                Repeat::Unsafe
            ),
            Attempt::Transient(_)
        ));
        // A post that got a 5xx, or an internal error, may have been made:
        // its outcome is unknown, and it is looked up rather than repeated.
        assert!(matches!(
            webhook_verdict(&answer(503, None, "")),
            Attempt::Unknown(_)
        ));
        assert!(matches!(
            api_verdict(&answer(500, None, ""), Repeat::Unsafe),
            Attempt::Unknown(_)
        ));
        assert!(matches!(
            api_verdict(
                &answer(200, None, r#"{"ok":false,"error":"internal_error"}"#),
                Repeat::Unsafe
            ),
            Attempt::Unknown(_)
        ));
    }

    #[test]
    fn api_answers() {
        let ok = api_verdict(
            &answer(
                200,
                None,
                r#"{"ok":true,"channel":"C1","ts":"1.2","message":{}}"#,
            ),
            Repeat::Unsafe,
        );
        let Attempt::Final(Ok(reply)) = ok else {
            panic!("{ok:?}")
        };
        assert_eq!(
            (reply.channel.as_deref(), reply.ts.as_deref()),
            (Some("C1"), Some("1.2"))
        );
        assert_eq!(
            rejected(api_verdict(
                &answer(200, None, r#"{"ok":false,"error":"invalid_auth"}"#),
                Repeat::Unsafe
            )),
            "invalid_auth"
        );
        assert!(matches!(
            api_verdict(&answer(200, None, "<html>"), Repeat::Safe),
            Attempt::Final(Err(NotifyError::Transport(_)))
        ));
        assert!(matches!(
            api_verdict(&answer(200, None, "<html>"), Repeat::Unsafe),
            Attempt::Unknown(_)
        ));
    }

    #[tokio::test]
    async fn an_unknown_outcome_is_never_retried() {
        let mut calls = 0;
        let result: Result<(), _> = with_retries(3, || {
            calls += 1;
            async { Attempt::Unknown("timed out".to_owned()) }
        })
        .await;
        assert!(matches!(result, Err(NotifyError::Unknown(why)) if why == "timed out"));
        assert_eq!(calls, 1);
    }

    #[test]
    fn messages_must_be_objects() {
        assert!(message_object(&Value::String("hi".into())).is_err());
    }

    #[test]
    fn debug_redacts_secrets() {
        let http = Client::new();
        let webhook = SlackWebhook::new(
            "https://hooks.slack.com/services/T1/B2/SECRET",
            http.clone(),
        );
        let api = SlackApi::new("xoxb-SECRET", "C0123", http);
        for debug in [format!("{webhook:?}"), format!("{api:?}")] {
            assert!(!debug.contains("SECRET"), "{debug}");
            assert!(debug.contains("<redacted>"), "{debug}");
        }
    }

    #[tokio::test]
    async fn a_malformed_url_fails_at_once_without_showing_it() {
        let webhook = SlackWebhook::new("hooks.slack.com/services/T1/B2/SECRET", Client::new());
        let tag = MessageTag {
            doctor: "start".into(),
            group: "g".into(),
        };
        let result = webhook.post(&serde_json::json!({"text": "hi"}), &tag).await;
        let Err(NotifyError::Transport(why)) = result else {
            panic!("{result:?}")
        };
        assert!(why.starts_with("builder error"), "{why}");
        assert!(!why.contains("SECRET"), "{why}");
    }

    #[tokio::test]
    async fn a_long_retry_after_is_not_waited_for() {
        let mut calls = 0;
        let result: Result<(), _> = with_retries(3, || {
            calls += 1;
            async { Attempt::RateLimited(MAX_RETRY_AFTER.as_secs() + 1) }
        })
        .await;
        assert!(matches!(
            result,
            Err(NotifyError::RateLimited {
                retry_after_secs: 31
            })
        ));
        assert_eq!(calls, 1);
    }

    #[tokio::test]
    async fn a_retry_after_past_the_deadline_is_not_waited_for() {
        let mut calls = 0;
        let stop = tokio::time::Instant::now() + Duration::from_secs(2);
        let result: Result<(), _> = until(
            stop,
            with_retries(3, || {
                calls += 1;
                async { Attempt::RateLimited(5) }
            }),
        )
        .await;
        assert!(matches!(
            result,
            Err(NotifyError::RateLimited {
                retry_after_secs: 5
            })
        ));
        assert_eq!(calls, 1, "5 s of Retry-After do not fit in the 2 s left");
    }

    #[tokio::test]
    async fn no_retries_means_one_attempt() {
        let mut calls = 0;
        let result: Result<(), _> = with_retries(0, || {
            calls += 1;
            async { Attempt::Transient("connection refused".to_owned()) }
        })
        .await;
        assert!(matches!(result, Err(NotifyError::Transport(why)) if why == "connection refused"));
        assert_eq!(calls, 1);
    }
}
