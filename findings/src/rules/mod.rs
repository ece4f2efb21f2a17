//! The rules. Each one looks at one *subject* (the primary object of the findings it makes: a
//! pod, a Deployment, a node, …) and reads whatever else it needs through the snapshot's
//! indexes. Evaluating per subject is what makes incremental re-evaluation possible
//! (`crate::incremental`): a change re-evaluates only the subjects it can affect.
//!
//! Layout: [`pods`] (crash loops, image pulls, OOM kills, scheduling, probes, config errors),
//! [`workloads`] (Deployments, StatefulSets, DaemonSets, quota refusals), [`batch`] (Jobs,
//! CronJobs, with a small cron parser in [`cron`]), [`network`] (Services, Ingresses),
//! [`storage`] (claims), [`nodes`], [`autoscaling`] (HPAs), [`lifecycle`] (objects stuck
//! terminating). The table of rule ids is [`RULES`].

mod autoscaling;
mod batch;
pub(crate) mod cron;
mod lifecycle;
mod network;
mod nodes;
mod pods;
mod storage;
mod workloads;

use std::collections::BTreeSet;

use acorn_proto::findings::{Evidence, Finding, FindingState, Severity};
use serde_json::Value;

use crate::evidence;
use crate::snapshot::{ObjKey, Snapshot};
use crate::time::parse_rfc3339;
use crate::value::{arr, i, item, s};

/// Every rule id, with its severity when it fires (some rules raise or lower it, as their
/// docs say) and what it detects.
pub const RULES: &[(&str, &str)] = &[
    (
        "pod.crash_loop",
        "a container restarts over and over (CrashLoopBackOff)",
    ),
    (
        "pod.image_pull",
        "an image cannot be pulled (ErrImagePull / ImagePullBackOff)",
    ),
    (
        "pod.oom_killed",
        "a container was killed for exceeding its memory limit",
    ),
    (
        "pod.unschedulable",
        "a pod stays Pending: the scheduler finds no node",
    ),
    (
        "pod.readiness_failing",
        "a running container fails its readiness probe",
    ),
    (
        "pod.liveness_restarts",
        "the kubelet restarts a container whose liveness probe fails",
    ),
    (
        "pod.config_error",
        "CreateContainerConfigError: a missing ConfigMap/Secret or key",
    ),
    (
        "job.backoff_limit_exceeded",
        "a Job failed: BackoffLimitExceeded",
    ),
    (
        "job.deadline_exceeded",
        "a Job failed: DeadlineExceeded (activeDeadlineSeconds)",
    ),
    ("job.failed", "a Job failed for another reason"),
    (
        "cronjob.not_scheduling",
        "a CronJob has not started a Job when its schedule says it should",
    ),
    (
        "deployment.unavailable",
        "a Deployment lacks minimum availability",
    ),
    (
        "deployment.rollout_stuck",
        "a rollout exceeded its progress deadline",
    ),
    (
        "statefulset.not_ready",
        "a StatefulSet has fewer ready replicas than desired",
    ),
    (
        "daemonset.not_ready",
        "a DaemonSet has fewer ready pods than nodes it should run on",
    ),
    (
        "quota.exceeded",
        "a controller cannot create pods: a ResourceQuota is exhausted",
    ),
    (
        "service.no_endpoints",
        "a Service's selector matches no pod",
    ),
    (
        "service.no_ready_endpoints",
        "a Service selects pods but none is ready",
    ),
    (
        "ingress.backend_missing",
        "an Ingress routes to a missing Service or port",
    ),
    ("pvc.pending", "a PersistentVolumeClaim stays Pending"),
    (
        "node.not_ready",
        "a node is NotReady or its kubelet stopped reporting",
    ),
    ("node.memory_pressure", "a node reports MemoryPressure"),
    ("node.disk_pressure", "a node reports DiskPressure"),
    ("node.pid_pressure", "a node reports PIDPressure"),
    (
        "hpa.unable_to_scale",
        "an HPA cannot compute or apply a replica count",
    ),
    (
        "hpa.at_max_replicas",
        "an HPA wants more replicas than its maximum",
    ),
    (
        "object.terminating_stuck",
        "an object stays Terminating (finalizers, unreachable kubelet)",
    ),
];

