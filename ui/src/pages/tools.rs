//! Tools (`/console/w/{ws}/tools`): MCP servers (register, refresh, enable each discovered tool
//! as read or write) and the builtin tools each cluster's agent offers.

use acorn_proto::agent::ToolClass;
use acorn_proto::authz::Action;
use acorn_proto::gateway::{CreateMcpServer, McpServerView, McpToolMode};
use dioxus::prelude::*;

use crate::app::{Badge, ErrorBox, Loading, ctx, field};
use crate::backend::UiError;
use crate::format;

fn mode_of(s: &str) -> McpToolMode {
    match s {
        "read" => McpToolMode::Read,
        "write" => McpToolMode::Write,
        _ => McpToolMode::Disabled,
    }
}

fn mode_str(m: McpToolMode) -> &'static str {
    match m {
        McpToolMode::Read => "read",
        McpToolMode::Write => "write",
        McpToolMode::Disabled => "disabled",
    }
}

/// `/console/w/{ws}/tools`.
#[component]
pub fn Tools() -> Element {
    let c = ctx();
    let backend = c.backend.clone();
    let ws = c.ws();
    let mut version = use_signal(|| 0u32);
    let data = use_resource(move || {
        let backend = backend.clone();
        let ws = ws.clone();
        let _ = version();
        async move {
            let servers = backend.mcp_servers(ws.clone()).await?;
            let clusters = backend.clusters(ws).await?;
            Ok::<_, UiError>((servers, clusters))
        }
    });
    let manage = c.can(Action::ToolsManage);
    let mut error = use_signal(|| None::<UiError>);
    let mut busy = use_signal(|| false);
    let backend = c.backend.clone();
    let ws = c.ws();
    rsx! {
        h1 { "Tools" }
        if let Some(e) = error() { ErrorBox { error: e } }
        match &*data.read() {
            None => rsx! { Loading { what: "tools" } },
            Some(Err(e)) => rsx! { ErrorBox { error: e.clone() } },
            Some(Ok((servers, clusters))) => rsx! {
                div { class: "panel",
                    h2 { "MCP servers" }
                    if servers.is_empty() {
                        div { class: "empty", "No MCP server. Register one (Streamable HTTP) to give runs more tools; discovered tools start disabled." }
                    }
                    for s in servers.clone() { McpServer { key: "{s.id}", s, manage, error, version } }
                }
                div { class: "panel",
                    h2 { "Builtin tools by cluster" }
                    if clusters.is_empty() { div { class: "empty", "No cluster yet." } }
                    for cl in clusters.clone() {
                        details { key: "{cl.id}",
                            summary { "{cl.name} " span { class: "muted small", "({cl.tools.len()} tools)" } }
                            ul { class: "plain",
                                for t in cl.tools.clone() {
                                    li { key: "{t.name}", code { "{t.name}" } " " Badge { text: if t.class == ToolClass::Write { "write".to_owned() } else { "read".to_owned() } } div { class: "small muted", "{t.description}" } }
                                }
                            }
                        }
                    }
                }
            },
        }
        if manage {
            div { class: "panel",
                h2 { "Register an MCP server" }
                form { class: "inline", id: "mcp-form",
                    onsubmit: move |evt: FormEvent| {
                        if busy() { return; }
                        busy.set(true);
                        let mut headers = std::collections::BTreeMap::new();
                        let auth = field(&evt, "authorization");
                        if !auth.is_empty() { headers.insert("authorization".to_owned(), auth); }
                        let body = CreateMcpServer {
                            name: field(&evt, "name"), url: field(&evt, "url"), headers,
                            timeout_ms: acorn_proto::gateway::default_mcp_timeout_ms(),
                            max_output_bytes: acorn_proto::gateway::default_mcp_max_output_bytes(),
                        };
                        let backend = backend.clone();
                        let ws = ws.clone();
                        spawn(async move {
                            match backend.create_mcp_server(ws, body).await { Ok(_) => { error.set(None); version += 1; } Err(e) => error.set(Some(e)) }
                            busy.set(false);
                        });
                    },
                    label { "Name" input { name: "name", required: true, pattern: "[a-z0-9\\-]{{1,32}}" } }
                    label { "URL" input { name: "url", required: true, r#type: "url", placeholder: "https://mcp.internal/mcp" } }
                    label { "Authorization header (write-only)" input { name: "authorization", r#type: "password", autocomplete: "off" } }
                    button { r#type: "submit", disabled: busy(), if busy() { "Connecting…" } else { "Register" } }
                }
            }
        }
    }
}

#[component]
fn McpServer(
    s: McpServerView,
    manage: bool,
    error: Signal<Option<UiError>>,
    version: Signal<u32>,
) -> Element {
    let c = ctx();
    let mut refreshing = use_signal(|| false);
    let backend = c.backend.clone();
    let ws = c.ws();
    let id = s.id.clone();
    rsx! {
        div { class: "mcp", "data-mcp": "{s.name}",
            h3 { "{s.name} " span { class: "muted small", code { "{s.url}" } } }
            p { class: "small muted", "Discovered " {s.refreshed_at.as_deref().map(format::rfc3339).unwrap_or_else(|| "never".into())} }
            if manage {
                button { class: "secondary", r#type: "button", disabled: refreshing(),
                    onclick: move |_| {
                        refreshing.set(true);
                        let (backend, ws, id) = (backend.clone(), ws.clone(), id.clone());
                        spawn(async move {
                            match backend.refresh_mcp_server(ws, id).await { Ok(_) => version += 1, Err(e) => error.set(Some(e)) }
                            refreshing.set(false);
                        });
                    },
                    if refreshing() { "Refreshing…" } else { "Refresh tools" }
                }
            }
            table {
                thead { tr { th { "Tool" } th { "Mode" } th { "Suggested" } } }
                tbody {
                    for t in s.tools.clone() {
                        tr { key: "{t.name}",
                            td { code { "{t.run_name}" } div { class: "small muted", "{t.description}" } }
                            td {
                                if manage {
                                    select { "aria-label": "Mode of {t.name}",
                                        onchange: {
                                            let (backend, ws, sid, tool) = (c.backend.clone(), c.ws(), s.id.clone(), t.name.clone());
                                            move |e: FormEvent| {
                                                let (backend, ws, sid, tool) = (backend.clone(), ws.clone(), sid.clone(), tool.clone());
                                                let mode = mode_of(&e.value());
                                                spawn(async move {
                                                    match backend.set_mcp_tool_mode(ws, sid, tool, mode).await { Ok(_) => version += 1, Err(e) => error.set(Some(e)) }
                                                });
                                            }
                                        },
                                        for m in ["disabled", "read", "write"] { option { value: "{m}", selected: mode_str(t.mode) == m, "{m}" } }
                                    }
                                } else { Badge { text: mode_str(t.mode).to_owned() } }
                            }
                            td { "{mode_str(t.suggested_mode)}" }
                        }
                    }
                }
            }
        }
    }
}
