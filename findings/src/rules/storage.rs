//! `pvc.pending`: a claim that stays `Pending` for a reason Kubernetes names: its StorageClass
//! does not exist (judged only when the snapshot has StorageClasses at all), or recent
//! `ProvisioningFailed` / `FailedBinding` events. A claim waiting for its first consumer
//! (`WaitForFirstConsumer`) is normal and not reported.

use acorn_proto::findings::{Finding, Severity};
use serde_json::Value;

use super::{Ctx, Draft};
use crate::snapshot::ObjKey;
use crate::value::{arr, ne, s};

pub(super) fn pvc(ctx: &Ctx, key: &ObjKey, pvc: &Value, out: &mut Vec<Finding>) {
    if s(pvc, "status.phase") != Some("Pending") {
        return;
    }
    let class = ne(pvc, "spec.storageClassName");
    let classes: Vec<&str> = ctx
        .snap
        .of_kind("StorageClass")
        .map(|(k, _)| k.name.as_str())
        .collect();
    let class_missing = class.is_some_and(|c| !classes.is_empty() && !classes.contains(&c));
    let failures: Vec<(&ObjKey, &Value)> = ctx
        .events(key)
        .into_iter()
        .filter(|(_, e)| {
            ctx.recent(e) && matches!(s(e, "reason"), Some("ProvisioningFailed" | "FailedBinding"))
        })
        .collect();
    if !class_missing && failures.is_empty() {
        return;
    }
    let mut d = Draft::new("pvc.pending", Severity::Critical, key);
    let why = if class_missing {
        format!(
            "StorageClass {} does not exist (the cluster has: {})",
            class.unwrap_or_default(),
            classes.join(", ")
        )
    } else {
        failures
            .first()
            .map(|(_, e)| crate::evidence::event_text(e))
            .unwrap_or_default()
    };
    d.title(format!(
        "PersistentVolumeClaim {} is Pending: {why}",
        key.name
    ));
    d.remediation(if class_missing {
        format!(
            "Use an existing StorageClass in spec.storageClassName (it cannot be changed on a \
             bound claim, but this one is unbound: recreate it; for a StatefulSet, fix \
             volumeClaimTemplates and delete the Pending claim), or create StorageClass {}.",
            class.unwrap_or_default()
        )
    } else {
        "Read the provisioner's message: fix the StorageClass parameters, capacity or access \
         mode, or provide a matching PersistentVolume."
            .to_string()
    });
    d.field(key, pvc, "status.phase");
    d.field(key, pvc, "spec.storageClassName");
    for (k, e) in failures.iter().take(2) {
        d.event(k, e);
    }
    // The pods waiting for it.
    for (pod_key, pod) in ctx.snap.in_namespace("Pod", &key.namespace) {
        if arr(pod, "spec.volumes")
            .iter()
            .any(|v| s(v, "persistentVolumeClaim.claimName") == Some(key.name.as_str()))
        {
            d.object(pod_key);
        }
    }
    out.push(d.finish(ctx.now));
}
