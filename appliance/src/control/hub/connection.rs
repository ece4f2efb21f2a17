//! One agent connection: `GET /api/v1/agent/connect` (WebSocket over the appliance's TLS).
//!
//! Order of a connection: the key is checked before the upgrade (an unknown or rotated-out key
//! gets HTTP 401 `agent_key_invalid`); then the agent's hello (within 30 s; other frames before
//! it are answered `agent_frame_invalid`), the welcome with the cluster's settings, and the
//! frame loop. A full snapshot is staged in memory (within the cluster's byte budget) and
//! replaces the stored picture when it ends; deltas that arrive meanwhile are applied after it.
//! A frame that does not parse is answered `agent_frame_invalid` and the connection goes on; an
//! oversized frame closes it with WebSocket code 1009.

use std::collections::BTreeMap;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use axum::extract::State;
use axum::extract::ws::rejection::WebSocketUpgradeRejection;
use axum::extract::ws::{CloseFrame, Message, WebSocket, WebSocketUpgrade};
use axum::http::HeaderMap;
use axum::response::{IntoResponse, Response};
use tokio::sync::mpsc;

use acorn_proto::ErrorCode;
use acorn_proto::agent::{
    AGENT_KEY_HEADER, AgentMessage, Change, DEAD_AFTER_SECS, Hello, HubMessage, MAX_FRAME_BYTES,
    PROTOCOL_VERSION, Resource, Welcome,
};
use acorn_store::{AgentInfo, AgentKey, Cluster, StoreError};

use super::LiveAgent;
use crate::control::Control;
use crate::control::audit::{agent_draft, with_meta};
use crate::control::auth::RequestMeta;
use crate::control::error::ApiError;
use crate::control::routes::AppState;
use crate::metrics::FrameLabels;
use crate::util;

const HELLO_TIMEOUT: Duration = Duration::from_secs(30);
/// Read chunk of each agent connection.
const READ_BUFFER_BYTES: usize = 8 * 1024;
/// The stored "last heard from" time is refreshed this often while connected.
const PERSIST_LAST_SEEN_SECS: i64 = 60;

/// The upgrade handler: authenticates the key, then hands the socket to [`run`].
pub async fn connect(
    State(state): State<AppState>,
    meta: RequestMeta,
    headers: HeaderMap,
    upgrade: Result<WebSocketUpgrade, WebSocketUpgradeRejection>,
) -> Response {
    let control = state.control.clone();
    // The key first: a caller without one learns nothing else about the endpoint.
    let (key, cluster) = match authenticate(&control, &headers, &meta).await {
        Ok(found) => found,
        Err(e) => return e.into_response(),
    };
    let upgrade = match upgrade {
        Ok(upgrade) => upgrade,
        Err(rejection) => {
            return ApiError::new(
                ErrorCode::InvalidParameter,
                format!("this is the agent tunnel, a WebSocket endpoint: {rejection}"),
            )
            .into_response();
        }
    };
    // Thousands of agents stay connected: read in small chunks (frames up to the limit still
    // assemble) instead of tungstenite's 128 KiB buffer per connection.
    upgrade
        .read_buffer_size(READ_BUFFER_BYTES)
        .max_message_size(MAX_FRAME_BYTES)
        .max_frame_size(MAX_FRAME_BYTES)
        .on_upgrade(move |socket| run(control, socket, key, cluster, meta))
}

