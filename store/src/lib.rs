//! acorn-store: all persistent state of the Acorn appliance, in one redb file.
//!
//! This is the only crate that imports redb. It exposes a domain API (TLS material, local
//! accounts and one-time links, system events, users, sessions, workspaces, memberships,
//! invitations, API tokens, the audit log, backup/verify/restore), never raw tables.
//!
//! # Layout
//! - `schema.rs`: the table registry (`ALL_TABLES`, each table with its decode check and the
//!   schema that introduced it), the meta table (format marker, schema version, last writer) and
//!   the ordered migrations (0→1 appliance core, 1→2 identity: every local account gets a
//!   [`User`]; 2→3 clusters; 3→4 the gateway; 4→5 sessions and runs; 5→6 webhooks and alert
//!   receivers; 6→7 model evaluations). `fixtures/` keeps one real store file per schema for the migration tests.
//! - `records.rs`: the appliance-core record types, JSON-encoded; optional fields use
//!   `#[serde(default)]`.
//! - `store.rs`: [`Store`]: opening (lock, foreign-file and newer-schema refusal, migrations),
//!   reads, and the appliance-core writes (TLS, one-time links, system events).
//! - `identity.rs`: users, sessions, workspaces, memberships, invitations, API tokens. Every
//!   change that takes an [`AuditDraft`] appends it in its own transaction; refusals
//!   ([`StoreError::LastOwner`], [`StoreError::NotFound`], …) write nothing.
//! - `clusters.rs`: registered clusters, agent keys (hashed), what each agent reported, and the
//!   persisted picture of each cluster (full snapshots replace it, deltas update it, within a
//!   byte budget).
//! - `audit.rs`: the audit log: one hash chain per workspace plus the `appliance` chain,
//!   queries, chain verification (also run by `verify_file`) and retention with anchors.
//! - `gateway.rs`: the LLM gateway's records: encrypted secrets (the store sees only ciphertext
//!   and wrapped data keys), a KEK generated into the store when none is configured, run-JWT
//!   signing keys, workspace providers, MCP servers, per-run output-token budgets (reserve and
//!   settle on the single writer) and the gateway request log (schema 4).
//! - `runs.rs`: sessions, runs, their numbered events (and a global event log for the search
//!   index's catch-up), approvals (first decision wins), the runs that have not ended, and the
//!   search watermark (schema 5). A finished run never changes again.
//! - `webhooks.rs`: webhook subscriptions, the durable outbox (events written in the
//!   transaction of the change that caused them), the delivery log, alert receivers and their
//!   dedup records (schema 6).
//! - `evals.rs`: model evaluations started from the API, with their reports (schema 7).
//! - `writer.rs`: the single writer thread doing durable group commit.
//! - `upgrade.rs`: what this binary would do to a store file (`inspect`, for `acorn
//!   upgrade-check`) and the backup written before a migration (`pre-upgrade-<from>-to-<to>-<time>.redb`).
//! - `search/`: the full-text index of run events (tantivy, derived from the store, rebuilt
//!   when missing, corrupted or of another schema); see its module docs.
//! - `backup.rs`: online backup, verify, restore; `overlay.rs`: the copy-on-write backend that
//!   lets verify run redb's integrity check without modifying the file.
//!
//! # Redeeming one-time tokens
//! Unknown or used → [`StoreError::TokenUnknown`]; `expires_at <= now` →
//! [`StoreError::TokenExpired`] (and the token is deleted). A Setup token needs a username
//! ([`StoreError::UsernameRequired`]), refuses an existing one ([`StoreError::UsernameTaken`])
//! and creates an administrator; redeeming it deletes every Setup token. A Recover token resets
//! the password of its account, or recreates it as an administrator. A failed redeem changes
//! nothing else.
//!
//! # Identity invariants
//! - Secrets are never stored: sessions, invitations and API tokens are keyed by the SHA-256 of
//!   their secret, which the caller computes.
//! - A workspace always has an owner: the owner count and the demotion or removal are one
//!   transaction on the single writer, so concurrent requests cannot both pass the check.
//! - A change and its audit record commit together; a refused change has neither.
//! - Audit metadata keys named like secrets (`password`, `token`, `secret`, `authorization`,
//!   `cookie` as the last word of the key) are refused with [`StoreError::Conflict`].

#![forbid(unsafe_code)]
#![cfg_attr(
    not(test),
    deny(clippy::unwrap_used, clippy::expect_used, clippy::panic, clippy::todo)
)]

mod audit;
mod backup;
mod clusters;
mod error;
mod evals;
mod gateway;
mod identity;
mod overlay;
mod records;
mod runs;
mod schema;
pub mod search;
mod store;
#[cfg(any(test, feature = "test-support"))]
pub mod testing;
mod upgrade;
mod webhooks;
mod writer;

#[cfg(test)]
mod tests;
#[cfg(test)]
mod tests_clusters;
#[cfg(test)]
mod tests_gateway;
#[cfg(test)]
mod tests_identity;
#[cfg(test)]
mod tests_runs;
#[cfg(test)]
mod tests_upgrade;
#[cfg(test)]
mod tests_webhooks;

pub use acorn_proto::authz::Role;
pub use audit::{
    APPLIANCE_CHAIN, Actor, ActorKind, AuditChainReport, AuditDraft, AuditFilter, AuditRecord,
    AuditResult, Category, Operation,
};
pub use backup::{manifest_path, restore, verify_backup, verify_file};
pub use clusters::{
    AgentInfo, AgentKey, Cluster, ClusterUpdate, FindingsRecord, RbacScope, SnapshotInfo,
};
pub use error::{EngineError, StoreError};
pub use evals::{EvalRecord, INTERRUPTED, MAX_EVALS_PER_WORKSPACE};
pub use gateway::{
    BudgetRefusal, DEPLOYMENT_SCOPE, GatewayRequestFilter, GatewayRequestRecord, McpServerRecord,
    McpToolRecord, ProviderRecord, Rewrap, RunBudget, SecretRecord, SigningKeyRecord, StoredKek,
};
pub use identity::{
    ApiToken, Invitation, LOCAL_ISSUER, Membership, Session, TOUCH_INTERVAL_SECS, User, Workspace,
    new_id,
};
pub use records::{
    BackupManifest, CaMaterial, LeafMaterial, LocalAccount, OneTimePurpose, OneTimeToken, Redeemed,
    RestoreReport, SystemEvent, VerifyReport,
};
pub use runs::{NewEvent, RunChange, RunRecord, SearchState, SessionRecord, new_run_id};
pub use store::{CommitStats, Store, StoreOptions};
pub use upgrade::{MigrationStep, UpgradeDone, UpgradePlan, inspect};
pub use webhooks::{
    AlertClaim, AlertRecord, AttemptNext, AttemptOutcome, AttemptRecorded, DeliveryRecord,
    OutboxEntry, ReceiverRecord, SigningSecretRef, SubscriptionRecord, WebhookEventRecord,
    new_ordered_id, session_alert,
};

/// The schema this binary writes.
pub const SCHEMA_VERSION: u32 = 7;

pub(crate) fn unix_now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX))
        .unwrap_or(0)
}

#[cfg(test)]
pub(crate) fn backup_sha_for_tests(path: &std::path::Path) -> (String, u64) {
    use sha2::Digest;
    let bytes = std::fs::read(path).unwrap();
    (
        hex::encode(sha2::Sha256::digest(&bytes)),
        bytes.len() as u64,
    )
}
