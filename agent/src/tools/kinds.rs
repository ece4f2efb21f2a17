//! Which API resource a tool means: `pods`, `po`, `Pod`, `deployments.apps` and the like
//! resolve from a built-in table of the kinds troubleshooting uses (no API call); anything else
//! (custom resources such as cert-manager's `Certificate`) through API discovery.

use acorn_proto::agent::ToolErrorCode;
use kube::api::{Api, DynamicObject};
use kube::core::ApiResource;
use kube::discovery::{Discovery, Scope};

use super::Failure;

/// A resolved kind.
#[derive(Debug, Clone)]
pub struct KindInfo {
    pub ar: ApiResource,
    pub namespaced: bool,
}

impl KindInfo {
    /// Core Secrets, whose data never leaves the cluster.
    pub fn is_secret(&self) -> bool {
        self.ar.group.is_empty() && self.ar.kind == "Secret"
    }

    /// An API for one namespace, or the whole cluster (`None`, or a cluster-scoped kind).
    pub fn api(&self, client: &kube::Client, namespace: Option<&str>) -> Api<DynamicObject> {
        match namespace {
            Some(ns) if self.namespaced => Api::namespaced_with(client.clone(), ns, &self.ar),
            _ => Api::all_with(client.clone(), &self.ar),
        }
    }
}

/// (kind, group, version, plural, namespaced, short names)
type Builtin = (
    &'static str,
    &'static str,
    &'static str,
    &'static str,
    bool,
    &'static [&'static str],
);

const BUILTIN: &[Builtin] = &[
    ("Pod", "", "v1", "pods", true, &["po"]),
    ("Service", "", "v1", "services", true, &["svc"]),
    ("Endpoints", "", "v1", "endpoints", true, &["ep"]),
    ("ConfigMap", "", "v1", "configmaps", true, &["cm"]),
    ("Secret", "", "v1", "secrets", true, &[]),
    ("Namespace", "", "v1", "namespaces", false, &["ns"]),
    ("Node", "", "v1", "nodes", false, &["no"]),
    ("Event", "", "v1", "events", true, &["ev"]),
    (
        "PersistentVolumeClaim",
        "",
        "v1",
        "persistentvolumeclaims",
        true,
        &["pvc"],
    ),
    (
        "PersistentVolume",
        "",
        "v1",
        "persistentvolumes",
        false,
        &["pv"],
    ),
    ("ServiceAccount", "", "v1", "serviceaccounts", true, &["sa"]),
    (
        "ResourceQuota",
        "",
        "v1",
        "resourcequotas",
        true,
        &["quota"],
    ),
    ("LimitRange", "", "v1", "limitranges", true, &["limits"]),
    ("Deployment", "apps", "v1", "deployments", true, &["deploy"]),
    ("ReplicaSet", "apps", "v1", "replicasets", true, &["rs"]),
    ("StatefulSet", "apps", "v1", "statefulsets", true, &["sts"]),
    ("DaemonSet", "apps", "v1", "daemonsets", true, &["ds"]),
    (
        "ControllerRevision",
        "apps",
        "v1",
        "controllerrevisions",
        true,
        &[],
    ),
    ("Job", "batch", "v1", "jobs", true, &[]),
    ("CronJob", "batch", "v1", "cronjobs", true, &["cj"]),
    (
        "Ingress",
        "networking.k8s.io",
        "v1",
        "ingresses",
        true,
        &["ing"],
    ),
    (
        "NetworkPolicy",
        "networking.k8s.io",
        "v1",
        "networkpolicies",
        true,
        &["netpol"],
    ),
    (
        "EndpointSlice",
        "discovery.k8s.io",
        "v1",
        "endpointslices",
        true,
        &[],
    ),
    (
        "StorageClass",
        "storage.k8s.io",
        "v1",
        "storageclasses",
        false,
        &["sc"],
    ),
    (
        "HorizontalPodAutoscaler",
        "autoscaling",
        "v2",
        "horizontalpodautoscalers",
        true,
        &["hpa"],
    ),
    (
        "PodDisruptionBudget",
        "policy",
        "v1",
        "poddisruptionbudgets",
        true,
        &["pdb"],
    ),
    ("Lease", "coordination.k8s.io", "v1", "leases", true, &[]),
    (
        "CustomResourceDefinition",
        "apiextensions.k8s.io",
        "v1",
        "customresourcedefinitions",
        false,
        &["crd", "crds"],
    ),
    (
        "PriorityClass",
        "scheduling.k8s.io",
        "v1",
        "priorityclasses",
        false,
        &["pc"],
    ),
];

