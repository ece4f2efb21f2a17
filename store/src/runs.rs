//! Sessions, runs, run events and approvals (schema 5), and the search index's watermark.
//!
//! Invariants:
//! - A run and its `run.created` event commit together: the API acknowledges a run only once
//!   this write returned.
//! - Every run event gets the run's next sequence number and a global sequence number (`gseq`,
//!   the order of the search index's catch-up) in the transaction that changes the run, so the
//!   events of a run are exactly what happened to it, in order, with no gaps.
//! - A terminal run (completed, failed, cancelled, timed out) never changes again: every later
//!   write is refused with [`StoreError::RunFinished`]. This makes the store the arbiter of
//!   races between the engine, cancellation and approvals.
//! - A session has at most one run that has not ended (`active_run`).
//! - An approval is decided once: the first decision wins, later ones get
//!   [`StoreError::ApprovalDecided`]. A run that ends withdraws its pending approval.
//! - `active_runs` lists exactly the runs that have not ended, so that start-up finds them
//!   without scanning every run.

use redb::{ReadableDatabase, ReadableTable, WriteTransaction};
use serde::{Deserialize, Serialize};

use acorn_proto::agent::RunMode;
use acorn_proto::runs::{
    ApprovalState, ApprovalView, RunError, RunEvent, RunEventKind, RunLimits, RunState, RunUsage,
};

use crate::audit::{AuditDraft, append_in, check_draft};
use crate::schema::{
    ACTIVE_RUNS, APPROVALS, RUN_EVENT_LOG, RUN_EVENTS, RUN_SESSIONS, RUNS, SEARCH_META,
    SESSION_RUNS, WORKSPACE_RUNS, encode, pair_key, prefix_range, seq_from_key, seq_key,
};
use crate::store::read_record;
use crate::{Store, StoreError};

/// A conversation on one cluster.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SessionRecord {
    /// `ses_` + hex.
    pub id: String,
    pub workspace_id: String,
    pub cluster_id: String,
    pub title: String,
    /// User id of the creator (who may write, with the workspace's admins and owners).
    pub created_by: String,
    pub created_at: i64,
    pub updated_at: i64,
    /// The run that has not ended yet, if any.
    #[serde(default)]
    pub active_run: Option<String>,
    /// The newest run.
    #[serde(default)]
    pub last_run: Option<String>,
    /// The alert this session was opened for (alert receivers), with its status.
    #[serde(default)]
    pub alert: Option<acorn_proto::webhooks::SessionAlert>,
}

/// One execution attempt for one user message.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RunRecord {
    /// `run_` + 12 hex of unix milliseconds + 16 random hex: ids sort by creation time.
    pub id: String,
    pub workspace_id: String,
    pub cluster_id: String,
    pub session_id: String,
    pub state: RunState,
    pub mode: RunMode,
    pub provider: String,
    pub model: String,
    pub question: String,
    pub limits: RunLimits,
    #[serde(default)]
    pub usage: RunUsage,
    pub created_by: String,
    pub created_at: i64,
    #[serde(default)]
    pub started_at: Option<i64>,
    #[serde(default)]
    pub ended_at: Option<i64>,
    #[serde(default)]
    pub answer: Option<String>,
    #[serde(default)]
    pub evidence: Vec<u64>,
    #[serde(default)]
    pub error: Option<RunError>,
    #[serde(default)]
    pub pending_approval: Option<String>,
    /// Sequence number of the next event (= number of events).
    pub next_seq: u64,
}

/// An event to append; the store numbers it.
#[derive(Debug, Clone, PartialEq)]
pub struct NewEvent {
    pub kind: RunEventKind,
    pub at_ms: i64,
    pub data: serde_json::Value,
}

/// What a write changes on the run besides appending events. `None` keeps the value.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct RunChange {
    pub state: Option<RunState>,
    pub started_at: Option<i64>,
    pub ended_at: Option<i64>,
    pub usage: Option<RunUsage>,
    pub answer: Option<String>,
    pub evidence: Option<Vec<u64>>,
    pub error: Option<RunError>,
    /// Only allowed from these states (empty: any non-terminal state).
    pub expect: Vec<RunState>,
}

