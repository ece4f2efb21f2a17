//! Agent hub benchmark (a bench binary, not a timed test): the real release `acorn` with N
//! simulated agents connected at once (by default N = 1,000, then N = 10,000).
//!
//! A simulated agent is not `acorn-agent`: it is a load generator that speaks the tunnel
//! protocol of `acorn_proto::agent` by hand over WSS, pinning the appliance CA and presenting its
//! own cluster's agent key. It sends a hello with a catalog shaped like the real agent's (the
//! same fourteen tools, schemas generated from `acorn_proto::tools`, filler descriptions), then a
//! heartbeat every [`HEARTBEAT_INTERVAL_SECS`] from a jittered phase, and nothing else (no
//! snapshot, no deltas): what is measured is the cost of holding connections and of heartbeats.
//!
//! For each N, on a fresh appliance:
//! - register N clusters through the API (the hub keeps one connection per cluster), then
//!   connect all N (TCP + TLS + upgrade + hello → welcome, [`CONNECTING_AT_ONCE`] at a time);
//! - over a window after all are connected (`ACORN_BENCH_WINDOW_SECS`, default 60): heartbeat
//!   round trip as the agents see it (send → `heartbeat_ack`), and the appliance's own handling
//!   time from `acorn_agent_heartbeat_seconds` in `/metrics` (difference of two scrapes; quantiles
//!   interpolated within the ×2 buckets the way Prometheus' `histogram_quantile` does);
//! - the appliance's VmRSS and VmHWM (`/proc/PID/status`) idle with N clusters registered, with
//!   N agents connected, and after they all left;
//! - checks: `acorn_agents_connected` equals N during the window, every agent connected and
//!   stayed, every heartbeat was acknowledged. The numbers are printed either way; the process
//!   exits non-zero when a check failed.
//!
//! Every agent holds one socket here and the appliance one per agent, so both processes raise
//! their soft `RLIMIT_NOFILE` to the hard limit (the appliance does it itself at start); a size
//! that does not fit under the hard limit is skipped with a message.
//!
//! Layout: `main` (settings, file limit, the table) → `run_size` (one N) → `simulated_agent`
//! (one connection) → helpers for `/metrics`, `/proc`, percentiles.
//!
//! Run: `cargo bench -p acorn-tests --bench agent_hub` (both sizes). Pick sizes with arguments
//! (`cargo bench -p acorn-tests --bench agent_hub -- 1000`) or `ACORN_BENCH_AGENTS=1000,10000`.
//! `ACORN_BENCH_CATALOG=none` sends hellos without tools (the catalog's share of the memory).

#[path = "../harness/mod.rs"]
mod harness;

use std::collections::VecDeque;
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use acorn_proto::agent::{
    AGENT_KEY_HEADER, AgentMessage, CONNECT_PATH, ClusterFacts, HEARTBEAT_INTERVAL_SECS, Hello,
    HubMessage, MAX_FRAME_BYTES, PROTOCOL_VERSION, ToolClass, ToolSpec,
};
use futures_util::{SinkExt, StreamExt};
use reqwest::Method;
use serde_json::json;
use tokio::sync::{Semaphore, mpsc, watch};
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::protocol::WebSocketConfig;

use harness::appliance::Appliance;
use harness::identity::User;

/// Sizes run when neither arguments nor `ACORN_BENCH_AGENTS` pick some.
const DEFAULT_SIZES: [usize; 2] = [1_000, 10_000];
/// Agents in the middle of connecting at any moment. A fleet reconnecting after an appliance
/// restart spreads itself with jittered backoff; this bounds the load generator the same way.
const CONNECTING_AT_ONCE: usize = 64;
/// Registrations in flight at once (the store groups concurrent commits).
const REGISTERING_AT_ONCE: usize = 16;
/// Open files each process needs beyond one per agent (store, listeners, logs, HTTP clients).
const FILES_BESIDES_AGENTS: u64 = 512;
/// How long a connecting agent waits for its welcome.
const WELCOME_TIMEOUT: Duration = Duration::from_secs(120);
/// After the window, how long acknowledgements of the last heartbeats may take to arrive.
const ACK_GRACE: Duration = Duration::from_secs(3);

type Socket =
    tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

