//! Webhooks out and alerts in (issue #10): event types and their versioned payloads, the bodies
//! of the subscriptions and delivery-log API, and the inbound receivers (Alertmanager's native
//! webhook payload, version 4, and generic signed webhooks).
//!
//! Layout:
//! - [`EventType`]: the stable event names, and which store change produces each (an audit
//!   action, a run event, a findings transition);
//! - [`WebhookPayload`] and the `*Data` types: what a subscriber receives (payload version
//!   [`PAYLOAD_VERSION`]; a change that removes or retypes a field is a new version);
//! - subscriptions, signing secrets, deliveries and attempts as the API shows them;
//! - receivers: [`AlertmanagerPayload`] (the documented v4 format), receiver bodies, and what a
//!   receiver answers ([`AlertsAccepted`]).
//!
//! Times are unix seconds (`i64`) in API bodies and unix milliseconds where stated (`*_ms`);
//! the payload's `timestamp` is RFC 3339 (Standard Webhooks convention).

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::agent::RunMode;
use crate::findings::{Finding, TransitionKind};
use crate::runs::{RunError, RunState};

/// The version of every payload schema of this module. Subscribers read `version` first.
pub const PAYLOAD_VERSION: u32 = 1;
/// A payload larger than this is sent without its `data`, with a link to fetch the event.
pub const MAX_PAYLOAD_BYTES: usize = 64 * 1024;
/// Subscriptions per workspace, at most.
pub const MAX_SUBSCRIPTIONS_PER_WORKSPACE: usize = 100;
/// Attempts of one delivery, at most (then it is `failed`).
pub const MAX_ATTEMPTS: u32 = 10;

