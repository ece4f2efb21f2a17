//! `acorn serve`: opens the store, makes sure TLS material exists, binds the HTTPS listener (and
//! the optional redirect listener), starts the background tasks, tells systemd it is ready, and on
//! SIGTERM stops accepting, lets in-flight requests finish (bounded), and closes the store.

use std::net::SocketAddr;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use anyhow::Context;
use axum::extract::State;
use axum::http::{StatusCode, Uri, header};
use axum::response::{IntoResponse, Response};
use tokio::sync::watch;

use acorn_store::{Store, StoreOptions};

use crate::config::Config;
use crate::control::routes::{self, AppState};
use crate::control::{Control, setup};
use crate::local_socket::{self, LocalOps};
use crate::metrics::Metrics;
use crate::ops;
use crate::systemd;
use crate::tls::{self, TlsService};

/// Runs the appliance until SIGTERM or SIGINT.
pub async fn serve(config: Config) -> anyhow::Result<()> {
    serve_with(config, crate::console::Console::default(), None).await
}

/// Runs the appliance with the given console settings (`acorn demo` marks it as a demo); sends
/// the listening address on `bound` once the listener is up.
pub async fn serve_with(
    config: Config,
    console: crate::console::Console,
    bound: Option<tokio::sync::oneshot::Sender<SocketAddr>>,
) -> anyhow::Result<()> {
    let state_dir = config.state_dir();
    create_state_dir(&state_dir)?;
    let metrics = Metrics::new();
    let store = open_store(&state_dir, &metrics).await?;

    let listener = std::net::TcpListener::bind(config.server.listen)
        .with_context(|| format!("cannot listen on {} (server.listen)", config.server.listen))?;
    let addr = listener.local_addr()?;
    let base_url = public_base_url(&config, addr.port());
    let sans = tls::leaf_sans(&config.server.public_hostnames, config.server.listen);
    let tls = TlsService::start(store.clone(), config.tls.clone(), sans.clone()).await?;
    let oidc = match config.oidc.clone() {
        Some(oidc) => Some(crate::control::oidc::Oidc::new(oidc, &base_url)?),
        None => None,
    };
    let control = Control::new(
        store.clone(),
        base_url.clone(),
        config.identity.clone(),
        oidc,
        config.clusters.clone(),
        Arc::clone(&metrics),
    );

    let credentials_dir = std::env::var_os("CREDENTIALS_DIRECTORY").map(std::path::PathBuf::from);
    let gateway = Arc::new(
        crate::gateway::Gateway::open(
            store.clone(),
            &config.gateway,
            credentials_dir.as_deref(),
            Arc::new(crate::control::clusters::GatewayClusterTools {
                control: control.clone(),
            }),
            metrics.gateway.clone(),
        )
        .await?,
    );

    let (shutdown_tx, shutdown_rx) = watch::channel(false);
    tls.spawn_background(shutdown_rx.clone());
    crate::gateway::spawn_housekeeping(Arc::clone(&gateway), shutdown_rx.clone());
    control.spawn_housekeeping(shutdown_rx.clone());
    let evidence = Arc::new(crate::engine::evidence::EvidenceSigner::open(&gateway).await?);
    tracing::info!(fingerprint = %evidence.fingerprint(), "evidence signing key");
    let engine =
        crate::engine::Engine::new(control.clone(), Arc::clone(&gateway), config.engine.clone());
    let (requeued, ended) = engine.recover().await?;
    if requeued + ended > 0 {
        tracing::warn!(
            requeued,
            ended,
            "runs interrupted by the last stop: queued ones queued again, running ones ended appliance_restarted"
        );
    }
    engine.start_workers(shutdown_rx.clone());
    crate::findings::start(&config.findings, &control, &engine, shutdown_rx.clone());
    let search =
        crate::control::search::RunSearch::open(store.clone(), &state_dir, shutdown_rx.clone())?;
    {
        let search = Arc::clone(&search);
        engine.observe(Arc::new(move |_| search.notify()));
    }

    let ops = LocalOps {
        control: control.clone(),
        tls: Arc::clone(&tls),
        gateway: Arc::clone(&gateway),
        search: Arc::clone(&search),
    };
    let socket = local_socket::serve(&state_dir, ops, shutdown_rx.clone())
        .with_context(|| format!("cannot create the local socket in {}", state_dir.display()))?;
    if let Some(every) = config.backup.schedule {
        ops::backup::spawn_schedule(
            store.clone(),
            every,
            config.backup_dir(),
            config.backup.keep,
            shutdown_rx.clone(),
        );
    }

    let webhooks = crate::webhooks::Webhooks::new(
        store.clone(),
        Arc::clone(&gateway),
        config.webhooks.clone(),
        base_url.clone(),
    )?;
    webhooks.spawn(shutdown_rx.clone());
    let evals = Arc::new(
        crate::eval::service::Evals::start(store.clone(), Arc::clone(&gateway), &config)
            .await
            .map_err(anyhow::Error::msg)?,
    );

    let ready = Arc::new(AtomicBool::new(false));
    let console = Arc::new(console);
    engine.observe(console.run_observer());
    let state = AppState {
        control: control.clone(),
        metrics,
        ready: Arc::clone(&ready),
        gateway,
        engine,
        evidence,
        search: Arc::clone(&search),
        webhooks,
        evals,
        console: Arc::clone(&console),
    };
    let app = routes::router(state, config.server.max_body_bytes);
    let handle = axum_server::Handle::new();
    let server =
        axum_server::from_tcp_rustls(listener, tls.rustls_config())?.handle(handle.clone());
    let server_task =
        tokio::spawn(server.serve(app.into_make_service_with_connect_info::<SocketAddr>()));
    if let Some(redirect) = config.server.http_redirect_listen {
        spawn_redirect(
            redirect,
            addr.port(),
            sans,
            base_url.clone(),
            shutdown_rx.clone(),
        )
        .await?;
    }

    setup::announce_setup_link_if_needed(&control).await?;
    store
        .append_system_event(
            "appliance.started",
            &format!("acorn {} listening on {addr}", crate::VERSION),
        )
        .await?;
    ready.store(true, Ordering::SeqCst);
    if let Some(bound) = bound {
        let _ = bound.send(addr);
    }
    tracing::info!(%addr, url = %base_url, socket = %socket.display(), state_dir = %state_dir.display(), "listening");
    systemd::notify_ready();
    systemd::spawn_watchdog(shutdown_rx.clone());

    wait_for_stop_signal().await;
    tracing::info!(
        grace_secs = config.server.shutdown_grace.as_secs(),
        "stopping: no new connections, finishing requests"
    );
    ready.store(false, Ordering::SeqCst);
    console.close_all();
    systemd::notify_stopping();
    handle.graceful_shutdown(Some(config.server.shutdown_grace));
    match server_task.await {
        Ok(Ok(())) => {}
        Ok(Err(e)) => tracing::error!(error = %e, "HTTPS listener failed"),
        Err(e) => tracing::error!(error = %e, "HTTPS listener task failed"),
    }
    let _ = shutdown_tx.send(true);
    let _ = store
        .append_system_event("appliance.stopped", "clean shutdown")
        .await;
    tracing::info!("stopped; the store is closed when the last task ends");
    Ok(())
}

