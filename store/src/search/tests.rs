//! Unit tests of the run-search index against real tantivy in temporary directories.

use std::collections::BTreeSet;
use std::path::Path;

use super::*;

const WS_A: &str = "ws-a";
const WS_B: &str = "ws-b";

fn doc(
    gseq: u64,
    workspace: &str,
    cluster: &str,
    run: &str,
    kind: &str,
    t: i64,
    body: &str,
) -> SearchDoc {
    SearchDoc {
        gseq,
        workspace: workspace.into(),
        cluster: cluster.into(),
        session: format!("session-of-{run}"),
        run: run.into(),
        seq: gseq % 100,
        kind: kind.into(),
        author: "user-1".into(),
        model: "openai/gpt-4o".into(),
        created_at_ms: t,
        body: body.into(),
    }
}

/// A small corpus covering the query features; gseq is the document's name in the tables.
fn corpus() -> Vec<SearchDoc> {
    vec![
        doc(
            1,
            WS_A,
            "c1",
            "r1",
            "user_message",
            1_000,
            "Why is checkout crash-looping in payments?",
        ),
        doc(
            2,
            WS_A,
            "c1",
            "r1",
            "tool_result",
            2_000,
            "checkout-worker-7d9f8 0/1 CrashLoopBackOff restarts 12, exit code 137 OOMKilled",
        ),
        doc(
            3,
            WS_A,
            "c1",
            "r1",
            "answer",
            3_000,
            "The container was OOMKilled: it exceeded its memory limit. Raise the limit.",
        ),
        doc(
            4,
            WS_A,
            "c2",
            "r2",
            "user_message",
            4_000,
            "ingress returns 503 for the search service",
        ),
        doc(
            5,
            WS_A,
            "c2",
            "r2",
            "tool_result",
            5_000,
            "Endpoints: <none>; the service selector app=search matches no pod",
        ),
        doc(
            6,
            WS_A,
            "c2",
            "r2",
            "answer",
            6_000,
            "The Service selector matches no pods, so there are no endpoints: fix the label.",
        ),
        doc(
            7,
            WS_B,
            "c9",
            "r9",
            "user_message",
            7_000,
            "zookeeper quorum lost after node drain, exit code 1",
        ),
        doc(
            8,
            WS_B,
            "c9",
            "r9",
            "answer",
            8_000,
            "Restarting the zookeeper pods restores the quorum; exit code 137 at 2025-11-03T19:08:34Z was unrelated.",
        ),
        doc(
            9,
            WS_A,
            "c1",
            "r3",
            "tool_call",
            9_000,
            "{\"tool\":\"get_pod_logs\",\"args\":{\"previous\":true,\"pod\":\"checkout-worker-7d9f8\"}}",
        ),
        doc(
            10,
            WS_A,
            "c1",
            "r3",
            "model_message",
            10_000,
            "The previous container crashed: the logs show it was killed for memory, not a crash in code.",
        ),
    ]
}

fn fresh(dir: &Path) -> SearchIndex {
    let (idx, opened) = SearchIndex::open(dir).unwrap();
    assert!(matches!(opened, Opened::Rebuilt { .. }), "{opened:?}");
    idx
}

fn filled(dir: &Path) -> SearchIndex {
    let idx = fresh(dir);
    let docs = corpus();
    assert_eq!(idx.add(&docs).unwrap(), docs.len());
    idx.commit(10).unwrap();
    idx
}

fn q(text: &str, workspaces: &[&str]) -> SearchQuery {
    SearchQuery {
        text: text.into(),
        workspaces: workspaces.iter().map(|w| w.to_string()).collect(),
        limit: 50,
        ..Default::default()
    }
}

fn gseqs(idx: &SearchIndex, query: &SearchQuery) -> BTreeSet<u64> {
    let r = idx.search(query).unwrap();
    assert_eq!(
        r.total as usize,
        r.hits.len(),
        "all hits fit the page in these tests"
    );
    r.hits.iter().map(|h| h.gseq).collect()
}

fn set(v: &[u64]) -> BTreeSet<u64> {
    v.iter().copied().collect()
}

