//! Analyzer benchmark (plain `main`, `harness = false`):
//! `cargo bench -p acorn-findings --bench analyze [-- PODS]`.
//!
//! A generated cluster shaped like the agent's snapshot: 10,000 pods (default) in 20
//! namespaces, 500 Deployments with a ReplicaSet and a Service each, 100 nodes with metrics,
//! PodMetrics for running pods, and events — about 10% of the pods fail (crash loops, image
//! pulls, unschedulable, failing readiness) with the events Kubernetes writes for them, and a
//! fifth of the healthy pods carry ordinary Scheduled/Pulled events.
//!
//! Measured: building the indexed snapshot, a full pass (`analyze`, p50/min/max over runs), an
//! incremental re-evaluation after a one-pod delta (`Analyzer::apply`, p50 over many deltas),
//! and the process's peak RSS (VmHWM).

use std::time::{Duration, Instant};

use acorn_findings::{Analyzer, Snapshot, analyze};
use acorn_proto::agent::{Change, Resource, ResourceKey};
use serde_json::{Value, json};

const NOW: i64 = 1_795_766_400; // 2026-11-27T00:00:00Z
const STAMP: &str = "2026-11-26T23:40:00Z";

fn resource(
    api_version: &str,
    kind: &str,
    namespace: Option<&str>,
    name: &str,
    object: Value,
) -> Resource {
    Resource {
        key: ResourceKey {
            api_version: api_version.into(),
            kind: kind.into(),
            namespace: namespace.map(str::to_string),
            name: name.into(),
        },
        resource_version: "1".into(),
        object,
    }
}

#[derive(Clone, Copy, PartialEq)]
enum Health {
    Good,
    Crash,
    Pull,
    Pending,
    Unready,
}

fn health_of(p: usize) -> Health {
    match p % 100 {
        0..=3 => Health::Crash,
        4..=6 => Health::Pull,
        7..=8 => Health::Pending,
        9 => Health::Unready,
        _ => Health::Good,
    }
}

fn pod(ns: &str, app: &str, name: &str, node: &str, p: usize, health: Health) -> Value {
    let image = format!("registry.example.com/{app}:1.4.2");
    let (phase, state, ready, last, restarts) = match health {
        Health::Good => (
            "Running",
            json!({"running": {"startedAt": "2026-11-20T00:00:00Z"}}),
            true,
            json!({}),
            0,
        ),
        Health::Crash => (
            "Running",
            json!({"waiting": {"reason": "CrashLoopBackOff", "message": format!("back-off 5m0s restarting failed container=app pod={name}_{ns}(uid)")}}),
            false,
            json!({"terminated": {"exitCode": 1, "reason": "Error", "startedAt": STAMP, "finishedAt": STAMP}}),
            9,
        ),
        Health::Pull => (
            "Pending",
            json!({"waiting": {"reason": "ImagePullBackOff", "message": format!("Back-off pulling image \"{image}\": ErrImagePull: not found")}}),
            false,
            json!({}),
            0,
        ),
        Health::Unready => (
            "Running",
            json!({"running": {"startedAt": STAMP}}),
            false,
            json!({}),
            0,
        ),
        Health::Pending => ("Pending", Value::Null, false, json!({}), 0),
    };
    let mut status = json!({
        "phase": phase,
        "conditions": [
            {"type": "Ready", "status": if ready { "True" } else { "False" }, "lastTransitionTime": STAMP},
            {"type": "PodScheduled", "status": "True", "lastTransitionTime": STAMP}
        ],
        "podIP": format!("10.{}.{}.{}", 64 + p / 65536, p / 256 % 256, p % 256),
        "hostIP": "192.168.10.10", "qosClass": "Burstable", "startTime": STAMP
    });
    if health == Health::Pending {
        status["conditions"] = json!([{"type": "PodScheduled", "status": "False", "reason": "Unschedulable",
            "message": "0/100 nodes are available: 100 Insufficient memory. preemption: 0/100 nodes are available: 100 No preemption victims found for incoming pod."}]);
    } else {
        status["containerStatuses"] = json!([{"name": "app", "image": image, "imageID": "", "ready": ready, "started": ready,
            "restartCount": restarts, "state": state, "lastState": last, "containerID": "containerd://0"}]);
    }
    let mut spec = json!({
        "restartPolicy": "Always", "serviceAccountName": "default", "schedulerName": "default-scheduler",
        "containers": [{"name": "app", "image": image, "ports": [{"containerPort": 8080, "protocol": "TCP"}],
            "resources": {"requests": {"cpu": "100m", "memory": "128Mi"}, "limits": {"memory": "256Mi"}},
            "readinessProbe": {"httpGet": {"path": "/healthz", "port": 8080}, "periodSeconds": 10},
            "env": [{"name": "LOG_LEVEL", "value": "info"}]}]
    });
    if health != Health::Pending {
        spec["nodeName"] = json!(node);
    }
    json!({
        "apiVersion": "v1", "kind": "Pod",
        "metadata": {"name": name, "namespace": ns, "uid": format!("uid-{p}"), "creationTimestamp": "2026-11-20T00:00:00Z",
            "labels": {"app": app, "pod-template-hash": "7d9f8b6c5d"},
            "ownerReferences": [{"apiVersion": "apps/v1", "kind": "ReplicaSet", "name": format!("{app}-7d9f8b6c5d"), "uid": "rs", "controller": true}]},
        "spec": spec,
        "status": status
    })
}

