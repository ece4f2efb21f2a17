//! Pod rules: one finding per pod and rule, whatever the number of containers or events.
//!
//! Per container, the first that applies wins, so one cause is reported once:
//! 1. `pod.oom_killed`: the last (or current) termination is `OOMKilled` — while it crash-loops,
//!    or within the last hour;
//! 2. `pod.liveness_restarts`: restarts and recent `Killing … failed liveness probe` or
//!    `Unhealthy … Liveness probe failed` events;
//! 3. `pod.crash_loop`: waiting in `CrashLoopBackOff`, or running after a non-zero exit in the
//!    last 10 minutes with 3+ restarts (so the finding does not flap with the container);
//! 4. `pod.image_pull`: waiting in `ErrImagePull`, `ImagePullBackOff`, `InvalidImageName`, …;
//! 5. `pod.config_error`: waiting in `CreateContainerConfigError`;
//! 6. `pod.readiness_failing`: running, not ready, recent `Readiness probe failed` events.
//!
//! `pod.unschedulable` is checked first for Pending pods: `PodScheduled=False/Unschedulable` or
//! recent `FailedScheduling` events. Pods that finished (`Succeeded`/`Failed`) are left to the
//! Job and node rules; pods being deleted to `object.terminating_stuck`.

use std::collections::BTreeMap;

use acorn_proto::findings::Severity;
use serde_json::Value;

use super::{Ctx, Draft, controller_of, event_container, telling_lines};
use crate::evidence;
use crate::snapshot::ObjKey;
use crate::value::{arr, get, i, item, ne, s};

/// A container with its status and spec.
struct Container<'a> {
    name: &'a str,
    /// `containerStatuses` or `initContainerStatuses`.
    list: &'static str,
    status: &'a Value,
    spec: Option<&'a Value>,
    spec_list: &'static str,
}

impl Container<'_> {
    fn path(&self, rest: &str) -> String {
        format!("status.{}[{}].{rest}", self.list, self.name)
    }

    fn spec_path(&self, rest: &str) -> String {
        format!("spec.{}[{}].{rest}", self.spec_list, self.name)
    }

    fn waiting(&self) -> Option<&str> {
        s(self.status, "state.waiting.reason")
    }
}

pub(super) fn check(ctx: &Ctx, key: &ObjKey, pod: &Value, out: &mut Vec<super::Finding>) {
    if get(pod, "metadata.deletionTimestamp").is_some() {
        return;
    }
    let phase = s(pod, "status.phase").unwrap_or_default();
    if matches!(phase, "Succeeded" | "Failed") {
        return;
    }
    if phase == "Pending" && unschedulable(ctx, key, pod, out) {
        return;
    }
    let mut drafts: BTreeMap<&'static str, Draft> = BTreeMap::new();
    // Events are read (and sorted) once per pod, and only for a pod with a container that
    // could make a finding: most pods of a cluster are healthy.
    let mut events: Option<Vec<(&ObjKey, &Value)>> = None;
    for (list, spec_list) in [
        ("initContainerStatuses", "initContainers"),
        ("containerStatuses", "containers"),
    ] {
        for status in arr(pod, &format!("status.{list}")) {
            let Some(name) = ne(status, "name") else {
                continue;
            };
            if healthy(status) {
                continue;
            }
            let c = Container {
                name,
                list,
                status,
                spec: item(pod, &format!("spec.{spec_list}"), "name", name),
                spec_list,
            };
            let events = events.get_or_insert_with(|| ctx.events(key));
            container(ctx, key, pod, &c, events, &mut drafts);
        }
    }
    out.extend(drafts.into_values().map(|d| d.finish(ctx.now)));
}

/// Running, ready, never restarted: no rule can fire for this container.
fn healthy(status: &Value) -> bool {
    get(status, "state.running").is_some()
        && status.get("ready").and_then(Value::as_bool) == Some(true)
        && i(status, "restartCount").unwrap_or(0) == 0
}

