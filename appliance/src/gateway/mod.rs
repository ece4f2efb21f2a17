//! The LLM gateway: every model call and every tool call of a run passes through here, and is
//! decided by the run's JWT — never by what the request body claims.
//!
//! Layout:
//! - [`secrets`]: envelope encryption of provider keys, MCP headers and signing keys; the KEK;
//! - [`jwt`]: run tokens (issue for the control plane and engine, verify on every call);
//! - [`chat`]: the internal request and normalized event stream; [`providers`]: OpenAI and
//!   Anthropic wire formats, retries, timeouts, catalog;
//! - [`tools`]: the cluster-link interface for builtin tools (placeholder until wired);
//!   [`mcp`]: MCP servers through `rmcp`; [`redact`]: masking tool results;
//! - [`manage`]: the workspace API services (providers, secrets, MCP registry, request log);
//!   [`routes`]: their HTTP routes and the runtime API `/gateway/v1/…`;
//! - [`ops`]: `acorn gateway …` / `acorn secrets …` on the local socket; [`metrics`]; [`config`].
//!
//! The runtime entry points are [`Gateway::chat`] and [`Gateway::call_tool`]; the HTTP routes
//! and the (future) in-process engine call the same functions, so the checks cannot differ.
//! Every runtime request, admitted or refused, ends in the workspace's gateway request log
//! (when the token identified a workspace) and in the metrics.

pub mod chat;
pub mod config;
pub mod jwt;
pub mod manage;
pub mod mcp;
pub mod metrics;
pub mod ops;
pub mod providers;
pub mod redact;
pub mod routes;
pub mod secrets;
pub mod tools;

use std::collections::HashMap;
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::Value;
use tokio::sync::mpsc;

use acorn_proto::ErrorCode;
use acorn_proto::agent::{RunMode, ToolError, ToolErrorCode, ToolOutcome};
use acorn_proto::gateway::{
    MCP_TOOL_PREFIX, McpToolMode, ProviderSource, RunClaims, SCOPE_HEADER_CLUSTER,
    SCOPE_HEADER_RUN, SCOPE_HEADER_WORKSPACE, ToolCallResponse,
};
use acorn_store::{BudgetRefusal, GatewayRequestRecord, Store, StoreError};

use crate::control::error::ApiError;
use crate::util;
use chat::{Assembler, ChatEvent, ChatRequest};
use providers::Provider;
use secrets::{SecretError, Secrets};
use tools::ClusterTools;

/// Output tokens reserved for a call that does not say `max_tokens`.
const DEFAULT_MAX_TOKENS: u64 = 4096;

/// A refusal or failure of the gateway, with its code from the error table.
#[derive(Debug, Clone)]
pub struct GatewayError {
    pub code: ErrorCode,
    pub message: String,
    pub retry_after: Option<u64>,
}

impl GatewayError {
    pub fn new(code: ErrorCode, message: impl Into<String>) -> Self {
        GatewayError {
            code,
            message: message.into(),
            retry_after: None,
        }
    }

    /// An unexpected failure: logged, generic message.
    pub fn internal(detail: impl std::fmt::Display) -> Self {
        tracing::error!(error = %detail, "gateway internal error");
        GatewayError::new(
            ErrorCode::Internal,
            "an unexpected error happened in the gateway; the appliance log has the details",
        )
    }

    pub fn with_retry_after(mut self, secs: u64) -> Self {
        self.retry_after = Some(secs);
        self
    }
}

impl std::fmt::Display for GatewayError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {}", self.code, self.message)
    }
}

impl From<GatewayError> for ApiError {
    fn from(e: GatewayError) -> Self {
        let mut api = ApiError::new(e.code, e.message);
        api.retry_after = e.retry_after;
        api
    }
}

impl From<StoreError> for GatewayError {
    fn from(e: StoreError) -> Self {
        let api = ApiError::from(e);
        GatewayError::new(api.code, api.message)
    }
}

