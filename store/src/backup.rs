//! Online backup, verify and restore.
//!
//! - `backup_to` copies every table of the registry from one read transaction (a consistent
//!   snapshot; the writer keeps committing meanwhile) into a fresh redb file `<dest>.tmp`, makes
//!   it durable, links it into place without ever overwriting, and writes the JSON manifest.
//! - `verify_file` runs redb's integrity check on a copy-on-write overlay of the file (see
//!   `overlay.rs`), so the file is never modified, then checks the marker and schema and decodes
//!   every record of every table.
//! - `restore` verifies the backup, copies it beside the state file, moves the old state file
//!   aside and renames the copy into place. Until that rename, the old store is untouched.

use std::fs::{File, OpenOptions};
use std::io::{Read, Write};
use std::path::{Path, PathBuf};

use redb::{Database, Durability, ReadableDatabase, ReadableTable, TableHandle};
use sha2::{Digest, Sha256};

use crate::overlay::CopyOnWriteFile;
use crate::records::{BackupManifest, RestoreReport, VerifyReport};
use crate::schema::{self, ALL_TABLES};
use crate::store::{open_error, open_read_only};
use crate::{Store, StoreError, unix_now};

/// Backups commit every this many bytes (non-durably; one durable commit at the end) so that a
/// large store is not copied in one huge transaction.
const BACKUP_CHUNK_BYTES: usize = 64 << 20;

/// `<backup>.manifest.json`.
pub fn manifest_path(backup: &Path) -> PathBuf {
    with_suffix(backup, ".manifest.json")
}

fn with_suffix(path: &Path, suffix: &str) -> PathBuf {
    let mut s = path.as_os_str().to_os_string();
    s.push(suffix);
    PathBuf::from(s)
}

fn exists(path: &Path) -> Result<bool, StoreError> {
    path.try_exists()
        .map_err(StoreError::io("cannot read", path))
}

/// fsyncs a directory so that a rename in it is durable.
fn sync_dir_of(path: &Path) -> Result<(), StoreError> {
    let dir = match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d,
        _ => Path::new("."),
    };
    File::open(dir)
        .and_then(|d| d.sync_all())
        .map_err(StoreError::io("cannot sync directory", dir))
}

fn sync_file(path: &Path) -> Result<(), StoreError> {
    File::open(path)
        .and_then(|f| f.sync_all())
        .map_err(StoreError::io("cannot sync", path))
}

/// SHA-256 (hex) and length of a file.
fn sha256_file(path: &Path) -> Result<(String, u64), StoreError> {
    let mut file = File::open(path).map_err(StoreError::io("cannot open", path))?;
    let mut hasher = Sha256::new();
    let mut buf = vec![0u8; 1 << 20];
    let mut total = 0u64;
    loop {
        let n = file
            .read(&mut buf)
            .map_err(StoreError::io("cannot read", path))?;
        if n == 0 {
            break;
        }
        hasher.update(&buf[..n]);
        total += n as u64;
    }
    Ok((hex::encode(hasher.finalize()), total))
}

/// Copies `from` to `to` (which must not exist), fsyncs it, and returns its SHA-256.
fn copy_durably(from: &Path, to: &Path) -> Result<String, StoreError> {
    let mut src = File::open(from).map_err(StoreError::io("cannot open", from))?;
    let mut dst = OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(to)
        .map_err(StoreError::io("cannot create", to))?;
    let mut hasher = Sha256::new();
    let mut buf = vec![0u8; 1 << 20];
    loop {
        let n = src
            .read(&mut buf)
            .map_err(StoreError::io("cannot read", from))?;
        if n == 0 {
            break;
        }
        hasher.update(&buf[..n]);
        dst.write_all(&buf[..n])
            .map_err(StoreError::io("cannot write", to))?;
    }
    dst.sync_all().map_err(StoreError::io("cannot sync", to))?;
    Ok(hex::encode(hasher.finalize()))
}

/// Removes a temporary file on drop unless disarmed, so failed steps leave no debris.
struct TempGuard(Option<PathBuf>);

