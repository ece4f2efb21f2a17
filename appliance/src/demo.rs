//! `acorn demo`: a whole Acorn on this machine in one command, for a first look. It starts
//! the appliance on a temporary state directory (in this process, with the console marked as
//! a demo on every page), the Kubernetes API simulator with its scenario library
//! (`acorn-kubesim`, a child process), and an agent connected to it (`acorn-agent`, a child
//! process); creates a demo administrator and workspace through the same public interfaces an
//! operator uses (the local socket's recovery link, the setup and sign-in API, registration),
//! and prints the URL and the login. With `ACORN_DEMO_OPENAI_BASE_URL` (and optionally
//! `ACORN_DEMO_MODEL`, `ACORN_DEMO_API_KEY`) it configures that OpenAI-compatible server as the
//! workspace's model; without one it says so and the cluster and its findings still work.
//!
//! Binaries: `--kubesim` / `--agent`, else next to the `acorn` binary, else on `PATH`.
//! Ctrl-C stops everything and deletes the temporary state. The two children also stop when
//! the demo dies without cleaning up (SIGKILL): their stdin is a pipe from the demo, and they
//! are started with the hidden `--exit-on-stdin-eof`.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::{Duration, Instant};

use anyhow::{Context, anyhow, bail};
use serde_json::{Value, json};

use acorn_proto::ops::{LocalRequest, LocalResponse};

use crate::config::{self, LogFormat, Overrides};
use crate::console::{Console, DemoLogin};

/// `acorn demo` arguments.
#[derive(clap::Args, Debug)]
pub struct DemoArgs {
    /// Address of the console and API (port 0 picks a free port).
    #[arg(long, value_name = "ADDR:PORT", default_value = "127.0.0.1:8443")]
    pub listen: SocketAddr,
    /// The `acorn-kubesim` binary (default: next to `acorn`, else on PATH).
    #[arg(long, value_name = "FILE")]
    pub kubesim: Option<PathBuf>,
    /// The `acorn-agent` binary (default: next to `acorn`, else on PATH).
    #[arg(long, value_name = "FILE")]
    pub agent: Option<PathBuf>,
    /// Scenarios of the simulator's library to load (repeatable; default: all of them).
    #[arg(long = "scenario", value_name = "NAME")]
    pub scenarios: Vec<String>,
}

const DEMO_USER: &str = "demo";

/// Removes the demo's temporary directory when the demo ends, however it ends.
struct TempState(PathBuf);

impl Drop for TempState {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// Runs the demo until Ctrl-C.
pub async fn run(
    args: DemoArgs,
    config_file: Option<PathBuf>,
    log_format: Option<LogFormat>,
) -> anyhow::Result<()> {
    // The same lookup as `acorn eval`: the flags, beside `acorn`, the bundle's layout, PATH.
    let bins = crate::eval::lab::Binaries::find(args.agent.clone(), args.kubesim.clone())?;
    let (kubesim, agent_bin) = (bins.kubesim, bins.agent);
    let work = std::env::temp_dir().join(format!(
        "acorn-demo-{}",
        hex::encode(crate::tls::pki::random_bytes::<6>())
    ));
    std::fs::create_dir_all(&work).with_context(|| format!("cannot create {}", work.display()))?;
    let _cleanup = TempState(work.clone());
    let state_dir = work.join("state");
    let kubeconfig = work.join("kubeconfig");

    // The simulated cluster.
    let mut sim_cmd = tokio::process::Command::new(&kubesim);
    sim_cmd
        .arg("serve")
        .arg("--kubeconfig-out")
        .arg(&kubeconfig);
    for s in &args.scenarios {
        sim_cmd.args(["--scenario", s]);
    }
    // Both children get a pipe as stdin and stop when it reaches end of file: the demo holds
    // the write ends (in their `Child`) until it ends, and the kernel closes them if the demo
    // is killed with SIGKILL, so nothing is left running (`kill_on_drop` covers every other
    // way out).
    let mut sim = sim_cmd
        .arg("--exit-on-stdin-eof")
        .env("ACORN_LOG", "warn")
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::inherit())
        .kill_on_drop(true)
        .spawn()
        .with_context(|| format!("cannot start {}", kubesim.display()))?;
    wait_for_file(&kubeconfig, &mut sim, "acorn-kubesim").await?;

