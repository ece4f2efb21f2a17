//! Clusters: their registration, agent keys, what their agent last reported, and the persisted
//! picture of each cluster (the objects of its last full snapshot with the deltas since applied).
//!
//! Invariants:
//! - Agent keys are never stored: only the SHA-256 of the key, which the caller computes.
//! - A full snapshot replaces a cluster's objects in one transaction, so readers see either the
//!   old picture or the new one, never a mix.
//! - A snapshot or delta that would take a cluster over its byte budget writes nothing but the
//!   error in the cluster's [`SnapshotInfo`].
//! - Deleting a cluster (or its workspace) deletes its keys and objects in the same transaction.

use std::collections::BTreeMap;

use redb::{ReadableDatabase, ReadableTable, WriteTransaction};
use serde::{Deserialize, Serialize};

use acorn_proto::agent::{Change, ClusterFacts, NamespaceFilter, Resource, ResourceKey, ToolSpec};

use crate::audit::{AuditDraft, append_in, check_draft};
use crate::schema::{
    AGENT_KEY_IDS, AGENT_KEYS, CLUSTER_OBJECTS, CLUSTERS, encode, pair_key, prefix_range,
};
use crate::store::read_record;
use crate::{Store, StoreError};

pub use acorn_proto::clusters::RbacScope;

/// A registered cluster.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Cluster {
    /// `clu_` + 16 hex.
    pub id: String,
    pub workspace_id: String,
    /// Unique within the workspace.
    pub name: String,
    pub namespaces: NamespaceFilter,
    pub rbac_scope: RbacScope,
    pub write_allowed: bool,
    pub logs_allowed: bool,
    /// Image reference for the install instructions; `None` = the appliance's default.
    pub agent_image: Option<String>,
    pub created_at: i64,
    /// User id of the registering admin.
    pub created_by: String,
    /// What the agent said when it last connected.
    #[serde(default)]
    pub agent: Option<AgentInfo>,
    /// The builtin tool catalog from the agent's last hello or capability change.
    #[serde(default)]
    pub tools: Vec<ToolSpec>,
    #[serde(default)]
    pub snapshot: SnapshotInfo,
    /// A newly opened critical finding starts a read-only investigation (off by default;
    /// records written before it existed read as off).
    #[serde(default)]
    pub auto_triage: bool,
}

/// What the agent reported about itself, and when it was last heard from.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AgentInfo {
    pub agent_version: String,
    pub pod_name: Option<String>,
    pub facts: ClusterFacts,
    pub write_enabled: bool,
    pub connected_at: i64,
    pub last_seen_at: i64,
    /// Set when the connection ended (or was found dead).
    pub disconnected_at: Option<i64>,
}

/// The state of the persisted picture of a cluster.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct SnapshotInfo {
    /// When the last full snapshot completed (`None`: never).
    pub complete_at: Option<i64>,
    /// When the last delta was applied.
    pub updated_at: Option<i64>,
    /// Objects per kind.
    pub counts: BTreeMap<String, u64>,
    /// Bytes of the stored objects (JSON).
    pub bytes: u64,
    /// Why the last snapshot or delta was refused, if it was.
    pub error: Option<String>,
}

/// An agent key, stored under the SHA-256 of the key string.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AgentKey {
    /// `agk_` + 16 hex.
    pub id: String,
    pub workspace_id: String,
    pub cluster_id: String,
    pub created_at: i64,
    /// Set on rotation: the key keeps working until then (the overlap window).
    pub expires_at: Option<i64>,
}

/// The changes an admin may make to a registered cluster; `None` keeps the current value.
#[derive(Debug, Clone, Default)]
pub struct ClusterUpdate {
    pub name: Option<String>,
    pub namespaces: Option<NamespaceFilter>,
    pub rbac_scope: Option<RbacScope>,
    pub write_allowed: Option<bool>,
    pub logs_allowed: Option<bool>,
    pub agent_image: Option<Option<String>>,
    pub auto_triage: Option<bool>,
}

type Answer<T> = Result<Result<T, StoreError>, StoreError>;

fn not_found(what: &str) -> StoreError {
    StoreError::NotFound {
        what: what.to_string(),
    }
}