fn container(
    ctx: &Ctx,
    key: &ObjKey,
    pod: &Value,
    c: &Container,
    events: &[(&ObjKey, &Value)],
    drafts: &mut BTreeMap<&'static str, Draft>,
) {
    let waiting = c.waiting();
    let restarts = i(c.status, "restartCount").unwrap_or(0);
    let running = get(c.status, "state.running").is_some();
    let last_reason = s(c.status, "lastState.terminated.reason");
    let last_finished = ctx.age(c.status, "lastState.terminated.finishedAt");
    let mine = |e: &&(&ObjKey, &Value)| {
        event_container(e.1).is_none_or(|n| n == c.name) && ctx.recent(e.1)
    };
    let liveness_events: Vec<(&ObjKey, &Value)> = events
        .iter()
        .filter(mine)
        .filter(|(_, e)| {
            let m = s(e, "message").unwrap_or_default();
            (s(e, "reason") == Some("Killing") && m.contains("failed liveness probe"))
                || (s(e, "reason") == Some("Unhealthy") && m.starts_with("Liveness probe"))
        })
        .map(|(k, e)| (*k, *e))
        .collect();

    let oom_now = s(c.status, "state.terminated.reason") == Some("OOMKilled");
    let oom_last = last_reason == Some("OOMKilled")
        && (waiting == Some("CrashLoopBackOff") || last_finished.is_some_and(|a| a <= 3600));
    if oom_now || oom_last {
        let d = draft(drafts, "pod.oom_killed", Severity::Critical, key);
        oom(ctx, key, pod, c, d, oom_now);
        return;
    }
    if restarts > 0 && !liveness_events.is_empty() {
        let d = draft(drafts, "pod.liveness_restarts", Severity::Warning, key);
        liveness(ctx, key, pod, c, d, &liveness_events);
        return;
    }
    let recent_crash = running
        && restarts >= 3
        && i(c.status, "lastState.terminated.exitCode").is_some_and(|code| code != 0)
        && last_finished.is_some_and(|a| a <= 600);
    if waiting == Some("CrashLoopBackOff") || recent_crash {
        let d = draft(drafts, "pod.crash_loop", Severity::Critical, key);
        crash_loop(ctx, key, pod, c, d, events);
        return;
    }
    if let Some(
        reason @ ("ErrImagePull"
        | "ImagePullBackOff"
        | "InvalidImageName"
        | "ErrImageNeverPull"
        | "RegistryUnavailable"),
    ) = waiting
    {
        let d = draft(drafts, "pod.image_pull", Severity::Critical, key);
        image_pull(ctx, key, pod, c, d, reason, events);
        return;
    }
    if waiting == Some("CreateContainerConfigError") {
        let d = draft(drafts, "pod.config_error", Severity::Critical, key);
        config_error(ctx, key, pod, c, d, events);
        return;
    }
    let ready = c.status.get("ready").and_then(Value::as_bool) == Some(true);
    if running && !ready {
        let probe_events: Vec<(&ObjKey, &Value)> = events
            .iter()
            .filter(mine)
            .filter(|(_, e)| {
                s(e, "reason") == Some("Unhealthy")
                    && s(e, "message").is_some_and(|m| m.starts_with("Readiness probe"))
            })
            .map(|(k, e)| (*k, *e))
            .collect();
        if !probe_events.is_empty() {
            let d = draft(drafts, "pod.readiness_failing", Severity::Warning, key);
            readiness(ctx, key, pod, c, d, &probe_events);
        }
    }
}

fn draft<'a>(
    drafts: &'a mut BTreeMap<&'static str, Draft>,
    rule: &'static str,
    severity: Severity,
    key: &ObjKey,
) -> &'a mut Draft {
    drafts
        .entry(rule)
        .or_insert_with(|| Draft::new(rule, severity, key))
}

/// Where the pod's owner is (for titles): `Deployment x` is more useful than a pod hash.
fn owner_hint(ctx: &Ctx, key: &ObjKey, pod: &Value) -> String {
    let Some(owner) = controller_of(key, pod) else {
        return String::new();
    };
    let top = ctx
        .snap
        .get(&owner)
        .and_then(|o| controller_of(&owner, o))
        .unwrap_or(owner);
    format!(" ({} {})", top.kind, top.name)
}

fn quote_logs(ctx: &Ctx, key: &ObjKey, c: &Container, d: &mut Draft, previous: bool) {
    let lines = ctx.snap.log(&key.namespace, &key.name, c.name, previous);
    for line in telling_lines(lines, 3) {
        d.ev(Some(evidence::log(key, c.name, previous, line)));
    }
}

