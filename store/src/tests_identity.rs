//! Tests of schema 2: the 1→2 migration from the real schema-1 fixture, identity, workspaces,
//! memberships, invitations, API tokens and the audit chains.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use redb::{ReadableTable, ReadableTableMetadata};

use crate::schema::AUDIT;
use crate::*;

fn opts() -> StoreOptions {
    StoreOptions::new("0.2.0-test")
}

fn rt() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap()
}

fn fixture(n: u32) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join(format!("fixtures/schema-{n}.redb"))
}

fn sha(path: &Path) -> String {
    crate::backup_sha_for_tests(path).0
}

/// A fresh store with users `a`, `b`, `c` (OIDC) and the ids.
struct World {
    _dir: tempfile::TempDir,
    path: PathBuf,
    store: Store,
    rt: tokio::runtime::Runtime,
    a: String,
    b: String,
    c: String,
}

fn world() -> World {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("acorn.redb");
    let store = Store::open(&path, opts()).unwrap();
    let rt = rt();
    let mut ids = Vec::new();
    for name in ["a", "b", "c"] {
        let u = rt
            .block_on(store.upsert_oidc_user(
                "https://idp.example",
                name,
                Some(format!("{name}@example.com")),
                true,
                Some(name.to_uppercase()),
                1000,
            ))
            .unwrap();
        ids.push(u.id);
    }
    let [a, b, c] = ids.try_into().unwrap();
    World {
        _dir: dir,
        path,
        store,
        rt,
        a,
        b,
        c,
    }
}

fn draft(ws: Option<&str>, actor: &str, action: &str, category: Category, at: i64) -> AuditDraft {
    AuditDraft {
        workspace_id: ws.map(str::to_string),
        actor: Actor {
            kind: ActorKind::User,
            id: actor.to_string(),
            display: format!("{actor}@example.com"),
        },
        action: action.to_string(),
        target: None,
        result: AuditResult::Success,
        source_ip: Some("192.0.2.1".into()),
        request_id: Some(format!("req-{at}")),
        operation: Operation::Write,
        category,
        metadata: BTreeMap::from([("name".to_string(), "x".to_string())]),
        at,
    }
}

fn wd(ws: &str, at: i64) -> AuditDraft {
    draft(Some(ws), "usr_test", "test.write", Category::Membership, at)
}

impl World {
    fn workspace(&self, name: &str, owner: &str) -> String {
        // The id is not known before: the store files the record in the new chain.
        let audit = draft(None, owner, "workspace.create", Category::Workspace, 1);
        self.rt
            .block_on(self.store.create_workspace(name, owner, 5, audit))
            .unwrap()
            .id
    }

    fn chain_len(&self, ws: Option<&str>) -> usize {
        self.store
            .audit_records(ws, AuditFilter::default())
            .unwrap()
            .len()
    }
}

// ---- migration -------------------------------------------------------------------------------

#[test]
fn schema_1_fixture_migrates_to_current_with_a_user_per_local_account() {
    let fixture = fixture(1);
    let before = sha(&fixture);
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("acorn.redb");
    std::fs::copy(&fixture, &path).unwrap();

    // An old file (an old backup) still verifies as what it is.
    let report = verify_file(&path).unwrap();
    assert_eq!(report.schema_version, 1);
    assert_eq!(report.tables.len(), 5);
    assert!(report.audit_chains.is_empty());

    let store = Store::open(&path, opts()).unwrap();
    assert_eq!(store.schema_version(), SCHEMA_VERSION);
    let (user, account) = store.local_login("admin").unwrap().unwrap();
    assert_eq!(account.user_id.as_deref(), Some(user.id.as_str()));
    assert!(
        user.id.starts_with("usr_") && user.id.len() == 20,
        "{}",
        user.id
    );
    assert_eq!(
        (user.issuer.as_str(), user.subject.as_str()),
        (LOCAL_ISSUER, "admin")
    );
    assert!(user.appliance_admin);
    assert_eq!(user.created_at, 1_700_000_100);
    assert_eq!(store.user(&user.id).unwrap(), Some(user.clone()));
    // Data of schema 1 is intact.
    assert!(account.administrator);
    assert!(account.password_hash.starts_with("$argon2id$"));
    assert_eq!(store.administrator_count().unwrap(), 1);
    assert!(store.tls_ca().unwrap().unwrap().cert_pem.contains("CA"));
    assert_eq!(
        store.tls_leaf().unwrap().unwrap().sans,
        ["acorn.local", "127.0.0.1"]
    );
    let events = store.system_events(None, 10).unwrap();
    assert_eq!(events.len(), 1);
    assert_eq!(events[0].message, "schema-1 fixture");
    drop(store);

    // Reopening migrates nothing again: same user.
    let store = Store::open(&path, opts()).unwrap();
    assert_eq!(store.local_login("admin").unwrap().unwrap().0, user);
    drop(store);
    let report = verify_file(&path).unwrap();
    assert_eq!(report.schema_version, SCHEMA_VERSION);
    assert_eq!(
        report.tables.iter().find(|(n, _)| n == "users").unwrap().1,
        1
    );
    assert_eq!(
        sha(&fixture),
        before,
        "the fixture itself is never modified"
    );

    // A store from a newer Acorn is still refused, unchanged.
    {
        let db = redb::Database::open(&path).unwrap();
        let txn = db.begin_write().unwrap();
        txn.open_table(schema::META)
            .unwrap()
            .insert(b"schema_version".as_slice(), b"99".as_slice())
            .unwrap();
        txn.commit().unwrap();
    }
    let bytes = std::fs::read(&path).unwrap();
    assert!(matches!(
        Store::open(&path, opts()),
        Err(StoreError::NewerSchema {
            found: 99,
            supported: SCHEMA_VERSION,
            ..
        })
    ));
    assert_eq!(std::fs::read(&path).unwrap(), bytes);
}

