//! First start on an empty state dir: HTTPS verifiable with the printed CA, a one-time setup link
//! that works once, recovery links, and API errors from the table.

use serde_json::{Value, json};

use crate::harness::appliance::{Appliance, StartOptions, ok_stdout};

fn token_of(url: &str) -> String {
    url.rsplit('/').next().unwrap().to_owned()
}

#[tokio::test]
async fn https_is_verifiable_with_only_the_printed_ca() {
    let app = Appliance::start().await;
    let health = app.client.get(app.url("/healthz")).send().await.unwrap();
    assert_eq!(health.status(), 200);

    // `acorn cert show` (through the running server's socket) prints PEM and fingerprint.
    let shown = ok_stdout(&app.acorn(&["cert", "show"]));
    assert!(shown.contains("-----BEGIN CERTIFICATE-----"), "{shown}");
    assert!(shown.contains("SHA-256 fingerprint: "), "{shown}");

    // A client with the system roots only must not trust the appliance.
    let _ = rustls::crypto::ring::default_provider().install_default();
    let stranger = reqwest::Client::builder().build().unwrap();
    assert!(
        stranger.get(app.url("/healthz")).send().await.is_err(),
        "trusted without the appliance CA"
    );

    // curl with --cacert and nothing else.
    let ca_file = app.state_dir.with_extension("ca.pem");
    std::fs::write(&ca_file, &app.ca_pem).unwrap();
    let out = std::process::Command::new("curl")
        .args(["-sS", "--fail", "--cacert"])
        .arg(&ca_file)
        .arg(app.url("/readyz"))
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "curl: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let ready: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(ready["ready"], true);
    assert_eq!(ready["schema_version"], acorn_store::SCHEMA_VERSION);
}

#[tokio::test]
async fn setup_link_creates_the_first_administrator_once() {
    let app = Appliance::start().await;
    let url = app
        .setup_url()
        .expect("a setup link is logged on first start");
    assert!(url.starts_with(&app.base_url), "{url}");

    let page = app.client.get(&url).send().await.unwrap();
    assert_eq!(page.status(), 200);
    let html = page.text().await.unwrap();
    assert!(
        html.contains("<form")
            && html.contains("method=\"post\"")
            && html.contains("name=\"password\""),
        "{html}"
    );

    let form = [
        ("username", "admin"),
        ("password", "correct horse battery staple"),
    ];
    let created = app.client.post(&url).form(&form).send().await.unwrap();
    assert_eq!(created.status(), 201);
    assert!(
        created
            .text()
            .await
            .unwrap()
            .contains("Administrator <strong>admin</strong> created")
    );

    // Second use of the same link: refused, with the code in the page and in the API.
    let again = app.client.post(&url).form(&form).send().await.unwrap();
    assert_eq!(again.status(), 404);
    assert!(
        again
            .text()
            .await
            .unwrap()
            .contains("one_time_link_invalid")
    );
    let api = app
        .client
        .post(app.url("/api/v1/setup"))
        .json(&json!({ "token": token_of(&url), "username": "other", "password": "correct horse battery staple" }))
        .send()
        .await
        .unwrap();
    assert_eq!(api.status(), 404);
    let body: Value = api.json().await.unwrap();
    assert_eq!(body["code"], "one_time_link_invalid");
    assert_eq!(body["type"], "auth");
    assert_eq!(body["link"], "/docs/errors#one_time_link_invalid");

    // Recovery while running: a link for the existing admin resets its password.
    let out = ok_stdout(&app.acorn(&["recover", "admin"]));
    let link = out
        .lines()
        .find(|l| l.starts_with("https://"))
        .expect("link printed")
        .to_owned();
    let reset = app
        .client
        .post(app.url("/api/v1/setup"))
        .json(&json!({ "token": token_of(&link), "password": "another long password" }))
        .send()
        .await
        .unwrap();
    assert_eq!(reset.status(), 201);
    let body: Value = reset.json().await.unwrap();
    assert_eq!(body, json!({ "username": "admin", "created": false }));
}

