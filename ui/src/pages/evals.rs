//! Model evaluations: the panel on the Models page (start one, follow it, the list with pass
//! rates) and a report's page (`/console/w/{ws}/evals/{id}`). An evaluation grades a model on
//! the scenario library in a private lab (`docs/eval.md`), so owners and admins see how it
//! does before they make it the workspace's model.

use std::time::Duration;

use acorn_proto::evals::{Check, EvalDetail, EvalState, EvalView, ScenarioResult, StartEval};
use acorn_proto::gateway::ProviderView;
use dioxus::prelude::*;

use crate::app::{Badge, ErrorBox, Loading, ctx, field, optional, use_poll};
use crate::backend::UiError;
use crate::route::ws_link;

const POLL: Duration = Duration::from_secs(2);

/// `passed/total (rate %)` of a finished evaluation, else its state.
fn score(e: &EvalView) -> String {
    match (&e.summary, e.state) {
        (Some(s), _) => format!("{}/{} passed ({:.0}%)", s.passed, s.scenarios, s.pass_rate),
        (None, EvalState::Running) if e.total > 0 => {
            format!("{} of {} scenarios graded", e.done, e.total)
        }
        (None, EvalState::Running) => "preparing the lab".to_owned(),
        (None, _) => "no report".to_owned(),
    }
}

/// The newest completed evaluation of a provider's model, for the providers list.
pub fn latest_for<'a>(evals: &'a [EvalView], provider: &str, model: &str) -> Option<&'a EvalView> {
    evals
        .iter()
        .find(|e| e.provider == provider && e.model == model && e.state == EvalState::Completed)
}

