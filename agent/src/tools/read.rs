//! The read tools that work on objects and logs: `list_resources`, `get_resource`, `describe`,
//! `get_events`, `get_pod_logs`. They only read; every namespace they touch is checked against
//! the filter first, and lists across namespaces only return namespaces in view.

use std::fmt::Write as _;

use acorn_proto::agent::ToolErrorCode;
use acorn_proto::tools::{
    DescribeArgs, EventType, GetEventsArgs, GetPodLogsArgs, GetResourceArgs, ListResourcesArgs,
};
use k8s_openapi::api::core::v1::Pod;
use kube::api::{Api, DynamicObject, ListParams, LogParams};
use serde_json::Value;
use time::OffsetDateTime;

use super::kinds::{self, KindInfo};
use super::render::{self, Bounds, Keep, Table, age, i, s, s_or_none};
use super::{Content, Ctx, Failure};

/// Objects a list returns at most unless the caller asks for fewer.
const DEFAULT_LIST_LIMIT: u32 = 500;
/// Events `get_events` returns at most unless the caller asks for fewer.
const DEFAULT_EVENT_LIMIT: u32 = 100;
/// Events `describe` shows at most.
const DESCRIBE_EVENTS: usize = 50;
/// Objects read while collecting (events are sorted by time on our side, so all are read).
const COLLECT_CAP: usize = 5_000;
/// Owners followed at most (Pod → ReplicaSet → Deployment is two).
const MAX_OWNER_DEPTH: usize = 6;

fn to_value(obj: DynamicObject) -> Value {
    serde_json::to_value(obj).unwrap_or(Value::Null)
}

/// Lists objects with paging, at most `cap`; returns whether more were left.
async fn collect(
    api: &Api<DynamicObject>,
    params: &ListParams,
    cap: usize,
) -> Result<(Vec<Value>, bool), Failure> {
    let mut out = Vec::new();
    let mut params = params.clone();
    loop {
        let want = (cap - out.len()).min(500);
        params.limit = Some(u32::try_from(want).unwrap_or(500));
        let page = api.list(&params).await?;
        let next = page.metadata.continue_.clone().filter(|c| !c.is_empty());
        out.extend(page.items.into_iter().map(to_value));
        match next {
            Some(token) if out.len() < cap => params.continue_token = Some(token),
            Some(_) => return Ok((out, true)),
            None => return Ok((out, false)),
        }
    }
}

/// Lists `kind` in `namespace`, or in every namespace in view; at most `cap` objects.
pub(super) async fn list_in_view(
    ctx: &Ctx<'_>,
    kind: &KindInfo,
    namespace: Option<&str>,
    params: &ListParams,
    cap: usize,
) -> Result<(Vec<Value>, bool), Failure> {
    if !kind.namespaced {
        return collect(&kind.api(ctx.client, None), params, cap).await;
    }
    if let Some(ns) = namespace {
        ctx.check_namespace(ns)?;
        return collect(&kind.api(ctx.client, Some(ns)), params, cap).await;
    }
    let include = &ctx.policy.namespaces.include;
    if include.is_empty() {
        // One cluster-wide list, then drop what is out of view; ask for a little more so the
        // cap still holds after filtering.
        let (items, more) = collect(&kind.api(ctx.client, None), params, cap).await?;
        let items: Vec<Value> = items
            .into_iter()
            .filter(|o| ctx.in_view(s(o, "/metadata/namespace")))
            .collect();
        return Ok((items, more));
    }
    // An include list: the agent may only be allowed to read those namespaces.
    let mut all = Vec::new();
    let mut more = false;
    for ns in include {
        if !ctx.in_view(Some(ns)) {
            continue;
        }
        let (items, m) = collect(
            &kind.api(ctx.client, Some(ns)),
            params,
            cap.saturating_sub(all.len()),
        )
        .await?;
        all.extend(items);
        more |= m;
        if all.len() >= cap {
            more = true;
            break;
        }
    }
    Ok((all, more))
}

// ---------------------------------------------------------------- list_resources