/// Where the search index stands, as recorded in the store.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct SearchState {
    /// The index schema the watermark belongs to.
    pub schema_version: u32,
    /// Every event with a `gseq` up to this one is in the index.
    pub watermark: u64,
    pub updated_at: i64,
}

/// Where an event sits: the value of the global event log.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub(crate) struct EventRef {
    pub(crate) run: String,
    pub(crate) seq: u64,
}

type Answer<T> = Result<Result<T, StoreError>, StoreError>;

const KEY_SEARCH_STATE: &[u8] = b"state";

fn not_found(what: &str) -> StoreError {
    StoreError::NotFound {
        what: what.to_string(),
    }
}

/// `run id 0x00 seq (big-endian)`.
pub(crate) fn event_key(run_id: &str, seq: u64) -> Vec<u8> {
    let mut k = Vec::with_capacity(run_id.len() + 9);
    k.extend_from_slice(run_id.as_bytes());
    k.push(0);
    k.extend_from_slice(&seq_key(seq));
    k
}

/// Splits an [`event_key`]; for verify.
pub(crate) fn split_event_key(k: &[u8]) -> Result<(&str, u64), String> {
    let at = k
        .iter()
        .position(|b| *b == 0)
        .ok_or_else(|| "key has no 0x00 separator".to_string())?;
    let run = std::str::from_utf8(&k[..at]).map_err(|e| e.to_string())?;
    let seq = seq_from_key(&k[at + 1..]).ok_or_else(|| "sequence is not 8 bytes".to_string())?;
    Ok((run, seq))
}

fn read_run(txn: &WriteTransaction, run_id: &str) -> Result<Option<RunRecord>, StoreError> {
    let table = txn.open_table(RUNS)?;
    read_record(&table, RUNS, run_id.as_bytes())
}

fn write_run(txn: &WriteTransaction, run: &RunRecord) -> Result<(), StoreError> {
    txn.open_table(RUNS)?
        .insert(run.id.as_bytes(), encode(run)?.as_slice())?;
    Ok(())
}

fn read_session(
    txn: &WriteTransaction,
    workspace_id: &str,
    session_id: &str,
) -> Result<Option<SessionRecord>, StoreError> {
    let table = txn.open_table(RUN_SESSIONS)?;
    read_record(&table, RUN_SESSIONS, &pair_key(workspace_id, session_id))
}

fn write_session(txn: &WriteTransaction, s: &SessionRecord) -> Result<(), StoreError> {
    txn.open_table(RUN_SESSIONS)?.insert(
        pair_key(&s.workspace_id, &s.id).as_slice(),
        encode(s)?.as_slice(),
    )?;
    Ok(())
}

/// Appends events to a run (numbering them) and to the global log; updates `next_seq`.
fn append_events(
    txn: &WriteTransaction,
    run: &mut RunRecord,
    events: &[NewEvent],
) -> Result<Vec<RunEvent>, StoreError> {
    let mut table = txn.open_table(RUN_EVENTS)?;
    let mut log = txn.open_table(RUN_EVENT_LOG)?;
    let mut gseq = match log.last()? {
        Some((k, _)) => seq_from_key(k.value()).unwrap_or(0),
        None => 0,
    };
    let mut out = Vec::with_capacity(events.len());
    for e in events {
        let event = RunEvent {
            run_id: run.id.clone(),
            seq: run.next_seq,
            kind: e.kind,
            at_ms: e.at_ms,
            data: e.data.clone(),
        };
        table.insert(
            event_key(&run.id, event.seq).as_slice(),
            encode(&event)?.as_slice(),
        )?;
        gseq += 1;
        log.insert(
            seq_key(gseq).as_slice(),
            encode(&EventRef {
                run: run.id.clone(),
                seq: event.seq,
            })?
            .as_slice(),
        )?;
        run.next_seq += 1;
        out.push(event);
    }
    drop((table, log));
    for e in &out {
        if let Some(t) = acorn_proto::webhooks::EventType::for_run_event(e.kind.as_str()) {
            crate::webhooks::emit_in(txn, &run.workspace_id, t, &run_event_data(run, e))?;
        }
    }
    Ok(out)
}

