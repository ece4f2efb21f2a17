//! Install instructions for a cluster's agent: the Helm command with its values file, and the
//! equivalent plain manifest for `kubectl apply -f`. A pure renderer: no HTTP, no store; the
//! clusters API calls [`render`] with the registration and shows the result once (it carries
//! the agent key).
//!
//! Layout:
//! - [`InstallParams`] (what the appliance knows about the cluster) is checked by
//!   [`InstallParams::validate`], then [`render`] builds [`InstallInstructions`]:
//!   - `manifest`: Namespace, ServiceAccount, Secret (the key), ConfigMap (the CA), RBAC for the
//!     scope and write setting, the Lease Role when leader election is on, Deployment;
//!   - `helm_values`: the values file for the chart in `packaging/charts/acorn-agent`, which
//!     renders the same objects (a test renders the chart with Helm's engine and compares);
//!   - `helm_command`: `helm upgrade --install …` with that file.
//! - RBAC rule sets, names and environment are defined once here and once in the chart's
//!   `_helpers.tpl`; the comparison test keeps the two equal.
//!
//! YAML is never assembled from strings: every document is a `serde_json::Value` serialized by
//! serde-saphyr, so a cluster name with quotes, newlines or `---` stays one annotation value.
//! Untrusted values never reach the shell command either: they travel in the values file, and
//! the one configurable word of the command (the chart reference) is shell-quoted.
//!
//! Where the chart comes from ([`InstallParams::chart_ref`]): sites have no internet, so there is
//! no public chart repository to point at. The default is the chart archive shipped with the
//! Acorn release (`./acorn-agent-VERSION.tgz`, next to the values file); a site that mirrors
//! charts pushes that archive into its own OCI registry (`helm push acorn-agent-VERSION.tgz
//! oci://registry.example.internal/charts`) and registers
//! `oci://registry.example.internal/charts/acorn-agent`, which the command then pins with
//! `--version`. The agent image is mirrored the same way and named in [`InstallParams::image`].

use std::fmt::Write as _;

use acorn_proto::agent::{AGENT_KEY_PREFIX, NamespaceFilter};
use base64::Engine as _;
use rustls_pki_types::CertificateDer;
use rustls_pki_types::pem::PemObject;
use serde::ser::{Serialize, SerializeMap, SerializeSeq, Serializer};
use serde_json::{Value, json};
use sha2::{Digest, Sha256};

/// Version of the chart and of the agent image this appliance installs by default; the chart's
/// `version` and `appVersion` are kept equal to it (tested).
pub const CHART_VERSION: &str = env!("CARGO_PKG_VERSION");
/// Helm release name, and the base name of every object.
pub const RELEASE_NAME: &str = "acorn-agent";
/// File name the Helm command expects the values in.
pub const VALUES_FILE: &str = "acorn-agent-values.yaml";
/// Namespace the agent is installed in unless the admin picks another.
pub const DEFAULT_NAMESPACE: &str = "acorn-system";
/// Port of the agent's `/healthz`, `/readyz` and `/metrics`.
pub const HEALTH_PORT: u16 = 8080;

/// Where the agent finds the appliance CA and its key (mounted from the ConfigMap and Secret).
const CA_MOUNT_DIR: &str = "/etc/acorn-agent/ca";
const CA_FILE_KEY: &str = "ca.crt";
const KEY_MOUNT_DIR: &str = "/etc/acorn-agent/key";
const KEY_FILE_KEY: &str = "agent-key";
/// The agent runs as this unprivileged user and group (distroless "nonroot").
const RUN_AS: u32 = 65532;

/// Which permissions the agent gets.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RbacScope {
    /// A ClusterRole: every namespace, nodes and other cluster-scoped objects.
    Cluster,
    /// A Role in each of these namespaces and nothing cluster-wide.
    Namespaces(Vec<String>),
}

/// What the appliance knows about the cluster and how the admin wants the agent installed.
#[derive(Debug, Clone)]
pub struct InstallParams {
    /// The cluster's id (`clu_…`), written into an annotation of the Deployment.
    pub cluster_id: String,
    /// The cluster's display name (any text), written into an annotation of the Deployment.
    pub cluster_name: String,
    /// `https://host:port` the agent dials.
    pub appliance_url: String,
    /// The appliance CA (PEM, one or more certificates) the agent pins.
    pub ca_pem: String,
    /// The cluster's agent key (`acorn_agent_…`).
    pub agent_key: String,
    /// Agent image, `repository[:tag]` or `repository@sha256:…`; without a tag, this
    /// appliance's version ([`CHART_VERSION`]).
    pub image: String,
    /// Namespace the agent runs in (default [`DEFAULT_NAMESPACE`]).
    pub namespace: String,
    /// Cluster-wide or per-namespace permissions.
    pub rbac_scope: RbacScope,
    /// Whether the agent gets write permissions and `ACORN_AGENT_WRITE_ENABLED=true`.
    pub write_enabled: bool,
    /// Whether the agent may read pod logs (`pods/log`).
    pub logs_allowed: bool,
    /// Only these namespaces are watched (empty: all, or the RBAC namespaces).
    pub namespaces_include: Vec<String>,
    /// These namespaces are never watched.
    pub namespaces_exclude: Vec<String>,
    /// Replicas; above one, a Lease elects the replica that connects.
    pub replica_count: u32,
    /// Chart reference for the Helm command: a path to the chart archive or directory, or an
    /// `oci://` reference into the site's mirror (see the module docs).
    pub chart_ref: String,
}

impl InstallParams {
    /// Parameters with the defaults of a new registration: namespace `acorn-system`, cluster
    /// scope, read-only, logs allowed, the registration's default namespace filter, one
    /// replica, the chart archive of this release.
    pub fn new(
        cluster_id: impl Into<String>,
        cluster_name: impl Into<String>,
        appliance_url: impl Into<String>,
        ca_pem: impl Into<String>,
        agent_key: impl Into<String>,
        image: impl Into<String>,
    ) -> Self {
        let filter = NamespaceFilter::default_excludes();
        InstallParams {
            cluster_id: cluster_id.into(),
            cluster_name: cluster_name.into(),
            appliance_url: appliance_url.into(),
            ca_pem: ca_pem.into(),
            agent_key: agent_key.into(),
            image: image.into(),
            namespace: DEFAULT_NAMESPACE.into(),
            rbac_scope: RbacScope::Cluster,
            write_enabled: false,
            logs_allowed: true,
            namespaces_include: filter.include,
            namespaces_exclude: filter.exclude,
            replica_count: 1,
            chart_ref: format!("./{RELEASE_NAME}-{CHART_VERSION}.tgz"),
        }
    }

    /// Checks every field that ends up in an object name, an environment variable or the
    /// command, before anything is rendered.
    pub fn validate(&self) -> Result<(), InstallError> {
        check_dns_label("namespace", &self.namespace)?;
        if let RbacScope::Namespaces(list) = &self.rbac_scope {
            if list.is_empty() {
                return Err(InstallError::NoRbacNamespaces);
            }
            for ns in list {
                check_dns_label("rbac namespace", ns)?;
            }
        }
        // Comma lists in the environment: a comma or space inside a name would split it.
        for ns in self
            .namespaces_include
            .iter()
            .chain(&self.namespaces_exclude)
        {
            check_dns_label("namespace filter", ns)?;
        }
        check_appliance_url(&self.appliance_url)?;
        check_ca(&self.ca_pem)?;
        check_agent_key(&self.agent_key)?;
        ImageRef::parse(&self.image)?;
        if self.replica_count == 0 {
            return Err(InstallError::ReplicaCount);
        }
        if self.chart_ref.trim().is_empty() || self.chart_ref.chars().any(char::is_control) {
            return Err(InstallError::ChartRef);
        }
        Ok(())
    }

    fn leader_election(&self) -> bool {
        self.replica_count > 1
    }

    /// `ACORN_AGENT_NAMESPACES_INCLUDE`: with scope `namespaces` and no explicit list, the RBAC
    /// namespaces (the agent could not list any other).
    fn effective_include(&self) -> Vec<String> {
        match (&self.rbac_scope, self.namespaces_include.is_empty()) {
            (RbacScope::Namespaces(list), true) => list.clone(),
            _ => self.namespaces_include.clone(),
        }
    }

    /// The CA as written to the ConfigMap and the values file: trimmed, one final newline.
    fn ca_bundle(&self) -> String {
        format!("{}\n", self.ca_pem.trim())
    }
}