/// Events older than this no longer make a finding by themselves (Kubernetes keeps events for
/// an hour by default; a repeated event's `lastTimestamp` moves on).
pub(crate) const RECENT_SECS: i64 = 3600;
/// At most this many related objects per finding.
const MAX_OBJECTS: usize = 25;
/// At most this many evidence items per finding.
const MAX_EVIDENCE: usize = 30;

/// What every rule gets.
pub(crate) struct Ctx<'a> {
    pub snap: &'a Snapshot,
    pub now: i64,
}

/// A finding being built.
pub(crate) struct Draft {
    rule: &'static str,
    severity: Severity,
    title: String,
    objects: Vec<ObjKey>,
    evidence: Vec<Evidence>,
    remediation: String,
}

impl Draft {
    pub fn new(rule: &'static str, severity: Severity, primary: &ObjKey) -> Draft {
        Draft {
            rule,
            severity,
            title: String::new(),
            objects: vec![primary.clone()],
            evidence: Vec::new(),
            remediation: String::new(),
        }
    }

    pub fn title(&mut self, title: impl Into<String>) -> &mut Draft {
        self.title = title.into();
        self
    }

    pub fn remediation(&mut self, text: impl Into<String>) -> &mut Draft {
        self.remediation = text.into();
        self
    }

    pub fn severity(&mut self, severity: Severity) -> &mut Draft {
        self.severity = severity;
        self
    }

    pub fn object(&mut self, key: &ObjKey) -> &mut Draft {
        if !self.objects.contains(key) {
            self.objects.push(key.clone());
        }
        self
    }

    pub fn ev(&mut self, evidence: Option<Evidence>) -> &mut Draft {
        if let Some(e) = evidence
            && !self.evidence.contains(&e)
        {
            self.evidence.push(e);
        }
        self
    }

    /// A field of `object` (bracket path), when present.
    pub fn field(&mut self, key: &ObjKey, object: &Value, path: &str) -> &mut Draft {
        self.ev(evidence::at(key, object, path))
    }

    pub fn event(&mut self, key: &ObjKey, event: &Value) -> &mut Draft {
        self.ev(Some(evidence::event(key, event)))
    }

    pub fn finish(mut self, now: i64) -> Finding {
        self.objects.truncate(MAX_OBJECTS);
        self.evidence.truncate(MAX_EVIDENCE);
        let primary = &self.objects[0];
        Finding {
            id: finding_id(self.rule, primary),
            rule: self.rule.to_string(),
            severity: self.severity,
            title: self.title,
            objects: self.objects.iter().map(ObjKey::object_ref).collect(),
            evidence: self.evidence,
            remediation: self.remediation,
            state: FindingState::Active,
            first_seen: now,
            last_seen: now,
            count: 1,
        }
    }
}

/// `fnd_` + FNV-1a (64 bit) of the rule and the primary object: stable across processes and
/// Rust versions (unlike `DefaultHasher`), which the store and webhooks rely on.
pub fn finding_id(rule: &str, primary: &ObjKey) -> String {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for part in [rule, &primary.kind, &primary.namespace, &primary.name] {
        for byte in part.bytes().chain([0xff]) {
            h ^= u64::from(byte);
            h = h.wrapping_mul(0x0100_0000_01b3);
        }
    }
    format!("fnd_{h:016x}")
}

/// Runs every rule whose subject is `key`.
pub(crate) fn evaluate(ctx: &Ctx, key: &ObjKey, object: &Value, out: &mut Vec<Finding>) {
    if !object.is_object() {
        return;
    }
    match key.kind.as_str() {
        "Pod" => pods::check(ctx, key, object, out),
        "Deployment" => workloads::deployment(ctx, key, object, out),
        "StatefulSet" => workloads::statefulset(ctx, key, object, out),
        "DaemonSet" => workloads::daemonset(ctx, key, object, out),
        "ReplicaSet" => workloads::replicaset(ctx, key, object, out),
        "Job" => batch::job(ctx, key, object, out),
        "CronJob" => batch::cronjob(ctx, key, object, out),
        "Service" => network::service(ctx, key, object, out),
        "Ingress" => network::ingress(ctx, key, object, out),
        "PersistentVolumeClaim" => storage::pvc(ctx, key, object, out),
        "Node" => nodes::node(ctx, key, object, out),
        "HorizontalPodAutoscaler" => autoscaling::hpa(ctx, key, object, out),
        _ => {}
    }
    if !matches!(key.kind.as_str(), "Event" | "PodMetrics" | "NodeMetrics") {
        lifecycle::terminating(ctx, key, object, out);
    }
}