impl From<SecretError> for GatewayError {
    fn from(e: SecretError) -> Self {
        match e {
            SecretError::Store(s) => s.into(),
            other => {
                tracing::error!(error = %other, "secret unavailable");
                GatewayError::new(
                    ErrorCode::SecretUnavailable,
                    "a secret this needs cannot be decrypted; the appliance log says which and why",
                )
            }
        }
    }
}

/// An answer being produced: events until `Finish`, then one `Usage` (the provider's count, or
/// the gateway's), or an error. Dropping the receiver cancels the upstream call.
pub struct ChatStream {
    pub id: String,
    pub model: String,
    pub created: i64,
    pub stream: bool,
    pub events: mpsc::Receiver<Result<ChatEvent, GatewayError>>,
}

/// A workspace provider's client and the `updated_at` of the record it was built from.
type CachedProvider = (i64, Arc<Provider>);

/// The gateway.
pub struct Gateway {
    pub store: Store,
    pub secrets: Secrets,
    pub tokens: jwt::RunTokens,
    deployment: HashMap<String, Arc<Provider>>,
    /// Workspace providers by (workspace, name), rebuilt when their record changes.
    workspace_providers: Mutex<HashMap<(String, String), CachedProvider>>,
    pub cluster_tools: Arc<dyn ClusterTools>,
    pub url_policy: mcp::UrlPolicy,
    pub metrics: metrics::GatewayMetrics,
    pub max_retry_wait: Duration,
}

impl std::fmt::Debug for Gateway {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Gateway").finish_non_exhaustive()
    }
}

/// What the runtime log records of one request while it is served.
struct Trace {
    started: Instant,
    request_id: String,
    kind: &'static str,
    claims: Option<RunClaims>,
    provider: Option<String>,
    model: Option<String>,
    tools_offered: Vec<String>,
}

impl Gateway {
    /// Opens the gateway: KEK, signing keys, deployment providers.
    pub async fn open(
        store: Store,
        config: &config::GatewayConfig,
        credentials_dir: Option<&Path>,
        cluster_tools: Arc<dyn ClusterTools>,
        metrics: metrics::GatewayMetrics,
    ) -> anyhow::Result<Gateway> {
        let secrets =
            Secrets::open(store.clone(), config.kek_file.as_deref(), credentials_dir).await?;
        let tokens = jwt::RunTokens::open(
            store.clone(),
            &secrets,
            config.run_token_ttl,
            config.run_token_max_ttl,
        )
        .await?;
        let mut deployment = HashMap::new();
        for p in &config.providers {
            let (spec, key) = p
                .resolve()
                .map_err(|e| anyhow::anyhow!("gateway.providers {}: {e}", p.name))?;
            let provider = Provider::build(
                p.name.clone(),
                ProviderSource::Deployment,
                spec,
                key,
                config.max_retry_wait,
            )
            .map_err(|e| anyhow::anyhow!("gateway.providers {}: {}", p.name, e.message))?;
            deployment.insert(p.name.clone(), Arc::new(provider));
        }
        let (kek_id, kek_source) = secrets.kek_info();
        tracing::info!(
            kek_id,
            kek_source,
            providers = deployment.len(),
            "gateway ready"
        );
        Ok(Gateway {
            store,
            secrets,
            tokens,
            deployment,
            workspace_providers: Mutex::new(HashMap::new()),
            cluster_tools,
            url_policy: mcp::UrlPolicy {
                plain_http_hosts: config.mcp_allow_plain_http_hosts.clone(),
                egress_allow_hosts: config.mcp_egress_allow_hosts.clone(),
            },
            metrics,
            max_retry_wait: config.max_retry_wait,
        })
    }

    /// Deployment providers, by name.
    pub fn deployment_providers(&self) -> Vec<Arc<Provider>> {
        let mut all: Vec<_> = self.deployment.values().cloned().collect();
        all.sort_by(|a, b| a.name.cmp(&b.name));
        all
    }