macro_rules! event_types {
    ($( $(#[doc = $doc:literal])+ $variant:ident = $name:literal, )+) => {
        /// What happened: the `type` of a payload, and what a subscription lists.
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
        pub enum EventType {
            $( $(#[doc = $doc])+ #[serde(rename = $name)] $variant, )+
        }

        impl EventType {
            /// Every event type, in table order.
            pub const ALL: &'static [EventType] = &[$(EventType::$variant,)+];

            /// The stable name.
            pub const fn as_str(self) -> &'static str {
                match self { $(EventType::$variant => $name,)+ }
            }

            /// What the event means (documentation).
            pub const fn description(self) -> &'static str {
                match self { $(EventType::$variant => concat!($($doc),+),)+ }
            }

            /// The type of a stable name.
            pub fn parse(name: &str) -> Option<EventType> {
                match name { $($name => Some(EventType::$variant),)+ _ => None }
            }
        }
    };
}

event_types! {
    /// The workspace was renamed or its settings (logs, run settings) changed. Data: [`AuditEventData`].
    WorkspaceUpdated = "workspace.updated",
    /// Someone joined the workspace (accepted an invitation). Data: [`AuditEventData`].
    MemberAdded = "member.added",
    /// A member's role was set. Data: [`AuditEventData`] (`metadata.role`).
    MemberRoleChanged = "member.role_changed",
    /// A member left or was removed. Data: [`AuditEventData`].
    MemberRemoved = "member.removed",
    /// A cluster was registered. Data: [`AuditEventData`] (`target` is the cluster id).
    ClusterRegistered = "cluster.registered",
    /// A cluster's settings changed. Data: [`AuditEventData`].
    ClusterUpdated = "cluster.updated",
    /// A cluster was deleted. Data: [`AuditEventData`].
    ClusterDeleted = "cluster.deleted",
    /// A cluster's agent connected. Data: [`AuditEventData`] (`actor.id` is the cluster id).
    AgentConnected = "agent.connected",
    /// A cluster's agent disconnected. Data: [`AuditEventData`].
    AgentDisconnected = "agent.disconnected",
    /// A connected agent announced another tool catalog. Data: [`CapabilitiesEventData`].
    AgentCapabilitiesChanged = "agent.capabilities_changed",
    /// A cluster's agent key was rotated. Data: [`AuditEventData`].
    AgentKeyRotated = "agent.key_rotated",
    /// A session was opened (by a person, auto-triage or an alert). Data: [`SessionEventData`].
    SessionCreated = "session.created",
    /// A run was created (queued). Data: [`RunEventData`].
    RunCreated = "run.created",
    /// A worker started the run. Data: [`RunEventData`].
    RunStarted = "run.started",
    /// The run completed with an answer. Data: [`RunEventData`] (`answer`).
    RunCompleted = "run.completed",
    /// The run failed (error, limit, timeout, restart). Data: [`RunEventData`] (`error`).
    RunFailed = "run.failed",
    /// The run was cancelled. Data: [`RunEventData`].
    RunCancelled = "run.cancelled",
    /// The run paused on a write action that needs an approval. Data: [`RunEventData`] (`detail` is the approval).
    RunApprovalRequested = "run.approval_requested",
    /// The approval was decided (approved, rejected, expired). Data: [`RunEventData`] (`detail`).
    RunApprovalDecided = "run.approval_decided",
    /// A finding opened (a new lifecycle, or active again while recovering). Data: [`FindingEventData`].
    FindingOpened = "finding.opened",
    /// A finding is no longer reported. Data: [`FindingEventData`].
    FindingRecovering = "finding.recovering",
    /// A finding stayed away for the hysteresis window. Data: [`FindingEventData`].
    FindingResolved = "finding.resolved",
    /// An MCP server was added, refreshed or deleted. Data: [`AuditEventData`].
    McpServerChanged = "mcp.server.changed",
    /// The tools a run may use changed (an MCP tool's mode, a server's tool list, an agent's catalog). Data: [`AuditEventData`] or [`CapabilitiesEventData`].
    ToolCatalogChanged = "tool.catalog.changed",
    /// Sent by "send test event"; delivered to that subscription only, whatever it lists. Data: [`TestEventData`].
    WebhookTest = "webhook.test",
}

impl EventType {
    /// The events a successful audited action produces (empty for most actions). Run events
    /// come from the run's own events ([`EventType::for_run_event`]), not from its audit record.
    pub fn for_audit_action(action: &str) -> &'static [EventType] {
        use EventType::*;
        match action {
            "workspace.rename" | "workspace.logs_allowed" | "workspace.run_settings_set" => {
                &[WorkspaceUpdated]
            }
            "invitation.accept" => &[MemberAdded],
            "member.role_set" => &[MemberRoleChanged],
            "member.left" | "member.removed" => &[MemberRemoved],
            "cluster.register" => &[ClusterRegistered],
            "cluster.update" => &[ClusterUpdated],
            "cluster.delete" => &[ClusterDeleted],
            "agent.connected" => &[AgentConnected],
            "agent.disconnected" => &[AgentDisconnected],
            "cluster.agent_key_rotated" => &[AgentKeyRotated],
            "mcp_server.create" | "mcp_server.delete" | "mcp_server.refresh" => {
                &[McpServerChanged, ToolCatalogChanged]
            }
            "mcp_tool.mode_set" => &[ToolCatalogChanged],
            _ => &[],
        }
    }

    /// The event a run event produces, by the run event's stable name (`run.created`, …).
    pub fn for_run_event(kind: &str) -> Option<EventType> {
        use EventType::*;
        Some(match kind {
            "run.created" => RunCreated,
            "run.started" => RunStarted,
            "run.completed" => RunCompleted,
            "run.failed" => RunFailed,
            "run.cancelled" => RunCancelled,
            "approval.requested" => RunApprovalRequested,
            "approval.decided" => RunApprovalDecided,
            _ => return None,
        })
    }

    /// The event of a findings transition.
    pub const fn for_transition(kind: TransitionKind) -> EventType {
        match kind {
            TransitionKind::Opened | TransitionKind::Reactivated => EventType::FindingOpened,
            TransitionKind::Recovering => EventType::FindingRecovering,
            TransitionKind::Resolved => EventType::FindingResolved,
        }
    }
}

/// The body of every delivery (Standard Webhooks: `type`, `timestamp`, `data`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct WebhookPayload {
    /// The event id (`evt_…`), also the `webhook-id` header: the same on every attempt and on a
    /// manual redelivery, so receivers deduplicate on it.
    pub id: String,
    /// [`EventType`] name.
    #[serde(rename = "type")]
    pub event_type: String,
    /// [`PAYLOAD_VERSION`].
    pub version: u32,
    /// When the change was committed (RFC 3339, UTC, milliseconds).
    pub timestamp: String,
    pub workspace_id: String,
    /// The event's data (see [`EventType`]), or [`TruncatedData`] when the payload would exceed
    /// [`MAX_PAYLOAD_BYTES`].
    pub data: serde_json::Value,
}

