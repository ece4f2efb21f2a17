//! Upgrades with the real binary: `acorn upgrade-check`, then `acorn serve` on a copy of each
//! fixture store written by the `acorn` of an earlier schema (`store/fixtures/appliance-schema-N`,
//! made by `make_appliance_fixture.py`, see the README there): a backup of the old store comes
//! first, the migration follows, and everything the old appliance held is still served — the
//! administrator signs in with the old password, agents' CA pin is the same, the workspace, API
//! token, cluster and provider are there. A store from a newer Acorn is refused, unchanged.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use reqwest::Method;
use serde_json::{Value, json};
use sha2::{Digest, Sha256};

use crate::harness::appliance::{Appliance, StartOptions, acorn, cert_info, ok_stdout};
use crate::harness::cargo_bin;
use crate::harness::identity::{send, session_cookie};

const CURRENT: u32 = acorn_store::SCHEMA_VERSION;

struct Fixture {
    schema: u32,
    store: PathBuf,
    facts: Value,
}

/// `store/fixtures/appliance-schema-N.{redb,json}`, by N.
fn fixtures() -> Vec<Fixture> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../store/fixtures");
    let mut out: Vec<Fixture> = std::fs::read_dir(&dir)
        .unwrap()
        .filter_map(|e| {
            let path = e.unwrap().path();
            let name = path.file_name()?.to_str()?.to_owned();
            let n = name
                .strip_prefix("appliance-schema-")?
                .strip_suffix(".redb")?
                .parse()
                .ok()?;
            let facts =
                serde_json::from_slice(&std::fs::read(path.with_extension("json")).ok()?).ok()?;
            Some(Fixture {
                schema: n,
                store: path,
                facts,
            })
        })
        .collect();
    out.sort_by_key(|f| f.schema);
    out
}

fn sha256_hex(path: &Path) -> String {
    hex::encode(Sha256::digest(std::fs::read(path).unwrap()))
}

#[test]
fn every_earlier_schema_has_a_fixture_store_written_by_its_own_binary() {
    let have: Vec<u32> = fixtures().iter().map(|f| f.schema).collect();
    let want: Vec<u32> = (1..CURRENT).collect();
    for n in &want {
        assert!(
            have.contains(n),
            "no store/fixtures/appliance-schema-{n}.redb: make it with the acorn of schema {n} \
             (store/fixtures/README.md) before changing the schema again"
        );
    }
    for f in fixtures() {
        assert_eq!(f.facts["schema_version"], f.schema);
        assert!(
            f.facts["made_by"]["commit"].is_string(),
            "schema {} records its commit",
            f.schema
        );
    }
}

/// Signs in as the fixture's administrator; returns (cookie, csrf).
async fn login(app: &Appliance, facts: &Value) -> (String, String) {
    let response = app
        .client
        .post(app.url("/api/v1/auth/login"))
        .json(&json!({
            "username": facts["admin"]["username"],
            "password": facts["admin"]["password"],
        }))
        .send()
        .await
        .unwrap();
    assert_eq!(
        response.status(),
        200,
        "the old administrator's password still works"
    );
    let cookie = session_cookie(&response).expect("session cookie");
    let me: Value = response.json().await.unwrap();
    (cookie, me["csrf_token"].as_str().unwrap().to_owned())
}

async fn get(app: &Appliance, session: &(String, String), path: &str) -> Value {
    let answer = send(
        &app.client,
        Method::GET,
        &app.url(path),
        None,
        Some(&session.0),
        Some(&session.1),
        None,
    )
    .await;
    assert!(
        answer.status.is_success(),
        "GET {path}: {} {}",
        answer.status,
        answer.body
    );
    answer.body
}

