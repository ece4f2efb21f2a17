//! The health port: `/healthz` (the process runs), `/readyz` (the agent does its job) and
//! `/metrics` (Prometheus text). It is the only socket the agent listens on; nothing else is
//! served there.
//!
//! Readiness: a replica that leads (or runs without leader election) is ready once it is
//! connected to the appliance and has sent its full snapshot; a follower is ready while idle.
//! A CA mismatch or a refused key keeps the leader unready, with the reason in the body.

use std::net::SocketAddr;
use std::sync::{Arc, Mutex, MutexGuard};

use axum::Router;
use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use serde::Serialize;

use crate::metrics::Metrics;

/// This replica's part in leader election.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    /// Not yet known (the first lease round has not finished).
    Starting,
    /// Leads (or runs alone): connects to the appliance.
    Leader,
    /// Another replica leads; this one stays idle.
    Follower,
}

/// The tunnel's state.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "state", content = "message", rename_all = "snake_case")]
pub enum LinkState {
    /// Not connected (yet, or between attempts after an ordinary failure).
    Disconnected,
    /// Connected, hello accepted; the first full snapshot is being sent.
    Connected,
    /// Connected and the full snapshot was sent: fully working.
    Synced,
    /// The appliance's certificate is not signed by the pinned CA.
    CaMismatch(String),
    /// The appliance refused the agent (key invalid or revoked, protocol, …).
    Refused(String),
    /// The last attempt failed for another reason.
    Failing(String),
}

/// What `/readyz` reports.
#[derive(Debug, Clone, Serialize)]
pub struct Status {
    /// Leader election role.
    pub role: Role,
    /// Tunnel state.
    pub link: LinkState,
    /// Kinds skipped because RBAC forbids listing them.
    pub forbidden_kinds: Vec<String>,
}

impl Status {
    /// Whether the replica is ready (see the module docs).
    pub fn ready(&self) -> bool {
        match self.role {
            Role::Starting => false,
            Role::Follower => true,
            Role::Leader => self.link == LinkState::Synced,
        }
    }
}

/// Shared health state and metrics.
pub struct Health {
    status: Mutex<Status>,
    /// The metrics served at `/metrics`.
    pub metrics: Metrics,
}

impl Default for Health {
    fn default() -> Self {
        Health::new()
    }
}

impl Health {
    /// Starting, disconnected.
    pub fn new() -> Health {
        Health {
            status: Mutex::new(Status {
                role: Role::Starting,
                link: LinkState::Disconnected,
                forbidden_kinds: Vec::new(),
            }),
            metrics: Metrics::new(),
        }
    }

    fn lock(&self) -> MutexGuard<'_, Status> {
        self.status.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// A copy of the current status.
    pub fn status(&self) -> Status {
        self.lock().clone()
    }

    /// Records the leader election role.
    pub fn set_role(&self, role: Role) {
        self.metrics.leader.set(i64::from(role == Role::Leader));
        self.lock().role = role;
    }

    /// Records the tunnel state.
    pub fn set_link(&self, link: LinkState) {
        self.metrics.connected.set(i64::from(matches!(
            link,
            LinkState::Connected | LinkState::Synced
        )));
        self.lock().link = link;
    }

    /// Records the kinds RBAC forbids.
    pub fn set_forbidden_kinds(&self, kinds: Vec<String>) {
        self.lock().forbidden_kinds = kinds;
    }
}

/// The health router.
pub fn router(health: Arc<Health>) -> Router {
    Router::new()
        .route("/healthz", get(|| async { "ok\n" }))
        .route("/readyz", get(readyz))
        .route("/metrics", get(metrics))
        .with_state(health)
}

async fn readyz(State(health): State<Arc<Health>>) -> Response {
    let status = health.status();
    let code = if status.ready() {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    (code, axum::Json(status)).into_response()
}

async fn metrics(State(health): State<Arc<Health>>) -> Response {
    (
        [(
            header::CONTENT_TYPE,
            "application/openmetrics-text; version=1.0.0; charset=utf-8",
        )],
        health.metrics.encode(),
    )
        .into_response()
}

/// Binds the health port.
pub async fn bind(listen: SocketAddr) -> std::io::Result<tokio::net::TcpListener> {
    tokio::net::TcpListener::bind(listen).await
}

/// Serves the health router on `listener` until the process ends.
pub async fn serve(listener: tokio::net::TcpListener, health: Arc<Health>) -> std::io::Result<()> {
    axum::serve(listener, router(health)).await
}

#[cfg(test)]
mod tests {
    use super::*;

    async fn get_status(addr: SocketAddr, path: &str) -> (u16, String) {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        let mut s = tokio::net::TcpStream::connect(addr).await.unwrap();
        s.write_all(
            format!("GET {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n").as_bytes(),
        )
        .await
        .unwrap();
        let mut out = String::new();
        s.read_to_string(&mut out).await.unwrap();
        let code = out[9..12].parse().unwrap();
        (code, out)
    }

    #[tokio::test]
    async fn readiness_follows_role_and_link() {
        let health = Arc::new(Health::new());
        let listener = bind("127.0.0.1:0".parse().unwrap()).await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(serve(listener, health.clone()));

        assert_eq!(get_status(addr, "/healthz").await.0, 200);
        assert_eq!(get_status(addr, "/readyz").await.0, 503, "starting");
        health.set_role(Role::Follower);
        assert_eq!(get_status(addr, "/readyz").await.0, 200, "idle follower");
        health.set_role(Role::Leader);
        assert_eq!(
            get_status(addr, "/readyz").await.0,
            503,
            "leader, not connected"
        );
        health.set_link(LinkState::Connected);
        assert_eq!(
            get_status(addr, "/readyz").await.0,
            503,
            "snapshot not sent"
        );
        health.set_link(LinkState::Synced);
        assert_eq!(get_status(addr, "/readyz").await.0, 200);
        health.set_link(LinkState::CaMismatch("not signed by the CA".into()));
        let (code, body) = get_status(addr, "/readyz").await;
        assert_eq!(code, 503);
        assert!(
            body.contains("ca_mismatch") && body.contains("not signed by the CA"),
            "{body}"
        );
        let (code, body) = get_status(addr, "/metrics").await;
        assert_eq!(code, 200);
        assert!(body.contains("acorn_agent_leader 1"), "{body}");
        assert!(body.contains("acorn_agent_connected 0"), "{body}");
        assert_eq!(get_status(addr, "/other").await.0, 404);
    }
}
