//! The audit log: tamper-evident hash chains, one per workspace plus one for the appliance.
//!
//! A record is stored under `chain id 0x00 seq` (big-endian u64, so a chain is one key range in
//! order); the chain id is the workspace id, or [`APPLIANCE_CHAIN`] for records without one
//! (sign-ins). `hash = hex(sha256(prev_hash || canonical JSON of the record without hash))`,
//! where the canonical JSON is serde_json of a struct (fixed field order) whose metadata is a
//! `BTreeMap` (sorted keys), so it is deterministic. The first record's `prev_hash` is 64
//! zeros, or after retention pruned the start of a chain, the hash of the last pruned record,
//! kept with its seq as the chain's [`AuditAnchor`].
//!
//! Records are appended by the same transaction as the change they describe (see
//! `identity.rs`), so a committed change always has its record and a refused one has none.
//! This module must not decide what is audited or sanitize metadata beyond refusing keys that
//! are named like secrets (a last line of defence; the appliance sanitizes).

use std::collections::BTreeMap;

use redb::{ReadableDatabase, ReadableTable, WriteTransaction};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::schema::{AUDIT, AUDIT_ANCHORS, decode, encode, seq_from_key};
use crate::store::read_record;
use crate::{Store, StoreError};

/// The chain id of records with no workspace.
pub const APPLIANCE_CHAIN: &str = "appliance";

/// `prev_hash` of a chain's first record.
const GENESIS: &str = "0000000000000000000000000000000000000000000000000000000000000000";

/// Metadata keys whose last `_`/`-`/`.`-separated word is one of these are refused.
const SECRET_WORDS: &[&str] = &[
    "password",
    "passwd",
    "token",
    "secret",
    "authorization",
    "cookie",
];

/// Who did it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ActorKind {
    User,
    Token,
    System,
    /// A cluster's agent (the id is the cluster id).
    Agent,
}

/// The actor of an audit record: a user, an API token, or the appliance itself.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Actor {
    pub kind: ActorKind,
    /// User id, token id, or a system component name.
    pub id: String,
    /// For display (email, token name); not used for filtering.
    pub display: String,
}

/// How the attempt ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AuditResult {
    Success,
    Denied,
    Failed,
}

/// Whether the action read or changed state.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Operation {
    Read,
    Write,
}

/// What area the action belongs to (the audit log's filter).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Category {
    Membership,
    Workspace,
    Cluster,
    Session,
    Run,
    Approval,
    Mcp,
    Tool,
    Auth,
}

/// An audit record before the store gives it a place in its chain.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AuditDraft {
    /// The chain: `None` is the appliance-level chain (sign-ins, appliance administration).
    pub workspace_id: Option<String>,
    pub actor: Actor,
    /// Dotted verb, e.g. `member.role_set`.
    pub action: String,
    pub target: Option<String>,
    pub result: AuditResult,
    pub source_ip: Option<String>,
    pub request_id: Option<String>,
    pub operation: Operation,
    pub category: Category,
    /// Sanitized by the caller; keys named like secrets are refused.
    #[serde(default)]
    pub metadata: BTreeMap<String, String>,
    /// Unix seconds.
    pub at: i64,
}

/// A stored audit record: the draft plus its link in the chain.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AuditRecord {
    /// 1, 2, … within its chain.
    pub seq: u64,
    /// Lowercase hex SHA-256 of the previous record (64 zeros for the first).
    pub prev_hash: String,
    /// Lowercase hex SHA-256 over `prev_hash` and the canonical JSON of this record without
    /// `hash`.
    pub hash: String,
    #[serde(flatten)]
    pub draft: AuditDraft,
}

/// The hashed form: the record without its hash. Field order is part of the format.
#[derive(Serialize)]
struct Unhashed<'a> {
    seq: u64,
    prev_hash: &'a str,
    #[serde(flatten)]
    draft: &'a AuditDraft,
}

/// Where a chain continues after its start was pruned: the last pruned record.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AuditAnchor {
    pub seq: u64,
    pub hash: String,
    pub pruned_at: i64,
}

/// Which records `audit_records` returns. `since` is inclusive, `until` exclusive (unix
/// seconds); `after_seq` is the cursor (the seq of the last record of the previous page).
/// The default has no filter and no limit.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuditFilter {
    pub actor_id: Option<String>,
    pub category: Option<Category>,
    pub since: Option<i64>,
    pub until: Option<i64>,
    pub after_seq: Option<u64>,
    pub limit: usize,
}

impl Default for AuditFilter {
    fn default() -> Self {
        AuditFilter {
            actor_id: None,
            category: None,
            since: None,
            until: None,
            after_seq: None,
            limit: usize::MAX,
        }
    }
}