/// What each query matches in workspace A (plus B where asked): words, stemming, phrases,
/// operators, precedence, parentheses and field filters.
#[test]
fn query_language_table() {
    let tmp = tempfile::tempdir().unwrap();
    let idx = filled(tmp.path());
    let table: &[(&str, &[&str], &[u64])] = &[
        // stemming and case: "crashed", "crash" and "CRASHING" share the stem
        ("crashing", &[WS_A], &[1, 10]),
        ("CRASHED", &[WS_A], &[1, 10]),
        ("selector", &[WS_A], &[5, 6]),
        ("pod", &[WS_A], &[5, 6, 9]),
        // a word that splits into tokens is a phrase
        ("checkout-worker", &[WS_A], &[2, 9]),
        ("crash-looping", &[WS_A], &[1]),
        // quoted phrases need adjacency; a reversed phrase does not match
        ("\"exit code 137\"", &[WS_A, WS_B], &[2, 8]),
        ("\"code exit\"", &[WS_A, WS_B], &[]),
        ("\"matches no pods\"", &[WS_A], &[5, 6]),
        // an excluded phrase that never matches (the fuzz test found a tantivy assertion here)
        ("-\"not not\"", &[WS_B], &[7, 8]),
        ("-NOT^^'NOT", &[WS_B], &[7, 8]),
        // juxtaposition is AND
        ("oomkilled memory", &[WS_A], &[3]),
        ("oomkilled AND memory", &[WS_A], &[3]),
        ("oomkilled OR endpoints", &[WS_A], &[2, 3, 5, 6]),
        // AND binds tighter than OR
        ("ingress 503 OR zookeeper", &[WS_A, WS_B], &[4, 7, 8]),
        ("(checkout OR search) service", &[WS_A], &[4, 5]),
        // exclusion
        ("oomkilled -limit", &[WS_A], &[2]),
        ("oomkilled NOT limit", &[WS_A], &[2]),
        ("-checkout -search", &[WS_A], &[3, 6, 10]),
        ("selector OR -pod", &[WS_A], &[1, 2, 3, 4, 5, 6, 10]),
        ("--oomkilled", &[WS_A], &[2, 3]),
        // field filters on identifiers, exact
        ("kind:answer", &[WS_A], &[3, 6]),
        ("kind:\"tool_result\" oomkilled", &[WS_A], &[2]),
        ("run:r2 -kind:answer", &[WS_A], &[4, 5]),
        ("cluster:c2 OR kind:tool_call", &[WS_A], &[4, 5, 6, 9]),
        ("session:session-of-r3", &[WS_A], &[9, 10]),
        ("author:user-1 model:openai/gpt-4o label", &[WS_A], &[6]),
        ("author:someone-else label", &[WS_A], &[]),
        ("kind:Answer", &[WS_A], &[]),
        // operators are upper case only: lower-case ones are words
        ("no and endpoints", &[WS_A], &[]),
        ("not", &[WS_A], &[10]),
        // dates joined to their time (ISO 8601) are found by the date and by the hour
        ("2025-11-03", &[WS_B], &[8]),
        ("T19", &[WS_B], &[8]),
        ("2025-11-03T19:08", &[WS_B], &[8]),
        ("2025-11-04", &[WS_B], &[]),
        // punctuation-only words are ignored next to real ones
        ("oomkilled !!!", &[WS_A], &[2, 3]),
        // blank text: everything in the filters
        ("", &[WS_B], &[7, 8]),
        ("   ", &[WS_B], &[7, 8]),
    ];
    for (text, workspaces, expected) in table {
        assert_eq!(
            gseqs(&idx, &q(text, workspaces)),
            set(expected),
            "query {text:?} in {workspaces:?}"
        );
    }
}

#[test]
fn workspace_filter_is_part_of_the_query() {
    let tmp = tempfile::tempdir().unwrap();
    let idx = filled(tmp.path());
    // "zookeeper" exists only in workspace B.
    let in_a = idx.search(&q("zookeeper", &[WS_A])).unwrap();
    assert_eq!(in_a.total, 0);
    assert!(in_a.hits.is_empty());
    assert_eq!(idx.search(&q("zookeeper", &[WS_B])).unwrap().total, 2);
    assert_eq!(idx.search(&q("zookeeper", &[WS_A, WS_B])).unwrap().total, 2);
    // A term in both: each workspace counts only its own.
    assert_eq!(
        idx.search(&q("\"exit code 137\"", &[WS_A])).unwrap().total,
        1
    );
    // No readable workspace means nothing, never everything.
    for text in ["", "zookeeper", "-zookeeper"] {
        let r = idx.search(&q(text, &[])).unwrap();
        assert_eq!((r.total, r.hits.len()), (0, 0), "{text:?}");
    }
    // A workspace filter inside the query text is refused (the caller decides workspaces).
    match idx.search(&q("workspace:ws-b zookeeper", &[WS_A])) {
        Err(SearchError::Syntax {
            position: 0,
            message,
        }) => {
            assert!(message.contains("workspace filter"), "{message}")
        }
        other => panic!("{other:?}"),
    }
    // Counting only (limit 0) is filtered the same way.
    let mut count = q("zookeeper", &[WS_A]);
    count.limit = 0;
    assert_eq!(idx.search(&count).unwrap().total, 0);
    count.workspaces = vec![WS_B.into()];
    assert_eq!(idx.search(&count).unwrap().total, 2);
}

