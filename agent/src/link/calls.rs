//! Tool calls on one connection: each runs on its own task under the call's timeout; a
//! `CancelCall` aborts it (no result is sent); at most [`MAX_CONCURRENT_CALLS`] run at once
//! (the rest wait, and the wait counts against their timeout). The tools themselves
//! (`crate::tools`) know nothing of timeouts or cancellation.

use std::collections::HashMap;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use acorn_proto::agent::{AgentMessage, ToolCall, ToolError, ToolErrorCode, ToolOutcome, ToolSpec};
use tokio::sync::{Semaphore, mpsc};
use tokio::task::{AbortHandle, JoinSet};

use super::Frame;
use crate::health::Health;
use crate::redact::Redactor;
use crate::tools::Policy;

/// Calls running at once on one connection.
pub const MAX_CONCURRENT_CALLS: usize = 16;
/// The longest timeout honoured (a hub asking for more gets this).
pub const MAX_TIMEOUT: Duration = Duration::from_secs(15 * 60);

/// A boxed tool future.
pub type ToolFuture = Pin<Box<dyn Future<Output = ToolOutcome> + Send>>;

/// What runs tool calls: the builtin tools in production ([`BuiltinTools`]).
pub trait ToolRunner: Send + Sync + 'static {
    /// The catalog advertised in the hello.
    fn catalog(&self) -> Vec<ToolSpec>;
    /// Runs one call under `policy`.
    fn run(&self, policy: Arc<Policy>, call: ToolCall) -> ToolFuture;
}

/// The builtin Kubernetes tools of [`crate::tools`].
pub struct BuiltinTools {
    /// The cluster's client.
    pub client: kube::Client,
    /// Masks secrets in results.
    pub redactor: Arc<Redactor>,
}

impl ToolRunner for BuiltinTools {
    fn catalog(&self) -> Vec<ToolSpec> {
        crate::tools::catalog()
    }

    fn run(&self, policy: Arc<Policy>, call: ToolCall) -> ToolFuture {
        let client = self.client.clone();
        let redactor = self.redactor.clone();
        Box::pin(async move { crate::tools::run(&client, &policy, &redactor, &call).await })
    }
}

/// The stable label of an outcome in metrics.
fn outcome_label(outcome: &ToolOutcome) -> &'static str {
    match outcome {
        ToolOutcome::Ok(_) => "ok",
        ToolOutcome::Error(e) => e.code.as_str(),
    }
}

/// The calls of one connection.
pub struct Calls {
    runner: Arc<dyn ToolRunner>,
    policy: Arc<Policy>,
    out: mpsc::Sender<Frame>,
    health: Arc<Health>,
    limit: Arc<Semaphore>,
    running: HashMap<String, (AbortHandle, String)>,
    tasks: JoinSet<String>,
}

impl Calls {
    /// No call running yet.
    pub fn new(
        runner: Arc<dyn ToolRunner>,
        policy: Arc<Policy>,
        out: mpsc::Sender<Frame>,
        health: Arc<Health>,
    ) -> Calls {
        Calls {
            runner,
            policy,
            out,
            health,
            limit: Arc::new(Semaphore::new(MAX_CONCURRENT_CALLS)),
            running: HashMap::new(),
            tasks: JoinSet::new(),
        }
    }

    /// Starts a call.
    pub fn start(&mut self, call: ToolCall) {
        if self.running.contains_key(&call.call_id) {
            let frame = Frame::message(&AgentMessage::ProtocolError {
                message: format!(
                    "call {} is already running; ids must be unique",
                    call.call_id
                ),
            });
            let _ = self.out.try_send(frame);
            return;
        }
        let timeout = Duration::from_millis(call.timeout_ms.max(1)).min(MAX_TIMEOUT);
        let id = call.call_id.clone();
        let tool = call.tool.clone();
        tracing::info!(call_id = %id, tool = %tool, run_id = call.run_id.as_deref().unwrap_or(""), "tool call");
        let runner = self.runner.clone();
        let policy = self.policy.clone();
        let out = self.out.clone();
        let health = self.health.clone();
        let limit = self.limit.clone();
        let handle = self.tasks.spawn(async move {
            let call_id = call.call_id.clone();
            let tool = call.tool.clone();
            let work = async {
                let _permit = limit.acquire_owned().await;
                runner.run(policy, call).await
            };
            let outcome = match tokio::time::timeout(timeout, work).await {
                Ok(outcome) => outcome,
                Err(_) => ToolOutcome::Error(ToolError {
                    code: ToolErrorCode::ToolTimeout,
                    message: format!(
                        "{tool} did not finish within its timeout of {} ms",
                        timeout.as_millis()
                    ),
                }),
            };
            health.metrics.tool_call(&tool, outcome_label(&outcome));
            let frame = Frame::message(&AgentMessage::ToolResult {
                call_id: call_id.clone(),
                outcome,
            });
            let _ = out.send(frame).await;
            call_id
        });
        self.running.insert(id, (handle, tool));
    }

    /// Abandons a call: its task is aborted and no result is sent.
    pub fn cancel(&mut self, call_id: &str) {
        if let Some((handle, tool)) = self.running.remove(call_id) {
            handle.abort();
            self.health.metrics.tool_call(&tool, "cancelled");
            tracing::info!(call_id, tool = %tool, "tool call cancelled");
        }
    }

    /// Waits for the next call to finish and forgets it (pending forever when none runs).
    pub async fn reap(&mut self) {
        if self.tasks.is_empty() {
            std::future::pending::<()>().await;
        }
        if let Some(Ok(call_id)) = self.tasks.join_next().await {
            self.running.remove(&call_id);
        }
    }

    /// Calls running.
    pub fn len(&self) -> usize {
        self.running.len()
    }

    /// Whether no call runs.
    pub fn is_empty(&self) -> bool {
        self.running.is_empty()
    }
}

impl Drop for Calls {
    fn drop(&mut self) {
        // The connection is gone: nobody waits for these results any more.
        self.tasks.abort_all();
    }
}
