//! The analyzers against the simulator's scenario library (`kubesim/scenarios/`), the lifecycle,
//! incremental evaluation against full passes, and garbage input. One test binary.
//!
//! The scenario table below is the contract: for every scenario folder, the exact set of
//! (rule, primary object) the analyzers report, and substrings the findings' evidence must
//! carry. A folder missing from the table, or a table row without a folder, fails the test, so
//! the library and the rules cannot drift apart silently.

use std::collections::{BTreeSet, HashSet};
use std::path::{Path, PathBuf};

use acorn_findings::scenario::{self, ScenarioError};
use acorn_findings::{
    Analyzer, Finding, FindingState, RULES, Snapshot, Tracker, TransitionKind, analyze,
};
use acorn_proto::agent::{Change, Resource};
use serde_json::{Value, json};

type Expected = &'static [(&'static str, &'static str, &'static [&'static str])];

/// scenario → [(rule, primary object, substrings its evidence must contain)].
const TABLE: &[(&str, Expected)] = &[
    ("healthy", &[]),
    (
        "crashloop",
        &[
            (
                "pod.crash_loop",
                "Pod/crashloop/checkout-7c9d8f6b5-x2k4p",
                &[
                    "CrashLoopBackOff",
                    "panic: invalid value for MAX_CONNECTIONS",
                    "Back-off restarting failed container app",
                ],
            ),
            (
                "deployment.unavailable",
                "Deployment/crashloop/checkout",
                &["MinimumReplicasUnavailable", "CrashLoopBackOff"],
            ),
            (
                "service.no_ready_endpoints",
                "Service/crashloop/checkout",
                &["10.244.1.23"],
            ),
        ],
    ),
    (
        "imagepull",
        &[
            (
                "pod.image_pull",
                "Pod/imagepull/frontend-5f6d7c8b9-9wq7m",
                &[
                    "ImagePullBackOff",
                    "v2.4.0-rc1: not found",
                    "Failed to pull image",
                ],
            ),
            (
                "pod.image_pull",
                "Pod/imagepull/frontend-5f6d7c8b9-h4tzl",
                &["ImagePullBackOff", "not found"],
            ),
            (
                "deployment.unavailable",
                "Deployment/imagepull/frontend",
                &["ImagePullBackOff"],
            ),
        ],
    ),
    (
        "oomkilled",
        &[
            (
                "pod.oom_killed",
                "Pod/oomkilled/report-worker-6b8c9d7f4-q8r2n",
                &["OOMKilled", "137", "256Mi", "261120Ki"],
            ),
            (
                "deployment.unavailable",
                "Deployment/oomkilled/report-worker",
                &["CrashLoopBackOff"],
            ),
        ],
    ),
    (
        "pending-resources",
        &[
            (
                "pod.unschedulable",
                "Pod/pending-resources/search-indexer-84c6f7d9b-2lmxv",
                &["3 Insufficient memory", "16Gi"],
            ),
            (
                "deployment.unavailable",
                "Deployment/pending-resources/search-indexer",
                &["Insufficient memory"],
            ),
        ],
    ),
    (
        "pending-selector",
        &[
            (
                "pod.unschedulable",
                "Pod/pending-selector/ml-inference-7f5b6c4d8-vn6ps",
                &[
                    "didn't match Pod's node affinity/selector",
                    "nvidia-tesla-t4",
                ],
            ),
            (
                "deployment.unavailable",
                "Deployment/pending-selector/ml-inference",
                &[],
            ),
        ],
    ),
    (
        "readiness-probe",
        &[
            (
                "pod.readiness_failing",
                "Pod/readiness-probe/catalog-api-c4d5e6f78-8kq2d",
                &[
                    "Readiness probe failed: HTTP probe failed with statuscode: 503",
                    "search.catalog.svc",
                ],
            ),
            (
                "pod.readiness_failing",
                "Pod/readiness-probe/catalog-api-c4d5e6f78-tm9xw",
                &["statuscode: 503"],
            ),
            (
                "deployment.unavailable",
                "Deployment/readiness-probe/catalog-api",
                &[],
            ),
            (
                "service.no_ready_endpoints",
                "Service/readiness-probe/catalog-api",
                &["notReady", "10.244.1.41"],
            ),
        ],
    ),
    (
        "liveness-probe",
        &[(
            "pod.liveness_restarts",
            "Pod/liveness-probe/queue-consumer-59d8b7c6a-rx5jd",
            &[
                "Liveness probe failed",
                "failed liveness probe, will be restarted",
                "14",
                "worker pool saturated",
            ],
        )],
    ),
    (
        "config-missing-key",
        &[
            (
                "pod.config_error",
                "Pod/config-missing-key/orders-5c7b8d9e6-j7wkt",
                &[
                    "CreateContainerConfigError",
                    "couldn't find key DATABASE_URL in ConfigMap config-missing-key/orders-config",
                    "DB_URL",
                ],
            ),
            (
                "deployment.unavailable",
                "Deployment/config-missing-key/orders",
                &[],
            ),
        ],
    ),
    (
        "job-backoff",
        &[(
            "job.backoff_limit_exceeded",
            "Job/job-backoff/nightly-report-29409120",
            &[
                "BackoffLimitExceeded",
                "Job has reached the specified backoff limit",
                "password authentication failed for user \"reports\"",
            ],
        )],
    ),
    (
        "service-no-endpoints",
        &[(
            "service.no_endpoints",
            "Service/service-no-endpoints/payments-api",
            &["{\"app\":\"payments-api\"}", "\"app\":\"payments\"", "null"],
        )],
    ),
    (
        "pvc-pending",
        &[
            (
                "pvc.pending",
                "PersistentVolumeClaim/pvc-pending/data-orders-db-0",
                &[
                    "fast-ssd",
                    "storageclass.storage.k8s.io \"fast-ssd\" not found",
                ],
            ),
            (
                "pod.unschedulable",
                "Pod/pvc-pending/orders-db-0",
                &[
                    "unbound immediate PersistentVolumeClaims",
                    "data-orders-db-0",
                ],
            ),
            (
                "statefulset.not_ready",
                "StatefulSet/pvc-pending/orders-db",
                &[],
            ),
        ],
    ),
    (
        "node-notready",
        &[
            (
                "node.not_ready",
                "Node/worker-4",
                &[
                    "Unknown",
                    "Kubelet stopped posting node status.",
                    "node.kubernetes.io/unreachable",
                ],
            ),
            (
                "object.terminating_stuck",
                "Pod/node-notready/etl-runner-8e7f6d5c4-kq7vb",
                &["Kubelet stopped posting node status."],
            ),
            (
                "object.terminating_stuck",
                "Pod/node-notready/etl-runner-8e7f6d5c4-zp3hd",
                &[],
            ),
        ],
    ),
    (
        "cronjob-not-scheduling",
        &[(
            "cronjob.not_scheduling",
            "CronJob/cronjob-not-scheduling/invoice-sync",
            &[
                "*/10 * * * *",
                "Forbid",
                "JobAlreadyActive: Not starting job because prior execution is running and concurrency policy is Forbid",
                "invoice-sync-29409060",
            ],
        )],
    ),
    (
        "deployment-rollout-stuck",
        &[
            (
                "deployment.rollout_stuck",
                "Deployment/deployment-rollout-stuck/api-gateway",
                &[
                    "ProgressDeadlineExceeded",
                    "ReplicaSet \"api-gateway-7d4b9c8f6\" has timed out progressing.",
                ],
            ),
            (
                "pod.readiness_failing",
                "Pod/deployment-rollout-stuck/api-gateway-7d4b9c8f6-wx5pk",
                &["connect: connection refused", ":9090"],
            ),
        ],
    ),
    (
        "statefulset-not-ready",
        &[
            (
                "statefulset.not_ready",
                "StatefulSet/statefulset-not-ready/redis",
                &["3"],
            ),
            (
                "pod.readiness_failing",
                "Pod/statefulset-not-ready/redis-1",
                &[
                    "master_link_status:down",
                    "-NOAUTH Authentication required.",
                ],
            ),
        ],
    ),
    (
        "daemonset-not-ready",
        &[
            (
                "daemonset.not_ready",
                "DaemonSet/daemonset-not-ready/log-shipper",
                &["didn't have free ports"],
            ),
            (
                "pod.unschedulable",
                "Pod/daemonset-not-ready/log-shipper-zt8wn",
                &[
                    "didn't have free ports for the requested pod ports",
                    "\"hostPort\":2020",
                ],
            ),
        ],
    ),
    (
        "ingress-missing-service",
        &[(
            "ingress.backend_missing",
            "Ingress/ingress-missing-service/shop",
            &["shop-api"],
        )],
    ),
    (
        "node-pressure",
        &[(
            "node.memory_pressure",
            "Node/worker-6",
            &[
                "kubelet has insufficient memory available",
                "The node was low on resource: memory.",
                "Attempting to reclaim memory",
                "5744640Ki",
            ],
        )],
    ),
    (
        "hpa-unable-to-scale",
        &[
            (
                "hpa.unable_to_scale",
                "HorizontalPodAutoscaler/hpa-unable-to-scale/api",
                &[
                    "FailedGetResourceMetric",
                    "missing request for cpu in container app",
                ],
            ),
            (
                "hpa.at_max_replicas",
                "HorizontalPodAutoscaler/hpa-unable-to-scale/queue-worker",
                &["TooManyReplicas", "185"],
            ),
        ],
    ),
    (
        "resourcequota-exceeded",
        &[
            (
                "quota.exceeded",
                "Deployment/resourcequota-exceeded/reports-api",
                &[
                    "exceeded quota: team-quota, requested: limits.memory=1Gi, used: limits.memory=4Gi, limited: limits.memory=4Gi",
                ],
            ),
            (
                "deployment.unavailable",
                "Deployment/resourcequota-exceeded/reports-api",
                &["MinimumReplicasUnavailable"],
            ),
        ],
    ),
    (
        "terminating-stuck",
        &[(
            "object.terminating_stuck",
            "PersistentVolumeClaim/terminating-stuck/data-legacy-db-0",
            &["kubernetes.io/pvc-protection", "data-legacy-db-0"],
        )],
    ),
    (
        "job-deadline",
        &[(
            "job.deadline_exceeded",
            "Job/job-deadline/db-backup-29409240",
            &[
                "DeadlineExceeded",
                "Job was active longer than specified deadline",
                "3600",
                "received SIGTERM",
            ],
        )],
    ),
];

/// Rules that no scenario covers, each tested by a variant of a scenario below.
const VARIANT_RULES: &[&str] = &["job.failed", "node.disk_pressure", "node.pid_pressure"];

fn library() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../kubesim/scenarios")
}

