//! Online backups: a read transaction streamed into a fresh file, fsynced, renamed, with a
//! manifest (see `acorn-store`). Used by `acorn backup` (one file, or a file in a directory that
//! keeps the newest N: what acorn-backup.timer runs daily), the local socket and the in-process
//! schedule. Both rotations name files `acorn-<UTC time>.redb` and prune only those.

use std::path::{Path, PathBuf};
use std::time::Duration;

use tokio::sync::watch;

use acorn_proto::ops::{BackupDone, LocalRequest, LocalResponse};
use acorn_store::Store;

use crate::local_socket;

/// Writes a backup of the open store to `path` without blocking writers.
pub async fn online(store: &Store, path: PathBuf) -> anyhow::Result<BackupDone> {
    let worker = store.clone();
    let target = path.clone();
    let manifest = tokio::task::spawn_blocking(move || worker.backup_to(&target)).await??;
    let done = local_socket::backup_done(&path, &manifest);
    let _ = store
        .append_system_event(
            "backup.written",
            &format!("backup written to {}", done.path),
        )
        .await;
    tracing::info!(path = %done.path, bytes = done.bytes, sha256 = %done.sha256, "backup written");
    Ok(done)
}

/// `acorn backup --out FILE`.
pub async fn run(state_dir: &Path, out: &Path) -> anyhow::Result<()> {
    let out = absolute(out)?;
    let done = match local_socket::request(
        state_dir,
        &LocalRequest::Backup {
            out: out.display().to_string(),
        },
    )
    .await?
    {
        Some(LocalResponse::Backup(done)) => done,
        Some(LocalResponse::Error { message }) => {
            anyhow::bail!("the server refused the backup: {message}")
        }
        Some(other) => anyhow::bail!("unexpected answer from the server: {other:?}"),
        None => {
            let store = super::open_offline(state_dir)?;
            online(&store, out).await?
        }
    };
    println!(
        "backup: {}\nmanifest: {}\nbytes: {}\nsha256: {}",
        done.path, done.manifest_path, done.bytes, done.sha256
    );
    Ok(())
}

/// `acorn backup --dir DIR --keep N`: a backup named `acorn-<UTC time>.redb` in `dir` (by the
/// running server when there is one), then all but the `keep` newest such backups deleted.
pub async fn run_into_dir(state_dir: &Path, dir: &Path, keep: usize) -> anyhow::Result<()> {
    let dir = absolute(dir)?;
    std::fs::create_dir_all(&dir).map_err(|e| {
        anyhow::anyhow!("cannot create the backup directory {}: {e}", dir.display())
    })?;
    run(state_dir, &dir.join(rotated_name()?)).await?;
    for deleted in prune(&dir, keep)? {
        println!("deleted old backup: {}", deleted.display());
    }
    Ok(())
}

/// `acorn-<UTC time>.redb`: names that sort by time, which [`prune`] relies on.
fn rotated_name() -> anyhow::Result<String> {
    let stamp = time::OffsetDateTime::now_utc().format(&time::macros::format_description!(
        "[year][month][day]T[hour][minute][second]Z"
    ))?;
    Ok(format!("acorn-{stamp}.redb"))
}

/// Makes `path` absolute against the current directory (the server's cwd may differ).
pub fn absolute(path: &Path) -> anyhow::Result<PathBuf> {
    Ok(if path.is_absolute() {
        path.to_owned()
    } else {
        std::env::current_dir()?.join(path)
    })
}

/// Takes a backup every `every` into `dir`, keeping the `keep` newest, until `shutdown` fires.
pub fn spawn_schedule(
    store: Store,
    every: Duration,
    dir: PathBuf,
    keep: usize,
    mut shutdown: watch::Receiver<bool>,
) {
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(every);
        tick.tick().await; // the first tick is immediate: the first backup comes one period after start
        loop {
            tokio::select! {
                _ = shutdown.changed() => break,
                _ = tick.tick() => {
                    if let Err(e) = scheduled_backup(&store, &dir, keep).await {
                        tracing::error!(error = %e, dir = %dir.display(), "scheduled backup failed");
                    }
                }
            }
        }
    });
}

async fn scheduled_backup(store: &Store, dir: &Path, keep: usize) -> anyhow::Result<()> {
    std::fs::create_dir_all(dir)?;
    online(store, dir.join(rotated_name()?)).await?;
    prune(dir, keep).map(drop)
}

/// Deletes all but the `keep` newest rotated backups (names sort by time) and their manifests;
/// returns what it deleted. Other files (a `pre-upgrade-*` backup, an operator's copy) stay.
fn prune(dir: &Path, keep: usize) -> anyhow::Result<Vec<PathBuf>> {
    let mut backups: Vec<PathBuf> = std::fs::read_dir(dir)?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| {
            p.file_name()
                .and_then(|n| n.to_str())
                .is_some_and(|n| n.starts_with("acorn-") && n.ends_with(".redb"))
        })
        .collect();
    backups.sort();
    let excess = backups.len().saturating_sub(keep);
    let mut deleted = Vec::with_capacity(excess);
    for old in backups.into_iter().take(excess) {
        std::fs::remove_file(&old)?;
        let _ = std::fs::remove_file(acorn_store::manifest_path(&old));
        tracing::info!(path = %old.display(), "deleted old backup");
        deleted.push(old);
    }
    Ok(deleted)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prune_keeps_the_newest() {
        let dir = tempfile::tempdir().unwrap();
        for stamp in ["20260101T000000Z", "20260102T000000Z", "20260103T000000Z"] {
            let p = dir.path().join(format!("acorn-{stamp}.redb"));
            std::fs::write(&p, b"x").unwrap();
            std::fs::write(acorn_store::manifest_path(&p), b"{}").unwrap();
        }
        std::fs::write(dir.path().join("unrelated.redb"), b"x").unwrap();
        let deleted = prune(dir.path(), 2).unwrap();
        assert_eq!(deleted, [dir.path().join("acorn-20260101T000000Z.redb")]);
        let mut names: Vec<_> = std::fs::read_dir(dir.path())
            .unwrap()
            .map(|e| e.unwrap().file_name().into_string().unwrap())
            .collect();
        names.sort();
        assert_eq!(
            names,
            [
                "acorn-20260102T000000Z.redb",
                "acorn-20260102T000000Z.redb.manifest.json",
                "acorn-20260103T000000Z.redb",
                "acorn-20260103T000000Z.redb.manifest.json",
                "unrelated.redb"
            ]
        );
    }
}
