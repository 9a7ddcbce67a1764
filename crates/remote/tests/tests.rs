//! The remote crate's tests.
