//! `meta.k8s.io/v1` Table responses: what `kubectl get` asks for (`Accept: ...;as=Table`).
//!
//! The API server prints the columns; kubectl only lays them out. The printers here follow
//! Kubernetes' own for the kinds a troubleshooter looks at (pod STATUS is computed the way
//! kubectl shows CrashLoopBackOff, Terminating, Init:...); other kinds get NAME and AGE.

use std::sync::Arc;

use serde_json::{Value, json};

use crate::resources::ResourceType;
use crate::time::age_of;

type Column = (&'static str, &'static str, u8);
/// Cells of one row.
type RowFn = fn(&Value) -> Vec<Value>;

fn str_at<'a>(o: &'a Value, pointer: &str) -> &'a str {
    o.pointer(pointer)
        .and_then(Value::as_str)
        .unwrap_or_default()
}

fn int_at(o: &Value, pointer: &str) -> i64 {
    o.pointer(pointer).and_then(Value::as_i64).unwrap_or(0)
}

fn age(o: &Value) -> Value {
    json!(age_of(
        o.pointer("/metadata/creationTimestamp")
            .and_then(Value::as_str)
    ))
}

fn or_none(s: &str) -> String {
    if s.is_empty() {
        "<none>".into()
    } else {
        s.to_string()
    }
}

