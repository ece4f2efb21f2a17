//! The agent's picture of the cluster: every trimmed object, kept serialized, plus the changes
//! not yet sent to the appliance.
//!
//! Memory: each object is stored once, as the JSON text of its [`Resource`] in an `Arc<str>`
//! (about 1.5 KiB for a typical pod, against several times that as a `serde_json::Value` or a
//! typed k8s-openapi struct). A snapshot copies only the `Arc`s, and frames are assembled by
//! concatenating the stored texts, so neither a snapshot nor a delta re-serializes objects.
//!
//! Consistency: [`Picture::begin_snapshot`] takes the copy and starts the delta stream under the
//! same lock, so the snapshot is the state at one instant and the deltas are exactly the changes
//! after it. Changes are only queued while a connection streams; without one, the next snapshot
//! carries them. A queue that grows past [`MAX_PENDING_CHANGES`] (a connection that cannot keep
//! up) is dropped and replaced by a fresh snapshot.
//!
//! Relists: each watcher is a *scope* (a kind, and a namespace when watched per namespace).
//! When a watcher (re)lists, the objects of its scope that the list no longer contains are
//! deleted, so a watch gap never leaves ghosts.

use std::collections::{BTreeMap, HashSet, VecDeque};
use std::sync::{Arc, Mutex, MutexGuard};

use acorn_proto::agent::{Change, NamespaceFilter, ResourceKey};
use tokio::sync::{Notify, watch};

/// A queue longer than this is replaced by a fresh snapshot.
pub const MAX_PENDING_CHANGES: usize = 50_000;
/// Deltas are sent when this many changes are queued (or every batching interval).
pub const DELTA_BATCH_CHANGES: usize = 500;

/// Identifies one watcher's scope.
pub type ScopeId = usize;

/// How a scope is doing.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ScopeState {
    /// The first list has not finished.
    Pending,
    /// Listed at least once.
    Synced,
    /// RBAC forbids listing it: skipped (reported, not fatal).
    Forbidden(String),
    /// Not served by this cluster (e.g. no metrics-server): skipped.
    Absent,
}

struct Scope {
    label: String,
    api_version: String,
    kind: String,
    namespace: Option<String>,
    state: ScopeState,
    /// While a relist runs: the keys (namespace, name) it has listed so far.
    relist: Option<HashSet<(Option<String>, String)>>,
}

struct Pending {
    key: ResourceKey,
    json: Option<Arc<str>>,
}

struct Stream {
    filter: NamespaceFilter,
    changes: VecDeque<Pending>,
    overflowed: bool,
}

#[derive(Default)]
struct Inner {
    objects: BTreeMap<ResourceKey, Arc<str>>,
    scopes: Vec<Scope>,
    stream: Option<Stream>,
}

/// A full snapshot: the objects in view at one instant.
pub struct Snapshot {
    /// Serialized [`Resource`](acorn_proto::agent::Resource)s, in key order.
    pub entries: Vec<Arc<str>>,
    /// Objects per kind.
    pub counts: BTreeMap<String, u64>,
}

/// What [`Picture::take_delta`] found.
#[derive(Debug, PartialEq)]
pub enum DeltaTake {
    /// No change is queued.
    Nothing,
    /// A `delta` frame with `changes` changes.
    Frame {
        /// The frame's JSON text.
        json: String,
        /// How many changes it carries.
        changes: usize,
    },
    /// The queue overflowed: send a fresh snapshot instead.
    Overflow,
}

/// The picture (see the module docs). Shared behind an `Arc` by the watchers and the link.
pub struct Picture {
    inner: Mutex<Inner>,
    delta_ready: Notify,
    synced: watch::Sender<bool>,
}

impl Default for Picture {
    fn default() -> Self {
        Picture::new()
    }
}

/// Whether `key` is inside `filter`. A Namespace object is in view when its namespace is.
pub fn in_view(filter: &NamespaceFilter, key: &ResourceKey) -> bool {
    if key.api_version == "v1" && key.kind == "Namespace" {
        return filter.allows(Some(&key.name));
    }
    filter.allows(key.namespace.as_deref())
}

