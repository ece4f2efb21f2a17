//! Clusters: registration (with the agent key, shown once, and the install instructions),
//! settings, key rotation with an overlap window, deletion, the cluster's picture as the agent
//! keeps it (summary, objects, events, metrics) and ad-hoc tool calls through the agent hub.
//!
//! Every function authorizes the caller first through the one layer ([`authorize`]); a caller
//! outside the workspace, or a cluster of another workspace, is "not found".

use std::time::Duration;

use acorn_proto::ErrorCode;
use acorn_proto::agent::{
    HubMessage, NamespaceFilter, Resource, ResourceKey, RunMode, ToolClass, ToolOutput, Welcome,
};
use acorn_proto::authz::{Action, Role};
use acorn_proto::clusters::{
    AgentView, CallTool, ClusterView, ClusterWithKey, InstallInstructions, LinkStatus, RbacScope,
    RegisterCluster, RotateAgentKey, SnapshotSummary, UpdateCluster,
};
use acorn_store::{AgentKey, Category, Cluster, ClusterUpdate, Operation};

use super::Control;
use super::agent_install::{self, InstallParams};
use super::audit::{draft, with_meta};
use super::auth::Caller;
use super::authz::authorize;
use super::error::ApiError;
use super::hub::ToolRequest;
use crate::util;

const DEFAULT_OVERLAP_SECS: u64 = 3600;
const MAX_OVERLAP_SECS: u64 = 7 * 86400;
const DEFAULT_TOOL_TIMEOUT_MS: u64 = 30_000;
const MAX_TOOL_TIMEOUT_MS: u64 = 300_000;
const MAX_NAMESPACES: usize = 256;

fn invalid(message: impl Into<String>) -> ApiError {
    ApiError::new(ErrorCode::InvalidBody, message)
}

/// A DNS label: 1–63 of a-z, 0-9, `-`, starting with a letter, not ending with `-`.
fn is_dns_label(s: &str) -> bool {
    (1..=63).contains(&s.len())
        && s.starts_with(|c: char| c.is_ascii_lowercase())
        && !s.ends_with('-')
        && s.chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
}

fn check_name(name: &str) -> Result<(), ApiError> {
    if is_dns_label(name) {
        Ok(())
    } else {
        Err(ApiError::new(
            ErrorCode::ClusterNameInvalid,
            format!(
                "cluster name {:?} is not allowed: use 1 to 63 characters a-z, 0-9 and `-`, starting with a letter",
                name.chars().take(80).collect::<String>()
            ),
        ))
    }
}

fn check_namespaces(list: &[String], field: &str) -> Result<(), ApiError> {
    if list.len() > MAX_NAMESPACES {
        return Err(invalid(format!(
            "`{field}` has more than {MAX_NAMESPACES} namespaces"
        )));
    }
    match list.iter().find(|n| !is_dns_label(n)) {
        Some(bad) => Err(invalid(format!(
            "`{field}`: {:?} is not a namespace name",
            bad.chars().take(80).collect::<String>()
        ))),
        None => Ok(()),
    }
}

fn check_filter(filter: &NamespaceFilter) -> Result<(), ApiError> {
    check_namespaces(&filter.include, "namespaces.include")?;
    check_namespaces(&filter.exclude, "namespaces.exclude")
}

fn check_scope(scope: &RbacScope) -> Result<(), ApiError> {
    match scope {
        RbacScope::Cluster => Ok(()),
        RbacScope::Namespaces { namespaces } if namespaces.is_empty() => Err(invalid(
            "`rbac_scope.namespaces` must list at least one namespace",
        )),
        RbacScope::Namespaces { namespaces } => {
            check_namespaces(namespaces, "rbac_scope.namespaces")
        }
    }
}

fn check_image(image: &str) -> Result<(), ApiError> {
    let ok = !image.is_empty()
        && image.len() <= 255
        && image
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "._-/:@".contains(c));
    if ok {
        Ok(())
    } else {
        Err(invalid(
            "`agent_image` must be an image reference like registry.example/acorn-agent:1.2.3",
        ))
    }
}

