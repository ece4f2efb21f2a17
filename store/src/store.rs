//! The `Store` handle: opening (lock, format and schema checks, migrations), reads, and the
//! domain writes that go through the writer thread (see `writer.rs`).
//!
//! Reads run on the caller's thread in their own read transaction (redb is MVCC: readers never
//! wait for the writer). Writes are closures submitted to the writer; each closure reads and
//! validates first and writes last, so that a rejection leaves nothing behind.

use std::path::{Path, PathBuf};
use std::sync::{Arc, mpsc};
use std::thread::JoinHandle;
use std::time::Duration;

use redb::{Database, ReadableDatabase, ReadableTable, WriteTransaction};

use crate::records::{
    CaMaterial, LeafMaterial, LocalAccount, OneTimePurpose, OneTimeToken, Redeemed, SystemEvent,
};
use crate::schema::{
    self, KEY_CA, KEY_LEAF, LOCAL_ACCOUNTS, ONE_TIME_TOKENS, SYSTEM_EVENTS, TLS, decode, encode,
};
use crate::upgrade::UpgradeDone;
use crate::writer::{self, Job, TypedJob};
use crate::{StoreError, unix_now};

/// Statistics of one commit of the writer, given to [`StoreOptions::commit_observer`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CommitStats {
    /// Writes committed by this transaction.
    pub records: usize,
    /// From the start of the transaction to the end of its durable commit.
    pub duration: Duration,
}

/// How to open a store.
#[derive(Clone)]
pub struct StoreOptions {
    /// Recorded as `written_by` in the meta table and as `acorn_version` in backup manifests.
    pub app_version: String,
    /// Called on the writer thread after every commit (metrics). Keep it cheap.
    pub commit_observer: Option<Arc<dyn Fn(CommitStats) + Send + Sync>>,
    /// Most writes applied in one transaction.
    pub max_batch: usize,
    /// Where to write a backup of the store before migrating it to a newer schema
    /// (`pre-upgrade-<from>-to-<to>-<time>.redb`). None: migrate without one.
    pub pre_upgrade_backup_dir: Option<PathBuf>,
}

impl StoreOptions {
    /// Default batch of 1024 writes, no observer.
    pub fn new(app_version: impl Into<String>) -> Self {
        StoreOptions {
            app_version: app_version.into(),
            commit_observer: None,
            max_batch: 1024,
            pre_upgrade_backup_dir: None,
        }
    }
}

impl std::fmt::Debug for StoreOptions {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StoreOptions")
            .field("app_version", &self.app_version)
            .field("commit_observer", &self.commit_observer.is_some())
            .field("max_batch", &self.max_batch)
            .finish()
    }
}

/// The appliance's persistent state. Cheap to clone; the last clone dropped stops the writer
/// (after it finished pending writes) and closes the file before `drop` returns.
#[derive(Clone)]
pub struct Store {
    inner: Arc<Inner>,
}

struct Inner {
    path: PathBuf,
    schema_version: u32,
    app_version: String,
    db: Arc<Database>,
    upgraded: Option<UpgradeDone>,
    jobs: Option<mpsc::Sender<Box<dyn Job>>>,
    writer: Option<JoinHandle<()>>,
    webhook_signal: writer::Signal,
}

impl Drop for Inner {
    fn drop(&mut self) {
        // Closing the channel lets the writer drain what is queued and return; joining it means
        // its handle on the database is gone, so `db` (dropped right after this) is the last one
        // and the file lock is released before the Store's drop returns.
        drop(self.jobs.take());
        if let Some(handle) = self.writer.take()
            && handle.join().is_err()
        {
            tracing::error!("store writer thread panicked");
        }
    }
}

impl std::fmt::Debug for Store {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Store")
            .field("path", &self.inner.path)
            .field("schema_version", &self.inner.schema_version)
            .finish()
    }
}

