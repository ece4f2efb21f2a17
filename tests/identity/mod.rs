//! Identity, workspaces and authorization: OIDC sign-in against a real provider, sessions and
//! CSRF, roles and invitations, API tokens, the audit chain, and the authorization matrix
//! generated from the route table.

mod audit;
mod matrix;
mod oidc;
mod sessions;
mod workspaces;
