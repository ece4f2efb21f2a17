//! The builtin Kubernetes tools: the catalog the agent advertises and [`run`], which executes
//! one [`ToolCall`] under a [`Policy`] and returns one [`ToolOutcome`], redacted.
//!
//! (Work in progress: the interface is final, the tools arrive in the next commits.)

use acorn_proto::agent::{
    NamespaceFilter, ToolCall, ToolError, ToolErrorCode, ToolOutcome, ToolSpec,
};

use crate::redact::Redactor;

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

/// The tools this agent offers.
pub fn catalog() -> Vec<ToolSpec> {
    Vec::new()
}

/// Runs one tool call.
pub async fn run(
    _client: &kube::Client,
    _policy: &Policy,
    redactor: &Redactor,
    call: &ToolCall,
) -> ToolOutcome {
    let (message, _) = redactor.redact(&format!("the agent offers no tool {:?}", call.tool));
    ToolOutcome::Error(ToolError {
        code: ToolErrorCode::ToolUnknown,
        message,
    })
}
