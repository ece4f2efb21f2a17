//! Model evaluations started from the appliance (schema 7): one record per evaluation, with
//! its report once completed.
//!
//! Table `eval_reports`: `workspace id 0x00 eval id` → [`EvalRecord`]. Eval ids start with the
//! creation time, so a workspace's evaluations scan oldest first. A workspace keeps its newest
//! [`MAX_EVALS_PER_WORKSPACE`]; storing a new one drops the oldest finished ones beyond that.
//!
//! An evaluation runs in the appliance's memory; its record says `running` meanwhile. After a
//! restart no evaluation runs, so [`Store::fail_interrupted_evals`] marks those records failed.

use redb::{ReadableDatabase, ReadableTable, TableHandle};
use serde::{Deserialize, Serialize};

use acorn_proto::evals::{EvalState, Report};

use crate::audit::{AuditDraft, append_in, check_draft};
use crate::schema::{EVAL_REPORTS, decode, pair_key, show_key};
use crate::webhooks::{read, scan, write};
use crate::{Store, StoreError};

/// Evaluations a workspace keeps (the oldest finished ones go first).
pub const MAX_EVALS_PER_WORKSPACE: usize = 50;

/// What the appliance says of an evaluation that was running when it stopped.
pub const INTERRUPTED: &str = "the appliance restarted while this evaluation ran; start it again";

/// One evaluation.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EvalRecord {
    /// `evl_` + 12 hex digits of creation time (ms) + 8 random hex digits.
    pub id: String,
    pub workspace_id: String,
    pub provider: String,
    pub model: String,
    pub state: EvalState,
    /// The scenarios asked for (empty: the whole library).
    pub scenarios: Vec<String>,
    pub max_runtime_seconds: u64,
    /// User id.
    pub requested_by: String,
    pub created_at: i64,
    #[serde(default)]
    pub finished_at: Option<i64>,
    #[serde(default)]
    pub error: Option<String>,
    #[serde(default)]
    pub report: Option<Report>,
}

type Answer<T> = Result<Result<T, StoreError>, StoreError>;

impl Store {
    /// Stores an evaluation (new or updated), with an optional audit record in the same
    /// transaction, then drops the workspace's oldest finished evaluations beyond the limit.
    pub async fn put_eval(
        &self,
        record: EvalRecord,
        audit: Option<AuditDraft>,
    ) -> Result<EvalRecord, StoreError> {
        if let Some(draft) = &audit {
            check_draft(draft)?;
        }
        self.submit(move |txn| -> Answer<EvalRecord> {
            write(
                txn,
                EVAL_REPORTS,
                &pair_key(&record.workspace_id, &record.id),
                &record,
            )?;
            let all: Vec<EvalRecord> = {
                let table = txn.open_table(EVAL_REPORTS)?;
                scan(&table, EVAL_REPORTS, &record.workspace_id)?
            };
            let mut extra = all.len().saturating_sub(MAX_EVALS_PER_WORKSPACE);
            let mut table = txn.open_table(EVAL_REPORTS)?;
            for old in &all {
                if extra == 0 {
                    break;
                }
                if old.state != EvalState::Running && old.id != record.id {
                    table.remove(pair_key(&old.workspace_id, &old.id).as_slice())?;
                    extra -= 1;
                }
            }
            drop(table);
            if let Some(draft) = &audit {
                append_in(txn, draft)?;
            }
            Ok(Ok(record.clone()))
        })
        .await?
    }

    /// One evaluation of a workspace.
    pub fn eval_record(
        &self,
        workspace_id: &str,
        id: &str,
    ) -> Result<Option<EvalRecord>, StoreError> {
        self.get_record(EVAL_REPORTS, &pair_key(workspace_id, id))
    }

    /// A workspace's evaluations, newest first.
    pub fn eval_records(&self, workspace_id: &str) -> Result<Vec<EvalRecord>, StoreError> {
        let txn = self.db().begin_read()?;
        let table = txn.open_table(EVAL_REPORTS)?;
        let mut all: Vec<EvalRecord> = scan(&table, EVAL_REPORTS, workspace_id)?;
        all.reverse();
        Ok(all)
    }

