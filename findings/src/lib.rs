//! acorn-findings: deterministic findings computed from a cluster's snapshot, without a model.
//!
//! Being built (issue #9); the analyzers arrive in the next commits.

#![forbid(unsafe_code)]
