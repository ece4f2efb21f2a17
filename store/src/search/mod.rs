//! Full-text search over run events: a tantivy index derived from the store.
//!
//! The index is never authoritative. It holds, per event, the identifiers a search filters on
//! and the (already redacted) text, and records in each commit the `watermark`: the highest
//! global event sequence (`gseq`) it contains. Whoever owns the store feeds it in `gseq` order
//! ([`SearchIndex::add`] then [`SearchIndex::commit`]) and, after a restart, resumes from
//! [`SearchIndex::watermark`]. A missing, corrupted or differently versioned index is wiped at
//! [`SearchIndex::open`] and reported as [`Opened::Rebuilt`], and the caller refills it.
//!
//! What this module must not do: decide who may read what (the caller passes exactly the
//! readable workspaces, and every search is restricted to them inside the query, so counts never
//! include others), touch redb, or delete files it did not write.
//!
//! # Layout
//! - `mod.rs`: the public types and [`SearchIndex`] (open, add, delete, commit, clear, search).
//! - `schema.rs`: fields, the body analyzer, [`SEARCH_SCHEMA_VERSION`].
//! - `query.rs`: the query language (lexer, parser with positions, lowering to tantivy).
//! - `dir.rs`: the directory lock, the `acorn-search.json` marker, wiping for a rebuild.
//! - `tests.rs`: unit tests against a real index in a temporary directory.
//!
//! # Query language
//! Words are matched after the same analysis as the text (split at anything that is not a
//! letter or digit, lowercased, English stem), so `crashing` finds "crashed"; a word that
//! splits into several tokens (`checkout-worker`, `2025-11-03`) is a phrase; `"quoted words"`
//! are a phrase. Words side by side must all match; `OR` and `AND` (upper case) combine,
//! `AND` first; `-word` or `NOT word` excludes; parentheses group. `kind:`, `cluster:`,
//! `session:`, `run:`, `author:` and `model:` filter on exact identifiers (a quoted value may
//! hold spaces). Anything else before a `:` is refused (quote text that contains `:`), as is
//! `workspace:` (the caller decides workspaces). A refused query is [`SearchError::Syntax`]
//! with the character offset of the fault, meant for an HTTP 400.
//!
//! # Durability and crashes
//! [`SearchIndex::commit`] stores the watermark as the tantivy commit payload, in the same
//! atomic `meta.json` write that makes the documents visible. After a crash the index holds
//! exactly the documents of its last commit and reports that commit's watermark: documents
//! added after it are gone, so catch-up from the watermark neither duplicates nor skips.
//!
//! # Blocking
//! Every method blocks (disk, tantivy's threads); call them from `spawn_blocking` or a
//! dedicated thread. One writer is shared behind a mutex, so `add` and `commit` from several
//! threads are safe, but the watermark is only meaningful with one feeder in `gseq` order.

mod dir;
mod query;
mod schema;
#[cfg(test)]
mod tests;

use std::collections::BTreeMap;
use std::fs::File;
use std::ops::Bound;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};

use serde::{Deserialize, Serialize};
use tantivy::collector::sort_key::{SortBySimilarityScore, SortByStaticFastValue};
use tantivy::collector::{Count, TopDocs};
use tantivy::indexer::{IndexWriterOptions, LogMergePolicy};
use tantivy::query::{AllQuery, BooleanQuery, Occur, Query, RangeQuery, TermQuery, TermSetQuery};
use tantivy::schema::{Field, IndexRecordOption, Value};
use tantivy::snippet::SnippetGenerator;
use tantivy::{
    DocAddress, Index, IndexReader, IndexWriter, Order, ReloadPolicy, Searcher, TantivyDocument,
    Term,
};

pub use schema::SEARCH_SCHEMA_VERSION;
use schema::{BODY_ANALYZER, F_CREATED_AT, Fields};

