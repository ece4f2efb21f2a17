//! The cluster link with real binaries: `acorn` (registration, agent hub, picture, tool calls),
//! `acorn-agent` configured from the manifest the appliance generated, and `acorn-kubesim` as
//! the cluster.
//!
//! Layout:
//! - `link`: register → install manifest → agent connects → picture matches the simulator →
//!   changes reach the appliance; restarts and stream drops; replicas with leader election.
//! - `tools`: every builtin tool against the scenario library, with the refusals.
//! - `bad_input`: keys, CA pinning, raw tunnel frames, registration bodies.
//! - `gateway`: a run JWT reaches the agent's builtin tools through the gateway, within scope.

mod bad_input;
mod gateway;
mod link;
mod tools;

use std::time::{Duration, Instant};

use reqwest::Method;
use serde_json::{Value, json};

use crate::harness::agent::{Agent, InstallSettings};
use crate::harness::appliance::{Appliance, StartOptions};
use crate::harness::identity::{Answer, User, user, workspace_with};
use crate::kubesim::sim::KubeSim;

/// An appliance with an owner and a workspace, and a simulated cluster.
pub struct World {
    pub app: Appliance,
    pub owner: User,
    pub ws: String,
    pub sim: KubeSim,
    pub dir: tempfile::TempDir,
}

/// A registered cluster: its id and what its install manifest configures.
pub struct Registered {
    pub id: String,
    pub answer: Value,
    pub settings: InstallSettings,
}

impl World {
    /// The appliance and the simulator with `sim_args` (e.g. `["--scenario", "crashloop"]`).
    pub async fn new(sim_args: &[&str]) -> World {
        World::with_options(sim_args, StartOptions::default()).await
    }

    /// Like [`World::new`], with the appliance started with `options` (configuration).
    pub async fn with_options(sim_args: &[&str], options: StartOptions) -> World {
        let app = Appliance::start_with(options).await;
        let owner = user(&app, "owner").await;
        let ws = workspace_with(&owner, "platform", &[]).await;
        let sim = KubeSim::start(sim_args).await;
        World {
            app,
            owner,
            ws,
            sim,
            dir: tempfile::tempdir().unwrap(),
        }
    }

    pub fn path(&self, rest: &str) -> String {
        format!("/api/v1/workspaces/{}{rest}", self.ws)
    }

    /// Registers a cluster with `body` and reads its install manifest.
    pub async fn register(&self, body: Value) -> Registered {
        let answer = self
            .owner
            .ok(Method::POST, &self.path("/clusters"), Some(body))
            .await;
        let id = answer["cluster"]["id"].as_str().unwrap().to_owned();
        let dir = self.dir.path().join(&id);
        std::fs::create_dir_all(&dir).unwrap();
        let manifest = answer["install"]["manifest"].as_str().unwrap();
        let settings = InstallSettings::from_manifest(manifest, &dir);
        // The manifest is what an operator applies: the simulated cluster accepts every object
        // (namespace, service account, RBAC, Secret, ConfigMap, Deployment).
        let file = dir.join("manifest.yaml");
        std::fs::write(&file, manifest).unwrap();
        let out = self
            .sim
            .kubectl(&["create", "--validate=false", "-f", file.to_str().unwrap()]);
        assert!(
            out.status.success(),
            "kubectl create -f manifest: {}",
            crate::kubesim::sim::output_text(&out)
        );
        Registered {
            id,
            answer,
            settings,
        }
    }

    /// Starts an agent with a registration's settings against the simulator.
    pub fn agent(&self, settings: &InstallSettings, pod: &str) -> Agent {
        Agent::start(settings, &self.sim.kubeconfig(), pod)
    }

    pub async fn cluster(&self, id: &str) -> Value {
        self.owner
            .ok(Method::GET, &self.path(&format!("/clusters/{id}")), None)
            .await
    }

    /// Waits until the cluster is connected and its first full snapshot is stored.
    pub async fn wait_linked(&self, id: &str, agent: &Agent) -> Value {
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            let c = self.cluster(id).await;
            if c["status"] == "connected" && c["snapshot"]["complete_at"].is_string() {
                return c;
            }
            assert!(
                Instant::now() < deadline,
                "cluster {id} not linked within 60 s: {c}\nagent logs: {:#?}",
                agent.logs()
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// Polls the cluster view until `check` holds.
    pub async fn wait_cluster(
        &self,
        id: &str,
        secs: u64,
        what: &str,
        check: impl Fn(&Value) -> bool,
    ) -> Value {
        let deadline = Instant::now() + Duration::from_secs(secs);
        loop {
            let c = self.cluster(id).await;
            if check(&c) {
                return c;
            }
            assert!(
                Instant::now() < deadline,
                "timed out waiting for {what}: {c}"
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// Calls a tool through the API.
    pub async fn tool(&self, id: &str, tool: &str, arguments: Value, mode: &str) -> Answer {
        self.tool_as(&self.owner, id, tool, arguments, mode).await
    }

    pub async fn tool_as(
        &self,
        who: &User,
        id: &str,
        tool: &str,
        arguments: Value,
        mode: &str,
    ) -> Answer {
        who.call(
            Method::POST,
            &self.path(&format!("/clusters/{id}/tools/{tool}/call")),
            Some(json!({ "arguments": arguments, "mode": mode })),
        )
        .await
    }

    /// Every object of a kind in the appliance's picture (all pages).
    pub async fn picture(&self, id: &str, kind: &str) -> Vec<Value> {
        let mut out = Vec::new();
        let mut cursor: Option<String> = None;
        loop {
            let mut path = self.path(&format!("/clusters/{id}/resources?kind={kind}&limit=500"));
            if let Some(c) = &cursor {
                path.push_str(&format!("&cursor={c}"));
            }
            let page = self.owner.ok(Method::GET, &path, None).await;
            out.extend(page["items"].as_array().unwrap().iter().cloned());
            match page["next_cursor"].as_str() {
                Some(c) => cursor = Some(c.to_owned()),
                None => return out,
            }
        }
    }
}
