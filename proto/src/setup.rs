//! Bodies of the first-start flow and of one-time recovery links.

use serde::{Deserialize, Serialize};

/// `POST /api/v1/setup`: redeem a one-time link to create (or reset) a local administrator.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RedeemLinkRequest {
    /// The token from the one-time link (`/setup/{token}`).
    pub token: String,
    /// Username of the administrator. Ignored for a recovery link, which names its account.
    #[serde(default)]
    pub username: Option<String>,
    /// New password: at least 12 characters.
    pub password: String,
}

/// The administrator account created or reset by a one-time link.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct AdministratorCreated {
    /// Username of the administrator.
    pub username: String,
    /// `true` when the link created the account, `false` when it reset an existing one's password.
    pub created: bool,
}