/// One run event as indexed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SearchDoc {
    /// Global, strictly increasing sequence of the event in the store.
    pub gseq: u64,
    pub workspace: String,
    pub cluster: String,
    pub session: String,
    pub run: String,
    /// The event's sequence within its run.
    pub seq: u64,
    /// `user_message`, `answer`, `tool_call`, `tool_result`, `model_message`, or `run` (the
    /// run's metadata as one document).
    pub kind: String,
    /// The user id, or empty.
    pub author: String,
    /// `provider/model`, or empty.
    pub model: String,
    pub created_at_ms: i64,
    /// The text, already redacted by the caller.
    pub body: String,
}

/// What [`SearchIndex::open`] found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Opened {
    /// The index is usable and holds every event up to `watermark` (gseq).
    Ready { watermark: u64 },
    /// It was missing, unreadable/corrupted, or of another [`SEARCH_SCHEMA_VERSION`]: the
    /// directory has been wiped and a fresh empty index created; the caller must rebuild it
    /// from the store.
    Rebuilt { reason: String },
}

/// How the writer is sized.
#[derive(Debug, Clone)]
pub struct SearchOptions {
    /// Total indexing memory of the writer, split between its threads; a segment is flushed
    /// when a thread's share is full. Default 50 MB.
    pub writer_heap_bytes: usize,
    /// Indexing threads. Default: 2, or 1 on a single core (the appliance shares its cores).
    pub writer_threads: usize,
}

impl Default for SearchOptions {
    fn default() -> Self {
        let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
        SearchOptions {
            writer_heap_bytes: 50_000_000,
            writer_threads: cores.clamp(1, 2),
        }
    }
}

/// A search. The query language is described in `query.rs`: words (stemmed English), `"phrases"`,
/// `AND`, `OR`, `NOT` / `-exclusion`, parentheses, and `kind:`, `cluster:`, `session:`, `run:`,
/// `author:`, `model:` filters. Blank text matches every event in the filters (newest first).
#[derive(Debug, Clone, Default)]
pub struct SearchQuery {
    pub text: String,
    /// Only documents of these workspaces: the caller passes exactly the workspaces the user
    /// may read. An empty list means no results — never "all".
    pub workspaces: Vec<String>,
    pub cluster: Option<String>,
    /// When set, only these runs (the caller resolves filters such as run state into run ids).
    /// An empty list means no results.
    pub runs: Option<Vec<String>>,
    /// Inclusive lower bound on `created_at_ms`.
    pub from_ms: Option<i64>,
    /// Exclusive upper bound on `created_at_ms`.
    pub to_ms: Option<i64>,
    /// At most [`MAX_LIMIT`]; 0 computes only `total`.
    pub limit: usize,
    /// At most [`MAX_OFFSET`].
    pub offset: usize,
}

/// The largest page a search returns.
pub const MAX_LIMIT: usize = 1000;
/// The deepest a search pages (`offset`); deeper pages cost memory for little use.
pub const MAX_OFFSET: usize = 10_000;

/// The results of a search.
#[derive(Debug, Clone, PartialEq)]
pub struct SearchResults {
    /// Matches inside the filters (all pages).
    pub total: u64,
    /// Best first: by score, ties by recency (`created_at_ms`, newest first).
    pub hits: Vec<SearchHit>,
}

/// One matching event.
#[derive(Debug, Clone, PartialEq)]
pub struct SearchHit {
    pub gseq: u64,
    pub workspace: String,
    pub cluster: String,
    pub session: String,
    pub run: String,
    pub seq: u64,
    pub kind: String,
    pub created_at_ms: i64,
    pub score: f32,
    pub snippet: Snippet,
}

/// A fragment of the body with the matched terms marked by byte ranges into `text`. When the
/// fragment does not start (end) at the body's start (end), `text` begins (ends) with `…`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Snippet {
    pub text: String,
    /// Sorted, non-overlapping `(start, end)` byte ranges; `&text[start..end]` is a matched word.
    pub highlighted: Vec<(usize, usize)>,
}