fn main() {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let sizes = sizes();
    let window = Duration::from_secs(
        std::env::var("ACORN_BENCH_WINDOW_SECS")
            .ok()
            .and_then(|v| v.parse().ok())
            .unwrap_or(60),
    );
    // The appliance is spawned by this process and inherits the raised soft limit too.
    let _ = rlimit::increase_nofile_limit(u64::MAX);
    let (soft, hard) = rlimit::getrlimit(rlimit::Resource::NOFILE).unwrap();
    let catalog = hello_catalog();
    println!(
        "agent hub benchmark: sizes {sizes:?}, window {} s, open file limit {soft} (hard {hard}), \
         hello of {} bytes ({} tools)",
        window.as_secs(),
        hello(0, &catalog).len(),
        catalog.len()
    );
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let mut results = Vec::new();
    let mut failed = Vec::new();
    for n in sizes {
        let needed = n as u64 + FILES_BESIDES_AGENTS;
        if needed > soft {
            let message = format!(
                "N = {n} skipped: it needs about {needed} open files per process and the hard \
                 limit is {hard}; raise it (ulimit -Hn, or LimitNOFILE= for a service)"
            );
            println!("{message}");
            failed.push(message);
            continue;
        }
        let result = runtime.block_on(run_size(n, window));
        print_table(std::slice::from_ref(&result), window);
        result.print_checks();
        failed.extend(result.failed_checks());
        results.push(result);
    }
    if results.len() > 1 {
        print_table(&results, window);
    }
    if !failed.is_empty() {
        eprintln!("agent hub benchmark: failed checks:");
        for f in &failed {
            eprintln!("  - {f}");
        }
        std::process::exit(1);
    }
}

/// Sizes from numeric arguments (cargo passes `--bench`, which is skipped), else from
/// `ACORN_BENCH_AGENTS` (comma-separated), else [`DEFAULT_SIZES`].
fn sizes() -> Vec<usize> {
    let from_args: Vec<usize> = std::env::args()
        .skip(1)
        .filter(|a| !a.starts_with('-'))
        .map(|a| a.replace('_', "").parse().expect("sizes are numbers"))
        .collect();
    if !from_args.is_empty() {
        return from_args;
    }
    match std::env::var("ACORN_BENCH_AGENTS") {
        Ok(list) => list
            .split(',')
            .map(|v| {
                v.trim()
                    .replace('_', "")
                    .parse()
                    .expect("ACORN_BENCH_AGENTS")
            })
            .collect(),
        Err(_) => DEFAULT_SIZES.to_vec(),
    }
}

/// Everything measured for one N.
struct SizeResult {
    n: usize,
    register: Duration,
    connect_all: Duration,
    /// Per agent: connect permit acquired → welcome received.
    connect_each: Vec<Duration>,
    connect_failures: Vec<String>,
    /// Round trips of heartbeats sent inside the window.
    round_trips: Vec<Duration>,
    /// Heartbeats sent inside the window and never acknowledged.
    unanswered: usize,
    /// Connections that ended before the bench ended them, with the first reason.
    lost: Vec<String>,
    /// Frames other than the expected acknowledgements.
    unexpected_frames: u64,
    /// The hub's heartbeat handling histogram over the window: (p50, p99, mean, count).
    hub: Option<(f64, f64, f64, f64)>,
    /// `acorn_agents_connected` at the start and at the end of the window.
    gauge: (f64, f64),
    mem_idle: Memory,
    mem_connected: Memory,
    mem_after: Memory,
    /// The load generator's own VmRSS with N connected.
    bench_rss_kib: u64,
    /// The machine's 1-minute load average at the start and at the end of the window (the
    /// machine is shared: latencies mean little without it).
    load: (String, String),
    /// CPU the appliance used during the window, in percent of one core.
    cpu_percent: f64,
}

impl SizeResult {
    fn failed_checks(&self) -> Vec<String> {
        let n = self.n;
        let mut out = Vec::new();
        if self.gauge != (n as f64, n as f64) {
            out.push(format!(
                "N = {n}: acorn_agents_connected was {} at the start and {} at the end of the \
                 window",
                self.gauge.0, self.gauge.1
            ));
        }
        if let Some(first) = self.connect_failures.first() {
            out.push(format!(
                "N = {n}: {} agents could not connect (first: {first})",
                self.connect_failures.len()
            ));
        }
        if let Some(first) = self.lost.first() {
            out.push(format!(
                "N = {n}: {} connections ended early (first: {first})",
                self.lost.len()
            ));
        }
        if self.unanswered > 0 {
            out.push(format!(
                "N = {n}: {} heartbeats of the window were never acknowledged",
                self.unanswered
            ));
        }
        if self.round_trips.is_empty() {
            out.push(format!("N = {n}: no heartbeat round trip was measured"));
        }
        if self.hub.is_none() {
            out.push(format!(
                "N = {n}: the hub's heartbeat histogram did not move during the window"
            ));
        }
        out
    }