fn image_of(control: &Control, cluster: &Cluster) -> String {
    cluster
        .agent_image
        .clone()
        .unwrap_or_else(|| control.clusters.agent_image.clone())
}

/// The cluster as the API shows it to a caller with `role`.
pub fn view(control: &Control, cluster: &Cluster, role: Role) -> ClusterView {
    let live = control.hub.live(&cluster.id);
    let status = match (&live, &cluster.agent) {
        (Some(_), _) => LinkStatus::Connected,
        (None, Some(_)) => LinkStatus::Disconnected,
        (None, None) => LinkStatus::NeverConnected,
    };
    let agent = cluster.agent.as_ref().map(|a| {
        let last_seen = live
            .as_ref()
            .map(|l| l.last_seen.load(std::sync::atomic::Ordering::Relaxed))
            .unwrap_or(a.last_seen_at);
        AgentView {
            version: a.agent_version.clone(),
            pod_name: a.pod_name.clone(),
            facts: a.facts.clone(),
            write_enabled: a.write_enabled,
            connected_at: util::rfc3339(live.as_ref().map_or(a.connected_at, |l| l.connected_at)),
            last_heartbeat_at: util::rfc3339(last_seen),
            disconnected_at: if live.is_some() {
                None
            } else {
                a.disconnected_at.map(util::rfc3339)
            },
        }
    });
    let tools = match &live {
        Some(l) => l.tools.lock().map(|t| t.clone()).unwrap_or_default(),
        None => cluster.tools.clone(),
    };
    ClusterView {
        id: cluster.id.clone(),
        workspace_id: cluster.workspace_id.clone(),
        name: cluster.name.clone(),
        namespaces: cluster.namespaces.clone(),
        rbac_scope: cluster.rbac_scope.clone(),
        write_allowed: cluster.write_allowed,
        logs_allowed: cluster.logs_allowed,
        agent_image: image_of(control, cluster),
        created_at: util::rfc3339(cluster.created_at),
        status,
        agent,
        snapshot: SnapshotSummary {
            complete_at: cluster.snapshot.complete_at.map(util::rfc3339),
            updated_at: cluster.snapshot.updated_at.map(util::rfc3339),
            counts: cluster.snapshot.counts.clone(),
            bytes: cluster.snapshot.bytes,
            budget_bytes: control.clusters.snapshot_budget_bytes,
            error: cluster.snapshot.error.clone(),
        },
        tools,
        permissions: role.permissions(),
        auto_triage: cluster.auto_triage,
        findings_evaluated_at: findings_evaluated_at(control, &cluster.id),
    }
}

/// A view is still useful when the findings record cannot be read, so an error is only logged.
fn findings_evaluated_at(control: &Control, cluster_id: &str) -> Option<String> {
    match control.store.findings_record(cluster_id) {
        Ok(record) => record.map(|r| util::rfc3339(r.evaluated_at)),
        Err(e) => {
            tracing::warn!(cluster_id, error = %e, "reading the findings record failed");
            None
        }
    }
}

fn new_agent_key(workspace_id: &str, cluster_id: &str, now: i64) -> (String, AgentKey) {
    let secret = format!(
        "{}{}",
        acorn_proto::agent::AGENT_KEY_PREFIX,
        util::random_token()
    );
    let key = AgentKey {
        id: format!("agk_{}", hex::encode(crate::tls::pki::random_bytes::<8>())),
        workspace_id: workspace_id.to_owned(),
        cluster_id: cluster_id.to_owned(),
        created_at: now,
        expires_at: None,
    };
    (secret, key)
}

/// The CA agents pin: the configured bundle, else the appliance's own CA.
fn ca_bundle(control: &Control) -> Result<String, ApiError> {
    if let Some(path) = &control.clusters.ca_bundle_file {
        return std::fs::read_to_string(path).map_err(|e| {
            ApiError::internal(format!(
                "cannot read clusters.ca_bundle_file {}: {e}",
                path.display()
            ))
        });
    }
    control
        .store
        .tls_ca()?
        .map(|ca| ca.cert_pem)
        .ok_or_else(|| ApiError::internal("the appliance CA is missing from the store"))
}

