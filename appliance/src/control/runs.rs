//! Sessions, runs, approvals and evidence: the services of the runs API.
//!
//! Authorization: every function starts with [`authorize`] on the workspace in the path, and
//! then looks the session, run or approval up *inside* that workspace, so an id from another
//! workspace is "not found" exactly like one that does not exist. Sessions are "owner-write,
//! viewer-read": anyone with `sessions.read` reads them; their creator and the workspace's
//! owners and admins write (post messages, rename).
//!
//! A run is acknowledged only after the store committed it with its `run.created` event; it is
//! then handed to the engine's queue.

use acorn_proto::ErrorCode;
use acorn_proto::agent::RunMode;
use acorn_proto::authz::{Action, Role};
use acorn_proto::runs::{
    ApprovalState, ApprovalView, ConversationMessage, CreateSession, DecideApproval, Decision,
    EvidenceBundle, PostMessage, RunEvent, RunEventKind, RunLimits, RunLimitsInput, RunSettings,
    RunSettingsView, RunState, RunSummary, RunView, SessionDetail, SessionView, UpdateSession,
};
use acorn_store::{Category, NewEvent, Operation, RunRecord, SessionRecord};
use serde_json::json;

use super::audit::{draft, with_meta};
use super::auth::Caller;
use super::authz::{Access, authorize};
use super::error::ApiError;
use crate::engine::Engine;
use crate::engine::config::resolve_limits;
use crate::engine::evidence;
use crate::util;

const MAX_QUESTION_CHARS: usize = 32_768;
const MAX_TITLE_CHARS: usize = 200;

fn invalid(message: impl Into<String>) -> ApiError {
    ApiError::new(ErrorCode::InvalidParameter, message)
}

/// Creator, owners and admins write a session.
fn may_write(access: &Access, caller: &Caller, session: &SessionRecord) -> bool {
    session.created_by == caller.user.id || matches!(access.role, Role::Owner | Role::Admin)
}

fn session_permissions(access: &Access, caller: &Caller, session: &SessionRecord) -> Vec<String> {
    let mut out: Vec<String> = [
        Action::SessionsRead,
        Action::RunsCreateReadOnly,
        Action::RunsCreateReadWrite,
    ]
    .iter()
    .filter(|a| access.role.allows(**a))
    .map(|a| a.as_str().to_owned())
    .collect();
    if may_write(access, caller, session) {
        out.push("sessions.write".into());
    }
    out
}

fn summary(run: &RunRecord) -> RunSummary {
    RunSummary {
        id: run.id.clone(),
        session_id: run.session_id.clone(),
        state: run.state,
        mode: run.mode,
        question: run.question.clone(),
        created_at: run.created_at,
        ended_at: run.ended_at,
    }
}

fn session_view(
    engine: &Engine,
    access: &Access,
    caller: &Caller,
    s: &SessionRecord,
) -> Result<SessionView, ApiError> {
    let last_run = match &s.last_run {
        Some(id) => engine.store.run_record(id)?.map(|r| summary(&r)),
        None => None,
    };
    Ok(SessionView {
        id: s.id.clone(),
        workspace_id: s.workspace_id.clone(),
        cluster_id: s.cluster_id.clone(),
        title: s.title.clone(),
        created_by: s.created_by.clone(),
        created_at: s.created_at,
        updated_at: s.updated_at,
        last_run,
        permissions: session_permissions(access, caller, s),
        alert: s.alert.clone(),
    })
}

/// The view of a run for a member with `role`.
pub fn run_view(run: &RunRecord, role: Role) -> RunView {
    let permissions = [
        Action::RunsRead,
        Action::RunsCancel,
        Action::ApprovalsDecide,
    ]
    .into_iter()
    .filter(|a| role.allows(*a))
    .collect();
    RunView {
        id: run.id.clone(),
        workspace_id: run.workspace_id.clone(),
        cluster_id: run.cluster_id.clone(),
        session_id: run.session_id.clone(),
        state: run.state,
        mode: run.mode,
        provider: run.provider.clone(),
        model: run.model.clone(),
        question: run.question.clone(),
        limits: run.limits,
        usage: run.usage,
        created_by: run.created_by.clone(),
        created_at: run.created_at,
        started_at: run.started_at,
        ended_at: run.ended_at,
        answer: run.answer.clone(),
        evidence: run.evidence.clone(),
        error: run.error.clone(),
        pending_approval: run.pending_approval.clone(),
        events: run.next_seq,
        permissions,
    }
}

