//! The gateway's workspace API services: providers (BYOK, `providers.manage`), their model
//! catalog, the secret list (names and fingerprints only), the MCP registry (`tools.manage`),
//! the tool catalog runs are offered, and the gateway request log (`audit.read`).
//!
//! Every check goes through `control::authz::authorize`; every change is one store write that
//! carries its audit record. Secret values are accepted here and never returned: answers carry
//! [`SecretState`] (set + fingerprint) instead.

use std::collections::BTreeMap;

use acorn_proto::ErrorCode;
use acorn_proto::agent::{RunMode, ToolClass};
use acorn_proto::authz::Action;
use acorn_proto::gateway::{
    CatalogTool, CreateMcpServer, GatewayRequestView, MCP_TOOL_PREFIX, McpRefresh, McpServerView,
    McpToolMode, McpToolView, ModelCatalog, ProviderSource, ProviderView, PutProvider, SecretState,
    SecretView,
};
use acorn_store::{
    Category, GatewayRequestFilter, McpServerRecord, McpToolRecord, Operation, ProviderRecord,
};

use super::config::{check_base_url, valid_name};
use super::providers::Provider;
use super::{Gateway, GatewayError, mcp, secrets};
use crate::control::Control;
use crate::control::audit::{draft, with_meta};
use crate::control::auth::Caller;
use crate::control::authz::authorize;
use crate::control::error::ApiError;
use crate::util;

fn invalid(message: impl Into<String>) -> ApiError {
    ApiError::new(ErrorCode::InvalidBody, message)
}

fn provider_secret(name: &str) -> String {
    format!("provider/{name}")
}

// ---- providers -------------------------------------------------------------------------------

fn workspace_view(gw: &Gateway, r: &ProviderRecord) -> Result<ProviderView, ApiError> {
    let key = match &r.api_key_secret {
        Some(s) => gw.store.secret(&r.workspace_id, s)?,
        None => None,
    };
    Ok(ProviderView {
        name: r.name.clone(),
        source: ProviderSource::Workspace,
        spec: r.spec.clone(),
        api_key: secrets::state(key.as_ref()),
    })
}

fn deployment_view(p: &Provider) -> ProviderView {
    ProviderView {
        name: p.name.clone(),
        source: ProviderSource::Deployment,
        spec: p.spec.clone(),
        // A deployment key comes from a file; only whether it is set is shown.
        api_key: SecretState {
            set: p.has_api_key(),
            fingerprint: None,
            updated_at: None,
        },
    }
}

/// The workspace's providers, then the deployment's that no workspace provider shadows.
pub async fn list_providers(
    control: &Control,
    gw: &Gateway,
    caller: &Caller,
    workspace_id: &str,
) -> Result<Vec<ProviderView>, ApiError> {
    authorize(control, caller, workspace_id, Action::WorkspaceRead).await?;
    let own = gw.store.providers_of(workspace_id)?;
    let mut out = own
        .iter()
        .map(|r| workspace_view(gw, r))
        .collect::<Result<Vec<_>, _>>()?;
    for p in gw.deployment_providers() {
        if !own.iter().any(|r| r.name == p.name) {
            out.push(deployment_view(&p));
        }
    }
    Ok(out)
}

/// One provider as the workspace resolves it.
pub async fn get_provider(
    control: &Control,
    gw: &Gateway,
    caller: &Caller,
    workspace_id: &str,
    name: &str,
) -> Result<ProviderView, ApiError> {
    authorize(control, caller, workspace_id, Action::WorkspaceRead).await?;
    if let Some(r) = gw.store.provider(workspace_id, name)? {
        return workspace_view(gw, &r);
    }
    gw.deployment_providers()
        .into_iter()
        .find(|p| p.name == name)
        .map(|p| deployment_view(&p))
        .ok_or_else(|| ApiError::not_found("provider"))
}