/// `_base` and the scenario, as the simulator serves them together, with the logs.
fn load(name: &str, now: i64) -> (Vec<Resource>, Snapshot) {
    let base = scenario::load_at(&library().join("_base"), now).unwrap_or_else(|e| panic!("{e}"));
    let dir = library().join(name);
    let own = scenario::load_at(&dir, now).unwrap_or_else(|e| panic!("{e}"));
    let resources = scenario::merge([base, own]);
    let mut snapshot = Snapshot::from_resources(resources.clone());
    snapshot.set_logs(scenario::load_logs(&dir).unwrap_or_else(|e| panic!("{e}")));
    (resources, snapshot)
}

fn primary(f: &Finding) -> String {
    f.primary().map(|o| o.display()).unwrap_or_default()
}

/// Every string in a scenario folder's raw files (read without the crate's loader).
fn raw_strings(dir: &Path) -> HashSet<String> {
    fn walk(v: &Value, out: &mut HashSet<String>) {
        match v {
            Value::String(s) => {
                out.insert(s.clone());
            }
            Value::Array(items) => items.iter().for_each(|x| walk(x, out)),
            Value::Object(map) => map.values().for_each(|x| walk(x, out)),
            _ => {}
        }
    }
    let mut out = HashSet::new();
    for dir in [dir.to_path_buf(), library().join("_base")] {
        for file in ["objects.json", "events.json", "metrics.json"] {
            if let Ok(text) = std::fs::read_to_string(dir.join(file)) {
                let v: Value =
                    serde_json::from_str(&text).unwrap_or_else(|e| panic!("{file}: {e}"));
                walk(&v, &mut out);
            }
        }
    }
    out
}