impl Picture {
    /// An empty picture with no scope.
    pub fn new() -> Picture {
        Picture {
            inner: Mutex::new(Inner::default()),
            delta_ready: Notify::new(),
            synced: watch::Sender::new(false),
        }
    }

    fn lock(&self) -> MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Registers a watcher's scope; every scope must finish its first list (or be skipped)
    /// before the picture counts as synced.
    pub fn register_scope(
        &self,
        api_version: &str,
        kind: &str,
        namespace: Option<&str>,
    ) -> ScopeId {
        let mut inner = self.lock();
        let label = match namespace {
            Some(ns) => format!("{api_version}/{kind} in {ns}"),
            None => format!("{api_version}/{kind}"),
        };
        inner.scopes.push(Scope {
            label,
            api_version: api_version.into(),
            kind: kind.into(),
            namespace: namespace.map(str::to_string),
            state: ScopeState::Pending,
            relist: None,
        });
        self.synced.send_replace(false);
        inner.scopes.len() - 1
    }

    fn push(inner: &mut Inner, key: &ResourceKey, json: Option<Arc<str>>, notify: &Notify) {
        let Some(stream) = inner.stream.as_mut() else {
            return;
        };
        if stream.overflowed || !in_view(&stream.filter, key) {
            return;
        }
        if stream.changes.len() >= MAX_PENDING_CHANGES {
            stream.changes.clear();
            stream.overflowed = true;
            notify.notify_one();
            return;
        }
        stream.changes.push_back(Pending {
            key: key.clone(),
            json,
        });
        if stream.changes.len() >= DELTA_BATCH_CHANGES {
            notify.notify_one();
        }
    }

    /// A relist of `scope` starts.
    pub fn relist_begin(&self, scope: ScopeId) {
        if let Some(s) = self.lock().scopes.get_mut(scope) {
            s.relist = Some(HashSet::new());
        }
    }

    /// An object was created or changed (or listed).
    pub fn upsert(&self, scope: ScopeId, key: ResourceKey, json: String) {
        let mut inner = self.lock();
        if let Some(relist) = inner.scopes.get_mut(scope).and_then(|s| s.relist.as_mut()) {
            relist.insert((key.namespace.clone(), key.name.clone()));
        }
        if inner.objects.get(&key).is_some_and(|old| **old == *json) {
            return;
        }
        let json: Arc<str> = Arc::from(json);
        Picture::push(&mut inner, &key, Some(json.clone()), &self.delta_ready);
        inner.objects.insert(key, json);
    }

    /// An object was deleted.
    pub fn remove(&self, key: &ResourceKey) {
        let mut inner = self.lock();
        if inner.objects.remove(key).is_some() {
            Picture::push(&mut inner, key, None, &self.delta_ready);
        }
    }

    /// The relist of `scope` is complete: objects it did not list are gone.
    pub fn relist_done(&self, scope: ScopeId) {
        let mut inner = self.lock();
        let Some(s) = inner.scopes.get_mut(scope) else {
            return;
        };
        let seen = s.relist.take().unwrap_or_default();
        s.state = ScopeState::Synced;
        let (api_version, kind, namespace) =
            (s.api_version.clone(), s.kind.clone(), s.namespace.clone());
        let gone: Vec<ResourceKey> = inner
            .objects
            .keys()
            .filter(|k| {
                k.api_version == api_version
                    && k.kind == kind
                    && (namespace.is_none() || k.namespace == namespace)
                    && !seen.contains(&(k.namespace.clone(), k.name.clone()))
            })
            .cloned()
            .collect();
        for key in gone {
            inner.objects.remove(&key);
            Picture::push(&mut inner, &key, None, &self.delta_ready);
        }
        self.update_synced(&inner);
    }

    /// `scope` is skipped (forbidden or absent); whatever it held is removed.
    pub fn skip_scope(&self, scope: ScopeId, state: ScopeState) {
        // An empty relist deletes whatever the scope held.
        self.relist_begin(scope);
        self.relist_done(scope);
        let mut inner = self.lock();
        if let Some(s) = inner.scopes.get_mut(scope) {
            s.state = state;
        }
        self.update_synced(&inner);
    }

