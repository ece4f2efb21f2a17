//! Model providers: one HTTP client per provider (its own CA bundle and timeouts), the chat call
//! with bounded retries, and the model catalog.
//!
//! Layout: [`openai`] and [`anthropic`] know their wire formats (request bodies, stream and
//! response decoders); [`sse`] splits an event stream; this module sends requests, retries
//! 429/529/503 honouring `Retry-After` (bounded by `max_retries` and the gateway's
//! `max_retry_wait`), enforces timeouts (connect, response head, and the gap between streamed
//! chunks), and turns every upstream failure into one of the gateway's error codes.
//! A provider's API key is only ever put into the request header it needs.

pub mod anthropic;
pub mod openai;
pub mod sse;

use std::time::Duration;

use futures_util::StreamExt;
use reqwest::StatusCode;
use serde_json::Value;
use tokio::sync::mpsc;

use acorn_proto::ErrorCode;
use acorn_proto::gateway::{
    ModelSpec, ModelView, ProviderKind, ProviderSource, ProviderSpec, PutProvider,
};

use super::GatewayError;
use super::chat::{ChatEvent, ChatRequest};

/// Events of one answer, as they arrive, or the failure that ended it.
pub type EventSender = mpsc::Sender<Result<ChatEvent, GatewayError>>;

/// A provider ready to be called.
pub struct Provider {
    pub name: String,
    pub source: ProviderSource,
    pub spec: ProviderSpec,
    api_key: Option<String>,
    client: reqwest::Client,
    max_retry_wait: Duration,
}

impl std::fmt::Debug for Provider {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Provider")
            .field("name", &self.name)
            .field("source", &self.source)
            .field("base_url", &self.spec.base_url)
            .field("api_key", &self.api_key.as_ref().map(|_| "[set]"))
            .finish()
    }
}

fn failed(message: impl Into<String>) -> GatewayError {
    GatewayError::new(ErrorCode::ProviderFailed, message)
}

fn timeout(what: &str) -> GatewayError {
    GatewayError::new(
        ErrorCode::ProviderTimeout,
        format!("the provider did not answer in time ({what})"),
    )
}

/// The message of an upstream error body, shortened.
fn upstream_message(body: &str) -> String {
    let parsed: Option<Value> = serde_json::from_str(body).ok();
    let message = parsed
        .as_ref()
        .and_then(|v| {
            v["error"]["message"]
                .as_str()
                .or_else(|| v["error"].as_str())
                .or_else(|| v["message"].as_str())
                .map(str::to_owned)
        })
        .unwrap_or_else(|| body.to_owned());
    message.chars().take(300).collect()
}

/// Seconds of a `Retry-After` header (delta-seconds form; dates are treated as absent).
fn retry_after(headers: &reqwest::header::HeaderMap) -> Option<u64> {
    headers
        .get(reqwest::header::RETRY_AFTER)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().parse::<f64>().ok())
        .map(|s| s.max(0.0).ceil() as u64)
}

impl Provider {
    /// Builds the client for a provider.
    pub fn build(
        name: String,
        source: ProviderSource,
        spec: ProviderSpec,
        api_key: Option<String>,
        max_retry_wait: Duration,
    ) -> Result<Provider, GatewayError> {
        let mut builder = reqwest::Client::builder()
            .connect_timeout(Duration::from_millis(spec.connect_timeout_ms))
            .redirect(reqwest::redirect::Policy::none());
        if let Some(pem) = &spec.ca_pem {
            let certs = reqwest::Certificate::from_pem_bundle(pem.as_bytes()).map_err(|e| {
                GatewayError::new(
                    ErrorCode::InvalidBody,
                    format!("provider {name}: the CA bundle is not PEM: {e}"),
                )
            })?;
            // A bundle without any certificate would trust nothing: refuse it now, with a
            // message, rather than fail every call with a TLS error.
            if certs.is_empty() {
                return Err(GatewayError::new(
                    ErrorCode::InvalidBody,
                    format!("provider {name}: the CA bundle holds no PEM certificate"),
                ));
            }
            builder = builder.tls_certs_only(certs);
        }
        let client = builder
            .build()
            .map_err(|e| GatewayError::internal(format!("provider client: {e}")))?;
        Ok(Provider {
            name,
            source,
            spec,
            api_key,
            client,
            max_retry_wait,
        })
    }

    /// Whether an API key is configured.
    pub fn has_api_key(&self) -> bool {
        self.api_key.is_some()
    }

    fn base(&self) -> &str {
        self.spec.base_url.trim_end_matches('/')
    }

