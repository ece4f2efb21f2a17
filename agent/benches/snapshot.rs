//! Full-snapshot cost and steady-state delta traffic of the agent at 10,000 pods.
//!
//! Run: `cargo bench -p acorn-agent --bench snapshot` (prints a table). The simulator
//! (`acorn-kubesim`, in-process: `--scale-pods 10000 --scale-nodes 100` plus the `crashloop` and
//! `liveness-probe` scenarios, clock frozen) runs in this process; the agent side runs in a
//! child process (this same binary with `--agent URL`) so that its RSS is the agent's alone.
//! `AGENT_BENCH_PODS` and `AGENT_BENCH_SECONDS` change the pod count and the churn duration.
//!
//! Measured:
//! - snapshot: time from starting the watchers to a synced picture, then the time to cut it into
//!   chunk frames, the frame count and bytes; the child's RSS (VmRSS, and peak VmHWM) after it;
//! - deltas: while the simulator's clock advances 30 s per wall second (timeline restarts and
//!   events) and 100 generated pods change status per second, the delta bytes and changes per
//!   second the agent would send (batched as on a connection: ≤ 500 changes or 1 MiB a frame).

use std::io::{BufRead, BufReader, Write};
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use acorn_agent::health::Health;
use acorn_agent::redact::Redactor;
use acorn_agent::snapshot::picture::{Chunks, DeltaTake};
use acorn_agent::snapshot::{SnapshotSettings, Snapshotter};
use acorn_proto::agent::NamespaceFilter;

const FRAME: usize = 1024 * 1024;

fn status_kib(field: &str) -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with(field))
                .and_then(|l| l.split_whitespace().nth(1).and_then(|v| v.parse().ok()))
        })
        .unwrap_or(0)
}

