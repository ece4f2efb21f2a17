//! The findings' lifecycle across evaluations: `active → recovering → resolved` with
//! hysteresis, dedup by rule + primary object (the finding id).
//!
//! [`Tracker`] is pure state (serde, so the appliance persists it beside the cluster): no
//! clock, no I/O. Each evaluation's findings go through [`Tracker::observe`] with the time of
//! the evaluation; it returns the transitions (opened, reactivated, recovering, resolved) for
//! webhooks and auto-triage, and [`Tracker::findings`] lists the open ones (active and
//! recovering) as they should be shown.
//!
//! - A finding not seen before opens a lifecycle (`first_seen` = now, `count` = 1).
//! - Reported again while active: `last_seen` and the content (title, evidence, …) follow the
//!   latest evaluation.
//! - Not reported while active: `recovering` (since now).
//! - Reported while recovering: `active` again, same lifecycle, `count` + 1 — a flapping pod
//!   keeps one finding.
//! - Still not reported `resolve_after_secs` after it started recovering: `resolved`; the
//!   tracker forgets it, and a recurrence opens a new lifecycle.

use std::collections::BTreeMap;

use acorn_proto::findings::{Finding, FindingState, Transition, TransitionKind};
use serde::{Deserialize, Serialize};

/// Default hysteresis window: 10 minutes.
pub const DEFAULT_RESOLVE_AFTER_SECS: i64 = 600;

/// One tracked finding.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
struct Tracked {
    finding: Finding,
    /// When it started recovering (while `recovering`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    recovering_since: Option<i64>,
}

/// The lifecycle state of one cluster's findings (see the module docs).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Tracker {
    /// How long a finding must stay absent before it is resolved.
    pub resolve_after_secs: i64,
    /// Open findings by id.
    open: BTreeMap<String, Tracked>,
}

impl Default for Tracker {
    fn default() -> Self {
        Tracker::new(DEFAULT_RESOLVE_AFTER_SECS)
    }
}

impl Tracker {
    /// An empty tracker with the given hysteresis window (seconds).
    pub fn new(resolve_after_secs: i64) -> Tracker {
        Tracker {
            resolve_after_secs: resolve_after_secs.max(0),
            open: BTreeMap::new(),
        }
    }

    /// Feeds one evaluation's findings (as [`crate::analyze`] returns them) at time `now`.
    pub fn observe(&mut self, findings: Vec<Finding>, now: i64) -> Vec<Transition> {
        let mut transitions = Vec::new();
        let mut reported = std::collections::BTreeSet::new();
        for mut f in findings {
            if !reported.insert(f.id.clone()) {
                // The same rule and object twice in one evaluation: the first wins.
                continue;
            }
            match self.open.get_mut(&f.id) {
                Some(t) => {
                    let was_recovering = t.finding.state == FindingState::Recovering;
                    f.first_seen = t.finding.first_seen;
                    f.count = t.finding.count + u32::from(was_recovering);
                    f.last_seen = now;
                    f.state = FindingState::Active;
                    t.finding = f;
                    t.recovering_since = None;
                    if was_recovering {
                        transitions.push(Transition {
                            kind: TransitionKind::Reactivated,
                            finding: t.finding.clone(),
                        });
                    }
                }
                None => {
                    f.first_seen = now;
                    f.last_seen = now;
                    f.count = 1;
                    f.state = FindingState::Active;
                    transitions.push(Transition {
                        kind: TransitionKind::Opened,
                        finding: f.clone(),
                    });
                    self.open.insert(
                        f.id.clone(),
                        Tracked {
                            finding: f,
                            recovering_since: None,
                        },
                    );
                }
            }
        }
        let mut resolved = Vec::new();
        for (id, t) in self.open.iter_mut() {
            if reported.contains(id) {
                continue;
            }
            match t.recovering_since {
                None => {
                    t.recovering_since = Some(now);
                    t.finding.state = FindingState::Recovering;
                    transitions.push(Transition {
                        kind: TransitionKind::Recovering,
                        finding: t.finding.clone(),
                    });
                }
                Some(since) if now - since >= self.resolve_after_secs => {
                    resolved.push(id.clone());
                }
                Some(_) => {}
            }
        }
        for id in resolved {
            if let Some(mut t) = self.open.remove(&id) {
                t.finding.state = FindingState::Resolved;
                transitions.push(Transition {
                    kind: TransitionKind::Resolved,
                    finding: t.finding,
                });
            }
        }
        transitions
    }

    /// The open findings (active and recovering), most severe first.
    pub fn findings(&self) -> Vec<Finding> {
        let mut out: Vec<Finding> = self.open.values().map(|t| t.finding.clone()).collect();
        crate::sort(&mut out);
        out
    }

    /// One open finding by id.
    pub fn get(&self, id: &str) -> Option<&Finding> {
        self.open.get(id).map(|t| &t.finding)
    }

    /// Number of open findings.
    pub fn len(&self) -> usize {
        self.open.len()
    }

    /// Whether no finding is open.
    pub fn is_empty(&self) -> bool {
        self.open.is_empty()
    }
}
