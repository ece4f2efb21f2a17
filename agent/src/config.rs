//! The agent's configuration: defaults, an optional mounted TOML file
//! (`ACORN_AGENT_CONFIG_FILE`) and the `ACORN_AGENT_*` environment, merged in one place
//! ([`AgentConfig::load`]); the environment wins over the file.
//!
//! The environment names are a contract shared with the Helm chart and the install manifest the
//! appliance generates; the file keys are the same names in lower case without the
//! `ACORN_AGENT_` prefix (`appliance_url`, `namespaces_include = ["a", "b"]`, …).
//! Every error names the key at fault. The agent key is held in [`AgentKey`], whose `Debug`
//! never shows it, and is never logged.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use acorn_proto::agent::{AGENT_KEY_PREFIX, NamespaceFilter};
use serde::Deserialize;

/// Environment variable that names the optional TOML file.
pub const CONFIG_FILE_ENV: &str = "ACORN_AGENT_CONFIG_FILE";

/// A configuration problem, naming the key at fault.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// A setting has a value that cannot be used.
    #[error("{key}: {message}")]
    Invalid {
        /// The environment variable or file key.
        key: String,
        /// What is wrong and how to fix it.
        message: String,
    },
    /// A file named by a setting cannot be read.
    #[error("{key}: cannot read {path}: {source}")]
    ReadFile {
        /// The setting that names the file.
        key: String,
        /// The file.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// The TOML file does not parse (unknown keys included).
    #[error("{CONFIG_FILE_ENV} ({path}): {message}")]
    Parse {
        /// The file.
        path: PathBuf,
        /// The parser's message, which names the key.
        message: String,
    },
}

/// The agent key; `Debug` and `Display` never show it.
#[derive(Clone, PartialEq, Eq)]
pub struct AgentKey(String);

impl AgentKey {
    /// The key itself, for the one place that sends it (the upgrade request header).
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Debug for AgentKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("AgentKey(***)")
    }
}

/// How log lines are written.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    /// One JSON object per line (the default: what log collectors parse).
    Json,
    /// Human-readable lines.
    Text,
}

/// Leader election settings (only used with `ACORN_AGENT_LEADER_ELECTION=true`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LeaderElection {
    /// Name of the coordination.k8s.io/v1 Lease.
    pub lease_name: String,
    /// Namespace of the Lease.
    pub lease_namespace: String,
    /// This replica's identity in the Lease (`POD_NAME`).
    pub identity: String,
}

/// The validated configuration.
#[derive(Debug, Clone)]
pub struct AgentConfig {
    /// `ACORN_AGENT_APPLIANCE_URL`: `https://host[:port]`, without a trailing slash.
    pub appliance_url: String,
    /// `ACORN_AGENT_CA_FILE`: the PEM bundle of the appliance CA; only it is trusted.
    pub ca_file: PathBuf,
    /// `ACORN_AGENT_KEY` or the content of `ACORN_AGENT_KEY_FILE`.
    pub key: AgentKey,
    /// `ACORN_AGENT_WRITE_ENABLED` (default false).
    pub write_enabled: bool,
    /// `ACORN_AGENT_LOGS_ALLOWED` (default true).
    pub logs_allowed: bool,
    /// `ACORN_AGENT_NAMESPACES_INCLUDE` / `ACORN_AGENT_NAMESPACES_EXCLUDE`.
    pub namespaces: NamespaceFilter,
    /// `ACORN_AGENT_LEADER_ELECTION=true` and its lease.
    pub leader_election: Option<LeaderElection>,
    /// `POD_NAME` (downward API), reported in the hello.
    pub pod_name: Option<String>,
    /// `ACORN_AGENT_HEALTH_LISTEN` (default `0.0.0.0:8080`).
    pub health_listen: SocketAddr,
    /// `ACORN_AGENT_REDACT_PATTERNS`: extra regular expressions (environment: one per line, or
    /// separated by `;;`; file: a list).
    pub redact_patterns: Vec<String>,
    /// `ACORN_AGENT_LOG_FORMAT` (`json`|`text`, default `json`).
    pub log_format: LogFormat,
    /// `ACORN_AGENT_LOG_LEVEL` (an `EnvFilter` directive, default `info`).
    pub log_level: String,
    /// `ACORN_AGENT_KUBECONFIG`, else `KUBECONFIG`; none = in-cluster configuration.
    pub kubeconfig: Option<PathBuf>,
}