#[test]
fn cluster_time_and_run_filters() {
    let tmp = tempfile::tempdir().unwrap();
    let idx = filled(tmp.path());
    let base = q("", &[WS_A]);

    let mut cluster = base.clone();
    cluster.cluster = Some("c2".into());
    assert_eq!(gseqs(&idx, &cluster), set(&[4, 5, 6]));
    cluster.cluster = Some("c9".into()); // B's cluster, not readable through A
    assert_eq!(gseqs(&idx, &cluster), set(&[]));

    // from is inclusive, to exclusive
    let mut time = base.clone();
    time.from_ms = Some(2_000);
    time.to_ms = Some(5_000);
    assert_eq!(gseqs(&idx, &time), set(&[2, 3, 4]));
    time.from_ms = None;
    assert_eq!(gseqs(&idx, &time), set(&[1, 2, 3, 4]));
    time.from_ms = Some(9_000);
    time.to_ms = None;
    assert_eq!(gseqs(&idx, &time), set(&[9, 10]));
    time.from_ms = Some(5_000);
    time.to_ms = Some(5_000);
    assert_eq!(gseqs(&idx, &time), set(&[]));

    let mut runs = q("checkout", &[WS_A]);
    runs.runs = Some(vec!["r3".into()]);
    assert_eq!(gseqs(&idx, &runs), set(&[9]));
    runs.runs = Some(vec!["r1".into(), "r3".into()]);
    assert_eq!(gseqs(&idx, &runs), set(&[1, 2, 9]));
    runs.runs = Some(vec!["r9".into()]); // a run of B
    assert_eq!(gseqs(&idx, &runs), set(&[]));
    runs.runs = Some(vec![]);
    assert_eq!(gseqs(&idx, &runs), set(&[]));

    // all together
    let mut all = q("oomkilled OR pod", &[WS_A, WS_B]);
    all.cluster = Some("c1".into());
    all.runs = Some(vec!["r1".into(), "r3".into()]);
    all.from_ms = Some(2_500);
    assert_eq!(gseqs(&idx, &all), set(&[3, 9]));
}

#[test]
fn hits_carry_the_stored_identifiers() {
    let tmp = tempfile::tempdir().unwrap();
    let idx = filled(tmp.path());
    let r = idx.search(&q("ingress", &[WS_A])).unwrap();
    let h = &r.hits[0];
    assert_eq!(
        (
            h.gseq,
            h.workspace.as_str(),
            h.cluster.as_str(),
            h.session.as_str(),
            h.run.as_str(),
            h.seq,
            h.kind.as_str(),
            h.created_at_ms
        ),
        (
            4,
            WS_A,
            "c2",
            "session-of-r2",
            "r2",
            4,
            "user_message",
            4_000
        )
    );
    assert!(h.score > 0.0);
}

#[test]
fn ranked_by_score_then_newest_first() {
    let tmp = tempfile::tempdir().unwrap();
    let idx = fresh(tmp.path());
    idx.add(&[
        doc(
            1,
            WS_A,
            "c",
            "r",
            "answer",
            100,
            "disk pressure on the node",
        ),
        doc(
            2,
            WS_A,
            "c",
            "r",
            "answer",
            300,
            "disk pressure on the node",
        ),
        doc(
            3,
            WS_A,
            "c",
            "r",
            "answer",
            200,
            "disk pressure on the node",
        ),
        doc(4, WS_A, "c", "r", "answer", 50, "disk disk disk pressure"),
        doc(
            5,
            WS_A,
            "c",
            "r",
            "answer",
            400,
            "a long text that mentions disk only once among many other words here",
        ),
    ])
    .unwrap();
    idx.commit(5).unwrap();
    let r = idx.search(&q("disk", &[WS_A])).unwrap();
    let order: Vec<u64> = r.hits.iter().map(|h| h.gseq).collect();
    // 4 scores highest (three occurrences, short); 2, 3, 1 tie and come newest first; 5 is
    // long and scores lowest although it is the newest.
    assert_eq!(order, vec![4, 2, 3, 1, 5]);
    assert!(r.hits.windows(2).all(|w| w[0].score >= w[1].score));
    assert_eq!(r.hits[1].score, r.hits[3].score);

    // Blank query: every score is equal, so the order is by recency.
    let r = idx.search(&q("", &[WS_A])).unwrap();
    let order: Vec<u64> = r.hits.iter().map(|h| h.gseq).collect();
    assert_eq!(order, vec![5, 2, 3, 1, 4]);

    // Pages are consecutive slices of that order, and total counts all of them.
    let mut page = q("disk", &[WS_A]);
    page.limit = 2;
    page.offset = 2;
    let r = idx.search(&page).unwrap();
    assert_eq!(r.total, 5);
    assert_eq!(
        r.hits.iter().map(|h| h.gseq).collect::<Vec<_>>(),
        vec![3, 1]
    );
    page.offset = 4;
    let r = idx.search(&page).unwrap();
    assert_eq!(r.hits.iter().map(|h| h.gseq).collect::<Vec<_>>(), vec![5]);
    page.offset = 6;
    assert!(idx.search(&page).unwrap().hits.is_empty());
}

