//! kubectl 1.32 against the simulator: the proof of fidelity. Each case runs kubectl with the
//! simulator's kubeconfig and checks the exit code and a substring of its output.

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use super::sim::{KubeSim, output_text};

/// (kubectl arguments, expected success, expected substring of stdout+stderr)
type Case = (&'static [&'static str], bool, &'static str);

fn run_cases(sim: &KubeSim, cases: &[Case]) {
    for (args, success, expected) in cases {
        let out = sim.kubectl(args);
        let text = output_text(&out);
        assert_eq!(
            out.status.success(),
            *success,
            "kubectl {args:?} exit code: {text}"
        );
        assert!(
            text.contains(expected),
            "kubectl {args:?}: expected {expected:?} in:\n{text}"
        );
    }
}

#[tokio::test]
async fn kubectl_reads_and_writes() {
    let sim = KubeSim::start(&[
        "--scenario",
        "crashloop",
        "--scenario",
        "healthy",
        "--scenario",
        "pending-resources",
        "--scenario",
        "imagepull",
    ])
    .await;
    let cases: &[Case] = &[
        (
            &["get", "pods", "-n", "crashloop"],
            true,
            "CrashLoopBackOff",
        ),
        (&["get", "pods", "-A"], true, "storefront-68f9d7b5c-4mzq8"),
        (&["get", "nodes"], true, "worker-1   Ready"),
        (
            &["get", "all", "-n", "crashloop"],
            true,
            "deployment.apps/checkout",
        ),
        (
            &[
                "get",
                "pods",
                "-n",
                "healthy",
                "-l",
                "app=storefront",
                "-o",
                "name",
            ],
            true,
            "pod/storefront-68f9d7b5c-b7tkx",
        ),
        (
            &["get", "pods", "-n", "healthy", "-l", "app in (nothing)"],
            true,
            "No resources found in healthy namespace.",
        ),
        (
            &[
                "describe",
                "pod",
                "-n",
                "crashloop",
                "checkout-7c9d8f6b5-x2k4p",
            ],
            true,
            "Back-off restarting failed container app",
        ),
        (
            &[
                "describe",
                "pod",
                "-n",
                "crashloop",
                "checkout-7c9d8f6b5-x2k4p",
            ],
            true,
            "Exit Code:    1",
        ),
        (
            &[
                "logs",
                "--previous",
                "-n",
                "crashloop",
                "checkout-7c9d8f6b5-x2k4p",
            ],
            true,
            "panic: invalid value for MAX_CONNECTIONS",
        ),
        (
            &[
                "logs",
                "-n",
                "crashloop",
                "checkout-7c9d8f6b5-x2k4p",
                "--tail=1",
            ],
            true,
            "loading configuration from environment",
        ),
        (
            &["logs", "-n", "imagepull", "frontend-5f6d7c8b9-9wq7m"],
            false,
            "container \"web\" in pod \"frontend-5f6d7c8b9-9wq7m\" is waiting to start: trying and failing to pull image",
        ),
        (
            &[
                "logs",
                "--previous",
                "-n",
                "healthy",
                "storefront-68f9d7b5c-4mzq8",
            ],
            false,
            "previous terminated container \"web\" in pod \"storefront-68f9d7b5c-4mzq8\" not found",
        ),
        (
            &[
                "get",
                "events",
                "-n",
                "pending-resources",
                "--field-selector",
                "reason=FailedScheduling",
            ],
            true,
            "0/3 nodes are available: 3 Insufficient memory.",
        ),
        (
            &[
                "get",
                "events",
                "-n",
                "crashloop",
                "--field-selector",
                "type=Warning,involvedObject.kind=Pod",
            ],
            true,
            "BackOff",
        ),
        (
            &[
                "get",
                "events",
                "-n",
                "crashloop",
                "--field-selector",
                "reason=NoSuchReason",
            ],
            true,
            "No resources found",
        ),
        (
            &[
                "get",
                "events",
                "-n",
                "crashloop",
                "--field-selector",
                "spec.nope=x",
            ],
            false,
            "field label not supported: spec.nope",
        ),
        (
            &["get", "widgets"],
            false,
            "the server doesn't have a resource type \"widgets\"",
        ),
        (
            &["get", "pod", "-n", "healthy", "nope"],
            false,
            "Error from server (NotFound): pods \"nope\" not found",
        ),
        (
            &[
                "scale",
                "-n",
                "healthy",
                "deployment/storefront",
                "--replicas=5",
            ],
            true,
            "deployment.apps/storefront scaled",
        ),
        (
            &[
                "scale",
                "-n",
                "healthy",
                "deployment/storefront",
                "--replicas=9",
                "--dry-run=server",
            ],
            true,
            "deployment.apps/storefront scaled (server dry run)",
        ),
        (
            &[
                "delete",
                "pod",
                "-n",
                "healthy",
                "storefront-68f9d7b5c-rw2jv",
                "--dry-run=server",
            ],
            true,
            "pod \"storefront-68f9d7b5c-rw2jv\" deleted (server dry run)",
        ),
        (
            &["get", "pod", "-n", "healthy", "storefront-68f9d7b5c-rw2jv"],
            true,
            "Running",
        ),
        (
            &[
                "get",
                "deployment",
                "-n",
                "healthy",
                "storefront",
                "-o",
                "jsonpath={.spec.replicas}",
            ],
            true,
            "5",
        ),
        (
            &[
                "rollout",
                "restart",
                "-n",
                "healthy",
                "deployment/storefront",
            ],
            true,
            "deployment.apps/storefront restarted",
        ),
        (
            &[
                "get",
                "deployment",
                "-n",
                "healthy",
                "storefront",
                "-o",
                "jsonpath={.spec.template.metadata.annotations}",
            ],
            true,
            "kubectl.kubernetes.io/restartedAt",
        ),
        (
            &[
                "get",
                "deployment",
                "-n",
                "healthy",
                "storefront",
                "-o",
                "jsonpath={.metadata.generation}",
            ],
            true,
            "3",
        ),
        (
            &[
                "delete",
                "pod",
                "-n",
                "healthy",
                "storefront-68f9d7b5c-4mzq8",
            ],
            true,
            "pod \"storefront-68f9d7b5c-4mzq8\" deleted",
        ),
        // The ReplicaSet replaces it: ContainerCreating first, then the old pod's state.
        (&["get", "pods", "-n", "healthy"], true, "ContainerCreating"),
        (
            &["get", "pod", "-n", "healthy", "storefront-68f9d7b5c-4mzq8"],
            false,
            "pods \"storefront-68f9d7b5c-4mzq8\" not found",
        ),
        (
            &["annotate", "configmap", "-n", "healthy", "missing", "a=b"],
            false,
            "configmaps \"missing\" not found",
        ),
        (
            &[
                "label",
                "pod",
                "-n",
                "healthy",
                "storefront-68f9d7b5c-b7tkx",
                "triaged=yes",
            ],
            true,
            "labeled",
        ),
        (
            &["get", "pods", "-n", "healthy", "-l", "triaged"],
            true,
            "storefront-68f9d7b5c-b7tkx",
        ),
        (
            &["top", "pod", "-n", "healthy"],
            true,
            "storefront-68f9d7b5c-rw2jv",
        ),
        (
            &["delete", "namespace", "pending-resources"],
            true,
            "namespace \"pending-resources\" deleted",
        ),
        (
            &["get", "pods", "-n", "pending-resources"],
            true,
            "No resources found in pending-resources namespace.",
        ),
        (
            &["get", "certificates", "-n", "healthy"],
            true,
            "storefront-tls",
        ),
        (&["api-resources", "--api-group=apps"], true, "deployments"),
        (
            &["version", "-o", "json"],
            true,
            "\"gitVersion\": \"v1.32.4\"",
        ),
    ];
    run_cases(&sim, cases);

    // No kubeconfig at all: `--server http://127.0.0.1:PORT` is enough.
    let out = Command::new("kubectl")
        .args(["--server", &sim.url, "get", "nodes"])
        .env("HOME", sim.home())
        .env("KUBECONFIG", sim.home().join("absent"))
        .output()
        .expect("kubectl --server");
    assert!(
        out.status.success() && output_text(&out).contains("worker-3"),
        "{}",
        output_text(&out)
    );
}

