//! The table registry, the meta table and the migrations.
//!
//! Layout: every table is `TableDefinition<&[u8], &[u8]>` and every value is a JSON record.
//! Byte keys let one generic loop copy (backup) and check (verify) every table, and let each
//! table pick the key order it needs (usernames as UTF-8, sequence numbers as big-endian u64).
//! [`ALL_TABLES`] is the registry: a table that is not in it is neither backed up nor verified,
//! so a new table must be added there (and created by a migration).
//!
//! The meta table holds `format` (= [`FORMAT`]), `schema_version` and `written_by`. A redb file
//! with tables but no marker is someone else's file and is refused; a redb file with no tables at
//! all is a fresh store (schema 0).

use redb::{ReadableDatabase, TableDefinition, TableHandle, WriteTransaction};
use serde::de::DeserializeOwned;

use crate::StoreError;
use crate::audit::{AuditAnchor, chain_of_key};
use crate::clusters::{AgentKey, Cluster};
use crate::evals::EvalRecord;
use crate::gateway::{
    GatewayRequestRecord, McpServerRecord, ProviderRecord, RunBudget, SecretRecord,
    SigningKeyRecord, StoredKek,
};
use crate::identity::{ApiToken, Invitation, Membership, Session, User, Workspace};
use crate::records::{CaMaterial, LeafMaterial, LocalAccount, OneTimeToken, SystemEvent};
use crate::runs::{RunRecord, SearchState, SessionRecord};
use crate::webhooks::{
    AlertRecord, DeliveryRecord, OutboxEntry, ReceiverRecord, ReceiverRef, SubscriptionRecord,
    WebhookEventRecord,
};

pub(crate) type Table = TableDefinition<'static, &'static [u8], &'static [u8]>;

pub(crate) const META: Table = TableDefinition::new("meta");
pub(crate) const TLS: Table = TableDefinition::new("tls");
pub(crate) const LOCAL_ACCOUNTS: Table = TableDefinition::new("local_accounts");
pub(crate) const ONE_TIME_TOKENS: Table = TableDefinition::new("one_time_tokens");
pub(crate) const SYSTEM_EVENTS: Table = TableDefinition::new("system_events");

// Schema 2: identity, workspaces, audit. Composite keys join ids with a 0x00 byte (ids never
// contain one), so that all entries of one parent are a contiguous key range.
/// `user id` → [`User`].
pub(crate) const USERS: Table = TableDefinition::new("users");
/// `issuer 0x00 subject` → user id (JSON string).
pub(crate) const USER_SUBJECTS: Table = TableDefinition::new("user_subjects");
/// `sha256(session id)` (32 bytes) → [`Session`].
pub(crate) const SESSIONS: Table = TableDefinition::new("sessions");
/// `workspace id` → [`Workspace`].
pub(crate) const WORKSPACES: Table = TableDefinition::new("workspaces");
/// `workspace id 0x00 user id` → [`Membership`].
pub(crate) const MEMBERSHIPS: Table = TableDefinition::new("memberships");
/// `user id 0x00 workspace id` → workspace id (JSON string): the index behind
/// `workspaces_of_user`, written in the same transaction as [`MEMBERSHIPS`].
pub(crate) const USER_WORKSPACES: Table = TableDefinition::new("user_workspaces");
/// `sha256(invitation token)` (32 bytes) → [`Invitation`].
pub(crate) const INVITATIONS: Table = TableDefinition::new("invitations");
/// `workspace id 0x00 invitation id` → token hash (JSON hex string).
pub(crate) const INVITATION_IDS: Table = TableDefinition::new("invitation_ids");
/// `sha256(api token)` (32 bytes) → [`ApiToken`].
pub(crate) const API_TOKENS: Table = TableDefinition::new("api_tokens");
/// `workspace id 0x00 token id` → token hash (JSON hex string).
pub(crate) const API_TOKEN_IDS: Table = TableDefinition::new("api_token_ids");
/// `chain id 0x00 seq (big-endian u64)` → `AuditRecord`. The chain id is the workspace id, or
/// `appliance` for the appliance-level chain.
pub(crate) const AUDIT: Table = TableDefinition::new("audit");
/// `chain id` → [`AuditAnchor`]: where a chain continues after retention pruned its start.
pub(crate) const AUDIT_ANCHORS: Table = TableDefinition::new("audit_anchors");