/// Everything that can go wrong with the search index.
#[derive(Debug, thiserror::Error)]
pub enum SearchError {
    /// The query does not parse. `position` is a character offset into the query text.
    #[error("query syntax error at character {position}: {message}")]
    Syntax { position: usize, message: String },

    /// Limit or offset out of range.
    #[error("invalid search request: {message}")]
    InvalidRequest { message: String },

    /// `commit` was given a watermark below what the index already holds or was given.
    #[error(
        "watermark {watermark} is below gseq {highest}, which the index already holds or was \
         given; the index only moves forward (use clear to start over)"
    )]
    WatermarkBehind { watermark: u64, highest: u64 },

    /// Another `SearchIndex` (in this process or another) has the directory open.
    #[error("the search index {path} is in use by another process or another open index")]
    Locked { path: PathBuf },

    /// The directory holds something an index does not write; nothing was removed.
    #[error(
        "{dir} is not a search index directory: it contains {entry}, which Acorn did not write. \
         Point the search index at an empty or dedicated directory"
    )]
    ForeignContent { dir: PathBuf, entry: PathBuf },

    /// A file operation failed.
    #[error("{context} ({path}): {source}")]
    Io {
        context: &'static str,
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },

    /// The writer could not be recreated after [`SearchIndex::wait_for_merges`] failed.
    #[error("the search index writer could not be recreated; reopen the search index")]
    WriterLost,

    /// tantivy failed. After a failed `add` or `commit` the buffered documents are discarded:
    /// re-add from [`SearchIndex::watermark`].
    #[error("search engine error: {0}")]
    Engine(#[from] SearchEngineError),
}

/// An error of tantivy, kept opaque so callers do not depend on it.
#[derive(Debug)]
pub struct SearchEngineError(tantivy::TantivyError);

impl std::fmt::Display for SearchEngineError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.0.fmt(f)
    }
}

impl std::error::Error for SearchEngineError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        self.0.source()
    }
}

impl From<tantivy::TantivyError> for SearchError {
    fn from(e: tantivy::TantivyError) -> Self {
        SearchError::Engine(SearchEngineError(e))
    }
}

/// The commit payload: what a commit contains, stored atomically with it.
#[derive(Debug, Serialize, Deserialize)]
struct Payload {
    watermark: u64,
}

/// The full-text index of run events. Cheap to clone; all clones share one writer and reader.
#[derive(Clone)]
pub struct SearchIndex {
    inner: Arc<Inner>,
}

impl std::fmt::Debug for SearchIndex {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SearchIndex")
            .field("dir", &self.inner.dir)
            .field("watermark", &self.watermark())
            .finish_non_exhaustive()
    }
}

struct Inner {
    dir: PathBuf,
    index: Index,
    fields: Fields,
    reader: IndexReader,
    writer: Mutex<WriterState>,
    /// The watermark of the last commit (what a reader sees after reload).
    watermark: AtomicU64,
    options: SearchOptions,
    /// The directory lock, held for the life of the index.
    _lock: File,
}

struct WriterState {
    /// `None` only while `wait_for_merges` swaps the writer.
    writer: Option<IndexWriter>,
    /// The highest gseq committed or buffered; lower documents are skipped by `add`.
    highest: u64,
    /// Documents and deletions buffered since the last commit.
    pending: u64,
}

impl SearchIndex {
    /// Opens the index in `dir` with default options. See [`SearchIndex::open_with`].
    pub fn open(dir: &Path) -> Result<(SearchIndex, Opened), SearchError> {
        Self::open_with(dir, &SearchOptions::default())
    }

