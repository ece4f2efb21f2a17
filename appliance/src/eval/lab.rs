//! The eval's private lab: an `acorn serve` of its own on a temporary state directory (the
//! operator's config, so the same providers, engine and gateway), and per scenario the
//! Kubernetes simulator with that scenario and a real `acorn-agent` linked to it. The eval talks
//! to the appliance through its public API only, like an operator would.

use std::collections::VecDeque;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use reqwest::Method;
use serde_json::{Value, json};
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::{Child, Command};
use tokio::sync::watch;

use super::scenario::Scenario;

/// The binaries a lab runs.
#[derive(Debug, Clone)]
pub struct Binaries {
    pub acorn: PathBuf,
    pub agent: PathBuf,
    pub kubesim: PathBuf,
}

impl Binaries {
    /// `acorn` is this executable; the others come from the flags, else next to it, else from
    /// the bundle's install layout (`<prefix>/share/acorn/bin/`, beside `<prefix>/bin/acorn`),
    /// else PATH.
    pub fn find(agent: Option<PathBuf>, kubesim: Option<PathBuf>) -> Result<Binaries, LabError> {
        let acorn = std::env::current_exe().map_err(|e| LabError::Binary {
            name: "acorn",
            message: e.to_string(),
        })?;
        let locate = |flag: Option<PathBuf>, name: &'static str| -> Result<PathBuf, LabError> {
            if let Some(path) = flag {
                return match path.is_file() {
                    true => Ok(path),
                    false => Err(LabError::Binary {
                        name,
                        message: format!("{} is not a file", path.display()),
                    }),
                };
            }
            let beside = acorn.with_file_name(name);
            if beside.is_file() {
                return Ok(beside);
            }
            let installed = acorn
                .parent()
                .and_then(Path::parent)
                .map(|prefix| prefix.join("share/acorn/bin").join(name));
            if let Some(path) = installed.filter(|p| p.is_file()) {
                return Ok(path);
            }
            std::env::var_os("PATH")
                .iter()
                .flat_map(std::env::split_paths)
                .map(|dir| dir.join(name))
                .find(|p| p.is_file())
                .ok_or(LabError::Binary {
                    name,
                    message: format!(
                        "not next to {} nor on PATH; pass its path with --{}",
                        acorn.display(),
                        name.trim_start_matches("acorn-")
                    ),
                })
        };
        Ok(Binaries {
            agent: locate(agent, "acorn-agent")?,
            kubesim: locate(kubesim, "acorn-kubesim")?,
            acorn,
        })
    }
}

