//! Audit records: building drafts from a caller (with sanitized metadata), and the query,
//! export and chain-verification services. The store appends a record in the same transaction as
//! the change it describes, so a change is never without its record.

use std::collections::BTreeMap;

use acorn_proto::authz::Action;
use acorn_proto::identity::{AuditChainView, AuditView, Page};
use acorn_store::{
    Actor, ActorKind, AuditDraft, AuditFilter, AuditRecord, AuditResult, Category, Operation,
};

use super::Control;
use super::auth::{Caller, Principal, RequestMeta};
use super::authz::authorize;
use super::error::ApiError;
use crate::util;

/// A success draft for `action` by `caller`.
pub fn draft(
    caller: &Caller,
    workspace_id: Option<&str>,
    action: &str,
    target: Option<String>,
    category: Category,
    operation: Operation,
) -> AuditDraft {
    AuditDraft {
        workspace_id: workspace_id.map(str::to_owned),
        actor: actor(caller),
        action: action.to_owned(),
        target,
        result: AuditResult::Success,
        source_ip: caller.meta.source_ip.clone(),
        request_id: caller.meta.request_id.clone(),
        operation,
        category,
        metadata: BTreeMap::new(),
        at: util::now_unix(),
    }
}

/// A draft for an event without a signed-in caller (sign-in attempts).
pub fn anonymous_draft(
    meta: &RequestMeta,
    action: &str,
    target: Option<String>,
    result: AuditResult,
) -> AuditDraft {
    AuditDraft {
        workspace_id: None,
        actor: Actor {
            kind: ActorKind::System,
            id: "anonymous".into(),
            display: "anonymous".into(),
        },
        action: action.to_owned(),
        target,
        result,
        source_ip: meta.source_ip.clone(),
        request_id: meta.request_id.clone(),
        operation: Operation::Write,
        category: Category::Auth,
        metadata: BTreeMap::new(),
        at: util::now_unix(),
    }
}

/// A draft for something a cluster's agent did (connect, disconnect, replaced, refused).
pub fn agent_draft(
    workspace_id: &str,
    cluster_id: &str,
    cluster_name: &str,
    action: &str,
    source_ip: Option<String>,
) -> AuditDraft {
    AuditDraft {
        workspace_id: Some(workspace_id.to_owned()),
        actor: Actor {
            kind: ActorKind::Agent,
            id: cluster_id.to_owned(),
            display: format!("agent of cluster {cluster_name}"),
        },
        action: action.to_owned(),
        target: Some(cluster_id.to_owned()),
        result: AuditResult::Success,
        source_ip,
        request_id: None,
        operation: Operation::Write,
        category: Category::Cluster,
        metadata: BTreeMap::new(),
        at: util::now_unix(),
    }
}

fn actor(caller: &Caller) -> Actor {
    let display = caller
        .user
        .name
        .clone()
        .or_else(|| caller.user.email.clone())
        .unwrap_or_else(|| caller.user.id.clone());
    match &caller.principal {
        Principal::Session { .. } => Actor {
            kind: ActorKind::User,
            id: caller.user.id.clone(),
            display,
        },
        Principal::Token(t) => Actor {
            kind: ActorKind::Token,
            id: t.id.clone(),
            display: format!("{display} (token {})", t.name),
        },
    }
}

/// Metadata keys never recorded, whatever a caller passes (last line before the store's own check).
const FORBIDDEN_KEYS: &[&str] = &[
    "password",
    "token",
    "secret",
    "authorization",
    "cookie",
    "message",
    "log",
];

/// Adds `key=value` unless the key could carry a secret or user content; values are truncated.
pub fn with_meta(mut draft: AuditDraft, key: &str, value: &str) -> AuditDraft {
    let lower = key.to_ascii_lowercase();
    if !FORBIDDEN_KEYS.iter().any(|k| lower.contains(k)) {
        draft
            .metadata
            .insert(key.to_owned(), value.chars().take(200).collect());
    }
    draft
}

/// Query parameters of `GET /api/v1/workspaces/{id}/audit`.
#[derive(Debug, Default, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AuditQuery {
    pub actor: Option<String>,
    pub category: Option<Category>,
    /// RFC 3339.
    pub since: Option<String>,
    /// RFC 3339.
    pub until: Option<String>,
    pub cursor: Option<String>,
    pub limit: Option<usize>,
}

/// Query parameters of `GET /api/v1/workspaces/{id}/audit/export`: the list's filters, no paging.
#[derive(Debug, Default, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ExportQuery {
    pub actor: Option<String>,
    pub category: Option<Category>,
    /// RFC 3339.
    pub since: Option<String>,
    /// RFC 3339.
    pub until: Option<String>,
}

