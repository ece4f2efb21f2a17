//! `/api/v1/workspaces/{workspace_id}/findings` and `…/clusters/{cluster_id}/findings`: what the
//! analyzers found (service: `crate::findings::api`).

use acorn_proto::authz::Action;
use acorn_proto::findings::FindingView;
use acorn_proto::identity::Page;
use axum::Json;
use axum::extract::{Path, State};
use axum::http::Method;
use axum::routing::get;

use crate::control::auth::Caller;
use crate::control::error::ApiError;
use crate::control::routes::AppState;
use crate::control::routes::extract::{ApiQuery, PageQuery, paginate};
use crate::control::routes::table::{Access, RouteSpec, route};
use crate::findings::api::{self, FindingsQuery};

pub fn routes() -> Vec<RouteSpec> {
    vec![
        route(
            Method::GET,
            "/api/v1/workspaces/{workspace_id}/findings",
            Access::Workspace(Action::ClustersRead),
            "Findings of the workspace's clusters (filters: cluster_id, severity, state, rule)",
            get(list),
        ),
        route(
            Method::GET,
            "/api/v1/workspaces/{workspace_id}/clusters/{cluster_id}/findings",
            Access::Workspace(Action::ClustersRead),
            "Findings of a cluster (filters: severity, state, rule)",
            get(of_cluster),
        ),
    ]
}

fn page(
    items: Vec<(String, FindingView)>,
    q: &FindingsQuery,
) -> Result<Page<FindingView>, ApiError> {
    let paged = paginate(
        items,
        |(key, _)| key.as_str(),
        &PageQuery {
            cursor: q.cursor.clone(),
            limit: q.limit,
        },
    )?;
    Ok(Page {
        items: paged.items.into_iter().map(|(_, v)| v).collect(),
        next_cursor: paged.next_cursor,
    })
}

async fn list(
    State(state): State<AppState>,
    caller: Caller,
    Path(workspace_id): Path<String>,
    ApiQuery(q): ApiQuery<FindingsQuery>,
) -> Result<Json<Page<FindingView>>, ApiError> {
    let cluster = q.cluster_id.clone();
    let items = api::list(
        &state.control,
        &caller,
        &workspace_id,
        cluster.as_deref(),
        &q,
    )
    .await?;
    Ok(Json(page(items, &q)?))
}

async fn of_cluster(
    State(state): State<AppState>,
    caller: Caller,
    Path((workspace_id, cluster_id)): Path<(String, String)>,
    ApiQuery(q): ApiQuery<FindingsQuery>,
) -> Result<Json<Page<FindingView>>, ApiError> {
    let items = api::list(
        &state.control,
        &caller,
        &workspace_id,
        Some(&cluster_id),
        &q,
    )
    .await?;
    Ok(Json(page(items, &q)?))
}
