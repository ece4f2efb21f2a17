//! The builtin Kubernetes tools: the catalog the agent advertises ([`catalog`]) and [`run`],
//! which executes one [`ToolCall`] under a [`Policy`] and returns exactly one [`ToolOutcome`].
//!
//! Every call goes through the same gate, in this order: the tool must be in the catalog
//! (`tool_unknown`); a write tool needs a read-write run (`tool_write_in_read_only_run`, checked
//! first so a read-only run always gets that answer) and writes enabled by both the agent and the
//! cluster registration (`tool_writes_disabled`); the arguments must deserialize into the tool's
//! type from `acorn_proto::tools` (`tool_arguments_invalid`, naming the field); a namespace
//! outside the filter is refused before any API call (`tool_namespace_excluded`). Whatever comes
//! back — content or error message — passes through the [`Redactor`] and is then bounded in
//! bytes and lines.
//!
//! Layout:
//! - `kinds`: resolving `pods` / `deploy` / `Certificate` to an API resource (a built-in table,
//!   then discovery for custom resources).
//! - `render`: tables like `kubectl get`, ages, YAML, object trimming (no managedFields, no
//!   last-applied annotation, no Secret data), quantities, output bounds.
//! - `read`: `list_resources`, `get_resource`, `get_events`, `get_pod_logs`, and the
//!   printers (pod status like kubectl's, tables per kind) the other tools share.
//! - `describe`: `describe` (state, owner chain, events).
//! - `metrics`: `top_pods`, `top_nodes` (metrics.k8s.io).
//! - `rollout`: `rollout_history`.
//! - `write`: the write tools (typed changes only, server-side dry run with a diff).
//!
//! The tools never exec, never open a shell and never accept a free-form patch document.
//!
//! The caller's `kube::Client` should be built with `Config::default_retry = false` (or a short
//! retry policy): kube's default retries 429/503/504 up to 15 times with backoff growing to
//! 1000 s, which turns "metrics-server is down" (503) into a tool timeout instead of an answer.

mod describe;
mod kinds;
mod metrics;
mod read;
mod render;
mod rollout;
mod write;

#[cfg(test)]
mod tests;

use acorn_proto::agent::{
    NamespaceFilter, RunMode, ToolCall, ToolClass, ToolError, ToolErrorCode, ToolOutcome,
    ToolOutput, ToolSpec,
};
use acorn_proto::tools as args;
use serde::de::DeserializeOwned;

use crate::redact::Redactor;
use render::{Bounds, Keep};

/// What the agent may do right now.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Policy {
    /// The effective namespace filter.
    pub namespaces: NamespaceFilter,
    /// `ACORN_AGENT_WRITE_ENABLED`.
    pub write_enabled: bool,
    /// From the hub's Welcome (cluster registration).
    pub write_allowed: bool,
    /// Agent configuration AND Welcome.
    pub logs_allowed: bool,
}

/// One tool of the catalog.
struct ToolDef {
    name: &'static str,
    description: &'static str,
    class: ToolClass,
    schema: fn() -> serde_json::Value,
}

fn schema_of<T: schemars::JsonSchema>() -> serde_json::Value {
    let generator = schemars::generate::SchemaSettings::draft2020_12().into_generator();
    generator.into_root_schema_for::<T>().to_value()
}

