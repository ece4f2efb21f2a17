//! The simulator's state and behaviour outside the store: scenario loading, container logs,
//! metrics availability, RBAC denials, fault injection and the scenario timeline.
//!
//! [`Sim`] is shared by every request (behind an `Arc`). Its runtime controls (faults, RBAC,
//! metrics mode, watch drops, compaction, time advance) are plain methods, used in-process by
//! the library's users and over HTTP by the `/_sim/` admin routes.

use std::collections::{BTreeSet, HashMap};
use std::path::PathBuf;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use serde::Deserialize;
use serde_json::{Value, json};
use time::OffsetDateTime;
use tokio::sync::{broadcast, watch};

use crate::error::{ApiError, SimError};
use crate::resources::{Registry, ResourceType, TypeId};
use crate::scenario::{self, Action, Rule, Scenario};
use crate::store::{DEFAULT_WINDOW, Store};
use crate::time::{
    expand_placeholder, expand_placeholders, now, now_rfc3339, parse_duration, parse_rfc3339,
    rfc3339,
};

/// The user named in 403 messages unless configured otherwise.
pub const DEFAULT_USER: &str = "system:serviceaccount:acorn:acorn-agent";

/// Whether `metrics.k8s.io` is served.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum MetricsMode {
    /// Served (from the scenarios' metrics.json).
    Available,
    /// No metrics-server: the group is absent, requests get 404.
    Absent,
    /// metrics-server registered but down: 503.
    Unavailable,
}

impl std::str::FromStr for MetricsMode {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "available" => Ok(MetricsMode::Available),
            "absent" => Ok(MetricsMode::Absent),
            "unavailable" => Ok(MetricsMode::Unavailable),
            _ => Err(format!(
                "metrics mode must be available, absent or unavailable, not {s:?}"
            )),
        }
    }
}

/// A denied verb on a resource, like a missing RBAC rule.
#[derive(Debug, Clone, Deserialize, PartialEq)]
pub struct DenyRule {
    /// Verbs (`get`, `list`, `watch`, `create`, `update`, `patch`, `delete`, `deletecollection`);
    /// empty = all.
    #[serde(default)]
    pub verbs: Vec<String>,
    /// Plural, optionally with a subresource (`pods`, `pods/log`, `deployments/scale`), or `*`.
    pub resource: String,
    /// API group; absent = any.
    #[serde(default)]
    pub group: Option<String>,
    /// Namespace; absent = all namespaces and cluster scope.
    #[serde(default)]
    pub namespace: Option<String>,
}

impl std::str::FromStr for DenyRule {
    type Err = String;
    /// `VERB[,VERB]:RESOURCE[:NAMESPACE]`, e.g. `list,watch:pods:shop` or `*:secrets`.
    fn from_str(s: &str) -> Result<Self, String> {
        let mut parts = s.split(':');
        let verbs = parts.next().unwrap_or_default();
        let resource = parts
            .next()
            .filter(|r| !r.is_empty())
            .ok_or_else(|| format!("deny rule {s:?}: expected VERBS:RESOURCE[:NAMESPACE]"))?;
        let namespace = parts.next().map(str::to_string);
        let (resource, group) = match resource.split_once('.') {
            Some((plural, group)) => (plural.to_string(), Some(group.to_string())),
            None => (resource.to_string(), None),
        };
        let verbs = if verbs == "*" {
            vec![]
        } else {
            verbs.split(',').map(str::to_string).collect()
        };
        Ok(DenyRule {
            verbs,
            resource,
            group,
            namespace,
        })
    }
}

/// An injected failure: the next `times` matching requests get `code`.
#[derive(Debug, Clone, Deserialize, PartialEq)]
pub struct FailRule {
    /// 429, 500, 503, or 410 (the expired-continue Status; any other code is a generic Status).
    pub code: u16,
    /// How many requests to fail; absent = until cleared.
    #[serde(default)]
    pub times: Option<u32>,
    /// `Retry-After` seconds for 429/503.
    #[serde(default = "one")]
    pub retry_after: u64,
    /// Only requests whose path and query contain this.
    #[serde(default)]
    pub path_contains: Option<String>,
    /// Only this HTTP method.
    #[serde(default)]
    pub method: Option<String>,
}

fn one() -> u64 {
    1
}

