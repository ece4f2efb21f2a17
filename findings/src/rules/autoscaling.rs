//! HorizontalPodAutoscalers: `hpa.unable_to_scale` when `ScalingActive` or `AbleToScale` is
//! `False` (metrics missing, a container without the request a utilization target needs, the
//! target not found), and `hpa.at_max_replicas` when `ScalingLimited` is `True` because the
//! desired count is above `maxReplicas` (`TooManyReplicas`). At the minimum
//! (`TooFewReplicas`) is the normal resting state and not reported.

use acorn_proto::findings::{Finding, Severity};
use serde_json::Value;

use super::{Ctx, Draft};
use crate::snapshot::ObjKey;
use crate::value::{i, item, s};

fn target(key: &ObjKey, hpa: &Value) -> Option<ObjKey> {
    Some(ObjKey::new(
        s(hpa, "spec.scaleTargetRef.kind")?,
        &key.namespace,
        s(hpa, "spec.scaleTargetRef.name")?,
    ))
}

pub(super) fn hpa(ctx: &Ctx, key: &ObjKey, hpa: &Value, out: &mut Vec<Finding>) {
    let condition = |t: &str| item(hpa, "status.conditions", "type", t);
    let failing = ["ScalingActive", "AbleToScale"]
        .into_iter()
        .find(|t| condition(t).and_then(|c| s(c, "status")) == Some("False"));
    let target = target(key, hpa);
    if let Some(kind) = failing {
        let c = condition(kind);
        let reason = c.and_then(|c| s(c, "reason")).unwrap_or_default();
        // ScalingActive=False/ScalingDisabled means the target was scaled to zero on purpose.
        if reason != "ScalingDisabled" {
            let message = c.and_then(|c| s(c, "message")).unwrap_or_default();
            let mut d = Draft::new("hpa.unable_to_scale", Severity::Warning, key);
            d.title(format!(
                "HorizontalPodAutoscaler {} cannot scale {}: {reason}: {message}",
                key.name,
                target
                    .as_ref()
                    .map_or("its target".to_string(), |t| format!(
                        "{} {}",
                        t.kind, t.name
                    )),
            ));
            d.remediation(if message.contains("missing request for") {
                "A utilization target is a percentage of the containers' requests: give every \
                     container of the target's pod template a request for that resource."
            } else if message.contains("metrics") {
                "The resource metrics API has no data for the target's pods: check that \
                     metrics-server (the v1beta1.metrics.k8s.io APIService) is installed and \
                     available, and that the pods run."
            } else {
                "Read the condition's message: fix the scale target reference or the metric \
                     definitions it names."
            });
            d.field(key, hpa, &format!("status.conditions[{kind}].status"));
            d.field(key, hpa, &format!("status.conditions[{kind}].reason"));
            d.field(key, hpa, &format!("status.conditions[{kind}].message"));
            for (k, e) in ctx
                .events(key)
                .into_iter()
                .filter(|(_, e)| s(e, "type") == Some("Warning") && ctx.recent(e))
                .take(2)
            {
                d.event(k, e);
            }
            if let Some(t) = &target {
                d.object(t);
            }
            out.push(d.finish(ctx.now));
        }
    }
    let limited = condition("ScalingLimited");
    if limited.and_then(|c| s(c, "status")) == Some("True")
        && limited.and_then(|c| s(c, "reason")) == Some("TooManyReplicas")
    {
        let max = i(hpa, "spec.maxReplicas").unwrap_or(0);
        let mut d = Draft::new("hpa.at_max_replicas", Severity::Warning, key);
        d.title(format!(
            "HorizontalPodAutoscaler {} is at its maximum of {max} replicas and wants more (desired {})",
            key.name,
            i(hpa, "status.desiredReplicas").unwrap_or(max)
        ));
        d.remediation(
            "The load needs more replicas than maxReplicas allows, so the pods run above their \
             target. Raise spec.maxReplicas (and check the cluster has room for them), or make \
             each replica handle more.",
        );
        d.field(key, hpa, "status.conditions[ScalingLimited].reason");
        d.field(key, hpa, "status.conditions[ScalingLimited].message");
        d.field(key, hpa, "spec.maxReplicas");
        d.field(key, hpa, "status.currentReplicas");
        d.field(key, hpa, "status.currentMetrics");
        if let Some(t) = &target {
            d.object(t);
        }
        out.push(d.finish(ctx.now));
    }
}
