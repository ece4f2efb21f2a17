//! Tests of the gateway records: budgets reserve and settle under concurrency, secrets and
//! their re-wrapping are one transaction, request log pages, verify knows the new tables.

use std::sync::Arc;

use crate::gateway::{BudgetRefusal, GatewayRequestFilter, GatewayRequestRecord, SecretRecord};
use crate::{Store, StoreOptions, verify_file};

fn rt() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap()
}

fn secret(scope: &str, name: &str) -> SecretRecord {
    SecretRecord {
        scope: scope.into(),
        name: name.into(),
        kek_id: "kek_a".into(),
        wrapped_dek: "w".into(),
        dek_nonce: "n".into(),
        ciphertext: "c".into(),
        nonce: "n".into(),
        fingerprint: "sha256:00000000".into(),
        created_at: 1,
        updated_at: 1,
    }
}

fn system_draft() -> crate::AuditDraft {
    crate::AuditDraft {
        workspace_id: None,
        actor: crate::Actor {
            kind: crate::ActorKind::System,
            id: "test".into(),
            display: "test".into(),
        },
        action: "secrets.kek_rotated".into(),
        target: None,
        result: crate::AuditResult::Success,
        source_ip: None,
        request_id: None,
        operation: crate::Operation::Write,
        category: crate::Category::Mcp,
        metadata: Default::default(),
        at: 1,
    }
}

#[test]
fn concurrent_reservations_never_overspend() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(&dir.path().join("acorn.redb"), StoreOptions::new("t")).unwrap();
    let rt = rt();
    let granted: Vec<_> = rt.block_on(async {
        let mut tasks = Vec::new();
        for _ in 0..20 {
            let store = store.clone();
            tasks.push(tokio::spawn(async move {
                store
                    .reserve_output_tokens("ws_1", "run_1", 100, Some(10), 4096, 1)
                    .await
                    .unwrap()
            }));
        }
        let mut out = Vec::new();
        for t in tasks {
            out.push(t.await.unwrap());
        }
        out
    });
    assert_eq!(granted.iter().filter(|g| g.is_ok()).count(), 10);
    assert!(granted.contains(&Err(BudgetRefusal::Exhausted { budget: 100 })));
    // Settling 10 reservations of 10 with 3 tokens used each gives 70 back.
    rt.block_on(async {
        for _ in 0..10 {
            store.settle_output_tokens("run_1", 10, 3, 2).await.unwrap();
        }
        assert_eq!(
            store
                .reserve_output_tokens("ws_1", "run_1", 100, Some(71), 4096, 3)
                .await
                .unwrap(),
            Err(BudgetRefusal::Exceeded {
                asked: 71,
                remaining: 70
            })
        );
        // Without max_tokens: what is left, capped.
        assert_eq!(
            store
                .reserve_output_tokens("ws_1", "run_1", 100, None, 50, 3)
                .await
                .unwrap(),
            Ok(50)
        );
        // A later token with a larger budget does not raise it.
        assert_eq!(
            store
                .reserve_output_tokens("ws_1", "run_1", 10_000, Some(21), 4096, 3)
                .await
                .unwrap(),
            Err(BudgetRefusal::Exceeded {
                asked: 21,
                remaining: 20
            })
        );
    });
}

#[test]
fn rewrap_is_all_or_nothing_and_verify_checks_the_tables() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("acorn.redb");
    let store = Store::open(&path, StoreOptions::new("t")).unwrap();
    let rt = rt();
    rt.block_on(async {
        store.put_secret(secret("ws_1", "a"), None).await.unwrap();
        store.put_secret(secret("ws_1", "b"), None).await.unwrap();
        let failing: crate::Rewrap = Arc::new(|r: &SecretRecord| {
            if r.name == "b" {
                Err("cannot".into())
            } else {
                Ok(SecretRecord {
                    kek_id: "kek_b".into(),
                    ..r.clone()
                })
            }
        });
        let draft = system_draft();
        assert!(
            store
                .rewrap_secrets(failing, None, draft.clone())
                .await
                .is_err()
        );
        assert!(
            store
                .all_secrets()
                .unwrap()
                .iter()
                .all(|s| s.kek_id == "kek_a")
        );
        let ok: crate::Rewrap = Arc::new(|r: &SecretRecord| {
            Ok(SecretRecord {
                kek_id: "kek_b".into(),
                ..r.clone()
            })
        });
        assert_eq!(store.rewrap_secrets(ok, None, draft).await.unwrap(), 2);
        assert!(
            store
                .all_secrets()
                .unwrap()
                .iter()
                .all(|s| s.kek_id == "kek_b")
        );
        for i in 0..3 {
            let seq = store
                .append_gateway_request(GatewayRequestRecord {
                    seq: 0,
                    workspace_id: "ws_1".into(),
                    request_id: format!("r{i}"),
                    kind: "chat".into(),
                    run: Some(if i == 1 { "run_b" } else { "run_a" }.into()),
                    session: None,
                    cluster: None,
                    provider: None,
                    model: None,
                    tools_offered: vec![],
                    tools_called: vec![],
                    input_tokens: 0,
                    output_tokens: 0,
                    usage_from_provider: false,
                    cost: 0.0,
                    latency_ms: 0,
                    ttft_ms: None,
                    status: "ok".into(),
                    error_code: None,
                    redactions: 0,
                    at: 1,
                })
                .await
                .unwrap();
            assert_eq!(seq, i + 1);
        }
    });
    let run_a = store
        .gateway_requests(
            "ws_1",
            &GatewayRequestFilter {
                run: Some("run_a".into()),
                limit: 10,
                ..Default::default()
            },
        )
        .unwrap();
    assert_eq!(run_a.iter().map(|r| r.seq).collect::<Vec<_>>(), vec![1, 3]);
    let page = store
        .gateway_requests(
            "ws_1",
            &GatewayRequestFilter {
                after_seq: Some(1),
                limit: 1,
                ..Default::default()
            },
        )
        .unwrap();
    assert_eq!(page[0].seq, 2);
    drop(store);
    let report = verify_file(&path).unwrap();
    assert!(report.tables.iter().any(|(n, c)| n == "secrets" && *c == 2));
}

#[test]
fn deleting_a_workspace_removes_its_gateway_records() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(&dir.path().join("acorn.redb"), StoreOptions::new("t")).unwrap();
    let rt = rt();
    rt.block_on(async {
        let user = store
            .upsert_oidc_user("https://idp.example", "sub-1", None, false, None, 1)
            .await
            .unwrap()
            .id;
        let mut draft = system_draft();
        draft.action = "workspace.create".into();
        let ws = store
            .create_workspace("w", &user, 1, draft.clone())
            .await
            .unwrap();
        store
            .put_secret(secret(&ws.id, "provider/x"), None)
            .await
            .unwrap();
        store
            .put_secret(secret("ws_other", "provider/x"), None)
            .await
            .unwrap();
        store
            .reserve_output_tokens(&ws.id, "run_1", 10, Some(1), 10, 1)
            .await
            .unwrap()
            .unwrap();
        draft.workspace_id = Some(ws.id.clone());
        draft.action = "workspace.delete".into();
        store.delete_workspace(&ws.id, draft).await.unwrap();
        assert!(store.secrets_of(&ws.id).unwrap().is_empty());
        assert_eq!(store.secrets_of("ws_other").unwrap().len(), 1);
        assert!(store.run_budget("run_1").unwrap().is_none());
    });
}
