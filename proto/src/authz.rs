//! Roles and the actions they allow: the one table that decides who may do what in a workspace.
//! The appliance's authorization layer evaluates it; clients read the result from the
//! `permissions` field of every workspace-scoped object instead of re-implementing it.

use serde::{Deserialize, Serialize};

/// A member's role in a workspace.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    /// Everything, including managing owners and deleting the workspace.
    Owner,
    /// Members (not owners), clusters, tools, MCP servers, keys; read-only and read-write runs.
    Admin,
    /// Sessions, read-only runs, logs when the workspace allows, cancelling runs.
    Operator,
    /// Reads workspace, cluster, session and run data.
    Viewer,
    /// Reads the audit log and run history, nothing else.
    Auditor,
}

impl Role {
    /// Every role, most powerful first.
    pub const ALL: &'static [Role] = &[
        Role::Owner,
        Role::Admin,
        Role::Operator,
        Role::Viewer,
        Role::Auditor,
    ];

    /// The stable name.
    pub const fn as_str(self) -> &'static str {
        match self {
            Role::Owner => "owner",
            Role::Admin => "admin",
            Role::Operator => "operator",
            Role::Viewer => "viewer",
            Role::Auditor => "auditor",
        }
    }

    /// Whether this role may take `action`.
    pub fn allows(self, action: Action) -> bool {
        use Action::*;
        match self {
            Role::Owner => true,
            Role::Admin => !matches!(action, WorkspaceDelete | OwnersManage),
            Role::Operator => matches!(
                action,
                WorkspaceRead
                    | MembersRead
                    | ClustersRead
                    | SessionsRead
                    | SessionsCreate
                    | RunsRead
                    | RunsCreateReadOnly
                    | RunsCancel
                    | LogsRead
                    | TokensCreate
            ),
            Role::Viewer => matches!(
                action,
                WorkspaceRead | MembersRead | ClustersRead | SessionsRead | RunsRead | TokensCreate
            ),
            Role::Auditor => matches!(action, WorkspaceRead | RunsRead | AuditRead | TokensCreate),
        }
    }

    /// Every action this role allows, in table order.
    pub fn permissions(self) -> Vec<Action> {
        Action::ALL
            .iter()
            .copied()
            .filter(|a| self.allows(*a))
            .collect()
    }

    /// `true` when everything `other` may do, this role may do too. A member can only grant
    /// (invite, create a token with) a role they cover: "no higher than their own".
    pub fn covers(self, other: Role) -> bool {
        Action::ALL
            .iter()
            .all(|a| !other.allows(*a) || self.allows(*a))
    }
}

macro_rules! actions {
    ($( $(#[doc = $doc:literal])+ $variant:ident = $name:literal, )+) => {
        /// Something a caller can do in a workspace.
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
        pub enum Action {
            $( $(#[doc = $doc])+ #[serde(rename = $name)] $variant, )+
        }

        impl Action {
            /// Every action, in table order.
            pub const ALL: &'static [Action] = &[$(Action::$variant,)+];

            /// The stable name, as it appears in `permissions`.
            pub const fn as_str(self) -> &'static str {
                match self { $(Action::$variant => $name,)+ }
            }
        }
    };
}

actions! {
    /// See the workspace and its settings.
    WorkspaceRead = "workspace.read",
    /// Rename the workspace, change its settings.
    WorkspaceUpdate = "workspace.update",
    /// Delete the workspace.
    WorkspaceDelete = "workspace.delete",
    /// List members and pending invitations.
    MembersRead = "members.read",
    /// Invite, change and remove members other than owners.
    MembersManage = "members.manage",
    /// Make, demote and remove owners.
    OwnersManage = "owners.manage",
    /// See clusters, their snapshots and findings.
    ClustersRead = "clusters.read",
    /// Register, configure and delete clusters; rotate agent keys.
    ClustersManage = "clusters.manage",
    /// Enable and configure builtin tools and MCP servers.
    ToolsManage = "tools.manage",
    /// Configure model providers and their keys.
    ProvidersManage = "providers.manage",
    /// Read sessions.
    SessionsRead = "sessions.read",
    /// Open sessions.
    SessionsCreate = "sessions.create",
    /// Read runs and their events.
    RunsRead = "runs.read",
    /// Start read-only runs.
    RunsCreateReadOnly = "runs.create_read_only",
    /// Start read-write runs.
    RunsCreateReadWrite = "runs.create_read_write",
    /// Cancel runs.
    RunsCancel = "runs.cancel",
    /// Approve or reject write actions.
    ApprovalsDecide = "approvals.decide",
    /// Read pod logs through tools (when the workspace allows it).
    LogsRead = "logs.read",
    /// Read and export the audit log.
    AuditRead = "audit.read",
    /// Create API tokens for oneself.
    TokensCreate = "tokens.create",
    /// List and revoke other members' API tokens.
    TokensManage = "tokens.manage",
    /// Manage webhook subscriptions and alert receivers.
    WebhooksManage = "webhooks.manage",
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn owner_covers_everyone_and_nobody_else_covers_owner() {
        for role in Role::ALL {
            assert!(Role::Owner.covers(*role));
            assert_eq!(role.covers(Role::Owner), *role == Role::Owner, "{role:?}");
        }
        assert!(Role::Admin.covers(Role::Operator));
        assert!(Role::Admin.covers(Role::Auditor));
        assert!(!Role::Operator.covers(Role::Admin));
        assert!(
            !Role::Viewer.covers(Role::Auditor),
            "viewers cannot read the audit log"
        );
        assert!(
            !Role::Auditor.covers(Role::Viewer),
            "auditors cannot read clusters"
        );
    }

    #[test]
    fn the_issue_role_table_holds() {
        assert!(Role::Admin.allows(Action::RunsCreateReadWrite));
        assert!(!Role::Admin.allows(Action::OwnersManage));
        assert!(Role::Operator.allows(Action::RunsCancel));
        assert!(!Role::Operator.allows(Action::RunsCreateReadWrite));
        assert!(!Role::Operator.allows(Action::MembersManage));
        assert!(!Role::Viewer.allows(Action::SessionsCreate));
        assert!(Role::Auditor.allows(Action::AuditRead));
        assert!(!Role::Auditor.allows(Action::ClustersRead));
    }
}
