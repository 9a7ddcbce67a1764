//! Integration tests of start-doctor ebs.
