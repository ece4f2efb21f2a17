//! `acorn`: the Acorn appliance in one binary. `acorn serve` runs it; the other verbs are the
//! operations an operator performs on the machine (backup, restore, verify, certificates,
//! recovery, configuration check).
//!
//! Layout (see ARCHITECTURE.md):
//! - [`config`]: the one configuration struct and the merge of file, environment and flags;
//! - [`server`]: the `serve` verb: listeners, TLS, background tasks, shutdown;
//! - [`control`]: the control plane's services and HTTP routes;
//! - [`findings`]: the findings service and API, auto-triage, `acorn analyze`;
//! - [`eval`]: `acorn eval`, which grades a model on the scenario library in a private lab;
//! - [`gateway`]: the LLM gateway (providers, run JWTs, secrets, MCP registry, runtime API);
//! - [`tls`]: the appliance CA and leaf; [`local_socket`]: the on-machine control socket;
//! - [`ops`]: the verbs that act on a state directory; [`metrics`], [`systemd`], [`logging`].

#![forbid(unsafe_code)]
#![cfg_attr(
    not(test),
    deny(clippy::unwrap_used, clippy::expect_used, clippy::panic, clippy::todo)
)]

mod config;
mod console;
mod control;
mod demo;
mod engine;
mod eval;
mod findings;
mod gateway;
mod local_socket;
mod logging;
mod metrics;
mod ops;
mod server;
mod systemd;
mod tls;
mod util;
mod util_html;
mod webhooks;

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Args, Parser, Subcommand};

use config::{LogFormat, Overrides};

/// Version of this binary.
pub const VERSION: &str = env!("CARGO_PKG_VERSION");

#[derive(Parser)]
#[command(
    name = "acorn",
    version,
    about = "Acorn: the self-hosted Kubernetes troubleshooting appliance",
    long_about = "Acorn: the self-hosted Kubernetes troubleshooting appliance.\n\n\
        All state lives in one file, <state-dir>/acorn.redb. Verbs other than `serve` talk to a \
        running server through <state-dir>/acorn.sock, or open the store directly when none runs.",
    after_help = "Examples:\n  acorn serve                               # zero configuration: ./acorn-data, 0.0.0.0:8443\n  \
        acorn serve --config /etc/acorn/acorn.toml\n  acorn backup --out /var/backups/acorn/now.redb\n  \
        acorn cert show"
)]
struct Cli {
    #[command(flatten)]
    global: GlobalArgs,
    #[command(subcommand)]
    verb: Verb,
}

#[derive(Args)]
struct GlobalArgs {
    /// Configuration file (TOML, `version = 1`).
    #[arg(long, global = true, value_name = "FILE", env = "ACORN_CONFIG")]
    config: Option<PathBuf>,
    /// State directory (default: $STATE_DIRECTORY under systemd, else ./acorn-data).
    #[arg(long, global = true, value_name = "DIR")]
    state_dir: Option<PathBuf>,
    /// Log format: auto (human on a terminal, JSON otherwise), human or json.
    #[arg(long, global = true, value_enum)]
    log_format: Option<LogFormat>,
}

#[derive(Args, Default)]
struct ListenArgs {
    /// Address to listen on (port 0 picks a free port; the log says which).
    #[arg(long, value_name = "ADDR:PORT")]
    listen: Option<SocketAddr>,
    /// A name clients use to reach the appliance (repeatable); goes into the certificate.
    #[arg(long = "public-hostname", value_name = "NAME")]
    public_hostnames: Vec<String>,
}