pub async fn list_resources(ctx: &Ctx<'_>, args: ListResourcesArgs) -> Result<Content, Failure> {
    if let Some(ns) = &args.namespace {
        ctx.check_namespace(ns)?;
    }
    let kind = kinds::resolve(ctx.client, &args.kind).await?;
    let mut params = ListParams::default();
    params.label_selector = args.label_selector.clone();
    params.field_selector = args.field_selector.clone();
    let limit = args.limit.unwrap_or(DEFAULT_LIST_LIMIT).clamp(1, 5_000) as usize;
    let (items, more) = list_in_view(ctx, &kind, args.namespace.as_deref(), &params, limit).await?;
    let with_ns = kind.namespaced && args.namespace.is_none();
    let table = print_table(&kind, &items, with_ns);
    let mut text = if items.is_empty() {
        match &args.namespace {
            Some(ns) if kind.namespaced => {
                format!("No {} found in namespace {ns}.\n", kind.ar.plural)
            }
            _ => format!("No {} found.\n", kind.ar.plural),
        }
    } else {
        table
    };
    if more {
        let _ = writeln!(
            text,
            "[more {} exist than the limit of {limit}; narrow with a selector or namespace]",
            kind.ar.plural
        );
    }
    Ok(Content {
        text,
        bounds: Bounds::new(args.max_lines, args.max_bytes),
        keep: Keep::Head,
        truncated: more,
    })
}

