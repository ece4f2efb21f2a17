//! Boots the real `acorn-kubesim` binary for a test: ephemeral port, a kubeconfig in a temp
//! dir, the scenario clock frozen (tests move it with `advance`), killed on drop.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;

use crate::harness;

/// The User-Agent of the tests' own raw requests (not counted as the client under test's).
const TEST_AGENT: &str = "kubesim-tests/1";

pub struct KubeSim {
    child: Child,
    dir: tempfile::TempDir,
    pub url: String,
    http: reqwest::Client,
}

impl KubeSim {
    /// Starts the simulator with extra `serve` arguments (e.g. `["--scenario", "crashloop"]`).
    pub async fn start(args: &[&str]) -> KubeSim {
        let _ = rustls::crypto::ring::default_provider().install_default();
        let dir = tempfile::tempdir().expect("tempdir");
        let kubeconfig = dir.path().join("kubeconfig");
        let child = Command::new(harness::cargo_bin("acorn-kubesim"))
            .args([
                "serve",
                "--listen",
                "127.0.0.1:0",
                "--time-scale",
                "0",
                "--kubeconfig-out",
            ])
            .arg(&kubeconfig)
            .args(args)
            .env("HOME", dir.path())
            .env("ACORN_LOG", "warn")
            .stdout(Stdio::null())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("spawn acorn-kubesim");
        let deadline = Instant::now() + Duration::from_secs(30);
        let url = loop {
            if let Ok(text) = std::fs::read_to_string(&kubeconfig)
                && let Some(line) = text
                    .lines()
                    .find(|l| l.trim_start().starts_with("server: "))
            {
                break line
                    .trim_start()
                    .trim_start_matches("server: ")
                    .trim()
                    .to_string();
            }
            assert!(
                Instant::now() < deadline,
                "acorn-kubesim did not write its kubeconfig"
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        };
        let http = reqwest::Client::builder()
            .user_agent(TEST_AGENT)
            .build()
            .expect("http client");
        KubeSim {
            child,
            dir,
            url,
            http,
        }
    }

    pub fn kubeconfig(&self) -> PathBuf {
        self.dir.path().join("kubeconfig")
    }

    pub fn home(&self) -> &Path {
        self.dir.path()
    }

    /// Runs kubectl against the simulator (its own HOME, so no shared discovery cache).
    pub fn kubectl(&self, args: &[&str]) -> Output {
        Command::new("kubectl")
            .arg("--kubeconfig")
            .arg(self.kubeconfig())
            .args(args)
            .env("HOME", self.dir.path())
            .output()
            .expect("run kubectl")
    }

    /// A kube-rs client built from the written kubeconfig, as the agent would build it.
    pub async fn client(&self) -> kube::Client {
        let kubeconfig =
            kube::config::Kubeconfig::read_from(self.kubeconfig()).expect("read kubeconfig");
        let config = kube::Config::from_custom_kubeconfig(
            kubeconfig,
            &kube::config::KubeConfigOptions::default(),
        )
        .await
        .expect("kube config");
        kube::Client::try_from(config).expect("kube client")
    }

    /// A raw request; returns (status, body text).
    pub async fn request(
        &self,
        method: &str,
        path: &str,
        content_type: Option<&str>,
        body: Option<&str>,
    ) -> (u16, String) {
        let method = reqwest::Method::from_bytes(method.as_bytes()).expect("method");
        let mut req = self.http.request(method, format!("{}{path}", self.url));
        if let Some(ct) = content_type {
            req = req.header("content-type", ct);
        }
        if let Some(body) = body {
            req = req.body(body.to_string());
        }
        let resp = req.send().await.expect("request");
        let status = resp.status().as_u16();
        (status, resp.text().await.expect("body"))
    }

    pub async fn get_json(&self, path: &str) -> Value {
        let (status, body) = self.request("GET", path, None, None).await;
        assert_eq!(status, 200, "GET {path}: {body}");
        serde_json::from_str(&body).expect("json")
    }

    /// An admin call under `/_sim/`.
    pub async fn admin(&self, method: &str, path: &str, body: Option<&str>) {
        let (status, text) = self
            .request(
                method,
                &format!("/_sim/{path}"),
                Some("application/json"),
                body,
            )
            .await;
        assert!(status < 300, "/_sim/{path}: {status} {text}");
    }

    /// Requests with this verb served so far to clients other than the test's own probes.
    pub async fn count(&self, verb: &str) -> u64 {
        let state = self.get_json("/_sim/state").await;
        let all = state["requests"][verb].as_u64().unwrap_or(0);
        let ours = state["requests"][format!("{verb}:kubesim-tests")]
            .as_u64()
            .unwrap_or(0);
        all - ours
    }
}

impl Drop for KubeSim {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Text of a kubectl run: stdout then stderr.
pub fn output_text(out: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

/// Polls `check` until it holds (or panics after `secs`).
pub async fn eventually<F, Fut>(secs: u64, what: &str, mut check: F)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let deadline = Instant::now() + Duration::from_secs(secs);
    while !check().await {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}