fn event(ns: &str, pod: &str, n: usize, reason: &str, kind: &str, message: &str) -> Resource {
    let name = format!("{pod}.{n:016x}");
    resource(
        "v1",
        "Event",
        Some(ns),
        &name,
        json!({
            "apiVersion": "v1", "kind": "Event",
            "metadata": {"name": name, "namespace": ns, "creationTimestamp": STAMP},
            "involvedObject": {"kind": "Pod", "namespace": ns, "name": pod, "uid": "u", "apiVersion": "v1", "fieldPath": "spec.containers{app}"},
            "reason": reason, "message": message, "type": kind, "count": 12,
            "firstTimestamp": STAMP, "lastTimestamp": "2026-11-26T23:59:00Z",
            "source": {"component": "kubelet"}
        }),
    )
}

/// The generated cluster; also returns one crash-looping pod for the delta benchmark.
fn cluster(pods: usize) -> (Vec<Resource>, Resource) {
    let nodes = 100;
    let per_deployment = 20;
    let deployments = pods.div_ceil(per_deployment);
    let mut out = Vec::new();
    let mut sample = None;
    for n in 0..nodes {
        let name = format!("node-{n:03}");
        out.push(resource("v1", "Node", None, &name, json!({
            "apiVersion": "v1", "kind": "Node", "metadata": {"name": name, "labels": {"kubernetes.io/hostname": name}},
            "spec": {"podCIDR": format!("10.{n}.0.0/24")},
            "status": {"allocatable": {"cpu": "15890m", "memory": "64700364Ki", "pods": "110"},
                "conditions": [
                    {"type": "MemoryPressure", "status": "False", "reason": "KubeletHasSufficientMemory"},
                    {"type": "DiskPressure", "status": "False", "reason": "KubeletHasNoDiskPressure"},
                    {"type": "PIDPressure", "status": "False", "reason": "KubeletHasSufficientPID"},
                    {"type": "Ready", "status": "True", "reason": "KubeletReady", "message": "kubelet is posting ready status", "lastTransitionTime": STAMP}]}
        })));
        out.push(resource("metrics.k8s.io/v1beta1", "NodeMetrics", None, &name, json!({
            "apiVersion": "metrics.k8s.io/v1beta1", "kind": "NodeMetrics", "metadata": {"name": name}, "window": "20s",
            "usage": {"cpu": "2100m", "memory": "31457280Ki"}})));
    }
    let mut p = 0;
    let mut events = 0;
    for d in 0..deployments {
        let ns = format!("team-{:02}", d % 20);
        let app = format!("svc-{d:03}");
        let rs = format!("{app}-7d9f8b6c5d");
        let count = per_deployment.min(pods - p);
        let failing = (p..p + count)
            .filter(|i| health_of(*i) != Health::Good)
            .count();
        let available = count - failing;
        let dep_available = failing * 4 <= count;
        out.push(resource("apps/v1", "Deployment", Some(&ns), &app, json!({
            "apiVersion": "apps/v1", "kind": "Deployment",
            "metadata": {"name": app, "namespace": ns, "generation": 1, "labels": {"app": app}},
            "spec": {"replicas": count, "selector": {"matchLabels": {"app": app}}, "progressDeadlineSeconds": 600,
                "template": {"metadata": {"labels": {"app": app}}, "spec": {"containers": [{"name": "app", "image": "x"}]}}},
            "status": {"observedGeneration": 1, "replicas": count, "updatedReplicas": count, "readyReplicas": available, "availableReplicas": available,
                "unavailableReplicas": failing,
                "conditions": [
                    {"type": "Available", "status": if dep_available { "True" } else { "False" }, "reason": if dep_available { "MinimumReplicasAvailable" } else { "MinimumReplicasUnavailable" }, "message": "Deployment has minimum availability."},
                    {"type": "Progressing", "status": "True", "reason": "NewReplicaSetAvailable", "message": format!("ReplicaSet \"{rs}\" has successfully progressed.")}]}
        })));
        out.push(resource("apps/v1", "ReplicaSet", Some(&ns), &rs, json!({
            "apiVersion": "apps/v1", "kind": "ReplicaSet",
            "metadata": {"name": rs, "namespace": ns, "labels": {"app": app, "pod-template-hash": "7d9f8b6c5d"},
                "ownerReferences": [{"apiVersion": "apps/v1", "kind": "Deployment", "name": app, "uid": "d", "controller": true}]},
            "spec": {"replicas": count}, "status": {"replicas": count, "readyReplicas": available, "availableReplicas": available}
        })));
        out.push(resource("v1", "Service", Some(&ns), &app, json!({
            "apiVersion": "v1", "kind": "Service", "metadata": {"name": app, "namespace": ns},
            "spec": {"type": "ClusterIP", "selector": {"app": app}, "ports": [{"name": "http", "port": 80, "targetPort": 8080}]}
        })));
        for _ in 0..count {
            let health = health_of(p);
            let name = format!("{rs}-{p:05}");
            let node = format!("node-{:03}", p % nodes);
            let object = pod(&ns, &app, &name, &node, p, health);
            let r = resource("v1", "Pod", Some(&ns), &name, object);
            if health == Health::Crash && sample.is_none() {
                sample = Some(r.clone());
            }
            out.push(r);
            if health != Health::Pending {
                out.push(resource("metrics.k8s.io/v1beta1", "PodMetrics", Some(&ns), &name, json!({
                    "apiVersion": "metrics.k8s.io/v1beta1", "kind": "PodMetrics", "metadata": {"name": name, "namespace": ns}, "window": "15s",
                    "containers": [{"name": "app", "usage": {"cpu": "12m", "memory": "90112Ki"}}]})));
            }
            let evs: Vec<(&str, &str, String)> = match health {
                Health::Crash => vec![
                    ("BackOff", "Warning", format!("Back-off restarting failed container app in pod {name}_{ns}(uid)")),
                    ("Pulled", "Normal", "Container image already present on machine".into()),
                ],
                Health::Pull => vec![
                    ("Failed", "Warning", "Failed to pull image \"registry.example.com/x:1\": rpc error: code = NotFound desc = not found".into()),
                    ("Failed", "Warning", "Error: ImagePullBackOff".into()),
                    ("BackOff", "Normal", "Back-off pulling image \"registry.example.com/x:1\"".into()),
                ],
                Health::Pending => vec![("FailedScheduling", "Warning", "0/100 nodes are available: 100 Insufficient memory.".into())],
                Health::Unready => vec![("Unhealthy", "Warning", "Readiness probe failed: HTTP probe failed with statuscode: 503".into())],
                Health::Good if p % 5 == 0 => vec![
                    ("Scheduled", "Normal", format!("Successfully assigned {ns}/{name} to {node}")),
                    ("Pulled", "Normal", "Container image already present on machine".into()),
                ],
                Health::Good => vec![],
            };
            for (reason, kind, message) in evs {
                out.push(event(&ns, &name, events, reason, kind, &message));
                events += 1;
            }
            p += 1;
        }
    }
    let sample = sample.unwrap_or_else(|| out[0].clone());
    (out, sample)
}