/// Rows like `kubectl get` for the kinds troubleshooting looks at; NAME/STATUS/AGE otherwise.
fn print_table(kind: &KindInfo, items: &[Value], with_ns: bool) -> String {
    let (headers, row): (Vec<&str>, fn(&Value) -> Vec<String>) = match kind.ar.kind.as_str() {
        "Pod" => (
            vec!["NAME", "READY", "STATUS", "RESTARTS", "AGE", "NODE"],
            pod_row,
        ),
        "Deployment" => (
            vec!["NAME", "READY", "UP-TO-DATE", "AVAILABLE", "AGE"],
            |o| {
                vec![
                    format!(
                        "{}/{}",
                        i(o, "/status/readyReplicas"),
                        o.pointer("/spec/replicas")
                            .and_then(Value::as_i64)
                            .unwrap_or(1)
                    ),
                    i(o, "/status/updatedReplicas").to_string(),
                    i(o, "/status/availableReplicas").to_string(),
                ]
            },
        ),
        "StatefulSet" => (vec!["NAME", "READY", "AGE"], |o| {
            vec![format!(
                "{}/{}",
                i(o, "/status/readyReplicas"),
                o.pointer("/spec/replicas")
                    .and_then(Value::as_i64)
                    .unwrap_or(1)
            )]
        }),
        "ReplicaSet" => (vec!["NAME", "DESIRED", "CURRENT", "READY", "AGE"], |o| {
            vec![
                i(o, "/spec/replicas").to_string(),
                i(o, "/status/replicas").to_string(),
                i(o, "/status/readyReplicas").to_string(),
            ]
        }),
        "DaemonSet" => (
            vec![
                "NAME",
                "DESIRED",
                "CURRENT",
                "READY",
                "UP-TO-DATE",
                "AVAILABLE",
                "AGE",
            ],
            |o| {
                [
                    "desiredNumberScheduled",
                    "currentNumberScheduled",
                    "numberReady",
                    "updatedNumberScheduled",
                    "numberAvailable",
                ]
                .iter()
                .map(|f| i(o, &format!("/status/{f}")).to_string())
                .collect()
            },
        ),
        "Job" => (vec!["NAME", "STATUS", "COMPLETIONS", "AGE"], |o| {
            vec![
                job_status(o),
                format!(
                    "{}/{}",
                    i(o, "/status/succeeded"),
                    o.pointer("/spec/completions")
                        .and_then(Value::as_i64)
                        .unwrap_or(1)
                ),
            ]
        }),
        "CronJob" => (
            vec![
                "NAME",
                "SCHEDULE",
                "SUSPEND",
                "ACTIVE",
                "LAST SCHEDULE",
                "AGE",
            ],
            |o| {
                vec![
                    s_or_none(o, "/spec/schedule"),
                    o.pointer("/spec/suspend")
                        .and_then(Value::as_bool)
                        .unwrap_or(false)
                        .to_string(),
                    o.pointer("/status/active")
                        .and_then(Value::as_array)
                        .map_or(0, Vec::len)
                        .to_string(),
                    s(o, "/status/lastScheduleTime").map_or("<none>".into(), |t| age(Some(t))),
                ]
            },
        ),
        "Node" => (vec!["NAME", "STATUS", "ROLES", "AGE", "VERSION"], |o| {
            vec![
                node_status(o),
                node_roles(o),
                s_or_none(o, "/status/nodeInfo/kubeletVersion"),
            ]
        }),
        "Service" => (
            vec!["NAME", "TYPE", "CLUSTER-IP", "PORTS", "SELECTOR", "AGE"],
            |o| {
                vec![
                    s(o, "/spec/type").unwrap_or("ClusterIP").to_string(),
                    s_or_none(o, "/spec/clusterIP"),
                    service_ports(o),
                    map_pairs(o.pointer("/spec/selector")).unwrap_or_else(|| "<none>".into()),
                ]
            },
        ),
        "Endpoints" => (vec!["NAME", "ENDPOINTS", "NOT-READY", "AGE"], |o| {
            let (ready, not_ready) = endpoints(o);
            vec![
                if ready.is_empty() {
                    "<none>".into()
                } else {
                    shorten_list(&ready, 3)
                },
                not_ready.len().to_string(),
            ]
        }),
        "PersistentVolumeClaim" => (
            vec![
                "NAME",
                "STATUS",
                "VOLUME",
                "CAPACITY",
                "STORAGECLASS",
                "AGE",
            ],
            |o| {
                vec![
                    s_or_none(o, "/status/phase"),
                    s(o, "/spec/volumeName").unwrap_or("").to_string(),
                    s(o, "/status/capacity/storage").unwrap_or("").to_string(),
                    s_or_none(o, "/spec/storageClassName"),
                ]
            },
        ),
        "ConfigMap" => (vec!["NAME", "DATA", "AGE"], |o| {
            let n = ["data", "binaryData"]
                .iter()
                .filter_map(|f| o.get(*f).and_then(Value::as_object))
                .map(|m| m.len())
                .sum::<usize>();
            vec![n.to_string()]
        }),
        // Never the data: its type and how many keys.
        "Secret" => (vec!["NAME", "TYPE", "DATA", "AGE"], |o| {
            vec![
                s(o, "/type").unwrap_or("Opaque").to_string(),
                o.get("data")
                    .and_then(Value::as_object)
                    .map_or(0, |m| m.len())
                    .to_string(),
            ]
        }),
        "Namespace" => (vec!["NAME", "STATUS", "AGE"], |o| {
            vec![s_or_none(o, "/status/phase")]
        }),
        "Event" => {
            return events_table(items, with_ns);
        }
        "HorizontalPodAutoscaler" => (
            vec!["NAME", "REFERENCE", "MINPODS", "MAXPODS", "REPLICAS", "AGE"],
            |o| {
                vec![
                    format!(
                        "{}/{}",
                        s_or_none(o, "/spec/scaleTargetRef/kind"),
                        s_or_none(o, "/spec/scaleTargetRef/name")
                    ),
                    o.pointer("/spec/minReplicas")
                        .and_then(Value::as_i64)
                        .unwrap_or(1)
                        .to_string(),
                    i(o, "/spec/maxReplicas").to_string(),
                    i(o, "/status/currentReplicas").to_string(),
                ]
            },
        ),
        "Ingress" => (vec!["NAME", "CLASS", "HOSTS", "AGE"], |o| {
            let hosts: Vec<String> = o
                .pointer("/spec/rules")
                .and_then(Value::as_array)
                .map(|rules| {
                    rules
                        .iter()
                        .map(|r| s(r, "/host").unwrap_or("*").to_string())
                        .collect()
                })
                .unwrap_or_default();
            vec![
                s_or_none(o, "/spec/ingressClassName"),
                if hosts.is_empty() {
                    "*".into()
                } else {
                    hosts.join(",")
                },
            ]
        }),
        _ => (vec!["NAME", "STATUS", "AGE"], |o| vec![generic_status(o)]),
    };
    let mut all_headers: Vec<&str> = Vec::new();
    if with_ns {
        all_headers.push("NAMESPACE");
    }
    all_headers.extend(headers.iter().copied());
    let age_at = headers.iter().position(|h| *h == "AGE");
    let mut table = Table::new(&all_headers);
    for o in items {
        let mut cells = Vec::new();
        if with_ns {
            cells.push(s_or_none(o, "/metadata/namespace"));
        }
        cells.push(s_or_none(o, "/metadata/name"));
        let mut rest = row(o);
        // The printers leave NAME and AGE out; AGE goes where the header says.
        if let Some(at) = age_at.map(|a| a - 1).filter(|a| *a <= rest.len()) {
            rest.insert(at, age(s(o, "/metadata/creationTimestamp")));
        }
        cells.extend(rest);
        table.row(cells);
    }
    table.render()
}

