//! The console's cost in a real browser (a bench binary, not a timed test): Debian's chromium
//! driven by playwright-core (`tests/console/bench.mjs`) against the real `acorn` with a
//! linked cluster (`acorn-agent` on `acorn-kubesim`, `crashloop`) and a scripted
//! OpenAI-compatible model in this process that streams its answer slowly.
//!
//! Measured:
//! 1. per page (session, overview, clusters, cluster, search), cold cache (fresh profile) and
//!    warm (same profile again): first contentful paint (the shell: top banner and
//!    "Connecting…"), socket open, first LiveView render (= interactive: the page's content
//!    and its event handlers are live), time until loaded (no spinner left), bytes transferred
//!    (document, assets, LiveView frames until then);
//! 2. server memory per open console tab: the appliance's VmRSS before and after opening
//!    `ACORN_BENCH_TABS` (default 50) tabs of the session page (`acorn_console_sockets` checks
//!    they are all connected);
//! 3. run event → render delay with those tabs open: a run streams `ACORN_BENCH_CHUNKS`
//!    (default 300) chunks `ACORN_BENCH_GAP_MS` (default 20) apart after a lead-in during
//!    which the tabs open; every tab samples its answer's length on each DOM mutation with
//!    the wall clock; for every (tab, `model.delta` event) pair, delay = first time the tab
//!    showed the event's text − the event's `at_ms` (taken by the engine before its store
//!    commit; same machine clock). Events the tab got in its initial replay (created before
//!    its socket opened) are counted apart.
//!
//! Run: `cargo bench -p acorn-tests --bench console`.
//!
//! # Measured
//!
//! Shared 2-core machine, 27 Nov 2026, release build, nothing else running: first render
//! (interactive) of the session page 232 ms warm / 441 ms cold, first paint 110–220 ms;
//! 1.0 KiB document + 54 KiB assets + 6–18 KiB of LiveView frames per page; 0.6 MiB of
//! appliance memory per open tab; run event → render with 50 tabs p50 51 ms, p99 212 ms,
//! max 282 ms (3,450 pairs, none missed). The full tables are in `docs/console.md`.

#[path = "../harness/mod.rs"]
mod harness;
#[allow(dead_code)]
#[path = "../kubesim/sim.rs"]
mod sim;
#[allow(dead_code)]
#[path = "../gateway/upstream.rs"]
mod upstream;

use std::process::Stdio;
use std::sync::Arc;
use std::time::{Duration, Instant};

use reqwest::Method;
use serde_json::{Value, json};
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};

use harness::agent::{Agent, InstallSettings};
use harness::appliance::{Appliance, StartOptions};
use harness::identity::{User, user, workspace_with};
use sim::KubeSim;
use upstream::{Reply, Upstream};

fn env_usize(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// The pid of the `acorn serve` whose state dir is `state_dir`.
fn appliance_pid(state_dir: &std::path::Path) -> String {
    let needle = state_dir.to_string_lossy().into_owned();
    for entry in std::fs::read_dir("/proc").unwrap().flatten() {
        let name = entry.file_name().to_string_lossy().into_owned();
        if !name.chars().all(|c| c.is_ascii_digit()) {
            continue;
        }
        let cmdline = std::fs::read(entry.path().join("cmdline")).unwrap_or_default();
        let args: Vec<String> = cmdline
            .split(|b| *b == 0)
            .map(|a| String::from_utf8_lossy(a).into_owned())
            .collect();
        if args.iter().any(|a| a == "serve") && args.contains(&needle) {
            return name;
        }
    }
    panic!("no acorn process for {needle}");
}

/// VmRSS of a process in KiB.
fn rss_kib(pid: &str) -> f64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .unwrap_or_default()
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.split_whitespace().next().and_then(|n| n.parse().ok()))
        .unwrap_or(f64::NAN)
}

fn chunk(delta: Value, finish: Option<&str>) -> String {
    let c = json!({
        "id": "chatcmpl-bench", "object": "chat.completion.chunk", "created": 1764230400,
        "model": "scripted", "system_fingerprint": "fp_bench",
        "choices": [{"index": 0, "delta": delta, "logprobs": null, "finish_reason": finish}]
    });
    format!("data: {c}\n\n")
}

