//! The object store: every object as JSON, one global resourceVersion, a bounded event window
//! per collection and live fan-out to watchers.
//!
//! Layout: [`Store`] holds one [`Collection`] per resource type behind a single mutex (writes
//! are short; the global resourceVersion makes one lock the simplest correct design). Each write
//! bumps the version, stamps `metadata`, appends an [`Event`] to the collection's window and
//! broadcasts it. Watches subscribe under the same lock, so replay plus live stream has no gap.
//! Paginated lists are served from a snapshot taken at the first page (consistent pages);
//! snapshots are bounded and expire, and an unknown continue token is the API server's 410.
//!
//! The store does not know HTTP; it returns [`ApiError`]s that the server renders.

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::sync::{Arc, Mutex, MutexGuard, OnceLock};
use std::time::{Duration, Instant};

use base64::Engine;
use serde_json::{Value, json};
use tokio::sync::broadcast;

use crate::error::ApiError;
use crate::resources::{Registry, ResourceType, TypeId};
use crate::time::now_rfc3339;

/// Events kept per collection for watch replay.
pub const DEFAULT_WINDOW: usize = 2048;
/// Paginated-list snapshots kept at once, and their lifetime (etcd's compaction interval).
const MAX_SNAPSHOTS: usize = 64;
const SNAPSHOT_TTL: Duration = Duration::from_secs(300);

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EventType {
    Added,
    Modified,
    Deleted,
}

impl EventType {
    pub fn as_str(self) -> &'static str {
        match self {
            EventType::Added => "ADDED",
            EventType::Modified => "MODIFIED",
            EventType::Deleted => "DELETED",
        }
    }
}

/// One change of one object.
#[derive(Debug, Clone)]
pub struct Event {
    pub rv: u64,
    pub kind: EventType,
    pub object: Arc<Value>,
    /// The state before a modification (to tell watchers with selectors that an object left).
    pub previous: Option<Arc<Value>>,
    /// The object serialised once, shared by every watcher that sends it as is.
    encoded: OnceLock<Vec<u8>>,
}

impl Event {
    pub fn new(
        rv: u64,
        kind: EventType,
        object: Arc<Value>,
        previous: Option<Arc<Value>>,
    ) -> Event {
        Event {
            rv,
            kind,
            object,
            previous,
            encoded: OnceLock::new(),
        }
    }

    /// The object's JSON.
    pub fn encoded(&self) -> &[u8] {
        self.encoded
            .get_or_init(|| serde_json::to_vec(self.object.as_ref()).unwrap_or_default())
    }
}

type Key = (String, String);

struct Collection {
    objects: BTreeMap<Key, Arc<Value>>,
    window: VecDeque<Arc<Event>>,
    /// Every event of this collection newer than `floor` is in `window`.
    floor: u64,
    tx: broadcast::Sender<Arc<Event>>,
}

struct Snapshot {
    rv: u64,
    items: Arc<Vec<Arc<Value>>>,
    created: Instant,
}

struct Inner {
    rv: u64,
    collections: HashMap<TypeId, Collection>,
    snapshots: HashMap<u64, Snapshot>,
    snapshot_order: VecDeque<u64>,
    next_snapshot: u64,
    next_uid: u64,
}

/// Where a watch starts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WatchFrom {
    /// No version or "0": synthetic ADDED events for the current state, then live.
    Current,
    /// Events newer than this version.
    After(u64),
}

/// A started watch: events to send first, then the live receiver.
pub struct WatchStart {
    pub replay: Vec<Arc<Event>>,
    pub live: broadcast::Receiver<Arc<Event>>,
    pub rv: u64,
}

/// One page of a list.
pub struct ListPage {
    pub rv: u64,
    pub items: Vec<Arc<Value>>,
    pub continue_token: Option<String>,
    pub remaining: Option<usize>,
}

/// The object store.
pub struct Store {
    registry: Arc<Registry>,
    inner: Mutex<Inner>,
    window: usize,
}