/// Runtime fault injection.
#[derive(Debug, Clone, Default, Deserialize, PartialEq)]
pub struct Faults {
    /// Delay before every API response.
    #[serde(default)]
    pub delay_ms: u64,
    #[serde(default)]
    pub fail: Option<FailRule>,
}

/// Start-up configuration.
#[derive(Debug, Clone)]
pub struct Config {
    /// Built-in scenarios to load; empty (and no dirs, no scale) = all of them.
    pub scenarios: Vec<String>,
    pub scenario_dirs: Vec<PathBuf>,
    /// Generated cluster: (nodes, pods).
    pub scale: Option<(usize, usize)>,
    /// Watch window per collection.
    pub window: usize,
    /// Timeline speed: 1.0 = real time, 0 = frozen (advance via [`Sim::advance`]).
    pub time_scale: f64,
    pub bookmark_interval: Duration,
    pub metrics: MetricsMode,
    pub user: String,
    pub deny: Vec<DenyRule>,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            scenarios: vec![],
            scenario_dirs: vec![],
            scale: None,
            window: DEFAULT_WINDOW,
            time_scale: 1.0,
            bookmark_interval: Duration::from_secs(60),
            metrics: MetricsMode::Available,
            user: DEFAULT_USER.into(),
            deny: vec![],
        }
    }
}

#[derive(Debug, Clone)]
pub struct LogLine {
    pub time: OffsetDateTime,
    pub text: String,
}

/// (namespace, pod, container, previous)
type LogKey = (String, String, String, bool);

struct Timeline {
    rules: Vec<(Rule, u64)>,
    started: Instant,
    advanced: f64,
}

/// The simulator.
pub struct Sim {
    pub store: Store,
    scenario_names: Vec<String>,
    logs: Mutex<HashMap<LogKey, Vec<LogLine>>>,
    log_tx: broadcast::Sender<(LogKey, LogLine)>,
    faults: Mutex<Faults>,
    deny: Mutex<Vec<DenyRule>>,
    user: String,
    metrics: Mutex<MetricsMode>,
    drops: watch::Sender<(u64, bool)>,
    timeline: Mutex<Timeline>,
    time_scale: f64,
    pub bookmark_interval: Duration,
    requests: Mutex<HashMap<String, u64>>,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

impl Sim {
    /// Loads the configured scenarios into a fresh store.
    pub fn load(config: &Config) -> Result<Sim, SimError> {
        let mut scenarios = vec![scenario::load_builtin(scenario::BASE)?];
        let all = config.scenarios.is_empty()
            && config.scenario_dirs.is_empty()
            && config.scale.is_none();
        let names = if all {
            scenario::builtin_names()
        } else {
            config.scenarios.clone()
        };
        for name in &names {
            scenarios.push(scenario::load_builtin(name)?);
        }
        for dir in &config.scenario_dirs {
            scenarios.push(scenario::load_dir(dir)?);
        }
        if let Some((nodes, pods)) = config.scale {
            scenarios.push(scenario::scale(nodes, pods));
        }
        Sim::from_scenarios(scenarios, config)
    }

