//! The tunnel to the appliance: the agent dials `wss://APPLIANCE/api/v1/agent/connect`, trusting
//! only the pinned appliance CA, with its key in the `x-acorn-agent-key` header; says hello,
//! applies the welcome, sends a full snapshot and then batched deltas, heartbeats every 5 s,
//! runs tool calls, and reconnects with jittered exponential backoff (1 s to 60 s) whenever the
//! connection fails or the appliance is silent for 60 s.
//!
//! Layout:
//! - [`tls`]: the pinned-CA rustls configuration and certificate failure messages.
//! - [`session`]: one connection, from the upgrade request to its end.
//! - [`calls`]: tool calls with timeouts and cancellation.
//! - this module: [`Link::run`], the reconnect loop, and the outgoing [`Frame`].
//!
//! Every connection starts with a fresh full snapshot (the protocol's rule: the hub replaces
//! the cluster's state when a snapshot ends, so nothing stale survives a gap).

pub mod calls;
pub mod session;
pub mod tls;

use std::sync::Arc;
use std::time::{Duration, Instant};

use acorn_proto::agent::{AgentMessage, DEAD_AFTER_SECS, HEARTBEAT_INTERVAL_SECS};
use tokio::sync::oneshot;

use self::calls::ToolRunner;
use self::session::SessionEnd;
use crate::backoff::Backoff;
use crate::config::AgentConfig;
use crate::health::{Health, LinkState};
use crate::snapshot::picture::Picture;

/// One outgoing text frame, and who wants to know when it was written.
pub struct Frame {
    /// The JSON text.
    pub text: String,
    /// Told once the frame is written to the socket.
    pub sent: Option<oneshot::Sender<()>>,
}

impl Frame {
    /// A frame for `message`.
    pub fn message(message: &AgentMessage) -> Frame {
        Frame {
            // Serializing our own message types cannot fail (string keys only).
            text: serde_json::to_string(message).unwrap_or_default(),
            sent: None,
        }
    }

    /// A frame of already serialized JSON.
    pub fn raw(text: String) -> Frame {
        Frame { text, sent: None }
    }
}

/// Timings of the link (the protocol's values by default; tests shorten them).
#[derive(Debug, Clone)]
pub struct LinkSettings {
    /// Heartbeat interval.
    pub heartbeat: Duration,
    /// Without any frame from the appliance for this long, the connection is dead.
    pub dead_after: Duration,
    /// Time allowed for TCP + TLS + upgrade, and for the welcome after the hello.
    pub handshake_timeout: Duration,
    /// Deltas are sent this often (or when a full batch is queued).
    pub delta_interval: Duration,
    /// Changes per delta frame.
    pub delta_max_changes: usize,
    /// Size bound of snapshot chunk and delta frames.
    pub max_frame: usize,
    /// A connection that lasted this long resets the backoff.
    pub stable_after: Duration,
    /// The first snapshot waits at most this long for every kind's first list.
    pub sync_deadline: Duration,
    /// Reconnect delays.
    pub backoff: Backoff,
}

impl Default for LinkSettings {
    fn default() -> Self {
        LinkSettings {
            heartbeat: Duration::from_secs(HEARTBEAT_INTERVAL_SECS),
            dead_after: Duration::from_secs(DEAD_AFTER_SECS),
            handshake_timeout: Duration::from_secs(30),
            delta_interval: Duration::from_millis(500),
            delta_max_changes: crate::snapshot::picture::DELTA_BATCH_CHANGES,
            max_frame: 1024 * 1024,
            stable_after: Duration::from_secs(30),
            sync_deadline: Duration::from_secs(60),
            backoff: Backoff::reconnect(),
        }
    }
}

/// Everything the link needs.
pub struct Link {
    /// The agent's configuration.
    pub config: Arc<AgentConfig>,
    /// The cluster's client (for the hello's facts).
    pub client: kube::Client,
    /// Runs tool calls.
    pub tools: Arc<dyn ToolRunner>,
    /// Health and metrics.
    pub health: Arc<Health>,
    /// Timings.
    pub settings: LinkSettings,
}