    /// Opens the index in `dir` (created if missing). A missing, unreadable or corrupted index,
    /// or one of another schema version, is wiped and recreated empty ([`Opened::Rebuilt`]).
    /// Corruption is looked for by verifying the checksum of every file of the last commit, so
    /// opening reads the whole index once.
    ///
    /// Errors (nothing is wiped): the directory is locked by another open index, holds files
    /// an index does not write, or cannot be read or written.
    pub fn open_with(
        dir: &Path,
        options: &SearchOptions,
    ) -> Result<(SearchIndex, Opened), SearchError> {
        let lock = dir::lock(dir)?;
        let (schema, fields) = schema::build();
        let (index, opened) = match inspect(dir, &schema) {
            Ok((index, watermark)) => (index, Opened::Ready { watermark }),
            Err(reason) => {
                dir::wipe(dir)?;
                let index = Index::create_in_dir(dir, schema)?;
                index
                    .tokenizers()
                    .register(BODY_ANALYZER, schema::body_analyzer());
                {
                    // An explicit first commit, so every commit of the index carries a payload.
                    let mut writer = new_writer(&index, options)?;
                    commit_with_payload(&mut writer, 0)?;
                    writer.wait_merging_threads()?;
                }
                dir::write_marker(dir)?;
                (index, Opened::Rebuilt { reason })
            }
        };
        let watermark = match &opened {
            Opened::Ready { watermark } => *watermark,
            Opened::Rebuilt { .. } => 0,
        };
        let writer = new_writer(&index, options)?;
        let reader = index
            .reader_builder()
            .reload_policy(ReloadPolicy::Manual)
            .try_into()?;
        let inner = Inner {
            dir: dir.to_path_buf(),
            index,
            fields,
            reader,
            writer: Mutex::new(WriterState {
                writer: Some(writer),
                highest: watermark,
                pending: 0,
            }),
            watermark: AtomicU64::new(watermark),
            options: options.clone(),
            _lock: lock,
        };
        Ok((
            SearchIndex {
                inner: Arc::new(inner),
            },
            opened,
        ))
    }

    /// The directory of the index.
    pub fn dir(&self) -> &Path {
        &self.inner.dir
    }

    fn writer(&self) -> MutexGuard<'_, WriterState> {
        // A panic while holding the lock (inside tantivy) does not make the state worse than
        // tantivy's own error handling would: recover the guard and let tantivy report.
        self.inner
            .writer
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Buffers documents (not visible, not durable until [`SearchIndex::commit`]) and returns
    /// how many were taken. Documents at or below the highest `gseq` already committed or
    /// buffered are skipped, so a catch-up that re-reads a boundary event does not index it
    /// twice (and documents must come in `gseq` order).
    pub fn add(&self, docs: &[SearchDoc]) -> Result<usize, SearchError> {
        let f = self.inner.fields;
        let committed = self.watermark();
        let mut state = self.writer();
        let state = &mut *state;
        let Some(writer) = state.writer.as_mut() else {
            return Err(SearchError::WriterLost);
        };
        let mut taken = 0;
        for d in docs {
            if d.gseq <= state.highest {
                continue;
            }
            let mut doc = TantivyDocument::new();
            doc.add_u64(f.gseq, d.gseq);
            doc.add_text(f.workspace, &d.workspace);
            doc.add_text(f.cluster, &d.cluster);
            doc.add_text(f.session, &d.session);
            doc.add_text(f.run, &d.run);
            doc.add_u64(f.seq, d.seq);
            doc.add_text(f.kind, &d.kind);
            doc.add_text(f.author, &d.author);
            doc.add_text(f.model, &d.model);
            doc.add_i64(f.created_at_ms, d.created_at_ms);
            doc.add_text(f.body, &d.body);
            if let Err(e) = writer.add_document(doc) {
                // Back to the last commit, so that `highest` is true again.
                let _ = writer.rollback();
                state.highest = committed;
                state.pending = 0;
                return Err(e.into());
            }
            state.highest = d.gseq;
            state.pending += 1;
            taken += 1;
        }
        Ok(taken)
    }

    /// Deletes every document of these runs (a run deleted from the store). Buffered like
    /// [`SearchIndex::add`]: visible and durable with the next commit. A crash before that
    /// commit loses the deletion, so the store must be able to replay it (the deletion recorded
    /// at a `gseq` the catch-up passes again).
    pub fn delete_runs(&self, runs: &[String]) -> Result<(), SearchError> {
        self.delete_terms(self.inner.fields.run, runs)
    }