fn pod_row(o: &Value) -> Vec<String> {
    let info = PodInfo::of(o);
    vec![
        format!("{}/{}", info.ready, info.total),
        info.status,
        info.restarts,
        s(o, "/spec/nodeName").unwrap_or("<none>").to_string(),
    ]
}

/// What kubectl shows for a pod.
pub struct PodInfo {
    pub ready: usize,
    pub total: usize,
    pub status: String,
    pub restarts: String,
}

impl PodInfo {
    /// kubectl's pod status: the most telling container reason, else the phase.
    pub fn of(pod: &Value) -> PodInfo {
        let empty = Vec::new();
        let statuses = pod
            .pointer("/status/containerStatuses")
            .and_then(Value::as_array)
            .unwrap_or(&empty);
        let init = pod
            .pointer("/status/initContainerStatuses")
            .and_then(Value::as_array)
            .unwrap_or(&empty);
        let total = pod
            .pointer("/spec/containers")
            .and_then(Value::as_array)
            .map_or(statuses.len(), Vec::len);
        let mut reason = s(pod, "/status/reason")
            .or_else(|| s(pod, "/status/phase"))
            .unwrap_or("Unknown")
            .to_string();
        let mut restarts = 0i64;
        let mut last_restart: Option<OffsetDateTime> = None;
        let mut note_restart = |c: &Value| {
            restarts += i(c, "/restartCount");
            if let Some(t) = s(c, "/lastState/terminated/finishedAt").and_then(render::parse_time)
                && last_restart.is_none_or(|l| t > l)
            {
                last_restart = Some(t);
            }
        };
        let mut initializing = false;
        for (n, c) in init.iter().enumerate() {
            note_restart(c);
            if let Some(t) = c.pointer("/state/terminated") {
                if i(t, "/exitCode") == 0 {
                    continue;
                }
                reason = match s(t, "/reason") {
                    Some(r) => format!("Init:{r}"),
                    None => format!("Init:ExitCode:{}", i(t, "/exitCode")),
                };
            } else if let Some(w) =
                s(c, "/state/waiting/reason").filter(|r| *r != "PodInitializing")
            {
                reason = format!("Init:{w}");
            } else {
                reason = format!("Init:{n}/{}", init.len());
            }
            initializing = true;
            break;
        }
        let mut ready = 0;
        let mut running = false;
        for c in statuses.iter() {
            note_restart(c);
        }
        if !initializing {
            for c in statuses.iter().rev() {
                if let Some(w) = s(c, "/state/waiting/reason") {
                    reason = w.to_string();
                } else if let Some(t) = c.pointer("/state/terminated") {
                    reason = match s(t, "/reason") {
                        Some(r) => r.to_string(),
                        None => format!("ExitCode:{}", i(t, "/exitCode")),
                    };
                } else if c.pointer("/state/running").is_some()
                    && c.get("ready").and_then(Value::as_bool) == Some(true)
                {
                    running = true;
                }
            }
            if reason == "Completed" && running {
                reason = "Running".into();
            }
        }
        for c in statuses {
            if c.get("ready").and_then(Value::as_bool) == Some(true) {
                ready += 1;
            }
        }
        if pod.pointer("/metadata/deletionTimestamp").is_some() {
            reason = if s(pod, "/status/reason") == Some("NodeLost") {
                "Unknown".into()
            } else {
                "Terminating".into()
            };
        }
        let restarts = match last_restart {
            Some(t) if restarts > 0 => format!(
                "{restarts} ({} ago)",
                render::human_duration((OffsetDateTime::now_utc() - t).whole_seconds())
            ),
            _ => restarts.to_string(),
        };
        PodInfo {
            ready,
            total,
            status: reason,
            restarts,
        }
    }
}

