//! The analyzers' view of a cluster: the agent's trimmed objects, indexed once.
//!
//! Objects are kept as the agent sent them (`serde_json::Value` inside a
//! [`Resource`]), keyed by kind, namespace and name ([`ObjKey`], ordered so that "every pod" or
//! "the services of namespace X" is one range of the map). Beside them, indexes that the rules
//! need so that a pass over 10,000 pods never scans the snapshot once per object:
//! - owner → children (from `metadata.ownerReferences`, by owner kind and name: scenario and
//!   generated objects do not always carry real uids);
//! - involved object → events (`involvedObject` of core/v1 Events);
//! - node → pods (`spec.nodeName`);
//! - (namespace, label key, label value) → pods, for Service selectors.
//!
//! [`Snapshot::apply`] keeps all of them current under deltas ([`Change`]), so the appliance
//! can hold one snapshot per cluster and feed it the agent's deltas.
//!
//! Logs are not part of the agent's snapshot; a caller that has some (a scenario folder,
//! `acorn analyze` against a live cluster) hands them over with [`Snapshot::set_logs`].

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::ops::Bound;

use acorn_proto::agent::{Change, Resource, ResourceKey};
use acorn_proto::findings::ObjectRef;
use serde_json::Value;

use crate::value::{arr, obj, s};

/// Identity of an object in a [`Snapshot`]: kind, namespace (empty for cluster-scoped objects)
/// and name. The API group is left out: the kinds the agent watches are unambiguous by kind.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct ObjKey {
    /// `Pod`, `Deployment`, …
    pub kind: String,
    /// Empty for cluster-scoped objects.
    pub namespace: String,
    /// `metadata.name`.
    pub name: String,
}

impl ObjKey {
    /// A key.
    pub fn new(kind: &str, namespace: &str, name: &str) -> ObjKey {
        ObjKey {
            kind: kind.to_string(),
            namespace: namespace.to_string(),
            name: name.to_string(),
        }
    }

    /// The key of a [`ResourceKey`].
    pub fn of(key: &ResourceKey) -> ObjKey {
        ObjKey::new(
            &key.kind,
            key.namespace.as_deref().unwrap_or_default(),
            &key.name,
        )
    }

    /// `Kind/namespace/name`, or `Kind/name` when cluster-scoped (the evidence source prefix).
    pub fn display(&self) -> String {
        if self.namespace.is_empty() {
            format!("{}/{}", self.kind, self.name)
        } else {
            format!("{}/{}/{}", self.kind, self.namespace, self.name)
        }
    }

    /// The wire form.
    pub fn object_ref(&self) -> ObjectRef {
        ObjectRef {
            kind: self.kind.clone(),
            namespace: (!self.namespace.is_empty()).then(|| self.namespace.clone()),
            name: self.name.clone(),
        }
    }
}

/// Log lines by (namespace, pod, container, previous), oldest first.
pub type Logs = HashMap<(String, String, String, bool), Vec<String>>;

/// Kinds whose objects are cluster-scoped (for events whose `involvedObject` has no namespace).
const CLUSTER_SCOPED: &[&str] = &[
    "Node",
    "Namespace",
    "PersistentVolume",
    "StorageClass",
    "NodeMetrics",
    "ClusterRole",
    "ClusterRoleBinding",
    "CustomResourceDefinition",
];

/// A cluster's objects and their indexes (see the module docs).
#[derive(Debug, Default, Clone)]
pub struct Snapshot {
    objects: BTreeMap<ObjKey, Resource>,
    children: HashMap<ObjKey, BTreeSet<ObjKey>>,
    events: HashMap<ObjKey, BTreeSet<ObjKey>>,
    pods_by_node: HashMap<String, BTreeSet<ObjKey>>,
    pods_by_label: HashMap<(String, String, String), BTreeSet<ObjKey>>,
    logs: Logs,
}

/// What an object contributes to the indexes; computed from the object alone so that the
/// same entries can be removed when it changes.
struct Derived {
    owners: Vec<ObjKey>,
    involved: Option<ObjKey>,
    node: Option<String>,
    labels: Vec<(String, String, String)>,
}

