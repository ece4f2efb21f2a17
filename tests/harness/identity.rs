//! Signed-in users for the identity tests: local accounts made through real one-time links,
//! sessions from real sign-ins, and requests that carry the cookie and CSRF header.

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use super::appliance::{Appliance, ok_stdout};

/// The password every test account gets.
pub const PASSWORD: &str = "correct horse battery staple";

/// A signed-in browser-like client: session cookie + CSRF token.
#[derive(Clone)]
pub struct User {
    pub name: String,
    pub id: String,
    pub cookie: String,
    pub csrf: String,
    pub client: reqwest::Client,
    base: String,
}

/// A response's status and JSON body (Null when there is none).
pub struct Answer {
    pub status: StatusCode,
    pub body: Value,
    pub headers: reqwest::header::HeaderMap,
}

impl Answer {
    /// The error code of an error body.
    pub fn code(&self) -> &str {
        self.body["code"].as_str().unwrap_or("")
    }

    /// Asserts an error answer: this status and this code from the error table.
    pub fn assert_error(&self, status: u16, code: &str) {
        assert_eq!(
            (self.status.as_u16(), self.code()),
            (status, code),
            "{}",
            self.body
        );
    }
}

/// Sends a request with optional cookie, CSRF header and bearer token.
pub async fn send(
    client: &reqwest::Client,
    method: Method,
    url: &str,
    body: Option<&Value>,
    cookie: Option<&str>,
    csrf: Option<&str>,
    bearer: Option<&str>,
) -> Answer {
    let mut request = client.request(method, url);
    if let Some(cookie) = cookie {
        request = request.header("cookie", format!("__Host-acorn_session={cookie}"));
    }
    if let Some(csrf) = csrf {
        request = request.header("x-csrf-token", csrf);
    }
    if let Some(token) = bearer {
        request = request.bearer_auth(token);
    }
    if let Some(body) = body {
        request = request.json(body);
    }
    let response = request.send().await.expect("request");
    let status = response.status();
    let headers = response.headers().clone();
    let text = response.text().await.unwrap_or_default();
    let body = serde_json::from_str(&text).unwrap_or(Value::Null);
    Answer {
        status,
        body,
        headers,
    }
}

impl User {
    /// A request as this user (cookie and CSRF header).
    pub async fn call(&self, method: Method, path: &str, body: Option<Value>) -> Answer {
        send(
            &self.client,
            method,
            &format!("{}{path}", self.base),
            body.as_ref(),
            Some(&self.cookie),
            Some(&self.csrf),
            None,
        )
        .await
    }

    /// `call` that must succeed; returns the body.
    pub async fn ok(&self, method: Method, path: &str, body: Option<Value>) -> Value {
        let answer = self.call(method.clone(), path, body).await;
        assert!(
            answer.status.is_success(),
            "{} {method} {path}: {} {}",
            self.name,
            answer.status,
            answer.body
        );
        answer.body
    }
}

/// Creates the local account `name` through `acorn recover` and a real one-time link.
pub async fn create_local_account(app: &Appliance, name: &str) {
    let out = ok_stdout(&app.acorn(&["recover", name]));
    let link = out
        .lines()
        .find(|l| l.starts_with("https://"))
        .expect("link")
        .to_owned();
    let token = link.rsplit('/').next().unwrap();
    let answer = send(
        &app.client,
        Method::POST,
        &app.url("/api/v1/setup"),
        Some(&json!({ "token": token, "password": PASSWORD })),
        None,
        None,
        None,
    )
    .await;
    assert_eq!(answer.status, StatusCode::CREATED, "{}", answer.body);
}

/// Signs in as a local account and returns the session.
pub async fn login(app: &Appliance, name: &str) -> User {
    let response = app
        .client
        .post(app.url("/api/v1/auth/login"))
        .json(&json!({ "username": name, "password": PASSWORD }))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200, "login {name}");
    let cookie = session_cookie(&response).expect("session cookie");
    let me: Value = response.json().await.unwrap();
    User {
        name: name.to_owned(),
        id: me["user"]["id"].as_str().unwrap().to_owned(),
        cookie,
        csrf: me["csrf_token"].as_str().unwrap().to_owned(),
        client: app.client.clone(),
        base: app.base_url.clone(),
    }
}

/// Creates the account and signs in.
pub async fn user(app: &Appliance, name: &str) -> User {
    create_local_account(app, name).await;
    login(app, name).await
}

/// The value of the `__Host-acorn_session` cookie a response sets.
pub fn session_cookie(response: &reqwest::Response) -> Option<String> {
    response
        .headers()
        .get_all("set-cookie")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .find_map(|v| {
            let (pair, attributes) = v.split_once(';')?;
            assert!(
                attributes.contains("HttpOnly")
                    && attributes.contains("Secure")
                    && attributes.contains("SameSite=Lax"),
                "{v}"
            );
            pair.strip_prefix("__Host-acorn_session=")
                .map(str::to_owned)
        })
}

/// Creates a workspace as `owner` and brings each `(user, role)` in through a real invitation.
pub async fn workspace_with(owner: &User, name: &str, members: &[(&User, &str)]) -> String {
    let ws = owner
        .ok(
            Method::POST,
            "/api/v1/workspaces",
            Some(json!({ "name": name })),
        )
        .await;
    let id = ws["id"].as_str().unwrap().to_owned();
    add_members(owner, &id, members).await;
    id
}

/// Brings each `(user, role)` into workspace `ws` through a real invitation from `owner`.
pub async fn add_members(owner: &User, id: &str, members: &[(&User, &str)]) {
    for (member, role) in members {
        let inv = owner
            .ok(
                Method::POST,
                &format!("/api/v1/workspaces/{id}/invitations"),
                Some(json!({ "email": format!("{}@example.com", member.name), "role": role })),
            )
            .await;
        let token = inv["link"]
            .as_str()
            .unwrap()
            .rsplit('/')
            .next()
            .unwrap()
            .to_owned();
        member
            .ok(
                Method::POST,
                "/api/v1/invitations/accept",
                Some(json!({ "token": token })),
            )
            .await;
    }
}
