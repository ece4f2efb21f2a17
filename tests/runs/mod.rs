//! Sessions and runs with real binaries: `acorn` (engine, gateway, runs API), `acorn-agent`
//! against `acorn-kubesim`, and a scripted model speaking OpenAI's streaming wire format.
//!
//! Layout:
//! - `model`: the scripted model;
//! - `flows`: a CrashLoopBackOff investigation streamed over SSE, stored, exported as evidence;
//!   read-write runs with approval (approve, reject, timeout; read-only runs never reach one);
//! - `limits`: loop guard, every limit, invalid tool calls, cancellation mid-stream and
//!   mid-tool-call, agent disconnect mid-run, kill -9 mid-run;
//! - `bad_input`: hostile requests to the runs API;
//! - `search`: full-text search of runs, workspace isolation, syntax errors, index rebuilds.

mod bad_input;
mod flows;
mod limits;
pub mod model;
mod search;

use std::time::{Duration, Instant};

use reqwest::Method;
use serde_json::{Value, json};

use crate::cluster_link::{Registered, World};
use crate::gateway::upstream::Upstream;
use crate::harness::agent::Agent;
use crate::harness::appliance::StartOptions;
use crate::harness::identity::Answer;
use model::Turn;

/// The crash-looping pod of the `crashloop` scenario.
pub const POD: &str = "checkout-7c9d8f6b5-x2k4p";

/// A linked cluster, a scripted model configured as the workspace's default, one session.
pub struct RunWorld {
    pub world: World,
    pub model: Upstream,
    pub cluster: Registered,
    pub agent: Agent,
    pub session: String,
}

impl RunWorld {
    /// `engine_toml`: extra lines of the `[engine]` section.
    pub async fn new(turns: Vec<Turn>, write_allowed: bool, engine_toml: &str) -> RunWorld {
        let config = format!("version = 1\n[engine]\n{engine_toml}\n");
        RunWorld::with_config(turns, write_allowed, config, &["--scenario", "crashloop"]).await
    }

    /// Like [`RunWorld::new`] with a whole configuration file and the simulator's arguments.
    pub async fn with_config(
        turns: Vec<Turn>,
        write_allowed: bool,
        config: String,
        sim_args: &[&str],
    ) -> RunWorld {
        let model = model::start(turns).await;
        let world = World::with_options(
            sim_args,
            StartOptions {
                config: Some(config),
                ..Default::default()
            },
        )
        .await;
        let cluster = world
            .register(json!({ "name": "prod", "write_allowed": write_allowed }))
            .await;
        let agent = world.agent(&cluster.settings, "acorn-agent-0");
        world.wait_linked(&cluster.id, &agent).await;
        let provider = json!({
            "kind": "openai",
            "base_url": format!("http://127.0.0.1:{}/v1", model.port),
            "list_models": false,
            "models": [{"id": "scripted-model", "context_window": 64000,
                        "input_price_per_mtok": 1.0, "output_price_per_mtok": 2.0}],
        });
        world
            .owner
            .ok(
                Method::PUT,
                &world.path("/providers/scripted"),
                Some(provider),
            )
            .await;
        world
            .owner
            .ok(
                Method::PUT,
                &world.path("/run-settings"),
                Some(json!({"provider": "scripted", "model": "scripted-model"})),
            )
            .await;
        let session = world
            .owner
            .ok(
                Method::POST,
                &world.path("/sessions"),
                Some(json!({"cluster_id": cluster.id, "title": "checkout"})),
            )
            .await["id"]
            .as_str()
            .unwrap()
            .to_owned();
        RunWorld {
            world,
            model,
            cluster,
            agent,
            session,
        }
    }

    /// The model plays `turns` from now on (its request count starts again at 0).
    pub fn play(&self, turns: Vec<Turn>) {
        self.model.clear();
        self.model.set(model::script(turns));
    }

    /// Posts a message in the session as the owner.
    pub async fn ask(&self, content: &str, extra: Value) -> Answer {
        let mut body = json!({ "content": content });
        if let (Some(b), Some(e)) = (body.as_object_mut(), extra.as_object()) {
            for (k, v) in e {
                b.insert(k.clone(), v.clone());
            }
        }
        self.world
            .owner
            .call(
                Method::POST,
                &self
                    .world
                    .path(&format!("/sessions/{}/messages", self.session)),
                Some(body),
            )
            .await
    }

