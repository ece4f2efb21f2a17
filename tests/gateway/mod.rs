//! The LLM gateway end to end: the real `acorn` with scripted upstream providers
//! ([`upstream`], byte-exact streams in [`fixtures`]), the official `openai` Python client, a real
//! MCP server written with the official Python `mcp` SDK, and run tokens issued through
//! `acorn gateway issue-run-token`.
//!
//! Layout: `chat.rs` (provider profiles, quirks, retries, failures), `scope.rs` (run-token attacks,
//! scope and budget refusals, request log), `python.rs` (openai client), `mcp.rs` (registry and
//! tool calls), `secrets.rs` (a planted key never leaks; KEK rotation).

mod chat;
mod fixtures;
pub mod mcp;
mod python;
mod scope;
mod secrets;
pub mod upstream;

use std::path::PathBuf;
use std::sync::Arc;

use reqwest::Method;
use serde_json::{Value, json};

use crate::harness::appliance::{Appliance, StartOptions, ok_stdout};
use crate::harness::identity::{User, user, workspace_with};
use upstream::{Reply, Script, Upstream};

/// The key the deployment's OpenAI-compatible provider is configured with (a planted secret).
pub const DEPLOY_KEY: &str = "sk-proj-plantedDeployKey0123456789abcdef";
/// The key a workspace gives its Anthropic provider through the API (a planted secret).
pub const WORKSPACE_KEY: &str = "sk-ant-plantedWorkspaceKey9876543210zyxw";

/// A booted appliance with a scripted upstream, an admin and a workspace.
pub struct World {
    pub app: Appliance,
    pub upstream: Upstream,
    pub admin: User,
    pub ws: String,
}

/// The default upstream script: OpenAI text for `/v1/chat/completions`, Anthropic tool stream
/// for `/v1/messages`, a model list for `/v1/models`.
pub fn default_script() -> Script {
    Arc::new(|req, _| match req.path.as_str() {
        "/v1/models" => Reply::json(
            200,
            &json!({"object": "list", "data": [{"id": "gpt-test", "object": "model"}, {"id": "gpt-listed", "object": "model"}]}),
        ),
        "/v1/messages" if req.body["stream"] == true => {
            Reply::sse(fixtures::anthropic_tool_stream())
        }
        "/v1/messages" => Reply::json(200, &fixtures::anthropic_json()),
        _ if req.body["stream"] == true => Reply::sse(fixtures::openai_text()),
        _ => Reply::json(200, &fixtures::openai_text_json()),
    })
}

impl World {
    /// Boots everything; `extra` is appended to the configuration file.
    pub async fn new(extra: &str) -> World {
        World::with_script(default_script(), extra).await
    }

    pub async fn with_script(script: Script, extra: &str) -> World {
        let upstream = Upstream::start(script).await;
        let config = format!(
            r#"version = 1
[gateway]
mcp_allow_plain_http_hosts = ["127.0.0.1"]
max_retry_wait = "2s"
{extra}
[[gateway.providers]]
name = "up"
kind = "openai"
base_url = "http://127.0.0.1:{port}/v1"
api_key = "{DEPLOY_KEY}"
request_timeout_ms = 1500
max_retries = 2
[[gateway.providers.models]]
id = "gpt-test"
context_window = 128000
input_price_per_mtok = 1.0
output_price_per_mtok = 4.0
"#,
            port = upstream.port
        );
        let app = Appliance::start_with(StartOptions {
            config: Some(config),
            ..Default::default()
        })
        .await;
        let admin = user(&app, "admin").await;
        let ws = workspace_with(&admin, "gateway", &[]).await;
        World {
            app,
            upstream,
            admin,
            ws,
        }
    }

    /// Adds the workspace's Anthropic provider `claude` (same upstream) with [`WORKSPACE_KEY`].
    pub async fn add_anthropic(&self) -> Value {
        self.admin
            .ok(
                Method::PUT,
                &format!("/api/v1/workspaces/{}/providers/claude", self.ws),
                Some(json!({
                    "kind": "anthropic",
                    "base_url": format!("http://127.0.0.1:{}", self.upstream.port),
                    "api_key": WORKSPACE_KEY,
                    "request_timeout_ms": 1500,
                    "models": [{"id": "claude-test", "input_price_per_mtok": 3.0, "output_price_per_mtok": 15.0}]
                })),
            )
            .await
    }

    /// A run token from `acorn gateway issue-run-token`.
    pub fn token(&self, provider: &str, model: &str, tools: &[&str], budget: u64) -> String {
        self.token_with(provider, model, tools, budget, &[])
    }

    pub fn token_with(
        &self,
        provider: &str,
        model: &str,
        tools: &[&str],
        budget: u64,
        extra: &[&str],
    ) -> String {
        let budget = budget.to_string();
        let tools = tools.join(",");
        let mut args = vec![
            "gateway",
            "issue-run-token",
            "--workspace",
            &self.ws,
            "--cluster",
            "clu_test",
            "--provider",
            provider,
            "--model",
            model,
            "--budget",
            &budget,
            "--json",
        ];
        if !tools.is_empty() {
            args.extend(["--tools", tools.as_str()]);
        }
        args.extend(extra);
        let out: Value = serde_json::from_str(&ok_stdout(&self.app.acorn(&args))).unwrap();
        out["token"].as_str().unwrap().to_owned()
    }

