//! Slack delivery against a local Slack (`support/slack_receiver.py`) that
//! checks every payload with Slack's own SDK: the rendered diagnoses are
//! accepted, what Slack would refuse is refused, rate limits are waited
//! out, and no secret leaks into Debug output or errors.

use std::net::TcpListener;
use std::time::{Duration, Instant};

use serde_json::{json, Value};
use start_doctor_aws::slack::{SlackApi, SlackWebhook};
use start_doctor_engine::ports::{MessageRef, MessageTag, Notifier, NotifyError};
use start_doctor_start::render::slack;
use start_doctor_testkit::slack::SlackReceiver;

const TOKEN: &str = "xoxb-1111-2222-SeCrEtToKeN";
const CHANNEL: &str = "#ec2-start-failures";

fn seed_story_message() -> Value {
    let diagnoses = start_doctor_testkit::fixtures::diagnose_scenario("seed-story");
    slack::message(&[&diagnoses[0]])
}

fn storm_message() -> Value {
    let diagnoses = start_doctor_testkit::fixtures::diagnose_scenario("storm");
    let groups = slack::group(&diagnoses);
    assert_eq!(groups.len(), 1, "storm: one group expected");
    slack::message(&groups[0])
}

/// The seed story with a 200-character header: Slack allows 150.
fn oversized_header_message() -> Value {
    let mut message = seed_story_message();
    message["blocks"][0]["text"]["text"] = Value::String("H".repeat(200));
    message
}

fn http() -> reqwest::Client {
    reqwest::Client::new()
}

fn webhook(slack: &SlackReceiver) -> SlackWebhook {
    SlackWebhook::new(slack.webhook_url(), http())
}

fn api(slack: &SlackReceiver) -> SlackApi {
    SlackApi::new(TOKEN, CHANNEL, http()).with_base_url(slack.api_base())
}

fn kinds(slack: &SlackReceiver) -> Vec<String> {
    slack
        .messages()
        .iter()
        .map(|m| m["kind"].as_str().unwrap().to_owned())
        .collect()
}

/// The tag posts carry (the engine's group).
fn tag() -> MessageTag {
    MessageTag {
        doctor: "start".into(),
        group: "0123abcd".into(),
    }
}

fn rejected(result: Result<impl std::fmt::Debug, NotifyError>) -> String {
    match result {
        Err(NotifyError::Rejected(why)) => why,
        other => panic!("expected Rejected, got {other:?}"),
    }
}

/// A 127.0.0.1 URL nobody listens on, with a secret path.
fn dead_webhook_url() -> String {
    let port = TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    format!("http://127.0.0.1:{port}/services/T000/B000/DeadSecretPath")
}

#[tokio::test]
async fn webhook_delivers_the_seed_story_diagnosis() {
    let slack = SlackReceiver::start(TOKEN);
    let message = seed_story_message();

    let posted = webhook(&slack).post(&message, &tag()).await.unwrap();

    assert_eq!(posted, None, "a webhook post cannot be updated later");
    assert_eq!(slack.rejections(), Vec::<Value>::new());
    let messages = slack.messages();
    assert_eq!(messages.len(), 1);
    assert_eq!(messages[0]["kind"], "webhook");
    assert_eq!(messages[0]["payload"], message);
}

#[tokio::test]
async fn webhook_refuses_to_update_or_reply_without_sending() {
    let slack = SlackReceiver::start(TOKEN);
    let hook = webhook(&slack);
    let at = MessageRef {
        channel: "C1".into(),
        ts: "1.000001".into(),
    };
    let message = seed_story_message();

    assert_eq!(
        rejected(hook.update(&at, &message).await),
        "webhooks cannot update messages"
    );
    assert_eq!(
        rejected(hook.reply(&at, &message).await),
        "webhooks cannot update messages"
    );
    assert!(slack.messages().is_empty() && slack.rejections().is_empty());
}