/// Creates or replaces a workspace provider (its key is write-only).
pub async fn put_provider(
    control: &Control,
    gw: &Gateway,
    caller: &Caller,
    workspace_id: &str,
    name: &str,
    body: PutProvider,
) -> Result<ProviderView, ApiError> {
    authorize(control, caller, workspace_id, Action::ProvidersManage).await?;
    if !valid_name(name) {
        return Err(ApiError::new(
            ErrorCode::InvalidParameter,
            "a provider name has 1 to 32 characters of a-z, 0-9 and -",
        ));
    }
    check_base_url(&body.spec.base_url).map_err(invalid)?;
    if body.spec.request_timeout_ms == 0 || body.spec.connect_timeout_ms == 0 {
        return Err(invalid("timeouts must be at least 1 ms"));
    }
    // Building the client checks the CA bundle.
    Provider::build(
        name.to_owned(),
        ProviderSource::Workspace,
        body.spec.clone(),
        None,
        gw.max_retry_wait,
    )?;
    let secret_name = provider_secret(name);
    let api_key = match &body.api_key {
        Some(k) if k.trim().is_empty() => return Err(invalid("`api_key` must not be empty")),
        Some(k) => Some(
            gw.secrets
                .seal(workspace_id, &secret_name, k.trim().as_bytes())
                .map_err(GatewayError::from)?,
        ),
        None => None,
    };
    let now = util::now_unix();
    let record = ProviderRecord {
        workspace_id: workspace_id.to_owned(),
        name: name.to_owned(),
        spec: body.spec,
        api_key_secret: api_key.as_ref().map(|_| secret_name),
        created_at: now,
        updated_at: now,
    };
    let mut audit = draft(
        caller,
        Some(workspace_id),
        "provider.put",
        Some(name.to_owned()),
        Category::Mcp,
        Operation::Write,
    );
    audit = with_meta(audit, "base_url", &record.spec.base_url);
    if let Some(k) = &api_key {
        audit = with_meta(audit, "key_fingerprint", &k.fingerprint);
    }
    let stored = gw.store.put_provider(record, api_key, audit).await?;
    gw.forget_provider(workspace_id, name);
    workspace_view(gw, &stored)
}

/// Deletes a workspace provider and its key.
pub async fn delete_provider(
    control: &Control,
    gw: &Gateway,
    caller: &Caller,
    workspace_id: &str,
    name: &str,
) -> Result<(), ApiError> {
    authorize(control, caller, workspace_id, Action::ProvidersManage).await?;
    let audit = draft(
        caller,
        Some(workspace_id),
        "provider.delete",
        Some(name.to_owned()),
        Category::Mcp,
        Operation::Write,
    );
    gw.store.delete_provider(workspace_id, name, audit).await?;
    gw.forget_provider(workspace_id, name);
    Ok(())
}

/// The model catalog of a provider as the workspace resolves it.
pub async fn catalog(
    control: &Control,
    gw: &Gateway,
    caller: &Caller,
    workspace_id: &str,
    name: &str,
) -> Result<ModelCatalog, ApiError> {
    authorize(control, caller, workspace_id, Action::WorkspaceRead).await?;
    let provider = gw.resolve_provider(workspace_id, name)?;
    let (models, listing_error) = provider.catalog().await;
    Ok(ModelCatalog {
        provider: name.to_owned(),
        models,
        listing_error,
    })
}

/// The workspace's secrets: names and fingerprints, never values.
pub async fn list_secrets(
    control: &Control,
    gw: &Gateway,
    caller: &Caller,
    workspace_id: &str,
) -> Result<Vec<SecretView>, ApiError> {
    authorize(control, caller, workspace_id, Action::ProvidersManage).await?;
    Ok(gw
        .store
        .secrets_of(workspace_id)?
        .iter()
        .map(|r| SecretView {
            name: r.name.clone(),
            state: secrets::state(Some(r)),
        })
        .collect())
}

// ---- MCP registry ----------------------------------------------------------------------------

fn suggested(t: &McpToolRecord) -> McpToolMode {
    if t.read_only_hint {
        McpToolMode::Read
    } else {
        McpToolMode::Write
    }
}