    pub fn from_scenarios(mut scenarios: Vec<Scenario>, config: &Config) -> Result<Sim, SimError> {
        let base = now();
        for s in &mut scenarios {
            for v in s
                .objects
                .iter_mut()
                .chain(s.events.iter_mut())
                .chain(s.metrics.iter_mut())
            {
                expand_placeholders(v, base);
            }
        }
        let crds: Vec<Value> = scenarios
            .iter()
            .flat_map(|s| s.objects.iter())
            .filter(|o| o.get("kind").and_then(Value::as_str) == Some("CustomResourceDefinition"))
            .cloned()
            .collect();
        let mut registry = Registry::builtin();
        for object in scenarios
            .iter()
            .flat_map(|s| s.objects.iter().chain(s.metrics.iter()))
        {
            let text = |f: &str| object.get(f).and_then(Value::as_str).unwrap_or_default();
            registry.ensure_kind(
                text("apiVersion"),
                text("kind"),
                object.pointer("/metadata/namespace").is_some(),
                &crds,
            );
        }
        let registry = Arc::new(registry);
        let store = Store::new(registry.clone(), config.window);

        // Namespaces first (scenario-defined, then every namespace referenced), then the rest.
        let kind_id = |o: &Value| {
            let text = |f: &str| o.get(f).and_then(Value::as_str).unwrap_or_default();
            registry.by_kind(text("apiVersion"), text("kind"))
        };
        let ns_id = registry.by_kind("v1", "Namespace");
        let mut referenced = BTreeSet::new();
        for s in &scenarios {
            for o in s
                .objects
                .iter()
                .chain(s.events.iter())
                .chain(s.metrics.iter())
            {
                if let Some(ns) = o.pointer("/metadata/namespace").and_then(Value::as_str) {
                    referenced.insert(ns.to_string());
                }
            }
            referenced.extend(s.logs.iter().map(|l| l.namespace.clone()));
        }
        // Objects are moved, not cloned: a 10,000-pod scenario would otherwise double the peak.
        let mut namespaces: Vec<Value> = Vec::new();
        let mut rest: Vec<Value> = Vec::new();
        for s in &mut scenarios {
            for o in std::mem::take(&mut s.objects) {
                if kind_id(&o) == ns_id {
                    namespaces.push(o)
                } else {
                    rest.push(o)
                }
            }
            rest.append(&mut s.events);
            rest.append(&mut s.metrics);
        }
        for ns in referenced {
            namespaces.push(json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": ns, "creationTimestamp": rfc3339(base)},
                "spec": {"finalizers": ["kubernetes"]}, "status": {"phase": "Active"}}));
        }
        let ordered = namespaces.into_iter().chain(rest);
        for object in ordered {
            let Some(id) = kind_id(&object) else { continue };
            let mut object = object;
            if object.get("kind").and_then(Value::as_str) == Some("Namespace")
                && let Some(meta) = object.get_mut("metadata").and_then(Value::as_object_mut)
            {
                meta.entry("labels").or_insert_with(|| json!({}));
                let name = meta.get("name").cloned().unwrap_or(Value::Null);
                if let Some(labels) = meta.get_mut("labels").and_then(Value::as_object_mut) {
                    labels.insert("kubernetes.io/metadata.name".into(), name);
                }
            }
            // Shared objects (nodes, namespaces) appear in several scenarios: the first wins.
            let _ = store.create(id, object, true);
        }

