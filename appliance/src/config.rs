//! Configuration: one versioned TOML file, an `ACORN_*` environment overlay, command-line flags on
//! top, merged in [`load`] and nowhere else. Every field has a `///` doc: the docs, the Nix module
//! and `acorn configtest` mirror these structs.
//!
//! Precedence (later wins): built-in defaults → `--config FILE` → `ACORN_<SECTION>_<KEY>`
//! environment variables → command-line flags. The state directory is the exception that systemd
//! imposes: an explicit `state_dir` (file, `ACORN_STATE_DIR` or `--state-dir`) wins, else
//! `$STATE_DIRECTORY` (set by systemd's `StateDirectory=`), else `./acorn-data`.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// The configuration file format this binary reads.
pub const CONFIG_VERSION: u32 = 1;

/// The whole effective configuration.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// Version of the configuration format. Only `1` exists.
    #[serde(default = "default_version")]
    pub version: u32,
    /// Directory holding `acorn.redb` (all state), the search index and the local control socket.
    /// Default: `$STATE_DIRECTORY` under systemd, else `./acorn-data`.
    #[serde(default)]
    pub state_dir: Option<PathBuf>,
    /// The HTTPS listener.
    #[serde(default)]
    pub server: ServerConfig,
    /// Certificates.
    #[serde(default)]
    pub tls: TlsConfig,
    /// Scheduled online backups taken by the running server.
    #[serde(default)]
    pub backup: BackupConfig,
    /// Logging.
    #[serde(default)]
    pub log: LogConfig,
    /// Sessions, sign-in limits, audit retention.
    #[serde(default)]
    pub identity: IdentityConfig,
    /// Sign-in with an OpenID Connect provider (Keycloak, Dex, Entra ID, ADFS, …). Unset: local
    /// accounts only.
    #[serde(default)]
    pub oidc: Option<OidcConfig>,
    /// Registered clusters and their agents.
    #[serde(default)]
    pub clusters: ClustersConfig,
    /// The LLM gateway: key-encryption key, run tokens, deployment-wide providers, MCP egress.
    #[serde(default)]
    pub gateway: crate::gateway::config::GatewayConfig,
    /// The execution engine: workers, timeouts, run limits.
    #[serde(default)]
    pub engine: crate::engine::config::EngineConfig,
    /// Findings: re-evaluation, lifecycle, auto-triage.
    #[serde(default)]
    pub findings: crate::findings::config::FindingsConfig,
    /// Outbound webhooks (egress allow-list, workers, retries, auto-disable) and the budget of
    /// alert receivers' runs.
    #[serde(default)]
    pub webhooks: crate::webhooks::config::WebhooksConfig,
}

/// Registered clusters and their agents.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ClustersConfig {
    /// Agent image put into install instructions; sites that mirror images into their own
    /// registry set it here (a registration may override it per cluster).
    #[serde(default = "default_agent_image")]
    pub agent_image: String,
    /// Largest picture (stored objects, JSON bytes) kept per cluster; a snapshot or delta that
    /// would exceed it is refused with `snapshot_budget_exceeded`.
    #[serde(default = "default_snapshot_budget")]
    pub snapshot_budget_bytes: u64,
    /// Namespace the install instructions deploy the agent into.
    #[serde(default = "default_agent_namespace")]
    pub agent_namespace: String,
    /// PEM bundle agents pin. Default: the appliance's own CA, which is right unless
    /// `tls.cert_file` serves a certificate issued by another CA (then give that CA here).
    #[serde(default)]
    pub ca_bundle_file: Option<PathBuf>,
}

fn default_agent_image() -> String {
    format!("ghcr.io/acornops/acorn-agent:{}", env!("CARGO_PKG_VERSION"))
}
fn default_snapshot_budget() -> u64 {
    256 * 1024 * 1024
}
fn default_agent_namespace() -> String {
    "acorn-system".into()
}

impl Default for ClustersConfig {
    fn default() -> Self {
        ClustersConfig {
            agent_image: default_agent_image(),
            snapshot_budget_bytes: default_snapshot_budget(),
            agent_namespace: default_agent_namespace(),
            ca_bundle_file: None,
        }
    }
}