// Schema 3: clusters and their agents.
/// `workspace id 0x00 cluster id` → [`Cluster`].
pub(crate) const CLUSTERS: Table = TableDefinition::new("clusters");
/// `sha256(agent key)` (32 bytes) → [`AgentKey`].
pub(crate) const AGENT_KEYS: Table = TableDefinition::new("agent_keys");
/// `cluster id 0x00 key id` → key hash (JSON hex string).
pub(crate) const AGENT_KEY_IDS: Table = TableDefinition::new("agent_key_ids");
/// `cluster id 0x00 kind 0x00 namespace 0x00 name` → `acorn_proto::agent::Resource`.
pub(crate) const CLUSTER_OBJECTS: Table = TableDefinition::new("cluster_objects");
// Schema 4: the LLM gateway (see `gateway.rs`).
/// `kek` → `StoredKek` (only when the KEK is generated into the store).
pub(crate) const GATEWAY_META: Table = TableDefinition::new("gateway_meta");
/// `scope 0x00 name` → `SecretRecord` (scope: workspace id or `_deployment`).
pub(crate) const SECRETS: Table = TableDefinition::new("secrets");
/// `kid` → `SigningKeyRecord`.
pub(crate) const SIGNING_KEYS: Table = TableDefinition::new("signing_keys");
/// `workspace id 0x00 name` → `ProviderRecord`.
pub(crate) const PROVIDERS: Table = TableDefinition::new("providers");
/// `workspace id 0x00 server id` → `McpServerRecord`.
pub(crate) const MCP_SERVERS: Table = TableDefinition::new("mcp_servers");
/// `run id` → `RunBudget`.
pub(crate) const RUN_BUDGETS: Table = TableDefinition::new("run_budgets");
/// `workspace id 0x00 seq (big-endian u64)` → `GatewayRequestRecord`.
pub(crate) const GATEWAY_REQUESTS: Table = TableDefinition::new("gateway_requests");
// Schema 5: sessions, runs, run events, approvals (see `runs.rs`).
/// `workspace id 0x00 session id` → `SessionRecord`.
pub(crate) const RUN_SESSIONS: Table = TableDefinition::new("run_sessions");
/// `run id` → `RunRecord`.
pub(crate) const RUNS: Table = TableDefinition::new("runs");
/// `session id 0x00 run id` → `null` (run ids sort by creation time).
pub(crate) const SESSION_RUNS: Table = TableDefinition::new("session_runs");
/// `workspace id 0x00 run id` → `null`.
pub(crate) const WORKSPACE_RUNS: Table = TableDefinition::new("workspace_runs");
/// `run id 0x00 seq (big-endian u64)` → `acorn_proto::runs::RunEvent`.
pub(crate) const RUN_EVENTS: Table = TableDefinition::new("run_events");
/// `gseq (big-endian u64)` → `{run, seq}`: every event in commit order (search catch-up).
pub(crate) const RUN_EVENT_LOG: Table = TableDefinition::new("run_event_log");
/// `run id 0x00 approval id` → `acorn_proto::runs::ApprovalView`.
pub(crate) const APPROVALS: Table = TableDefinition::new("approvals");
/// `run id` → workspace id: the runs that have not ended.
pub(crate) const ACTIVE_RUNS: Table = TableDefinition::new("active_runs");
/// `state` → `SearchState`: the search index's schema and watermark.
pub(crate) const SEARCH_META: Table = TableDefinition::new("search_meta");
/// `cluster id` → `FindingsRecord`: the analyzers' findings and lifecycle state.
pub(crate) const FINDINGS: Table = TableDefinition::new("findings");
// Schema 6: webhooks out and alerts in (see `webhooks.rs`).
/// `workspace id 0x00 subscription id` → `SubscriptionRecord`.
pub(crate) const WEBHOOK_SUBSCRIPTIONS: Table = TableDefinition::new("webhook_subscriptions");
/// `event id` → `WebhookEventRecord`.
pub(crate) const WEBHOOK_EVENTS: Table = TableDefinition::new("webhook_events");
/// `subscription id 0x00 delivery id` → `DeliveryRecord` (the delivery log).
pub(crate) const WEBHOOK_DELIVERIES: Table = TableDefinition::new("webhook_deliveries");
/// `due (big-endian unix ms) delivery id` → `OutboxEntry`: pending deliveries in due order.
pub(crate) const WEBHOOK_OUTBOX: Table = TableDefinition::new("webhook_outbox");
/// `workspace id 0x00 receiver id` → `ReceiverRecord`.
pub(crate) const ALERT_RECEIVERS: Table = TableDefinition::new("alert_receivers");
/// `sha256(receiver token)` (32 bytes) → `ReceiverRef`.
pub(crate) const RECEIVER_TOKENS: Table = TableDefinition::new("receiver_tokens");
/// `receiver id 0x00 fingerprint | msg:id` → `AlertRecord`.
pub(crate) const ALERT_DEDUP: Table = TableDefinition::new("alert_dedup");
// Schema 7: model evaluations (see `evals.rs`).
/// `workspace id 0x00 eval id` → `EvalRecord`.
pub(crate) const EVAL_REPORTS: Table = TableDefinition::new("eval_reports");

