//! Tests of the builtin tools against the Kubernetes API simulator (`acorn-kubesim`, started
//! in-process on a loopback port, with a real `kube::Client` built from its kubeconfig).
//!
//! Most behaviour is one data-driven table ([`cases`]): each row names the scenarios to load,
//! an optional change to the simulator (RBAC denial, metrics off) and to the policy, the tool
//! call, and what must (and must not) come back. The rows cover the scenario library
//! (crash loop with previous logs, image pull, OOMKilled, pending, job backoff, metrics on and
//! off, rollout history) and every typed error. Tests that must look at the simulator's state
//! afterwards (dry run changes nothing, a real write does, no API call for an excluded
//! namespace) are separate functions below the table.
//!
//! `testdata/tools-lab/` is a scenario of our own: a Deployment with three revisions, a
//! StatefulSet mid-rollout, a two-container pod, a Secret with a planted value and a pod whose
//! env and log carry planted tokens. No tool output may ever contain the Secret's value.

use std::path::PathBuf;
use std::sync::Arc;

use acorn_kubesim::{Config, DenyRule, MetricsMode, Running, Sim};
use acorn_proto::agent::{
    NamespaceFilter, RunMode, ToolCall, ToolClass, ToolErrorCode, ToolOutcome, ToolOutput,
};
use serde_json::{Value, json};

use super::{Policy, catalog, run};
use crate::redact::Redactor;

/// The planted Secret value of `testdata/tools-lab` and its base64 form.
const PLANTED_SECRET: &str = "S3cr3t-Planted-Value-7731";
const PLANTED_SECRET_B64: &str = "UzNjcjN0LVBsYW50ZWQtVmFsdWUtNzczMQ==";
/// Planted in the `api` pod's env and in its log.
const PLANTED_ENV_TOKEN: &str = "ghp_PlantedEnvTokenPlantedEnvToken0123456";
const PLANTED_LOG_TOKEN: &str = "planted-log-token-5f2a9c81d7e4";

struct Env {
    running: Running,
    client: kube::Client,
    redactor: Redactor,
}

impl Env {
    async fn start(scenarios: &[&str]) -> Env {
        let _ = rustls::crypto::ring::default_provider().install_default();
        let config = Config {
            scenarios: scenarios.iter().map(|s| s.to_string()).collect(),
            scenario_dirs: vec![
                PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("src/tools/testdata/tools-lab"),
            ],
            time_scale: 0.0,
            ..Config::default()
        };
        let running = acorn_kubesim::start(&config, "127.0.0.1:0".parse().unwrap())
            .await
            .unwrap();
        let kubeconfig =
            kube::config::Kubeconfig::from_yaml(&acorn_kubesim::kubeconfig(&running.url()))
                .unwrap();
        let config = kube::Config::from_custom_kubeconfig(
            kubeconfig,
            &kube::config::KubeConfigOptions::default(),
        )
        .await
        .unwrap();
        // kube's default retry policy retries 503 up to 15 times with growing backoff; the
        // agent's client turns it off (tool calls have their own timeout), and so do we.
        let mut config = config;
        config.default_retry = false;
        let client = kube::Client::try_from(config).unwrap();
        Env {
            running,
            client,
            redactor: Redactor::new(&[]).unwrap(),
        }
    }

    fn sim(&self) -> &Arc<Sim> {
        &self.running.sim
    }

    async fn call(&self, policy: &Policy, tool: &str, args: Value, mode: RunMode) -> ToolOutcome {
        let call = ToolCall {
            call_id: "c1".into(),
            tool: tool.into(),
            arguments: args,
            mode,
            run_id: None,
            timeout_ms: 30_000,
        };
        let outcome = run(&self.client, policy, &self.redactor, &call).await;
        let text = match &outcome {
            ToolOutcome::Ok(out) => out.content.clone(),
            ToolOutcome::Error(e) => e.message.clone(),
        };
        for planted in [PLANTED_SECRET, PLANTED_SECRET_B64] {
            assert!(
                !text.contains(planted),
                "{tool} returned the Secret's value:\n{text}"
            );
        }
        outcome
    }

    /// The object as the simulator holds it.
    fn object(&self, api_version: &str, kind: &str, ns: &str, name: &str) -> Value {
        let sim = self.sim();
        let id = sim.registry().by_kind(api_version, kind).unwrap();
        (*sim.store.get(id, ns, name).unwrap()).clone()
    }

