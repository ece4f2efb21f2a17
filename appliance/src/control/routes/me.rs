//! `/api/v1/me`: who I am, my workspaces, my sessions.

use axum::Json;
use axum::extract::{Path, State};
use axum::http::{Method, StatusCode};
use axum::routing::{delete, get};

use acorn_proto::identity::{Me, SessionView};
use acorn_store::{Category, Operation};

use super::AppState;
use super::table::{Access, RouteSpec, route};
use crate::control::audit::draft;
use crate::control::auth::{Caller, Principal};
use crate::control::error::ApiError;
use crate::control::workspaces;
use crate::util;

pub fn routes() -> Vec<RouteSpec> {
    vec![
        route(
            Method::GET,
            "/api/v1/me",
            Access::SignedIn,
            "The signed-in user, CSRF token and workspaces",
            get(me),
        ),
        route(
            Method::GET,
            "/api/v1/me/sessions",
            Access::SignedIn,
            "My sessions",
            get(sessions),
        ),
        route(
            Method::DELETE,
            "/api/v1/me/sessions/{session_id}",
            Access::SignedIn,
            "Revoke one of my sessions",
            delete(revoke),
        ),
    ]
}

async fn me(State(state): State<AppState>, caller: Caller) -> Result<Json<Me>, ApiError> {
    Ok(Json(Me {
        user: workspaces::user_view(&caller.user),
        csrf_token: caller.csrf_token(),
        workspaces: workspaces::list(&state.control, &caller)?,
    }))
}

/// Sessions are a person's; an API token (which acts for one workspace) may not see or end them.
fn session_caller(caller: &Caller) -> Result<[u8; 32], ApiError> {
    match &caller.principal {
        Principal::Session { id_hash, .. } => Ok(*id_hash),
        Principal::Token(_) => Err(ApiError::new(
            acorn_proto::ErrorCode::Forbidden,
            "API tokens cannot list or revoke sessions; sign in as a person",
        )),
    }
}

async fn sessions(
    State(state): State<AppState>,
    caller: Caller,
) -> Result<Json<Vec<SessionView>>, ApiError> {
    let current = Some(session_caller(&caller)?);
    let views = state
        .control
        .store
        .sessions_of_user(&caller.user.id)?
        .into_iter()
        .map(|(hash, s)| SessionView {
            id: hex::encode(hash),
            created_at: util::rfc3339(s.created_at),
            last_seen_at: util::rfc3339(s.last_seen_at),
            expires_at: util::rfc3339(s.expires_at),
            source_ip: s.source_ip,
            user_agent: s.user_agent,
            current: Some(hash) == current,
        })
        .collect();
    Ok(Json(views))
}

async fn revoke(
    State(state): State<AppState>,
    caller: Caller,
    Path(session_id): Path<String>,
) -> Result<StatusCode, ApiError> {
    session_caller(&caller)?;
    let hash: [u8; 32] = hex::decode(&session_id)
        .ok()
        .and_then(|b| b.try_into().ok())
        .ok_or_else(|| ApiError::not_found("session"))?;
    // Only my own sessions: another user's id looks like a missing one.
    let mine = state
        .control
        .store
        .sessions_of_user(&caller.user.id)?
        .iter()
        .any(|(h, _)| *h == hash);
    if !mine {
        return Err(ApiError::not_found("session"));
    }
    state.control.store.delete_session(hash).await?;
    state
        .control
        .store
        .append_audit(draft(
            &caller,
            None,
            "session.revoke",
            None,
            Category::Auth,
            Operation::Write,
        ))
        .await?;
    Ok(StatusCode::NO_CONTENT)
}
