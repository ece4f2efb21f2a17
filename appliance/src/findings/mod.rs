//! Findings in the appliance (issue #9): the background service that keeps every cluster's
//! findings current, and what reads them.
//!
//! The analyzers are `acorn-findings`; this module feeds them the stored picture of a cluster
//! (`Store::cluster_objects`) and keeps the lifecycle (`Tracker`) in the cluster's
//! `FindingsRecord`, so it survives restarts. A cluster is re-evaluated when its picture changed
//! (the agent hub marks it in [`PictureChanges`] after a snapshot or delta is stored), at most
//! once per `[findings] debounce`, and every `[findings] interval` anyway (time-based rules,
//! and `recovering` → `resolved`).
//!
//! Layout:
//! - this file: [`PictureChanges`], [`FindingsService`] (the loop) and [`evaluate`] (one
//!   cluster: read, analyze, track, store);
//! - [`config`] — `[findings]`;
//! - [`hook`] — [`hook::TransitionHook`], where transitions go (the log today; webhooks plug in
//!   here later) and auto-triage;
//! - [`api`] — the services behind `GET …/findings` and `GET …/clusters/{id}/findings`;
//! - [`triage`] — auto-triage, a read-only run per newly opened critical finding;
//! - [`analyze`] and [`kubeconfig`] — `acorn analyze`, the same analyzers without an appliance.
//!
//! What this module must not do: decide who may read findings (that is `control::authz`), or
//! write to a cluster. Evaluating reads the whole stored picture: a full pass over 10,000 pods
//! is ~120 ms of CPU (`findings/benches`), so it runs on the blocking pool, one cluster at a
//! time.

pub mod analyze;
pub mod api;
pub mod config;
pub mod hook;
pub mod kubeconfig;
pub mod triage;

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use tokio::sync::{Notify, watch};

use acorn_findings::{Finding, FindingState, Snapshot, Tracker, Transition, TransitionKind};
use acorn_proto::agent::ResourceKey;
use acorn_store::{Cluster, FindingsRecord, Store, StoreError};

use config::FindingsConfig;
use hook::TransitionHook;

/// Objects read from the store per page while building a cluster's snapshot.
const PAGE: usize = 5_000;
/// Resolved findings kept in a record at most (the newest).
const MAX_RESOLVED: usize = 200;

/// Clusters whose stored picture changed since the findings service last looked.
#[derive(Default)]
pub struct PictureChanges {
    /// cluster id → workspace id.
    dirty: Mutex<BTreeMap<String, String>>,
    notify: Notify,
}

impl PictureChanges {
    /// The picture of a cluster changed (a snapshot or delta was stored).
    pub fn mark(&self, workspace_id: &str, cluster_id: &str) {
        if let Ok(mut d) = self.dirty.lock() {
            d.insert(cluster_id.to_owned(), workspace_id.to_owned());
        }
        self.notify.notify_one();
    }

    fn take(&self) -> BTreeMap<String, String> {
        self.dirty
            .lock()
            .map(|mut d| std::mem::take(&mut *d))
            .unwrap_or_default()
    }
}

/// Why one evaluation failed.
#[derive(Debug, thiserror::Error)]
pub enum EvaluateError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("the findings tracker of the cluster cannot be read: {0}")]
    Tracker(serde_json::Error),
    #[error("the evaluation task failed: {0}")]
    Task(String),
}

/// The outcome of one evaluation.
pub struct Evaluation {
    /// The record as stored.
    pub record: FindingsRecord,
    /// What changed.
    pub transitions: Vec<Transition>,
    /// The cluster as it was read.
    pub cluster: Cluster,
}