impl Ctx<'_> {
    /// Events about `key`, newest first.
    pub fn events(&self, key: &ObjKey) -> Vec<(&ObjKey, &Value)> {
        let mut events: Vec<(&ObjKey, &Value)> = self
            .snap
            .events_of(key)
            .iter()
            .filter_map(|k| Some((k, self.snap.get(k)?)))
            .collect();
        events.sort_by_key(|(_, e)| std::cmp::Reverse(event_time(e).unwrap_or(i64::MIN)));
        events
    }

    /// Whether an event happened within [`RECENT_SECS`] (an event without any time counts).
    pub fn recent(&self, event: &Value) -> bool {
        event_time(event).is_none_or(|t| self.now - t <= RECENT_SECS)
    }

    /// Recent events about `key` with `reason`, newest first.
    pub fn recent_events(&self, key: &ObjKey, reason: &str) -> Vec<(&ObjKey, &Value)> {
        self.events(key)
            .into_iter()
            .filter(|(_, e)| s(e, "reason") == Some(reason) && self.recent(e))
            .collect()
    }

    /// Seconds since an RFC 3339 field of `object`.
    pub fn age(&self, object: &Value, path: &str) -> Option<i64> {
        Some(self.now - parse_rfc3339(s(object, path)?)?)
    }

    /// The pods a workload runs: its own pod children, and for a Deployment those of its
    /// ReplicaSets.
    pub fn pods_of(&self, key: &ObjKey) -> Vec<ObjKey> {
        let mut pods = BTreeSet::new();
        for child in self.snap.children(key) {
            match child.kind.as_str() {
                "Pod" => {
                    pods.insert(child.clone());
                }
                "ReplicaSet" if key.kind == "Deployment" => {
                    pods.extend(
                        self.snap
                            .children(child)
                            .iter()
                            .filter(|k| k.kind == "Pod")
                            .cloned(),
                    );
                }
                _ => {}
            }
        }
        pods.into_iter().collect()
    }
}

/// When an event last happened: `series.lastObservedTime`, `lastTimestamp`, `eventTime`, then
/// `metadata.creationTimestamp`.
pub(crate) fn event_time(event: &Value) -> Option<i64> {
    [
        "series.lastObservedTime",
        "lastTimestamp",
        "eventTime",
        "deprecatedLastTimestamp",
        "metadata.creationTimestamp",
    ]
    .iter()
    .find_map(|p| s(event, p).and_then(parse_rfc3339))
}

/// The container an event is about (`involvedObject.fieldPath: spec.containers{app}`).
pub(crate) fn event_container(event: &Value) -> Option<&str> {
    let path = s(event, "involvedObject.fieldPath")?;
    let start = path.find('{')?;
    path.get(start + 1..path.len().checked_sub(1)?)
        .filter(|_| path.ends_with('}'))
}

/// Whether a pod's `Ready` condition is `True` (and it is not being deleted).
pub(crate) fn pod_ready(pod: &Value) -> bool {
    pod.pointer("/metadata/deletionTimestamp").is_none()
        && item(pod, "status.conditions", "type", "Ready").and_then(|c| s(c, "status"))
            == Some("True")
}

/// The controller of an object (`ownerReferences` with `controller: true`, else the first).
pub(crate) fn controller_of(key: &ObjKey, object: &Value) -> Option<ObjKey> {
    let refs = arr(object, "metadata.ownerReferences");
    let owner = refs
        .iter()
        .find(|o| o.get("controller").and_then(Value::as_bool) == Some(true))
        .or_else(|| refs.first())?;
    Some(ObjKey::new(
        s(owner, "kind")?,
        &key.namespace,
        s(owner, "name")?,
    ))
}

