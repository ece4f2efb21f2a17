//! SSE fan-out of a run's events (a bench binary, not a timed test), with real binaries: the
//! `acorn` appliance (engine, gateway, runs API), `acorn-agent` linked against
//! `acorn-kubesim` (`crashloop` scenario), and a scripted OpenAI-compatible model in this
//! process.
//!
//! The model answers every run with text streamed slowly: a lead-in of SSE comments (time for
//! the subscribers to connect; the gateway ignores comments), then `ACORN_BENCH_CHUNKS` chunks
//! (default 300) of a few words, `ACORN_BENCH_GAP_MS` apart (default 20 ms). The engine
//! coalesces the text into a `model.delta` event every 100 ms (or 1 KiB), each committed to the
//! store before it is published.
//!
//! Three runs in one session, one after the other:
//! 1. warm-up, no subscriber (not reported);
//! 2. no subscriber: the run's time (`run.created` → `run.completed`, from the events' `at_ms`);
//! 3. `ACORN_BENCH_SUBSCRIBERS` (default 200) subscribers on
//!    `GET /api/v1/workspaces/{ws}/runs/{id}/stream` (session cookie, each its own TLS
//!    connection, connected right after the run was accepted), plus one slow subscriber that
//!    connects and then reads nothing for 10 s.
//!
//! Reported: for every (subscriber, event) pair, delay = the time the subscriber had the whole
//! event − the event's `at_ms` (set by the engine before the store commit; same machine clock,
//! millisecond resolution) → p50 / p99 / max; events the subscriber had to get from the
//! replay because they were created before it connected are counted apart, not in the delays.
//! Every subscriber must receive every event of the run, in order (checked against
//! `GET /runs/{id}/events`). The run's time with 0 and with N subscribers; the slow
//! subscriber: when it started reading relative to the run's end, and that it still received
//! every event in order. CPU time of the appliance and of this process (which plays the
//! subscribers and the model on the same 2 cores) and the load average are printed next to
//! wall times.
//!
//! What the slow subscriber shows and what it does not: the run does not wait for it (the
//! engine publishes into a broadcast channel; each stream follows it on its own and refills
//! from the store when it lags). With this workload its backlog is a few tens of KiB, which
//! the socket buffers and the 1,024-event broadcast buffer hold, so the lag-and-refill path of
//! the stream is not exercised here (the integration tests cover `Last-Event-ID` replay).
//!
//! Run: `cargo bench -p acorn-tests --bench runs` (`ACORN_BENCH_SUBSCRIBERS`,
//! `ACORN_BENCH_CHUNKS`, `ACORN_BENCH_GAP_MS`, `ACORN_BENCH_LEAD_MS` change the workload).
//!
//! # Measured
//!
//! The shared 2-core development machine, Nov 2026 (load average 3.5–3.9 from other sessions'
//! builds), defaults: 68 events per run (64 `model.delta`).
//!
//! | measure                               | value                                                   |
//! |---------------------------------------|---------------------------------------------------------|
//! | run, 0 subscribers                    | 9.70 s (model streaming 6.42 s); CPU appliance 0.3 s     |
//! | run, 200 subscribers + 1 slow         | 9.91 s (model streaming 6.50 s); CPU appliance 0.7 s, bench 0.5 s |
//! | live delay p50 / p99 / max            | 8.3 / 54.2 / 64.3 ms over 13,200 (subscriber, event) pairs |
//! | events per subscriber                 | all 68, in order, for all 201 subscribers (400 pairs were replayed: `run.created`, `run.started` before the streams opened) |
//! | all 200 streams ended                 | 65 ms after `run.completed`                              |
//! | slow subscriber                       | resumed reading 0.32 s after the run had ended; got all 68 events in order |
//!
//! The run's time with 200 subscribers is within 2 % of the run alone (0.2 s over 9.7 s,
//! within the noise of a shared machine); the delay includes the store commit of each event
//! (its `at_ms` is taken before the commit) and, at the tail, the 2 cores shared by the
//! appliance, the 201 client streams and the model in this process.

#[path = "../harness/mod.rs"]
mod harness;
#[allow(dead_code)]
#[path = "../kubesim/sim.rs"]
mod sim;
#[allow(dead_code)]
#[path = "../gateway/upstream.rs"]
mod upstream;

