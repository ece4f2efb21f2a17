//! The `acorn-agent` binary: reads the configuration, sets up logging and runs
//! [`acorn_agent::runtime::run`] until SIGTERM or Ctrl-C.

#![forbid(unsafe_code)]
#![deny(clippy::unwrap_used, clippy::expect_used, clippy::panic, clippy::todo)]

use std::process::ExitCode;

use acorn_agent::config::{AgentConfig, LogFormat};
use clap::Parser;

/// The in-cluster Acorn agent: links this Kubernetes cluster to the Acorn appliance.
///
/// It dials out to the appliance over WSS (pinning the appliance CA), sends a trimmed picture
/// of the cluster (no Secret values) and runs the builtin Kubernetes tools that runs call. It
/// listens only on its health port (/healthz, /readyz, /metrics).
///
/// Configuration comes from the environment (and an optional TOML file named by
/// ACORN_AGENT_CONFIG_FILE; the environment wins):
///
///   ACORN_AGENT_APPLIANCE_URL       https://host:port of the appliance (required)
///   ACORN_AGENT_CA_FILE             PEM of the appliance CA, the only CA trusted (required)
///   ACORN_AGENT_KEY / _KEY_FILE     the cluster's agent key (required)
///   ACORN_AGENT_WRITE_ENABLED       allow write tools (default false)
///   ACORN_AGENT_LOGS_ALLOWED        allow pod logs (default true)
///   ACORN_AGENT_NAMESPACES_INCLUDE  comma list; watch only these namespaces
///   ACORN_AGENT_NAMESPACES_EXCLUDE  comma list; never these
///   ACORN_AGENT_LEADER_ELECTION     elect one active replica with a Lease (default false)
///   ACORN_AGENT_LEASE_NAME          default acorn-agent
///   ACORN_AGENT_LEASE_NAMESPACE     default POD_NAMESPACE
///   POD_NAME, POD_NAMESPACE         from the downward API
///   ACORN_AGENT_HEALTH_LISTEN       default 0.0.0.0:8080
///   ACORN_AGENT_REDACT_PATTERNS     extra regexes to mask, one per line
///   ACORN_AGENT_LOG_FORMAT          json (default) or text
///   ACORN_AGENT_LOG_LEVEL           default info
///   ACORN_AGENT_KUBECONFIG          a kubeconfig instead of the in-cluster service account
///
/// Example (outside a cluster, against the simulator):
///
///   acorn-kubesim serve --kubeconfig-out /tmp/kubeconfig &
///   ACORN_AGENT_KUBECONFIG=/tmp/kubeconfig ACORN_AGENT_APPLIANCE_URL=https://127.0.0.1:8443 \
///   ACORN_AGENT_CA_FILE=ca.pem ACORN_AGENT_KEY_FILE=agent.key acorn-agent
#[derive(Parser, Debug)]
#[command(name = "acorn-agent", version, verbatim_doc_comment)]
struct Cli {
    /// Validate the configuration, print the effective settings (key masked) and exit.
    #[arg(long)]
    check_config: bool,
    /// Stop (as on SIGTERM) when standard input reaches end of file. Set by `acorn demo`,
    /// which holds the pipe's other end, so that the agent ends with it even when the demo is
    /// killed with SIGKILL.
    #[arg(long, hide = true)]
    exit_on_stdin_eof: bool,
}

fn init_logging(format: LogFormat, level: &str) {
    let filter = tracing_subscriber::EnvFilter::try_new(level)
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let builder = tracing_subscriber::fmt().with_env_filter(filter);
    match format {
        LogFormat::Json => builder.json().flatten_event(true).init(),
        LogFormat::Text => builder.init(),
    }
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let config = match AgentConfig::from_process_env() {
        Ok(c) => c,
        Err(e) => {
            eprintln!("acorn-agent: configuration: {e}");
            return ExitCode::from(2);
        }
    };
    if cli.check_config {
        // AgentKey's Debug never shows the key.
        println!("{config:#?}");
        return ExitCode::SUCCESS;
    }
    init_logging(config.log_format, &config.log_level);
    // kube, tokio-tungstenite and rustls use the process-wide provider: ring, installed once.
    let _ = rustls::crypto::ring::default_provider().install_default();
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(r) => r,
        Err(e) => {
            eprintln!("acorn-agent: cannot start the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    runtime.block_on(async {
        let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
        let watch_stdin = cli.exit_on_stdin_eof;
        tokio::spawn(async move {
            if watch_stdin {
                tokio::select! {
                    _ = wait_for_signal() => {}
                    _ = stdin_closed() => tracing::info!("standard input closed (the parent is gone)"),
                }
            } else {
                wait_for_signal().await;
            }
            tracing::info!("shutting down");
            let _ = stop_tx.send(true);
        });
        tracing::info!(version = env!("CARGO_PKG_VERSION"), appliance = %config.appliance_url, "acorn-agent starting");
        match acorn_agent::runtime::run(config, Default::default(), stop_rx).await {
            Ok(()) => ExitCode::SUCCESS,
            Err(e) => {
                tracing::error!(error = %e, "acorn-agent cannot run");
                ExitCode::FAILURE
            }
        }
    })
}

async fn wait_for_signal() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        match signal(SignalKind::terminate()) {
            Ok(mut term) => {
                tokio::select! {
                    _ = term.recv() => {}
                    _ = tokio::signal::ctrl_c() => {}
                }
            }
            Err(_) => {
                let _ = tokio::signal::ctrl_c().await;
            }
        }
    }
    #[cfg(not(unix))]
    {
        let _ = tokio::signal::ctrl_c().await;
    }
}

/// Resolves when standard input reaches end of file: the parent holding the pipe's write end
/// closed it or died (the kernel closes a dead process's descriptors, even after SIGKILL). A
/// plain thread reads it (tokio's stdin needs a feature for this one use); if the thread cannot
/// start, this never resolves and only signals stop the process.
async fn stdin_closed() {
    let (tx, rx) = tokio::sync::oneshot::channel::<()>();
    let started = std::thread::Builder::new()
        .name("stdin-eof".into())
        .spawn(move || {
            let _ = std::io::copy(&mut std::io::stdin().lock(), &mut std::io::sink());
            let _ = tx.send(());
        });
    if started.is_err() {
        std::future::pending::<()>().await;
    }
    let _ = rx.await;
}
