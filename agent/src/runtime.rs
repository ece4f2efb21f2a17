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
    match listener.local_addr() {
        Ok(addr) => tracing::info!(listen = %addr, "health port listening"),
        Err(_) => tracing::info!(listen = %config.health_listen, "health port listening"),
    }
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
    let snapshot_settings = SnapshotSettings::new(config.namespaces.clone());

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

#[cfg(test)]
mod tests {
    use std::time::{Duration, Instant};

    use acorn_proto::agent::AgentMessage;
    use futures_util::StreamExt;
    use k8s_openapi::api::coordination::v1::Lease;
    use kube::Api;

    use super::*;
    use crate::link::tests::{
        HubSocket, fast_settings, recv, recv_business, send, start_hub, welcome,
    };
    use crate::link::tls::tests::test_pki;
    use crate::testutil::kubesim;

    fn config(
        dir: &std::path::Path,
        url: &str,
        ca: &str,
        kubeconfig: &str,
        pod: &str,
    ) -> AgentConfig {
        let ca_file = dir.join("ca.pem");
        std::fs::write(&ca_file, ca).unwrap();
        let env = [
            ("ACORN_AGENT_APPLIANCE_URL", url.to_string()),
            ("ACORN_AGENT_CA_FILE", ca_file.display().to_string()),
            ("ACORN_AGENT_KEY", "acorn_agent_testkey".to_string()),
            ("ACORN_AGENT_LEADER_ELECTION", "true".to_string()),
            ("ACORN_AGENT_KUBECONFIG", kubeconfig.to_string()),
            ("ACORN_AGENT_HEALTH_LISTEN", "127.0.0.1:0".to_string()),
            ("POD_NAME", pod.to_string()),
            ("POD_NAMESPACE", "default".to_string()),
        ];
        AgentConfig::load(&|k| env.iter().find(|(n, _)| *n == k).map(|(_, v)| v.clone())).unwrap()
    }

    /// Waits until the hub's end of a connection sees it closed.
    async fn closed_within(ws: &mut HubSocket, limit: Duration) -> bool {
        tokio::time::timeout(limit, async {
            loop {
                match ws.next().await {
                    None | Some(Err(_)) => return,
                    Some(Ok(tokio_tungstenite::tungstenite::Message::Close(_))) => return,
                    Some(Ok(_)) => {}
                }
            }
        })
        .await
        .is_ok()
    }

    #[tokio::test]
    async fn only_the_leader_connects_and_a_follower_takes_over() {
        let pki = test_pki();
        let mut hub = start_hub(&pki, None).await;
        let (_sim, client) = kubesim(&["healthy"]).await;
        let dir = tempfile::tempdir().unwrap();
        let kubeconfig = dir.path().join("kubeconfig");
        acorn_kubesim::write_kubeconfig(&kubeconfig, &_sim.url()).unwrap();
        let kubeconfig = kubeconfig.display().to_string();
        let timings = Timings {
            lease: LeaseTimings {
                lease_duration: Duration::from_secs(3),
                renew_interval: Duration::from_secs(2),
                retry_interval: Duration::from_millis(500),
            },
            link: LinkSettings {
                // The hub of this test never speaks after the welcome.
                dead_after: Duration::from_secs(60),
                ..fast_settings()
            },
        };
        let mut stops = std::collections::HashMap::new();
        for pod in ["agent-a", "agent-b"] {
            let (stop, stop_rx) = watch::channel(false);
            let cfg = config(dir.path(), &hub.url, &pki.ca_pem, &kubeconfig, pod);
            let task = tokio::spawn(run(cfg, timings.clone(), stop_rx));
            stops.insert(pod.to_string(), (stop, task));
        }

        // Exactly one replica connects.
        let (_, mut first) = tokio::time::timeout(Duration::from_secs(10), hub.conns.recv())
            .await
            .unwrap()
            .unwrap();
        let AgentMessage::Hello(hello) = recv(&mut first).await else {
            panic!("no hello")
        };
        let leader = hello.pod_name.clone().unwrap();
        send(&mut first, &welcome(&[])).await;
        assert!(matches!(
            recv_business(&mut first).await,
            AgentMessage::SnapshotBegin { snapshot: 1 }
        ));
        assert!(
            tokio::time::timeout(Duration::from_secs(3), hub.conns.recv())
                .await
                .is_err(),
            "the follower connected too"
        );

        // The leader shuts down: its connection closes, it releases the lease, and the other
        // replica connects well before the lease would have expired.
        let (stop, task) = stops.remove(&leader).unwrap();
        let stopped = Instant::now();
        stop.send(true).unwrap();
        assert!(
            closed_within(&mut first, Duration::from_secs(2)).await,
            "the old leader kept its connection"
        );
        task.await.unwrap().unwrap();
        let (_, mut second) = tokio::time::timeout(Duration::from_secs(10), hub.conns.recv())
            .await
            .unwrap()
            .unwrap();
        let AgentMessage::Hello(hello) = recv(&mut second).await else {
            panic!("no hello")
        };
        let new_leader = hello.pod_name.clone().unwrap();
        assert_ne!(new_leader, leader);
        assert!(
            stopped.elapsed() < Duration::from_secs(3),
            "took {:?}",
            stopped.elapsed()
        );
        send(&mut second, &welcome(&[])).await;
        assert!(matches!(
            recv_business(&mut second).await,
            AgentMessage::SnapshotBegin { .. }
        ));

        // Leadership lost (another holder wrote the lease): the connection closes at once.
        let api: Api<Lease> = Api::namespaced(client.clone(), "default");
        let mut lease = api.get("acorn-agent").await.unwrap();
        if let Some(spec) = lease.spec.as_mut() {
            spec.holder_identity = Some("intruder".into());
            spec.lease_duration_seconds = Some(30);
        }
        api.replace("acorn-agent", &Default::default(), &lease)
            .await
            .unwrap();
        assert!(
            closed_within(&mut second, Duration::from_secs(4)).await,
            "a replica that lost the lease kept its connection"
        );
        let (stop, task) = stops.remove(&new_leader).unwrap();
        stop.send(true).unwrap();
        task.await.unwrap().unwrap();
    }
}
