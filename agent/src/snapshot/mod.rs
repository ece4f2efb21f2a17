//! The agent's picture of the cluster and how it is kept fresh.
//!
//! Layout:
//! - [`kinds`]: the watched kinds; Secrets and ConfigMaps decoded keys-only.
//! - [`trim`]: what of an object may leave the cluster (no managedFields, no Secret or
//!   ConfigMap values, no secret-looking env values, redacted strings, bounded size).
//! - [`watch`]: one kube-runtime watcher per scope feeding the picture.
//! - [`metrics_poll`]: PodMetrics/NodeMetrics polled every 30 s.
//! - [`picture`]: the objects (serialized once), the queue of changes for the connection,
//!   snapshot chunking and delta frames.
//!
//! [`Snapshotter::start`] runs while this replica leads; dropping it stops every watcher (a
//! follower keeps no picture). The link asks the picture for a full snapshot after every
//! (re)connect and for batched deltas in between.
//!
//! Namespace filter: the agent's own filter decides what is watched (per namespace when the
//! include list is set, so that namespaced RBAC suffices); the appliance's filter from the
//! `Welcome` narrows what is sent, at send time.

pub mod kinds;
pub mod metrics_poll;
pub mod picture;
pub mod trim;
pub mod watch;

use std::sync::Arc;

use acorn_proto::agent::NamespaceFilter;
use kube::Api;
use kube::core::DynamicObject;
use serde_json::Value;
use tokio::task::JoinSet;

use self::kinds::{Decode, KeysOnly, Kind};
use self::metrics_poll::MetricsScope;
use self::picture::Picture;
use self::watch::ScopeWatch;
use crate::health::Health;
use crate::redact::Redactor;

fn dynamic_to_value(object: DynamicObject, _kind: &Kind) -> Value {
    serde_json::to_value(object).unwrap_or(Value::Null)
}

fn keys_only_to_value(object: KeysOnly, kind: &Kind) -> Value {
    object.into_value(&kind.resource)
}

/// The running watchers and pollers, and the picture they feed.
pub struct Snapshotter {
    /// The picture.
    pub picture: Arc<Picture>,
    /// Whether `metrics.k8s.io` answered when the watchers started.
    pub metrics_available: bool,
    _tasks: JoinSet<()>,
}

/// Settings of the snapshot side.
#[derive(Clone)]
pub struct SnapshotSettings {
    /// The agent's own namespace filter (what it watches).
    pub filter: NamespaceFilter,
    /// How often metrics are polled.
    pub metrics_interval: std::time::Duration,
    /// How long a kind RBAC forbids waits before it is tried again.
    pub forbidden_retry: std::time::Duration,
}

impl SnapshotSettings {
    /// Production timings for `filter`: metrics every 30 s, forbidden kinds retried every 5 min.
    pub fn new(filter: NamespaceFilter) -> SnapshotSettings {
        SnapshotSettings {
            filter,
            metrics_interval: metrics_poll::POLL_INTERVAL,
            forbidden_retry: std::time::Duration::from_secs(300),
        }
    }
}

