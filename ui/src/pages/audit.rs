//! The audit log (`/console/w/{ws}/audit`): newest first, filters by actor and category, paged.

use dioxus::prelude::*;

use crate::app::{Badge, ErrorBox, Loading, ctx, optional};
use crate::backend::AuditFilter;
use crate::format;

const CATEGORIES: &[&str] = &[
    "membership",
    "workspace",
    "cluster",
    "session",
    "run",
    "approval",
    "mcp",
    "tool",
    "auth",
];

/// `/console/w/{ws}/audit`.
#[component]
pub fn Audit() -> Element {
    let c = ctx();
    let mut filter = use_signal(AuditFilter::default);
    let backend = c.backend.clone();
    let ws = c.ws();
    let page = use_resource(move || {
        let backend = backend.clone();
        let ws = ws.clone();
        let f = filter();
        async move { backend.audit(ws, f).await }
    });
    rsx! {
        h1 { "Audit log" }
        form { class: "inline panel", id: "audit-filter",
            onsubmit: move |evt: FormEvent| filter.set(AuditFilter { actor: optional(&evt, "actor"), category: optional(&evt, "category"), cursor: None }),
            label { "Actor id" input { name: "actor", placeholder: "usr_…" } }
            label { "Category"
                select { name: "category", option { value: "", "All" } for cat in CATEGORIES { option { value: "{cat}", "{cat}" } } }
            }
            button { r#type: "submit", "Filter" }
        }
        div { class: "panel",
            match &*page.read() {
                None => rsx! { Loading { what: "audit records" } },
                Some(Err(e)) => rsx! { ErrorBox { error: e.clone() } },
                Some(Ok(p)) if p.items.is_empty() => rsx! { div { class: "empty", "No record matches." } },
                Some(Ok(p)) => rsx! {
                    div { class: "table-wrap",
                        table { id: "audit-table",
                            thead { tr { th { "#" } th { "Time" } th { "Actor" } th { "Action" } th { "Target" } th { "Result" } } }
                            tbody {
                                for r in p.items.clone() {
                                    tr { key: "{r.seq}",
                                        td { "{r.seq}" } td { class: "small", {format::rfc3339(&r.at)} }
                                        td { "{r.actor}" } td { code { "{r.action}" } }
                                        td { class: "small", {r.target.clone().unwrap_or_default()} }
                                        td { Badge { text: if r.result == "success" { "ok".to_owned() } else { r.result.clone() } } }
                                    }
                                }
                            }
                        }
                    }
                    if let Some(next) = p.next_cursor.clone() {
                        button { class: "secondary", r#type: "button",
                            onclick: move |_| { let mut f = filter(); f.cursor = Some(next.clone()); filter.set(f) },
                            "Older records"
                        }
                    }
                },
            }
        }
    }
}
