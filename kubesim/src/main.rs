//! `acorn-kubesim`: serve the Kubernetes API simulator, or list its scenarios.

#![forbid(unsafe_code)]
#![cfg_attr(
    not(test),
    deny(clippy::unwrap_used, clippy::expect_used, clippy::panic, clippy::todo)
)]

use std::io::Write;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use acorn_kubesim::{Config, DenyRule, MetricsMode, scenario};
use anyhow::Context;
use clap::{Parser, Subcommand};

#[derive(Parser)]
#[command(
    name = "acorn-kubesim",
    version,
    about = "A Kubernetes API simulator with a library of failure scenarios"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Serve the simulated API server over plain HTTP and write a kubeconfig for it.
    ///
    /// Example:
    ///   acorn-kubesim serve --scenario crashloop --kubeconfig-out /tmp/kubeconfig
    ///   kubectl --kubeconfig /tmp/kubeconfig get pods -A
    #[command(verbatim_doc_comment)]
    Serve(ServeArgs),
    /// List the built-in scenarios.
    List,
    /// Write the built-in scenarios as folders (`DIR/NAME/…`, each with its `expected.yaml`), the
    /// library `acorn eval` grades models on.
    ///
    /// Example:
    ///   acorn-kubesim export /tmp/scenarios
    #[command(verbatim_doc_comment)]
    Export {
        /// Folder to write into (created if missing; existing scenario files are replaced).
        dir: PathBuf,
    },
}

#[derive(clap::Args)]
struct ServeArgs {
    /// A built-in scenario to load (repeatable). Without --scenario, --scenario-dir or --scale-pods, all are loaded.
    #[arg(long = "scenario", value_name = "NAME")]
    scenarios: Vec<String>,
    /// A scenario folder on disk, in the format of kubesim/README.md (repeatable).
    #[arg(long = "scenario-dir", value_name = "DIR")]
    scenario_dirs: Vec<PathBuf>,
    /// Address to listen on (port 0 = ephemeral).
    #[arg(long, default_value = "127.0.0.1:0")]
    listen: SocketAddr,
    /// Where to write a kubeconfig pointing at the simulator (written once listening).
    #[arg(long, value_name = "FILE")]
    kubeconfig_out: PathBuf,
    /// Scale mode: this many generated pods (namespace `scale`).
    #[arg(long, default_value_t = 0)]
    scale_pods: usize,
    /// Scale mode: this many generated nodes.
    #[arg(long, default_value_t = 10)]
    scale_nodes: usize,
    /// Watch events kept per collection for replay.
    #[arg(long, default_value_t = acorn_kubesim::store::DEFAULT_WINDOW)]
    watch_window: usize,
    /// Scenario clock speed (1 = real time, 0 = frozen; advance with POST /_sim/advance).
    #[arg(long, default_value_t = 1.0)]
    time_scale: f64,
    /// Seconds between watch bookmarks.
    #[arg(long, default_value_t = 60)]
    bookmark_seconds: u64,
    /// metrics.k8s.io: available, absent (404) or unavailable (503).
    #[arg(long, default_value = "available")]
    metrics: MetricsMode,
    /// Deny a verb like a missing RBAC rule: VERBS:RESOURCE[:NAMESPACE], e.g. `list,watch:pods:shop`, `*:secrets` (repeatable).
    #[arg(long = "deny", value_name = "RULE")]
    deny: Vec<DenyRule>,
    /// The user named in 403 messages.
    #[arg(long, default_value = acorn_kubesim::sim::DEFAULT_USER)]
    user: String,
    /// Stop when standard input reaches end of file. Set by `acorn demo`, which holds the
    /// pipe's other end, so that the simulator ends with it even when the demo is killed with
    /// SIGKILL.
    #[arg(long, hide = true)]
    exit_on_stdin_eof: bool,
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_env("ACORN_LOG")
                .unwrap_or_else(|_| "info".into()),
        )
        .with_writer(std::io::stderr)
        .init();
    match Cli::parse().command {
        Command::List => {
            // Written by hand rather than println!: `list | head` must not panic on a closed pipe.
            let mut out = std::io::stdout().lock();
            for name in scenario::builtin_names() {
                let summary = scenario::load_builtin(&name)
                    .map(|s| s.summary)
                    .unwrap_or_default();
                let first = summary.lines().next().unwrap_or_default();
                if writeln!(out, "{name:<22} {first}").is_err() {
                    break;
                }
            }
            Ok(())
        }
        Command::Serve(args) => serve(args).await,
        Command::Export { dir } => {
            let names = scenario::export_builtin(&dir)?;
            println!("wrote {} scenarios to {}", names.len(), dir.display());
            Ok(())
        }
    }
}

async fn serve(args: ServeArgs) -> anyhow::Result<()> {
    let exit_on_eof = args.exit_on_stdin_eof;
    let config = Config {
        scenarios: args.scenarios,
        scenario_dirs: args.scenario_dirs,
        scale: (args.scale_pods > 0).then_some((args.scale_nodes, args.scale_pods)),
        window: args.watch_window,
        time_scale: args.time_scale,
        bookmark_interval: Duration::from_secs(args.bookmark_seconds.max(1)),
        metrics: args.metrics,
        user: args.user,
        deny: args.deny,
    };
    let mut running = acorn_kubesim::start(&config, args.listen)
        .await
        .context("starting the simulator")?;
    acorn_kubesim::write_kubeconfig(&args.kubeconfig_out, &running.url())
        .context("writing the kubeconfig")?;
    tracing::info!(url = %running.url(), kubeconfig = %args.kubeconfig_out.display(), scenarios = ?running.sim.scenario_names(), "serving");
    // Not println!: a closed stdout must not stop the server.
    let _ = writeln!(std::io::stdout(), "listening on {}", running.url());
    let parent_gone = async move {
        if exit_on_eof {
            stdin_closed().await;
            tracing::info!("standard input closed (the parent is gone); stopping");
        } else {
            std::future::pending::<()>().await;
        }
    };
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {}
        _ = running.wait() => {}
        _ = parent_gone => {}
    }
    Ok(())
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