#[test]
fn setup_and_recover_links_give_local_accounts_a_user() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(&dir.path().join("s.redb"), opts()).unwrap();
    let rt = rt();
    let token = |n: u8, purpose| OneTimeToken {
        token_hash: [n; 32],
        purpose,
        expires_at: 500,
        created_at: 0,
    };
    rt.block_on(async {
        store
            .issue_one_time_token(token(1, OneTimePurpose::Setup))
            .await
            .unwrap();
        store
            .redeem_one_time_token([1; 32], 10, Some("root".into()), "h".into())
            .await
            .unwrap();
        let (user, _) = store.local_login("root").unwrap().unwrap();
        assert!(user.appliance_admin);
        // Recover keeps the same user.
        store
            .issue_one_time_token(token(
                2,
                OneTimePurpose::Recover {
                    username: "root".into(),
                },
            ))
            .await
            .unwrap();
        store
            .redeem_one_time_token([2; 32], 11, None, "h2".into())
            .await
            .unwrap();
        let (again, account) = store.local_login("root").unwrap().unwrap();
        assert_eq!(again.id, user.id);
        assert_eq!(account.password_hash, "h2");
    });
    assert_eq!(store.local_login("nobody").unwrap(), None);
}

// ---- users and sessions ------------------------------------------------------------------------

#[test]
fn oidc_users_are_keyed_by_issuer_and_subject() {
    let w = world();
    let again =
        w.rt.block_on(w.store.upsert_oidc_user(
            "https://idp.example",
            "a",
            Some("new@example.com".into()),
            false,
            None,
            2000,
        ))
        .unwrap();
    assert_eq!(again.id, w.a);
    assert_eq!(again.email.as_deref(), Some("new@example.com"));
    assert!(!again.email_verified);
    assert_eq!(again.created_at, 1000);
    assert_eq!(again.last_login_at, Some(2000));
    let other = w
        .rt
        .block_on(
            w.store
                .upsert_oidc_user("https://other.example", "a", None, false, None, 2000),
        )
        .unwrap();
    assert_ne!(other.id, w.a);
    assert!(matches!(
        w.rt.block_on(
            w.store
                .upsert_oidc_user(LOCAL_ISSUER, "admin", None, true, None, 1)
        ),
        Err(StoreError::Conflict { .. })
    ));
    w.rt.block_on(w.store.record_login(&w.b, 3000)).unwrap();
    assert_eq!(
        w.store.user(&w.b).unwrap().unwrap().last_login_at,
        Some(3000)
    );
    assert!(matches!(
        w.rt.block_on(w.store.record_login("usr_nope", 1)),
        Err(StoreError::NotFound { .. })
    ));
    let admin =
        w.rt.block_on(w.store.set_appliance_admin(&w.c, true))
            .unwrap();
    assert!(admin.appliance_admin);
    assert_eq!(w.store.user(&w.c).unwrap(), Some(admin));
    assert!(matches!(
        w.rt.block_on(w.store.set_appliance_admin("usr_nope", true)),
        Err(StoreError::NotFound { .. })
    ));
}

fn session(user: &str, at: i64) -> Session {
    Session {
        user_id: user.to_string(),
        created_at: at,
        last_seen_at: at,
        expires_at: at + 7 * 86400,
        csrf_token: "csrf".into(),
        source_ip: None,
        user_agent: Some("test".into()),
    }
}

