//! Chat through the gateway against scripted providers: every quirk profile normalizes to the
//! same OpenAI-shaped answer (streamed and whole), upstream requests carry the right credential
//! and translation, provider failures map to their codes, usage and cost reach the request log
//! and the metrics.

use std::sync::Arc;
use std::time::Duration;

use reqwest::Method;
use serde_json::{Value, json};

use super::upstream::Reply;
use super::{DEPLOY_KEY, Streamed, WORKSPACE_KEY, World, body, fixtures, read_sse};

struct Profile {
    name: &'static str,
    provider: &'static str,
    model: &'static str,
    stream: bool,
    reply: fn() -> Reply,
    text: &'static str,
    tools: &'static [(&'static str, &'static str)],
    finish: &'static str,
    /// Usage the provider reported (None: the gateway counts).
    usage: Option<(u64, u64)>,
}

const PROFILES: &[Profile] = &[
    Profile {
        name: "openai text stream with usage",
        provider: "up",
        model: "gpt-test",
        stream: true,
        // Each event in its own network write, a little apart.
        reply: || Reply::sse(fixtures::openai_text()).gap(Duration::from_millis(5)),
        text: "The pod is crash-looping.",
        tools: &[],
        finish: "stop",
        usage: Some((42, 7)),
    },
    Profile {
        name: "openai tool call whole in one chunk",
        provider: "up",
        model: "gpt-test",
        stream: true,
        reply: || Reply::sse(fixtures::openai_tool_whole()),
        text: "",
        tools: &[("get_pods", "{\"namespace\":\"shop\"}")],
        finish: "tool_calls",
        usage: Some((50, 12)),
    },
    Profile {
        name: "openai parallel calls all index 0, finish stop, no usage",
        provider: "up",
        model: "gpt-test",
        stream: true,
        reply: || Reply::sse(fixtures::openai_parallel_index0()),
        text: "",
        tools: &[
            ("get_pods", "{\"namespace\":\"shop\"}"),
            ("get_events", "{}"),
        ],
        finish: "tool_calls",
        usage: None,
    },
    Profile {
        name: "openai whole answer with tool calls",
        provider: "up",
        model: "gpt-test",
        stream: false,
        reply: || Reply::json(200, &fixtures::openai_tool_json()),
        text: "",
        tools: &[
            ("get_pods", "{\"namespace\":\"shop\"}"),
            ("get_events", "{}"),
        ],
        finish: "tool_calls",
        usage: Some((30, 20)),
    },
    Profile {
        name: "anthropic stream with ping and input_json_delta",
        provider: "claude",
        model: "claude-test",
        stream: true,
        reply: || Reply::sse(fixtures::anthropic_tool_stream()),
        text: "Let me check the pods.",
        tools: &[("get_pods", "{\"namespace\": \"shop\"}")],
        finish: "tool_calls",
        usage: Some((472, 89)),
    },
    Profile {
        name: "anthropic whole answer",
        provider: "claude",
        model: "claude-test",
        stream: false,
        reply: || Reply::json(200, &fixtures::anthropic_json()),
        text: "Checking.",
        tools: &[("get_events", "{\"namespace\":\"shop\"}")],
        finish: "tool_calls",
        usage: Some((100, 25)),
    },
];

fn whole(v: &Value) -> Streamed {
    let m = &v["choices"][0]["message"];
    Streamed {
        text: m["content"].as_str().unwrap_or("").to_owned(),
        tool_calls: m["tool_calls"]
            .as_array()
            .into_iter()
            .flatten()
            .map(|c| {
                (
                    c["id"].as_str().unwrap().to_owned(),
                    c["function"]["name"].as_str().unwrap().to_owned(),
                    c["function"]["arguments"].as_str().unwrap().to_owned(),
                )
            })
            .collect(),
        finish: v["choices"][0]["finish_reason"].as_str().map(str::to_owned),
        usage: Some((
            v["usage"]["prompt_tokens"].as_u64().unwrap(),
            v["usage"]["completion_tokens"].as_u64().unwrap(),
        )),
        done: true,
        error: None,
    }
}

