//! Sign-in with an OpenID Connect provider: authorization code flow with PKCE, state and nonce,
//! discovery from the issuer, ID token verified (signature, issuer, audience, expiry, nonce), and
//! the admission policy of `[oidc]`. A user is (issuer, subject); email and name are for display.
//!
//! Pending sign-ins (state → PKCE verifier, nonce, where to return) are kept in memory for ten
//! minutes and used once: a replayed or forged state finds nothing. The provider's discovery
//! document is fetched on the first sign-in and cached, so the appliance starts even when the
//! provider is down.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use base64::Engine;
use openidconnect::core::{CoreAuthenticationFlow, CoreClient, CoreProviderMetadata};
use openidconnect::{
    AuthorizationCode, ClientId, ClientSecret, CsrfToken, IssuerUrl, Nonce, PkceCodeChallenge,
    PkceCodeVerifier, RedirectUrl, Scope, TokenResponse,
};
use tokio::sync::OnceCell;

use acorn_proto::ErrorCode;

use super::error::ApiError;
use crate::config::{ClaimOp, ClaimRule, OidcConfig};

/// How long a started sign-in may take.
const PENDING_TTL: Duration = Duration::from_secs(600);
/// Bound on pending sign-ins, so that unauthenticated requests cannot grow memory without limit.
const MAX_PENDING: usize = 10_000;
/// Largest response accepted from the provider.
const MAX_RESPONSE_BYTES: usize = 1024 * 1024;

/// What the provider said about a user who passed the admission policy.
#[derive(Debug, Clone)]
pub struct Identity {
    pub issuer: String,
    pub subject: String,
    pub email: Option<String>,
    pub email_verified: bool,
    pub name: Option<String>,
    pub appliance_admin: bool,
    pub return_to: String,
}

struct Pending {
    verifier: PkceCodeVerifier,
    nonce: Nonce,
    return_to: String,
    created: Instant,
}

/// The configured provider.
pub struct Oidc {
    config: OidcConfig,
    client_secret: Option<String>,
    redirect_url: String,
    http: Http,
    metadata: OnceCell<CoreProviderMetadata>,
    pending: Mutex<HashMap<String, Pending>>,
}