impl AuditFilter {
    fn matches(&self, r: &AuditRecord) -> bool {
        self.actor_id
            .as_ref()
            .is_none_or(|a| *a == r.draft.actor.id)
            && self.category.is_none_or(|c| c == r.draft.category)
            && self.since.is_none_or(|s| r.draft.at >= s)
            && self.until.is_none_or(|u| r.draft.at < u)
    }
}

/// What verifying one chain found.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AuditChainReport {
    /// Records checked (up to and including the first broken one).
    pub records: u64,
    /// The seq of the first record that does not link, or `None` if the chain is intact.
    pub first_broken_seq: Option<u64>,
    pub reason: Option<String>,
}

pub(crate) fn chain_id(workspace_id: Option<&str>) -> &str {
    workspace_id.unwrap_or(APPLIANCE_CHAIN)
}

fn record_key(chain: &str, seq: u64) -> Vec<u8> {
    let mut k = Vec::with_capacity(chain.len() + 9);
    k.extend_from_slice(chain.as_bytes());
    k.push(0);
    k.extend_from_slice(&seq.to_be_bytes());
    k
}

/// Splits an audit key into chain id and seq.
pub(crate) fn chain_of_key(k: &[u8]) -> Result<(&str, u64), String> {
    let split = k
        .len()
        .checked_sub(9)
        .filter(|&i| k[i] == 0)
        .ok_or("key is not `chain 0x00 seq`")?;
    let chain = std::str::from_utf8(&k[..split]).map_err(|e| e.to_string())?;
    let seq = seq_from_key(&k[split + 1..]).ok_or("key has no seq")?;
    Ok((chain, seq))
}

fn chain_range(chain: &str) -> (Vec<u8>, Vec<u8>) {
    (record_key(chain, 0), record_key(chain, u64::MAX))
}

fn hash_of(seq: u64, prev_hash: &str, draft: &AuditDraft) -> Result<String, StoreError> {
    let json = encode(&Unhashed {
        seq,
        prev_hash,
        draft,
    })?;
    let mut h = Sha256::new();
    h.update(prev_hash.as_bytes());
    h.update(&json);
    Ok(hex::encode(h.finalize()))
}

/// Refuses drafts the store must never keep: metadata keys named like secrets, and workspace
/// ids that cannot be a chain id. Called before submitting, so a refusal writes nothing.
pub(crate) fn check_draft(draft: &AuditDraft) -> Result<(), StoreError> {
    for key in draft.metadata.keys() {
        let lower = key.to_ascii_lowercase();
        let last = lower.rsplit(['_', '-', '.']).next().unwrap_or(&lower);
        if SECRET_WORDS.contains(&last) {
            return Err(StoreError::Conflict {
                what: format!("audit metadata key {key:?} is named like a secret"),
            });
        }
    }
    if let Some(ws) = &draft.workspace_id
        && (ws.is_empty() || ws.contains('\0') || ws == APPLIANCE_CHAIN)
    {
        return Err(StoreError::Conflict {
            what: format!("{ws:?} is not a workspace id"),
        });
    }
    Ok(())
}

/// Appends `draft` to its chain inside `txn`. Must not be called while the caller holds the
/// audit tables open.
pub(crate) fn append_in(
    txn: &WriteTransaction,
    draft: &AuditDraft,
) -> Result<AuditRecord, StoreError> {
    let chain = chain_id(draft.workspace_id.as_deref());
    let mut table = txn.open_table(AUDIT)?;
    let (start, end) = chain_range(chain);
    let last = match table.range(start.as_slice()..=end.as_slice())?.next_back() {
        Some(entry) => {
            let (k, v) = entry?;
            let seq = chain_of_key(k.value()).map(|(_, s)| s).unwrap_or(0);
            let hash = decode::<AuditRecord>(v.value())
                .map(|r| r.hash)
                .unwrap_or_default();
            Some((seq, hash))
        }
        None => None,
    };
    let (prev_seq, prev_hash) = match last {
        Some(last) => last,
        None => {
            let anchors = txn.open_table(AUDIT_ANCHORS)?;
            match read_record::<AuditAnchor>(&anchors, AUDIT_ANCHORS, chain.as_bytes())? {
                Some(a) => (a.seq, a.hash),
                None => (0, GENESIS.to_string()),
            }
        }
    };
    let seq = prev_seq + 1;
    let hash = hash_of(seq, &prev_hash, draft)?;
    let record = AuditRecord {
        seq,
        prev_hash,
        hash,
        draft: draft.clone(),
    };
    table.insert(
        record_key(chain, seq).as_slice(),
        encode(&record)?.as_slice(),
    )?;
    drop(table);
    emit_audited(txn, draft)?;
    Ok(record)
}

