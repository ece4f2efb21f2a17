//! `acorn eval`: grades a model on the scenario library before a site trusts it.
//!
//! Each scenario runs as a real run — the same engine, gateway and tools as a user's question —
//! in a private lab: an `acorn serve` of its own on a temporary state directory, with the
//! operator's `[gateway]` providers and `[engine]`/`[findings]` settings, and per scenario the
//! Kubernetes simulator loaded with that scenario and a real `acorn-agent` linked to it. The
//! run is then graded on string and regex facts from the scenario's `expected.yaml`.
//!
//! Layout: [`scenario`] (the library and `expected.yaml`), [`lab`] (the private appliance,
//! simulators and agents), [`grade`] (one run against its facts), [`report`] (terminal table,
//! JSON and Markdown).

pub mod grade;
pub mod lab;
pub mod report;
pub mod scenario;
pub mod service;

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use acorn_proto::evals::Report;
use acorn_proto::gateway::PutProvider;
use acorn_proto::runs::RunUsage;
use anyhow::{Context, bail};
use reqwest::Method;
use serde_json::{Value, json};

use grade::Observed;
use lab::{Binaries, Lab, LabError, Linked};
use report::ScenarioResult;
use scenario::Scenario;

/// What `acorn eval` was asked to do.
#[derive(Debug, Clone)]
pub struct EvalOptions {
    pub provider: String,
    pub model: String,
    /// A scenario library (or one scenario folder); `None`: the simulator's own library.
    pub scenarios: Option<PathBuf>,
    /// Only these scenarios (by folder name).
    pub only: Vec<String>,
    /// Scenarios run at the same time.
    pub parallel: usize,
    /// Each run's runtime limit; the eval gives up on a run 30 s after it.
    pub max_runtime_seconds: u64,
    /// Where the lab's provider and settings come from.
    pub lab: LabSetup,
    pub agent: Option<PathBuf>,
    pub kubesim: Option<PathBuf>,
}

/// Where the lab's provider, `[engine]` and `[findings]` settings come from.
#[derive(Clone)]
pub enum LabSetup {
    /// The operator's configuration file (`acorn eval --config`): its `[[gateway.providers]]`,
    /// `[engine]` and `[findings]`.
    ConfigFile(Option<PathBuf>),
    /// The running appliance (an evaluation started from its API): its `[engine]` and
    /// `[findings]` settings, and the provider as a workspace sees it, key included, which
    /// the eval creates in the lab's workspace through the lab's API.
    Appliance {
        settings: toml::Table,
        provider: PutProvider,
    },
}

impl std::fmt::Debug for LabSetup {
    // The provider's key must not reach a log line.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            LabSetup::ConfigFile(path) => f.debug_tuple("ConfigFile").field(path).finish(),
            LabSetup::Appliance { provider, .. } => f
                .debug_struct("Appliance")
                .field("base_url", &provider.spec.base_url)
                .field("api_key", &provider.api_key.as_ref().map(|_| "[set]"))
                .finish(),
        }
    }
}

/// Told how an evaluation goes: the number of scenarios once loaded, then each graded one.
pub trait Progress: Send + Sync {
    fn loaded(&self, scenarios: usize);
    fn graded(&self, result: &ScenarioResult);
}

/// `acorn eval`'s progress: a line per scenario on stderr.
struct Terminal;

impl Progress for Terminal {
    fn loaded(&self, scenarios: usize) {
        eprintln!("acorn eval: {scenarios} scenarios");
    }
    fn graded(&self, r: &ScenarioResult) {
        eprintln!(
            "acorn eval: {:<28} {}",
            r.name,
            if r.grade.passed { "pass" } else { "FAIL" }
        );
    }
}

