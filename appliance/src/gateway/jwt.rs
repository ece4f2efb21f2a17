//! Run JWTs: the control plane signs them (EdDSA / Ed25519, `kid` in the header, minutes of
//! lifetime), the gateway verifies them on every model and tool call.
//!
//! Signing keys live in the store: the public key in clear, the private key as the secret
//! `run-jwt-key/<kid>` (encrypted under the KEK). The newest key signs; older keys keep verifying
//! until every token they signed has expired, then [`RunTokens::prune`] removes them. Rotation
//! (`acorn gateway rotate-signing-key`) is one store write.
//!
//! Verification decides each rejection precisely, before any body is looked at: a header that is
//! not ours (`alg` other than EdDSA, `alg: none` included) → `run_token_algorithm`; no or unknown
//! `kid` → `run_token_unknown_key`; bad signature or malformed token → `run_token_invalid`;
//! expired → `run_token_expired`; wrong `aud`/`iss` → `run_token_audience`.

use std::collections::HashMap;
use std::sync::RwLock;
use std::time::Duration;

use base64::Engine;
use jsonwebtoken::errors::ErrorKind;
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};

use acorn_proto::ErrorCode;
use acorn_proto::agent::RunMode;
use acorn_proto::gateway::{RUN_TOKEN_AUDIENCE, RUN_TOKEN_ISSUER, RunClaims};
use acorn_store::{AuditDraft, DEPLOYMENT_SCOPE, SigningKeyRecord, Store};

use super::GatewayError;
use super::secrets::{SecretError, Secrets};
use crate::util;

const B64URL: base64::engine::GeneralPurpose = base64::engine::general_purpose::URL_SAFE_NO_PAD;
const B64: base64::engine::GeneralPurpose = base64::engine::general_purpose::STANDARD;
/// Clock skew tolerated on `exp`.
const LEEWAY_SECS: u64 = 5;

/// What the control plane asks to be signed.
#[derive(Debug, Clone)]
pub struct RunTokenRequest {
    pub workspace: String,
    pub cluster: String,
    pub session: String,
    pub run: String,
    pub provider: String,
    pub model: String,
    pub tools: Vec<String>,
    pub mode: RunMode,
    pub output_budget: u64,
    /// Absent: the configured default lifetime.
    pub ttl: Option<Duration>,
}

struct Signer {
    kid: String,
    key: EncodingKey,
}

/// Issues and verifies run JWTs.
pub struct RunTokens {
    store: Store,
    signer: RwLock<Option<std::sync::Arc<Signer>>>,
    verifiers: RwLock<HashMap<String, DecodingKey>>,
    default_ttl: Duration,
    max_ttl: Duration,
}

fn private_key_name(kid: &str) -> String {
    format!("run-jwt-key/{kid}")
}

fn key_error(e: impl std::fmt::Display) -> SecretError {
    SecretError::Rotation(format!("signing key: {e}"))
}

impl RunTokens {
    /// Loads the signing keys, creating the first one when the store has none.
    pub async fn open(
        store: Store,
        secrets: &Secrets,
        default_ttl: Duration,
        max_ttl: Duration,
    ) -> Result<RunTokens, SecretError> {
        let tokens = RunTokens {
            store,
            signer: RwLock::new(None),
            verifiers: RwLock::new(HashMap::new()),
            default_ttl,
            max_ttl,
        };
        if tokens.store.signing_keys()?.is_empty() {
            tokens.add_key(secrets, true, None).await?;
        }
        tokens.reload(secrets)?;
        Ok(tokens)
    }

