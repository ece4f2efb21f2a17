//! The agent hub: the appliance's end of every cluster's agent tunnel.
//!
//! It owns the live connections (one per cluster: a newer connection with a valid key replaces
//! the older one, which is told `agent_replaced` and closed), their liveness (a cluster whose
//! agent sent nothing for 60 s is disconnected), and the tool calls in flight (by id, with a
//! timeout; a connection that ends fails its pending calls at once with `agent_disconnected`).
//! What a connection does with each frame is in [`connection`].
//!
//! The hub decides nothing about who may call what: the clusters service authorizes callers and
//! checks the cluster's settings before it asks the hub to call a tool.

pub mod connection;

use std::collections::HashMap;
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::sync::{mpsc, oneshot};

use acorn_proto::agent::{
    HubMessage, RunMode, ToolCall, ToolError, ToolErrorCode, ToolOutcome, ToolOutput, ToolSpec,
};

use crate::metrics::{Metrics, OutcomeLabels};

/// Frames queued for one agent before the sender waits.
const OUTBOX: usize = 256;

/// One live connection, as the rest of the appliance sees it.
#[derive(Clone)]
pub struct LiveAgent {
    /// Distinguishes this connection from a later one of the same cluster.
    pub conn_id: u64,
    /// Frames to send to the agent.
    outbox: mpsc::Sender<HubMessage>,
    /// Tool calls waiting for their result.
    pending: Arc<Mutex<HashMap<String, oneshot::Sender<ToolOutcome>>>>,
    /// Unix seconds of the last frame received.
    pub last_seen: Arc<AtomicI64>,
    /// Unix seconds the connection was accepted.
    pub connected_at: i64,
    /// When the key this connection authenticated with stops working (after a rotation).
    pub key_expires_at: Arc<AtomicI64>,
    /// The id of that key.
    pub key_id: String,
    /// The catalog from the hello (or the last capability change).
    pub tools: Arc<Mutex<Vec<ToolSpec>>>,
}

impl LiveAgent {
    /// Fails every pending call (the connection ended): their receivers see `agent_disconnected`.
    fn fail_pending(&self) {
        if let Ok(mut pending) = self.pending.lock() {
            pending.clear();
        }
    }

    /// Delivers a result to the waiting caller, if it still waits.
    pub fn complete(&self, call_id: &str, outcome: ToolOutcome) -> bool {
        let waiter = self.pending.lock().ok().and_then(|mut p| p.remove(call_id));
        match waiter {
            Some(tx) => tx.send(outcome).is_ok(),
            None => false,
        }
    }
}

/// A tool call as the clusters service asks for it.
#[derive(Debug, Clone)]
pub struct ToolRequest {
    pub tool: String,
    pub arguments: serde_json::Value,
    pub mode: RunMode,
    pub run_id: Option<String>,
    pub timeout: Duration,
}

/// The live connections, by cluster id.
pub struct Hub {
    live: Mutex<HashMap<String, LiveAgent>>,
    next_conn: AtomicU64,
    next_call: AtomicU64,
    pub(crate) metrics: Arc<Metrics>,
    /// Clusters whose stored picture changed (the findings service re-evaluates them).
    pub changes: Arc<crate::findings::PictureChanges>,
}

fn tool_error(code: ToolErrorCode, message: impl Into<String>) -> ToolError {
    ToolError {
        code,
        message: message.into(),
    }
}

impl Hub {
    pub fn new(metrics: Arc<Metrics>) -> Arc<Hub> {
        Arc::new(Hub {
            live: Mutex::new(HashMap::new()),
            next_conn: AtomicU64::new(1),
            next_call: AtomicU64::new(1),
            metrics,
            changes: Arc::default(),
        })
    }

    /// The live connection of a cluster, if its agent is connected.
    pub fn live(&self, cluster_id: &str) -> Option<LiveAgent> {
        self.live.lock().ok()?.get(cluster_id).cloned()
    }

    /// Registers a new connection for `cluster_id`; returns it, its outbox receiver and the
    /// connection it replaced (which the caller tells `agent_replaced`).
    pub(crate) fn attach(
        &self,
        cluster_id: &str,
        key_id: &str,
        key_expires_at: Option<i64>,
        tools: Vec<ToolSpec>,
        now: i64,
    ) -> (LiveAgent, mpsc::Receiver<HubMessage>, Option<LiveAgent>) {
        let (tx, rx) = mpsc::channel(OUTBOX);
        let agent = LiveAgent {
            conn_id: self.next_conn.fetch_add(1, Ordering::Relaxed),
            outbox: tx,
            pending: Arc::new(Mutex::new(HashMap::new())),
            last_seen: Arc::new(AtomicI64::new(now)),
            connected_at: now,
            key_expires_at: Arc::new(AtomicI64::new(key_expires_at.unwrap_or(i64::MAX))),
            key_id: key_id.to_owned(),
            tools: Arc::new(Mutex::new(tools)),
        };
        let replaced = self
            .live
            .lock()
            .ok()
            .and_then(|mut live| live.insert(cluster_id.to_owned(), agent.clone()));
        if let Some(old) = &replaced {
            old.fail_pending();
        } else {
            self.metrics.agents_connected.inc();
        }
        (agent, rx, replaced)
    }

    /// Removes a connection (if it is still the cluster's current one) and fails its calls.
    pub(crate) fn detach(&self, cluster_id: &str, conn_id: u64) -> bool {
        let removed = self.live.lock().ok().and_then(|mut live| {
            if live.get(cluster_id).is_some_and(|a| a.conn_id == conn_id) {
                live.remove(cluster_id)
            } else {
                None
            }
        });
        match removed {
            Some(agent) => {
                agent.fail_pending();
                self.metrics.agents_connected.dec();
                true
            }
            None => false,
        }
    }

