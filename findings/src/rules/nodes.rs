//! Nodes: `node.not_ready` (the `Ready` condition is `False` or `Unknown`) and
//! `node.memory_pressure` / `node.disk_pressure` / `node.pid_pressure` (the condition is
//! `True`; `Unknown` belongs to not-ready). Pressure findings list the pods the kubelet evicted
//! from the node and quote its eviction events and usage.

use acorn_proto::findings::{Finding, Severity};
use serde_json::Value;

use super::{Ctx, Draft};
use crate::snapshot::ObjKey;
use crate::time::human;
use crate::value::{arr, item, s};

/// At most this many pods are listed.
const MAX_PODS: usize = 10;

pub(super) fn node(ctx: &Ctx, key: &ObjKey, node: &Value, out: &mut Vec<Finding>) {
    let condition = |t: &str| item(node, "status.conditions", "type", t);
    if let Some(ready) = condition("Ready")
        && matches!(s(ready, "status"), Some("False" | "Unknown"))
    {
        not_ready(ctx, key, node, ready, out);
    }
    for (kind, rule, resource, fix) in [
        (
            "MemoryPressure",
            "node.memory_pressure",
            "memory",
            "Find the pods using the most memory on the node (`kubectl top pod -A \
             --field-selector spec.nodeName=NODE`); give them memory limits (pods without one \
             can take the whole node) or move them; the kubelet evicts pods until usage drops.",
        ),
        (
            "DiskPressure",
            "node.disk_pressure",
            "disk",
            "Free disk on the node: unused images (the kubelet's image GC), container logs, \
             emptyDir volumes; add ephemeral-storage limits to the pods that write most.",
        ),
        (
            "PIDPressure",
            "node.pid_pressure",
            "process IDs",
            "A pod forks too many processes: find it (the kubelet names it in eviction events), \
             fix the leak, and set a pod PID limit (podPidsLimit).",
        ),
    ] {
        if condition(kind).and_then(|c| s(c, "status")) == Some("True") {
            pressure(ctx, key, node, kind, rule, resource, fix, out);
        }
    }
}

fn not_ready(ctx: &Ctx, key: &ObjKey, node: &Value, ready: &Value, out: &mut Vec<Finding>) {
    let status = s(ready, "status").unwrap_or_default();
    let message = s(ready, "message").unwrap_or_default();
    let since = ctx
        .age(ready, "lastTransitionTime")
        .map(|a| format!(" for {}", human(a)))
        .unwrap_or_default();
    let mut d = Draft::new("node.not_ready", Severity::Critical, key);
    d.title(format!(
        "Node {} is NotReady{since} (Ready={status}): {}",
        key.name,
        if message.is_empty() {
            s(ready, "reason").unwrap_or_default()
        } else {
            message
        }
    ));
    d.remediation(if status == "Unknown" {
        "The kubelet stopped reporting (node down, network partition, kubelet or container runtime \
         dead). Check the machine and `systemctl status kubelet` on it. Its pods are evicted after \
         the unreachable taint's toleration and stay Terminating until the kubelet confirms: once \
         the node is known to be gone, delete the Node object (or force-delete the pods)."
    } else {
        "The kubelet reports the node not ready: read the condition's message (container runtime, \
         CNI/network plugin, PLEG) and the kubelet's log on the node."
    });
    d.field(key, node, "status.conditions[Ready].status");
    d.field(key, node, "status.conditions[Ready].reason");
    d.field(key, node, "status.conditions[Ready].message");
    d.field(key, node, "status.conditions[Ready].lastHeartbeatTime");
    for (n, taint) in arr(node, "spec.taints").iter().enumerate() {
        if s(taint, "key").is_some_and(|k| k.starts_with("node.kubernetes.io/")) {
            d.field(key, node, &format!("spec.taints[{n}]"));
        }
    }
    for (k, e) in ctx.events(key).iter().take(1) {
        d.event(k, e);
    }
    for pod_key in ctx.snap.pods_on(&key.name).iter().take(MAX_PODS) {
        d.object(pod_key);
    }
    out.push(d.finish(ctx.now));
}