fn install(
    control: &Control,
    cluster: &Cluster,
    agent_key: &str,
) -> Result<InstallInstructions, ApiError> {
    let mut params = InstallParams::new(
        cluster.id.clone(),
        cluster.name.clone(),
        control.public_base_url.clone(),
        ca_bundle(control)?,
        agent_key,
        image_of(control, cluster),
    );
    params.namespace = control.clusters.agent_namespace.clone();
    params.rbac_scope = match &cluster.rbac_scope {
        RbacScope::Cluster => agent_install::RbacScope::Cluster,
        RbacScope::Namespaces { namespaces } => {
            agent_install::RbacScope::Namespaces(namespaces.clone())
        }
    };
    params.write_enabled = cluster.write_allowed;
    params.logs_allowed = cluster.logs_allowed;
    params.namespaces_include = cluster.namespaces.include.clone();
    params.namespaces_exclude = cluster.namespaces.exclude.clone();
    let rendered = agent_install::render(&params).map_err(|e| invalid(e.to_string()))?;
    Ok(InstallInstructions {
        helm_command: rendered.helm_command,
        helm_values: rendered.helm_values,
        manifest: rendered.manifest,
    })
}

/// Registers a cluster; the answer carries its agent key (shown once) and install instructions.
pub async fn register(
    control: &Control,
    caller: &Caller,
    workspace_id: &str,
    body: RegisterCluster,
) -> Result<ClusterWithKey, ApiError> {
    let access = authorize(control, caller, workspace_id, Action::ClustersManage).await?;
    check_name(&body.name)?;
    let namespaces = body
        .namespaces
        .unwrap_or_else(NamespaceFilter::default_excludes);
    check_filter(&namespaces)?;
    let rbac_scope = body.rbac_scope.unwrap_or(RbacScope::Cluster);
    check_scope(&rbac_scope)?;
    if let Some(image) = &body.agent_image {
        check_image(image)?;
    }
    let now = util::now_unix();
    let id = format!("clu_{}", hex::encode(crate::tls::pki::random_bytes::<8>()));
    let (secret, key) = new_agent_key(workspace_id, &id, now);
    let cluster = Cluster {
        id: id.clone(),
        workspace_id: workspace_id.to_owned(),
        name: body.name.clone(),
        namespaces,
        rbac_scope,
        write_allowed: body.write_allowed,
        logs_allowed: body.logs_allowed,
        agent_image: body.agent_image,
        created_at: now,
        created_by: caller.user.id.clone(),
        agent: None,
        tools: Vec::new(),
        snapshot: Default::default(),
        auto_triage: body.auto_triage,
    };
    // Render first: a registration whose instructions cannot be rendered is not stored.
    let install = install(control, &cluster, &secret)?;
    let mut audit = draft(
        caller,
        Some(workspace_id),
        "cluster.register",
        Some(id),
        Category::Cluster,
        Operation::Write,
    );
    audit = with_meta(audit, "name", &cluster.name);
    audit = with_meta(audit, "write_allowed", &cluster.write_allowed.to_string());
    audit = with_meta(audit, "key_id", &key.id);
    let stored = control
        .store
        .register_cluster(cluster, key.clone(), util::sha256(&secret), audit)
        .await?;
    Ok(ClusterWithKey {
        cluster: view(control, &stored, access.role),
        agent_key: secret,
        agent_key_id: key.id,
        previous_keys_expire_at: None,
        install,
    })
}

/// The clusters of a workspace.
pub async fn list(
    control: &Control,
    caller: &Caller,
    workspace_id: &str,
) -> Result<Vec<ClusterView>, ApiError> {
    let access = authorize(control, caller, workspace_id, Action::ClustersRead).await?;
    Ok(control
        .store
        .clusters(workspace_id)?
        .iter()
        .map(|c| view(control, c, access.role))
        .collect())
}

async fn find(
    control: &Control,
    caller: &Caller,
    workspace_id: &str,
    cluster_id: &str,
    action: Action,
) -> Result<(Cluster, Role), ApiError> {
    let access = authorize(control, caller, workspace_id, action).await?;
    let cluster = control
        .store
        .cluster(workspace_id, cluster_id)?
        .ok_or_else(|| ApiError::not_found("cluster"))?;
    Ok((cluster, access.role))
}