#[derive(Subcommand)]
enum Verb {
    /// Run the appliance.
    #[command(
        after_help = "Example:\n  acorn serve --state-dir /var/lib/acorn --listen 0.0.0.0:8443 --public-hostname acorn.example.internal"
    )]
    Serve(ListenArgs),
    /// Try Acorn on this machine: the appliance on a temporary state directory, the Kubernetes
    /// API simulator with its broken scenarios, and an agent connected to it; prints the
    /// console's URL and login. Labelled as a demo everywhere. Ctrl-C ends it and deletes its data.
    #[command(
        after_help = "Examples:\n  acorn demo\n  ACORN_DEMO_OPENAI_BASE_URL=http://localhost:11434/v1 ACORN_DEMO_MODEL=llama3.1:8b acorn demo\n  \
        acorn demo --listen 127.0.0.1:0 --scenario crashloop --kubesim ./acorn-kubesim --agent ./acorn-agent\n\n\
        acorn-kubesim and acorn-agent are taken from --kubesim/--agent, else next to acorn, else from PATH."
    )]
    Demo(demo::DemoArgs),
    /// Validate the configuration and print the effective settings (secrets masked).
    #[command(after_help = "Example:\n  acorn configtest --config /etc/acorn/acorn.toml")]
    Configtest(ListenArgs),
    /// Write an online backup (works while the server runs; never blocks it).
    #[command(
        after_help = "Examples:\n  acorn backup --out /var/backups/acorn/acorn-$(date +%F).redb\n  \
        acorn backup --dir /var/backups/acorn --keep 7\n\n\
        Writes FILE and FILE.manifest.json (versions, SHA-256). Copying acorn.redb while the server is\n\
        stopped is a valid backup too; copying it while the server runs is not."
    )]
    #[command(group(clap::ArgGroup::new("target").required(true).args(["out", "dir"])))]
    Backup {
        /// The backup file to write (must not exist).
        #[arg(long, value_name = "FILE")]
        out: Option<PathBuf>,
        /// Write `acorn-<UTC time>.redb` into DIR instead, then keep only the newest ones there
        /// (what acorn-backup.service does daily).
        #[arg(long, value_name = "DIR", conflicts_with = "out")]
        dir: Option<PathBuf>,
        /// With --dir: how many `acorn-*.redb` backups to keep (default: backup.keep, 7).
        #[arg(long, value_name = "N", requires = "dir", value_parser = clap::value_parser!(u32).range(1..))]
        keep: Option<u32>,
    },
    /// Restore a backup into the state directory (the server must be stopped).
    #[command(
        after_help = "Example:\n  systemctl stop acorn && acorn restore /var/backups/acorn/now.redb && systemctl start acorn"
    )]
    Restore {
        /// Backup file (with FILE.manifest.json, or a raw copy of acorn.redb).
        file: PathBuf,
    },
    /// Check the integrity of the store, or of a backup file.
    #[command(
        after_help = "Examples:\n  acorn verify                     # the state directory's store\n  \
        acorn verify /var/backups/acorn/now.redb"
    )]
    Verify {
        /// A backup file; without it, the state directory's store.
        file: Option<PathBuf>,
    },
    /// Show or rotate the appliance's certificates.
    #[command(subcommand)]
    Cert(CertVerb),
    /// Issue a one-time link that creates or resets a local administrator.
    #[command(after_help = "Example:\n  sudo -u acorn acorn recover admin")]
    Recover {
        /// The administrator's username.
        username: String,
    },
    /// LLM gateway operations on the running server (run tokens, signing keys).
    #[command(subcommand)]
    Gateway(GatewayVerb),
    /// Secret store operations on the running server.
    #[command(subcommand)]
    Secrets(SecretsVerb),
    /// Print version, git commit, schema version and build flags.
    #[command(after_help = "Examples:\n  acorn version\n  acorn version --json")]
    Version {
        /// Print as JSON.
        #[arg(long)]
        json: bool,
    },
    /// Say whether this binary can open (and upgrade) the store in the state directory, and
    /// what the next start would do. Writes nothing. Exit status 1 when it would refuse.
    #[command(
        after_help = "Example (before replacing the binary; the running server is asked for a snapshot):\n  \
        /path/to/new/acorn upgrade-check --state-dir /var/lib/acorn\n\n\
        An upgrade migrates the store at the first start of the new binary, in one transaction, after\n\
        writing a backup of the old store to <state-dir>/backups/pre-upgrade-<from>-to-<to>-<time>.redb.\n\
        A store written by a newer Acorn is refused: downgrades are not possible; restore a backup instead."
    )]
    UpgradeCheck {
        /// Print as JSON.
        #[arg(long)]
        json: bool,
    },
    /// Rebuild the run search index from the store (in the background on a running server;
    /// at the next start otherwise).
    #[command(after_help = "Example:\n  sudo -u acorn acorn reindex")]
    Reindex,
    /// Check an evidence bundle's signature offline (no appliance needed).
    #[command(
        after_help = "Example:\n  acorn verify-bundle run_0193.json --fingerprint 3f1c…\n\n\
        Without --fingerprint the bundle is checked against the key it carries (integrity only);\n\
        compare the printed fingerprint with the one the appliance logs at start\n\
        (\"evidence signing key\") to know who signed it."
    )]
    VerifyBundle {
        /// The bundle (JSON, as exported by GET …/runs/{id}/evidence).
        file: PathBuf,
        /// The appliance's evidence key fingerprint (hex SHA-256) the bundle must be signed with.
        #[arg(long)]
        fingerprint: Option<String>,
    },
    /// Print the findings of a scenario folder or a live cluster (no appliance needed).
    #[command(
        after_help = "Examples:\n  acorn analyze --scenario-dir kubesim/scenarios/crashloop\n  \
        acorn analyze --kubeconfig ~/.kube/config --context prod --output json\n\n\
        With --scenario-dir, the library's _base folder beside the first folder is loaded first,\n\
        as the simulator does (--no-base to skip it). --kubeconfig only lists (GET) objects;\n\
        Secret and ConfigMap values are dropped as they arrive. Exit status 0 whatever is found."
    )]
    Analyze(AnalyzeArgs),
    /// Grade a model on the scenario library before a workspace relies on it.
    #[command(
        after_help = "Examples:\n  acorn eval --config /etc/acorn/acorn.toml --provider ollama --model llama3.1:8b\n  \
        acorn eval --config acorn.toml --provider vllm --model qwen2.5-7b --scenario crashloop \\\n      \
        --scenario healthy --report-md eval.md --report-json eval.json --min-pass-rate 80\n\n\
        Each scenario runs as a real read-only run (same engine, gateway and tools) in a private\n\
        appliance on a temporary state directory, against the Kubernetes simulator with a real\n\
        acorn-agent. The provider comes from the config's [[gateway.providers]]. acorn-kubesim and\n\
        acorn-agent are looked up next to acorn, then on PATH. Prints a table; exits 1 when the\n\
        pass rate is below --min-pass-rate."
    )]
    Eval(EvalArgs),
}

