//! Sessions, runs, run events, approvals, run search and evidence bundles: the bodies of the
//! runs API.
//!
//! A session belongs to a workspace and a cluster and holds a conversation; each user message
//! starts one run. A run's life is a sequence of [`RunEvent`]s numbered from 0, persisted before
//! they are published (SSE replays them by number).

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::agent::RunMode;
use crate::authz::Action;

/// Where a run is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RunState {
    /// Committed, waiting for a worker.
    Queued,
    /// A worker is executing it.
    Running,
    /// Paused on a write action until an owner or admin decides.
    WaitingForApproval,
    /// The model answered.
    Completed,
    /// Ended by an error or a limit (`error` says which).
    Failed,
    /// Cancelled by a user.
    Cancelled,
    /// Ran longer than its `max_runtime_seconds`.
    TimedOut,
}

impl RunState {
    /// The stable name.
    pub const fn as_str(self) -> &'static str {
        match self {
            RunState::Queued => "queued",
            RunState::Running => "running",
            RunState::WaitingForApproval => "waiting_for_approval",
            RunState::Completed => "completed",
            RunState::Failed => "failed",
            RunState::Cancelled => "cancelled",
            RunState::TimedOut => "timed_out",
        }
    }

    /// `true` once the run can no longer change.
    pub const fn is_terminal(self) -> bool {
        matches!(
            self,
            RunState::Completed | RunState::Failed | RunState::Cancelled | RunState::TimedOut
        )
    }
}

/// The limits of one run. Every field is required in a stored run; requests send
/// [`RunLimitsInput`].
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RunLimits {
    /// Model calls.
    pub max_steps: u32,
    /// Tool calls, all tools together.
    pub max_tool_calls: u32,
    /// Calls of the same tool with the same arguments; the next one is not executed.
    pub max_identical_tool_calls: u32,
    /// The conversation sent to the model; older tool results are elided beyond it.
    pub max_context_tokens: u64,
    /// Output tokens of the whole run (the run token's output budget).
    pub max_output_tokens: u64,
    /// Wall-clock time from start to end, approval waits included.
    pub max_runtime_seconds: u64,
    /// Money, in the providers' price unit (USD for the built-in price tables).
    pub max_cost: f64,
}

/// Limits asked for in a request: absent fields take the workspace's defaults.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RunLimitsInput {
    #[serde(default)]
    pub max_steps: Option<u32>,
    #[serde(default)]
    pub max_tool_calls: Option<u32>,
    #[serde(default)]
    pub max_identical_tool_calls: Option<u32>,
    #[serde(default)]
    pub max_context_tokens: Option<u64>,
    #[serde(default)]
    pub max_output_tokens: Option<u64>,
    #[serde(default)]
    pub max_runtime_seconds: Option<u64>,
    #[serde(default)]
    pub max_cost: Option<f64>,
}

/// What a run has used so far.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize)]
pub struct RunUsage {
    pub steps: u32,
    pub tool_calls: u32,
    pub input_tokens: u64,
    pub output_tokens: u64,
    pub cost: f64,
    /// Tool calls refused by the loop guard.
    #[serde(default)]
    pub loop_guard_hits: u32,
    /// Tool calls whose arguments were not valid JSON or named no known tool.
    #[serde(default)]
    pub invalid_tool_calls: u32,
}

/// Why a run failed (or was cut by a limit).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RunError {
    /// From the error table (`run_limit_reached`, `appliance_restarted`, `provider_failed`, …).
    pub code: String,
    pub message: String,
}

/// The workspace's run settings: default model and limits (`PUT …/run-settings`).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RunSettings {
    /// Provider name (workspace or deployment provider).
    #[serde(default)]
    pub provider: Option<String>,
    #[serde(default)]
    pub model: Option<String>,
    /// Defaults for new runs, each within the deployment's bounds.
    #[serde(default)]
    pub limits: RunLimitsInput,
}

/// `GET …/run-settings`: the stored settings and what a run gets when it asks for nothing.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RunSettingsView {
    pub settings: RunSettings,
    /// The effective defaults (workspace settings over deployment defaults).
    pub effective_limits: RunLimits,
    /// The deployment's upper bounds (`[engine.max_limits]`).
    pub max_limits: RunLimits,
}

/// `POST /api/v1/workspaces/{id}/sessions`.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CreateSession {
    pub cluster_id: String,
    /// Default: the first message, shortened.
    #[serde(default)]
    pub title: Option<String>,
}

/// `PATCH …/sessions/{id}`.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct UpdateSession {
    pub title: String,
}

