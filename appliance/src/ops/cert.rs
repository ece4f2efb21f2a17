//! `acorn cert show` and `acorn cert rotate-leaf`: through the running server when there is one,
//! else directly on the store file.

use std::path::Path;

use acorn_proto::ops::{CertInfo, LocalRequest, LocalResponse};

use crate::config::Config;
use crate::local_socket;
use crate::tls::{self, LeafSource};

/// `acorn cert show`: prints the CA PEM and its SHA-256 fingerprint.
pub async fn show(state_dir: &Path, json: bool) -> anyhow::Result<()> {
    let info = match local_socket::request(state_dir, &LocalRequest::CertShow).await? {
        Some(answer) => expect_cert(answer)?,
        None => offline_info(state_dir)?,
    };
    print(&info, json)
}

/// `acorn cert rotate-leaf`: issues a new leaf from the CA now.
pub async fn rotate_leaf(config: &Config) -> anyhow::Result<()> {
    let state_dir = config.state_dir();
    let info = match local_socket::request(&state_dir, &LocalRequest::RotateLeaf).await? {
        Some(answer) => expect_cert(answer)?,
        None => {
            let store = super::open_offline(&state_dir)?;
            let ca = tls::ensure_ca(&store).await?;
            let sans = tls::leaf_sans(&config.server.public_hostnames, config.server.listen);
            let leaf = tls::ensure_leaf(&store, &ca, &sans, &config.tls, true).await?;
            tls::cert_info(&ca, &leaf.sans, leaf.not_after, LeafSource::Generated)?
        }
    };
    println!(
        "new leaf certificate, valid until {} for {}",
        info.leaf_not_after,
        info.leaf_sans.join(", ")
    );
    Ok(())
}

fn offline_info(state_dir: &Path) -> anyhow::Result<CertInfo> {
    let store = super::open_offline(state_dir)?;
    let ca = store.tls_ca()?.ok_or_else(|| {
        anyhow::anyhow!("this store has no CA yet: start `acorn serve` once to create it")
    })?;
    let (sans, not_after) = store
        .tls_leaf()?
        .map(|l| (l.sans, l.not_after))
        .unwrap_or_default();
    Ok(tls::cert_info(
        &ca,
        &sans,
        not_after,
        LeafSource::Generated,
    )?)
}

fn expect_cert(answer: LocalResponse) -> anyhow::Result<CertInfo> {
    match answer {
        LocalResponse::Cert(info) => Ok(info),
        LocalResponse::Error { message } => anyhow::bail!("{message}"),
        other => anyhow::bail!("unexpected answer from the server: {other:?}"),
    }
}

fn print(info: &CertInfo, json: bool) -> anyhow::Result<()> {
    if json {
        println!("{}", serde_json::to_string_pretty(info)?);
    } else {
        print!("{}", info.ca_pem);
        println!("SHA-256 fingerprint: {}", info.ca_sha256);
        println!(
            "leaf ({}): valid until {}, names: {}",
            info.leaf_source,
            info.leaf_not_after,
            info.leaf_sans.join(", ")
        );
    }
    Ok(())
}
