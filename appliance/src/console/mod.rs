//! The management console on the appliance's own TLS listener, under `/console`.
//!
//! The components live in `acorn-ui`; this module wires them to axum and to the control plane:
//! - `GET /console/…`: the LiveView shell of a page (or a redirect to sign-in without a valid
//!   session); the page's route travels to the socket as `?page=`;
//! - `GET /console/ws`: the LiveView socket. The upgrade checks the Origin and the session
//!   cookie, then runs the page's `VirtualDom` on the shared [`LiveViewPool`] with a
//!   [`backend::SessionBackend`] bound to that session (dioxus-liveview's own `with_app`
//!   cannot mount below `/`, see `shared/stack-notes.md`);
//! - `GET|POST /console/sign-in`, `POST /console/sign-out`: plain server-rendered forms (no
//!   script), through the same sign-in code and audit records as `/api/v1/auth/login`;
//! - `GET /console/assets/{name}`: embedded CSS, JS and icons with content-hash cache headers.
//!
//! Every console response carries the strict Content-Security-Policy of `acorn_ui::shell`.

pub mod backend;

use std::sync::{Arc, OnceLock};

use axum::Router;
use axum::extract::{Form, Path, Query, State, WebSocketUpgrade};
use axum::http::{HeaderMap, HeaderValue, StatusCode, Uri, header};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use dioxus_liveview::LiveViewPool;
use futures_util::StreamExt;
use serde::Deserialize;

use acorn_ui::PageProps;
use acorn_ui::route::{Route, percent_encode};
use acorn_ui::shell::{self, SignIn};

use crate::control::auth::{self, RequestMeta, authenticate_session, session_cookie};
use crate::control::routes::AppState;

/// The console's share of the appliance: the LiveView thread pool, the switch that ends every
/// console socket at shutdown, and the demo marking.
pub struct Console {
    pool: OnceLock<LiveViewPool>,
    /// `true` once the appliance stops: open LiveView sockets end (their tabs reconnect to the
    /// next start) instead of holding the graceful shutdown for its whole grace period.
    closing: tokio::sync::watch::Sender<bool>,
    /// Set by `acorn demo`: every page carries the demo banner and the sign-in page shows the
    /// demo login.
    pub demo: Option<DemoLogin>,
    /// Bumped whenever a run starts, changes state or ends (fed by [`Console::run_observer`]);
    /// session pages and lists follow it to show runs started elsewhere without a reload.
    runs: tokio::sync::watch::Sender<u64>,
}

impl Default for Console {
    fn default() -> Self {
        Console {
            pool: OnceLock::new(),
            closing: tokio::sync::watch::channel(false).0,
            demo: None,
            runs: tokio::sync::watch::channel(0).0,
        }
    }
}

/// The demo administrator, shown on the sign-in page of `acorn demo`.
#[derive(Debug, Clone)]
pub struct DemoLogin {
    pub username: String,
    pub password: String,
}

impl Console {
    /// The console of `acorn demo`.
    pub fn demo(login: DemoLogin) -> Console {
        Console {
            demo: Some(login),
            ..Console::default()
        }
    }

    /// Ends every open console socket (called when the appliance begins to stop).
    pub fn close_all(&self) {
        self.closing.send_replace(true);
    }

    /// The engine observer that feeds the run-activity ticks: only batches that start a run,
    /// change its state or end it count (not the model's token deltas), so a busy run does not
    /// make every open session page re-read its session.
    pub fn run_observer(self: &Arc<Self>) -> crate::engine::Observer {
        let console = Arc::clone(self);
        Arc::new(move |events: &[acorn_proto::runs::RunEvent]| {
            use acorn_proto::runs::RunEventKind as K;
            let counts = events.iter().any(|e| {
                e.kind.ends_run()
                    || matches!(
                        e.kind,
                        K::RunCreated | K::RunStarted | K::ApprovalRequested | K::ApprovalDecided
                    )
            });
            if counts {
                console.runs.send_modify(|n| *n = n.wrapping_add(1));
            }
        })
    }

