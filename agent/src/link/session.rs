//! One connection to the appliance, from the upgrade request to its end.
//!
//! Tasks of a session: the *writer* owns the socket's sink and writes control frames
//! (heartbeats, tool results, protocol errors) before bulk ones (snapshot chunks, deltas), so a
//! large snapshot never delays a heartbeat by more than one chunk; the *feed* sends the full
//! snapshot once the picture is synced, then batched deltas; each tool call has its own task.
//! The session loop reads frames, sends heartbeats and watches for a silent peer. Dropping the
//! session (leadership lost, shutdown) drops all of them and the socket with them.

use std::sync::Arc;
use std::time::Instant;

use acorn_proto::agent::{
    AGENT_KEY_HEADER, AgentMessage, HubMessage, MAX_FRAME_BYTES, NamespaceFilter, PROTOCOL_VERSION,
    Welcome,
};
use futures_util::{SinkExt, StreamExt};
use tokio::net::TcpStream;
use tokio::sync::{Notify, mpsc, oneshot};
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::http::HeaderValue;
use tokio_tungstenite::tungstenite::protocol::WebSocketConfig;
use tokio_tungstenite::tungstenite::{self, Message};
use tokio_tungstenite::{Connector, MaybeTlsStream, WebSocketStream};

use super::calls::Calls;
use super::tls::{self, CertificateProblem};
use super::{Frame, Link, LinkSettings};
use crate::health::{Health, LinkState};
use crate::snapshot::picture::{Chunks, DeltaTake, Picture};
use crate::tools::Policy;

type Socket = WebSocketStream<MaybeTlsStream<TcpStream>>;

/// Why a session ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SessionEnd {
    /// The appliance's certificate is not signed by the pinned CA.
    CaMismatch(String),
    /// The appliance refused the agent (a `Refused` message or an HTTP 401/403 upgrade answer).
    Refused(String),
    /// Anything else (network, silence, closed by the peer); retried with backoff.
    Failed(String),
}

/// The effective namespace filter: what both the agent and the appliance allow. Includes
/// intersect (an empty list means all); excludes add up. When both include lists are set and
/// share no namespace, nothing is in view: the include list then holds one name that no
/// namespace can have.
pub fn effective_filter(agent: &NamespaceFilter, hub: &NamespaceFilter) -> NamespaceFilter {
    let include = match (agent.include.is_empty(), hub.include.is_empty()) {
        (true, _) => hub.include.clone(),
        (false, true) => agent.include.clone(),
        (false, false) => {
            let both: Vec<String> = agent
                .include
                .iter()
                .filter(|ns| hub.include.contains(ns))
                .cloned()
                .collect();
            if both.is_empty() {
                vec![NO_NAMESPACE.to_string()]
            } else {
                both
            }
        }
    };
    let mut exclude = agent.exclude.clone();
    for ns in &hub.exclude {
        if !exclude.contains(ns) {
            exclude.push(ns.clone());
        }
    }
    NamespaceFilter { include, exclude }
}

/// Not a valid namespace name (upper case, a space), so it matches none.
pub const NO_NAMESPACE: &str = "(NO NAMESPACE)";

fn failed(e: impl std::fmt::Display) -> SessionEnd {
    SessionEnd::Failed(e.to_string())
}

