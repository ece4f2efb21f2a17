//! Server-rendered HTML (dioxus-ssr): the shell every LiveView page starts from, and the pages
//! that need no interactivity (sign-in, the one-time setup link's form and its outcome). All
//! text goes through dioxus' escaping; nothing here concatenates user input into markup.

use dioxus::prelude::*;

use crate::assets;

/// The Content-Security-Policy of every console page: scripts, styles and the socket only from
/// the appliance itself, no inline script or style, no framing.
pub const CSP: &str = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; \
connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'";

/// Headers every console page carries beside the CSP.
pub const SECURITY_HEADERS: &[(&str, &str)] = &[
    ("x-content-type-options", "nosniff"),
    ("referrer-policy", "same-origin"),
    ("x-frame-options", "DENY"),
    ("cache-control", "no-store"),
];

fn head(title: &str) -> String {
    // The title is escaped by rendering it through dioxus.
    let title = dioxus_ssr::render_element(rsx! { title { "{title} · Acorn" } });
    format!(
        "<meta charset=\"utf-8\"><meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\
         {title}<link rel=\"stylesheet\" href=\"{css}\"><link rel=\"icon\" href=\"{icon}\" type=\"image/svg+xml\">",
        css = assets::url("console.css"),
        icon = assets::url("favicon.svg"),
    )
}

/// The page a LiveView page starts as: an empty root that the socket fills, a "connecting"
/// placeholder shown until it does, and the two scripts.
pub fn liveview_shell(title: &str, demo: bool) -> String {
    let banner = if demo { DEMO_BANNER } else { "" };
    format!(
        "<!doctype html><html lang=\"en\"><head>{head}</head><body>{banner}\
         <div class=\"conn-banner\" role=\"status\">Connection to the appliance lost — reconnecting…</div>\
         <div id=\"main\"></div><div class=\"connecting\"><span class=\"spinner\"></span> Connecting to the appliance…</div>\
         <script src=\"{glue}\"></script><script src=\"{js}\"></script></body></html>",
        head = head(title),
        glue = assets::url(assets::LIVEVIEW_JS),
        js = assets::url("console.js"),
    )
}

const DEMO_BANNER: &str = "<div class=\"demo-banner\" role=\"note\">Demo appliance: simulated cluster, temporary data — not for production use</div>";

/// A whole server-rendered page around `body`.
pub fn page(title: &str, demo: bool, body: Element) -> String {
    let banner = if demo { DEMO_BANNER } else { "" };
    format!(
        "<!doctype html><html lang=\"en\"><head>{head}</head><body>{banner}<main class=\"page\">{body}</main></body></html>",
        head = head(title),
        body = dioxus_ssr::render_element(body),
    )
}

/// What the sign-in page offers.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct SignIn {
    /// Where to go after signing in (a `/console/…` path).
    pub next: String,
    /// The OpenID Connect provider's display name and the URL that starts its flow.
    pub oidc: Option<(String, String)>,
    /// The API's message after a failed attempt.
    pub error: Option<String>,
    pub username: String,
    /// No administrator exists yet: point at the setup link.
    pub needs_setup: bool,
    /// The demo's login, shown on the page.
    pub demo_login: Option<(String, String)>,
}

/// The sign-in page: the OpenID Connect button first when configured, the local form, and the
/// first-run hint when the appliance has no administrator yet.
pub fn sign_in_page(p: &SignIn, demo: bool) -> String {
    let next = p.next.clone();
    let body = rsx! {
        div { class: "auth-page panel",
            h1 { "Sign in to Acorn" }
            if p.needs_setup {
                div { class: "notice", id: "first-run",
                    strong { "First start. " }
                    "This appliance has no administrator yet. Open the one-time setup link that "
                    code { "acorn serve" }
                    " printed in its log, or run "
                    code { "acorn recover admin" }
                    " on the machine for a new one."
                }
            }
            if let Some((user, pass)) = &p.demo_login {
                div { class: "notice", "Demo login: " code { "{user}" } " / " code { "{pass}" } }
            }
            if let Some(error) = &p.error {
                div { class: "error", role: "alert", "{error}" }
            }
            if let Some((name, url)) = &p.oidc {
                p { a { class: "button", id: "oidc-sign-in", href: "{url}", "Sign in with {name}" } }
                div { class: "sep", "or with a local account" }
            }
            form { class: "stack", method: "post", action: "/console/sign-in",
                input { r#type: "hidden", name: "next", value: "{next}" }
                label { "Username"
                    input { name: "username", autocomplete: "username", required: true, value: "{p.username}", autofocus: true }
                }
                label { "Password"
                    input { name: "password", r#type: "password", autocomplete: "current-password", required: true }
                }
                button { r#type: "submit", "Sign in" }
            }
        }
    };
    page("Sign in", demo, body)
}

/// The one-time setup link's form (first administrator, or a recovery).
pub fn setup_page(error: Option<(String, String)>) -> String {
    let body = rsx! {
        div { class: "auth-page panel",
            h1 { "Create an administrator" }
            p { "This one-time link creates the first administrator of this Acorn appliance, or sets a new password for the administrator named by a recovery link (then the username is ignored). It works once and expires one hour after it was issued." }
            if let Some((message, code)) = &error {
                div { class: "error", role: "alert", "{message} " small { "({code})" } }
            }
            form { class: "stack", method: "post",
                label { "Username"
                    input { name: "username", autocomplete: "username", pattern: "[a-z0-9._\\-]{{1,64}}" }
                }
                label { "Password (12 characters or more)"
                    input { name: "password", r#type: "password", minlength: "12", required: true, autocomplete: "new-password" }
                }
                button { r#type: "submit", "Create administrator" }
            }
        }
    };
    page("Create an administrator", false, body)
}

/// After a setup link was used.
pub fn setup_done_page(username: &str, created: bool) -> String {
    let verb = if created {
        "created"
    } else {
        "has a new password"
    };
    let body = rsx! {
        div { class: "auth-page panel",
            h1 { "Administrator ready" }
            p { "Administrator " strong { "{username}" } " {verb}. This link no longer works." }
            p { a { class: "button", href: "/console/sign-in", "Sign in to the console" } }
        }
    };
    page("Administrator ready", false, body)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sign_in_escapes_what_it_shows() {
        let html = sign_in_page(
            &SignIn {
                next: "/console/\"><script>x</script>".into(),
                error: Some("<script>alert(1)</script>".into()),
                username: "<b>".into(),
                ..SignIn::default()
            },
            false,
        );
        assert!(!html.contains("<script>alert"));
        assert!(!html.contains("<script>x"));
        assert!(!html.contains("<b>"));
        assert!(
            html.contains("&#60;script&#62;alert(1)") || html.contains("&lt;script&gt;alert(1)")
        );
    }

    #[test]
    fn the_shell_loads_only_hashed_local_scripts() {
        let html = liveview_shell("Clusters", true);
        assert!(html.contains("id=\"main\""));
        assert!(html.contains("/console/assets/liveview.js?v="));
        assert!(html.contains("Demo appliance"));
        assert!(!html.contains("<script>"));
    }
}
