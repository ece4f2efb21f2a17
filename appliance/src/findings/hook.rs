//! Where findings' transitions go. The service calls every [`TransitionHook`] with the
//! transitions of one evaluation of one cluster: the log ([`LogHook`]) and auto-triage
//! (`super::triage`). Webhooks are not a hook: their `finding.*` events are written by the
//! store in the transaction of the findings record (`super::evaluate`), so a crash between the
//! record and a hook cannot lose them. Hooks must not block (they run on the service's loop).

use acorn_findings::{Transition, TransitionKind};
use acorn_store::Cluster;

/// Receives the transitions of one evaluation. Implementations must return quickly: spawn for
/// anything slow.
pub trait TransitionHook: Send + Sync {
    fn transitions(&self, cluster: &Cluster, transitions: &[Transition]);
}

/// The stable name of a transition kind (logs, webhooks).
pub const fn kind_name(kind: TransitionKind) -> &'static str {
    match kind {
        TransitionKind::Opened => "opened",
        TransitionKind::Reactivated => "reactivated",
        TransitionKind::Recovering => "recovering",
        TransitionKind::Resolved => "resolved",
    }
}

/// Logs every transition (one line each, at info).
pub struct LogHook;

impl TransitionHook for LogHook {
    fn transitions(&self, cluster: &Cluster, transitions: &[Transition]) {
        for t in transitions {
            let f = &t.finding;
            tracing::info!(
                workspace = %cluster.workspace_id,
                cluster = %cluster.id,
                transition = kind_name(t.kind),
                finding = %f.id,
                rule = %f.rule,
                severity = f.severity.as_str(),
                object = %f.primary().map(|o| o.display()).unwrap_or_default(),
                count = f.count,
                "finding {}: {}",
                kind_name(t.kind),
                f.title
            );
        }
    }
}
