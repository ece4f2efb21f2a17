//! Bodies of the LLM gateway: provider and MCP-server management under
//! `/api/v1/workspaces/{id}/…`, secrets (write-only), the gateway request log, the claims of a
//! run JWT, and the local-socket operations of `acorn gateway …` / `acorn secrets …`.
//!
//! The runtime API (`/gateway/v1/chat/completions`) speaks the OpenAI Chat Completions wire
//! format; its bodies are that format's JSON and are not mirrored here, except for the tool-call
//! endpoint's own body ([`ToolCallRequest`], [`ToolCallResponse`]).

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::agent::{RunMode, ToolOutcome};

/// The `aud` of every run JWT: only the gateway accepts them.
pub const RUN_TOKEN_AUDIENCE: &str = "acorn-gateway";
/// The `iss` of every run JWT: the control plane signs them.
pub const RUN_TOKEN_ISSUER: &str = "acorn-control-plane";
/// Prefix of the tool names of MCP tools in a run's tool set: `mcp__<server>__<tool>`.
pub const MCP_TOOL_PREFIX: &str = "mcp__";
/// Scope headers sent with every MCP tool call.
pub const SCOPE_HEADER_WORKSPACE: &str = "x-acorn-workspace";
/// See [`SCOPE_HEADER_WORKSPACE`].
pub const SCOPE_HEADER_CLUSTER: &str = "x-acorn-cluster";
/// See [`SCOPE_HEADER_WORKSPACE`].
pub const SCOPE_HEADER_RUN: &str = "x-acorn-run";

/// The claims of a run JWT (EdDSA, `kid` in the header). The gateway decides with these, never
/// with what a request body says.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RunClaims {
    /// [`RUN_TOKEN_ISSUER`].
    pub iss: String,
    /// [`RUN_TOKEN_AUDIENCE`].
    pub aud: String,
    /// The run id (also in `run`).
    pub sub: String,
    /// Issued at (unix seconds).
    pub iat: u64,
    /// Expiry (unix seconds); lifetimes are short (minutes).
    pub exp: u64,
    /// Unique id of this token.
    pub jti: String,
    /// The workspace the run belongs to.
    pub workspace: String,
    /// The cluster the run investigates.
    pub cluster: String,
    /// The session the run belongs to.
    pub session: String,
    /// The run.
    pub run: String,
    /// The only provider the run may use (a workspace provider of this name wins over a
    /// deployment one).
    pub provider: String,
    /// The only model the run may use.
    pub model: String,
    /// The tools the run may offer to the model and call (builtin names and `mcp__server__tool`).
    pub tools: Vec<String>,
    /// Read-only or read-write run (write tools need read-write).
    pub mode: RunMode,
    /// Output tokens the run may spend in total, across all its model calls.
    pub output_budget: u64,
}

/// Kind of a model provider.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ProviderKind {
    /// The OpenAI Chat Completions API and every compatible server (vLLM, Ollama `/v1`,
    /// llama.cpp server, LocalAI, LiteLLM, Azure OpenAI with `azure_api_version`).
    Openai,
    /// The Anthropic Messages API.
    Anthropic,
}

/// One model of a provider's catalog, as configured.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ModelSpec {
    /// The model id sent to the provider (for Azure: the deployment name).
    pub id: String,
    /// Context window in tokens.
    #[serde(default)]
    pub context_window: Option<u64>,
    /// Price in the operator's currency per million input tokens.
    #[serde(default)]
    pub input_price_per_mtok: f64,
    /// Price per million output tokens.
    #[serde(default)]
    pub output_price_per_mtok: f64,
    /// Whether the model calls tools natively.
    #[serde(default = "yes")]
    pub native_tools: bool,
}

fn yes() -> bool {
    true
}