/// Name and namespace of an object.
pub fn object_key(object: &Value) -> Key {
    let text = |p: &str| {
        object
            .pointer(p)
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_string()
    };
    (text("/metadata/namespace"), text("/metadata/name"))
}

/// `metadata.resourceVersion` as a number (0 when absent or not a number).
pub fn resource_version(object: &Value) -> u64 {
    object
        .pointer("/metadata/resourceVersion")
        .and_then(Value::as_str)
        .and_then(|s| s.parse().ok())
        .unwrap_or(0)
}

/// Everything except `metadata` and `status`: a change here bumps `metadata.generation`.
fn spec_part(object: &Value) -> Value {
    let mut copy = object.clone();
    if let Some(map) = copy.as_object_mut() {
        map.remove("metadata");
        map.remove("status");
    }
    copy
}

impl Store {
    pub fn new(registry: Arc<Registry>, window: usize) -> Store {
        Store {
            registry,
            inner: Mutex::new(Inner {
                rv: 1,
                collections: HashMap::new(),
                snapshots: HashMap::new(),
                snapshot_order: VecDeque::new(),
                next_snapshot: 1,
                next_uid: 1,
            }),
            window: window.max(1),
        }
    }

    pub fn registry(&self) -> &Registry {
        &self.registry
    }

    fn lock(&self) -> MutexGuard<'_, Inner> {
        // A poisoned lock only means another request panicked mid-write; the data is still the
        // last consistent state, so keep serving.
        self.inner
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    fn ty(&self, id: TypeId) -> Result<&ResourceType, ApiError> {
        self.registry.get(id).ok_or_else(ApiError::path_not_found)
    }

    /// The current global resourceVersion.
    pub fn current_rv(&self) -> u64 {
        self.lock().rv
    }

    pub fn get(&self, id: TypeId, namespace: &str, name: &str) -> Result<Arc<Value>, ApiError> {
        let ty = self.ty(id)?;
        let inner = self.lock();
        inner
            .collections
            .get(&id)
            .and_then(|c| c.objects.get(&(namespace.to_string(), name.to_string())))
            .cloned()
            .ok_or_else(|| ApiError::not_found(ty, name))
    }

    /// All objects of a type (optionally one namespace) that pass `filter`, sorted by key.
    pub fn list_all(
        &self,
        id: TypeId,
        namespace: Option<&str>,
        filter: &dyn Fn(&Value) -> bool,
    ) -> (u64, Vec<Arc<Value>>) {
        let inner = self.lock();
        let items = match inner.collections.get(&id) {
            Some(c) => collect(c, namespace, filter),
            None => vec![],
        };
        (inner.rv, items)
    }

    /// One page of a list (`limit` 0 = everything).
    pub fn list(
        &self,
        id: TypeId,
        namespace: Option<&str>,
        filter: &dyn Fn(&Value) -> bool,
        limit: usize,
        continue_token: Option<&str>,
    ) -> Result<ListPage, ApiError> {
        let mut inner = self.lock();
        let now = Instant::now();
        inner
            .snapshots
            .retain(|_, s| now.duration_since(s.created) < SNAPSHOT_TTL);
        let (snapshot_id, rv, items, offset) = match continue_token {
            Some(token) => {
                let (sid, offset) = decode_token(token)?;
                let snapshot = inner.snapshots.get(&sid).ok_or_else(continue_expired)?;
                (sid, snapshot.rv, snapshot.items.clone(), offset)
            }
            None => {
                let items = match inner.collections.get(&id) {
                    Some(c) => collect(c, namespace, filter),
                    None => vec![],
                };
                if limit == 0 || items.len() <= limit {
                    return Ok(ListPage {
                        rv: inner.rv,
                        items,
                        continue_token: None,
                        remaining: None,
                    });
                }
                let sid = inner.next_snapshot;
                inner.next_snapshot += 1;
                let rv = inner.rv;
                let items = Arc::new(items);
                inner.snapshots.insert(
                    sid,
                    Snapshot {
                        rv,
                        items: items.clone(),
                        created: now,
                    },
                );
                inner.snapshot_order.push_back(sid);
                while inner.snapshot_order.len() > MAX_SNAPSHOTS {
                    if let Some(old) = inner.snapshot_order.pop_front() {
                        inner.snapshots.remove(&old);
                    }
                }
                (sid, rv, items, 0)
            }
        };
        let end = if limit == 0 {
            items.len()
        } else {
            (offset + limit).min(items.len())
        };
        let page: Vec<Arc<Value>> = items
            .get(offset.min(end)..end)
            .map(<[_]>::to_vec)
            .unwrap_or_default();
        let more = end < items.len();
        Ok(ListPage {
            rv,
            items: page,
            continue_token: more.then(|| encode_token(snapshot_id, end, rv)),
            remaining: more.then(|| items.len() - end),
        })
    }

