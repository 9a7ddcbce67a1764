//! Rendering diagnoses for people and programs: terminal text, the JSON
//! contract, and Slack Block Kit messages. All pure functions.

pub mod json;
pub mod opsitem;
pub mod slack;
pub mod text;
