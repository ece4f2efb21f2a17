//! Auto-triage: on a cluster with `auto_triage`, a newly opened **critical** finding opens a
//! session and a read-only run that investigates it, unattended.
//!
//! - **Who is the author.** The appliance itself: the session and the run are created by
//!   [`AUTHOR`] (`system:auto-triage`), not by a user, and the audit record's actor is the
//!   system. No user's role is borrowed, so the run is read-only, always; only the workspace's
//!   owners and admins may post follow-ups in its session (its creator is no member), and
//!   anyone with `sessions.read` reads it.
//! - **The same path as a user's run**: `control::runs::start_run` (agent connected, model from
//!   the workspace's run settings or the deployment's default, limits within
//!   `engine.max_limits`, the engine's queue), with the limits of `[findings] triage_limits`
//!   over the workspace's.
//! - **At most `[findings] triage_max_concurrent`** triage runs in flight, appliance-wide. A
//!   finding opened while all are busy waits in a queue (at most [`MAX_WAITING`], oldest
//!   dropped first, logged) and is investigated when a slot frees — if it is still open and the
//!   cluster still has auto-triage by then. The queue is in memory: after a restart, waiting
//!   findings are listed but not investigated, and a human can ask.
//! - **Once per finding lifecycle.** The tracker reports `opened` once per lifecycle (its
//!   state is persisted, so a restart does not re-open); `(finding id, first_seen)` is also
//!   remembered here, so a repeated report cannot start a second run. A finding that resolves
//!   and comes back is a new lifecycle and is investigated again; one that flaps within the
//!   hysteresis window (`reactivated`) is not.

use std::collections::{HashSet, VecDeque};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use acorn_findings::{Finding, Severity, Transition, TransitionKind};
use acorn_proto::agent::RunMode;
use acorn_store::{
    Actor, ActorKind, AuditDraft, AuditResult, Category, Cluster, Operation, SessionRecord,
};

use super::config::FindingsConfig;
use super::hook::TransitionHook;
use crate::control::runs::{NewRun, start_run};
use crate::engine::Engine;
use crate::util;

/// The author of auto-triage sessions and runs.
pub const AUTHOR: &str = "system:auto-triage";
/// Evidence lines quoted in the question.
const QUESTION_EVIDENCE: usize = 5;
/// Findings waiting for a free slot, at most.
pub const MAX_WAITING: usize = 100;
/// How often the waiting queue looks for a free slot.
const WAITING_POLL: Duration = Duration::from_secs(2);

/// The auto-triage hook.
pub struct AutoTriage {
    engine: Arc<Engine>,
    config: FindingsConfig,
    state: Arc<Mutex<State>>,
}

#[derive(Default)]
struct State {
    /// Runs started and not known to be finished.
    in_flight: Vec<String>,
    /// Lifecycles already investigated: `(finding id, first_seen)`.
    started: HashSet<(String, i64)>,
    /// Opened while every slot was busy, oldest first.
    waiting: VecDeque<(Cluster, Finding)>,
    /// A task drains `waiting`.
    draining: bool,
}

/// Why a finding is not investigated now.
enum NotNow {
    /// Its lifecycle was investigated already: never.
    Done,
    /// Every slot is busy: later.
    Busy(usize),
    Unavailable,
}

impl std::fmt::Display for NotNow {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            NotNow::Done => write!(f, "this finding's lifecycle was investigated already"),
            NotNow::Busy(n) => write!(
                f,
                "{n} auto-triage runs are in flight (findings.triage_max_concurrent)"
            ),
            NotNow::Unavailable => write!(f, "auto-triage state is unavailable"),
        }
    }
}

impl AutoTriage {
    pub fn new(engine: Arc<Engine>, config: FindingsConfig) -> AutoTriage {
        AutoTriage {
            engine,
            config,
            state: Arc::default(),
        }
    }
}

impl TransitionHook for AutoTriage {
    fn transitions(&self, cluster: &Cluster, transitions: &[Transition]) {
        if !cluster.auto_triage {
            return;
        }
        let opened: Vec<Finding> = transitions
            .iter()
            .filter(|t| {
                t.kind == TransitionKind::Opened && t.finding.severity == Severity::Critical
            })
            .map(|t| t.finding.clone())
            .collect();
        if opened.is_empty() {
            return;
        }
        let engine = Arc::clone(&self.engine);
        let state = Arc::clone(&self.state);
        let config = self.config.clone();
        let cluster = cluster.clone();
        // Starting a run writes to the store: not on the service's loop.
        tokio::spawn(async move {
            for finding in opened {
                triage_one(&engine, &state, &config, &cluster, &finding).await;
            }
        });
    }
}