/// One cluster.
pub async fn get(
    control: &Control,
    caller: &Caller,
    workspace_id: &str,
    cluster_id: &str,
) -> Result<ClusterView, ApiError> {
    let (cluster, role) = find(
        control,
        caller,
        workspace_id,
        cluster_id,
        Action::ClustersRead,
    )
    .await?;
    Ok(view(control, &cluster, role))
}

/// Changes settings; a connected agent gets the new settings at once (a new welcome) and
/// answers with a fresh full snapshot.
pub async fn update(
    control: &Control,
    caller: &Caller,
    workspace_id: &str,
    cluster_id: &str,
    body: UpdateCluster,
) -> Result<ClusterView, ApiError> {
    let (_, role) = find(
        control,
        caller,
        workspace_id,
        cluster_id,
        Action::ClustersManage,
    )
    .await?;
    if let Some(name) = &body.name {
        check_name(name)?;
    }
    if let Some(filter) = &body.namespaces {
        check_filter(filter)?;
    }
    if let Some(scope) = &body.rbac_scope {
        check_scope(scope)?;
    }
    if let Some(image) = &body.agent_image {
        check_image(image)?;
    }
    let mut audit = draft(
        caller,
        Some(workspace_id),
        "cluster.update",
        Some(cluster_id.to_owned()),
        Category::Cluster,
        Operation::Write,
    );
    if let Some(w) = body.write_allowed {
        audit = with_meta(audit, "write_allowed", &w.to_string());
    }
    if let Some(l) = body.logs_allowed {
        audit = with_meta(audit, "logs_allowed", &l.to_string());
    }
    if let Some(t) = body.auto_triage {
        audit = with_meta(audit, "auto_triage", &t.to_string());
    }
    let update = ClusterUpdate {
        name: body.name,
        namespaces: body.namespaces,
        rbac_scope: body.rbac_scope,
        write_allowed: body.write_allowed,
        logs_allowed: body.logs_allowed,
        agent_image: body.agent_image.map(Some),
        auto_triage: body.auto_triage,
    };
    let cluster = control
        .store
        .update_cluster(workspace_id, cluster_id, update, audit)
        .await?;
    control.hub.send(
        &cluster.id,
        HubMessage::Welcome(Welcome {
            cluster_id: cluster.id.clone(),
            cluster_name: cluster.name.clone(),
            namespaces: cluster.namespaces.clone(),
            write_allowed: cluster.write_allowed,
            logs_allowed: cluster.logs_allowed,
        }),
    );
    Ok(view(control, &cluster, role))
}

/// Deletes a cluster with its keys and picture; a connected agent is disconnected.
pub async fn delete(
    control: &Control,
    caller: &Caller,
    workspace_id: &str,
    cluster_id: &str,
) -> Result<(), ApiError> {
    find(
        control,
        caller,
        workspace_id,
        cluster_id,
        Action::ClustersManage,
    )
    .await?;
    let audit = draft(
        caller,
        Some(workspace_id),
        "cluster.delete",
        Some(cluster_id.to_owned()),
        Category::Cluster,
        Operation::Write,
    );
    control
        .store
        .delete_cluster(workspace_id, cluster_id, audit)
        .await?;
    control.hub.disconnect(
        cluster_id,
        ErrorCode::AgentKeyInvalid.as_str(),
        "the cluster was deleted from the appliance; uninstall the agent",
    );
    Ok(())
}

