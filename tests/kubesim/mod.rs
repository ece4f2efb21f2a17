//! The Kubernetes API simulator (`acorn-kubesim`), tested through real clients: kube-rs
//! watchers and reflectors, kubectl 1.32 and raw HTTP.
//!
//! Layout:
//! - `sim`: boots the real binary on an ephemeral port and hands out kubectl, kube-rs and raw HTTP.
//! - `kubectl`: kubectl get/describe/logs/scale/rollout/delete/watch and RBAC denials.
//! - `reflector`: kube-rs reflectors through pagination, 410 relists, stream drops, throttling,
//!   streaming lists; kube-rs discovery.
//! - `leases`: two concurrent electors, 404/409 semantics.
//! - `scenarios`: every built-in scenario's key facts through kubectl; the timeline.
//! - `bad_input`: status codes and `Status` bodies for bad requests; 410s; metrics modes.
//! - `watch`: bookmarks, timeouts, follow logs, the events.k8s.io view, fault injection.

mod bad_input;
mod kubectl;
mod leases;
mod reflector;
mod scenarios;
pub mod sim;
mod watch;