    fn print_checks(&self) {
        let failed = self.failed_checks();
        if failed.is_empty() {
            println!(
                "N = {}: all connected and stayed, gauge = N, every heartbeat acknowledged",
                self.n
            );
        }
        for f in failed {
            println!("CHECK FAILED: {f}");
        }
    }
}

/// One N on a fresh appliance.
async fn run_size(n: usize, window: Duration) -> SizeResult {
    println!("\n== N = {n}");
    let app = Appliance::start().await;
    let pid = appliance_pid(&app.state_dir);
    let admin = harness::identity::user(&app, "bench").await;
    let ws = admin
        .ok(
            Method::POST,
            "/api/v1/workspaces",
            Some(json!({ "name": "fleet" })),
        )
        .await["id"]
        .as_str()
        .unwrap()
        .to_owned();

    let started = Instant::now();
    let keys = register_clusters(&admin, &ws, n).await;
    let register = started.elapsed();
    println!(
        "registered {n} clusters in {:.1} s ({:.0}/s)",
        register.as_secs_f64(),
        n as f64 / register.as_secs_f64()
    );
    tokio::time::sleep(Duration::from_secs(5)).await;
    let mem_idle = memory(pid);

    // Connect everyone; each agent starts heartbeating as soon as it is welcomed.
    let shared = Arc::new(Shared {
        tls: pinned_tls(&app.ca_pem),
        url: format!("wss://127.0.0.1:{}{CONNECT_PATH}", app.addr.port()),
        catalog: hello_catalog(),
        connecting: Semaphore::new(CONNECTING_AT_ONCE),
        epoch: Instant::now(),
    });
    let (stop_tx, stop_rx) = watch::channel(false);
    let (connected_tx, mut connected_rx) = mpsc::unbounded_channel();
    let tasks: Vec<_> = keys
        .into_iter()
        .enumerate()
        .map(|(index, key)| {
            tokio::spawn(simulated_agent(
                index,
                key,
                Arc::clone(&shared),
                connected_tx.clone(),
                stop_rx.clone(),
            ))
        })
        .collect();
    drop(connected_tx);
    let mut connect_each = Vec::with_capacity(n);
    let mut connect_failures = Vec::new();
    while connect_each.len() + connect_failures.len() < n {
        match connected_rx.recv().await {
            Some(Ok(took)) => connect_each.push(took),
            Some(Err(why)) => connect_failures.push(why),
            None => break,
        }
    }
    let connect_all = shared.epoch.elapsed();
    println!(
        "connected {} of {n} in {:.1} s ({} failed)",
        connect_each.len(),
        connect_all.as_secs_f64(),
        connect_failures.len()
    );

    // The window.
    let first = scrape(&app).await;
    let load_start = load_average();
    let cpu_start = cpu_seconds(pid);
    let window_start = Instant::now();
    tokio::time::sleep(window).await;
    let mem_connected = memory(pid);
    let bench_rss_kib = memory(std::process::id()).rss_kib;
    let last = scrape(&app).await;
    let load_end = load_average();
    let cpu_percent = 100.0 * (cpu_seconds(pid) - cpu_start) / window_start.elapsed().as_secs_f64();
    let window_end = Instant::now();
    tokio::time::sleep(ACK_GRACE).await;
    let _ = stop_tx.send(true);

    let mut round_trips = Vec::new();
    let mut unanswered = 0;
    let mut lost = Vec::new();
    let mut unexpected_frames = 0;
    let inside = |t: &Instant| *t >= window_start && *t < window_end;
    for task in tasks {
        let report = task.await.unwrap();
        round_trips.extend(
            report
                .beats
                .iter()
                .filter(|(sent, _)| inside(sent))
                .map(|(_, rtt)| *rtt),
        );
        unanswered += report.unanswered.iter().filter(|t| inside(t)).count();
        lost.extend(report.lost);
        unexpected_frames += report.unexpected_frames;
    }
    round_trips.sort();

    // After: wait until the hub let every connection go, then let the allocator settle.
    let deadline = Instant::now() + Duration::from_secs(120);
    while scrape(&app).await.connected > 0.0 && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    tokio::time::sleep(Duration::from_secs(5)).await;
    let mem_after = memory(pid);

    let hub = hub_quantiles(&first, &last);
    SizeResult {
        n,
        register,
        connect_all,
        connect_each: sorted(connect_each),
        connect_failures,
        round_trips,
        unanswered,
        lost,
        unexpected_frames,
        hub,
        gauge: (first.connected, last.connected),
        mem_idle,
        mem_connected,
        mem_after,
        bench_rss_kib,
        load: (load_start, load_end),
        cpu_percent,
    }
}

