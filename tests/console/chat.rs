//! A session in the browser against the real engine: the answer and the tool steps stream in,
//! a planted `<script>` in the model's answer stays text, a write action waits on an approval
//! card (an admin demoted while the page is open is refused with the API's message; a viewer
//! sees the card without buttons), a double click sends once, a hanging run is cancelled, search finds the run
//! and opens it, an expired session goes through sign-in and back, and an appliance restart
//! reconnects the page with the message box's text kept. Screenshots of the main pages.

use reqwest::Method;
use serde_json::json;

use super::{Browser, real_problems};
use crate::harness::identity::{add_members, user};
use crate::runs::model::Turn;
use crate::runs::{POD, RunWorld};

fn scale(replicas: u32) -> Turn {
    Turn::Tools(vec![(
        "scale_workload",
        json!({"kind": "Deployment", "namespace": "crashloop", "name": "checkout",
               "replicas": replicas, "dry_run": false}),
    )])
}

const PLANTED: &str = "checkout crash-loops: MAX_CONNECTIONS is \"ten\". \
    <script>window.__pwned = 1</script><img src=x onerror=\"window.__pwned = 2\"> Set MAX_CONNECTIONS=10.";

#[tokio::test]
async fn a_session_streams_approves_cancels_searches_and_survives_expiry_and_restarts() {
    let mut rw = RunWorld::new(
        vec![
            Turn::Tools(vec![
                (
                    "describe",
                    json!({"kind": "Pod", "namespace": "crashloop", "name": POD}),
                ),
                (
                    "get_pod_logs",
                    json!({"namespace": "crashloop", "pod": POD, "previous": true}),
                ),
            ]),
            Turn::Text(PLANTED),
        ],
        true,
        "approval_timeout = \"120s\"",
    )
    .await;
    let ws = rw.world.ws.clone();
    let session_page = format!("/console/w/{ws}/sessions/{}", rw.session);
    let mut b = Browser::start(&rw.world.app.base_url).await;
    b.goto(&session_page).await;
    b.sign_in("owner").await;
    b.step(json!({ "wait_url": format!("{session_page}$") }))
        .await;

    // Ask: the run streams into the page — tool steps with arguments and results, the answer.
    b.wait("#composer", None).await;
    b.fill("#message-box", "why is checkout <b>crash-looping</b>?")
        .await;
    b.click("#send").await;
    b.wait(".msg-user", Some("<b>crash-looping</b>")).await;
    b.step(
        json!({ "wait": "details.step[data-tool=get_pod_logs] .badge.ok", "timeout_ms": 60000 }),
    )
    .await;
    b.step(json!({ "wait": ".run-head .badge.completed", "timeout_ms": 60000 }))
        .await;
    let answer = b.wait(".answer", Some("MAX_CONNECTIONS")).await;
    // The planted markup is shown as text and never ran.
    assert!(
        answer.contains("<script>window.__pwned = 1</script>"),
        "{answer}"
    );
    assert!(answer.contains("<img src=x"), "{answer}");
    assert_eq!(
        b.step(json!({ "eval": "typeof window.__pwned" })).await,
        "undefined"
    );
    assert_eq!(
        b.step(json!({ "count": ".answer img, .answer script" }))
            .await,
        0
    );
    b.click("details.step[data-tool=get_pod_logs] summary")
        .await;
    b.wait("details.step[data-tool=get_pod_logs] .tool-result", None)
        .await;
    // The message box emptied after sending.
    assert_eq!(b.step(json!({ "value": "#message-box" })).await, "");
    b.screenshot("session").await;

    // A read-write run stops at an approval card with the exact action and its dry-run diff.
    rw.play(vec![scale(3), Turn::Text("Scaled checkout to 3 replicas.")]);
    b.fill("#message-box", "scale checkout to 3").await;
    b.step(json!({ "select": "#composer select[name=mode]", "value": "read_write" }))
        .await;
    b.click("#send").await;
    b.step(json!({ "wait": ".approval button.approve", "timeout_ms": 60000 }))
        .await;
    let card = b.wait(".approval", Some("scale_workload")).await;
    assert!(card.contains("\"replicas\": 3"), "{card}");
    b.screenshot("session-approval").await;

    // An admin sees the card with its buttons; demoted to viewer while the page is open, her
    // click is refused with the API's message; reloaded, the page shows no buttons and no
    // admin actions anywhere.
    let vera = user(&rw.world.app, "vera").await;
    add_members(&rw.world.owner, &ws, &[(&vera, "admin")]).await;
    let mut v = Browser::start(&rw.world.app.base_url).await;
    v.goto(&session_page).await;
    v.sign_in("vera").await;
    v.wait(".approval button.approve", None).await;
    rw.world
        .owner
        .ok(
            Method::PUT,
            &format!("/api/v1/workspaces/{ws}/members/{}", vera.id),
            Some(json!({ "role": "viewer" })),
        )
        .await;
    v.click(".approval button.approve").await;
    let refused = v.wait(".approval .error", None).await;
    assert!(refused.contains("forbidden"), "{refused}");
    v.goto(&session_page).await;
    v.wait(".approval", Some("Waiting for an owner or admin"))
        .await;
    v.absent(".approval button").await;
    v.wait("#read-only-session", None).await;
    v.absent("#composer").await;
    v.absent("#cancel-run").await;
    assert_eq!(v.wait("#my-role", None).await, "viewer");
    v.screenshot("session-viewer").await;
    v.goto(&format!("/console/w/{ws}/clusters")).await;
    v.wait("#clusters-table", None).await;
    v.absent("#register-cluster").await;
    v.goto(&format!("/console/w/{ws}/members")).await;
    v.wait("#members-table", None).await;
    v.absent("#invite-form").await;
    v.absent("#members-table select").await;
    v.goto(&format!("/console/w/{ws}/tools")).await;
    v.wait("h1", Some("Tools")).await;
    v.absent("#mcp-form").await;
    let problems = real_problems(&v.close().await);
    assert!(
        problems.is_empty(),
        "viewer's browser console errors: {problems:#?}"
    );

    // The owner approves: the action runs once and the answer follows.
    b.click(".approval button.approve").await;
    b.step(json!({ "wait": ".approval .badge.approved", "timeout_ms": 60000 }))
        .await;
    b.step(
        json!({ "wait": ".answer", "text": "Scaled checkout to 3 replicas.", "timeout_ms": 60000 }),
    )
    .await;

    // A run that hangs is cancelled from the page.
    rw.play(vec![Turn::Hang("Investigating the checkout pods")]);
    b.fill("#message-box", "keep looking").await;
    // A double click sends once.
    b.step(json!({ "dblclick": "#send" })).await;
    b.step(json!({ "wait": ".answer", "text": "Investigating the checkout pods", "timeout_ms": 60000 }))
        .await;
    b.click("#cancel-run").await;
    b.step(json!({ "wait": ".run-head .badge.cancelled", "timeout_ms": 60000 }))
        .await;
    b.absent("#cancel-run").await;
    assert_eq!(
        b.step(json!({ "count": ".msg-user:has-text('keep looking')" }))
            .await,
        1
    );

    // Search finds the first run and opens its session.
    b.goto("/console/search?q=MAX_CONNECTIONS").await;
    b.step(json!({ "wait": "#search-hits li", "timeout_ms": 60000 }))
        .await;
    b.wait("#search-hits mark", None).await;
    b.screenshot("search").await;
    b.click("#search-hits .hit-link").await;
    b.step(json!({ "wait_url": format!("{session_page}#run-run_") }))
        .await;
    b.wait(".answer", Some("MAX_CONNECTIONS")).await;

    // The other pages, for the reviewer.
    for (path, ready, name) in [
        ("", "#findings li", "overview"),
        ("/members", "#members-table", "members"),
        ("/tokens", "#token-form", "tokens"),
        ("/audit", "#audit-table", "audit"),
        ("/providers", "[data-provider=scripted]", "providers"),
        ("/tools", "h2", "tools"),
        ("/sessions", "#sessions li", "sessions"),
    ] {
        b.goto(&format!("/console/w/{ws}{path}")).await;
        b.step(json!({ "wait": ready, "timeout_ms": 60000 })).await;
        b.screenshot(name).await;
    }

    // The session ends elsewhere: the next action goes to sign-in and comes back here.
    b.goto(&session_page).await;
    b.wait("#composer", None).await;
    assert_eq!(b.step(json!({ "sign_out_elsewhere": true })).await, 204);
    b.fill("#message-box", "are you still there?").await;
    b.click("#send").await;
    b.step(json!({ "wait_url": "/console/sign-in\\?next=.*expired=1" }))
        .await;
    b.wait(".error", Some("expired")).await;
    b.sign_in("owner").await;
    b.step(json!({ "wait_url": format!("{session_page}$") }))
        .await;
    b.wait("#composer", None).await;

    // An appliance restart: the page reconnects on its own and the draft is still there.
    b.fill("#message-box", "draft typed before the restart")
        .await;
    b.step(json!({ "eval": "window.__before_restart = 1" }))
        .await;
    rw.world.app.restart().await;
    // A new page (the old one's marker is gone), rendered over a new socket, draft restored.
    b.step(json!({
        "wait_eval": "typeof window.__before_restart === 'undefined' && document.documentElement.dataset.lv === 'rendered'",
        "timeout_ms": 60000
    }))
    .await;
    b.step(json!({ "wait_value": "#message-box", "value": "draft typed before the restart", "timeout_ms": 30000 }))
        .await;
    b.step(json!({ "wait": ".answer", "text": "MAX_CONNECTIONS", "timeout_ms": 30000 }))
        .await;
    b.screenshot("session-after-restart").await;

    // Dark mode and a narrow window: the same page, for the reviewer's eyes; long tool output
    // scrolls inside its box instead of widening the page.
    b.step(json!({ "emulate": { "colorScheme": "dark", "width": 1366, "height": 768 } }))
        .await;
    b.screenshot("session-dark").await;
    b.step(json!({ "emulate": { "colorScheme": "light", "width": 760, "height": 900 } }))
        .await;
    b.screenshot("session-narrow").await;
    assert_eq!(
        b.step(json!({ "eval": "document.documentElement.scrollWidth <= window.innerWidth" }))
            .await,
        true,
        "the page does not scroll sideways at 760 px"
    );

    let problems = real_problems(&b.close().await);
    assert!(problems.is_empty(), "browser console errors: {problems:#?}");
}