/// The webhook events of a successful audited change, in its transaction (see `webhooks.rs`).
fn emit_audited(txn: &WriteTransaction, draft: &AuditDraft) -> Result<(), StoreError> {
    let Some(workspace_id) = &draft.workspace_id else {
        return Ok(());
    };
    if draft.result != AuditResult::Success {
        return Ok(());
    }
    let types = acorn_proto::webhooks::EventType::for_audit_action(&draft.action);
    if types.is_empty() {
        return Ok(());
    }
    let data = acorn_proto::webhooks::AuditEventData {
        action: draft.action.clone(),
        actor: acorn_proto::webhooks::ActorRef {
            kind: match draft.actor.kind {
                ActorKind::User => "user",
                ActorKind::Token => "token",
                ActorKind::System => "system",
                ActorKind::Agent => "agent",
            }
            .to_owned(),
            id: draft.actor.id.clone(),
            display: draft.actor.display.clone(),
        },
        target: draft.target.clone(),
        metadata: draft.metadata.clone(),
    };
    for t in types {
        crate::webhooks::emit_in(txn, workspace_id, *t, &data)?;
    }
    Ok(())
}

/// Walks one chain in key order and stops at the first broken link.
pub(crate) struct ChainVerifier {
    chain: String,
    expected_seq: u64,
    prev_hash: String,
    records: u64,
    broken: Option<(u64, String)>,
}

impl ChainVerifier {
    pub(crate) fn new(chain: &str, anchor: Option<AuditAnchor>) -> Self {
        let (seq, hash) = anchor.map_or((0, GENESIS.to_string()), |a| (a.seq, a.hash));
        ChainVerifier {
            chain: chain.to_string(),
            expected_seq: seq + 1,
            prev_hash: hash,
            records: 0,
            broken: None,
        }
    }

    pub(crate) fn is_broken(&self) -> bool {
        self.broken.is_some()
    }

    /// Checks the next record of the chain (stored under `key_seq`).
    pub(crate) fn step(&mut self, key_seq: u64, value: &[u8]) {
        if self.broken.is_some() {
            return;
        }
        self.records += 1;
        if let Err(reason) = self.check(key_seq, value) {
            self.broken = Some((key_seq, reason));
        }
    }

    fn check(&mut self, key_seq: u64, value: &[u8]) -> Result<(), String> {
        if key_seq != self.expected_seq {
            return Err(format!(
                "expected seq {} but the next record is seq {key_seq} (records missing)",
                self.expected_seq
            ));
        }
        let record: AuditRecord =
            decode(value).map_err(|e| format!("the record does not decode: {e}"))?;
        if record.seq != key_seq {
            return Err(format!(
                "record says seq {} under key seq {key_seq}",
                record.seq
            ));
        }
        if chain_id(record.draft.workspace_id.as_deref()) != self.chain {
            return Err("the record belongs to another chain".into());
        }
        if record.prev_hash != self.prev_hash {
            return Err("prev_hash does not match the previous record's hash".into());
        }
        let actual =
            hash_of(record.seq, &record.prev_hash, &record.draft).map_err(|e| e.to_string())?;
        if actual != record.hash {
            return Err("the record's contents do not match its hash (altered)".into());
        }
        self.expected_seq += 1;
        self.prev_hash = record.hash;
        Ok(())
    }

    pub(crate) fn report(&self) -> AuditChainReport {
        AuditChainReport {
            records: self.records,
            first_broken_seq: self.broken.as_ref().map(|(s, _)| *s),
            reason: self.broken.as_ref().map(|(_, r)| r.clone()),
        }
    }

    pub(crate) fn into_error(self) -> Option<StoreError> {
        self.broken
            .map(|(seq, reason)| StoreError::AuditChainBroken {
                chain: self.chain,
                seq,
                reason,
            })
    }
}

/// Verifies every chain of a database (for `verify_file`): `(chain, records)` in chain order,
/// or the first broken link. Anchors without records are chains whose records were all pruned.
pub(crate) fn verify_all(db: &impl ReadableDatabase) -> Result<Vec<(String, u64)>, StoreError> {
    let txn = db.begin_read()?;
    let audit = txn.open_table(AUDIT)?;
    let anchors = txn.open_table(AUDIT_ANCHORS)?;
    let mut out = Vec::new();
    let mut current: Option<ChainVerifier> = None;
    for entry in audit.iter()? {
        let (k, v) = entry?;
        let (chain, seq) = chain_of_key(k.value()).map_err(|reason| StoreError::BadRecord {
            table: "audit".into(),
            key: crate::schema::show_key(k.value()),
            reason,
        })?;
        if current.as_ref().is_none_or(|c| c.chain != chain) {
            if let Some(done) = current.take() {
                out.push((done.chain.clone(), done.records));
            }
            let anchor = read_record::<AuditAnchor>(&anchors, AUDIT_ANCHORS, chain.as_bytes())?;
            current = Some(ChainVerifier::new(chain, anchor));
        }
        if let Some(c) = current.as_mut() {
            c.step(seq, v.value());
            if c.is_broken() {
                return Err(current
                    .take()
                    .and_then(ChainVerifier::into_error)
                    .unwrap_or(StoreError::Closed));
            }
        }
    }
    if let Some(done) = current {
        out.push((done.chain, done.records));
    }
    Ok(out)
}