    /// Drops the cached client of a workspace provider that was changed or deleted. The cache
    /// also compares `updated_at`, but that has whole seconds: two changes within one second
    /// (or a new key, which keeps the record's secret name) must not leave the old client.
    pub fn forget_provider(&self, workspace: &str, name: &str) {
        if let Ok(mut cache) = self.workspace_providers.lock() {
            cache.remove(&(workspace.to_owned(), name.to_owned()));
        }
    }

    /// The provider `name` for `workspace`: the workspace's own wins over the deployment's.
    pub fn resolve_provider(
        &self,
        workspace: &str,
        name: &str,
    ) -> Result<Arc<Provider>, GatewayError> {
        if let Some(record) = self.store.provider(workspace, name)? {
            let key = (workspace.to_owned(), name.to_owned());
            if let Ok(cache) = self.workspace_providers.lock()
                && let Some((updated, p)) = cache.get(&key)
                && *updated == record.updated_at
            {
                return Ok(Arc::clone(p));
            }
            let api_key = match &record.api_key_secret {
                Some(secret) => self
                    .secrets
                    .get(workspace, secret)?
                    .map(|b| String::from_utf8_lossy(&b).into_owned()),
                None => None,
            };
            let provider = Arc::new(Provider::build(
                name.to_owned(),
                ProviderSource::Workspace,
                record.spec.clone(),
                api_key,
                self.max_retry_wait,
            )?);
            if let Ok(mut cache) = self.workspace_providers.lock() {
                cache.insert(key, (record.updated_at, Arc::clone(&provider)));
            }
            return Ok(provider);
        }
        self.deployment.get(name).cloned().ok_or_else(|| {
            GatewayError::new(
                ErrorCode::ProviderNotFound,
                format!("no provider named {name} in this workspace or the deployment"),
            )
        })
    }

    fn trace(&self, kind: &'static str, request_id: &str) -> Trace {
        Trace {
            started: Instant::now(),
            request_id: request_id.to_owned(),
            kind,
            claims: None,
            provider: None,
            model: None,
            tools_offered: Vec::new(),
        }
    }

    /// Records a refusal (log, metrics, and the workspace's request log when known).
    async fn refuse(&self, trace: Trace, error: GatewayError) -> GatewayError {
        tracing::info!(request_id = %trace.request_id, kind = trace.kind, code = %error.code, "gateway request refused");
        self.finish(
            &trace,
            Outcome {
                status: "refused",
                error_code: Some(error.code.as_str().to_owned()),
                ..Outcome::default()
            },
        )
        .await;
        error
    }

    async fn finish(&self, trace: &Trace, outcome: Outcome) {
        let latency = trace.started.elapsed();
        self.metrics.observe(
            trace.kind,
            trace.provider.as_deref().unwrap_or(""),
            trace.model.as_deref().unwrap_or(""),
            outcome.status,
            latency,
            outcome.ttft,
            outcome.input_tokens,
            outcome.output_tokens,
            outcome.cost,
        );
        let Some(claims) = &trace.claims else {
            return;
        };
        let record = GatewayRequestRecord {
            seq: 0,
            workspace_id: claims.workspace.clone(),
            request_id: trace.request_id.clone(),
            kind: trace.kind.to_owned(),
            run: Some(claims.run.clone()),
            session: Some(claims.session.clone()),
            cluster: Some(claims.cluster.clone()),
            provider: trace.provider.clone(),
            model: trace.model.clone(),
            tools_offered: trace.tools_offered.clone(),
            tools_called: outcome.tools_called,
            input_tokens: outcome.input_tokens,
            output_tokens: outcome.output_tokens,
            usage_from_provider: outcome.usage_from_provider,
            cost: outcome.cost,
            latency_ms: latency.as_millis() as u64,
            ttft_ms: outcome.ttft.map(|t| t.as_millis() as u64),
            status: outcome.status.to_owned(),
            error_code: outcome.error_code,
            redactions: outcome.redactions,
            at: util::now_unix(),
        };
        if let Err(e) = self.store.append_gateway_request(record).await {
            tracing::error!(error = %e, "cannot record a gateway request");
        }
    }