/// The file's shape: every key optional, unknown keys refused.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct FileConfig {
    appliance_url: Option<String>,
    ca_file: Option<PathBuf>,
    key: Option<String>,
    key_file: Option<PathBuf>,
    write_enabled: Option<bool>,
    logs_allowed: Option<bool>,
    namespaces_include: Option<Vec<String>>,
    namespaces_exclude: Option<Vec<String>>,
    leader_election: Option<bool>,
    lease_name: Option<String>,
    lease_namespace: Option<String>,
    health_listen: Option<String>,
    redact_patterns: Option<Vec<String>>,
    log_format: Option<String>,
    log_level: Option<String>,
    kubeconfig: Option<PathBuf>,
}

/// One setting's value and where it came from (for error messages).
struct Found<T> {
    value: T,
    key: String,
}

/// Reads settings: environment first, then the file.
struct Sources<'a> {
    env: &'a dyn Fn(&str) -> Option<String>,
    file_path: Option<PathBuf>,
}

impl Sources<'_> {
    fn env(&self, name: &str) -> Option<Found<String>> {
        (self.env)(name)
            .filter(|v| !v.trim().is_empty())
            .map(|value| Found {
                value,
                key: name.to_string(),
            })
    }

    fn file_key(&self, name: &str) -> String {
        let path = self
            .file_path
            .as_deref()
            .map(Path::display)
            .map(|d| d.to_string())
            .unwrap_or_default();
        format!("{name} in {path}")
    }

    /// A string setting: `ACORN_AGENT_<NAME>` or the file's `<name>`.
    fn string(&self, env_name: &str, file: Option<String>) -> Option<Found<String>> {
        self.env(env_name).or_else(|| {
            file.map(|value| Found {
                value,
                key: self.file_key(&file_name(env_name)),
            })
        })
    }

    fn boolean(
        &self,
        env_name: &str,
        file: Option<bool>,
        default: bool,
    ) -> Result<bool, ConfigError> {
        match self.env(env_name) {
            Some(found) => parse_bool(&found.value).ok_or_else(|| ConfigError::Invalid {
                key: found.key,
                message: format!("expected true or false, not {:?}", found.value),
            }),
            None => Ok(file.unwrap_or(default)),
        }
    }

    fn list(&self, env_name: &str, file: Option<Vec<String>>) -> Vec<String> {
        match self.env(env_name) {
            Some(found) => split_list(&found.value),
            None => file.unwrap_or_default(),
        }
    }
}

/// `ACORN_AGENT_APPLIANCE_URL` → `appliance_url`.
fn file_name(env_name: &str) -> String {
    env_name
        .trim_start_matches("ACORN_AGENT_")
        .to_ascii_lowercase()
}

fn parse_bool(value: &str) -> Option<bool> {
    match value.trim().to_ascii_lowercase().as_str() {
        "true" | "1" | "yes" | "on" => Some(true),
        "false" | "0" | "no" | "off" => Some(false),
        _ => None,
    }
}

/// A comma-separated list; blanks dropped.
fn split_list(value: &str) -> Vec<String> {
    value
        .split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(str::to_string)
        .collect()
}

/// Namespaces are DNS labels; a typo here would silently hide a namespace, so check them.
fn check_namespaces(key: &str, names: &[String]) -> Result<(), ConfigError> {
    for name in names {
        let ok = !name.is_empty()
            && name.len() <= 63
            && name
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
            && !name.starts_with('-')
            && !name.ends_with('-');
        if !ok {
            return Err(ConfigError::Invalid {
                key: key.to_string(),
                message: format!("{name:?} is not a namespace name (lower-case DNS label)"),
            });
        }
    }
    Ok(())
}

/// Checks `https://host[:port][/]` and returns it without the trailing slash.
fn check_appliance_url(found: &Found<String>) -> Result<String, ConfigError> {
    let invalid = |message: String| ConfigError::Invalid {
        key: found.key.clone(),
        message,
    };
    let raw = found.value.trim();
    let uri: tokio_tungstenite::tungstenite::http::Uri = raw
        .parse()
        .map_err(|e| invalid(format!("{raw:?} is not a URL: {e}")))?;
    if uri.scheme_str() != Some("https") {
        return Err(invalid(format!(
            "{raw:?} must be an https:// URL (the agent only connects over TLS)"
        )));
    }
    if uri.host().is_none_or(str::is_empty) {
        return Err(invalid(format!("{raw:?} has no host")));
    }
    if uri.query().is_some() || !matches!(uri.path(), "" | "/") {
        return Err(invalid(format!(
            "{raw:?} must be the appliance's base URL (https://host:port), without a path"
        )));
    }
    Ok(raw.trim_end_matches('/').to_string())
}

