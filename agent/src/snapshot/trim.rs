//! Trimming: what of a Kubernetes object may leave the cluster, and at what size.
//!
//! Applied to every object before it enters the agent's picture (so nothing downstream can see
//! what was dropped):
//! - `metadata.managedFields` and the `kubectl.kubernetes.io/last-applied-configuration`
//!   annotation are dropped (noise, and the latter repeats the whole spec, env values included);
//! - Secret and ConfigMap values never get here: they are dropped while the watch stream is
//!   decoded (see [`super::kinds::KeysOnly`]); only their key names are kept, as `dataKeys` and
//!   `binaryDataKeys`. Should one arrive anyway, `data`/`stringData`/`binaryData` are dropped;
//! - an env var whose *name* looks secret (`DB_PASSWORD`, `API_TOKEN`, …) keeps its name but its
//!   `value` becomes `[REDACTED]`; `valueFrom.secretKeyRef` stays, it is only a reference;
//! - every remaining string value goes through the [`Redactor`] (tokens, keys, URLs with
//!   passwords, operator patterns);
//! - an object still larger than [`MAX_OBJECT_BYTES`] is cut to its metadata, so that any one
//!   object always fits in a snapshot chunk.

use acorn_proto::agent::{Resource, ResourceKey};
use serde_json::{Map, Value, json};

use crate::redact::Redactor;

/// The largest serialized object kept whole.
pub const MAX_OBJECT_BYTES: usize = 512 * 1024;

/// What replaces a masked value.
pub const MASK: &str = "[REDACTED]";

const LAST_APPLIED: &str = "kubectl.kubernetes.io/last-applied-configuration";

/// Words that make an environment variable's name look secret (compared case-insensitively,
/// as substrings).
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

/// Whether an env var name looks like it holds a secret.
pub fn name_looks_secret(name: &str) -> bool {
    let lower = name.to_ascii_lowercase();
    SECRET_NAME_WORDS.iter().any(|w| lower.contains(w)) || lower == "key"
}

/// Trims `object` in place (see the module docs) and returns how many values were masked.
pub fn trim(object: &mut Value, redactor: &Redactor) -> u32 {
    let mut masked = 0;
    if let Some(meta) = object.get_mut("metadata").and_then(Value::as_object_mut) {
        meta.remove("managedFields");
        if let Some(annotations) = meta.get_mut("annotations").and_then(Value::as_object_mut) {
            annotations.remove(LAST_APPLIED);
            if annotations.is_empty() {
                meta.remove("annotations");
            }
        }
    }
    if matches!(
        object.get("kind").and_then(Value::as_str),
        Some("Secret" | "ConfigMap")
    ) && let Some(map) = object.as_object_mut()
    {
        for field in ["data", "stringData", "binaryData"] {
            if let Some(Value::Object(values)) = map.remove(field) {
                let keys: Vec<Value> = values.keys().cloned().map(Value::String).collect();
                let name = if field == "binaryData" {
                    "binaryDataKeys"
                } else {
                    "dataKeys"
                };
                map.insert(name.into(), Value::Array(keys));
            }
        }
    }
    mask_secret_env(object, &mut masked);
    redact_strings(object, redactor, &mut masked);
    masked
}

/// Masks `env[].value` of secret-looking names, wherever a container list appears (pods,
/// workload templates, cronjob job templates, init and ephemeral containers).
fn mask_secret_env(value: &mut Value, masked: &mut u32) {
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
                        *v = Value::String(MASK.into());
                        *masked += 1;
                    }
                }
            }
            for v in map.values_mut() {
                mask_secret_env(v, masked);
            }
        }
        Value::Array(items) => {
            for v in items {
                mask_secret_env(v, masked);
            }
        }
        _ => {}
    }
}

fn redact_strings(value: &mut Value, redactor: &Redactor, masked: &mut u32) {
    match value {
        Value::String(s) => {
            // Short strings (names, phases, quantities) are the vast majority; the redactor
            // still sees them, since a short token is still a token.
            let (out, n) = redactor.redact(s);
            if n > 0 {
                *s = out;
                *masked += n;
            }
        }
        Value::Array(items) => {
            for v in items {
                redact_strings(v, redactor, masked);
            }
        }
        Value::Object(map) => {
            for v in map.values_mut() {
                redact_strings(v, redactor, masked);
            }
        }
        _ => {}
    }
}