fn mcp_view(gw: &Gateway, s: &McpServerRecord) -> Result<McpServerView, ApiError> {
    let mut headers = BTreeMap::new();
    for (header, secret) in &s.header_secrets {
        let record = gw.store.secret(&s.workspace_id, secret)?;
        headers.insert(header.clone(), secrets::state(record.as_ref()));
    }
    Ok(McpServerView {
        id: s.id.clone(),
        name: s.name.clone(),
        url: s.url.clone(),
        headers,
        timeout_ms: s.timeout_ms,
        max_output_bytes: s.max_output_bytes,
        tools: s
            .tools
            .iter()
            .map(|t| McpToolView {
                name: t.name.clone(),
                run_name: format!("{MCP_TOOL_PREFIX}{}__{}", s.name, t.name),
                description: t.description.clone(),
                input_schema: t.input_schema.clone(),
                read_only_hint: t.read_only_hint,
                mode: t.mode,
                suggested_mode: suggested(t),
            })
            .collect(),
        refreshed_at: s.refreshed_at.map(util::rfc3339),
    })
}

/// The clear header values of a server (for calls and discovery).
pub fn mcp_headers(
    gw: &Gateway,
    s: &McpServerRecord,
) -> Result<BTreeMap<String, String>, GatewayError> {
    let mut out = BTreeMap::new();
    for (header, secret) in &s.header_secrets {
        if let Some(v) = gw.secrets.get(&s.workspace_id, secret)? {
            out.insert(header.clone(), String::from_utf8_lossy(&v).into_owned());
        }
    }
    Ok(out)
}

/// Registers a server: checks the URL policy, discovers its tools (all disabled), stores it.
pub async fn create_mcp_server(
    control: &Control,
    gw: &Gateway,
    caller: &Caller,
    workspace_id: &str,
    body: CreateMcpServer,
) -> Result<McpServerView, ApiError> {
    authorize(control, caller, workspace_id, Action::ToolsManage).await?;
    if !valid_name(&body.name) || body.name.contains("__") {
        return Err(invalid(
            "an MCP server name has 1 to 32 characters of a-z, 0-9 and - (it is part of tool names)",
        ));
    }
    if body.timeout_ms == 0 || body.max_output_bytes == 0 {
        return Err(invalid("timeout_ms and max_output_bytes must be positive"));
    }
    gw.url_policy.check(&body.url)?;
    let headers: BTreeMap<String, String> = body
        .headers
        .iter()
        .map(|(k, v)| (k.to_ascii_lowercase(), v.clone()))
        .collect();
    let tools = mcp::discover(&body.url, &headers).await?;
    let id = format!("mcp_{}", hex::encode(crate::tls::pki::random_bytes::<8>()));
    let mut header_secrets = BTreeMap::new();
    let mut sealed = Vec::new();
    for (header, value) in &headers {
        let name = format!("mcp/{id}/{header}");
        sealed.push(
            gw.secrets
                .seal(workspace_id, &name, value.as_bytes())
                .map_err(GatewayError::from)?,
        );
        header_secrets.insert(header.clone(), name);
    }
    let now = util::now_unix();
    let record = McpServerRecord {
        id: id.clone(),
        workspace_id: workspace_id.to_owned(),
        name: body.name.clone(),
        url: body.url.clone(),
        header_secrets,
        timeout_ms: body.timeout_ms,
        max_output_bytes: body.max_output_bytes,
        tools,
        refreshed_at: Some(now),
        created_at: now,
    };
    let audit = with_meta(
        draft(
            caller,
            Some(workspace_id),
            "mcp_server.create",
            Some(id),
            Category::Tool,
            Operation::Write,
        ),
        "url",
        &body.url,
    );
    let stored = gw
        .store
        .put_mcp_server(record, sealed, true, audit)
        .await
        .map_err(|e| match e {
            acorn_store::StoreError::Conflict { what } => {
                ApiError::new(ErrorCode::AlreadyExists, what)
            }
            other => other.into(),
        })?;
    mcp_view(gw, &stored)
}

