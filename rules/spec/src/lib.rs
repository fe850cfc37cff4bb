//! What a rule file is, without running it: the pack's rule format (`rule`) and Sigma rules
//! compiled to the same SQL (`sigma`). Parsing and compiling need no query engine, so the
//! fuzzer (`fuzz/`) feeds these loaders directly; the `rules` crate re-exports both and runs
//! the rules with DataFusion.

pub mod rule;
pub mod sigma;
