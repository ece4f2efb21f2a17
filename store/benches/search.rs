//! Run-search benchmark on the shared reference corpus (`../shared/bench/README.md`): the same
//! events and queries the Postgres full-text figures were measured with.
//!
//! Measures the index build (= a full rebuild: every event added, a commit every 100,000 as a
//! rebuild does, then background merges settling), the size on disk, reopening (which verifies
//! every file's checksum), search latency over the 1,000 queries (each with its workspace
//! filter, limit 20, snippets), and queries/s with two client threads. Prints a table.
//!
//! Environment: `ACORN_BENCH_EVENTS` (default 1,000,000), `ACORN_BENCH_CORPUS_DIR` (default
//! `$HOME/.cache/acorn-bench`; the corpus and queries are generated there with the shared
//! Python scripts when absent — plain JSON lines, as no gzip crate is in the dependency tree),
//! `ACORN_BENCH_TOOLS` (the scripts' directory, default `../shared/bench` next to the
//! workspace), `ACORN_BENCH_INDEX_DIR` (where to build the index; default a temporary
//! directory), `ACORN_BENCH_WRITER_THREADS` and `ACORN_BENCH_WRITER_HEAP_MB` (the writer's
//! [`SearchOptions`]; default the appliance's).

use std::io::BufRead;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use acorn_store::search::{Opened, SearchDoc, SearchIndex, SearchOptions, SearchQuery};

const SEED_EVENTS: u64 = 42;
const SEED_QUERIES: u64 = 7;
const QUERIES: usize = 1000;
const BATCH: usize = 10_000;
const COMMIT_EVERY: usize = 100_000;

fn env_usize(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn run_python(tools: &Path, script: &str, args: &[&str]) {
    let status = Command::new("python3")
        .arg(tools.join(script))
        .args(args)
        .status()
        .expect("run python3");
    assert!(status.success(), "{script} failed: {status}");
}

/// Returns the events and queries files, generating them when absent.
fn corpus(events: usize) -> (PathBuf, PathBuf) {
    let dir = std::env::var_os("ACORN_BENCH_CORPUS_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            PathBuf::from(std::env::var_os("HOME").expect("HOME")).join(".cache/acorn-bench")
        });
    std::fs::create_dir_all(&dir).expect("corpus dir");
    let tools = std::env::var_os("ACORN_BENCH_TOOLS")
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("../../shared/bench"));
    let events_file = dir.join(format!("events-{events}-s{SEED_EVENTS}.jsonl"));
    let queries_file = dir.join(format!(
        "queries-{events}-s{SEED_EVENTS}-q{QUERIES}-s{SEED_QUERIES}.jsonl"
    ));
    if !events_file.exists() {
        eprintln!(
            "generating {} (takes minutes for 1M events)",
            events_file.display()
        );
        let tmp = events_file.with_extension("jsonl.tmp");
        run_python(
            &tools,
            "gen_events.py",
            &[
                "--n",
                &events.to_string(),
                "--seed",
                &SEED_EVENTS.to_string(),
                "--out",
                tmp.to_str().expect("utf-8 path"),
            ],
        );
        std::fs::rename(&tmp, &events_file).expect("rename corpus");
    }
    if !queries_file.exists() {
        let tmp = queries_file.with_extension("jsonl.tmp");
        run_python(
            &tools,
            "make_queries.py",
            &[
                "--corpus",
                events_file.to_str().expect("utf-8 path"),
                "--n",
                &QUERIES.to_string(),
                "--seed",
                &SEED_QUERIES.to_string(),
                "--out",
                tmp.to_str().expect("utf-8 path"),
            ],
        );
        std::fs::rename(&tmp, &queries_file).expect("rename queries");
    }
    (events_file, queries_file)
}

#[derive(serde::Deserialize)]
struct Event {
    workspace_id: String,
    cluster_id: String,
    run_id: String,
    seq: u64,
    kind: String,
    created_at: String,
    body: String,
}

#[derive(serde::Deserialize)]
struct Query {
    workspace_id: String,
    q: String,
}

