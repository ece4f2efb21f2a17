//! The one error-code table. Every API error body is `{ "code", "message", "type", "link" }`;
//! the code decides the type and the HTTP status, so handlers cannot disagree about them.
//! `docs/errors.md` is generated from [`ErrorCode::ALL`] and a test keeps it in sync.

use serde::{Deserialize, Serialize};

/// The family an error belongs to, so that clients can react without knowing every code.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ErrorType {
    /// The request is wrong; repeating it unchanged will fail again.
    InvalidRequest,
    /// The caller is not signed in, or may not do this.
    Auth,
    /// The appliance is not able to serve this right now (starting, stopping, overloaded).
    System,
    /// A bug or an unexpected failure inside the appliance; the log has the details.
    Internal,
}

macro_rules! error_codes {
    ($( $(#[doc = $doc:literal])+ $variant:ident = ($code:literal, $kind:ident, $status:literal), )+) => {
        /// Every error code the API can return.
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
        pub enum ErrorCode {
            $( $(#[doc = $doc])+ $variant, )+
        }

        impl ErrorCode {
            /// All codes, in table order.
            pub const ALL: &'static [ErrorCode] = &[$(ErrorCode::$variant,)+];

            /// The stable string clients match on.
            pub const fn as_str(self) -> &'static str {
                match self { $(ErrorCode::$variant => $code,)+ }
            }

            /// The family of the error.
            pub const fn error_type(self) -> ErrorType {
                match self { $(ErrorCode::$variant => ErrorType::$kind,)+ }
            }

            /// The HTTP status the code is returned with.
            pub const fn http_status(self) -> u16 {
                match self { $(ErrorCode::$variant => $status,)+ }
            }

            /// What the code means, for the generated documentation.
            pub const fn description(self) -> &'static str {
                match self { $(ErrorCode::$variant => concat!($($doc),+),)+ }
            }
        }
    };
}

error_codes! {
    /// The request body is not valid JSON, has a field of the wrong type, or has an unknown field.
    InvalidBody = ("invalid_body", InvalidRequest, 400),
    /// A query parameter or path segment is malformed.
    InvalidParameter = ("invalid_parameter", InvalidRequest, 400),
    /// The request body is larger than the endpoint accepts.
    PayloadTooLarge = ("payload_too_large", InvalidRequest, 413),
    /// The request body has a content type the endpoint does not accept (JSON endpoints want `application/json`).
    UnsupportedMediaType = ("unsupported_media_type", InvalidRequest, 415),
    /// No such route, or no such object visible to the caller.
    NotFound = ("not_found", InvalidRequest, 404),
    /// The route exists but not with this HTTP method.
    MethodNotAllowed = ("method_not_allowed", InvalidRequest, 405),
    /// The one-time link is unknown or was already used. Ask the operator of the machine to run `acorn recover`.
    OneTimeLinkInvalid = ("one_time_link_invalid", Auth, 404),
    /// The one-time link has expired (links are valid for one hour). Ask the operator of the machine to run `acorn recover`.
    OneTimeLinkExpired = ("one_time_link_expired", Auth, 410),
    /// The username is not allowed: use 1 to 64 characters from a-z, 0-9, `.`, `_` and `-`.
    UsernameInvalid = ("username_invalid", InvalidRequest, 400),
    /// An account with this username exists already.
    UsernameTaken = ("username_taken", InvalidRequest, 409),
    /// The password is too short (at least 12 characters) or too long (at most 1024 bytes).
    PasswordRejected = ("password_rejected", InvalidRequest, 400),
    /// Sign in first: no session cookie or bearer token was sent.
    Unauthenticated = ("unauthenticated", Auth, 401),
    /// The session expired (7 days after sign-in, or 24 hours without use) or was revoked. Sign in again.
    SessionExpired = ("session_expired", Auth, 401),
    /// The API token is unknown, expired, revoked, or its creator no longer holds its role.
    TokenInvalid = ("token_invalid", Auth, 401),
    /// A request authenticated by the session cookie changes state but lacks the session's `x-csrf-token` header.
    CsrfFailed = ("csrf_failed", Auth, 403),
    /// The caller's role does not allow this action.
    Forbidden = ("forbidden", Auth, 403),
    /// Granting this role needs a role that covers it: nobody can grant more than they hold.
    RoleEscalation = ("role_escalation", Auth, 403),
    /// The username or password is wrong.
    LoginFailed = ("login_failed", Auth, 401),
    /// Too many attempts; wait for the number of seconds in `Retry-After`.
    RateLimited = ("rate_limited", Auth, 429),
    /// The identity provider signed the user in, but the appliance's admission policy refuses them; the message says which rule.
    AdmissionRefused = ("admission_refused", Auth, 403),
    /// The OpenID Connect sign-in failed (state, nonce, code exchange or ID token verification); start again.
    OidcFailed = ("oidc_failed", Auth, 400),
    /// No OpenID Connect provider is configured (`[oidc]`); use a local account.
    OidcNotConfigured = ("oidc_not_configured", InvalidRequest, 404),
    /// The change would leave the workspace without an owner.
    LastOwner = ("last_owner", InvalidRequest, 409),
    /// The change would leave the appliance without a local administrator (first-run setup would reopen); create another first.
    LastAdministrator = ("last_administrator", InvalidRequest, 409),
    /// The invitation was already accepted or revoked.
    InvitationUsed = ("invitation_used", InvalidRequest, 410),
    /// The invitation expired; ask for a new one.
    InvitationExpired = ("invitation_expired", InvalidRequest, 410),
    /// The user is already a member of the workspace.
    AlreadyMember = ("already_member", InvalidRequest, 409),
    /// The cluster name is not allowed: use 1 to 63 characters a-z, 0-9 and `-`, starting with a letter.
    ClusterNameInvalid = ("cluster_name_invalid", InvalidRequest, 400),
    /// The workspace already has a cluster of this name.
    ClusterNameTaken = ("cluster_name_taken", InvalidRequest, 409),
    /// The agent key is unknown, was rotated out, or its cluster was deleted. Install the manifest from the cluster's latest registration or key rotation.
    AgentKeyInvalid = ("agent_key_invalid", Auth, 401),
    /// The agent speaks another tunnel protocol version; install the agent release that matches the appliance.
    AgentProtocolUnsupported = ("agent_protocol_unsupported", InvalidRequest, 400),
    /// A tunnel frame is not valid JSON, names an unknown message type, or comes out of order (for example before the hello); the connection survives.
    AgentFrameInvalid = ("agent_frame_invalid", InvalidRequest, 400),
    /// A tunnel frame is larger than 4 MiB; the connection is closed (WebSocket close 1009).
    AgentFrameTooLarge = ("agent_frame_too_large", InvalidRequest, 413),
    /// Another agent connected with a key of the same cluster; the newest connection wins and the older one is closed.
    AgentReplaced = ("agent_replaced", System, 409),
    /// The cluster's picture would exceed its byte budget (`clusters.snapshot_budget_bytes`); narrow the agent's namespaces or raise the budget.
    SnapshotBudgetExceeded = ("snapshot_budget_exceeded", InvalidRequest, 413),
    /// The cluster's agent is not connected (or disconnected while the call was pending); check the agent's pod and logs.
    AgentDisconnected = ("agent_disconnected", System, 503),
    /// The cluster's agent does not offer a tool of this name.
    ToolUnknown = ("tool_unknown", InvalidRequest, 404),
    /// The tool's arguments do not match its JSON schema; the message names the field.
    ToolArgumentsInvalid = ("tool_arguments_invalid", InvalidRequest, 400),
    /// The Kubernetes object the tool was asked about does not exist.
    ToolObjectNotFound = ("tool_object_not_found", InvalidRequest, 404),
    /// Kubernetes RBAC denied the agent's service account; widen the agent's RBAC scope if the access is intended.
    ToolForbiddenByRbac = ("tool_forbidden_by_rbac", Auth, 403),
    /// The namespace is outside the cluster's namespace filter.
    ToolNamespaceExcluded = ("tool_namespace_excluded", Auth, 403),
    /// A write tool was called in a read-only run.
    ToolWriteInReadOnlyRun = ("tool_write_in_read_only_run", Auth, 403),
    /// Write tools are disabled for this cluster (registration `write_allowed`, or the agent's `ACORN_AGENT_WRITE_ENABLED`).
    ToolWritesDisabled = ("tool_writes_disabled", Auth, 403),
    /// Pod logs are not allowed for this cluster (registration `logs_allowed`, or the agent's `ACORN_AGENT_LOGS_ALLOWED`).
    ToolLogsNotAllowed = ("tool_logs_not_allowed", Auth, 403),
    /// The tool call did not finish within its timeout; it was cancelled on the agent.
    ToolTimeout = ("tool_timeout", System, 504),
    /// The tool call was cancelled.
    ToolCancelled = ("tool_cancelled", System, 409),
    /// The Kubernetes API answered the tool with another error; the message has its text.
    ToolKubernetesError = ("tool_kubernetes_error", System, 502),
    /// The tool ran and reported a failure of its own (an MCP tool result with `isError`); the message has its text.
    ToolFailed = ("tool_failed", System, 502),
    /// The tool's server could not be reached or broke the protocol (MCP tools).
    ToolUnavailable = ("tool_unavailable", System, 502),
    /// The gateway call carries no run token: send the run JWT as `Authorization: Bearer …`.
    RunTokenMissing = ("run_token_missing", Auth, 401),
    /// The run token is malformed or its signature does not verify (forged or altered).
    RunTokenInvalid = ("run_token_invalid", Auth, 401),
    /// The run token has expired; the engine asks the control plane for a new one.
    RunTokenExpired = ("run_token_expired", Auth, 401),
    /// The run token names a signing key (`kid`) the appliance does not have (or none).
    RunTokenUnknownKey = ("run_token_unknown_key", Auth, 401),
    /// The run token uses another algorithm than the appliance signs with (`alg: none` included).
    RunTokenAlgorithm = ("run_token_algorithm", Auth, 401),
    /// The run token was issued for another audience or by another issuer.
    RunTokenAudience = ("run_token_audience", Auth, 401),
    /// The request names another provider than the run token allows.
    ScopeProviderMismatch = ("scope_provider_mismatch", Auth, 403),
    /// The request names another model than the run token allows.
    ScopeModelMismatch = ("scope_model_mismatch", Auth, 403),
    /// The request offers the model a tool outside the run token's tool set.
    ScopeToolNotAllowed = ("scope_tool_not_allowed", Auth, 403),
    /// The call is for a tool outside the run token's tool set.
    ScopeToolCallNotAllowed = ("scope_tool_call_not_allowed", Auth, 403),
    /// A write tool was called with a read-only run token.
    ScopeWriteNotAllowed = ("scope_write_not_allowed", Auth, 403),
    /// The request asks for more output tokens (`max_tokens`) than the run has left; ask for fewer.
    BudgetExceeded = ("budget_exceeded", InvalidRequest, 400),
    /// The run has spent its whole output-token budget.
    BudgetExhausted = ("budget_exhausted", InvalidRequest, 429),
    /// No provider of that name is configured for the workspace or the deployment.
    ProviderNotFound = ("provider_not_found", InvalidRequest, 404),
    /// The provider refused the appliance's credential (HTTP 401/403 upstream); fix its API key.
    ProviderAuthFailed = ("provider_auth_failed", System, 502),
    /// The provider kept answering 429/529 after the allowed retries; the message has its `Retry-After`.
    ProviderRateLimited = ("provider_rate_limited", System, 429),
    /// The provider did not answer in time (connect, first byte or between chunks).
    ProviderTimeout = ("provider_timeout", System, 504),
    /// The provider failed: an HTTP error, malformed JSON, or a stream cut mid-way.
    ProviderFailed = ("provider_failed", System, 502),
    /// A secret cannot be decrypted: the key-encryption key is missing or is not the one the secrets were wrapped with.
    SecretUnavailable = ("secret_unavailable", System, 503),
    /// The MCP server URL is refused: not https (and not an allowed plain-HTTP host) or not in the egress allow-list.
    McpUrlRefused = ("mcp_url_refused", InvalidRequest, 400),
    /// The MCP server could not be reached or did not speak MCP.
    McpUnreachable = ("mcp_unreachable", System, 502),
    /// The MCP tool is not enabled (tools start disabled) or no longer exists on its server.
    McpToolDisabled = ("mcp_tool_disabled", Auth, 403),
    /// A read-write run was asked by a role that may only start read-only runs, or on a cluster whose registration or agent does not allow writes.
    RunReadWriteNotAllowed = ("run_read_write_not_allowed", Auth, 403),
    /// A run limit is above the deployment's upper bound (`[engine.max_limits]`) or is zero; the message names the limit and the bound.
    RunLimitOutOfBounds = ("run_limit_out_of_bounds", InvalidRequest, 400),
    /// No provider and model were given and the workspace has no default: choose them or set the workspace's run settings.
    RunModelRequired = ("run_model_required", InvalidRequest, 400),
    /// The provider does not offer that model.
    ModelUnknown = ("model_unknown", InvalidRequest, 400),
    /// The session already has a run that has not ended; wait for it or cancel it.
    RunInProgress = ("run_in_progress", InvalidRequest, 409),
    /// The run has ended; it can no longer be cancelled or changed.
    RunFinished = ("run_finished", InvalidRequest, 409),
    /// The run has not ended yet; its evidence bundle exists only once it has.
    RunNotFinished = ("run_not_finished", InvalidRequest, 409),
    /// A run limit was reached (steps, tool calls, context, output tokens or cost); the message says which.
    RunLimitReached = ("run_limit_reached", InvalidRequest, 429),
    /// The run took longer than its `max_runtime_seconds`.
    RunTimedOut = ("run_timed_out", System, 504),
    /// The appliance stopped while the run was in progress; it was ended rather than replayed (model calls cost money and a write may already have happened). Ask again.
    ApplianceRestarted = ("appliance_restarted", System, 503),
    /// The engine is at its queue limit; retry later.
    EngineBusy = ("engine_busy", System, 503),
    /// The approval was already decided (or expired, or withdrawn); the first decision stands.
    ApprovalAlreadyDecided = ("approval_already_decided", InvalidRequest, 409),
    /// The search query does not parse; the message gives the position and what is wrong.
    SearchQueryInvalid = ("search_query_invalid", InvalidRequest, 400),
    /// The webhook URL is refused by the egress rules: not https (plain http only for hosts in `webhooks.allow_hosts`), credentials in the URL, a cloud metadata address, or a private address of a host not on the allow-list.
    WebhookUrlRefused = ("webhook_url_refused", InvalidRequest, 400),
    /// An event type of the subscription is not one of `GET /api/v1/webhooks/event-types` (or `*`).
    WebhookEventTypeUnknown = ("webhook_event_type_unknown", InvalidRequest, 400),
    /// The workspace has 100 webhook subscriptions already; delete one first.
    WebhookLimitReached = ("webhook_limit_reached", InvalidRequest, 409),
    /// The alert receiver's bearer token is missing, unknown, or belongs to another workspace or receiver.
    ReceiverTokenInvalid = ("receiver_token_invalid", Auth, 401),
    /// The inbound webhook's `webhook-signature` does not verify with the receiver's secret, or its `webhook-id`/`webhook-timestamp` headers are missing.
    WebhookSignatureInvalid = ("webhook_signature_invalid", Auth, 401),
    /// The inbound webhook's `webhook-timestamp` is more than 5 minutes away from the appliance's clock (a replay, or a clock to fix).
    WebhookTimestampRefused = ("webhook_timestamp_refused", Auth, 401),
    /// An inbound webhook with this `webhook-id` was accepted already (a replay); it is not processed again.
    WebhookReplayed = ("webhook_replayed", InvalidRequest, 409),
    /// The Alertmanager payload is not version 4 of Alertmanager's webhook format (`version` must be `"4"`), or is not that shape at all.
    AlertPayloadUnsupported = ("alert_payload_unsupported", InvalidRequest, 400),
    /// Another model evaluation is running on this appliance (one runs at a time); start yours when it has finished.
    EvalBusy = ("eval_busy", System, 503),
    /// The appliance cannot run model evaluations: `acorn-kubesim` or `acorn-agent` is not beside `acorn`, in `<prefix>/share/acorn/bin` or on `PATH` (the bundle's `install.sh` puts them there); the message says which.
    EvalUnavailable = ("eval_unavailable", System, 503),
    /// The evaluation is still running; delete it once it has finished.
    EvalRunning = ("eval_running", InvalidRequest, 409),
    /// The scenario library has no scenario of that name; the message lists the names.
    ScenarioUnknown = ("scenario_unknown", InvalidRequest, 400),
    /// An object of that name exists already.
    AlreadyExists = ("already_exists", InvalidRequest, 409),
    /// The appliance is starting or stopping and cannot serve the request yet.
    NotReady = ("not_ready", System, 503),
    /// The store refused or failed the operation; the appliance log says why.
    StoreUnavailable = ("store_unavailable", System, 503),
    /// An unexpected failure inside the appliance; the log has the details under the request id.
    Internal = ("internal", Internal, 500),
}

impl std::fmt::Display for ErrorCode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The body of every API error response.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ErrorBody {
    /// Stable machine-readable code from [`ErrorCode`].
    pub code: String,
    /// Human-readable explanation that says what to do.
    pub message: String,
    /// The family of the error.
    #[serde(rename = "type")]
    pub error_type: ErrorType,
    /// Where the code is documented (served by the appliance itself: no internet needed).
    pub link: String,
}

impl ErrorBody {
    /// Builds the body for `code` with an explanation.
    pub fn new(code: ErrorCode, message: impl Into<String>) -> Self {
        ErrorBody {
            code: code.as_str().to_owned(),
            message: message.into(),
            error_type: code.error_type(),
            link: format!("/docs/errors#{}", code.as_str()),
        }
    }
}

/// Renders the error table as Markdown (the content of `docs/errors.md`).
pub fn error_table_markdown() -> String {
    let mut out = String::from(
        "# API error codes\n\nGenerated from `acorn-proto/src/error.rs`; do not edit by hand.\n\
         Every error body is `{ \"code\", \"message\", \"type\", \"link\" }`.\n\n\
         | code | type | HTTP status | meaning |\n|---|---|---|---|\n",
    );
    for code in ErrorCode::ALL {
        let kind = match code.error_type() {
            ErrorType::InvalidRequest => "invalid_request",
            ErrorType::Auth => "auth",
            ErrorType::System => "system",
            ErrorType::Internal => "internal",
        };
        out.push_str(&format!(
            "| <a id=\"{c}\"></a>`{c}` | {kind} | {s} | {d} |\n",
            c = code.as_str(),
            s = code.http_status(),
            d = code.description().trim()
        ));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_are_unique_snake_case() {
        let mut seen = std::collections::HashSet::new();
        for code in ErrorCode::ALL {
            let s = code.as_str();
            assert!(seen.insert(s), "duplicate code {s}");
            assert!(s.chars().all(|c| c.is_ascii_lowercase() || c == '_'), "{s}");
            assert!((400..600).contains(&code.http_status()), "{s}");
        }
    }

    #[test]
    fn docs_errors_md_is_generated_from_the_table() {
        let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../docs/errors.md");
        let on_disk = std::fs::read_to_string(path).unwrap_or_default();
        if on_disk != error_table_markdown() {
            if std::env::var_os("ACORN_BLESS").is_some() {
                std::fs::write(path, error_table_markdown()).unwrap();
            } else {
                panic!("docs/errors.md is stale: run `ACORN_BLESS=1 cargo test -p acorn-proto`");
            }
        }
    }
}