/// Maps redb's open errors to the operator-facing ones.
pub(crate) fn open_error(path: &Path, e: redb::DatabaseError) -> StoreError {
    match e {
        redb::DatabaseError::DatabaseAlreadyOpen => StoreError::Locked {
            path: path.to_path_buf(),
        },
        redb::DatabaseError::Storage(redb::StorageError::Corrupted(reason))
            if reason.contains("magic number") || reason.contains("Not a redb") =>
        {
            StoreError::NotAStore {
                path: path.to_path_buf(),
                reason: format!("it is not a redb database ({reason})"),
            }
        }
        // redb reports a wrong magic number as an I/O error of kind InvalidData.
        redb::DatabaseError::Storage(redb::StorageError::Io(io))
            if io.kind() == std::io::ErrorKind::InvalidData
                || io.to_string().contains("magic number") =>
        {
            StoreError::NotAStore {
                path: path.to_path_buf(),
                reason: format!("it is not a redb database ({io})"),
            }
        }
        redb::DatabaseError::Storage(redb::StorageError::Io(io))
            if io.kind() == std::io::ErrorKind::UnexpectedEof =>
        {
            StoreError::NotAStore {
                path: path.to_path_buf(),
                reason: "it is too short to be a redb database".into(),
            }
        }
        redb::DatabaseError::Storage(redb::StorageError::Corrupted(reason)) => {
            StoreError::Corrupt {
                path: path.to_path_buf(),
                detail: reason,
            }
        }
        other => other.into(),
    }
}

/// Opens `path` read-only, which writes nothing to the file and takes a shared lock.
/// `Ok(None)` means redb wants to recover the file (unclean shutdown), which only a writable
/// open does. redb may panic on some damaged files rather than return an error; that is caught
/// and reported as damage, because an ops command must not die on a bad file.
pub(crate) fn open_read_only(path: &Path) -> Result<Option<redb::ReadOnlyDatabase>, StoreError> {
    let opened = std::panic::catch_unwind(|| redb::ReadOnlyDatabase::open(path));
    match opened {
        Ok(Ok(db)) => Ok(Some(db)),
        Ok(Err(redb::DatabaseError::RepairAborted)) => Ok(None),
        Ok(Err(e)) => Err(open_error(path, e)),
        Err(_) => Err(StoreError::Corrupt {
            path: path.to_path_buf(),
            detail: "the storage engine could not read it".into(),
        }),
    }
}

impl Store {
    /// Opens the store at `path`, creating the file if missing, and migrates it to
    /// [`crate::SCHEMA_VERSION`]. Refuses (without modifying the file) a foreign file, a newer
    /// schema, or a file in use.
    pub fn open(path: &Path, opts: StoreOptions) -> Result<Store, StoreError> {
        Self::open_inner(path, opts, true)
    }

    /// Like [`Store::open`], but [`StoreError::Missing`] if there is no file.
    pub fn open_existing(path: &Path, opts: StoreOptions) -> Result<Store, StoreError> {
        Self::open_inner(path, opts, false)
    }

    fn open_inner(path: &Path, opts: StoreOptions, create: bool) -> Result<Store, StoreError> {
        let existing_len = match std::fs::metadata(path) {
            Ok(m) => Some(m.len()),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => None,
            Err(e) => return Err(StoreError::io("cannot read", path)(e)),
        };
        if existing_len.is_none() && !create {
            return Err(StoreError::Missing {
                path: path.to_path_buf(),
            });
        }
        // Check an existing file read-only first: a writable open may write redb's header, and
        // a refused file must be left exactly as it was.
        if existing_len.is_some_and(|len| len > 0)
            && let Some(ro) = open_read_only(path)?
        {
            let probe = schema::probe(&ro);
            // close() releases the shared lock now rather than when the last reader goes.
            let _ = ro.close();
            schema::accept(path, probe?)?;
        }
        let db = Database::builder()
            .create(path)
            .map_err(|e| open_error(path, e))?;
        // Checked again: the file may have needed recovery (no read-only check above), or have
        // changed between the check and the open.
        let (from, written_by) = schema::accept(path, schema::probe(&db)?)?;
        let upgraded = (from > 0 && from < crate::SCHEMA_VERSION).then_some(UpgradeDone {
            from,
            to: crate::SCHEMA_VERSION,
            backup: None,
        });
        let upgraded = match (upgraded, &opts.pre_upgrade_backup_dir) {
            (Some(up), Some(dir)) => Some(UpgradeDone {
                backup: Some(crate::upgrade::backup_before_migration(
                    &db,
                    dir,
                    from,
                    &written_by,
                )?),
                ..up
            }),
            (up, _) => up,
        };
        let schema_version = schema::migrate(&db, from, &opts.app_version)?;

        let db = Arc::new(db);
        let (tx, rx) = mpsc::channel();
        let writer_db = db.clone();
        let observer = opts.commit_observer.clone();
        let max_batch = opts.max_batch;
        let webhook_signal = writer::Signal::default();
        let signal = Arc::clone(&webhook_signal);
        let writer = std::thread::Builder::new()
            .name("acorn-store-writer".into())
            .spawn(move || writer::run(writer_db, rx, max_batch, observer, signal))
            .map_err(StoreError::io("cannot start the writer thread for", path))?;
        Ok(Store {
            inner: Arc::new(Inner {
                path: path.to_path_buf(),
                schema_version,
                upgraded,
                app_version: opts.app_version,
                db,
                jobs: Some(tx),
                writer: Some(writer),
                webhook_signal,
            }),
        })
    }