/// Sessions, sign-in limits, audit retention.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct IdentityConfig {
    /// Absolute lifetime of a browser session.
    #[serde(default = "default_session_lifetime", with = "duration_str")]
    pub session_lifetime: Duration,
    /// A session unused for this long expires.
    #[serde(default = "default_session_idle", with = "duration_str")]
    pub session_idle_timeout: Duration,
    /// Failed local sign-ins allowed per account (and 4× per source address) per 15 minutes.
    #[serde(default = "default_login_failures")]
    pub login_max_failures: u32,
    /// Whether any signed-in user may create a workspace (else appliance administrators only).
    #[serde(default)]
    pub anyone_can_create_workspaces: bool,
    /// How long audit records are kept.
    #[serde(default = "default_audit_retention", with = "duration_str")]
    pub audit_retention: Duration,
}

/// An OpenID Connect provider and the admission policy for its users.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OidcConfig {
    /// Issuer URL; discovery is read from `<issuer>/.well-known/openid-configuration`.
    pub issuer: String,
    /// Client id registered at the provider. The redirect URI to register is
    /// `https://<public hostname>:<port>/api/v1/auth/oidc/callback`.
    pub client_id: String,
    /// File holding the client secret (e.g. a systemd credential). Unset: a public client (PKCE only).
    #[serde(default)]
    pub client_secret_file: Option<PathBuf>,
    /// PEM bundle of the CA that signed the provider's certificate (internal PKI). Unset: system roots.
    #[serde(default)]
    pub ca_file: Option<PathBuf>,
    /// Scopes requested besides `openid`.
    #[serde(default = "default_scopes")]
    pub scopes: Vec<String>,
    /// Label of the sign-in button.
    #[serde(default = "default_oidc_name")]
    pub display_name: String,
    /// Only these email domains are admitted (empty: any).
    #[serde(default)]
    pub allowed_email_domains: Vec<String>,
    /// Refuse users whose `email_verified` claim is not true.
    #[serde(default)]
    pub require_verified_email: bool,
    /// Claims every admitted user's ID token must satisfy.
    #[serde(default)]
    pub required_claims: Vec<ClaimRule>,
    /// Users satisfying this rule become appliance administrators (may create workspaces).
    #[serde(default)]
    pub appliance_admin_rule: Option<ClaimRule>,
}

/// A condition on an ID-token claim.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ClaimRule {
    /// Claim name, e.g. `groups`.
    pub claim: String,
    /// `exists`, `equals`, `contains` (the claim is a list holding `value`, or a string containing
    /// it) or `intersects` (the claim list shares an element with `values`).
    pub op: ClaimOp,
    /// For `equals` and `contains`.
    #[serde(default)]
    pub value: Option<String>,
    /// For `intersects`.
    #[serde(default)]
    pub values: Vec<String>,
}

/// How a [`ClaimRule`] compares.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ClaimOp {
    /// The claim is present.
    Exists,
    /// The claim equals `value`.
    Equals,
    /// The claim (list or string) contains `value`.
    Contains,
    /// The claim list shares an element with `values`.
    Intersects,
}

fn default_session_lifetime() -> Duration {
    Duration::from_secs(7 * 86400)
}
fn default_session_idle() -> Duration {
    Duration::from_secs(86400)
}
fn default_login_failures() -> u32 {
    5
}
fn default_audit_retention() -> Duration {
    Duration::from_secs(365 * 86400)
}
fn default_scopes() -> Vec<String> {
    vec!["email".into(), "profile".into()]
}
fn default_oidc_name() -> String {
    "Sign in with your identity provider".into()
}

impl Default for IdentityConfig {
    fn default() -> Self {
        IdentityConfig {
            session_lifetime: default_session_lifetime(),
            session_idle_timeout: default_session_idle(),
            login_max_failures: default_login_failures(),
            anyone_can_create_workspaces: false,
            audit_retention: default_audit_retention(),
        }
    }
}

/// The HTTPS listener.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ServerConfig {
    /// Address and port to listen on. Port 0 picks a free port; the log says which.
    #[serde(default = "default_listen")]
    pub listen: SocketAddr,
    /// DNS names (or IP addresses) clients and agents use to reach the appliance. The first one
    /// is used in links the appliance prints; all of them go into the generated certificate.
    #[serde(default)]
    pub public_hostnames: Vec<String>,
    /// Optional plain-HTTP listener that only redirects to HTTPS (e.g. `0.0.0.0:80`).
    #[serde(default)]
    pub http_redirect_listen: Option<SocketAddr>,
    /// How long in-flight requests may take to finish after SIGTERM.
    #[serde(default = "default_shutdown_grace", with = "duration_str")]
    pub shutdown_grace: Duration,
    /// Largest accepted request body, in bytes.
    #[serde(default = "default_max_body_bytes")]
    pub max_body_bytes: usize,
}

