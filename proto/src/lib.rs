//! `acorn-proto` is Acorn's wire contract: every type that crosses a process or network boundary
//! (REST request and response bodies, the error-code table, the agent tunnel messages and tool
//! schemas) is defined here and nowhere else.
//!
//! Layout:
//! - [`error`]: the one error-code table (code → type → HTTP status → doc link) and the error body.
//! - [`setup`]: bodies of the first-start and recovery flow.
//! - [`agent`]: the agent tunnel (hello, snapshots, deltas, tool calls) and the snapshot model.
//! - [`gateway`]: the LLM gateway's management bodies, run-JWT claims, request log.
//! - [`ops`]: bodies of the operations endpoints and the local control socket.
//!
//! This crate knows serde (and `serde_json::Value` for free-form JSON) and nothing else: no HTTP framework, no storage, no async runtime.

#![forbid(unsafe_code)]
#![cfg_attr(
    not(test),
    deny(clippy::unwrap_used, clippy::expect_used, clippy::panic, clippy::todo)
)]

pub mod agent;
pub mod authz;
pub mod error;
pub mod gateway;
pub mod identity;
pub mod ops;
pub mod setup;

pub use error::{ErrorBody, ErrorCode, ErrorType};
