//! Scenarios: folders of manifests, events, logs, metrics and a timeline (format in README.md).
//!
//! The built-in library (`kubesim/scenarios/<name>/`) is embedded in the binary; `--scenario-dir`
//! reads the same format from disk. `_base` (namespaces, the shared nodes, the default
//! StorageClass) is always loaded first. [`scale`] generates a large cluster for benchmarks.
//! Loading only parses; the [`crate::sim::Sim`] puts the objects in its store.

use std::path::{Path, PathBuf};

use rust_embed::RustEmbed;
use serde::Deserialize;
use serde_json::{Value, json};

use crate::error::SimError;

#[derive(RustEmbed)]
#[folder = "scenarios/"]
struct Library;

/// The always-loaded shared cluster (namespaces, nodes, StorageClass).
pub const BASE: &str = "_base";

/// One container log, current or previous.
#[derive(Debug, Clone)]
pub struct LogFile {
    pub namespace: String,
    pub pod: String,
    pub container: String,
    pub previous: bool,
    pub text: String,
}

/// What the scenario's timeline does (see README.md, "Timeline").
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(tag = "action", rename_all = "snake_case")]
pub enum Action {
    /// The container restarts: `restartCount` + 1, `lastState.terminated` refreshed.
    Restart {
        namespace: String,
        pod: String,
        container: String,
    },
    /// An event happens again: `count` + 1, `lastTimestamp` now.
    RepeatEvent { namespace: String, event: String },
    /// The kubelet stops posting status: conditions Unknown, unreachable taints.
    NodeNotReady { node: String },
    /// Any JSON merge patch on any object.
    MergePatch {
        #[serde(rename = "apiVersion")]
        api_version: String,
        kind: String,
        #[serde(default)]
        namespace: String,
        name: String,
        patch: Value,
    },
    /// A line appended to a container's current log.
    AppendLog {
        namespace: String,
        pod: String,
        container: String,
        line: String,
    },
}

/// One timeline rule: `after` fires once, `every` fires repeatedly (durations like "30s").
#[derive(Debug, Clone, Deserialize, PartialEq)]
pub struct Rule {
    #[serde(default)]
    pub after: Option<String>,
    #[serde(default)]
    pub every: Option<String>,
    #[serde(flatten)]
    pub action: Action,
}

/// A parsed scenario.
#[derive(Debug, Clone, Default)]
pub struct Scenario {
    pub name: String,
    /// First line of `expected.yaml`'s `question`, for `acorn-kubesim list`.
    pub summary: String,
    pub objects: Vec<Value>,
    pub events: Vec<Value>,
    pub metrics: Vec<Value>,
    pub logs: Vec<LogFile>,
    pub timeline: Vec<Rule>,
}

/// Names of the built-in scenarios (without `_base`), sorted.
pub fn builtin_names() -> Vec<String> {
    let mut names: Vec<String> = Library::iter()
        .filter_map(|path| path.split('/').next().map(str::to_string))
        .filter(|name| !name.starts_with('_'))
        .collect();
    names.sort();
    names.dedup();
    names
}

/// Writes every built-in scenario (not `_base`, which the simulator always loads) as a folder
/// under `dir`; returns their names.
pub fn export_builtin(dir: &Path) -> Result<Vec<String>, SimError> {
    let names = builtin_names();
    for path in Library::iter() {
        if path.starts_with(&format!("{BASE}/")) {
            continue;
        }
        let Some(file) = Library::get(&path) else {
            continue;
        };
        let target = dir.join(path.as_ref());
        let io = |source| SimError::Io {
            path: target.display().to_string(),
            source,
        };
        if let Some(parent) = target.parent() {
            std::fs::create_dir_all(parent).map_err(io)?;
        }
        std::fs::write(&target, file.data.as_ref()).map_err(io)?;
    }
    Ok(names)
}

