//! Operations endpoints: liveness, readiness, Prometheus metrics, and the error-code reference
//! that every error body's `link` points to (served here so that it works without internet).

use std::sync::atomic::Ordering;

use axum::Json;
use axum::extract::State;
use axum::http::{Method, StatusCode, header};
use axum::response::{Html, IntoResponse, Response};
use axum::routing::get;

use acorn_proto::ErrorCode;
use acorn_proto::ops::Readiness;

use super::AppState;
use super::table::{Access, RouteSpec, route};
use crate::control::error::ApiError;

pub fn routes() -> Vec<RouteSpec> {
    vec![
        route(
            Method::GET,
            "/healthz",
            Access::Public,
            "The process is up",
            get(healthz),
        ),
        route(
            Method::GET,
            "/readyz",
            Access::Public,
            "The store is open and the server is not stopping",
            get(readyz),
        ),
        route(
            Method::GET,
            "/metrics",
            Access::Public,
            "Prometheus metrics",
            get(metrics),
        ),
        route(
            Method::GET,
            "/docs/errors",
            Access::Public,
            "The error-code reference",
            get(error_docs),
        ),
        route(
            Method::GET,
            "/api/v1/openapi.json",
            Access::Public,
            "This API's OpenAPI 3.1 document",
            get(openapi),
        ),
    ]
}

async fn openapi() -> Json<serde_json::Value> {
    Json(super::openapi::document())
}

/// The process is up and answering.
async fn healthz() -> Json<serde_json::Value> {
    Json(serde_json::json!({ "status": "ok" }))
}

/// The store is open and migrated, and the server is not shutting down.
async fn readyz(State(state): State<AppState>) -> Response {
    if !state.ready.load(Ordering::SeqCst) {
        return ApiError::new(
            ErrorCode::NotReady,
            "the appliance is starting or shutting down",
        )
        .into_response();
    }
    let body = Readiness {
        ready: true,
        schema_version: state.control.store.schema_version(),
        version: crate::VERSION.to_owned(),
    };
    (StatusCode::OK, Json(body)).into_response()
}

async fn metrics(State(state): State<AppState>) -> Response {
    match state.metrics.encode() {
        Ok(text) => (
            [(
                header::CONTENT_TYPE,
                "text/plain; version=0.0.4; charset=utf-8",
            )],
            text,
        )
            .into_response(),
        Err(e) => ApiError::internal(format!("metrics encoding: {e}")).into_response(),
    }
}

async fn error_docs() -> Html<String> {
    let mut rows = String::new();
    for code in ErrorCode::ALL {
        rows.push_str(&format!(
            "<tr id=\"{c}\"><td><code>{c}</code></td><td>{s}</td><td>{d}</td></tr>\n",
            c = code.as_str(),
            s = code.http_status(),
            d = crate::util_html::escape(code.description().trim())
        ));
    }
    Html(format!(
        "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\"><title>Acorn API error codes</title></head>\
         <body><h1>API error codes</h1><table><thead><tr><th>code</th><th>HTTP</th><th>meaning</th></tr></thead>\
         <tbody>{rows}</tbody></table></body></html>"
    ))
}