#[test]
fn snippets_mark_the_matched_words() {
    let tmp = tempfile::tempdir().unwrap();
    let idx = fresh(tmp.path());
    let long_tail = "lorem ipsum dolor sit amet ".repeat(20);
    let long_head = "filler words before the match ".repeat(20);
    idx.add(&[
        doc(
            1,
            WS_A,
            "c",
            "r",
            "answer",
            1,
            "Pod checkout-worker was OOMKilled; the Pods restarted.",
        ),
        doc(
            2,
            WS_A,
            "c",
            "r",
            "answer",
            2,
            &format!("{long_head}then the kubelet evicted it. {long_tail}"),
        ),
        doc(
            3,
            WS_A,
            "c",
            "r",
            "answer",
            3,
            "Ünïcödé text before: the pod évicted and Restarting",
        ),
    ])
    .unwrap();
    idx.commit(3).unwrap();

    let marked = |h: &SearchHit| -> Vec<String> {
        h.snippet
            .highlighted
            .iter()
            .map(|&(a, b)| h.snippet.text[a..b].to_string())
            .collect()
    };

    // Stemmed matches are highlighted in their original form; excluded words are not.
    let r = idx.search(&q("pod restarting -text", &[WS_A])).unwrap();
    assert_eq!(r.hits.len(), 1);
    let h = &r.hits[0];
    assert_eq!(
        h.snippet.text,
        "Pod checkout-worker was OOMKilled; the Pods restarted."
    );
    assert_eq!(marked(h), vec!["Pod", "Pods", "restarted"]);

    // A phrase highlights its words; a fragment from the middle gets ellipses and the ranges
    // still point at the words.
    let r = idx.search(&q("\"kubelet evicted\"", &[WS_A])).unwrap();
    let h = &r.hits[0];
    assert_eq!(h.gseq, 2);
    assert!(
        h.snippet.text.starts_with('…') && h.snippet.text.ends_with('…'),
        "{:?}",
        h.snippet.text
    );
    assert_eq!(marked(h), vec!["kubelet", "evicted"]);
    assert!(h.snippet.text.len() <= SNIPPET_CHARS + 2 * ELLIPSIS.len());

    // Multi-byte text: byte ranges land on character boundaries.
    let r = idx.search(&q("restart", &[WS_A])).unwrap();
    let h = r.hits.iter().find(|h| h.gseq == 3).unwrap();
    assert_eq!(marked(h), vec!["Restarting"]);
    let r = idx.search(&q("évicted", &[WS_A])).unwrap();
    assert_eq!(marked(&r.hits[0]), vec!["évicted"]);

    // Filter-only query: no highlight, the start of the body.
    let mut filter_only = q("kind:answer", &[WS_A]);
    filter_only.runs = Some(vec!["r".into()]);
    filter_only.from_ms = Some(2);
    filter_only.to_ms = Some(3);
    let r = idx.search(&filter_only).unwrap();
    let h = &r.hits[0];
    assert!(h.snippet.highlighted.is_empty());
    assert!(h.snippet.text.starts_with("filler words"));
    assert!(h.snippet.text.ends_with('…'));
}