/// The webhook data of a run event (question and answer bounded: payloads stay small).
fn run_event_data(run: &RunRecord, e: &RunEvent) -> acorn_proto::webhooks::RunEventData {
    let cut = |s: &str, n: usize| s.chars().take(n).collect::<String>();
    acorn_proto::webhooks::RunEventData {
        run_id: run.id.clone(),
        session_id: run.session_id.clone(),
        cluster_id: run.cluster_id.clone(),
        state: run.state,
        mode: run.mode,
        created_by: run.created_by.clone(),
        question: cut(&run.question, 4096),
        answer: run.answer.as_deref().map(|a| cut(a, 16384)),
        error: run.error.clone(),
        seq: e.seq,
        detail: e.data.clone(),
    }
}

/// Bookkeeping of a run that just reached a terminal state.
fn finish_run(txn: &WriteTransaction, run: &RunRecord, at: i64) -> Result<(), StoreError> {
    txn.open_table(ACTIVE_RUNS)?.remove(run.id.as_bytes())?;
    if let Some(mut session) = read_session(txn, &run.workspace_id, &run.session_id)?
        && session.active_run.as_deref() == Some(run.id.as_str())
    {
        session.active_run = None;
        session.updated_at = at;
        write_session(txn, &session)?;
    }
    if let Some(approval_id) = &run.pending_approval {
        let key = pair_key(&run.id, approval_id);
        let mut approvals = txn.open_table(APPROVALS)?;
        let existing: Option<ApprovalView> = read_record(&approvals, APPROVALS, &key)?;
        if let Some(mut a) = existing
            && a.state == ApprovalState::Pending
        {
            a.state = ApprovalState::Withdrawn;
            a.decided_at = Some(at);
            approvals.insert(key.as_slice(), encode(&a)?.as_slice())?;
        }
    }
    Ok(())
}

fn apply_change(run: &mut RunRecord, change: &RunChange) {
    if let Some(s) = change.state {
        run.state = s;
    }
    if change.started_at.is_some() {
        run.started_at = change.started_at;
    }
    if change.ended_at.is_some() {
        run.ended_at = change.ended_at;
    }
    if let Some(u) = change.usage {
        run.usage = u;
    }
    if change.answer.is_some() {
        run.answer.clone_from(&change.answer);
    }
    if let Some(e) = &change.evidence {
        run.evidence.clone_from(e);
    }
    if change.error.is_some() {
        run.error.clone_from(&change.error);
    }
}

/// Scans `prefix 0x00 …` keys of an index table and returns the second halves.
fn index_ids(
    table: &impl ReadableTable<&'static [u8], &'static [u8]>,
    prefix: &str,
) -> Result<Vec<String>, StoreError> {
    let (start, end) = prefix_range(prefix);
    let mut out = Vec::new();
    for entry in table.range(start.as_slice()..end.as_slice())? {
        let (k, _) = entry?;
        if let Ok((_, id)) = crate::schema::split_pair(k.value()) {
            out.push(id.to_string());
        }
    }
    Ok(out)
}

/// Deletes every session, run, event and approval of a workspace (workspace deletion). The
/// global event log keeps its entries; the indexer skips events that no longer exist.
pub(crate) fn delete_runs_of_workspace(
    txn: &WriteTransaction,
    workspace_id: &str,
) -> Result<(), StoreError> {
    let run_ids = index_ids(&txn.open_table(WORKSPACE_RUNS)?, workspace_id)?;
    for run_id in &run_ids {
        let run = read_run(txn, run_id)?;
        {
            let mut events = txn.open_table(RUN_EVENTS)?;
            let start = event_key(run_id, 0);
            let end = event_key(run_id, u64::MAX);
            let keys: Vec<Vec<u8>> = events
                .range(start.as_slice()..=end.as_slice())?
                .map(|e| e.map(|(k, _)| k.value().to_vec()))
                .collect::<Result<_, _>>()?;
            for k in keys {
                events.remove(k.as_slice())?;
            }
        }
        {
            let mut approvals = txn.open_table(APPROVALS)?;
            for id in index_ids(&approvals, run_id)? {
                approvals.remove(pair_key(run_id, &id).as_slice())?;
            }
        }
        txn.open_table(ACTIVE_RUNS)?.remove(run_id.as_bytes())?;
        txn.open_table(RUNS)?.remove(run_id.as_bytes())?;
        txn.open_table(WORKSPACE_RUNS)?
            .remove(pair_key(workspace_id, run_id).as_slice())?;
        if let Some(run) = run {
            txn.open_table(SESSION_RUNS)?
                .remove(pair_key(&run.session_id, run_id).as_slice())?;
        }
    }
    let session_ids = index_ids(&txn.open_table(RUN_SESSIONS)?, workspace_id)?;
    let mut sessions = txn.open_table(RUN_SESSIONS)?;
    for id in session_ids {
        sessions.remove(pair_key(workspace_id, &id).as_slice())?;
    }
    Ok(())
}