impl Drop for TempGuard {
    fn drop(&mut self) {
        if let Some(p) = self.0.take() {
            let _ = std::fs::remove_file(p);
        }
    }
}

impl Store {
    /// Writes a consistent online backup to `dest` plus `<dest>.manifest.json`. Blocking (run it
    /// in `spawn_blocking`); it only holds a read transaction, so writers are never blocked.
    /// Refuses to overwrite `dest`.
    pub fn backup_to(&self, dest: &Path) -> Result<BackupManifest, StoreError> {
        backup_database(self.db(), dest, self.app_version(), self.schema_version())
    }
}

/// The backup behind [`Store::backup_to`], also taken from a store that is open but not yet
/// migrated (the pre-upgrade backup of `Store::open`): every table of the registry that exists in
/// `db` is copied from one read transaction. `acorn_version` and `schema_version` go into the
/// manifest and must describe what `db` holds.
pub(crate) fn backup_database(
    db: &Database,
    dest: &Path,
    acorn_version: &str,
    schema_version: u32,
) -> Result<BackupManifest, StoreError> {
    if exists(dest)? {
        return Err(StoreError::DestinationExists {
            path: dest.to_path_buf(),
        });
    }
    let tmp = with_suffix(dest, ".tmp");
    // A `.tmp` can only be the debris of an earlier failed backup.
    if exists(&tmp)? {
        std::fs::remove_file(&tmp).map_err(StoreError::io("cannot remove", &tmp))?;
    }
    let mut guard = TempGuard(Some(tmp.clone()));

    let snapshot = db.begin_read()?;
    let out = Database::builder()
        .create(&tmp)
        .map_err(|e| open_error(&tmp, e))?;
    let mut records = 0u64;
    let mut txn = out.begin_write()?;
    txn.set_durability(Durability::None)?;
    let mut pending = 0usize;
    for spec in ALL_TABLES {
        let src = match snapshot.open_table(spec.def) {
            Ok(t) => t,
            Err(redb::TableError::TableDoesNotExist(_)) => continue,
            Err(e) => return Err(e.into()),
        };
        // Created even when empty, so the backup has the same layout as the store.
        txn.open_table(spec.def)?;
        let mut iter = src.iter()?;
        loop {
            {
                let mut dst = txn.open_table(spec.def)?;
                for entry in iter.by_ref() {
                    let (k, v) = entry?;
                    dst.insert(k.value(), v.value())?;
                    records += 1;
                    pending += k.value().len() + v.value().len();
                    if pending >= BACKUP_CHUNK_BYTES {
                        break;
                    }
                }
            }
            if pending < BACKUP_CHUNK_BYTES {
                break;
            }
            txn.commit()?;
            txn = out.begin_write()?;
            txn.set_durability(Durability::None)?;
            pending = 0;
        }
    }
    txn.set_durability(Durability::Immediate)?;
    txn.commit()?;
    drop(snapshot);
    out.close()?;
    sync_file(&tmp)?;
    // hard_link fails if dest exists, unlike rename: a backup never replaces a file, even
    // one created while this one was being written.
    std::fs::hard_link(&tmp, dest).map_err(|e| {
        if e.kind() == std::io::ErrorKind::AlreadyExists {
            StoreError::DestinationExists {
                path: dest.to_path_buf(),
            }
        } else {
            StoreError::io("cannot create", dest)(e)
        }
    })?;
    drop(guard.0.take().map(std::fs::remove_file));
    sync_dir_of(dest)?;

    let (sha256, bytes) = sha256_file(dest)?;
    let manifest = BackupManifest {
        acorn_version: acorn_version.to_string(),
        schema_version,
        sha256,
        bytes,
        created_at: unix_now(),
        records,
    };
    write_manifest(dest, &manifest)?;
    tracing::info!(dest = %dest.display(), bytes, records, "backup written");
    Ok(manifest)
}

