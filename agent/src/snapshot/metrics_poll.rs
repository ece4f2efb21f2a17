//! `metrics.k8s.io/v1beta1` PodMetrics and NodeMetrics: not watchable, so polled with plain
//! list GETs every [`POLL_INTERVAL`] when the API answers, and fed into the picture like a
//! relist (metrics that disappeared are deleted). The `timestamp` field is dropped so that only
//! a change of usage produces a delta; `window` stays.

use std::sync::Arc;
use std::time::Duration;

use kube::Api;
use kube::api::{ListParams, ObjectList};
use kube::core::{ApiResource, DynamicObject, GroupVersionKind};
use serde_json::Value;

use super::kinds::{Decode, Kind};
use super::picture::{Picture, ScopeId, ScopeState};
use super::watch::convert;
use crate::redact::Redactor;

/// How often metrics are polled.
pub const POLL_INTERVAL: Duration = Duration::from_secs(30);

fn metrics_kind(kind: &str, plural: &str, namespaced: bool) -> Kind {
    let gvk = GroupVersionKind::gvk("metrics.k8s.io", "v1beta1", kind);
    Kind {
        resource: ApiResource::from_gvk_with_plural(&gvk, plural),
        namespaced,
        decode: Decode::Full,
    }
}

/// `PodMetrics` (plural `pods`).
pub fn pod_metrics() -> Kind {
    metrics_kind("PodMetrics", "pods", true)
}

/// `NodeMetrics` (plural `nodes`).
pub fn node_metrics() -> Kind {
    metrics_kind("NodeMetrics", "nodes", false)
}

/// Whether `metrics.k8s.io` answers (a 404 means no metrics-server, 503 a broken one).
pub async fn available(client: &kube::Client) -> bool {
    let api: Api<DynamicObject> = Api::all_with(client.clone(), &node_metrics().resource);
    api.list(&ListParams::default().limit(1)).await.is_ok()
}

/// One polled collection: where it goes in the picture.
pub struct MetricsScope {
    /// PodMetrics or NodeMetrics.
    pub kind: Kind,
    /// The namespace polled (`None`: all).
    pub namespace: Option<String>,
    /// Its scope in the picture.
    pub scope: ScopeId,
}

async fn poll_once(
    client: &kube::Client,
    s: &MetricsScope,
    picture: &Picture,
    redactor: &Redactor,
) -> Result<(), kube::Error> {
    let api: Api<DynamicObject> = match &s.namespace {
        Some(ns) => Api::namespaced_with(client.clone(), ns, &s.kind.resource),
        None => Api::all_with(client.clone(), &s.kind.resource),
    };
    let list: ObjectList<DynamicObject> = api.list(&ListParams::default()).await?;
    picture.relist_begin(s.scope);
    for item in list.items {
        let mut value = serde_json::to_value(&item).unwrap_or(Value::Null);
        if let Some(map) = value.as_object_mut() {
            map.remove("timestamp");
            if let Some(meta) = map.get_mut("metadata").and_then(Value::as_object_mut) {
                // Metrics have no meaningful resourceVersion (the proto says: empty).
                meta.remove("resourceVersion");
                meta.remove("creationTimestamp");
            }
        }
        if let Some((key, json)) = convert(&s.kind, value, redactor) {
            picture.upsert(s.scope, key, json);
        }
    }
    picture.relist_done(s.scope);
    Ok(())
}

/// Polls every scope every `interval`, until dropped. A scope that fails before its first
/// success is skipped (so the first snapshot does not wait for it); later failures keep the
/// last values.
pub async fn run(
    client: kube::Client,
    scopes: Vec<MetricsScope>,
    picture: Arc<Picture>,
    redactor: Arc<Redactor>,
    interval: Duration,
) {
    let mut polled_once = vec![false; scopes.len()];
    let mut ticker = tokio::time::interval(interval);
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        ticker.tick().await;
        for (i, s) in scopes.iter().enumerate() {
            match poll_once(&client, s, &picture, &redactor).await {
                Ok(()) => polled_once[i] = true,
                Err(e) => {
                    tracing::warn!(kind = %s.kind.label(), error = %e, "metrics poll failed");
                    if !polled_once[i] {
                        picture.skip_scope(s.scope, ScopeState::Absent);
                    }
                }
            }
        }
    }
}
