//! Local sign-in, sessions, CSRF, logout and sign-in rate limits.

use reqwest::Method;
use serde_json::json;

use crate::harness::appliance::Appliance;
use crate::harness::identity::{self, PASSWORD, send, user};

#[tokio::test]
async fn cookie_writes_need_the_csrf_header_and_sessions_end() {
    let app = Appliance::start().await;
    let root = user(&app, "root").await;
    let url = app.url("/api/v1/workspaces");
    let body = json!({ "name": "payments" });

    let no_csrf = send(
        &app.client,
        Method::POST,
        &url,
        Some(&body),
        Some(&root.cookie),
        None,
        None,
    )
    .await;
    no_csrf.assert_error(403, "csrf_failed");
    let wrong = send(
        &app.client,
        Method::POST,
        &url,
        Some(&body),
        Some(&root.cookie),
        Some("guess"),
        None,
    )
    .await;
    assert_eq!(wrong.code(), "csrf_failed");
    let other_session = identity::login(&app, "root").await;
    let crossed = send(
        &app.client,
        Method::POST,
        &url,
        Some(&body),
        Some(&root.cookie),
        Some(&other_session.csrf),
        None,
    )
    .await;
    assert_eq!(
        crossed.code(),
        "csrf_failed",
        "a CSRF token is bound to its session"
    );
    assert_eq!(
        root.call(Method::POST, "/api/v1/workspaces", Some(body.clone()))
            .await
            .status,
        201
    );
    // Reads need no CSRF header.
    let read = send(
        &app.client,
        Method::GET,
        &url,
        None,
        Some(&root.cookie),
        None,
        None,
    )
    .await;
    assert_eq!(read.status, 200);

    // A tampered or unknown cookie is not a session.
    let tampered = send(
        &app.client,
        Method::GET,
        &app.url("/api/v1/me"),
        None,
        Some(&format!("{}x", root.cookie)),
        None,
        None,
    )
    .await;
    tampered.assert_error(401, "session_expired");
    let anonymous = send(
        &app.client,
        Method::GET,
        &app.url("/api/v1/me"),
        None,
        None,
        None,
        None,
    )
    .await;
    assert_eq!(anonymous.code(), "unauthenticated");

    // My sessions: two; revoke the other one, then log out of this one.
    let sessions = root.ok(Method::GET, "/api/v1/me/sessions", None).await;
    let list = sessions.as_array().unwrap();
    assert_eq!(list.len(), 2);
    let other = list.iter().find(|s| s["current"] == false).unwrap()["id"]
        .as_str()
        .unwrap()
        .to_owned();
    assert_eq!(
        root.call(
            Method::DELETE,
            &format!("/api/v1/me/sessions/{other}"),
            None
        )
        .await
        .status,
        204
    );
    assert_eq!(
        other_session
            .call(Method::GET, "/api/v1/me", None)
            .await
            .code(),
        "session_expired"
    );
    let logout = root.call(Method::POST, "/api/v1/auth/logout", None).await;
    assert_eq!(logout.status, 204);
    assert!(
        logout.headers["set-cookie"]
            .to_str()
            .unwrap()
            .contains("Max-Age=0")
    );
    assert_eq!(
        root.call(Method::GET, "/api/v1/me", None).await.code(),
        "session_expired"
    );
}

#[tokio::test]
async fn wrong_passwords_are_refused_then_rate_limited() {
    let app = Appliance::start().await;
    identity::create_local_account(&app, "root").await;
    let url = app.url("/api/v1/auth/login");
    for _ in 0..5 {
        let answer = send(
            &app.client,
            Method::POST,
            &url,
            Some(&json!({ "username": "root", "password": "wrong password!" })),
            None,
            None,
            None,
        )
        .await;
        answer.assert_error(401, "login_failed");
    }
    let unknown = send(
        &app.client,
        Method::POST,
        &url,
        Some(&json!({ "username": "nobody", "password": PASSWORD })),
        None,
        None,
        None,
    )
    .await;
    assert_eq!(
        unknown.code(),
        "login_failed",
        "unknown users look like wrong passwords"
    );
    let limited = send(
        &app.client,
        Method::POST,
        &url,
        Some(&json!({ "username": "root", "password": PASSWORD })),
        None,
        None,
        None,
    )
    .await;
    limited.assert_error(429, "rate_limited");
    assert!(limited.headers.contains_key("retry-after"));
    let bad = send(
        &app.client,
        Method::POST,
        &url,
        Some(&json!({ "username": "root" })),
        None,
        None,
        None,
    )
    .await;
    assert_eq!(bad.code(), "invalid_body");
}
