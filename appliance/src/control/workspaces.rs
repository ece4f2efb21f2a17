//! Workspaces, their members and invitations. Every function authorizes through
//! `authz::authorize` first, and passes the audit record of its write to the store, which commits
//! both together.

use acorn_proto::ErrorCode;
use acorn_proto::authz::{Action, Role};
use acorn_proto::identity::{
    CreateInvitation, CreateWorkspace, InvitationView, MemberView, SetRole, UpdateWorkspace,
    UserView, WorkspaceView,
};
use acorn_store::{Category, Invitation, Operation, User, Workspace};

use super::Control;
use super::audit::{draft, with_meta};
use super::auth::{Caller, Principal};
use super::authz::{Access, authorize, check_grant};
use super::error::ApiError;
use crate::util;

/// How a user is shown.
pub fn user_view(user: &User) -> UserView {
    UserView {
        id: user.id.clone(),
        issuer: user.issuer.clone(),
        email: user.email.clone(),
        name: user.name.clone(),
        appliance_admin: user.appliance_admin,
    }
}

/// How a workspace is shown to a caller with `role`.
pub fn workspace_view(workspace: &Workspace, role: Role) -> WorkspaceView {
    WorkspaceView {
        id: workspace.id.clone(),
        name: workspace.name.clone(),
        logs_allowed: workspace.logs_allowed,
        role,
        permissions: role.permissions(),
        created_at: util::rfc3339(workspace.created_at),
    }
}

/// The workspaces the caller can see (a token sees only its own).
pub fn list(control: &Control, caller: &Caller) -> Result<Vec<WorkspaceView>, ApiError> {
    let mut views: Vec<WorkspaceView> = control
        .store
        .workspaces_of_user(&caller.user.id)?
        .into_iter()
        .filter_map(|(ws, role)| match &caller.principal {
            Principal::Token(t) if t.workspace_id != ws.id => None,
            Principal::Token(t) => Some(workspace_view(&ws, t.role)),
            Principal::Session { .. } => Some(workspace_view(&ws, role)),
        })
        .collect();
    views.sort_by(|a, b| a.id.cmp(&b.id));
    Ok(views)
}

fn validate_name(name: &str) -> Result<String, ApiError> {
    let name = name.trim();
    if name.is_empty() || name.chars().count() > 100 || name.chars().any(char::is_control) {
        return Err(ApiError::new(
            ErrorCode::InvalidBody,
            "`name` must have 1 to 100 characters and no control characters",
        ));
    }
    Ok(name.to_owned())
}

/// Creates a workspace; the creator becomes its owner.
pub async fn create(
    control: &Control,
    caller: &Caller,
    body: CreateWorkspace,
) -> Result<WorkspaceView, ApiError> {
    if matches!(caller.principal, Principal::Token(_)) {
        return Err(ApiError::new(
            ErrorCode::Forbidden,
            "API tokens belong to one workspace and cannot create workspaces",
        ));
    }
    if !(caller.user.appliance_admin || control.identity.anyone_can_create_workspaces) {
        return Err(ApiError::new(
            ErrorCode::Forbidden,
            "only appliance administrators can create workspaces on this appliance",
        ));
    }
    let name = validate_name(&body.name)?;
    let audit = draft(
        caller,
        None,
        "workspace.create",
        None,
        Category::Workspace,
        Operation::Write,
    );
    let workspace = control
        .store
        .create_workspace(&name, &caller.user.id, util::now_unix(), audit)
        .await?;
    Ok(workspace_view(&workspace, Role::Owner))
}

/// One workspace.
pub async fn get(control: &Control, caller: &Caller, id: &str) -> Result<WorkspaceView, ApiError> {
    let access = authorize(control, caller, id, Action::WorkspaceRead).await?;
    Ok(workspace_view(&access.workspace, access.role))
}

/// Renames or changes settings.
pub async fn update(
    control: &Control,
    caller: &Caller,
    id: &str,
    body: UpdateWorkspace,
) -> Result<WorkspaceView, ApiError> {
    let access = authorize(control, caller, id, Action::WorkspaceUpdate).await?;
    if let Some(name) = body.name {
        let name = validate_name(&name)?;
        let audit = with_meta(
            draft(
                caller,
                Some(id),
                "workspace.rename",
                Some(id.into()),
                Category::Workspace,
                Operation::Write,
            ),
            "name",
            &name,
        );
        control.store.rename_workspace(id, &name, audit).await?;
    }
    if let Some(allowed) = body.logs_allowed {
        let audit = with_meta(
            draft(
                caller,
                Some(id),
                "workspace.logs_allowed",
                Some(id.into()),
                Category::Workspace,
                Operation::Write,
            ),
            "logs_allowed",
            &allowed.to_string(),
        );
        control.store.set_logs_allowed(id, allowed, audit).await?;
    }
    let workspace = control
        .store
        .workspace(id)?
        .ok_or_else(|| ApiError::not_found("workspace"))?;
    Ok(workspace_view(&workspace, access.role))
}

