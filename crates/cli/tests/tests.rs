//! The `start-doctor` binary as a process, one test binary.

#[macro_use]
mod process;

mod cli;
mod ebs;
mod flows;
mod preflight;
