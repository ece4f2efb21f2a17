//! Alerts in: the Alertmanager receiver and signed generic webhooks start read-only
//! investigation runs.
//!
//! - **Who may post.** Alertmanager: the receiver's bearer token (shown once, stored as its
//!   SHA-256), which names the receiver; it must belong to the workspace of the URL. Signed:
//!   a Standard Webhooks signature with the receiver's secret, a `webhook-timestamp` within 5
//!   minutes, and a `webhook-id` never seen before by that receiver (replays are refused).
//! - **What starts.** Each firing alert maps to a cluster of the workspace through the
//!   receiver's label (`cluster` by default; a cluster name or id) or its default cluster,
//!   and is deduplicated by its fingerprint (one transaction claims it, so concurrent posts of a
//!   group cannot both start). A new alert opens a session (author `system:alerts`, the alert
//!   recorded on it) with a read-only run whose question quotes the alert; a repeat while it
//!   fires does nothing; a re-fire after it resolved starts a new run in the same session.
//!   Resolved alerts are recorded on their session.
//! - **The same path as every run**: `control::runs::start_run` (agent connected, model from
//!   the workspace's run settings, limits within `engine.max_limits`, the engine's queue), with
//!   `[webhooks] alert_limits` over the workspace's limits.
//! - **Its own budget**: per receiver at most `max_runs_per_hour` runs started in any hour, and
//!   at most `webhooks.alert_max_concurrent` alert runs in flight appliance-wide. An alert over
//!   budget is answered `refused` (and not claimed, so a later post of it can start).
//! - The answer is 200 with one result per alert (Alertmanager retries a whole group on an
//!   error status, which would only repeat the refusals).

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use axum::http::HeaderMap;

use acorn_proto::ErrorCode;
use acorn_proto::agent::RunMode;
use acorn_proto::webhooks::{
    AlertOutcome, AlertResult, AlertmanagerAlert, AlertmanagerPayload, AlertsAccepted, ReceiverKind,
};
use acorn_store::{
    Actor, ActorKind, AlertClaim, AuditDraft, AuditResult, Category, Cluster, Operation,
    ReceiverRecord, SessionRecord, Store, StoreError,
};

use super::{Webhooks, signing};
use crate::control::error::ApiError;
use crate::control::runs::{NewRun, start_run};
use crate::engine::Engine;
use crate::util;

/// The author of alert sessions and runs.
pub const AUTHOR: &str = "system:alerts";
/// Posts per receiver per minute, at most (beyond: 429 with `Retry-After`).
const POSTS_PER_MINUTE: usize = 120;
/// Alerts in one post, at most.
const MAX_ALERTS: usize = 1000;
/// Characters of a question built from an alert or a template, at most (runs take 32,768).
const MAX_QUESTION: usize = 16_000;

/// The receivers' rate limits and the alert runs in flight.
pub struct AlertLimits {
    max_concurrent: usize,
    /// receiver id → when its runs started (the last hour).
    runs: Mutex<HashMap<String, VecDeque<Instant>>>,
    /// receiver id → when it was posted to (the last minute).
    posts: Mutex<HashMap<String, VecDeque<Instant>>>,
    /// Runs started by receivers and not known to have ended.
    in_flight: Mutex<Vec<String>>,
}

fn window(
    map: &Mutex<HashMap<String, VecDeque<Instant>>>,
    key: &str,
    span: Duration,
    max: usize,
) -> Result<(), Duration> {
    let Ok(mut m) = map.lock() else {
        return Err(span);
    };
    let q = m.entry(key.to_owned()).or_default();
    let now = Instant::now();
    while q.front().is_some_and(|t| now.duration_since(*t) >= span) {
        q.pop_front();
    }
    if q.len() >= max {
        let wait = q
            .front()
            .map_or(span, |t| span.saturating_sub(now.duration_since(*t)));
        return Err(wait);
    }
    q.push_back(now);
    Ok(())
}

impl AlertLimits {
    pub fn new(max_concurrent: usize) -> AlertLimits {
        AlertLimits {
            max_concurrent,
            runs: Mutex::default(),
            posts: Mutex::default(),
            in_flight: Mutex::default(),
        }
    }