/// `cluster 0x00 kind 0x00 namespace 0x00 name`; cluster-scoped objects have an empty namespace.
fn object_key(cluster_id: &str, key: &ResourceKey) -> Vec<u8> {
    let ns = key.namespace.as_deref().unwrap_or("");
    let mut k = pair_key(cluster_id, &key.kind);
    k.push(0);
    k.extend_from_slice(ns.as_bytes());
    k.push(0);
    k.extend_from_slice(key.name.as_bytes());
    k
}

/// The range of keys of one kind (and namespace) of a cluster.
fn object_range(
    cluster_id: &str,
    kind: Option<&str>,
    namespace: Option<&str>,
) -> (Vec<u8>, Vec<u8>) {
    let mut prefix = cluster_id.to_string();
    if let Some(kind) = kind {
        prefix.push('\0');
        prefix.push_str(kind);
        if let Some(ns) = namespace {
            prefix.push('\0');
            prefix.push_str(ns);
        }
    }
    prefix_range(&prefix)
}

fn read_cluster(
    txn: &WriteTransaction,
    workspace_id: &str,
    cluster_id: &str,
) -> Result<Option<Cluster>, StoreError> {
    let table = txn.open_table(CLUSTERS)?;
    read_record(&table, CLUSTERS, &pair_key(workspace_id, cluster_id))
}

fn write_cluster(txn: &WriteTransaction, cluster: &Cluster) -> Result<(), StoreError> {
    txn.open_table(CLUSTERS)?.insert(
        pair_key(&cluster.workspace_id, &cluster.id).as_slice(),
        encode(cluster)?.as_slice(),
    )?;
    Ok(())
}

fn name_taken(
    txn: &WriteTransaction,
    workspace_id: &str,
    name: &str,
    except: &str,
) -> Result<bool, StoreError> {
    let table = txn.open_table(CLUSTERS)?;
    let (start, end) = prefix_range(workspace_id);
    for entry in table.range(start.as_slice()..end.as_slice())? {
        let (_, v) = entry?;
        let c: Cluster =
            crate::schema::decode(v.value()).map_err(|reason| StoreError::BadRecord {
                table: "clusters".into(),
                key: workspace_id.into(),
                reason,
            })?;
        if c.name == name && c.id != except {
            return Ok(true);
        }
    }
    Ok(false)
}

fn insert_key(txn: &WriteTransaction, key: &AgentKey, hash: &[u8; 32]) -> Result<(), StoreError> {
    txn.open_table(AGENT_KEYS)?
        .insert(hash.as_slice(), encode(key)?.as_slice())?;
    txn.open_table(AGENT_KEY_IDS)?.insert(
        pair_key(&key.cluster_id, &key.id).as_slice(),
        encode(&hex::encode(hash))?.as_slice(),
    )?;
    Ok(())
}

/// Removes a cluster's keys and objects (not the cluster record).
fn remove_cluster_data(txn: &WriteTransaction, cluster_id: &str) -> Result<(), StoreError> {
    let mut ids = txn.open_table(AGENT_KEY_IDS)?;
    let mut keys = txn.open_table(AGENT_KEYS)?;
    let (start, end) = prefix_range(cluster_id);
    let index: Vec<(Vec<u8>, String)> = ids
        .range(start.as_slice()..end.as_slice())?
        .map(|e| {
            let (k, v) = e?;
            Ok((
                k.value().to_vec(),
                crate::schema::decode::<String>(v.value()).unwrap_or_default(),
            ))
        })
        .collect::<Result<_, StoreError>>()?;
    for (k, hash_hex) in index {
        if let Ok(hash) = hex::decode(&hash_hex) {
            keys.remove(hash.as_slice())?;
        }
        ids.remove(k.as_slice())?;
    }
    drop((ids, keys));
    txn.open_table(crate::schema::FINDINGS)?
        .remove(cluster_id.as_bytes())?;
    clear_objects(txn, cluster_id)
}

fn clear_objects(txn: &WriteTransaction, cluster_id: &str) -> Result<(), StoreError> {
    let (start, end) = object_range(cluster_id, None, None);
    txn.open_table(CLUSTER_OBJECTS)?
        .retain_in(start.as_slice()..end.as_slice(), |_, _| false)?;
    Ok(())
}

