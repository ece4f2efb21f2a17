//! Run search (`/console/search?q=…`): the tantivy index through the search service, over every
//! workspace the caller may read, with highlighted snippets and filters; each hit opens its
//! session.

use acorn_proto::runs::SearchHit;
use dioxus::prelude::*;

use crate::app::{ErrorBox, Loading, ctx, field, optional};
use crate::backend::SearchQuery;
use crate::format;
use crate::route::ws_link;

/// `/console/search`.
#[component]
pub fn Search(q: String) -> Element {
    let c = ctx();
    let mut query = use_signal(|| SearchQuery {
        q: q.clone(),
        limit: 50,
        ..SearchQuery::default()
    });
    let backend = c.backend.clone();
    let results = use_resource(move || {
        let backend = backend.clone();
        let q = query();
        async move { backend.search(q).await }
    });
    let workspaces = c.me.workspaces.clone();
    rsx! {
        h1 { "Search runs" }
        form { class: "inline panel", id: "search-form", role: "search",
            onsubmit: move |evt: FormEvent| {
                query.set(SearchQuery {
                    q: field(&evt, "q"),
                    workspace_id: optional(&evt, "workspace"),
                    cluster_id: None,
                    state: optional(&evt, "state"),
                    limit: 50,
                });
            },
            label { "Query" input { name: "q", id: "search-q", value: "{q}", placeholder: "crashloop OR oom", r#type: "search" } }
            label { "Workspace"
                select { name: "workspace",
                    option { value: "", "All" }
                    for w in workspaces { option { value: "{w.id}", "{w.name}" } }
                }
            }
            label { "Run state"
                select { name: "state",
                    option { value: "", "Any" }
                    for s in ["completed", "failed", "cancelled", "timed_out", "running", "waiting_for_approval"] { option { value: "{s}", "{s}" } }
                }
            }
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
    use super::highlight;

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
