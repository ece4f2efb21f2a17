//! Upgrades: what a binary would do to a store file ([`inspect`], behind `acorn upgrade-check`)
//! and the backup taken before a migration runs (`Store::open` with
//! [`crate::StoreOptions::pre_upgrade_backup_dir`]).
//!
//! The migrations themselves are in `schema.rs`; each one has a one-line summary here, which is
//! what an operator reads before upgrading (a test fails when a migration has none).
//! Downgrades do not exist: a store of a newer schema is refused, by [`inspect`] and at open,
//! before anything is written.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::backup::backup_database;
use crate::schema::{self, MIGRATIONS, Probe};
use crate::store::open_read_only;
use crate::{SCHEMA_VERSION, StoreError, unix_now};

/// What one migration step does, for operators.
pub(crate) fn summary(to: u32) -> Option<&'static str> {
    Some(match to {
        1 => {
            "create the appliance-core tables (TLS material, local accounts, one-time links, system events)"
        }
        2 => {
            "add users, sessions, workspaces, memberships, invitations, API tokens and the audit log; every local account becomes a user"
        }
        3 => "add clusters, agent keys and the clusters' objects",
        4 => {
            "add the LLM gateway's tables (secrets, signing keys, providers, MCP servers, run budgets, request log)"
        }
        5 => {
            "add sessions, runs, run events, approvals, clusters' findings and the search watermark (the run search index is rebuilt from them)"
        }
        6 => {
            "add webhook subscriptions, events, the delivery log and the outbox, alert receivers and their deduplication records"
        }
        7 => "add model evaluations (their reports, for the console)",
        _ => return None,
    })
}

/// One migration step of an [`UpgradePlan`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MigrationStep {
    pub from: u32,
    pub to: u32,
    pub summary: String,
}

/// What opening a store file with this binary would do.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "action", rename_all = "snake_case")]
pub enum UpgradePlan {
    /// No file (or an empty one): the first start creates a store of the current schema.
    Create { schema_version: u32 },
    /// Same schema: nothing to migrate.
    UpToDate {
        schema_version: u32,
        written_by: String,
    },
    /// An older schema: the migrations below run in one transaction at the next start, after
    /// a backup of the store as it is now.
    Migrate {
        from: u32,
        to: u32,
        written_by: String,
        steps: Vec<MigrationStep>,
    },
    /// A newer schema than this binary knows: refused at start, nothing is written.
    Refuse {
        found: u32,
        supported: u32,
        written_by: String,
    },
}

/// The migration steps from `from` to [`SCHEMA_VERSION`].
fn steps_from(from: u32) -> Vec<MigrationStep> {
    MIGRATIONS
        .iter()
        .filter(|(step_from, _, _)| *step_from >= from)
        .map(|(step_from, to, _)| MigrationStep {
            from: *step_from,
            to: *to,
            summary: summary(*to)
                .map(str::to_owned)
                .unwrap_or_else(|| format!("schema {to}")),
        })
        .collect()
}

/// Reads the store file at `path` without modifying it and says what this binary would do
/// with it. [`StoreError::Locked`] while a server holds it (ask the server for an online backup
/// and inspect that instead); [`StoreError::NotAStore`] for someone else's file.
pub fn inspect(path: &Path) -> Result<UpgradePlan, StoreError> {
    match std::fs::metadata(path) {
        Ok(m) if m.len() == 0 => {
            return Ok(UpgradePlan::Create {
                schema_version: SCHEMA_VERSION,
            });
        }
        Ok(_) => {}
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            return Ok(UpgradePlan::Create {
                schema_version: SCHEMA_VERSION,
            });
        }
        Err(e) => return Err(StoreError::io("cannot read", path)(e)),
    }
    let Some(db) = open_read_only(path)? else {
        // redb wants to recover the file first, which only a writable open does; the schema
        // check then happens at open, before any migration.
        return Err(StoreError::Corrupt {
            path: path.to_path_buf(),
            detail: "it was not closed cleanly and needs recovery; run `acorn verify` on it".into(),
        });
    };
    let probe = schema::probe(&db);
    let _ = db.close();
    Ok(match probe? {
        Probe::Fresh => UpgradePlan::Create {
            schema_version: SCHEMA_VERSION,
        },
        Probe::Foreign(reason) => {
            return Err(StoreError::NotAStore {
                path: path.to_path_buf(),
                reason,
            });
        }
        Probe::Store {
            schema_version,
            written_by,
        } if schema_version > SCHEMA_VERSION => UpgradePlan::Refuse {
            found: schema_version,
            supported: SCHEMA_VERSION,
            written_by,
        },
        Probe::Store {
            schema_version,
            written_by,
        } if schema_version == SCHEMA_VERSION => UpgradePlan::UpToDate {
            schema_version,
            written_by,
        },
        Probe::Store {
            schema_version,
            written_by,
        } => UpgradePlan::Migrate {
            from: schema_version,
            to: SCHEMA_VERSION,
            written_by,
            steps: steps_from(schema_version),
        },
    })
}

