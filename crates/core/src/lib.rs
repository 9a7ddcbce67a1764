//! start-doctor core: what every doctor shares. Validated AWS ids
//! ([`ids`]), untrusted text made safe for terminals ([`text`]) and Slack
//! ([`slack`]), time bounds as people write them ([`time`]), the time,
//! account and Region a post-mortem asks for and the `AWSLogs` archive
//! layout ([`selection`]), input decoding ([`input`]) and console URLs
//! ([`console`]).
//!
//! The core is pure, and its manifest keeps it so: no network, no clock,
//! no AWS SDK, no async runtime.

#![deny(missing_docs)]

pub mod console;
pub mod ids;
pub mod input;
pub mod json;
pub mod selection;
pub mod slack;
pub mod text;
pub mod time;