impl Store {
    // ---- sessions ---------------------------------------------------------------------------

    /// Stores a new session; its workspace and cluster must exist.
    pub async fn create_run_session(
        &self,
        session: SessionRecord,
    ) -> Result<SessionRecord, StoreError> {
        self.submit(move |txn| -> Answer<SessionRecord> {
            let clusters = txn.open_table(crate::schema::CLUSTERS)?;
            if clusters
                .get(pair_key(&session.workspace_id, &session.cluster_id).as_slice())?
                .is_none()
            {
                return Ok(Err(not_found("cluster")));
            }
            drop(clusters);
            write_session(txn, &session)?;
            crate::webhooks::emit_in(
                txn,
                &session.workspace_id,
                acorn_proto::webhooks::EventType::SessionCreated,
                &acorn_proto::webhooks::SessionEventData {
                    session_id: session.id.clone(),
                    cluster_id: session.cluster_id.clone(),
                    title: session.title.clone(),
                    created_by: session.created_by.clone(),
                },
            )?;
            Ok(Ok(session.clone()))
        })
        .await?
    }

    /// A session of a workspace.
    pub fn session_record(
        &self,
        workspace_id: &str,
        session_id: &str,
    ) -> Result<Option<SessionRecord>, StoreError> {
        self.get_record(RUN_SESSIONS, &pair_key(workspace_id, session_id))
    }

    /// The sessions of a workspace (optionally of one cluster), most recently updated first.
    pub fn session_records(
        &self,
        workspace_id: &str,
        cluster_id: Option<&str>,
    ) -> Result<Vec<SessionRecord>, StoreError> {
        let txn = self.db().begin_read()?;
        let table = txn.open_table(RUN_SESSIONS)?;
        let (start, end) = prefix_range(workspace_id);
        let mut out = Vec::new();
        for entry in table.range(start.as_slice()..end.as_slice())? {
            let (k, _) = entry?;
            if let Some(s) = read_record::<SessionRecord>(&table, RUN_SESSIONS, k.value())?
                && cluster_id.is_none_or(|c| c == s.cluster_id)
            {
                out.push(s);
            }
        }
        out.sort_by(|a, b| b.updated_at.cmp(&a.updated_at).then(b.id.cmp(&a.id)));
        Ok(out)
    }

    /// Renames a session.
    pub async fn rename_run_session(
        &self,
        workspace_id: &str,
        session_id: &str,
        title: String,
        at: i64,
    ) -> Result<SessionRecord, StoreError> {
        let (ws, id) = (workspace_id.to_owned(), session_id.to_owned());
        self.submit(move |txn| -> Answer<SessionRecord> {
            let Some(mut s) = read_session(txn, &ws, &id)? else {
                return Ok(Err(not_found("session")));
            };
            s.title.clone_from(&title);
            s.updated_at = at;
            write_session(txn, &s)?;
            Ok(Ok(s))
        })
        .await?
    }

    // ---- runs -------------------------------------------------------------------------------