async fn authenticate(
    control: &Control,
    headers: &HeaderMap,
    meta: &RequestMeta,
) -> Result<(AgentKey, Cluster), ApiError> {
    let invalid = |why: &str| {
        ApiError::new(
            ErrorCode::AgentKeyInvalid,
            format!(
                "{why}; install the manifest from the cluster's latest registration or key rotation"
            ),
        )
    };
    let presented = headers
        .get(AGENT_KEY_HEADER)
        .and_then(|v| v.to_str().ok())
        .ok_or_else(|| invalid(&format!("no {AGENT_KEY_HEADER} header")))?;
    let key = control
        .store
        .agent_key(util::sha256(presented))?
        .ok_or_else(|| {
            tracing::warn!(source_ip = ?meta.source_ip, "agent connection with an unknown key refused");
            invalid("unknown agent key")
        })?;
    let cluster = control
        .store
        .cluster(&key.workspace_id, &key.cluster_id)?
        .ok_or_else(|| invalid("the key's cluster was deleted"))?;
    if key.expires_at.is_some_and(|e| e <= util::now_unix()) {
        let audit = with_meta(
            agent_draft(
                &cluster.workspace_id,
                &cluster.id,
                &cluster.name,
                "agent.refused",
                meta.source_ip.clone(),
            ),
            "reason",
            "rotated-out key",
        );
        let _ = control.store.append_audit(audit).await;
        return Err(invalid("this agent key was rotated out"));
    }
    Ok((key, cluster))
}

/// A full snapshot being received.
struct Staging {
    id: u64,
    resources: Vec<Resource>,
    bytes: u64,
    refused: bool,
    /// Deltas that arrived while the snapshot was being sent, applied after it.
    queued: Vec<Change>,
}

/// Why a connection ended (audited).
enum End {
    Closed,
    Silent,
    Replaced,
    KeyExpired,
    TooLarge,
    Failed(String),
}

impl End {
    fn reason(&self) -> String {
        match self {
            End::Closed => "closed by the agent".into(),
            End::Silent => format!("no frame for {DEAD_AFTER_SECS} s"),
            End::Replaced => "replaced by a newer connection".into(),
            End::KeyExpired => "its key's overlap window ended".into(),
            End::TooLarge => "frame larger than the limit".into(),
            End::Failed(e) => e.clone(),
        }
    }
}

struct Conn {
    control: Control,
    socket: WebSocket,
    cluster: Cluster,
    meta: RequestMeta,
}

async fn run(
    control: Control,
    socket: WebSocket,
    key: AgentKey,
    cluster: Cluster,
    meta: RequestMeta,
) {
    let mut conn = Conn {
        control,
        socket,
        cluster,
        meta,
    };
    let Some(hello) = conn.wait_for_hello().await else {
        return;
    };
    if hello.protocol != PROTOCOL_VERSION {
        let message = format!(
            "the agent speaks tunnel protocol {}, this appliance speaks {PROTOCOL_VERSION}; \
             install the acorn-agent release that matches the appliance ({})",
            hello.protocol,
            crate::VERSION
        );
        conn.refuse(ErrorCode::AgentProtocolUnsupported, &message)
            .await;
        return;
    }
    let hub = std::sync::Arc::clone(&conn.control.hub);
    let now = util::now_unix();
    let (live, outbox, replaced) = hub.attach(
        &conn.cluster.id,
        &key.id,
        key.expires_at,
        hello.tools.clone(),
        now,
    );
    if let Some(old) = replaced {
        let _ = old.outbox.try_send(HubMessage::Refused {
            code: ErrorCode::AgentReplaced.as_str().into(),
            message: "another agent connected with a key of this cluster; the newest \
                      connection wins. If two agents run, remove one or enable leader election"
                .into(),
        });
        conn.audit(
            "agent.replaced",
            &[("pod", hello.pod_name.as_deref().unwrap_or(""))],
        )
        .await;
    }
    if let Err(e) = conn.record_connected(&hello, now).await {
        tracing::error!(error = %e, cluster = %conn.cluster.id, "cannot record the agent connection");
    }
    tracing::info!(
        cluster = %conn.cluster.id,
        agent_version = %hello.agent_version,
        pod = ?hello.pod_name,
        tools = hello.tools.len(),
        "agent connected"
    );
    // The hub keeps one copy of the catalog (in `live`); the parsed hello goes now, not when the
    // connection ends.
    drop(hello);
    let welcome = HubMessage::Welcome(Welcome {
        cluster_id: conn.cluster.id.clone(),
        cluster_name: conn.cluster.name.clone(),
        namespaces: conn.cluster.namespaces.clone(),
        write_allowed: conn.cluster.write_allowed,
        logs_allowed: conn.cluster.logs_allowed,
    });
    let end = if conn.send(&welcome).await {
        conn.frame_loop(&live, outbox).await
    } else {
        End::Closed
    };
    if matches!(end, End::TooLarge) {
        let _ = conn
            .socket
            .send(Message::Close(Some(CloseFrame {
                code: 1009,
                reason: "frame larger than 4 MiB (agent_frame_too_large)".into(),
            })))
            .await;
    }
    let current = hub.detach(&conn.cluster.id, live.conn_id);
    let last_seen = live.last_seen.load(Ordering::Relaxed);
    tracing::info!(cluster = %conn.cluster.id, reason = %end.reason(), "agent disconnected");
    if current || !matches!(end, End::Replaced) {
        let audit = with_meta(
            agent_draft(
                &conn.cluster.workspace_id,
                &conn.cluster.id,
                &conn.cluster.name,
                "agent.disconnected",
                conn.meta.source_ip.clone(),
            ),
            "reason",
            &end.reason(),
        );
        let disconnected_at = if current {
            Some(util::now_unix())
        } else {
            None
        };
        if let Err(e) = conn
            .control
            .store
            .record_agent_seen(
                &conn.cluster.workspace_id,
                &conn.cluster.id,
                last_seen,
                disconnected_at,
                Some(audit),
            )
            .await
        {
            tracing::warn!(error = %e, cluster = %conn.cluster.id, "cannot record the disconnect");
        }
    }
}