    /// `POST /gateway/v1/chat/completions` with a bearer token.
    pub async fn chat(&self, token: Option<&str>, body: &Value) -> reqwest::Response {
        let mut r = self
            .app
            .client
            .post(self.app.url("/gateway/v1/chat/completions"))
            .json(body);
        if let Some(t) = token {
            r = r.bearer_auth(t);
        }
        r.send().await.unwrap()
    }

    /// `POST /gateway/v1/tools/{name}/call`.
    pub async fn call_tool(&self, token: &str, name: &str, args: Value) -> (u16, Value) {
        let r = self
            .app
            .client
            .post(self.app.url(&format!("/gateway/v1/tools/{name}/call")))
            .bearer_auth(token)
            .json(&json!({ "arguments": args }))
            .send()
            .await
            .unwrap();
        let status = r.status().as_u16();
        (status, r.json().await.unwrap_or(Value::Null))
    }

    /// The request log once it holds at least `n` records: a streamed call's record is written
    /// right after its last event, so a test may read the log a moment before it lands.
    pub async fn requests_settled(&self, n: usize) -> Vec<Value> {
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
        loop {
            let log = self.requests().await;
            if log.len() >= n || std::time::Instant::now() > deadline {
                return log;
            }
            tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        }
    }

    /// The workspace's gateway request log.
    pub async fn requests(&self) -> Vec<Value> {
        self.admin
            .ok(
                Method::GET,
                &format!("/api/v1/workspaces/{}/gateway/requests?limit=500", self.ws),
                None,
            )
            .await["items"]
            .as_array()
            .unwrap()
            .clone()
    }
}

/// A chat body.
pub fn body(model: &str, stream: bool, tools: &[&str]) -> Value {
    let mut b = json!({
        "model": model,
        "stream": stream,
        "messages": [
            {"role": "system", "content": "You troubleshoot Kubernetes."},
            {"role": "user", "content": "Why is checkout crash-looping?"}
        ],
    });
    if !tools.is_empty() {
        b["tools"] = Value::Array(
            tools
                .iter()
                .map(|t| json!({"type": "function", "function": {"name": t, "description": "x", "parameters": {"type": "object", "properties": {"namespace": {"type": "string"}}}}}))
                .collect(),
        );
    }
    b
}

/// A whole answer reassembled from the gateway's SSE (as an OpenAI client does).
#[derive(Debug, Default, PartialEq)]
pub struct Streamed {
    pub text: String,
    /// (id, name, arguments) by index.
    pub tool_calls: Vec<(String, String, String)>,
    pub finish: Option<String>,
    pub usage: Option<(u64, u64)>,
    pub done: bool,
    pub error: Option<Value>,
}

pub async fn read_sse(response: reqwest::Response) -> Streamed {
    assert_eq!(
        response.headers()["content-type"],
        "text/event-stream",
        "not a stream"
    );
    let text = response.text().await.unwrap_or_default();
    let mut s = Streamed::default();
    for block in text.split("\n\n").filter(|b| !b.is_empty()) {
        let data = block
            .strip_prefix("data: ")
            .expect("every event is a data line");
        if data == "[DONE]" {
            s.done = true;
            continue;
        }
        let v: Value = serde_json::from_str(data).unwrap();
        if v.get("error").is_some() {
            s.error = Some(v["error"].clone());
            continue;
        }
        if let Some(u) = v.get("usage").filter(|u| u.is_object()) {
            s.usage = Some((
                u["prompt_tokens"].as_u64().unwrap(),
                u["completion_tokens"].as_u64().unwrap(),
            ));
        }
        let Some(choice) = v["choices"].as_array().and_then(|c| c.first()) else {
            continue;
        };
        if let Some(t) = choice["delta"]["content"].as_str() {
            s.text.push_str(t);
        }
        for call in choice["delta"]["tool_calls"]
            .as_array()
            .into_iter()
            .flatten()
        {
            let i = call["index"].as_u64().unwrap() as usize;
            if i >= s.tool_calls.len() {
                s.tool_calls.resize(i + 1, Default::default());
            }
            if let Some(id) = call["id"].as_str() {
                s.tool_calls[i].0 = id.into();
            }
            if let Some(n) = call["function"]["name"].as_str() {
                s.tool_calls[i].1 = n.into();
            }
            if let Some(a) = call["function"]["arguments"].as_str() {
                s.tool_calls[i].2.push_str(a);
            }
        }
        if let Some(f) = choice["finish_reason"].as_str() {
            s.finish = Some(f.into());
        }
    }
    s
}

/// The Python interpreter of the test venv (`tests/.venv`, made by `.ci/run`).
pub fn python() -> PathBuf {
    let venv = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join(".venv/bin/python");
    assert!(
        venv.exists(),
        "{} is missing: run `python3 -m venv tests/.venv && tests/.venv/bin/pip install -r tests/peers/requirements.txt` (.ci/run does)",
        venv.display()
    );
    venv
}

/// Path of a peer script.
pub fn peer(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("peers")
        .join(name)
}
