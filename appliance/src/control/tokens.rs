//! API tokens: created by a member for one workspace with a role no higher than their own,
//! shown once, stored as SHA-256, with expiry and last use; revocable.

use acorn_proto::ErrorCode;
use acorn_proto::authz::Action;
use acorn_proto::identity::{CreateToken, TokenView};
use acorn_store::{ApiToken, Category, Operation};

use super::Control;
use super::audit::{draft, with_meta};
use super::auth::{Caller, Principal, TOKEN_PREFIX};
use super::authz::{authorize, check_grant};
use super::error::ApiError;
use crate::util;

const DEFAULT_DAYS: u32 = 90;
const MAX_DAYS: u32 = 365;

fn view(token: &ApiToken, secret: Option<String>) -> TokenView {
    TokenView {
        id: token.id.clone(),
        name: token.name.clone(),
        role: token.role,
        created_by: token.user_id.clone(),
        created_at: util::rfc3339(token.created_at),
        expires_at: token.expires_at.map(util::rfc3339),
        last_used_at: token.last_used_at.map(util::rfc3339),
        revoked_at: token.revoked_at.map(util::rfc3339),
        token: secret,
    }
}

/// Creates a token; the secret is in the answer and nowhere else.
pub async fn create(
    control: &Control,
    caller: &Caller,
    workspace_id: &str,
    body: CreateToken,
) -> Result<TokenView, ApiError> {
    if matches!(caller.principal, Principal::Token(_)) {
        return Err(ApiError::new(
            ErrorCode::Forbidden,
            "API tokens cannot create tokens; sign in as a person",
        ));
    }
    let access = authorize(control, caller, workspace_id, Action::TokensCreate).await?;
    check_grant(&access, body.role)?;
    let name = body.name.trim();
    if name.is_empty() || name.chars().count() > 100 || name.chars().any(char::is_control) {
        return Err(ApiError::new(
            ErrorCode::InvalidBody,
            "`name` must have 1 to 100 characters",
        ));
    }
    let days = body.expires_in_days.unwrap_or(DEFAULT_DAYS);
    if !(1..=MAX_DAYS).contains(&days) {
        return Err(ApiError::new(
            ErrorCode::InvalidBody,
            format!("`expires_in_days` must be between 1 and {MAX_DAYS}"),
        ));
    }
    let now = util::now_unix();
    let id = format!("tok_{}", hex::encode(crate::tls::pki::random_bytes::<8>()));
    let secret = format!("{TOKEN_PREFIX}{}", util::random_token());
    let token = ApiToken {
        id: id.clone(),
        workspace_id: workspace_id.to_owned(),
        user_id: caller.user.id.clone(),
        name: name.to_owned(),
        role: body.role,
        created_at: now,
        expires_at: Some(now + i64::from(days) * 86400),
        last_used_at: None,
        revoked_at: None,
    };
    let audit = with_meta(
        draft(
            caller,
            Some(workspace_id),
            "token.create",
            Some(id),
            Category::Auth,
            Operation::Write,
        ),
        "role",
        body.role.as_str(),
    );
    control
        .store
        .create_api_token(token.clone(), util::sha256(&secret), audit)
        .await?;
    Ok(view(&token, Some(secret)))
}

/// My tokens, or everyone's with `tokens.manage`.
pub async fn list(
    control: &Control,
    caller: &Caller,
    workspace_id: &str,
) -> Result<Vec<TokenView>, ApiError> {
    let access = authorize(control, caller, workspace_id, Action::TokensCreate).await?;
    let all = access.role.allows(Action::TokensManage);
    Ok(control
        .store
        .api_tokens(workspace_id)?
        .iter()
        .filter(|t| all || t.user_id == caller.user.id)
        .map(|t| view(t, None))
        .collect())
}

/// Revokes a token: one's own, or anyone's with `tokens.manage`. Others' tokens look absent.
pub async fn revoke(
    control: &Control,
    caller: &Caller,
    workspace_id: &str,
    token_id: &str,
) -> Result<(), ApiError> {
    let access = authorize(control, caller, workspace_id, Action::TokensCreate).await?;
    let token = control
        .store
        .api_tokens(workspace_id)?
        .into_iter()
        .find(|t| t.id == token_id)
        .ok_or_else(|| ApiError::not_found("token"))?;
    if token.user_id != caller.user.id && !access.role.allows(Action::TokensManage) {
        return Err(ApiError::not_found("token"));
    }
    let audit = draft(
        caller,
        Some(workspace_id),
        "token.revoke",
        Some(token_id.into()),
        Category::Auth,
        Operation::Write,
    );
    control
        .store
        .revoke_api_token(workspace_id, token_id, audit)
        .await?;
    Ok(())
}
