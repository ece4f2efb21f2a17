//! `describe`: a short `kubectl describe` of one object — its identity, the owner chain up to
//! the top owner, a section for the kinds troubleshooting looks at most (pods and their
//! containers, workloads, jobs, nodes with their pods, services with their endpoints, PVCs,
//! Secrets by key name only; status conditions for anything else) and its events, newest first.
//! Related reads that fail (events, owners) are reported inside the text, not as the tool's
//! error: the object itself was readable.

use std::fmt::Write as _;

use acorn_proto::agent::ToolErrorCode;
use acorn_proto::tools::DescribeArgs;
use kube::api::ListParams;
use serde_json::Value;

use super::kinds::{self, KindInfo};
use super::read::{
    COLLECT_CAP, PodInfo, collect, endpoints, events_table, get_object, job_status, list_in_view,
    map_pairs, newest_first, node_roles, node_status, service_ports, shorten_list, to_value,
};
use super::render::{self, Bounds, Table, age, i, s, s_or_none};
use super::{Content, Ctx, Failure};

/// Events shown at most.
const DESCRIBE_EVENTS: usize = 50;
/// Owners followed at most (Pod → ReplicaSet → Deployment is two).
const MAX_OWNER_DEPTH: usize = 6;

pub async fn describe(ctx: &Ctx<'_>, args: DescribeArgs) -> Result<Content, Failure> {
    let (kind, obj) = get_object(ctx, &args.kind, args.namespace.as_deref(), &args.name).await?;
    let mut out = String::new();
    let namespace = s(&obj, "/metadata/namespace");
    let _ = writeln!(out, "Name:         {}", args.name);
    if let Some(ns) = namespace {
        let _ = writeln!(out, "Namespace:    {ns}");
    }
    let _ = writeln!(
        out,
        "Kind:         {} ({})",
        kind.ar.kind, kind.ar.api_version
    );
    let _ = writeln!(
        out,
        "Labels:       {}",
        map_pairs(obj.pointer("/metadata/labels")).unwrap_or_else(|| "<none>".into())
    );
    let annotations: Vec<String> = obj
        .pointer("/metadata/annotations")
        .and_then(Value::as_object)
        .map(|a| {
            a.iter()
                .filter(|(k, _)| k.as_str() != render::LAST_APPLIED)
                .map(|(k, v)| format!("{k}={}", clip(v.as_str().unwrap_or_default(), 120)))
                .collect()
        })
        .unwrap_or_default();
    if !annotations.is_empty() {
        let _ = writeln!(out, "Annotations:  {}", annotations.join(", "));
    }
    let created = s(&obj, "/metadata/creationTimestamp");
    let _ = writeln!(
        out,
        "Created:      {} ({} ago)",
        created.unwrap_or("<unknown>"),
        age(created)
    );
    if let Some(ts) = s(&obj, "/metadata/deletionTimestamp") {
        let _ = writeln!(out, "Deleting:     since {ts} (finalizers or grace period)");
    }
    let chain = owner_chain(ctx, &obj).await;
    if !chain.is_empty() {
        let _ = writeln!(out, "Controlled by: {}", chain.join(" <- "));
    }
    match kind.ar.kind.as_str() {
        _ if kind.is_secret() => describe_secret(&obj, &mut out),
        "Pod" => describe_pod(&obj, &mut out),
        "Deployment" | "StatefulSet" | "DaemonSet" | "ReplicaSet" => {
            describe_workload(&obj, &mut out)
        }
        "Job" => describe_job(&obj, &mut out),
        "Node" => describe_node(ctx, &obj, &mut out).await,
        "Service" => describe_service(ctx, &obj, &mut out).await,
        "PersistentVolumeClaim" => describe_pvc(&obj, &mut out),
        _ => describe_generic(&obj, &mut out),
    }
    let events = object_events(ctx, &kind, &obj).await;
    out.push_str("Events:\n");
    match events {
        Ok(events) if events.is_empty() => out.push_str("  <none>\n"),
        Ok(events) => {
            let shown: Vec<Value> = events.into_iter().take(DESCRIBE_EVENTS).collect();
            for line in events_table(&shown, false).lines() {
                let _ = writeln!(out, "  {line}");
            }
        }
        Err(e) => {
            let _ = writeln!(out, "  (events could not be read: {})", e.message);
        }
    }
    Ok(Content::head(
        out,
        Bounds::new(args.max_lines, args.max_bytes),
    ))
}

