//! `acorn recover NAME`: a one-time link for an administrator, issued on the machine itself (the
//! local socket of a running server, or the store file of a stopped one). No network credential
//! is involved: being able to run this as the service user is the proof.

use acorn_proto::ops::{LocalRequest, LocalResponse};
use acorn_store::OneTimePurpose;

use crate::config::Config;
use crate::control::setup;
use crate::local_socket;

/// Issues and prints the link.
pub async fn run(config: &Config, username: &str) -> anyhow::Result<()> {
    setup::validate_username(username).map_err(|e| anyhow::anyhow!("{}", e.message))?;
    let state_dir = config.state_dir();
    let request = LocalRequest::Recover {
        username: username.to_owned(),
    };
    let link = match local_socket::request(&state_dir, &request).await? {
        Some(LocalResponse::Link(link)) => link,
        Some(LocalResponse::Error { message }) => anyhow::bail!("{message}"),
        Some(other) => anyhow::bail!("unexpected answer from the server: {other:?}"),
        None => {
            let store = super::open_offline(&state_dir)?;
            let base = crate::server::public_base_url(config, config.server.listen.port());
            let link = setup::issue_link(
                &store,
                &base,
                OneTimePurpose::Recover {
                    username: username.to_owned(),
                },
            )
            .await?;
            let _ = store
                .append_system_event(
                    "recovery.issued",
                    &format!("recovery link issued for {username} (offline)"),
                )
                .await;
            link
        }
    };
    println!(
        "one-time link for administrator {username} (valid once, until {}):\n{}",
        link.expires_at, link.url
    );
    Ok(())
}
