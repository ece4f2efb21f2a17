//! Identity and workspaces: users, sessions, workspaces, memberships, invitations, API tokens.
//!
//! Every state-changing method that takes an [`AuditDraft`] appends it to its audit chain in
//! the same transaction as the change. Each write closure reads and validates first and
//! returns refusals (`LastOwner`, `NotFound`, …) as its `Ok` value before writing anything, so
//! a refusal leaves no change and no audit record; an `Err` is an engine failure that the
//! writer replays (see `writer.rs`). Because the check and the write of one closure run in one
//! transaction on the single writer, guards such as "a workspace keeps an owner" hold under
//! concurrent requests.
//!
//! Authorization (who may call what, role ceilings for invitations and tokens, email matching
//! of invitations) is the appliance's job; this module keeps the data consistent: indexes
//! written with their records, no workspace without an owner, single-use invitations.

use acorn_proto::authz::Role;
use redb::{ReadableDatabase, ReadableTable, Table, WriteTransaction};
use serde::{Deserialize, Serialize};

use crate::audit::{AuditDraft, append_in, check_draft};
use crate::records::LocalAccount;
use crate::schema::{
    self, API_TOKEN_IDS, API_TOKENS, INVITATION_IDS, INVITATIONS, LOCAL_ACCOUNTS, MEMBERSHIPS,
    SESSIONS, USER_SUBJECTS, USER_WORKSPACES, USERS, WORKSPACES, decode, encode, pair_key,
    prefix_range,
};
use crate::store::read_record;
use crate::{Store, StoreError};

/// The issuer of local (password) accounts' users.
pub const LOCAL_ISSUER: &str = "local";

/// `touch_session` / `touch_api_token` skip the write when the stored time is younger.
pub const TOUCH_INTERVAL_SECS: i64 = 60;

/// A person who signed in, identified by (issuer, subject).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct User {
    /// `usr_` + 16 hex.
    pub id: String,
    /// OIDC issuer URL, or [`LOCAL_ISSUER`].
    pub issuer: String,
    /// OIDC `sub`, or the local username.
    pub subject: String,
    pub email: Option<String>,
    #[serde(default)]
    pub email_verified: bool,
    pub name: Option<String>,
    /// May administer the appliance itself (local administrators).
    #[serde(default)]
    pub appliance_admin: bool,
    pub created_at: i64,
    pub last_login_at: Option<i64>,
}

/// A signed-in browser session, stored under the SHA-256 of its cookie value.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Session {
    pub user_id: String,
    pub created_at: i64,
    pub last_seen_at: i64,
    /// Absolute expiry.
    pub expires_at: i64,
    pub csrf_token: String,
    pub source_ip: Option<String>,
    pub user_agent: Option<String>,
}

/// A workspace: owns members, clusters, settings, sessions and runs.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Workspace {
    /// `ws_` + 16 hex.
    pub id: String,
    pub name: String,
    pub created_at: i64,
    /// User id of the creator.
    pub created_by: String,
    #[serde(default)]
    pub logs_allowed: bool,
    /// Default provider, model and limits of new runs.
    #[serde(default)]
    pub run_settings: acorn_proto::runs::RunSettings,
}

/// A user's role in a workspace.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Membership {
    pub workspace_id: String,
    pub user_id: String,
    pub role: Role,
    pub created_at: i64,
}

/// An invitation of an email into a workspace; stored under the SHA-256 of its link token.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Invitation {
    /// `inv_` + 16 hex.
    pub id: String,
    pub workspace_id: String,
    pub email: String,
    pub role: Role,
    /// User id of the inviter.
    pub created_by: String,
    pub created_at: i64,
    pub expires_at: i64,
    /// User id of whoever accepted it (it is single use).
    pub accepted_by: Option<String>,
    #[serde(default)]
    pub revoked: bool,
}

/// An API token for one workspace; stored under the SHA-256 of the whole token string.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ApiToken {
    /// `tok_` + 16 hex.
    pub id: String,
    pub workspace_id: String,
    /// The member who created it; it acts as them, capped at `role`.
    pub user_id: String,
    pub name: String,
    pub role: Role,
    pub created_at: i64,
    pub expires_at: Option<i64>,
    pub last_used_at: Option<i64>,
    pub revoked_at: Option<i64>,
}

/// A new random id: `prefix` + 16 lowercase hex characters (64 random bits).
pub fn new_id(prefix: &str) -> Result<String, StoreError> {
    let mut bytes = [0u8; 8];
    getrandom::fill(&mut bytes).map_err(|e| StoreError::Random(e.to_string()))?;
    Ok(format!("{prefix}{}", hex::encode(bytes)))
}

fn not_found(what: &str) -> StoreError {
    StoreError::NotFound {
        what: what.to_string(),
    }
}

/// The inner `Result` of a write closure: a refusal (nothing written) or the answer.
type Answer<T> = Result<Result<T, StoreError>, StoreError>;

type RwTable<'t> = Table<'t, &'static [u8], &'static [u8]>;

fn put<T: Serialize>(table: &mut RwTable<'_>, key: &[u8], value: &T) -> Result<(), StoreError> {
    table.insert(key, encode(value)?.as_slice())?;
    Ok(())
}

