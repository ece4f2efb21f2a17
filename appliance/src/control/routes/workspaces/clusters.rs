//! `/api/v1/workspaces/{workspace_id}/clusters…`: registration, settings, agent keys, the
//! cluster's picture (snapshot summary, objects, events, metrics) and ad-hoc tool calls.

use acorn_proto::ErrorCode;
use acorn_proto::agent::{Resource, ResourceKey, ToolOutput, ToolSpec};
use acorn_proto::authz::Action;
use acorn_proto::clusters::{
    CallTool, ClusterView, ClusterWithKey, RegisterCluster, RotateAgentKey, SnapshotSummary,
    UpdateCluster,
};
use acorn_proto::identity::Page;
use axum::Json;
use axum::extract::{Path, State};
use axum::http::{Method, StatusCode};
use axum::routing::{delete, get, patch, post};
use base64::Engine;

use crate::control::auth::Caller;
use crate::control::clusters::{self, ObjectQuery};
use crate::control::error::ApiError;
use crate::control::routes::AppState;
use crate::control::routes::extract::{ApiJson, ApiQuery, PageQuery, paginate};
use crate::control::routes::table::{Access, RouteSpec, route};

const BASE: &str = "/api/v1/workspaces/{workspace_id}/clusters";

pub fn routes() -> Vec<RouteSpec> {
    use Action::{ClustersManage, ClustersRead, RunsCreateReadOnly};
    vec![
        route(
            Method::GET,
            BASE,
            Access::Workspace(ClustersRead),
            "Clusters of the workspace",
            get(list),
        ),
        route(
            Method::POST,
            BASE,
            Access::Workspace(ClustersManage),
            "Register a cluster (agent key and install instructions shown once)",
            post(register),
        ),
        route(
            Method::GET,
            "/api/v1/workspaces/{workspace_id}/clusters/{cluster_id}",
            Access::Workspace(ClustersRead),
            "A cluster, its link status, agent and tool catalog",
            get(one),
        ),
        route(
            Method::PATCH,
            "/api/v1/workspaces/{workspace_id}/clusters/{cluster_id}",
            Access::Workspace(ClustersManage),
            "Change a cluster's settings (a connected agent gets them at once)",
            patch(update),
        ),
        route(
            Method::DELETE,
            "/api/v1/workspaces/{workspace_id}/clusters/{cluster_id}",
            Access::Workspace(ClustersManage),
            "Delete a cluster, its keys and its picture",
            delete(remove),
        ),
        route(
            Method::POST,
            "/api/v1/workspaces/{workspace_id}/clusters/{cluster_id}/agent-key/rotate",
            Access::Workspace(ClustersManage),
            "Issue a new agent key; the old ones work for the overlap window",
            post(rotate),
        ),
        route(
            Method::GET,
            "/api/v1/workspaces/{workspace_id}/clusters/{cluster_id}/snapshot",
            Access::Workspace(ClustersRead),
            "Summary of the cluster's picture: objects per kind, bytes, freshness",
            get(snapshot),
        ),
        route(
            Method::GET,
            "/api/v1/workspaces/{workspace_id}/clusters/{cluster_id}/resources",
            Access::Workspace(ClustersRead),
            "Objects of the cluster's picture (by kind and namespace, paged)",
            get(resources),
        ),
        route(
            Method::GET,
            "/api/v1/workspaces/{workspace_id}/clusters/{cluster_id}/resources/{kind}/{name}",
            Access::Workspace(ClustersRead),
            "One object of the cluster's picture (`?namespace=` for namespaced kinds)",
            get(resource),
        ),
        route(
            Method::GET,
            "/api/v1/workspaces/{workspace_id}/clusters/{cluster_id}/events",
            Access::Workspace(ClustersRead),
            "Events of the cluster's picture, newest first",
            get(events),
        ),
        route(
            Method::GET,
            "/api/v1/workspaces/{workspace_id}/clusters/{cluster_id}/metrics",
            Access::Workspace(ClustersRead),
            "Pod and node metrics of the cluster's picture (when metrics-server serves)",
            get(metrics),
        ),
        route(
            Method::GET,
            "/api/v1/workspaces/{workspace_id}/clusters/{cluster_id}/tools",
            Access::Workspace(ClustersRead),
            "The builtin tool catalog of the cluster's agent",
            get(tools),
        ),
        route(
            Method::POST,
            "/api/v1/workspaces/{workspace_id}/clusters/{cluster_id}/tools/{tool}/call",
            Access::Workspace(RunsCreateReadOnly),
            "Call one builtin tool (mode read_write needs runs.create_read_write)",
            post(call_tool),
        ),
    ]
}