    /// Verifies the token and checks the request against it, reserves output tokens, and starts
    /// the provider call. Errors before the first event are returned here; later ones arrive
    /// on the stream.
    pub async fn chat(
        self: &Arc<Self>,
        token: Option<&str>,
        body: &Value,
        request_id: &str,
    ) -> Result<ChatStream, GatewayError> {
        let mut trace = self.trace("chat", request_id);
        let claims = match verify(&self.tokens, token) {
            Ok(c) => c,
            Err(e) => return Err(self.refuse(trace, e).await),
        };
        trace.claims = Some(claims.clone());
        trace.provider = Some(claims.provider.clone());
        trace.model = Some(claims.model.clone());
        let req = match ChatRequest::from_openai(body) {
            Ok(r) => r,
            Err(e) => return Err(self.refuse(trace, e).await),
        };
        trace.tools_offered = req.tools.iter().map(|t| t.name.clone()).collect();
        if let Err(e) = check_chat_scope(&claims, &req) {
            return Err(self.refuse(trace, e).await);
        }
        let provider = match self.resolve_provider(&claims.workspace, &claims.provider) {
            Ok(p) => p,
            Err(e) => return Err(self.refuse(trace, e).await),
        };
        let reserved = match self
            .store
            .reserve_output_tokens(
                &claims.workspace,
                &claims.run,
                claims.output_budget,
                req.max_tokens,
                DEFAULT_MAX_TOKENS,
                util::now_unix(),
            )
            .await
        {
            Ok(Ok(n)) => n,
            Ok(Err(BudgetRefusal::Exhausted { budget })) => {
                let e = GatewayError::new(
                    ErrorCode::BudgetExhausted,
                    format!("the run has spent its whole output budget of {budget} tokens"),
                );
                return Err(self.refuse(trace, e).await);
            }
            Ok(Err(BudgetRefusal::Exceeded { asked, remaining })) => {
                let e = GatewayError::new(
                    ErrorCode::BudgetExceeded,
                    format!(
                        "max_tokens {asked} is more than the {remaining} output tokens the run has left"
                    ),
                );
                return Err(self.refuse(trace, e).await);
            }
            Err(e) => return Err(self.refuse(trace, e.into()).await),
        };
        let (tx, rx) = mpsc::channel(64);
        let stream = ChatStream {
            id: format!(
                "chatcmpl-{}",
                hex::encode(crate::tls::pki::random_bytes::<12>())
            ),
            model: claims.model.clone(),
            created: util::now_unix(),
            stream: req.stream,
            events: rx,
        };
        let gateway = Arc::clone(self);
        tokio::spawn(async move {
            gateway
                .run_chat(trace, claims, req, provider, reserved, tx)
                .await;
        });
        Ok(stream)
    }