/// A Table of `items` (`columns` false: rows only, as in watch events after the first).
pub fn table(ty: &ResourceType, items: &[Arc<Value>], rv: &str, columns: bool) -> Value {
    let (defs, row): (&[Column], RowFn) = match (ty.group.as_str(), ty.kind.as_str()) {
        ("", "Pod") => (
            &[
                ("Name", "string", 0),
                ("Ready", "string", 0),
                ("Status", "string", 0),
                ("Restarts", "string", 0),
                ("Age", "string", 0),
                ("IP", "string", 1),
                ("Node", "string", 1),
                ("Nominated Node", "string", 1),
                ("Readiness Gates", "string", 1),
            ],
            pod_row,
        ),
        ("", "Node") => (
            &[
                ("Name", "string", 0),
                ("Status", "string", 0),
                ("Roles", "string", 0),
                ("Age", "string", 0),
                ("Version", "string", 0),
                ("Internal-IP", "string", 1),
                ("OS-Image", "string", 1),
                ("Kernel-Version", "string", 1),
                ("Container-Runtime", "string", 1),
            ],
            node_row,
        ),
        ("", "Event") => (
            &[
                ("Last Seen", "string", 0),
                ("Type", "string", 0),
                ("Reason", "string", 0),
                ("Object", "string", 0),
                ("Message", "string", 0),
            ],
            event_row,
        ),
        ("", "Namespace") => (
            &[
                ("Name", "string", 0),
                ("Status", "string", 0),
                ("Age", "string", 0),
            ],
            |o| {
                vec![
                    json!(str_at(o, "/metadata/name")),
                    json!(str_at(o, "/status/phase")),
                    age(o),
                ]
            },
        ),
        ("", "Service") => (
            &[
                ("Name", "string", 0),
                ("Type", "string", 0),
                ("Cluster-IP", "string", 0),
                ("External-IP", "string", 0),
                ("Port(s)", "string", 0),
                ("Age", "string", 0),
                ("Selector", "string", 1),
            ],
            service_row,
        ),
        ("", "PersistentVolumeClaim") => (
            &[
                ("Name", "string", 0),
                ("Status", "string", 0),
                ("Volume", "string", 0),
                ("Capacity", "string", 0),
                ("Access Modes", "string", 0),
                ("StorageClass", "string", 0),
                ("VolumeAttributesClass", "string", 0),
                ("Age", "string", 0),
            ],
            |o| {
                let modes: Vec<&str> = o
                    .pointer("/status/accessModes")
                    .and_then(Value::as_array)
                    .map(|a| a.iter().filter_map(Value::as_str).map(short_mode).collect())
                    .unwrap_or_default();
                vec![
                    json!(str_at(o, "/metadata/name")),
                    json!(str_at(o, "/status/phase")),
                    json!(str_at(o, "/spec/volumeName")),
                    json!(str_at(o, "/status/capacity/storage")),
                    json!(modes.join(",")),
                    json!(str_at(o, "/spec/storageClassName")),
                    json!("<unset>"),
                    age(o),
                ]
            },
        ),
        ("", "Endpoints") => (
            &[
                ("Name", "string", 0),
                ("Endpoints", "string", 0),
                ("Age", "string", 0),
            ],
            endpoints_row,
        ),
        ("", "ConfigMap") => (
            &[
                ("Name", "string", 0),
                ("Data", "integer", 0),
                ("Age", "string", 0),
            ],
            |o| {
                vec![
                    json!(str_at(o, "/metadata/name")),
                    json!(count_keys(o, "/data") + count_keys(o, "/binaryData")),
                    age(o),
                ]
            },
        ),
        ("", "Secret") => (
            &[
                ("Name", "string", 0),
                ("Type", "string", 0),
                ("Data", "integer", 0),
                ("Age", "string", 0),
            ],
            |o| {
                vec![
                    json!(str_at(o, "/metadata/name")),
                    json!(str_at(o, "/type")),
                    json!(count_keys(o, "/data") + count_keys(o, "/stringData")),
                    age(o),
                ]
            },
        ),
        ("apps", "StatefulSet") => (
            &[
                ("Name", "string", 0),
                ("Ready", "string", 0),
                ("Age", "string", 0),
            ],
            |o| {
                vec![
                    json!(str_at(o, "/metadata/name")),
                    json!(format!(
                        "{}/{}",
                        int_at(o, "/status/readyReplicas"),
                        o.pointer("/spec/replicas")
                            .and_then(Value::as_i64)
                            .unwrap_or(1)
                    )),
                    age(o),
                ]
            },
        ),
        ("apps", "ReplicaSet") => (
            &[
                ("Name", "string", 0),
                ("Desired", "integer", 0),
                ("Current", "integer", 0),
                ("Ready", "integer", 0),
                ("Age", "string", 0),
            ],
            |o| {
                vec![
                    json!(str_at(o, "/metadata/name")),
                    json!(
                        o.pointer("/spec/replicas")
                            .and_then(Value::as_i64)
                            .unwrap_or(1)
                    ),
                    json!(int_at(o, "/status/replicas")),
                    json!(int_at(o, "/status/readyReplicas")),
                    age(o),
                ]
            },
        ),
        ("apps", "DaemonSet") => (
            &[
                ("Name", "string", 0),
                ("Desired", "integer", 0),
                ("Current", "integer", 0),
                ("Ready", "integer", 0),
                ("Up-to-date", "integer", 0),
                ("Available", "integer", 0),
                ("Node Selector", "string", 0),
                ("Age", "string", 0),
            ],
            |o| {
                vec![
                    json!(str_at(o, "/metadata/name")),
                    json!(int_at(o, "/status/desiredNumberScheduled")),
                    json!(int_at(o, "/status/currentNumberScheduled")),
                    json!(int_at(o, "/status/numberReady")),
                    json!(int_at(o, "/status/updatedNumberScheduled")),
                    json!(int_at(o, "/status/numberAvailable")),
                    json!(or_none(&key_values(o, "/spec/template/spec/nodeSelector"))),
                    age(o),
                ]
            },
        ),
        ("batch", "CronJob") => (
            &[
                ("Name", "string", 0),
                ("Schedule", "string", 0),
                ("Timezone", "string", 0),
                ("Suspend", "boolean", 0),
                ("Active", "integer", 0),
                ("Last Schedule", "string", 0),
                ("Age", "string", 0),
            ],
            |o| {
                let last = o
                    .pointer("/status/lastScheduleTime")
                    .and_then(Value::as_str);
                vec![
                    json!(str_at(o, "/metadata/name")),
                    json!(str_at(o, "/spec/schedule")),
                    json!(or_none(str_at(o, "/spec/timeZone"))),
                    json!(
                        o.pointer("/spec/suspend")
                            .and_then(Value::as_bool)
                            .unwrap_or(false)
                    ),
                    json!(
                        o.pointer("/status/active")
                            .and_then(Value::as_array)
                            .map_or(0, Vec::len)
                    ),
                    json!(if last.is_some() {
                        age_of(last)
                    } else {
                        "<none>".into()
                    }),
                    age(o),
                ]
            },
        ),
        ("networking.k8s.io", "Ingress") => (
            &[
                ("Name", "string", 0),
                ("Class", "string", 0),
                ("Hosts", "string", 0),
                ("Address", "string", 0),
                ("Ports", "string", 0),
                ("Age", "string", 0),
            ],
            |o| {
                let hosts: Vec<&str> = o
                    .pointer("/spec/rules")
                    .and_then(Value::as_array)
                    .map(|rules| {
                        rules
                            .iter()
                            .filter_map(|r| r.get("host").and_then(Value::as_str))
                            .collect()
                    })
                    .unwrap_or_default();
                let address: Vec<&str> = o
                    .pointer("/status/loadBalancer/ingress")
                    .and_then(Value::as_array)
                    .map(|a| {
                        a.iter()
                            .filter_map(|i| {
                                i.get("ip")
                                    .or_else(|| i.get("hostname"))
                                    .and_then(Value::as_str)
                            })
                            .collect()
                    })
                    .unwrap_or_default();
                let ports = if o
                    .pointer("/spec/tls")
                    .and_then(Value::as_array)
                    .is_some_and(|t| !t.is_empty())
                {
                    "80, 443"
                } else {
                    "80"
                };
                vec![
                    json!(str_at(o, "/metadata/name")),
                    json!(or_none(str_at(o, "/spec/ingressClassName"))),
                    json!(if hosts.is_empty() {
                        "*".to_string()
                    } else {
                        hosts.join(",")
                    }),
                    json!(address.join(",")),
                    json!(ports),
                    age(o),
                ]
            },
        ),
        ("storage.k8s.io", "StorageClass") => (
            &[
                ("Name", "string", 0),
                ("Provisioner", "string", 0),
                ("ReclaimPolicy", "string", 0),
                ("VolumeBindingMode", "string", 0),
                ("AllowVolumeExpansion", "boolean", 0),
                ("Age", "string", 0),
            ],
            |o| {
                let default = str_at(
                    o,
                    "/metadata/annotations/storageclass.kubernetes.io~1is-default-class",
                ) == "true";
                let name = str_at(o, "/metadata/name");
                vec![
                    json!(if default {
                        format!("{name} (default)")
                    } else {
                        name.to_string()
                    }),
                    json!(str_at(o, "/provisioner")),
                    json!(
                        o.pointer("/reclaimPolicy")
                            .and_then(Value::as_str)
                            .unwrap_or("Delete")
                    ),
                    json!(
                        o.pointer("/volumeBindingMode")
                            .and_then(Value::as_str)
                            .unwrap_or("Immediate")
                    ),
                    json!(
                        o.pointer("/allowVolumeExpansion")
                            .and_then(Value::as_bool)
                            .unwrap_or(false)
                    ),
                    age(o),
                ]
            },
        ),
        ("apps", "Deployment") => (
            &[
                ("Name", "string", 0),
                ("Ready", "string", 0),
                ("Up-to-date", "integer", 0),
                ("Available", "integer", 0),
                ("Age", "string", 0),
            ],
            |o| {
                vec![
                    json!(str_at(o, "/metadata/name")),
                    json!(format!(
                        "{}/{}",
                        int_at(o, "/status/readyReplicas"),
                        o.pointer("/spec/replicas")
                            .and_then(Value::as_i64)
                            .unwrap_or(1)
                    )),
                    json!(int_at(o, "/status/updatedReplicas")),
                    json!(int_at(o, "/status/availableReplicas")),
                    age(o),
                ]
            },
        ),
        ("batch", "Job") => (
            &[
                ("Name", "string", 0),
                ("Status", "string", 0),
                ("Completions", "string", 0),
                ("Duration", "string", 0),
                ("Age", "string", 0),
            ],
            |o| {
                let failed = o
                    .pointer("/status/conditions")
                    .and_then(Value::as_array)
                    .is_some_and(|cs| {
                        cs.iter().any(|c| {
                            str_at(c, "/type") == "Failed" && str_at(c, "/status") == "True"
                        })
                    });
                let complete = o
                    .pointer("/status/succeeded")
                    .and_then(Value::as_i64)
                    .unwrap_or(0)
                    >= o.pointer("/spec/completions")
                        .and_then(Value::as_i64)
                        .unwrap_or(1);
                let status = if failed {
                    "Failed"
                } else if complete {
                    "Complete"
                } else {
                    "Running"
                };
                vec![
                    json!(str_at(o, "/metadata/name")),
                    json!(status),
                    json!(format!(
                        "{}/{}",
                        int_at(o, "/status/succeeded"),
                        o.pointer("/spec/completions")
                            .and_then(Value::as_i64)
                            .unwrap_or(1)
                    )),
                    json!(age_of(
                        o.pointer("/status/startTime").and_then(Value::as_str)
                    )),
                    age(o),
                ]
            },
        ),
        _ => (&[("Name", "string", 0), ("Age", "string", 0)], |o| {
            vec![json!(str_at(o, "/metadata/name")), age(o)]
        }),
    };
    let column_definitions: Vec<Value> = if columns {
        defs.iter()
            .map(|(name, kind, priority)| {
                let mut c = json!({"name": name, "type": kind, "format": "", "description": name, "priority": priority});
                if *name == "Name" {
                    c["format"] = json!("name");
                }
                c
            })
            .collect()
    } else {
        vec![]
    };
    let rows: Vec<Value> = items
        .iter()
        .map(|o| {
            let mut cells = row(o);
            cells.truncate(defs.len());
            while cells.len() < defs.len() {
                cells.push(json!("<none>"));
            }
            json!({"cells": cells, "object": partial_metadata(o)})
        })
        .collect();
    json!({"kind": "Table", "apiVersion": "meta.k8s.io/v1", "metadata": {"resourceVersion": rv}, "columnDefinitions": column_definitions, "rows": rows})
}