impl Snapshotter {
    /// Starts a watcher per scope (and the metrics poller when metrics are served).
    pub async fn start(
        client: kube::Client,
        settings: SnapshotSettings,
        redactor: Arc<Redactor>,
        health: Arc<Health>,
    ) -> Snapshotter {
        let picture = Arc::new(Picture::new());
        let mut tasks = JoinSet::new();
        let filter = settings.filter.clone();
        // Per-namespace watches when the include list is set (minus excluded namespaces).
        let namespaces: Option<Vec<String>> = (!filter.include.is_empty()).then(|| {
            filter
                .include
                .iter()
                .filter(|ns| filter.allows(Some(ns)))
                .cloned()
                .collect()
        });
        for kind in kinds::watched() {
            let scopes: Vec<Option<String>> = match (&namespaces, kind.namespaced) {
                (Some(list), true) => list.iter().cloned().map(Some).collect(),
                _ => vec![None],
            };
            for ns in scopes {
                let scope = picture.register_scope(
                    &kind.resource.api_version,
                    &kind.resource.kind,
                    ns.as_deref(),
                );
                let w = ScopeWatch {
                    kind: kind.clone(),
                    scope,
                    picture: picture.clone(),
                    filter: filter.clone(),
                    redactor: redactor.clone(),
                    health: health.clone(),
                    forbidden_retry: settings.forbidden_retry,
                };
                match kind.decode {
                    Decode::Full => {
                        let api: Api<DynamicObject> = match &ns {
                            Some(ns) => Api::namespaced_with(client.clone(), ns, &kind.resource),
                            None => Api::all_with(client.clone(), &kind.resource),
                        };
                        tasks.spawn(watch::run(api, w, dynamic_to_value));
                    }
                    Decode::KeysOnly => {
                        let api: Api<KeysOnly> = match &ns {
                            Some(ns) => Api::namespaced_with(client.clone(), ns, &kind.resource),
                            None => Api::all_with(client.clone(), &kind.resource),
                        };
                        tasks.spawn(watch::run(api, w, keys_only_to_value));
                    }
                }
            }
        }
        let metrics_available = metrics_poll::available(&client).await;
        if metrics_available {
            let mut scopes = Vec::new();
            let node = metrics_poll::node_metrics();
            scopes.push(MetricsScope {
                scope: picture.register_scope(
                    &node.resource.api_version,
                    &node.resource.kind,
                    None,
                ),
                kind: node,
                namespace: None,
            });
            let pods = metrics_poll::pod_metrics();
            let pod_namespaces: Vec<Option<String>> = match &namespaces {
                Some(list) => list.iter().cloned().map(Some).collect(),
                None => vec![None],
            };
            for ns in pod_namespaces {
                scopes.push(MetricsScope {
                    scope: picture.register_scope(
                        &pods.resource.api_version,
                        &pods.resource.kind,
                        ns.as_deref(),
                    ),
                    kind: pods.clone(),
                    namespace: ns,
                });
            }
            tasks.spawn(metrics_poll::run(
                client.clone(),
                scopes,
                picture.clone(),
                redactor.clone(),
                settings.metrics_interval,
            ));
        } else {
            tracing::info!("metrics.k8s.io is not served: snapshots carry no metrics");
        }
        Snapshotter {
            picture,
            metrics_available,
            _tasks: tasks,
        }
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use acorn_proto::agent::Resource;

    use super::*;
    use crate::testutil::kubesim;

    fn settings(include: &[&str]) -> SnapshotSettings {
        SnapshotSettings {
            filter: NamespaceFilter {
                include: include.iter().map(|s| s.to_string()).collect(),
                exclude: vec!["kube-system".into()],
            },
            metrics_interval: Duration::from_secs(30),
            forbidden_retry: Duration::from_millis(500),
        }
    }

    async fn plant_secret(client: &kube::Client) {
        use k8s_openapi::api::core::v1::Secret;
        let secret: Secret = serde_json::from_value(serde_json::json!({
            "metadata": {"name": "db", "namespace": "healthy"},
            "type": "Opaque",
            "data": {"DB_PASSWORD_KEY_NAME": "cGxhbnRlZC1zZWNyZXQtdmFsdWU="}
        }))
        .unwrap();
        Api::<Secret>::namespaced(client.clone(), "healthy")
            .create(&Default::default(), &secret)
            .await
            .unwrap();
    }

    fn objects(p: &Picture) -> Vec<Resource> {
        p.begin_snapshot(&NamespaceFilter::default())
            .entries
            .iter()
            .map(|e| serde_json::from_str(e).unwrap())
            .collect()
    }

    #[tokio::test]
    async fn snapshots_the_simulated_cluster_trimmed() {
        let (_sim, client) = kubesim(&["crashloop", "healthy", "config-missing-key"]).await;
        plant_secret(&client).await;
        let s = Snapshotter::start(
            client,
            settings(&[]),
            Arc::new(Redactor::new(&[]).unwrap()),
            Arc::new(Health::new()),
        )
        .await;
        tokio::time::timeout(Duration::from_secs(20), s.picture.wait_synced())
            .await
            .unwrap();
        assert!(s.metrics_available);
        let all = objects(&s.picture);
        let kinds: std::collections::BTreeSet<&str> =
            all.iter().map(|r| r.key.kind.as_str()).collect();
        for k in [
            "Pod",
            "Deployment",
            "Node",
            "Event",
            "Secret",
            "ConfigMap",
            "Namespace",
            "PodMetrics",
            "NodeMetrics",
            "Service",
        ] {
            assert!(kinds.contains(k), "{k} missing from {kinds:?}");
        }
        assert!(
            all.iter()
                .all(|r| r.key.namespace.as_deref() != Some("kube-system")
                    && !(r.key.kind == "Namespace" && r.key.name == "kube-system")),
            "excluded namespace in the picture"
        );
        // Secret values never enter the picture, whatever the scenario holds.
        for r in all.iter().filter(|r| r.key.kind == "Secret") {
            assert!(r.object.get("data").is_none(), "{}", r.object);
            assert!(r.object.get("dataKeys").is_some(), "{}", r.object);
        }
        let text: String = all.iter().map(|r| r.object.to_string()).collect();
        assert!(text.contains("DB_PASSWORD_KEY_NAME"), "key names are kept");
        assert!(
            !text.contains("cGxhbnRlZC1zZWNyZXQtdmFsdWU="),
            "a Secret value leaked"
        );
        assert!(!text.contains("managedFields"));
        let pod = all
            .iter()
            .find(|r| r.key.kind == "Pod" && r.key.name == "checkout-7c9d8f6b5-x2k4p")
            .unwrap();
        assert_eq!(
            pod.object["status"]["containerStatuses"][0]["restartCount"],
            7
        );
        assert!(!pod.resource_version.is_empty());
        let metrics = all.iter().find(|r| r.key.kind == "PodMetrics").unwrap();
        assert!(metrics.resource_version.is_empty());
        assert!(metrics.object.get("timestamp").is_none());
    }

    #[tokio::test]
    async fn include_list_watches_per_namespace_and_forbidden_kinds_are_skipped() {
        let (sim, client) = kubesim(&["crashloop", "healthy"]).await;
        sim.sim.set_deny(vec![acorn_kubesim::DenyRule {
            verbs: vec![],
            resource: "secrets".into(),
            group: None,
            namespace: None,
        }]);
        let health = Arc::new(Health::new());
        let s = Snapshotter::start(
            client,
            settings(&["crashloop"]),
            Arc::new(Redactor::new(&[]).unwrap()),
            health.clone(),
        )
        .await;
        tokio::time::timeout(Duration::from_secs(20), s.picture.wait_synced())
            .await
            .unwrap();
        let all = objects(&s.picture);
        assert!(
            all.iter()
                .all(|r| r.key.namespace.is_none()
                    || r.key.namespace.as_deref() == Some("crashloop"))
        );
        assert!(all.iter().any(|r| r.key.kind == "Pod"));
        assert!(!all.iter().any(|r| r.key.kind == "Secret"));
        let forbidden = s.picture.forbidden();
        assert_eq!(forbidden.len(), 1, "{forbidden:?}");
        assert!(
            forbidden[0].contains("v1/Secret in crashloop") && forbidden[0].contains("forbidden"),
            "{forbidden:?}"
        );
        assert_eq!(health.status().forbidden_kinds, forbidden);
        assert!(
            health
                .metrics
                .encode()
                .contains("acorn_agent_kinds_forbidden{kind=\"v1/Secret\"} 1")
        );
        // Namespaces outside the include list are not in view either.
        assert!(
            !all.iter()
                .any(|r| r.key.kind == "Namespace" && r.key.name == "healthy")
        );

        // RBAC fixed: the kind is tried again and no longer reported.
        sim.sim.set_deny(vec![]);
        let deadline = std::time::Instant::now() + Duration::from_secs(10);
        while !s.picture.forbidden().is_empty() {
            assert!(
                std::time::Instant::now() < deadline,
                "the forbidden kind was not retried"
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        assert!(health.status().forbidden_kinds.is_empty());
        assert!(
            health
                .metrics
                .encode()
                .contains("acorn_agent_kinds_forbidden{kind=\"v1/Secret\"} 0")
        );
    }
}