const TOOLS: &[ToolDef] = &[
    ToolDef {
        name: "list_resources",
        description: "List objects of one kind (pods, deployments, nodes, events, any custom resource) as a compact table like `kubectl get`: name, namespace, status columns, age. Filter by namespace, label and field selectors.",
        class: ToolClass::Read,
        schema: schema_of::<args::ListResourcesArgs>,
    },
    ToolDef {
        name: "get_resource",
        description: "Get one object as YAML, trimmed (no managedFields, no last-applied annotation; Secrets show type and keys only).",
        class: ToolClass::Read,
        schema: schema_of::<args::GetResourceArgs>,
    },
    ToolDef {
        name: "describe",
        description: "Describe one object like a short `kubectl describe`: its state (containers, conditions, replicas), its owner chain up to the top owner, and its events, newest first.",
        class: ToolClass::Read,
        schema: schema_of::<args::DescribeArgs>,
    },
    ToolDef {
        name: "get_events",
        description: "Events of a namespace and/or one involved object, newest first; filter by type (Normal/Warning).",
        class: ToolClass::Read,
        schema: schema_of::<args::GetEventsArgs>,
    },
    ToolDef {
        name: "get_pod_logs",
        description: "The log of a pod's container (tail, since, or the previous instance after a crash with previous=true). Secrets in the log are masked.",
        class: ToolClass::Read,
        schema: schema_of::<args::GetPodLogsArgs>,
    },
    ToolDef {
        name: "top_pods",
        description: "CPU and memory use of pods from metrics-server (metrics.k8s.io), with memory limits beside the use.",
        class: ToolClass::Read,
        schema: schema_of::<args::TopPodsArgs>,
    },
    ToolDef {
        name: "top_nodes",
        description: "CPU and memory use of nodes from metrics-server (metrics.k8s.io), with their share of allocatable.",
        class: ToolClass::Read,
        schema: schema_of::<args::TopNodesArgs>,
    },
    ToolDef {
        name: "rollout_history",
        description: "Revisions of a Deployment (its ReplicaSets), StatefulSet or DaemonSet (ControllerRevisions) with images and change-cause.",
        class: ToolClass::Read,
        schema: schema_of::<args::RolloutHistoryArgs>,
    },
    ToolDef {
        name: "restart_workload",
        description: "Rolling restart of a Deployment, StatefulSet or DaemonSet (what `kubectl rollout restart` does). dry_run=true shows the change without making it.",
        class: ToolClass::Write,
        schema: schema_of::<args::RestartWorkloadArgs>,
    },
    ToolDef {
        name: "scale_workload",
        description: "Set the replica count of a Deployment or StatefulSet (0 only with allow_scale_to_zero=true). dry_run=true shows the change without making it.",
        class: ToolClass::Write,
        schema: schema_of::<args::ScaleWorkloadArgs>,
    },
    ToolDef {
        name: "delete_pod",
        description: "Delete one pod; its controller, if any, replaces it. dry_run=true shows what would go without deleting.",
        class: ToolClass::Write,
        schema: schema_of::<args::DeletePodArgs>,
    },
    ToolDef {
        name: "cordon_node",
        description: "Mark a node unschedulable (`kubectl cordon`). dry_run=true shows the change without making it.",
        class: ToolClass::Write,
        schema: schema_of::<args::NodeArgs>,
    },
    ToolDef {
        name: "uncordon_node",
        description: "Mark a node schedulable again (`kubectl uncordon`). dry_run=true shows the change without making it.",
        class: ToolClass::Write,
        schema: schema_of::<args::NodeArgs>,
    },
    ToolDef {
        name: "patch_workload",
        description: "Change a workload's container image, resources or plain environment variables, or its labels and annotations. Typed fields only; environment variables that look like credentials or come from Secrets are refused. dry_run=true shows the diff without making the change.",
        class: ToolClass::Write,
        schema: schema_of::<args::PatchWorkloadArgs>,
    },
];

/// The tools this agent offers, with the JSON Schema (draft 2020-12) of their arguments.
pub fn catalog() -> Vec<ToolSpec> {
    TOOLS
        .iter()
        .map(|t| ToolSpec {
            name: t.name.to_string(),
            description: t.description.to_string(),
            class: t.class,
            input_schema: (t.schema)(),
        })
        .collect()
}

/// Runs one tool call and returns its outcome, redacted and bounded. Timeouts and cancellation
/// are the caller's: dropping the future abandons the call.
pub async fn run(
    client: &kube::Client,
    policy: &Policy,
    redactor: &Redactor,
    call: &ToolCall,
) -> ToolOutcome {
    let ctx = Ctx { client, policy };
    match dispatch(&ctx, call).await {
        Ok(content) => {
            let (text, redactions) = redactor.redact(&content.text);
            let (text, cut) = render::bound(&text, content.bounds, content.keep);
            ToolOutcome::Ok(ToolOutput {
                content: text,
                truncated: cut || content.truncated,
                redactions,
            })
        }
        Err(failure) => {
            let (message, _) = redactor.redact(&failure.message);
            ToolOutcome::Error(ToolError {
                code: failure.code,
                message,
            })
        }
    }
}

/// What a tool hands back before redaction and bounding.
struct Content {
    text: String,
    bounds: Bounds,
    /// Which end survives when the text is cut (logs keep their newest lines).
    keep: Keep,
    /// Already cut at the source (a list limit was reached).
    truncated: bool,
}

impl Content {
    fn head(text: String, bounds: Bounds) -> Content {
        Content {
            text,
            bounds,
            keep: Keep::Head,
            truncated: false,
        }
    }
}

/// Why a tool call failed, before redaction.
#[derive(Debug)]
struct Failure {
    code: ToolErrorCode,
    message: String,
    /// The HTTP status when the Kubernetes API answered with an error.
    http_status: Option<u16>,
}

impl Failure {
    fn new(code: ToolErrorCode, message: impl Into<String>) -> Failure {
        Failure {
            code,
            message: message.into(),
            http_status: None,
        }
    }

    fn invalid(message: impl Into<String>) -> Failure {
        Failure::new(ToolErrorCode::ToolArgumentsInvalid, message)
    }
}

