//! `acorn-proto` is Acorn's wire contract: every type that crosses a process or network boundary
//! (REST request and response bodies, the error-code table, the agent tunnel messages and tool
//! schemas) is defined here and nowhere else.
//!
//! Layout:
//! - [`error`]: the one error-code table (code → type → HTTP status → doc link) and the error body.
//! - [`setup`]: bodies of the first-start and recovery flow.
//! - [`agent`]: the agent tunnel (hello, snapshots, deltas, tool calls) and the snapshot model.
//! - [`clusters`]: bodies of the clusters API (registration, keys, install, picture, tool calls).
//! - [`gateway`]: the LLM gateway's management bodies, run-JWT claims, request log.
//! - [`findings`]: what the analyzers report about a cluster.
//! - [`runs`]: sessions, runs, run events, approvals and run search.
//! - [`ops`]: bodies of the operations endpoints and the local control socket.
//! - [`webhooks`]: webhook event types and payloads, subscriptions and deliveries, alert receivers
//!   (Alertmanager v4, signed webhooks).
//! - [`tools`]: the argument types of the agent's builtin tools (JSON Schema with feature
//!   `schemars`, which only the agent enables).
//!
//! This crate knows serde (and `serde_json::Value` for free-form JSON) and nothing else: no HTTP framework, no storage, no async runtime.

#![forbid(unsafe_code)]
#![cfg_attr(
    not(test),
    deny(clippy::unwrap_used, clippy::expect_used, clippy::panic, clippy::todo)
)]

pub mod agent;
pub mod authz;
pub mod clusters;
pub mod error;
pub mod evals;
pub mod findings;
pub mod gateway;
pub mod identity;
pub mod ops;
pub mod runs;
pub mod setup;
pub mod tools;
pub mod webhooks;

pub use error::{ErrorBody, ErrorCode, ErrorType};