fn write_manifest(backup: &Path, manifest: &BackupManifest) -> Result<(), StoreError> {
    let path = manifest_path(backup);
    let tmp = with_suffix(&path, ".tmp");
    let guard = TempGuard(Some(tmp.clone()));
    let json =
        serde_json::to_vec_pretty(manifest).map_err(|e| StoreError::Encode(e.to_string()))?;
    let mut f = File::create(&tmp).map_err(StoreError::io("cannot create", &tmp))?;
    f.write_all(&json)
        .and_then(|()| f.sync_all())
        .map_err(StoreError::io("cannot write", &tmp))?;
    std::fs::rename(&tmp, &path).map_err(StoreError::io("cannot rename into", &path))?;
    std::mem::forget(guard);
    sync_dir_of(&path)
}

fn read_manifest(backup: &Path) -> Result<BackupManifest, StoreError> {
    let path = manifest_path(backup);
    let bytes = match std::fs::read(&path) {
        Ok(b) => b,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            return Err(StoreError::ManifestMissing {
                path: backup.to_path_buf(),
                manifest: path,
            });
        }
        Err(e) => return Err(StoreError::io("cannot read", &path)(e)),
    };
    serde_json::from_slice(&bytes).map_err(|e| StoreError::ManifestInvalid {
        path,
        reason: e.to_string(),
    })
}

/// Checks a store file without modifying it: not in use (else [`StoreError::Locked`]), redb's
/// integrity check, the Acorn marker and schema, and that every record of every table decodes.
pub fn verify_file(path: &Path) -> Result<VerifyReport, StoreError> {
    if !exists(path)? {
        return Err(StoreError::Missing {
            path: path.to_path_buf(),
        });
    }
    // The read-only handle proves no writer has the file and keeps one from opening it while we
    // verify. `None`: the file needs recovery, which the overlay below does in memory.
    let lock = open_read_only(path)?;
    let file = File::open(path).map_err(StoreError::io("cannot open", path))?;
    let backend = CopyOnWriteFile::open(file).map_err(StoreError::io("cannot read", path))?;
    let needed_recovery = lock.is_none();
    let mut db = std::panic::catch_unwind(|| {
        Database::builder()
            .set_check_integrity_on_open(true)
            .create_with_backend(backend)
    })
    .map_err(|_| StoreError::Corrupt {
        path: path.to_path_buf(),
        detail: "the storage engine could not read it".into(),
    })?
    .map_err(|e| open_error(path, e))?;
    let clean = db.check_integrity().map_err(|e| open_error(path, e))?;
    let report = check_contents(path, &db, needed_recovery || !clean);
    drop(db);
    if let Some(lock) = lock {
        let _ = lock.close();
    }
    report
}

fn check_contents(
    path: &Path,
    db: &Database,
    needed_recovery: bool,
) -> Result<VerifyReport, StoreError> {
    let (schema_version, written_by) = match schema::accept(path, schema::probe(db)?)? {
        (0, _) => {
            return Err(StoreError::NotAStore {
                path: path.to_path_buf(),
                reason: "it is an empty redb file".into(),
            });
        }
        v => v,
    };
    let txn = db.begin_read()?;
    for handle in txn.list_tables()? {
        if !ALL_TABLES.iter().any(|s| s.def.name() == handle.name()) {
            return Err(StoreError::Corrupt {
                path: path.to_path_buf(),
                detail: format!(
                    "unknown table {:?} for schema {schema_version}",
                    handle.name()
                ),
            });
        }
    }
    let mut tables = Vec::with_capacity(ALL_TABLES.len());
    for spec in ALL_TABLES.iter().filter(|s| s.since <= schema_version) {
        let table = match txn.open_table(spec.def) {
            Ok(t) => t,
            Err(redb::TableError::TableDoesNotExist(_)) => {
                return Err(StoreError::Corrupt {
                    path: path.to_path_buf(),
                    detail: format!("table {:?} is missing", spec.def.name()),
                });
            }
            Err(e) => return Err(e.into()),
        };
        let mut count = 0u64;
        for entry in table.iter()? {
            let (k, v) = entry?;
            (spec.check)(k.value(), v.value()).map_err(|reason| StoreError::BadRecord {
                table: spec.def.name().to_string(),
                key: schema::show_key(k.value()),
                reason,
            })?;
            count += 1;
        }
        tables.push((spec.def.name().to_string(), count));
    }
    Ok(VerifyReport {
        schema_version,
        written_by,
        tables,
        manifest: None,
        needed_recovery,
        audit_chains: if schema_version >= 2 {
            crate::audit::verify_all(db)?
        } else {
            Vec::new()
        },
    })
}