/// What an exit code usually means.
fn exit_hint(code: i64) -> &'static str {
    match code {
        0 => "exit code 0: the process ended although the pod expects it to keep running",
        1 => "exit code 1: the application reported an error and exited",
        2 => "exit code 2: usually a usage or configuration error",
        126 => "exit code 126: the command is not executable",
        127 => "exit code 127: the command was not found in the image",
        137 => "exit code 137: killed by SIGKILL (memory limit, liveness probe or eviction)",
        139 => "exit code 139: segmentation fault",
        143 => "exit code 143: stopped by SIGTERM",
        _ => "",
    }
}

fn crash_loop(
    ctx: &Ctx,
    key: &ObjKey,
    pod: &Value,
    c: &Container,
    d: &mut Draft,
    events: &[(&ObjKey, &Value)],
) {
    let code = i(c.status, "lastState.terminated.exitCode");
    let reason = s(c.status, "lastState.terminated.reason").unwrap_or("unknown reason");
    let restarts = i(c.status, "restartCount").unwrap_or(0);
    if d.title_is_empty() {
        let code_text = code.map_or("?".to_string(), |c| c.to_string());
        d.title(format!(
            "Container {} of pod {}{} is crash-looping: last exit code {code_text} ({reason}), {restarts} restarts",
            c.name,
            key.name,
            owner_hint(ctx, key, pod)
        ));
        let hint = code.map(exit_hint).unwrap_or_default();
        d.remediation(format!(
            "Read why the previous run ended: `kubectl logs -p -n {ns} {pod} -c {c}`{hint}. Fix the \
             cause (configuration, a dependency, the command), then let the pod restart or roll \
             out the fix; the back-off resets once the container keeps running.",
            ns = key.namespace,
            pod = key.name,
            c = c.name,
            hint = if hint.is_empty() { String::new() } else { format!(" ({hint})") },
        ));
    }
    for p in [
        "state.waiting.reason",
        "state.waiting.message",
        "lastState.terminated.reason",
        "lastState.terminated.exitCode",
        "lastState.terminated.message",
        "restartCount",
    ] {
        d.field(key, pod, &c.path(p));
    }
    if let Some((k, e)) = events.iter().find(|(_, e)| {
        s(e, "reason") == Some("BackOff")
            && event_container(e).is_none_or(|n| n == c.name)
            && s(e, "message").is_some_and(|m| m.contains("restarting failed container"))
    }) {
        d.event(k, e);
    }
    quote_logs(ctx, key, c, d, true);
}

fn oom(ctx: &Ctx, key: &ObjKey, pod: &Value, c: &Container, d: &mut Draft, now: bool) {
    let state = if now { "state" } else { "lastState" };
    let limit = c.spec.and_then(|sp| s(sp, "resources.limits.memory"));
    let restarts = i(c.status, "restartCount").unwrap_or(0);
    if d.title_is_empty() {
        d.title(format!(
            "Container {} of pod {}{} was OOMKilled (memory limit {}), {restarts} restarts",
            c.name,
            key.name,
            owner_hint(ctx, key, pod),
            limit.unwrap_or("none: the node ran out of memory")
        ));
        d.remediation(format!(
            "The kernel killed the container for using more memory than {}. Raise \
             resources.limits.memory (and requests) of container {} if the usage is expected, or \
             reduce what the process holds in memory (batch sizes, caches, heap settings such as \
             -Xmx or GOMEMLIMIT below the limit).",
            limit.map_or("the node had".to_string(), |l| format!("its limit {l}")),
            c.name
        ));
    }
    d.field(key, pod, &c.path(&format!("{state}.terminated.reason")));
    d.field(key, pod, &c.path(&format!("{state}.terminated.exitCode")));
    d.field(key, pod, &c.spec_path("resources.limits.memory"));
    d.field(key, pod, &c.path("state.waiting.reason"));
    d.field(key, pod, &c.path("restartCount"));
    // Usage near the limit, when metrics are available.
    let metrics = ObjKey::new("PodMetrics", &key.namespace, &key.name);
    if let Some(m) = ctx.snap.get(&metrics) {
        d.field(&metrics, m, &format!("containers[{}].usage.memory", c.name));
    }
    quote_logs(ctx, key, c, d, true);
}