    /// Deletes every document of these workspaces (a workspace deleted from the store); same
    /// durability as [`SearchIndex::delete_runs`].
    pub fn delete_workspaces(&self, workspaces: &[String]) -> Result<(), SearchError> {
        self.delete_terms(self.inner.fields.workspace, workspaces)
    }

    fn delete_terms(&self, field: Field, values: &[String]) -> Result<(), SearchError> {
        let mut state = self.writer();
        let Some(writer) = state.writer.as_ref() else {
            return Err(SearchError::WriterLost);
        };
        for v in values {
            writer.delete_term(Term::from_field_text(field, v));
        }
        // A deletion is a change to commit even when no document was added.
        state.pending += values.len() as u64;
        Ok(())
    }

    /// Makes everything added durable and visible, recording `watermark` atomically with the
    /// documents (the tantivy commit payload). `watermark` may exceed the last added `gseq`
    /// (events that are not indexed still advance it) but not be below it.
    ///
    /// On a tantivy error the buffered documents are discarded (the index stays at its last
    /// commit); re-add from [`SearchIndex::watermark`].
    pub fn commit(&self, watermark: u64) -> Result<(), SearchError> {
        let mut state = self.writer();
        if watermark < state.highest {
            return Err(SearchError::WatermarkBehind {
                watermark,
                highest: state.highest,
            });
        }
        if state.pending == 0 && watermark == self.watermark() {
            return Ok(());
        }
        let committed = self.watermark();
        let Some(writer) = state.writer.as_mut() else {
            return Err(SearchError::WriterLost);
        };
        if let Err(e) = commit_with_payload(writer, watermark) {
            // Back to the last commit so the writer is usable and `highest` is true again.
            let _ = writer.rollback();
            state.highest = committed;
            state.pending = 0;
            return Err(e);
        }
        state.highest = watermark;
        state.pending = 0;
        self.inner.watermark.store(watermark, Ordering::SeqCst);
        drop(state);
        self.inner.reader.reload()?;
        Ok(())
    }

    /// The watermark of the last commit: every event up to this gseq is in the index.
    pub fn watermark(&self) -> u64 {
        self.inner.watermark.load(Ordering::SeqCst)
    }

    /// Deletes every document, buffered ones included, and commits with watermark 0 (before a
    /// forced rebuild: `acorn reindex`).
    pub fn clear(&self) -> Result<(), SearchError> {
        let mut state = self.writer();
        let Some(writer) = state.writer.as_mut() else {
            return Err(SearchError::WriterLost);
        };
        // Rolling back first drops the buffered documents, which `delete_all_documents` alone
        // leaves in the indexing threads.
        writer.rollback()?;
        writer.delete_all_documents()?;
        commit_with_payload(writer, 0)?;
        state.highest = 0;
        state.pending = 0;
        self.inner.watermark.store(0, Ordering::SeqCst);
        drop(state);
        self.inner.reader.reload()?;
        Ok(())
    }

    /// Waits until background segment merges are done (after a rebuild, so that searches see
    /// few segments; benchmarks use it to measure a settled index).
    pub fn wait_for_merges(&self) -> Result<(), SearchError> {
        let mut state = self.writer();
        if let Some(writer) = state.writer.take() {
            // The writer is recreated even if waiting failed, so the index stays writable.
            let waited = writer.wait_merging_threads();
            state.writer = Some(new_writer(&self.inner.index, &self.inner.options)?);
            waited?;
        }
        drop(state);
        self.inner.reader.reload()?;
        Ok(())
    }

    /// Committed documents.
    pub fn doc_count(&self) -> u64 {
        self.inner.reader.searcher().num_docs()
    }

    /// Segments of the last commit (a diagnostic: many small segments mean slower searches).
    pub fn segment_count(&self) -> usize {
        self.inner.reader.searcher().segment_readers().len()
    }