#[tokio::test]
async fn web_api_posts_updates_and_replies_in_the_thread() {
    let slack = SlackReceiver::start(TOKEN);
    let client = api(&slack);
    let first = seed_story_message();
    let grown = storm_message();
    let reply = json!({"text": "i-0a1b2c3d4e5f60099 failed the same way"});

    let at = client
        .post(&first, &tag())
        .await
        .unwrap()
        .expect("the Web API returns where the message lives");
    client.update(&at, &grown).await.unwrap();
    client.reply(&at, &reply).await.unwrap();

    assert_eq!(slack.rejections(), Vec::<Value>::new());
    assert_eq!(kinds(&slack), ["post", "update", "reply"]);
    let messages = slack.messages();
    let (post, update, threaded) = (&messages[0], &messages[1], &messages[2]);

    // The post goes to the configured channel; Slack answers with its id.
    assert_eq!(post["payload"]["channel"], CHANNEL);
    assert_eq!(post["payload"]["unfurl_links"], false);
    assert_eq!(post["payload"]["text"], first["text"]);
    assert_eq!(post["payload"]["blocks"], first["blocks"]);
    assert_eq!(at.channel, post["channel"].as_str().unwrap());
    assert_eq!(at.ts, post["ts"].as_str().unwrap());
    assert!(at.channel.starts_with('C') && at.channel != CHANNEL);

    // The update replaces that message, addressed by channel id and ts.
    assert_eq!(update["payload"]["channel"], at.channel.as_str());
    assert_eq!(update["payload"]["ts"], at.ts.as_str());
    assert_eq!(update["payload"]["blocks"], grown["blocks"]);

    // The reply is a new message in the thread of the first.
    assert_eq!(threaded["payload"]["thread_ts"], at.ts.as_str());
    assert_eq!(threaded["payload"]["channel"], at.channel.as_str());
    assert_ne!(threaded["ts"], post["ts"]);
}

#[tokio::test]
async fn storm_message_passes_slacks_validation() {
    let slack = SlackReceiver::start(TOKEN);
    let message = storm_message();

    api(&slack).post(&message, &tag()).await.unwrap();
    webhook(&slack).post(&message, &tag()).await.unwrap();

    assert_eq!(slack.rejections(), Vec::<Value>::new());
    assert_eq!(kinds(&slack), ["post", "webhook"]);
}

#[tokio::test]
async fn a_message_slack_would_refuse_is_rejected_by_both_transports() {
    let slack = SlackReceiver::start(TOKEN);
    let message = oversized_header_message();

    assert_eq!(
        rejected(webhook(&slack).post(&message, &tag()).await),
        "invalid_blocks"
    );
    assert_eq!(
        rejected(api(&slack).post(&message, &tag()).await),
        "invalid_blocks"
    );

    assert!(slack.messages().is_empty());
    let rejections = slack.rejections();
    assert_eq!(rejections.len(), 2, "each refused once, not retried");
    for r in &rejections {
        assert_eq!(r["error"], "invalid_blocks");
        let detail = r["detail"].as_str().unwrap();
        assert!(
            detail.contains("/blocks/0") && detail.contains("150"),
            "{detail}"
        );
    }
}

#[tokio::test]
async fn a_wrong_token_is_rejected_as_invalid_auth() {
    let slack = SlackReceiver::start(TOKEN);
    let client = SlackApi::new("xoxb-wrong", CHANNEL, http()).with_base_url(slack.api_base());

    assert_eq!(
        rejected(client.post(&seed_story_message(), &tag()).await),
        "invalid_auth"
    );
    assert!(slack.messages().is_empty());
    assert_eq!(slack.rejections()[0]["error"], "invalid_auth");
}

#[tokio::test]
async fn updating_a_message_that_does_not_exist_is_rejected() {
    let slack = SlackReceiver::start(TOKEN);
    let at = MessageRef {
        channel: "C0NOWHERE".into(),
        ts: "1.999999".into(),
    };

    let result = api(&slack).update(&at, &seed_story_message()).await;

    assert_eq!(rejected(result), "message_not_found");
}

#[tokio::test]
async fn webhook_waits_out_a_rate_limit_then_delivers() {
    let slack = SlackReceiver::start(TOKEN);
    slack.rate_limit_next(1, 1);

    let started = Instant::now();
    webhook(&slack)
        .post(&seed_story_message(), &tag())
        .await
        .unwrap();
    let took = started.elapsed();

    assert!(
        took >= Duration::from_secs(1),
        "retried after {took:?}, Retry-After was 1 s"
    );
    assert_eq!(slack.control()["rate_limited"], 1, "one 429 answered");
    assert_eq!(kinds(&slack), ["webhook"]);
}