/// `data` of a payload that was too large: fetch the event with the API instead.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TruncatedData {
    /// Always `true`.
    pub truncated: bool,
    /// Size in bytes of the full payload.
    pub size: usize,
    /// `GET` this (with an API token of the workspace) for the whole event.
    pub link: String,
}

/// Who did it, as the audit log records it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ActorRef {
    /// `user`, `token`, `system` or `agent`.
    pub kind: String,
    pub id: String,
    pub display: String,
}

/// Data of the events that come from an audited change (workspace, members, clusters, agents,
/// MCP servers and tools): the audit record, without anything secret (the store refuses
/// secret-like metadata keys).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AuditEventData {
    /// The audit action (`cluster.register`, `member.role_set`, …).
    pub action: String,
    pub actor: ActorRef,
    /// What it acted on (a cluster id, user id, server id, …).
    pub target: Option<String>,
    #[serde(default)]
    pub metadata: BTreeMap<String, String>,
}

/// Data of `session.created`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SessionEventData {
    pub session_id: String,
    pub cluster_id: String,
    pub title: String,
    /// User id, or `system:auto-triage` / `system:alerts`.
    pub created_by: String,
}

/// Data of the `run.*` events.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RunEventData {
    pub run_id: String,
    pub session_id: String,
    pub cluster_id: String,
    pub state: RunState,
    pub mode: RunMode,
    pub created_by: String,
    /// The question, at most 4,096 characters.
    pub question: String,
    /// The answer (`run.completed`), at most 16,384 characters.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub answer: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<RunError>,
    /// The run event's sequence number.
    pub seq: u64,
    /// The run event's own data (the approval for `run.approval_*`).
    #[serde(default)]
    pub detail: serde_json::Value,
}

/// Data of the `finding.*` events.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FindingEventData {
    pub cluster_id: String,
    pub cluster_name: String,
    /// `opened`, `reactivated`, `recovering` or `resolved`.
    pub transition: TransitionKind,
    pub finding: Finding,
}

/// Data of `agent.capabilities_changed` (and of `tool.catalog.changed` when an agent caused it).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CapabilitiesEventData {
    pub cluster_id: String,
    /// The names of the tools the agent now offers.
    pub tools: Vec<String>,
}

/// Data of `webhook.test`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TestEventData {
    pub subscription_id: String,
    pub message: String,
}

// ---- subscriptions ------------------------------------------------------------------------

/// `POST …/webhooks`: a new subscription.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CreateSubscription {
    /// `https://…` (plain http only for hosts in `webhooks.allow_hosts`).
    pub url: String,
    /// Event type names, or `["*"]` for every type. At least one.
    pub event_types: Vec<String>,
    #[serde(default)]
    pub description: String,
    /// Default `true`.
    #[serde(default)]
    pub enabled: Option<bool>,
}

/// `PATCH …/webhooks/{id}`: what to change.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct UpdateSubscription {
    #[serde(default)]
    pub url: Option<String>,
    #[serde(default)]
    pub event_types: Option<Vec<String>>,
    #[serde(default)]
    pub description: Option<String>,
    /// `true` also re-enables an auto-disabled subscription (and resets its failure count).
    #[serde(default)]
    pub enabled: Option<bool>,
}