    /// Stores a new run (state `queued`) with its `run.created` event, in one transaction.
    /// Refused when the session is unknown or already has a run that has not ended.
    pub async fn create_run(
        &self,
        run: RunRecord,
        created: NewEvent,
    ) -> Result<(RunRecord, RunEvent), StoreError> {
        self.submit(move |txn| -> Answer<(RunRecord, RunEvent)> {
            let Some(mut session) = read_session(txn, &run.workspace_id, &run.session_id)? else {
                return Ok(Err(not_found("session")));
            };
            if let Some(active) = &session.active_run {
                return Ok(Err(StoreError::RunInProgress {
                    run: active.clone(),
                }));
            }
            let mut run = run.clone();
            run.next_seq = 0;
            let mut events = append_events(txn, &mut run, std::slice::from_ref(&created))?;
            write_run(txn, &run)?;
            let marker = encode(&())?;
            txn.open_table(SESSION_RUNS)?.insert(
                pair_key(&run.session_id, &run.id).as_slice(),
                marker.as_slice(),
            )?;
            txn.open_table(WORKSPACE_RUNS)?.insert(
                pair_key(&run.workspace_id, &run.id).as_slice(),
                marker.as_slice(),
            )?;
            txn.open_table(ACTIVE_RUNS)?
                .insert(run.id.as_bytes(), encode(&run.workspace_id)?.as_slice())?;
            session.active_run = Some(run.id.clone());
            session.last_run = Some(run.id.clone());
            session.updated_at = run.created_at;
            write_session(txn, &session)?;
            let event = events.remove(0);
            Ok(Ok((run, event)))
        })
        .await?
    }

    /// A run by id.
    pub fn run_record(&self, run_id: &str) -> Result<Option<RunRecord>, StoreError> {
        self.get_record(RUNS, run_id.as_bytes())
    }

    /// The runs of a session, oldest first.
    pub fn runs_of_session(&self, session_id: &str) -> Result<Vec<RunRecord>, StoreError> {
        let txn = self.db().begin_read()?;
        let index = txn.open_table(SESSION_RUNS)?;
        let runs = txn.open_table(RUNS)?;
        let mut out = Vec::new();
        for id in index_ids(&index, session_id)? {
            if let Some(r) = read_record(&runs, RUNS, id.as_bytes())? {
                out.push(r);
            }
        }
        Ok(out)
    }

    /// The ids of a workspace's runs, oldest first, optionally only those in `states`.
    pub fn run_ids_of_workspace(
        &self,
        workspace_id: &str,
        states: Option<&[RunState]>,
    ) -> Result<Vec<String>, StoreError> {
        let txn = self.db().begin_read()?;
        let index = txn.open_table(WORKSPACE_RUNS)?;
        let ids = index_ids(&index, workspace_id)?;
        let Some(states) = states else {
            return Ok(ids);
        };
        let runs = txn.open_table(RUNS)?;
        let mut out = Vec::new();
        for id in ids {
            if let Some(r) = read_record::<RunRecord>(&runs, RUNS, id.as_bytes())?
                && states.contains(&r.state)
            {
                out.push(id);
            }
        }
        Ok(out)
    }

    /// Every run that has not ended (start-up recovery).
    pub fn active_run_records(&self) -> Result<Vec<RunRecord>, StoreError> {
        let txn = self.db().begin_read()?;
        let active = txn.open_table(ACTIVE_RUNS)?;
        let runs = txn.open_table(RUNS)?;
        let mut out = Vec::new();
        for entry in active.iter()? {
            let (k, _) = entry?;
            if let Some(r) = read_record(&runs, RUNS, k.value())? {
                out.push(r);
            }
        }
        Ok(out)
    }

