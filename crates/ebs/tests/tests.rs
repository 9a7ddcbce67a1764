//! Integration tests of start-doctor ebs, one test binary: the scenarios
//! of `events/ebs/` in every shape real files take, AWS's own examples,
//! order independence, and the Slack messages.

mod aws_examples;
mod common;
mod contract;
mod notice;
mod order_independence;
mod slack;
mod variations;