fn job_status(o: &Value) -> String {
    for (t, shown) in [
        ("Failed", "Failed"),
        ("Complete", "Complete"),
        ("Suspended", "Suspended"),
    ] {
        if condition(o, t).is_some_and(|c| s(c, "/status") == Some("True")) {
            return shown.into();
        }
    }
    "Running".into()
}

fn condition<'a>(o: &'a Value, kind: &str) -> Option<&'a Value> {
    o.pointer("/status/conditions")
        .and_then(Value::as_array)?
        .iter()
        .find(|c| s(c, "/type") == Some(kind))
}

fn node_status(o: &Value) -> String {
    let mut status = match condition(o, "Ready").and_then(|c| s(c, "/status")) {
        Some("True") => "Ready".to_string(),
        Some(_) => "NotReady".to_string(),
        None => "Unknown".to_string(),
    };
    if o.pointer("/spec/unschedulable").and_then(Value::as_bool) == Some(true) {
        status.push_str(",SchedulingDisabled");
    }
    status
}

fn node_roles(o: &Value) -> String {
    let roles: Vec<&str> = o
        .pointer("/metadata/labels")
        .and_then(Value::as_object)
        .map(|labels| {
            labels
                .keys()
                .filter_map(|k| k.strip_prefix("node-role.kubernetes.io/"))
                .collect()
        })
        .unwrap_or_default();
    if roles.is_empty() {
        "<none>".into()
    } else {
        roles.join(",")
    }
}

fn generic_status(o: &Value) -> String {
    if let Some(c) = condition(o, "Ready") {
        let mut out = format!("Ready={}", s(c, "/status").unwrap_or("Unknown"));
        if let Some(r) = s(c, "/reason") {
            let _ = write!(out, " ({r})");
        }
        return out;
    }
    s(o, "/status/phase").unwrap_or("").to_string()
}

fn service_ports(o: &Value) -> String {
    let ports: Vec<String> = o
        .pointer("/spec/ports")
        .and_then(Value::as_array)
        .map(|ports| {
            ports
                .iter()
                .map(|p| {
                    let proto = s(p, "/protocol").unwrap_or("TCP");
                    match p.get("nodePort").and_then(Value::as_i64) {
                        Some(np) => format!("{}:{np}/{proto}", i(p, "/port")),
                        None => format!("{}/{proto}", i(p, "/port")),
                    }
                })
                .collect()
        })
        .unwrap_or_default();
    if ports.is_empty() {
        "<none>".into()
    } else {
        ports.join(",")
    }
}

/// `k=v,k2=v2` of a string map.
fn map_pairs(v: Option<&Value>) -> Option<String> {
    let map = v?.as_object()?;
    if map.is_empty() {
        return None;
    }
    Some(
        map.iter()
            .map(|(k, v)| format!("{k}={}", v.as_str().unwrap_or_default()))
            .collect::<Vec<_>>()
            .join(","),
    )
}

/// Ready and not-ready `ip:port` of an Endpoints object.
fn endpoints(o: &Value) -> (Vec<String>, Vec<String>) {
    let mut ready = Vec::new();
    let mut not_ready = Vec::new();
    for subset in o
        .get("subsets")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
    {
        let ports: Vec<i64> = subset
            .get("ports")
            .and_then(Value::as_array)
            .map(|p| p.iter().map(|p| i(p, "/port")).collect())
            .unwrap_or_default();
        for (field, out) in [
            ("addresses", &mut ready),
            ("notReadyAddresses", &mut not_ready),
        ] {
            for addr in subset
                .get(field)
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
            {
                let ip = s(addr, "/ip").unwrap_or("?");
                if ports.is_empty() {
                    out.push(ip.to_string());
                }
                for port in &ports {
                    out.push(format!("{ip}:{port}"));
                }
            }
        }
    }
    (ready, not_ready)
}