/// What the admin is shown: two ways to install the same agent.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InstallInstructions {
    /// `helm upgrade --install …`, reading [`InstallInstructions::helm_values`] from
    /// [`VALUES_FILE`].
    pub helm_command: String,
    /// The values file for the chart. Holds the agent key.
    pub helm_values: String,
    /// Multi-document YAML for `kubectl apply -f`. Holds the agent key (in the Secret only).
    pub manifest: String,
}

/// Why install instructions cannot be rendered.
#[derive(Debug, thiserror::Error)]
pub enum InstallError {
    #[error(
        "{field} {value:?} is not a valid Kubernetes name (lowercase letters, digits and '-', at most 63)"
    )]
    InvalidName { field: &'static str, value: String },
    #[error("the RBAC scope 'namespaces' needs at least one namespace")]
    NoRbacNamespaces,
    #[error("the appliance URL {0:?} must be https://host[:port] with nothing after the host")]
    ApplianceUrl(String),
    #[error("the appliance CA must be one or more PEM certificates: {0}")]
    CaBundle(String),
    #[error(
        "the agent key must start with {AGENT_KEY_PREFIX} and hold only letters, digits, '-' and '_'"
    )]
    AgentKey,
    #[error("the agent image {0:?} is not a valid image reference")]
    Image(String),
    #[error("the replica count must be at least 1")]
    ReplicaCount,
    #[error("the chart reference must not be empty nor contain control characters")]
    ChartRef,
    #[error("rendering YAML failed: {0}")]
    Yaml(String),
}

/// Renders the Helm command, its values file and the plain manifest for `p`.
pub fn render(p: &InstallParams) -> Result<InstallInstructions, InstallError> {
    p.validate()?;
    let values = helm_values(p)?;
    let mut helm_values = String::from(
        "# Values for the acorn-agent chart, generated by the Acorn appliance.\n\
         # This file holds the cluster's agent key: delete it once the agent is installed.\n",
    );
    helm_values.push_str(&to_yaml(&[values], VALUES_KEY_ORDER)?);
    Ok(InstallInstructions {
        helm_command: helm_command(p),
        helm_values,
        manifest: to_yaml(&manifest_documents(p)?, MANIFEST_KEY_ORDER)?,
    })
}

/// The objects of the plain manifest, in the order `kubectl apply` should create them.
fn manifest_documents(p: &InstallParams) -> Result<Vec<Value>, InstallError> {
    let ns = p.namespace.as_str();
    let image = ImageRef::parse(&p.image)?;
    let labels = labels();
    let meta = |name: &str, namespace: Option<&str>| {
        let mut m = json!({ "name": name, "labels": labels });
        if let Some(namespace) = namespace {
            m["namespace"] = json!(namespace);
        }
        m
    };
    let ca_bundle = p.ca_bundle();
    let mut docs = vec![
        json!({ "apiVersion": "v1", "kind": "Namespace", "metadata": meta(ns, None) }),
        json!({
            "apiVersion": "v1", "kind": "ServiceAccount",
            "metadata": meta(RELEASE_NAME, Some(ns)),
        }),
        json!({
            "apiVersion": "v1", "kind": "Secret",
            "metadata": meta(&key_secret_name(), Some(ns)),
            "type": "Opaque",
            "data": {
                KEY_FILE_KEY: base64::engine::general_purpose::STANDARD.encode(&p.agent_key),
            },
        }),
        json!({
            "apiVersion": "v1", "kind": "ConfigMap",
            "metadata": meta(&ca_config_map_name(), Some(ns)),
            "data": { CA_FILE_KEY: ca_bundle },
        }),
    ];

    let subjects = json!([{ "kind": "ServiceAccount", "name": RELEASE_NAME, "namespace": ns }]);
    let rbac = "rbac.authorization.k8s.io/v1";
    // (role name, rules) pairs, bound one to one.
    let mut role_sets = vec![(
        RELEASE_NAME.to_string(),
        read_rules(p.rbac_scope == RbacScope::Cluster, p.logs_allowed),
    )];
    if p.write_enabled {
        role_sets.push((
            write_role_name(),
            write_rules(p.rbac_scope == RbacScope::Cluster),
        ));
    }
    let role_namespaces: Vec<Option<&str>> = match &p.rbac_scope {
        RbacScope::Cluster => vec![None],
        RbacScope::Namespaces(list) => list.iter().map(|n| Some(n.as_str())).collect(),
    };
    for role_ns in role_namespaces {
        let (role_kind, binding_kind) = match role_ns {
            None => ("ClusterRole", "ClusterRoleBinding"),
            Some(_) => ("Role", "RoleBinding"),
        };
        for (name, rules) in &role_sets {
            docs.push(json!({
                "apiVersion": rbac, "kind": role_kind,
                "metadata": meta(name, role_ns), "rules": rules,
            }));
            docs.push(json!({
                "apiVersion": rbac, "kind": binding_kind,
                "metadata": meta(name, role_ns),
                "roleRef": { "apiGroup": "rbac.authorization.k8s.io", "kind": role_kind, "name": name },
                "subjects": subjects,
            }));
        }
    }
    if p.leader_election() {
        let name = lease_role_name();
        docs.push(json!({
            "apiVersion": rbac, "kind": "Role",
            "metadata": meta(&name, Some(ns)),
            "rules": lease_rules(),
        }));
        docs.push(json!({
            "apiVersion": rbac, "kind": "RoleBinding",
            "metadata": meta(&name, Some(ns)),
            "roleRef": { "apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": name },
            "subjects": subjects,
        }));
    }

    let mut pod_annotations = serde_json::Map::new();
    pod_annotations.insert(
        "checksum/appliance-ca".into(),
        json!(sha256_hex(&ca_bundle)),
    );
    pod_annotations.insert("checksum/agent-key".into(), json!(sha256_hex(&p.agent_key)));
    docs.push(json!({
        "apiVersion": "apps/v1", "kind": "Deployment",
        "metadata": {
            "name": RELEASE_NAME, "namespace": ns, "labels": labels,
            "annotations": {
                "acorn.dev/cluster-id": p.cluster_id,
                "acorn.dev/cluster-name": p.cluster_name,
            },
        },
        "spec": {
            "replicas": p.replica_count,
            "selector": { "matchLabels": selector_labels() },
            "template": {
                "metadata": { "labels": labels, "annotations": pod_annotations },
                "spec": pod_spec(p, &image.full()),
            },
        },
    }));
    Ok(docs)
}

fn pod_spec(p: &InstallParams, image: &str) -> Value {
    json!({
        "serviceAccountName": RELEASE_NAME,
        "automountServiceAccountToken": true,
        "enableServiceLinks": false,
        "securityContext": {
            "runAsNonRoot": true, "runAsUser": RUN_AS, "runAsGroup": RUN_AS, "fsGroup": RUN_AS,
            "seccompProfile": { "type": "RuntimeDefault" },
        },
        "containers": [{
            "name": "agent",
            "image": image,
            "imagePullPolicy": "IfNotPresent",
            "env": env(p),
            "ports": [{ "name": "health", "containerPort": HEALTH_PORT, "protocol": "TCP" }],
            "livenessProbe": {
                "httpGet": { "path": "/healthz", "port": "health" },
                "initialDelaySeconds": 5, "periodSeconds": 20, "timeoutSeconds": 3, "failureThreshold": 3,
            },
            "readinessProbe": {
                "httpGet": { "path": "/readyz", "port": "health" },
                "periodSeconds": 10, "timeoutSeconds": 3, "failureThreshold": 3,
            },
            "resources": {
                "requests": { "cpu": "50m", "memory": "128Mi" },
                "limits": { "memory": "512Mi" },
            },
            "securityContext": {
                "runAsNonRoot": true, "runAsUser": RUN_AS,
                "allowPrivilegeEscalation": false, "readOnlyRootFilesystem": true,
                "capabilities": { "drop": ["ALL"] },
            },
            "volumeMounts": [
                { "name": "appliance-ca", "mountPath": CA_MOUNT_DIR, "readOnly": true },
                { "name": "agent-key", "mountPath": KEY_MOUNT_DIR, "readOnly": true },
                { "name": "tmp", "mountPath": "/tmp" },
            ],
        }],
        "volumes": [
            { "name": "appliance-ca", "configMap": { "name": ca_config_map_name() } },
            // 0o440: readable by the agent's group (fsGroup) only.
            { "name": "agent-key", "secret": { "secretName": key_secret_name(), "defaultMode": 0o440 } },
            { "name": "tmp", "emptyDir": { "sizeLimit": "64Mi" } },
        ],
    })
}

