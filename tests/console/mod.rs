//! The management console in a real browser: Debian's chromium driven by npm `playwright-core`
//! (`browser.mjs`), against the real `acorn`, `acorn-agent`, `acorn-kubesim`, the scripted model
//! and the real OpenID provider. The Rust side owns the world (starts agents, restarts the
//! appliance) and sends the browser one step at a time.
//!
//! Screenshots of the main pages are written as `<page>.png` into `$ACORN_SCREENSHOT_DIR`, or
//! `<target dir>/console-screenshots/` (next to the test binary's profile folder).
//!
//! Layout:
//! - `first_run`: setup link, sign-in, workspace, cluster registration and the agent connecting,
//!   the cluster's page (findings, resources, YAML), OpenID Connect sign-in back to the page;
//! - `chat`: a session streamed live (answer, tool steps), a planted `<script>`, approval,
//!   cancel, search → result, a viewer without admin actions, an expired session and back, a
//!   LiveView reconnect across an appliance restart keeping the message box's text;
//! - `demo`: `acorn demo` from its printed login to a connected demo cluster, Ctrl-C, and
//!   SIGKILL leaving no child process running;
//! - `runs`: search filters (cluster, time range) kept in the URL, the audit log's date filter,
//!   chain check and export, runs started elsewhere appearing live, and the message box's
//!   provider/model/limits;
//! - `long_output`: a very long answer and tool result scroll inside their boxes;
//! - `evals`: a model evaluation started on the Models page, its progress, pass rate and report,
//!   and a viewer without evaluations.
//! - `admin`: webhooks (subscription, secret shown once, test delivery, redeliver, rotate,
//!   receivers), cluster settings, agent key rotation and deletion, invitation revoke, member
//!   removal and provider deletion with their confirmations; a planted `<script>` in a
//!   simulated cluster's objects and logs; a keyboard-only sign-in, registration and message.

mod admin;
mod chat;
mod demo;
mod evals;
mod first_run;
mod long_output;
mod runs;

use std::path::PathBuf;
use std::process::Stdio;

use serde_json::{Value, json};
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader, Lines};
use tokio::process::{Child, ChildStdin, ChildStdout, Command};

use crate::harness::identity::PASSWORD;

/// Where screenshots go.
pub fn screenshot_dir() -> PathBuf {
    if let Some(dir) = std::env::var_os("ACORN_SCREENSHOT_DIR") {
        return PathBuf::from(dir);
    }
    // current_exe = <target>/<profile>/deps/integration-<hash>
    let exe = std::env::current_exe().expect("current_exe");
    exe.ancestors()
        .nth(3)
        .map(|t| t.join("console-screenshots"))
        .unwrap_or_else(|| PathBuf::from("console-screenshots"))
}

/// One browser (its own fresh profile), one tab.
pub struct Browser {
    child: Child,
    stdin: ChildStdin,
    stdout: Lines<BufReader<ChildStdout>>,
    _profile: tempfile::TempDir,
}

impl Browser {
    pub async fn start(base: &str) -> Browser {
        crate::harness::oidc_provider::install_npm_peers(env!("CARGO_MANIFEST_DIR"));
        let profile = tempfile::tempdir().unwrap();
        let mut child = Command::new("node")
            .arg("console/browser.mjs")
            .current_dir(env!("CARGO_MANIFEST_DIR"))
            .env("BASE", base)
            .env("SHOTS", screenshot_dir())
            .env("PROFILE", profile.path())
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .kill_on_drop(true)
            .spawn()
            .expect("start node console/browser.mjs");
        let stdin = child.stdin.take().unwrap();
        let stdout = BufReader::new(child.stdout.take().unwrap()).lines();
        Browser {
            child,
            stdin,
            stdout,
            _profile: profile,
        }
    }

    /// Runs one step; `Err` with the browser's message when it failed.
    pub async fn try_step(&mut self, step: Value) -> Result<Value, Value> {
        let mut line = step.to_string();
        line.push('\n');
        self.stdin
            .write_all(line.as_bytes())
            .await
            .expect("write to the browser");
        let answer = self
            .stdout
            .next_line()
            .await
            .expect("read the browser")
            .unwrap_or_else(|| panic!("the browser ended during {step}"));
        let answer: Value = serde_json::from_str(&answer).expect("browser answer is JSON");
        if answer["ok"] == true {
            Ok(answer["value"].clone())
        } else {
            Err(answer)
        }
    }

    /// Runs one step that must succeed.
    pub async fn step(&mut self, step: Value) -> Value {
        match self.try_step(step.clone()).await {
            Ok(v) => v,
            Err(e) => panic!("browser step {step} failed: {e:#}"),
        }
    }

    pub async fn goto(&mut self, path: &str) {
        self.step(json!({ "goto": path })).await;
    }

    /// Waits for `selector` (optionally containing `text`); returns its text.
    pub async fn wait(&mut self, selector: &str, text: Option<&str>) -> String {
        let mut s = json!({ "wait": selector });
        if let Some(t) = text {
            s["text"] = json!(t);
        }
        self.step(s).await.as_str().unwrap_or_default().to_owned()
    }

    pub async fn click(&mut self, selector: &str) {
        self.step(json!({ "click": selector })).await;
    }

    pub async fn fill(&mut self, selector: &str, text: &str) {
        self.step(json!({ "fill": selector, "text": text })).await;
    }

    /// Asserts that nothing matches `selector` (after a short settle).
    pub async fn absent(&mut self, selector: &str) {
        self.step(json!({ "absent": selector })).await;
    }

    pub async fn screenshot(&mut self, name: &str) {
        let path = self.step(json!({ "screenshot": name })).await;
        assert!(
            std::path::Path::new(path.as_str().unwrap()).exists(),
            "{path}"
        );
    }

    /// Signs in through the console's form (the browser is on the sign-in page).
    pub async fn sign_in(&mut self, username: &str) {
        self.wait("form[action='/console/sign-in']", None).await;
        self.fill("input[name=username]", username).await;
        self.fill("input[name=password]", PASSWORD).await;
        self.click("form[action='/console/sign-in'] button[type=submit]")
            .await;
    }

    /// Closes the browser; returns the console errors it saw (CSP violations included).
    pub async fn close(mut self) -> Vec<String> {
        let v = self.step(json!({ "close": true })).await;
        let _ = self.child.wait().await;
        v["problems"]
            .as_array()
            .map(|a| {
                a.iter()
                    .filter_map(|p| p.as_str().map(str::to_owned))
                    .collect()
            })
            .unwrap_or_default()
    }
}

/// Console errors that matter: everything but the expected failed socket reconnects and
/// resources refused while the appliance was down.
pub fn real_problems(problems: &[String]) -> Vec<String> {
    problems
        .iter()
        .filter(|p| {
            !p.contains("WebSocket connection")
                && !p.contains("net::ERR_CONNECTION_REFUSED")
                && !p.contains("Failed to load resource")
        })
        .cloned()
        .collect()
}
