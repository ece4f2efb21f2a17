//! The agent tunnel: every message that crosses the WebSocket between `acorn-agent` (in the
//! cluster) and the appliance's agent hub, plus the snapshot model and the tool-call envelope.
//!
//! Shape of a connection (the agent always dials out; the cluster never accepts a connection):
//!
//! 1. The agent opens `wss://APPLIANCE/api/v1/agent/connect` with its key in the
//!    [`AGENT_KEY_HEADER`] header, trusting only the appliance CA it was installed with.
//! 2. The agent sends [`AgentMessage::Hello`]; the hub answers [`HubMessage::Welcome`] (the
//!    cluster's settings as registered) or [`HubMessage::Refused`] and closes.
//! 3. The agent sends a full snapshot ([`AgentMessage::SnapshotBegin`], any number of
//!    [`AgentMessage::SnapshotChunk`], [`AgentMessage::SnapshotEnd`]), then [`AgentMessage::Delta`]s.
//!    After every reconnect the agent sends a fresh full snapshot: the hub replaces the cluster's
//!    state when the snapshot ends, so a half-sent snapshot never replaces a whole one.
//! 4. [`AgentMessage::Heartbeat`] every [`HEARTBEAT_INTERVAL_SECS`]; either side treats the other
//!    as dead after [`DEAD_AFTER_SECS`] without any frame.
//! 5. The hub sends [`HubMessage::ToolCall`]s by id; the agent answers each with exactly one
//!    [`AgentMessage::ToolResult`]; [`HubMessage::CancelCall`] abandons one.
//!
//! Every frame is one JSON text message of at most [`MAX_FRAME_BYTES`], tagged by `type`.
//! A frame that does not parse, or names an unknown `type`, is answered with
//! [`HubMessage::ProtocolError`] (or the agent's [`AgentMessage::ProtocolError`]) and the
//! connection survives; an oversized frame closes the connection (WebSocket close 1009).

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

/// The tunnel protocol version; the hub refuses agents that speak another one.
pub const PROTOCOL_VERSION: u32 = 1;
/// Path of the agent hub on the appliance.
pub const CONNECT_PATH: &str = "/api/v1/agent/connect";
/// Header that carries the agent key on the WebSocket upgrade request.
pub const AGENT_KEY_HEADER: &str = "x-acorn-agent-key";
/// Prefix of every agent key, so that a leaked key is recognisable (and scannable).
pub const AGENT_KEY_PREFIX: &str = "acorn_agent_";
/// The largest frame either side accepts.
pub const MAX_FRAME_BYTES: usize = 4 * 1024 * 1024;
/// The agent sends a heartbeat this often.
pub const HEARTBEAT_INTERVAL_SECS: u64 = 5;
/// Without any frame for this long, the peer is dead: the hub marks the cluster disconnected,
/// the agent reconnects.
pub const DEAD_AFTER_SECS: u64 = 60;

/// Agent → hub.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum AgentMessage {
    /// First message on every connection.
    Hello(Hello),
    /// Liveness, every [`HEARTBEAT_INTERVAL_SECS`].
    Heartbeat {
        /// Increases by one per heartbeat on a connection.
        seq: u64,
    },
    /// A full snapshot starts; the hub stages it until [`AgentMessage::SnapshotEnd`].
    SnapshotBegin {
        /// Identifies the snapshot on this connection.
        snapshot: u64,
    },
    /// Part of a full snapshot.
    SnapshotChunk {
        /// The snapshot this chunk belongs to.
        snapshot: u64,
        /// Objects, trimmed for troubleshooting.
        resources: Vec<Resource>,
    },
    /// The full snapshot is complete and replaces the cluster's state.
    SnapshotEnd {
        /// The snapshot that ends.
        snapshot: u64,
        /// Objects per kind the agent sent, so the hub can check it received everything.
        counts: BTreeMap<String, u64>,
    },
    /// Changes since the last snapshot or delta, in the order they happened.
    Delta {
        /// The changes.
        changes: Vec<Change>,
    },
    /// The agent's tool catalog changed (for example after a configuration reload).
    Capabilities {
        /// The whole new catalog.
        tools: Vec<ToolSpec>,
    },
    /// The answer to a [`HubMessage::ToolCall`].
    ToolResult {
        /// The id of the call.
        call_id: String,
        /// What came of it.
        outcome: ToolOutcome,
    },
    /// The agent could not understand a frame from the hub.
    ProtocolError {
        /// Why.
        message: String,
    },
}

