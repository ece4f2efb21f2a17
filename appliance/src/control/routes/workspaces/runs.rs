//! `/api/v1/workspaces/{workspace_id}/sessions…`, `…/runs…` and `…/run-settings`: sessions and
//! their messages, runs, their events (JSON and server-sent events), cancellation, approvals
//! and evidence bundles.
//!
//! Runs are addressed inside their workspace, like every other object, so that authorization
//! runs before an id is looked up and ids cannot be probed across workspaces.

use std::collections::VecDeque;
use std::convert::Infallible;
use std::sync::Arc;
use std::time::Duration;

use acorn_proto::authz::Action;
use acorn_proto::identity::Page;
use acorn_proto::runs::{
    ApprovalView, CreateSession, DecideApproval, EvidenceBundle, PostMessage, RunEvent,
    RunSettings, RunSettingsView, RunState, RunView, SessionDetail, SessionView, UpdateSession,
};
use axum::Json;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, Method, StatusCode};
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::routing::{get, patch, post, put};
use futures_util::{Stream, StreamExt};
use tokio::sync::broadcast;

use crate::control::auth::Caller;
use crate::control::error::ApiError;
use crate::control::routes::AppState;
use crate::control::routes::extract::{ApiJson, ApiQuery, PageQuery, paginate};
use crate::control::routes::table::{Access, RouteSpec, route};
use crate::control::runs;
use crate::engine::Engine;

const SESSIONS: &str = "/api/v1/workspaces/{workspace_id}/sessions";
const SESSION: &str = "/api/v1/workspaces/{workspace_id}/sessions/{chat_session_id}";
const RUNS: &str = "/api/v1/workspaces/{workspace_id}/runs";
const RUN: &str = "/api/v1/workspaces/{workspace_id}/runs/{run_id}";
/// Events read from the store per page when replaying or filling a gap.
const REPLAY_PAGE: usize = 1000;

pub fn routes() -> Vec<RouteSpec> {
    use Action::*;
    vec![
        route(
            Method::GET,
            SESSIONS,
            Access::Workspace(SessionsRead),
            "Sessions of the workspace (`?cluster_id=`), most recent first",
            get(list_sessions),
        ),
        route(
            Method::POST,
            SESSIONS,
            Access::Workspace(SessionsCreate),
            "Open a session on a cluster",
            post(create_session),
        ),
        route(
            Method::GET,
            SESSION,
            Access::Workspace(SessionsRead),
            "A session with its conversation and runs",
            get(get_session),
        ),
        route(
            Method::PATCH,
            SESSION,
            Access::Workspace(SessionsCreate),
            "Rename a session (its creator, owners and admins)",
            patch(rename_session),
        ),
        route(
            Method::POST,
            "/api/v1/workspaces/{workspace_id}/sessions/{chat_session_id}/messages",
            Access::Workspace(RunsCreateReadOnly),
            "Post a message: starts a run (mode read_write needs runs.create_read_write)",
            post(post_message),
        ),
        route(
            Method::GET,
            RUNS,
            Access::Workspace(RunsRead),
            "Runs of the workspace (`?state=`), newest first",
            get(list_runs),
        ),
        route(
            Method::GET,
            RUN,
            Access::Workspace(RunsRead),
            "A run: state, limits, usage, answer",
            get(get_run),
        ),
        route(
            Method::GET,
            "/api/v1/workspaces/{workspace_id}/runs/{run_id}/events",
            Access::Workspace(RunsRead),
            "A run's events (`?after=SEQ&limit=`)",
            get(events),
        ),
        route(
            Method::GET,
            "/api/v1/workspaces/{workspace_id}/runs/{run_id}/stream",
            Access::Workspace(RunsRead),
            "A run's events as server-sent events (`Last-Event-ID` replay, live tail, closed at the end)",
            get(stream),
        ),
        route(
            Method::POST,
            "/api/v1/workspaces/{workspace_id}/runs/{run_id}/cancel",
            Access::Workspace(RunsCancel),
            "Cancel a run that has not ended",
            post(cancel),
        ),
        route(
            Method::GET,
            "/api/v1/workspaces/{workspace_id}/runs/{run_id}/approvals",
            Access::Workspace(RunsRead),
            "A run's approvals",
            get(approvals),
        ),
        route(
            Method::POST,
            "/api/v1/workspaces/{workspace_id}/runs/{run_id}/approvals/{approval_id}",
            Access::Workspace(ApprovalsDecide),
            "Approve or reject a write action (first decision wins)",
            post(decide),
        ),
        route(
            Method::GET,
            "/api/v1/workspaces/{workspace_id}/runs/{run_id}/evidence",
            Access::Workspace(RunsRead),
            "A finished run as a signed evidence bundle",
            get(evidence),
        ),
        route(
            Method::GET,
            "/api/v1/workspaces/{workspace_id}/run-settings",
            Access::Workspace(WorkspaceRead),
            "Default provider, model and limits of new runs",
            get(settings),
        ),
        route(
            Method::PUT,
            "/api/v1/workspaces/{workspace_id}/run-settings",
            Access::Workspace(WorkspaceUpdate),
            "Set the default provider, model and limits of new runs",
            put(set_settings),
        ),
    ]
}

