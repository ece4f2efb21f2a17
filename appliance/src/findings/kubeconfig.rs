//! A live cluster, read-only, for `acorn analyze --kubeconfig`: the kubeconfig file is parsed
//! (context → cluster and user; bearer token or token file, client certificate and key, the
//! CA, `insecure-skip-tls-verify`) and the kinds the analyzers need are listed with reqwest,
//! page by page, as the agent would have seen them (`acorn_findings::scenario::to_resource`
//! trims them the agent's way: Secret and ConfigMap values are dropped as they arrive).
//!
//! kube-rs stays out of the appliance on purpose (a long compile pole that belongs to the agent
//! and the simulator); listing is a handful of GETs. Only GET is ever sent.

use std::path::{Path, PathBuf};
use std::time::Duration;

use base64::Engine;
use serde::Deserialize;
use serde_json::Value;

use acorn_proto::agent::Resource;

/// Items per list page.
const PAGE_LIMIT: usize = 500;

/// Why a cluster cannot be read. Every variant names the file or URL at fault.
#[derive(Debug, thiserror::Error)]
pub enum KubeError {
    #[error("cannot read {path}: {source}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{path} is not a kubeconfig: {message}")]
    Parse { path: PathBuf, message: String },
    #[error("{path}: {message}")]
    Invalid { path: PathBuf, message: String },
    #[error("cannot set up the HTTP client: {0}")]
    Client(String),
    #[error("GET {url}: {message}")]
    Http { url: String, message: String },
}

#[derive(Debug, Deserialize)]
struct KubeConfig {
    #[serde(default, rename = "current-context")]
    current_context: Option<String>,
    #[serde(default)]
    contexts: Vec<Named<Context>>,
    #[serde(default)]
    clusters: Vec<Named<ClusterEntry>>,
    #[serde(default)]
    users: Vec<Named<User>>,
}

#[derive(Debug, Deserialize)]
struct Named<T> {
    name: String,
    #[serde(alias = "context", alias = "cluster", alias = "user")]
    value: Option<T>,
}

#[derive(Debug, Deserialize)]
struct Context {
    cluster: String,
    #[serde(default)]
    user: Option<String>,
}

#[derive(Debug, Deserialize)]
struct ClusterEntry {
    server: String,
    #[serde(default, rename = "certificate-authority")]
    ca_file: Option<PathBuf>,
    #[serde(default, rename = "certificate-authority-data")]
    ca_data: Option<String>,
    #[serde(default, rename = "insecure-skip-tls-verify")]
    insecure: bool,
}

#[derive(Debug, Default, Deserialize)]
struct User {
    #[serde(default)]
    token: Option<String>,
    #[serde(default, rename = "tokenFile")]
    token_file: Option<PathBuf>,
    #[serde(default, rename = "client-certificate")]
    cert_file: Option<PathBuf>,
    #[serde(default, rename = "client-certificate-data")]
    cert_data: Option<String>,
    #[serde(default, rename = "client-key")]
    key_file: Option<PathBuf>,
    #[serde(default, rename = "client-key-data")]
    key_data: Option<String>,
    #[serde(default)]
    exec: Option<Value>,
    #[serde(default, rename = "auth-provider")]
    auth_provider: Option<Value>,
}

/// What a kubeconfig says about how to reach the API server.
#[derive(Debug)]
pub struct Target {
    /// `https://…` or `http://…`, without a trailing slash.
    pub server: String,
    ca_pem: Option<Vec<u8>>,
    insecure: bool,
    token: Option<String>,
    identity_pem: Option<Vec<u8>>,
}

fn read(path: &Path) -> Result<Vec<u8>, KubeError> {
    std::fs::read(path).map_err(|source| KubeError::Read {
        path: path.to_path_buf(),
        source,
    })
}

/// Relative paths in a kubeconfig are relative to the file.
fn relative(base: &Path, p: &Path) -> PathBuf {
    if p.is_absolute() {
        p.to_path_buf()
    } else {
        base.parent().unwrap_or(Path::new(".")).join(p)
    }
}

