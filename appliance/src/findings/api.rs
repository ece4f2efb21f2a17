//! The services behind the findings API: `GET /api/v1/workspaces/{id}/findings` (every cluster
//! of the workspace) and `GET …/clusters/{cluster_id}/findings` (one), both `clusters.read`.
//! They read the stored `FindingsRecord`s, never evaluate (the service keeps them current).
//!
//! Order: most severe first, then by cluster, rule and finding id — stable, so that cursors of
//! [`crate::control::routes::extract::paginate`] work: the page key is [`sort_key`].

use acorn_findings::{FindingState, Severity};
use acorn_proto::ErrorCode;
use acorn_proto::authz::Action;
use acorn_proto::findings::FindingView;
use serde::Deserialize;

use crate::control::Control;
use crate::control::auth::Caller;
use crate::control::authz::authorize;
use crate::control::error::ApiError;

/// `?cluster_id=&severity=&state=&rule=&cursor=&limit=`.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FindingsQuery {
    /// Only this cluster (workspace listing only).
    pub cluster_id: Option<String>,
    /// `critical`, `warning` or `info`.
    pub severity: Option<String>,
    /// `active`, `recovering`, `resolved`, or `open` (active and recovering). Default: all.
    pub state: Option<String>,
    /// A rule id, e.g. `pod.crash_loop`.
    pub rule: Option<String>,
    /// `next_cursor` of the previous page.
    pub cursor: Option<String>,
    /// Items per page (1–500, default 100).
    pub limit: Option<usize>,
}

/// The filters, checked.
struct Filter {
    severity: Option<Severity>,
    states: Option<Vec<FindingState>>,
    rule: Option<String>,
}

fn invalid(message: String) -> ApiError {
    ApiError::new(ErrorCode::InvalidParameter, message)
}

fn filter(q: &FindingsQuery) -> Result<Filter, ApiError> {
    let severity = match q.severity.as_deref() {
        None => None,
        Some("critical") => Some(Severity::Critical),
        Some("warning") => Some(Severity::Warning),
        Some("info") => Some(Severity::Info),
        Some(other) => {
            return Err(invalid(format!(
                "`severity` is {other:?}; use critical, warning or info"
            )));
        }
    };
    let states = match q.state.as_deref() {
        None => None,
        Some("active") => Some(vec![FindingState::Active]),
        Some("recovering") => Some(vec![FindingState::Recovering]),
        Some("resolved") => Some(vec![FindingState::Resolved]),
        Some("open") => Some(vec![FindingState::Active, FindingState::Recovering]),
        Some(other) => {
            return Err(invalid(format!(
                "`state` is {other:?}; use active, recovering, resolved or open"
            )));
        }
    };
    let rule = q.rule.clone();
    if let Some(r) = &rule
        && (r.is_empty() || r.len() > 100)
    {
        return Err(invalid("`rule` must be 1 to 100 characters".into()));
    }
    Ok(Filter {
        severity,
        states,
        rule,
    })
}

/// The key findings are ordered and paged by.
pub fn sort_key(v: &FindingView) -> String {
    let rank = match v.finding.severity {
        Severity::Critical => 0,
        Severity::Warning => 1,
        Severity::Info => 2,
    };
    format!(
        "{rank}/{}/{}/{}",
        v.cluster_id, v.finding.rule, v.finding.id
    )
}

/// The findings of a workspace's clusters (or of one, with `cluster_id`), filtered, in order.
/// Each is returned with its sort key.
pub async fn list(
    control: &Control,
    caller: &Caller,
    workspace_id: &str,
    cluster_id: Option<&str>,
    q: &FindingsQuery,
) -> Result<Vec<(String, FindingView)>, ApiError> {
    authorize(control, caller, workspace_id, Action::ClustersRead).await?;
    let f = filter(q)?;
    let clusters = match cluster_id {
        Some(id) => vec![
            control
                .store
                .cluster(workspace_id, id)?
                .ok_or_else(|| ApiError::not_found("cluster"))?,
        ],
        None => control.store.clusters(workspace_id)?,
    };
    let mut out = Vec::new();
    for cluster in clusters {
        let Some(record) = control.store.findings_record(&cluster.id)? else {
            continue;
        };
        // A record is keyed by cluster id alone: check it is this workspace's.
        if record.workspace_id != workspace_id {
            continue;
        }
        for finding in record.findings {
            if f.severity.is_some_and(|s| s != finding.severity)
                || f.states
                    .as_ref()
                    .is_some_and(|s| !s.contains(&finding.state))
                || f.rule.as_ref().is_some_and(|r| *r != finding.rule)
            {
                continue;
            }
            let view = FindingView {
                cluster_id: cluster.id.clone(),
                cluster_name: cluster.name.clone(),
                finding,
            };
            out.push((sort_key(&view), view));
        }
    }
    out.sort_by(|a, b| a.0.cmp(&b.0));
    Ok(out)
}

/// The open findings of one cluster (the engine's context), most severe first; empty when it
/// was never evaluated. No authorization: the caller already holds the run.
pub fn open_findings(store: &acorn_store::Store, cluster_id: &str) -> Vec<acorn_findings::Finding> {
    store
        .findings_record(cluster_id)
        .ok()
        .flatten()
        .map(|r| {
            r.findings
                .into_iter()
                .filter(|f| f.state != FindingState::Resolved)
                .collect()
        })
        .unwrap_or_default()
}