fn engine(state: &AppState) -> &Arc<Engine> {
    &state.engine
}

#[derive(Debug, Default, serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct SessionsQuery {
    cluster_id: Option<String>,
    cursor: Option<String>,
    limit: Option<usize>,
}

async fn list_sessions(
    State(state): State<AppState>,
    caller: Caller,
    Path(ws): Path<String>,
    ApiQuery(q): ApiQuery<SessionsQuery>,
) -> Result<Json<Page<SessionView>>, ApiError> {
    let all = runs::list_sessions(engine(&state), &caller, &ws, q.cluster_id.as_deref()).await?;
    let page = PageQuery {
        cursor: q.cursor,
        limit: q.limit,
    };
    Ok(Json(paginate(all, |s| &s.id, &page)?))
}

async fn create_session(
    State(state): State<AppState>,
    caller: Caller,
    Path(ws): Path<String>,
    ApiJson(body): ApiJson<CreateSession>,
) -> Result<(StatusCode, Json<SessionView>), ApiError> {
    let created = runs::create_session(engine(&state), &caller, &ws, body).await?;
    Ok((StatusCode::CREATED, Json(created)))
}

async fn get_session(
    State(state): State<AppState>,
    caller: Caller,
    Path((ws, id)): Path<(String, String)>,
) -> Result<Json<SessionDetail>, ApiError> {
    Ok(Json(
        runs::get_session(engine(&state), &caller, &ws, &id).await?,
    ))
}

async fn rename_session(
    State(state): State<AppState>,
    caller: Caller,
    Path((ws, id)): Path<(String, String)>,
    ApiJson(body): ApiJson<UpdateSession>,
) -> Result<Json<SessionView>, ApiError> {
    Ok(Json(
        runs::rename_session(engine(&state), &caller, &ws, &id, body).await?,
    ))
}

async fn post_message(
    State(state): State<AppState>,
    caller: Caller,
    Path((ws, id)): Path<(String, String)>,
    ApiJson(body): ApiJson<PostMessage>,
) -> Result<(StatusCode, Json<RunView>), ApiError> {
    let run = runs::post_message(engine(&state), &caller, &ws, &id, body).await?;
    Ok((StatusCode::CREATED, Json(run)))
}

#[derive(Debug, Default, serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct RunsQuery {
    state: Option<RunState>,
    cursor: Option<String>,
    limit: Option<usize>,
}

async fn list_runs(
    State(state): State<AppState>,
    caller: Caller,
    Path(ws): Path<String>,
    ApiQuery(q): ApiQuery<RunsQuery>,
) -> Result<Json<Page<RunView>>, ApiError> {
    let all = runs::list_runs(engine(&state), &caller, &ws, q.state).await?;
    let page = PageQuery {
        cursor: q.cursor,
        limit: q.limit,
    };
    Ok(Json(paginate(all, |r| &r.id, &page)?))
}

async fn get_run(
    State(state): State<AppState>,
    caller: Caller,
    Path((ws, id)): Path<(String, String)>,
) -> Result<Json<RunView>, ApiError> {
    Ok(Json(
        runs::get_run(engine(&state), &caller, &ws, &id).await?,
    ))
}

#[derive(Debug, Default, serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct EventsQuery {
    after: Option<u64>,
    limit: Option<usize>,
}

async fn events(
    State(state): State<AppState>,
    caller: Caller,
    Path((ws, id)): Path<(String, String)>,
    ApiQuery(q): ApiQuery<EventsQuery>,
) -> Result<Json<Vec<RunEvent>>, ApiError> {
    let limit = q.limit.unwrap_or(REPLAY_PAGE).clamp(1, REPLAY_PAGE);
    Ok(Json(
        runs::run_events(engine(&state), &caller, &ws, &id, q.after, limit).await?,
    ))
}

#[derive(Debug, Default, serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct StreamQuery {
    /// Like `Last-Event-ID` (for clients that cannot set headers).
    after: Option<u64>,
}

async fn stream(
    State(state): State<AppState>,
    caller: Caller,
    Path((ws, id)): Path<(String, String)>,
    headers: HeaderMap,
    ApiQuery(q): ApiQuery<StreamQuery>,
) -> Result<Sse<impl Stream<Item = Result<Event, Infallible>>>, ApiError> {
    let engine = Arc::clone(engine(&state));
    let (_, run) = runs::find_run(&engine, &caller, &ws, &id, Action::RunsRead).await?;
    let last = match headers.get("last-event-id") {
        Some(v) => Some(
            v.to_str()
                .ok()
                .and_then(|s| s.trim().parse::<u64>().ok())
                .ok_or_else(|| {
                    ApiError::new(
                        acorn_proto::ErrorCode::InvalidParameter,
                        "Last-Event-ID must be the sequence number of an event of this run",
                    )
                })?,
        ),
        None => q.after,
    };
    let events = follow(engine, &run, last).map(|e| Ok(to_sse(&e)));
    Ok(Sse::new(events).keep_alive(KeepAlive::new().interval(Duration::from_secs(15))))
}

