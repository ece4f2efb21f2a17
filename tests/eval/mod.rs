//! `acorn eval` end to end: the real `acorn` (its private lab: `acorn serve`, `acorn-kubesim`
//! per scenario, the real `acorn-agent`), graded against scripted models that speak OpenAI's
//! streaming wire format:
//! - a thorough model that investigates every affected object (describe, YAML, logs, events,
//!   pods) before answering scores 100% on the whole shipped library — which also proves that
//!   every scenario's `evidence` is really gathered by a good investigation;
//! - a lazy model that answers without a tool scores 0, and a pass-rate floor fails the command;
//! - a looping model and a model that never finishes are graded as such, without a hang;
//! - bad scenario folders and unusable providers get errors that name the problem.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use serde_json::{Value, json};

use crate::gateway::upstream::{Recorded, Upstream};
use crate::harness::cargo_bin;
use crate::runs::model::{Turn, reply};

pub(crate) mod api;

/// `kubesim/scenarios`: the library that ships with Acorn.
fn library() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../kubesim/scenarios")
}

/// question → (affected, root cause, terms), from every `expected.yaml` of the library.
fn expectations() -> Vec<(String, Value)> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir(library()).unwrap() {
        let file = entry.unwrap().path().join("expected.yaml");
        if let Ok(text) = std::fs::read_to_string(&file) {
            let doc: Value = serde_saphyr::from_str(&text).unwrap();
            out.push((doc["question"].as_str().unwrap().trim().to_owned(), doc));
        }
    }
    out
}

/// The question the run asks: the conversation's last user message.
fn question(req: &Recorded) -> String {
    req.body["messages"]
        .as_array()
        .into_iter()
        .flatten()
        .rfind(|m| m["role"] == "user")
        .and_then(|m| m["content"].as_str())
        .unwrap_or_default()
        .trim()
        .to_owned()
}

fn has_tool_results(req: &Recorded) -> bool {
    req.body["messages"]
        .as_array()
        .is_some_and(|ms| ms.iter().any(|m| m["role"] == "tool"))
}