/// Reserves a slot and the lifecycle; why not when the lifecycle was investigated already or
/// no slot is free.
fn reserve(
    engine: &Engine,
    state: &Mutex<State>,
    max: usize,
    key: (String, i64),
) -> Result<(), NotNow> {
    let Ok(mut s) = state.lock() else {
        return Err(NotNow::Unavailable);
    };
    if s.started.contains(&key) {
        return Err(NotNow::Done);
    }
    s.in_flight.retain(|id| {
        // An empty id is a slot reserved for a run being started.
        id.is_empty()
            || engine
                .store
                .run_record(id)
                .ok()
                .flatten()
                .is_some_and(|r| r.ended_at.is_none())
    });
    if s.in_flight.len() >= max {
        return Err(NotNow::Busy(s.in_flight.len()));
    }
    s.started.insert(key);
    // The slot is held by a placeholder until the run exists.
    s.in_flight.push(String::new());
    Ok(())
}

async fn triage_one(
    engine: &Arc<Engine>,
    state: &Arc<Mutex<State>>,
    config: &FindingsConfig,
    cluster: &Cluster,
    finding: &Finding,
) {
    let key = (finding.id.clone(), finding.first_seen);
    match reserve(engine, state, config.triage_max_concurrent, key) {
        Ok(()) => {}
        Err(NotNow::Busy(n)) => {
            tracing::info!(
                cluster = %cluster.id, finding = %finding.id,
                "auto-triage waits: {n} runs are in flight (findings.triage_max_concurrent)"
            );
            wait_for_slot(engine, state, config, cluster, finding);
            return;
        }
        Err(why) => {
            tracing::info!(cluster = %cluster.id, finding = %finding.id, "auto-triage skipped: {why}");
            return;
        }
    }
    start_reserved(engine, state, config, cluster, finding).await;
}

/// Starts the run of a reserved slot; the slot then holds the run, or is freed on failure.
async fn start_reserved(
    engine: &Engine,
    state: &Mutex<State>,
    config: &FindingsConfig,
    cluster: &Cluster,
    finding: &Finding,
) {
    let outcome = start(engine, config, cluster, finding).await;
    if let Ok(mut s) = state.lock()
        && let Some(slot) = s.in_flight.iter().position(String::is_empty)
    {
        {
            match &outcome {
                Ok(run_id) => s.in_flight[slot] = run_id.clone(),
                Err(_) => {
                    s.in_flight.remove(slot);
                }
            }
        }
    }
    match outcome {
        Ok(run_id) => tracing::info!(
            cluster = %cluster.id, finding = %finding.id, run = %run_id,
            "auto-triage: investigating {}", finding.title
        ),
        Err(e) => tracing::warn!(
            cluster = %cluster.id, finding = %finding.id, error = %e,
            "auto-triage could not start a run"
        ),
    }
}

/// Queues a finding for the next free slot and makes sure a task drains the queue.
fn wait_for_slot(
    engine: &Arc<Engine>,
    state: &Arc<Mutex<State>>,
    config: &FindingsConfig,
    cluster: &Cluster,
    finding: &Finding,
) {
    let Ok(mut s) = state.lock() else {
        return;
    };
    if s.waiting
        .iter()
        .any(|(_, f)| f.id == finding.id && f.first_seen == finding.first_seen)
    {
        return;
    }
    if s.waiting.len() >= MAX_WAITING
        && let Some((c, dropped)) = s.waiting.pop_front()
    {
        tracing::warn!(
            cluster = %c.id, finding = %dropped.id,
            "auto-triage queue is full ({MAX_WAITING}): the oldest waiting finding is not investigated"
        );
    }
    s.waiting.push_back((cluster.clone(), finding.clone()));
    if s.draining {
        return;
    }
    s.draining = true;
    let (engine, state, config) = (Arc::clone(engine), Arc::clone(state), config.clone());
    tokio::spawn(async move { drain_waiting(&engine, &state, &config).await });
}