    /// Forgets every pagination snapshot: the next continue gets 410 Expired.
    pub fn expire_continue_tokens(&self) {
        let mut inner = self.lock();
        inner.snapshots.clear();
        inner.snapshot_order.clear();
    }

    /// Drops every watch window ("compaction"): a watch from any version issued so far gets
    /// 410. The global version moves one step so that a relist yields a watchable version.
    pub fn compact(&self) {
        let mut inner = self.lock();
        inner.rv += 1;
        let rv = inner.rv;
        for c in inner.collections.values_mut() {
            c.window.clear();
            c.floor = rv;
        }
        inner.snapshots.clear();
        inner.snapshot_order.clear();
    }

    /// Subscribes to a collection, with the replay that `from` asks for.
    pub fn watch(&self, id: TypeId, from: WatchFrom) -> Result<WatchStart, ApiError> {
        let mut inner = self.lock();
        let rv = inner.rv;
        let window = self.window;
        let collection = collection_mut(&mut inner.collections, id, rv, window);
        let live = collection.tx.subscribe();
        let replay = match from {
            WatchFrom::Current => collection
                .objects
                .values()
                .map(|o| {
                    Arc::new(Event::new(
                        resource_version(o),
                        EventType::Added,
                        o.clone(),
                        None,
                    ))
                })
                .collect(),
            WatchFrom::After(since) => {
                if since < collection.floor {
                    return Err(ApiError::expired(format!(
                        "too old resource version: {since} ({})",
                        collection.floor + 1
                    )));
                }
                collection
                    .window
                    .iter()
                    .filter(|e| e.rv > since)
                    .cloned()
                    .collect()
            }
        };
        Ok(WatchStart { replay, live, rv })
    }

    fn new_uid(inner: &mut Inner) -> String {
        let n = inner.next_uid;
        inner.next_uid += 1;
        // Deterministic, UUID-shaped: reproducible runs, unique within one simulator.
        format!(
            "6b1c0d2e-{:04x}-4{:03x}-a{:03x}-{:012x}",
            (n >> 40) & 0xffff,
            (n >> 28) & 0xfff,
            (n >> 16) & 0xfff,
            n
        )
    }

    /// Stores a new object. `keep_metadata` keeps a scenario's own creationTimestamp/uid.
    pub fn create(
        &self,
        id: TypeId,
        object: Value,
        keep_metadata: bool,
    ) -> Result<Arc<Value>, ApiError> {
        self.create_opts(id, object, keep_metadata, false)
    }

