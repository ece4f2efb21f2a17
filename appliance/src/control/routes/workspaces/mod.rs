//! `/api/v1/workspaces` and `/api/v1/workspaces/{workspace_id}`; sub-resources in the sibling
//! modules (members, invitations, tokens, audit, clusters, findings), mirroring the URL tree.

mod audit;
mod clusters;
mod findings;
mod invitations;
mod members;
pub(crate) mod runs;
mod tokens;

use acorn_proto::authz::Action;
use acorn_proto::identity::{CreateWorkspace, Page, UpdateWorkspace, WorkspaceView};
use axum::Json;
use axum::extract::{Path, State};
use axum::http::{Method, StatusCode};
use axum::routing::{delete, get, patch, post};

use super::AppState;
use super::extract::{ApiJson, ApiQuery, PageQuery, paginate};
use super::table::{Access, RouteSpec, route};
use crate::control::auth::Caller;
use crate::control::error::ApiError;
use crate::control::workspaces;

pub fn routes() -> Vec<RouteSpec> {
    let mut routes = vec![
        route(
            Method::GET,
            "/api/v1/workspaces",
            Access::SignedIn,
            "Workspaces I belong to",
            get(list),
        ),
        route(
            Method::POST,
            "/api/v1/workspaces",
            Access::SignedIn,
            "Create a workspace (appliance administrators)",
            post(create),
        ),
        route(
            Method::GET,
            "/api/v1/workspaces/{workspace_id}",
            Access::Workspace(Action::WorkspaceRead),
            "A workspace",
            get(show),
        ),
        route(
            Method::PATCH,
            "/api/v1/workspaces/{workspace_id}",
            Access::Workspace(Action::WorkspaceUpdate),
            "Rename or change settings",
            patch(update),
        ),
        route(
            Method::DELETE,
            "/api/v1/workspaces/{workspace_id}",
            Access::Workspace(Action::WorkspaceDelete),
            "Delete a workspace",
            delete(remove),
        ),
    ];
    routes.extend(members::routes());
    routes.extend(invitations::routes());
    routes.extend(tokens::routes());
    routes.extend(audit::routes());
    routes.extend(clusters::routes());
    routes.extend(runs::routes());
    routes.extend(findings::routes());
    routes
}

async fn list(
    State(state): State<AppState>,
    caller: Caller,
    ApiQuery(q): ApiQuery<PageQuery>,
) -> Result<Json<Page<WorkspaceView>>, ApiError> {
    let all = workspaces::list(&state.control, &caller)?;
    Ok(Json(paginate(all, |w| &w.id, &q)?))
}

async fn create(
    State(state): State<AppState>,
    caller: Caller,
    ApiJson(body): ApiJson<CreateWorkspace>,
) -> Result<(StatusCode, Json<WorkspaceView>), ApiError> {
    Ok((
        StatusCode::CREATED,
        Json(workspaces::create(&state.control, &caller, body).await?),
    ))
}

async fn show(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> Result<Json<WorkspaceView>, ApiError> {
    Ok(Json(workspaces::get(&state.control, &caller, &id).await?))
}

async fn update(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
    ApiJson(body): ApiJson<UpdateWorkspace>,
) -> Result<Json<WorkspaceView>, ApiError> {
    Ok(Json(
        workspaces::update(&state.control, &caller, &id, body).await?,
    ))
}

async fn remove(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> Result<StatusCode, ApiError> {
    workspaces::delete(&state.control, &caller, &id).await?;
    Ok(StatusCode::NO_CONTENT)
}
