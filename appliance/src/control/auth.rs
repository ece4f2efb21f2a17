//! Authentication: who is calling. A browser presents the `__Host-acorn_session` cookie (and, on
//! state-changing requests, the session's `x-csrf-token` header); automation presents
//! `Authorization: Bearer <api token>`. Both resolve to a [`Caller`]; nothing downstream looks at
//! headers again. Local sign-in (argon2id, rate limited per account and per address) and the
//! session lifecycle live here too; OpenID Connect sign-in is in `oidc.rs` and ends in
//! [`start_session`].

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use argon2::Argon2;
use argon2::password_hash::{PasswordHash, PasswordVerifier};
use axum::extract::{ConnectInfo, FromRequestParts};
use axum::http::request::Parts;
use axum::http::{HeaderMap, Method, header};

use acorn_proto::ErrorCode;
use acorn_store::{ApiToken, Session, User};

use super::Control;
use super::error::ApiError;
use crate::control::routes::AppState;
use crate::util;

/// Name of the session cookie. `__Host-` makes browsers require Secure, Path=/ and no Domain.
pub const SESSION_COOKIE: &str = "__Host-acorn_session";
/// Header carrying the session's CSRF token.
pub const CSRF_HEADER: &str = "x-csrf-token";
/// Prefix of API tokens, so that secret scanners and operators recognise them.
pub const TOKEN_PREFIX: &str = "acorn_";

/// Facts about the request that go into audit records and logs.
#[derive(Debug, Clone, Default)]
pub struct RequestMeta {
    pub request_id: Option<String>,
    pub source_ip: Option<String>,
    pub user_agent: Option<String>,
}

/// How the caller proved who they are.
#[derive(Debug, Clone)]
pub enum Principal {
    /// A browser session (hash of the cookie value).
    Session { id_hash: [u8; 32], session: Session },
    /// An API token, scoped to one workspace with its own role.
    Token(ApiToken),
}

/// An authenticated caller.
#[derive(Debug, Clone)]
pub struct Caller {
    pub user: User,
    pub principal: Principal,
    pub meta: RequestMeta,
}

impl Caller {
    /// The CSRF token to show the caller (sessions only).
    pub fn csrf_token(&self) -> Option<String> {
        match &self.principal {
            Principal::Session { session, .. } => Some(session.csrf_token.clone()),
            Principal::Token(_) => None,
        }
    }
}

impl FromRequestParts<AppState> for RequestMeta {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(parts: &mut Parts, _: &AppState) -> Result<Self, Self::Rejection> {
        Ok(request_meta(parts))
    }
}

pub(crate) fn request_meta(parts: &Parts) -> RequestMeta {
    let header = |name: &str| {
        parts
            .headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned)
    };
    RequestMeta {
        request_id: header("x-request-id"),
        source_ip: parts
            .extensions
            .get::<ConnectInfo<SocketAddr>>()
            .map(|c| c.0.ip().to_string()),
        user_agent: header("user-agent").map(|ua| ua.chars().take(200).collect()),
    }
}

impl FromRequestParts<AppState> for Caller {
    type Rejection = ApiError;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        let meta = request_meta(parts);
        if let Some(token) = bearer(&parts.headers) {
            return authenticate_token(&state.control, &token, meta).await;
        }
        let Some(cookie) = session_cookie(&parts.headers) else {
            return Err(ApiError::new(
                ErrorCode::Unauthenticated,
                "sign in first, or send an API token as `Authorization: Bearer …`",
            ));
        };
        let caller = authenticate_session(&state.control, &cookie, meta).await?;
        if !is_safe(&parts.method) {
            check_csrf(&parts.headers, &caller)?;
        }
        Ok(caller)
    }
}

/// GET, HEAD and OPTIONS change nothing and need no CSRF token.
fn is_safe(method: &Method) -> bool {
    matches!(*method, Method::GET | Method::HEAD | Method::OPTIONS)
}

fn bearer(headers: &HeaderMap) -> Option<String> {
    let value = headers.get(header::AUTHORIZATION)?.to_str().ok()?;
    let (scheme, token) = value.split_once(' ')?;
    scheme
        .eq_ignore_ascii_case("bearer")
        .then(|| token.trim().to_owned())
}

