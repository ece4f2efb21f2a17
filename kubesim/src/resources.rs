//! The resource registry: which kinds the simulator serves, under which group, version and plural.
//!
//! A built-in table covers the kinds the agent reads plus the common ones scenarios hold
//! (quotas, RBAC, webhooks, ...). Any other kind met in a scenario is registered on the fly:
//! from its `CustomResourceDefinition` when the scenario has one, otherwise by the usual
//! pluralisation rule. Discovery documents are generated from this registry, so whatever is
//! stored is also discoverable. The registry is fixed once the scenarios are loaded.

use std::collections::HashMap;

use serde_json::{Value, json};

/// Field selectors every kind supports.
const META_FIELDS: &[&str] = &["metadata.name", "metadata.namespace"];

/// One served resource (a plural under a group/version).
#[derive(Debug, Clone)]
pub struct ResourceType {
    pub group: String,
    pub version: String,
    pub kind: String,
    pub plural: String,
    pub singular: String,
    pub namespaced: bool,
    pub short_names: Vec<String>,
    /// Field-selector labels beyond `metadata.name` / `metadata.namespace`.
    pub extra_fields: Vec<String>,
    /// Read-only resources (metrics) answer only get/list.
    pub read_only: bool,
    /// Served as a conversion of another resource's objects (events.k8s.io/v1 of core events).
    pub view_of: Option<View>,
    /// Subresources advertised in discovery: `status`, `scale`, `log`, `eviction`.
    pub subresources: Vec<&'static str>,
}

/// A resource served by converting the objects of another one.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum View {
    /// `events.k8s.io/v1` Events, converted from core/v1 Events.
    EventsV1,
}

impl ResourceType {
    /// `v1` or `apps/v1`.
    pub fn api_version(&self) -> String {
        if self.group.is_empty() {
            self.version.clone()
        } else {
            format!("{}/{}", self.group, self.version)
        }
    }

    /// `pods` or `leases.coordination.k8s.io`, as API-server messages name resources.
    pub fn qualified_plural(&self) -> String {
        if self.group.is_empty() {
            self.plural.clone()
        } else {
            format!("{}.{}", self.plural, self.group)
        }
    }

    pub fn list_kind(&self) -> String {
        format!("{}List", self.kind)
    }

    /// Whether `label` may be used in a field selector on this resource.
    pub fn supports_field(&self, label: &str) -> bool {
        META_FIELDS.contains(&label) || self.extra_fields.iter().any(|f| f == label)
    }

    pub fn verbs(&self) -> Vec<&'static str> {
        if self.read_only {
            vec!["get", "list"]
        } else {
            vec![
                "create",
                "delete",
                "deletecollection",
                "get",
                "list",
                "patch",
                "update",
                "watch",
            ]
        }
    }

    /// The `APIResource` entries (the resource and its subresources) for discovery.
    pub fn discovery_entries(&self) -> Vec<Value> {
        let mut main = json!({
            "name": self.plural,
            "singularName": self.singular,
            "namespaced": self.namespaced,
            "kind": self.kind,
            "verbs": self.verbs(),
        });
        if !self.short_names.is_empty() {
            main["shortNames"] = json!(self.short_names);
        }
        // `kubectl get all` expands the "all" category from discovery.
        const ALL: &[(&str, &str)] = &[
            ("", "pods"),
            ("", "services"),
            ("", "replicationcontrollers"),
            ("apps", "deployments"),
            ("apps", "replicasets"),
            ("apps", "statefulsets"),
            ("apps", "daemonsets"),
            ("batch", "jobs"),
            ("batch", "cronjobs"),
            ("autoscaling", "horizontalpodautoscalers"),
        ];
        if ALL.contains(&(self.group.as_str(), self.plural.as_str())) {
            main["categories"] = json!(["all"]);
        }
        let mut out = vec![main];
        for sub in &self.subresources {
            let entry = match *sub {
                "scale" => {
                    json!({"name": format!("{}/scale", self.plural), "singularName": "", "namespaced": self.namespaced,
                    "group": "autoscaling", "version": "v1", "kind": "Scale", "verbs": ["get", "patch", "update"]})
                }
                "log" => {
                    json!({"name": format!("{}/log", self.plural), "singularName": "", "namespaced": true,
                    "kind": "Pod", "verbs": ["get"]})
                }
                "eviction" => {
                    json!({"name": format!("{}/eviction", self.plural), "singularName": "", "namespaced": true,
                    "group": "policy", "version": "v1", "kind": "Eviction", "verbs": ["create"]})
                }
                _ => {
                    json!({"name": format!("{}/{sub}", self.plural), "singularName": "", "namespaced": self.namespaced,
                    "kind": self.kind, "verbs": ["get", "patch", "update"]})
                }
            };
            out.push(entry);
        }
        out
    }
}