fn get<T: serde::de::DeserializeOwned>(
    txn: &WriteTransaction,
    def: schema::Table,
    key: &[u8],
) -> Result<Option<T>, StoreError> {
    let table = txn.open_table(def)?;
    read_record(&table, def, key)
}

/// Every `(key, record)` under `prefix 0x00`.
fn scan_prefix<T: serde::de::DeserializeOwned>(
    table: &impl ReadableTable<&'static [u8], &'static [u8]>,
    def: schema::Table,
    prefix: &str,
) -> Result<Vec<(Vec<u8>, T)>, StoreError> {
    use redb::TableHandle;
    let (start, end) = prefix_range(prefix);
    let mut out = Vec::new();
    for entry in table.range(start.as_slice()..end.as_slice())? {
        let (k, v) = entry?;
        let record = decode(v.value()).map_err(|reason| StoreError::BadRecord {
            table: def.name().to_string(),
            key: schema::show_key(k.value()),
            reason,
        })?;
        out.push((k.value().to_vec(), record));
    }
    Ok(out)
}

/// Every record of a table for which `keep` holds, with its key.
fn scan_all<T: serde::de::DeserializeOwned>(
    table: &impl ReadableTable<&'static [u8], &'static [u8]>,
    def: schema::Table,
    keep: impl Fn(&T) -> bool,
) -> Result<Vec<(Vec<u8>, T)>, StoreError> {
    use redb::TableHandle;
    let mut out = Vec::new();
    for entry in table.iter()? {
        let (k, v) = entry?;
        let record: T = decode(v.value()).map_err(|reason| StoreError::BadRecord {
            table: def.name().to_string(),
            key: schema::show_key(k.value()),
            reason,
        })?;
        if keep(&record) {
            out.push((k.value().to_vec(), record));
        }
    }
    Ok(out)
}

fn hash_from_hex(s: &str) -> Option<[u8; 32]> {
    let mut out = [0u8; 32];
    hex::decode_to_slice(s, &mut out).ok()?;
    Some(out)
}

/// The local account's user: the one recorded in the account if it exists, else the one
/// indexed under (`local`, username), else a new one. Used by the 1→2 migration and when a
/// setup or recover link creates an account.
pub(crate) fn ensure_local_user(
    txn: &WriteTransaction,
    account: &LocalAccount,
    now: i64,
) -> Result<String, StoreError> {
    let mut users = txn.open_table(USERS)?;
    if let Some(id) = &account.user_id
        && users.get(id.as_bytes())?.is_some()
    {
        return Ok(id.clone());
    }
    let mut subjects = txn.open_table(USER_SUBJECTS)?;
    let subject_key = pair_key(LOCAL_ISSUER, &account.username);
    if let Some(id) = read_record::<String>(&subjects, USER_SUBJECTS, &subject_key)?
        && users.get(id.as_bytes())?.is_some()
    {
        return Ok(id);
    }
    let user = User {
        id: new_id("usr_")?,
        issuer: LOCAL_ISSUER.into(),
        subject: account.username.clone(),
        email: None,
        email_verified: false,
        name: Some(account.username.clone()),
        appliance_admin: account.administrator,
        created_at: now,
        last_login_at: None,
    };
    put(&mut users, user.id.as_bytes(), &user)?;
    put(&mut subjects, &subject_key, &user.id)?;
    Ok(user.id)
}

/// Owners of a workspace (user ids).
fn owners(txn: &WriteTransaction, workspace_id: &str) -> Result<Vec<String>, StoreError> {
    let table = txn.open_table(MEMBERSHIPS)?;
    Ok(
        scan_prefix::<Membership>(&table, MEMBERSHIPS, workspace_id)?
            .into_iter()
            .filter(|(_, m)| m.role == Role::Owner)
            .map(|(_, m)| m.user_id)
            .collect(),
    )
}

/// `Some(LastOwner)` if removing `user`'s ownership would leave `ws` without an owner.
fn last_owner_guard(
    txn: &WriteTransaction,
    current: &Membership,
) -> Result<Option<StoreError>, StoreError> {
    if current.role != Role::Owner {
        return Ok(None);
    }
    let owners = owners(txn, &current.workspace_id)?;
    Ok((owners.iter().all(|o| *o == current.user_id)).then_some(StoreError::LastOwner))
}

fn put_membership(txn: &WriteTransaction, m: &Membership) -> Result<(), StoreError> {
    put(
        &mut txn.open_table(MEMBERSHIPS)?,
        &pair_key(&m.workspace_id, &m.user_id),
        m,
    )?;
    put(
        &mut txn.open_table(USER_WORKSPACES)?,
        &pair_key(&m.user_id, &m.workspace_id),
        &m.workspace_id,
    )
}

fn remove_membership(
    txn: &WriteTransaction,
    workspace_id: &str,
    user_id: &str,
) -> Result<(), StoreError> {
    txn.open_table(MEMBERSHIPS)?
        .remove(pair_key(workspace_id, user_id).as_slice())?;
    txn.open_table(USER_WORKSPACES)?
        .remove(pair_key(user_id, workspace_id).as_slice())?;
    Ok(())
}

