//! The gateway's records: encrypted secrets and the stored key-encryption key, run-JWT signing
//! keys, workspace providers, MCP servers, per-run output-token budgets and the gateway request
//! log.
//!
//! The store never sees a secret in clear: [`SecretRecord`] holds the AEAD ciphertext and the
//! wrapped data key that the appliance's gateway produced; the store only keeps them consistent
//! (a KEK rotation re-wraps every record in one transaction through a caller-supplied function).
//! A KEK generated into the store ([`StoredKek`]) sits in the same file as the secrets it wraps:
//! then a backup alone decrypts them (the docs say so; a systemd credential or a KEK file avoids it).
//!
//! Budgets: [`Store::reserve_output_tokens`] checks and reserves in one write transaction on the
//! single writer, so concurrent calls of one run cannot overspend; [`Store::settle_output_tokens`]
//! replaces a reservation by what was actually used.

use std::sync::Arc;

use redb::{ReadableDatabase, ReadableTable, WriteTransaction};
use serde::{Deserialize, Serialize};

use acorn_proto::gateway::{McpToolMode, ProviderSpec};

use crate::audit::{AuditDraft, append_in, check_draft};
use crate::schema::{
    GATEWAY_META, GATEWAY_REQUESTS, MCP_SERVERS, PROVIDERS, RUN_BUDGETS, SECRETS, SIGNING_KEYS,
    decode, encode, pair_key, prefix_range, show_key,
};
use crate::store::read_record;
use crate::{Store, StoreError};

/// The secret scope of deployment-wide secrets (run-JWT signing keys); workspace secrets use the
/// workspace id.
pub const DEPLOYMENT_SCOPE: &str = "_deployment";

const KEY_KEK: &[u8] = b"kek";

/// A key-encryption key generated into the store (only when none is configured).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StoredKek {
    /// Identifier (a hash of the key), recorded in every secret it wraps.
    pub id: String,
    /// The key, base64.
    pub key_b64: String,
    pub created_at: i64,
}

/// One encrypted secret: `ciphertext = AEAD(data key, nonce, value)`, and the data key wrapped
/// by the KEK `kek_id`. Fields are base64 strings.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SecretRecord {
    /// Workspace id or [`DEPLOYMENT_SCOPE`].
    pub scope: String,
    pub name: String,
    pub kek_id: String,
    pub wrapped_dek: String,
    pub dek_nonce: String,
    pub ciphertext: String,
    pub nonce: String,
    /// `sha256:` + 8 hex digits of the value.
    pub fingerprint: String,
    pub created_at: i64,
    pub updated_at: i64,
}

/// A run-JWT signing key. The private key is the secret `run-jwt-key/<kid>` of
/// [`DEPLOYMENT_SCOPE`]; the public key is here in clear.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SigningKeyRecord {
    pub kid: String,
    /// `EdDSA`.
    pub alg: String,
    /// Raw Ed25519 public key, base64.
    pub public_key_b64: String,
    pub created_at: i64,
    /// When a newer key replaced it (it still verifies tokens until they expire).
    pub superseded_at: Option<i64>,
}

/// A workspace's provider.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ProviderRecord {
    pub workspace_id: String,
    pub name: String,
    pub spec: ProviderSpec,
    /// Name of the workspace secret holding the API key, if one is set.
    pub api_key_secret: Option<String>,
    pub created_at: i64,
    pub updated_at: i64,
}

/// A tool discovered on an MCP server.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct McpToolRecord {
    pub name: String,
    pub description: String,
    pub input_schema: serde_json::Value,
    pub read_only_hint: bool,
    pub mode: McpToolMode,
}

/// A registered MCP server.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct McpServerRecord {
    /// `mcp_…`.
    pub id: String,
    pub workspace_id: String,
    pub name: String,
    pub url: String,
    /// Header name → name of the workspace secret holding its value.
    pub header_secrets: std::collections::BTreeMap<String, String>,
    pub timeout_ms: u64,
    pub max_output_bytes: usize,
    pub tools: Vec<McpToolRecord>,
    pub refreshed_at: Option<i64>,
    pub created_at: i64,
}