    /// Requests the simulator served so far.
    fn requests(&self) -> u64 {
        self.sim()
            .request_counts()
            .iter()
            .filter(|(k, _)| !k.contains(':'))
            .map(|(_, v)| v)
            .sum()
    }
}

fn open_policy() -> Policy {
    Policy {
        namespaces: NamespaceFilter::default_excludes(),
        write_enabled: true,
        write_allowed: true,
        logs_allowed: true,
    }
}

#[derive(Debug)]
enum Expect {
    Ok {
        contains: Vec<&'static str>,
        absent: Vec<&'static str>,
        min_redactions: u32,
    },
    Err {
        code: ToolErrorCode,
        contains: Vec<&'static str>,
    },
}

struct Case {
    name: &'static str,
    scenarios: &'static [&'static str],
    setup: fn(&Sim),
    policy: fn(&mut Policy),
    tool: &'static str,
    args: Value,
    mode: RunMode,
    expect: Expect,
}

fn case(
    name: &'static str,
    scenarios: &'static [&'static str],
    tool: &'static str,
    args: Value,
) -> Case {
    Case {
        name,
        scenarios,
        setup: |_| {},
        policy: |_| {},
        tool,
        args,
        mode: RunMode::ReadOnly,
        expect: Expect::Ok {
            contains: vec![],
            absent: vec![],
            min_redactions: 0,
        },
    }
}