    /// A receiver of the run-activity ticks.
    pub fn run_activity(&self) -> tokio::sync::watch::Receiver<u64> {
        self.runs.subscribe()
    }

    fn pool(&self) -> LiveViewPool {
        self.pool.get_or_init(LiveViewPool::new).clone()
    }
}

/// The console's routes (merged into the appliance router; not API routes, so not in the
/// route table or the OpenAPI document).
pub fn router() -> Router<AppState> {
    Router::new()
        .route(
            "/console",
            get(|| async { Redirect::permanent("/console/") }),
        )
        .route("/console/", get(page))
        .route("/console/{*rest}", get(page))
        .route("/console/ws", get(socket))
        .route("/console/assets/{name}", get(asset))
        .route("/console/sign-in", get(sign_in_page).post(sign_in))
        .route("/console/sign-out", post(sign_out))
}

fn with_headers(mut response: Response) -> Response {
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(shell::CSP),
    );
    for (name, value) in shell::SECURITY_HEADERS {
        if let (Ok(n), Ok(v)) = (
            header::HeaderName::from_bytes(name.as_bytes()),
            HeaderValue::from_str(value),
        ) {
            headers.entry(n).or_insert(v);
        }
    }
    response
}

fn html(status: StatusCode, body: String) -> Response {
    with_headers(
        (
            status,
            [(header::CONTENT_TYPE, "text/html; charset=utf-8")],
            body,
        )
            .into_response(),
    )
}

/// Where to go after signing in: a console path only (never another site).
fn safe_next(next: Option<&str>) -> String {
    next.filter(|p| {
        p.starts_with("/console")
            && !p.starts_with("//")
            && !p.contains('\\')
            && !p.chars().any(char::is_control)
            && !p.starts_with("/console/sign-")
    })
    .unwrap_or("/console/")
    .to_owned()
}

/// Browsers send `Origin` on WebSocket upgrades and form posts; it must be this appliance.
/// (The session cookie is SameSite=Lax already; this also stops a same-site sibling page.)
fn same_origin(headers: &HeaderMap, uri: &Uri) -> bool {
    let Some(origin) = headers.get(header::ORIGIN).and_then(|v| v.to_str().ok()) else {
        // Non-browser clients send none; they still need the session cookie.
        return true;
    };
    let host = headers
        .get(header::HOST)
        .and_then(|v| v.to_str().ok())
        .or_else(|| uri.authority().map(|a| a.as_str()));
    let origin_host = origin
        .strip_prefix("https://")
        .or_else(|| origin.strip_prefix("http://"));
    matches!((origin_host, host), (Some(o), Some(h)) if o.eq_ignore_ascii_case(h))
}

fn sign_in_redirect(next: &str) -> Response {
    with_headers(
        Redirect::to(&format!("/console/sign-in?next={}", percent_encode(next))).into_response(),
    )
}

async fn page(
    State(state): State<AppState>,
    uri: Uri,
    headers: HeaderMap,
    meta: RequestMeta,
) -> Response {
    let path_and_query = uri
        .path_and_query()
        .map(|p| p.as_str().to_owned())
        .unwrap_or_else(|| uri.path().to_owned());
    let Some(cookie) = session_cookie(&headers) else {
        return sign_in_redirect(&path_and_query);
    };
    if authenticate_session(&state.control, &cookie, meta)
        .await
        .is_err()
    {
        return sign_in_redirect(&path_and_query);
    }
    let route = Route::parse(uri.path(), uri.query().unwrap_or(""));
    let status = if route == Route::NotFound {
        StatusCode::NOT_FOUND
    } else {
        StatusCode::OK
    };
    html(
        status,
        shell::liveview_shell(route.title(), state.console.demo.is_some()),
    )
}

#[derive(Deserialize)]
struct SocketQuery {
    page: String,
}