#[test]
fn sessions_touch_throttle_list_delete_and_prune() {
    let w = world();
    let (s, rt) = (&w.store, &w.rt);
    rt.block_on(async {
        s.create_session([1; 32], session(&w.a, 100)).await.unwrap();
        s.create_session([2; 32], session(&w.a, 100)).await.unwrap();
        s.create_session([3; 32], session(&w.b, 100)).await.unwrap();
        // Younger than 60 s: no write.
        s.touch_session([1; 32], 159).await.unwrap();
        assert_eq!(s.session([1; 32]).unwrap().unwrap().last_seen_at, 100);
        s.touch_session([1; 32], 160).await.unwrap();
        assert_eq!(s.session([1; 32]).unwrap().unwrap().last_seen_at, 160);
        s.touch_session([9; 32], 1000).await.unwrap();
        assert_eq!(s.session([9; 32]).unwrap(), None);

        let mut mine: Vec<_> = s
            .sessions_of_user(&w.a)
            .unwrap()
            .into_iter()
            .map(|(k, _)| k)
            .collect();
        mine.sort();
        assert_eq!(mine, [[1; 32], [2; 32]]);
        assert!(s.delete_session([2; 32]).await.unwrap());
        assert!(!s.delete_session([2; 32]).await.unwrap());

        // Idle 24 h: [3] (last seen 100) goes, [1] (last seen 160) stays at now = 100 + 86400.
        assert_eq!(s.prune_expired_sessions(86_500, 86_400).await.unwrap(), 1);
        assert!(s.session([1; 32]).unwrap().is_some());
        // Absolute expiry.
        assert_eq!(
            s.prune_expired_sessions(100 + 7 * 86400, i64::MAX)
                .await
                .unwrap(),
            1
        );
        s.create_session([4; 32], session(&w.c, 100)).await.unwrap();
        s.create_session([5; 32], session(&w.c, 100)).await.unwrap();
        assert_eq!(s.delete_sessions_of_user(&w.c).await.unwrap(), 2);
        assert!(s.sessions_of_user(&w.c).unwrap().is_empty());
    });
}

// ---- workspaces and memberships ----------------------------------------------------------------

#[test]
fn workspace_lifecycle_is_audited_in_the_same_transaction() {
    let w = world();
    let (s, rt) = (&w.store, &w.rt);
    let ws = w.workspace("prod", &w.a);
    assert!(ws.starts_with("ws_") && ws.len() == 19, "{ws}");
    assert_eq!(s.membership(&ws, &w.a).unwrap().unwrap().role, Role::Owner);
    let mine = s.workspaces_of_user(&w.a).unwrap();
    assert_eq!(mine.len(), 1);
    assert_eq!((mine[0].0.name.as_str(), mine[0].1), ("prod", Role::Owner));
    assert!(s.workspaces_of_user(&w.b).unwrap().is_empty());
    assert_eq!(w.chain_len(None), 0);
    let created = s.audit_records(Some(&ws), AuditFilter::default()).unwrap();
    assert_eq!(created.len(), 1);
    assert_eq!(created[0].draft.action, "workspace.create");
    assert_eq!(created[0].draft.target.as_deref(), Some(ws.as_str()));

    rt.block_on(async {
        let renamed = s
            .rename_workspace(&ws, "production", wd(&ws, 10))
            .await
            .unwrap();
        assert_eq!(renamed.name, "production");
        assert!(
            s.set_logs_allowed(&ws, true, wd(&ws, 11))
                .await
                .unwrap()
                .logs_allowed
        );
        s.set_member_role(&ws, &w.b, Role::Viewer, wd(&ws, 12))
            .await
            .unwrap();
        assert!(matches!(
            s.rename_workspace("ws_nope", "x", wd("ws_nope", 13)).await,
            Err(StoreError::NotFound { .. })
        ));
        assert!(matches!(
            s.create_workspace("x", "usr_nope", 1, wd(&ws, 14)).await,
            Err(StoreError::NotFound { .. })
        ));
    });
    // Refusals wrote no record.
    assert_eq!(w.chain_len(Some(&ws)), 4);
    assert_eq!(w.chain_len(Some("ws_nope")), 0);
    let members = s.members(&ws).unwrap();
    assert_eq!(members.len(), 2);
    assert!(
        members
            .iter()
            .any(|(m, u)| m.role == Role::Viewer && u.id == w.b)
    );

    // Invitations and tokens go with the workspace; its audit chain stays.
    rt.block_on(async {
        s.create_invitation(invitation(&ws, "inv_1", 1000), [7; 32], wd(&ws, 15))
            .await
            .unwrap();
        s.create_api_token(
            api_token(&ws, "tok_1", &w.b, Role::Viewer),
            [8; 32],
            wd(&ws, 16),
        )
        .await
        .unwrap();
        s.delete_workspace(&ws, wd(&ws, 17)).await.unwrap();
    });
    assert_eq!(s.workspace(&ws).unwrap(), None);
    assert!(s.members(&ws).unwrap().is_empty());
    assert!(s.workspaces_of_user(&w.a).unwrap().is_empty());
    assert_eq!(s.invitation_by_token([7; 32]).unwrap(), None);
    assert!(s.invitations(&ws).unwrap().is_empty());
    assert_eq!(s.api_token([8; 32]).unwrap(), None);
    assert_eq!(w.chain_len(Some(&ws)), 7);
    let report = s.verify_audit_chain(Some(&ws)).unwrap();
    assert_eq!((report.records, report.first_broken_seq), (7, None));
    drop(w.rt);
    drop(w.store);
    let report = verify_file(&w.path).unwrap();
    for table in [
        "memberships",
        "user_workspaces",
        "invitations",
        "api_tokens",
    ] {
        assert_eq!(
            report.tables.iter().find(|(n, _)| n == table).unwrap().1,
            0,
            "{table}"
        );
    }
    assert_eq!(report.audit_chains, [(ws, 7)]);
}

