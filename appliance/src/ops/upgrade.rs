//! `acorn upgrade-check`: can this binary open the store in the state directory, and what would
//! its next start do (nothing, create it, migrate it after a backup, or refuse it)? Writes
//! nothing to the store.
//!
//! The usual moment to run it is before replacing the binary, while the old server still holds
//! the store: then the server is asked (over its local socket, a request every Acorn version
//! answers) for an online backup into the state directory, which is inspected and deleted.

use std::path::{Path, PathBuf};

use serde::Serialize;

use acorn_proto::ops::{LocalRequest, LocalResponse};
use acorn_store::{SCHEMA_VERSION, StoreError, UpgradePlan};

use crate::local_socket;

/// The whole answer, also printed as JSON with `--json`.
#[derive(Serialize)]
struct Report {
    store: PathBuf,
    /// A server held the store; the plan is for a snapshot it wrote.
    server_running: bool,
    binary_version: &'static str,
    binary_schema_version: u32,
    plan: UpgradePlan,
    /// Where the next start writes the backup before migrating (only for `migrate`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pre_upgrade_backup_dir: Option<PathBuf>,
}

/// Prints the report; an error (exit status 1) when this binary would refuse the store.
pub async fn check(state_dir: &Path, json: bool) -> anyhow::Result<()> {
    let state_dir_abs = super::backup::absolute(state_dir)?;
    let path = super::store_path(&state_dir_abs);
    let (plan, server_running) = match acorn_store::inspect(&path) {
        Ok(plan) => (plan, false),
        Err(StoreError::Locked { .. }) => (inspect_running(state_dir).await?, true),
        Err(e) => return Err(e.into()),
    };
    let report = Report {
        store: path,
        server_running,
        binary_version: crate::VERSION,
        binary_schema_version: SCHEMA_VERSION,
        pre_upgrade_backup_dir: matches!(plan, UpgradePlan::Migrate { .. })
            .then(|| super::pre_upgrade_backup_dir(&state_dir_abs)),
        plan,
    };
    if json {
        println!("{}", serde_json::to_string_pretty(&report)?);
    } else {
        print!("{}", render(&report));
    }
    match report.plan {
        UpgradePlan::Refuse {
            found, written_by, ..
        } => anyhow::bail!(
            "refused: the store has schema {found} (written by acorn {written_by}); acorn {} \
             supports up to schema {SCHEMA_VERSION}",
            crate::VERSION
        ),
        _ => Ok(()),
    }
}

/// The plan for a consistent snapshot of a store that a running server holds.
async fn inspect_running(state_dir: &Path) -> anyhow::Result<UpgradePlan> {
    let dir = super::backup::absolute(state_dir)?;
    let tmp = dir.join(format!(
        "upgrade-check-{}.redb",
        hex::encode(crate::tls::pki::random_bytes::<6>())
    ));
    let request = LocalRequest::Backup {
        out: tmp.display().to_string(),
    };
    let answer = local_socket::request(state_dir, &request).await;
    let result = match answer {
        Ok(Some(LocalResponse::Backup(_))) => acorn_store::inspect(&tmp).map_err(Into::into),
        Ok(Some(LocalResponse::Error { message })) => Err(anyhow::anyhow!(
            "the running server could not snapshot the store: {message}"
        )),
        Ok(_) => Err(anyhow::anyhow!(
            "the store is locked but no server answered on the local socket {}; is it still \
             starting, or does it run as another user?",
            local_socket::socket_path(state_dir).display()
        )),
        Err(e) => Err(anyhow::Error::from(e)),
    };
    let _ = std::fs::remove_file(&tmp);
    let _ = std::fs::remove_file(acorn_store::manifest_path(&tmp));
    result
}

/// The report for people.
fn render(r: &Report) -> String {
    use std::fmt::Write;
    let mut out = String::new();
    let held = if r.server_running {
        " (held by a running server: checked a snapshot of it)"
    } else {
        ""
    };
    let _ = writeln!(out, "store: {}{held}", r.store.display());
    let _ = writeln!(
        out,
        "this binary: acorn {}, schema {}",
        r.binary_version, r.binary_schema_version
    );
    match &r.plan {
        UpgradePlan::Create { schema_version } => {
            let _ = writeln!(
                out,
                "no store yet: the first start creates one of schema {schema_version}"
            );
        }
        UpgradePlan::UpToDate {
            schema_version,
            written_by,
        } => {
            let _ = writeln!(
                out,
                "store: schema {schema_version}, last written by acorn {written_by}\n\
                 up to date: the next start migrates nothing"
            );
        }
        UpgradePlan::Migrate {
            from,
            to,
            written_by,
            steps,
        } => {
            let _ = writeln!(
                out,
                "store: schema {from}, last written by acorn {written_by}\n\
                 upgrade: the next start of this binary migrates the store from schema {from} to {to}:"
            );
            for step in steps {
                let _ = writeln!(out, "  {} -> {}: {}", step.from, step.to, step.summary);
            }
            if let Some(dir) = &r.pre_upgrade_backup_dir {
                let _ = writeln!(
                    out,
                    "before migrating, it writes a backup of the store as it is now to\n  \
                     {}/pre-upgrade-{from}-to-{to}-<UTC time>.redb (with its .manifest.json)",
                    dir.display()
                );
            }
            let _ = writeln!(
                out,
                "the migrations run in one transaction: if one fails, the store stays at schema {from}.\n\
                 to go back afterwards: stop acorn, reinstall acorn {written_by}, and `acorn restore` that backup"
            );
        }
        UpgradePlan::Refuse {
            found,
            supported,
            written_by,
        } => {
            let _ = writeln!(
                out,
                "store: schema {found}, last written by acorn {written_by}\n\
                 refused: this binary supports up to schema {supported}; it would not start on this store \
                 and changes nothing in it.\n\
                 downgrades are not possible: run acorn {written_by} or newer, or restore a backup taken \
                 before the upgrade (e.g. <state-dir>/backups/pre-upgrade-*.redb) with `acorn restore`"
            );
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn report(plan: UpgradePlan) -> Report {
        Report {
            store: PathBuf::from("/var/lib/acorn/acorn.redb"),
            server_running: false,
            binary_version: "9.9.9",
            binary_schema_version: SCHEMA_VERSION,
            pre_upgrade_backup_dir: Some(PathBuf::from("/var/lib/acorn/backups")),
            plan,
        }
    }

    #[test]
    fn the_report_says_what_happens() {
        let migrate = render(&report(UpgradePlan::Migrate {
            from: 1,
            to: 3,
            written_by: "0.0.1".into(),
            steps: vec![
                acorn_store::MigrationStep {
                    from: 1,
                    to: 2,
                    summary: "add a".into(),
                },
                acorn_store::MigrationStep {
                    from: 2,
                    to: 3,
                    summary: "add b".into(),
                },
            ],
        }));
        for want in [
            "from schema 1 to 3",
            "  1 -> 2: add a\n  2 -> 3: add b",
            "/var/lib/acorn/backups/pre-upgrade-1-to-3-<UTC time>.redb",
            "reinstall acorn 0.0.1",
        ] {
            assert!(migrate.contains(want), "{want:?} not in:\n{migrate}");
        }
        let refuse = render(&report(UpgradePlan::Refuse {
            found: 99,
            supported: SCHEMA_VERSION,
            written_by: "42.0.0".into(),
        }));
        for want in [
            "refused",
            "schema 99",
            "run acorn 42.0.0 or newer",
            "downgrades are not possible",
        ] {
            assert!(refuse.contains(want), "{want:?} not in:\n{refuse}");
        }
    }
}
