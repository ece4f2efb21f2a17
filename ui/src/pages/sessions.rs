//! Sessions: the list, a new session (cluster + first question), and the chat of one session.
//!
//! The chat shows each run as it forms: the backend's `follow_run` replays the run's stored
//! events and then follows the engine's live broadcast, and every event re-renders the run's
//! block — model text as it streams, each tool call as a collapsible step with arguments and
//! result, approval cards with the exact action and its dry-run diff, the final answer, the
//! run's state and the limits used. Approve, reject and cancel go through the same services as
//! the API; a refusal shows the API's message.
//!
//! Runs started elsewhere (another tab, the REST API, an alert receiver, auto-triage) appear
//! without a reload: the list and the open session follow the backend's run-activity ticks
//! (published by the engine when a run starts, changes state or ends; they carry no data) and
//! read the sessions again through the services on each tick. This costs one store read per
//! open tab per run start or end, instead of a poll every few seconds, and cannot show a tab
//! anything its user may not read.
//!
//! The message box lets owners and admins pick the provider, model and limits of the next run,
//! prefilled with the workspace's run settings; the API checks them (bounds, known model) and
//! its refusal is shown.

use acorn_proto::agent::RunMode;
use acorn_proto::authz::Action;
use acorn_proto::runs::{
    Decision, PostMessage, RunEvent, RunEventKind, RunLimitsInput, RunSettingsView, RunSummary,
    RunView, SessionDetail, SessionView,
};
use dioxus::prelude::*;
use futures_util::StreamExt;
use serde_json::Value;

use crate::app::{Badge, ErrorBox, Loading, ctx, field};
use crate::backend::UiError;
use crate::format;
use crate::route::{cluster_link, session_link, ws_link};

/// A burst of run activity (a run created, then started) is read once: the time given to it
/// to gather.
const COALESCE: std::time::Duration = std::time::Duration::from_millis(150);