/// Refused queries: the character where it went wrong and the words that say why.
#[test]
fn syntax_errors_have_positions() {
    let tmp = tempfile::tempdir().unwrap();
    let idx = filled(tmp.path());
    let table: &[(&str, usize, &str)] = &[
        ("oom \"exit code", 4, "unbalanced quote"),
        ("\"", 0, "unbalanced quote"),
        ("kind:\"answer", 5, "unbalanced quote"),
        ("(oom OR crash", 0, "never closed"),
        ("oom) crash", 3, "no matching `(`"),
        ("a (b c))", 7, "no matching `(`"),
        (")", 0, "no matching `(`"),
        ("()", 0, "empty parentheses"),
        ("oom OR", 4, "dangling `OR`"),
        ("oom AND", 4, "dangling `AND`"),
        ("oom OR AND crash", 4, "dangling `OR`"),
        ("(oom OR) crash", 5, "dangling `OR`"),
        ("OR oom", 0, "`OR` needs"),
        ("AND", 0, "`AND` needs"),
        ("oom NOT", 4, "`NOT` must be followed"),
        ("oom - crash", 4, "`-` must be followed directly"),
        ("oom -", 4, "`-` must be followed directly"),
        ("(oom -)", 5, "`-` must be followed directly"),
        ("pod status:Running", 4, "unknown field `status`"),
        ("é http://example", 2, "unknown field `http`"),
        ("kind:", 0, "needs a value"),
        ("a kind: answer", 2, "needs a value"),
        ("workspace:ws-a", 0, "workspace filter"),
        ("!!! ...", 0, "no searchable words"),
        ("-\"...\"", 0, "no searchable words"),
    ];
    for (text, position, message) in table {
        match idx.search(&q(text, &[WS_A])) {
            Err(SearchError::Syntax {
                position: p,
                message: m,
            }) => {
                assert_eq!(p, *position, "position for {text:?}: {m}");
                assert!(m.contains(message), "message for {text:?}: {m}");
            }
            other => panic!("{text:?} gave {other:?}"),
        }
    }
    // Limits of size and nesting are syntax errors too, not stack overflows or slow searches.
    let deep = format!("{}oom{}", "(".repeat(100), ")".repeat(100));
    assert!(
        matches!(idx.search(&q(&deep, &[WS_A])), Err(SearchError::Syntax { message, .. }) if message.contains("deep"))
    );
    let negations = format!("{}oom", "-".repeat(100));
    assert!(matches!(
        idx.search(&q(&negations, &[WS_A])),
        Err(SearchError::Syntax { .. })
    ));
    let many = vec!["w"; query::MAX_LEAVES + 1].join(" ");
    assert!(
        matches!(idx.search(&q(&many, &[WS_A])), Err(SearchError::Syntax { position, .. }) if position == 2 * query::MAX_LEAVES)
    );
    let long = "x".repeat(query::MAX_QUERY_CHARS + 1);
    assert!(
        matches!(idx.search(&q(&long, &[WS_A])), Err(SearchError::Syntax { position, .. }) if position == query::MAX_QUERY_CHARS)
    );
    // The query is checked even when the filters select nothing.
    assert!(matches!(
        idx.search(&q("(oom", &[])),
        Err(SearchError::Syntax { .. })
    ));
    // Bad pages are refused.
    let mut page = q("oom", &[WS_A]);
    page.limit = MAX_LIMIT + 1;
    assert!(matches!(
        idx.search(&page),
        Err(SearchError::InvalidRequest { .. })
    ));
    page.limit = 10;
    page.offset = MAX_OFFSET + 1;
    assert!(matches!(
        idx.search(&page),
        Err(SearchError::InvalidRequest { .. })
    ));
}

/// Random strings over the query language's special characters: every one gives results or a
/// syntax error with a position inside the query, never a panic.
#[test]
fn fuzzed_queries_never_panic() {
    let tmp = tempfile::tempdir().unwrap();
    let idx = filled(tmp.path());
    let pieces = [
        "(",
        ")",
        "\"",
        "-",
        ":",
        " ",
        "  ",
        "AND",
        "OR",
        "NOT",
        "and",
        "kind",
        "kind:",
        "run:",
        "workspace:",
        "oom",
        "pod",
        "exit",
        "code",
        "137",
        "é",
        "🦀",
        "*",
        "\\",
        "+",
        "~",
        "^",
        "\t",
        "\n",
        "checkout-worker",
        "a:b",
        "::",
        "x:",
        "'",
        "\"exit code\"",
        "\"not not\"",
        "not",
        "no",
        "memory",
        "limit",
    ];
    // ACORN_SEARCH_FUZZ_ITERATIONS runs longer (the default keeps `cargo test` quick).
    let iterations: usize = std::env::var("ACORN_SEARCH_FUZZ_ITERATIONS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(3000);
    // xorshift: deterministic, no extra dependency.
    let mut state: u64 = 0x9E37_79B9_7F4A_7C15;
    let mut next = move || {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        state
    };
    let (mut ok, mut refused) = (0, 0);
    for _ in 0..iterations {
        let n = (next() % 12) as usize;
        let text: String = (0..n)
            .map(|_| pieces[(next() % pieces.len() as u64) as usize])
            .collect();
        let searched = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            idx.search(&q(&text, &[WS_A, WS_B]))
        }));
        let Ok(searched) = searched else {
            panic!("search panicked on {text:?}");
        };
        match searched {
            Ok(r) => {
                assert!(r.hits.len() as u64 <= r.total);
                ok += 1;
            }
            Err(SearchError::Syntax { position, .. }) => {
                assert!(position <= text.chars().count(), "{text:?} -> {position}");
                refused += 1;
            }
            Err(e) => panic!("{text:?}: {e}"),
        }
    }
    // Both outcomes are exercised, so the generator is not degenerate.
    assert!(ok > 300 && refused > 300, "ok {ok}, refused {refused}");
}

