//! The real OpenID provider (npm `oidc-provider`, installed by `.ci/run` with `npm ci` in
//! `tests/`), started on loopback for one test, and a driver for its dev login and consent forms.

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};

use reqwest::StatusCode;

/// A running provider.
pub struct OidcProvider {
    child: Child,
    pub issuer: String,
}

impl OidcProvider {
    /// Starts it with the appliance's callback registered and `accounts` (login → claims).
    pub fn start(redirect_uri: &str, accounts: &serde_json::Value) -> OidcProvider {
        OidcProvider::spawn(
            "peers/oidc-provider.mjs",
            &[
                ("REDIRECT_URI", redirect_uri),
                ("ACCOUNTS", &accounts.to_string()),
            ],
        )
    }

    /// Starts `peers/faulty-idp.mjs`, which signs ID tokens with `fault` (`audience`, `expired`,
    /// `nonce` or `none`): what no conforming provider would issue.
    pub fn start_faulty(fault: &str) -> OidcProvider {
        OidcProvider::spawn("peers/faulty-idp.mjs", &[("ID_TOKEN_FAULT", fault)])
    }

    fn spawn(script: &str, env: &[(&str, &str)]) -> OidcProvider {
        let dir = env!("CARGO_MANIFEST_DIR");
        install_npm_peers(dir);
        let mut child = Command::new("node")
            .arg(script)
            .current_dir(dir)
            .envs(env.iter().copied())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("start node");
        let mut line = String::new();
        let mut stdout = BufReader::new(child.stdout.take().unwrap());
        stdout.read_line(&mut line).unwrap();
        // Keep draining: a closed pipe would kill the provider at its next write (EPIPE).
        std::thread::spawn(move || std::io::copy(&mut stdout, &mut std::io::sink()));
        let port = line
            .trim()
            .strip_prefix("READY ")
            .unwrap_or_else(|| panic!("oidc-provider said {line:?}"));
        OidcProvider {
            child,
            issuer: format!("http://127.0.0.1:{port}"),
        }
    }
}

/// `npm ci` in `tests/` once per run when the peer is missing, so that `cargo test` works on a
/// fresh machine with Node.js installed (`.ci/run` installs Node.js and runs it too).
pub fn install_npm_peers(dir: &str) {
    static INSTALLED: std::sync::Once = std::sync::Once::new();
    INSTALLED.call_once(|| {
        let modules = std::path::Path::new(dir).join("node_modules");
        if ["oidc-provider", "jose", "playwright-core"]
            .iter()
            .all(|m| modules.join(m).exists())
        {
            return;
        }
        let status = Command::new("npm")
            .args(["ci", "--no-audit", "--no-fund", "--loglevel=error"])
            .current_dir(dir)
            .status()
            .expect("npm is needed for the OpenID provider test peer (apt-get install nodejs npm)");
        assert!(status.success(), "npm ci in tests/ failed");
    });
}

impl Drop for OidcProvider {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Follows a sign-in from the appliance's `/api/v1/auth/oidc/login` through the provider's login
/// and consent forms back to the appliance's callback, like a browser. Returns the callback's
/// response (not followed further).
pub async fn browser_sign_in(
    browser: &reqwest::Client,
    appliance: &str,
    login: &str,
) -> reqwest::Response {
    let mut url = format!("{appliance}/api/v1/auth/oidc/login?return_to=/welcome");
    for _ in 0..20 {
        if url.starts_with(appliance) && url.contains("/api/v1/auth/oidc/callback") {
            return browser.get(&url).send().await.unwrap();
        }
        let response = browser.get(&url).send().await.unwrap();
        if response.status().is_redirection() {
            url = absolute(&url, response.headers()["location"].to_str().unwrap());
            continue;
        }
        assert_eq!(response.status(), StatusCode::OK, "{url}");
        let html = response.text().await.unwrap();
        let action = html
            .split("action=\"")
            .nth(1)
            .and_then(|s| s.split('"').next())
            .unwrap_or_else(|| panic!("no form at {url}:\n{html}"))
            .replace("&amp;", "&");
        let form: Vec<(&str, &str)> = if html.contains("name=\"login\"") {
            vec![
                ("prompt", "login"),
                ("login", login),
                ("password", "anything"),
            ]
        } else {
            vec![("prompt", "consent")]
        };
        let posted = browser
            .post(absolute(&url, &action))
            .form(&form)
            .send()
            .await
            .unwrap();
        assert!(
            posted.status().is_redirection(),
            "form post: {}",
            posted.status()
        );
        url = absolute(&url, posted.headers()["location"].to_str().unwrap());
    }
    panic!("the sign-in did not reach the appliance's callback");
}

fn absolute(base: &str, location: &str) -> String {
    if location.starts_with("http") {
        return location.to_owned();
    }
    let origin: String = base.splitn(4, '/').take(3).collect::<Vec<_>>().join("/");
    format!("{origin}{location}")
}