/// `acorn eval`: evaluates, prints the table, writes the reports; `Ok(false)` when the pass
/// rate is below the minimum.
pub async fn run(
    options: EvalOptions,
    report_json: Option<PathBuf>,
    report_markdown: Option<PathBuf>,
    min_pass_rate: Option<f64>,
) -> anyhow::Result<bool> {
    let report = evaluate(&options, Arc::new(Terminal)).await?;
    print!("{}", report::table(&report));
    if let Some(path) = &report_json {
        std::fs::write(path, report::json(&report)?)
            .with_context(|| format!("writing {}", path.display()))?;
        eprintln!("acorn eval: wrote {}", path.display());
    }
    if let Some(path) = &report_markdown {
        std::fs::write(path, report::markdown(&report))
            .with_context(|| format!("writing {}", path.display()))?;
        eprintln!("acorn eval: wrote {}", path.display());
    }
    Ok(min_pass_rate.is_none_or(|min| report.summary.pass_rate >= min))
}

/// Loads the scenarios, starts the lab, runs and grades every scenario, throws the lab away.
pub async fn evaluate(
    options: &EvalOptions,
    progress: Arc<dyn Progress>,
) -> anyhow::Result<Report> {
    let bins = Binaries::find(options.agent.clone(), options.kubesim.clone())?;
    let work = tempfile::Builder::new().prefix("acorn-eval-").tempdir()?;
    let scenarios = load_scenarios(&bins, options, work.path()).await?;
    progress.loaded(scenarios.len());
    let lab_config = match &options.lab {
        LabSetup::ConfigFile(path) => lab_config(path.as_deref(), &options.provider, work.path())?,
        LabSetup::Appliance { settings, .. } => {
            let out = work.path().join("lab.toml");
            let mut lab = settings.clone();
            lab.insert("version".into(), toml::Value::Integer(1));
            write_private(&out, toml::to_string(&lab)?.as_bytes())?;
            out
        }
    };
    tracing::info!(
        scenarios = scenarios.len(),
        provider = %options.provider,
        model = %options.model,
        parallel = options.parallel.max(1),
        "acorn eval: starting the lab"
    );
    let started = Instant::now();
    let lab = Arc::new(Lab::start(bins, &lab_config).await?);
    let results = match prepare_model(&lab, options).await {
        Ok(()) => run_all(&lab, &scenarios, options, progress).await,
        Err(e) => Err(e),
    };
    if let Ok(lab) = Arc::try_unwrap(lab) {
        lab.stop().await;
    }
    Ok(report::build(
        &options.provider,
        &options.model,
        results?,
        started.elapsed(),
    ))
}

/// The scenarios to run: `--scenarios DIR` or the simulator's own library, then `only`.
pub async fn load_scenarios(
    bins: &Binaries,
    options: &EvalOptions,
    work: &Path,
) -> anyhow::Result<Vec<Scenario>> {
    let library = match &options.scenarios {
        Some(dir) => dir.clone(),
        None => export_library(&bins.kubesim, &work.join("scenarios")).await?,
    };
    Ok(scenario::load_library(&library, &options.only)?)
}

/// The scenarios, `parallel` at a time, in library order.
async fn run_all(
    lab: &Arc<Lab>,
    scenarios: &[Scenario],
    options: &EvalOptions,
    progress: Arc<dyn Progress>,
) -> anyhow::Result<Vec<ScenarioResult>> {
    let slots = Arc::new(tokio::sync::Semaphore::new(options.parallel.max(1)));
    let mut tasks = Vec::new();
    for s in scenarios {
        let (lab, slots, s, options, progress) = (
            Arc::clone(lab),
            Arc::clone(&slots),
            s.clone(),
            options.clone(),
            Arc::clone(&progress),
        );
        tasks.push(tokio::spawn(async move {
            let _slot = slots.acquire_owned().await;
            let result = evaluate_one(&lab, &s, &options).await;
            if let Ok(r) = &result {
                progress.graded(r);
            }
            result
        }));
    }
    let mut results = Vec::new();
    for task in tasks {
        results.push(task.await.context("a scenario task panicked")??);
    }
    Ok(results)
}

