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

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use acorn_proto::runs::RunUsage;
use anyhow::{Context, bail};
use reqwest::Method;
use serde_json::{Value, json};

use grade::Observed;
use lab::{Binaries, Lab, LabError, Linked};
use report::{Report, ScenarioResult};
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
    pub report_json: Option<PathBuf>,
    pub report_markdown: Option<PathBuf>,
    /// Exit non-zero when fewer scenarios pass (percent).
    pub min_pass_rate: Option<f64>,
    /// The operator's configuration file (its providers, engine and findings settings).
    pub config: Option<PathBuf>,
    pub agent: Option<PathBuf>,
    pub kubesim: Option<PathBuf>,
}

/// Runs the evaluation; prints the table; `Ok(false)` when the pass rate is below the minimum.
pub async fn run(options: EvalOptions) -> anyhow::Result<bool> {
    let bins = Binaries::find(options.agent.clone(), options.kubesim.clone())?;
    let work = tempfile::Builder::new().prefix("acorn-eval-").tempdir()?;
    let library = match &options.scenarios {
        Some(dir) => dir.clone(),
        None => export_library(&bins.kubesim, &work.path().join("scenarios")).await?,
    };
    let scenarios = scenario::load_library(&library, &options.only)?;
    let lab_config = lab_config(options.config.as_deref(), &options.provider, work.path())?;
    eprintln!(
        "acorn eval: {} scenarios from {}, provider {} model {}, {} at a time",
        scenarios.len(),
        library.display(),
        options.provider,
        options.model,
        options.parallel.max(1)
    );
    let started = Instant::now();
    let lab = Arc::new(Lab::start(bins, &lab_config).await?);
    check_model(&lab, &options).await?;
    let results = run_all(&lab, &scenarios, &options).await;
    if let Ok(lab) = Arc::try_unwrap(lab) {
        lab.stop().await;
    }
    let results = results?;
    let report = Report::new(
        &options.provider,
        &options.model,
        results,
        started.elapsed(),
    );
    print!("{}", report.table());
    if let Some(path) = &options.report_json {
        std::fs::write(path, report.json()?)
            .with_context(|| format!("writing {}", path.display()))?;
        eprintln!("acorn eval: wrote {}", path.display());
    }
    if let Some(path) = &options.report_markdown {
        std::fs::write(path, report.markdown())
            .with_context(|| format!("writing {}", path.display()))?;
        eprintln!("acorn eval: wrote {}", path.display());
    }
    Ok(options
        .min_pass_rate
        .is_none_or(|min| report.summary.pass_rate >= min))
}

/// The scenarios, `parallel` at a time, in library order.
async fn run_all(
    lab: &Arc<Lab>,
    scenarios: &[Scenario],
    options: &EvalOptions,
) -> anyhow::Result<Vec<ScenarioResult>> {
    let slots = Arc::new(tokio::sync::Semaphore::new(options.parallel.max(1)));
    let mut tasks = Vec::new();
    for s in scenarios {
        let (lab, slots, s, options) = (
            Arc::clone(lab),
            Arc::clone(&slots),
            s.clone(),
            options.clone(),
        );
        tasks.push(tokio::spawn(async move {
            let _slot = slots.acquire_owned().await;
            let result = evaluate(&lab, &s, &options).await;
            if let Ok(r) = &result {
                eprintln!(
                    "acorn eval: {:<28} {}",
                    r.name,
                    if r.grade.passed { "pass" } else { "FAIL" }
                );
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
async fn evaluate(
    lab: &Lab,
    s: &Scenario,
    options: &EvalOptions,
) -> anyhow::Result<ScenarioResult> {
    let linked = match lab.link(s).await {
        Ok(linked) => linked,
        Err(e) => return Ok(ScenarioResult::lab_failed(s, e.to_string())),
    };
    let observed = investigate(lab, &linked, s, options).await;
    linked.stop().await;
    match observed {
        Ok(observed) => Ok(ScenarioResult::graded(s, observed)),
        // The provider or model is not usable: every scenario would fail the same way.
        Err(e) if e.code().is_some_and(is_configuration_error) => {
            bail!("the model cannot be used: {e}")
        }
        Err(e) => Ok(ScenarioResult::lab_failed(s, e.to_string())),
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

/// Fails early, with the API's words, when the provider or model cannot be used.
async fn check_model(lab: &Lab, options: &EvalOptions) -> anyhow::Result<()> {
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
async fn export_library(kubesim: &Path, dir: &Path) -> anyhow::Result<PathBuf> {
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
