//! Registration → generated manifest → a real agent connects → the appliance's picture matches
//! the simulator and follows its changes; reconnects after restarts and stream drops; pending
//! calls fail fast; two replicas elect one.

use std::time::{Duration, Instant};

use reqwest::Method;
use serde_json::{Value, json};

use super::World;
use crate::kubesim::sim::output_text;

/// `kubectl get KIND -A -o json` items, minus the namespaces the default filter excludes.
fn sim_items(world: &World, kind: &str) -> Vec<Value> {
    let out = world.sim.kubectl(&["get", kind, "-A", "-o", "json"]);
    assert!(out.status.success(), "{}", output_text(&out));
    let list: Value = serde_json::from_slice(&out.stdout).unwrap();
    list["items"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|o| {
            let excluded =
                |v: &Value| matches!(v.as_str(), Some("kube-node-lease" | "kube-public"));
            // Excluded namespaces are out of view, their own Namespace objects too.
            let out_of_view = excluded(&o["metadata"]["namespace"])
                || (kind == "namespaces" && excluded(&o["metadata"]["name"]));
            !out_of_view
        })
        .cloned()
        .collect()
}

fn names(items: &[Value], path: &str) -> Vec<String> {
    let mut out: Vec<String> = items
        .iter()
        .map(|o| {
            let ns = o[path]["namespace"].as_str().unwrap_or("");
            format!("{ns}/{}", o[path]["name"].as_str().unwrap())
        })
        .collect();
    out.sort();
    out
}