    /// Deletes an evaluation, with its audit record.
    pub async fn delete_eval(
        &self,
        workspace_id: &str,
        id: &str,
        audit: AuditDraft,
    ) -> Result<(), StoreError> {
        check_draft(&audit)?;
        let key = pair_key(workspace_id, id);
        self.submit(move |txn| -> Answer<()> {
            if read::<EvalRecord>(txn, EVAL_REPORTS, &key)?.is_none() {
                return Ok(Err(StoreError::NotFound {
                    what: "evaluation".into(),
                }));
            }
            txn.open_table(EVAL_REPORTS)?.remove(key.as_slice())?;
            append_in(txn, &audit)?;
            Ok(Ok(()))
        })
        .await?
    }

    /// Marks every `running` evaluation failed ([`INTERRUPTED`]): at start no evaluation runs.
    /// Returns how many there were.
    pub async fn fail_interrupted_evals(&self, now: i64) -> Result<usize, StoreError> {
        self.submit(move |txn| -> Result<usize, StoreError> {
            let mut running = Vec::new();
            {
                let table = txn.open_table(EVAL_REPORTS)?;
                for entry in table.iter()? {
                    let (k, v) = entry?;
                    let r: EvalRecord =
                        decode(v.value()).map_err(|reason| StoreError::BadRecord {
                            table: EVAL_REPORTS.name().to_string(),
                            key: show_key(k.value()),
                            reason,
                        })?;
                    if r.state == EvalState::Running {
                        running.push(r);
                    }
                }
            }
            for mut r in running.iter().cloned() {
                r.state = EvalState::Failed;
                r.finished_at = Some(now);
                r.error = Some(INTERRUPTED.into());
                write(txn, EVAL_REPORTS, &pair_key(&r.workspace_id, &r.id), &r)?;
            }
            Ok(running.len())
        })
        .await
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tests_clusters::{draft, world};

    fn eval(ws: &str, n: usize, state: EvalState) -> EvalRecord {
        EvalRecord {
            id: format!("evl_{n:012x}00000000"),
            workspace_id: ws.into(),
            provider: "local".into(),
            model: "m".into(),
            state,
            scenarios: Vec::new(),
            max_runtime_seconds: 300,
            requested_by: "usr_test".into(),
            created_at: n as i64,
            finished_at: None,
            error: None,
            report: None,
        }
    }

    #[test]
    fn newest_first_capped_per_workspace_and_interrupted_ones_fail_at_start() {
        let w = world();
        // The oldest is still running: the cap drops the oldest *finished* ones instead.
        w.rt.block_on(w.store.put_eval(eval(&w.ws, 0, EvalState::Running), None))
            .unwrap();
        for n in 1..=MAX_EVALS_PER_WORKSPACE + 2 {
            w.rt.block_on(w.store.put_eval(eval(&w.ws, n, EvalState::Completed), None))
                .unwrap();
        }
        let all = w.store.eval_records(&w.ws).unwrap();
        assert_eq!(all.len(), MAX_EVALS_PER_WORKSPACE);
        assert_eq!(all[0].created_at, (MAX_EVALS_PER_WORKSPACE + 2) as i64);
        assert!(all.iter().any(|r| r.created_at == 0), "running kept");
        assert!(!all.iter().any(|r| matches!(r.created_at, 1..=3)));
        assert!(w.store.eval_records("ws_other").unwrap().is_empty());

        assert_eq!(
            w.rt.block_on(w.store.fail_interrupted_evals(99)).unwrap(),
            1
        );
        let first = w
            .store
            .eval_record(&w.ws, &all.last().unwrap().id)
            .unwrap()
            .unwrap();
        assert_eq!(first.state, EvalState::Failed);
        assert_eq!(first.error.as_deref(), Some(INTERRUPTED));
        assert_eq!(
            w.rt.block_on(w.store.fail_interrupted_evals(99)).unwrap(),
            0
        );

        w.rt.block_on(
            w.store
                .delete_eval(&w.ws, &first.id, draft(&w.ws, "eval.delete", 2)),
        )
        .unwrap();
        assert!(w.store.eval_record(&w.ws, &first.id).unwrap().is_none());
        let again = w.rt.block_on(w.store.delete_eval(
            &w.ws,
            &first.id,
            draft(&w.ws, "eval.delete", 3),
        ));
        assert!(
            matches!(again, Err(StoreError::NotFound { .. })),
            "{again:?}"
        );
    }
}
