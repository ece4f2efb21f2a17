//! `acorn-ui`: the Acorn console. Dioxus components rendered on the server: LiveView pages
//! (interactive, over a WebSocket) and a few plain server-rendered pages (sign-in, the setup
//! link). There is no wasm; the browser runs only dioxus-liveview's glue and `console.js`.
//!
//! The console reaches the control plane only through [`Backend`], which the appliance
//! implements over its service layer with the signed-in user's session (same authorization as
//! the REST API). This crate knows dioxus and `acorn-proto`, never the store or axum's state.
//!
//! Layout:
//! - [`backend`]: the `Backend` trait and the error type the pages show;
//! - [`route`]: the console's URLs (`/console/…`) parsed into [`Route`];
//! - [`app`]: the root component, the page frame (top bar, workspace switcher, demo banner)
//!   and widgets shared by pages;
//! - `pages/`: one module per page (clusters, sessions, search, members, …);
//! - [`shell`]: server-rendered HTML: the LiveView page shell, sign-in and setup pages, the CSP;
//! - [`assets`]: embedded CSS/JS/icons and the generated LiveView glue, with content hashes;
//! - [`launch`]: builds the `VirtualDom` of one page for a LiveView connection.

#![forbid(unsafe_code)]
#![cfg_attr(
    not(test),
    deny(clippy::unwrap_used, clippy::expect_used, clippy::panic, clippy::todo)
)]
// rsx! expands into code that trips these; components are small functions anyway.
#![allow(non_snake_case, clippy::too_many_arguments)]

pub mod app;
pub mod assets;
pub mod backend;
pub mod format;
pub mod pages;
pub mod route;
pub mod shell;

use std::sync::Arc;

pub use backend::{Backend, UiError};
pub use route::Route;

/// Where the LiveView socket is served.
pub const WS_PATH: &str = "/console/ws";

/// What a page's root component gets.
#[derive(Clone)]
pub struct PageProps {
    /// The control plane, as the signed-in user.
    pub backend: Arc<dyn Backend>,
    pub route: Route,
    /// The path and query the page was opened with (for "back after sign-in").
    pub path: String,
    /// `acorn demo`: every page says so.
    pub demo: bool,
}

impl PartialEq for PageProps {
    fn eq(&self, other: &Self) -> bool {
        Arc::ptr_eq(&self.backend, &other.backend)
            && self.route == other.route
            && self.path == other.path
            && self.demo == other.demo
    }
}

/// Builds the `VirtualDom` of one page (called on a LiveView connection).
pub fn launch(props: PageProps) -> dioxus::prelude::VirtualDom {
    dioxus::prelude::VirtualDom::new_with_props(app::App, app::AppProps { page: props })
}
