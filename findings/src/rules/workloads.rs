//! Workload rules: Deployments (`deployment.unavailable`, `deployment.rollout_stuck`),
//! StatefulSets and DaemonSets (`*.not_ready`), and `quota.exceeded` for any controller whose
//! pod creations a ResourceQuota refuses (`FailedCreate … exceeded quota` events on it or, for a
//! Deployment, on its ReplicaSets).
//!
//! A workload finding lists its unready pods after itself, each with one evidence item saying
//! what is wrong with it; the pods' own findings carry the detail.

use acorn_proto::findings::{Finding, Severity};
use serde_json::Value;

use super::{Ctx, Draft, controller_of, desired_replicas, pod_ready, pod_state_evidence};
use crate::snapshot::ObjKey;
use crate::value::{i, item, s};

/// At most this many pods are listed in a workload finding.
const MAX_PODS: usize = 10;

fn unready_pods(ctx: &Ctx, key: &ObjKey, d: &mut Draft) -> usize {
    let mut n = 0;
    for pod_key in ctx.pods_of(key) {
        let Some(pod) = ctx.snap.get(&pod_key) else {
            continue;
        };
        if pod_ready(pod) || matches!(s(pod, "status.phase"), Some("Succeeded")) {
            continue;
        }
        n += 1;
        if n <= MAX_PODS {
            d.object(&pod_key);
            pod_state_evidence(d, &pod_key, pod);
        }
    }
    n
}

pub(super) fn deployment(ctx: &Ctx, key: &ObjKey, dep: &Value, out: &mut Vec<Finding>) {
    let desired = desired_replicas(dep);
    quota(ctx, key, dep, out);
    if desired == 0 {
        return;
    }
    let condition = |t: &str| item(dep, "status.conditions", "type", t);
    let progressing = condition("Progressing");
    if progressing.and_then(|c| s(c, "status")) == Some("False")
        && progressing.and_then(|c| s(c, "reason")) == Some("ProgressDeadlineExceeded")
    {
        let message = progressing
            .and_then(|c| s(c, "message"))
            .unwrap_or_default();
        let available_ok = condition("Available").and_then(|c| s(c, "status")) == Some("True");
        let mut d = Draft::new(
            "deployment.rollout_stuck",
            if available_ok {
                Severity::Warning
            } else {
                Severity::Critical
            },
            key,
        );
        d.title(format!(
            "Rollout of Deployment {} is stuck: {} ({} of {desired} replicas updated)",
            key.name,
            if message.is_empty() {
                "ProgressDeadlineExceeded"
            } else {
                message
            },
            i(dep, "status.updatedReplicas").unwrap_or(0)
        ));
        d.remediation(format!(
            "The new ReplicaSet's pods did not become available within progressDeadlineSeconds. \
             Fix what keeps them unready (see the pods listed here), or roll back with `kubectl \
             rollout undo deployment/{} -n {}`{}.",
            key.name,
            key.namespace,
            if available_ok {
                "; the previous version still serves"
            } else {
                ""
            }
        ));
        d.field(key, dep, "status.conditions[Progressing].reason");
        d.field(key, dep, "status.conditions[Progressing].message");
        d.field(key, dep, "spec.progressDeadlineSeconds");
        d.field(key, dep, "status.updatedReplicas");
        // The new ReplicaSet is the one the condition names.
        if let Some(rs) = message.split('"').nth(1) {
            let rs_key = ObjKey::new("ReplicaSet", &key.namespace, rs);
            if ctx.snap.get(&rs_key).is_some() {
                d.object(&rs_key);
                let mut pods = Draft::new("x", Severity::Info, &rs_key);
                unready_pods(ctx, &rs_key, &mut pods);
                for o in pods.objects.iter().skip(1) {
                    d.object(o);
                }
                for e in pods.evidence {
                    d.ev(Some(e));
                }
            }
        } else {
            unready_pods(ctx, key, &mut d);
        }
        out.push(d.finish(ctx.now));
    }
    let available = condition("Available");
    if available.and_then(|c| s(c, "status")) == Some("False") {
        let ready = i(dep, "status.availableReplicas").unwrap_or(0);
        let mut d = Draft::new(
            "deployment.unavailable",
            if ready == 0 {
                Severity::Critical
            } else {
                Severity::Warning
            },
            key,
        );
        d.title(format!(
            "Deployment {} has {ready} of {desired} replicas available",
            key.name
        ));
        d.remediation(
            "The Deployment is below its minimum availability. The pods listed here say why; \
             their own findings carry the cause and the fix.",
        );
        d.field(key, dep, "status.conditions[Available].reason");
        d.field(key, dep, "status.conditions[Available].message");
        d.field(key, dep, "status.unavailableReplicas");
        unready_pods(ctx, key, &mut d);
        out.push(d.finish(ctx.now));
    }
}

