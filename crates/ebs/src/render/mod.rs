//! Rendering findings: text for people (with a chart of demand against
//! the ceiling), the JSON contract, and Slack Block Kit messages.

pub mod chart;
pub mod json;
pub mod slack;
pub mod text;