fn clip(text: &str, max: usize) -> String {
    if text.chars().count() <= max {
        text.to_string()
    } else {
        let cut: String = text.chars().take(max).collect();
        format!("{cut}…")
    }
}

/// `Kind/name` of each owner, following controller references up to the top owner.
async fn owner_chain(ctx: &Ctx<'_>, obj: &Value) -> Vec<String> {
    let mut chain = Vec::new();
    let namespace = s(obj, "/metadata/namespace").map(str::to_string);
    let mut current = obj.clone();
    for _ in 0..MAX_OWNER_DEPTH {
        let Some(refs) = current
            .pointer("/metadata/ownerReferences")
            .and_then(Value::as_array)
        else {
            break;
        };
        let Some(owner) = refs
            .iter()
            .find(|r| r.get("controller").and_then(Value::as_bool) == Some(true))
            .or_else(|| refs.first())
        else {
            break;
        };
        let (Some(api_version), Some(kind), Some(name)) = (
            s(owner, "/apiVersion"),
            s(owner, "/kind"),
            s(owner, "/name"),
        ) else {
            break;
        };
        let label = format!("{kind}/{name}");
        let info = match kinds::by_api_version(ctx.client, api_version, kind).await {
            Ok(info) => info,
            Err(e) => {
                chain.push(format!("{label} ({})", e.message));
                break;
            }
        };
        let ns = if info.namespaced {
            namespace.as_deref()
        } else {
            None
        };
        match info.api(ctx.client, ns).get(name).await {
            Ok(o) => {
                chain.push(label);
                current = to_value(o);
            }
            Err(e) => {
                let f = Failure::from(e);
                let why = match f.code {
                    ToolErrorCode::ToolObjectNotFound => "not found".to_string(),
                    _ => f.message,
                };
                chain.push(format!("{label} ({why})"));
                break;
            }
        }
    }
    chain
}

fn describe_secret(obj: &Value, out: &mut String) {
    let _ = writeln!(out, "Type:         {}", s(obj, "/type").unwrap_or("Opaque"));
    let keys: Vec<&String> = ["data", "stringData"]
        .iter()
        .filter_map(|f| obj.get(*f).and_then(Value::as_object))
        .flat_map(|m| m.keys())
        .collect();
    let _ = writeln!(
        out,
        "Keys:         {} (values are never shown)",
        if keys.is_empty() {
            "<none>".to_string()
        } else {
            keys.iter()
                .map(|k| k.as_str())
                .collect::<Vec<_>>()
                .join(", ")
        }
    );
}

fn describe_pod(pod: &Value, out: &mut String) {
    let info = PodInfo::of(pod);
    let _ = writeln!(out, "Node:         {}", s_or_none(pod, "/spec/nodeName"));
    let _ = writeln!(
        out,
        "Status:       {} (phase {}), {}/{} ready, restarts {}",
        info.status,
        s_or_none(pod, "/status/phase"),
        info.ready,
        info.total,
        info.restarts
    );
    if let Some(msg) = s(pod, "/status/message") {
        let _ = writeln!(out, "Message:      {msg}");
    }
    let _ = writeln!(out, "IP:           {}", s_or_none(pod, "/status/podIP"));
    if let Some(q) = s(pod, "/status/qosClass") {
        let _ = writeln!(out, "QoS Class:    {q}");
    }
    if let Some(sel) = map_pairs(pod.pointer("/spec/nodeSelector")) {
        let _ = writeln!(out, "Node-Selectors: {sel}");
    }
    if pod.pointer("/spec/affinity").is_some() {
        let kinds: Vec<&String> = pod
            .pointer("/spec/affinity")
            .and_then(Value::as_object)
            .map(|a| a.keys().collect())
            .unwrap_or_default();
        let _ = writeln!(
            out,
            "Affinity:     {}",
            kinds
                .iter()
                .map(|k| k.as_str())
                .collect::<Vec<_>>()
                .join(", ")
        );
    }
    for (field, status_field, title) in [
        ("initContainers", "initContainerStatuses", "Init Containers"),
        ("containers", "containerStatuses", "Containers"),
    ] {
        let Some(containers) = pod
            .pointer(&format!("/spec/{field}"))
            .and_then(Value::as_array)
        else {
            continue;
        };
        let _ = writeln!(out, "{title}:");
        for c in containers {
            let name = s(c, "/name").unwrap_or("?");
            let status = pod
                .pointer(&format!("/status/{status_field}"))
                .and_then(Value::as_array)
                .and_then(|all| all.iter().find(|st| s(st, "/name") == Some(name)));
            describe_container(c, status, out);
        }
    }
    if let Some(conds) = pod.pointer("/status/conditions").and_then(Value::as_array) {
        conditions_table(conds, out);
    }
    if let Some(volumes) = pod.pointer("/spec/volumes").and_then(Value::as_array) {
        let described: Vec<String> = volumes
            .iter()
            .filter_map(|v| {
                let name = s(v, "/name")?;
                let source = if let Some(c) = s(v, "/persistentVolumeClaim/claimName") {
                    format!("PersistentVolumeClaim {c}")
                } else if let Some(c) = s(v, "/configMap/name") {
                    format!("ConfigMap {c}")
                } else if let Some(c) = s(v, "/secret/secretName") {
                    format!("Secret {c}")
                } else if v.get("projected").is_some() {
                    "Projected".to_string()
                } else if v.get("emptyDir").is_some() {
                    "EmptyDir".to_string()
                } else {
                    v.as_object()
                        .and_then(|m| m.keys().find(|k| *k != "name").cloned())
                        .unwrap_or_default()
                };
                Some(format!("  {name}: {source}"))
            })
            .collect();
        if !described.is_empty() {
            out.push_str("Volumes:\n");
            for line in described {
                out.push_str(&line);
                out.push('\n');
            }
        }
    }
}