/// One scenario of the last-owner guard: members before, the change, the expected outcome.
struct OwnerCase {
    name: &'static str,
    members: &'static [(&'static str, Role)],
    change: (&'static str, Option<Role>),
    refused: bool,
}

#[test]
fn last_owner_guard_scenarios() {
    use Role::*;
    let cases = [
        OwnerCase {
            name: "demote the only owner",
            members: &[("a", Owner), ("b", Admin)],
            change: ("a", Some(Admin)),
            refused: true,
        },
        OwnerCase {
            name: "remove the only owner",
            members: &[("a", Owner), ("b", Admin)],
            change: ("a", None),
            refused: true,
        },
        OwnerCase {
            name: "owner to owner is fine",
            members: &[("a", Owner)],
            change: ("a", Some(Owner)),
            refused: false,
        },
        OwnerCase {
            name: "demote one of two owners",
            members: &[("a", Owner), ("b", Owner)],
            change: ("a", Some(Viewer)),
            refused: false,
        },
        OwnerCase {
            name: "remove one of two owners",
            members: &[("a", Owner), ("b", Owner)],
            change: ("b", None),
            refused: false,
        },
        OwnerCase {
            name: "remove a non-owner",
            members: &[("a", Owner), ("b", Auditor)],
            change: ("b", None),
            refused: false,
        },
        OwnerCase {
            name: "add a new member",
            members: &[("a", Owner)],
            change: ("c", Some(Operator)),
            refused: false,
        },
    ];
    for case in cases {
        let w = world();
        let id = |n: &str| match n {
            "a" => w.a.clone(),
            "b" => w.b.clone(),
            _ => w.c.clone(),
        };
        let ws = w.workspace("ws", &w.a);
        for (who, role) in case.members {
            w.rt.block_on(w.store.set_member_role(&ws, &id(who), *role, wd(&ws, 1)))
                .unwrap();
        }
        let records = w.chain_len(Some(&ws));
        let (who, role) = case.change;
        let result = w.rt.block_on(async {
            match role {
                Some(role) => w
                    .store
                    .set_member_role(&ws, &id(who), role, wd(&ws, 2))
                    .await
                    .map(drop),
                None => w.store.remove_member(&ws, &id(who), wd(&ws, 2)).await,
            }
        });
        if case.refused {
            assert!(
                matches!(result, Err(StoreError::LastOwner)),
                "{}",
                case.name
            );
            assert_eq!(w.chain_len(Some(&ws)), records, "{}", case.name);
        } else {
            result.unwrap_or_else(|e| panic!("{}: {e}", case.name));
            assert_eq!(w.chain_len(Some(&ws)), records + 1, "{}", case.name);
        }
        let owners = w
            .store
            .members(&ws)
            .unwrap()
            .iter()
            .filter(|(m, _)| m.role == Owner)
            .count();
        assert!(owners >= 1, "{}", case.name);
    }
}

#[test]
fn concurrent_demotions_never_leave_a_workspace_without_an_owner() {
    let w = world();
    let ws = w.workspace("race", &w.a);
    for round in 0..20 {
        // Both a and b owners again, then many concurrent demotions/removals of both.
        for u in [&w.a, &w.b] {
            w.rt.block_on(w.store.set_member_role(&ws, u, Role::Owner, wd(&ws, round)))
                .unwrap();
        }
        let results: Vec<Result<(), StoreError>> = w.rt.block_on(async {
            let mut tasks = Vec::new();
            for i in 0..32 {
                let store = w.store.clone();
                let (ws, user) = (
                    ws.clone(),
                    if i % 2 == 0 { w.a.clone() } else { w.b.clone() },
                );
                tasks.push(tokio::spawn(async move {
                    if i % 4 < 2 {
                        store
                            .set_member_role(&ws, &user, Role::Admin, wd(&ws, 1))
                            .await
                            .map(drop)
                    } else {
                        store.remove_member(&ws, &user, wd(&ws, 1)).await
                    }
                }));
            }
            let mut out = Vec::new();
            for t in tasks {
                out.push(t.await.unwrap());
            }
            out
        });
        let owners: Vec<_> = w
            .store
            .members(&ws)
            .unwrap()
            .into_iter()
            .filter(|(m, _)| m.role == Role::Owner)
            .collect();
        assert_eq!(owners.len(), 1, "round {round}");
        assert!(
            results
                .iter()
                .any(|r| matches!(r, Err(StoreError::LastOwner))),
            "round {round}"
        );
        for r in &results {
            assert!(
                matches!(
                    r,
                    Ok(()) | Err(StoreError::LastOwner | StoreError::NotFound { .. })
                ),
                "{r:?}"
            );
        }
    }
    // Re-add b for the next checks; a or b is the owner.
    assert!(
        w.store
            .verify_audit_chain(Some(&ws))
            .unwrap()
            .first_broken_seq
            .is_none()
    );
}

