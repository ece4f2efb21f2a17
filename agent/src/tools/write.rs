//! The write tools: `restart_workload`, `scale_workload`, `delete_pod`, `cordon_node`,
//! `uncordon_node`, `patch_workload`. The gate in `mod.rs` has already checked the run mode and
//! that writes are enabled. Each tool takes typed arguments only (no patch documents, no exec),
//! reads the object first (so the answer can show before and after), then sends one merge patch
//! or delete — with `dryRun=All` when asked, in which case the API server validates and returns
//! the would-be object without persisting it. The answer is a unified diff of the fields the tool
//! touches.
//!
//! `patch_workload` replaces the pod template's container list as a whole, computed from the
//! object it read, and carries that object's `resourceVersion`: a concurrent change makes the
//! API server answer 409 instead of being silently overwritten, and list merging never depends
//! on strategic-merge support.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use acorn_proto::agent::ToolErrorCode;
use acorn_proto::tools::{
    DeletePodArgs, NodeArgs, PatchWorkloadArgs, RestartWorkloadArgs, ScaleWorkloadArgs,
    WorkloadKind,
};
use kube::api::{DeleteParams, Patch, PatchParams};
use serde_json::{Map, Value, json};
use similar::{Algorithm, udiff::unified_diff};
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

use super::kinds::{self, KindInfo};
use super::render::{self, LAST_APPLIED, s};
use super::{Content, Ctx, Failure};

/// The annotation `kubectl rollout restart` sets on the pod template.
const RESTARTED_AT: &str = "kubectl.kubernetes.io/restartedAt";
/// The field manager named in the objects' managedFields.
const FIELD_MANAGER: &str = "acorn-agent";

fn kind_info(kind: &str) -> Result<KindInfo, Failure> {
    kinds::builtin(kind).ok_or_else(|| {
        Failure::new(
            ToolErrorCode::ToolKubernetesError,
            format!("{kind} is missing from the agent's kind table"),
        )
    })
}

fn to_value(obj: kube::api::DynamicObject) -> Value {
    serde_json::to_value(obj).unwrap_or(Value::Null)
}

async fn read(
    kind: &KindInfo,
    ctx: &Ctx<'_>,
    ns: Option<&str>,
    name: &str,
) -> Result<Value, Failure> {
    Ok(to_value(kind.api(ctx.client, ns).get(name).await?))
}

async fn merge_patch(
    kind: &KindInfo,
    ctx: &Ctx<'_>,
    ns: Option<&str>,
    name: &str,
    patch: &Value,
    dry_run: bool,
) -> Result<Value, Failure> {
    let params = PatchParams {
        dry_run,
        field_manager: Some(FIELD_MANAGER.into()),
        ..PatchParams::default()
    };
    let obj = kind
        .api(ctx.client, ns)
        .patch(name, &params, &Patch::Merge(patch))
        .await?;
    Ok(to_value(obj))
}

/// The answer of a write tool: what happened (or would), and the diff of the touched fields.
fn report(
    what: &str,
    dry_run: bool,
    before: &Value,
    after: &Value,
    note: &str,
) -> Result<Content, Failure> {
    let before_yaml = render::yaml(before)?;
    let after_yaml = render::yaml(after)?;
    let mut out = String::new();
    if before_yaml == after_yaml {
        let _ = writeln!(out, "No change: {what} already has this state.");
    } else if dry_run {
        let _ = writeln!(
            out,
            "Dry run (dryRun=All): the API server accepted this change to {what} and did not persist it; nothing changed."
        );
    } else {
        let _ = writeln!(out, "Changed {what}.");
    }
    if !note.is_empty() {
        out.push_str(note);
        out.push('\n');
    }
    if before_yaml != after_yaml {
        out.push('\n');
        out.push_str(&unified_diff(
            Algorithm::Myers,
            &before_yaml,
            &after_yaml,
            3,
            Some(("before", "after")),
        ));
    }
    Ok(Content::head(out, render::Bounds::new(None, None)))
}

fn at(v: &Value, pointer: &str) -> Value {
    v.pointer(pointer).cloned().unwrap_or(Value::Null)
}

fn workload_name(kind: WorkloadKind, ns: &str, name: &str) -> String {
    format!("{} {ns}/{name}", kind.as_str())
}

// ---------------------------------------------------------------- restart_workload

