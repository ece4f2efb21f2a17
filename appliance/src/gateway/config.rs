//! The `[gateway]` configuration section: where the key-encryption key comes from, run-token
//! lifetimes, retry bounds, MCP egress rules, and the deployment-wide providers
//! (`[[gateway.providers]]`). A provider's key comes from a file (a systemd credential, say);
//! an inline `api_key` is accepted but always printed masked.

use std::path::PathBuf;
use std::time::Duration;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

use acorn_proto::gateway::{
    ModelSpec, ProviderKind, ProviderSpec, default_connect_timeout_ms, default_max_retries,
    default_request_timeout_ms,
};

use crate::config::ConfigError;

/// Keys of `[gateway]` settable as `ACORN_GATEWAY_<KEY>`.
pub const ENV_KEYS: &[&str] = &[
    "kek_file",
    "run_token_ttl",
    "run_token_max_ttl",
    "max_retry_wait",
    "mcp_allow_plain_http_hosts",
    "mcp_egress_allow_hosts",
];

/// The LLM gateway.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GatewayConfig {
    /// File holding the key-encryption key of secrets (32 bytes: raw, hex or base64). Unset:
    /// `$CREDENTIALS_DIRECTORY/acorn-kek` when systemd provides it, else a key generated into the
    /// store — then a backup of the store alone decrypts every secret.
    #[serde(default)]
    pub kek_file: Option<PathBuf>,
    /// Default lifetime of a run token.
    #[serde(default = "default_ttl", with = "duration")]
    pub run_token_ttl: Duration,
    /// Longest lifetime a run token may be issued with; signing keys are kept this long after
    /// they are superseded.
    #[serde(default = "default_max_ttl", with = "duration")]
    pub run_token_max_ttl: Duration,
    /// Longest `Retry-After` the gateway waits before retrying a busy provider; longer waits are
    /// returned to the caller as `provider_rate_limited`.
    #[serde(default = "default_max_retry_wait", with = "duration")]
    pub max_retry_wait: Duration,
    /// Hosts whose MCP servers may be reached over plain HTTP (internal hosts only).
    #[serde(default)]
    pub mcp_allow_plain_http_hosts: Vec<String>,
    /// When non-empty, MCP servers may only be registered on these hosts.
    #[serde(default)]
    pub mcp_egress_allow_hosts: Vec<String>,
    /// Deployment-wide providers. A workspace provider of the same name takes precedence.
    #[serde(default)]
    pub providers: Vec<ProviderConfig>,
}

fn default_ttl() -> Duration {
    Duration::from_secs(15 * 60)
}
fn default_max_ttl() -> Duration {
    Duration::from_secs(60 * 60)
}
fn default_max_retry_wait() -> Duration {
    Duration::from_secs(30)
}

impl Default for GatewayConfig {
    fn default() -> Self {
        GatewayConfig {
            kek_file: None,
            run_token_ttl: default_ttl(),
            run_token_max_ttl: default_max_ttl(),
            max_retry_wait: default_max_retry_wait(),
            mcp_allow_plain_http_hosts: Vec::new(),
            mcp_egress_allow_hosts: Vec::new(),
            providers: Vec::new(),
        }
    }
}

/// A secret written inline in the configuration file; printed masked.
#[derive(Clone, PartialEq, Eq)]
pub struct InlineSecret(pub String);

impl std::fmt::Debug for InlineSecret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("InlineSecret(********)")
    }
}

impl Serialize for InlineSecret {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str("******** (set)")
    }
}

impl<'de> Deserialize<'de> for InlineSecret {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        String::deserialize(d).map(InlineSecret)
    }
}

/// One deployment-wide provider.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ProviderConfig {
    /// Name runs refer to (`[a-z0-9-]{1,32}`).
    pub name: String,
    /// `openai` (and compatible servers) or `anthropic`.
    pub kind: ProviderKind,
    /// Base URL, e.g. `http://ollama.internal:11434/v1` or `https://api.anthropic.com`.
    pub base_url: String,
    /// Azure OpenAI `api-version` (the base URL is then `https://NAME.openai.azure.com/openai`).
    #[serde(default)]
    pub azure_api_version: Option<String>,
    /// File holding the API key (e.g. a systemd credential). Preferred over `api_key`.
    #[serde(default)]
    pub api_key_file: Option<PathBuf>,
    /// The API key inline (printed masked; prefer `api_key_file`).
    #[serde(default)]
    pub api_key: Option<InlineSecret>,
    /// PEM bundle of the CA of an on-premises endpoint.
    #[serde(default)]
    pub ca_file: Option<PathBuf>,
    /// Connect timeout in milliseconds.
    #[serde(default = "default_connect_timeout_ms")]
    pub connect_timeout_ms: u64,
    /// Timeout of a call (and between streamed chunks) in milliseconds.
    #[serde(default = "default_request_timeout_ms")]
    pub request_timeout_ms: u64,
    /// Retries on 429/529/503.
    #[serde(default = "default_max_retries")]
    pub max_retries: u32,
    /// List models from the provider for the catalog.
    #[serde(default = "yes")]
    pub list_models: bool,
    /// Configured models: context window, prices per million tokens, native tool calls.
    #[serde(default)]
    pub models: Vec<ModelSpec>,
}

