//! Tests of upgrades: `inspect` (behind `acorn upgrade-check`) and the backup written before a
//! migration, from the real fixture stores of earlier schemas (`fixtures/`, never modified:
//! each test works on a copy).

use std::path::{Path, PathBuf};

use crate::*;

fn opts() -> StoreOptions {
    StoreOptions::new("0.9.0-upgrade-test")
}

fn fixture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("fixtures")
        .join(name)
}

/// A copy of a fixture in a temp dir, as `<tmp>/acorn.redb`.
fn copy_of(name: &str) -> (tempfile::TempDir, PathBuf) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("acorn.redb");
    std::fs::copy(fixture(name), &path).unwrap();
    (dir, path)
}

fn sha(path: &Path) -> String {
    crate::backup_sha_for_tests(path).0
}

#[test]
fn inspect_says_what_opening_would_do() {
    let dir = tempfile::tempdir().unwrap();
    let missing = dir.path().join("none.redb");
    assert_eq!(
        inspect(&missing).unwrap(),
        UpgradePlan::Create {
            schema_version: SCHEMA_VERSION
        }
    );

    let (_d, old) = copy_of("schema-1.redb");
    let before = sha(&old);
    match inspect(&old).unwrap() {
        UpgradePlan::Migrate {
            from,
            to,
            written_by,
            steps,
        } => {
            assert_eq!((from, to), (1, SCHEMA_VERSION));
            assert_eq!(written_by, "0.1.0");
            let pairs: Vec<(u32, u32)> = steps.iter().map(|s| (s.from, s.to)).collect();
            let want: Vec<(u32, u32)> = (1..SCHEMA_VERSION).map(|v| (v, v + 1)).collect();
            assert_eq!(pairs, want);
            assert!(steps[0].summary.contains("workspaces"), "{:?}", steps[0]);
        }
        other => panic!("expected a migration, got {other:?}"),
    }
    assert_eq!(sha(&old), before, "inspect writes nothing");

    let current = dir.path().join("current.redb");
    drop(Store::open(&current, opts()).unwrap());
    assert_eq!(
        inspect(&current).unwrap(),
        UpgradePlan::UpToDate {
            schema_version: SCHEMA_VERSION,
            written_by: "0.9.0-upgrade-test".into()
        }
    );

    testing::set_schema_version(&current, SCHEMA_VERSION + 1, "99.0.0").unwrap();
    let before = sha(&current);
    assert_eq!(
        inspect(&current).unwrap(),
        UpgradePlan::Refuse {
            found: SCHEMA_VERSION + 1,
            supported: SCHEMA_VERSION,
            written_by: "99.0.0".into()
        }
    );
    let refused = Store::open(&current, opts()).unwrap_err();
    assert!(
        matches!(refused, StoreError::NewerSchema { found, .. } if found == SCHEMA_VERSION + 1),
        "{refused:?}"
    );
    assert!(refused.to_string().contains("99.0.0"), "{refused}");
    assert_eq!(sha(&current), before, "a refused store is left as it was");

    let foreign = dir.path().join("foreign.redb");
    std::fs::write(&foreign, b"not a database at all, just some bytes of text").unwrap();
    assert!(matches!(
        inspect(&foreign),
        Err(StoreError::NotAStore { .. })
    ));

    let held = Store::open(&dir.path().join("held.redb"), opts()).unwrap();
    assert!(matches!(
        inspect(held.path()),
        Err(StoreError::Locked { .. })
    ));
}