/// Deletes every cluster of a workspace with its keys and objects (workspace deletion).
pub(crate) fn delete_clusters_of_workspace(
    txn: &WriteTransaction,
    workspace_id: &str,
) -> Result<(), StoreError> {
    let ids: Vec<String> = {
        let table = txn.open_table(CLUSTERS)?;
        let (start, end) = prefix_range(workspace_id);
        let mut out = Vec::new();
        for entry in table.range(start.as_slice()..end.as_slice())? {
            let (k, _) = entry?;
            let (_, id) =
                crate::schema::split_pair(k.value()).map_err(|reason| StoreError::BadRecord {
                    table: "clusters".into(),
                    key: crate::schema::show_key(k.value()),
                    reason,
                })?;
            out.push(id.to_string());
        }
        out
    };
    for id in ids {
        remove_cluster_data(txn, &id)?;
        txn.open_table(CLUSTERS)?
            .remove(pair_key(workspace_id, &id).as_slice())?;
    }
    Ok(())
}

fn kind_count_key(key: &ResourceKey) -> String {
    key.kind.clone()
}

/// Applies one change to the objects table and the running totals; returns nothing.
fn apply_change(
    objects: &mut redb::Table<'_, &'static [u8], &'static [u8]>,
    cluster_id: &str,
    info: &mut SnapshotInfo,
    change: &Change,
) -> Result<(), StoreError> {
    match change {
        Change::Applied { resource } => {
            let k = object_key(cluster_id, &resource.key);
            let bytes = encode(resource)?;
            match objects.insert(k.as_slice(), bytes.as_slice())? {
                Some(old) => info.bytes = info.bytes.saturating_sub(old.value().len() as u64),
                None => {
                    *info
                        .counts
                        .entry(kind_count_key(&resource.key))
                        .or_default() += 1
                }
            }
            info.bytes += bytes.len() as u64;
        }
        Change::Deleted { key } => {
            if let Some(old) = objects.remove(object_key(cluster_id, key).as_slice())? {
                info.bytes = info.bytes.saturating_sub(old.value().len() as u64);
                let kind = kind_count_key(key);
                if let Some(n) = info.counts.get_mut(&kind) {
                    *n = n.saturating_sub(1);
                    if *n == 0 {
                        info.counts.remove(&kind);
                    }
                }
            }
        }
    }
    Ok(())
}

fn budget_error(bytes: u64, budget: u64) -> String {
    format!(
        "the cluster's picture would take {bytes} bytes, over its budget of {budget} bytes; \
         narrow the agent's namespaces or raise clusters.snapshot_budget_bytes"
    )
}

impl Store {
    /// Registers a cluster with its first agent key. `ClusterNameTaken` if the workspace has a
    /// cluster of that name; `NotFound` if the workspace is gone.
    pub async fn register_cluster(
        &self,
        cluster: Cluster,
        key: AgentKey,
        key_hash: [u8; 32],
        audit: AuditDraft,
    ) -> Result<Cluster, StoreError> {
        check_draft(&audit)?;
        self.submit(move |txn| -> Answer<Cluster> {
            let ws = txn.open_table(crate::schema::WORKSPACES)?;
            if ws.get(cluster.workspace_id.as_bytes())?.is_none() {
                return Ok(Err(not_found("workspace")));
            }
            drop(ws);
            if name_taken(txn, &cluster.workspace_id, &cluster.name, &cluster.id)? {
                return Ok(Err(StoreError::ClusterNameTaken {
                    name: cluster.name.clone(),
                }));
            }
            write_cluster(txn, &cluster)?;
            insert_key(txn, &key, &key_hash)?;
            append_in(txn, &audit)?;
            Ok(Ok(cluster.clone()))
        })
        .await?
    }

    /// One cluster of a workspace.
    pub fn cluster(
        &self,
        workspace_id: &str,
        cluster_id: &str,
    ) -> Result<Option<Cluster>, StoreError> {
        self.get_record(CLUSTERS, &pair_key(workspace_id, cluster_id))
    }

    /// The clusters of a workspace, by id.
    pub fn clusters(&self, workspace_id: &str) -> Result<Vec<Cluster>, StoreError> {
        let txn = self.db().begin_read()?;
        let table = txn.open_table(CLUSTERS)?;
        let (start, end) = prefix_range(workspace_id);
        let mut out = Vec::new();
        for entry in table.range(start.as_slice()..end.as_slice())? {
            let (k, v) = entry?;
            out.push(
                crate::schema::decode(v.value()).map_err(|reason| StoreError::BadRecord {
                    table: "clusters".into(),
                    key: crate::schema::show_key(k.value()),
                    reason,
                })?,
            );
        }
        Ok(out)
    }