fn vm(field: &str) -> String {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with(field))
                .map(|l| l[field.len()..].trim().to_string())
        })
        .unwrap_or_else(|| "?".into())
}

/// CPU time (user + system) this thread has used, from /proc: wall times on a shared machine
/// include waiting for a core, CPU time does not.
fn cpu_time() -> Duration {
    let stat = std::fs::read_to_string("/proc/thread-self/stat").unwrap_or_default();
    // Fields after the parenthesised command name; utime and stime are the 12th and 13th.
    let rest = stat.rsplit_once(')').map(|(_, r)| r).unwrap_or_default();
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let ticks: u64 = [11, 12]
        .iter()
        .filter_map(|i| fields.get(*i).and_then(|f| f.parse::<u64>().ok()))
        .sum();
    // USER_HZ is 100 on Linux.
    Duration::from_millis(ticks * 10)
}

fn stats(mut samples: Vec<Duration>) -> String {
    samples.sort();
    let ms = |d: Duration| d.as_secs_f64() * 1000.0;
    format!(
        "p50 {:.2} ms, min {:.2} ms, max {:.2} ms ({} runs)",
        ms(samples[samples.len() / 2]),
        ms(samples[0]),
        ms(samples[samples.len() - 1]),
        samples.len()
    )
}

fn main() {
    let pods: usize = std::env::args()
        .skip(1)
        .find_map(|a| a.parse().ok())
        .unwrap_or(10_000);
    println!("acorn-findings analyze bench: {pods} pods");
    println!("  before generating: VmHWM {}", vm("VmHWM:"));

    let (resources, sample) = cluster(pods);
    let kinds = |k: &str| resources.iter().filter(|r| r.key.kind == k).count();
    let bytes: usize = resources.iter().map(|r| r.object.to_string().len()).sum();
    println!(
        "  snapshot: {} objects ({} pods, {} events, {} deployments, {} services, {} nodes), {:.1} MiB as JSON",
        resources.len(),
        kinds("Pod"),
        kinds("Event"),
        kinds("Deployment"),
        kinds("Service"),
        kinds("Node"),
        bytes as f64 / (1024.0 * 1024.0)
    );
    println!("  after generating: VmRSS {}", vm("VmRSS:"));

    let (t, cpu) = (Instant::now(), cpu_time());
    let snapshot = Snapshot::from_resources(resources);
    println!(
        "  index (Snapshot::from_resources, objects moved in): wall {:.1} ms, CPU {:.0} ms",
        t.elapsed().as_secs_f64() * 1000.0,
        (cpu_time() - cpu).as_secs_f64() * 1000.0
    );

    let mut runs = Vec::new();
    let mut count = 0;
    let cpu = cpu_time();
    for _ in 0..15 {
        let t = Instant::now();
        let findings = analyze(&snapshot, NOW);
        runs.push(t.elapsed());
        count = findings.len();
        std::hint::black_box(findings);
    }
    let cpu_per_pass = (cpu_time() - cpu).as_secs_f64() * 1000.0 / runs.len() as f64;
    println!(
        "  full pass (analyze): {} findings; wall {}; CPU {:.1} ms per pass",
        count,
        stats(runs),
        cpu_per_pass
    );

    let t = Instant::now();
    let mut analyzer = Analyzer::new(snapshot, NOW);
    println!(
        "  Analyzer::new (full pass, findings kept per subject): {:.1} ms",
        t.elapsed().as_secs_f64() * 1000.0
    );

    // One pod flips between crashing and healthy: each delta is one Applied change.
    let mut healed = sample.clone();
    if let Some(cs) = healed.object.pointer_mut("/status/containerStatuses/0") {
        cs["state"] = json!({"running": {"startedAt": STAMP}});
        cs["ready"] = json!(true);
        cs["lastState"] = json!({});
    }
    let mut deltas = Vec::new();
    let mut evaluated = 0;
    let cpu = cpu_time();
    for i in 0..400 {
        let resource = if i % 2 == 0 {
            healed.clone()
        } else {
            sample.clone()
        };
        let t = Instant::now();
        evaluated = analyzer.apply(vec![Change::Applied { resource }], NOW);
        deltas.push(t.elapsed());
    }
    let cpu_per_delta = (cpu_time() - cpu).as_secs_f64() * 1000.0 / deltas.len() as f64;
    println!(
        "  incremental (Analyzer::apply, one pod changed, {} subjects re-evaluated): wall {}; CPU {:.2} ms per delta",
        evaluated,
        stats(deltas),
        cpu_per_delta
    );
    let t = Instant::now();
    let all = analyzer.findings();
    println!(
        "  Analyzer::findings (collect + sort {}): {:.2} ms",
        all.len(),
        t.elapsed().as_secs_f64() * 1000.0
    );
    assert_eq!(all.len(), analyze(analyzer.snapshot(), NOW).len());

    println!(
        "  peak memory: VmHWM {} (VmRSS now {})",
        vm("VmHWM:"),
        vm("VmRSS:")
    );
}
