//! The execution engine: runs queued by the control plane are executed here, one worker each,
//! through the gateway only (the run's JWT on every model and tool call).
//!
//! Layout:
//! - [`config`]: `[engine]` (workers, timeouts, run limits and their bounds);
//! - `queue.rs`: the fair queue (round robin across workspaces);
//! - `run.rs`: the orchestration loop of one run (model call, tool calls, loop guard, approvals,
//!   limits, the final write);
//! - `context.rs`: the system prompt (cluster summary, open findings) and context trimming;
//! - [`evidence`]: the signed evidence bundle of a finished run.
//!
//! Events: every change of a run is a store write that appends numbered events (see
//! `acorn-store`'s `runs.rs`); only after the commit are the events published on the run's
//! broadcast channel ([`Engine::subscribe`]), so a subscriber can always fill a gap or a lag
//! from the store. A slow subscriber lags and re-reads; it never slows the run.
//!
//! Crash safety: at start ([`Engine::recover`]), queued runs are queued again (nothing of them
//! happened yet) and runs that were running or waiting for approval are ended `failed` with
//! `appliance_restarted`: replaying them would repeat model calls that cost money and could
//! repeat a write action whose result was not recorded.

pub mod config;
mod context;
pub mod evidence;
mod queue;
mod run;

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use tokio::sync::{Notify, broadcast, watch};

use acorn_proto::ErrorCode;
use acorn_proto::runs::{RunEvent, RunEventKind, RunState};
use acorn_store::{NewEvent, RunChange, Store, StoreError};

use crate::control::Control;
use crate::control::error::ApiError;
use crate::gateway::Gateway;
use config::EngineConfig;
use queue::FairQueue;

/// A callback for every batch of published events (the search indexer).
pub type Observer = Arc<dyn Fn(&[RunEvent]) + Send + Sync>;

/// Events kept for subscribers that fall behind before they must re-read from the store.
const EVENT_BUFFER: usize = 1024;

/// A run that has subscribers or a worker: its event channel, cancel switch and approval bell.
pub struct LiveRun {
    events: broadcast::Sender<RunEvent>,
    cancel: watch::Sender<bool>,
    approval: Notify,
}

/// The engine.
pub struct Engine {
    pub store: Store,
    pub gateway: Arc<Gateway>,
    pub control: Control,
    pub config: EngineConfig,
    queue: Mutex<FairQueue>,
    work: Notify,
    live: Mutex<HashMap<String, Arc<LiveRun>>>,
    /// Called with every published batch (the search indexer).
    observers: Mutex<Vec<Observer>>,
}

impl std::fmt::Debug for Engine {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Engine").finish_non_exhaustive()
    }
}

impl Engine {
    pub fn new(control: Control, gateway: Arc<Gateway>, config: EngineConfig) -> Arc<Engine> {
        Arc::new(Engine {
            store: control.store.clone(),
            gateway,
            control,
            queue: Mutex::new(FairQueue::default()),
            work: Notify::new(),
            live: Mutex::new(HashMap::new()),
            observers: Mutex::new(Vec::new()),
            config,
        })
    }

    /// Starts the workers; they stop when `shutdown` turns true (runs in flight are dropped and
    /// ended `appliance_restarted` at the next start).
    pub fn start_workers(self: &Arc<Self>, shutdown: watch::Receiver<bool>) {
        for _ in 0..self.config.concurrency.max(1) {
            let engine = Arc::clone(self);
            let mut shutdown = shutdown.clone();
            tokio::spawn(async move {
                loop {
                    let next = engine.next_run();
                    let run_id = match next {
                        Some(id) => id,
                        None => {
                            tokio::select! {
                                _ = shutdown.changed() => break,
                                _ = engine.work.notified() => continue,
                            }
                        }
                    };
                    tokio::select! {
                        _ = shutdown.changed() => break,
                        _ = run::execute(&engine, &run_id) => {}
                    }
                }
            });
        }
    }

    fn next_run(&self) -> Option<String> {
        self.queue.lock().ok()?.pop()
    }

    /// Registers a callback for every batch of published events.
    pub fn observe(&self, f: Observer) {
        if let Ok(mut o) = self.observers.lock() {
            o.push(f);
        }
    }

    /// Puts a committed run in the queue. Refused when the queue is full.
    pub fn submit(&self, workspace_id: &str, run_id: &str) -> Result<(), ApiError> {
        let mut q = self
            .queue
            .lock()
            .map_err(|_| ApiError::internal("engine queue poisoned"))?;
        if q.len() >= self.config.queue_limit {
            return Err(ApiError::new(
                ErrorCode::EngineBusy,
                format!(
                    "{} runs are waiting already (engine.queue_limit); retry in a minute",
                    q.len()
                ),
            ));
        }
        q.push(workspace_id, run_id);
        drop(q);
        self.work.notify_one();
        Ok(())
    }

