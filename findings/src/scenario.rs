//! Reading a kubesim scenario folder (format: `kubesim/README.md`) into the snapshot the agent
//! would have sent for it, without the simulator: `acorn analyze --scenario-dir` and the tests.
//!
//! Rendering follows the simulator (`kubesim/src/scenario.rs`, `sim.rs`, `time.rs`): objects
//! from `objects.json` / `objects.yaml` (a `List`, a bare array, or `---`-separated YAML
//! documents), events from `events.json`, metrics from `metrics.json`; a string that is exactly
//! `{{now}}`, `{{now-10m}}` or `{{now+30s}}` becomes that time; when several folders define the
//! same object, the first wins ([`merge`]). The simulator always loads its `_base` folder
//! (nodes, the default StorageClass) first: pass it first to get the same cluster.
//!
//! Then the agent's view (`agent/src/snapshot/`): only the kinds it watches (the list below
//! mirrors `agent/src/snapshot/kinds.rs` and must follow it), trimmed like
//! `agent/src/snapshot/trim.rs` does — `managedFields` and the last-applied annotation dropped,
//! Secret and ConfigMap values replaced by their key names (`dataKeys`, `binaryDataKeys`),
//! secret-looking env values masked, objects over 512 KiB cut to their metadata — and metrics
//! without `timestamp`. Not reproduced: the agent's pattern redactor (token-shaped strings),
//! which needs a regex engine; scenario fixtures hold no real secrets.
//!
//! Logs (`logs/<namespace>__<pod>__<container>[_previous].log`) are read separately by
//! [`load_logs`], with the leading timestamp of a line removed as `kubectl logs` shows it.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use acorn_proto::agent::{Resource, ResourceKey};
use serde_json::{Map, Value, json};

use crate::snapshot::Logs;
use crate::time::{expand_placeholder, parse_rfc3339};

/// Why a scenario folder cannot be read. Every variant names the file at fault.
#[derive(Debug, thiserror::Error)]
pub enum ScenarioError {
    /// The folder has no objects file.
    #[error("scenario folder {dir} has no objects.json or objects.yaml")]
    MissingObjects {
        /// The folder.
        dir: PathBuf,
    },
    /// A file or folder cannot be read.
    #[error("cannot read {path}: {source}")]
    Read {
        /// The file.
        path: PathBuf,
        /// The I/O error.
        source: std::io::Error,
    },
    /// A file does not parse.
    #[error("{path} is not valid {format}: {message}")]
    Parse {
        /// The file.
        path: PathBuf,
        /// JSON or YAML.
        format: &'static str,
        /// The parser's message.
        message: String,
    },
    /// An item lacks what every Kubernetes object has.
    #[error("{path}: item {index} has no {field}")]
    Invalid {
        /// The file.
        path: PathBuf,
        /// The item's position in the file.
        index: usize,
        /// The missing field.
        field: &'static str,
    },
    /// A log file's name does not follow the format.
    #[error("{path}: log files are named <namespace>__<pod>__<container>[_previous].log")]
    LogName {
        /// The file.
        path: PathBuf,
    },
}

/// The kinds the agent watches (`agent/src/snapshot/kinds.rs`) and the metrics it polls.
pub const AGENT_KINDS: &[&str] = &[
    "Namespace",
    "Node",
    "Pod",
    "Deployment",
    "ReplicaSet",
    "StatefulSet",
    "DaemonSet",
    "Job",
    "CronJob",
    "Service",
    "Endpoints",
    "EndpointSlice",
    "Ingress",
    "PersistentVolumeClaim",
    "PersistentVolume",
    "StorageClass",
    "HorizontalPodAutoscaler",
    "ConfigMap",
    "Secret",
    "Event",
    "PodMetrics",
    "NodeMetrics",
];

/// The largest serialized object kept whole (the agent's `MAX_OBJECT_BYTES`).
const MAX_OBJECT_BYTES: usize = 512 * 1024;
const LAST_APPLIED: &str = "kubectl.kubernetes.io/last-applied-configuration";
/// The agent's `SECRET_NAME_WORDS`.
const SECRET_NAME_WORDS: &[&str] = &[
    "password",
    "passwd",
    "pwd",
    "secret",
    "token",
    "apikey",
    "api_key",
    "access_key",
    "private",
    "credential",
    "auth",
    "cookie",
    "session",
    "signing",
    "encryption_key",
    "dsn",
    "connection_string",
    "database_url",
    "_key",
];