/// Index into [`Registry::types`].
pub type TypeId = usize;

/// All served resources.
#[derive(Debug, Clone, Default)]
pub struct Registry {
    pub types: Vec<ResourceType>,
    by_path: HashMap<(String, String), TypeId>,
    by_kind: HashMap<(String, String), TypeId>,
}

/// (group/version, kind, plural, namespaced, short names, extra field selectors, subresources)
type Builtin = (
    &'static str,
    &'static str,
    &'static str,
    bool,
    &'static [&'static str],
    &'static [&'static str],
    &'static [&'static str],
);

const BUILTINS: &[Builtin] = &[
    (
        "v1",
        "Namespace",
        "namespaces",
        false,
        &["ns"],
        &["status.phase"],
        &["status"],
    ),
    (
        "v1",
        "Pod",
        "pods",
        true,
        &["po"],
        &[
            "spec.nodeName",
            "spec.restartPolicy",
            "spec.schedulerName",
            "spec.serviceAccountName",
            "spec.hostNetwork",
            "status.phase",
            "status.podIP",
            "status.podIPs",
            "status.nominatedNodeName",
        ],
        &["status", "log", "eviction"],
    ),
    (
        "v1",
        "Node",
        "nodes",
        false,
        &["no"],
        &["spec.unschedulable"],
        &["status"],
    ),
    (
        "v1",
        "Service",
        "services",
        true,
        &["svc"],
        &[],
        &["status"],
    ),
    ("v1", "Endpoints", "endpoints", true, &["ep"], &[], &[]),
    (
        "v1",
        "PersistentVolumeClaim",
        "persistentvolumeclaims",
        true,
        &["pvc"],
        &[],
        &["status"],
    ),
    (
        "v1",
        "PersistentVolume",
        "persistentvolumes",
        false,
        &["pv"],
        &[],
        &["status"],
    ),
    ("v1", "ConfigMap", "configmaps", true, &["cm"], &[], &[]),
    ("v1", "Secret", "secrets", true, &[], &["type"], &[]),
    (
        "v1",
        "Event",
        "events",
        true,
        &["ev"],
        &[
            "involvedObject.kind",
            "involvedObject.namespace",
            "involvedObject.name",
            "involvedObject.uid",
            "involvedObject.apiVersion",
            "involvedObject.resourceVersion",
            "involvedObject.fieldPath",
            "reason",
            "reportingComponent",
            "source",
            "type",
        ],
        &[],
    ),
    (
        "v1",
        "ServiceAccount",
        "serviceaccounts",
        true,
        &["sa"],
        &[],
        &[],
    ),
    (
        "v1",
        "ResourceQuota",
        "resourcequotas",
        true,
        &["quota"],
        &[],
        &["status"],
    ),
    (
        "v1",
        "LimitRange",
        "limitranges",
        true,
        &["limits"],
        &[],
        &[],
    ),
    (
        "v1",
        "ReplicationController",
        "replicationcontrollers",
        true,
        &["rc"],
        &["status.replicas"],
        &["status", "scale"],
    ),
    (
        "apps/v1",
        "Deployment",
        "deployments",
        true,
        &["deploy"],
        &[],
        &["status", "scale"],
    ),
    (
        "apps/v1",
        "ReplicaSet",
        "replicasets",
        true,
        &["rs"],
        &["status.replicas"],
        &["status", "scale"],
    ),
    (
        "apps/v1",
        "StatefulSet",
        "statefulsets",
        true,
        &["sts"],
        &[],
        &["status", "scale"],
    ),
    (
        "apps/v1",
        "DaemonSet",
        "daemonsets",
        true,
        &["ds"],
        &[],
        &["status"],
    ),
    (
        "apps/v1",
        "ControllerRevision",
        "controllerrevisions",
        true,
        &[],
        &[],
        &[],
    ),
    (
        "batch/v1",
        "Job",
        "jobs",
        true,
        &[],
        &["status.successful"],
        &["status"],
    ),
    (
        "batch/v1",
        "CronJob",
        "cronjobs",
        true,
        &["cj"],
        &[],
        &["status"],
    ),
    (
        "networking.k8s.io/v1",
        "Ingress",
        "ingresses",
        true,
        &["ing"],
        &[],
        &["status"],
    ),
    (
        "networking.k8s.io/v1",
        "IngressClass",
        "ingressclasses",
        false,
        &[],
        &[],
        &[],
    ),
    (
        "networking.k8s.io/v1",
        "NetworkPolicy",
        "networkpolicies",
        true,
        &["netpol"],
        &[],
        &[],
    ),
    (
        "discovery.k8s.io/v1",
        "EndpointSlice",
        "endpointslices",
        true,
        &[],
        &["addressType"],
        &[],
    ),
    (
        "storage.k8s.io/v1",
        "StorageClass",
        "storageclasses",
        false,
        &["sc"],
        &[],
        &[],
    ),
    (
        "storage.k8s.io/v1",
        "CSIDriver",
        "csidrivers",
        false,
        &[],
        &[],
        &[],
    ),
    (
        "storage.k8s.io/v1",
        "CSINode",
        "csinodes",
        false,
        &[],
        &[],
        &[],
    ),
    (
        "storage.k8s.io/v1",
        "VolumeAttachment",
        "volumeattachments",
        false,
        &[],
        &[],
        &["status"],
    ),
    (
        "autoscaling/v2",
        "HorizontalPodAutoscaler",
        "horizontalpodautoscalers",
        true,
        &["hpa"],
        &[],
        &["status"],
    ),
    (
        "coordination.k8s.io/v1",
        "Lease",
        "leases",
        true,
        &[],
        &[],
        &[],
    ),
    (
        "policy/v1",
        "PodDisruptionBudget",
        "poddisruptionbudgets",
        true,
        &["pdb"],
        &[],
        &["status"],
    ),
    (
        "scheduling.k8s.io/v1",
        "PriorityClass",
        "priorityclasses",
        false,
        &["pc"],
        &[],
        &[],
    ),
    (
        "node.k8s.io/v1",
        "RuntimeClass",
        "runtimeclasses",
        false,
        &[],
        &[],
        &[],
    ),
    (
        "rbac.authorization.k8s.io/v1",
        "Role",
        "roles",
        true,
        &[],
        &[],
        &[],
    ),
    (
        "rbac.authorization.k8s.io/v1",
        "RoleBinding",
        "rolebindings",
        true,
        &[],
        &[],
        &[],
    ),
    (
        "rbac.authorization.k8s.io/v1",
        "ClusterRole",
        "clusterroles",
        false,
        &[],
        &[],
        &[],
    ),
    (
        "rbac.authorization.k8s.io/v1",
        "ClusterRoleBinding",
        "clusterrolebindings",
        false,
        &[],
        &[],
        &[],
    ),
    (
        "admissionregistration.k8s.io/v1",
        "ValidatingWebhookConfiguration",
        "validatingwebhookconfigurations",
        false,
        &[],
        &[],
        &[],
    ),
    (
        "admissionregistration.k8s.io/v1",
        "MutatingWebhookConfiguration",
        "mutatingwebhookconfigurations",
        false,
        &[],
        &[],
        &[],
    ),
    (
        "apiregistration.k8s.io/v1",
        "APIService",
        "apiservices",
        false,
        &[],
        &[],
        &["status"],
    ),
    (
        "apiextensions.k8s.io/v1",
        "CustomResourceDefinition",
        "customresourcedefinitions",
        false,
        &["crd", "crds"],
        &[],
        &["status"],
    ),
    (
        "metrics.k8s.io/v1beta1",
        "PodMetrics",
        "pods",
        true,
        &[],
        &[],
        &[],
    ),
    (
        "metrics.k8s.io/v1beta1",
        "NodeMetrics",
        "nodes",
        false,
        &[],
        &[],
        &[],
    ),
];

