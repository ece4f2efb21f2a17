//! Appliance administration of user accounts. Only appliance administrators, signed in as
//! persons, may act here; workspace roles do not apply (accounts span workspaces).

use acorn_proto::ErrorCode;
use acorn_store::{Category, Operation, StoreError};

use super::Control;
use super::audit::draft;
use super::auth::{Caller, Principal};
use super::error::ApiError;

/// Deletes a user with their sessions, memberships and API tokens. Refused when they are the
/// last owner of a workspace, or the last local administrator.
pub async fn delete(control: &Control, caller: &Caller, user_id: &str) -> Result<(), ApiError> {
    if matches!(caller.principal, Principal::Token(_)) || !caller.user.appliance_admin {
        return Err(ApiError::new(
            ErrorCode::Forbidden,
            "only appliance administrators, signed in as persons, can delete users",
        ));
    }
    if control.store.user(user_id)?.is_none() {
        return Err(ApiError::not_found("user"));
    }
    let audit = draft(
        caller,
        None,
        "user.delete",
        Some(user_id.to_owned()),
        Category::Auth,
        Operation::Write,
    );
    control
        .store
        .delete_user(user_id, audit)
        .await
        .map_err(|e| match e {
            StoreError::Conflict { what } => {
                ApiError::new(ErrorCode::LastAdministrator, format!("refused: {what}"))
            }
            other => ApiError::from(other),
        })
}