    /// Generates a key and stores it; `only_if_none` for the first one (start-up races).
    async fn add_key(
        &self,
        secrets: &Secrets,
        only_if_none: bool,
        audit: Option<AuditDraft>,
    ) -> Result<String, SecretError> {
        let rng = ring::rand::SystemRandom::new();
        let pkcs8 = ring::signature::Ed25519KeyPair::generate_pkcs8(&rng).map_err(key_error)?;
        let pair =
            ring::signature::Ed25519KeyPair::from_pkcs8(pkcs8.as_ref()).map_err(key_error)?;
        use ring::signature::KeyPair;
        let public = pair.public_key().as_ref().to_vec();
        let kid = format!("k{}", hex::encode(crate::tls::pki::random_bytes::<6>()));
        let record = SigningKeyRecord {
            kid: kid.clone(),
            alg: "EdDSA".into(),
            public_key_b64: B64.encode(&public),
            created_at: util::now_unix(),
            superseded_at: None,
        };
        let private = secrets.seal(DEPLOYMENT_SCOPE, &private_key_name(&kid), pkcs8.as_ref())?;
        self.store
            .add_signing_key(record, private, only_if_none, audit)
            .await?;
        Ok(kid)
    }

    /// Reads every key from the store: the newest signs, all verify.
    fn reload(&self, secrets: &Secrets) -> Result<(), SecretError> {
        let keys = self.store.signing_keys()?;
        let mut verifiers = HashMap::new();
        for k in &keys {
            let public = B64.decode(&k.public_key_b64).map_err(key_error)?;
            verifiers.insert(k.kid.clone(), DecodingKey::from_ed_der(&public));
        }
        let newest = keys
            .iter()
            .filter(|k| k.superseded_at.is_none())
            .max_by_key(|k| k.created_at)
            .or(keys.last());
        let signer = match newest {
            Some(k) => {
                let pkcs8 = secrets
                    .get(DEPLOYMENT_SCOPE, &private_key_name(&k.kid))?
                    .ok_or_else(|| key_error(format!("private key of {} is missing", k.kid)))?;
                Some(std::sync::Arc::new(Signer {
                    kid: k.kid.clone(),
                    key: EncodingKey::from_ed_der(&pkcs8),
                }))
            }
            None => None,
        };
        match self.verifiers.write() {
            Ok(mut v) => *v = verifiers,
            Err(p) => *p.into_inner() = verifiers,
        }
        match self.signer.write() {
            Ok(mut s) => *s = signer,
            Err(p) => *p.into_inner() = signer,
        }
        Ok(())
    }

    /// A new signing key signs from now on; returns its `kid`.
    pub async fn rotate(
        &self,
        secrets: &Secrets,
        audit: AuditDraft,
    ) -> Result<String, SecretError> {
        let kid = self.add_key(secrets, false, Some(audit)).await?;
        self.reload(secrets)?;
        Ok(kid)
    }

    /// Drops keys superseded longer ago than the longest token lifetime.
    pub async fn prune(&self, secrets: &Secrets) -> Result<u64, SecretError> {
        let before = util::now_unix() - self.max_ttl.as_secs() as i64 - LEEWAY_SECS as i64;
        let n = self.store.prune_signing_keys(before).await?;
        if n > 0 {
            self.reload(secrets)?;
        }
        Ok(n)
    }

    /// Signs a run token. This is the control plane's function; the engine calls it when it
    /// starts a run (and again when a long run's token nears expiry).
    pub fn issue(&self, request: RunTokenRequest) -> Result<(String, RunClaims), GatewayError> {
        let ttl = request.ttl.unwrap_or(self.default_ttl);
        if ttl > self.max_ttl || ttl.is_zero() {
            return Err(GatewayError::new(
                ErrorCode::InvalidParameter,
                format!(
                    "a run token lives between 1 second and {} (gateway.run_token_max_ttl)",
                    humantime::format_duration(self.max_ttl)
                ),
            ));
        }
        let signer = match self.signer.read() {
            Ok(s) => s.clone(),
            Err(p) => p.into_inner().clone(),
        }
        .ok_or_else(|| GatewayError::internal("no signing key"))?;
        let now = util::now_unix().max(0) as u64;
        let claims = RunClaims {
            iss: RUN_TOKEN_ISSUER.into(),
            aud: RUN_TOKEN_AUDIENCE.into(),
            sub: request.run.clone(),
            iat: now,
            exp: now + ttl.as_secs(),
            jti: hex::encode(crate::tls::pki::random_bytes::<12>()),
            workspace: request.workspace,
            cluster: request.cluster,
            session: request.session,
            run: request.run,
            provider: request.provider,
            model: request.model,
            tools: request.tools,
            mode: request.mode,
            output_budget: request.output_budget,
        };
        let mut header = Header::new(Algorithm::EdDSA);
        header.kid = Some(signer.kid.clone());
        let token = jsonwebtoken::encode(&header, &claims, &signer.key)
            .map_err(|e| GatewayError::internal(format!("signing a run token: {e}")))?;
        Ok((token, claims))
    }