pub(super) fn statefulset(ctx: &Ctx, key: &ObjKey, sts: &Value, out: &mut Vec<Finding>) {
    quota(ctx, key, sts, out);
    let desired = desired_replicas(sts);
    let ready = i(sts, "status.readyReplicas").unwrap_or(0);
    if desired == 0 || ready >= desired {
        return;
    }
    let mut d = Draft::new(
        "statefulset.not_ready",
        if ready == 0 {
            Severity::Critical
        } else {
            Severity::Warning
        },
        key,
    );
    let created = i(sts, "status.replicas").unwrap_or(0);
    d.title(format!(
        "StatefulSet {} has {ready} of {desired} replicas ready{}",
        key.name,
        if created < desired {
            format!(" ({created} created: pods start in order and wait for the previous one)")
        } else {
            String::new()
        }
    ));
    d.remediation(
        "A StatefulSet creates and updates its pods in order: the first unready pod holds the \
         others back. Fix that pod (see the pods listed here and their findings).",
    );
    d.field(key, sts, "spec.replicas");
    d.field(key, sts, "status.readyReplicas");
    d.field(key, sts, "status.replicas");
    d.field(key, sts, "status.availableReplicas");
    unready_pods(ctx, key, &mut d);
    out.push(d.finish(ctx.now));
}

pub(super) fn daemonset(ctx: &Ctx, key: &ObjKey, ds: &Value, out: &mut Vec<Finding>) {
    quota(ctx, key, ds, out);
    let desired = i(ds, "status.desiredNumberScheduled").unwrap_or(0);
    let ready = i(ds, "status.numberReady").unwrap_or(0);
    if desired == 0 || ready >= desired {
        return;
    }
    let mut d = Draft::new(
        "daemonset.not_ready",
        if ready == 0 {
            Severity::Critical
        } else {
            Severity::Warning
        },
        key,
    );
    d.title(format!(
        "DaemonSet {} has {ready} of {desired} pods ready",
        key.name
    ));
    d.remediation(
        "Some nodes that should run this DaemonSet have no ready pod. The pods listed here say \
         why (scheduling, image, crash); a cause tied to one node usually lies with that node.",
    );
    d.field(key, ds, "status.desiredNumberScheduled");
    d.field(key, ds, "status.numberReady");
    d.field(key, ds, "status.numberUnavailable");
    unready_pods(ctx, key, &mut d);
    out.push(d.finish(ctx.now));
}

/// A ReplicaSet is a subject only when no Deployment controls it (the Deployment's rules cover
/// its ReplicaSets otherwise).
pub(super) fn replicaset(ctx: &Ctx, key: &ObjKey, rs: &Value, out: &mut Vec<Finding>) {
    if controller_of(key, rs).is_some_and(|o| o.kind == "Deployment") {
        return;
    }
    quota(ctx, key, rs, out);
}

/// `quota.exceeded` for the controller `key`.
pub(super) fn quota(ctx: &Ctx, key: &ObjKey, object: &Value, out: &mut Vec<Finding>) {
    let mut sources = vec![key.clone()];
    if key.kind == "Deployment" {
        sources.extend(
            ctx.snap
                .children(key)
                .iter()
                .filter(|k| k.kind == "ReplicaSet")
                .cloned(),
        );
    }
    let mut refused: Vec<(ObjKey, ObjKey, &Value)> = Vec::new();
    for source in &sources {
        let Some(source_obj) = ctx.snap.get(source) else {
            continue;
        };
        // Only while the controller is still short of pods: old refusals of a controller that
        // has since caught up are history.
        let short = match source.kind.as_str() {
            "ReplicaSet" | "StatefulSet" | "Deployment" => {
                i(source_obj, "status.replicas").unwrap_or(0) < desired_replicas(source_obj)
            }
            _ => true,
        };
        if !short {
            continue;
        }
        for (ev_key, ev) in ctx.recent_events(source, "FailedCreate") {
            if s(ev, "message").is_some_and(|m| m.contains("exceeded quota")) {
                refused.push((source.clone(), ev_key.clone(), ev));
                break;
            }
        }
    }
    let Some((_, _, first)) = refused.first() else {
        return;
    };
    let message = s(first, "message").unwrap_or_default();
    let detail = message
        .find("exceeded quota: ")
        .map(|at| &message[at + "exceeded quota: ".len()..])
        .unwrap_or(message);
    let quota_name = detail.split(',').next().unwrap_or_default().trim();
    let mut d = Draft::new("quota.exceeded", Severity::Critical, key);
    d.title(format!(
        "{} {} cannot create pods: ResourceQuota {quota_name} exceeded ({})",
        key.kind,
        key.name,
        detail.split_once(", ").map_or(detail, |(_, rest)| rest)
    ));
    d.remediation(format!(
        "The namespace's ResourceQuota {quota_name} refuses the new pods. Raise the quota, lower \
         the pods' requests/limits, scale other workloads of namespace {} down, or lower the \
         replica count; the controller retries by itself.",
        key.namespace
    ));
    for (source, ev_key, ev) in &refused {
        d.object(source);
        d.event(ev_key, ev);
    }
    if !quota_name.is_empty() {
        d.object(&ObjKey::new("ResourceQuota", &key.namespace, quota_name));
    }
    d.field(key, object, "spec.replicas");
    d.field(key, object, "status.replicas");
    d.field(key, object, "status.conditions[ReplicaFailure].message");
    out.push(d.finish(ctx.now));
}