    /// Every cluster of every workspace (the findings service's periodic pass).
    pub fn all_clusters(&self) -> Result<Vec<Cluster>, StoreError> {
        let txn = self.db().begin_read()?;
        let table = txn.open_table(CLUSTERS)?;
        let mut out = Vec::new();
        for entry in table.iter()? {
            let (k, v) = entry?;
            out.push(
                crate::schema::decode(v.value()).map_err(|reason| StoreError::BadRecord {
                    table: "clusters".into(),
                    key: crate::schema::show_key(k.value()),
                    reason,
                })?,
            );
        }
        Ok(out)
    }

    /// Changes a cluster's settings. `NotFound`, `ClusterNameTaken`.
    pub async fn update_cluster(
        &self,
        workspace_id: &str,
        cluster_id: &str,
        update: ClusterUpdate,
        audit: AuditDraft,
    ) -> Result<Cluster, StoreError> {
        check_draft(&audit)?;
        let (ws, id) = (workspace_id.to_string(), cluster_id.to_string());
        self.submit(move |txn| -> Answer<Cluster> {
            let Some(mut c) = read_cluster(txn, &ws, &id)? else {
                return Ok(Err(not_found("cluster")));
            };
            let u = update.clone();
            if let Some(name) = u.name {
                if name_taken(txn, &ws, &name, &id)? {
                    return Ok(Err(StoreError::ClusterNameTaken { name }));
                }
                c.name = name;
            }
            if let Some(v) = u.namespaces {
                c.namespaces = v;
            }
            if let Some(v) = u.rbac_scope {
                c.rbac_scope = v;
            }
            if let Some(v) = u.write_allowed {
                c.write_allowed = v;
            }
            if let Some(v) = u.logs_allowed {
                c.logs_allowed = v;
            }
            if let Some(v) = u.agent_image {
                c.agent_image = v;
            }
            if let Some(v) = u.auto_triage {
                c.auto_triage = v;
            }
            write_cluster(txn, &c)?;
            append_in(txn, &audit)?;
            Ok(Ok(c))
        })
        .await?
    }

    /// Deletes a cluster, its keys and its objects. `NotFound`.
    pub async fn delete_cluster(
        &self,
        workspace_id: &str,
        cluster_id: &str,
        audit: AuditDraft,
    ) -> Result<(), StoreError> {
        check_draft(&audit)?;
        let (ws, id) = (workspace_id.to_string(), cluster_id.to_string());
        self.submit(move |txn| -> Answer<()> {
            if read_cluster(txn, &ws, &id)?.is_none() {
                return Ok(Err(not_found("cluster")));
            }
            remove_cluster_data(txn, &id)?;
            txn.open_table(CLUSTERS)?
                .remove(pair_key(&ws, &id).as_slice())?;
            append_in(txn, &audit)?;
            Ok(Ok(()))
        })
        .await?
    }

    /// Adds a new agent key; every older key of the cluster without an earlier expiry now
    /// expires at `old_keys_expire_at` (the overlap window). Returns the ids of the keys that
    /// now expire. `NotFound`.
    pub async fn rotate_agent_key(
        &self,
        key: AgentKey,
        key_hash: [u8; 32],
        old_keys_expire_at: i64,
        audit: AuditDraft,
    ) -> Result<Vec<AgentKey>, StoreError> {
        check_draft(&audit)?;
        self.submit(move |txn| -> Answer<Vec<AgentKey>> {
            if read_cluster(txn, &key.workspace_id, &key.cluster_id)?.is_none() {
                return Ok(Err(not_found("cluster")));
            }
            let hashes: Vec<String> = {
                let ids = txn.open_table(AGENT_KEY_IDS)?;
                let (start, end) = prefix_range(&key.cluster_id);
                ids.range(start.as_slice()..end.as_slice())?
                    .map(|e| {
                        let (_, v) = e?;
                        Ok(crate::schema::decode::<String>(v.value()).unwrap_or_default())
                    })
                    .collect::<Result<_, StoreError>>()?
            };
            let mut keys = txn.open_table(AGENT_KEYS)?;
            let mut expiring = Vec::new();
            for hash_hex in hashes {
                let Ok(hash) = hex::decode(&hash_hex) else {
                    continue;
                };
                let Some(mut old) = read_record::<AgentKey>(&keys, AGENT_KEYS, &hash)? else {
                    continue;
                };
                if old.expires_at.is_none_or(|e| e > old_keys_expire_at) {
                    old.expires_at = Some(old_keys_expire_at);
                    keys.insert(hash.as_slice(), encode(&old)?.as_slice())?;
                    expiring.push(old);
                }
            }
            drop(keys);
            insert_key(txn, &key, &key_hash)?;
            append_in(txn, &audit)?;
            Ok(Ok(expiring))
        })
        .await?
    }

