//! The appliance's own TLS: a CA generated on first start and kept in the store (so that a
//! one-file restore keeps every agent's CA pin valid), a leaf issued from it for the configured
//! names and renewed before expiry without a restart, or operator-provided files that replace the
//! leaf and are reloaded on SIGHUP and when they change.
//!
//! Layout: [`pki`] has the pure certificate functions; [`TlsService`] owns the live rustls
//! configuration that the listener serves and swaps it in place.

pub mod pki;

use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};

use axum_server::tls_rustls::RustlsConfig;
use time::OffsetDateTime;
use tokio::sync::watch;

use acorn_proto::ops::CertInfo;
use acorn_store::{CaMaterial, LeafMaterial, Store, StoreError};

use crate::config::TlsConfig;
use pki::PkiError;

/// A TLS failure the operator must act on.
#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    #[error(transparent)]
    Pki(#[from] PkiError),
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("cannot read {path}: {source}")]
    ReadFile {
        path: PathBuf,
        source: std::io::Error,
    },
}

/// Where the served leaf comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LeafSource {
    /// Issued from the appliance CA and stored in the store.
    Generated,
    /// `tls.cert_file` / `tls.key_file`.
    Operator,
}

#[derive(Debug, Clone)]
struct Serving {
    source: LeafSource,
    sans: Vec<String>,
    not_after: i64,
    /// Modification times of the operator files when last loaded.
    operator_mtimes: Option<(SystemTime, SystemTime)>,
}

/// The live TLS state of the running server.
pub struct TlsService {
    store: Store,
    config: TlsConfig,
    sans: Vec<String>,
    ca: CaMaterial,
    rustls: RustlsConfig,
    serving: Mutex<Serving>,
}

impl TlsService {
    /// Loads or creates the CA, then loads, renews or issues the leaf (or reads the operator
    /// files), and returns the service with a rustls configuration ready to serve.
    pub async fn start(
        store: Store,
        config: TlsConfig,
        sans: Vec<String>,
    ) -> Result<Arc<Self>, TlsError> {
        let ca = ensure_ca(&store).await?;
        let (server_config, serving) = match (&config.cert_file, &config.key_file) {
            (Some(cert), Some(key)) => load_operator_files(cert, key)?,
            _ => {
                let leaf = ensure_leaf(&store, &ca, &sans, &config, false).await?;
                generated_serving(&ca, &leaf)?
            }
        };
        Ok(Arc::new(TlsService {
            store,
            config,
            sans,
            ca,
            rustls: RustlsConfig::from_config(server_config),
            serving: Mutex::new(serving),
        }))
    }

    /// The configuration the listener serves; reloads swap its contents in place.
    pub fn rustls_config(&self) -> RustlsConfig {
        self.rustls.clone()
    }

    /// The CA and the serving leaf, as `acorn cert show` prints them.
    pub fn cert_info(&self) -> Result<CertInfo, TlsError> {
        let serving = self.serving();
        Ok(cert_info(
            &self.ca,
            &serving.sans,
            serving.not_after,
            serving.source,
        )?)
    }

    /// Renews the generated leaf if it is within `renew_before` of expiry or does not cover the
    /// configured names. Returns whether it was renewed. Operator files are never touched.
    pub async fn renew_if_due(&self) -> Result<bool, TlsError> {
        self.replace_generated_leaf(false).await
    }

    /// Issues a new generated leaf now (`acorn cert rotate-leaf`).
    pub async fn rotate_leaf(&self) -> Result<bool, TlsError> {
        self.replace_generated_leaf(true).await
    }

    async fn replace_generated_leaf(&self, force: bool) -> Result<bool, TlsError> {
        if self.serving().source == LeafSource::Operator {
            return Ok(false);
        }
        let before = self.serving().not_after;
        let leaf = ensure_leaf(&self.store, &self.ca, &self.sans, &self.config, force).await?;
        if !force && leaf.not_after == before {
            return Ok(false);
        }
        let (server_config, serving) = generated_serving(&self.ca, &leaf)?;
        self.rustls.reload_from_config(server_config);
        *self.serving_mut() = serving;
        tracing::info!(not_after = leaf.not_after, sans = ?leaf.sans, "serving a new leaf certificate");
        Ok(true)
    }