impl Link {
    /// Opens the WebSocket (TCP, TLS with the pinned CA, upgrade with the key).
    async fn connect(&self) -> Result<Socket, SessionEnd> {
        let cfg = &self.config;
        let ca = tls::read_ca_bundle(&cfg.ca_file)
            .map_err(|e| SessionEnd::CaMismatch(format!("ACORN_AGENT_CA_FILE: {e}")))?;
        let tls_config = tls::client_config(ca, &cfg.ca_file)
            .map_err(|e| SessionEnd::CaMismatch(format!("ACORN_AGENT_CA_FILE: {e}")))?;
        let url = cfg.connect_url();
        let mut request = url.as_str().into_client_request().map_err(failed)?;
        let mut key = HeaderValue::from_str(cfg.key.expose())
            .map_err(|_| failed("the agent key is not a valid header value"))?;
        key.set_sensitive(true);
        request.headers_mut().insert(AGENT_KEY_HEADER, key);
        let ws_config = WebSocketConfig::default()
            .max_message_size(Some(MAX_FRAME_BYTES))
            .max_frame_size(Some(MAX_FRAME_BYTES));
        let connecting = tokio_tungstenite::connect_async_tls_with_config(
            request,
            Some(ws_config),
            true,
            Some(Connector::Rustls(tls_config)),
        );
        let host = cfg.appliance_url.trim_start_matches("https://").to_string();
        match tokio::time::timeout(self.settings.handshake_timeout, connecting).await {
            Err(_) => Err(failed(format!(
                "{url}: no answer within {:?}",
                self.settings.handshake_timeout
            ))),
            Ok(Ok((socket, _response))) => Ok(socket),
            Ok(Err(e)) => Err(match tls::certificate_problem(&e, &host) {
                Some(CertificateProblem::CaMismatch(msg)) => SessionEnd::CaMismatch(msg),
                Some(CertificateProblem::Other(msg)) => SessionEnd::Failed(msg),
                None => match &e {
                    tungstenite::Error::Http(response)
                        if matches!(response.status().as_u16(), 401 | 403) =>
                    {
                        let body = response
                            .body()
                            .as_deref()
                            .map(String::from_utf8_lossy)
                            .unwrap_or_default();
                        SessionEnd::Refused(format!(
                            "the appliance answered HTTP {} to the agent key: {}; check \
                             ACORN_AGENT_KEY (a rotated or deleted key keeps failing until the \
                             agent gets the new one)",
                            response.status(),
                            body.chars().take(300).collect::<String>()
                        ))
                    }
                    _ => failed(format!("{url}: {e}")),
                },
            }),
        }
    }

    /// Runs one connection until it ends; the flag tells whether the hello was accepted.
    pub async fn session(
        &self,
        picture: &Arc<Picture>,
        metrics_available: bool,
    ) -> (SessionEnd, bool) {
        // Facts first: their probes can take a while, and the hub waits only 30 s for a hello.
        let facts = crate::cluster::facts(&self.client, Some(metrics_available)).await;
        let mut socket = match self.connect().await {
            Ok(s) => s,
            Err(end) => return (end, false),
        };
        let hello = AgentMessage::Hello(acorn_proto::agent::Hello {
            protocol: PROTOCOL_VERSION,
            agent_version: env!("CARGO_PKG_VERSION").to_string(),
            tools: self.tools.catalog(),
            facts,
            write_enabled: self.config.write_enabled,
            pod_name: self.config.pod_name.clone(),
        });
        if let Err(e) = socket
            .send(Message::text(Frame::message(&hello).text))
            .await
        {
            return (failed(format!("sending the hello: {e}")), false);
        }
        let welcome =
            match tokio::time::timeout(self.settings.handshake_timeout, wait_welcome(&mut socket))
                .await
            {
                Ok(Ok(w)) => w,
                Ok(Err(end)) => return (end, false),
                Err(_) => return (failed("no welcome from the appliance in time"), false),
            };
        let policy = Arc::new(Policy {
            namespaces: effective_filter(&self.config.namespaces, &welcome.namespaces),
            write_enabled: self.config.write_enabled,
            write_allowed: welcome.write_allowed,
            logs_allowed: self.config.logs_allowed && welcome.logs_allowed,
        });
        tracing::info!(
            cluster_id = %welcome.cluster_id,
            cluster = %welcome.cluster_name,
            write_allowed = welcome.write_allowed,
            logs_allowed = policy.logs_allowed,
            "connected to the appliance"
        );
        self.health.set_link(LinkState::Connected);
        let end = self.serve(socket, picture, policy).await;
        (end, true)
    }

    async fn serve(
        &self,
        socket: Socket,
        picture: &Arc<Picture>,
        policy: Arc<Policy>,
    ) -> SessionEnd {
        let (sink, mut stream) = socket.split();
        let (ctrl_tx, ctrl_rx) = mpsc::channel::<Frame>(256);
        let (bulk_tx, bulk_rx) = mpsc::channel::<Frame>(2);
        let mut writer = tokio::spawn(write_frames(sink, ctrl_rx, bulk_rx));
        let resync = Arc::new(Notify::new());
        let mut feed = tokio::spawn(feed(
            picture.clone(),
            policy.namespaces.clone(),
            bulk_tx,
            resync.clone(),
            self.health.clone(),
            self.settings.clone(),
        ));
        let mut calls = Calls::new(
            self.tools.clone(),
            policy,
            ctrl_tx.clone(),
            self.health.clone(),
        );
        let end = self
            .serve_loop(
                &mut stream,
                &ctrl_tx,
                &mut calls,
                &resync,
                &mut writer,
                &mut feed,
            )
            .await;
        writer.abort();
        feed.abort();
        end
    }