/// Checks an online backup: its manifest (missing → [`StoreError::ManifestMissing`]), size and
/// SHA-256, then [`verify_file`].
pub fn verify_backup(path: &Path) -> Result<VerifyReport, StoreError> {
    if !exists(path)? {
        return Err(StoreError::Missing {
            path: path.to_path_buf(),
        });
    }
    let manifest = read_manifest(path)?;
    check_against_manifest(path, &manifest)?;
    let mut report = verify_file(path)?;
    report.manifest = Some(manifest);
    Ok(report)
}

fn check_against_manifest(path: &Path, manifest: &BackupManifest) -> Result<(), StoreError> {
    let (actual, bytes) = sha256_file(path)?;
    if bytes != manifest.bytes {
        return Err(StoreError::SizeMismatch {
            expected: manifest.bytes,
            actual: bytes,
        });
    }
    if actual != manifest.sha256 {
        return Err(StoreError::ChecksumMismatch {
            expected: manifest.sha256.clone(),
            actual,
        });
    }
    Ok(())
}

/// Replaces `state_file` with `backup`. Refuses while the state file is in use. The backup is
/// verified (with its manifest when there is one, else as a raw offline copy), copied to
/// `<state_file>.restore.tmp` and checked again by checksum; the old state file is moved to
/// `<state_file>.pre-restore-<unix>`. Any failure before the final rename leaves the existing
/// store untouched. Migrations run at the next `Store::open`.
pub fn restore(backup: &Path, state_file: &Path) -> Result<RestoreReport, StoreError> {
    // Held until the swap so that no server opens the old file mid-restore.
    let lock = if exists(state_file)? {
        match open_read_only(state_file) {
            Ok(lock) => lock,
            Err(e @ StoreError::Locked { .. }) => return Err(e),
            // A damaged or foreign state file is exactly what a restore may be replacing.
            Err(_) => None,
        }
    } else {
        None
    };
    let manifest = if exists(&manifest_path(backup))? {
        Some(verify_backup(backup)?.manifest)
    } else {
        verify_file(backup)?;
        None
    }
    .flatten();

    let tmp = with_suffix(state_file, ".restore.tmp");
    if exists(&tmp)? {
        std::fs::remove_file(&tmp).map_err(StoreError::io("cannot remove", &tmp))?;
    }
    let mut guard = TempGuard(Some(tmp.clone()));
    let copied_sha = copy_durably(backup, &tmp)?;
    let expected = match &manifest {
        Some(m) => m.sha256.clone(),
        None => sha256_file(backup)?.0,
    };
    if copied_sha != expected {
        return Err(StoreError::ChecksumMismatch {
            expected,
            actual: copied_sha,
        });
    }

    let previous_moved_to = if exists(state_file)? {
        let mut aside = with_suffix(state_file, &format!(".pre-restore-{}", unix_now()));
        let mut n = 1;
        while exists(&aside)? {
            aside = with_suffix(state_file, &format!(".pre-restore-{}-{n}", unix_now()));
            n += 1;
        }
        std::fs::rename(state_file, &aside)
            .map_err(StoreError::io("cannot move aside", state_file))?;
        Some(aside)
    } else {
        None
    };
    if let Err(e) = std::fs::rename(&tmp, state_file) {
        // Put the old store back so that a failed restore changes nothing.
        if let Some(aside) = &previous_moved_to {
            let _ = std::fs::rename(aside, state_file);
        }
        return Err(StoreError::io("cannot rename into", state_file)(e));
    }
    guard.0 = None;
    sync_dir_of(state_file)?;
    if let Some(lock) = lock {
        let _ = lock.close();
    }
    tracing::info!(state = %state_file.display(), previous = ?previous_moved_to, "store restored");
    Ok(RestoreReport {
        previous_moved_to,
        manifest,
    })
}