use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use reqwest::Method;
use serde_json::{Value, json};

use harness::agent::{Agent, InstallSettings};
use harness::appliance::{Appliance, StartOptions};
use harness::identity::{User, user, workspace_with};
use sim::KubeSim;
use upstream::{Reply, Upstream};

/// How long the slow subscriber reads nothing.
const SLOW_PAUSE: Duration = Duration::from_secs(10);

fn env_usize(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn now_ms() -> f64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs_f64() * 1000.0)
        .unwrap_or(0.0)
}

/// CPU seconds (user + system) of a process, from `/proc/PID/stat` (ticks of 1/100 s).
fn cpu_seconds(pid: &str) -> f64 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    let after = stat.rsplit_once(')').map_or("", |(_, rest)| rest);
    let fields: Vec<&str> = after.split_whitespace().collect();
    let ticks = |i: usize| {
        fields
            .get(i)
            .and_then(|v| v.parse::<f64>().ok())
            .unwrap_or(0.0)
    };
    (ticks(11) + ticks(12)) / 100.0
}

fn load_average() -> f64 {
    std::fs::read_to_string("/proc/loadavg")
        .ok()
        .and_then(|s| s.split_whitespace().next().and_then(|v| v.parse().ok()))
        .unwrap_or(f64::NAN)
}

/// The pid of the `acorn serve` whose state dir is `state_dir` (the harness keeps the child
/// private; its command line names the state dir).
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

/// An appliance with a linked cluster, the scripted model as the workspace's default, and a
/// session (as the integration tests' `RunWorld` builds it).
struct World {
    app: Appliance,
    owner: User,
    ws: String,
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
                Some(json!({"name": "prod", "write_allowed": false})),
            )
            .await;
        let cluster = answer["cluster"]["id"].as_str().unwrap().to_owned();
        let manifest = answer["install"]["manifest"].as_str().unwrap();
        let settings = InstallSettings::from_manifest(manifest, dir.path());
        let file = dir.path().join("manifest.yaml");
        std::fs::write(&file, manifest).unwrap();
        let out = sim.kubectl(&["create", "--validate=false", "-f", file.to_str().unwrap()]);
        assert!(out.status.success(), "kubectl create -f manifest");
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
            "kind": "openai",
            "base_url": format!("http://127.0.0.1:{}/v1", model.port),
            "list_models": false,
            "models": [{"id": "scripted-model", "context_window": 64000,
                        "input_price_per_mtok": 1.0, "output_price_per_mtok": 2.0}],
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
                Some(json!({"cluster_id": cluster, "title": "fan-out"})),
            )
            .await["id"]
            .as_str()
            .unwrap()
            .to_owned();
        World {
            app,
            owner,
            ws,
            session,
            _sim: sim,
            _agent: agent,
            _model: model,
            _dir: dir,
        }
    }

    /// Starts a run; returns its id.
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

    /// Waits for the run to end; returns its stored events `(seq, kind, at_ms)`.
    async fn wait_end(&self, id: &str) -> Vec<(u64, String, i64)> {
        let deadline = Instant::now() + Duration::from_secs(120);
        loop {
            let r = self
                .owner
                .ok(Method::GET, &self.path(&format!("/runs/{id}")), None)
                .await;
            if ["completed", "failed", "cancelled", "timed_out"]
                .contains(&r["state"].as_str().unwrap_or(""))
            {
                assert_eq!(r["state"], "completed", "{r}");
                break;
            }
            assert!(Instant::now() < deadline, "run did not end: {r}");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        let events = self
            .owner
            .ok(Method::GET, &self.path(&format!("/runs/{id}/events")), None)
            .await;
        events
            .as_array()
            .unwrap()
            .iter()
            .map(|e| {
                (
                    e["seq"].as_u64().unwrap(),
                    e["kind"].as_str().unwrap().to_owned(),
                    e["at_ms"].as_i64().unwrap(),
                )
            })
            .collect()
    }
}

/// What one subscriber saw: when its stream was open, and `(seq, kind, at_ms, had_at_ms)` per
/// event.
struct Seen {
    connected_ms: f64,
    reading_from_ms: f64,
    events: Vec<(u64, String, i64, f64)>,
}