#[derive(Debug, thiserror::Error)]
pub enum HttpError {
    #[error("request to the identity provider failed: {0}")]
    Request(#[from] reqwest::Error),
    #[error("identity provider response too large")]
    TooLarge,
    #[error("identity provider response: {0}")]
    Build(#[from] openidconnect::http::Error),
}

impl Oidc {
    /// Prepares the client (reads the secret and CA files now, so that mistakes show at start).
    pub fn new(config: OidcConfig, public_base_url: &str) -> anyhow::Result<Oidc> {
        let client_secret = match &config.client_secret_file {
            Some(path) => Some(
                std::fs::read_to_string(path)
                    .map_err(|e| {
                        anyhow::anyhow!("oidc.client_secret_file {}: {e}", path.display())
                    })?
                    .trim()
                    .to_owned(),
            ),
            None => None,
        };
        let mut builder = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .timeout(Duration::from_secs(15))
            .connect_timeout(Duration::from_secs(5));
        if let Some(path) = &config.ca_file {
            let pem = std::fs::read(path)
                .map_err(|e| anyhow::anyhow!("oidc.ca_file {}: {e}", path.display()))?;
            let certs = reqwest::Certificate::from_pem_bundle(&pem)
                .map_err(|e| anyhow::anyhow!("oidc.ca_file {}: {e}", path.display()))?;
            builder = builder.tls_certs_only(certs);
        }
        Ok(Oidc {
            config,
            client_secret,
            redirect_url: format!("{public_base_url}/api/v1/auth/oidc/callback"),
            http: Http(builder.build()?),
            metadata: OnceCell::new(),
            pending: Mutex::new(HashMap::new()),
        })
    }

    /// The label of the sign-in button.
    pub fn display_name(&self) -> &str {
        &self.config.display_name
    }

    async fn client(
        &self,
    ) -> Result<
        CoreClient<
            openidconnect::EndpointSet,
            openidconnect::EndpointNotSet,
            openidconnect::EndpointNotSet,
            openidconnect::EndpointNotSet,
            openidconnect::EndpointMaybeSet,
            openidconnect::EndpointMaybeSet,
        >,
        ApiError,
    > {
        let metadata = self
            .metadata
            .get_or_try_init(|| async {
                let issuer = IssuerUrl::new(self.config.issuer.clone())
                    .map_err(|e| failed(format!("oidc.issuer: {e}")))?;
                CoreProviderMetadata::discover_async(issuer, &self.http)
                    .await
                    .map_err(|e| failed(format!("discovery at {} failed: {e}", self.config.issuer)))
            })
            .await?;
        let redirect = RedirectUrl::new(self.redirect_url.clone())
            .map_err(|e| failed(format!("redirect URL: {e}")))?;
        Ok(CoreClient::from_provider_metadata(
            metadata.clone(),
            ClientId::new(self.config.client_id.clone()),
            self.client_secret.clone().map(ClientSecret::new),
        )
        .set_redirect_uri(redirect))
    }

    /// Starts a sign-in: returns the provider URL to send the browser to.
    pub async fn begin(&self, return_to: Option<String>) -> Result<String, ApiError> {
        let client = self.client().await?;
        let (challenge, verifier) = PkceCodeChallenge::new_random_sha256();
        let mut request = client.authorize_url(
            CoreAuthenticationFlow::AuthorizationCode,
            CsrfToken::new_random,
            Nonce::new_random,
        );
        for scope in &self.config.scopes {
            request = request.add_scope(Scope::new(scope.clone()));
        }
        let (url, state, nonce) = request.set_pkce_challenge(challenge).url();
        let mut pending = self.pending.lock().unwrap_or_else(|p| p.into_inner());
        pending.retain(|_, p| p.created.elapsed() < PENDING_TTL);
        if pending.len() >= MAX_PENDING {
            return Err(ApiError::new(
                ErrorCode::RateLimited,
                "too many sign-ins in progress; try again in a minute",
            )
            .with_retry_after(60));
        }
        let return_to = safe_return_to(return_to);
        pending.insert(
            state.secret().clone(),
            Pending {
                verifier,
                nonce,
                return_to,
                created: Instant::now(),
            },
        );
        Ok(url.to_string())
    }

    /// Completes a sign-in from the provider's redirect: checks state, exchanges the code with
    /// the PKCE verifier, verifies the ID token and applies the admission policy.
    pub async fn complete(&self, code: &str, state: &str) -> Result<Identity, ApiError> {
        let pending = self
            .pending
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .remove(state)
            .filter(|p| p.created.elapsed() < PENDING_TTL)
            .ok_or_else(|| {
                failed("unknown, expired or already used sign-in state; start the sign-in again")
            })?;
        let client = self.client().await?;
        let response = client
            .exchange_code(AuthorizationCode::new(code.to_owned()))
            .map_err(|e| failed(format!("the provider has no token endpoint: {e}")))?
            .set_pkce_verifier(pending.verifier)
            .request_async(&self.http)
            .await
            .map_err(|e| failed(format!("code exchange failed: {e}")))?;
        let id_token = response
            .id_token()
            .ok_or_else(|| failed("the provider returned no ID token"))?;
        let claims = id_token
            .claims(&client.id_token_verifier(), &pending.nonce)
            .map_err(|e| failed(format!("ID token rejected: {e}")))?;
        // Signature, issuer, audience, expiry and nonce are verified above; the raw payload of
        // that same token gives the extra claims (groups, …) that the core types do not model.
        let raw = raw_claims(&id_token.to_string())?;
        let email = claims.email().map(|e| e.as_str().to_owned());
        let email_verified = claims.email_verified().unwrap_or(false);
        admit(&self.config, &raw, email.as_deref(), email_verified)?;
        let name = claims
            .name()
            .and_then(|n| n.get(None))
            .map(|n| n.as_str().to_owned())
            .or_else(|| claims.preferred_username().map(|u| u.as_str().to_owned()));
        let appliance_admin = self
            .config
            .appliance_admin_rule
            .as_ref()
            .is_some_and(|rule| rule_holds(rule, &raw));
        Ok(Identity {
            issuer: claims.issuer().as_str().to_owned(),
            subject: claims.subject().as_str().to_owned(),
            email,
            email_verified,
            name,
            appliance_admin,
            return_to: pending.return_to,
        })
    }
}

fn failed(message: impl Into<String>) -> ApiError {
    ApiError::new(ErrorCode::OidcFailed, message)
}

/// Only same-site relative paths: never an absolute URL (open redirect).
fn safe_return_to(return_to: Option<String>) -> String {
    return_to
        .filter(|p| {
            p.starts_with('/')
                && !p.starts_with("//")
                && !p.contains('\\')
                && !p.chars().any(char::is_control)
        })
        .unwrap_or_else(|| "/".to_owned())
}

fn raw_claims(jwt: &str) -> Result<serde_json::Value, ApiError> {
    let payload = jwt
        .split('.')
        .nth(1)
        .ok_or_else(|| failed("malformed ID token"))?;
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(payload.trim_end_matches('='))
        .map_err(|_| failed("malformed ID token payload"))?;
    serde_json::from_slice(&bytes).map_err(|_| failed("malformed ID token payload"))
}

/// The admission policy: email domain, verified email, required claims. The refusal says which
/// rule failed (not the claim values).
pub fn admit(
    config: &OidcConfig,
    claims: &serde_json::Value,
    email: Option<&str>,
    email_verified: bool,
) -> Result<(), ApiError> {
    let refuse = |why: String| Err(ApiError::new(ErrorCode::AdmissionRefused, why));
    if config.require_verified_email && !email_verified {
        return refuse("this appliance admits only users whose email address is verified by the identity provider".into());
    }
    if !config.allowed_email_domains.is_empty() {
        let domain = email
            .and_then(|e| e.rsplit_once('@'))
            .map(|(_, d)| d.to_ascii_lowercase());
        if !domain.is_some_and(|d| {
            config
                .allowed_email_domains
                .iter()
                .any(|a| a.eq_ignore_ascii_case(&d))
        }) {
            return refuse(format!(
                "this appliance admits only email domains: {}",
                config.allowed_email_domains.join(", ")
            ));
        }
    }
    for rule in &config.required_claims {
        if !rule_holds(rule, claims) {
            return refuse(
                format!(
                    "this appliance requires the claim `{}` to satisfy `{:?}`",
                    rule.claim, rule.op
                )
                .to_lowercase(),
            );
        }
    }
    Ok(())
}

fn rule_holds(rule: &ClaimRule, claims: &serde_json::Value) -> bool {
    let Some(value) = claims.get(&rule.claim) else {
        return false;
    };
    let as_strings = || -> Vec<String> {
        match value {
            serde_json::Value::Array(items) => items
                .iter()
                .filter_map(|i| i.as_str().map(str::to_owned))
                .collect(),
            serde_json::Value::String(s) => vec![s.clone()],
            other => vec![other.to_string()],
        }
    };
    match rule.op {
        ClaimOp::Exists => !value.is_null(),
        ClaimOp::Equals => rule.value.as_deref().is_some_and(|v| match value {
            serde_json::Value::String(s) => s == v,
            // Non-string claims compare as JSON: `true` equals "true", 5 equals "5".
            other => {
                serde_json::from_str::<serde_json::Value>(v).is_ok_and(|parsed| &parsed == other)
            }
        }),
        ClaimOp::Contains => rule.value.as_deref().is_some_and(|v| match value {
            serde_json::Value::String(s) => s.contains(v),
            _ => as_strings().iter().any(|s| s == v),
        }),
        ClaimOp::Intersects => as_strings().iter().any(|s| rule.values.contains(s)),
    }
}

/// oauth2's HTTP client: reqwest 0.13, no redirects, a response size limit. A named type (rather
/// than a closure) keeps the futures `Send` for axum handlers.
struct Http(reqwest::Client);

impl<'c> openidconnect::AsyncHttpClient<'c> for Http {
    type Error = HttpError;
    type Future = std::pin::Pin<
        Box<
            dyn std::future::Future<Output = Result<openidconnect::HttpResponse, HttpError>>
                + Send
                + 'c,
        >,
    >;

    fn call(&'c self, request: openidconnect::HttpRequest) -> Self::Future {
        Box::pin(send(&self.0, request))
    }
}

async fn send(
    client: &reqwest::Client,
    request: openidconnect::HttpRequest,
) -> Result<openidconnect::HttpResponse, HttpError> {
    let (parts, body) = request.into_parts();
    let response = client
        .request(parts.method, parts.uri.to_string())
        .headers(parts.headers)
        .body(body)
        .send()
        .await?;
    let mut builder = openidconnect::http::Response::builder().status(response.status());
    for (name, value) in response.headers() {
        builder = builder.header(name, value);
    }
    let bytes = response.bytes().await?;
    if bytes.len() > MAX_RESPONSE_BYTES {
        return Err(HttpError::TooLarge);
    }
    Ok(builder.body(bytes.to_vec())?)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config(rules: Vec<ClaimRule>) -> OidcConfig {
        OidcConfig {
            issuer: "https://idp.example".into(),
            client_id: "acorn".into(),
            client_secret_file: None,
            ca_file: None,
            scopes: vec![],
            display_name: "x".into(),
            allowed_email_domains: vec!["example.com".into()],
            require_verified_email: true,
            required_claims: rules,
            appliance_admin_rule: None,
        }
    }

    #[test]
    fn admission_rules() {
        let groups = ClaimRule {
            claim: "groups".into(),
            op: ClaimOp::Contains,
            value: Some("platform".into()),
            values: vec![],
        };
        let c = config(vec![groups]);
        let ok = serde_json::json!({ "groups": ["dev", "platform"] });
        assert!(admit(&c, &ok, Some("a@example.com"), true).is_ok());
        assert!(admit(&c, &ok, Some("a@example.com"), false).is_err());
        assert!(admit(&c, &ok, Some("a@evil.com"), true).is_err());
        assert!(
            admit(
                &c,
                &serde_json::json!({ "groups": ["dev"] }),
                Some("a@example.com"),
                true
            )
            .is_err()
        );
        let any = ClaimRule {
            claim: "groups".into(),
            op: ClaimOp::Intersects,
            value: None,
            values: vec!["sre".into(), "dev".into()],
        };
        assert!(rule_holds(&any, &serde_json::json!({ "groups": ["dev"] })));
        let exists = ClaimRule {
            claim: "acr".into(),
            op: ClaimOp::Exists,
            value: None,
            values: vec![],
        };
        assert!(!rule_holds(&exists, &serde_json::json!({})));
    }

    #[test]
    fn return_to_is_same_site_only() {
        assert_eq!(safe_return_to(Some("/workspaces".into())), "/workspaces");
        for bad in [
            "https://evil.example",
            "//evil.example",
            "/\\evil",
            "javascript:alert(1)",
        ] {
            assert_eq!(safe_return_to(Some(bad.into())), "/", "{bad}");
        }
    }
}