fn create_state_dir(dir: &Path) -> anyhow::Result<()> {
    std::fs::create_dir_all(dir)
        .with_context(|| format!("cannot create the state directory {}", dir.display()))?;
    // The store holds keys and hashes: only the service user may read it.
    std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o700))
        .with_context(|| format!("cannot restrict permissions of {}", dir.display()))?;
    Ok(())
}

async fn open_store(state_dir: &Path, metrics: &Arc<Metrics>) -> anyhow::Result<Store> {
    let path = ops::store_path(state_dir);
    let mut options = StoreOptions::new(crate::VERSION.to_owned());
    let observer = Arc::clone(metrics);
    options.commit_observer = Some(Arc::new(move |stats| observer.observe_commit(stats)));
    options.pre_upgrade_backup_dir = Some(ops::pre_upgrade_backup_dir(state_dir));
    let store = tokio::task::spawn_blocking(move || Store::open(&path, options)).await??;
    tracing::info!(path = %store.path().display(), schema_version = store.schema_version(), "store open");
    if let Some(up) = store.upgraded() {
        let backup = up
            .backup
            .as_ref()
            .map(|b| b.display().to_string())
            .unwrap_or_default();
        tracing::warn!(from = up.from, to = up.to, %backup, "store upgraded; the backup holds the store as it was");
        store
            .append_system_event(
                "store.upgraded",
                &format!(
                    "store migrated from schema {} to {} by acorn {}; previous store backed up to {backup}",
                    up.from,
                    up.to,
                    crate::VERSION
                ),
            )
            .await?;
    }
    Ok(store)
}