fn describe_container(c: &Value, status: Option<&Value>, out: &mut String) {
    let _ = writeln!(out, "  {}:", s(c, "/name").unwrap_or("?"));
    let _ = writeln!(out, "    Image:          {}", s_or_none(c, "/image"));
    if let Some(status) = status {
        let _ = writeln!(
            out,
            "    State:          {}",
            container_state(status.get("state"))
        );
        if status
            .get("lastState")
            .and_then(Value::as_object)
            .is_some_and(|m| !m.is_empty())
        {
            let _ = writeln!(
                out,
                "    Last State:     {}",
                container_state(status.get("lastState"))
            );
        }
        let _ = writeln!(
            out,
            "    Ready:          {}",
            status
                .get("ready")
                .and_then(Value::as_bool)
                .unwrap_or(false)
        );
        let _ = writeln!(out, "    Restart Count:  {}", i(status, "/restartCount"));
    }
    for (field, title) in [("requests", "Requests"), ("limits", "Limits")] {
        if let Some(pairs) = map_pairs(c.pointer(&format!("/resources/{field}"))) {
            let _ = writeln!(out, "    {title}:{}{pairs}", " ".repeat(15 - title.len()));
        }
    }
    for (field, title) in [
        ("livenessProbe", "Liveness"),
        ("readinessProbe", "Readiness"),
    ] {
        if let Some(p) = c.get(field) {
            let _ = writeln!(
                out,
                "    {title}:{}{}",
                " ".repeat(15 - title.len()),
                probe(p)
            );
        }
    }
    if let Some(env) = c.get("env").and_then(Value::as_array) {
        out.push_str("    Environment:\n");
        for e in env {
            let name = s(e, "/name").unwrap_or("?");
            // Values from Secrets are references here, never values; say where they come from.
            let value = if let Some(v) = e.get("value").and_then(Value::as_str) {
                v.to_string()
            } else if let Some(r) = e.pointer("/valueFrom/secretKeyRef") {
                format!(
                    "<set to the key '{}' in secret '{}'>",
                    s(r, "/key").unwrap_or("?"),
                    s(r, "/name").unwrap_or("?")
                )
            } else if let Some(r) = e.pointer("/valueFrom/configMapKeyRef") {
                format!(
                    "<set to the key '{}' of config map '{}'>",
                    s(r, "/key").unwrap_or("?"),
                    s(r, "/name").unwrap_or("?")
                )
            } else if let Some(f) = s(e, "/valueFrom/fieldRef/fieldPath") {
                format!("({f})")
            } else {
                String::new()
            };
            // No colon after a name whose value is a reference: `DB_PASSWORD: <set …>` would
            // read (to the redactor too) as a credential with a value.
            if value.starts_with('<') {
                let _ = writeln!(out, "      {name}  {value}");
            } else {
                let _ = writeln!(out, "      {name}: {value}");
            }
        }
    }
    if let Some(from) = c.get("envFrom").and_then(Value::as_array) {
        for f in from {
            if let Some(n) = s(f, "/configMapRef/name") {
                let _ = writeln!(out, "    Environment from ConfigMap {n}");
            }
            if let Some(n) = s(f, "/secretRef/name") {
                let _ = writeln!(out, "    Environment from Secret {n} (values not shown)");
            }
        }
    }
}