async fn socket(
    State(state): State<AppState>,
    ws: WebSocketUpgrade,
    uri: Uri,
    headers: HeaderMap,
    meta: RequestMeta,
    Query(q): Query<SocketQuery>,
) -> Response {
    if !same_origin(&headers, &uri) {
        return (StatusCode::FORBIDDEN, "cross-origin console socket refused").into_response();
    }
    let Some(cookie) = session_cookie(&headers) else {
        return (StatusCode::UNAUTHORIZED, "sign in first").into_response();
    };
    if let Err(e) = authenticate_session(&state.control, &cookie, meta.clone()).await {
        return (StatusCode::UNAUTHORIZED, e.message).into_response();
    }
    let page = safe_next(Some(&q.page));
    let (path, query) = page.split_once('?').unwrap_or((&page, ""));
    let route = Route::parse(path, query);
    let demo = state.console.demo.is_some();
    let pool = state.console.pool();
    let backend = Arc::new(backend::SessionBackend {
        state: state.clone(),
        cookie,
        meta,
    });
    let props = PageProps {
        backend,
        route,
        path: page.clone(),
        demo,
    };
    state.metrics.console_socket_opened();
    let metrics = Arc::clone(&state.metrics);
    let mut closing = state.console.closing.subscribe();
    ws.on_upgrade(move |socket| async move {
        // The socket's incoming side ends at shutdown: the LiveView loop then returns and
        // drops the socket, and the tab starts reconnecting.
        let closed = async move {
            let _ = closing.wait_for(|c| *c).await;
        };
        let socket = dioxus_liveview::axum_socket(socket).take_until(Box::pin(closed));
        if let Err(e) = pool
            .launch_virtualdom(socket, move || acorn_ui::launch(props))
            .await
        {
            tracing::debug!(error = %e, "console socket ended");
        }
        metrics.console_socket_closed();
    })
}

#[derive(Deserialize)]
struct AssetQuery {
    v: Option<String>,
}

async fn asset(
    Path(name): Path<String>,
    Query(q): Query<AssetQuery>,
    headers: HeaderMap,
) -> Response {
    let Some(a) = acorn_ui::assets::get(&name) else {
        return with_headers((StatusCode::NOT_FOUND, "no such asset").into_response());
    };
    let etag = format!("\"{}\"", a.hash);
    let cache = if q.v.as_deref() == Some(a.hash.as_str()) {
        "public, max-age=31536000, immutable"
    } else {
        "no-cache"
    };
    let not_modified = headers
        .get(header::IF_NONE_MATCH)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v == etag);
    let mut response = if not_modified {
        StatusCode::NOT_MODIFIED.into_response()
    } else {
        (
            [(header::CONTENT_TYPE, a.content_type)],
            a.body.into_owned(),
        )
            .into_response()
    };
    let h = response.headers_mut();
    if let Ok(v) = HeaderValue::from_str(&etag) {
        h.insert(header::ETAG, v);
    }
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static(cache));
    h.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(shell::CSP),
    );
    h.insert(
        "x-content-type-options",
        HeaderValue::from_static("nosniff"),
    );
    response
}

#[derive(Deserialize, Default)]
struct SignInQuery {
    next: Option<String>,
    expired: Option<String>,
    error: Option<String>,
}

async fn sign_in_view(
    state: &AppState,
    next: String,
    error: Option<String>,
    username: String,
) -> SignIn {
    let oidc = state.control.oidc.as_ref().map(|o| {
        (
            o.display_name().to_owned(),
            format!(
                "/api/v1/auth/oidc/login?return_to={}",
                percent_encode(&next)
            ),
        )
    });
    SignIn {
        next,
        oidc,
        error,
        username,
        needs_setup: state
            .control
            .store
            .administrator_count()
            .map(|n| n == 0)
            .unwrap_or(false),
        demo_login: state
            .console
            .demo
            .as_ref()
            .map(|d| (d.username.clone(), d.password.clone())),
    }
}