async fn find_session(
    engine: &Engine,
    caller: &Caller,
    workspace_id: &str,
    session_id: &str,
    action: Action,
) -> Result<(Access, SessionRecord), ApiError> {
    let access = authorize(&engine.control, caller, workspace_id, action).await?;
    let session = engine
        .store
        .session_record(workspace_id, session_id)?
        .ok_or_else(|| ApiError::not_found("session"))?;
    Ok((access, session))
}

/// A run of the workspace the caller may take `action` in.
pub async fn find_run(
    engine: &Engine,
    caller: &Caller,
    workspace_id: &str,
    run_id: &str,
    action: Action,
) -> Result<(Access, RunRecord), ApiError> {
    let access = authorize(&engine.control, caller, workspace_id, action).await?;
    let run = engine
        .store
        .run_record(run_id)?
        .filter(|r| r.workspace_id == workspace_id)
        .ok_or_else(|| ApiError::not_found("run"))?;
    Ok((access, run))
}

// ---- sessions ------------------------------------------------------------------------------

pub async fn create_session(
    engine: &Engine,
    caller: &Caller,
    workspace_id: &str,
    body: CreateSession,
) -> Result<SessionView, ApiError> {
    let access = authorize(
        &engine.control,
        caller,
        workspace_id,
        Action::SessionsCreate,
    )
    .await?;
    let title = body.title.unwrap_or_else(|| "New session".into());
    check_title(&title)?;
    let now = util::now_unix();
    let record = SessionRecord {
        id: acorn_store::new_id("ses_")?,
        workspace_id: workspace_id.to_owned(),
        cluster_id: body.cluster_id,
        title,
        created_by: caller.user.id.clone(),
        created_at: now,
        updated_at: now,
        active_run: None,
        last_run: None,
        alert: None,
    };
    let stored = engine.store.create_run_session(record).await?;
    session_view(engine, &access, caller, &stored)
}

fn check_title(title: &str) -> Result<(), ApiError> {
    let n = title.chars().count();
    if n == 0 || n > MAX_TITLE_CHARS || title.chars().any(char::is_control) {
        return Err(invalid(format!(
            "`title` must be 1 to {MAX_TITLE_CHARS} characters without control characters"
        )));
    }
    Ok(())
}

pub async fn list_sessions(
    engine: &Engine,
    caller: &Caller,
    workspace_id: &str,
    cluster_id: Option<&str>,
) -> Result<Vec<SessionView>, ApiError> {
    let access = authorize(&engine.control, caller, workspace_id, Action::SessionsRead).await?;
    engine
        .store
        .session_records(workspace_id, cluster_id)?
        .iter()
        .map(|s| session_view(engine, &access, caller, s))
        .collect()
}

pub async fn get_session(
    engine: &Engine,
    caller: &Caller,
    workspace_id: &str,
    session_id: &str,
) -> Result<SessionDetail, ApiError> {
    let (access, session) = find_session(
        engine,
        caller,
        workspace_id,
        session_id,
        Action::SessionsRead,
    )
    .await?;
    let runs = engine.store.runs_of_session(&session.id)?;
    let mut messages = Vec::new();
    for run in &runs {
        messages.push(ConversationMessage {
            role: "user".into(),
            content: run.question.clone(),
            run_id: run.id.clone(),
            at: run.created_at,
            evidence: Vec::new(),
        });
        if let Some(answer) = &run.answer {
            messages.push(ConversationMessage {
                role: "assistant".into(),
                content: answer.clone(),
                run_id: run.id.clone(),
                at: run.ended_at.unwrap_or(run.created_at),
                evidence: run.evidence.clone(),
            });
        }
    }
    Ok(SessionDetail {
        session: session_view(engine, &access, caller, &session)?,
        messages,
        runs: runs.iter().map(summary).collect(),
    })
}