    async fn run_chat(
        &self,
        trace: Trace,
        claims: RunClaims,
        req: ChatRequest,
        provider: Arc<Provider>,
        reserved: u64,
        tx: mpsc::Sender<Result<ChatEvent, GatewayError>>,
    ) {
        let (ptx, mut prx) = mpsc::channel(64);
        let upstream = {
            let provider = Arc::clone(&provider);
            let req = req.clone();
            let model = claims.model.clone();
            tokio::spawn(async move { provider.chat(&req, &model, reserved, ptx).await })
        };
        let mut assembled = Assembler::default();
        let mut ttft = None;
        let mut error = None;
        let mut client_gone = false;
        while let Some(item) = prx.recv().await {
            match item {
                Ok(event) => {
                    if ttft.is_none()
                        && matches!(
                            event,
                            ChatEvent::TextDelta(_) | ChatEvent::ToolCallStart { .. }
                        )
                    {
                        ttft = Some(trace.started.elapsed());
                    }
                    assembled.push(&event);
                    if matches!(event, ChatEvent::Usage { .. }) {
                        continue;
                    }
                    if tx.send(Ok(event)).await.is_err() {
                        client_gone = true;
                        break;
                    }
                }
                Err(e) => {
                    error = Some(e);
                    break;
                }
            }
        }
        drop(prx);
        upstream.abort();
        let (input, output, from_provider) = match assembled.usage {
            Some((i, o)) => (i, o, true),
            None => (
                req.estimated_input_tokens(),
                assembled.output_tokens_counted(),
                false,
            ),
        };
        // Accounting lands before the caller sees the end of the answer, so that the run's next
        // call already sees this one's spending (and the log has it).
        let settle =
            self.store
                .settle_output_tokens(&claims.run, reserved, output, util::now_unix());
        let cost = providers::cost(provider.model(&claims.model), input, output);
        let (status, error_code) = match (&error, client_gone) {
            (Some(e), _) => ("failed", Some(e.code.as_str().to_owned())),
            (None, true) => ("failed", Some("client_disconnected".to_owned())),
            (None, false) => ("ok", None),
        };
        let record = self.finish(
            &trace,
            Outcome {
                status,
                error_code,
                input_tokens: input,
                output_tokens: output,
                usage_from_provider: from_provider,
                cost,
                ttft,
                tools_called: assembled
                    .tool_calls
                    .iter()
                    .map(|(_, name, _)| name.clone())
                    .collect(),
                redactions: 0,
            },
        );
        let (settled, ()) = tokio::join!(settle, record);
        if let Err(e) = settled {
            tracing::error!(error = %e, run = %claims.run, "cannot settle the run's output budget");
        }
        match error {
            Some(e) => {
                let _ = tx.send(Err(e)).await;
            }
            None if !client_gone => {
                let _ = tx.send(Ok(ChatEvent::Usage { input, output })).await;
            }
            None => {}
        }
    }

    /// Calls a tool for a run: builtin (through the cluster link) or MCP. The result is redacted
    /// before it is returned.
    pub async fn call_tool(
        &self,
        token: Option<&str>,
        name: &str,
        arguments: Value,
        request_id: &str,
    ) -> Result<ToolCallResponse, GatewayError> {
        let mut trace = self.trace("tool", request_id);
        let claims = match verify(&self.tokens, token) {
            Ok(c) => c,
            Err(e) => return Err(self.refuse(trace, e).await),
        };
        trace.claims = Some(claims.clone());
        if !claims.tools.iter().any(|t| t == name) {
            let e = GatewayError::new(
                ErrorCode::ScopeToolCallNotAllowed,
                format!("the run may not call the tool {name}"),
            );
            return Err(self.refuse(trace, e).await);
        }
        let result = match name.strip_prefix(MCP_TOOL_PREFIX) {
            Some(rest) => match self.mcp_call(&claims, rest, arguments).await {
                Ok(r) => r,
                Err(e) => return Err(self.refuse(trace, e).await),
            },
            None => {
                self.cluster_tools
                    .call(
                        &claims.workspace,
                        &claims.cluster,
                        name,
                        arguments,
                        claims.mode,
                        &claims.run,
                    )
                    .await
            }
        };
        let (outcome, redactions) = redact_outcome(result);
        let (status, error_code) = match &outcome {
            ToolOutcome::Ok(_) => ("ok", None),
            ToolOutcome::Error(e) => ("failed", Some(e.code.as_str().to_owned())),
        };
        self.finish(
            &trace,
            Outcome {
                status,
                error_code,
                tools_called: vec![name.to_owned()],
                redactions,
                ..Outcome::default()
            },
        )
        .await;
        Ok(ToolCallResponse {
            tool: name.to_owned(),
            outcome,
        })
    }