/// Certificates: the appliance's own CA and leaf, or operator-provided files.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TlsConfig {
    /// PEM certificate chain to serve instead of the generated leaf (reloaded on SIGHUP and
    /// when the file changes). Requires `key_file`.
    #[serde(default)]
    pub cert_file: Option<PathBuf>,
    /// PEM private key for `cert_file`.
    #[serde(default)]
    pub key_file: Option<PathBuf>,
    /// Lifetime of a generated leaf certificate.
    #[serde(default = "default_leaf_validity", with = "duration_str")]
    pub leaf_validity: Duration,
    /// A generated leaf closer than this to its expiry is renewed from the CA.
    #[serde(default = "default_renew_before", with = "duration_str")]
    pub renew_before: Duration,
    /// How often the running server checks whether the leaf needs renewal.
    #[serde(default = "default_renew_check_interval", with = "duration_str")]
    pub renew_check_interval: Duration,
}

/// Scheduled online backups.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BackupConfig {
    /// Interval between scheduled backups, e.g. `"24h"`. Unset: no scheduled backups.
    #[serde(default, with = "opt_duration_str")]
    pub schedule: Option<Duration>,
    /// Where scheduled backups go. Default: `<state_dir>/backups`.
    #[serde(default)]
    pub dir: Option<PathBuf>,
    /// How many scheduled backups to keep (older ones are deleted).
    #[serde(default = "default_keep")]
    pub keep: usize,
}

/// Logging.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LogConfig {
    /// `auto` (human on a terminal, JSON otherwise), `human` or `json`.
    #[serde(default)]
    pub format: LogFormat,
    /// Filter in `tracing` syntax, e.g. `info` or `acorn=debug,info`.
    #[serde(default = "default_log_level")]
    pub level: String,
}

/// Log output format.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "snake_case")]
pub enum LogFormat {
    /// Human on a terminal, JSON otherwise.
    #[default]
    Auto,
    /// Human-readable lines.
    Human,
    /// One JSON object per line.
    Json,
}

fn default_version() -> u32 {
    CONFIG_VERSION
}
fn default_listen() -> SocketAddr {
    SocketAddr::from(([0, 0, 0, 0], 8443))
}
fn default_shutdown_grace() -> Duration {
    Duration::from_secs(10)
}
fn default_max_body_bytes() -> usize {
    1024 * 1024
}
fn default_leaf_validity() -> Duration {
    Duration::from_secs(90 * 86400)
}
fn default_renew_before() -> Duration {
    Duration::from_secs(30 * 86400)
}
fn default_renew_check_interval() -> Duration {
    Duration::from_secs(86400)
}
fn default_keep() -> usize {
    7
}
fn default_log_level() -> String {
    "info".to_owned()
}

impl Default for ServerConfig {
    fn default() -> Self {
        ServerConfig {
            listen: default_listen(),
            public_hostnames: Vec::new(),
            http_redirect_listen: None,
            shutdown_grace: default_shutdown_grace(),
            max_body_bytes: default_max_body_bytes(),
        }
    }
}
impl Default for TlsConfig {
    fn default() -> Self {
        TlsConfig {
            cert_file: None,
            key_file: None,
            leaf_validity: default_leaf_validity(),
            renew_before: default_renew_before(),
            renew_check_interval: default_renew_check_interval(),
        }
    }
}
impl Default for BackupConfig {
    fn default() -> Self {
        BackupConfig {
            schedule: None,
            dir: None,
            keep: default_keep(),
        }
    }
}
impl Default for LogConfig {
    fn default() -> Self {
        LogConfig {
            format: LogFormat::Auto,
            level: default_log_level(),
        }
    }
}

/// What the command line contributes (the flags shared by the verbs).
#[derive(Debug, Clone, Default)]
pub struct Overrides {
    /// `--config FILE`.
    pub config_file: Option<PathBuf>,
    /// `--state-dir DIR`.
    pub state_dir: Option<PathBuf>,
    /// `--listen ADDR:PORT`.
    pub listen: Option<SocketAddr>,
    /// `--public-hostname NAME` (repeatable).
    pub public_hostnames: Vec<String>,
    /// `--log-format`.
    pub log_format: Option<LogFormat>,
}