// ---- invitations -----------------------------------------------------------------------------

fn invitation(ws: &str, id: &str, expires_at: i64) -> Invitation {
    Invitation {
        id: id.to_string(),
        workspace_id: ws.to_string(),
        email: "new@example.com".into(),
        role: Role::Operator,
        created_by: "usr_x".into(),
        created_at: 1,
        expires_at,
        accepted_by: None,
        revoked: false,
    }
}

#[test]
fn invitation_lifecycle() {
    let w = world();
    let (s, rt) = (&w.store, &w.rt);
    let ws = w.workspace("inv", &w.a);
    let other = w.workspace("other", &w.c);
    rt.block_on(async {
        s.create_invitation(invitation(&ws, "inv_1", 100), [1; 32], wd(&ws, 1))
            .await
            .unwrap();
        s.create_invitation(invitation(&ws, "inv_2", 100), [2; 32], wd(&ws, 1))
            .await
            .unwrap();
        s.create_invitation(invitation(&ws, "inv_3", 100), [3; 32], wd(&ws, 1))
            .await
            .unwrap();
        assert!(matches!(
            s.create_invitation(invitation(&ws, "inv_1", 100), [4; 32], wd(&ws, 1))
                .await,
            Err(StoreError::Conflict { .. })
        ));
        assert!(matches!(
            s.create_invitation(invitation("ws_nope", "inv_9", 100), [9; 32], wd(&ws, 1))
                .await,
            Err(StoreError::NotFound { .. })
        ));
        assert_eq!(s.invitations(&ws).unwrap().len(), 3);
        assert_eq!(s.invitation_by_token([1; 32]).unwrap().unwrap().id, "inv_1");

        let before = w.chain_len(Some(&ws));
        let m = s
            .accept_invitation([1; 32], &w.b, 50, wd(&ws, 2))
            .await
            .unwrap();
        assert_eq!((m.role, m.created_at), (Role::Operator, 50));
        assert_eq!(s.membership(&ws, &w.b).unwrap(), Some(m));
        assert_eq!(
            s.invitation_by_token([1; 32]).unwrap().unwrap().accepted_by,
            Some(w.b.clone())
        );
        assert_eq!(w.chain_len(Some(&ws)), before + 1);

        // Every refusal below writes nothing.
        let before = w.chain_len(Some(&ws));
        let refusals: Vec<(&str, Result<Membership, StoreError>)> = vec![
            (
                "used",
                s.accept_invitation([1; 32], &w.c, 50, wd(&ws, 3)).await,
            ),
            (
                "expired",
                s.accept_invitation([2; 32], &w.c, 100, wd(&ws, 3)).await,
            ),
            (
                "unknown",
                s.accept_invitation([9; 32], &w.c, 50, wd(&ws, 3)).await,
            ),
            (
                "already member",
                s.accept_invitation([3; 32], &w.a, 50, wd(&ws, 3)).await,
            ),
        ];
        for (name, r) in &refusals {
            let ok = match *name {
                "used" => matches!(r, Err(StoreError::InvitationUsed)),
                "expired" => matches!(r, Err(StoreError::InvitationExpired)),
                "unknown" => matches!(r, Err(StoreError::NotFound { .. })),
                _ => matches!(r, Err(StoreError::AlreadyMember)),
            };
            assert!(ok, "{name}: {r:?}");
        }
        assert_eq!(w.chain_len(Some(&ws)), before);
        assert_eq!(s.membership(&ws, &w.a).unwrap().unwrap().role, Role::Owner);
        assert_eq!(s.membership(&ws, &w.c).unwrap(), None);

        // Revoke: then it cannot be accepted; an accepted one cannot be revoked.
        assert!(
            s.revoke_invitation(&ws, "inv_3", wd(&ws, 4))
                .await
                .unwrap()
                .revoked
        );
        assert!(matches!(
            s.accept_invitation([3; 32], &w.c, 50, wd(&ws, 5)).await,
            Err(StoreError::InvitationUsed)
        ));
        assert!(matches!(
            s.revoke_invitation(&ws, "inv_1", wd(&ws, 5)).await,
            Err(StoreError::InvitationUsed)
        ));
        // Ids of another workspace look like unknown ones.
        assert!(matches!(
            s.revoke_invitation(&other, "inv_2", wd(&other, 5)).await,
            Err(StoreError::NotFound { .. })
        ));
    });
}

// ---- API tokens and user deletion --------------------------------------------------------------

fn api_token(ws: &str, id: &str, user: &str, role: Role) -> ApiToken {
    ApiToken {
        id: id.to_string(),
        workspace_id: ws.to_string(),
        user_id: user.to_string(),
        name: "ci".into(),
        role,
        created_at: 1,
        expires_at: None,
        last_used_at: None,
        revoked_at: None,
    }
}