    /// Changes a run and appends its events in one transaction. Refused with
    /// [`StoreError::RunFinished`] when the run has ended (or is not in `change.expect`).
    pub async fn update_run(
        &self,
        run_id: &str,
        change: RunChange,
        events: Vec<NewEvent>,
    ) -> Result<(RunRecord, Vec<RunEvent>), StoreError> {
        let run_id = run_id.to_owned();
        self.submit(move |txn| -> Answer<(RunRecord, Vec<RunEvent>)> {
            let Some(mut run) = read_run(txn, &run_id)? else {
                return Ok(Err(not_found("run")));
            };
            if run.state.is_terminal()
                || (!change.expect.is_empty() && !change.expect.contains(&run.state))
            {
                return Ok(Err(StoreError::RunFinished {
                    state: run.state.as_str().to_owned(),
                }));
            }
            apply_change(&mut run, &change);
            let stored = append_events(txn, &mut run, &events)?;
            if run.state.is_terminal() {
                finish_run(txn, &run, run.ended_at.unwrap_or(0))?;
                run.pending_approval = None;
            }
            write_run(txn, &run)?;
            Ok(Ok((run, stored)))
        })
        .await?
    }

    /// The events of a run with `seq > after` (all when `None`), at most `limit`.
    pub fn run_events(
        &self,
        run_id: &str,
        after: Option<u64>,
        limit: usize,
    ) -> Result<Vec<RunEvent>, StoreError> {
        let txn = self.db().begin_read()?;
        let table = txn.open_table(RUN_EVENTS)?;
        let start = match after {
            Some(u64::MAX) => return Ok(Vec::new()),
            Some(n) => event_key(run_id, n + 1),
            None => event_key(run_id, 0),
        };
        let end = event_key(run_id, u64::MAX);
        let mut out = Vec::new();
        for entry in table.range(start.as_slice()..=end.as_slice())? {
            let (k, _) = entry?;
            if let Some(e) = read_record(&table, RUN_EVENTS, k.value())? {
                out.push(e);
            }
            if out.len() >= limit {
                break;
            }
        }
        Ok(out)
    }

    /// Events in global order after `gseq`, at most `limit`: `(gseq, event)`. Events of deleted
    /// runs are skipped (their gseq is still returned as the last one seen).
    pub fn run_events_since(
        &self,
        gseq: u64,
        limit: usize,
    ) -> Result<(Vec<(u64, RunEvent)>, u64), StoreError> {
        let txn = self.db().begin_read()?;
        let log = txn.open_table(RUN_EVENT_LOG)?;
        let events = txn.open_table(RUN_EVENTS)?;
        let mut out = Vec::new();
        let mut last = gseq;
        let start = seq_key(gseq.saturating_add(1));
        for entry in log.range(start.as_slice()..)? {
            let (k, _) = entry?;
            let Some(g) = seq_from_key(k.value()) else {
                continue;
            };
            last = g;
            if let Some(r) = read_record::<EventRef>(&log, RUN_EVENT_LOG, k.value())?
                && let Some(e) = read_record(&events, RUN_EVENTS, &event_key(&r.run, r.seq))?
            {
                out.push((g, e));
            }
            if out.len() >= limit {
                break;
            }
        }
        Ok((out, last))
    }

    /// The newest global event number (0 when there are none).
    pub fn last_event_gseq(&self) -> Result<u64, StoreError> {
        let txn = self.db().begin_read()?;
        let log = txn.open_table(RUN_EVENT_LOG)?;
        Ok(match log.last()? {
            Some((k, _)) => seq_from_key(k.value()).unwrap_or(0),
            None => 0,
        })
    }

    // ---- approvals --------------------------------------------------------------------------

    /// Pauses a running run on a write action: stores the approval, moves the run to
    /// `waiting_for_approval` and appends its events, in one transaction.
    pub async fn request_approval(
        &self,
        approval: ApprovalView,
        events: Vec<NewEvent>,
    ) -> Result<(RunRecord, Vec<RunEvent>), StoreError> {
        self.submit(move |txn| -> Answer<(RunRecord, Vec<RunEvent>)> {
            let Some(mut run) = read_run(txn, &approval.run_id)? else {
                return Ok(Err(not_found("run")));
            };
            if run.state != RunState::Running {
                return Ok(Err(StoreError::RunFinished {
                    state: run.state.as_str().to_owned(),
                }));
            }
            txn.open_table(APPROVALS)?.insert(
                pair_key(&approval.run_id, &approval.id).as_slice(),
                encode(&approval)?.as_slice(),
            )?;
            run.state = RunState::WaitingForApproval;
            run.pending_approval = Some(approval.id.clone());
            let stored = append_events(txn, &mut run, &events)?;
            write_run(txn, &run)?;
            Ok(Ok((run, stored)))
        })
        .await?
    }