fn liveness(
    ctx: &Ctx,
    key: &ObjKey,
    pod: &Value,
    c: &Container,
    d: &mut Draft,
    events: &[(&ObjKey, &Value)],
) {
    let restarts = i(c.status, "restartCount").unwrap_or(0);
    if c.waiting() == Some("CrashLoopBackOff") {
        d.severity(Severity::Critical);
    }
    if d.title_is_empty() {
        let failure = events
            .iter()
            .find(|(_, e)| s(e, "reason") == Some("Unhealthy"))
            .and_then(|(_, e)| s(e, "message"))
            .unwrap_or("Liveness probe failed");
        d.title(format!(
            "Container {} of pod {}{} is restarted by its liveness probe ({restarts} restarts): {}",
            c.name,
            key.name,
            owner_hint(ctx, key, pod),
            first_line(failure)
        ));
        d.remediation(
            "The kubelet kills the container when the liveness probe fails. Check whether the \
             process is really stuck (previous log) or merely slow: a probe that times out under \
             load needs a larger timeoutSeconds/failureThreshold, a health endpoint that does not \
             wait on busy workers, or a startupProbe for slow starts.",
        );
    }
    d.field(key, pod, &c.path("restartCount"));
    d.field(key, pod, &c.path("lastState.terminated.exitCode"));
    d.field(key, pod, &c.path("lastState.terminated.reason"));
    for (k, e) in events.iter().take(2) {
        d.event(k, e);
    }
    d.field(key, pod, &c.spec_path("livenessProbe"));
    quote_logs(ctx, key, c, d, true);
}

/// Why an image cannot be pulled, from the runtime's message.
fn pull_cause(text: &str) -> (&'static str, &'static str) {
    let lower = text.to_ascii_lowercase();
    let has = |words: &[&str]| words.iter().any(|w| lower.contains(w));
    if has(&["not found", "manifest unknown", "name unknown"]) {
        (
            "the image or tag does not exist in the registry",
            "Check the image reference (repository and tag) against the registry: push the missing \
             tag or correct the image in the workload's pod template.",
        )
    } else if has(&[
        "unauthorized",
        "authentication required",
        "denied",
        "403 forbidden",
        "401",
    ]) {
        (
            "the registry refused the credentials",
            "Create or fix the imagePullSecret (in the pod's namespace, referenced by the pod or \
             its service account) with credentials that may pull this repository.",
        )
    } else if has(&[
        "no such host",
        "i/o timeout",
        "connection refused",
        "dial tcp",
        "x509",
        "tls handshake",
        "network is unreachable",
    ]) {
        (
            "the node cannot reach the registry",
            "The node cannot reach the registry (DNS, network, proxy or TLS). In an air-gapped \
             site, mirror the image into the internal registry and reference it there (or \
             configure a containerd mirror); check that the registry's CA is trusted by the nodes.",
        )
    } else if has(&["toomanyrequests", "rate limit"]) {
        (
            "the registry rate-limits pulls",
            "Authenticate pulls or mirror the image into a registry without the limit.",
        )
    } else if has(&[
        "invalid reference format",
        "couldn't parse image",
        "invalidimagename",
    ]) {
        (
            "the image reference is not valid",
            "Fix the image reference in the pod template (repository[:tag][@digest]).",
        )
    } else {
        (
            "the image cannot be pulled",
            "Read the pull error in the pod's events, check the image reference, the registry's \
             reachability from the nodes and the pull credentials.",
        )
    }
}

