//! The full OpenID Connect code flow against npm `oidc-provider`, driven over HTTP like a
//! browser, including a user refused by the admission policy and replayed or forged states.

use serde_json::json;

use crate::harness::appliance::{Appliance, StartOptions, free_port, pinned_client};
use crate::harness::identity::session_cookie;
use crate::harness::oidc_provider::{OidcProvider, browser_sign_in};

fn browser(ca_pem: &str) -> reqwest::Client {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let ca = reqwest::Certificate::from_pem(ca_pem.as_bytes()).unwrap();
    reqwest::Client::builder()
        .tls_certs_only([ca])
        .cookie_store(true)
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap()
}

#[tokio::test]
async fn code_flow_signs_in_and_the_admission_policy_refuses() {
    let port = free_port();
    let base = format!("https://127.0.0.1:{port}");
    let accounts = json!({
        "alice": { "email": "alice@example.com", "email_verified": true, "name": "Alice", "groups": ["platform", "dev"] },
        "mallory": { "email": "mallory@example.com", "email_verified": true, "name": "Mallory", "groups": ["dev"] },
        "eve": { "email": "eve@elsewhere.org", "email_verified": true, "groups": ["platform"] }
    });
    let idp = OidcProvider::start(&format!("{base}/api/v1/auth/oidc/callback"), &accounts);
    let dir = tempfile::tempdir().unwrap();
    let secret = dir.path().join("client-secret");
    std::fs::write(&secret, "acorn-test-secret\n").unwrap();
    let config = format!(
        "[oidc]\nissuer = \"{}\"\nclient_id = \"acorn\"\nclient_secret_file = {:?}\nscopes = [\"email\", \"profile\", \"groups\"]\n\
         allowed_email_domains = [\"example.com\"]\nrequire_verified_email = true\n\
         required_claims = [{{ claim = \"groups\", op = \"contains\", value = \"platform\" }}]\n",
        idp.issuer, secret
    );
    let app = Appliance::start_with(StartOptions {
        config: Some(config),
        port: Some(port),
        ..Default::default()
    })
    .await;
    assert_eq!(
        app.addr.port(),
        port,
        "the appliance listens where the provider redirects"
    );

    // Alice: admitted; the callback sets the session cookie and sends her back where she started.
    let alice = browser(&app.ca_pem);
    let callback = browser_sign_in(&alice, &base, "alice").await;
    assert_eq!(callback.status(), 303, "{:?}", callback.text().await);
    assert_eq!(callback.headers()["location"], "/welcome");
    let cookie = session_cookie(&callback).expect("session cookie");
    let me: serde_json::Value = pinned_client(&app.ca_pem)
        .get(app.url("/api/v1/me"))
        .header("cookie", format!("__Host-acorn_session={cookie}"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(me["user"]["email"], "alice@example.com");
    assert_eq!(me["user"]["issuer"], idp.issuer);
    assert_eq!(me["user"]["name"], "Alice");
    assert!(me["csrf_token"].as_str().is_some_and(|t| t.len() > 20));

    // Alice is not an appliance administrator: no workspaces of her own, no user deletion.
    let csrf = me["csrf_token"].as_str().unwrap();
    let as_alice = |method: reqwest::Method, path: &str| {
        pinned_client(&app.ca_pem)
            .request(method, app.url(path))
            .header("cookie", format!("__Host-acorn_session={cookie}"))
            .header("x-csrf-token", csrf)
    };
    let create = as_alice(reqwest::Method::POST, "/api/v1/workspaces")
        .json(&json!({ "name": "mine" }))
        .send()
        .await
        .unwrap();
    assert_eq!(create.status(), 403);
    let delete = as_alice(
        reqwest::Method::DELETE,
        "/api/v1/users/usr_0000000000000000",
    )
    .send()
    .await
    .unwrap();
    assert_eq!(delete.status(), 403);

    // Mallory lacks the group, Eve the email domain: refused, each with the rule that failed.
    for (login, rule) in [("mallory", "groups"), ("eve", "email domains")] {
        let refused = browser_sign_in(&browser(&app.ca_pem), &base, login).await;
        assert_eq!(refused.status(), 403, "{login}");
        let body: serde_json::Value = refused.json().await.unwrap();
        assert_eq!(body["code"], "admission_refused");
        assert!(body["message"].as_str().unwrap().contains(rule), "{body}");
    }

    // A forged state, and a replay of a used one: nothing is found, the sign-in fails.
    let forged = pinned_client(&app.ca_pem)
        .get(app.url("/api/v1/auth/oidc/callback?code=x&state=forged"))
        .send()
        .await
        .unwrap();
    assert_eq!(forged.status(), 400);
    assert_eq!(
        forged.json::<serde_json::Value>().await.unwrap()["code"],
        "oidc_failed"
    );
    let replayer = browser(&app.ca_pem);
    let first = browser_sign_in(&replayer, &base, "alice").await;
    let used = first.url().clone();
    assert_eq!(first.status(), 303);
    let replay = replayer.get(used).send().await.unwrap();
    assert_eq!(replay.status(), 400, "a callback URL works once");
}

#[tokio::test]
async fn a_provider_answering_for_another_issuer_is_refused() {
    let port = free_port();
    let base = format!("https://127.0.0.1:{port}");
    let idp = OidcProvider::start(
        &format!("{base}/api/v1/auth/oidc/callback"),
        &json!({ "alice": {} }),
    );
    // Same server, another name: its discovery document names http://127.0.0.1:…, not this URL.
    let impostor = idp.issuer.replace("127.0.0.1", "localhost");
    let config = format!("[oidc]\nissuer = \"{impostor}\"\nclient_id = \"acorn\"\n");
    let app = Appliance::start_with(StartOptions {
        config: Some(config),
        port: Some(port),
        ..Default::default()
    })
    .await;
    let refused = pinned_client(&app.ca_pem)
        .get(app.url("/api/v1/auth/oidc/login"))
        .send()
        .await
        .unwrap();
    assert_eq!(refused.status(), 400);
    let body: serde_json::Value = refused.json().await.unwrap();
    assert_eq!(body["code"], "oidc_failed");
    assert!(
        body["message"].as_str().unwrap().contains("discovery"),
        "{body}"
    );
}

#[tokio::test]
async fn id_tokens_for_another_audience_expired_or_replayed_are_refused() {
    // The control case signs in; each fault alone makes the same flow fail verification.
    for (fault, outcome) in [
        ("none", 303),
        ("audience", 400),
        ("expired", 400),
        ("nonce", 400),
    ] {
        let idp = OidcProvider::start_faulty(fault);
        let config = format!(
            "[oidc]\nissuer = \"{}\"\nclient_id = \"acorn\"\n",
            idp.issuer
        );
        let app = Appliance::start_with(StartOptions {
            config: Some(config),
            ..Default::default()
        })
        .await;
        let client = browser(&app.ca_pem);
        let to_idp = client
            .get(app.url("/api/v1/auth/oidc/login"))
            .send()
            .await
            .unwrap();
        assert_eq!(to_idp.status(), 303, "{fault}");
        let authorize = to_idp.headers()["location"].to_str().unwrap().to_owned();
        let back = client.get(&authorize).send().await.unwrap();
        let callback = back.headers()["location"].to_str().unwrap().to_owned();
        let answer = client.get(&callback).send().await.unwrap();
        assert_eq!(answer.status(), outcome, "{fault}");
        if outcome == 400 {
            let body: serde_json::Value = answer.json().await.unwrap();
            assert_eq!(body["code"], "oidc_failed", "{fault}");
            assert!(
                body["message"]
                    .as_str()
                    .unwrap()
                    .contains("ID token rejected"),
                "{fault}: {body}"
            );
        }
    }
}