    /// Runs a search. The workspace restriction is a required clause of the query itself, so
    /// `total` and the hits never include other workspaces.
    pub fn search(&self, q: &SearchQuery) -> Result<SearchResults, SearchError> {
        if q.limit > MAX_LIMIT {
            return Err(SearchError::InvalidRequest {
                message: format!("limit {} is above the maximum of {MAX_LIMIT}", q.limit),
            });
        }
        if q.offset > MAX_OFFSET {
            return Err(SearchError::InvalidRequest {
                message: format!("offset {} is above the maximum of {MAX_OFFSET}", q.offset),
            });
        }
        // Parse first: a bad query is an error even when the filters select nothing.
        let parsed = query::parse(&q.text).map_err(|e| SearchError::Syntax {
            position: e.position,
            message: e.message,
        })?;
        let f = &self.inner.fields;
        let mut lowering = query::Lowering {
            fields: f,
            analyzer: schema::body_analyzer(),
            positive_terms: Default::default(),
        };
        let text_query = match &parsed {
            None => None,
            Some(node) => match lowering.lower(node, false) {
                Some(q) => Some(q),
                None => {
                    return Err(SearchError::Syntax {
                        position: 0,
                        message: "the query has no searchable words (letters or digits)".into(),
                    });
                }
            },
        };
        let empty = SearchResults {
            total: 0,
            hits: Vec::new(),
        };
        if q.workspaces.is_empty() || q.runs.as_ref().is_some_and(Vec::is_empty) {
            return Ok(empty);
        }
        if let (Some(from), Some(to)) = (q.from_ms, q.to_ms)
            && from >= to
        {
            return Ok(empty);
        }

        let mut clauses: Vec<(Occur, Box<dyn Query>)> = vec![
            (
                Occur::Must,
                text_query.unwrap_or_else(|| query::unscored(Box::new(AllQuery))),
            ),
            (Occur::Must, one_of(f.workspace, &q.workspaces)),
        ];
        if let Some(cluster) = &q.cluster {
            clauses.push((
                Occur::Must,
                one_of(f.cluster, std::slice::from_ref(cluster)),
            ));
        }
        if let Some(runs) = &q.runs {
            clauses.push((Occur::Must, one_of(f.run, runs)));
        }
        if q.from_ms.is_some() || q.to_ms.is_some() {
            let term = |v: i64| Term::from_field_i64(f.created_at_ms, v);
            let lower = q
                .from_ms
                .map_or(Bound::Unbounded, |v| Bound::Included(term(v)));
            let upper = q
                .to_ms
                .map_or(Bound::Unbounded, |v| Bound::Excluded(term(v)));
            clauses.push((
                Occur::Must,
                query::unscored(Box::new(RangeQuery::new(lower, upper))),
            ));
        }
        let full = BooleanQuery::new(clauses);

        let searcher = self.inner.reader.searcher();
        if q.limit == 0 {
            let total = searcher.search(&full, &Count)? as u64;
            return Ok(SearchResults {
                total,
                hits: Vec::new(),
            });
        }
        let top = TopDocs::with_limit(q.limit).and_offset(q.offset).order_by((
            SortBySimilarityScore,
            (
                SortByStaticFastValue::<i64>::for_field(F_CREATED_AT),
                Order::Desc,
            ),
        ));
        let (top, total) = searcher.search(&full, &(top, Count))?;

        let snippets = self.snippet_generator(&searcher, &lowering.positive_terms)?;
        let mut hits = Vec::with_capacity(top.len());
        for ((score, _), addr) in top {
            hits.push(self.hit(&searcher, addr, score, &snippets)?);
        }
        Ok(SearchResults {
            total: total as u64,
            hits,
        })
    }

    fn snippet_generator(
        &self,
        searcher: &Searcher,
        terms: &std::collections::BTreeSet<String>,
    ) -> Result<SnippetGenerator, SearchError> {
        let body = self.inner.fields.body;
        // Rarer terms weigh more when choosing the fragment (as tantivy's own generator does).
        let mut weighted = BTreeMap::new();
        for t in terms {
            let df = searcher.doc_freq(&Term::from_field_text(body, t))?;
            if df > 0 {
                weighted.insert(t.clone(), 1.0 / (1.0 + df as f32));
            }
        }
        Ok(SnippetGenerator::new(
            weighted,
            schema::body_analyzer(),
            body,
            SNIPPET_CHARS,
        ))
    }

