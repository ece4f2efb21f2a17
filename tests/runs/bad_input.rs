//! Hostile and mistaken requests to the runs API: each gets its documented error and nothing
//! stored is damaged.

use reqwest::Method;
use serde_json::json;

use super::RunWorld;
use super::model::Turn;
use crate::harness::identity::{add_members, user, workspace_with};

#[tokio::test]
async fn bad_requests_get_their_error_and_change_nothing() {
    let rw = RunWorld::new(vec![Turn::Text("The answer.")], false, "").await;
    let w = &rw.world;
    let path = |rest: &str| w.path(rest);

    // Messages: empty, oversized, wrong types, unknown fields, limits above the bounds.
    rw.ask("   ", json!({}))
        .await
        .assert_error(400, "invalid_parameter");
    rw.ask(&"x".repeat(40_000), json!({}))
        .await
        .assert_error(400, "invalid_parameter");
    let answer = w
        .owner
        .call(
            Method::POST,
            &path(&format!("/sessions/{}/messages", rw.session)),
            Some(json!({"content": 42})),
        )
        .await;
    assert_eq!(answer.status, 400, "{}", answer.body);
    rw.ask("q", json!({"temperature": 2}))
        .await
        .assert_error(400, "invalid_body");
    rw.ask("q", json!({"limits": {"max_steps": 1000}}))
        .await
        .assert_error(400, "run_limit_out_of_bounds");
    rw.ask("q", json!({"limits": {"max_steps": 0}}))
        .await
        .assert_error(400, "run_limit_out_of_bounds");
    rw.ask("q", json!({"limits": {"max_wishes": 3}}))
        .await
        .assert_error(400, "invalid_body");
    rw.ask("q", json!({"model": "gpt-9-turbo"}))
        .await
        .assert_error(400, "model_unknown");
    rw.ask("q", json!({"provider": "nowhere", "model": "m"}))
        .await
        .assert_error(404, "provider_not_found");
    // Read-write on a cluster that does not allow writes: its own error.
    rw.ask("q", json!({"mode": "read_write"}))
        .await
        .assert_error(403, "run_read_write_not_allowed");
    assert!(
        rw.world.owner.ok(Method::GET, &path("/runs"), None).await["items"]
            .as_array()
            .unwrap()
            .is_empty(),
        "no refused message left a run behind"
    );

    // A good run, then a second message while it runs is refused; ids of other workspaces are
    // not found; finished runs cannot be cancelled.
    let run = rw.start_run("why?", json!({})).await;
    let done = rw.wait_end(&run).await;
    assert_eq!(done["state"], "completed");
    w.owner
        .call(Method::POST, &path(&format!("/runs/{run}/cancel")), None)
        .await
        .assert_error(409, "run_finished");
    w.owner
        .call(
            Method::POST,
            &path(&format!("/runs/{run}/approvals/apr_0000000000000000")),
            Some(json!({"decision": "approve"})),
        )
        .await
        .assert_error(404, "not_found");
    w.owner
        .call(
            Method::POST,
            &path(&format!("/runs/{run}/approvals/apr_0000000000000000")),
            Some(json!({"decision": "maybe"})),
        )
        .await
        .assert_error(400, "invalid_body");

    let stranger = user(&w.app, "stranger").await;
    let other = workspace_with(&stranger, "elsewhere", &[]).await;
    for p in [
        format!("/api/v1/workspaces/{other}/runs/{run}"),
        format!("/api/v1/workspaces/{other}/runs/{run}/events"),
        format!("/api/v1/workspaces/{other}/runs/{run}/evidence"),
        format!("/api/v1/workspaces/{other}/sessions/{}", rw.session),
    ] {
        stranger
            .call(Method::GET, &p, None)
            .await
            .assert_error(404, "not_found");
    }
    for p in [format!("/runs/{run}"), format!("/sessions/{}", rw.session)] {
        stranger
            .call(Method::GET, &path(&p), None)
            .await
            .assert_error(404, "not_found");
    }

    // Viewers read but do not write; operators write only their own sessions.
    let viewer = user(&w.app, "viewer").await;
    let operator = user(&w.app, "operator").await;
    add_members(
        &w.owner,
        &w.ws,
        &[(&viewer, "viewer"), (&operator, "operator")],
    )
    .await;
    viewer
        .ok(Method::GET, &path(&format!("/runs/{run}/events")), None)
        .await;
    viewer
        .call(
            Method::POST,
            &path(&format!("/sessions/{}/messages", rw.session)),
            Some(json!({"content": "hi"})),
        )
        .await
        .assert_error(403, "forbidden");
    operator
        .call(
            Method::POST,
            &path(&format!("/sessions/{}/messages", rw.session)),
            Some(json!({"content": "hi"})),
        )
        .await
        .assert_error(403, "forbidden");
    operator
        .call(
            Method::PATCH,
            &path(&format!("/sessions/{}", rw.session)),
            Some(json!({"title": "mine now"})),
        )
        .await
        .assert_error(403, "forbidden");
    let own = operator
        .ok(
            Method::POST,
            &path("/sessions"),
            Some(json!({"cluster_id": rw.cluster.id})),
        )
        .await;
    operator
        .call(
            Method::POST,
            &path(&format!(
                "/sessions/{}/messages",
                own["id"].as_str().unwrap()
            )),
            Some(json!({"content": "hi", "mode": "read_write"})),
        )
        .await
        .assert_error(403, "run_read_write_not_allowed");
    // Sessions on clusters of other workspaces or unknown ones.
    w.owner
        .call(
            Method::POST,
            &path("/sessions"),
            Some(json!({"cluster_id": "clu_0000000000000000"})),
        )
        .await
        .assert_error(404, "not_found");
    // Malformed Last-Event-ID.
    let r = w
        .app
        .client
        .get(w.app.url(&path(&format!("/runs/{run}/stream"))))
        .header("cookie", format!("__Host-acorn_session={}", w.owner.cookie))
        .header("last-event-id", "yesterday")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 400);

    // What was stored is intact.
    let after = rw.run(&run).await;
    assert_eq!(after["state"], "completed");
    assert_eq!(after["answer"], "The answer.");
}