impl Conn {
    fn count_frame(&self, kind: &str) {
        self.control
            .hub
            .metrics
            .agent_frames
            .get_or_create(&FrameLabels {
                r#type: kind.to_owned(),
            })
            .inc();
    }

    async fn send(&mut self, message: &HubMessage) -> bool {
        match serde_json::to_string(message) {
            Ok(text) => self.socket.send(Message::Text(text.into())).await.is_ok(),
            Err(e) => {
                tracing::error!(error = %e, "cannot encode a hub message");
                false
            }
        }
    }

    async fn protocol_error(&mut self, code: ErrorCode, message: impl Into<String>) -> bool {
        let message = message.into();
        tracing::warn!(cluster = %self.cluster.id, code = code.as_str(), %message, "agent protocol error");
        self.send(&HubMessage::ProtocolError {
            code: code.as_str().into(),
            message,
        })
        .await
    }

    async fn refuse(&mut self, code: ErrorCode, message: &str) {
        tracing::warn!(cluster = %self.cluster.id, code = code.as_str(), message, "agent refused");
        self.send(&HubMessage::Refused {
            code: code.as_str().into(),
            message: message.into(),
        })
        .await;
        let _ = self.socket.send(Message::Close(None)).await;
    }

    async fn audit(&mut self, action: &str, meta: &[(&str, &str)]) {
        let mut draft = agent_draft(
            &self.cluster.workspace_id,
            &self.cluster.id,
            &self.cluster.name,
            action,
            self.meta.source_ip.clone(),
        );
        for (k, v) in meta {
            draft = with_meta(draft, k, v);
        }
        if let Err(e) = self.control.store.append_audit(draft).await {
            tracing::warn!(error = %e, "cannot audit {action}");
        }
    }