/// `2025-10-03T12:34:56.789Z` → milliseconds since the epoch.
fn parse_ms(s: &str) -> i64 {
    let n = |r: std::ops::Range<usize>| -> i64 { s[r].parse().expect("timestamp digits") };
    let (y, m, d) = (n(0..4), n(5..7), n(8..10));
    let (hh, mm, ss, ms) = (n(11..13), n(14..16), n(17..19), n(20..23));
    // Days from civil (Howard Hinnant's algorithm).
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let doy = (153 * (if m > 2 { m - 3 } else { m + 9 }) + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    let days = era * 146_097 + doe - 719_468;
    ((days * 86_400 + hh * 3600 + mm * 60 + ss) * 1000) + ms
}

fn load_events(path: &Path, limit: usize) -> Vec<SearchDoc> {
    let file = std::io::BufReader::new(std::fs::File::open(path).expect("open corpus"));
    let mut docs = Vec::with_capacity(limit);
    for (i, line) in file.lines().enumerate().take(limit) {
        let e: Event = serde_json::from_str(&line.expect("read corpus")).expect("event json");
        docs.push(SearchDoc {
            gseq: i as u64 + 1,
            workspace: e.workspace_id,
            cluster: e.cluster_id,
            // The corpus has no sessions: one session per run.
            session: e.run_id.clone(),
            run: e.run_id,
            seq: e.seq,
            // The engine indexes coalesced model messages, not deltas.
            kind: if e.kind == "model_delta" {
                "model_message".into()
            } else {
                e.kind
            },
            author: String::new(),
            model: String::new(),
            created_at_ms: parse_ms(&e.created_at),
            body: e.body,
        });
    }
    docs
}

/// CPU time of this process (all threads) so far, from `/proc/self/stat` (Linux; clock ticks
/// of 1/100 s). Reported beside wall time because the machine may be shared.
fn cpu_seconds() -> f64 {
    let stat = std::fs::read_to_string("/proc/self/stat").unwrap_or_default();
    // Fields after the command name (which is in parentheses and may contain spaces).
    let after = stat.rsplit_once(')').map_or("", |(_, rest)| rest);
    let fields: Vec<&str> = after.split_whitespace().collect();
    let ticks = |i: usize| {
        fields
            .get(i)
            .and_then(|v| v.parse::<f64>().ok())
            .unwrap_or(0.0)
    };
    // utime and stime are fields 14 and 15 of the line, 12 and 13 after the name.
    (ticks(11) + ticks(12)) / 100.0
}

fn dir_size(dir: &Path) -> u64 {
    std::fs::read_dir(dir)
        .expect("index dir")
        .map(|e| e.expect("entry").metadata().expect("metadata").len())
        .sum()
}

fn pct(sorted: &[Duration], p: f64) -> Duration {
    sorted[((sorted.len() - 1) as f64 * p).round() as usize]
}

fn ms(d: Duration) -> String {
    format!("{:.2} ms", d.as_secs_f64() * 1e3)
}

fn query_of(q: &Query) -> SearchQuery {
    SearchQuery {
        text: q.q.clone(),
        workspaces: vec![q.workspace_id.clone()],
        limit: 20,
        ..Default::default()
    }
}

fn main() {
    let events = env_usize("ACORN_BENCH_EVENTS", 1_000_000);
    let (events_file, queries_file) = corpus(events);
    let docs = load_events(&events_file, events);
    let avg_body = docs.iter().map(|d| d.body.len()).sum::<usize>() / docs.len().max(1);
    let queries: Vec<Query> = std::fs::read_to_string(&queries_file)
        .expect("queries")
        .lines()
        .map(|l| serde_json::from_str(l).expect("query json"))
        .collect();

    let tmp;
    let index_dir = match std::env::var_os("ACORN_BENCH_INDEX_DIR") {
        Some(d) => {
            let d = PathBuf::from(d);
            let _ = std::fs::remove_dir_all(&d);
            d
        }
        None => {
            tmp = tempfile::tempdir().expect("tempdir");
            tmp.path().join("search")
        }
    };

    // Build, as a rebuild does: batches, a durable commit every COMMIT_EVERY events.
    let defaults = SearchOptions::default();
    let options = SearchOptions {
        writer_threads: env_usize("ACORN_BENCH_WRITER_THREADS", defaults.writer_threads),
        writer_heap_bytes: env_usize(
            "ACORN_BENCH_WRITER_HEAP_MB",
            defaults.writer_heap_bytes / 1_000_000,
        ) * 1_000_000,
    };
    let (index, opened) = SearchIndex::open_with(&index_dir, &options).expect("open");
    assert!(matches!(opened, Opened::Rebuilt { .. }));
    let started = Instant::now();
    let cpu_started = cpu_seconds();
    let mut since_commit = 0;
    for batch in docs.chunks(BATCH) {
        index.add(batch).expect("add");
        since_commit += batch.len();
        if since_commit >= COMMIT_EVERY {
            index
                .commit(batch.last().map_or(0, |d| d.gseq))
                .expect("commit");
            since_commit = 0;
        }
    }
    index.commit(docs.len() as u64).expect("final commit");
    let built = started.elapsed();
    let segments_built = index.segment_count();
    index.wait_for_merges().expect("merges");
    let settled = started.elapsed();
    let build_cpu = cpu_seconds() - cpu_started;
    assert_eq!(index.doc_count(), docs.len() as u64);
    let size = dir_size(&index_dir);
    let segments = index.segment_count();
    drop(index);
    drop(docs);

    let started = Instant::now();
    let (index, opened) = SearchIndex::open(&index_dir).expect("reopen");
    let reopened = started.elapsed();
    assert_eq!(
        opened,
        Opened::Ready {
            watermark: events as u64
        }
    );

    // One unmeasured pass (the reader's caches), then the measured one.
    let mut no_hits = Vec::new();
    for q in &queries {
        if index.search(&query_of(q)).expect("search").total == 0 {
            no_hits.push(q.q.as_str());
        }
    }
    let mut latencies = Vec::with_capacity(queries.len());
    let mut totals: Vec<u64> = Vec::with_capacity(queries.len());
    for q in &queries {
        let t = Instant::now();
        let r = index.search(&query_of(q)).expect("search");
        latencies.push(t.elapsed());
        totals.push(r.total);
    }
    latencies.sort_unstable();
    totals.sort_unstable();
    let mean = latencies.iter().sum::<Duration>() / latencies.len().max(1) as u32;

    // Two clients, each replaying every query (from different starting points).
    let started = Instant::now();
    std::thread::scope(|s| {
        for client in 0..2 {
            let (index, queries) = (index.clone(), &queries);
            s.spawn(move || {
                let n = queries.len();
                for i in 0..n {
                    let q = &queries[(i + client * n / 2) % n];
                    index.search(&query_of(q)).expect("search");
                }
            });
        }
    });
    let qps = (2 * queries.len()) as f64 / started.elapsed().as_secs_f64();

    println!();
    println!(
        "run search: {} events (avg body {avg_body} B), {} queries with their workspace filter, \
         limit 20 with snippets; writer {} threads, {} MB",
        docs_len(events),
        queries.len(),
        options.writer_threads,
        options.writer_heap_bytes / 1_000_000
    );
    let rows: Vec<(&str, String)> = vec![
        (
            "build: add + commit every 100k",
            format!(
                "{:.1} s ({:.0} docs/s), {segments_built} segments",
                built.as_secs_f64(),
                events as f64 / built.as_secs_f64()
            ),
        ),
        (
            "build incl. merges settled",
            format!(
                "{:.1} s ({:.0} docs/s), {segments} segments",
                settled.as_secs_f64(),
                events as f64 / settled.as_secs_f64()
            ),
        ),
        (
            "build CPU time (all threads)",
            format!(
                "{build_cpu:.1} s ({:.0} docs per CPU-second)",
                events as f64 / build_cpu
            ),
        ),
        (
            "index size on disk",
            format!(
                "{:.0} MiB ({:.0} B/event)",
                size as f64 / (1024.0 * 1024.0),
                size as f64 / events as f64
            ),
        ),
        ("reopen (verifies checksums)", ms(reopened)),
        ("search p50", ms(pct(&latencies, 0.5))),
        ("search p99", ms(pct(&latencies, 0.99))),
        ("search max", ms(latencies[latencies.len() - 1])),
        ("search mean", ms(mean)),
        ("queries/s, 2 client threads", format!("{qps:.0}")),
        (
            "matches per query p50 / p99 / max",
            format!(
                "{} / {} / {}",
                totals[totals.len() / 2],
                totals[((totals.len() - 1) as f64 * 0.99) as usize],
                totals[totals.len() - 1]
            ),
        ),
        ("queries with no match", no_hits.len().to_string()),
    ];
    println!("| {:<36} | {:<40} |", "measure", "value");
    println!("|{:-<38}|{:-<42}|", "", "");
    for (k, v) in rows {
        println!("| {k:<36} | {v:<40} |");
    }
    if !no_hits.is_empty() {
        println!("queries with no match: {no_hits:?}");
    }
    println!(
        "Postgres 15 FTS (GIN, workspace filter), same corpus and queries: p50 ≈ 26 ms, \
         p99 ≈ 0.9 s, ≈ 22 queries/s with two clients"
    );
}

fn docs_len(n: usize) -> String {
    let s = n.to_string();
    let mut out = String::new();
    for (i, c) in s.chars().enumerate() {
        if i > 0 && (s.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}