    async fn mcp_call(
        &self,
        claims: &RunClaims,
        server_and_tool: &str,
        arguments: Value,
    ) -> Result<Result<acorn_proto::agent::ToolOutput, ToolError>, GatewayError> {
        let disabled = || {
            GatewayError::new(
                ErrorCode::McpToolDisabled,
                format!(
                    "the MCP tool {MCP_TOOL_PREFIX}{server_and_tool} is not enabled in this workspace"
                ),
            )
        };
        let (server_name, tool_name) = server_and_tool.split_once("__").ok_or_else(disabled)?;
        let server = self
            .store
            .mcp_servers_of(&claims.workspace)?
            .into_iter()
            .find(|s| s.name == server_name)
            .ok_or_else(disabled)?;
        let tool = server
            .tools
            .iter()
            .find(|t| t.name == tool_name && t.mode != McpToolMode::Disabled)
            .ok_or_else(disabled)?;
        if tool.mode == McpToolMode::Write && claims.mode == RunMode::ReadOnly {
            return Err(GatewayError::new(
                ErrorCode::ScopeWriteNotAllowed,
                format!(
                    "{MCP_TOOL_PREFIX}{server_and_tool} is a write tool and the run is read-only"
                ),
            ));
        }
        // The URL is checked again: the deployment's policy may have changed since registration.
        self.url_policy.check(&server.url)?;
        let headers = manage::mcp_headers(self, &server)?;
        Ok(mcp::call(
            &server.url,
            &headers,
            [
                (SCOPE_HEADER_WORKSPACE, claims.workspace.as_str()),
                (SCOPE_HEADER_CLUSTER, claims.cluster.as_str()),
                (SCOPE_HEADER_RUN, claims.run.as_str()),
            ],
            tool,
            arguments,
            Duration::from_millis(server.timeout_ms),
            server.max_output_bytes,
        )
        .await)
    }
}

/// Hourly: drop signing keys whose tokens have all expired.
pub fn spawn_housekeeping(gateway: Arc<Gateway>, mut shutdown: tokio::sync::watch::Receiver<bool>) {
    tokio::spawn(async move {
        let mut hourly = tokio::time::interval(Duration::from_secs(3600));
        loop {
            tokio::select! {
                _ = shutdown.changed() => break,
                _ = hourly.tick() => {
                    match gateway.tokens.prune(&gateway.secrets).await {
                        Ok(0) => {}
                        Ok(n) => tracing::info!(keys = n, "retired run-token signing keys removed"),
                        Err(e) => tracing::warn!(error = %e, "pruning signing keys failed"),
                    }
                }
            }
        }
    });
}

#[derive(Default)]
struct Outcome {
    status: &'static str,
    error_code: Option<String>,
    input_tokens: u64,
    output_tokens: u64,
    usage_from_provider: bool,
    cost: f64,
    ttft: Option<Duration>,
    tools_called: Vec<String>,
    redactions: u32,
}

fn verify(tokens: &jwt::RunTokens, token: Option<&str>) -> Result<RunClaims, GatewayError> {
    let token = token.ok_or_else(|| {
        GatewayError::new(
            ErrorCode::RunTokenMissing,
            "send the run token as `Authorization: Bearer <run JWT>`",
        )
    })?;
    tokens.verify(token)
}