fn shorten_list(items: &[String], show: usize) -> String {
    if items.len() <= show {
        items.join(",")
    } else {
        format!(
            "{} + {} more...",
            items[..show].join(","),
            items.len() - show
        )
    }
}

// ---------------------------------------------------------------- get_resource

async fn get_object(
    ctx: &Ctx<'_>,
    kind_written: &str,
    namespace: Option<&str>,
    name: &str,
) -> Result<(KindInfo, Value), Failure> {
    if let Some(ns) = namespace {
        ctx.check_namespace(ns)?;
    }
    let kind = kinds::resolve(ctx.client, kind_written).await?;
    if kind.namespaced && namespace.is_none() {
        return Err(Failure::invalid(format!(
            "field `namespace`: {} are namespaced; say which namespace",
            kind.ar.plural
        )));
    }
    let obj = kind.api(ctx.client, namespace).get(name).await?;
    let mut value = to_value(obj);
    // Lists and gets of dynamic objects may come back without their type; put it in so the
    // YAML says what it is.
    if let Some(map) = value.as_object_mut() {
        map.entry("apiVersion")
            .or_insert_with(|| Value::String(kind.ar.api_version.clone()));
        map.entry("kind")
            .or_insert_with(|| Value::String(kind.ar.kind.clone()));
    }
    Ok((kind, value))
}

pub async fn get_resource(ctx: &Ctx<'_>, args: GetResourceArgs) -> Result<Content, Failure> {
    let (kind, mut obj) =
        get_object(ctx, &args.kind, args.namespace.as_deref(), &args.name).await?;
    render::trim_object(&mut obj, kind.is_secret());
    Ok(Content::head(
        render::yaml(&obj)?,
        Bounds::new(args.max_lines, args.max_bytes),
    ))
}

// ---------------------------------------------------------------- describe

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
            let _ = writeln!(out, "      {name}: {value}");
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
    let mut params = ListParams::default();
    params.field_selector = Some(format!("spec.nodeName={name}"));
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
        let mut params = ListParams::default();
        params.label_selector = Some(selector);
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

// ---------------------------------------------------------------- events

/// When an event last happened (core events fill different fields depending on the reporter).
fn event_time(ev: &Value) -> Option<OffsetDateTime> {
    [
        "/lastTimestamp",
        "/eventTime",
        "/series/lastObservedTime",
        "/firstTimestamp",
        "/metadata/creationTimestamp",
    ]
    .iter()
    .find_map(|p| s(ev, p).and_then(render::parse_time))
}

fn newest_first(events: &mut [Value]) {
    events.sort_by(|a, b| event_time(b).cmp(&event_time(a)));
}

fn events_table(events: &[Value], with_ns: bool) -> String {
    let mut headers = Vec::new();
    if with_ns {
        headers.push("NAMESPACE");
    }
    headers.extend(["LAST SEEN", "TYPE", "REASON", "OBJECT", "COUNT", "MESSAGE"]);
    let mut t = Table::new(&headers);
    for ev in events {
        let mut row = Vec::new();
        if with_ns {
            row.push(s_or_none(ev, "/metadata/namespace"));
        }
        let seen = event_time(ev).map_or("<unknown>".to_string(), |t| {
            render::human_duration((OffsetDateTime::now_utc() - t).whole_seconds())
        });
        row.push(seen);
        row.push(s(ev, "/type").unwrap_or("").to_string());
        row.push(s(ev, "/reason").unwrap_or("").to_string());
        row.push(format!(
            "{}/{}",
            s(ev, "/involvedObject/kind").unwrap_or("?").to_lowercase(),
            s(ev, "/involvedObject/name").unwrap_or("?")
        ));
        row.push(
            ev.pointer("/series/count")
                .or_else(|| ev.get("count"))
                .and_then(Value::as_i64)
                .unwrap_or(1)
                .to_string(),
        );
        row.push(s(ev, "/message").unwrap_or("").trim().replace('\n', " "));
        t.row(row);
    }
    t.render()
}

