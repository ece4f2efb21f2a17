//! Evaluations started from the API (`/api/v1/workspaces/{ws}/evals`) and the console: the
//! same [`super::evaluate`] as `acorn eval`, run in the background by the appliance, its report
//! stored (store schema 7) so that a workspace's owners and admins see how a model did before
//! they make it the workspace's model.
//!
//! - Who: `providers.manage` (owners and admins) starts, reads and deletes evaluations.
//! - What: a provider as the workspace sees it (its own, else the deployment's), created in
//!   the lab's workspace through the lab's API with its key; the lab gets this appliance's
//!   `[engine]` and `[findings]` settings, nothing else.
//! - One evaluation runs at a time on an appliance (a lab is an appliance, a simulator and an
//!   agent per scenario: heavy on a small machine); another start gets `eval_busy`.
//! - A restart ends a running evaluation: at start its record is marked failed.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use acorn_proto::ErrorCode;
use acorn_proto::authz::Action;
use acorn_proto::evals::{EvalDetail, EvalState, EvalView, StartEval};
use acorn_store::{Category, EvalRecord, Operation, Store};

use super::lab::Binaries;
use super::report::ScenarioResult;
use super::{EvalOptions, LabSetup, Progress};
use crate::control::Control;
use crate::control::audit::{draft, with_meta};
use crate::control::auth::Caller;
use crate::control::authz::authorize;
use crate::control::error::ApiError;
use crate::gateway::Gateway;
use crate::util;

/// Default runtime limit of each scenario's run, and the most a caller may ask for.
const DEFAULT_RUNTIME_SECONDS: u64 = 300;
const MAX_RUNTIME_SECONDS: u64 = 1800;
const MIN_RUNTIME_SECONDS: u64 = 10;
const MAX_SCENARIOS_NAMED: usize = 100;
const MAX_MODEL_BYTES: usize = 200;
/// Scenarios at a time in an appliance's lab (the CLI's default too).
const PARALLEL: usize = 2;

/// The evaluations service.
pub struct Evals {
    store: Store,
    gateway: Arc<Gateway>,
    /// `[engine]` and `[findings]` of this appliance, for the lab.
    settings: toml::Table,
    running: Mutex<Option<Arc<Tracker>>>,
}

/// The evaluation that runs now, and how far it is.
struct Tracker {
    workspace_id: String,
    id: String,
    done: AtomicUsize,
    total: AtomicUsize,
}

impl Progress for Tracker {
    fn loaded(&self, scenarios: usize) {
        self.total.store(scenarios, Ordering::Relaxed);
    }
    fn graded(&self, _: &ScenarioResult) {
        self.done.fetch_add(1, Ordering::Relaxed);
    }
}

impl Evals {
    /// The service; marks evaluations that a restart interrupted as failed.
    pub async fn start(
        store: Store,
        gateway: Arc<Gateway>,
        config: &crate::config::Config,
    ) -> Result<Evals, String> {
        let mut settings = toml::Table::new();
        for (name, value) in [
            ("engine", toml::Value::try_from(&config.engine)),
            ("findings", toml::Value::try_from(&config.findings)),
        ] {
            settings.insert(
                name.into(),
                value.map_err(|e| format!("evals: the [{name}] settings: {e}"))?,
            );
        }
        let failed = store
            .fail_interrupted_evals(util::now_unix())
            .await
            .map_err(|e| format!("evals: {e}"))?;
        if failed > 0 {
            tracing::warn!(
                evaluations = failed,
                "model evaluations were running when the appliance stopped; marked failed"
            );
        }
        Ok(Evals {
            store,
            gateway,
            settings,
            running: Mutex::new(None),
        })
    }

    fn tracker(&self) -> Option<Arc<Tracker>> {
        self.running.lock().ok().and_then(|r| r.clone())
    }

    fn view(&self, r: &EvalRecord) -> EvalView {
        let live = self
            .tracker()
            .filter(|t| t.id == r.id && t.workspace_id == r.workspace_id);
        let (done, total) = match (&live, &r.report) {
            (Some(t), _) => (
                t.done.load(Ordering::Relaxed),
                t.total.load(Ordering::Relaxed),
            ),
            (None, Some(report)) => (report.scenarios.len(), report.scenarios.len()),
            (None, None) => (0, 0),
        };
        EvalView {
            id: r.id.clone(),
            workspace_id: r.workspace_id.clone(),
            provider: r.provider.clone(),
            model: r.model.clone(),
            state: r.state,
            scenarios: r.scenarios.clone(),
            max_runtime_seconds: r.max_runtime_seconds,
            requested_by: r.requested_by.clone(),
            created_at: util::rfc3339(r.created_at),
            finished_at: r.finished_at.map(util::rfc3339),
            done,
            total,
            error: r.error.clone(),
            summary: r.report.as_ref().map(|report| report.summary.clone()),
        }
    }