fn raw_log_lines(dir: &Path) -> HashSet<String> {
    let mut out = HashSet::new();
    if let Ok(entries) = std::fs::read_dir(dir.join("logs")) {
        for e in entries.flatten() {
            let text = std::fs::read_to_string(e.path()).unwrap_or_default();
            for line in text.lines() {
                // The line as a client sees it: a leading timestamp or placeholder is not text.
                let shown = match line.split_once(' ') {
                    Some((first, rest)) if first.starts_with("{{") || first.ends_with('Z') => rest,
                    _ => line,
                };
                out.insert(shown.to_string());
            }
        }
    }
    out
}

/// `ns/Kind/name` or `Kind/name` (expected.yaml's `affected`) as `Kind/ns/name` / `Kind/name`.
fn affected_display(a: &str) -> String {
    let parts: Vec<&str> = a.split('/').collect();
    match parts.as_slice() {
        [ns, kind, name] => format!("{kind}/{ns}/{name}"),
        _ => a.to_string(),
    }
}

#[test]
fn every_scenario_reports_exactly_its_findings_with_real_evidence() {
    let now = scenario::now();
    let mut folders: BTreeSet<String> = std::fs::read_dir(library())
        .unwrap_or_else(|e| panic!("{e}"))
        .flatten()
        .filter(|e| e.path().is_dir())
        .filter_map(|e| e.file_name().into_string().ok())
        .filter(|n| !n.starts_with('_'))
        .collect();
    let mut fired_rules = BTreeSet::new();
    for (name, expected) in TABLE {
        assert!(
            folders.remove(*name),
            "table row {name} has no scenario folder"
        );
        let dir = library().join(name);
        let (_, snapshot) = load(name, now);
        let findings = analyze(&snapshot, now);
        let got: BTreeSet<(String, String)> = findings
            .iter()
            .map(|f| (f.rule.clone(), primary(f)))
            .collect();
        let want: BTreeSet<(String, String)> = expected
            .iter()
            .map(|(r, p, _)| (r.to_string(), p.to_string()))
            .collect();
        assert_eq!(got, want, "{name}: (rule, primary) set");
        assert_eq!(
            findings.len(),
            got.len(),
            "{name}: one finding per rule and object"
        );

        let strings = raw_strings(&dir);
        let lines = raw_log_lines(&dir);
        for f in &findings {
            fired_rules.insert(f.rule.clone());
            assert!(
                !f.title.is_empty() && !f.remediation.is_empty(),
                "{name}: {f:?}"
            );
            assert!(!f.evidence.is_empty(), "{name}: {} has no evidence", f.rule);
            assert_eq!(f.state, FindingState::Active);
            assert_eq!((f.first_seen, f.last_seen, f.count), (now, now, 1));
            assert_eq!(
                f.id,
                acorn_findings::finding_id(
                    &f.rule,
                    &acorn_findings::ObjKey::new(
                        &f.objects[0].kind,
                        f.objects[0].namespace.as_deref().unwrap_or_default(),
                        &f.objects[0].name,
                    )
                )
            );
            for e in &f.evidence {
                // 1. The source resolves, in the snapshot, to exactly the text.
                let resolved = snapshot
                    .resolve(&e.source)
                    .unwrap_or_else(|| panic!("{name}: {} does not resolve", e.source));
                if e.source.contains(" logs[") {
                    assert!(resolved.lines().any(|l| l == e.text), "{name}: {e:?}");
                    // 2. and the line is in the scenario's log files.
                    assert!(
                        lines.contains(&e.text),
                        "{name}: log line not in the files: {e:?}"
                    );
                } else {
                    assert_eq!(resolved, e.text, "{name}: {}", e.source);
                }
                // 2. Strings are really in the scenario's files (events: reason and message).
                if e.source.starts_with("Event/") {
                    let (reason, message) = e.text.split_once(": ").unwrap_or_default();
                    assert!(
                        strings.contains(reason) && strings.contains(message),
                        "{name}: {e:?}"
                    );
                } else if !e.source.contains(" logs[")
                    && !e.text.starts_with(['{', '['])
                    && !e.text.ends_with('Z')
                    && e.text.parse::<f64>().is_err()
                    && !matches!(e.text.as_str(), "true" | "false" | "null")
                {
                    assert!(
                        strings.contains(&e.text),
                        "{name}: {e:?} not in the scenario files"
                    );
                }
            }
        }
        for (rule, object, needles) in *expected {
            let f = findings
                .iter()
                .find(|f| f.rule == *rule && primary(f) == *object)
                .unwrap_or_else(|| panic!("{name}: {rule} {object}"));
            let text: String = f
                .evidence
                .iter()
                .map(|e| format!("{} = {}\n", e.source, e.text))
                .collect();
            for needle in *needles {
                assert!(
                    text.contains(needle),
                    "{name}: {rule} evidence lacks {needle:?}:\n{text}"
                );
            }
        }

        // expected.yaml agrees: no findings exactly for the healthy controls, and the first
        // affected object is what a finding is about.
        let doc: Value = serde_saphyr::from_str(
            &std::fs::read_to_string(dir.join("expected.yaml"))
                .unwrap_or_else(|e| panic!("{name}: {e}")),
        )
        .unwrap_or_else(|e| panic!("{name}: {e}"));
        assert_eq!(
            doc["expect_no_findings"] == json!(true),
            findings.is_empty(),
            "{name}"
        );
        if let Some(first) = doc["affected"]
            .as_array()
            .and_then(|a| a.first())
            .and_then(Value::as_str)
        {
            let first = affected_display(first);
            assert!(
                findings
                    .iter()
                    .any(|f| f.objects.iter().any(|o| o.display() == first)),
                "{name}: no finding names {first}"
            );
        }
        for key in [
            "question",
            "root_cause",
            "category",
            "evidence",
            "answer_must_mention",
            "difficulty",
        ] {
            assert!(!doc[key].is_null(), "{name}: expected.yaml lacks {key}");
        }
    }
    assert!(
        folders.is_empty(),
        "scenarios without a table row: {folders:?}"
    );
    for (rule, _) in RULES {
        assert!(
            fired_rules.contains(*rule) || VARIANT_RULES.contains(rule),
            "rule {rule} fires on no scenario"
        );
    }
}