/// Deletes the workspace (owners only). Its audit chain is kept.
pub async fn delete(control: &Control, caller: &Caller, id: &str) -> Result<(), ApiError> {
    authorize(control, caller, id, Action::WorkspaceDelete).await?;
    let audit = draft(
        caller,
        Some(id),
        "workspace.delete",
        Some(id.into()),
        Category::Workspace,
        Operation::Write,
    );
    control.store.delete_workspace(id, audit).await?;
    Ok(())
}

/// Members and their roles.
pub async fn members(
    control: &Control,
    caller: &Caller,
    id: &str,
) -> Result<Vec<MemberView>, ApiError> {
    authorize(control, caller, id, Action::MembersRead).await?;
    let mut members: Vec<MemberView> = control
        .store
        .members(id)?
        .into_iter()
        .map(|(m, u)| MemberView {
            user: user_view(&u),
            role: m.role,
        })
        .collect();
    members.sort_by(|a, b| a.user.id.cmp(&b.user.id));
    Ok(members)
}

/// Touching an owner (or making one) needs `owners.manage`; anyone else needs `members.manage`.
async fn authorize_member_change(
    control: &Control,
    caller: &Caller,
    id: &str,
    target_user: &str,
    new_role: Option<Role>,
) -> Result<Access, ApiError> {
    let current = control.store.membership(id, target_user)?;
    let touches_owner =
        new_role == Some(Role::Owner) || current.as_ref().is_some_and(|m| m.role == Role::Owner);
    let action = if touches_owner {
        Action::OwnersManage
    } else {
        Action::MembersManage
    };
    let access = authorize(control, caller, id, action).await?;
    if current.is_none() && new_role.is_none() {
        return Err(ApiError::not_found("member"));
    }
    Ok(access)
}

/// Sets a member's role (changing an existing member; new members come through invitations).
pub async fn set_role(
    control: &Control,
    caller: &Caller,
    id: &str,
    user_id: &str,
    body: SetRole,
) -> Result<MemberView, ApiError> {
    let access = authorize_member_change(control, caller, id, user_id, Some(body.role)).await?;
    check_grant(&access, body.role)?;
    if control.store.membership(id, user_id)?.is_none() {
        return Err(ApiError::not_found("member"));
    }
    let user = control
        .store
        .user(user_id)?
        .ok_or_else(|| ApiError::not_found("member"))?;
    let audit = with_meta(
        draft(
            caller,
            Some(id),
            "member.role_set",
            Some(user_id.into()),
            Category::Membership,
            Operation::Write,
        ),
        "role",
        body.role.as_str(),
    );
    let membership = control
        .store
        .set_member_role(id, user_id, body.role, audit)
        .await?;
    Ok(MemberView {
        user: user_view(&user),
        role: membership.role,
    })
}

/// Removes a member. Members may always leave; removing others needs the manage permission.
pub async fn remove(
    control: &Control,
    caller: &Caller,
    id: &str,
    user_id: &str,
) -> Result<(), ApiError> {
    let leaving =
        user_id == caller.user.id && matches!(caller.principal, Principal::Session { .. });
    if leaving {
        authorize(control, caller, id, Action::WorkspaceRead).await?;
    } else {
        authorize_member_change(control, caller, id, user_id, None).await?;
    }
    let audit = draft(
        caller,
        Some(id),
        if leaving {
            "member.left"
        } else {
            "member.removed"
        },
        Some(user_id.into()),
        Category::Membership,
        Operation::Write,
    );
    control.store.remove_member(id, user_id, audit).await?;
    Ok(())
}

const DEFAULT_INVITATION_HOURS: u32 = 72;
const MAX_INVITATION_HOURS: u32 = 720;

fn invitation_view(inv: &Invitation, now: i64, link: Option<String>) -> InvitationView {
    let state = if inv.revoked {
        "revoked"
    } else if inv.accepted_by.is_some() {
        "accepted"
    } else if now >= inv.expires_at {
        "expired"
    } else {
        "pending"
    };
    InvitationView {
        id: inv.id.clone(),
        email: inv.email.clone(),
        role: inv.role,
        expires_at: util::rfc3339(inv.expires_at),
        state: state.into(),
        link,
    }
}