#[tokio::test]
async fn fixture_stores_of_every_earlier_schema_upgrade_with_a_backup_first() {
    let fixtures: Vec<Fixture> = fixtures()
        .into_iter()
        .filter(|f| f.schema < CURRENT)
        .collect();
    assert!(!fixtures.is_empty());
    for f in fixtures {
        let n = f.schema;
        let temp = tempfile::tempdir().unwrap();
        let state = temp.path().join("state");
        std::fs::create_dir(&state).unwrap();
        std::fs::copy(&f.store, state.join("acorn.redb")).unwrap();

        // What the new binary says before it touches anything.
        let text = ok_stdout(&acorn(&state, &["upgrade-check"]));
        assert!(
            text.contains(&format!("from schema {n} to {CURRENT}")),
            "{text}"
        );
        for k in n..CURRENT {
            assert!(
                text.contains(&format!("  {k} -> {}: ", k + 1)),
                "step {k}: {text}"
            );
        }
        assert!(text.contains("pre-upgrade-"), "{text}");
        let plan: Value =
            serde_json::from_str(&ok_stdout(&acorn(&state, &["upgrade-check", "--json"]))).unwrap();
        assert_eq!(plan["plan"]["action"], "migrate");
        assert_eq!(plan["plan"]["from"], n);
        assert_eq!(plan["plan"]["to"], CURRENT);
        assert_eq!(
            sha256_hex(&state.join("acorn.redb")),
            sha256_hex(&f.store),
            "upgrade-check writes nothing"
        );

        // The upgrade itself: start the current binary on it.
        let mut app = Appliance::start_with(StartOptions {
            state_dir: Some(state.clone()),
            ..Default::default()
        })
        .await;
        let upgraded = app.wait_log(Duration::from_secs(10), |l| {
            l["message"] == "store upgraded; the backup holds the store as it was"
        });
        assert_eq!(
            (upgraded["from"].as_u64(), upgraded["to"].as_u64()),
            (Some(n.into()), Some(CURRENT.into()))
        );
        let ready = app.client.get(app.url("/readyz")).send().await.unwrap();
        assert_eq!(ready.status(), 200, "schema {n}");

        // The backup taken before the migration is the old store, and verifies as one.
        let backups: Vec<PathBuf> = std::fs::read_dir(state.join("backups"))
            .unwrap()
            .map(|e| e.unwrap().path())
            .filter(|p| p.extension().is_some_and(|e| e == "redb"))
            .collect();
        assert_eq!(backups.len(), 1, "{backups:?}");
        let name = backups[0].file_name().unwrap().to_str().unwrap();
        assert!(
            name.starts_with(&format!("pre-upgrade-{n}-to-{CURRENT}-")),
            "{name}"
        );
        assert_eq!(
            upgraded["backup"].as_str(),
            Some(backups[0].to_str().unwrap())
        );
        let verify = ok_stdout(&acorn(&state, &["verify", backups[0].to_str().unwrap()]));
        assert!(
            verify.contains(&format!("ok: schema version {n}")),
            "{verify}"
        );

        // Everything the old appliance held is served by the new one.
        assert_eq!(
            cert_info(&state)["ca_sha256"],
            f.facts["ca_sha256"],
            "the appliance CA (the agents' pin) is the old one"
        );
        let session = login(&app, &f.facts).await;
        if n >= 2 {
            let ws = f.facts["workspace"]["id"].as_str().unwrap();
            let list = get(&app, &session, "/api/v1/workspaces").await.to_string();
            assert!(list.contains(ws), "workspace {ws} in {list}");
            let tokens = get(&app, &session, &format!("/api/v1/workspaces/{ws}/tokens"))
                .await
                .to_string();
            let token = f.facts["api_token"]["id"].as_str().unwrap();
            assert!(tokens.contains(token), "API token {token} in {tokens}");
            let audit = get(
                &app,
                &session,
                &format!("/api/v1/workspaces/{ws}/audit/verify"),
            )
            .await;
            assert_eq!(audit["intact"], true, "the audit chain verifies: {audit}");
        }
        if n >= 3 {
            let ws = f.facts["workspace"]["id"].as_str().unwrap();
            let cluster = f.facts["cluster"]["id"].as_str().unwrap();
            let one = get(
                &app,
                &session,
                &format!("/api/v1/workspaces/{ws}/clusters/{cluster}"),
            )
            .await;
            assert_eq!(one["name"], f.facts["cluster"]["name"]);
        }
        if n >= 4 {
            let ws = f.facts["workspace"]["id"].as_str().unwrap();
            let provider = get(
                &app,
                &session,
                &format!("/api/v1/workspaces/{ws}/providers/local"),
            )
            .await;
            assert_eq!(provider["api_key"]["set"], true, "{provider}");
        }
        if n >= 5 {
            let ws = f.facts["workspace"]["id"].as_str().unwrap();
            let want = &f.facts["run"];
            let run_id = want["run_id"].as_str().unwrap();
            let run = get(
                &app,
                &session,
                &format!("/api/v1/workspaces/{ws}/runs/{run_id}"),
            )
            .await;
            assert_eq!(run["state"], want["state"], "{run}");
            assert_eq!(run["session_id"], want["session_id"], "{run}");
            let events = get(
                &app,
                &session,
                &format!("/api/v1/workspaces/{ws}/runs/{run_id}/events"),
            )
            .await;
            assert_eq!(
                events.as_array().map(|e| e.len() as u64),
                want["events"].as_u64(),
                "{events}"
            );
            let settings = get(
                &app,
                &session,
                &format!("/api/v1/workspaces/{ws}/run-settings"),
            )
            .await;
            assert_eq!(settings["settings"]["model"], "llama3.1:8b", "{settings}");
        }
        if n >= 6 {
            let ws = f.facts["workspace"]["id"].as_str().unwrap();
            let hook = &f.facts["webhook"];
            let subs = get(&app, &session, &format!("/api/v1/workspaces/{ws}/webhooks")).await;
            assert_eq!(subs[0]["id"], hook["id"], "{subs}");
            assert_eq!(subs[0]["url"], hook["url"], "{subs}");
            let receivers = get(
                &app,
                &session,
                &format!("/api/v1/workspaces/{ws}/alert-receivers"),
            )
            .await;
            assert_eq!(receivers[0]["id"], hook["receiver_id"], "{receivers}");
        }
        let (status, _, _) = app.stop();
        assert!(status.success());

        let after = ok_stdout(&acorn(&state, &["upgrade-check"]));
        assert!(after.contains("up to date"), "{after}");
        let verify = ok_stdout(&acorn(&state, &["verify"]));
        assert!(
            verify.contains(&format!("ok: schema version {CURRENT}")),
            "{verify}"
        );
    }
}