fn edit(resources: &mut [Resource], kind: &str, name: &str, f: impl Fn(&mut Value)) {
    let r = resources
        .iter_mut()
        .find(|r| r.key.kind == kind && r.key.name == name)
        .unwrap_or_else(|| panic!("{kind}/{name}"));
    f(&mut r.object);
}

#[test]
fn variants_cover_the_rules_without_a_scenario() {
    let now = scenario::now();
    // Disk and PID pressure: the memory-pressure node with another condition.
    for (kind, rule) in [
        ("DiskPressure", "node.disk_pressure"),
        ("PIDPressure", "node.pid_pressure"),
    ] {
        let (mut resources, _) = load("node-pressure", now);
        edit(&mut resources, "Node", "worker-6", |n| {
            for c in n["status"]["conditions"]
                .as_array_mut()
                .into_iter()
                .flatten()
            {
                match c["type"].as_str() {
                    Some("MemoryPressure") => c["status"] = json!("False"),
                    Some(t) if t == kind => c["status"] = json!("True"),
                    _ => {}
                }
            }
        });
        let got: BTreeSet<String> = analyze(&Snapshot::from_resources(resources), now)
            .iter()
            .map(|f| format!("{} {}", f.rule, primary(f)))
            .collect();
        assert_eq!(got, BTreeSet::from([format!("{rule} Node/worker-6")]));
    }
    // Another Failed reason of a Job.
    let (mut resources, _) = load("job-backoff", now);
    edit(&mut resources, "Job", "nightly-report-29409120", |j| {
        for c in j["status"]["conditions"]
            .as_array_mut()
            .into_iter()
            .flatten()
        {
            c["reason"] = json!("PodFailurePolicy");
            c["message"] = json!(
                "Container report for pod job-backoff/nightly-report-29409120-7xk2p failed with exit code 2 matching FailJob rule at index 0"
            );
        }
    });
    let findings = analyze(&Snapshot::from_resources(resources.clone()), now);
    assert_eq!(findings.len(), 1);
    assert_eq!(findings[0].rule, "job.failed");
    assert!(
        findings[0].title.contains("matching FailJob rule"),
        "{}",
        findings[0].title
    );
    // A later run of the CronJob exists: the failed Job is history.
    let mut later = resources
        .iter()
        .find(|r| r.key.kind == "Job")
        .cloned()
        .unwrap_or_else(|| panic!("job"));
    later.key.name = "nightly-report-29410560".into();
    later.object["metadata"]["name"] = json!("nightly-report-29410560");
    later.object["status"] = json!({"startTime": "2999-01-01T05:00:00Z", "succeeded": 1,
        "conditions": [{"type": "Complete", "status": "True"}]});
    resources.push(later);
    assert!(analyze(&Snapshot::from_resources(resources), now).is_empty());
    // An Ingress to an existing Service on a port it does not expose.
    let (mut resources, _) = load("ingress-missing-service", now);
    edit(&mut resources, "Ingress", "shop", |i| {
        i["spec"]["rules"][0]["http"]["paths"][1]["backend"]["service"] =
            json!({"name": "shop-backend", "port": {"name": "grpc"}});
    });
    let findings = analyze(&Snapshot::from_resources(resources), now);
    assert_eq!(findings.len(), 1);
    assert!(
        findings[0]
            .title
            .contains("Service shop-backend has no port grpc"),
        "{}",
        findings[0].title
    );
}

