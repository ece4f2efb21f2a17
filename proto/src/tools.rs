//! Arguments of the agent's builtin Kubernetes tools.
//!
//! Each tool takes one JSON object; its type here is the contract. The agent checks a call's
//! `arguments` by deserializing them into the tool's type (unknown fields are refused), and
//! publishes the JSON Schema generated from the same type in its catalog (feature `schemars`,
//! which only the agent turns on, so that this crate stays serde-only for everyone else).
//!
//! Read tools bound their output to [`MAX_OUTPUT_BYTES`] and [`MAX_OUTPUT_LINES`]; their
//! `max_bytes` / `max_lines` arguments can only ask for less. Write tools all take `dry_run`:
//! `true` asks the API server to validate the change without persisting it (`dryRun=All`) and
//! returns the difference the change would make.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

/// The most bytes a tool's content carries.
pub const MAX_OUTPUT_BYTES: u32 = 64 * 1024;
/// The most lines a tool's content carries.
pub const MAX_OUTPUT_LINES: u32 = 2_000;

/// `list_resources`: objects of one kind, as a compact table like `kubectl get`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schemars", derive(schemars::JsonSchema))]
#[serde(deny_unknown_fields)]
pub struct ListResourcesArgs {
    /// Kind, plural or short name: `Pod`, `pods`, `po`, `deployments.apps`, `Certificate`, …
    pub kind: String,
    /// Namespace to list in; absent lists every namespace in view (ignored for cluster-scoped kinds).
    pub namespace: Option<String>,
    /// Label selector, e.g. `app=checkout,tier!=cache`.
    pub label_selector: Option<String>,
    /// Field selector, e.g. `status.phase=Pending` (pods) or `spec.nodeName=worker-1`.
    pub field_selector: Option<String>,
    /// At most this many objects (default 500).
    pub limit: Option<u32>,
    /// Cut the output after this many lines (at most 2000).
    pub max_lines: Option<u32>,
    /// Cut the output after this many bytes (at most 65536).
    pub max_bytes: Option<u32>,
}

/// `get_resource`: one object as YAML, trimmed (no managedFields, no last-applied annotation;
/// Secrets show their type and keys, never their data).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schemars", derive(schemars::JsonSchema))]
#[serde(deny_unknown_fields)]
pub struct GetResourceArgs {
    /// Kind, plural or short name.
    pub kind: String,
    /// Namespace of the object (absent for cluster-scoped kinds).
    pub namespace: Option<String>,
    /// `metadata.name`.
    pub name: String,
    /// Cut the output after this many lines (at most 2000).
    pub max_lines: Option<u32>,
    /// Cut the output after this many bytes (at most 65536).
    pub max_bytes: Option<u32>,
}

/// `describe`: a short `kubectl describe` — the object's state, its owner chain up to the top
/// owner, and its events, newest first.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schemars", derive(schemars::JsonSchema))]
#[serde(deny_unknown_fields)]
pub struct DescribeArgs {
    /// Kind, plural or short name.
    pub kind: String,
    /// Namespace of the object (absent for cluster-scoped kinds).
    pub namespace: Option<String>,
    /// `metadata.name`.
    pub name: String,
    /// Cut the output after this many lines (at most 2000).
    pub max_lines: Option<u32>,
    /// Cut the output after this many bytes (at most 65536).
    pub max_bytes: Option<u32>,
}

/// Event type filter.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schemars", derive(schemars::JsonSchema))]
pub enum EventType {
    /// Routine events.
    Normal,
    /// Something went wrong.
    Warning,
}

/// `get_events`: events, newest first.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schemars", derive(schemars::JsonSchema))]
#[serde(deny_unknown_fields)]
pub struct GetEventsArgs {
    /// Namespace of the events; absent means every namespace in view.
    pub namespace: Option<String>,
    /// Only events about objects of this kind (`Pod`, `Node`, …).
    pub involved_kind: Option<String>,
    /// Only events about the object of this name.
    pub involved_name: Option<String>,
    /// Only `Normal` or only `Warning` events.
    #[serde(rename = "type")]
    pub event_type: Option<EventType>,
    /// At most this many events (default 100).
    pub limit: Option<u32>,
    /// Cut the output after this many lines (at most 2000).
    pub max_lines: Option<u32>,
    /// Cut the output after this many bytes (at most 65536).
    pub max_bytes: Option<u32>,
}

