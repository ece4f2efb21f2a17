//! Boots the real `acorn` binary on a temp state dir and an ephemeral loopback port, collects its
//! JSON logs, and hands the test a client that trusts only the appliance's own CA.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Output, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::Value;

use super::cargo_bin;

/// How to start an appliance.
#[derive(Default, Clone)]
pub struct StartOptions {
    /// Reuse this state dir (else a fresh temp dir).
    pub state_dir: Option<PathBuf>,
    /// TOML written to a config file passed with `--config`.
    pub config: Option<String>,
    /// Extra environment variables.
    pub env: Vec<(String, String)>,
    /// Listen on this loopback port instead of a free one (when a peer must know it in advance).
    pub port: Option<u16>,
    /// Run this `acorn` instead of the workspace's (an installed copy, e.g. from the bundle).
    pub binary: Option<PathBuf>,
}

/// A running `acorn serve`.
pub struct Appliance {
    /// Keeps the temp dir alive (None when the caller gave a state dir).
    _temp: Option<tempfile::TempDir>,
    pub state_dir: PathBuf,
    child: Child,
    pub addr: std::net::SocketAddr,
    pub base_url: String,
    logs: Arc<Mutex<Vec<Value>>>,
    pub ca_pem: String,
    pub client: reqwest::Client,
    /// How it was started (the state dir and port filled in), for [`Appliance::restart`].
    options: StartOptions,
}

impl Appliance {
    /// Starts on a fresh state dir with zero configuration.
    pub async fn start() -> Appliance {
        Appliance::start_with(StartOptions::default()).await
    }

    /// Starts with options; waits until the log says it listens.
    pub async fn start_with(options: StartOptions) -> Appliance {
        let (temp, state_dir) = match options.state_dir.clone() {
            Some(dir) => (None, dir),
            None => {
                let temp = tempfile::tempdir().expect("tempdir");
                let dir = temp.path().join("state");
                (Some(temp), dir)
            }
        };
        let mut options = options;
        options.state_dir = Some(state_dir.clone());
        let listen = format!("127.0.0.1:{}", options.port.unwrap_or(0));
        let binary = options.binary.clone().unwrap_or_else(|| cargo_bin("acorn"));
        let mut cmd = Command::new(binary);
        cmd.args([
            "serve",
            "--log-format",
            "json",
            "--listen",
            &listen,
            "--state-dir",
        ])
        .arg(&state_dir);
        if let Some(toml) = &options.config {
            let path = state_dir.with_extension("toml");
            std::fs::create_dir_all(path.parent().unwrap()).unwrap();
            std::fs::write(&path, toml).unwrap();
            cmd.arg("--config").arg(path);
        }
        cmd.env_remove("NOTIFY_SOCKET")
            .env_remove("WATCHDOG_USEC")
            .env("ACORN_LOG_LEVEL", "info");
        for (k, v) in &options.env {
            cmd.env(k, v);
        }
        let mut child = cmd
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn acorn");
        let logs = collect_logs(child.stderr.take().expect("stderr"));
        let listening = wait_for(&logs, &mut child, Duration::from_secs(60), |l| {
            l["message"] == "listening"
        });
        let addr: std::net::SocketAddr = listening["addr"]
            .as_str()
            .expect("addr")
            .parse()
            .expect("addr parses");
        let ca_pem = ca_from_cli(&state_dir);
        let client = pinned_client(&ca_pem);
        Appliance {
            _temp: temp,
            state_dir,
            child,
            addr,
            base_url: format!("https://127.0.0.1:{}", addr.port()),
            logs,
            ca_pem,
            client,
            options: StartOptions {
                port: Some(addr.port()),
                ..options
            },
        }
    }

    /// Kills (SIGKILL: no shutdown at all) and starts again on the same state dir, port and
    /// configuration.
    pub async fn crash_and_restart(&mut self) {
        self.signal("KILL");
        let deadline = Instant::now() + Duration::from_secs(30);
        while self.child.try_wait().unwrap().is_none() {
            assert!(Instant::now() < deadline, "acorn did not die within 30 s");
            std::thread::sleep(Duration::from_millis(20));
        }
        let mut fresh = Appliance::start_with(self.options.clone()).await;
        std::mem::swap(&mut self.child, &mut fresh.child);
        std::mem::swap(&mut self.logs, &mut fresh.logs);
        self.client = fresh.client.clone();
    }

    /// Stops (SIGTERM), runs `between` on the state dir, and starts again like [`Self::restart`].
    pub async fn restart_after(&mut self, between: impl FnOnce(&Path)) {
        self.signal("TERM");
        let deadline = Instant::now() + Duration::from_secs(30);
        while self.child.try_wait().unwrap().is_none() {
            assert!(Instant::now() < deadline, "acorn did not stop within 30 s");
            std::thread::sleep(Duration::from_millis(50));
        }
        between(&self.state_dir);
        let mut fresh = Appliance::start_with(self.options.clone()).await;
        std::mem::swap(&mut self.child, &mut fresh.child);
        std::mem::swap(&mut self.logs, &mut fresh.logs);
        self.client = fresh.client.clone();
    }

