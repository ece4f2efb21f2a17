//! Unit tests: one binary for the whole crate.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use redb::{ReadableDatabase, TableDefinition};

use crate::schema::{self, META};
use crate::*;

fn opts() -> StoreOptions {
    StoreOptions::new("0.1.0-test")
}

fn tmp() -> (tempfile::TempDir, PathBuf) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("acorn.redb");
    (dir, path)
}

fn rt() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap()
}

fn ca() -> CaMaterial {
    CaMaterial {
        cert_pem: "-----BEGIN CERTIFICATE-----\nCA\n-----END CERTIFICATE-----".into(),
        key_pem: "KEY".into(),
        created_at: 1,
    }
}

fn token(n: u8, purpose: OneTimePurpose, expires_at: i64) -> OneTimeToken {
    OneTimeToken {
        token_hash: [n; 32],
        purpose,
        expires_at,
        created_at: 0,
    }
}

#[test]
fn fresh_open_migrates_and_reopens() {
    let (_d, path) = tmp();
    assert!(matches!(
        Store::open_existing(&path, opts()),
        Err(StoreError::Missing { .. })
    ));
    let store = Store::open(&path, opts()).unwrap();
    assert_eq!(store.schema_version(), SCHEMA_VERSION);
    assert_eq!(store.path(), path);
    rt().block_on(store.append_system_event("started", "hello"))
        .unwrap();
    drop(store);
    // Already current: reopen runs no step, keeps data, records the new writer.
    let store = Store::open_existing(&path, StoreOptions::new("0.2.0")).unwrap();
    assert_eq!(store.system_events(None, 10).unwrap().len(), 1);
    drop(store);
    let report = verify_file(&path).unwrap();
    assert_eq!(report.schema_version, SCHEMA_VERSION);
    assert_eq!(report.written_by, "0.2.0");
    let names: Vec<_> = report.tables.iter().map(|(n, _)| n.as_str()).collect();
    assert_eq!(
        names,
        [
            "meta",
            "tls",
            "local_accounts",
            "one_time_tokens",
            "system_events",
            "users",
            "user_subjects",
            "sessions",
            "workspaces",
            "memberships",
            "user_workspaces",
            "invitations",
            "invitation_ids",
            "api_tokens",
            "api_token_ids",
            "audit",
            "audit_anchors",
            "clusters",
            "agent_keys",
            "agent_key_ids",
            "cluster_objects",
            "gateway_meta",
            "secrets",
            "signing_keys",
            "providers",
            "mcp_servers",
            "run_budgets",
            "gateway_requests",
            "run_sessions",
            "runs",
            "session_runs",
            "workspace_runs",
            "run_events",
            "run_event_log",
            "approvals",
            "active_runs",
            "search_meta",
            "findings",
            "webhook_subscriptions",
            "webhook_events",
            "webhook_deliveries",
            "webhook_outbox",
            "alert_receivers",
            "receiver_tokens",
            "alert_dedup",
            "eval_reports",
        ]
    );
}

#[test]
fn migration_from_0_creates_every_table_and_meta() {
    let (_d, path) = tmp();
    let db = redb::Database::create(&path).unwrap();
    assert_eq!(schema::probe(&db).unwrap(), schema::Probe::Fresh);
    assert_eq!(schema::migrate(&db, 0, "v-test").unwrap(), SCHEMA_VERSION);
    assert_eq!(
        schema::probe(&db).unwrap(),
        schema::Probe::Store {
            schema_version: SCHEMA_VERSION,
            written_by: "v-test".into()
        }
    );
    let txn = db.begin_read().unwrap();
    for spec in schema::ALL_TABLES {
        txn.open_table(spec.def).unwrap();
    }
}

#[test]
fn second_open_is_locked() {
    let (_d, path) = tmp();
    let store = Store::open(&path, opts()).unwrap();
    let err = Store::open(&path, opts()).unwrap_err();
    assert!(matches!(err, StoreError::Locked { .. }), "{err}");
    assert!(err.to_string().contains("acorn serve"));
    assert!(matches!(verify_file(&path), Err(StoreError::Locked { .. })));
    drop(store);
    Store::open(&path, opts()).unwrap();
}