pub async fn rename_session(
    engine: &Engine,
    caller: &Caller,
    workspace_id: &str,
    session_id: &str,
    body: UpdateSession,
) -> Result<SessionView, ApiError> {
    let (access, _) = find_writable_session(
        engine,
        caller,
        workspace_id,
        session_id,
        Action::SessionsRead,
    )
    .await?;
    check_title(&body.title)?;
    let renamed = engine
        .store
        .rename_run_session(workspace_id, session_id, body.title, util::now_unix())
        .await?;
    session_view(engine, &access, caller, &renamed)
}

/// A session the caller may write in (its creator, or an owner or admin of the workspace).
async fn find_writable_session(
    engine: &Engine,
    caller: &Caller,
    workspace_id: &str,
    session_id: &str,
    action: Action,
) -> Result<(Access, SessionRecord), ApiError> {
    let (access, session) = find_session(engine, caller, workspace_id, session_id, action).await?;
    if !may_write(&access, caller, &session) {
        return Err(not_writer());
    }
    Ok((access, session))
}

fn not_writer() -> ApiError {
    ApiError::new(
        ErrorCode::Forbidden,
        "only the session's creator and the workspace's owners and admins write in a session",
    )
}

// ---- runs ----------------------------------------------------------------------------------

/// Posts a user message: checks everything a run needs, commits the run, queues it.
pub async fn post_message(
    engine: &Engine,
    caller: &Caller,
    workspace_id: &str,
    session_id: &str,
    body: PostMessage,
) -> Result<RunView, ApiError> {
    let (access, session) = find_writable_session(
        engine,
        caller,
        workspace_id,
        session_id,
        Action::RunsCreateReadOnly,
    )
    .await?;
    let question = body.content.trim().to_owned();
    if question.is_empty() || question.chars().count() > MAX_QUESTION_CHARS {
        return Err(invalid(format!(
            "`content` must be 1 to {MAX_QUESTION_CHARS} characters"
        )));
    }
    let mode = body.mode.unwrap_or(RunMode::ReadOnly);
    if mode == RunMode::ReadWrite && !access.role.allows(Action::RunsCreateReadWrite) {
        return Err(ApiError::new(
            ErrorCode::RunReadWriteNotAllowed,
            format!(
                "your role ({}) may start read-only runs only",
                access.role.as_str()
            ),
        ));
    }
    let run = start_run(
        engine,
        NewRun {
            workspace_id,
            settings: &access.workspace.run_settings,
            session: &session,
            question,
            mode,
            provider: body.provider,
            model: body.model,
            limits: body.limits,
            created_by: caller.user.id.clone(),
        },
        |run_id| {
            draft(
                caller,
                Some(workspace_id),
                "run.created",
                Some(run_id.to_owned()),
                Category::Run,
                Operation::Write,
            )
        },
    )
    .await?;
    Ok(run_view(&run, access.role))
}

/// A run to start in a session whose author was already authorized (a user's message, or the
/// appliance itself for auto-triage).
pub struct NewRun<'a> {
    pub workspace_id: &'a str,
    /// The workspace's run settings (default provider, model and limits).
    pub settings: &'a RunSettings,
    pub session: &'a SessionRecord,
    /// Checked by the caller (non-empty, bounded).
    pub question: String,
    pub mode: RunMode,
    /// The request's provider and model; `None` takes the workspace's, then the deployment's.
    pub provider: Option<String>,
    pub model: Option<String>,
    /// Limits over the workspace's, within `engine.max_limits`.
    pub limits: RunLimitsInput,
    /// User id of the author, or `system:…` for the appliance's own runs.
    pub created_by: String,
}

