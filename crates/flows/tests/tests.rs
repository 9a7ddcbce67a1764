//! The flow doctor's integration tests, one binary.

mod aws_examples;
mod live;
mod nacl_model;
mod scenarios;
mod slack;
mod support;
mod variations;