/// One message of a session's conversation.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ConversationMessage {
    /// `user` or `assistant`.
    pub role: String,
    pub content: String,
    /// The run that this message started (user) or ended (assistant).
    pub run_id: String,
    pub at: i64,
    /// For answers: the sequence numbers of the `tool.result` events the answer rests on.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub evidence: Vec<u64>,
}

/// A session.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SessionView {
    /// `ses_` + hex.
    pub id: String,
    pub workspace_id: String,
    pub cluster_id: String,
    pub title: String,
    pub created_by: String,
    pub created_at: i64,
    pub updated_at: i64,
    /// The newest run, if any.
    pub last_run: Option<RunSummary>,
    /// What the caller may do with it (`sessions.write` is derived: creator or admin).
    pub permissions: Vec<String>,
    /// The alert this session was opened for by an alert receiver, with its status (`firing`,
    /// `resolved`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub alert: Option<crate::webhooks::SessionAlert>,
}

/// A session with its conversation and runs.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SessionDetail {
    #[serde(flatten)]
    pub session: SessionView,
    pub messages: Vec<ConversationMessage>,
    pub runs: Vec<RunSummary>,
}

/// `POST …/sessions/{id}/messages`: a user message, which starts a run.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PostMessage {
    /// The question (1 to 32,768 characters).
    pub content: String,
    /// Default `read_only`.
    #[serde(default)]
    pub mode: Option<RunMode>,
    /// Default: the workspace's run settings.
    #[serde(default)]
    pub provider: Option<String>,
    #[serde(default)]
    pub model: Option<String>,
    #[serde(default)]
    pub limits: RunLimitsInput,
}

/// A run in lists.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RunSummary {
    /// `run_` + hex (time-ordered).
    pub id: String,
    pub session_id: String,
    pub state: RunState,
    pub mode: RunMode,
    pub question: String,
    pub created_at: i64,
    pub ended_at: Option<i64>,
}

/// A run.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RunView {
    pub id: String,
    pub workspace_id: String,
    pub cluster_id: String,
    pub session_id: String,
    pub state: RunState,
    pub mode: RunMode,
    pub provider: String,
    pub model: String,
    pub question: String,
    pub limits: RunLimits,
    pub usage: RunUsage,
    pub created_by: String,
    pub created_at: i64,
    pub started_at: Option<i64>,
    pub ended_at: Option<i64>,
    /// The final answer (completed runs, and the limit message of runs cut by a limit).
    pub answer: Option<String>,
    /// Sequence numbers of the `tool.result` events the answer rests on.
    pub evidence: Vec<u64>,
    pub error: Option<RunError>,
    /// The approval the run waits for.
    pub pending_approval: Option<String>,
    /// The sequence number the next event will get (= events so far).
    pub events: u64,
    pub permissions: Vec<Action>,
}

/// Kinds of run events (stable names).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum RunEventKind {
    #[serde(rename = "run.created")]
    RunCreated,
    #[serde(rename = "run.started")]
    RunStarted,
    /// Coalesced text of the model's answer as it streams.
    #[serde(rename = "model.delta")]
    ModelDelta,
    /// One whole model turn: text and tool calls.
    #[serde(rename = "model.message")]
    ModelMessage,
    #[serde(rename = "tool.call")]
    ToolCall,
    #[serde(rename = "tool.result")]
    ToolResult,
    #[serde(rename = "approval.requested")]
    ApprovalRequested,
    #[serde(rename = "approval.decided")]
    ApprovalDecided,
    /// Older tool results were elided to fit the context window.
    #[serde(rename = "context.trimmed")]
    ContextTrimmed,
    #[serde(rename = "run.limit_reached")]
    RunLimitReached,
    #[serde(rename = "run.completed")]
    RunCompleted,
    #[serde(rename = "run.failed")]
    RunFailed,
    #[serde(rename = "run.cancelled")]
    RunCancelled,
}

impl RunEventKind {
    /// The stable name (the SSE `event:` field).
    pub const fn as_str(self) -> &'static str {
        match self {
            RunEventKind::RunCreated => "run.created",
            RunEventKind::RunStarted => "run.started",
            RunEventKind::ModelDelta => "model.delta",
            RunEventKind::ModelMessage => "model.message",
            RunEventKind::ToolCall => "tool.call",
            RunEventKind::ToolResult => "tool.result",
            RunEventKind::ApprovalRequested => "approval.requested",
            RunEventKind::ApprovalDecided => "approval.decided",
            RunEventKind::ContextTrimmed => "context.trimmed",
            RunEventKind::RunLimitReached => "run.limit_reached",
            RunEventKind::RunCompleted => "run.completed",
            RunEventKind::RunFailed => "run.failed",
            RunEventKind::RunCancelled => "run.cancelled",
        }
    }

    /// `true` for the events after which nothing more comes.
    pub const fn ends_run(self) -> bool {
        matches!(
            self,
            RunEventKind::RunCompleted | RunEventKind::RunFailed | RunEventKind::RunCancelled
        )
    }
}