impl Store {
    /// Appends a record on its own: reads of sensitive data and denied attempts (changes carry
    /// their record in their own transaction).
    pub async fn append_audit(&self, draft: AuditDraft) -> Result<AuditRecord, StoreError> {
        check_draft(&draft)?;
        self.submit(move |txn| append_in(txn, &draft)).await
    }

    /// The records of one chain (`None` = appliance chain) matching `filter`, by seq.
    pub fn audit_records(
        &self,
        workspace_id: Option<&str>,
        filter: AuditFilter,
    ) -> Result<Vec<AuditRecord>, StoreError> {
        let chain = chain_id(workspace_id);
        let txn = self.db().begin_read()?;
        let table = txn.open_table(AUDIT)?;
        let start = record_key(chain, filter.after_seq.map_or(0, |s| s.saturating_add(1)));
        let (_, end) = chain_range(chain);
        let mut out = Vec::new();
        if filter.limit == 0 || filter.after_seq == Some(u64::MAX) {
            return Ok(out);
        }
        for entry in table.range(start.as_slice()..=end.as_slice())? {
            let (k, v) = entry?;
            let record: AuditRecord =
                decode(v.value()).map_err(|reason| StoreError::BadRecord {
                    table: "audit".into(),
                    key: crate::schema::show_key(k.value()),
                    reason,
                })?;
            if filter.matches(&record) {
                out.push(record);
                if out.len() >= filter.limit {
                    break;
                }
            }
        }
        Ok(out)
    }

    /// Checks one chain from its anchor (or genesis) to its last record.
    pub fn verify_audit_chain(
        &self,
        workspace_id: Option<&str>,
    ) -> Result<AuditChainReport, StoreError> {
        let chain = chain_id(workspace_id);
        let txn = self.db().begin_read()?;
        let table = txn.open_table(AUDIT)?;
        let anchors = txn.open_table(AUDIT_ANCHORS)?;
        let anchor = read_record::<AuditAnchor>(&anchors, AUDIT_ANCHORS, chain.as_bytes())?;
        let mut verifier = ChainVerifier::new(chain, anchor);
        let (start, end) = chain_range(chain);
        for entry in table.range(start.as_slice()..=end.as_slice())? {
            let (k, v) = entry?;
            let seq = chain_of_key(k.value()).map_or(0, |(_, s)| s);
            verifier.step(seq, v.value());
            if verifier.is_broken() {
                break;
            }
        }
        Ok(verifier.report())
    }

    /// Retention: deletes, per chain, the leading records with `at < older_than` (a prefix, so
    /// a chain stays contiguous even if clocks went backwards) and anchors the chain at the last
    /// deleted one. Returns how many records were deleted.
    pub async fn prune_audit(&self, older_than: i64) -> Result<u64, StoreError> {
        let now = crate::unix_now();
        self.submit(move |txn| {
            let mut table = txn.open_table(AUDIT)?;
            let mut doomed: Vec<Vec<u8>> = Vec::new();
            let mut anchors: BTreeMap<String, AuditAnchor> = BTreeMap::new();
            let mut done_chain: Option<String> = None;
            for entry in table.iter()? {
                let (k, v) = entry?;
                let Ok((chain, seq)) = chain_of_key(k.value()) else {
                    continue;
                };
                if done_chain.as_deref() == Some(chain) {
                    continue;
                }
                // An undecodable record stops pruning of its chain: verify must see it.
                match decode::<AuditRecord>(v.value()) {
                    Ok(r) if r.draft.at < older_than => {
                        doomed.push(k.value().to_vec());
                        anchors.insert(
                            chain.to_string(),
                            AuditAnchor {
                                seq,
                                hash: r.hash,
                                pruned_at: now,
                            },
                        );
                    }
                    _ => done_chain = Some(chain.to_string()),
                }
            }
            for k in &doomed {
                table.remove(k.as_slice())?;
            }
            let mut anchor_table = txn.open_table(AUDIT_ANCHORS)?;
            for (chain, anchor) in &anchors {
                anchor_table.insert(chain.as_bytes(), encode(anchor)?.as_slice())?;
            }
            Ok(doomed.len() as u64)
        })
        .await
    }
}
