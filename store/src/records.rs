//! Domain records: what the appliance stores and reads back.
//!
//! Every record is encoded as JSON in its table. Optional fields added later carry
//! `#[serde(default)]` so older files keep decoding without a migration; a change of meaning
//! needs a migration in `schema.rs`.

use serde::{Deserialize, Serialize};

/// The appliance's certificate authority (PEM). Agents pin it, so it is never replaced.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CaMaterial {
    pub cert_pem: String,
    pub key_pem: String,
    pub created_at: i64,
}

/// The current TLS serving certificate, signed by the CA; rotated by the appliance.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LeafMaterial {
    pub cert_pem: String,
    pub key_pem: String,
    #[serde(default)]
    pub sans: Vec<String>,
    pub not_after: i64,
    pub created_at: i64,
}

/// A local (non-OIDC) account. `password_hash` is a PHC string made by the appliance.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LocalAccount {
    pub username: String,
    pub password_hash: String,
    #[serde(default)]
    pub administrator: bool,
    pub created_at: i64,
    pub updated_at: i64,
    /// The account's [`crate::User`] (issuer `local`, subject = username). Every account has
    /// one from schema 2 on; `None` only in a schema-1 record being migrated.
    #[serde(default)]
    pub user_id: Option<String>,
}

/// What redeeming a one-time link does.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum OneTimePurpose {
    /// First-run setup: creates the first administrator.
    Setup,
    /// `acorn recover`: resets (or recreates) the named account.
    Recover { username: String },
}

/// A one-time link; only the SHA-256 of the secret is stored.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OneTimeToken {
    #[serde(with = "hex_32")]
    pub token_hash: [u8; 32],
    pub purpose: OneTimePurpose,
    pub expires_at: i64,
    pub created_at: i64,
}

/// The outcome of a successful redeem.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Redeemed {
    pub username: String,
    /// true when the account was created, false when an existing one was reset.
    pub created: bool,
}

/// One entry of the append-only log of appliance lifecycle events.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SystemEvent {
    pub seq: u64,
    pub at: i64,
    pub kind: String,
    pub message: String,
}

/// The JSON sidecar written next to an online backup (`<backup>.manifest.json`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BackupManifest {
    pub acorn_version: String,
    pub schema_version: u32,
    /// Lowercase hex SHA-256 of the backup file.
    pub sha256: String,
    pub bytes: u64,
    pub created_at: i64,
    /// Records copied, all tables together.
    pub records: u64,
}

/// What `verify_file` / `verify_backup` found.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct VerifyReport {
    pub schema_version: u32,
    pub written_by: String,
    /// Every table of the schema with its record count.
    pub tables: Vec<(String, u64)>,
    pub manifest: Option<BackupManifest>,
    /// redb had to recover the file (it was not closed cleanly, e.g. copied after a crash).
    /// The recovery ran on an in-memory overlay; the file itself was not changed.
    #[serde(default)]
    pub needed_recovery: bool,
    /// Every audit chain (workspace id, or `appliance`) with its record count; all verified.
    #[serde(default)]
    pub audit_chains: Vec<(String, u64)>,
}

/// What `restore` did.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RestoreReport {
    /// Where the replaced state file was moved (`<state>.pre-restore-<unix>`), if there was one.
    pub previous_moved_to: Option<std::path::PathBuf>,
    pub manifest: Option<BackupManifest>,
}

/// Serialize a 32-byte hash as lowercase hex, which reads better than 32 numbers in JSON.
pub(crate) mod hex_32 {
    use serde::{Deserialize, Deserializer, Serializer, de::Error};

    pub fn serialize<S: Serializer>(v: &[u8; 32], s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&hex::encode(v))
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<[u8; 32], D::Error> {
        let s = String::deserialize(d)?;
        let mut out = [0u8; 32];
        hex::decode_to_slice(&s, &mut out).map_err(D::Error::custom)?;
        Ok(out)
    }
}