/// The thorough investigator's calls for a scenario (the plan `kubesim/scenarios` evidence is
/// chosen against): per affected object `describe` + `get_resource`, and for a Pod its previous
/// and current log; per namespace its events and pods. A healthy control: deployments,
/// endpoints and pods everywhere, and warning events.
fn investigation(expected: &Value) -> Vec<(String, Value)> {
    let mut calls = Vec::new();
    let mut namespaces: Vec<String> = Vec::new();
    let affected: Vec<&str> = expected["affected"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(Value::as_str)
        .collect();
    for object in &affected {
        let parts: Vec<&str> = object.split('/').collect();
        let target = match parts.as_slice() {
            [ns, kind, name] => {
                if !namespaces.iter().any(|n| n == ns) {
                    namespaces.push((*ns).to_owned());
                }
                json!({"kind": kind, "namespace": ns, "name": name})
            }
            [kind, name] => json!({"kind": kind, "name": name}),
            _ => panic!("affected entry {object}"),
        };
        calls.push(("describe".to_owned(), target.clone()));
        calls.push(("get_resource".to_owned(), target.clone()));
        if target["kind"] == "Pod" {
            let logs = json!({"namespace": target["namespace"], "pod": target["name"]});
            let mut previous = logs.clone();
            previous["previous"] = json!(true);
            calls.push(("get_pod_logs".to_owned(), previous));
            calls.push(("get_pod_logs".to_owned(), logs));
        }
    }
    for ns in &namespaces {
        calls.push(("get_events".to_owned(), json!({"namespace": ns})));
        calls.push((
            "list_resources".to_owned(),
            json!({"kind": "Pod", "namespace": ns}),
        ));
    }
    if affected.is_empty() {
        for kind in ["Deployment", "Endpoints", "Pod"] {
            calls.push(("list_resources".to_owned(), json!({"kind": kind})));
        }
        calls.push(("get_events".to_owned(), json!({"type": "Warning"})));
    }
    calls
}

/// The answer a model gives that understood the scenario: the root cause, in its words.
fn diagnosis(expected: &Value) -> String {
    let terms: Vec<&str> = expected["answer_must_mention"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(Value::as_str)
        .collect();
    let names: Vec<&str> = expected["affected"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|a| a.as_str()?.rsplit('/').next())
        .collect();
    format!(
        "{} Key facts: {}. Affected: {}.",
        expected["root_cause"].as_str().unwrap_or_default(),
        terms.join(", "),
        if names.is_empty() {
            "nothing".to_owned()
        } else {
            names.join(", ")
        }
    )
}

/// One scripted provider serving several models: the model is the request's `model`.
pub(crate) async fn models() -> Upstream {
    let scenarios = Arc::new(expectations());
    Upstream::start(Arc::new(move |req: &Recorded, n: usize| {
        let expected = scenarios
            .iter()
            .find(|(q, _)| *q == question(req))
            .map(|(_, e)| e.clone())
            .unwrap_or(Value::Null);
        let turn = match req.body["model"].as_str().unwrap_or_default() {
            "thorough" if !has_tool_results(req) => Turn::Calls(investigation(&expected)),
            "thorough" => Turn::Say(diagnosis(&expected)),
            "lazy" => Turn::Text(
                "This is most likely a transient problem with the workload. Restart the pods \
                 and check again in a few minutes.",
            ),
            "looping" => Turn::Tools(vec![("get_events", json!({"namespace": "crashloop"}))]),
            "silent" => Turn::Hang("Let me look at"),
            other => panic!("the eval asked for model {other}"),
        };
        reply(&turn, n)
    }))
    .await
}

/// A config with the scripted provider, as an operator would write it.
fn config(dir: &Path, model: &Upstream) -> PathBuf {
    let path = dir.join("acorn.toml");
    std::fs::write(
        &path,
        format!(
            "version = 1\n\n[[gateway.providers]]\nname = \"scripted\"\nkind = \"openai\"\n\
             base_url = \"http://127.0.0.1:{}/v1\"\nlist_models = false\nrequest_timeout_ms = 60000\n\
             models = [{{ id = \"thorough\", input_price_per_mtok = 1.0, output_price_per_mtok = 2.0 }}, \
             {{ id = \"lazy\" }}, {{ id = \"looping\" }}, {{ id = \"silent\" }}]\n\n\
             [engine]\nconcurrency = 4\n",
            model.port
        ),
    )
    .unwrap();
    path
}

struct Outcome {
    code: Option<i32>,
    stdout: String,
    stderr: String,
    json: Value,
    markdown: String,
}

/// Runs `acorn eval --config … ARGS` with reports into `dir`.
async fn eval(dir: &Path, config: &Path, args: &[&str]) -> Outcome {
    let json_path = dir.join("report.json");
    let md_path = dir.join("report.md");
    let _ = std::fs::remove_file(&json_path);
    let _ = std::fs::remove_file(&md_path);
    let mut cmd = std::process::Command::new(cargo_bin("acorn"));
    cmd.arg("eval")
        .arg("--config")
        .arg(config)
        .arg("--agent")
        .arg(cargo_bin("acorn-agent"))
        .arg("--kubesim")
        .arg(cargo_bin("acorn-kubesim"))
        .arg("--report-json")
        .arg(&json_path)
        .arg("--report-md")
        .arg(&md_path)
        .args(args)
        .env_remove("ACORN_CONFIG");
    let out = tokio::task::spawn_blocking(move || cmd.output().unwrap())
        .await
        .unwrap();
    Outcome {
        code: out.status.code(),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
        json: std::fs::read(&json_path)
            .ok()
            .and_then(|b| serde_json::from_slice(&b).ok())
            .unwrap_or(Value::Null),
        markdown: std::fs::read_to_string(&md_path).unwrap_or_default(),
    }
}

fn scenario<'a>(report: &'a Value, name: &str) -> &'a Value {
    report["scenarios"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["name"] == name)
        .unwrap_or_else(|| panic!("no scenario {name} in {report}"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_thorough_model_passes_every_scenario_of_the_shipped_library() {
    let model = models().await;
    let dir = tempfile::tempdir().unwrap();
    let config = config(dir.path(), &model);
    let out = eval(
        dir.path(),
        &config,
        &[
            "--provider",
            "scripted",
            "--model",
            "thorough",
            "--parallel",
            "4",
            "--min-pass-rate",
            "100",
        ],
    )
    .await;
    assert_eq!(out.code, Some(0), "{}\n{}", out.stdout, out.stderr);
    let names: Vec<String> = std::fs::read_dir(library())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| !n.starts_with('_'))
        .collect();
    let s = &out.json["summary"];
    assert_eq!(s["scenarios"].as_u64(), Some(names.len() as u64), "{s}");
    assert_eq!(s["passed"], s["scenarios"], "{}", out.stdout);
    assert_eq!(s["pass_rate"], 100.0);
    assert_eq!(s["evidence_found"], s["evidence_total"]);
    assert!(s["evidence_total"].as_u64().unwrap() >= 2 * names.len() as u64);
    assert_eq!(
        s["findings_mismatches"], 0,
        "analyzers agree with expect_no_findings"
    );
    assert_eq!(s["loop_guard_hits"], 0);
    assert_eq!(s["invalid_tool_calls"], 0);
    // Real runs: two model turns, the investigation's tool calls, the scripted usage, priced.
    let crash = scenario(&out.json, "crashloop");
    assert_eq!(crash["run"]["state"], "completed");
    assert_eq!(crash["run"]["usage"]["steps"], 2);
    assert_eq!(crash["run"]["usage"]["tool_calls"], 8, "{crash}");
    assert_eq!(crash["run"]["usage"]["input_tokens"], 200);
    assert!(crash["run"]["usage"]["cost"].as_f64().unwrap() > 0.0);
    assert!(crash["run"]["findings"].as_u64().unwrap() > 0);
    assert_eq!(scenario(&out.json, "healthy")["run"]["findings"], 0);
    for name in &names {
        assert!(out.stdout.contains(name.as_str()), "{name} in the table");
        assert!(
            out.markdown.contains(&format!("## {name}")),
            "{name} in the Markdown"
        );
    }
    assert!(
        out.stdout
            .contains(&format!("{0} of {0} scenarios passed (100%)", names.len()))
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_model_that_answers_without_looking_scores_nothing_and_fails_the_floor() {
    let model = models().await;
    let dir = tempfile::tempdir().unwrap();
    let config = config(dir.path(), &model);
    let out = eval(
        dir.path(),
        &config,
        &[
            "--provider",
            "scripted",
            "--model",
            "lazy",
            "--scenario",
            "crashloop",
            "--scenario",
            "healthy",
            "--scenario",
            "oomkilled",
            "--min-pass-rate",
            "50",
        ],
    )
    .await;
    assert_eq!(out.code, Some(1), "{}\n{}", out.stdout, out.stderr);
    assert!(
        out.stderr.contains("below --min-pass-rate 50%"),
        "{}",
        out.stderr
    );
    let s = &out.json["summary"];
    assert_eq!(
        (s["scenarios"].as_u64(), s["passed"].as_u64()),
        (Some(3), Some(0)),
        "{s}"
    );
    assert_eq!(s["evidence_found"], 0);
    assert_eq!(s["tool_calls"], 0);
    assert_eq!(
        s["completed"], 3,
        "the runs completed; the answers were graded"
    );
    let crash = scenario(&out.json, "crashloop");
    assert_eq!(crash["grade"]["object_named"], false);
    assert!(
        crash["grade"]["mentions"]
            .as_array()
            .unwrap()
            .iter()
            .all(|m| m["met"] == false)
    );
    assert!(
        out.markdown.contains("Restart the pods"),
        "the answer is in the report"
    );
    assert!(
        out.stdout.contains("0 of 3 scenarios passed (0%)"),
        "{}",
        out.stdout
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn looping_and_silent_models_are_graded_as_such_without_a_hang() {
    let model = models().await;
    let dir = tempfile::tempdir().unwrap();
    let config = config(dir.path(), &model);
    let looping = eval(
        dir.path(),
        &config,
        &[
            "--provider",
            "scripted",
            "--model",
            "looping",
            "--scenario",
            "crashloop",
        ],
    )
    .await;
    assert_eq!(looping.code, Some(0), "{}", looping.stderr);
    let run = &scenario(&looping.json, "crashloop")["run"];
    assert_eq!(run["state"], "failed", "{run}");
    assert!(
        run["error"]
            .as_str()
            .unwrap()
            .starts_with("run_limit_reached"),
        "{run}"
    );
    assert!(
        run["usage"]["loop_guard_hits"].as_u64().unwrap() > 0,
        "{run}"
    );
    assert_eq!(
        scenario(&looping.json, "crashloop")["grade"]["passed"],
        false
    );

    let started = std::time::Instant::now();
    let silent = eval(
        dir.path(),
        &config,
        &[
            "--provider",
            "scripted",
            "--model",
            "silent",
            "--scenario",
            "crashloop",
            "--max-runtime",
            "10",
        ],
    )
    .await;
    assert_eq!(silent.code, Some(0), "{}", silent.stderr);
    let run = &scenario(&silent.json, "crashloop")["run"];
    assert!(
        ["timed_out", "stalled"].contains(&run["state"].as_str().unwrap()),
        "{run}"
    );
    assert_eq!(
        scenario(&silent.json, "crashloop")["grade"]["passed"],
        false
    );
    assert!(started.elapsed().as_secs() < 90, "graded, not hung");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_scenario_folders_and_unusable_models_get_errors_that_name_the_problem() {
    let model = models().await;
    let dir = tempfile::tempdir().unwrap();
    let config = config(dir.path(), &model);
    let run = |args: Vec<String>| {
        let (dir, config) = (dir.path().to_path_buf(), config.clone());
        async move {
            let args: Vec<&str> = args.iter().map(String::as_str).collect();
            eval(&dir, &config, &args).await
        }
    };
    let base = |more: &[&str]| {
        let mut v: Vec<String> = ["--provider", "scripted", "--model", "thorough"]
            .iter()
            .map(|s| (*s).to_owned())
            .collect();
        v.extend(more.iter().map(|s| (*s).to_owned()));
        v
    };

    // A scenario folder without objects.json.
    let broken = dir.path().join("lib/broken");
    std::fs::create_dir_all(&broken).unwrap();
    std::fs::copy(
        library().join("crashloop/expected.yaml"),
        broken.join("expected.yaml"),
    )
    .unwrap();
    let lib = dir.path().join("lib").display().to_string();
    let out = run(base(&["--scenarios", &lib])).await;
    assert_eq!(out.code, Some(1));
    assert!(
        out.stderr.contains("broken/objects.json: missing"),
        "{}",
        out.stderr
    );

    // An expected.yaml with a field of the wrong type, and one with a broken regex.
    std::fs::copy(
        library().join("crashloop/objects.json"),
        broken.join("objects.json"),
    )
    .unwrap();
    std::fs::write(
        broken.join("expected.yaml"),
        "question: 3\nroot_cause: [x]\n",
    )
    .unwrap();
    let out = run(base(&["--scenarios", &lib])).await;
    assert_eq!(out.code, Some(1));
    assert!(
        out.stderr.contains("broken/expected.yaml"),
        "{}",
        out.stderr
    );
    let mut doc = std::fs::read_to_string(library().join("crashloop/expected.yaml")).unwrap();
    doc = doc.replace(
        "answer_must_mention:\n",
        "answer_must_mention:\n  - \"re:(unclosed\"\n",
    );
    std::fs::write(broken.join("expected.yaml"), doc).unwrap();
    let out = run(base(&["--scenarios", &lib])).await;
    assert_eq!(out.code, Some(1));
    assert!(
        out.stderr.contains("is not a valid regex"),
        "{}",
        out.stderr
    );

    // An unknown scenario name, a provider the config lacks, a model the provider lacks.
    let out = run(base(&["--scenario", "no-such-scenario"])).await;
    assert!(
        out.stderr
            .contains("no scenario named \"no-such-scenario\""),
        "{}",
        out.stderr
    );
    let out = run(vec![
        "--provider".into(),
        "ollama".into(),
        "--model".into(),
        "llama3.1:8b".into(),
    ])
    .await;
    assert_eq!(out.code, Some(1));
    assert!(
        out.stderr.contains("defines no provider \"ollama\""),
        "{}",
        out.stderr
    );
    let out = run(vec![
        "--provider".into(),
        "scripted".into(),
        "--model".into(),
        "gpt-9".into(),
        "--scenario".into(),
        "healthy".into(),
    ])
    .await;
    assert_eq!(out.code, Some(1));
    assert!(out.stderr.contains("no model \"gpt-9\""), "{}", out.stderr);
    assert!(model.requests().is_empty(), "nothing reached the model");
}