/// The session cookie's value, if sent.
pub fn session_cookie(headers: &HeaderMap) -> Option<String> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(name, _)| *name == SESSION_COOKIE)
        .map(|(_, value)| value.to_owned())
}

fn check_csrf(headers: &HeaderMap, caller: &Caller) -> Result<(), ApiError> {
    let sent = headers
        .get(CSRF_HEADER)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    let expected = caller.csrf_token().unwrap_or_default();
    if sent.is_empty() || !constant_time_eq(sent.as_bytes(), expected.as_bytes()) {
        return Err(ApiError::new(
            ErrorCode::CsrfFailed,
            "state-changing requests made with the session cookie must carry the session's x-csrf-token header (GET /api/v1/me returns it)",
        ));
    }
    Ok(())
}

fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

pub(crate) async fn authenticate_session(
    control: &Control,
    cookie: &str,
    meta: RequestMeta,
) -> Result<Caller, ApiError> {
    let id_hash = util::sha256(cookie);
    let expired = || {
        ApiError::new(
            ErrorCode::SessionExpired,
            "your session expired or was revoked; sign in again",
        )
    };
    let session = control.store.session(id_hash)?.ok_or_else(expired)?;
    let now = util::now_unix();
    let idle = control.identity.session_idle_timeout.as_secs() as i64;
    if now >= session.expires_at || now >= session.last_seen_at + idle {
        let _ = control.store.delete_session(id_hash).await;
        return Err(expired());
    }
    let user = control.store.user(&session.user_id)?.ok_or_else(expired)?;
    control.store.touch_session(id_hash, now).await?;
    Ok(Caller {
        user,
        principal: Principal::Session { id_hash, session },
        meta,
    })
}

async fn authenticate_token(
    control: &Control,
    token: &str,
    meta: RequestMeta,
) -> Result<Caller, ApiError> {
    let invalid = || {
        ApiError::new(
            ErrorCode::TokenInvalid,
            "the API token is unknown, expired or revoked",
        )
    };
    if !token.starts_with(TOKEN_PREFIX) {
        return Err(invalid());
    }
    let hash = util::sha256(token);
    let record = control.store.api_token(hash)?.ok_or_else(invalid)?;
    let now = util::now_unix();
    if record.revoked_at.is_some() || record.expires_at.is_some_and(|e| now >= e) {
        return Err(invalid());
    }
    // A token never outlives or outranks its creator's membership.
    let user = control.store.user(&record.user_id)?.ok_or_else(invalid)?;
    let membership = control
        .store
        .membership(&record.workspace_id, &user.id)?
        .ok_or_else(invalid)?;
    if !membership.role.covers(record.role) {
        return Err(ApiError::new(
            ErrorCode::TokenInvalid,
            "the token's creator no longer holds a role that covers the token's role",
        ));
    }
    control.store.touch_api_token(hash, now).await?;
    Ok(Caller {
        user,
        principal: Principal::Token(record),
        meta,
    })
}

/// Creates a session for `user` and returns the cookie value (the only copy of the secret).
pub async fn start_session(
    control: &Control,
    user: &User,
    meta: &RequestMeta,
) -> Result<(String, Session), ApiError> {
    let id = util::random_token();
    let now = util::now_unix();
    let session = Session {
        user_id: user.id.clone(),
        created_at: now,
        last_seen_at: now,
        expires_at: now + control.identity.session_lifetime.as_secs() as i64,
        csrf_token: util::random_token(),
        source_ip: meta.source_ip.clone(),
        user_agent: meta.user_agent.clone(),
    };
    control
        .store
        .create_session(util::sha256(&id), session.clone())
        .await?;
    control.store.record_login(&user.id, now).await?;
    Ok((id, session))
}

/// The `Set-Cookie` value for a new session.
pub fn session_set_cookie(id: &str, lifetime: Duration) -> String {
    format!(
        "{SESSION_COOKIE}={id}; Path=/; Secure; HttpOnly; SameSite=Lax; Max-Age={}",
        lifetime.as_secs()
    )
}

/// The `Set-Cookie` value that removes the session cookie.
pub fn clear_session_cookie() -> String {
    format!("{SESSION_COOKIE}=; Path=/; Secure; HttpOnly; SameSite=Lax; Max-Age=0")
}