/// Issues a new agent key; the previous keys keep working for the overlap window.
pub async fn rotate_key(
    control: &Control,
    caller: &Caller,
    workspace_id: &str,
    cluster_id: &str,
    body: RotateAgentKey,
) -> Result<ClusterWithKey, ApiError> {
    let (cluster, role) = find(
        control,
        caller,
        workspace_id,
        cluster_id,
        Action::ClustersManage,
    )
    .await?;
    let overlap = body.overlap_seconds.unwrap_or(DEFAULT_OVERLAP_SECS);
    if overlap > MAX_OVERLAP_SECS {
        return Err(invalid(format!(
            "`overlap_seconds` must be at most {MAX_OVERLAP_SECS} (7 days)"
        )));
    }
    let now = util::now_unix();
    let expire_at = now + overlap as i64;
    let (secret, key) = new_agent_key(workspace_id, cluster_id, now);
    let install = install(control, &cluster, &secret)?;
    let mut audit = draft(
        caller,
        Some(workspace_id),
        "cluster.agent_key_rotated",
        Some(cluster_id.to_owned()),
        Category::Cluster,
        Operation::Write,
    );
    audit = with_meta(audit, "key_id", &key.id);
    audit = with_meta(audit, "overlap_seconds", &overlap.to_string());
    let expiring = control
        .store
        .rotate_agent_key(key.clone(), util::sha256(&secret), expire_at, audit)
        .await?;
    let ids: Vec<String> = expiring.into_iter().map(|k| k.id).collect();
    control.hub.keys_expire(cluster_id, &ids, expire_at);
    Ok(ClusterWithKey {
        cluster: view(control, &cluster, role),
        agent_key: secret,
        agent_key_id: key.id,
        previous_keys_expire_at: Some(util::rfc3339(expire_at)),
        install,
    })
}

/// What to list from a cluster's picture.
#[derive(Debug, Default)]
pub struct ObjectQuery {
    pub kind: Option<String>,
    pub namespace: Option<String>,
    pub after: Option<ResourceKey>,
    pub limit: usize,
}

/// Objects of the cluster's picture, in key order.
pub async fn objects(
    control: &Control,
    caller: &Caller,
    workspace_id: &str,
    cluster_id: &str,
    query: ObjectQuery,
) -> Result<Vec<Resource>, ApiError> {
    let (cluster, _) = find(
        control,
        caller,
        workspace_id,
        cluster_id,
        Action::ClustersRead,
    )
    .await?;
    if query.namespace.is_some() && query.kind.is_none() {
        return Err(ApiError::new(
            ErrorCode::InvalidParameter,
            "`namespace` needs `kind`",
        ));
    }
    Ok(control.store.cluster_objects(
        &cluster.id,
        query.kind.as_deref(),
        query.namespace.as_deref(),
        query.after.as_ref(),
        query.limit,
    )?)
}

/// One object of the cluster's picture.
pub async fn object(
    control: &Control,
    caller: &Caller,
    workspace_id: &str,
    cluster_id: &str,
    key: &ResourceKey,
) -> Result<Resource, ApiError> {
    let (cluster, _) = find(
        control,
        caller,
        workspace_id,
        cluster_id,
        Action::ClustersRead,
    )
    .await?;
    control
        .store
        .cluster_object(&cluster.id, key)?
        .ok_or_else(|| ApiError::not_found("object in the cluster's picture"))
}

/// Runs one builtin tool through the cluster's agent, authorized like a run of `mode`:
/// `runs.create_read_only` (and `logs.read` for pod logs), `runs.create_read_write` for
/// read-write. The cluster's own settings are checked here too (the agent checks them again).
pub async fn call_tool(
    control: &Control,
    caller: &Caller,
    workspace_id: &str,
    cluster_id: &str,
    tool: &str,
    body: CallTool,
) -> Result<ToolOutput, ApiError> {
    let action = match body.mode {
        RunMode::ReadOnly => Action::RunsCreateReadOnly,
        RunMode::ReadWrite => Action::RunsCreateReadWrite,
    };
    let (cluster, _) = find(control, caller, workspace_id, cluster_id, action).await?;
    if tool == "get_pod_logs" {
        authorize(control, caller, workspace_id, Action::LogsRead).await?;
    }
    let timeout_ms = body.timeout_ms.unwrap_or(DEFAULT_TOOL_TIMEOUT_MS);
    if timeout_ms == 0 || timeout_ms > MAX_TOOL_TIMEOUT_MS {
        return Err(invalid(format!(
            "`timeout_ms` must be between 1 and {MAX_TOOL_TIMEOUT_MS}"
        )));
    }
    let spec = control
        .hub
        .tool_spec(&cluster.id, tool)
        .map_err(|e| ApiError::new(e.code.error_code(), e.message))?;
    check_tool_policy(&cluster, &spec, body.mode)
        .map_err(|e| ApiError::new(e.code.error_code(), e.message))?;
    let mut audit = draft(
        caller,
        Some(workspace_id),
        "tool.call",
        Some(cluster_id.to_owned()),
        Category::Tool,
        if spec.class == ToolClass::Write {
            Operation::Write
        } else {
            Operation::Read
        },
    );
    audit = with_meta(audit, "tool", tool);
    let request = ToolRequest {
        tool: tool.to_owned(),
        arguments: body.arguments,
        mode: body.mode,
        run_id: None,
        timeout: Duration::from_millis(timeout_ms),
    };
    let result = control.hub.call_tool(&cluster.id, request).await;
    if spec.class == ToolClass::Write {
        if let Err(e) = &result {
            audit.result = acorn_store::AuditResult::Failed;
            audit = with_meta(audit, "error", e.code.as_str());
        }
        control.store.append_audit(audit).await?;
    }
    result.map_err(|e| ApiError::new(e.code.error_code(), e.message))
}

