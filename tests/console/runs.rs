//! Runs, search and audit in the browser against the real engine: search filters by cluster and
//! time range kept in the URL, the audit log's date filter, chain verification and export
//! download, runs started through the REST API appearing on an open session page and the
//! sessions list without a reload, and the message box's provider/model/limits (the run gets
//! them; an out-of-bounds limit and an unknown model are refused with the API's message).
//! Screenshots `search-filters`, `audit-verify`, `session-run-options`.

use reqwest::Method;
use serde_json::{Value, json};

use super::{Browser, real_problems};
use crate::runs::RunWorld;
use crate::runs::model::Turn;

/// `YYYY-MM-DD` (UTC) of `days` from now.
fn day(days: i64) -> String {
    let t = time::OffsetDateTime::now_utc() + time::Duration::days(days);
    format!("{:04}-{:02}-{:02}", t.year(), u8::from(t.month()), t.day())
}

#[tokio::test]
async fn search_filters_audit_live_sessions_and_run_options() {
    let rw = RunWorld::new(
        vec![Turn::Text("The kumquat cache in prod is full.")],
        false,
        "",
    )
    .await;
    let ws = rw.world.ws.clone();
    let owner = rw.world.owner.clone();
    // A second provider with another model, for the message box to pick (the same scripted
    // server behind it).
    owner
        .ok(
            Method::PUT,
            &rw.world.path("/providers/big"),
            Some(json!({
                "kind": "openai",
                "base_url": format!("http://127.0.0.1:{}/v1", rw.model.port),
                "list_models": false,
                "models": [{"id": "scripted-large", "context_window": 128000}],
            })),
        )
        .await;

    // Two clusters with one run each, both answering "kumquat".
    let prod_run = rw.start_run("what fills the cache?", json!({})).await;
    assert_eq!(rw.wait_end(&prod_run).await["state"], "completed");
    // The second cluster's agent watches the same simulator (its manifest's objects exist
    // already: the agent only needs the key and CA the manifest carries).
    let reg = owner
        .ok(
            Method::POST,
            &rw.world.path("/clusters"),
            Some(json!({ "name": "staging", "write_allowed": false })),
        )
        .await;
    let staging_id = reg["cluster"]["id"].as_str().unwrap().to_owned();
    let dir = rw.world.dir.path().join("staging");
    std::fs::create_dir_all(&dir).unwrap();
    let settings = crate::harness::agent::InstallSettings::from_manifest(
        reg["install"]["manifest"].as_str().unwrap(),
        &dir,
    );
    let staging_agent = rw.world.agent(&settings, "acorn-agent-staging");
    rw.world.wait_linked(&staging_id, &staging_agent).await;
    let staging_session = owner
        .ok(
            Method::POST,
            &rw.world.path("/sessions"),
            Some(json!({"cluster_id": staging_id, "title": "staging cache"})),
        )
        .await["id"]
        .as_str()
        .unwrap()
        .to_owned();
    rw.play(vec![Turn::Text("The kumquat cache in staging is full.")]);
    let staging_run = owner
        .ok(
            Method::POST,
            &rw.world
                .path(&format!("/sessions/{staging_session}/messages")),
            Some(json!({"content": "and in staging?"})),
        )
        .await["id"]
        .as_str()
        .unwrap()
        .to_owned();
    assert_eq!(rw.wait_end(&staging_run).await["state"], "completed");

    let mut b = Browser::start(&rw.world.app.base_url).await;
    b.goto("/console/search?q=kumquat").await;
    b.sign_in("owner").await;
    b.step(json!({ "wait_url": "/console/search\\?q=kumquat$" }))
        .await;
    // Both runs (the indexer may need a moment: search again until it has caught up).
    let mut total = String::new();
    for _ in 0..50 {
        b.click("#search-form button[type=submit]").await;
        total = b.wait("#search-total", None).await;
        if total.starts_with("2 ") {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    }
    assert!(total.starts_with("2 "), "{total}");

    // Cluster: only staging's run; the filters go into the address bar.
    b.step(json!({ "wait": "#search-cluster option", "text": "staging", "count": 1 }))
        .await;
    b.step(json!({ "select": "#search-cluster", "value": staging_id }))
        .await;
    b.click("#search-form button[type=submit]").await;
    b.wait("#search-total", Some("1 matching")).await;
    let hit = b.wait("#search-hits .hit a", None).await;
    assert!(hit.contains(&staging_run), "{hit}");
    b.step(json!({ "wait_url": format!("cluster={}", staging_id) }))
        .await;
    // Time: the last 24 hours has it, a range of dates before today has nothing.
    b.step(json!({ "select": "#search-range", "value": "24h" }))
        .await;
    b.click("#search-form button[type=submit]").await;
    b.wait("#search-total", Some("1 matching")).await;
    b.step(json!({ "wait_url": "range=24h" })).await;
    b.step(json!({ "select": "#search-range", "value": "" }))
        .await;
    b.fill("#search-from", &day(-10)).await;
    b.fill("#search-to", &day(-1)).await;
    b.click("#search-form button[type=submit]").await;
    b.wait("#search-total", Some("0 matching")).await;
    b.fill("#search-to", &day(0)).await;
    b.click("#search-form button[type=submit]").await;
    b.wait("#search-total", Some("1 matching")).await;
    b.screenshot("search-filters").await;
    // The address is a bookmark: opened again, the same filters and the same result.
    let bookmark = b
        .step(json!({ "eval": "location.pathname + location.search" }))
        .await
        .as_str()
        .unwrap()
        .to_owned();
    assert!(
        bookmark.contains(&format!("cluster={}", staging_id))
            && bookmark.contains(&format!("from={}", day(-10)))
            && bookmark.contains(&format!("to={}", day(0))),
        "{bookmark}"
    );
    b.goto(&bookmark).await;
    b.wait("#search-total", Some("1 matching")).await;
    // (The cluster options load after the results.)
    b.step(json!({ "wait_value": "#search-cluster", "value": staging_id }))
        .await;
    b.step(json!({ "wait_value": "#search-from", "value": day(-10) }))
        .await;

    // Audit: the date filter, the chain check, the export.
    b.goto(&format!("/console/w/{ws}/audit")).await;
    b.wait("#audit-table", None).await;
    b.fill("#audit-since", &day(1)).await;
    b.click("#audit-filter button[type=submit]").await;
    b.wait(".empty", Some("No record matches")).await;
    b.fill("#audit-since", &day(0)).await;
    b.fill("#audit-until", &day(0)).await;
    b.click("#audit-filter button[type=submit]").await;
    b.wait("#audit-table", Some("run.created")).await;
    b.click("#audit-verify").await;
    let chain = b
        .wait("#audit-chain[data-intact=true]", Some("Chain intact"))
        .await;
    let verified = owner
        .ok(Method::GET, &rw.world.path("/audit/verify"), None)
        .await;
    assert_eq!(verified["intact"], true, "{verified}");
    assert!(chain.contains("records checked"), "{chain}");
    b.screenshot("audit-verify").await;
    // The export carries the page's filters: today's run records only.
    b.step(json!({ "select": "#audit-filter select[name=category]", "value": "run" }))
        .await;
    b.click("#audit-filter button[type=submit]").await;
    b.wait("#audit-export", Some("Export the matching records"))
        .await;
    let download = b.step(json!({ "download": "#audit-export" })).await;
    assert_eq!(download["filename"], format!("audit-{ws}.jsonl"));
    let lines: Vec<Value> = download["text"]
        .as_str()
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).expect("a JSON line"))
        .collect();
    assert!(
        lines.iter().any(|r| r["action"] == "run.created"),
        "{lines:?}"
    );
    assert!(lines.iter().all(|r| r["category"] == "run"), "{lines:?}");

    // An open session page: a run started through the REST API appears without a reload, and
    // the re-render it causes keeps what is half-typed in the message box.
    let session_page = format!("/console/w/{ws}/sessions/{}", rw.session);
    b.goto(&session_page).await;
    b.wait(&format!("section.run[data-run={prod_run}]"), None)
        .await;
    b.step(json!({ "eval": "window.__noReload = 1" })).await;
    b.fill("#message-box", "a question typed while").await;
    rw.play(vec![Turn::Text("Started elsewhere, answered here.")]);
    let api_run = rw.start_run("asked through the API", json!({})).await;
    b.step(json!({ "wait": format!("section.run[data-run={api_run}] .badge.completed"), "timeout_ms": 60000 }))
        .await;
    b.wait(
        &format!("section.run[data-run={api_run}] .msg-user"),
        Some("asked through the API"),
    )
    .await;
    assert_eq!(b.step(json!({ "eval": "window.__noReload" })).await, 1);
    assert_eq!(
        b.step(json!({ "value": "#message-box" })).await,
        "a question typed while"
    );

    // The message box: the run options start at the workspace's settings; a chosen model and
    // limits reach the run.
    let settings = owner
        .ok(Method::GET, &rw.world.path("/run-settings"), None)
        .await;
    let max_steps = settings["max_limits"]["max_steps"].as_u64().unwrap();
    b.click("#run-options summary").await;
    b.step(json!({ "wait_value": "#run-model", "value": "scripted-model" }))
        .await;
    b.step(json!({
        "wait_value": "#run-max_steps",
        "value": settings["effective_limits"]["max_steps"].to_string(),
    }))
    .await;
    rw.play(vec![Turn::Text("Answered by the large model.")]);
    b.fill("#message-box", "which model answers?").await;
    b.step(json!({ "select": "#run-provider", "value": "big" }))
        .await;
    b.fill("#run-model", "scripted-large").await;
    b.fill("#run-max_steps", "3").await;
    b.fill("#run-max_output_tokens", "500").await;
    b.fill("#run-max_runtime_seconds", "120").await;
    b.screenshot("session-run-options").await;
    b.click("#send").await;
    b.step(json!({ "wait": "section.run .msg-user", "text": "which model answers?", "timeout_ms": 30000 }))
        .await;
    let runs = owner
        .ok(
            Method::GET,
            &rw.world.path(&format!("/sessions/{}", rw.session)),
            None,
        )
        .await;
    let chosen = runs["runs"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["question"] == "which model answers?")
        .unwrap_or_else(|| panic!("{runs}"))["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let run = rw.wait_end(&chosen).await;
    assert_eq!(run["provider"], "big", "{run}");
    assert_eq!(run["model"], "scripted-large", "{run}");
    assert_eq!(run["limits"]["max_steps"], 3, "{run}");
    assert_eq!(run["limits"]["max_output_tokens"], 500, "{run}");
    assert_eq!(run["limits"]["max_runtime_seconds"], 120, "{run}");

    // Out of bounds and an unknown model: refused with the API's message, nothing started.
    b.fill("#message-box", "too many steps").await;
    b.fill("#run-max_steps", &(max_steps + 1).to_string()).await;
    b.click("#send").await;
    let refused = b
        .wait(".composer .error", Some("run_limit_out_of_bounds"))
        .await;
    assert!(
        refused.contains(&format!("at most {max_steps}")),
        "{refused}"
    );
    b.fill("#run-max_steps", "3").await;
    b.fill("#run-model", "no-such-model").await;
    b.click("#send").await;
    let refused = b.wait(".composer .error", Some("no-such-model")).await;
    assert!(
        refused.contains("provider big does not offer") && refused.contains("model_unknown"),
        "{refused}"
    );
    assert_eq!(
        b.step(json!({ "value": "#message-box" })).await,
        "too many steps"
    );

    // The sessions list follows too: a session started through the API shows up.
    b.goto(&format!("/console/w/{ws}/sessions")).await;
    b.wait("#sessions", Some("checkout")).await;
    b.step(json!({ "eval": "window.__noReload = 2" })).await;
    let fresh = owner
        .ok(
            Method::POST,
            &rw.world.path("/sessions"),
            Some(json!({"cluster_id": rw.cluster.id, "title": "opened by a script"})),
        )
        .await["id"]
        .as_str()
        .unwrap()
        .to_owned();
    rw.play(vec![Turn::Text("Scripted.")]);
    owner
        .ok(
            Method::POST,
            &rw.world.path(&format!("/sessions/{fresh}/messages")),
            Some(json!({"content": "from a script"})),
        )
        .await;
    b.step(
        json!({ "wait": format!("#sessions a[href$='/sessions/{fresh}']"), "timeout_ms": 30000 }),
    )
    .await;
    assert_eq!(b.step(json!({ "eval": "window.__noReload" })).await, 2);

    let problems = real_problems(&b.close().await);
    assert!(problems.is_empty(), "browser console errors: {problems:#?}");
    drop(staging_agent);
}
