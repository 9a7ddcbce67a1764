//! What the Lambda binaries share: JSON logging and the event handler that
//! turns one EventBridge event into evidence and diagnoses.

use serde::Serialize;

use crate::events::read_document;
use crate::evidence::EvidenceSet;

/// Why an event could not be handled. Lambda reports it as a failed
/// invocation (retried, then sent to the dead-letter queue).
#[derive(Debug, thiserror::Error)]
pub enum HandlerError {
    /// The payload is not an event start-doctor reads.
    #[error("event {event_id}: unreadable: {source}")]
    Unreadable {
        /// The EventBridge id, or `unknown`.
        event_id: String,
        /// What was wrong.
        #[source]
        source: crate::events::DocumentError,
    },
    /// The event is of a known kind but malformed.
    #[error("event {event_id}: malformed: {message}")]
    Malformed {
        /// The event's id.
        event_id: String,
        /// What was wrong.
        message: String,
    },
}

/// What one invocation did.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct Outcome {
    /// Evidence items taken from the event.
    pub evidence: usize,
    /// Failed starts diagnosed from it.
    pub diagnoses: usize,
}

/// Sets up JSON logs for CloudWatch, level from `RUST_LOG` (default info).
pub fn init_tracing() {
    tracing_subscriber::fmt()
        .json()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info")),
        )
        .with_current_span(false)
        .without_time()
        .with_target(false)
        .init();
}

/// Handles one EventBridge event of `detail_type`; events of other types
/// are logged and ignored.
pub fn handle_event(
    detail_type: &str,
    payload: &serde_json::Value,
) -> Result<Outcome, HandlerError> {
    let event_id = payload
        .get("id")
        .and_then(serde_json::Value::as_str)
        .unwrap_or("unknown")
        .to_owned();
    let got = payload
        .get("detail-type")
        .and_then(serde_json::Value::as_str);
    if got != Some(detail_type) {
        tracing::info!(
            event_id,
            detail_type = got,
            "ignoring event of another type"
        );
        return Ok(Outcome::default());
    }
    let bytes = payload.to_string();
    let document = read_document(bytes.as_bytes()).map_err(|source| HandlerError::Unreadable {
        event_id: event_id.clone(),
        source,
    })?;
    if let Some(problem) = document.problems.first() {
        let id = problem.event_id.clone().unwrap_or(event_id);
        tracing::error!(event_id = id, problem = %problem.message, "malformed event");
        return Err(HandlerError::Malformed {
            event_id: id,
            message: problem.message.clone(),
        });
    }
    let set: EvidenceSet = document.evidence.into_iter().collect();
    let diagnoses = crate::diagnose(&set);
    for d in &diagnoses {
        tracing::info!(event_id, instance_id = %d.instance_id, cause = %d.cause, "diagnosed");
    }
    Ok(Outcome {
        evidence: set.len(),
        diagnoses: diagnoses.len(),
    })
}
