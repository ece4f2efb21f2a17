//! `/setup/{token}`: the page a one-time link opens (a plain form, no script), and
//! `POST /api/v1/setup`, the same operation for automation. Both call `control::setup::redeem`.

use axum::extract::{Path, State};
use axum::http::{Method, StatusCode};
use axum::response::{Html, IntoResponse, Response};
use axum::routing::{get, post};
use serde::Deserialize;

use acorn_proto::setup::RedeemLinkRequest;

use super::AppState;
use super::extract::{ApiForm, ApiJson};
use super::table::{Access, RouteSpec, route};
use crate::control::setup;
use crate::util_html::escape;

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

async fn setup_page() -> Html<String> {
    page(
        "Create an administrator",
        "<p>This one-time link creates the first administrator of this Acorn appliance, or sets a new \
         password for the administrator named by a recovery link (then the username is ignored). \
         It works once and expires one hour after it was issued.</p>\
         <form method=\"post\"><p><label>Username <input name=\"username\" autocomplete=\"username\" \
         pattern=\"[a-z0-9._\\-]{1,64}\"></label></p><p><label>Password (12 characters or more) \
         <input name=\"password\" type=\"password\" minlength=\"12\" required autocomplete=\"new-password\"></label></p>\
         <p><button type=\"submit\">Create administrator</button></p></form>",
    )
}

async fn setup_form(
    State(state): State<AppState>,
    Path(token): Path<String>,
    ApiForm(form): ApiForm<SetupForm>,
) -> Response {
    let username = form.username.filter(|u| !u.is_empty());
    match setup::redeem(&state.control, &token, username, form.password).await {
        Ok(created) => {
            let verb = if created.created {
                "created"
            } else {
                "has a new password"
            };
            let body = format!(
                "<p>Administrator <strong>{}</strong> {verb}. This link no longer works.</p>",
                escape(&created.username)
            );
            (StatusCode::CREATED, page("Administrator ready", &body)).into_response()
        }
        Err(e) => {
            let status =
                StatusCode::from_u16(e.code.http_status()).unwrap_or(StatusCode::BAD_REQUEST);
            let body = format!(
                "<p role=\"alert\">{} <small>({})</small></p>",
                escape(&e.message),
                e.code.as_str()
            );
            (status, page("The link could not be used", &body)).into_response()
        }
    }
}

fn page(title: &str, body: &str) -> Html<String> {
    Html(format!(
        "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\"><meta name=\"viewport\" \
         content=\"width=device-width\"><title>{t} · Acorn</title></head><body><main><h1>{t}</h1>{body}</main></body></html>",
        t = escape(title)
    ))
}
