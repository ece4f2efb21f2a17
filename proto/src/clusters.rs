//! Bodies of the clusters API: registration, settings, agent keys, install instructions, the
//! cluster's picture (snapshot summary, objects, events, metrics) and ad-hoc tool calls.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::agent::{ClusterFacts, NamespaceFilter, RunMode, ToolSpec};
use crate::authz::Action;

/// Which objects the agent's service account may read and touch.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case", deny_unknown_fields)]
pub enum RbacScope {
    /// A ClusterRole bound cluster-wide.
    Cluster,
    /// Roles in these namespaces only (cluster-scoped kinds such as nodes are then not visible).
    Namespaces {
        /// The namespaces.
        namespaces: Vec<String>,
    },
}

/// `POST /api/v1/workspaces/{id}/clusters`.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RegisterCluster {
    /// Unique in the workspace: 1 to 63 characters a-z, 0-9 and `-`, starting with a letter.
    pub name: String,
    /// Namespaces in view; default: all but `kube-node-lease` and `kube-public`.
    #[serde(default)]
    pub namespaces: Option<NamespaceFilter>,
    /// Default: `{"kind": "cluster"}`.
    #[serde(default)]
    pub rbac_scope: Option<RbacScope>,
    /// Whether write tools may run (default `false`).
    #[serde(default)]
    pub write_allowed: bool,
    /// Whether pod logs may be read (default `true`).
    #[serde(default = "yes")]
    pub logs_allowed: bool,
    /// Image of the agent for the install instructions (sites mirror it into their registry);
    /// default: the appliance's `clusters.agent_image`.
    #[serde(default)]
    pub agent_image: Option<String>,
    /// A newly opened critical finding starts a read-only run that investigates it (default
    /// false; the appliance's `[findings]` section bounds how many run at once).
    #[serde(default)]
    pub auto_triage: bool,
}

fn yes() -> bool {
    true
}

/// `PATCH /api/v1/workspaces/{id}/clusters/{cluster_id}`: absent fields keep their value.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct UpdateCluster {
    /// New name.
    #[serde(default)]
    pub name: Option<String>,
    /// New namespace filter (sent to the agent on its next connection).
    #[serde(default)]
    pub namespaces: Option<NamespaceFilter>,
    /// New RBAC scope (takes effect when the new install manifest is applied).
    #[serde(default)]
    pub rbac_scope: Option<RbacScope>,
    /// Allow or forbid write tools.
    #[serde(default)]
    pub write_allowed: Option<bool>,
    /// Allow or forbid pod logs.
    #[serde(default)]
    pub logs_allowed: Option<bool>,
    /// New agent image.
    #[serde(default)]
    pub agent_image: Option<String>,
    /// Turns auto-triage on or off.
    #[serde(default)]
    pub auto_triage: Option<bool>,
}

/// Whether the cluster's agent is linked.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum LinkStatus {
    /// No agent ever connected.
    NeverConnected,
    /// An agent is connected and heard from within 60 s.
    Connected,
    /// The agent disconnected or went silent for 60 s.
    Disconnected,
}

/// The agent as the appliance last saw it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AgentView {
    /// The agent's release.
    pub version: String,
    /// The pod it runs in.
    pub pod_name: Option<String>,
    /// What it reported about the cluster.
    pub facts: ClusterFacts,
    /// Its `ACORN_AGENT_WRITE_ENABLED`.
    pub write_enabled: bool,
    /// Start of the current or last connection (RFC 3339).
    pub connected_at: String,
    /// Last frame received (RFC 3339).
    pub last_heartbeat_at: String,
    /// End of the last connection (RFC 3339), absent while connected.
    pub disconnected_at: Option<String>,
}

/// The state of the appliance's picture of the cluster.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SnapshotSummary {
    /// When the last full snapshot completed (RFC 3339).
    pub complete_at: Option<String>,
    /// When the last change was applied (RFC 3339).
    pub updated_at: Option<String>,
    /// Objects per kind.
    pub counts: BTreeMap<String, u64>,
    /// Stored bytes.
    pub bytes: u64,
    /// The per-cluster byte budget.
    pub budget_bytes: u64,
    /// Why the last snapshot or delta was refused (`snapshot_budget_exceeded`), if it was.
    pub error: Option<String>,
}

/// A cluster as the API shows it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ClusterView {
    /// `clu_…`.
    pub id: String,
    /// Its workspace.
    pub workspace_id: String,
    /// Its name.
    pub name: String,
    /// Namespaces in view.
    pub namespaces: NamespaceFilter,
    /// RBAC scope of the agent.
    pub rbac_scope: RbacScope,
    /// Whether write tools may run.
    pub write_allowed: bool,
    /// Whether pod logs may be read.
    pub logs_allowed: bool,
    /// Image in the install instructions.
    pub agent_image: String,
    /// Registration time (RFC 3339).
    pub created_at: String,
    /// Link state.
    pub status: LinkStatus,
    /// The agent, once one connected.
    pub agent: Option<AgentView>,
    /// The picture of the cluster.
    pub snapshot: SnapshotSummary,
    /// Builtin tools the agent offers.
    pub tools: Vec<ToolSpec>,
    /// What the caller may do in this cluster's workspace.
    pub permissions: Vec<Action>,
    /// Whether a newly opened critical finding starts an investigation.
    #[serde(default)]
    pub auto_triage: bool,
    /// When the analyzers last evaluated the stored picture (RFC 3339); absent before the first
    /// evaluation.
    #[serde(default)]
    pub findings_evaluated_at: Option<String>,
}

/// How to install the agent; contains the agent key, so it is only ever in the answer that
/// created the key.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct InstallInstructions {
    /// `helm upgrade --install …` for `packaging/charts/acorn-agent`.
    pub helm_command: String,
    /// The values file the Helm command uses.
    pub helm_values: String,
    /// The equivalent plain manifest for `kubectl apply -f`.
    pub manifest: String,
}

/// Answer to a registration or a key rotation: the only time the agent key is shown.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ClusterWithKey {
    /// The cluster.
    pub cluster: ClusterView,
    /// The new agent key (`acorn_agent_…`).
    pub agent_key: String,
    /// Id of the key (for the audit log).
    pub agent_key_id: String,
    /// On rotation: when the previous keys stop working (RFC 3339).
    pub previous_keys_expire_at: Option<String>,
    /// Install instructions carrying this key.
    pub install: InstallInstructions,
}

/// `POST …/clusters/{cluster_id}/agent-key/rotate`.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RotateAgentKey {
    /// How long the previous keys keep working (default 3600, 0 = at once, at most 604800).
    #[serde(default)]
    pub overlap_seconds: Option<u64>,
}

/// `POST …/clusters/{cluster_id}/tools/{tool}/call`: one tool call outside a run (the console's
/// tool panel, operators' scripts). Authorized like a run of the given mode.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CallTool {
    /// The arguments object (checked by the agent against the tool's schema).
    #[serde(default = "empty_object")]
    pub arguments: serde_json::Value,
    /// `read_only` (default) or `read_write` (needs `runs.create_read_write`).
    #[serde(default = "read_only")]
    pub mode: RunMode,
    /// Per-call timeout in milliseconds (default 30000, at most 300000).
    #[serde(default)]
    pub timeout_ms: Option<u64>,
}

fn empty_object() -> serde_json::Value {
    serde_json::Value::Object(serde_json::Map::new())
}

fn read_only() -> RunMode {
    RunMode::ReadOnly
}