/// Registers `n` clusters in workspace `ws`; returns their agent keys.
async fn register_clusters(admin: &User, ws: &str, n: usize) -> Vec<String> {
    let path = format!("/api/v1/workspaces/{ws}/clusters");
    futures_util::stream::iter(0..n)
        .map(|i| {
            let path = &path;
            async move {
                let answer = admin
                    .ok(
                        Method::POST,
                        path,
                        Some(json!({ "name": format!("sim-{i:05}") })),
                    )
                    .await;
                answer["agent_key"].as_str().unwrap().to_owned()
            }
        })
        .buffer_unordered(REGISTERING_AT_ONCE)
        .collect()
        .await
}

/// What every simulated agent shares.
struct Shared {
    tls: Arc<rustls::ClientConfig>,
    url: String,
    catalog: Vec<ToolSpec>,
    connecting: Semaphore,
    /// Heartbeat phases are offsets from this instant.
    epoch: Instant,
}

/// What one simulated agent saw.
#[derive(Default)]
struct AgentReport {
    /// (sent at, round trip) of every acknowledged heartbeat.
    beats: Vec<(Instant, Duration)>,
    /// When each heartbeat that was never acknowledged was sent.
    unanswered: Vec<Instant>,
    /// Why the connection ended before the bench ended it.
    lost: Option<String>,
    unexpected_frames: u64,
}

/// One agent: connect, hello → welcome (reported on `connected`), then a heartbeat every
/// [`HEARTBEAT_INTERVAL_SECS`] from its own phase until `stop`.
async fn simulated_agent(
    index: usize,
    key: String,
    shared: Arc<Shared>,
    connected: mpsc::UnboundedSender<Result<Duration, String>>,
    mut stop: watch::Receiver<bool>,
) -> AgentReport {
    let mut report = AgentReport::default();
    let permit = shared.connecting.acquire().await.unwrap();
    let began = Instant::now();
    let socket = connect(index, &key, &shared).await;
    drop(permit);
    let mut socket = match socket {
        Ok(socket) => {
            let _ = connected.send(Ok(began.elapsed()));
            socket
        }
        Err(why) => {
            let _ = connected.send(Err(why));
            return report;
        }
    };

    // Jittered phase (deterministic per agent, so that runs are comparable): the first beat
    // is at the first `epoch + phase + k·period` not in the past.
    let period = Duration::from_secs(HEARTBEAT_INTERVAL_SECS);
    let phase = Duration::from_micros(splitmix64(index as u64) % period.as_micros() as u64);
    let mut next_beat = shared.epoch + phase;
    while next_beat < Instant::now() {
        next_beat += period;
    }
    let mut seq = 0u64;
    let mut pending: VecDeque<(u64, Instant)> = VecDeque::new();
    loop {
        tokio::select! {
            _ = stop.changed() => {
                let _ = socket.close(None).await;
                break;
            }
            _ = tokio::time::sleep_until(next_beat.into()) => {
                seq += 1;
                let frame = serde_json::to_string(&AgentMessage::Heartbeat { seq }).unwrap();
                let sent = Instant::now();
                if let Err(e) = socket.send(Message::Text(frame.into())).await {
                    report.lost = Some(format!("cannot send a heartbeat: {e}"));
                    break;
                }
                pending.push_back((seq, sent));
                next_beat += period;
            }
            frame = socket.next() => match frame {
                Some(Ok(Message::Text(text))) => {
                    let received = Instant::now();
                    match serde_json::from_str::<HubMessage>(&text) {
                        Ok(HubMessage::HeartbeatAck { seq: acked }) => {
                            match pending.iter().position(|(s, _)| *s == acked) {
                                Some(at) => {
                                    let (_, sent) = pending.remove(at).unwrap();
                                    report.beats.push((sent, received - sent));
                                }
                                None => report.unexpected_frames += 1,
                            }
                        }
                        _ => report.unexpected_frames += 1,
                    }
                }
                Some(Ok(Message::Close(frame))) => {
                    report.lost = Some(format!("closed by the appliance: {frame:?}"));
                    break;
                }
                Some(Ok(_)) => {}
                Some(Err(e)) => {
                    report.lost = Some(format!("connection failed: {e}"));
                    break;
                }
                None => {
                    report.lost = Some("connection ended".into());
                    break;
                }
            },
        }
    }
    report.unanswered = pending.into_iter().map(|(_, sent)| sent).collect();
    report
}