    /// The file this store was opened from.
    pub fn path(&self) -> &Path {
        &self.inner.path
    }

    /// The schema version of the open store (always [`crate::SCHEMA_VERSION`] after open).
    pub fn schema_version(&self) -> u32 {
        self.inner.schema_version
    }

    /// The migration this open performed, if the file had an older schema.
    pub fn upgraded(&self) -> Option<&UpgradeDone> {
        self.inner.upgraded.as_ref()
    }

    /// Notified after every commit that queued a webhook delivery (the dispatcher waits on it).
    pub fn webhook_signal(&self) -> Arc<tokio::sync::Notify> {
        Arc::clone(&self.inner.webhook_signal)
    }

    pub(crate) fn app_version(&self) -> &str {
        &self.inner.app_version
    }

    pub(crate) fn db(&self) -> &Database {
        &self.inner.db
    }

    /// Queues a write on the writer thread and waits for its durable commit.
    pub(crate) async fn submit<T, F>(&self, op: F) -> Result<T, StoreError>
    where
        T: Send + 'static,
        F: Fn(&WriteTransaction) -> Result<T, StoreError> + Send + 'static,
    {
        let (job, rx) = TypedJob::boxed(op);
        let jobs = self.inner.jobs.as_ref().ok_or(StoreError::Closed)?;
        jobs.send(job).map_err(|_| StoreError::Closed)?;
        rx.await.map_err(|_| StoreError::Closed)?
    }

    pub(crate) fn get_record<T: serde::de::DeserializeOwned>(
        &self,
        table: schema::Table,
        key: &[u8],
    ) -> Result<Option<T>, StoreError> {
        let txn = self.db().begin_read()?;
        let table_handle = txn.open_table(table)?;
        read_record(&table_handle, table, key)
    }

    // ---- TLS -------------------------------------------------------------------------------

    /// The stored CA, if any.
    pub fn tls_ca(&self) -> Result<Option<CaMaterial>, StoreError> {
        self.get_record(TLS, KEY_CA)
    }

    /// Stores `ca` unless a CA is already stored, and returns the stored one. Two racing
    /// callers get the same CA back, because the check and the insert are one transaction.
    pub async fn init_tls_ca(&self, ca: CaMaterial) -> Result<CaMaterial, StoreError> {
        self.submit(move |txn| {
            let mut table = txn.open_table(TLS)?;
            if let Some(existing) = read_record::<CaMaterial>(&table, TLS, KEY_CA)? {
                return Ok(existing);
            }
            table.insert(KEY_CA, encode(&ca)?.as_slice())?;
            Ok(ca.clone())
        })
        .await
    }

    /// The current serving certificate, if any.
    pub fn tls_leaf(&self) -> Result<Option<LeafMaterial>, StoreError> {
        self.get_record(TLS, KEY_LEAF)
    }