    /// The agent key stored under this hash (expiry is the caller's check).
    pub fn agent_key(&self, key_hash: [u8; 32]) -> Result<Option<AgentKey>, StoreError> {
        self.get_record(AGENT_KEYS, &key_hash)
    }

    /// Removes agent keys whose overlap window ended before `now`; returns how many.
    pub async fn prune_agent_keys(&self, now: i64) -> Result<usize, StoreError> {
        self.submit(move |txn| {
            let mut keys = txn.open_table(AGENT_KEYS)?;
            let mut ids = txn.open_table(AGENT_KEY_IDS)?;
            let mut expired = Vec::new();
            for entry in keys.iter()? {
                let (k, v) = entry?;
                if let Ok(key) = crate::schema::decode::<AgentKey>(v.value())
                    && key.expires_at.is_some_and(|e| e <= now)
                {
                    expired.push((k.value().to_vec(), key));
                }
            }
            for (hash, key) in &expired {
                keys.remove(hash.as_slice())?;
                ids.remove(pair_key(&key.cluster_id, &key.id).as_slice())?;
            }
            Ok(expired.len())
        })
        .await
    }

    /// Records an accepted agent connection: its hello, and the catalog it offers.
    pub async fn record_agent_connected(
        &self,
        workspace_id: &str,
        cluster_id: &str,
        agent: AgentInfo,
        tools: Vec<ToolSpec>,
        audit: AuditDraft,
    ) -> Result<Cluster, StoreError> {
        check_draft(&audit)?;
        let (ws, id) = (workspace_id.to_string(), cluster_id.to_string());
        self.submit(move |txn| -> Answer<Cluster> {
            let Some(mut c) = read_cluster(txn, &ws, &id)? else {
                return Ok(Err(not_found("cluster")));
            };
            c.agent = Some(agent.clone());
            c.tools = tools.clone();
            write_cluster(txn, &c)?;
            append_in(txn, &audit)?;
            Ok(Ok(c))
        })
        .await?
    }

    /// Records the end of an agent connection (`audit` is `None` when the cluster is only being
    /// touched, e.g. to save the last heartbeat time).
    pub async fn record_agent_seen(
        &self,
        workspace_id: &str,
        cluster_id: &str,
        last_seen_at: i64,
        disconnected_at: Option<i64>,
        audit: Option<AuditDraft>,
    ) -> Result<(), StoreError> {
        if let Some(a) = &audit {
            check_draft(a)?;
        }
        let (ws, id) = (workspace_id.to_string(), cluster_id.to_string());
        self.submit(move |txn| -> Answer<()> {
            let Some(mut c) = read_cluster(txn, &ws, &id)? else {
                return Ok(Err(not_found("cluster")));
            };
            if let Some(agent) = &mut c.agent {
                agent.last_seen_at = agent.last_seen_at.max(last_seen_at);
                if disconnected_at.is_some() {
                    agent.disconnected_at = disconnected_at;
                }
            }
            write_cluster(txn, &c)?;
            if let Some(a) = &audit {
                append_in(txn, a)?;
            }
            Ok(Ok(()))
        })
        .await?
    }

    /// Replaces the tool catalog (the agent announced a capability change).
    pub async fn set_cluster_tools(
        &self,
        workspace_id: &str,
        cluster_id: &str,
        tools: Vec<ToolSpec>,
    ) -> Result<(), StoreError> {
        let (ws, id) = (workspace_id.to_string(), cluster_id.to_string());
        self.submit(move |txn| -> Answer<()> {
            let Some(mut c) = read_cluster(txn, &ws, &id)? else {
                return Ok(Err(not_found("cluster")));
            };
            let changed = c.tools != tools;
            c.tools = tools.clone();
            write_cluster(txn, &c)?;
            if changed {
                let data = acorn_proto::webhooks::CapabilitiesEventData {
                    cluster_id: c.id.clone(),
                    tools: c.tools.iter().map(|t| t.name.clone()).collect(),
                };
                for t in [
                    acorn_proto::webhooks::EventType::AgentCapabilitiesChanged,
                    acorn_proto::webhooks::EventType::ToolCatalogChanged,
                ] {
                    crate::webhooks::emit_in(txn, &ws, t, &data)?;
                }
            }
            Ok(Ok(()))
        })
        .await?
    }

