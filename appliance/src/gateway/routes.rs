//! HTTP routes of the gateway. Routes only convert; the services are in [`super::manage`] and
//! the runtime entry points on [`super::Gateway`].
//!
//! - `/api/v1/workspaces/{workspace_id}/providers[/{provider}[/models]]`, `…/secrets`,
//!   `…/mcp-servers[/{server_id}[/refresh | /tools/{tool}]]`, `…/tool-catalog`,
//!   `…/gateway/requests`: the workspace API (session or API token, role table).
//! - `/gateway/v1/chat/completions` (OpenAI-compatible, SSE when `stream: true`) and
//!   `/gateway/v1/tools/{tool}/call`: the runtime API, authorized only by the run JWT.

use std::sync::Arc;

use axum::Json;
use axum::body::{Body, Bytes};
use axum::extract::{Path, State};
use axum::http::{HeaderMap, Method, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{delete, get, post, put};
use futures_util::stream;
use serde_json::{Value, json};

use acorn_proto::ErrorCode;
use acorn_proto::agent::RunMode;
use acorn_proto::authz::Action;
use acorn_proto::gateway::{
    CatalogTool, CreateMcpServer, GatewayRequestView, McpRefresh, McpServerView, ModelCatalog,
    ProviderView, PutProvider, SecretView, SetMcpToolMode, ToolCallRequest, ToolCallResponse,
};
use acorn_proto::identity::Page;
use acorn_store::GatewayRequestFilter;

use super::chat::{Assembler, ChatEvent, ChunkWriter};
use super::{ChatStream, Gateway, GatewayError, manage};
use crate::control::auth::Caller;
use crate::control::error::ApiError;
use crate::control::routes::AppState;
use crate::control::routes::extract::{ApiJson, ApiQuery};
use crate::control::routes::table::{Access, RouteSpec, route};

pub fn routes() -> Vec<RouteSpec> {
    vec![
        route(
            Method::GET,
            "/api/v1/workspaces/{workspace_id}/providers",
            Access::Workspace(Action::WorkspaceRead),
            "Model providers (the workspace's, then the deployment's)",
            get(list_providers),
        ),
        route(
            Method::GET,
            "/api/v1/workspaces/{workspace_id}/providers/{provider}",
            Access::Workspace(Action::WorkspaceRead),
            "A model provider",
            get(get_provider),
        ),
        route(
            Method::PUT,
            "/api/v1/workspaces/{workspace_id}/providers/{provider}",
            Access::Workspace(Action::ProvidersManage),
            "Create or replace a workspace provider (its API key is write-only)",
            put(put_provider),
        ),
        route(
            Method::DELETE,
            "/api/v1/workspaces/{workspace_id}/providers/{provider}",
            Access::Workspace(Action::ProvidersManage),
            "Delete a workspace provider and its key",
            delete(delete_provider),
        ),
        route(
            Method::GET,
            "/api/v1/workspaces/{workspace_id}/providers/{provider}/models",
            Access::Workspace(Action::WorkspaceRead),
            "A provider's model catalog (listed and configured)",
            get(models),
        ),
        route(
            Method::GET,
            "/api/v1/workspaces/{workspace_id}/secrets",
            Access::Workspace(Action::ProvidersManage),
            "Secret names and fingerprints (never values)",
            get(list_secrets),
        ),
        route(
            Method::GET,
            "/api/v1/workspaces/{workspace_id}/mcp-servers",
            Access::Workspace(Action::WorkspaceRead),
            "MCP servers and their tools",
            get(list_mcp),
        ),
        route(
            Method::POST,
            "/api/v1/workspaces/{workspace_id}/mcp-servers",
            Access::Workspace(Action::ToolsManage),
            "Register an MCP server (its tools are discovered, disabled)",
            post(create_mcp),
        ),
        route(
            Method::GET,
            "/api/v1/workspaces/{workspace_id}/mcp-servers/{server_id}",
            Access::Workspace(Action::WorkspaceRead),
            "An MCP server",
            get(get_mcp),
        ),
        route(
            Method::DELETE,
            "/api/v1/workspaces/{workspace_id}/mcp-servers/{server_id}",
            Access::Workspace(Action::ToolsManage),
            "Remove an MCP server",
            delete(delete_mcp),
        ),
        route(
            Method::POST,
            "/api/v1/workspaces/{workspace_id}/mcp-servers/{server_id}/refresh",
            Access::Workspace(Action::ToolsManage),
            "Discover an MCP server's tools again (changes start disabled)",
            post(refresh_mcp),
        ),
        route(
            Method::PUT,
            "/api/v1/workspaces/{workspace_id}/mcp-servers/{server_id}/tools/{tool}",
            Access::Workspace(Action::ToolsManage),
            "Enable an MCP tool as read or write, or disable it",
            put(set_tool_mode),
        ),
        route(
            Method::GET,
            "/api/v1/workspaces/{workspace_id}/tool-catalog",
            Access::Workspace(Action::WorkspaceRead),
            "The tools runs are offered (builtin and enabled MCP tools)",
            get(tool_catalog),
        ),
        route(
            Method::GET,
            "/api/v1/workspaces/{workspace_id}/gateway/requests",
            Access::Workspace(Action::AuditRead),
            "The gateway request log",
            get(requests),
        ),
        route(
            Method::POST,
            "/gateway/v1/chat/completions",
            Access::RunToken,
            "OpenAI-compatible chat completions (SSE with stream: true), run JWT only",
            post(chat_completions),
        ),
        route(
            Method::POST,
            "/gateway/v1/tools/{tool}/call",
            Access::RunToken,
            "Call a tool of the run's tool set, run JWT only",
            post(call_tool),
        ),
    ]
}

fn gateway(state: &AppState) -> &Arc<Gateway> {
    &state.gateway
}

async fn list_providers(
    State(state): State<AppState>,
    caller: Caller,
    Path(ws): Path<String>,
) -> Result<Json<Vec<ProviderView>>, ApiError> {
    Ok(Json(
        manage::list_providers(&state.control, gateway(&state), &caller, &ws).await?,
    ))
}

async fn get_provider(
    State(state): State<AppState>,
    caller: Caller,
    Path((ws, name)): Path<(String, String)>,
) -> Result<Json<ProviderView>, ApiError> {
    Ok(Json(
        manage::get_provider(&state.control, gateway(&state), &caller, &ws, &name).await?,
    ))
}

async fn put_provider(
    State(state): State<AppState>,
    caller: Caller,
    Path((ws, name)): Path<(String, String)>,
    ApiJson(body): ApiJson<PutProvider>,
) -> Result<Json<ProviderView>, ApiError> {
    Ok(Json(
        manage::put_provider(&state.control, gateway(&state), &caller, &ws, &name, body).await?,
    ))
}

async fn delete_provider(
    State(state): State<AppState>,
    caller: Caller,
    Path((ws, name)): Path<(String, String)>,
) -> Result<StatusCode, ApiError> {
    manage::delete_provider(&state.control, gateway(&state), &caller, &ws, &name).await?;
    Ok(StatusCode::NO_CONTENT)
}

async fn models(
    State(state): State<AppState>,
    caller: Caller,
    Path((ws, name)): Path<(String, String)>,
) -> Result<Json<ModelCatalog>, ApiError> {
    Ok(Json(
        manage::catalog(&state.control, gateway(&state), &caller, &ws, &name).await?,
    ))
}

async fn list_secrets(
    State(state): State<AppState>,
    caller: Caller,
    Path(ws): Path<String>,
) -> Result<Json<Vec<SecretView>>, ApiError> {
    Ok(Json(
        manage::list_secrets(&state.control, gateway(&state), &caller, &ws).await?,
    ))
}

async fn list_mcp(
    State(state): State<AppState>,
    caller: Caller,
    Path(ws): Path<String>,
) -> Result<Json<Vec<McpServerView>>, ApiError> {
    Ok(Json(
        manage::list_mcp_servers(&state.control, gateway(&state), &caller, &ws).await?,
    ))
}

async fn create_mcp(
    State(state): State<AppState>,
    caller: Caller,
    Path(ws): Path<String>,
    ApiJson(body): ApiJson<CreateMcpServer>,
) -> Result<(StatusCode, Json<McpServerView>), ApiError> {
    Ok((
        StatusCode::CREATED,
        Json(manage::create_mcp_server(&state.control, gateway(&state), &caller, &ws, body).await?),
    ))
}

async fn get_mcp(
    State(state): State<AppState>,
    caller: Caller,
    Path((ws, id)): Path<(String, String)>,
) -> Result<Json<McpServerView>, ApiError> {
    Ok(Json(
        manage::get_mcp_server(&state.control, gateway(&state), &caller, &ws, &id).await?,
    ))
}

async fn delete_mcp(
    State(state): State<AppState>,
    caller: Caller,
    Path((ws, id)): Path<(String, String)>,
) -> Result<StatusCode, ApiError> {
    manage::delete_mcp_server(&state.control, gateway(&state), &caller, &ws, &id).await?;
    Ok(StatusCode::NO_CONTENT)
}

async fn refresh_mcp(
    State(state): State<AppState>,
    caller: Caller,
    Path((ws, id)): Path<(String, String)>,
) -> Result<Json<McpRefresh>, ApiError> {
    Ok(Json(
        manage::refresh_mcp_server(&state.control, gateway(&state), &caller, &ws, &id).await?,
    ))
}

async fn set_tool_mode(
    State(state): State<AppState>,
    caller: Caller,
    Path((ws, id, tool)): Path<(String, String, String)>,
    ApiJson(body): ApiJson<SetMcpToolMode>,
) -> Result<Json<McpServerView>, ApiError> {
    Ok(Json(
        manage::set_mcp_tool_mode(
            &state.control,
            gateway(&state),
            &caller,
            &ws,
            &id,
            &tool,
            body.mode,
        )
        .await?,
    ))
}

#[derive(Debug, Default, serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct CatalogQuery {
    /// Include this cluster's builtin tools.
    cluster: Option<String>,
    /// `read_only` (default) or `read_write`.
    mode: Option<RunMode>,
}

