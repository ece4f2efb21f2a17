//! acorn-findings: deterministic findings computed from a cluster's snapshot, without a model
//! (issue #9).
//!
//! The snapshot is what the agent sends (`acorn_proto::agent::Resource`s: trimmed objects,
//! events, metrics); [`analyze`] runs every rule over it and returns [`Finding`]s — rule id,
//! severity, title, the affected objects, the evidence with where it is in the snapshot, and a
//! remediation hint. The rules read what Kubernetes really reports (field paths, reasons,
//! messages); their table is [`RULES`].
//!
//! Layout:
//! - [`snapshot`]: the indexed snapshot ([`Snapshot`]), updated by agent deltas.
//! - `rules`: the rules, one module per area, each evaluated per subject object.
//! - [`incremental`]: [`Analyzer`], findings kept current under deltas by re-evaluating only the
//!   affected subjects.
//! - [`tracker`]: [`Tracker`], the lifecycle (active → recovering → resolved, with hysteresis).
//! - [`scenario`]: a kubesim scenario folder read as the agent would have sent it.
//! - `evidence`, `value`, `time`: evidence sources and their resolution, tolerant JSON reads,
//!   timestamps without a date crate.
//!
//! What this crate must not do: talk to a cluster, the store or the network, or know HTTP. It
//! depends on serde (and serde-saphyr for scenario YAML) only, so the appliance, the CLI and
//! tests can all link it cheaply. Bad input (missing fields, wrong types, unknown kinds) is
//! skipped by every rule, never a panic.

#![forbid(unsafe_code)]
#![cfg_attr(
    not(test),
    deny(clippy::unwrap_used, clippy::expect_used, clippy::panic, clippy::todo)
)]

mod evidence;
pub mod incremental;
mod rules;
pub mod scenario;
pub mod snapshot;
mod time;
pub mod tracker;
mod value;

pub use acorn_proto::findings::{
    Evidence, Finding, FindingState, ObjectRef, Severity, Transition, TransitionKind,
};
pub use incremental::Analyzer;
pub use rules::{RULES, finding_id};
pub use snapshot::{Logs, ObjKey, Snapshot};
pub use tracker::Tracker;

/// Every finding of `snapshot` at time `now` (seconds since the Unix epoch), most severe first.
/// All are `active`, first and last seen `now`, count 1: the [`Tracker`] gives them a lifecycle.
pub fn analyze(snapshot: &Snapshot, now: i64) -> Vec<Finding> {
    let ctx = rules::Ctx {
        snap: snapshot,
        now,
    };
    let mut out = Vec::new();
    for (key, object) in snapshot.iter() {
        rules::evaluate(&ctx, key, object, &mut out);
    }
    sort(&mut out);
    out
}

/// Most severe first, then by rule and primary object: a stable order for lists and tests.
pub(crate) fn sort(findings: &mut [Finding]) {
    findings.sort_by(|a, b| {
        (a.severity, &a.rule, a.primary()).cmp(&(b.severity, &b.rule, b.primary()))
    });
}
