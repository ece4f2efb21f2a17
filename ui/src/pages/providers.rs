//! Model providers, their model catalogs and the workspace's run settings
//! (`/console/w/{ws}/providers`).

use acorn_proto::authz::Action;
use acorn_proto::gateway::{ProviderKind, ProviderSource, ProviderSpec, ProviderView, PutProvider};
use acorn_proto::runs::{RunSettings, RunSettingsView};
use dioxus::prelude::*;

use acorn_proto::evals::EvalView;

use crate::app::{Badge, ErrorBox, Loading, ctx, field, optional};
use crate::backend::UiError;
use crate::pages::evals::{EvalsPanel, latest_for};
use crate::route::ws_link;

/// `/console/w/{ws}/providers`.
#[component]
pub fn Providers() -> Element {
    let c = ctx();
    let backend = c.backend.clone();
    let ws = c.ws();
    let version = use_signal(|| 0u32);
    let manage = c.can(Action::ProvidersManage);
    let data = use_resource(move || {
        let backend = backend.clone();
        let ws = ws.clone();
        let _ = version();
        async move {
            let providers = backend.providers(ws.clone()).await?;
            let settings = backend.run_settings(ws.clone()).await?;
            // Evaluations are for those who choose models (owners and admins).
            let evals = match manage {
                true => backend.evals(ws).await?,
                false => Vec::new(),
            };
            Ok::<_, UiError>((providers, settings, evals))
        }
    });
    rsx! {
        h1 { "Models" }
        match &*data.read() {
            None => rsx! { Loading { what: "providers" } },
            Some(Err(e)) => rsx! { ErrorBox { error: e.clone() } },
            Some(Ok((providers, settings, evals))) => rsx! {
                div { class: "panel",
                    h2 { "Providers" }
                    if providers.is_empty() {
                        div { class: "empty", id: "no-providers",
                            "No model provider is configured, so questions cannot be answered yet (findings work without one). "
                            if manage { "Add an OpenAI-compatible server (vLLM, Ollama's /v1, llama.cpp, LiteLLM) or Anthropic below." } else { "Ask an admin to add one." }
                        }
                    }
                    for p in providers.clone() { ProviderItem { key: "{p.name}", p, manage, version } }
                }
                RunSettingsPanel { settings: settings.clone(), manage, version, evals: evals.clone() }
                if manage { EvalsPanel { providers: providers.clone() } }
                if manage { AddProvider { version } }
            },
        }
    }
}