        let mut logs: HashMap<LogKey, Vec<LogLine>> = HashMap::new();
        for s in &scenarios {
            for log in &s.logs {
                let end = if log.previous {
                    base - time::Duration::seconds(45)
                } else {
                    base
                };
                logs.insert(
                    (
                        log.namespace.clone(),
                        log.pod.clone(),
                        log.container.clone(),
                        log.previous,
                    ),
                    parse_log(&log.text, end, base),
                );
            }
        }
        let rules = scenarios
            .iter()
            .flat_map(|s| s.timeline.iter().cloned())
            .map(|r| (r, 0))
            .collect();
        Ok(Sim {
            store,
            scenario_names: scenarios
                .iter()
                .map(|s| s.name.clone())
                .filter(|n| n != scenario::BASE)
                .collect(),
            logs: Mutex::new(logs),
            log_tx: broadcast::channel(1024).0,
            faults: Mutex::new(Faults::default()),
            deny: Mutex::new(config.deny.clone()),
            user: config.user.clone(),
            metrics: Mutex::new(config.metrics),
            drops: watch::channel((0, false)).0,
            timeline: Mutex::new(Timeline {
                rules,
                started: Instant::now(),
                advanced: 0.0,
            }),
            time_scale: config.time_scale,
            bookmark_interval: config.bookmark_interval,
            requests: Mutex::new(HashMap::new()),
        })
    }

    pub fn scenario_names(&self) -> &[String] {
        &self.scenario_names
    }

    pub fn registry(&self) -> &Registry {
        self.store.registry()
    }

    /// Counts a served request by verb (`list`, `watch`, ...) and by verb and User-Agent
    /// product (`list:kubectl`), for tests and `/_sim/state`.
    pub fn count_request(&self, verb: &str, agent: &str) {
        let mut requests = lock(&self.requests);
        *requests.entry(verb.to_string()).or_default() += 1;
        *requests.entry(format!("{verb}:{agent}")).or_default() += 1;
    }

    pub fn request_counts(&self) -> HashMap<String, u64> {
        lock(&self.requests).clone()
    }

    // --- runtime controls -------------------------------------------------------------------

    pub fn set_faults(&self, faults: Faults) {
        *lock(&self.faults) = faults;
    }

    pub fn faults(&self) -> Faults {
        lock(&self.faults).clone()
    }

    /// The failure to inject for this request, if any (consumes one of `times`).
    pub fn take_failure(&self, method: &str, path: &str) -> Option<ApiError> {
        let mut faults = lock(&self.faults);
        let rule = faults.fail.as_mut()?;
        if rule
            .path_contains
            .as_deref()
            .is_some_and(|p| !path.contains(p))
            || rule
                .method
                .as_deref()
                .is_some_and(|m| !m.eq_ignore_ascii_case(method))
        {
            return None;
        }
        let error = match rule.code {
            429 => ApiError::too_many_requests(rule.retry_after),
            503 => ApiError::service_unavailable(Some(rule.retry_after)),
            500 => ApiError::internal("injected fault"),
            410 => crate::store::continue_expired(),
            code => ApiError::new(code, "InternalError", "injected fault"),
        };
        if let Some(times) = rule.times.as_mut() {
            *times = times.saturating_sub(1);
            if *times == 0 {
                faults.fail = None;
            }
        }
        Some(error)
    }

    pub fn set_deny(&self, rules: Vec<DenyRule>) {
        *lock(&self.deny) = rules;
    }

    pub fn set_metrics_mode(&self, mode: MetricsMode) {
        *lock(&self.metrics) = mode;
    }

    pub fn metrics_mode(&self) -> MetricsMode {
        *lock(&self.metrics)
    }

    /// Ends every open watch: abruptly (connection reset mid-stream) or cleanly.
    pub fn drop_watches(&self, clean: bool) {
        self.drops.send_modify(|(generation, c)| {
            *generation += 1;
            *c = clean;
        });
    }

    pub fn watch_drops(&self) -> watch::Receiver<(u64, bool)> {
        self.drops.subscribe()
    }

    /// Compaction: watch windows and list snapshots are dropped and open watches end, so
    /// every client's next watch gets the in-stream 410 and relists.
    pub fn compact(&self) {
        self.store.compact();
        self.drop_watches(true);
    }

    /// 403 when a deny rule matches (`sub` is the subresource, `name` the object, if any).
    pub fn authorize(
        &self,
        verb: &str,
        ty: &ResourceType,
        sub: Option<&str>,
        namespace: Option<&str>,
        name: Option<&str>,
    ) -> Result<(), ApiError> {
        let resource = match sub {
            Some(sub) => format!("{}/{sub}", ty.plural),
            None => ty.plural.clone(),
        };
        let denied = lock(&self.deny).iter().any(|rule| {
            (rule.verbs.is_empty() || rule.verbs.iter().any(|v| v == verb || v == "*"))
                && (rule.resource == "*" || rule.resource == resource)
                && rule
                    .group
                    .as_deref()
                    .is_none_or(|g| g == ty.group || g == "*")
                && rule
                    .namespace
                    .as_deref()
                    .is_none_or(|ns| Some(ns) == namespace)
        });
        if !denied {
            return Ok(());
        }
        let subject = match name {
            Some(name) => format!("{} \"{name}\"", ty.qualified_plural()),
            None => ty.qualified_plural(),
        };
        let scope = match namespace {
            Some(ns) => format!("in the namespace \"{ns}\""),
            None => "at the cluster scope".into(),
        };
        let mut error = ApiError::new(
            403,
            "Forbidden",
            format!(
                "{subject} is forbidden: User \"{}\" cannot {verb} resource \"{resource}\" in API group \"{}\" {scope}",
                self.user, ty.group
            ),
        );
        let mut details = json!({"kind": ty.plural});
        if let Some(name) = name {
            details["name"] = json!(name);
        }
        if !ty.group.is_empty() {
            details["group"] = json!(ty.group);
        }
        error.details = Some(details);
        Err(error)
    }

    /// `SelfSubjectAccessReview`: would this request be allowed?
    pub fn allowed(
        &self,
        verb: &str,
        ty: &ResourceType,
        sub: Option<&str>,
        namespace: Option<&str>,
    ) -> bool {
        self.authorize(verb, ty, sub, namespace, None).is_ok()
    }

    pub fn user(&self) -> &str {
        &self.user
    }

    // --- logs ----------------------------------------------------------------------------

    pub fn log_lines(
        &self,
        namespace: &str,
        pod: &str,
        container: &str,
        previous: bool,
    ) -> Option<Vec<LogLine>> {
        lock(&self.logs)
            .get(&(
                namespace.to_string(),
                pod.to_string(),
                container.to_string(),
                previous,
            ))
            .cloned()
    }

    pub fn follow_logs(&self) -> broadcast::Receiver<((String, String, String, bool), LogLine)> {
        self.log_tx.subscribe()
    }

    /// Appends a line to a container's current log (followers see it).
    pub fn append_log(&self, namespace: &str, pod: &str, container: &str, text: &str) {
        let key = (
            namespace.to_string(),
            pod.to_string(),
            container.to_string(),
            false,
        );
        let line = LogLine {
            time: now(),
            text: text.to_string(),
        };
        lock(&self.logs)
            .entry(key.clone())
            .or_default()
            .push(line.clone());
        let _ = self.log_tx.send((key, line));
    }

    // --- controllers -----------------------------------------------------------------------

    /// The ReplicaSet controller, reduced to what troubleshooting needs: a deleted pod owned by
    /// an existing ReplicaSet is replaced by a new pod (same spec and node) that starts in
    /// ContainerCreating and, 5 s of scenario time later, reaches the state the deleted pod was
    /// in — so a crashing pod that is deleted comes back and crashes again, as it would.
    pub fn replace_pod(&self, deleted: &Value) {
        let Some(owner) = deleted
            .pointer("/metadata/ownerReferences")
            .and_then(Value::as_array)
            .and_then(|refs| {
                refs.iter().find(|r| {
                    r.get("kind").and_then(Value::as_str) == Some("ReplicaSet")
                        && r.get("controller").and_then(Value::as_bool) == Some(true)
                })
            })
            .and_then(|r| r.get("name").and_then(Value::as_str))
        else {
            return;
        };
        let namespace = deleted
            .pointer("/metadata/namespace")
            .and_then(Value::as_str)
            .unwrap_or_default();
        let (Some(rs_id), Some(pod_id)) = (
            self.registry().by_kind("apps/v1", "ReplicaSet"),
            self.registry().by_kind("v1", "Pod"),
        ) else {
            return;
        };
        if self.store.get(rs_id, namespace, owner).is_err() {
            return;
        }
        let name = format!("{owner}-{}", random_suffix());
        let mut pod = deleted.clone();
        let mut final_status = deleted.get("status").cloned().unwrap_or_else(|| json!({}));
        if let Some(statuses) = final_status
            .get_mut("containerStatuses")
            .and_then(Value::as_array_mut)
        {
            for status in statuses.iter_mut() {
                // A container that was crashing has crashed once more by the time it is seen.
                let crashed = status.pointer("/lastState/terminated").is_some();
                set(status, "restartCount", json!(u8::from(crashed)));
            }
        }
        let creating: Vec<Value> = deleted
            .pointer("/spec/containers")
            .and_then(Value::as_array)
            .map(|cs| {
                cs.iter()
                    .map(|c| {
                        json!({"name": c.get("name"), "image": c.get("image"), "imageID": "", "ready": false, "started": false,
                            "restartCount": 0, "state": {"waiting": {"reason": "ContainerCreating"}}, "lastState": {}})
                    })
                    .collect()
            })
            .unwrap_or_default();
        let stamp = now_rfc3339();
        if let Some(meta) = pod.get_mut("metadata").and_then(Value::as_object_mut) {
            meta.insert("name".into(), json!(name));
            for field in [
                "uid",
                "resourceVersion",
                "creationTimestamp",
                "deletionTimestamp",
                "deletionGracePeriodSeconds",
            ] {
                meta.remove(field);
            }
        }
        set(
            &mut pod,
            "status",
            json!({
                "phase": "Pending",
                "hostIP": deleted.pointer("/status/hostIP"),
                "startTime": stamp,
                "conditions": [
                    {"type": "PodScheduled", "status": "True", "lastProbeTime": null, "lastTransitionTime": stamp},
                    {"type": "Ready", "status": "False", "reason": "ContainersNotReady", "lastProbeTime": null, "lastTransitionTime": stamp},
                ],
                "containerStatuses": creating,
            }),
        );
        if self.store.create(pod_id, pod, false).is_err() {
            return;
        }
        let mut timeline = lock(&self.timeline);
        let elapsed =
            timeline.started.elapsed().as_secs_f64() * self.time_scale + timeline.advanced;
        let rule = Rule {
            after: Some(format!("{}s", (elapsed + 5.0).ceil() as u64)),
            every: None,
            action: Action::MergePatch {
                api_version: "v1".into(),
                kind: "Pod".into(),
                namespace: namespace.to_string(),
                name,
                patch: json!({"status": final_status}),
            },
        };
        // The scenario's timeline follows the pod to its replacement.
        let old_name = deleted
            .pointer("/metadata/name")
            .and_then(Value::as_str)
            .unwrap_or_default();
        let new_name = match &rule.action {
            Action::MergePatch { name, .. } => name.clone(),
            _ => String::new(),
        };
        // The new containers print what the old ones did.
        {
            let mut logs = lock(&self.logs);
            let copies: Vec<(LogKey, Vec<LogLine>)> = logs
                .iter()
                .filter(|((ns, pod, _, _), _)| ns == namespace && pod == old_name)
                .map(|((ns, _, c, previous), lines)| {
                    (
                        (ns.clone(), new_name.clone(), c.clone(), *previous),
                        lines.clone(),
                    )
                })
                .collect();
            logs.extend(copies);
        }
        for (existing, _) in timeline.rules.iter_mut() {
            match &mut existing.action {
                Action::Restart {
                    namespace: ns, pod, ..
                }
                | Action::AppendLog {
                    namespace: ns, pod, ..
                } if ns == namespace && pod == old_name => {
                    *pod = new_name.clone();
                }
                _ => {}
            }
        }
        timeline.rules.push((rule, 0));
    }

    // --- timeline ------------------------------------------------------------------------

    /// Moves the scenario clock forward by `seconds` and fires what became due.
    pub fn advance(&self, seconds: f64) {
        lock(&self.timeline).advanced += seconds.max(0.0);
        self.tick();
    }

    /// Fires every timeline rule that is due on the scenario clock.
    pub fn tick(&self) {
        let due: Vec<Action> = {
            let mut timeline = lock(&self.timeline);
            let elapsed =
                timeline.started.elapsed().as_secs_f64() * self.time_scale + timeline.advanced;
            let mut due = Vec::new();
            for (rule, fired) in timeline.rules.iter_mut() {
                let secs = |s: &Option<String>| {
                    s.as_deref()
                        .and_then(parse_duration)
                        .map(|d| d.as_seconds_f64())
                };
                let after = secs(&rule.after).unwrap_or(0.0);
                let want = match secs(&rule.every) {
                    Some(every) if every > 0.0 => {
                        if elapsed < after {
                            0
                        } else {
                            ((elapsed - after) / every).floor() as u64
                        }
                    }
                    _ => u64::from(elapsed >= after && rule.after.is_some()),
                };
                // Catch up at most a few firings per tick after a big jump.
                while *fired < want && due.len() < 1000 {
                    *fired += 1;
                    due.push(rule.action.clone());
                }
            }
            due
        };
        for action in due {
            if let Err(e) = self.apply(&action) {
                tracing::warn!(?action, error = %e, "timeline action failed");
            }
        }
    }

    fn type_id(&self, api_version: &str, kind: &str) -> Result<TypeId, ApiError> {
        self.registry()
            .by_kind(api_version, kind)
            .ok_or_else(ApiError::path_not_found)
    }

    fn apply(&self, action: &Action) -> Result<(), ApiError> {
        let stamp = now_rfc3339();
        match action {
            Action::Restart {
                namespace,
                pod,
                container,
            } => {
                let id = self.type_id("v1", "Pod")?;
                self.store.update(id, namespace, pod, |current| {
                    let mut pod = current.clone();
                    if let Some(statuses) = pod
                        .pointer_mut("/status/containerStatuses")
                        .and_then(Value::as_array_mut)
                    {
                        for status in statuses
                            .iter_mut()
                            .filter(|s| s.get("name").and_then(Value::as_str) == Some(container))
                        {
                            let count = status
                                .get("restartCount")
                                .and_then(Value::as_i64)
                                .unwrap_or(0);
                            set(status, "restartCount", json!(count.saturating_add(1)));
                            if let Some(terminated) = status
                                .pointer_mut("/lastState/terminated")
                                .and_then(Value::as_object_mut)
                            {
                                terminated.insert("finishedAt".into(), json!(stamp));
                            }
                            if let Some(running) = status
                                .pointer_mut("/state/running")
                                .and_then(Value::as_object_mut)
                            {
                                running.insert("startedAt".into(), json!(stamp));
                            }
                        }
                    }
                    Ok(pod)
                })?;
            }
            Action::RepeatEvent { namespace, event } => {
                let id = self.type_id("v1", "Event")?;
                self.store.update(id, namespace, event, |current| {
                    let mut ev = current.clone();
                    let count = ev.get("count").and_then(Value::as_i64).unwrap_or(1);
                    set(&mut ev, "count", json!(count.saturating_add(1)));
                    set(&mut ev, "lastTimestamp", json!(stamp));
                    Ok(ev)
                })?;
            }
            Action::NodeNotReady { node } => {
                let id = self.type_id("v1", "Node")?;
                self.store.update(id, "", node, |current| {
                    let mut n = current.clone();
                    if let Some(conditions) = n.pointer_mut("/status/conditions").and_then(Value::as_array_mut) {
                        for c in conditions.iter_mut() {
                            set(c, "status", json!("Unknown"));
                            set(c, "reason", json!("NodeStatusUnknown"));
                            set(c, "message", json!("Kubelet stopped posting node status."));
                            set(c, "lastTransitionTime", json!(stamp));
                        }
                    }
                    let taints = json!([
                        {"key": "node.kubernetes.io/unreachable", "effect": "NoSchedule", "timeAdded": stamp},
                        {"key": "node.kubernetes.io/unreachable", "effect": "NoExecute", "timeAdded": stamp},
                    ]);
                    if n.get("spec").is_none_or(|s| !s.is_object()) {
                        set(&mut n, "spec", json!({}));
                    }
                    if let Some(spec) = n.get_mut("spec") {
                        set(spec, "taints", taints);
                    }
                    Ok(n)
                })?;
            }
            Action::MergePatch {
                api_version,
                kind,
                namespace,
                name,
                patch,
            } => {
                let id = self.type_id(api_version, kind)?;
                let mut patch = patch.clone();
                expand_placeholders(&mut patch, now());
                self.store.update(id, namespace, name, |current| {
                    let mut next = current.clone();
                    json_patch::merge(&mut next, &patch);
                    Ok(next)
                })?;
            }
            Action::AppendLog {
                namespace,
                pod,
                container,
                line,
            } => self.append_log(namespace, pod, container, line),
        }
        Ok(())
    }
}

