//! The root component, the page frame and the widgets every page uses.
//!
//! The root loads who is signed in (`Backend::me`) and the page's workspace once, provides them
//! as context ([`Ctx`]) and renders the page's component inside the frame. Errors from the
//! backend are shown with the API's message ([`ErrorBox`]); an expired session sends the
//! browser to the sign-in page with the current page as `next`.

use std::sync::Arc;

use acorn_proto::authz::Action;
use acorn_proto::identity::{Me, WorkspaceView};
use dioxus::prelude::*;

use crate::PageProps;
use crate::backend::{Backend, UiError};
use crate::pages;
use crate::route::{Route, percent_encode, ws_link};

/// What every component of a page can reach.
#[derive(Clone)]
pub struct Ctx {
    pub backend: Arc<dyn Backend>,
    /// The page's path and query (for "back after sign-in").
    pub path: String,
    pub me: Me,
    /// The page's workspace, with the caller's permissions in it.
    pub workspace: Option<WorkspaceView>,
}

impl Ctx {
    /// Whether the caller may take `action` in the page's workspace.
    pub fn can(&self, action: Action) -> bool {
        self.workspace
            .as_ref()
            .is_some_and(|w| w.permissions.contains(&action))
    }

    /// The page's workspace id ("" outside a workspace).
    pub fn ws(&self) -> String {
        self.workspace
            .as_ref()
            .map(|w| w.id.clone())
            .unwrap_or_default()
    }
}

/// The context of the current page.
pub fn ctx() -> Ctx {
    use_context::<Ctx>()
}

/// Props of [`App`].
#[derive(Props, Clone, PartialEq)]
pub struct AppProps {
    pub page: PageProps,
}

/// The root of every LiveView page.
pub fn App(props: AppProps) -> Element {
    let page = props.page.clone();
    let backend = page.backend.clone();
    let ws = page.route.workspace().map(str::to_owned);
    let loaded = use_resource(move || {
        let backend = backend.clone();
        let ws = ws.clone();
        async move {
            let me = backend.me().await?;
            let workspace = match ws {
                Some(ws) => Some(backend.workspace(ws).await?),
                None => None,
            };
            Ok::<_, UiError>((me, workspace))
        }
    });
    let value = loaded.read().clone();
    match value {
        None => rsx! { Loading { what: "your workspaces" } },
        Some(Err(e)) => rsx! {
            main { class: "page", ErrorBoxRaw { error: e, path: page.path.clone() } }
        },
        Some(Ok((me, workspace))) => rsx! {
            Frame {
                page: page.clone(),
                me: me.clone(),
                workspace: workspace.clone(),
            }
        },
    }
}

