//! Sessions: the list, a new session (cluster + first question), and the chat of one session.
//!
//! The chat shows each run as it forms: the backend's `follow_run` replays the run's stored
//! events and then follows the engine's live broadcast, and every event re-renders the run's
//! block — model text as it streams, each tool call as a collapsible step with arguments and
//! result, approval cards with the exact action and its dry-run diff, the final answer, the
//! run's state and the limits used. Approve, reject and cancel go through the same services as
//! the API; a refusal shows the API's message.

use acorn_proto::agent::RunMode;
use acorn_proto::authz::Action;
use acorn_proto::runs::{
    Decision, PostMessage, RunEvent, RunEventKind, RunLimitsInput, RunSummary, RunView, SessionView,
};
use dioxus::prelude::*;
use futures_util::StreamExt;
use serde_json::Value;

use crate::app::{Badge, ErrorBox, Loading, ctx, field};
use crate::backend::UiError;
use crate::format;
use crate::route::{cluster_link, session_link, ws_link};

/// The newest sessions of the workspace.
#[component]
pub fn SessionList(limit: usize) -> Element {
    let c = ctx();
    let backend = c.backend.clone();
    let ws = c.ws();
    let list = use_resource(move || {
        let backend = backend.clone();
        let ws = ws.clone();
        async move { backend.sessions(ws).await }
    });
    let v = list.read().clone();
    match v {
        None => rsx! { Loading { what: "sessions" } },
        Some(Err(e)) => rsx! { ErrorBox { error: e } },
        Some(Ok(items)) if items.is_empty() => rsx! {
            div { class: "empty", id: "sessions-empty", "No session yet. Start one: pick a cluster and ask what is wrong with it." }
        },
        Some(Ok(mut items)) => {
            items.truncate(limit);
            rsx! {
                ul { class: "plain", id: "sessions",
                    for s in items { SessionItem { key: "{s.id}", s } }
                }
            }
        }
    }
}

#[component]
fn SessionItem(s: SessionView) -> Element {
    let state = s.last_run.as_ref().map(|r| r.state.as_str().to_owned());
    rsx! {
        li {
            a { href: session_link(&s.workspace_id, &s.id), "{s.title}" } " "
            if let Some(state) = state { Badge { text: state } }
            " " span { class: "muted small", "{format::unix(s.updated_at)}" }
        }
    }
}

/// `/console/w/{ws}/sessions`.
#[component]
pub fn Sessions() -> Element {
    let c = ctx();
    rsx! {
        h1 { "Sessions" }
        if c.can(Action::SessionsCreate) {
            NewSession {}
        }
        div { class: "panel", SessionList { limit: 200 } }
    }
}