/// TCP + TLS (appliance CA pinned) + WebSocket upgrade with the key, hello, welcome.
async fn connect(index: usize, key: &str, shared: &Shared) -> Result<Socket, String> {
    let mut request = shared
        .url
        .as_str()
        .into_client_request()
        .map_err(|e| e.to_string())?;
    request
        .headers_mut()
        .insert(AGENT_KEY_HEADER, key.parse().map_err(|_| "bad key")?);
    // A small read buffer: the load generator holds thousands of sockets; the default 128 KiB
    // each would make it, not the appliance, the memory hog of the machine.
    let ws_config = WebSocketConfig::default()
        .read_buffer_size(8 * 1024)
        .max_message_size(Some(MAX_FRAME_BYTES))
        .max_frame_size(Some(MAX_FRAME_BYTES));
    let (mut socket, _) = tokio_tungstenite::connect_async_tls_with_config(
        request,
        Some(ws_config),
        false,
        Some(tokio_tungstenite::Connector::Rustls(Arc::clone(
            &shared.tls,
        ))),
    )
    .await
    .map_err(|e| format!("connect: {e}"))?;
    let text = hello(index, &shared.catalog);
    socket
        .send(Message::Text(text.into()))
        .await
        .map_err(|e| format!("send hello: {e}"))?;
    let deadline = tokio::time::Instant::now() + WELCOME_TIMEOUT;
    loop {
        let frame = tokio::time::timeout_at(deadline, socket.next())
            .await
            .map_err(|_| "no welcome in time".to_owned())?;
        match frame {
            Some(Ok(Message::Text(text))) => {
                return match serde_json::from_str::<HubMessage>(&text) {
                    Ok(HubMessage::Welcome(_)) => Ok(socket),
                    _ => Err(format!("expected a welcome, got {text}")),
                };
            }
            Some(Ok(Message::Ping(_) | Message::Pong(_))) => continue,
            other => return Err(format!("expected a welcome, got {other:?}")),
        }
    }
}

/// The hello frame of agent `index`.
fn hello(index: usize, catalog: &[ToolSpec]) -> String {
    let hello = AgentMessage::Hello(Hello {
        protocol: PROTOCOL_VERSION,
        agent_version: "bench-simulated-agent".into(),
        tools: catalog.to_vec(),
        facts: ClusterFacts {
            kubernetes_version: "v1.33.2".into(),
            node_count: 3,
            metrics_available: true,
        },
        write_enabled: false,
        pod_name: Some(format!("simulated-agent-{index}")),
    });
    serde_json::to_string(&hello).unwrap()
}

/// The catalog the simulated agents announce: [`catalog`], or none with
/// `ACORN_BENCH_CATALOG=none` (which tells the catalog's share of the appliance's memory per
/// agent from the connection's own).
fn hello_catalog() -> Vec<ToolSpec> {
    match std::env::var("ACORN_BENCH_CATALOG").as_deref() {
        Ok("agent") | Err(_) => catalog(),
        Ok("none") => Vec::new(),
        Ok(other) => {
            panic!("ACORN_BENCH_CATALOG is `agent` (the default) or `none`, not `{other}`")
        }
    }
}

/// A client configuration that trusts only the appliance CA. Session resumption is off: each
/// real agent is its own process and pays for a full handshake, so the simulated ones do too.
fn pinned_tls(ca_pem: &str) -> Arc<rustls::ClientConfig> {
    use rustls::pki_types::CertificateDer;
    use rustls::pki_types::pem::PemObject;
    let mut roots = rustls::RootCertStore::empty();
    for cert in CertificateDer::pem_slice_iter(ca_pem.as_bytes()) {
        roots.add(cert.unwrap()).unwrap();
    }
    let mut config = rustls::ClientConfig::builder()
        .with_root_certificates(roots)
        .with_no_client_auth();
    config.resumption = rustls::client::Resumption::disabled();
    Arc::new(config)
}