    /// Replaces the serving certificate.
    pub async fn put_tls_leaf(&self, leaf: LeafMaterial) -> Result<(), StoreError> {
        let bytes = encode(&leaf)?;
        self.submit(move |txn| {
            txn.open_table(TLS)?.insert(KEY_LEAF, bytes.as_slice())?;
            Ok(())
        })
        .await
    }

    // ---- local accounts and one-time links ---------------------------------------------------

    /// How many local accounts are administrators (0 means first-run setup is pending).
    pub fn administrator_count(&self) -> Result<usize, StoreError> {
        let txn = self.db().begin_read()?;
        let table = txn.open_table(LOCAL_ACCOUNTS)?;
        let mut count = 0;
        for entry in table.iter()? {
            let (k, v) = entry?;
            let account: LocalAccount =
                decode(v.value()).map_err(|reason| StoreError::BadRecord {
                    table: "local_accounts".into(),
                    key: schema::show_key(k.value()),
                    reason,
                })?;
            count += usize::from(account.administrator);
        }
        Ok(count)
    }

    /// The local account of that name.
    pub fn local_account(&self, username: &str) -> Result<Option<LocalAccount>, StoreError> {
        self.get_record(LOCAL_ACCOUNTS, username.as_bytes())
    }

    /// Whether a one-time token with this hash is stored (used or expired ones are not, or are
    /// about to be refused by redeem). Lets callers refuse unknown links before expensive work.
    pub fn one_time_token_exists(&self, token_hash: [u8; 32]) -> Result<bool, StoreError> {
        Ok(self
            .get_record::<OneTimeToken>(ONE_TIME_TOKENS, &token_hash)?
            .is_some())
    }

    /// Stores a one-time token. A new Setup token revokes every older Setup token in the same
    /// transaction, so only the latest setup link works.
    pub async fn issue_one_time_token(&self, token: OneTimeToken) -> Result<(), StoreError> {
        let bytes = encode(&token)?;
        self.submit(move |txn| {
            let mut table = txn.open_table(ONE_TIME_TOKENS)?;
            if token.purpose == OneTimePurpose::Setup {
                for key in setup_token_keys(&table)? {
                    table.remove(key.as_slice())?;
                }
            }
            table.insert(token.token_hash.as_slice(), bytes.as_slice())?;
            Ok(())
        })
        .await
    }

    /// Redeems a one-time token (see the crate docs for the rules). A failed redeem changes
    /// nothing, except that an expired token is deleted.
    pub async fn redeem_one_time_token(
        &self,
        token_hash: [u8; 32],
        now_unix: i64,
        username: Option<String>,
        password_hash: String,
    ) -> Result<Redeemed, StoreError> {
        self.submit(move |txn| {
            redeem(
                txn,
                token_hash,
                now_unix,
                username.as_deref(),
                &password_hash,
            )
        })
        .await?
    }

    // ---- system events -----------------------------------------------------------------------

    /// Appends a lifecycle event; returns its sequence number (1, 2, …).
    pub async fn append_system_event(&self, kind: &str, message: &str) -> Result<u64, StoreError> {
        let (kind, message) = (kind.to_string(), message.to_string());
        let at = unix_now();
        self.submit(move |txn| {
            let mut table = txn.open_table(SYSTEM_EVENTS)?;
            let last = table
                .last()?
                .and_then(|(k, _)| schema::seq_from_key(k.value()))
                .unwrap_or(0);
            let seq = last + 1;
            let event = SystemEvent {
                seq,
                at,
                kind: kind.clone(),
                message: message.clone(),
            };
            table.insert(schema::seq_key(seq).as_slice(), encode(&event)?.as_slice())?;
            Ok(seq)
        })
        .await
    }