pub(crate) const FORMAT: &str = "acorn-store";
pub(crate) const KEY_FORMAT: &[u8] = b"format";
pub(crate) const KEY_SCHEMA_VERSION: &[u8] = b"schema_version";
pub(crate) const KEY_WRITTEN_BY: &[u8] = b"written_by";
pub(crate) const KEY_CA: &[u8] = b"ca";
pub(crate) const KEY_LEAF: &[u8] = b"leaf";

/// A table of the schema and how to check that one of its records decodes.
pub(crate) struct TableSpec {
    pub(crate) def: Table,
    /// The schema version that introduced the table: verifying an older file (an old backup)
    /// does not expect it.
    pub(crate) since: u32,
    pub(crate) check: fn(key: &[u8], value: &[u8]) -> Result<(), String>,
}

/// Every table of the current schema. Backup and verify iterate this list.
pub(crate) const ALL_TABLES: &[TableSpec] = &[
    TableSpec {
        def: META,
        since: 1,
        check: check_meta,
    },
    TableSpec {
        def: TLS,
        since: 1,
        check: check_tls,
    },
    TableSpec {
        def: LOCAL_ACCOUNTS,
        since: 1,
        check: |k, v| {
            std::str::from_utf8(k).map_err(|e| e.to_string())?;
            decode::<LocalAccount>(v).map(drop)
        },
    },
    TableSpec {
        def: ONE_TIME_TOKENS,
        since: 1,
        check: |k, v| {
            if k.len() != 32 {
                return Err(format!("key is {} bytes, expected 32", k.len()));
            }
            decode::<OneTimeToken>(v).map(drop)
        },
    },
    TableSpec {
        def: SYSTEM_EVENTS,
        since: 1,
        check: |k, v| {
            let seq = seq_from_key(k).ok_or("key is not a big-endian u64")?;
            let ev = decode::<SystemEvent>(v)?;
            if ev.seq != seq {
                return Err(format!("record seq {} under key {seq}", ev.seq));
            }
            Ok(())
        },
    },
    TableSpec {
        def: USERS,
        since: 2,
        check: |k, v| {
            let user = decode::<User>(v)?;
            if user.id.as_bytes() != k {
                return Err(format!("record id {} under another key", user.id));
            }
            Ok(())
        },
    },
    TableSpec {
        def: USER_SUBJECTS,
        since: 2,
        check: check_index::<String>,
    },
    TableSpec {
        def: SESSIONS,
        since: 2,
        check: |k, v| {
            check_hash_key(k)?;
            decode::<Session>(v).map(drop)
        },
    },
    TableSpec {
        def: WORKSPACES,
        since: 2,
        check: |k, v| {
            let ws = decode::<Workspace>(v)?;
            if ws.id.as_bytes() != k {
                return Err(format!("record id {} under another key", ws.id));
            }
            Ok(())
        },
    },
    TableSpec {
        def: MEMBERSHIPS,
        since: 2,
        check: |k, v| {
            check_pair_record::<Membership>(k, v, |m| (m.workspace_id.as_str(), m.user_id.as_str()))
        },
    },
    TableSpec {
        def: USER_WORKSPACES,
        since: 2,
        check: check_index::<String>,
    },
    TableSpec {
        def: INVITATIONS,
        since: 2,
        check: |k, v| {
            check_hash_key(k)?;
            decode::<Invitation>(v).map(drop)
        },
    },
    TableSpec {
        def: INVITATION_IDS,
        since: 2,
        check: check_index::<String>,
    },
    TableSpec {
        def: API_TOKENS,
        since: 2,
        check: |k, v| {
            check_hash_key(k)?;
            decode::<ApiToken>(v).map(drop)
        },
    },
    TableSpec {
        def: API_TOKEN_IDS,
        since: 2,
        check: check_index::<String>,
    },
    TableSpec {
        def: AUDIT,
        since: 2,
        // Only the key shape: records are decoded and hash-checked by the audit chain
        // verification, which reports the first broken link with its seq.
        check: |k, _| chain_of_key(k).map(drop),
    },
    TableSpec {
        def: AUDIT_ANCHORS,
        since: 2,
        check: |k, v| {
            check_str_key(k)?;
            decode::<AuditAnchor>(v).map(drop)
        },
    },
    TableSpec {
        def: CLUSTERS,
        since: 3,
        check: |k, v| {
            check_pair_record::<Cluster>(k, v, |c| (c.workspace_id.as_str(), c.id.as_str()))
        },
    },
    TableSpec {
        def: AGENT_KEYS,
        since: 3,
        check: |k, v| {
            check_hash_key(k)?;
            decode::<AgentKey>(v).map(drop)
        },
    },
    TableSpec {
        def: AGENT_KEY_IDS,
        since: 3,
        check: check_index::<String>,
    },
    TableSpec {
        def: CLUSTER_OBJECTS,
        since: 3,
        check: |k, v| {
            if k.iter().filter(|b| **b == 0).count() != 3 {
                return Err("key is not cluster/kind/namespace/name".into());
            }
            decode::<acorn_proto::agent::Resource>(v).map(drop)
        },
    },
    TableSpec {
        def: GATEWAY_META,
        since: 4,
        check: |k, v| match k {
            b"kek" => decode::<StoredKek>(v).map(drop),
            _ => Err("unknown key".into()),
        },
    },
    TableSpec {
        def: SECRETS,
        since: 4,
        check: |k, v| {
            check_pair_record::<SecretRecord>(k, v, |r| (r.scope.as_str(), r.name.as_str()))
        },
    },
    TableSpec {
        def: SIGNING_KEYS,
        since: 4,
        check: |k, v| {
            let key = decode::<SigningKeyRecord>(v)?;
            if key.kid.as_bytes() != k {
                return Err(format!("record kid {} under another key", key.kid));
            }
            Ok(())
        },
    },
    TableSpec {
        def: PROVIDERS,
        since: 4,
        check: |k, v| {
            check_pair_record::<ProviderRecord>(k, v, |r| {
                (r.workspace_id.as_str(), r.name.as_str())
            })
        },
    },
    TableSpec {
        def: MCP_SERVERS,
        since: 4,
        check: |k, v| {
            check_pair_record::<McpServerRecord>(k, v, |r| (r.workspace_id.as_str(), r.id.as_str()))
        },
    },
    TableSpec {
        def: RUN_BUDGETS,
        since: 4,
        check: |k, v| {
            check_str_key(k)?;
            decode::<RunBudget>(v).map(drop)
        },
    },
    TableSpec {
        def: GATEWAY_REQUESTS,
        since: 4,
        check: |k, v| {
            crate::gateway::check_request_key(k)?;
            decode::<GatewayRequestRecord>(v).map(drop)
        },
    },
    TableSpec {
        def: RUN_SESSIONS,
        since: 5,
        check: |k, v| {
            check_pair_record::<SessionRecord>(k, v, |r| (r.workspace_id.as_str(), r.id.as_str()))
        },
    },
    TableSpec {
        def: RUNS,
        since: 5,
        check: |k, v| {
            let run = decode::<RunRecord>(v)?;
            if run.id.as_bytes() != k {
                return Err(format!("record id {} under another key", run.id));
            }
            Ok(())
        },
    },
    TableSpec {
        def: SESSION_RUNS,
        since: 5,
        check: |k, v| split_pair(k).and_then(|_| decode::<()>(v)),
    },
    TableSpec {
        def: WORKSPACE_RUNS,
        since: 5,
        check: |k, v| split_pair(k).and_then(|_| decode::<()>(v)),
    },
    TableSpec {
        def: RUN_EVENTS,
        since: 5,
        check: |k, v| {
            let (run, seq) = crate::runs::split_event_key(k)?;
            let e = decode::<acorn_proto::runs::RunEvent>(v)?;
            if e.run_id != run || e.seq != seq {
                return Err("event run/seq differ from its key".into());
            }
            Ok(())
        },
    },
    TableSpec {
        def: RUN_EVENT_LOG,
        since: 5,
        check: |k, v| {
            seq_from_key(k).ok_or_else(|| "key is not 8 bytes".to_string())?;
            decode::<crate::runs::EventRef>(v).map(drop)
        },
    },
    TableSpec {
        def: APPROVALS,
        since: 5,
        check: |k, v| {
            check_pair_record::<acorn_proto::runs::ApprovalView>(k, v, |r| {
                (r.run_id.as_str(), r.id.as_str())
            })
        },
    },
    TableSpec {
        def: ACTIVE_RUNS,
        since: 5,
        check: |k, v| {
            check_str_key(k)?;
            decode::<String>(v).map(drop)
        },
    },
    TableSpec {
        def: SEARCH_META,
        since: 5,
        check: |_, v| decode::<SearchState>(v).map(drop),
    },
    TableSpec {
        def: FINDINGS,
        since: 5,
        check: |k, v| {
            let r = decode::<crate::clusters::FindingsRecord>(v)?;
            if r.cluster_id.as_bytes() != k {
                return Err("record cluster differs from its key".into());
            }
            Ok(())
        },
    },
    TableSpec {
        def: WEBHOOK_SUBSCRIPTIONS,
        since: 6,
        check: |k, v| {
            check_pair_record::<SubscriptionRecord>(k, v, |r| {
                (r.workspace_id.as_str(), r.id.as_str())
            })
        },
    },
    TableSpec {
        def: WEBHOOK_EVENTS,
        since: 6,
        check: |k, v| {
            let e = decode::<WebhookEventRecord>(v)?;
            if e.id.as_bytes() != k {
                return Err(format!("record id {} under another key", e.id));
            }
            Ok(())
        },
    },
    TableSpec {
        def: WEBHOOK_DELIVERIES,
        since: 6,
        check: |k, v| {
            check_pair_record::<DeliveryRecord>(k, v, |r| {
                (r.subscription_id.as_str(), r.id.as_str())
            })
        },
    },
    TableSpec {
        def: WEBHOOK_OUTBOX,
        since: 6,
        check: |k, v| {
            crate::webhooks::check_outbox_key(k)?;
            let e = decode::<OutboxEntry>(v)?;
            if !k.ends_with(e.delivery_id.as_bytes()) {
                return Err("entry delivery differs from its key".into());
            }
            Ok(())
        },
    },
    TableSpec {
        def: ALERT_RECEIVERS,
        since: 6,
        check: |k, v| {
            check_pair_record::<ReceiverRecord>(k, v, |r| (r.workspace_id.as_str(), r.id.as_str()))
        },
    },
    TableSpec {
        def: RECEIVER_TOKENS,
        since: 6,
        check: |k, v| {
            check_hash_key(k)?;
            decode::<ReceiverRef>(v).map(drop)
        },
    },
    TableSpec {
        def: ALERT_DEDUP,
        since: 6,
        check: |k, v| {
            check_pair_record::<AlertRecord>(k, v, |r| (r.receiver_id.as_str(), r.key.as_str()))
        },
    },
    TableSpec {
        def: EVAL_REPORTS,
        since: 7,
        check: |k, v| {
            check_pair_record::<EvalRecord>(k, v, |r| (r.workspace_id.as_str(), r.id.as_str()))
        },
    },
];

