//! Online backup of a large store, and what it does to writers.
//! Fills a store with ~`ACORN_BENCH_BYTES` (default 1 GiB) of 64 KiB system events written in
//! big batches, then measures `backup_to` alone, and the p99 latency of 16 writers of small
//! records without and during a backup.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use acorn_store::{Store, StoreOptions, verify_backup};

fn env(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// Runs 16 writers until `stop`; returns (records, p50, p99).
fn writers(
    rt: &tokio::runtime::Runtime,
    store: &Store,
    stop: Arc<AtomicBool>,
) -> (usize, Duration, Duration) {
    let mut lat: Vec<Duration> = rt.block_on(async {
        let mut tasks = Vec::new();
        for _ in 0..16 {
            let (store, stop) = (store.clone(), stop.clone());
            tasks.push(tokio::spawn(async move {
                let mut lat = Vec::new();
                while !stop.load(Ordering::Relaxed) {
                    let t = Instant::now();
                    store
                        .append_system_event("bench", &"s".repeat(200))
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
    lat.sort_unstable();
    let p = |q: f64| lat[((lat.len() - 1) as f64 * q) as usize];
    (lat.len(), p(0.5), p(0.99))
}

fn main() {
    let target = env("ACORN_BENCH_BYTES", 1 << 30);
    let dir = tempfile::tempdir_in(std::env::var("ACORN_BENCH_DIR").unwrap_or_else(|_| ".".into()))
        .expect("tempdir");
    let path = dir.path().join("acorn.redb");
    let store = Store::open(&path, StoreOptions::new("bench")).expect("open");
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime");

    let message = "x".repeat(64 << 10);
    let count = target / (64 << 10);
    let t = Instant::now();
    rt.block_on(async {
        for _ in 0..count / 256 + 1 {
            let mut batch = Vec::new();
            for _ in 0..256 {
                let (store, message) = (store.clone(), message.clone());
                batch.push(tokio::spawn(async move {
                    store.append_system_event("fill", &message).await
                }));
            }
            for b in batch {
                b.await.expect("join").expect("append");
            }
        }
    });
    let size = std::fs::metadata(&path).expect("stat").len();
    println!(
        "filled {:.0} MiB in {:.1} s",
        size as f64 / 1048576.0,
        t.elapsed().as_secs_f64()
    );

    let t = Instant::now();
    let m = store
        .backup_to(&dir.path().join("quiet.redb"))
        .expect("backup");
    let quiet = t.elapsed();
    println!(
        "backup (no writers): {:.2} s, {:.0} MiB/s, {} records",
        quiet.as_secs_f64(),
        m.bytes as f64 / 1048576.0 / quiet.as_secs_f64(),
        m.records
    );
    let t = Instant::now();
    verify_backup(&dir.path().join("quiet.redb")).expect("verify");
    println!("verify_backup: {:.2} s", t.elapsed().as_secs_f64());

    // Writers alone, for as long as the backup took.
    let stop = Arc::new(AtomicBool::new(false));
    let s2 = stop.clone();
    let d = quiet.max(Duration::from_secs(2));
    let timer = std::thread::spawn(move || {
        std::thread::sleep(d);
        s2.store(true, Ordering::Relaxed);
    });
    let (n, p50, p99) = writers(&rt, &store, stop);
    timer.join().expect("timer");
    println!(
        "16 writers, no backup:     {n:>7} records  p50 {:>7.2} ms  p99 {:>7.2} ms",
        p50.as_secs_f64() * 1e3,
        p99.as_secs_f64() * 1e3
    );

    // Writers during a backup.
    let stop = Arc::new(AtomicBool::new(false));
    let (s2, store2, dest) = (stop.clone(), store.clone(), dir.path().join("busy.redb"));
    let backup = std::thread::spawn(move || {
        let t = Instant::now();
        let r = store2.backup_to(&dest);
        s2.store(true, Ordering::Relaxed);
        (r, t.elapsed())
    });
    let (n, p50, p99) = writers(&rt, &store, stop);
    let (r, busy) = backup.join().expect("backup thread");
    r.expect("backup");
    println!(
        "16 writers, during backup: {n:>7} records  p50 {:>7.2} ms  p99 {:>7.2} ms",
        p50.as_secs_f64() * 1e3,
        p99.as_secs_f64() * 1e3
    );
    println!("backup (with writers): {:.2} s", busy.as_secs_f64());
}