#[test]
fn api_tokens_and_user_deletion() {
    let w = world();
    let (s, rt) = (&w.store, &w.rt);
    let ws = w.workspace("tok", &w.a);
    rt.block_on(async {
        assert!(matches!(
            s.create_api_token(
                api_token(&ws, "tok_b", &w.b, Role::Viewer),
                [1; 32],
                wd(&ws, 1)
            )
            .await,
            Err(StoreError::NotFound { .. })
        ));
        s.set_member_role(&ws, &w.b, Role::Admin, wd(&ws, 1))
            .await
            .unwrap();
        s.create_api_token(
            api_token(&ws, "tok_b", &w.b, Role::Viewer),
            [1; 32],
            wd(&ws, 1),
        )
        .await
        .unwrap();
        s.create_api_token(
            api_token(&ws, "tok_a", &w.a, Role::Admin),
            [2; 32],
            wd(&ws, 1),
        )
        .await
        .unwrap();
        assert!(matches!(
            s.create_api_token(
                api_token(&ws, "tok_x", &w.a, Role::Admin),
                [2; 32],
                wd(&ws, 1)
            )
            .await,
            Err(StoreError::Conflict { .. })
        ));
        assert_eq!(s.api_tokens(&ws).unwrap().len(), 2);
        assert_eq!(s.api_token([1; 32]).unwrap().unwrap().id, "tok_b");

        s.touch_api_token([1; 32], 1000).await.unwrap();
        s.touch_api_token([1; 32], 1059).await.unwrap();
        assert_eq!(
            s.api_token([1; 32]).unwrap().unwrap().last_used_at,
            Some(1000)
        );
        s.touch_api_token([1; 32], 1060).await.unwrap();
        assert_eq!(
            s.api_token([1; 32]).unwrap().unwrap().last_used_at,
            Some(1060)
        );

        let revoked = s.revoke_api_token(&ws, "tok_a", wd(&ws, 77)).await.unwrap();
        assert_eq!(revoked.revoked_at, Some(77));
        assert!(matches!(
            s.revoke_api_token(&ws, "tok_nope", wd(&ws, 78)).await,
            Err(StoreError::NotFound { .. })
        ));

        // Removing a member revokes its tokens there.
        s.remove_member(&ws, &w.b, wd(&ws, 80)).await.unwrap();
        assert_eq!(s.api_token([1; 32]).unwrap().unwrap().revoked_at, Some(80));

        // Deleting the last owner is refused; deleting a plain member cleans up.
        s.create_session([5; 32], session(&w.a, 1)).await.unwrap();
        let before = w.chain_len(None);
        assert!(matches!(
            s.delete_user(
                &w.a,
                draft(None, "admin", "user.delete", Category::Auth, 90)
            )
            .await,
            Err(StoreError::LastOwner)
        ));
        assert_eq!(w.chain_len(None), before);
        assert!(s.session([5; 32]).unwrap().is_some());

        s.set_member_role(&ws, &w.c, Role::Owner, wd(&ws, 91))
            .await
            .unwrap();
        s.create_api_token(
            api_token(&ws, "tok_a2", &w.a, Role::Owner),
            [3; 32],
            wd(&ws, 91),
        )
        .await
        .unwrap();
        s.delete_user(
            &w.a,
            draft(None, "admin", "user.delete", Category::Auth, 92),
        )
        .await
        .unwrap();
        assert_eq!(s.user(&w.a).unwrap(), None);
        assert_eq!(s.session([5; 32]).unwrap(), None);
        assert_eq!(s.membership(&ws, &w.a).unwrap(), None);
        assert_eq!(s.api_token([3; 32]).unwrap().unwrap().revoked_at, Some(92));
        assert_eq!(w.chain_len(None), before + 1);
        // The same identity signing in again is a new user.
        let back = s
            .upsert_oidc_user("https://idp.example", "a", None, false, None, 100)
            .await
            .unwrap();
        assert_ne!(back.id, w.a);
    });
}

#[test]
fn the_last_local_administrator_cannot_be_deleted() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("acorn.redb");
    std::fs::copy(fixture(1), &path).unwrap();
    let store = Store::open(&path, opts()).unwrap();
    let (admin, _) = store.local_login("admin").unwrap().unwrap();
    let r = rt().block_on(store.delete_user(
        &admin.id,
        draft(None, &admin.id, "user.delete", Category::Auth, 1),
    ));
    assert!(matches!(r, Err(StoreError::Conflict { .. })), "{r:?}");
    assert_eq!(store.administrator_count().unwrap(), 1);
}

// ---- audit -----------------------------------------------------------------------------------