/// Builds the [`Resource`] for a trimmed object and serializes it, cutting it to its metadata
/// when it is larger than [`MAX_OBJECT_BYTES`]. `None` when the object has no name.
pub fn to_resource(
    api_version: &str,
    kind: &str,
    mut object: Value,
) -> Option<(ResourceKey, String)> {
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
    if let Some(map) = object.as_object_mut() {
        map.insert("apiVersion".into(), Value::String(api_version.into()));
        map.insert("kind".into(), Value::String(kind.into()));
    }
    let key = ResourceKey {
        api_version: api_version.into(),
        kind: kind.into(),
        namespace,
        name,
    };
    let mut resource = Resource {
        key: key.clone(),
        resource_version,
        object,
    };
    let mut json = serde_json::to_string(&resource).ok()?;
    if json.len() > MAX_OBJECT_BYTES {
        let size = json.len();
        let meta = resource
            .object
            .get("metadata")
            .cloned()
            .unwrap_or(Value::Null);
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
        resource.object = json!({
            "apiVersion": api_version,
            "kind": kind,
            "metadata": kept,
            "acornTrimmed": format!("the object is {size} bytes after trimming; only its metadata is kept"),
        });
        json = serde_json::to_string(&resource).ok()?;
    }
    Some((key, json))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn redactor() -> Redactor {
        Redactor::new(&["sk-[a-z0-9]{8,}".to_string()]).unwrap()
    }

    #[test]
    fn planted_secrets_never_come_out() {
        let mut pod = json!({
            "apiVersion": "v1", "kind": "Pod",
            "metadata": {
                "name": "web", "namespace": "shop", "resourceVersion": "42",
                "managedFields": [{"manager": "kubectl", "fieldsV1": {"f:spec": {}}}],
                "annotations": {
                    LAST_APPLIED: "{\"spec\":{\"containers\":[{\"env\":[{\"name\":\"DB_PASSWORD\",\"value\":\"hunter2-planted\"}]}]}}",
                    "team": "checkout"
                }
            },
            "spec": {
                "initContainers": [{"name": "init", "env": [{"name": "API_TOKEN", "value": "tok-planted-init"}]}],
                "containers": [{
                    "name": "app",
                    "args": ["--openai-key", "sk-plantedvalue123"],
                    "env": [
                        {"name": "DB_PASSWORD", "value": "hunter2-planted"},
                        {"name": "LOG_LEVEL", "value": "debug"},
                        {"name": "STRIPE_SECRET", "valueFrom": {"secretKeyRef": {"name": "stripe", "key": "secret"}}},
                        {"name": "EMPTY_TOKEN", "value": ""}
                    ]
                }]
            }
        });
        let masked = trim(&mut pod, &redactor());
        let text = pod.to_string();
        for planted in [
            "hunter2-planted",
            "tok-planted-init",
            "sk-plantedvalue123",
            "managedFields",
            LAST_APPLIED,
        ] {
            assert!(!text.contains(planted), "{planted} left in {text}");
        }
        assert!(masked >= 3, "{masked} masked in {text}");
        let env = &pod["spec"]["containers"][0]["env"];
        assert_eq!(env[0], json!({"name": "DB_PASSWORD", "value": MASK}));
        assert_eq!(env[1]["value"], "debug", "ordinary values are kept");
        assert_eq!(
            env[2]["valueFrom"]["secretKeyRef"]["name"], "stripe",
            "references are kept"
        );
        assert_eq!(pod["metadata"]["annotations"], json!({"team": "checkout"}));
    }

    #[test]
    fn secret_and_configmap_keep_only_key_names() {
        for kind in ["Secret", "ConfigMap"] {
            let mut obj = json!({
                "apiVersion": "v1", "kind": kind, "type": "Opaque",
                "metadata": {"name": "db", "namespace": "shop"},
                "data": {"password": "aHVudGVyMi1wbGFudGVk", "user": "YWRtaW4="},
                "stringData": {"extra": "planted-plain"},
                "binaryData": {"blob": "AAAA"}
            });
            trim(&mut obj, &redactor());
            let text = obj.to_string();
            assert!(
                !text.contains("aHVudGVyMi1wbGFudGVk") && !text.contains("planted-plain"),
                "{text}"
            );
            assert!(obj.get("data").is_none() && obj.get("stringData").is_none());
            assert_eq!(obj["binaryDataKeys"], json!(["blob"]));
            assert_eq!(obj["type"], "Opaque");
        }
    }

    #[test]
    fn secret_looking_names() {
        for name in [
            "DB_PASSWORD",
            "api_key",
            "GITHUB_TOKEN",
            "AWS_SECRET_ACCESS_KEY",
            "SESSION_SECRET",
            "DATABASE_URL",
            "KEY",
        ] {
            assert!(name_looks_secret(name), "{name}");
        }
        for name in [
            "LOG_LEVEL",
            "PORT",
            "NODE_NAME",
            "JAVA_OPTS",
            "MAX_CONNECTIONS",
        ] {
            assert!(!name_looks_secret(name), "{name}");
        }
    }

    #[test]
    fn oversized_objects_keep_their_metadata() {
        let big = "x".repeat(MAX_OBJECT_BYTES + 10);
        let obj = json!({"metadata": {"name": "huge", "namespace": "a", "resourceVersion": "7", "labels": {"app": "x"}},
                         "spec": {"blob": big}});
        let (key, json) = to_resource("v1", "Pod", obj).unwrap();
        assert_eq!(key.name, "huge");
        assert!(json.len() < 4096, "{}", json.len());
        let back: Resource = serde_json::from_str(&json).unwrap();
        assert_eq!(back.resource_version, "7");
        assert_eq!(back.object["metadata"]["labels"]["app"], "x");
        assert!(
            back.object["acornTrimmed"]
                .as_str()
                .unwrap()
                .contains("bytes")
        );
    }
}