/// The cluster's own settings for one tool call (the agent checks them again): write tools only
/// in read-write runs and only when the cluster allows writes; pod logs only when it allows logs.
pub fn check_tool_policy(
    cluster: &Cluster,
    spec: &acorn_proto::agent::ToolSpec,
    mode: RunMode,
) -> Result<(), acorn_proto::agent::ToolError> {
    use acorn_proto::agent::{ToolError, ToolErrorCode as T};
    let refuse = |code, message: String| Err(ToolError { code, message });
    if spec.class == ToolClass::Write {
        if mode == RunMode::ReadOnly {
            return refuse(
                T::ToolWriteInReadOnlyRun,
                format!(
                    "{} changes the cluster; it needs a read-write run",
                    spec.name
                ),
            );
        }
        if !cluster.write_allowed {
            return refuse(
                T::ToolWritesDisabled,
                "write tools are disabled for this cluster (write_allowed is false)".into(),
            );
        }
    }
    if spec.name == "get_pod_logs" && !cluster.logs_allowed {
        return refuse(
            T::ToolLogsNotAllowed,
            "pod logs are not allowed for this cluster (logs_allowed is false)".into(),
        );
    }
    Ok(())
}

/// The cluster link as the gateway sees it: the builtin tools of a workspace's connected
/// clusters, called through the agent hub with the same policy as [`call_tool`].
pub struct GatewayClusterTools {
    pub control: Control,
}

impl crate::gateway::tools::ClusterTools for GatewayClusterTools {
    fn catalog(&self, workspace: &str, cluster: &str) -> Option<Vec<acorn_proto::agent::ToolSpec>> {
        self.control
            .store
            .cluster(workspace, cluster)
            .ok()
            .flatten()?;
        let live = self.control.hub.live(cluster)?;
        live.tools.lock().ok().map(|t| t.clone())
    }

    fn call<'a>(
        &'a self,
        workspace: &'a str,
        cluster: &'a str,
        tool: &'a str,
        args: serde_json::Value,
        mode: RunMode,
        run_id: &'a str,
    ) -> crate::gateway::tools::BoxFuture<'a, crate::gateway::tools::ToolResult> {
        Box::pin(async move {
            use acorn_proto::agent::{ToolError, ToolErrorCode as T};
            let disconnected = || ToolError {
                code: T::AgentDisconnected,
                message: format!("the agent of cluster {cluster} is not connected"),
            };
            // A cluster of another workspace looks exactly like an absent one.
            let found = self
                .control
                .store
                .cluster(workspace, cluster)
                .map_err(|e| ToolError {
                    code: T::AgentDisconnected,
                    message: format!("the store failed: {e}"),
                })?;
            let cluster_record = found.ok_or_else(disconnected)?;
            let spec = self.control.hub.tool_spec(cluster, tool)?;
            check_tool_policy(&cluster_record, &spec, mode)?;
            let request = ToolRequest {
                tool: tool.to_owned(),
                arguments: args,
                mode,
                run_id: Some(run_id.to_owned()),
                timeout: Duration::from_millis(DEFAULT_TOOL_TIMEOUT_MS),
            };
            self.control.hub.call_tool(cluster, request).await
        })
    }
}