fn count_keys(o: &Value, pointer: &str) -> usize {
    o.pointer(pointer)
        .and_then(Value::as_object)
        .map_or(0, serde_json::Map::len)
}

fn key_values(o: &Value, pointer: &str) -> String {
    o.pointer(pointer)
        .and_then(Value::as_object)
        .map(|m| {
            m.iter()
                .map(|(k, v)| format!("{k}={}", v.as_str().unwrap_or_default()))
                .collect::<Vec<_>>()
                .join(",")
        })
        .unwrap_or_default()
}

/// `10.244.1.5:8080,10.244.2.7:8080 + 3 more...` like kubectl.
fn endpoints_row(o: &Value) -> Vec<Value> {
    let mut all = Vec::new();
    for subset in o
        .get("subsets")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
    {
        let ports: Vec<i64> = subset
            .get("ports")
            .and_then(Value::as_array)
            .map(|p| p.iter().map(|p| int_at(p, "/port")).collect())
            .unwrap_or_default();
        for address in subset
            .get("addresses")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
        {
            let ip = str_at(address, "/ip");
            if ports.is_empty() {
                all.push(ip.to_string());
            }
            all.extend(ports.iter().map(|p| format!("{ip}:{p}")));
        }
    }
    let shown = if all.is_empty() {
        "<none>".to_string()
    } else if all.len() > 3 {
        format!("{} + {} more...", all[..3].join(","), all.len() - 3)
    } else {
        all.join(",")
    };
    vec![json!(str_at(o, "/metadata/name")), json!(shown), age(o)]
}