/// The workspace's MCP servers.
pub async fn list_mcp_servers(
    control: &Control,
    gw: &Gateway,
    caller: &Caller,
    workspace_id: &str,
) -> Result<Vec<McpServerView>, ApiError> {
    authorize(control, caller, workspace_id, Action::WorkspaceRead).await?;
    gw.store
        .mcp_servers_of(workspace_id)?
        .iter()
        .map(|s| mcp_view(gw, s))
        .collect()
}

fn server(gw: &Gateway, workspace_id: &str, id: &str) -> Result<McpServerRecord, ApiError> {
    gw.store
        .mcp_server(workspace_id, id)?
        .ok_or_else(|| ApiError::not_found("MCP server"))
}

/// One MCP server.
pub async fn get_mcp_server(
    control: &Control,
    gw: &Gateway,
    caller: &Caller,
    workspace_id: &str,
    id: &str,
) -> Result<McpServerView, ApiError> {
    authorize(control, caller, workspace_id, Action::WorkspaceRead).await?;
    mcp_view(gw, &server(gw, workspace_id, id)?)
}

/// Removes a server and its header secrets.
pub async fn delete_mcp_server(
    control: &Control,
    gw: &Gateway,
    caller: &Caller,
    workspace_id: &str,
    id: &str,
) -> Result<(), ApiError> {
    authorize(control, caller, workspace_id, Action::ToolsManage).await?;
    let audit = draft(
        caller,
        Some(workspace_id),
        "mcp_server.delete",
        Some(id.to_owned()),
        Category::Tool,
        Operation::Write,
    );
    gw.store.delete_mcp_server(workspace_id, id, audit).await?;
    Ok(())
}

/// Discovers again: new tools and tools whose description or schema changed start disabled,
/// vanished tools are dropped, unchanged tools keep their mode.
pub async fn refresh_mcp_server(
    control: &Control,
    gw: &Gateway,
    caller: &Caller,
    workspace_id: &str,
    id: &str,
) -> Result<McpRefresh, ApiError> {
    authorize(control, caller, workspace_id, Action::ToolsManage).await?;
    let mut record = server(gw, workspace_id, id)?;
    gw.url_policy.check(&record.url)?;
    let headers = mcp_headers(gw, &record)?;
    let discovered = mcp::discover(&record.url, &headers).await?;
    let (mut added, mut changed) = (Vec::new(), Vec::new());
    let tools: Vec<McpToolRecord> = discovered
        .into_iter()
        .map(|mut t| {
            match record.tools.iter().find(|old| old.name == t.name) {
                None => added.push(t.name.clone()),
                Some(old)
                    if old.description != t.description
                        || old.input_schema != t.input_schema
                        || old.read_only_hint != t.read_only_hint =>
                {
                    changed.push(t.name.clone());
                }
                Some(old) => t.mode = old.mode,
            }
            t
        })
        .collect();
    let removed: Vec<String> = record
        .tools
        .iter()
        .filter(|old| !tools.iter().any(|t| t.name == old.name))
        .map(|t| t.name.clone())
        .collect();
    record.tools = tools;
    record.refreshed_at = Some(util::now_unix());
    let mut audit = draft(
        caller,
        Some(workspace_id),
        "mcp_server.refresh",
        Some(id.to_owned()),
        Category::Tool,
        Operation::Write,
    );
    audit = with_meta(audit, "added", &added.join(","));
    audit = with_meta(audit, "removed", &removed.join(","));
    audit = with_meta(audit, "changed", &changed.join(","));
    let stored = gw
        .store
        .put_mcp_server(record, Vec::new(), false, audit)
        .await?;
    Ok(McpRefresh {
        server: mcp_view(gw, &stored)?,
        added,
        removed,
        changed,
    })
}