    /// [`Store::create`]; with `dry_run` (`?dryRun=All`) every check runs and nothing is stored.
    pub fn create_opts(
        &self,
        id: TypeId,
        mut object: Value,
        keep_metadata: bool,
        dry_run: bool,
    ) -> Result<Arc<Value>, ApiError> {
        let ty = self.ty(id)?;
        let key = object_key(&object);
        let mut inner = self.lock();
        let rv = inner.rv + 1;
        let window = self.window;
        if collection_mut(&mut inner.collections, id, rv - 1, window)
            .objects
            .contains_key(&key)
        {
            return Err(ApiError::already_exists(ty, &key.1));
        }
        let uid = Self::new_uid(&mut inner);
        {
            let Some(meta) = object.get_mut("metadata").and_then(Value::as_object_mut) else {
                return Err(ApiError::bad_request("metadata is required"));
            };
            if !keep_metadata || !meta.contains_key("uid") {
                meta.insert("uid".into(), json!(uid));
            }
            if !keep_metadata || !meta.contains_key("creationTimestamp") {
                meta.insert("creationTimestamp".into(), json!(now_rfc3339()));
            }
            if !keep_metadata || !meta.contains_key("generation") {
                meta.insert("generation".into(), json!(1));
            }
            meta.insert("resourceVersion".into(), json!(rv.to_string()));
            if !ty.namespaced {
                meta.remove("namespace");
            }
        }
        if dry_run {
            if let Some(meta) = object.get_mut("metadata").and_then(Value::as_object_mut) {
                meta.remove("resourceVersion");
            }
            return Ok(Arc::new(object));
        }
        let object = Arc::new(object);
        inner.rv = rv;
        let collection = collection_mut(&mut inner.collections, id, rv - 1, window);
        collection.objects.insert(key, object.clone());
        record(
            collection,
            Event::new(rv, EventType::Added, object.clone(), None),
            window,
        );
        Ok(object)
    }

    /// Replaces an object with what `change` makes of the current one. `change` gets the
    /// current object and returns the new one; metadata that clients may not change (uid,
    /// creationTimestamp) is restored, the version bumped, and `generation` bumped when
    /// anything outside metadata and status changed. A `resourceVersion` in the new object
    /// that differs from the stored one is a 409 Conflict.
    pub fn update(
        &self,
        id: TypeId,
        namespace: &str,
        name: &str,
        change: impl FnOnce(&Value) -> Result<Value, ApiError>,
    ) -> Result<Arc<Value>, ApiError> {
        self.update_opts(id, namespace, name, false, change)
    }

    /// [`Store::update`]; with `dry_run` the result is computed and checked, not stored.
    pub fn update_opts(
        &self,
        id: TypeId,
        namespace: &str,
        name: &str,
        dry_run: bool,
        change: impl FnOnce(&Value) -> Result<Value, ApiError>,
    ) -> Result<Arc<Value>, ApiError> {
        let ty = self.ty(id)?;
        let key = (namespace.to_string(), name.to_string());
        let mut inner = self.lock();
        let rv = inner.rv + 1;
        let window = self.window;
        let collection = collection_mut(&mut inner.collections, id, rv - 1, window);
        let current = collection
            .objects
            .get(&key)
            .cloned()
            .ok_or_else(|| ApiError::not_found(ty, name))?;
        let mut next = change(&current)?;
        if !next.is_object() {
            return Err(ApiError::bad_request("the object must be a JSON object"));
        }
        let (_, next_name) = object_key(&next);
        if !next_name.is_empty() && next_name != name {
            return Err(ApiError::bad_request(format!(
                "the name of the object ({next_name}) does not match the name on the URL ({name})"
            )));
        }
        let stated = next
            .pointer("/metadata/resourceVersion")
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_string();
        if !stated.is_empty()
            && stated
                != current
                    .pointer("/metadata/resourceVersion")
                    .and_then(Value::as_str)
                    .unwrap_or_default()
        {
            return Err(ApiError::conflict(ty, name));
        }
        let generation = current
            .pointer("/metadata/generation")
            .and_then(Value::as_i64)
            .unwrap_or(1);
        let spec_changed = spec_part(&current) != spec_part(&next);
        if next.get("metadata").is_none_or(|m| !m.is_object()) {
            next["metadata"] = json!({});
        }
        if let Some(meta) = next.get_mut("metadata").and_then(Value::as_object_mut) {
            for field in [
                "uid",
                "creationTimestamp",
                "namespace",
                "name",
                "deletionTimestamp",
            ] {
                match current.pointer(&format!("/metadata/{field}")) {
                    Some(v) => {
                        meta.insert(field.into(), v.clone());
                    }
                    None => {
                        meta.remove(field);
                    }
                }
            }
            meta.insert(
                "generation".into(),
                json!(if spec_changed {
                    generation + 1
                } else {
                    generation
                }),
            );
            meta.insert(
                "resourceVersion".into(),
                current
                    .pointer("/metadata/resourceVersion")
                    .cloned()
                    .unwrap_or(Value::Null),
            );
        }
        if next == *current {
            // A no-op write does not bump the version (the API server skips it too).
            return Ok(current);
        }
        if dry_run {
            return Ok(Arc::new(next));
        }
        next["metadata"]["resourceVersion"] = json!(rv.to_string());
        let object = Arc::new(next);
        collection.objects.insert(key, object.clone());
        inner.rv = rv;
        let collection = collection_mut(&mut inner.collections, id, rv - 1, window);
        record(
            collection,
            Event::new(rv, EventType::Modified, object.clone(), Some(current)),
            window,
        );
        Ok(object)
    }

