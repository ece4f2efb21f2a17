//! The read tools that work on objects and logs: `list_resources`, `get_resource`,
//! `get_events`, `get_pod_logs`. They only read; every namespace they touch is checked against
//! the filter first, and lists across namespaces only return namespaces in view.

use std::fmt::Write as _;

use acorn_proto::agent::ToolErrorCode;
use acorn_proto::tools::{
    EventType, GetEventsArgs, GetPodLogsArgs, GetResourceArgs, ListResourcesArgs,
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
/// Objects read while collecting (events are sorted by time on our side, so all are read).
pub(super) const COLLECT_CAP: usize = 5_000;

pub(super) fn to_value(obj: DynamicObject) -> Value {
    serde_json::to_value(obj).unwrap_or(Value::Null)
}

/// Lists objects with paging, at most `cap`; returns whether more were left.
pub(super) async fn collect(
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
    let params = ListParams {
        label_selector: args.label_selector.clone(),
        field_selector: args.field_selector.clone(),
        ..ListParams::default()
    };
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

/// The cells of one object after its NAME (AGE is put in by the caller).
type RowFn = fn(&Value) -> Vec<String>;

/// Rows like `kubectl get` for the kinds troubleshooting looks at; NAME/STATUS/AGE otherwise.
fn print_table(kind: &KindInfo, items: &[Value], with_ns: bool) -> String {
    let (headers, row): (Vec<&str>, RowFn) = match kind.ar.kind.as_str() {
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

pub(super) fn job_status(o: &Value) -> String {
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

pub(super) fn node_status(o: &Value) -> String {
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

pub(super) fn node_roles(o: &Value) -> String {
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

pub(super) fn service_ports(o: &Value) -> String {
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
pub(super) fn map_pairs(v: Option<&Value>) -> Option<String> {
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
pub(super) fn endpoints(o: &Value) -> (Vec<String>, Vec<String>) {
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

pub(super) fn shorten_list(items: &[String], show: usize) -> String {
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

pub(super) async fn get_object(
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

pub(super) fn newest_first(events: &mut [Value]) {
    events.sort_by_key(|e| std::cmp::Reverse(event_time(e)));
}

pub(super) fn events_table(events: &[Value], with_ns: bool) -> String {
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