#[test]
fn a_migration_is_preceded_by_a_backup_of_the_old_store() {
    let (dir, path) = copy_of("schema-1.redb");
    let original = sha(&path);
    let backups = dir.path().join("backups");
    let mut options = opts();
    options.pre_upgrade_backup_dir = Some(backups.clone());
    let store = Store::open(&path, options.clone()).unwrap();
    let done = store.upgraded().cloned().expect("an upgrade happened");
    assert_eq!((done.from, done.to), (1, SCHEMA_VERSION));
    let backup = done.backup.expect("a backup was written");
    assert_eq!(backup.parent(), Some(backups.as_path()));
    let name = backup.file_name().unwrap().to_str().unwrap().to_owned();
    assert!(
        name.starts_with(&format!("pre-upgrade-1-to-{SCHEMA_VERSION}-"))
            && name.ends_with("Z.redb"),
        "{name}"
    );
    drop(store);

    // The backup is the old store: schema 1, its writer, every record, and a manifest.
    let report = verify_backup(&backup).unwrap();
    assert_eq!(report.schema_version, 1);
    assert_eq!(report.written_by, "0.1.0");
    let manifest = report.manifest.unwrap();
    assert_eq!(
        (manifest.schema_version, manifest.acorn_version.as_str()),
        (1, "0.1.0")
    );
    let accounts = report.tables.iter().find(|(t, _)| t == "local_accounts");
    assert_eq!(accounts.map(|(_, n)| *n), Some(1));

    // Opening the migrated store again takes no second backup.
    let store = Store::open(&path, options.clone()).unwrap();
    assert_eq!(store.upgraded(), None);
    drop(store);
    assert_eq!(
        std::fs::read_dir(&backups).unwrap().count(),
        2,
        "backup + manifest"
    );

    // Restoring the backup brings back the schema-1 store, which migrates again.
    restore(&backup, &path).unwrap();
    assert_eq!(
        inspect(&path).unwrap(),
        inspect(&fixture("schema-1.redb")).unwrap()
    );
    let store = Store::open(&path, opts()).unwrap();
    assert_eq!(
        store.local_login("admin").unwrap().map(|(u, _)| u.subject),
        Some("admin".into())
    );
    drop(store);
    assert_ne!(sha(&path), original);
}

#[test]
fn no_migration_without_its_backup() {
    let (dir, path) = copy_of("schema-1.redb");
    // A file where the backup directory should be: it cannot be created.
    let blocked = dir.path().join("backups");
    std::fs::write(&blocked, b"in the way").unwrap();
    let mut options = opts();
    options.pre_upgrade_backup_dir = Some(blocked.clone());
    let err = Store::open(&path, options).unwrap_err();
    assert!(
        matches!(err, StoreError::PreUpgradeBackup { .. }),
        "{err:?}"
    );
    assert!(err.to_string().contains("was not migrated"), "{err}");
    // redb's writable open touches the header, so the bytes may differ; the schema must not.
    assert_eq!(verify_file(&path).unwrap().schema_version, 1);
    match inspect(&path).unwrap() {
        UpgradePlan::Migrate { from: 1, .. } => {}
        other => panic!("still schema 1 expected, got {other:?}"),
    }
}

#[test]
fn a_fresh_store_takes_no_backup() {
    let dir = tempfile::tempdir().unwrap();
    let mut options = opts();
    options.pre_upgrade_backup_dir = Some(dir.path().join("backups"));
    let store = Store::open(&dir.path().join("acorn.redb"), options).unwrap();
    assert_eq!(store.upgraded(), None);
    assert!(!dir.path().join("backups").exists());
}

/// `fixtures/appliance-schema-N.{redb,json}` for every N below the current schema.
fn appliance_fixtures() -> Vec<(u32, serde_json::Value)> {
    (1..SCHEMA_VERSION)
        .filter_map(|n| {
            let json = fixture(&format!("appliance-schema-{n}.json"));
            let facts = serde_json::from_slice(&std::fs::read(json).ok()?).ok()?;
            Some((n, facts))
        })
        .collect()
}