    async fn serve_loop(
        &self,
        stream: &mut futures_util::stream::SplitStream<Socket>,
        ctrl: &mpsc::Sender<Frame>,
        calls: &mut Calls,
        resync: &Notify,
        writer: &mut tokio::task::JoinHandle<Result<(), String>>,
        feed: &mut tokio::task::JoinHandle<()>,
    ) -> SessionEnd {
        let s = &self.settings;
        let mut last_frame = Instant::now();
        let mut heartbeat = tokio::time::interval(s.heartbeat);
        heartbeat.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let mut seq = 0u64;
        loop {
            tokio::select! {
                message = stream.next() => {
                    let message = match message {
                        None => return failed("the appliance closed the connection"),
                        Some(Err(e)) => return failed(format!("reading from the appliance: {e}")),
                        Some(Ok(m)) => m,
                    };
                    last_frame = Instant::now();
                    match message {
                        Message::Text(text) => {
                            if let Some(end) = self.handle(text.as_str(), ctrl, calls, resync).await {
                                return end;
                            }
                        }
                        Message::Binary(_) => {
                            self.protocol_error(ctrl, "binary frames are not part of the protocol".into()).await;
                        }
                        Message::Close(frame) => {
                            let why = frame.map(|f| format!("{} {}", u16::from(f.code), f.reason)).unwrap_or_default();
                            return failed(format!("the appliance closed the connection {why}"));
                        }
                        Message::Ping(_) | Message::Pong(_) | Message::Frame(_) => {}
                    }
                }
                _ = heartbeat.tick() => {
                    if last_frame.elapsed() >= s.dead_after {
                        return failed(format!("no frame from the appliance for {:?}", s.dead_after));
                    }
                    seq += 1;
                    if ctrl.send(Frame::message(&AgentMessage::Heartbeat { seq })).await.is_err() {
                        return failed("the writer stopped");
                    }
                }
                result = &mut *writer => {
                    return match result {
                        Ok(Err(e)) => failed(format!("writing to the appliance: {e}")),
                        _ => failed("the writer stopped"),
                    };
                }
                _ = &mut *feed => return failed("the snapshot feed stopped"),
                _ = calls.reap() => {}
            }
        }
    }

    async fn protocol_error(&self, ctrl: &mpsc::Sender<Frame>, message: String) {
        tracing::warn!(%message, "unusable frame from the appliance");
        self.health.metrics.protocol_errors.inc();
        let _ = ctrl
            .send(Frame::message(&AgentMessage::ProtocolError { message }))
            .await;
    }

    /// Handles one text frame; `Some` ends the session.
    async fn handle(
        &self,
        text: &str,
        ctrl: &mpsc::Sender<Frame>,
        calls: &mut Calls,
        resync: &Notify,
    ) -> Option<SessionEnd> {
        let message = match serde_json::from_str::<HubMessage>(text) {
            Ok(m) => m,
            Err(e) => {
                self.protocol_error(ctrl, format!("cannot parse the frame: {e}"))
                    .await;
                return None;
            }
        };
        match message {
            HubMessage::HeartbeatAck { .. } => {}
            HubMessage::ToolCall(call) => calls.start(call),
            HubMessage::CancelCall { call_id } => calls.cancel(&call_id),
            HubMessage::Resync { reason } => {
                tracing::info!(%reason, "the appliance asks for a fresh snapshot");
                resync.notify_one();
            }
            HubMessage::Refused { code, message } => {
                return Some(SessionEnd::Refused(format!("{code}: {message}")));
            }
            HubMessage::Welcome(_) => {
                // The appliance sends a new welcome when an admin changed the cluster's
                // settings (namespaces, writes, logs): reconnecting applies them everywhere at
                // once (filter, watchers, tool policy) and sends a fresh snapshot.
                return Some(SessionEnd::Failed(
                    "the cluster's settings changed on the appliance; reconnecting to apply them"
                        .into(),
                ));
            }
            HubMessage::ProtocolError { code, message } => {
                tracing::warn!(%code, %message, "the appliance could not use a frame of ours");
            }
        }
        None
    }
}