/// The row object kubectl gets by default (`includeObject=Metadata`).
fn partial_metadata(o: &Value) -> Value {
    json!({"kind": "PartialObjectMetadata", "apiVersion": "meta.k8s.io/v1", "metadata": o.get("metadata").cloned().unwrap_or_else(|| json!({}))})
}

fn short_mode(mode: &str) -> &str {
    match mode {
        "ReadWriteOnce" => "RWO",
        "ReadOnlyMany" => "ROX",
        "ReadWriteMany" => "RWX",
        "ReadWriteOncePod" => "RWOP",
        other => other,
    }
}

/// kubectl's pod STATUS, READY and RESTARTS.
fn pod_row(o: &Value) -> Vec<Value> {
    let containers = o
        .pointer("/spec/containers")
        .and_then(Value::as_array)
        .map_or(0, Vec::len);
    let mut reason = {
        let r = str_at(o, "/status/reason");
        if r.is_empty() {
            str_at(o, "/status/phase").to_string()
        } else {
            r.to_string()
        }
    };
    let mut initializing = false;
    let inits = o
        .pointer("/status/initContainerStatuses")
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default();
    for (i, s) in inits.iter().enumerate() {
        if s.pointer("/state/terminated").is_some() && int_at(s, "/state/terminated/exitCode") == 0
        {
            continue;
        }
        initializing = true;
        let waiting = str_at(s, "/state/waiting/reason");
        reason = if let Some(t) = s.pointer("/state/terminated") {
            let r = str_at(t, "/reason");
            if r.is_empty() {
                format!("Init:ExitCode:{}", int_at(t, "/exitCode"))
            } else {
                format!("Init:{r}")
            }
        } else if !waiting.is_empty() && waiting != "PodInitializing" {
            format!("Init:{waiting}")
        } else {
            format!("Init:{i}/{}", inits.len())
        };
        break;
    }
    let mut ready = 0;
    let mut restarts = 0;
    let mut last_restart: Option<String> = None;
    let statuses = o
        .pointer("/status/containerStatuses")
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default();
    if !initializing {
        let mut has_running = false;
        for s in statuses.iter().rev() {
            restarts += int_at(s, "/restartCount");
            if let Some(finished) = s
                .pointer("/lastState/terminated/finishedAt")
                .and_then(Value::as_str)
                && last_restart.as_deref().is_none_or(|l| finished > l)
            {
                last_restart = Some(finished.to_string());
            }
            let waiting = str_at(s, "/state/waiting/reason");
            let terminated = str_at(s, "/state/terminated/reason");
            if !waiting.is_empty() {
                reason = waiting.to_string();
            } else if !terminated.is_empty() {
                reason = terminated.to_string();
            } else if let Some(t) = s.pointer("/state/terminated") {
                let signal = int_at(t, "/signal");
                reason = if signal != 0 {
                    format!("Signal:{signal}")
                } else {
                    format!("ExitCode:{}", int_at(t, "/exitCode"))
                };
            } else if s.get("ready").and_then(Value::as_bool) == Some(true)
                && s.pointer("/state/running").is_some()
            {
                has_running = true;
                ready += 1;
            } else if s.pointer("/state/running").is_some() {
                has_running = true;
            }
        }
        if reason == "Completed" && has_running {
            reason = "Running".into();
        }
    }
    if o.pointer("/metadata/deletionTimestamp").is_some() {
        reason = if str_at(o, "/status/reason") == "NodeLost" {
            "Unknown".into()
        } else {
            "Terminating".into()
        };
    }
    let restarts = match (restarts, last_restart) {
        (n, Some(at)) if n > 0 => format!("{n} ({} ago)", age_of(Some(&at))),
        (n, _) => n.to_string(),
    };
    vec![
        json!(str_at(o, "/metadata/name")),
        json!(format!("{ready}/{containers}")),
        json!(reason),
        json!(restarts),
        age(o),
        json!(or_none(str_at(o, "/status/podIP"))),
        json!(or_none(str_at(o, "/spec/nodeName"))),
        json!(or_none(str_at(o, "/status/nominatedNodeName"))),
        json!("<none>"),
    ]
}