#[derive(Args)]
struct EvalArgs {
    /// A deployment provider of the configuration (`[[gateway.providers]]` name).
    #[arg(long)]
    provider: String,
    /// The model to grade.
    #[arg(long)]
    model: String,
    /// A scenario library (folders with expected.yaml) or one scenario folder. Default: the
    /// simulator's library (`acorn-kubesim export`).
    #[arg(long, value_name = "DIR")]
    scenarios: Option<PathBuf>,
    /// Only this scenario (repeatable).
    #[arg(long = "scenario", value_name = "NAME")]
    only: Vec<String>,
    /// Scenarios run at the same time.
    #[arg(long, default_value_t = 2, value_parser = clap::value_parser!(u16).range(1..=16))]
    parallel: u16,
    /// Runtime limit of each run, in seconds.
    #[arg(long, default_value_t = 300, value_parser = clap::value_parser!(u64).range(10..=3600))]
    max_runtime: u64,
    /// Write the report as JSON here.
    #[arg(long, value_name = "FILE")]
    report_json: Option<PathBuf>,
    /// Write the report as Markdown here.
    #[arg(long = "report-md", value_name = "FILE")]
    report_markdown: Option<PathBuf>,
    /// Exit 1 when fewer than this percent of the scenarios pass.
    #[arg(long, value_name = "PERCENT")]
    min_pass_rate: Option<f64>,
    /// The acorn-agent binary.
    #[arg(long, value_name = "FILE")]
    agent: Option<PathBuf>,
    /// The acorn-kubesim binary.
    #[arg(long, value_name = "FILE")]
    kubesim: Option<PathBuf>,
}