impl Target {
    /// Reads the kubeconfig at `path`, for `context` (default: its current context).
    pub fn from_file(path: &Path, context: Option<&str>) -> Result<Target, KubeError> {
        let text = read(path)?;
        let text = String::from_utf8(text).map_err(|_| KubeError::Parse {
            path: path.to_path_buf(),
            message: "not UTF-8".into(),
        })?;
        let config: KubeConfig = serde_saphyr::from_str(&text).map_err(|e| KubeError::Parse {
            path: path.to_path_buf(),
            message: e.to_string(),
        })?;
        let invalid = |message: String| KubeError::Invalid {
            path: path.to_path_buf(),
            message,
        };
        let name = context
            .map(str::to_owned)
            .or(config.current_context.clone())
            .filter(|n| !n.is_empty())
            .ok_or_else(|| invalid("no current-context; name one with --context".into()))?;
        let ctx = config
            .contexts
            .iter()
            .find(|c| c.name == name)
            .and_then(|c| c.value.as_ref())
            .ok_or_else(|| invalid(format!("no context named {name:?}")))?;
        let cluster = config
            .clusters
            .iter()
            .find(|c| c.name == ctx.cluster)
            .and_then(|c| c.value.as_ref())
            .ok_or_else(|| invalid(format!("no cluster named {:?}", ctx.cluster)))?;
        let user = match &ctx.user {
            Some(u) => config
                .users
                .iter()
                .find(|x| x.name == *u)
                .and_then(|x| x.value.as_ref())
                .ok_or_else(|| invalid(format!("no user named {u:?}")))?,
            None => &User::default(),
        };
        if user.exec.is_some() || user.auth_provider.is_some() {
            return Err(invalid(
                "exec and auth-provider credentials are not supported (Acorn runs no plugins); \
                 use a kubeconfig with a token or a client certificate"
                    .into(),
            ));
        }
        let b64 = |field: &str, data: &str| {
            base64::engine::general_purpose::STANDARD
                .decode(data.trim())
                .map_err(|e| invalid(format!("{field} is not base64: {e}")))
        };
        let ca_pem = match (&cluster.ca_data, &cluster.ca_file) {
            (Some(d), _) => Some(b64("certificate-authority-data", d)?),
            (None, Some(f)) => Some(read(&relative(path, f))?),
            (None, None) => None,
        };
        let token = match (&user.token, &user.token_file) {
            (Some(t), _) => Some(t.trim().to_owned()),
            (None, Some(f)) => Some(
                String::from_utf8_lossy(&read(&relative(path, f))?)
                    .trim()
                    .to_owned(),
            ),
            (None, None) => None,
        };
        let cert = match (&user.cert_data, &user.cert_file) {
            (Some(d), _) => Some(b64("client-certificate-data", d)?),
            (None, Some(f)) => Some(read(&relative(path, f))?),
            (None, None) => None,
        };
        let key = match (&user.key_data, &user.key_file) {
            (Some(d), _) => Some(b64("client-key-data", d)?),
            (None, Some(f)) => Some(read(&relative(path, f))?),
            (None, None) => None,
        };
        let identity_pem = match (cert, key) {
            (Some(mut c), Some(k)) => {
                c.push(b'\n');
                c.extend(k);
                Some(c)
            }
            (None, None) => None,
            _ => {
                return Err(invalid(
                    "a client certificate needs its key (and the key its certificate)".into(),
                ));
            }
        };
        let server = cluster.server.trim_end_matches('/').to_owned();
        if !(server.starts_with("https://") || server.starts_with("http://")) {
            return Err(invalid(format!(
                "cluster server {server:?} is not an http(s) URL"
            )));
        }
        Ok(Target {
            server,
            ca_pem,
            insecure: cluster.insecure,
            token,
            identity_pem,
        })
    }

    fn client(&self) -> Result<reqwest::Client, KubeError> {
        let client_err = |e: reqwest::Error| KubeError::Client(e.to_string());
        let mut builder = reqwest::Client::builder()
            .timeout(Duration::from_secs(60))
            .connect_timeout(Duration::from_secs(10))
            .redirect(reqwest::redirect::Policy::none());
        if let Some(pem) = &self.ca_pem {
            let certs = reqwest::Certificate::from_pem_bundle(pem).map_err(client_err)?;
            builder = builder.tls_certs_only(certs);
        }
        if let Some(pem) = &self.identity_pem {
            builder = builder.identity(reqwest::Identity::from_pem(pem).map_err(client_err)?);
        }
        if self.insecure {
            builder = builder.tls_danger_accept_invalid_certs(true);
        }
        builder.build().map_err(client_err)
    }
}

