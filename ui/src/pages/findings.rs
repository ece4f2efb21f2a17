//! The findings list (workspace overview and a cluster's page): what is wrong, the evidence
//! that proves it and what to do, newest and most severe first.

use acorn_proto::findings::{FindingState, FindingView, Severity};
use dioxus::prelude::*;

use crate::app::{Badge, ErrorBox, Loading, ctx};
use crate::format;
use crate::route::cluster_link;

fn sev(s: Severity) -> &'static str {
    match s {
        Severity::Critical => "critical",
        Severity::Warning => "warning",
        Severity::Info => "info",
    }
}

fn state(s: FindingState) -> &'static str {
    match s {
        FindingState::Active => "active",
        FindingState::Recovering => "recovering",
        FindingState::Resolved => "resolved",
    }
}

/// Findings of the workspace, or of one cluster.
#[component]
pub fn FindingsList(cluster: Option<String>) -> Element {
    let c = ctx();
    let backend = c.backend.clone();
    let ws = c.ws();
    let show_cluster = cluster.is_none();
    let list = use_resource(move || {
        let backend = backend.clone();
        let (ws, cluster) = (ws.clone(), cluster.clone());
        async move { backend.findings(ws, cluster).await }
    });
    let v = list.read().clone();
    match v {
        None => rsx! { Loading { what: "findings" } },
        Some(Err(e)) => rsx! { ErrorBox { error: e } },
        Some(Ok(items)) if items.is_empty() => rsx! {
            div { class: "empty", id: "findings-empty", "No findings: every rule passes on the current picture of the cluster (or the agent has not sent it yet)." }
        },
        Some(Ok(items)) => rsx! {
            ul { class: "plain", id: "findings",
                for f in items {
                    FindingItem { key: "{f.finding.id}", f, show_cluster }
                }
            }
        },
    }
}

#[component]
fn FindingItem(f: FindingView, show_cluster: bool) -> Element {
    let object = f.finding.primary().map(|o| o.display()).unwrap_or_default();
    let c = ctx();
    rsx! {
        li { "data-rule": "{f.finding.rule}",
            details {
                summary {
                    Badge { text: sev(f.finding.severity).to_owned() } " "
                    strong { "{f.finding.title}" } " "
                    span { class: "muted small", "{object}" }
                    if show_cluster {
                        " · " a { href: cluster_link(&c.ws(), &f.cluster_id), "{f.cluster_name}" }
                    }
                    " " span { class: "muted small", "{state(f.finding.state)}, since {format::unix(f.finding.first_seen)}" }
                    if f.finding.count > 1 { " " span { class: "badge", "×{f.finding.count}" } }
                }
                h3 { "Evidence" }
                ul {
                    for e in f.finding.evidence.clone() {
                        li { code { class: "small", "{e.source}" } pre { "{e.text}" } }
                    }
                }
                h3 { "What to do" }
                p { "{f.finding.remediation}" }
            }
        }
    }
}