/// Output-token use of one run.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RunBudget {
    pub workspace_id: String,
    /// The budget of the run's token (the first token seen; later tokens cannot raise it).
    pub budget: u64,
    /// Output tokens spent by finished calls.
    pub used: u64,
    /// Output tokens reserved by calls in flight.
    pub reserved: u64,
    pub updated_at: i64,
}

/// Why a reservation was refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BudgetRefusal {
    /// Nothing is left.
    Exhausted { budget: u64 },
    /// Less is left than asked for.
    Exceeded { asked: u64, remaining: u64 },
}

/// One gateway request in the workspace's request log.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct GatewayRequestRecord {
    pub seq: u64,
    pub workspace_id: String,
    pub request_id: String,
    pub kind: String,
    pub run: Option<String>,
    pub session: Option<String>,
    pub cluster: Option<String>,
    pub provider: Option<String>,
    pub model: Option<String>,
    pub tools_offered: Vec<String>,
    pub tools_called: Vec<String>,
    pub input_tokens: u64,
    pub output_tokens: u64,
    pub usage_from_provider: bool,
    pub cost: f64,
    pub latency_ms: u64,
    pub ttft_ms: Option<u64>,
    pub status: String,
    pub error_code: Option<String>,
    pub redactions: u32,
    pub at: i64,
}

/// Which gateway requests to list.
#[derive(Debug, Clone, Default)]
pub struct GatewayRequestFilter {
    pub run: Option<String>,
    pub since: Option<i64>,
    /// Only records with a seq above this (the cursor).
    pub after_seq: Option<u64>,
    pub limit: usize,
}

/// Rewrites one secret under a new KEK (used by [`Store::rewrap_secrets`]).
pub type Rewrap = Arc<dyn Fn(&SecretRecord) -> Result<SecretRecord, String> + Send + Sync>;

type RwTable<'t> = redb::Table<'t, &'static [u8], &'static [u8]>;

fn put<T: Serialize>(table: &mut RwTable<'_>, key: &[u8], value: &T) -> Result<(), StoreError> {
    table.insert(key, encode(value)?.as_slice())?;
    Ok(())
}

fn scan<T: serde::de::DeserializeOwned>(
    table: &impl ReadableTable<&'static [u8], &'static [u8]>,
    def: crate::schema::Table,
    prefix: Option<&str>,
) -> Result<Vec<(Vec<u8>, T)>, StoreError> {
    use redb::TableHandle;
    let mut out = Vec::new();
    let mut push = |k: &[u8], v: &[u8]| -> Result<(), StoreError> {
        let record = decode(v).map_err(|reason| StoreError::BadRecord {
            table: def.name().to_string(),
            key: show_key(k),
            reason,
        })?;
        out.push((k.to_vec(), record));
        Ok(())
    };
    match prefix {
        Some(p) => {
            let (start, end) = prefix_range(p);
            for entry in table.range(start.as_slice()..end.as_slice())? {
                let (k, v) = entry?;
                push(k.value(), v.value())?;
            }
        }
        None => {
            for entry in table.iter()? {
                let (k, v) = entry?;
                push(k.value(), v.value())?;
            }
        }
    }
    Ok(out)
}

fn request_key(workspace_id: &str, seq: u64) -> Vec<u8> {
    let mut k = Vec::with_capacity(workspace_id.len() + 9);
    k.extend_from_slice(workspace_id.as_bytes());
    k.push(0);
    k.extend_from_slice(&seq.to_be_bytes());
    k
}

/// Checks a gateway request key: `workspace 0x00 seq`.
pub(crate) fn check_request_key(k: &[u8]) -> Result<(), String> {
    let split = k
        .len()
        .checked_sub(9)
        .filter(|&i| k[i] == 0)
        .ok_or("key is not `workspace 0x00 seq`")?;
    std::str::from_utf8(&k[..split]).map_err(|e| e.to_string())?;
    Ok(())
}