/// The agent's environment: the contract with `acorn-agent`'s configuration.
fn env(p: &InstallParams) -> Value {
    let plain = |name: &str, value: String| json!({ "name": name, "value": value });
    let field = |name: &str, path: &str| json!({ "name": name, "valueFrom": { "fieldRef": { "fieldPath": path } } });
    let mut env = vec![
        plain("ACORN_AGENT_APPLIANCE_URL", p.appliance_url.clone()),
        plain(
            "ACORN_AGENT_CA_FILE",
            format!("{CA_MOUNT_DIR}/{CA_FILE_KEY}"),
        ),
        plain(
            "ACORN_AGENT_KEY_FILE",
            format!("{KEY_MOUNT_DIR}/{KEY_FILE_KEY}"),
        ),
        plain("ACORN_AGENT_WRITE_ENABLED", p.write_enabled.to_string()),
        plain("ACORN_AGENT_LOGS_ALLOWED", p.logs_allowed.to_string()),
        plain(
            "ACORN_AGENT_NAMESPACES_INCLUDE",
            p.effective_include().join(","),
        ),
        plain(
            "ACORN_AGENT_NAMESPACES_EXCLUDE",
            p.namespaces_exclude.join(","),
        ),
        plain(
            "ACORN_AGENT_LEADER_ELECTION",
            p.leader_election().to_string(),
        ),
    ];
    if p.leader_election() {
        env.push(plain("ACORN_AGENT_LEASE_NAME", RELEASE_NAME.into()));
        env.push(plain("ACORN_AGENT_LEASE_NAMESPACE", p.namespace.clone()));
    }
    env.push(field("POD_NAME", "metadata.name"));
    env.push(field("POD_NAMESPACE", "metadata.namespace"));
    env.push(plain(
        "ACORN_AGENT_HEALTH_LISTEN",
        format!("0.0.0.0:{HEALTH_PORT}"),
    ));
    env.push(plain("ACORN_AGENT_LOG_FORMAT", "json".into()));
    Value::Array(env)
}

/// Read permissions. A Role cannot grant cluster-scoped kinds, so the namespaced set lacks
/// namespaces, nodes, persistent volumes, storage classes and node metrics. Secrets need
/// get/list/watch although the agent keeps only their metadata: there is no metadata-only verb.
fn read_rules(cluster: bool, logs: bool) -> Value {
    let read = json!(["get", "list", "watch"]);
    let mut core = vec!["configmaps", "endpoints", "events"];
    if cluster {
        core.extend(["namespaces", "nodes"]);
    }
    core.push("persistentvolumeclaims");
    if cluster {
        core.push("persistentvolumes");
    }
    core.extend(["pods", "secrets", "services"]);
    let mut rules = vec![
        json!({ "apiGroups": [""], "resources": core, "verbs": read }),
        json!({ "apiGroups": ["apps"], "resources": ["controllerrevisions", "daemonsets", "deployments", "replicasets", "statefulsets"], "verbs": read }),
        json!({ "apiGroups": ["batch"], "resources": ["cronjobs", "jobs"], "verbs": read }),
        json!({ "apiGroups": ["autoscaling"], "resources": ["horizontalpodautoscalers"], "verbs": read }),
        json!({ "apiGroups": ["discovery.k8s.io"], "resources": ["endpointslices"], "verbs": read }),
        json!({ "apiGroups": ["networking.k8s.io"], "resources": ["ingresses"], "verbs": read }),
        json!({ "apiGroups": ["events.k8s.io"], "resources": ["events"], "verbs": read }),
    ];
    if cluster {
        rules.push(json!({ "apiGroups": ["storage.k8s.io"], "resources": ["storageclasses"], "verbs": read }));
        rules.push(json!({ "apiGroups": ["metrics.k8s.io"], "resources": ["nodes", "pods"], "verbs": ["get", "list"] }));
    } else {
        rules.push(json!({ "apiGroups": ["metrics.k8s.io"], "resources": ["pods"], "verbs": ["get", "list"] }));
    }
    if logs {
        rules.push(json!({ "apiGroups": [""], "resources": ["pods/log"], "verbs": ["get"] }));
    }
    Value::Array(rules)
}

/// Write permissions: restart (patch), scale, delete a pod, cordon a node (cluster scope only).
fn write_rules(cluster: bool) -> Value {
    let mut rules = vec![
        json!({ "apiGroups": ["apps"], "resources": ["daemonsets", "deployments", "statefulsets"], "verbs": ["patch"] }),
        json!({ "apiGroups": ["apps"], "resources": ["deployments/scale", "replicasets/scale", "statefulsets/scale"], "verbs": ["get", "patch", "update"] }),
        json!({ "apiGroups": [""], "resources": ["pods"], "verbs": ["delete"] }),
    ];
    if cluster {
        rules.push(json!({ "apiGroups": [""], "resources": ["nodes"], "verbs": ["patch"] }));
    }
    Value::Array(rules)
}

/// Leader election in the agent's own namespace only: `create` cannot be limited to a name (the
/// object does not exist yet), `get` and `update` are limited to the agent's Lease.
fn lease_rules() -> Value {
    json!([
        { "apiGroups": ["coordination.k8s.io"], "resources": ["leases"], "verbs": ["create"] },
        { "apiGroups": ["coordination.k8s.io"], "resources": ["leases"], "resourceNames": [RELEASE_NAME], "verbs": ["get", "update"] },
    ])
}

/// The chart's values for the same installation.
fn helm_values(p: &InstallParams) -> Result<Value, InstallError> {
    let image = ImageRef::parse(&p.image)?;
    let (scope, rbac_namespaces) = match &p.rbac_scope {
        RbacScope::Cluster => ("cluster", Vec::new()),
        RbacScope::Namespaces(list) => ("namespaces", list.clone()),
    };
    Ok(json!({
        "cluster": { "id": p.cluster_id, "name": p.cluster_name },
        "appliance": { "url": p.appliance_url, "caBundle": p.ca_bundle() },
        "agentKey": p.agent_key,
        "image": {
            "repository": image.repository,
            "tag": image.tag.clone().unwrap_or_default(),
            "digest": image.digest.clone().unwrap_or_default(),
        },
        "replicaCount": p.replica_count,
        "leaderElection": { "enabled": p.leader_election() },
        "namespaces": { "include": p.namespaces_include, "exclude": p.namespaces_exclude },
        "rbac": { "scope": scope, "namespaces": rbac_namespaces },
        "write": { "enabled": p.write_enabled },
        "logs": { "allowed": p.logs_allowed },
    }))
}

fn helm_command(p: &InstallParams) -> String {
    let mut cmd = format!(
        "helm upgrade --install {RELEASE_NAME} {}",
        shell_word(&p.chart_ref)
    );
    // Paths name one archive already; repository and OCI references need the version pinned.
    if !is_local_path(&p.chart_ref) {
        let _ = write!(cmd, " --version {CHART_VERSION}");
    }
    // The namespace passed validate(): a DNS label needs no quoting.
    let _ = write!(
        cmd,
        " --namespace {} --create-namespace --values {VALUES_FILE}",
        p.namespace
    );
    cmd
}

fn is_local_path(chart_ref: &str) -> bool {
    chart_ref.starts_with('/') || chart_ref.starts_with("./") || chart_ref.starts_with("../")
}

/// One word for a POSIX shell: as is when it holds only safe characters, else single-quoted.
fn shell_word(s: &str) -> String {
    let safe = |c: char| c.is_ascii_alphanumeric() || "@%+=:,./_-".contains(c);
    if !s.is_empty() && s.chars().all(safe) {
        s.to_string()
    } else {
        format!("'{}'", s.replace('\'', r"'\''"))
    }
}

fn labels() -> Value {
    json!({
        "app.kubernetes.io/name": RELEASE_NAME,
        "app.kubernetes.io/instance": RELEASE_NAME,
        "app.kubernetes.io/version": CHART_VERSION,
        "app.kubernetes.io/part-of": "acorn",
    })
}

fn selector_labels() -> Value {
    json!({ "app.kubernetes.io/name": RELEASE_NAME, "app.kubernetes.io/instance": RELEASE_NAME })
}

fn key_secret_name() -> String {
    format!("{RELEASE_NAME}-key")
}
fn ca_config_map_name() -> String {
    format!("{RELEASE_NAME}-ca")
}
fn write_role_name() -> String {
    format!("{RELEASE_NAME}-write")
}
fn lease_role_name() -> String {
    format!("{RELEASE_NAME}-leader-election")
}

