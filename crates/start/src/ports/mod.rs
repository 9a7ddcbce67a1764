//! The start doctor's own port: [`live::LiveChecks`], what AWS knows now
//! (EC2, KMS, IAM and CloudTrail through the SDK in production). The ports
//! every doctor shares (store, Slack, deferral, annotations) are
//! `start_doctor_engine::ports`.

pub mod live;

pub use live::{LiveChecks, LiveRequest};