fn check_hash_key(k: &[u8]) -> Result<(), String> {
    if k.len() != 32 {
        return Err(format!("key is {} bytes, expected 32", k.len()));
    }
    Ok(())
}

fn check_str_key(k: &[u8]) -> Result<&str, String> {
    std::str::from_utf8(k).map_err(|e| e.to_string())
}

/// A `a 0x00 b` key; returns both halves.
pub(crate) fn split_pair(k: &[u8]) -> Result<(&str, &str), String> {
    let s = check_str_key(k)?;
    s.split_once('\0')
        .ok_or_else(|| "key has no 0x00 separator".to_string())
}

/// `a 0x00 b`.
pub(crate) fn pair_key(a: &str, b: &str) -> Vec<u8> {
    let mut k = Vec::with_capacity(a.len() + b.len() + 1);
    k.extend_from_slice(a.as_bytes());
    k.push(0);
    k.extend_from_slice(b.as_bytes());
    k
}

/// The half-open key range of every `prefix 0x00 …` key.
pub(crate) fn prefix_range(prefix: &str) -> (Vec<u8>, Vec<u8>) {
    let mut start = prefix.as_bytes().to_vec();
    let mut end = start.clone();
    start.push(0);
    end.push(1);
    (start, end)
}

/// Checks a record whose key is `a 0x00 b` and that names both ids itself.
fn check_pair_record<T: DeserializeOwned>(
    k: &[u8],
    v: &[u8],
    ids: fn(&T) -> (&str, &str),
) -> Result<(), String> {
    let (a, b) = split_pair(k)?;
    let record = decode::<T>(v)?;
    if ids(&record) != (a, b) {
        return Err("record ids differ from its key".into());
    }
    Ok(())
}