#[tokio::test]
async fn web_api_waits_out_a_rate_limit_then_delivers() {
    let slack = SlackReceiver::start(TOKEN);
    slack.rate_limit_next(1, 1);

    let started = Instant::now();
    let at = api(&slack)
        .post(&seed_story_message(), &tag())
        .await
        .unwrap();
    let took = started.elapsed();

    assert!(at.is_some());
    assert!(
        took >= Duration::from_secs(1),
        "retried after {took:?}, Retry-After was 1 s"
    );
    assert_eq!(slack.control()["rate_limited"], 1, "one 429 answered");
    assert_eq!(kinds(&slack), ["post"]);
}

#[tokio::test]
async fn rate_limits_beyond_the_retries_allowed_are_reported() {
    let slack = SlackReceiver::start(TOKEN);
    slack.rate_limit_next(10, 1);

    let result = api(&slack)
        .with_max_retries(1)
        .post(&seed_story_message(), &tag())
        .await;

    assert!(
        matches!(
            result,
            Err(NotifyError::RateLimited {
                retry_after_secs: 1
            })
        ),
        "{result:?}"
    );
    assert_eq!(
        slack.control()["rate_limited"],
        2,
        "first try and one retry"
    );
    assert!(slack.messages().is_empty());
}

#[tokio::test]
async fn a_retry_after_longer_than_a_lambda_can_wait_is_reported_at_once() {
    let slack = SlackReceiver::start(TOKEN);
    slack.rate_limit_next(1, 120);

    let started = Instant::now();
    let result = webhook(&slack).post(&seed_story_message(), &tag()).await;

    assert!(
        matches!(
            result,
            Err(NotifyError::RateLimited {
                retry_after_secs: 120
            })
        ),
        "{result:?}"
    );
    assert!(started.elapsed() < Duration::from_secs(5));
    assert_eq!(slack.control()["rate_limited"], 1);
}

#[tokio::test]
async fn a_post_that_got_a_server_error_is_an_unknown_outcome_and_updates_are_retried() {
    let slack = SlackReceiver::start(TOKEN);
    slack.fail_next(1);
    // Slack may have posted it: never posted again here, the engine looks
    // it up before anyone does.
    let result = api(&slack).post(&seed_story_message(), &tag()).await;
    assert!(
        matches!(&result, Err(NotifyError::Unknown(why)) if why.contains("500")),
        "{result:?}"
    );
    assert_eq!(slack.control()["failed"], 1, "one attempt, no retry");
    let result = webhook(&slack)
        .with_max_retries(2)
        .post(&seed_story_message(), &tag())
        .await;
    assert!(
        result.is_ok(),
        "the webhook's next post goes through: {result:?}"
    );

    let at = api(&slack)
        .post(&seed_story_message(), &tag())
        .await
        .unwrap()
        .unwrap();
    slack.fail_next(2);
    api(&slack)
        .update(&at, &seed_story_message())
        .await
        .unwrap();
    assert_eq!(slack.control()["failed"], 1 + 2, "an update is retried");
    assert_eq!(kinds(&slack), ["webhook", "post", "update"]);
}

#[tokio::test]
async fn connection_errors_are_retried_and_never_name_the_url() {
    let url = dead_webhook_url();
    let hook = SlackWebhook::new(url.clone(), http()).with_max_retries(1);

    let result = hook.post(&seed_story_message(), &tag()).await;

    let Err(NotifyError::Transport(why)) = &result else {
        panic!("expected Transport, got {result:?}");
    };
    let shown = result.as_ref().unwrap_err().to_string();
    for text in [why.as_str(), shown.as_str()] {
        assert!(
            !text.contains("DeadSecretPath") && !text.contains("127.0.0.1"),
            "{text}"
        );
    }
}

#[test]
fn debug_output_names_no_secret() {
    let slack_url = "https://hooks.slack.com/services/T000/B000/WebhookSecret";
    let hook = SlackWebhook::new(slack_url, http());
    let client = SlackApi::new(TOKEN, CHANNEL, http());

    for debug in [
        format!("{hook:?}"),
        format!("{hook:#?}"),
        format!("{client:?}"),
    ] {
        assert!(
            !debug.contains("WebhookSecret") && !debug.contains("hooks.slack.com"),
            "{debug}"
        );
        assert!(
            !debug.contains(TOKEN) && !debug.contains("SeCrEt"),
            "{debug}"
        );
    }
}
