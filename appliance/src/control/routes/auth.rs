//! `/api/v1/auth/…`: local sign-in, sign-out, and the OpenID Connect redirect pair.

use axum::extract::State;
use axum::http::{Method, StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use serde::Deserialize;

use acorn_proto::ErrorCode;
use acorn_proto::identity::{LoginRequest, Me};
use acorn_store::{AuditResult, Category, Operation};

use super::AppState;
use super::extract::{ApiJson, ApiQuery};
use super::table::{Access, RouteSpec, route};
use crate::control::audit::{anonymous_draft, draft};
use crate::control::auth::{self, Caller, Principal, RequestMeta};
use crate::control::error::ApiError;
use crate::control::{Control, workspaces};

pub fn routes() -> Vec<RouteSpec> {
    vec![
        route(
            Method::POST,
            "/api/v1/auth/login",
            Access::Public,
            "Sign in with a local account",
            post(login),
        ),
        route(
            Method::POST,
            "/api/v1/auth/logout",
            Access::SignedIn,
            "Sign out (ends this session)",
            post(logout),
        ),
        route(
            Method::GET,
            "/api/v1/auth/providers",
            Access::Public,
            "How one can sign in here",
            get(providers),
        ),
        route(
            Method::GET,
            "/api/v1/auth/oidc/login",
            Access::Public,
            "Start OpenID Connect sign-in",
            get(oidc_login),
        ),
        route(
            Method::GET,
            "/api/v1/auth/oidc/callback",
            Access::Public,
            "OpenID Connect redirect target",
            get(oidc_callback),
        ),
    ]
}

async fn login(
    State(state): State<AppState>,
    meta: RequestMeta,
    ApiJson(body): ApiJson<LoginRequest>,
) -> Result<Response, ApiError> {
    let control = &state.control;
    let (id, caller) = password_sign_in(control, &body.username, body.password, meta).await?;
    signed_in(control, &caller, &id)
}

/// Local sign-in with its audit records (success in the appliance chain, failures and
/// throttling as anonymous records): returns the new session's cookie value and the caller.
/// The JSON API and the console's sign-in form both sign in through here.
pub(crate) async fn password_sign_in(
    control: &Control,
    username: &str,
    password: String,
    meta: RequestMeta,
) -> Result<(String, Caller), ApiError> {
    match auth::local_login(control, username, password, &meta).await {
        Ok((id, session, user)) => {
            let caller = recorded_sign_in(
                control,
                user,
                &id,
                session,
                meta,
                "auth.login",
                "local".into(),
            )
            .await?;
            Ok((id, caller))
        }
        Err(e) => {
            let result = if e.code == ErrorCode::RateLimited {
                AuditResult::Denied
            } else {
                AuditResult::Failed
            };
            let _ = control
                .store
                .append_audit(anonymous_draft(
                    &meta,
                    "auth.login",
                    Some(format!("local:{}", safe_name(username))),
                    result,
                ))
                .await;
            Err(e)
        }
    }
}

/// Usernames in audit targets: the valid alphabet only, bounded (a failed login's name is input).
fn safe_name(name: &str) -> String {
    name.chars()
        .filter(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-' | '@'))
        .take(64)
        .collect()
}

fn signed_in(control: &Control, caller: &Caller, session_id: &str) -> Result<Response, ApiError> {
    let me = Me {
        user: workspaces::user_view(&caller.user),
        csrf_token: caller.csrf_token(),
        workspaces: workspaces::list(control, caller)?,
    };
    let cookie = auth::session_set_cookie(session_id, control.identity.session_lifetime);
    Ok((
        StatusCode::OK,
        [(header::SET_COOKIE, cookie)],
        axum::Json(me),
    )
        .into_response())
}

async fn logout(State(state): State<AppState>, caller: Caller) -> Result<Response, ApiError> {
    end_session(&state.control, &caller).await?;
    Ok((
        StatusCode::NO_CONTENT,
        [(header::SET_COOKIE, auth::clear_session_cookie())],
    )
        .into_response())
}

/// Signs out: deletes the caller's session and records it (the API and the console).
pub(crate) async fn end_session(control: &Control, caller: &Caller) -> Result<(), ApiError> {
    if let Principal::Session { id_hash, .. } = &caller.principal {
        control.store.delete_session(*id_hash).await?;
    }
    control
        .store
        .append_audit(draft(
            caller,
            None,
            "auth.logout",
            None,
            Category::Auth,
            Operation::Write,
        ))
        .await?;
    Ok(())
}

async fn providers(State(state): State<AppState>) -> axum::Json<serde_json::Value> {
    let oidc = state.control.oidc.as_ref().map(|o| {
        serde_json::json!({ "display_name": o.display_name(), "login_url": "/api/v1/auth/oidc/login" })
    });
    axum::Json(serde_json::json!({ "local": true, "oidc": oidc }))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct LoginQuery {
    return_to: Option<String>,
}

async fn oidc_login(
    State(state): State<AppState>,
    ApiQuery(q): ApiQuery<LoginQuery>,
) -> Result<Response, ApiError> {
    let oidc = state.control.oidc.as_ref().ok_or_else(not_configured)?;
    let url = oidc.begin(q.return_to).await?;
    Ok(Redirect::to(&url).into_response())
}

#[derive(Deserialize)]
struct CallbackQuery {
    code: Option<String>,
    state: Option<String>,
    error: Option<String>,
    error_description: Option<String>,
}

async fn oidc_callback(
    State(state): State<AppState>,
    meta: RequestMeta,
    ApiQuery(q): ApiQuery<CallbackQuery>,
) -> Result<Response, ApiError> {
    let control = &state.control;
    let oidc = control.oidc.as_ref().ok_or_else(not_configured)?;
    if let Some(error) = q.error {
        let detail = q.error_description.unwrap_or_default();
        return Err(ApiError::new(
            ErrorCode::OidcFailed,
            format!("the identity provider refused the sign-in: {error} {detail}")
                .trim()
                .to_owned(),
        ));
    }
    let (Some(code), Some(oidc_state)) = (q.code, q.state) else {
        return Err(ApiError::new(
            ErrorCode::OidcFailed,
            "the callback needs `code` and `state`; start the sign-in again",
        ));
    };
    let identity = match oidc.complete(&code, &oidc_state).await {
        Ok(identity) => identity,
        Err(e) => {
            let result = if e.code == ErrorCode::AdmissionRefused {
                AuditResult::Denied
            } else {
                AuditResult::Failed
            };
            let _ = control
                .store
                .append_audit(anonymous_draft(&meta, "auth.oidc_login", None, result))
                .await;
            return Err(e);
        }
    };
    let now = crate::util::now_unix();
    let user = control
        .store
        .upsert_oidc_user(
            &identity.issuer,
            &identity.subject,
            identity.email.clone(),
            identity.email_verified,
            identity.name.clone(),
            now,
        )
        .await?;
    let user = if identity.appliance_admin && !user.appliance_admin {
        control.store.set_appliance_admin(&user.id, true).await?
    } else {
        user
    };
    let (id, session) = auth::start_session(control, &user, &meta).await?;
    recorded_sign_in(
        control,
        user,
        &id,
        session,
        meta,
        "auth.oidc_login",
        identity.issuer,
    )
    .await?;
    let cookie = auth::session_set_cookie(&id, control.identity.session_lifetime);
    Ok((
        StatusCode::SEE_OTHER,
        [
            (header::SET_COOKIE, cookie),
            (header::LOCATION, identity.return_to),
        ],
    )
        .into_response())
}

/// The caller a new session makes, with the sign-in recorded in the appliance's audit chain.
async fn recorded_sign_in(
    control: &Control,
    user: acorn_store::User,
    session_id: &str,
    session: acorn_store::Session,
    meta: RequestMeta,
    action: &str,
    target: String,
) -> Result<Caller, ApiError> {
    let id_hash = crate::util::sha256(session_id);
    let caller = Caller {
        user,
        principal: Principal::Session { id_hash, session },
        meta,
    };
    let record = draft(
        &caller,
        None,
        action,
        Some(target),
        Category::Auth,
        Operation::Write,
    );
    control.store.append_audit(record).await?;
    Ok(caller)
}

fn not_configured() -> ApiError {
    ApiError::new(
        ErrorCode::OidcNotConfigured,
        "no OpenID Connect provider is configured on this appliance; sign in with a local account",
    )
}