fn probe(p: &Value) -> String {
    let what = if let Some(h) = p.get("httpGet") {
        format!(
            "http-get {}:{}{}",
            s(h, "/scheme").unwrap_or("HTTP").to_lowercase(),
            h.get("port")
                .map(|v| v.to_string().trim_matches('"').to_string())
                .unwrap_or_default(),
            s(h, "/path").unwrap_or("/")
        )
    } else if let Some(t) = p.get("tcpSocket") {
        format!(
            "tcp-socket :{}",
            t.get("port")
                .map(|v| v.to_string().trim_matches('"').to_string())
                .unwrap_or_default()
        )
    } else if p.get("exec").is_some() {
        "exec".to_string()
    } else if p.get("grpc").is_some() {
        "grpc".to_string()
    } else {
        "?".to_string()
    };
    format!(
        "{what} delay={}s timeout={}s period={}s #failure={}",
        i(p, "/initialDelaySeconds"),
        p.get("timeoutSeconds").and_then(Value::as_i64).unwrap_or(1),
        p.get("periodSeconds").and_then(Value::as_i64).unwrap_or(10),
        p.get("failureThreshold")
            .and_then(Value::as_i64)
            .unwrap_or(3)
    )
}

fn container_state(state: Option<&Value>) -> String {
    let Some(state) = state.and_then(Value::as_object) else {
        return "<unknown>".into();
    };
    if let Some(w) = state.get("waiting") {
        let mut out = format!("Waiting ({})", s(w, "/reason").unwrap_or("?"));
        if let Some(m) = s(w, "/message") {
            let _ = write!(out, ": {m}");
        }
        return out;
    }
    if let Some(r) = state.get("running") {
        return format!("Running since {}", s(r, "/startedAt").unwrap_or("?"));
    }
    if let Some(t) = state.get("terminated") {
        let mut out = format!(
            "Terminated ({}), exit code {}",
            s(t, "/reason").unwrap_or("?"),
            i(t, "/exitCode")
        );
        if let Some(f) = s(t, "/finishedAt") {
            let _ = write!(out, ", finished {f} ({} ago)", age(Some(f)));
        }
        if let Some(m) = s(t, "/message") {
            let _ = write!(out, ": {m}");
        }
        return out;
    }
    "<unknown>".into()
}

fn conditions_table(conds: &[Value], out: &mut String) {
    let mut t = Table::new(&["TYPE", "STATUS", "REASON", "MESSAGE"]);
    for c in conds {
        t.row(vec![
            s_or_none(c, "/type"),
            s_or_none(c, "/status"),
            s(c, "/reason").unwrap_or("").to_string(),
            s(c, "/message").unwrap_or("").to_string(),
        ]);
    }
    out.push_str("Conditions:\n");
    for line in t.render().lines() {
        let _ = writeln!(out, "  {line}");
    }
}

fn describe_workload(obj: &Value, out: &mut String) {
    let desired = obj
        .pointer("/spec/replicas")
        .and_then(Value::as_i64)
        .map_or("-".to_string(), |r| r.to_string());
    let st = |f: &str| i(obj, &format!("/status/{f}"));
    if obj.pointer("/status/desiredNumberScheduled").is_some() {
        let _ = writeln!(
            out,
            "Pods:         {} desired, {} current, {} ready, {} up-to-date, {} available",
            st("desiredNumberScheduled"),
            st("currentNumberScheduled"),
            st("numberReady"),
            st("updatedNumberScheduled"),
            st("numberAvailable")
        );
    } else {
        let _ = writeln!(
            out,
            "Replicas:     {desired} desired, {} current, {} updated, {} ready, {} available, {} unavailable",
            st("replicas"),
            st("updatedReplicas"),
            st("readyReplicas"),
            st("availableReplicas"),
            st("unavailableReplicas")
        );
    }
    if let Some(sel) = map_pairs(obj.pointer("/spec/selector/matchLabels")) {
        let _ = writeln!(out, "Selector:     {sel}");
    }
    if let Some(strategy) =
        s(obj, "/spec/strategy/type").or_else(|| s(obj, "/spec/updateStrategy/type"))
    {
        let _ = writeln!(out, "Strategy:     {strategy}");
    }
    if let Some(containers) = obj
        .pointer("/spec/template/spec/containers")
        .and_then(Value::as_array)
    {
        out.push_str("Pod Template:\n");
        for c in containers {
            describe_container(c, None, out);
        }
        if let Some(sel) = map_pairs(obj.pointer("/spec/template/spec/nodeSelector")) {
            let _ = writeln!(out, "  Node-Selectors: {sel}");
        }
    }
    if let Some(conds) = obj.pointer("/status/conditions").and_then(Value::as_array) {
        conditions_table(conds, out);
    }
}