fn sha256_hex(s: &str) -> String {
    hex::encode(Sha256::digest(s.as_bytes()))
}

/// An image reference split the way the chart's values want it.
#[derive(Debug, PartialEq, Eq)]
struct ImageRef {
    repository: String,
    tag: Option<String>,
    digest: Option<String>,
}

impl ImageRef {
    fn parse(image: &str) -> Result<ImageRef, InstallError> {
        let bad = || InstallError::Image(image.to_string());
        let allowed = |c: char| c.is_ascii_alphanumeric() || "._-/:@".contains(c);
        if image.is_empty() || !image.chars().all(allowed) {
            return Err(bad());
        }
        let (name, digest) = match image.split_once('@') {
            Some((name, digest)) => {
                let (algo, hex) = digest.split_once(':').ok_or_else(bad)?;
                if algo.is_empty() || hex.len() < 32 || !hex.chars().all(|c| c.is_ascii_hexdigit())
                {
                    return Err(bad());
                }
                (name, Some(digest.to_string()))
            }
            None => (image, None),
        };
        // A tag is what follows the last ':' after the last '/' (a registry port comes earlier).
        let last_slash = name.rfind('/').map_or(0, |i| i + 1);
        let (repository, tag) = match name[last_slash..].rfind(':') {
            Some(i) => (&name[..last_slash + i], Some(&name[last_slash + i + 1..])),
            None => (name, None),
        };
        if repository.is_empty()
            || repository.ends_with('/')
            || repository.contains('@')
            || tag.is_some_and(|t| t.is_empty() || t.len() > 128 || t.contains('@'))
        {
            return Err(bad());
        }
        Ok(ImageRef {
            repository: repository.to_string(),
            tag: match (tag, &digest) {
                (Some(t), _) => Some(t.to_string()),
                // Neither tag nor digest: the agent of this appliance's release.
                (None, None) => Some(CHART_VERSION.to_string()),
                (None, Some(_)) => None,
            },
            digest,
        })
    }

    /// What the Deployment pulls: by digest when there is one (the chart ignores the tag then).
    fn full(&self) -> String {
        match (&self.digest, &self.tag) {
            (Some(d), _) => format!("{}@{d}", self.repository),
            (None, Some(t)) => format!("{}:{t}", self.repository),
            (None, None) => self.repository.clone(),
        }
    }
}

fn check_dns_label(field: &'static str, value: &str) -> Result<(), InstallError> {
    let ok = !value.is_empty()
        && value.len() <= 63
        && value
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
        && !value.starts_with('-')
        && !value.ends_with('-');
    if ok {
        Ok(())
    } else {
        Err(InstallError::InvalidName {
            field,
            value: value.to_string(),
        })
    }
}

fn check_appliance_url(url: &str) -> Result<(), InstallError> {
    let bad = || InstallError::ApplianceUrl(url.to_string());
    // URL parsing silently drops tabs and newlines; the environment value must not hold any.
    if url.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return Err(bad());
    }
    let parsed = reqwest::Url::parse(url).map_err(|_| bad())?;
    // The agent appends the connect path itself; anything after the host would be lost or wrong.
    let plain = parsed.scheme() == "https"
        && parsed.host_str().is_some_and(|h| !h.is_empty())
        && parsed.username().is_empty()
        && parsed.password().is_none()
        && parsed.path() == "/"
        && parsed.query().is_none()
        && parsed.fragment().is_none()
        && !url.ends_with('?')
        && !url.ends_with('#');
    if plain { Ok(()) } else { Err(bad()) }
}

fn check_ca(pem: &str) -> Result<(), InstallError> {
    let mut count = 0;
    for cert in CertificateDer::pem_slice_iter(pem.as_bytes()) {
        cert.map_err(|e| InstallError::CaBundle(e.to_string()))?;
        count += 1;
    }
    // Text outside the PEM blocks is ignored by PEM readers, but a bundle must hold a certificate.
    if count == 0 {
        return Err(InstallError::CaBundle("no certificate found".into()));
    }
    Ok(())
}

fn check_agent_key(key: &str) -> Result<(), InstallError> {
    let rest = key
        .strip_prefix(AGENT_KEY_PREFIX)
        .ok_or(InstallError::AgentKey)?;
    if !rest.is_empty()
        && rest
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
    {
        Ok(())
    } else {
        Err(InstallError::AgentKey)
    }
}

/// Serializes documents as `---`-separated YAML, object keys in the order of `order` first
/// (then alphabetically): `serde_json::Map` sorts keys, which would put `data` before `kind`.
fn to_yaml(docs: &[Value], order: &'static [&'static str]) -> Result<String, InstallError> {
    let ordered: Vec<Ordered<'_>> = docs
        .iter()
        .map(|doc| Ordered { value: doc, order })
        .collect();
    serde_saphyr::to_string_multiple(&ordered).map_err(|e| InstallError::Yaml(e.to_string()))
}

/// Kubernetes' customary order: identity first, then the body.
const MANIFEST_KEY_ORDER: &[&str] = &[
    "apiVersion",
    "kind",
    "metadata",
    "name",
    "namespace",
    "labels",
    "annotations",
    "type",
    "spec",
    "replicas",
    "selector",
    "template",
    "image",
    "imagePullPolicy",
    "env",
    "roleRef",
    "subjects",
    "rules",
    "apiGroups",
    "resources",
    "resourceNames",
    "verbs",
    "data",
];

/// The order of the chart's `values.yaml`.
const VALUES_KEY_ORDER: &[&str] = &[
    "cluster",
    "id",
    "name",
    "appliance",
    "url",
    "caBundle",
    "agentKey",
    "image",
    "repository",
    "tag",
    "digest",
    "replicaCount",
    "leaderElection",
    "namespaces",
    "include",
    "exclude",
    "rbac",
    "scope",
    "write",
    "logs",
];

struct Ordered<'a> {
    value: &'a Value,
    order: &'static [&'static str],
}

impl Ordered<'_> {
    fn rank(&self, key: &str) -> usize {
        self.order
            .iter()
            .position(|k| *k == key)
            .unwrap_or(self.order.len())
    }

    fn child<'b>(&self, value: &'b Value) -> Ordered<'b> {
        Ordered {
            value,
            order: self.order,
        }
    }
}

impl Serialize for Ordered<'_> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        match self.value {
            Value::Object(map) => {
                let mut entries: Vec<(&String, &Value)> = map.iter().collect();
                entries.sort_by(|a, b| {
                    self.rank(a.0)
                        .cmp(&self.rank(b.0))
                        .then_with(|| a.0.cmp(b.0))
                });
                let mut out = serializer.serialize_map(Some(entries.len()))?;
                for (k, v) in entries {
                    out.serialize_entry(k, &self.child(v))?;
                }
                out.end()
            }
            Value::Array(items) => {
                let mut out = serializer.serialize_seq(Some(items.len()))?;
                for item in items {
                    out.serialize_element(&self.child(item))?;
                }
                out.end()
            }
            other => other.serialize(serializer),
        }
    }
}

#[cfg(test)]
mod tests {
    //! Layout: helpers and the case table; the manifest's objects and permissions per case;
    //! safety (secrets, injection, YAML round trips, shell words, validation); kubectl creating
    //! every document in the Kubernetes API simulator; the chart rendered by Helm's engine
    //! compared object by object with the renderer.

    use std::collections::BTreeMap;
    use std::path::{Path, PathBuf};
    use std::process::{Command, Output};
    use std::sync::OnceLock;

    use super::*;

    const KEY: &str = "acorn_agent_Zm9vYmFyYmF6cXV4LXRlc3Qta2V5LTAx";
    const URL: &str = "https://acorn.example.internal:8443";
    const IMAGE: &str = "registry.example.internal:5000/acorn/acorn-agent:0.1.0";
    /// The PyPI package that carries Helm's engine (see `packaging/charts/acorn-agent/ci/helm.py`).
    const HELM_SDK: &str = "helm-python-sdk==0.2.2";
    const EVIL_NAME: &str = "prod\" # '{{ .Values.agentKey }}'\n---\napiVersion: rbac.authorization.k8s.io/v1\nkind: ClusterRoleBinding\nmetadata:\n  name: pwned\nroleRef: {kind: ClusterRole, name: cluster-admin}\n: & * ! | > % @ `\t";