fn env_usize(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// The agent side: snapshot, then report delta traffic once per second until stdin closes.
async fn agent(url: &str) {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let client =
        kube::Client::try_from(kube::Config::new(url.parse().expect("url"))).expect("client");
    let rss_before = status_kib("VmRSS:");
    let started = Instant::now();
    let snapshotter = Snapshotter::start(
        client,
        SnapshotSettings::new(NamespaceFilter::default()),
        Arc::new(Redactor::new(&[]).expect("redactor")),
        Arc::new(Health::new()),
    )
    .await;
    let picture = snapshotter.picture.clone();
    picture.wait_synced().await;
    let synced = started.elapsed();
    let cut = Instant::now();
    let snapshot = picture.begin_snapshot(&NamespaceFilter::default());
    let objects = snapshot.entries.len();
    let (mut frames, mut bytes, mut largest) = (0usize, 0usize, 0usize);
    for frame in Chunks::new(1, &snapshot.entries, FRAME) {
        frames += 1;
        bytes += frame.len();
        largest = largest.max(frame.len());
    }
    let serialize = cut.elapsed();
    drop(snapshot);
    println!(
        "SNAPSHOT objects={objects} synced_ms={} serialize_ms={} frames={frames} bytes={bytes} largest={largest} rss_before_kib={rss_before} rss_kib={} hwm_kib={}",
        synced.as_millis(),
        serialize.as_millis(),
        status_kib("VmRSS:"),
        status_kib("VmHWM:"),
    );
    let _ = std::io::stdout().flush();
    let mut tick = tokio::time::interval(Duration::from_secs(1));
    tick.tick().await;
    loop {
        tick.tick().await;
        let (mut changes, mut bytes) = (0usize, 0usize);
        while let DeltaTake::Frame { json, changes: n } = picture.take_delta(500, FRAME) {
            changes += n;
            bytes += json.len();
        }
        println!(
            "DELTA changes={changes} bytes={bytes} rss_kib={}",
            status_kib("VmRSS:")
        );
        let _ = std::io::stdout().flush();
    }
}

fn field(line: &str, name: &str) -> u64 {
    line.split_whitespace()
        .find_map(|kv| kv.strip_prefix(&format!("{name}=")))
        .and_then(|v| v.parse().ok())
        .unwrap_or(0)
}

async fn parent() {
    let pods = env_usize("AGENT_BENCH_PODS", 10_000);
    let seconds = env_usize("AGENT_BENCH_SECONDS", 20);
    let _ = rustls::crypto::ring::default_provider().install_default();
    let config = acorn_kubesim::Config {
        scenarios: vec!["crashloop".into(), "liveness-probe".into()],
        scale: Some((100, pods)),
        time_scale: 0.0,
        ..acorn_kubesim::Config::default()
    };
    let sim = acorn_kubesim::start(&config, "127.0.0.1:0".parse().expect("addr"))
        .await
        .expect("kubesim");
    let mut child = Command::new(std::env::current_exe().expect("exe"))
        .args(["--agent", &sim.url()])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .expect("spawn the agent side");
    let stdout = child.stdout.take().expect("stdout");
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            if tx.send(line).is_err() {
                return;
            }
        }
    });
    let snapshot = loop {
        let line = rx.recv().await.expect("the agent side ended");
        if line.starts_with("SNAPSHOT") {
            break line;
        }
    };

    // Churn: the scenario clock runs 30x, and 100 generated pods change status per second.
    let pod_type = sim.sim.registry().by_kind("v1", "Pod").expect("pods");
    let mut deltas: Vec<(u64, u64)> = Vec::new();
    let mut round = 0usize;
    while deltas.len() < seconds {
        sim.sim.advance(30.0);
        for i in 0..100 {
            let p = (round * 100 + i) % pods.max(1);
            let app = format!("svc-{:03}", p % 200);
            let name = format!("{app}-7d9f8b6c5d-{p:05}");
            let _ = sim.sim.store.update(pod_type, "scale", &name, |v| {
                let mut v = v.clone();
                let restarts = v["status"]["containerStatuses"][0]["restartCount"]
                    .as_u64()
                    .unwrap_or(0);
                v["status"]["containerStatuses"][0]["restartCount"] = (restarts + 1).into();
                Ok(v)
            });
        }
        round += 1;
        if let Ok(Some(line)) = tokio::time::timeout(Duration::from_millis(1100), rx.recv()).await
            && line.starts_with("DELTA")
        {
            deltas.push((field(&line, "changes"), field(&line, "bytes")));
        }
    }
    let _ = child.kill();
    let _ = child.wait();

    // The first second may still carry the end of the initial list's burst; skip it.
    let steady = &deltas[1.min(deltas.len())..];
    let n = steady.len().max(1) as u64;
    let changes: u64 = steady.iter().map(|d| d.0).sum::<u64>() / n;
    let bytes: u64 = steady.iter().map(|d| d.1).sum::<u64>() / n;
    println!(
        "acorn-agent snapshot bench: {pods} pods, 100 nodes (+ crashloop, liveness-probe scenarios)"
    );
    println!(
        "{:<44} {:>12}",
        "objects in the snapshot",
        field(&snapshot, "objects")
    );
    println!(
        "{:<44} {:>9} ms",
        "watchers started -> picture synced",
        field(&snapshot, "synced_ms")
    );
    println!(
        "{:<44} {:>9} ms",
        "cut into chunk frames",
        field(&snapshot, "serialize_ms")
    );
    println!(
        "{:<44} {:>12}",
        "chunk frames (<= 1 MiB)",
        field(&snapshot, "frames")
    );
    println!(
        "{:<44} {:>9} KiB",
        "snapshot bytes",
        field(&snapshot, "bytes") / 1024
    );
    println!(
        "{:<44} {:>9} KiB",
        "largest frame",
        field(&snapshot, "largest") / 1024
    );
    println!(
        "{:<44} {:>9} MiB",
        "agent RSS before start",
        field(&snapshot, "rss_before_kib") / 1024
    );
    println!(
        "{:<44} {:>9} MiB",
        "agent RSS after the snapshot",
        field(&snapshot, "rss_kib") / 1024
    );
    println!(
        "{:<44} {:>9} MiB",
        "agent peak RSS (VmHWM)",
        field(&snapshot, "hwm_kib") / 1024
    );
    println!("{:<44} {:>12}", "steady-state changes/s", changes);
    println!(
        "{:<44} {:>9} KiB",
        "steady-state delta bytes/s",
        bytes / 1024
    );
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("runtime");
    match args.iter().position(|a| a == "--agent") {
        Some(i) => {
            let url = args.get(i + 1).expect("--agent URL").clone();
            // Exit when the parent goes away (its end of stdin closes).
            std::thread::spawn(|| {
                let mut sink = String::new();
                let _ = std::io::stdin().read_line(&mut sink);
                std::process::exit(0);
            });
            runtime.block_on(agent(&url));
        }
        None => runtime.block_on(parent()),
    }
}
