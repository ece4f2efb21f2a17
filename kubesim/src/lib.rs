//! `acorn-kubesim`: a Kubernetes API simulator that speaks the real REST API over HTTP, with a
//! library of failure scenarios. Used by the integration tests (kube-rs and kubectl against it),
//! `acorn demo` and `acorn eval`. The wire behaviour follows `shared/kube-double.md`.
//!
//! Layout:
//! - [`resources`]: the registry of served kinds (built-in table, CRDs, guessed plurals).
//! - [`store`]: objects as JSON, one global resourceVersion, watch windows, list snapshots.
//! - [`selector`]: label and field selectors.
//! - [`scenario`]: the scenario folder format, the embedded library, scale mode.
//! - [`sim`]: the simulator state: logs, RBAC denials, faults, metrics mode, timeline.
//! - `server`: the HTTP routes (REST, watch, logs, tables, discovery, `/_sim/` admin).
//! - [`error`]: the Kubernetes `Status` errors and start-up errors.
//!
//! The simulator never panics on input: every bad request is answered with a `Status`.

#![forbid(unsafe_code)]
#![cfg_attr(
    not(test),
    deny(clippy::unwrap_used, clippy::expect_used, clippy::panic, clippy::todo)
)]

pub mod error;
pub mod resources;
pub mod scenario;
pub mod selector;
mod server;
pub mod sim;
pub mod store;
pub mod time;

use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

pub use error::{ApiError, SimError};
pub use sim::{Config, DenyRule, FailRule, Faults, MetricsMode, Sim};

/// The bearer token written into the kubeconfig (any token is accepted).
pub const TOKEN: &str = "kubesim-token";

/// A running simulator.
pub struct Running {
    pub addr: SocketAddr,
    pub sim: Arc<Sim>,
    server: tokio::task::JoinHandle<()>,
    ticker: tokio::task::JoinHandle<()>,
}

impl Running {
    /// `http://127.0.0.1:PORT`
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Waits until the server stops (it runs until the process ends).
    pub async fn wait(&mut self) {
        let _ = (&mut self.server).await;
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        self.server.abort();
        self.ticker.abort();
    }
}

/// Loads the scenarios and serves them on `listen` (port 0 = ephemeral).
pub async fn start(config: &Config, listen: SocketAddr) -> Result<Running, SimError> {
    let sim = Arc::new(Sim::load(config)?);
    start_with(sim, listen).await
}

/// Serves an already loaded simulator.
pub async fn start_with(sim: Arc<Sim>, listen: SocketAddr) -> Result<Running, SimError> {
    let listener = tokio::net::TcpListener::bind(listen)
        .await
        .map_err(|source| SimError::Bind {
            addr: listen.to_string(),
            source,
        })?;
    let addr = listener.local_addr().map_err(|source| SimError::Bind {
        addr: listen.to_string(),
        source,
    })?;
    let router = server::router(sim.clone());
    let server = tokio::spawn(async move {
        if let Err(e) = axum::serve(listener, router).await {
            tracing::error!(error = %e, "server stopped");
        }
    });
    let ticking = sim.clone();
    let ticker = tokio::spawn(async move {
        let mut interval = tokio::time::interval(Duration::from_millis(500));
        loop {
            interval.tick().await;
            ticking.tick();
        }
    });
    Ok(Running {
        addr,
        sim,
        server,
        ticker,
    })
}

/// A kubeconfig for `server` (`http://127.0.0.1:PORT`) with a token user.
pub fn kubeconfig(server: &str) -> String {
    format!(
        "apiVersion: v1
kind: Config
clusters:
- name: acorn-kubesim
  cluster:
    server: {server}
users:
- name: acorn-kubesim
  user:
    token: {TOKEN}
contexts:
- name: acorn-kubesim
  context:
    cluster: acorn-kubesim
    user: acorn-kubesim
    namespace: default
current-context: acorn-kubesim
"
    )
}

/// Writes the kubeconfig atomically (readers never see a partial file).
pub fn write_kubeconfig(path: &Path, server: &str) -> Result<(), SimError> {
    let io = |source| SimError::Io {
        path: path.display().to_string(),
        source,
    };
    let tmp = path.with_extension("tmp");
    std::fs::write(&tmp, kubeconfig(server)).map_err(io)?;
    std::fs::rename(&tmp, path).map_err(io)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn serves_in_process() {
        let _ = rustls::crypto::ring::default_provider().install_default();
        let config = Config {
            scenarios: vec!["crashloop".into()],
            time_scale: 0.0,
            ..Config::default()
        };
        let running = start(
            &config,
            "127.0.0.1:0".parse().unwrap_or_else(|e| panic!("{e}")),
        )
        .await
        .unwrap_or_else(|e| panic!("{e}"));
        let http = reqwest::Client::new();
        let list: serde_json::Value = http
            .get(format!(
                "{}/api/v1/namespaces/crashloop/pods",
                running.url()
            ))
            .send()
            .await
            .unwrap_or_else(|e| panic!("{e}"))
            .json()
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(list["kind"], "PodList");
        assert_eq!(
            list["items"][0]["status"]["containerStatuses"][0]["restartCount"],
            7
        );
        running.sim.advance(30.0);
        let id = running
            .sim
            .registry()
            .by_kind("v1", "Pod")
            .unwrap_or_else(|| panic!("pods"));
        let pod = running
            .sim
            .store
            .get(id, "crashloop", "checkout-7c9d8f6b5-x2k4p")
            .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(pod["status"]["containerStatuses"][0]["restartCount"], 8);
        assert!(kubeconfig(&running.url()).contains(&format!("server: {}", running.url())));
    }
}