/// Revokes (sets `revoked_at`) every live token matching `which`; returns how many.
fn revoke_tokens(
    txn: &WriteTransaction,
    at: i64,
    which: impl Fn(&ApiToken) -> bool,
) -> Result<usize, StoreError> {
    let mut table = txn.open_table(API_TOKENS)?;
    let live = scan_all::<ApiToken>(&table, API_TOKENS, |t| t.revoked_at.is_none() && which(t))?;
    for (k, mut t) in live.iter().cloned() {
        t.revoked_at = Some(at);
        put(&mut table, &k, &t)?;
    }
    Ok(live.len())
}

impl Store {
    // ---- users -------------------------------------------------------------------------------

    /// Finds the user of (issuer, subject) or creates it, and records this sign-in: updates
    /// email, name and `last_login_at`. Not audited here: the appliance appends the sign-in to
    /// the appliance chain (it knows the source address and request id).
    pub async fn upsert_oidc_user(
        &self,
        issuer: &str,
        subject: &str,
        email: Option<String>,
        email_verified: bool,
        name: Option<String>,
        now: i64,
    ) -> Result<User, StoreError> {
        if issuer == LOCAL_ISSUER || issuer.contains('\0') {
            return Err(StoreError::Conflict {
                what: format!("{issuer:?} is not an OIDC issuer"),
            });
        }
        let candidate_id = new_id("usr_")?;
        let (issuer, subject) = (issuer.to_string(), subject.to_string());
        self.submit(move |txn| {
            let subject_key = pair_key(&issuer, &subject);
            let mut users = txn.open_table(USERS)?;
            let mut subjects = txn.open_table(USER_SUBJECTS)?;
            let existing = match read_record::<String>(&subjects, USER_SUBJECTS, &subject_key)? {
                Some(id) => read_record::<User>(&users, USERS, id.as_bytes())?,
                None => None,
            };
            let user = match existing {
                Some(mut user) => {
                    user.email = email.clone();
                    user.email_verified = email_verified;
                    user.name = name.clone();
                    user.last_login_at = Some(now);
                    user
                }
                None => User {
                    id: candidate_id.clone(),
                    issuer: issuer.clone(),
                    subject: subject.clone(),
                    email: email.clone(),
                    email_verified,
                    name: name.clone(),
                    appliance_admin: false,
                    created_at: now,
                    last_login_at: Some(now),
                },
            };
            put(&mut users, user.id.as_bytes(), &user)?;
            put(&mut subjects, &subject_key, &user.id)?;
            Ok(user)
        })
        .await
    }

    /// The user with this id.
    pub fn user(&self, id: &str) -> Result<Option<User>, StoreError> {
        self.get_record(USERS, id.as_bytes())
    }

    /// The local account of `username` and its user, for password sign-in.
    pub fn local_login(&self, username: &str) -> Result<Option<(User, LocalAccount)>, StoreError> {
        let txn = self.db().begin_read()?;
        let accounts = txn.open_table(LOCAL_ACCOUNTS)?;
        let Some(account) =
            read_record::<LocalAccount>(&accounts, LOCAL_ACCOUNTS, username.as_bytes())?
        else {
            return Ok(None);
        };
        let Some(user_id) = &account.user_id else {
            return Ok(None);
        };
        let users = txn.open_table(USERS)?;
        Ok(read_record::<User>(&users, USERS, user_id.as_bytes())?.map(|u| (u, account)))
    }

    /// Sets `last_login_at`. `NotFound` if the user is gone.
    pub async fn record_login(&self, user_id: &str, now: i64) -> Result<(), StoreError> {
        let user_id = user_id.to_string();
        self.submit(move |txn| -> Answer<()> {
            let mut users = txn.open_table(USERS)?;
            let Some(mut user) = read_record::<User>(&users, USERS, user_id.as_bytes())? else {
                return Ok(Err(not_found("user")));
            };
            user.last_login_at = Some(now);
            put(&mut users, user_id.as_bytes(), &user)?;
            Ok(Ok(()))
        })
        .await?
    }

    /// Grants or withdraws appliance administration (e.g. from an OIDC claim rule at sign-in;
    /// the sign-in's audit record covers it). `NotFound` if the user is gone.
    pub async fn set_appliance_admin(
        &self,
        user_id: &str,
        admin: bool,
    ) -> Result<User, StoreError> {
        let user_id = user_id.to_string();
        self.submit(move |txn| -> Answer<User> {
            let mut users = txn.open_table(USERS)?;
            let Some(mut user) = read_record::<User>(&users, USERS, user_id.as_bytes())? else {
                return Ok(Err(not_found("user")));
            };
            user.appliance_admin = admin;
            put(&mut users, user_id.as_bytes(), &user)?;
            Ok(Ok(user))
        })
        .await?
    }