async fn tool_catalog(
    State(state): State<AppState>,
    caller: Caller,
    Path(ws): Path<String>,
    ApiQuery(q): ApiQuery<CatalogQuery>,
) -> Result<Json<Vec<CatalogTool>>, ApiError> {
    Ok(Json(
        manage::catalog_for(
            &state.control,
            gateway(&state),
            &caller,
            &ws,
            q.cluster.as_deref(),
            q.mode.unwrap_or(RunMode::ReadOnly),
        )
        .await?,
    ))
}

#[derive(Debug, Default, serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct RequestsQuery {
    run: Option<String>,
    /// `next_cursor` of the previous page.
    cursor: Option<String>,
    /// 1–500, default 100.
    limit: Option<usize>,
}

async fn requests(
    State(state): State<AppState>,
    caller: Caller,
    Path(ws): Path<String>,
    ApiQuery(q): ApiQuery<RequestsQuery>,
) -> Result<Json<Page<GatewayRequestView>>, ApiError> {
    let limit = q.limit.unwrap_or(100);
    if !(1..=500).contains(&limit) {
        return Err(ApiError::new(
            ErrorCode::InvalidParameter,
            "`limit` must be between 1 and 500",
        ));
    }
    let after_seq = match &q.cursor {
        Some(c) => Some(c.parse::<u64>().map_err(|_| {
            ApiError::new(
                ErrorCode::InvalidParameter,
                "`cursor` is not a cursor from a previous page",
            )
        })?),
        None => None,
    };
    let filter = GatewayRequestFilter {
        run: q.run,
        since: None,
        after_seq,
        limit: limit + 1,
    };
    let mut items = manage::requests(&state.control, gateway(&state), &caller, &ws, filter).await?;
    let next_cursor = (items.len() > limit).then(|| items[limit - 1].seq.to_string());
    items.truncate(limit);
    Ok(Json(Page { items, next_cursor }))
}

