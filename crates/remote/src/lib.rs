//! start-doctor where the evidence lives.