#[allow(clippy::too_many_arguments)]
fn pressure(
    ctx: &Ctx,
    key: &ObjKey,
    node: &Value,
    kind: &str,
    rule: &'static str,
    resource: &str,
    fix: &str,
    out: &mut Vec<Finding>,
) {
    let evicted: Vec<(&ObjKey, &Value)> = ctx
        .snap
        .pods_on(&key.name)
        .iter()
        .filter_map(|k| Some((k, ctx.snap.get(k)?)))
        .filter(|(_, p)| s(p, "status.reason") == Some("Evicted"))
        .collect();
    let mut d = Draft::new(rule, Severity::Warning, key);
    d.title(format!(
        "Node {} is under {resource} pressure ({kind}){}",
        key.name,
        if evicted.is_empty() {
            String::new()
        } else {
            format!(": {} pod(s) evicted", evicted.len())
        }
    ));
    d.remediation(fix.replace("NODE", &key.name));
    d.field(key, node, &format!("status.conditions[{kind}].status"));
    d.field(key, node, &format!("status.conditions[{kind}].message"));
    for (n, taint) in arr(node, "spec.taints").iter().enumerate() {
        if s(taint, "key").is_some_and(|k| k.ends_with("-pressure")) {
            d.field(key, node, &format!("spec.taints[{n}]"));
        }
    }
    for (k, e) in ctx
        .recent_events(key, "EvictionThresholdMet")
        .iter()
        .take(1)
    {
        d.event(k, e);
    }
    for (pod_key, pod) in evicted.iter().take(MAX_PODS) {
        d.object(pod_key);
        d.field(pod_key, pod, "status.message");
    }
    let metrics_key = ObjKey::new("NodeMetrics", "", &key.name);
    if kind == "MemoryPressure" {
        if let Some(m) = ctx.snap.get(&metrics_key) {
            d.field(&metrics_key, m, "usage.memory");
            d.field(key, node, "status.allocatable.memory");
        }
        top_memory(ctx, key, &mut d);
    }
    out.push(d.finish(ctx.now));
}

/// The running pods of the node using the most memory (by PodMetrics), with their limits:
/// under memory pressure the biggest consumer, often one without a limit, is the lead.
fn top_memory(ctx: &Ctx, node: &ObjKey, d: &mut Draft) {
    let mut usage: Vec<(u64, &ObjKey, &Value, String)> = Vec::new();
    for pod_key in ctx.snap.pods_on(&node.name) {
        let Some(pod) = ctx.snap.get(pod_key) else {
            continue;
        };
        if s(pod, "status.phase") != Some("Running") {
            continue;
        }
        let metrics = ObjKey::new("PodMetrics", &pod_key.namespace, &pod_key.name);
        let Some(m) = ctx.snap.get(&metrics) else {
            continue;
        };
        for c in arr(m, "containers") {
            if let (Some(name), Some(bytes)) =
                (s(c, "name"), s(c, "usage.memory").and_then(quantity_bytes))
            {
                usage.push((bytes, pod_key, pod, name.to_string()));
            }
        }
    }
    usage.sort_by_key(|u| std::cmp::Reverse(u.0));
    for (_, pod_key, pod, container) in usage.into_iter().take(2) {
        let metrics = ObjKey::new("PodMetrics", &pod_key.namespace, &pod_key.name);
        d.object(pod_key);
        if let Some(m) = ctx.snap.get(&metrics) {
            d.field(
                &metrics,
                m,
                &format!("containers[{container}].usage.memory"),
            );
        }
        d.field(
            pod_key,
            pod,
            &format!("spec.containers[{container}].resources"),
        );
    }
}

/// Bytes of a Kubernetes memory quantity (`512Mi`, `7012344Ki`, `1G`, `1e9`, `1024`).
pub(crate) fn quantity_bytes(q: &str) -> Option<u64> {
    let q = q.trim();
    let split = q
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(q.len());
    let (number, suffix) = q.split_at(split);
    let n: f64 = number.parse().ok()?;
    let factor: f64 = match suffix {
        "" => 1.0,
        "Ki" => 1024.0,
        "Mi" => 1024f64.powi(2),
        "Gi" => 1024f64.powi(3),
        "Ti" => 1024f64.powi(4),
        "k" | "K" => 1e3,
        "M" => 1e6,
        "G" => 1e9,
        "T" => 1e12,
        "m" => 1e-3,
        s if s.starts_with(['e', 'E']) => 10f64.powi(s[1..].parse().ok()?),
        _ => return None,
    };
    let bytes = n * factor;
    // Truncation is fine: a byte count, well inside u64 for any real quantity.
    (bytes.is_finite() && bytes >= 0.0).then_some(bytes as u64)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quantities() {
        assert_eq!(quantity_bytes("512Mi"), Some(512 * 1024 * 1024));
        assert_eq!(quantity_bytes("7012344Ki"), Some(7_012_344 * 1024));
        assert_eq!(quantity_bytes("1G"), Some(1_000_000_000));
        assert_eq!(quantity_bytes("1e3"), Some(1000));
        assert_eq!(quantity_bytes("12"), Some(12));
        assert_eq!(quantity_bytes("x"), None);
        assert_eq!(quantity_bytes("5Qi"), None);
    }
}
