//! `/api/v1/users/{user_id}`: appliance administration of accounts.

use axum::extract::{Path, State};
use axum::http::{Method, StatusCode};
use axum::routing::delete;

use super::AppState;
use super::table::{Access, RouteSpec, route};
use crate::control::auth::Caller;
use crate::control::error::ApiError;
use crate::control::users;

pub fn routes() -> Vec<RouteSpec> {
    vec![route(
        Method::DELETE,
        "/api/v1/users/{user_id}",
        Access::ApplianceAdmin,
        "Delete a user: sessions, memberships and API tokens go with it",
        delete(remove),
    )]
}

async fn remove(
    State(state): State<AppState>,
    caller: Caller,
    Path(user_id): Path<String>,
) -> Result<StatusCode, ApiError> {
    users::delete(&state.control, &caller, &user_id).await?;
    Ok(StatusCode::NO_CONTENT)
}