    /// Deletes an object. With finalizers it only gets a `deletionTimestamp` (and stays);
    /// `precondition` checks `uid`/`resourceVersion` first (409 when they differ).
    pub fn delete(
        &self,
        id: TypeId,
        namespace: &str,
        name: &str,
        precondition: &dyn Fn(&Value) -> Result<(), ApiError>,
    ) -> Result<Arc<Value>, ApiError> {
        self.delete_opts(id, namespace, name, false, precondition)
    }

    /// [`Store::delete`]; with `dry_run` the checks run and the object stays.
    pub fn delete_opts(
        &self,
        id: TypeId,
        namespace: &str,
        name: &str,
        dry_run: bool,
        precondition: &dyn Fn(&Value) -> Result<(), ApiError>,
    ) -> Result<Arc<Value>, ApiError> {
        let ty = self.ty(id)?;
        let key = (namespace.to_string(), name.to_string());
        let mut inner = self.lock();
        let rv = inner.rv + 1;
        let window = self.window;
        let collection = collection_mut(&mut inner.collections, id, rv - 1, window);
        let current = collection
            .objects
            .get(&key)
            .cloned()
            .ok_or_else(|| ApiError::not_found(ty, name))?;
        precondition(&current)?;
        if dry_run {
            return Ok(current);
        }
        let has_finalizers = current
            .pointer("/metadata/finalizers")
            .and_then(Value::as_array)
            .is_some_and(|f| !f.is_empty());
        let mut last = (*current).clone();
        if let Some(meta) = last.get_mut("metadata").and_then(Value::as_object_mut) {
            meta.insert("resourceVersion".into(), json!(rv.to_string()));
            if has_finalizers && !meta.contains_key("deletionTimestamp") {
                meta.insert("deletionTimestamp".into(), json!(now_rfc3339()));
                meta.insert("deletionGracePeriodSeconds".into(), json!(0));
            }
        }
        let object = Arc::new(last);
        let event = if has_finalizers {
            if current.pointer("/metadata/deletionTimestamp").is_some() {
                return Ok(current);
            }
            collection.objects.insert(key, object.clone());
            Event::new(rv, EventType::Modified, object.clone(), Some(current))
        } else {
            collection.objects.remove(&key);
            Event::new(rv, EventType::Deleted, object.clone(), None)
        };
        inner.rv = rv;
        let collection = collection_mut(&mut inner.collections, id, rv - 1, window);
        record(collection, event, window);
        Ok(object)
    }

