//! Services and Ingresses.
//!
//! - `service.no_endpoints`: a Service with a selector that matches no running pod of its
//!   namespace. Evidence: the selector, the empty Endpoints, and the labels of pods that share
//!   a selector key with another value (the usual typo).
//! - `service.no_ready_endpoints`: it selects pods but none is ready (unless it publishes
//!   not-ready addresses).
//! - `ingress.backend_missing`: a backend names a Service that does not exist, or a port the
//!   Service does not expose. Judged only when the snapshot holds Services at all (a kind the
//!   agent may not list must not make every Ingress look broken).
//!
//! Services without a selector (endpoints managed by hand or by another controller) and
//! `ExternalName` Services are not judged.

use acorn_proto::findings::{Finding, Severity};
use serde_json::Value;

use super::{Ctx, Draft, pod_ready, pod_state_evidence};
use crate::snapshot::{ObjKey, label};
use crate::value::{arr, b, get, i, obj, s};

/// At most this many pods are listed.
const MAX_PODS: usize = 10;

/// Ingresses of the namespace with a backend naming `service`: (ingress, path to the backend).
fn ingresses_to<'a>(ctx: &'a Ctx, namespace: &str, service: &str) -> Vec<(&'a ObjKey, String)> {
    let mut found = Vec::new();
    for (key, ing) in ctx.snap.in_namespace("Ingress", namespace) {
        for (path, backend) in backends(ing) {
            if s(backend, "service.name") == Some(service) {
                found.push((key, path));
                break;
            }
        }
    }
    found
}

/// Every service backend of an Ingress, with its path.
fn backends(ing: &Value) -> Vec<(String, &Value)> {
    let mut out = Vec::new();
    if let Some(b) = get(ing, "spec.defaultBackend") {
        out.push(("spec.defaultBackend".to_string(), b));
    }
    for (r, rule) in arr(ing, "spec.rules").iter().enumerate() {
        for (p, path) in arr(rule, "http.paths").iter().enumerate() {
            if let Some(b) = path.get("backend") {
                out.push((format!("spec.rules[{r}].http.paths[{p}].backend"), b));
            }
        }
    }
    out
}

pub(super) fn service(ctx: &Ctx, key: &ObjKey, svc: &Value, out: &mut Vec<Finding>) {
    let Some(selector) = obj(svc, "spec.selector").filter(|m| !m.is_empty()) else {
        return;
    };
    if s(svc, "spec.type") == Some("ExternalName") {
        return;
    }
    let pairs: Vec<(&str, &str)> = selector
        .iter()
        .filter_map(|(k, v)| Some((k.as_str(), v.as_str()?)))
        .collect();
    if pairs.len() != selector.len() {
        return;
    }
    let pods: Vec<(ObjKey, &Value)> = ctx
        .snap
        .pods_matching(&key.namespace, &pairs)
        .into_iter()
        .filter_map(|k| {
            let pod = ctx.snap.get(&k)?;
            (!matches!(s(pod, "status.phase"), Some("Succeeded" | "Failed"))).then_some((k, pod))
        })
        .collect();
    let selector_text = pairs
        .iter()
        .map(|(k, v)| format!("{k}={v}"))
        .collect::<Vec<_>>()
        .join(",");
    let ingresses = ingresses_to(ctx, &key.namespace, &key.name);
    let endpoints_key = ObjKey::new("Endpoints", &key.namespace, &key.name);
    let endpoints = ctx.snap.get(&endpoints_key);
    if pods.is_empty() {
        let mut d = Draft::new("service.no_endpoints", Severity::Critical, key);
        d.title(format!(
            "Service {} selects no pod (selector {selector_text}): it has no endpoints{}",
            key.name,
            if ingresses.is_empty() {
                String::new()
            } else {
                format!(
                    " and Ingress {} routes to it",
                    ingresses
                        .iter()
                        .map(|(k, _)| k.name.as_str())
                        .collect::<Vec<_>>()
                        .join(", ")
                )
            }
        ));
        d.remediation(
            "No pod of the namespace carries every label of the Service's selector. Fix the \
             selector (or the pods' labels in their workload's template) so that they match; \
             compare with the labels of the pods quoted here.",
        );
        d.field(key, svc, "spec.selector");
        if let Some(ep) = endpoints {
            d.object(&endpoints_key);
            d.field(&endpoints_key, ep, "subsets");
            // `field` skips nulls; an absent subsets list is the fact here.
            if get(ep, "subsets").is_none() {
                d.ev(Some(crate::evidence::field(
                    &endpoints_key,
                    "subsets",
                    &Value::Null,
                )));
            }
        }
        // Pods with one of the selector's keys but another value: the likely intended ones.
        let mut near = 0;
        for (pod_key, pod) in ctx.snap.in_namespace("Pod", &key.namespace) {
            if near == 3 {
                break;
            }
            if pairs
                .iter()
                .any(|(k, v)| label(pod, k).is_some_and(|have| have != *v))
            {
                near += 1;
                d.field(pod_key, pod, "metadata.labels");
            }
        }
        for (ing, path) in &ingresses {
            d.object(ing);
            if let Some(o) = ctx.snap.get(ing) {
                d.field(ing, o, &format!("{path}.service.name"));
            }
        }
        out.push(d.finish(ctx.now));
        return;
    }
    if b(svc, "spec.publishNotReadyAddresses") == Some(true)
        || pods.iter().any(|(_, p)| pod_ready(p))
    {
        return;
    }
    let mut d = Draft::new("service.no_ready_endpoints", Severity::Warning, key);
    d.title(format!(
        "Service {} has no ready endpoint: none of its {} pod(s) is ready",
        key.name,
        pods.len()
    ));
    d.remediation(
        "The Service selects pods, but none passes its readiness probe, so traffic has nowhere \
         to go. The pods listed here say why; fix them (their own findings carry the cause).",
    );
    d.field(key, svc, "spec.selector");
    if let Some(ep) = endpoints {
        d.object(&endpoints_key);
        d.field(&endpoints_key, ep, "subsets[0].notReadyAddresses");
    }
    for (ing, _) in &ingresses {
        d.object(ing);
    }
    for (pod_key, pod) in pods.iter().take(MAX_PODS) {
        d.object(pod_key);
        pod_state_evidence(&mut d, pod_key, pod);
    }
    out.push(d.finish(ctx.now));
}

