//! `acorn restore FILE` (server stopped) and `acorn verify [FILE]`.

use std::path::Path;

use acorn_proto::ops::{LocalRequest, LocalResponse};
use acorn_store::{StoreError, VerifyReport};

use crate::local_socket;

/// Restores a backup into the state directory. The server must be stopped.
pub async fn run_restore(state_dir: &Path, backup: &Path) -> anyhow::Result<()> {
    if local_socket::request(state_dir, &LocalRequest::CertShow)
        .await?
        .is_some()
    {
        anyhow::bail!(
            "a server is running on {}: stop it first (systemctl stop acorn), then restore",
            state_dir.display()
        );
    }
    std::fs::create_dir_all(state_dir)?;
    let target = super::store_path(state_dir);
    let report = acorn_store::restore(backup, &target).map_err(|e| match e {
        StoreError::Locked { .. } => anyhow::anyhow!(
            "the store {} is in use: stop the server first, then restore",
            target.display()
        ),
        other => other.into(),
    })?;
    println!("restored {} into {}", backup.display(), target.display());
    if let Some(previous) = report.previous_moved_to {
        println!("the previous store was kept as {}", previous.display());
    }
    // The search index (once it exists) is derived state and catches up at the next start.
    Ok(())
}

/// Verifies a backup file (with its manifest when it has one) or, without FILE, the state dir's
/// store. While a server holds the store, a fresh online snapshot of it is verified instead.
pub async fn run_verify(state_dir: &Path, file: Option<&Path>) -> anyhow::Result<()> {
    let report = match file {
        Some(file) if acorn_store::manifest_path(file).exists() => {
            acorn_store::verify_backup(file)?
        }
        Some(file) => {
            println!(
                "note: {} has no manifest (a raw copy of acorn.redb?): checking integrity only",
                file.display()
            );
            acorn_store::verify_file(file)?
        }
        None => verify_state_store(state_dir).await?,
    };
    print_report(&report);
    Ok(())
}

async fn verify_state_store(state_dir: &Path) -> anyhow::Result<VerifyReport> {
    let path = super::store_path(state_dir);
    match acorn_store::verify_file(&path) {
        Err(StoreError::Locked { .. }) => {
            let tmp = tempfile_in(state_dir)?;
            let request = LocalRequest::Backup {
                out: tmp.display().to_string(),
            };
            let answer = local_socket::request(state_dir, &request).await?;
            let result = match answer {
                Some(LocalResponse::Backup(_)) => {
                    println!(
                        "the server is running: verifying a consistent online snapshot of {}",
                        path.display()
                    );
                    acorn_store::verify_backup(&tmp).map_err(anyhow::Error::from)
                }
                Some(LocalResponse::Error { message }) => Err(anyhow::anyhow!(
                    "the server could not snapshot the store: {message}"
                )),
                _ => Err(anyhow::anyhow!(
                    "the store is locked but no server answered on the local socket"
                )),
            };
            let _ = std::fs::remove_file(&tmp);
            let _ = std::fs::remove_file(acorn_store::manifest_path(&tmp));
            result
        }
        other => Ok(other?),
    }
}

fn tempfile_in(dir: &Path) -> anyhow::Result<std::path::PathBuf> {
    let dir = super::backup::absolute(dir)?;
    Ok(dir.join(format!(
        "verify-{}.redb",
        hex::encode(crate::tls::pki::random_bytes::<6>())
    )))
}

fn print_report(report: &VerifyReport) {
    println!(
        "ok: schema version {}, last written by acorn {}",
        report.schema_version, report.written_by
    );
    for (table, count) in &report.tables {
        println!("  {table}: {count} records");
    }
    if let Some(m) = &report.manifest {
        println!(
            "  manifest: acorn {}, sha256 {}, {} bytes",
            m.acorn_version, m.sha256, m.bytes
        );
    }
}