    fn post(&self, receiver: &str) -> Result<(), ApiError> {
        window(
            &self.posts,
            receiver,
            Duration::from_secs(60),
            POSTS_PER_MINUTE,
        )
        .map_err(|wait| {
            ApiError::new(
                ErrorCode::RateLimited,
                format!("this receiver takes at most {POSTS_PER_MINUTE} posts a minute"),
            )
            .with_retry_after(wait.as_secs().max(1))
        })
    }

    /// Reserves a run of `receiver` (hourly budget and concurrency); the refusal's message.
    fn reserve(&self, store: &Store, receiver: &ReceiverRecord) -> Result<(), String> {
        {
            let Ok(mut f) = self.in_flight.lock() else {
                return Err("alert run accounting is unavailable".into());
            };
            f.retain(|id| {
                id.is_empty()
                    || store
                        .run_record(id)
                        .ok()
                        .flatten()
                        .is_some_and(|r| r.ended_at.is_none())
            });
            if f.len() >= self.max_concurrent {
                return Err(format!(
                    "{} alert investigations are in flight (webhooks.alert_max_concurrent)",
                    f.len()
                ));
            }
            f.push(String::new());
        }
        if window(
            &self.runs,
            &receiver.id,
            Duration::from_secs(3600),
            usize::try_from(receiver.max_runs_per_hour).unwrap_or(usize::MAX),
        )
        .is_err()
        {
            self.settle(None);
            return Err(format!(
                "the receiver started {} runs in the last hour (its max_runs_per_hour)",
                receiver.max_runs_per_hour
            ));
        }
        Ok(())
    }

    /// Turns a reservation into the run it started, or frees it.
    fn settle(&self, run: Option<&str>) {
        if let Ok(mut f) = self.in_flight.lock()
            && let Some(slot) = f.iter().position(String::is_empty)
        {
            match run {
                Some(id) => f[slot] = id.to_owned(),
                None => {
                    f.remove(slot);
                }
            }
        }
    }
}

/// A cluster of the workspace by name or id.
pub fn find_cluster(
    store: &Store,
    workspace_id: &str,
    name_or_id: &str,
) -> Result<Option<Cluster>, StoreError> {
    Ok(store
        .clusters(workspace_id)?
        .into_iter()
        .find(|c| c.id == name_or_id || c.name == name_or_id))
}

fn bearer(headers: &HeaderMap) -> Option<&str> {
    headers
        .get(axum::http::header::AUTHORIZATION)?
        .to_str()
        .ok()?
        .strip_prefix("Bearer ")
        .map(str::trim)
}

fn refused(fingerprint: &str, message: impl Into<String>) -> AlertResult {
    AlertResult {
        fingerprint: fingerprint.to_owned(),
        outcome: AlertOutcome::Refused,
        session_id: None,
        run_id: None,
        message: Some(message.into()),
    }
}

fn cut(s: &str, n: usize) -> String {
    s.chars()
        .map(|c| if c.is_control() && c != '\n' { ' ' } else { c })
        .take(n)
        .collect()
}

/// What an alert's run is asked: the alert, its labels and annotations.
pub fn alert_question(p: &AlertmanagerPayload, a: &AlertmanagerAlert) -> String {
    let name = a
        .labels
        .get("alertname")
        .map_or("(unnamed alert)", String::as_str);
    let mut q = format!(
        "Alertmanager reports a firing alert: {} (fingerprint {}, since {}).\nLabels:\n",
        cut(name, 200),
        cut(&a.fingerprint, 64),
        cut(&a.starts_at, 40)
    );
    for (k, v) in a.labels.iter().take(40) {
        q.push_str(&format!("- {}={}\n", cut(k, 100), cut(v, 300)));
    }
    if !a.annotations.is_empty() {
        q.push_str("Annotations:\n");
        for (k, v) in a.annotations.iter().take(20) {
            q.push_str(&format!("- {}: {}\n", cut(k, 100), cut(v, 1000)));
        }
    }
    if !a.generator_url.is_empty() {
        q.push_str(&format!("Source: {}\n", cut(&a.generator_url, 500)));
    }
    if !p.group_key.is_empty() {
        q.push_str(&format!("Alert group: {}\n", cut(&p.group_key, 300)));
    }
    let mut q: String = q.chars().take(MAX_QUESTION - 200).collect();
    q.push_str(
        "Investigate with the read-only tools: confirm what the alert says, find the root \
         cause, and say what fix you propose (do not attempt changes).",
    );
    q
}

