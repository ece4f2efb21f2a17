//! The audit log (`/console/w/{ws}/audit`): oldest first (the chain's order), filters by actor,
//! category and date range, paged; a link to the REST export (the records the filters match,
//! or all of them, as JSON lines, the one format `GET …/audit/export` has) and a button that
//! checks the hash chain through the same service as `GET …/audit/verify`, showing whether it
//! is intact or where it breaks.

use acorn_proto::identity::AuditChainView;
use dioxus::prelude::*;

use crate::app::{Badge, ErrorBox, Loading, ctx, field, optional};
use crate::backend::{AuditFilter, UiError};
use crate::format;
use crate::route::percent_encode;

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

/// A date input's value (`YYYY-MM-DD`, UTC) as the API's RFC 3339 bound: the day's start, or
/// for the end of the range the next day's start (so the "to" day is included). Anything else
/// goes to the API as typed, which refuses it with its message.
pub fn day_bound(value: &str, end: bool) -> Option<String> {
    let v = value.trim();
    if v.is_empty() {
        return None;
    }
    let day = (|| {
        let mut p = v.splitn(3, '-');
        let (y, m, d) = (p.next()?, p.next()?, p.next()?);
        if y.len() != 4 || m.len() != 2 || d.len() != 2 {
            return None;
        }
        let month = time::Month::try_from(m.parse::<u8>().ok()?).ok()?;
        let date = time::Date::from_calendar_date(y.parse().ok()?, month, d.parse().ok()?).ok()?;
        if end { date.next_day() } else { Some(date) }
    })();
    Some(match day {
        Some(d) => format!(
            "{:04}-{:02}-{:02}T00:00:00Z",
            d.year(),
            u8::from(d.month()),
            d.day()
        ),
        None => v.to_owned(),
    })
}

/// The REST export with the page's filters (the same names as the list's).
fn export_link(ws: &str, f: &AuditFilter) -> String {
    let params: Vec<String> = [
        ("actor", &f.actor),
        ("category", &f.category),
        ("since", &f.since),
        ("until", &f.until),
    ]
    .into_iter()
    .filter_map(|(k, v)| v.as_ref().map(|v| format!("{k}={}", percent_encode(v))))
    .collect();
    let base = format!("/api/v1/workspaces/{ws}/audit/export");
    match params.is_empty() {
        true => base,
        false => format!("{base}?{}", params.join("&")),
    }
}

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
    let export = export_link(&c.ws(), &filter());
    let download = format!("audit-{}.jsonl", c.ws());
    rsx! {
        h1 { "Audit log" }
        form { class: "inline panel", id: "audit-filter",
            onsubmit: move |evt: FormEvent| filter.set(AuditFilter {
                actor: optional(&evt, "actor"),
                category: optional(&evt, "category"),
                cursor: None,
                since: day_bound(&field(&evt, "since"), false),
                until: day_bound(&field(&evt, "until"), true),
            }),
            label { "Actor id" input { name: "actor", placeholder: "usr_…" } }
            label { "Category"
                select { name: "category", option { value: "", "All" } for cat in CATEGORIES { option { value: "{cat}", "{cat}" } } }
            }
            label { "From" input { name: "since", id: "audit-since", r#type: "date" } }
            label { "To" input { name: "until", id: "audit-until", r#type: "date" } }
            button { r#type: "submit", "Filter" }
        }
        div { class: "panel row", id: "audit-tools",
            a { class: "button secondary", id: "audit-export", href: "{export}", download: "{download}",
                if filter() == AuditFilter::default() { "Export all records (JSON lines)" } else { "Export the matching records (JSON lines)" } }
            VerifyChain {}
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

/// The "verify the chain" button and its result.
#[component]
fn VerifyChain() -> Element {
    let c = ctx();
    let mut busy = use_signal(|| false);
    let mut result = use_signal(|| None::<Result<AuditChainView, UiError>>);
    let backend = c.backend.clone();
    let ws = c.ws();
    rsx! {
        button { r#type: "button", class: "secondary", id: "audit-verify", disabled: busy(),
            onclick: move |_| {
                if busy() { return; }
                busy.set(true);
                let backend = backend.clone();
                let ws = ws.clone();
                spawn(async move {
                    result.set(Some(backend.verify_audit(ws).await));
                    busy.set(false);
                });
            },
            if busy() { "Verifying…" } else { "Verify the chain" }
        }
        if busy() { span { class: "spinner" } }
        match result() {
            None => rsx! {},
            Some(Err(e)) => rsx! { ErrorBox { error: e } },
            Some(Ok(v)) if v.intact => rsx! {
                span { id: "audit-chain", class: "badge ok", role: "status", "data-intact": "true",
                    "Chain intact: {v.records} records checked" }
            },
            Some(Ok(v)) => rsx! {
                span { id: "audit-chain", class: "error", role: "alert", "data-intact": "false",
                    "Chain broken at record #{v.first_broken_seq.unwrap_or_default()} ({v.records} records checked): "
                    {v.reason.clone().unwrap_or_default()}
                }
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::day_bound;

    #[test]
    fn dates_become_rfc3339_day_bounds() {
        let cases = [
            ("2026-11-27", false, Some("2026-11-27T00:00:00Z")),
            ("2026-11-27", true, Some("2026-11-28T00:00:00Z")),
            ("2026-12-31", true, Some("2027-01-01T00:00:00Z")),
            ("2024-02-28", true, Some("2024-02-29T00:00:00Z")),
            ("1970-01-01", false, Some("1970-01-01T00:00:00Z")),
            ("", false, None),
            // Not a date: passed on for the API to refuse with its message.
            ("2026-02-30", false, Some("2026-02-30")),
            ("yesterday", true, Some("yesterday")),
        ];
        for (value, end, want) in cases {
            assert_eq!(day_bound(value, end).as_deref(), want, "{value} {end}");
        }
    }
}
