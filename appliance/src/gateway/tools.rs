//! Builtin Kubernetes tools, as the gateway sees them: the [`ClusterTools`] interface that the
//! cluster link implements (`control::clusters::GatewayClusterTools`, through the agent hub).

use std::future::Future;
use std::pin::Pin;

use acorn_proto::agent::{RunMode, ToolError, ToolOutput, ToolSpec};

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