/// One event of a run. `data` by kind:
/// - `run.created`: `{question, mode, provider, model, limits}`;
/// - `run.started`: `{}`;
/// - `model.delta`: `{step, text}`;
/// - `model.message`: `{step, text, tool_calls: [{id, name, arguments}]}`;
/// - `tool.call`: `{step, call_id, tool, arguments, class}`;
/// - `tool.result`: `{step, call_id, tool, ok, content | error{code,message}, truncated, redactions, duration_ms, note?}`;
/// - `approval.requested`: `{approval_id, call_id, tool, arguments, diff, expires_at}`;
/// - `approval.decided`: `{approval_id, decision, decided_by, comment?}`;
/// - `context.trimmed`: `{elided: [seq], tokens_before, tokens_after}`;
/// - `run.limit_reached`: `{limit, value}`;
/// - `run.completed`: `{answer, evidence: [seq]}`; `run.failed`: `{code, message}`;
///   `run.cancelled`: `{by}`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RunEvent {
    pub run_id: String,
    pub seq: u64,
    pub kind: RunEventKind,
    /// Unix milliseconds.
    pub at_ms: i64,
    pub data: Value,
}

/// State of an approval.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ApprovalState {
    Pending,
    Approved,
    Rejected,
    /// Nobody decided within the timeout.
    Expired,
    /// The run ended (cancelled, failed) before a decision.
    Withdrawn,
}

/// A write action waiting for (or having had) a human decision.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ApprovalView {
    /// `apr_` + hex.
    pub id: String,
    pub workspace_id: String,
    pub run_id: String,
    pub session_id: String,
    pub cluster_id: String,
    /// The exact call that will run if approved.
    pub tool: String,
    pub arguments: Value,
    /// The agent's dry-run result (the difference the change makes), or why there is none.
    pub diff: String,
    pub state: ApprovalState,
    pub requested_at: i64,
    pub expires_at: i64,
    pub decided_by: Option<String>,
    pub decided_at: Option<i64>,
    pub comment: Option<String>,
}

/// `POST /api/v1/runs/{run}/approvals/{id}`.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DecideApproval {
    /// `approve` or `reject`.
    pub decision: Decision,
    #[serde(default)]
    pub comment: Option<String>,
}

/// An approver's answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Decision {
    Approve,
    Reject,
}

/// `GET /api/v1/search`: one matching run event.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SearchHit {
    pub workspace_id: String,
    pub cluster_id: String,
    pub session_id: String,
    pub run_id: String,
    pub seq: u64,
    pub kind: String,
    pub at_ms: i64,
    pub score: f32,
    /// A fragment of the text around the matches.
    pub snippet: String,
    /// Byte ranges `[start, end)` of `snippet` that matched.
    pub highlights: Vec<[usize; 2]>,
}

/// `GET /api/v1/search`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SearchResponse {
    /// `ready`, or `rebuilding` (results may be incomplete until the index caught up).
    pub index: String,
    /// Matches within the caller's readable workspaces and the filters.
    pub total: u64,
    pub hits: Vec<SearchHit>,
}

/// The signature of an evidence bundle.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct BundleSignature {
    /// `Ed25519`.
    pub algorithm: String,
    /// The signing key id.
    pub key_id: String,
    /// The public key (base64, raw 32 bytes); pin its fingerprint (`acorn evidence-key`).
    pub public_key: String,
    /// SHA-256 of the public key, hex: what operators compare.
    pub fingerprint: String,
    /// Base64 signature over the canonical JSON of `bundle`.
    pub value: String,
}

/// `GET /api/v1/runs/{id}/evidence`: a finished run as one signed document.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EvidenceBundle {
    /// `acorn.evidence/v1`.
    pub format: String,
    /// The signed content: `{question, run, session, cluster, workspace, model, provider,
    /// acorn_version, state, started_at, ended_at, tool_calls: [{seq, tool, arguments, class,
    /// result, ok}], approvals: [...], answer, audit_record_ids, exported_at, exported_by}`.
    pub bundle: Value,
    pub signature: BundleSignature,
}