/// What the agent tells the hub about itself when it connects.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Hello {
    /// [`PROTOCOL_VERSION`] of the agent.
    pub protocol: u32,
    /// The agent's release (`acorn-agent --version`).
    pub agent_version: String,
    /// The builtin tools this agent offers.
    pub tools: Vec<ToolSpec>,
    /// Facts about the cluster.
    pub facts: ClusterFacts,
    /// `ACORN_AGENT_WRITE_ENABLED` of the agent: write tools run only when this and the
    /// cluster's registration both allow them.
    pub write_enabled: bool,
    /// Name of the pod the agent runs in (the elected leader when several replicas run).
    pub pod_name: Option<String>,
}

/// Facts about the cluster, reported on connect.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ClusterFacts {
    /// `gitVersion` from `/version`, e.g. `v1.33.2`.
    pub kubernetes_version: String,
    /// Number of nodes.
    pub node_count: u64,
    /// Whether `metrics.k8s.io` answered.
    pub metrics_available: bool,
}

/// Hub → agent.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum HubMessage {
    /// The hello was accepted; the agent applies these settings and sends a full snapshot.
    /// Sent again on a live connection when an admin changes the cluster's settings: the agent
    /// then reconnects, which applies them and sends a fresh snapshot.
    Welcome(Welcome),
    /// The connection is refused or replaced; the hub closes it after this message.
    Refused {
        /// Machine-readable reason (an error code from the API's table, e.g. `agent_key_invalid`).
        code: String,
        /// What the operator should do.
        message: String,
    },
    /// Answer to a heartbeat.
    HeartbeatAck {
        /// The heartbeat's `seq`.
        seq: u64,
    },
    /// Run a builtin tool.
    ToolCall(ToolCall),
    /// Stop working on a call; no result is expected any more.
    CancelCall {
        /// The id of the call.
        call_id: String,
    },
    /// Send a fresh full snapshot (the hub lost or refused its copy).
    Resync {
        /// Why.
        reason: String,
    },
    /// The hub could not use a frame; the connection survives.
    ProtocolError {
        /// Machine-readable reason (an error code, e.g. `agent_frame_invalid`).
        code: String,
        /// Why.
        message: String,
    },
}

/// The cluster's settings as registered in the appliance, sent to the agent on connect.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Welcome {
    /// The cluster's id (`clu_…`).
    pub cluster_id: String,
    /// The cluster's name.
    pub cluster_name: String,
    /// Namespaces the agent watches and tools may touch.
    pub namespaces: NamespaceFilter,
    /// Whether write tools may run (the agent also needs `ACORN_AGENT_WRITE_ENABLED=true`).
    pub write_allowed: bool,
    /// Whether `get_pod_logs` may run.
    pub logs_allowed: bool,
}

/// Which namespaces are in view. An empty `include` means every namespace; `exclude` wins.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NamespaceFilter {
    /// Only these namespaces (empty: all).
    #[serde(default)]
    pub include: Vec<String>,
    /// Never these namespaces.
    #[serde(default)]
    pub exclude: Vec<String>,
}

impl NamespaceFilter {
    /// The registration default: everything but `kube-node-lease` and `kube-public`.
    pub fn default_excludes() -> Self {
        NamespaceFilter {
            include: Vec::new(),
            exclude: vec!["kube-node-lease".into(), "kube-public".into()],
        }
    }

    /// Whether objects of `namespace` are in view (cluster-scoped objects always are).
    pub fn allows(&self, namespace: Option<&str>) -> bool {
        let Some(ns) = namespace else { return true };
        (self.include.is_empty() || self.include.iter().any(|i| i == ns))
            && !self.exclude.iter().any(|e| e == ns)
    }
}

/// Identity of an object in the cluster.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct ResourceKey {
    /// `v1`, `apps/v1`, `metrics.k8s.io/v1beta1`, …
    pub api_version: String,
    /// `Pod`, `Deployment`, `Event`, `PodMetrics`, …
    pub kind: String,
    /// Absent for cluster-scoped objects.
    pub namespace: Option<String>,
    /// `metadata.name`.
    pub name: String,
}

