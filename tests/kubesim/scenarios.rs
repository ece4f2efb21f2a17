//! Every built-in scenario loads (all together, each in its namespace, nodes shared) and its
//! key facts are visible through kubectl: scenario → kubectl arguments → expected substring.

use super::sim::{KubeSim, output_text};

const FACTS: &[(&str, &[&str], &str)] = &[
    (
        "crashloop",
        &["get", "pods", "-n", "crashloop"],
        "CrashLoopBackOff",
    ),
    (
        "crashloop",
        &["logs", "-p", "-n", "crashloop", "checkout-7c9d8f6b5-x2k4p"],
        "strconv.Atoi: parsing \"ten\": invalid syntax",
    ),
    (
        "imagepull",
        &["get", "pods", "-n", "imagepull"],
        "ImagePullBackOff",
    ),
    (
        "imagepull",
        &[
            "get",
            "events",
            "-n",
            "imagepull",
            "--field-selector",
            "reason=Failed",
        ],
        "failed to resolve reference \"registry.example.com/web/frontend:v2.4.0-rc1\"",
    ),
    (
        "oomkilled",
        &[
            "get",
            "pods",
            "-n",
            "oomkilled",
            "-o",
            "jsonpath={.items[0].status.containerStatuses[0].lastState.terminated.reason}",
        ],
        "OOMKilled",
    ),
    (
        "oomkilled",
        &["describe", "pod", "-n", "oomkilled"],
        "Exit Code:    137",
    ),
    (
        "oomkilled",
        &["top", "pod", "-n", "oomkilled"],
        "report-worker-6b8c9d7f4-q8r2n",
    ),
    (
        "pending-resources",
        &["describe", "pod", "-n", "pending-resources"],
        "0/3 nodes are available: 3 Insufficient memory.",
    ),
    (
        "pending-selector",
        &["get", "events", "-n", "pending-selector"],
        "didn't match Pod's node affinity/selector",
    ),
    (
        "pending-selector",
        &[
            "get",
            "pods",
            "-n",
            "pending-selector",
            "-o",
            "jsonpath={.items[0].spec.nodeSelector}",
        ],
        "nvidia-tesla-t4",
    ),
    (
        "readiness-probe",
        &[
            "get",
            "events",
            "-n",
            "readiness-probe",
            "--field-selector",
            "reason=Unhealthy",
        ],
        "Readiness probe failed: HTTP probe failed with statuscode: 503",
    ),
    (
        "readiness-probe",
        &["get", "pods", "-n", "readiness-probe"],
        "0/1     Running",
    ),
    (
        "liveness-probe",
        &["get", "events", "-n", "liveness-probe"],
        "Container consumer failed liveness probe, will be restarted",
    ),
    (
        "liveness-probe",
        &["get", "pods", "-n", "liveness-probe"],
        "14 (",
    ),
    (
        "job-backoff",
        &["get", "jobs", "-n", "job-backoff"],
        "Failed",
    ),
    (
        "job-backoff",
        &[
            "get",
            "job",
            "-n",
            "job-backoff",
            "nightly-report-29409120",
            "-o",
            "jsonpath={.status.conditions[1].reason}",
        ],
        "BackoffLimitExceeded",
    ),
    (
        "job-backoff",
        &["logs", "-n", "job-backoff", "nightly-report-29409120-7xk2p"],
        "password authentication failed for user \"reports\"",
    ),
    (
        "service-no-endpoints",
        &[
            "get",
            "endpoints",
            "-n",
            "service-no-endpoints",
            "payments-api",
            "-o",
            "jsonpath={.subsets}",
        ],
        "",
    ),
    (
        "service-no-endpoints",
        &[
            "describe",
            "service",
            "-n",
            "service-no-endpoints",
            "payments-api",
        ],
        "app=payments-api",
    ),
    (
        "service-no-endpoints",
        &[
            "get",
            "endpoints",
            "-n",
            "service-no-endpoints",
            "payments-api",
        ],
        "payments-api   <none>",
    ),
    (
        "service-no-endpoints",
        &["get", "ingress", "-n", "service-no-endpoints"],
        "pay.example.com",
    ),
    (
        "pvc-pending",
        &["get", "pvc", "-n", "pvc-pending"],
        "Pending",
    ),
    (
        "pvc-pending",
        &["get", "storageclass"],
        "standard (default)   rancher.io/local-path",
    ),
    (
        "pvc-pending",
        &[
            "get",
            "events",
            "-n",
            "pvc-pending",
            "--field-selector",
            "involvedObject.kind=PersistentVolumeClaim",
        ],
        "storageclass.storage.k8s.io \"fast-ssd\" not found",
    ),
    ("node-notready", &["get", "nodes"], "worker-4   NotReady"),
    (
        "node-notready",
        &["get", "pods", "-n", "node-notready"],
        "Terminating",
    ),
    (
        "node-notready",
        &["describe", "node", "worker-4"],
        "Kubelet stopped posting node status.",
    ),
    (
        "config-missing-key",
        &["get", "pods", "-n", "config-missing-key"],
        "CreateContainerConfigError",
    ),
    (
        "config-missing-key",
        &["describe", "pod", "-n", "config-missing-key"],
        "couldn't find key DATABASE_URL in ConfigMap config-missing-key/orders-config",
    ),
    (
        "healthy",
        &["get", "deployments", "-n", "healthy"],
        "storefront   3/3",
    ),
    (
        "healthy",
        &["get", "endpoints", "-n", "healthy", "storefront"],
        "10.244.1.80:8080,10.244.2.81:8080,10.244.3.82:8080",
    ),
    (
        "pvc-pending",
        &["get", "statefulsets", "-n", "pvc-pending"],
        "orders-db   0/1",
    ),
    (
        "healthy",
        &[
            "get",
            "pods",
            "-n",
            "healthy",
            "--field-selector",
            "status.phase!=Running",
        ],
        "No resources found",
    ),
];