/// `(kind, apiVersion, URL path of the cluster-wide list)` of every kind the analyzers read,
/// the agent's list (`acorn_findings::scenario::AGENT_KINDS`).
const KINDS: &[(&str, &str, &str)] = &[
    ("Namespace", "v1", "/api/v1/namespaces"),
    ("Node", "v1", "/api/v1/nodes"),
    ("Pod", "v1", "/api/v1/pods"),
    ("Service", "v1", "/api/v1/services"),
    ("Endpoints", "v1", "/api/v1/endpoints"),
    (
        "PersistentVolumeClaim",
        "v1",
        "/api/v1/persistentvolumeclaims",
    ),
    ("PersistentVolume", "v1", "/api/v1/persistentvolumes"),
    ("ConfigMap", "v1", "/api/v1/configmaps"),
    ("Secret", "v1", "/api/v1/secrets"),
    ("Event", "v1", "/api/v1/events"),
    ("Deployment", "apps/v1", "/apis/apps/v1/deployments"),
    ("ReplicaSet", "apps/v1", "/apis/apps/v1/replicasets"),
    ("StatefulSet", "apps/v1", "/apis/apps/v1/statefulsets"),
    ("DaemonSet", "apps/v1", "/apis/apps/v1/daemonsets"),
    ("Job", "batch/v1", "/apis/batch/v1/jobs"),
    ("CronJob", "batch/v1", "/apis/batch/v1/cronjobs"),
    (
        "EndpointSlice",
        "discovery.k8s.io/v1",
        "/apis/discovery.k8s.io/v1/endpointslices",
    ),
    (
        "Ingress",
        "networking.k8s.io/v1",
        "/apis/networking.k8s.io/v1/ingresses",
    ),
    (
        "StorageClass",
        "storage.k8s.io/v1",
        "/apis/storage.k8s.io/v1/storageclasses",
    ),
    (
        "HorizontalPodAutoscaler",
        "autoscaling/v2",
        "/apis/autoscaling/v2/horizontalpodautoscalers",
    ),
    (
        "PodMetrics",
        "metrics.k8s.io/v1beta1",
        "/apis/metrics.k8s.io/v1beta1/pods",
    ),
    (
        "NodeMetrics",
        "metrics.k8s.io/v1beta1",
        "/apis/metrics.k8s.io/v1beta1/nodes",
    ),
];

/// What listing a cluster gave.
pub struct Listed {
    /// The objects, trimmed as the agent trims them.
    pub resources: Vec<Resource>,
    /// Kinds that could not be listed, with why (`403 Forbidden: …`): the analyzers run
    /// without them, and the output says so.
    pub skipped: Vec<(String, String)>,
}

/// Lists every kind of [`KINDS`] from the cluster. A kind the server does not serve (404),
/// refuses (403) or cannot answer for (503, metrics without metrics-server) is skipped and
/// reported; failing to reach the server at all is an error.
pub async fn list_cluster(target: &Target) -> Result<Listed, KubeError> {
    let client = target.client()?;
    let mut resources = Vec::new();
    let mut skipped = Vec::new();
    for (kind, api_version, path) in KINDS {
        match list_kind(&client, target, path).await? {
            Ok(items) => {
                for mut item in items {
                    if let Some(map) = item.as_object_mut() {
                        map.insert("kind".into(), Value::String((*kind).to_owned()));
                        map.insert(
                            "apiVersion".into(),
                            Value::String((*api_version).to_owned()),
                        );
                    }
                    if let Some(r) = acorn_findings::scenario::to_resource(item) {
                        resources.push(r);
                    }
                }
            }
            Err(why) => skipped.push(((*kind).to_owned(), why)),
        }
    }
    Ok(Listed { resources, skipped })
}

/// The items of one list (all pages); `Ok(Err(why))` when the server answered with an error
/// for this kind.
async fn list_kind(
    client: &reqwest::Client,
    target: &Target,
    path: &str,
) -> Result<Result<Vec<Value>, String>, KubeError> {
    let mut items = Vec::new();
    let mut cont: Option<String> = None;
    loop {
        let mut url = format!("{}{path}?limit={PAGE_LIMIT}", target.server);
        if let Some(c) = &cont {
            url.push_str("&continue=");
            url.push_str(&percent_encode(c));
        }
        let mut request = client.get(&url).header("Accept", "application/json");
        if let Some(token) = &target.token {
            request = request.bearer_auth(token);
        }
        let http = |message: String| KubeError::Http {
            url: url.clone(),
            message,
        };
        let response = request.send().await.map_err(|e| http(error_chain(&e)))?;
        let status = response.status();
        let body: Value = response
            .json()
            .await
            .map_err(|e| http(format!("{status}: the body is not JSON: {e}")))?;
        if !status.is_success() {
            if status == reqwest::StatusCode::UNAUTHORIZED {
                return Err(http(format!(
                    "401 Unauthorized: the credentials of the kubeconfig were refused ({})",
                    body["message"].as_str().unwrap_or("no message")
                )));
            }
            return Ok(Err(format!(
                "{status}: {}",
                body["message"].as_str().unwrap_or("no message")
            )));
        }
        if let Some(list) = body.get("items").and_then(Value::as_array) {
            items.extend(list.iter().cloned());
        }
        cont = body
            .pointer("/metadata/continue")
            .and_then(Value::as_str)
            .filter(|c| !c.is_empty())
            .map(str::to_owned);
        if cont.is_none() {
            return Ok(Ok(items));
        }
    }
}

