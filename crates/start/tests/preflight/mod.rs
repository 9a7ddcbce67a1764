//! Preflight: the policy evaluator against AWS's documented examples, its
//! robustness on any input, and the preflight check over sample inputs.

mod aws_examples;
mod no_panic;
mod robustness;
mod sample;