fn image_pull(
    ctx: &Ctx,
    key: &ObjKey,
    pod: &Value,
    c: &Container,
    d: &mut Draft,
    reason: &str,
    events: &[(&ObjKey, &Value)],
) {
    let failed: Vec<&(&ObjKey, &Value)> = events
        .iter()
        .filter(|(_, e)| {
            s(e, "reason") == Some("Failed")
                && event_container(e).is_none_or(|n| n == c.name)
                && s(e, "message").is_some_and(|m| m.starts_with("Failed to pull image"))
        })
        .collect();
    let message = s(c.status, "state.waiting.message").unwrap_or_default();
    let pull_error = failed
        .first()
        .and_then(|(_, e)| s(e, "message"))
        .unwrap_or(message);
    let (cause, remediation) = pull_cause(if pull_error.is_empty() {
        reason
    } else {
        pull_error
    });
    let image = c
        .spec
        .and_then(|sp| s(sp, "image"))
        .or_else(|| s(c.status, "image"))
        .unwrap_or("?");
    if d.title_is_empty() {
        d.title(format!(
            "Pod {}{} cannot pull image {image}: {cause} ({reason})",
            key.name,
            owner_hint(ctx, key, pod)
        ));
        d.remediation(remediation);
    }
    d.field(key, pod, &c.path("state.waiting.reason"));
    d.field(key, pod, &c.path("state.waiting.message"));
    d.field(key, pod, &c.spec_path("image"));
    if let Some((k, e)) = failed.first() {
        d.event(k, e);
    }
}

/// The ConfigMap or Secret a `CreateContainerConfigError` message names, and the missing key.
/// Messages: `couldn't find key K in ConfigMap NS/NAME`, `… in Secret NS/NAME`,
/// `configmap "NAME" not found`, `secret "NAME" not found`.
fn config_ref<'a>(
    message: &'a str,
    namespace: &str,
) -> Option<(&'static str, String, Option<&'a str>)> {
    if let Some(rest) = message.strip_prefix("couldn't find key ") {
        let (k, rest) = rest.split_once(" in ")?;
        let (kind_word, target) = rest.split_once(' ')?;
        let kind = match kind_word {
            "ConfigMap" => "ConfigMap",
            "Secret" => "Secret",
            _ => return None,
        };
        let name = target.rsplit('/').next()?.trim();
        return Some((kind, name.to_string(), Some(k)));
    }
    for (word, kind) in [("configmap \"", "ConfigMap"), ("secret \"", "Secret")] {
        if let Some(rest) = message.strip_prefix(word)
            && let Some((name, tail)) = rest.split_once('"')
            && tail.trim() == "not found"
        {
            let _ = namespace;
            return Some((kind, name.to_string(), None));
        }
    }
    None
}

fn config_error(
    ctx: &Ctx,
    key: &ObjKey,
    pod: &Value,
    c: &Container,
    d: &mut Draft,
    events: &[(&ObjKey, &Value)],
) {
    let message = s(c.status, "state.waiting.message").unwrap_or_default();
    let target = config_ref(message, &key.namespace);
    if d.title_is_empty() {
        d.title(format!(
            "Pod {}{} cannot start container {}: {}",
            key.name,
            owner_hint(ctx, key, pod),
            c.name,
            if message.is_empty() {
                "CreateContainerConfigError"
            } else {
                message
            }
        ));
        d.remediation(match &target {
            Some((kind, name, Some(k))) => format!(
                "The container takes {k} from {kind} {name}, which has no such key. Add the key to \
                 the {kind} or fix the reference (env[].valueFrom / envFrom / volume items) in the \
                 pod template; the kubelet retries by itself."
            ),
            Some((kind, name, None)) => format!(
                "{kind} {name} does not exist in namespace {}. Create it (or fix the name in the \
                 pod template); the kubelet retries by itself.",
                key.namespace
            ),
            None => "Read the message: a ConfigMap, Secret or key the container needs is missing."
                .to_string(),
        });
    }
    d.field(key, pod, &c.path("state.waiting.reason"));
    d.field(key, pod, &c.path("state.waiting.message"));
    if let Some((k, e)) = events.iter().find(|(_, e)| {
        s(e, "reason") == Some("Failed") && event_container(e).is_none_or(|n| n == c.name)
    }) {
        d.event(k, e);
    }
    if let Some((kind, name, _)) = target {
        let obj_key = ObjKey::new(kind, &key.namespace, &name);
        d.object(&obj_key);
        if let Some(o) = ctx.snap.get(&obj_key) {
            // The keys it does have (the agent keeps key names only, never values).
            d.field(&obj_key, o, "dataKeys");
        }
    }
}

