//! The one authorization layer. Services call [`authorize`] with the caller and the action; it
//! resolves the workspace and the caller's effective role and decides with the role table in
//! `acorn-proto::authz`. Nothing else in the appliance checks roles.
//!
//! A caller who is not a member of the workspace (or whose token belongs to another workspace)
//! gets "not found", exactly like a workspace that does not exist, so ids cannot be probed. A
//! member whose role lacks the action gets "forbidden", and a refused write is audited.

use acorn_proto::ErrorCode;
use acorn_proto::authz::{Action, Role};
use acorn_store::{Category, Operation, Workspace};

use super::Control;
use super::audit;
use super::auth::{Caller, Principal};
use super::error::ApiError;

/// What an authorized caller may act on.
#[derive(Debug, Clone)]
pub struct Access {
    /// The workspace.
    pub workspace: Workspace,
    /// The caller's effective role (a token's own role, else the membership's).
    pub role: Role,
}

/// Decides whether `caller` may take `action` in `workspace_id`.
pub async fn authorize(
    control: &Control,
    caller: &Caller,
    workspace_id: &str,
    action: Action,
) -> Result<Access, ApiError> {
    let hidden = || ApiError::not_found("workspace");
    if let Principal::Token(token) = &caller.principal
        && token.workspace_id != workspace_id
    {
        return Err(hidden());
    }
    let workspace = control.store.workspace(workspace_id)?.ok_or_else(hidden)?;
    let membership = control
        .store
        .membership(workspace_id, &caller.user.id)?
        .ok_or_else(hidden)?;
    let role = match &caller.principal {
        Principal::Token(token) => token.role,
        Principal::Session { .. } => membership.role,
    };
    if !role.allows(action) {
        if !is_read(action) {
            let mut draft = audit::draft(
                caller,
                Some(workspace_id),
                action.as_str(),
                None,
                category_of(action),
                Operation::Write,
            );
            draft.result = acorn_store::AuditResult::Denied;
            let _ = control.store.append_audit(draft).await;
        }
        return Err(ApiError::new(
            ErrorCode::Forbidden,
            format!(
                "your role ({}) does not allow {}",
                role.as_str(),
                action.as_str()
            ),
        ));
    }
    Ok(Access { workspace, role })
}

/// Refuses granting `wanted` unless the caller's role covers it ("no higher than their own").
pub fn check_grant(access: &Access, wanted: Role) -> Result<(), ApiError> {
    if access.role.covers(wanted) {
        Ok(())
    } else {
        Err(ApiError::new(
            ErrorCode::RoleEscalation,
            format!(
                "your role ({}) cannot grant the role {}",
                access.role.as_str(),
                wanted.as_str()
            ),
        ))
    }
}

fn is_read(action: Action) -> bool {
    use Action::*;
    matches!(
        action,
        WorkspaceRead | MembersRead | ClustersRead | SessionsRead | RunsRead | LogsRead | AuditRead
    )
}

/// The audit category an action belongs to.
pub fn category_of(action: Action) -> Category {
    use Action::*;
    match action {
        WorkspaceRead | WorkspaceUpdate | WorkspaceDelete | WebhooksManage => Category::Workspace,
        MembersRead | MembersManage | OwnersManage => Category::Membership,
        ClustersRead | ClustersManage | LogsRead => Category::Cluster,
        ToolsManage => Category::Tool,
        ProvidersManage => Category::Mcp,
        SessionsRead | SessionsCreate => Category::Session,
        RunsRead | RunsCreateReadOnly | RunsCreateReadWrite | RunsCancel => Category::Run,
        ApprovalsDecide => Category::Approval,
        AuditRead | TokensCreate | TokensManage => Category::Auth,
    }
}