/// A signing secret as the API shows it: never its value.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SigningSecretView {
    /// `whs_…`.
    pub id: String,
    /// `sha256:` + 8 hex digits of the value.
    pub fingerprint: String,
    pub created_at: i64,
    /// Set on the previous secret by a rotation: both sign until then.
    pub expires_at: Option<i64>,
}

/// Why a subscription is disabled.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DisabledReason {
    /// By a member.
    Manual,
    /// `webhooks.disable_after_failures` deliveries in a row failed.
    Failing,
    /// The endpoint answered 410 Gone.
    Gone,
}

/// A subscription.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SubscriptionView {
    /// `whk_…`.
    pub id: String,
    pub workspace_id: String,
    pub url: String,
    pub event_types: Vec<String>,
    pub description: String,
    pub enabled: bool,
    pub disabled_reason: Option<DisabledReason>,
    /// Deliveries that failed in a row (reset by a success).
    pub consecutive_failures: u32,
    /// The current secret first; a rotated-out one while its overlap lasts.
    pub secrets: Vec<SigningSecretView>,
    pub created_by: String,
    pub created_at: i64,
    pub updated_at: i64,
}

/// `POST …/webhooks` answer: the subscription and its signing secret, shown this once.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct SubscriptionCreated {
    pub subscription: SubscriptionView,
    /// `whsec_` + base64 of 32 random bytes (the Standard Webhooks secret format).
    pub secret: String,
}

/// `POST …/webhooks/{id}/secret/rotate`.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RotateSecret {
    /// How long the previous secret keeps signing beside the new one (default
    /// `webhooks.secret_overlap`, at most 7 days; 0 retires it at once).
    #[serde(default)]
    pub overlap_seconds: Option<u64>,
}

/// `POST …/webhooks/{id}/secret/rotate` answer: the new secret, shown this once.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct SecretRotated {
    pub subscription: SubscriptionView,
    pub secret: String,
}

// ---- deliveries ---------------------------------------------------------------------------

/// Where a delivery stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DeliveryState {
    /// Waiting for its first or next attempt.
    Pending,
    /// A 2xx answer.
    Succeeded,
    /// Out of attempts or time, or refused for good (410, egress refused, 4xx).
    Failed,
    /// Its subscription was disabled or deleted before it went out.
    Dropped,
}

/// One attempt of a delivery.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AttemptView {
    /// 1, 2, …
    pub attempt: u32,
    /// Unix milliseconds when it was sent.
    pub at_ms: i64,
    /// HTTP status, when the endpoint answered.
    pub status: Option<u16>,
    /// Why it failed without an answer (connect, timeout, egress refused, …).
    pub error: Option<String>,
    pub latency_ms: u64,
    /// The first 256 bytes of the answer (control characters replaced).
    pub response_excerpt: String,
}

/// A delivery of one event to one subscription, with its attempts (the delivery log).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DeliveryView {
    /// `dlv_…`.
    pub id: String,
    pub subscription_id: String,
    pub event_id: String,
    pub event_type: String,
    pub state: DeliveryState,
    /// Unix milliseconds.
    pub created_at_ms: i64,
    /// Unix milliseconds of the next attempt (pending deliveries).
    pub next_attempt_at_ms: Option<i64>,
    /// `true` for a manual redelivery.
    pub redelivery: bool,
    pub attempts: Vec<AttemptView>,
}

/// `POST …/webhooks/{id}/test` and `…/deliveries/{id}/redeliver` answer: the new delivery.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct DeliveryQueued {
    pub delivery: DeliveryView,
}

/// `GET …/webhook-events/{event_id}`: an event as it was recorded (for truncated payloads).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EventView {
    pub payload: WebhookPayload,
}

/// The event types and what they mean (`GET /api/v1/webhooks/event-types`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct EventTypeView {
    pub name: String,
    pub description: String,
    pub version: u32,
}