#[test]
fn watermark_and_documents_survive_reopen() {
    let tmp = tempfile::tempdir().unwrap();
    {
        let idx = filled(tmp.path());
        assert_eq!(idx.watermark(), 10);
        // Events that are not indexed still move the watermark forward.
        idx.commit(15).unwrap();
    }
    let (idx, opened) = SearchIndex::open(tmp.path()).unwrap();
    assert_eq!(opened, Opened::Ready { watermark: 15 });
    assert_eq!(idx.watermark(), 15);
    assert_eq!(idx.doc_count(), 10);
    assert_eq!(idx.search(&q("zookeeper", &[WS_B])).unwrap().total, 2);
}

#[test]
fn crash_between_add_and_commit_keeps_the_last_commit() {
    let tmp = tempfile::tempdir().unwrap();
    {
        let idx = fresh(tmp.path());
        idx.add(&corpus()[..5]).unwrap();
        idx.commit(5).unwrap();
        idx.add(&corpus()[5..]).unwrap();
        // Added but not committed: not visible either.
        assert_eq!(idx.doc_count(), 5);
        // Dropped without commit, as a process that dies here.
    }
    let (idx, opened) = SearchIndex::open(tmp.path()).unwrap();
    assert_eq!(opened, Opened::Ready { watermark: 5 });
    assert_eq!(idx.doc_count(), 5);
    // Catch-up from the watermark gives exactly the corpus, once.
    let rest: Vec<SearchDoc> = corpus()
        .into_iter()
        .filter(|d| d.gseq > idx.watermark())
        .collect();
    assert_eq!(idx.add(&rest).unwrap(), 5);
    idx.commit(10).unwrap();
    assert_eq!(idx.doc_count(), 10);
    assert_eq!(idx.search(&q("", &[WS_A, WS_B])).unwrap().total, 10);
}

#[test]
fn crash_after_segments_were_flushed_keeps_the_last_commit() {
    let tmp = tempfile::tempdir().unwrap();
    let idx_files = |dir: &Path| segment_files(dir, "idx").len();
    let committed_segments;
    {
        // The smallest writer tantivy allows (15 MB, one thread), so that the buffered
        // documents below are written to disk as a segment before any commit.
        let options = SearchOptions {
            writer_heap_bytes: 15_000_000,
            writer_threads: 1,
        };
        let (idx, _) = SearchIndex::open_with(tmp.path(), &options).unwrap();
        idx.add(&corpus()[..5]).unwrap();
        idx.commit(5).unwrap();
        committed_segments = idx_files(tmp.path());
        let mut gseq = 5;
        let mut batch = Vec::new();
        for i in 0..400 {
            gseq += 1;
            // Distinct words, so that the postings (not only the text) fill the memory budget.
            let body: String = (0..2000).map(|j| format!("w{i}x{j} ")).collect();
            batch.push(doc(gseq, WS_A, "c", "r", "tool_result", 0, &body));
        }
        idx.add(&batch).unwrap();
        assert_eq!(idx.doc_count(), 5);
        drop(idx);
    }
    assert!(
        idx_files(tmp.path()) > committed_segments,
        "the uncommitted documents reached the disk as a segment"
    );
    let (idx, opened) = SearchIndex::open(tmp.path()).unwrap();
    assert_eq!(opened, Opened::Ready { watermark: 5 });
    assert_eq!(idx.doc_count(), 5);
    assert_eq!(idx.search(&q("w1x1", &[WS_A])).unwrap().total, 0);
}

#[test]
fn add_skips_what_the_index_already_has() {
    let tmp = tempfile::tempdir().unwrap();
    let idx = fresh(tmp.path());
    let docs = corpus();
    assert_eq!(idx.add(&docs[..3]).unwrap(), 3);
    idx.commit(3).unwrap();
    // A catch-up that re-reads from gseq 2: only 4.. are new.
    assert_eq!(idx.add(&docs[1..6]).unwrap(), 3);
    // Buffered ones count too.
    assert_eq!(idx.add(&docs[4..7]).unwrap(), 1);
    idx.commit(7).unwrap();
    assert_eq!(idx.doc_count(), 7);
    // The watermark never goes back below what the index holds.
    match idx.commit(6) {
        Err(SearchError::WatermarkBehind {
            watermark: 6,
            highest: 7,
        }) => {}
        other => panic!("{other:?}"),
    }
    idx.add(&docs[7..8]).unwrap();
    assert!(matches!(
        idx.commit(7),
        Err(SearchError::WatermarkBehind { .. })
    ));
    idx.commit(8).unwrap();
    assert_eq!(idx.watermark(), 8);
}