    /// Posts a message that must be accepted; returns the run id.
    pub async fn start_run(&self, content: &str, extra: Value) -> String {
        let answer = self.ask(content, extra).await;
        assert_eq!(answer.status, 201, "{}", answer.body);
        assert_eq!(answer.body["state"], "queued", "{}", answer.body);
        answer.body["id"].as_str().unwrap().to_owned()
    }

    pub async fn run(&self, id: &str) -> Value {
        self.world
            .owner
            .ok(Method::GET, &self.world.path(&format!("/runs/{id}")), None)
            .await
    }

    /// Polls the run until `check` holds.
    pub async fn wait_run(
        &self,
        id: &str,
        secs: u64,
        what: &str,
        check: impl Fn(&Value) -> bool,
    ) -> Value {
        let deadline = Instant::now() + Duration::from_secs(secs);
        loop {
            let r = self.run(id).await;
            if check(&r) {
                return r;
            }
            assert!(
                Instant::now() < deadline,
                "timed out waiting for {what}: {r}"
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// Waits for the run to end; returns it.
    pub async fn wait_end(&self, id: &str) -> Value {
        self.wait_run(id, 60, "the run's end", |r| {
            ["completed", "failed", "cancelled", "timed_out"]
                .contains(&r["state"].as_str().unwrap_or(""))
        })
        .await
    }

    pub async fn events(&self, id: &str) -> Vec<Value> {
        self.world
            .owner
            .ok(
                Method::GET,
                &self.world.path(&format!("/runs/{id}/events")),
                None,
            )
            .await
            .as_array()
            .unwrap()
            .clone()
    }

    /// The events of `kind`.
    pub async fn events_of(&self, id: &str, kind: &str) -> Vec<Value> {
        self.events(id)
            .await
            .into_iter()
            .filter(|e| e["kind"] == kind)
            .collect()
    }

    /// Reads the run's SSE stream until the server closes it: `(id, event, data)`.
    pub async fn sse(&self, id: &str, last_event_id: Option<u64>) -> Vec<(u64, String, Value)> {
        let mut request = self
            .world
            .app
            .client
            .get(
                self.world
                    .app
                    .url(&self.world.path(&format!("/runs/{id}/stream"))),
            )
            .header(
                "cookie",
                format!("__Host-acorn_session={}", self.world.owner.cookie),
            );
        if let Some(last) = last_event_id {
            request = request.header("last-event-id", last.to_string());
        }
        let mut response = request.send().await.unwrap();
        assert_eq!(response.status(), 200);
        assert!(
            response.headers()["content-type"]
                .to_str()
                .unwrap()
                .starts_with("text/event-stream")
        );
        let mut text = String::new();
        let read = async {
            while let Some(chunk) = response.chunk().await.unwrap() {
                text.push_str(&String::from_utf8_lossy(&chunk));
            }
        };
        tokio::time::timeout(Duration::from_secs(90), read)
            .await
            .expect("the stream ends with the run");
        parse_sse(&text)
    }

    /// The deployment's objects, as the simulator has them.
    pub async fn deployment(&self) -> Value {
        self.world
            .sim
            .get_json("/apis/apps/v1/namespaces/crashloop/deployments/checkout")
            .await
    }
}

/// Parses an event stream into `(id, event, data)`; comments (keep-alives) are skipped.
pub fn parse_sse(text: &str) -> Vec<(u64, String, Value)> {
    let mut out = Vec::new();
    for block in text.split("\n\n") {
        let (mut id, mut event, mut data) = (None, String::new(), String::new());
        for line in block.lines() {
            if let Some(v) = line.strip_prefix("id:") {
                id = v.trim().parse().ok();
            } else if let Some(v) = line.strip_prefix("event:") {
                event = v.trim().to_owned();
            } else if let Some(v) = line.strip_prefix("data:") {
                data.push_str(v.trim_start());
            }
        }
        if let Some(id) = id {
            out.push((
                id,
                event,
                serde_json::from_str(&data).unwrap_or(Value::Null),
            ));
        }
    }
    out
}