#[test]
fn foreign_files_are_refused_unchanged() {
    let (_d, path) = tmp();
    let random: Vec<u8> = (0..20_000u32)
        .map(|i| (i.wrapping_mul(2654435761) >> 13) as u8)
        .collect();
    std::fs::write(&path, &random).unwrap();
    let err = Store::open(&path, opts()).unwrap_err();
    assert!(matches!(err, StoreError::NotAStore { .. }), "{err}");
    assert!(err.to_string().contains(&path.display().to_string()));
    assert_eq!(std::fs::read(&path).unwrap(), random);
    assert!(matches!(
        verify_file(&path),
        Err(StoreError::NotAStore { .. })
    ));

    let other = path.with_file_name("other.redb");
    {
        let db = redb::Database::create(&other).unwrap();
        let txn = db.begin_write().unwrap();
        let t: TableDefinition<u64, u64> = TableDefinition::new("foo");
        txn.open_table(t).unwrap().insert(1, 2).unwrap();
        txn.commit().unwrap();
    }
    let before = std::fs::read(&other).unwrap();
    let err = Store::open(&other, opts()).unwrap_err();
    assert!(matches!(err, StoreError::NotAStore { .. }), "{err}");
    assert_eq!(std::fs::read(&other).unwrap(), before);
}

fn write_schema(path: &Path, version: u32) {
    let db = redb::Database::create(path).unwrap();
    let txn = db.begin_write().unwrap();
    {
        let mut meta = txn.open_table(META).unwrap();
        meta.insert(b"format".as_slice(), b"\"acorn-store\"".as_slice())
            .unwrap();
        meta.insert(b"schema_version".as_slice(), version.to_string().as_bytes())
            .unwrap();
        meta.insert(b"written_by".as_slice(), b"\"9.9.9\"".as_slice())
            .unwrap();
    }
    txn.commit().unwrap();
}

#[test]
fn newer_schema_is_refused_and_file_unchanged() {
    let (_d, path) = tmp();
    write_schema(&path, 99);
    let before = std::fs::read(&path).unwrap();
    let err = Store::open(&path, opts()).unwrap_err();
    match &err {
        StoreError::NewerSchema {
            found: 99,
            supported: SCHEMA_VERSION,
            written_by,
        } => {
            assert_eq!(written_by, "9.9.9")
        }
        other => panic!("{other:?}"),
    }
    assert!(err.to_string().contains("Acorn 9.9.9"), "{err}");
    assert_eq!(std::fs::read(&path).unwrap(), before);
    assert!(matches!(
        verify_file(&path),
        Err(StoreError::NewerSchema { .. })
    ));
    assert_eq!(std::fs::read(&path).unwrap(), before);
}

#[test]
fn group_commit_many_writers_all_acknowledged_writes_survive() {
    let (_d, path) = tmp();
    let commits = Arc::new(AtomicUsize::new(0));
    let records = Arc::new(AtomicUsize::new(0));
    let mut o = opts();
    let (c, r) = (commits.clone(), records.clone());
    o.commit_observer = Some(Arc::new(move |s: CommitStats| {
        c.fetch_add(1, Ordering::Relaxed);
        r.fetch_add(s.records, Ordering::Relaxed);
    }));
    let store = Store::open(&path, o).unwrap();
    let rt = rt();
    let mut seqs: Vec<u64> = rt.block_on(async {
        let mut tasks = Vec::new();
        for w in 0..32 {
            let store = store.clone();
            tasks.push(tokio::spawn(async move {
                let mut out = Vec::new();
                for i in 0..20 {
                    out.push(
                        store
                            .append_system_event("test", &format!("{w}/{i}"))
                            .await
                            .unwrap(),
                    );
                }
                out
            }));
        }
        let mut all = Vec::new();
        for t in tasks {
            all.extend(t.await.unwrap());
        }
        all
    });
    seqs.sort_unstable();
    assert_eq!(seqs, (1..=640).collect::<Vec<_>>());
    assert_eq!(records.load(Ordering::Relaxed), 640);
    assert!(commits.load(Ordering::Relaxed) < 640, "writes were batched");
    drop(store);
    let store = Store::open(&path, opts()).unwrap();
    let events = store.system_events(None, 1000).unwrap();
    assert_eq!(events.len(), 640);
    assert_eq!(store.system_events(Some(600), 10).unwrap()[0].seq, 601);
}