/// Subscribes to the run's stream and reads it to its end; `pause` before reading the body.
async fn subscribe(client: reqwest::Client, url: String, cookie: String, pause: Duration) -> Seen {
    let mut response = client
        .get(&url)
        .header("cookie", format!("__Host-acorn_session={cookie}"))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    let connected_ms = now_ms();
    if !pause.is_zero() {
        tokio::time::sleep(pause).await;
    }
    let reading_from_ms = now_ms();
    let mut pending = String::new();
    let mut events = Vec::new();
    while let Some(bytes) = response.chunk().await.unwrap() {
        let had = now_ms();
        pending.push_str(&String::from_utf8_lossy(&bytes));
        while let Some(end) = pending.find("\n\n") {
            let block: String = pending.drain(..end + 2).collect();
            let (mut id, mut kind, mut data) = (None, String::new(), String::new());
            for line in block.lines() {
                if let Some(v) = line.strip_prefix("id:") {
                    id = v.trim().parse::<u64>().ok();
                } else if let Some(v) = line.strip_prefix("event:") {
                    kind = v.trim().to_owned();
                } else if let Some(v) = line.strip_prefix("data:") {
                    data.push_str(v.trim_start());
                }
            }
            if let Some(id) = id {
                let event: Value = serde_json::from_str(&data).unwrap();
                events.push((id, kind, event["at_ms"].as_i64().unwrap(), had));
            }
        }
    }
    Seen {
        connected_ms,
        reading_from_ms,
        events,
    }
}

fn pct(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    sorted[((sorted.len() - 1) as f64 * p).round() as usize]
}

/// `run.created` → `run.completed`, and the model's streaming (first → last `model.delta`).
fn run_times(events: &[(u64, String, i64)]) -> (f64, f64) {
    let at = |kind: &str, last: bool| {
        let mut it = events.iter().filter(|e| e.1 == kind).map(|e| e.2);
        if last { it.next_back() } else { it.next() }.unwrap_or(0)
    };
    let total = (at("run.completed", true) - at("run.created", false)) as f64 / 1000.0;
    let streaming = (at("model.delta", true) - at("model.delta", false)) as f64 / 1000.0;
    (total, streaming)
}

/// Wall time, CPU of the appliance and of this process, load.
struct Cost {
    started: Instant,
    app_cpu: f64,
    own_cpu: f64,
    load: f64,
}

impl Cost {
    fn start(pid: &str) -> Cost {
        Cost {
            started: Instant::now(),
            app_cpu: cpu_seconds(pid),
            own_cpu: cpu_seconds("self"),
            load: load_average(),
        }
    }

    fn end(&self, pid: &str) -> String {
        format!(
            "{:.1} s wall; CPU appliance {:.1} s, bench {:.1} s; load {:.1} → {:.1}",
            self.started.elapsed().as_secs_f64(),
            cpu_seconds(pid) - self.app_cpu,
            cpu_seconds("self") - self.own_cpu,
            self.load,
            load_average()
        )
    }
}

fn row(k: &str, v: String) {
    println!("| {k:<40} | {v:<66} |");
}