    /// Decides a pending approval (`approved`, `rejected` or `expired`): the first decision
    /// wins. The run goes back to `running`, its `approval.decided` event and the audit record
    /// (if any) commit in the same transaction.
    #[allow(clippy::too_many_arguments)]
    pub async fn decide_approval(
        &self,
        run_id: &str,
        approval_id: &str,
        decision: ApprovalState,
        decided_by: Option<String>,
        comment: Option<String>,
        at: i64,
        event: NewEvent,
        audit: Option<AuditDraft>,
    ) -> Result<(ApprovalView, RunRecord, Vec<RunEvent>), StoreError> {
        if let Some(a) = &audit {
            check_draft(a)?;
        }
        let (run_id, approval_id) = (run_id.to_owned(), approval_id.to_owned());
        self.submit(
            move |txn| -> Answer<(ApprovalView, RunRecord, Vec<RunEvent>)> {
                let key = pair_key(&run_id, &approval_id);
                let existing: Option<ApprovalView> = {
                    let table = txn.open_table(APPROVALS)?;
                    read_record(&table, APPROVALS, &key)?
                };
                let Some(mut approval) = existing else {
                    return Ok(Err(not_found("approval")));
                };
                if approval.state != ApprovalState::Pending {
                    return Ok(Err(StoreError::ApprovalDecided {
                        state: format!("{:?}", approval.state).to_lowercase(),
                    }));
                }
                let Some(mut run) = read_run(txn, &run_id)? else {
                    return Ok(Err(not_found("run")));
                };
                approval.state = decision;
                approval.decided_by.clone_from(&decided_by);
                approval.decided_at = Some(at);
                approval.comment.clone_from(&comment);
                txn.open_table(APPROVALS)?
                    .insert(key.as_slice(), encode(&approval)?.as_slice())?;
                run.state = RunState::Running;
                run.pending_approval = None;
                let stored = append_events(txn, &mut run, std::slice::from_ref(&event))?;
                write_run(txn, &run)?;
                if let Some(a) = &audit {
                    append_in(txn, a)?;
                }
                Ok(Ok((approval, run, stored)))
            },
        )
        .await?
    }

    /// One approval of a run.
    pub fn approval(
        &self,
        run_id: &str,
        approval_id: &str,
    ) -> Result<Option<ApprovalView>, StoreError> {
        self.get_record(APPROVALS, &pair_key(run_id, approval_id))
    }

    /// The approvals of a run, oldest first.
    pub fn approvals_of_run(&self, run_id: &str) -> Result<Vec<ApprovalView>, StoreError> {
        let txn = self.db().begin_read()?;
        let table = txn.open_table(APPROVALS)?;
        let (start, end) = prefix_range(run_id);
        let mut out: Vec<ApprovalView> = Vec::new();
        for entry in table.range(start.as_slice()..end.as_slice())? {
            let (k, _) = entry?;
            if let Some(a) = read_record(&table, APPROVALS, k.value())? {
                out.push(a);
            }
        }
        out.sort_by_key(|a| a.requested_at);
        Ok(out)
    }

    // ---- search watermark -------------------------------------------------------------------

    /// Where the search index stood at its last recorded commit.
    pub fn search_state(&self) -> Result<Option<SearchState>, StoreError> {
        self.get_record(SEARCH_META, KEY_SEARCH_STATE)
    }

    /// Records where the search index stands.
    pub async fn set_search_state(&self, state: SearchState) -> Result<(), StoreError> {
        self.submit(move |txn| {
            txn.open_table(SEARCH_META)?
                .insert(KEY_SEARCH_STATE, encode(&state)?.as_slice())?;
            Ok(())
        })
        .await
    }
}

/// A time-ordered run id: `run_` + 12 hex digits of unix milliseconds + 16 random hex digits.
pub fn new_run_id(now_ms: i64) -> Result<String, StoreError> {
    let random = crate::identity::new_id("")?;
    Ok(format!("run_{:012x}{random}", now_ms.max(0)))
}
