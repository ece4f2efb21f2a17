//! The workspace at a glance (`/console/w/{ws}`) and the list of workspaces (`/console/`).

use acorn_proto::authz::Action;
use acorn_proto::clusters::LinkStatus;
use acorn_proto::identity::WorkspaceView;
use dioxus::prelude::*;

use crate::app::{Badge, ErrorBox, Loading, ctx, field};
use crate::backend::UiError;
use crate::pages::findings::FindingsList;
use crate::pages::sessions::SessionList;
use crate::route::{cluster_link, ws_link};

/// `/console/w/{ws}`.
#[component]
pub fn Overview() -> Element {
    let c = ctx();
    let backend = c.backend.clone();
    let ws = c.ws();
    let clusters = use_resource(move || {
        let backend = backend.clone();
        let ws = ws.clone();
        async move { backend.clusters(ws).await }
    });
    let name = c
        .workspace
        .as_ref()
        .map(|w| w.name.clone())
        .unwrap_or_default();
    rsx! {
        h1 { "{name}" }
        div { class: "grid2",
            div {
                div { class: "panel",
                    h2 { "Findings" }
                    FindingsList { cluster: None }
                }
                div { class: "panel",
                    h2 { "Recent sessions" }
                    SessionList { limit: 8 }
                }
                if c.can(Action::WorkspaceUpdate) {
                    WorkspaceSettings {}
                }
            }
            div { class: "panel",
                h2 { "Clusters" }
                match &*clusters.read() {
                    None => rsx! { Loading { what: "clusters" } },
                    Some(Err(e)) => rsx! { ErrorBox { error: e.clone() } },
                    Some(Ok(items)) if items.is_empty() => rsx! {
                        div { class: "empty",
                            "No cluster yet. "
                            if c.can(Action::ClustersManage) {
                                a { href: "{ws_link(&c.ws(), \"clusters\")}", "Register your first cluster" }
                                " to install the agent."
                            } else {
                                "An admin of this workspace registers clusters."
                            }
                        }
                    },
                    Some(Ok(items)) => rsx! {
                        ul { class: "plain",
                            for cl in items.clone() {
                                li { key: "{cl.id}",
                                    a { href: cluster_link(&cl.workspace_id, &cl.id), "{cl.name}" } " "
                                    Badge { text: match cl.status { LinkStatus::Connected => "connected", LinkStatus::Disconnected => "disconnected", LinkStatus::NeverConnected => "never_connected" }.to_owned() }
                                }
                            }
                        }
                    },
                }
            }
        }
    }
}

/// Rename the workspace; allow or forbid pod logs (owners and admins).
#[component]
fn WorkspaceSettings() -> Element {
    let c = ctx();
    let Some(w) = c.workspace.clone() else {
        return rsx! {};
    };
    let mut busy = use_signal(|| false);
    let mut result = use_signal(|| None::<Result<WorkspaceView, UiError>>);
    let backend = c.backend.clone();
    let ws = w.id.clone();
    rsx! {
        div { class: "panel",
            h2 { "Workspace settings" }
            form { class: "inline", id: "workspace-settings",
                onsubmit: move |evt: FormEvent| {
                    if busy() { return; }
                    busy.set(true);
                    let name = Some(field(&evt, "name").trim().to_owned()).filter(|n| !n.is_empty());
                    let logs = crate::app::checked(&evt, "logs_allowed");
                    let backend = backend.clone();
                    let ws = ws.clone();
                    spawn(async move {
                        result.set(Some(backend.update_workspace(ws, name, Some(logs)).await));
                        busy.set(false);
                    });
                },
                label { "Name" input { name: "name", value: "{w.name}", maxlength: "100" } }
                label { class: "check", input { r#type: "checkbox", name: "logs_allowed", checked: w.logs_allowed } "Tools may read pod logs" }
                button { r#type: "submit", disabled: busy(), "Save" }
            }
            match result() {
                Some(Ok(saved)) => rsx! { p { "data-navigate": "{ws_link(&saved.id, \"\")}", "Saved." } },
                Some(Err(e)) => rsx! { ErrorBox { error: e } },
                None => rsx! {},
            }
        }
    }
}

/// `/console/`: the workspaces; with exactly one, goes straight to it.
#[component]
pub fn Home() -> Element {
    let c = ctx();
    let workspaces = c.me.workspaces.clone();
    if workspaces.len() == 1 && !c.me.user.appliance_admin {
        let to = ws_link(&workspaces[0].id, "");
        return rsx! { p { "data-navigate": "{to}", a { href: "{to}", "Open {workspaces[0].name}" } } };
    }
    rsx! {
        h1 { "Workspaces" }
        if workspaces.is_empty() {
            div { class: "empty", id: "no-workspaces",
                if c.me.user.appliance_admin {
                    "No workspace yet. Create one below, then register a cluster in it."
                } else {
                    "You are not a member of any workspace yet. Ask an administrator for an invitation link."
                }
            }
        }
        ul { class: "plain", id: "workspaces",
            for w in workspaces {
                WorkspaceItem { key: "{w.id}", w }
            }
        }
        if c.me.user.appliance_admin {
            CreateWorkspace {}
        }
    }
}

#[component]
fn WorkspaceItem(w: WorkspaceView) -> Element {
    rsx! {
        li { a { href: "{ws_link(&w.id, \"\")}", "{w.name}" } " " span { class: "badge", "{w.role.as_str()}" } }
    }
}

#[component]
fn CreateWorkspace() -> Element {
    let c = ctx();
    let mut busy = use_signal(|| false);
    let mut result = use_signal(|| None::<Result<WorkspaceView, UiError>>);
    let backend = c.backend.clone();
    rsx! {
        div { class: "panel",
            h2 { "Create a workspace" }
            form { class: "inline", id: "create-workspace",
                onsubmit: move |evt: FormEvent| {
                    if busy() { return; }
                    busy.set(true);
                    let name = field(&evt, "name");
                    let backend = backend.clone();
                    spawn(async move {
                        result.set(Some(backend.create_workspace(name).await));
                        busy.set(false);
                    });
                },
                label { "Name" input { name: "name", required: true, maxlength: "100" } }
                button { r#type: "submit", disabled: busy(), "Create" }
            }
            match result() {
                Some(Ok(w)) => rsx! { p { "data-navigate": "{ws_link(&w.id, \"\")}", "Created " a { href: "{ws_link(&w.id, \"\")}", "{w.name}" } } },
                Some(Err(e)) => rsx! { ErrorBox { error: e } },
                None => rsx! {},
            }
        }
    }
}