    fn hit(
        &self,
        searcher: &Searcher,
        addr: DocAddress,
        score: f32,
        snippets: &SnippetGenerator,
    ) -> Result<SearchHit, SearchError> {
        let f = &self.inner.fields;
        let doc: TantivyDocument = searcher.doc(addr)?;
        let text = |field: Field| {
            doc.get_first(field)
                .and_then(|v| v.as_str())
                .unwrap_or_default()
                .to_string()
        };
        let body = text(f.body);
        Ok(SearchHit {
            gseq: doc.get_first(f.gseq).and_then(|v| v.as_u64()).unwrap_or(0),
            workspace: text(f.workspace),
            cluster: text(f.cluster),
            session: text(f.session),
            run: text(f.run),
            seq: doc.get_first(f.seq).and_then(|v| v.as_u64()).unwrap_or(0),
            kind: text(f.kind),
            created_at_ms: doc
                .get_first(f.created_at_ms)
                .and_then(|v| v.as_i64())
                .unwrap_or(0),
            score,
            snippet: make_snippet(snippets, &body),
        })
    }
}

/// Snippet length in bytes of body text (tantivy measures the fragment window in bytes).
const SNIPPET_CHARS: usize = 200;
const ELLIPSIS: &str = "…";

fn make_snippet(generator: &SnippetGenerator, body: &str) -> Snippet {
    let s = generator.snippet(body);
    if s.highlighted().is_empty() {
        // Nothing to highlight (a filter-only or blank query): the start of the body.
        let mut end = body.len().min(SNIPPET_CHARS);
        while !body.is_char_boundary(end) {
            end -= 1;
        }
        let mut text = body[..end].to_string();
        if end < body.len() {
            text.push_str(ELLIPSIS);
        }
        return Snippet {
            text,
            highlighted: Vec::new(),
        };
    }
    // tantivy's fragment runs from the first to the last token it covers; a few characters of
    // punctuation before or after (a final period) are shown rather than replaced by `…`.
    let range = s.fragment_range();
    let is_rest = |t: &str| t.len() <= 16 && !t.chars().any(char::is_alphanumeric);
    let (prefix, start) = if is_rest(&body[..range.start]) {
        ("", 0)
    } else {
        (ELLIPSIS, range.start)
    };
    let (suffix, end) = if is_rest(&body[range.end..]) {
        ("", body.len())
    } else {
        (ELLIPSIS, range.end)
    };
    let shift = prefix.len() + (range.start - start);
    let highlighted = tantivy::snippet::collapse_overlapped_ranges(s.highlighted())
        .into_iter()
        .map(|r| (r.start + shift, r.end + shift))
        .collect();
    Snippet {
        text: format!("{prefix}{}{suffix}", &body[start..end]),
        highlighted,
    }
}

/// A clause matching documents whose raw `field` is one of `values`, without affecting scores.
fn one_of(field: Field, values: &[String]) -> Box<dyn Query> {
    let q: Box<dyn Query> = match values {
        // A single term is a postings list that intersections can skip through.
        [one] => Box::new(TermQuery::new(
            Term::from_field_text(field, one),
            IndexRecordOption::Basic,
        )),
        _ => Box::new(TermSetQuery::new(
            values.iter().map(|v| Term::from_field_text(field, v)),
        )),
    };
    query::unscored(q)
}

fn new_writer(index: &Index, options: &SearchOptions) -> Result<IndexWriter, SearchError> {
    let threads = options.writer_threads.max(1);
    // tantivy refuses less than 15 MB per thread.
    let per_thread = (options.writer_heap_bytes / threads).max(15_000_000);
    let writer: IndexWriter = index.writer_with_options(
        IndexWriterOptions::builder()
            .num_worker_threads(threads)
            .memory_budget_per_thread(per_thread)
            // One merge thread: the appliance shares its few cores with everything else.
            .num_merge_threads(1)
            .build(),
    )?;
    writer.set_merge_policy(Box::new(LogMergePolicy::default()));
    Ok(writer)
}

