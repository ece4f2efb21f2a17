//! `acorn-agent` runs inside a Kubernetes cluster and links it to the Acorn appliance. It dials
//! out (WSS, pinning the appliance CA), keeps the appliance's picture of the cluster fresh
//! (a full snapshot on connect, then deltas) and runs the builtin Kubernetes tools that runs call.
//! It never accepts a connection except on its health port.
//!
//! Layout:
//! - [`tools`]: the builtin tools (catalog with JSON schemas, argument checks, bounded output,
//!   typed errors) and [`redact`], the masking applied to everything a tool returns.

#![forbid(unsafe_code)]
#![cfg_attr(
    not(test),
    deny(clippy::unwrap_used, clippy::expect_used, clippy::panic, clippy::todo)
)]

pub mod redact;
pub mod tools;
