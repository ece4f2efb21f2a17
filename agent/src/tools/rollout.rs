//! `rollout_history`: what `kubectl rollout history` shows, with the images of each revision.
//! A Deployment's revisions are its ReplicaSets (annotation `deployment.kubernetes.io/revision`);
//! a StatefulSet's and a DaemonSet's are ControllerRevisions (field `revision`, the pod template
//! in `data`). Revisions are matched to the workload by owner uid, not by name prefix.

use std::fmt::Write as _;

use acorn_proto::tools::{RolloutHistoryArgs, WorkloadKind};
use kube::api::ListParams;
use serde_json::Value;

use super::kinds::{self, KindInfo};
use super::read::list_in_view;
use super::render::{Bounds, Keep, Table, age, i, s, s_or_none};
use super::{Content, Ctx, Failure};

const REVISION_ANNOTATION: &str = "deployment.kubernetes.io/revision";
const CHANGE_CAUSE: &str = "kubernetes.io/change-cause";

fn kind_info(kind: &str) -> Result<KindInfo, Failure> {
    kinds::builtin(kind).ok_or_else(|| {
        Failure::new(
            acorn_proto::agent::ToolErrorCode::ToolKubernetesError,
            format!("{kind} is missing from the agent's kind table"),
        )
    })
}

fn images(containers: Option<&Value>) -> String {
    let images: Vec<&str> = containers
        .and_then(Value::as_array)
        .map(|cs| cs.iter().filter_map(|c| s(c, "/image")).collect())
        .unwrap_or_default();
    if images.is_empty() {
        "<none>".into()
    } else {
        images.join(",")
    }
}

fn owned_by(obj: &Value, uid: Option<&str>, kind: &str, name: &str) -> bool {
    obj.pointer("/metadata/ownerReferences")
        .and_then(Value::as_array)
        .is_some_and(|refs| {
            refs.iter().any(|r| match (uid, s(r, "/uid")) {
                (Some(want), Some(got)) => want == got,
                _ => s(r, "/kind") == Some(kind) && s(r, "/name") == Some(name),
            })
        })
}

fn selector_of(workload: &Value) -> Option<String> {
    let labels = workload
        .pointer("/spec/selector/matchLabels")?
        .as_object()?;
    Some(
        labels
            .iter()
            .map(|(k, v)| format!("{k}={}", v.as_str().unwrap_or_default()))
            .collect::<Vec<_>>()
            .join(","),
    )
}

pub async fn history(ctx: &Ctx<'_>, args: RolloutHistoryArgs) -> Result<Content, Failure> {
    ctx.check_namespace(&args.namespace)?;
    let kind_name = args.kind.as_str();
    let workload_kind = kind_info(kind_name)?;
    let workload = workload_kind
        .api(ctx.client, Some(&args.namespace))
        .get(&args.name)
        .await?;
    let workload = serde_json::to_value(workload).unwrap_or(Value::Null);
    let uid = s(&workload, "/metadata/uid");
    let params = ListParams {
        label_selector: selector_of(&workload),
        ..ListParams::default()
    };
    let revisions_kind = match args.kind {
        WorkloadKind::Deployment => kind_info("ReplicaSet")?,
        WorkloadKind::StatefulSet | WorkloadKind::DaemonSet => kind_info("ControllerRevision")?,
    };
    let (items, _) =
        list_in_view(ctx, &revisions_kind, Some(&args.namespace), &params, 5_000).await?;
    let mut owned: Vec<&Value> = items
        .iter()
        .filter(|o| owned_by(o, uid, kind_name, &args.name))
        .collect();
    let revision_of = |o: &Value| -> i64 {
        match args.kind {
            WorkloadKind::Deployment => s(
                o,
                &format!(
                    "/metadata/annotations/{}",
                    REVISION_ANNOTATION.replace('/', "~1")
                ),
            )
            .and_then(|r| r.parse().ok())
            .unwrap_or(0),
            _ => i(o, "/revision"),
        }
    };
    owned.sort_by_key(|o| revision_of(o));
    let mut out = format!("{kind_name} {}/{}\n", args.namespace, args.name);
    if owned.is_empty() {
        out.push_str("No revisions found.\n");
        return Ok(Content::head(out, Bounds::new(args.max_lines, None)));
    }
    let newest = owned.last().map(|o| revision_of(o)).unwrap_or(0);
    let current_sts = s(&workload, "/status/currentRevision");
    let update_sts = s(&workload, "/status/updateRevision");
    let mut table = match args.kind {
        WorkloadKind::Deployment => Table::new(&[
            "REVISION",
            "REPLICASET",
            "IMAGES",
            "PODS",
            "CREATED",
            "CHANGE-CAUSE",
        ]),
        _ => Table::new(&[
            "REVISION",
            "CONTROLLERREVISION",
            "IMAGES",
            "CREATED",
            "CHANGE-CAUSE",
        ]),
    };
    for o in &owned {
        let rev = revision_of(o);
        let name = s_or_none(o, "/metadata/name");
        let mut rev_cell = rev.to_string();
        let marker = match args.kind {
            WorkloadKind::Deployment | WorkloadKind::DaemonSet if rev == newest => " (current)",
            WorkloadKind::StatefulSet
                if Some(name.as_str()) == update_sts && update_sts != current_sts =>
            {
                " (updating to)"
            }
            WorkloadKind::StatefulSet if Some(name.as_str()) == current_sts => " (current)",
            _ => "",
        };
        rev_cell.push_str(marker);
        let change_cause = s(
            o,
            &format!("/metadata/annotations/{}", CHANGE_CAUSE.replace('/', "~1")),
        )
        .unwrap_or("<none>")
        .to_string();
        let created = age(s(o, "/metadata/creationTimestamp"));
        match args.kind {
            WorkloadKind::Deployment => table.row(vec![
                rev_cell,
                name,
                images(o.pointer("/spec/template/spec/containers")),
                format!(
                    "{}/{}",
                    i(o, "/status/readyReplicas"),
                    i(o, "/spec/replicas")
                ),
                created,
                change_cause,
            ]),
            _ => table.row(vec![
                rev_cell,
                name,
                images(o.pointer("/data/spec/template/spec/containers")),
                created,
                change_cause,
            ]),
        }
    }
    out.push_str(&table.render());
    if args.kind == WorkloadKind::StatefulSet && update_sts.is_some() && update_sts != current_sts {
        let _ = writeln!(
            out,
            "A rollout is in progress: {} updated of {} replicas.",
            i(&workload, "/status/updatedReplicas"),
            i(&workload, "/spec/replicas")
        );
    }
    Ok(Content {
        text: out,
        bounds: Bounds::new(args.max_lines, None),
        keep: Keep::Head,
        truncated: false,
    })
}
