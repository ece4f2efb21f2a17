//! Builtin Kubernetes tools, as the gateway sees them: the [`ClusterTools`] interface that the
//! cluster link (the agent hub in `control/`) implements, and [`PlaceholderClusterTools`], which
//! stands in until the hub is wired in. The placeholder offers no catalog and answers every call
//! with `agent_disconnected`: it never pretends that a tool ran.

use std::future::Future;
use std::pin::Pin;

use acorn_proto::agent::{RunMode, ToolError, ToolErrorCode, ToolOutput, ToolSpec};

/// The result of a builtin tool call.
pub type ToolResult = Result<ToolOutput, ToolError>;

/// A boxed future (the trait is used as `Arc<dyn ClusterTools>`).
pub type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// What the gateway needs from the cluster link.
pub trait ClusterTools: Send + Sync {
    /// The builtin tools of a connected cluster's agent (`None`: unknown cluster, or no agent
    /// connected).
    fn catalog(&self, workspace: &str, cluster: &str) -> Option<Vec<ToolSpec>>;

    /// Runs a builtin tool on the cluster's agent.
    fn call<'a>(
        &'a self,
        workspace: &'a str,
        cluster: &'a str,
        tool: &'a str,
        args: serde_json::Value,
        mode: RunMode,
        run_id: &'a str,
    ) -> BoxFuture<'a, ToolResult>;
}

/// Stand-in for the agent hub until the cluster link is wired in (named as such on purpose):
/// no cluster is ever connected.
#[derive(Debug, Default, Clone, Copy)]
pub struct PlaceholderClusterTools;

impl ClusterTools for PlaceholderClusterTools {
    fn catalog(&self, _workspace: &str, _cluster: &str) -> Option<Vec<ToolSpec>> {
        None
    }

    fn call<'a>(
        &'a self,
        _workspace: &'a str,
        cluster: &'a str,
        _tool: &'a str,
        _args: serde_json::Value,
        _mode: RunMode,
        _run_id: &'a str,
    ) -> BoxFuture<'a, ToolResult> {
        let message = format!(
            "no agent is connected for cluster {cluster} (this build's gateway uses the placeholder cluster link)"
        );
        Box::pin(async move {
            Err(ToolError {
                code: ToolErrorCode::AgentDisconnected,
                message,
            })
        })
    }
}
