//! Clusters: the list with live link status (polled every 2 s), registration with the install
//! instructions (Helm and plain manifest, copy buttons), and one cluster's page: agent, facts,
//! capabilities, findings, small CPU/memory plots from the snapshot's metrics, and a resource
//! browser by kind and namespace with each object's YAML and the cluster's events; for owners
//! and admins (`clusters.manage` in the cluster's `permissions`), its settings, the agent key's
//! rotation (new install instructions shown once) and its deletion after typing its name.

use std::time::Duration;

use acorn_proto::agent::NamespaceFilter;
use acorn_proto::agent::{Resource, ResourceKey, ToolClass};
use acorn_proto::authz::Action;
use acorn_proto::clusters::{
    ClusterView, ClusterWithKey, LinkStatus, RbacScope, RegisterCluster, UpdateCluster,
};
use dioxus::prelude::*;

use crate::app::{Badge, CopyBlock, ErrorBox, Loading, checked, ctx, field};
use crate::backend::{ResourceFilter, UiError};
use crate::format;
use crate::pages::findings::FindingsList;
use crate::route::{cluster_link, ws_link};

/// How often the list and a cluster's page re-read the link status.
const POLL: Duration = Duration::from_secs(2);

fn status_word(s: LinkStatus) -> &'static str {
    match s {
        LinkStatus::NeverConnected => "never_connected",
        LinkStatus::Connected => "connected",
        LinkStatus::Disconnected => "disconnected",
    }
}

/// `/console/w/{ws}/clusters`.
#[component]
pub fn Clusters() -> Element {
    let c = ctx();
    let ws = c.ws();
    let mut list = use_signal(|| None::<Result<Vec<ClusterView>, UiError>>);
    let backend = c.backend.clone();
    let ws2 = ws.clone();
    use_future(move || {
        let backend = backend.clone();
        let ws = ws2.clone();
        async move {
            loop {
                let r = backend.clusters(ws.clone()).await;
                let stop = matches!(&r, Err(e) if e.is_signed_out());
                list.set(Some(r));
                if stop {
                    break;
                }
                tokio::time::sleep(POLL).await;
            }
        }
    });
    let registered = use_signal(|| None::<ClusterWithKey>);
    rsx! {
        h1 { "Clusters" }
        if c.can(Action::ClustersManage) {
            RegisterForm { registered }
        }
        if let Some(done) = registered() {
            InstallInstructions { done }
        }
        div { class: "panel",
            match &*list.read() {
                None => rsx! { Loading { what: "clusters" } },
                Some(Err(e)) => rsx! { ErrorBox { error: e.clone() } },
                Some(Ok(items)) if items.is_empty() => rsx! {
                    div { class: "empty", id: "clusters-empty",
                        if c.can(Action::ClustersManage) {
                            "No cluster yet. Register one above: you get a Helm command and a manifest that install the agent, which connects out to this appliance."
                        } else {
                            "No cluster yet. An admin of this workspace registers clusters."
                        }
                    }
                },
                Some(Ok(items)) => rsx! {
                    div { class: "table-wrap",
                        table { id: "clusters-table",
                            thead { tr { th { "Name" } th { "Status" } th { "Agent" } th { "Last heartbeat" } th { "Objects" } } }
                            tbody {
                                for cl in items.clone() {
                                    ClusterRow { key: "{cl.id}", cl }
                                }
                            }
                        }
                    }
                },
            }
        }
    }
}

#[component]
fn ClusterRow(cl: ClusterView) -> Element {
    let objects: u64 = cl.snapshot.counts.values().sum();
    let status = status_word(cl.status);
    rsx! {
        tr { "data-cluster": "{cl.name}",
            td { a { href: cluster_link(&cl.workspace_id, &cl.id), "{cl.name}" } }
            td {
                Badge { text: status.to_owned() }
                if cl.status == LinkStatus::NeverConnected {
                    span { class: "muted small", " " span { class: "spinner" } " waiting for the agent" }
                }
            }
            td { {cl.agent.as_ref().map(|a| a.version.clone()).unwrap_or_else(|| "—".into())} }
            td { {cl.agent.as_ref().map(|a| format::rfc3339(&a.last_heartbeat_at)).unwrap_or_else(|| "—".into())} }
            td { "{objects}" }
        }
    }
}

