//! The MCP registry against a real MCP server written with the official Python `mcp` SDK
//! (Streamable HTTP on loopback): URL policy, discovery (tools start disabled), enabling as read
//! or write, calls with scope headers and the encrypted authorization header, disabled-tool and
//! write-tool refusals, redaction with its count in the request log, output limits, timeouts,
//! and refresh detecting a new tool.

use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use reqwest::Method;
use serde_json::{Value, json};

use super::{World, peer, python};
use crate::harness::appliance::free_port;

pub const MCP_AUTH: &str = "Bearer mcp-planted-header-secret-5551212";

/// The Python MCP server, killed on drop.
pub struct McpPeer {
    child: Child,
    pub url: String,
}

impl Drop for McpPeer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl McpPeer {
    pub fn start() -> McpPeer {
        let port = free_port();
        let child = Command::new(python())
            .arg(peer("mcp_server.py"))
            .args([&port.to_string(), MCP_AUTH])
            .stdout(Stdio::null())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("start the MCP server");
        let deadline = Instant::now() + Duration::from_secs(30);
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(Instant::now() < deadline, "the MCP server did not listen");
            std::thread::sleep(Duration::from_millis(100));
        }
        McpPeer {
            child,
            url: format!("http://127.0.0.1:{port}/mcp"),
        }
    }
}

async fn set_mode(world: &World, server: &str, tool: &str, mode: &str) {
    world
        .admin
        .ok(
            Method::PUT,
            &format!(
                "/api/v1/workspaces/{}/mcp-servers/{server}/tools/{tool}",
                world.ws
            ),
            Some(json!({ "mode": mode })),
        )
        .await;
}

