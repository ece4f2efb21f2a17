//! Webhooks out and alerts in (issue #10) with real binaries and a real receiver: `acorn`, a
//! Python HTTP receiver that verifies every delivery with the independent `standardwebhooks`
//! package (`tests/peers/webhook_receiver.py`), and for alerts `acorn-agent` against
//! `acorn-kubesim` with a scripted model.
//!
//! Layout:
//! - `delivery`: signed deliveries verified by the reference library, the delivery log, test
//!   events, redelivery, secret rotation with its overlap, kill -9 between commit and delivery,
//!   `Retry-After`, auto-disable with its audit record;
//! - `bad_input`: refused URLs (scheme, metadata, private, DNS rebinding), unreachable, slow,
//!   3xx and 410 endpoints, unknown event types, the subscription limit, bad Alertmanager
//!   payloads and badly signed, stale or replayed inbound webhooks;
//! - `alerts`: an Alertmanager v4 payload starts one read-only investigation of the
//!   CrashLoopBackOff scenario per fingerprint; resolution on the session; a signed webhook
//!   starts a run; a too-large `run.completed` payload carries a link.

mod alerts;
mod bad_input;
mod delivery;

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use reqwest::Method;
use serde_json::{Value, json};

use crate::gateway::{peer, python};
use crate::harness::appliance::{Appliance, StartOptions};
use crate::harness::identity::{User, user, workspace_with};

/// The Python receiver (killed on drop).
pub struct Receiver {
    child: Child,
    pub port: u16,
    client: reqwest::Client,
}

impl Drop for Receiver {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Receiver {
    pub fn start() -> Receiver {
        let mut child = Command::new(python())
            .arg(peer("webhook_receiver.py"))
            .arg("serve")
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("start the webhook receiver");
        let mut line = String::new();
        BufReader::new(child.stdout.take().unwrap())
            .read_line(&mut line)
            .unwrap();
        let port = serde_json::from_str::<Value>(&line).unwrap()["port"]
            .as_u64()
            .unwrap() as u16;
        Receiver {
            child,
            port,
            client: reqwest::Client::new(),
        }
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://127.0.0.1:{}{path}", self.port)
    }

    async fn post(&self, path: &str, body: Value) {
        self.client
            .post(self.url(path))
            .json(&body)
            .send()
            .await
            .unwrap()
            .error_for_status()
            .unwrap();
    }

    /// The secrets the receiver verifies with.
    pub async fn secrets(&self, secrets: &[&str]) {
        self.post("/_secrets", json!(secrets)).await;
    }

    /// Answers for the next deliveries (`{"status", "retry_after", "delay_ms", "location"}`).
    pub async fn script(&self, answers: Value) {
        self.post("/_script", answers).await;
    }

    pub async fn deliveries(&self) -> Vec<Value> {
        self.client
            .get(self.url("/_deliveries"))
            .send()
            .await
            .unwrap()
            .json::<Vec<Value>>()
            .await
            .unwrap()
    }

    /// Waits until `check` holds for the deliveries received (at most `secs`).
    pub async fn wait(
        &self,
        secs: u64,
        what: &str,
        check: impl Fn(&[Value]) -> bool,
    ) -> Vec<Value> {
        let deadline = Instant::now() + Duration::from_secs(secs);
        loop {
            let d = self.deliveries().await;
            if check(&d) {
                return d;
            }
            assert!(
                Instant::now() < deadline,
                "timed out waiting for {what}: {d:#?}"
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
}

/// The payload of a received delivery.
pub fn payload(delivery: &Value) -> Value {
    serde_json::from_str(delivery["body"].as_str().unwrap()).unwrap()
}

/// Deliveries of one event type.
pub fn of_type<'a>(deliveries: &'a [Value], t: &str) -> Vec<&'a Value> {
    deliveries
        .iter()
        .filter(|d| payload(d)["type"] == t)
        .collect()
}

/// Signs `body` with the reference library (for inbound webhooks): the `webhook-signature`.
pub fn sign(secret: &str, id: &str, timestamp: i64, body: &str) -> String {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("body");
    std::fs::write(&file, body).unwrap();
    let out = Command::new(python())
        .arg(peer("webhook_receiver.py"))
        .args(["sign", secret, id, &timestamp.to_string()])
        .arg(&file)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap().trim().to_owned()
}

/// `[webhooks]` for tests: the receiver's loopback address allowed, fast retries.
pub fn config(extra: &str) -> String {
    format!(
        "version = 1\n[webhooks]\nallow_hosts = [\"127.0.0.1\"]\nretry_base = \"200ms\"\nretry_max = \"5s\"\n{extra}\n"
    )
}

/// An appliance with `config`, its owner and a workspace.
pub struct Hooked {
    pub app: Appliance,
    pub owner: User,
    pub ws: String,
}

impl Hooked {
    pub async fn start(config: String) -> Hooked {
        let app = Appliance::start_with(StartOptions {
            config: Some(config),
            ..Default::default()
        })
        .await;
        let owner = user(&app, "owner").await;
        let ws = workspace_with(&owner, "hooks", &[]).await;
        Hooked { app, owner, ws }
    }

    pub fn path(&self, rest: &str) -> String {
        format!("/api/v1/workspaces/{}{rest}", self.ws)
    }
}

/// Subscribes `url` to `types` as `owner`; `(subscription id, secret)`.
pub async fn subscribe(owner: &User, ws: &str, url: &str, types: &[&str]) -> (String, String) {
    let created = owner
        .ok(
            Method::POST,
            &format!("/api/v1/workspaces/{ws}/webhooks"),
            Some(json!({ "url": url, "event_types": types, "description": "tests" })),
        )
        .await;
    (
        created["subscription"]["id"].as_str().unwrap().to_owned(),
        created["secret"].as_str().unwrap().to_owned(),
    )
}

/// Polls the subscription's delivery log until `check` holds.
pub async fn wait_log(
    owner: &User,
    ws: &str,
    sub: &str,
    secs: u64,
    what: &str,
    check: impl Fn(&[Value]) -> bool,
) -> Vec<Value> {
    let deadline = Instant::now() + Duration::from_secs(secs);
    loop {
        let page = owner
            .ok(
                Method::GET,
                &format!("/api/v1/workspaces/{ws}/webhooks/{sub}/deliveries"),
                None,
            )
            .await;
        let items = page["items"].as_array().unwrap().clone();
        if check(&items) {
            return items;
        }
        assert!(
            Instant::now() < deadline,
            "timed out waiting for {what}: {items:#?}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}