/// Reads until the welcome (or a refusal).
async fn wait_welcome(socket: &mut Socket) -> Result<Welcome, SessionEnd> {
    loop {
        let message = match socket.next().await {
            None => {
                return Err(failed(
                    "the appliance closed the connection before the welcome",
                ));
            }
            Some(Err(e)) => return Err(failed(format!("waiting for the welcome: {e}"))),
            Some(Ok(m)) => m,
        };
        let text = match message {
            Message::Text(t) => t,
            Message::Close(frame) => {
                let why = frame.map(|f| f.reason.to_string()).unwrap_or_default();
                return Err(failed(format!(
                    "the appliance closed the connection before the welcome {why}"
                )));
            }
            _ => continue,
        };
        match serde_json::from_str::<HubMessage>(text.as_str()) {
            Ok(HubMessage::Welcome(w)) => return Ok(w),
            Ok(HubMessage::Refused { code, message }) => {
                return Err(SessionEnd::Refused(format!("{code}: {message}")));
            }
            Ok(other) => {
                tracing::warn!(?other, "unexpected frame before the welcome; ignored");
            }
            Err(e) => {
                return Err(failed(format!(
                    "the answer to the hello does not parse: {e}"
                )));
            }
        }
    }
}

/// Writes frames, control ones first.
async fn write_frames(
    mut sink: futures_util::stream::SplitSink<Socket, Message>,
    mut ctrl: mpsc::Receiver<Frame>,
    mut bulk: mpsc::Receiver<Frame>,
) -> Result<(), String> {
    loop {
        let frame = tokio::select! {
            biased;
            f = ctrl.recv() => f,
            f = bulk.recv() => f,
        };
        let Some(frame) = frame else {
            return Ok(());
        };
        sink.send(Message::text(frame.text))
            .await
            .map_err(|e| e.to_string())?;
        if let Some(sent) = frame.sent {
            let _ = sent.send(());
        }
    }
}

/// Sends full snapshots (first, after a resync request, after a queue overflow) and, in
/// between, batched deltas.
async fn feed(
    picture: Arc<Picture>,
    filter: NamespaceFilter,
    out: mpsc::Sender<Frame>,
    resync: Arc<Notify>,
    health: Arc<Health>,
    settings: LinkSettings,
) {
    // A kind whose list keeps failing (other than 403/404, which are skipped) must not hold
    // the whole snapshot back: after the deadline the snapshot goes without it, and its
    // objects follow as deltas once its list succeeds.
    if tokio::time::timeout(settings.sync_deadline, picture.wait_synced())
        .await
        .is_err()
    {
        tracing::warn!(pending = ?picture.pending(), "some kinds are not listed yet; sending the snapshot without them");
    }
    let mut snapshot_id = 0u64;
    'snapshot: loop {
        snapshot_id += 1;
        let started = Instant::now();
        let snapshot = picture.begin_snapshot(&filter);
        let objects = snapshot.entries.len();
        let begin = AgentMessage::SnapshotBegin {
            snapshot: snapshot_id,
        };
        if out.send(Frame::message(&begin)).await.is_err() {
            return;
        }
        for chunk in Chunks::new(snapshot_id, &snapshot.entries, settings.max_frame) {
            if out.send(Frame::raw(chunk)).await.is_err() {
                return;
            }
        }
        drop(snapshot.entries);
        let (sent_tx, sent_rx) = oneshot::channel();
        let end = AgentMessage::SnapshotEnd {
            snapshot: snapshot_id,
            counts: snapshot.counts,
        };
        let mut frame = Frame::message(&end);
        frame.sent = Some(sent_tx);
        if out.send(frame).await.is_err() || sent_rx.await.is_err() {
            return;
        }
        health.metrics.snapshots.inc();
        health
            .metrics
            .snapshot_objects
            .set(i64::try_from(objects).unwrap_or(i64::MAX));
        health.set_link(LinkState::Synced);
        tracing::info!(
            snapshot = snapshot_id,
            objects,
            elapsed_ms = started.elapsed().as_millis() as u64,
            "full snapshot sent"
        );
        loop {
            tokio::select! {
                _ = tokio::time::sleep(settings.delta_interval) => {}
                _ = picture.batch_ready() => {}
                _ = resync.notified() => continue 'snapshot,
            }
            health
                .metrics
                .objects
                .set(i64::try_from(picture.len()).unwrap_or(i64::MAX));
            loop {
                match picture.take_delta(settings.delta_max_changes, settings.max_frame) {
                    DeltaTake::Nothing => break,
                    DeltaTake::Overflow => {
                        tracing::warn!(
                            "changes piled up faster than they could be sent: sending a fresh snapshot"
                        );
                        continue 'snapshot;
                    }
                    DeltaTake::Frame { json, changes } => {
                        let bytes = json.len() as u64;
                        if out.send(Frame::raw(json)).await.is_err() {
                            return;
                        }
                        health.metrics.deltas_sent.inc_by(changes as u64);
                        health.metrics.delta_bytes.inc_by(bytes);
                    }
                }
            }
        }
    }
}