#[tokio::test]
async fn registered_cluster_links_and_its_picture_follows_the_simulator() {
    let world = World::new(&[]).await;
    let reg = world.register(json!({ "name": "prod" })).await;

    // The answer shows the key once and instructions that carry it.
    let key = reg.answer["agent_key"].as_str().unwrap();
    assert!(key.starts_with("acorn_agent_"), "{key}");
    assert_eq!(reg.settings.key, key);
    assert_eq!(reg.settings.ca_pem.trim(), world.app.ca_pem.trim());
    assert_eq!(
        reg.settings.var("ACORN_AGENT_APPLIANCE_URL"),
        Some(world.app.base_url.as_str())
    );
    let helm = reg.answer["install"]["helm_command"].as_str().unwrap();
    assert!(helm.contains("helm upgrade --install"), "{helm}");
    let view = world.cluster(&reg.id).await;
    assert_eq!(view["status"], "never_connected");
    assert!(
        !view.to_string().contains(key),
        "the key is shown only once"
    );

    let agent = world.agent(&reg.settings, "acorn-agent-0");
    let linked = world.wait_linked(&reg.id, &agent).await;
    assert_eq!(linked["agent"]["pod_name"], "acorn-agent-0");
    assert_eq!(linked["agent"]["write_enabled"], false);
    let nodes = sim_items(&world, "nodes");
    assert_eq!(linked["agent"]["facts"]["node_count"], nodes.len());
    assert!(
        linked["agent"]["facts"]["kubernetes_version"]
            .as_str()
            .unwrap()
            .starts_with('v')
    );
    let tools: Vec<(String, String)> = linked["tools"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| {
            assert!(t["input_schema"].is_object(), "{t}");
            (
                t["name"].as_str().unwrap().to_owned(),
                t["class"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    for (name, class) in [
        ("list_resources", "read"),
        ("get_resource", "read"),
        ("describe", "read"),
        ("get_events", "read"),
        ("get_pod_logs", "read"),
        ("top_pods", "read"),
        ("top_nodes", "read"),
        ("rollout_history", "read"),
        ("restart_workload", "write"),
        ("scale_workload", "write"),
        ("delete_pod", "write"),
        ("cordon_node", "write"),
        ("uncordon_node", "write"),
        ("patch_workload", "write"),
    ] {
        assert!(
            tools.contains(&(name.to_owned(), class.to_owned())),
            "{name} ({class}) missing from {tools:?}"
        );
    }

    // The picture holds exactly what the simulator serves, per kind.
    for (plural, kind) in [
        ("pods", "Pod"),
        ("nodes", "Node"),
        ("deployments", "Deployment"),
        ("services", "Service"),
        ("jobs", "Job"),
        ("persistentvolumeclaims", "PersistentVolumeClaim"),
        ("namespaces", "Namespace"),
    ] {
        let want = names(&sim_items(&world, plural), "metadata");
        let got: Vec<String> = {
            let mut v: Vec<String> = world
                .picture(&reg.id, kind)
                .await
                .iter()
                .map(|r| {
                    format!(
                        "{}/{}",
                        r["namespace"].as_str().unwrap_or(""),
                        r["name"].as_str().unwrap()
                    )
                })
                .collect();
            v.sort();
            v
        };
        assert_eq!(got, want, "{kind}");
    }
    let summary = world
        .owner
        .ok(
            Method::GET,
            &world.path(&format!("/clusters/{}/snapshot", reg.id)),
            None,
        )
        .await;
    assert_eq!(summary["counts"]["Pod"], sim_items(&world, "pods").len());
    assert!(summary["bytes"].as_u64().unwrap() > 0);

    // Spot check: the crash-looping pod carries its restart count and last termination.
    let pods = sim_items(&world, "pods");
    let crashing = pods
        .iter()
        .find(|p| p["metadata"]["namespace"] == "crashloop")
        .expect("crashloop pod");
    let name = crashing["metadata"]["name"].as_str().unwrap();
    let detail = world
        .owner
        .ok(
            Method::GET,
            &world.path(&format!(
                "/clusters/{}/resources/Pod/{name}?namespace=crashloop",
                reg.id
            )),
            None,
        )
        .await;
    assert_eq!(
        detail["object"]["status"]["containerStatuses"][0]["restartCount"],
        crashing["status"]["containerStatuses"][0]["restartCount"]
    );
    assert!(detail["object"]["metadata"]["managedFields"].is_null());

    // Events and metrics are part of the picture.
    let events = world
        .owner
        .ok(
            Method::GET,
            &world.path(&format!(
                "/clusters/{}/events?namespace=crashloop&involved_kind=Pod&involved_name={name}",
                reg.id
            )),
            None,
        )
        .await;
    assert!(
        events["items"]
            .as_array()
            .unwrap()
            .iter()
            .any(|e| e["object"]["reason"] == "BackOff"),
        "{events}"
    );
    let metrics = world
        .owner
        .ok(
            Method::GET,
            &world.path(&format!("/clusters/{}/metrics?kind=nodes", reg.id)),
            None,
        )
        .await;
    let sim_metrics = world
        .sim
        .get_json("/apis/metrics.k8s.io/v1beta1/nodes")
        .await;
    assert_eq!(
        metrics["items"].as_array().unwrap().len(),
        sim_metrics["items"].as_array().unwrap().len()
    );

    // A change in the cluster reaches the picture.
    let out = world.sim.kubectl(&[
        "label",
        "pod",
        "-n",
        "crashloop",
        name,
        "acorn.test/changed=yes",
    ]);
    assert!(out.status.success(), "{}", output_text(&out));
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let detail = world
            .owner
            .ok(
                Method::GET,
                &world.path(&format!(
                    "/clusters/{}/resources/Pod/{name}?namespace=crashloop",
                    reg.id
                )),
                None,
            )
            .await;
        if detail["object"]["metadata"]["labels"]["acorn.test/changed"] == "yes" {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the label never reached the picture: {detail}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let out = world
        .sim
        .kubectl(&["delete", "pod", "-n", "crashloop", name, "--wait=false"]);
    assert!(out.status.success(), "{}", output_text(&out));
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let pods = world.picture(&reg.id, "Pod").await;
        if !pods.iter().any(|p| p["name"] == name) {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the deleted pod stayed in the picture"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }

    // New settings reach the connected agent: with crashloop excluded, its objects leave the
    // picture after the agent reconnects with the new filter.
    world
        .owner
        .ok(
            Method::PATCH,
            &world.path(&format!("/clusters/{}", reg.id)),
            Some(json!({ "namespaces": { "exclude": ["kube-node-lease", "kube-public", "crashloop"] } })),
        )
        .await;
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let pods = world.picture(&reg.id, "Pod").await;
        let c = world.cluster(&reg.id).await;
        if c["status"] == "connected"
            && !pods.is_empty()
            && !pods.iter().any(|p| p["namespace"] == "crashloop")
        {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the new namespace filter never applied: {c}"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }

    // Connects are audited.
    let audit = world
        .owner
        .ok(Method::GET, &world.path("/audit?limit=100"), None)
        .await;
    assert!(
        audit["items"]
            .as_array()
            .unwrap()
            .iter()
            .any(|r| r["action"] == "agent.connected"),
        "{audit}"
    );
}

#[tokio::test]
async fn agent_reconnects_after_restarts_and_stream_drops_and_pending_calls_fail_fast() {
    let mut world = World::new(&["--scenario", "crashloop"]).await;
    let reg = world.register(json!({ "name": "prod" })).await;
    let mut agent = world.agent(&reg.settings, "acorn-agent-0");
    let first = world.wait_linked(&reg.id, &agent).await;

    // Watches dropped mid-stream: the agent re-watches and changes still arrive.
    world.sim.admin("POST", "drop-watches", None).await;
    let pod = sim_first_pod(&world, "crashloop");
    let out = world.sim.kubectl(&[
        "annotate",
        "pod",
        "-n",
        "crashloop",
        &pod,
        "acorn.test/after-drop=1",
    ]);
    assert!(out.status.success(), "{}", output_text(&out));
    wait_annotation(&world, &reg.id, &pod, "acorn.test/after-drop").await;

    // The appliance restarts: the agent comes back by itself and sends a fresh snapshot.
    world.app.restart().await;
    world.owner = crate::harness::identity::login(&world.app, "owner").await;
    let again = world
        .wait_cluster(&reg.id, 90, "reconnect after an appliance restart", |c| {
            c["status"] == "connected"
                && c["snapshot"]["complete_at"].as_str() > first["snapshot"]["complete_at"].as_str()
        })
        .await;
    assert_eq!(again["agent"]["pod_name"], "acorn-agent-0");

    // A slow Kubernetes API keeps a call pending; killing the agent fails it at once.
    world
        .sim
        .admin(
            "PUT",
            "faults",
            Some(&json!({ "delay_ms": 20_000 }).to_string()),
        )
        .await;
    let started = Instant::now();
    let pending = {
        let owner = world.owner.clone();
        let path = world.path(&format!("/clusters/{}/tools/get_events/call", reg.id));
        tokio::spawn(async move {
            owner
                .call(
                    Method::POST,
                    &path,
                    Some(
                        json!({ "arguments": { "namespace": "crashloop" }, "timeout_ms": 60_000 }),
                    ),
                )
                .await
        })
    };
    tokio::time::sleep(Duration::from_millis(1500)).await;
    agent.kill();
    let answer = pending.await.unwrap();
    answer.assert_error(503, "agent_disconnected");
    assert!(
        started.elapsed() < Duration::from_secs(10),
        "the pending call waited {:?}",
        started.elapsed()
    );
    world.sim.admin("DELETE", "faults", None).await;
    world
        .wait_cluster(&reg.id, 10, "disconnected", |c| {
            c["status"] == "disconnected"
        })
        .await;
    // A call to a disconnected cluster fails at once too.
    world
        .tool(&reg.id, "get_events", json!({}), "read_only")
        .await
        .assert_error(503, "agent_disconnected");
    // The status changes when the hub drops the connection; its audit record is written right
    // after, so wait for it briefly.
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let audit = world
            .owner
            .ok(Method::GET, &world.path("/audit?limit=100"), None)
            .await;
        let items = audit["items"].as_array().unwrap();
        if items.iter().any(|r| r["action"] == "agent.disconnected") {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "no agent.disconnected record: {audit}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

fn sim_first_pod(world: &World, ns: &str) -> String {
    let out = world.sim.kubectl(&["get", "pods", "-n", ns, "-o", "json"]);
    let list: Value = serde_json::from_slice(&out.stdout).unwrap();
    list["items"][0]["metadata"]["name"]
        .as_str()
        .unwrap()
        .to_owned()
}

async fn wait_annotation(world: &World, id: &str, pod: &str, annotation: &str) {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let answer = world
            .owner
            .call(
                Method::GET,
                &world.path(&format!(
                    "/clusters/{id}/resources/Pod/{pod}?namespace=crashloop"
                )),
                None,
            )
            .await;
        if !answer.body["object"]["metadata"]["annotations"][annotation].is_null() {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "{annotation} never reached the picture"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[tokio::test]
async fn two_replicas_elect_one_and_the_other_takes_over_within_20_s() {
    let world = World::new(&["--scenario", "healthy"]).await;
    let reg = world.register(json!({ "name": "ha" })).await;
    let settings = reg.settings.with("ACORN_AGENT_LEADER_ELECTION", "true");
    let mut a = world.agent(&settings, "acorn-agent-a");
    let mut b = world.agent(&settings, "acorn-agent-b");
    let linked = world.wait_linked(&reg.id, &a).await;
    let leader = linked["agent"]["pod_name"].as_str().unwrap().to_owned();

    // Both stay up, exactly one connects: no replacement, one connect in the audit log.
    tokio::time::sleep(Duration::from_secs(12)).await;
    assert!(a.running() && b.running());
    let audit = world
        .owner
        .ok(Method::GET, &world.path("/audit?limit=200"), None)
        .await;
    let actions: Vec<&str> = audit["items"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|r| r["action"].as_str())
        .collect();
    assert_eq!(
        actions.iter().filter(|a| **a == "agent.connected").count(),
        1,
        "{actions:?}"
    );
    assert!(!actions.contains(&"agent.replaced"), "{actions:?}");
    let follower_health = if leader == "acorn-agent-a" {
        &b.health
    } else {
        &a.health
    };
    let ready = reqwest::get(format!("{follower_health}/readyz"))
        .await
        .unwrap();
    assert_eq!(ready.status(), 200, "the follower stays ready");

    // Kill the leader without a goodbye: the follower takes over within 20 s.
    let killed = Instant::now();
    if leader == "acorn-agent-a" {
        a.kill();
    } else {
        b.kill();
    }
    let other = world
        .wait_cluster(&reg.id, 40, "failover", |c| {
            c["status"] == "connected" && c["agent"]["pod_name"] != leader.as_str()
        })
        .await;
    let took = killed.elapsed();
    assert!(
        took <= Duration::from_secs(20),
        "failover took {took:?}: {other}"
    );
}