#[test]
fn a_failing_write_does_not_affect_its_neighbours() {
    let (_d, path) = tmp();
    let store = Store::open(&path, opts()).unwrap();
    let rt = rt();
    rt.block_on(async {
        let mut tasks = Vec::new();
        for i in 0..30 {
            let store = store.clone();
            tasks.push(tokio::spawn(async move {
                if i % 10 == 5 {
                    // Writes, then fails half-way: must leave nothing behind.
                    store
                        .submit(|txn| {
                            txn.open_table(schema::TLS)?
                                .insert(b"poison".as_slice(), b"{}".as_slice())?;
                            Err::<(), _>(StoreError::Encode("injected".into()))
                        })
                        .await
                        .map(|_| 0)
                } else {
                    store.append_system_event("ok", &i.to_string()).await
                }
            }));
        }
        let mut failed = 0;
        for t in tasks {
            match t.await.unwrap() {
                Ok(_) => {}
                Err(StoreError::Encode(_)) => failed += 1,
                Err(e) => panic!("{e}"),
            }
        }
        assert_eq!(failed, 3);
    });
    assert_eq!(store.system_events(None, 100).unwrap().len(), 27);
    drop(store);
    verify_file(&path).unwrap();
}

#[test]
fn tls_material() {
    let (_d, path) = tmp();
    let store = Store::open(&path, opts()).unwrap();
    let rt = rt();
    assert_eq!(store.tls_ca().unwrap(), None);
    let first = rt.block_on(store.init_tls_ca(ca())).unwrap();
    let mut other = ca();
    other.cert_pem = "OTHER".into();
    assert_eq!(rt.block_on(store.init_tls_ca(other)).unwrap(), first);
    assert_eq!(store.tls_ca().unwrap(), Some(first));
    let leaf = LeafMaterial {
        cert_pem: "L".into(),
        key_pem: "K".into(),
        sans: vec!["acorn.local".into()],
        not_after: 10,
        created_at: 2,
    };
    rt.block_on(store.put_tls_leaf(leaf.clone())).unwrap();
    assert_eq!(store.tls_leaf().unwrap(), Some(leaf));
}