/// A provider as configured (deployment config or workspace API), without its credential.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ProviderSpec {
    /// `openai` or `anthropic`.
    pub kind: ProviderKind,
    /// Base URL, e.g. `https://api.openai.com/v1`, `http://ollama.internal:11434/v1`,
    /// `https://api.anthropic.com`, or for Azure `https://NAME.openai.azure.com/openai`.
    pub base_url: String,
    /// Azure OpenAI: the `api-version` query parameter; requests then go to
    /// `{base_url}/deployments/{model}/chat/completions` with an `api-key` header.
    #[serde(default)]
    pub azure_api_version: Option<String>,
    /// PEM bundle of the CA that signed the provider's certificate (internal PKI). Unset:
    /// the system roots.
    #[serde(default)]
    pub ca_pem: Option<String>,
    /// Connect timeout in milliseconds.
    #[serde(default = "default_connect_timeout_ms")]
    pub connect_timeout_ms: u64,
    /// Timeout of a whole non-streaming call, and of the wait for each streamed chunk, in
    /// milliseconds.
    #[serde(default = "default_request_timeout_ms")]
    pub request_timeout_ms: u64,
    /// Retries on 429/529/503 (honouring `Retry-After`) before giving up.
    #[serde(default = "default_max_retries")]
    pub max_retries: u32,
    /// Ask the provider for its model list (`GET /models`) when building the catalog.
    #[serde(default = "yes")]
    pub list_models: bool,
    /// Configured models (prices, context window, tool support).
    #[serde(default)]
    pub models: Vec<ModelSpec>,
}

/// Default connect timeout.
pub fn default_connect_timeout_ms() -> u64 {
    5_000
}
/// Default request timeout.
pub fn default_request_timeout_ms() -> u64 {
    120_000
}
/// Default retries.
pub fn default_max_retries() -> u32 {
    2
}

/// `PUT /api/v1/workspaces/{id}/providers/{name}`: the provider and, optionally, a new key.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PutProvider {
    /// The provider's settings.
    #[serde(flatten)]
    pub spec: ProviderSpec,
    /// The API key. Write-only: stored encrypted, never returned. Absent: keep the stored key.
    #[serde(default)]
    pub api_key: Option<String>,
}

/// Whether a secret is set, and how to recognise it (never its value).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SecretState {
    /// `true` when a value is stored.
    pub set: bool,
    /// `sha256:` and the first 8 hex digits of the SHA-256 of the value (compare with
    /// `printf %s "$KEY" | sha256sum`).
    pub fingerprint: Option<String>,
    /// When it was last set (RFC 3339).
    pub updated_at: Option<String>,
}

/// Where a provider is configured.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ProviderSource {
    /// The deployment's configuration file.
    Deployment,
    /// The workspace (takes precedence over a deployment provider of the same name).
    Workspace,
}

/// A provider as the API shows it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ProviderView {
    /// Name, unique within its source.
    pub name: String,
    /// Where it is configured.
    pub source: ProviderSource,
    /// Its settings.
    #[serde(flatten)]
    pub spec: ProviderSpec,
    /// The credential's state (never its value).
    pub api_key: SecretState,
}

/// A model of the catalog, as the API shows it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ModelView {
    /// The model id.
    pub id: String,
    /// `configured`, `listed` (from the provider's `/models`), or `both`.
    pub origin: String,
    /// Context window in tokens, when known.
    pub context_window: Option<u64>,
    /// Price per million input tokens.
    pub input_price_per_mtok: f64,
    /// Price per million output tokens.
    pub output_price_per_mtok: f64,
    /// Whether the model calls tools natively (listed-only models: assumed yes).
    pub native_tools: bool,
}

/// `GET /api/v1/workspaces/{id}/providers/{name}/models`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ModelCatalog {
    /// The provider.
    pub provider: String,
    /// The models.
    pub models: Vec<ModelView>,
    /// Why listing from the provider failed, if it did (the configured models are still shown).
    pub listing_error: Option<String>,
}