fn derive(key: &ObjKey, object: &Value) -> Derived {
    let owners = arr(object, "metadata.ownerReferences")
        .iter()
        .filter_map(|o| Some(ObjKey::new(s(o, "kind")?, &key.namespace, s(o, "name")?)))
        .collect();
    let involved = if key.kind == "Event" {
        event_subject(key, object)
    } else {
        None
    };
    let (node, labels) = if key.kind == "Pod" {
        let node = s(object, "spec.nodeName")
            .filter(|n| !n.is_empty())
            .map(str::to_string);
        let labels = obj(object, "metadata.labels")
            .map(|m| {
                m.iter()
                    .filter_map(|(k, v)| {
                        Some((key.namespace.clone(), k.clone(), v.as_str()?.to_string()))
                    })
                    .collect()
            })
            .unwrap_or_default();
        (node, labels)
    } else {
        (None, Vec::new())
    };
    Derived {
        owners,
        involved,
        node,
        labels,
    }
}

/// The object an event is about.
pub(crate) fn event_subject(key: &ObjKey, event: &Value) -> Option<ObjKey> {
    // core/v1 names it involvedObject; events.k8s.io/v1 (should one be fed) names it regarding.
    let io = event
        .get("involvedObject")
        .or_else(|| event.get("regarding"))?;
    let kind = s(io, "kind")?;
    let name = s(io, "name")?;
    let namespace = match s(io, "namespace") {
        Some(ns) => ns,
        None if CLUSTER_SCOPED.contains(&kind) => "",
        None => key.namespace.as_str(),
    };
    Some(ObjKey::new(kind, namespace, name))
}

fn index_add<K: std::hash::Hash + Eq>(map: &mut HashMap<K, BTreeSet<ObjKey>>, k: K, v: &ObjKey) {
    map.entry(k).or_default().insert(v.clone());
}

fn index_remove<K: std::hash::Hash + Eq>(map: &mut HashMap<K, BTreeSet<ObjKey>>, k: K, v: &ObjKey) {
    if let Some(set) = map.get_mut(&k) {
        set.remove(v);
        if set.is_empty() {
            map.remove(&k);
        }
    }
}

static EMPTY: BTreeSet<ObjKey> = BTreeSet::new();

impl Snapshot {
    /// An empty snapshot.
    pub fn new() -> Snapshot {
        Snapshot::default()
    }

    /// A snapshot of `resources` (later duplicates replace earlier ones).
    pub fn from_resources(resources: impl IntoIterator<Item = Resource>) -> Snapshot {
        let mut snapshot = Snapshot::new();
        for resource in resources {
            snapshot.upsert(resource);
        }
        snapshot
    }

    /// Gives the analyzers container logs (optional: every rule works without them).
    pub fn set_logs(&mut self, logs: Logs) {
        self.logs = logs;
    }

    /// Number of objects.
    pub fn len(&self) -> usize {
        self.objects.len()
    }

    /// Whether the snapshot holds no object.
    pub fn is_empty(&self) -> bool {
        self.objects.is_empty()
    }

    /// Adds or replaces one object.
    pub fn upsert(&mut self, resource: Resource) {
        let key = ObjKey::of(&resource.key);
        self.remove(&key);
        self.index(&key, &resource.object, true);
        self.objects.insert(key, resource);
    }

    /// Removes one object (no-op when absent).
    pub fn remove(&mut self, key: &ObjKey) -> Option<Resource> {
        let old = self.objects.remove(key)?;
        self.index(key, &old.object, false);
        Some(old)
    }

    /// Applies an agent delta.
    pub fn apply(&mut self, change: Change) {
        match change {
            Change::Applied { resource } => self.upsert(resource),
            Change::Deleted { key } => {
                self.remove(&ObjKey::of(&key));
            }
        }
    }

    fn index(&mut self, key: &ObjKey, object: &Value, add: bool) {
        let d = derive(key, object);
        for owner in d.owners {
            if add {
                index_add(&mut self.children, owner, key);
            } else {
                index_remove(&mut self.children, owner, key);
            }
        }
        if let Some(subject) = d.involved {
            if add {
                index_add(&mut self.events, subject, key);
            } else {
                index_remove(&mut self.events, subject, key);
            }
        }
        if let Some(node) = d.node {
            if add {
                index_add(&mut self.pods_by_node, node, key);
            } else {
                index_remove(&mut self.pods_by_node, node, key);
            }
        }
        for label in d.labels {
            if add {
                index_add(&mut self.pods_by_label, label, key);
            } else {
                index_remove(&mut self.pods_by_label, label, key);
            }
        }
    }