#[test]
fn stores_written_by_every_earlier_appliance_migrate_with_their_data() {
    let fixtures = appliance_fixtures();
    assert_eq!(
        fixtures.iter().map(|(n, _)| *n).collect::<Vec<_>>(),
        (1..SCHEMA_VERSION).collect::<Vec<_>>(),
        "a fixture written by the acorn of every earlier schema (fixtures/README.md)"
    );
    for (n, facts) in fixtures {
        let (dir, path) = copy_of(&format!("appliance-schema-{n}.redb"));
        let old = verify_file(&path).unwrap();
        assert_eq!(old.schema_version, n);

        let mut options = opts();
        options.pre_upgrade_backup_dir = Some(dir.path().join("backups"));
        let store = Store::open(&path, options).unwrap();
        let done = store.upgraded().cloned().unwrap();
        assert_eq!((done.from, done.to), (n, SCHEMA_VERSION));
        assert_eq!(
            verify_backup(&done.backup.unwrap()).unwrap().schema_version,
            n
        );

        let (user, account) = store
            .local_login("admin")
            .unwrap()
            .expect("the administrator");
        assert!(account.administrator && user.appliance_admin, "schema {n}");
        assert!(
            store
                .tls_ca()
                .unwrap()
                .unwrap()
                .cert_pem
                .contains("BEGIN CERTIFICATE")
        );
        let ws = facts["workspace"]["id"].as_str();
        if n >= 2 {
            let ws = ws.unwrap();
            assert!(
                store.workspace(ws).unwrap().is_some(),
                "schema {n}: workspace"
            );
            let members = store.members(ws).unwrap();
            assert!(
                members.iter().any(|(_, u)| u.id == user.id),
                "schema {n}: owner"
            );
        }
        if n >= 3 {
            let cluster = facts["cluster"]["id"].as_str().unwrap();
            let found = store
                .cluster(ws.unwrap(), cluster)
                .unwrap()
                .expect("cluster");
            assert_eq!(found.name, "prod");
        }
        if n >= 4 {
            let provider = store
                .provider(ws.unwrap(), "local")
                .unwrap()
                .expect("provider");
            assert!(
                provider.api_key_secret.is_some(),
                "the encrypted key survived"
            );
            assert!(!store.signing_keys().unwrap().is_empty());
        }
        if n >= 5 {
            let run = &facts["run"];
            let ws = ws.unwrap();
            let session = run["session_id"].as_str().unwrap();
            assert!(store.session_record(ws, session).unwrap().is_some());
            let record = store
                .run_record(run["run_id"].as_str().unwrap())
                .unwrap()
                .expect("the run");
            assert_eq!(record.session_id, session);
            assert_eq!(
                serde_json::to_value(record.state).unwrap(),
                run["state"],
                "schema {n}: run state"
            );
            let events = store.run_events(&record.id, None, 1_000).unwrap();
            assert_eq!(Some(events.len() as u64), run["events"].as_u64());
            let findings = store
                .findings_record(run["cluster_id"].as_str().unwrap())
                .unwrap()
                .expect("the findings record");
            let mut rules: Vec<String> = findings.findings.iter().map(|f| f.rule.clone()).collect();
            rules.sort();
            assert_eq!(serde_json::to_value(rules).unwrap(), run["findings"]);
        }
        if (2..6).contains(&n) {
            // Schema 6: the webhook tables exist (empty) and sessions read without an alert.
            let ws = ws.unwrap();
            assert!(store.webhook_subscriptions(ws).unwrap().is_empty());
            assert_eq!(store.webhook_outbox_len().unwrap(), 0, "schema {n}");
            for s in store.session_records(ws, None).unwrap() {
                assert_eq!(s.alert, None, "schema {n}");
            }
        }
        if n >= 6 {
            // The subscription with its sealed secret, its pending test delivery, the receiver.
            let ws = ws.unwrap();
            let hook = &facts["webhook"];
            let subs = store.webhook_subscriptions(ws).unwrap();
            assert_eq!(subs.len(), 1, "schema {n}");
            assert_eq!(subs[0].id, hook["id"].as_str().unwrap());
            assert_eq!(subs[0].url, hook["url"].as_str().unwrap());
            assert_eq!(subs[0].secrets.len(), 1);
            assert_eq!(store.webhook_outbox_len().unwrap(), 1, "schema {n}");
            let receivers = store.alert_receivers(ws).unwrap();
            assert_eq!(
                receivers.iter().map(|r| r.id.as_str()).collect::<Vec<_>>(),
                [hook["receiver_id"].as_str().unwrap()]
            );
        }
        if n >= 2 {
            // Schema 7: no evaluations yet.
            assert!(store.eval_records(ws.unwrap()).unwrap().is_empty());
        }
        drop(store);
        let new = verify_file(&path).unwrap();
        assert_eq!(new.schema_version, SCHEMA_VERSION);
        for table in [
            "webhook_subscriptions",
            "webhook_outbox",
            "alert_dedup",
            "eval_reports",
        ] {
            assert!(
                new.tables.iter().any(|(t, _)| t == table),
                "schema {n}: {table} after the migration"
            );
        }
        for chain in &old.audit_chains {
            assert!(
                new.audit_chains.contains(chain),
                "schema {n}: audit chain {chain:?} still verifies, whole"
            );
        }
    }
}