/// `get_pod_logs`: a container's log (the end of it when cut).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schemars", derive(schemars::JsonSchema))]
#[serde(deny_unknown_fields)]
pub struct GetPodLogsArgs {
    /// Namespace of the pod.
    pub namespace: String,
    /// Name of the pod.
    pub pod: String,
    /// Container name; required when the pod has more than one container.
    pub container: Option<String>,
    /// Only the last this many lines.
    pub tail_lines: Option<u32>,
    /// Only lines of the last this many seconds.
    pub since_seconds: Option<u32>,
    /// The log of the previous (terminated) instance of the container, e.g. after a crash.
    #[serde(default)]
    pub previous: bool,
    /// Cut the output after this many lines (at most 2000; the newest lines are kept).
    pub max_lines: Option<u32>,
    /// Cut the output after this many bytes (at most 65536; the newest lines are kept).
    pub max_bytes: Option<u32>,
}

/// Order of `top_pods` / `top_nodes`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schemars", derive(schemars::JsonSchema))]
#[serde(rename_all = "snake_case")]
pub enum TopSort {
    /// Highest CPU use first.
    Cpu,
    /// Highest memory use first.
    Memory,
}

/// `top_pods`: CPU and memory use of pods (metrics.k8s.io).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schemars", derive(schemars::JsonSchema))]
#[serde(deny_unknown_fields)]
pub struct TopPodsArgs {
    /// Namespace; absent means every namespace in view.
    pub namespace: Option<String>,
    /// Label selector of the pods.
    pub label_selector: Option<String>,
    /// Order (default: by name).
    pub sort_by: Option<TopSort>,
    /// Show one line per container instead of one per pod.
    #[serde(default)]
    pub containers: bool,
    /// Cut the output after this many lines (at most 2000).
    pub max_lines: Option<u32>,
}

/// `top_nodes`: CPU and memory use of nodes (metrics.k8s.io).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schemars", derive(schemars::JsonSchema))]
#[serde(deny_unknown_fields)]
pub struct TopNodesArgs {
    /// Order (default: by name).
    pub sort_by: Option<TopSort>,
    /// Cut the output after this many lines (at most 2000).
    pub max_lines: Option<u32>,
}

/// A workload with a pod template and a rollout.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schemars", derive(schemars::JsonSchema))]
pub enum WorkloadKind {
    /// apps/v1 Deployment.
    Deployment,
    /// apps/v1 StatefulSet.
    StatefulSet,
    /// apps/v1 DaemonSet.
    DaemonSet,
}

impl WorkloadKind {
    /// The Kubernetes kind name.
    pub fn as_str(self) -> &'static str {
        match self {
            WorkloadKind::Deployment => "Deployment",
            WorkloadKind::StatefulSet => "StatefulSet",
            WorkloadKind::DaemonSet => "DaemonSet",
        }
    }
}

/// A workload that has a replica count.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schemars", derive(schemars::JsonSchema))]
pub enum ScalableKind {
    /// apps/v1 Deployment.
    Deployment,
    /// apps/v1 StatefulSet.
    StatefulSet,
}

impl ScalableKind {
    /// The same kind as a [`WorkloadKind`].
    pub fn workload(self) -> WorkloadKind {
        match self {
            ScalableKind::Deployment => WorkloadKind::Deployment,
            ScalableKind::StatefulSet => WorkloadKind::StatefulSet,
        }
    }
}

/// `rollout_history`: the revisions of a workload (Deployment: its ReplicaSets; StatefulSet and
/// DaemonSet: their ControllerRevisions) with image and change-cause.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schemars", derive(schemars::JsonSchema))]
#[serde(deny_unknown_fields)]
pub struct RolloutHistoryArgs {
    /// Which kind of workload.
    pub kind: WorkloadKind,
    /// Namespace of the workload.
    pub namespace: String,
    /// Name of the workload.
    pub name: String,
    /// Cut the output after this many lines (at most 2000).
    pub max_lines: Option<u32>,
}

/// `restart_workload`: a rolling restart, as `kubectl rollout restart` does it (a
/// `kubectl.kubernetes.io/restartedAt` annotation on the pod template).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schemars", derive(schemars::JsonSchema))]
#[serde(deny_unknown_fields)]
pub struct RestartWorkloadArgs {
    /// Which kind of workload.
    pub kind: WorkloadKind,
    /// Namespace of the workload.
    pub namespace: String,
    /// Name of the workload.
    pub name: String,
    /// `true`: only validate on the server and show the difference; nothing changes.
    pub dry_run: bool,
}

