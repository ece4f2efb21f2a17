//! Identity benchmarks (a bench binary, not a timed test):
//! - the per-request authentication and authorization work, in process: session lookup, user
//!   lookup, membership lookup and the role-table decision (ns/op);
//! - requests/s and latency of an authenticated `GET /api/v1/workspaces` against the real
//!   release binary over TLS, with 1, 8 and 32 concurrent clients (a Rust load generator).
//!
//! Run: `cargo bench -p acorn-tests --bench identity`.

#[path = "../harness/mod.rs"]
mod harness;

use std::time::{Duration, Instant};

use acorn_proto::authz::{Action, Role};
use acorn_store::{
    Actor, ActorKind, AuditDraft, AuditResult, Category, Operation, Session, Store, StoreOptions,
};

fn main() {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let runtime = tokio::runtime::Runtime::new().unwrap();
    runtime.block_on(in_process_lookup());
    runtime.block_on(http_load());
}

fn draft() -> AuditDraft {
    AuditDraft {
        workspace_id: None,
        actor: Actor {
            kind: ActorKind::System,
            id: "bench".into(),
            display: "bench".into(),
        },
        action: "bench".into(),
        target: None,
        result: AuditResult::Success,
        source_ip: None,
        request_id: None,
        operation: Operation::Write,
        category: Category::Workspace,
        metadata: Default::default(),
        at: 0,
    }
}

async fn in_process_lookup() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(&dir.path().join("acorn.redb"), StoreOptions::new("bench")).unwrap();
    let user = store
        .upsert_oidc_user("https://idp", "alice", None, false, None, 0)
        .await
        .unwrap();
    let ws = store
        .create_workspace("bench", &user.id, 0, draft())
        .await
        .unwrap();
    let hash = [7u8; 32];
    let session = Session {
        user_id: user.id.clone(),
        created_at: 0,
        last_seen_at: 0,
        expires_at: i64::MAX,
        csrf_token: "x".into(),
        source_ip: None,
        user_agent: None,
    };
    store.create_session(hash, session).await.unwrap();
    let n = 200_000;
    let started = Instant::now();
    let mut allowed = 0;
    for _ in 0..n {
        let s = store.session(hash).unwrap().unwrap();
        let u = store.user(&s.user_id).unwrap().unwrap();
        let m = store.membership(&ws.id, &u.id).unwrap().unwrap();
        allowed += usize::from(m.role.allows(Action::WorkspaceRead));
    }
    let per = started.elapsed().as_nanos() / n as u128;
    assert_eq!(allowed, n);
    let started = Instant::now();
    let mut yes = 0usize;
    for i in 0..10_000_000u64 {
        let role = Role::ALL[(i % 5) as usize];
        yes += usize::from(std::hint::black_box(role).allows(Action::ALL[(i % 22) as usize]));
    }
    let decide = started.elapsed().as_nanos() as f64 / 10_000_000.0;
    println!(
        "session + user + membership lookup + decision: {per} ns/op  (role-table decision alone: {decide:.1} ns; {yes} allowed)"
    );
}

async fn http_load() {
    let app = harness::appliance::Appliance::start().await;
    let admin = harness::identity::user(&app, "bench").await;
    for i in 0..5 {
        admin
            .ok(
                reqwest::Method::POST,
                "/api/v1/workspaces",
                Some(serde_json::json!({ "name": format!("ws {i}") })),
            )
            .await;
    }
    for concurrency in [1usize, 8, 32] {
        let duration = Duration::from_secs(8);
        let mut tasks = Vec::new();
        for _ in 0..concurrency {
            let client = harness::appliance::pinned_client(&app.ca_pem);
            let url = app.url("/api/v1/workspaces");
            let cookie = format!("__Host-acorn_session={}", admin.cookie);
            tasks.push(tokio::spawn(async move {
                let mut latencies = Vec::new();
                let start = Instant::now();
                while start.elapsed() < duration {
                    let t = Instant::now();
                    let response = client
                        .get(&url)
                        .header("cookie", &cookie)
                        .send()
                        .await
                        .unwrap();
                    assert_eq!(response.status(), 200);
                    let _ = response.bytes().await.unwrap();
                    latencies.push(t.elapsed());
                }
                latencies
            }));
        }
        let mut all = Vec::new();
        for t in tasks {
            all.extend(t.await.unwrap());
        }
        all.sort();
        let p = |q: f64| {
            all[((all.len() as f64 * q) as usize).min(all.len() - 1)].as_secs_f64() * 1000.0
        };
        println!(
            "GET /api/v1/workspaces, {concurrency:>2} clients: {:>7.0} req/s  p50 {:.2} ms  p99 {:.2} ms",
            all.len() as f64 / duration.as_secs_f64(),
            p(0.5),
            p(0.99)
        );
    }
}
