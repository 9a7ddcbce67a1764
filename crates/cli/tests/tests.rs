//! The `start-doctor` binary as a process, one test binary.

mod cli;
mod ebs;
mod flows;
mod preflight;
mod process;