/// The metrics group (read-only, can be switched off to model a missing metrics-server).
pub const METRICS_GROUP: &str = "metrics.k8s.io";

impl Registry {
    /// The built-in kinds.
    pub fn builtin() -> Registry {
        let mut registry = Registry::default();
        for (gv, kind, plural, namespaced, short, fields, subs) in BUILTINS {
            let (group, version) = split_api_version(gv);
            registry.add(ResourceType {
                group: group.to_string(),
                version: version.to_string(),
                kind: kind.to_string(),
                plural: plural.to_string(),
                singular: kind.to_lowercase(),
                namespaced: *namespaced,
                short_names: short.iter().map(|s| s.to_string()).collect(),
                extra_fields: fields.iter().map(|s| s.to_string()).collect(),
                read_only: group == METRICS_GROUP,
                view_of: None,
                subresources: subs.to_vec(),
            });
        }
        registry.add(ResourceType {
            group: "events.k8s.io".into(),
            version: "v1".into(),
            kind: "Event".into(),
            plural: "events".into(),
            singular: "event".into(),
            namespaced: true,
            short_names: vec![],
            extra_fields: vec![
                "regarding.kind".into(),
                "regarding.namespace".into(),
                "regarding.name".into(),
                "regarding.uid".into(),
                "reason".into(),
                "reportingController".into(),
                "type".into(),
            ],
            read_only: true,
            view_of: Some(View::EventsV1),
            subresources: vec![],
        });
        registry
    }