fn append_audit(txn: &WriteTransaction, audit: &Option<AuditDraft>) -> Result<(), StoreError> {
    if let Some(draft) = audit {
        append_in(txn, draft)?;
    }
    Ok(())
}

fn check(audit: &Option<AuditDraft>) -> Result<(), StoreError> {
    audit.as_ref().map_or(Ok(()), check_draft)
}

/// Removes a deleted workspace's providers, MCP servers, secrets and run budgets, inside the
/// workspace deletion's transaction. Its gateway request log is kept, like its audit chain.
pub(crate) fn delete_workspace_records(
    txn: &WriteTransaction,
    workspace_id: &str,
) -> Result<(), StoreError> {
    let (start, end) = prefix_range(workspace_id);
    for def in [PROVIDERS, MCP_SERVERS, SECRETS] {
        let mut table = txn.open_table(def)?;
        let keys: Vec<Vec<u8>> = table
            .range(start.as_slice()..end.as_slice())?
            .map(|e| e.map(|(k, _)| k.value().to_vec()))
            .collect::<Result<_, _>>()?;
        for k in keys {
            table.remove(k.as_slice())?;
        }
    }
    let mut budgets = txn.open_table(RUN_BUDGETS)?;
    let runs: Vec<Vec<u8>> = scan::<RunBudget>(&budgets, RUN_BUDGETS, None)?
        .into_iter()
        .filter(|(_, b)| b.workspace_id == workspace_id)
        .map(|(k, _)| k)
        .collect();
    for k in runs {
        budgets.remove(k.as_slice())?;
    }
    Ok(())
}

impl Store {
    // ---- key-encryption key and secrets ------------------------------------------------------

    /// The KEK generated into the store, if any.
    pub fn stored_kek(&self) -> Result<Option<StoredKek>, StoreError> {
        self.get_record(GATEWAY_META, KEY_KEK)
    }

    /// Stores `kek` unless one is stored already; returns the stored one (racing callers agree).
    pub async fn init_stored_kek(&self, kek: StoredKek) -> Result<StoredKek, StoreError> {
        self.submit(move |txn| {
            let mut table = txn.open_table(GATEWAY_META)?;
            if let Some(existing) = read_record::<StoredKek>(&table, GATEWAY_META, KEY_KEK)? {
                return Ok(existing);
            }
            put(&mut table, KEY_KEK, &kek)?;
            Ok(kek.clone())
        })
        .await
    }

    /// Stores or replaces a secret, with its audit record in the same transaction.
    pub async fn put_secret(
        &self,
        record: SecretRecord,
        audit: Option<AuditDraft>,
    ) -> Result<(), StoreError> {
        check(&audit)?;
        self.submit(move |txn| {
            let key = pair_key(&record.scope, &record.name);
            let mut table = txn.open_table(SECRETS)?;
            let mut record = record.clone();
            if let Some(old) = read_record::<SecretRecord>(&table, SECRETS, &key)? {
                record.created_at = old.created_at;
            }
            put(&mut table, &key, &record)?;
            drop(table);
            append_audit(txn, &audit)
        })
        .await
    }

    /// One secret.
    pub fn secret(&self, scope: &str, name: &str) -> Result<Option<SecretRecord>, StoreError> {
        self.get_record(SECRETS, &pair_key(scope, name))
    }

    /// The secrets of a scope, by name.
    pub fn secrets_of(&self, scope: &str) -> Result<Vec<SecretRecord>, StoreError> {
        let txn = self.db().begin_read()?;
        let table = txn.open_table(SECRETS)?;
        Ok(scan(&table, SECRETS, Some(scope))?
            .into_iter()
            .map(|(_, r)| r)
            .collect())
    }

    /// Every secret (for KEK checks).
    pub fn all_secrets(&self) -> Result<Vec<SecretRecord>, StoreError> {
        let txn = self.db().begin_read()?;
        let table = txn.open_table(SECRETS)?;
        Ok(scan(&table, SECRETS, None)?
            .into_iter()
            .map(|(_, r)| r)
            .collect())
    }

