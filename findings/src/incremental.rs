//! Incremental evaluation: a [`Snapshot`] plus the findings of every subject, kept current
//! under agent deltas by re-evaluating only the subjects a change can affect.
//!
//! Rules are evaluated per subject (`crate::rules`), and a subject's findings depend on a known
//! neighbourhood: its own object, its events, its pods (through ReplicaSets for a Deployment),
//! the pods its selector matches, the node a pod runs on, the claims a pod mounts, … For a
//! changed object, [`affected`] lists the subjects whose neighbourhood contains it, for both
//! its old and new versions; only those are re-evaluated.
//!
//! Time also changes findings (an event ages out of the recent window, a CronJob becomes
//! overdue, a deletion becomes stuck), and deltas do not say so: call
//! [`Analyzer::reevaluate_all`] periodically (every minute is plenty) besides applying deltas.

use std::collections::{BTreeSet, HashMap};

use acorn_proto::agent::Change;
use acorn_proto::findings::Finding;
use serde_json::Value;

use crate::rules::{Ctx, controller_of, evaluate};
use crate::snapshot::{ObjKey, Snapshot, event_subject};
use crate::value::{arr, s};

/// A snapshot and its findings per subject.
#[derive(Debug, Default)]
pub struct Analyzer {
    snapshot: Snapshot,
    by_subject: HashMap<ObjKey, Vec<Finding>>,
}

impl Analyzer {
    /// Takes `snapshot` and evaluates every subject at `now`.
    pub fn new(snapshot: Snapshot, now: i64) -> Analyzer {
        let mut a = Analyzer {
            snapshot,
            by_subject: HashMap::new(),
        };
        a.reevaluate_all(now);
        a
    }

    /// The snapshot.
    pub fn snapshot(&self) -> &Snapshot {
        &self.snapshot
    }

    /// Evaluates every subject again (time-dependent rules; see the module docs).
    pub fn reevaluate_all(&mut self, now: i64) {
        let ctx = Ctx {
            snap: &self.snapshot,
            now,
        };
        let mut by_subject: HashMap<ObjKey, Vec<Finding>> = HashMap::new();
        for (key, object) in self.snapshot.iter() {
            let mut out = Vec::new();
            evaluate(&ctx, key, object, &mut out);
            if !out.is_empty() {
                by_subject.insert(key.clone(), out);
            }
        }
        self.by_subject = by_subject;
    }

    /// Applies agent deltas and re-evaluates the subjects they affect; returns how many
    /// subjects were evaluated.
    pub fn apply(&mut self, changes: Vec<Change>, now: i64) -> usize {
        let mut dirty = BTreeSet::new();
        for change in changes {
            let key = match &change {
                Change::Applied { resource } => ObjKey::of(&resource.key),
                Change::Deleted { key } => ObjKey::of(key),
            };
            if let Some(old) = self.snapshot.get(&key) {
                affected(&self.snapshot, &key, old, &mut dirty);
            }
            self.snapshot.apply(change);
            if let Some(new) = self.snapshot.get(&key) {
                affected(&self.snapshot, &key, new, &mut dirty);
            }
            dirty.insert(key);
        }
        let ctx = Ctx {
            snap: &self.snapshot,
            now,
        };
        for key in &dirty {
            let mut out = Vec::new();
            if let Some(object) = self.snapshot.get(key) {
                evaluate(&ctx, key, object, &mut out);
            }
            if out.is_empty() {
                self.by_subject.remove(key);
            } else {
                self.by_subject.insert(key.clone(), out);
            }
        }
        dirty.len()
    }

    /// Every current finding, most severe first.
    pub fn findings(&self) -> Vec<Finding> {
        let mut out: Vec<Finding> = self.by_subject.values().flatten().cloned().collect();
        crate::sort(&mut out);
        out
    }
}

/// The owner chain of an object (a pod's ReplicaSet and Deployment, a Job's CronJob).
fn owners(snap: &Snapshot, key: &ObjKey, object: &Value, dirty: &mut BTreeSet<ObjKey>) {
    let mut current = controller_of(key, object);
    let mut depth = 0;
    while let Some(owner) = current {
        depth += 1;
        if depth > 4 || !dirty.insert(owner.clone()) {
            break;
        }
        current = snap.get(&owner).and_then(|o| controller_of(&owner, o));
    }
}

/// Adds to `dirty` every subject whose findings may read `object` (see the module docs).
pub(crate) fn affected(
    snap: &Snapshot,
    key: &ObjKey,
    object: &Value,
    dirty: &mut BTreeSet<ObjKey>,
) {
    dirty.insert(key.clone());
    owners(snap, key, object, dirty);
    let ns = key.namespace.as_str();
    match key.kind.as_str() {
        "Event" => {
            if let Some(subject) = event_subject(key, object) {
                if let Some(o) = snap.get(&subject) {
                    owners(snap, &subject, o, dirty);
                }
                dirty.insert(subject);
            }
        }
        "Pod" => {
            // Services selecting it (any Service of the namespace: cheap next to a full pass).
            dirty.extend(snap.in_namespace("Service", ns).map(|(k, _)| k.clone()));
            if let Some(node) = s(object, "spec.nodeName") {
                dirty.insert(ObjKey::new("Node", "", node));
            }
            for v in arr(object, "spec.volumes") {
                if let Some(claim) = s(v, "persistentVolumeClaim.claimName") {
                    dirty.insert(ObjKey::new("PersistentVolumeClaim", ns, claim));
                }
            }
        }
        "PodMetrics" => {
            dirty.insert(ObjKey::new("Pod", ns, &key.name));
        }
        "NodeMetrics" => {
            dirty.insert(ObjKey::new("Node", "", &key.name));
        }
        "Node" => {
            dirty.extend(snap.pods_on(&key.name).iter().cloned());
        }
        "Service" => {
            dirty.extend(snap.in_namespace("Ingress", ns).map(|(k, _)| k.clone()));
        }
        "Ingress" => {
            dirty.extend(snap.in_namespace("Service", ns).map(|(k, _)| k.clone()));
        }
        "Endpoints" => {
            dirty.insert(ObjKey::new("Service", ns, &key.name));
        }
        "StorageClass" => {
            dirty.extend(
                snap.of_kind("PersistentVolumeClaim")
                    .map(|(k, _)| k.clone()),
            );
        }
        "PersistentVolumeClaim" => {
            dirty.extend(
                snap.in_namespace("Pod", ns)
                    .filter(|(_, p)| {
                        arr(p, "spec.volumes").iter().any(|v| {
                            s(v, "persistentVolumeClaim.claimName") == Some(key.name.as_str())
                        })
                    })
                    .map(|(k, _)| k.clone()),
            );
        }
        "ConfigMap" | "Secret" => {
            dirty.extend(
                snap.in_namespace("Pod", ns)
                    .filter(|(_, p)| {
                        arr(p, "status.containerStatuses").iter().any(|c| {
                            s(c, "state.waiting.reason") == Some("CreateContainerConfigError")
                        })
                    })
                    .map(|(k, _)| k.clone()),
            );
        }
        "Job" => {
            // A CronJob's Jobs judge each other ("is this the latest run?").
            if let Some(cron) = controller_of(key, object).filter(|o| o.kind == "CronJob") {
                dirty.extend(snap.children(&cron).iter().cloned());
            }
        }
        "ReplicaSet" => {
            dirty.extend(snap.children(key).iter().cloned());
        }
        _ => {}
    }
}