    /// Adds a type unless its group/plural is already served; returns its id either way.
    pub fn add(&mut self, ty: ResourceType) -> TypeId {
        let path = (ty.group.clone(), ty.plural.clone());
        if let Some(id) = self.by_path.get(&path) {
            return *id;
        }
        let id = self.types.len();
        if ty.view_of.is_none() {
            self.by_kind
                .entry((ty.group.clone(), ty.kind.clone()))
                .or_insert(id);
        }
        self.by_path.insert(path, id);
        self.types.push(ty);
        id
    }

    pub fn get(&self, id: TypeId) -> Option<&ResourceType> {
        self.types.get(id)
    }

    /// The type served at `/apis/{group}/{version}/{plural}`.
    pub fn by_path(&self, group: &str, version: &str, plural: &str) -> Option<TypeId> {
        let id = *self.by_path.get(&(group.to_string(), plural.to_string()))?;
        (self.types[id].version == version).then_some(id)
    }

    /// The type of an object (`apiVersion` + `kind`); the version is not checked so that a
    /// scenario may use an older apiVersion of a served kind.
    pub fn by_kind(&self, api_version: &str, kind: &str) -> Option<TypeId> {
        let (group, _) = split_api_version(api_version);
        self.by_kind
            .get(&(group.to_string(), kind.to_string()))
            .copied()
    }