fn describe_job(obj: &Value, out: &mut String) {
    let _ = writeln!(
        out,
        "Completions:  {}, parallelism {}, backoff limit {}",
        obj.pointer("/spec/completions")
            .and_then(Value::as_i64)
            .unwrap_or(1),
        obj.pointer("/spec/parallelism")
            .and_then(Value::as_i64)
            .unwrap_or(1),
        obj.pointer("/spec/backoffLimit")
            .and_then(Value::as_i64)
            .unwrap_or(6)
    );
    let _ = writeln!(
        out,
        "Pods Statuses: {} active, {} succeeded, {} failed",
        i(obj, "/status/active"),
        i(obj, "/status/succeeded"),
        i(obj, "/status/failed")
    );
    let _ = writeln!(out, "Status:       {}", job_status(obj));
    if let Some(containers) = obj
        .pointer("/spec/template/spec/containers")
        .and_then(Value::as_array)
    {
        out.push_str("Pod Template:\n");
        for c in containers {
            describe_container(c, None, out);
        }
    }
    if let Some(conds) = obj.pointer("/status/conditions").and_then(Value::as_array) {
        conditions_table(conds, out);
    }
}

async fn describe_node(ctx: &Ctx<'_>, node: &Value, out: &mut String) {
    let _ = writeln!(out, "Status:       {}", node_status(node));
    let _ = writeln!(out, "Roles:        {}", node_roles(node));
    let _ = writeln!(
        out,
        "Kubelet:      {}",
        s_or_none(node, "/status/nodeInfo/kubeletVersion")
    );
    let taints: Vec<String> = node
        .pointer("/spec/taints")
        .and_then(Value::as_array)
        .map(|ts| {
            ts.iter()
                .map(|t| match s(t, "/value") {
                    Some(v) => format!(
                        "{}={v}:{}",
                        s(t, "/key").unwrap_or("?"),
                        s(t, "/effect").unwrap_or("?")
                    ),
                    None => format!(
                        "{}:{}",
                        s(t, "/key").unwrap_or("?"),
                        s(t, "/effect").unwrap_or("?")
                    ),
                })
                .collect()
        })
        .unwrap_or_default();
    let _ = writeln!(
        out,
        "Taints:       {}",
        if taints.is_empty() {
            "<none>".into()
        } else {
            taints.join(", ")
        }
    );
    let _ = writeln!(
        out,
        "Unschedulable: {}",
        node.pointer("/spec/unschedulable")
            .and_then(Value::as_bool)
            .unwrap_or(false)
    );
    for (field, title) in [("capacity", "Capacity"), ("allocatable", "Allocatable")] {
        if let Some(pairs) = map_pairs(node.pointer(&format!("/status/{field}"))) {
            let _ = writeln!(out, "{title}:{}{pairs}", " ".repeat(13 - title.len()));
        }
    }
    if let Some(conds) = node.pointer("/status/conditions").and_then(Value::as_array) {
        conditions_table(conds, out);
    }
    let Some(name) = s(node, "/metadata/name") else {
        return;
    };
    let Some(pods_kind) = kinds::builtin("Pod") else {
        return;
    };
    let params = ListParams {
        field_selector: Some(format!("spec.nodeName={name}")),
        ..ListParams::default()
    };
    match list_in_view(ctx, &pods_kind, None, &params, 200).await {
        Ok((pods, more)) => {
            let _ = writeln!(
                out,
                "Pods on the node ({}{}):",
                pods.len(),
                if more { "+" } else { "" }
            );
            let mut t = Table::new(&["NAMESPACE", "NAME", "STATUS", "AGE"]);
            for p in &pods {
                t.row(vec![
                    s_or_none(p, "/metadata/namespace"),
                    s_or_none(p, "/metadata/name"),
                    PodInfo::of(p).status,
                    age(s(p, "/metadata/creationTimestamp")),
                ]);
            }
            if t.len() > 0 {
                for line in t.render().lines() {
                    let _ = writeln!(out, "  {line}");
                }
            }
        }
        Err(e) => {
            let _ = writeln!(
                out,
                "Pods on the node: (could not be listed: {})",
                e.message
            );
        }
    }
}

