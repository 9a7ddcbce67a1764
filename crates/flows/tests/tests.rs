//! The flow doctor's integration tests, one binary.

mod nacl_model;
mod scenarios;
mod slack;
mod support;