fn commit_with_payload(writer: &mut IndexWriter, watermark: u64) -> Result<(), SearchError> {
    let payload = serde_json::to_string(&Payload { watermark }).map_err(|e| SearchError::Io {
        context: "encoding the search index commit payload",
        path: PathBuf::new(),
        source: std::io::Error::other(e),
    })?;
    let mut prepared = writer.prepare_commit()?;
    prepared.set_payload(&payload);
    prepared.commit()?;
    Ok(())
}

/// Checks that `dir` holds a complete, intact index of this schema. `Err` is the reason to
/// rebuild, in words for the operator's log.
fn inspect(dir: &Path, schema: &tantivy::schema::Schema) -> Result<(Index, u64), String> {
    if dir::is_empty(dir).map_err(|e| e.to_string())? {
        return Err(format!("no search index in {} yet", dir.display()));
    }
    match dir::read_marker(dir)? {
        None => {
            return Err(format!(
                "{} has no {} marker (an unfinished creation, or not an Acorn index)",
                dir.display(),
                dir::MARKER
            ));
        }
        Some(m) if m.schema_version != SEARCH_SCHEMA_VERSION => {
            return Err(format!(
                "the index has schema version {}, this Acorn uses {SEARCH_SCHEMA_VERSION}",
                m.schema_version
            ));
        }
        Some(_) => {}
    }
    // tantivy may panic on some malformed inputs instead of returning an error; a derived
    // index must never take the appliance down, so a panic here is one more reason to rebuild.
    catch_unwind(AssertUnwindSafe(|| inspect_tantivy(dir, schema))).unwrap_or_else(|panic| {
        let what = panic
            .downcast_ref::<String>()
            .map(String::as_str)
            .or_else(|| panic.downcast_ref::<&str>().copied())
            .unwrap_or("unknown");
        Err(format!("tantivy failed while reading the index: {what}"))
    })
}

fn inspect_tantivy(dir: &Path, schema: &tantivy::schema::Schema) -> Result<(Index, u64), String> {
    let index =
        Index::open_in_dir(dir).map_err(|e| format!("tantivy cannot open the index: {e}"))?;
    if &index.schema() != schema {
        return Err(format!(
            "the index's fields differ from those of schema version {SEARCH_SCHEMA_VERSION}"
        ));
    }
    index
        .tokenizers()
        .register(BODY_ANALYZER, schema::body_analyzer());
    let metas = index
        .load_metas()
        .map_err(|e| format!("the index metadata cannot be read: {e}"))?;
    let watermark = match metas.payload.as_deref() {
        Some(p) => {
            serde_json::from_str::<Payload>(p)
                .map_err(|e| format!("the last commit's watermark is unreadable: {e}"))?
                .watermark
        }
        None => return Err("the last commit recorded no watermark".to_string()),
    };
    let damaged = index
        .validate_checksum()
        .map_err(|e| format!("the index files cannot be verified: {e}"))?;
    if !damaged.is_empty() {
        let mut names: Vec<String> = damaged.iter().map(|p| p.display().to_string()).collect();
        names.sort();
        return Err(format!(
            "corrupted index files (checksum mismatch): {}",
            names.join(", ")
        ));
    }
    // Opening a reader opens every segment: a missing or truncated file shows here.
    let reader = index
        .reader_builder()
        .reload_policy(ReloadPolicy::Manual)
        .try_into()
        .map_err(|e: tantivy::TantivyError| format!("a segment cannot be opened: {e}"))?;
    let searcher = reader.searcher();
    if searcher.segment_readers().len() != metas.segments.len() {
        return Err("the index lists segments that cannot be opened".to_string());
    }
    drop(searcher);
    drop(reader);
    Ok((index, watermark))
}