async fn describe_service(ctx: &Ctx<'_>, svc: &Value, out: &mut String) {
    let _ = writeln!(
        out,
        "Type:         {}",
        s(svc, "/spec/type").unwrap_or("ClusterIP")
    );
    let _ = writeln!(out, "IP:           {}", s_or_none(svc, "/spec/clusterIP"));
    let _ = writeln!(out, "Ports:        {}", service_ports(svc));
    let selector = map_pairs(svc.pointer("/spec/selector"));
    let _ = writeln!(
        out,
        "Selector:     {}",
        selector.as_deref().unwrap_or("<none>")
    );
    let (Some(ns), Some(name), Some(ep_kind)) = (
        s(svc, "/metadata/namespace"),
        s(svc, "/metadata/name"),
        kinds::builtin("Endpoints"),
    ) else {
        return;
    };
    match ep_kind.api(ctx.client, Some(ns)).get(name).await {
        Ok(ep) => {
            let (ready, not_ready) = endpoints(&to_value(ep));
            let _ = writeln!(
                out,
                "Endpoints:    {}",
                if ready.is_empty() {
                    "<none>".to_string()
                } else {
                    shorten_list(&ready, 10)
                }
            );
            if !not_ready.is_empty() {
                let _ = writeln!(out, "Not ready:    {}", shorten_list(&not_ready, 10));
            }
        }
        Err(e) => {
            let f = Failure::from(e);
            let _ = writeln!(out, "Endpoints:    <none> ({})", f.message);
        }
    }
    // An empty endpoint list usually means the selector matches no pod: say whether it does.
    if let (Some(selector), Some(pods_kind)) = (selector, kinds::builtin("Pod")) {
        let params = ListParams {
            label_selector: Some(selector),
            ..ListParams::default()
        };
        if let Ok((pods, _)) = collect(&pods_kind.api(ctx.client, Some(ns)), &params, 100).await {
            let _ = writeln!(out, "Pods matching the selector: {}", pods.len());
        }
    }
}

fn describe_pvc(pvc: &Value, out: &mut String) {
    let _ = writeln!(out, "Status:       {}", s_or_none(pvc, "/status/phase"));
    let _ = writeln!(
        out,
        "StorageClass: {}",
        s_or_none(pvc, "/spec/storageClassName")
    );
    let _ = writeln!(out, "Volume:       {}", s_or_none(pvc, "/spec/volumeName"));
    let _ = writeln!(
        out,
        "Requested:    {}",
        s_or_none(pvc, "/spec/resources/requests/storage")
    );
    if let Some(modes) = pvc.pointer("/spec/accessModes").and_then(Value::as_array) {
        let modes: Vec<&str> = modes.iter().filter_map(Value::as_str).collect();
        let _ = writeln!(out, "Access Modes: {}", modes.join(","));
    }
}

fn describe_generic(obj: &Value, out: &mut String) {
    if let Some(phase) = s(obj, "/status/phase") {
        let _ = writeln!(out, "Phase:        {phase}");
    }
    if let Some(conds) = obj.pointer("/status/conditions").and_then(Value::as_array) {
        conditions_table(conds, out);
    }
}

/// Events about one object, newest first.
async fn object_events(ctx: &Ctx<'_>, kind: &KindInfo, obj: &Value) -> Result<Vec<Value>, Failure> {
    let Some(events_kind) = kinds::builtin("Event") else {
        return Ok(Vec::new());
    };
    let name = s(obj, "/metadata/name").unwrap_or_default();
    let params = ListParams {
        field_selector: Some(format!(
            "involvedObject.name={name},involvedObject.kind={}",
            kind.ar.kind
        )),
        ..ListParams::default()
    };
    // Events of cluster-scoped objects (nodes) live in whichever namespace the reporter chose.
    let namespace = if kind.namespaced {
        s(obj, "/metadata/namespace")
    } else {
        None
    };
    let (mut events, _) = list_in_view(ctx, &events_kind, namespace, &params, COLLECT_CAP).await?;
    newest_first(&mut events);
    Ok(events)
}
