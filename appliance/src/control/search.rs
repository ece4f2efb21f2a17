//! Full-text search over runs: the indexer that keeps the derived tantivy index
//! (`<state>/search/`, `acorn-store`'s `search` module) up to the store, and the search service
//! behind `GET /api/v1/search`.
//!
//! The index is derived and never authoritative. Events are written to the store first; the
//! indexer follows the store's global event log (`gseq`) in batches, commits the index with the
//! last `gseq` as its watermark (atomically, in the index), then records that watermark and the
//! index schema in the store. At start it catches up from its watermark; when the index is
//! missing, corrupt, of another schema, or ahead of the store (a restored backup), it is wiped
//! and rebuilt in the background while searches answer with `index: "rebuilding"`.
//!
//! Authorization: a search only ever looks inside the workspaces where the caller may read runs
//! (an API token: its own workspace), as a filter inside the index query, so neither hits nor
//! counts from other workspaces can leak.

use std::collections::HashMap;
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use acorn_proto::ErrorCode;
use acorn_proto::authz::Action;
use acorn_proto::runs::{RunEvent, RunEventKind, RunState, SearchHit, SearchResponse};
use acorn_store::search::{
    Opened, SEARCH_SCHEMA_VERSION, SearchDoc, SearchError, SearchIndex, SearchQuery,
};
use acorn_store::{RunRecord, SearchState, Store};
use tokio::sync::{Notify, watch};

use super::auth::{Caller, Principal};
use super::error::ApiError;

/// Events read from the store per indexing batch.
const BATCH: usize = 5000;
/// Time given to a burst of events to gather before they are indexed together.
const GATHER: Duration = Duration::from_millis(200);

/// The run search: index, indexer state, service.
pub struct RunSearch {
    store: Store,
    index: SearchIndex,
    rebuilding: AtomicBool,
    wake: Notify,
}

impl std::fmt::Debug for RunSearch {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RunSearch").finish_non_exhaustive()
    }
}

impl RunSearch {
    /// Opens `<state>/search`, decides whether it must be rebuilt, and starts the indexer.
    pub fn open(
        store: Store,
        state_dir: &Path,
        shutdown: watch::Receiver<bool>,
    ) -> anyhow::Result<Arc<RunSearch>> {
        let dir = state_dir.join("search");
        let (index, opened) = SearchIndex::open(&dir)?;
        let recorded = store.search_state()?;
        let last = store.last_event_gseq()?;
        let rebuild = match (&opened, &recorded) {
            (Opened::Rebuilt { reason }, _) => Some(reason.clone()),
            (_, Some(r)) if r.schema_version != SEARCH_SCHEMA_VERSION => Some(format!(
                "the store recorded index schema {}",
                r.schema_version
            )),
            (Opened::Ready { watermark }, _) if *watermark > last => Some(format!(
                "the index holds events up to {watermark} but the store only up to {last} \
                 (a restored backup)"
            )),
            _ => None,
        };
        if let Some(reason) = &rebuild {
            tracing::warn!(%reason, "search index: rebuilding in the background");
            if matches!(opened, Opened::Ready { .. }) {
                index.clear()?;
            }
        } else {
            tracing::info!(
                watermark = index.watermark(),
                events = last,
                "search index opened"
            );
        }
        let search = Arc::new(RunSearch {
            store,
            index,
            rebuilding: AtomicBool::new(rebuild.is_some()),
            wake: Notify::new(),
        });
        tokio::spawn(Arc::clone(&search).follow(shutdown));
        Ok(search)
    }

    /// New events were committed: index them soon.
    pub fn notify(&self) {
        self.wake.notify_one();
    }

    /// `acorn reindex`: drop the index and rebuild it from the store in the background.
    pub async fn reindex(self: &Arc<Self>) -> Result<(), String> {
        self.rebuilding.store(true, Ordering::SeqCst);
        let me = Arc::clone(self);
        tokio::task::spawn_blocking(move || me.index.clear())
            .await
            .map_err(|e| e.to_string())?
            .map_err(|e| e.to_string())?;
        self.wake.notify_one();
        Ok(())
    }

