//! The agent's main loop and the order in which it comes up and goes down:
//!
//! 1. the health port (so that probes answer while the rest starts);
//! 2. the Kubernetes client and the redactor;
//! 3. leader election when enabled (otherwise this replica simply leads);
//! 4. while leading: the snapshot watchers and the link to the appliance. Losing leadership
//!    drops both at once (the connection closes, the watchers stop); the replica then idles as
//!    a ready follower until it leads again;
//! 5. on shutdown (SIGTERM): the link and watchers are dropped and the lease is released so a
//!    follower takes over at once.

use std::sync::Arc;

use tokio::sync::watch;

use crate::cluster::{self, ClusterError};
use crate::config::AgentConfig;
use crate::health::{self, Health, LinkState, Role};
use crate::lease::{Elector, LeaseTimings};
use crate::link::calls::{BuiltinTools, ToolRunner};
use crate::link::{Link, LinkSettings};
use crate::redact::{RedactError, Redactor};
use crate::snapshot::{SnapshotSettings, Snapshotter};

/// Why the agent could not start.
#[derive(Debug, thiserror::Error)]
pub enum RuntimeError {
    /// The health port could not be bound.
    #[error("ACORN_AGENT_HEALTH_LISTEN: cannot listen on {addr}: {source}")]
    HealthBind {
        /// The address.
        addr: std::net::SocketAddr,
        /// Why.
        source: std::io::Error,
    },
    /// The Kubernetes client could not be configured.
    #[error(transparent)]
    Cluster(#[from] ClusterError),
    /// A redaction pattern does not compile.
    #[error("ACORN_AGENT_REDACT_PATTERNS: {0}")]
    Redact(#[from] RedactError),
}

/// Timings of the parts (production defaults; tests shorten them).
#[derive(Debug, Clone, Default)]
pub struct Timings {
    /// Leader election.
    pub lease: LeaseTimings,
    /// The link.
    pub link: LinkSettings,
}

/// Runs the agent until `shutdown` becomes true.
pub async fn run(
    config: AgentConfig,
    timings: Timings,
    shutdown: watch::Receiver<bool>,
) -> Result<(), RuntimeError> {
    let health = Arc::new(Health::new());
    let listener =
        health::bind(config.health_listen)
            .await
            .map_err(|source| RuntimeError::HealthBind {
                addr: config.health_listen,
                source,
            })?;
    tracing::info!(listen = %config.health_listen, "health port listening");
    let serving = health.clone();
    tokio::spawn(async move {
        if let Err(e) = health::serve(listener, serving).await {
            tracing::error!(error = %e, "health port stopped");
        }
    });
    let client = cluster::client(&config).await?;
    let redactor = Arc::new(Redactor::new(&config.redact_patterns)?);
    let tools: Arc<dyn ToolRunner> = Arc::new(BuiltinTools {
        client: client.clone(),
        redactor: redactor.clone(),
    });
    let config = Arc::new(config);
    let link = Link {
        config: config.clone(),
        client: client.clone(),
        tools,
        health: health.clone(),
        settings: timings.link.clone(),
    };
    let snapshot_settings = SnapshotSettings {
        filter: config.namespaces.clone(),
        metrics_interval: crate::snapshot::metrics_poll::POLL_INTERVAL,
    };

    let (leading_tx, mut leading) = watch::channel(false);
    let mut election = None;
    // Without election the sender lives as long as the loop: leadership never changes.
    let mut _always_leading = None;
    match &config.leader_election {
        Some(settings) => {
            tracing::info!(lease = %settings.lease_name, namespace = %settings.lease_namespace, identity = %settings.identity, "leader election enabled");
            let elector =
                Elector::new(client.clone(), settings, timings.lease).with_health(health.clone());
            election = Some(tokio::spawn(elector.run(leading_tx, shutdown.clone())));
        }
        None => {
            leading_tx.send_replace(true);
            health.set_role(Role::Leader);
            _always_leading = Some(leading_tx);
        }
    }

    let mut stop = shutdown.clone();
    loop {
        tokio::select! {
            led = leading.wait_for(|l| *l) => if led.is_err() { break },
            _ = stop.wait_for(|s| *s) => break,
        }
        tracing::info!("leading: starting the snapshot and the link to the appliance");
        let lead = async {
            let snapshotter = Snapshotter::start(
                client.clone(),
                snapshot_settings.clone(),
                redactor.clone(),
                health.clone(),
            )
            .await;
            link.run(snapshotter.picture.clone(), snapshotter.metrics_available)
                .await;
        };
        tokio::select! {
            _ = lead => {}
            _ = leading.wait_for(|l| !*l) => {
                tracing::warn!("leadership lost: connection to the appliance closed, watchers stopped");
                health.set_link(LinkState::Disconnected);
            }
            _ = stop.wait_for(|s| *s) => break,
        }
    }
    health.set_link(LinkState::Disconnected);
    // Let the elector release the lease before the process ends.
    if let Some(task) = election {
        let _ = task.await;
    }
    tracing::info!("stopped");
    Ok(())
}