/// Checks an id index entry `parent 0x00 id` → value.
fn check_index<T: DeserializeOwned>(k: &[u8], v: &[u8]) -> Result<(), String> {
    split_pair(k)?;
    decode::<T>(v).map(drop)
}

fn check_meta(k: &[u8], v: &[u8]) -> Result<(), String> {
    match k {
        KEY_FORMAT | KEY_WRITTEN_BY => decode::<String>(v).map(drop),
        KEY_SCHEMA_VERSION => decode::<u32>(v).map(drop),
        _ => decode::<serde_json::Value>(v).map(drop),
    }
}

fn check_tls(k: &[u8], v: &[u8]) -> Result<(), String> {
    match k {
        KEY_CA => decode::<CaMaterial>(v).map(drop),
        KEY_LEAF => decode::<LeafMaterial>(v).map(drop),
        _ => Err("unknown key".into()),
    }
}

pub(crate) fn decode<T: DeserializeOwned>(v: &[u8]) -> Result<T, String> {
    serde_json::from_slice(v).map_err(|e| e.to_string())
}

pub(crate) fn encode<T: serde::Serialize>(v: &T) -> Result<Vec<u8>, StoreError> {
    serde_json::to_vec(v).map_err(|e| StoreError::Encode(e.to_string()))
}