    pub fn status(&self) -> &'static str {
        if self.rebuilding.load(Ordering::SeqCst) {
            "rebuilding"
        } else {
            "ready"
        }
    }

    /// The indexer: catch up, then wait for news.
    async fn follow(self: Arc<Self>, mut shutdown: watch::Receiver<bool>) {
        loop {
            match self.catch_up().await {
                Ok(()) => {}
                Err(e) => tracing::warn!(error = %e, "search indexing failed; retrying"),
            }
            tokio::select! {
                _ = shutdown.changed() => break,
                _ = self.wake.notified() => tokio::time::sleep(GATHER).await,
                _ = tokio::time::sleep(Duration::from_secs(5)) => {}
            }
        }
    }

    /// Indexes every event after the watermark, batch by batch.
    async fn catch_up(self: &Arc<Self>) -> Result<(), String> {
        let mut runs: HashMap<String, Option<RunRecord>> = HashMap::new();
        loop {
            let watermark = self.index.watermark();
            let (events, last) = self
                .store
                .run_events_since(watermark, BATCH)
                .map_err(|e| e.to_string())?;
            if last == watermark {
                if self.rebuilding.swap(false, Ordering::SeqCst) {
                    tracing::info!(watermark, "search index rebuilt");
                }
                return Ok(());
            }
            let mut docs = Vec::with_capacity(events.len());
            for (gseq, event) in &events {
                let run = runs
                    .entry(event.run_id.clone())
                    .or_insert_with(|| self.store.run_record(&event.run_id).ok().flatten());
                if let Some(run) = run
                    && let Some(doc) = doc_of(*gseq, event, run)
                {
                    docs.push(doc);
                }
            }
            let me = Arc::clone(self);
            tokio::task::spawn_blocking(move || -> Result<(), SearchError> {
                me.index.add(&docs)?;
                me.index.commit(last)
            })
            .await
            .map_err(|e| e.to_string())?
            .map_err(|e| e.to_string())?;
            self.store
                .set_search_state(SearchState {
                    schema_version: SEARCH_SCHEMA_VERSION,
                    watermark: last,
                    updated_at: crate::util::now_unix(),
                })
                .await
                .map_err(|e| e.to_string())?;
            if runs.len() > 10_000 {
                runs.clear();
            }
        }
    }
}

/// The indexed form of an event; `None` for events with no text worth finding.
fn doc_of(gseq: u64, e: &RunEvent, run: &RunRecord) -> Option<SearchDoc> {
    let text = |v: &serde_json::Value| v.as_str().unwrap_or_default().to_owned();
    let (kind, body) = match e.kind {
        RunEventKind::RunCreated => ("user_message", run.question.clone()),
        RunEventKind::ModelMessage => {
            let tools: Vec<String> = e.data["tool_calls"]
                .as_array()
                .into_iter()
                .flatten()
                .map(|c| text(&c["name"]))
                .collect();
            // The last turn's text is the answer, indexed once as such.
            if tools.is_empty() {
                return None;
            }
            let body = format!("{} {}", text(&e.data["text"]), tools.join(" "));
            ("model_message", body.trim().to_owned())
        }
        RunEventKind::ToolCall => (
            "tool_call",
            format!("{} {}", text(&e.data["tool"]), e.data["arguments"]),
        ),
        RunEventKind::ToolResult => {
            let body = if e.data["ok"] == true {
                text(&e.data["content"])
            } else {
                format!(
                    "{} {}",
                    text(&e.data["error"]["code"]),
                    text(&e.data["error"]["message"])
                )
            };
            ("tool_result", format!("{} {body}", text(&e.data["tool"])))
        }
        RunEventKind::RunCompleted => ("answer", text(&e.data["answer"])),
        RunEventKind::RunFailed => (
            "run",
            format!("{} {}", text(&e.data["code"]), text(&e.data["message"])),
        ),
        _ => return None,
    };
    if body.trim().is_empty() {
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
        body,
    })
}

/// `GET /api/v1/search` parameters.
#[derive(Debug, Default, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SearchParams {
    /// The query; empty: every event in the filters, newest first.
    #[serde(default)]
    pub q: String,
    pub workspace_id: Option<String>,
    pub cluster_id: Option<String>,
    pub state: Option<RunState>,
    /// Start of the time range, inclusive: unix seconds, an RFC 3339 time, or a date
    /// (`2026-11-27`, midnight UTC).
    pub from: Option<String>,
    /// End of the time range, exclusive: unix seconds or an RFC 3339 time; a date includes
    /// that whole day (up to the next midnight UTC).
    pub to: Option<String>,
    pub limit: Option<usize>,
    pub offset: Option<usize>,
}