// ---- receivers (inbound) ------------------------------------------------------------------

/// What kind of source a receiver accepts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ReceiverKind {
    /// Alertmanager's webhook (version 4), authenticated by a bearer token:
    /// `POST /api/v1/workspaces/{id}/alerts/alertmanager`.
    Alertmanager,
    /// Any source that signs per Standard Webhooks:
    /// `POST /api/v1/workspaces/{id}/alerts/webhook/{receiver_id}`.
    Signed,
}

/// `POST …/alert-receivers`.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CreateReceiver {
    pub kind: ReceiverKind,
    /// 1 to 100 characters.
    pub name: String,
    /// Label naming the cluster (Alertmanager; default `cluster`); its value is a cluster
    /// name or id of the workspace.
    #[serde(default)]
    pub cluster_label: Option<String>,
    /// Cluster to use when the label is absent (a name or id); none: such alerts are refused.
    #[serde(default)]
    pub default_cluster: Option<String>,
    /// Signed receivers: the question, with `{{field.path}}` placeholders filled from the JSON
    /// body (1 to 4,096 characters). A body field `cluster` names the cluster.
    #[serde(default)]
    pub prompt_template: Option<String>,
    /// Runs this receiver may start per hour (default 20, at most 1,000).
    #[serde(default)]
    pub max_runs_per_hour: Option<u32>,
}

/// A receiver (never its token or secret).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ReceiverView {
    /// `rcv_…`.
    pub id: String,
    pub workspace_id: String,
    pub kind: ReceiverKind,
    pub name: String,
    pub cluster_label: String,
    pub default_cluster: Option<String>,
    pub prompt_template: Option<String>,
    pub max_runs_per_hour: u32,
    /// Where the source posts.
    pub url: String,
    /// `sha256:` + 8 hex digits of the token or secret.
    pub fingerprint: String,
    pub created_by: String,
    pub created_at: i64,
}

/// `POST …/alert-receivers` answer: the bearer token (Alertmanager) or the signing secret
/// (signed), shown this once.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ReceiverCreated {
    pub receiver: ReceiverView,
    pub credential: String,
}

/// Alertmanager's webhook body, version 4 (Alertmanager's documented format). Unknown fields
/// are tolerated, as Alertmanager may add some; `version` must be `"4"`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AlertmanagerPayload {
    pub version: String,
    pub group_key: String,
    #[serde(default)]
    pub truncated_alerts: u64,
    /// `firing` or `resolved`.
    pub status: String,
    #[serde(default)]
    pub receiver: String,
    #[serde(default)]
    pub group_labels: BTreeMap<String, String>,
    #[serde(default)]
    pub common_labels: BTreeMap<String, String>,
    #[serde(default)]
    pub common_annotations: BTreeMap<String, String>,
    #[serde(default, rename = "externalURL")]
    pub external_url: String,
    pub alerts: Vec<AlertmanagerAlert>,
}

/// One alert of an [`AlertmanagerPayload`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AlertmanagerAlert {
    /// `firing` or `resolved`.
    pub status: String,
    #[serde(default)]
    pub labels: BTreeMap<String, String>,
    #[serde(default)]
    pub annotations: BTreeMap<String, String>,
    /// RFC 3339.
    #[serde(default)]
    pub starts_at: String,
    /// RFC 3339 (`0001-01-01T00:00:00Z` while firing).
    #[serde(default)]
    pub ends_at: String,
    #[serde(default, rename = "generatorURL")]
    pub generator_url: String,
    pub fingerprint: String,
}

/// What happened to one alert of a post.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AlertOutcome {
    /// A session and a read-only investigation run were started.
    Started,
    /// Seen before (same fingerprint, still firing): its session is reused, no new run.
    Deduplicated,
    /// Recorded as resolved on its session.
    Resolved,
    /// A resolved alert never seen firing: nothing to record.
    Ignored,
    /// Not investigated: the message says why (no cluster label, unknown cluster, rate limit,
    /// budget, agent not connected, …).
    Refused,
}