fn yes() -> bool {
    true
}

impl ProviderConfig {
    /// The provider's settings and key, reading the files it names.
    pub fn resolve(&self) -> Result<(ProviderSpec, Option<String>), String> {
        let ca_pem = match &self.ca_file {
            Some(p) => Some(
                std::fs::read_to_string(p)
                    .map_err(|e| format!("cannot read ca_file {}: {e}", p.display()))?,
            ),
            None => None,
        };
        let api_key = match (&self.api_key_file, &self.api_key) {
            (Some(p), _) => Some(
                std::fs::read_to_string(p)
                    .map_err(|e| format!("cannot read api_key_file {}: {e}", p.display()))?
                    .trim()
                    .to_owned(),
            ),
            (None, Some(k)) => Some(k.0.clone()),
            (None, None) => None,
        };
        Ok((
            ProviderSpec {
                kind: self.kind,
                base_url: self.base_url.clone(),
                azure_api_version: self.azure_api_version.clone(),
                ca_pem,
                connect_timeout_ms: self.connect_timeout_ms,
                request_timeout_ms: self.request_timeout_ms,
                max_retries: self.max_retries,
                list_models: self.list_models,
                models: self.models.clone(),
            },
            api_key,
        ))
    }
}

/// Names of providers and MCP servers.
pub fn valid_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 32
        && name
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
}

/// Checks a base URL: http(s) with a host.
pub fn check_base_url(url: &str) -> Result<(), String> {
    let parsed = reqwest::Url::parse(url).map_err(|e| format!("`{url}` is not a URL: {e}"))?;
    if !matches!(parsed.scheme(), "http" | "https") || parsed.host_str().is_none() {
        return Err(format!("`{url}` must be an http:// or https:// URL"));
    }
    if !parsed.username().is_empty() || parsed.password().is_some() {
        return Err("put credentials in the API key, not in the URL".into());
    }
    Ok(())
}

impl GatewayConfig {
    /// Checks what can be checked without reading files.
    pub fn validate(&self) -> Result<(), ConfigError> {
        let invalid = |key: &str, message: String| ConfigError::Invalid {
            key: key.into(),
            message,
        };
        if self.run_token_ttl.is_zero() || self.run_token_ttl > self.run_token_max_ttl {
            return Err(invalid(
                "gateway.run_token_ttl",
                "must be at least 1s and at most gateway.run_token_max_ttl".into(),
            ));
        }
        let mut seen = std::collections::HashSet::new();
        for (i, p) in self.providers.iter().enumerate() {
            let key = |k: &str| format!("gateway.providers[{i}].{k}");
            if !valid_name(&p.name) {
                return Err(invalid(
                    &key("name"),
                    format!("`{}` must be 1 to 32 characters of a-z, 0-9 and -", p.name),
                ));
            }
            if !seen.insert(p.name.clone()) {
                return Err(invalid(
                    &key("name"),
                    format!("`{}` is configured twice", p.name),
                ));
            }
            check_base_url(&p.base_url).map_err(|m| invalid(&key("base_url"), m))?;
            if p.api_key.is_some() && p.api_key_file.is_some() {
                return Err(invalid(
                    &key("api_key"),
                    "set api_key_file or api_key, not both".into(),
                ));
            }
        }
        Ok(())
    }
}

mod duration {
    use super::*;
    pub fn serialize<S: Serializer>(d: &Duration, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&humantime::format_duration(*d).to_string())
    }
    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Duration, D::Error> {
        let s = String::deserialize(d)?;
        humantime::parse_duration(&s).map_err(|e| {
            serde::de::Error::custom(format!(
                "`{s}` is not a duration like \"30s\" or \"15m\": {e}"
            ))
        })
    }
}
