//! The core's integration tests, one binary (as ripgrep does): the
//! scenarios of `events/` against their oracles, input variations, order
//! independence, Slack rendering and the live pipeline over in-memory ports.

mod order_independence;
mod pipeline;
mod preflight;
mod scenarios;
mod slack;
mod variations;