/// The model's answer: `lead` comment lines, then `chunks` text chunks, `gap` apart.
fn slow_answer(lead: usize, chunks: usize, gap: Duration) -> Reply {
    let mut out: Vec<String> = (0..lead).map(|_| ": thinking\n\n".to_owned()).collect();
    out.push(chunk(json!({"role": "assistant", "content": ""}), None));
    for i in 0..chunks {
        out.push(chunk(
            json!({"content": format!("checkout restarts {i} times; ")}),
            None,
        ));
    }
    out.push(chunk(json!({}), Some("stop")));
    let usage = json!({
        "id": "chatcmpl-bench", "object": "chat.completion.chunk", "created": 1764230400,
        "model": "scripted", "choices": [],
        "usage": {"prompt_tokens": 100, "completion_tokens": chunks, "total_tokens": 100 + chunks}
    });
    out.push(format!("data: {usage}\n\n"));
    out.push("data: [DONE]\n\n".into());
    Reply::sse(out).gap(gap)
}

struct World {
    app: Appliance,
    owner: User,
    ws: String,
    cluster: String,
    session: String,
    _sim: KubeSim,
    _agent: Agent,
    _model: Upstream,
    _dir: tempfile::TempDir,
}

impl World {
    fn path(&self, rest: &str) -> String {
        format!("/api/v1/workspaces/{}{rest}", self.ws)
    }

    async fn start(model: Upstream) -> World {
        let app = Appliance::start_with(StartOptions {
            config: Some("version = 1\n[log]\nlevel = \"warn\"\n".into()),
            ..Default::default()
        })
        .await;
        let owner = user(&app, "owner").await;
        let ws = workspace_with(&owner, "platform", &[]).await;
        let sim = KubeSim::start(&["--scenario", "crashloop"]).await;
        let dir = tempfile::tempdir().unwrap();
        let path = |rest: &str| format!("/api/v1/workspaces/{ws}{rest}");
        let answer = owner
            .ok(
                Method::POST,
                &path("/clusters"),
                Some(json!({"name": "prod"})),
            )
            .await;
        let cluster = answer["cluster"]["id"].as_str().unwrap().to_owned();
        let settings = InstallSettings::from_manifest(
            answer["install"]["manifest"].as_str().unwrap(),
            dir.path(),
        );
        let agent = Agent::start(&settings, &sim.kubeconfig(), "acorn-agent-0");
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            let c = owner
                .ok(Method::GET, &path(&format!("/clusters/{cluster}")), None)
                .await;
            if c["status"] == "connected" && c["snapshot"]["complete_at"].is_string() {
                break;
            }
            assert!(Instant::now() < deadline, "cluster not linked: {c}");
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        let provider = json!({
            "kind": "openai", "base_url": format!("http://127.0.0.1:{}/v1", model.port),
            "list_models": false, "models": [{"id": "scripted-model", "context_window": 64000}],
        });
        owner
            .ok(Method::PUT, &path("/providers/scripted"), Some(provider))
            .await;
        owner
            .ok(
                Method::PUT,
                &path("/run-settings"),
                Some(json!({"provider": "scripted", "model": "scripted-model"})),
            )
            .await;
        let session = owner
            .ok(
                Method::POST,
                &path("/sessions"),
                Some(json!({"cluster_id": cluster, "title": "bench"})),
            )
            .await["id"]
            .as_str()
            .unwrap()
            .to_owned();
        World {
            app,
            owner,
            ws,
            cluster,
            session,
            _sim: sim,
            _agent: agent,
            _model: model,
            _dir: dir,
        }
    }

    async fn start_run(&self) -> String {
        let answer = self
            .owner
            .call(
                Method::POST,
                &self.path(&format!("/sessions/{}/messages", self.session)),
                Some(json!({"content": "why is checkout crash-looping?"})),
            )
            .await;
        assert_eq!(answer.status, 201, "{}", answer.body);
        answer.body["id"].as_str().unwrap().to_owned()
    }

