//! Run-event storage benchmark on the shared reference corpus (`../shared/bench/README.md`),
//! against the real store API (`create_run`, `update_run`) on a real redb file with the
//! appliance's durable group commit, and the search index rebuilt from that store.
//!
//! What is measured (a bench binary, `harness = false`; it prints a table):
//! 1. **Durable event writes.** The corpus's runs become runs of the store: its 50 workspaces
//!    and their clusters are registered as real workspaces and clusters; each corpus run is a
//!    run (in a session of its cluster, reused once the previous run there has ended) whose
//!    first event (`user_message`) is the `run.created` of `create_run` and whose other events
//!    are appended with `update_run` (`model_delta` → `model.delta`, `tool_call` → `tool.call`,
//!    `tool_result` → `tool.result`, `answer` → `run.completed`, which ends the run and is
//!    always its last event); every event's data is `{"text": body}`.
//!    - *one event per write*: every event is its own `create_run`/`update_run` call, with 1
//!      and with 4 concurrent writers (their calls share commits through group commit);
//!      events/s and p50/p99/max latency of a write. On a fresh store and again on the store
//!      holding the whole corpus. `ACORN_BENCH_SINGLE` events (default 20,000, whole runs).
//!    - *100 events per write, 4 writers*: each writer takes its share of the runs in order and
//!      writes them 100 events at a time: the runs that start in those 100 events are created
//!      together, then the events of each run in the 100 are appended in one `update_run` per
//!      run, all of them at once (the store has no multi-run append: "a write" of 100 events is
//!      these concurrent calls, which the writer thread commits together). Events/s over the
//!      whole corpus (`ACORN_BENCH_EVENTS`, default 1,000,000), latency of one such write, and
//!      events per durable commit as the store's commit observer saw them.
//! 2. **Search index rebuild** from that store, as the appliance's indexer does it
//!    (`appliance/src/control/search.rs`): `run_events_since` in batches of 5,000, each event
//!    converted to a `SearchDoc` with the run's metadata from its run record (a cache of run
//!    records cleared past 10,000 runs), added and committed to a fresh `SearchIndex` (default
//!    options) with the batch's last `gseq` as watermark, then `set_search_state` in the store;
//!    finally the background merges settle. Total time, events/s, where the time went, index
//!    and store sizes.
//!
//! Deviation from the appliance's `doc_of`, on purpose: the engine's `model.delta` events are
//! not indexed there (the whole turn is, as `model.message`); the corpus has no
//! `model.message`, so its `model_delta` bodies are indexed as `model_message` (as the search
//! benchmark does) and the rebuild indexes the whole corpus. Bodies come from `data.text`.
//!
//! Every phase prints wall time, the process's CPU time (all threads) and the machine's load
//! average before and after: the machine (2 cores) is shared with other work.
//!
//! Environment: `ACORN_BENCH_EVENTS`, `ACORN_BENCH_SINGLE`, `ACORN_BENCH_CORPUS_DIR` (default
//! `$HOME/.cache/acorn-bench`; the corpus is generated there with the shared `gen_events.py`
//! when absent, plain JSON lines), `ACORN_BENCH_TOOLS` (the scripts' directory, default
//! `../shared/bench` next to the workspace), `ACORN_BENCH_DIR` (where the stores and the
//! index are written; default a temporary directory; the disk is what is measured).
//!
//! # Measured
//!
//! The shared 2-core development machine, Nov 2026, 1,000,000 events (86,904 runs, avg body
//! 288 B), store and index in `/tmp` on the machine's virtual disk, while other sessions were
//! compiling (load average 4.4–9.0 on 2 cores during the run; CPU is this process's):
//!
//! | series                                         | events/s | write p50 / p99 / max      | CPU / wall      |
//! |------------------------------------------------|---------:|----------------------------|-----------------|
//! | 1 event per write, 1 writer, fresh store       |      427 | 0.90 / 12.1 / 88 ms        | 9.0 / 46.8 s    |
//! | 1 event per write, 4 writers, fresh store      |      740 | 4.03 / 20.8 / 102 ms       | 5.1 / 27.0 s    |
//! | 100 events per write, 4 writers, whole corpus  |    7,947 | 48.7 / 101 / 182 ms        | 55.3 / 125.8 s  |
//! | 1 event per write, 1 writer, 1M-event store    |      536 | 0.91 / 8.0 / 56 ms         | 11.8 / 37.3 s   |
//! | 1 event per write, 4 writers, 1M-event store   |    1,004 | 2.74 / 12.2 / 48 ms        | 8.3 / 19.9 s    |
//!
//! Group commit merged 2.6–2.8 writes per commit with 4 single-event writers, and 115 events
//! (21 store calls) per commit in the batched series. The store file holding the corpus is
//! 1,088 MiB (1,141 B/event: the event, its global-log entry, run and session records).
//! Postgres 15 on the same corpus and kind of machine: ≈ 2,250 events/s one per transaction
//! and ≈ 9,200 events/s a hundred per transaction (four clients). In the single-event series
//! every write waits for its commit's fsync: the median write takes under 1 ms alone, but the
//! slow tail of the shared disk sets the throughput (1 writer: 2.3 ms per write on average).
//!
//! Index rebuild from that store: 1,000,000 events → 1,000,000 documents in 113.0 s (8,851
//! events/s; 113.8 s with merges settled, 8 segments; 77.7 s CPU), of which store reads
//! 17.8 s, conversion 8.2 s, adding 4.1 s and commits 73.5 s: the indexer commits the index
//! (and records its watermark in the store) every 5,000 events, 200 commits for this corpus;
//! fewer, larger commits during a rebuild (the search benchmark commits every 100,000) are
//! the first thing to try. The index is 303 MiB (318 B/document).