/// `scale_workload`: set the replica count.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schemars", derive(schemars::JsonSchema))]
#[serde(deny_unknown_fields)]
pub struct ScaleWorkloadArgs {
    /// Which kind of workload.
    pub kind: ScalableKind,
    /// Namespace of the workload.
    pub namespace: String,
    /// Name of the workload.
    pub name: String,
    /// The new replica count.
    pub replicas: u32,
    /// Must be `true` to scale to 0 (which stops the workload).
    #[serde(default)]
    pub allow_scale_to_zero: bool,
    /// `true`: only validate on the server and show the difference; nothing changes.
    pub dry_run: bool,
}

/// `delete_pod`: delete one pod (its controller, if any, creates a new one).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schemars", derive(schemars::JsonSchema))]
#[serde(deny_unknown_fields)]
pub struct DeletePodArgs {
    /// Namespace of the pod.
    pub namespace: String,
    /// Name of the pod.
    pub name: String,
    /// Seconds the pod gets to stop (default: the pod's own grace period).
    pub grace_period_seconds: Option<u32>,
    /// `true`: only validate on the server and show what would go; nothing changes.
    pub dry_run: bool,
}

/// `cordon_node` / `uncordon_node`: mark a node (un)schedulable.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schemars", derive(schemars::JsonSchema))]
#[serde(deny_unknown_fields)]
pub struct NodeArgs {
    /// Name of the node.
    pub name: String,
    /// `true`: only validate on the server and show the difference; nothing changes.
    pub dry_run: bool,
}

/// Compute resources of a container, as Kubernetes quantities (`cpu: 500m`, `memory: 512Mi`).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schemars", derive(schemars::JsonSchema))]
#[serde(deny_unknown_fields)]
pub struct ResourcesPatch {
    /// Requests to set, by resource name (`cpu`, `memory`, `ephemeral-storage`).
    #[serde(default)]
    pub requests: BTreeMap<String, String>,
    /// Limits to set, by resource name.
    #[serde(default)]
    pub limits: BTreeMap<String, String>,
}

/// One environment variable with a plain value (references to Secrets cannot be set).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schemars", derive(schemars::JsonSchema))]
#[serde(deny_unknown_fields)]
pub struct EnvVarPatch {
    /// Variable name; names that look like credentials (`*PASSWORD*`, `*TOKEN*`, `*SECRET*`,
    /// `*KEY*`, …) are refused.
    pub name: String,
    /// The plain value.
    pub value: String,
}

/// `patch_workload`: change a workload's container image, resources or plain environment
/// variables, or its own labels and annotations. Typed fields only: no patch documents.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schemars", derive(schemars::JsonSchema))]
#[serde(deny_unknown_fields)]
pub struct PatchWorkloadArgs {
    /// Which kind of workload.
    pub kind: WorkloadKind,
    /// Namespace of the workload.
    pub namespace: String,
    /// Name of the workload.
    pub name: String,
    /// The container that `image`, `resources` and `env` apply to; required when the pod
    /// template has more than one container.
    pub container: Option<String>,
    /// New image of the container.
    pub image: Option<String>,
    /// Requests and limits to set on the container (others are kept).
    pub resources: Option<ResourcesPatch>,
    /// Environment variables to set on the container (others are kept).
    #[serde(default)]
    pub env: Vec<EnvVarPatch>,
    /// Labels of the workload object to set (a string) or remove (`null`).
    #[serde(default)]
    pub labels: BTreeMap<String, Option<String>>,
    /// Annotations of the workload object to set (a string) or remove (`null`).
    #[serde(default)]
    pub annotations: BTreeMap<String, Option<String>>,
    /// `true`: only validate on the server and show the difference; nothing changes.
    pub dry_run: bool,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unknown_fields_are_refused() {
        let err = serde_json::from_value::<GetResourceArgs>(serde_json::json!({
            "kind": "Pod", "name": "x", "verbose": true
        }));
        assert!(err.is_err());
    }

    #[test]
    fn optional_fields_may_be_absent() {
        let args: GetEventsArgs =
            serde_json::from_value(serde_json::json!({"type": "Warning"})).unwrap();
        assert_eq!(args.event_type, Some(EventType::Warning));
        assert_eq!(args.namespace, None);
        let logs: GetPodLogsArgs =
            serde_json::from_value(serde_json::json!({"namespace": "a", "pod": "b"})).unwrap();
        assert!(!logs.previous);
    }
}