/// Starts waiting findings as slots free, oldest first; ends when none waits.
async fn drain_waiting(engine: &Arc<Engine>, state: &Arc<Mutex<State>>, config: &FindingsConfig) {
    loop {
        tokio::time::sleep(WAITING_POLL).await;
        let next = {
            let Ok(mut s) = state.lock() else {
                return;
            };
            match s.waiting.pop_front() {
                Some(next) => next,
                None => {
                    s.draining = false;
                    return;
                }
            }
        };
        let (cluster, finding) = next;
        let Some(cluster) = still_wanted(engine, &cluster, &finding) else {
            continue;
        };
        let key = (finding.id.clone(), finding.first_seen);
        match reserve(engine, state, config.triage_max_concurrent, key) {
            Ok(()) => start_reserved(engine, state, config, &cluster, &finding).await,
            Err(NotNow::Busy(_)) => {
                if let Ok(mut s) = state.lock() {
                    s.waiting.push_front((cluster, finding));
                }
            }
            Err(_) => {}
        }
    }
}

/// The cluster as stored now, when it still has auto-triage and the finding's lifecycle is
/// still open.
fn still_wanted(engine: &Engine, cluster: &Cluster, finding: &Finding) -> Option<Cluster> {
    let current = engine
        .store
        .cluster(&cluster.workspace_id, &cluster.id)
        .ok()
        .flatten()
        .filter(|c| c.auto_triage)?;
    let record = engine.store.findings_record(&cluster.id).ok().flatten()?;
    record
        .findings
        .iter()
        .any(|f| {
            f.id == finding.id
                && f.first_seen == finding.first_seen
                && f.state != acorn_proto::findings::FindingState::Resolved
        })
        .then_some(current)
}

/// Opens the session and starts the run; the run id.
async fn start(
    engine: &Engine,
    config: &FindingsConfig,
    cluster: &Cluster,
    finding: &Finding,
) -> Result<String, String> {
    let workspace = engine
        .store
        .workspace(&cluster.workspace_id)
        .map_err(|e| e.to_string())?
        .ok_or("the workspace is gone")?;
    let now = util::now_unix();
    let title: String = format!("Auto-triage: {}", finding.title)
        .chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .take(200)
        .collect();
    let session = SessionRecord {
        id: acorn_store::new_id("ses_").map_err(|e| e.to_string())?,
        workspace_id: cluster.workspace_id.clone(),
        cluster_id: cluster.id.clone(),
        title,
        created_by: AUTHOR.into(),
        created_at: now,
        updated_at: now,
        active_run: None,
        last_run: None,
        alert: None,
    };
    let session = engine
        .store
        .create_run_session(session)
        .await
        .map_err(|e| e.to_string())?;
    let run = start_run(
        engine,
        NewRun {
            workspace_id: &cluster.workspace_id,
            settings: &workspace.run_settings,
            session: &session,
            question: question(finding),
            mode: RunMode::ReadOnly,
            provider: None,
            model: None,
            limits: config.triage_limits,
            created_by: AUTHOR.into(),
        },
        |run_id| AuditDraft {
            workspace_id: Some(cluster.workspace_id.clone()),
            actor: Actor {
                kind: ActorKind::System,
                id: AUTHOR.into(),
                display: "auto-triage".into(),
            },
            action: "run.created".into(),
            target: Some(run_id.to_owned()),
            result: AuditResult::Success,
            source_ip: None,
            request_id: None,
            operation: Operation::Write,
            category: Category::Run,
            metadata: [("finding".to_owned(), finding.id.clone())].into(),
            at: now,
        },
    )
    .await
    .map_err(|e| format!("{}: {}", e.code.as_str(), e.message))?;
    Ok(run.id)
}

/// What the run is asked: the finding, its objects and first evidence lines.
pub fn question(finding: &Finding) -> String {
    let objects: Vec<String> = finding.objects.iter().map(|o| o.display()).collect();
    let mut q = format!(
        "Acorn's analyzers opened a critical finding ({}): {} (rule {}; objects: {}).\n",
        finding.id,
        finding.title,
        finding.rule,
        objects.join(", ")
    );
    if !finding.evidence.is_empty() {
        q.push_str("Evidence so far:\n");
        for e in finding.evidence.iter().take(QUESTION_EVIDENCE) {
            let text: String = e.text.chars().take(500).collect();
            q.push_str(&format!("- {}: {}\n", e.source, text));
        }
    }
    q.push_str(
        "Investigate with the read-only tools: confirm the evidence, find the root cause, and \
         say what fix you propose (do not attempt changes).",
    );
    q
}