/// A migration that happened when this store was opened.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UpgradeDone {
    pub from: u32,
    pub to: u32,
    /// The backup of the store as it was before (None when no backup directory was given).
    pub backup: Option<PathBuf>,
}

/// `pre-upgrade-<from>-to-<to>-<UTC time>.redb` in `dir`: the store before a migration, written
/// like an online backup (with its manifest: the old schema and the Acorn that last wrote it).
/// Called by `Store::open` with the file open exclusively and not yet migrated; a failure stops
/// the open, so a store is never migrated without its backup.
pub(crate) fn backup_before_migration(
    db: &redb::Database,
    dir: &Path,
    from: u32,
    written_by: &str,
) -> Result<PathBuf, StoreError> {
    let fail = |reason: String| StoreError::PreUpgradeBackup {
        dir: dir.to_path_buf(),
        reason,
    };
    std::fs::create_dir_all(dir).map_err(|e| fail(e.to_string()))?;
    let stamp = utc_stamp(unix_now());
    let mut dest = dir.join(format!(
        "pre-upgrade-{from}-to-{SCHEMA_VERSION}-{stamp}.redb"
    ));
    let mut n = 1;
    while dest.exists() {
        dest = dir.join(format!(
            "pre-upgrade-{from}-to-{SCHEMA_VERSION}-{stamp}-{n}.redb"
        ));
        n += 1;
    }
    backup_database(db, &dest, written_by, from).map_err(|e| fail(e.to_string()))?;
    tracing::info!(
        from,
        to = SCHEMA_VERSION,
        backup = %dest.display(),
        "backup of the store taken before migrating it"
    );
    Ok(dest)
}

/// `YYYYMMDDTHHMMSSZ` for a Unix time (UTC), without a date crate: days to civil date after
/// Howard Hinnant's `civil_from_days`.
pub(crate) fn utc_stamp(unix: i64) -> String {
    let days = unix.div_euclid(86_400);
    let secs = unix.rem_euclid(86_400);
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!(
        "{year:04}{month:02}{day:02}T{:02}{:02}{:02}Z",
        secs / 3600,
        secs % 3600 / 60,
        secs % 60
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_migration_has_a_summary() {
        for (from, to, _) in MIGRATIONS {
            assert!(
                summary(*to).is_some(),
                "migration {from} -> {to} has no summary in upgrade.rs"
            );
        }
        assert_eq!(
            MIGRATIONS.last().map(|m| m.1),
            Some(SCHEMA_VERSION),
            "the last migration reaches the current schema"
        );
    }

    #[test]
    fn utc_stamps() {
        for (unix, want) in [
            (0, "19700101T000000Z"),
            (951_782_400, "20000229T000000Z"),
            (1_700_000_100, "20231114T221500Z"),
            (1_798_761_599, "20261231T235959Z"),
            (4_107_542_400, "21000301T000000Z"),
        ] {
            assert_eq!(utc_stamp(unix), want, "{unix}");
        }
    }

    #[test]
    fn steps_cover_every_version_between() {
        let steps = steps_from(1);
        assert_eq!(steps.first().map(|s| s.from), Some(1));
        assert_eq!(steps.last().map(|s| s.to), Some(SCHEMA_VERSION));
        for pair in steps.windows(2) {
            assert_eq!(pair[0].to, pair[1].from);
        }
        assert!(steps_from(SCHEMA_VERSION).is_empty());
    }
}
