//! Tests for document detection.