    /// Deletes a user: its sessions and memberships, revokes its API tokens, and (for a local
    /// user) its local account. Refused with `LastOwner` if it is the last owner of any
    /// workspace, and with `Conflict` if it is the last local administrator (deleting it would
    /// reopen first-run setup).
    pub async fn delete_user(&self, user_id: &str, audit: AuditDraft) -> Result<(), StoreError> {
        check_draft(&audit)?;
        let user_id = user_id.to_string();
        self.submit(move |txn| -> Answer<()> {
            let Some(user) = get::<User>(txn, USERS, user_id.as_bytes())? else {
                return Ok(Err(not_found("user")));
            };
            let workspaces: Vec<String> = {
                let index = txn.open_table(USER_WORKSPACES)?;
                scan_prefix::<String>(&index, USER_WORKSPACES, &user_id)?
                    .into_iter()
                    .map(|(_, ws)| ws)
                    .collect()
            };
            for ws in &workspaces {
                if let Some(m) = get::<Membership>(txn, MEMBERSHIPS, &pair_key(ws, &user_id))?
                    && let Some(refusal) = last_owner_guard(txn, &m)?
                {
                    return Ok(Err(refusal));
                }
            }
            let local = if user.issuer == LOCAL_ISSUER {
                let accounts = txn.open_table(LOCAL_ACCOUNTS)?;
                let account = read_record::<LocalAccount>(
                    &accounts,
                    LOCAL_ACCOUNTS,
                    user.subject.as_bytes(),
                )?;
                if account.as_ref().is_some_and(|a| a.administrator) {
                    let admins =
                        scan_all::<LocalAccount>(&accounts, LOCAL_ACCOUNTS, |a| a.administrator)?;
                    if admins.len() <= 1 {
                        return Ok(Err(StoreError::Conflict {
                            what: "the last local administrator cannot be deleted".into(),
                        }));
                    }
                }
                account.is_some()
            } else {
                false
            };
            // Validation is over; from here on only writes.
            for ws in &workspaces {
                remove_membership(txn, ws, &user_id)?;
            }
            {
                let mut sessions = txn.open_table(SESSIONS)?;
                let own = scan_all::<Session>(&sessions, SESSIONS, |s| s.user_id == user_id)?;
                for (k, _) in own {
                    sessions.remove(k.as_slice())?;
                }
            }
            revoke_tokens(txn, audit.at, |t| t.user_id == user_id)?;
            txn.open_table(USERS)?.remove(user_id.as_bytes())?;
            txn.open_table(USER_SUBJECTS)?
                .remove(pair_key(&user.issuer, &user.subject).as_slice())?;
            if local {
                txn.open_table(LOCAL_ACCOUNTS)?
                    .remove(user.subject.as_bytes())?;
            }
            append_in(txn, &audit)?;
            Ok(Ok(()))
        })
        .await?
    }

    // ---- sessions ----------------------------------------------------------------------------

    /// Stores a new session under the SHA-256 of its id.
    pub async fn create_session(
        &self,
        id_hash: [u8; 32],
        session: Session,
    ) -> Result<(), StoreError> {
        let bytes = encode(&session)?;
        self.submit(move |txn| {
            txn.open_table(SESSIONS)?
                .insert(id_hash.as_slice(), bytes.as_slice())?;
            Ok(())
        })
        .await
    }

    /// The session stored under this hash (expiry is the caller's check).
    pub fn session(&self, id_hash: [u8; 32]) -> Result<Option<Session>, StoreError> {
        self.get_record(SESSIONS, &id_hash)
    }

    /// Sets `last_seen_at = now`, unless it is less than [`TOUCH_INTERVAL_SECS`] old, in which
    /// case nothing is submitted (one write per minute per session, not per request).
    pub async fn touch_session(&self, id_hash: [u8; 32], now: i64) -> Result<(), StoreError> {
        match self.session(id_hash)? {
            Some(s) if now - s.last_seen_at >= TOUCH_INTERVAL_SECS => {}
            _ => return Ok(()),
        }
        self.submit(move |txn| {
            let mut table = txn.open_table(SESSIONS)?;
            if let Some(mut s) = read_record::<Session>(&table, SESSIONS, &id_hash)?
                && s.last_seen_at < now
            {
                s.last_seen_at = now;
                put(&mut table, &id_hash, &s)?;
            }
            Ok(())
        })
        .await
    }

    /// Deletes a session (logout, revoke); `false` if there was none.
    pub async fn delete_session(&self, id_hash: [u8; 32]) -> Result<bool, StoreError> {
        self.submit(move |txn| {
            Ok(txn
                .open_table(SESSIONS)?
                .remove(id_hash.as_slice())?
                .is_some())
        })
        .await
    }

    /// Every session of a user with its key (hex-encode the hash for an id to show).
    pub fn sessions_of_user(&self, user_id: &str) -> Result<Vec<([u8; 32], Session)>, StoreError> {
        let txn = self.db().begin_read()?;
        let table = txn.open_table(SESSIONS)?;
        Ok(
            scan_all::<Session>(&table, SESSIONS, |s| s.user_id == user_id)?
                .into_iter()
                .filter_map(|(k, s)| Some((<[u8; 32]>::try_from(k.as_slice()).ok()?, s)))
                .collect(),
        )
    }

    /// Deletes every session of a user; returns how many.
    pub async fn delete_sessions_of_user(&self, user_id: &str) -> Result<u64, StoreError> {
        let user_id = user_id.to_string();
        self.submit(move |txn| {
            let mut table = txn.open_table(SESSIONS)?;
            let own = scan_all::<Session>(&table, SESSIONS, |s| s.user_id == user_id)?;
            for (k, _) in &own {
                table.remove(k.as_slice())?;
            }
            Ok(own.len() as u64)
        })
        .await
    }

