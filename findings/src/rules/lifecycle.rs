//! `object.terminating_stuck`: any object whose `metadata.deletionTimestamp` passed more than 5
//! minutes ago.
//! The evidence says what holds it: finalizers (and, for a claim, the pods still using it; for
//! a namespace, its conditions), or, for a pod, a node whose kubelet cannot confirm the kill.

use acorn_proto::findings::{Finding, Severity};
use serde_json::Value;

use super::{Ctx, Draft};
use crate::snapshot::ObjKey;
use crate::time::human;
use crate::value::{arr, item, ne, s};

const GRACE_SECS: i64 = 300;

pub(super) fn terminating(ctx: &Ctx, key: &ObjKey, object: &Value, out: &mut Vec<Finding>) {
    let Some(age) = ctx.age(object, "metadata.deletionTimestamp") else {
        return;
    };
    // For a pod, deletionTimestamp is already the end of its grace period; for other objects
    // it is the time of the delete request.
    if age <= GRACE_SECS {
        return;
    }
    let finalizers: Vec<&str> = arr(object, "metadata.finalizers")
        .iter()
        .filter_map(Value::as_str)
        .collect();
    let mut d = Draft::new("object.terminating_stuck", Severity::Warning, key);
    d.field(key, object, "metadata.deletionTimestamp");
    d.field(key, object, "metadata.finalizers");
    let mut why = Vec::new();
    let mut fix = Vec::new();

    let node_down = if key.kind == "Pod" {
        ne(object, "spec.nodeName").and_then(|node| {
            let node_key = ObjKey::new("Node", "", node);
            let n = ctx.snap.get(&node_key)?;
            let ready = item(n, "status.conditions", "type", "Ready").and_then(|c| s(c, "status"));
            (ready != Some("True")).then_some((node_key, n))
        })
    } else {
        None
    };
    if let Some((node_key, n)) = &node_down {
        why.push(format!(
            "its node {} is not ready, so the kubelet cannot confirm the pod stopped",
            node_key.name
        ));
        fix.push(format!(
            "once node {} is known to be down, force-delete the pod (`kubectl delete pod -n {} {} \
             --grace-period=0 --force`) or delete the Node object",
            node_key.name, key.namespace, key.name
        ));
        d.object(node_key);
        d.field(node_key, n, "status.conditions[Ready].status");
        d.field(node_key, n, "status.conditions[Ready].message");
    }
    if key.kind == "PersistentVolumeClaim" && finalizers.contains(&"kubernetes.io/pvc-protection") {
        let users: Vec<(&ObjKey, &Value)> = ctx
            .snap
            .in_namespace("Pod", &key.namespace)
            .filter(|(_, p)| {
                !matches!(s(p, "status.phase"), Some("Succeeded" | "Failed"))
                    && arr(p, "spec.volumes")
                        .iter()
                        .any(|v| s(v, "persistentVolumeClaim.claimName") == Some(key.name.as_str()))
            })
            .collect();
        if !users.is_empty() {
            why.push(format!(
                "kubernetes.io/pvc-protection keeps it while pod {} uses it",
                users
                    .iter()
                    .map(|(k, _)| k.name.as_str())
                    .collect::<Vec<_>>()
                    .join(", ")
            ));
            fix.push("delete (or scale down the workload of) the pods using the claim first; the claim goes once no pod mounts it".to_string());
            for (pod_key, pod) in users.iter().take(5) {
                d.object(pod_key);
                if let Some(vol) = arr(pod, "spec.volumes").iter().find_map(|v| {
                    (s(v, "persistentVolumeClaim.claimName") == Some(key.name.as_str()))
                        .then(|| s(v, "name"))
                        .flatten()
                }) {
                    d.field(
                        pod_key,
                        pod,
                        &format!("spec.volumes[{vol}].persistentVolumeClaim.claimName"),
                    );
                }
            }
        }
    }
    if key.kind == "Namespace" {
        for c in [
            "NamespaceContentRemaining",
            "NamespaceFinalizersRemaining",
            "NamespaceDeletionDiscoveryFailure",
        ] {
            if item(object, "status.conditions", "type", c).and_then(|x| s(x, "status"))
                == Some("True")
            {
                d.field(key, object, &format!("status.conditions[{c}].message"));
            }
        }
    }
    if !finalizers.is_empty() && why.is_empty() {
        why.push(format!(
            "finalizers {} have not been removed",
            finalizers.join(", ")
        ));
        fix.push(format!(
            "find the controller responsible for {} and why it does not finish; if that \
             controller is gone for good, remove the finalizer by hand (`kubectl patch {} {} -n \
             {} --type=merge -p '{{\"metadata\":{{\"finalizers\":null}}}}'`) after checking \
             what it was protecting",
            finalizers.join(", "),
            key.kind.to_ascii_lowercase(),
            key.name,
            key.namespace
        ));
    }
    if why.is_empty() {
        why.push("deletion has not completed".to_string());
        fix.push("check the controller or kubelet that should complete the deletion".to_string());
    }
    d.title(format!(
        "{} {} is stuck Terminating for {}: {}",
        key.kind,
        key.name,
        human(age),
        why.join("; ")
    ));
    let mut remediation = fix.join("; ");
    if let Some(first) = remediation.get(..1) {
        remediation = first.to_uppercase() + &remediation[1..] + ".";
    }
    d.remediation(remediation);
    out.push(d.finish(ctx.now));
}