/// A run's events after `after` (all when `None`): replayed from the store, then live, in
/// order, ending after the run's last event. The SSE route and the console both follow runs
/// with it. The caller has checked that the run may be read.
pub fn follow(
    engine: Arc<Engine>,
    run: &acorn_store::RunRecord,
    after: Option<u64>,
) -> impl Stream<Item = RunEvent> + Send + use<> {
    // Subscribe before reading the store, so nothing falls between the two; a finished run
    // has no live channel (and must not get one).
    let finished = run.state.is_terminal();
    let rx = if finished {
        broadcast::channel(1).1
    } else {
        engine.subscribe(&run.id)
    };
    let tail = Tail {
        engine,
        run_id: run.id.clone(),
        next: after.map_or(0, |n| n.saturating_add(1)),
        buffer: VecDeque::new(),
        rx,
        ended: false,
        live_closed: finished,
    };
    futures_util::stream::unfold(tail, |mut tail| async move {
        tail.next_event().await.map(|e| (e, tail))
    })
}

/// One SSE subscriber: replays from the store, then follows the live channel; fills gaps and
/// lags from the store; ends after the run's last event.
struct Tail {
    engine: Arc<Engine>,
    run_id: String,
    /// The sequence number the client needs next.
    next: u64,
    buffer: VecDeque<RunEvent>,
    rx: broadcast::Receiver<RunEvent>,
    ended: bool,
    live_closed: bool,
}

impl Tail {
    fn refill(&mut self) {
        let after = self.next.checked_sub(1);
        match self
            .engine
            .store
            .run_events(&self.run_id, after, REPLAY_PAGE)
        {
            Ok(events) => self.buffer.extend(events),
            Err(e) => {
                tracing::warn!(error = %e, run = %self.run_id, "reading run events for a stream failed");
                self.ended = true;
            }
        }
    }

    async fn next_event(&mut self) -> Option<RunEvent> {
        if self.buffer.is_empty() && !self.ended {
            self.refill();
        }
        loop {
            while let Some(e) = self.buffer.pop_front() {
                if e.seq < self.next {
                    continue;
                }
                if e.seq > self.next {
                    // A gap (events published out of order by two writers): read it.
                    self.buffer.clear();
                    self.refill();
                    continue;
                }
                self.next = e.seq + 1;
                if e.kind.ends_run() {
                    self.ended = true;
                }
                return Some(e);
            }
            if self.ended || self.live_closed {
                // The store may hold events published after the channel closed.
                if !self.ended {
                    self.refill();
                    if self.buffer.is_empty() {
                        return None;
                    }
                    continue;
                }
                return None;
            }
            match self.rx.recv().await {
                Ok(e) => self.buffer.push_back(e),
                Err(broadcast::error::RecvError::Lagged(_)) => self.refill(),
                Err(broadcast::error::RecvError::Closed) => self.live_closed = true,
            }
        }
    }
}

fn to_sse(e: &RunEvent) -> Event {
    Event::default()
        .id(e.seq.to_string())
        .event(e.kind.as_str())
        .data(serde_json::to_string(e).unwrap_or_default())
}

async fn cancel(
    State(state): State<AppState>,
    caller: Caller,
    Path((ws, id)): Path<(String, String)>,
) -> Result<Json<RunView>, ApiError> {
    Ok(Json(
        runs::cancel_run(engine(&state), &caller, &ws, &id).await?,
    ))
}

async fn approvals(
    State(state): State<AppState>,
    caller: Caller,
    Path((ws, id)): Path<(String, String)>,
) -> Result<Json<Vec<ApprovalView>>, ApiError> {
    Ok(Json(
        runs::list_approvals(engine(&state), &caller, &ws, &id).await?,
    ))
}

async fn decide(
    State(state): State<AppState>,
    caller: Caller,
    Path((ws, id, approval)): Path<(String, String, String)>,
    ApiJson(body): ApiJson<DecideApproval>,
) -> Result<Json<ApprovalView>, ApiError> {
    Ok(Json(
        runs::decide(engine(&state), &caller, &ws, &id, &approval, body).await?,
    ))
}

async fn evidence(
    State(state): State<AppState>,
    caller: Caller,
    Path((ws, id)): Path<(String, String)>,
) -> Result<Json<EvidenceBundle>, ApiError> {
    Ok(Json(
        runs::evidence(engine(&state), &state.evidence, &caller, &ws, &id).await?,
    ))
}

async fn settings(
    State(state): State<AppState>,
    caller: Caller,
    Path(ws): Path<String>,
) -> Result<Json<RunSettingsView>, ApiError> {
    Ok(Json(
        runs::run_settings(engine(&state), &caller, &ws).await?,
    ))
}

async fn set_settings(
    State(state): State<AppState>,
    caller: Caller,
    Path(ws): Path<String>,
    ApiJson(body): ApiJson<RunSettings>,
) -> Result<Json<RunSettingsView>, ApiError> {
    Ok(Json(
        runs::set_run_settings(engine(&state), &caller, &ws, body).await?,
    ))
}