#[test]
fn secret_metadata_keys_are_refused_and_nothing_is_written() {
    let w = world();
    let ws = w.workspace("meta", &w.a);
    let cases = [
        ("password", true),
        ("new_password", true),
        ("Authorization", true),
        ("session-cookie", true),
        ("client.secret", true),
        ("access_token", true),
        ("token", true),
        ("token_id", false),
        ("token_name", false),
        ("role", false),
        ("email", false),
    ];
    for (key, refused) in cases {
        let before = w.chain_len(Some(&ws));
        let mut d = wd(&ws, 1);
        d.metadata.insert(key.to_string(), "value".into());
        let appended = w.rt.block_on(w.store.append_audit(d.clone()));
        let renamed = w.rt.block_on(w.store.rename_workspace(&ws, key, d));
        if refused {
            assert!(
                matches!(appended, Err(StoreError::Conflict { .. })),
                "{key}"
            );
            assert!(matches!(renamed, Err(StoreError::Conflict { .. })), "{key}");
            assert_eq!(w.chain_len(Some(&ws)), before, "{key}");
            assert_ne!(w.store.workspace(&ws).unwrap().unwrap().name, key);
        } else {
            appended.unwrap();
            renamed.unwrap();
            assert_eq!(w.chain_len(Some(&ws)), before + 2, "{key}");
        }
    }
}

#[test]
fn audit_records_filter_and_paginate_per_chain() {
    let w = world();
    let (s, rt) = (&w.store, &w.rt);
    let ws = w.workspace("q", &w.a);
    rt.block_on(async {
        for i in 0..30i64 {
            let (actor, cat) = if i % 3 == 0 {
                ("alice", Category::Cluster)
            } else {
                ("bob", Category::Run)
            };
            let r = s
                .append_audit(draft(Some(&ws), actor, "x", cat, 100 + i))
                .await
                .unwrap();
            // seq 1 is the workspace's creation.
            assert_eq!(r.seq, i as u64 + 2);
        }
        s.append_audit(draft(None, "alice", "signin", Category::Auth, 1))
            .await
            .unwrap();
    });
    let q = |f: AuditFilter| -> Vec<u64> {
        s.audit_records(Some(&ws), f)
            .unwrap()
            .iter()
            .map(|r| r.seq)
            .collect()
    };
    assert_eq!(q(AuditFilter::default()).len(), 31);
    let alice = q(AuditFilter {
        actor_id: Some("alice".into()),
        ..Default::default()
    });
    assert_eq!(alice, (0..10).map(|i| i * 3 + 2).collect::<Vec<_>>());
    let runs = q(AuditFilter {
        category: Some(Category::Run),
        since: Some(110),
        until: Some(115),
        ..Default::default()
    });
    assert_eq!(runs, [12, 13, 15, 16]);
    // Cursor pagination.
    let mut pages = Vec::new();
    let mut cursor = None;
    loop {
        let page = q(AuditFilter {
            after_seq: cursor,
            limit: 7,
            ..Default::default()
        });
        let Some(last) = page.last().copied() else {
            break;
        };
        cursor = Some(last);
        pages.push(page);
    }
    assert_eq!(pages.len(), 5);
    assert_eq!(pages.concat(), (1..=31).collect::<Vec<_>>());
    // The appliance chain is separate.
    let appliance = s.audit_records(None, AuditFilter::default()).unwrap();
    assert_eq!(appliance.len(), 1);
    assert!(appliance.iter().all(|r| r.draft.workspace_id.is_none()));
    // Records link.
    let all = s.audit_records(Some(&ws), AuditFilter::default()).unwrap();
    assert_eq!(all[0].prev_hash, "0".repeat(64));
    for pair in all.windows(2) {
        assert_eq!(pair[1].prev_hash, pair[0].hash);
    }
}

/// Rewrites the JSON of record `seq` of `chain` in a closed store file.
fn tamper(path: &Path, chain: &str, seq: u64, edit: impl Fn(&mut serde_json::Value)) {
    let db = redb::Database::open(path).unwrap();
    let txn = db.begin_write().unwrap();
    {
        let mut table = txn.open_table(AUDIT).unwrap();
        let mut key = chain.as_bytes().to_vec();
        key.push(0);
        key.extend_from_slice(&seq.to_be_bytes());
        let mut value: serde_json::Value =
            serde_json::from_slice(table.get(key.as_slice()).unwrap().unwrap().value()).unwrap();
        edit(&mut value);
        table
            .insert(
                key.as_slice(),
                serde_json::to_vec(&value).unwrap().as_slice(),
            )
            .unwrap();
    }
    txn.commit().unwrap();
}

fn chain_with_records(n: i64) -> (World, String) {
    let w = world();
    let ws = w.workspace("t", &w.a);
    for i in 0..n {
        w.rt.block_on(w.store.append_audit(wd(&ws, 10 + i)))
            .unwrap();
    }
    (w, ws)
}

