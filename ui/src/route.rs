//! The console's URLs. Every page is its own URL (a full page load opens a new LiveView), so
//! links are plain links, pages can be bookmarked, and a reconnect re-renders the same page.

/// A page of the console.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Route {
    /// `/console/`: the workspaces (or the only one).
    Home,
    /// `/console/search?q=…`
    Search { q: String },
    /// `/console/w/{ws}`: clusters, findings and recent sessions at a glance.
    Overview { ws: String },
    /// `/console/w/{ws}/clusters` (register, install instructions, status).
    Clusters { ws: String },
    /// `/console/w/{ws}/clusters/{id}`.
    Cluster { ws: String, cluster: String },
    /// `/console/w/{ws}/sessions`.
    Sessions { ws: String },
    /// `/console/w/{ws}/sessions/{id}`: the chat.
    Session { ws: String, session: String },
    /// `/console/w/{ws}/members` (and invitations).
    Members { ws: String },
    /// `/console/w/{ws}/tokens`.
    Tokens { ws: String },
    /// `/console/w/{ws}/audit`.
    Audit { ws: String },
    /// `/console/w/{ws}/providers` (providers, models, run settings).
    Providers { ws: String },
    /// `/console/w/{ws}/tools` (builtin tools, MCP servers, tool enablement).
    Tools { ws: String },
    /// `/console/w/{ws}/webhooks` (subscriptions, delivery log, alert receivers).
    Webhooks { ws: String },
    /// `/console/w/{ws}/evals/{id}`: a model evaluation's report.
    Eval { ws: String, eval: String },
    /// Anything else.
    NotFound,
}

/// One parameter of a query string (without `?`), decoded.
pub fn query_param(query: &str, name: &str) -> Option<String> {
    query.split('&').find_map(|pair| {
        let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
        (k == name).then(|| percent_decode(&v.replace('+', " ")))
    })
}

/// Decodes `%XX` escapes (invalid ones are kept as they are).
pub fn percent_decode(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%'
            && let Some(Ok(b)) = s.get(i + 1..i + 3).map(|h| u8::from_str_radix(h, 16))
        {
            out.push(b);
            i += 3;
            continue;
        }
        out.push(bytes[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// Encodes a query value.
pub fn percent_encode(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'~' | b'/') {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

fn id_ok(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 100
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
}

impl Route {
    /// Parses `/console/…` with its query (without `?`).
    pub fn parse(path: &str, query: &str) -> Route {
        let rest = path.strip_prefix("/console").unwrap_or("");
        let parts: Vec<&str> = rest.split('/').filter(|p| !p.is_empty()).collect();
        if parts.iter().any(|p| !id_ok(p)) {
            return Route::NotFound;
        }
        let s = |i: usize| parts[i].to_owned();
        match parts.as_slice() {
            [] => Route::Home,
            ["search"] => Route::Search {
                q: query_param(query, "q").unwrap_or_default(),
            },
            ["w", _] => Route::Overview { ws: s(1) },
            ["w", _, "clusters"] => Route::Clusters { ws: s(1) },
            ["w", _, "clusters", _] => Route::Cluster {
                ws: s(1),
                cluster: s(3),
            },
            ["w", _, "sessions"] => Route::Sessions { ws: s(1) },
            ["w", _, "sessions", _] => Route::Session {
                ws: s(1),
                session: s(3),
            },
            ["w", _, "members"] => Route::Members { ws: s(1) },
            ["w", _, "tokens"] => Route::Tokens { ws: s(1) },
            ["w", _, "audit"] => Route::Audit { ws: s(1) },
            ["w", _, "providers"] => Route::Providers { ws: s(1) },
            ["w", _, "tools"] => Route::Tools { ws: s(1) },
            ["w", _, "webhooks"] => Route::Webhooks { ws: s(1) },
            ["w", _, "evals", _] => Route::Eval {
                ws: s(1),
                eval: s(3),
            },
            _ => Route::NotFound,
        }
    }

    /// The workspace the page belongs to.
    pub fn workspace(&self) -> Option<&str> {
        match self {
            Route::Overview { ws }
            | Route::Clusters { ws }
            | Route::Cluster { ws, .. }
            | Route::Sessions { ws }
            | Route::Session { ws, .. }
            | Route::Members { ws }
            | Route::Tokens { ws }
            | Route::Audit { ws }
            | Route::Providers { ws }
            | Route::Tools { ws }
            | Route::Webhooks { ws }
            | Route::Eval { ws, .. } => Some(ws),
            _ => None,
        }
    }

    /// The page's title.
    pub fn title(&self) -> &'static str {
        match self {
            Route::Home => "Workspaces",
            Route::Search { .. } => "Search",
            Route::Overview { .. } => "Overview",
            Route::Clusters { .. } => "Clusters",
            Route::Cluster { .. } => "Cluster",
            Route::Sessions { .. } => "Sessions",
            Route::Session { .. } => "Session",
            Route::Members { .. } => "Members",
            Route::Tokens { .. } => "API tokens",
            Route::Audit { .. } => "Audit log",
            Route::Providers { .. } => "Models",
            Route::Tools { .. } => "Tools",
            Route::Webhooks { .. } => "Webhooks",
            Route::Eval { .. } => "Model evaluation",
            Route::NotFound => "Not found",
        }
    }
}

/// A console link into a workspace.
pub fn ws_link(ws: &str, rest: &str) -> String {
    if rest.is_empty() {
        format!("/console/w/{ws}")
    } else {
        format!("/console/w/{ws}/{rest}")
    }
}

/// A cluster's page.
pub fn cluster_link(ws: &str, cluster: &str) -> String {
    format!("/console/w/{ws}/clusters/{cluster}")
}

/// A session's page.
pub fn session_link(ws: &str, session: &str) -> String {
    format!("/console/w/{ws}/sessions/{session}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn routes_parse() {
        let cases = [
            ("/console", "", Route::Home),
            ("/console/", "", Route::Home),
            (
                "/console/search",
                "q=crash+loop%21",
                Route::Search {
                    q: "crash loop!".into(),
                },
            ),
            ("/console/w/ws_1", "", Route::Overview { ws: "ws_1".into() }),
            (
                "/console/w/ws_1/clusters/clu_2",
                "",
                Route::Cluster {
                    ws: "ws_1".into(),
                    cluster: "clu_2".into(),
                },
            ),
            (
                "/console/w/ws_1/sessions/ses_3",
                "",
                Route::Session {
                    ws: "ws_1".into(),
                    session: "ses_3".into(),
                },
            ),
            (
                "/console/w/ws_1/webhooks",
                "",
                Route::Webhooks { ws: "ws_1".into() },
            ),
            ("/console/w/ws_1/nope", "", Route::NotFound),
            ("/console/w/<script>/clusters", "", Route::NotFound),
            ("/console/w/..%2f/clusters", "", Route::NotFound),
        ];
        for (path, query, want) in cases {
            assert_eq!(Route::parse(path, query), want, "{path}?{query}");
        }
    }

    #[test]
    fn percent_round_trip() {
        for s in ["a b", "ünï", "x&y=z", "%zz"] {
            assert_eq!(percent_decode(&percent_encode(s)), s);
        }
        assert_eq!(percent_decode("%zz"), "%zz");
    }
}