fn run_audit(receiver: &ReceiverRecord, key: &str, run_id: &str) -> AuditDraft {
    AuditDraft {
        workspace_id: Some(receiver.workspace_id.clone()),
        actor: Actor {
            kind: ActorKind::System,
            id: AUTHOR.into(),
            display: format!("alert receiver {}", receiver.name),
        },
        action: "run.created".into(),
        target: Some(run_id.to_owned()),
        result: AuditResult::Success,
        source_ip: None,
        request_id: None,
        operation: Operation::Write,
        category: Category::Run,
        metadata: [
            ("receiver".to_owned(), receiver.id.clone()),
            ("alert".to_owned(), cut(key, 100)),
        ]
        .into(),
        at: util::now_unix(),
    }
}

/// What one investigation needs.
struct Investigation<'a> {
    receiver: &'a ReceiverRecord,
    /// The fingerprint, or the signed message's id.
    key: &'a str,
    cluster: Cluster,
    title: String,
    question: String,
    alert: Option<acorn_proto::webhooks::SessionAlert>,
    /// A session to reuse (a re-fire).
    session: Option<String>,
}

/// Opens (or reuses) the session and starts the read-only run: `(session, run)`.
async fn investigate(
    engine: &Engine,
    wh: &Webhooks,
    inv: Investigation<'_>,
) -> Result<(String, String), String> {
    let store = &engine.store;
    // Checked before the session is opened too, so that an alert for a cluster whose agent is
    // away leaves no empty session behind (start_run checks it again).
    if engine.control.hub.live(&inv.cluster.id).is_none() {
        return Err(format!(
            "agent_disconnected: the agent of cluster {} is not connected",
            inv.cluster.name
        ));
    }
    let workspace = store
        .workspace(&inv.receiver.workspace_id)
        .map_err(|e| e.to_string())?
        .ok_or("the workspace is gone")?;
    let session = match inv.session.as_deref().and_then(|id| {
        store
            .session_record(&inv.receiver.workspace_id, id)
            .ok()
            .flatten()
    }) {
        Some(s) => s,
        None => {
            let now = util::now_unix();
            let record = SessionRecord {
                id: acorn_store::new_id("ses_").map_err(|e| e.to_string())?,
                workspace_id: inv.receiver.workspace_id.clone(),
                cluster_id: inv.cluster.id.clone(),
                title: cut(&inv.title, 200),
                created_by: AUTHOR.into(),
                created_at: now,
                updated_at: now,
                active_run: None,
                last_run: None,
                alert: inv.alert.clone(),
            };
            store
                .create_run_session(record)
                .await
                .map_err(|e| e.to_string())?
        }
    };
    let receiver = inv.receiver;
    let key = inv.key.to_owned();
    let run = start_run(
        engine,
        NewRun {
            workspace_id: &receiver.workspace_id,
            settings: &workspace.run_settings,
            session: &session,
            question: inv.question,
            mode: RunMode::ReadOnly,
            provider: None,
            model: None,
            limits: wh.config.alert_limits,
            created_by: AUTHOR.into(),
        },
        |run_id| run_audit(receiver, &key, run_id),
    )
    .await
    .map_err(|e| format!("{}: {}", e.code.as_str(), e.message))?;
    Ok((session.id, run.id))
}

