//! Bodies of sign-in, sessions, workspaces, members, invitations, API tokens and the audit log.

use serde::{Deserialize, Serialize};

use crate::authz::{Action, Role};

/// `POST /api/v1/auth/login`.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LoginRequest {
    /// Local account name.
    pub username: String,
    /// Its password.
    pub password: String,
}

/// A signed-in user as the API shows it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct UserView {
    /// Stable id (`usr_…`).
    pub id: String,
    /// `local` for local accounts, else the OpenID Connect issuer.
    pub issuer: String,
    /// Email, for display.
    pub email: Option<String>,
    /// Name, for display (the username for local accounts).
    pub name: Option<String>,
    /// May create workspaces and administer the appliance.
    pub appliance_admin: bool,
}

/// `GET /api/v1/me` and the answer to a successful sign-in.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Me {
    /// Who is signed in.
    pub user: UserView,
    /// Send this in the `x-csrf-token` header on every state-changing request made with the
    /// session cookie. Absent for API-token callers.
    pub csrf_token: Option<String>,
    /// The workspaces the caller belongs to.
    pub workspaces: Vec<WorkspaceView>,
}

/// One of my sessions.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct SessionView {
    /// Identifier for revocation (a hash, not the secret).
    pub id: String,
    /// Sign-in time (RFC 3339).
    pub created_at: String,
    /// Last use (RFC 3339).
    pub last_seen_at: String,
    /// Absolute expiry (RFC 3339).
    pub expires_at: String,
    /// Address it was created from.
    pub source_ip: Option<String>,
    /// Browser or client it was created from.
    pub user_agent: Option<String>,
    /// `true` for the session making this request.
    pub current: bool,
}

/// A workspace, with what the caller may do in it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct WorkspaceView {
    /// `ws_…`.
    pub id: String,
    /// Display name.
    pub name: String,
    /// Whether tools may read pod logs in this workspace.
    pub logs_allowed: bool,
    /// The caller's role.
    pub role: Role,
    /// The actions the caller may take (derived from the role).
    pub permissions: Vec<Action>,
    /// Creation time (RFC 3339).
    pub created_at: String,
}

/// `POST /api/v1/workspaces`.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CreateWorkspace {
    /// Display name (1–100 characters).
    pub name: String,
}

/// `PATCH /api/v1/workspaces/{id}`.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct UpdateWorkspace {
    /// New display name.
    #[serde(default)]
    pub name: Option<String>,
    /// Allow tools to read pod logs.
    #[serde(default)]
    pub logs_allowed: Option<bool>,
}

/// A member of a workspace.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MemberView {
    /// The member.
    pub user: UserView,
    /// Their role.
    pub role: Role,
}

/// `PUT /api/v1/workspaces/{id}/members/{user_id}`.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SetRole {
    /// The new role.
    pub role: Role,
}

/// `POST /api/v1/workspaces/{id}/invitations`.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CreateInvitation {
    /// Who is invited.
    pub email: String,
    /// The role they get on acceptance.
    pub role: Role,
    /// Validity in hours (default 72, at most 720).
    #[serde(default)]
    pub expires_in_hours: Option<u32>,
}

/// An invitation.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct InvitationView {
    /// `inv_…`.
    pub id: String,
    /// Who is invited.
    pub email: String,
    /// The role they get.
    pub role: Role,
    /// Expiry (RFC 3339).
    pub expires_at: String,
    /// `pending`, `accepted`, `revoked` or `expired`.
    pub state: String,
    /// The single-use link, only in the answer to its creation.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub link: Option<String>,
}

/// `POST /api/v1/invitations/accept`.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AcceptInvitation {
    /// The token from the invitation link.
    pub token: String,
}

/// `POST /api/v1/workspaces/{id}/tokens`.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CreateToken {
    /// What the token is for.
    pub name: String,
    /// Its role: no higher than the creator's.
    pub role: Role,
    /// Validity in days (default 90, at most 365).
    #[serde(default)]
    pub expires_in_days: Option<u32>,
}

/// An API token (the secret only in the answer to its creation).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TokenView {
    /// `tok_…`.
    pub id: String,
    /// What it is for.
    pub name: String,
    /// Its role.
    pub role: Role,
    /// The member who created it.
    pub created_by: String,
    /// Creation time (RFC 3339).
    pub created_at: String,
    /// Expiry (RFC 3339).
    pub expires_at: Option<String>,
    /// Last use (RFC 3339).
    pub last_used_at: Option<String>,
    /// Revocation time (RFC 3339).
    pub revoked_at: Option<String>,
    /// The secret, shown once: send as `Authorization: Bearer <token>`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub token: Option<String>,
}

/// A page of a list.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Page<T> {
    /// The items.
    pub items: Vec<T>,
    /// Pass as `cursor` to get the next page; absent on the last page.
    pub next_cursor: Option<String>,
}

/// One audit record as the API shows it.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct AuditView {
    /// Position in the workspace's chain.
    pub seq: u64,
    /// Time (RFC 3339).
    pub at: String,
    /// `user`, `token` or `system`.
    pub actor_kind: String,
    /// Actor id.
    pub actor_id: String,
    /// Actor display name.
    pub actor: String,
    /// What was done, e.g. `member.role_set`.
    pub action: String,
    /// What it was done to.
    pub target: Option<String>,
    /// `success`, `denied` or `failed`.
    pub result: String,
    /// `read` or `write`.
    pub operation: String,
    /// `membership`, `workspace`, `auth`, …
    pub category: String,
    /// Source address.
    pub source_ip: Option<String>,
    /// Request id.
    pub request_id: Option<String>,
    /// Sanitized details.
    pub metadata: std::collections::BTreeMap<String, String>,
    /// Hash of the previous record.
    pub prev_hash: String,
    /// Hash of this record.
    pub hash: String,
}

/// `GET /api/v1/workspaces/{id}/audit/verify`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct AuditChainView {
    /// Records checked.
    pub records: u64,
    /// `true` when every link holds.
    pub intact: bool,
    /// The first record whose link is broken.
    pub first_broken_seq: Option<u64>,
    /// Why it is broken.
    pub reason: Option<String>,
}