    async fn events(&self, id: &str) -> Vec<Value> {
        let deadline = Instant::now() + Duration::from_secs(180);
        loop {
            let r = self
                .owner
                .ok(Method::GET, &self.path(&format!("/runs/{id}")), None)
                .await;
            if r["state"] == "completed" {
                break;
            }
            assert!(
                !["failed", "cancelled", "timed_out"].contains(&r["state"].as_str().unwrap_or("")),
                "{r}"
            );
            assert!(Instant::now() < deadline, "run did not end: {r}");
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        self.owner
            .ok(
                Method::GET,
                &self.path(&format!("/runs/{id}/events?limit=1000")),
                None,
            )
            .await
            .as_array()
            .unwrap()
            .clone()
    }

    async fn console_sockets(&self) -> f64 {
        let text = self
            .app
            .client
            .get(self.app.url("/metrics"))
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        text.lines()
            .find_map(|l| l.strip_prefix("acorn_console_sockets "))
            .and_then(|v| v.trim().parse().ok())
            .unwrap_or(f64::NAN)
    }
}

/// The browser side (`tests/console/bench.mjs`), one JSON line each way.
struct Driver {
    child: tokio::process::Child,
    stdin: tokio::process::ChildStdin,
    lines: tokio::io::Lines<BufReader<tokio::process::ChildStdout>>,
}

impl Driver {
    async fn ask(&mut self, step: Value) -> Value {
        let mut line = step.to_string();
        line.push('\n');
        self.stdin.write_all(line.as_bytes()).await.unwrap();
        let answer = self
            .lines
            .next_line()
            .await
            .unwrap()
            .expect("the browser answers");
        let v: Value = serde_json::from_str(&answer).unwrap();
        assert_eq!(v["ok"], true, "{v}");
        v["value"].clone()
    }
}

fn pct(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    let i = ((p / 100.0) * (sorted.len() - 1) as f64).round() as usize;
    sorted[i.min(sorted.len() - 1)]
}

#[tokio::main]
async fn main() {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let tabs = env_usize("ACORN_BENCH_TABS", 50);
    let chunks = env_usize("ACORN_BENCH_CHUNKS", 300);
    let gap = Duration::from_millis(env_usize("ACORN_BENCH_GAP_MS", 20) as u64);
    let lead_ms = env_usize("ACORN_BENCH_LEAD_MS", 40_000);
    let lead = lead_ms / (gap.as_millis() as usize).max(1);
    // The first run (history on the session page) answers at once; the measured one after a
    // lead-in long enough to open the tabs.
    let model = Upstream::start(Arc::new(move |_req, n| {
        slow_answer(if n == 0 { 0 } else { lead }, chunks, gap)
    }))
    .await;
    eprintln!("starting the appliance, the simulator and the agent");
    let world = World::start(model).await;
    let pid = appliance_pid(&world.app.state_dir);
    let first = world.start_run().await;
    world.events(&first).await;

    let dir = env!("CARGO_MANIFEST_DIR");
    let session_page = format!("/console/w/{}/sessions/{}", world.ws, world.session);
    let pages = json!([
        session_page,
        format!("/console/w/{}", world.ws),
        format!("/console/w/{}/clusters", world.ws),
        format!("/console/w/{}/clusters/{}", world.ws, world.cluster),
        "/console/search?q=checkout",
    ]);
    let mut child = tokio::process::Command::new("node")
        .arg("console/bench.mjs")
        .current_dir(dir)
        .env("BASE", &world.app.base_url)
        .env("COOKIE", &world.owner.cookie)
        .env("PAGES", pages.to_string())
        .env("SESSION_PAGE", &session_page)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .kill_on_drop(true)
        .spawn()
        .expect("node console/bench.mjs (npm ci in tests/, chromium installed)");
    let stdin = child.stdin.take().unwrap();
    let lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let mut driver = Driver {
        child,
        stdin,
        lines,
    };

    eprintln!("page loads");
    let loads = driver.ask(json!({ "pages": true })).await;
    println!(
        "\n| page | cache | first paint | socket open | first render (interactive) | loaded | document | assets | LiveView frames |"
    );
    println!("|---|---|---|---|---|---|---|---|---|");
    for l in loads.as_array().unwrap() {
        let path = l["path"].as_str().unwrap();
        let page = if path.contains("/sessions/") {
            "session"
        } else if path.contains("/clusters/") {
            "cluster"
        } else if path.ends_with("/clusters") {
            "clusters"
        } else if path.contains("search") {
            "search"
        } else {
            "overview"
        };
        let ms = |k: &str| l[k].as_f64().map_or("—".into(), |v| format!("{v:.0} ms"));
        let kib = |k: &str| {
            l[k].as_f64()
                .map_or("—".into(), |v| format!("{:.1} KiB", v / 1024.0))
        };
        println!(
            "| {page} | {} | {} | {} | {} | {} | {} | {} | {} |",
            l["cache"].as_str().unwrap(),
            ms("first_paint_ms"),
            ms("connected_ms"),
            ms("first_render_ms"),
            ms("loaded_ms"),
            kib("document_bytes"),
            kib("asset_bytes"),
            kib("socket_bytes")
        );
    }

    eprintln!("{tabs} tabs on the session page during a streamed run");
    tokio::time::sleep(Duration::from_secs(2)).await;
    let rss_before = rss_kib(&pid);
    let sockets_before = world.console_sockets().await;
    let run = world.start_run().await;
    let run_started = Instant::now();
    let opened = driver.ask(json!({ "open_tabs": tabs, "run": run })).await;
    let opened_in = run_started.elapsed();
    let sockets = world.console_sockets().await;
    let rss_after = rss_kib(&pid);
    assert!(
        opened_in.as_millis() < lead_ms as u128,
        "the tabs took {opened_in:?} to open, longer than the model's lead-in: raise ACORN_BENCH_LEAD_MS"
    );
    let events = world.events(&run).await;
    let final_length: usize = events
        .iter()
        .filter(|e| e["kind"] == "model.delta")
        .map(|e| e["data"]["text"].as_str().unwrap_or("").chars().count())
        .sum();
    let samples = driver
        .ask(json!({ "collect": true, "length": final_length }))
        .await;
    driver.ask(json!({ "close": true })).await;
    let _ = driver.child.wait().await;

    // Cumulative answer length after each model.delta, with the event's at_ms.
    let mut total = 0usize;
    let mut deltas: Vec<(usize, f64)> = Vec::new();
    for e in &events {
        if e["kind"] == "model.delta" {
            total += e["data"]["text"].as_str().unwrap_or("").chars().count();
            deltas.push((total, e["at_ms"].as_f64().unwrap()));
        }
    }
    let mut live = Vec::new();
    let mut replayed = 0usize;
    let mut missing = 0usize;
    for tab in samples.as_array().unwrap() {
        let s: Vec<(usize, f64)> = tab["samples"]
            .as_array()
            .unwrap()
            .iter()
            .map(|p| (p[0].as_u64().unwrap() as usize, p[1].as_f64().unwrap()))
            .collect();
        let connected = tab["connected"].as_f64().unwrap_or(0.0);
        for (len, at) in &deltas {
            match s.iter().find(|(n, _)| n >= len) {
                Some((_, shown)) if *at >= connected => live.push(shown - at),
                Some(_) => replayed += 1,
                None => missing += 1,
            }
        }
    }
    live.sort_by(f64::total_cmp);
    println!("\n| measure | value |\n|---|---|");
    println!(
        "| tabs open (acorn_console_sockets) | {sockets} (before: {sockets_before}); opened in {:.1} s |",
        opened["opened_ms"].as_f64().unwrap_or(0.0) / 1000.0
    );
    println!(
        "| appliance VmRSS | {:.1} MiB before, {:.1} MiB with {tabs} tabs: {:.0} KiB per tab |",
        rss_before / 1024.0,
        rss_after / 1024.0,
        (rss_after - rss_before) / tabs as f64
    );
    println!("| model.delta events | {} |", deltas.len());
    println!(
        "| run event → render, {tabs} tabs | p50 {:.0} ms, p99 {:.0} ms, max {:.0} ms over {} (tab, event) pairs; {replayed} replayed at connect; {missing} never shown |",
        pct(&live, 50.0),
        pct(&live, 99.0),
        live.last().copied().unwrap_or(f64::NAN),
        live.len()
    );
    println!(
        "| load average | {} |",
        std::fs::read_to_string("/proc/loadavg")
            .unwrap_or_default()
            .trim()
    );
    assert_eq!(missing, 0, "every tab showed every event");
}