#[derive(Args)]
#[group(required = true, multiple = false, id = "input")]
struct AnalyzeInput {
    /// A scenario folder in the simulator's format (repeatable: one cluster of all of them).
    #[arg(long = "scenario-dir", value_name = "DIR")]
    scenario_dirs: Vec<PathBuf>,
    /// A kubeconfig of a live cluster (read-only: token, client certificate, CA, insecure flag).
    #[arg(long, value_name = "FILE")]
    kubeconfig: Option<PathBuf>,
}

#[derive(Args)]
struct AnalyzeArgs {
    #[command(flatten)]
    input: AnalyzeInput,
    /// The kubeconfig context (default: its current-context).
    #[arg(long, requires = "kubeconfig")]
    context: Option<String>,
    /// Do not load the `_base` folder beside the scenario folder.
    #[arg(long)]
    no_base: bool,
    /// `table` for people, `json` for machines.
    #[arg(long, value_enum, default_value = "table")]
    output: findings::analyze::Output,
}

#[derive(Subcommand)]
enum CertVerb {
    /// Print the CA certificate (PEM) and its SHA-256 fingerprint, which agents pin.
    #[command(after_help = "Example:\n  acorn cert show > acorn-ca.pem")]
    Show {
        /// Print as JSON.
        #[arg(long)]
        json: bool,
    },
    /// Issue a new leaf certificate from the CA now.
    #[command(after_help = "Example:\n  acorn cert rotate-leaf")]
    RotateLeaf,
}

#[derive(Subcommand)]
enum GatewayVerb {
    /// Sign a run JWT (operator at the machine; for tests and external engines until the
    /// execution engine issues them). Prints the token; audited in the workspace.
    #[command(
        after_help = "Example:\n  acorn gateway issue-run-token --workspace ws_0123456789abcdef --cluster clu_1 \\\n    --provider local --model llama3.1:8b --tools get_pods,get_events --budget 20000 --ttl 10m"
    )]
    IssueRunToken {
        /// Workspace id.
        #[arg(long)]
        workspace: String,
        /// Cluster id the run investigates.
        #[arg(long, default_value = "none")]
        cluster: String,
        /// Session id.
        #[arg(long, default_value = "ops")]
        session: String,
        /// Run id (default: a new one).
        #[arg(long)]
        run: Option<String>,
        /// Provider name.
        #[arg(long)]
        provider: String,
        /// Model id.
        #[arg(long)]
        model: String,
        /// Allowed tools, comma-separated (builtin names and mcp__server__tool).
        #[arg(long, value_delimiter = ',')]
        tools: Vec<String>,
        /// Output-token budget of the run.
        #[arg(long)]
        budget: u64,
        /// Allow write tools.
        #[arg(long)]
        read_write: bool,
        /// Lifetime, e.g. 10m (default: gateway.run_token_ttl).
        #[arg(long, value_parser = humantime::parse_duration)]
        ttl: Option<std::time::Duration>,
        /// Print the token and its claims as JSON.
        #[arg(long)]
        json: bool,
    },
    /// Create a new run-token signing key; older keys verify until their tokens expire.
    #[command(after_help = "Example:\n  acorn gateway rotate-signing-key")]
    RotateSigningKey,
}

