//! `/api/v1/workspaces/{workspace_id}/tokens[/{token_id}]`.

use acorn_proto::authz::Action;
use acorn_proto::identity::{CreateToken, Page, TokenView};
use axum::Json;
use axum::extract::{Path, State};
use axum::http::{Method, StatusCode};
use axum::routing::{delete, get, post};

use crate::control::auth::Caller;
use crate::control::error::ApiError;
use crate::control::routes::AppState;
use crate::control::routes::extract::{ApiJson, ApiQuery, PageQuery, paginate};
use crate::control::routes::table::{Access, RouteSpec, route};
use crate::control::tokens;

pub fn routes() -> Vec<RouteSpec> {
    vec![
        route(
            Method::GET,
            "/api/v1/workspaces/{workspace_id}/tokens",
            Access::Workspace(Action::TokensCreate),
            "My API tokens (everyone's with tokens.manage)",
            get(list),
        ),
        route(
            Method::POST,
            "/api/v1/workspaces/{workspace_id}/tokens",
            Access::Workspace(Action::TokensCreate),
            "Create an API token (secret shown once)",
            post(create),
        ),
        route(
            Method::DELETE,
            "/api/v1/workspaces/{workspace_id}/tokens/{token_id}",
            Access::Workspace(Action::TokensCreate),
            "Revoke an API token",
            delete(revoke),
        ),
    ]
}

async fn list(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
    ApiQuery(q): ApiQuery<PageQuery>,
) -> Result<Json<Page<TokenView>>, ApiError> {
    let all = tokens::list(&state.control, &caller, &id).await?;
    Ok(Json(paginate(all, |t| &t.id, &q)?))
}

async fn create(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
    ApiJson(body): ApiJson<CreateToken>,
) -> Result<(StatusCode, Json<TokenView>), ApiError> {
    Ok((
        StatusCode::CREATED,
        Json(tokens::create(&state.control, &caller, &id, body).await?),
    ))
}

async fn revoke(
    State(state): State<AppState>,
    caller: Caller,
    Path((id, token_id)): Path<(String, String)>,
) -> Result<StatusCode, ApiError> {
    tokens::revoke(&state.control, &caller, &id, &token_id).await?;
    Ok(StatusCode::NO_CONTENT)
}