/// Loads a built-in scenario (or `_base`).
pub fn load_builtin(name: &str) -> Result<Scenario, SimError> {
    if !Library::iter().any(|path| path.starts_with(&format!("{name}/"))) {
        return Err(SimError::UnknownScenario(name.to_string()));
    }
    let prefix = format!("{name}/");
    let files: Vec<(String, Vec<u8>)> = Library::iter()
        .filter_map(|path| {
            let rel = path.strip_prefix(&prefix)?.to_string();
            let data = Library::get(&path)?.data.into_owned();
            Some((rel, data))
        })
        .collect();
    parse(name, files)
}

/// Loads a scenario folder from disk (its name is the folder name).
pub fn load_dir(dir: &Path) -> Result<Scenario, SimError> {
    let name = dir
        .file_name()
        .and_then(|n| n.to_str())
        .unwrap_or("scenario")
        .to_string();
    let mut files = Vec::new();
    let read_dir = |d: &Path| {
        std::fs::read_dir(d).map_err(|source| SimError::Io {
            path: d.display().to_string(),
            source,
        })
    };
    let mut stack: Vec<PathBuf> = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for entry in read_dir(&d)? {
            let entry = entry.map_err(|source| SimError::Io {
                path: d.display().to_string(),
                source,
            })?;
            let path = entry.path();
            if path.is_dir() {
                stack.push(path);
            } else {
                let rel = path
                    .strip_prefix(dir)
                    .unwrap_or(&path)
                    .to_string_lossy()
                    .replace('\\', "/");
                let data = std::fs::read(&path).map_err(|source| SimError::Io {
                    path: path.display().to_string(),
                    source,
                })?;
                files.push((rel, data));
            }
        }
    }
    parse(&name, files)
}

fn parse(name: &str, files: Vec<(String, Vec<u8>)>) -> Result<Scenario, SimError> {
    let err = |file: &str, message: String| SimError::Scenario {
        scenario: name.to_string(),
        file: file.to_string(),
        message,
    };
    let mut scenario = Scenario {
        name: name.to_string(),
        ..Scenario::default()
    };
    for (file, data) in files {
        let text = String::from_utf8(data).map_err(|e| err(&file, e.to_string()))?;
        match file.as_str() {
            "objects.json" | "objects.yaml" | "objects.yml" => {
                scenario
                    .objects
                    .extend(parse_list(&file, &text).map_err(|m| err(&file, m))?);
            }
            "events.json" | "events.yaml" => {
                scenario.events = parse_list(&file, &text).map_err(|m| err(&file, m))?
            }
            "metrics.json" | "metrics.yaml" => {
                scenario.metrics = parse_list(&file, &text).map_err(|m| err(&file, m))?
            }
            "timeline.json" => {
                scenario.timeline =
                    serde_json::from_str(&text).map_err(|e| err(&file, e.to_string()))?;
            }
            "expected.yaml" => {
                let doc: Value =
                    serde_saphyr::from_str(&text).map_err(|e| err(&file, e.to_string()))?;
                scenario.summary = doc
                    .get("question")
                    .and_then(Value::as_str)
                    .unwrap_or_default()
                    .trim()
                    .to_string();
            }
            _ => {
                if let Some(log) = file.strip_prefix("logs/") {
                    scenario.logs.push(parse_log_name(log, text).ok_or_else(|| {
                        err(
                            &file,
                            "log files are named <namespace>__<pod>__<container>[_previous].log"
                                .into(),
                        )
                    })?);
                }
            }
        }
    }
    for (i, object) in scenario.objects.iter().enumerate() {
        for field in ["apiVersion", "kind"] {
            if object
                .get(field)
                .and_then(Value::as_str)
                .is_none_or(str::is_empty)
            {
                return Err(err("objects", format!("item {i} has no {field}")));
            }
        }
        if object
            .pointer("/metadata/name")
            .and_then(Value::as_str)
            .is_none_or(str::is_empty)
        {
            return Err(err("objects", format!("item {i} has no metadata.name")));
        }
    }
    Ok(scenario)
}