/// The crash-looping pod of the crashloop scenario, crashing or healthy.
fn crashloop_pod(resources: &[Resource], crashing: bool) -> Resource {
    let mut pod = resources
        .iter()
        .find(|r| r.key.kind == "Pod")
        .cloned()
        .unwrap_or_else(|| panic!("pod"));
    if !crashing {
        let cs = &mut pod.object["status"]["containerStatuses"][0];
        cs["state"] = json!({"running": {"startedAt": "2026-01-01T00:00:00Z"}});
        cs["lastState"] = json!({});
        cs["ready"] = json!(true);
        for c in pod.object["status"]["conditions"]
            .as_array_mut()
            .into_iter()
            .flatten()
        {
            c["status"] = json!("True");
        }
    }
    pod
}

fn crash_findings(snapshot: &Snapshot, now: i64) -> Vec<Finding> {
    analyze(snapshot, now)
        .into_iter()
        .filter(|f| f.rule == "pod.crash_loop")
        .collect()
}

#[test]
fn a_recovering_pod_goes_active_recovering_resolved() {
    let t0 = scenario::now();
    let (resources, mut snapshot) = load("crashloop", t0);
    let mut tracker = Tracker::new(600);
    let opened = tracker.observe(crash_findings(&snapshot, t0), t0);
    assert_eq!(opened.len(), 1);
    assert_eq!(opened[0].kind, TransitionKind::Opened);
    let id = opened[0].finding.id.clone();

    // Still crashing a minute later: same finding, no transition, last_seen moves.
    assert!(
        tracker
            .observe(crash_findings(&snapshot, t0 + 60), t0 + 60)
            .is_empty()
    );
    assert_eq!(
        tracker.get(&id).map(|f| (f.first_seen, f.last_seen)),
        Some((t0, t0 + 60))
    );

    snapshot.upsert(crashloop_pod(&resources, false));
    let t1 = t0 + 120;
    let recovering = tracker.observe(crash_findings(&snapshot, t1), t1);
    assert_eq!(recovering.len(), 1);
    assert_eq!(recovering[0].kind, TransitionKind::Recovering);
    assert_eq!(
        tracker.get(&id).map(|f| f.state),
        Some(FindingState::Recovering)
    );
    // Inside the window: nothing happens; the finding is still listed as recovering.
    assert!(
        tracker
            .observe(crash_findings(&snapshot, t1 + 599), t1 + 599)
            .is_empty()
    );
    assert_eq!(tracker.findings().len(), 1);
    let resolved = tracker.observe(crash_findings(&snapshot, t1 + 600), t1 + 600);
    assert_eq!(resolved.len(), 1);
    assert_eq!(resolved[0].kind, TransitionKind::Resolved);
    assert_eq!(resolved[0].finding.state, FindingState::Resolved);
    assert_eq!(resolved[0].finding.last_seen, t0 + 60);
    assert!(tracker.is_empty());

    // A recurrence after resolution is a new lifecycle: same id, new first_seen.
    snapshot.upsert(crashloop_pod(&resources, true));
    let t2 = t1 + 3600;
    let again = tracker.observe(crash_findings(&snapshot, t2), t2);
    assert_eq!(again.len(), 1);
    assert_eq!(again[0].kind, TransitionKind::Opened);
    assert_eq!(again[0].finding.id, id);
    assert_eq!(
        (again[0].finding.first_seen, again[0].finding.count),
        (t2, 1)
    );
}