#[test]
fn redeem_semantics() {
    let (_d, path) = tmp();
    let store = Store::open(&path, opts()).unwrap();
    let rt = rt();
    rt.block_on(async {
        let s = &store;
        let redeem = |n: u8, user: Option<&str>, pw: &str| {
            s.redeem_one_time_token([n; 32], 100, user.map(str::to_string), pw.to_string())
        };
        assert!(matches!(
            redeem(1, Some("a"), "p").await,
            Err(StoreError::TokenUnknown)
        ));

        // Expired: error, and the token is gone.
        s.issue_one_time_token(token(2, OneTimePurpose::Setup, 100))
            .await
            .unwrap();
        assert!(matches!(
            redeem(2, Some("a"), "p").await,
            Err(StoreError::TokenExpired)
        ));
        assert!(matches!(
            redeem(2, Some("a"), "p").await,
            Err(StoreError::TokenUnknown)
        ));

        // A newer Setup token revokes the older one.
        s.issue_one_time_token(token(3, OneTimePurpose::Setup, 200))
            .await
            .unwrap();
        s.issue_one_time_token(token(4, OneTimePurpose::Setup, 200))
            .await
            .unwrap();
        assert!(matches!(
            redeem(3, Some("a"), "p").await,
            Err(StoreError::TokenUnknown)
        ));

        // Setup needs a username; a failure leaves the token usable.
        assert!(matches!(
            redeem(4, None, "p").await,
            Err(StoreError::UsernameRequired)
        ));
        let r = redeem(4, Some("admin"), "h1").await.unwrap();
        assert_eq!(
            r,
            Redeemed {
                username: "admin".into(),
                created: true
            }
        );
        assert_eq!(s.administrator_count().unwrap(), 1);
        assert!(matches!(
            redeem(4, Some("x"), "p").await,
            Err(StoreError::TokenUnknown)
        ));

        // Setup never takes over an existing account; the failed redeem keeps the token.
        s.issue_one_time_token(token(5, OneTimePurpose::Setup, 200))
            .await
            .unwrap();
        s.issue_one_time_token(token(
            6,
            OneTimePurpose::Recover {
                username: "bob".into(),
            },
            200,
        ))
        .await
        .unwrap();
        assert!(matches!(
            redeem(5, Some("admin"), "p").await,
            Err(StoreError::UsernameTaken { .. })
        ));
        assert_eq!(
            s.local_account("admin").unwrap().unwrap().password_hash,
            "h1"
        );
        // Redeeming a Setup token deletes all Setup tokens but not Recover ones.
        s.issue_one_time_token(token(
            7,
            OneTimePurpose::Recover {
                username: "admin".into(),
            },
            200,
        ))
        .await
        .unwrap();
        assert!(redeem(5, Some("carol"), "hc").await.unwrap().created);
        assert_eq!(s.administrator_count().unwrap(), 2);

        // Recover resets an existing account, creates a missing one.
        let r = redeem(7, None, "h2").await.unwrap();
        assert_eq!(
            r,
            Redeemed {
                username: "admin".into(),
                created: false
            }
        );
        let admin = s.local_account("admin").unwrap().unwrap();
        assert_eq!(admin.password_hash, "h2");
        assert_eq!(admin.updated_at, 100);
        let r = redeem(6, None, "hb").await.unwrap();
        assert_eq!(
            r,
            Redeemed {
                username: "bob".into(),
                created: true
            }
        );
        assert!(s.local_account("bob").unwrap().unwrap().administrator);
        assert!(matches!(
            redeem(6, None, "x").await,
            Err(StoreError::TokenUnknown)
        ));
    });
}

#[test]
fn backup_while_writing_is_a_consistent_prefix() {
    let (dir, path) = tmp();
    let store = Store::open(&path, opts()).unwrap();
    let rt = rt();
    rt.block_on(store.init_tls_ca(ca())).unwrap();
    let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let writer = {
        let (store, stop) = (store.clone(), stop.clone());
        rt.spawn(async move {
            let mut n = 0u64;
            while !stop.load(Ordering::Relaxed) {
                n = store
                    .append_system_event("tick", &"x".repeat(200))
                    .await
                    .unwrap();
            }
            n
        })
    };
    while store.system_events(None, 50).unwrap().len() < 50 {
        std::thread::sleep(std::time::Duration::from_millis(5));
    }
    let dest = dir.path().join("backup.redb");
    let manifest = store.backup_to(&dest).unwrap();
    stop.store(true, Ordering::Relaxed);
    let written = rt.block_on(writer).unwrap();

    assert!(matches!(
        store.backup_to(&dest),
        Err(StoreError::DestinationExists { .. })
    ));
    let report = verify_backup(&dest).unwrap();
    assert_eq!(report.manifest.as_ref(), Some(&manifest));
    let (sha, bytes) = crate::backup_sha_for_tests(&dest);
    assert_eq!((sha, bytes), (manifest.sha256.clone(), manifest.bytes));
    let events = report
        .tables
        .iter()
        .find(|(n, _)| n == "system_events")
        .unwrap()
        .1;
    assert!(events >= 50 && events <= written, "{events} of {written}");
    assert_eq!(
        manifest.records,
        report.tables.iter().map(|(_, c)| c).sum::<u64>()
    );

    // The backup holds exactly seqs 1..=events: a prefix, no gaps.
    let restored = dir.path().join("restored.redb");
    drop(store);
    let rep = restore(&dest, &restored).unwrap();
    assert_eq!(rep.previous_moved_to, None);
    let copy = Store::open(&restored, opts()).unwrap();
    let seqs: Vec<u64> = copy
        .system_events(None, usize::MAX)
        .unwrap()
        .iter()
        .map(|e| e.seq)
        .collect();
    assert_eq!(seqs, (1..=events).collect::<Vec<_>>());
    assert_eq!(copy.tls_ca().unwrap(), Some(ca()));
}