    fn update_synced(&self, inner: &Inner) {
        let all = inner.scopes.iter().all(|s| s.state != ScopeState::Pending);
        self.synced
            .send_if_modified(|v| std::mem::replace(v, all) != all);
    }

    /// Whether every scope finished its first list (or was skipped).
    pub fn is_synced(&self) -> bool {
        *self.synced.borrow()
    }

    /// Waits until [`Picture::is_synced`].
    pub async fn wait_synced(&self) {
        let mut rx = self.synced.subscribe();
        let _ = rx.wait_for(|s| *s).await;
    }

    /// Scopes skipped because RBAC forbids them, with the API server's message.
    pub fn forbidden(&self) -> Vec<String> {
        self.lock()
            .scopes
            .iter()
            .filter_map(|s| match &s.state {
                ScopeState::Forbidden(msg) => Some(format!("{}: {msg}", s.label)),
                _ => None,
            })
            .collect()
    }

    /// Scopes whose first list has not finished.
    pub fn pending(&self) -> Vec<String> {
        self.lock()
            .scopes
            .iter()
            .filter(|s| s.state == ScopeState::Pending)
            .map(|s| s.label.clone())
            .collect()
    }

    /// Number of objects held.
    pub fn len(&self) -> usize {
        self.lock().objects.len()
    }

    /// Whether no object is held.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Copies the objects in view of `filter` and (re)starts the delta stream after them.
    pub fn begin_snapshot(&self, filter: &NamespaceFilter) -> Snapshot {
        let mut inner = self.lock();
        let mut counts = BTreeMap::new();
        let entries = inner
            .objects
            .iter()
            .filter(|(k, _)| in_view(filter, k))
            .map(|(k, v)| {
                *counts.entry(k.kind.clone()).or_insert(0u64) += 1;
                v.clone()
            })
            .collect();
        inner.stream = Some(Stream {
            filter: filter.clone(),
            changes: VecDeque::new(),
            overflowed: false,
        });
        Snapshot { entries, counts }
    }

    /// The connection ended: stop queueing changes.
    pub fn end_stream(&self) {
        self.lock().stream = None;
    }

    /// Waits until a full batch is queued (or the queue overflowed).
    pub async fn batch_ready(&self) {
        self.delta_ready.notified().await;
    }

    /// Takes queued changes into one `delta` frame of at most `max_changes` changes and about
    /// `max_bytes` bytes (a single change is never split).
    pub fn take_delta(&self, max_changes: usize, max_bytes: usize) -> DeltaTake {
        let mut inner = self.lock();
        let Some(stream) = inner.stream.as_mut() else {
            return DeltaTake::Nothing;
        };
        if stream.overflowed {
            stream.overflowed = false;
            return DeltaTake::Overflow;
        }
        if stream.changes.is_empty() {
            return DeltaTake::Nothing;
        }
        let mut json = String::from(r#"{"type":"delta","changes":["#);
        let mut changes = 0;
        while changes < max_changes {
            let Some(next) = stream.changes.front() else {
                break;
            };
            let piece = match &next.json {
                Some(resource) => format!(r#"{{"op":"applied","resource":{resource}}}"#),
                None => serde_json::to_string(&Change::Deleted {
                    key: next.key.clone(),
                })
                .unwrap_or_default(),
            };
            if changes > 0 && json.len() + piece.len() + 3 > max_bytes {
                break;
            }
            if changes > 0 {
                json.push(',');
            }
            json.push_str(&piece);
            changes += 1;
            stream.changes.pop_front();
        }
        json.push_str("]}");
        DeltaTake::Frame { json, changes }
    }
}

/// Splits a snapshot's entries into `snapshot_chunk` frames of at most `max_frame` bytes each
/// (an entry is at most [`super::trim::MAX_OBJECT_BYTES`], well under any sane `max_frame`),
/// one frame at a time so that a large snapshot is never assembled whole.
pub struct Chunks<'a> {
    head: String,
    entries: std::slice::Iter<'a, Arc<str>>,
    next: Option<&'a Arc<str>>,
    max_frame: usize,
}

impl<'a> Chunks<'a> {
    /// Chunks of `entries` for snapshot `snapshot`.
    pub fn new(snapshot: u64, entries: &'a [Arc<str>], max_frame: usize) -> Chunks<'a> {
        let mut entries = entries.iter();
        let next = entries.next();
        Chunks {
            head: format!(r#"{{"type":"snapshot_chunk","snapshot":{snapshot},"resources":["#),
            entries,
            next,
            max_frame,
        }
    }
}

impl Iterator for Chunks<'_> {
    type Item = String;

    fn next(&mut self) -> Option<String> {
        const TAIL: &str = "]}";
        let first = self.next.take()?;
        let mut frame = self.head.clone();
        frame.push_str(first);
        for entry in self.entries.by_ref() {
            if frame.len() + 1 + entry.len() + TAIL.len() > self.max_frame {
                self.next = Some(entry);
                break;
            }
            frame.push(',');
            frame.push_str(entry);
        }
        frame.push_str(TAIL);
        Some(frame)
    }
}

/// All chunk frames of a snapshot at once (see [`Chunks`]).
pub fn chunk_frames(snapshot: u64, entries: &[Arc<str>], max_frame: usize) -> Vec<String> {
    Chunks::new(snapshot, entries, max_frame).collect()
}

#[cfg(test)]
mod tests {
    use acorn_proto::agent::{AgentMessage, MAX_FRAME_BYTES, Resource};
    use serde_json::json;