fn readiness(
    ctx: &Ctx,
    key: &ObjKey,
    pod: &Value,
    c: &Container,
    d: &mut Draft,
    events: &[(&ObjKey, &Value)],
) {
    if d.title_is_empty() {
        let failure = events
            .first()
            .and_then(|(_, e)| s(e, "message"))
            .unwrap_or("Readiness probe failed");
        d.title(format!(
            "Pod {}{} is running but not ready: {}",
            key.name,
            owner_hint(ctx, key, pod),
            first_line(failure)
        ));
        d.remediation(
            "The pod gets no traffic while its readiness probe fails. Find out why the endpoint \
             answers unhealthy (the container's log usually says: a dependency it cannot reach, \
             a wrong port or path) and fix that, or fix the probe if it checks the wrong thing.",
        );
    }
    d.field(key, pod, &c.path("ready"));
    for (k, e) in events.iter().take(1) {
        d.event(k, e);
    }
    d.field(key, pod, &c.spec_path("readinessProbe"));
    quote_logs(ctx, key, c, d, false);
}

fn first_line(s: &str) -> &str {
    s.lines().next().unwrap_or_default()
}

/// What the scheduler's message says, as (short cause, remediation) pairs, in message order.
fn scheduling_causes(message: &str, daemon: bool) -> Vec<(&'static str, &'static str)> {
    let mut causes = Vec::new();
    // The part after "preemption:" repeats the nodes' verdicts; only the first part counts.
    let main = message.split(" preemption:").next().unwrap_or(message);
    let table: &[(&[&str], &str, &str)] = &[
        (
            &["Insufficient "],
            "not enough allocatable resources",
            "lower the pod's resources.requests to what a node can offer, free capacity, or add nodes",
        ),
        (
            &[
                "didn't match Pod's node affinity/selector",
                "didn't match node selector",
            ],
            "no node matches the node selector/affinity",
            "fix spec.nodeSelector / nodeAffinity, or label the nodes that should run it",
        ),
        (
            &["untolerated taint", "had taint"],
            "the nodes carry taints the pod does not tolerate",
            "add a matching toleration, or remove the taint if it is stale",
        ),
        (
            &[
                "unbound immediate PersistentVolumeClaims",
                "persistentvolumeclaim",
                "didn't find available persistent volumes",
                "volume node affinity conflict",
            ],
            "a PersistentVolumeClaim cannot be bound",
            "fix the claim (see its own finding: StorageClass, capacity, access mode) so it binds",
        ),
        (
            &["didn't have free ports"],
            "a requested hostPort is already taken on the node",
            "free the hostPort on that node (another pod holds it) or drop hostPort from the pod",
        ),
        (
            &["Too many pods"],
            "the nodes reached their pod limit",
            "add nodes or raise the kubelet's maxPods",
        ),
        (
            &["pod affinity", "anti-affinity"],
            "pod (anti-)affinity rules cannot be satisfied",
            "relax the pod (anti-)affinity rules or add nodes in the required topology",
        ),
        (
            &["were unschedulable"],
            "nodes are cordoned",
            "uncordon the nodes once maintenance is done",
        ),
    ];
    for (needles, cause, fix) in table {
        // A DaemonSet pod targets one node through affinity: the other nodes' mismatch is normal.
        if daemon && cause.starts_with("no node matches") {
            continue;
        }
        if needles.iter().any(|n| main.contains(n)) {
            causes.push((*cause, *fix));
        }
    }
    causes
}