#[derive(Debug, thiserror::Error)]
pub enum LabError {
    #[error("{name}: {message}")]
    Binary { name: &'static str, message: String },
    #[error("starting {what}: {message}")]
    Start { what: String, message: String },
    #[error("{method} {path}: HTTP {status} {code}: {message}")]
    Api {
        method: Method,
        path: String,
        status: u16,
        code: String,
        message: String,
    },
    #[error("talking to the lab's appliance: {0}")]
    Http(#[from] reqwest::Error),
    #[error("{0}")]
    Io(#[from] std::io::Error),
    #[error("timed out after {seconds} s waiting for {what}")]
    Timeout { what: String, seconds: u64 },
}

impl LabError {
    /// The API's error code, when the appliance refused a request.
    pub fn code(&self) -> Option<&str> {
        match self {
            LabError::Api { code, .. } => Some(code),
            _ => None,
        }
    }
}

/// The lab's appliance, signed in as its administrator, with one workspace.
pub struct Lab {
    child: Child,
    // Removed on drop, with the store, the state and the scenario clusters' files.
    dir: tempfile::TempDir,
    base: String,
    http: reqwest::Client,
    cookie: String,
    csrf: String,
    pub workspace: String,
    bins: Binaries,
}

const PASSWORD_BYTES: usize = 24;

impl Lab {
    /// Starts `acorn serve` with `config` (and nothing from `ACORN_*` variables) on a fresh
    /// state directory and signs in.
    pub async fn start(bins: Binaries, config: &Path) -> Result<Lab, LabError> {
        let dir = tempfile::Builder::new().prefix("acorn-eval-").tempdir()?;
        let state = dir.path().join("state");
        let mut cmd = Command::new(&bins.acorn);
        for (name, _) in std::env::vars_os() {
            if name.to_string_lossy().starts_with("ACORN_") {
                cmd.env_remove(name);
            }
        }
        cmd.arg("serve")
            .arg("--config")
            .arg(config)
            .arg("--state-dir")
            .arg(&state)
            .args(["--listen", "127.0.0.1:0", "--log-format", "json"])
            .env("ACORN_LOG_LEVEL", "info")
            // Not the systemd service: the lab must not notify or feed a watchdog.
            .env_remove("NOTIFY_SOCKET")
            .env_remove("WATCHDOG_USEC")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .kill_on_drop(true);
        let mut child = cmd.spawn().map_err(|e| LabError::Start {
            what: format!("{} serve", bins.acorn.display()),
            message: e.to_string(),
        })?;
        let logs = Arc::new(Mutex::new(VecDeque::new()));
        let (ready_tx, mut ready) = watch::channel((None::<String>, None::<String>));
        if let Some(stderr) = child.stderr.take() {
            tokio::spawn(follow_logs(stderr, Arc::clone(&logs), ready_tx));
        }
        let deadline = Instant::now() + Duration::from_secs(60);
        let (addr, setup_url) = loop {
            if let (Some(addr), Some(url)) = ready.borrow().clone() {
                break (addr, url);
            }
            if let Ok(Some(status)) = child.try_wait() {
                return Err(LabError::Start {
                    what: "the lab's appliance".into(),
                    message: format!("exited with {status}: {}", tail(&logs)),
                });
            }
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return Err(LabError::Start {
                    what: "the lab's appliance".into(),
                    message: format!("not listening after 60 s: {}", tail(&logs)),
                });
            }
            let _ =
                tokio::time::timeout(left.min(Duration::from_millis(500)), ready.changed()).await;
        };
        let ca_pem = ca_of(&bins.acorn, &state).await?;
        let http = reqwest::Client::builder()
            .tls_certs_only(reqwest::Certificate::from_pem_bundle(ca_pem.as_bytes())?)
            .redirect(reqwest::redirect::Policy::none())
            .timeout(Duration::from_secs(60))
            .build()?;
        let mut lab = Lab {
            child,
            dir,
            base: format!("https://{addr}"),
            http,
            cookie: String::new(),
            csrf: String::new(),
            workspace: String::new(),
            bins,
        };
        lab.sign_in(&setup_url).await?;
        Ok(lab)
    }

    /// Redeems the setup link, signs in, and creates the eval's workspace.
    async fn sign_in(&mut self, setup_url: &str) -> Result<(), LabError> {
        let token = setup_url.rsplit('/').next().unwrap_or_default();
        let password = crate::util::random_token()
            .chars()
            .take(PASSWORD_BYTES)
            .collect::<String>();
        self.call(
            Method::POST,
            "/api/v1/setup",
            Some(json!({"token": token, "username": "eval", "password": password})),
        )
        .await?;
        let resp = self
            .http
            .post(format!("{}/api/v1/auth/login", self.base))
            .json(&json!({"username": "eval", "password": password}))
            .send()
            .await?;
        let cookie = resp
            .headers()
            .get_all("set-cookie")
            .iter()
            .filter_map(|v| v.to_str().ok())
            .find_map(|c| c.strip_prefix("__Host-acorn_session="))
            .map(|c| c.split(';').next().unwrap_or_default().to_owned());
        let body: Value = resp.json().await?;
        self.cookie = cookie.ok_or_else(|| LabError::Start {
            what: "a session".into(),
            message: "the login answer set no session cookie".into(),
        })?;
        self.csrf = body["csrf_token"].as_str().unwrap_or_default().to_owned();
        let ws = self
            .call(
                Method::POST,
                "/api/v1/workspaces",
                Some(json!({"name": "eval"})),
            )
            .await?;
        self.workspace = ws["id"].as_str().unwrap_or_default().to_owned();
        Ok(())
    }

    /// One API call; a refusal becomes [`LabError::Api`] with the API's code and message.
    pub async fn call(
        &self,
        method: Method,
        path: &str,
        body: Option<Value>,
    ) -> Result<Value, LabError> {
        let mut req = self
            .http
            .request(method.clone(), format!("{}{path}", self.base));
        if !self.cookie.is_empty() {
            req = req
                .header("cookie", format!("__Host-acorn_session={}", self.cookie))
                .header("x-csrf-token", &self.csrf);
        }
        if let Some(body) = body {
            req = req.json(&body);
        }
        let resp = req.send().await?;
        let status = resp.status().as_u16();
        let text = resp.text().await?;
        let value: Value = serde_json::from_str(&text).unwrap_or(Value::Null);
        if status >= 400 {
            return Err(LabError::Api {
                method,
                path: path.to_owned(),
                status,
                code: value["error"]["code"].as_str().unwrap_or("?").to_owned(),
                message: value["error"]["message"]
                    .as_str()
                    .unwrap_or(&text)
                    .to_owned(),
            });
        }
        Ok(value)
    }

    /// `/api/v1/workspaces/{ws}` + `rest`.
    pub fn path(&self, rest: &str) -> String {
        format!("/api/v1/workspaces/{}{rest}", self.workspace)
    }

    /// Registers a cluster for `scenario`, starts its simulator and agent, and waits until the
    /// agent is linked, the snapshot stored and the analyzers have looked at it.
    pub async fn link(&self, scenario: &Scenario) -> Result<Linked, LabError> {
        let registered = self
            .call(
                Method::POST,
                &self.path("/clusters"),
                Some(json!({"name": cluster_name(&scenario.name), "logs_allowed": true})),
            )
            .await?;
        let cluster_id = registered["cluster"]["id"]
            .as_str()
            .unwrap_or_default()
            .to_owned();
        let key = registered["agent_key"]
            .as_str()
            .unwrap_or_default()
            .to_owned();
        let dir = self.dir.path().join("clusters").join(&cluster_id);
        std::fs::create_dir_all(&dir)?;
        let kubeconfig = dir.join("kubeconfig");
        let mut linked = Linked {
            cluster_id,
            children: Vec::new(),
        };
        linked.children.push(
            self.spawn(
                "acorn-kubesim",
                Command::new(&self.bins.kubesim)
                    .arg("serve")
                    .arg("--scenario-dir")
                    .arg(&scenario.dir)
                    .arg("--kubeconfig-out")
                    .arg(&kubeconfig),
            )?,
        );
        wait_until("the simulator's kubeconfig", 30, || async {
            Ok(kubeconfig.is_file())
        })
        .await?;
        let ca_file = dir.join("ca.pem");
        std::fs::write(
            &ca_file,
            ca_of(&self.bins.acorn, &self.dir.path().join("state")).await?,
        )?;
        linked.children.push(
            self.spawn(
                "acorn-agent",
                Command::new(&self.bins.agent)
                    .env_clear()
                    .env("PATH", std::env::var_os("PATH").unwrap_or_default())
                    .env("ACORN_AGENT_APPLIANCE_URL", &self.base)
                    .env("ACORN_AGENT_CA_FILE", &ca_file)
                    .env("ACORN_AGENT_KEY", &key)
                    .env("ACORN_AGENT_KUBECONFIG", &kubeconfig)
                    .env("ACORN_AGENT_HEALTH_LISTEN", "127.0.0.1:0")
                    .env("ACORN_AGENT_LOGS_ALLOWED", "true")
                    .env("POD_NAME", "acorn-agent-eval")
                    .env("POD_NAMESPACE", "acorn-system"),
            )?,
        );
        let path = self.path(&format!("/clusters/{}", linked.cluster_id));
        // Linked, a complete snapshot, and findings evaluated after it: the run then starts
        // with the same context (summary, unhealthy pods, open findings) a user's run gets.
        wait_until("the agent's link and the first analysis", 90, || async {
            let c = self.call(Method::GET, &path, None).await?;
            let complete = c["snapshot"]["complete_at"].as_str();
            let evaluated = c["findings_evaluated_at"].as_str();
            Ok(c["status"] == "connected"
                && matches!((complete, evaluated), (Some(s), Some(f)) if f >= s))
        })
        .await?;
        Ok(linked)
    }

    fn spawn(&self, what: &str, cmd: &mut Command) -> Result<Child, LabError> {
        cmd.stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .kill_on_drop(true)
            .spawn()
            .map_err(|e| LabError::Start {
                what: what.to_owned(),
                message: e.to_string(),
            })
    }

    /// Stops the appliance; its store goes with the temporary directory.
    pub async fn stop(mut self) {
        let _ = self.child.kill().await;
    }
}

/// A scenario's cluster while its simulator and agent run; both stop on drop.
pub struct Linked {
    pub cluster_id: String,
    children: Vec<Child>,
}

impl Linked {
    pub async fn stop(mut self) {
        for child in self.children.iter_mut().rev() {
            let _ = child.kill().await;
        }
    }
}

/// Cluster names are `[a-z0-9-]`, at most 63 characters.
fn cluster_name(scenario: &str) -> String {
    let clean: String = scenario
        .to_lowercase()
        .chars()
        .map(|c| if c.is_ascii_alphanumeric() { c } else { '-' })
        .collect();
    format!("eval-{}", clean.trim_matches('-'))
        .chars()
        .take(63)
        .collect()
}

/// Polls `check` every 200 ms until it says yes; API errors end the wait.
pub async fn wait_until<F, Fut>(what: &str, seconds: u64, check: F) -> Result<(), LabError>
where
    F: Fn() -> Fut,
    Fut: std::future::Future<Output = Result<bool, LabError>>,
{
    let deadline = Instant::now() + Duration::from_secs(seconds);
    loop {
        if check().await? {
            return Ok(());
        }
        if Instant::now() >= deadline {
            return Err(LabError::Timeout {
                what: what.to_owned(),
                seconds,
            });
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// The appliance CA, as `acorn cert show --json` prints it.
async fn ca_of(acorn: &Path, state: &Path) -> Result<String, LabError> {
    let out = Command::new(acorn)
        .args(["cert", "show", "--json", "--state-dir"])
        .arg(state)
        .stdin(Stdio::null())
        .output()
        .await?;
    let shown: Value = serde_json::from_slice(&out.stdout).unwrap_or(Value::Null);
    shown["ca_pem"]
        .as_str()
        .map(str::to_owned)
        .ok_or_else(|| LabError::Start {
            what: "reading the lab's CA".into(),
            message: String::from_utf8_lossy(&out.stderr).trim().to_owned(),
        })
}

/// Keeps the last log lines and reports the listening address and the setup link.
async fn follow_logs(
    stderr: tokio::process::ChildStderr,
    logs: Arc<Mutex<VecDeque<String>>>,
    ready: watch::Sender<(Option<String>, Option<String>)>,
) {
    let mut lines = BufReader::new(stderr).lines();
    while let Ok(Some(line)) = lines.next_line().await {
        if let Ok(v) = serde_json::from_str::<Value>(&line) {
            if v["message"] == "listening"
                && let Some(addr) = v["addr"].as_str()
            {
                ready.send_modify(|r| r.0 = Some(addr.to_owned()));
            }
            if let Some(url) = v["setup_url"].as_str() {
                ready.send_modify(|r| r.1 = Some(url.to_owned()));
            }
        }
        if let Ok(mut logs) = logs.lock() {
            if logs.len() == 20 {
                logs.pop_front();
            }
            logs.push_back(line);
        }
    }
}

fn tail(logs: &Mutex<VecDeque<String>>) -> String {
    logs.lock()
        .map(|l| l.iter().cloned().collect::<Vec<_>>().join("\n"))
        .unwrap_or_default()
}