#[test]
fn clear_empties_the_index_durably() {
    let tmp = tempfile::tempdir().unwrap();
    {
        let idx = filled(tmp.path());
        idx.add(&[doc(
            11,
            WS_A,
            "c",
            "r",
            "answer",
            1,
            "buffered then cleared",
        )])
        .unwrap();
        idx.clear().unwrap();
        assert_eq!((idx.doc_count(), idx.watermark()), (0, 0));
        assert_eq!(idx.search(&q("", &[WS_A, WS_B])).unwrap().total, 0);
        // Refilling works from gseq 1 again.
        assert_eq!(idx.add(&corpus()[..2]).unwrap(), 2);
        idx.commit(2).unwrap();
    }
    let (idx, opened) = SearchIndex::open(tmp.path()).unwrap();
    assert_eq!(opened, Opened::Ready { watermark: 2 });
    assert_eq!(idx.doc_count(), 2);
    assert_eq!(idx.search(&q("cleared", &[WS_A])).unwrap().total, 0);
}

fn rebuilt_reason(dir: &Path) -> String {
    match SearchIndex::open(dir).unwrap() {
        (idx, Opened::Rebuilt { reason }) => {
            assert_eq!((idx.doc_count(), idx.watermark()), (0, 0));
            // The fresh index is usable and durable.
            idx.add(&corpus()[..1]).unwrap();
            idx.commit(1).unwrap();
            drop(idx);
            let (_, again) = SearchIndex::open(dir).unwrap();
            assert_eq!(again, Opened::Ready { watermark: 1 });
            reason
        }
        (_, Opened::Ready { watermark }) => panic!("expected a rebuild, got Ready({watermark})"),
    }
}

/// Segment files of the last commit, largest first.
fn segment_files(dir: &Path, ext: &str) -> Vec<std::path::PathBuf> {
    let mut files: Vec<_> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == ext))
        .collect();
    files.sort_by_key(|p| std::cmp::Reverse(std::fs::metadata(p).unwrap().len()));
    files
}

#[test]
fn broken_indexes_are_rebuilt_with_a_reason() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("search");

    // Never created.
    let reason = rebuilt_reason(&dir);
    assert!(reason.contains("no search index"), "{reason}");

    // Directory deleted under the appliance.
    std::fs::remove_dir_all(&dir).unwrap();
    let reason = rebuilt_reason(&dir);
    assert!(reason.contains("no search index"), "{reason}");

    // Another schema version.
    filled_at(&dir);
    dir::write_marker_version(&dir, SEARCH_SCHEMA_VERSION + 1).unwrap();
    let reason = rebuilt_reason(&dir);
    assert!(
        reason.contains(&format!("schema version {}", SEARCH_SCHEMA_VERSION + 1)),
        "{reason}"
    );

    // Marker missing (a creation that did not finish).
    filled_at(&dir);
    std::fs::remove_file(dir.join(dir::MARKER)).unwrap();
    let reason = rebuilt_reason(&dir);
    assert!(reason.contains("no acorn-search.json marker"), "{reason}");

    // Marker garbage.
    filled_at(&dir);
    std::fs::write(dir.join(dir::MARKER), b"{not json").unwrap();
    let reason = rebuilt_reason(&dir);
    assert!(reason.contains("not valid"), "{reason}");

    // A byte flipped in the middle of a segment file.
    for ext in ["idx", "store", "pos", "term"] {
        filled_at(&dir);
        let file = segment_files(&dir, ext).remove(0);
        let mut bytes = std::fs::read(&file).unwrap();
        let mid = bytes.len() / 2;
        bytes[mid] ^= 0xff;
        std::fs::write(&file, bytes).unwrap();
        let reason = rebuilt_reason(&dir);
        assert!(
            reason.contains("corrupted") && reason.contains(ext),
            "{ext}: {reason}"
        );
    }

    // A truncated segment file.
    filled_at(&dir);
    let file = segment_files(&dir, "store").remove(0);
    let len = std::fs::metadata(&file).unwrap().len();
    std::fs::OpenOptions::new()
        .write(true)
        .open(&file)
        .unwrap()
        .set_len(len / 3)
        .unwrap();
    let reason = rebuilt_reason(&dir);
    assert!(!reason.is_empty());

    // A segment file gone.
    filled_at(&dir);
    std::fs::remove_file(segment_files(&dir, "term").remove(0)).unwrap();
    let reason = rebuilt_reason(&dir);
    assert!(!reason.is_empty());

    // tantivy's metadata garbage.
    filled_at(&dir);
    std::fs::write(dir.join("meta.json"), b"\0\0garbage").unwrap();
    let reason = rebuilt_reason(&dir);
    assert!(reason.contains("tantivy cannot open"), "{reason}");
}

/// Leaves a committed index of the corpus in `dir` (wiping whatever was there).
fn filled_at(dir: &Path) {
    let (idx, _) = SearchIndex::open(dir).unwrap();
    idx.clear().unwrap();
    idx.add(&corpus()).unwrap();
    idx.commit(10).unwrap();
}

