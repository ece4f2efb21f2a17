//! Auto-triage: one read-only run per critical finding lifecycle, by the appliance itself,
//! with the open findings in the run's system prompt; findings opened while every slot is busy
//! wait for one.

use std::time::{Duration, Instant};

use reqwest::Method;
use serde_json::{Value, json};

use super::{fast_config, find, wait_findings, world};
use crate::cluster_link::World;
use crate::runs::model::{self, Turn};

const POD_REF: &str = "Pod/crashloop/checkout-7c9d8f6b5-x2k4p";

async fn sessions(w: &World) -> Vec<Value> {
    w.owner.ok(Method::GET, &w.path("/sessions"), None).await["items"]
        .as_array()
        .unwrap()
        .clone()
}

async fn runs_of(w: &World, session: &str) -> Vec<Value> {
    w.owner
        .ok(Method::GET, &w.path(&format!("/sessions/{session}")), None)
        .await["runs"]
        .as_array()
        .unwrap()
        .clone()
}

/// The run once it has ended.
async fn wait_ended(w: &World, run_id: &str) -> Value {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let run = w
            .owner
            .ok(Method::GET, &w.path(&format!("/runs/{run_id}")), None)
            .await;
        if run["ended_at"].is_i64() {
            return run;
        }
        assert!(Instant::now() < deadline, "run did not end: {run}");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

#[tokio::test]
async fn a_new_critical_finding_starts_exactly_one_read_only_run_per_lifecycle() {
    let model = model::start(vec![Turn::Text(
        "checkout crash-loops: MAX_CONNECTIONS is \"ten\", not an integer. Set it to 10.",
    )])
    .await;
    let w = world(
        "crashloop",
        // One slot: the second critical finding waits for the first run to end.
        fast_config("1h", "") + "triage_max_concurrent = 1\n",
    )
    .await;
    let provider = json!({
        "kind": "openai",
        "base_url": format!("http://127.0.0.1:{}/v1", model.port),
        "list_models": false,
        "models": [{"id": "scripted-model", "context_window": 64000,
                    "input_price_per_mtok": 1.0, "output_price_per_mtok": 2.0}],
    });
    w.owner
        .ok(Method::PUT, &w.path("/providers/scripted"), Some(provider))
        .await;
    w.owner
        .ok(
            Method::PUT,
            &w.path("/run-settings"),
            Some(json!({"provider": "scripted", "model": "scripted-model"})),
        )
        .await;
    // Two clusters on the same simulator: only the one with auto_triage is investigated.
    let triaged = w
        .register(json!({ "name": "prod", "auto_triage": true }))
        .await;
    assert_eq!(triaged.answer["cluster"]["auto_triage"], true);
    let agent = w.agent(&triaged.settings, "acorn-agent-0");
    w.wait_linked(&triaged.id, &agent).await;

    let items = wait_findings(&w, &triaged.id, 30, "the crash loop", |items| {
        find(items, "pod.crash_loop", POD_REF).is_some()
    })
    .await;
    let critical: Vec<&Value> = items
        .iter()
        .filter(|f| f["severity"] == "critical")
        .collect();
    assert!(
        critical.len() >= 2,
        "two critical findings compete for the slot: {items:#?}"
    );

    // One session per critical finding, each with one run, created by the appliance.
    let deadline = Instant::now() + Duration::from_secs(30);
    let triage_sessions = loop {
        let s: Vec<Value> = sessions(&w)
            .await
            .into_iter()
            .filter(|s| {
                s["title"]
                    .as_str()
                    .unwrap_or("")
                    .starts_with("Auto-triage: ")
            })
            .collect();
        if s.len() >= critical.len() {
            break s;
        }
        assert!(Instant::now() < deadline, "triage sessions: {s:#?}");
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    // Several more evaluations (interval 2 s) must not start anything more.
    tokio::time::sleep(Duration::from_secs(6)).await;
    let after = sessions(&w).await;
    assert_eq!(
        after.len(),
        critical.len(),
        "one per critical finding: {after:#?}"
    );
    let mut questions = Vec::new();
    let mut spans = Vec::new();
    for s in &triage_sessions {
        assert_eq!(s["created_by"], "system:auto-triage", "{s}");
        assert_eq!(s["cluster_id"], triaged.id.as_str());
        let runs = runs_of(&w, s["id"].as_str().unwrap()).await;
        assert_eq!(runs.len(), 1, "{runs:#?}");
        assert_eq!(runs[0]["mode"], "read_only");
        let run = wait_ended(&w, runs[0]["id"].as_str().unwrap()).await;
        spans.push((
            run["created_at"].as_i64().unwrap(),
            run["ended_at"].as_i64().unwrap(),
        ));
        questions.push(runs[0]["question"].as_str().unwrap().to_owned());
    }
    // Never two at once: each run was created after the one before it had ended.
    spans.sort();
    for pair in spans.windows(2) {
        assert!(pair[1].0 >= pair[0].1, "triage runs overlapped: {spans:?}");
    }
    for f in &critical {
        let id = f["id"].as_str().unwrap();
        assert_eq!(
            questions.iter().filter(|q| q.contains(id)).count(),
            1,
            "{id}: {questions:#?}"
        );
    }
    let crash = find(&items, "pod.crash_loop", POD_REF).unwrap();
    let q = questions
        .iter()
        .find(|q| q.contains(crash["id"].as_str().unwrap()))
        .unwrap();
    assert!(q.contains("CrashLoopBackOff"), "{q}");

    // The runs ran: the model saw the open findings in its system prompt.
    let deadline = Instant::now() + Duration::from_secs(60);
    while model.requests().len() < critical.len() {
        assert!(Instant::now() < deadline, "the model was not called");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let system = model.requests()[0].body["messages"][0]["content"]
        .as_str()
        .unwrap()
        .to_owned();
    assert!(
        system.contains("Open findings of Acorn's analyzers"),
        "{system}"
    );
    assert!(system.contains("pod.crash_loop"), "{system}");
    assert!(system.contains(POD_REF), "{system}");

    // Turning auto-triage off and on again does not re-investigate the open lifecycles.
    w.owner
        .ok(
            Method::PATCH,
            &w.path(&format!("/clusters/{}", triaged.id)),
            Some(json!({"auto_triage": false})),
        )
        .await;
    let c = w.cluster(&triaged.id).await;
    assert_eq!(c["auto_triage"], false);
    w.owner
        .ok(
            Method::PATCH,
            &w.path(&format!("/clusters/{}", triaged.id)),
            Some(json!({"auto_triage": true})),
        )
        .await;
    tokio::time::sleep(Duration::from_secs(5)).await;
    assert_eq!(sessions(&w).await.len(), critical.len());
}

#[tokio::test]
async fn auto_triage_is_off_by_default() {
    let w = world("crashloop", fast_config("1h", "")).await;
    let cluster = w.register(json!({ "name": "prod" })).await;
    assert_eq!(cluster.answer["cluster"]["auto_triage"], false);
    let agent = w.agent(&cluster.settings, "acorn-agent-0");
    w.wait_linked(&cluster.id, &agent).await;
    wait_findings(&w, &cluster.id, 30, "the crash loop", |items| {
        find(items, "pod.crash_loop", POD_REF).is_some()
    })
    .await;
    tokio::time::sleep(Duration::from_secs(3)).await;
    assert!(sessions(&w).await.is_empty());
}
