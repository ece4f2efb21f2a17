//! Prometheus metrics: HTTP requests by route and status, store commit latency, agent link
//! (connected agents, heartbeat handling time, frames, tool calls), build info.
//! Exposed at `/metrics` in the text format.

use std::sync::Arc;

use axum::extract::{MatchedPath, Request, State};
use axum::middleware::Next;
use axum::response::Response;
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::metrics::info::Info;
use prometheus_client::registry::Registry;

use acorn_store::CommitStats;

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct HttpLabels {
    method: String,
    route: String,
    status: u16,
}

/// The appliance's metrics.
pub struct Metrics {
    registry: Registry,
    http_requests: Family<HttpLabels, Counter>,
    store_commit_seconds: Histogram,
    store_commit_records: Counter,
    /// Agents connected right now.
    pub agents_connected: Gauge,
    /// Time to handle one agent heartbeat (receive → acknowledgement queued).
    pub agent_heartbeat_seconds: Histogram,
    /// Tunnel frames received, by message type.
    pub agent_frames: Family<FrameLabels, Counter>,
    /// Tool calls sent to agents, by outcome (`ok` or the error code).
    pub agent_tool_calls: Family<OutcomeLabels, Counter>,
    /// The LLM gateway's requests, latency, tokens and cost.
    pub gateway: crate::gateway::metrics::GatewayMetrics,
    /// Console LiveView connections open now (one per open console tab).
    pub console_sockets: Gauge,
}

/// Labels of [`Metrics::agent_frames`].
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct FrameLabels {
    /// The message type (`hello`, `heartbeat`, `delta`, …, or `invalid`).
    pub r#type: String,
}

/// Labels of [`Metrics::agent_tool_calls`].
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct OutcomeLabels {
    /// `ok`, or the error code.
    pub outcome: String,
}

impl Metrics {
    /// Registers every metric.
    pub fn new() -> Arc<Self> {
        let mut registry = Registry::with_prefix("acorn");
        let http_requests = Family::<HttpLabels, Counter>::default();
        registry.register(
            "http_requests",
            "HTTP requests by method, route and status",
            http_requests.clone(),
        );
        let store_commit_seconds = Histogram::new(exponential_buckets(0.000_25, 2.0, 16));
        registry.register(
            "store_commit_seconds",
            "Duration of store commits (one fsync each)",
            store_commit_seconds.clone(),
        );
        let store_commit_records = Counter::default();
        registry.register(
            "store_commit_records",
            "Writes committed to the store (a commit holds one or more)",
            store_commit_records.clone(),
        );
        let agents_connected = Gauge::default();
        registry.register(
            "agents_connected",
            "Cluster agents connected now",
            agents_connected.clone(),
        );
        let agent_heartbeat_seconds = Histogram::new(exponential_buckets(0.000_001, 2.0, 20));
        registry.register(
            "agent_heartbeat_seconds",
            "Time to handle one agent heartbeat",
            agent_heartbeat_seconds.clone(),
        );
        let agent_frames = Family::<FrameLabels, Counter>::default();
        registry.register(
            "agent_frames",
            "Agent tunnel frames received, by message type",
            agent_frames.clone(),
        );
        let agent_tool_calls = Family::<OutcomeLabels, Counter>::default();
        registry.register(
            "agent_tool_calls",
            "Tool calls sent to agents, by outcome",
            agent_tool_calls.clone(),
        );
        let build = Info::new(vec![
            ("version", crate::VERSION.to_owned()),
            ("schema_version", acorn_store::SCHEMA_VERSION.to_string()),
        ]);
        registry.register("build", "Acorn build information", build);
        let gateway = crate::gateway::metrics::GatewayMetrics::register(&mut registry);
        let console_sockets = Gauge::default();
        registry.register(
            "console_sockets",
            "Console LiveView connections open now (one per open console tab)",
            console_sockets.clone(),
        );
        Arc::new(Metrics {
            console_sockets,
            registry,
            http_requests,
            store_commit_seconds,
            store_commit_records,
            agents_connected,
            agent_heartbeat_seconds,
            agent_frames,
            agent_tool_calls,
            gateway,
        })
    }

    /// A console tab connected its LiveView socket.
    pub fn console_socket_opened(&self) {
        self.console_sockets.inc();
    }

    /// A console tab's LiveView socket ended.
    pub fn console_socket_closed(&self) {
        self.console_sockets.dec();
    }

    /// Records one store commit (called by the store's writer thread).
    pub fn observe_commit(&self, stats: CommitStats) {
        self.store_commit_seconds
            .observe(stats.duration.as_secs_f64());
        self.store_commit_records.inc_by(stats.records as u64);
    }

    /// The text exposition.
    pub fn encode(&self) -> Result<String, std::fmt::Error> {
        let mut out = String::new();
        prometheus_client::encoding::text::encode(&mut out, &self.registry)?;
        Ok(out)
    }
}

/// Middleware: counts every request by its route template (not the raw path, which would let
/// callers create unbounded label values).
pub async fn track_requests(
    State(state): State<crate::control::routes::AppState>,
    req: Request,
    next: Next,
) -> Response {
    let route = req
        .extensions()
        .get::<MatchedPath>()
        .map(|p| p.as_str().to_owned())
        .unwrap_or_else(|| "unmatched".to_owned());
    let method = req.method().as_str().to_owned();
    let request_id = req
        .headers()
        .get("x-request-id")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_owned();
    // Every log line written while serving the request carries its id (the id the response's
    // x-request-id header shows the caller).
    let span =
        tracing::info_span!("request", request_id = %request_id, method = %method, route = %route);
    let started = std::time::Instant::now();
    let response = tracing::Instrument::instrument(next.run(req), span.clone()).await;
    let status = response.status().as_u16();
    let elapsed_ms = started.elapsed().as_millis() as u64;
    span.in_scope(|| {
        if status >= 500 {
            tracing::warn!(status, elapsed_ms, "request failed");
        } else {
            tracing::debug!(status, elapsed_ms, "request served");
        }
    });
    let labels = HttpLabels {
        method,
        route,
        status,
    };
    state.metrics.http_requests.get_or_create(&labels).inc();
    response
}