#[test]
fn an_altered_audit_record_is_reported_at_its_seq() {
    type Edit = fn(&mut serde_json::Value);
    let edits: [(&str, Edit); 4] = [
        ("changed result", |v| v["result"] = "denied".into()),
        ("changed metadata", |v| v["metadata"]["name"] = "y".into()),
        ("recomputed-looking hash", |v| {
            v["hash"] = "0".repeat(64).into()
        }),
        ("changed time", |v| v["at"] = 1.into()),
    ];
    for (name, edit) in edits {
        let (w, ws) = chain_with_records(8);
        let path = w.path.clone();
        let dir = w._dir;
        drop(w.store);
        tamper(&path, &ws, 5, edit);
        let err = verify_file(&path).unwrap_err();
        match &err {
            StoreError::AuditChainBroken { chain, seq, .. } => {
                assert_eq!((chain.as_str(), *seq), (ws.as_str(), 5), "{name}")
            }
            other => panic!("{name}: {other}"),
        }
        assert!(err.to_string().contains("seq 5"), "{err}");
        let store = Store::open(&path, opts()).unwrap();
        let report = store.verify_audit_chain(Some(&ws)).unwrap();
        assert_eq!(report.first_broken_seq, Some(5), "{name}");
        assert_eq!(report.records, 5);
        assert!(report.reason.is_some());
        // Other chains are unaffected.
        assert_eq!(
            store.verify_audit_chain(None).unwrap().first_broken_seq,
            None
        );
        drop(store);
        drop(dir);
    }
}

#[test]
fn the_test_support_tamper_helper_breaks_the_chain_at_its_seq() {
    let (w, ws) = chain_with_records(4);
    let path = w.path.clone();
    drop(w.store);
    crate::testing::tamper_audit_record(&path, &ws, 3).unwrap();
    assert!(matches!(
        crate::testing::tamper_audit_record(&path, &ws, 99),
        Err(StoreError::NotFound { .. })
    ));
    assert!(matches!(
        verify_file(&path),
        Err(StoreError::AuditChainBroken { seq: 3, .. })
    ));
}

#[test]
fn a_removed_audit_record_is_reported() {
    let (w, ws) = chain_with_records(6);
    let path = w.path.clone();
    drop(w.store);
    {
        let db = redb::Database::open(&path).unwrap();
        let txn = db.begin_write().unwrap();
        let mut key = ws.as_bytes().to_vec();
        key.push(0);
        key.extend_from_slice(&3u64.to_be_bytes());
        txn.open_table(AUDIT)
            .unwrap()
            .remove(key.as_slice())
            .unwrap();
        txn.commit().unwrap();
    }
    assert!(matches!(
        verify_file(&path),
        Err(StoreError::AuditChainBroken { seq: 4, .. })
    ));
}

#[test]
fn pruning_keeps_an_anchor_and_the_chain_verifies() {
    let (w, ws) = chain_with_records(10); // creation at 1, then at = 10..=19
    let (s, rt) = (&w.store, &w.rt);
    let signin = rt
        .block_on(s.append_audit(draft(None, "x", "signin", Category::Auth, 2)))
        .unwrap();
    assert_eq!(signin.seq, 1);
    // Creation, five records and the sign-in are older than 15.
    assert_eq!(rt.block_on(s.prune_audit(15)).unwrap(), 1 + 5 + 1);
    let left = s.audit_records(Some(&ws), AuditFilter::default()).unwrap();
    assert_eq!(left.first().unwrap().seq, 7);
    let report = s.verify_audit_chain(Some(&ws)).unwrap();
    assert_eq!((report.records, report.first_broken_seq), (5, None));
    // Appending continues the chain after the anchor, also for a fully pruned chain.
    let next = rt.block_on(s.append_audit(wd(&ws, 30))).unwrap();
    assert_eq!(next.seq, 12);
    let first = rt
        .block_on(s.append_audit(draft(None, "x", "signin", Category::Auth, 31)))
        .unwrap();
    assert_eq!(first.seq, 2);
    assert_eq!(first.prev_hash, signin.hash);
    assert_eq!(s.verify_audit_chain(None).unwrap().first_broken_seq, None);
    assert_eq!(rt.block_on(s.prune_audit(0)).unwrap(), 0);
    drop(w.rt);
    drop(w.store);
    let report = verify_file(&w.path).unwrap();
    assert_eq!(
        report.audit_chains,
        [(APPLIANCE_CHAIN.to_string(), 1), (ws, 6)]
    );
    let anchors = report
        .tables
        .iter()
        .find(|(n, _)| n == "audit_anchors")
        .unwrap();
    assert_eq!(anchors.1, 2);
}

#[test]
fn backups_carry_identity_and_audit() {
    let (w, ws) = chain_with_records(3);
    let dest = w.path.with_file_name("backup.redb");
    w.store.backup_to(&dest).unwrap();
    let report = verify_backup(&dest).unwrap();
    assert_eq!(report.audit_chains, [(ws.clone(), 4)]);
    let users = report.tables.iter().find(|(n, _)| n == "users").unwrap().1;
    assert_eq!(users, 3);
    // The records are plain redb rows: make sure the table iterates in chain order.
    let db = redb::Database::open(&dest).unwrap();
    let txn = redb::ReadableDatabase::begin_read(&db).unwrap();
    let table = txn.open_table(AUDIT).unwrap();
    assert_eq!(table.len().unwrap(), 4);
}