#[tokio::test]
async fn every_provider_profile_normalizes_to_one_answer() {
    let world = World::new("").await;
    world.add_anthropic().await;
    let tools = ["get_pods", "get_events"];
    for p in PROFILES {
        let reply = p.reply;
        world.upstream.set(Arc::new(move |_, _| reply()));
        world.upstream.clear();
        let token = world.token(p.provider, p.model, &tools, 100_000);
        let response = world
            .chat(Some(&token), &body(p.model, p.stream, &tools))
            .await;
        assert_eq!(response.status(), 200, "{}", p.name);
        let got = if p.stream {
            read_sse(response).await
        } else {
            whole(&response.json().await.unwrap())
        };
        assert_eq!(got.text, p.text, "{}", p.name);
        let calls: Vec<(&str, &str)> = got
            .tool_calls
            .iter()
            .map(|(_, n, a)| (n.as_str(), a.as_str()))
            .collect();
        assert_eq!(calls, p.tools, "{}", p.name);
        assert!(
            got.tool_calls.iter().all(|(id, _, _)| !id.is_empty()),
            "{}",
            p.name
        );
        assert_eq!(got.finish.as_deref(), Some(p.finish), "{}", p.name);
        assert!(got.done && got.error.is_none(), "{}: {got:?}", p.name);
        match p.usage {
            Some(u) => assert_eq!(got.usage, Some(u), "{}", p.name),
            // Counted by the gateway: some tokens each way.
            None => assert!(got.usage.is_some_and(|(i, o)| i > 0 && o > 0), "{}", p.name),
        }

        let sent = world.upstream.requests();
        assert_eq!(sent.len(), 1, "{}", p.name);
        let r = &sent[0];
        match p.provider {
            "up" => {
                assert_eq!(
                    (r.method.as_str(), r.path.as_str()),
                    ("POST", "/v1/chat/completions")
                );
                assert_eq!(
                    r.header("authorization"),
                    Some(format!("Bearer {DEPLOY_KEY}").as_str())
                );
                assert_eq!(r.body["max_tokens"], 4096, "default reservation");
                assert_eq!(r.body["tools"][1]["function"]["name"], "get_events");
                assert_eq!(
                    r.body["stream_options"]["include_usage"]
                        .as_bool()
                        .unwrap_or(false),
                    p.stream
                );
            }
            _ => {
                assert_eq!(r.path, "/v1/messages");
                assert_eq!(r.header("x-api-key"), Some(WORKSPACE_KEY));
                assert_eq!(r.header("anthropic-version"), Some("2023-06-01"));
                assert_eq!(r.body["system"], "You troubleshoot Kubernetes.");
                assert_eq!(r.body["messages"][0]["role"], "user");
                assert!(r.body["tools"][0]["input_schema"].is_object());
            }
        }
    }

    // Every call is in the request log, with usage, cost and time to first token.
    let log = world.requests_settled(PROFILES.len()).await;
    assert_eq!(log.len(), PROFILES.len());
    let first = &log[0];
    assert_eq!(
        (
            first["provider"].as_str(),
            first["model"].as_str(),
            first["status"].as_str()
        ),
        (Some("up"), Some("gpt-test"), Some("ok"))
    );
    assert_eq!(
        (
            first["input_tokens"].as_u64(),
            first["output_tokens"].as_u64()
        ),
        (Some(42), Some(7))
    );
    assert!(first["usage_from_provider"].as_bool().unwrap());
    let cost = first["cost"].as_f64().unwrap();
    assert!(
        (cost - (42.0 * 1.0 + 7.0 * 4.0) / 1e6).abs() < 1e-12,
        "{cost}"
    );
    assert!(first["ttft_ms"].is_u64());
    assert_eq!(first["tools_offered"], json!(["get_pods", "get_events"]));
    assert_eq!(log[2]["usage_from_provider"], false);
    assert_eq!(log[2]["tools_called"], json!(["get_pods", "get_events"]));
    assert_eq!(log[4]["provider"], "claude");

    let metrics = world
        .app
        .client
        .get(world.app.url("/metrics"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        metrics.contains(r#"acorn_gateway_requests_total{kind="chat",provider="up",model="gpt-test",status="ok"} 4"#),
        "{metrics}"
    );
    assert!(metrics.contains("acorn_gateway_time_to_first_token_seconds_bucket"));
    assert!(metrics.contains(r#"acorn_gateway_tokens_total{provider="claude",model="claude-test",direction="output"} 114"#));
}

struct Failure {
    name: &'static str,
    stream: bool,
    script: fn(usize) -> Reply,
    /// HTTP status and code of the answer, or the code in the SSE error event (status 200).
    status: u16,
    code: &'static str,
    upstream_requests: usize,
}

fn busy(status: u16, retry_after: &'static str) -> Reply {
    Reply::json(
        status,
        &json!({"error": {"message": "slow down", "type": "rate_limit"}}),
    )
    .header("retry-after", retry_after)
}

const FAILURES: &[Failure] = &[
    Failure {
        name: "429 then success is retried",
        stream: false,
        script: |n| {
            if n == 0 {
                busy(429, "0")
            } else {
                Reply::json(200, &fixtures::openai_text_json())
            }
        },
        status: 200,
        code: "",
        upstream_requests: 2,
    },
    Failure {
        name: "529 every time: bounded retries",
        stream: false,
        script: |_| busy(529, "0"),
        status: 429,
        code: "provider_rate_limited",
        upstream_requests: 3,
    },
    Failure {
        name: "Retry-After beyond the wait bound is returned at once",
        stream: true,
        script: |_| busy(429, "60"),
        status: 429,
        code: "provider_rate_limited",
        upstream_requests: 1,
    },
    Failure {
        name: "401 is a credential problem",
        stream: false,
        script: |_| {
            Reply::json(
                401,
                &json!({"error": {"message": "Incorrect API key provided"}}),
            )
        },
        status: 502,
        code: "provider_auth_failed",
        upstream_requests: 1,
    },
    Failure {
        name: "500",
        stream: true,
        script: |_| Reply::json(500, &json!({"error": {"message": "boom"}})),
        status: 502,
        code: "provider_failed",
        upstream_requests: 1,
    },
    Failure {
        name: "malformed JSON",
        stream: false,
        script: |_| {
            let mut r = Reply::json(200, &json!({}));
            r.chunks = vec![b"{\"choices\": [".to_vec()];
            r
        },
        status: 502,
        code: "provider_failed",
        upstream_requests: 1,
    },
    Failure {
        name: "a provider that hangs",
        stream: false,
        script: |_| {
            let mut r = Reply::json(200, &json!({}));
            r.chunks = vec![];
            r.content_length = false;
            r.hang()
        },
        status: 504,
        code: "provider_timeout",
        upstream_requests: 1,
    },
    Failure {
        name: "a stream cut mid-way",
        stream: true,
        script: |_| Reply::sse(fixtures::openai_cut()),
        status: 200,
        code: "provider_failed",
        upstream_requests: 1,
    },
    Failure {
        name: "a stream that stops sending",
        stream: true,
        script: |_| Reply::sse(fixtures::openai_cut()).hang(),
        status: 200,
        code: "provider_timeout",
        upstream_requests: 1,
    },
];

#[tokio::test]
async fn provider_failures_have_their_codes() {
    let world = World::new("").await;
    for f in FAILURES {
        let script = f.script;
        world.upstream.set(Arc::new(move |_, n| script(n)));
        world.upstream.clear();
        let token = world.token("up", "gpt-test", &[], 100_000);
        let response = world
            .chat(Some(&token), &body("gpt-test", f.stream, &[]))
            .await;
        let status = response.status().as_u16();
        assert_eq!(status, f.status, "{}", f.name);
        if status == 200 && f.stream {
            let got = read_sse(response).await;
            let error = got
                .error
                .unwrap_or_else(|| panic!("{}: no error event", f.name));
            assert_eq!(error["code"], f.code, "{}", f.name);
            assert!(!got.done, "{}: [DONE] after an error", f.name);
        } else if status != 200 {
            let retry_after = response
                .headers()
                .get("retry-after")
                .map(|v| v.to_str().unwrap().to_owned());
            let body: Value = response.json().await.unwrap();
            assert_eq!(body["code"], f.code, "{}: {body}", f.name);
            if f.name.starts_with("Retry-After") {
                assert_eq!(retry_after.as_deref(), Some("60"));
            }
            assert!(!body["message"].as_str().unwrap().contains(DEPLOY_KEY));
        }
        assert_eq!(
            world.upstream.requests().len(),
            f.upstream_requests,
            "{}",
            f.name
        );
    }
    // Failed calls give their reservation back: the log says failed, the budget is intact.
    let log = world.requests_settled(FAILURES.len()).await;
    assert_eq!(
        log.iter().filter(|r| r["status"] == "failed").count(),
        FAILURES.len() - 1
    );

    // An Anthropic `error` event mid-stream ends the stream with a provider error.
    world.add_anthropic().await;
    world.upstream.set(Arc::new(|_, _| {
        Reply::sse(fixtures::anthropic_overloaded_mid_stream())
    }));
    let token = world.token("claude", "claude-test", &[], 1000);
    let got = read_sse(
        world
            .chat(Some(&token), &body("claude-test", true, &[]))
            .await,
    )
    .await;
    assert_eq!(got.text, "Let me check");
    assert_eq!(got.error.unwrap()["code"], "provider_failed");
}

#[tokio::test]
async fn catalog_merges_listed_and_configured_models() {
    let world = World::new("").await;
    let catalog = world
        .admin
        .ok(
            Method::GET,
            &format!("/api/v1/workspaces/{}/providers/up/models", world.ws),
            None,
        )
        .await;
    let models = catalog["models"].as_array().unwrap();
    let by_id = |id: &str| models.iter().find(|m| m["id"] == id).unwrap().clone();
    assert_eq!(by_id("gpt-test")["origin"], "both");
    assert_eq!(by_id("gpt-test")["output_price_per_mtok"], 4.0);
    assert_eq!(by_id("gpt-test")["context_window"], 128000);
    assert_eq!(by_id("gpt-listed")["origin"], "listed");
    assert!(catalog["listing_error"].is_null());
    let listed = world.upstream.requests();
    assert_eq!(
        listed[0].header("authorization"),
        Some(format!("Bearer {DEPLOY_KEY}").as_str())
    );

    // A workspace provider of the same name takes precedence over the deployment's.
    world
        .admin
        .ok(
            Method::PUT,
            &format!("/api/v1/workspaces/{}/providers/up", world.ws),
            Some(
                json!({"kind": "openai", "base_url": "http://127.0.0.1:9/v1", "list_models": false,
                        "models": [{"id": "ws-model"}]}),
            ),
        )
        .await;
    let providers = world
        .admin
        .ok(
            Method::GET,
            &format!("/api/v1/workspaces/{}/providers", world.ws),
            None,
        )
        .await;
    let ups: Vec<&Value> = providers
        .as_array()
        .unwrap()
        .iter()
        .filter(|p| p["name"] == "up")
        .collect();
    assert_eq!(ups.len(), 1);
    assert_eq!(ups[0]["source"], "workspace");
    let token = world.token("up", "gpt-test", &[], 100);
    let response = world
        .chat(Some(&token), &body("gpt-test", false, &[]))
        .await;
    // The workspace's `up` points at a closed port: the call fails there, not at the deployment's.
    assert_eq!(response.status(), 502);
    tokio::time::sleep(Duration::from_millis(10)).await;
}

#[tokio::test]
async fn a_provider_changed_twice_within_a_second_serves_its_latest_settings() {
    let world = World::new("").await;
    let path = format!("/api/v1/workspaces/{}/providers/quick", world.ws);
    let catalog = format!("{path}/models");
    // Each PUT is followed at once by a read that caches the client; `updated_at` has whole
    // seconds, so only dropping the cached client on change shows the second model.
    for model in ["first-model", "second-model", "third-model"] {
        world
            .admin
            .ok(
                Method::PUT,
                &path,
                Some(
                    json!({"kind": "openai", "base_url": "http://127.0.0.1:9/v1",
                            "list_models": false, "models": [{"id": model}]}),
                ),
            )
            .await;
        let got = world.admin.ok(Method::GET, &catalog, None).await;
        assert_eq!(got["models"][0]["id"], model, "{got}");
        assert_eq!(got["models"].as_array().map(Vec::len), Some(1), "{got}");
    }
    world.admin.call(Method::DELETE, &path, None).await;
    world
        .admin
        .call(Method::GET, &catalog, None)
        .await
        .assert_error(404, "provider_not_found");
}