/// Invites an email with a role no higher than the inviter's; returns the single-use link once.
pub async fn invite(
    control: &Control,
    caller: &Caller,
    id: &str,
    body: CreateInvitation,
) -> Result<InvitationView, ApiError> {
    let action = if body.role == Role::Owner {
        Action::OwnersManage
    } else {
        Action::MembersManage
    };
    let access = authorize(control, caller, id, action).await?;
    check_grant(&access, body.role)?;
    let email = body.email.trim().to_ascii_lowercase();
    if !(3..=254).contains(&email.len())
        || email.split('@').count() != 2
        || email.chars().any(|c| c.is_whitespace() || c.is_control())
    {
        return Err(ApiError::new(
            ErrorCode::InvalidBody,
            "`email` is not an email address",
        ));
    }
    let hours = body.expires_in_hours.unwrap_or(DEFAULT_INVITATION_HOURS);
    if !(1..=MAX_INVITATION_HOURS).contains(&hours) {
        return Err(ApiError::new(
            ErrorCode::InvalidBody,
            format!("`expires_in_hours` must be between 1 and {MAX_INVITATION_HOURS}"),
        ));
    }
    let now = util::now_unix();
    let token = util::random_token();
    let invitation = Invitation {
        id: format!("inv_{}", hex::encode(crate::tls::pki::random_bytes::<8>())),
        workspace_id: id.to_owned(),
        email: email.clone(),
        role: body.role,
        created_by: caller.user.id.clone(),
        created_at: now,
        expires_at: now + i64::from(hours) * 3600,
        accepted_by: None,
        revoked: false,
    };
    let audit = with_meta(
        draft(
            caller,
            Some(id),
            "invitation.create",
            Some(invitation.id.clone()),
            Category::Membership,
            Operation::Write,
        ),
        "role",
        body.role.as_str(),
    );
    control
        .store
        .create_invitation(invitation.clone(), util::sha256(&token), audit)
        .await?;
    let link = format!("{}/invitations/{token}", control.public_base_url);
    Ok(invitation_view(&invitation, now, Some(link)))
}

/// Pending and past invitations.
pub async fn invitations(
    control: &Control,
    caller: &Caller,
    id: &str,
) -> Result<Vec<InvitationView>, ApiError> {
    authorize(control, caller, id, Action::MembersRead).await?;
    let now = util::now_unix();
    Ok(control
        .store
        .invitations(id)?
        .iter()
        .map(|i| invitation_view(i, now, None))
        .collect())
}

/// Revokes an invitation.
pub async fn revoke_invitation(
    control: &Control,
    caller: &Caller,
    id: &str,
    invitation_id: &str,
) -> Result<(), ApiError> {
    authorize(control, caller, id, Action::MembersManage).await?;
    let audit = draft(
        caller,
        Some(id),
        "invitation.revoke",
        Some(invitation_id.into()),
        Category::Membership,
        Operation::Write,
    );
    control
        .store
        .revoke_invitation(id, invitation_id, audit)
        .await?;
    Ok(())
}

/// Accepts an invitation as the signed-in user. When the user has an email, it must be the
/// invited one; local accounts have none, and the single-use link is then the proof.
pub async fn accept(
    control: &Control,
    caller: &Caller,
    token: &str,
) -> Result<WorkspaceView, ApiError> {
    if matches!(caller.principal, Principal::Token(_)) {
        return Err(ApiError::new(
            ErrorCode::Forbidden,
            "sign in as a person to accept an invitation",
        ));
    }
    let hash = util::sha256(token);
    let invitation = control
        .store
        .invitation_by_token(hash)?
        .ok_or_else(|| ApiError::not_found("invitation"))?;
    if let Some(email) = &caller.user.email
        && !email.eq_ignore_ascii_case(&invitation.email)
    {
        return Err(ApiError::new(
            ErrorCode::Forbidden,
            "this invitation was sent to another email address",
        ));
    }
    let audit = with_meta(
        draft(
            caller,
            Some(&invitation.workspace_id),
            "invitation.accept",
            Some(invitation.id.clone()),
            Category::Membership,
            Operation::Write,
        ),
        "role",
        invitation.role.as_str(),
    );
    let membership = control
        .store
        .accept_invitation(hash, &caller.user.id, util::now_unix(), audit)
        .await?;
    let workspace = control
        .store
        .workspace(&invitation.workspace_id)?
        .ok_or_else(|| ApiError::not_found("workspace"))?;
    Ok(workspace_view(&workspace, membership.role))
}
