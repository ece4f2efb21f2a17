//! kube-rs watchers and reflectors (the agent's code paths) against the simulator: paginated
//! initial lists, an expired continue token, stream drops, forced 410 relists, 429/503 on
//! re-watch, and selector watches. After each disturbance the reflector must converge to the
//! simulator's state (names and resourceVersions).

use std::collections::BTreeSet;

use futures_util::StreamExt;
use k8s_openapi::api::core::v1::Pod;
use kube::api::{Api, DeleteParams, Patch, PatchParams, PostParams};
use kube::runtime::reflector::{self, Store};
use kube::runtime::{WatchStreamExt, watcher};
use serde_json::json;

use super::sim::{KubeSim, eventually};

/// (namespace/name, resourceVersion) of every pod the simulator lists for `query`.
async fn server_pods(sim: &KubeSim, query: &str) -> BTreeSet<(String, String)> {
    let list = sim.get_json(&format!("/api/v1/pods?{query}")).await;
    list["items"]
        .as_array()
        .expect("items")
        .iter()
        .map(|p| {
            let m = &p["metadata"];
            (
                format!(
                    "{}/{}",
                    m["namespace"].as_str().unwrap_or_default(),
                    m["name"].as_str().unwrap_or_default()
                ),
                m["resourceVersion"]
                    .as_str()
                    .unwrap_or_default()
                    .to_string(),
            )
        })
        .collect()
}

fn cached(reader: &Store<Pod>) -> BTreeSet<(String, String)> {
    reader
        .state()
        .iter()
        .map(|p| {
            (
                format!(
                    "{}/{}",
                    p.metadata.namespace.clone().unwrap_or_default(),
                    p.metadata.name.clone().unwrap_or_default()
                ),
                p.metadata.resource_version.clone().unwrap_or_default(),
            )
        })
        .collect()
}

async fn converged(sim: &KubeSim, reader: &Store<Pod>, query: &str, what: &str) {
    eventually(30, what, || async {
        cached(reader) == server_pods(sim, query).await
    })
    .await;
}

fn start_reflector(
    api: Api<Pod>,
    config: watcher::Config,
) -> (Store<Pod>, tokio::task::JoinHandle<()>) {
    let (reader, writer) = reflector::store();
    let stream = reflector::reflector(writer, watcher(api, config)).default_backoff();
    let task = tokio::spawn(stream.for_each(|_| async {}));
    (reader, task)
}

fn new_pod(name: &str) -> Pod {
    serde_json::from_value(json!({
        "metadata": {"name": name, "labels": {"app": "svc-001"}},
        "spec": {"containers": [{"name": "app", "image": "registry.example.com/app:1"}]},
    }))
    .expect("pod")
}

/// Creates, relabels and deletes a few pods (a burst of ADDED/MODIFIED/DELETED).
async fn churn(pods: &Api<Pod>, round: usize) {
    for i in 0..5 {
        pods.create(
            &PostParams::default(),
            &new_pod(&format!("churn-{round}-{i}")),
        )
        .await
        .expect("create");
    }
    let patch = Patch::Merge(json!({"metadata": {"labels": {"round": round.to_string()}}}));
    pods.patch(&format!("churn-{round}-0"), &PatchParams::default(), &patch)
        .await
        .expect("patch");
    pods.delete(&format!("churn-{round}-1"), &DeleteParams::default())
        .await
        .expect("delete");
}