#[test]
fn foreign_files_are_never_wiped() {
    let tmp = tempfile::tempdir().unwrap();
    std::fs::write(tmp.path().join("acorn.redb"), b"precious").unwrap();
    match SearchIndex::open(tmp.path()) {
        Err(SearchError::ForeignContent { entry, .. }) => assert!(entry.ends_with("acorn.redb")),
        other => panic!("{other:?}"),
    }
    assert_eq!(
        std::fs::read(tmp.path().join("acorn.redb")).unwrap(),
        b"precious"
    );

    // Also not when an index is there but broken.
    let dir = tmp.path().join("search");
    filled_at(&dir);
    std::fs::create_dir(dir.join("backup")).unwrap();
    std::fs::remove_file(dir.join(dir::MARKER)).unwrap();
    assert!(matches!(
        SearchIndex::open(&dir),
        Err(SearchError::ForeignContent { .. })
    ));
    assert!(dir.join("backup").is_dir());
    assert!(dir.join("meta.json").is_file());
}

#[test]
fn one_open_index_per_directory() {
    let tmp = tempfile::tempdir().unwrap();
    let idx = filled(tmp.path());
    assert!(matches!(
        SearchIndex::open(tmp.path()),
        Err(SearchError::Locked { .. })
    ));
    // The failed open did not disturb the open index.
    assert_eq!(idx.search(&q("zookeeper", &[WS_B])).unwrap().total, 2);
    drop(idx);
    let (_, opened) = SearchIndex::open(tmp.path()).unwrap();
    assert_eq!(opened, Opened::Ready { watermark: 10 });
}

#[test]
fn writers_and_searchers_on_several_threads() {
    fn send_sync<T: Send + Sync + Clone>() {}
    send_sync::<SearchIndex>();

    let tmp = tempfile::tempdir().unwrap();
    let idx = fresh(tmp.path());
    // The feeder allocates gseqs in order (as the store does); several threads feed and
    // commit through clones while others search.
    let next_gseq = std::sync::Arc::new(std::sync::Mutex::new(0u64));
    std::thread::scope(|s| {
        for t in 0..3 {
            let idx = idx.clone();
            let next_gseq = next_gseq.clone();
            s.spawn(move || {
                for i in 0..20 {
                    let mut g = next_gseq.lock().unwrap();
                    *g += 1;
                    let ws = if t == 0 { WS_B } else { WS_A };
                    let body = format!("thread{t} event{i} restart");
                    assert_eq!(
                        idx.add(&[doc(*g, ws, "c", "r", "answer", *g as i64, &body)])
                            .unwrap(),
                        1
                    );
                    if i % 5 == 4 {
                        idx.commit(*g).unwrap();
                    }
                }
            });
        }
        for _ in 0..2 {
            let idx = idx.clone();
            s.spawn(move || {
                for _ in 0..30 {
                    let r = idx.search(&q("restart", &[WS_A])).unwrap();
                    // Thread 0 writes to B only.
                    assert!(r.hits.iter().all(|h| h.workspace == WS_A));
                }
            });
        }
    });
    let last = *next_gseq.lock().unwrap();
    idx.commit(last).unwrap();
    assert_eq!(idx.doc_count(), 60);
    assert_eq!(idx.search(&q("restart", &[WS_A])).unwrap().total, 40);
    assert_eq!(idx.search(&q("restart", &[WS_B])).unwrap().total, 20);
    idx.wait_for_merges().unwrap();
    assert_eq!(idx.doc_count(), 60);
    // Still writable after the writer was swapped.
    idx.add(&[doc(last + 1, WS_A, "c", "r", "answer", 0, "after merge")])
        .unwrap();
    idx.commit(last + 1).unwrap();
    assert_eq!(idx.doc_count(), 61);
}

#[test]
fn deleted_runs_and_workspaces_disappear_at_commit() {
    let tmp = tempfile::tempdir().unwrap();
    {
        let idx = filled(tmp.path());
        idx.delete_runs(&["r1".into()]).unwrap();
        // Not before the commit.
        assert_eq!(idx.search(&q("", &[WS_A])).unwrap().total, 8);
        idx.commit(10).unwrap();
        assert_eq!(gseqs(&idx, &q("", &[WS_A])), set(&[4, 5, 6, 9, 10]));
        idx.delete_workspaces(&[WS_B.into()]).unwrap();
        idx.commit(11).unwrap();
        assert_eq!(idx.search(&q("", &[WS_B])).unwrap().total, 0);
        assert_eq!(idx.doc_count(), 5);
    }
    let (idx, opened) = SearchIndex::open(tmp.path()).unwrap();
    assert_eq!(opened, Opened::Ready { watermark: 11 });
    assert_eq!(gseqs(&idx, &q("", &[WS_A, WS_B])), set(&[4, 5, 6, 9, 10]));
}