impl AgentConfig {
    /// Loads the configuration from the process environment (and the file it names).
    pub fn from_process_env() -> Result<AgentConfig, ConfigError> {
        AgentConfig::load(&|name| std::env::var(name).ok())
    }

    /// Loads the configuration from `env` (a lookup, so that tests need not touch the process
    /// environment) and the TOML file named by `ACORN_AGENT_CONFIG_FILE`.
    pub fn load(env: &dyn Fn(&str) -> Option<String>) -> Result<AgentConfig, ConfigError> {
        let file_path = env(CONFIG_FILE_ENV)
            .filter(|p| !p.trim().is_empty())
            .map(PathBuf::from);
        let file = match &file_path {
            Some(path) => {
                let text =
                    std::fs::read_to_string(path).map_err(|source| ConfigError::ReadFile {
                        key: CONFIG_FILE_ENV.into(),
                        path: path.clone(),
                        source,
                    })?;
                toml::from_str::<FileConfig>(&text).map_err(|e| ConfigError::Parse {
                    path: path.clone(),
                    message: e.to_string(),
                })?
            }
            None => FileConfig::default(),
        };
        let src = Sources { env, file_path };

        let url = src
            .string("ACORN_AGENT_APPLIANCE_URL", file.appliance_url)
            .ok_or_else(|| ConfigError::Invalid {
                key: "ACORN_AGENT_APPLIANCE_URL".into(),
                message:
                    "required: the appliance's base URL, e.g. https://acorn.example.internal:8443"
                        .into(),
            })?;
        let appliance_url = check_appliance_url(&url)?;

        let ca = src
            .string(
                "ACORN_AGENT_CA_FILE",
                file.ca_file.map(|p| p.display().to_string()),
            )
            .ok_or_else(|| ConfigError::Invalid {
                key: "ACORN_AGENT_CA_FILE".into(),
                message: "required: the PEM file of the appliance CA (`acorn cert show` prints \
                          it; the install manifest mounts it). Only this CA is trusted."
                    .into(),
            })?;
        let ca_file = PathBuf::from(&ca.value);
        crate::link::tls::read_ca_bundle(&ca_file).map_err(|e| ConfigError::Invalid {
            key: ca.key.clone(),
            message: e.to_string(),
        })?;

        let key = load_key(&src, file.key, file.key_file)?;

        let write_enabled = src.boolean("ACORN_AGENT_WRITE_ENABLED", file.write_enabled, false)?;
        let logs_allowed = src.boolean("ACORN_AGENT_LOGS_ALLOWED", file.logs_allowed, true)?;

        let include = src.list("ACORN_AGENT_NAMESPACES_INCLUDE", file.namespaces_include);
        check_namespaces("ACORN_AGENT_NAMESPACES_INCLUDE", &include)?;
        let exclude = src.list("ACORN_AGENT_NAMESPACES_EXCLUDE", file.namespaces_exclude);
        check_namespaces("ACORN_AGENT_NAMESPACES_EXCLUDE", &exclude)?;

        let pod_name = src.env("POD_NAME").map(|f| f.value.trim().to_string());
        let pod_namespace = src.env("POD_NAMESPACE").map(|f| f.value.trim().to_string());

        let leader_election =
            if src.boolean("ACORN_AGENT_LEADER_ELECTION", file.leader_election, false)? {
                let lease_name = src
                    .string("ACORN_AGENT_LEASE_NAME", file.lease_name)
                    .map(|f| f.value)
                    .unwrap_or_else(|| "acorn-agent".into());
                let lease_namespace = src
                    .string("ACORN_AGENT_LEASE_NAMESPACE", file.lease_namespace)
                    .map(|f| f.value)
                    .or(pod_namespace.clone())
                    .ok_or_else(|| ConfigError::Invalid {
                        key: "ACORN_AGENT_LEASE_NAMESPACE".into(),
                        message:
                            "required with ACORN_AGENT_LEADER_ELECTION=true when POD_NAMESPACE \
                              is not set (set POD_NAMESPACE from the downward API)"
                                .into(),
                    })?;
                check_namespaces(
                    "ACORN_AGENT_LEASE_NAMESPACE",
                    std::slice::from_ref(&lease_namespace),
                )?;
                let identity = pod_name.clone().ok_or_else(|| ConfigError::Invalid {
                    key: "POD_NAME".into(),
                    message: "required with ACORN_AGENT_LEADER_ELECTION=true: each replica needs \
                          its own identity in the lease (set it from the downward API, \
                          fieldRef metadata.name)"
                        .into(),
                })?;
                Some(LeaderElection {
                    lease_name,
                    lease_namespace,
                    identity,
                })
            } else {
                None
            };

        let health_listen = match src.string("ACORN_AGENT_HEALTH_LISTEN", file.health_listen) {
            Some(found) => found
                .value
                .trim()
                .parse()
                .map_err(|_| ConfigError::Invalid {
                    key: found.key.clone(),
                    message: format!("expected ADDRESS:PORT, not {:?}", found.value),
                })?,
            None => SocketAddr::from(([0, 0, 0, 0], 8080)),
        };

        let redact_patterns = match src.env("ACORN_AGENT_REDACT_PATTERNS") {
            // A regex may contain commas, so the environment form is one pattern per line
            // (or `;;`-separated for one-line values).
            Some(found) => found
                .value
                .split(['\n'])
                .flat_map(|l| l.split(";;"))
                .map(str::trim)
                .filter(|s| !s.is_empty())
                .map(str::to_string)
                .collect(),
            None => file.redact_patterns.unwrap_or_default(),
        };
        // Compile them now so that a bad pattern stops the agent at start, naming the key.
        crate::redact::Redactor::new(&redact_patterns).map_err(|e| ConfigError::Invalid {
            key: "ACORN_AGENT_REDACT_PATTERNS".into(),
            message: e.to_string(),
        })?;

        let log_format = match src.string("ACORN_AGENT_LOG_FORMAT", file.log_format) {
            Some(found) => match found.value.trim() {
                "json" => LogFormat::Json,
                "text" => LogFormat::Text,
                other => {
                    return Err(ConfigError::Invalid {
                        key: found.key,
                        message: format!("expected json or text, not {other:?}"),
                    });
                }
            },
            None => LogFormat::Json,
        };
        let log_level = src
            .string("ACORN_AGENT_LOG_LEVEL", file.log_level)
            .map(|f| f.value)
            .unwrap_or_else(|| "info".into());

        let kubeconfig = src
            .env("ACORN_AGENT_KUBECONFIG")
            .map(|f| PathBuf::from(f.value))
            .or(file.kubeconfig)
            .or_else(|| src.env("KUBECONFIG").map(|f| PathBuf::from(f.value)));

        Ok(AgentConfig {
            appliance_url,
            ca_file,
            key,
            write_enabled,
            logs_allowed,
            namespaces: NamespaceFilter { include, exclude },
            leader_election,
            pod_name,
            health_listen,
            redact_patterns,
            log_format,
            log_level,
            kubeconfig,
        })
    }