fn node_row(o: &Value) -> Vec<Value> {
    let ready = o
        .pointer("/status/conditions")
        .and_then(Value::as_array)
        .and_then(|cs| cs.iter().find(|c| str_at(c, "/type") == "Ready"))
        .map(|c| str_at(c, "/status") == "True");
    let mut status = match ready {
        Some(true) => "Ready".to_string(),
        Some(false) => "NotReady".to_string(),
        None => "Unknown".to_string(),
    };
    if o.pointer("/spec/unschedulable").and_then(Value::as_bool) == Some(true) {
        status.push_str(",SchedulingDisabled");
    }
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
    let internal_ip = o
        .pointer("/status/addresses")
        .and_then(Value::as_array)
        .and_then(|a| a.iter().find(|x| str_at(x, "/type") == "InternalIP"))
        .map(|x| str_at(x, "/address").to_string())
        .unwrap_or_default();
    vec![
        json!(str_at(o, "/metadata/name")),
        json!(status),
        json!(or_none(&roles.join(","))),
        age(o),
        json!(str_at(o, "/status/nodeInfo/kubeletVersion")),
        json!(or_none(&internal_ip)),
        json!(str_at(o, "/status/nodeInfo/osImage")),
        json!(str_at(o, "/status/nodeInfo/kernelVersion")),
        json!(str_at(o, "/status/nodeInfo/containerRuntimeVersion")),
    ]
}