pub async fn restart(ctx: &Ctx<'_>, args: RestartWorkloadArgs) -> Result<Content, Failure> {
    ctx.check_namespace(&args.namespace)?;
    let kind = kind_info(args.kind.as_str())?;
    let ns = Some(args.namespace.as_str());
    let before = read(&kind, ctx, ns, &args.name).await?;
    let now = OffsetDateTime::now_utc()
        .replace_nanosecond(0)
        .unwrap_or_else(|_| OffsetDateTime::now_utc())
        .format(&Rfc3339)
        .map_err(|e| Failure::new(ToolErrorCode::ToolKubernetesError, e.to_string()))?;
    let patch = json!({"spec": {"template": {"metadata": {"annotations": {RESTARTED_AT: now}}}}});
    let after = merge_patch(&kind, ctx, ns, &args.name, &patch, args.dry_run).await?;
    let view = |o: &Value| json!({"spec": {"template": {"metadata": {"annotations": at(o, "/spec/template/metadata/annotations")}}}});
    let note = if args.dry_run {
        ""
    } else {
        "The controller replaces the pods following the workload's update strategy."
    };
    report(
        &workload_name(args.kind, &args.namespace, &args.name),
        args.dry_run,
        &view(&before),
        &view(&after),
        note,
    )
}

// ---------------------------------------------------------------- scale_workload

pub async fn scale(ctx: &Ctx<'_>, args: ScaleWorkloadArgs) -> Result<Content, Failure> {
    if args.replicas == 0 && !args.allow_scale_to_zero {
        return Err(Failure::invalid(
            "field `replicas`: 0 stops the workload; set allow_scale_to_zero: true to scale to zero",
        ));
    }
    ctx.check_namespace(&args.namespace)?;
    let workload = args.kind.workload();
    let kind = kind_info(workload.as_str())?;
    let ns = Some(args.namespace.as_str());
    let before = read(&kind, ctx, ns, &args.name).await?;
    let patch = json!({"spec": {"replicas": args.replicas}});
    let after = merge_patch(&kind, ctx, ns, &args.name, &patch, args.dry_run).await?;
    let view = |o: &Value| json!({"spec": {"replicas": at(o, "/spec/replicas")}});
    report(
        &workload_name(workload, &args.namespace, &args.name),
        args.dry_run,
        &view(&before),
        &view(&after),
        "",
    )
}

// ---------------------------------------------------------------- delete_pod

pub async fn delete_pod(ctx: &Ctx<'_>, args: DeletePodArgs) -> Result<Content, Failure> {
    ctx.check_namespace(&args.namespace)?;
    let kind = kind_info("Pod")?;
    let ns = Some(args.namespace.as_str());
    let before = read(&kind, ctx, ns, &args.name).await?;
    let params = DeleteParams {
        dry_run: args.dry_run,
        grace_period_seconds: args.grace_period_seconds,
        ..DeleteParams::default()
    };
    kind.api(ctx.client, ns).delete(&args.name, &params).await?;
    let view = json!({
        "pod": format!("{}/{}", args.namespace, args.name),
        "phase": at(&before, "/status/phase"),
        "node": at(&before, "/spec/nodeName"),
    });
    let controller = before
        .pointer("/metadata/ownerReferences")
        .and_then(Value::as_array)
        .and_then(|refs| {
            refs.iter()
                .find(|r| r.get("controller").and_then(Value::as_bool) == Some(true))
        })
        .map(|r| {
            format!(
                "{}/{}",
                s(r, "/kind").unwrap_or("?"),
                s(r, "/name").unwrap_or("?")
            )
        });
    let note = match controller {
        Some(c) => format!("Its controller {c} creates a replacement pod."),
        None => "It has no controller: nothing will recreate it.".to_string(),
    };
    report(
        &format!("Pod {}/{} (deleted)", args.namespace, args.name),
        args.dry_run,
        &view,
        &Value::Null,
        &note,
    )
}

// ---------------------------------------------------------------- cordon / uncordon

pub async fn cordon(
    ctx: &Ctx<'_>,
    args: NodeArgs,
    unschedulable: bool,
) -> Result<Content, Failure> {
    let kind = kind_info("Node")?;
    let before = read(&kind, ctx, None, &args.name).await?;
    // `kubectl uncordon` removes the field rather than setting false.
    let value = if unschedulable {
        Value::Bool(true)
    } else {
        Value::Null
    };
    let patch = json!({"spec": {"unschedulable": value}});
    let after = merge_patch(&kind, ctx, None, &args.name, &patch, args.dry_run).await?;
    let view = |o: &Value| json!({"spec": {"unschedulable": o.pointer("/spec/unschedulable").and_then(Value::as_bool).unwrap_or(false)}});
    let note = if unschedulable && !args.dry_run {
        "New pods are not scheduled there; running pods stay (draining is not part of cordon)."
    } else {
        ""
    };
    report(
        &format!("Node {}", args.name),
        args.dry_run,
        &view(&before),
        &view(&after),
        note,
    )
}