pub(crate) fn seq_key(seq: u64) -> [u8; 8] {
    seq.to_be_bytes()
}

pub(crate) fn seq_from_key(k: &[u8]) -> Option<u64> {
    Some(u64::from_be_bytes(k.try_into().ok()?))
}

/// Printable form of a key for error messages.
pub(crate) fn show_key(k: &[u8]) -> String {
    match std::str::from_utf8(k) {
        Ok(s) if !s.chars().any(char::is_control) => s.to_string(),
        _ => format!("0x{}", hex::encode(k)),
    }
}

/// What a redb file holds, as far as opening it is concerned.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Probe {
    /// No tables at all: a new file, schema 0.
    Fresh,
    /// Tables but no Acorn marker.
    Foreign(String),
    Store {
        schema_version: u32,
        written_by: String,
    },
}

/// Reads the meta table without writing anything.
pub(crate) fn probe(db: &impl ReadableDatabase) -> Result<Probe, StoreError> {
    let txn = db.begin_read()?;
    let names: Vec<String> = txn.list_tables()?.map(|t| t.name().to_string()).collect();
    if names.is_empty() {
        return Ok(Probe::Fresh);
    }
    if !names.iter().any(|n| n == META.name()) {
        return Ok(Probe::Foreign(format!(
            "it has tables ({}) but no Acorn meta table",
            names.join(", ")
        )));
    }
    let meta = txn.open_table(META)?;
    let get = |k: &[u8]| -> Result<Option<Vec<u8>>, StoreError> {
        Ok(meta.get(k)?.map(|g| g.value().to_vec()))
    };
    let format = get(KEY_FORMAT)?.and_then(|v| decode::<String>(&v).ok());
    if format.as_deref() != Some(FORMAT) {
        return Ok(Probe::Foreign(format!(
            "its meta table has no `format = \"{FORMAT}\"` marker"
        )));
    }
    let Some(schema_version) = get(KEY_SCHEMA_VERSION)?.and_then(|v| decode::<u32>(&v).ok()) else {
        return Ok(Probe::Foreign(
            "its meta table has no schema_version".into(),
        ));
    };
    let written_by = get(KEY_WRITTEN_BY)?
        .and_then(|v| decode::<String>(&v).ok())
        .unwrap_or_else(|| "an unknown version".into());
    Ok(Probe::Store {
        schema_version,
        written_by,
    })
}