/// Checks everything a run needs (the cluster allows the mode, its agent is connected, a
/// model, limits within bounds, room in the queue), commits the run with its audit record
/// (`audit` builds the draft for the run id), and queues it. The one way a run starts.
pub async fn start_run(
    engine: &Engine,
    new: NewRun<'_>,
    audit: impl FnOnce(&str) -> acorn_store::AuditDraft,
) -> Result<RunRecord, ApiError> {
    let NewRun {
        workspace_id,
        settings,
        session,
        question,
        mode,
        provider,
        model,
        limits,
        created_by,
    } = new;
    let cluster = engine
        .store
        .cluster(workspace_id, &session.cluster_id)?
        .ok_or_else(|| ApiError::not_found("cluster"))?;
    if mode == RunMode::ReadWrite && !cluster.write_allowed {
        return Err(ApiError::new(
            ErrorCode::RunReadWriteNotAllowed,
            "this cluster's registration does not allow write actions (write_allowed is false)",
        ));
    }
    if engine.control.hub.live(&cluster.id).is_none() {
        return Err(ApiError::new(
            ErrorCode::AgentDisconnected,
            format!(
                "the agent of cluster {} is not connected; a run needs it. Check the acorn-agent pod and its logs",
                cluster.name
            ),
        ));
    }
    let (provider, model) = choose_model(engine, workspace_id, settings, provider, model).await?;
    let base = resolve_limits(
        &engine.config.default_limits,
        &settings.limits,
        &engine.config.max_limits,
    )
    .unwrap_or(engine.config.default_limits);
    let limits = resolve_limits(&base, &limits, &engine.config.max_limits).map_err(
        |(name, value, bound)| {
            ApiError::new(
                ErrorCode::RunLimitOutOfBounds,
                format!(
                    "{name} is {value}; it must be above 0 and at most {bound} (engine.max_limits)"
                ),
            )
        },
    )?;
    if engine.queued() >= engine.config.queue_limit {
        return Err(ApiError::new(
            ErrorCode::EngineBusy,
            "the engine's queue is full (engine.queue_limit); retry in a minute",
        ));
    }
    let now_ms = util::now_ms();
    let run = RunRecord {
        id: acorn_store::new_run_id(now_ms)?,
        workspace_id: workspace_id.to_owned(),
        cluster_id: cluster.id.clone(),
        session_id: session.id.clone(),
        state: RunState::Queued,
        mode,
        provider: provider.clone(),
        model: model.clone(),
        question: question.clone(),
        limits,
        usage: Default::default(),
        created_by: created_by.clone(),
        created_at: now_ms / 1000,
        started_at: None,
        ended_at: None,
        answer: None,
        evidence: Vec::new(),
        error: None,
        pending_approval: None,
        next_seq: 0,
    };
    let created = NewEvent {
        kind: RunEventKind::RunCreated,
        at_ms: now_ms,
        data: json!({
            "question": question, "mode": mode, "provider": provider, "model": model,
            "limits": limits, "created_by": created_by,
        }),
    };
    let (run, event) = engine.store.create_run(run, created).await?;
    engine.publish(std::slice::from_ref(&event));
    let audit = with_meta(
        with_meta(audit(&run.id), "run", &run.id),
        "mode",
        mode_name(mode),
    );
    engine.store.append_audit(audit).await?;
    engine.submit(workspace_id, &run.id)?;
    Ok(run)
}

fn mode_name(mode: RunMode) -> &'static str {
    match mode {
        RunMode::ReadOnly => "read_only",
        RunMode::ReadWrite => "read_write",
    }
}

/// Provider and model: the request's, else the workspace's, else the deployment's; the
/// provider must exist and, when it can list its models, offer this one.
async fn choose_model(
    engine: &Engine,
    workspace_id: &str,
    settings: &RunSettings,
    provider: Option<String>,
    model: Option<String>,
) -> Result<(String, String), ApiError> {
    let provider = provider
        .or_else(|| settings.provider.clone())
        .or_else(|| engine.config.default_provider.clone());
    let model = model
        .or_else(|| settings.model.clone())
        .or_else(|| engine.config.default_model.clone());
    let (Some(provider), Some(model)) = (provider, model) else {
        return Err(ApiError::new(
            ErrorCode::RunModelRequired,
            "name `provider` and `model`, or set the workspace's run settings (PUT …/run-settings)",
        ));
    };
    let resolved = engine.gateway.resolve_provider(workspace_id, &provider)?;
    if resolved.model(&model).is_none() {
        let (models, listing_error) = resolved.catalog().await;
        if listing_error.is_none() && !models.iter().any(|m| m.id == model) {
            let known: Vec<&str> = models.iter().map(|m| m.id.as_str()).collect();
            return Err(ApiError::new(
                ErrorCode::ModelUnknown,
                format!(
                    "provider {provider} does not offer the model {model:?}; it offers: {}",
                    if known.is_empty() {
                        "(none listed)".to_owned()
                    } else {
                        known.join(", ")
                    }
                ),
            ));
        }
    }
    Ok((provider, model))
}

