//! Findings in the appliance with real binaries: `acorn` (findings service, API, auto-triage,
//! `acorn analyze`), `acorn-agent` and `acorn-kubesim`.
//!
//! Layout:
//! - `api`: the crashloop scenario's finding with its evidence through a real agent; filters
//!   and their errors; the lifecycle of a pod that recovers, flaps and comes back;
//! - `analyze`: `acorn analyze` on scenario folders and on a live (simulated) cluster through a
//!   kubeconfig, table and JSON, and its errors;
//! - `triage`: auto-triage starts exactly one read-only run per critical finding lifecycle,
//!   with the findings in the run's system prompt.

mod analyze;
mod api;
mod triage;

use std::time::{Duration, Instant};

use reqwest::Method;
use serde_json::Value;

use crate::cluster_link::World;
use crate::harness::appliance::StartOptions;

/// Fast re-evaluation for tests: the service's loop ticks every second anyway.
pub fn fast_config(resolve_after: &str, extra: &str) -> String {
    format!(
        "version = 1\n{extra}\n[findings]\ninterval = \"2s\"\ndebounce = \"1s\"\nresolve_after = \"{resolve_after}\"\n"
    )
}

/// The appliance (with `config`) and the simulator with `scenario`.
pub async fn world(scenario: &str, config: String) -> World {
    World::with_options(
        &["--scenario", scenario],
        StartOptions {
            config: Some(config),
            ..Default::default()
        },
    )
    .await
}

/// `GET …/clusters/{id}/findings` with a query string; the items.
pub async fn findings(world: &World, cluster: &str, query: &str) -> Vec<Value> {
    world
        .owner
        .ok(
            Method::GET,
            &world.path(&format!("/clusters/{cluster}/findings{query}")),
            None,
        )
        .await["items"]
        .as_array()
        .unwrap()
        .clone()
}

/// Polls the cluster's findings until `check` holds; returns them.
pub async fn wait_findings(
    world: &World,
    cluster: &str,
    secs: u64,
    what: &str,
    check: impl Fn(&[Value]) -> bool,
) -> Vec<Value> {
    let deadline = Instant::now() + Duration::from_secs(secs);
    loop {
        let items = findings(world, cluster, "").await;
        if check(&items) {
            return items;
        }
        assert!(
            Instant::now() < deadline,
            "timed out waiting for {what}: {items:#?}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// The finding of `rule` on `object` (`Kind/ns/name`), if listed.
pub fn find<'a>(items: &'a [Value], rule: &str, object: &str) -> Option<&'a Value> {
    items.iter().find(|f| {
        f["rule"] == rule && {
            let o = &f["objects"][0];
            let shown = match o["namespace"].as_str() {
                Some(ns) => format!(
                    "{}/{ns}/{}",
                    o["kind"].as_str().unwrap_or(""),
                    o["name"].as_str().unwrap_or("")
                ),
                None => format!(
                    "{}/{}",
                    o["kind"].as_str().unwrap_or(""),
                    o["name"].as_str().unwrap_or("")
                ),
            };
            shown == object
        }
    })
}