#[tokio::test]
async fn hostile_setup_requests_get_table_errors_and_change_nothing() {
    // A small body limit, so that the oversized body fits in socket buffers and the client reads
    // the 413 instead of racing the server's close.
    let config = "[server]\nmax_body_bytes = 4096\n";
    let app = Appliance::start_with(StartOptions {
        config: Some(config.into()),
        ..Default::default()
    })
    .await;
    let url = app.setup_url().unwrap();
    let token = token_of(&url);
    let post = |body: reqwest::Body, content_type: &'static str| {
        app.client
            .post(app.url("/api/v1/setup"))
            .header("content-type", content_type)
            .body(body)
            .send()
    };
    let big = format!(
        "{{\"token\":\"{}\",\"password\":\"{}\"}}",
        token,
        "x".repeat(8 * 1024)
    );
    let cases: Vec<(reqwest::Body, &str, u16, &str)> = vec![
        ("{not json".into(), "application/json", 400, "invalid_body"),
        (
            r#"{"token": 5, "password": "correct horse battery"}"#.into(),
            "application/json",
            400,
            "invalid_body",
        ),
        (
            format!(r#"{{"token":"{token}","password":"correct horse battery","role":"owner"}}"#)
                .into(),
            "application/json",
            400,
            "invalid_body",
        ),
        (
            format!(r#"{{"token":"{token}","password":"correct horse battery"}}"#).into(),
            "text/plain",
            415,
            "unsupported_media_type",
        ),
        (big.into(), "application/json", 413, "payload_too_large"),
        (
            format!(r#"{{"token":"{token}","username":"admin","password":"short"}}"#).into(),
            "application/json",
            400,
            "password_rejected",
        ),
        (
            format!(
                r#"{{"token":"{token}","username":"<script>","password":"correct horse battery"}}"#
            )
            .into(),
            "application/json",
            400,
            "username_invalid",
        ),
        (
            r#"{"token":"forged","username":"admin","password":"correct horse battery"}"#.into(),
            "application/json",
            404,
            "one_time_link_invalid",
        ),
    ];
    for (body, content_type, status, code) in cases {
        let response = post(body, content_type).await.unwrap();
        assert_eq!(response.status(), status, "{code}");
        assert!(response.headers().contains_key("x-request-id"));
        let body: Value = response.json().await.unwrap();
        assert_eq!(body["code"], code, "{body}");
        assert!(body["message"].as_str().is_some_and(|m| !m.is_empty()));
    }
    // Unknown route and wrong method also answer with table errors.
    let missing: Value = app
        .client
        .get(app.url("/api/v1/nope"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(missing["code"], "not_found");
    let wrong = app.client.delete(app.url("/healthz")).send().await.unwrap();
    assert_eq!(wrong.status(), 405);

    // None of that consumed the link: it still creates the administrator.
    let ok = app
        .client
        .post(app.url("/api/v1/setup"))
        .json(&json!({ "token": token, "username": "admin", "password": "correct horse battery" }))
        .send()
        .await
        .unwrap();
    assert_eq!(ok.status(), 201);
}

#[tokio::test]
async fn metrics_and_error_docs_are_served() {
    let app = Appliance::start().await;
    app.client.get(app.url("/healthz")).send().await.unwrap();
    let text = app
        .client
        .get(app.url("/metrics"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        text.contains(r#"acorn_http_requests_total{method="GET",route="/healthz",status="200"} 1"#),
        "{text}"
    );
    assert!(text.contains("acorn_build_info{"), "{text}");
    assert!(text.contains("acorn_store_commit_seconds_bucket"), "{text}");
    let docs = app
        .client
        .get(app.url("/docs/errors"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(docs.contains("id=\"one_time_link_invalid\""));
}