    fn find(&self, workspace_id: &str, id: &str) -> Result<EvalRecord, ApiError> {
        self.store
            .eval_record(workspace_id, id)?
            .ok_or_else(|| ApiError::not_found("evaluation"))
    }
}

fn invalid(message: impl Into<String>) -> ApiError {
    ApiError::new(ErrorCode::InvalidBody, message)
}

fn audit(caller: &Caller, workspace_id: &str, action: &str, id: &str) -> acorn_store::AuditDraft {
    draft(
        caller,
        Some(workspace_id),
        action,
        Some(id.to_owned()),
        Category::Mcp,
        Operation::Write,
    )
}

/// `POST …/evals`: checks the request, then runs the evaluation in the background.
pub async fn start(
    control: &Control,
    evals: &Arc<Evals>,
    caller: &Caller,
    workspace_id: &str,
    body: StartEval,
) -> Result<EvalView, ApiError> {
    authorize(control, caller, workspace_id, Action::ProvidersManage).await?;
    let runtime = check_body(&body)?;
    let provider = evals
        .gateway
        .resolve_provider(workspace_id, &body.provider)?;
    if !provider.spec.models.is_empty() && provider.model(&body.model).is_none() {
        return Err(ApiError::new(
            ErrorCode::ModelUnknown,
            format!(
                "provider {} lists no model {:?}; add it to the provider's models",
                body.provider, body.model
            ),
        ));
    }
    let bins = Binaries::find(None, None)
        .map_err(|e| ApiError::new(ErrorCode::EvalUnavailable, e.to_string()))?;
    check_scenarios(&bins, &body.scenarios).await?;

    let tracker = claim_the_lab(evals, workspace_id)?;
    let record = EvalRecord {
        id: tracker.id.clone(),
        workspace_id: workspace_id.to_owned(),
        provider: body.provider.clone(),
        model: body.model.clone(),
        state: EvalState::Running,
        scenarios: body.scenarios.clone(),
        max_runtime_seconds: runtime,
        requested_by: caller.user.id.clone(),
        created_at: util::now_unix(),
        finished_at: None,
        error: None,
        report: None,
    };
    let draft = with_meta(
        with_meta(
            audit(caller, workspace_id, "eval.start", &record.id),
            "provider",
            &body.provider,
        ),
        "model",
        &body.model,
    );
    let stored = match evals.store.put_eval(record, Some(draft)).await {
        Ok(stored) => stored,
        Err(e) => {
            release(evals);
            return Err(e.into());
        }
    };
    let options = EvalOptions {
        provider: body.provider,
        model: body.model,
        scenarios: None,
        only: body.scenarios,
        parallel: PARALLEL,
        max_runtime_seconds: runtime,
        lab: LabSetup::Appliance {
            settings: evals.settings.clone(),
            provider: provider.lab_copy(),
        },
        agent: Some(bins.agent),
        kubesim: Some(bins.kubesim),
    };
    tokio::spawn(run_in_background(
        Arc::clone(evals),
        stored.clone(),
        options,
        tracker,
    ));
    Ok(evals.view(&stored))
}

/// The body's bounds; returns the runtime limit.
fn check_body(body: &StartEval) -> Result<u64, ApiError> {
    let runtime = body.max_runtime_seconds.unwrap_or(DEFAULT_RUNTIME_SECONDS);
    if !(MIN_RUNTIME_SECONDS..=MAX_RUNTIME_SECONDS).contains(&runtime) {
        return Err(invalid(format!(
            "max_runtime_seconds must be {MIN_RUNTIME_SECONDS} to {MAX_RUNTIME_SECONDS}"
        )));
    }
    if body.model.trim().is_empty() || body.model.len() > MAX_MODEL_BYTES {
        return Err(invalid(format!(
            "model must be 1 to {MAX_MODEL_BYTES} bytes"
        )));
    }
    if body.scenarios.len() > MAX_SCENARIOS_NAMED {
        return Err(invalid(format!(
            "at most {MAX_SCENARIOS_NAMED} scenarios may be named"
        )));
    }
    Ok(runtime)
}

/// Takes the appliance's one evaluation slot for a new evaluation of `workspace_id`.
fn claim_the_lab(evals: &Evals, workspace_id: &str) -> Result<Arc<Tracker>, ApiError> {
    let mut running = evals
        .running
        .lock()
        .map_err(|_| ApiError::internal("evals lock"))?;
    if running.is_some() {
        return Err(ApiError::new(
            ErrorCode::EvalBusy,
            "another model evaluation is running on this appliance (one runs at a time); \
             start this one when it has finished",
        ));
    }
    let id = format!(
        "evl_{:012x}{}",
        util::now_ms(),
        hex::encode(crate::tls::pki::random_bytes::<4>())
    );
    let tracker = Arc::new(Tracker {
        workspace_id: workspace_id.to_owned(),
        id,
        done: AtomicUsize::new(0),
        total: AtomicUsize::new(0),
    });
    *running = Some(Arc::clone(&tracker));
    Ok(tracker)
}