#[test]
fn a_flapping_pod_keeps_one_finding() {
    let t0 = scenario::now();
    let (resources, mut snapshot) = load("crashloop", t0);
    let mut tracker = Tracker::default();
    let mut transitions = Vec::new();
    // Crashing, then running for 30 s, then crashing again, ten times, all inside the window.
    for step in 0..20 {
        let crashing = step % 2 == 0;
        snapshot.upsert(crashloop_pod(&resources, crashing));
        let now = t0 + step * 30;
        transitions.extend(tracker.observe(analyze(&snapshot, now), now));
        // The state survives a restart of the appliance mid-way.
        if step == 9 {
            let saved = serde_json::to_string(&tracker).unwrap_or_default();
            tracker = serde_json::from_str(&saved).unwrap_or_else(|e| panic!("{e}"));
        }
    }
    let crash: Vec<_> = transitions
        .iter()
        .filter(|t| t.finding.rule == "pod.crash_loop")
        .collect();
    let ids: BTreeSet<&str> = crash.iter().map(|t| t.finding.id.as_str()).collect();
    assert_eq!(ids.len(), 1, "one finding for the flapping pod");
    let kinds: Vec<TransitionKind> = crash.iter().map(|t| t.kind).collect();
    assert_eq!(
        kinds
            .iter()
            .filter(|k| **k == TransitionKind::Opened)
            .count(),
        1
    );
    assert_eq!(
        kinds
            .iter()
            .filter(|k| **k == TransitionKind::Reactivated)
            .count(),
        9
    );
    assert!(!kinds.contains(&TransitionKind::Resolved));
    let f = tracker
        .findings()
        .into_iter()
        .find(|f| f.rule == "pod.crash_loop")
        .unwrap_or_else(|| panic!("still open"));
    assert_eq!(
        (f.count, f.first_seen, f.state),
        (10, t0, FindingState::Recovering)
    );
    // Three findings of the scenario (pod, Deployment, Service), each tracked once.
    assert_eq!(tracker.len(), 3);
}

#[test]
fn incremental_evaluation_matches_full_passes() {
    let now = scenario::now();
    for (name, _) in TABLE {
        let (resources, _) = load(name, now);
        let mut analyzer = Analyzer::new(Snapshot::new(), now);
        // Objects arrive one delta at a time (events before what they are about, owners
        // after their children: the worst order for an index).
        for r in resources.iter().rev() {
            analyzer.apply(
                vec![Change::Applied {
                    resource: r.clone(),
                }],
                now,
            );
            assert_eq!(
                analyzer.findings(),
                analyze(analyzer.snapshot(), now),
                "{name} after {:?}",
                r.key
            );
        }
        assert_eq!(
            analyzer.findings(),
            analyze(&Snapshot::from_resources(resources.clone()), now),
            "{name}"
        );
        // And leave again.
        for r in resources.iter().step_by(2) {
            analyzer.apply(vec![Change::Deleted { key: r.key.clone() }], now);
            assert_eq!(
                analyzer.findings(),
                analyze(analyzer.snapshot(), now),
                "{name} without {:?}",
                r.key
            );
        }
    }
}

/// Values that no field expects.
fn garbage() -> Vec<Value> {
    vec![
        Value::Null,
        json!(7),
        json!(-1.5),
        json!("x"),
        json!([]),
        json!({}),
        json!([1, "a", null]),
        json!({"a": {"b": []}}),
    ]
}

