//! Secrets: a planted provider key never appears in API responses, logs, `configtest` output or
//! the store file in clear; the key-encryption key rotates (re-wrapping data keys) and moves out
//! of the store to a file; a wrong KEK stops the start with a message naming the key needed.

use std::sync::Arc;

use reqwest::Method;
use serde_json::Value;
use sha2::{Digest, Sha256};

use super::upstream::Reply;
use super::{DEPLOY_KEY, WORKSPACE_KEY, World, body, fixtures};
use crate::harness::appliance::{Appliance, StartOptions, ok_stdout};

async fn claude_call(app: &Appliance, world_token: &str) -> reqwest::Response {
    app.client
        .post(app.url("/gateway/v1/chat/completions"))
        .bearer_auth(world_token)
        .json(&body("claude-test", false, &[]))
        .send()
        .await
        .unwrap()
}

#[tokio::test]
async fn planted_keys_never_leak_and_the_kek_rotates() {
    let world = World::new("").await;
    world.upstream.set(Arc::new(|_, _| {
        Reply::json(200, &fixtures::anthropic_json())
    }));
    let put = world.add_anthropic().await;
    let fingerprint = format!(
        "sha256:{}",
        &hex::encode(Sha256::digest(WORKSPACE_KEY))[..8]
    );
    assert_eq!(put["api_key"]["set"], true);
    assert_eq!(put["api_key"]["fingerprint"], fingerprint.as_str());

    // Secrets requested back through the API: only state and fingerprint.
    let mut answers: Vec<Value> = vec![put];
    for path in ["providers", "providers/claude", "providers/up", "secrets"] {
        answers.push(
            world
                .admin
                .ok(
                    Method::GET,
                    &format!("/api/v1/workspaces/{}/{path}", world.ws),
                    None,
                )
                .await,
        );
    }
    let secrets = answers.last().unwrap().clone();
    assert_eq!(secrets[0]["name"], "provider/claude");
    assert_eq!(secrets[0]["fingerprint"], fingerprint.as_str());
    let token = world.token("claude", "claude-test", &[], 1000);
    assert_eq!(claude_call(&world.app, &token).await.status(), 200);
    assert_eq!(
        world.upstream.requests()[0].header("x-api-key"),
        Some(WORKSPACE_KEY)
    );

    // Rotation of a KEK kept in the store: data keys re-wrapped, the key still works.
    let out = ok_stdout(&world.app.acorn(&["secrets", "rotate-kek"]));
    // The provider key, the run-token signing key and the evidence signing key.
    assert!(out.contains("3 secrets re-wrapped"), "{out}");
    assert_eq!(claude_call(&world.app, &token).await.status(), 200);
    assert_eq!(
        world.upstream.requests()[1].header("x-api-key"),
        Some(WORKSPACE_KEY)
    );

    // configtest prints the inline deployment key masked.
    let config = world.app.state_dir.with_extension("toml");
    let shown = ok_stdout(
        &world
            .app
            .acorn(&["configtest", "--config", config.to_str().unwrap()]),
    );
    assert!(shown.contains("******** (set)"), "{shown}");
    answers.push(Value::String(shown));

    let logs = serde_json::to_string(&world.app.logs()).unwrap();
    for leak in [DEPLOY_KEY, WORKSPACE_KEY] {
        for a in &answers {
            assert!(!a.to_string().contains(leak), "{leak} in {a}");
        }
        assert!(!logs.contains(leak), "{leak} in the logs");
    }

    // The store file holds no key in clear (stopped, so the file is complete).
    let config_text = std::fs::read_to_string(&config).unwrap();
    let World {
        app,
        upstream,
        admin,
        ws,
    } = world;
    let (status, temp, state_dir) = app.stop();
    assert!(status.success());
    let store = std::fs::read(state_dir.join("acorn.redb")).unwrap();
    for leak in [DEPLOY_KEY, WORKSPACE_KEY] {
        assert!(
            !store.windows(leak.len()).any(|w| w == leak.as_bytes()),
            "{leak} in the store file"
        );
    }

    // Moving the KEK to a file: secrets re-wrapped at start, the call still works.
    let kek = state_dir.with_extension("kek");
    std::fs::write(&kek, hex::encode([42u8; 32])).unwrap();
    let with_kek = format!("{config_text}\n").replace(
        "[gateway]\n",
        &format!("[gateway]\nkek_file = \"{}\"\n", kek.display()),
    );
    let app = Appliance::start_with(StartOptions {
        state_dir: Some(state_dir.clone()),
        config: Some(with_kek.clone()),
        ..Default::default()
    })
    .await;
    assert_eq!(claude_call(&app, &token).await.status(), 200);
    drop(app);

    // Another KEK: the appliance refuses to start and says which key the secrets need.
    std::fs::write(&kek, hex::encode([43u8; 32])).unwrap();
    let config_path = state_dir.with_extension("toml");
    std::fs::write(&config_path, &with_kek).unwrap();
    let out = std::process::Command::new(crate::harness::cargo_bin("acorn"))
        .args([
            "serve",
            "--log-format",
            "json",
            "--listen",
            "127.0.0.1:0",
            "--state-dir",
        ])
        .arg(&state_dir)
        .arg("--config")
        .arg(&config_path)
        .env_remove("NOTIFY_SOCKET")
        .output()
        .unwrap();
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("is wrapped with key-encryption key")
            && stderr.contains("configure the KEK"),
        "{stderr}"
    );
    drop((temp, upstream, admin, ws));
}