#[component]
fn Frame(page: PageProps, me: Me, workspace: Option<WorkspaceView>) -> Element {
    use_context_provider(|| Ctx {
        backend: page.backend.clone(),
        path: page.path.clone(),
        me: me.clone(),
        workspace: workspace.clone(),
    });
    let route = page.route.clone();
    let user = me
        .user
        .name
        .clone()
        .or(me.user.email.clone())
        .unwrap_or_else(|| me.user.id.clone());
    let page_id = format!("page-{}", route.title().to_lowercase().replace(' ', "-"));
    let current_ws = workspace.as_ref().map(|w| w.id.clone());
    let nav: Vec<(&str, String, bool)> = match &workspace {
        Some(w) => {
            let can = |a: Action| w.permissions.contains(&a);
            let mut items = vec![
                (
                    "Overview",
                    ws_link(&w.id, ""),
                    matches!(route, Route::Overview { .. }),
                ),
                (
                    "Clusters",
                    ws_link(&w.id, "clusters"),
                    matches!(route, Route::Clusters { .. } | Route::Cluster { .. }),
                ),
                (
                    "Sessions",
                    ws_link(&w.id, "sessions"),
                    matches!(route, Route::Sessions { .. } | Route::Session { .. }),
                ),
            ];
            items.push((
                "Search",
                "/console/search".to_owned(),
                matches!(route, Route::Search { .. }),
            ));
            if can(Action::MembersRead) {
                items.push((
                    "Members",
                    ws_link(&w.id, "members"),
                    matches!(route, Route::Members { .. }),
                ));
            }
            if can(Action::TokensCreate) {
                items.push((
                    "API tokens",
                    ws_link(&w.id, "tokens"),
                    matches!(route, Route::Tokens { .. }),
                ));
            }
            if can(Action::AuditRead) {
                items.push((
                    "Audit",
                    ws_link(&w.id, "audit"),
                    matches!(route, Route::Audit { .. }),
                ));
            }
            if can(Action::WorkspaceRead) {
                items.push((
                    "Models",
                    ws_link(&w.id, "providers"),
                    matches!(route, Route::Providers { .. } | Route::Eval { .. }),
                ));
                items.push((
                    "Tools",
                    ws_link(&w.id, "tools"),
                    matches!(route, Route::Tools { .. }),
                ));
            }
            if can(Action::WebhooksManage) {
                items.push((
                    "Webhooks",
                    ws_link(&w.id, "webhooks"),
                    matches!(route, Route::Webhooks { .. }),
                ));
            }
            items
        }
        None => vec![(
            "Search",
            "/console/search".to_owned(),
            matches!(route, Route::Search { .. }),
        )],
    };
    rsx! {
        header { class: "top",
            a { class: "brand", href: "/console/", "Acorn" }
            if me.workspaces.len() > 1 || current_ws.is_none() {
                WorkspaceSwitcher { workspaces: me.workspaces.clone(), current: current_ws.clone() }
            } else if let Some(w) = &workspace {
                span { class: "muted", id: "workspace-name", "{w.name}" }
            }
            nav { "aria-label": "Console",
                for (label, href, active) in nav {
                    a { class: if active { "active" } else { "" }, href: "{href}", "aria-current": if active { "page" } else { "false" }, "{label}" }
                }
            }
            div { class: "user",
                span { id: "signed-in-as", "{user}" }
                if let Some(w) = &workspace {
                    span { class: "badge", id: "my-role", "{w.role.as_str()}" }
                }
                form { method: "post", action: "/console/sign-out", "data-native": "1",
                    button { class: "secondary", r#type: "submit", "Sign out" }
                }
            }
        }
        main { class: "page", id: "{page_id}",
            {pages::render(route)}
        }
    }
}

#[component]
fn WorkspaceSwitcher(workspaces: Vec<WorkspaceView>, current: Option<String>) -> Element {
    if workspaces.is_empty() {
        return rsx! {};
    }
    rsx! {
        nav { class: "tabs", "aria-label": "Workspaces",
            for w in workspaces {
                a {
                    class: if current.as_deref() == Some(w.id.as_str()) { "button" } else { "button secondary" },
                    href: "{ws_link(&w.id, \"\")}",
                    "{w.name}"
                }
            }
        }
    }
}

/// A spinner with what is being loaded.
#[component]
pub fn Loading(what: String) -> Element {
    rsx! { p { class: "muted", role: "status", span { class: "spinner" } " Loading {what}…" } }
}

/// An error as the API said it. An expired session navigates to the sign-in page instead.
#[component]
pub fn ErrorBox(error: UiError) -> Element {
    let path = ctx().path;
    rsx! { ErrorBoxRaw { error, path } }
}

#[component]
fn ErrorBoxRaw(error: UiError, path: String) -> Element {
    if error.is_signed_out() {
        let to = format!("/console/sign-in?next={}&expired=1", percent_encode(&path));
        return rsx! {
            div { class: "notice", "data-navigate": "{to}", role: "alert",
                "{error.message} "
                a { href: "{to}", "Sign in again" }
            }
        };
    }
    rsx! {
        div { class: "error", role: "alert", "{error.message} " code { class: "small", "{error.code}" } }
    }
}

/// A status word as a coloured badge.
#[component]
pub fn Badge(text: String) -> Element {
    rsx! { span { class: "badge {text}", "{text.replace('_', \" \")}" } }
}

/// A text block with a Copy button.
#[component]
pub fn CopyBlock(id: String, text: String) -> Element {
    rsx! {
        div { class: "copy-block",
            div { class: "row",
                button { class: "secondary", r#type: "button", "data-copy": "{id}", "Copy" }
            }
            pre { id: "{id}", "{text}" }
        }
    }
}

/// A form field's text.
pub fn field(evt: &FormEvent, name: &str) -> String {
    match evt.get_first(name) {
        Some(dioxus::html::FormValue::Text(s)) => s,
        _ => String::new(),
    }
}

/// Whether a checkbox of a submitted form was checked.
pub fn checked(evt: &FormEvent, name: &str) -> bool {
    matches!(evt.get_first(name), Some(dioxus::html::FormValue::Text(s)) if !s.is_empty())
}

/// A field that is optional: `None` when empty.
pub fn optional(evt: &FormEvent, name: &str) -> Option<String> {
    Some(field(evt, name).trim().to_owned()).filter(|s| !s.is_empty())
}

/// A value the page keeps fresh: `load` runs now and then every `every`, until `last` says the
/// value is final or the session ended (the page then shows "sign in again").
pub fn use_poll<T, Fut>(
    every: std::time::Duration,
    load: impl FnMut() -> Fut + Clone + 'static,
    last: fn(&T) -> bool,
) -> Signal<Option<Result<T, UiError>>>
where
    T: 'static,
    Fut: std::future::Future<Output = Result<T, UiError>> + 'static,
{
    let mut value = use_signal(|| None::<Result<T, UiError>>);
    use_future(move || {
        let mut load = load.clone();
        async move {
            loop {
                let r = load().await;
                let stop = match &r {
                    Ok(v) => last(v),
                    Err(e) => e.is_signed_out(),
                };
                value.set(Some(r));
                if stop {
                    break;
                }
                tokio::time::sleep(every).await;
            }
        }
    });
    value
}