    /// One object.
    pub fn get(&self, key: &ObjKey) -> Option<&Value> {
        self.objects.get(key).map(|r| &r.object)
    }

    /// One object by kind, namespace and name.
    pub fn find(&self, kind: &str, namespace: &str, name: &str) -> Option<&Value> {
        self.get(&ObjKey::new(kind, namespace, name))
    }

    /// Every object, in key order.
    pub fn iter(&self) -> impl Iterator<Item = (&ObjKey, &Value)> {
        self.objects.iter().map(|(k, r)| (k, &r.object))
    }

    /// Every object of `kind`.
    pub fn of_kind<'a>(&'a self, kind: &str) -> impl Iterator<Item = (&'a ObjKey, &'a Value)> {
        let lo = ObjKey::new(kind, "", "");
        let hi = ObjKey::new(&format!("{kind}\0"), "", "");
        self.objects
            .range((Bound::Included(lo), Bound::Excluded(hi)))
            .map(|(k, r)| (k, &r.object))
    }

    /// Every object of `kind` in `namespace`.
    pub fn in_namespace<'a>(
        &'a self,
        kind: &str,
        namespace: &str,
    ) -> impl Iterator<Item = (&'a ObjKey, &'a Value)> {
        let lo = ObjKey::new(kind, namespace, "");
        let hi = ObjKey::new(kind, &format!("{namespace}\0"), "");
        self.objects
            .range((Bound::Included(lo), Bound::Excluded(hi)))
            .map(|(k, r)| (k, &r.object))
    }

    /// Whether any object of `kind` is in the snapshot (a kind the agent could not list, e.g.
    /// forbidden by RBAC, has none: rules then do not conclude that an object is missing).
    pub fn has_kind(&self, kind: &str) -> bool {
        self.of_kind(kind).next().is_some()
    }

    /// Objects whose `ownerReferences` name `owner`.
    pub fn children(&self, owner: &ObjKey) -> &BTreeSet<ObjKey> {
        self.children.get(owner).unwrap_or(&EMPTY)
    }

    /// Events about `subject`.
    pub fn events_of(&self, subject: &ObjKey) -> &BTreeSet<ObjKey> {
        self.events.get(subject).unwrap_or(&EMPTY)
    }

    /// Pods bound to `node`.
    pub fn pods_on(&self, node: &str) -> &BTreeSet<ObjKey> {
        self.pods_by_node.get(node).unwrap_or(&EMPTY)
    }

    /// Pods of `namespace` whose labels contain every pair of `selector` (a Service selector:
    /// equality only). The shortest posting list is filtered by the other pairs.
    pub fn pods_matching(&self, namespace: &str, selector: &[(&str, &str)]) -> Vec<ObjKey> {
        let Some(smallest) = selector
            .iter()
            .map(|(k, v)| {
                self.pods_by_label
                    .get(&(namespace.to_string(), k.to_string(), v.to_string()))
                    .unwrap_or(&EMPTY)
            })
            .min_by_key(|set| set.len())
        else {
            return Vec::new();
        };
        smallest
            .iter()
            .filter(|key| {
                self.get(key)
                    .is_some_and(|pod| selector.iter().all(|(k, v)| label(pod, k) == Some(*v)))
            })
            .cloned()
            .collect()
    }

    /// Log lines of a container (empty when not given).
    pub fn log(&self, namespace: &str, pod: &str, container: &str, previous: bool) -> &[String] {
        self.logs
            .get(&(
                namespace.to_string(),
                pod.to_string(),
                container.to_string(),
                previous,
            ))
            .map(Vec::as_slice)
            .unwrap_or(&[])
    }

    /// The current value behind an [`Evidence`](acorn_proto::findings::Evidence) source, in the
    /// evidence's text form; `None` when the source does not resolve. Lets a console link
    /// evidence to the object, and the tests prove every evidence text is really there.
    pub fn resolve(&self, source: &str) -> Option<String> {
        crate::evidence::resolve(self, source)
    }
}

/// A pod label's value.
pub(crate) fn label<'a>(object: &'a Value, key: &str) -> Option<&'a str> {
    object.get("metadata")?.get("labels")?.get(key)?.as_str()
}
