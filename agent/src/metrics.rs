//! The agent's Prometheus metrics (prometheus-client), served at `/metrics` by [`crate::health`].
//!
//! One [`Metrics`] is shared (behind an `Arc`) by the link, the snapshot feed, the tool-call
//! tasks and the elector; each records what it owns. Names are prefixed `acorn_agent_`.

use std::sync::atomic::AtomicU64;

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::registry::Registry;

/// Labels of the tool-call counter.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct ToolCallLabels {
    /// The tool's name.
    pub tool: String,
    /// `ok`, an error code (`tool_timeout`, …) or `cancelled`.
    pub outcome: String,
}

/// Labels naming a kind (`v1/Pod`).
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct KindLabels {
    /// `apiVersion/Kind`.
    pub kind: String,
}

/// Every metric the agent exports.
pub struct Metrics {
    registry: Registry,
    /// 1 while a connection to the appliance is up (hello accepted).
    pub connected: Gauge,
    /// Connection attempts after the first one.
    pub reconnects: Counter,
    /// Objects in the last full snapshot sent.
    pub snapshot_objects: Gauge,
    /// Full snapshots sent.
    pub snapshots: Counter,
    /// Changes sent in deltas.
    pub deltas_sent: Counter,
    /// Bytes of delta frames sent.
    pub delta_bytes: Counter,
    /// Tool calls by tool and outcome.
    pub tool_calls: Family<ToolCallLabels, Counter>,
    /// 1 while this replica holds the lease (always 1 without leader election).
    pub leader: Gauge,
    /// Kinds the agent is not allowed to list (RBAC 403), skipped from snapshots.
    pub kinds_forbidden: Family<KindLabels, Gauge>,
    /// Objects held in the agent's picture of the cluster.
    pub objects: Gauge<i64, std::sync::atomic::AtomicI64>,
    /// Frames from the hub that did not parse.
    pub protocol_errors: Counter<u64, AtomicU64>,
}

impl Default for Metrics {
    fn default() -> Self {
        Metrics::new()
    }
}

impl Metrics {
    /// Creates and registers every metric.
    pub fn new() -> Metrics {
        let mut registry = Registry::with_prefix("acorn_agent");
        let m = Metrics {
            connected: Gauge::default(),
            reconnects: Counter::default(),
            snapshot_objects: Gauge::default(),
            snapshots: Counter::default(),
            deltas_sent: Counter::default(),
            delta_bytes: Counter::default(),
            tool_calls: Family::default(),
            leader: Gauge::default(),
            kinds_forbidden: Family::default(),
            objects: Gauge::default(),
            protocol_errors: Counter::default(),
            registry: Registry::default(),
        };
        registry.register(
            "connected",
            "1 while connected to the appliance",
            m.connected.clone(),
        );
        registry.register(
            "reconnects",
            "Connection attempts after the first",
            m.reconnects.clone(),
        );
        registry.register(
            "snapshot_objects",
            "Objects in the last full snapshot sent",
            m.snapshot_objects.clone(),
        );
        registry.register("snapshots", "Full snapshots sent", m.snapshots.clone());
        registry.register(
            "deltas_sent",
            "Changes sent in deltas",
            m.deltas_sent.clone(),
        );
        registry.register(
            "delta_bytes",
            "Bytes of delta frames sent",
            m.delta_bytes.clone(),
        );
        registry.register(
            "tool_calls",
            "Tool calls by tool and outcome",
            m.tool_calls.clone(),
        );
        registry.register(
            "leader",
            "1 while this replica leads (always 1 without leader election)",
            m.leader.clone(),
        );
        registry.register(
            "kinds_forbidden",
            "Kinds skipped because RBAC forbids listing them",
            m.kinds_forbidden.clone(),
        );
        registry.register(
            "objects",
            "Objects in the agent's picture of the cluster",
            m.objects.clone(),
        );
        registry.register(
            "protocol_errors",
            "Frames from the appliance that did not parse",
            m.protocol_errors.clone(),
        );
        Metrics { registry, ..m }
    }

    /// Counts one finished tool call.
    pub fn tool_call(&self, tool: &str, outcome: &str) {
        self.tool_calls
            .get_or_create(&ToolCallLabels {
                tool: tool.to_string(),
                outcome: outcome.to_string(),
            })
            .inc();
    }

    /// The text exposition format.
    pub fn encode(&self) -> String {
        let mut out = String::new();
        if prometheus_client::encoding::text::encode(&mut out, &self.registry).is_err() {
            out.clear();
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exposes_every_metric() {
        let m = Metrics::new();
        m.connected.set(1);
        m.tool_call("get_events", "ok");
        m.delta_bytes.inc_by(42);
        let text = m.encode();
        for name in [
            "acorn_agent_connected 1",
            "acorn_agent_reconnects_total 0",
            "acorn_agent_snapshot_objects 0",
            "acorn_agent_deltas_sent_total 0",
            "acorn_agent_delta_bytes_total 42",
            "acorn_agent_tool_calls_total{tool=\"get_events\",outcome=\"ok\"} 1",
            "acorn_agent_leader 0",
        ] {
            assert!(text.contains(name), "{name} missing in\n{text}");
        }
    }
}