/// Every object path of `v` up to `depth` (object keys and the first array item).
fn paths(v: &Value, prefix: &mut Vec<String>, depth: usize, out: &mut Vec<Vec<String>>) {
    if depth == 0 {
        return;
    }
    match v {
        Value::Object(map) => {
            for (k, x) in map {
                prefix.push(k.clone());
                out.push(prefix.clone());
                paths(x, prefix, depth - 1, out);
                prefix.pop();
            }
        }
        Value::Array(items) => {
            if let Some(x) = items.first() {
                prefix.push("0".into());
                out.push(prefix.clone());
                paths(x, prefix, depth - 1, out);
                prefix.pop();
            }
        }
        _ => {}
    }
}

fn set_path(v: &mut Value, path: &[String], new: Value) {
    let mut cur = v;
    for (i, seg) in path.iter().enumerate() {
        let next = match cur {
            Value::Object(map) => map.get_mut(seg),
            Value::Array(items) => seg.parse::<usize>().ok().and_then(|n| items.get_mut(n)),
            _ => None,
        };
        let Some(next) = next else { return };
        if i + 1 == path.len() {
            *next = new;
            return;
        }
        cur = next;
    }
}

#[test]
fn garbage_is_skipped_never_a_panic() {
    let now = scenario::now();
    // Hand-made nonsense.
    let weird = vec![
        json!({"kind": "Pod", "metadata": {"name": "p", "namespace": "n", "ownerReferences": {"a": 1}, "deletionTimestamp": "yesterday", "labels": [1]},
               "spec": {"containers": "none", "volumes": [{"persistentVolumeClaim": 5}]},
               "status": {"phase": 3, "containerStatuses": [{"name": 5}, {"name": "c", "state": {"waiting": {"reason": "CrashLoopBackOff"}}, "restartCount": "many", "lastState": {"terminated": {"finishedAt": 12}}}]}}),
        json!({"kind": "Event", "metadata": {"name": "e", "namespace": "n"}, "involvedObject": null, "reason": 5}),
        json!({"kind": "Event", "metadata": {"name": "e2", "namespace": "n"}, "involvedObject": {"kind": "Pod", "name": "p", "fieldPath": "spec.containers{"}, "reason": "BackOff", "lastTimestamp": "nope"}),
        json!({"kind": "Node", "metadata": {"name": "w"}, "spec": {"taints": "t"}, "status": {"conditions": [1, 2, {"type": "Ready", "status": "Unknown", "lastTransitionTime": 4}]}}),
        json!({"kind": "Service", "metadata": {"name": "s", "namespace": "n"}, "spec": {"selector": {"app": 5}}}),
        json!({"kind": "Service", "metadata": {"name": "s2", "namespace": "n"}, "spec": {"selector": {"app": "p"}, "type": []}}),
        json!({"kind": "Ingress", "metadata": {"name": "i", "namespace": "n"}, "spec": {"rules": "x", "defaultBackend": {"service": {"name": 5}}}}),
        json!({"kind": "Ingress", "metadata": {"name": "i2", "namespace": "n"}, "spec": {"rules": [{"http": {"paths": [{"backend": {"service": {"name": "zz", "port": {"number": "80"}}}}]}}]}}),
        json!({"kind": "CronJob", "metadata": {"name": "c", "namespace": "n", "creationTimestamp": "2000-01-01T00:00:00Z"}, "spec": {"schedule": 12}}),
        json!({"kind": "CronJob", "metadata": {"name": "c2", "namespace": "n"}, "spec": {"schedule": "61 25 * * *"}, "status": {"lastScheduleTime": "2000-01-01T00:00:00Z"}}),
        json!({"kind": "CronJob", "metadata": {"name": "c3", "namespace": "n"}, "spec": {"schedule": "0 0 30 2 *", "timeZone": 5}, "status": {"lastScheduleTime": "2000-01-01T00:00:00Z"}}),
        json!({"kind": "Job", "metadata": {"name": "j", "namespace": "n", "ownerReferences": [{"kind": "CronJob", "name": "c"}]}, "status": {"conditions": [{"type": "Failed", "status": "True", "reason": 5}]}}),
        json!({"kind": "HorizontalPodAutoscaler", "metadata": {"name": "h", "namespace": "n"}, "status": {"conditions": [{"type": "ScalingActive", "status": "False"}, {"type": "ScalingLimited", "status": "True", "reason": "TooManyReplicas"}]}}),
        json!({"kind": "Deployment", "metadata": {"name": "d", "namespace": "n"}, "spec": {"replicas": "3"}, "status": {"conditions": [{"type": "Progressing", "status": "False", "reason": "ProgressDeadlineExceeded", "message": "\""}]}}),
        json!({"kind": "PersistentVolumeClaim", "metadata": {"name": "v", "namespace": "n", "deletionTimestamp": "2000-01-01T00:00:00Z", "finalizers": [1, "kubernetes.io/pvc-protection"]}, "status": {"phase": "Pending"}}),
        json!({"kind": "Banana", "metadata": {"name": "b", "deletionTimestamp": "2000-01-01T00:00:00Z"}, "spec": 5}),
        json!({"kind": "Pod", "metadata": {"name": "q", "namespace": "n"}}),
        json!(null),
        json!([1, 2]),
        json!("pod"),
    ];
    let resources: Vec<Resource> = weird
        .into_iter()
        .enumerate()
        .map(|(i, object)| Resource {
            key: acorn_proto::agent::ResourceKey {
                api_version: "v1".into(),
                kind: object["kind"].as_str().unwrap_or("Pod").into(),
                namespace: object["metadata"]["namespace"].as_str().map(str::to_string),
                name: object["metadata"]["name"]
                    .as_str()
                    .map_or(format!("odd-{i}"), str::to_string),
            },
            resource_version: String::new(),
            object,
        })
        .collect();
    let snapshot = Snapshot::from_resources(resources);
    let findings = analyze(&snapshot, now);
    // Something is still found where the nonsense leaves enough.
    assert!(
        findings
            .iter()
            .any(|f| f.rule == "object.terminating_stuck"),
        "{findings:?}"
    );
    for source in [
        "",
        " ",
        "Pod",
        "Pod/n/p status.containerStatuses[",
        "Pod/n/p logs[",
        "Pod/n/p logs[c].later",
        "Event/x/y",
        "Pod/n/p spec.containers[0].name",
    ] {
        let _ = snapshot.resolve(source);
    }

    // Every field of every object of some scenarios replaced by each kind of garbage.
    for name in [
        "crashloop",
        "node-notready",
        "cronjob-not-scheduling",
        "resourcequota-exceeded",
        "hpa-unable-to-scale",
        "service-no-endpoints",
    ] {
        let (resources, _) = load(name, now);
        for (i, r) in resources.iter().enumerate() {
            if r.key.kind == "Namespace" || r.key.kind == "NodeMetrics" {
                continue;
            }
            let mut all = Vec::new();
            paths(&r.object, &mut Vec::new(), 4, &mut all);
            for path in all {
                for g in garbage() {
                    let mut mutated = resources.clone();
                    set_path(&mut mutated[i].object, &path, g);
                    let _ = analyze(&Snapshot::from_resources(mutated), now);
                }
            }
        }
    }
}

