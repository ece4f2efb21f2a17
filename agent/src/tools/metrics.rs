//! `top_pods` and `top_nodes`: CPU and memory use from metrics-server (`metrics.k8s.io/v1beta1`,
//! which k8s-openapi does not model, so the objects are read dynamically). Use is shown next to
//! what it is measured against (a pod's memory limit, a node's allocatable), which is what an
//! OOMKilled or a throttled workload needs. When metrics-server is missing (404) or its
//! APIService is down (503), the answer says so instead of a bare status.

use std::collections::HashMap;

use acorn_proto::agent::ToolErrorCode;
use acorn_proto::tools::{TopNodesArgs, TopPodsArgs, TopSort};
use kube::api::ListParams;
use kube::core::ApiResource;
use serde_json::Value;

use super::kinds::{self, KindInfo};
use super::read::list_in_view;
use super::render::{self, Bounds, Keep, Table, s, s_or_none};
use super::{Content, Ctx, Failure};

const MAX_ITEMS: usize = 5_000;

fn metrics_kind(kind: &str, plural: &str, namespaced: bool) -> KindInfo {
    KindInfo {
        ar: ApiResource {
            group: "metrics.k8s.io".into(),
            version: "v1beta1".into(),
            api_version: "metrics.k8s.io/v1beta1".into(),
            kind: kind.into(),
            plural: plural.into(),
        },
        namespaced,
    }
}

/// Turns the answers of a missing or broken metrics-server into a clear message.
fn metrics_failure(f: Failure) -> Failure {
    match f.http_status {
        Some(code @ (404 | 503)) => Failure::new(
            ToolErrorCode::ToolKubernetesError,
            format!(
                "metrics-server is not available: metrics.k8s.io answered {code} ({}). Install metrics-server, or check its APIService (v1beta1.metrics.k8s.io) and its pod.",
                f.message
            ),
        ),
        _ => f,
    }
}

async fn list_metrics(
    ctx: &Ctx<'_>,
    kind: &KindInfo,
    namespace: Option<&str>,
    params: &ListParams,
) -> Result<Vec<Value>, Failure> {
    match list_in_view(ctx, kind, namespace, params, MAX_ITEMS).await {
        Ok((items, _)) => Ok(items),
        Err(f) => Err(metrics_failure(f)),
    }
}

/// (cpu millicores, memory bytes) of a metrics `usage` object.
fn usage(u: Option<&Value>) -> (f64, f64) {
    let cpu = u
        .and_then(|u| s(u, "/cpu"))
        .and_then(render::cpu_millis)
        .unwrap_or(0.0);
    let mem = u
        .and_then(|u| s(u, "/memory"))
        .and_then(render::quantity)
        .unwrap_or(0.0);
    (cpu, mem)
}

fn percent(used: f64, of: Option<f64>) -> String {
    match of {
        Some(total) if total > 0.0 => format!("{}%", (used / total * 100.0).round() as i64),
        _ => "-".into(),
    }
}