/// Events about one object, newest first.
async fn object_events(ctx: &Ctx<'_>, kind: &KindInfo, obj: &Value) -> Result<Vec<Value>, Failure> {
    let Some(events_kind) = kinds::builtin("Event") else {
        return Ok(Vec::new());
    };
    let name = s(obj, "/metadata/name").unwrap_or_default();
    let mut params = ListParams::default();
    params.field_selector = Some(format!(
        "involvedObject.name={name},involvedObject.kind={}",
        kind.ar.kind
    ));
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

pub async fn get_events(ctx: &Ctx<'_>, args: GetEventsArgs) -> Result<Content, Failure> {
    if let Some(ns) = &args.namespace {
        ctx.check_namespace(ns)?;
    }
    let Some(events_kind) = kinds::builtin("Event") else {
        return Err(Failure::new(
            ToolErrorCode::ToolKubernetesError,
            "the Event kind is missing from the agent's table",
        ));
    };
    let mut selectors = Vec::new();
    if let Some(kind) = &args.involved_kind {
        // Accept `pods` / `po` too: events name the kind (`Pod`).
        let canonical = match kinds::resolve(ctx.client, kind).await {
            Ok(k) => k.ar.kind,
            Err(_) => kind.clone(),
        };
        selectors.push(format!("involvedObject.kind={canonical}"));
    }
    if let Some(name) = &args.involved_name {
        selectors.push(format!("involvedObject.name={name}"));
    }
    if let Some(t) = args.event_type {
        selectors.push(format!(
            "type={}",
            match t {
                EventType::Normal => "Normal",
                EventType::Warning => "Warning",
            }
        ));
    }
    let mut params = ListParams::default();
    if !selectors.is_empty() {
        params.field_selector = Some(selectors.join(","));
    }
    let (mut events, more_at_source) = list_in_view(
        ctx,
        &events_kind,
        args.namespace.as_deref(),
        &params,
        COLLECT_CAP,
    )
    .await?;
    newest_first(&mut events);
    let limit = args.limit.unwrap_or(DEFAULT_EVENT_LIMIT).clamp(1, 2_000) as usize;
    let more = events.len() > limit || more_at_source;
    events.truncate(limit);
    let mut text = if events.is_empty() {
        "No events found.\n".to_string()
    } else {
        events_table(&events, args.namespace.is_none())
    };
    if more {
        let _ = writeln!(text, "[older events left out; limit {limit}]");
    }
    Ok(Content {
        text,
        bounds: Bounds::new(args.max_lines, args.max_bytes),
        keep: Keep::Head,
        truncated: more,
    })
}

// ---------------------------------------------------------------- get_pod_logs

pub async fn get_pod_logs(ctx: &Ctx<'_>, args: GetPodLogsArgs) -> Result<Content, Failure> {
    if !ctx.policy.logs_allowed {
        return Err(Failure::new(
            ToolErrorCode::ToolLogsNotAllowed,
            "pod logs are not allowed for this cluster (agent configuration or cluster registration)",
        ));
    }
    ctx.check_namespace(&args.namespace)?;
    let bounds = Bounds::new(args.max_lines, args.max_bytes);
    let max_lines = bounds.max_lines;
    // Ask the server for one line more than we may return, so we know whether we cut.
    let (tail, we_cut_tail) = match args.tail_lines {
        Some(t) if (t as usize) <= max_lines => (i64::from(t), false),
        _ => (max_lines as i64 + 1, true),
    };
    let params = LogParams {
        container: args.container.clone(),
        previous: args.previous,
        since_seconds: args.since_seconds.map(i64::from),
        tail_lines: Some(tail),
        ..LogParams::default()
    };
    let api: Api<Pod> = Api::namespaced(ctx.client.clone(), &args.namespace);
    let log = api.logs(&args.pod, &params).await?;
    let mut lines: Vec<&str> = log.lines().collect();
    let mut truncated = false;
    if we_cut_tail && lines.len() > max_lines {
        lines.drain(..lines.len() - max_lines);
        truncated = true;
    }
    let mut text = lines.join("\n");
    if !text.is_empty() {
        text.push('\n');
    }
    if text.is_empty() {
        text = "(no log lines)\n".into();
    }
    Ok(Content {
        text,
        bounds,
        keep: Keep::Tail,
        truncated,
    })
}