/// One evidence item that says why a pod is not ready: a waiting or terminated container's
/// reason, the scheduler's message, or the Ready condition's message.
pub(crate) fn pod_state_evidence(d: &mut Draft, key: &ObjKey, pod: &Value) {
    for list in ["initContainerStatuses", "containerStatuses"] {
        for cs in arr(pod, &format!("status.{list}")) {
            let Some(name) = s(cs, "name") else { continue };
            for state in ["waiting", "terminated"] {
                if s(cs, &format!("state.{state}.reason")).is_some() {
                    d.field(
                        key,
                        pod,
                        &format!("status.{list}[{name}].state.{state}.reason"),
                    );
                    return;
                }
            }
        }
    }
    for condition in ["PodScheduled", "Ready"] {
        if item(pod, "status.conditions", "type", condition).and_then(|c| s(c, "status"))
            == Some("False")
            && item(pod, "status.conditions", "type", condition)
                .and_then(|c| s(c, "message"))
                .is_some()
        {
            d.field(key, pod, &format!("status.conditions[{condition}].message"));
            return;
        }
    }
    d.field(key, pod, "status.phase");
}

/// `spec.replicas` (default 1, as the API server defaults it).
pub(crate) fn desired_replicas(object: &Value) -> i64 {
    i(object, "spec.replicas").unwrap_or(1)
}

/// Lines of a log worth quoting: the last few that look like errors or warnings, else the last
/// non-empty line. At most `max`, oldest first, no repeats.
pub(crate) fn telling_lines(lines: &[String], max: usize) -> Vec<&str> {
    const WORDS: &[&str] = &[
        "panic",
        "fatal",
        "error",
        "exception",
        "fail",
        "refused",
        "denied",
        "timeout",
        "timed out",
        "killed",
        "out of memory",
        "unable",
        "cannot",
        "warn",
        "traceback",
    ];
    let looks_bad = |line: &str| {
        let lower = line.to_ascii_lowercase();
        let bytes = line.as_bytes();
        // klog: W1127 / E1127 / F1127 headers.
        let klog = bytes.len() > 5
            && matches!(bytes[0], b'W' | b'E' | b'F')
            && bytes[1..5].iter().all(u8::is_ascii_digit);
        klog || WORDS.iter().any(|w| lower.contains(w))
    };
    let mut picked: Vec<&str> = Vec::new();
    for line in lines.iter().rev() {
        let line = line.trim_end();
        if looks_bad(line) && !picked.contains(&line) {
            picked.push(line);
            if picked.len() == max {
                break;
            }
        }
    }
    if picked.is_empty()
        && let Some(last) = lines
            .iter()
            .rev()
            .map(|l| l.trim_end())
            .find(|l| !l.is_empty())
    {
        picked.push(last);
    }
    picked.reverse();
    picked
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_are_stable_and_distinct() {
        let pod = ObjKey::new("Pod", "shop", "web-1");
        // A fixed value (FNV-1a computed independently): ids are persisted, so the hash must
        // never change.
        assert_eq!(finding_id("pod.crash_loop", &pod), "fnd_285a5394c736d11f");
        assert_ne!(
            finding_id("pod.crash_loop", &pod),
            finding_id("pod.oom_killed", &pod)
        );
        assert_ne!(
            finding_id("x", &ObjKey::new("Pod", "ab", "c")),
            finding_id("x", &ObjKey::new("Pod", "a", "bc"))
        );
        assert_eq!(finding_id("pod.crash_loop", &pod).len(), 20);
    }

    #[test]
    fn telling_lines_prefer_errors() {
        let lines: Vec<String> = ["starting", "panic: boom", "goroutine 1", "", "exit"]
            .iter()
            .map(|s| s.to_string())
            .collect();
        assert_eq!(telling_lines(&lines, 3), vec!["panic: boom"]);
        let quiet: Vec<String> = vec!["a".into(), "b".into(), "".into()];
        assert_eq!(telling_lines(&quiet, 3), vec!["b"]);
        assert!(telling_lines(&[], 3).is_empty());
    }

    #[test]
    fn event_containers() {
        let e = serde_json::json!({"involvedObject": {"fieldPath": "spec.containers{app}"}});
        assert_eq!(event_container(&e), Some("app"));
        let bad = serde_json::json!({"involvedObject": {"fieldPath": "spec.containers{"}});
        assert_eq!(event_container(&bad), None);
    }
}