    fn ca_pem() -> String {
        static CA: OnceLock<String> = OnceLock::new();
        CA.get_or_init(|| {
            rcgen::generate_simple_self_signed(vec!["acorn.example.internal".to_string()])
                .unwrap()
                .cert
                .pem()
        })
        .clone()
    }

    fn params(scope: RbacScope, write: bool, logs: bool, replicas: u32) -> InstallParams {
        let mut p = InstallParams::new("clu_0123abcd", "prod-eu", URL, ca_pem(), KEY, IMAGE);
        p.rbac_scope = scope;
        p.write_enabled = write;
        p.logs_allowed = logs;
        p.replica_count = replicas;
        p
    }

    fn namespaces(list: &[&str]) -> RbacScope {
        RbacScope::Namespaces(list.iter().map(|s| s.to_string()).collect())
    }

    /// One installation and the objects its manifest must hold, as `Kind namespace/name`.
    struct Case {
        name: &'static str,
        params: InstallParams,
        objects: &'static [&'static str],
    }

    fn cases() -> Vec<Case> {
        let mut evil = params(RbacScope::Cluster, false, true, 1);
        evil.cluster_name = EVIL_NAME.into();
        evil.cluster_id = "clu_'\"x: y\n- z".into();
        vec![
            Case {
                name: "cluster, read-only, logs",
                params: params(RbacScope::Cluster, false, true, 1),
                objects: &[
                    "Namespace /acorn-system",
                    "ServiceAccount acorn-system/acorn-agent",
                    "Secret acorn-system/acorn-agent-key",
                    "ConfigMap acorn-system/acorn-agent-ca",
                    "ClusterRole /acorn-agent",
                    "ClusterRoleBinding /acorn-agent",
                    "Deployment acorn-system/acorn-agent",
                ],
            },
            Case {
                name: "cluster, write, no logs",
                params: params(RbacScope::Cluster, true, false, 1),
                objects: &[
                    "Namespace /acorn-system",
                    "ServiceAccount acorn-system/acorn-agent",
                    "Secret acorn-system/acorn-agent-key",
                    "ConfigMap acorn-system/acorn-agent-ca",
                    "ClusterRole /acorn-agent",
                    "ClusterRoleBinding /acorn-agent",
                    "ClusterRole /acorn-agent-write",
                    "ClusterRoleBinding /acorn-agent-write",
                    "Deployment acorn-system/acorn-agent",
                ],
            },
            Case {
                name: "namespaces, read-only, two replicas",
                params: params(namespaces(&["healthy", "default"]), false, true, 2),
                objects: &[
                    "Namespace /acorn-system",
                    "ServiceAccount acorn-system/acorn-agent",
                    "Secret acorn-system/acorn-agent-key",
                    "ConfigMap acorn-system/acorn-agent-ca",
                    "Role healthy/acorn-agent",
                    "RoleBinding healthy/acorn-agent",
                    "Role default/acorn-agent",
                    "RoleBinding default/acorn-agent",
                    "Role acorn-system/acorn-agent-leader-election",
                    "RoleBinding acorn-system/acorn-agent-leader-election",
                    "Deployment acorn-system/acorn-agent",
                ],
            },
            Case {
                name: "namespaces, write, no logs, other namespace",
                params: {
                    let mut p = params(namespaces(&["healthy"]), true, false, 3);
                    p.namespace = "ops-agents".into();
                    p
                },
                objects: &[
                    "Namespace /ops-agents",
                    "ServiceAccount ops-agents/acorn-agent",
                    "Secret ops-agents/acorn-agent-key",
                    "ConfigMap ops-agents/acorn-agent-ca",
                    "Role healthy/acorn-agent",
                    "RoleBinding healthy/acorn-agent",
                    "Role healthy/acorn-agent-write",
                    "RoleBinding healthy/acorn-agent-write",
                    "Role ops-agents/acorn-agent-leader-election",
                    "RoleBinding ops-agents/acorn-agent-leader-election",
                    "Deployment ops-agents/acorn-agent",
                ],
            },
            Case {
                name: "injection attempt in the cluster name and id",
                params: evil,
                objects: &[
                    "Namespace /acorn-system",
                    "ServiceAccount acorn-system/acorn-agent",
                    "Secret acorn-system/acorn-agent-key",
                    "ConfigMap acorn-system/acorn-agent-ca",
                    "ClusterRole /acorn-agent",
                    "ClusterRoleBinding /acorn-agent",
                    "Deployment acorn-system/acorn-agent",
                ],
            },
        ]
    }

    fn docs(yaml: &str) -> Vec<Value> {
        serde_saphyr::from_multiple(yaml).unwrap_or_else(|e| panic!("{e}\n{yaml}"))
    }

    fn id(doc: &Value) -> String {
        let s = |v: &Value| v.as_str().unwrap_or_default().to_string();
        format!(
            "{} {}/{}",
            s(&doc["kind"]),
            s(&doc["metadata"]["namespace"]),
            s(&doc["metadata"]["name"])
        )
    }

    fn find<'a>(docs: &'a [Value], kind: &str, name: &str) -> &'a Value {
        docs.iter()
            .find(|d| d["kind"] == kind && d["metadata"]["name"] == name)
            .unwrap_or_else(|| panic!("no {kind} {name}"))
    }

    fn env_of(deployment: &Value) -> BTreeMap<String, Value> {
        deployment["spec"]["template"]["spec"]["containers"][0]["env"]
            .as_array()
            .unwrap()
            .iter()
            .map(|e| {
                let v = e
                    .get("value")
                    .cloned()
                    .unwrap_or_else(|| e["valueFrom"].clone());
                (e["name"].as_str().unwrap().to_string(), v)
            })
            .collect()
    }

    /// (role id, resource, verb) for every rule of every Role and ClusterRole.
    fn grants(docs: &[Value]) -> Vec<(String, String, String)> {
        let mut out = Vec::new();
        for d in docs
            .iter()
            .filter(|d| d["kind"] == "Role" || d["kind"] == "ClusterRole")
        {
            for rule in d["rules"].as_array().unwrap() {
                for r in rule["resources"].as_array().unwrap() {
                    for v in rule["verbs"].as_array().unwrap() {
                        out.push((
                            id(d),
                            r.as_str().unwrap().into(),
                            v.as_str().unwrap().into(),
                        ));
                    }
                }
            }
        }
        out
    }

    #[test]
    fn manifest_holds_the_objects_of_each_case() {
        for case in cases() {
            let out = render(&case.params).unwrap_or_else(|e| panic!("{}: {e}", case.name));
            let ids: Vec<String> = docs(&out.manifest).iter().map(id).collect();
            assert_eq!(ids, case.objects, "{}", case.name);
        }
    }

    #[test]
    fn permissions_follow_write_logs_and_scope() {
        for case in cases() {
            let p = &case.params;
            let docs = docs(&render(p).unwrap().manifest);
            let grants = grants(&docs);
            let lease_role = |role: &str| role.ends_with("/acorn-agent-leader-election");
            let read_verbs = ["get", "list", "watch"];
            let writes: Vec<_> = grants
                .iter()
                .filter(|(role, _, verb)| !lease_role(role) && !read_verbs.contains(&verb.as_str()))
                .collect();
            assert_eq!(
                !writes.is_empty(),
                p.write_enabled,
                "{}: {writes:?}",
                case.name
            );
            if p.write_enabled {
                for (resource, verb) in [
                    ("deployments", "patch"),
                    ("deployments/scale", "update"),
                    ("pods", "delete"),
                ] {
                    assert!(
                        writes.iter().any(|(_, r, v)| r == resource && v == verb),
                        "{}: {verb} {resource} missing",
                        case.name
                    );
                }
            }
            // Every write grant sits in the write role, never in the read role.
            assert!(
                writes
                    .iter()
                    .all(|(role, _, _)| role.ends_with("/acorn-agent-write")),
                "{}",
                case.name
            );
            let cluster = p.rbac_scope == RbacScope::Cluster;
            let cordon = grants.iter().any(|(_, r, v)| r == "nodes" && v == "patch");
            assert_eq!(cordon, cluster && p.write_enabled, "{}", case.name);
            let logs = grants.iter().any(|(_, r, _)| r == "pods/log");
            assert_eq!(logs, p.logs_allowed, "{}", case.name);
            let nodes = grants.iter().any(|(_, r, v)| r == "nodes" && v == "list");
            assert_eq!(nodes, cluster, "{}", case.name);
            for resource in [
                "pods",
                "secrets",
                "events",
                "deployments",
                "endpointslices",
                "horizontalpodautoscalers",
            ] {
                assert!(
                    grants.iter().any(|(_, r, v)| r == resource && v == "watch"),
                    "{}: watch {resource} missing",
                    case.name
                );
            }
            let leases: Vec<_> = grants
                .iter()
                .filter(|(role, _, _)| lease_role(role))
                .collect();
            assert_eq!(!leases.is_empty(), p.replica_count > 1, "{}", case.name);
            assert!(
                leases.iter().all(|(role, r, _)| r == "leases"
                    && role.starts_with(&format!("Role {}/", p.namespace)))
            );

            let env = env_of(find(&docs, "Deployment", "acorn-agent"));
            assert_eq!(
                env["ACORN_AGENT_WRITE_ENABLED"],
                json!(p.write_enabled.to_string())
            );
            assert_eq!(
                env["ACORN_AGENT_LOGS_ALLOWED"],
                json!(p.logs_allowed.to_string())
            );
            assert_eq!(
                env["ACORN_AGENT_LEADER_ELECTION"],
                json!((p.replica_count > 1).to_string())
            );
            assert_eq!(env["ACORN_AGENT_APPLIANCE_URL"], json!(URL));
            assert_eq!(
                env["ACORN_AGENT_NAMESPACES_EXCLUDE"],
                json!("kube-node-lease,kube-public")
            );
            let include = match &p.rbac_scope {
                RbacScope::Cluster => String::new(),
                RbacScope::Namespaces(list) => list.join(","),
            };
            assert_eq!(
                env["ACORN_AGENT_NAMESPACES_INCLUDE"],
                json!(include),
                "{}",
                case.name
            );
            assert_eq!(env["POD_NAME"]["fieldRef"]["fieldPath"], "metadata.name");
            assert_eq!(
                env.contains_key("ACORN_AGENT_LEASE_NAME"),
                p.replica_count > 1
            );
            // Only the contract's variables: nothing invented.
            let contract = [
                "ACORN_AGENT_APPLIANCE_URL",
                "ACORN_AGENT_CA_FILE",
                "ACORN_AGENT_KEY_FILE",
                "ACORN_AGENT_WRITE_ENABLED",
                "ACORN_AGENT_LOGS_ALLOWED",
                "ACORN_AGENT_NAMESPACES_INCLUDE",
                "ACORN_AGENT_NAMESPACES_EXCLUDE",
                "ACORN_AGENT_LEADER_ELECTION",
                "ACORN_AGENT_LEASE_NAME",
                "ACORN_AGENT_LEASE_NAMESPACE",
                "POD_NAME",
                "POD_NAMESPACE",
                "ACORN_AGENT_HEALTH_LISTEN",
                "ACORN_AGENT_LOG_FORMAT",
            ];
            assert!(
                env.keys().all(|k| contract.contains(&k.as_str())),
                "{env:?}"
            );
        }
    }

    #[test]
    fn deployment_runs_locked_down() {
        let docs = docs(
            &render(&params(RbacScope::Cluster, false, true, 1))
                .unwrap()
                .manifest,
        );
        let pod = &find(&docs, "Deployment", "acorn-agent")["spec"]["template"]["spec"];
        let c = &pod["containers"][0];
        assert_eq!(pod["securityContext"]["runAsNonRoot"], true);
        assert_eq!(pod["securityContext"]["runAsUser"], 65532);
        assert_eq!(
            pod["securityContext"]["seccompProfile"]["type"],
            "RuntimeDefault"
        );
        assert_eq!(c["securityContext"]["readOnlyRootFilesystem"], true);
        assert_eq!(c["securityContext"]["allowPrivilegeEscalation"], false);
        assert_eq!(c["securityContext"]["capabilities"]["drop"], json!(["ALL"]));
        assert_eq!(c["image"], IMAGE);
        assert_eq!(c["livenessProbe"]["httpGet"]["path"], "/healthz");
        assert_eq!(c["readinessProbe"]["httpGet"]["path"], "/readyz");
        assert_eq!(
            c["ports"],
            json!([{ "name": "health", "containerPort": 8080, "protocol": "TCP" }])
        );
        // Nothing calls the agent.
        assert!(!docs.iter().any(|d| d["kind"] == "Service"));
        let env = env_of(find(&docs, "Deployment", "acorn-agent"));
        assert_eq!(env["ACORN_AGENT_CA_FILE"], "/etc/acorn-agent/ca/ca.crt");
        assert_eq!(
            env["ACORN_AGENT_KEY_FILE"],
            "/etc/acorn-agent/key/agent-key"
        );
        let ca = find(&docs, "ConfigMap", "acorn-agent-ca");
        assert_eq!(
            ca["data"]["ca.crt"],
            json!(format!("{}\n", ca_pem().trim()))
        );
    }

    #[test]
    fn secret_values_are_only_in_the_secret() {
        for case in cases() {
            let out = render(&case.params).unwrap();
            let encoded = base64::engine::general_purpose::STANDARD.encode(KEY);
            for doc in docs(&out.manifest) {
                let text = doc.to_string();
                let holds = text.contains(KEY) || text.contains(&encoded);
                assert_eq!(
                    holds,
                    doc["kind"] == "Secret",
                    "{}: {}",
                    case.name,
                    id(&doc)
                );
            }
            let secret = docs(&out.manifest)
                .into_iter()
                .find(|d| d["kind"] == "Secret")
                .unwrap();
            assert_eq!(secret["data"]["agent-key"], json!(encoded));
            assert_eq!(out.manifest.matches(&encoded).count(), 1, "{}", case.name);
            assert!(!out.manifest.contains(KEY));
            assert!(!out.helm_command.contains(KEY));
            assert_eq!(out.helm_values.matches(KEY).count(), 1);
            let values: Value = serde_saphyr::from_str(&out.helm_values).unwrap();
            assert_eq!(values["agentKey"], KEY);
        }
    }

    #[test]
    fn an_injection_attempt_stays_one_string() {
        let case = cases()
            .into_iter()
            .find(|c| c.name.starts_with("injection"))
            .unwrap();
        let out = render(&case.params).unwrap();
        let docs = docs(&out.manifest);
        assert!(!docs.iter().any(|d| d["metadata"]["name"] == "pwned"));
        let annotations = &find(&docs, "Deployment", "acorn-agent")["metadata"]["annotations"];
        assert_eq!(annotations["acorn.dev/cluster-name"], EVIL_NAME);
        assert_eq!(
            annotations["acorn.dev/cluster-id"],
            json!(case.params.cluster_id)
        );
        let values: Value = serde_saphyr::from_str(&out.helm_values).unwrap();
        assert_eq!(values["cluster"]["name"], EVIL_NAME);
        assert!(!out.helm_command.contains("pwned"));
    }

    #[test]
    fn yaml_round_trips_awkward_strings() {
        let strings = [
            "",
            "true",
            "no",
            "yes",
            "on",
            "off",
            "y",
            "null",
            "~",
            "0440",
            "0x1f",
            "1e3",
            ".inf",
            "12:30:45",
            "2001-12-14",
            " leading",
            "trailing ",
            "a: b",
            "- item",
            "? key",
            "& anchor",
            "* alias",
            "!tag",
            "%directive",
            "@at",
            "`tick",
            "#hash",
            "'single'",
            "\"double\"",
            "multi\nline\n",
            "no final newline\nx",
            "trailing blank lines\n\n\n",
            "\n\nleading newlines",
            "tab\tin",
            "carriage\r\nreturn",
            "unicode ☃ é",
            "---",
            "...",
            "--- x",
            "{flow: map}",
            "[flow]",
            "bell\u{7}",
            "  indented\n    more\n",
            EVIL_NAME,
        ];
        for s in strings {
            let doc = json!({ "v": s, "list": [s], "nested": { "k": s } });
            let yaml = to_yaml(std::slice::from_ref(&doc), MANIFEST_KEY_ORDER).unwrap();
            let back: Value =
                serde_saphyr::from_str(&yaml).unwrap_or_else(|e| panic!("{s:?}: {e}\n{yaml}"));
            assert_eq!(back, doc, "{s:?} became:\n{yaml}");
        }
    }

    #[test]
    fn invalid_parameters_are_refused() {
        type Mutation = fn(&mut InstallParams);
        type Expected = fn(&InstallError) -> bool;
        let cases: &[(&str, Mutation, Expected)] = &[
            (
                "uppercase namespace",
                |p| p.namespace = "Acorn".into(),
                |e| matches!(e, InstallError::InvalidName { .. }),
            ),
            (
                "empty namespace",
                |p| p.namespace = String::new(),
                |e| matches!(e, InstallError::InvalidName { .. }),
            ),
            (
                "namespace with a quote",
                |p| p.namespace = "a'b".into(),
                |e| matches!(e, InstallError::InvalidName { .. }),
            ),
            (
                "namespace of 64 characters",
                |p| p.namespace = "a".repeat(64),
                |e| matches!(e, InstallError::InvalidName { .. }),
            ),
            (
                "namespace ending in -",
                |p| p.namespace = "acorn-".into(),
                |e| matches!(e, InstallError::InvalidName { .. }),
            ),
            (
                "no RBAC namespace",
                |p| p.rbac_scope = RbacScope::Namespaces(vec![]),
                |e| matches!(e, InstallError::NoRbacNamespaces),
            ),
            (
                "RBAC namespace with a space",
                |p| p.rbac_scope = namespaces(&["ok", "not ok"]),
                |e| matches!(e, InstallError::InvalidName { .. }),
            ),
            (
                "include with a comma",
                |p| p.namespaces_include = vec!["a,b".into()],
                |e| matches!(e, InstallError::InvalidName { .. }),
            ),
            (
                "exclude with a newline",
                |p| p.namespaces_exclude = vec!["a\nb".into()],
                |e| matches!(e, InstallError::InvalidName { .. }),
            ),
            (
                "plain http",
                |p| p.appliance_url = "http://acorn:8443".into(),
                |e| matches!(e, InstallError::ApplianceUrl(_)),
            ),
            (
                "a path",
                |p| p.appliance_url = "https://acorn:8443/x".into(),
                |e| matches!(e, InstallError::ApplianceUrl(_)),
            ),
            (
                "credentials",
                |p| p.appliance_url = "https://u:p@acorn:8443".into(),
                |e| matches!(e, InstallError::ApplianceUrl(_)),
            ),
            (
                "a query",
                |p| p.appliance_url = "https://acorn:8443?a=b".into(),
                |e| matches!(e, InstallError::ApplianceUrl(_)),
            ),
            (
                "a newline",
                |p| p.appliance_url = "https://acorn:8443\nx".into(),
                |e| matches!(e, InstallError::ApplianceUrl(_)),
            ),
            (
                "no URL",
                |p| p.appliance_url = "acorn".into(),
                |e| matches!(e, InstallError::ApplianceUrl(_)),
            ),
            (
                "empty CA",
                |p| p.ca_pem = String::new(),
                |e| matches!(e, InstallError::CaBundle(_)),
            ),
            (
                "CA that is no PEM",
                |p| p.ca_pem = "hello".into(),
                |e| matches!(e, InstallError::CaBundle(_)),
            ),
            (
                "CA with bad base64",
                |p| {
                    p.ca_pem =
                        "-----BEGIN CERTIFICATE-----\n!!!\n-----END CERTIFICATE-----\n".into()
                },
                |e| matches!(e, InstallError::CaBundle(_)),
            ),
            (
                "key without prefix",
                |p| p.agent_key = "secret".into(),
                |e| matches!(e, InstallError::AgentKey),
            ),
            (
                "bare prefix",
                |p| p.agent_key = AGENT_KEY_PREFIX.into(),
                |e| matches!(e, InstallError::AgentKey),
            ),
            (
                "key with a newline",
                |p| p.agent_key = format!("{AGENT_KEY_PREFIX}a\nb"),
                |e| matches!(e, InstallError::AgentKey),
            ),
            (
                "empty image",
                |p| p.image = String::new(),
                |e| matches!(e, InstallError::Image(_)),
            ),
            (
                "image with a space",
                |p| p.image = "acorn/agent :1".into(),
                |e| matches!(e, InstallError::Image(_)),
            ),
            (
                "image with an empty tag",
                |p| p.image = "acorn/agent:".into(),
                |e| matches!(e, InstallError::Image(_)),
            ),
            (
                "image with a bad digest",
                |p| p.image = "acorn/agent@sha256:xyz".into(),
                |e| matches!(e, InstallError::Image(_)),
            ),
            (
                "zero replicas",
                |p| p.replica_count = 0,
                |e| matches!(e, InstallError::ReplicaCount),
            ),
            (
                "empty chart",
                |p| p.chart_ref = " ".into(),
                |e| matches!(e, InstallError::ChartRef),
            ),
            (
                "chart with a newline",
                |p| p.chart_ref = "./a\nb".into(),
                |e| matches!(e, InstallError::ChartRef),
            ),
        ];
        for (name, mutate, expected) in cases {
            let mut p = params(RbacScope::Cluster, false, true, 1);
            mutate(&mut p);
            match render(&p) {
                Err(e) => assert!(expected(&e), "{name}: wrong error {e:?}"),
                Ok(_) => panic!("{name}: rendered"),
            }
        }
        // And the base case renders, so each refusal above is due to its one change.
        render(&params(RbacScope::Cluster, false, true, 1)).unwrap();
    }

    #[test]
    fn appliance_urls_of_every_form_are_accepted() {
        for url in [
            "https://acorn:443",
            "https://acorn.example.internal:8443/",
            "https://ACORN.example.internal",
            "https://10.20.30.40:8443",
            "https://[fd00::1]:8443",
        ] {
            let mut p = params(RbacScope::Cluster, false, true, 1);
            p.appliance_url = url.into();
            let docs = docs(&render(&p).unwrap_or_else(|e| panic!("{url}: {e}")).manifest);
            let env = env_of(find(&docs, "Deployment", "acorn-agent"));
            assert_eq!(env["ACORN_AGENT_APPLIANCE_URL"], url);
        }
    }

    #[test]
    fn image_references_split_for_the_chart() {
        let digest = format!("sha256:{}", "ab".repeat(32));
        let cases = [
            (
                "acorn/acorn-agent",
                "acorn/acorn-agent",
                Some(CHART_VERSION.to_string()),
                None,
                format!("acorn/acorn-agent:{CHART_VERSION}"),
            ),
            (
                "reg:5000/acorn/agent",
                "reg:5000/acorn/agent",
                Some(CHART_VERSION.to_string()),
                None,
                format!("reg:5000/acorn/agent:{CHART_VERSION}"),
            ),
            (
                "reg:5000/acorn/agent:1.2.3",
                "reg:5000/acorn/agent",
                Some("1.2.3".into()),
                None,
                "reg:5000/acorn/agent:1.2.3".into(),
            ),
            (
                &*format!("reg/agent@{digest}"),
                "reg/agent",
                None,
                Some(digest.clone()),
                format!("reg/agent@{digest}"),
            ),
            (
                &*format!("reg/agent:1.2@{digest}"),
                "reg/agent",
                Some("1.2".into()),
                Some(digest.clone()),
                format!("reg/agent@{digest}"),
            ),
        ];
        for (input, repository, tag, digest, full) in cases {
            let image = ImageRef::parse(input).unwrap();
            assert_eq!(
                image,
                ImageRef {
                    repository: repository.into(),
                    tag,
                    digest
                },
                "{input}"
            );
            assert_eq!(image.full(), full, "{input}");
        }
    }

    /// Runs the command with `printf '%s\n'` in place of `helm` in a real shell: the words the
    /// shell passes are exactly the intended arguments, whatever the chart reference holds.
    #[test]
    fn helm_command_is_safe_shell() {
        let cases = [
            ("./acorn-agent-0.1.0.tgz", false),
            (
                "./charts/it's here; rm -rf ~ $(id) `id`/acorn-agent.tgz",
                false,
            ),
            ("oci://registry.example.internal/charts/acorn-agent", true),
        ];
        for (chart_ref, versioned) in cases {
            let mut p = params(RbacScope::Cluster, false, true, 1);
            p.chart_ref = chart_ref.into();
            let cmd = render(&p).unwrap().helm_command;
            let rest = cmd.strip_prefix("helm ").unwrap();
            let out = Command::new("sh")
                .arg("-c")
                .arg(format!("printf '%s\\n' {rest}"))
                .output()
                .unwrap();
            assert!(out.status.success());
            let words: Vec<String> = String::from_utf8(out.stdout)
                .unwrap()
                .lines()
                .map(String::from)
                .collect();
            let mut expected = vec!["upgrade", "--install", "acorn-agent", chart_ref];
            if versioned {
                expected.extend(["--version", CHART_VERSION]);
            }
            expected.extend([
                "--namespace",
                "acorn-system",
                "--create-namespace",
                "--values",
                VALUES_FILE,
            ]);
            assert_eq!(words, expected, "{cmd}");
        }
    }

    #[test]
    fn rendering_is_deterministic() {
        let p = params(namespaces(&["a", "b"]), true, true, 2);
        assert_eq!(render(&p).unwrap(), render(&p).unwrap());
    }

    #[test]
    fn chart_version_is_the_appliance_version() {
        let chart: Value = serde_saphyr::from_str(include_str!(
            "../../../packaging/charts/acorn-agent/Chart.yaml"
        ))
        .unwrap();
        assert_eq!(chart["version"], CHART_VERSION);
        assert_eq!(chart["appVersion"], CHART_VERSION);
        assert_eq!(chart["name"], RELEASE_NAME);
    }

    fn output_text(out: &Output) -> String {
        format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        )
    }

    /// True when every field of `want` is in `got` with the same value (the server may add).
    fn is_subset(want: &Value, got: &Value) -> bool {
        match (want, got) {
            (Value::Object(w), Value::Object(g)) => w
                .iter()
                .all(|(k, v)| g.get(k).is_some_and(|gv| is_subset(v, gv))),
            (Value::Array(w), Value::Array(g)) => {
                w.len() == g.len() && w.iter().zip(g).all(|(a, b)| is_subset(a, b))
            }
            _ => want == got,
        }
    }

    /// The real kubectl creates every document in the Kubernetes API simulator and reads it
    /// back unchanged: the manifest is valid for an API server, and the cluster name that tries
    /// to inject YAML comes back as the one annotation it was.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn kubectl_creates_every_document_in_the_simulator() {
        for case in cases() {
            let config = acorn_kubesim::Config {
                scenarios: vec!["healthy".into()],
                time_scale: 0.0,
                ..acorn_kubesim::Config::default()
            };
            let sim = acorn_kubesim::start(&config, "127.0.0.1:0".parse().unwrap())
                .await
                .unwrap();
            let dir = tempfile::tempdir().unwrap();
            let kubeconfig = dir.path().join("kubeconfig");
            acorn_kubesim::write_kubeconfig(&kubeconfig, &sim.url()).unwrap();
            let manifest = dir.path().join("agent.yaml");
            let rendered = render(&case.params).unwrap();
            std::fs::write(&manifest, &rendered.manifest).unwrap();
            let kubectl = |args: Vec<String>| {
                let kubeconfig = kubeconfig.clone();
                tokio::task::spawn_blocking(move || {
                    Command::new("kubectl")
                        .arg("--kubeconfig")
                        .arg(&kubeconfig)
                        .args(&args)
                        .output()
                        .unwrap()
                })
            };
            let file = manifest.display().to_string();
            let created = kubectl(vec![
                "create".into(),
                "--validate=false".into(),
                "-f".into(),
                file.clone(),
            ])
            .await
            .unwrap();
            assert!(
                created.status.success(),
                "{}: {}",
                case.name,
                output_text(&created)
            );
            let got = kubectl(vec![
                "get".into(),
                "-f".into(),
                file,
                "-o".into(),
                "json".into(),
            ])
            .await
            .unwrap();
            assert!(got.status.success(), "{}: {}", case.name, output_text(&got));
            let list: Value = serde_json::from_slice(&got.stdout).unwrap();
            let items = list["items"].as_array().unwrap();
            let want = docs(&rendered.manifest);
            assert_eq!(items.len(), want.len(), "{}", case.name);
            for doc in &want {
                let item = items
                    .iter()
                    .find(|i| id(i) == id(doc))
                    .unwrap_or_else(|| panic!("{}: {} not read back", case.name, id(doc)));
                assert!(
                    is_subset(doc, item),
                    "{}: {} differs:\nsent {doc:#}\ngot {item:#}",
                    case.name,
                    id(doc)
                );
                assert!(
                    item["metadata"]["uid"].is_string(),
                    "{}: {} not stored",
                    case.name,
                    id(doc)
                );
            }
        }
    }

    /// Helm's engine (Go SDK v4, through PyPI's `helm-python-sdk`), installed once into
    /// `$ACORN_HELM_SDK_DIR` or `~/.cache/acorn/helm-python-sdk-VERSION` (`.ci/run` does the same).
    fn helm_sdk() -> PathBuf {
        static DIR: OnceLock<PathBuf> = OnceLock::new();
        DIR.get_or_init(|| {
            if let Some(dir) = std::env::var_os("ACORN_HELM_SDK_DIR") {
                let dir = PathBuf::from(dir);
                assert!(dir.join("helm_python").is_dir(), "ACORN_HELM_SDK_DIR={} holds no helm_python", dir.display());
                return dir;
            }
            let version = HELM_SDK.rsplit('=').next().unwrap();
            let home = std::env::var_os("HOME").map_or_else(std::env::temp_dir, PathBuf::from);
            let dir = home.join(".cache/acorn").join(format!("helm-python-sdk-{version}"));
            if !dir.join("helm_python").is_dir() {
                // Install beside and rename: another test run may be installing at the same time.
                let tmp = home.join(".cache/acorn").join(format!("helm-python-sdk-{version}.tmp{}", std::process::id()));
                let out = Command::new("python3")
                    .args(["-m", "pip", "install", "--quiet", "--disable-pip-version-check", "--target"])
                    .arg(&tmp)
                    .arg(HELM_SDK)
                    .output()
                    .expect("python3 with pip is needed for Helm's engine (apt-get install python3-pip)");
                assert!(out.status.success(), "pip install {HELM_SDK}: {}", output_text(&out));
                if std::fs::rename(&tmp, &dir).is_err() {
                    let _ = std::fs::remove_dir_all(&tmp);
                }
            }
            assert!(dir.join("helm_python").is_dir(), "{} holds no helm_python", dir.display());
            dir
        })
        .clone()
    }

    fn chart_dir() -> PathBuf {
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../packaging/charts/acorn-agent")
    }

    fn helm(args: &[&str]) -> Output {
        let chart = chart_dir();
        Command::new("python3")
            .arg(chart.join("ci/helm.py"))
            .args(args)
            .env("PYTHONPATH", helm_sdk())
            .output()
            .unwrap()
    }

    /// Labels only Helm sets: the chart version and who manages the release.
    fn without_helm_labels(mut doc: Value) -> Value {
        for path in ["/metadata/labels", "/spec/template/metadata/labels"] {
            if let Some(map) = doc.pointer_mut(path).and_then(Value::as_object_mut) {
                map.remove("helm.sh/chart");
                map.remove("app.kubernetes.io/managed-by");
            }
        }
        doc
    }

    /// The chart, given the generated values file, renders the same objects as the plain
    /// manifest (bar the Namespace, which `--create-namespace` makes): same kinds, names,
    /// environment, RBAC rules, data and pod spec, field for field. `helm lint --strict` passes
    /// with the same values.
    #[test]
    fn chart_renders_what_the_renderer_renders() {
        let chart = chart_dir().display().to_string();
        for case in cases() {
            let out = render(&case.params).unwrap();
            let dir = tempfile::tempdir().unwrap();
            let values = dir.path().join(VALUES_FILE);
            std::fs::write(&values, &out.helm_values).unwrap();
            let values = values.display().to_string();

            let lint = helm(&["lint", &chart, "--strict", "-f", &values]);
            assert!(
                lint.status.success(),
                "{}: helm lint: {}",
                case.name,
                output_text(&lint)
            );

            let template = helm(&[
                "template",
                RELEASE_NAME,
                &chart,
                "--namespace",
                &case.params.namespace,
                "-f",
                &values,
            ]);
            assert!(
                template.status.success(),
                "{}: helm template: {}",
                case.name,
                output_text(&template)
            );
            let helm_docs: BTreeMap<String, Value> =
                docs(&String::from_utf8(template.stdout).unwrap())
                    .into_iter()
                    .map(|d| (id(&d), without_helm_labels(d)))
                    .collect();
            let ours: BTreeMap<String, Value> = docs(&out.manifest)
                .into_iter()
                .filter(|d| d["kind"] != "Namespace")
                .map(|d| (id(&d), d))
                .collect();
            assert_eq!(
                helm_docs.keys().collect::<Vec<_>>(),
                ours.keys().collect::<Vec<_>>(),
                "{}",
                case.name
            );
            for (key, doc) in &ours {
                assert_eq!(
                    &helm_docs[key], doc,
                    "{}: {key} differs (left: chart, right: renderer)",
                    case.name
                );
            }
        }
    }
}