/// A configuration error that names the key (or file, or variable) at fault.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("cannot read config file {path}: {source}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("config file {path} is not valid TOML: {message}")]
    Syntax { path: PathBuf, message: String },
    #[error("environment variable {var}: unknown setting `{key}` in section [{section}]")]
    UnknownEnv {
        var: String,
        section: String,
        key: String,
    },
    #[error("invalid setting `{key}`: {message}")]
    Invalid { key: String, message: String },
}

/// Sections that `ACORN_<SECTION>_<KEY>` variables map to.
const SECTIONS: &[&str] = &[
    "server", "tls", "backup", "log", "identity", "oidc", "clusters", "gateway", "engine",
    "findings", "webhooks",
];
/// Top-level keys settable as `ACORN_<KEY>`.
const TOP_LEVEL_KEYS: &[&str] = &["state_dir"];

/// The merged configuration plus what the merge noticed.
#[derive(Debug, Clone)]
pub struct Loaded {
    /// The effective configuration (with `state_dir` resolved).
    pub config: Config,
    /// `ACORN_*` variables that are not settings (shown by `configtest`, otherwise ignored).
    pub ignored_env: Vec<String>,
    /// Warnings about settings that are valid but probably not what the operator wants.
    pub warnings: Vec<String>,
}

/// Loads and merges every source. `env` is passed in so that tests need not mutate the process.
pub fn load(overrides: &Overrides, env: &[(String, String)]) -> Result<Loaded, ConfigError> {
    let mut table = match &overrides.config_file {
        Some(path) => read_file(path)?,
        None => toml::Table::new(),
    };
    let ignored_env = overlay_env(&mut table, env)?;
    overlay_flags(&mut table, overrides);

    let mut config: Config =
        serde_path_to_error::deserialize(toml::Value::Table(table)).map_err(|e| {
            ConfigError::Invalid {
                key: key_of(e.path()),
                message: e.inner().to_string(),
            }
        })?;
    if config.version != CONFIG_VERSION {
        return Err(ConfigError::Invalid {
            key: "version".into(),
            message: format!(
                "config version {} is not supported by this acorn (it reads version {CONFIG_VERSION})",
                config.version
            ),
        });
    }
    validate(&config)?;
    let state_dir = config
        .state_dir
        .clone()
        .or_else(|| systemd_state_directory(env));
    config.state_dir = Some(state_dir.unwrap_or_else(|| PathBuf::from("acorn-data")));
    let warnings = warnings(&config);
    Ok(Loaded {
        config,
        ignored_env,
        warnings,
    })
}

fn read_file(path: &Path) -> Result<toml::Table, ConfigError> {
    let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
        path: path.to_owned(),
        source,
    })?;
    text.parse::<toml::Table>()
        .map_err(|e| ConfigError::Syntax {
            path: path.to_owned(),
            message: e.to_string(),
        })
}

/// Applies `ACORN_*` variables to the table; returns the ones that are not settings.
fn overlay_env(
    table: &mut toml::Table,
    env: &[(String, String)],
) -> Result<Vec<String>, ConfigError> {
    let mut ignored = Vec::new();
    for (var, raw) in env {
        let Some(rest) = var.strip_prefix("ACORN_") else {
            continue;
        };
        let rest = rest.to_ascii_lowercase();
        let value = parse_env_value(raw);
        if TOP_LEVEL_KEYS.contains(&rest.as_str()) {
            table.insert(rest, value);
            continue;
        }
        let Some(section) = SECTIONS.iter().find(|s| rest.starts_with(&format!("{s}_"))) else {
            ignored.push(var.clone());
            continue;
        };
        let key = rest[section.len() + 1..].to_owned();
        if !section_keys(section).contains(&key.as_str()) {
            return Err(ConfigError::UnknownEnv {
                var: var.clone(),
                section: section.to_string(),
                key,
            });
        }
        set(table, section, &key, value);
    }
    Ok(ignored)
}