impl Case {
    fn shows(mut self, want: &[&'static str]) -> Case {
        if let Expect::Ok { contains, .. } = &mut self.expect {
            contains.extend_from_slice(want);
        }
        self
    }
    fn hides(mut self, never: &[&'static str]) -> Case {
        if let Expect::Ok { absent, .. } = &mut self.expect {
            absent.extend_from_slice(never);
        }
        self
    }
    fn masks(mut self, n: u32) -> Case {
        if let Expect::Ok { min_redactions, .. } = &mut self.expect {
            *min_redactions = n;
        }
        self
    }
    fn fails(mut self, code: ToolErrorCode, contains: &[&'static str]) -> Case {
        self.expect = Expect::Err {
            code,
            contains: contains.to_vec(),
        };
        self
    }
    fn setup(mut self, f: fn(&Sim)) -> Case {
        self.setup = f;
        self
    }
    fn policy(mut self, f: fn(&mut Policy)) -> Case {
        self.policy = f;
        self
    }
    fn read_write(mut self) -> Case {
        self.mode = RunMode::ReadWrite;
        self
    }
}

fn cases() -> Vec<Case> {
    use ToolErrorCode as E;
    vec![
        // ---- scenario library
        case("crashloop pods table", &["crashloop"], "list_resources", json!({"kind": "po", "namespace": "crashloop"}))
            .shows(&["NAME", "checkout-7c9d8f6b5-x2k4p", "0/1", "CrashLoopBackOff", "7 (", "worker-1"]),
        case("crashloop previous log shows the panic", &["crashloop"], "get_pod_logs",
            json!({"namespace": "crashloop", "pod": "checkout-7c9d8f6b5-x2k4p", "previous": true}))
            .shows(&["panic: invalid value for MAX_CONNECTIONS", "parsing \"ten\""]),
        case("crashloop describe has state, last state and owner chain", &["crashloop"], "describe",
            json!({"kind": "Pod", "namespace": "crashloop", "name": "checkout-7c9d8f6b5-x2k4p"}))
            .shows(&["Waiting (CrashLoopBackOff)", "Terminated (Error), exit code 1",
                "Controlled by: ReplicaSet/checkout-7c9d8f6b5 <- Deployment/checkout", "BackOff", "Events:"]),
        case("imagepull describe with events", &["imagepull"], "describe",
            json!({"kind": "pods", "namespace": "imagepull", "name": "frontend-5f6d7c8b9-9wq7m"}))
            .shows(&["ImagePullBackOff", "Failed", "not found", "Deployment/frontend"]),
        case("oomkilled last state", &["oomkilled"], "describe",
            json!({"kind": "Pod", "namespace": "oomkilled", "name": "report-worker-6b8c9d7f4-q8r2n"}))
            .shows(&["OOMKilled", "exit code 137", "memory=256Mi"]),
        case("pending events newest first", &["pending-resources"], "get_events",
            json!({"namespace": "pending-resources", "type": "Warning"}))
            .shows(&["FailedScheduling", "0/3 nodes are available: 3 Insufficient memory."])
            .hides(&["Normal "]),
        case("job backoff", &["job-backoff"], "describe",
            json!({"kind": "job", "namespace": "job-backoff", "name": "nightly-report-29409120"}))
            .shows(&["BackoffLimitExceeded", "Status:       Failed", "CronJob/nightly-report"]),
        case("top pods next to the memory limit", &["oomkilled"], "top_pods", json!({"namespace": "oomkilled"}))
            .shows(&["report-worker-6b8c9d7f4-q8r2n", "912m", "255Mi", "256Mi", "100%"]),
        case("top pods without metrics-server", &["oomkilled"], "top_pods", json!({"namespace": "oomkilled"}))
            .setup(|sim| sim.set_metrics_mode(MetricsMode::Absent))
            .fails(E::ToolKubernetesError, &["metrics-server is not available", "404"]),
        case("top nodes with metrics-server down", &[], "top_nodes", json!({}))
            .setup(|sim| sim.set_metrics_mode(MetricsMode::Unavailable))
            .fails(E::ToolKubernetesError, &["metrics-server is not available", "503"]),
        case("top nodes", &[], "top_nodes", json!({"sort_by": "cpu"}))
            .shows(&["worker-1", "CPU%", "MEMORY%"]),
        case("deployment rollout history", &[], "rollout_history",
            json!({"kind": "Deployment", "namespace": "tools-lab", "name": "api"}))
            .shows(&["3 (current)", "api-7fa9b8c6d", "api:1.1.0", "api:1.2.0", "api:1.3.0",
                "bump to 1.3.0 for the cache fix", "initial release"]),
        case("statefulset rollout history", &[], "rollout_history",
            json!({"kind": "StatefulSet", "namespace": "tools-lab", "name": "cache"}))
            .shows(&["1 (current)", "2 (updating to)", "redis:7.2.4", "redis:7.2.5", "rollout is in progress"]),
        case("nodes table", &[], "list_resources", json!({"kind": "nodes"}))
            .shows(&["worker-1", "Ready"]),
        case("custom resource through discovery", &["healthy"], "list_resources",
            json!({"kind": "Certificate", "namespace": "healthy"}))
            .shows(&["storefront-tls"]),
        case("get_resource is trimmed YAML", &["crashloop"], "get_resource",
            json!({"kind": "deploy", "namespace": "crashloop", "name": "checkout"}))
            .shows(&["kind: Deployment", "name: checkout", "image: registry.example.com/shop/checkout:2.3.1"])
            .hides(&["managedFields"]),
        case("limit cuts and says so", &["job-backoff"], "list_resources",
            json!({"kind": "pods", "namespace": "job-backoff", "limit": 2}))
            .shows(&["more pods exist than the limit of 2"]),
        // ---- secrets and redaction
        case("secret shows keys only", &[], "get_resource",
            json!({"kind": "secret", "namespace": "tools-lab", "name": "db-credentials"}))
            .shows(&["password", "username", "Opaque", "never shown"]),
        case("secret table shows counts only", &[], "list_resources",
            json!({"kind": "secrets", "namespace": "tools-lab"}))
            .shows(&["db-credentials", "Opaque", "2"]),
        case("planted token in a log is masked and counted", &[], "get_pod_logs",
            json!({"namespace": "tools-lab", "pod": "api-7fa9b8c6d-q2w3e"}))
            .shows(&["Authorization: Bearer [REDACTED]", "billing answered 200"])
            .hides(&[PLANTED_LOG_TOKEN])
            .masks(1),
        case("planted token in an env value is masked and counted", &[], "get_resource",
            json!({"kind": "pod", "namespace": "tools-lab", "name": "api-7fa9b8c6d-q2w3e"}))
            .shows(&["UPSTREAM_AUTH_HEADER", "Bearer [REDACTED]", "secretKeyRef"])
            .hides(&[PLANTED_ENV_TOKEN])
            .masks(1),
        case("describe shows where secret env comes from, not its value", &[], "describe",
            json!({"kind": "pod", "namespace": "tools-lab", "name": "api-7fa9b8c6d-q2w3e"}))
            .shows(&["DB_PASSWORD  <set to the key 'password' in secret 'db-credentials'>", "Bearer [REDACTED]"])
            .hides(&[PLANTED_ENV_TOKEN])
            .masks(1),
        // ---- Kubernetes errors
        case("not found", &["crashloop"], "get_resource",
            json!({"kind": "pod", "namespace": "crashloop", "name": "nope"}))
            .fails(E::ToolObjectNotFound, &["\"nope\" not found"]),
        case("RBAC denial keeps Kubernetes' message", &["crashloop"], "list_resources",
            json!({"kind": "pods", "namespace": "crashloop"}))
            .setup(|sim| sim.set_deny(vec![DenyRule { verbs: vec!["list".into()], resource: "pods".into(), group: None, namespace: Some("crashloop".into()) }]))
            .fails(E::ToolForbiddenByRbac, &["pods is forbidden", "cannot list resource \"pods\""]),
        case("multi-container pod needs a container", &[], "get_pod_logs",
            json!({"namespace": "tools-lab", "pod": "sidecar-demo"}))
            .fails(E::ToolKubernetesError, &["a container name must be specified for pod sidecar-demo", "app", "proxy"]),
        case("previous log of a container that never restarted", &[], "get_pod_logs",
            json!({"namespace": "tools-lab", "pod": "sidecar-demo", "container": "app", "previous": true}))
            .fails(E::ToolKubernetesError, &["previous terminated container"]),
        case("namespace outside the filter", &["crashloop"], "get_events",
            json!({"namespace": "kube-public"}))
            .fails(E::ToolNamespaceExcluded, &["kube-public"]),
        case("namespace outside an include list", &["crashloop"], "get_pod_logs",
            json!({"namespace": "crashloop", "pod": "checkout-7c9d8f6b5-x2k4p"}))
            .policy(|p| p.namespaces.include = vec!["tools-lab".into()])
            .fails(E::ToolNamespaceExcluded, &["crashloop"]),
        case("cluster-wide lists stay inside the filter", &["crashloop"], "list_resources",
            json!({"kind": "pods"}))
            .policy(|p| p.namespaces.exclude.push("crashloop".into()))
            .shows(&["tools-lab", "api-7fa9b8c6d-q2w3e"])
            .hides(&["checkout-7c9d8f6b5-x2k4p"]),
        // ---- argument checks
        case("unknown tool", &[], "exec_in_pod", json!({}))
            .fails(E::ToolUnknown, &["exec_in_pod"]),
        case("wrong type names the field", &[], "scale_workload",
            json!({"kind": "Deployment", "namespace": "tools-lab", "name": "api", "replicas": "three", "dry_run": true}))
            .read_write()
            .fails(E::ToolArgumentsInvalid, &["replicas", "invalid type"]),
        case("unknown field names the field", &[], "get_resource",
            json!({"kind": "pod", "namespace": "tools-lab", "name": "x", "output": "json"}))
            .fails(E::ToolArgumentsInvalid, &["unknown field `output`"]),
        case("missing field names the field", &[], "get_pod_logs",
            json!({"namespace": "tools-lab"}))
            .fails(E::ToolArgumentsInvalid, &["missing field `pod`"]),
        case("unknown kind", &[], "list_resources", json!({"kind": "gizmos"}))
            .fails(E::ToolArgumentsInvalid, &["kind", "gizmos"]),
        case("namespaced kind without namespace", &[], "get_resource", json!({"kind": "pod", "name": "x"}))
            .fails(E::ToolArgumentsInvalid, &["namespace"]),
        // ---- policy
        case("logs not allowed", &["crashloop"], "get_pod_logs",
            json!({"namespace": "crashloop", "pod": "checkout-7c9d8f6b5-x2k4p"}))
            .policy(|p| p.logs_allowed = false)
            .fails(E::ToolLogsNotAllowed, &["not allowed"]),
        case("write in a read-only run", &[], "restart_workload",
            json!({"kind": "Deployment", "namespace": "tools-lab", "name": "api", "dry_run": true}))
            .fails(E::ToolWriteInReadOnlyRun, &["read-only"]),
        case("read-only run wins over disabled writes and bad arguments", &[], "scale_workload", json!({"bogus": 1}))
            .policy(|p| p.write_enabled = false)
            .fails(E::ToolWriteInReadOnlyRun, &["read-only"]),
        case("writes disabled by the agent", &[], "restart_workload",
            json!({"kind": "Deployment", "namespace": "tools-lab", "name": "api", "dry_run": true}))
            .read_write()
            .policy(|p| p.write_enabled = false)
            .fails(E::ToolWritesDisabled, &["ACORN_AGENT_WRITE_ENABLED"]),
        case("writes not allowed by the registration", &[], "cordon_node", json!({"name": "worker-1", "dry_run": true}))
            .read_write()
            .policy(|p| p.write_allowed = false)
            .fails(E::ToolWritesDisabled, &["registration"]),
        case("scale to zero needs the flag", &[], "scale_workload",
            json!({"kind": "Deployment", "namespace": "tools-lab", "name": "api", "replicas": 0, "dry_run": true}))
            .read_write()
            .fails(E::ToolArgumentsInvalid, &["allow_scale_to_zero"]),
        case("secret-looking env names are refused", &[], "patch_workload",
            json!({"kind": "Deployment", "namespace": "tools-lab", "name": "api", "env": [{"name": "STRIPE_API_KEY", "value": "x"}], "dry_run": true}))
            .read_write()
            .fails(E::ToolArgumentsInvalid, &["env[0].name", "credential"]),
        case("a write in an excluded namespace", &["crashloop"], "delete_pod",
            json!({"namespace": "crashloop", "name": "checkout-7c9d8f6b5-x2k4p", "dry_run": true}))
            .read_write()
            .policy(|p| p.namespaces.exclude.push("crashloop".into()))
            .fails(E::ToolNamespaceExcluded, &["crashloop"]),
        case("write denied by RBAC", &[], "scale_workload",
            json!({"kind": "Deployment", "namespace": "tools-lab", "name": "api", "replicas": 3, "dry_run": false}))
            .read_write()
            .setup(|sim| sim.set_deny(vec![DenyRule { verbs: vec!["patch".into()], resource: "deployments".into(), group: None, namespace: None }]))
            .fails(E::ToolForbiddenByRbac, &["forbidden", "patch"]),
        case("dry-run restart shows the annotation it would add", &[], "restart_workload",
            json!({"kind": "Deployment", "namespace": "tools-lab", "name": "api", "dry_run": true}))
            .read_write()
            .shows(&["Dry run", "--- before", "+++ after", "+", "kubectl.kubernetes.io/restartedAt"]),
        case("dry-run delete of a controlled pod", &[], "delete_pod",
            json!({"namespace": "tools-lab", "name": "api-7fa9b8c6d-q2w3e", "dry_run": true}))
            .read_write()
            .shows(&["Dry run", "-pod: tools-lab/api-7fa9b8c6d-q2w3e", "ReplicaSet/api-7fa9b8c6d creates a replacement"]),
    ]
}

fn text_of(outcome: &ToolOutcome) -> &str {
    match outcome {
        ToolOutcome::Ok(ToolOutput { content, .. }) => content,
        ToolOutcome::Error(e) => &e.message,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tools_against_the_scenario_library() {
    let mut failures = Vec::new();
    for case in cases() {
        let env = Env::start(case.scenarios).await;
        (case.setup)(env.sim());
        let mut policy = open_policy();
        (case.policy)(&mut policy);
        let outcome = env
            .call(&policy, case.tool, case.args.clone(), case.mode)
            .await;
        let text = text_of(&outcome);
        let problem = match (&case.expect, &outcome) {
            (
                Expect::Ok {
                    contains,
                    absent,
                    min_redactions,
                },
                ToolOutcome::Ok(out),
            ) => {
                let missing: Vec<_> = contains.iter().filter(|w| !text.contains(**w)).collect();
                let present: Vec<_> = absent.iter().filter(|w| text.contains(**w)).collect();
                if !missing.is_empty() {
                    Some(format!("missing {missing:?}"))
                } else if !present.is_empty() {
                    Some(format!("must not show {present:?}"))
                } else if out.redactions < *min_redactions {
                    Some(format!(
                        "{} redactions, want at least {min_redactions}",
                        out.redactions
                    ))
                } else {
                    None
                }
            }
            (Expect::Err { code, contains }, ToolOutcome::Error(e)) => {
                let missing: Vec<_> = contains.iter().filter(|w| !text.contains(**w)).collect();
                if e.code != *code {
                    Some(format!("code {:?}, want {code:?}", e.code))
                } else if !missing.is_empty() {
                    Some(format!("missing {missing:?}"))
                } else {
                    None
                }
            }
            (want, _) => Some(format!("want {want:?}")),
        };
        if let Some(problem) = problem {
            failures.push(format!("[{}] {problem}\n{outcome:?}\n{text}", case.name));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n\n"));
}

#[tokio::test]
async fn dry_run_shows_a_diff_and_changes_nothing() {
    let env = Env::start(&[]).await;
    let policy = open_policy();
    let before = env.object("apps/v1", "Deployment", "tools-lab", "api");
    let out = env
        .call(
            &policy,
            "patch_workload",
            json!({"kind": "Deployment", "namespace": "tools-lab", "name": "api",
                "image": "registry.example.com/lab/api:1.4.0",
                "resources": {"limits": {"memory": "256Mi"}},
                "env": [{"name": "LOG_LEVEL", "value": "debug"}],
                "labels": {"team": "payments"}, "dry_run": true}),
            RunMode::ReadWrite,
        )
        .await;
    let text = text_of(&out).to_string();
    assert!(matches!(out, ToolOutcome::Ok(_)), "{out:?}");
    for want in [
        "Dry run",
        "-  image: registry.example.com/lab/api:1.3.0",
        "+  image: registry.example.com/lab/api:1.4.0",
        "+      memory: 256Mi",
        "+    team: payments",
        "value: debug",
    ] {
        assert!(text.contains(want), "missing {want:?} in\n{text}");
    }
    let after = env.object("apps/v1", "Deployment", "tools-lab", "api");
    assert_eq!(before, after, "a dry run changed the object");

    let nodes_before = env.object("v1", "Node", "", "worker-1");
    let out = env
        .call(
            &policy,
            "cordon_node",
            json!({"name": "worker-1", "dry_run": true}),
            RunMode::ReadWrite,
        )
        .await;
    assert!(text_of(&out).contains("+  unschedulable: true"), "{out:?}");
    assert_eq!(nodes_before, env.object("v1", "Node", "", "worker-1"));
}

#[tokio::test]
async fn real_writes_change_the_cluster() {
    let env = Env::start(&["crashloop"]).await;
    let policy = open_policy();
    let args = |replicas: u32| json!({"kind": "Deployment", "namespace": "tools-lab", "name": "api", "replicas": replicas, "dry_run": false});
    let out = env
        .call(&policy, "scale_workload", args(5), RunMode::ReadWrite)
        .await;
    assert!(
        text_of(&out).contains("Changed Deployment tools-lab/api"),
        "{out:?}"
    );
    assert!(text_of(&out).contains("+  replicas: 5"), "{out:?}");
    assert_eq!(
        env.object("apps/v1", "Deployment", "tools-lab", "api")["spec"]["replicas"],
        5
    );
    // The same again is no change.
    let out = env
        .call(&policy, "scale_workload", args(5), RunMode::ReadWrite)
        .await;
    assert!(text_of(&out).contains("No change"), "{out:?}");
    // Zero with the flag.
    let out = env
        .call(
            &policy,
            "scale_workload",
            json!({"kind": "Deployment", "namespace": "tools-lab", "name": "api", "replicas": 0, "allow_scale_to_zero": true, "dry_run": false}),
            RunMode::ReadWrite,
        )
        .await;
    assert!(matches!(out, ToolOutcome::Ok(_)), "{out:?}");
    assert_eq!(
        env.object("apps/v1", "Deployment", "tools-lab", "api")["spec"]["replicas"],
        0
    );

    let out = env
        .call(
            &policy,
            "restart_workload",
            json!({"kind": "Deployment", "namespace": "crashloop", "name": "checkout", "dry_run": false}),
            RunMode::ReadWrite,
        )
        .await;
    assert!(matches!(out, ToolOutcome::Ok(_)), "{out:?}");
    let dep = env.object("apps/v1", "Deployment", "crashloop", "checkout");
    assert!(
        dep["spec"]["template"]["metadata"]["annotations"]["kubectl.kubernetes.io/restartedAt"]
            .is_string(),
        "{dep}"
    );

    let out = env
        .call(
            &policy,
            "patch_workload",
            json!({"kind": "Deployment", "namespace": "crashloop", "name": "checkout",
                "env": [{"name": "MAX_CONNECTIONS", "value": "10"}], "annotations": {"acorn.dev/fixed-by": "run-1"}, "dry_run": false}),
            RunMode::ReadWrite,
        )
        .await;
    assert!(matches!(out, ToolOutcome::Ok(_)), "{out:?}");
    let dep = env.object("apps/v1", "Deployment", "crashloop", "checkout");
    let container = &dep["spec"]["template"]["spec"]["containers"][0];
    assert_eq!(
        container["env"][0],
        json!({"name": "MAX_CONNECTIONS", "value": "10"})
    );
    assert_eq!(container["env"][1]["name"], "LISTEN_ADDR", "other env kept");
    assert_eq!(
        container["resources"]["limits"]["memory"], "256Mi",
        "resources kept"
    );
    assert_eq!(
        dep["metadata"]["annotations"]["acorn.dev/fixed-by"],
        "run-1"
    );

    // An env var that comes from a Secret is never replaced.
    let out = env
        .call(
            &policy,
            "patch_workload",
            json!({"kind": "Deployment", "namespace": "tools-lab", "name": "api",
                "env": [{"name": "DB_PASSWORD", "value": "x"}], "dry_run": false}),
            RunMode::ReadWrite,
        )
        .await;
    assert!(
        matches!(&out, ToolOutcome::Error(e) if e.code == ToolErrorCode::ToolArgumentsInvalid),
        "{out:?}"
    );

    let out = env
        .call(
            &policy,
            "cordon_node",
            json!({"name": "worker-2", "dry_run": false}),
            RunMode::ReadWrite,
        )
        .await;
    assert!(matches!(out, ToolOutcome::Ok(_)), "{out:?}");
    assert_eq!(
        env.object("v1", "Node", "", "worker-2")["spec"]["unschedulable"],
        true
    );
    let out = env
        .call(
            &policy,
            "uncordon_node",
            json!({"name": "worker-2", "dry_run": false}),
            RunMode::ReadWrite,
        )
        .await;
    assert!(text_of(&out).contains("-  unschedulable: true"), "{out:?}");
    assert!(env.object("v1", "Node", "", "worker-2")["spec"]["unschedulable"].is_null());

    let out = env
        .call(
            &policy,
            "delete_pod",
            json!({"namespace": "tools-lab", "name": "sidecar-demo", "dry_run": false}),
            RunMode::ReadWrite,
        )
        .await;
    assert!(
        text_of(&out).contains("nothing will recreate it"),
        "{out:?}"
    );
    let id = env.sim().registry().by_kind("v1", "Pod").unwrap();
    assert!(
        env.sim()
            .store
            .get(id, "tools-lab", "sidecar-demo")
            .is_err()
    );
}

#[tokio::test]
async fn excluded_namespaces_are_refused_before_any_api_call() {
    let env = Env::start(&["crashloop"]).await;
    let mut policy = open_policy();
    policy.namespaces.exclude.push("crashloop".into());
    let before = env.requests();
    for (tool, args, mode) in [
        (
            "get_events",
            json!({"namespace": "crashloop"}),
            RunMode::ReadOnly,
        ),
        (
            "describe",
            json!({"kind": "widgets", "namespace": "crashloop", "name": "x"}),
            RunMode::ReadOnly,
        ),
        (
            "top_pods",
            json!({"namespace": "crashloop"}),
            RunMode::ReadOnly,
        ),
        (
            "rollout_history",
            json!({"kind": "Deployment", "namespace": "crashloop", "name": "checkout"}),
            RunMode::ReadOnly,
        ),
        (
            "restart_workload",
            json!({"kind": "Deployment", "namespace": "crashloop", "name": "checkout", "dry_run": false}),
            RunMode::ReadWrite,
        ),
    ] {
        let out = env.call(&policy, tool, args, mode).await;
        assert!(
            matches!(&out, ToolOutcome::Error(e) if e.code == ToolErrorCode::ToolNamespaceExcluded),
            "{tool}: {out:?}"
        );
    }
    assert_eq!(
        env.requests(),
        before,
        "an excluded namespace reached the API"
    );
}

#[tokio::test]
async fn no_tool_output_carries_secret_data() {
    let env = Env::start(&[]).await;
    let policy = open_policy();
    // `Env::call` asserts on every output; this walks the tools that could show a Secret.
    for (tool, args) in [
        (
            "get_resource",
            json!({"kind": "Secret", "namespace": "tools-lab", "name": "db-credentials"}),
        ),
        (
            "describe",
            json!({"kind": "Secret", "namespace": "tools-lab", "name": "db-credentials"}),
        ),
        ("list_resources", json!({"kind": "secrets"})),
        (
            "list_resources",
            json!({"kind": "secrets", "namespace": "tools-lab"}),
        ),
        ("get_events", json!({"namespace": "tools-lab"})),
        (
            "describe",
            json!({"kind": "Deployment", "namespace": "tools-lab", "name": "api"}),
        ),
        (
            "get_resource",
            json!({"kind": "Deployment", "namespace": "tools-lab", "name": "api"}),
        ),
        (
            "rollout_history",
            json!({"kind": "Deployment", "namespace": "tools-lab", "name": "api"}),
        ),
    ] {
        let out = env
            .call(&policy, tool, args.clone(), RunMode::ReadOnly)
            .await;
        assert!(matches!(out, ToolOutcome::Ok(_)), "{tool} {args}: {out:?}");
    }
}

#[tokio::test]
async fn output_is_bounded() {
    let env = Env::start(&["crashloop"]).await;
    let policy = open_policy();
    let out = env
        .call(
            &policy,
            "get_resource",
            json!({"kind": "pod", "namespace": "crashloop", "name": "checkout-7c9d8f6b5-x2k4p", "max_lines": 10}),
            RunMode::ReadOnly,
        )
        .await;
    let ToolOutcome::Ok(out) = out else {
        panic!("{out:?}")
    };
    assert!(out.truncated);
    assert_eq!(out.content.lines().count(), 10);
    let out = env
        .call(
            &policy,
            "get_pod_logs",
            json!({"namespace": "crashloop", "pod": "checkout-7c9d8f6b5-x2k4p", "previous": true, "max_lines": 3}),
            RunMode::ReadOnly,
        )
        .await;
    let ToolOutcome::Ok(out) = out else {
        panic!("{out:?}")
    };
    assert!(out.truncated, "{out:?}");
    assert_eq!(out.content.lines().count(), 3, "{}", out.content);
    let out = env
        .call(
            &policy,
            "get_pod_logs",
            json!({"namespace": "crashloop", "pod": "checkout-7c9d8f6b5-x2k4p", "previous": true, "tail_lines": 2}),
            RunMode::ReadOnly,
        )
        .await;
    let ToolOutcome::Ok(out) = out else {
        panic!("{out:?}")
    };
    assert!(!out.truncated, "{out:?}");
    assert_eq!(out.content.lines().count(), 2, "{}", out.content);
}

#[test]
fn catalog_schemas_are_strict_objects() {
    let tools = catalog();
    let mut names: Vec<&str> = tools.iter().map(|t| t.name.as_str()).collect();
    names.sort();
    names.dedup();
    assert_eq!(names.len(), tools.len(), "tool names are unique");
    for t in &tools {
        let schema = &t.input_schema;
        assert_eq!(schema["type"], "object", "{}", t.name);
        assert_eq!(schema["additionalProperties"], false, "{}", t.name);
        assert!(
            schema["$schema"]
                .as_str()
                .unwrap_or_default()
                .contains("2020-12"),
            "{}: {schema}",
            t.name
        );
        let writes = t.class == ToolClass::Write;
        assert_eq!(
            schema["required"]
                .as_array()
                .is_some_and(|r| r.contains(&json!("dry_run"))),
            writes,
            "{}: write tools require dry_run",
            t.name
        );
    }
    let logs = tools.iter().find(|t| t.name == "get_pod_logs").unwrap();
    assert!(
        logs.input_schema["properties"]["previous"]["description"]
            .as_str()
            .unwrap()
            .contains("previous")
    );
}