impl From<kube::Error> for Failure {
    fn from(error: kube::Error) -> Failure {
        match error {
            kube::Error::Api(status) => {
                let message = if status.message.is_empty() {
                    format!(
                        "the Kubernetes API answered {} {}",
                        status.code, status.reason
                    )
                } else {
                    status.message.clone()
                };
                let code = match status.code {
                    403 => ToolErrorCode::ToolForbiddenByRbac,
                    404 => ToolErrorCode::ToolObjectNotFound,
                    _ => ToolErrorCode::ToolKubernetesError,
                };
                Failure {
                    code,
                    message,
                    http_status: Some(status.code),
                }
            }
            other => Failure::new(
                ToolErrorCode::ToolKubernetesError,
                format!("the Kubernetes API could not be reached: {other}"),
            ),
        }
    }
}

/// What every tool gets.
struct Ctx<'a> {
    client: &'a kube::Client,
    policy: &'a Policy,
}

impl Ctx<'_> {
    /// Refuses a namespace outside the filter (before any API call is made).
    fn check_namespace(&self, namespace: &str) -> Result<(), Failure> {
        if self.policy.namespaces.allows(Some(namespace)) {
            Ok(())
        } else {
            Err(Failure::new(
                ToolErrorCode::ToolNamespaceExcluded,
                format!("namespace {namespace:?} is outside this cluster's namespace filter"),
            ))
        }
    }

    fn in_view(&self, namespace: Option<&str>) -> bool {
        self.policy.namespaces.allows(namespace)
    }
}

/// Deserializes a tool's arguments; the error names the field at fault.
fn parse_args<T: DeserializeOwned>(
    tool: &str,
    arguments: &serde_json::Value,
) -> Result<T, Failure> {
    // A model that calls a tool without arguments sends null; treat it as an empty object so
    // the answer names the missing field.
    let empty = serde_json::Value::Object(serde_json::Map::new());
    let value = if arguments.is_null() {
        &empty
    } else {
        arguments
    };
    serde_path_to_error::deserialize(value).map_err(|e| {
        let path = e.path().to_string();
        let inner = e.into_inner();
        if path == "." {
            Failure::invalid(format!("arguments of {tool}: {inner}"))
        } else {
            Failure::invalid(format!("arguments of {tool}: field `{path}`: {inner}"))
        }
    })
}

async fn dispatch(ctx: &Ctx<'_>, call: &ToolCall) -> Result<Content, Failure> {
    let Some(def) = TOOLS.iter().find(|t| t.name == call.tool) else {
        return Err(Failure::new(
            ToolErrorCode::ToolUnknown,
            format!("this agent offers no tool named {:?}", call.tool),
        ));
    };
    if def.class == ToolClass::Write {
        if call.mode != RunMode::ReadWrite {
            return Err(Failure::new(
                ToolErrorCode::ToolWriteInReadOnlyRun,
                format!("{} changes the cluster and this run is read-only", def.name),
            ));
        }
        if !ctx.policy.write_enabled || !ctx.policy.write_allowed {
            let why = match (ctx.policy.write_enabled, ctx.policy.write_allowed) {
                (false, false) => {
                    "the agent has ACORN_AGENT_WRITE_ENABLED off and the cluster's registration does not allow writes"
                }
                (false, true) => "the agent has ACORN_AGENT_WRITE_ENABLED off",
                _ => "the cluster's registration does not allow writes",
            };
            return Err(Failure::new(
                ToolErrorCode::ToolWritesDisabled,
                format!("write tools are disabled: {why}"),
            ));
        }
    }
    let a = &call.arguments;
    let name = def.name;
    match name {
        "list_resources" => read::list_resources(ctx, parse_args(name, a)?).await,
        "get_resource" => read::get_resource(ctx, parse_args(name, a)?).await,
        "describe" => describe::describe(ctx, parse_args(name, a)?).await,
        "get_events" => read::get_events(ctx, parse_args(name, a)?).await,
        "get_pod_logs" => read::get_pod_logs(ctx, parse_args(name, a)?).await,
        "top_pods" => metrics::top_pods(ctx, parse_args(name, a)?).await,
        "top_nodes" => metrics::top_nodes(ctx, parse_args(name, a)?).await,
        "rollout_history" => rollout::history(ctx, parse_args(name, a)?).await,
        "restart_workload" => write::restart(ctx, parse_args(name, a)?).await,
        "scale_workload" => write::scale(ctx, parse_args(name, a)?).await,
        "delete_pod" => write::delete_pod(ctx, parse_args(name, a)?).await,
        "cordon_node" => write::cordon(ctx, parse_args(name, a)?, true).await,
        "uncordon_node" => write::cordon(ctx, parse_args(name, a)?, false).await,
        "patch_workload" => write::patch_workload(ctx, parse_args(name, a)?).await,
        other => Err(Failure::new(
            ToolErrorCode::ToolUnknown,
            format!("this agent offers no tool named {other:?}"),
        )),
    }
}