/// The body may only ask for what the token allows.
fn check_chat_scope(claims: &RunClaims, req: &ChatRequest) -> Result<(), GatewayError> {
    if let Some(p) = &req.provider
        && *p != claims.provider
    {
        return Err(GatewayError::new(
            ErrorCode::ScopeProviderMismatch,
            format!("the run may use provider {}, not {p}", claims.provider),
        ));
    }
    let qualified = format!("{}/{}", claims.provider, claims.model);
    if req.model != claims.model && req.model != qualified {
        if let Some((p, m)) = req.model.split_once('/')
            && m == claims.model
            && p != claims.provider
        {
            return Err(GatewayError::new(
                ErrorCode::ScopeProviderMismatch,
                format!("the run may use provider {}, not {p}", claims.provider),
            ));
        }
        return Err(GatewayError::new(
            ErrorCode::ScopeModelMismatch,
            format!("the run may use model {}, not {}", claims.model, req.model),
        ));
    }
    let choice = req
        .tool_choice
        .as_ref()
        .and_then(|c| c["function"]["name"].as_str());
    for name in req.tools.iter().map(|t| t.name.as_str()).chain(choice) {
        if !claims.tools.iter().any(|t| t == name) {
            return Err(GatewayError::new(
                ErrorCode::ScopeToolNotAllowed,
                format!("the run may not offer the tool {name} to the model"),
            ));
        }
    }
    Ok(())
}

/// Redacts a tool result (content and error message); returns the outcome and the total number
/// of masks (the agent's own plus the gateway's).
fn redact_outcome(result: Result<acorn_proto::agent::ToolOutput, ToolError>) -> (ToolOutcome, u32) {
    match result {
        Ok(mut out) => {
            let (content, n) = redact::redact(&out.content);
            out.content = content;
            out.redactions = out.redactions.saturating_add(n);
            let total = out.redactions;
            (ToolOutcome::Ok(out), total)
        }
        Err(mut e) => {
            let (message, n) = redact::redact(&e.message);
            e.message = message;
            if e.code == ToolErrorCode::ToolFailed && e.message.is_empty() {
                e.message = "the tool reported a failure without a message".into();
            }
            (ToolOutcome::Error(e), n)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use acorn_proto::gateway::{RUN_TOKEN_AUDIENCE, RUN_TOKEN_ISSUER};

    fn claims() -> RunClaims {
        RunClaims {
            iss: RUN_TOKEN_ISSUER.into(),
            aud: RUN_TOKEN_AUDIENCE.into(),
            sub: "run_1".into(),
            iat: 0,
            exp: 0,
            jti: "j".into(),
            workspace: "ws_1".into(),
            cluster: "clu_1".into(),
            session: "ses_1".into(),
            run: "run_1".into(),
            provider: "local".into(),
            model: "llama".into(),
            tools: vec!["get_pods".into()],
            mode: RunMode::ReadOnly,
            output_budget: 100,
        }
    }

    #[test]
    fn scope_table() {
        let cases: &[(Value, Option<ErrorCode>)] = &[
            (serde_json::json!({"model": "llama"}), None),
            (serde_json::json!({"model": "local/llama"}), None),
            (
                serde_json::json!({"model": "gpt-4o"}),
                Some(ErrorCode::ScopeModelMismatch),
            ),
            (
                serde_json::json!({"model": "openai/llama"}),
                Some(ErrorCode::ScopeProviderMismatch),
            ),
            (
                serde_json::json!({"model": "llama", "provider": "openai"}),
                Some(ErrorCode::ScopeProviderMismatch),
            ),
            (
                serde_json::json!({"model": "llama", "tools": [{"type": "function", "function": {"name": "delete_pod"}}]}),
                Some(ErrorCode::ScopeToolNotAllowed),
            ),
            (
                serde_json::json!({"model": "llama", "tool_choice": {"type": "function", "function": {"name": "delete_pod"}}}),
                Some(ErrorCode::ScopeToolNotAllowed),
            ),
        ];
        for (body, want) in cases {
            let mut body = body.clone();
            body["messages"] = serde_json::json!([{"role": "user", "content": "hi"}]);
            let req = ChatRequest::from_openai(&body).unwrap();
            assert_eq!(
                check_chat_scope(&claims(), &req).err().map(|e| e.code),
                *want,
                "{body}"
            );
        }
    }
}