    use super::*;
    use crate::snapshot::trim::to_resource;

    fn pod(ns: &str, name: &str, rv: &str, pad: usize) -> (ResourceKey, String) {
        to_resource(
            "v1",
            "Pod",
            json!({"metadata": {"name": name, "namespace": ns, "resourceVersion": rv},
                   "spec": {"nodeName": "x".repeat(pad)}}),
        )
        .unwrap()
    }

    fn ns_filter(include: &[&str], exclude: &[&str]) -> NamespaceFilter {
        NamespaceFilter {
            include: include.iter().map(|s| s.to_string()).collect(),
            exclude: exclude.iter().map(|s| s.to_string()).collect(),
        }
    }

    #[test]
    fn chunks_stay_under_the_limit_and_parse() {
        let entries: Vec<Arc<str>> = (0..3000)
            .map(|i| Arc::from(pod("scale", &format!("p{i:05}"), "1", (i * 37) % 3000).1))
            .collect();
        let limit = 1024 * 1024;
        let frames = chunk_frames(7, &entries, limit);
        assert!(frames.len() > 1, "{} frames", frames.len());
        let mut names = Vec::new();
        for f in &frames {
            assert!(f.len() <= limit && f.len() < MAX_FRAME_BYTES, "{}", f.len());
            match serde_json::from_str::<AgentMessage>(f).unwrap() {
                AgentMessage::SnapshotChunk {
                    snapshot,
                    resources,
                } => {
                    assert_eq!(snapshot, 7);
                    names.extend(resources.into_iter().map(|r| r.key.name));
                }
                other => panic!("{other:?}"),
            }
        }
        assert_eq!(names.len(), 3000, "every object exactly once");
        assert_eq!(names[0], "p00000");
        assert!(chunk_frames(1, &[], limit).is_empty());
    }