/// Searches the runs the caller may read.
pub async fn search(
    search: &Arc<RunSearch>,
    caller: &Caller,
    params: SearchParams,
) -> Result<SearchResponse, ApiError> {
    let store = &search.store;
    let from = parse_bound(params.from.as_deref(), "from", false)?;
    let to = parse_bound(params.to.as_deref(), "to", true)?;
    if let (Some(f), Some(t)) = (from, to)
        && f > t
    {
        return Err(ApiError::new(
            ErrorCode::InvalidParameter,
            "`from` is after `to`: the time range is empty",
        ));
    }
    let mut readable: Vec<String> = match &caller.principal {
        Principal::Token(token) => {
            if token.role.allows(Action::RunsRead) {
                vec![token.workspace_id.clone()]
            } else {
                Vec::new()
            }
        }
        Principal::Session { .. } => store
            .workspaces_of_user(&caller.user.id)?
            .into_iter()
            .filter(|(_, role)| role.allows(Action::RunsRead))
            .map(|(ws, _)| ws.id)
            .collect(),
    };
    if let Some(ws) = &params.workspace_id {
        if !readable.contains(ws) {
            return Err(ApiError::not_found("workspace"));
        }
        readable = vec![ws.clone()];
    }
    let runs = match params.state {
        Some(state) => {
            let mut ids = Vec::new();
            for ws in &readable {
                ids.extend(store.run_ids_of_workspace(ws, Some(&[state]))?);
            }
            Some(ids)
        }
        None => None,
    };
    let query = SearchQuery {
        text: params.q,
        workspaces: readable,
        cluster: params.cluster_id,
        runs,
        from_ms: from.map(|s| s.saturating_mul(1000)),
        to_ms: to.map(|s| s.saturating_mul(1000)),
        limit: params.limit.unwrap_or(20),
        offset: params.offset.unwrap_or(0),
    };
    let me = Arc::clone(search);
    let results = tokio::task::spawn_blocking(move || me.index.search(&query))
        .await
        .map_err(ApiError::internal)?
        .map_err(|e| match e {
            SearchError::Syntax { position, message } => ApiError::new(
                ErrorCode::SearchQueryInvalid,
                format!("the query does not parse at character {position}: {message}"),
            ),
            SearchError::InvalidRequest { message } => {
                ApiError::new(ErrorCode::InvalidParameter, message)
            }
            other => ApiError::internal(other),
        })?;
    Ok(SearchResponse {
        index: search.status().to_owned(),
        total: results.total,
        hits: results
            .hits
            .into_iter()
            .map(|h| SearchHit {
                workspace_id: h.workspace,
                cluster_id: h.cluster,
                session_id: h.session,
                run_id: h.run,
                seq: h.seq,
                kind: h.kind,
                at_ms: h.created_at_ms,
                score: h.score,
                snippet: h.snippet.text,
                highlights: h
                    .snippet
                    .highlighted
                    .into_iter()
                    .map(|(a, b)| [a, b])
                    .collect(),
            })
            .collect(),
    })
}

/// A time-range bound as unix seconds: an integer (unix seconds), an RFC 3339 time, or a
/// calendar date in UTC. A date is the start of its day, or, as the (exclusive) end of a
/// range, the start of the next day, so that `from=D&to=D` is the whole day D.
fn parse_bound(value: Option<&str>, name: &str, end: bool) -> Result<Option<i64>, ApiError> {
    let Some(value) = value.map(str::trim).filter(|v| !v.is_empty()) else {
        return Ok(None);
    };
    if let Ok(secs) = value.parse::<i64>() {
        return Ok(Some(secs));
    }
    if let Ok(t) =
        time::OffsetDateTime::parse(value, &time::format_description::well_known::Rfc3339)
    {
        return Ok(Some(t.unix_timestamp()));
    }
    if let Some(date) = parse_date(value) {
        let start = date.midnight().assume_utc().unix_timestamp();
        return Ok(Some(if end { start + 86_400 } else { start }));
    }
    Err(super::audit::bad_param(
        name,
        "is not a time: use unix seconds, an RFC 3339 time like 2026-11-27T08:00:00Z, or a date like 2026-11-27",
    ))
}

/// `YYYY-MM-DD` as a calendar date.
fn parse_date(value: &str) -> Option<time::Date> {
    let mut parts = value.splitn(3, '-');
    let (y, m, d) = (parts.next()?, parts.next()?, parts.next()?);
    if y.len() != 4 || m.len() != 2 || d.len() != 2 {
        return None;
    }
    let month = time::Month::try_from(m.parse::<u8>().ok()?).ok()?;
    time::Date::from_calendar_date(y.parse().ok()?, month, d.parse().ok()?).ok()
}

#[cfg(test)]
mod tests {
    use super::parse_bound;

    #[test]
    fn time_bounds_parse() {
        let cases: &[(&str, bool, Option<i64>)] = &[
            ("1700000000", false, Some(1_700_000_000)),
            ("2026-11-27T08:00:00Z", false, Some(1_795_766_400)),
            ("2026-11-27T09:00:00+01:00", true, Some(1_795_766_400)),
            ("2026-11-27", false, Some(1_795_737_600)),
            ("2026-11-27", true, Some(1_795_737_600 + 86_400)),
            ("", false, None),
        ];
        for (value, end, want) in cases {
            assert_eq!(
                parse_bound(Some(value), "from", *end).ok(),
                Some(*want),
                "{value}"
            );
        }
        for bad in [
            "yesterday",
            "2026-13-01",
            "2026-02-30",
            "27/11/2026",
            "2026-1-1",
        ] {
            let e = parse_bound(Some(bad), "from", false).err();
            assert!(
                e.as_ref().is_some_and(|e| e.message.contains("`from`")),
                "{bad}: {e:?}"
            );
        }
    }
}