    fn chat_url(&self, model: &str) -> String {
        match (self.spec.kind, &self.spec.azure_api_version) {
            (ProviderKind::Openai, Some(version)) => format!(
                "{}/deployments/{model}/chat/completions?api-version={version}",
                self.base()
            ),
            (ProviderKind::Openai, None) => format!("{}/chat/completions", self.base()),
            (ProviderKind::Anthropic, _) => self.anthropic_url("messages"),
        }
    }

    fn anthropic_url(&self, path: &str) -> String {
        if self.base().ends_with("/v1") {
            format!("{}/{path}", self.base())
        } else {
            format!("{}/v1/{path}", self.base())
        }
    }

    fn authorize(&self, request: reqwest::RequestBuilder) -> reqwest::RequestBuilder {
        let request = match self.spec.kind {
            ProviderKind::Anthropic => request.header("anthropic-version", anthropic::API_VERSION),
            ProviderKind::Openai => request,
        };
        match (&self.api_key, self.spec.kind, &self.spec.azure_api_version) {
            (None, _, _) => request,
            (Some(key), ProviderKind::Anthropic, _) => request.header("x-api-key", key),
            (Some(key), ProviderKind::Openai, Some(_)) => request.header("api-key", key),
            (Some(key), ProviderKind::Openai, None) => request.bearer_auth(key),
        }
    }

    /// Sends `body`, retrying 429/529/503 within the bounds; returns a 2xx response.
    async fn send(&self, url: &str, body: &Value) -> Result<reqwest::Response, GatewayError> {
        let request_timeout = Duration::from_millis(self.spec.request_timeout_ms);
        let mut attempt = 0u32;
        loop {
            let request = self.authorize(self.client.post(url).json(body));
            let response = match tokio::time::timeout(request_timeout, request.send()).await {
                Err(_) => return Err(timeout("no response head")),
                Ok(Err(e)) if e.is_timeout() => return Err(timeout("connect")),
                Ok(Err(e)) => {
                    return Err(failed(format!(
                        "cannot reach provider {}: {}",
                        self.name,
                        error_chain(&e)
                    )));
                }
                Ok(Ok(r)) => r,
            };
            let status = response.status();
            if status.is_success() {
                return Ok(response);
            }
            let wait = retry_after(response.headers());
            let text = tokio::time::timeout(request_timeout, response.text())
                .await
                .ok()
                .and_then(Result::ok)
                .unwrap_or_default();
            let message = upstream_message(&text);
            let retryable = matches!(status.as_u16(), 429 | 503 | 529);
            if retryable && attempt < self.spec.max_retries {
                let backoff = Duration::from_millis(250 * 2u64.pow(attempt.min(6)));
                let delay = wait.map_or(backoff, Duration::from_secs);
                if delay <= self.max_retry_wait {
                    tracing::info!(provider = %self.name, status = status.as_u16(), retry_in_ms = delay.as_millis() as u64, "provider busy; retrying");
                    tokio::time::sleep(delay).await;
                    attempt += 1;
                    continue;
                }
            }
            return Err(match status.as_u16() {
                429 | 529 => {
                    let e = GatewayError::new(
                        ErrorCode::ProviderRateLimited,
                        format!(
                            "provider {} is rate limiting or overloaded (HTTP {}) after {attempt} retries: {message}",
                            self.name,
                            status.as_u16()
                        ),
                    );
                    match wait {
                        Some(s) => e.with_retry_after(s),
                        None => e,
                    }
                }
                401 | 403 => GatewayError::new(
                    ErrorCode::ProviderAuthFailed,
                    format!(
                        "provider {} refused the credential (HTTP {}): {message}",
                        self.name,
                        status.as_u16()
                    ),
                ),
                _ => failed(format!(
                    "provider {} answered HTTP {}: {message}",
                    self.name,
                    status.as_u16()
                )),
            });
        }
    }

    /// Runs one chat call and sends its events to `tx`, ending with `Finish` (or an error).
    /// Returns early, dropping the upstream connection, when the receiver is gone.
    pub async fn chat(&self, req: &ChatRequest, model: &str, max_tokens: u64, tx: EventSender) {
        if let Err(e) = self.chat_inner(req, model, max_tokens, &tx).await {
            let _ = tx.send(Err(e)).await;
        }
    }