/// Turns a probe into the schema version to migrate from, or the refusal.
pub(crate) fn accept(path: &std::path::Path, probe: Probe) -> Result<(u32, String), StoreError> {
    match probe {
        Probe::Fresh => Ok((0, String::new())),
        Probe::Foreign(reason) => Err(StoreError::NotAStore {
            path: path.to_path_buf(),
            reason,
        }),
        Probe::Store {
            schema_version,
            written_by,
        } if schema_version > crate::SCHEMA_VERSION => Err(StoreError::NewerSchema {
            found: schema_version,
            supported: crate::SCHEMA_VERSION,
            written_by,
        }),
        Probe::Store {
            schema_version,
            written_by,
        } => Ok((schema_version, written_by)),
    }
}

type Migration = fn(&WriteTransaction) -> Result<(), StoreError>;

/// Ordered migrations `(from, to, step)`. Each runs inside the single write transaction of
/// [`migrate`], so a store is never left between two versions.
pub(crate) const MIGRATIONS: &[(u32, u32, Migration)] = &[
    (0, 1, migrate_0_to_1),
    (1, 2, migrate_1_to_2),
    (2, 3, migrate_2_to_3),
    (3, 4, migrate_3_to_4),
    (4, 5, migrate_4_to_5),
    (5, 6, migrate_5_to_6),
    (6, 7, migrate_6_to_7),
];

/// Schema 1: the appliance-core tables and the meta marker.
fn migrate_0_to_1(txn: &WriteTransaction) -> Result<(), StoreError> {
    for def in [META, TLS, LOCAL_ACCOUNTS, ONE_TIME_TOKENS, SYSTEM_EVENTS] {
        txn.open_table(def)?;
    }
    let mut meta = txn.open_table(META)?;
    meta.insert(KEY_FORMAT, encode(&FORMAT)?.as_slice())?;
    Ok(())
}

/// Schema 2: identity, workspaces and audit tables; every local account gets its [`User`]
/// (issuer `local`, subject = username, `appliance_admin` = the account's `administrator`).
fn migrate_1_to_2(txn: &WriteTransaction) -> Result<(), StoreError> {
    for def in [
        USERS,
        USER_SUBJECTS,
        SESSIONS,
        WORKSPACES,
        MEMBERSHIPS,
        USER_WORKSPACES,
        INVITATIONS,
        INVITATION_IDS,
        API_TOKENS,
        API_TOKEN_IDS,
        AUDIT,
        AUDIT_ANCHORS,
    ] {
        txn.open_table(def)?;
    }
    let accounts: Vec<LocalAccount> = {
        let table = txn.open_table(LOCAL_ACCOUNTS)?;
        let mut out = Vec::new();
        for entry in redb::ReadableTable::iter(&table)? {
            let (k, v) = entry?;
            out.push(decode::<LocalAccount>(v.value()).map_err(|reason| {
                StoreError::BadRecord {
                    table: LOCAL_ACCOUNTS.name().to_string(),
                    key: show_key(k.value()),
                    reason,
                }
            })?);
        }
        out
    };
    for mut account in accounts {
        let user_id = crate::identity::ensure_local_user(txn, &account, account.created_at)?;
        account.user_id = Some(user_id);
        txn.open_table(LOCAL_ACCOUNTS)?
            .insert(account.username.as_bytes(), encode(&account)?.as_slice())?;
    }
    Ok(())
}