/// Starts (budget permitting) an investigation of a claimed alert and settles the claim.
async fn start_claimed(engine: &Engine, wh: &Webhooks, inv: Investigation<'_>) -> AlertResult {
    let (receiver, key) = (inv.receiver, inv.key.to_owned());
    let unclaim = || async {
        if let Err(e) = wh.store.settle_alert(&receiver.id, &key, None).await {
            tracing::warn!(error = %e, "alerts: cannot release a claim");
        }
    };
    if let Err(why) = wh.alerts.reserve(&wh.store, receiver) {
        unclaim().await;
        return refused(&key, why);
    }
    match investigate(engine, wh, inv).await {
        Ok((session, run)) => {
            wh.alerts.settle(Some(&run));
            if let Err(e) = wh
                .store
                .settle_alert(&receiver.id, &key, Some((session.clone(), run.clone())))
                .await
            {
                tracing::warn!(error = %e, "alerts: cannot record the run of an alert");
            }
            tracing::info!(receiver = %receiver.id, alert = %key, %session, %run, "alert investigation started");
            AlertResult {
                fingerprint: key,
                outcome: AlertOutcome::Started,
                session_id: Some(session),
                run_id: Some(run),
                message: None,
            }
        }
        Err(why) => {
            wh.alerts.settle(None);
            unclaim().await;
            tracing::warn!(receiver = %receiver.id, alert = %key, error = %why, "alert investigation not started");
            refused(&key, why)
        }
    }
}

/// `POST /api/v1/workspaces/{id}/alerts/alertmanager`.
pub async fn alertmanager(
    engine: &Engine,
    wh: &Webhooks,
    workspace_id: &str,
    headers: &HeaderMap,
    body: &[u8],
) -> Result<AlertsAccepted, ApiError> {
    let invalid_token = || {
        ApiError::new(
            ErrorCode::ReceiverTokenInvalid,
            "send the receiver's token as `Authorization: Bearer …` (Alertmanager: http_config.authorization.credentials)",
        )
    };
    let token = bearer(headers).ok_or_else(invalid_token)?;
    let receiver = wh
        .store
        .alert_receiver_by_token(util::sha256(token))?
        .filter(|r| r.workspace_id == workspace_id && r.kind == ReceiverKind::Alertmanager)
        .ok_or_else(invalid_token)?;
    wh.alerts.post(&receiver.id)?;
    let value: serde_json::Value = serde_json::from_slice(body).map_err(|e| {
        ApiError::new(
            ErrorCode::AlertPayloadUnsupported,
            format!("the body is not JSON: {e}"),
        )
    })?;
    match value.get("version").and_then(|v| v.as_str()) {
        Some("4") => {}
        Some(other) => {
            return Err(ApiError::new(
                ErrorCode::AlertPayloadUnsupported,
                format!(
                    "Alertmanager webhook version {other:?} is not supported; Acorn reads version \"4\""
                ),
            ));
        }
        None => {
            return Err(ApiError::new(
                ErrorCode::AlertPayloadUnsupported,
                "the body has no `version`: it is not Alertmanager's webhook payload (version \"4\")",
            ));
        }
    }
    let payload: AlertmanagerPayload = serde_path_to_error::deserialize(value).map_err(|e| {
        ApiError::new(
            ErrorCode::AlertPayloadUnsupported,
            format!(
                "not Alertmanager's version 4 payload: `{}`: {}",
                e.path(),
                e.inner()
            ),
        )
    })?;
    if payload.alerts.len() > MAX_ALERTS {
        return Err(ApiError::new(
            ErrorCode::AlertPayloadUnsupported,
            format!("at most {MAX_ALERTS} alerts per post (Alertmanager: max_alerts)"),
        ));
    }
    let mut results = Vec::with_capacity(payload.alerts.len());
    for alert in &payload.alerts {
        results.push(one_alert(engine, wh, &receiver, &payload, alert).await);
    }
    Ok(AlertsAccepted {
        receiver_id: receiver.id,
        results,
    })
}