pub async fn top_pods(ctx: &Ctx<'_>, args: TopPodsArgs) -> Result<Content, Failure> {
    if let Some(ns) = &args.namespace {
        ctx.check_namespace(ns)?;
    }
    let params = ListParams {
        label_selector: args.label_selector.clone(),
        ..ListParams::default()
    };
    let pod_metrics = metrics_kind("PodMetrics", "pods", true);
    let metrics = list_metrics(ctx, &pod_metrics, args.namespace.as_deref(), &params).await?;
    // Memory limits per (namespace, pod, container), from the pods themselves; without them
    // (RBAC) the table still shows use.
    let mut limits: HashMap<(String, String, String), f64> = HashMap::new();
    if let Some(pods_kind) = kinds::builtin("Pod")
        && let Ok((pods, _)) = list_in_view(
            ctx,
            &pods_kind,
            args.namespace.as_deref(),
            &params,
            MAX_ITEMS,
        )
        .await
    {
        for p in &pods {
            let ns = s_or_none(p, "/metadata/namespace");
            let name = s_or_none(p, "/metadata/name");
            for c in p
                .pointer("/spec/containers")
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
            {
                if let Some(limit) = s(c, "/resources/limits/memory").and_then(render::quantity) {
                    limits.insert((ns.clone(), name.clone(), s_or_none(c, "/name")), limit);
                }
            }
        }
    }
    let with_ns = args.namespace.is_none();
    struct Row {
        ns: String,
        pod: String,
        container: Option<String>,
        cpu: f64,
        mem: f64,
        limit: Option<f64>,
    }
    let mut rows = Vec::new();
    for m in &metrics {
        let ns = s_or_none(m, "/metadata/namespace");
        let pod = s_or_none(m, "/metadata/name");
        let containers: Vec<&Value> = m
            .get("containers")
            .and_then(Value::as_array)
            .map(|c| c.iter().collect())
            .unwrap_or_default();
        if args.containers {
            for c in containers {
                let name = s_or_none(c, "/name");
                let (cpu, mem) = usage(c.get("usage"));
                let limit = limits
                    .get(&(ns.clone(), pod.clone(), name.clone()))
                    .copied();
                rows.push(Row {
                    ns: ns.clone(),
                    pod: pod.clone(),
                    container: Some(name),
                    cpu,
                    mem,
                    limit,
                });
            }
        } else {
            let (mut cpu, mut mem) = (0.0, 0.0);
            // A pod's memory limit is only meaningful when every container has one.
            let mut limit = Some(0.0);
            for c in containers {
                let (c_cpu, c_mem) = usage(c.get("usage"));
                cpu += c_cpu;
                mem += c_mem;
                let key = (ns.clone(), pod.clone(), s_or_none(c, "/name"));
                limit = match (limit, limits.get(&key)) {
                    (Some(total), Some(l)) => Some(total + l),
                    _ => None,
                };
            }
            rows.push(Row {
                ns,
                pod,
                container: None,
                cpu,
                mem,
                limit,
            });
        }
    }
    match args.sort_by {
        Some(TopSort::Cpu) => rows.sort_by(|a, b| b.cpu.total_cmp(&a.cpu)),
        Some(TopSort::Memory) => rows.sort_by(|a, b| b.mem.total_cmp(&a.mem)),
        None => rows.sort_by(|a, b| (&a.ns, &a.pod).cmp(&(&b.ns, &b.pod))),
    }
    let mut headers = Vec::new();
    if with_ns {
        headers.push("NAMESPACE");
    }
    headers.push("POD");
    if args.containers {
        headers.push("CONTAINER");
    }
    headers.extend([
        "CPU(cores)",
        "MEMORY(bytes)",
        "MEMORY LIMIT",
        "MEMORY/LIMIT",
    ]);
    let mut table = Table::new(&headers);
    for r in &rows {
        let mut cells = Vec::new();
        if with_ns {
            cells.push(r.ns.clone());
        }
        cells.push(r.pod.clone());
        if let Some(c) = &r.container {
            cells.push(c.clone());
        }
        cells.push(render::millicores(r.cpu));
        cells.push(render::mebibytes(r.mem));
        cells.push(r.limit.map_or("-".into(), render::mebibytes));
        cells.push(percent(r.mem, r.limit));
        table.row(cells);
    }
    let text = if rows.is_empty() {
        "No pod metrics found.\n".to_string()
    } else {
        table.render()
    };
    Ok(Content {
        text,
        bounds: Bounds::new(args.max_lines, None),
        keep: Keep::Head,
        truncated: false,
    })
}

pub async fn top_nodes(ctx: &Ctx<'_>, args: TopNodesArgs) -> Result<Content, Failure> {
    let node_metrics = metrics_kind("NodeMetrics", "nodes", false);
    let metrics = list_metrics(ctx, &node_metrics, None, &ListParams::default()).await?;
    let mut allocatable: HashMap<String, (Option<f64>, Option<f64>)> = HashMap::new();
    if let Some(nodes_kind) = kinds::builtin("Node")
        && let Ok((nodes, _)) =
            list_in_view(ctx, &nodes_kind, None, &ListParams::default(), MAX_ITEMS).await
    {
        for n in &nodes {
            allocatable.insert(
                s_or_none(n, "/metadata/name"),
                (
                    s(n, "/status/allocatable/cpu").and_then(render::cpu_millis),
                    s(n, "/status/allocatable/memory").and_then(render::quantity),
                ),
            );
        }
    }
    let mut rows: Vec<(String, f64, f64)> = metrics
        .iter()
        .map(|m| {
            let (cpu, mem) = usage(m.get("usage"));
            (s_or_none(m, "/metadata/name"), cpu, mem)
        })
        .collect();
    match args.sort_by {
        Some(TopSort::Cpu) => rows.sort_by(|a, b| b.1.total_cmp(&a.1)),
        Some(TopSort::Memory) => rows.sort_by(|a, b| b.2.total_cmp(&a.2)),
        None => rows.sort_by(|a, b| a.0.cmp(&b.0)),
    }
    let mut table = Table::new(&["NAME", "CPU(cores)", "CPU%", "MEMORY(bytes)", "MEMORY%"]);
    for (name, cpu, mem) in &rows {
        let (a_cpu, a_mem) = allocatable.get(name).copied().unwrap_or((None, None));
        table.row(vec![
            name.clone(),
            render::millicores(*cpu),
            percent(*cpu, a_cpu),
            render::mebibytes(*mem),
            percent(*mem, a_mem),
        ]);
    }
    let text = if rows.is_empty() {
        "No node metrics found.\n".to_string()
    } else {
        table.render()
    };
    Ok(Content::head(text, Bounds::new(args.max_lines, None)))
}