    /// Deletes sessions past their absolute expiry (`expires_at <= now`) or idle for
    /// `idle_secs` (`last_seen_at + idle_secs <= now`); returns how many.
    pub async fn prune_expired_sessions(
        &self,
        now: i64,
        idle_secs: i64,
    ) -> Result<u64, StoreError> {
        self.submit(move |txn| {
            let mut table = txn.open_table(SESSIONS)?;
            let dead = scan_all::<Session>(&table, SESSIONS, |s| {
                s.expires_at <= now || s.last_seen_at.saturating_add(idle_secs) <= now
            })?;
            for (k, _) in &dead {
                table.remove(k.as_slice())?;
            }
            Ok(dead.len() as u64)
        })
        .await
    }

    // ---- workspaces --------------------------------------------------------------------------

    /// Creates a workspace whose creator is its Owner. `NotFound` if the creator is unknown.
    /// The caller cannot know the new id, so the store files `audit` in the new workspace's
    /// chain (its first record, whatever `audit.workspace_id` said) with `target` defaulting
    /// to the id: the workspace's own audit log starts with its creation.
    pub async fn create_workspace(
        &self,
        name: &str,
        creator_user_id: &str,
        now: i64,
        mut audit: AuditDraft,
    ) -> Result<Workspace, StoreError> {
        let id = new_id("ws_")?;
        audit.workspace_id = Some(id.clone());
        audit.target.get_or_insert_with(|| id.clone());
        check_draft(&audit)?;
        let workspace = Workspace {
            id,
            name: name.to_string(),
            created_at: now,
            created_by: creator_user_id.to_string(),
            logs_allowed: false,
            run_settings: Default::default(),
        };
        self.submit(move |txn| -> Answer<Workspace> {
            if get::<User>(txn, USERS, workspace.created_by.as_bytes())?.is_none() {
                return Ok(Err(not_found("user")));
            }
            let mut table = txn.open_table(WORKSPACES)?;
            if table.get(workspace.id.as_bytes())?.is_some() {
                return Ok(Err(StoreError::Conflict {
                    what: format!("workspace id {}", workspace.id),
                }));
            }
            put(&mut table, workspace.id.as_bytes(), &workspace)?;
            drop(table);
            put_membership(
                txn,
                &Membership {
                    workspace_id: workspace.id.clone(),
                    user_id: workspace.created_by.clone(),
                    role: Role::Owner,
                    created_at: now,
                },
            )?;
            append_in(txn, &audit)?;
            Ok(Ok(workspace.clone()))
        })
        .await?
    }

    /// The workspace with this id.
    pub fn workspace(&self, id: &str) -> Result<Option<Workspace>, StoreError> {
        self.get_record(WORKSPACES, id.as_bytes())
    }

    /// The workspaces a user is a member of, with their role, by workspace id.
    pub fn workspaces_of_user(&self, user_id: &str) -> Result<Vec<(Workspace, Role)>, StoreError> {
        let txn = self.db().begin_read()?;
        let index = txn.open_table(USER_WORKSPACES)?;
        let workspaces = txn.open_table(WORKSPACES)?;
        let memberships = txn.open_table(MEMBERSHIPS)?;
        let mut out = Vec::new();
        for (_, ws_id) in scan_prefix::<String>(&index, USER_WORKSPACES, user_id)? {
            let ws = read_record::<Workspace>(&workspaces, WORKSPACES, ws_id.as_bytes())?;
            let m =
                read_record::<Membership>(&memberships, MEMBERSHIPS, &pair_key(&ws_id, user_id))?;
            if let (Some(ws), Some(m)) = (ws, m) {
                out.push((ws, m.role));
            }
        }
        Ok(out)
    }

    async fn update_workspace(
        &self,
        id: &str,
        audit: AuditDraft,
        change: impl Fn(&mut Workspace) + Send + 'static,
    ) -> Result<Workspace, StoreError> {
        check_draft(&audit)?;
        let id = id.to_string();
        self.submit(move |txn| -> Answer<Workspace> {
            let mut table = txn.open_table(WORKSPACES)?;
            let Some(mut ws) = read_record::<Workspace>(&table, WORKSPACES, id.as_bytes())? else {
                return Ok(Err(not_found("workspace")));
            };
            change(&mut ws);
            put(&mut table, id.as_bytes(), &ws)?;
            drop(table);
            append_in(txn, &audit)?;
            Ok(Ok(ws))
        })
        .await?
    }

    /// Renames a workspace.
    pub async fn rename_workspace(
        &self,
        id: &str,
        name: &str,
        audit: AuditDraft,
    ) -> Result<Workspace, StoreError> {
        let name = name.to_string();
        self.update_workspace(id, audit, move |ws| ws.name = name.clone())
            .await
    }

    /// Allows or forbids operators to read logs in this workspace.
    pub async fn set_logs_allowed(
        &self,
        id: &str,
        allowed: bool,
        audit: AuditDraft,
    ) -> Result<Workspace, StoreError> {
        self.update_workspace(id, audit, move |ws| ws.logs_allowed = allowed)
            .await
    }