    /// Deletes a secret; `NotFound` if absent (then nothing is audited).
    pub async fn delete_secret(
        &self,
        scope: &str,
        name: &str,
        audit: Option<AuditDraft>,
    ) -> Result<(), StoreError> {
        check(&audit)?;
        let key = pair_key(scope, name);
        self.submit(move |txn| -> Result<Result<(), StoreError>, StoreError> {
            let mut table = txn.open_table(SECRETS)?;
            if table.remove(key.as_slice())?.is_none() {
                return Ok(Err(StoreError::NotFound {
                    what: "secret".into(),
                }));
            }
            drop(table);
            append_audit(txn, &audit)?;
            Ok(Ok(()))
        })
        .await?
    }

    /// Re-wraps every secret with `rewrap` in one transaction, and replaces the stored KEK by
    /// `new_stored_kek` (or removes it when the new KEK lives outside the store). A failing
    /// rewrap changes nothing. Returns how many secrets were re-wrapped.
    pub async fn rewrap_secrets(
        &self,
        rewrap: Rewrap,
        new_stored_kek: Option<StoredKek>,
        audit: AuditDraft,
    ) -> Result<u64, StoreError> {
        check_draft(&audit)?;
        self.submit(move |txn| -> Result<Result<u64, StoreError>, StoreError> {
            let all: Vec<(Vec<u8>, SecretRecord)> = {
                let table = txn.open_table(SECRETS)?;
                scan(&table, SECRETS, None)?
            };
            let mut rewrapped = Vec::with_capacity(all.len());
            for (k, record) in &all {
                match rewrap(record) {
                    Ok(r) => rewrapped.push((k.clone(), r)),
                    Err(what) => return Ok(Err(StoreError::Conflict { what })),
                }
            }
            let mut table = txn.open_table(SECRETS)?;
            for (k, r) in &rewrapped {
                put(&mut table, k, r)?;
            }
            drop(table);
            let mut meta = txn.open_table(GATEWAY_META)?;
            match &new_stored_kek {
                Some(kek) => put(&mut meta, KEY_KEK, kek)?,
                None => {
                    meta.remove(KEY_KEK)?;
                }
            }
            drop(meta);
            append_in(txn, &audit)?;
            Ok(Ok(rewrapped.len() as u64))
        })
        .await?
    }

    // ---- run-JWT signing keys ----------------------------------------------------------------

    /// Every signing key, oldest first.
    pub fn signing_keys(&self) -> Result<Vec<SigningKeyRecord>, StoreError> {
        let txn = self.db().begin_read()?;
        let table = txn.open_table(SIGNING_KEYS)?;
        let mut keys: Vec<SigningKeyRecord> = scan(&table, SIGNING_KEYS, None)?
            .into_iter()
            .map(|(_, r)| r)
            .collect();
        keys.sort_by(|a, b| (a.created_at, &a.kid).cmp(&(b.created_at, &b.kid)));
        Ok(keys)
    }

    /// Adds a signing key and its encrypted private key; marks the previous current keys
    /// superseded. With `only_if_none`, does nothing when a key exists (first start races) and
    /// returns `false`.
    pub async fn add_signing_key(
        &self,
        key: SigningKeyRecord,
        private: SecretRecord,
        only_if_none: bool,
        audit: Option<AuditDraft>,
    ) -> Result<bool, StoreError> {
        check(&audit)?;
        self.submit(move |txn| {
            let mut table = txn.open_table(SIGNING_KEYS)?;
            let existing: Vec<(Vec<u8>, SigningKeyRecord)> = scan(&table, SIGNING_KEYS, None)?;
            if only_if_none && !existing.is_empty() {
                return Ok(false);
            }
            for (k, mut old) in existing {
                if old.superseded_at.is_none() {
                    old.superseded_at = Some(key.created_at);
                    put(&mut table, &k, &old)?;
                }
            }
            put(&mut table, key.kid.as_bytes(), &key)?;
            drop(table);
            let mut secrets = txn.open_table(SECRETS)?;
            put(
                &mut secrets,
                &pair_key(&private.scope, &private.name),
                &private,
            )?;
            drop(secrets);
            append_audit(txn, &audit)?;
            Ok(true)
        })
        .await
    }

