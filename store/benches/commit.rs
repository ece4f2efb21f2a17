//! Group-commit throughput: small (~200 B) system events with 1, 16 and 64 concurrent writers,
//! versus one durable transaction per record (`max_batch = 1`, which serializes writers one
//! record per fsync). Prints records/s and the p50/p99 latency a caller sees.
//! `ACORN_BENCH_RECORDS` sets the records per run (default 4000).

use std::time::{Duration, Instant};

use acorn_store::{Store, StoreOptions};

fn env(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn pct(sorted: &[Duration], p: f64) -> Duration {
    sorted[((sorted.len() - 1) as f64 * p) as usize]
}

fn run(writers: usize, max_batch: usize, records: usize) -> (f64, Duration, Duration) {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut opts = StoreOptions::new("bench");
    opts.max_batch = max_batch;
    let store = Store::open(&dir.path().join("acorn.redb"), opts).expect("open");
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime");
    let message = "m".repeat(200);
    let per_writer = records / writers;
    let started = Instant::now();
    let mut latencies: Vec<Duration> = rt.block_on(async {
        let mut tasks = Vec::new();
        for _ in 0..writers {
            let (store, message) = (store.clone(), message.clone());
            tasks.push(tokio::spawn(async move {
                let mut lat = Vec::with_capacity(per_writer);
                for _ in 0..per_writer {
                    let t = Instant::now();
                    store
                        .append_system_event("bench", &message)
                        .await
                        .expect("append");
                    lat.push(t.elapsed());
                }
                lat
            }));
        }
        let mut all = Vec::new();
        for t in tasks {
            all.extend(t.await.expect("join"));
        }
        all
    });
    let elapsed = started.elapsed();
    latencies.sort_unstable();
    let rate = latencies.len() as f64 / elapsed.as_secs_f64();
    (rate, pct(&latencies, 0.5), pct(&latencies, 0.99))
}

fn main() {
    let records = env("ACORN_BENCH_RECORDS", 4000);
    println!("group commit, {records} records of ~200 B per run");
    println!(
        "{:<28} {:>8} {:>12} {:>10} {:>10}",
        "mode", "writers", "records/s", "p50 ms", "p99 ms"
    );
    for writers in [1, 16, 64] {
        for (mode, max_batch) in [
            ("group commit (batch 1024)", 1024),
            ("one fsync per record", 1),
        ] {
            // The per-record mode is slow: give it fewer records so the run stays short.
            let n = if max_batch == 1 { records / 4 } else { records };
            let (rate, p50, p99) = run(writers, max_batch, n.max(writers));
            println!(
                "{mode:<28} {writers:>8} {rate:>12.0} {:>10.2} {:>10.2}",
                p50.as_secs_f64() * 1e3,
                p99.as_secs_f64() * 1e3
            );
        }
    }
}
