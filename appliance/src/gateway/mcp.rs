//! The MCP registry's client side: URL policy, discovery and tool calls over Streamable HTTP with
//! the official Rust SDK (`rmcp`).
//!
//! Policy: a server URL must be `https://`, unless its host is in
//! `gateway.mcp_allow_plain_http_hosts`; when `gateway.mcp_egress_allow_hosts` is set, the host
//! must be in it too. Each discovery or call opens one MCP session (initialize, request, close):
//! servers are remote and few calls are made per run, so no session is kept between calls.
//!
//! Every request carries the server's configured headers (values from the secret store) and, for
//! tool calls, the scope headers `x-acorn-workspace`, `x-acorn-cluster`, `x-acorn-run`. Calls
//! have the server's timeout; output beyond its byte limit is cut and marked truncated. A server
//! that breaks its own schema (arguments missing a required field are refused before the call;
//! a result that is not text) or returns `isError` gives a typed tool error, never a crash.

use std::collections::{BTreeMap, HashMap};
use std::time::Duration;

use rmcp::ServiceExt;
use rmcp::model::{CallToolRequestParams, ContentBlock};
use rmcp::transport::StreamableHttpClientTransport;
use rmcp::transport::streamable_http_client::StreamableHttpClientTransportConfig;

use acorn_proto::ErrorCode;
use acorn_proto::agent::{ToolError, ToolErrorCode, ToolOutput};
use acorn_proto::gateway::McpToolMode;
use acorn_store::McpToolRecord;

use super::GatewayError;

/// How long discovery may take.
const DISCOVERY_TIMEOUT: Duration = Duration::from_secs(20);

/// The deployment's rules for MCP server URLs.
#[derive(Debug, Clone, Default)]
pub struct UrlPolicy {
    /// Hosts allowed over plain HTTP.
    pub plain_http_hosts: Vec<String>,
    /// When non-empty, the only hosts MCP servers may be on.
    pub egress_allow_hosts: Vec<String>,
}

impl UrlPolicy {
    /// Checks a server URL; the message says which rule refused it.
    pub fn check(&self, url: &str) -> Result<(), GatewayError> {
        let refused = |m: String| GatewayError::new(ErrorCode::McpUrlRefused, m);
        let parsed =
            reqwest::Url::parse(url).map_err(|e| refused(format!("`{url}` is not a URL: {e}")))?;
        let host = parsed
            .host_str()
            .ok_or_else(|| refused("the URL has no host".into()))?
            .trim_matches(['[', ']'])
            .to_ascii_lowercase();
        if !parsed.username().is_empty() || parsed.password().is_some() {
            return Err(refused(
                "put credentials in headers (stored encrypted), not in the URL".into(),
            ));
        }
        match parsed.scheme() {
            "https" => {}
            "http"
                if self
                    .plain_http_hosts
                    .iter()
                    .any(|h| h.eq_ignore_ascii_case(&host)) => {}
            "http" => {
                return Err(refused(format!(
                    "plain http is allowed only for hosts in gateway.mcp_allow_plain_http_hosts; {host} is not one: use https"
                )));
            }
            other => return Err(refused(format!("scheme {other} is not allowed; use https"))),
        }
        if !self.egress_allow_hosts.is_empty()
            && !self
                .egress_allow_hosts
                .iter()
                .any(|h| h.eq_ignore_ascii_case(&host))
        {
            return Err(refused(format!(
                "{host} is not in the egress allow-list (gateway.mcp_egress_allow_hosts)"
            )));
        }
        Ok(())
    }
}

fn header_map(
    headers: &BTreeMap<String, String>,
) -> Result<HashMap<reqwest::header::HeaderName, reqwest::header::HeaderValue>, GatewayError> {
    let mut out = HashMap::new();
    for (k, v) in headers {
        let name = reqwest::header::HeaderName::from_bytes(k.as_bytes()).map_err(|_| {
            GatewayError::new(
                ErrorCode::InvalidBody,
                format!("`{k}` is not a header name"),
            )
        })?;
        let mut value = reqwest::header::HeaderValue::from_str(v).map_err(|_| {
            GatewayError::new(
                ErrorCode::InvalidBody,
                format!("the value of header `{k}` is not a valid header value"),
            )
        })?;
        value.set_sensitive(true);
        out.insert(name, value);
    }
    Ok(out)
}

type Session = rmcp::service::RunningService<rmcp::RoleClient, ()>;

async fn connect(url: &str, headers: &BTreeMap<String, String>) -> Result<Session, GatewayError> {
    let client = reqwest::Client::builder()
        .connect_timeout(Duration::from_secs(5))
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .map_err(|e| GatewayError::internal(format!("MCP client: {e}")))?;
    let config = StreamableHttpClientTransportConfig::with_uri(url.to_owned())
        .custom_headers(header_map(headers)?);
    let transport = StreamableHttpClientTransport::with_client(client, config);
    ().serve(transport).await.map_err(|e| {
        GatewayError::new(
            ErrorCode::McpUnreachable,
            format!("the MCP server at {url} did not complete the handshake: {e}"),
        )
    })
}