/// Local sign-in: checks the password, then starts a session. Unknown users cost the same
/// hashing time as known ones, so response times do not reveal which accounts exist.
pub async fn local_login(
    control: &Control,
    username: &str,
    password: String,
    meta: &RequestMeta,
) -> Result<(String, Session, User), ApiError> {
    let source = meta.source_ip.clone().unwrap_or_default();
    control
        .limiter
        .check(username, &source, control.identity.login_max_failures)?;
    let found = control.store.local_login(username)?;
    let hash = found
        .as_ref()
        .map(|(_, account)| account.password_hash.clone());
    let ok = verify_password(control, password, hash).await?;
    let Some((user, _)) = found.filter(|_| ok) else {
        control.limiter.record_failure(username, &source);
        return Err(ApiError::new(
            ErrorCode::LoginFailed,
            "wrong username or password",
        ));
    };
    control.limiter.clear(username);
    let (id, session) = start_session(control, &user, meta).await?;
    Ok((id, session, user))
}

/// A valid argon2id hash of a random password: verified against when the account is unknown.
const DUMMY_HASH: &str = "$argon2id$v=19$m=19456,t=2,p=1$c29tZXNhbHRzb21lc2FsdA$M0yGL1y6e2m0u6zVOc0t8bZt4Lz4dB5tYv2OZ8b1PGk";

async fn verify_password(
    control: &Control,
    password: String,
    hash: Option<String>,
) -> Result<bool, ApiError> {
    let _permit = control
        .hashing
        .acquire()
        .await
        .map_err(|_| ApiError::internal("password hashing is shutting down"))?;
    let known = hash.is_some();
    let hash = hash.unwrap_or_else(|| DUMMY_HASH.to_owned());
    tokio::task::spawn_blocking(move || {
        let ok = PasswordHash::new(&hash)
            .map(|parsed| {
                Argon2::default()
                    .verify_password(password.as_bytes(), &parsed)
                    .is_ok()
            })
            .unwrap_or(false);
        ok && known
    })
    .await
    .map_err(|e| ApiError::internal(format!("password check task: {e}")))
}

/// Failed sign-ins per account and per source address in a sliding 15-minute window (memory
/// only: a restart forgives, which is acceptable for throttling).
#[derive(Default)]
pub struct LoginLimiter {
    failures: Mutex<HashMap<String, Vec<Instant>>>,
}

const WINDOW: Duration = Duration::from_secs(15 * 60);
/// Bound on tracked keys, so that a flood of distinct names cannot grow memory without limit.
const MAX_TRACKED: usize = 100_000;

impl LoginLimiter {
    fn check(&self, account: &str, source: &str, max: u32) -> Result<(), ApiError> {
        let mut failures = self.failures.lock().unwrap_or_else(|p| p.into_inner());
        let now = Instant::now();
        let mut retry_after = None;
        for (key, limit) in [
            (format!("account:{account}"), max),
            (format!("source:{source}"), max.saturating_mul(4)),
        ] {
            if let Some(times) = failures.get_mut(&key) {
                times.retain(|t| now.duration_since(*t) < WINDOW);
                if times.len() as u32 >= limit {
                    let oldest = times.first().copied().unwrap_or(now);
                    retry_after = Some(
                        WINDOW
                            .saturating_sub(now.duration_since(oldest))
                            .as_secs()
                            .max(1),
                    );
                }
            }
        }
        match retry_after {
            Some(secs) => Err(ApiError::new(
                ErrorCode::RateLimited,
                format!("too many failed sign-ins; try again in {secs} seconds"),
            )
            .with_retry_after(secs)),
            None => Ok(()),
        }
    }

    fn record_failure(&self, account: &str, source: &str) {
        let mut failures = self.failures.lock().unwrap_or_else(|p| p.into_inner());
        if failures.len() >= MAX_TRACKED {
            let now = Instant::now();
            failures.retain(|_, times| {
                times
                    .last()
                    .is_some_and(|t| now.duration_since(*t) < WINDOW)
            });
        }
        let now = Instant::now();
        failures
            .entry(format!("account:{account}"))
            .or_default()
            .push(now);
        failures
            .entry(format!("source:{source}"))
            .or_default()
            .push(now);
    }

    fn clear(&self, account: &str) {
        self.failures
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .remove(&format!("account:{account}"));
    }
}