pub async fn get_run(
    engine: &Engine,
    caller: &Caller,
    workspace_id: &str,
    run_id: &str,
) -> Result<RunView, ApiError> {
    let (access, run) = find_run(engine, caller, workspace_id, run_id, Action::RunsRead).await?;
    Ok(run_view(&run, access.role))
}

pub async fn list_runs(
    engine: &Engine,
    caller: &Caller,
    workspace_id: &str,
    state: Option<RunState>,
) -> Result<Vec<RunView>, ApiError> {
    let access = authorize(&engine.control, caller, workspace_id, Action::RunsRead).await?;
    let states = state.map(|s| vec![s]);
    let ids = engine
        .store
        .run_ids_of_workspace(workspace_id, states.as_deref())?;
    let mut out = Vec::new();
    for id in ids.iter().rev() {
        if let Some(run) = engine.store.run_record(id)? {
            out.push(run_view(&run, access.role));
        }
    }
    Ok(out)
}

pub async fn run_events(
    engine: &Engine,
    caller: &Caller,
    workspace_id: &str,
    run_id: &str,
    after: Option<u64>,
    limit: usize,
) -> Result<Vec<RunEvent>, ApiError> {
    let (_, run) = find_run(engine, caller, workspace_id, run_id, Action::RunsRead).await?;
    Ok(engine.store.run_events(&run.id, after, limit)?)
}

pub async fn cancel_run(
    engine: &Engine,
    caller: &Caller,
    workspace_id: &str,
    run_id: &str,
) -> Result<RunView, ApiError> {
    let (access, run) = find_run(engine, caller, workspace_id, run_id, Action::RunsCancel).await?;
    if run.state.is_terminal() {
        return Err(finished(run.state));
    }
    let cancelled = engine.cancel(&run.id, &caller.user.id).await?;
    let audit = draft(
        caller,
        Some(workspace_id),
        "run.cancelled",
        Some(run.id.clone()),
        Category::Run,
        Operation::Write,
    );
    engine
        .store
        .append_audit(with_meta(audit, "run", &run.id))
        .await?;
    Ok(run_view(&cancelled, access.role))
}

fn finished(state: RunState) -> ApiError {
    ApiError::new(
        ErrorCode::RunFinished,
        format!(
            "the run is {}; it can no longer be cancelled",
            state.as_str()
        ),
    )
}

// ---- approvals -----------------------------------------------------------------------------

pub async fn list_approvals(
    engine: &Engine,
    caller: &Caller,
    workspace_id: &str,
    run_id: &str,
) -> Result<Vec<ApprovalView>, ApiError> {
    let (_, run) = find_run(engine, caller, workspace_id, run_id, Action::RunsRead).await?;
    Ok(engine.store.approvals_of_run(&run.id)?)
}