    /// Reads frames until the hello; `None` when the agent closed or stayed silent.
    async fn wait_for_hello(&mut self) -> Option<Hello> {
        let deadline = Instant::now() + HELLO_TIMEOUT;
        loop {
            let frame = tokio::time::timeout_at(deadline.into(), self.socket.recv()).await;
            let text = match frame {
                Ok(Some(Ok(Message::Text(text)))) => text,
                Ok(Some(Ok(Message::Ping(_) | Message::Pong(_)))) => continue,
                Ok(Some(Ok(Message::Binary(_)))) => {
                    self.protocol_error(ErrorCode::AgentFrameInvalid, "frames must be JSON text")
                        .await;
                    continue;
                }
                Err(_) => {
                    self.refuse(ErrorCode::AgentFrameInvalid, "no hello within 30 s")
                        .await;
                    return None;
                }
                _ => return None,
            };
            match serde_json::from_str::<AgentMessage>(&text) {
                Ok(AgentMessage::Hello(hello)) => {
                    self.count_frame("hello");
                    return Some(hello);
                }
                Ok(_) => {
                    self.count_frame("before_hello");
                    self.protocol_error(
                        ErrorCode::AgentFrameInvalid,
                        "the first message must be a hello",
                    )
                    .await;
                }
                Err(e) => {
                    self.count_frame("invalid");
                    self.protocol_error(
                        ErrorCode::AgentFrameInvalid,
                        format!("unreadable frame: {e}"),
                    )
                    .await;
                }
            }
        }
    }

    async fn record_connected(&mut self, hello: &Hello, now: i64) -> Result<(), StoreError> {
        let agent = AgentInfo {
            agent_version: hello.agent_version.chars().take(64).collect(),
            pod_name: hello.pod_name.clone(),
            facts: hello.facts.clone(),
            write_enabled: hello.write_enabled,
            connected_at: now,
            last_seen_at: now,
            disconnected_at: None,
        };
        let mut audit = agent_draft(
            &self.cluster.workspace_id,
            &self.cluster.id,
            &self.cluster.name,
            "agent.connected",
            self.meta.source_ip.clone(),
        );
        audit = with_meta(audit, "agent_version", &agent.agent_version);
        if let Some(pod) = &hello.pod_name {
            audit = with_meta(audit, "pod", pod);
        }
        self.control
            .store
            .record_agent_connected(
                &self.cluster.workspace_id,
                &self.cluster.id,
                agent,
                hello.tools.clone(),
                audit,
            )
            .await
            .map(drop)
    }

    async fn frame_loop(
        &mut self,
        live: &LiveAgent,
        mut outbox: mpsc::Receiver<HubMessage>,
    ) -> End {
        let mut staging: Option<Staging> = None;
        let mut last_frame = Instant::now();
        let mut last_persisted = util::now_unix();
        let mut tick = tokio::time::interval(Duration::from_secs(5));
        loop {
            let dead_at = last_frame + Duration::from_secs(DEAD_AFTER_SECS);
            tokio::select! {
                frame = self.socket.recv() => {
                    last_frame = Instant::now();
                    live.last_seen.store(util::now_unix(), Ordering::Relaxed);
                    match frame {
                        Some(Ok(Message::Text(text))) => {
                            if let Some(end) = self.handle_text(live, &mut staging, &text).await {
                                return end;
                            }
                        }
                        Some(Ok(Message::Binary(_))) => {
                            self.count_frame("invalid");
                            self.protocol_error(ErrorCode::AgentFrameInvalid, "frames must be JSON text").await;
                        }
                        Some(Ok(Message::Ping(_) | Message::Pong(_))) => {}
                        Some(Ok(Message::Close(_))) | None => return End::Closed,
                        Some(Err(e)) => {
                            let text = e.to_string();
                            if text.contains("too long") || text.contains("Space limit") || text.contains("too big") {
                                self.count_frame("too_large");
                                return End::TooLarge;
                            }
                            return End::Failed(text);
                        }
                    }
                }
                out = outbox.recv() => match out {
                    Some(message @ HubMessage::Refused { .. }) => {
                        self.send(&message).await;
                        let _ = self.socket.send(Message::Close(None)).await;
                        return End::Replaced;
                    }
                    Some(message) => {
                        if !self.send(&message).await {
                            return End::Failed("cannot send to the agent".into());
                        }
                    }
                    None => return End::Replaced,
                },
                _ = tokio::time::sleep_until(dead_at.into()) => return End::Silent,
                _ = tick.tick() => {
                    let now = util::now_unix();
                    if live.key_expires_at.load(Ordering::Relaxed) <= now {
                        self.refuse(ErrorCode::AgentKeyInvalid, "this agent key was rotated out; install the manifest from the cluster's latest key rotation").await;
                        return End::KeyExpired;
                    }
                    if now - last_persisted >= PERSIST_LAST_SEEN_SECS {
                        last_persisted = now;
                        let seen = live.last_seen.load(Ordering::Relaxed);
                        let _ = self.control.store
                            .record_agent_seen(&self.cluster.workspace_id, &self.cluster.id, seen, None, None)
                            .await;
                    }
                }
            }
        }
    }