    async fn chat_inner(
        &self,
        req: &ChatRequest,
        model: &str,
        max_tokens: u64,
        tx: &EventSender,
    ) -> Result<(), GatewayError> {
        let body = match self.spec.kind {
            ProviderKind::Openai => openai::request_body(req, model, max_tokens, req.stream),
            ProviderKind::Anthropic => anthropic::request_body(req, model, max_tokens, req.stream),
        };
        let response = self.send(&self.chat_url(model), &body).await?;
        let chunk_timeout = Duration::from_millis(self.spec.request_timeout_ms);
        if !req.stream {
            let text = tokio::time::timeout(chunk_timeout, response.text())
                .await
                .map_err(|_| timeout("response body"))?
                .map_err(|e| {
                    failed(format!(
                        "the provider's answer was cut: {}",
                        error_chain(&e)
                    ))
                })?;
            let v: Value = serde_json::from_str(&text)
                .map_err(|e| failed(format!("the provider's answer is not JSON: {e}")))?;
            let events = match self.spec.kind {
                ProviderKind::Openai => openai::decode_response(&v),
                ProviderKind::Anthropic => anthropic::decode_response(&v),
            }
            .map_err(failed)?;
            for e in events {
                if tx.send(Ok(e)).await.is_err() {
                    return Ok(());
                }
            }
            return Ok(());
        }
        let mut bytes = response.bytes_stream();
        let mut parser = sse::SseParser::default();
        let mut oa = openai::StreamDecoder::default();
        let mut an = anthropic::StreamDecoder::default();
        'read: loop {
            let chunk = match tokio::time::timeout(chunk_timeout, bytes.next()).await {
                Err(_) => return Err(timeout("between streamed chunks")),
                Ok(None) => break,
                Ok(Some(Err(e))) => {
                    return Err(failed(format!(
                        "the stream was cut mid-way: {}",
                        error_chain(&e)
                    )));
                }
                Ok(Some(Ok(chunk))) => chunk,
            };
            for event in parser.feed(&chunk).map_err(failed)? {
                let (events, done) = match self.spec.kind {
                    ProviderKind::Openai => oa.data(&event.data).map_err(|m| {
                        failed(format!(
                            "provider {} reported an error mid-stream: {m}",
                            self.name
                        ))
                    })?,
                    ProviderKind::Anthropic => {
                        let events = an.event(&event.event, &event.data).map_err(|e| {
                            failed(format!(
                                "provider {} reported {} mid-stream: {}",
                                self.name, e.kind, e.message
                            ))
                        })?;
                        (events, an.complete())
                    }
                };
                for e in events {
                    if tx.send(Ok(e)).await.is_err() {
                        return Ok(());
                    }
                }
                if done {
                    break 'read;
                }
            }
        }
        match self.spec.kind {
            ProviderKind::Openai if oa.complete() => {
                let _ = tx.send(Ok(oa.finish())).await;
                Ok(())
            }
            ProviderKind::Anthropic if an.complete() => Ok(()),
            _ => Err(failed(
                "the stream ended before the answer was complete (cut mid-way)",
            )),
        }
    }

    /// The catalog: configured models plus, when the provider can list them, listed ones.
    pub async fn catalog(&self) -> (Vec<ModelView>, Option<String>) {
        let mut models: Vec<ModelView> = self.spec.models.iter().map(configured).collect();
        let mut error = None;
        // Azure lists no deployments through the data-plane API: configured entries only.
        if self.spec.list_models && self.spec.azure_api_version.is_none() {
            match self.list_models().await {
                Ok(ids) => {
                    for id in ids {
                        match models.iter_mut().find(|m| m.id == id) {
                            Some(m) => m.origin = "both".into(),
                            None => models.push(ModelView {
                                id,
                                origin: "listed".into(),
                                context_window: None,
                                input_price_per_mtok: 0.0,
                                output_price_per_mtok: 0.0,
                                native_tools: true,
                            }),
                        }
                    }
                }
                Err(e) => error = Some(e.message),
            }
        }
        models.sort_by(|a, b| a.id.cmp(&b.id));
        (models, error)
    }

    async fn list_models(&self) -> Result<Vec<String>, GatewayError> {
        let url = match self.spec.kind {
            ProviderKind::Openai => format!("{}/models", self.base()),
            ProviderKind::Anthropic => self.anthropic_url("models"),
        };
        let request = self.authorize(self.client.get(&url));
        let t = Duration::from_millis(self.spec.request_timeout_ms.min(10_000));
        let response = tokio::time::timeout(t, request.send())
            .await
            .map_err(|_| timeout("model list"))?
            .map_err(|e| failed(format!("cannot list models: {}", error_chain(&e))))?;
        if response.status() != StatusCode::OK {
            return Err(failed(format!(
                "listing models answered HTTP {}",
                response.status().as_u16()
            )));
        }
        let v: Value = tokio::time::timeout(t, response.json())
            .await
            .map_err(|_| timeout("model list"))?
            .map_err(|e| failed(format!("the model list is not JSON: {e}")))?;
        Ok(openai::model_ids(&v))
    }

    /// The provider as a `PUT …/providers/{name}` body, its key included: only for recreating
    /// it in the private lab of an evaluation (`crate::eval`), over the lab's TLS API. Never
    /// log it or put it in an answer.
    pub fn lab_copy(&self) -> PutProvider {
        PutProvider {
            spec: self.spec.clone(),
            api_key: self.api_key.clone(),
        }
    }

    /// The configured entry of `model`, if any (prices, context window).
    pub fn model(&self, model: &str) -> Option<&ModelSpec> {
        self.spec.models.iter().find(|m| m.id == model)
    }
}

