//! Webhooks (`/console/w/{ws}/webhooks`): outbound subscriptions and inbound alert receivers.
//!
//! Layout:
//! - [`Webhooks`]: the page — subscriptions with their actions, the create form, the receivers;
//! - `SubscriptionRow`: one subscription (test event, rotate secret, enable/disable, edit,
//!   delete after a confirmation) and, when opened, its `DeliveryLog` (polled while open, the
//!   newest 50 and "Show older" up to 500, redeliver per delivery);
//! - `SubscriptionForm`: create or edit (URL, event types as checkboxes from the API's list,
//!   description);
//! - `Receivers`: Alertmanager and signed-webhook receivers (list, create, delete).
//!
//! Secrets (a subscription's signing secret, a receiver's token) exist in the answer that
//! created them only, so the page shows them once in [`OnceSecret`] and never again.
//! Everything here needs `webhooks.manage`; the services check it again on every call.

use std::time::Duration;

use acorn_proto::authz::Action;
use acorn_proto::identity::Page;
use acorn_proto::webhooks::{
    CreateReceiver, CreateSubscription, DeliveryState, DeliveryView, DisabledReason, EventTypeView,
    ReceiverKind, ReceiverView, SubscriptionView, UpdateSubscription,
};
use dioxus::prelude::*;

use crate::app::{Badge, CopyBlock, ErrorBox, Loading, checked, ctx, field, optional};
use crate::backend::UiError;
use crate::format;

/// How often an open delivery log re-reads itself (attempts and retries happen in the
/// background).
const POLL: Duration = Duration::from_secs(2);

/// Deliveries shown at first, and added by "Show older".
const DELIVERY_PAGE: usize = 50;

/// The most the console shows (the API's largest page); older ones through the API's cursor.
const MAX_DELIVERIES_SHOWN: usize = 500;

/// A secret to show once, with what it belongs to.
#[derive(Debug, Clone, PartialEq)]
pub struct Secret {
    /// What it is ("Signing secret of https://…").
    pub label: String,
    pub value: String,
    /// How to use it.
    pub hint: String,
}

fn state_word(s: DeliveryState) -> &'static str {
    match s {
        DeliveryState::Pending => "pending",
        DeliveryState::Succeeded => "succeeded",
        DeliveryState::Failed => "failed",
        DeliveryState::Dropped => "dropped",
    }
}

fn disabled_word(r: Option<DisabledReason>) -> &'static str {
    match r {
        Some(DisabledReason::Failing) => "disabled (failing)",
        Some(DisabledReason::Gone) => "disabled (410 Gone)",
        Some(DisabledReason::Manual) | None => "disabled",
    }
}

/// The event types ticked in a subscription form (`*` alone when "every type" is ticked).
fn ticked_types(evt: &FormEvent, types: &[EventTypeView]) -> Vec<String> {
    if checked(evt, "type.*") {
        return vec!["*".to_owned()];
    }
    types
        .iter()
        .filter(|t| checked(evt, &format!("type.{}", t.name)))
        .map(|t| t.name.clone())
        .collect()
}

/// `/console/w/{ws}/webhooks`.
#[component]
pub fn Webhooks() -> Element {
    let c = ctx();
    let backend = c.backend.clone();
    let ws = c.ws();
    let version = use_signal(|| 0u32);
    let data = use_resource(move || {
        let backend = backend.clone();
        let ws = ws.clone();
        let _ = version();
        async move {
            let subs = backend.webhooks(ws.clone()).await?;
            let types = backend.webhook_event_types().await?;
            Ok::<_, UiError>((subs, types))
        }
    });
    let secret = use_signal(|| None::<Secret>);
    let error = use_signal(|| None::<UiError>);
    if !c.can(Action::WebhooksManage) {
        return rsx! {
            h1 { "Webhooks" }
            div { class: "empty", id: "webhooks-forbidden", "Webhooks are managed by the owners and admins of this workspace." }
        };
    }
    rsx! {
        h1 { "Webhooks" }
        p { class: "muted",
            "Acorn posts signed events (Standard Webhooks: " code { "webhook-id" } ", " code { "webhook-timestamp" } ", "
            code { "webhook-signature" } ") to your endpoints when runs, clusters, findings and members change, and retries failed deliveries with backoff."
        }
        if let Some(e) = error() { ErrorBox { error: e } }
        OnceSecret { secret }
        match &*data.read() {
            None => rsx! { Loading { what: "webhooks" } },
            Some(Err(e)) => rsx! { ErrorBox { error: e.clone() } },
            Some(Ok((subs, types))) => rsx! {
                div { class: "panel",
                    h2 { "Subscriptions" }
                    if subs.is_empty() {
                        div { class: "empty", id: "webhooks-empty",
                            "No subscription yet. Add an endpoint below; you get its signing secret once, and \u{201c}Send test event\u{201d} shows whether it answers."
                        }
                    } else {
                        div { class: "table-wrap",
                            table { id: "webhooks-table",
                                thead { tr { th { "Endpoint" } th { "Events" } th { "State" } th { "Secret" } th { "" } } }
                                tbody {
                                    for s in subs.clone() {
                                        SubscriptionRow { key: "{s.id}", s, types: types.clone(), secret, error, version }
                                    }
                                }
                            }
                        }
                    }
                }
                div { class: "panel",
                    h2 { "Add a subscription" }
                    // Keyed by the list's version: a created subscription leaves an empty form.
                    for v in [version()] {
                        SubscriptionForm { key: "{v}", editing: None, types: types.clone(), secret, version, done: None }
                    }
                }
            },
        }
        Receivers { secret }
    }
}

