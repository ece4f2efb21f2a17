//! `/api/v1/workspaces/{workspace_id}/members[/{user_id}]`.

use acorn_proto::authz::Action;
use acorn_proto::identity::{MemberView, Page, SetRole};
use axum::Json;
use axum::extract::{Path, State};
use axum::http::{Method, StatusCode};
use axum::routing::{delete, get, put};

use crate::control::auth::Caller;
use crate::control::error::ApiError;
use crate::control::routes::AppState;
use crate::control::routes::extract::{ApiJson, ApiQuery, PageQuery, paginate};
use crate::control::routes::table::{Access, RouteSpec, route};
use crate::control::workspaces;

pub fn routes() -> Vec<RouteSpec> {
    vec![
        route(
            Method::GET,
            "/api/v1/workspaces/{workspace_id}/members",
            Access::Workspace(Action::MembersRead),
            "Members and roles",
            get(list),
        ),
        route(
            Method::PUT,
            "/api/v1/workspaces/{workspace_id}/members/{user_id}",
            Access::Workspace(Action::MembersManage),
            "Change a member's role (owners: owners.manage)",
            put(set_role),
        ),
        route(
            Method::DELETE,
            "/api/v1/workspaces/{workspace_id}/members/{user_id}",
            Access::Workspace(Action::MembersManage),
            "Remove a member (or leave)",
            delete(remove),
        ),
    ]
}

async fn list(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
    ApiQuery(q): ApiQuery<PageQuery>,
) -> Result<Json<Page<MemberView>>, ApiError> {
    let all = workspaces::members(&state.control, &caller, &id).await?;
    Ok(Json(paginate(all, |m| &m.user.id, &q)?))
}

async fn set_role(
    State(state): State<AppState>,
    caller: Caller,
    Path((id, user_id)): Path<(String, String)>,
    ApiJson(body): ApiJson<SetRole>,
) -> Result<Json<MemberView>, ApiError> {
    Ok(Json(
        workspaces::set_role(&state.control, &caller, &id, &user_id, body).await?,
    ))
}

async fn remove(
    State(state): State<AppState>,
    caller: Caller,
    Path((id, user_id)): Path<(String, String)>,
) -> Result<StatusCode, ApiError> {
    workspaces::remove(&state.control, &caller, &id, &user_id).await?;
    Ok(StatusCode::NO_CONTENT)
}