/// Seconds since the Unix epoch, now.
pub fn now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX))
        .unwrap_or(0)
}

/// Loads a scenario folder as the agent would have sent it, with times relative to now.
pub fn load(dir: &Path) -> Result<Vec<Resource>, ScenarioError> {
    load_at(dir, now())
}

/// [`load`] with `{{now…}}` placeholders relative to `now` (unix seconds).
pub fn load_at(dir: &Path, now: i64) -> Result<Vec<Resource>, ScenarioError> {
    let mut objects_file = None;
    for name in ["objects.json", "objects.yaml", "objects.yml"] {
        let path = dir.join(name);
        if path.is_file() {
            objects_file = Some(path);
            break;
        }
    }
    if !dir.is_dir() {
        return Err(ScenarioError::Read {
            path: dir.to_path_buf(),
            source: std::io::Error::new(std::io::ErrorKind::NotFound, "not a folder"),
        });
    }
    let objects_file = objects_file.ok_or_else(|| ScenarioError::MissingObjects {
        dir: dir.to_path_buf(),
    })?;
    let mut items = read_list(&objects_file)?;
    for optional in ["events.json", "events.yaml", "metrics.json", "metrics.yaml"] {
        let path = dir.join(optional);
        if path.is_file() {
            items.extend(read_list(&path)?);
        }
    }
    let mut out = Vec::with_capacity(items.len());
    for (index, (path, mut item)) in items.into_iter().enumerate() {
        for field in ["apiVersion", "kind"] {
            if item
                .get(field)
                .and_then(Value::as_str)
                .is_none_or(str::is_empty)
            {
                return Err(ScenarioError::Invalid { path, index, field });
            }
        }
        if item
            .pointer("/metadata/name")
            .and_then(Value::as_str)
            .is_none_or(str::is_empty)
        {
            return Err(ScenarioError::Invalid {
                path,
                index,
                field: "metadata.name",
            });
        }
        expand(&mut item, now);
        if let Some(resource) = to_resource(item) {
            out.push(resource);
        }
    }
    Ok(out)
}

/// Several loaded folders as one cluster: the first definition of an object wins.
pub fn merge(lists: impl IntoIterator<Item = Vec<Resource>>) -> Vec<Resource> {
    let mut seen = BTreeSet::new();
    let mut out = Vec::new();
    for list in lists {
        for r in list {
            if seen.insert((
                r.key.kind.clone(),
                r.key.namespace.clone(),
                r.key.name.clone(),
            )) {
                out.push(r);
            }
        }
    }
    out
}

/// Reads `logs/` of a scenario folder (none is fine).
pub fn load_logs(dir: &Path) -> Result<Logs, ScenarioError> {
    let mut logs = Logs::new();
    let logs_dir = dir.join("logs");
    if !logs_dir.is_dir() {
        return Ok(logs);
    }
    let read_err = |path: &Path| {
        let path = path.to_path_buf();
        move |source| ScenarioError::Read { path, source }
    };
    for entry in std::fs::read_dir(&logs_dir).map_err(read_err(&logs_dir))? {
        let path = entry.map_err(read_err(&logs_dir))?.path();
        if !path.is_file() {
            continue;
        }
        let file = path
            .file_name()
            .and_then(|n| n.to_str())
            .unwrap_or_default();
        let key = log_name(file).ok_or_else(|| ScenarioError::LogName { path: path.clone() })?;
        let text = std::fs::read_to_string(&path).map_err(read_err(&path))?;
        let lines = text.lines().map(strip_timestamp).collect();
        logs.insert(key, lines);
    }
    Ok(logs)
}

fn log_name(file: &str) -> Option<(String, String, String, bool)> {
    let stem = file.strip_suffix(".log")?;
    let (stem, previous) = match stem.strip_suffix("_previous") {
        Some(s) => (s, true),
        None => (stem, false),
    };
    let mut parts = stem.split("__");
    let (ns, pod, container) = (parts.next()?, parts.next()?, parts.next()?);
    if parts.next().is_some() || ns.is_empty() || pod.is_empty() || container.is_empty() {
        return None;
    }
    Some((ns.into(), pod.into(), container.into(), previous))
}

