//! The official `openai` Python package as a real client of `/gateway/v1/chat/completions` with
//! a run JWT: streaming with usage, tool calls (whole and streamed), and refused scopes.

use std::process::Command;
use std::sync::Arc;

use serde_json::Value;

use super::upstream::Reply;
use super::{World, fixtures, peer, python};

#[tokio::test]
async fn the_openai_python_client_works_against_the_gateway() {
    let world = World::new("").await;
    world.upstream.set(Arc::new(|req, _| {
        let tools = req.body["tools"].is_array();
        match (req.body["stream"] == true, tools) {
            (true, false) => Reply::sse(fixtures::openai_text()),
            (true, true) => Reply::sse(fixtures::openai_parallel_index0()),
            (false, _) => Reply::json(200, &fixtures::openai_tool_json()),
        }
    }));
    let token = world.token("up", "gpt-test", &["get_pods", "get_events"], 100_000);
    let dir = tempfile::tempdir().unwrap();
    let ca = dir.path().join("ca.pem");
    std::fs::write(&ca, &world.app.ca_pem).unwrap();
    let base = world.app.url("/gateway/v1");
    let output = tokio::task::spawn_blocking(move || {
        Command::new(python())
            .arg(peer("openai_client.py"))
            .args([&base, ca.to_str().unwrap(), &token, "gpt-test"])
            .output()
            .unwrap()
    })
    .await
    .unwrap();
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let out: Value = serde_json::from_slice(&output.stdout).unwrap();
    assert_eq!(out["stream"]["text"], "The pod is crash-looping.");
    assert_eq!(out["stream"]["usage"], serde_json::json!([42, 7]));
    assert_eq!(out["stream"]["finish"], "stop");
    assert_eq!(out["tools"]["name"], "get_pods");
    assert_eq!(out["tools"]["arguments"]["namespace"], "shop");
    assert_eq!(out["tools"]["finish"], "tool_calls");
    assert_eq!(out["tools"]["usage"], serde_json::json!([30, 20]));
    let calls = out["tools_stream"]["calls"].as_array().unwrap();
    assert_eq!(calls.len(), 2, "{out}");
    assert_eq!(
        (calls[0]["name"].as_str(), calls[1]["name"].as_str()),
        (Some("get_pods"), Some("get_events"))
    );
    assert_eq!(calls[0]["arguments"], "{\"namespace\":\"shop\"}");
    assert_eq!(calls[1]["id"], "call_b");
    assert_eq!(out["tools_stream"]["finish"], "tool_calls");
    assert_eq!(out["refused"]["status"], 403);
    assert_eq!(out["refused"]["class"], "PermissionDeniedError");
    assert_eq!(
        out["refused"]["body"]["code"], "scope_model_mismatch",
        "{out}"
    );
    assert_eq!(out["refused_tool"]["status"], 403);
    assert_eq!(
        out["refused_tool"]["body"]["code"],
        "scope_tool_not_allowed"
    );
}
