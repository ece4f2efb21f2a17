//! The route table: every route with its method, path, who may call it and a summary. The
//! router, `/api/v1/openapi.json` and the authorization-matrix test are all built from it, so a
//! route cannot exist without an entry.

use acorn_proto::authz::Action;
use axum::http::Method;
use axum::routing::MethodRouter;

use super::AppState;

/// Who may call a route (the coarse gate; services decide the rest through `authz`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Access {
    /// Anyone, signed in or not.
    Public,
    /// Any signed-in caller.
    SignedIn,
    /// A member of the workspace in the path whose role allows the action.
    Workspace(Action),
    /// An appliance administrator signed in as a person.
    ApplianceAdmin,
    /// A cluster's agent, with its agent key (the agent tunnel only).
    AgentKey,
    /// The gateway's runtime API: a run JWT only (sessions and API tokens are refused).
    RunToken,
    /// An alert receiver's bearer token (Alertmanager; sessions and API tokens are refused).
    ReceiverToken,
    /// A Standard Webhooks signature with a receiver's secret (sessions and tokens are refused).
    WebhookSignature,
}

/// One route.
pub struct RouteSpec {
    pub method: Method,
    /// axum path syntax (`/api/v1/workspaces/{workspace_id}`).
    pub path: &'static str,
    pub access: Access,
    pub summary: &'static str,
    pub handler: MethodRouter<AppState>,
}

/// Shorthand for building a spec.
pub fn route(
    method: Method,
    path: &'static str,
    access: Access,
    summary: &'static str,
    handler: MethodRouter<AppState>,
) -> RouteSpec {
    RouteSpec {
        method,
        path,
        access,
        summary,
        handler,
    }
}

/// The table without handlers: (method, path, access, summary) of every route.
pub fn table_paths() -> Vec<(Method, &'static str, Access, &'static str)> {
    super::table()
        .into_iter()
        .map(|r| (r.method, r.path, r.access, r.summary))
        .collect()
}
