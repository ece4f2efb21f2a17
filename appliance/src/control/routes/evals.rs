//! Model evaluation routes. Routes only convert; the service is `crate::eval::service`.
//!
//! `/api/v1/workspaces/{workspace_id}/evals[/{eval_id}[/report.md]]`: `providers.manage`.

use axum::Json;
use axum::extract::{Path, State};
use axum::http::{Method, StatusCode, header};
use axum::response::IntoResponse;
use axum::routing::{delete, get, post};

use acorn_proto::authz::Action;
use acorn_proto::evals::{EvalDetail, EvalView, StartEval};

use super::AppState;
use super::extract::ApiJson;
use super::table::{Access, RouteSpec, route};
use crate::control::auth::Caller;
use crate::control::error::ApiError;
use crate::eval::service;

pub fn routes() -> Vec<RouteSpec> {
    let manage = Access::Workspace(Action::ProvidersManage);
    vec![
        route(
            Method::GET,
            "/api/v1/workspaces/{workspace_id}/evals",
            manage,
            "Model evaluations, newest first",
            get(list),
        ),
        route(
            Method::POST,
            "/api/v1/workspaces/{workspace_id}/evals",
            manage,
            "Evaluate a provider's model on the scenario library (runs in the background)",
            post(start),
        ),
        route(
            Method::GET,
            "/api/v1/workspaces/{workspace_id}/evals/{eval_id}",
            manage,
            "An evaluation, with its report once completed",
            get(show),
        ),
        route(
            Method::DELETE,
            "/api/v1/workspaces/{workspace_id}/evals/{eval_id}",
            manage,
            "Delete a finished evaluation",
            delete(remove),
        ),
        route(
            Method::GET,
            "/api/v1/workspaces/{workspace_id}/evals/{eval_id}/report.md",
            manage,
            "The Markdown report of a completed evaluation",
            get(report_markdown),
        ),
    ]
}

async fn list(
    State(state): State<AppState>,
    caller: Caller,
    Path(ws): Path<String>,
) -> Result<Json<Vec<EvalView>>, ApiError> {
    Ok(Json(
        service::list(&state.control, &state.evals, &caller, &ws).await?,
    ))
}

async fn start(
    State(state): State<AppState>,
    caller: Caller,
    Path(ws): Path<String>,
    ApiJson(body): ApiJson<StartEval>,
) -> Result<(StatusCode, Json<EvalView>), ApiError> {
    let started = service::start(&state.control, &state.evals, &caller, &ws, body).await?;
    Ok((StatusCode::ACCEPTED, Json(started)))
}

async fn show(
    State(state): State<AppState>,
    caller: Caller,
    Path((ws, id)): Path<(String, String)>,
) -> Result<Json<EvalDetail>, ApiError> {
    Ok(Json(
        service::get(&state.control, &state.evals, &caller, &ws, &id).await?,
    ))
}

async fn remove(
    State(state): State<AppState>,
    caller: Caller,
    Path((ws, id)): Path<(String, String)>,
) -> Result<StatusCode, ApiError> {
    service::delete(&state.control, &state.evals, &caller, &ws, &id).await?;
    Ok(StatusCode::NO_CONTENT)
}

async fn report_markdown(
    State(state): State<AppState>,
    caller: Caller,
    Path((ws, id)): Path<(String, String)>,
) -> Result<impl IntoResponse, ApiError> {
    let text = service::markdown(&state.control, &state.evals, &caller, &ws, &id).await?;
    Ok((
        [
            (header::CONTENT_TYPE, "text/markdown; charset=utf-8"),
            (
                header::CONTENT_DISPOSITION,
                "attachment; filename=\"acorn-eval.md\"",
            ),
        ],
        text,
    ))
}
