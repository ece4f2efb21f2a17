//! The cluster link behind the gateway: a run's JWT reaches the real agent's builtin tools
//! (`/gateway/v1/tools/{tool}/call`), the workspace's tool catalog lists them, and the run's
//! scope (workspace, cluster, mode) is enforced on the way.

use reqwest::Method;
use serde_json::{Value, json};

use super::World;
use crate::harness::appliance::ok_stdout;
use crate::harness::identity::workspace_with;

fn run_token(world: &World, ws: &str, cluster: &str, tools: &str, read_write: bool) -> String {
    let mut args = vec![
        "gateway",
        "issue-run-token",
        "--workspace",
        ws,
        "--cluster",
        cluster,
        "--provider",
        "local",
        "--model",
        "llama3.1:8b",
        "--tools",
        tools,
        "--budget",
        "1000",
        "--json",
    ];
    if read_write {
        args.push("--read-write");
    }
    let out: Value = serde_json::from_str(&ok_stdout(&world.app.acorn(&args))).unwrap();
    out["token"].as_str().unwrap().to_owned()
}

async fn gateway_call(world: &World, token: &str, tool: &str, args: Value) -> (u16, Value) {
    let r = world
        .app
        .client
        .post(world.app.url(&format!("/gateway/v1/tools/{tool}/call")))
        .bearer_auth(token)
        .json(&json!({ "arguments": args }))
        .send()
        .await
        .unwrap();
    let status = r.status().as_u16();
    (status, r.json().await.unwrap_or(Value::Null))
}

#[tokio::test]
async fn a_run_token_reaches_the_agents_builtin_tools_within_its_scope() {
    let world = World::new(&["--scenario", "crashloop"]).await;
    let reg = world
        .register(json!({ "name": "gw", "write_allowed": true }))
        .await;
    let agent = world.agent(&reg.settings, "acorn-agent-0");
    world.wait_linked(&reg.id, &agent).await;
    let provider =
        json!({ "kind": "openai", "base_url": "http://127.0.0.1:9/v1", "list_models": false });
    world
        .owner
        .ok(Method::PUT, &world.path("/providers/local"), Some(provider))
        .await;

    // The catalog a read-only run is offered: the agent's read tools, no write tools.
    let catalog = world
        .owner
        .ok(
            Method::GET,
            &world.path(&format!("/tool-catalog?cluster={}&mode=read_only", reg.id)),
            None,
        )
        .await;
    let names: Vec<&str> = catalog
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["name"].as_str().unwrap())
        .collect();
    assert!(
        names.contains(&"get_events") && names.contains(&"get_pod_logs"),
        "{names:?}"
    );
    assert!(!names.contains(&"restart_workload"), "{names:?}");

    // A read-only run calls a read tool through the gateway and the real agent.
    let token = run_token(
        &world,
        &world.ws,
        &reg.id,
        "get_events,restart_workload",
        false,
    );
    let (status, body) = gateway_call(
        &world,
        &token,
        "get_events",
        json!({ "namespace": "crashloop" }),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["outcome"]["status"], "ok", "{body}");
    assert!(
        body["outcome"]["content"]
            .as_str()
            .unwrap()
            .contains("BackOff"),
        "{body}"
    );
    // A write tool in a read-only run is refused before the agent is asked.
    let (status, body) = gateway_call(
        &world,
        &token,
        "restart_workload",
        json!({ "kind": "Deployment", "namespace": "crashloop", "name": "checkout", "dry_run": true }),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(
        body["outcome"]["code"], "tool_write_in_read_only_run",
        "{body}"
    );
    // A tool outside the token's set.
    let (status, body) = gateway_call(&world, &token, "describe", json!({})).await;
    assert_eq!(
        (status, body["code"].as_str()),
        (403, Some("scope_tool_call_not_allowed")),
        "{body}"
    );

    // A read-write run's dry run goes through to the agent and changes nothing.
    let rw = run_token(&world, &world.ws, &reg.id, "restart_workload", true);
    let (status, body) = gateway_call(
        &world,
        &rw,
        "restart_workload",
        json!({ "kind": "Deployment", "namespace": "crashloop", "name": "checkout", "dry_run": true }),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["outcome"]["status"], "ok", "{body}");

    // A token of another workspace naming this cluster reaches nothing.
    let other = workspace_with(&world.owner, "elsewhere", &[]).await;
    world
        .owner
        .ok(
            Method::PUT,
            &format!("/api/v1/workspaces/{other}/providers/local"),
            Some(json!({ "kind": "openai", "base_url": "http://127.0.0.1:9/v1", "list_models": false })),
        )
        .await;
    let foreign = run_token(&world, &other, &reg.id, "get_events", false);
    let (status, body) = gateway_call(
        &world,
        &foreign,
        "get_events",
        json!({ "namespace": "crashloop" }),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["outcome"]["code"], "agent_disconnected", "{body}");
}