    #[test]
    fn snapshot_and_deltas_respect_the_namespace_filter() {
        let p = Picture::new();
        let s = p.register_scope("v1", "Pod", None);
        let n = p.register_scope("v1", "Namespace", None);
        for ns in ["shop", "web", "kube-system"] {
            let (k, j) = pod(ns, "a", "1", 0);
            p.upsert(s, k, j);
            let (k, j) = to_resource("v1", "Namespace", json!({"metadata": {"name": ns}})).unwrap();
            p.upsert(n, k, j);
        }
        let filter = ns_filter(&["shop", "kube-system"], &["kube-system"]);
        let snap = p.begin_snapshot(&filter);
        let names: Vec<Resource> = snap
            .entries
            .iter()
            .map(|e| serde_json::from_str(e).unwrap())
            .collect();
        assert_eq!(names.len(), 2, "the pod and namespace of shop only");
        assert!(
            names
                .iter()
                .all(|r| r.key.namespace.as_deref() == Some("shop") || r.key.name == "shop")
        );
        assert_eq!(snap.counts.get("Pod"), Some(&1));

        // Changes in view are queued in order; others are not.
        let (k, j) = pod("web", "b", "2", 0);
        p.upsert(s, k, j);
        let (k, j) = pod("shop", "b", "3", 0);
        p.upsert(s, k.clone(), j.clone());
        p.upsert(s, k.clone(), j); // unchanged: no change queued
        p.remove(&k);
        match p.take_delta(500, 1 << 20) {
            DeltaTake::Frame { json, changes } => {
                assert_eq!(changes, 2);
                match serde_json::from_str::<AgentMessage>(&json).unwrap() {
                    AgentMessage::Delta { changes } => {
                        assert!(
                            matches!(&changes[0], Change::Applied { resource } if resource.key.name == "b")
                        );
                        assert!(matches!(&changes[1], Change::Deleted { key } if key.name == "b"));
                    }
                    other => panic!("{other:?}"),
                }
            }
            other => panic!("{other:?}"),
        }
        assert_eq!(p.take_delta(500, 1 << 20), DeltaTake::Nothing);
        p.end_stream();
        let (k, j) = pod("shop", "c", "4", 0);
        p.upsert(s, k, j);
        assert_eq!(
            p.take_delta(500, 1 << 20),
            DeltaTake::Nothing,
            "no stream, no queue"
        );
    }

    #[test]
    fn relists_delete_what_disappeared_and_sync_waits_for_every_scope() {
        let p = Picture::new();
        let pods = p.register_scope("v1", "Pod", Some("shop"));
        let nodes = p.register_scope("v1", "Node", None);
        let secrets = p.register_scope("v1", "Secret", None);
        p.relist_begin(pods);
        for name in ["a", "b", "c"] {
            let (k, j) = pod("shop", name, "1", 0);
            p.upsert(pods, k, j);
        }
        // A pod of another namespace's scope must survive this scope's relists.
        let (k, j) = pod("web", "z", "1", 0);
        p.upsert(pods + 100, k, j);
        p.relist_done(pods);
        assert!(!p.is_synced());
        p.relist_begin(nodes);
        p.relist_done(nodes);
        assert!(!p.is_synced());
        p.skip_scope(
            secrets,
            ScopeState::Forbidden("secrets is forbidden".into()),
        );
        assert!(p.is_synced());
        assert_eq!(p.forbidden(), vec!["v1/Secret: secrets is forbidden"]);

        let _ = p.begin_snapshot(&NamespaceFilter::default());
        p.relist_begin(pods);
        let (k, j) = pod("shop", "a", "1", 0);
        p.upsert(pods, k, j);
        let (k, j) = pod("shop", "b", "5", 0);
        p.upsert(pods, k, j);
        p.relist_done(pods);
        assert_eq!(p.len(), 3, "c is gone, a and b and web/z stay");
        let DeltaTake::Frame { json, changes } = p.take_delta(500, 1 << 20) else {
            panic!("no delta")
        };
        assert_eq!(changes, 2, "b changed, c deleted; a unchanged: {json}");
    }

    #[test]
    fn deltas_are_bounded_and_overflow_asks_for_a_snapshot() {
        let p = Picture::new();
        let s = p.register_scope("v1", "Pod", None);
        let _ = p.begin_snapshot(&NamespaceFilter::default());
        for i in 0..1200 {
            let (k, j) = pod("a", &format!("p{i}"), "1", 2000);
            p.upsert(s, k, j);
        }
        let mut total = 0;
        while let DeltaTake::Frame { json, changes } = p.take_delta(DELTA_BATCH_CHANGES, 256 * 1024)
        {
            assert!(changes <= DELTA_BATCH_CHANGES);
            assert!(json.len() <= 256 * 1024 + 4096, "{}", json.len());
            total += changes;
        }
        assert_eq!(total, 1200);
        for i in 0..=MAX_PENDING_CHANGES {
            let (k, j) = pod("a", &format!("q{i}"), "1", 0);
            p.upsert(s, k, j);
        }
        assert_eq!(p.take_delta(500, 1 << 20), DeltaTake::Overflow);
    }
}
