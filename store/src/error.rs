//! The one error type of acorn-store.
//!
//! Operators read these messages (from `acorn serve`, `acorn backup`, `acorn restore`,
//! `acorn verify`), so each says what happened and, where there is one, what to do. Errors of the
//! storage engine are wrapped in [`EngineError`] so that redb never appears in this crate's
//! public API (acorn-store is the only crate that imports redb).

use std::fmt;
use std::path::PathBuf;

/// Everything that can go wrong in acorn-store.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// `open_existing`, `verify_*` or `restore` was given a path with no file.
    #[error("no store at {path}")]
    Missing { path: PathBuf },

    /// The file is not an Acorn store: not a redb file at all, or a redb file without the
    /// `format = "acorn-store"` marker.
    #[error("{path} is not an Acorn store: {reason}")]
    NotAStore { path: PathBuf, reason: String },

    /// The store was written by a newer Acorn whose schema this binary does not know.
    #[error(
        "the store has schema version {found}, but this Acorn supports up to {supported}; it was \
         last written by Acorn {written_by}. Run Acorn {written_by} or newer, or restore a \
         backup made by this version"
    )]
    NewerSchema {
        found: u32,
        supported: u32,
        written_by: String,
    },

    /// The backup that must precede a migration could not be written; the store was left at
    /// its old schema.
    #[error(
        "cannot write the backup taken before upgrading the store into {dir}: {reason}. The store \
         was not migrated; make room there (or fix its permissions) and start again"
    )]
    PreUpgradeBackup { dir: PathBuf, reason: String },

    /// Another process (or another `Store` in this process) holds the file.
    #[error(
        "the store {path} is in use (is `acorn serve` running?). Stop it, or run this command \
         while the server runs so it can go through the server's local socket"
    )]
    Locked { path: PathBuf },

    /// A one-time token that does not exist or was already used.
    #[error("unknown or already used one-time token")]
    TokenUnknown,

    /// A one-time token past its expiry; it has been deleted.
    #[error("the one-time token has expired")]
    TokenExpired,

    /// Redeeming a setup token needs the name of the administrator to create.
    #[error("a username is required to redeem a setup token")]
    UsernameRequired,

    /// A setup token may only create an account, never take over one.
    #[error("the username {username:?} is already taken")]
    UsernameTaken { username: String },

    /// The change would leave a workspace without an owner.
    #[error("the workspace must keep at least one owner")]
    LastOwner,

    /// The workspace, user, member, invitation or token does not exist (`what` names which).
    #[error("no such {what}")]
    NotFound { what: String },

    /// The invitation was already accepted or was revoked.
    #[error("the invitation was already accepted or revoked")]
    InvitationUsed,

    /// The invitation is past its expiry.
    #[error("the invitation has expired")]
    InvitationExpired,

    /// Accepting an invitation into a workspace the user is already a member of.
    #[error("already a member of this workspace")]
    AlreadyMember,

    /// A workspace already has a cluster of this name.
    #[error("a cluster named {name:?} already exists in this workspace")]
    ClusterNameTaken { name: String },

    /// A snapshot or delta would take a cluster's stored picture over its byte budget.
    #[error("{message}")]
    SnapshotBudgetExceeded { message: String },

    /// The write contradicts stored state or a store rule (`what` says which).
    /// The session already has a run that has not ended.
    #[error("the session already has a run in progress ({run}); wait for it or cancel it")]
    RunInProgress { run: String },

    /// The run has ended (or is not in a state that allows the change).
    #[error("the run is {state}; it cannot change any more")]
    RunFinished { state: String },

    /// The approval was already decided.
    #[error("the approval is already {state}; the first decision stands")]
    ApprovalDecided { state: String },

    /// A per-workspace limit would be exceeded (`what` names it).
    #[error("the workspace has {what} already (the most allowed)")]
    LimitReached { what: String },

    #[error("refused: {what}")]
    Conflict { what: String },

    /// An audit chain does not verify from this record on: a record was altered, removed or
    /// inserted. `chain` is the workspace id, or `appliance`.
    #[error("audit chain {chain} is broken at seq {seq}: {reason}")]
    AuditChainBroken {
        chain: String,
        seq: u64,
        reason: String,
    },

    /// The operating system gave no randomness for a new id.
    #[error("no randomness for a new id: {0}")]
    Random(String),

    /// `backup_to` never overwrites.
    #[error("{path} already exists; choose a new backup file name or remove the old one")]
    DestinationExists { path: PathBuf },

    /// `verify_backup` found no `<backup>.manifest.json`.
    #[error(
        "no manifest {manifest} for backup {path}. A raw copy of acorn.redb made while the \
         server was stopped is a valid backup: verify it with `acorn verify --no-manifest` \
         (verify_file) and restore it with `acorn restore --no-manifest`"
    )]
    ManifestMissing { path: PathBuf, manifest: PathBuf },

    /// The manifest exists but does not parse.
    #[error("the backup manifest {path} is unreadable: {reason}")]
    ManifestInvalid { path: PathBuf, reason: String },

    /// The backup file's SHA-256 differs from its manifest: it was altered or damaged.
    #[error("backup checksum mismatch: manifest says sha256 {expected}, file has {actual}")]
    ChecksumMismatch { expected: String, actual: String },

    /// The backup file's length differs from its manifest (usually a truncated copy).
    #[error(
        "backup size mismatch: manifest says {expected} bytes, file has {actual} bytes (truncated or incomplete copy?)"
    )]
    SizeMismatch { expected: u64, actual: u64 },

    /// The redb integrity check failed, or the file holds a table this schema does not know.
    #[error("{path} is damaged: {detail}")]
    Corrupt { path: PathBuf, detail: String },

    /// A record that does not decode into its type.
    #[error("record {key} in table {table} does not decode: {reason}")]
    BadRecord {
        table: String,
        key: String,
        reason: String,
    },

    /// The writer thread is gone (the store is shutting down).
    #[error("the store is closed")]
    Closed,

    /// A filesystem operation failed.
    #[error("{context} {path}: {source}")]
    Io {
        context: &'static str,
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },

    /// A record could not be encoded (should not happen for our own types).
    #[error("encoding a record failed: {0}")]
    Encode(String),

    /// The storage engine failed.
    #[error("storage engine error: {0}")]
    Engine(#[from] EngineError),
}

/// An error of the storage engine, kept opaque so callers do not depend on redb.
#[derive(Debug)]
pub struct EngineError(pub(crate) redb::Error);

impl fmt::Display for EngineError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

impl std::error::Error for EngineError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        self.0.source()
    }
}

macro_rules! engine_from {
    ($($t:ty),*) => {$(
        impl From<$t> for StoreError {
            fn from(e: $t) -> Self {
                StoreError::Engine(EngineError(e.into()))
            }
        }
    )*};
}
engine_from!(
    redb::Error,
    redb::DatabaseError,
    redb::TransactionError,
    redb::TableError,
    redb::StorageError,
    redb::CommitError,
    redb::SetDurabilityError
);

impl StoreError {
    pub(crate) fn io(
        context: &'static str,
        path: impl Into<PathBuf>,
    ) -> impl FnOnce(std::io::Error) -> StoreError {
        let path = path.into();
        move |source| StoreError::Io {
            context,
            path,
            source,
        }
    }
}