#[derive(Subcommand)]
enum SecretsVerb {
    /// Re-wrap every secret's data key under a new key-encryption key.
    #[command(
        after_help = "Examples:\n  acorn secrets rotate-kek                                   # KEK kept in the store: a new one\n  \
        head -c32 /dev/urandom | base64 > /etc/acorn/kek.new && acorn secrets rotate-kek --new-kek-file /etc/acorn/kek.new"
    )]
    RotateKek {
        /// Absolute path of the new KEK (32 bytes raw, hex or base64).
        #[arg(long, value_name = "FILE")]
        new_kek_file: Option<PathBuf>,
    },
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("acorn: cannot start the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    let result = runtime.block_on(run(cli));
    // Dropping the runtime ends every task, so the last handle on the store is released and the
    // store file is closed cleanly before the process exits.
    drop(runtime);
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("acorn: error: {e:#}");
            ExitCode::FAILURE
        }
    }
}

async fn run(cli: Cli) -> anyhow::Result<()> {
    let listen = match &cli.verb {
        Verb::Serve(l) | Verb::Configtest(l) => Some(l),
        _ => None,
    };
    let overrides = Overrides {
        config_file: cli.global.config.clone(),
        state_dir: cli.global.state_dir.clone(),
        listen: listen.and_then(|l| l.listen),
        public_hostnames: listen
            .map(|l| l.public_hostnames.clone())
            .unwrap_or_default(),
        log_format: cli.global.log_format,
    };
    let env: Vec<(String, String)> = std::env::vars().collect();
    let loaded = config::load(&overrides, &env)?;
    let config = loaded.config.clone();
    let level = if matches!(cli.verb, Verb::Serve(_)) {
        config.log.level.as_str()
    } else if matches!(cli.verb, Verb::Demo(_)) {
        // The demo prints its own summary; the appliance's warnings (no KEK, setup link) do
        // not apply to a throwaway demo.
        "error"
    } else {
        "warn"
    };
    logging::init(config.log.format, level);
    // reqwest, kube and tungstenite (later) rely on the process-wide provider; install it once.
    let _ = rustls::crypto::ring::default_provider().install_default();
    let state_dir = config.state_dir();

    match cli.verb {
        Verb::Serve(_) => {
            for warning in &loaded.warnings {
                tracing::warn!("{warning}");
            }
            raise_open_file_limit();
            server::serve(config).await
        }
        Verb::Configtest(_) => configtest(&loaded),
        Verb::Demo(args) => {
            raise_open_file_limit();
            demo::run(args, cli.global.config, cli.global.log_format).await
        }
        Verb::Backup { out: Some(out), .. } => ops::backup::run(&state_dir, &out).await,
        Verb::Backup { dir, keep, .. } => {
            let dir = dir.unwrap_or_else(|| config.backup_dir());
            let keep = keep.map_or(config.backup.keep, |k| k as usize);
            ops::backup::run_into_dir(&state_dir, &dir, keep).await
        }
        Verb::UpgradeCheck { json } => ops::upgrade::check(&state_dir, json).await,
        Verb::Restore { file } => ops::restore::run_restore(&state_dir, &file).await,
        Verb::Verify { file } => ops::restore::run_verify(&state_dir, file.as_deref()).await,
        Verb::Cert(CertVerb::Show { json }) => ops::cert::show(&state_dir, json).await,
        Verb::Cert(CertVerb::RotateLeaf) => ops::cert::rotate_leaf(&config).await,
        Verb::Recover { username } => ops::recover::run(&config, &username).await,
        Verb::Gateway(GatewayVerb::IssueRunToken {
            workspace,
            cluster,
            session,
            run,
            provider,
            model,
            tools,
            budget,
            read_write,
            ttl,
            json,
        }) => {
            let request = acorn_proto::gateway::GatewayLocalRequest::IssueRunToken {
                workspace,
                cluster,
                session,
                run,
                provider,
                model,
                tools,
                mode: if read_write {
                    acorn_proto::agent::RunMode::ReadWrite
                } else {
                    acorn_proto::agent::RunMode::ReadOnly
                },
                output_budget: budget,
                ttl_secs: ttl.map(|d| d.as_secs()),
            };
            gateway::ops::cli(&state_dir, request, json).await
        }
        Verb::Gateway(GatewayVerb::RotateSigningKey) => {
            let request = acorn_proto::gateway::GatewayLocalRequest::RotateSigningKey;
            gateway::ops::cli(&state_dir, request, false).await
        }
        Verb::Secrets(SecretsVerb::RotateKek { new_kek_file }) => {
            let new_kek_file = match new_kek_file {
                Some(p) => Some(std::path::absolute(&p)?.display().to_string()),
                None => None,
            };
            let request = acorn_proto::gateway::GatewayLocalRequest::RotateKek { new_kek_file };
            gateway::ops::cli(&state_dir, request, false).await
        }
        Verb::Reindex => reindex(&state_dir).await,
        Verb::VerifyBundle { file, fingerprint } => verify_bundle(&file, fingerprint.as_deref()),
        Verb::Analyze(args) => {
            let input = match args.input.kubeconfig {
                Some(kubeconfig) => findings::analyze::Input::Cluster {
                    kubeconfig,
                    context: args.context,
                },
                None => findings::analyze::Input::Scenarios {
                    dirs: args.input.scenario_dirs,
                    base: !args.no_base,
                },
            };
            let text = findings::analyze::run_verb(input, args.output).await?;
            print!("{text}");
            Ok(())
        }
        Verb::Eval(args) => {
            let min = args.min_pass_rate;
            let options = eval::EvalOptions {
                provider: args.provider,
                model: args.model,
                scenarios: args.scenarios,
                only: args.only,
                parallel: usize::from(args.parallel),
                max_runtime_seconds: args.max_runtime,
                lab: eval::LabSetup::ConfigFile(cli.global.config.clone()),
                agent: args.agent,
                kubesim: args.kubesim,
            };
            let passed = eval::run(options, args.report_json, args.report_markdown, min).await?;
            match passed {
                true => Ok(()),
                false => anyhow::bail!(
                    "the pass rate is below --min-pass-rate {}%",
                    min.unwrap_or_default()
                ),
            }
        }
        Verb::Version { json } => {
            let info = version_info();
            if json {
                let map: serde_json::Map<String, serde_json::Value> = info
                    .into_iter()
                    .map(|(k, v)| {
                        let value = match v.parse::<u64>() {
                            Ok(n) => n.into(),
                            Err(_) => v.into(),
                        };
                        (k.replace(' ', "_"), value)
                    })
                    .collect();
                println!("{}", serde_json::to_string_pretty(&map)?);
            } else {
                for (key, value) in info {
                    println!("{key}: {value}");
                }
            }
            Ok(())
        }
    }
}