#[test]
fn scenario_errors_name_the_file() {
    let root = std::env::temp_dir().join(format!("acorn-findings-{}", std::process::id()));
    let dir = |n: &str| {
        let d = root.join(n);
        std::fs::create_dir_all(&d).unwrap_or_else(|e| panic!("{e}"));
        d
    };
    let write = |d: &Path, f: &str, text: &str| {
        if let Some(parent) = d.join(f).parent() {
            std::fs::create_dir_all(parent).unwrap_or_else(|e| panic!("{e}"));
        }
        std::fs::write(d.join(f), text).unwrap_or_else(|e| panic!("{e}"));
    };

    let empty = dir("empty");
    let err = scenario::load(&empty)
        .err()
        .map(|e| e.to_string())
        .unwrap_or_default();
    assert!(
        err.contains("has no objects.json or objects.yaml") && err.contains("empty"),
        "{err}"
    );

    let missing = root.join("not-there");
    assert!(matches!(
        scenario::load(&missing),
        Err(ScenarioError::Read { .. })
    ));

    let broken = dir("broken");
    write(&broken, "objects.json", "[]");
    write(&broken, "events.json", "{\"items\": [");
    let err = scenario::load(&broken)
        .err()
        .map(|e| e.to_string())
        .unwrap_or_default();
    assert!(
        err.contains("events.json") && err.contains("not valid JSON"),
        "{err}"
    );

    let invalid = dir("invalid");
    write(
        &invalid,
        "objects.yaml",
        "apiVersion: v1\nkind: Pod\nmetadata: {name: a}\n---\napiVersion: v1\nmetadata: {name: b}\n",
    );
    let err = scenario::load(&invalid)
        .err()
        .map(|e| e.to_string())
        .unwrap_or_default();
    assert!(
        err.contains("objects.yaml") && err.contains("item 1 has no kind"),
        "{err}"
    );

    let bad_yaml = dir("bad-yaml");
    write(&bad_yaml, "objects.yaml", "items: [\n");
    let err = scenario::load(&bad_yaml)
        .err()
        .map(|e| e.to_string())
        .unwrap_or_default();
    assert!(
        err.contains("objects.yaml") && err.contains("not valid YAML"),
        "{err}"
    );

    let logs = dir("logs");
    write(&logs, "objects.json", "{\"kind\": \"List\", \"items\": []}");
    write(&logs, "logs/just-a-name.log", "x\n");
    let err = scenario::load_logs(&logs)
        .err()
        .map(|e| e.to_string())
        .unwrap_or_default();
    assert!(err.contains("just-a-name.log"), "{err}");
    assert!(scenario::load(&logs).is_ok_and(|r| r.is_empty()));

    let _ = std::fs::remove_dir_all(&root);
}