/// `pod.unschedulable`; true when the pod is unschedulable (nothing else to check then).
fn unschedulable(ctx: &Ctx, key: &ObjKey, pod: &Value, out: &mut Vec<super::Finding>) -> bool {
    let condition = item(pod, "status.conditions", "type", "PodScheduled")
        .filter(|c| s(c, "status") == Some("False"));
    let events = ctx.recent_events(key, "FailedScheduling");
    let scheduled = ne(pod, "spec.nodeName").is_some();
    let by_condition = condition.is_some_and(|c| s(c, "reason") == Some("Unschedulable"));
    if scheduled || (!by_condition && events.is_empty()) {
        return false;
    }
    let message = condition
        .and_then(|c| s(c, "message"))
        .or_else(|| events.first().and_then(|(_, e)| s(e, "message")))
        .unwrap_or("the scheduler found no node");
    let daemon = controller_of(key, pod).is_some_and(|o| o.kind == "DaemonSet");
    let causes = scheduling_causes(message, daemon);
    let mut d = Draft::new("pod.unschedulable", Severity::Critical, key);
    let short = message.split(" preemption:").next().unwrap_or(message);
    d.title(format!(
        "Pod {}{} cannot be scheduled: {short}",
        key.name,
        owner_hint(ctx, key, pod)
    ));
    let fixes: Vec<&str> = causes.iter().map(|(_, f)| *f).collect();
    d.remediation(if fixes.is_empty() {
        "Read the scheduler's message and fix what it names (requests, selectors, taints, volumes)."
            .to_string()
    } else {
        let mut text = fixes.join("; ");
        if let Some(first) = text.get(..1) {
            text = first.to_uppercase() + &text[1..];
        }
        text + "."
    });
    if condition.is_some() {
        d.field(key, pod, "status.conditions[PodScheduled].reason");
        d.field(key, pod, "status.conditions[PodScheduled].message");
    }
    if let Some((k, e)) = events.first() {
        d.event(k, e);
    }
    for (cause, _) in &causes {
        match *cause {
            "not enough allocatable resources" => {
                for c in arr(pod, "spec.containers") {
                    if let Some(name) = s(c, "name") {
                        d.field(
                            key,
                            pod,
                            &format!("spec.containers[{name}].resources.requests"),
                        );
                    }
                }
            }
            "no node matches the node selector/affinity" => {
                d.field(key, pod, "spec.nodeSelector");
                d.field(key, pod, "spec.affinity.nodeAffinity");
            }
            "the nodes carry taints the pod does not tolerate" => {
                d.field(key, pod, "spec.tolerations");
            }
            "a PersistentVolumeClaim cannot be bound" => {
                for v in arr(pod, "spec.volumes") {
                    let (Some(vol), Some(claim)) =
                        (s(v, "name"), s(v, "persistentVolumeClaim.claimName"))
                    else {
                        continue;
                    };
                    d.field(
                        key,
                        pod,
                        &format!("spec.volumes[{vol}].persistentVolumeClaim.claimName"),
                    );
                    let claim_key = ObjKey::new("PersistentVolumeClaim", &key.namespace, claim);
                    d.object(&claim_key);
                    if let Some(pvc) = ctx.snap.get(&claim_key) {
                        d.field(&claim_key, pvc, "status.phase");
                    }
                }
            }
            "a requested hostPort is already taken on the node" => {
                for c in arr(pod, "spec.containers") {
                    if let Some(name) = s(c, "name")
                        && arr(c, "ports").iter().any(|p| p.get("hostPort").is_some())
                    {
                        d.field(key, pod, &format!("spec.containers[{name}].ports"));
                    }
                }
            }
            _ => {}
        }
    }
    out.push(d.finish(ctx.now));
    true
}

impl Draft {
    fn title_is_empty(&self) -> bool {
        self.title.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn config_refs() {
        assert_eq!(
            config_ref(
                "couldn't find key DATABASE_URL in ConfigMap shop/orders-config",
                "shop"
            ),
            Some(("ConfigMap", "orders-config".into(), Some("DATABASE_URL")))
        );
        assert_eq!(
            config_ref("secret \"db\" not found", "shop"),
            Some(("Secret", "db".into(), None))
        );
        assert_eq!(config_ref("something else", "shop"), None);
        assert_eq!(
            config_ref("couldn't find key X in Volume a/b", "shop"),
            None
        );
    }

    #[test]
    fn scheduler_messages() {
        let m = "0/3 nodes are available: 1 node(s) didn't have free ports for the requested pod ports, 2 node(s) didn't match Pod's node affinity/selector. preemption: 0/3 nodes are available: 3 Insufficient memory.";
        let causes: Vec<&str> = scheduling_causes(m, true).iter().map(|c| c.0).collect();
        assert_eq!(
            causes,
            vec!["a requested hostPort is already taken on the node"]
        );
        let causes: Vec<&str> = scheduling_causes(m, false).iter().map(|c| c.0).collect();
        assert_eq!(causes.len(), 2, "{causes:?}");
        assert!(
            pull_cause("pull access denied, repository does not exist")
                .0
                .contains("credentials")
        );
    }
}