fn section_keys(section: &str) -> &'static [&'static str] {
    match section {
        "server" => &[
            "listen",
            "public_hostnames",
            "http_redirect_listen",
            "shutdown_grace",
            "max_body_bytes",
        ],
        "tls" => &[
            "cert_file",
            "key_file",
            "leaf_validity",
            "renew_before",
            "renew_check_interval",
        ],
        "backup" => &["schedule", "dir", "keep"],
        "log" => &["format", "level"],
        "identity" => &[
            "session_lifetime",
            "session_idle_timeout",
            "login_max_failures",
            "anyone_can_create_workspaces",
            "audit_retention",
        ],
        "gateway" => crate::gateway::config::ENV_KEYS,
        "webhooks" => crate::webhooks::config::ENV_KEYS,
        "oidc" => &[
            "issuer",
            "client_id",
            "client_secret_file",
            "ca_file",
            "scopes",
            "display_name",
            "allowed_email_domains",
            "require_verified_email",
        ],
        "clusters" => &[
            "agent_image",
            "snapshot_budget_bytes",
            "agent_namespace",
            "ca_bundle_file",
        ],
        _ => &[],
    }
}

/// An environment value is read as a TOML value when it is one (`8443`, `["a", "b"]`,
/// `true`), else as a plain string (`0.0.0.0:8443`, `/var/lib/acorn`).
fn parse_env_value(raw: &str) -> toml::Value {
    format!("v = {raw}")
        .parse::<toml::Table>()
        .ok()
        .and_then(|mut t| t.remove("v"))
        .unwrap_or_else(|| toml::Value::String(raw.to_owned()))
}

/// Sets `[section] key = value`. A section that the file holds as a non-table is left alone so
/// that deserialization reports it under its own key.
fn set(table: &mut toml::Table, section: &str, key: &str, value: toml::Value) {
    match table.get_mut(section) {
        Some(toml::Value::Table(t)) => {
            t.insert(key.to_owned(), value);
        }
        Some(_) => {}
        None => {
            let mut t = toml::Table::new();
            t.insert(key.to_owned(), value);
            table.insert(section.to_owned(), toml::Value::Table(t));
        }
    }
}

fn overlay_flags(table: &mut toml::Table, o: &Overrides) {
    if let Some(dir) = &o.state_dir {
        table.insert(
            "state_dir".into(),
            toml::Value::String(dir.display().to_string()),
        );
    }
    if let Some(listen) = o.listen {
        set(
            table,
            "server",
            "listen",
            toml::Value::String(listen.to_string()),
        );
    }
    if !o.public_hostnames.is_empty() {
        let names = o
            .public_hostnames
            .iter()
            .cloned()
            .map(toml::Value::String)
            .collect();
        set(
            table,
            "server",
            "public_hostnames",
            toml::Value::Array(names),
        );
    }
    if let Some(format) = o.log_format {
        let name = match format {
            LogFormat::Auto => "auto",
            LogFormat::Human => "human",
            LogFormat::Json => "json",
        };
        set(table, "log", "format", toml::Value::String(name.into()));
    }
}

fn systemd_state_directory(env: &[(String, String)]) -> Option<PathBuf> {
    // systemd may pass several directories separated by ':'; the first is ours.
    env.iter()
        .find(|(k, _)| k == "STATE_DIRECTORY")
        .and_then(|(_, v)| v.split(':').next())
        .filter(|v| !v.is_empty())
        .map(PathBuf::from)
}