    /// Removes keys superseded before `before` (no token they signed can still be valid).
    pub async fn prune_signing_keys(&self, before: i64) -> Result<u64, StoreError> {
        self.submit(move |txn| {
            let mut table = txn.open_table(SIGNING_KEYS)?;
            let old: Vec<(Vec<u8>, SigningKeyRecord)> = scan(&table, SIGNING_KEYS, None)?;
            let mut secrets = txn.open_table(SECRETS)?;
            let mut n = 0;
            for (k, key) in old {
                if key.superseded_at.is_some_and(|t| t < before) {
                    table.remove(k.as_slice())?;
                    secrets.remove(
                        pair_key(DEPLOYMENT_SCOPE, &format!("run-jwt-key/{}", key.kid)).as_slice(),
                    )?;
                    n += 1;
                }
            }
            Ok(n)
        })
        .await
    }

    // ---- providers ---------------------------------------------------------------------------

    /// Stores or replaces a workspace provider, and (when given) its key, with the audit record.
    pub async fn put_provider(
        &self,
        record: ProviderRecord,
        api_key: Option<SecretRecord>,
        audit: AuditDraft,
    ) -> Result<ProviderRecord, StoreError> {
        check_draft(&audit)?;
        self.submit(move |txn| {
            let key = pair_key(&record.workspace_id, &record.name);
            let mut table = txn.open_table(PROVIDERS)?;
            let mut record = record.clone();
            if let Some(old) = read_record::<ProviderRecord>(&table, PROVIDERS, &key)? {
                record.created_at = old.created_at;
                if api_key.is_none() {
                    record.api_key_secret = old.api_key_secret;
                }
            }
            put(&mut table, &key, &record)?;
            drop(table);
            if let Some(secret) = &api_key {
                let mut secrets = txn.open_table(SECRETS)?;
                put(&mut secrets, &pair_key(&secret.scope, &secret.name), secret)?;
            }
            append_in(txn, &audit)?;
            Ok(record)
        })
        .await
    }

    /// A workspace provider.
    pub fn provider(
        &self,
        workspace_id: &str,
        name: &str,
    ) -> Result<Option<ProviderRecord>, StoreError> {
        self.get_record(PROVIDERS, &pair_key(workspace_id, name))
    }

    /// The providers of a workspace, by name.
    pub fn providers_of(&self, workspace_id: &str) -> Result<Vec<ProviderRecord>, StoreError> {
        let txn = self.db().begin_read()?;
        let table = txn.open_table(PROVIDERS)?;
        Ok(scan(&table, PROVIDERS, Some(workspace_id))?
            .into_iter()
            .map(|(_, r)| r)
            .collect())
    }

    /// Deletes a workspace provider and its key.
    pub async fn delete_provider(
        &self,
        workspace_id: &str,
        name: &str,
        audit: AuditDraft,
    ) -> Result<(), StoreError> {
        check_draft(&audit)?;
        let key = pair_key(workspace_id, name);
        self.submit(move |txn| -> Result<Result<(), StoreError>, StoreError> {
            let mut table = txn.open_table(PROVIDERS)?;
            let Some(old) = read_record::<ProviderRecord>(&table, PROVIDERS, &key)? else {
                return Ok(Err(StoreError::NotFound {
                    what: "provider".into(),
                }));
            };
            table.remove(key.as_slice())?;
            drop(table);
            if let Some(secret) = &old.api_key_secret {
                txn.open_table(SECRETS)?
                    .remove(pair_key(&old.workspace_id, secret).as_slice())?;
            }
            append_in(txn, &audit)?;
            Ok(Ok(()))
        })
        .await?
    }

    // ---- MCP servers -------------------------------------------------------------------------

