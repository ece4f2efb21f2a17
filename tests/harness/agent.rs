//! Boots the real `acorn-agent` with the settings of an install manifest the appliance generated,
//! against the simulator's kubeconfig instead of an in-cluster service account.
//!
//! [`InstallSettings::from_manifest`] reads the Deployment's environment, the CA ConfigMap and
//! the key Secret out of the manifest exactly as Kubernetes would hand them to the pod (files
//! mounted from the ConfigMap and Secret, variables from the Deployment), so a test proves that
//! the generated manifest configures a working agent.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::Value;

use super::appliance::{collect_logs, free_port};
use super::cargo_bin;

/// What the pod would get from the generated manifest.
#[derive(Debug, Clone)]
pub struct InstallSettings {
    /// Environment of the agent container, with file paths rewritten into `dir`.
    pub env: Vec<(String, String)>,
    /// The CA bundle the manifest pins.
    pub ca_pem: String,
    /// The agent key from the Secret.
    pub key: String,
    /// The manifest's documents.
    pub documents: Vec<Value>,
}

fn find<'a>(docs: &'a [Value], kind: &str) -> Vec<&'a Value> {
    docs.iter().filter(|d| d["kind"] == kind).collect()
}

impl InstallSettings {
    /// Reads the settings out of a manifest; mounted files are written below `dir`.
    pub fn from_manifest(manifest: &str, dir: &Path) -> InstallSettings {
        let documents: Vec<Value> = serde_saphyr::from_multiple(manifest)
            .unwrap_or_else(|e| panic!("manifest is not YAML: {e}\n{manifest}"));
        let documents: Vec<Value> = documents.into_iter().filter(|d| !d.is_null()).collect();
        let deployment = find(&documents, "Deployment")
            .first()
            .copied()
            .unwrap_or_else(|| panic!("no Deployment in the manifest:\n{manifest}"))
            .clone();
        let pod = &deployment["spec"]["template"]["spec"];
        let container = &pod["containers"][0];
        // Mounted volumes: the CA ConfigMap and the key Secret, as files.
        let mut mounts: Vec<(String, PathBuf)> = Vec::new();
        let mut ca_pem = String::new();
        let mut key = String::new();
        for volume in pod["volumes"].as_array().cloned().unwrap_or_default() {
            let name = volume["name"].as_str().unwrap_or_default().to_owned();
            let mount = container["volumeMounts"]
                .as_array()
                .and_then(|m| m.iter().find(|m| m["name"] == name.as_str()))
                .and_then(|m| m["mountPath"].as_str())
                .map(str::to_owned);
            let Some(mount_path) = mount else { continue };
            let local = dir.join(name.clone());
            std::fs::create_dir_all(&local).unwrap();
            let files: Vec<(String, String)> =
                if let Some(cm) = volume["configMap"]["name"].as_str() {
                    let doc = find(&documents, "ConfigMap")
                        .into_iter()
                        .find(|d| d["metadata"]["name"] == cm)
                        .unwrap_or_else(|| panic!("ConfigMap {cm} is not in the manifest"));
                    doc["data"]
                        .as_object()
                        .unwrap()
                        .iter()
                        .map(|(k, v)| (k.clone(), v.as_str().unwrap().to_owned()))
                        .collect()
                } else if let Some(secret) = volume["secret"]["secretName"].as_str() {
                    let doc = find(&documents, "Secret")
                        .into_iter()
                        .find(|d| d["metadata"]["name"] == secret)
                        .unwrap_or_else(|| panic!("Secret {secret} is not in the manifest"));
                    let mut files = Vec::new();
                    if let Some(data) = doc["stringData"].as_object() {
                        for (k, v) in data {
                            files.push((k.clone(), v.as_str().unwrap().to_owned()));
                        }
                    }
                    if let Some(data) = doc["data"].as_object() {
                        use base64::Engine;
                        for (k, v) in data {
                            let bytes = base64::engine::general_purpose::STANDARD
                                .decode(v.as_str().unwrap())
                                .unwrap();
                            files.push((k.clone(), String::from_utf8(bytes).unwrap()));
                        }
                    }
                    files
                } else {
                    continue;
                };
            for (file, content) in files {
                std::fs::write(local.join(&file), &content).unwrap();
                if content.contains("BEGIN CERTIFICATE") {
                    ca_pem = content.clone();
                }
                if content.starts_with(acorn_proto::agent::AGENT_KEY_PREFIX) {
                    key = content.trim().to_owned();
                }
            }
            mounts.push((mount_path, local));
        }
        let rewrite = |value: &str| -> String {
            for (mount, local) in &mounts {
                if let Some(rest) = value.strip_prefix(mount.as_str()) {
                    return format!("{}{rest}", local.display());
                }
            }
            value.to_owned()
        };
        let mut env = Vec::new();
        for var in container["env"].as_array().cloned().unwrap_or_default() {
            let name = var["name"].as_str().unwrap().to_owned();
            if let Some(value) = var["value"].as_str() {
                env.push((name, rewrite(value)));
            } else if var["valueFrom"]["secretKeyRef"].is_object() {
                env.push((name, key.clone()));
            }
            // Downward-API values (POD_NAME, POD_NAMESPACE) are set by the test.
        }
        assert!(!ca_pem.is_empty(), "the manifest mounts no CA bundle");
        assert!(!key.is_empty(), "the manifest mounts no agent key");
        InstallSettings {
            env,
            ca_pem,
            key,
            documents,
        }
    }