#[tokio::test]
async fn kubectl_denied_by_rbac() {
    let sim = KubeSim::start(&[
        "--scenario",
        "crashloop",
        "--deny",
        "list:pods:crashloop",
        "--deny",
        "get:secrets",
    ])
    .await;
    let cases: &[Case] = &[
        (
            &["get", "pods", "-n", "crashloop"],
            false,
            "Error from server (Forbidden): pods is forbidden: User \"system:serviceaccount:acorn:acorn-agent\" cannot list resource \"pods\" in API group \"\" in the namespace \"crashloop\"",
        ),
        (
            &["get", "pods", "-n", "default"],
            true,
            "No resources found",
        ),
        (
            &["get", "secret", "-n", "crashloop", "db"],
            false,
            "secrets \"db\" is forbidden: User \"system:serviceaccount:acorn:acorn-agent\" cannot get resource \"secrets\" in API group \"\" in the namespace \"crashloop\"",
        ),
        (
            &["auth", "can-i", "list", "pods", "-n", "crashloop"],
            false,
            "no",
        ),
        (
            &["auth", "can-i", "list", "pods", "-n", "default"],
            true,
            "yes",
        ),
    ];
    run_cases(&sim, cases);
    // Rules can change at runtime.
    sim.admin(
        "PUT",
        "rbac",
        Some(r#"[{"verbs": ["delete"], "resource": "pods", "namespace": "crashloop"}]"#),
    )
    .await;
    run_cases(
        &sim,
        &[
            (
                &["get", "pods", "-n", "crashloop"],
                true,
                "checkout-7c9d8f6b5-x2k4p",
            ),
            (
                &[
                    "delete",
                    "pod",
                    "-n",
                    "crashloop",
                    "checkout-7c9d8f6b5-x2k4p",
                ],
                false,
                "pods \"checkout-7c9d8f6b5-x2k4p\" is forbidden: User \"system:serviceaccount:acorn:acorn-agent\" cannot delete resource \"pods\" in API group \"\" in the namespace \"crashloop\"",
            ),
        ],
    );
}

#[tokio::test]
async fn kubectl_watch_sees_modified() {
    let sim = KubeSim::start(&["--scenario", "crashloop"]).await;
    let mut child = Command::new("kubectl")
        .arg("--kubeconfig")
        .arg(sim.kubeconfig())
        .args([
            "get",
            "pods",
            "-n",
            "crashloop",
            "-w",
            "--output-watch-events",
        ])
        .env("HOME", sim.home())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("kubectl get -w");
    let stdout = child.stdout.take().expect("stdout");
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    let deadline = Instant::now() + Duration::from_secs(30);
    let mut seen = Vec::new();
    let mut advanced = false;
    let modified = loop {
        match rx.recv_timeout(Duration::from_millis(200)) {
            Ok(line) => {
                if line.starts_with("MODIFIED") {
                    break line;
                }
                if line.starts_with("ADDED") && !advanced {
                    // The timeline restarts the crashing container every 30 s of scenario time.
                    sim.admin("POST", "advance?seconds=31", None).await;
                    advanced = true;
                }
                seen.push(line);
            }
            Err(_) => assert!(Instant::now() < deadline, "no MODIFIED line; saw {seen:?}"),
        }
    };
    let _ = child.kill();
    let _ = child.wait();
    assert!(modified.contains("checkout-7c9d8f6b5-x2k4p"), "{modified}");
    assert!(
        modified.contains("CrashLoopBackOff") && modified.contains(" 8 "),
        "restart count 8 expected: {modified}"
    );
}