    /// Finds or registers the type of a scenario object. `crds` are the scenario's
    /// CustomResourceDefinitions (they give plural and scope); without one the plural is
    /// guessed and the scope taken from the object.
    pub fn ensure_kind(
        &mut self,
        api_version: &str,
        kind: &str,
        namespaced_hint: bool,
        crds: &[Value],
    ) -> TypeId {
        if let Some(id) = self.by_kind(api_version, kind) {
            return id;
        }
        let (group, version) = split_api_version(api_version);
        let crd = crds.iter().find(|crd| {
            crd.pointer("/spec/group").and_then(Value::as_str) == Some(group)
                && crd.pointer("/spec/names/kind").and_then(Value::as_str) == Some(kind)
        });
        let text = |v: Option<&Value>| v.and_then(Value::as_str).map(str::to_string);
        let (plural, singular, namespaced, short_names) = match crd {
            Some(crd) => (
                text(crd.pointer("/spec/names/plural")).unwrap_or_else(|| pluralize(kind)),
                text(crd.pointer("/spec/names/singular")).unwrap_or_else(|| kind.to_lowercase()),
                crd.pointer("/spec/scope").and_then(Value::as_str) != Some("Cluster"),
                crd.pointer("/spec/names/shortNames")
                    .and_then(Value::as_array)
                    .map(|a| {
                        a.iter()
                            .filter_map(Value::as_str)
                            .map(str::to_string)
                            .collect()
                    })
                    .unwrap_or_default(),
            ),
            None => (
                pluralize(kind),
                kind.to_lowercase(),
                namespaced_hint,
                vec![],
            ),
        };
        self.add(ResourceType {
            group: group.to_string(),
            version: version.to_string(),
            kind: kind.to_string(),
            plural,
            singular,
            namespaced,
            short_names,
            extra_fields: vec![],
            read_only: false,
            view_of: None,
            subresources: vec![],
        })
    }

    /// Groups in discovery order (core excluded), each with its versions.
    pub fn groups(&self) -> Vec<(String, Vec<String>)> {
        let mut out: Vec<(String, Vec<String>)> = Vec::new();
        for ty in &self.types {
            if ty.group.is_empty() {
                continue;
            }
            match out.iter_mut().find(|(g, _)| *g == ty.group) {
                Some((_, versions)) if !versions.contains(&ty.version) => {
                    versions.push(ty.version.clone())
                }
                Some(_) => {}
                None => out.push((ty.group.clone(), vec![ty.version.clone()])),
            }
        }
        out
    }
}

/// `apps/v1` → (`apps`, `v1`); `v1` → (``, `v1`).
pub fn split_api_version(api_version: &str) -> (&str, &str) {
    match api_version.split_once('/') {
        Some((g, v)) => (g, v),
        None => ("", api_version),
    }
}

/// The API server's default pluralisation of a kind (used for kinds without a CRD).
fn pluralize(kind: &str) -> String {
    let lower = kind.to_lowercase();
    if let Some(stem) = lower.strip_suffix('y')
        && !stem.ends_with(['a', 'e', 'i', 'o', 'u'])
    {
        return format!("{stem}ies");
    }
    if lower.ends_with('s')
        || lower.ends_with("sh")
        || lower.ends_with("ch")
        || lower.ends_with('x')
    {
        return format!("{lower}es");
    }
    format!("{lower}s")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plurals() {
        for (kind, plural) in [
            ("Policy", "policies"),
            ("Gateway", "gateways"),
            ("Ingress", "ingresses"),
            ("Widget", "widgets"),
        ] {
            assert_eq!(pluralize(kind), plural);
        }
    }

    #[test]
    fn lookups() {
        let r = Registry::builtin();
        let pods = r
            .by_path("", "v1", "pods")
            .and_then(|id| r.get(id))
            .map(|t| t.kind.clone());
        assert_eq!(pods.as_deref(), Some("Pod"));
        assert!(r.by_path("apps", "v1", "deployments").is_some());
        assert!(r.by_path("apps", "v2", "deployments").is_none());
        assert_eq!(r.by_kind("v1", "Event"), r.by_path("", "v1", "events"));
    }
}