/// Refuses names the library does not have, listing those it has.
async fn check_scenarios(bins: &Binaries, names: &[String]) -> Result<(), ApiError> {
    if names.is_empty() {
        return Ok(());
    }
    let work = tempfile::Builder::new()
        .prefix("acorn-eval-")
        .tempdir()
        .map_err(ApiError::internal)?;
    let dir = super::export_library(&bins.kubesim, &work.path().join("scenarios"))
        .await
        .map_err(|e| ApiError::new(ErrorCode::EvalUnavailable, format!("{e:#}")))?;
    let mut known: Vec<String> = std::fs::read_dir(&dir)
        .map_err(ApiError::internal)?
        .filter_map(|e| e.ok())
        .filter(|e| e.path().is_dir())
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect();
    known.sort();
    match names.iter().find(|n| !known.contains(n)) {
        None => Ok(()),
        Some(unknown) => Err(ApiError::new(
            ErrorCode::ScenarioUnknown,
            format!(
                "no scenario named {:?}; the library has {}",
                unknown.chars().take(100).collect::<String>(),
                known.join(", ")
            ),
        )),
    }
}

fn release(evals: &Evals) {
    if let Ok(mut running) = evals.running.lock() {
        *running = None;
    }
}

async fn run_in_background(
    evals: Arc<Evals>,
    mut record: EvalRecord,
    options: EvalOptions,
    tracker: Arc<Tracker>,
) {
    tracing::info!(eval = %record.id, workspace = %record.workspace_id, provider = %record.provider, model = %record.model, "model evaluation started");
    let outcome = super::evaluate(&options, Arc::clone(&tracker) as Arc<dyn Progress>).await;
    record.finished_at = Some(util::now_unix());
    match outcome {
        Ok(report) => {
            tracing::info!(eval = %record.id, passed = report.summary.passed, scenarios = report.summary.scenarios, "model evaluation completed");
            record.state = EvalState::Completed;
            record.report = Some(report);
        }
        Err(e) => {
            tracing::warn!(eval = %record.id, error = %format!("{e:#}"), "model evaluation failed");
            record.state = EvalState::Failed;
            record.error = Some(format!("{e:#}"));
        }
    }
    if let Err(e) = evals.store.put_eval(record, None).await {
        tracing::error!(error = %e, "storing a model evaluation failed");
    }
    release(&evals);
}

/// `GET …/evals`: newest first.
pub async fn list(
    control: &Control,
    evals: &Evals,
    caller: &Caller,
    workspace_id: &str,
) -> Result<Vec<EvalView>, ApiError> {
    authorize(control, caller, workspace_id, Action::ProvidersManage).await?;
    Ok(evals
        .store
        .eval_records(workspace_id)?
        .iter()
        .map(|r| evals.view(r))
        .collect())
}

/// `GET …/evals/{id}`: with the report once completed.
pub async fn get(
    control: &Control,
    evals: &Evals,
    caller: &Caller,
    workspace_id: &str,
    id: &str,
) -> Result<EvalDetail, ApiError> {
    authorize(control, caller, workspace_id, Action::ProvidersManage).await?;
    let record = evals.find(workspace_id, id)?;
    Ok(EvalDetail {
        eval: evals.view(&record),
        report: record.report,
    })
}

/// `GET …/evals/{id}/report.md`: the Markdown report of a completed evaluation.
pub async fn markdown(
    control: &Control,
    evals: &Evals,
    caller: &Caller,
    workspace_id: &str,
    id: &str,
) -> Result<String, ApiError> {
    authorize(control, caller, workspace_id, Action::ProvidersManage).await?;
    let record = evals.find(workspace_id, id)?;
    match &record.report {
        Some(report) => Ok(super::report::markdown(report)),
        None if record.state == EvalState::Running => Err(ApiError::new(
            ErrorCode::EvalRunning,
            "the evaluation is still running; its report comes when it has finished",
        )),
        None => Err(ApiError::new(
            ErrorCode::NotFound,
            format!(
                "the evaluation failed and has no report: {}",
                record.error.unwrap_or_default()
            ),
        )),
    }
}

/// `DELETE …/evals/{id}`: a finished evaluation.
pub async fn delete(
    control: &Control,
    evals: &Evals,
    caller: &Caller,
    workspace_id: &str,
    id: &str,
) -> Result<(), ApiError> {
    authorize(control, caller, workspace_id, Action::ProvidersManage).await?;
    let record = evals.find(workspace_id, id)?;
    if record.state == EvalState::Running {
        return Err(ApiError::new(
            ErrorCode::EvalRunning,
            "the evaluation is still running; delete it once it has finished",
        ));
    }
    evals
        .store
        .delete_eval(
            workspace_id,
            id,
            audit(caller, workspace_id, "eval.delete", id),
        )
        .await?;
    Ok(())
}
