//! Evaluations started from the API (`/api/v1/workspaces/{ws}/evals`): the real appliance runs
//! `acorn eval`'s lab in the background (its own `acorn serve`, `acorn-kubesim` and the real
//! `acorn-agent` per scenario) with the workspace's provider, a scripted model behind it, and
//! stores the report for the console.

use std::time::{Duration, Instant};

use reqwest::Method;
use serde_json::{Value, json};

use super::models;
use crate::gateway::upstream::Upstream;
use crate::harness::appliance::Appliance;
use crate::harness::identity::{User, user, workspace_with};

const KEY: &str = "sk-eval-workspace-key-4f9c";

/// The scripted models as a workspace provider named `scripted`, as an admin would add it.
pub(crate) async fn put_scripted_provider(
    admin: &User,
    ws: &str,
    model: &Upstream,
    key: Option<&str>,
) {
    admin
        .ok(
            Method::PUT,
            &format!("/api/v1/workspaces/{ws}/providers/scripted"),
            Some(json!({
                "kind": "openai",
                "base_url": format!("http://127.0.0.1:{}/v1", model.port),
                "list_models": false,
                "api_key": key,
                "request_timeout_ms": 60000,
                "models": [{"id": "thorough", "input_price_per_mtok": 1.0}, {"id": "lazy"}, {"id": "silent"}],
            })),
        )
        .await;
}