/// A `List` (`{"items": [...]}`), a bare array, or YAML documents separated by `---`.
fn parse_list(file: &str, text: &str) -> Result<Vec<Value>, String> {
    let docs: Vec<Value> = if file.ends_with(".json") {
        vec![serde_json::from_str(text).map_err(|e| e.to_string())?]
    } else {
        serde_saphyr::from_multiple(text).map_err(|e| e.to_string())?
    };
    let mut items = Vec::new();
    for doc in docs {
        match doc {
            Value::Array(list) => items.extend(list),
            Value::Object(ref map) if map.contains_key("items") => {
                items.extend(
                    map.get("items")
                        .and_then(Value::as_array)
                        .cloned()
                        .unwrap_or_default(),
                );
            }
            Value::Null => {}
            other => items.push(other),
        }
    }
    Ok(items)
}

fn parse_log_name(file: &str, text: String) -> Option<LogFile> {
    let stem = file.strip_suffix(".log")?;
    let (stem, previous) = match stem.strip_suffix("_previous") {
        Some(s) => (s, true),
        None => (stem, false),
    };
    let mut parts = stem.split("__");
    let (namespace, pod, container) = (parts.next()?, parts.next()?, parts.next()?);
    if parts.next().is_some() {
        return None;
    }
    Some(LogFile {
        namespace: namespace.into(),
        pod: pod.into(),
        container: container.into(),
        previous,
        text,
    })
}