/// The newest sessions of the workspace, kept current as runs start and end anywhere.
#[component]
pub fn SessionList(limit: usize) -> Element {
    let c = ctx();
    let backend = c.backend.clone();
    let ws = c.ws();
    let mut list = use_signal(|| None::<Result<Vec<SessionView>, UiError>>);
    use_future(move || {
        let backend = backend.clone();
        let ws = ws.clone();
        async move {
            // Subscribed before the first read, so that no run slips in between.
            let mut ticks = backend.run_activity();
            loop {
                let r = backend.sessions(ws.clone()).await;
                let stop = matches!(&r, Err(e) if e.is_signed_out());
                list.set(Some(r));
                if stop || ticks.next().await.is_none() {
                    break;
                }
                tokio::time::sleep(COALESCE).await;
            }
        }
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

/// The limits the message box offers: form field (a `RunLimitsInput` field name), label.
const LIMIT_FIELDS: &[(&str, &str)] = &[
    ("max_steps", "Steps"),
    ("max_tool_calls", "Tool calls"),
    ("max_output_tokens", "Output tokens"),
    ("max_runtime_seconds", "Runtime (s)"),
];

fn limit_of(l: &acorn_proto::runs::RunLimits, name: &str) -> u64 {
    match name {
        "max_steps" => u64::from(l.max_steps),
        "max_tool_calls" => u64::from(l.max_tool_calls),
        "max_output_tokens" => l.max_output_tokens,
        "max_runtime_seconds" => l.max_runtime_seconds,
        _ => 0,
    }
}

/// Puts the run options of the form (provider, model, limits) into the message. Empty fields
/// are left to the workspace's settings; numbers go to the API as typed (a count too large for
/// the field is sent as the field's maximum, which the API refuses as out of bounds).
fn run_options(evt: &FormEvent, body: &mut PostMessage) {
    let text = |name: &str| Some(field(evt, name).trim().to_owned()).filter(|s| !s.is_empty());
    body.provider = text("provider");
    body.model = text("model");
    let num = |name: &str| text(name).and_then(|v| v.parse::<u64>().ok());
    let small = |name: &str| num(name).map(|v| u32::try_from(v).unwrap_or(u32::MAX));
    body.limits = RunLimitsInput {
        max_steps: small("max_steps"),
        max_tool_calls: small("max_tool_calls"),
        max_output_tokens: num("max_output_tokens"),
        max_runtime_seconds: num("max_runtime_seconds"),
        ..RunLimitsInput::default()
    };
}

/// Provider, model and limits of the next run (owners and admins), prefilled with the
/// workspace's run settings; the deployment's bounds are shown, the API enforces them.
/// The fields take `initial_value`: a re-render never overwrites what the user typed.
#[component]
fn RunOptions() -> Element {
    let c = ctx();
    let backend = c.backend.clone();
    let ws = c.ws();
    let loaded = use_resource(move || {
        let backend = backend.clone();
        let ws = ws.clone();
        async move {
            let settings = backend.run_settings(ws.clone()).await?;
            // Providers are only suggestions: failing to list them leaves the fields free.
            let providers = backend.providers(ws).await.unwrap_or_default();
            Ok::<_, UiError>((settings, providers))
        }
    });
    let v = loaded.read().clone();
    let (settings, providers): (RunSettingsView, Vec<acorn_proto::gateway::ProviderView>) = match v
    {
        None => return rsx! { Loading { what: "run settings" } },
        Some(Err(e)) => return rsx! { ErrorBox { error: e } },
        Some(Ok(loaded)) => loaded,
    };
    let provider = settings.settings.provider.clone().unwrap_or_default();
    let model = settings.settings.model.clone().unwrap_or_default();
    let models: Vec<String> = providers
        .iter()
        .flat_map(|p| p.spec.models.iter().map(|m| m.id.clone()))
        .collect();
    rsx! {
        details { class: "run-options", id: "run-options",
            summary { "Model and limits: " span { class: "muted small", id: "run-options-summary", "{provider}/{model}" } }
            div { class: "row",
                label { "Provider"
                    select { name: "provider", id: "run-provider",
                        for p in providers.iter() { option { value: "{p.name}", selected: p.name == provider, "{p.name}" } }
                        if !providers.iter().any(|p| p.name == provider) { option { value: "{provider}", selected: true, "{provider}" } }
                    }
                }
                label { "Model"
                    input { name: "model", id: "run-model", initial_value: "{model}", list: "run-models", autocomplete: "off" }
                    datalist { id: "run-models", for m in models { option { value: "{m}" } } }
                }
            }
            div { class: "row",
                for (name, label) in LIMIT_FIELDS.iter().copied() {
                    label {
                        "{label}"
                        input { name: "{name}", id: "run-{name}", r#type: "number", min: "1", class: "narrow",
                            initial_value: "{limit_of(&settings.effective_limits, name)}" }
                        span { class: "muted small", "at most {limit_of(&settings.max_limits, name)}" }
                    }
                }
            }
        }
    }
}

/// `/console/w/{ws}/sessions/{id}`: the chat.
#[component]
pub fn Session(session: String) -> Element {
    let c = ctx();
    let backend = c.backend.clone();
    let ws = c.ws();
    let id = session.clone();
    let mut detail = use_signal(|| None::<Result<SessionDetail, UiError>>);
    use_future(move || {
        let backend = backend.clone();
        let (ws, id) = (ws.clone(), id.clone());
        async move {
            // Runs started elsewhere join the page (see the module docs).
            let mut ticks = backend.run_activity();
            loop {
                let r = backend.session(ws.clone(), id.clone()).await;
                let signed_out = matches!(&r, Err(e) if e.is_signed_out());
                // A failed re-read keeps what is shown (the next tick tries again).
                let keep = r.is_err() && !signed_out && matches!(&*detail.peek(), Some(Ok(_)));
                if !keep {
                    detail.set(Some(r));
                }
                if signed_out || ticks.next().await.is_none() {
                    break;
                }
                tokio::time::sleep(COALESCE).await;
            }
        }
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
    // The session's runs as last read, plus runs this tab started that the last read did not
    // have yet (each run once).
    let mut all: Vec<RunSummary> = runs.clone();
    for r in started.read().iter() {
        if !all.iter().any(|a| a.id == r.id) {
            all.push(r.clone());
        }
    }
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
    // Bumped once a run exists: the message box is keyed by it, so a fresh, empty box
    // replaces the sent one. The box has no `value` attribute: dioxus writes `value` on every
    // re-render (it is volatile), which would wipe what is typed whenever the page re-renders
    // (a run elsewhere ticks, a keystroke's render arrives late).
    let mut sent = use_signal(|| 0u64);
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
                    let mut body = message(content, mode);
                    if can_write {
                        run_options(&evt, &mut body);
                    }
                    busy.set(true);
                    error.set(None);
                    let backend = backend.clone();
                    let (ws, session) = (ws.clone(), session.clone());
                    spawn(async move {
                        match backend.post_message(ws, session, body).await {
                            Ok(run) => {
                                sent += 1;
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
                    for n in std::iter::once(sent()) {
                        textarea { key: "{n}", name: "content", id: "message-box", rows: "3", maxlength: "32768", "data-draft": "1",
                            placeholder: "Ask a follow-up question (Ctrl+Enter sends)" }
                    }
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
                if can_write { RunOptions {} }
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