    /// Handles one text frame; `Some` ends the connection.
    async fn handle_text(
        &mut self,
        live: &LiveAgent,
        staging: &mut Option<Staging>,
        text: &str,
    ) -> Option<End> {
        let message = match serde_json::from_str::<AgentMessage>(text) {
            Ok(m) => m,
            Err(e) => {
                self.count_frame("invalid");
                let ok = self
                    .protocol_error(
                        ErrorCode::AgentFrameInvalid,
                        format!("unreadable frame: {e}"),
                    )
                    .await;
                return (!ok).then_some(End::Failed("cannot send to the agent".into()));
            }
        };
        match message {
            AgentMessage::Heartbeat { seq } => {
                let started = Instant::now();
                self.count_frame("heartbeat");
                let ok = self.send(&HubMessage::HeartbeatAck { seq }).await;
                self.control
                    .hub
                    .metrics
                    .agent_heartbeat_seconds
                    .observe(started.elapsed().as_secs_f64());
                if !ok {
                    return Some(End::Failed("cannot send to the agent".into()));
                }
            }
            AgentMessage::SnapshotBegin { snapshot } => {
                self.count_frame("snapshot_begin");
                *staging = Some(Staging {
                    id: snapshot,
                    resources: Vec::new(),
                    bytes: 0,
                    refused: false,
                    queued: staging.take().map(|s| s.queued).unwrap_or_default(),
                });
            }
            AgentMessage::SnapshotChunk {
                snapshot,
                resources,
            } => {
                self.count_frame("snapshot_chunk");
                self.stage_chunk(staging, snapshot, resources, text.len() as u64)
                    .await;
            }
            AgentMessage::SnapshotEnd { snapshot, counts } => {
                self.count_frame("snapshot_end");
                self.finish_snapshot(staging, snapshot, counts).await;
            }
            AgentMessage::Delta { changes } => {
                self.count_frame("delta");
                match staging {
                    Some(s) => s.queued.extend(changes),
                    None => self.apply_delta(changes).await,
                }
            }
            AgentMessage::Capabilities { tools } => {
                self.count_frame("capabilities");
                if let Ok(mut t) = live.tools.lock() {
                    *t = tools.clone();
                }
                if let Err(e) = self
                    .control
                    .store
                    .set_cluster_tools(&self.cluster.workspace_id, &self.cluster.id, tools)
                    .await
                {
                    tracing::warn!(error = %e, "cannot store the agent's new catalog");
                }
            }
            AgentMessage::ToolResult { call_id, outcome } => {
                self.count_frame("tool_result");
                if !live.complete(&call_id, outcome) {
                    tracing::debug!(%call_id, "tool result for a call nobody waits for (timed out or cancelled)");
                }
            }
            AgentMessage::ProtocolError { message } => {
                self.count_frame("protocol_error");
                tracing::warn!(cluster = %self.cluster.id, %message, "the agent could not use a frame");
            }
            AgentMessage::Hello(_) => {
                self.count_frame("hello");
                self.protocol_error(
                    ErrorCode::AgentFrameInvalid,
                    "hello was already received on this connection",
                )
                .await;
            }
        }
        None
    }