async fn list(
    State(state): State<AppState>,
    caller: Caller,
    Path(ws): Path<String>,
    ApiQuery(q): ApiQuery<PageQuery>,
) -> Result<Json<Page<ClusterView>>, ApiError> {
    let all = clusters::list(&state.control, &caller, &ws).await?;
    Ok(Json(paginate(all, |c| &c.id, &q)?))
}

async fn register(
    State(state): State<AppState>,
    caller: Caller,
    Path(ws): Path<String>,
    ApiJson(body): ApiJson<RegisterCluster>,
) -> Result<(StatusCode, Json<ClusterWithKey>), ApiError> {
    let created = clusters::register(&state.control, &caller, &ws, body).await?;
    Ok((StatusCode::CREATED, Json(created)))
}

async fn one(
    State(state): State<AppState>,
    caller: Caller,
    Path((ws, id)): Path<(String, String)>,
) -> Result<Json<ClusterView>, ApiError> {
    Ok(Json(
        clusters::get(&state.control, &caller, &ws, &id).await?,
    ))
}

async fn update(
    State(state): State<AppState>,
    caller: Caller,
    Path((ws, id)): Path<(String, String)>,
    ApiJson(body): ApiJson<UpdateCluster>,
) -> Result<Json<ClusterView>, ApiError> {
    Ok(Json(
        clusters::update(&state.control, &caller, &ws, &id, body).await?,
    ))
}

async fn remove(
    State(state): State<AppState>,
    caller: Caller,
    Path((ws, id)): Path<(String, String)>,
) -> Result<StatusCode, ApiError> {
    clusters::delete(&state.control, &caller, &ws, &id).await?;
    Ok(StatusCode::NO_CONTENT)
}

async fn rotate(
    State(state): State<AppState>,
    caller: Caller,
    Path((ws, id)): Path<(String, String)>,
    ApiJson(body): ApiJson<RotateAgentKey>,
) -> Result<Json<ClusterWithKey>, ApiError> {
    Ok(Json(
        clusters::rotate_key(&state.control, &caller, &ws, &id, body).await?,
    ))
}

async fn snapshot(
    State(state): State<AppState>,
    caller: Caller,
    Path((ws, id)): Path<(String, String)>,
) -> Result<Json<SnapshotSummary>, ApiError> {
    Ok(Json(
        clusters::get(&state.control, &caller, &ws, &id)
            .await?
            .snapshot,
    ))
}

#[derive(Debug, Default, serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct ResourcesQuery {
    kind: Option<String>,
    namespace: Option<String>,
    cursor: Option<String>,
    limit: Option<usize>,
}

fn check_limit(limit: Option<usize>, default: usize) -> Result<usize, ApiError> {
    let limit = limit.unwrap_or(default);
    if (1..=500).contains(&limit) {
        Ok(limit)
    } else {
        Err(ApiError::new(
            ErrorCode::InvalidParameter,
            "`limit` must be between 1 and 500",
        ))
    }
}

fn encode_cursor(key: &ResourceKey) -> String {
    let json = serde_json::to_vec(key).unwrap_or_default();
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(json)
}

fn decode_cursor(cursor: &str) -> Result<ResourceKey, ApiError> {
    base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(cursor)
        .ok()
        .and_then(|b| serde_json::from_slice(&b).ok())
        .ok_or_else(|| {
            ApiError::new(
                ErrorCode::InvalidParameter,
                "`cursor` is not a cursor from a previous page",
            )
        })
}

async fn resources(
    State(state): State<AppState>,
    caller: Caller,
    Path((ws, id)): Path<(String, String)>,
    ApiQuery(q): ApiQuery<ResourcesQuery>,
) -> Result<Json<Page<Resource>>, ApiError> {
    let limit = check_limit(q.limit, 100)?;
    let query = ObjectQuery {
        kind: q.kind,
        namespace: q.namespace,
        after: q.cursor.as_deref().map(decode_cursor).transpose()?,
        // One more than the page tells whether another page follows.
        limit: limit + 1,
    };
    let mut items = clusters::objects(&state.control, &caller, &ws, &id, query).await?;
    let next_cursor = if items.len() > limit {
        items.truncate(limit);
        items.last().map(|r| encode_cursor(&r.key))
    } else {
        None
    };
    Ok(Json(Page { items, next_cursor }))
}