    /// Verifies a run token: signature, `kid`, algorithm, expiry, audience and issuer.
    pub fn verify(&self, token: &str) -> Result<RunClaims, GatewayError> {
        let invalid = |why: &str| {
            GatewayError::new(
                ErrorCode::RunTokenInvalid,
                format!("the run token is not valid: {why}"),
            )
        };
        // The header is read by hand first, so that `alg: none` and unknown algorithms (which
        // the library cannot even represent) get their own code.
        let header_b64 = token
            .split('.')
            .next()
            .filter(|_| token.split('.').count() == 3)
            .ok_or_else(|| invalid("it is not a compact JWS (three dot-separated parts)"))?;
        let header: serde_json::Value = B64URL
            .decode(header_b64)
            .ok()
            .and_then(|b| serde_json::from_slice(&b).ok())
            .ok_or_else(|| invalid("its header is not base64url JSON"))?;
        let alg = header["alg"].as_str().unwrap_or("");
        if alg != "EdDSA" {
            return Err(GatewayError::new(
                ErrorCode::RunTokenAlgorithm,
                format!("run tokens are signed with EdDSA; this one says alg {alg:?}"),
            ));
        }
        let kid = header["kid"].as_str().ok_or_else(|| {
            GatewayError::new(ErrorCode::RunTokenUnknownKey, "the run token has no kid")
        })?;
        let key = match self.verifiers.read() {
            Ok(v) => v.get(kid).cloned(),
            Err(p) => p.into_inner().get(kid).cloned(),
        }
        .ok_or_else(|| {
            GatewayError::new(
                ErrorCode::RunTokenUnknownKey,
                format!("no signing key {kid:?} (unknown, or retired after its tokens expired)"),
            )
        })?;
        let mut validation = Validation::new(Algorithm::EdDSA);
        validation.leeway = LEEWAY_SECS;
        validation.set_audience(&[RUN_TOKEN_AUDIENCE]);
        validation.set_issuer(&[RUN_TOKEN_ISSUER]);
        validation.set_required_spec_claims(&["exp", "aud", "iss", "sub"]);
        match jsonwebtoken::decode::<RunClaims>(token, &key, &validation) {
            Ok(data) => Ok(data.claims),
            Err(e) => Err(match e.kind() {
                ErrorKind::ExpiredSignature => {
                    GatewayError::new(ErrorCode::RunTokenExpired, "the run token has expired")
                }
                ErrorKind::InvalidAudience | ErrorKind::InvalidIssuer => GatewayError::new(
                    ErrorCode::RunTokenAudience,
                    "the run token was issued for another audience or by another issuer",
                ),
                ErrorKind::InvalidAlgorithm => GatewayError::new(
                    ErrorCode::RunTokenAlgorithm,
                    "the run token's algorithm does not match its key",
                ),
                ErrorKind::InvalidSignature => invalid("the signature does not verify"),
                other => invalid(&format!("{other:?}")),
            }),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    impl RunTokens {
        /// Signs arbitrary claims with the current key (attack fixtures).
        fn sign_raw(&self, claims: &serde_json::Value, kid: Option<&str>) -> String {
            let signer = self.signer.read().unwrap().clone().unwrap();
            let mut header = Header::new(Algorithm::EdDSA);
            header.kid = Some(kid.unwrap_or(&signer.kid).to_owned());
            jsonwebtoken::encode(&header, claims, &signer.key).unwrap()
        }
    }

    #[tokio::test]
    async fn the_attack_table() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(
            &dir.path().join("acorn.redb"),
            acorn_store::StoreOptions::new("test"),
        )
        .unwrap();
        let secrets = Secrets::open(store.clone(), None, None).await.unwrap();
        let tokens = RunTokens::open(
            store.clone(),
            &secrets,
            Duration::from_secs(600),
            Duration::from_secs(3600),
        )
        .await
        .unwrap();
        let (good, claims) = tokens
            .issue(RunTokenRequest {
                workspace: "ws_1".into(),
                cluster: "clu_1".into(),
                session: "ses_1".into(),
                run: "run_1".into(),
                provider: "local".into(),
                model: "llama".into(),
                tools: vec!["get_pods".into()],
                mode: RunMode::ReadOnly,
                output_budget: 1000,
                ttl: None,
            })
            .unwrap();
        assert_eq!(tokens.verify(&good).unwrap(), claims);
        let base = serde_json::to_value(&claims).unwrap();
        let with = |k: &str, v: serde_json::Value| {
            let mut c = base.clone();
            c[k] = v;
            c
        };
        let now = util::now_unix() as u64;
        // A key of another appliance signs with the same kid.
        let other_dir = tempfile::tempdir().unwrap();
        let other_store = Store::open(
            &other_dir.path().join("acorn.redb"),
            acorn_store::StoreOptions::new("test"),
        )
        .unwrap();
        let other_secrets = Secrets::open(other_store.clone(), None, None)
            .await
            .unwrap();
        let other = RunTokens::open(
            other_store,
            &other_secrets,
            Duration::from_secs(600),
            Duration::from_secs(3600),
        )
        .await
        .unwrap();
        let kid = tokens.signer.read().unwrap().clone().unwrap().kid.clone();
        let none = format!(
            "{}.{}.",
            B64URL.encode(r#"{"alg":"none","typ":"JWT"}"#),
            B64URL.encode(base.to_string())
        );
        let cases: Vec<(&str, String, ErrorCode)> = vec![
            (
                "expired",
                tokens.sign_raw(&with("exp", json!(now - 60)), None),
                ErrorCode::RunTokenExpired,
            ),
            (
                "wrong audience",
                tokens.sign_raw(&with("aud", json!("another-service")), None),
                ErrorCode::RunTokenAudience,
            ),
            (
                "wrong issuer",
                tokens.sign_raw(&with("iss", json!("someone-else")), None),
                ErrorCode::RunTokenAudience,
            ),
            (
                "unknown kid",
                tokens.sign_raw(&base, Some("k-unknown")),
                ErrorCode::RunTokenUnknownKey,
            ),
            (
                "forged by another key",
                other.sign_raw(&base, Some(&kid)),
                ErrorCode::RunTokenInvalid,
            ),
            ("alg none", none, ErrorCode::RunTokenAlgorithm),
            (
                "missing claim",
                tokens.sign_raw(
                    &{
                        let mut c = base.clone();
                        c.as_object_mut().unwrap().remove("model");
                        c
                    },
                    None,
                ),
                ErrorCode::RunTokenInvalid,
            ),
        ];
        for (name, token, code) in cases {
            assert_eq!(
                tokens.verify(&token).err().map(|e| e.code),
                Some(code),
                "{name}"
            );
        }
        // Lifetimes are bounded.
        let mut long = RunTokenRequest {
            workspace: "ws_1".into(),
            cluster: "c".into(),
            session: "s".into(),
            run: "r".into(),
            provider: "p".into(),
            model: "m".into(),
            tools: vec![],
            mode: RunMode::ReadOnly,
            output_budget: 1,
            ttl: Some(Duration::from_secs(7200)),
        };
        assert!(tokens.issue(long.clone()).is_err());
        long.ttl = Some(Duration::from_secs(60));
        assert!(tokens.issue(long).is_ok());
    }
}
