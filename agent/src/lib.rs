//! `acorn-agent` runs inside a Kubernetes cluster and links it to the Acorn appliance. It dials
//! out (WSS, pinning the appliance CA), keeps the appliance's picture of the cluster fresh
//! (a full snapshot on connect, then deltas) and runs the builtin Kubernetes tools that runs call.
//! It never accepts a connection except on its health port.
//!
//! Layout:
//! - [`runtime`]: the agent's main loop (health port, leader election, snapshot, link), the
//!   order in which it comes up and goes down.
//! - [`config`]: `ACORN_AGENT_*` environment and the optional TOML file, validated.
//! - [`cluster`]: the Kubernetes client (kubeconfig or in-cluster) and the cluster facts.
//! - [`link`]: the tunnel to the appliance (WSS pinning the appliance CA, hello, heartbeats,
//!   snapshot and deltas, tool calls with timeouts and cancellation, reconnect with backoff).
//! - [`snapshot`]: the picture of the cluster (watchers, trimming, chunking, deltas).
//! - [`lease`]: leader election over a coordination.k8s.io Lease (GET/POST/conditional PUT).
//! - [`health`] and [`metrics`]: the health port (`/healthz`, `/readyz`, `/metrics`).
//! - [`backoff`]: jittered exponential reconnect delays.
//! - [`tools`]: the builtin tools (catalog with JSON schemas, argument checks, bounded output,
//!   typed errors) and [`redact`], the masking applied to everything a tool returns.

#![forbid(unsafe_code)]
#![cfg_attr(
    not(test),
    deny(clippy::unwrap_used, clippy::expect_used, clippy::panic, clippy::todo)
)]

pub mod backoff;
pub mod cluster;
pub mod config;
pub mod health;
pub mod lease;
pub mod link;
pub mod metrics;
pub mod redact;
pub mod runtime;
pub mod snapshot;
#[cfg(test)]
mod testutil;
pub mod tools;