async fn one_alert(
    engine: &Engine,
    wh: &Webhooks,
    receiver: &ReceiverRecord,
    payload: &AlertmanagerPayload,
    alert: &AlertmanagerAlert,
) -> AlertResult {
    let fp = alert.fingerprint.trim();
    if fp.is_empty() || fp.len() > 128 || fp.contains('\0') {
        return refused(fp, "the alert has no usable fingerprint");
    }
    let now = util::now_unix();
    match alert.status.as_str() {
        "resolved" => {
            return match wh
                .store
                .resolve_alert(&receiver.workspace_id, &receiver.id, fp, now)
                .await
            {
                Ok(Some(r)) => AlertResult {
                    fingerprint: fp.to_owned(),
                    outcome: AlertOutcome::Resolved,
                    session_id: r.session_id,
                    run_id: r.run_id,
                    message: None,
                },
                Ok(None) => AlertResult {
                    fingerprint: fp.to_owned(),
                    outcome: AlertOutcome::Ignored,
                    session_id: None,
                    run_id: None,
                    message: Some("never seen firing".into()),
                },
                Err(e) => refused(fp, format!("store: {e}")),
            };
        }
        "firing" => {}
        other => {
            return refused(
                fp,
                format!("status {other:?} is neither firing nor resolved"),
            );
        }
    }
    // The cluster: the alert's label (Alertmanager puts the common labels on every alert), or
    // the receiver's default.
    let named = alert
        .labels
        .get(&receiver.cluster_label)
        .or_else(|| payload.common_labels.get(&receiver.cluster_label))
        .or(receiver.default_cluster.as_ref());
    let Some(named) = named else {
        return refused(
            fp,
            format!(
                "the alert has no `{}` label and the receiver has no default_cluster",
                receiver.cluster_label
            ),
        );
    };
    let cluster = match find_cluster(&wh.store, &receiver.workspace_id, named) {
        Ok(Some(c)) => c,
        Ok(None) => {
            return refused(
                fp,
                format!("no cluster named {:?} in this workspace", cut(named, 100)),
            );
        }
        Err(e) => return refused(fp, format!("store: {e}")),
    };
    let session = match wh.store.claim_alert(&receiver.id, fp, now).await {
        Ok(AlertClaim::Known(r)) => {
            return AlertResult {
                fingerprint: fp.to_owned(),
                outcome: AlertOutcome::Deduplicated,
                session_id: r.session_id,
                run_id: r.run_id,
                message: None,
            };
        }
        Ok(AlertClaim::Refiring(r)) => r.session_id,
        Ok(AlertClaim::New) => None,
        Err(e) => return refused(fp, format!("store: {e}")),
    };
    let name = alert
        .labels
        .get("alertname")
        .map_or("alert", String::as_str);
    let summary = alert
        .annotations
        .get("summary")
        .map(|s| format!(": {s}"))
        .unwrap_or_default();
    let labels: BTreeMap<String, String> = alert
        .labels
        .iter()
        .take(40)
        .map(|(k, v)| (cut(k, 100), cut(v, 300)))
        .collect();
    start_claimed(
        engine,
        wh,
        Investigation {
            receiver,
            key: fp,
            cluster,
            title: format!("Alert: {name}{summary}"),
            question: alert_question(payload, alert),
            alert: Some(acorn_store::session_alert(
                &receiver.id,
                fp,
                labels,
                &alert.starts_at,
            )),
            session,
        },
    )
    .await
}

/// Fills `{{a.b}}` placeholders from the JSON body (strings as they are, other values as JSON,
/// missing ones as `(missing)`).
pub fn render_template(template: &str, body: &serde_json::Value) -> String {
    let mut out = String::new();
    let mut rest = template;
    while let Some(start) = rest.find("{{") {
        out.push_str(&rest[..start]);
        let after = &rest[start + 2..];
        let Some(end) = after.find("}}") else {
            out.push_str(&rest[start..]);
            return out;
        };
        let path = after[..end].trim();
        let value = path.split('.').try_fold(body, |v, k| v.get(k));
        match value {
            Some(serde_json::Value::String(s)) => out.push_str(&cut(s, 2000)),
            Some(other) => out.push_str(&cut(&other.to_string(), 2000)),
            None => out.push_str("(missing)"),
        }
        rest = &after[end + 2..];
    }
    out.push_str(rest);
    out.chars().take(MAX_QUESTION).collect()
}