/// A secret shown once, with a Copy button and a Dismiss button.
#[component]
fn OnceSecret(secret: Signal<Option<Secret>>) -> Element {
    let Some(s) = secret() else {
        return rsx! {};
    };
    rsx! {
        div { class: "panel notice", id: "once-secret", role: "status",
            h2 { "{s.label}" }
            p { strong { "Shown only now. " } "{s.hint}" }
            CopyBlock { id: "secret-value", text: s.value.clone() }
            button { class: "secondary", r#type: "button", id: "dismiss-secret", onclick: move |_| secret.set(None), "I have saved it" }
        }
    }
}

#[component]
fn SubscriptionRow(
    s: SubscriptionView,
    types: Vec<EventTypeView>,
    secret: Signal<Option<Secret>>,
    error: Signal<Option<UiError>>,
    version: Signal<u32>,
) -> Element {
    let c = ctx();
    let mut open_log = use_signal(|| false);
    let mut editing = use_signal(|| false);
    let mut confirm_delete = use_signal(|| false);
    let mut busy = use_signal(|| false);
    // Each action: the backend call, then a refreshed list (or the API's refusal).
    let sub = s.clone();
    let act = move |what: &'static str| {
        let backend = c.backend.clone();
        let ws = c.ws();
        let s = sub.clone();
        move |_| {
            if busy() {
                return;
            }
            busy.set(true);
            let (backend, ws, s) = (backend.clone(), ws.clone(), s.clone());
            spawn(async move {
                let id = s.id.clone();
                let r = match what {
                    "test" => backend.test_webhook(ws, id).await.map(|_| {
                        open_log.set(true);
                    }),
                    "rotate" => backend
                        .rotate_webhook_secret(ws, id, None)
                        .await
                        .map(|r| {
                            let old = r
                                .subscription
                                .secrets
                                .get(1)
                                .and_then(|o| o.expires_at)
                                .map(format::unix)
                                .map(|t| format!(" The previous secret keeps signing beside it until {t}, so you can switch the receiver over."))
                                .unwrap_or_else(|| " The previous secret no longer signs.".to_owned());
                            secret.set(Some(Secret {
                                label: format!("New signing secret of {}", s.url),
                                value: r.secret,
                                hint: format!("Verify deliveries with it (Standard Webhooks).{old}"),
                            }));
                        }),
                    "enable" | "disable" => backend
                        .update_webhook(
                            ws,
                            id,
                            UpdateSubscription {
                                enabled: Some(what == "enable"),
                                ..Default::default()
                            },
                        )
                        .await
                        .map(drop),
                    _ => backend.delete_webhook(ws, id).await.map(drop),
                };
                match r {
                    Ok(()) => {
                        error.set(None);
                        version += 1;
                    }
                    Err(e) => error.set(Some(e)),
                }
                busy.set(false);
            });
        }
    };
    let state = if s.enabled {
        "enabled".to_owned()
    } else {
        disabled_word(s.disabled_reason).to_owned()
    };
    let fingerprint = s
        .secrets
        .first()
        .map(|k| k.fingerprint.clone())
        .unwrap_or_default();
    rsx! {
        tr { "data-webhook": "{s.url}",
            td {
                code { "{s.url}" }
                if !s.description.is_empty() { div { class: "muted small", "{s.description}" } }
            }
            td { class: "small", {s.event_types.join(", ")} }
            td {
                Badge { text: if s.enabled { "enabled".to_owned() } else { "disabled".to_owned() } }
                if !s.enabled { div { class: "muted small", "{state}" } }
                if s.consecutive_failures > 0 { div { class: "muted small", "{s.consecutive_failures} failed in a row" } }
            }
            td { class: "small", code { "{fingerprint}" } if s.secrets.len() > 1 { div { class: "muted", "+ previous (overlap)" } } }
            td {
                div { class: "row",
                    button { class: "secondary", r#type: "button", "data-action": "test", disabled: busy(), onclick: act("test"), "Send test event" }
                    button { class: "secondary", r#type: "button", "data-action": "log", "aria-expanded": "{open_log()}", onclick: move |_| open_log.toggle(), if open_log() { "Hide deliveries" } else { "Deliveries" } }
                    button { class: "secondary", r#type: "button", "data-action": "edit", onclick: move |_| editing.toggle(), "Edit" }
                    if s.enabled {
                        button { class: "secondary", r#type: "button", "data-action": "disable", disabled: busy(), onclick: act("disable"), "Disable" }
                    } else {
                        button { class: "secondary", r#type: "button", "data-action": "enable", disabled: busy(), onclick: act("enable"), "Enable" }
                    }
                    button { class: "secondary", r#type: "button", "data-action": "rotate", disabled: busy(), onclick: act("rotate"), "Rotate secret" }
                    button { class: "secondary", r#type: "button", "data-action": "delete", onclick: move |_| confirm_delete.set(true), "Delete" }
                }
                if confirm_delete() {
                    div { class: "notice confirm", role: "alertdialog", "aria-label": "Confirm deletion",
                        "Delete this subscription? Pending deliveries are dropped and its log is removed. "
                        button { class: "danger", r#type: "button", "data-action": "confirm-delete", disabled: busy(), onclick: act("delete"), "Delete subscription" }
                        " "
                        button { class: "secondary", r#type: "button", onclick: move |_| confirm_delete.set(false), "Cancel" }
                    }
                }
            }
        }
        if editing() {
            tr { class: "edit-row",
                td { colspan: "5",
                    SubscriptionForm { editing: Some(s.clone()), types: types.clone(), secret, version, done: Some(editing) }
                }
            }
        }
        if open_log() {
            tr { class: "log-row",
                td { colspan: "5", DeliveryLog { sub: s.id.clone(), error } }
            }
        }
    }
}

/// Create (`editing: None`) or edit a subscription. `done` is closed after a successful edit.
#[component]
fn SubscriptionForm(
    editing: Option<SubscriptionView>,
    types: Vec<EventTypeView>,
    secret: Signal<Option<Secret>>,
    version: Signal<u32>,
    done: Option<Signal<bool>>,
) -> Element {
    let c = ctx();
    let mut busy = use_signal(|| false);
    let mut error = use_signal(|| None::<UiError>);
    let backend = c.backend.clone();
    let ws = c.ws();
    let form_id = match &editing {
        Some(s) => format!("webhook-edit-{}", s.id),
        None => "webhook-form".to_owned(),
    };
    let has = {
        let editing = editing.clone();
        move |name: &str| {
            editing
                .as_ref()
                .is_some_and(|s| s.event_types.iter().any(|t| t == name))
        }
    };
    let all_types = types.clone();
    let sub = editing.clone();
    rsx! {
        form { class: "stack", id: "{form_id}",
            onsubmit: move |evt: FormEvent| {
                if busy() { return; }
                let event_types = ticked_types(&evt, &all_types);
                let url = field(&evt, "url").trim().to_owned();
                let description = field(&evt, "description").trim().to_owned();
                let (backend, ws, sub) = (backend.clone(), ws.clone(), sub.clone());
                busy.set(true);
                spawn(async move {
                    let r = match sub {
                        None => backend
                            .create_webhook(ws, CreateSubscription { url: url.clone(), event_types, description, enabled: None })
                            .await
                            .map(|created| {
                                secret.set(Some(Secret {
                                    label: format!("Signing secret of {url}"),
                                    value: created.secret,
                                    hint: "Your endpoint verifies each delivery's webhook-signature with it (Standard Webhooks; the libraries take the whsec_ value as it is).".to_owned(),
                                }));
                            }),
                        Some(s) => backend
                            .update_webhook(ws, s.id, UpdateSubscription { url: Some(url), event_types: Some(event_types), description: Some(description), enabled: None })
                            .await
                            .map(drop),
                    };
                    match r {
                        Ok(()) => {
                            error.set(None);
                            version += 1;
                            if let Some(mut d) = done { d.set(false); }
                        }
                        Err(e) => error.set(Some(e)),
                    }
                    busy.set(false);
                });
            },
            label { "Endpoint URL"
                input { name: "url", r#type: "url", required: true, placeholder: "https://hooks.example.internal/acorn",
                    value: "{editing.as_ref().map(|s| s.url.clone()).unwrap_or_default()}" }
            }
            label { "Description"
                input { name: "description", maxlength: "500", placeholder: "on-call bot",
                    value: "{editing.as_ref().map(|s| s.description.clone()).unwrap_or_default()}" }
            }
            fieldset { class: "event-types",
                legend { "Event types" }
                label { class: "check", input { r#type: "checkbox", name: "type.*", checked: has("*") } strong { "every type" } " (" code { "*" } ", also future ones)" }
                for t in types.clone() {
                    label { class: "check", key: "{t.name}", title: "{t.description}",
                        input { r#type: "checkbox", name: "type.{t.name}", checked: has(&t.name) }
                        code { "{t.name}" }
                    }
                }
            }
            div {
                button { r#type: "submit", disabled: busy(),
                    if editing.is_some() { "Save subscription" } else if busy() { "Creating…" } else { "Create subscription" }
                }
            }
            if let Some(e) = error() { ErrorBox { error: e } }
        }
    }
}

/// The delivery log of one subscription: newest first, polled while open.
#[component]
fn DeliveryLog(sub: String, error: Signal<Option<UiError>>) -> Element {
    let c = ctx();
    let mut log = use_signal(|| None::<Result<Page<DeliveryView>, UiError>>);
    // How many of the newest deliveries are shown ("Show older" adds a page, up to the API's
    // 500; older ones through the API's cursor).
    let mut shown = use_signal(|| DELIVERY_PAGE);
    let backend = c.backend.clone();
    let ws = c.ws();
    let id = sub.clone();
    let load = move || {
        let (backend, ws, id) = (backend.clone(), ws.clone(), id.clone());
        async move { backend.webhook_deliveries(ws, id, *shown.peek()).await }
    };
    let poll = load.clone();
    use_future(move || {
        let load = poll.clone();
        async move {
            loop {
                let r = load().await;
                let stop = matches!(&r, Err(e) if e.is_signed_out() || e.code == "not_found");
                log.set(Some(r));
                if stop {
                    break;
                }
                tokio::time::sleep(POLL).await;
            }
        }
    });
    let v = log.read().clone();
    let api = format!("/api/v1/workspaces/{}/webhooks/{sub}/deliveries", c.ws());
    rsx! {
        div { class: "delivery-log", "data-log": "{sub}",
            h3 { "Delivery log" }
            match v {
                None => rsx! { Loading { what: "deliveries" } },
                Some(Err(e)) => rsx! { ErrorBox { error: e } },
                Some(Ok(page)) if page.items.is_empty() => rsx! {
                    p { class: "muted", "No delivery yet. \u{201c}Send test event\u{201d} sends one now." }
                },
                Some(Ok(page)) => rsx! {
                    div { class: "table-wrap",
                        table { class: "deliveries",
                            thead { tr { th { "Event" } th { "State" } th { "Attempts" } th { "Response" } th { "Next retry" } th { "Created" } th { "" } } }
                            tbody {
                                for d in page.items.clone() { DeliveryRow { key: "{d.id}", d, sub: sub.clone(), error } }
                            }
                        }
                    }
                    match page.next_cursor.clone() {
                        None => rsx! {},
                        Some(_) if shown() < MAX_DELIVERIES_SHOWN => rsx! {
                            button { r#type: "button", class: "secondary", "data-action": "older",
                                onclick: move |_| {
                                    shown.set((shown() + DELIVERY_PAGE).min(MAX_DELIVERIES_SHOWN));
                                    let load = load.clone();
                                    spawn(async move { log.set(Some(load().await)); });
                                },
                                "Show {DELIVERY_PAGE} older"
                            }
                        },
                        Some(cursor) => rsx! {
                            p { class: "muted small", "data-older": "api",
                                "The {MAX_DELIVERIES_SHOWN} newest are shown. Older ones: "
                                code { "GET {api}?cursor={cursor}" }
                            }
                        },
                    }
                },
            }
        }
    }
}

#[component]
fn DeliveryRow(d: DeliveryView, sub: String, error: Signal<Option<UiError>>) -> Element {
    let c = ctx();
    let mut busy = use_signal(|| false);
    let mut queued = use_signal(|| false);
    let last = d.attempts.last().cloned();
    let response = match &last {
        Some(a) => match (a.status, &a.error) {
            (Some(code), _) => format!("{code} in {} ms", a.latency_ms),
            (None, Some(e)) => e.clone(),
            (None, None) => "—".to_owned(),
        },
        None => "—".to_owned(),
    };
    let excerpt = last
        .as_ref()
        .map(|a| a.response_excerpt.clone())
        .unwrap_or_default();
    let next = d
        .next_attempt_at_ms
        .filter(|_| d.state == DeliveryState::Pending)
        .map(format::unix_ms)
        .unwrap_or_else(|| "—".to_owned());
    let backend = c.backend.clone();
    let ws = c.ws();
    let delivery = d.id.clone();
    rsx! {
        tr { "data-delivery": "{d.id}", "data-event-type": "{d.event_type}",
            td { code { "{d.event_type}" } if d.redelivery { span { class: "muted small", " (redelivery)" } } }
            td { Badge { text: state_word(d.state).to_owned() } }
            td { class: "attempts", "{d.attempts.len()}" }
            td { class: "response small", title: "{excerpt}", "{response}" }
            td { class: "small", "{next}" }
            td { class: "small", {format::unix_ms(d.created_at_ms)} }
            td {
                if queued() {
                    span { class: "muted small", "queued again" }
                } else {
                    button { class: "secondary", r#type: "button", "data-action": "redeliver", disabled: busy(),
                        onclick: move |_| {
                            if busy() { return; }
                            busy.set(true);
                            let (backend, ws, sub, delivery) = (backend.clone(), ws.clone(), sub.clone(), delivery.clone());
                            spawn(async move {
                                match backend.redeliver_webhook(ws, sub, delivery).await {
                                    Ok(_) => { queued.set(true); error.set(None); }
                                    Err(e) => error.set(Some(e)),
                                }
                                busy.set(false);
                            });
                        },
                        "Redeliver"
                    }
                }
            }
        }
    }
}

/// Inbound alert receivers: Alertmanager (bearer token) and signed webhooks (secret).
#[component]
fn Receivers(secret: Signal<Option<Secret>>) -> Element {
    let c = ctx();
    let backend = c.backend.clone();
    let ws = c.ws();
    let mut version = use_signal(|| 0u32);
    let list = use_resource(move || {
        let backend = backend.clone();
        let ws = ws.clone();
        let _ = version();
        async move { backend.alert_receivers(ws).await }
    });
    let mut error = use_signal(|| None::<UiError>);
    let mut busy = use_signal(|| false);
    let mut kind = use_signal(|| "alertmanager".to_owned());
    let backend = c.backend.clone();
    let ws = c.ws();
    rsx! {
        div { class: "panel", id: "receivers",
            h2 { "Alert receivers" }
            p { class: "muted", "An alert posted to a receiver starts a read-only investigation of the cluster it names (one per alert fingerprint)." }
            if let Some(e) = error() { ErrorBox { error: e } }
            match &*list.read() {
                None => rsx! { Loading { what: "receivers" } },
                Some(Err(e)) => rsx! { ErrorBox { error: e.clone() } },
                Some(Ok(items)) if items.is_empty() => rsx! {
                    div { class: "empty", id: "receivers-empty", "No receiver. Add one for Alertmanager (its webhook_configs) or for any tool that signs its webhooks." }
                },
                Some(Ok(items)) => rsx! {
                    div { class: "table-wrap",
                        table { id: "receivers-table",
                            thead { tr { th { "Name" } th { "Kind" } th { "Posts to" } th { "Credential" } th { "Runs/hour" } th { "" } } }
                            tbody { for r in items.clone() { ReceiverRow { key: "{r.id}", r, error, version } } }
                        }
                    }
                },
            }
            h3 { "Add a receiver" }
            form { class: "stack", id: "receiver-form",
                onsubmit: move |evt: FormEvent| {
                    if busy() { return; }
                    let k = if field(&evt, "kind") == "signed" { ReceiverKind::Signed } else { ReceiverKind::Alertmanager };
                    let body = CreateReceiver {
                        kind: k,
                        name: field(&evt, "name").trim().to_owned(),
                        cluster_label: optional(&evt, "cluster_label"),
                        default_cluster: optional(&evt, "default_cluster"),
                        prompt_template: optional(&evt, "prompt_template"),
                        max_runs_per_hour: field(&evt, "max_runs_per_hour").trim().parse().ok(),
                    };
                    let (backend, ws) = (backend.clone(), ws.clone());
                    busy.set(true);
                    spawn(async move {
                        match backend.create_alert_receiver(ws, body).await {
                            Ok(created) => {
                                let r = created.receiver;
                                let hint = match r.kind {
                                    ReceiverKind::Alertmanager => format!("Alertmanager posts to {} with this bearer token (http_config.authorization.credentials).", r.url),
                                    ReceiverKind::Signed => format!("The source posts to {} and signs with this secret (Standard Webhooks).", r.url),
                                };
                                secret.set(Some(Secret { label: format!("Credential of receiver “{}”", r.name), value: created.credential, hint }));
                                error.set(None);
                                version += 1;
                            }
                            Err(e) => error.set(Some(e)),
                        }
                        busy.set(false);
                    });
                },
                label { "Kind"
                    select { name: "kind", onchange: move |e| kind.set(e.value()),
                        option { value: "alertmanager", "Alertmanager (bearer token)" }
                        option { value: "signed", "Signed webhook (generic)" }
                    }
                }
                label { "Name" input { name: "name", required: true, maxlength: "100", placeholder: "prod alertmanager" } }
                if kind() == "alertmanager" {
                    label { "Cluster label" input { name: "cluster_label", placeholder: "cluster" } }
                } else {
                    label { "Question template"
                        textarea { name: "prompt_template", rows: "3", placeholder: "Investigate {{{{alert.name}}}} on {{{{alert.service}}}}" }
                    }
                }
                label { "Default cluster (name or id)" input { name: "default_cluster", placeholder: "none: alerts without a cluster are refused" } }
                label { "Runs per hour" input { name: "max_runs_per_hour", r#type: "number", min: "1", max: "1000", placeholder: "20" } }
                div { button { r#type: "submit", disabled: busy(), "Create receiver" } }
            }
        }
    }
}

#[component]
fn ReceiverRow(r: ReceiverView, error: Signal<Option<UiError>>, version: Signal<u32>) -> Element {
    let c = ctx();
    let mut confirm = use_signal(|| false);
    let mut busy = use_signal(|| false);
    let backend = c.backend.clone();
    let ws = c.ws();
    let id = r.id.clone();
    let kind = match r.kind {
        ReceiverKind::Alertmanager => "alertmanager",
        ReceiverKind::Signed => "signed",
    };
    rsx! {
        tr { "data-receiver": "{r.name}",
            td { "{r.name}" }
            td { "{kind}" }
            td { class: "small", code { "{r.url}" } }
            td { class: "small", code { "{r.fingerprint}" } }
            td { "{r.max_runs_per_hour}" }
            td {
                if confirm() {
                    span { role: "alertdialog", "aria-label": "Confirm deletion",
                        "Delete? Its source is refused from now on. "
                        button { class: "danger", r#type: "button", "data-action": "confirm-delete", disabled: busy(),
                            onclick: move |_| {
                                if busy() { return; }
                                busy.set(true);
                                let (backend, ws, id) = (backend.clone(), ws.clone(), id.clone());
                                spawn(async move {
                                    match backend.delete_alert_receiver(ws, id).await {
                                        Ok(()) => { error.set(None); version += 1; }
                                        Err(e) => error.set(Some(e)),
                                    }
                                    busy.set(false);
                                });
                            },
                            "Delete receiver"
                        }
                        " "
                        button { class: "secondary", r#type: "button", onclick: move |_| confirm.set(false), "Cancel" }
                    }
                } else {
                    button { class: "secondary", r#type: "button", "data-action": "delete", onclick: move |_| confirm.set(true), "Delete" }
                }
            }
        }
    }
}
