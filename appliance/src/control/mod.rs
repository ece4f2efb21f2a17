//! The control plane: the services that decide (today: first start and one-time links) and the
//! HTTP routes that call them. Routes convert between HTTP and the services' types and never
//! decide anything themselves; services know nothing of HTTP.
//!
//! Layout:
//! - [`setup`]: one-time links that create or reset a local administrator.
//! - [`error`]: `ApiError`, the one conversion from a failure to `{code, message, type, link}`.
//! - [`routes`]: the axum router, one module per URL subtree.

pub mod error;
pub mod routes;
pub mod setup;

use acorn_store::Store;

/// Everything the control plane's services need, shared by every request.
#[derive(Clone)]
pub struct Control {
    /// The one store.
    pub store: Store,
    /// Base URL printed in links (`https://host:port`).
    pub public_base_url: String,
    /// Limits concurrent password hashing (argon2id is deliberately expensive).
    pub hashing: std::sync::Arc<tokio::sync::Semaphore>,
}

impl Control {
    /// Builds the control plane over an open store.
    pub fn new(store: Store, public_base_url: String) -> Self {
        Control {
            store,
            public_base_url,
            hashing: std::sync::Arc::new(tokio::sync::Semaphore::new(2)),
        }
    }
}