/// `POST /api/v1/workspaces/{id}/alerts/webhook/{receiver_id}`: a Standard Webhooks-signed post.
pub async fn signed(
    engine: &Engine,
    wh: &Webhooks,
    workspace_id: &str,
    receiver_id: &str,
    headers: &HeaderMap,
    body: &[u8],
) -> Result<AlertsAccepted, ApiError> {
    let bad = |m: &str| ApiError::new(ErrorCode::WebhookSignatureInvalid, m.to_owned());
    // An unknown receiver looks like a bad signature: ids cannot be probed.
    let receiver = wh
        .store
        .alert_receiver(workspace_id, receiver_id)?
        .filter(|r| r.kind == ReceiverKind::Signed)
        .ok_or_else(|| bad("the signature does not verify"))?;
    let header = |name: &str| headers.get(name).and_then(|v| v.to_str().ok());
    let (Some(id), Some(ts), Some(sig)) = (
        header("webhook-id"),
        header("webhook-timestamp"),
        header("webhook-signature"),
    ) else {
        return Err(bad(
            "webhook-id, webhook-timestamp and webhook-signature headers are required (Standard Webhooks)",
        ));
    };
    let name = receiver
        .secret_name
        .as_deref()
        .ok_or_else(|| bad("the receiver has no secret"))?;
    let record = wh
        .store
        .secret(workspace_id, name)?
        .ok_or_else(|| ApiError::internal("a signed receiver's secret is missing"))?;
    let secret = wh
        .gateway
        .secrets
        .open_record(&record)
        .map_err(|e| ApiError::new(ErrorCode::SecretUnavailable, e.to_string()))?;
    let key = signing::key_bytes(&String::from_utf8_lossy(&secret)).map_err(ApiError::internal)?;
    let now = util::now_unix();
    signing::verify(&key, id, ts, sig, body, now).map_err(|e| match e {
        signing::VerifyError::Timestamp => ApiError::new(
            ErrorCode::WebhookTimestampRefused,
            "webhook-timestamp is more than 5 minutes away from now",
        ),
        signing::VerifyError::Malformed(h) => bad(&format!("the {h} header is malformed")),
        signing::VerifyError::Mismatch => bad("the signature does not verify"),
    })?;
    wh.alerts.post(&receiver.id)?;
    if !wh
        .store
        .claim_inbound_message(&receiver.id, id, now, now - 2 * signing::TOLERANCE_SECS)
        .await?
    {
        return Err(ApiError::new(
            ErrorCode::WebhookReplayed,
            format!("webhook-id {id:?} was accepted already"),
        ));
    }
    let value: serde_json::Value = serde_json::from_slice(body)
        .map_err(|e| ApiError::new(ErrorCode::InvalidBody, format!("the body is not JSON: {e}")))?;
    let named = value
        .get("cluster")
        .and_then(|v| v.as_str())
        .map(str::to_owned)
        .or_else(|| receiver.default_cluster.clone())
        .ok_or_else(|| {
            ApiError::new(
                ErrorCode::InvalidBody,
                "the body has no `cluster` and the receiver has no default_cluster",
            )
        })?;
    let cluster = find_cluster(&wh.store, workspace_id, &named)?
        .ok_or_else(|| ApiError::not_found("cluster"))?;
    let template = receiver.prompt_template.clone().unwrap_or_default();
    let question = render_template(&template, &value);
    let result = start_claimed_message(engine, wh, &receiver, id, cluster, question).await;
    Ok(AlertsAccepted {
        receiver_id: receiver.id,
        results: vec![result],
    })
}

async fn start_claimed_message(
    engine: &Engine,
    wh: &Webhooks,
    receiver: &ReceiverRecord,
    id: &str,
    cluster: Cluster,
    question: String,
) -> AlertResult {
    if let Err(why) = wh.alerts.reserve(&wh.store, receiver) {
        return refused(id, why);
    }
    let inv = Investigation {
        receiver,
        key: id,
        cluster,
        title: format!("Webhook: {}", receiver.name),
        question,
        alert: None,
        session: None,
    };
    match investigate(engine, wh, inv).await {
        Ok((session, run)) => {
            wh.alerts.settle(Some(&run));
            AlertResult {
                fingerprint: id.to_owned(),
                outcome: AlertOutcome::Started,
                session_id: Some(session),
                run_id: Some(run),
                message: None,
            }
        }
        Err(why) => {
            wh.alerts.settle(None);
            refused(id, why)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn templates_fill_paths_and_mark_missing_ones() {
        let body =
            serde_json::json!({"alert": {"name": "DiskFull", "value": 97}, "cluster": "prod"});
        assert_eq!(
            render_template(
                "{{alert.name}} at {{ alert.value }}% on {{cluster}}; {{nope}} {{x",
                &body
            ),
            "DiskFull at 97% on prod; (missing) {{x"
        );
    }
}