/// Schema 3: clusters, agent keys and the clusters' objects.
fn migrate_2_to_3(txn: &WriteTransaction) -> Result<(), StoreError> {
    for def in [CLUSTERS, AGENT_KEYS, AGENT_KEY_IDS, CLUSTER_OBJECTS] {
        txn.open_table(def)?;
    }
    Ok(())
}

/// Schema 4: the LLM gateway's tables (secrets, signing keys, providers, MCP servers, run
/// budgets, request log). Nothing to convert: they start empty.
fn migrate_3_to_4(txn: &WriteTransaction) -> Result<(), StoreError> {
    for def in [
        GATEWAY_META,
        SECRETS,
        SIGNING_KEYS,
        PROVIDERS,
        MCP_SERVERS,
        RUN_BUDGETS,
        GATEWAY_REQUESTS,
    ] {
        txn.open_table(def)?;
    }
    Ok(())
}

/// Schema 5: sessions, runs, run events, approvals, the search watermark. They start empty.
fn migrate_4_to_5(txn: &WriteTransaction) -> Result<(), StoreError> {
    for def in [
        RUN_SESSIONS,
        RUNS,
        SESSION_RUNS,
        WORKSPACE_RUNS,
        RUN_EVENTS,
        RUN_EVENT_LOG,
        APPROVALS,
        ACTIVE_RUNS,
        SEARCH_META,
        FINDINGS,
    ] {
        txn.open_table(def)?;
    }
    Ok(())
}

/// Schema 6: webhook subscriptions, events, deliveries and the outbox; alert receivers, their
/// tokens and dedup records. They start empty; sessions gain an optional `alert` (serde
/// default), so no record is rewritten.
fn migrate_5_to_6(txn: &WriteTransaction) -> Result<(), StoreError> {
    for def in [
        WEBHOOK_SUBSCRIPTIONS,
        WEBHOOK_EVENTS,
        WEBHOOK_DELIVERIES,
        WEBHOOK_OUTBOX,
        ALERT_RECEIVERS,
        RECEIVER_TOKENS,
        ALERT_DEDUP,
    ] {
        txn.open_table(def)?;
    }
    Ok(())
}

/// Schema 7: model evaluations. The table starts empty.
fn migrate_6_to_7(txn: &WriteTransaction) -> Result<(), StoreError> {
    txn.open_table(EVAL_REPORTS)?;
    Ok(())
}

/// Brings the store from `from` to [`crate::SCHEMA_VERSION`] and records `app_version` as the
/// writer, in one durable transaction.
pub(crate) fn migrate(
    db: &redb::Database,
    from: u32,
    app_version: &str,
) -> Result<u32, StoreError> {
    let mut txn = db.begin_write()?;
    txn.set_durability(redb::Durability::Immediate)?;
    let mut version = from;
    for (step_from, step_to, step) in MIGRATIONS {
        if *step_from == version {
            tracing::info!(from = step_from, to = step_to, "migrating store schema");
            step(&txn)?;
            version = *step_to;
        }
    }
    if version != crate::SCHEMA_VERSION {
        return Err(StoreError::Corrupt {
            path: std::path::PathBuf::new(),
            detail: format!(
                "no migration path from schema {from} to {}",
                crate::SCHEMA_VERSION
            ),
        });
    }
    {
        let mut meta = txn.open_table(META)?;
        meta.insert(KEY_SCHEMA_VERSION, encode(&version)?.as_slice())?;
        meta.insert(KEY_WRITTEN_BY, encode(&app_version)?.as_slice())?;
    }
    txn.commit()?;
    Ok(version)
}