/// Five characters like the API server's generated-name suffixes.
pub(crate) fn random_suffix() -> String {
    const ALPHABET: &[u8] = b"bcdfghjklmnpqrstvwxz2456789";
    static COUNTER: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
    let seed = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos() as u64)
        .unwrap_or(0);
    let mut x = seed
        ^ 0x9E37_79B9_7F4A_7C15
        ^ COUNTER
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed)
            .wrapping_mul(0xA24B_AED4_963E_E407);
    (0..5)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            ALPHABET[(x % ALPHABET.len() as u64) as usize] as char
        })
        .collect()
}

/// Sets a field when `target` is an object (objects edited through the API may have any shape).
fn set(target: &mut Value, key: &str, value: Value) {
    if let Some(map) = target.as_object_mut() {
        map.insert(key.to_string(), value);
    }
}

/// Splits a log file into lines with times: a leading RFC 3339 timestamp or `{{now-…}}`
/// placeholder is the line's time; other lines get one-second steps ending at `end`.
fn parse_log(text: &str, end: OffsetDateTime, base: OffsetDateTime) -> Vec<LogLine> {
    let raw: Vec<&str> = text.lines().collect();
    let count = raw.len() as i64;
    raw.iter()
        .enumerate()
        .map(|(i, line)| {
            let synthetic = end - time::Duration::seconds(count - 1 - i as i64);
            match line.split_once(' ') {
                Some((first, rest)) => {
                    let stamped = parse_rfc3339(first).or_else(|| {
                        expand_placeholder(first, base)
                            .as_deref()
                            .and_then(parse_rfc3339)
                    });
                    match stamped {
                        Some(time) => LogLine {
                            time,
                            text: rest.to_string(),
                        },
                        None => LogLine {
                            time: synthetic,
                            text: line.to_string(),
                        },
                    }
                }
                None => LogLine {
                    time: synthetic,
                    text: line.to_string(),
                },
            }
        })
        .collect()
}