    /// Number of objects of a type.
    pub fn count(&self, id: TypeId) -> usize {
        self.lock()
            .collections
            .get(&id)
            .map_or(0, |c| c.objects.len())
    }
}

fn collection_mut(
    collections: &mut HashMap<TypeId, Collection>,
    id: TypeId,
    rv: u64,
    window: usize,
) -> &mut Collection {
    collections.entry(id).or_insert_with(|| Collection {
        objects: BTreeMap::new(),
        window: VecDeque::with_capacity(window.min(1024)),
        floor: rv,
        tx: broadcast::channel(window.max(16)).0,
    })
}

fn collect(
    c: &Collection,
    namespace: Option<&str>,
    filter: &dyn Fn(&Value) -> bool,
) -> Vec<Arc<Value>> {
    match namespace {
        Some(ns) => c
            .objects
            .range((ns.to_string(), String::new())..)
            .take_while(|((n, _), _)| n == ns)
            .map(|(_, o)| o)
            .filter(|o| filter(o))
            .cloned()
            .collect(),
        None => c.objects.values().filter(|o| filter(o)).cloned().collect(),
    }
}

fn record(collection: &mut Collection, event: Event, window: usize) {
    let event = Arc::new(event);
    collection.window.push_back(event.clone());
    while collection.window.len() > window {
        if let Some(old) = collection.window.pop_front() {
            collection.floor = old.rv;
        }
    }
    // No receivers is fine: nobody is watching.
    let _ = collection.tx.send(event);
}

/// The 410 for a continue token whose snapshot is gone.
pub fn continue_expired() -> ApiError {
    ApiError::expired(
        "The provided continue parameter is too old to display a consistent list result. You can start a new list without the continue parameter, or use the continue token in this response to retrieve the remainder of the results. Continuing with the provided token results in an inconsistent list - objects that were created, modified, or deleted between the time the first chunk was returned and now may show up in the list.",
    )
}

fn encode_token(snapshot: u64, offset: usize, rv: u64) -> String {
    let raw =
        json!({"v": "kubesim/1", "snapshot": snapshot, "offset": offset, "rv": rv}).to_string();
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(raw)
}