/// A generated cluster of `nodes` nodes and `pods` running pods in namespace `scale`.
pub fn scale(nodes: usize, pods: usize) -> Scenario {
    let mut objects = vec![
        json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "scale"}, "status": {"phase": "Active"}}),
    ];
    let nodes = nodes.max(1);
    for n in 0..nodes {
        objects.push(json!({
            "apiVersion": "v1", "kind": "Node",
            "metadata": {"name": format!("scale-node-{n:04}"), "creationTimestamp": "{{now-30d}}",
                "labels": {"kubernetes.io/hostname": format!("scale-node-{n:04}"), "kubernetes.io/os": "linux", "kubernetes.io/arch": "amd64"}},
            "spec": {"podCIDR": format!("10.{}.{}.0/24", 64 + n / 256, n % 256)},
            "status": {
                "capacity": {"cpu": "16", "memory": "65851340Ki", "pods": "110"},
                "allocatable": {"cpu": "15890m", "memory": "64700364Ki", "pods": "110"},
                "conditions": [{"type": "Ready", "status": "True", "reason": "KubeletReady", "message": "kubelet is posting ready status",
                    "lastHeartbeatTime": "{{now}}", "lastTransitionTime": "{{now-30d}}"}],
                "nodeInfo": {"kubeletVersion": "v1.32.4", "containerRuntimeVersion": "containerd://1.7.27", "osImage": "Ubuntu 24.04.2 LTS",
                    "architecture": "amd64", "operatingSystem": "linux", "kernelVersion": "6.8.0-60-generic"}
            }
        }));
    }
    for p in 0..pods {
        let app = format!("svc-{:03}", p % 200);
        let node = format!("scale-node-{:04}", p % nodes);
        let name = format!("{app}-7d9f8b6c5d-{p:05}");
        objects.push(json!({
            "apiVersion": "v1", "kind": "Pod",
            "metadata": {"name": name, "namespace": "scale", "creationTimestamp": "{{now-2d}}",
                "labels": {"app": app, "pod-template-hash": "7d9f8b6c5d"},
                "ownerReferences": [{"apiVersion": "apps/v1", "kind": "ReplicaSet", "name": format!("{app}-7d9f8b6c5d"),
                    "uid": "00000000-0000-4000-8000-000000000000", "controller": true, "blockOwnerDeletion": true}]},
            "spec": {
                "nodeName": node, "restartPolicy": "Always", "serviceAccountName": "default", "schedulerName": "default-scheduler",
                "containers": [{"name": "app", "image": format!("registry.example.com/{app}:1.4.2"),
                    "ports": [{"containerPort": 8080, "protocol": "TCP"}],
                    "resources": {"requests": {"cpu": "100m", "memory": "128Mi"}, "limits": {"memory": "256Mi"}},
                    "readinessProbe": {"httpGet": {"path": "/healthz", "port": 8080}, "periodSeconds": 10}}]
            },
            "status": {
                "phase": "Running", "podIP": format!("10.{}.{}.{}", 64 + (p / 250) / 256, (p / 250) % 256, p % 250 + 2),
                "hostIP": "192.168.10.10", "qosClass": "Burstable", "startTime": "{{now-2d}}",
                "conditions": [{"type": "Ready", "status": "True", "lastTransitionTime": "{{now-2d}}"},
                    {"type": "PodScheduled", "status": "True", "lastTransitionTime": "{{now-2d}}"}],
                "containerStatuses": [{"name": "app", "ready": true, "started": true, "restartCount": 0,
                    "image": format!("registry.example.com/{app}:1.4.2"), "imageID": "", "containerID": format!("containerd://{p:064x}"),
                    "state": {"running": {"startedAt": "{{now-2d}}"}}}]
            }
        }));
    }
    Scenario {
        name: "scale".into(),
        summary: format!("{nodes} nodes, {pods} pods"),
        objects,
        ..Scenario::default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn export_writes_folders_that_load_like_the_builtins() {
        let dir = tempfile::tempdir().unwrap();
        let names = export_builtin(dir.path()).unwrap();
        assert_eq!(names, builtin_names());
        assert!(!dir.path().join(BASE).exists(), "_base is not a scenario");
        for name in &names {
            let folder = dir.path().join(name);
            assert!(folder.join("expected.yaml").is_file(), "{name}");
            let exported = load_dir(&folder).unwrap();
            let builtin = load_builtin(name).unwrap();
            assert_eq!(exported.objects, builtin.objects, "{name}");
            assert_eq!(exported.events, builtin.events, "{name}");
            assert_eq!(exported.logs.len(), builtin.logs.len(), "{name}");
            assert_eq!(exported.timeline, builtin.timeline, "{name}");
        }
    }

    #[test]
    fn library_parses() {
        let names = builtin_names();
        for required in [
            "crashloop",
            "imagepull",
            "oomkilled",
            "pending-resources",
            "pending-selector",
            "readiness-probe",
            "liveness-probe",
            "job-backoff",
            "service-no-endpoints",
            "pvc-pending",
            "node-notready",
            "config-missing-key",
            "healthy",
            "cronjob-not-scheduling",
            "deployment-rollout-stuck",
            "statefulset-not-ready",
            "daemonset-not-ready",
            "ingress-missing-service",
            "node-pressure",
            "hpa-unable-to-scale",
            "resourcequota-exceeded",
            "terminating-stuck",
            "job-deadline",
        ] {
            assert!(
                names.iter().any(|n| n == required),
                "missing scenario {required}"
            );
        }
        for name in names.iter().map(String::as_str).chain([BASE]) {
            let s = load_builtin(name).unwrap_or_else(|e| panic!("{e}"));
            assert!(!s.objects.is_empty(), "{name} has no objects");
        }
    }

    #[test]
    fn log_names() {
        let log = parse_log_name("shop__web-1__app_previous.log", String::new())
            .map(|l| (l.namespace, l.pod, l.container, l.previous));
        assert_eq!(
            log,
            Some(("shop".into(), "web-1".into(), "app".into(), true))
        );
        assert!(parse_log_name("bad.log", String::new()).is_none());
    }

    #[test]
    fn yaml_lists() {
        let items = parse_list(
            "objects.yaml",
            "kind: List\nitems:\n- kind: A\n---\nkind: B\n",
        )
        .unwrap_or_default();
        assert_eq!(items.len(), 2);
    }
}