/// A leading RFC 3339 timestamp or `{{now…}}` placeholder and its space are the line's time,
/// not its text (the simulator's rule).
fn strip_timestamp(line: &str) -> String {
    if let Some((first, rest)) = line.split_once(' ')
        && (parse_rfc3339(first).is_some() || expand_placeholder(first, 0).is_some())
    {
        return rest.to_string();
    }
    line.to_string()
}

fn read_list(path: &Path) -> Result<Vec<(PathBuf, Value)>, ScenarioError> {
    let text = std::fs::read_to_string(path).map_err(|source| ScenarioError::Read {
        path: path.to_path_buf(),
        source,
    })?;
    let json = path.extension().and_then(|e| e.to_str()) == Some("json");
    let docs: Vec<Value> = if json {
        vec![
            serde_json::from_str(&text).map_err(|e| ScenarioError::Parse {
                path: path.to_path_buf(),
                format: "JSON",
                message: e.to_string(),
            })?,
        ]
    } else {
        serde_saphyr::from_multiple(&text).map_err(|e| ScenarioError::Parse {
            path: path.to_path_buf(),
            format: "YAML",
            message: e.to_string(),
        })?
    };
    let mut items = Vec::new();
    for doc in docs {
        match doc {
            Value::Array(list) => items.extend(list),
            Value::Object(mut map) if map.contains_key("items") => {
                if let Some(Value::Array(list)) = map.remove("items") {
                    items.extend(list);
                }
            }
            Value::Null => {}
            other => items.push(other),
        }
    }
    Ok(items.into_iter().map(|v| (path.to_path_buf(), v)).collect())
}

fn expand(value: &mut Value, now: i64) {
    match value {
        Value::String(s) => {
            if s.starts_with("{{")
                && let Some(expanded) = expand_placeholder(s, now)
            {
                *s = expanded;
            }
        }
        Value::Array(items) => items.iter_mut().for_each(|v| expand(v, now)),
        Value::Object(map) => map.values_mut().for_each(|v| expand(v, now)),
        _ => {}
    }
}

fn name_looks_secret(name: &str) -> bool {
    let lower = name.to_ascii_lowercase();
    SECRET_NAME_WORDS.iter().any(|w| lower.contains(w)) || lower == "key"
}

fn mask_secret_env(value: &mut Value) {
    match value {
        Value::Object(map) => {
            if let Some(Value::Array(env)) = map.get_mut("env") {
                for var in env.iter_mut() {
                    let secret = var
                        .get("name")
                        .and_then(Value::as_str)
                        .is_some_and(name_looks_secret);
                    if secret
                        && let Some(v) = var.get_mut("value")
                        && v.as_str().is_some_and(|s| !s.is_empty())
                    {
                        *v = Value::String("[REDACTED]".into());
                    }
                }
            }
            map.values_mut().for_each(mask_secret_env);
        }
        Value::Array(items) => items.iter_mut().for_each(mask_secret_env),
        _ => {}
    }
}