/// Re-evaluates one cluster from its stored picture at `now` and stores the result. `None`
/// when the cluster is gone or has no complete snapshot yet (nothing to judge).
pub async fn evaluate(
    store: &Store,
    config: &FindingsConfig,
    workspace_id: &str,
    cluster_id: &str,
    now: i64,
) -> Result<Option<Evaluation>, EvaluateError> {
    let (s, c, ws, id) = (
        store.clone(),
        config.clone(),
        workspace_id.to_owned(),
        cluster_id.to_owned(),
    );
    let computed = tokio::task::spawn_blocking(move || compute(&s, &c, &ws, &id, now))
        .await
        .map_err(|e| EvaluateError::Task(e.to_string()))??;
    let Some(evaluation) = computed else {
        return Ok(None);
    };
    let events = evaluation
        .transitions
        .iter()
        .filter_map(|t| {
            let data = acorn_proto::webhooks::FindingEventData {
                cluster_id: evaluation.cluster.id.clone(),
                cluster_name: evaluation.cluster.name.clone(),
                transition: t.kind,
                finding: t.finding.clone(),
            };
            let t = acorn_proto::webhooks::EventType::for_transition(t.kind);
            serde_json::to_value(data).ok().map(|d| (t, d))
        })
        .collect();
    // The transitions' webhook events commit with the record (issue #10's outbox).
    match store
        .put_findings_record(evaluation.record.clone(), events)
        .await
    {
        Ok(()) => Ok(Some(evaluation)),
        // Deleted while we were evaluating: nothing to keep.
        Err(StoreError::NotFound { .. }) => Ok(None),
        Err(e) => Err(e.into()),
    }
}

/// The pure part of [`evaluate`]: read, analyze, track (blocking).
fn compute(
    store: &Store,
    config: &FindingsConfig,
    workspace_id: &str,
    cluster_id: &str,
    now: i64,
) -> Result<Option<Evaluation>, EvaluateError> {
    let Some(cluster) = store.cluster(workspace_id, cluster_id)? else {
        return Ok(None);
    };
    if cluster.snapshot.complete_at.is_none() {
        return Ok(None);
    }
    let mut resources = Vec::new();
    let mut after: Option<ResourceKey> = None;
    loop {
        let page = store.cluster_objects(cluster_id, None, None, after.as_ref(), PAGE)?;
        let full = page.len() == PAGE;
        after = page.last().map(|r| r.key.clone());
        resources.extend(page);
        if !full {
            break;
        }
    }
    let snapshot = Snapshot::from_resources(resources);
    let found = acorn_findings::analyze(&snapshot, now);
    let previous = store.findings_record(cluster_id)?;
    let resolve_after = i64::try_from(config.resolve_after.as_secs()).unwrap_or(i64::MAX);
    let (mut tracker, mut resolved) = match previous {
        Some(r) if !r.tracker.is_null() => {
            let tracker: Tracker =
                serde_json::from_value(r.tracker).map_err(EvaluateError::Tracker)?;
            let resolved: Vec<Finding> = r
                .findings
                .into_iter()
                .filter(|f| f.state == FindingState::Resolved)
                .collect();
            (tracker, resolved)
        }
        _ => (Tracker::new(resolve_after), Vec::new()),
    };
    tracker.resolve_after_secs = resolve_after;
    let transitions = tracker.observe(found, now);
    for t in &transitions {
        if t.kind == TransitionKind::Resolved {
            let mut f = t.finding.clone();
            // When it was resolved: the time a resolved finding is listed (and retained) by.
            f.last_seen = now;
            resolved.push(f);
        }
    }
    let retention = i64::try_from(config.resolved_retention.as_secs()).unwrap_or(i64::MAX);
    resolved.retain(|f| now.saturating_sub(f.last_seen) <= retention);
    resolved.sort_by_key(|f| std::cmp::Reverse(f.last_seen));
    resolved.truncate(MAX_RESOLVED);
    let mut findings = tracker.findings();
    findings.extend(resolved);
    let record = FindingsRecord {
        workspace_id: workspace_id.to_owned(),
        cluster_id: cluster_id.to_owned(),
        evaluated_at: now,
        findings,
        tracker: serde_json::to_value(&tracker).map_err(EvaluateError::Tracker)?,
    };
    Ok(Some(Evaluation {
        record,
        transitions,
        cluster,
    }))
}

