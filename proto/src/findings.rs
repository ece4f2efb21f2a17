//! Findings: what the analyzers of `acorn-findings` report about a cluster (issue #9), without a
//! model.
//!
//! A [`Finding`] names one problem of one primary object (a crash-looping pod, a Deployment whose
//! rollout is stuck, a node under memory pressure), with the exact status fields, events and log
//! lines that prove it ([`Evidence`]) and a remediation hint. Its `id` is stable: a hash of the
//! rule and the primary object, so the same problem found again is the same finding.
//!
//! Times are **seconds since the Unix epoch (UTC)**, as `i64`: cheap to compare for the
//! lifecycle's hysteresis; the API and the console format them.
//!
//! Lifecycle ([`FindingState`]): `active` while the analyzers report it; `recovering` once they
//! stop; `resolved` after it stayed absent for the hysteresis window. A finding that comes back
//! while `recovering` is active again under the same id with `count` + 1; one that comes back
//! after `resolved` starts a new lifecycle (same `id`, new `first_seen`): a lifecycle is
//! identified by `(id, first_seen)`.

use serde::{Deserialize, Serialize};

/// How bad a finding is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Severity {
    /// Something is down or cannot start: users are likely affected now.
    Critical,
    /// Degraded, or will break if nothing is done.
    Warning,
    /// Worth knowing; nothing is broken yet.
    Info,
}

impl Severity {
    /// The stable name.
    pub const fn as_str(self) -> &'static str {
        match self {
            Severity::Critical => "critical",
            Severity::Warning => "warning",
            Severity::Info => "info",
        }
    }
}

/// Where a finding is in its lifecycle (see the module docs).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FindingState {
    /// Reported by the latest evaluation.
    Active,
    /// No longer reported; resolved if it stays away for the hysteresis window.
    Recovering,
    /// Stayed away for the hysteresis window.
    Resolved,
}

impl FindingState {
    /// The stable name.
    pub const fn as_str(self) -> &'static str {
        match self {
            FindingState::Active => "active",
            FindingState::Recovering => "recovering",
            FindingState::Resolved => "resolved",
        }
    }
}

/// An object of the cluster a finding is about.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct ObjectRef {
    /// `Pod`, `Deployment`, `Node`, …
    pub kind: String,
    /// Absent for cluster-scoped objects.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub namespace: Option<String>,
    /// `metadata.name`.
    pub name: String,
}

impl ObjectRef {
    /// `Kind/namespace/name`, or `Kind/name` for cluster-scoped objects.
    pub fn display(&self) -> String {
        match &self.namespace {
            Some(ns) => format!("{}/{}/{}", self.kind, ns, self.name),
            None => format!("{}/{}", self.kind, self.name),
        }
    }
}

/// One fact that proves a finding, with where it is in the snapshot.
///
/// `source` forms:
/// - `Kind/namespace/name FIELD.PATH` (or `Kind/name FIELD.PATH` when cluster-scoped): a field
///   of the object; list items are selected by their `name` (containers, ports, volumes) or
///   `type` (conditions) in brackets, e.g.
///   `Pod/shop/web-1 status.containerStatuses[app].lastState.terminated.reason`, or by index,
///   e.g. `spec.taints[0]`. `text` is the field's value: strings as they are, anything else as
///   compact JSON.
/// - `Event/namespace/name`: an event; `text` is `REASON: MESSAGE`.
/// - `Pod/namespace/name logs[CONTAINER]` or `… logs[CONTAINER].previous`: a log line of the
///   container (current or previous); `text` is the line.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Evidence {
    /// Where the fact is (see above).
    pub source: String,
    /// The exact value, event reason and message, or log line.
    pub text: String,
}

/// One problem of the cluster.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Finding {
    /// Stable: a hash of `rule` and the primary object (`objects[0]`), `fnd_` + 16 hex digits.
    pub id: String,
    /// The rule that found it, e.g. `pod.crash_loop`.
    pub rule: String,
    /// How bad it is.
    pub severity: Severity,
    /// One line for a list.
    pub title: String,
    /// The primary object first, then related ones (its pods, the node, the claim, …).
    pub objects: Vec<ObjectRef>,
    /// The facts that prove it.
    pub evidence: Vec<Evidence>,
    /// What an operator can do about it.
    pub remediation: String,
    /// Where it is in its lifecycle.
    pub state: FindingState,
    /// When this lifecycle started (seconds since the Unix epoch).
    pub first_seen: i64,
    /// When an evaluation last reported it (seconds since the Unix epoch).
    pub last_seen: i64,
    /// How many times it became active in this lifecycle (1, + 1 per return from `recovering`).
    pub count: u32,
}

impl Finding {
    /// The primary object (the first of `objects`).
    pub fn primary(&self) -> Option<&ObjectRef> {
        self.objects.first()
    }
}

/// What happened to a finding in one evaluation, for webhooks and auto-triage.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TransitionKind {
    /// A new lifecycle started.
    Opened,
    /// It came back while recovering: active again, same lifecycle, `count` + 1.
    Reactivated,
    /// No longer reported.
    Recovering,
    /// Stayed away for the hysteresis window; the lifecycle ended.
    Resolved,
}

/// A finding's change of state, with the finding as it is after the change.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Transition {
    /// What happened.
    pub kind: TransitionKind,
    /// The finding after the change.
    pub finding: Finding,
}

/// A finding as the API lists it (`GET …/findings`, `GET …/clusters/{id}/findings`): the
/// finding's fields with its cluster beside them.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FindingView {
    /// The cluster it was found on.
    pub cluster_id: String,
    /// That cluster's name.
    pub cluster_name: String,
    /// The finding (its fields appear at the top level).
    #[serde(flatten)]
    pub finding: Finding,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn findings_serialize_with_snake_case_states() {
        let f = Finding {
            id: "fnd_0123456789abcdef".into(),
            rule: "pod.crash_loop".into(),
            severity: Severity::Critical,
            title: "t".into(),
            objects: vec![ObjectRef {
                kind: "Node".into(),
                namespace: None,
                name: "worker-1".into(),
            }],
            evidence: vec![Evidence {
                source: "Node/worker-1 status.conditions[Ready].status".into(),
                text: "Unknown".into(),
            }],
            remediation: "r".into(),
            state: FindingState::Recovering,
            first_seen: 1,
            last_seen: 2,
            count: 1,
        };
        let v = serde_json::to_value(&f).unwrap();
        assert_eq!(v["state"], "recovering");
        assert_eq!(v["severity"], "critical");
        assert!(v["objects"][0].get("namespace").is_none());
        assert_eq!(
            f.primary().map(ObjectRef::display).as_deref(),
            Some("Node/worker-1")
        );
        assert_eq!(serde_json::from_value::<Finding>(v).unwrap(), f);
        let t = serde_json::to_value(TransitionKind::Reactivated).unwrap();
        assert_eq!(t, "reactivated");
    }
}