fn event_row(o: &Value) -> Vec<Value> {
    let last = ["/lastTimestamp", "/eventTime", "/firstTimestamp"]
        .iter()
        .filter_map(|p| o.pointer(p).and_then(Value::as_str))
        .find(|s| !s.is_empty());
    let object = format!(
        "{}/{}",
        str_at(o, "/involvedObject/kind").to_lowercase(),
        str_at(o, "/involvedObject/name")
    );
    let count = int_at(o, "/count");
    let seen = if count > 1 {
        format!(
            "{} (x{count} over {})",
            age_of(last),
            age_of(o.pointer("/firstTimestamp").and_then(Value::as_str))
        )
    } else {
        age_of(last)
    };
    vec![
        json!(seen),
        json!(str_at(o, "/type")),
        json!(str_at(o, "/reason")),
        json!(object),
        json!(str_at(o, "/message")),
    ]
}

fn service_row(o: &Value) -> Vec<Value> {
    let ports: Vec<String> = o
        .pointer("/spec/ports")
        .and_then(Value::as_array)
        .map(|ps| {
            ps.iter()
                .map(|p| {
                    let node = p
                        .get("nodePort")
                        .and_then(Value::as_i64)
                        .map(|n| format!(":{n}"))
                        .unwrap_or_default();
                    format!(
                        "{}{node}/{}",
                        int_at(p, "/port"),
                        p.get("protocol").and_then(Value::as_str).unwrap_or("TCP")
                    )
                })
                .collect()
        })
        .unwrap_or_default();
    let selector: Vec<String> = o
        .pointer("/spec/selector")
        .and_then(Value::as_object)
        .map(|m| {
            m.iter()
                .map(|(k, v)| format!("{k}={}", v.as_str().unwrap_or_default()))
                .collect()
        })
        .unwrap_or_default();
    let external = o
        .pointer("/status/loadBalancer/ingress")
        .and_then(Value::as_array)
        .map(|a| {
            a.iter()
                .filter_map(|i| {
                    i.get("ip")
                        .or_else(|| i.get("hostname"))
                        .and_then(Value::as_str)
                })
                .collect::<Vec<_>>()
                .join(",")
        })
        .filter(|s| !s.is_empty())
        .unwrap_or_else(|| {
            if str_at(o, "/spec/type") == "LoadBalancer" {
                "<pending>".into()
            } else {
                "<none>".into()
            }
        });
    vec![
        json!(str_at(o, "/metadata/name")),
        json!(
            o.pointer("/spec/type")
                .and_then(Value::as_str)
                .unwrap_or("ClusterIP")
        ),
        json!(or_none(str_at(o, "/spec/clusterIP"))),
        json!(external),
        json!(or_none(&ports.join(","))),
        age(o),
        json!(or_none(&selector.join(","))),
    ]
}