/// The background task (see the module docs).
pub struct FindingsService {
    store: Store,
    config: FindingsConfig,
    changes: Arc<PictureChanges>,
    hooks: Vec<Arc<dyn TransitionHook>>,
}

impl FindingsService {
    pub fn new(
        store: Store,
        config: FindingsConfig,
        changes: Arc<PictureChanges>,
        hooks: Vec<Arc<dyn TransitionHook>>,
    ) -> FindingsService {
        FindingsService {
            store,
            config,
            changes,
            hooks,
        }
    }

    /// Runs until `shutdown` changes.
    pub fn spawn(self, mut shutdown: watch::Receiver<bool>) {
        tokio::spawn(async move {
            // Clusters marked but evaluated too recently: cluster id → workspace id.
            let mut waiting: BTreeMap<String, String> = BTreeMap::new();
            let mut last: HashMap<String, Instant> = HashMap::new();
            // The first full pass right away: findings of a restart are current at once.
            let mut next_full = Instant::now();
            let mut tick = tokio::time::interval(Duration::from_secs(1));
            tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                tokio::select! {
                    _ = shutdown.changed() => break,
                    _ = self.changes.notify.notified() => {}
                    _ = tick.tick() => {}
                }
                waiting.extend(self.changes.take());
                let now = Instant::now();
                let mut due: BTreeMap<String, String> = BTreeMap::new();
                if now >= next_full {
                    next_full = now + self.config.interval;
                    match self.store.all_clusters() {
                        Ok(all) => {
                            for c in all {
                                due.insert(c.id, c.workspace_id);
                            }
                        }
                        Err(e) => tracing::warn!(error = %e, "findings: cannot list clusters"),
                    }
                    waiting.retain(|id, _| !due.contains_key(id));
                }
                let debounce = self.config.debounce;
                let ready: Vec<String> = waiting
                    .keys()
                    .filter(|id| {
                        last.get(*id)
                            .is_none_or(|t| now.duration_since(*t) >= debounce)
                    })
                    .cloned()
                    .collect();
                for id in ready {
                    if let Some(ws) = waiting.remove(&id) {
                        due.insert(id, ws);
                    }
                }
                for (cluster_id, workspace_id) in due {
                    last.insert(cluster_id.clone(), Instant::now());
                    self.run_one(&workspace_id, &cluster_id).await;
                }
                last.retain(|_, t| t.elapsed() < self.config.interval * 2);
            }
        });
    }

    async fn run_one(&self, workspace_id: &str, cluster_id: &str) {
        let now = crate::util::now_unix();
        match evaluate(&self.store, &self.config, workspace_id, cluster_id, now).await {
            Ok(Some(evaluation)) => {
                if !evaluation.transitions.is_empty() {
                    for hook in &self.hooks {
                        hook.transitions(&evaluation.cluster, &evaluation.transitions);
                    }
                }
            }
            Ok(None) => {}
            Err(e) => {
                tracing::warn!(cluster = %cluster_id, error = %e, "findings: evaluation failed")
            }
        }
    }
}

/// Starts the findings service with its hooks (the log; auto-triage).
pub fn start(
    config: &FindingsConfig,
    control: &crate::control::Control,
    engine: &Arc<crate::engine::Engine>,
    shutdown: watch::Receiver<bool>,
) {
    let hooks: Vec<Arc<dyn TransitionHook>> = vec![
        Arc::new(hook::LogHook),
        Arc::new(triage::AutoTriage::new(Arc::clone(engine), config.clone())),
    ];
    FindingsService::new(
        control.store.clone(),
        config.clone(),
        Arc::clone(&control.hub.changes),
        hooks,
    )
    .spawn(shutdown);
}