    /// Sets the workspace's run defaults (provider, model, limits).
    pub async fn set_run_settings(
        &self,
        id: &str,
        settings: acorn_proto::runs::RunSettings,
        audit: AuditDraft,
    ) -> Result<Workspace, StoreError> {
        self.update_workspace(id, audit, move |ws| ws.run_settings = settings.clone())
            .await
    }

    /// Deletes a workspace with its memberships, invitations, API tokens and gateway records
    /// (providers, MCP servers, secrets, budgets). Its audit chain and gateway request log are
    /// kept (the audit record of the deletion is its last record).
    pub async fn delete_workspace(&self, id: &str, audit: AuditDraft) -> Result<(), StoreError> {
        check_draft(&audit)?;
        let id = id.to_string();
        self.submit(move |txn| -> Answer<()> {
            let mut workspaces = txn.open_table(WORKSPACES)?;
            if workspaces.get(id.as_bytes())?.is_none() {
                return Ok(Err(not_found("workspace")));
            }
            workspaces.remove(id.as_bytes())?;
            drop(workspaces);
            let members = {
                let t = txn.open_table(MEMBERSHIPS)?;
                scan_prefix::<Membership>(&t, MEMBERSHIPS, &id)?
            };
            for (_, m) in members {
                remove_membership(txn, &id, &m.user_id)?;
            }
            for (index_def, records_def) in
                [(INVITATION_IDS, INVITATIONS), (API_TOKEN_IDS, API_TOKENS)]
            {
                let mut index = txn.open_table(index_def)?;
                let mut records = txn.open_table(records_def)?;
                for (k, hash_hex) in scan_prefix::<String>(&index, index_def, &id)? {
                    if let Some(hash) = hash_from_hex(&hash_hex) {
                        records.remove(hash.as_slice())?;
                    }
                    index.remove(k.as_slice())?;
                }
            }
            crate::clusters::delete_clusters_of_workspace(txn, &id)?;
            crate::gateway::delete_workspace_records(txn, &id)?;
            crate::runs::delete_runs_of_workspace(txn, &id)?;
            crate::webhooks::delete_workspace_records(txn, &id)?;
            append_in(txn, &audit)?;
            Ok(Ok(()))
        })
        .await?
    }

    // ---- memberships -------------------------------------------------------------------------

    /// A user's membership of a workspace.
    pub fn membership(
        &self,
        workspace_id: &str,
        user_id: &str,
    ) -> Result<Option<Membership>, StoreError> {
        self.get_record(MEMBERSHIPS, &pair_key(workspace_id, user_id))
    }

    /// The members of a workspace with their users, by user id.
    pub fn members(&self, workspace_id: &str) -> Result<Vec<(Membership, User)>, StoreError> {
        let txn = self.db().begin_read()?;
        let memberships = txn.open_table(MEMBERSHIPS)?;
        let users = txn.open_table(USERS)?;
        let mut out = Vec::new();
        for (_, m) in scan_prefix::<Membership>(&memberships, MEMBERSHIPS, workspace_id)? {
            if let Some(u) = read_record::<User>(&users, USERS, m.user_id.as_bytes())? {
                out.push((m, u));
            }
        }
        Ok(out)
    }

    /// Makes `user_id` a member with `role`, or changes its role. Refuses (`LastOwner`) to
    /// demote the workspace's last owner; the count and the write are one transaction, so
    /// concurrent demotions of the last two owners cannot both succeed. A new membership's
    /// `created_at` is `audit.at`.
    pub async fn set_member_role(
        &self,
        workspace_id: &str,
        user_id: &str,
        role: Role,
        audit: AuditDraft,
    ) -> Result<Membership, StoreError> {
        check_draft(&audit)?;
        let (ws, user) = (workspace_id.to_string(), user_id.to_string());
        self.submit(move |txn| -> Answer<Membership> {
            if get::<Workspace>(txn, WORKSPACES, ws.as_bytes())?.is_none() {
                return Ok(Err(not_found("workspace")));
            }
            if get::<User>(txn, USERS, user.as_bytes())?.is_none() {
                return Ok(Err(not_found("user")));
            }
            let current = get::<Membership>(txn, MEMBERSHIPS, &pair_key(&ws, &user))?;
            if let Some(current) = &current
                && role != Role::Owner
                && let Some(refusal) = last_owner_guard(txn, current)?
            {
                return Ok(Err(refusal));
            }
            let membership = Membership {
                workspace_id: ws.clone(),
                user_id: user.clone(),
                role,
                created_at: current.map_or(audit.at, |c| c.created_at),
            };
            put_membership(txn, &membership)?;
            append_in(txn, &audit)?;
            Ok(Ok(membership))
        })
        .await?
    }

    /// Removes a member (same last-owner guard) and revokes its API tokens of this workspace.
    pub async fn remove_member(
        &self,
        workspace_id: &str,
        user_id: &str,
        audit: AuditDraft,
    ) -> Result<(), StoreError> {
        check_draft(&audit)?;
        let (ws, user) = (workspace_id.to_string(), user_id.to_string());
        self.submit(move |txn| -> Answer<()> {
            let Some(current) = get::<Membership>(txn, MEMBERSHIPS, &pair_key(&ws, &user))? else {
                return Ok(Err(not_found("member")));
            };
            if let Some(refusal) = last_owner_guard(txn, &current)? {
                return Ok(Err(refusal));
            }
            remove_membership(txn, &ws, &user)?;
            revoke_tokens(txn, audit.at, |t| t.workspace_id == ws && t.user_id == user)?;
            append_in(txn, &audit)?;
            Ok(Ok(()))
        })
        .await?
    }