    /// Stops (SIGTERM) and starts again on the same state dir, port and configuration.
    pub async fn restart(&mut self) {
        self.signal("TERM");
        let deadline = Instant::now() + Duration::from_secs(30);
        while self.child.try_wait().unwrap().is_none() {
            assert!(Instant::now() < deadline, "acorn did not stop within 30 s");
            std::thread::sleep(Duration::from_millis(50));
        }
        let mut fresh = Appliance::start_with(self.options.clone()).await;
        std::mem::swap(&mut self.child, &mut fresh.child);
        std::mem::swap(&mut self.logs, &mut fresh.logs);
        self.client = fresh.client.clone();
        // `fresh` now holds the exited child; dropping it is harmless.
    }

    /// `base_url` + path.
    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base_url)
    }

    /// All log lines so far.
    pub fn logs(&self) -> Vec<Value> {
        self.logs.lock().unwrap().clone()
    }

    /// Waits for a log line matching `pred`.
    pub fn wait_log(&mut self, timeout: Duration, pred: impl Fn(&Value) -> bool) -> Value {
        wait_for(&self.logs, &mut self.child, timeout, pred)
    }

    /// The setup link printed at start, if any.
    pub fn setup_url(&self) -> Option<String> {
        self.logs()
            .iter()
            .find_map(|l| l["setup_url"].as_str().map(str::to_owned))
    }

    /// Runs another `acorn` verb on this appliance's state dir.
    pub fn acorn(&self, args: &[&str]) -> Output {
        acorn(&self.state_dir, args)
    }

    /// Sends a signal (`HUP`, `TERM`, `KILL`).
    pub fn signal(&self, name: &str) {
        let status = Command::new("kill")
            .arg(format!("-{name}"))
            .arg(self.child.id().to_string())
            .status()
            .unwrap();
        assert!(status.success(), "kill -{name} failed");
    }

    /// SIGTERM, then waits for exit; returns the exit status and keeps the state dir.
    pub fn stop(mut self) -> (ExitStatus, Option<tempfile::TempDir>, PathBuf) {
        self.signal("TERM");
        let deadline = Instant::now() + Duration::from_secs(30);
        let status = loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                break status;
            }
            assert!(
                Instant::now() < deadline,
                "acorn did not stop within 30 s of SIGTERM"
            );
            std::thread::sleep(Duration::from_millis(50));
        };
        (status, self._temp.take(), self.state_dir.clone())
    }
}

impl Drop for Appliance {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Runs `acorn ARGS --state-dir DIR` to completion.
pub fn acorn(state_dir: &Path, args: &[&str]) -> Output {
    Command::new(cargo_bin("acorn"))
        .args(args)
        .arg("--state-dir")
        .arg(state_dir)
        .env_remove("NOTIFY_SOCKET")
        .output()
        .expect("run acorn")
}

/// stdout of a successful run, or a panic with both streams.
pub fn ok_stdout(output: &Output) -> String {
    assert!(
        output.status.success(),
        "acorn failed ({}):\nstdout: {}\nstderr: {}",
        output.status,
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8_lossy(&output.stdout).into_owned()
}

/// `acorn cert show --json` on a state dir.
pub fn cert_info(state_dir: &Path) -> Value {
    serde_json::from_str(&ok_stdout(&acorn(state_dir, &["cert", "show", "--json"])))
        .expect("cert json")
}

fn ca_from_cli(state_dir: &Path) -> String {
    cert_info(state_dir)["ca_pem"]
        .as_str()
        .expect("ca_pem")
        .to_owned()
}

/// A client that trusts only `ca_pem` (no system roots) and exposes the peer certificate.
pub fn pinned_client(ca_pem: &str) -> reqwest::Client {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let ca = reqwest::Certificate::from_pem(ca_pem.as_bytes()).expect("CA PEM");
    reqwest::Client::builder()
        .tls_certs_only([ca])
        .tls_info(true)
        .redirect(reqwest::redirect::Policy::none())
        .timeout(Duration::from_secs(30))
        .build()
        .expect("client")
}

/// A free loopback port (for peers that must know the appliance's address before it starts).
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// DER of the leaf the server presented on this response.
pub fn peer_leaf(response: &reqwest::Response) -> Vec<u8> {
    response
        .extensions()
        .get::<reqwest::tls::TlsInfo>()
        .and_then(|i| i.peer_certificate())
        .expect("tls info")
        .to_vec()
}

pub fn collect_logs(stderr: impl std::io::Read + Send + 'static) -> Arc<Mutex<Vec<Value>>> {
    let logs = Arc::new(Mutex::new(Vec::new()));
    let sink = Arc::clone(&logs);
    std::thread::spawn(move || {
        for line in BufReader::new(stderr).lines() {
            let Ok(line) = line else { break };
            let value = serde_json::from_str(&line)
                .unwrap_or_else(|_| serde_json::json!({ "message": line, "raw": true }));
            sink.lock().unwrap().push(value);
        }
    });
    logs
}

pub fn wait_for(
    logs: &Arc<Mutex<Vec<Value>>>,
    child: &mut Child,
    timeout: Duration,
    pred: impl Fn(&Value) -> bool,
) -> Value {
    let deadline = Instant::now() + timeout;
    loop {
        if let Some(found) = logs.lock().unwrap().iter().find(|l| pred(l)) {
            return found.clone();
        }
        if let Some(status) = child.try_wait().unwrap() {
            std::thread::sleep(Duration::from_millis(100));
            panic!(
                "acorn exited ({status}) before the expected log line; logs:\n{:#?}",
                logs.lock().unwrap()
            );
        }
        assert!(
            Instant::now() < deadline,
            "timed out waiting for a log line; logs:\n{:#?}",
            logs.lock().unwrap()
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}