#[test]
fn verify_backup_detects_truncation_flips_and_missing_manifest() {
    let (dir, path) = tmp();
    let store = Store::open(&path, opts()).unwrap();
    let rt = rt();
    rt.block_on(store.init_tls_ca(ca())).unwrap();
    let dest = dir.path().join("b.redb");
    store.backup_to(&dest).unwrap();
    let bytes = std::fs::read(&dest).unwrap();

    let truncated = dir.path().join("t.redb");
    std::fs::write(&truncated, &bytes[..bytes.len() / 2]).unwrap();
    std::fs::copy(manifest_path(&dest), manifest_path(&truncated)).unwrap();
    assert!(matches!(
        verify_backup(&truncated),
        Err(StoreError::SizeMismatch { .. })
    ));

    let flipped = dir.path().join("f.redb");
    let mut f = bytes.clone();
    f[bytes.len() / 3] ^= 0x40;
    std::fs::write(&flipped, &f).unwrap();
    std::fs::copy(manifest_path(&dest), manifest_path(&flipped)).unwrap();
    assert!(matches!(
        verify_backup(&flipped),
        Err(StoreError::ChecksumMismatch { .. })
    ));
    assert!(matches!(
        restore(&flipped, &path.with_file_name("x.redb")),
        Err(StoreError::ChecksumMismatch { .. })
    ));

    let raw = dir.path().join("raw.redb");
    std::fs::copy(&dest, &raw).unwrap();
    let err = verify_backup(&raw).unwrap_err();
    assert!(matches!(err, StoreError::ManifestMissing { .. }));
    assert!(err.to_string().contains("--no-manifest"));
    // Verifying does not touch the file.
    verify_file(&raw).unwrap();
    assert_eq!(std::fs::read(&raw).unwrap(), bytes);
}

#[test]
fn restore_replaces_the_state_file_and_is_refused_while_locked() {
    let (dir, path) = tmp();
    let rt = rt();
    let store = Store::open(&path, opts()).unwrap();
    rt.block_on(store.init_tls_ca(ca())).unwrap();
    let backup = dir.path().join("b.redb");
    store.backup_to(&backup).unwrap();

    // A second appliance state, restored over.
    let state = dir.path().join("state.redb");
    let other = Store::open(&state, opts()).unwrap();
    let mut other_ca = ca();
    other_ca.cert_pem = "NEW MACHINE".into();
    rt.block_on(other.init_tls_ca(other_ca)).unwrap();
    let err = restore(&backup, &state).unwrap_err();
    assert!(matches!(err, StoreError::Locked { .. }), "{err}");
    drop(other);
    let before = std::fs::read(&state).unwrap();
    let rep = restore(&backup, &state).unwrap();
    let aside = rep.previous_moved_to.unwrap();
    assert_eq!(std::fs::read(&aside).unwrap(), before);
    assert!(rep.manifest.is_some());
    assert!(!dir.path().join("state.redb.restore.tmp").exists());
    let restored = Store::open(&state, opts()).unwrap();
    assert_eq!(restored.tls_ca().unwrap(), store.tls_ca().unwrap());
}