fn validate(config: &Config) -> Result<(), ConfigError> {
    let tls = &config.tls;
    if tls.cert_file.is_some() != tls.key_file.is_some() {
        return Err(ConfigError::Invalid {
            key: if tls.cert_file.is_some() {
                "tls.key_file"
            } else {
                "tls.cert_file"
            }
            .into(),
            message: "tls.cert_file and tls.key_file must be set together".into(),
        });
    }
    for (key, d) in [
        ("tls.leaf_validity", tls.leaf_validity),
        ("tls.renew_check_interval", tls.renew_check_interval),
    ] {
        if d < Duration::from_secs(1) {
            return Err(ConfigError::Invalid {
                key: key.into(),
                message: "must be at least 1s".into(),
            });
        }
    }
    if config
        .backup
        .schedule
        .is_some_and(|d| d < Duration::from_secs(1))
    {
        return Err(ConfigError::Invalid {
            key: "backup.schedule".into(),
            message: "must be at least 1s".into(),
        });
    }
    if config.backup.keep == 0 {
        return Err(ConfigError::Invalid {
            key: "backup.keep".into(),
            message: "must be at least 1".into(),
        });
    }
    if let Err((key, message)) = config.webhooks.check() {
        return Err(ConfigError::Invalid {
            key: key.into(),
            message,
        });
    }
    if let Err((key, message)) = config.findings.check() {
        return Err(ConfigError::Invalid {
            key: key.into(),
            message: message.into(),
        });
    }
    if config.server.max_body_bytes < 1024 {
        return Err(ConfigError::Invalid {
            key: "server.max_body_bytes".into(),
            message: "must be at least 1024".into(),
        });
    }
    for name in &config.server.public_hostnames {
        let is_ip = name.parse::<std::net::IpAddr>().is_ok();
        if name.is_empty() || (!is_ip && name.contains(['/', ':', ' '])) {
            return Err(ConfigError::Invalid {
                key: "server.public_hostnames".into(),
                message: format!("`{name}` is not a DNS name or IP address"),
            });
        }
    }
    if let Some(oidc) = &config.oidc {
        if !(oidc.issuer.starts_with("https://")
            || oidc.issuer.starts_with("http://127.0.0.1")
            || oidc.issuer.starts_with("http://localhost"))
        {
            return Err(ConfigError::Invalid {
                key: "oidc.issuer".into(),
                message: "must be an https:// URL (plain http only on loopback)".into(),
            });
        }
        for rule in oidc
            .required_claims
            .iter()
            .chain(&oidc.appliance_admin_rule)
        {
            let ok = match rule.op {
                ClaimOp::Exists => true,
                ClaimOp::Equals | ClaimOp::Contains => rule.value.is_some(),
                ClaimOp::Intersects => !rule.values.is_empty(),
            };
            if !ok {
                return Err(ConfigError::Invalid {
                    key: "oidc.required_claims".into(),
                    message: format!(
                        "rule on `{}`: `{:?}` needs `value` (equals, contains) or `values` (intersects)",
                        rule.claim, rule.op
                    ),
                });
            }
        }
    }
    config.gateway.validate()?;
    if tracing_subscriber::EnvFilter::try_new(&config.log.level).is_err() {
        return Err(ConfigError::Invalid {
            key: "log.level".into(),
            message: format!("`{}` is not a valid filter", config.log.level),
        });
    }
    Ok(())
}

fn warnings(config: &Config) -> Vec<String> {
    let mut out = Vec::new();
    if config.tls.leaf_validity <= config.tls.renew_before && config.tls.cert_file.is_none() {
        out.push("tls.leaf_validity is not longer than tls.renew_before: the leaf is renewed at every check".into());
    }
    if config
        .backup
        .schedule
        .is_some_and(|d| d < Duration::from_secs(3600))
    {
        out.push(
            "backup.schedule is shorter than an hour: every backup is a full copy of the store"
                .into(),
        );
    }
    if config.server.public_hostnames.is_empty() {
        out.push("server.public_hostnames is empty: links and the certificate use this machine's hostname and loopback only".into());
    }
    out
}

fn key_of(path: &serde_path_to_error::Path) -> String {
    let s = path.to_string();
    if s == "." { "(top level)".into() } else { s }
}

impl Config {
    /// The resolved state directory.
    pub fn state_dir(&self) -> PathBuf {
        self.state_dir
            .clone()
            .unwrap_or_else(|| PathBuf::from("acorn-data"))
    }

    /// Where scheduled backups go.
    pub fn backup_dir(&self) -> PathBuf {
        self.backup
            .dir
            .clone()
            .unwrap_or_else(|| self.state_dir().join("backups"))
    }

    /// The effective configuration as TOML, secrets masked (for `acorn configtest`).
    pub fn to_masked_toml(&self) -> String {
        // The only setting that can hold a secret in clear is a provider's inline `api_key`,
        // whose type serializes masked (`gateway::config::InlineSecret`).
        toml::to_string_pretty(self).unwrap_or_else(|e| format!("# cannot render config: {e}\n"))
    }
}

pub(crate) mod duration_str {
    use super::*;
    pub fn serialize<S: Serializer>(d: &Duration, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&humantime::format_duration(*d).to_string())
    }
    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Duration, D::Error> {
        let s = String::deserialize(d)?;
        humantime::parse_duration(&s).map_err(|e| {
            serde::de::Error::custom(format!(
                "`{s}` is not a duration like \"30s\" or \"24h\": {e}"
            ))
        })
    }
}

