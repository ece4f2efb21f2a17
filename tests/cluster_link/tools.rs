//! Every builtin tool through the appliance's API, the real agent and the simulator's scenario
//! library, as one table; then the refusals (RBAC, not found, arguments, modes, settings) and
//! the promise that Secret data never reaches the appliance.

use std::time::Duration;

use reqwest::Method;
use serde_json::{Value, json};

use super::World;
use crate::harness::identity::{Answer, add_members, user};
use crate::kubesim::sim::output_text;

/// `(tool, arguments, texts the output must contain)`.
fn read_cases() -> Vec<(&'static str, Value, Vec<&'static str>)> {
    vec![
        (
            "list_resources",
            json!({ "kind": "Pod", "namespace": "crashloop" }),
            vec!["checkout-7c9d8f6b5-x2k4p", "CrashLoopBackOff"],
        ),
        (
            "get_resource",
            json!({ "kind": "Deployment", "namespace": "crashloop", "name": "checkout" }),
            vec!["kind: Deployment", "MAX_CONNECTIONS"],
        ),
        (
            "describe",
            json!({ "kind": "Pod", "namespace": "imagepull", "name": "frontend-5f6d7c8b9-9wq7m" }),
            vec![
                "ImagePullBackOff",
                "Failed",
                "ReplicaSet/frontend-5f6d7c8b9",
                "Deployment/frontend",
            ],
        ),
        (
            "get_events",
            json!({ "namespace": "job-backoff" }),
            vec!["BackoffLimitExceeded"],
        ),
        (
            "get_pod_logs",
            json!({ "namespace": "crashloop", "pod": "checkout-7c9d8f6b5-x2k4p", "previous": true }),
            vec!["invalid value for MAX_CONNECTIONS"],
        ),
        (
            "top_pods",
            json!({ "namespace": "oomkilled" }),
            vec!["report-worker-6b8c9d7f4-q8r2n"],
        ),
        ("top_nodes", json!({}), vec!["worker-1", "worker-2"]),
        (
            "rollout_history",
            json!({ "kind": "Deployment", "namespace": "crashloop", "name": "checkout" }),
            vec!["checkout-7c9d8f6b5"],
        ),
    ]
}

/// `(tool, arguments, status, code)` of calls that must be refused.
fn refusal_cases() -> Vec<(&'static str, Value, &'static str, u16, &'static str)> {
    vec![
        (
            "get_resource",
            json!({ "kind": "Pod", "namespace": "crashloop", "name": "nope" }),
            "read_only",
            404,
            "tool_object_not_found",
        ),
        (
            "get_resource",
            json!({ "kind": "Pod", "name": 7 }),
            "read_only",
            400,
            "tool_arguments_invalid",
        ),
        (
            "get_events",
            json!({ "namespace": "crashloop", "verbose": true }),
            "read_only",
            400,
            "tool_arguments_invalid",
        ),
        (
            "get_pod_logs",
            json!({ "namespace": "crashloop" }),
            "read_only",
            400,
            "tool_arguments_invalid",
        ),
        ("exec_shell", json!({}), "read_only", 404, "tool_unknown"),
        (
            "delete_pod",
            json!({ "namespace": "crashloop", "name": "checkout-7c9d8f6b5-x2k4p", "dry_run": false }),
            "read_only",
            403,
            "tool_write_in_read_only_run",
        ),
        (
            "get_events",
            json!({ "namespace": "kube-public" }),
            "read_only",
            403,
            "tool_namespace_excluded",
        ),
        (
            "scale_workload",
            json!({ "kind": "Deployment", "namespace": "crashloop", "name": "checkout", "replicas": 0, "dry_run": false }),
            "read_write",
            400,
            "tool_arguments_invalid",
        ),
    ]
}

fn content(answer: &Answer) -> &str {
    answer.body["content"].as_str().unwrap_or("")
}