    // The appliance, in this process.
    let overrides = Overrides {
        config_file,
        state_dir: Some(state_dir.clone()),
        listen: Some(args.listen),
        public_hostnames: Vec::new(),
        log_format,
    };
    let env: Vec<(String, String)> = std::env::vars()
        .filter(|(k, _)| k != "ACORN_STATE_DIR")
        .collect();
    let loaded = config::load(&overrides, &env)?;
    // Logging is already set up by `main` (warnings only, so the demo's own lines stand out).
    let password = crate::util::random_token()
        .chars()
        .take(20)
        .collect::<String>();
    let console = Console::demo(DemoLogin {
        username: DEMO_USER.to_owned(),
        password: password.clone(),
    });
    let (bound_tx, bound_rx) = tokio::sync::oneshot::channel();
    let mut server = tokio::spawn(crate::server::serve_with(
        loaded.config.clone(),
        console,
        Some(bound_tx),
    ));
    let addr = tokio::select! {
        bound = bound_rx => bound.map_err(|_| anyhow!("the appliance did not start"))?,
        ended = &mut server => {
            return Err(match ended {
                Ok(Err(e)) => e,
                Ok(Ok(())) => anyhow!("the appliance stopped before it listened"),
                Err(e) => anyhow!("the appliance task failed: {e}"),
            });
        }
    };
    let host = if addr.ip().is_unspecified() {
        "127.0.0.1".to_owned()
    } else {
        addr.ip().to_string()
    };
    let base = format!("https://{host}:{}", addr.port());

    let mut agent =
        match bootstrap(&state_dir, &base, &password, &work, &kubeconfig, &agent_bin).await {
            Ok(b) => b,
            Err(e) => {
                server.abort();
                return Err(e.context("setting up the demo failed"));
            }
        };
    let agent_child = &mut agent.0;

    println!();
    println!("  Acorn demo — a simulated cluster and temporary data, not for production use");
    println!();
    println!("  Console:  {base}/console/");
    println!("  Login:    {DEMO_USER} / {password}");
    println!(
        "  CA:       {} (the browser warns about the appliance's own CA; the demo's is temporary)",
        work.join("ca.pem").display()
    );
    println!(
        "  Cluster:  \"demo\", the simulator's broken workloads ({}); its findings appear within seconds",
        if args.scenarios.is_empty() {
            "every scenario".to_owned()
        } else {
            args.scenarios.join(", ")
        }
    );
    match &agent.1 {
        Some(model) => println!(
            "  Model:    {model} (from ACORN_DEMO_OPENAI_BASE_URL): ask \"why is checkout crash-looping?\""
        ),
        None => println!(
            "  Model:    none configured, so questions cannot be answered. Set ACORN_DEMO_OPENAI_BASE_URL\n            (e.g. http://localhost:11434/v1 for Ollama, with ACORN_DEMO_MODEL) to troubleshoot with a model."
        ),
    }
    println!();
    println!("  Ctrl-C stops the demo and deletes its data.");
    println!();

    // The write ends of the children's stdin pipes, held until the demo ends: taken out of the
    // `Child`s because `Child::wait` closes stdin before waiting, which would stop them now.
    let _sim_stdin = sim.stdin.take();
    let _agent_stdin = agent_child.stdin.take();
    let result = tokio::select! {
        ended = &mut server => match ended {
            Ok(r) => r,
            Err(e) => Err(anyhow!("the appliance task failed: {e}")),
        },
        status = agent_child.wait() => Err(anyhow!("the demo agent exited: {status:?}")),
        status = sim.wait() => Err(anyhow!("the simulator exited: {status:?}")),
    };
    let _ = agent_child.kill().await;
    let _ = sim.kill().await;
    result
}