async fn bench() {
    let subscribers = env_usize("ACORN_BENCH_SUBSCRIBERS", 200);
    let chunks = env_usize("ACORN_BENCH_CHUNKS", 300);
    let gap = Duration::from_millis(env_usize("ACORN_BENCH_GAP_MS", 20) as u64);
    let lead_ms = env_usize("ACORN_BENCH_LEAD_MS", 3000);
    let lead = lead_ms / (gap.as_millis() as usize).max(1);
    let model = Upstream::start(Arc::new(move |_req, _n| slow_answer(lead, chunks, gap))).await;
    eprintln!("starting the appliance, the simulator and the agent");
    let world = World::start(model).await;
    let pid = appliance_pid(&world.app.state_dir);
    // Each subscriber its own connection, as browsers are (HTTP/1.1: one stream per
    // connection); no overall timeout, the streams last as long as the run.
    let ca = reqwest::Certificate::from_pem(world.app.ca_pem.as_bytes()).unwrap();
    let client = reqwest::Client::builder()
        .tls_certs_only([ca])
        .build()
        .unwrap();

    eprintln!("warm-up run");
    let id = world.start_run().await;
    world.wait_end(&id).await;

    eprintln!("run without subscribers");
    let cost = Cost::start(&pid);
    let id = world.start_run().await;
    let alone = world.wait_end(&id).await;
    let alone_cost = cost.end(&pid);
    let (alone_total, alone_streaming) = run_times(&alone);

    eprintln!("run with {subscribers} subscribers and a slow one");
    let cost = Cost::start(&pid);
    let id = world.start_run().await;
    let url = world.app.url(&world.path(&format!("/runs/{id}/stream")));
    let mut tasks = Vec::new();
    for _ in 0..subscribers {
        tasks.push(tokio::spawn(subscribe(
            client.clone(),
            url.clone(),
            world.owner.cookie.clone(),
            Duration::ZERO,
        )));
    }
    let slow = tokio::spawn(subscribe(
        client.clone(),
        url.clone(),
        world.owner.cookie.clone(),
        SLOW_PAUSE,
    ));
    let mut seen = Vec::new();
    for t in tasks {
        seen.push(t.await.unwrap());
    }
    let crowd_done = now_ms();
    let stored = world.wait_end(&id).await;
    let slow = slow.await.unwrap();
    let crowd_cost = cost.end(&pid);
    let (crowd_total, crowd_streaming) = run_times(&stored);

    // Every subscriber got every event, in order.
    let expected: Vec<(u64, String)> = stored.iter().map(|e| (e.0, e.1.clone())).collect();
    for s in seen.iter().chain(std::iter::once(&slow)) {
        let got: Vec<(u64, String)> = s.events.iter().map(|e| (e.0, e.1.clone())).collect();
        assert_eq!(
            got, expected,
            "a subscriber's events differ from the stored ones"
        );
    }
    let mut delays = Vec::new();
    let mut replayed = 0usize;
    let mut last_connect = 0.0f64;
    for s in &seen {
        last_connect = last_connect.max(s.connected_ms);
        for (_, _, at, had) in &s.events {
            if (*at as f64) < s.connected_ms {
                replayed += 1;
            } else {
                delays.push(had - *at as f64);
            }
        }
    }
    delays.sort_by(f64::total_cmp);
    let run_end = stored.last().map_or(0, |e| e.2) as f64;
    let first_delta = stored
        .iter()
        .find(|e| e.1 == "model.delta")
        .map_or(0, |e| e.2) as f64;

    println!();
    println!(
        "run event fan-out over SSE: a model streaming {chunks} chunks {} ms apart after a \
         {:.1} s lead-in; {} events per run ({} model.delta)",
        gap.as_millis(),
        lead_ms as f64 / 1000.0,
        stored.len(),
        stored.iter().filter(|e| e.1 == "model.delta").count()
    );
    println!("| {:<40} | {:<66} |", "measure", "value");
    println!("|{:-<42}|{:-<68}|", "", "");
    row(
        "run, 0 subscribers",
        format!("{alone_total:.2} s (model streaming {alone_streaming:.2} s)"),
    );
    row("  cost", alone_cost);
    row(
        &format!("run, {subscribers} subscribers + 1 slow"),
        format!("{crowd_total:.2} s (model streaming {crowd_streaming:.2} s)"),
    );
    row("  cost", crowd_cost);
    row(
        "live delay p50 / p99 / max",
        format!(
            "{:.1} / {:.1} / {:.1} ms over {} (subscriber, event) pairs",
            pct(&delays, 0.5),
            pct(&delays, 0.99),
            pct(&delays, 1.0),
            delays.len()
        ),
    );
    row(
        "events per subscriber",
        format!(
            "{} each, all {} subscribers, in order; {replayed} pairs from the replay",
            expected.len(),
            seen.len() + 1
        ),
    );
    row(
        "last subscriber connected",
        format!(
            "{:.2} s before the first model.delta",
            (first_delta - last_connect) / 1000.0
        ),
    );
    row(
        "all fast subscribers done",
        format!("{:.0} ms after run.completed", crowd_done - run_end),
    );
    row(
        "slow subscriber",
        format!(
            "started reading {:.2} s after the run ended; got all {} events in order",
            (slow.reading_from_ms - run_end) / 1000.0,
            slow.events.len()
        ),
    );
}

fn main() {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(bench());
}
