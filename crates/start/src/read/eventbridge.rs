//! EventBridge envelopes: EC2 state-change notifications and CloudTrail API
//! calls. Other detail types are unrelated and ignored.

use serde::Deserialize;
use serde_json::value::RawValue;

use super::cloudtrail::parse_time;
use super::sink::{read_record, Sink};
use super::EventProblem;
use crate::evidence::{Evidence, InstanceState, Origin, StateChange};
use start_doctor_core::ids::{Account, InstanceId, Region};

/// `detail-type` of EC2 state-change notifications.
pub const EC2_STATE_CHANGE: &str = "EC2 Instance State-change Notification";
/// `detail-type` of CloudTrail API calls delivered by EventBridge.
pub const CLOUDTRAIL_API_CALL: &str = "AWS API Call via CloudTrail";

/// The `detail` of an EC2 state-change notification.
#[derive(Deserialize)]
struct StateChangeDetail {
    #[serde(rename = "instance-id")]
    instance_id: String,
    state: String,
}

/// Reads an EventBridge event given as its top-level fields.
pub(super) fn read_event(fields: &[(String, &RawValue)], sink: &mut Sink) {
    let text = |name: &str| -> Option<String> {
        let raw = fields.iter().find(|(k, _)| k == name)?.1;
        serde_json::from_str::<Option<String>>(raw.get())
            .ok()
            .flatten()
    };
    let Some(detail) = fields.iter().find(|(k, _)| k == "detail").map(|(_, v)| *v) else {
        return;
    };
    let id = text("id");
    match text("detail-type").as_deref() {
        Some(CLOUDTRAIL_API_CALL) => read_record(detail, sink),
        Some(EC2_STATE_CHANGE) => {
            let origin = Origin {
                account: text("account").as_deref().and_then(Account::parse),
                region: text("region").as_deref().and_then(Region::parse),
            };
            sink.take(state_change(id, text("time"), origin, detail));
        }
        _ => {}
    }
}

fn state_change(
    id: Option<String>,
    time: Option<String>,
    origin: Origin,
    detail: &RawValue,
) -> Result<Option<Evidence>, EventProblem> {
    let event_id = id
        .filter(|id| !id.is_empty())
        .ok_or_else(|| EventProblem::new(None, "EC2 state-change event has no id"))?;
    let problem = |what: String| EventProblem::new(Some(event_id.clone()), what);
    let time = parse_time(time.as_deref())
        .ok_or_else(|| problem(format!("bad or missing time {time:?}")))?;
    let detail: StateChangeDetail = serde_json::from_str(detail.get())
        .map_err(|e| problem(format!("EC2 state-change detail: {e}")))?;
    let instance_id = InstanceId::parse(&detail.instance_id)
        .ok_or_else(|| problem(format!("bad instance-id {:?}", detail.instance_id)))?;
    let state = InstanceState::parse(&detail.state)
        .ok_or_else(|| problem(format!("unknown state {:?}", detail.state)))?;
    Ok(Some(Evidence::StateChange(StateChange {
        time,
        event_id,
        instance_id,
        state,
        origin,
    })))
}