/// One object of the cluster's picture: a Kubernetes object trimmed to what troubleshooting
/// needs (no `managedFields`, no Secret data, no env values taken from Secrets). Core and
/// `events.k8s.io` events are objects of kind `Event`; metrics are `PodMetrics` and
/// `NodeMetrics` objects of `metrics.k8s.io/v1beta1`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Resource {
    /// Which object.
    #[serde(flatten)]
    pub key: ResourceKey,
    /// `metadata.resourceVersion` (empty for metrics).
    pub resource_version: String,
    /// The trimmed object, as JSON.
    pub object: serde_json::Value,
}

/// One change in a [`AgentMessage::Delta`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "op", rename_all = "snake_case")]
pub enum Change {
    /// Created or modified.
    Applied {
        /// The object as it is now.
        resource: Resource,
    },
    /// Gone.
    Deleted {
        /// Which object.
        #[serde(flatten)]
        key: ResourceKey,
    },
}

/// Whether a tool only reads or changes the cluster.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ToolClass {
    /// Reads only.
    Read,
    /// Changes the cluster; runs only in read-write runs on agents with writes enabled.
    Write,
}

/// One builtin tool as the agent advertises it. The catalog of a cluster is the list of these
/// from its agent's hello; the gateway offers them to runs.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ToolSpec {
    /// Stable name, e.g. `get_pod_logs`.
    pub name: String,
    /// One or two sentences for the model.
    pub description: String,
    /// Read or write.
    pub class: ToolClass,
    /// JSON Schema (draft 2020-12) of the arguments object.
    pub input_schema: serde_json::Value,
}

/// Whether the run a tool call belongs to may change the cluster.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RunMode {
    /// Only read tools.
    ReadOnly,
    /// Read and write tools.
    ReadWrite,
}

/// A request to run one builtin tool.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ToolCall {
    /// Unique per connection; the result carries it back.
    pub call_id: String,
    /// A tool from the agent's catalog.
    pub tool: String,
    /// The arguments object, checked by the agent against the tool's schema.
    pub arguments: serde_json::Value,
    /// The mode of the run the call belongs to.
    pub mode: RunMode,
    /// The run, for the agent's log (absent for calls made outside a run).
    pub run_id: Option<String>,
    /// The agent gives up after this long and answers [`ToolErrorCode::ToolTimeout`].
    pub timeout_ms: u64,
}

/// The result of a tool call.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "status", rename_all = "snake_case")]
pub enum ToolOutcome {
    /// The tool ran.
    Ok(ToolOutput),
    /// The tool did not run, or failed.
    Error(ToolError),
}

/// What a tool returns, after redaction.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ToolOutput {
    /// Text for the model (YAML, a table or log lines), bounded in bytes and lines.
    pub content: String,
    /// `true` when `content` was cut to the bounds.
    pub truncated: bool,
    /// How many secrets the redaction step masked.
    pub redactions: u32,
}

/// Why a tool call failed.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ToolError {
    /// The typed reason.
    pub code: ToolErrorCode,
    /// What happened, for the model and the operator (redacted like output).
    pub message: String,
}

/// Typed reasons a tool call fails. Each is also an API error code of the same name.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ToolErrorCode {
    /// The agent does not offer a tool of this name.
    ToolUnknown,
    /// The arguments do not match the tool's schema.
    ToolArgumentsInvalid,
    /// The object does not exist.
    ToolObjectNotFound,
    /// Kubernetes RBAC denied the agent's service account.
    ToolForbiddenByRbac,
    /// The namespace is outside the cluster's namespace filter.
    ToolNamespaceExcluded,
    /// A write tool was called in a read-only run.
    ToolWriteInReadOnlyRun,
    /// A write tool was called but writes are disabled (agent flag or cluster registration).
    ToolWritesDisabled,
    /// Pod logs are not allowed for this cluster.
    ToolLogsNotAllowed,
    /// The call took longer than its timeout.
    ToolTimeout,
    /// The call was cancelled.
    ToolCancelled,
    /// The Kubernetes API answered with another error.
    ToolKubernetesError,
    /// The agent is not connected (or disconnected while the call was pending).
    AgentDisconnected,
    /// The tool ran and reported a failure of its own (an MCP tool result with `isError`).
    ToolFailed,
    /// The tool's server could not be reached or broke the protocol (MCP tools).
    ToolUnavailable,
}