    /// The spec of `tool` in the connected agent's catalog: `agent_disconnected` when no agent
    /// is connected, `tool_unknown` when it does not offer the tool.
    pub fn tool_spec(&self, cluster_id: &str, tool: &str) -> Result<ToolSpec, ToolError> {
        let live = self.live(cluster_id).ok_or_else(|| {
            tool_error(
                ToolErrorCode::AgentDisconnected,
                "the cluster's agent is not connected; check the acorn-agent pod and its logs",
            )
        })?;
        live.tools
            .lock()
            .ok()
            .and_then(|t| t.iter().find(|s| s.name == tool).cloned())
            .ok_or_else(|| {
                tool_error(
                    ToolErrorCode::ToolUnknown,
                    format!("the cluster's agent does not offer a tool named {tool:?}"),
                )
            })
    }

    /// Ends a cluster's connection (the cluster was deleted): the agent is told why.
    pub fn disconnect(&self, cluster_id: &str, code: &str, message: &str) {
        if let Some(agent) = self.live(cluster_id) {
            let _ = agent.outbox.try_send(HubMessage::Refused {
                code: code.to_owned(),
                message: message.to_owned(),
            });
            self.detach(cluster_id, agent.conn_id);
        }
    }

    /// After a key rotation: a connection made with one of `expiring` keys ends at `expires_at`.
    pub fn keys_expire(&self, cluster_id: &str, expiring: &[String], expires_at: i64) {
        if let Some(agent) = self.live(cluster_id)
            && expiring.contains(&agent.key_id)
        {
            agent
                .key_expires_at
                .fetch_min(expires_at, Ordering::Relaxed);
        }
    }

    /// Sends a frame to a cluster's agent (settings changed, resync); `false` if not connected.
    pub fn send(&self, cluster_id: &str, message: HubMessage) -> bool {
        self.live(cluster_id)
            .is_some_and(|a| a.outbox.try_send(message).is_ok())
    }

    /// Runs one tool on the cluster's agent and waits for the result, at most `timeout`.
    /// Not connected, or disconnected while waiting → `agent_disconnected`; timeout →
    /// `tool_timeout` (and the agent is told to cancel).
    pub async fn call_tool(
        &self,
        cluster_id: &str,
        request: ToolRequest,
    ) -> Result<ToolOutput, ToolError> {
        let result = self.call_tool_inner(cluster_id, request).await;
        let outcome = match &result {
            Ok(_) => "ok".to_owned(),
            Err(e) => e.code.as_str().to_owned(),
        };
        self.metrics
            .agent_tool_calls
            .get_or_create(&OutcomeLabels { outcome })
            .inc();
        result
    }

    async fn call_tool_inner(
        &self,
        cluster_id: &str,
        request: ToolRequest,
    ) -> Result<ToolOutput, ToolError> {
        let disconnected = || {
            tool_error(
                ToolErrorCode::AgentDisconnected,
                "the cluster's agent is not connected; check the acorn-agent pod and its logs",
            )
        };
        let agent = self.live(cluster_id).ok_or_else(disconnected)?;
        let call_id = format!("call-{}", self.next_call.fetch_add(1, Ordering::Relaxed));
        let (tx, rx) = oneshot::channel();
        if let Ok(mut pending) = agent.pending.lock() {
            pending.insert(call_id.clone(), tx);
        }
        let call = HubMessage::ToolCall(ToolCall {
            call_id: call_id.clone(),
            tool: request.tool,
            arguments: request.arguments,
            mode: request.mode,
            run_id: request.run_id,
            timeout_ms: request.timeout.as_millis().try_into().unwrap_or(u64::MAX),
        });
        // Whoever stops waiting (timeout, or a caller that drops this future because its run
        // was cancelled) tells the agent to cancel the call.
        let mut guard = CancelOnDrop {
            agent: agent.clone(),
            call_id: call_id.clone(),
            armed: true,
        };
        if agent.outbox.send(call).await.is_err() {
            guard.armed = false;
            return Err(disconnected());
        }
        // A little grace beyond the agent's own timeout, so that its `tool_timeout` answer
        // (which says where it was) wins over ours.
        let answer = tokio::time::timeout(request.timeout + Duration::from_secs(2), rx).await;
        guard.armed = answer.is_err();
        drop(guard);
        match answer {
            Ok(Ok(ToolOutcome::Ok(output))) => Ok(output),
            Ok(Ok(ToolOutcome::Error(error))) => Err(error),
            Ok(Err(_)) => Err(disconnected()),
            Err(_) => Err(tool_error(
                ToolErrorCode::ToolTimeout,
                format!(
                    "the agent did not answer within {} ms; the call was cancelled",
                    request.timeout.as_millis()
                ),
            )),
        }
    }
}

/// Cancels a pending tool call at the agent unless disarmed: the caller timed out or went away.
struct CancelOnDrop {
    agent: LiveAgent,
    call_id: String,
    armed: bool,
}

impl Drop for CancelOnDrop {
    fn drop(&mut self) {
        if !self.armed {
            return;
        }
        if let Ok(mut pending) = self.agent.pending.lock() {
            pending.remove(&self.call_id);
        }
        let _ = self.agent.outbox.try_send(HubMessage::CancelCall {
            call_id: std::mem::take(&mut self.call_id),
        });
    }
}