/// Enables a tool as read or write, or disables it.
pub async fn set_mcp_tool_mode(
    control: &Control,
    gw: &Gateway,
    caller: &Caller,
    workspace_id: &str,
    id: &str,
    tool: &str,
    mode: McpToolMode,
) -> Result<McpServerView, ApiError> {
    authorize(control, caller, workspace_id, Action::ToolsManage).await?;
    let mut record = server(gw, workspace_id, id)?;
    let entry = record
        .tools
        .iter_mut()
        .find(|t| t.name == tool)
        .ok_or_else(|| ApiError::not_found("tool"))?;
    entry.mode = mode;
    let mode_name = match mode {
        McpToolMode::Disabled => "disabled",
        McpToolMode::Read => "read",
        McpToolMode::Write => "write",
    };
    let audit = with_meta(
        draft(
            caller,
            Some(workspace_id),
            "mcp_tool.mode_set",
            Some(format!("{id}/{tool}")),
            Category::Tool,
            Operation::Write,
        ),
        "mode",
        mode_name,
    );
    let stored = gw
        .store
        .put_mcp_server(record, Vec::new(), false, audit)
        .await?;
    mcp_view(gw, &stored)
}

/// The tools a run in `cluster` with `mode` would be offered: the cluster's builtin tools (from
/// its agent) and the workspace's enabled MCP tools.
pub fn tool_catalog(
    gw: &Gateway,
    workspace_id: &str,
    cluster: Option<&str>,
    mode: RunMode,
) -> Result<Vec<CatalogTool>, GatewayError> {
    let mut out = Vec::new();
    if let Some(cluster) = cluster {
        for t in gw
            .cluster_tools
            .catalog(workspace_id, cluster)
            .unwrap_or_default()
        {
            if t.class == ToolClass::Write && mode == RunMode::ReadOnly {
                continue;
            }
            out.push(CatalogTool {
                name: t.name,
                description: t.description,
                input_schema: t.input_schema,
                source: "builtin".into(),
                class: match t.class {
                    ToolClass::Read => "read",
                    ToolClass::Write => "write",
                }
                .into(),
            });
        }
    }
    for s in gw.store.mcp_servers_of(workspace_id)? {
        for t in &s.tools {
            let class = match (t.mode, mode) {
                (McpToolMode::Disabled, _) | (McpToolMode::Write, RunMode::ReadOnly) => continue,
                (McpToolMode::Read, _) => "read",
                (McpToolMode::Write, RunMode::ReadWrite) => "write",
            };
            out.push(CatalogTool {
                name: format!("{MCP_TOOL_PREFIX}{}__{}", s.name, t.name),
                description: t.description.clone(),
                input_schema: t.input_schema.clone(),
                source: "mcp".into(),
                class: class.into(),
            });
        }
    }
    Ok(out)
}

/// `GET …/tool-catalog`.
pub async fn catalog_for(
    control: &Control,
    gw: &Gateway,
    caller: &Caller,
    workspace_id: &str,
    cluster: Option<&str>,
    mode: RunMode,
) -> Result<Vec<CatalogTool>, ApiError> {
    authorize(control, caller, workspace_id, Action::WorkspaceRead).await?;
    Ok(tool_catalog(gw, workspace_id, cluster, mode)?)
}

// ---- request log -----------------------------------------------------------------------------

/// The gateway request log of a workspace.
pub async fn requests(
    control: &Control,
    gw: &Gateway,
    caller: &Caller,
    workspace_id: &str,
    filter: GatewayRequestFilter,
) -> Result<Vec<GatewayRequestView>, ApiError> {
    authorize(control, caller, workspace_id, Action::AuditRead).await?;
    Ok(gw
        .store
        .gateway_requests(workspace_id, &filter)?
        .into_iter()
        .map(|r| GatewayRequestView {
            seq: r.seq,
            request_id: r.request_id,
            kind: r.kind,
            run: r.run,
            session: r.session,
            cluster: r.cluster,
            provider: r.provider,
            model: r.model,
            tools_offered: r.tools_offered,
            tools_called: r.tools_called,
            input_tokens: r.input_tokens,
            output_tokens: r.output_tokens,
            usage_from_provider: r.usage_from_provider,
            cost: r.cost,
            latency_ms: r.latency_ms,
            ttft_ms: r.ttft_ms,
            status: r.status,
            error_code: r.error_code,
            redactions: r.redactions,
            at: util::rfc3339(r.at),
        })
        .collect())
}