    /// Re-reads the operator files (SIGHUP, or a change on disk). On error the previous
    /// certificate stays in service.
    pub fn reload_operator_files(&self) -> Result<bool, TlsError> {
        let (Some(cert), Some(key)) = (&self.config.cert_file, &self.config.key_file) else {
            return Ok(false);
        };
        let (server_config, serving) = load_operator_files(cert, key)?;
        self.rustls.reload_from_config(server_config);
        *self.serving_mut() = serving;
        Ok(true)
    }

    /// Whether the operator files changed on disk since they were loaded.
    fn operator_files_changed(&self) -> bool {
        let (Some(cert), Some(key)) = (&self.config.cert_file, &self.config.key_file) else {
            return false;
        };
        match (mtime(cert), mtime(key)) {
            (Ok(c), Ok(k)) => self.serving().operator_mtimes != Some((c, k)),
            _ => false,
        }
    }

    /// Runs the renewal timer, SIGHUP handler and operator-file watcher until `shutdown` fires.
    pub fn spawn_background(self: &Arc<Self>, mut shutdown: watch::Receiver<bool>) {
        let this = Arc::clone(self);
        tokio::spawn(async move {
            let mut renew = tokio::time::interval(this.config.renew_check_interval);
            renew.tick().await; // the first tick is immediate; start already checked
            let mut file_poll = tokio::time::interval(Duration::from_secs(2));
            let mut hangup = match tokio::signal::unix::signal(
                tokio::signal::unix::SignalKind::hangup(),
            ) {
                Ok(s) => Some(s),
                Err(e) => {
                    tracing::warn!(error = %e, "cannot listen for SIGHUP; certificate reload on signal disabled");
                    None
                }
            };
            loop {
                tokio::select! {
                    _ = shutdown.changed() => break,
                    _ = renew.tick() => {
                        if let Err(e) = this.renew_if_due().await {
                            tracing::error!(error = %e, "leaf certificate renewal failed; will retry at the next check");
                        }
                    }
                    _ = file_poll.tick(), if this.config.cert_file.is_some() => {
                        if this.operator_files_changed() {
                            this.reload_logged("file change");
                        }
                    }
                    Some(()) = recv_hangup(&mut hangup) => this.reload_logged("SIGHUP"),
                }
            }
        });
    }

    fn reload_logged(&self, why: &str) {
        match self.reload_operator_files() {
            Ok(true) => tracing::info!(
                trigger = why,
                not_after = self.serving().not_after,
                "reloaded operator certificate"
            ),
            Ok(false) => tracing::info!(
                trigger = why,
                "no operator certificate configured; nothing to reload"
            ),
            Err(e) => {
                tracing::error!(trigger = why, error = %e, "certificate reload failed; still serving the previous certificate")
            }
        }
    }

    fn serving(&self) -> Serving {
        self.serving
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    fn serving_mut(&self) -> std::sync::MutexGuard<'_, Serving> {
        self.serving.lock().unwrap_or_else(|p| p.into_inner())
    }
}

async fn recv_hangup(signal: &mut Option<tokio::signal::unix::Signal>) -> Option<()> {
    match signal {
        Some(s) => s.recv().await,
        None => std::future::pending().await,
    }
}

/// Returns the stored CA, generating and storing one on first start. Never replaces a stored CA.
pub async fn ensure_ca(store: &Store) -> Result<CaMaterial, TlsError> {
    if let Some(ca) = store.tls_ca()? {
        return Ok(ca);
    }
    let ca = pki::generate_ca(OffsetDateTime::now_utc())?;
    let stored = store.init_tls_ca(ca).await?;
    tracing::info!(fingerprint = %pki::fingerprint(&stored.cert_pem)?, "generated the appliance CA");
    Ok(stored)
}