    /// `wss://host:port/api/v1/agent/connect`.
    pub fn connect_url(&self) -> String {
        let rest = self
            .appliance_url
            .strip_prefix("https://")
            .unwrap_or(&self.appliance_url);
        format!("wss://{rest}{}", acorn_proto::agent::CONNECT_PATH)
    }
}

fn load_key(
    src: &Sources<'_>,
    file_key: Option<String>,
    file_key_file: Option<PathBuf>,
) -> Result<AgentKey, ConfigError> {
    let direct = src.string("ACORN_AGENT_KEY", file_key);
    let from_file = src.string(
        "ACORN_AGENT_KEY_FILE",
        file_key_file.map(|p| p.display().to_string()),
    );
    let (key_name, value) = match (direct, from_file) {
        (Some(a), Some(b)) => {
            return Err(ConfigError::Invalid {
                key: a.key,
                message: format!("set either this or {}, not both", b.key),
            });
        }
        (Some(found), None) => (found.key, found.value),
        (None, Some(found)) => {
            let path = PathBuf::from(&found.value);
            let text = std::fs::read_to_string(&path).map_err(|source| ConfigError::ReadFile {
                key: found.key.clone(),
                path,
                source,
            })?;
            (found.key, text)
        }
        (None, None) => {
            return Err(ConfigError::Invalid {
                key: "ACORN_AGENT_KEY".into(),
                message: "required (or ACORN_AGENT_KEY_FILE): the agent key shown once when \
                          the cluster was registered"
                    .into(),
            });
        }
    };
    let value = value.trim().to_string();
    if !value.starts_with(AGENT_KEY_PREFIX) || value.len() <= AGENT_KEY_PREFIX.len() {
        // Never echo the value: it may be a real secret pasted into the wrong place.
        return Err(ConfigError::Invalid {
            key: key_name,
            message: format!("this is not an agent key (agent keys start with {AGENT_KEY_PREFIX})"),
        });
    }
    Ok(AgentKey(value))
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use super::*;

    struct Fixture {
        dir: tempfile::TempDir,
        env: HashMap<String, String>,
    }

    impl Fixture {
        fn new() -> Fixture {
            let dir = tempfile::tempdir().unwrap();
            let ca = dir.path().join("ca.pem");
            std::fs::write(&ca, crate::link::tls::tests::test_ca_pem()).unwrap();
            let mut env = HashMap::new();
            env.insert(
                "ACORN_AGENT_APPLIANCE_URL".into(),
                "https://acorn.example.internal:8443".into(),
            );
            env.insert("ACORN_AGENT_CA_FILE".into(), ca.display().to_string());
            env.insert("ACORN_AGENT_KEY".into(), "acorn_agent_s3cr3tvalue".into());
            Fixture { dir, env }
        }

        fn set(mut self, k: &str, v: &str) -> Fixture {
            self.env.insert(k.into(), v.into());
            self
        }

        fn unset(mut self, k: &str) -> Fixture {
            self.env.remove(k);
            self
        }

        fn load(&self) -> Result<AgentConfig, ConfigError> {
            AgentConfig::load(&|k| self.env.get(k).cloned())
        }

        fn err(&self) -> String {
            match self.load() {
                Ok(c) => panic!("expected an error, got {c:?}"),
                Err(e) => e.to_string(),
            }
        }
    }

    #[test]
    fn defaults() {
        let c = Fixture::new().load().unwrap();
        assert_eq!(c.appliance_url, "https://acorn.example.internal:8443");
        assert_eq!(
            c.connect_url(),
            "wss://acorn.example.internal:8443/api/v1/agent/connect"
        );
        assert!(!c.write_enabled);
        assert!(c.logs_allowed);
        assert_eq!(c.namespaces, NamespaceFilter::default());
        assert_eq!(c.leader_election, None);
        assert_eq!(c.health_listen, "0.0.0.0:8080".parse().unwrap());
        assert_eq!(c.log_format, LogFormat::Json);
        assert_eq!(c.key.expose(), "acorn_agent_s3cr3tvalue");
        assert!(!format!("{c:?}").contains("s3cr3t"), "Debug shows the key");
    }

    #[test]
    fn errors_name_the_key() {
        // (fixture change, the key the message must start with, a word it must contain)
        type Change = fn(Fixture) -> Fixture;
        let cases: Vec<(Change, &str, &str)> = vec![
            (
                |f| f.unset("ACORN_AGENT_APPLIANCE_URL"),
                "ACORN_AGENT_APPLIANCE_URL",
                "required",
            ),
            (
                |f| f.set("ACORN_AGENT_APPLIANCE_URL", "http://a:1"),
                "ACORN_AGENT_APPLIANCE_URL",
                "https",
            ),
            (
                |f| f.set("ACORN_AGENT_APPLIANCE_URL", "https://a:1/x"),
                "ACORN_AGENT_APPLIANCE_URL",
                "without a path",
            ),
            (
                |f| f.unset("ACORN_AGENT_CA_FILE"),
                "ACORN_AGENT_CA_FILE",
                "acorn cert show",
            ),
            (
                |f| f.set("ACORN_AGENT_CA_FILE", "/nonexistent/ca.pem"),
                "ACORN_AGENT_CA_FILE",
                "/nonexistent/ca.pem",
            ),
            (
                |f| f.unset("ACORN_AGENT_KEY"),
                "ACORN_AGENT_KEY",
                "required",
            ),
            (
                |f| f.set("ACORN_AGENT_KEY", "hunter2"),
                "ACORN_AGENT_KEY",
                "acorn_agent_",
            ),
            (
                |f| f.set("ACORN_AGENT_KEY_FILE", "/x"),
                "ACORN_AGENT_KEY",
                "not both",
            ),
            (
                |f| f.set("ACORN_AGENT_WRITE_ENABLED", "maybe"),
                "ACORN_AGENT_WRITE_ENABLED",
                "true or false",
            ),
            (
                |f| f.set("ACORN_AGENT_NAMESPACES_INCLUDE", "shop,Bad_Name"),
                "ACORN_AGENT_NAMESPACES_INCLUDE",
                "Bad_Name",
            ),
            (
                |f| f.set("ACORN_AGENT_LEADER_ELECTION", "true"),
                "ACORN_AGENT_LEASE_NAMESPACE",
                "POD_NAMESPACE",
            ),
            (
                |f| {
                    f.set("ACORN_AGENT_LEADER_ELECTION", "true")
                        .set("POD_NAMESPACE", "acorn")
                },
                "POD_NAME",
                "downward",
            ),
            (
                |f| f.set("ACORN_AGENT_HEALTH_LISTEN", "8080"),
                "ACORN_AGENT_HEALTH_LISTEN",
                "ADDRESS:PORT",
            ),
            (
                |f| f.set("ACORN_AGENT_LOG_FORMAT", "xml"),
                "ACORN_AGENT_LOG_FORMAT",
                "json or text",
            ),
            (
                |f| f.set("ACORN_AGENT_REDACT_PATTERNS", "(unclosed"),
                "ACORN_AGENT_REDACT_PATTERNS",
                "(unclosed",
            ),
        ];
        for (change, key, word) in cases {
            let msg = change(Fixture::new()).err();
            assert!(msg.starts_with(key), "{msg:?} should start with {key}");
            assert!(msg.contains(word), "{msg:?} should mention {word:?}");
            assert!(!msg.contains("s3cr3t"), "{msg:?} shows the key");
        }
    }

    #[test]
    fn file_is_overlaid_by_env_and_rejects_unknown_keys() {
        let f = Fixture::new()
            .unset("ACORN_AGENT_KEY")
            .set("ACORN_AGENT_WRITE_ENABLED", "true");
        let key_file = f.dir.path().join("key");
        std::fs::write(&key_file, "acorn_agent_fromfile\n").unwrap();
        let toml_path = f.dir.path().join("agent.toml");
        std::fs::write(
            &toml_path,
            format!(
                "key_file = {:?}\nwrite_enabled = false\nlogs_allowed = false\n\
                 namespaces_include = [\"shop\", \"web\"]\nredact_patterns = [\"x,y\\\\d+\"]\n\
                 leader_election = true\nlease_namespace = \"acorn\"\n",
                key_file.display().to_string()
            ),
        )
        .unwrap();
        let f = f
            .set(CONFIG_FILE_ENV, &toml_path.display().to_string())
            .set("POD_NAME", "acorn-agent-0");
        let c = f.load().unwrap();
        assert_eq!(c.key.expose(), "acorn_agent_fromfile");
        assert!(c.write_enabled, "environment wins over the file");
        assert!(!c.logs_allowed);
        assert_eq!(c.namespaces.include, vec!["shop", "web"]);
        assert_eq!(c.redact_patterns, vec!["x,y\\d+"]);
        let le = c.leader_election.unwrap();
        assert_eq!(le.lease_name, "acorn-agent");
        assert_eq!(le.lease_namespace, "acorn");
        assert_eq!(le.identity, "acorn-agent-0");

        std::fs::write(&toml_path, "write_enabeld = true\n").unwrap();
        let msg = f.err();
        assert!(msg.starts_with(CONFIG_FILE_ENV), "{msg}");
        assert!(msg.contains("write_enabeld"), "{msg}");

        std::fs::write(&toml_path, "logs_allowed = \"no\"\n").unwrap();
        assert!(f.err().contains("logs_allowed"));

        std::fs::write(&toml_path, "appliance_url = \"ftp://x\"\n").unwrap();
        let f = f.unset("ACORN_AGENT_APPLIANCE_URL");
        let msg = f.err();
        assert!(msg.starts_with("appliance_url in "), "{msg}");
    }

    #[test]
    fn env_lists_split_on_commas_and_patterns_on_lines() {
        let c = Fixture::new()
            .set(
                "ACORN_AGENT_NAMESPACES_EXCLUDE",
                " kube-system , ,monitoring",
            )
            .set("ACORN_AGENT_REDACT_PATTERNS", "a,b\nc;;d")
            .load()
            .unwrap();
        assert_eq!(c.namespaces.exclude, vec!["kube-system", "monitoring"]);
        assert_eq!(c.redact_patterns, vec!["a,b", "c", "d"]);
    }
}
