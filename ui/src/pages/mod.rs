//! One module per page; [`render`] picks the page of a route.

pub mod audit;
pub mod clusters;
pub mod evals;
pub mod findings;
pub mod members;
pub mod overview;
pub mod providers;
pub mod search;
pub mod sessions;
pub mod tools;
pub mod webhooks;

use dioxus::prelude::*;

use crate::route::Route;

/// The page component of a route.
pub fn render(route: Route) -> Element {
    match route {
        Route::Home => rsx! { overview::Home {} },
        Route::Search { q } => rsx! { search::Search { q } },
        Route::Overview { .. } => rsx! { overview::Overview {} },
        Route::Clusters { .. } => rsx! { clusters::Clusters {} },
        Route::Cluster { cluster, .. } => rsx! { clusters::Cluster { cluster } },
        Route::Sessions { .. } => rsx! { sessions::Sessions {} },
        Route::Session { session, .. } => rsx! { sessions::Session { session } },
        Route::Members { .. } => rsx! { members::Members {} },
        Route::Tokens { .. } => rsx! { members::Tokens {} },
        Route::Audit { .. } => rsx! { audit::Audit {} },
        Route::Providers { .. } => rsx! { providers::Providers {} },
        Route::Tools { .. } => rsx! { tools::Tools {} },
        Route::Webhooks { .. } => rsx! { webhooks::Webhooks {} },
        Route::Eval { eval, .. } => rsx! { evals::Eval { eval } },
        Route::NotFound => rsx! {
            h1 { "Not found" }
            p { "There is no such page. " a { href: "/console/", "Back to the console" } }
        },
    }
}