    async fn stage_chunk(
        &mut self,
        staging: &mut Option<Staging>,
        snapshot: u64,
        resources: Vec<Resource>,
        frame_bytes: u64,
    ) {
        let budget = self.control.clusters.snapshot_budget_bytes;
        let Some(s) = staging.as_mut().filter(|s| s.id == snapshot) else {
            self.protocol_error(
                ErrorCode::AgentFrameInvalid,
                format!("snapshot chunk for snapshot {snapshot}, which was not begun"),
            )
            .await;
            return;
        };
        if s.refused {
            return;
        }
        s.bytes += frame_bytes;
        s.resources.extend(resources);
        if s.bytes > budget {
            s.refused = true;
            let staged = std::mem::take(&mut s.resources);
            // Let the store record the refusal on the cluster (it measures exactly).
            let result = self
                .control
                .store
                .replace_cluster_snapshot(
                    &self.cluster.workspace_id,
                    &self.cluster.id,
                    staged,
                    budget,
                    util::now_unix(),
                )
                .await;
            self.report_store_result(result.map(drop)).await;
        }
    }

    async fn finish_snapshot(
        &mut self,
        staging: &mut Option<Staging>,
        snapshot: u64,
        counts: BTreeMap<String, u64>,
    ) {
        let Some(s) = staging.take() else {
            self.protocol_error(
                ErrorCode::AgentFrameInvalid,
                format!("snapshot end for snapshot {snapshot}, which was not begun"),
            )
            .await;
            return;
        };
        if s.id != snapshot {
            *staging = Some(s);
            self.protocol_error(
                ErrorCode::AgentFrameInvalid,
                format!(
                    "snapshot end for snapshot {snapshot}, but snapshot {} is being sent",
                    staging.as_ref().map_or(0, |s| s.id)
                ),
            )
            .await;
            return;
        }
        if !s.refused {
            let mut received: BTreeMap<String, u64> = BTreeMap::new();
            for r in &s.resources {
                *received.entry(r.key.kind.clone()).or_default() += 1;
            }
            let sent: BTreeMap<String, u64> = counts.into_iter().filter(|(_, n)| *n > 0).collect();
            if received != sent {
                self.protocol_error(
                    ErrorCode::AgentFrameInvalid,
                    format!("snapshot {snapshot} is incomplete: the agent counted {sent:?}, the hub received {received:?}; keeping the previous picture"),
                )
                .await;
            } else {
                let result = self
                    .control
                    .store
                    .replace_cluster_snapshot(
                        &self.cluster.workspace_id,
                        &self.cluster.id,
                        s.resources,
                        self.control.clusters.snapshot_budget_bytes,
                        util::now_unix(),
                    )
                    .await;
                if let Ok(info) = &result {
                    tracing::info!(cluster = %self.cluster.id, objects = info.counts.values().sum::<u64>(), bytes = info.bytes, "snapshot stored");
                }
                self.report_store_result(result.map(drop)).await;
            }
        }
        if !s.queued.is_empty() {
            self.apply_delta(s.queued).await;
        }
    }

    async fn apply_delta(&mut self, changes: Vec<Change>) {
        let result = self
            .control
            .store
            .apply_cluster_delta(
                &self.cluster.workspace_id,
                &self.cluster.id,
                changes,
                self.control.clusters.snapshot_budget_bytes,
                util::now_unix(),
            )
            .await;
        self.report_store_result(result.map(drop)).await;
    }

    async fn report_store_result(&mut self, result: Result<(), StoreError>) {
        match result {
            Ok(()) => self
                .control
                .hub
                .changes
                .mark(&self.cluster.workspace_id, &self.cluster.id),
            Err(StoreError::SnapshotBudgetExceeded { message }) => {
                self.protocol_error(ErrorCode::SnapshotBudgetExceeded, message)
                    .await;
            }
            Err(e) => {
                tracing::error!(error = %e, cluster = %self.cluster.id, "cannot store the cluster's picture");
            }
        }
    }
}