/// The Models page's evaluations panel: a start form and the list, polled while one runs.
#[component]
pub fn EvalsPanel(providers: Vec<ProviderView>) -> Element {
    let c = ctx();
    let ws = c.ws();
    let mut version = use_signal(|| 0u32);
    let (backend2, ws2) = (c.backend.clone(), ws.clone());
    let list = use_poll(
        POLL,
        move || {
            let _ = version();
            let (backend, ws) = (backend2.clone(), ws2.clone());
            async move { backend.evals(ws).await }
        },
        |_| false,
    );
    let mut error = use_signal(|| None::<UiError>);
    let mut busy = use_signal(|| false);
    let backend = c.backend.clone();
    let ws3 = ws.clone();
    rsx! {
        div { class: "panel", id: "evals",
            h2 { "Model evaluations" }
            p { class: "small muted",
                "Grade a model on the scenario library before the workspace relies on it: each scenario is a broken (or healthy) cluster with a known cause, investigated in a private lab through the same engine and tools as a question. "
                "One evaluation runs at a time on this appliance; the whole library takes a few minutes with a fast model."
            }
            if providers.is_empty() {
                div { class: "empty", "Add a provider first; then evaluate its models here." }
            } else {
                form { class: "inline", id: "eval-form",
                    onsubmit: move |evt: FormEvent| {
                        if busy() { return; }
                        busy.set(true);
                        let scenarios = field(&evt, "scenarios")
                            .split([',', ' '])
                            .map(str::trim)
                            .filter(|s| !s.is_empty())
                            .map(str::to_owned)
                            .collect();
                        let body = StartEval {
                            provider: field(&evt, "provider"),
                            model: field(&evt, "model").trim().to_owned(),
                            scenarios,
                            max_runtime_seconds: optional(&evt, "runtime").and_then(|s| s.parse().ok()),
                        };
                        let backend = backend.clone();
                        let ws = ws3.clone();
                        spawn(async move {
                            match backend.start_eval(ws, body).await {
                                Ok(_) => { error.set(None); version += 1; }
                                Err(e) => error.set(Some(e)),
                            }
                            busy.set(false);
                        });
                    },
                    label { "Provider"
                        select { name: "provider",
                            for p in providers.iter() { option { key: "{p.name}", value: "{p.name}", "{p.name}" } }
                        }
                    }
                    label { "Model" input { name: "model", required: true, placeholder: "llama3.1:8b" } }
                    label { "Scenarios (optional)" input { name: "scenarios", placeholder: "all; or crashloop, healthy" } }
                    label { "Runtime limit per run (s)" input { name: "runtime", r#type: "number", min: "10", max: "1800", placeholder: "300" } }
                    button { r#type: "submit", disabled: busy(), "Evaluate" }
                }
            }
            if let Some(e) = error() { ErrorBox { error: e } }
            match &*list.read() {
                None => rsx! { Loading { what: "evaluations" } },
                Some(Err(e)) => rsx! { ErrorBox { error: e.clone() } },
                Some(Ok(evals)) if evals.is_empty() => rsx! {
                    div { class: "empty", id: "no-evals", "No model has been evaluated in this workspace yet." }
                },
                Some(Ok(evals)) => rsx! {
                    table { id: "eval-list",
                        thead { tr { th { "Started" } th { "Provider / model" } th { "State" } th { "Result" } th {} } }
                        tbody {
                            for e in evals.clone() { EvalRow { key: "{e.id}", e, version } }
                        }
                    }
                },
            }
        }
    }
}

#[component]
fn EvalRow(e: EvalView, version: Signal<u32>) -> Element {
    let c = ctx();
    let ws = c.ws();
    let backend = c.backend.clone();
    let mut error = use_signal(|| None::<UiError>);
    let link = ws_link(&ws, &format!("evals/{}", e.id));
    let id = e.id.clone();
    let running = e.state == EvalState::Running;
    rsx! {
        tr { "data-eval": "{e.id}",
            td { class: "small", "{e.created_at}" }
            td { code { "{e.provider}" } " / " code { "{e.model}" } }
            td { Badge { text: e.state.as_str().to_owned() } if running { " " span { class: "spinner" } } }
            td { a { href: "{link}", "{score(&e)}" }
                if let Some(err) = &e.error { div { class: "small muted", "{err}" } }
                if let Some(err) = error() { ErrorBox { error: err } }
            }
            td {
                if !running {
                    button { class: "secondary", r#type: "button", "aria-label": "Delete evaluation {e.id}",
                        onclick: move |_| {
                            let backend = backend.clone();
                            let (ws, id) = (ws.clone(), id.clone());
                            spawn(async move {
                                match backend.delete_eval(ws, id).await {
                                    Ok(()) => version += 1,
                                    Err(e) => error.set(Some(e)),
                                }
                            });
                        },
                        "Delete"
                    }
                }
            }
        }
    }
}

/// `/console/w/{ws}/evals/{id}`: the report, scenario by scenario; polled while it runs.
#[component]
pub fn Eval(eval: String) -> Element {
    let c = ctx();
    let ws = c.ws();
    let backend = c.backend.clone();
    let (ws2, id) = (ws.clone(), eval.clone());
    let detail = use_poll(
        POLL,
        move || {
            let (backend, ws, id) = (backend.clone(), ws2.clone(), id.clone());
            async move { backend.eval(ws, id).await }
        },
        |d: &EvalDetail| d.eval.state != EvalState::Running,
    );
    let models = ws_link(&ws, "providers");
    rsx! {
        h1 { "Model evaluation" }
        p { a { href: "{models}", "← Models" } }
        match &*detail.read() {
            None => rsx! { Loading { what: "the evaluation" } },
            Some(Err(e)) => rsx! { ErrorBox { error: e.clone() } },
            Some(Ok(d)) => rsx! { Report { d: d.clone() } },
        }
    }
}

#[component]
fn Report(d: EvalDetail) -> Element {
    let e = &d.eval;
    let markdown = format!(
        "/api/v1/workspaces/{}/evals/{}/report.md",
        e.workspace_id, e.id
    );
    rsx! {
        div { class: "panel", id: "eval-summary",
            h2 { code { "{e.provider}" } " / " code { "{e.model}" } " " Badge { text: e.state.as_str().to_owned() } }
            p { id: "eval-score", strong { "{score(e)}" } }
            if let Some(err) = &e.error { div { class: "error", role: "alert", "{err}" } }
            if let Some(s) = &e.summary {
                dl { class: "kv",
                    dt { "Evidence gathered" } dd { "{s.evidence_found}/{s.evidence_total}" }
                    dt { "Answer terms named" } dd { "{s.mentions_met}/{s.mentions_total}" }
                    dt { "Affected object named" } dd { "{s.objects_named}/{s.objects_total}" }
                    dt { "Steps, tool calls" } dd { "{s.steps}, {s.tool_calls}" }
                    dt { "Tokens in / out" } dd { "{s.input_tokens} / {s.output_tokens}" }
                    dt { "Cost" } dd { {format!("{:.4}", s.cost)} }
                    dt { "Loop-guard hits, invalid tool calls" } dd { "{s.loop_guard_hits}, {s.invalid_tool_calls}" }
                    dt { "Time" } dd { {format!("{:.0} s", s.wall_seconds)} }
                    dt { "Started, finished" } dd { "{e.created_at}, " {e.finished_at.clone().unwrap_or_default()} }
                }
                p { a { href: "{markdown}", download: "acorn-eval.md", "Download the Markdown report" } }
            }
        }
        if let Some(report) = &d.report {
            div { class: "panel",
                h2 { "Scenarios" }
                table { id: "eval-scenarios",
                    thead { tr { th { "Scenario" } th { "Result" } th { "Evidence" } th { "Answer" } th { "Object" } th { "Run" } } }
                    tbody {
                        for r in report.scenarios.iter() {
                            tr { key: "{r.name}", "data-scenario": "{r.name}",
                                td { a { href: "#s-{r.name}", "{r.name}" } }
                                td { Badge { text: if r.grade.passed { "ok".to_owned() } else { "failed".to_owned() } } }
                                td { {met(&r.grade.evidence)} }
                                td { {met(&r.grade.mentions)} }
                                td { {match r.grade.object_named { Some(true) => "yes", Some(false) => "no", None => "-" }} }
                                td { class: "small", {run_state(r)} }
                            }
                        }
                    }
                }
            }
            for r in report.scenarios.clone() { ScenarioDetail { key: "{r.name}", r } }
        }
    }
}

fn met(checks: &[Check]) -> String {
    format!(
        "{}/{}",
        checks.iter().filter(|c| c.met).count(),
        checks.len()
    )
}

fn run_state(r: &ScenarioResult) -> String {
    match (&r.lab_error, &r.run) {
        (Some(e), _) => format!("lab error: {e}"),
        (None, Some(run)) => match &run.error {
            Some(e) => format!("{} ({e})", run.state),
            None => format!("{} in {:.1} s", run.state, run.seconds),
        },
        (None, None) => "not run".to_owned(),
    }
}

#[component]
fn ScenarioDetail(r: ScenarioResult) -> Element {
    rsx! {
        details { class: "panel", id: "s-{r.name}",
            summary { strong { "{r.name}" } " · {r.category} · {r.difficulty} · " if r.grade.passed { "passed" } else { "failed" } }
            p { strong { "Question: " } "{r.question}" }
            p { strong { "Root cause: " } "{r.root_cause}" }
            ul { class: "facts",
                for c in r.grade.evidence.iter() {
                    li { if c.met { "✓ evidence " } else { "✗ evidence " } code { "{c.fact}" } }
                }
                for c in r.grade.mentions.iter() {
                    li { if c.met { "✓ answer names " } else { "✗ answer names " } code { "{c.fact}" } }
                }
            }
            if let Some(run) = &r.run {
                p { strong { "Answer" } " ({run.usage.steps} steps, {run.usage.tool_calls} tool calls)" }
                pre { class: "answer", "{run.answer}" }
            }
        }
    }
}