#[component]
fn ProviderItem(p: ProviderView, manage: bool, version: Signal<u32>) -> Element {
    let c = ctx();
    let mut confirm = use_signal(|| false);
    let mut busy = use_signal(|| false);
    let mut error = use_signal(|| None::<UiError>);
    // Deployment providers come from the configuration file: only workspace ones are deleted here.
    let deletable = manage && p.source == ProviderSource::Workspace;
    let (backend_del, ws_del, name_del) = (c.backend.clone(), c.ws(), p.name.clone());
    let backend = c.backend.clone();
    let ws = c.ws();
    let name = p.name.clone();
    let mut show = use_signal(|| false);
    let catalog = use_resource(move || {
        let backend = backend.clone();
        let (ws, name) = (ws.clone(), name.clone());
        let open = show();
        async move {
            if open {
                backend.models(ws, name).await.map(Some)
            } else {
                Ok(None)
            }
        }
    });
    rsx! {
        div { class: "provider", "data-provider": "{p.name}",
            h3 { "{p.name} " span { class: "badge", {format!("{:?}", p.source).to_lowercase()} } }
            p { class: "small muted", code { "{p.spec.base_url}" } " · key " if p.api_key.set { "set " {p.api_key.fingerprint.clone().unwrap_or_default()} } else { "not set" } }
            div { class: "row",
                button { class: "secondary", r#type: "button", onclick: move |_| show.toggle(), if show() { "Hide models" } else { "Show models" } }
                if deletable && !confirm() {
                    button { class: "secondary", r#type: "button", "data-action": "delete", onclick: move |_| confirm.set(true), "Delete" }
                }
            }
            if confirm() {
                div { class: "notice", role: "alertdialog", "aria-label": "Confirm deletion",
                    "Delete the provider \u{201c}{p.name}\u{201d} and its key? Runs that use it fail until another provider is set. "
                    button { class: "danger", r#type: "button", "data-action": "confirm-delete", disabled: busy(),
                        onclick: move |_| {
                            if busy() { return; }
                            busy.set(true);
                            let (backend, ws, name) = (backend_del.clone(), ws_del.clone(), name_del.clone());
                            spawn(async move {
                                match backend.delete_provider(ws, name).await {
                                    Ok(()) => { error.set(None); confirm.set(false); version += 1; }
                                    Err(e) => error.set(Some(e)),
                                }
                                busy.set(false);
                            });
                        },
                        "Delete provider"
                    }
                    " "
                    button { class: "secondary", r#type: "button", onclick: move |_| confirm.set(false), "Cancel" }
                }
            }
            if let Some(e) = error() { ErrorBox { error: e } }
            if show() {
                match &*catalog.read() {
                    None => rsx! { Loading { what: "the model catalog" } },
                    Some(Err(e)) => rsx! { ErrorBox { error: e.clone() } },
                    Some(Ok(None)) => rsx! {},
                    Some(Ok(Some(cat))) => rsx! {
                        if let Some(err) = &cat.listing_error { div { class: "notice", "Listing the provider's models failed: {err}" } }
                        table { thead { tr { th { "Model" } th { "Origin" } th { "Context" } th { "Price in/out per Mtok" } th { "Tools" } } }
                            tbody { for m in cat.models.clone() { tr { key: "{m.id}", td { code { "{m.id}" } } td { "{m.origin}" } td { {m.context_window.map(|c| c.to_string()).unwrap_or_default()} } td { "{m.input_price_per_mtok} / {m.output_price_per_mtok}" } td { if m.native_tools { Badge { text: "ok".to_owned() } } } } } }
                        }
                    },
                }
            }
        }
    }
}

#[component]
fn RunSettingsPanel(
    settings: RunSettingsView,
    manage: bool,
    version: Signal<u32>,
    evals: Vec<EvalView>,
) -> Element {
    let c = ctx();
    let mut error = use_signal(|| None::<UiError>);
    let backend = c.backend.clone();
    let ws = c.ws();
    let s = settings.settings.clone();
    let l = settings.effective_limits;
    let evaluated = match (&s.provider, &s.model) {
        (Some(p), Some(m)) => latest_for(&evals, p, m).cloned(),
        _ => None,
    };
    let ws_evals = c.ws();
    rsx! {
        div { class: "panel",
            h2 { "Run defaults" }
            dl { class: "kv",
                dt { "Provider / model" } dd { id: "default-model", {format!("{} / {}", s.provider.clone().unwrap_or_else(|| "(deployment default)".into()), s.model.clone().unwrap_or_else(|| "(deployment default)".into()))} }
                dt { "Limits" } dd { "{l.max_steps} steps, {l.max_tool_calls} tool calls, {l.max_runtime_seconds} s, cost {l.max_cost}" }
                if manage {
                    dt { "Evaluation" }
                    dd { id: "default-model-eval",
                        match &evaluated {
                            Some(e) => rsx! {
                                a { href: {ws_link(&ws_evals, &format!("evals/{}", e.id))},
                                    {e.summary.as_ref().map(|s| format!("{}/{} scenarios passed ({:.0}%)", s.passed, s.scenarios, s.pass_rate)).unwrap_or_default()}
                                }
                                " on {e.created_at}"
                            },
                            None => rsx! { "not evaluated yet: evaluate a model below before you make it the default" },
                        }
                    }
                }
            }
            if manage {
                form { class: "inline", id: "run-settings",
                    onsubmit: move |evt: FormEvent| {
                        let mut next: RunSettings = s.clone();
                        next.provider = optional(&evt, "provider");
                        next.model = optional(&evt, "model");
                        let backend = backend.clone();
                        let ws = ws.clone();
                        spawn(async move {
                            match backend.set_run_settings(ws, next).await { Ok(_) => { error.set(None); version += 1; } Err(e) => error.set(Some(e)) }
                        });
                    },
                    label { "Provider" input { name: "provider", value: "{settings.settings.provider.clone().unwrap_or_default()}" } }
                    label { "Model" input { name: "model", value: "{settings.settings.model.clone().unwrap_or_default()}" } }
                    button { r#type: "submit", "Save defaults" }
                }
            }
            if let Some(e) = error() { ErrorBox { error: e } }
        }
    }
}

#[component]
fn AddProvider(version: Signal<u32>) -> Element {
    let c = ctx();
    let mut error = use_signal(|| None::<UiError>);
    let mut busy = use_signal(|| false);
    let backend = c.backend.clone();
    let ws = c.ws();
    rsx! {
        div { class: "panel",
            h2 { "Add or replace a provider" }
            form { class: "stack", id: "provider-form",
                onsubmit: move |evt: FormEvent| {
                    if busy() { return; }
                    busy.set(true);
                    let kind = if field(&evt, "kind") == "anthropic" { ProviderKind::Anthropic } else { ProviderKind::Openai };
                    let spec = ProviderSpec {
                        kind,
                        base_url: field(&evt, "base_url"),
                        azure_api_version: None,
                        ca_pem: None,
                        connect_timeout_ms: acorn_proto::gateway::default_connect_timeout_ms(),
                        request_timeout_ms: acorn_proto::gateway::default_request_timeout_ms(),
                        max_retries: acorn_proto::gateway::default_max_retries(),
                        list_models: true,
                        models: Vec::new(),
                    };
                    let body = PutProvider { spec, api_key: optional(&evt, "api_key") };
                    let name = field(&evt, "name");
                    let backend = backend.clone();
                    let ws = ws.clone();
                    spawn(async move {
                        match backend.put_provider(ws, name, body).await { Ok(_) => { error.set(None); version += 1; } Err(e) => error.set(Some(e)) }
                        busy.set(false);
                    });
                },
                label { "Name" input { name: "name", required: true, placeholder: "local" } }
                label { "Kind" select { name: "kind", option { value: "openai", "OpenAI-compatible" } option { value: "anthropic", "Anthropic" } } }
                label { "Base URL" input { name: "base_url", required: true, placeholder: "http://ollama.internal:11434/v1" } }
                label { "API key (write-only)" input { name: "api_key", r#type: "password", autocomplete: "off" } }
                div { button { r#type: "submit", disabled: busy(), "Save provider" } }
            }
            if let Some(e) = error() { ErrorBox { error: e } }
        }
    }
}