#[tokio::test]
async fn mcp_servers_are_discovered_enabled_and_called_under_the_run_token() {
    let peer = McpPeer::start();
    let world = World::new("").await;
    let base = format!("/api/v1/workspaces/{}/mcp-servers", world.ws);

    // URL policy: plain HTTP only for allowed internal hosts.
    let refused = world
        .admin
        .call(
            Method::POST,
            &base,
            Some(json!({"name": "evil", "url": "http://10.1.2.3/mcp"})),
        )
        .await;
    refused.assert_error(400, "mcp_url_refused");
    // A server that does not answer MCP.
    let dead = world
        .admin
        .call(
            Method::POST,
            &base,
            Some(json!({"name": "dead", "url": format!("http://127.0.0.1:{}/mcp", free_port())})),
        )
        .await;
    dead.assert_error(502, "mcp_unreachable");

    let server = world
        .admin
        .ok(
            Method::POST,
            &base,
            Some(
                json!({"name": "ops", "url": peer.url, "headers": {"Authorization": MCP_AUTH},
                        "timeout_ms": 1500, "max_output_bytes": 1000}),
            ),
        )
        .await;
    let id = server["id"].as_str().unwrap().to_owned();
    assert!(
        !server.to_string().contains("planted-header-secret"),
        "{server}"
    );
    assert_eq!(server["headers"]["authorization"]["set"], true);
    assert!(
        server["headers"]["authorization"]["fingerprint"]
            .as_str()
            .unwrap()
            .starts_with("sha256:")
    );
    let tools = server["tools"].as_array().unwrap();
    let tool = |n: &str| {
        tools
            .iter()
            .find(|t| t["name"] == n)
            .unwrap_or_else(|| panic!("{n} not discovered: {server}"))
            .clone()
    };
    assert!(
        tools.iter().all(|t| t["mode"] == "disabled"),
        "discovered tools start disabled"
    );
    assert_eq!(tool("get_weather")["suggested_mode"], "read");
    assert_eq!(tool("restart_pod")["suggested_mode"], "write");
    assert_eq!(tool("get_weather")["run_name"], "mcp__ops__get_weather");
    assert_eq!(
        tool("get_weather")["input_schema"]["required"],
        json!(["city"])
    );

    let names = [
        "get_weather",
        "whoami",
        "leak",
        "huge",
        "slow",
        "grow",
        "restart_pod",
    ];
    let run_tools: Vec<String> = names.iter().map(|n| format!("mcp__ops__{n}")).collect();
    let run_tools: Vec<&str> = run_tools.iter().map(String::as_str).collect();
    let token = world.token_with("up", "gpt-test", &run_tools, 1000, &["--run", "run_mcp"]);

    // Disabled: refused before any call.
    let (status, v) = world
        .call_tool(&token, "mcp__ops__get_weather", json!({"city": "Oslo"}))
        .await;
    assert_eq!(
        (status, v["code"].as_str()),
        (403, Some("mcp_tool_disabled")),
        "{v}"
    );

    for n in [
        "get_weather",
        "whoami",
        "leak",
        "huge",
        "slow",
        "grow",
        "broken",
    ] {
        set_mode(&world, &id, n, "read").await;
    }
    set_mode(&world, &id, "restart_pod", "write").await;

    let call = |name: &'static str, args: Value| {
        let (world, token) = (&world, &token);
        async move {
            let (status, v) = world.call_tool(token, name, args).await;
            assert_eq!(status, 200, "{name}: {v}");
            v["outcome"].clone()
        }
    };
    let out = call("mcp__ops__get_weather", json!({"city": "Oslo"})).await;
    assert_eq!(
        (out["status"].as_str(), out["content"].as_str()),
        (Some("ok"), Some("sunny in Oslo"))
    );
    let out = call("mcp__ops__whoami", json!({})).await;
    assert_eq!(
        out["content"],
        format!(
            "workspace={} cluster=clu_test run=run_mcp auth_ok=True",
            world.ws
        )
    );
    let out = call("mcp__ops__leak", json!({})).await;
    let content = out["content"].as_str().unwrap();
    assert!(
        content.contains("DB_PASSWORD=[REDACTED]")
            && !content.contains("hunter2")
            && !content.contains("AKIA"),
        "{content}"
    );
    assert_eq!(out["redactions"], 2);
    let out = call("mcp__ops__huge", json!({})).await;
    assert_eq!(
        (
            out["truncated"].as_bool(),
            out["content"].as_str().map(str::len)
        ),
        (Some(true), Some(1000))
    );
    let out = call("mcp__ops__slow", json!({"seconds": 5})).await;
    assert_eq!(
        (out["status"].as_str(), out["code"].as_str()),
        (Some("error"), Some("tool_timeout"))
    );
    let out = call("mcp__ops__get_weather", json!({})).await;
    assert_eq!(
        out["code"], "tool_arguments_invalid",
        "a call missing a required argument"
    );

    // Write tools need a read-write run.
    let (status, v) = world
        .call_tool(&token, "mcp__ops__restart_pod", json!({"name": "web-1"}))
        .await;
    assert_eq!(
        (status, v["code"].as_str()),
        (403, Some("scope_write_not_allowed"))
    );
    let rw = world.token_with(
        "up",
        "gpt-test",
        &["mcp__ops__restart_pod"],
        10,
        &["--read-write"],
    );
    let (status, v) = world
        .call_tool(&rw, "mcp__ops__restart_pod", json!({"name": "web-1"}))
        .await;
    assert_eq!(
        (status, v["outcome"]["content"].as_str()),
        (200, Some("restarted web-1"))
    );

    // The catalog offers enabled tools only, write tools only to read-write runs.
    let catalog = world
        .admin
        .ok(
            Method::GET,
            &format!("/api/v1/workspaces/{}/tool-catalog", world.ws),
            None,
        )
        .await;
    let offered: Vec<&str> = catalog
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["name"].as_str().unwrap())
        .collect();
    assert!(
        offered.contains(&"mcp__ops__get_weather") && !offered.contains(&"mcp__ops__restart_pod"),
        "{offered:?}"
    );

    // Refresh detects a tool the server added; it starts disabled, others keep their mode.
    call("mcp__ops__grow", json!({})).await;
    let refreshed = world
        .admin
        .ok(Method::POST, &format!("{base}/{id}/refresh"), None)
        .await;
    assert_eq!(refreshed["added"], json!(["extra"]), "{refreshed}");
    let tools = refreshed["server"]["tools"].as_array().unwrap();
    let mode = |n: &str| tools.iter().find(|t| t["name"] == n).unwrap()["mode"].clone();
    assert_eq!(
        (mode("extra"), mode("get_weather")),
        (json!("disabled"), json!("read"))
    );

    // The request log has the tool calls with their redaction counts.
    let log = world.requests().await;
    let leak = log
        .iter()
        .find(|r| r["tools_called"] == json!(["mcp__ops__leak"]))
        .unwrap();
    assert_eq!(
        (leak["kind"].as_str(), leak["redactions"].as_u64()),
        (Some("tool"), Some(2))
    );
    let slow = log
        .iter()
        .find(|r| r["tools_called"] == json!(["mcp__ops__slow"]))
        .unwrap();
    assert_eq!(slow["error_code"], "tool_timeout");

    // Removing the server ends its tools.
    world
        .admin
        .ok(Method::DELETE, &format!("{base}/{id}"), None)
        .await;
    let (status, _) = world
        .call_tool(&token, "mcp__ops__get_weather", json!({"city": "x"}))
        .await;
    assert_eq!(status, 403);
}