/// A catalog shaped like `acorn-agent`'s: its tools by name and class, each with the JSON Schema
/// of its arguments type from `acorn_proto::tools` (as the agent generates it), and a filler
/// description of typical length. The hub keeps every connection's catalog in memory, so its
/// size matters to the appliance's memory per agent.
fn catalog() -> Vec<ToolSpec> {
    use acorn_proto::tools as args;
    fn schema<T: schemars::JsonSchema>() -> serde_json::Value {
        schemars::generate::SchemaSettings::draft2020_12()
            .into_generator()
            .into_root_schema_for::<T>()
            .to_value()
    }
    let tools = [
        (
            "list_resources",
            ToolClass::Read,
            schema::<args::ListResourcesArgs>(),
        ),
        (
            "get_resource",
            ToolClass::Read,
            schema::<args::GetResourceArgs>(),
        ),
        ("describe", ToolClass::Read, schema::<args::DescribeArgs>()),
        (
            "get_events",
            ToolClass::Read,
            schema::<args::GetEventsArgs>(),
        ),
        (
            "get_pod_logs",
            ToolClass::Read,
            schema::<args::GetPodLogsArgs>(),
        ),
        ("top_pods", ToolClass::Read, schema::<args::TopPodsArgs>()),
        ("top_nodes", ToolClass::Read, schema::<args::TopNodesArgs>()),
        (
            "rollout_history",
            ToolClass::Read,
            schema::<args::RolloutHistoryArgs>(),
        ),
        (
            "restart_workload",
            ToolClass::Write,
            schema::<args::RestartWorkloadArgs>(),
        ),
        (
            "scale_workload",
            ToolClass::Write,
            schema::<args::ScaleWorkloadArgs>(),
        ),
        (
            "delete_pod",
            ToolClass::Write,
            schema::<args::DeletePodArgs>(),
        ),
        ("cordon_node", ToolClass::Write, schema::<args::NodeArgs>()),
        (
            "uncordon_node",
            ToolClass::Write,
            schema::<args::NodeArgs>(),
        ),
        (
            "patch_workload",
            ToolClass::Write,
            schema::<args::PatchWorkloadArgs>(),
        ),
    ];
    tools
        .into_iter()
        .map(|(name, class, input_schema)| ToolSpec {
            name: name.into(),
            description: format!(
                "{name}: simulated catalog entry. Filler of about the length of the real \
                 agent's descriptions, which say in one or two sentences what the tool does."
            ),
            class,
            input_schema,
        })
        .collect()
}

