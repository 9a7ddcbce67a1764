//! Lambda for CloudTrail API calls (KMS errors, EC2 start calls) delivered by EventBridge: parses the event
//! and runs the start-doctor core on it.

use lambda_runtime::{run, service_fn, Error, LambdaEvent};
use serde_json::Value;
use start_doctor::lambda::{handle_event, init_tracing, Outcome};

/// The EventBridge `detail-type` this function is subscribed to.
const DETAIL_TYPE: &str = "AWS API Call via CloudTrail";

async fn handler(event: LambdaEvent<Value>) -> Result<Outcome, Error> {
    Ok(handle_event(DETAIL_TYPE, &event.payload)?)
}

#[tokio::main]
async fn main() -> Result<(), Error> {
    init_tracing();
    run(service_fn(handler)).await
}

#[cfg(test)]
mod tests {
    use super::*;
    use lambda_runtime::Context;

    fn invoke(payload: Value) -> Result<Outcome, Error> {
        let event = LambdaEvent::new(payload, Context::default());
        tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap()
            .block_on(handler(event))
    }

    #[test]
    fn a_sample_event_is_accepted() {
        let text = include_str!("../../../events/seed-story/create-grant-denied.json");
        let first: Value = serde_json::Deserializer::from_str(text)
            .into_iter()
            .next()
            .unwrap()
            .unwrap();
        let outcome = invoke(first).unwrap();
        assert_eq!(outcome.evidence, 1);
    }

    #[test]
    fn a_malformed_event_is_an_error_naming_its_id() {
        let bad = serde_json::json!({
            "version": "0", "id": "bad-event-1", "detail-type": DETAIL_TYPE, "source": "aws.ec2",
            "time": "2026-11-20T07:00:00Z",
            "detail": {"instance-id": "bogus", "state": "exploded", "eventID": "bad-event-1",
                       "eventSource": "ec2.amazonaws.com", "eventName": "StartInstances"}
        });
        let err = invoke(bad).unwrap_err().to_string();
        assert!(err.contains("bad-event-1"), "{err}");
    }

    #[test]
    fn other_detail_types_are_ignored() {
        let other = serde_json::json!({
            "version": "0", "id": "x", "detail-type": "Scheduled Event", "source": "aws.events",
            "time": "2026-11-20T07:00:00Z", "detail": {}
        });
        assert_eq!(invoke(other).unwrap().evidence, 0);
    }
}