/// Returns a leaf for `sans`: the stored one while it covers them and is not due for renewal
/// (unless `force`), else a new one issued from the CA and stored.
pub async fn ensure_leaf(
    store: &Store,
    ca: &CaMaterial,
    sans: &[String],
    config: &TlsConfig,
    force: bool,
) -> Result<LeafMaterial, TlsError> {
    let now = OffsetDateTime::now_utc();
    if let Some(leaf) = store.tls_leaf()? {
        let renew_at =
            leaf.not_after - i64::try_from(config.renew_before.as_secs()).unwrap_or(i64::MAX / 2);
        let covers = sans.iter().all(|s| leaf.sans.contains(s));
        if !force && covers && now.unix_timestamp() < renew_at {
            return Ok(leaf);
        }
    }
    let leaf = pki::issue_leaf(ca, sans, now, config.leaf_validity)?;
    store.put_tls_leaf(leaf.clone()).await?;
    Ok(leaf)
}

fn generated_serving(
    ca: &CaMaterial,
    leaf: &LeafMaterial,
) -> Result<(Arc<rustls::ServerConfig>, Serving), TlsError> {
    let chain = format!("{}{}", leaf.cert_pem, ca.cert_pem);
    let config = pki::server_config(&chain, &leaf.key_pem, "generated leaf")?;
    let serving = Serving {
        source: LeafSource::Generated,
        sans: leaf.sans.clone(),
        not_after: leaf.not_after,
        operator_mtimes: None,
    };
    Ok((config, serving))
}

fn load_operator_files(
    cert: &PathBuf,
    key: &PathBuf,
) -> Result<(Arc<rustls::ServerConfig>, Serving), TlsError> {
    let read = |p: &PathBuf| {
        std::fs::read_to_string(p).map_err(|source| TlsError::ReadFile {
            path: p.clone(),
            source,
        })
    };
    let mtimes = (mtime(cert).ok(), mtime(key).ok());
    let (cert_pem, key_pem) = (read(cert)?, read(key)?);
    let config = pki::server_config(&cert_pem, &key_pem, "tls.cert_file/tls.key_file")?;
    let serving = Serving {
        source: LeafSource::Operator,
        sans: Vec::new(),
        not_after: pki::not_after(&cert_pem, "tls.cert_file")?,
        operator_mtimes: mtimes.0.zip(mtimes.1),
    };
    Ok((config, serving))
}

fn mtime(path: &PathBuf) -> std::io::Result<SystemTime> {
    std::fs::metadata(path)?.modified()
}

/// The `CertInfo` of a CA and a leaf.
pub fn cert_info(
    ca: &CaMaterial,
    sans: &[String],
    not_after: i64,
    source: LeafSource,
) -> Result<CertInfo, PkiError> {
    Ok(CertInfo {
        ca_pem: ca.cert_pem.clone(),
        ca_sha256: pki::fingerprint(&ca.cert_pem)?,
        leaf_sans: sans.to_vec(),
        leaf_not_after: crate::util::rfc3339(not_after),
        leaf_source: match source {
            LeafSource::Generated => "generated".into(),
            LeafSource::Operator => "operator".into(),
        },
    })
}

/// The names the generated leaf must cover: the configured public names, the listen IP when it
/// is a specific address, this machine's hostname, and loopback.
pub fn leaf_sans(public_hostnames: &[String], listen: std::net::SocketAddr) -> Vec<String> {
    let mut sans: Vec<String> = public_hostnames.to_vec();
    if !listen.ip().is_unspecified() {
        sans.push(listen.ip().to_string());
    }
    if let Some(host) = crate::util::machine_hostname() {
        sans.push(host);
    }
    sans.extend([
        "localhost".to_string(),
        "127.0.0.1".to_string(),
        "::1".to_string(),
    ]);
    let mut seen = std::collections::HashSet::new();
    sans.retain(|s| seen.insert(s.clone()));
    sans
}