/// Lists the server's tools. Modes are left to the caller (discovered tools start disabled).
pub async fn discover(
    url: &str,
    headers: &BTreeMap<String, String>,
) -> Result<Vec<McpToolRecord>, GatewayError> {
    let work = async {
        let session = connect(url, headers).await?;
        let tools = session.list_all_tools().await.map_err(|e| {
            GatewayError::new(
                ErrorCode::McpUnreachable,
                format!("the MCP server at {url} did not list its tools: {e}"),
            )
        });
        let _ = session.cancel().await;
        tools
    };
    let tools = tokio::time::timeout(DISCOVERY_TIMEOUT, work)
        .await
        .map_err(|_| {
            GatewayError::new(
                ErrorCode::McpUnreachable,
                format!("the MCP server at {url} did not answer within {DISCOVERY_TIMEOUT:?}"),
            )
        })??;
    Ok(tools
        .into_iter()
        .filter(|t| valid_tool_name(&t.name))
        .map(|t| McpToolRecord {
            name: t.name.to_string(),
            description: t.description.as_deref().unwrap_or("").to_owned(),
            input_schema: serde_json::Value::Object((*t.input_schema).clone()),
            read_only_hint: t
                .annotations
                .as_ref()
                .and_then(|a| a.read_only_hint)
                .unwrap_or(false),
            mode: McpToolMode::Disabled,
        })
        .collect())
}

/// Tool names that can be part of a run's tool name (`mcp__server__tool`, ≤ 64 characters, the
/// OpenAI function-name alphabet).
pub fn valid_tool_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 48
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
}

fn tool_error(code: ToolErrorCode, message: impl Into<String>) -> ToolError {
    ToolError {
        code,
        message: message.into(),
    }
}

/// Arguments must be an object holding every `required` property of the declared schema.
fn check_arguments(schema: &serde_json::Value, args: &serde_json::Value) -> Result<(), ToolError> {
    let obj = args.as_object().ok_or_else(|| {
        tool_error(
            ToolErrorCode::ToolArgumentsInvalid,
            "the arguments must be a JSON object",
        )
    })?;
    for field in schema["required"]
        .as_array()
        .map(Vec::as_slice)
        .unwrap_or_default()
    {
        if let Some(name) = field.as_str()
            && !obj.contains_key(name)
        {
            return Err(tool_error(
                ToolErrorCode::ToolArgumentsInvalid,
                format!("the required argument `{name}` is missing"),
            ));
        }
    }
    Ok(())
}

/// One tool call: scope headers, timeout, output limit.
#[allow(clippy::too_many_arguments)]
pub async fn call(
    url: &str,
    headers: &BTreeMap<String, String>,
    scope: [(&str, &str); 3],
    tool: &McpToolRecord,
    args: serde_json::Value,
    timeout: Duration,
    max_output_bytes: usize,
) -> Result<ToolOutput, ToolError> {
    check_arguments(&tool.input_schema, &args)?;
    let mut all = headers.clone();
    for (k, v) in scope {
        all.insert(k.to_owned(), v.to_owned());
    }
    let arguments = match args {
        serde_json::Value::Object(map) => map,
        _ => serde_json::Map::new(),
    };
    let name = tool.name.clone();
    let work = async move {
        let session = connect(url, &all)
            .await
            .map_err(|e| tool_error(ToolErrorCode::ToolUnavailable, e.message))?;
        let result = session
            .call_tool(CallToolRequestParams::new(name).with_arguments(arguments))
            .await;
        let _ = session.cancel().await;
        result.map_err(|e| {
            tool_error(
                ToolErrorCode::ToolUnavailable,
                format!("the MCP call failed: {e}"),
            )
        })
    };
    let result = tokio::time::timeout(timeout, work).await.map_err(|_| {
        tool_error(
            ToolErrorCode::ToolTimeout,
            format!(
                "the MCP tool did not answer within {} ms",
                timeout.as_millis()
            ),
        )
    })??;
    let mut text = String::new();
    for block in &result.content {
        if let ContentBlock::Text(t) = block {
            if !text.is_empty() {
                text.push('\n');
            }
            text.push_str(&t.text);
        }
    }
    if text.is_empty()
        && let Some(structured) = &result.structured_content
    {
        text = structured.to_string();
    }
    let truncated = text.len() > max_output_bytes;
    if truncated {
        let mut cut = max_output_bytes;
        while !text.is_char_boundary(cut) {
            cut -= 1;
        }
        text.truncate(cut);
    }
    if result.is_error == Some(true) {
        return Err(tool_error(ToolErrorCode::ToolFailed, text));
    }
    Ok(ToolOutput {
        content: text,
        truncated,
        redactions: 0,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn url_policy() {
        let p = UrlPolicy {
            plain_http_hosts: vec!["127.0.0.1".into()],
            egress_allow_hosts: vec![],
        };
        assert!(p.check("https://mcp.example/mcp").is_ok());
        assert!(p.check("http://127.0.0.1:9000/mcp").is_ok());
        assert!(p.check("http://mcp.example/mcp").is_err());
        assert!(p.check("ftp://mcp.example/").is_err());
        assert!(p.check("https://u:p@mcp.example/").is_err());
        let p = UrlPolicy {
            plain_http_hosts: vec![],
            egress_allow_hosts: vec!["mcp.internal".into()],
        };
        assert!(p.check("https://mcp.internal/mcp").is_ok());
        assert!(p.check("https://evil.example/mcp").is_err());
    }

    #[test]
    fn required_arguments() {
        let schema = serde_json::json!({"type": "object", "required": ["ns"]});
        assert!(check_arguments(&schema, &serde_json::json!({"ns": "a"})).is_ok());
        assert!(check_arguments(&schema, &serde_json::json!({})).is_err());
        assert!(check_arguments(&schema, &serde_json::json!([1])).is_err());
    }
}