fn configured(m: &ModelSpec) -> ModelView {
    ModelView {
        id: m.id.clone(),
        origin: "configured".into(),
        context_window: m.context_window,
        input_price_per_mtok: m.input_price_per_mtok,
        output_price_per_mtok: m.output_price_per_mtok,
        native_tools: m.native_tools,
    }
}

/// Cost of a call from the price table (0 for models without prices).
pub fn cost(model: Option<&ModelSpec>, input: u64, output: u64) -> f64 {
    model.map_or(0.0, |m| {
        (input as f64 * m.input_price_per_mtok + output as f64 * m.output_price_per_mtok)
            / 1_000_000.0
    })
}

/// An error with its sources, for messages (reqwest's top-level text is terse).
fn error_chain(e: &dyn std::error::Error) -> String {
    let mut out = e.to_string();
    let mut source = e.source();
    while let Some(s) = source {
        out.push_str(": ");
        out.push_str(&s.to_string());
        source = s.source();
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn provider(kind: ProviderKind, base: &str, azure: Option<&str>) -> Provider {
        // reqwest (rustls without a built-in provider) needs the process-wide one, as in main.
        let _ = rustls::crypto::ring::default_provider().install_default();
        let spec = ProviderSpec {
            kind,
            base_url: base.into(),
            azure_api_version: azure.map(str::to_owned),
            ca_pem: None,
            connect_timeout_ms: 1000,
            request_timeout_ms: 1000,
            max_retries: 0,
            list_models: false,
            models: vec![],
        };
        Provider::build(
            "p".into(),
            ProviderSource::Deployment,
            spec,
            None,
            Duration::ZERO,
        )
        .unwrap()
    }

    #[test]
    fn url_shapes() {
        let cases = [
            (
                ProviderKind::Openai,
                "http://ollama:11434/v1/",
                None,
                "http://ollama:11434/v1/chat/completions",
            ),
            (
                ProviderKind::Openai,
                "https://acme.openai.azure.com/openai",
                Some("2024-10-21"),
                "https://acme.openai.azure.com/openai/deployments/gpt-4o/chat/completions?api-version=2024-10-21",
            ),
            (
                ProviderKind::Anthropic,
                "https://api.anthropic.com",
                None,
                "https://api.anthropic.com/v1/messages",
            ),
            (
                ProviderKind::Anthropic,
                "https://proxy.internal/v1",
                None,
                "https://proxy.internal/v1/messages",
            ),
        ];
        for (kind, base, azure, want) in cases {
            assert_eq!(provider(kind, base, azure).chat_url("gpt-4o"), want);
        }
    }

    #[test]
    fn a_ca_bundle_must_be_pem() {
        let mut spec = provider(ProviderKind::Openai, "https://x", None).spec;
        spec.ca_pem = Some("not a certificate".into());
        let e = Provider::build(
            "p".into(),
            ProviderSource::Workspace,
            spec,
            None,
            Duration::ZERO,
        )
        .err()
        .map(|e| e.code);
        assert_eq!(e, Some(ErrorCode::InvalidBody));
    }

    #[test]
    fn retry_after_and_cost() {
        let mut h = reqwest::header::HeaderMap::new();
        h.insert(reqwest::header::RETRY_AFTER, "2.5".parse().unwrap());
        assert_eq!(retry_after(&h), Some(3));
        h.insert(
            reqwest::header::RETRY_AFTER,
            "Wed, 21 Oct 2015 07:28:00 GMT".parse().unwrap(),
        );
        assert_eq!(retry_after(&h), None);
        let m = ModelSpec {
            id: "m".into(),
            context_window: None,
            input_price_per_mtok: 2.0,
            output_price_per_mtok: 8.0,
            native_tools: true,
        };
        assert!((cost(Some(&m), 1_000_000, 500_000) - 6.0).abs() < 1e-9);
        assert_eq!(cost(None, 1, 1), 0.0);
    }
}
