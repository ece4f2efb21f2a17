//! `/api/v1/agent/connect`: the agent tunnel (WebSocket), authenticated by the cluster's agent
//! key, not by a session or API token. The connection itself is [`crate::control::hub::connection`].

use axum::http::Method;
use axum::routing::get;

use super::table::{Access, RouteSpec, route};
use crate::control::hub::connection;

pub fn routes() -> Vec<RouteSpec> {
    vec![route(
        Method::GET,
        acorn_proto::agent::CONNECT_PATH,
        Access::AgentKey,
        "The agent tunnel (WebSocket; x-acorn-agent-key header)",
        get(connection::connect),
    )]
}