#[tokio::test]
async fn reflector_converges_through_relists_and_drops() {
    let sim = KubeSim::start(&[
        "--scale-pods",
        "1200",
        "--scale-nodes",
        "5",
        "--watch-window",
        "100",
    ])
    .await;
    let client = sim.client().await;
    let pods: Api<Pod> = Api::namespaced(client.clone(), "scale");

    // The second page of the first list fails with the expired-continue 410: kube relists.
    sim.admin(
        "PUT",
        "faults",
        Some(r#"{"fail": {"code": 410, "times": 1, "path_contains": "continue="}}"#),
    )
    .await;
    let (reader, task) = start_reflector(
        Api::all(client.clone()),
        watcher::Config::default().page_size(100),
    );
    tokio::time::timeout(
        std::time::Duration::from_secs(30),
        reader.wait_until_ready(),
    )
    .await
    .expect("ready in time")
    .expect("ready");
    converged(&sim, &reader, "", "the initial paginated list").await;
    assert_eq!(reader.state().len(), 1200);
    // Page 1, then (the injected 410 is answered before routing, so not counted) a relist of 12 pages.
    assert!(
        sim.count("list").await >= 13,
        "a full relist after the expired continue"
    );

    churn(&pods, 1).await;
    converged(&sim, &reader, "", "live events").await;

    // A clean stream end: kube re-watches from its version, no relist.
    let lists = sim.count("list").await;
    let watches = sim.count("watch").await;
    sim.admin("POST", "drop-watches?clean=true", None).await;
    churn(&pods, 2).await;
    converged(&sim, &reader, "", "after a clean stream end").await;
    eventually(10, "a new watch", || async {
        sim.count("watch").await > watches
    })
    .await;
    assert_eq!(
        sim.count("list").await,
        lists,
        "no relist after a clean stream end"
    );

    // An abrupt drop (connection reset mid-stream).
    sim.admin("POST", "drop-watches", None).await;
    churn(&pods, 3).await;
    converged(&sim, &reader, "", "after an abrupt drop").await;

    // Compaction: the re-watch gets the in-stream 410 and kube relists.
    let lists = sim.count("list").await;
    sim.admin("POST", "compact", None).await;
    churn(&pods, 4).await;
    converged(&sim, &reader, "", "after a forced 410").await;
    eventually(10, "a relist", || async { sim.count("list").await > lists }).await;

    // Throttling and an unavailable server on the re-watch: backoff, then convergence.
    sim.admin("PUT", "faults", Some(r#"{"fail": {"code": 429, "times": 2, "retry_after": 1, "path_contains": "watch=true"}}"#)).await;
    sim.admin("POST", "drop-watches?clean=true", None).await;
    churn(&pods, 5).await;
    converged(&sim, &reader, "", "after 429s").await;
    sim.admin(
        "PUT",
        "faults",
        Some(r#"{"fail": {"code": 503, "times": 1, "path_contains": "watch=true"}}"#),
    )
    .await;
    sim.admin("POST", "drop-watches?clean=true", None).await;
    churn(&pods, 6).await;
    converged(&sim, &reader, "", "after a 503").await;
    task.abort();
}

#[tokio::test]
async fn selector_watch_sees_objects_leave_and_enter() {
    let sim = KubeSim::start(&["--scale-pods", "400", "--scale-nodes", "2"]).await;
    let client = sim.client().await;
    let pods: Api<Pod> = Api::namespaced(client.clone(), "scale");
    let (reader, task) = start_reflector(
        pods.clone(),
        watcher::Config::default()
            .labels("app=svc-001")
            .page_size(3),
    );
    tokio::time::timeout(
        std::time::Duration::from_secs(30),
        reader.wait_until_ready(),
    )
    .await
    .expect("ready in time")
    .expect("ready");
    let query = "labelSelector=app%3Dsvc-001";
    converged(&sim, &reader, query, "the selected pods").await;
    assert_eq!(
        reader.state().len(),
        2,
        "pods 1 and 201 of 400 carry app=svc-001"
    );

    let name = reader.state()[0].metadata.name.clone().unwrap_or_default();
    pods.patch(
        &name,
        &PatchParams::default(),
        &Patch::Merge(json!({"metadata": {"labels": {"app": "moved"}}})),
    )
    .await
    .expect("relabel");
    converged(&sim, &reader, query, "a pod leaving the selector").await;
    assert_eq!(reader.state().len(), 1);
    pods.patch(
        &name,
        &PatchParams::default(),
        &Patch::Merge(json!({"metadata": {"labels": {"app": "svc-001"}}})),
    )
    .await
    .expect("relabel back");
    converged(&sim, &reader, query, "a pod entering the selector").await;
    assert_eq!(reader.state().len(), 2);
    task.abort();
}

#[tokio::test]
async fn streaming_list_watcher_converges() {
    let sim = KubeSim::start(&["--scale-pods", "300", "--scale-nodes", "2"]).await;
    let client = sim.client().await;
    let pods: Api<Pod> = Api::namespaced(client.clone(), "scale");
    // sendInitialEvents=true: ADDED for the state, then a BOOKMARK marked initial-events-end.
    let (reader, task) = start_reflector(
        Api::all(client.clone()),
        watcher::Config::default().streaming_lists(),
    );
    tokio::time::timeout(
        std::time::Duration::from_secs(30),
        reader.wait_until_ready(),
    )
    .await
    .expect("ready in time")
    .expect("ready");
    converged(&sim, &reader, "", "the streamed initial state").await;
    assert_eq!(reader.state().len(), 300);
    assert_eq!(sim.count("list").await, 0, "a streaming list never lists");
    churn(&pods, 1).await;
    converged(&sim, &reader, "", "live events after a streaming list").await;
    task.abort();
}

#[tokio::test]
async fn kube_discovery_sees_builtin_and_custom_groups() {
    let sim = KubeSim::start(&["--scenario", "healthy"]).await;
    let client = sim.client().await;
    let discovery = kube::discovery::Discovery::new(client.clone())
        .run()
        .await
        .expect("discovery");
    let plurals = |group: &str| -> Vec<String> {
        discovery
            .get(group)
            .map(|g| {
                g.recommended_resources()
                    .into_iter()
                    .map(|(r, _)| r.plural)
                    .collect()
            })
            .unwrap_or_default()
    };
    assert!(plurals("").contains(&"pods".to_string()));
    assert!(plurals("apps").contains(&"deployments".to_string()));
    assert!(plurals("coordination.k8s.io").contains(&"leases".to_string()));
    assert!(plurals("metrics.k8s.io").contains(&"pods".to_string()));
    assert!(plurals("cert-manager.io").contains(&"certificates".to_string()));
    let version = client.apiserver_version().await.expect("version");
    assert_eq!(version.git_version, "v1.32.4");
}