fn decode_token(token: &str) -> Result<(u64, usize), ApiError> {
    let bad = || ApiError::bad_request(format!("continue key is not valid: {token}"));
    let raw = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(token.trim_end_matches('='))
        .map_err(|_| bad())?;
    let value: Value = serde_json::from_slice(&raw).map_err(|_| bad())?;
    let snapshot = value
        .get("snapshot")
        .and_then(Value::as_u64)
        .ok_or_else(bad)?;
    let offset = value
        .get("offset")
        .and_then(Value::as_u64)
        .ok_or_else(bad)?;
    Ok((snapshot, usize::try_from(offset).map_err(|_| bad())?))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn store(window: usize) -> (Store, TypeId) {
        let registry = Arc::new(Registry::builtin());
        let id = registry
            .by_path("", "v1", "configmaps")
            .unwrap_or_else(|| panic!("configmaps"));
        (Store::new(registry, window), id)
    }

    fn cm(name: &str) -> Value {
        json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": name, "namespace": "ns"}, "data": {"k": "v"}})
    }

    #[test]
    fn writes_stamp_metadata_and_bump_versions() {
        let (store, id) = store(10);
        let a = store
            .create(id, cm("a"), false)
            .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(a["metadata"]["resourceVersion"], "2");
        assert_eq!(a["metadata"]["generation"], 1);
        assert!(a["metadata"]["uid"].as_str().is_some_and(|u| u.len() == 36));
        assert_eq!(
            store.create(id, cm("a"), false).map_err(|e| e.reason),
            Err("AlreadyExists")
        );
        // A change outside metadata bumps generation; a no-op keeps the version.
        let b = store
            .update(id, "ns", "a", |c| {
                let mut n = c.clone();
                n["data"]["k"] = json!("w");
                Ok(n)
            })
            .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(
            (
                b["metadata"]["resourceVersion"].clone(),
                b["metadata"]["generation"].clone()
            ),
            (json!("3"), json!(2))
        );
        let same = store
            .update(id, "ns", "a", |c| Ok(c.clone()))
            .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(same["metadata"]["resourceVersion"], "3");
        // A stale resourceVersion is the API server's Conflict.
        let stale = store
            .update(id, "ns", "a", |_| Ok(a.as_ref().clone()))
            .map_err(|e| e.message);
        assert_eq!(stale, Err("Operation cannot be fulfilled on configmaps \"a\": the object has been modified; please apply your changes to the latest version and try again".into()));
    }

    #[test]
    fn watch_windows_replay_and_expire() {
        let (store, id) = store(3);
        for name in ["a", "b", "c", "d", "e"] {
            store
                .create(id, cm(name), false)
                .unwrap_or_else(|e| panic!("{e}"));
        }
        // rv 2..=6 were written; the window holds the last 3 (4, 5, 6).
        let replay = |since| {
            store
                .watch(id, WatchFrom::After(since))
                .map(|w| w.replay.iter().map(|e| e.rv).collect::<Vec<_>>())
        };
        assert_eq!(replay(3).ok(), Some(vec![4, 5, 6]));
        assert_eq!(replay(5).ok(), Some(vec![6]));
        assert_eq!(
            replay(2).map_err(|e| (e.code, e.reason)).err(),
            Some((410, "Expired"))
        );
        let current = store
            .watch(id, WatchFrom::Current)
            .map(|w| w.replay.len())
            .ok();
        assert_eq!(current, Some(5));
        store.compact();
        assert!(
            replay(6).is_err(),
            "every version issued before compaction is gone"
        );
        assert_eq!(replay(store.current_rv()).ok(), Some(vec![]));
    }

    #[test]
    fn pages_come_from_one_snapshot() {
        let (store, id) = store(100);
        for i in 0..5 {
            store
                .create(id, cm(&format!("cm-{i}")), false)
                .unwrap_or_else(|e| panic!("{e}"));
        }
        let all = |_: &Value| true;
        let first = store
            .list(id, Some("ns"), &all, 2, None)
            .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!((first.items.len(), first.remaining), (2, Some(3)));
        store
            .create(id, cm("cm-late"), false)
            .unwrap_or_else(|e| panic!("{e}"));
        let token = first.continue_token.clone().unwrap_or_default();
        let second = store
            .list(id, Some("ns"), &all, 10, Some(&token))
            .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(
            (second.items.len(), second.rv, second.continue_token),
            (3, first.rv, None),
            "the late object is not in this list"
        );
        store.expire_continue_tokens();
        assert_eq!(
            store
                .list(id, Some("ns"), &all, 2, Some(&token))
                .map(|_| ())
                .map_err(|e| e.code),
            Err(410)
        );
        assert_eq!(
            store
                .list(id, Some("other"), &all, 2, None)
                .map(|p| p.items.len())
                .ok(),
            Some(0)
        );
    }

    #[test]
    fn finalizers_delay_deletion() {
        let (store, id) = store(10);
        let mut o = cm("f");
        o["metadata"]["finalizers"] = json!(["example.com/hold"]);
        store.create(id, o, false).unwrap_or_else(|e| panic!("{e}"));
        let deleted = store
            .delete(id, "ns", "f", &|_| Ok(()))
            .unwrap_or_else(|e| panic!("{e}"));
        assert!(deleted["metadata"]["deletionTimestamp"].is_string());
        assert!(
            store.get(id, "ns", "f").is_ok(),
            "kept until the finalizer is removed"
        );
        store
            .create(id, cm("g"), false)
            .unwrap_or_else(|e| panic!("{e}"));
        store
            .delete(id, "ns", "g", &|_| Ok(()))
            .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(
            store.get(id, "ns", "g").map_err(|e| e.code).err(),
            Some(404)
        );
    }
}
