//! Run search (`/console/search?q=…`): the tantivy index through the search service, over every
//! workspace the caller may read, with highlighted snippets and filters (workspace, cluster, run
//! state, time range); each hit opens its session.
//!
//! The filters live in the page's URL query (`q`, `workspace`, `cluster`, `state`, `range` =
//! `24h`/`7d`/`30d`, `from`/`to` dates): the page starts from them, and each search writes them
//! back with `history.replaceState` (`data-url`, see `console.js`), so a filtered search can be
//! bookmarked and survives a reconnect. A preset range is relative to when the search runs
//! (a bookmark of "last 7 days" means the last 7 days when it is opened); dates are UTC days,
//! `to` included.

use acorn_proto::runs::SearchHit;
use dioxus::prelude::*;

use crate::app::{ErrorBox, Loading, ctx, field};
use crate::backend::SearchQuery;
use crate::format;
use crate::route::{percent_encode, query_param, ws_link};

/// Time-range presets: URL value, label, seconds back from now.
const RANGES: &[(&str, &str, i64)] = &[
    ("24h", "Last 24 hours", 86_400),
    ("7d", "Last 7 days", 7 * 86_400),
    ("30d", "Last 30 days", 30 * 86_400),
];

/// The search page's filters, as in its URL query.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Filters {
    pub q: String,
    pub workspace: String,
    pub cluster: String,
    pub state: String,
    /// A preset of [`RANGES`], or empty (then `from`/`to` apply).
    pub range: String,
    /// `YYYY-MM-DD` (UTC), inclusive.
    pub from: String,
    /// `YYYY-MM-DD` (UTC), inclusive.
    pub to: String,
}

impl Filters {
    /// Reads the filters from a query string (without `?`).
    pub fn from_query(query: &str) -> Filters {
        let get = |name: &str| query_param(query, name).unwrap_or_default();
        Filters {
            q: get("q"),
            workspace: get("workspace"),
            cluster: get("cluster"),
            state: get("state"),
            range: get("range"),
            from: get("from"),
            to: get("to"),
        }
    }

    /// The filters as a query string (empty ones left out).
    pub fn to_query(&self) -> String {
        [
            ("q", &self.q),
            ("workspace", &self.workspace),
            ("cluster", &self.cluster),
            ("state", &self.state),
            ("range", &self.range),
            ("from", &self.from),
            ("to", &self.to),
        ]
        .iter()
        .filter(|(_, v)| !v.is_empty())
        .map(|(k, v)| format!("{k}={}", percent_encode(v)))
        .collect::<Vec<_>>()
        .join("&")
    }

    /// The console URL of this search.
    pub fn url(&self) -> String {
        let q = self.to_query();
        if q.is_empty() {
            "/console/search".to_owned()
        } else {
            format!("/console/search?{q}")
        }
    }

    /// What the search service is asked, at `now` (unix seconds) for a preset range. Dates go
    /// to the API as they are: it parses and checks them, and its refusal is what is shown.
    pub fn search_query(&self, now: i64) -> SearchQuery {
        let some = |s: &str| (!s.trim().is_empty()).then(|| s.trim().to_owned());
        let preset = RANGES.iter().find(|(v, _, _)| *v == self.range);
        let (from, to) = match preset {
            Some((_, _, secs)) => (Some((now - secs).to_string()), None),
            None => (some(&self.from), some(&self.to)),
        };
        SearchQuery {
            q: self.q.clone(),
            workspace_id: some(&self.workspace),
            cluster_id: some(&self.cluster),
            state: some(&self.state),
            limit: 50,
            from,
            to,
        }
    }
}