/// Approves or rejects a pending write action: the first decision wins; audited with the
/// decision in the same transaction.
pub async fn decide(
    engine: &Engine,
    caller: &Caller,
    workspace_id: &str,
    run_id: &str,
    approval_id: &str,
    body: DecideApproval,
) -> Result<ApprovalView, ApiError> {
    let (_, run) = find_run(
        engine,
        caller,
        workspace_id,
        run_id,
        Action::ApprovalsDecide,
    )
    .await?;
    if engine.store.approval(&run.id, approval_id)?.is_none() {
        return Err(ApiError::not_found("approval"));
    }
    if let Some(c) = &body.comment
        && c.chars().count() > 2000
    {
        return Err(invalid("`comment` is at most 2000 characters"));
    }
    let (state, verb) = match body.decision {
        Decision::Approve => (ApprovalState::Approved, "approved"),
        Decision::Reject => (ApprovalState::Rejected, "rejected"),
    };
    let now = util::now_unix();
    let mut audit = draft(
        caller,
        Some(workspace_id),
        &format!("approval.{verb}"),
        Some(approval_id.to_owned()),
        Category::Approval,
        Operation::Write,
    );
    audit = with_meta(audit, "run", &run.id);
    let event = NewEvent {
        kind: RunEventKind::ApprovalDecided,
        at_ms: util::now_ms(),
        data: json!({
            "approval_id": approval_id, "decision": verb, "decided_by": caller.user.id,
            "comment": body.comment,
        }),
    };
    let (approval, _, events) = engine
        .store
        .decide_approval(
            &run.id,
            approval_id,
            state,
            Some(caller.user.id.clone()),
            body.comment.clone(),
            now,
            event,
            Some(audit),
        )
        .await?;
    engine.publish(&events);
    engine.approval_decided(&run.id);
    Ok(approval)
}

// ---- evidence ------------------------------------------------------------------------------

pub async fn evidence(
    engine: &Engine,
    signer: &evidence::EvidenceSigner,
    caller: &Caller,
    workspace_id: &str,
    run_id: &str,
) -> Result<EvidenceBundle, ApiError> {
    let (_, run) = find_run(engine, caller, workspace_id, run_id, Action::RunsRead).await?;
    if !run.state.is_terminal() {
        return Err(ApiError::new(
            ErrorCode::RunNotFinished,
            format!(
                "the run is {}; export it once it has ended",
                run.state.as_str()
            ),
        ));
    }
    let audit = draft(
        caller,
        Some(workspace_id),
        "run.evidence_exported",
        Some(run.id.clone()),
        Category::Run,
        Operation::Read,
    );
    engine
        .store
        .append_audit(with_meta(audit, "run", &run.id))
        .await?;
    let content = evidence::build(&engine.store, &run, &caller.user.id)?;
    signer.sign(content).map_err(ApiError::internal)
}

// ---- run settings --------------------------------------------------------------------------

pub async fn run_settings(
    engine: &Engine,
    caller: &Caller,
    workspace_id: &str,
) -> Result<RunSettingsView, ApiError> {
    let access = authorize(&engine.control, caller, workspace_id, Action::WorkspaceRead).await?;
    Ok(settings_view(engine, access.workspace.run_settings))
}

fn settings_view(engine: &Engine, settings: RunSettings) -> RunSettingsView {
    let effective: RunLimits = resolve_limits(
        &engine.config.default_limits,
        &settings.limits,
        &engine.config.max_limits,
    )
    .unwrap_or(engine.config.default_limits);
    RunSettingsView {
        settings,
        effective_limits: effective,
        max_limits: engine.config.max_limits,
    }
}

pub async fn set_run_settings(
    engine: &Engine,
    caller: &Caller,
    workspace_id: &str,
    body: RunSettings,
) -> Result<RunSettingsView, ApiError> {
    authorize(
        &engine.control,
        caller,
        workspace_id,
        Action::WorkspaceUpdate,
    )
    .await?;
    resolve_limits(
        &engine.config.default_limits,
        &body.limits,
        &engine.config.max_limits,
    )
    .map_err(|(name, value, bound)| {
        ApiError::new(
            ErrorCode::RunLimitOutOfBounds,
            format!(
                "{name} is {value}; it must be above 0 and at most {bound} (engine.max_limits)"
            ),
        )
    })?;
    if let Some(p) = &body.provider {
        engine.gateway.resolve_provider(workspace_id, p)?;
    }
    let audit = draft(
        caller,
        Some(workspace_id),
        "workspace.run_settings_set",
        None,
        Category::Workspace,
        Operation::Write,
    );
    let ws = engine
        .store
        .set_run_settings(workspace_id, body, audit)
        .await?;
    Ok(settings_view(engine, ws.run_settings))
}