    // ---- invitations -------------------------------------------------------------------------

    /// Stores an invitation under the SHA-256 of its link token. `NotFound` for an unknown
    /// workspace, `Conflict` for a reused id or token hash.
    pub async fn create_invitation(
        &self,
        invitation: Invitation,
        token_hash: [u8; 32],
        audit: AuditDraft,
    ) -> Result<Invitation, StoreError> {
        check_draft(&audit)?;
        self.submit(move |txn| -> Answer<Invitation> {
            let inv = &invitation;
            if get::<Workspace>(txn, WORKSPACES, inv.workspace_id.as_bytes())?.is_none() {
                return Ok(Err(not_found("workspace")));
            }
            let mut records = txn.open_table(INVITATIONS)?;
            let mut index = txn.open_table(INVITATION_IDS)?;
            let index_key = pair_key(&inv.workspace_id, &inv.id);
            if records.get(token_hash.as_slice())?.is_some()
                || index.get(index_key.as_slice())?.is_some()
            {
                return Ok(Err(StoreError::Conflict {
                    what: format!("invitation {}", inv.id),
                }));
            }
            put(&mut records, &token_hash, inv)?;
            put(&mut index, &index_key, &hex::encode(token_hash))?;
            drop((records, index));
            append_in(txn, &audit)?;
            Ok(Ok(invitation.clone()))
        })
        .await?
    }

    /// Every invitation of a workspace (pending, accepted, revoked, expired), by id.
    pub fn invitations(&self, workspace_id: &str) -> Result<Vec<Invitation>, StoreError> {
        let txn = self.db().begin_read()?;
        let index = txn.open_table(INVITATION_IDS)?;
        let records = txn.open_table(INVITATIONS)?;
        let mut out = Vec::new();
        for (_, hash_hex) in scan_prefix::<String>(&index, INVITATION_IDS, workspace_id)? {
            if let Some(hash) = hash_from_hex(&hash_hex)
                && let Some(inv) = read_record::<Invitation>(&records, INVITATIONS, &hash)?
            {
                out.push(inv);
            }
        }
        Ok(out)
    }

    /// The invitation of a link token (whatever its state).
    pub fn invitation_by_token(
        &self,
        token_hash: [u8; 32],
    ) -> Result<Option<Invitation>, StoreError> {
        self.get_record(INVITATIONS, &token_hash)
    }

    /// Revokes a pending invitation. `NotFound` if it is not in this workspace,
    /// `InvitationUsed` if it was accepted (revoking twice is fine).
    pub async fn revoke_invitation(
        &self,
        workspace_id: &str,
        id: &str,
        audit: AuditDraft,
    ) -> Result<Invitation, StoreError> {
        check_draft(&audit)?;
        let index_key = pair_key(workspace_id, id);
        self.submit(move |txn| -> Answer<Invitation> {
            let Some(hash) = get::<String>(txn, INVITATION_IDS, &index_key)?
                .as_deref()
                .and_then(hash_from_hex)
            else {
                return Ok(Err(not_found("invitation")));
            };
            let mut records = txn.open_table(INVITATIONS)?;
            let Some(mut inv) = read_record::<Invitation>(&records, INVITATIONS, &hash)? else {
                return Ok(Err(not_found("invitation")));
            };
            if inv.accepted_by.is_some() {
                return Ok(Err(StoreError::InvitationUsed));
            }
            inv.revoked = true;
            put(&mut records, &hash, &inv)?;
            drop(records);
            append_in(txn, &audit)?;
            Ok(Ok(inv))
        })
        .await?
    }

    /// Accepts an invitation for `user_id`: single use. Unknown → `NotFound`; accepted or
    /// revoked → `InvitationUsed`; `expires_at <= now` → `InvitationExpired`; the user is
    /// already a member → `AlreadyMember` (its role is kept and the invitation stays pending).
    pub async fn accept_invitation(
        &self,
        token_hash: [u8; 32],
        user_id: &str,
        now: i64,
        audit: AuditDraft,
    ) -> Result<Membership, StoreError> {
        check_draft(&audit)?;
        let user = user_id.to_string();
        self.submit(move |txn| -> Answer<Membership> {
            let Some(mut inv) = get::<Invitation>(txn, INVITATIONS, &token_hash)? else {
                return Ok(Err(not_found("invitation")));
            };
            if inv.accepted_by.is_some() || inv.revoked {
                return Ok(Err(StoreError::InvitationUsed));
            }
            if inv.expires_at <= now {
                return Ok(Err(StoreError::InvitationExpired));
            }
            if get::<Workspace>(txn, WORKSPACES, inv.workspace_id.as_bytes())?.is_none() {
                return Ok(Err(not_found("workspace")));
            }
            if get::<User>(txn, USERS, user.as_bytes())?.is_none() {
                return Ok(Err(not_found("user")));
            }
            if get::<Membership>(txn, MEMBERSHIPS, &pair_key(&inv.workspace_id, &user))?.is_some() {
                return Ok(Err(StoreError::AlreadyMember));
            }
            let membership = Membership {
                workspace_id: inv.workspace_id.clone(),
                user_id: user.clone(),
                role: inv.role,
                created_at: now,
            };
            put_membership(txn, &membership)?;
            inv.accepted_by = Some(user.clone());
            put(&mut txn.open_table(INVITATIONS)?, &token_hash, &inv)?;
            append_in(txn, &audit)?;
            Ok(Ok(membership))
        })
        .await?
    }

