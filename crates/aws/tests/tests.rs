//! The AWS crate's tests, one binary: the DynamoDB store on moto, Slack
//! delivery against the local receiver, and the functions' handler end to
//! end on moto, `aws-smithy-mocks` and the receiver.

mod e2e_annotate;
mod e2e_aws;
mod e2e_faults;
// ---- ebs (issue 17) ----
mod ebs_fn;
mod ebs_gather;
// ---- end ebs ----
// --- flows doctor ---
#[cfg(feature = "flows")]
mod flows_fn;
// --- end flows doctor ---
mod live_inference;
mod preflight_fn;
mod slack_delivery;
mod store_dynamodb;
mod support;