    /// Stores a new or changed MCP server with its header secrets; `AlreadyExists`-style
    /// [`StoreError::Conflict`] when `create` and the name is taken in the workspace.
    pub async fn put_mcp_server(
        &self,
        record: McpServerRecord,
        secrets: Vec<SecretRecord>,
        create: bool,
        audit: AuditDraft,
    ) -> Result<McpServerRecord, StoreError> {
        check_draft(&audit)?;
        self.submit(
            move |txn| -> Result<Result<McpServerRecord, StoreError>, StoreError> {
                let mut table = txn.open_table(MCP_SERVERS)?;
                let key = pair_key(&record.workspace_id, &record.id);
                if create {
                    let same_name =
                        scan::<McpServerRecord>(&table, MCP_SERVERS, Some(&record.workspace_id))?
                            .into_iter()
                            .any(|(_, s)| s.name == record.name);
                    if same_name {
                        return Ok(Err(StoreError::Conflict {
                            what: format!("an MCP server named {} exists", record.name),
                        }));
                    }
                } else if table.get(key.as_slice())?.is_none() {
                    return Ok(Err(StoreError::NotFound {
                        what: "MCP server".into(),
                    }));
                }
                put(&mut table, &key, &record)?;
                drop(table);
                let mut table = txn.open_table(SECRETS)?;
                for s in &secrets {
                    put(&mut table, &pair_key(&s.scope, &s.name), s)?;
                }
                drop(table);
                append_in(txn, &audit)?;
                Ok(Ok(record.clone()))
            },
        )
        .await?
    }

    /// One MCP server.
    pub fn mcp_server(
        &self,
        workspace_id: &str,
        id: &str,
    ) -> Result<Option<McpServerRecord>, StoreError> {
        self.get_record(MCP_SERVERS, &pair_key(workspace_id, id))
    }

    /// The MCP servers of a workspace, by id.
    pub fn mcp_servers_of(&self, workspace_id: &str) -> Result<Vec<McpServerRecord>, StoreError> {
        let txn = self.db().begin_read()?;
        let table = txn.open_table(MCP_SERVERS)?;
        Ok(scan(&table, MCP_SERVERS, Some(workspace_id))?
            .into_iter()
            .map(|(_, r)| r)
            .collect())
    }

    /// Deletes an MCP server and its header secrets.
    pub async fn delete_mcp_server(
        &self,
        workspace_id: &str,
        id: &str,
        audit: AuditDraft,
    ) -> Result<(), StoreError> {
        check_draft(&audit)?;
        let key = pair_key(workspace_id, id);
        self.submit(move |txn| -> Result<Result<(), StoreError>, StoreError> {
            let mut table = txn.open_table(MCP_SERVERS)?;
            let Some(old) = read_record::<McpServerRecord>(&table, MCP_SERVERS, &key)? else {
                return Ok(Err(StoreError::NotFound {
                    what: "MCP server".into(),
                }));
            };
            table.remove(key.as_slice())?;
            drop(table);
            let mut secrets = txn.open_table(SECRETS)?;
            for name in old.header_secrets.values() {
                secrets.remove(pair_key(&old.workspace_id, name).as_slice())?;
            }
            drop(secrets);
            append_in(txn, &audit)?;
            Ok(Ok(()))
        })
        .await?
    }

    // ---- budgets -----------------------------------------------------------------------------

    /// The budget record of a run.
    pub fn run_budget(&self, run: &str) -> Result<Option<RunBudget>, StoreError> {
        self.get_record(RUN_BUDGETS, run.as_bytes())
    }