// ---- runtime API ------------------------------------------------------------------------------

fn bearer(headers: &HeaderMap) -> Option<String> {
    let value = headers.get(header::AUTHORIZATION)?.to_str().ok()?;
    let (scheme, token) = value.split_once(' ')?;
    scheme
        .eq_ignore_ascii_case("bearer")
        .then(|| token.trim().to_owned())
}

fn request_id(headers: &HeaderMap) -> String {
    headers
        .get("x-request-id")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_owned()
}

fn error_json(e: &GatewayError) -> Value {
    json!({"error": {
        "code": e.code.as_str(),
        "message": e.message,
        "type": e.code.error_type(),
    }})
}

async fn chat_completions(
    State(state): State<AppState>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, ApiError> {
    let rid = request_id(&headers);
    let token = bearer(&headers);
    let json: Value = serde_json::from_slice(&body)
        .map_err(|e| ApiError::new(ErrorCode::InvalidBody, format!("the body is not JSON: {e}")))?;
    let mut chat = gateway(&state).chat(token.as_deref(), &json, &rid).await?;
    // Errors before the first event (provider refused the key, rate limited, unreachable) are
    // plain HTTP errors; once streaming started, they arrive in the stream.
    let first = match chat.events.recv().await {
        Some(Ok(event)) => event,
        Some(Err(e)) => return Err(e.into()),
        None => return Err(GatewayError::internal("the answer ended before it began").into()),
    };
    if !chat.stream {
        return complete(chat, first).await;
    }
    Ok(sse(chat, first))
}

async fn complete(mut chat: ChatStream, first: ChatEvent) -> Result<Response, ApiError> {
    let mut assembled = Assembler::default();
    let mut usage = (0, 0);
    let mut next = Some(Ok(first));
    while let Some(item) = next {
        match item? {
            ChatEvent::Usage { input, output } => usage = (input, output),
            event => assembled.push(&event),
        }
        next = chat.events.recv().await;
    }
    Ok(Json(assembled.completion(&chat.id, &chat.model, chat.created, usage)).into_response())
}

fn sse(chat: ChatStream, first: ChatEvent) -> Response {
    struct State {
        chat: ChatStream,
        writer: ChunkWriter,
        pending: Option<ChatEvent>,
        done: bool,
    }
    let writer = ChunkWriter::new(chat.id.clone(), chat.model.clone(), chat.created);
    let state = State {
        chat,
        writer,
        pending: Some(first),
        done: false,
    };
    let body = stream::unfold(state, |mut st| async move {
        if st.done {
            return None;
        }
        let item = match st.pending.take() {
            Some(e) => Some(Ok(e)),
            None => st.chat.events.recv().await,
        };
        let mut out = String::new();
        match item {
            Some(Ok(ChatEvent::Usage { input, output })) => {
                out.push_str(&format!("data: {}\n\n", st.writer.usage((input, output))));
            }
            Some(Ok(event)) => {
                for chunk in st.writer.event(&event) {
                    out.push_str(&format!("data: {chunk}\n\n"));
                }
            }
            Some(Err(e)) => {
                st.done = true;
                out.push_str(&format!("data: {}\n\n", error_json(&e)));
            }
            None => {
                st.done = true;
                out.push_str("data: [DONE]\n\n");
            }
        }
        Some((Ok::<Bytes, std::convert::Infallible>(Bytes::from(out)), st))
    });
    Response::builder()
        .header(header::CONTENT_TYPE, "text/event-stream")
        .header(header::CACHE_CONTROL, "no-cache")
        .body(Body::from_stream(body))
        .unwrap_or_else(|_| StatusCode::INTERNAL_SERVER_ERROR.into_response())
}

async fn call_tool(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path(tool): Path<String>,
    ApiJson(body): ApiJson<ToolCallRequest>,
) -> Result<Json<ToolCallResponse>, ApiError> {
    let rid = request_id(&headers);
    let token = bearer(&headers);
    Ok(Json(
        gateway(&state)
            .call_tool(token.as_deref(), &tool, body.arguments, &rid)
            .await?,
    ))
}