#[derive(Debug, Default, serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct ObjectQueryParams {
    namespace: Option<String>,
}

async fn resource(
    State(state): State<AppState>,
    caller: Caller,
    Path((ws, id, kind, name)): Path<(String, String, String, String)>,
    ApiQuery(q): ApiQuery<ObjectQueryParams>,
) -> Result<Json<Resource>, ApiError> {
    // The api_version is not part of an object's identity in the picture (see the store).
    let key = ResourceKey {
        api_version: String::new(),
        kind,
        namespace: q.namespace,
        name,
    };
    Ok(Json(
        clusters::object(&state.control, &caller, &ws, &id, &key).await?,
    ))
}

#[derive(Debug, Default, serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct EventsQuery {
    namespace: Option<String>,
    involved_kind: Option<String>,
    involved_name: Option<String>,
    /// `Normal` or `Warning`.
    r#type: Option<String>,
    limit: Option<usize>,
}

fn event_time(e: &Resource) -> String {
    let o = &e.object;
    ["lastTimestamp", "eventTime", "firstTimestamp"]
        .iter()
        .find_map(|f| o[*f].as_str().map(str::to_owned))
        .or_else(|| {
            o["metadata"]["creationTimestamp"]
                .as_str()
                .map(str::to_owned)
        })
        .unwrap_or_default()
}

async fn events(
    State(state): State<AppState>,
    caller: Caller,
    Path((ws, id)): Path<(String, String)>,
    ApiQuery(q): ApiQuery<EventsQuery>,
) -> Result<Json<Page<Resource>>, ApiError> {
    let limit = check_limit(q.limit, 100)?;
    let query = ObjectQuery {
        kind: Some("Event".into()),
        namespace: q.namespace,
        after: None,
        limit: usize::MAX,
    };
    let mut items: Vec<Resource> = clusters::objects(&state.control, &caller, &ws, &id, query)
        .await?
        .into_iter()
        .filter(|e| {
            let involved = &e.object["involvedObject"];
            q.involved_kind
                .as_deref()
                .is_none_or(|k| involved["kind"] == k)
                && q.involved_name
                    .as_deref()
                    .is_none_or(|n| involved["name"] == n)
                && q.r#type.as_deref().is_none_or(|t| e.object["type"] == t)
        })
        .collect();
    items.sort_by_key(|e| std::cmp::Reverse(event_time(e)));
    items.truncate(limit);
    Ok(Json(Page {
        items,
        next_cursor: None,
    }))
}

#[derive(Debug, Default, serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct MetricsQuery {
    /// `pods` (default) or `nodes`.
    kind: Option<String>,
    namespace: Option<String>,
}

async fn metrics(
    State(state): State<AppState>,
    caller: Caller,
    Path((ws, id)): Path<(String, String)>,
    ApiQuery(q): ApiQuery<MetricsQuery>,
) -> Result<Json<Page<Resource>>, ApiError> {
    let kind = match q.kind.as_deref().unwrap_or("pods") {
        "pods" => "PodMetrics",
        "nodes" => "NodeMetrics",
        other => {
            return Err(ApiError::new(
                ErrorCode::InvalidParameter,
                format!("`kind` must be pods or nodes, not {other:?}"),
            ));
        }
    };
    let query = ObjectQuery {
        kind: Some(kind.into()),
        namespace: q.namespace,
        after: None,
        limit: 10_000,
    };
    let items = clusters::objects(&state.control, &caller, &ws, &id, query).await?;
    Ok(Json(Page {
        items,
        next_cursor: None,
    }))
}

async fn tools(
    State(state): State<AppState>,
    caller: Caller,
    Path((ws, id)): Path<(String, String)>,
) -> Result<Json<Vec<ToolSpec>>, ApiError> {
    Ok(Json(
        clusters::get(&state.control, &caller, &ws, &id)
            .await?
            .tools,
    ))
}

async fn call_tool(
    State(state): State<AppState>,
    caller: Caller,
    Path((ws, id, tool)): Path<(String, String, String)>,
    ApiJson(body): ApiJson<CallTool>,
) -> Result<Json<ToolOutput>, ApiError> {
    Ok(Json(
        clusters::call_tool(&state.control, &caller, &ws, &id, &tool, body).await?,
    ))
}