    /// Reserves `asked` output tokens of `run` (whose token grants `budget`). `asked = None`
    /// reserves what is left, at most `default_cap`. Returns the reserved amount, or why nothing
    /// was reserved.
    pub async fn reserve_output_tokens(
        &self,
        workspace_id: &str,
        run: &str,
        budget: u64,
        asked: Option<u64>,
        default_cap: u64,
        now: i64,
    ) -> Result<Result<u64, BudgetRefusal>, StoreError> {
        let workspace_id = workspace_id.to_owned();
        let run = run.to_owned();
        self.submit(move |txn| {
            let mut table = txn.open_table(RUN_BUDGETS)?;
            let mut record = read_record::<RunBudget>(&table, RUN_BUDGETS, run.as_bytes())?
                .unwrap_or(RunBudget {
                    workspace_id: workspace_id.clone(),
                    budget,
                    used: 0,
                    reserved: 0,
                    updated_at: now,
                });
            // A later token of the same run cannot raise what the first one granted.
            record.budget = record.budget.min(budget);
            let remaining = record
                .budget
                .saturating_sub(record.used)
                .saturating_sub(record.reserved);
            if remaining == 0 {
                return Ok(Err(BudgetRefusal::Exhausted {
                    budget: record.budget,
                }));
            }
            let amount = asked.unwrap_or(remaining.min(default_cap.max(1)));
            if amount > remaining {
                return Ok(Err(BudgetRefusal::Exceeded {
                    asked: amount,
                    remaining,
                }));
            }
            record.reserved += amount;
            record.updated_at = now;
            put(&mut table, run.as_bytes(), &record)?;
            Ok(Ok(amount))
        })
        .await
    }

    /// Replaces a reservation of `reserved` tokens by `used` tokens actually spent.
    pub async fn settle_output_tokens(
        &self,
        run: &str,
        reserved: u64,
        used: u64,
        now: i64,
    ) -> Result<RunBudget, StoreError> {
        let run = run.to_owned();
        self.submit(
            move |txn| -> Result<Result<RunBudget, StoreError>, StoreError> {
                let mut table = txn.open_table(RUN_BUDGETS)?;
                let Some(mut record) =
                    read_record::<RunBudget>(&table, RUN_BUDGETS, run.as_bytes())?
                else {
                    return Ok(Err(StoreError::NotFound {
                        what: "run budget".into(),
                    }));
                };
                record.reserved = record.reserved.saturating_sub(reserved);
                record.used = record.used.saturating_add(used);
                record.updated_at = now;
                put(&mut table, run.as_bytes(), &record)?;
                Ok(Ok(record))
            },
        )
        .await?
    }

    // ---- request log -------------------------------------------------------------------------

    /// Appends a gateway request to its workspace's log; returns its seq.
    pub async fn append_gateway_request(
        &self,
        record: GatewayRequestRecord,
    ) -> Result<u64, StoreError> {
        self.submit(move |txn| {
            let mut table = txn.open_table(GATEWAY_REQUESTS)?;
            let start = request_key(&record.workspace_id, 0);
            let end = request_key(&record.workspace_id, u64::MAX);
            let last = match table.range(start.as_slice()..=end.as_slice())?.next_back() {
                Some(entry) => {
                    let (k, _) = entry?;
                    let k = k.value();
                    let mut seq = [0u8; 8];
                    seq.copy_from_slice(&k[k.len() - 8..]);
                    u64::from_be_bytes(seq)
                }
                None => 0,
            };
            let mut record = record.clone();
            record.seq = last + 1;
            put(
                &mut table,
                &request_key(&record.workspace_id, record.seq),
                &record,
            )?;
            Ok(record.seq)
        })
        .await
    }

    /// A workspace's gateway requests, oldest first.
    pub fn gateway_requests(
        &self,
        workspace_id: &str,
        filter: &GatewayRequestFilter,
    ) -> Result<Vec<GatewayRequestRecord>, StoreError> {
        let txn = self.db().begin_read()?;
        let table = txn.open_table(GATEWAY_REQUESTS)?;
        let start = request_key(workspace_id, filter.after_seq.map_or(0, |s| s + 1));
        let end = request_key(workspace_id, u64::MAX);
        let mut out = Vec::new();
        for entry in table.range(start.as_slice()..=end.as_slice())? {
            let (k, v) = entry?;
            let record: GatewayRequestRecord =
                decode(v.value()).map_err(|reason| StoreError::BadRecord {
                    table: "gateway_requests".into(),
                    key: show_key(k.value()),
                    reason,
                })?;
            if filter
                .run
                .as_ref()
                .is_some_and(|r| record.run.as_ref() != Some(r))
                || filter.since.is_some_and(|s| record.at < s)
            {
                continue;
            }
            out.push(record);
            if out.len() >= filter.limit {
                break;
            }
        }
        Ok(out)
    }
}