/// `PUT /api/v1/workspaces/{id}/secrets/{name}`.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PutSecret {
    /// The value. Write-only.
    pub value: String,
}

/// A secret as the API shows it: its name and state, never its value.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct SecretView {
    /// Name.
    pub name: String,
    /// State and fingerprint.
    #[serde(flatten)]
    pub state: SecretState,
}

/// How an MCP tool may be used by runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum McpToolMode {
    /// Not offered to runs (every discovered tool starts here).
    Disabled,
    /// Offered to every run.
    Read,
    /// Offered to read-write runs only.
    Write,
}

/// `POST /api/v1/workspaces/{id}/mcp-servers`.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CreateMcpServer {
    /// Name, unique in the workspace: `[a-z0-9-]{1,32}` (it becomes part of tool names).
    pub name: String,
    /// Streamable HTTP endpoint, e.g. `https://mcp.internal/mcp`.
    pub url: String,
    /// Headers sent with every request (e.g. `authorization`). Write-only: stored encrypted.
    #[serde(default)]
    pub headers: BTreeMap<String, String>,
    /// Timeout of one tool call in milliseconds.
    #[serde(default = "default_mcp_timeout_ms")]
    pub timeout_ms: u64,
    /// Tool output longer than this is cut (and marked truncated).
    #[serde(default = "default_mcp_max_output_bytes")]
    pub max_output_bytes: usize,
}

/// Default MCP call timeout.
pub fn default_mcp_timeout_ms() -> u64 {
    30_000
}
/// Default MCP output limit.
pub fn default_mcp_max_output_bytes() -> usize {
    64 * 1024
}

/// `PUT /api/v1/workspaces/{id}/mcp-servers/{server_id}/tools/{tool}`.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SetMcpToolMode {
    /// `disabled`, `read` or `write`.
    pub mode: McpToolMode,
}

/// A discovered MCP tool.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct McpToolView {
    /// The tool's name on its server.
    pub name: String,
    /// The name runs use: `mcp__<server>__<tool>`.
    pub run_name: String,
    /// Its description.
    pub description: String,
    /// JSON Schema of its arguments.
    pub input_schema: serde_json::Value,
    /// The server's `readOnlyHint` annotation.
    pub read_only_hint: bool,
    /// Current mode.
    pub mode: McpToolMode,
    /// The mode the registry suggests: `read` only for tools declaring `readOnlyHint: true`.
    pub suggested_mode: McpToolMode,
}

/// An MCP server as the API shows it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct McpServerView {
    /// `mcp_…`.
    pub id: String,
    /// Name.
    pub name: String,
    /// Endpoint.
    pub url: String,
    /// Header names and their state (values are never shown).
    pub headers: BTreeMap<String, SecretState>,
    /// Call timeout in milliseconds.
    pub timeout_ms: u64,
    /// Output limit in bytes.
    pub max_output_bytes: usize,
    /// Discovered tools.
    pub tools: Vec<McpToolView>,
    /// Last discovery (RFC 3339).
    pub refreshed_at: Option<String>,
}

/// The answer to a refresh: the server and what changed.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct McpRefresh {
    /// The server after the refresh.
    pub server: McpServerView,
    /// Tools that appeared (disabled).
    pub added: Vec<String>,
    /// Tools that disappeared.
    pub removed: Vec<String>,
    /// Tools whose description or schema changed (disabled again).
    pub changed: Vec<String>,
}

/// One tool of the catalog runs are offered.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CatalogTool {
    /// The name runs use.
    pub name: String,
    /// Description for the model.
    pub description: String,
    /// JSON Schema of the arguments.
    pub input_schema: serde_json::Value,
    /// `builtin` or `mcp`.
    pub source: String,
    /// `read` or `write`.
    pub class: String,
}

/// `POST /gateway/v1/tools/{name}/call`.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ToolCallRequest {
    /// The arguments object.
    #[serde(default = "empty_object")]
    pub arguments: serde_json::Value,
}