fn info(b: &Builtin) -> KindInfo {
    let (kind, group, version, plural, namespaced, _) = *b;
    let api_version = if group.is_empty() {
        version.to_string()
    } else {
        format!("{group}/{version}")
    };
    KindInfo {
        ar: ApiResource {
            group: group.into(),
            version: version.into(),
            api_version,
            kind: kind.into(),
            plural: plural.into(),
        },
        namespaced,
    }
}

/// A built-in kind by its exact Kubernetes name (`Pod`, `Deployment`).
pub fn builtin(kind: &str) -> Option<KindInfo> {
    BUILTIN.iter().find(|b| b.0 == kind).map(info)
}

/// Whether `name` (lower case) names `kind`/`plural`/a short name, and `group` matches when
/// given.
fn names(
    name: &str,
    group: Option<&str>,
    kind: &str,
    plural: &str,
    short: &[&str],
    g: &str,
) -> bool {
    if group.is_some_and(|want| want != g) {
        return false;
    }
    name == kind.to_ascii_lowercase() || name == plural || short.contains(&name)
}

/// Resolves what a caller wrote as a kind.
pub async fn resolve(client: &kube::Client, written: &str) -> Result<KindInfo, Failure> {
    let lower = written.trim().to_ascii_lowercase();
    if lower.is_empty() {
        return Err(Failure::invalid("field `kind`: must not be empty"));
    }
    // `deployments.apps`, `certificates.cert-manager.io`: the part after the first dot is the group.
    let (name, group) = match lower.split_once('.') {
        Some((n, g)) => (n.to_string(), Some(g.to_string())),
        None => (lower.clone(), None),
    };
    if let Some(b) = BUILTIN
        .iter()
        .find(|b| names(&name, group.as_deref(), b.0, b.3, b.5, b.1))
    {
        return Ok(info(b));
    }
    let discovery = Discovery::new(client.clone()).run().await?;
    for api_group in discovery.groups() {
        for (ar, caps) in api_group.recommended_resources() {
            let short: Vec<&str> = Vec::new();
            if names(
                &name,
                group.as_deref(),
                &ar.kind,
                &ar.plural,
                &short,
                &ar.group,
            ) {
                return Ok(KindInfo {
                    namespaced: matches!(caps.scope, Scope::Namespaced),
                    ar,
                });
            }
        }
    }
    Err(Failure::invalid(format!(
        "field `kind`: the cluster serves no resource called {written:?} (examples: pods, deployments, nodes, events, or a custom resource's kind)"
    )))
}

/// Resolves the `apiVersion` and `kind` of an owner reference.
pub async fn by_api_version(
    client: &kube::Client,
    api_version: &str,
    kind: &str,
) -> Result<KindInfo, Failure> {
    let (group, version) = match api_version.split_once('/') {
        Some((g, v)) => (g, v),
        None => ("", api_version),
    };
    if let Some(b) = BUILTIN.iter().find(|b| b.0 == kind && b.1 == group) {
        let mut found = info(b);
        // Keep the version the reference names (it is served, or the owner would not exist).
        found.ar.version = version.to_string();
        found.ar.api_version = api_version.to_string();
        return Ok(found);
    }
    let gvk = kube::core::GroupVersionKind::gvk(group, version, kind);
    let (ar, caps) = kube::discovery::pinned_kind(client, &gvk)
        .await
        .map_err(|e| match e {
            kube::Error::Discovery(_) => Failure::new(
                ToolErrorCode::ToolKubernetesError,
                format!("the cluster does not serve {kind} in {api_version}"),
            ),
            other => Failure::from(other),
        })?;
    Ok(KindInfo {
        namespaced: matches!(caps.scope, Scope::Namespaced),
        ar,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn builtin_names_resolve_without_the_cluster() {
        for (written, kind) in [
            ("po", "Pod"),
            ("Pods", "Pod"),
            ("deploy", "Deployment"),
            ("deployments.apps", "Deployment"),
            ("PVC", "PersistentVolumeClaim"),
            ("hpa", "HorizontalPodAutoscaler"),
        ] {
            let lower = written.to_ascii_lowercase();
            let (name, group) = match lower.split_once('.') {
                Some((n, g)) => (n.to_string(), Some(g.to_string())),
                None => (lower.clone(), None),
            };
            let found = BUILTIN
                .iter()
                .find(|b| names(&name, group.as_deref(), b.0, b.3, b.5, b.1))
                .map(|b| b.0);
            assert_eq!(found, Some(kind), "{written}");
        }
        assert!(
            BUILTIN
                .iter()
                .all(|b| !names("deployments", Some("batch"), b.0, b.3, b.5, b.1))
        );
    }
}
