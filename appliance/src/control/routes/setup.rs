//! `/setup/{token}`: the page a one-time link opens (a plain form, no script), and
//! `POST /api/v1/setup`, the same operation for automation. Both call `control::setup::redeem`.

use axum::extract::{Path, State};
use axum::http::{Method, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use serde::Deserialize;

use acorn_proto::setup::RedeemLinkRequest;

use super::AppState;
use super::extract::{ApiForm, ApiJson};
use super::table::{Access, RouteSpec, route};
use crate::control::setup;

pub fn routes() -> Vec<RouteSpec> {
    vec![
        route(
            Method::GET,
            "/setup/{token}",
            Access::Public,
            "The page a one-time link opens",
            get(setup_page),
        ),
        route(
            Method::POST,
            "/setup/{token}",
            Access::Public,
            "Redeem a one-time link (form)",
            post(setup_form),
        ),
        route(
            Method::POST,
            "/api/v1/setup",
            Access::Public,
            "Redeem a one-time link: create or reset a local administrator",
            post(setup_api),
        ),
    ]
}

async fn setup_api(
    State(state): State<AppState>,
    ApiJson(body): ApiJson<RedeemLinkRequest>,
) -> Response {
    match setup::redeem(&state.control, &body.token, body.username, body.password).await {
        Ok(created) => (StatusCode::CREATED, axum::Json(created)).into_response(),
        Err(e) => e.into_response(),
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct SetupForm {
    #[serde(default)]
    username: Option<String>,
    password: String,
}

async fn setup_page() -> Response {
    console_page(StatusCode::OK, acorn_ui::shell::setup_page(None))
}

/// The console's look and security headers for the setup pages.
fn console_page(status: StatusCode, body: String) -> Response {
    (
        status,
        [
            (header::CONTENT_TYPE, "text/html; charset=utf-8"),
            (header::CONTENT_SECURITY_POLICY, acorn_ui::shell::CSP),
            (header::CACHE_CONTROL, "no-store"),
            (header::REFERRER_POLICY, "no-referrer"),
        ],
        body,
    )
        .into_response()
}

async fn setup_form(
    State(state): State<AppState>,
    Path(token): Path<String>,
    ApiForm(form): ApiForm<SetupForm>,
) -> Response {
    let username = form.username.filter(|u| !u.is_empty());
    match setup::redeem(&state.control, &token, username, form.password).await {
        Ok(created) => console_page(
            StatusCode::CREATED,
            acorn_ui::shell::setup_done_page(&created.username, created.created),
        ),
        Err(e) => {
            let status =
                StatusCode::from_u16(e.code.http_status()).unwrap_or(StatusCode::BAD_REQUEST);
            console_page(
                status,
                acorn_ui::shell::setup_page(Some((e.message, e.code.as_str().to_owned()))),
            )
        }
    }
}