    /// The value of one variable.
    pub fn var(&self, name: &str) -> Option<&str> {
        self.env
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }

    /// A copy with `name` set to `value`.
    pub fn with(&self, name: &str, value: &str) -> InstallSettings {
        let mut out = self.clone();
        out.env.retain(|(k, _)| k != name);
        out.env.push((name.to_owned(), value.to_owned()));
        out
    }
}

/// A running `acorn-agent`.
pub struct Agent {
    child: Child,
    logs: Arc<Mutex<Vec<Value>>>,
    pub health: String,
    pub pod_name: String,
}

impl Agent {
    /// Starts the agent with `settings` against the cluster of `kubeconfig`.
    pub fn start(settings: &InstallSettings, kubeconfig: &Path, pod_name: &str) -> Agent {
        let port = free_port();
        let mut cmd = Command::new(cargo_bin("acorn-agent"));
        cmd.env_clear()
            .env("PATH", std::env::var("PATH").unwrap_or_default())
            .envs(settings.env.iter().cloned())
            .env("ACORN_AGENT_KUBECONFIG", kubeconfig)
            .env("ACORN_AGENT_HEALTH_LISTEN", format!("127.0.0.1:{port}"))
            .env("ACORN_AGENT_LOG_FORMAT", "json")
            .env("POD_NAME", pod_name)
            .env("POD_NAMESPACE", "acorn-system");
        let mut child = cmd
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("spawn acorn-agent");
        // The agent logs JSON lines to stdout (the container convention).
        let logs = collect_logs(child.stdout.take().expect("stdout"));
        Agent {
            child,
            logs,
            health: format!("http://127.0.0.1:{port}"),
            pod_name: pod_name.to_owned(),
        }
    }

    /// All log lines so far.
    pub fn logs(&self) -> Vec<Value> {
        self.logs.lock().unwrap().clone()
    }

    /// Waits for a log line matching `pred`; `None` on timeout.
    pub fn wait_log(&self, timeout: Duration, pred: impl Fn(&Value) -> bool) -> Option<Value> {
        let deadline = Instant::now() + timeout;
        while Instant::now() < deadline {
            if let Some(found) = self.logs.lock().unwrap().iter().find(|l| pred(l)) {
                return Some(found.clone());
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        None
    }

    /// Kills the process at once (SIGKILL: no goodbye to the appliance).
    pub fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    /// Whether the process still runs.
    pub fn running(&mut self) -> bool {
        self.child.try_wait().unwrap().is_none()
    }
}

impl Drop for Agent {
    fn drop(&mut self) {
        self.kill();
    }
}