pub(super) fn ingress(ctx: &Ctx, key: &ObjKey, ing: &Value, out: &mut Vec<Finding>) {
    if !ctx.snap.has_kind("Service") {
        return;
    }
    let mut d = Draft::new("ingress.backend_missing", Severity::Critical, key);
    let mut problems: Vec<String> = Vec::new();
    for (path, backend) in backends(ing) {
        let Some(name) = s(backend, "service.name") else {
            continue;
        };
        let svc_key = ObjKey::new("Service", &key.namespace, name);
        let host_path = host_and_path(ing, &path);
        let Some(svc) = ctx.snap.get(&svc_key) else {
            problems.push(format!("{host_path} → Service {name} does not exist"));
            d.object(&svc_key);
            d.field(key, ing, &format!("{path}.service.name"));
            continue;
        };
        let ports = arr(svc, "spec.ports");
        let (wanted, ok) = if let Some(number) = i(backend, "service.port.number") {
            (
                number.to_string(),
                ports.iter().any(|p| i(p, "port") == Some(number)),
            )
        } else if let Some(port_name) = s(backend, "service.port.name") {
            (
                port_name.to_string(),
                ports.iter().any(|p| s(p, "name") == Some(port_name)),
            )
        } else {
            continue;
        };
        if !ok {
            problems.push(format!("{host_path} → Service {name} has no port {wanted}"));
            d.object(&svc_key);
            d.field(key, ing, &format!("{path}.service.port"));
            d.field(&svc_key, svc, "spec.ports");
        }
    }
    if problems.is_empty() {
        return;
    }
    d.title(format!(
        "Ingress {} routes to a missing backend: {}",
        key.name,
        problems.join("; ")
    ));
    d.remediation(
        "Requests for these paths fail (the ingress controller answers 503). Point the backend \
         at an existing Service and one of its ports (spec.rules[].http.paths[].backend.service), \
         or create the Service it expects.",
    );
    out.push(d.finish(ctx.now));
}

/// `host/path` of a backend path like `spec.rules[0].http.paths[1].backend`.
fn host_and_path(ing: &Value, path: &str) -> String {
    let index = |prefix: &str| -> Option<usize> {
        let start = path.find(prefix)? + prefix.len();
        path[start..].split(']').next()?.parse().ok()
    };
    match (index("spec.rules["), index("paths[")) {
        (Some(r), Some(p)) => {
            let rule = arr(ing, "spec.rules").get(r);
            let host = rule.and_then(|r| s(r, "host")).unwrap_or("*");
            let p = rule
                .map(|r| arr(r, "http.paths"))
                .and_then(|paths| paths.get(p))
                .and_then(|p| s(p, "path"))
                .unwrap_or("/");
            format!("{host}{p}")
        }
        _ => "default backend".to_string(),
    }
}