/// What `acorn version` prints, in this order: enough to tell two builds apart in a ticket.
fn version_info() -> Vec<(&'static str, String)> {
    let linkage = if cfg!(target_feature = "crt-static") {
        "static"
    } else {
        "dynamic"
    };
    vec![
        ("acorn", VERSION.to_owned()),
        ("commit", env!("ACORN_GIT_COMMIT").to_owned()),
        ("schema version", acorn_store::SCHEMA_VERSION.to_string()),
        ("config version", config::CONFIG_VERSION.to_string()),
        ("target", env!("ACORN_BUILD_TARGET").to_owned()),
        (
            "build",
            format!(
                "{linkage}, {} profile, rustls (ring), no OpenSSL",
                env!("ACORN_BUILD_PROFILE")
            ),
        ),
        ("rustflags", env!("ACORN_BUILD_RUSTFLAGS").to_owned()),
    ]
}

/// Below this many open files, the log warns: every connected agent holds one socket.
const OPEN_FILES_WANTED: u64 = 16_384;

/// Raises the soft limit of open files to the hard limit. Each agent connection (one per
/// cluster) holds a socket, and the usual soft default of 1024 would refuse agents long before
/// the machine is busy; the hard limit is the operator's (systemd `LimitNOFILE=`), so it is
/// never exceeded, only reached.
fn raise_open_file_limit() {
    let raised = rlimit::increase_nofile_limit(u64::MAX);
    let limits = rlimit::getrlimit(rlimit::Resource::NOFILE);
    match (raised, limits) {
        (Ok(_), Ok((soft, hard))) if soft < OPEN_FILES_WANTED => tracing::warn!(
            soft,
            hard,
            "open file limit is low: each connected agent holds one; raise the hard limit \
             (systemd LimitNOFILE=)"
        ),
        (Ok(_), Ok((soft, hard))) => tracing::info!(soft, hard, "open file limit"),
        (Err(e), _) | (_, Err(e)) => {
            tracing::warn!(error = %e, "cannot raise the open file limit")
        }
    }
}