/// The error and its causes on one line (reqwest's top-level message hides the reason).
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

/// Continue tokens are base64 (`+`, `/`, `=`): encode what a query value cannot hold.
fn percent_encode(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'~') {
            out.push(char::from(b));
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn write(dir: &Path, name: &str, text: &str) -> PathBuf {
        let p = dir.join(name);
        std::fs::write(&p, text).unwrap();
        p
    }

    #[test]
    fn kubeconfigs_resolve_context_cluster_and_user() {
        let dir = tempfile::tempdir().unwrap();
        write(dir.path(), "token", "s3cr3t\n");
        let path = write(
            dir.path(),
            "config",
            "apiVersion: v1\nkind: Config\ncurrent-context: a\n\
             contexts:\n- name: a\n  context: {cluster: c1, user: u1}\n\
             - name: b\n  context: {cluster: c2, user: u2}\n\
             clusters:\n- name: c1\n  cluster: {server: 'http://127.0.0.1:1/'}\n\
             - name: c2\n  cluster: {server: 'https://k:6443', insecure-skip-tls-verify: true, certificate-authority-data: 'LS0t'}\n\
             users:\n- name: u1\n  user: {token: abc}\n- name: u2\n  user: {tokenFile: token}\n",
        );
        let a = Target::from_file(&path, None).unwrap();
        assert_eq!(a.server, "http://127.0.0.1:1");
        assert_eq!(a.token.as_deref(), Some("abc"));
        assert!(!a.insecure && a.ca_pem.is_none());
        let b = Target::from_file(&path, Some("b")).unwrap();
        assert_eq!(b.token.as_deref(), Some("s3cr3t"), "relative tokenFile");
        assert!(b.insecure);
        assert_eq!(b.ca_pem.as_deref(), Some(&b"---"[..]));
        let err = Target::from_file(&path, Some("zzz"))
            .unwrap_err()
            .to_string();
        assert!(err.contains("no context named \"zzz\""), "{err}");
        assert!(err.contains("config"), "names the file: {err}");
    }

    #[test]
    fn bad_kubeconfigs_name_the_file_and_the_problem() {
        let dir = tempfile::tempdir().unwrap();
        let missing = dir.path().join("nope");
        let err = Target::from_file(&missing, None).unwrap_err().to_string();
        assert!(err.contains("nope"), "{err}");
        let exec = write(
            dir.path(),
            "exec",
            "current-context: a\ncontexts:\n- name: a\n  context: {cluster: c, user: u}\n\
             clusters:\n- name: c\n  cluster: {server: 'https://k'}\n\
             users:\n- name: u\n  user:\n    exec: {command: aws}\n",
        );
        let err = Target::from_file(&exec, None).unwrap_err().to_string();
        assert!(err.contains("exec"), "{err}");
        let half = write(
            dir.path(),
            "half",
            "current-context: a\ncontexts:\n- name: a\n  context: {cluster: c, user: u}\n\
             clusters:\n- name: c\n  cluster: {server: 'https://k'}\n\
             users:\n- name: u\n  user: {client-certificate: cert.pem}\n",
        );
        // The certificate file is named when it is missing (relative to the kubeconfig)…
        let err = Target::from_file(&half, None).unwrap_err().to_string();
        assert!(
            err.contains(&format!("{}", dir.path().join("cert.pem").display())),
            "{err}"
        );
        // … and a certificate without its key is refused.
        write(dir.path(), "cert.pem", "-----BEGIN CERTIFICATE-----\n");
        let err = Target::from_file(&half, None).unwrap_err().to_string();
        assert!(err.contains("needs its key"), "{err}");
        let garbage = write(dir.path(), "garbage", "[[[");
        let err = Target::from_file(&garbage, None).unwrap_err().to_string();
        assert!(err.contains("not a kubeconfig"), "{err}");
        assert_eq!(percent_encode("a+b/="), "a%2Bb%2F%3D");
    }
}