mod opt_duration_str {
    use super::*;
    pub fn serialize<S: Serializer>(d: &Option<Duration>, s: S) -> Result<S::Ok, S::Error> {
        match d {
            Some(d) => s.serialize_str(&humantime::format_duration(*d).to_string()),
            None => s.serialize_none(),
        }
    }
    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Duration>, D::Error> {
        super::duration_str::deserialize(d).map(Some)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn load_str(toml: &str, env: &[(&str, &str)]) -> Result<Loaded, ConfigError> {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("acorn.toml");
        std::fs::write(&path, toml).unwrap();
        let env: Vec<_> = env
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        load(
            &Overrides {
                config_file: Some(path),
                ..Default::default()
            },
            &env,
        )
    }

    #[test]
    fn defaults_need_no_file() {
        let loaded = load(&Overrides::default(), &[]).unwrap();
        assert_eq!(loaded.config.server.listen.port(), 8443);
        assert_eq!(loaded.config.state_dir(), PathBuf::from("acorn-data"));
    }

    #[test]
    fn precedence_file_then_env_then_flags() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("acorn.toml");
        std::fs::write(
            &path,
            "[server]\nlisten = \"127.0.0.1:1000\"\nmax_body_bytes = 2048\n",
        )
        .unwrap();
        let env = vec![
            (
                "ACORN_SERVER_LISTEN".to_string(),
                "127.0.0.1:2000".to_string(),
            ),
            (
                "ACORN_SERVER_MAX_BODY_BYTES".to_string(),
                "4096".to_string(),
            ),
            (
                "STATE_DIRECTORY".to_string(),
                "/var/lib/acorn:/other".to_string(),
            ),
        ];
        let o = Overrides {
            config_file: Some(path.clone()),
            ..Default::default()
        };
        let c = load(&o, &env).unwrap().config;
        assert_eq!(c.server.listen.port(), 2000);
        assert_eq!(c.server.max_body_bytes, 4096);
        assert_eq!(c.state_dir(), PathBuf::from("/var/lib/acorn"));
        let o = Overrides {
            config_file: Some(path),
            listen: Some("127.0.0.1:3000".parse().unwrap()),
            state_dir: Some("/x".into()),
            ..Default::default()
        };
        let c = load(&o, &env).unwrap().config;
        assert_eq!(c.server.listen.port(), 3000);
        assert_eq!(c.state_dir(), PathBuf::from("/x"));
    }

    #[test]
    fn errors_name_the_key() {
        type Case<'a> = (&'a str, &'a [(&'a str, &'a str)], &'a str);
        let cases: &[Case] = &[
            ("[server]\nlisten = \"nope\"\n", &[], "server.listen"),
            (
                "[server]\nlisten_addr = \"0.0.0.0:1\"\n",
                &[],
                "listen_addr",
            ),
            (
                "[tls]\nleaf_validity = \"soon\"\n",
                &[],
                "tls.leaf_validity",
            ),
            ("[tls]\ncert_file = \"/a\"\n", &[], "tls.key_file"),
            ("[backup]\nkeep = 0\n", &[], "backup.keep"),
            ("[backup]\nkeep = \"many\"\n", &[], "backup.keep"),
            ("version = 2\n", &[], "version"),
            ("[log]\nformat = \"xml\"\n", &[], "log.format"),
            ("", &[("ACORN_SERVER_LISTN", "x")], "ACORN_SERVER_LISTN"),
            (
                "",
                &[("ACORN_TLS_LEAF_VALIDITY", "forever")],
                "tls.leaf_validity",
            ),
            ("[server\n", &[], "not valid TOML"),
        ];
        for (toml, env, needle) in cases {
            let err = load_str(toml, env)
                .err()
                .unwrap_or_else(|| panic!("{toml:?} {env:?} accepted"));
            assert!(
                err.to_string().contains(needle),
                "{toml:?}: `{err}` does not name {needle}"
            );
        }
    }

    #[test]
    fn other_acorn_variables_are_listed_not_applied() {
        let loaded = load_str("", &[("ACORN_DEMO_OPENAI_BASE_URL", "http://x")]).unwrap();
        assert_eq!(
            loaded.ignored_env,
            vec!["ACORN_DEMO_OPENAI_BASE_URL".to_string()]
        );
    }
}
