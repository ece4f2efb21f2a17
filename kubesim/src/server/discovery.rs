//! Discovery: `/version`, `/api`, `/apis`, `/apis/{group}`, `/api/v1` and `/apis/{group}/{version}`,
//! generated from the registry (so CRDs and any stored kind are discoverable).
//!
//! Only the legacy (unaggregated) documents are served: kubectl asks for the aggregated
//! `apidiscovery.k8s.io/v2` form first, sees a plain `application/json` answer and falls back to
//! per-group requests, exactly as it does against an older API server.

use axum::http::HeaderMap;
use serde_json::{Value, json};

use crate::error::ApiError;
use crate::resources::METRICS_GROUP;
use crate::sim::{MetricsMode, Sim};

pub fn version() -> Value {
    json!({
        "major": "1", "minor": "32", "emulationMajor": "1", "emulationMinor": "32",
        "gitVersion": "v1.32.4", "gitCommit": "59526cd4867447956156ae3a602fcbac10a2c335", "gitTreeState": "clean",
        "buildDate": "2025-04-22T16:02:27Z", "goVersion": "go1.23.6", "compiler": "gc", "platform": "linux/amd64",
    })
}

pub fn core_versions(headers: &HeaderMap) -> Value {
    let host = headers
        .get("host")
        .and_then(|h| h.to_str().ok())
        .unwrap_or("127.0.0.1:6443");
    json!({"kind": "APIVersions", "versions": ["v1"], "serverAddressByClientCIDRs": [{"clientCIDR": "0.0.0.0/0", "serverAddress": host}]})
}

fn group_visible(sim: &Sim, group: &str) -> bool {
    group != METRICS_GROUP || sim.metrics_mode() != MetricsMode::Absent
}

fn group_doc(group: &str, versions: &[String]) -> Value {
    let versions: Vec<Value> = versions
        .iter()
        .map(|v| json!({"groupVersion": format!("{group}/{v}"), "version": v}))
        .collect();
    let preferred = versions.first().cloned().unwrap_or(Value::Null);
    json!({"name": group, "versions": versions, "preferredVersion": preferred})
}

pub fn groups(sim: &Sim) -> Value {
    let groups: Vec<Value> = sim
        .registry()
        .groups()
        .iter()
        .filter(|(g, _)| group_visible(sim, g))
        .map(|(g, vs)| group_doc(g, vs))
        .chain(std::iter::once(group_doc(
            "authorization.k8s.io",
            &["v1".to_string()],
        )))
        .collect();
    json!({"kind": "APIGroupList", "apiVersion": "v1", "groups": groups})
}

pub fn group(sim: &Sim, group: &str) -> Result<Value, ApiError> {
    if group == "authorization.k8s.io" {
        let mut doc = group_doc(group, &["v1".to_string()]);
        doc["kind"] = json!("APIGroup");
        doc["apiVersion"] = json!("v1");
        return Ok(doc);
    }
    let groups = sim.registry().groups();
    let (_, versions) = groups
        .iter()
        .find(|(g, _)| g == group)
        .filter(|(g, _)| group_visible(sim, g))
        .ok_or_else(ApiError::path_not_found)?;
    let mut doc = group_doc(group, versions);
    doc["kind"] = json!("APIGroup");
    doc["apiVersion"] = json!("v1");
    Ok(doc)
}

pub fn resources(sim: &Sim, group: &str, version: &str) -> Result<Value, ApiError> {
    if group == METRICS_GROUP && sim.metrics_mode() == MetricsMode::Unavailable {
        return Err(ApiError::service_unavailable(None));
    }
    let resources: Vec<Value> = if group == "authorization.k8s.io" && version == "v1" {
        vec![
            json!({"name": "selfsubjectaccessreviews", "singularName": "selfsubjectaccessreview", "namespaced": false,
            "kind": "SelfSubjectAccessReview", "verbs": ["create"]}),
        ]
    } else {
        sim.registry()
            .types
            .iter()
            .filter(|t| t.group == group && t.version == version && group_visible(sim, group))
            .flat_map(|t| t.discovery_entries())
            .collect()
    };
    if resources.is_empty() {
        return Err(ApiError::path_not_found());
    }
    let group_version = if group.is_empty() {
        version.to_string()
    } else {
        format!("{group}/{version}")
    };
    Ok(
        json!({"kind": "APIResourceList", "apiVersion": "v1", "groupVersion": group_version, "resources": resources}),
    )
}