// ---------------------------------------------------------------- patch_workload

/// Environment variable names that look like credentials: Acorn never sets those.
fn looks_secret(name: &str) -> bool {
    let upper = name.to_ascii_uppercase();
    const WORDS: &[&str] = &[
        "PASS",
        "SECRET",
        "TOKEN",
        "CREDENTIAL",
        "APIKEY",
        "API_KEY",
        "PRIVATE_KEY",
        "ACCESS_KEY",
        "AUTH",
        "CERT",
        "DSN",
    ];
    if WORDS.iter().any(|w| upper.contains(w)) {
        return true;
    }
    // `KEY` as a word of its own (`SIGNING_KEY`, `KEY`), not inside one (`KEYSPACE`).
    upper
        .split(|c: char| !c.is_ascii_alphanumeric())
        .any(|w| w == "KEY" || w == "PWD")
}

fn check_quantity(field: &str, name: &str, value: &str) -> Result<(), Failure> {
    if render::quantity(value).is_none() {
        return Err(Failure::invalid(format!(
            "field `resources.{field}.{name}`: {value:?} is not a Kubernetes quantity (examples: 500m, 2, 512Mi, 1Gi)"
        )));
    }
    Ok(())
}

pub async fn patch_workload(ctx: &Ctx<'_>, args: PatchWorkloadArgs) -> Result<Content, Failure> {
    let touches_container =
        args.image.is_some() || args.resources.is_some() || !args.env.is_empty();
    if !touches_container && args.labels.is_empty() && args.annotations.is_empty() {
        return Err(Failure::invalid(
            "nothing to change: give image, resources, env, labels or annotations",
        ));
    }
    if let Some(image) = &args.image
        && (image.is_empty() || image.contains(char::is_whitespace))
    {
        return Err(Failure::invalid(
            "field `image`: must be a non-empty image reference",
        ));
    }
    if let Some(res) = &args.resources {
        for (field, map) in [("requests", &res.requests), ("limits", &res.limits)] {
            for (name, value) in map {
                check_quantity(field, name, value)?;
            }
        }
    }
    for (n, var) in args.env.iter().enumerate() {
        if var.name.is_empty() {
            return Err(Failure::invalid(format!(
                "field `env[{n}].name`: must not be empty"
            )));
        }
        if looks_secret(&var.name) {
            return Err(Failure::invalid(format!(
                "field `env[{n}].name`: {:?} looks like a credential; Acorn does not set secrets (use a Secret and secretKeyRef yourself)",
                var.name
            )));
        }
    }
    if args.annotations.contains_key(LAST_APPLIED) {
        return Err(Failure::invalid(format!(
            "field `annotations`: {LAST_APPLIED} is kubectl's and cannot be set"
        )));
    }
    ctx.check_namespace(&args.namespace)?;
    let kind = kind_info(args.kind.as_str())?;
    let ns = Some(args.namespace.as_str());
    let before = read(&kind, ctx, ns, &args.name).await?;

    let mut patch = Map::new();
    let mut metadata = Map::new();
    if let Some(rv) = s(&before, "/metadata/resourceVersion") {
        metadata.insert("resourceVersion".into(), Value::String(rv.into()));
    }
    let to_patch = |m: &BTreeMap<String, Option<String>>| -> Value {
        Value::Object(
            m.iter()
                .map(|(k, v)| (k.clone(), v.clone().map_or(Value::Null, Value::String)))
                .collect(),
        )
    };
    if !args.labels.is_empty() {
        metadata.insert("labels".into(), to_patch(&args.labels));
    }
    if !args.annotations.is_empty() {
        metadata.insert("annotations".into(), to_patch(&args.annotations));
    }
    patch.insert("metadata".into(), Value::Object(metadata));

    let mut target: Option<String> = None;
    if touches_container {
        let mut containers: Vec<Value> = before
            .pointer("/spec/template/spec/containers")
            .and_then(Value::as_array)
            .cloned()
            .unwrap_or_default();
        let names: Vec<String> = containers
            .iter()
            .filter_map(|c| s(c, "/name").map(str::to_string))
            .collect();
        let index = match &args.container {
            Some(want) => names.iter().position(|n| n == want).ok_or_else(|| {
                Failure::invalid(format!(
                    "field `container`: {want:?} is not a container of {} (containers: {})",
                    args.name,
                    names.join(", ")
                ))
            })?,
            None if names.len() == 1 => 0,
            None => {
                return Err(Failure::invalid(format!(
                    "field `container`: {} has several containers, say which one ({})",
                    args.name,
                    names.join(", ")
                )));
            }
        };
        target = names.get(index).cloned();
        let Some(container) = containers.get_mut(index).and_then(Value::as_object_mut) else {
            return Err(Failure::invalid(
                "field `container`: the container is not an object",
            ));
        };
        if let Some(image) = &args.image {
            container.insert("image".into(), Value::String(image.clone()));
        }
        if let Some(res) = &args.resources {
            let resources = container
                .entry("resources")
                .or_insert_with(|| Value::Object(Map::new()));
            for (field, map) in [("requests", &res.requests), ("limits", &res.limits)] {
                if map.is_empty() {
                    continue;
                }
                if let Some(r) = resources.as_object_mut() {
                    let section = r.entry(field).or_insert_with(|| Value::Object(Map::new()));
                    if let Some(section) = section.as_object_mut() {
                        for (k, v) in map {
                            section.insert(k.clone(), Value::String(v.clone()));
                        }
                    }
                }
            }
        }
        if !args.env.is_empty() {
            let env = container
                .entry("env")
                .or_insert_with(|| Value::Array(Vec::new()));
            let Some(env) = env.as_array_mut() else {
                return Err(Failure::invalid(
                    "field `env`: the container's env is not a list",
                ));
            };
            for (n, var) in args.env.iter().enumerate() {
                let existing = env
                    .iter_mut()
                    .find(|e| s(e, "/name") == Some(var.name.as_str()));
                match existing {
                    Some(e) if e.pointer("/valueFrom/secretKeyRef").is_some() => {
                        return Err(Failure::invalid(format!(
                            "field `env[{n}]`: {:?} comes from a Secret; Acorn does not replace secret references",
                            var.name
                        )));
                    }
                    Some(e) => *e = json!({"name": var.name, "value": var.value}),
                    None => env.push(json!({"name": var.name, "value": var.value})),
                }
            }
        }
        patch.insert(
            "spec".into(),
            json!({"template": {"spec": {"containers": containers}}}),
        );
    }
    let after = merge_patch(
        &kind,
        ctx,
        ns,
        &args.name,
        &Value::Object(patch),
        args.dry_run,
    )
    .await?;
    let view = |o: &Value| {
        let mut annotations = at(o, "/metadata/annotations");
        if let Some(a) = annotations.as_object_mut() {
            a.remove(LAST_APPLIED);
        }
        let mut v =
            json!({"metadata": {"labels": at(o, "/metadata/labels"), "annotations": annotations}});
        if let Some(name) = &target {
            let container = o
                .pointer("/spec/template/spec/containers")
                .and_then(Value::as_array)
                .and_then(|cs| cs.iter().find(|c| s(c, "/name") == Some(name.as_str())))
                .map(|c| {
                    json!({"name": name, "image": at(c, "/image"), "resources": at(c, "/resources"), "env": at(c, "/env")})
                })
                .unwrap_or(Value::Null);
            v["container"] = container;
        }
        v
    };
    let note = if touches_container && !args.dry_run {
        "The pod template changed: the controller rolls the pods out."
    } else {
        ""
    };
    report(
        &workload_name(args.kind, &args.namespace, &args.name),
        args.dry_run,
        &view(&before),
        &view(&after),
        note,
    )
}

#[cfg(test)]
mod tests {
    use super::looks_secret;

    #[test]
    fn credential_names_are_recognised() {
        for name in [
            "DB_PASSWORD",
            "GITHUB_TOKEN",
            "aws_secret_access_key",
            "API_KEY",
            "SIGNING_KEY",
            "ApiKey",
            "SENTRY_DSN",
            "PGPASS",
        ] {
            assert!(looks_secret(name), "{name}");
        }
        for name in ["LOG_LEVEL", "MAX_CONNECTIONS", "KEYSPACE", "LISTEN_ADDR"] {
            assert!(!looks_secret(name), "{name}");
        }
    }
}