    /// Runs waiting for a worker.
    pub fn queued(&self) -> usize {
        self.queue.lock().map(|q| q.len()).unwrap_or(0)
    }

    /// The live handle of a run (created on first use).
    fn live_run(&self, run_id: &str) -> Arc<LiveRun> {
        let mut live = match self.live.lock() {
            Ok(l) => l,
            Err(p) => p.into_inner(),
        };
        Arc::clone(live.entry(run_id.to_owned()).or_insert_with(|| {
            Arc::new(LiveRun {
                events: broadcast::channel(EVENT_BUFFER).0,
                cancel: watch::channel(false).0,
                approval: Notify::new(),
            })
        }))
    }

    /// A receiver of the run's events from now on.
    pub fn subscribe(&self, run_id: &str) -> broadcast::Receiver<RunEvent> {
        self.live_run(run_id).events.subscribe()
    }

    /// Publishes committed events; a terminal event retires the run's live handle.
    pub fn publish(&self, events: &[RunEvent]) {
        let Some(first) = events.first() else {
            return;
        };
        let handle = self.live_run(&first.run_id);
        for e in events {
            // No subscriber is fine: the events are in the store.
            let _ = handle.events.send(e.clone());
        }
        if events.iter().any(|e| e.kind.ends_run()) {
            // A worker still executing the run (it was cancelled) stops now: its model stream
            // and tool calls are dropped with its future.
            let _ = handle.cancel.send(true);
            if let Ok(mut live) = self.live.lock() {
                live.remove(&first.run_id);
            }
        }
        if let Ok(observers) = self.observers.lock() {
            for o in observers.iter() {
                o(events);
            }
        }
    }

    /// Writes a change with its events, then publishes them.
    pub async fn commit(
        &self,
        run_id: &str,
        change: RunChange,
        events: Vec<NewEvent>,
    ) -> Result<acorn_store::RunRecord, StoreError> {
        let (run, stored) = self.store.update_run(run_id, change, events).await?;
        self.publish(&stored);
        Ok(run)
    }

    /// Cancels a run that has not ended: the store records it first (so the run's worker can
    /// no longer write), then the worker is told and drops the model stream and tool calls.
    pub async fn cancel(&self, run_id: &str, by: &str) -> Result<acorn_store::RunRecord, ApiError> {
        let now = crate::util::now_unix();
        let change = RunChange {
            state: Some(RunState::Cancelled),
            ended_at: Some(now),
            ..RunChange::default()
        };
        let event = NewEvent {
            kind: RunEventKind::RunCancelled,
            at_ms: crate::util::now_ms(),
            data: serde_json::json!({ "by": by }),
        };
        // Publishing the terminal event tells the run's worker to stop.
        let run = self.commit(run_id, change, vec![event]).await?;
        if let Ok(mut q) = self.queue.lock() {
            q.remove(run_id);
        }
        Ok(run)
    }

    /// Wakes the run's worker after an approval decision was committed.
    pub fn approval_decided(&self, run_id: &str) {
        if let Ok(live) = self.live.lock()
            && let Some(handle) = live.get(run_id)
        {
            handle.approval.notify_one();
        }
    }

    /// Start-up: queue the queued runs again, end the interrupted ones (see the module docs).
    pub async fn recover(&self) -> Result<(usize, usize), StoreError> {
        let mut runs = self.store.active_run_records()?;
        runs.sort_by(|a, b| a.id.cmp(&b.id));
        let (mut requeued, mut ended) = (0, 0);
        for run in runs {
            if run.state == RunState::Queued {
                if let Ok(mut q) = self.queue.lock() {
                    q.push(&run.workspace_id, &run.id);
                }
                requeued += 1;
                continue;
            }
            let message = "the appliance stopped while this run was in progress; it was ended \
                           rather than replayed (model calls cost money and a write action may \
                           already have happened). Ask again.";
            let change = RunChange {
                state: Some(RunState::Failed),
                ended_at: Some(crate::util::now_unix()),
                error: Some(acorn_proto::runs::RunError {
                    code: ErrorCode::ApplianceRestarted.as_str().into(),
                    message: message.into(),
                }),
                ..RunChange::default()
            };
            let event = NewEvent {
                kind: RunEventKind::RunFailed,
                at_ms: crate::util::now_ms(),
                data: serde_json::json!({
                    "code": ErrorCode::ApplianceRestarted.as_str(),
                    "message": message,
                }),
            };
            match self.commit(&run.id, change, vec![event]).await {
                Ok(_) => ended += 1,
                Err(StoreError::RunFinished { .. }) => {}
                Err(e) => return Err(e),
            }
        }
        if requeued > 0 {
            self.work.notify_waiters();
        }
        Ok((requeued, ended))
    }
}