/// `https://host:port` for links the appliance prints: the first public hostname, else the
/// listen IP when it is specific, else this machine's hostname.
pub fn public_base_url(config: &Config, port: u16) -> String {
    let listen_ip = config.server.listen.ip();
    let host = config
        .server
        .public_hostnames
        .first()
        .cloned()
        .or_else(|| (!listen_ip.is_unspecified()).then(|| listen_ip.to_string()))
        .or_else(crate::util::machine_hostname)
        .unwrap_or_else(|| "localhost".to_owned());
    let host = if host.contains(':') {
        format!("[{host}]")
    } else {
        host
    };
    format!("https://{host}:{port}")
}

async fn wait_for_stop_signal() {
    use tokio::signal::unix::{SignalKind, signal};
    match (
        signal(SignalKind::terminate()),
        signal(SignalKind::interrupt()),
    ) {
        (Ok(mut term), Ok(mut int)) => {
            tokio::select! {
                _ = term.recv() => {},
                _ = int.recv() => {},
            }
        }
        _ => {
            tracing::warn!("cannot install signal handlers; stop with SIGKILL");
            std::future::pending::<()>().await;
        }
    }
}

#[derive(Clone)]
struct Redirect {
    https_port: u16,
    known_hosts: Arc<Vec<String>>,
    base_url: String,
}

/// Plain-HTTP listener that only redirects to HTTPS. Hosts outside the certificate's names are
/// sent to the public base URL instead of being echoed back.
async fn spawn_redirect(
    addr: SocketAddr,
    https_port: u16,
    known_hosts: Vec<String>,
    base_url: String,
    mut shutdown: watch::Receiver<bool>,
) -> anyhow::Result<()> {
    let listener = tokio::net::TcpListener::bind(addr)
        .await
        .with_context(|| format!("cannot listen on {addr} (server.http_redirect_listen)"))?;
    tracing::info!(addr = %listener.local_addr()?, "redirecting plain HTTP to HTTPS");
    let state = Redirect {
        https_port,
        known_hosts: Arc::new(known_hosts),
        base_url,
    };
    let app = axum::Router::new().fallback(redirect).with_state(state);
    tokio::spawn(async move {
        let stop = async move {
            let _ = shutdown.changed().await;
        };
        if let Err(e) = axum::serve(listener, app)
            .with_graceful_shutdown(stop)
            .await
        {
            tracing::error!(error = %e, "redirect listener failed");
        }
    });
    Ok(())
}

async fn redirect(
    State(state): State<Redirect>,
    headers: axum::http::HeaderMap,
    uri: Uri,
) -> Response {
    let host = headers
        .get(header::HOST)
        .and_then(|h| h.to_str().ok())
        .map(|h| {
            h.rsplit_once(':')
                .filter(|(_, p)| p.parse::<u16>().is_ok())
                .map_or(h, |(name, _)| name)
        })
        .filter(|h| {
            state
                .known_hosts
                .iter()
                .any(|k| k == h.trim_matches(['[', ']']))
        });
    let path = uri.path_and_query().map_or("/", |p| p.as_str());
    let location = match host {
        Some(h) => format!("https://{h}:{}{path}", state.https_port),
        None => format!("{}{path}", state.base_url),
    };
    (
        StatusCode::PERMANENT_REDIRECT,
        [(header::LOCATION, location)],
    )
        .into_response()
}
