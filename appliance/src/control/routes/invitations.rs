//! `/api/v1/invitations/accept`: the signed-in user redeems an invitation link's token.

use acorn_proto::identity::{AcceptInvitation, WorkspaceView};
use axum::Json;
use axum::extract::State;
use axum::http::Method;
use axum::routing::post;

use super::AppState;
use super::extract::ApiJson;
use super::table::{Access, RouteSpec, route};
use crate::control::auth::Caller;
use crate::control::error::ApiError;
use crate::control::workspaces;

pub fn routes() -> Vec<RouteSpec> {
    vec![route(
        Method::POST,
        "/api/v1/invitations/accept",
        Access::SignedIn,
        "Accept an invitation",
        post(accept),
    )]
}

async fn accept(
    State(state): State<AppState>,
    caller: Caller,
    ApiJson(body): ApiJson<AcceptInvitation>,
) -> Result<Json<WorkspaceView>, ApiError> {
    Ok(Json(
        workspaces::accept(&state.control, &caller, &body.token).await?,
    ))
}