#[tokio::test]
async fn every_scenario_loads_and_shows_its_facts() {
    let sim = KubeSim::start(&[]).await;
    let namespaces = output_text(&sim.kubectl(&["get", "namespaces", "-o", "name"]));
    for (scenario, args, expected) in FACTS {
        assert!(
            namespaces.contains(&format!("namespace/{scenario}")),
            "scenario {scenario} not loaded: {namespaces}"
        );
        let out = sim.kubectl(args);
        let text = output_text(&out);
        assert!(
            out.status.success(),
            "{scenario}: kubectl {args:?} failed: {text}"
        );
        assert!(
            text.contains(expected),
            "{scenario}: kubectl {args:?}: expected {expected:?} in:\n{text}"
        );
    }
    // Endpoints with no subsets print nothing for the jsonpath above; make that explicit.
    let subsets = output_text(&sim.kubectl(&[
        "get",
        "endpoints",
        "-n",
        "service-no-endpoints",
        "payments-api",
        "-o",
        "jsonpath={.subsets}",
    ]));
    assert!(
        subsets.trim().is_empty(),
        "payments-api has endpoints: {subsets}"
    );
}

#[tokio::test]
async fn timeline_evolves_the_scenarios() {
    let sim = KubeSim::start(&[
        "--scenario",
        "crashloop",
        "--scenario",
        "node-notready",
        "--scenario",
        "liveness-probe",
    ])
    .await;
    let jsonpath = |args: &[&str]| output_text(&sim.kubectl(args)).trim().to_string();
    let restarts = [
        "get",
        "pod",
        "-n",
        "crashloop",
        "checkout-7c9d8f6b5-x2k4p",
        "-o",
        "jsonpath={.status.containerStatuses[0].restartCount}",
    ];
    assert_eq!(jsonpath(&restarts), "7");
    let ready = [
        "get",
        "node",
        "worker-5",
        "-o",
        "jsonpath={.status.conditions[?(@.type==\"Ready\")].status}",
    ];
    assert_eq!(jsonpath(&ready), "True");
    sim.admin("POST", "advance?seconds=125", None).await;
    assert_eq!(
        jsonpath(&restarts),
        "11",
        "4 restarts in 125 s at one per 30 s"
    );
    assert_eq!(
        jsonpath(&ready),
        "Unknown",
        "worker-5 goes NotReady after 120 s"
    );
    let count = jsonpath(&[
        "get",
        "events",
        "-n",
        "crashloop",
        "--field-selector",
        "reason=BackOff",
        "-o",
        "jsonpath={.items[0].count}",
    ]);
    assert_eq!(count, "116");
    // Deleting the crashing pod: its ReplicaSet brings a new one, which crashes again.
    let deleted = sim.kubectl(&[
        "delete",
        "pod",
        "-n",
        "crashloop",
        "checkout-7c9d8f6b5-x2k4p",
    ]);
    assert!(deleted.status.success(), "{}", output_text(&deleted));
    let pods = output_text(&sim.kubectl(&["get", "pods", "-n", "crashloop", "--no-headers"]));
    assert!(
        pods.starts_with("checkout-7c9d8f6b5-") && pods.contains("ContainerCreating"),
        "{pods}"
    );
    sim.admin("POST", "advance?seconds=6", None).await;
    let pods = output_text(&sim.kubectl(&["get", "pods", "-n", "crashloop", "--no-headers"]));
    assert!(
        pods.contains("CrashLoopBackOff") && !pods.contains("x2k4p"),
        "{pods}"
    );
    let new_pod = pods
        .split_whitespace()
        .next()
        .unwrap_or_default()
        .to_string();
    let previous = output_text(&sim.kubectl(&["logs", "-p", "-n", "crashloop", &new_pod]));
    assert!(
        previous.contains("panic: invalid value for MAX_CONNECTIONS"),
        "{previous}"
    );
    let log = output_text(&sim.kubectl(&[
        "logs",
        "-n",
        "liveness-probe",
        "queue-consumer-59d8b7c6a-rx5jd",
    ]));
    assert_eq!(log.matches("worker pool saturated").count(), 2, "{log}");
}