fn empty_object() -> serde_json::Value {
    serde_json::Value::Object(serde_json::Map::new())
}

/// The answer of the tool-call endpoint: the outcome after redaction.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ToolCallResponse {
    /// The tool.
    pub tool: String,
    /// What came of it (`status: ok` with content, or `status: error` with a typed code).
    pub outcome: ToolOutcome,
}

/// One gateway request as the request log shows it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct GatewayRequestView {
    /// Position in the workspace's gateway log.
    pub seq: u64,
    /// The appliance request id (`x-request-id`), or `inproc-…` for in-process calls.
    pub request_id: String,
    /// `chat` or `tool`.
    pub kind: String,
    /// The run, session and cluster of the token (absent when the token was refused).
    pub run: Option<String>,
    /// See `run`.
    pub session: Option<String>,
    /// See `run`.
    pub cluster: Option<String>,
    /// Provider used (chat).
    pub provider: Option<String>,
    /// Model used (chat).
    pub model: Option<String>,
    /// Tools offered to the model (chat).
    pub tools_offered: Vec<String>,
    /// Tools the model called (chat) or the tool called (tool).
    pub tools_called: Vec<String>,
    /// Input tokens.
    pub input_tokens: u64,
    /// Output tokens.
    pub output_tokens: u64,
    /// Whether the token counts came from the provider (else counted by the gateway).
    pub usage_from_provider: bool,
    /// Cost from the price table.
    pub cost: f64,
    /// From request to last byte, in milliseconds.
    pub latency_ms: u64,
    /// Time to first token (streaming), in milliseconds.
    pub ttft_ms: Option<u64>,
    /// `ok`, `refused` (by the gateway) or `failed` (upstream).
    pub status: String,
    /// The error code, when not ok.
    pub error_code: Option<String>,
    /// Secrets the redaction step masked in tool output.
    pub redactions: u32,
    /// When (RFC 3339).
    pub at: String,
}

/// Requests on the local socket for `acorn gateway …` and `acorn secrets …`.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(tag = "gateway_op", rename_all = "snake_case", deny_unknown_fields)]
pub enum GatewayLocalRequest {
    /// Sign a run JWT (operator at the machine; for tests and external engines).
    IssueRunToken {
        /// The claims' scope.
        workspace: String,
        /// Cluster id.
        cluster: String,
        /// Session id.
        session: String,
        /// Run id (absent: a new `run_…` id).
        run: Option<String>,
        /// Provider name.
        provider: String,
        /// Model id.
        model: String,
        /// Allowed tools.
        tools: Vec<String>,
        /// `read_only` or `read_write`.
        mode: RunMode,
        /// Output-token budget.
        output_budget: u64,
        /// Lifetime in seconds (at most the configured maximum).
        ttl_secs: Option<u64>,
    },
    /// Create a new signing key; new tokens use it, older keys still verify until they retire.
    RotateSigningKey,
    /// Re-wrap every secret's data key under a new key-encryption key.
    RotateKek {
        /// File holding the new KEK (absent: a new KEK generated into the store, allowed only
        /// when the current one is stored there too).
        new_kek_file: Option<String>,
    },
}

/// Answers to [`GatewayLocalRequest`].
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(tag = "gateway_result", rename_all = "snake_case")]
pub enum GatewayLocalResponse {
    /// A signed run token.
    RunToken {
        /// The JWT.
        token: String,
        /// Its claims.
        claims: Box<RunClaims>,
    },
    /// A new signing key is current.
    SigningKeyRotated {
        /// Its `kid`.
        kid: String,
    },
    /// The KEK was rotated.
    KekRotated {
        /// Id of the new KEK.
        kek_id: String,
        /// Secrets re-wrapped.
        rewrapped: u64,
        /// Where the new KEK lives (`store` or `file`).
        source: String,
    },
}
