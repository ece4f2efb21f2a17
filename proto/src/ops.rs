//! Bodies of the operations endpoints and of the local control socket (`<state>/acorn.sock`),
//! which the ops verbs (`acorn cert show`, `acorn recover`, `acorn backup`) use while the server
//! runs and holds the store's lock.

use serde::{Deserialize, Serialize};

/// A request on the local control socket: one JSON line in, one JSON line out.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(tag = "op", rename_all = "snake_case", deny_unknown_fields)]
pub enum LocalRequest {
    /// The appliance CA certificate, for `acorn cert show`.
    CertShow,
    /// Force a new leaf certificate now, for `acorn cert rotate-leaf`.
    RotateLeaf,
    /// Issue a one-time link for an administrator, for `acorn recover`.
    Recover {
        /// The administrator's username.
        username: String,
    },
    /// Write an online backup, for `acorn backup`.
    Backup {
        /// Absolute path of the backup file to write.
        out: String,
    },
    /// `acorn gateway …` and `acorn secrets …`.
    Gateway(crate::gateway::GatewayLocalRequest),
    /// Drop the run search index and rebuild it from the store, for `acorn reindex`.
    Reindex,
}

/// The answer on the local control socket.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(tag = "result", rename_all = "snake_case")]
pub enum LocalResponse {
    /// The CA certificate.
    Cert(CertInfo),
    /// A one-time link.
    Link(OneTimeLink),
    /// A backup was written.
    Backup(BackupDone),
    /// A gateway operation succeeded.
    Gateway(crate::gateway::GatewayLocalResponse),
    /// The search index is being rebuilt in the background.
    Reindexing {
        /// What happens now.
        message: String,
    },
    /// The operation failed; the message says why.
    Error {
        /// What went wrong and what to do.
        message: String,
    },
}

/// The appliance CA and the current leaf, as `acorn cert show` prints them.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct CertInfo {
    /// The CA certificate (PEM) that agents and clients pin.
    pub ca_pem: String,
    /// SHA-256 of the CA certificate's DER, as colon-separated upper-case hex.
    pub ca_sha256: String,
    /// Subject alternative names of the serving leaf.
    pub leaf_sans: Vec<String>,
    /// Expiry of the serving leaf (RFC 3339).
    pub leaf_not_after: String,
    /// `generated` (made from the appliance CA) or `operator` (files from `tls.cert_file`).
    pub leaf_source: String,
}

/// A one-time link printed for the operator.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct OneTimeLink {
    /// Full URL to open in a browser.
    pub url: String,
    /// Expiry (RFC 3339).
    pub expires_at: String,
}

/// Result of an online backup.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct BackupDone {
    /// Path of the backup file.
    pub path: String,
    /// Path of its manifest.
    pub manifest_path: String,
    /// Size in bytes.
    pub bytes: u64,
    /// SHA-256 of the file, hex.
    pub sha256: String,
}

/// `GET /readyz` body.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Readiness {
    /// `true` when the store is open and migrations are done.
    pub ready: bool,
    /// Schema version of the open store.
    pub schema_version: u32,
    /// Acorn version.
    pub version: String,
}
