//! Per-request identity cost: the reads every authenticated request makes (session by hash,
//! user, membership; API token by hash) in ns/op, against a store with `ACORN_BENCH_USERS`
//! users (default 2000), one session and one membership each; and audit appends/s with 16
//! concurrent writers (each append extends a hash chain in the group-committed transaction).

use std::collections::BTreeMap;
use std::time::Instant;

use acorn_store::{
    Actor, ActorKind, ApiToken, AuditDraft, AuditResult, Category, Operation, Role, Session, Store,
    StoreOptions,
};

fn env(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn draft(ws: &str, i: usize) -> AuditDraft {
    AuditDraft {
        workspace_id: Some(ws.to_string()),
        actor: Actor {
            kind: ActorKind::User,
            id: format!("usr_{i}"),
            display: "bench@example.com".into(),
        },
        action: "cluster.update".into(),
        target: Some("cl_1".into()),
        result: AuditResult::Success,
        source_ip: Some("192.0.2.1".into()),
        request_id: Some(format!("{i:016x}")),
        operation: Operation::Write,
        category: Category::Cluster,
        metadata: BTreeMap::from([("field".into(), "name".into())]),
        at: 1_700_000_000 + i as i64,
    }
}

fn hash(i: usize, salt: u8) -> [u8; 32] {
    let mut h = [salt; 32];
    h[..8].copy_from_slice(&(i as u64).to_be_bytes());
    h
}

fn per_op(label: &str, n: usize, mut f: impl FnMut(usize)) {
    let started = Instant::now();
    for i in 0..n {
        f(i);
    }
    let ns = started.elapsed().as_nanos() as f64 / n as f64;
    println!("{label:<40} {ns:>10.0} ns/op");
}

fn main() {
    let users = env("ACORN_BENCH_USERS", 2000);
    let dir = tempfile::tempdir().expect("tempdir");
    let store =
        Store::open(&dir.path().join("acorn.redb"), StoreOptions::new("bench")).expect("open");
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime");
    let (ids, ws) = rt.block_on(async {
        let owner = store
            .upsert_oidc_user("https://idp", "owner", None, true, None, 1)
            .await
            .expect("user");
        let ws = store
            .create_workspace("bench", &owner.id, 1, draft("x", 0))
            .await
            .expect("workspace")
            .id;
        let mut tasks = Vec::new();
        for i in 0..users {
            let (store, ws) = (store.clone(), ws.clone());
            tasks.push(tokio::spawn(async move {
                let u = store
                    .upsert_oidc_user("https://idp", &format!("s{i}"), None, true, None, 1)
                    .await
                    .expect("user");
                store
                    .set_member_role(&ws, &u.id, Role::Operator, draft(&ws, i))
                    .await
                    .expect("member");
                store
                    .create_session(
                        hash(i, 1),
                        Session {
                            user_id: u.id.clone(),
                            created_at: 1,
                            last_seen_at: 1,
                            expires_at: i64::MAX,
                            csrf_token: "c".into(),
                            source_ip: None,
                            user_agent: None,
                        },
                    )
                    .await
                    .expect("session");
                store
                    .create_api_token(
                        ApiToken {
                            id: format!("tok_{i}"),
                            workspace_id: ws.clone(),
                            user_id: u.id.clone(),
                            name: "b".into(),
                            role: Role::Viewer,
                            created_at: 1,
                            expires_at: None,
                            last_used_at: None,
                            revoked_at: None,
                        },
                        hash(i, 2),
                        draft(&ws, i),
                    )
                    .await
                    .expect("token");
                u.id
            }));
        }
        let mut ids = Vec::new();
        for t in tasks {
            ids.push(t.await.expect("join"));
        }
        (ids, ws)
    });
    println!("identity lookups with {users} users, sessions and tokens");
    let n = 20_000;
    per_op("session(hash)", n, |i| {
        store
            .session(hash(i % users, 1))
            .expect("read")
            .expect("some");
    });
    per_op("user(id)", n, |i| {
        store.user(&ids[i % users]).expect("read").expect("some");
    });
    per_op("membership(ws, user)", n, |i| {
        store
            .membership(&ws, &ids[i % users])
            .expect("read")
            .expect("some");
    });
    per_op("api_token(hash)", n, |i| {
        store
            .api_token(hash(i % users, 2))
            .expect("read")
            .expect("some");
    });
    per_op("session + user + membership (a request)", n, |i| {
        let s = store
            .session(hash(i % users, 1))
            .expect("read")
            .expect("some");
        store.user(&s.user_id).expect("read").expect("some");
        store
            .membership(&ws, &s.user_id)
            .expect("read")
            .expect("some");
    });

    let appends = env("ACORN_BENCH_RECORDS", 4000);
    let started = Instant::now();
    rt.block_on(async {
        let mut tasks = Vec::new();
        for w in 0..16 {
            let (store, ws) = (store.clone(), ws.clone());
            tasks.push(tokio::spawn(async move {
                for i in 0..appends / 16 {
                    store
                        .append_audit(draft(&ws, w * 100_000 + i))
                        .await
                        .expect("append");
                }
            }));
        }
        for t in tasks {
            t.await.expect("join");
        }
    });
    let rate = (appends / 16 * 16) as f64 / started.elapsed().as_secs_f64();
    println!("audit appends, 16 writers: {rate:.0} records/s");
    let report = store.verify_audit_chain(Some(&ws)).expect("verify");
    assert_eq!(report.first_broken_seq, None);
    println!("verify_audit_chain: {} records intact", report.records);
}