/// `/console/search`.
#[component]
pub fn Search(q: String) -> Element {
    let c = ctx();
    let query_string = c.path.split_once('?').map(|(_, q)| q).unwrap_or("");
    let mut initial = Filters::from_query(query_string);
    if initial.q.is_empty() {
        initial.q = q;
    }
    let mut filters = use_signal(|| initial);
    let backend = c.backend.clone();
    let results = use_resource(move || {
        let backend = backend.clone();
        let f = filters();
        async move { backend.search(f.search_query(format::now())).await }
    });
    // Clusters of every workspace the user sees, for the cluster filter (a workspace whose
    // clusters the role may not list just contributes none).
    let backend = c.backend.clone();
    let workspaces = c.me.workspaces.clone();
    let many = workspaces.len() > 1;
    let clusters = use_resource(move || {
        let backend = backend.clone();
        let workspaces = workspaces.clone();
        async move {
            let mut all = Vec::new();
            for w in workspaces {
                if let Ok(list) = backend.clusters(w.id.clone()).await {
                    for cl in list {
                        let label = if many {
                            format!("{} / {}", w.name, cl.name)
                        } else {
                            cl.name.clone()
                        };
                        all.push((cl.id, label));
                    }
                }
            }
            all
        }
    });
    let cluster_options = clusters.read().clone().unwrap_or_default();
    let workspaces = c.me.workspaces.clone();
    // The form starts at the filters in force (`initial_*`: written only when they change,
    // never over what the user is editing; see ARCHITECTURE.md, `ui/`).
    let current = filters();
    let f0 = current.clone();
    rsx! {
        h1 { "Search runs" }
        // Keeps the address bar in step with the filters (console.js).
        span { hidden: true, id: "search-url", "data-url": "{current.url()}" }
        form { class: "inline panel", id: "search-form", role: "search",
            onsubmit: move |evt: FormEvent| {
                filters.set(Filters {
                    q: field(&evt, "q"),
                    workspace: field(&evt, "workspace"),
                    cluster: field(&evt, "cluster"),
                    state: field(&evt, "state"),
                    range: field(&evt, "range"),
                    from: field(&evt, "from"),
                    to: field(&evt, "to"),
                });
            },
            label { "Query" input { name: "q", id: "search-q", initial_value: "{f0.q}", placeholder: "crashloop OR oom", r#type: "search" } }
            label { "Workspace"
                select { name: "workspace", id: "search-workspace",
                    option { value: "", "All" }
                    for w in workspaces { option { value: "{w.id}", initial_selected: f0.workspace == w.id, "{w.name}" } }
                }
            }
            label { "Cluster"
                select { name: "cluster", id: "search-cluster",
                    option { value: "", "All" }
                    for (id, label) in cluster_options { option { value: "{id}", initial_selected: f0.cluster == id, "{label}" } }
                }
            }
            label { "Run state"
                select { name: "state", id: "search-state",
                    option { value: "", "Any" }
                    for s in ["completed", "failed", "cancelled", "timed_out", "running", "waiting_for_approval"] { option { value: "{s}", initial_selected: f0.state == s, "{s}" } }
                }
            }
            label { "Time"
                select { name: "range", id: "search-range",
                    option { value: "", "Any time or the dates" }
                    for (v, label, _) in RANGES { option { value: "{v}", initial_selected: f0.range == *v, "{label}" } }
                }
            }
            label { "From" input { name: "from", id: "search-from", r#type: "date", initial_value: "{f0.from}" } }
            label { "To" input { name: "to", id: "search-to", r#type: "date", initial_value: "{f0.to}" } }
            button { r#type: "submit", "Search" }
        }
        div { class: "panel",
            match &*results.read() {
                None => rsx! { Loading { what: "results" } },
                Some(Err(e)) => rsx! { ErrorBox { error: e.clone() } },
                Some(Ok(r)) => rsx! {
                    if r.index != "ready" {
                        div { class: "notice", role: "status", span { class: "spinner" } " The search index is rebuilding; results may be incomplete." }
                    }
                    p { class: "muted", id: "search-total", "{r.total} matching events" }
                    if r.hits.is_empty() {
                        div { class: "empty", "Nothing found. Try fewer words, or a word from the question or the answer." }
                    }
                    ul { class: "plain", id: "search-hits",
                        for h in r.hits.clone() { Hit { key: "{h.run_id}-{h.seq}", h } }
                    }
                },
            }
        }
    }
}

/// The snippet cut into plain and highlighted parts (byte ranges from the index; anything that
/// is not on a character boundary is shown unhighlighted rather than split).
pub fn highlight(snippet: &str, ranges: &[[usize; 2]]) -> Vec<(String, bool)> {
    let mut out = Vec::new();
    let mut at = 0;
    let mut ranges = ranges.to_vec();
    ranges.sort();
    for [start, end] in ranges {
        if start < at
            || end <= start
            || !snippet.is_char_boundary(start)
            || !snippet.is_char_boundary(end.min(snippet.len()))
        {
            continue;
        }
        let end = end.min(snippet.len());
        if start > at {
            out.push((snippet[at..start].to_owned(), false));
        }
        out.push((snippet[start..end].to_owned(), true));
        at = end;
    }
    if at < snippet.len() {
        out.push((snippet[at..].to_owned(), false));
    }
    out
}

#[component]
fn Hit(h: SearchHit) -> Element {
    let href = format!(
        "{}#run-{}",
        ws_link(&h.workspace_id, &format!("sessions/{}", h.session_id)),
        h.run_id
    );
    let parts = highlight(&h.snippet, &h.highlights);
    rsx! {
        li { class: "hit",
            a { href: "{href}", class: "hit-link", "{h.kind} in run {h.run_id}" }
            span { class: "muted small", " {format::unix_ms(h.at_ms)}" }
            div { class: "small snippet",
                for (i, (text, hl)) in parts.into_iter().enumerate() {
                    if hl { mark { key: "{i}", "{text}" } } else { span { key: "{i}", "{text}" } }
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::{Filters, highlight};

    #[test]
    fn filters_round_trip_through_the_url() {
        let f = Filters {
            q: "crash loop&more".into(),
            workspace: "ws_1".into(),
            cluster: "clu_2".into(),
            state: "failed".into(),
            range: String::new(),
            from: "2026-11-01".into(),
            to: "2026-11-27".into(),
        };
        let url = f.url();
        assert!(
            url.starts_with("/console/search?q=crash%20loop%26more&workspace=ws_1&cluster=clu_2"),
            "{url}"
        );
        let (_, query) = url.split_once('?').unwrap_or_default();
        assert_eq!(Filters::from_query(query), f);
        assert_eq!(Filters::default().url(), "/console/search");

        let q = f.search_query(1_000_000);
        assert_eq!(q.from.as_deref(), Some("2026-11-01"));
        assert_eq!(q.to.as_deref(), Some("2026-11-27"));
        assert_eq!(q.cluster_id.as_deref(), Some("clu_2"));
        // A preset wins over dates and is relative to now.
        let week = Filters {
            range: "7d".into(),
            ..f
        };
        let q = week.search_query(1_000_000);
        assert_eq!(q.from.as_deref(), Some("395200"));
        assert_eq!(q.to, None);
        // Empty filters are no filters.
        let q = Filters::default().search_query(0);
        assert_eq!(
            (q.workspace_id, q.cluster_id, q.state, q.from, q.to),
            (None, None, None, None, None)
        );
    }

    #[test]
    fn highlights_cut_at_byte_ranges() {
        let parts = highlight("the pod crashed hard", &[[8, 15]]);
        assert_eq!(
            parts,
            vec![
                ("the pod ".into(), false),
                ("crashed".into(), true),
                (" hard".into(), false)
            ]
        );
        // Not on a character boundary: shown plain, never a panic.
        let parts = highlight("ünï", &[[1, 2]]);
        assert_eq!(parts, vec![("ünï".into(), false)]);
    }
}
