//! Durable group commit: the single writer thread.
//!
//! Every write of the store is a [`Job`] sent to one `std::thread`. The thread takes all pending
//! jobs (up to `max_batch`), applies them in one `WriteTransaction` with
//! `Durability::Immediate`, commits once (one fsync for the whole batch) and then answers each
//! caller through its tokio oneshot. Callers never touch redb's write lock themselves.
//!
//! Failed-write isolation, and why not savepoints: redb only allows an ephemeral savepoint in a
//! transaction that has not yet opened a table, so a savepoint per job inside a shared
//! transaction is not possible. Instead a job has two ways to fail:
//! - a *rejection* (unknown token, taken username, …) is decided by reading before any write, and
//!   is returned as the job's `Ok` value (`T` is often a `Result`); nothing was written, the batch
//!   commits and the caller gets its domain error;
//! - an *error* (`Err` from `apply`: storage failure, or a job that failed half-way) means the
//!   transaction may hold partial changes. The whole batch is then aborted and each job is
//!   replayed alone in its own transaction, so only the failing job fails and its neighbours
//!   commit as if nothing happened. This costs one fsync per job, only in that rare case.

use std::sync::Arc;
use std::sync::mpsc;
use std::time::Instant;

use redb::{Database, Durability, WriteTransaction};
use tokio::sync::oneshot;

use crate::{CommitStats, StoreError};

/// One write: applied inside the batch transaction, answered after the commit.
pub(crate) trait Job: Send {
    /// Applies the write. `Err` means the transaction may be dirty and must not be committed.
    fn apply(&mut self, txn: &WriteTransaction) -> Result<(), StoreError>;
    /// Answers the caller with the result of `apply` once the transaction's fate is known.
    fn complete(self: Box<Self>, outcome: Result<(), StoreError>);
}

pub(crate) struct TypedJob<T, F> {
    op: F,
    value: Option<T>,
    reply: oneshot::Sender<Result<T, StoreError>>,
}

impl<T, F> TypedJob<T, F>
where
    T: Send + 'static,
    F: Fn(&WriteTransaction) -> Result<T, StoreError> + Send + 'static,
{
    pub(crate) fn boxed(op: F) -> (Box<dyn Job>, oneshot::Receiver<Result<T, StoreError>>) {
        let (reply, rx) = oneshot::channel();
        (
            Box::new(TypedJob {
                op,
                value: None,
                reply,
            }),
            rx,
        )
    }
}

impl<T, F> Job for TypedJob<T, F>
where
    T: Send + 'static,
    F: Fn(&WriteTransaction) -> Result<T, StoreError> + Send + 'static,
{
    fn apply(&mut self, txn: &WriteTransaction) -> Result<(), StoreError> {
        self.value = None;
        self.value = Some((self.op)(txn)?);
        Ok(())
    }

    fn complete(self: Box<Self>, outcome: Result<(), StoreError>) {
        let answer = match (outcome, self.value) {
            (Ok(()), Some(v)) => Ok(v),
            (Ok(()), None) => Err(StoreError::Closed),
            (Err(e), _) => Err(e),
        };
        // The caller may have gone away (its future dropped); the write stands regardless.
        let _ = self.reply.send(answer);
    }
}

pub(crate) type Observer = Arc<dyn Fn(CommitStats) + Send + Sync>;

/// Woken after a commit that queued a webhook delivery (see `webhooks.rs`).
pub(crate) type Signal = Arc<tokio::sync::Notify>;

/// The writer loop; returns when every `Sender` is gone and the queue is drained.
pub(crate) fn run(
    db: Arc<Database>,
    rx: mpsc::Receiver<Box<dyn Job>>,
    max_batch: usize,
    observer: Option<Observer>,
    signal: Signal,
) {
    let max_batch = max_batch.max(1);
    while let Ok(first) = rx.recv() {
        let mut batch = Vec::with_capacity(max_batch.min(64));
        batch.push(first);
        while batch.len() < max_batch {
            match rx.try_recv() {
                Ok(job) => batch.push(job),
                Err(_) => break,
            }
        }
        run_batch(&db, batch, observer.as_ref(), &signal);
    }
    tracing::debug!("store writer stopped");
}

fn run_batch(
    db: &Database,
    mut batch: Vec<Box<dyn Job>>,
    observer: Option<&Observer>,
    signal: &Signal,
) {
    let started = Instant::now();
    // Only after a commit: the dispatcher then reads the queue and finds what was committed.
    let wake = |committed: bool| {
        if crate::webhooks::take_queued() && committed {
            signal.notify_one();
        }
    };
    match apply_all(db, &mut batch) {
        Ok(()) => {
            wake(true);
            // The observer runs before the answers so that a caller who got its answer sees
            // its commit counted (metrics and tests read the observer after awaiting).
            notify(observer, batch.len(), started);
            for job in batch {
                job.complete(Ok(()));
            }
        }
        Err(e) => {
            if batch.len() > 1 {
                tracing::warn!(error = %e, jobs = batch.len(), "batch failed; replaying its writes one by one");
            }
            wake(false);
            for mut job in batch {
                let started = Instant::now();
                match apply_all(db, std::slice::from_mut(&mut job)) {
                    Ok(()) => {
                        wake(true);
                        notify(observer, 1, started);
                        job.complete(Ok(()));
                    }
                    Err(e) => {
                        wake(false);
                        job.complete(Err(e));
                    }
                }
            }
        }
    }
}

/// Applies the jobs in one transaction and commits it; on any error nothing is committed.
fn apply_all(db: &Database, jobs: &mut [Box<dyn Job>]) -> Result<(), StoreError> {
    let mut txn = db.begin_write()?;
    txn.set_durability(Durability::Immediate)?;
    for job in jobs.iter_mut() {
        if let Err(e) = job.apply(&txn) {
            // Dropping would abort too; abort() reports nothing we could act on here.
            let _ = txn.abort();
            return Err(e);
        }
    }
    txn.commit()?;
    Ok(())
}

fn notify(observer: Option<&Observer>, records: usize, started: Instant) {
    if let Some(observer) = observer {
        observer(CommitStats {
            records,
            duration: started.elapsed(),
        });
    }
}
