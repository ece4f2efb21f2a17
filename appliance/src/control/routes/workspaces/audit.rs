//! `/api/v1/workspaces/{workspace_id}/audit[/export|/verify]`.

use acorn_proto::authz::Action;
use acorn_proto::identity::{AuditChainView, AuditView, Page};
use axum::Json;
use axum::extract::{Path, State};
use axum::http::{Method, header};
use axum::response::IntoResponse;
use axum::routing::get;

use crate::control::audit::{self, AuditQuery, ExportQuery};
use crate::control::auth::Caller;
use crate::control::error::ApiError;
use crate::control::routes::AppState;
use crate::control::routes::extract::ApiQuery;
use crate::control::routes::table::{Access, RouteSpec, route};

pub fn routes() -> Vec<RouteSpec> {
    vec![
        route(
            Method::GET,
            "/api/v1/workspaces/{workspace_id}/audit",
            Access::Workspace(Action::AuditRead),
            "Audit records (filters: actor, category, since, until)",
            get(list),
        ),
        route(
            Method::GET,
            "/api/v1/workspaces/{workspace_id}/audit/export",
            Access::Workspace(Action::AuditRead),
            "Audit records as JSON lines (filters: actor, category, since, until)",
            get(export),
        ),
        route(
            Method::GET,
            "/api/v1/workspaces/{workspace_id}/audit/verify",
            Access::Workspace(Action::AuditRead),
            "Check the hash chain",
            get(verify),
        ),
    ]
}

async fn list(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
    ApiQuery(q): ApiQuery<AuditQuery>,
) -> Result<Json<Page<AuditView>>, ApiError> {
    Ok(Json(audit::list(&state.control, &caller, &id, q).await?))
}

async fn export(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
    ApiQuery(q): ApiQuery<ExportQuery>,
) -> Result<impl IntoResponse, ApiError> {
    let body = audit::export(&state.control, &caller, &id, q).await?;
    Ok(([(header::CONTENT_TYPE, "application/x-ndjson")], body))
}

async fn verify(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> Result<Json<AuditChainView>, ApiError> {
    Ok(Json(audit::verify(&state.control, &caller, &id).await?))
}