impl ToolErrorCode {
    /// The API error code of the same name.
    pub fn error_code(self) -> crate::ErrorCode {
        use crate::ErrorCode as E;
        match self {
            ToolErrorCode::ToolUnknown => E::ToolUnknown,
            ToolErrorCode::ToolArgumentsInvalid => E::ToolArgumentsInvalid,
            ToolErrorCode::ToolObjectNotFound => E::ToolObjectNotFound,
            ToolErrorCode::ToolForbiddenByRbac => E::ToolForbiddenByRbac,
            ToolErrorCode::ToolNamespaceExcluded => E::ToolNamespaceExcluded,
            ToolErrorCode::ToolWriteInReadOnlyRun => E::ToolWriteInReadOnlyRun,
            ToolErrorCode::ToolWritesDisabled => E::ToolWritesDisabled,
            ToolErrorCode::ToolLogsNotAllowed => E::ToolLogsNotAllowed,
            ToolErrorCode::ToolTimeout => E::ToolTimeout,
            ToolErrorCode::ToolCancelled => E::ToolCancelled,
            ToolErrorCode::ToolKubernetesError => E::ToolKubernetesError,
            ToolErrorCode::AgentDisconnected => E::AgentDisconnected,
            ToolErrorCode::ToolFailed => E::ToolFailed,
            ToolErrorCode::ToolUnavailable => E::ToolUnavailable,
        }
    }

    /// The stable string, as in the API's error table.
    pub fn as_str(self) -> &'static str {
        self.error_code().as_str()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn messages_are_tagged_by_type() {
        let hb = serde_json::to_value(AgentMessage::Heartbeat { seq: 7 }).unwrap();
        assert_eq!(hb, serde_json::json!({"type": "heartbeat", "seq": 7}));
        let call = HubMessage::ToolCall(ToolCall {
            call_id: "c1".into(),
            tool: "get_events".into(),
            arguments: serde_json::json!({"namespace": "shop"}),
            mode: RunMode::ReadOnly,
            run_id: None,
            timeout_ms: 30_000,
        });
        let v = serde_json::to_value(&call).unwrap();
        assert_eq!(v["type"], "tool_call");
        assert_eq!(v["mode"], "read_only");
        let back: HubMessage = serde_json::from_value(v).unwrap();
        assert_eq!(back, call);
    }

    #[test]
    fn resources_flatten_their_key() {
        let change = Change::Deleted {
            key: ResourceKey {
                api_version: "v1".into(),
                kind: "Pod".into(),
                namespace: Some("shop".into()),
                name: "web-1".into(),
            },
        };
        let v = serde_json::to_value(&change).unwrap();
        assert_eq!(
            v,
            serde_json::json!({"op": "deleted", "api_version": "v1", "kind": "Pod",
                "namespace": "shop", "name": "web-1"})
        );
    }

    #[test]
    fn namespace_filter_excludes_win() {
        let f = NamespaceFilter::default_excludes();
        assert!(f.allows(Some("shop")));
        assert!(f.allows(None));
        assert!(!f.allows(Some("kube-public")));
        let only = NamespaceFilter {
            include: vec!["a".into(), "b".into()],
            exclude: vec!["b".into()],
        };
        assert!(only.allows(Some("a")));
        assert!(!only.allows(Some("b")));
        assert!(!only.allows(Some("c")));
    }

    #[test]
    fn tool_error_codes_serialize_as_their_api_codes() {
        for code in [
            ToolErrorCode::ToolUnknown,
            ToolErrorCode::ToolForbiddenByRbac,
            ToolErrorCode::AgentDisconnected,
        ] {
            assert_eq!(serde_json::to_value(code).unwrap(), code.as_str());
        }
    }

    #[test]
    fn tool_outcomes_round_trip() {
        let err = ToolOutcome::Error(ToolError {
            code: ToolErrorCode::ToolForbiddenByRbac,
            message: "pods is forbidden".into(),
        });
        let v = serde_json::to_value(&err).unwrap();
        assert_eq!(v["status"], "error");
        assert_eq!(v["code"], "tool_forbidden_by_rbac");
        assert_eq!(serde_json::from_value::<ToolOutcome>(v).unwrap(), err);
    }
}
