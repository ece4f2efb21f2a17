//! One watcher per scope (kind, and namespace when watched per namespace): kube-runtime's
//! `watcher` (paged list, then watch from its resourceVersion, relist after a 410, backoff on
//! errors) feeding the [`Picture`]. Objects are trimmed and serialized here, before anything
//! else sees them.

use std::fmt::Debug;
use std::sync::Arc;

use acorn_proto::agent::{NamespaceFilter, ResourceKey};
use futures_util::StreamExt;
use kube::Api;
use kube::runtime::WatchStreamExt;
use kube::runtime::watcher::{self, Event};
use serde::de::DeserializeOwned;
use serde_json::Value;

use super::kinds::Kind;
use super::picture::{Picture, ScopeId, ScopeState, in_view};
use super::trim;
use crate::health::Health;
use crate::redact::Redactor;

/// What a watcher needs besides its API handle.
pub struct ScopeWatch {
    /// The kind watched.
    pub kind: Kind,
    /// Its scope in the picture.
    pub scope: ScopeId,
    /// The picture fed.
    pub picture: Arc<Picture>,
    /// The agent's own namespace filter (objects outside are dropped here).
    pub filter: NamespaceFilter,
    /// Masks secrets in every string.
    pub redactor: Arc<Redactor>,
    /// Where forbidden kinds are reported.
    pub health: Arc<Health>,
    /// How long a forbidden kind waits before it is tried again.
    pub forbidden_retry: std::time::Duration,
}

/// The API server's status in a watcher error, if it answered with one.
fn status_code(e: &watcher::Error) -> Option<(u16, String)> {
    match e {
        watcher::Error::InitialListFailed(kube::Error::Api(s))
        | watcher::Error::WatchStartFailed(kube::Error::Api(s))
        | watcher::Error::WatchFailed(kube::Error::Api(s)) => Some((s.code, s.message.clone())),
        watcher::Error::WatchError(s) => Some((s.code, s.message.clone())),
        _ => None,
    }
}

/// Trims and serializes one object of `kind`.
pub fn convert(kind: &Kind, object: Value, redactor: &Redactor) -> Option<(ResourceKey, String)> {
    let mut object = object;
    trim::trim(&mut object, redactor);
    trim::to_resource(&kind.resource.api_version, &kind.resource.kind, object)
}

fn key_of<K: kube::Resource>(kind: &Kind, object: &K) -> Option<ResourceKey> {
    let meta = object.meta();
    Some(ResourceKey {
        api_version: kind.resource.api_version.clone(),
        kind: kind.resource.kind.clone(),
        namespace: meta.namespace.clone().filter(|s| !s.is_empty()),
        name: meta.name.clone()?,
    })
}

/// Runs one scope's watcher until it is dropped. A kind RBAC forbids (403) is skipped and tried
/// again every `forbidden_retry` (RBAC may be fixed); a kind the cluster does not serve (404)
/// is skipped for good.
pub async fn run<K>(api: Api<K>, w: ScopeWatch, to_value: fn(K, &Kind) -> Value)
where
    K: kube::Resource + Clone + DeserializeOwned + Debug + Send + 'static,
{
    let label = w.kind.label();
    loop {
        match watch_until_skipped(api.clone(), &w, to_value).await {
            Skip::Forbidden => tokio::time::sleep(w.forbidden_retry).await,
            Skip::Absent => return,
        }
        tracing::info!(kind = %label, "trying a forbidden kind again");
    }
}

enum Skip {
    Forbidden,
    Absent,
}

async fn watch_until_skipped<K>(
    api: Api<K>,
    w: &ScopeWatch,
    to_value: fn(K, &Kind) -> Value,
) -> Skip
where
    K: kube::Resource + Clone + DeserializeOwned + Debug + Send + 'static,
{
    let stream = watcher::watcher(api, watcher::Config::default()).default_backoff();
    let mut stream = std::pin::pin!(stream);
    let label = w.kind.label();
    let forbidden_gauge = || {
        w.health
            .metrics
            .kinds_forbidden
            .get_or_create(&crate::metrics::KindLabels {
                kind: label.clone(),
            })
            .clone()
    };
    while let Some(event) = stream.next().await {
        match event {
            Ok(Event::Init) => w.picture.relist_begin(w.scope),
            Ok(Event::InitApply(object)) | Ok(Event::Apply(object)) => {
                let value = to_value(object, &w.kind);
                if let Some((key, json)) = convert(&w.kind, value, &w.redactor)
                    && in_view(&w.filter, &key)
                {
                    w.picture.upsert(w.scope, key, json);
                }
            }
            Ok(Event::InitDone) => {
                w.picture.relist_done(w.scope);
                w.health
                    .metrics
                    .objects
                    .set(i64::try_from(w.picture.len()).unwrap_or(i64::MAX));
                if forbidden_gauge().get() != 0 {
                    forbidden_gauge().set(0);
                    w.health.set_forbidden_kinds(w.picture.forbidden());
                }
            }
            Ok(Event::Delete(object)) => {
                if let Some(key) = key_of(&w.kind, &object) {
                    w.picture.remove(&key);
                }
            }
            Err(e) => match status_code(&e) {
                Some((403, message)) => {
                    tracing::warn!(kind = %label, %message, "RBAC forbids watching this kind: it is left out of snapshots");
                    w.picture
                        .skip_scope(w.scope, ScopeState::Forbidden(message));
                    forbidden_gauge().set(1);
                    w.health.set_forbidden_kinds(w.picture.forbidden());
                    return Skip::Forbidden;
                }
                Some((404, message)) => {
                    tracing::warn!(kind = %label, %message, "the cluster does not serve this kind: it is left out of snapshots");
                    w.picture.skip_scope(w.scope, ScopeState::Absent);
                    return Skip::Absent;
                }
                _ => tracing::warn!(kind = %label, error = %e, "watch failed; retrying"),
            },
        }
    }
    // The watcher stream never ends by itself; treat an end like a forbidden kind: retry later.
    Skip::Forbidden
}
