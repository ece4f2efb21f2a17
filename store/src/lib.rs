//! acorn-store: all persistent state of the Acorn appliance, in one redb file.
//!
//! This is the only crate that imports redb. It exposes a domain API (TLS material, local
//! accounts and one-time links, system events, backup/verify/restore), never raw tables.
//!
//! # Layout
//! - `schema.rs`: the table registry (`ALL_TABLES`), the meta table (format marker, schema
//!   version, last writer) and the ordered migrations.
//! - `records.rs`: the record types, JSON-encoded; optional fields use `#[serde(default)]`.
//! - `store.rs`: [`Store`]: opening (lock, foreign-file and newer-schema refusal, migrations),
//!   reads, and the domain writes.
//! - `writer.rs`: the single writer thread doing durable group commit.
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

#![forbid(unsafe_code)]
#![cfg_attr(
    not(test),
    deny(clippy::unwrap_used, clippy::expect_used, clippy::panic, clippy::todo)
)]

mod backup;
mod error;
mod overlay;
mod records;
mod schema;
mod store;
#[cfg(feature = "test-support")]
pub mod testing;
mod writer;

#[cfg(test)]
mod tests;

pub use backup::{manifest_path, restore, verify_backup, verify_file};
pub use error::{EngineError, StoreError};
pub use records::{
    BackupManifest, CaMaterial, LeafMaterial, LocalAccount, OneTimePurpose, OneTimeToken, Redeemed,
    RestoreReport, SystemEvent, VerifyReport,
};
pub use store::{CommitStats, Store, StoreOptions};

/// The schema this binary writes.
pub const SCHEMA_VERSION: u32 = 1;

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