#[component]
fn NewSession() -> Element {
    let c = ctx();
    let backend = c.backend.clone();
    let ws = c.ws();
    let clusters = use_resource(move || {
        let backend = backend.clone();
        let ws = ws.clone();
        async move { backend.clusters(ws).await }
    });
    let mut busy = use_signal(|| false);
    let mut error = use_signal(|| None::<UiError>);
    let mut created = use_signal(|| None::<String>);
    let backend = c.backend.clone();
    let ws = c.ws();
    let can_write = c.can(Action::RunsCreateReadWrite);
    rsx! {
        div { class: "panel",
            h2 { "Ask about a cluster" }
            match &*clusters.read() {
                None => rsx! { Loading { what: "clusters" } },
                Some(Err(e)) => rsx! { ErrorBox { error: e.clone() } },
                Some(Ok(items)) if items.is_empty() => rsx! {
                    div { class: "empty", "Register a cluster first: " a { href: "{ws_link(&c.ws(), \"clusters\")}", "Clusters" } }
                },
                Some(Ok(items)) => rsx! {
                    form { class: "stack", id: "new-session",
                        onsubmit: {
                            let backend = backend.clone();
                            let ws = ws.clone();
                            move |evt: FormEvent| {
                                if busy() { return; }
                                let cluster = field(&evt, "cluster");
                                let question = field(&evt, "content");
                                let mode = mode_of(&field(&evt, "mode"));
                                busy.set(true);
                                error.set(None);
                                let backend = backend.clone();
                                let ws = ws.clone();
                                spawn(async move {
                                    let r = async {
                                        let s = backend.create_session(ws.clone(), cluster, None).await?;
                                        backend.post_message(ws.clone(), s.id.clone(), message(question, mode)).await?;
                                        Ok::<_, UiError>(s)
                                    }.await;
                                    match r {
                                        Ok(s) => created.set(Some(ws_link(&ws, &format!("sessions/{}", s.id)))),
                                        Err(e) => { error.set(Some(e)); busy.set(false); }
                                    }
                                });
                            }
                        },
                        label { "Cluster"
                            select { name: "cluster", id: "new-session-cluster",
                                for cl in items.clone() { option { value: "{cl.id}", "{cl.name}" } }
                            }
                        }
                        label { "Question"
                            textarea { name: "content", rows: "3", required: true, maxlength: "32768", "data-draft": "1",
                                placeholder: "Why is checkout crash-looping?" }
                        }
                        if can_write {
                            label { "Mode"
                                select { name: "mode",
                                    option { value: "read_only", "Read only" }
                                    option { value: "read_write", "Read and write (write actions need approval)" }
                                }
                            }
                        }
                        div { class: "row",
                            button { r#type: "submit", disabled: busy(), if busy() { "Starting…" } else { "Ask" } }
                        }
                    }
                },
            }
            if let Some(e) = error() { ErrorBox { error: e } }
            if let Some(to) = created() { p { "data-navigate": "{to}", span { class: "spinner" } " Opening the session…" } }
        }
    }
}

fn mode_of(s: &str) -> Option<RunMode> {
    match s {
        "read_write" => Some(RunMode::ReadWrite),
        "read_only" => Some(RunMode::ReadOnly),
        _ => None,
    }
}

fn message(content: String, mode: Option<RunMode>) -> PostMessage {
    PostMessage {
        content,
        mode,
        provider: None,
        model: None,
        limits: RunLimitsInput::default(),
    }
}

/// `/console/w/{ws}/sessions/{id}`: the chat.
#[component]
pub fn Session(session: String) -> Element {
    let c = ctx();
    let backend = c.backend.clone();
    let ws = c.ws();
    let id = session.clone();
    let detail = use_resource(move || {
        let backend = backend.clone();
        let (ws, id) = (ws.clone(), id.clone());
        async move { backend.session(ws, id).await }
    });
    let v = detail.read().clone();
    match v {
        None => rsx! { Loading { what: "the session" } },
        Some(Err(e)) => rsx! { ErrorBox { error: e } },
        Some(Ok(d)) => {
            let mut runs = d.runs.clone();
            runs.sort_by(|a, b| a.created_at.cmp(&b.created_at).then(a.id.cmp(&b.id)));
            let can_post = d.session.permissions.iter().any(|p| p == "sessions.write")
                && c.can(Action::RunsCreateReadOnly);
            rsx! {
                div { class: "row",
                    h1 { id: "session-title", "{d.session.title}" }
                    a { class: "small", href: cluster_link(&d.session.workspace_id, &d.session.cluster_id), "cluster" }
                }
                Chat { session: d.session.id.clone(), runs, can_post }
            }
        }
    }
}

#[component]
fn Chat(session: String, runs: Vec<RunSummary>, can_post: bool) -> Element {
    let mut started = use_signal(Vec::<RunSummary>::new);
    let all: Vec<RunSummary> = runs
        .iter()
        .cloned()
        .chain(started.read().iter().cloned())
        .collect();
    rsx! {
        div { class: "chat", id: "chat",
            if all.is_empty() {
                div { class: "empty", "No question yet. Ask one below." }
            }
            for r in all {
                RunBlock { key: "{r.id}", run_id: r.id.clone(), question: r.question.clone() }
            }
        }
        if can_post {
            Composer { session, on_started: move |r: RunSummary| started.write().push(r) }
        } else {
            p { class: "muted", id: "read-only-session", "You can read this session; only its creator or an admin can ask in it." }
        }
    }
}

#[component]
fn Composer(session: String, on_started: EventHandler<RunSummary>) -> Element {
    let c = ctx();
    let mut busy = use_signal(|| false);
    let mut error = use_signal(|| None::<UiError>);
    let mut draft = use_signal(String::new);
    let backend = c.backend.clone();
    let ws = c.ws();
    let can_write = c.can(Action::RunsCreateReadWrite);
    rsx! {
        div { class: "composer",
            form { class: "stack", id: "composer",
                onsubmit: move |evt: FormEvent| {
                    if busy() { return; }
                    let content = field(&evt, "content");
                    if content.trim().is_empty() { return; }
                    let mode = mode_of(&field(&evt, "mode"));
                    // The box is not bound to the draft while typing (a re-render with the
                    // text of a few keystrokes ago would overwrite what was typed since):
                    // the draft takes the sent text now, and is emptied once the run exists.
                    draft.set(content.clone());
                    busy.set(true);
                    error.set(None);
                    let backend = backend.clone();
                    let (ws, session) = (ws.clone(), session.clone());
                    spawn(async move {
                        match backend.post_message(ws, session, message(content, mode)).await {
                            Ok(run) => {
                                draft.set(String::new());
                                on_started.call(RunSummary {
                                    id: run.id, session_id: run.session_id, state: run.state, mode: run.mode,
                                    question: run.question, created_at: run.created_at, ended_at: run.ended_at,
                                });
                            }
                            Err(e) => error.set(Some(e)),
                        }
                        busy.set(false);
                    });
                },
                label { "Message"
                    textarea { name: "content", id: "message-box", rows: "3", maxlength: "32768", "data-draft": "1",
                        placeholder: "Ask a follow-up question (Ctrl+Enter sends)",
                        value: "{draft}" }
                }
                div { class: "row",
                    if can_write {
                        select { name: "mode", "aria-label": "Mode",
                            option { value: "read_only", "Read only" }
                            option { value: "read_write", "Read and write (approval)" }
                        }
                    }
                    button { r#type: "submit", id: "send", disabled: busy(), if busy() { "Sending…" } else { "Send" } }
                }
            }
            if let Some(e) = error() { ErrorBox { error: e } }
        }
    }
}

/// One rendered piece of a run.
#[derive(Debug, Clone, PartialEq)]
enum Item {
    Text {
        step: u64,
        text: String,
    },
    Tool {
        call_id: String,
        tool: String,
        arguments: Value,
        class: String,
        result: Option<Value>,
    },
    Approval {
        id: String,
        tool: String,
        arguments: Value,
        diff: String,
        expires_at: i64,
        decided: Option<(String, String)>,
    },
    Trimmed {
        elided: usize,
    },
    Limit {
        limit: String,
        value: String,
    },
}

/// Folds a run's events into what is shown.
fn fold(events: &[RunEvent]) -> Vec<Item> {
    let mut items: Vec<Item> = Vec::new();
    for e in events {
        let d = &e.data;
        let s = |k: &str| d.get(k).and_then(Value::as_str).unwrap_or("").to_owned();
        let step = d.get("step").and_then(Value::as_u64).unwrap_or(0);
        match e.kind {
            RunEventKind::ModelDelta => {
                let text = s("text");
                match items.iter_mut().rev().find_map(|i| match i {
                    Item::Text { step: st, text } if *st == step => Some(text),
                    _ => None,
                }) {
                    Some(t) => t.push_str(&text),
                    None => items.push(Item::Text { step, text }),
                }
            }
            RunEventKind::ModelMessage => {
                let text = s("text");
                let existing = items.iter_mut().rev().find_map(|i| match i {
                    Item::Text { step: st, text } if *st == step => Some(text),
                    _ => None,
                });
                match existing {
                    Some(t) => *t = text,
                    None if !text.is_empty() => items.push(Item::Text { step, text }),
                    None => {}
                }
            }
            RunEventKind::ToolCall => items.push(Item::Tool {
                call_id: s("call_id"),
                tool: s("tool"),
                arguments: d.get("arguments").cloned().unwrap_or(Value::Null),
                class: s("class"),
                result: None,
            }),
            RunEventKind::ToolResult => {
                let call = s("call_id");
                if let Some(Item::Tool { result, .. }) = items
                    .iter_mut()
                    .rev()
                    .find(|i| matches!(i, Item::Tool { call_id, .. } if *call_id == call))
                {
                    *result = Some(d.clone());
                }
            }
            RunEventKind::ApprovalRequested => items.push(Item::Approval {
                id: s("approval_id"),
                tool: s("tool"),
                arguments: d.get("arguments").cloned().unwrap_or(Value::Null),
                diff: s("diff"),
                expires_at: d.get("expires_at").and_then(Value::as_i64).unwrap_or(0),
                decided: None,
            }),
            RunEventKind::ApprovalDecided => {
                let aid = s("approval_id");
                for i in items.iter_mut() {
                    if let Item::Approval { id, decided, .. } = i
                        && *id == aid
                    {
                        *decided = Some((s("decision"), s("decided_by")));
                    }
                }
            }
            RunEventKind::ContextTrimmed => items.push(Item::Trimmed {
                elided: d
                    .get("elided")
                    .and_then(Value::as_array)
                    .map_or(0, Vec::len),
            }),
            RunEventKind::RunLimitReached => items.push(Item::Limit {
                limit: s("limit"),
                value: d.get("value").map(|v| v.to_string()).unwrap_or_default(),
            }),
            _ => {}
        }
    }
    items
}

/// One run: the question, the streamed steps, approvals, the answer, state and usage.
#[component]
fn RunBlock(run_id: String, question: String) -> Element {
    let c = ctx();
    let mut events = use_signal(Vec::<RunEvent>::new);
    let mut view = use_signal(|| None::<RunView>);
    let mut error = use_signal(|| None::<UiError>);
    let backend = c.backend.clone();
    let ws = c.ws();
    let rid = run_id.clone();
    use_future(move || {
        let backend = backend.clone();
        let (ws, rid) = (ws.clone(), rid.clone());
        async move {
            match backend.run(ws.clone(), rid.clone()).await {
                Ok(v) => view.set(Some(v)),
                Err(e) => {
                    error.set(Some(e));
                    return;
                }
            }
            let mut stream = match backend.follow_run(ws.clone(), rid.clone(), None).await {
                Ok(s) => s,
                Err(e) => {
                    error.set(Some(e));
                    return;
                }
            };
            while let Some(e) = stream.next().await {
                let refresh = !matches!(e.kind, RunEventKind::ModelDelta | RunEventKind::ToolCall);
                events.write().push(e);
                if refresh && let Ok(v) = backend.run(ws.clone(), rid.clone()).await {
                    view.set(Some(v));
                }
            }
            if let Ok(v) = backend.run(ws.clone(), rid.clone()).await {
                view.set(Some(v));
            }
        }
    });
    let items = fold(&events.read());
    let v = view.read().clone();
    let last_text = items.iter().rev().find_map(|i| match i {
        Item::Text { text, .. } => Some(text.clone()),
        _ => None,
    });
    let live = v.as_ref().is_some_and(|v| !v.state.is_terminal());
    rsx! {
        section { class: "run", id: "run-{run_id}", "data-run": "{run_id}",
            div { class: "msg-user", "{question}" }
            if let Some(e) = error() { ErrorBox { error: e } }
            if let Some(v) = &v { RunHead { v: v.clone() } }
            for (i, item) in items.iter().enumerate() {
                ItemView { key: "{i}", item: item.clone(), run_id: run_id.clone(), live }
            }
            if let Some(v) = &v {
                if let Some(answer) = &v.answer {
                    if Some(answer) != last_text.as_ref() {
                        div { class: "answer", "data-answer": "1", "{answer}" }
                    }
                }
                if let Some(err) = &v.error {
                    div { class: "error", role: "alert", "{err.message} " code { class: "small", "{err.code}" } }
                }
                if live && events.read().is_empty() {
                    p { class: "muted", span { class: "spinner" } " Waiting for a worker…" }
                }
            }
        }
    }
}

#[component]
fn RunHead(v: RunView) -> Element {
    let c = ctx();
    let mut error = use_signal(|| None::<UiError>);
    let mut busy = use_signal(|| false);
    let backend = c.backend.clone();
    let ws = c.ws();
    let rid = v.id.clone();
    let terminal = v.state.is_terminal();
    let can_cancel = !terminal && v.permissions.contains(&Action::RunsCancel);
    rsx! {
        div { class: "run-head small",
            Badge { text: v.state.as_str().to_owned() }
            if !terminal { span { class: "spinner" } }
            span { class: "muted", "{v.provider}/{v.model}" }
            span { class: "muted", if v.mode == RunMode::ReadWrite { "read-write" } else { "read-only" } }
            span { class: "muted", "steps {v.usage.steps}/{v.limits.max_steps}" }
            span { class: "muted", "tools {v.usage.tool_calls}/{v.limits.max_tool_calls}" }
            span { class: "muted", "tokens {v.usage.input_tokens}+{v.usage.output_tokens}" }
            span { class: "muted", "cost {v.usage.cost:.4}/{v.limits.max_cost:.2}" }
            if can_cancel {
                button { class: "danger", r#type: "button", id: "cancel-run", disabled: busy(),
                    onclick: move |_| {
                        if busy() { return; }
                        busy.set(true);
                        let backend = backend.clone();
                        let (ws, rid) = (ws.clone(), rid.clone());
                        spawn(async move {
                            if let Err(e) = backend.cancel_run(ws, rid).await { error.set(Some(e)); }
                            busy.set(false);
                        });
                    },
                    if busy() { "Cancelling…" } else { "Cancel run" }
                }
            }
        }
        if let Some(e) = error() { ErrorBox { error: e } }
    }
}

#[component]
fn ItemView(item: Item, run_id: String, live: bool) -> Element {
    match item {
        Item::Text { text, .. } => rsx! { div { class: "answer", "{text}" } },
        Item::Tool {
            tool,
            arguments,
            class,
            result,
            ..
        } => {
            let (status, body) = match &result {
                None => ("running".to_owned(), None),
                Some(r) => {
                    let ok = r.get("ok").and_then(Value::as_bool).unwrap_or(false);
                    let body = if ok {
                        match r.get("content") {
                            Some(Value::String(s)) => s.clone(),
                            Some(v) => format::pretty(v),
                            None => String::new(),
                        }
                    } else {
                        r.get("error").map(format::pretty).unwrap_or_default()
                    };
                    (
                        if ok {
                            "ok".to_owned()
                        } else {
                            "failed".to_owned()
                        },
                        Some((body, r.clone())),
                    )
                }
            };
            rsx! {
                details { class: "step", "data-tool": "{tool}",
                    summary {
                        code { "{tool}" } " "
                        Badge { text: status.clone() }
                        if status == "running" { " " span { class: "spinner" } }
                        if class == "write" { " " span { class: "badge warning", "write" } }
                        if let Some((_, r)) = &body {
                            if let Some(ms) = r.get("duration_ms").and_then(Value::as_u64) { span { class: "muted small", " {ms} ms" } }
                            if r.get("truncated").and_then(Value::as_bool) == Some(true) { span { class: "muted small", " (truncated)" } }
                        }
                    }
                    h3 { "Arguments" }
                    pre { {format::pretty(&arguments)} }
                    if let Some((b, _)) = body {
                        h3 { "Result" }
                        pre { class: "tool-result", "{b}" }
                    }
                }
            }
        }
        Item::Approval {
            id,
            tool,
            arguments,
            diff,
            expires_at,
            decided,
        } => rsx! {
            ApprovalCard { id, tool, arguments, diff, expires_at, decided, run_id, live }
        },
        Item::Trimmed { elided } => {
            rsx! { p { class: "muted small", "{elided} older tool results were elided to fit the model's context." } }
        }
        Item::Limit { limit, value } => {
            rsx! { div { class: "notice", "Limit reached: {limit} ({value})" } }
        }
    }
}

#[component]
fn ApprovalCard(
    id: String,
    tool: String,
    arguments: Value,
    diff: String,
    expires_at: i64,
    decided: Option<(String, String)>,
    run_id: String,
    live: bool,
) -> Element {
    let c = ctx();
    let mut busy = use_signal(|| false);
    let mut error = use_signal(|| None::<UiError>);
    let can = c.can(Action::ApprovalsDecide);
    let decide = {
        let backend = c.backend.clone();
        let ws = c.ws();
        let (rid, aid) = (run_id.clone(), id.clone());
        move |d: Decision| {
            if busy() {
                return;
            }
            busy.set(true);
            let backend = backend.clone();
            let (ws, rid, aid) = (ws.clone(), rid.clone(), aid.clone());
            spawn(async move {
                if let Err(e) = backend.decide(ws, rid, aid, d, None).await {
                    error.set(Some(e));
                }
                busy.set(false);
            });
        }
    };
    let mut approve = decide.clone();
    let mut decide = decide;
    rsx! {
        div { class: "approval", "data-approval": "{id}",
            strong { "Approval needed: " } code { "{tool}" }
            h3 { "Action" }
            pre { {format::pretty(&arguments)} }
            h3 { "Dry run" }
            pre { class: "diff", "{diff}" }
            match decided {
                Some((d, by)) => rsx! { p { Badge { text: d } if !by.is_empty() { " by {by}" } } },
                None if live && can => rsx! {
                    div { class: "row",
                        button { r#type: "button", class: "approve", disabled: busy(), onclick: move |_| approve(Decision::Approve), "Approve" }
                        button { r#type: "button", class: "danger reject", disabled: busy(), onclick: move |_| decide(Decision::Reject), "Reject" }
                        span { class: "muted small", "expires {format::unix(expires_at)}" }
                    }
                },
                None if live => rsx! { p { class: "muted", "Waiting for an owner or admin to decide." } },
                None => rsx! { p { class: "muted", "Not decided." } },
            }
            if let Some(e) = error() { ErrorBox { error: e } }
        }
    }
}