async fn sign_in_page(
    State(state): State<AppState>,
    headers: HeaderMap,
    meta: RequestMeta,
    Query(q): Query<SignInQuery>,
) -> Response {
    let next = safe_next(q.next.as_deref());
    if let Some(cookie) = session_cookie(&headers)
        && authenticate_session(&state.control, &cookie, meta)
            .await
            .is_ok()
    {
        return with_headers(Redirect::to(&next).into_response());
    }
    let error = match (q.expired.is_some(), q.error.as_deref()) {
        (_, Some(e)) => Some(e.chars().take(300).collect()),
        (true, None) => Some("Your session expired or was revoked; sign in again.".to_owned()),
        _ => None,
    };
    let view = sign_in_view(&state, next, error, String::new()).await;
    html(
        StatusCode::OK,
        shell::sign_in_page(&view, state.console.demo.is_some()),
    )
}

#[derive(Deserialize)]
struct SignInForm {
    username: String,
    password: String,
    #[serde(default)]
    next: Option<String>,
}

async fn sign_in(
    State(state): State<AppState>,
    uri: Uri,
    headers: HeaderMap,
    meta: RequestMeta,
    Form(form): Form<SignInForm>,
) -> Response {
    let next = safe_next(form.next.as_deref());
    if !same_origin(&headers, &uri) {
        return html(
            StatusCode::FORBIDDEN,
            "cross-origin sign-in refused".to_owned(),
        );
    }
    let username = form.username.trim().to_owned();
    match crate::control::routes::auth::password_sign_in(
        &state.control,
        &username,
        form.password,
        meta,
    )
    .await
    {
        Ok((id, _caller)) => {
            let cookie = auth::session_set_cookie(&id, state.control.identity.session_lifetime);
            let mut response = Redirect::to(&next).into_response();
            if let Ok(v) = HeaderValue::from_str(&cookie) {
                response.headers_mut().insert(header::SET_COOKIE, v);
            }
            with_headers(response)
        }
        Err(e) => {
            let status =
                StatusCode::from_u16(e.code.http_status()).unwrap_or(StatusCode::UNAUTHORIZED);
            let view = sign_in_view(&state, next, Some(e.message), username).await;
            html(
                status,
                shell::sign_in_page(&view, state.console.demo.is_some()),
            )
        }
    }
}

async fn sign_out(
    State(state): State<AppState>,
    uri: Uri,
    headers: HeaderMap,
    meta: RequestMeta,
) -> Response {
    if !same_origin(&headers, &uri) {
        return html(
            StatusCode::FORBIDDEN,
            "cross-origin sign-out refused".to_owned(),
        );
    }
    if let Some(cookie) = session_cookie(&headers)
        && let Ok(caller) = authenticate_session(&state.control, &cookie, meta).await
        && let Err(e) = crate::control::routes::auth::end_session(&state.control, &caller).await
    {
        tracing::warn!(error = %e.message, "console sign-out failed");
    }
    let mut response = Redirect::to("/console/sign-in").into_response();
    if let Ok(v) = HeaderValue::from_str(&auth::clear_session_cookie()) {
        response.headers_mut().insert(header::SET_COOKIE, v);
    }
    with_headers(response)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn next_stays_in_the_console() {
        assert_eq!(safe_next(Some("/console/w/ws_1")), "/console/w/ws_1");
        for bad in [
            "https://evil.example/",
            "//evil.example",
            "/api/v1/me",
            "/console\\x",
            "/console/sign-in?next=/x",
        ] {
            assert_eq!(safe_next(Some(bad)), "/console/", "{bad}");
        }
        assert_eq!(safe_next(None), "/console/");
    }

    #[test]
    fn origin_must_match_host() {
        let uri: Uri = "/console/ws".parse().unwrap();
        let mut h = HeaderMap::new();
        h.insert(header::HOST, HeaderValue::from_static("127.0.0.1:8443"));
        assert!(same_origin(&h, &uri));
        h.insert(
            header::ORIGIN,
            HeaderValue::from_static("https://127.0.0.1:8443"),
        );
        assert!(same_origin(&h, &uri));
        h.insert(
            header::ORIGIN,
            HeaderValue::from_static("https://evil.example"),
        );
        assert!(!same_origin(&h, &uri));
    }
}