/// Lists audit records (the read itself is audited).
pub async fn list(
    control: &Control,
    caller: &Caller,
    workspace_id: &str,
    query: AuditQuery,
) -> Result<Page<AuditView>, ApiError> {
    authorize(control, caller, workspace_id, Action::AuditRead).await?;
    let limit = query.limit.unwrap_or(100).clamp(1, 1000);
    let filter = AuditFilter {
        after_seq: match query.cursor.as_deref() {
            Some(c) => Some(
                c.parse::<u64>()
                    .map_err(|_| bad_param("cursor", "is not a cursor from a previous page"))?,
            ),
            None => None,
        },
        limit: limit + 1,
        ..filter_of(query.actor, query.category, &query.since, &query.until)?
    };
    let mut records = control.store.audit_records(Some(workspace_id), filter)?;
    let next_cursor = (records.len() > limit).then(|| records[limit - 1].seq.to_string());
    records.truncate(limit);
    let read = draft(
        caller,
        Some(workspace_id),
        "audit.read",
        None,
        Category::Auth,
        Operation::Read,
    );
    control.store.append_audit(read).await?;
    Ok(Page {
        items: records.iter().map(view).collect(),
        next_cursor,
    })
}

/// The matching records (all of them without filters) as JSON lines, oldest first (the export
/// is audited, with its filters).
pub async fn export(
    control: &Control,
    caller: &Caller,
    workspace_id: &str,
    query: ExportQuery,
) -> Result<String, ApiError> {
    authorize(control, caller, workspace_id, Action::AuditRead).await?;
    let filter = AuditFilter {
        limit: usize::MAX,
        ..filter_of(
            query.actor.clone(),
            query.category,
            &query.since,
            &query.until,
        )?
    };
    let mut record = draft(
        caller,
        Some(workspace_id),
        "audit.export",
        None,
        Category::Auth,
        Operation::Read,
    );
    for (key, value) in [
        ("actor", query.actor),
        ("category", query.category.map(|c| enum_name(&c))),
        ("since", query.since),
        ("until", query.until),
    ] {
        if let Some(value) = value {
            record = with_meta(record, key, &value);
        }
    }
    let all = control.store.audit_records(Some(workspace_id), filter)?;
    let mut out = String::new();
    for record in &all {
        out.push_str(&serde_json::to_string(&view(record)).map_err(ApiError::internal)?);
        out.push('\n');
    }
    control.store.append_audit(record).await?;
    Ok(out)
}

/// Checks the workspace's hash chain.
pub async fn verify(
    control: &Control,
    caller: &Caller,
    workspace_id: &str,
) -> Result<AuditChainView, ApiError> {
    authorize(control, caller, workspace_id, Action::AuditRead).await?;
    let report = control.store.verify_audit_chain(Some(workspace_id))?;
    Ok(AuditChainView {
        records: report.records,
        intact: report.first_broken_seq.is_none(),
        first_broken_seq: report.first_broken_seq,
        reason: report.reason,
    })
}

fn view(record: &AuditRecord) -> AuditView {
    let d = &record.draft;
    AuditView {
        seq: record.seq,
        at: util::rfc3339(d.at),
        actor_kind: enum_name(&d.actor.kind),
        actor_id: d.actor.id.clone(),
        actor: d.actor.display.clone(),
        action: d.action.clone(),
        target: d.target.clone(),
        result: enum_name(&d.result),
        operation: enum_name(&d.operation),
        category: enum_name(&d.category),
        source_ip: d.source_ip.clone(),
        request_id: d.request_id.clone(),
        metadata: d.metadata.clone(),
        prev_hash: record.prev_hash.clone(),
        hash: record.hash.clone(),
    }
}

/// The serde name of a unit enum variant.
fn enum_name<T: serde::Serialize>(value: &T) -> String {
    serde_json::to_value(value)
        .ok()
        .and_then(|v| v.as_str().map(str::to_owned))
        .unwrap_or_default()
}

/// The filters the list and the export share (times checked; no paging).
fn filter_of(
    actor: Option<String>,
    category: Option<Category>,
    since: &Option<String>,
    until: &Option<String>,
) -> Result<AuditFilter, ApiError> {
    Ok(AuditFilter {
        actor_id: actor,
        category,
        since: parse_time(since.as_deref(), "since")?,
        until: parse_time(until.as_deref(), "until")?,
        ..Default::default()
    })
}

fn parse_time(value: Option<&str>, name: &str) -> Result<Option<i64>, ApiError> {
    value
        .map(|v| {
            time::OffsetDateTime::parse(v, &time::format_description::well_known::Rfc3339)
                .map(|t| t.unix_timestamp())
                .map_err(|_| bad_param(name, "is not an RFC 3339 time like 2026-11-27T08:00:00Z"))
        })
        .transpose()
}

pub fn bad_param(name: &str, problem: &str) -> ApiError {
    ApiError::new(
        acorn_proto::ErrorCode::InvalidParameter,
        format!("`{name}` {problem}"),
    )
}
