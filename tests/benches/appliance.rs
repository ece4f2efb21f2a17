//! Appliance benchmarks (a bench binary, not a timed test):
//! - size of the `acorn` binary (the static release build when it exists),
//! - idle RSS of `acorn serve` after start,
//! - start-to-ready time (exec → `/readyz` answers 200) on an empty store and on a store of
//!   `ACORN_BENCH_BYTES` (default 1 GiB) of data.
//!
//! Run: `cargo bench -p acorn-tests --bench appliance`.

#[path = "../harness/mod.rs"]
mod harness;

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use acorn_store::{Store, StoreOptions};

fn main() {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let bytes: u64 = std::env::var("ACORN_BENCH_BYTES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(1 << 30);
    let acorn = harness::cargo_bin("acorn");
    report_binary_size(&acorn);

    let empty = tempfile::tempdir().unwrap();
    let (ready, rss) = start_to_ready(&acorn, empty.path(), true);
    println!(
        "start-to-ready, new store:            {:>8.1} ms (first start: CA + leaf generation)",
        ms(ready)
    );
    println!(
        "idle RSS after start:                 {:>8.1} MiB",
        rss as f64 / 1024.0
    );
    let mut runs: Vec<Duration> = (0..5)
        .map(|_| start_to_ready(&acorn, empty.path(), false).0)
        .collect();
    runs.sort();
    println!(
        "start-to-ready, small store (median): {:>8.1} ms",
        ms(runs[2])
    );

    let big = tempfile::tempdir().unwrap();
    let state = big.path().join("state");
    let written = fill_store(&state, bytes);
    let mut runs: Vec<Duration> = (0..5)
        .map(|_| start_to_ready(&acorn, &state, false).0)
        .collect();
    runs.sort();
    let size = std::fs::metadata(state.join("acorn.redb")).unwrap().len();
    println!(
        "start-to-ready, {:.2} GiB store (median of 5): {:>8.1} ms  ({} MiB of records)",
        size as f64 / (1u64 << 30) as f64,
        ms(runs[2]),
        written >> 20
    );
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

fn report_binary_size(dev: &Path) {
    let target = dev.parent().and_then(|p| p.parent()).unwrap();
    let static_bin = target.join("x86_64-unknown-linux-gnu/release/acorn");
    let (bin, label) = if static_bin.exists() {
        (static_bin, "static release")
    } else {
        (dev.to_path_buf(), "this profile")
    };
    let size = std::fs::metadata(&bin).unwrap().len();
    println!(
        "binary size ({label}):              {:>8.1} MiB  {}",
        size as f64 / (1u64 << 20) as f64,
        bin.display()
    );
}

/// Starts `acorn serve`, polls `/readyz` until 200, reads VmRSS after a short idle, stops it.
fn start_to_ready(acorn: &Path, state_dir: &Path, measure_rss: bool) -> (Duration, u64) {
    let port = free_port();
    let started = Instant::now();
    let mut child = Command::new(acorn)
        .args([
            "serve",
            "--log-format",
            "json",
            "--listen",
            &format!("127.0.0.1:{port}"),
            "--state-dir",
        ])
        .arg(state_dir)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let ready = loop {
        if readyz(port) {
            break started.elapsed();
        }
        assert!(
            started.elapsed() < Duration::from_secs(300),
            "not ready within 300 s"
        );
        std::thread::sleep(Duration::from_millis(2));
    };
    let mut rss = 0;
    if measure_rss {
        std::thread::sleep(Duration::from_secs(3));
        rss = vm_rss_kib(child.id());
    }
    Command::new("kill")
        .arg("-TERM")
        .arg(child.id().to_string())
        .status()
        .unwrap();
    child.wait().unwrap();
    (ready, rss)
}

/// `/readyz` answers 200. curl with `-k`: the bench measures readiness, not the trust chain
/// (the integration tests check that).
fn readyz(port: u16) -> bool {
    Command::new("curl")
        .args(["-sk", "--fail", "-o", "/dev/null", "--max-time", "1"])
        .arg(format!("https://127.0.0.1:{port}/readyz"))
        .status()
        .map(|s| s.success())
        .unwrap_or(false)
}

fn vm_rss_kib(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap_or(0)
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// Writes about `bytes` of system events (64 KiB each, 64 writers so commits are grouped).
fn fill_store(state_dir: &Path, bytes: u64) -> u64 {
    std::fs::create_dir_all(state_dir).unwrap();
    let store = Store::open(&state_dir.join("acorn.redb"), StoreOptions::new("bench")).unwrap();
    let message = "k8s event: Back-off restarting failed container ".repeat(64 * 1024 / 48);
    let count = bytes / message.len() as u64;
    let runtime = tokio::runtime::Runtime::new().unwrap();
    runtime.block_on(async {
        let mut tasks = Vec::new();
        for w in 0..64u64 {
            let store = store.clone();
            let message = message.clone();
            tasks.push(tokio::spawn(async move {
                let mut i = w;
                while i < count {
                    store
                        .append_system_event("bench.fill", &message)
                        .await
                        .unwrap();
                    i += 64;
                }
            }));
        }
        for t in tasks {
            t.await.unwrap();
        }
    });
    drop(store);
    count * message.len() as u64
}