async fn wait_finished(owner: &User, ws: &str, id: &str) -> Value {
    let deadline = Instant::now() + Duration::from_secs(300);
    loop {
        let eval = owner
            .ok(
                Method::GET,
                &format!("/api/v1/workspaces/{ws}/evals/{id}"),
                None,
            )
            .await;
        if eval["state"] != "running" {
            return eval;
        }
        assert!(Instant::now() < deadline, "still running: {eval}");
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn admins_evaluate_a_workspace_model_in_the_background_and_read_the_stored_report() {
    let model = models().await;
    let mut app = Appliance::start().await;
    let root = user(&app, "root").await;
    let viewer = user(&app, "vera").await;
    let ws = workspace_with(&root, "evals", &[(&viewer, "viewer")]).await;
    let other = workspace_with(&root, "other", &[]).await;
    let evals = format!("/api/v1/workspaces/{ws}/evals");
    put_scripted_provider(&root, &ws, &model, Some(KEY)).await;

    // Refusals, before anything starts.
    let start = |body: Value| {
        let (root, evals) = (root.clone(), evals.clone());
        async move { root.call(Method::POST, &evals, Some(body)).await }
    };
    viewer
        .call(
            Method::POST,
            &evals,
            Some(json!({"provider": "scripted", "model": "thorough"})),
        )
        .await
        .assert_error(403, "forbidden");
    viewer
        .call(Method::GET, &evals, None)
        .await
        .assert_error(403, "forbidden");
    start(json!({"provider": "nope", "model": "thorough"}))
        .await
        .assert_error(404, "provider_not_found");
    start(json!({"provider": "scripted", "model": "gpt-9"}))
        .await
        .assert_error(400, "model_unknown");
    start(
        json!({"provider": "scripted", "model": "thorough", "scenarios": ["crashloop", "no-such"]}),
    )
    .await
    .assert_error(400, "scenario_unknown");
    start(json!({"provider": "scripted", "model": "thorough", "max_runtime_seconds": 5}))
        .await
        .assert_error(400, "invalid_body");
    start(json!({"provider": "scripted", "model": "thorough", "judge": true}))
        .await
        .assert_error(400, "invalid_body");
    start(json!({"provider": "scripted", "model": 7}))
        .await
        .assert_error(400, "invalid_body");
    start(json!({"provider": "scripted", "model": "x".repeat(300)}))
        .await
        .assert_error(400, "invalid_body");
    assert_eq!(root.ok(Method::GET, &evals, None).await, json!([]));

    // A thorough model on two scenarios: accepted, running, one at a time.
    let started = root
        .call(
            Method::POST,
            &evals,
            Some(json!({"provider": "scripted", "model": "thorough", "scenarios": ["crashloop", "healthy"]})),
        )
        .await;
    assert_eq!(started.status.as_u16(), 202, "{}", started.body);
    assert_eq!(started.body["state"], "running");
    let id = started.body["id"].as_str().unwrap().to_owned();
    start(json!({"provider": "scripted", "model": "lazy"}))
        .await
        .assert_error(503, "eval_busy");
    root.call(Method::DELETE, &format!("{evals}/{id}"), None)
        .await
        .assert_error(409, "eval_running");
    // Another workspace's id is not found, even for an owner of both.
    root.call(
        Method::GET,
        &format!("/api/v1/workspaces/{other}/evals/{id}"),
        None,
    )
    .await
    .assert_error(404, "not_found");

    let done = wait_finished(&root, &ws, &id).await;
    assert_eq!(done["state"], "completed", "{done}");
    assert_eq!(
        (done["done"].as_u64(), done["total"].as_u64()),
        (Some(2), Some(2))
    );
    assert_eq!(done["summary"]["passed"], 2, "{done}");
    assert_eq!(done["summary"]["pass_rate"], 100.0);
    let names: Vec<&str> = done["report"]["scenarios"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["crashloop", "healthy"]);
    assert!(done["report"]["scenarios"][0]["grade"]["evidence"][0]["met"] == true);
    assert!(
        !done.to_string().contains(KEY),
        "the key is never in an answer"
    );

    let md = root
        .client
        .get(app.url(&format!("{evals}/{id}/report.md")))
        .header("cookie", format!("__Host-acorn_session={}", root.cookie))
        .send()
        .await
        .unwrap();
    assert_eq!(md.status(), 200);
    assert!(
        md.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/markdown")
    );
    let md = md.text().await.unwrap();
    assert!(
        md.contains("## crashloop") && md.contains("2 of 2 scenarios passed"),
        "{md}"
    );

    // A lazy model scores what it deserves; the list is newest first.
    let lazy = root
        .ok(
            Method::POST,
            &evals,
            Some(json!({"provider": "scripted", "model": "lazy", "scenarios": ["crashloop"]})),
        )
        .await;
    let lazy_id = lazy["id"].as_str().unwrap().to_owned();
    let lazy = wait_finished(&root, &ws, &lazy_id).await;
    assert_eq!(lazy["state"], "completed", "{lazy}");
    assert_eq!(lazy["summary"]["passed"], 0);
    let list = root.ok(Method::GET, &evals, None).await;
    assert_eq!(list[0]["id"], lazy_id.as_str());
    assert_eq!(list[1]["id"], id.as_str());
    assert!(
        list[1].get("report").is_none(),
        "the list has summaries only"
    );

    // The audit log has who started what; the appliance log never has the key.
    let audit = root
        .ok(
            Method::GET,
            &format!("/api/v1/workspaces/{ws}/audit?category=mcp"),
            None,
        )
        .await;
    let starts = audit["items"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|r| r["action"] == "eval.start")
        .count();
    assert_eq!(starts, 2, "{audit}");
    assert!(!format!("{:?}", app.logs()).contains(KEY));

    // A restart ends a running evaluation: it is marked failed, with what to do.
    let silent = root
        .ok(
            Method::POST,
            &evals,
            Some(json!({"provider": "scripted", "model": "silent", "scenarios": ["crashloop"], "max_runtime_seconds": 600})),
        )
        .await;
    let silent_id = silent["id"].as_str().unwrap().to_owned();
    tokio::time::sleep(Duration::from_secs(2)).await;
    app.restart().await;
    let after = root
        .ok(Method::GET, &format!("{evals}/{silent_id}"), None)
        .await;
    assert_eq!(after["state"], "failed", "{after}");
    assert!(
        after["error"].as_str().unwrap().contains("restarted"),
        "{after}"
    );

    // Delete: gone, and the others stay.
    let gone = root
        .call(Method::DELETE, &format!("{evals}/{lazy_id}"), None)
        .await;
    assert_eq!(gone.status.as_u16(), 204, "{}", gone.body);
    root.call(Method::GET, &format!("{evals}/{lazy_id}"), None)
        .await
        .assert_error(404, "not_found");
    assert_eq!(
        root.ok(Method::GET, &evals, None)
            .await
            .as_array()
            .map(Vec::len),
        Some(2)
    );
}
