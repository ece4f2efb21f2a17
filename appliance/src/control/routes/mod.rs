//! The HTTP router, built from the route table ([`table`]). One module per URL subtree:
//! - [`ops`]: `/healthz`, `/readyz`, `/metrics`, `/docs/errors`, `/api/v1/openapi.json`;
//! - [`setup`]: `/setup/{token}` and `/api/v1/setup` (one-time links);
//! - [`auth`]: `/api/v1/auth/…` (local and OpenID Connect sign-in, sign-out);
//! - [`me`]: `/api/v1/me…`; [`invitations`]: `/api/v1/invitations/accept`;
//! - [`workspaces`]: `/api/v1/workspaces…` and its members, invitations, tokens, audit, clusters;
//! - [`agent`]: `/api/v1/agent/connect`, the agent tunnel; `search`: `/api/v1/search` (runs);
//! - [`webhooks`]: `/api/v1/webhooks/event-types`, a workspace's webhook subscriptions,
//!   deliveries, events and alert receivers, and the receivers' inbound endpoints `…/alerts/…`;
//! - the runs API lives under workspaces (`workspaces/runs.rs`): sessions, runs, SSE, approvals;
//! - the gateway's routes (`crate::gateway::routes`): providers, secrets, MCP servers, tool
//!   catalog and request log under a workspace, and the runtime API `/gateway/v1/…`.
//!
//! Cross-cutting layers (body limit, request id, metrics, fallbacks with error bodies) are applied
//! here once for every route.

pub mod agent;
pub mod auth;
pub mod evals;
pub mod extract;
pub mod invitations;
pub mod me;
pub mod openapi;
pub mod ops;
mod search;
pub mod setup;
pub mod table;
pub mod users;
pub mod webhooks;
pub mod workspaces;

use std::sync::Arc;
use std::sync::atomic::AtomicBool;

use axum::Router;
use axum::extract::DefaultBodyLimit;
use axum::http::HeaderName;
use tower_http::request_id::{
    MakeRequestId, PropagateRequestIdLayer, RequestId, SetRequestIdLayer,
};

use acorn_proto::ErrorCode;

use super::Control;
use super::error::ApiError;
use crate::metrics::Metrics;
use table::RouteSpec;

/// What every handler can reach.
#[derive(Clone)]
pub struct AppState {
    /// The control plane's services.
    pub control: Control,
    /// Prometheus metrics.
    pub metrics: Arc<Metrics>,
    /// `false` while starting and once shutdown began (`/readyz` answers 503).
    pub ready: Arc<AtomicBool>,
    /// The LLM gateway.
    pub gateway: Arc<crate::gateway::Gateway>,
    /// The execution engine (runs, their events, approvals).
    pub engine: Arc<crate::engine::Engine>,
    /// Signs evidence bundles.
    pub evidence: Arc<crate::engine::evidence::EvidenceSigner>,
    /// The run search index.
    pub search: Arc<crate::control::search::RunSearch>,
    /// Outbound webhooks and alert receivers.
    pub webhooks: Arc<crate::webhooks::Webhooks>,
    /// Model evaluations started from the API (`crate::eval::service`).
    pub evals: Arc<crate::eval::service::Evals>,
    /// The management console (`/console`, `crate::console`).
    pub console: Arc<crate::console::Console>,
}

const REQUEST_ID: HeaderName = HeaderName::from_static("x-request-id");

/// Every route of the appliance.
pub fn table() -> Vec<RouteSpec> {
    let mut routes = ops::routes();
    routes.extend(setup::routes());
    routes.extend(auth::routes());
    routes.extend(me::routes());
    routes.extend(invitations::routes());
    routes.extend(workspaces::routes());
    routes.extend(users::routes());
    routes.extend(agent::routes());
    routes.extend(search::routes());
    routes.extend(crate::gateway::routes::routes());
    routes.extend(webhooks::routes());
    routes.extend(evals::routes());
    routes
}

/// The whole router.
pub fn router(state: AppState, max_body_bytes: usize) -> Router {
    let mut router = Router::new();
    for spec in table() {
        router = router.route(spec.path, spec.handler);
    }
    router
        .merge(crate::console::router())
        .fallback(|| async { ApiError::new(ErrorCode::NotFound, "no such route") })
        .method_not_allowed_fallback(|| async {
            ApiError::new(
                ErrorCode::MethodNotAllowed,
                "this route does not accept this HTTP method",
            )
        })
        .layer(DefaultBodyLimit::max(max_body_bytes))
        .layer(axum::middleware::from_fn_with_state(
            state.clone(),
            crate::metrics::track_requests,
        ))
        .layer(PropagateRequestIdLayer::new(REQUEST_ID))
        .layer(SetRequestIdLayer::new(REQUEST_ID, RandomRequestId))
        .with_state(state)
}

#[derive(Clone, Copy)]
struct RandomRequestId;

impl MakeRequestId for RandomRequestId {
    fn make_request_id<B>(&mut self, _: &axum::http::Request<B>) -> Option<RequestId> {
        let id = hex::encode(crate::tls::pki::random_bytes::<8>());
        axum::http::HeaderValue::from_str(&id)
            .ok()
            .map(RequestId::new)
    }
}