    /// Up to `limit` events with `seq > after_seq`, oldest first.
    pub fn system_events(
        &self,
        after_seq: Option<u64>,
        limit: usize,
    ) -> Result<Vec<SystemEvent>, StoreError> {
        let txn = self.db().begin_read()?;
        let table = txn.open_table(SYSTEM_EVENTS)?;
        let start = match after_seq {
            Some(seq) => match seq.checked_add(1) {
                Some(s) => s,
                None => return Ok(Vec::new()),
            },
            None => 0,
        };
        let start = schema::seq_key(start);
        let mut out = Vec::new();
        for entry in table.range(start.as_slice()..)?.take(limit) {
            let (k, v) = entry?;
            out.push(decode(v.value()).map_err(|reason| StoreError::BadRecord {
                table: "system_events".into(),
                key: schema::show_key(k.value()),
                reason,
            })?);
        }
        Ok(out)
    }
}

pub(crate) fn read_record<T: serde::de::DeserializeOwned>(
    table: &impl ReadableTable<&'static [u8], &'static [u8]>,
    def: schema::Table,
    key: &[u8],
) -> Result<Option<T>, StoreError> {
    use redb::TableHandle;
    match table.get(key)? {
        None => Ok(None),
        Some(v) => decode(v.value())
            .map(Some)
            .map_err(|reason| StoreError::BadRecord {
                table: def.name().to_string(),
                key: schema::show_key(key),
                reason,
            }),
    }
}

fn setup_token_keys(
    table: &impl ReadableTable<&'static [u8], &'static [u8]>,
) -> Result<Vec<Vec<u8>>, StoreError> {
    let mut keys = Vec::new();
    for entry in table.iter()? {
        let (k, v) = entry?;
        // An undecodable token is treated as not a Setup token rather than failing the issue.
        if decode::<OneTimeToken>(v.value()).is_ok_and(|t| t.purpose == OneTimePurpose::Setup) {
            keys.push(k.value().to_vec());
        }
    }
    Ok(keys)
}

/// The redeem transaction body. The outer `Result` is an engine failure (the writer replays
/// the job alone); the inner one is the caller's answer. Every rejection is decided before the
/// first write, except expiry, whose deletion is intended.
fn redeem(
    txn: &WriteTransaction,
    token_hash: [u8; 32],
    now: i64,
    username: Option<&str>,
    password_hash: &str,
) -> Result<Result<Redeemed, StoreError>, StoreError> {
    let mut tokens = txn.open_table(ONE_TIME_TOKENS)?;
    let Some(token) = read_record::<OneTimeToken>(&tokens, ONE_TIME_TOKENS, &token_hash)? else {
        return Ok(Err(StoreError::TokenUnknown));
    };
    if token.expires_at <= now {
        tokens.remove(token_hash.as_slice())?;
        return Ok(Err(StoreError::TokenExpired));
    }
    let mut accounts = txn.open_table(LOCAL_ACCOUNTS)?;
    let (name, existing) = match &token.purpose {
        OneTimePurpose::Setup => {
            let Some(name) = username else {
                return Ok(Err(StoreError::UsernameRequired));
            };
            if accounts.get(name.as_bytes())?.is_some() {
                return Ok(Err(StoreError::UsernameTaken {
                    username: name.to_string(),
                }));
            }
            (name.to_string(), None)
        }
        OneTimePurpose::Recover { username } => {
            let existing: Option<LocalAccount> =
                read_record(&accounts, LOCAL_ACCOUNTS, username.as_bytes())?;
            (username.clone(), existing)
        }
    };
    // Validation is over; from here on only writes.
    let created = existing.is_none();
    let account = match existing {
        None => LocalAccount {
            username: name.clone(),
            password_hash: password_hash.to_string(),
            administrator: true,
            created_at: now,
            updated_at: now,
            user_id: None,
        },
        Some(mut account) => {
            account.password_hash = password_hash.to_string();
            account.updated_at = now;
            account
        }
    };
    // Every account has its user (a recreated account gets a new one if its user was deleted).
    let mut account = account;
    account.user_id = Some(crate::identity::ensure_local_user(txn, &account, now)?);
    accounts.insert(name.as_bytes(), encode(&account)?.as_slice())?;
    tokens.remove(token_hash.as_slice())?;
    if token.purpose == OneTimePurpose::Setup {
        for key in setup_token_keys(&tokens)? {
            tokens.remove(key.as_slice())?;
        }
    }
    Ok(Ok(Redeemed {
        username: name,
        created,
    }))
}