/// One scenario: link its cluster, ask its question, read the run back, grade it. A lab
/// failure (the simulator or agent did not come up) is reported in the result, not fatal.
async fn evaluate_one(
    lab: &Lab,
    s: &Scenario,
    options: &EvalOptions,
) -> anyhow::Result<ScenarioResult> {
    let linked = match lab.link(s).await {
        Ok(linked) => linked,
        Err(e) => return Ok(report::lab_failed(s, e.to_string())),
    };
    let observed = investigate(lab, &linked, s, options).await;
    linked.stop().await;
    match observed {
        Ok(observed) => Ok(report::graded(s, observed)),
        // The provider or model is not usable: every scenario would fail the same way.
        Err(e) if e.code().is_some_and(is_configuration_error) => {
            bail!("the model cannot be used: {e}")
        }
        Err(e) => Ok(report::lab_failed(s, e.to_string())),
    }
}

fn is_configuration_error(code: &str) -> bool {
    matches!(
        code,
        "model_unknown" | "provider_unknown" | "run_model_required" | "run_limit_out_of_bounds"
    )
}

/// Asks the scenario's question in a new session and follows the run to its end.
async fn investigate(
    lab: &Lab,
    linked: &Linked,
    s: &Scenario,
    options: &EvalOptions,
) -> Result<Observed, LabError> {
    let findings = open_findings(lab, &linked.cluster_id).await?;
    let session = lab
        .call(
            Method::POST,
            &lab.path("/sessions"),
            Some(json!({"cluster_id": linked.cluster_id, "title": format!("eval: {}", s.name)})),
        )
        .await?;
    let session_id = session["id"].as_str().unwrap_or_default();
    let started = Instant::now();
    let run = lab
        .call(
            Method::POST,
            &lab.path(&format!("/sessions/{session_id}/messages")),
            Some(json!({
                "content": s.expected.question,
                "mode": "read_only",
                "provider": options.provider,
                "model": options.model,
                "limits": {"max_runtime_seconds": options.max_runtime_seconds},
            })),
        )
        .await?;
    let run_id = run["id"].as_str().unwrap_or_default().to_owned();
    let run_path = lab.path(&format!("/runs/{run_id}"));
    let give_up = Duration::from_secs(options.max_runtime_seconds + 30);
    let (view, stalled) = loop {
        let view = lab.call(Method::GET, &run_path, None).await?;
        if is_terminal(&view["state"]) {
            break (view, false);
        }
        if started.elapsed() > give_up {
            // The engine's runtime limit should have ended it; cancel and grade it as stalled.
            let _ = lab
                .call(Method::POST, &format!("{run_path}/cancel"), None)
                .await;
            break (view, true);
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    };
    let seconds = started.elapsed().as_secs_f64();
    let tool_results = tool_results(lab, &run_path).await?;
    let error = view["error"].is_object().then(|| {
        format!(
            "{}: {}",
            view["error"]["code"].as_str().unwrap_or("?"),
            view["error"]["message"].as_str().unwrap_or("")
        )
    });
    Ok(Observed {
        state: match stalled {
            true => "stalled".into(),
            false => view["state"].as_str().unwrap_or("?").to_owned(),
        },
        error,
        answer: view["answer"].as_str().unwrap_or_default().to_owned(),
        tool_results,
        usage: serde_json::from_value::<RunUsage>(view["usage"].clone()).unwrap_or_default(),
        seconds,
        findings,
    })
}

fn is_terminal(state: &Value) -> bool {
    matches!(
        state.as_str(),
        Some("completed" | "failed" | "cancelled" | "timed_out")
    )
}

/// The contents of the run's successful tool calls, read from its stored events.
async fn tool_results(lab: &Lab, run_path: &str) -> Result<Vec<String>, LabError> {
    let mut out = Vec::new();
    let mut after = 0u64;
    loop {
        let page = lab
            .call(
                Method::GET,
                &format!("{run_path}/events?after={after}"),
                None,
            )
            .await?;
        let events = page.as_array().cloned().unwrap_or_default();
        let Some(last) = events.last().and_then(|e| e["seq"].as_u64()) else {
            return Ok(out);
        };
        for event in &events {
            if event["kind"] == "tool.result"
                && event["data"]["ok"] == true
                && let Some(content) = event["data"]["content"].as_str()
            {
                out.push(content.to_owned());
            }
        }
        after = last;
    }
}

/// Findings of the cluster that are not resolved.
async fn open_findings(lab: &Lab, cluster_id: &str) -> Result<usize, LabError> {
    let page = lab
        .call(
            Method::GET,
            &lab.path(&format!("/clusters/{cluster_id}/findings?limit=500")),
            None,
        )
        .await?;
    Ok(page["items"].as_array().map_or(0, |items| {
        items.iter().filter(|f| f["state"] != "resolved").count()
    }))
}

/// Creates the provider in the lab's workspace when the appliance gave it, then fails early,
/// with the API's words, when the provider or model cannot be used.
async fn prepare_model(lab: &Lab, options: &EvalOptions) -> anyhow::Result<()> {
    if let LabSetup::Appliance { provider, .. } = &options.lab {
        let body = serde_json::to_value(provider)?;
        lab.call(
            Method::PUT,
            &lab.path(&format!("/providers/{}", options.provider)),
            Some(body),
        )
        .await
        .map_err(|e| anyhow::anyhow!("provider {:?} in the lab: {e}", options.provider))?;
    }
    let provider = lab
        .call(
            Method::GET,
            &lab.path(&format!("/providers/{}", options.provider)),
            None,
        )
        .await
        .map_err(|e| anyhow::anyhow!("provider {:?}: {e}", options.provider))?;
    let listed = provider["models"].as_array().cloned().unwrap_or_default();
    if !listed.is_empty() && !listed.iter().any(|m| m["id"] == options.model.as_str()) {
        bail!(
            "provider {:?} lists no model {:?} (it lists {}); add it to the provider's `models`",
            options.provider,
            options.model,
            listed
                .iter()
                .filter_map(|m| m["id"].as_str())
                .collect::<Vec<_>>()
                .join(", ")
        );
    }
    Ok(())
}

/// `acorn-kubesim export DIR`: the simulator's own scenario library.
pub(crate) async fn export_library(kubesim: &Path, dir: &Path) -> anyhow::Result<PathBuf> {
    let out = tokio::process::Command::new(kubesim)
        .arg("export")
        .arg(dir)
        .output()
        .await
        .with_context(|| format!("running {} export", kubesim.display()))?;
    if !out.status.success() {
        bail!(
            "{} export failed: {}",
            kubesim.display(),
            String::from_utf8_lossy(&out.stderr).trim()
        );
    }
    Ok(dir.to_path_buf())
}

/// The lab's configuration: the operator's `[gateway]` (without its key-encryption key: the
/// lab's store makes its own), `[engine]` and `[findings]`; nothing that binds ports, serves
/// certificates or signs users in. Written with mode 0600 (a provider's inline key may be in it).
fn lab_config(config: Option<&Path>, provider: &str, dir: &Path) -> anyhow::Result<PathBuf> {
    let Some(path) = config else {
        bail!(
            "acorn eval needs the configuration file that defines provider {provider:?} \
             ([[gateway.providers]]): pass --config FILE or set ACORN_CONFIG"
        );
    };
    let text =
        std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
    let source: toml::Table =
        toml::from_str(&text).with_context(|| format!("parsing {}", path.display()))?;
    let mut lab = toml::Table::new();
    lab.insert("version".into(), toml::Value::Integer(1));
    for section in ["gateway", "engine", "findings"] {
        if let Some(value) = source.get(section) {
            lab.insert(section.into(), value.clone());
        }
    }
    if let Some(toml::Value::Table(gateway)) = lab.get_mut("gateway") {
        gateway.remove("kek_file");
    }
    let defined = lab
        .get("gateway")
        .and_then(|g| g.get("providers"))
        .and_then(toml::Value::as_array)
        .is_some_and(|ps| {
            ps.iter()
                .any(|p| p.get("name").and_then(toml::Value::as_str) == Some(provider))
        });
    if !defined {
        bail!(
            "{} defines no provider {provider:?}: acorn eval uses the deployment's providers \
             ([[gateway.providers]] with name = {provider:?})",
            path.display()
        );
    }
    let out = dir.join("lab.toml");
    write_private(&out, toml::to_string(&lab)?.as_bytes())?;
    Ok(out)
}

fn write_private(path: &Path, data: &[u8]) -> std::io::Result<()> {
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)?;
    file.write_all(data)
}