async fn wait_for_file(
    path: &Path,
    child: &mut tokio::process::Child,
    name: &str,
) -> anyhow::Result<()> {
    let deadline = Instant::now() + Duration::from_secs(30);
    while !path.exists() {
        if let Some(status) = child.try_wait()? {
            bail!("{name} exited before it was ready: {status}");
        }
        if Instant::now() > deadline {
            bail!("{name} was not ready within 30 s");
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    Ok(())
}

async fn local(state_dir: &Path, request: LocalRequest) -> anyhow::Result<LocalResponse> {
    match crate::local_socket::request(state_dir, &request).await? {
        Some(LocalResponse::Error { message }) => bail!("{message}"),
        Some(r) => Ok(r),
        None => bail!("the appliance's local socket does not answer"),
    }
}

/// The demo's API client: the appliance CA pinned, the session cookie and CSRF header.
struct Api {
    http: reqwest::Client,
    base: String,
    cookie: String,
    csrf: String,
}

impl Api {
    async fn send(
        &self,
        method: reqwest::Method,
        path: &str,
        body: Value,
    ) -> anyhow::Result<Value> {
        let response = self
            .http
            .request(method.clone(), format!("{}{path}", self.base))
            .header(
                "cookie",
                format!("{}={}", crate::control::auth::SESSION_COOKIE, self.cookie),
            )
            .header(crate::control::auth::CSRF_HEADER, &self.csrf)
            .json(&body)
            .send()
            .await?;
        let status = response.status();
        let value: Value = response.json().await.unwrap_or(Value::Null);
        if !status.is_success() {
            bail!("{method} {path}: {status} {value}");
        }
        Ok(value)
    }
}

/// Administrator, workspace, cluster, agent, model. Returns the agent and the model's name.
async fn bootstrap(
    state_dir: &Path,
    base: &str,
    password: &str,
    work: &Path,
    kubeconfig: &Path,
    agent_bin: &Path,
) -> anyhow::Result<(tokio::process::Child, Option<String>)> {
    let ca_pem = match local(state_dir, LocalRequest::CertShow).await? {
        LocalResponse::Cert(c) => c.ca_pem,
        other => bail!("unexpected answer to cert show: {other:?}"),
    };
    let ca_file = work.join("ca.pem");
    std::fs::write(&ca_file, &ca_pem)?;
    let link = match local(
        state_dir,
        LocalRequest::Recover {
            username: DEMO_USER.to_owned(),
        },
    )
    .await?
    {
        LocalResponse::Link(l) => l.url,
        other => bail!("unexpected answer to recover: {other:?}"),
    };
    let token = link.rsplit('/').next().unwrap_or_default().to_owned();
    let http = reqwest::Client::builder()
        .add_root_certificate(reqwest::Certificate::from_pem(ca_pem.as_bytes())?)
        .build()?;
    let created = http
        .post(format!("{base}/api/v1/setup"))
        .json(&json!({ "token": token, "username": DEMO_USER, "password": password }))
        .send()
        .await?;
    if !created.status().is_success() {
        bail!(
            "creating the demo administrator: {}",
            created.text().await.unwrap_or_default()
        );
    }
    let login = http
        .post(format!("{base}/api/v1/auth/login"))
        .json(&json!({ "username": DEMO_USER, "password": password }))
        .send()
        .await?;
    let cookie = login
        .headers()
        .get_all("set-cookie")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .find_map(|v| {
            v.split(';')
                .next()
                .and_then(|p| p.strip_prefix(&format!("{}=", crate::control::auth::SESSION_COOKIE)))
                .map(str::to_owned)
        })
        .ok_or_else(|| anyhow!("signing in as the demo administrator gave no session"))?;
    let me: Value = login.json().await?;
    let api = Api {
        http,
        base: base.to_owned(),
        cookie,
        csrf: me["csrf_token"].as_str().unwrap_or_default().to_owned(),
    };
    let ws = api
        .send(
            reqwest::Method::POST,
            "/api/v1/workspaces",
            json!({ "name": "Demo" }),
        )
        .await?;
    let ws = ws["id"]
        .as_str()
        .ok_or_else(|| anyhow!("workspace without id"))?
        .to_owned();
    let cluster = api
        .send(
            reqwest::Method::POST,
            &format!("/api/v1/workspaces/{ws}/clusters"),
            json!({ "name": "demo", "write_allowed": true, "logs_allowed": true }),
        )
        .await?;
    let key = cluster["agent_key"]
        .as_str()
        .ok_or_else(|| anyhow!("registration without agent key"))?;
    let agent = tokio::process::Command::new(agent_bin)
        .env("ACORN_AGENT_APPLIANCE_URL", base)
        .env("ACORN_AGENT_CA_FILE", &ca_file)
        .env("ACORN_AGENT_KEY", key)
        .env("ACORN_AGENT_KUBECONFIG", kubeconfig)
        .env("ACORN_AGENT_WRITE_ENABLED", "true")
        .env("ACORN_AGENT_HEALTH_LISTEN", "127.0.0.1:0")
        .env("ACORN_AGENT_LOG_FORMAT", "text")
        .env("ACORN_AGENT_LOG_LEVEL", "warn")
        .env("POD_NAME", "acorn-agent-demo")
        .env("POD_NAMESPACE", "acorn-system")
        .arg("--exit-on-stdin-eof")
        // See the simulator's: the agent stops when the demo's end of this pipe closes.
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::inherit())
        .kill_on_drop(true)
        .spawn()
        .with_context(|| format!("cannot start {}", agent_bin.display()))?;

    let model = match std::env::var("ACORN_DEMO_OPENAI_BASE_URL") {
        Ok(url) if !url.is_empty() => {
            let model =
                std::env::var("ACORN_DEMO_MODEL").unwrap_or_else(|_| "llama3.1:8b".to_owned());
            let mut provider = json!({
                "kind": "openai", "base_url": url, "list_models": true,
                "models": [{ "id": model, "native_tools": true }],
            });
            if let Ok(key) = std::env::var("ACORN_DEMO_API_KEY") {
                provider["api_key"] = json!(key);
            }
            api.send(
                reqwest::Method::PUT,
                &format!("/api/v1/workspaces/{ws}/providers/demo"),
                provider,
            )
            .await?;
            api.send(
                reqwest::Method::PUT,
                &format!("/api/v1/workspaces/{ws}/run-settings"),
                json!({ "provider": "demo", "model": model }),
            )
            .await?;
            Some(model)
        }
        _ => None,
    };
    Ok((agent, model))
}
