//! Test support shared by the start-doctor crates, in one place: the
//! `events/` scenarios and their oracles ([`fixtures`]), the output
//! contracts ([`schema`]), a moto server ([`moto`]) and a local Slack
//! receiver that checks messages as Slack would ([`slack`]), and function
//! binaries started with a given environment ([`startup`]). and a fault
//! proxy in front of moto ([`fault_proxy`]).

pub mod fault_proxy;
pub mod fixtures;
pub mod moto;
pub mod schema;
pub mod slack;
pub mod startup;