/// `acorn configtest`: the configuration is valid (else `load` already failed naming the key);
/// check what can be checked without starting, then print the effective settings.
fn configtest(loaded: &config::Loaded) -> anyhow::Result<()> {
    let tls = &loaded.config.tls;
    if let (Some(cert), Some(key)) = (&tls.cert_file, &tls.key_file) {
        let read = |p: &PathBuf| {
            std::fs::read_to_string(p)
                .map_err(|e| anyhow::anyhow!("tls: cannot read {}: {e}", p.display()))
        };
        tls::pki::server_config(&read(cert)?, &read(key)?, "tls.cert_file/tls.key_file")?;
    }
    for warning in &loaded.warnings {
        eprintln!("warning: {warning}");
    }
    for var in &loaded.ignored_env {
        eprintln!("note: environment variable {var} is not a setting and was ignored");
    }
    print!("{}", loaded.config.to_masked_toml());
    eprintln!("configuration ok");
    Ok(())
}

/// `acorn verify-bundle`: exit 0 and the signer's fingerprint, or an error saying what is wrong.
fn verify_bundle(file: &std::path::Path, fingerprint: Option<&str>) -> anyhow::Result<()> {
    let text = std::fs::read_to_string(file)
        .map_err(|e| anyhow::anyhow!("cannot read {}: {e}", file.display()))?;
    let bundle: acorn_proto::runs::EvidenceBundle = serde_json::from_str(&text)
        .map_err(|e| anyhow::anyhow!("{} is not an evidence bundle: {e}", file.display()))?;
    let signer = engine::evidence::verify(&bundle, fingerprint)
        .map_err(|e| anyhow::anyhow!("{}: NOT VALID: {e}", file.display()))?;
    println!("{}: valid signature", file.display());
    println!("signed by key {signer}");
    if fingerprint.is_none() {
        println!(
            "(not pinned: compare this fingerprint with the appliance's evidence signing key)"
        );
    }
    println!("run: {}", bundle.bundle["run_id"].as_str().unwrap_or("?"));
    Ok(())
}

/// `acorn reindex`: asks the running server, or (stopped) removes the index so that the next
/// start rebuilds it.
async fn reindex(state_dir: &std::path::Path) -> anyhow::Result<()> {
    use acorn_proto::ops::{LocalRequest, LocalResponse};
    match local_socket::request(state_dir, &LocalRequest::Reindex).await? {
        Some(LocalResponse::Reindexing { message }) => {
            println!("{message}");
            Ok(())
        }
        Some(LocalResponse::Error { message }) => Err(anyhow::anyhow!(message)),
        Some(other) => Err(anyhow::anyhow!(
            "unexpected answer from the server: {other:?}"
        )),
        None => {
            let dir = state_dir.join("search");
            match std::fs::remove_dir_all(&dir) {
                Ok(()) => {}
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                Err(e) => return Err(anyhow::anyhow!("cannot remove {}: {e}", dir.display())),
            }
            println!(
                "no server is running on {}; the search index was removed and is rebuilt at the next start",
                state_dir.display()
            );
            Ok(())
        }
    }
}
