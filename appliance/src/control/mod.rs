//! The control plane: the services that decide and the HTTP routes that call them. Routes
//! convert between HTTP and the services' types and never decide anything themselves; services
//! know nothing of HTTP.
//!
//! Layout:
//! - [`auth`]: who is calling (session cookie + CSRF, or API token), local sign-in, sessions;
//! - [`oidc`]: OpenID Connect sign-in and the admission policy;
//! - [`authz`]: the one authorization layer (role table in `acorn-proto::authz`);
//! - [`workspaces`], [`tokens`], [`audit`]: the services of the workspace API;
//! - [`agent_install`]: the install instructions (Helm command, plain manifest) for a cluster's agent;
//! - [`clusters`]: cluster registration, agent keys, the clusters' pictures and ad-hoc tool calls;
//! - [`hub`]: the agent hub, the appliance's end of every agent tunnel (`/api/v1/agent/connect`);
//! - [`runs`]: sessions, runs, approvals, evidence; [`search`]: the run search index and its service;
//! - [`setup`]: one-time links that create or reset a local administrator;
//! - [`error`]: `ApiError`, the one conversion from a failure to `{code, message, type, link}`;
//! - [`routes`]: the route table and the axum router, one module per URL subtree.

pub mod agent_install;
pub mod audit;
pub mod auth;
pub mod authz;
pub mod clusters;
pub mod error;
pub mod hub;
pub mod oidc;
pub mod routes;
pub mod runs;
pub mod search;
pub mod setup;
pub mod tokens;
pub mod users;
pub mod workspaces;

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::watch;

use acorn_store::Store;

use crate::config::{ClustersConfig, IdentityConfig};
use crate::metrics::Metrics;

/// Everything the control plane's services need, shared by every request.
#[derive(Clone)]
pub struct Control {
    /// The one store.
    pub store: Store,
    /// Base URL printed in links (`https://host:port`).
    pub public_base_url: String,
    /// Limits concurrent password hashing (argon2id is deliberately expensive).
    pub hashing: Arc<tokio::sync::Semaphore>,
    /// Session lifetimes, sign-in limits, audit retention.
    pub identity: IdentityConfig,
    /// The OpenID Connect provider, when configured.
    pub oidc: Option<Arc<oidc::Oidc>>,
    /// Failed sign-ins per account and address.
    pub limiter: Arc<auth::LoginLimiter>,
    /// Agent image, snapshot budget, agent namespace.
    pub clusters: ClustersConfig,
    /// The live agent connections.
    pub hub: Arc<hub::Hub>,
}

impl Control {
    /// Builds the control plane over an open store.
    pub fn new(
        store: Store,
        public_base_url: String,
        identity: IdentityConfig,
        oidc: Option<oidc::Oidc>,
        clusters: ClustersConfig,
        metrics: Arc<Metrics>,
    ) -> Self {
        Control {
            store,
            public_base_url,
            hashing: Arc::new(tokio::sync::Semaphore::new(2)),
            identity,
            oidc: oidc.map(Arc::new),
            limiter: Arc::new(auth::LoginLimiter::default()),
            clusters,
            hub: hub::Hub::new(metrics),
        }
    }

    /// Hourly: drop expired sessions; daily: apply the audit retention.
    pub fn spawn_housekeeping(&self, mut shutdown: watch::Receiver<bool>) {
        let control = self.clone();
        tokio::spawn(async move {
            let mut hourly = tokio::time::interval(Duration::from_secs(3600));
            let mut ticks: u64 = 0;
            loop {
                tokio::select! {
                    _ = shutdown.changed() => break,
                    _ = hourly.tick() => {
                        let now = crate::util::now_unix();
                        let idle = control.identity.session_idle_timeout.as_secs() as i64;
                        if let Err(e) = control.store.prune_expired_sessions(now, idle).await {
                            tracing::warn!(error = %e, "pruning expired sessions failed");
                        }
                        if let Err(e) = control.store.prune_agent_keys(now).await {
                            tracing::warn!(error = %e, "pruning rotated-out agent keys failed");
                        }
                        if ticks.is_multiple_of(24) {
                            let cutoff = now - control.identity.audit_retention.as_secs() as i64;
                            match control.store.prune_audit(cutoff).await {
                                Ok(0) => {}
                                Ok(n) => tracing::info!(records = n, "audit records past retention removed"),
                                Err(e) => tracing::warn!(error = %e, "audit retention failed"),
                            }
                        }
                        ticks += 1;
                    }
                }
            }
        });
    }
}
