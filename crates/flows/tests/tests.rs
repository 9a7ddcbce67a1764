//! The flow doctor's integration tests, one binary.
