//! The Kubernetes side: building the client (a kubeconfig when one is configured, else the
//! in-cluster service account) and gathering the [`ClusterFacts`] the hello reports.

use std::time::Duration;

use acorn_proto::agent::ClusterFacts;
use k8s_openapi::api::core::v1::Node;
use kube::Api;
use kube::api::ListParams;
use kube::config::{KubeConfigOptions, Kubeconfig};

use crate::config::AgentConfig;

/// The Kubernetes client could not be configured.
#[derive(Debug, thiserror::Error)]
pub enum ClusterError {
    /// The kubeconfig file cannot be read or used.
    #[error("kubeconfig {path}: {message}")]
    Kubeconfig {
        /// The file.
        path: String,
        /// Why.
        message: String,
    },
    /// No kubeconfig is configured and the in-cluster configuration is missing.
    #[error(
        "not running in a cluster ({0}); set ACORN_AGENT_KUBECONFIG (or KUBECONFIG) to run \
         outside one"
    )]
    InCluster(String),
    /// The client could not be built from the configuration.
    #[error("kubernetes client: {0}")]
    Client(String),
}

/// The client for the cluster the agent serves.
pub async fn client(config: &AgentConfig) -> Result<kube::Client, ClusterError> {
    let mut kube_config = match &config.kubeconfig {
        Some(path) => {
            let err = |message: String| ClusterError::Kubeconfig {
                path: path.display().to_string(),
                message,
            };
            let kubeconfig = Kubeconfig::read_from(path).map_err(|e| err(e.to_string()))?;
            kube::Config::from_custom_kubeconfig(kubeconfig, &KubeConfigOptions::default())
                .await
                .map_err(|e| err(e.to_string()))?
        }
        None => kube::Config::incluster().map_err(|e| ClusterError::InCluster(e.to_string()))?,
    };
    // kube's default retry repeats a 503 up to 15 times with backoff growing to minutes: a tool
    // would then hang until its timeout instead of saying that, say, metrics-server is down.
    // Watchers have their own backoff; tools answer at once.
    kube_config.default_retry = false;
    kube::Client::try_from(kube_config).map_err(|e| ClusterError::Client(e.to_string()))
}

/// What the hello reports about the cluster. Every probe is bounded in time and a failed one
/// leaves its default: facts must never keep the agent from connecting.
pub async fn facts(client: &kube::Client, metrics_available: Option<bool>) -> ClusterFacts {
    let limit = Duration::from_secs(10);
    let kubernetes_version = match tokio::time::timeout(limit, client.apiserver_version()).await {
        Ok(Ok(info)) => info.git_version,
        Ok(Err(e)) => {
            tracing::warn!(error = %e, "cannot read the Kubernetes version");
            String::new()
        }
        Err(_) => String::new(),
    };
    let node_count = match tokio::time::timeout(limit, count_nodes(client)).await {
        Ok(Ok(n)) => n,
        Ok(Err(e)) => {
            tracing::warn!(error = %e, "cannot count nodes");
            0
        }
        Err(_) => 0,
    };
    let metrics_available = match metrics_available {
        Some(known) => known,
        None => tokio::time::timeout(limit, crate::snapshot::metrics_poll::available(client))
            .await
            .unwrap_or(false),
    };
    ClusterFacts {
        kubernetes_version,
        node_count,
        metrics_available,
    }
}

/// Counts nodes with paged lists (500 per page).
async fn count_nodes(client: &kube::Client) -> Result<u64, kube::Error> {
    let api: Api<Node> = Api::all(client.clone());
    let mut params = ListParams::default().limit(500);
    let mut count = 0u64;
    loop {
        let page = api.list(&params).await?;
        count += page.items.len() as u64;
        match page.metadata.continue_.filter(|c| !c.is_empty()) {
            Some(token) => params = params.continue_token(&token),
            None => return Ok(count),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testutil::kubesim_with;

    #[tokio::test]
    async fn facts_from_the_simulator() {
        let (sim, client) = kubesim_with(acorn_kubesim::Config {
            scale: Some((620, 0)),
            time_scale: 0.0,
            ..acorn_kubesim::Config::default()
        })
        .await;
        let f = facts(&client, None).await;
        assert!(f.kubernetes_version.starts_with('v'), "{f:?}");
        // 620 generated nodes plus the base scenario's three: more than one page.
        assert_eq!(f.node_count, 623);
        assert!(f.metrics_available);
        sim.sim.set_metrics_mode(acorn_kubesim::MetricsMode::Absent);
        assert!(!facts(&client, None).await.metrics_available);
    }
}