/// The agent's trimming and its [`Resource`]; `None` for kinds the agent does not watch (or an
/// object without `kind`, `apiVersion` or `metadata.name`). Public for readers of a live
/// cluster (`acorn analyze --kubeconfig`): objects of a list need their `kind` and
/// `apiVersion` set first, as the API server leaves them out of list items.
pub fn to_resource(mut object: Value) -> Option<Resource> {
    let kind = object.get("kind")?.as_str()?.to_string();
    if !AGENT_KINDS.contains(&kind.as_str()) {
        return None;
    }
    let api_version = object.get("apiVersion")?.as_str()?.to_string();
    let map = object.as_object_mut()?;
    if let Some(Value::Object(meta)) = map.get_mut("metadata") {
        meta.remove("managedFields");
        if let Some(Value::Object(annotations)) = meta.get_mut("annotations") {
            annotations.remove(LAST_APPLIED);
            if annotations.is_empty() {
                meta.remove("annotations");
            }
        }
        if kind.ends_with("Metrics") {
            meta.remove("resourceVersion");
            meta.remove("creationTimestamp");
        }
    }
    if kind.ends_with("Metrics") {
        map.remove("timestamp");
    }
    if kind == "Secret" || kind == "ConfigMap" {
        for field in ["data", "stringData", "binaryData"] {
            if let Some(Value::Object(values)) = map.remove(field) {
                let keys: Vec<Value> = values.keys().cloned().map(Value::String).collect();
                let name = if field == "binaryData" {
                    "binaryDataKeys"
                } else {
                    "dataKeys"
                };
                // data and stringData both land in dataKeys (the API server merges them).
                let entry = map.entry(name).or_insert_with(|| Value::Array(Vec::new()));
                if let Value::Array(list) = entry {
                    list.extend(keys);
                }
            }
        }
    }
    mask_secret_env(&mut object);
    let meta = object.get("metadata")?;
    let name = meta.get("name")?.as_str()?.to_string();
    let namespace = meta
        .get("namespace")
        .and_then(Value::as_str)
        .filter(|s| !s.is_empty())
        .map(str::to_string);
    let resource_version = meta
        .get("resourceVersion")
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_string();
    let size = serde_json::to_string(&object).map_or(0, |s| s.len());
    if size > MAX_OBJECT_BYTES {
        let mut kept = Map::new();
        for field in [
            "name",
            "namespace",
            "uid",
            "resourceVersion",
            "creationTimestamp",
            "labels",
            "ownerReferences",
        ] {
            if let Some(v) = meta.get(field) {
                kept.insert(field.into(), v.clone());
            }
        }
        object = json!({
            "apiVersion": api_version,
            "kind": kind,
            "metadata": kept,
            "acornTrimmed": format!("the object is {size} bytes after trimming; only its metadata is kept"),
        });
    }
    Some(Resource {
        key: ResourceKey {
            api_version,
            kind,
            namespace,
            name,
        },
        resource_version,
        object,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn trimming_like_the_agent() {
        let r = to_resource(json!({
            "apiVersion": "v1", "kind": "Secret",
            "metadata": {"name": "db", "namespace": "a", "managedFields": [{}],
                "annotations": {LAST_APPLIED: "{}"}},
            "data": {"password": "aHVudGVy"}, "stringData": {"user": "x"}
        }))
        .unwrap_or_else(|| panic!("kept"));
        let text = r.object.to_string();
        assert!(
            !text.contains("aHVudGVy") && !text.contains("managedFields"),
            "{text}"
        );
        assert_eq!(r.object["dataKeys"], json!(["password", "user"]));
        let pod = to_resource(json!({"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "p"},
            "spec": {"containers": [{"env": [{"name": "DB_PASSWORD", "value": "hunter2"}, {"name": "PORT", "value": "80"}]}]}}))
        .unwrap_or_else(|| panic!("kept"));
        assert_eq!(
            pod.object["spec"]["containers"][0]["env"][0]["value"],
            "[REDACTED]"
        );
        assert_eq!(pod.object["spec"]["containers"][0]["env"][1]["value"], "80");
        assert!(
            to_resource(
                json!({"apiVersion": "v1", "kind": "ResourceQuota", "metadata": {"name": "q"}})
            )
            .is_none()
        );
        let big = to_resource(json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "c", "labels": {"a": "b"}},
            "spec": {"blob": "x".repeat(MAX_OBJECT_BYTES)}}))
        .unwrap_or_else(|| panic!("kept"));
        assert!(big.object.get("spec").is_none() && big.object["metadata"]["labels"]["a"] == "b");
    }

    #[test]
    fn log_names_and_timestamps() {
        assert_eq!(
            log_name("ns__pod-1__app_previous.log"),
            Some(("ns".into(), "pod-1".into(), "app".into(), true))
        );
        assert_eq!(log_name("bad.log"), None);
        assert_eq!(
            strip_timestamp("2026-11-27T05:00:00Z hello world"),
            "hello world"
        );
        assert_eq!(strip_timestamp("{{now-1m}} hi"), "hi");
        assert_eq!(
            strip_timestamp("I1127 05:58:03.114 main.go:44] x"),
            "I1127 05:58:03.114 main.go:44] x"
        );
    }
}