use std::collections::HashMap;
use std::io::BufRead;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use acorn_proto::agent::{NamespaceFilter, RunMode};
use acorn_proto::runs::{RunEvent, RunEventKind, RunLimits, RunState};
use acorn_store::search::{Opened, SEARCH_SCHEMA_VERSION, SearchDoc, SearchIndex, SearchOptions};
use acorn_store::{
    Actor, ActorKind, AgentKey, AuditDraft, AuditResult, Category, Cluster, CommitStats, NewEvent,
    Operation, RbacScope, RunChange, RunRecord, SearchState, SessionRecord, SnapshotInfo, Store,
    StoreOptions, new_id, new_run_id,
};
use serde_json::json;

const SEED_EVENTS: u64 = 42;
/// Events per write in the batched series.
const PER_WRITE: usize = 100;
/// The appliance's indexer: events read from the store per indexing batch.
const REBUILD_BATCH: usize = 5000;
/// The appliance's indexer: the run-record cache is cleared past this many runs.
const RUN_CACHE: usize = 10_000;

// ---- corpus -----------------------------------------------------------------------------------

fn env_usize(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// The events file of the reference corpus, generated when absent (as `search.rs` does).
fn corpus(events: usize) -> PathBuf {
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
    if !events_file.exists() {
        eprintln!(
            "generating {} (takes minutes for 1M events)",
            events_file.display()
        );
        let tmp = events_file.with_extension("jsonl.tmp");
        let status = Command::new("python3")
            .arg(tools.join("gen_events.py"))
            .args([
                "--n",
                &events.to_string(),
                "--seed",
                &SEED_EVENTS.to_string(),
            ])
            .arg("--out")
            .arg(&tmp)
            .status()
            .expect("run python3");
        assert!(status.success(), "gen_events.py failed: {status}");
        std::fs::rename(&tmp, &events_file).expect("rename corpus");
    }
    events_file
}

#[derive(serde::Deserialize)]
struct Line {
    workspace_id: String,
    cluster_id: String,
    run_id: String,
    kind: String,
    created_at: String,
    body: String,
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

struct CorpusEvent {
    kind: RunEventKind,
    at_ms: i64,
    body: String,
}

/// One corpus run: indexes into the corpus's workspaces and clusters, and its events.
struct CorpusRun {
    cluster: usize,
    events: Vec<CorpusEvent>,
}

struct Corpus {
    workspaces: Vec<String>,
    /// `(workspace index, corpus cluster id)`.
    clusters: Vec<(usize, String)>,
    runs: Vec<CorpusRun>,
    events: usize,
    body_bytes: usize,
}

fn kind_of(kind: &str) -> RunEventKind {
    match kind {
        "user_message" => RunEventKind::RunCreated,
        "model_delta" => RunEventKind::ModelDelta,
        "tool_call" => RunEventKind::ToolCall,
        "tool_result" => RunEventKind::ToolResult,
        "answer" => RunEventKind::RunCompleted,
        other => panic!("unknown corpus kind {other}"),
    }
}

/// Reads the first `limit` events, grouped by run (the corpus emits runs whole, in order).
fn load(path: &Path, limit: usize) -> Corpus {
    let file = std::io::BufReader::new(std::fs::File::open(path).expect("open corpus"));
    let mut c = Corpus {
        workspaces: Vec::new(),
        clusters: Vec::new(),
        runs: Vec::new(),
        events: 0,
        body_bytes: 0,
    };
    let mut ws_index: HashMap<String, usize> = HashMap::new();
    let mut cluster_index: HashMap<String, usize> = HashMap::new();
    let mut last_run = String::new();
    for line in file.lines().take(limit) {
        let e: Line = serde_json::from_str(&line.expect("read corpus")).expect("event json");
        let kind = kind_of(&e.kind);
        if e.run_id != last_run {
            assert_eq!(
                kind,
                RunEventKind::RunCreated,
                "a run starts with its question"
            );
            let n = ws_index.len();
            let workspace = *ws_index.entry(e.workspace_id.clone()).or_insert(n);
            if workspace == c.workspaces.len() {
                c.workspaces.push(e.workspace_id.clone());
            }
            let n = cluster_index.len();
            let cluster = *cluster_index.entry(e.cluster_id.clone()).or_insert(n);
            if cluster == c.clusters.len() {
                c.clusters.push((workspace, e.cluster_id.clone()));
            }
            c.runs.push(CorpusRun {
                cluster,
                events: Vec::new(),
            });
            last_run = e.run_id;
        }
        c.events += 1;
        c.body_bytes += e.body.len();
        if let Some(run) = c.runs.last_mut() {
            run.events.push(CorpusEvent {
                kind,
                at_ms: parse_ms(&e.created_at),
                body: e.body,
            });
        }
    }
    c
}

/// The first whole runs holding at least `events` events.
fn slice(runs: &[CorpusRun], events: usize) -> &[CorpusRun] {
    let mut n = 0;
    for (i, r) in runs.iter().enumerate() {
        n += r.events.len();
        if n >= events {
            return &runs[..=i];
        }
    }
    runs
}

// ---- measuring --------------------------------------------------------------------------------

/// CPU time of this process (all threads) so far, from `/proc/self/stat` (clock ticks of
/// 1/100 s).
fn cpu_seconds() -> f64 {
    let stat = std::fs::read_to_string("/proc/self/stat").unwrap_or_default();
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

/// The 1-minute load average.
fn load_average() -> f64 {
    std::fs::read_to_string("/proc/loadavg")
        .ok()
        .and_then(|s| s.split_whitespace().next().and_then(|v| v.parse().ok()))
        .unwrap_or(f64::NAN)
}

/// Wall time, CPU time and load of one phase.
struct Phase {
    started: Instant,
    cpu: f64,
    load: f64,
}

impl Phase {
    fn start() -> Phase {
        Phase {
            started: Instant::now(),
            cpu: cpu_seconds(),
            load: load_average(),
        }
    }

    /// `(wall, "CPU x s, load a → b")`.
    fn end(&self) -> (Duration, String) {
        let wall = self.started.elapsed();
        let cpu = cpu_seconds() - self.cpu;
        (
            wall,
            format!(
                "{:.1} s wall, {cpu:.1} s CPU, load {:.1} → {:.1}",
                wall.as_secs_f64(),
                self.load,
                load_average()
            ),
        )
    }
}

fn pct(sorted: &[Duration], p: f64) -> Duration {
    if sorted.is_empty() {
        return Duration::ZERO;
    }
    sorted[((sorted.len() - 1) as f64 * p).round() as usize]
}

fn ms(d: Duration) -> String {
    format!("{:.2} ms", d.as_secs_f64() * 1e3)
}

fn mib(bytes: u64) -> String {
    format!("{:.0} MiB", bytes as f64 / (1024.0 * 1024.0))
}

fn dir_size(dir: &Path) -> u64 {
    std::fs::read_dir(dir)
        .expect("dir")
        .map(|e| {
            let e = e.expect("entry");
            let m = e.metadata().expect("metadata");
            if m.is_dir() {
                dir_size(&e.path())
            } else {
                m.len()
            }
        })
        .sum()
}

/// Commits and writes seen by the store's commit observer.
#[derive(Default)]
struct Commits {
    commits: AtomicU64,
    writes: AtomicU64,
}

impl Commits {
    fn snapshot(&self) -> (u64, u64) {
        (
            self.commits.load(Ordering::Relaxed),
            self.writes.load(Ordering::Relaxed),
        )
    }
}

// ---- the store's world ------------------------------------------------------------------------

fn draft(ws: Option<&str>, action: &str, category: Category) -> AuditDraft {
    AuditDraft {
        workspace_id: ws.map(str::to_owned),
        actor: Actor {
            kind: ActorKind::User,
            id: "usr_bench".into(),
            display: "bench".into(),
        },
        action: action.into(),
        target: None,
        result: AuditResult::Success,
        source_ip: None,
        request_id: None,
        operation: Operation::Write,
        category,
        metadata: Default::default(),
        at: 1,
    }
}

/// A store with the corpus's workspaces and clusters registered.
struct World {
    store: Store,
    commits: Arc<Commits>,
    user: String,
    /// `(workspace id, cluster id)` by corpus index.
    clusters: Vec<(String, String)>,
}

async fn world(path: &Path, corpus: &Corpus) -> World {
    let commits = Arc::new(Commits::default());
    let mut options = StoreOptions::new("bench");
    let seen = Arc::clone(&commits);
    options.commit_observer = Some(Arc::new(move |s: CommitStats| {
        seen.commits.fetch_add(1, Ordering::Relaxed);
        seen.writes.fetch_add(s.records as u64, Ordering::Relaxed);
    }));
    let store = Store::open(path, options).expect("open store");
    let user = store
        .upsert_oidc_user("https://idp.bench", "bench", None, true, None, 1)
        .await
        .expect("user")
        .id;
    let mut workspaces = Vec::new();
    for (i, _) in corpus.workspaces.iter().enumerate() {
        let ws = store
            .create_workspace(
                &format!("ws-{i}"),
                &user,
                1,
                draft(None, "workspace.create", Category::Workspace),
            )
            .await
            .expect("workspace");
        workspaces.push(ws.id);
    }
    let mut clusters = Vec::new();
    for (i, (ws, _)) in corpus.clusters.iter().enumerate() {
        let ws = workspaces[*ws].clone();
        let id = new_id("clu_").expect("id");
        let cluster = Cluster {
            id: id.clone(),
            workspace_id: ws.clone(),
            name: format!("cluster-{i}"),
            namespaces: NamespaceFilter::default_excludes(),
            rbac_scope: RbacScope::Cluster,
            write_allowed: false,
            logs_allowed: true,
            agent_image: None,
            created_at: 1,
            created_by: user.clone(),
            agent: None,
            tools: Vec::new(),
            snapshot: SnapshotInfo::default(),
            auto_triage: false,
        };
        let key = AgentKey {
            id: new_id("agk_").expect("id"),
            workspace_id: ws.clone(),
            cluster_id: id.clone(),
            created_at: 1,
            expires_at: None,
        };
        let mut hash = [0u8; 32];
        hash[..8].copy_from_slice(&(i as u64).to_be_bytes());
        store
            .register_cluster(
                cluster,
                key,
                hash,
                draft(Some(&ws), "cluster.register", Category::Cluster),
            )
            .await
            .expect("cluster");
        clusters.push((ws, id));
    }
    World {
        store,
        commits,
        user,
        clusters,
    }
}

impl World {
    /// Creates the sessions of every writer: `needs[writer][cluster]` sessions on that
    /// cluster, returned as `sessions[writer][cluster][k]`. Not measured.
    async fn sessions(&self, needs: &[HashMap<usize, usize>]) -> Vec<HashMap<usize, Vec<String>>> {
        let mut out = Vec::new();
        let mut tasks = Vec::new();
        for need in needs {
            let mut mine: HashMap<usize, Vec<String>> = HashMap::new();
            for (&c, &n) in need {
                for _ in 0..n {
                    let (ws, cluster) = self.clusters[c].clone();
                    let id = new_id("ses_").expect("id");
                    mine.entry(c).or_default().push(id.clone());
                    let store = self.store.clone();
                    let user = self.user.clone();
                    tasks.push(tokio::spawn(async move {
                        store
                            .create_run_session(SessionRecord {
                                id,
                                workspace_id: ws,
                                cluster_id: cluster,
                                title: "bench".into(),
                                created_by: user,
                                created_at: 1,
                                updated_at: 1,
                                active_run: None,
                                last_run: None,
                                alert: None,
                            })
                            .await
                            .expect("session")
                    }));
                }
            }
            out.push(mine);
        }
        for t in tasks {
            t.await.expect("session task");
        }
        out
    }
}

fn limits() -> RunLimits {
    RunLimits {
        max_steps: 20,
        max_tool_calls: 40,
        max_identical_tool_calls: 3,
        max_context_tokens: 100_000,
        max_output_tokens: 8_000,
        max_runtime_seconds: 600,
        max_cost: 5.0,
    }
}

fn new_event(e: &CorpusEvent) -> NewEvent {
    NewEvent {
        kind: e.kind,
        at_ms: e.at_ms,
        data: json!({ "text": e.body }),
    }
}

/// `create_run` with the run's question as its `run.created` event; returns the run id.
async fn create(store: &Store, ids: (&str, &str, &str), user: &str, e: &CorpusEvent) -> String {
    let (ws, cluster, session) = ids;
    let run = RunRecord {
        id: new_run_id(e.at_ms).expect("run id"),
        workspace_id: ws.to_owned(),
        cluster_id: cluster.to_owned(),
        session_id: session.to_owned(),
        state: RunState::Queued,
        mode: RunMode::ReadOnly,
        provider: "scripted".into(),
        model: "bench-model".into(),
        question: e.body.clone(),
        limits: limits(),
        usage: Default::default(),
        created_by: user.to_owned(),
        created_at: e.at_ms / 1000,
        started_at: None,
        ended_at: None,
        answer: None,
        evidence: Vec::new(),
        error: None,
        pending_approval: None,
        next_seq: 0,
    };
    let (run, _) = store
        .create_run(run, new_event(e))
        .await
        .expect("create_run");
    run.id
}

/// `update_run` appending `events` (a `run.completed` among them must be the last one: it
/// ends the run, and the change says so).
async fn append(store: &Store, run_id: &str, events: &[CorpusEvent]) {
    let mut change = RunChange::default();
    if let Some(last) = events.last()
        && last.kind == RunEventKind::RunCompleted
    {
        change.state = Some(RunState::Completed);
        change.ended_at = Some(last.at_ms / 1000);
        change.answer = Some(last.body.clone());
    }
    store
        .update_run(run_id, change, events.iter().map(new_event).collect())
        .await
        .expect("update_run");
}

/// The runs of each writer: run `i` goes to writer `i % writers`.
fn share(runs: &[CorpusRun], writers: usize) -> Vec<Vec<usize>> {
    let mut out = vec![Vec::new(); writers];
    for i in 0..runs.len() {
        out[i % writers].push(i);
    }
    out
}

/// Part of a run written by one write: events `from..end`, in the `session`-th session of
/// the run's cluster (of this writer).
#[derive(Clone, Copy)]
struct Part {
    run: usize,
    from: usize,
    end: usize,
    session: usize,
}

/// A writer's runs cut into writes of `per_write` events (a run may continue in the next
/// write), and the sessions each cluster needs: a run holds a session from its creation to
/// the end of the write that completes it (runs are created before the appends of a write,
/// so a session is reused from the next write on). Returns the writes and the number of
/// sessions per cluster.
fn plan(
    mine: &[usize],
    runs: &[CorpusRun],
    per_write: usize,
) -> (Vec<Vec<Part>>, HashMap<usize, usize>) {
    let mut writes = Vec::new();
    let mut current: Vec<Part> = Vec::new();
    let mut room = per_write;
    let mut free: HashMap<usize, Vec<usize>> = HashMap::new();
    let mut count: HashMap<usize, usize> = HashMap::new();
    let mut close = |current: &mut Vec<Part>, free: &mut HashMap<usize, Vec<usize>>| {
        for p in current.iter() {
            if p.end == runs[p.run].events.len() {
                free.entry(runs[p.run].cluster).or_default().push(p.session);
            }
        }
        writes.push(std::mem::take(current));
    };
    for &r in mine {
        let cluster = runs[r].cluster;
        let len = runs[r].events.len();
        let session = match free.entry(cluster).or_default().pop() {
            Some(k) => k,
            None => {
                let n = count.entry(cluster).or_default();
                *n += 1;
                *n - 1
            }
        };
        let mut from = 0;
        while from < len {
            let take = room.min(len - from);
            current.push(Part {
                run: r,
                from,
                end: from + take,
                session,
            });
            from += take;
            room -= take;
            if room == 0 {
                close(&mut current, &mut free);
                room = per_write;
            }
        }
    }
    if !current.is_empty() {
        close(&mut current, &mut free);
    }
    (writes, count)
}

struct Series {
    name: String,
    events: usize,
    wall: Duration,
    cost: String,
    latencies: Vec<Duration>,
    commits: (u64, u64),
}

/// `writers` concurrent writers, `per_write` events per write. With `per_write == 1` each
/// event is its own store call, one after the other; otherwise the runs that start in a write
/// are created together, then each run's events of the write are appended by one
/// `update_run` per run, all at once. Latency is that of one write.
async fn run_series(
    world: &World,
    runs: &Arc<Vec<CorpusRun>>,
    writers: usize,
    per_write: usize,
    name: String,
) -> Series {
    let mut plans = Vec::new();
    let mut needs = Vec::new();
    for mine in share(runs, writers) {
        let (writes, need) = plan(&mine, runs, per_write);
        plans.push(writes);
        needs.push(need);
    }
    let sessions = Arc::new(world.sessions(&needs).await);
    let events: usize = runs.iter().map(|r| r.events.len()).sum();
    eprintln!("{name}: {events} events");
    let before = world.commits.snapshot();
    let phase = Phase::start();
    let mut tasks = Vec::new();
    let clusters = Arc::new(world.clusters.clone());
    for (w, writes) in plans.into_iter().enumerate() {
        let (store, runs, sessions) =
            (world.store.clone(), Arc::clone(runs), Arc::clone(&sessions));
        let (clusters, user) = (Arc::clone(&clusters), world.user.clone());
        tasks.push(tokio::spawn(async move {
            let mut latencies = Vec::with_capacity(writes.len());
            // Store ids of this writer's runs that started in an earlier write.
            let mut ids: HashMap<usize, String> = HashMap::new();
            for parts in writes {
                let t = Instant::now();
                let mut creating = Vec::new();
                for p in parts.iter().filter(|p| p.from == 0) {
                    let run = &runs[p.run];
                    let (ws, cluster) = clusters[run.cluster].clone();
                    let session = sessions[w][&run.cluster][p.session].clone();
                    let (store, runs, user, r) =
                        (store.clone(), Arc::clone(&runs), user.clone(), p.run);
                    let create = async move {
                        create(&store, (&ws, &cluster, &session), &user, &runs[r].events[0]).await
                    };
                    if per_write == 1 {
                        ids.insert(r, create.await);
                    } else {
                        creating.push((r, tokio::spawn(create)));
                    }
                }
                for (r, task) in creating {
                    ids.insert(r, task.await.expect("create task"));
                }
                let mut appending = Vec::new();
                for p in &parts {
                    let from = p.from.max(1);
                    if from >= p.end {
                        continue;
                    }
                    let id = ids.get(&p.run).cloned().expect("run created");
                    if p.end == runs[p.run].events.len() {
                        ids.remove(&p.run);
                    }
                    let (store, runs, r, end) = (store.clone(), Arc::clone(&runs), p.run, p.end);
                    let append =
                        async move { append(&store, &id, &runs[r].events[from..end]).await };
                    if per_write == 1 {
                        append.await;
                    } else {
                        appending.push(tokio::spawn(append));
                    }
                }
                for task in appending {
                    task.await.expect("append task");
                }
                latencies.push(t.elapsed());
            }
            latencies
        }));
    }
    let mut latencies = Vec::new();
    for t in tasks {
        latencies.extend(t.await.expect("writer"));
    }
    let (wall, cost) = phase.end();
    let after = world.commits.snapshot();
    latencies.sort_unstable();
    Series {
        name,
        events,
        wall,
        cost,
        latencies,
        commits: (after.0 - before.0, after.1 - before.1),
    }
}

// ---- rebuild ----------------------------------------------------------------------------------

/// The indexed form of an event, mirroring the appliance's `control/search.rs::doc_of` (see
/// the module docs for the one deviation: `model.delta` is indexed as `model_message`).
fn doc_of(gseq: u64, e: &RunEvent, run: &RunRecord) -> Option<SearchDoc> {
    let text = e.data["text"].as_str().unwrap_or_default();
    let kind = match e.kind {
        RunEventKind::RunCreated => "user_message",
        RunEventKind::ModelDelta => "model_message",
        RunEventKind::ToolCall => "tool_call",
        RunEventKind::ToolResult => "tool_result",
        RunEventKind::RunCompleted => "answer",
        _ => return None,
    };
    if text.trim().is_empty() {
        return None;
    }
    Some(SearchDoc {
        gseq,
        workspace: run.workspace_id.clone(),
        cluster: run.cluster_id.clone(),
        session: run.session_id.clone(),
        run: run.id.clone(),
        seq: e.seq,
        kind: kind.to_owned(),
        author: run.created_by.clone(),
        model: format!("{}/{}", run.provider, run.model),
        created_at_ms: e.at_ms,
        body: text.to_owned(),
    })
}

struct Rebuild {
    events: u64,
    docs: u64,
    wall: Duration,
    settled: Duration,
    cost: String,
    read: Duration,
    convert: Duration,
    add: Duration,
    commit: Duration,
    segments: usize,
    size: u64,
}

async fn rebuild(store: &Store, dir: &Path) -> Rebuild {
    let (index, opened) = SearchIndex::open_with(dir, &SearchOptions::default()).expect("index");
    assert!(matches!(opened, Opened::Rebuilt { .. }), "{opened:?}");
    let phase = Phase::start();
    let (mut read, mut convert, mut add, mut commit) = Default::default();
    let (mut events, mut docs_total) = (0u64, 0u64);
    let mut runs: HashMap<String, Option<RunRecord>> = HashMap::new();
    loop {
        let watermark = index.watermark();
        let t = Instant::now();
        let (batch, last) = store
            .run_events_since(watermark, REBUILD_BATCH)
            .expect("run_events_since");
        read += t.elapsed();
        if last == watermark {
            break;
        }
        let t = Instant::now();
        let mut docs = Vec::with_capacity(batch.len());
        for (gseq, event) in &batch {
            let run = runs
                .entry(event.run_id.clone())
                .or_insert_with(|| store.run_record(&event.run_id).expect("run record"));
            if let Some(run) = run
                && let Some(doc) = doc_of(*gseq, event, run)
            {
                docs.push(doc);
            }
        }
        convert += t.elapsed();
        events += batch.len() as u64;
        docs_total += docs.len() as u64;
        let t = Instant::now();
        index.add(&docs).expect("add");
        add += t.elapsed();
        let t = Instant::now();
        index.commit(last).expect("commit");
        store
            .set_search_state(SearchState {
                schema_version: SEARCH_SCHEMA_VERSION,
                watermark: last,
                updated_at: 1,
            })
            .await
            .expect("search state");
        commit += t.elapsed();
        if runs.len() > RUN_CACHE {
            runs.clear();
        }
    }
    let (wall, _) = phase.end();
    index.wait_for_merges().expect("merges");
    let (settled, cost) = phase.end();
    assert_eq!(index.doc_count(), docs_total);
    Rebuild {
        events,
        docs: docs_total,
        wall,
        settled,
        cost,
        read,
        convert,
        add,
        commit,
        segments: index.segment_count(),
        size: dir_size(dir),
    }
}

// ---- report -----------------------------------------------------------------------------------

fn thousands(n: u64) -> String {
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

fn row(k: &str, v: String) {
    println!("| {k:<56} | {v:<60} |");
}

fn print_series(s: &Series) {
    let rate = s.events as f64 / s.wall.as_secs_f64();
    row(
        &s.name,
        format!(
            "{} events: {} events/s",
            thousands(s.events as u64),
            thousands(rate as u64)
        ),
    );
    row("  time", s.cost.clone());
    row(
        "  write latency p50 / p99 / max",
        format!(
            "{} / {} / {} ({} writes)",
            ms(pct(&s.latencies, 0.5)),
            ms(pct(&s.latencies, 0.99)),
            ms(pct(&s.latencies, 1.0)),
            thousands(s.latencies.len() as u64)
        ),
    );
    let (commits, writes) = s.commits;
    row(
        "  durable commits (store calls per commit)",
        format!(
            "{} ({:.1}; {:.1} events per commit)",
            thousands(commits),
            writes as f64 / commits.max(1) as f64,
            s.events as f64 / commits.max(1) as f64
        ),
    );
}

fn header() {
    println!("| {:<56} | {:<60} |", "measure", "value");
    println!("|{:-<58}|{:-<62}|", "", "");
}

async fn bench() {
    let events = env_usize("ACORN_BENCH_EVENTS", 1_000_000);
    let single_n = env_usize("ACORN_BENCH_SINGLE", 20_000).min(events);
    let file = corpus(events);
    let phase = Phase::start();
    let corpus = load(&file, events);
    let (load_wall, _) = phase.end();
    eprintln!(
        "corpus: {} events in {} runs, {} workspaces, {} clusters (read in {:.1} s)",
        corpus.events,
        corpus.runs.len(),
        corpus.workspaces.len(),
        corpus.clusters.len(),
        load_wall.as_secs_f64()
    );
    let tmp;
    let dir = match std::env::var_os("ACORN_BENCH_DIR") {
        Some(d) => {
            let d = PathBuf::from(d);
            let _ = std::fs::remove_dir_all(&d);
            std::fs::create_dir_all(&d).expect("bench dir");
            d
        }
        None => {
            tmp = tempfile::tempdir().expect("tempdir");
            tmp.path().to_path_buf()
        }
    };
    let Corpus {
        workspaces,
        clusters,
        runs,
        events: n_events,
        body_bytes,
    } = corpus;
    let corpus_meta = Corpus {
        workspaces,
        clusters,
        runs: Vec::new(),
        events: n_events,
        body_bytes,
    };
    let runs = Arc::new(runs);
    let first: Arc<Vec<CorpusRun>> = Arc::new(
        slice(&runs, single_n)
            .iter()
            .map(|r| CorpusRun {
                cluster: r.cluster,
                events: r
                    .events
                    .iter()
                    .map(|e| CorpusEvent {
                        kind: e.kind,
                        at_ms: e.at_ms,
                        body: e.body.clone(),
                    })
                    .collect(),
            })
            .collect(),
    );

    let mut all = Vec::new();
    // One event per write on fresh stores.
    for writers in [1, 4] {
        let path = dir.join(format!("single-{writers}.redb"));
        let world = world(&path, &corpus_meta).await;
        eprintln!("one event per write, {writers} writer(s), fresh store");
        all.push(
            run_series(
                &world,
                &first,
                writers,
                1,
                format!("1 event per write, {writers} writer(s), fresh store"),
            )
            .await,
        );
        drop(world);
        let _ = std::fs::remove_file(&path);
    }

    // The whole corpus, 100 events per write.
    let path = dir.join("acorn.redb");
    let world = world(&path, &corpus_meta).await;
    all.push(
        run_series(
            &world,
            &runs,
            4,
            PER_WRITE,
            format!("{PER_WRITE} events per write, 4 writers"),
        )
        .await,
    );
    let store_size = std::fs::metadata(&path).map(|m| m.len()).unwrap_or(0);
    let total_events = world.store.last_event_gseq().expect("gseq");

    // The rebuild of the index from that store.
    eprintln!("rebuilding the search index from the store");
    let rebuilt = rebuild(&world.store, &dir.join("search")).await;

    // One event per write again, on the store that holds the corpus.
    for writers in [1, 4] {
        eprintln!("one event per write, {writers} writer(s), full store");
        all.push(
            run_series(
                &world,
                &first,
                writers,
                1,
                format!(
                    "1 event per write, {writers} writer(s), store of {} events",
                    thousands(total_events)
                ),
            )
            .await,
        );
    }

    println!();
    println!(
        "run events: corpus of {} events in {} runs (avg body {} B), {} workspaces, {} \
         clusters; durable commits (redb, Durability::Immediate, group commit)",
        thousands(n_events as u64),
        thousands(runs.len() as u64),
        body_bytes / n_events.max(1),
        corpus_meta.workspaces.len(),
        corpus_meta.clusters.len()
    );
    header();
    for s in &all {
        print_series(s);
    }
    row(
        "store file after the corpus",
        format!(
            "{} ({:.0} B/event)",
            mib(store_size),
            store_size as f64 / total_events.max(1) as f64
        ),
    );
    row(
        "index rebuild from the store",
        format!(
            "{} events, {} docs: {:.1} s ({} events/s)",
            thousands(rebuilt.events),
            thousands(rebuilt.docs),
            rebuilt.wall.as_secs_f64(),
            thousands((rebuilt.events as f64 / rebuilt.wall.as_secs_f64()) as u64)
        ),
    );
    row(
        "  incl. merges settled",
        format!(
            "{:.1} s, {} segments; {}",
            rebuilt.settled.as_secs_f64(),
            rebuilt.segments,
            rebuilt.cost
        ),
    );
    row(
        "  store reads / convert / add / commit",
        format!(
            "{:.1} / {:.1} / {:.1} / {:.1} s",
            rebuilt.read.as_secs_f64(),
            rebuilt.convert.as_secs_f64(),
            rebuilt.add.as_secs_f64(),
            rebuilt.commit.as_secs_f64()
        ),
    );
    row(
        "  index size on disk",
        format!(
            "{} ({:.0} B/doc)",
            mib(rebuilt.size),
            rebuilt.size as f64 / rebuilt.docs.max(1) as f64
        ),
    );
    println!(
        "Postgres 15, same corpus (four clients): ≈ 2,250 events/s one per transaction, \
         ≈ 9,200 events/s a hundred per transaction"
    );
}

fn main() {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("runtime");
    rt.block_on(bench());
}
