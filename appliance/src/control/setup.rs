//! One-time links: the only way to get a first administrator (no default password, ever) and the
//! way back in when every administrator is locked out (`acorn recover`, run on the machine).
//!
//! A link carries a random token; only its SHA-256 is stored, with an expiry of one hour. Redeeming
//! it sets a password (argon2id) and deletes the token in the same store transaction, so a link
//! works once.

use std::time::Duration;

use argon2::Argon2;
use argon2::password_hash::{PasswordHasher, SaltString};

use acorn_proto::ErrorCode;
use acorn_proto::ops::OneTimeLink;
use acorn_proto::setup::AdministratorCreated;
use acorn_store::{OneTimePurpose, OneTimeToken, Store, StoreError};

use super::Control;
use super::error::ApiError;
use crate::util;

/// How long a one-time link stays valid.
pub const LINK_VALIDITY: Duration = Duration::from_secs(3600);
/// Shortest accepted password.
pub const MIN_PASSWORD_CHARS: usize = 12;
/// Longest accepted password (argon2 input is bounded to keep hashing cost bounded).
pub const MAX_PASSWORD_BYTES: usize = 1024;

/// Issues a one-time link. A new setup link replaces any earlier one.
pub async fn issue_link(
    store: &Store,
    base_url: &str,
    purpose: OneTimePurpose,
) -> Result<OneTimeLink, StoreError> {
    let token = util::random_token();
    let now = util::now_unix();
    let expires_at = now + LINK_VALIDITY.as_secs() as i64;
    store
        .issue_one_time_token(OneTimeToken {
            token_hash: util::sha256(&token),
            purpose,
            expires_at,
            created_at: now,
        })
        .await?;
    Ok(OneTimeLink {
        url: format!("{base_url}/setup/{token}"),
        expires_at: util::rfc3339(expires_at),
    })
}

/// At start: with no administrator in the store, issue a setup link and log it.
pub async fn announce_setup_link_if_needed(control: &Control) -> Result<(), StoreError> {
    if control.store.administrator_count()? > 0 {
        return Ok(());
    }
    let link = issue_link(
        &control.store,
        &control.public_base_url,
        OneTimePurpose::Setup,
    )
    .await?;
    tracing::warn!(
        setup_url = %link.url,
        expires_at = %link.expires_at,
        "no administrator yet: open the setup link (valid once, for one hour) to create the first administrator; \
         `acorn recover NAME` on this machine issues a new one"
    );
    Ok(())
}

/// Redeems a link: validates the input, hashes the password, and creates or resets the account.
pub async fn redeem(
    control: &Control,
    token: &str,
    username: Option<String>,
    password: String,
) -> Result<AdministratorCreated, ApiError> {
    if let Some(name) = &username {
        validate_username(name)?;
    }
    validate_password(&password)?;
    let token_hash = util::sha256(token);
    // Refuse unknown links before spending argon2 time on them.
    if !control.store.one_time_token_exists(token_hash)? {
        return Err(link_invalid());
    }
    let password_hash = hash_password(control, password).await?;
    let redeemed = control
        .store
        .redeem_one_time_token(token_hash, util::now_unix(), username, password_hash)
        .await
        .map_err(|e| match e {
            StoreError::TokenUnknown => link_invalid(),
            StoreError::TokenExpired => ApiError::new(
                ErrorCode::OneTimeLinkExpired,
                "this link has expired; run `acorn recover NAME` on the appliance's machine for a new one",
            ),
            StoreError::UsernameTaken { .. } => ApiError::new(ErrorCode::UsernameTaken, "an account with this username exists already"),
            StoreError::UsernameRequired => ApiError::new(ErrorCode::UsernameInvalid, "a setup link needs a username"),
            other => ApiError::from(other),
        })?;
    let _ = control
        .store
        .append_system_event(
            "administrator.set",
            &format!(
                "administrator {} set through a one-time link",
                redeemed.username
            ),
        )
        .await;
    tracing::info!(username = %redeemed.username, created = redeemed.created, "administrator set through a one-time link");
    Ok(AdministratorCreated {
        username: redeemed.username,
        created: redeemed.created,
    })
}

fn link_invalid() -> ApiError {
    ApiError::new(
        ErrorCode::OneTimeLinkInvalid,
        "this link is unknown or was already used; run `acorn recover NAME` on the appliance's machine for a new one",
    )
}

/// 1 to 64 characters from a-z, 0-9, `.`, `_`, `-`.
pub fn validate_username(name: &str) -> Result<(), ApiError> {
    let ok = (1..=64).contains(&name.len())
        && name.bytes().all(|b| {
            b.is_ascii_lowercase() || b.is_ascii_digit() || matches!(b, b'.' | b'_' | b'-')
        });
    if ok {
        Ok(())
    } else {
        Err(ApiError::new(
            ErrorCode::UsernameInvalid,
            "use 1 to 64 characters from a-z, 0-9, '.', '_' and '-'",
        ))
    }
}

fn validate_password(password: &str) -> Result<(), ApiError> {
    if password.chars().count() < MIN_PASSWORD_CHARS || password.len() > MAX_PASSWORD_BYTES {
        return Err(ApiError::new(
            ErrorCode::PasswordRejected,
            format!(
                "the password must have at least {MIN_PASSWORD_CHARS} characters and at most {MAX_PASSWORD_BYTES} bytes"
            ),
        ));
    }
    Ok(())
}

/// argon2id with the crate's defaults (OWASP's recommended parameters), off the async threads.
async fn hash_password(control: &Control, password: String) -> Result<String, ApiError> {
    let _permit = control
        .hashing
        .acquire()
        .await
        .map_err(|_| ApiError::internal("password hashing is shutting down"))?;
    tokio::task::spawn_blocking(move || {
        let salt = SaltString::encode_b64(&crate::tls::pki::random_bytes::<16>())
            .map_err(|e| ApiError::internal(format!("salt: {e}")))?;
        Argon2::default()
            .hash_password(password.as_bytes(), &salt)
            .map(|h| h.to_string())
            .map_err(|e| ApiError::internal(format!("argon2: {e}")))
    })
    .await
    .map_err(|e| ApiError::internal(format!("hashing task: {e}")))?
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn usernames() {
        for ok in ["admin", "a", "ops.team-1_x"] {
            assert!(validate_username(ok).is_ok(), "{ok}");
        }
        for bad in ["", "Admin", "a b", "<script>", &"x".repeat(65)] {
            assert!(validate_username(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn passwords() {
        assert!(validate_password("short").is_err());
        assert!(validate_password(&"x".repeat(MAX_PASSWORD_BYTES + 1)).is_err());
        assert!(validate_password("correct horse battery").is_ok());
    }
}