/// One alert's outcome.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AlertResult {
    pub fingerprint: String,
    pub outcome: AlertOutcome,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub session_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub run_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
}

/// A receiver's answer (HTTP 200 even when some alerts were refused: Alertmanager would retry
/// the whole group otherwise).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AlertsAccepted {
    pub receiver_id: String,
    pub results: Vec<AlertResult>,
}

/// The alert a session was opened for (`SessionView.alert`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SessionAlert {
    pub receiver_id: String,
    pub fingerprint: String,
    /// `firing` or `resolved`.
    pub status: String,
    pub labels: BTreeMap<String, String>,
    /// RFC 3339, as the source sent it.
    pub starts_at: String,
    /// Unix seconds when the source said it resolved.
    #[serde(default)]
    pub resolved_at: Option<i64>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_unique_and_parse_back() {
        let mut seen = std::collections::HashSet::new();
        for t in EventType::ALL {
            assert!(seen.insert(t.as_str()), "{t:?}");
            assert_eq!(EventType::parse(t.as_str()), Some(*t));
            assert_eq!(
                serde_json::to_value(t).unwrap(),
                serde_json::Value::String(t.as_str().into())
            );
            assert!(!t.description().is_empty());
        }
        assert_eq!(EventType::parse("run.nonsense"), None);
    }

    #[test]
    fn every_issue_event_has_a_source() {
        // Each event type is produced by an audit action, a run event, a transition, or is
        // one of the three emitted by name (sessions, capabilities, test).
        let by_name = [
            EventType::SessionCreated,
            EventType::AgentCapabilitiesChanged,
            EventType::WebhookTest,
        ];
        let actions = [
            "workspace.rename",
            "invitation.accept",
            "member.role_set",
            "member.removed",
            "cluster.register",
            "cluster.update",
            "cluster.delete",
            "agent.connected",
            "agent.disconnected",
            "cluster.agent_key_rotated",
            "mcp_server.create",
            "mcp_tool.mode_set",
        ];
        let runs = [
            "run.created",
            "run.started",
            "run.completed",
            "run.failed",
            "run.cancelled",
            "approval.requested",
            "approval.decided",
        ];
        for t in EventType::ALL {
            let produced = by_name.contains(t)
                || actions
                    .iter()
                    .any(|a| EventType::for_audit_action(a).contains(t))
                || runs.iter().any(|r| EventType::for_run_event(r) == Some(*t))
                || [
                    TransitionKind::Opened,
                    TransitionKind::Recovering,
                    TransitionKind::Resolved,
                ]
                .iter()
                .any(|k| EventType::for_transition(*k) == *t);
            assert!(produced, "{t:?} has no source");
        }
    }

    #[test]
    fn alertmanager_v4_documented_example_parses() {
        let body = r#"{
          "version": "4", "groupKey": "{}:{alertname=\"KubePodCrashLooping\"}",
          "truncatedAlerts": 0, "status": "firing", "receiver": "acorn",
          "groupLabels": {"alertname": "KubePodCrashLooping"},
          "commonLabels": {"alertname": "KubePodCrashLooping", "severity": "critical"},
          "commonAnnotations": {}, "externalURL": "http://alertmanager:9093",
          "alerts": [{"status": "firing", "labels": {"cluster": "prod"},
            "annotations": {"summary": "s"}, "startsAt": "2026-11-02T10:00:00Z",
            "endsAt": "0001-01-01T00:00:00Z", "generatorURL": "http://prom/graph",
            "fingerprint": "c8b7a1d2e3f40516"}]
        }"#;
        let p: AlertmanagerPayload = serde_json::from_str(body).unwrap();
        assert_eq!(p.version, "4");
        assert_eq!(p.alerts[0].fingerprint, "c8b7a1d2e3f40516");
        assert_eq!(p.external_url, "http://alertmanager:9093");
        assert_eq!(p.alerts[0].generator_url, "http://prom/graph");
    }
}
