//! `/api/v1/search`: full-text search over the runs the caller may read.

use acorn_proto::runs::SearchResponse;
use axum::Json;
use axum::extract::State;
use axum::http::Method;
use axum::routing::get;

use super::AppState;
use super::extract::ApiQuery;
use super::table::{Access, RouteSpec, route};
use crate::control::auth::Caller;
use crate::control::error::ApiError;
use crate::control::search::{self, SearchParams};

pub fn routes() -> Vec<RouteSpec> {
    vec![route(
        Method::GET,
        "/api/v1/search",
        Access::SignedIn,
        "Search runs (`q`, `workspace_id`, `cluster_id`, `state`, `from`/`to` as unix seconds, RFC 3339 times or dates, `limit`, `offset`); only workspaces where the caller reads runs; a bad time or `from` after `to` is 400 invalid_parameter",
        get(run_search),
    )]
}

async fn run_search(
    State(state): State<AppState>,
    caller: Caller,
    ApiQuery(params): ApiQuery<SearchParams>,
) -> Result<Json<SearchResponse>, ApiError> {
    Ok(Json(search::search(&state.search, &caller, params).await?))
}