impl Link {
    /// Connects, serves and reconnects, forever (the caller drops the future to stop, which
    /// closes the connection at once).
    pub async fn run(&self, picture: Arc<Picture>, metrics_available: bool) {
        let mut backoff = self.settings.backoff.clone();
        let mut attempt = 0u64;
        loop {
            if attempt > 0 {
                self.health.metrics.reconnects.inc();
            }
            attempt += 1;
            let started = Instant::now();
            let (end, established) = self.session(&picture, metrics_available).await;
            picture.end_stream();
            let state = match &end {
                SessionEnd::CaMismatch(msg) => {
                    tracing::error!(message = %msg, "cannot connect to the appliance");
                    LinkState::CaMismatch(msg.clone())
                }
                SessionEnd::Refused(msg) => {
                    tracing::error!(message = %msg, "the appliance refused the agent");
                    LinkState::Refused(msg.clone())
                }
                SessionEnd::Failed(msg) => {
                    if established {
                        tracing::warn!(reason = %msg, "connection to the appliance lost");
                    } else {
                        tracing::warn!(reason = %msg, "cannot connect to the appliance");
                    }
                    LinkState::Failing(msg.clone())
                }
            };
            self.health.set_link(state);
            if established && started.elapsed() >= self.settings.stable_after {
                backoff.reset();
            }
            let delay = backoff.next_delay();
            tracing::info!(
                delay_ms = delay.as_millis() as u64,
                "reconnecting after a delay"
            );
            tokio::time::sleep(delay).await;
        }
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use std::sync::Mutex;

    use acorn_proto::agent::{
        HubMessage, NamespaceFilter, RunMode, ToolCall, ToolClass, ToolErrorCode, ToolOutcome,
        ToolOutput, ToolSpec, Welcome,
    };
    use futures_util::{SinkExt, StreamExt};
    use tokio::net::{TcpListener, TcpStream};
    use tokio::sync::mpsc;
    use tokio_tungstenite::WebSocketStream;
    use tokio_tungstenite::tungstenite::Message;
    use tokio_tungstenite::tungstenite::handshake::server::{ErrorResponse, Request, Response};

    use super::calls::ToolFuture;
    use super::tls::tests::{TestPki, test_pki};
    use super::*;
    use crate::config::AgentConfig;
    use crate::redact::Redactor;
    use crate::snapshot::{SnapshotSettings, Snapshotter};
    use crate::testutil::kubesim;
    use crate::tools::Policy;

    /// Test double of the tool runner: `{"sleep_ms": N}` sleeps, then answers "done". It lets
    /// these tests exercise timeouts and cancellation independently of the real tools.
    pub(crate) struct ScriptedTools {
        pub(crate) policies: Mutex<Vec<Policy>>,
    }

    impl ToolRunner for ScriptedTools {
        fn catalog(&self) -> Vec<ToolSpec> {
            vec![ToolSpec {
                name: "sleep".into(),
                description: "Sleeps.".into(),
                class: ToolClass::Read,
                input_schema: serde_json::json!({"type": "object"}),
            }]
        }

        fn run(&self, policy: Arc<Policy>, call: ToolCall) -> ToolFuture {
            self.policies.lock().unwrap().push((*policy).clone());
            Box::pin(async move {
                let ms = call.arguments["sleep_ms"].as_u64().unwrap_or(0);
                tokio::time::sleep(Duration::from_millis(ms)).await;
                ToolOutcome::Ok(ToolOutput {
                    content: "done".into(),
                    truncated: false,
                    redactions: 0,
                })
            })
        }
    }

    pub(crate) type HubSocket = WebSocketStream<tokio_rustls::server::TlsStream<TcpStream>>;

    /// A minimal appliance hub over real TLS: accepts upgrades and hands each connection (with
    /// the agent key it presented) to the test.
    pub(crate) struct TestHub {
        pub(crate) url: String,
        pub(crate) conns: mpsc::Receiver<(Option<String>, HubSocket)>,
    }

    // The handshake callback's signature (and its large error type) is tungstenite's.
    #[allow(clippy::result_large_err)]
    pub(crate) async fn start_hub(pki: &TestPki, reject_with: Option<u16>) -> TestHub {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!(
            "https://127.0.0.1:{}",
            listener.local_addr().unwrap().port()
        );
        let acceptor = tokio_rustls::TlsAcceptor::from(pki.server_config.clone());
        let (tx, conns) = mpsc::channel(8);
        tokio::spawn(async move {
            loop {
                let (tcp, _) = listener.accept().await.unwrap();
                let Ok(tls) = acceptor.accept(tcp).await else {
                    continue;
                };
                let key = Arc::new(Mutex::new(None));
                let seen = key.clone();
                let callback =
                    move |req: &Request, resp: Response| -> Result<Response, ErrorResponse> {
                        assert_eq!(req.uri().path(), acorn_proto::agent::CONNECT_PATH);
                        *seen.lock().unwrap() = req
                            .headers()
                            .get(acorn_proto::agent::AGENT_KEY_HEADER)
                            .map(|v| v.to_str().unwrap().to_string());
                        match reject_with {
                            Some(code) => {
                                let mut r = ErrorResponse::new(Some("agent key invalid".into()));
                                *r.status_mut() = code.try_into().unwrap();
                                Err(r)
                            }
                            None => Ok(resp),
                        }
                    };
                let Ok(ws) = tokio_tungstenite::accept_hdr_async(tls, callback).await else {
                    continue;
                };
                let key = key.lock().unwrap().clone();
                if tx.send((key, ws)).await.is_err() {
                    return;
                }
            }
        });
        TestHub { url, conns }
    }

    pub(crate) async fn recv(ws: &mut HubSocket) -> AgentMessage {
        loop {
            let m = tokio::time::timeout(Duration::from_secs(10), ws.next())
                .await
                .expect("a frame within 10 s")
                .unwrap()
                .unwrap();
            if let Message::Text(t) = m {
                assert!(t.len() <= acorn_proto::agent::MAX_FRAME_BYTES);
                return serde_json::from_str(t.as_str()).unwrap();
            }
        }
    }

    /// The next message that is not a heartbeat.
    pub(crate) async fn recv_business(ws: &mut HubSocket) -> AgentMessage {
        loop {
            match recv(ws).await {
                AgentMessage::Heartbeat { .. } => {}
                other => return other,
            }
        }
    }

    pub(crate) async fn send(ws: &mut HubSocket, m: &HubMessage) {
        ws.send(Message::text(serde_json::to_string(m).unwrap()))
            .await
            .unwrap();
    }

    fn agent_config(dir: &tempfile::TempDir, url: &str, ca_pem: &str) -> AgentConfig {
        let ca = dir.path().join("ca.pem");
        std::fs::write(&ca, ca_pem).unwrap();
        let env = [
            ("ACORN_AGENT_APPLIANCE_URL", url.to_string()),
            ("ACORN_AGENT_CA_FILE", ca.display().to_string()),
            ("ACORN_AGENT_KEY", "acorn_agent_testkey".to_string()),
            ("ACORN_AGENT_WRITE_ENABLED", "true".to_string()),
            ("ACORN_AGENT_NAMESPACES_EXCLUDE", "kube-system".to_string()),
            ("POD_NAME", "acorn-agent-0".to_string()),
        ];
        AgentConfig::load(&|k| env.iter().find(|(n, _)| *n == k).map(|(_, v)| v.clone())).unwrap()
    }

    pub(crate) fn fast_settings() -> LinkSettings {
        LinkSettings {
            heartbeat: Duration::from_millis(200),
            dead_after: Duration::from_secs(2),
            handshake_timeout: Duration::from_secs(5),
            delta_interval: Duration::from_millis(100),
            backoff: Backoff::new(Duration::from_millis(50), Duration::from_millis(200)),
            ..LinkSettings::default()
        }
    }

    pub(crate) fn welcome(include: &[&str]) -> HubMessage {
        HubMessage::Welcome(Welcome {
            cluster_id: "clu_test".into(),
            cluster_name: "test".into(),
            namespaces: NamespaceFilter {
                include: include.iter().map(|s| s.to_string()).collect(),
                exclude: vec![],
            },
            write_allowed: false,
            logs_allowed: true,
        })
    }

    fn call(id: &str, sleep_ms: u64, timeout_ms: u64) -> HubMessage {
        HubMessage::ToolCall(ToolCall {
            call_id: id.into(),
            tool: "sleep".into(),
            arguments: serde_json::json!({ "sleep_ms": sleep_ms }),
            mode: RunMode::ReadOnly,
            run_id: Some("run_1".into()),
            timeout_ms,
        })
    }

    #[tokio::test]
    async fn full_session_against_a_pinned_hub() {
        let pki = test_pki();
        let mut hub = start_hub(&pki, None).await;
        let (sim, client) = kubesim(&["crashloop", "healthy"]).await;
        let dir = tempfile::tempdir().unwrap();
        let health = Arc::new(Health::new());
        let tools = Arc::new(ScriptedTools {
            policies: Mutex::new(vec![]),
        });
        let link = Link {
            config: Arc::new(agent_config(&dir, &hub.url, &pki.ca_pem)),
            client: client.clone(),
            tools: tools.clone(),
            health: health.clone(),
            settings: fast_settings(),
        };
        let snap = Snapshotter::start(
            client,
            SnapshotSettings::new(link.config.namespaces.clone()),
            Arc::new(Redactor::new(&[]).unwrap()),
            health.clone(),
        )
        .await;
        let picture = snap.picture.clone();
        let running = tokio::spawn(async move { link.run(picture, true).await });

        let (key, mut ws) = hub.conns.recv().await.unwrap();
        assert_eq!(key.as_deref(), Some("acorn_agent_testkey"));
        let AgentMessage::Hello(hello) = recv(&mut ws).await else {
            panic!("no hello first")
        };
        assert_eq!(hello.protocol, acorn_proto::agent::PROTOCOL_VERSION);
        assert_eq!(hello.tools[0].name, "sleep");
        assert!(hello.write_enabled);
        assert_eq!(hello.pod_name.as_deref(), Some("acorn-agent-0"));
        assert!(hello.facts.kubernetes_version.starts_with('v'));
        assert!(hello.facts.node_count >= 3, "{:?}", hello.facts);
        assert!(hello.facts.metrics_available);

        // The appliance narrows the namespaces to crashloop.
        send(&mut ws, &welcome(&["crashloop"])).await;
        assert_eq!(
            recv_business(&mut ws).await,
            AgentMessage::SnapshotBegin { snapshot: 1 }
        );
        let mut received = 0u64;
        let counts = loop {
            match recv_business(&mut ws).await {
                AgentMessage::SnapshotChunk {
                    snapshot,
                    resources,
                } => {
                    assert_eq!(snapshot, 1);
                    for r in &resources {
                        assert!(
                            r.key
                                .namespace
                                .as_deref()
                                .is_none_or(|ns| ns == "crashloop"),
                            "{:?} is outside the welcome's filter",
                            r.key
                        );
                    }
                    received += resources.len() as u64;
                }
                AgentMessage::SnapshotEnd { snapshot, counts } => {
                    assert_eq!(snapshot, 1);
                    break counts;
                }
                other => panic!("unexpected {other:?}"),
            }
        };
        assert_eq!(counts.values().sum::<u64>(), received);
        assert!(counts.get("Pod").copied().unwrap_or(0) >= 1, "{counts:?}");
        tokio::time::sleep(Duration::from_millis(50)).await;
        assert_eq!(health.status().link, crate::health::LinkState::Synced);

        // Heartbeats flow with increasing sequence numbers.
        let mut seqs = vec![];
        while seqs.len() < 2 {
            if let AgentMessage::Heartbeat { seq } = recv(&mut ws).await {
                seqs.push(seq);
            }
        }
        assert!(seqs[1] > seqs[0]);

        // A frame that does not parse is answered, and the connection survives.
        ws.send(Message::text("{\"type\":\"no_such_thing\"}"))
            .await
            .unwrap();
        let AgentMessage::ProtocolError { message } = recv_business(&mut ws).await else {
            panic!("no protocol error")
        };
        assert!(message.contains("parse"), "{message}");

        // Tool calls: one finishes, one times out, one is cancelled (and never answered).
        send(&mut ws, &call("fast", 10, 5_000)).await;
        send(&mut ws, &call("slow", 10_000, 200)).await;
        send(&mut ws, &call("cancelled", 10_000, 20_000)).await;
        send(
            &mut ws,
            &HubMessage::CancelCall {
                call_id: "cancelled".into(),
            },
        )
        .await;
        let mut results = std::collections::HashMap::new();
        while results.len() < 2 {
            if let AgentMessage::ToolResult { call_id, outcome } = recv_business(&mut ws).await {
                results.insert(call_id, outcome);
            }
        }
        assert!(matches!(&results["fast"], ToolOutcome::Ok(o) if o.content == "done"));
        assert!(
            matches!(&results["slow"], ToolOutcome::Error(e) if e.code == ToolErrorCode::ToolTimeout)
        );
        let policy = tools.policies.lock().unwrap()[0].clone();
        assert_eq!(policy.namespaces.include, vec!["crashloop"]);
        assert_eq!(policy.namespaces.exclude, vec!["kube-system"]);
        assert!(policy.write_enabled && !policy.write_allowed && policy.logs_allowed);

        // A change in the cluster arrives as a delta (the crashing pod restarts).
        sim.sim.advance(30.0);
        let pod = loop {
            match recv_business(&mut ws).await {
                AgentMessage::Delta { changes } => {
                    if let Some(r) = changes.iter().find_map(|c| match c {
                        acorn_proto::agent::Change::Applied { resource }
                            if resource.key.kind == "Pod" =>
                        {
                            Some(resource.clone())
                        }
                        _ => None,
                    }) {
                        break r;
                    }
                }
                AgentMessage::ToolResult { call_id, .. } => panic!("a result for {call_id}"),
                other => panic!("unexpected {other:?}"),
            }
        };
        assert_eq!(
            pod.object["status"]["containerStatuses"][0]["restartCount"],
            8
        );

        // A resync request gets a new full snapshot.
        send(
            &mut ws,
            &HubMessage::Resync {
                reason: "test".into(),
            },
        )
        .await;
        loop {
            match recv_business(&mut ws).await {
                AgentMessage::SnapshotBegin { snapshot } => {
                    assert_eq!(snapshot, 2);
                    break;
                }
                AgentMessage::Delta { .. } => {}
                other => panic!("unexpected {other:?}"),
            }
        }
        let metrics = health.metrics.encode();
        for line in [
            "acorn_agent_tool_calls_total{tool=\"sleep\",outcome=\"ok\"} 1",
            "acorn_agent_tool_calls_total{tool=\"sleep\",outcome=\"tool_timeout\"} 1",
            "acorn_agent_tool_calls_total{tool=\"sleep\",outcome=\"cancelled\"} 1",
            "acorn_agent_connected 1",
            "acorn_agent_protocol_errors_total 1",
        ] {
            assert!(metrics.contains(line), "{line} missing:\n{metrics}");
        }

        // The appliance goes silent: the agent gives up after dead_after and reconnects with a
        // fresh hello (and, after the welcome, snapshot 1 of the new connection).
        let silent = ws;
        let (_, mut again) = tokio::time::timeout(Duration::from_secs(10), hub.conns.recv())
            .await
            .expect("a reconnect after the silence")
            .unwrap();
        assert!(matches!(recv(&mut again).await, AgentMessage::Hello(_)));
        send(&mut again, &welcome(&[])).await;
        assert_eq!(
            recv_business(&mut again).await,
            AgentMessage::SnapshotBegin { snapshot: 1 }
        );
        assert!(
            health
                .metrics
                .encode()
                .contains("acorn_agent_reconnects_total 1")
        );
        drop(silent);
        running.abort();
    }

    #[tokio::test]
    async fn a_foreign_ca_is_a_hard_failure_with_the_fix() {
        let pki = test_pki();
        let other = test_pki();
        let hub = start_hub(&pki, None).await;
        let (_sim, client) = kubesim(&["healthy"]).await;
        let dir = tempfile::tempdir().unwrap();
        let health = Arc::new(Health::new());
        let link = Link {
            config: Arc::new(agent_config(&dir, &hub.url, &other.ca_pem)),
            client,
            tools: Arc::new(ScriptedTools {
                policies: Mutex::new(vec![]),
            }),
            health: health.clone(),
            settings: fast_settings(),
        };
        let picture = Arc::new(crate::snapshot::picture::Picture::new());
        let (end, established) = link.session(&picture, false).await;
        assert!(!established);
        let SessionEnd::CaMismatch(msg) = end else {
            panic!("{end:?}")
        };
        assert!(
            msg.contains("ACORN_AGENT_CA_FILE") && msg.contains("acorn cert show"),
            "{msg}"
        );

        // The run loop keeps retrying and reports it in /readyz.
        let running = tokio::spawn(async move { link.run(picture, false).await });
        tokio::time::sleep(Duration::from_millis(500)).await;
        assert!(matches!(
            health.status().link,
            crate::health::LinkState::CaMismatch(_)
        ));
        assert!(
            health
                .metrics
                .encode()
                .contains("acorn_agent_reconnects_total")
        );
        running.abort();
    }

    #[tokio::test]
    async fn refusals_are_reported() {
        let pki = test_pki();
        let (_sim, client) = kubesim(&["healthy"]).await;
        let dir = tempfile::tempdir().unwrap();

        // By message after the hello.
        let mut hub = start_hub(&pki, None).await;
        let link = Link {
            config: Arc::new(agent_config(&dir, &hub.url, &pki.ca_pem)),
            client: client.clone(),
            tools: Arc::new(ScriptedTools {
                policies: Mutex::new(vec![]),
            }),
            health: Arc::new(Health::new()),
            settings: fast_settings(),
        };
        let picture = Arc::new(crate::snapshot::picture::Picture::new());
        let hub_side = tokio::spawn(async move {
            let (_, mut ws) = hub.conns.recv().await.unwrap();
            let _hello = recv(&mut ws).await;
            let refused = HubMessage::Refused {
                code: "agent_key_invalid".into(),
                message: "this key was rotated; install the new manifest".into(),
            };
            send(&mut ws, &refused).await;
        });
        let (end, _) = link.session(&picture, false).await;
        hub_side.await.unwrap();
        assert_eq!(
            end,
            SessionEnd::Refused(
                "agent_key_invalid: this key was rotated; install the new manifest".into()
            )
        );

        // By HTTP status on the upgrade.
        let hub = start_hub(&pki, Some(401)).await;
        let link = Link {
            config: Arc::new(agent_config(&dir, &hub.url, &pki.ca_pem)),
            ..link
        };
        let (end, _) = link.session(&picture, false).await;
        let SessionEnd::Refused(msg) = end else {
            panic!("{end:?}")
        };
        assert!(
            msg.contains("401") && msg.contains("ACORN_AGENT_KEY"),
            "{msg}"
        );
        assert!(
            !msg.contains("acorn_agent_testkey"),
            "the key leaked into {msg}"
        );
    }

    #[tokio::test]
    async fn a_failing_kind_does_not_hold_the_snapshot_back() {
        let pki = test_pki();
        let mut hub = start_hub(&pki, None).await;
        let (sim, client) = kubesim(&["healthy"]).await;
        sim.sim.set_faults(acorn_kubesim::Faults {
            delay_ms: 0,
            fail: Some(acorn_kubesim::FailRule {
                code: 500,
                times: None,
                retry_after: 1,
                path_contains: Some("horizontalpodautoscalers".into()),
                method: None,
            }),
        });
        let dir = tempfile::tempdir().unwrap();
        let health = Arc::new(Health::new());
        let link = Link {
            config: Arc::new(agent_config(&dir, &hub.url, &pki.ca_pem)),
            client: client.clone(),
            tools: Arc::new(ScriptedTools {
                policies: Mutex::new(vec![]),
            }),
            health: health.clone(),
            settings: LinkSettings {
                sync_deadline: Duration::from_secs(2),
                dead_after: Duration::from_secs(60),
                ..fast_settings()
            },
        };
        let snap = Snapshotter::start(
            client,
            SnapshotSettings::new(link.config.namespaces.clone()),
            Arc::new(Redactor::new(&[]).unwrap()),
            health.clone(),
        )
        .await;
        let picture = snap.picture.clone();
        let running = tokio::spawn(async move { link.run(picture, true).await });
        let (_, mut ws) = hub.conns.recv().await.unwrap();
        assert!(matches!(recv(&mut ws).await, AgentMessage::Hello(_)));
        send(&mut ws, &welcome(&[])).await;
        let mut kinds = std::collections::BTreeSet::new();
        loop {
            match recv_business(&mut ws).await {
                AgentMessage::SnapshotBegin { .. } => {}
                AgentMessage::SnapshotChunk { resources, .. } => {
                    kinds.extend(resources.into_iter().map(|r| r.key.kind));
                }
                AgentMessage::SnapshotEnd { .. } => break,
                other => panic!("unexpected {other:?}"),
            }
        }
        assert!(
            kinds.contains("Pod") && !kinds.contains("HorizontalPodAutoscaler"),
            "{kinds:?}"
        );
        // The API recovers: the missing kind follows as a delta.
        sim.sim.set_faults(acorn_kubesim::Faults::default());
        let hpa_arrived = tokio::time::timeout(Duration::from_secs(20), async {
            loop {
                if let AgentMessage::Delta { changes } = recv_business(&mut ws).await
                    && changes.iter().any(|c| matches!(c, acorn_proto::agent::Change::Applied { resource } if resource.key.kind == "HorizontalPodAutoscaler"))
                {
                    return;
                }
            }
        })
        .await;
        assert!(hpa_arrived.is_ok(), "the recovered kind never arrived");
        running.abort();
    }

    #[test]
    fn effective_filter_is_the_intersection() {
        let f = |i: &[&str], e: &[&str]| NamespaceFilter {
            include: i.iter().map(|s| s.to_string()).collect(),
            exclude: e.iter().map(|s| s.to_string()).collect(),
        };
        use super::session::effective_filter;
        assert_eq!(
            effective_filter(&f(&[], &["a"]), &f(&["b"], &["c"])),
            f(&["b"], &["a", "c"])
        );
        assert_eq!(
            effective_filter(&f(&["a", "b"], &[]), &f(&[], &[])),
            f(&["a", "b"], &[])
        );
        assert_eq!(
            effective_filter(&f(&["a", "b"], &[]), &f(&["b", "c"], &[])),
            f(&["b"], &[])
        );
        let none = effective_filter(&f(&["a"], &[]), &f(&["b"], &[]));
        assert!(!none.allows(Some("a")) && !none.allows(Some("b")));
    }
}