/// A well-mixed 64-bit hash of `x` (splitmix64's finalizer), for reproducible jitter.
fn splitmix64(x: u64) -> u64 {
    let mut z = x.wrapping_add(0x9e37_79b9_7f4a_7c15);
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

/// The parts of `/metrics` this bench reads.
struct Scrape {
    connected: f64,
    /// `acorn_agent_heartbeat_seconds` buckets: (upper bound, cumulative count), `+Inf` last.
    heartbeat_buckets: Vec<(f64, f64)>,
    heartbeat_sum: f64,
}

async fn scrape(app: &Appliance) -> Scrape {
    let text = app
        .client
        .get(app.url("/metrics"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    parse_metrics(&text)
}

fn parse_metrics(text: &str) -> Scrape {
    let mut scrape = Scrape {
        connected: f64::NAN,
        heartbeat_buckets: Vec::new(),
        heartbeat_sum: 0.0,
    };
    for line in text.lines().filter(|l| !l.starts_with('#')) {
        let Some((series, value)) = line.rsplit_once(' ') else {
            continue;
        };
        let value: f64 = value.parse().unwrap_or(f64::NAN);
        if series == "acorn_agents_connected" {
            scrape.connected = value;
        } else if series == "acorn_agent_heartbeat_seconds_sum" {
            scrape.heartbeat_sum = value;
        } else if let Some(labels) = series.strip_prefix("acorn_agent_heartbeat_seconds_bucket{") {
            let le = labels
                .split_once("le=\"")
                .and_then(|(_, rest)| rest.split_once('"'))
                .map(|(le, _)| le)
                .unwrap();
            let le = if le == "+Inf" {
                f64::INFINITY
            } else {
                le.parse().unwrap()
            };
            scrape.heartbeat_buckets.push((le, value));
        }
    }
    assert!(
        !scrape.connected.is_nan() && !scrape.heartbeat_buckets.is_empty(),
        "/metrics lacks acorn_agents_connected or acorn_agent_heartbeat_seconds:\n{text}"
    );
    scrape
}

/// (p50, p99, mean, count) of the heartbeats the hub handled between two scrapes.
fn hub_quantiles(first: &Scrape, last: &Scrape) -> Option<(f64, f64, f64, f64)> {
    let delta: Vec<(f64, f64)> = first
        .heartbeat_buckets
        .iter()
        .zip(&last.heartbeat_buckets)
        .map(|(a, b)| {
            assert_eq!(a.0, b.0, "bucket bounds changed between scrapes");
            (a.0, b.1 - a.1)
        })
        .collect();
    let count = delta.last()?.1;
    let mean = (last.heartbeat_sum - first.heartbeat_sum) / count;
    Some((
        bucket_quantile(&delta, 0.5)?,
        bucket_quantile(&delta, 0.99)?,
        mean,
        count,
    ))
}

/// The `q` quantile of a cumulative histogram, interpolated linearly within its bucket (what
/// Prometheus' `histogram_quantile` does); `None` when it is empty.
fn bucket_quantile(buckets: &[(f64, f64)], q: f64) -> Option<f64> {
    let total = buckets.last()?.1;
    if total <= 0.0 {
        return None;
    }
    let rank = q * total;
    let (mut lower, mut below) = (0.0, 0.0);
    for &(le, count) in buckets {
        if count >= rank {
            if le.is_infinite() {
                return Some(lower);
            }
            let inside = count - below;
            let share = if inside > 0.0 {
                (rank - below) / inside
            } else {
                1.0
            };
            return Some(lower + (le - lower) * share);
        }
        (lower, below) = (le, count);
    }
    None
}

/// User + system CPU time of a process so far, in seconds (`/proc/PID/stat`, fields 14 and 15,
/// in clock ticks of `getconf CLK_TCK`).
fn cpu_seconds(pid: u32) -> f64 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap();
    // Fields after the command name, which is in parentheses and may contain spaces.
    let (_, rest) = stat.rsplit_once(')').unwrap();
    let fields: Vec<&str> = rest.split_whitespace().collect();
    // `rest` starts at field 3 (state): utime is field 14, stime field 15.
    let ticks: f64 = fields[11].parse::<f64>().unwrap() + fields[12].parse::<f64>().unwrap();
    let per_second: f64 = std::process::Command::new("getconf")
        .arg("CLK_TCK")
        .output()
        .ok()
        .and_then(|o| String::from_utf8_lossy(&o.stdout).trim().parse().ok())
        .unwrap_or(100.0);
    ticks / per_second
}

/// The 1-minute load average (`/proc/loadavg`).
fn load_average() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .unwrap()
        .split_whitespace()
        .next()
        .unwrap()
        .to_owned()
}

/// VmRSS and VmHWM of a process, in KiB.
#[derive(Clone, Copy, Default)]
struct Memory {
    rss_kib: u64,
    hwm_kib: u64,
}

fn memory(pid: u32) -> Memory {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    let field = |name: &str| {
        status
            .lines()
            .find_map(|l| l.strip_prefix(name))
            .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
            .unwrap()
    };
    Memory {
        rss_kib: field("VmRSS:"),
        hwm_kib: field("VmHWM:"),
    }
}

/// The pid of the `acorn serve` this process started on `state_dir` (the harness keeps its
/// child handle to itself): a child of ours whose command line names that state dir.
fn appliance_pid(state_dir: &Path) -> u32 {
    let me = std::process::id().to_string();
    let dir = state_dir.to_string_lossy();
    for entry in std::fs::read_dir("/proc").unwrap().flatten() {
        let Some(pid) = entry
            .file_name()
            .to_str()
            .and_then(|p| p.parse::<u32>().ok())
        else {
            continue;
        };
        let Ok(cmdline) = std::fs::read(format!("/proc/{pid}/cmdline")) else {
            continue;
        };
        let args: Vec<String> = cmdline
            .split(|b| *b == 0)
            .map(|a| String::from_utf8_lossy(a).into_owned())
            .collect();
        let parent = std::fs::read_to_string(format!("/proc/{pid}/stat"))
            .ok()
            .and_then(|s| {
                let (_, rest) = s.rsplit_once(')')?;
                rest.split_whitespace().nth(1).map(str::to_owned)
            });
        if parent.as_deref() == Some(me.as_str())
            && args.iter().any(|a| a == "serve")
            && args.iter().any(|a| *a == *dir)
        {
            return pid;
        }
    }
    panic!("no acorn serve child on {dir}");
}

fn sorted(mut v: Vec<Duration>) -> Vec<Duration> {
    v.sort();
    v
}

/// Nearest-rank percentile of sorted durations, in milliseconds.
fn percentile_ms(sorted: &[Duration], q: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    let rank = ((q * sorted.len() as f64).ceil() as usize).clamp(1, sorted.len());
    sorted[rank - 1].as_secs_f64() * 1000.0
}

fn mib(kib: u64) -> String {
    format!("{:.1} MiB", kib as f64 / 1024.0)
}

fn print_table(results: &[SizeResult], window: Duration) {
    if results.is_empty() {
        return;
    }
    let mut rows: Vec<(String, Vec<String>)> = Vec::new();
    let mut row = |label: &str, cell: &dyn Fn(&SizeResult) -> String| {
        rows.push((label.to_owned(), results.iter().map(cell).collect()));
    };
    row("simulated agents (N)", &|r| r.n.to_string());
    row("register N clusters (API)", &|r| {
        format!(
            "{:.1} s ({:.0}/s)",
            r.register.as_secs_f64(),
            r.n as f64 / r.register.as_secs_f64()
        )
    });
    row("connect all N", &|r| {
        format!(
            "{:.1} s ({:.0}/s)",
            r.connect_all.as_secs_f64(),
            r.n as f64 / r.connect_all.as_secs_f64()
        )
    });
    row(
        &format!("one connect p50 / p99 ({CONNECTING_AT_ONCE} at once)"),
        &|r| {
            format!(
                "{:.1} / {:.1} ms",
                percentile_ms(&r.connect_each, 0.5),
                percentile_ms(&r.connect_each, 0.99)
            )
        },
    );
    row("acorn_agents_connected (window start/end)", &|r| {
        format!("{} / {}", r.gauge.0, r.gauge.1)
    });
    row("heartbeats in window (acked / unacked)", &|r| {
        format!("{} / {}", r.round_trips.len(), r.unanswered)
    });
    row("heartbeat round trip p50 (agents)", &|r| {
        format!("{:.2} ms", percentile_ms(&r.round_trips, 0.5))
    });
    row("heartbeat round trip p99 (agents)", &|r| {
        format!("{:.2} ms", percentile_ms(&r.round_trips, 0.99))
    });
    row("heartbeat round trip max (agents)", &|r| {
        format!("{:.2} ms", percentile_ms(&r.round_trips, 1.0))
    });
    row("hub heartbeat handling p50 (/metrics)", &|r| {
        r.hub.map_or("-".into(), |h| format!("{:.1} µs", h.0 * 1e6))
    });
    row("hub heartbeat handling p99 (/metrics)", &|r| {
        r.hub.map_or("-".into(), |h| format!("{:.1} µs", h.1 * 1e6))
    });
    row("hub heartbeat handling mean / count", &|r| {
        r.hub
            .map_or("-".into(), |h| format!("{:.1} µs / {}", h.2 * 1e6, h.3))
    });
    row("acorn VmRSS idle, N registered", &|r| {
        mib(r.mem_idle.rss_kib)
    });
    row("acorn VmRSS, N connected", &|r| {
        mib(r.mem_connected.rss_kib)
    });
    row("acorn VmRSS per connected agent", &|r| {
        let grown = r.mem_connected.rss_kib.saturating_sub(r.mem_idle.rss_kib);
        format!("{:.1} KiB", grown as f64 / r.n as f64)
    });
    row("acorn VmHWM, N connected", &|r| {
        mib(r.mem_connected.hwm_kib)
    });
    row("acorn VmRSS after all left", &|r| mib(r.mem_after.rss_kib));
    row("acorn VmHWM at the end", &|r| mib(r.mem_after.hwm_kib));
    row("load generator VmRSS, N connected", &|r| {
        mib(r.bench_rss_kib)
    });
    row("acorn CPU during the window (% of one core)", &|r| {
        format!("{:.1} %", r.cpu_percent)
    });
    row("load average, 1 min (window start/end)", &|r| {
        format!("{} / {}", r.load.0, r.load.1)
    });
    row("unexpected frames / lost connections", &|r| {
        format!("{} / {}", r.unexpected_frames, r.lost.len())
    });

    let width = rows
        .iter()
        .map(|(l, _)| l.chars().count())
        .max()
        .unwrap_or(0);
    let cell_width = rows
        .iter()
        .flat_map(|(_, cells)| cells.iter().map(|c| c.chars().count()))
        .max()
        .unwrap_or(0);
    println!(
        "\nagent hub, {} s window, heartbeat every {HEARTBEAT_INTERVAL_SECS} s per agent",
        window.as_secs()
    );
    for (label, cells) in rows {
        let mut line = format!("{label:<width$}");
        for cell in cells {
            line.push_str(&format!("  {cell:>cell_width$}"));
        }
        println!("{line}");
    }
}
