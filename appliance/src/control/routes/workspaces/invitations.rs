//! `/api/v1/workspaces/{workspace_id}/invitations[/{invitation_id}]`.

use acorn_proto::authz::Action;
use acorn_proto::identity::{CreateInvitation, InvitationView, Page};
use axum::Json;
use axum::extract::{Path, State};
use axum::http::{Method, StatusCode};
use axum::routing::{delete, get, post};

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
            "/api/v1/workspaces/{workspace_id}/invitations",
            Access::Workspace(Action::MembersRead),
            "Invitations",
            get(list),
        ),
        route(
            Method::POST,
            "/api/v1/workspaces/{workspace_id}/invitations",
            Access::Workspace(Action::MembersManage),
            "Invite an email with a role (link shown once)",
            post(create),
        ),
        route(
            Method::DELETE,
            "/api/v1/workspaces/{workspace_id}/invitations/{invitation_id}",
            Access::Workspace(Action::MembersManage),
            "Revoke an invitation",
            delete(revoke),
        ),
    ]
}

async fn list(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
    ApiQuery(q): ApiQuery<PageQuery>,
) -> Result<Json<Page<InvitationView>>, ApiError> {
    let all = workspaces::invitations(&state.control, &caller, &id).await?;
    Ok(Json(paginate(all, |i| &i.id, &q)?))
}

async fn create(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
    ApiJson(body): ApiJson<CreateInvitation>,
) -> Result<(StatusCode, Json<InvitationView>), ApiError> {
    Ok((
        StatusCode::CREATED,
        Json(workspaces::invite(&state.control, &caller, &id, body).await?),
    ))
}

async fn revoke(
    State(state): State<AppState>,
    caller: Caller,
    Path((id, invitation_id)): Path<(String, String)>,
) -> Result<StatusCode, ApiError> {
    workspaces::revoke_invitation(&state.control, &caller, &id, &invitation_id).await?;
    Ok(StatusCode::NO_CONTENT)
}