    /// Replaces a cluster's objects with a full snapshot, unless it would exceed `budget` bytes:
    /// then nothing changes but `snapshot.error`, and `SnapshotBudgetExceeded` is returned.
    pub async fn replace_cluster_snapshot(
        &self,
        workspace_id: &str,
        cluster_id: &str,
        resources: Vec<Resource>,
        budget: u64,
        now: i64,
    ) -> Result<SnapshotInfo, StoreError> {
        let (ws, id) = (workspace_id.to_string(), cluster_id.to_string());
        self.submit(move |txn| -> Answer<SnapshotInfo> {
            let Some(mut c) = read_cluster(txn, &ws, &id)? else {
                return Ok(Err(not_found("cluster")));
            };
            let mut encoded = Vec::with_capacity(resources.len());
            let mut info = SnapshotInfo {
                complete_at: Some(now),
                updated_at: Some(now),
                ..SnapshotInfo::default()
            };
            for r in &resources {
                let bytes = encode(r)?;
                info.bytes += bytes.len() as u64;
                encoded.push((object_key(&id, &r.key), bytes));
            }
            if info.bytes > budget {
                let message = budget_error(info.bytes, budget);
                c.snapshot.error = Some(message.clone());
                write_cluster(txn, &c)?;
                return Ok(Err(StoreError::SnapshotBudgetExceeded { message }));
            }
            clear_objects(txn, &id)?;
            let mut objects = txn.open_table(CLUSTER_OBJECTS)?;
            encoded.sort_by(|a, b| a.0.cmp(&b.0));
            encoded.dedup_by(|a, b| a.0 == b.0);
            info.bytes = 0;
            for (k, bytes) in &encoded {
                objects.insert(k.as_slice(), bytes.as_slice())?;
                info.bytes += bytes.len() as u64;
            }
            drop(objects);
            info.counts = count_kinds(txn, &id)?;
            c.snapshot = info.clone();
            write_cluster(txn, &c)?;
            Ok(Ok(info))
        })
        .await?
    }

    /// Applies a delta to a cluster's objects, unless it would exceed `budget` bytes (then
    /// nothing changes but `snapshot.error`, and `SnapshotBudgetExceeded` is returned).
    pub async fn apply_cluster_delta(
        &self,
        workspace_id: &str,
        cluster_id: &str,
        changes: Vec<Change>,
        budget: u64,
        now: i64,
    ) -> Result<SnapshotInfo, StoreError> {
        let (ws, id) = (workspace_id.to_string(), cluster_id.to_string());
        self.submit(move |txn| -> Answer<SnapshotInfo> {
            let Some(mut c) = read_cluster(txn, &ws, &id)? else {
                return Ok(Err(not_found("cluster")));
            };
            // Decide before writing (a refused job must not leave half a delta behind): project
            // the byte total with an overlay of the sizes this delta changes.
            let projected = {
                let objects = txn.open_table(CLUSTER_OBJECTS)?;
                let mut overlay: std::collections::HashMap<Vec<u8>, u64> =
                    std::collections::HashMap::new();
                let mut bytes = c.snapshot.bytes;
                for change in &changes {
                    let (k, new_len) = match change {
                        Change::Applied { resource } => (
                            object_key(&id, &resource.key),
                            encode(resource)?.len() as u64,
                        ),
                        Change::Deleted { key } => (object_key(&id, key), 0),
                    };
                    let old_len = match overlay.get(&k) {
                        Some(len) => *len,
                        None => objects
                            .get(k.as_slice())?
                            .map_or(0, |v| v.value().len() as u64),
                    };
                    bytes = bytes.saturating_sub(old_len) + new_len;
                    overlay.insert(k, new_len);
                }
                bytes
            };
            if projected > budget {
                let message = budget_error(projected, budget);
                c.snapshot.error = Some(message.clone());
                write_cluster(txn, &c)?;
                return Ok(Err(StoreError::SnapshotBudgetExceeded { message }));
            }
            let mut info = c.snapshot.clone();
            {
                let mut objects = txn.open_table(CLUSTER_OBJECTS)?;
                for change in &changes {
                    apply_change(&mut objects, &id, &mut info, change)?;
                }
            }
            info.updated_at = Some(now);
            info.error = None;
            c.snapshot = info.clone();
            write_cluster(txn, &c)?;
            Ok(Ok(info))
        })
        .await?
    }