#[component]
fn RegisterForm(registered: Signal<Option<ClusterWithKey>>) -> Element {
    let c = ctx();
    let mut busy = use_signal(|| false);
    let mut error = use_signal(|| None::<UiError>);
    let backend = c.backend.clone();
    let ws = c.ws();
    rsx! {
        div { class: "panel",
            h2 { "Register a cluster" }
            form { class: "inline", id: "register-cluster",
                onsubmit: move |evt: FormEvent| {
                    if busy() { return; }
                    busy.set(true);
                    error.set(None);
                    let body = RegisterCluster {
                        name: field(&evt, "name").trim().to_owned(),
                        namespaces: None,
                        rbac_scope: Some(rbac_scope_of(&field(&evt, "rbac_namespaces"))),
                        write_allowed: checked(&evt, "write_allowed"),
                        logs_allowed: checked(&evt, "logs_allowed"),
                        agent_image: None,
                        auto_triage: checked(&evt, "auto_triage"),
                    };
                    let backend = backend.clone();
                    let ws = ws.clone();
                    spawn(async move {
                        match backend.register_cluster(ws, body).await {
                            Ok(done) => registered.set(Some(done)),
                            Err(e) => error.set(Some(e)),
                        }
                        busy.set(false);
                    });
                },
                label { "Name" input { name: "name", required: true, placeholder: "prod-eu", pattern: "[a-z][a-z0-9\\-]{{0,62}}", title: "a-z, 0-9 and -, starting with a letter" } }
                label { class: "check", input { r#type: "checkbox", name: "logs_allowed", checked: true } "Pod logs" }
                label { class: "check", input { r#type: "checkbox", name: "write_allowed" } "Write actions (with approval)" }
                label { class: "check", input { r#type: "checkbox", name: "auto_triage" } "Auto-triage critical findings" }
                label { "Agent access: only these namespaces (empty: the whole cluster)"
                    input { name: "rbac_namespaces", placeholder: "shop, payments" } }
                button { r#type: "submit", disabled: busy(), if busy() { "Registering…" } else { "Register" } }
            }
            if let Some(e) = error() { ErrorBox { error: e } }
        }
    }
}

#[component]
fn InstallInstructions(done: ClusterWithKey) -> Element {
    let mut tab = use_signal(|| "helm");
    rsx! {
        div { class: "panel", id: "install-instructions",
            h2 { "Install the agent in “{done.cluster.name}”" }
            p { "The agent key is in these instructions and is shown only now. The agent dials out to this appliance over TLS and trusts only its CA; the cluster's status below turns " em { "connected" } " once it is running." }
            div { class: "tabs", role: "tablist",
                button { class: if tab() == "helm" { "" } else { "secondary" }, r#type: "button", role: "tab", onclick: move |_| tab.set("helm"), "Helm" }
                button { class: if tab() == "manifest" { "" } else { "secondary" }, r#type: "button", role: "tab", onclick: move |_| tab.set("manifest"), "Manifest (kubectl)" }
            }
            if tab() == "helm" {
                h3 { "Values file (save as acorn-agent-values.yaml)" }
                CopyBlock { id: "install-helm-values", text: done.install.helm_values.clone() }
                h3 { "Command" }
                CopyBlock { id: "install-helm", text: done.install.helm_command.clone() }
            } else {
                h3 { "kubectl apply -f - <<'EOF' … EOF" }
                CopyBlock { id: "install-manifest", text: done.install.manifest.clone() }
            }
        }
    }
}

/// `/console/w/{ws}/clusters/{id}`.
#[component]
pub fn Cluster(cluster: String) -> Element {
    let c = ctx();
    let ws = c.ws();
    let mut view = use_signal(|| None::<Result<ClusterView, UiError>>);
    let backend = c.backend.clone();
    let (ws2, id2) = (ws.clone(), cluster.clone());
    use_future(move || {
        let backend = backend.clone();
        let (ws, id) = (ws2.clone(), id2.clone());
        async move {
            loop {
                let r = backend.cluster(ws.clone(), id.clone()).await;
                let stop = matches!(&r, Err(e) if e.is_signed_out() || e.code == "not_found");
                view.set(Some(r));
                if stop {
                    break;
                }
                tokio::time::sleep(POLL * 2).await;
            }
        }
    });
    let v = view.read().clone();
    match v {
        None => rsx! { Loading { what: "the cluster" } },
        Some(Err(e)) => rsx! { ErrorBox { error: e } },
        Some(Ok(cl)) => rsx! { ClusterPage { cl } },
    }
}

#[component]
fn ClusterPage(cl: ClusterView) -> Element {
    let c = ctx();
    let status = status_word(cl.status);
    let kinds: Vec<String> = cl
        .snapshot
        .counts
        .keys()
        .filter(|k| !k.ends_with("Metrics"))
        .cloned()
        .collect();
    rsx! {
        div { class: "row",
            h1 { id: "cluster-name", "{cl.name}" }
            Badge { text: status.to_owned() }
        }
        div { class: "grid2",
            div {
                div { class: "panel",
                    h2 { "Findings" }
                    FindingsList { cluster: Some(cl.id.clone()) }
                }
                div { class: "panel",
                    h2 { "Usage" }
                    MetricsPlots { cluster: cl.id.clone() }
                }
                div { class: "panel",
                    h2 { "Resources" }
                    ResourceBrowser { cluster: cl.id.clone(), kinds }
                }
            }
            div {
                div { class: "panel",
                    h2 { "Agent" }
                    match &cl.agent {
                        None => rsx! {
                            p { class: "muted", span { class: "spinner" } " No agent has connected yet. Install it with the instructions shown at registration (or rotate the key to get new ones)." }
                        },
                        Some(a) => rsx! {
                            dl { class: "kv",
                                dt { "Version" } dd { id: "agent-version", "{a.version}" }
                                dt { "Pod" } dd { {a.pod_name.clone().unwrap_or_else(|| "—".into())} }
                                dt { "Kubernetes" } dd { "{a.facts.kubernetes_version}" }
                                dt { "Nodes" } dd { "{a.facts.node_count}" }
                                dt { "Metrics API" } dd { if a.facts.metrics_available { "available" } else { "not available" } }
                                dt { "Writes" } dd { if a.write_enabled && cl.write_allowed { "enabled (with approval)" } else { "disabled" } }
                                dt { "Connected" } dd { {format::rfc3339(&a.connected_at)} }
                                dt { "Last heartbeat" } dd { id: "last-heartbeat", {format::rfc3339(&a.last_heartbeat_at)} }
                            }
                        },
                    }
                    dl { class: "kv",
                        dt { "Snapshot" }
                        dd { {cl.snapshot.complete_at.as_deref().map(format::rfc3339).unwrap_or_else(|| "not yet".into())} }
                        dt { "Stored" } dd { {format!("{} of {}", format::bytes(cl.snapshot.bytes as f64), format::bytes(cl.snapshot.budget_bytes as f64))} }
                        dt { "Pod logs" } dd { if cl.logs_allowed { "allowed" } else { "not allowed" } }
                        dt { "Auto-triage" } dd { if cl.auto_triage { "on" } else { "off" } }
                    }
                    if let Some(err) = &cl.snapshot.error { div { class: "error", "{err}" } }
                    if c.can(Action::SessionsCreate) {
                        p { a { class: "button", href: "{ws_link(&cl.workspace_id, \"sessions\")}?cluster={cl.id}", "Ask about this cluster" } }
                    }
                }
                if cl.permissions.contains(&Action::ClustersManage) {
                    ClusterAdmin { cl: cl.clone() }
                }
                div { class: "panel",
                    h2 { "Capabilities" }
                    if cl.tools.is_empty() {
                        p { class: "muted", "The agent reports its tools when it connects." }
                    }
                    ul { class: "plain", id: "capabilities",
                        for t in cl.tools.clone() {
                            li { key: "{t.name}",
                                code { "{t.name}" } " "
                                Badge { text: if t.class == ToolClass::Write { "write".to_owned() } else { "read".to_owned() } }
                                div { class: "muted small", "{t.description}" }
                            }
                        }
                    }
                }
            }
        }
    }
}

/// Bars of pod and node CPU and memory from the snapshot's `PodMetrics`/`NodeMetrics`.
#[component]
fn MetricsPlots(cluster: String) -> Element {
    let c = ctx();
    let backend = c.backend.clone();
    let ws = c.ws();
    let data = use_resource(move || {
        let backend = backend.clone();
        let (ws, cluster) = (ws.clone(), cluster.clone());
        async move {
            let pods = backend
                .resources(
                    ws.clone(),
                    cluster.clone(),
                    ResourceFilter {
                        kind: Some("PodMetrics".into()),
                        namespace: None,
                        limit: 500,
                    },
                )
                .await?;
            let nodes = backend
                .resources(
                    ws,
                    cluster,
                    ResourceFilter {
                        kind: Some("NodeMetrics".into()),
                        namespace: None,
                        limit: 500,
                    },
                )
                .await?;
            Ok::<_, UiError>((usage(&pods, true), usage(&nodes, false)))
        }
    });
    let v = data.read().clone();
    match v {
        None => rsx! { Loading { what: "metrics" } },
        Some(Err(e)) => rsx! { ErrorBox { error: e } },
        Some(Ok((pods, nodes))) if pods.is_empty() && nodes.is_empty() => rsx! {
            p { class: "muted", "No metrics in the snapshot (the cluster has no metrics-server, or the agent has not polled yet)." }
        },
        Some(Ok((pods, nodes))) => rsx! {
            if !pods.is_empty() {
                div { class: "even bars",
                    div { h3 { "Pods: CPU (millicores)" } Bars { rows: top(&pods, |u| u.1), unit: "m" } }
                    div { h3 { "Pods: memory" } Bars { rows: top(&pods, |u| u.2), unit: "B" } }
                }
            }
            if !nodes.is_empty() {
                div { class: "even bars",
                    div { h3 { "Nodes: CPU (millicores)" } Bars { rows: top(&nodes, |u| u.1), unit: "m" } }
                    div { h3 { "Nodes: memory" } Bars { rows: top(&nodes, |u| u.2), unit: "B" } }
                }
            }
        },
    }
}

/// (name, cpu millicores, memory bytes) of each metrics object.
fn usage(items: &[Resource], pods: bool) -> Vec<(String, f64, f64)> {
    items
        .iter()
        .map(|r| {
            let name = match (&r.key.namespace, pods) {
                (Some(ns), true) => format!("{ns}/{}", r.key.name),
                _ => r.key.name.clone(),
            };
            let mut cpu = 0.0;
            let mut mem = 0.0;
            let mut add = |u: &serde_json::Value| {
                cpu += u
                    .get("cpu")
                    .and_then(|v| v.as_str())
                    .and_then(format::cpu_millis)
                    .unwrap_or(0.0);
                mem += u
                    .get("memory")
                    .and_then(|v| v.as_str())
                    .and_then(format::memory_bytes)
                    .unwrap_or(0.0);
            };
            if let Some(containers) = r.object.get("containers").and_then(|c| c.as_array()) {
                for ct in containers {
                    if let Some(u) = ct.get("usage") {
                        add(u);
                    }
                }
            } else if let Some(u) = r.object.get("usage") {
                add(u);
            }
            (name, cpu, mem)
        })
        .collect()
}

fn top(rows: &[(String, f64, f64)], f: fn(&(String, f64, f64)) -> f64) -> Vec<(String, f64)> {
    let mut v: Vec<(String, f64)> = rows.iter().map(|r| (r.0.clone(), f(r))).collect();
    v.sort_by(|a, b| b.1.total_cmp(&a.1));
    v.truncate(8);
    v
}

#[component]
fn Bars(rows: Vec<(String, f64)>, unit: &'static str) -> Element {
    let max = rows.iter().map(|r| r.1).fold(0.0_f64, f64::max).max(1e-9);
    let height = rows.len() * 22 + 4;
    rsx! {
        svg { view_box: "0 0 400 {height}", role: "img", "aria-label": "usage",
            for (i, (name, value)) in rows.iter().enumerate() {
                g { key: "{name}",
                    rect { class: "bar", x: "170", y: "{i * 22 + 4}", height: "16", width: "{(value / max * 150.0).max(1.0):.1}" }
                    text { x: "0", y: "{i * 22 + 16}", {short(name, 26)} }
                    text { x: "{(value / max * 150.0).max(1.0) + 174.0:.1}", y: "{i * 22 + 16}",
                        {if unit == "B" { format::bytes(*value) } else { format!("{value:.0}m") }}
                    }
                }
            }
        }
    }
}

fn short(s: &str, n: usize) -> String {
    if s.chars().count() <= n {
        s.to_owned()
    } else {
        let tail: String = s
            .chars()
            .rev()
            .take(n - 1)
            .collect::<Vec<_>>()
            .into_iter()
            .rev()
            .collect();
        format!("…{tail}")
    }
}

/// A one-line status of an object for the list (`Running`, `CrashLoopBackOff`, `Ready`, …).
fn summary(r: &Resource) -> String {
    let o = &r.object;
    if r.key.kind == "Event" {
        let reason = o.get("reason").and_then(|v| v.as_str()).unwrap_or("");
        let msg = o
            .get("message")
            .or_else(|| o.get("note"))
            .and_then(|v| v.as_str())
            .unwrap_or("");
        return format!("{reason}: {msg}");
    }
    if let Some(statuses) = o
        .pointer("/status/containerStatuses")
        .and_then(|v| v.as_array())
    {
        for s in statuses {
            if let Some(reason) = s.pointer("/state/waiting/reason").and_then(|v| v.as_str()) {
                return reason.to_owned();
            }
        }
    }
    if let Some(phase) = o.pointer("/status/phase").and_then(|v| v.as_str()) {
        return phase.to_owned();
    }
    if let Some(conds) = o.pointer("/status/conditions").and_then(|v| v.as_array()) {
        let names: Vec<String> = conds
            .iter()
            .filter(|c| c.get("status").and_then(|s| s.as_str()) == Some("True"))
            .filter_map(|c| c.get("type").and_then(|t| t.as_str()).map(str::to_owned))
            .collect();
        return names.join(", ");
    }
    String::new()
}

#[component]
fn ResourceBrowser(cluster: String, kinds: Vec<String>) -> Element {
    let c = ctx();
    let first = if kinds.iter().any(|k| k == "Pod") {
        "Pod".to_owned()
    } else {
        kinds.first().cloned().unwrap_or_default()
    };
    let mut kind = use_signal(|| first);
    let mut namespace = use_signal(String::new);
    let mut selected = use_signal(|| None::<ResourceKey>);
    let backend = c.backend.clone();
    let ws = c.ws();
    let cl = cluster.clone();
    let list = use_resource(move || {
        let backend = backend.clone();
        let (ws, cl) = (ws.clone(), cl.clone());
        let kind = kind();
        let ns = namespace();
        async move {
            if kind.is_empty() {
                return Ok(Vec::new());
            }
            backend
                .resources(
                    ws,
                    cl,
                    ResourceFilter {
                        kind: Some(kind),
                        namespace: Some(ns).filter(|n| !n.is_empty()),
                        limit: 200,
                    },
                )
                .await
        }
    });
    if kinds.is_empty() {
        return rsx! { p { class: "muted", "The snapshot is empty until the agent has sent it." } };
    }
    rsx! {
        div { class: "row",
            label { "Kind"
                select { id: "resource-kind", value: "{kind}", onchange: move |e| { selected.set(None); kind.set(e.value()) },
                    for k in kinds.clone() { option { value: "{k}", selected: k == kind(), "{k}" } }
                }
            }
            label { "Namespace"
                input { id: "resource-namespace", value: "{namespace}", placeholder: "all", oninput: move |e| namespace.set(e.value()) }
            }
        }
        match &*list.read() {
            None => rsx! { Loading { what: "objects" } },
            Some(Err(e)) => rsx! { ErrorBox { error: e.clone() } },
            Some(Ok(items)) if items.is_empty() => rsx! { p { class: "muted", "No objects of this kind here." } },
            Some(Ok(items)) => rsx! {
                div { class: "table-wrap",
                    table { id: "resources-table",
                        thead { tr { th { "Namespace" } th { "Name" } th { "Status" } } }
                        tbody {
                            for r in items.clone() {
                                tr { key: "{r.key.namespace:?}/{r.key.name}",
                                    td { {r.key.namespace.clone().unwrap_or_default()} }
                                    td {
                                        button { class: "secondary", r#type: "button",
                                            onclick: { let k = r.key.clone(); move |_| selected.set(Some(k.clone())) },
                                            "{r.key.name}"
                                        }
                                    }
                                    td { class: "small", {summary(&r)} }
                                }
                            }
                        }
                    }
                }
            },
        }
        if let Some(key) = selected() {
            ObjectYaml { cluster: cluster.clone(), object: key }
        }
    }
}

#[component]
fn ObjectYaml(cluster: String, object: ResourceKey) -> Element {
    let key = object;
    let c = ctx();
    let backend = c.backend.clone();
    let ws = c.ws();
    let k = key.clone();
    let obj = use_resource(move || {
        let backend = backend.clone();
        let (ws, cluster, k) = (ws.clone(), cluster.clone(), k.clone());
        async move { backend.resource(ws, cluster, k).await }
    });
    let title = match &key.namespace {
        Some(ns) => format!("{} {ns}/{}", key.kind, key.name),
        None => format!("{} {}", key.kind, key.name),
    };
    rsx! {
        h3 { "{title}" }
        match &*obj.read() {
            None => rsx! { Loading { what: "the object" } },
            Some(Err(e)) => rsx! { ErrorBox { error: e.clone() } },
            Some(Ok(r)) => rsx! { pre { id: "object-yaml", {format::yaml(&r.object)} } },
        }
    }
}

fn names(list: &[String]) -> String {
    list.join(", ")
}

/// The agent's RBAC from the form's namespace list: Roles in those namespaces, or a
/// ClusterRole when the list is empty.
fn rbac_scope_of(s: &str) -> RbacScope {
    match parse_names(s) {
        namespaces if namespaces.is_empty() => RbacScope::Cluster,
        namespaces => RbacScope::Namespaces { namespaces },
    }
}

/// The form's namespace list for a scope (empty for the whole cluster).
fn rbac_names(scope: &RbacScope) -> String {
    match scope {
        RbacScope::Cluster => String::new(),
        RbacScope::Namespaces { namespaces } => names(namespaces),
    }
}

fn parse_names(s: &str) -> Vec<String> {
    s.split([',', ' '])
        .map(str::trim)
        .filter(|n| !n.is_empty())
        .map(str::to_owned)
        .collect()
}

/// A cluster's settings, agent key rotation and deletion (owners and admins).
#[component]
fn ClusterAdmin(cl: ClusterView) -> Element {
    let c = ctx();
    let mut busy = use_signal(|| false);
    let mut error = use_signal(|| None::<UiError>);
    let mut saved = use_signal(|| false);
    let mut rotated = use_signal(|| None::<(ClusterWithKey, u64)>);
    let mut confirm_name = use_signal(String::new);
    let mut deleting = use_signal(|| false);
    let mut deleted = use_signal(|| false);
    let (b1, b2, b3) = (c.backend.clone(), c.backend.clone(), c.backend.clone());
    let ws = c.ws();
    let (ws1, ws2, ws3) = (ws.clone(), ws.clone(), ws.clone());
    let (id1, id2, id3) = (cl.id.clone(), cl.id.clone(), cl.id.clone());
    let name = cl.name.clone();
    if deleted() {
        let to = ws_link(&ws, "clusters");
        return rsx! {
            div { class: "panel notice", id: "cluster-deleted", "data-navigate": "{to}", role: "status",
                "The cluster was deleted; its agent was disconnected and its keys no longer work. "
                a { href: "{to}", "Back to the clusters" }
            }
        };
    }
    rsx! {
        div { class: "panel", id: "cluster-settings",
            h2 { "Settings" }
            form { class: "stack", id: "cluster-settings-form",
                onsubmit: move |evt: FormEvent| {
                    if busy() { return; }
                    busy.set(true);
                    saved.set(false);
                    let body = UpdateCluster {
                        name: Some(field(&evt, "name").trim().to_owned()),
                        namespaces: Some(NamespaceFilter {
                            include: parse_names(&field(&evt, "ns_include")),
                            exclude: parse_names(&field(&evt, "ns_exclude")),
                        }),
                        rbac_scope: Some(rbac_scope_of(&field(&evt, "rbac_namespaces"))),
                        write_allowed: Some(checked(&evt, "write_allowed")),
                        logs_allowed: Some(checked(&evt, "logs_allowed")),
                        agent_image: Some(field(&evt, "agent_image").trim().to_owned()).filter(|s| !s.is_empty()),
                        auto_triage: Some(checked(&evt, "auto_triage")),
                    };
                    let (backend, ws, id) = (b1.clone(), ws1.clone(), id1.clone());
                    spawn(async move {
                        match backend.update_cluster(ws, id, body).await {
                            Ok(_) => { error.set(None); saved.set(true); }
                            Err(e) => error.set(Some(e)),
                        }
                        busy.set(false);
                    });
                },
                label { "Name" input { name: "name", required: true, initial_value: "{cl.name}", pattern: "[a-z][a-z0-9\\-]{{0,62}}", title: "a-z, 0-9 and -, starting with a letter" } }
                label { class: "check", input { r#type: "checkbox", name: "logs_allowed", initial_checked: cl.logs_allowed } "Pod logs" }
                label { class: "check", input { r#type: "checkbox", name: "write_allowed", initial_checked: cl.write_allowed } "Write actions (with approval)" }
                label { class: "check", input { r#type: "checkbox", name: "auto_triage", initial_checked: cl.auto_triage } "Auto-triage critical findings" }
                label { "Only these namespaces (comma-separated; empty: all)" input { name: "ns_include", initial_value: "{names(&cl.namespaces.include)}" } }
                label { "Never these namespaces" input { name: "ns_exclude", initial_value: "{names(&cl.namespaces.exclude)}" } }
                label { "Agent image (in new install instructions)" input { name: "agent_image", initial_value: "{cl.agent_image}" } }
                label { "Agent access: only these namespaces (empty: the whole cluster; applies once the agent is installed from new instructions, see the agent key below)"
                    input { name: "rbac_namespaces", id: "rbac-namespaces", initial_value: "{rbac_names(&cl.rbac_scope)}" } }
                div { button { r#type: "submit", disabled: busy(), "Save settings" } }
                if saved() { p { class: "muted", id: "cluster-saved", role: "status", "Saved. A connected agent gets the new settings at once." } }
            }
            if let Some(e) = error() { ErrorBox { error: e } }
        }
        div { class: "panel", id: "agent-key",
            h2 { "Agent key" }
            p { class: "muted", "A new key comes with new install instructions. Until the agent runs with it, the old key keeps working for the overlap you choose; after that the agent holding the old key loses its link." }
            form { class: "inline", id: "rotate-key-form",
                onsubmit: move |evt: FormEvent| {
                    if busy() { return; }
                    busy.set(true);
                    let overlap: u64 = field(&evt, "overlap").parse().unwrap_or(3600);
                    let (backend, ws, id) = (b2.clone(), ws2.clone(), id2.clone());
                    spawn(async move {
                        match backend.rotate_agent_key(ws, id, Some(overlap)).await {
                            Ok(done) => { error.set(None); rotated.set(Some((done, overlap))); }
                            Err(e) => error.set(Some(e)),
                        }
                        busy.set(false);
                    });
                },
                label { "Old key stops working"
                    select { name: "overlap",
                        option { value: "0", "at once" }
                        option { value: "3600", selected: true, "after 1 hour" }
                        option { value: "86400", "after 24 hours" }
                    }
                }
                button { r#type: "submit", disabled: busy(), "Rotate agent key" }
            }
            if let Some((done, overlap)) = rotated() {
                div { class: "notice", id: "key-rotated", role: "status",
                    if overlap == 0 {
                        "The old key no longer works: the running agent is disconnected until it runs with the new key below."
                    } else {
                        "The old key stops working at "
                        {done.previous_keys_expire_at.as_deref().map(format::rfc3339).unwrap_or_default()}
                        "; install the new key below before then."
                    }
                }
                InstallInstructions { done }
            }
        }
        div { class: "panel danger-zone", id: "delete-cluster",
            h2 { "Delete the cluster" }
            if deleting() {
                form { class: "stack", id: "delete-cluster-form",
                    onsubmit: move |_| {
                        if busy() || confirm_name() != name { return; }
                        busy.set(true);
                        let (backend, ws, id) = (b3.clone(), ws3.clone(), id3.clone());
                        spawn(async move {
                            match backend.delete_cluster(ws, id).await {
                                Ok(()) => { error.set(None); deleted.set(true); }
                                Err(e) => error.set(Some(e)),
                            }
                            busy.set(false);
                        });
                    },
                    p { "This deletes the cluster, its agent keys and the appliance's picture of its objects; its agent is disconnected at once and cannot connect again. Type " strong { "{cl.name}" } " to confirm." }
                    label { "Cluster name" input { name: "confirm", id: "delete-confirm-name", autocomplete: "off", value: "{confirm_name}", oninput: move |e| confirm_name.set(e.value()) } }
                    div { class: "row",
                        button { class: "danger", r#type: "submit", id: "delete-cluster-confirm", disabled: busy() || confirm_name() != cl.name, "Delete {cl.name}" }
                        button { class: "secondary", r#type: "button", onclick: move |_| { deleting.set(false); confirm_name.set(String::new()); }, "Cancel" }
                    }
                }
            } else {
                p { class: "muted", "Removes the cluster from this workspace." }
                button { class: "danger", r#type: "button", id: "delete-cluster-start", onclick: move |_| deleting.set(true), "Delete cluster…" }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::{RbacScope, rbac_names, rbac_scope_of};

    #[test]
    fn an_empty_namespace_list_is_the_whole_cluster_and_lists_round_trip() {
        assert_eq!(rbac_scope_of(" , "), RbacScope::Cluster);
        let scope = rbac_scope_of("shop, payments,");
        assert_eq!(
            scope,
            RbacScope::Namespaces {
                namespaces: vec!["shop".into(), "payments".into()]
            }
        );
        assert_eq!(rbac_names(&scope), "shop, payments");
        assert_eq!(rbac_names(&RbacScope::Cluster), "");
    }
}