#[tokio::test]
async fn builtin_tools_answer_from_the_scenarios_and_refuse_what_they_must() {
    let world = World::new(&[]).await;
    // A Secret planted before the agent starts: its value must never reach the appliance.
    let planted = "planted-secret-value-3f9a1c";
    let secret = json!({
        "apiVersion": "v1", "kind": "Secret",
        "metadata": { "name": "db-credentials", "namespace": "crashloop" },
        "type": "Opaque",
        "stringData": { "password": planted }
    });
    let file = world.dir.path().join("secret.json");
    std::fs::write(&file, secret.to_string()).unwrap();
    let out = world
        .sim
        .kubectl(&["create", "--validate=false", "-f", file.to_str().unwrap()]);
    assert!(out.status.success(), "{}", output_text(&out));

    let reg = world
        .register(json!({ "name": "tools", "write_allowed": true }))
        .await;
    assert_eq!(reg.settings.var("ACORN_AGENT_WRITE_ENABLED"), Some("true"));
    let agent = world.agent(&reg.settings, "acorn-agent-0");
    world.wait_linked(&reg.id, &agent).await;

    for (tool, args, must) in read_cases() {
        let answer = world.tool(&reg.id, tool, args.clone(), "read_only").await;
        assert_eq!(answer.status, 200, "{tool} {args}: {}", answer.body);
        for text in must {
            assert!(
                content(&answer).contains(text),
                "{tool} {args}: output lacks {text:?}:\n{}",
                content(&answer)
            );
        }
    }
    for (tool, args, mode, status, code) in refusal_cases() {
        let answer = world.tool(&reg.id, tool, args.clone(), mode).await;
        assert_eq!(
            (answer.status.as_u16(), answer.code()),
            (status, code),
            "{tool} {args} ({mode}): {}",
            answer.body
        );
    }

    // Kubernetes RBAC denies the agent: a typed error with Kubernetes' own message.
    world
        .sim
        .admin(
            "PUT",
            "rbac",
            Some(
                &json!([{ "verbs": ["get"], "resource": "pods/log", "namespace": "crashloop" }])
                    .to_string(),
            ),
        )
        .await;
    let answer = world
        .tool(
            &reg.id,
            "get_pod_logs",
            json!({ "namespace": "crashloop", "pod": "checkout-7c9d8f6b5-x2k4p" }),
            "read_only",
        )
        .await;
    answer.assert_error(403, "tool_forbidden_by_rbac");
    assert!(
        answer.body["message"]
            .as_str()
            .unwrap()
            .contains("forbidden"),
        "{}",
        answer.body
    );
    world.sim.admin("PUT", "rbac", Some("[]")).await;

    // Write tools: a dry run shows the difference and changes nothing; a real call changes it.
    let dry = world
        .tool(
            &reg.id,
            "scale_workload",
            json!({ "kind": "Deployment", "namespace": "crashloop", "name": "checkout", "replicas": 3, "dry_run": true }),
            "read_write",
        )
        .await;
    assert_eq!(dry.status, 200, "{}", dry.body);
    assert!(content(&dry).contains('3'), "{}", content(&dry));
    let replicas = |world: &World| {
        let out = world.sim.kubectl(&[
            "get",
            "deployment",
            "-n",
            "crashloop",
            "checkout",
            "-o",
            "jsonpath={.spec.replicas}",
        ]);
        String::from_utf8_lossy(&out.stdout).into_owned()
    };
    assert_eq!(replicas(&world), "1", "a dry run changes nothing");
    let real = world
        .tool(
            &reg.id,
            "scale_workload",
            json!({ "kind": "Deployment", "namespace": "crashloop", "name": "checkout", "replicas": 2, "dry_run": false }),
            "read_write",
        )
        .await;
    assert_eq!(real.status, 200, "{}", real.body);
    assert_eq!(replicas(&world), "2");
    let audit = world
        .owner
        .ok(Method::GET, &world.path("/audit?limit=100"), None)
        .await;
    assert!(
        audit["items"]
            .as_array()
            .unwrap()
            .iter()
            .any(|r| r["action"] == "tool.call" && r["metadata"]["tool"] == "scale_workload"),
        "write calls are audited: {audit}"
    );

    // Operators run read-only calls but not read-write ones; viewers neither.
    let operator = user(&world.app, "operator").await;
    let viewer = user(&world.app, "viewer").await;
    add_members(
        &world.owner,
        &world.ws,
        &[(&operator, "operator"), (&viewer, "viewer")],
    )
    .await;
    let events = json!({ "namespace": "crashloop" });
    assert_eq!(
        world
            .tool_as(
                &operator,
                &reg.id,
                "get_events",
                events.clone(),
                "read_only"
            )
            .await
            .status,
        200
    );
    world
        .tool_as(
            &operator,
            &reg.id,
            "restart_workload",
            json!({}),
            "read_write",
        )
        .await
        .assert_error(403, "forbidden");
    world
        .tool_as(&viewer, &reg.id, "get_events", events, "read_only")
        .await
        .assert_error(403, "forbidden");

    // The cluster's settings: logs off, writes off. The connected agent gets them at once (it
    // reconnects to apply them).
    let before = world.cluster(&reg.id).await["agent"]["connected_at"].clone();
    world
        .owner
        .ok(
            Method::PATCH,
            &world.path(&format!("/clusters/{}", reg.id)),
            Some(json!({ "logs_allowed": false, "write_allowed": false })),
        )
        .await;
    world
        .wait_cluster(
            &reg.id,
            30,
            "the agent reconnects with the new settings",
            |c| c["status"] == "connected" && c["agent"]["connected_at"] != before,
        )
        .await;
    world
        .tool(
            &reg.id,
            "get_pod_logs",
            json!({ "namespace": "crashloop", "pod": "checkout-7c9d8f6b5-x2k4p" }),
            "read_only",
        )
        .await
        .assert_error(403, "tool_logs_not_allowed");
    world
        .tool(
            &reg.id,
            "restart_workload",
            json!({ "kind": "Deployment", "namespace": "crashloop", "name": "checkout", "dry_run": true }),
            "read_write",
        )
        .await
        .assert_error(403, "tool_writes_disabled");

    // Tool output about the Secret shows its keys, never its value.
    let answer = world
        .tool(
            &reg.id,
            "get_resource",
            json!({ "kind": "Secret", "namespace": "crashloop", "name": "db-credentials" }),
            "read_only",
        )
        .await;
    assert_eq!(answer.status, 200, "{}", answer.body);
    assert!(
        content(&answer).contains("password"),
        "{}",
        content(&answer)
    );
    assert!(!answer.body.to_string().contains(planted));

    // Nothing in the appliance's store holds the planted value, in clear or base64.
    tokio::time::sleep(Duration::from_millis(500)).await;
    let store = std::fs::read(world.app.state_dir.join("acorn.redb")).unwrap();
    use base64::Engine;
    let encoded = base64::engine::general_purpose::STANDARD.encode(planted);
    for needle in [planted.as_bytes(), encoded.as_bytes()] {
        assert!(
            !store.windows(needle.len()).any(|w| w == needle),
            "the store holds the planted Secret value"
        );
    }
    let logs: String = world.app.logs().iter().map(Value::to_string).collect();
    assert!(!logs.contains(planted));
    let agent_logs: String = agent.logs().iter().map(Value::to_string).collect();
    assert!(!agent_logs.contains(planted));
}

#[tokio::test]
async fn write_tools_need_the_agent_flag_even_when_the_cluster_allows_them() {
    let world = World::new(&["--scenario", "crashloop"]).await;
    let reg = world
        .register(json!({ "name": "flagless", "write_allowed": true }))
        .await;
    let settings = reg.settings.with("ACORN_AGENT_WRITE_ENABLED", "false");
    let agent = world.agent(&settings, "acorn-agent-0");
    let linked = world.wait_linked(&reg.id, &agent).await;
    assert_eq!(linked["agent"]["write_enabled"], false);
    world
        .tool(
            &reg.id,
            "delete_pod",
            json!({ "namespace": "crashloop", "name": "checkout-7c9d8f6b5-x2k4p", "dry_run": false }),
            "read_write",
        )
        .await
        .assert_error(403, "tool_writes_disabled");
    let out = world
        .sim
        .kubectl(&["get", "pod", "-n", "crashloop", "checkout-7c9d8f6b5-x2k4p"]);
    assert!(
        out.status.success(),
        "the pod is still there: {}",
        output_text(&out)
    );
}