    /// Objects of a cluster, optionally of one kind and namespace, in key order, starting after
    /// `after` (a cursor from a previous page), at most `limit`.
    pub fn cluster_objects(
        &self,
        cluster_id: &str,
        kind: Option<&str>,
        namespace: Option<&str>,
        after: Option<&ResourceKey>,
        limit: usize,
    ) -> Result<Vec<Resource>, StoreError> {
        let txn = self.db().begin_read()?;
        let table = txn.open_table(CLUSTER_OBJECTS)?;
        let (mut start, end) = object_range(cluster_id, kind, namespace);
        if let Some(after) = after {
            let mut k = object_key(cluster_id, after);
            k.push(0);
            if k > start {
                start = k;
            }
        }
        let mut out = Vec::new();
        for entry in table.range(start.as_slice()..end.as_slice())? {
            if out.len() >= limit {
                break;
            }
            let (k, v) = entry?;
            out.push(
                crate::schema::decode(v.value()).map_err(|reason| StoreError::BadRecord {
                    table: "cluster_objects".into(),
                    key: crate::schema::show_key(k.value()),
                    reason,
                })?,
            );
        }
        Ok(out)
    }

    /// One object of a cluster.
    pub fn cluster_object(
        &self,
        cluster_id: &str,
        key: &ResourceKey,
    ) -> Result<Option<Resource>, StoreError> {
        self.get_record(CLUSTER_OBJECTS, &object_key(cluster_id, key))
    }
}

fn count_kinds(
    txn: &WriteTransaction,
    cluster_id: &str,
) -> Result<BTreeMap<String, u64>, StoreError> {
    let table = txn.open_table(CLUSTER_OBJECTS)?;
    let (start, end) = object_range(cluster_id, None, None);
    let mut counts = BTreeMap::new();
    for entry in table.range(start.as_slice()..end.as_slice())? {
        let (k, _) = entry?;
        let kind = k
            .value()
            .split(|b| *b == 0)
            .nth(1)
            .map(|b| String::from_utf8_lossy(b).into_owned())
            .unwrap_or_default();
        *counts.entry(kind).or_default() += 1;
    }
    Ok(counts)
}

/// What the analyzers found on a cluster, and the lifecycle tracker's state (schema 5).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FindingsRecord {
    pub workspace_id: String,
    pub cluster_id: String,
    /// Unix seconds of the last evaluation.
    pub evaluated_at: i64,
    /// Every finding the tracker holds (active, recovering, and recently resolved).
    pub findings: Vec<acorn_proto::findings::Finding>,
    /// The tracker's own state (opaque to the store).
    #[serde(default)]
    pub tracker: serde_json::Value,
}

impl Store {
    /// The findings of a cluster, as last evaluated.
    pub fn findings_record(&self, cluster_id: &str) -> Result<Option<FindingsRecord>, StoreError> {
        self.get_record(crate::schema::FINDINGS, cluster_id.as_bytes())
    }

    /// Replaces the findings of a cluster (refused when the cluster is gone), with the webhook
    /// events of its transitions (`finding.*`) in the same transaction.
    pub async fn put_findings_record(
        &self,
        record: FindingsRecord,
        events: Vec<(acorn_proto::webhooks::EventType, serde_json::Value)>,
    ) -> Result<(), StoreError> {
        self.submit(move |txn| -> Result<Result<(), StoreError>, StoreError> {
            let clusters = txn.open_table(CLUSTERS)?;
            if clusters
                .get(pair_key(&record.workspace_id, &record.cluster_id).as_slice())?
                .is_none()
            {
                return Ok(Err(not_found("cluster")));
            }
            drop(clusters);
            txn.open_table(crate::schema::FINDINGS)?
                .insert(record.cluster_id.as_bytes(), encode(&record)?.as_slice())?;
            for (t, data) in &events {
                crate::webhooks::emit_in(txn, &record.workspace_id, *t, data)?;
            }
            Ok(Ok(()))
        })
        .await?
    }
}