#[tokio::test]
async fn upgrade_check_asks_a_running_server_for_a_snapshot() {
    let app = Appliance::start().await;
    let out = ok_stdout(&app.acorn(&["upgrade-check"]));
    assert!(out.contains("held by a running server"), "{out}");
    assert!(out.contains("up to date"), "{out}");
    let leftovers: Vec<_> = std::fs::read_dir(&app.state_dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .filter(|n| n.starts_with("upgrade-check-"))
        .collect();
    assert!(leftovers.is_empty(), "{leftovers:?}");
}

#[tokio::test]
async fn a_store_from_a_newer_acorn_is_refused_by_upgrade_check_and_at_start() {
    let app = Appliance::start().await;
    let (_, temp, state) = app.stop();
    let _temp = temp;
    let store = state.join("acorn.redb");
    acorn_store::testing::set_schema_version(&store, CURRENT + 1, "99.0.0").unwrap();
    let before = sha256_hex(&store);

    let check = acorn(&state, &["upgrade-check"]);
    assert_eq!(check.status.code(), Some(1));
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&check.stdout),
        String::from_utf8_lossy(&check.stderr)
    );
    for want in [
        format!("schema {}", CURRENT + 1),
        "last written by acorn 99.0.0".to_owned(),
        "downgrades are not possible".to_owned(),
        "refused".to_owned(),
    ] {
        assert!(text.contains(&want), "{want:?} not in:\n{text}");
    }
    let json = acorn(&state, &["upgrade-check", "--json"]);
    let plan: Value = serde_json::from_slice(&json.stdout).unwrap();
    assert_eq!(plan["plan"]["action"], "refuse");

    // `acorn serve` refuses it too, at once, and leaves it as it was.
    let mut serve = Command::new(cargo_bin("acorn"))
        .args(["serve", "--listen", "127.0.0.1:0", "--state-dir"])
        .arg(&state)
        .env_remove("NOTIFY_SOCKET")
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(30);
    let status = loop {
        if let Some(status) = serve.try_wait().unwrap() {
            break status;
        }
        if Instant::now() > deadline {
            let _ = serve.kill();
            panic!("acorn serve started on a store of a newer schema");
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    assert!(!status.success());
    let mut stderr = String::new();
    std::io::Read::read_to_string(&mut serve.stderr.take().unwrap(), &mut stderr).unwrap();
    assert!(
        stderr.contains("99.0.0") && stderr.contains(&format!("schema version {}", CURRENT + 1)),
        "{stderr}"
    );
    assert_eq!(sha256_hex(&store), before);
    assert!(!state.join("backups").exists(), "no backup, no migration");
}
