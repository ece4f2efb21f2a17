//! The ops verbs that act on a state directory: `backup`, `restore`, `verify`, `cert`,
//! `recover`, `upgrade-check`. Each one goes through the running server's local socket when a server holds the
//! store, and opens the store file directly when none does.

pub mod backup;
pub mod cert;
pub mod recover;
pub mod restore;
pub mod upgrade;

use std::path::{Path, PathBuf};

use acorn_store::{Store, StoreError, StoreOptions};

/// The store file inside a state directory.
pub fn store_path(state_dir: &Path) -> PathBuf {
    state_dir.join("acorn.redb")
}

/// Where a store is backed up before a migration: `<state>/backups` (same filesystem, always
/// writable by the service, never pruned by the backup rotation).
pub fn pre_upgrade_backup_dir(state_dir: &Path) -> PathBuf {
    state_dir.join("backups")
}

/// Opens an existing store for an offline verb, with an error that says what to do.
pub fn open_offline(state_dir: &Path) -> anyhow::Result<Store> {
    let path = store_path(state_dir);
    let mut options = StoreOptions::new(crate::VERSION.to_owned());
    // An offline verb run by a newer binary migrates the store too: with the same backup first.
    options.pre_upgrade_backup_dir = Some(pre_upgrade_backup_dir(state_dir));
    match Store::open_existing(&path, options) {
        Ok(store) => Ok(store),
        Err(StoreError::Locked { .. }) => anyhow::bail!(
            "the store {} is held by a running server, but its local socket {} did not answer; \
             is the server still starting, or does it run as another user?",
            path.display(),
            crate::local_socket::socket_path(state_dir).display()
        ),
        Err(e) => Err(e.into()),
    }
}