    // ---- API tokens --------------------------------------------------------------------------

    /// Stores an API token under the SHA-256 of the token string. `NotFound` if the workspace
    /// or the creator's membership is missing, `Conflict` for a reused id or hash. The role
    /// ceiling (no higher than the creator's) is the caller's check.
    pub async fn create_api_token(
        &self,
        token: ApiToken,
        token_hash: [u8; 32],
        audit: AuditDraft,
    ) -> Result<ApiToken, StoreError> {
        check_draft(&audit)?;
        self.submit(move |txn| -> Answer<ApiToken> {
            let t = &token;
            if get::<Workspace>(txn, WORKSPACES, t.workspace_id.as_bytes())?.is_none() {
                return Ok(Err(not_found("workspace")));
            }
            if get::<Membership>(txn, MEMBERSHIPS, &pair_key(&t.workspace_id, &t.user_id))?
                .is_none()
            {
                return Ok(Err(not_found("member")));
            }
            let mut records = txn.open_table(API_TOKENS)?;
            let mut index = txn.open_table(API_TOKEN_IDS)?;
            let index_key = pair_key(&t.workspace_id, &t.id);
            if records.get(token_hash.as_slice())?.is_some()
                || index.get(index_key.as_slice())?.is_some()
            {
                return Ok(Err(StoreError::Conflict {
                    what: format!("api token {}", t.id),
                }));
            }
            put(&mut records, &token_hash, t)?;
            put(&mut index, &index_key, &hex::encode(token_hash))?;
            drop((records, index));
            append_in(txn, &audit)?;
            Ok(Ok(token.clone()))
        })
        .await?
    }

    /// The token stored under this hash (revocation and expiry are the caller's check).
    pub fn api_token(&self, token_hash: [u8; 32]) -> Result<Option<ApiToken>, StoreError> {
        self.get_record(API_TOKENS, &token_hash)
    }

    /// Every token of a workspace, revoked ones included, by id.
    pub fn api_tokens(&self, workspace_id: &str) -> Result<Vec<ApiToken>, StoreError> {
        let txn = self.db().begin_read()?;
        let index = txn.open_table(API_TOKEN_IDS)?;
        let records = txn.open_table(API_TOKENS)?;
        let mut out = Vec::new();
        for (_, hash_hex) in scan_prefix::<String>(&index, API_TOKEN_IDS, workspace_id)? {
            if let Some(hash) = hash_from_hex(&hash_hex)
                && let Some(t) = read_record::<ApiToken>(&records, API_TOKENS, &hash)?
            {
                out.push(t);
            }
        }
        Ok(out)
    }

    /// Revokes a token (`revoked_at = audit.at`; an already revoked one keeps its time).
    /// `NotFound` if it is not in this workspace.
    pub async fn revoke_api_token(
        &self,
        workspace_id: &str,
        id: &str,
        audit: AuditDraft,
    ) -> Result<ApiToken, StoreError> {
        check_draft(&audit)?;
        let index_key = pair_key(workspace_id, id);
        self.submit(move |txn| -> Answer<ApiToken> {
            let Some(hash) = get::<String>(txn, API_TOKEN_IDS, &index_key)?
                .as_deref()
                .and_then(hash_from_hex)
            else {
                return Ok(Err(not_found("token")));
            };
            let mut records = txn.open_table(API_TOKENS)?;
            let Some(mut t) = read_record::<ApiToken>(&records, API_TOKENS, &hash)? else {
                return Ok(Err(not_found("token")));
            };
            t.revoked_at.get_or_insert(audit.at);
            put(&mut records, &hash, &t)?;
            drop(records);
            append_in(txn, &audit)?;
            Ok(Ok(t))
        })
        .await?
    }

    /// Sets `last_used_at = now`, throttled like [`Store::touch_session`].
    pub async fn touch_api_token(&self, token_hash: [u8; 32], now: i64) -> Result<(), StoreError> {
        match self.api_token(token_hash)? {
            Some(t)
                if t.last_used_at
                    .is_none_or(|l| now - l >= TOUCH_INTERVAL_SECS) => {}
            _ => return Ok(()),
        }
        self.submit(move |txn| {
            let mut table = txn.open_table(API_TOKENS)?;
            if let Some(mut t) = read_record::<ApiToken>(&table, API_TOKENS, &token_hash)?
                && t.last_used_at.is_none_or(|l| l < now)
            {
                t.last_used_at = Some(now);
                put(&mut table, &token_hash, &t)?;
            }
            Ok(())
        })
        .await
    }
}
