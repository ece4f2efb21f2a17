//! Members and invitations (`/console/w/{ws}/members`), and API tokens (`…/tokens`).

use acorn_proto::authz::{Action, Role};
use acorn_proto::identity::{CreateInvitation, CreateToken, InvitationView, MemberView, TokenView};
use dioxus::prelude::*;

use crate::app::{Badge, CopyBlock, ErrorBox, Loading, ctx, field};
use crate::backend::UiError;
use crate::format;

fn role_of(s: &str) -> Role {
    Role::ALL
        .iter()
        .copied()
        .find(|r| r.as_str() == s)
        .unwrap_or(Role::Viewer)
}

/// `/console/w/{ws}/members`.
#[component]
pub fn Members() -> Element {
    let c = ctx();
    let backend = c.backend.clone();
    let ws = c.ws();
    let mut version = use_signal(|| 0u32);
    let data = use_resource(move || {
        let backend = backend.clone();
        let ws = ws.clone();
        let _ = version();
        async move {
            let members = backend.members(ws.clone()).await?;
            let invitations = backend.invitations(ws).await.unwrap_or_default();
            Ok::<_, UiError>((members, invitations))
        }
    });
    let manage = c.can(Action::MembersManage);
    let mut error = use_signal(|| None::<UiError>);
    let mut link = use_signal(|| None::<InvitationView>);
    let backend = c.backend.clone();
    let ws = c.ws();
    rsx! {
        h1 { "Members" }
        if let Some(e) = error() { ErrorBox { error: e } }
        div { class: "panel",
            match &*data.read() {
                None => rsx! { Loading { what: "members" } },
                Some(Err(e)) => rsx! { ErrorBox { error: e.clone() } },
                Some(Ok((members, invitations))) => rsx! {
                    table { id: "members-table",
                        thead { tr { th { "Member" } th { "Role" } if manage { th { "" } } } }
                        tbody {
                            for m in members.clone() {
                                MemberRow { key: "{m.user.id}", m, manage, error, version }
                            }
                        }
                    }
                    if !invitations.is_empty() {
                        h2 { "Invitations" }
                        table { id: "invitations-table",
                            thead { tr { th { "Email" } th { "Role" } th { "State" } th { "Expires" } if manage { th { "" } } } }
                            tbody {
                                for i in invitations.clone() {
                                    InvitationRow { key: "{i.id}", i, manage, error, version }
                                }
                            }
                        }
                    }
                },
            }
        }
        if manage {
            div { class: "panel",
                h2 { "Invite" }
                form { class: "inline", id: "invite-form",
                    onsubmit: move |evt: FormEvent| {
                        let body = CreateInvitation { email: field(&evt, "email"), role: role_of(&field(&evt, "role")), expires_in_hours: None };
                        let backend = backend.clone();
                        let ws = ws.clone();
                        spawn(async move {
                            match backend.invite(ws, body).await {
                                Ok(i) => { link.set(Some(i)); version += 1; }
                                Err(e) => error.set(Some(e)),
                            }
                        });
                    },
                    label { "Email" input { name: "email", r#type: "email", required: true } }
                    label { "Role" select { name: "role", for r in Role::ALL { option { value: "{r.as_str()}", selected: *r == Role::Operator, "{r.as_str()}" } } } }
                    button { r#type: "submit", "Create invitation link" }
                }
                if let Some(i) = link() {
                    if let Some(l) = i.link { p { "Send this single-use link to {i.email}:" } CopyBlock { id: "invitation-link", text: l } }
                }
            }
        }
    }
}

#[component]
fn MemberRow(
    m: MemberView,
    manage: bool,
    error: Signal<Option<UiError>>,
    version: Signal<u32>,
) -> Element {
    let c = ctx();
    let name = m
        .user
        .name
        .clone()
        .or(m.user.email.clone())
        .unwrap_or(m.user.id.clone());
    let backend = c.backend.clone();
    let ws = c.ws();
    let uid = m.user.id.clone();
    let backend2 = c.backend.clone();
    let ws2 = c.ws();
    let uid2 = m.user.id.clone();
    let mut confirm = use_signal(|| false);
    rsx! {
        tr { "data-member": "{name}",
            td { "{name}" }
            td {
                if manage {
                    select { "aria-label": "Role of {name}",
                        onchange: move |e| {
                            let (backend, ws, uid) = (backend.clone(), ws.clone(), uid.clone());
                            let role = role_of(&e.value());
                            spawn(async move {
                                match backend.set_role(ws, uid, role).await {
                                    Ok(_) => { error.set(None); version += 1; }
                                    Err(e) => error.set(Some(e)),
                                }
                            });
                        },
                        for r in Role::ALL { option { value: "{r.as_str()}", selected: *r == m.role, "{r.as_str()}" } }
                    }
                } else {
                    "{m.role.as_str()}"
                }
            }
            if manage {
                td {
                    if confirm() {
                        span { role: "alertdialog", "aria-label": "Confirm removal",
                            "Remove {name} from this workspace? They lose access at once. "
                            button { class: "danger", r#type: "button", "data-action": "confirm-remove",
                                onclick: move |_| {
                                    let (backend, ws, uid) = (backend2.clone(), ws2.clone(), uid2.clone());
                                    spawn(async move {
                                        match backend.remove_member(ws, uid).await {
                                            Ok(()) => { error.set(None); version += 1; }
                                            Err(e) => error.set(Some(e)),
                                        }
                                        confirm.set(false);
                                    });
                                },
                                "Remove member"
                            }
                            " "
                            button { class: "secondary", r#type: "button", onclick: move |_| confirm.set(false), "Cancel" }
                        }
                    } else {
                        button { class: "secondary", r#type: "button", "data-action": "remove", onclick: move |_| confirm.set(true), "Remove" }
                    }
                }
            }
        }
    }
}

/// A pending invitation can be revoked (its link stops working).
#[component]
fn InvitationRow(
    i: InvitationView,
    manage: bool,
    error: Signal<Option<UiError>>,
    version: Signal<u32>,
) -> Element {
    let c = ctx();
    let mut busy = use_signal(|| false);
    let backend = c.backend.clone();
    let ws = c.ws();
    let id = i.id.clone();
    rsx! {
        tr { "data-invitation": "{i.email}",
            td { "{i.email}" }
            td { "{i.role.as_str()}" }
            td { Badge { text: i.state.clone() } }
            td { {format::rfc3339(&i.expires_at)} }
            if manage {
                td {
                    if i.state == "pending" {
                        button { class: "secondary", r#type: "button", "data-action": "revoke", disabled: busy(),
                            onclick: move |_| {
                                if busy() { return; }
                                busy.set(true);
                                let (backend, ws, id) = (backend.clone(), ws.clone(), id.clone());
                                spawn(async move {
                                    match backend.revoke_invitation(ws, id).await {
                                        Ok(()) => { error.set(None); version += 1; }
                                        Err(e) => error.set(Some(e)),
                                    }
                                    busy.set(false);
                                });
                            },
                            "Revoke"
                        }
                    }
                }
            }
        }
    }
}

/// `/console/w/{ws}/tokens`.
#[component]
pub fn Tokens() -> Element {
    let c = ctx();
    let backend = c.backend.clone();
    let ws = c.ws();
    let mut version = use_signal(|| 0u32);
    let list = use_resource(move || {
        let backend = backend.clone();
        let ws = ws.clone();
        let _ = version();
        async move { backend.tokens(ws).await }
    });
    let mut created = use_signal(|| None::<TokenView>);
    let mut error = use_signal(|| None::<UiError>);
    let mut busy = use_signal(|| false);
    let my_role = c.workspace.as_ref().map(|w| w.role).unwrap_or(Role::Viewer);
    let backend = c.backend.clone();
    let ws = c.ws();
    rsx! {
        h1 { "API tokens" }
        div { class: "panel",
            h2 { "New token" }
            form { class: "inline", id: "token-form",
                onsubmit: move |evt: FormEvent| {
                    if busy() { return; }
                    busy.set(true);
                    let days = field(&evt, "days").parse().ok();
                    let body = CreateToken { name: field(&evt, "name"), role: role_of(&field(&evt, "role")), expires_in_days: days };
                    let backend = backend.clone();
                    let ws = ws.clone();
                    spawn(async move {
                        match backend.create_token(ws, body).await {
                            Ok(t) => { created.set(Some(t)); error.set(None); version += 1; }
                            Err(e) => error.set(Some(e)),
                        }
                        busy.set(false);
                    });
                },
                label { "Name" input { name: "name", required: true, placeholder: "ci-pipeline" } }
                label { "Role" select { name: "role", for r in Role::ALL.iter().filter(|r| my_role.covers(**r)) { option { value: "{r.as_str()}", "{r.as_str()}" } } } }
                label { "Days" input { name: "days", r#type: "number", min: "1", max: "365", value: "90" } }
                button { r#type: "submit", disabled: busy(), "Create" }
            }
            if let Some(e) = error() { ErrorBox { error: e } }
            if let Some(t) = created() {
                if let Some(secret) = t.token { p { "Shown once: send it as " code { "Authorization: Bearer …" } } CopyBlock { id: "new-token", text: secret } }
            }
        }
        div { class: "panel",
            match &*list.read() {
                None => rsx! { Loading { what: "tokens" } },
                Some(Err(e)) => rsx! { ErrorBox { error: e.clone() } },
                Some(Ok(items)) if items.is_empty() => rsx! { div { class: "empty", "No API token. Automation (CI, scripts) signs in with one." } },
                Some(Ok(items)) => rsx! {
                    table { id: "tokens-table",
                        thead { tr { th { "Name" } th { "Role" } th { "Created" } th { "Expires" } th { "Last used" } th { "" } } }
                        tbody { for t in items.clone() { TokenRow { key: "{t.id}", t, error, version } } }
                    }
                },
            }
        }
    }
}

#[component]
fn TokenRow(t: TokenView, error: Signal<Option<UiError>>, version: Signal<u32>) -> Element {
    let c = ctx();
    let backend = c.backend.clone();
    let ws = c.ws();
    let id = t.id.clone();
    rsx! {
        tr {
            td { "{t.name}" } td { "{t.role.as_str()}" } td { {format::rfc3339(&t.created_at)} }
            td { {t.expires_at.as_deref().map(format::rfc3339).unwrap_or_else(|| "never".into())} }
            td { {t.last_used_at.as_deref().map(format::rfc3339).unwrap_or_else(|| "never".into())} }
            td {
                if t.revoked_at.is_some() { Badge { text: "revoked".to_owned() } } else {
                    button { class: "secondary", r#type: "button",
                        onclick: move |_| {
                            let (backend, ws, id) = (backend.clone(), ws.clone(), id.clone());
                            spawn(async move {
                                match backend.revoke_token(ws, id).await { Ok(()) => version += 1, Err(e) => error.set(Some(e)) }
                            });
                        },
                        "Revoke"
                    }
                }
            }
        }
    }
}
